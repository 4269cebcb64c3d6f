"""Users, roles and API tokens, kept in the store; every change is audited.

Roles are ordered: ``observer < monitor < analyst < admin``; a user may do what its role
and every lower role may do.

Tokens are ``cw_`` + ``secrets.token_urlsafe(32)`` (256 random bits), shown once when
issued and stored only as their SHA-256. A fast hash is the right tool here: slow
password hashes (bcrypt, argon2) exist to make guessing *low-entropy* passwords costly,
but guessing a 256-bit random token is infeasible at any hash speed, and a fast hash
lets every request be authenticated in microseconds. The store keeps the last four
characters so that a user can tell tokens apart.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

from ceasewatch.errors import CeasewatchError, NotFoundError
from ceasewatch.store.audit import SqlStore, append_audit

ROLES: Final = ("observer", "monitor", "analyst", "admin")
TOKEN_PREFIX: Final = "cw_"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

AUTH_DDL = """
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL, disabled BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ, last4 TEXT NOT NULL
);
"""


class UserError(CeasewatchError, ValueError):
    """A user or token request is invalid (unknown role, malformed name)."""


class DuplicateUserError(UserError):
    """A user with that name exists already."""


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    role: str
    created_at: datetime
    disabled: bool

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat().replace("+00:00", "Z")
        return d


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    user_id: str
    created_at: datetime
    revoked_at: datetime | None
    last4: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "user_id": self.user_id,
            "created_at": _iso(self.created_at),
            "revoked_at": _iso(self.revoked_at) if self.revoked_at else None,
            "last4": self.last4,
        }


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: ``token`` is the secret, available only now."""

    token_id: str
    user_id: str
    token: str
    last4: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ensure_auth_tables(store: SqlStore) -> None:
    """Create the ``users`` and ``tokens`` tables if the store has none yet."""
    store.con.execute(AUTH_DDL)


def token_digest(token: str) -> str:
    """SHA-256 hex of a token: what the store keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def role_rank(role: str) -> int:
    """Position of ``role`` in :data:`ROLES` (observer 0 … admin 3)."""
    try:
        return ROLES.index(role)
    except ValueError:
        msg = f"role {role!r} is not one of {', '.join(ROLES)}"
        raise UserError(msg) from None


def role_at_least(role: str, minimum: str) -> bool:
    return role_rank(role) >= role_rank(minimum)


def _user(row: tuple[Any, ...]) -> User:
    return User(str(row[0]), str(row[1]), str(row[2]), row[3], bool(row[4]))


_USER_COLS = "user_id, name, role, created_at, disabled"
_TOKEN_COLS = "token_id, user_id, created_at, revoked_at, last4"


def get_user(store: SqlStore, name_or_id: str) -> User:
    """The user with that name or id; :class:`NotFoundError` if none."""
    ensure_auth_tables(store)
    row = store.con.execute(
        f"SELECT {_USER_COLS} FROM users WHERE user_id = ? OR name = ?", [name_or_id, name_or_id]
    ).fetchone()
    if row is None:
        msg = f"user {name_or_id!r} does not exist"
        raise NotFoundError(msg)
    return _user(row)


def list_users(store: SqlStore) -> list[User]:
    ensure_auth_tables(store)
    rows = store.con.execute(f"SELECT {_USER_COLS} FROM users ORDER BY created_at, name").fetchall()
    return [_user(r) for r in rows]


def add_user(store: SqlStore, name: str, role: str, *, actor: str) -> User:
    """Create a user (no token yet: see :func:`issue_token`)."""
    ensure_auth_tables(store)
    if not _NAME_RE.match(name):
        msg = (
            f"user name {name!r} is not allowed: 1-64 characters, letters, digits and _ . @ -, "
            "starting with a letter or digit"
        )
        raise UserError(msg)
    role_rank(role)
    user = User("usr_" + secrets.token_hex(6), name, role, datetime.now(UTC), False)
    with store.transaction():
        exists = store.con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone()
        if exists:
            msg = f"user {name!r} exists already"
            raise DuplicateUserError(msg)
        store.con.execute(
            "INSERT INTO users VALUES (?,?,?,?,?)",
            [user.user_id, user.name, user.role, user.created_at, user.disabled],
        )
        append_audit(
            store,
            actor=actor,
            action="user.add",
            entity="user",
            entity_id=user.user_id,
            payload={"name": name, "role": role},
        )
    return user


def update_user(
    store: SqlStore,
    name_or_id: str,
    *,
    actor: str,
    role: str | None = None,
    disabled: bool | None = None,
) -> User:
    """Change a user's role and/or disable (or re-enable) it."""
    user = get_user(store, name_or_id)
    if role is not None:
        role_rank(role)
    changes: dict[str, Any] = {}
    if role is not None and role != user.role:
        changes["role"] = [user.role, role]
    if disabled is not None and disabled != user.disabled:
        changes["disabled"] = [user.disabled, disabled]
    if not changes:
        return user
    with store.transaction():
        store.con.execute(
            "UPDATE users SET role = ?, disabled = ? WHERE user_id = ?",
            [
                role if role is not None else user.role,
                disabled if disabled is not None else user.disabled,
                user.user_id,
            ],
        )
        append_audit(
            store,
            actor=actor,
            action="user.update",
            entity="user",
            entity_id=user.user_id,
            payload={"name": user.name, "changes": changes},
        )
    return get_user(store, user.user_id)


def issue_token(store: SqlStore, name_or_id: str, *, actor: str) -> IssuedToken:
    """Issue a new token for a user; the returned ``token`` is the only copy."""
    user = get_user(store, name_or_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    issued = IssuedToken("tok_" + secrets.token_hex(6), user.user_id, token, token[-4:])
    with store.transaction():
        store.con.execute(
            "INSERT INTO tokens VALUES (?,?,?,?,NULL,?)",
            [issued.token_id, user.user_id, token_digest(token), datetime.now(UTC), issued.last4],
        )
        append_audit(
            store,
            actor=actor,
            action="token.issue",
            entity="token",
            entity_id=issued.token_id,
            payload={"user_id": user.user_id, "name": user.name, "last4": issued.last4},
        )
    return issued


def get_token(store: SqlStore, token_id: str) -> TokenInfo:
    ensure_auth_tables(store)
    row = store.con.execute(
        f"SELECT {_TOKEN_COLS} FROM tokens WHERE token_id = ?", [token_id]
    ).fetchone()
    if row is None:
        msg = f"token {token_id!r} does not exist"
        raise NotFoundError(msg)
    return TokenInfo(*row)


def list_tokens(store: SqlStore, user_id: str | None = None) -> list[TokenInfo]:
    """Tokens (never their secret nor hash), of one user or of all."""
    ensure_auth_tables(store)
    rows = store.con.execute(
        f"SELECT {_TOKEN_COLS} FROM tokens WHERE (? IS NULL OR user_id = ?) "
        "ORDER BY created_at, token_id",
        [user_id, user_id],
    ).fetchall()
    return [TokenInfo(*r) for r in rows]


def revoke_token(store: SqlStore, token_id: str, *, actor: str) -> TokenInfo:
    """Revoke a token at once; revoking a revoked token changes nothing."""
    info = get_token(store, token_id)
    if info.revoked_at is not None:
        return info
    with store.transaction():
        store.con.execute(
            "UPDATE tokens SET revoked_at = ? WHERE token_id = ?", [datetime.now(UTC), token_id]
        )
        append_audit(
            store,
            actor=actor,
            action="token.revoke",
            entity="token",
            entity_id=token_id,
            payload={"user_id": info.user_id, "last4": info.last4},
        )
    return get_token(store, token_id)


def authenticate(store_or_con: Any, token: str) -> User | None:
    """The enabled user owning the unrevoked ``token``, or None.

    ``store_or_con`` may be a read cursor (the web service authenticates on its readers).
    The lookup is by the token's SHA-256: timing reveals nothing useful, since learning a
    hash prefix does not help to find a 256-bit token.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    # a store (or read view) has ``con``; a bare connection or cursor is used as it is
    con = getattr(store_or_con, "con", store_or_con)
    row = con.execute(
        f"SELECT {', '.join('u.' + c for c in _USER_COLS.split(', '))} FROM tokens t "
        "JOIN users u USING (user_id) "
        "WHERE t.token_sha256 = ? AND t.revoked_at IS NULL AND NOT u.disabled",
        [token_digest(token)],
    ).fetchone()
    return _user(row) if row else None
