"""Signing in: passwords (argon2id), bearer tokens (JWT HS256), API keys, the settings that guard the
secret, the `riskmap users` commands and the demo's users."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.app import create_app
from api.auth import ALGORITHM
from api.settings import AuthSettings, DatabaseSettings, Settings
from geo.access import SYSTEM
from geo.errors import InvalidInput, SetupError
from geo.store import users
from tests.api.builders import ENTERPRISES, enterprise_feature, problem
from tests.principals import TEST_SECRET

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/auth/me"
PASSWORD = "a long enough password"


@pytest.fixture
def anonymous(client_as: Any) -> Any:
    return client_as("public")


def _add(engine: Engine, username: str, role: str = "admin", **scope: Any) -> None:
    with engine.begin() as conn:
        users.create_user(conn, SYSTEM, username, PASSWORD, role, **scope)


def _sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    return client.post(TOKEN, data={"username": username, "password": password})


def test_password_flow_gives_a_token_that_names_the_user(anonymous: Any, engine: Engine) -> None:
    _add(engine, "ann", "regulator", adcodes=["350505"])
    response = _sign_in(anonymous, "ann")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = anonymous.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me == {"username": "ann", "role": "regulator", "adcodes": ["350505"], "enterprise_id": None}
    assert anonymous.get(ME).json()["role"] == "public"


def test_only_an_argon2_hash_is_stored(anonymous: Any, engine: Engine) -> None:
    _add(engine, "bob")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users WHERE username = 'bob'")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(("username", "password"), [("carol", "wrong password!"), ("nobody", PASSWORD)])
def test_wrong_credentials_are_401_with_www_authenticate(
    anonymous: Any, engine: Engine, username: str, password: str
) -> None:
    _add(engine, "carol")
    response = _sign_in(anonymous, username, password)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["detail"] == "wrong username or password"


def _token(claims: dict[str, Any], secret: str = TEST_SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm=ALGORITHM)}"}


def test_bad_expired_forged_tokens_are_401(anonymous: Any, engine: Engine) -> None:
    _add(engine, "dan")
    now = dt.datetime.now(dt.UTC)
    cases = {
        "expired": _token({"sub": "dan", "exp": now - dt.timedelta(seconds=5)}),
        "not valid": _token({"sub": "dan", "exp": now + dt.timedelta(minutes=5)}, secret="x" * 40),
        "not valid ": {"Authorization": "Bearer not.a.token"},
        "unknown or deactivated": _token({"sub": "nobody", "exp": now + dt.timedelta(minutes=5)}),
    }
    for words, headers in cases.items():
        response = anonymous.get(ENTERPRISES, headers=headers)
        assert response.status_code == 401, (words, response.text)
        assert words.strip() in response.json()["detail"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    none_alg = jwt.encode({"sub": "dan", "exp": now + dt.timedelta(minutes=5)}, None, algorithm="none")
    assert anonymous.get(ME, headers={"Authorization": f"Bearer {none_alg}"}).status_code == 401


def test_a_deactivated_user_token_stops_working(anonymous: Any, engine: Engine) -> None:
    _add(engine, "eve")
    headers = {"Authorization": f"Bearer {_sign_in(anonymous, 'eve').json()['access_token']}"}
    assert anonymous.get(ENTERPRISES, headers=headers).status_code == 200
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET active = false WHERE username = 'eve'"))
    assert anonymous.get(ENTERPRISES, headers=headers).status_code == 401
    assert _sign_in(anonymous, "eve").status_code == 401


def test_api_keys(anonymous: Any, engine: Engine) -> None:
    _add(engine, "fay", "regulator", adcodes=["350505"])
    with engine.begin() as conn:
        key = users.create_api_key(conn, SYSTEM, "fay")
        stored = conn.execute(text("SELECT key_hash, prefix FROM api_keys")).one()
    assert key not in stored.key_hash
    assert key.startswith(stored.prefix)
    assert anonymous.get(ME, headers={"X-API-Key": key}).json()["username"] == "fay"
    response = anonymous.get(ME, headers={"X-API-Key": key + "x"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_user_rules(engine: Engine, client: Any) -> None:
    eid = client.post(ENTERPRISES, json=enterprise_feature(1)).json()["id"]
    with engine.begin() as conn:
        with pytest.raises(InvalidInput) as bad:
            users.create_user(conn, SYSTEM, "x", "short", "regulator", adcodes=["999999"])
        fields = {p.field for p in bad.value.problems}
        assert fields == {"username", "password", "adcode"}
        with pytest.raises(InvalidInput, match="enterprise_id"):
            users.create_user(conn, SYSTEM, "gus", PASSWORD, "enterprise")
        with pytest.raises(InvalidInput, match="role"):
            users.create_user(conn, SYSTEM, "gus", PASSWORD, "public")
        users.create_user(conn, SYSTEM, "gus", PASSWORD, "enterprise", enterprise_id=eid)
    with engine.begin() as conn:
        from geo.errors import Conflict

        with pytest.raises(Conflict):
            users.create_user(conn, SYSTEM, "gus", PASSWORD, "admin")


def test_only_admins_manage_users(engine: Engine, client: Any) -> None:
    from geo.access import Forbidden, Principal, Role, Unauthenticated

    with engine.begin() as conn:
        with pytest.raises(Forbidden):
            users.list_users(conn, Principal(Role.regulator, "r", adcodes=("350505",)))
        with pytest.raises(Unauthenticated):
            users.create_api_key(conn, Principal(Role.public), "anyone")


# --- settings: the secret ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "changeme", "short-but-not-default"])
def test_production_refuses_a_missing_default_or_short_secret(
    database_url: str, secret: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RISKMAP_AUTH_SECRET")
    if secret is not None:
        monkeypatch.setenv("RISKMAP_AUTH_SECRET", secret)
    monkeypatch.setenv("RISKMAP_AUTH_ENVIRONMENT", "production")
    auth = AuthSettings()
    with pytest.raises(SetupError, match="RISKMAP_AUTH_SECRET"):
        create_app(Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=auth))


def test_production_starts_with_a_strong_secret(database_url: str) -> None:
    auth = AuthSettings(environment="production", secret="k" * 20 + "Zq9-" * 5)
    app = create_app(Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=auth))
    assert app.state.signing_key == auth.signing_key()


def test_development_makes_a_secret_once_and_keeps_it_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("RISKMAP_AUTH_SECRET")
    first = AuthSettings().signing_key()
    kept = tmp_path / "riskmap" / "auth.env"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert len(first) >= 40
    assert AuthSettings().signing_key() == first
    assert kept.read_text() == f"RISKMAP_AUTH_SECRET={first}\n"


# --- the command line ---------------------------------------------------------------------------------------------


def test_users_commands(
    database_url: str, engine: Engine, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    eid = client.post(ENTERPRISES, json=enterprise_feature(1)).json()["id"]
    added = runner.invoke(
        app, ["users", "add", "hal", "--role", "enterprise", "--enterprise-id", str(eid), "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    bad = runner.invoke(
        app, ["users", "add", "ida", "--role", "regulator", "--password-stdin"], input=PASSWORD
    )
    assert bad.exit_code == 2
    assert "adcode" in bad.output
    listed = runner.invoke(app, ["users", "list"])
    assert f"hal\tenterprise\tenterprise {eid}\tactive\t0 API key(s)" in listed.output
    key = runner.invoke(app, ["users", "key", "hal"]).output.strip()
    me = client.get(ME, headers={"X-API-Key": key, "Authorization": ""}).json()
    assert me["username"] == "hal"
    assert me["enterprise_id"] == eid


def test_demo_users_one_per_role(engine: Engine, client: Any, anonymous: Any, tmp_path: Path) -> None:
    from api.users import demo_users

    eid = client.post(ENTERPRISES, json=enterprise_feature(1)).json()["id"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE enterprises SET synthetic = true WHERE id = :id"), {"id": eid})
    printed: list[str] = []
    made = demo_users(engine, echo=printed.append, directory=tmp_path)
    assert [u for u, _, _ in made] == ["demo-admin", "demo-regulator", "demo-enterprise"]
    kept = tmp_path / "demo-users.txt"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    for username, password, _ in made:
        assert password in kept.read_text()
        assert any(password in line for line in printed)
        token = _sign_in(anonymous, username, password).json()["access_token"]
        me = anonymous.get(ME, headers={"Authorization": f"Bearer {token}"}).json()
        assert me["role"] == username.removeprefix("demo-")
    assert anonymous.get(ME, headers={"Authorization": f"Bearer {token}"}).json()["enterprise_id"] == eid
    again = demo_users(engine, echo=printed.append, directory=tmp_path)  # a second demo load replaces them
    assert {p for _, p, _ in again}.isdisjoint({p for _, p, _ in made})


def test_conflicts_name_the_field(client: Any) -> None:
    first = client.post(ENTERPRISES, json=enterprise_feature(1))
    assert first.status_code == 201
    problem(client.post(ENTERPRISES, json=enterprise_feature(1)), "properties.credit_code", status=409)
    url = f"{ENTERPRISES}/{first.json()['id']}"
    assert client.patch(url, json={"properties": {"name": "新名称"}}).status_code == 200
    problem(
        client.patch(url, json={"properties": {"name": "再改"}}, headers={"If-Match": 'W/"1"'}),
        "If-Match",
        status=409,
    )
    problem(client.delete(url, headers={"If-Match": 'W/"1"'}), "If-Match", status=409)
    assert client.get(url).status_code == 200  # a stale delete deleted nothing
    assert client.delete(url, headers={"If-Match": 'W/"2"'}).status_code == 204
