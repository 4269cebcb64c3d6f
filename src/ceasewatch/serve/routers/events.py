"""``/api/events``: events (one source record each), current or as known at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from ceasewatch.errors import NotFoundError
from ceasewatch.serve.auth import Ctx, Observer, role_doc
from ceasewatch.serve.models import error_responses
from ceasewatch.serve.output import json_response, record
from ceasewatch.serve.params import EventParams
from ceasewatch.serve.queries import event_versions, events_by_ids

router = APIRouter(prefix="/api/events", tags=["events"])


@router.get(
    "",
    summary="List events (GeoJSON or CSV), filtered and paged",
    openapi_extra=role_doc("observer"),
    responses=error_responses(400, 401, 403, 413, 414, 422),
)
async def list_events(
    request: Request, ctx: Ctx, user: Observer, params: Annotated[EventParams, Query()]
) -> Response:
    return await ctx.list_page(request, params, lambda snap: snap.events)


@router.get(
    "/{event_id}",
    summary="One event (current version) with its version history",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 404, 422),
)
def get_event(
    ctx: Ctx, user: Observer, event_id: Annotated[str, Path(max_length=64, description="event id")]
) -> Response:
    con = ctx.reader()
    page = events_by_ids(con, [event_id])
    if not page.rows:
        msg = f"event {event_id!r} does not exist"
        raise NotFoundError(msg)
    doc = record(page.columns, page.rows[0])
    doc["versions"] = [record(tuple(v), tuple(v.values())) for v in event_versions(con, event_id)]
    return json_response(doc)
