"""Imports at the store level: every row checked, all rows or none written, upsert by natural key."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from geo.access import SYSTEM
from geo.store.imports import import_file
from tests.api.builders import credit_code
from tests.io.helpers import ENTERPRISE_HEADERS, RISK_HEADERS, enterprise_rows, risk_rows, write_csv

pytestmark = pytest.mark.usefixtures("boundaries", "clean")


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_enterprises_then_risk_units_from_csv(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ENTERPRISE_HEADERS, enterprise_rows(3))
    report = import_file(engine, path, kind="enterprises", principal=SYSTEM)
    assert (report.inserted, report.updated, report.written) == (3, 0, True)
    path = write_csv(tmp_path / "r.csv", RISK_HEADERS, risk_rows(10, credit_code(1)))
    report = import_file(engine, path, kind="risk_units", principal=SYSTEM)
    assert (report.inserted, report.updated) == (10, 0)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT level, control_level, accident_types, jurisdiction_adcode, next_assessment_due FROM risk_units WHERE name = '储罐区0001'"
            )
        ).one()
    assert row[0] == 2
    assert row[1] == "workshop"
    assert row[2] == ["08", "17"]
    assert row[3] == "350505"
    again = import_file(engine, path, kind="risk_units", principal=SYSTEM)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 10)  # the same file changes nothing
    assert _count(engine, "risk_units") == 10


def test_tabs_line_breaks_and_backslashes_are_stored_as_written(engine: Engine, tmp_path: Path) -> None:
    """The COPY text is escaped: a value with a tab, a line break, a carriage return or a backslash
    is stored exactly, and the columns after it stay in place."""
    import_file(
        engine,
        write_csv(tmp_path / "e.csv", ENTERPRISE_HEADERS, enterprise_rows(1)),
        kind="enterprises",
        principal=SYSTEM,
    )
    rows = risk_rows(2, credit_code(1))
    measures = "1. 双人巡检\t每日两次\n2. 报警仪 C:\\仪表\\01\r\n3. \\N 不是空值"
    rows[0][5] = measures
    report = import_file(
        engine, write_csv(tmp_path / "r.csv", RISK_HEADERS, rows), kind="risk_units", principal=SYSTEM
    )
    assert report.inserted == 2
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT control_measures, level FROM risk_units ORDER BY name")).all()
    assert stored[0] == (measures, 1)
    assert stored[1] == (rows[1][5], 2)
