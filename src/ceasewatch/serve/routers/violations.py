"""``/api/violations``: violations of the agreement and their analyst review."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from ceasewatch.errors import NotFoundError
from ceasewatch.serve.auth import Analyst, Ctx, Observer, actor_of, role_doc
from ceasewatch.serve.models import StatusChange, error_responses
from ceasewatch.serve.output import json_response, record
from ceasewatch.serve.params import CountParams, ViolationParams
from ceasewatch.serve.queries import (
    current_status,
    daily_counts,
    status_history,
    violation_row,
)
from ceasewatch.serve.review import TRANSITIONS, change_violation_status

router = APIRouter(prefix="/api/violations", tags=["violations"])

ViolationId = Annotated[str, Path(max_length=64, description="violation id (V…)")]


@router.get(
    "",
    summary="List violations (GeoJSON or CSV), filtered and paged",
    openapi_extra=role_doc("observer"),
    responses=error_responses(400, 401, 403, 413, 414, 422),
)
async def list_violations(
    request: Request, ctx: Ctx, user: Observer, params: Annotated[ViolationParams, Query()]
) -> Response:
    return await ctx.list_page(
        request, params, lambda snap: snap.violations, active_only=not params.include_inactive
    )


@router.get(
    "/daily-counts",
    summary="Violations per UTC day, zone and status (same filters as the list)",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 422),
)
def violation_daily_counts(
    ctx: Ctx, user: Observer, params: Annotated[CountParams, Query()]
) -> Response:
    return json_response({"counts": daily_counts(ctx.reader(), params)})


@router.get(
    "/{violation_id}",
    summary="One violation with its status history and the transitions open to it",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 404, 422),
)
def get_violation(ctx: Ctx, user: Observer, violation_id: ViolationId) -> Response:
    con = ctx.reader()
    row = violation_row(con, violation_id)
    if row is None:
        msg = f"violation {violation_id!r} does not exist"
        raise NotFoundError(msg)
    doc = record(tuple(row), tuple(row.values()))
    doc["history"] = [
        record(tuple(h), tuple(h.values())) for h in status_history(con, violation_id)
    ]
    doc["next_statuses"] = list(TRANSITIONS.get(str(row["status"]), ()))
    return json_response(doc)


@router.post(
    "/{violation_id}/status",
    summary="Change a violation's status, with a required comment (analyst)",
    description=(
        "Allowed: detected → under_review → confirmed | dismissed; confirmed or dismissed → "
        "under_review (re-opened). Any other change is refused with 409."
    ),
    openapi_extra=role_doc("analyst"),
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
def set_status(ctx: Ctx, user: Analyst, violation_id: ViolationId, body: StatusChange) -> Response:
    with ctx.write() as store:
        seq = change_violation_status(
            store,
            violation_id,
            body.status,
            comment=body.comment,
            actor=actor_of(user),
            current=current_status(store.con, violation_id),
        )
    return json_response(
        {
            "violation_id": violation_id,
            "status": body.status,
            "audit_seq": seq,
            "next_statuses": list(TRANSITIONS.get(body.status, ())),
        }
    )
