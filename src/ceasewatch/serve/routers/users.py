"""``/api/users`` and ``/api/tokens``: user and token management (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ceasewatch.serve.auth import Admin, Ctx, actor_of, role_doc
from ceasewatch.serve.models import UserCreate, UserUpdate, error_responses
from ceasewatch.serve.output import json_response
from ceasewatch.store.auth import (
    add_user,
    get_user,
    issue_token,
    list_tokens,
    list_users,
    revoke_token,
    update_user,
)

router = APIRouter(tags=["users"])

UserId = Annotated[str, Path(max_length=64, description="user id (usr_…) or name")]
TokenId = Annotated[str, Path(max_length=64, description="token id (tok_…)")]


@router.get(
    "/api/users",
    summary="All users (admin)",
    openapi_extra=role_doc("admin"),
    responses=error_responses(401, 403),
)
def users(ctx: Ctx, user: Admin) -> Response:
    return json_response({"users": [u.as_dict() for u in list_users(ctx.store_reader())]})


@router.post(
    "/api/users",
    status_code=201,
    summary="Create a user (admin); issue it a token with POST /api/users/{id}/tokens",
    openapi_extra=role_doc("admin"),
    responses=error_responses(401, 403, 409, 413, 422),
)
def create_user(ctx: Ctx, user: Admin, body: UserCreate) -> Response:
    with ctx.write() as store:
        new = add_user(store, body.name, body.role, actor=actor_of(user))
    ctx.auth_cache.clear()
    return json_response(new.as_dict(), status_code=201)


@router.patch(
    "/api/users/{user_id}",
    summary="Change a user's role, or disable it (admin)",
    openapi_extra=role_doc("admin"),
    responses=error_responses(401, 403, 404, 413, 422),
)
def change_user(ctx: Ctx, user: Admin, user_id: UserId, body: UserUpdate) -> Response:
    with ctx.write() as store:
        changed = update_user(
            store, user_id, actor=actor_of(user), role=body.role, disabled=body.disabled
        )
    ctx.auth_cache.clear()
    return json_response(changed.as_dict())


@router.get(
    "/api/users/{user_id}/tokens",
    summary="A user's tokens: ids, dates, last four characters, never the secret (admin)",
    openapi_extra=role_doc("admin"),
    responses=error_responses(401, 403, 404),
)
def user_tokens(ctx: Ctx, user: Admin, user_id: UserId) -> Response:
    reader = ctx.store_reader()
    target = get_user(reader, user_id)
    return json_response({"tokens": [t.as_dict() for t in list_tokens(reader, target.user_id)]})


@router.post(
    "/api/users/{user_id}/tokens",
    status_code=201,
    summary="Issue a token (admin): the secret is in this response only",
    openapi_extra=role_doc("admin"),
    responses=error_responses(401, 403, 404),
)
def new_token(ctx: Ctx, user: Admin, user_id: UserId) -> Response:
    with ctx.write() as store:
        issued = issue_token(store, user_id, actor=actor_of(user))
    return json_response(
        {
            "token_id": issued.token_id,
            "user_id": issued.user_id,
            "token": issued.token,
            "last4": issued.last4,
            "note": "store this token now: it is not shown again",
        },
        status_code=201,
    )


@router.delete(
    "/api/tokens/{token_id}",
    summary="Revoke a token at once (admin)",
    openapi_extra=role_doc("admin"),
    responses=error_responses(401, 403, 404),
)
def revoke(ctx: Ctx, user: Admin, token_id: TokenId) -> Response:
    with ctx.write() as store:
        info = revoke_token(store, token_id, actor=actor_of(user))
    ctx.auth_cache.clear()
    return json_response(info.as_dict())
