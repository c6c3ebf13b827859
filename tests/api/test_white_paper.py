"""The risk white paper (风险白皮书): internal and public versions, PDF and .docx, from the data."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import docx
import pytest
from pypdf import PdfReader

from geo.report.white_paper import IndexInputs, parse_period, previous_period, safety_index
from tests.api.builders import guarded
from tests.api.test_exports import _load_register

PAPER = "/api/v1/reports/white-paper"
SECTIONS = (
    "总体情况",
    "四色分布图",
    "按行业领域统计",
    "按区域统计",
    "风险变化趋势",
    "重大风险",
    "安全防护距离",
    "联防联控",
    "隐患排查治理",
    "风险销号",
    "安全指数",
)


def _period() -> str:
    return dt.date.today().strftime("%Y-%m")


def _pdf_text(content: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(content)).pages))


def _docx_text(content: bytes) -> str:
    d = docx.Document(io.BytesIO(content))
    parts = [p.text for p in d.paragraphs]
    parts += [c.text for t in d.tables for row in t.rows for c in row.cells]
    return re.sub(r"\s+", "", "".join(parts))


@pytest.fixture
def register(client: Any, tmp_path: Path) -> Any:
    api = guarded(client)
    _load_register(api, tmp_path)
    return api


def test_internal_pdf_has_every_section_and_the_names(register: Any) -> None:
    r = register.get(PAPER, params={"adcode": "350505", "period": _period()})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert b"NotoSansCJK" in r.content  # the Chinese font is embedded (not boxes)
    assert b"DejaVu" not in r.content
    text = _pdf_text(r.content)
    for section in SECTIONS:
        assert section in text, section
    assert "内部版" in text
    assert "泉港化工1号有限公司" in text  # a major risk's enterprise is named in the internal version
    assert "安全指数=" not in text  # (the formula is written out in words below)
    assert "风险结构" in text
    assert "权重0.35" in text


def test_public_version_holds_no_names_people_or_phones(register: Any, client_as: Any) -> None:
    anonymous = client_as("public")
    for fmt in ("pdf", "docx"):
        r = anonymous.get(
            PAPER, params={"adcode": "350505", "period": _period(), "public": "true", "format": fmt}
        )
        assert r.status_code == 200, r.text
        text = _pdf_text(r.content) if fmt == "pdf" else _docx_text(r.content)
        assert "公开版" in text
        assert "总体情况" in text
        stored = register.get("/api/v1/risk-units", params={"limit": 100}).json()["features"]
        companies = register.get("/api/v1/enterprises", params={"limit": 100}).json()["features"]
        for f in companies:
            assert f["properties"]["name"] not in text
            for key in ("contact_person", "contact_phone"):
                if f["properties"].get(key):
                    assert f["properties"][key] not in text
        for f in stored:
            for key in ("responsible_person", "responsible_phone"):
                if f["properties"].get(key):
                    assert f["properties"][key] not in text
        assert not re.search(r"1[3-9]\d{9}", text)  # no mobile number


def test_docx_opens_and_holds_the_same_sections(register: Any) -> None:
    r = register.get(PAPER, params={"adcode": "350505", "period": _period(), "format": "docx"})
    assert r.status_code == 200, r.text
    d = docx.Document(io.BytesIO(r.content))
    headings = [p.text for p in d.paragraphs if p.style is not None and p.style.name.startswith("Heading")]
    assert headings[0].startswith("泉港区安全风险白皮书")
    for section in SECTIONS:
        assert any(section in h for h in headings), section
    assert len(d.tables) >= 5
    assert len(d.inline_shapes) >= 2  # the four-colour map and the trend chart


def test_the_internal_version_is_for_the_area(register: Any, client_as: Any) -> None:
    params = {"adcode": "350505", "period": _period(), "format": "docx"}
    assert client_as("public").get(PAPER, params=params).status_code == 401
    assert client_as("enterprise", enterprise_id=1).get(PAPER, params=params).status_code == 403
    assert client_as("regulator", adcodes=("340303",)).get(PAPER, params=params).status_code == 403
    assert client_as("regulator", adcodes=("350505",)).get(PAPER, params=params).status_code == 200


@pytest.mark.parametrize("period", ["2026-13", "26-01", "2999-01", "1999"])
def test_bad_periods_are_422_naming_the_field(client: Any, period: str) -> None:
    r = client.get(PAPER, params={"adcode": "350505", "period": period})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "period"


def test_unknown_jurisdiction_is_404(client: Any) -> None:
    assert (
        client.get(PAPER, params={"adcode": "999999", "period": _period(), "public": "true"}).status_code
        == 404
    )


def test_safety_index_formula() -> None:
    full = safety_index(
        IndexInputs(
            counts={1: 1, 2: 2, 3: 3, 4: 4},
            overdue=1,
            violations=1,
            hazards_screened=4,
            hazards_reported=10,
            hazards_closed=8,
        )
    )
    # R = 100(1 − (1 + 1)/10) = 80, C = 90, D = 75, H = 80
    assert full.components == {"R": 80.0, "C": 90.0, "D": 75.0, "H": 80.0}
    assert full.value == round(0.35 * 80 + 0.2 * 90 + 0.25 * 75 + 0.2 * 80, 1)
    partial = safety_index(IndexInputs(counts={1: 0, 2: 0, 3: 1, 4: 1}, overdue=0))
    assert partial.left_out == ["D", "H"]  # not measured: left out, never scored as perfect
    assert partial.value == 100.0
    assert safety_index(IndexInputs(counts={})).value is None


def test_periods() -> None:
    assert previous_period(parse_period("2026-01")).label == "2025-12"
    assert previous_period(parse_period("2026")).label == "2025"
    assert parse_period("2024-02").last == dt.date(2024, 2, 29)


def test_the_command_line_writes_the_same_paper(
    register: Any, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "paper.docx"
    args = ["report", "white-paper", "--adcode", "350505", "--period", _period(), "--public", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "公开版" in _docx_text(out.read_bytes())
    bad = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "paper.txt")])
    assert bad.exit_code != 0
    assert not (tmp_path / "paper.txt").exists()
