"""Bearer-token authentication and role checks, as FastAPI dependencies.

``Depends(require_role("analyst"))`` refuses a request without a valid token (401) or
whose user's role is below analyst (403), and hands the route the :class:`User`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ceasewatch.serve.context import ServeContext, get_context
from ceasewatch.serve.errors import AuthenticationError, ForbiddenError
from ceasewatch.store.auth import ROLES, User, authenticate, role_at_least, token_digest

#: how long an authenticated token is trusted without a look-up; user and token changes
#: through the API clear the cache at once, so this only bounds staleness otherwise
AUTH_CACHE_S = 30.0
AUTH_CACHE_SIZE = 10_000

_bearer = HTTPBearer(
    auto_error=False,
    description="API token issued by `ceasewatch user token NAME` or POST /api/users/{id}/tokens",
)

BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def current_user(
    request: Request,
    ctx: Annotated[ServeContext, Depends(get_context)],
    creds: BearerCredentials,
) -> User:
    """The authenticated user; 401 without a valid token.

    A coroutine: a token in the cache (the usual case) is answered on the event loop,
    without the hop to a worker thread that a plain function dependency costs; a look-up
    in the store runs in a worker thread."""
    if creds is None:
        msg = "authentication required: send 'Authorization: Bearer <token>'"
        raise AuthenticationError(msg)
    key = token_digest(creds.credentials)
    hit = ctx.auth_cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        user: User | None = hit[0]
    else:
        user = await run_in_threadpool(_authenticate, ctx, creds.credentials)
        if user is not None:
            if len(ctx.auth_cache) > AUTH_CACHE_SIZE:
                ctx.auth_cache.clear()
            ctx.auth_cache[key] = (user, now + AUTH_CACHE_S)
    if user is None:
        msg = "invalid token: unknown, revoked, or its user is disabled"
        raise AuthenticationError(msg)
    request.state.user = user
    return user


def _authenticate(ctx: ServeContext, token: str) -> User | None:
    return authenticate(ctx.reader(), token)


def require_role(minimum: str) -> Callable[..., Any]:
    """A dependency that admits users of role ``minimum`` or higher."""
    if minimum not in ROLES:
        msg = f"role {minimum!r} is not one of {', '.join(ROLES)}"
        raise ValueError(msg)

    async def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        if not role_at_least(user.role, minimum):
            msg = (
                f"forbidden: this needs the role {minimum} or higher; "
                f"user {user.name!r} is {user.role}"
            )
            raise ForbiddenError(msg, detail={"required_role": minimum, "role": user.role})
        return user

    dependency.__name__ = f"require_{minimum}"
    return dependency


def role_doc(minimum: str) -> dict[str, Any]:
    """OpenAPI extra that documents a route's minimum role (``x-min-role``)."""
    return {"x-min-role": minimum}


def actor_of(user: User) -> str:
    """The audit log's actor for an API user."""
    return f"user:{user.name}"


Observer = Annotated[User, Depends(require_role("observer"))]
Monitor = Annotated[User, Depends(require_role("monitor"))]
Analyst = Annotated[User, Depends(require_role("analyst"))]
Admin = Annotated[User, Depends(require_role("admin"))]
Ctx = Annotated[ServeContext, Depends(get_context)]
