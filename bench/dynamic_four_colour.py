"""Benchmark of the dynamic four-colour map (open hidden hazards raise their units' levels) beside the
assessed one, on the data of bench/four_colour.py (40,000 zones × 1,000,000 units by default): 100,000
open hazards on random units (10 % major), the map from the cache, then after 1,000 hazard changes.

    .venv/bin/python bench/dynamic_four_colour.py [--quick] [--reuse] [--hazards N]

The assessed totals come from `four_colour_zone_totals` (hazards do not touch it); the dynamic map reads
the units raised by open hazards (geo.store.hazards.raised_levels) and moves their (zone, unit) pairs from
the stored level to the shown one (geo.store.four_colour, `shown_levels`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
from common import create_database, database_exists, machine, median_of, server_url
from four_colour import PARENT, geodesic_area_m2, load, make_data
from sqlalchemy import create_engine, text

from geo.store.engine import make_engine
from geo.store.four_colour import ZoneQuery, four_colour_sql
from geo.store.hazards import raised_levels
from geo.store.migrate import upgrade

DB_NAME = "riskmap_bench_four_colour"  # the four-colour bench's database: --reuse shares its load
RESULTS = Path(__file__).resolve().parent / "results" / "dynamic_four_colour.md"

_OPEN_HAZARDS = """
INSERT INTO hazards (risk_unit_id, enterprise_id, jurisdiction_adcode, geom, description, grade, criterion,
    status, reported_on, reported_by, synthetic)
SELECT u.id, u.enterprise_id, :parent, ST_PointOnSurface(u.geom), 'bench hazard',
    CASE WHEN r.x < 0.1 THEN 'major' ELSE 'general' END, CASE WHEN r.x < 0.1 THEN 'HC12' END,
    'reported', :today, 'bench', true
FROM (SELECT id, enterprise_id, geom FROM risk_units ORDER BY md5(id::text || :seed) LIMIT :n) AS u
CROSS JOIN LATERAL (SELECT (('x' || substr(md5(u.id::text || 'g'), 1, 8))::bit(32)::int & 1023) / 1024.0 AS x) AS r
"""
_CHANGE = """
WITH closed AS (
    UPDATE hazards SET status = 'closed', closed_on = :today
    WHERE id IN (SELECT id FROM hazards WHERE status <> 'closed' ORDER BY md5(id::text || :seed) LIMIT :half)
    RETURNING id
)
INSERT INTO hazards (risk_unit_id, jurisdiction_adcode, geom, description, grade, criterion, status,
    reported_on, reported_by, synthetic)
SELECT u.id, :parent, ST_PointOnSurface(u.geom), 'bench hazard (new)', 'major', 'HC12', 'reported', :today,
    'bench', true
FROM (SELECT id, geom FROM risk_units ORDER BY md5(id::text || :seed || 'new') LIMIT :half) AS u
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--units", type=int, default=1_000_000)
    ap.add_argument("--zones", type=int, default=40_000)
    ap.add_argument("--enterprises", type=int, default=20_000)
    ap.add_argument("--hazards", type=int, default=100_000)
    ap.add_argument("--changes", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="100k units, 4k zones, 10k hazards, 1 run")
    ap.add_argument("--reuse", action="store_true", help="keep the loaded database if its sizes match")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.quick:
        args.units, args.zones, args.enterprises, args.hazards, args.repeat = 100_000, 4_000, 2_000, 10_000, 1

    url = server_url().set(database=DB_NAME).render_as_string(hide_password=False)
    reused = False
    if args.reuse and database_exists(DB_NAME):
        eng = create_engine(url)
        with eng.connect() as conn:
            n_units = conn.execute(text("SELECT count(*) FROM risk_units")).scalar()
            n_zones = conn.execute(
                text("SELECT count(*) FROM jurisdictions WHERE parent_adcode = :a"), {"a": PARENT}
            ).scalar()
        eng.dispose()
        reused = n_units == args.units and n_zones == args.zones
        if reused:
            upgrade(url)
    if not reused:
        print(f"generating and loading {args.zones:,} zones and {args.units:,} units …", flush=True)
        data = make_data(args.zones, args.units, args.enterprises, 0.7)
        data.units["area_m2"] = geodesic_area_m2(np.asarray(data.units.geometry.array, dtype=object))
        url = create_database(DB_NAME)
        load(url, data, spatial_order=True)

    engine = make_engine(url, statement_timeout_ms=3_600_000)
    today = dt.date(2026, 12, 1)
    stored = ZoneQuery(
        "SELECT adcode AS code, name, geom FROM jurisdictions WHERE parent_adcode = :a",
        {"a": PARENT},
        stored=True,
    )
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM hazards WHERE synthetic"))
        t = time.perf_counter()
        conn.execute(text(_OPEN_HAZARDS), {"parent": PARENT, "today": today, "seed": "42", "n": args.hazards})
        insert_s = time.perf_counter() - t
        conn.execute(text("ANALYZE hazards"))
    rows: list[tuple[str, float, list[float], str]] = []

    def measure(work: str, fn, note: str = "") -> object:  # type: ignore[no-untyped-def]
        print(f"{work} …", flush=True)
        med, runs, result = median_of(args.repeat, fn)
        rows.append((work, med, runs, note))
        print(f"  median {med:.2f} s of {', '.join(f'{x:.2f}' for x in runs)}", flush=True)
        return result

    def assessed() -> object:
        with engine.connect() as conn:
            return four_colour_sql(conn, stored)

    def dynamic() -> object:
        with engine.connect() as conn:
            shown = raised_levels(conn)
            return four_colour_sql(conn, stored, shown_levels=shown)

    def raised_only() -> object:
        with engine.connect() as conn:
            return raised_levels(conn)

    assessed()  # fill the cache once (bench/four_colour.py times the cold map)
    a = measure("(1) assessed map, stored zones, all totals cached", assessed)
    raised = measure("(2a) the raised units: open hazards → dynamic levels (raised_levels)", raised_only)
    d = measure(
        "(2) dynamic map from the cache: (2a) + the raised units' (zone, unit) pairs moved to their shown level",
        dynamic,
        f"{len(raised):,} units raised by {args.hazards:,} open hazards",  # type: ignore[arg-type]
    )
    times = []
    for run in range(args.repeat):
        with engine.begin() as conn:
            conn.execute(
                text(_CHANGE),
                {"parent": PARENT, "today": today, "seed": f"c{run}", "half": args.changes // 2},
            )
        t = time.perf_counter()
        dynamic()
        times.append(time.perf_counter() - t)
    rows.append(
        (
            f"(3) dynamic map just after {args.changes:,} hazard changes (half closed, half opened)",
            float(np.median(times)),
            times,
            "hazards do not touch the zone cache: nothing is aggregated again",
        )
    )
    changed = int((a["level"].fillna(0) != d["level"].fillna(0)).sum())  # type: ignore[index]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM hazards WHERE synthetic"))
    engine.dispose()

    lines = [
        "# Dynamic four-colour map (open hidden hazards)",
        "",
        f"Command: `.venv/bin/python bench/dynamic_four_colour.py {' '.join(sys.argv[1:])}` "
        f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC). {machine()}",
        "",
        f"{args.zones:,} zones × {args.units:,} units (bench/four_colour.py's data); {args.hazards:,} open hazards "
        f"on random units (10 % major) inserted in {insert_s:.1f} s; {changed:,} zones change colour on the dynamic map. "
        f"Medians of {args.repeat}.",
        "",
        "| work | median (s) | runs (s) | note |",
        "|---|---:|---|---|",
        *(f"| {w} | {m:.2f} | {', '.join(f'{x:.2f}' for x in r)} | {n} |" for w, m, r, n in rows),
        "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
