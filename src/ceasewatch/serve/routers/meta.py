"""``/api/health``, ``/api/me``, ``/api/config`` and the audit log (``/api/audit``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ceasewatch import __version__
from ceasewatch.normalize import schema
from ceasewatch.serve.auth import Admin, Ctx, Observer, role_doc
from ceasewatch.serve.models import error_responses
from ceasewatch.serve.output import json_response
from ceasewatch.serve.params import AuditParams
from ceasewatch.serve.queries import distinct_values, time_range
from ceasewatch.serve.review import TRANSITIONS
from ceasewatch.store.audit import audit_entries, chain_head, verify_chain
from ceasewatch.store.auth import ROLES

router = APIRouter(tags=["service"])


@router.get("/api/health", summary="Liveness (no authentication)", openapi_extra=role_doc("public"))
def health() -> Response:
    return json_response({"status": "ok", "version": __version__})


@router.get(
    "/api/me",
    summary="The authenticated user",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401),
)
def me(user: Observer) -> Response:
    return json_response(user.as_dict())


@router.get(
    "/api/config",
    summary="What the dashboard needs: tiles, vocabularies, filter values, time range",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401),
)
def config(ctx: Ctx, user: Observer) -> Response:
    con = ctx.reader()
    lo, hi = time_range(con)
    s = ctx.settings
    return json_response(
        {
            "version": __version__,
            "tile_url": s.tile_url,
            "tile_attribution": s.tile_attribution,
            "max_page_size": s.max_page_size,
            "roles": list(ROLES),
            "statuses": list(schema.VIOLATION_STATUSES),
            "transitions": {k: list(v) for k, v in TRANSITIONS.items()},
            "severities": list(schema.SEVERITIES),
            "categories": list(schema.CATEGORIES),
            "sources": distinct_values(con, "SELECT DISTINCT source FROM batches ORDER BY 1"),
            "zones": distinct_values(
                con, "SELECT DISTINCT zone FROM incidents WHERE zone IS NOT NULL ORDER BY 1"
            ),
            "sectors": distinct_values(
                con, "SELECT DISTINCT sector FROM incidents WHERE sector IS NOT NULL ORDER BY 1"
            ),
            "time_range": {
                "min": lo.isoformat().replace("+00:00", "Z") if lo else None,
                "max": hi.isoformat().replace("+00:00", "Z") if hi else None,
            },
        }
    )


@router.get(
    "/api/audit",
    summary="Audit log entries in order (admin)",
    openapi_extra=role_doc("admin"),
    responses=error_responses(401, 403, 422),
)
def audit(ctx: Ctx, user: Admin, params: Annotated[AuditParams, Query()]) -> Response:
    rows = audit_entries(ctx.store_reader(), after_seq=params.after_seq, limit=params.limit)
    return json_response({"entries": [r._asdict() for r in rows]})


@router.get(
    "/api/audit/verify",
    summary="Recompute the audit chain; name the first broken entry (admin)",
    openapi_extra=role_doc("admin"),
    responses=error_responses(401, 403),
)
def audit_verify(ctx: Ctx, user: Admin) -> Response:
    reader = ctx.store_reader()
    check = verify_chain(reader)
    head = chain_head(reader)
    return json_response(
        {
            "ok": check.ok,
            "first_bad_seq": check.first_bad_seq,
            "message": check.message,
            "head": {"seq": head[0], "hash": head[1]} if head else None,
        }
    )
