"""api.usecases.exports without HTTP: a register table in the principal's scope, written by the format's
writer, named for the download; 一县一册; bad kinds and formats."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from api.usecases import exports as usecase
from geo.access import ANONYMOUS, SYSTEM, Principal, Role, Unauthenticated
from geo.errors import InvalidInput

REGULATOR = Principal(Role.regulator, "quangang", adcodes=("350505",))
ELSEWHERE = Principal(Role.regulator, "huian", adcodes=("350521",))
DAY = dt.date(2026, 12, 1)


def test_a_table_in_scope(engine: Engine, layout: dict[str, Any]) -> None:
    mine = usecase.export_table(engine, REGULATOR, "enterprises", adcode="350505", fmt="csv", today=DAY)
    assert (mine.filename, mine.media_type, mine.rows) == (
        "企业_350505_2026-12-01.csv",
        "text/csv; charset=utf-8",
        6,
    )
    rows = list(csv.reader(io.StringIO(mine.content.decode("utf-8-sig"))))
    names = {r[rows[0].index("企业名称")] for r in rows[1:]}
    assert "'=E店" in names  # defused; the importer takes the apostrophe off again
    assert usecase.export_table(engine, ELSEWHERE, "enterprises", fmt="geojson").rows == 0
    every = usecase.export_table(engine, SYSTEM, "risk_units", fmt="xlsx", today=DAY)
    assert every.filename == "企业风险点_全部_2026-12-01.xlsx"
    assert every.rows == 5
    assert load_workbook(io.BytesIO(every.content)).active.max_row == 6
    with pytest.raises(Unauthenticated):
        usecase.export_table(engine, ANONYMOUS, "enterprises")


def test_bad_kind_and_format_name_the_field(engine: Engine) -> None:
    with pytest.raises(InvalidInput) as caught:
        usecase.export_table(engine, SYSTEM, "people")
    assert caught.value.problems[0].field == "kind"
    with pytest.raises(InvalidInput) as caught:
        usecase.export_table(engine, SYSTEM, "enterprises", fmt="pdf")
    assert caught.value.problems[0].field == "format"
    assert caught.value.problems[0].reason_zh


def test_registers_and_templates(engine: Engine, layout: dict[str, Any]) -> None:
    county = usecase.county_register(engine, REGULATOR, "350505")
    assert county.filename == "泉港区_一县一册.xlsx"
    book = load_workbook(io.BytesIO(county.content))
    text = " ".join(str(v) for ws in book for row in ws.iter_rows(values_only=True) for v in row if v)
    assert "A厂" in text  # 重大
    assert "B厂" in text  # 较大
    assert "C厂" not in text  # 一般: not in the 一县一册
    one = usecase.enterprise_register(engine, REGULATOR, layout["A"], "xlsx")
    assert one.filename == "A厂_一企一册.xlsx"
    template = usecase.import_template("risk_units")
    assert template.filename == "企业风险点导入模板.xlsx"
    assert template.content.startswith(b"PK")
