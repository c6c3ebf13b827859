"""The browser's pages: sign-in (/login), sign-out (/logout), the signed-in home page (/home) and the API's
documentation (/docs, /redoc), whose Swagger UI and Redoc come from our own server like Leaflet.

Server-rendered with Jinja2 (autoescaped), Chinese first. No page has an inline script or event handler:
scripts are files under /static/app, so the pages work under a Content-Security-Policy of
`script-src 'self'` (with or without nonces). A browser asking for a page it must sign in for (GET, Accept
text/html, not under /api/) is sent to /login with the page as `next`; the API keeps its 401 JSON.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.auth import SESSION_COOKIE, SessionEnded
from geo.access import Forbidden, Unauthenticated
from geo.errors import RiskmapError

HERE = Path(__file__).resolve().parent
STATIC_PREFIX = "/static/app"
LOGIN = "/login"
HOME = "/home"
LANDING = "/map"  # where a browser lands after signing in: the one map (风险一张图)

templates = Jinja2Templates(directory=HERE / "templates")


def wants_page(request: Request) -> bool:
    """A browser navigating to a page (not a script calling the API): GET or HEAD, HTML accepted, and a
    path outside /api/."""
    return (
        request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
        and not request.url.path.startswith("/api/")
    )


def login_url(next_url: str | None = None, reason: str | None = None) -> str:
    query = {k: v for k, v in (("next", next_url), ("reason", reason)) if v}
    return f"{LOGIN}?{urlencode(query, quote_via=quote)}" if query else LOGIN


def _here(request: Request) -> str:
    """The request's own path and query: where to come back to after signing in."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def install(app: FastAPI) -> None:
    """Add the pages' routes, their static files, and the browser's view of 401 and 403 (after
    `api.errors.install`, whose JSON answers every other caller)."""
    from api.pages import docs, one_map, signin, work

    handler = app.exception_handlers[RiskmapError]

    async def json_error(request: Request, exc: Exception) -> Response:
        result: Any = handler(request, exc)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, Response)
        return result

    async def unauthenticated(request: Request, exc: Exception) -> Response:
        ended = isinstance(exc, SessionEnded)
        response: Response
        if wants_page(request):
            reason = "ended" if ended else None
            response = RedirectResponse(login_url(_here(request), reason), status_code=303)
        else:
            response = await json_error(request, exc)
        if ended:  # the browser forgets the dead cookie
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def forbidden(request: Request, exc: Exception) -> Response:
        if not wants_page(request):
            return await json_error(request, exc)
        assert isinstance(exc, Forbidden)
        return signin.message_page(
            request,
            status_code=403,
            heading="无权访问此页面",
            heading_en="You may not see this page",
            detail=exc.message,
        )

    app.add_exception_handler(Unauthenticated, unauthenticated)
    app.add_exception_handler(Forbidden, forbidden)
    app.include_router(signin.router)
    app.include_router(docs.router)
    app.include_router(one_map.router)
    app.include_router(work.router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=HERE / "static"), name="app-static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        """Browsers ask for it on pages that name no icon (the maps)."""
        return RedirectResponse(f"{STATIC_PREFIX}/favicon.svg", status_code=301)
