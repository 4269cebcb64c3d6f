"""Query parameters of the list routes as ``*Params`` classes.

Their field descriptions become the OpenAPI documentation; unknown parameters are
refused (422), every value is bounded. Times must carry an offset (``Z`` or ``+03:00``):
a time without one would silently be read as some zone. Time ranges are half-open:
``since`` inclusive, ``until`` exclusive, on ``occurred_at``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from ceasewatch.normalize import schema
from ceasewatch.serve.errors import BadRequestError, InvalidRequestError

MAX_LIST_ITEMS = 20
MAX_ITEM_CHARS = 64
_ITEM_RE = re.compile(r"^[^,;\x00-\x1f]{1,64}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: ISO 8601 date and time with an explicit offset (``Z`` or ``±hh:mm``)
_ISO_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})$"
)
#: how far in the future an ``as_of`` may lie (clock skew between client and server)
AS_OF_SKEW = timedelta(seconds=60)


def _iso_time(value: object, name: str) -> object:
    """Refuse a time that is not ISO 8601 text with an offset (pydantic would also take
    Unix seconds or a bare date)."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_TIME_RE.match(value.strip()):
        msg = (
            f"{name} {str(value)[:60]!r} is not an ISO 8601 time with an offset, "
            "e.g. 2025-03-01T12:00:00Z"
        )
        raise ValueError(msg)
    return value.strip()


Format = Literal["geojson", "csv"]


def _split_list(value: str | None, name: str, allowed: tuple[str, ...] | None = None) -> str | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        return None
    if len(items) > MAX_LIST_ITEMS:
        msg = f"{name}: at most {MAX_LIST_ITEMS} comma-separated values, got {len(items)}"
        raise ValueError(msg)
    for item in items:
        if not _ITEM_RE.match(item):
            msg = f"{name}: value {item[:80]!r} is not 1-{MAX_ITEM_CHARS} plain characters"
            raise ValueError(msg)
        if allowed is not None and item not in allowed:
            msg = f"{name}: {item!r} is not one of {', '.join(allowed)}"
            raise ValueError(msg)
    return ",".join(items)


def as_list(value: str | None) -> list[str] | None:
    """A validated comma-separated parameter as a list (None when absent)."""
    return value.split(",") if value else None


class ListParams(BaseModel):
    """Filters and paging shared by the list routes."""

    model_config = ConfigDict(extra="forbid")

    bbox: str | None = Field(
        default=None,
        description=(
            "bounding box 'min_lon,min_lat,max_lon,max_lat' in WGS84 degrees, edges inclusive; "
            "boxes across the antimeridian are not supported"
        ),
        examples=["36.0,47.0,38.5,49.0"],
        max_length=120,
    )
    since: AwareDatetime | None = Field(
        default=None,
        description="occurred at or after this time (ISO 8601 with offset, inclusive)",
        examples=["2025-09-20T00:00:00Z"],
    )
    until: AwareDatetime | None = Field(
        default=None,
        description="occurred before this time (ISO 8601 with offset, exclusive)",
        examples=["2025-09-21T00:00:00Z"],
    )
    zone: str | None = Field(
        default=None,
        description="zone band id(s), comma-separated ('outside' for beyond every band)",
        examples=["disengagement"],
        max_length=1_400,
    )
    sector: str | None = Field(
        default=None,
        description="reporting sector name(s), comma-separated",
        max_length=1_400,
    )
    category: str | None = Field(
        default=None,
        description="event category(ies), comma-separated: " + ", ".join(schema.CATEGORIES),
        examples=["shelling"],
        max_length=1_400,
    )
    source: str | None = Field(
        default=None,
        description="source name(s), comma-separated (acled, firms, field_report, ...)",
        max_length=1_400,
    )
    limit: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="page size; at most the server's max_page_size (default 1000)",
    )
    cursor: str | None = Field(
        default=None,
        description="opaque cursor from the previous page's next_cursor; stable under inserts",
        max_length=300,
    )
    format: Format | None = Field(
        default=None,
        description="geojson (default) or csv; the Accept header chooses when absent",
    )

    @field_validator("since", "until", mode="before")
    @classmethod
    def _check_time(cls, value: object) -> object:
        return _iso_time(value, "time")

    @field_validator("since", "until")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    @field_validator("bbox")
    @classmethod
    def _check_bbox(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split(",")
        if len(parts) != 4:
            msg = f"bbox {value!r} must be four numbers: min_lon,min_lat,max_lon,max_lat"
            raise ValueError(msg)
        try:
            x0, y0, x1, y1 = (float(p) for p in parts)
        except ValueError:
            msg = f"bbox {value!r} must be four numbers: min_lon,min_lat,max_lon,max_lat"
            raise ValueError(msg) from None
        if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
            msg = f"bbox {value!r}: longitudes must be in [-180, 180], latitudes in [-90, 90]"
            raise ValueError(msg)
        if x0 > x1 or y0 > y1:
            msg = f"bbox {value!r}: min must not exceed max (antimeridian boxes not supported)"
            raise ValueError(msg)
        return f"{x0},{y0},{x1},{y1}"

    @field_validator("zone", "sector", "source")
    @classmethod
    def _check_lists(cls, value: str | None) -> str | None:
        return _split_list(value, "value")

    @field_validator("category")
    @classmethod
    def _check_category(cls, value: str | None) -> str | None:
        return _split_list(value, "category", tuple(schema.CATEGORIES))

    def bounds(self) -> tuple[float, float, float, float] | None:
        if self.bbox is None:
            return None
        x0, y0, x1, y1 = (float(p) for p in self.bbox.split(","))
        return x0, y0, x1, y1


class AsOfParams(ListParams):
    """A list that can be asked for as the store knew it at a time."""

    as_of: AwareDatetime | None = Field(
        default=None,
        description=(
            "what the store knew at this time (ISO 8601 with offset, read as UTC): the "
            "event versions recorded by then, evaluated against the agreement versions "
            "loaded by then, with the analysts' decisions and statuses set by then"
        ),
        examples=["2025-09-20T12:00:00Z"],
    )

    @field_validator("as_of", mode="before")
    @classmethod
    def _check_as_of_text(cls, value: object) -> object:
        return _iso_time(value, "as_of")

    @field_validator("as_of")
    @classmethod
    def _check_as_of(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        if value > datetime.now(UTC) + AS_OF_SKEW:
            msg = f"as_of {value.isoformat()} is in the future; leave it out for the present"
            raise ValueError(msg)
        return value


class EventParams(AsOfParams):
    """Filters of ``GET /api/events``."""


class IncidentParams(AsOfParams):
    """Filters of ``GET /api/incidents``; ``category`` and ``source`` match any member."""


class ViolationParams(AsOfParams):
    """Filters of ``GET /api/violations``."""

    status: str | None = Field(
        default=None,
        description="analyst status(es), comma-separated: " + ", ".join(schema.VIOLATION_STATUSES),
        examples=["detected,under_review"],
        max_length=200,
    )
    severity: str | None = Field(
        default=None,
        description="severity(ies), comma-separated: " + ", ".join(schema.SEVERITIES),
        max_length=200,
    )
    include_inactive: bool = Field(
        default=False, description="also violations that no longer hold after re-evaluation"
    )

    @field_validator("status")
    @classmethod
    def _check_status(cls, value: str | None) -> str | None:
        return _split_list(value, "status", tuple(schema.VIOLATION_STATUSES))

    @field_validator("severity")
    @classmethod
    def _check_severity(cls, value: str | None) -> str | None:
        return _split_list(value, "severity", tuple(schema.SEVERITIES))


class CountParams(ViolationParams):
    """Filters of ``GET /api/violations/daily-counts`` (no paging: one row per day)."""

    as_of: None = Field(default=None, description="not offered here")
    limit: int = Field(default=100, ge=1, le=100_000, description="ignored")


class CoverageParams(BaseModel):
    """Filters of the coverage routes."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = Field(default=None, description="from this time (inclusive)")
    until: AwareDatetime | None = Field(default=None, description="to this time (exclusive)")
    source: str | None = Field(default=None, description="source(s), comma-separated")
    sector: str | None = Field(default=None, description="sector(s), comma-separated")

    @field_validator("source", "sector")
    @classmethod
    def _check_lists(cls, value: str | None) -> str | None:
        return _split_list(value, "value")


class ReportParams(BaseModel):
    """Parameters of ``GET /api/reports/daily``."""

    model_config = ConfigDict(extra="forbid")

    date: Annotated[date, Field(description="report day (the agreement's local day, ISO date)")]
    format: Literal["html", "md"] = Field(default="html", description="html or md (Markdown)")


class AuditParams(BaseModel):
    """Paging of ``GET /api/audit``."""

    model_config = ConfigDict(extra="forbid")

    after_seq: int = Field(default=0, ge=0, description="entries after this seq")
    limit: int = Field(default=100, ge=1, le=1_000, description="page size")


# --- cursors ---------------------------------------------------------------------------


def encode_cursor(occurred_at: datetime, record_id: str) -> str:
    """Opaque cursor: base64url of the last row's sort key ``(occurred_at µs, id)``."""
    us = (occurred_at - _EPOCH) // timedelta(microseconds=1)
    raw = json.dumps([us, record_id], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The sort key of a cursor; :class:`BadRequestError` if it is not one of ours."""
    try:
        pad = "=" * (-len(cursor) % 4)
        us, record_id = json.loads(base64.urlsafe_b64decode(cursor + pad))
        if not isinstance(us, int) or not isinstance(record_id, str):
            raise ValueError("wrong types")
        return _EPOCH + timedelta(microseconds=us), record_id
    except (ValueError, TypeError, binascii.Error, OverflowError) as e:
        msg = f"cursor {cursor[:60]!r} is not a cursor returned by this API; start without one"
        raise BadRequestError(msg) from e


def check_limit(limit: int, max_page_size: int) -> None:
    if limit > max_page_size:
        msg = f"limit {limit} exceeds the server's max_page_size {max_page_size}"
        raise InvalidRequestError(msg, detail={"max_page_size": max_page_size})
