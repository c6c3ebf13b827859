"""Schemathesis against the OpenAPI schema, signed in as an admin: whatever it sends, no 500, and every answer
is one the document describes (its status, its media type, a body valid against its schema).

Bounded: a few examples per operation (RISKMAP_SCHEMATHESIS_EXAMPLES for a deeper run). Rows and
jurisdictions it makes are removed afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import AuthSettings, DatabaseSettings, Settings
from tests.api.builders import HUIAN, QUANGANG, enterprise_feature, risk_unit_feature
from tests.principals import TEST_SECRET, add_test_user, bearer

AUTH: dict[str, str] = {}
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


# Reading the schema needs no database; the module fixture gives the app the test database before any call.
APP = create_app(
    Settings(
        db=DatabaseSettings(DATABASE_URL="postgresql://unused@127.0.0.1/none"),
        auth=AuthSettings(secret=TEST_SECRET),
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def register(database_url: str, engine: Engine, boundaries: None) -> Iterator[None]:
    with engine.begin() as conn:
        conn.execute(
            text("TRUNCATE risk_units, protection_targets, enterprises, users RESTART IDENTITY CASCADE")
        )
        before = set(conn.execute(text("SELECT adcode FROM jurisdictions")).scalars())
    app = APP
    # The schema was read before the test database existed: point the app at it before its lifespan starts.
    app.state.settings.db = DatabaseSettings(DATABASE_URL=database_url)
    app.state.engine = engine
    AUTH.update(bearer(add_test_user(engine, "admin"), "admin"))
    from fastapi.testclient import TestClient

    c = TestClient(app, headers=AUTH)
    for n, at in ((1, QUANGANG), (2, HUIAN)):  # a few rows, so that ids 1 and 2 exist
        eid = c.post("/api/v1/enterprises", json=enterprise_feature(n, at=at)).json()["id"]
        c.post("/api/v1/risk-units", json=risk_unit_feature(eid, at=at))
    yield
    with engine.begin() as conn:
        conn.execute(
            text("TRUNCATE risk_units, protection_targets, enterprises, users RESTART IDENTITY CASCADE")
        )
        made = set(conn.execute(text("SELECT adcode FROM jurisdictions")).scalars()) - before
        while made:  # children before their parents
            leaves = set(
                conn.execute(
                    text("SELECT adcode FROM jurisdictions j WHERE adcode = ANY(:m) AND NOT EXISTS "
                         "(SELECT 1 FROM jurisdictions c WHERE c.parent_adcode = j.adcode)"),
                    {"m": list(made)},
                ).scalars()
            )  # fmt: skip
            conn.execute(text("DELETE FROM jurisdictions WHERE adcode = ANY(:l)"), {"l": list(leaves)})
            made -= leaves


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("RISKMAP_SCHEMATHESIS_EXAMPLES", "6")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_responses_match_the_schema(case: Any) -> None:
    """No 500, and every answer is one the document describes: a documented status, its media type, a body
    that validates against the documented schema."""
    response = case.call(headers=AUTH)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:500]}"
    )
    case.validate_response(response, checks=CHECKS, headers=AUTH)
