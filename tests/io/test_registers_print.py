"""Print-ready registers: PDF cells wrapped and never clipped, rows split cleanly across pages; Excel with
page setup and real date cells."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from pypdf import PdfReader

from geo.io.registers import (
    county_register_xlsx,
    enterprise_register_pdf,
    enterprise_register_xlsx,
    plan_pages,
    wrap_text,
)
from maps.print import cjk_font_family

LONG = ("液氨储罐泄漏遇点火源引发火灾爆炸，人员中毒窒息；" * 20)[:399] + "尾"  # 400 characters


def _register(n: int, text: str = "设置有毒气体报警仪") -> dict[str, Any]:
    frame = pd.DataFrame(
        {
            "name": [f"风险点{i:02d}号" for i in range(n)],
            "level": [1 + i % 4 for i in range(n)],
            "assessment_method": ["direct"] * n,
            "accident_types": [text] * n,
            "hazards": [text] * n,
            "control_measures": [text] * n,
            "control_level": ["公司级"] * n,
            "responsible_person": ["陈建华"] * n,
            "assessed_on": [dt.date(2025, 3, 1)] * n,
            "next_assessment_due": [dt.date(2026, 3, 1)] * n,
        }
    )
    geoms = np.array([shapely.Point(118.88, 25.11)] * n, dtype=object)
    enterprise = {"name": "泉港石化储运有限公司", "credit_code": "91350505MA2XY01234"}
    return {"enterprise": enterprise, "risk_units": frame, "geometries": geoms}


def _pdf_text(pdf: bytes) -> list[str]:
    return [re.sub(r"\s+", "", page.extract_text() or "") for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.fixture(scope="module")
def font() -> str:
    return cjk_font_family()


def test_a_cell_of_400_characters_is_not_clipped(font: str) -> None:
    pdf = enterprise_register_pdf(_register(1, LONG), font_family=font)
    text = "".join(_pdf_text(pdf))
    assert text.count(LONG) == 3  # accident types, hazards and measures: each whole


def test_long_rows_move_to_the_next_page_whole_and_the_header_repeats(font: str) -> None:
    medium = LONG[:220]
    pdf = enterprise_register_pdf(_register(12, medium), font_family=font)
    pages = _pdf_text(pdf)
    assert len(pages) > 1
    for page in pages:
        assert "风险点名称" in page
        assert "管控措施" in page
    for i in range(12):  # each row on one page: none is cut at a page end (they fit on a page)
        assert sum(page.count(f"风险点{i:02d}号") for page in pages) == 1
    assert sum(page.count(medium) for page in pages) == 36  # 12 rows × 3 long cells, none cut


def test_a_row_taller_than_a_page_is_split_at_a_line() -> None:
    assert plan_pages([3, 5, 2], 6, 6) == [[(0, 0, 3)], [(1, 0, 5)], [(2, 0, 2)]]
    assert plan_pages([2, 14], 6, 6) == [[(0, 0, 2), (1, 0, 4)], [(1, 4, 10)], [(1, 10, 14)]]
    assert plan_pages([], 6, 6) == [[]]


def test_wrapping_keeps_every_character() -> None:
    lines = wrap_text(LONG, 1.5)
    assert "".join(lines) == LONG
    assert max(len(line) for line in lines) <= 1.5 * 72 / 7


def test_enterprise_workbook_has_page_setup_and_date_cells() -> None:
    wb = openpyxl.load_workbook(io.BytesIO(enterprise_register_xlsx(_register(3))))
    ws = wb["风险点清单"]
    header = [c.value for c in ws[1]]
    row = dict(zip(header, list(ws[2]), strict=True))
    for name in ("评估日期", "下次评估日期"):
        cell = next(c for h, c in row.items() if h and h.startswith(name))
        assert cell.is_date
        assert cell.value.date() == (dt.date(2025, 3, 1) if name == "评估日期" else dt.date(2026, 3, 1))
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 0
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$1"
    info = wb["企业基本情况"]
    exported = next(r[1] for r in info.iter_rows() if r[0].value == "导出日期")
    assert exported.is_date


def test_county_workbook_prints_landscape_fitted_with_its_header_on_every_page() -> None:
    rows = [
        {
            "jurisdiction_name": "泉港区",
            "jurisdiction_adcode": "350505",
            "enterprise_name": "泉港石化",
            "kind": "enterprise",
            "name": f"储罐{i}",
            "level": 1 + i % 2,
            "control_measures": LONG,
            "next_assessment_due": dt.date(2026, 5, 1),
        }
        for i in range(40)
    ]
    register = {"jurisdiction": {"name": "泉港区", "adcode": "350505"}, "rows": rows}
    wb = openpyxl.load_workbook(io.BytesIO(county_register_xlsx(register)))
    ws = wb["重大较大风险清单"]
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 0
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$2"
    due = ws.cell(row=3, column=18)
    assert due.is_date
    assert due.value.date() == dt.date(2026, 5, 1)
    assert ws.cell(row=3, column=12).alignment.wrap_text
