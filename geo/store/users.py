"""Users, API keys and browser sessions: passwords hashed with argon2id (argon2-cffi), API keys and session
cookies stored as their SHA-256.

Only an admin (or the command line, as `SYSTEM`) manages users. A principal is built from the stored row on
every request, so a changed role, scope or a deactivated user takes effect at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Sequence
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update

from geo.access import Principal, Role
from geo.errors import Conflict, InvalidInput, Problem
from geo.store.models import ApiKey, Enterprise, Jurisdiction, User, WebSession
from geo.store.repository import deny

U = cast(Table, User.__table__)
K = cast(Table, ApiKey.__table__)
S = cast(Table, WebSession.__table__)

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MIN_PASSWORD = 10
KEY_PREFIX = "rmk_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8  # the start of a key that is stored (and shown) to name it

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


# The lookups of every authenticated request, built once (building one took about half of its 0.3 ms of
# Python; bench/results/tiles.md): the values are bound parameters.
_OF_USERNAME = select(U).where(U.c.username == bindparam("username"), U.c.active)
_OF_KEY = (
    select(U)
    .join(K, K.c.user_id == U.c.id)
    .where(K.c.key_hash == bindparam("key_hash"), K.c.active, U.c.active)
)
_OF_SESSION = (
    select(U)
    .join(S, S.c.user_id == U.c.id)
    .where(S.c.token_hash == bindparam("token_hash"), S.c.expires_at > func.now(), U.c.active)
)


def principal_of(conn: Connection, username: str) -> Principal | None:
    """The current principal of an active user (tokens name the user; the scope comes from the row)."""
    row = conn.execute(_OF_USERNAME, {"username": username}).first()
    return _principal(row) if row else None


def create_api_key(conn: Connection, principal: Principal, username: str) -> str:
    """A new API key for a user (admins only). Shown once: only its SHA-256 is stored."""
    if not principal.is_admin:
        raise deny(principal, "manage users")
    user_id = _user_id(conn, username)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(insert(K).values(user_id=user_id, prefix=key[:PREFIX_LENGTH], key_hash=hash_api_key(key)))
    return key


def _user_id(conn: Connection, username: str) -> int:
    user_id = conn.execute(select(U.c.id).where(U.c.username == username)).scalar()
    if user_id is None:
        raise InvalidInput.one("username", f"no user {username!r}", f"用户 {username} 不存在")
    return int(user_id)


def list_api_keys(conn: Connection, principal: Principal, username: str) -> list[dict[str, Any]]:
    """A user's API keys, revoked ones too (admins only): id, prefix, active, created_at; never the key."""
    if not principal.is_admin:
        raise deny(principal, "manage users")
    user_id = _user_id(conn, username)
    q = select(K.c.id, K.c.prefix, K.c.active, K.c.created_at).where(K.c.user_id == user_id).order_by(K.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def revoke_api_keys(
    conn: Connection, principal: Principal, username: str, key: str | None
) -> list[dict[str, Any]]:
    """Revoke one API key of a user, or with `key` None all of them (admins only). The key is named by its
    id, its prefix (the first 12 characters `users key` printed, or enough of them to tell it from the
    user's other keys) or the whole key. The row stays, inactive: `principal_for_key` refuses it from the
    next request on. Returns the keys this call revoked (`id`, `prefix`); one revoked before is not."""
    if not principal.is_admin:
        raise deny(principal, "manage users")
    user_id = _user_id(conn, username)
    target = K.c.user_id == user_id
    if key is not None:
        mine = select(K.c.id, K.c.prefix).where(target).order_by(K.c.id)
        key = key.strip()
        if not key:
            raise InvalidInput.one("key", "name the key by its id or prefix", "请给出密钥的编号或前缀")
        if key.isdigit() and len(key) <= 18:  # an id (a bigint)
            mine = mine.where(K.c.id == int(key))
        elif len(key) > PREFIX_LENGTH:  # the whole key
            mine = mine.where(K.c.key_hash == hash_api_key(key))
        else:
            mine = mine.where(K.c.prefix.startswith(key, autoescape=True))
        found = conn.execute(mine).all()
        shown = key if len(key) <= PREFIX_LENGTH else key[:PREFIX_LENGTH] + "…"
        if not found:
            raise InvalidInput.one(
                "key", f"{username} has no API key {shown!r}", f"用户 {username} 没有密钥 {shown}"
            )
        if len(found) > 1:
            ids = ", ".join(f"{r.id} ({r.prefix})" for r in found)
            raise InvalidInput.one(
                "key",
                f"{shown!r} names {len(found)} keys of {username}: {ids}; give the id",
                "请给出密钥编号",
            )
        target = K.c.id == found[0].id
    revoked = conn.execute(
        update(K).where(target, K.c.active).values(active=False).returning(K.c.id, K.c.prefix)
    )
    return sorted((dict(r) for r in revoked.mappings()), key=lambda r: int(r["id"]))


def set_active(conn: Connection, principal: Principal, username: str, active: bool) -> bool:
    """Deactivate (or activate again) a user (admins only); whether it changed. An inactive user's tokens
    and API keys are refused from the next request on (the row is read on every request) and it cannot
    sign in; its keys are kept, and work again if it is activated; its browser sessions are deleted."""
    if not principal.is_admin:
        raise deny(principal, "manage users")
    user_id = _user_id(conn, username)
    changed = conn.execute(
        update(U).where(U.c.id == user_id, U.c.active.is_distinct_from(active)).values(active=active)
    )
    if not active:  # its browser sessions end for good (activating it again does not bring them back)
        conn.execute(delete(S).where(S.c.user_id == user_id))
    return bool(changed.rowcount)


def principal_for_key(conn: Connection, key: str) -> Principal | None:
    """The principal of an active key of an active user, else None (unknown, revoked or deactivated)."""
    row = conn.execute(_OF_KEY, {"key_hash": hash_api_key(key)}).first()
    return _principal(row) if row else None


def remove_user(conn: Connection, principal: Principal, username: str) -> bool:
    """Delete a user and its API keys (admins only); whether there was one."""
    if not principal.is_admin:
        raise deny(principal, "manage users")
    return bool(conn.execute(U.delete().where(U.c.username == username)).rowcount)


# --- browser sessions ----------------------------------------------------------------------------------------


def create_session(conn: Connection, principal: Principal, minutes: int) -> str:
    """A new browser session of the (just authenticated) principal, lasting `minutes` from now; returns the
    cookie's value (256 random bits), of which only the SHA-256 is stored. Expired sessions are removed."""
    if principal.user_id is None:
        raise deny(principal, "sign in")
    conn.execute(delete(S).where(S.c.expires_at < func.now()))
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(S).values(
            user_id=principal.user_id,
            token_hash=hash_api_key(token),
            expires_at=func.now() + dt.timedelta(minutes=minutes),
        )
    )
    return token


def principal_for_session(conn: Connection, token: str) -> Principal | None:
    """The principal of an unexpired session of an active user, else None (unknown, signed out, expired or
    deactivated). The role and scope come from the user's row, read now."""
    row = conn.execute(_OF_SESSION, {"token_hash": hash_api_key(token)}).first()
    return _principal(row) if row else None


def end_session(conn: Connection, token: str) -> bool:
    """Sign a session out (delete it): the cookie is refused from the next request on. Whether there was one."""
    return bool(conn.execute(delete(S).where(S.c.token_hash == hash_api_key(token))).rowcount)


def workspace(conn: Connection, principal: Principal) -> dict[str, Any]:
    """What a signed-in user's home page names: its areas — a regulator's jurisdictions, an enterprise's
    jurisdiction, for an admin the top-level units loaded (at most 20) — each as `adcode`, `name` and
    `has_children` (child administrative units loaded, which a four-colour map by children needs), and an
    enterprise user's enterprise name."""
    J = cast(Table, Jurisdiction.__table__)
    E = cast(Table, Enterprise.__table__)
    child = J.alias("child")
    has_children = (
        select(child.c.adcode)
        .where(
            child.c.parent_adcode == J.c.adcode,
            child.c.level.in_(["province", "city", "county", "township", "village"]),
        )
        .exists()
    )
    q = select(J.c.adcode, J.c.name, has_children.label("has_children"))
    enterprise: str | None = None
    if principal.role is Role.regulator:
        q = q.where(J.c.adcode.in_(list(principal.adcodes)))
    elif principal.role is Role.enterprise and principal.enterprise_id is not None:
        row = conn.execute(
            select(E.c.name, E.c.jurisdiction_adcode).where(E.c.id == principal.enterprise_id)
        ).first()
        if row is None:
            return {"areas": [], "enterprise": None}
        enterprise = str(row.name)
        q = q.where(J.c.adcode == row.jurisdiction_adcode)
    elif principal.is_admin:
        q = q.where(J.c.parent_adcode.is_(None), J.c.level.in_(["province", "city", "county"])).limit(20)
    else:
        return {"areas": [], "enterprise": None}
    areas = [
        {"adcode": str(r.adcode), "name": str(r.name), "has_children": bool(r.has_children)}
        for r in conn.execute(q.order_by(J.c.adcode))
    ]
    return {"areas": areas, "enterprise": enterprise}
