"""``/api/coverage``: how much was observed, per source, sector and report day.

A quiet day with no coverage is not a calm day. ``GET /api/coverage`` gives records
received and hours observed (field reports) per source, sector and report day, with
``observed`` false for a sector-day no source covered (the same table as
``ceasewatch coverage export``). Records received per UTC day are at
``/api/coverage/received``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ceasewatch.errors import CeasewatchError
from ceasewatch.report.export import coverage_from_store
from ceasewatch.serve.auth import Ctx, Observer, role_doc
from ceasewatch.serve.errors import InvalidRequestError
from ceasewatch.serve.models import error_responses
from ceasewatch.serve.output import json_response
from ceasewatch.serve.params import CoverageParams
from ceasewatch.serve.queries import records_received

router = APIRouter(prefix="/api/coverage", tags=["coverage"])

COVERAGE_ROW_LIMIT = 100_000


@router.get(
    "",
    summary="Records received and hours observed per source, sector and report day",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 422),
)
def coverage(ctx: Ctx, user: Observer, params: Annotated[CoverageParams, Query()]) -> Response:
    with ctx.locked() as store:
        try:
            table = coverage_from_store(store)
        except CeasewatchError as e:
            raise InvalidRequestError(str(e)) from e
    if params.since is not None:
        table = table[table["day"] >= params.since.date().isoformat()]
    if params.until is not None:
        table = table[table["day"] < params.until.date().isoformat()]
    if params.source:
        table = table[table["source"].isin(params.source.split(","))]
    if params.sector:
        table = table[table["sector"].isin(params.sector.split(","))]
    table = table.head(COVERAGE_ROW_LIMIT)
    rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    return json_response({"coverage": rows})


@router.get(
    "/received",
    summary="Records received per source, UTC day and sector",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 422),
)
def received(ctx: Ctx, user: Observer, params: Annotated[CoverageParams, Query()]) -> Response:
    return json_response({"received": records_received(ctx.reader(), params)})
