"""Request bodies and the error response, as pydantic models (they document the API)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ceasewatch.store.auth import ROLES

Role = Literal["observer", "monitor", "analyst", "admin"]
assert tuple(Role.__args__) == ROLES  # type: ignore[attr-defined]  # the two lists agree

Status = Literal["detected", "under_review", "confirmed", "dismissed"]


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. not_found")
    message: str = Field(description="what went wrong and what to do, for people")
    detail: Any = Field(default=None, description="structured details (e.g. every problem)")


class ErrorResponse(BaseModel):
    """The one error shape of every route."""

    error: ErrorBody


_ERROR_DOCS = {
    400: "malformed request (e.g. a cursor not from this API)",
    401: "no valid token",
    403: "role too low",
    404: "no such record or route",
    409: "conflicts with the record's state",
    413: "body too large",
    414: "query string too long",
    422: "invalid parameters or body",
    500: "unexpected error",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error statuses (all in the one shape)."""
    chosen = codes or tuple(_ERROR_DOCS)
    return {c: {"model": ErrorResponse, "description": _ERROR_DOCS.get(c, "")} for c in chosen}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StatusChange(_Body):
    """A violation's new analyst status, with the reason."""

    status: Status = Field(description="the new status (see the allowed transitions)")
    comment: str = Field(
        min_length=1, max_length=4_000, description="why (required; kept in the audit log)"
    )


class MergeRequest(_Body):
    """Merge incidents that describe one happening."""

    incident_ids: list[str] = Field(min_length=2, max_length=50, description="incidents to merge")
    comment: str = Field(min_length=1, max_length=4_000, description="why (required)")


class SplitRequest(_Body):
    """Split events off an incident into their own incident."""

    event_ids: list[str] = Field(
        min_length=1, max_length=500, description="member events to split off"
    )
    comment: str = Field(min_length=1, max_length=4_000, description="why (required)")


class FieldReportRequest(BaseModel):
    """Observations of one or more field reports (fields as in docs/field-reports.md)."""

    model_config = ConfigDict(extra="forbid")

    observations: list[dict[str, Any]] = Field(
        min_length=1, description="observation objects, validated as the field-report importer does"
    )


class UserCreate(_Body):
    name: str = Field(min_length=1, max_length=64, description="unique user name")
    role: Role = Field(description="observer < monitor < analyst < admin")


class UserUpdate(_Body):
    role: Role | None = Field(default=None, description="new role")
    disabled: bool | None = Field(default=None, description="disable (true) or re-enable")


class AgreementUpload(_Body):
    """An agreement version: the YAML and the GeoJSON files it names."""

    agreement_yaml: str = Field(
        min_length=1,
        max_length=200_000,
        description="agreement.yaml text (docs/agreement-format.md)",
    )
    files: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        max_length=20,
        description="GeoJSON files named in the YAML, by plain file name (no folders)",
    )
