"""Low-zoom tiles of risk units: cells counted from the stored tile places (an index-only range scan) against
the same cells placed row by row from each unit's box, in the same run, on any riskmap database.

Both statements are riskmap's own (`geo.store.tiles`): `placed` is what the server sends for the risk-unit
layer at z ≤ 11 since migration 0024t, `per row` the statement it sent before (still used for enterprises,
targets and hazards). The tiles: the 3 × 3 around the centre of the risk units' extent, per zoom; each made
by the two in turn, `--runs` times; the figure is the median of every making of the zoom, in ms, of the
statement alone (no HTTP: bench/tiles.py has the whole request beside tipg): each tile's median, summed over
the nine, and the slowest tile's. Both answers are decoded and
must hold the same number of units.

    python -m bench.tile_cells --database riskmap_bench_province   # 1 M units (bench/province.py)
    python -m bench.tile_cells --database riskmap_bench_tiles       # 100 k squares (bench/tiles.py)
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import time
from pathlib import Path

import mapbox_vector_tile
from sqlalchemy import create_engine, text

from bench.common import machine, server_url, write_report
from geo.access import Principal, Role
from geo.store import tiles

ADMIN = Principal(Role.admin, "bench")
PLACED = tiles.LAYERS["risk_units"]
PER_ROW = tiles.Layer(**{**PLACED.__dict__, "placed": False})
LAYERS = {"placed": PLACED, "per row": PER_ROW}


def _units(body: bytes) -> int:
    features = mapbox_vector_tile.decode(body).get("risk_units", {}).get("features", [])
    return sum(f["properties"].get("count") or 1 for f in features)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", nargs="+", default=["riskmap_bench_tiles", "riskmap_bench_province"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--zooms", type=int, nargs="+", default=[6, 7, 8, 9, 10, 11])
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "tile_cells.md")
    args = parser.parse_args()
    load = os.getloadavg()
    rows: list[str] = []
    for database in args.database:
        engine = create_engine(server_url().set(database=database))
        with engine.connect() as conn:
            conn.execute(text("COMMIT"))
            total = conn.execute(text("SELECT count(*) FROM risk_units")).scalar_one()
            x0, y0, x1, y1 = conn.execute(
                text(
                    "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM risk_units) s"
                )
            ).one()
            lon, lat = (x0 + x1) / 2, (y0 + y1) / 2
            sql = {
                name: tiles.compiled_tile_statement(conn, layer, [], True, None)
                for name, layer in LAYERS.items()
            }
            for z in args.zooms:
                n = 2**z
                cx = int((lon + 180) / 360 * n)
                cy = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
                times: dict[str, dict[tuple[int, int], list[float]]] = {"placed": {}, "per row": {}}
                counted: dict[str, int] = {"placed": 0, "per row": 0}
                size = 0
                for x in (cx - 1, cx, cx + 1):
                    for y in (cy - 1, cy, cy + 1):
                        params = {
                            name: tiles.tile_params(layer, True, z, x, y) for name, layer in LAYERS.items()
                        }
                        for run in range(args.runs + 1):  # the first making of each warms the cache
                            for name in ("placed", "per row"):
                                t = time.perf_counter()
                                statement, fixed = sql[name]
                                body = bytes(
                                    conn.exec_driver_sql(statement, {**fixed, **params[name]}).one()[0] or b""
                                )
                                if run:
                                    times[name].setdefault((x, y), []).append(time.perf_counter() - t)
                                else:
                                    counted[name] += _units(body)
                                    size += len(body) if name == "placed" else 0
                if counted["placed"] != counted["per row"]:
                    raise SystemExit(
                        f"z{z}: placed counts {counted['placed']} units, per row {counted['per row']}"
                    )
                # the nine tiles of a view: each tile's median, summed; and the slowest tile's median
                view = {k: [statistics.median(v) * 1000 for v in times[k].values()] for k in times}
                placed, per_row = sum(view["placed"]), sum(view["per row"])
                slowest = max(view["placed"]), max(view["per row"])
                print(
                    f"z{z}: placed {placed:.1f} ms, per row {per_row:.1f} ms, {counted['placed']:,} units",
                    flush=True,
                )
                rows.append(
                    f"| {database} ({total:,}) | z{z} | {counted['placed']:,} | {size / 1024:.0f} KB | **{placed:.1f}** "
                    f"({slowest[0]:.1f}) | {per_row:.1f} ({slowest[1]:.1f}) | {per_row / placed:.1f}× |"
                )
        engine.dispose()

    report = [
        "# Low-zoom risk-unit tiles: cells from the stored tile places against cells placed row by row",
        "",
        f"`python -m bench.tile_cells --database {' '.join(args.database)} --runs {args.runs}`, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start. Each zoom: the 3 × 3 "
        f"tiles around the centre of the units' extent, each made by both statements in turn {args.runs} times "
        "after a warm-up (an admin's tile, no cache, the statement alone): each tile's median, summed over the "
        "nine (a screen's view), in ms, and in brackets the slowest tile's. `units` = the units the nine tiles "
        "hold (equal for both: checked); `tiles` = their bytes.",
        "",
        "| database (risk units) | zoom | units | tiles | **placed (index-only scan)** | per row (each box placed) | ratio |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
    ]
    write_report(args.output, "\n".join(report))
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
