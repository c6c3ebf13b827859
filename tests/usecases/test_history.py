"""api.usecases.history without HTTP: a row's records in the principal's scope, and the trend."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from api.usecases import history
from geo.access import Principal, Role
from geo.errors import InvalidInput, NotFound

REGULATOR = Principal(Role.regulator, "quangang-reg", adcodes=("350505",))


@pytest.fixture
def conn(engine: Engine, layout: dict[str, Any]) -> Iterator[Connection]:
    with engine.connect() as c:
        yield c
        c.rollback()


def test_a_rows_history_in_scope(conn: Connection, layout: dict[str, Any]) -> None:
    found = history.entity_history(conn, REGULATOR, "enterprises", layout["A"])
    assert (found.entity, found.id) == ("enterprises", layout["A"])
    (create,) = found.records
    assert create["action"] == "create"
    assert create["id"] is None  # rebuilt from the row (migration 0009), not a stored record
    assert create["new_values"]["name"] == "A厂"
    assert create["actor"].startswith("db:")  # written by COPY, not through the API
    other = Principal(Role.enterprise, "b-plant", enterprise_id=layout["B"])
    with pytest.raises(NotFound):
        history.entity_history(conn, other, "enterprises", layout["A"])


def test_the_trend_is_counts_by_level(conn: Connection) -> None:
    month = dt.date.today().replace(day=1)
    trend = history.level_trend(conn, "350505", month, month)
    assert trend.name == "泉港区"
    assert trend.months[-1]["counts"] == {"1": 1, "2": 1, "3": 2, "4": 1}
    with pytest.raises(InvalidInput) as caught:
        history.parse_month("2026-13", "from")
    assert caught.value.problems[0].field == "from"
