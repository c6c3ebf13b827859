"""Who is calling: the request's principal, from a bearer token (OAuth2 password flow, JWT HS256) or an
API key (header X-API-Key).

Contract every router relies on: `current_principal` (a FastAPI dependency) and `PrincipalDep`. No
credentials at all make the anonymous public (`ANONYMOUS`); a bad or expired token, or an unknown key, is a
401 with `WWW-Authenticate`. A token names the user; role and scope are read from the users table on each
request, so a deactivated user or a changed scope takes effect at once; likewise a key is looked up (with
its `active` flag and its user's) on every request, so a revoked key is refused at once.

Sign-in is rate limited (`api/login_limit.py`): past too many failures for a username from one client
address, or from one address whatever the username, within the window, `POST /api/v1/auth/token` is 429
with `Retry-After`, the password unchecked (never per username alone: a stranger must not lock a user out).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer, OAuth2PasswordRequestForm
from sqlalchemy import Engine

from api.deps import EngineDep
from api.login_limit import LoginLimiter
from api.settings import AuthSettings
from geo.access import ANONYMOUS, Principal, Unauthenticated
from geo.store import users

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 (a path, not a password)
ALGORITHM = "HS256"

bearer = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL, auto_error=False, description="sign in with a username and password"
)
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key (`riskmap users key`)"
)


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


def _from_token(engine: Engine, token: str, key: str) -> Principal:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the access token has expired: sign in again") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the access token is not valid") from None
    with engine.connect() as conn:
        principal = users.principal_of(conn, str(claims["sub"]))
    if principal is None:
        raise Unauthenticated("the user of this token is unknown or deactivated")
    return principal


def current_principal(
    request: Request,
    engine: EngineDep,
    token: Annotated[str | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    if token:
        return _from_token(engine, token, _signing_key(request))
    if api_key:
        with engine.connect() as conn:
            principal = users.principal_for_key(conn, api_key)
        if principal is None:
            raise Unauthenticated("unknown or revoked API key")
        return principal
    return ANONYMOUS


PrincipalDep = Annotated[Principal, Depends(current_principal)]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def login_limiter(settings: AuthSettings) -> LoginLimiter:
    """The app's counter of failed sign-ins (one per app, so per process)."""
    return LoginLimiter(
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        window_seconds=settings.login_window_minutes * 60,
    )


@router.post(
    "/token",
    summary="Sign in: a bearer access token for a username and password (OAuth2 password flow)",
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
    limiter: LoginLimiter = request.app.state.login_limiter
    attempt = limiter.begin(form.username, request.client.host if request.client else None)
    try:
        with engine.begin() as conn:
            principal = users.authenticate(conn, form.username, form.password)
    except BaseException:
        limiter.cancel(attempt)  # the database failed, not the password: this attempt does not count
        raise
    if principal is None:
        raise Unauthenticated("wrong username or password")
    limiter.succeeded(attempt)
    minutes = request.app.state.settings.auth.token_minutes
    return {
        "access_token": mint_token(principal, _signing_key(request), minutes),
        "token_type": "bearer",
        "expires_in": minutes * 60,
    }


@router.get("/me", summary="Who the request's credentials make you: role and scope")
def me(principal: PrincipalDep) -> dict[str, Any]:
    return {
        "username": principal.username,
        "role": str(principal.role),
        "adcodes": list(principal.adcodes),
        "enterprise_id": principal.enterprise_id,
    }
