"""``/api/coverage``: how much was observed, per source, sector and day.

A quiet day with no coverage is not a calm day. The store does not hold observation
coverage yet (observation hours, cloud-free satellite passes): until it has a
``coverage`` table, ``GET /api/coverage`` answers 501 and says so. What the store does
know, records received per source, day and sector, is at ``/api/coverage/received``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ceasewatch.serve.auth import Ctx, Observer, role_doc
from ceasewatch.serve.errors import NotImplementedApiError
from ceasewatch.serve.models import error_responses
from ceasewatch.serve.output import json_response, record
from ceasewatch.serve.params import CoverageParams
from ceasewatch.serve.queries import has_table, records_received

router = APIRouter(prefix="/api/coverage", tags=["coverage"])

COVERAGE_ROW_LIMIT = 100_000


@router.get(
    "",
    summary="Observation coverage per source, sector and day (501 until the store has it)",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 422, 501),
)
def coverage(ctx: Ctx, user: Observer, params: Annotated[CoverageParams, Query()]) -> Response:
    con = ctx.reader()
    if not has_table(con, "coverage"):
        msg = (
            "observation coverage (observation hours, cloud-free satellite passes) is not in "
            "the store yet: the store has no coverage table. Records received per source, "
            "day and sector are at /api/coverage/received"
        )
        raise NotImplementedApiError(msg, detail={"see": "/api/coverage/received"})
    cur = con.execute(f"SELECT * FROM coverage LIMIT {COVERAGE_ROW_LIMIT}")
    cols = tuple(d[0] for d in cur.description or ())
    return json_response({"coverage": [record(cols, r) for r in cur.fetchall()]})


@router.get(
    "/received",
    summary="Records received per source, UTC day and sector",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 422),
)
def received(ctx: Ctx, user: Observer, params: Annotated[CoverageParams, Query()]) -> Response:
    return json_response({"received": records_received(ctx.reader(), params)})
