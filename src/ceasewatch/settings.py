"""Settings: one typed object, read from the environment with the prefix ``CEASEWATCH_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STORE = "ceasewatch.duckdb"


class Settings(BaseSettings):
    """Runtime settings.

    Attributes
    ----------
    store
        Where the store lives: a DuckDB file path (default ``./ceasewatch.duckdb``).
    chunk_rows
        Rows per chunk when streaming a file into the store.
    progress
        Show progress bars on long work (disabled automatically when not a terminal).
    """

    model_config = SettingsConfigDict(env_prefix="CEASEWATCH_", extra="ignore")

    store: str = Field(default=DEFAULT_STORE, description="DuckDB file path of the store")
    chunk_rows: int = Field(default=200_000, ge=1_000, description="rows per ingest chunk")
    progress: bool = Field(default=True, description="show progress bars")

    @property
    def store_path(self) -> Path:
        return Path(self.store)
