"""Signing in and out in the browser, and the signed-in home page.

`POST /login` checks the username and password exactly as `POST /api/v1/auth/token` does (`api.auth.sign_in`:
the same rate limits) and makes a server-side session (`geo.store.users.create_session`): the cookie
`riskmap_session` (HttpOnly, SameSite=Lax, Secure over HTTPS, as long as an access token) holds a random
value of which the database keeps only the SHA-256. `POST /logout` deletes the session, so a copied cookie
stops working. Both forms carry a CSRF token: the sign-in form a random one doubled in a SameSite=Strict
cookie (no other site can sign a browser in to an account of its choosing), the sign-out form the session's
(`api.auth.csrf_token`).
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import (
    SESSION_COOKIE,
    PrincipalDep,
    csrf_matches,
    csrf_token,
    principal_for_session,
    sign_in,
)
from api.deps import EngineDep
from api.pages import HOME, LOGIN, STATIC_PREFIX, login_url, templates
from geo.access import Principal, Role, Unauthenticated
from geo.errors import RateLimited
from geo.store import users

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "riskmap_login_csrf"
_LOGIN_CSRF = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_NEXT = 2000

ROLE_ZH = {Role.admin: "系统管理员", Role.regulator: "监管部门", Role.enterprise: "企业用户"}

# Fixed notices of the sign-in page, by `reason`: no text of the request is ever shown.
REASONS = {
    "signed-out": ("您已安全退出。", "You have signed out."),
    "ended": (
        "登录已结束（已退出、已过期或账号已停用），请重新登录。",
        "Your session has ended (signed out, expired or deactivated): please sign in again.",
    ),
}


def safe_next(value: str | None) -> str:
    """A same-site path to go to after signing in, else the home page: only an absolute path of this site
    ('/…', not '//host' nor '/\\host'), no scheme, host or control character; never the sign-in pages."""
    if not value or len(value) > MAX_NEXT or not value.startswith("/") or value.startswith("//"):
        return HOME
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in (LOGIN, "/logout"):
        return HOME
    return value


def _secure(request: Request) -> bool:
    configured: bool | None = request.app.state.settings.auth.cookie_secure
    return configured if configured is not None else request.url.scheme == "https"


def _key(request: Request) -> str:
    key: str = request.app.state.signing_key
    return key


def _session_csrf(request: Request) -> str | None:
    """The CSRF token of the request's session cookie, for a form or meta tag (None without a cookie)."""
    session = request.cookies.get(SESSION_COOKIE)
    return csrf_token(_key(request), session) if session else None


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    context = {"static": STATIC_PREFIX, "csrf": _session_csrf(request), **context}
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # pages with a user's name or a token are not cached
    return response


def message_page(
    request: Request, *, status_code: int, heading: str, heading_en: str, detail: str | None = None
) -> HTMLResponse:
    return _page(
        request,
        "message.html",
        {"heading": heading, "heading_en": heading_en, "detail": detail},
        status_code=status_code,
    )


def _login_form(
    request: Request,
    *,
    next_url: str | None,
    status_code: int = 200,
    error: tuple[str, str] | None = None,
    notice: tuple[str, str] | None = None,
    username: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not _LOGIN_CSRF.match(token):
        token = secrets.token_urlsafe(32)
    response = _page(
        request,
        "login.html",
        {
            "login_csrf": token,
            "next": safe_next(next_url) if next_url else "",
            "error": error,
            "notice": notice,
            "username": username,
            "csrf": None,
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=LOGIN,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@router.get(LOGIN, response_class=HTMLResponse)
def login_page(
    request: Request, engine: EngineDep, next: str | None = None, reason: str | None = None
) -> Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        try:
            principal_for_session(engine, session)
        except Unauthenticated:
            reason = reason or "ended"
        else:  # signed in already
            return RedirectResponse(safe_next(next), status_code=303)
    notice = REASONS.get(reason or "")
    if notice is None and next:
        notice = ("请先登录。", "Please sign in to see this page.")
    response = _login_form(request, next_url=next, notice=notice)
    if session:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post(LOGIN, response_class=HTMLResponse)
def login(
    request: Request,
    engine: EngineDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=MAX_NEXT)] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (cookie and csrf_token and secrets.compare_digest(cookie, csrf_token)):
        # Another site's form, or this one's after its cookie expired: sign nobody in.
        return _login_form(
            request,
            next_url=next,
            status_code=403,
            error=(
                "登录表单已过期或来自其他网站，请重新输入。",
                "This sign-in form expired or came from another site: please sign in again.",
            ),
        )
    if not username or not password:
        return _login_form(
            request,
            next_url=next,
            status_code=422,
            error=("请输入用户名和密码。", "Enter your username and password."),
            username=username,
        )
    try:
        principal = sign_in(request, engine, username, password)
    except RateLimited as exc:
        return _login_form(
            request,
            next_url=next,
            status_code=429,
            error=("登录失败次数过多，请稍后再试。", exc.message),
            username=username,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except Unauthenticated:
        return _login_form(
            request,
            next_url=next,
            status_code=401,
            error=("用户名或密码错误。", "Wrong username or password."),
            username=username,
        )
    minutes: int = request.app.state.settings.auth.token_minutes
    with engine.begin() as conn:
        previous = request.cookies.get(SESSION_COOKIE)
        if previous:  # this browser's earlier session ends: one browser, one session
            users.end_session(conn, previous)
        session = users.create_session(conn, principal, minutes)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=minutes * 60,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN)
    return response


@router.post("/logout")
def logout(
    request: Request, engine: EngineDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        if not csrf_matches(_key(request), session, csrf_token):
            return message_page(
                request,
                status_code=403,
                heading="退出请求无效",
                heading_en="This sign-out request did not come from our page (CSRF token missing or wrong)",
            )
        with engine.begin() as conn:
            users.end_session(conn, session)
    response = RedirectResponse(login_url(reason="signed-out"), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _links(principal: Principal, areas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per area, the map pages the role may open. The four-colour map is drawn by child units where they
    are loaded, else over a 1 km grid (a county's townships often are not)."""
    out = []
    for area in areas:
        adcode = area["adcode"]
        zones = "" if area["has_children"] else "&zones=grid&cell_m=1000"
        four_colour = f"/maps/four-color?adcode={adcode}{zones}"
        if principal.role is Role.enterprise:
            maps = [("四色图（公开版）", "Four-colour map (public)", f"{four_colour}&public=true")]
        else:
            maps = [
                ("四色图", "Four-colour map", four_colour),
                ("安全距离", "Safety distances", f"/maps/safety-distance?adcode={adcode}"),
                ("联防联控", "Joint prevention", f"/maps/joint-prevention?adcode={adcode}"),
            ]
        out.append({"adcode": adcode, "name": area["name"], "maps": maps})
    return out


@router.get(HOME, response_class=HTMLResponse)
def home(request: Request, engine: EngineDep, principal: PrincipalDep) -> Response:
    if principal.is_public:
        raise Unauthenticated("sign in to see your workspace")
    with engine.connect() as conn:
        space = users.workspace(conn, principal)
    areas = _links(principal, space["areas"])
    return _page(
        request,
        "home.html",
        {
            "user": principal.username,
            "role": str(principal.role),
            "role_zh": ROLE_ZH.get(principal.role, str(principal.role)),
            "enterprise": space["enterprise"],
            "areas": areas,
            "nav": areas[0]["maps"] if areas else [],
        },
    )
