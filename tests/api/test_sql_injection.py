"""SQL-injection strings in every query (and string path) parameter of every GET route, as an admin: no 500,
and the database is unchanged — row counts and a checksum of every table before and after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import AuthSettings, DatabaseSettings, Settings
from tests.api.builders import (
    HUIAN,
    QUANGANG,
    created,
    enterprise_feature,
    guarded,
    protection_target_feature,
    risk_unit_feature,
)
from tests.principals import TEST_SECRET, add_test_user, bearer

INJECTIONS = [
    "' OR '1'='1",
    "350505'; DROP TABLE enterprises; --",
    "1; DELETE FROM risk_units",
    "x') UNION SELECT password_hash FROM users --",
    "$$; TRUNCATE users CASCADE; $$",
    "\\'; UPDATE enterprises SET name = 'pwned'; --",
]
# Filters the list routes read beside their declared parameters (api/features.py `filters`).
UNDECLARED = {
    "/api/v1/jurisdictions": ["level", "parent_adcode"],
    "/api/v1/enterprises": ["sector"],
    "/api/v1/risk-units": ["level", "kind", "enterprise_id"],
    "/api/v1/protection-targets": ["type", "gb_class"],
}
VALID = {"adcode": "350505", "period": "2026-12", "risk_unit_id": "1", "key": "1"}
TABLES = [
    "jurisdictions",
    "enterprises",
    "risk_units",
    "protection_targets",
    "risk_contours",
    "users",
    "api_keys",
]


def _fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    """Rows and an md5 of every row of every table (identifiers are ours, from TABLES)."""
    out = {}
    with engine.connect() as conn:
        for t in TABLES:
            out[t] = tuple(
                conn.execute(
                    text(
                        f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {t} t"
                    )
                ).one()
            )
        out["tables"] = (
            conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one(),
            "",
        )
    return out


@pytest.fixture(scope="module")
def admin(database_url: str, engine: Engine, boundaries: None) -> Iterator[Any]:
    with engine.begin() as conn:
        conn.execute(
            text("TRUNCATE risk_units, protection_targets, enterprises, users RESTART IDENTITY CASCADE")
        )
    app = create_app(
        Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret=TEST_SECRET))
    )
    with TestClient(app, headers=bearer(add_test_user(engine, "admin"), "admin")) as c:
        c = guarded(c)
        for n, at in ((1, QUANGANG), (2, HUIAN)):
            eid = created(c.post("/api/v1/enterprises", json=enterprise_feature(n, at=at)))["id"]
            created(
                c.post(
                    "/api/v1/risk-units",
                    json=risk_unit_feature(eid, at=at, hazard_kind="lpg_supply_base", capacity_m3=500),
                )
            )
            created(c.post("/api/v1/protection-targets", json=protection_target_feature(at=at)))
        yield c


def _get_routes(client: Any) -> list[tuple[str, list[str], list[str]]]:
    """(path, its query parameters, its string path parameters) of every GET route."""
    routes = []
    for path, ops in client.get("/openapi.json").json()["paths"].items():
        if "get" not in ops:
            continue
        params = ops["get"].get("parameters", [])
        query = [p["name"] for p in params if p["in"] == "query"] + UNDECLARED.get(path, [])
        strings = [p["name"] for p in params if p["in"] == "path" and p["schema"].get("type") == "string"]
        routes.append((path, query, strings))
    return routes


def test_injection_strings_change_nothing(admin: Any, engine: Engine) -> None:
    before = _fingerprint(engine)
    routes = _get_routes(admin)
    assert len(routes) >= 25
    sent = 0
    for path, query, strings in routes:
        base = {k: v for k, v in VALID.items() if k in query}
        url = path.replace("{key}", "350505" if path.startswith("/api/v1/jurisdictions") else "1").replace(
            "{risk_unit_id}", "1"
        )
        for name in query:
            for payload in INJECTIONS:
                response = admin.get(url, params={**base, name: payload})
                assert response.status_code < 500, (path, name, payload, response.text[:300])
                sent += 1
        for name in strings:
            for payload in INJECTIONS:
                response = admin.get(path.replace("{" + name + "}", payload))
                assert response.status_code in (404, 422), (path, payload, response.status_code)
                sent += 1
    assert sent > 400
    assert _fingerprint(engine) == before
    assert admin.get("/api/v1/enterprises").json()["numberMatched"] == 2  # and the register still reads
