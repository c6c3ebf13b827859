"""The API's documentation pages, offline: Swagger UI (/docs) and Redoc (/redoc) from the npm packages
swagger-ui-dist and redoc, served by `maps.assets.mount` under the vendor prefix like Leaflet. FastAPI's own
pages would load them from a CDN (and Google's fonts); these load nothing from outside the server.

Swagger UI is started by /static/app/swagger-init.js (no inline script); for a visitor signed in with the
session cookie the page carries the session's CSRF token in a meta tag, which the script adds as
`X-CSRF-Token` to the requests of "Try it out", so writes work with the cookie as with a token.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auth import SESSION_COOKIE, csrf_token
from api.pages import STATIC_PREFIX, templates

router = APIRouter(include_in_schema=False)

DOCS = "/docs"
REDOC = "/redoc"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def _context(request: Request) -> dict[str, object]:
    session = request.cookies.get(SESSION_COOKIE)
    key: str = request.app.state.signing_key
    prefix = request.app.state.settings.maps.asset_prefix.strip("/")
    return {
        "static": STATIC_PREFIX,
        "vendor": f"/{prefix}" if prefix else "",
        "openapi_url": request.app.openapi_url,
        "oauth2_redirect_url": OAUTH2_REDIRECT,
        "title": request.app.title,
        "csrf": csrf_token(key, session) if session else None,
    }


def _page(request: Request, name: str) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, _context(request))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get(DOCS, response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    return _page(request, "swagger.html")


@router.get(OAUTH2_REDIRECT, response_class=HTMLResponse)
def swagger_ui_oauth2_redirect(request: Request) -> HTMLResponse:
    return _page(request, "oauth2_redirect.html")


@router.get(REDOC, response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    return _page(request, "redoc.html")
