"""A module's own register for the page and map tests: emptied once, then filled through the API by an admin
(the `client` fixture empties it before every test, which a module-scoped browser world cannot use)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import AuthSettings, DatabaseSettings, Settings
from tests.principals import TEST_SECRET, add_test_user, bearer


def empty_register(engine: Engine) -> None:
    """No enterprise, risk unit, protection target, hazard or inspection; the boundaries stay."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, protection_targets, enterprises RESTART IDENTITY CASCADE"))
        conn.execute(text("TRUNCATE hazards, inspections RESTART IDENTITY CASCADE"))


def admin_app(database_url: str, engine: Engine) -> tuple[FastAPI, dict[str, str]]:
    """The app on the test database (signed with the suite's secret) and a new admin's bearer header."""
    settings = Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret=TEST_SECRET))
    return create_app(settings), bearer(add_test_user(engine, "admin"), "admin")
