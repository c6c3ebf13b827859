"""The trend dates units by their assessments: a register loaded today shows its real past."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import shapely
from sqlalchemy import Connection, Engine, text

from geo.access import Principal, Role
from geo.store import repository as repo
from geo.store.history import level_trend, set_actor

ADMIN = Principal(Role.admin, username="root")
QUANGANG = shapely.Point(118.88, 25.11)


@pytest.fixture
def db(engine: Engine, boundaries: None, clean: None) -> Engine:
    return engine


def _unit(conn: Connection, level: int, name: str, assessed_on: dt.date | None) -> int:
    values: dict[str, Any] = {
        "kind": "public_area",
        "sector": "urban_gas",
        "name": name,
        "geometry": QUANGANG,
        "level": level,
        "assessment_method": "direct",
        "jurisdiction_adcode": "350505",
        "assessed_on": assessed_on,
    }
    return int(repo.create_feature(conn, ADMIN, repo.RISK_UNITS, values)["id"])


def _counts(engine: Engine, first: dt.date, last: dt.date) -> dict[str, list[int]]:
    with engine.connect() as conn:
        trend = level_trend(conn, "350505", first, last)
    return {m["month"]: [m["counts"][str(lv)] for lv in (1, 2, 3, 4)] for m in trend}


def _this_month(engine: Engine) -> dt.date:
    with engine.connect() as conn:
        today = conn.execute(text("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date")).scalar_one()
    return today.replace(day=1)


def test_a_freshly_loaded_register_shows_its_past(db: Engine) -> None:
    now = _this_month(db)
    with db.begin() as conn:
        set_actor(conn, ADMIN)
        _unit(conn, 1, "液氨罐区", dt.date(2024, 3, 15))
        _unit(conn, 2, "燃气调压站", dt.date(2024, 6, 30))  # assessed on the last day of June
        _unit(conn, 3, "加油站", None)  # no assessment date: from when it was loaded
        _unit(conn, 4, "仓库", now + dt.timedelta(days=40))  # a date after loading: from loading
    got = _counts(db, dt.date(2024, 2, 1), dt.date(2024, 7, 1))
    assert got == {
        "2024-02": [0, 0, 0, 0],
        "2024-03": [1, 0, 0, 0],
        "2024-04": [1, 0, 0, 0],
        "2024-05": [1, 0, 0, 0],
        "2024-06": [1, 1, 0, 0],
        "2024-07": [1, 1, 0, 0],
    }
    (current,) = _counts(db, now, now).values()
    assert current == [1, 1, 1, 1]


def test_a_reassessment_changes_the_level_from_its_date(db: Engine) -> None:
    now = _this_month(db)
    with db.begin() as conn:
        set_actor(conn, ADMIN)
        uid = _unit(conn, 2, "储罐区", dt.date(2024, 1, 10))
        # entered today: reassessed in May 2024 as level 1
        repo.update_feature(
            conn, ADMIN, repo.RISK_UNITS, uid, {"level": 1, "assessed_on": dt.date(2024, 5, 20)}
        )
    got = _counts(db, dt.date(2023, 12, 1), dt.date(2024, 6, 1))
    assert got["2023-12"] == [0, 0, 0, 0]
    assert got["2024-01"] == got["2024-04"] == [0, 1, 0, 0]
    assert got["2024-05"] == got["2024-06"] == [1, 0, 0, 0]
    assert _counts(db, now, now)[now.strftime("%Y-%m")] == [1, 0, 0, 0]


def test_an_edit_of_the_date_alone_moves_the_making(db: Engine) -> None:
    with db.begin() as conn:
        set_actor(conn, ADMIN)
        uid = _unit(conn, 3, "码头", dt.date(2025, 2, 1))
        repo.update_feature(conn, ADMIN, repo.RISK_UNITS, uid, {"assessed_on": dt.date(2025, 4, 1)})
    got = _counts(db, dt.date(2025, 1, 1), dt.date(2025, 4, 1))
    # the unit was made with the February assessment; the later date is a re-assessment at level 3
    assert got == {
        "2025-01": [0, 0, 0, 0],
        "2025-02": [0, 0, 1, 0],
        "2025-03": [0, 0, 1, 0],
        "2025-04": [0, 0, 1, 0],
    }
