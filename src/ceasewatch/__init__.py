"""ceasewatch: monitoring a ceasefire and the security guarantees that back it."""

__version__ = "0.1.0"
