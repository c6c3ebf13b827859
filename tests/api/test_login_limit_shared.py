"""Sign-in limits kept in PostgreSQL: two limiters (two worker processes) and a restarted one count the same
failures, concurrent attempts from both cannot pass the limit, and `riskmap serve --workers 2` holds the limit
in total."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from api.login_limit import SharedLoginLimiter
from geo.errors import RateLimited

ROOT = Path(__file__).resolve().parents[2]
WINDOW = 15 * 60


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def empty(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE login_failures"))
    return engine


def _limiter(engine: Engine, clock: Clock, **limits: int) -> SharedLoginLimiter:
    return SharedLoginLimiter(lambda: engine, clock=clock, **limits)  # type: ignore[arg-type]


def test_two_workers_and_a_restart_count_the_same_failures(empty: Engine) -> None:
    clock = Clock()
    first, second = _limiter(empty, clock), _limiter(empty, clock)
    for n in range(5):
        (first if n % 2 else second).begin("ann", "10.9.0.1")
        clock.now += 10
    for limiter in (first, second, _limiter(empty, clock)):  # the third is a restarted process
        with pytest.raises(RateLimited) as caught:
            limiter.begin("ann", "10.9.0.1")
        assert caught.value.retry_after == WINDOW - 50
    assert len(first) == 2  # the pair and the address
    clock.now += WINDOW - 50  # the first failure leaves the window: one more attempt
    attempt = second.begin("ann", "10.9.0.1")
    first.succeeded(attempt)  # a success in one worker forgets the pair in all of them
    for _ in range(5):
        second.begin("ann", "10.9.0.1")
    with pytest.raises(RateLimited):
        first.begin("ann", "10.9.0.1")


def test_the_address_limit_is_shared_and_a_cancelled_attempt_does_not_count(empty: Engine) -> None:
    clock = Clock()
    first, second = (_limiter(empty, clock, max_failures=3, max_failures_per_address=4) for _ in range(2))
    first.begin("a", "10.9.1.1")
    second.cancel(second.begin("b", "10.9.1.1"))  # the database could not decide: taken back
    second.begin("b", "10.9.1.1")
    first.begin("c", "10.9.1.1")
    second.begin("d", "10.9.1.1")
    with pytest.raises(RateLimited):
        first.begin("e", "10.9.1.1")  # the fifth failure from the address, counted in two workers
    first.begin("e", "10.9.1.2")  # another address is not touched


def test_concurrent_attempts_in_two_workers_cannot_pass_the_limit(empty: Engine) -> None:
    clock = Clock()
    limiters = [_limiter(empty, clock, max_failures=5, max_failures_per_address=1_000) for _ in range(2)]
    passed: list[int] = []
    barrier = threading.Barrier(16)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            limiters[n % 2].begin("zed", "10.9.2.1")
            passed.append(n)
        except RateLimited:
            pass

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_workers(database_url: str, empty: Engine) -> Iterator[str]:
    """`riskmap serve --workers 2` on a loopback port, against the session's database."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "RISKMAP_DB_POOL_SIZE": "2"}
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, "the server did not start in 60 s"
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_two_worker_server_holds_the_limit_in_total(two_workers: str) -> None:
    statuses = []
    for _ in range(12):  # a new connection each time: the kernel hands them to either worker
        with httpx.Client(base_url=two_workers, timeout=10) as http:
            r = http.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong"})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) > 0
    assert statuses == [401] * 5 + [429] * 7  # five in total, not five per worker
