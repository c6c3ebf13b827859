"""Acceptance: the browser workspace's sign-in in headless Chromium, every request outside the server blocked.

Sign in through the form → the home page (name, role, the maps of the jurisdiction) → an internal map with
the session cookie → sign out → the map sends the browser to sign in again. /docs and /redoc render their
UIs from assets this server serves, with no request leaving it. Our pages are served under a
Content-Security-Policy allowing only scripts from this server (no inline script or event handler: stricter
than production's, which also lets through inline scripts with the response's nonce); the folium maps, which
are inline scripts, are left to the production middleware's nonces.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.app import create_app
from api.auth import SESSION_COOKIE
from api.settings import AuthSettings, DatabaseSettings, Settings
from geo.access import SYSTEM
from geo.store import users
from tests.maps.browser import Browser, BrowserError, PageReport, _Session, require_chromium, serve_app
from tests.maps.frames import ARTIFACTS
from tests.principals import TEST_SECRET

pytestmark = pytest.mark.browser

# The screenshots go to artifacts/; with RISKMAP_UPDATE_SCREENSHOTS=1 to docs/screenshots/ (the README's).
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("RISKMAP_UPDATE_SCREENSHOTS") == "1"
    else ARTIFACTS / "pages"
)
PASSWORD = "a long enough password"
USERNAME = "reg-quangang"
MAP = "/maps/safety-distance?adcode=350505"
# script-src without 'unsafe-inline': our pages may have no inline script and no inline event handler.
# img-src data: because Swagger UI and Redoc draw their icons as data: SVGs (never a request off the server).
CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"


class ContentSecurityPolicy:
    """Adds the CSP header to every response but the maps' and the one map's (folium pages: the production
    middleware adds nonces to their inline scripts; our other pages need none)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["path"].startswith("/maps/") or scope["path"] == "/map"):
            await self.app(scope, receive, send)
            return

        async def with_csp(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"content-security-policy", CSP.encode())]
            await send(message)

        await self.app(scope, receive, with_csp)


class Tab:
    """One tab driven step by step (tests/maps/browser.py's `open` loads one page per tab): navigate, run a
    script that submits a form, wait for the next page; the cookies stay in the browser between steps."""

    def __init__(self, browser: Browser) -> None:
        import websocket

        self.browser = browser
        self.target = json.loads(browser._devtools("/json/new?about:blank", method="PUT"))
        ws = websocket.create_connection(
            self.target["webSocketDebuggerUrl"], timeout=20, suppress_origin=True
        )
        self.session = _Session(ws, PageReport(url="about:blank"))
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.session.call(f"{domain}.enable")
        self.session.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        width, height = browser.window
        self.session.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    @property
    def report(self) -> PageReport:
        return self.session.report

    def close(self) -> None:
        self.session.ws.close()
        self.browser._devtools(f"/json/close/{self.target['id']}")

    def _settle(self, wait_for: str | None, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.session._loaded and time.monotonic() < deadline:
            self.session.pump(0.1)
        if not self.session._loaded:
            raise BrowserError("the page did not load")
        while wait_for and not self.session.evaluate(f"Boolean({wait_for})"):
            if time.monotonic() > deadline:
                raise BrowserError(f"{wait_for} did not become true")
            self.session.pump(0.1)
        while self.session._pending and time.monotonic() < deadline:
            self.session.pump(0.05)
        self.session.pump(0.3)

    def goto(self, url: str, wait_for: str | None = None) -> str:
        """Load url (following redirects); the URL the tab ends on."""
        self.session._loaded = False
        self.session.call("Page.navigate", {"url": url})
        self._settle(wait_for)
        return self.location()

    def submit(self, script: str, wait_for: str | None = None) -> str:
        """Run a script that submits a form; the URL of the page it led to."""
        self.session._loaded = False
        self.session.evaluate(script)
        self._settle(wait_for)
        return self.location()

    def location(self) -> str:
        return str(self.session.evaluate("window.location.href"))

    def value(self, expression: str) -> Any:
        return self.session.evaluate(expression)

    def screenshot(self, path: Path) -> None:
        import base64

        shot = self.session.call("Page.captureScreenshot", {"format": "png"})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module")
def base_url(database_url: str, engine: Engine, boundaries: None) -> Iterator[str]:
    with engine.begin() as conn:
        users.remove_user(conn, SYSTEM, USERNAME)
        users.create_user(conn, SYSTEM, USERNAME, PASSWORD, "regulator", adcodes=["350505"])
    settings = Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret=TEST_SECRET))
    app = create_app(settings)
    app.state.engine = engine  # serve_app runs the app without the lifespan that would make one
    with serve_app(ContentSecurityPolicy(app)) as url:
        yield url
    with engine.begin() as conn:
        users.remove_user(conn, SYSTEM, USERNAME)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(window=(1280, 800)) as b:
        yield b


def _fill_and_submit(username: str, password: str) -> str:
    return f"""(() => {{
        document.getElementById("rm-username").value = {json.dumps(username)};
        document.getElementById("rm-password").value = {json.dumps(password)};
        document.getElementById("rm-submit").click();
        return true;
    }})()"""


def _assert_stayed_home(report: PageReport, base_url: str, *, expected: str | None = None) -> None:
    """Nothing asked of another host, nothing failed, no error in the console (but an `expected` one)."""
    assert report.external_requests == [], report.external_requests
    assert report.blocked == []
    assert all(url.startswith((base_url, "data:", "blob:")) for url in report.requests), report.requests
    errors = [e for e in report.console_errors if not (expected and expected in e)]
    assert errors == [], errors


def test_sign_in_open_a_map_sign_out_and_the_map_is_gone(base_url: str, browser: Browser) -> None:
    tab = Tab(browser)
    try:
        # Not signed in: the internal map sends the browser to sign in, to come back afterwards.
        at = urlsplit(tab.goto(base_url + MAP))
        assert at.path == "/login"
        assert parse_qs(at.query)["next"] == [MAP]
        assert "请先登录" in tab.value("document.getElementById('rm-notice').innerText")

        # Sign in from the sign-in page itself: the home page.
        assert urlsplit(tab.goto(base_url + "/login")).path == "/login"
        tab.screenshot(SCREENSHOTS / "login.png")
        assert (SCREENSHOTS / "login.png").stat().st_size > 10_000
        wrong = tab.submit(_fill_and_submit(USERNAME, "not the password"))
        assert urlsplit(wrong).path == "/login"
        assert "用户名或密码错误" in tab.value("document.getElementById('rm-error').innerText")
        landing = tab.submit(
            _fill_and_submit(USERNAME, PASSWORD), wait_for="document.getElementById('rm-user')"
        )
        assert urlsplit(landing).path == "/map"  # the one map is the landing page
        home = tab.goto(base_url + "/home", wait_for="document.getElementById('rm-role')")
        assert urlsplit(home).path == "/home"
        assert tab.value("document.getElementById('rm-user').innerText") == USERNAME
        assert tab.value("document.getElementById('rm-role').innerText") == "监管部门"
        assert "泉港区" in tab.value("document.getElementById('rm-areas').innerText")
        assert tab.value("document.cookie") == ""  # HttpOnly: no script of the page can read the session
        tab.screenshot(SCREENSHOTS / "home.png")
        assert (SCREENSHOTS / "home.png").stat().st_size > 10_000

        # The map, with the cookie: the nav bar's link to the jurisdiction's safety distances.
        link = tab.value("document.querySelector('.rm-nav a[href^=\"/maps/safety-distance\"]').href")
        assert link == base_url + MAP
        shown = tab.goto(link, wait_for="window.L && document.querySelector('.leaflet-pane')")
        assert urlsplit(shown).path == "/maps/safety-distance"
        assert tab.value("typeof L.version") == "string"

        # Sign out from the home page: the clear page, and the map is gone.
        tab.goto(base_url + "/home", wait_for="document.getElementById('rm-logout')")
        out = tab.submit("document.getElementById('rm-logout').click(), true")
        assert urlsplit(out).path == "/login"
        assert "您已安全退出" in tab.value("document.getElementById('rm-notice').innerText")
        again = urlsplit(tab.goto(base_url + MAP))
        assert again.path == "/login"
        assert parse_qs(again.query)["next"] == [MAP]
        assert tab.value("document.querySelector('.leaflet-pane')") is None
        wrong_password = f"status of 401 (Unauthorized) {base_url}/login"
        _assert_stayed_home(tab.report, base_url, expected=wrong_password)
        assert [url for url, _ in tab.report.failed] == [f"{base_url}/login"]
    finally:
        tab.close()


@pytest.mark.parametrize(
    ("path", "ready", "expect"),
    [
        ("/docs", "document.querySelectorAll('.swagger-ui .opblock').length > 10", "/api/v1/auth/token"),
        ("/redoc", "document.querySelectorAll('redoc h2, .api-content h2').length > 5", "riskmap"),
    ],
)
def test_api_docs_render_offline(base_url: str, browser: Browser, path: str, ready: str, expect: str) -> None:
    report = browser.open(
        base_url + path, wait_for=ready, evaluate="document.body.innerText", timeout=60, settle=0.5
    )
    assert report.ready, (report.console_errors, report.failed)
    assert expect in report.value
    assert report.requests
    assert any("/static/vendor/" in url for url in report.requests)
    assert any(url.endswith("/openapi.json") for url in report.requests)
    assert report.failed == []
    _assert_stayed_home(report, base_url)


def test_a_signed_in_docs_page_carries_the_csrf_token(base_url: str, browser: Browser) -> None:
    """Swagger UI's "Try it out" sends X-CSRF-Token for a browser signed in by the cookie."""
    tab = Tab(browser)
    try:
        tab.goto(base_url + "/login")
        tab.submit(_fill_and_submit(USERNAME, PASSWORD), wait_for="document.getElementById('rm-user')")
        tab.goto(base_url + "/docs", wait_for="window.ui && document.querySelector('.swagger-ui .opblock')")
        token = tab.value("document.querySelector('meta[name=\"csrf-token\"]').content")
        session = tab.value("fetch('/api/v1/auth/session').then(r => r.json())")
        assert session["username"] == USERNAME
        assert token == session["csrf_token"]
        # Swagger UI's request interceptor adds it (here to a read, as Try it out would to a write).
        sent = tab.value(
            "window.ui.getConfigs().requestInterceptor({headers: {}, url: '/api/v1/auth/me'}).headers"
        )
        assert sent == {"X-CSRF-Token": token}
        # A script of the page can use the session (same origin) but never read the HttpOnly cookie.
        assert SESSION_COOKIE not in tab.value("document.cookie")
        tab.goto(base_url + "/home", wait_for="document.getElementById('rm-logout')")
        assert urlsplit(tab.submit("document.getElementById('rm-logout').click(), true")).path == "/login"
    finally:
        tab.close()
