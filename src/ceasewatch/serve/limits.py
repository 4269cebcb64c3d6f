"""Bounds on what a request may send: body size (413) and query-string length (414).

A pure ASGI middleware, so that an oversized body is refused before anything reads it:
by its ``Content-Length`` when given, else by counting while it streams in.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ceasewatch.serve.errors import error_body
from ceasewatch.serve.output import dumps


async def _send_error(send: Send, status: int, code: str, message: str, detail: object) -> None:
    body = dumps(error_body(code, message, detail))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimitMiddleware:
    """Refuse bodies over ``max_body_bytes`` and query strings over ``max_query_bytes``."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_query_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_query_bytes = max_query_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if len(query) > self.max_query_bytes:
            await _send_error(
                send,
                414,
                "query_too_long",
                f"the query string has {len(query)} bytes; at most {self.max_query_bytes} "
                "are accepted",
                {"max_query_bytes": self.max_query_bytes},
            )
            return
        length = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
                break
        limit = self.max_body_bytes
        if length is not None and length > limit:
            await _send_error(send, 413, "payload_too_large", _too_large(length, limit), _d(limit))
            return
        if length is not None:
            await self.app(scope, receive, send)
            return
        # no Content-Length (chunked): read it all here, counting, then replay it
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                chunks = []
                break
            body = message.get("body", b"")
            total += len(body)
            if total > limit:
                await _send_error(
                    send, 413, "payload_too_large", _too_large(total, limit), _d(limit)
                )
                return
            chunks.append(body)
            more = bool(message.get("more_body", False))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(size: int, limit: int) -> str:
    return f"the request body has {size}+ bytes; at most {limit} are accepted"


def _d(limit: int) -> dict[str, int]:
    return {"max_body_bytes": limit}
