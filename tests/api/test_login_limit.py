"""Rate limiting of sign-in: failures per (username, client address) pair and per address within a window →
429 with Retry-After, the password unchecked; a stranger cannot lock a user out. The clock is the test's, so
nothing sleeps."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.login_limit import LoginLimiter
from geo.access import SYSTEM
from geo.errors import RateLimited
from geo.store import users

TOKEN = "/api/v1/auth/token"
PASSWORD = "a long enough password"
WRONG = "not the password"
WINDOW = 15 * 60


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(client: Any) -> Clock:
    """The app's limiter reads this clock (the defaults: 5 failures, 15 minutes)."""
    c = Clock()
    client.app.state.login_limiter.clock = c
    return c


def _from(client: Any, address: str) -> TestClient:
    """An anonymous client of the same app, calling from `address`."""
    return TestClient(client.app, client=(address, 50000))


def _add(engine: Engine, *usernames: str) -> None:
    with engine.begin() as conn:
        for username in usernames:
            users.create_user(conn, SYSTEM, username, PASSWORD, "admin")


def _sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post(TOKEN, data={"username": username, "password": password})


def _limited(response: Any) -> int:
    """The seconds of Retry-After of a 429 in the API's error shape."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body == {"detail": body["detail"], "errors": [], "request_id": response.headers["X-Request-ID"]}
    assert body["detail"].startswith("too many failed sign-ins: try again in")
    assert "WWW-Authenticate" not in response.headers
    return int(response.headers["Retry-After"])


def test_the_sixth_attempt_is_429_even_with_the_right_password(
    client: Any, engine: Engine, clock: Clock
) -> None:
    _add(engine, "ann")
    caller = _from(client, "10.0.0.1")
    for _ in range(5):
        assert _sign_in(caller, "ann", WRONG).status_code == 401
        clock.now += 10
    assert _limited(_sign_in(caller, "ann", WRONG)) == WINDOW - 50
    assert _limited(_sign_in(caller, "ann")) == WINDOW - 50  # the right password is not even looked at
    clock.now += WINDOW - 50 - 1
    assert _limited(_sign_in(caller, "ann")) == 1
    clock.now += 1  # the first failure leaves the window: one more attempt may be made
    assert _sign_in(caller, "ann").status_code == 200


def test_a_stranger_cannot_lock_a_user_out(client: Any, engine: Engine, clock: Clock) -> None:
    """Five wrong passwords for the admin from one address lock that address out of the admin, not the
    admin out of the service: the count is per (username, address), never per username alone."""
    _add(engine, "root")
    stranger = _from(client, "203.0.113.7")
    for _ in range(5):
        assert _sign_in(stranger, "root", WRONG).status_code == 401
    _limited(_sign_in(stranger, "root"))
    assert _sign_in(_from(client, "10.0.0.9"), "root").status_code == 200  # the admin, from the office
    # and from many addresses a stranger locks out nobody either (each address has its own count)
    for n in range(1, 4):
        for _ in range(5):
            _sign_in(_from(client, f"198.51.100.{n}"), "root", WRONG)
    assert _sign_in(_from(client, "10.0.0.9"), "root").status_code == 200


def test_unknown_and_known_usernames_are_limited_alike(client: Any, engine: Engine, clock: Clock) -> None:
    _add(engine, "bob")
    answers: dict[str, list[tuple[int, str, str | None]]] = {}
    for username, address in (("bob", "10.0.1.1"), ("nobody", "10.0.1.2")):
        caller = _from(client, address)
        responses = [_sign_in(caller, username, WRONG) for _ in range(7)]
        answers[username] = [
            (r.status_code, r.json()["detail"], r.headers.get("Retry-After")) for r in responses
        ]
    assert answers["bob"] == answers["nobody"]
    assert [status for status, _, _ in answers["bob"]] == [401] * 5 + [429] * 2


def test_an_address_is_limited_across_usernames(client: Any, engine: Engine, clock: Clock) -> None:
    client.app.state.login_limiter = LoginLimiter(
        max_failures=3, max_failures_per_address=5, window_seconds=WINDOW, clock=clock
    )
    _add(engine, "cat", "dan", "eve")
    caller = _from(client, "10.0.2.1")
    for _ in range(3):
        assert _sign_in(caller, "cat", WRONG).status_code == 401
    _limited(_sign_in(caller, "cat"))  # cat's own threshold (3)
    clock.now += 60
    for _ in range(2):  # dan's own failures, the 4th and 5th from this address
        assert _sign_in(caller, "dan", WRONG).status_code == 401
    assert _limited(_sign_in(caller, "dan")) == WINDOW - 60  # the address's threshold (5)
    assert _limited(_sign_in(caller, "eve")) == WINDOW - 60  # any username, from this address
    assert _sign_in(_from(client, "10.0.2.2"), "dan").status_code == 200  # dan from elsewhere is fine
    clock.now += WINDOW - 60
    assert _sign_in(caller, "eve").status_code == 200  # the address's failures left the window


def test_a_success_resets_the_username_count(client: Any, engine: Engine, clock: Clock) -> None:
    _add(engine, "fay")
    client.app.state.login_limiter.max_failures_per_address = 100
    caller = _from(client, "10.0.3.1")
    for _ in range(4):
        assert _sign_in(caller, "fay", WRONG).status_code == 401
    assert _sign_in(caller, "fay").status_code == 200
    for _ in range(4):  # four more failures are allowed again
        assert _sign_in(caller, "fay", WRONG).status_code == 401
    assert _sign_in(caller, "fay").status_code == 200
    for _ in range(5):
        assert _sign_in(caller, "fay", WRONG).status_code == 401
    _limited(_sign_in(caller, "fay"))


def test_the_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from api.auth import login_limiter
    from api.settings import AuthSettings

    monkeypatch.setenv("RISKMAP_AUTH_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("RISKMAP_AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", "20")
    monkeypatch.setenv("RISKMAP_AUTH_LOGIN_WINDOW_MINUTES", "30")
    limiter = login_limiter(AuthSettings())
    assert (limiter.max_failures, limiter.max_failures_per_address, limiter.window) == (3, 20, 1800)
    monkeypatch.delenv("RISKMAP_AUTH_LOGIN_MAX_FAILURES")
    monkeypatch.delenv("RISKMAP_AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS")
    monkeypatch.delenv("RISKMAP_AUTH_LOGIN_WINDOW_MINUTES")
    defaults = login_limiter(AuthSettings())
    assert (defaults.max_failures, defaults.max_failures_per_address, defaults.window) == (5, 20, 900)


# --- the limiter alone -------------------------------------------------------------------------------------------


def test_memory_is_bounded_and_old_keys_are_dropped() -> None:
    clock = Clock()
    limiter = LoginLimiter(window_seconds=60, clock=clock, max_keys=100)
    for n in range(1_000):
        limiter.begin(f"user{n}", f"10.1.{n // 250}.{n % 250}")
    assert len(limiter) == 100
    clock.now += 61  # every failure has left the window: the next attempt sweeps them away
    limiter.begin("someone", "10.9.9.9")
    assert len(limiter) == 2
    limiter.begin("x" * 10_000, "y" * 10_000)  # junk usernames and addresses are cut
    assert max(len(k[1]) for k in limiter._failures) == 2 * 128 + 1


def test_concurrent_attempts_cannot_pass_the_limit() -> None:
    """Attempts are counted when they start: 50 threads at once (one username, one address) get exactly 5
    attempts through."""
    limiter = LoginLimiter(max_failures=5, max_failures_per_address=1_000, clock=Clock())
    passed: list[int] = []
    start = threading.Barrier(50)

    def attempt(n: int) -> None:
        start.wait()
        try:
            limiter.begin("gus", "10.2.0.1")
        except RateLimited:
            return
        passed.append(n)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 5


def test_an_attempt_the_database_could_not_decide_does_not_count() -> None:
    clock = Clock()
    limiter = LoginLimiter(max_failures=2, clock=clock)
    for _ in range(5):
        limiter.cancel(limiter.begin("hal", "10.3.0.1"))
    first = limiter.begin("hal", "10.3.0.1")
    limiter.begin("hal", "10.3.0.1")
    with pytest.raises(RateLimited) as limited:
        limiter.begin("hal", "10.3.0.1")
    assert limited.value.retry_after == 900
    limiter.succeeded(first)  # a success clears the username; the address keeps its other failure
    limiter.begin("hal", "10.3.0.1")


def test_an_address_is_limited_across_usernames_under_concurrency() -> None:
    limiter = LoginLimiter(max_failures=5, max_failures_per_address=20, clock=Clock())
    passed: list[int] = []
    start = threading.Barrier(60)

    def attempt(n: int) -> None:
        start.wait()
        try:
            limiter.begin(f"user{n}", "10.2.0.2")
        except RateLimited:
            return
        passed.append(n)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 20


def test_serve_trusts_no_proxy_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's own default trusts X-Forwarded-For from 127.0.0.1, so any local client (or a proxy that
    passes the header through) could pick its address and rotate past the limit. `riskmap serve` trusts no
    proxy unless FORWARDED_ALLOW_IPS (or --forwarded-allow-ips) names one."""
    import uvicorn
    from typer.testing import CliRunner

    from api import cli

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.append(kw))
    monkeypatch.setattr(
        cli,
        "_settings",
        lambda: type("S", (), {"auth": type("A", (), {"signing_key": lambda self: "k"})()})(),
    )
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    # serve sets the workers' pool size in the environment when it is not set: set here, it is put back
    # after the test (in one test process it would otherwise change every later test's pool)
    monkeypatch.setenv("RISKMAP_DB_POOL_SIZE", "5")
    assert CliRunner().invoke(cli.app, ["serve"]).exit_code == 0
    assert seen[-1]["forwarded_allow_ips"] == ""
    assert seen[-1]["proxy_headers"] is False
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.8.0.1")
    assert CliRunner().invoke(cli.app, ["serve"]).exit_code == 0
    assert seen[-1]["forwarded_allow_ips"] == "10.8.0.1"
    assert seen[-1]["proxy_headers"] is True
    assert CliRunner().invoke(cli.app, ["serve", "--forwarded-allow-ips", "10.8.0.2"]).exit_code == 0
    assert seen[-1]["forwarded_allow_ips"] == "10.8.0.2"
