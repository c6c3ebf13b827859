"""Limits of one request (issue #19 items 5 and 6), through the API as the anonymous public: the cost
caps refused before work, the time limit, and the body-size cap before authentication."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from api import limits
from api.app import create_app
from api.settings import AuthSettings, DatabaseSettings, LimitSettings, Settings
from geo import deadline
from geo.access import ANONYMOUS
from geo.deadline import TimedOut
from tests.api.builders import ok, problem
from tests.principals import TEST_SECRET

FOUR = "/api/v1/analysis/four-color"


@pytest.fixture
def anonymous(database_url: str, boundaries: None, clean: None) -> Iterator[Callable[..., TestClient]]:
    """`anonymous(**limits)`: an app with those limit settings, and a client without credentials."""
    clients: list[TestClient] = []

    def make(**limits: Any) -> TestClient:
        settings = Settings(
            db=DatabaseSettings(DATABASE_URL=database_url),
            auth=AuthSettings(secret=TEST_SECRET),
            limits=LimitSettings(**limits),
        )
        c = TestClient(create_app(settings))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def test_a_province_on_fine_h3_cells_is_refused_before_any_work(anonymous: Callable[..., TestClient]) -> None:
    """The request of the issue (543 s, 116 MB on main): refused at once, saying what to ask instead."""
    c = anonymous()
    started = time.perf_counter()
    r = c.get(FOUR, params={"adcode": "350000", "zones": "h3", "h3_res": 8})
    took = time.perf_counter() - started
    p = problem(r, "h3_res", status=422)
    assert "zones" in p["reason"], p
    assert "h3_res=" in p["reason"], p
    assert p["reason_zh"]
    assert took < 5, took  # an estimate, not the work
    # what it suggests is allowed
    coarser = int(p["reason"].split("h3_res=")[1].split(" ")[0])
    assert coarser < 8
    r = c.get(FOUR, params={"adcode": "350000", "zones": "h3", "h3_res": coarser}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["numberReturned"] > 1000


def test_the_cap_is_per_role_and_names_a_larger_cell(anonymous: Callable[..., TestClient]) -> None:
    c = anonymous(max_zones={"public": 100})
    p = problem(c.get(FOUR, params={"adcode": "350505", "zones": "grid", "cell_m": 1000}), "cell_m")
    assert "more than the 100" in p["reason"], p
    assert "cell_m=" in p["reason"], p
    assert ok(c.get(FOUR, params={"adcode": "350505", "zones": "grid", "cell_m": 5000}))["numberReturned"] > 0
    for path in ("/maps/four-color", "/maps/four-color.pdf"):
        r = c.get(path, params={"adcode": "350505", "zones": "grid", "cell_m": 1000, "public": "true"})
        problem(r, "cell_m")


@pytest.mark.parametrize(
    "params",
    [
        {"adcode": "350500"},
        {"adcode": "350500", "zones": "grid"},
        {"adcode": "350500", "zones": "h3"},
        {"adcode": "350505", "zones": "grid"},
        {"adcode": "350505", "zones": "h3"},
    ],
)
def test_the_default_request_for_the_demo_city_or_a_county_is_not_refused(
    anonymous: Callable[..., TestClient], params: dict[str, str]
) -> None:
    body = ok(anonymous().get(FOUR, params=params, timeout=60))
    assert body["numberReturned"] > 0


def test_python_work_over_the_time_limit_is_stopped_with_503(anonymous: Callable[..., TestClient]) -> None:
    c = anonymous(seconds={"public": 0.2})
    started = time.perf_counter()
    r = c.get(FOUR, params={"adcode": "350500", "zones": "h3", "h3_res": 8})
    took = time.perf_counter() - started
    assert r.status_code == 503, r.text
    body = r.json()
    assert "limit of 0.2 s" in body["detail"], body
    assert "h3_res" in body["detail"], body
    assert body["errors"][0]["reason_zh"]
    assert took < 3, took  # stopped, not finished and then refused


def test_the_time_left_is_the_statement_timeout(engine: Engine) -> None:
    """The SQL side of the limit: a query cannot outrun it either."""
    with engine.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "1min"  # make_engine's default
    with deadline.deadline(0.3), engine.connect() as conn:
        deadline.apply(conn)
        started = time.perf_counter()
        with pytest.raises(OperationalError, match="statement timeout"):
            conn.execute(text("SELECT pg_sleep(3)"))
        assert time.perf_counter() - started < 1.5
    with engine.connect() as conn:  # SET LOCAL: gone with the transaction
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "1min"


def test_an_anonymous_json_body_over_the_limit_is_413_before_it_is_read(
    anonymous: Callable[..., TestClient],
) -> None:
    c = anonymous(max_body_bytes=1 << 20)
    big = b'{"type": "Feature", "properties": {"name": "' + b"x" * (2 << 20) + b'"}}'
    for headers in ({"Content-Type": "application/json"}, {"Content-Type": "text/plain"}):
        r = c.post("/api/v1/enterprises", content=big, headers=headers)
        p = problem(r, "body", status=413)
        assert "1048576 bytes" in p["reason"], p

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(4):
            yield b" " * (512 << 10)

    r = c.post("/api/v1/enterprises", content=chunks(), headers={"Content-Type": "application/json"})
    problem(r, "body", status=413)
    # a body under the limit goes on as before (validated, then refused without credentials)
    assert c.post("/api/v1/enterprises", json={"type": "Feature"}).status_code in (401, 422)


def test_more_expensive_requests_than_the_process_runs_at_once_are_429(
    anonymous: Callable[..., TestClient],
) -> None:
    c = anonymous(max_concurrent=1)
    slots = c.app.state.expensive_slots  # type: ignore[attr-defined]
    assert slots.acquire(blocking=False)  # another request is running
    try:
        r = c.get(FOUR, params={"adcode": "350500"})
        assert r.status_code == 429, r.text
        assert r.headers["Retry-After"] == "5"
        assert "busy" in r.json()["detail"]
    finally:
        slots.release()
    assert ok(c.get(FOUR, params={"adcode": "350500"}))["numberReturned"] > 0


def test_a_query_cut_by_the_time_limit_is_timed_out_not_database_unavailable(engine: Engine) -> None:
    """PostgreSQL's cancel (an OperationalError, which is otherwise 503 "database unavailable") becomes the
    time limit's own error, with what to ask instead."""
    app = SimpleNamespace(state=SimpleNamespace(expensive_slots=threading.BoundedSemaphore(1)))
    request = Request({"type": "http", "app": app, "headers": []})
    settings = Settings(limits=LimitSettings(seconds={"public": 0.3}))

    def sleep_in_the_database() -> None:
        with (
            limits.expensive(request, settings, ANONYMOUS, hint="ask for less", hint_zh="请求更少"),
            engine.connect() as conn,
        ):
            deadline.apply(conn)
            conn.execute(text("SELECT pg_sleep(3)"))

    with pytest.raises(TimedOut, match=r"limit of 0\.3 s") as caught:
        sleep_in_the_database()
    assert caught.value.hint == "ask for less"
    assert app.state.expensive_slots.acquire(blocking=False)  # the place was given back


def test_work_stops_when_the_client_has_left() -> None:
    with deadline.deadline(60, gone=lambda: True), pytest.raises(deadline.ClientGone):
        deadline.check()
    with deadline.deadline(60, gone=lambda: False):
        deadline.check()
        with deadline.deadline(600) as inner:  # a nested limit never extends the outer one
            assert inner.remaining() <= 60
