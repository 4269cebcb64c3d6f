"""One exception → status table and one JSON error shape for every error of the API.

Every error, whether raised by ceasewatch, by FastAPI's request validation, by routing
(unknown path, wrong method) or by a bug, is answered as::

    {"error": {"code": "not_found", "message": "violation 'V1' does not exist", "detail": null}}

``code`` is a stable machine-readable word, ``message`` a sentence for people, ``detail``
structured extra information (the list of validation problems, for instance) or null.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ceasewatch.errors import (
    AgreementError,
    CeasewatchError,
    IngestError,
    NotFoundError,
    StoreError,
)
from ceasewatch.store.auth import DuplicateUserError, UserError

log = logging.getLogger("ceasewatch.serve")


class ApiError(CeasewatchError):
    """An error of the web service with structured ``detail``."""

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.detail = detail


class AuthenticationError(ApiError, PermissionError):
    """No, malformed, unknown or revoked token (401)."""


class ForbiddenError(ApiError, PermissionError):
    """Authenticated, but the role does not allow the action (403)."""


class ConflictError(ApiError, ValueError):
    """The request conflicts with the record's state, e.g. a status transition (409)."""


class PayloadTooLargeError(ApiError, ValueError):
    """Request body larger than ``max_body_bytes`` (413)."""


class QueryTooLongError(ApiError, ValueError):
    """Query string longer than ``max_query_bytes`` (414)."""


class InvalidRequestError(ApiError, ValueError):
    """The request is well-formed but its content is invalid (422)."""


class BadRequestError(ApiError, ValueError):
    """The request cannot be understood, e.g. a malformed cursor (400)."""


class NotImplementedApiError(ApiError, NotImplementedError):
    """The store has no data for this yet (501)."""


#: exception type → (HTTP status, error code); the first match along the MRO wins
ERROR_TABLE: Final[dict[type[BaseException], tuple[int, str]]] = {
    AuthenticationError: (401, "unauthorized"),
    ForbiddenError: (403, "forbidden"),
    NotFoundError: (404, "not_found"),
    ConflictError: (409, "conflict"),
    DuplicateUserError: (409, "conflict"),
    PayloadTooLargeError: (413, "payload_too_large"),
    QueryTooLongError: (414, "query_too_long"),
    InvalidRequestError: (422, "invalid"),
    AgreementError: (422, "invalid_agreement"),
    IngestError: (422, "invalid_input"),
    UserError: (422, "invalid_user"),
    BadRequestError: (400, "bad_request"),
    NotImplementedApiError: (501, "not_implemented"),
    StoreError: (503, "store_unavailable"),
    CeasewatchError: (400, "bad_request"),
}

#: HTTP status → error code for errors raised by routing and by Starlette itself
HTTP_CODES: Final[dict[int, str]] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    414: "query_too_long",
    415: "unsupported_media_type",
    422: "invalid",
    500: "internal_error",
    501: "not_implemented",
    503: "store_unavailable",
}


def status_for(exc: BaseException) -> tuple[int, str]:
    """HTTP status and error code of an exception, by :data:`ERROR_TABLE`."""
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return 500, "internal_error"


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    """The one JSON error shape."""
    return {"error": {"code": code, "message": message, "detail": detail}}


def error_response(
    status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, detail), status_code=status, headers=headers)


def _detail(exc: BaseException) -> Any:
    if isinstance(exc, ApiError):
        return exc.detail
    if isinstance(exc, AgreementError) and exc.problems:
        return [{"file": f, "field": k, "message": m} for f, k, m in exc.problems]
    return None


async def _ceasewatch_handler(request: Request, exc: Exception) -> JSONResponse:
    status, code = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, code, str(exc), _detail(exc), headers)


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    where = "; ".join(f"{'.'.join(p['loc'])}: {p['msg']}" for p in problems[:5])
    message = f"the request is invalid ({len(problems)} problem(s)): {where}"
    return error_response(422, "validation_error", message, problems)


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code, message, None, dict(exc.headers or {}) or None)


async def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500,
        "internal_error",
        "internal error: the request failed unexpectedly; the server log has the details",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` in the one shape."""
    app.add_exception_handler(CeasewatchError, _ceasewatch_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
