"""Signing in: passwords (argon2id), bearer tokens (JWT HS256), API keys, the settings that guard the
secret, the `riskmap users` commands and the demo's users."""

from __future__ import annotations

import datetime as dt
import secrets
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.app import create_app
from api.auth import ALGORITHM
from api.settings import AuthSettings, DatabaseSettings, Settings, estimated_secret_bits
from geo.access import SYSTEM
from geo.errors import InvalidInput, SetupError
from geo.store import users
from tests.api.builders import ENTERPRISES, enterprise_feature, if_match, problem
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


@pytest.mark.parametrize(
    "secret",
    [
        "a" * 36,  # one repeated letter: long, and 0 bits
        "k" * 20 + "Zq9-" * 5,
        "Zq9-" * 12,  # a repeated block
        "Zq9-x8Lp" * 16,
        "abcdefghijklmnopqrstuvwxyz0123456789",  # a run of the keyboard
        "0123456789abcdef" * 3,
    ],
)
def test_production_refuses_a_long_secret_without_entropy(database_url: str, secret: str) -> None:
    auth = AuthSettings(environment="production", secret=secret)
    with pytest.raises(SetupError, match=r"not random: about [0-9]+ bits"):
        create_app(Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=auth))
    # development takes what it is given
    assert AuthSettings(environment="development", secret=secret).signing_key() == secret


@pytest.mark.parametrize(
    "secret",
    [secrets.token_urlsafe(48), secrets.token_hex(32), secrets.token_urlsafe(32)],
    ids=["urlsafe-48", "hex-32", "urlsafe-32"],  # fixed ids: the values are random
)
def test_production_starts_with_a_strong_secret(database_url: str, secret: str) -> None:
    assert estimated_secret_bits(secret) >= 128
    auth = AuthSettings(environment="production", secret=secret)
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


def test_revoked_key_is_401_at_once(anonymous: Any, engine: Engine) -> None:
    _add(engine, "jan")
    with engine.begin() as conn:
        keys = [users.create_api_key(conn, SYSTEM, "jan") for _ in range(3)]
    for key in keys:
        assert anonymous.get(ME, headers={"X-API-Key": key}).status_code == 200
    with engine.begin() as conn:
        ids = [k["id"] for k in users.list_api_keys(conn, SYSTEM, "jan")]
        assert users.revoke_api_keys(conn, SYSTEM, "jan", keys[0][:12]) == [
            {"id": ids[0], "prefix": keys[0][:12]}
        ]
        assert users.revoke_api_keys(conn, SYSTEM, "jan", keys[0][:12]) == []  # revoked already
        assert [r["id"] for r in users.revoke_api_keys(conn, SYSTEM, "jan", keys[1])] == [ids[1]]  # whole key
    response = anonymous.get(ME, headers={"X-API-Key": keys[0]})
    assert response.status_code == 401
    assert response.json()["detail"] == "unknown or revoked API key"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.get(ME, headers={"X-API-Key": keys[1]}).status_code == 401
    assert anonymous.get(ME, headers={"X-API-Key": keys[2]}).status_code == 200  # the others still work
    with engine.begin() as conn:
        assert [r["id"] for r in users.revoke_api_keys(conn, SYSTEM, "jan", str(ids[2]))] == [ids[2]]
        listed = users.list_api_keys(conn, SYSTEM, "jan")
    assert [(k["id"], k["active"]) for k in listed] == [(i, False) for i in ids]
    assert anonymous.get(ME, headers={"X-API-Key": keys[2]}).status_code == 401


def test_revoking_names_exactly_one_key_of_that_user(engine: Engine, client: Any) -> None:
    from geo.access import Forbidden, Principal, Role

    _add(engine, "kim")
    _add(engine, "lee")
    with engine.begin() as conn:
        kims = [users.create_api_key(conn, SYSTEM, "kim") for _ in range(2)]
        lees = users.create_api_key(conn, SYSTEM, "lee")
    with engine.begin() as conn:
        for name, field in (
            ("rmk_", "key"),
            ("", "key"),
            ("rmk_%", "key"),
            ("999999", "key"),
            (lees[:12], "key"),
        ):
            with pytest.raises(InvalidInput) as bad:
                users.revoke_api_keys(conn, SYSTEM, "kim", name)
            assert [p.field for p in bad.value.problems] == [field], name
        with pytest.raises(InvalidInput, match="2 keys of kim"):
            users.revoke_api_keys(conn, SYSTEM, "kim", "rmk_")  # ambiguous: both of kim's keys
        with pytest.raises(InvalidInput, match="username"):
            users.revoke_api_keys(conn, SYSTEM, "nobody", None)
        with pytest.raises(Forbidden):
            users.revoke_api_keys(conn, Principal(Role.regulator, "r", adcodes=("350505",)), "kim", None)
        with pytest.raises(Forbidden):
            users.set_active(conn, Principal(Role.enterprise, "e", enterprise_id=1), "kim", False)
    with engine.connect() as conn:
        still = conn.execute(
            text(
                "SELECT count(*) FROM api_keys JOIN users u ON u.id = user_id "
                "WHERE api_keys.active AND u.username IN ('kim', 'lee')"
            )
        ).scalar_one()
    assert still == 3  # the refusals revoked nothing
    with engine.begin() as conn:
        assert len(users.revoke_api_keys(conn, SYSTEM, "kim", None)) == 2
    assert client.get(ME, headers={"X-API-Key": kims[0], "Authorization": ""}).status_code == 401
    assert client.get(ME, headers={"X-API-Key": lees, "Authorization": ""}).status_code == 200


def test_users_revoke_key_deactivate_activate_commands(
    database_url: str, engine: Engine, client: Any, anonymous: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    _add(engine, "max", "regulator", adcodes=["350505"])
    first, second, third = (runner.invoke(app, ["users", "key", "max"]).output.strip() for _ in range(3))
    token = _sign_in(anonymous, "max").json()["access_token"]
    bearer_of_max = {"Authorization": f"Bearer {token}"}
    listed = runner.invoke(app, ["users", "keys", "max"])
    assert listed.exit_code == 0, listed.output
    ids = [line.split("\t")[0] for line in listed.output.splitlines()]
    assert [line.split("\t")[1] for line in listed.output.splitlines()] == [
        k[:12] + "…" for k in (first, second, third)
    ]
    assert all(line.endswith("\tactive") for line in listed.output.splitlines())
    assert first not in listed.output

    revoked = runner.invoke(app, ["users", "revoke-key", "max", first[:12]])
    assert revoked.exit_code == 0, revoked.output
    assert revoked.output == f"revoked key {ids[0]} ({first[:12]}…) of max\n"
    assert anonymous.get(ME, headers={"X-API-Key": first}).status_code == 401
    assert anonymous.get(ME, headers={"X-API-Key": second}).status_code == 200
    again = runner.invoke(app, ["users", "revoke-key", "max", ids[0]])
    assert again.exit_code == 0
    assert "revoked already" in again.output
    assert runner.invoke(app, ["users", "keys", "max"]).output.splitlines()[0].endswith("\trevoked")
    for args in (["max"], ["max", ids[1], "--all"], ["max", "rmk_nothing"], ["nobody", "--all"]):
        refused = runner.invoke(app, ["users", "revoke-key", *args])
        assert refused.exit_code == 2, (args, refused.output)
        assert "error:" in refused.output
    assert anonymous.get(ME, headers={"X-API-Key": second}).status_code == 200  # the refusals revoked nothing

    deactivated = runner.invoke(app, ["users", "deactivate", "max"])
    assert deactivated.exit_code == 0, deactivated.output
    assert deactivated.output == "user max deactivated\n"
    assert anonymous.get(ME, headers=bearer_of_max).status_code == 401  # the token minted before
    assert anonymous.get(ME, headers={"X-API-Key": second}).status_code == 401
    assert anonymous.get(ENTERPRISES, headers={"X-API-Key": third}).status_code == 401
    assert _sign_in(anonymous, "max").status_code == 401
    assert "\tinactive\t2 API key(s)" in runner.invoke(app, ["users", "list"]).output
    assert "inactive already" in runner.invoke(app, ["users", "deactivate", "max"]).output
    assert runner.invoke(app, ["users", "deactivate", "nobody"]).exit_code == 2

    activated = runner.invoke(app, ["users", "activate", "max"])
    assert activated.output == "user max activated\n"
    assert anonymous.get(ME, headers=bearer_of_max).json()["username"] == "max"
    assert anonymous.get(ME, headers={"X-API-Key": second}).status_code == 200  # kept while inactive
    assert anonymous.get(ME, headers={"X-API-Key": first}).status_code == 401  # revoked stays revoked
    everything = runner.invoke(app, ["users", "revoke-key", "max", "--all"])
    assert everything.output.count("revoked key") == 2
    assert anonymous.get(ME, headers={"X-API-Key": third}).status_code == 401
    assert "max had no active key" in runner.invoke(app, ["users", "revoke-key", "max", "--all"]).output


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
    first = if_match(client, url)
    assert client.patch(url, json={"properties": {"name": "新名称"}}, headers=first).status_code == 200
    problem(client.patch(url, json={"properties": {"name": "再改"}}, headers=first), "If-Match", status=412)
    problem(client.delete(url, headers=first), "If-Match", status=412)
    assert client.get(url).status_code == 200  # a stale delete deleted nothing
    assert client.delete(url, headers=if_match(client, url)).status_code == 204
