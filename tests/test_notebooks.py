"""The notebooks run top to bottom on the test server (CI executes them here) and leave nothing behind: no
database of their own, no user or row in the database DATABASE_URL names."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, pool
from sqlalchemy import text as sql

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, database_url: str, boundaries: None, tmp_path: Path, monkeypatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RISKMAP_NOTEBOOK_SCALE", "0.05")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "levels agree: True" in text
    assert (tmp_path / "quangang_four_colour.html").stat().st_size > 10_000
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            left = conn.execute(
                sql("SELECT datname FROM pg_database WHERE datname LIKE 'riskmap_notebook_%'")
            )
            assert left.scalars().all() == []
            assert (
                conn.execute(sql("SELECT count(*) FROM users WHERE username LIKE 'notebook-%'")).scalar() == 0
            )
            made = sql("SELECT count(*) FROM enterprises WHERE name = '示例石化仓储有限公司'")
            assert conn.execute(made).scalar() == 0
    finally:
        engine.dispose()
