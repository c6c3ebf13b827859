"""Who is calling: the request's principal, from a bearer token (OAuth2 password flow, JWT HS256), an
API key (header X-API-Key) or the browser's session cookie (`riskmap_session`, set by signing in at /login).

Contract every router relies on: `current_principal` (a FastAPI dependency) and `PrincipalDep`. No
credentials at all make the anonymous public (`ANONYMOUS`); a bad or expired token, an unknown key or an
ended session (signed out, expired, user deactivated) is a 401 with `WWW-Authenticate`. The first of token,
key and cookie that is present is the one used. A write (any method but GET, HEAD, OPTIONS) signed in by
the cookie alone needs the session's CSRF token in the `X-CSRF-Token` header, else 403: a cross-site form
or script can make the browser send the cookie, never that header. A token names the user; role and scope
are read from the users table on each request, so a deactivated user or a changed scope takes effect at
once; likewise a key is looked up (with its `active` flag and its user's), and a session (its row, deleted
by signing out or deactivation, and its expiry), on every request, so a revoked one is refused at once.

Sign-in is rate limited (`api/login_limit.py`): past too many failures for a username from one client
address, or from one address whatever the username, within the window, `POST /api/v1/auth/token` is 429
with `Retry-After`, the password unchecked (never per username alone: a stranger must not lock a user out).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, OAuth2PasswordBearer, OAuth2PasswordRequestForm
from sqlalchemy import Connection, Engine

from api import schemas
from api.deps import EngineDep
from api.login_limit import LoginLimiter, SharedLoginLimiter
from api.settings import AuthSettings
from geo.access import ANONYMOUS, Forbidden, Principal, Unauthenticated
from geo.store import users

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 (a path, not a password)
ALGORITHM = "HS256"
SESSION_COOKIE = "riskmap_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL, auto_error=False, description="sign in with a username and password"
)
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key (`riskmap users key`)"
)
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="the browser session, set by signing in at /login; writes signed in by it alone need the "
    "session's CSRF token in the X-CSRF-Token header (GET /api/v1/auth/session)",
)


class SessionEnded(Unauthenticated):
    """The request's session cookie names no live session: signed out, expired, or its user deactivated."""


def csrf_token(key: str, session: str) -> str:
    """The CSRF token of a session: an HMAC of the cookie's value under the signing key (a synchronizer
    token kept nowhere: it is valid exactly as long as its session, and tells nothing about the cookie)."""
    return hmac.new(key.encode(), b"riskmap-csrf\x00" + session.encode(), hashlib.sha256).hexdigest()


def csrf_matches(key: str, session: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(key, session), given.strip())


def _signing_key(request: Request) -> str:
    key: str = request.app.state.signing_key
    return key


def mint_token(principal: Principal, key: str, minutes: int) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": principal.username,
        "role": str(principal.role),
        "iat": now,
        "exp": now + dt.timedelta(minutes=minutes),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


Connect = Callable[[], AbstractContextManager[Connection]]


def _from_token(connect: Connect, token: str, key: str) -> Principal:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the access token has expired: sign in again") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the access token is not valid") from None
    with connect() as conn:
        principal = users.principal_of(conn, str(claims["sub"]))
    if principal is None:
        raise Unauthenticated("the user of this token is unknown or deactivated")
    return principal


def principal_for_session(engine: Engine, session: str) -> Principal:
    """The principal of a live session cookie, else `SessionEnded` (401)."""
    return _from_session(engine.connect, session)


def _from_session(connect: Connect, session: str) -> Principal:
    with connect() as conn:
        principal = users.principal_for_session(conn, session)
    if principal is None:
        raise SessionEnded("the session has ended (signed out, expired or deactivated): sign in again")
    return principal


@dataclass(frozen=True)
class Credentials:
    """What the request presents: a bearer token, an API key, a session cookie (each may be absent)."""

    token: str | None
    api_key: str | None
    session: str | None


async def credentials(
    token: Annotated[str | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
    session: Annotated[str | None, Depends(session_cookie)],
) -> Credentials:
    """The request's credentials, unchecked (async: no database, so no hop to the thread pool)."""
    return Credentials(token, api_key, session)


CredentialsDep = Annotated[Credentials, Depends(credentials)]


def _principal(request: Request, connect: Connect, given: Credentials) -> Principal:
    if given.token:
        return _from_token(connect, given.token, _signing_key(request))
    if given.api_key:
        with connect() as conn:
            principal = users.principal_for_key(conn, given.api_key)
        if principal is None:
            raise Unauthenticated("unknown or revoked API key")
        return principal
    if given.session:
        principal = _from_session(connect, given.session)
        if request.method not in SAFE_METHODS and not csrf_matches(
            _signing_key(request), given.session, request.headers.get(CSRF_HEADER)
        ):
            raise Forbidden(
                f"a write signed in by the session cookie needs the session's CSRF token in the {CSRF_HEADER} "
                "header (GET /api/v1/auth/session); 缺少或错误的 CSRF 令牌"
            )
        return principal
    return ANONYMOUS


def current_principal(
    request: Request,
    engine: EngineDep,
    token: Annotated[str | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
    session: Annotated[str | None, Depends(session_cookie)],
) -> Principal:
    """Who is calling (the anonymous public without credentials); kept on the request for the access log."""
    principal = _principal(request, engine.connect, Credentials(token, api_key, session))
    request.state.principal = principal
    return principal


def principal_on(conn: Connection, request: Request, given: Credentials) -> Principal:
    """`current_principal` on a connection the caller holds, for a route that does all its work on one
    connection (the vector tiles: one checkout a request instead of two). The same checks, on every
    request (nothing cached); an override of `current_principal` (tests) is used as it is."""
    override = request.app.dependency_overrides.get(current_principal)
    if override is not None:
        principal: Principal = override()
    else:
        principal = _principal(request, lambda: nullcontext(conn), given)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def login_limiter(
    settings: AuthSettings, engine: Callable[[], Engine] | None = None
) -> LoginLimiter | SharedLoginLimiter:
    """The app's counter of failed sign-ins: in the database of `engine` (shared by every worker and kept
    across restarts), or in this process's memory without one."""
    if engine is not None:
        return SharedLoginLimiter(
            engine,
            max_failures=settings.login_max_failures,
            max_failures_per_address=settings.login_max_failures_per_address,
            window_seconds=settings.login_window_minutes * 60,
        )
    return LoginLimiter(
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        window_seconds=settings.login_window_minutes * 60,
    )


def sign_in(request: Request, engine: Engine, username: str, password: str) -> Principal:
    """The principal of a username and password, counted by the app's `LoginLimiter`: `RateLimited` (429)
    past the limits, the password unchecked; `Unauthenticated` (401) when wrong. The token route and the
    browser's sign-in page (/login) both sign in here, so the limits hold across them."""
    limiter: LoginLimiter | SharedLoginLimiter = request.app.state.login_limiter
    attempt = limiter.begin(username, request.client.host if request.client else None)
    try:
        with engine.begin() as conn:
            principal = users.authenticate(conn, username, password)
    except BaseException:
        limiter.cancel(attempt)  # the database failed, not the password: this attempt does not count
        raise
    if principal is None:
        raise Unauthenticated("wrong username or password")
    limiter.succeeded(attempt)
    return principal


@router.post(
    "/token",
    summary="Sign in: a bearer access token for a username and password (OAuth2 password flow)",
    response_model=schemas.Token,
    responses={
        401: {"description": "wrong username or password"},
        429: {
            "description": "too many failed sign-ins for this username from this address, or from this "
            "address; "
            "`Retry-After` says in how many seconds to try again"
        },
    },
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, engine: EngineDep
) -> dict[str, Any]:
    """The `/docs` page's Authorize button uses this. Tokens last `RISKMAP_AUTH_TOKEN_MINUTES` (60).

    After `RISKMAP_AUTH_LOGIN_MAX_FAILURES` (5) failed sign-ins of a username from one client address, or
    `RISKMAP_AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS` (20) from one address, within
    `RISKMAP_AUTH_LOGIN_WINDOW_MINUTES` (15), the answer is 429 with `Retry-After`, whatever the password;
    a successful sign-in clears that username's count from that address. The address is the TCP peer, or
    the `X-Forwarded-For` of a proxy named in `FORWARDED_ALLOW_IPS` (none by default)."""
    principal = sign_in(request, engine, form.username, form.password)
    minutes = request.app.state.settings.auth.token_minutes
    return {
        "access_token": mint_token(principal, _signing_key(request), minutes),
        "token_type": "bearer",
        "expires_in": minutes * 60,
    }


@router.get(
    "/me", summary="Who the request's credentials make you: role and scope", response_model=schemas.Me
)
def me(principal: PrincipalDep) -> dict[str, Any]:
    return {
        "username": principal.username,
        "role": str(principal.role),
        "adcodes": list(principal.adcodes),
        "enterprise_id": principal.enterprise_id,
    }


@router.get(
    "/session",
    summary="The browser session of the request's cookie: who, and its CSRF token",
    response_model=schemas.SessionInfo,
    responses={401: {"description": "no session cookie, or the session has ended"}},
)
def session_info(
    request: Request, engine: EngineDep, session: Annotated[str | None, Depends(session_cookie)]
) -> dict[str, Any]:
    """For scripts of our own pages: the `csrf_token` goes into the `X-CSRF-Token` header of every write
    signed in by the cookie. Same-origin only: no CORS header lets another site read it."""
    if not session:
        raise Unauthenticated("no browser session: sign in at /login")
    principal = principal_for_session(engine, session)
    return {
        "username": principal.username,
        "role": str(principal.role),
        "csrf_token": csrf_token(_signing_key(request), session),
        "csrf_header": CSRF_HEADER,
    }
