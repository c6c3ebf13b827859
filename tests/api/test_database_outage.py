"""The database restarted under a running service: every request gets a clean 503 JSON during the outage,
and the same app object serves again once the database is back (no service restart).

The test runs its own PostgreSQL (initdb in a temporary directory, as the `postgres` OS user, on a free
port) so stopping it disturbs nobody; it needs root (to act as `postgres`) and PostgreSQL's server binaries.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, pool, text

from api.app import create_app
from api.settings import AuthSettings, DatabaseSettings, Settings
from geo.store.migrate import head_revision, upgrade
from tests.principals import TEST_SECRET, add_test_user, bearer

PG_BIN = Path(os.environ.get("RISKMAP_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateServer:
    """A throwaway PostgreSQL cluster run as the `postgres` OS user."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="riskmap-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8")

    def _as_postgres(self, *cmd: Any) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, cmd)],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=self.dir,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.dir / "log", "-w", "start"
        )

    def stop(self) -> None:
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateServer]:
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip("needs root, runuser and PostgreSQL's server binaries to run a private server")
    srv = PrivateServer()
    try:
        srv.start()
        admin = create_engine(srv.url(), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE riskmap"))
        riskmap = create_engine(srv.url("riskmap"), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        with riskmap.connect() as conn:
            conn.execute(text("CREATE EXTENSION postgis"))
        upgrade(srv.url("riskmap"))
        yield srv
    finally:
        srv.remove()


def _all_fail_cleanly(clients: dict[str, Any]) -> None:
    for who, (c, path) in clients.items():
        response = c.get(path)
        assert response.status_code == 503, (who, path, response.status_code, response.text)
        body = response.json()
        assert body["detail"] == "the database is unavailable; try again shortly"
        assert response.headers["Retry-After"]


def test_requests_fail_with_503_during_a_restart_and_succeed_after(server: PrivateServer) -> None:
    url = server.url("riskmap")
    settings = Settings(db=DatabaseSettings(DATABASE_URL=url), auth=AuthSettings(secret=TEST_SECRET))
    app = create_app(settings)
    engine = create_engine(url, poolclass=pool.NullPool)
    headers = bearer(add_test_user(engine, "admin"), "admin")
    engine.dispose()
    with TestClient(app) as anonymous:
        admin = TestClient(app, headers=headers)
        clients = {
            "health": (anonymous, "/api/v1/health"),
            "public list": (anonymous, "/api/v1/jurisdictions"),
            "signed-in list": (admin, "/api/v1/enterprises"),  # the token is checked against the database
            "analysis": (admin, "/api/v1/analysis/summary?adcode=350505"),
            "joint prevention": (admin, "/api/v1/analysis/joint-prevention?adcode=350505"),
            "public map": (anonymous, "/maps/four-color?adcode=350505&public=true"),
            "one row": (admin, "/api/v1/risk-units/1"),
        }
        assert anonymous.get("/api/v1/health").json()["schema_revision"] == head_revision()
        assert admin.get("/api/v1/enterprises").status_code == 200  # the pool now holds live connections
        server.stop()
        _all_fail_cleanly(clients)
        _all_fail_cleanly(clients)  # and again: nothing is left half-broken
        server.start()
        assert anonymous.get("/api/v1/health").status_code == 200
        assert admin.get("/api/v1/enterprises").json()["numberMatched"] == 0
        assert anonymous.get("/api/v1/jurisdictions").status_code == 200
        assert admin.get("/api/v1/analysis/summary?adcode=350505").status_code == 404  # no boundaries here
        assert anonymous.app is app


def test_a_restart_between_requests_costs_no_failed_request(server: PrivateServer) -> None:
    """Pooled connections die with the server; the pool's ping finds that out and reconnects."""
    url = server.url("riskmap")
    app = create_app(Settings(db=DatabaseSettings(DATABASE_URL=url), auth=AuthSettings(secret=TEST_SECRET)))
    with TestClient(app) as anonymous:
        for _ in range(3):
            assert anonymous.get("/api/v1/health").status_code == 200
        server.stop()
        server.start()
        for path in ("/api/v1/health", "/api/v1/jurisdictions", "/api/v1/health"):
            response = anonymous.get(path)
            assert response.status_code == 200, (path, response.text)
