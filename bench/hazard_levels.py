"""Dynamic levels beyond the four-colour map, and the plan made into inspections, on the demo city 泉州市
350500 (its synthetic hazards in every state): the trend, the enterprise levels and the summary at
assessed levels (the peer, same run) and at dynamic levels; and a county's year of 双随机 checks made into
planned inspections, the first time and again (idempotent: nothing made). Writes results/hazard_levels.md.

    .venv/bin/python bench/hazard_levels.py [--repeat 3] [--reuse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from pathlib import Path

from common import create_database, database_exists, machine, median_of, server_url
from sqlalchemy import create_engine, text

from api.settings import DatabaseSettings, Settings
from api.usecases import dynamic_levels
from api.usecases.four_colour import enterprises_with_levels
from api.usecases.history import level_trend
from api.usecases.inspection_plan import draw_inspection_plan, record_plan
from geo.access import SYSTEM
from geo.joint_prevention import parse_period
from geo.store.demo import load_demo

NAME = "riskmap_bench_hazard_levels"
CITY, COUNTY = "350500", "350505"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reuse", action="store_true", help="keep the loaded demo database")
    args = ap.parse_args()
    if args.reuse and database_exists(NAME):
        url = server_url().set(database=NAME).render_as_string(hide_password=False)
    else:
        url = create_database(NAME)
        load_demo(create_engine(url), seed=2026, scale=1.0, echo=lambda _: None)
    settings = Settings(db=DatabaseSettings(DATABASE_URL=url))
    engine = create_engine(url)
    today = dt.date.today()
    first = dt.date(today.year - 1, today.month, 1)
    last = today.replace(day=1)

    def trend(levels: str) -> object:
        with engine.connect() as conn:
            return level_trend(conn, CITY, first, last, levels=levels, principal=SYSTEM)

    def enterprises(dynamic: bool) -> object:
        with engine.connect() as conn:
            return enterprises_with_levels(conn, SYSTEM, CITY, settings, dynamic=dynamic)

    def summary(levels: str) -> object:
        with engine.connect() as conn:
            return dynamic_levels.summary(conn, SYSTEM, CITY, levels=levels)

    trend("assessed")  # warm the caches once, so that the first measured is not the cold one
    rows = []
    for label, fn in (
        ("trend of 13 months, assessed (peer)", lambda: trend("assessed")),
        ("trend of 13 months, dynamic", lambda: trend("dynamic")),
        ("enterprise levels, assessed (peer)", lambda: enterprises(False)),
        ("enterprise levels, dynamic", lambda: enterprises(True)),
        ("summary, assessed (peer)", lambda: summary("assessed")),
        ("summary, dynamic", lambda: summary("dynamic")),
    ):
        med, runs, _ = median_of(args.repeat, fn)
        rows.append((label, med, runs))

    period = parse_period(str(today.year))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM inspections WHERE plan_key IS NOT NULL"))

    def plan() -> object:
        with engine.begin() as conn:
            return record_plan(conn, SYSTEM, COUNTY, period, 0, settings, part="random")

    made = plan()  # warm; then timed from empty
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM inspections WHERE plan_key IS NOT NULL"))
    med_first, runs_first, _ = median_of(1, plan)
    med, runs, again = median_of(args.repeat, plan)
    rows.append(
        (
            f"{COUNTY} year plan made into inspections, first time ({len(made.created):,} made)",
            med_first,
            runs_first,
        )
    )
    rows.append((f"the same again ({len(again.created)} made, {len(again.existing):,} existing)", med, runs))  # type: ignore[attr-defined]

    def draw() -> object:
        with engine.connect() as conn:
            return draw_inspection_plan(conn, SYSTEM, COUNTY, period, 0, settings)

    med, runs, _ = median_of(args.repeat, draw)
    rows.append(("peer: the draw alone (GET /analysis/inspection-plan's use case)", med, runs))
    with engine.connect() as conn:
        units = conn.exec_driver_sql("SELECT count(*) FROM risk_units").scalar_one()
        hazards = conn.exec_driver_sql("SELECT count(*) FROM hazards").scalar_one()
        events = conn.exec_driver_sql("SELECT count(*) FROM hazard_events").scalar_one()
        history = conn.exec_driver_sql(
            "SELECT count(*) FROM history WHERE entity = 'risk_units'"
        ).scalar_one()
    load = os.getloadavg()[0]
    lines = [
        "# Dynamic levels in enterprise levels, summary and trend; the plan made into inspections",
        "",
        f"`.venv/bin/python bench/hazard_levels.py --repeat {args.repeat}` — {today.isoformat()}, "
        f"{machine()}, Python {platform.python_version()}, load average {load:.2f} at the end.",
        "",
        f"The demo (`riskmap demo`, seed 2026, scale 1): {units:,} risk units, {hazards:,} hidden hazards with "
        f"{events:,} steps, {history:,} history records of risk units (the trend rebuilds the rest from the rows). 泉州市 {CITY} as the operator; the trend "
        f"{first:%Y-%m}–{last:%Y-%m}. Median of {args.repeat} runs (the first plan: one run).",
        "",
        "| work | median s | runs s |",
        "|---|---:|---|",
        *[f"| {lb} | {m:.2f} | {', '.join(f'{t:.2f}' for t in r)} |" for lb, m, r in rows],
        "",
    ]
    out = Path(__file__).parent / "results" / "hazard_levels.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
