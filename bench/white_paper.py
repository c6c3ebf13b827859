"""The risk white paper (风险白皮书) of the demo city, 泉州市 350500: the time to gather, assemble and write
it (internal PDF, public PDF, internal .docx), with the print four-colour map of the same city (PDF) as
the peer measured in the same run. Writes results/white_paper.md.

    .venv/bin/python bench/white_paper.py [--repeat 3] [--reuse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from pathlib import Path

from common import create_database, database_exists, machine, median_of, server_url
from sqlalchemy import create_engine

from api.settings import DatabaseSettings, Settings
from api.usecases.four_colour import FourColourParams, compute, title
from api.usecases.white_paper import white_paper
from geo.access import SYSTEM
from geo.store.demo import load_demo
from geo.store.summary import map_boundaries
from maps.print import four_colour_print

NAME = "riskmap_bench_white_paper"
ADCODE = "350500"


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
    period = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")  # last month

    def peer() -> bytes:
        params = FourColourParams(ADCODE)
        with engine.connect() as conn:
            zones = compute(conn, SYSTEM, params, settings)
            boundaries, heading = map_boundaries(conn, ADCODE), title(conn, params)
        return four_colour_print(zones, boundaries=boundaries, title=heading, data_source="bench", fmt="pdf")

    rows = []
    for label, public, fmt in (
        ("white paper, internal, PDF", False, "pdf"),
        ("white paper, public, PDF", True, "pdf"),
        ("white paper, internal, .docx", False, "docx"),
    ):
        med, runs, found = median_of(
            args.repeat,
            lambda p=public, f=fmt: white_paper(engine, SYSTEM, ADCODE, period, settings, public=p, fmt=f),
        )
        rows.append((label, med, runs, len(found.content)))
    med, runs, pdf = median_of(args.repeat, peer)
    rows.append(("peer: print four-colour map of the city, PDF (/maps/four-color.pdf)", med, runs, len(pdf)))
    with engine.connect() as conn:
        units = conn.exec_driver_sql("SELECT count(*) FROM risk_units").scalar_one()
        enterprises = conn.exec_driver_sql("SELECT count(*) FROM enterprises").scalar_one()
    load = os.getloadavg()[0]
    lines = [
        "# The risk white paper of the demo city",
        "",
        f"`.venv/bin/python bench/white_paper.py --repeat {args.repeat}` — {dt.date.today().isoformat()}, "
        f"{machine()}, Python {platform.python_version()}, load average {load:.2f} at the end.",
        "",
        f"The demo (`riskmap demo`, seed 2026, scale 1): {enterprises:,} enterprises, {units:,} risk units. "
        f"泉州市 {ADCODE}, period {period}, as the operator. Median of {args.repeat} runs, the whole "
        "use case (gathering every analysis, the map, assembling, writing the file).",
        "",
        "| work | median s | runs s | bytes |",
        "|---|---:|---|---:|",
        *[f"| {lb} | {m:.2f} | {', '.join(f'{t:.2f}' for t in r)} | {n:,} |" for lb, m, r, n in rows],
        "",
    ]
    out = Path(__file__).parent / "results" / "white_paper.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
