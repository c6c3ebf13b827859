"""Observability: a request id in a header, in error bodies and in the JSON access log (with the principal and
the timing); Prometheus /metrics for operators only; `riskmap --version`; live and ready health checks."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.observability import JsonFormatter
from api.settings import AuthSettings, DatabaseSettings, Settings
from geo.store.migrate import head_revision
from tests.principals import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
ENTERPRISES = "/api/v1/enterprises"


def _access(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "riskmap.access"]  # type: ignore[attr-defined]


def test_every_response_has_a_request_id_and_errors_carry_it(client: Any) -> None:
    ok = client.get("/api/v1/health")
    first = ok.headers["X-Request-ID"]
    assert len(first) == 32
    assert client.get("/api/v1/health").headers["X-Request-ID"] != first
    missing = client.get(f"{ENTERPRISES}/424242")
    assert missing.status_code == 404
    assert missing.json()["request_id"] == missing.headers["X-Request-ID"]
    assert missing.json()["detail"] == "no enterprise with id 424242"
    assert int(missing.headers["content-length"]) == len(missing.content)
    # A proxy's id is kept when it is sane, replaced when it is not.
    assert (
        client.get("/api/v1/health", headers={"X-Request-ID": "edge-42.a_b"}).headers["X-Request-ID"]
        == "edge-42.a_b"
    )
    odd = client.get("/api/v1/health", headers={"X-Request-ID": "x" * 65}).headers["X-Request-ID"]
    assert odd != "x" * 65
    assert len(odd) == 32
    bad = client.get(ENTERPRISES, params={"limit": "many"})
    assert bad.status_code == 422
    assert bad.json()["request_id"] == bad.headers["X-Request-ID"]
    assert bad.json()["errors"][0]["field"] == "limit"
    # an error body of 1 KB or more is gzipped (api/compression.py) and still carries the id
    feature = {
        "type": "Feature",
        "geometry": None,
        "properties": {"name": "x", "credit_code": "y" * 15, "sector": "z" * 400},
    }
    big = client.post(ENTERPRISES, json=feature, headers={"Accept-Encoding": "gzip"})
    assert big.status_code == 422
    assert big.headers.get("content-encoding") == "gzip"
    assert big.json()["request_id"] == big.headers["X-Request-ID"]
    assert {e["field"] for e in big.json()["errors"]} >= {"properties.credit_code", "properties.sector"}


def test_the_access_log_names_the_request_principal_route_and_timing(
    client: Any, client_as: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="riskmap.access")
    r = client.get(f"{ENTERPRISES}/424242", headers={"X-Request-ID": "trace-1"})
    public = client_as("public").get("/api/v1/health")
    by_id = {f["request_id"]: f for f in _access(caplog)}
    entry = by_id["trace-1"]
    assert r.status_code == 404
    assert entry["method"] == "GET"
    assert entry["path"] == f"{ENTERPRISES}/424242"
    assert entry["route"] == ENTERPRISES + "/{key}"  # the template: one series per route, not per id
    assert entry["status"] == 404
    assert entry["principal"].startswith("test-admin-")
    assert entry["role"] == "admin"
    assert entry["duration_ms"] >= 0
    anonymous = by_id[public.headers["X-Request-ID"]]
    assert anonymous["principal"] is None  # the health check asks nobody who they are
    # The formatter writes one JSON object per line with these fields.
    record = next(r for r in caplog.records if r.name == "riskmap.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "riskmap.access"
    assert line["message"] == "request"
    assert line["request_id"] == record.fields["request_id"]  # type: ignore[attr-defined]


def _samples(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_metrics_are_for_operators_and_count_requests_by_route(
    client: Any, client_as: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        client.get(f"{ENTERPRISES}/424242")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    requests = _samples(r.text, "riskmap_http_requests_total")
    # the GET's sample of this exact route: the process's registry also holds what earlier tests asked (a PATCH's
    # 404, or a 404 on /enterprises/{key}/history, whose route also begins with /enterprises/{)
    route = next(
        k
        for k in requests
        if f'route="{ENTERPRISES}/{{key}}"' in k and 'status="404"' in k and 'method="GET"' in k
    )
    assert requests[route] >= 3
    assert _samples(r.text, "riskmap_http_request_duration_seconds_count")
    assert any('le="1.5"' in k for k in _samples(r.text, "riskmap_http_request_duration_seconds_bucket"))
    pool = _samples(r.text, "riskmap_db_pool_connections")
    # twice the configured pool size: its overflow is kept open too (geo.store.engine.make_engine)
    assert any('state="size"' in k and v == 10 for k, v in pool.items())
    assert "riskmap_imports_total" in r.text or "riskmap_imports" in r.text
    # Not for anyone else.
    assert client_as("regulator", adcodes=("350505",)).get("/metrics").status_code == 403
    anonymous = client_as("public")
    assert anonymous.get("/metrics").status_code == 401
    # A scraper with the configured token.
    monkeypatch.setenv("RISKMAP_METRICS_TOKEN", "a-long-scrape-token-for-tests")
    ok = anonymous.get("/metrics", headers={"Authorization": "Bearer a-long-scrape-token-for-tests"})
    assert ok.status_code == 200
    assert "riskmap_http_requests_total" in ok.text
    assert anonymous.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_live_and_ready(client: Any) -> None:
    assert client.get("/api/v1/health/live").json() == {"status": "live"}
    ready = client.get("/api/v1/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "schema_revision": head_revision()}


def test_live_without_a_database_but_not_ready() -> None:
    settings = Settings(
        db=DatabaseSettings(DATABASE_URL="postgresql+psycopg2://nobody:x@127.0.0.1:1/none"),
        auth=AuthSettings(secret=TEST_SECRET),
    )
    with TestClient(create_app(settings)) as api:
        assert api.get("/api/v1/health/live").status_code == 200
        r = api.get("/api/v1/health/ready")
        assert r.status_code == 503
        assert r.json()["status"] == "not ready"
        assert "database unreachable" in r.json()["reason"]
        assert r.json()["detail"] == r.json()["reason"]  # our error body, as the document says
        assert r.json()["errors"][0]["field"] == "database"
        assert r.json()["request_id"] == r.headers["X-Request-ID"]
        assert r.headers["X-Request-ID"]


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "--version"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("riskmap ")
    assert done.stdout.split()[1][0].isdigit()
