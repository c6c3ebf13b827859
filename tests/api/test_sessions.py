"""Signing in in the browser: the session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS, a token's
lifetime), signing out and deactivation ending it on the server, CSRF tokens on cookie writes and on the
sign-in and sign-out forms, the rate limits shared with the token route, and a browser sent to /login
(only to a same-site `next`) instead of a 401."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.auth import CSRF_HEADER, SESSION_COOKIE
from api.pages.signin import LOGIN_CSRF_COOKIE, safe_next
from geo.access import SYSTEM
from geo.store import users
from tests.api.builders import ENTERPRISES, QUANGANG, created, enterprise_feature, ok

PASSWORD = "a long enough password"
ME = "/api/v1/auth/me"
SESSION = "/api/v1/auth/session"
TOKEN = "/api/v1/auth/token"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _add(engine: Engine, username: str, role: str = "admin", **scope: Any) -> None:
    with engine.begin() as conn:
        users.create_user(conn, SYSTEM, username, PASSWORD, role, **scope)


def _browser(client: Any, *, https: bool = False) -> TestClient:
    """A client of the app with no credentials but the cookies it is given, as a browser."""
    return TestClient(client.app, base_url="https://testserver" if https else "http://testserver")


def _form_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _sign_in(browser: TestClient, username: str, password: str = PASSWORD, **extra: str) -> Any:
    page = browser.get("/login", headers=HTML)
    assert page.status_code == 200
    data = {"username": username, "password": password, "csrf_token": _form_token(page.text), **extra}
    return browser.post("/login", data=data, follow_redirects=False)


def _signed_in(client: Any, engine: Engine, username: str, role: str = "admin", **scope: Any) -> TestClient:
    _add(engine, username, role, **scope)
    browser = _browser(client)
    response = _sign_in(browser, username)
    assert response.status_code == 303, response.text
    return browser


def _csrf(browser: TestClient) -> str:
    token: str = ok(browser.get(SESSION))["csrf_token"]
    return token


def _sessions(engine: Engine, username: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT s.token_hash, s.created_at, s.expires_at FROM sessions s "
                    "JOIN users u ON u.id = s.user_id WHERE u.username = :u"
                ),
                {"u": username},
            )
        )


def _enterprise_count(client: Any) -> int:
    return int(ok(client.get(ENTERPRISES, params={"limit": 1}))["numberMatched"])


# --- signing in ---------------------------------------------------------------------------------------------


def test_sign_in_sets_an_httponly_lax_session_cookie_that_signs_in_pages_and_api(
    client: Any, engine: Engine
) -> None:
    _add(engine, "reg-ann", "regulator", adcodes=["350505"])
    browser = _browser(client)
    page = browser.get("/login", headers=HTML)
    assert "用户名" in page.text
    assert "密码" in page.text
    assert page.headers["cache-control"] == "no-store"
    response = _sign_in(browser, "reg-ann")
    assert response.status_code == 303
    assert response.headers["location"] == "/home"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "max-age=3600" in cookie.lower()  # RISKMAP_AUTH_TOKEN_MINUTES, as a token
    assert "secure" not in attributes  # plain http (a test server): a Secure cookie would never come back
    # Only the SHA-256 of the cookie is stored; it lasts as long as a token.
    value = browser.cookies[SESSION_COOKIE]
    [(token_hash, made, expires)] = _sessions(engine, "reg-ann")
    assert token_hash == users.hash_api_key(value) != value
    assert (expires - made).total_seconds() == pytest.approx(3600, abs=2)

    assert ok(browser.get(ME)) == {
        "username": "reg-ann",
        "role": "regulator",
        "adcodes": ["350505"],
        "enterprise_id": None,
    }
    home = browser.get("/home", headers=HTML)
    assert home.status_code == 200
    assert 'id="rm-user">reg-ann<' in home.text
    assert "监管部门" in home.text
    assert "泉港区" in home.text
    assert 'href="/maps/four-color?adcode=350505&amp;zones=grid&amp;cell_m=1000"' in home.text
    assert 'href="/maps/safety-distance?adcode=350505"' in home.text
    assert 'href="/maps/joint-prevention?adcode=350505"' in home.text
    assert 'action="/logout"' in home.text
    assert _form_token(home.text) == _csrf(browser)  # the sign-out form carries the session's CSRF token
    # Signed in already: the sign-in page goes on to where it was asked to.
    again = browser.get("/login", params={"next": "/docs"}, headers=HTML, follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/docs")


def test_signing_in_again_ends_the_browsers_earlier_session(client: Any, engine: Engine) -> None:
    browser = _signed_in(client, engine, "abe")
    first = browser.cookies[SESSION_COOKIE]
    page = browser.get("/login", params={"reason": "x"}, headers=HTML, follow_redirects=False)
    assert page.status_code == 303  # signed in already
    token = "z" * 43
    browser.cookies.set(LOGIN_CSRF_COOKIE, token, path="/login")
    data = {"username": "abe", "password": PASSWORD, "csrf_token": token}
    assert browser.post("/login", data=data, follow_redirects=False).status_code == 303
    assert browser.cookies[SESSION_COOKIE] != first
    assert len(_sessions(engine, "abe")) == 1
    stale = _browser(client)
    stale.cookies.set(SESSION_COOKIE, first)
    assert stale.get(ME).status_code == 401


def test_the_cookie_is_secure_behind_https(client: Any, engine: Engine) -> None:
    _add(engine, "https-bea")
    browser = _browser(client, https=True)
    response = _sign_in(browser, "https-bea")
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    assert "secure" in {a.strip().lower() for a in cookie.split(";")}
    [login_cookie] = _browser(client, https=True).get("/login").headers.get_list("set-cookie")
    assert login_cookie.startswith(f"{LOGIN_CSRF_COOKIE}=")
    assert {"secure", "httponly", "samesite=strict", "path=/login"} <= {
        a.strip().lower() for a in login_cookie.split(";")
    }


def test_wrong_password_shows_the_form_again_and_sets_no_session(client: Any, engine: Engine) -> None:
    _add(engine, "cat")
    browser = _browser(client)
    response = _sign_in(browser, "cat", "not the password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert 'value="cat"' in response.text  # the username stays, the password not
    assert SESSION_COOKIE not in browser.cookies
    assert _sessions(engine, "cat") == []


def test_sign_in_rate_limits_are_the_token_routes(client: Any, engine: Engine) -> None:
    """Five failures of a username, counted across the form and the token route, then 429 either way."""
    _add(engine, "dora")
    browser = _browser(client)
    for _ in range(3):
        assert _sign_in(browser, "dora", "wrong password 1").status_code == 401
    for _ in range(2):
        assert browser.post(TOKEN, data={"username": "dora", "password": "wrong"}).status_code == 401
    limited = _sign_in(browser, "dora")  # the right password, unchecked
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "登录失败次数过多" in limited.text
    assert SESSION_COOKIE not in browser.cookies
    assert browser.post(TOKEN, data={"username": "dora", "password": PASSWORD}).status_code == 429


def test_a_cross_site_sign_in_form_is_refused(client: Any, engine: Engine) -> None:
    """Login CSRF: another site's form has no SameSite=Strict cookie doubling its token."""
    _add(engine, "eve")
    browser = _browser(client)
    data = {"username": "eve", "password": PASSWORD, "csrf_token": "x" * 43}
    refused = browser.post("/login", data=data, follow_redirects=False)
    assert refused.status_code == 403
    assert SESSION_COOKIE not in browser.cookies
    assert _sessions(engine, "eve") == []
    browser.cookies.set(LOGIN_CSRF_COOKIE, "y" * 43, path="/login")  # its own cookie, not the form's token
    assert browser.post("/login", data=data, follow_redirects=False).status_code == 403
    assert _sessions(engine, "eve") == []


# --- CSRF on writes signed in by the cookie -----------------------------------------------------------------


def test_a_cookie_write_without_the_csrf_token_is_403_and_writes_nothing(client: Any, engine: Engine) -> None:
    browser = _signed_in(client, engine, "fay")
    before = _enterprise_count(client)
    feature = enterprise_feature(1, at=QUANGANG)
    refused = browser.post(ENTERPRISES, json=feature)
    assert refused.status_code == 403
    assert CSRF_HEADER in refused.json()["detail"]
    wrong = browser.post(ENTERPRISES, json=feature, headers={CSRF_HEADER: "0" * 64})
    assert wrong.status_code == 403
    # Another session's token is no good either.
    other = _signed_in(client, engine, "fay-2")
    assert browser.post(ENTERPRISES, json=feature, headers={CSRF_HEADER: _csrf(other)}).status_code == 403
    # A cross-site HTML form (urlencoded, the cookie sent, no header) is refused the same way.
    form = browser.post(ENTERPRISES, data={"type": "Feature"})
    assert form.status_code == 403
    assert _enterprise_count(client) == before


def test_a_cookie_write_with_the_csrf_header_works(client: Any, engine: Engine) -> None:
    browser = _signed_in(client, engine, "gus")
    csrf = {CSRF_HEADER: _csrf(browser)}
    made = created(browser.post(ENTERPRISES, json=enterprise_feature(2, at=QUANGANG), headers=csrf))
    url = f"{ENTERPRISES}/{made['id']}"
    patch = {"properties": {"employees": 42}}
    assert browser.patch(url, json=patch).status_code == 403
    patched = ok(browser.patch(url, json=patch, headers={**csrf, "If-Match": "*"}))
    assert patched["properties"]["employees"] == 42
    # The history names the user of the session.
    history = ok(client.get(f"{url}/history"))
    assert {r["actor"] for r in history["records"]} == {"gus"}


def test_bearer_and_api_key_writes_need_no_csrf_token(client: Any, engine: Engine) -> None:
    # `client` signs in with a bearer token on every request.
    created(client.post(ENTERPRISES, json=enterprise_feature(3, at=QUANGANG)))
    _add(engine, "hal")
    with engine.begin() as conn:
        key = users.create_api_key(conn, SYSTEM, "hal")
    keyed = TestClient(client.app, headers={"X-API-Key": key})
    created(keyed.post(ENTERPRISES, json=enterprise_feature(4, at=QUANGANG)))
    # A token beside a cookie is what signs the request in: no CSRF token needed.
    browser = _signed_in(client, engine, "hal-2")
    browser.headers["X-API-Key"] = key
    created(browser.post(ENTERPRISES, json=enterprise_feature(5, at=QUANGANG)))


def test_session_info_needs_a_live_session(client: Any, engine: Engine) -> None:
    anonymous = _browser(client)
    assert anonymous.get(SESSION).status_code == 401
    browser = _signed_in(client, engine, "ida", "regulator", adcodes=["350505"])
    body = ok(browser.get(SESSION))
    assert body["username"] == "ida"
    assert body["role"] == "regulator"
    assert body["csrf_header"] == CSRF_HEADER
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf_token"])
    assert browser.cookies[SESSION_COOKIE] not in body["csrf_token"]


# --- ending a session -----------------------------------------------------------------------------------------


def test_sign_out_ends_the_session_on_the_server(client: Any, engine: Engine) -> None:
    browser = _signed_in(client, engine, "joe")
    copied = browser.cookies[SESSION_COOKIE]
    home = browser.get("/home", headers=HTML)
    response = browser.post("/logout", data={"csrf_token": _form_token(home.text)}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?reason=signed-out"
    assert SESSION_COOKIE not in browser.cookies  # the browser was told to forget it
    assert "您已安全退出" in browser.get("/login?reason=signed-out", headers=HTML).text
    assert _sessions(engine, "joe") == []
    # A copy of the cookie is refused: 401 for the API, the sign-in page for a browser.
    thief = _browser(client)
    thief.cookies.set(SESSION_COOKIE, copied)
    refused = thief.get(ME)
    assert refused.status_code == 401
    assert "session has ended" in refused.json()["detail"]
    page = thief.get("/home", headers=HTML, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fhome&reason=ended"
    thief.cookies.set(SESSION_COOKIE, copied)
    assert "登录已结束" in thief.get("/home", headers=HTML).text


def test_a_cross_site_sign_out_is_refused(client: Any, engine: Engine) -> None:
    browser = _signed_in(client, engine, "kai")
    refused = browser.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert browser.post("/logout", data={"csrf_token": "0" * 64}).status_code == 403
    assert ok(browser.get(ME))["username"] == "kai"  # still signed in


def test_deactivating_the_user_ends_its_sessions_for_good(client: Any, engine: Engine) -> None:
    browser = _signed_in(client, engine, "lee")
    cookie = browser.cookies[SESSION_COOKIE]
    assert ok(browser.get(ME))["username"] == "lee"
    with engine.begin() as conn:
        users.set_active(conn, SYSTEM, "lee", False)
    refused = browser.get(ME)
    assert refused.status_code == 401
    assert SESSION_COOKIE not in browser.cookies  # the 401 told the browser to forget the cookie
    with engine.begin() as conn:
        users.set_active(conn, SYSTEM, "lee", True)
    browser.cookies.set(SESSION_COOKIE, cookie)
    assert browser.get(ME).status_code == 401  # activating it again does not bring a session back
    assert _sessions(engine, "lee") == []


def test_an_expired_session_is_refused_and_removed_later(client: Any, engine: Engine) -> None:
    browser = _signed_in(client, engine, "max")
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE sessions SET expires_at = now() - interval '1 second' "
                "WHERE user_id = (SELECT id FROM users WHERE username = 'max')"
            )
        )
    assert browser.get(ME).status_code == 401
    _signed_in(client, engine, "max-2")  # a new session clears the expired ones
    assert _sessions(engine, "max") == []


# --- browsers sent to sign in ---------------------------------------------------------------------------------


def test_a_browser_without_credentials_is_sent_to_sign_in_and_back(client: Any, engine: Engine) -> None:
    browser = _browser(client)
    page = "/maps/safety-distance?adcode=350505"
    response = browser.get(page, headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fmaps%2Fsafety-distance%3Fadcode%3D350505"
    # A script (no text/html) and the API keep their 401 JSON.
    assert browser.get(page).status_code == 401
    assert browser.get("/api/v1/enterprises/1", headers=HTML).status_code == 401
    form = browser.get(response.headers["location"], headers=HTML)
    assert "请先登录" in form.text
    assert f'name="next" value="{page}"' in form.text.replace("&amp;", "&")
    _add(engine, "ned", "regulator", adcodes=["350505"])
    signed = _sign_in(browser, "ned", next=page)
    assert (signed.status_code, signed.headers["location"]) == (303, page)
    shown = browser.get(page, headers=HTML)
    assert shown.status_code == 200
    assert "leaflet" in shown.text.lower()


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/x",
        "//evil.example/x",
        "/\\evil.example/x",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "http:/evil.example",
        "/login",
        "/logout",
        "",
    ],
)
def test_next_goes_nowhere_but_this_site(client: Any, engine: Engine, target: str) -> None:
    assert safe_next(target) == "/home"
    _add(engine, f"olga-{abs(hash(target)) % 10_000}")
    browser = _browser(client)
    response = _sign_in(browser, f"olga-{abs(hash(target)) % 10_000}", next=target)
    assert (response.status_code, response.headers["location"]) == (303, "/home")


def test_same_site_next_keeps_its_query() -> None:
    assert (
        safe_next("/maps/four-color?adcode=350505&zones=grid") == "/maps/four-color?adcode=350505&zones=grid"
    )
    assert safe_next("/docs#/auth") == "/docs#/auth"


def test_root_goes_home_and_home_to_sign_in(client: Any) -> None:
    browser = _browser(client)
    root = browser.get("/", headers=HTML, follow_redirects=False)
    assert root.headers["location"] == "/home"
    home = browser.get("/home", headers=HTML, follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/login?next=%2Fhome")


def test_docs_pages_load_their_assets_from_this_server(client: Any) -> None:
    browser = _browser(client)
    for path, assets in (
        ("/docs", ["/static/vendor/swagger-ui-dist/swagger-ui-bundle.js", "/static/app/swagger-init.js"]),
        ("/redoc", ["/static/vendor/redoc/bundles/redoc.standalone.js"]),
    ):
        page = browser.get(path)
        assert page.status_code == 200
        assert re.search(r"https?://", page.text) is None, path
        assert "<script>" not in page.text  # no inline script: works under script-src 'self'
        for asset in assets:
            assert f'src="{asset}"' in page.text
            assert browser.get(asset).status_code == 200
    assert browser.get("/static/vendor/swagger-ui-dist/swagger-ui.css").status_code == 200
    assert browser.get("/static/vendor/swagger-ui-dist/package.json").status_code == 404


# --- the home page of each role -------------------------------------------------------------------------------


def test_an_admins_home_lists_the_top_level_areas(client: Any, engine: Engine) -> None:
    browser = _signed_in(client, engine, "pat")
    home = browser.get("/home", headers=HTML)
    assert "系统管理员" in home.text
    with engine.connect() as conn:
        roots = conn.execute(
            text("SELECT adcode, name FROM jurisdictions WHERE parent_adcode IS NULL ORDER BY adcode")
        ).all()
    assert roots
    for adcode, name in roots[:20]:
        assert name in home.text
        assert f'href="/maps/four-color?adcode={adcode}"' in home.text  # drawn by its loaded children
        assert f'href="/maps/safety-distance?adcode={adcode}"' in home.text


def test_an_enterprise_users_home_names_its_enterprise_and_the_public_map(
    client: Any, engine: Engine
) -> None:
    eid = created(client.post(ENTERPRISES, json=enterprise_feature(6, at=QUANGANG)))["id"]
    name = ok(client.get(f"{ENTERPRISES}/{eid}"))["properties"]["name"]
    browser = _signed_in(client, engine, "quinn", "enterprise", enterprise_id=eid)
    home = browser.get("/home", headers=HTML)
    assert "企业用户" in home.text
    assert name in home.text
    assert 'href="/maps/four-color?adcode=350505&amp;zones=grid&amp;cell_m=1000&amp;public=true"' in home.text
    assert "/maps/safety-distance" not in home.text
    shown = browser.get("/maps/four-color?adcode=350505&zones=grid&cell_m=1000&public=true", headers=HTML)
    assert shown.status_code == 200


def test_a_page_the_user_may_not_see_is_a_403_page(client: Any, engine: Engine) -> None:
    browser = _signed_in(client, engine, "rita", "regulator", adcodes=["350505"])
    page = browser.get("/maps/safety-distance?adcode=350521", headers=HTML)  # 惠安县, not hers
    assert page.status_code == 403
    assert "无权访问此页面" in page.text
    assert "outside your jurisdictions" in page.text
    assert (
        browser.get("/maps/safety-distance?adcode=350521").json()["detail"].startswith("jurisdiction 350521")
    )
