"""Benchmark of what issue 15 added to the four-colour map, on the demo register (`riskmap demo`): the default
zones' choice (`resolve_zones`), the deciding units of an internal 就高 map (`geo.store.four_colour.
deciding_units`) and the density rule, each beside the map it belongs to (`compute`, the peer), for the
city 泉州市 (350500, its 12 districts) and the county 泉港区 (350505: no townships, the default 1.5 km grid).

    .venv/bin/python bench/four_colour_defaults.py [--runs N] [--database-url URL]

Medians of --runs (default 5) after one warm-up; the zone totals of stored zones are cached after the first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

from common import machine, median_of

from api.settings import DatabaseSettings, Settings
from api.usecases.four_colour import add_deciding_units, compute, make_params, resolve_zones
from geo.access import SYSTEM
from geo.store.engine import make_engine

RESULTS = Path(__file__).resolve().parent / "results" / "four_colour_defaults.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    settings = (
        Settings(db=DatabaseSettings(DATABASE_URL=args.database_url)) if args.database_url else Settings()
    )
    engine = make_engine(settings.db.sqlalchemy_url)
    rows = []
    with engine.connect() as conn:
        for adcode, name in (("350500", "泉州市"), ("350505", "泉港区")):
            params = resolve_zones(conn, make_params(adcode))
            compute(conn, SYSTEM, params, settings)  # warm-up: fills the cached totals
            t_resolve, _, _ = median_of(
                args.runs, lambda p=params: resolve_zones(conn, make_params(p.adcode))
            )
            t_max, _, zones = median_of(args.runs, lambda p=params: compute(conn, SYSTEM, p, settings))
            density = make_params(adcode, params.zones, params.cell_m, rule="density")
            t_density, _, _ = median_of(args.runs, lambda p=density: compute(conn, SYSTEM, p, settings))

            def deciding(z=zones, p=params) -> None:
                add_deciding_units(conn, SYSTEM, z, p, public=False)

            t_deciding, _, _ = median_of(args.runs, deciding)
            rows.append(
                f"| {name} ({adcode}) | {params.zones_used()['label_zh']}, {len(zones)} zones | "
                f"{t_resolve * 1000:.1f} ms | {t_max * 1000:.0f} ms | {t_density * 1000:.0f} ms | "
                f"{t_deciding * 1000:.0f} ms |"
            )
    text = (
        "# The four-colour map's defaults, density rule and deciding units (`bench/four_colour_defaults.py`)\n\n"
        f"{dt.date.today()}, {machine()}, demo register (`riskmap demo`: 49,427 units), medians of "
        f"{args.runs} runs after a warm-up.\n\n"
        "| map | zones | default zones chosen | `compute`, 就高 (peer) | `compute`, density | deciding units |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    RESULTS.write_text(text + RESULTS_NOTES, encoding="utf-8")
    print(text)


RESULTS_NOTES = """
The density rule reads the same totals as 就高 (it only divides by the zone areas the map has anyway), so
the two columns differ by noise. The deciding units are one more query, run for internal 就高 maps only
(admins and the area's regulators; up to 2,000 zones): per zone with a level, the units of that level that
count for it, the first five by id with their enterprise, probed through the units' GiST index.
"""

if __name__ == "__main__":
    main()
