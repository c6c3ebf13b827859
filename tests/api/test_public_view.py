"""What the anonymous public gets from the demo register: the published four-colour map and aggregated
statistics, and in them no name, person, phone or credit code of an enterprise or risk unit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import AuthSettings, DatabaseSettings, Settings
from geo.store.demo import load_demo
from geo.store.repository import clear_synthetic
from tests.api.builders import guarded
from tests.principals import TEST_SECRET

PROTECTED = """
SELECT name FROM enterprises UNION SELECT credit_code FROM enterprises
UNION SELECT contact_person FROM enterprises UNION SELECT contact_phone FROM enterprises
UNION SELECT name FROM risk_units UNION SELECT responsible_person FROM risk_units
UNION SELECT responsible_phone FROM risk_units
"""

PUBLIC_PAGES = [
    ("/maps/four-color", {"adcode": "350505", "zones": "grid", "cell_m": 2000, "public": "true"}),
    ("/maps/four-color", {"adcode": "350500", "zones": "children", "public": "true"}),
    ("/api/v1/analysis/four-color", {"adcode": "350505", "zones": "grid", "cell_m": 2000}),
    ("/api/v1/analysis/four-color", {"adcode": "350500", "zones": "children"}),
    ("/api/v1/analysis/four-color", {"adcode": "350505", "zones": "h3", "h3_res": 8}),
    ("/api/v1/analysis/summary", {"adcode": "350500"}),
    ("/api/v1/analysis/summary", {"adcode": "350505"}),
]


@pytest.fixture(scope="module")
def demo(database_url: str, engine: Engine, boundaries: None) -> Iterator[list[str]]:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, protection_targets, enterprises RESTART IDENTITY CASCADE"))
    load_demo(engine, seed=5, scale=0.1, echo=lambda _: None)
    with engine.connect() as conn:
        protected = [str(v) for v in conn.execute(text(PROTECTED)).scalars() if v and len(str(v)) >= 2]
    yield protected
    with engine.begin() as conn:
        clear_synthetic(conn)


@pytest.fixture(scope="module")
def public(database_url: str, demo: list[str]) -> Iterator[Any]:
    settings = Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret=TEST_SECRET))
    with TestClient(create_app(settings)) as c:
        yield guarded(c)


@pytest.mark.parametrize(("path", "params"), PUBLIC_PAGES, ids=[f"{p} {q}" for p, q in PUBLIC_PAGES])
def test_public_pages_hold_no_protected_field(
    public: Any, demo: list[str], path: str, params: dict[str, Any]
) -> None:
    response = public.get(path, params=params)
    assert response.status_code == 200, response.text[:300]
    page = response.text
    assert len(demo) > 100, "the demo register has names, people and phones to leak"
    # as written, and as JSON with \\u escapes (the map's data blocks)
    leaked = [v for v in demo if v in page or json.dumps(v)[1:-1] in page]
    assert leaked == [], f"{path} shows {leaked[:5]}"
    for key in ("enterprise_ids", "credit_code", "contact_phone", "responsible_person"):
        assert f'"{key}"' not in page


def test_public_statistics_are_counts(public: Any) -> None:
    body = public.get("/api/v1/analysis/summary", params={"adcode": "350500"}).json()
    assert body["risk_units"] > 0
    assert sum(body["counts"].values()) == body["risk_units"]
    assert body["overdue"]["items"] == []  # named units are not public; their number is
    assert body["overdue"]["count"] >= 0


def test_the_full_map_is_not_public_and_does_show_names(public: Any, demo: list[str], engine: Engine) -> None:
    """The same page without public=true: refused to the anonymous, and it does name enterprises (so the
    test above would catch a leak)."""
    params = {"adcode": "350505", "zones": "grid", "cell_m": 2000}
    assert public.get("/maps/four-color", params=params).status_code == 401
    from api.auth import current_principal
    from geo.access import SYSTEM

    public.app.dependency_overrides[current_principal] = lambda: SYSTEM
    try:
        page = public.get("/maps/four-color", params=params).text
    finally:
        public.app.dependency_overrides.clear()
    assert any(json.dumps(v)[1:-1] in page or v in page for v in demo if not v.isascii())
