"""``/api/incidents``: incidents (events merged across sources), their evidence, and the
analysts' split/merge decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from ceasewatch.errors import NotFoundError
from ceasewatch.serve.auth import Analyst, Ctx, Observer, actor_of, role_doc
from ceasewatch.serve.errors import InvalidRequestError
from ceasewatch.serve.models import MergeRequest, SplitRequest, error_responses
from ceasewatch.serve.output import (
    feature,
    json_response,
    record,
)
from ceasewatch.serve.params import IncidentParams
from ceasewatch.serve.queries import (
    events_by_ids,
    incident_member_ids,
    incident_row,
    violations_of_incident,
)
from ceasewatch.serve.review import list_decisions, record_decision

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

IncidentId = Annotated[str, Path(max_length=64, description="incident id (I…)")]


@router.get(
    "",
    summary="List incidents (GeoJSON or CSV), filtered and paged",
    openapi_extra=role_doc("observer"),
    responses=error_responses(400, 401, 403, 413, 414, 422),
)
async def list_incidents(
    request: Request, ctx: Ctx, user: Observer, params: Annotated[IncidentParams, Query()]
) -> Response:
    return await ctx.list_page(request, params, lambda snap: snap.incidents)


@router.get(
    "/decisions",
    summary="Analysts' split and merge decisions, oldest first",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403),
)
def decisions(ctx: Ctx, user: Observer) -> Response:
    return json_response({"decisions": [d.as_dict() for d in list_decisions(ctx.reader())]})


@router.get(
    "/{incident_id}",
    summary="One incident with its evidence (member events and their sources), its "
    "violations and the decisions about it",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 404, 422),
)
def get_incident(ctx: Ctx, user: Observer, incident_id: IncidentId) -> Response:
    con = ctx.reader()
    row = incident_row(con, incident_id)
    if row is None:
        msg = f"incident {incident_id!r} does not exist"
        raise NotFoundError(msg)
    events = events_by_ids(con, incident_member_ids(con, incident_id))
    violations = violations_of_incident(con, incident_id)
    doc = record(tuple(row), tuple(row.values()))
    doc["events"] = [feature(events.columns, r, "event_id") for r in events.rows]
    doc["violations"] = [record(violations.columns, r) for r in violations.rows]
    doc["decisions"] = [d.as_dict() for d in list_decisions(con, incident_id=incident_id)]
    return json_response(doc)


@router.post(
    "/merge",
    status_code=201,
    summary="Record that incidents describe one happening (analyst)",
    openapi_extra=role_doc("analyst"),
    responses=error_responses(401, 403, 413, 422),
)
def merge_incidents(ctx: Ctx, user: Analyst, body: MergeRequest) -> Response:
    ids = body.incident_ids
    if len(set(ids)) != len(ids):
        msg = "incident_ids: each incident may be named once"
        raise InvalidRequestError(msg)
    with ctx.write() as store:
        missing = [i for i in ids if incident_row(store.con, i) is None]
        if missing:
            msg = f"incident_ids: {', '.join(missing)} do(es) not exist"
            raise InvalidRequestError(msg, detail={"missing": missing})
        events = sorted(e for i in ids for e in incident_member_ids(store.con, i))
        d = record_decision(
            store,
            "merge",
            event_ids=events,
            incident_ids=list(ids),
            actor=actor_of(user),
            comment=body.comment,
        )
    return json_response(d.as_dict(), status_code=201)


@router.post(
    "/{incident_id}/split",
    status_code=201,
    summary="Record that some events of an incident are a different happening (analyst)",
    openapi_extra=role_doc("analyst"),
    responses=error_responses(401, 403, 404, 413, 422),
)
def split_incident(
    ctx: Ctx, user: Analyst, incident_id: IncidentId, body: SplitRequest
) -> Response:
    with ctx.write() as store:
        if incident_row(store.con, incident_id) is None:
            msg = f"incident {incident_id!r} does not exist"
            raise NotFoundError(msg)
        members = set(incident_member_ids(store.con, incident_id))
        chosen = sorted(set(body.event_ids))
        strangers = [e for e in chosen if e not in members]
        if strangers:
            msg = f"event_ids: {', '.join(strangers[:10])} are not members of {incident_id}"
            raise InvalidRequestError(msg, detail={"not_members": strangers})
        if len(chosen) == len(members):
            msg = "event_ids: splitting off every event leaves nothing to split from"
            raise InvalidRequestError(msg)
        d = record_decision(
            store,
            "split",
            event_ids=chosen,
            incident_ids=[incident_id],
            actor=actor_of(user),
            comment=body.comment,
        )
    return json_response(d.as_dict(), status_code=201)
