"""`riskmap calendar load` and `show`: a State Council notice loaded after the release makes deadlines past
the packaged calendar firm, in the command line and in a freshly started service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app
from geo import closeout
from geo.store import calendar as store

NOTICE = "国务院办公厅关于2027年部分节假日安排的通知（测试用）"


@pytest.fixture
def runner(database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    yield CliRunner()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM working_calendar_days"))
    closeout.install_days(())


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text("date,kind,name,source\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_load_then_deadlines_are_firm(runner: CliRunner, engine: Engine, tmp_path: Path) -> None:
    before = closeout.calendar()
    assert not before.covers(dt.date(2027, 2, 8))
    notice = _write(
        tmp_path / "2027.csv",
        [f"2027-02-{d:02d},holiday,春节,{NOTICE}" for d in range(5, 12)]
        + [f"2027-02-20,workday,春节调休上班,{NOTICE}"],
    )
    loaded = runner.invoke(app, ["calendar", "load", str(notice)])
    assert loaded.exit_code == 0, loaded.output
    assert "8 days of 2027 loaded" in loaded.output
    with engine.connect() as conn:
        assert len(store.stored_days(conn)) == 8
    cal = closeout.calendar()
    assert cal.covers(dt.date(2027, 2, 8))
    assert not cal.is_working_day(dt.date(2027, 2, 8))
    assert cal.is_working_day(dt.date(2027, 2, 20))
    # a new process (the service after a restart) reads them from the database
    closeout.install_days(())
    assert store.install(engine) == 8
    assert closeout.calendar().covers(dt.date(2027, 2, 8))
    shown = runner.invoke(app, ["calendar", "show"])
    assert "2027" in shown.output


def test_a_bad_notice_is_refused_whole(runner: CliRunner, engine: Engine, tmp_path: Path) -> None:
    notice = _write(tmp_path / "bad.csv", [f"2027-02-05,holiday,春节,{NOTICE}", "2027-02-03,workday,x,"])
    result = runner.invoke(app, ["calendar", "load", str(notice)])
    assert result.exit_code == 2
    assert "row 3.kind" in result.output
    assert "row 3.source" in result.output
    with engine.connect() as conn:
        assert store.stored_days(conn) == []
