"""``/api/field-reports``: monitors submit observations; each request becomes a batch."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ceasewatch.serve.auth import Ctx, Monitor, actor_of, role_doc
from ceasewatch.serve.errors import InvalidRequestError
from ceasewatch.serve.models import FieldReportRequest, error_responses
from ceasewatch.serve.output import json_response

router = APIRouter(prefix="/api/field-reports", tags=["field reports"])


@router.post(
    "",
    status_code=201,
    summary="Submit a field report (monitor): validated as the importer does, stored as a batch",
    description=(
        'Body: {"observations": [...]} with the fields of docs/field-reports.md. Any invalid '
        "observation refuses the whole request (422, every problem listed with its index). "
        "Resending an identical report stores nothing and answers 200 with duplicate=true. "
        "The new events are evaluated by the next `ceasewatch evaluate`."
    ),
    openapi_extra=role_doc("monitor"),
    responses=error_responses(401, 403, 413, 422),
)
async def submit(ctx: Ctx, user: Monitor, body: FieldReportRequest) -> Response:
    # validated in a worker process; the wait for the writer's commit holds no thread (a
    # burst of reports waiting for the single writer must not take the threads reads use)
    if len(body.observations) > ctx.settings.max_observations:
        msg = (
            f"observations: {len(body.observations)} given; at most "
            f"{ctx.settings.max_observations} per request"
        )
        raise InvalidRequestError(msg, detail={"max_observations": ctx.settings.max_observations})
    result = await ctx.field_reports.submit_async(
        body.observations, actor=actor_of(user), pool=ctx.validation_pool
    )
    return json_response(result, status_code=200 if result["duplicate"] else 201)
