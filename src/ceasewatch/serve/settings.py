"""Settings of the web service: one typed object, environment prefix ``CEASEWATCH_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ceasewatch.settings import DEFAULT_STORE


class ServeSettings(BaseSettings):
    """Runtime settings of ``ceasewatch serve``.

    Every field can be set from the environment, e.g. ``CEASEWATCH_TILE_URL``.
    """

    model_config = SettingsConfigDict(env_prefix="CEASEWATCH_", extra="ignore")

    store: str = Field(
        default=DEFAULT_STORE,
        description="the store: a DuckDB file path, or a postgresql:// URL (the team store)",
    )
    host: str = Field(default="127.0.0.1", description="interface to listen on")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port (0: any free port)")
    tile_url: str | None = Field(
        default=None,
        description=(
            "raster tile URL template for the dashboard's base map, e.g. "
            "https://tiles.example.org/{z}/{x}/{y}.png; unset: a plain background with the "
            "agreement's geometry (works offline)"
        ),
    )
    tile_attribution: str = Field(default="", description="attribution shown for the tiles")
    max_body_bytes: int = Field(
        default=1_000_000, ge=1_024, description="largest request body accepted (bytes)"
    )
    max_query_bytes: int = Field(
        default=4_096, ge=256, description="longest query string accepted (bytes)"
    )
    max_page_size: int = Field(
        default=1_000, ge=1, le=100_000, description="largest page a list request may ask for"
    )
    max_observations: int = Field(
        default=1_000, ge=1, description="most observations in one POSTed field report"
    )
    db_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description=(
            "DuckDB threads of the service's store: the API's queries are small and many "
            "run at once, which one thread each serves best (measured: half the latency); "
            "ignored on the PostGIS team store"
        ),
    )
    validate_processes: int = Field(
        default=1,
        ge=0,
        le=16,
        description=(
            "worker processes that validate POSTed field reports (the rules' pandas and "
            "Arrow work then does not compete with the requests being answered for this "
            "process's interpreter); 0: validate in a thread of the service"
        ),
    )
    snapshot_poll_s: float = Field(
        default=0.5,
        ge=0.0,
        le=3_600.0,
        description=(
            "how often (seconds) a read checks the audit log for writes made outside the "
            "service (the service's own writes refresh the read snapshot at once)"
        ),
    )
    static_dir: Path | None = Field(
        default=None,
        description="folder of the built dashboard (default: the package's serve/static)",
    )
