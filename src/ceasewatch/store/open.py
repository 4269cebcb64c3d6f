"""Open a store by its location: a ``postgresql://`` URL is the team store on PostGIS,
anything else a DuckDB file (``:memory:`` for tests)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from ceasewatch.store.duckdb import DuckDBStore
from ceasewatch.store.location import is_postgres_url

if TYPE_CHECKING:
    from ceasewatch.store.postgis import PostGISStore

    #: either store; both satisfy :class:`ceasewatch.store.base.Store` and have ``con``
    #: and ``transaction()`` for the component modules
    AnyStore: TypeAlias = DuckDBStore | PostGISStore
else:

    def __getattr__(name: str) -> Any:
        # ``AnyStore`` at run time (the PostgreSQL driver loaded only when asked for)
        if name == "AnyStore":
            from ceasewatch.store.postgis import PostGISStore

            return DuckDBStore | PostGISStore
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(location: str | Path, *, read_only: bool = False) -> AnyStore:
    """Open the store at ``location``: ``postgresql://user@host:port/db`` (or
    ``postgres://``) for PostGIS, migrated on open; otherwise a DuckDB file path."""
    loc = str(location)
    if is_postgres_url(loc):
        from ceasewatch.store.postgis import PostGISStore

        return PostGISStore(loc, read_only=read_only)
    return DuckDBStore(loc, read_only=read_only)
