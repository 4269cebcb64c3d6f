"""Alerts, escalation and response clocks.

``trends`` (pure detection over count frames), ``clocks`` (the agreement's escalation
ladder and the clocks it opens), ``delivery`` (webhook, e-mail and feed channels behind
an outbox in the store), ``watch`` (the long-running loop) and ``cli`` (the commands).
"""
