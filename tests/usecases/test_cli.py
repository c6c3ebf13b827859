"""The command line calls the same use cases as the routes: `riskmap plan` writes the plan the API serves
for the same seed, `riskmap map joint-prevention` the map of /maps/joint-prevention."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app
from api.settings import Settings
from api.usecases.inspection_plan import check_sheet, draw_inspection_plan
from geo.access import SYSTEM
from geo.io.writers import write_rows_csv
from geo.joint_prevention import parse_period


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return CliRunner()


def test_plan_writes_the_use_cases_plan(
    runner: CliRunner, engine: Engine, layout: dict[str, Any], settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "plan.csv"
    done = runner.invoke(
        app, ["plan", "--adcode", "350505", "--period", "2026", "--seed", "3", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    with engine.connect() as conn:
        plan = draw_inspection_plan(conn, SYSTEM, "350505", parse_period("2026"), 3, settings)
    sheet = check_sheet(plan)
    assert out.read_bytes() == write_rows_csv(sheet.header, sheet.rows)
    assert f"{len(plan.checks)} checks of 6 enterprises" in done.output
    book = tmp_path / "plan.xlsx"
    done = runner.invoke(app, ["plan", "--adcode", "350505", "--period", "2026-12", "-o", str(book)])
    assert done.exit_code == 0, done.output
    assert load_workbook(io.BytesIO(book.read_bytes())).sheetnames == [
        "双随机抽查计划",
        "企业自查频次",
        "说明",
    ]


def test_plan_reports_every_bad_option(runner: CliRunner, layout: dict[str, Any], tmp_path: Path) -> None:
    done = runner.invoke(
        app,
        ["plan", "--adcode", "350505", "--period", "2026-13", "--part", "x", "-o", str(tmp_path / "p.pdf")],
    )
    assert done.exit_code == 2
    for field in ("period", "part", "output"):
        assert f"{field}:" in done.output
    unknown = runner.invoke(
        app, ["plan", "--adcode", "999999", "--period", "2026", "-o", str(tmp_path / "p.csv")]
    )
    assert unknown.exit_code == 2
    assert "no jurisdiction with adcode '999999'" in unknown.output


def test_joint_prevention_map_is_one_offline_page(
    runner: CliRunner, layout: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "jp.html"
    done = runner.invoke(
        app, ["map", "joint-prevention", "--adcode", "350505", "--seed", "2", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert "2 clusters, 5 enterprises" in done.output
    page = out.read_text(encoding="utf-8")
    assert "rm-jp-legend" in page
    assert '<script src="/static/vendor/' not in page  # the scripts are inside the page
    assert "cdn.jsdelivr.net" not in page
