"""``/api/reports``: the daily report generated on demand from the store.

Rendering takes seconds (map and chart), so a rendered report is kept while what it was
made from is unchanged: the key is the day, the format and a fingerprint of the store
(last batch, last evaluation, last status change, last agreement version).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ceasewatch.report.daily import write_daily_report
from ceasewatch.report.run import daily_report_from_store
from ceasewatch.serve.auth import Ctx, Observer, role_doc
from ceasewatch.serve.context import ServeContext
from ceasewatch.serve.models import error_responses
from ceasewatch.serve.params import ReportParams

router = APIRouter(prefix="/api/reports", tags=["reports"])

REPORT_CACHE_SIZE = 16
_FINGERPRINT_SQL = (
    "SELECT (SELECT max(batch_id) FROM batches), (SELECT max(updated_at) FROM violations), "
    "(SELECT count(*) FROM violation_status), (SELECT max(changed_at) FROM violation_status), "
    "(SELECT max(version) FROM agreements)"
)


def _fingerprint(ctx: ServeContext) -> tuple[Any, ...]:
    row = ctx.reader().execute(_FINGERPRINT_SQL).fetchone()
    return tuple(row) if row else ()


@router.get(
    "/daily",
    summary="The daily report of a day, as self-contained HTML or as Markdown",
    description=(
        "Generated on demand (and kept while the store is unchanged); the Markdown refers "
        "to map.png and chart.png, which only the HTML embeds."
    ),
    openapi_extra=role_doc("observer"),
    responses={
        **error_responses(400, 401, 403, 404, 422),
        200: {"content": {"text/html": {}, "text/markdown": {}}},
    },
)
def daily_report(ctx: Ctx, user: Observer, params: Annotated[ReportParams, Query()]) -> Response:
    key = (params.date, params.format, *_fingerprint(ctx))
    cache = ctx.report_cache
    with ctx.render_lock:
        if key not in cache:
            with ctx.locked() as store:
                report = daily_report_from_store(store, params.date)
            with tempfile.TemporaryDirectory(prefix="ceasewatch-report-") as tmp:
                paths = write_daily_report(report, Path(tmp))
                for fmt, media in (("md", "text/markdown; charset=utf-8"), ("html", "text/html")):
                    text = paths[fmt].read_text(encoding="utf-8")
                    cache[(params.date, fmt, *key[2:])] = (text, media)
            while len(cache) > REPORT_CACHE_SIZE:
                cache.popitem(last=False)
        text, media = cache[key]
    return Response(text, media_type=media)
