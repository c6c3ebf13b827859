"""Users and API keys: passwords hashed with argon2id (argon2-cffi), API keys stored as their SHA-256.

Only an admin (or the command line, as `SYSTEM`) manages users. A principal is built from the stored row on
every request, so a changed role, scope or a deactivated user takes effect at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Table, func, insert, select, update

from geo.access import Principal, Role
from geo.errors import Conflict, InvalidInput, Problem
from geo.store.models import ApiKey, Enterprise, Jurisdiction, User
from geo.store.repository import deny

U = cast(Table, User.__table__)
K = cast(Table, ApiKey.__table__)

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MIN_PASSWORD = 10
KEY_PREFIX = "rmk_"

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))  # unknown users cost as much time as known ones


def hash_api_key(key: str) -> str:
    """API keys are 256-bit random strings: a plain SHA-256 is enough to store them (no password hash)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _principal(row: Any) -> Principal:
    return Principal(
        role=Role(row.role),
        username=row.username,
        user_id=int(row.id),
        adcodes=tuple(row.adcodes or ()),
        enterprise_id=row.enterprise_id,
    )


def _check_new_user(
    conn: Connection,
    username: str,
    password: str,
    role: str,
    adcodes: Sequence[str],
    enterprise_id: int | None,
) -> None:
    problems: list[Problem] = []
    if not USERNAME.match(username):
        problems.append(
            Problem("username", "3–64 letters, digits or . _ @ -", "用户名应为 3–64 位字母、数字或 . _ @ -")
        )
    if len(password) < MIN_PASSWORD:
        problems.append(
            Problem("password", f"at least {MIN_PASSWORD} characters", f"密码至少 {MIN_PASSWORD} 位")
        )
    if role not in (Role.admin, Role.regulator, Role.enterprise):
        problems.append(
            Problem(
                "role", "expected admin, regulator or enterprise", "角色应为 admin、regulator 或 enterprise"
            )
        )
    if role == Role.regulator:
        known = set(
            conn.execute(select(Jurisdiction.adcode).where(Jurisdiction.adcode.in_(list(adcodes)))).scalars()
        )
        if not adcodes:
            problems.append(
                Problem("adcode", "a regulator needs at least one jurisdiction", "监管用户须指定辖区")
            )
        problems += [
            Problem("adcode", f"no jurisdiction with adcode {a!r}", f"行政区划 {a} 不存在")
            for a in adcodes
            if a not in known
        ]
    elif adcodes:
        problems.append(Problem("adcode", "only a regulator has jurisdictions", "仅监管用户有辖区"))
    if role == Role.enterprise:
        if enterprise_id is None:
            problems.append(
                Problem("enterprise_id", "an enterprise user needs its enterprise", "企业用户须指定企业")
            )
        elif conn.execute(select(Enterprise.id).where(Enterprise.id == enterprise_id)).first() is None:
            problems.append(
                Problem(
                    "enterprise_id", f"no enterprise with id {enterprise_id}", f"企业 {enterprise_id} 不存在"
                )
            )
    elif enterprise_id is not None:
        problems.append(
            Problem("enterprise_id", "only an enterprise user has an enterprise", "仅企业用户关联企业")
        )
    if problems:
        raise InvalidInput(problems)


def create_user(
    conn: Connection,
    principal: Principal,
    username: str,
    password: str,
    role: str,
    *,
    adcodes: Sequence[str] = (),
    enterprise_id: int | None = None,
) -> Principal:
    """Add a user (admins only); the password is kept only as its argon2id hash."""
    if not principal.is_admin:
        raise deny(principal, "manage users")
    _check_new_user(conn, username, password, role, adcodes, enterprise_id)
    if conn.execute(select(U.c.id).where(U.c.username == username)).first():
        raise Conflict(f"a user {username!r} exists already", "username", "用户名已存在")
    row = conn.execute(
        insert(U)
        .values(
            username=username,
            password_hash=_hasher.hash(password),
            role=str(role),
            adcodes=list(adcodes),
            enterprise_id=enterprise_id,
        )
        .returning(U.c.id, U.c.username, U.c.role, U.c.adcodes, U.c.enterprise_id)
    ).one()
    return _principal(row)


def list_users(conn: Connection, principal: Principal) -> list[dict[str, Any]]:
    if not principal.is_admin:
        raise deny(principal, "manage users")
    keys = select(func.count()).where(K.c.user_id == U.c.id, K.c.active).scalar_subquery()
    q = select(
        U.c.id,
        U.c.username,
        U.c.role,
        U.c.adcodes,
        U.c.enterprise_id,
        U.c.active,
        U.c.created_at,
        keys.label("api_keys"),
    ).order_by(U.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def authenticate(conn: Connection, username: str, password: str) -> Principal | None:
    """The principal of an active user whose password matches, else None (in about the same time)."""
    row = conn.execute(select(U).where(U.c.username == username, U.c.active)).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        conn.execute(update(U).where(U.c.id == row.id).values(password_hash=_hasher.hash(password)))
    return _principal(row)


def principal_of(conn: Connection, username: str) -> Principal | None:
    """The current principal of an active user (tokens name the user; the scope comes from the row)."""
    row = conn.execute(select(U).where(U.c.username == username, U.c.active)).first()
    return _principal(row) if row else None


def create_api_key(conn: Connection, principal: Principal, username: str) -> str:
    """A new API key for a user (admins only). Shown once: only its SHA-256 is stored."""
    if not principal.is_admin:
        raise deny(principal, "manage users")
    user_id = conn.execute(select(U.c.id).where(U.c.username == username)).scalar()
    if user_id is None:
        raise InvalidInput.one("username", f"no user {username!r}", f"用户 {username} 不存在")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(insert(K).values(user_id=user_id, prefix=key[:12], key_hash=hash_api_key(key)))
    return key


def principal_for_key(conn: Connection, key: str) -> Principal | None:
    row = conn.execute(
        select(U)
        .join(K, K.c.user_id == U.c.id)
        .where(K.c.key_hash == hash_api_key(key), K.c.active, U.c.active)
    ).first()
    return _principal(row) if row else None


def remove_user(conn: Connection, principal: Principal, username: str) -> bool:
    """Delete a user and its API keys (admins only); whether there was one."""
    if not principal.is_admin:
        raise deny(principal, "manage users")
    return bool(conn.execute(U.delete().where(U.c.username == username)).rowcount)
