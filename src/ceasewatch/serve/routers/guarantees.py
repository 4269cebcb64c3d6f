"""``/api/guarantees``: the guarantee ledger beside the ceasefire's state.

The working group's commitments and scorecard, every guarantee table (armaments, air
attacks and alerts, contingents, protected zones, meetings, the ledger's change log) as
JSON or CSV, and the guarantee scorecard report as self-contained HTML.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from ceasewatch.errors import NotFoundError
from ceasewatch.guarantee import schema as gs
from ceasewatch.guarantee.commitments import overdue, scorecard
from ceasewatch.report.guarantees import report as guarantee_report
from ceasewatch.serve.auth import Ctx, Observer, role_doc
from ceasewatch.serve.models import error_responses
from ceasewatch.serve.output import json_response
from ceasewatch.store.guarantee import DATASET_SOURCE, export_frame, ledger_table

router = APIRouter(prefix="/api/guarantees", tags=["guarantees"])

TABLE_ROW_LIMIT = 100_000


class TableParams(BaseModel):
    """Format of a guarantee table."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "csv"] = Field(default="json", description="json or csv")


class DayParams(BaseModel):
    """The day a scorecard is judged at."""

    model_config = ConfigDict(extra="forbid")

    as_of: date | None = Field(default=None, description="day (ISO date); default today (UTC)")


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    # dates and times as ISO 8601 text, missing values as null
    text = frame.head(TABLE_ROW_LIMIT).to_json(
        orient="records", date_format="iso", default_handler=str
    )
    rows: list[dict[str, object]] = json.loads(text)
    return rows


def _known_tables() -> list[str]:
    return [*gs.LEDGER_TABLES, *DATASET_SOURCE, "ledger_log"]


@router.get(
    "",
    summary="The guarantee tables and the working group's scorecard",
    openapi_extra=role_doc("observer"),
    responses=error_responses(401, 403, 422),
)
def guarantees(ctx: Ctx, user: Observer, params: Annotated[DayParams, Query()]) -> Response:
    day = params.as_of or datetime.now(UTC).date()
    with ctx.locked() as store:
        commitments = ledger_table(store, "commitments")
        guarantors = ledger_table(store, "guarantors")
    card = (
        scorecard(commitments, as_of=day, guarantors=guarantors)
        if not commitments.empty
        else (pd.DataFrame())
    )
    late = overdue(commitments, as_of=day) if not commitments.empty else pd.DataFrame()
    return json_response(
        {
            "as_of": day.isoformat(),
            "tables": _known_tables(),
            "scorecard": _records(card),
            "overdue": _records(late),
        }
    )


@router.get(
    "/tables/{table}",
    summary="One guarantee table as JSON rows or CSV",
    openapi_extra=role_doc("observer"),
    responses={**error_responses(401, 403, 404, 422), 200: {"content": {"text/csv": {}}}},
)
def guarantee_table(
    ctx: Ctx,
    user: Observer,
    table: Annotated[str, PathParam(description="table name (see GET /api/guarantees)")],
    params: Annotated[TableParams, Query()],
) -> Response:
    if table not in _known_tables():
        msg = f"table {table!r} is not a guarantee table; known: {', '.join(_known_tables())}"
        raise NotFoundError(msg)
    with ctx.locked() as store:
        frame = export_frame(store, table)
    if params.format == "csv":
        return Response(frame.head(TABLE_ROW_LIMIT).to_csv(index=False), media_type="text/csv")
    return json_response({"table": table, "rows": _records(frame)})


@router.get(
    "/report",
    summary="The guarantee scorecard report, self-contained HTML (the dashboard's page)",
    openapi_extra=role_doc("observer"),
    responses={**error_responses(401, 403, 422), 200: {"content": {"text/html": {}}}},
)
def guarantees_report(ctx: Ctx, user: Observer, params: Annotated[DayParams, Query()]) -> Response:
    with ctx.render_lock, ctx.locked() as store, tempfile.TemporaryDirectory() as tmp:
        paths = guarantee_report(store, Path(tmp), as_of=params.as_of)
        html = paths["html"].read_text(encoding="utf-8")
    return Response(html, media_type="text/html")
