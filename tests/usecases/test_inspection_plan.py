"""api.usecases.inspection_plan without HTTP: the draw follows the levels, the sheets hold the plan, and the
CSV and Excel writers (geo/io/writers.py) write them with formula-like text defused."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from api.settings import Settings
from api.usecases.inspection_plan import (
    CHECK_HEADER,
    SELF_HEADER,
    check_sheet,
    draw_inspection_plan,
    plan_sheets,
    self_sheet,
)
from api.usecases.joint_prevention import UnknownJurisdiction
from geo.access import Forbidden, Principal, Role
from geo.io.writers import write_rows_csv, write_sheets_xlsx
from geo.joint_prevention import parse_period

REGULATOR = Principal(Role.regulator, "quangang", adcodes=("350505",))


@pytest.fixture
def conn(engine: Engine, layout: dict[str, Any]) -> Iterator[Connection]:
    with engine.connect() as c:
        yield c
        c.rollback()


def test_a_years_plan_follows_the_levels(
    conn: Connection, layout: dict[str, Any], settings: Settings
) -> None:
    plan = draw_inspection_plan(conn, REGULATOR, "350505", parse_period("2026"), 3, settings)
    assert (plan.adcode, plan.name, plan.seed) == ("350505", "泉港区", 3)
    per = Counter(c.enterprise_id for c in plan.checks)
    expected = {"A": 12, "B": 6, "C": 4, "D": 4, "E": 1, "F": 1}  # F has no unit: checked as low risk
    assert {k: per[layout[k]] for k in expected} == expected
    assert plan.levels[layout["F"]] is None
    pairs = [frozenset(c.inspector_ids) for c in plan.checks]
    assert len(set(pairs)) == len(pairs)  # the synthetic roster is big enough that no pair repeats
    assert all(  # the home department inspects
        plan.inspectors[i].jurisdiction_adcode == "350505" for c in plan.checks for i in c.inspector_ids
    )
    assert plan.roster_synthetic
    again = draw_inspection_plan(conn, REGULATOR, "350505", parse_period("2026"), 3, settings)
    assert again.checks == plan.checks


def test_the_plan_as_sheets(conn: Connection, layout: dict[str, Any], settings: Settings) -> None:
    plan = draw_inspection_plan(conn, REGULATOR, "350505", parse_period("2026-12"), 3, settings)
    checks, selfs, notes = plan_sheets(plan)
    assert (checks.title, selfs.title, notes.title) == ("双随机抽查计划", "企业自查频次", "说明")
    assert checks.header == CHECK_HEADER
    assert len(checks.rows) == len(plan.checks)
    assert "A厂" in {r[3] for r in checks.rows}  # 重大: every month
    assert all(r[10] == r[12] == "泉港区" for r in checks.rows)
    assert selfs.header == SELF_HEADER
    by_name = {r[1]: r for r in selfs.rows}
    assert by_name["C厂"][8] == "2026-12-01 2026-12-16"  # 一般: half-monthly, dates for a month
    assert by_name["F景区"][4] == "否（按低风险）"
    assert ["随机种子 seed", 3] in [list(r) for r in notes.rows]
    year = draw_inspection_plan(conn, REGULATOR, "350505", parse_period("2026"), 3, settings)
    assert {r[8] for r in self_sheet(year).rows} == {""}  # a year lists no dates


def test_the_writers_defuse_formula_like_names(conn: Connection, settings: Settings) -> None:
    plan = draw_inspection_plan(conn, REGULATOR, "350505", parse_period("2026"), 3, settings)
    data = write_rows_csv(*check_sheet(plan)[1:])
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == CHECK_HEADER
    assert "'=E店" in {r[3] for r in rows[1:]}
    assert "=E店" not in {r[3] for r in rows[1:]}

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(write_sheets_xlsx(plan_sheets(plan))))
    assert book.sheetnames == ["双随机抽查计划", "企业自查频次", "说明"]
    sheet = book["双随机抽查计划"]
    assert sheet.max_row == len(plan.checks) + 1
    assert sheet.freeze_panes == "A2"
    names = {row[3] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert "'=E店" in names  # text, not a formula
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_scope_and_unknown_jurisdictions(conn: Connection, settings: Settings) -> None:
    elsewhere = Principal(Role.regulator, "huian", adcodes=("350521",))
    with pytest.raises(Forbidden):
        draw_inspection_plan(conn, elsewhere, "350505", parse_period("2026"), 0, settings)
    with pytest.raises(UnknownJurisdiction):
        draw_inspection_plan(conn, REGULATOR, "999999", parse_period("2026"), 0, settings)
