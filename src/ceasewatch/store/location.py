"""Store locations: which ones name the team store on PostGIS, and how to show them.

Kept apart from :mod:`ceasewatch.store.postgis` so that telling a location apart does not
import the PostgreSQL driver (a DuckDB command need not load it).
"""

from __future__ import annotations

import re

SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(location: str) -> bool:
    """Whether ``location`` is a PostgreSQL URL (else a DuckDB file path)."""
    return str(location).startswith(SCHEMES)


def redact(url: str) -> str:
    """``url`` without its password (for messages)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
