"""`riskmap import PATH` and `riskmap export`: reports, progress for long files, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app
from tests.api.builders import credit_code
from tests.io.helpers import ENTERPRISE_HEADERS, RISK_HEADERS, enterprise_rows, risk_rows, write_csv

pytestmark = pytest.mark.usefixtures("boundaries", "clean")


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return CliRunner()


def test_import_dry_run_then_import_then_export(runner: CliRunner, engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "企业.csv", ENTERPRISE_HEADERS, enterprise_rows(2))
    dry = runner.invoke(app, ["import", str(path), "--kind", "enterprises", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "every row is valid" in dry.output
    real = runner.invoke(app, ["import", str(path), "--kind", "enterprises"])
    assert real.exit_code == 0, real.output
    assert "2 new, 0 updated, 0 unchanged" in real.output
    out = tmp_path / "企业导出.xlsx"
    exported = runner.invoke(app, ["export", "--kind", "enterprises", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert out.stat().st_size > 0
    again = runner.invoke(app, ["import", str(out), "--kind", "enterprises"])
    assert "0 new, 0 updated, 2 unchanged" in again.output  # the export holds what is stored


def test_long_import_shows_progress_and_bad_rows_exit_2(
    runner: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    runner.invoke(
        app,
        [
            "import",
            str(write_csv(tmp_path / "e.csv", ENTERPRISE_HEADERS, enterprise_rows(1))),
            "--kind",
            "enterprises",
        ],
    )
    rows = risk_rows(12_000, credit_code(1))
    path = write_csv(tmp_path / "r.csv", RISK_HEADERS, rows)
    done = runner.invoke(app, ["import", str(path), "--kind", "risk_units"])
    assert done.exit_code == 0, done.output
    assert "checking" in done.output
    assert "writing" in done.output
    assert "12000 new" in done.output
    rows[4][2] = "特大"
    bad = runner.invoke(
        app, ["import", str(write_csv(tmp_path / "bad.csv", RISK_HEADERS, rows)), "--kind", "risk_units"]
    )
    assert bad.exit_code == 2
    assert "row 6.level" in bad.output
    assert "nothing was written" in bad.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM risk_units WHERE level = 1")).scalar_one() == 3000
