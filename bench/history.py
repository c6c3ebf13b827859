"""Benchmark: what the history costs a bulk import — a COPY of 100,000 risk units, and an UPDATE of all of
them — as migration 0009 leaves it (no record per new row), with no history trigger at all, with the
'create' records of migrations 0008 and 0005, and with a row-level trigger (the last three set up here only
for the comparison)."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from common import create_database, machine, median_of
from sqlalchemy import Engine, text

from geo.access import Principal, Role
from geo.store.bulk import copy_rows
from geo.store.engine import make_engine
from geo.store.history import set_actor

DB_NAME = "riskmap_bench_history"
RESULTS = Path(__file__).resolve().parent / "results" / "history.md"
COLUMNS = ["kind", "name", "sector", "level", "assessment_method", "control_measures", "responsible_person"]
IMPORTER = Principal(Role.admin, username="bench-import")

ROW_TRIGGER = """
CREATE OR REPLACE FUNCTION bench_history_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r risk_units;
BEGIN
    r := NEW;
    r.geom := NULL;  -- to_jsonb's own geometry cast is slow: GeoJSON as the statement triggers write it
    INSERT INTO history (entity, entity_id, action, actor, new_values)
    VALUES (TG_TABLE_NAME, NEW.id, 'create', riskmap_history_actor(),
            to_jsonb(r) - 'area_m2' || jsonb_build_object('geom', ST_AsGeoJSON(NEW.geom)::jsonb));
    RETURN NULL;
END $$;
CREATE TRIGGER bench_history_row AFTER INSERT ON risk_units FOR EACH ROW EXECUTE FUNCTION bench_history_row();
"""
STATEMENT_TRIGGERS = ("history_update", "history_delete")  # since migration 0009 no trigger on INSERT


def _migration(name: str) -> Any:
    path = Path(__file__).resolve().parents[1] / "geo" / "store" / "migrations" / "versions" / name
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The 'create' records of earlier migrations, for the comparison: 0008's (level, jurisdiction, owner)
# and 0005's (the whole new row), each with the INSERT trigger that 0009 dropped.
_INSERT_TRIGGER = (
    "CREATE TRIGGER history_insert AFTER INSERT ON risk_units REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION riskmap_history_insert()"
)
SLIM_CREATE = _migration("0008_lighter_writes.py").SLIM_INSERT + ";" + _INSERT_TRIGGER
FULL_CREATE = (
    _migration("0008_lighter_writes.py").FULL_INSERT.split("DROP FUNCTION")[0] + ";" + _INSERT_TRIGGER
)


def make_rows(n: int) -> list[dict[str, Any]]:
    """n public-area risk points scattered over 泉州 (seed 42)."""
    rng = np.random.default_rng(42)
    lon = rng.uniform(118.3, 119.1, n)
    lat = rng.uniform(24.6, 25.4, n)
    points = shapely.points(lon, lat)
    levels = rng.choice([1, 2, 3, 4], size=n, p=[0.05, 0.15, 0.4, 0.4])
    return [
        {
            "kind": "public_area",
            "name": f"燃气调压站{i}",
            "sector": "urban_gas",
            "level": int(levels[i]),
            "assessment_method": "direct",
            "control_measures": "定期巡检，安装泄漏报警装置",
            "responsible_person": "张三",
            "geometry": points[i],
        }
        for i in range(n)
    ]


def _reset(engine: Engine, setup: str = "") -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, history RESTART IDENTITY CASCADE"))
        conn.execute(text("DROP TRIGGER IF EXISTS bench_history_row ON risk_units"))
        conn.execute(text("DROP TRIGGER IF EXISTS history_insert ON risk_units"))  # as 0009 leaves it
        for name in STATEMENT_TRIGGERS:
            conn.execute(text(f"ALTER TABLE risk_units ENABLE TRIGGER {name}"))  # our constant names
        if setup:
            conn.execute(text(setup))


def _disable_statement_triggers() -> str:
    return ";".join(f"ALTER TABLE risk_units DISABLE TRIGGER {name}" for name in STATEMENT_TRIGGERS)


def copy_once(engine: Engine, rows: list[dict[str, Any]], setup: str) -> Callable[[], int]:
    """A timed COPY after an untimed reset (empty tables, the variant's triggers)."""

    def run() -> int:
        with engine.begin() as conn:
            set_actor(conn, IMPORTER)
            copy_rows(conn, "risk_units", rows, columns=COLUMNS, geometry_columns={"geometry": "geom"})
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM history")).scalar_one())

    return run


def update_all(engine: Engine) -> Callable[[], int]:
    def run() -> int:
        with engine.begin() as conn:
            set_actor(conn, IMPORTER)
            conn.execute(text("UPDATE risk_units SET level = 5 - level, version = version + 1"))
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT count(*) FROM history WHERE action = 'update'")).scalar_one()
            )

    return run


def timed(
    engine: Engine,
    repeat: int,
    setup: str,
    fn: Callable[[], int],
    *,
    preload: list[dict[str, Any]] | None = None,
) -> tuple[float, list[float], int]:
    times, result = [], 0
    for _ in range(repeat):
        _reset(engine, setup)
        if preload is not None:
            with engine.begin() as conn:
                copy_rows(conn, "risk_units", preload, columns=COLUMNS, geometry_columns={"geometry": "geom"})
        _, runs, result = median_of(1, fn)
        times.extend(runs)
    return statistics.median(times), times, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    command = ".venv/bin/python bench/history.py " + " ".join(sys.argv[1:])

    rows = make_rows(args.rows)
    url = create_database(DB_NAME)
    engine = make_engine(url, statement_timeout_ms=900_000)  # the row-level variant is slow
    variants = [
        ("COPY, no history (statement triggers disabled)", _disable_statement_triggers(), None),
        ("COPY as migration 0009 leaves it: no record per new row (author and date on the row)", "", None),
        (
            "COPY, statement-level 'create' records of level, jurisdiction, owner (migration 0008)",
            SLIM_CREATE,
            None,
        ),
        ("COPY, statement-level 'create' records of the whole row (migration 0005)", FULL_CREATE, None),
        (
            "COPY, a row-level trigger instead (one INSERT per row; for comparison)",
            _disable_statement_triggers() + ";" + ROW_TRIGGER,
            None,
        ),
        ("UPDATE of every row, no history", _disable_statement_triggers(), rows),
        ("UPDATE of every row, statement-level triggers (changed columns only)", "", rows),
    ]
    results = []
    for label, setup, preload in variants:
        print(f"{label} …", flush=True)
        fn = copy_once(engine, rows, setup) if preload is None else update_all(engine)
        med, runs, recorded = timed(engine, args.repeat, setup, fn, preload=preload)
        print(
            f"  median {med:.2f} s of {', '.join(f'{x:.2f}' for x in runs)}; {recorded:,} history rows",
            flush=True,
        )
        results.append((label, med, runs, recorded))
    _reset(engine)  # leaves the triggers as migration 0009 has them
    engine.dispose()

    base_copy, base_update = results[0][1], results[5][1]
    lines = [
        "# History triggers: overhead on bulk writes",
        "",
        f"`{command}` — {dt.date.today()}, {machine()}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} at the end.",
        "",
        f"{args.rows:,} public-area risk points COPYed into `risk_units` in one transaction (psycopg2 "
        "`copy_expert`, hex EWKB, `geo.store.bulk.copy_rows`), then one UPDATE of every row's level. "
        f"Median of {args.repeat} runs, each after emptying the tables.",
        "",
        "| work | median s | runs s | history rows | vs. no history |",
        "|---|---:|---|---:|---:|",
    ]
    for i, (label, med, runs, recorded) in enumerate(results):
        base = base_copy if i < 5 else base_update
        lines.append(
            f"| {label} | {med:.2f} | {', '.join(f'{x:.2f}' for x in runs)} | {recorded:,} | ×{med / base:.2f} |"
        )
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
