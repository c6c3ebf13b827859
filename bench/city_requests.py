"""Bench: the city-size requests of issue 16 on the demo city 泉州市 (350500, ~27,000 risk units), each
beside a peer doing the same work in the same run, medians of --runs.

It needs the demo in the database (`riskmap demo`; the dev database by default, or --database-url) and
only reads. Requests go through the whole app in process (FastAPI's TestClient, as an admin, with
`Accept-Encoding: gzip` like a browser), so routing, serialisation and gzip are counted; the peers run
on the same database:

1. a 5,000-feature page of risk units (`GET /api/v1/risk-units?adcode=350500&limit=5000`), and in GCJ-02 —
   peer: PostGIS `json_agg` of the same 5,000 rows as GeoJSON Features in one statement;
2. the GeoJSON export of the city's risk units (`GET /api/v1/exports?kind=risk_units&format=geojson`) —
   peer: the same rows read with `geopandas.read_postgis` and written by pyogrio (GDAL's GeoJSON driver);
3. neighbour notices of the city (first page of 100, and a page of 1,000);
4. the 双随机 plan of the city for a year: the JSON answer's default page, and the whole year as the CSV
   and Excel downloads — peer: the same year's plan for one month (`period=YYYY-12`) and the draw alone
   (`draw_inspection_plan`, no formatting);
5. the four-colour map on H3 resolution 9 over the city (its status: a 4xx says what to ask instead).

    .venv/bin/python bench/city_requests.py              # ~2 min on the 2-core VM
    .venv/bin/python bench/city_requests.py --runs 1     # a quick look
    .venv/bin/python bench/city_requests.py --only plan  # the plan's rows only (the others are kept)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's code, not an installed copy of another (before `common`)

import geopandas as gpd  # noqa: E402
import pyogrio  # noqa: E402
from common import EXPORT_ROWS, NOTES, SUBTREE, json_agg_sql, machine, write_report  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth import current_principal  # noqa: E402
from api.settings import DatabaseSettings, Settings  # noqa: E402
from api.usecases.inspection_plan import draw_inspection_plan  # noqa: E402
from geo.access import SYSTEM  # noqa: E402
from geo.joint_prevention import parse_period  # noqa: E402
from geo.store.engine import make_engine  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "city_requests.md"
COMMAND = ".venv/bin/python bench/city_requests.py"
CITY = "350500"
PLAN = "双随机 plan, the city"


def timed(runs: int, fn: Callable[[], Any]) -> tuple[float, list[float], Any, float]:
    """(median s, every run's s, the last result, MB the process's peak RSS grew by during the runs: a
    lower bound of what the request needs, 0 when an earlier one needed more; tracemalloc would slow the
    Python parts several-fold)."""
    times, result = [], None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return statistics.median(times), times, result, grew


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--only",
        choices=("all", "plan"),
        default="all",
        help="plan: measure the 双随机 plan's rows only and keep the other rows of the results file",
    )
    args = parser.parse_args()
    import api

    if not Path(api.__file__).resolve().is_relative_to(ROOT):
        raise SystemExit(f"measuring {api.__file__}, not this checkout's code")
    url = args.database_url or DatabaseSettings().sqlalchemy_url
    app = create_app(Settings(db=DatabaseSettings(DATABASE_URL=url)))
    app.dependency_overrides[current_principal] = lambda: SYSTEM
    engine: Engine = make_engine(url)
    with engine.connect() as conn:
        units = conn.execute(
            text(
                SUBTREE
                + " SELECT count(*) FROM risk_units WHERE jurisdiction_adcode IN (SELECT adcode FROM subtree)"
            ),
            {"adcode": CITY},
        ).scalar_one()
    if units < 5000:
        raise SystemExit(f"the city {CITY} has {units} risk units: load the demo first (riskmap demo)")
    rows: list[tuple[str, str, list[float], str, float]] = []

    with TestClient(app, headers={"Accept-Encoding": "gzip"}) as client:

        def get(path: str, **params: Any) -> Callable[[], Any]:
            def call() -> Any:
                r = client.get(path, params=params)
                head = ""
                if r.status_code >= 400:
                    body = r.json()
                    first = (body.get("errors") or [{}])[0]
                    head = f"{first.get('field')}: {first.get('reason')} / {first.get('reason_zh')}"
                return r.status_code, r.num_bytes_downloaded, len(r.content), head

            return call

        def run(label: str, fn: Callable[[], Any]) -> Any:
            median, times, result, peak = timed(args.runs, fn)
            if isinstance(result, tuple):
                status, sent, size, head = result
                what = f"{status}, {size / 2**20:.2f} MB ({sent / 2**20:.2f} MB gzipped)"
                if status >= 400:
                    what = f"{status}: {head}"
            else:
                what = str(result)
            rows.append((label, what, times, f"{median:.3f}", peak))
            print(f"{label}: {median:.3f} s {[round(t, 3) for t in times]} — {what}", flush=True)
            return result

        if args.only == "all":
            page = {"adcode": CITY, "limit": 5000}
            run("risk units, a page of 5,000 (GeoJSON)", get("/api/v1/risk-units", **page))
            run("risk units, a page of 5,000, crs=gcj02", get("/api/v1/risk-units", **page, crs="gcj02"))
            run("enterprises, a page of 5,000", get("/api/v1/enterprises", **page))

            def json_agg() -> str:
                with engine.connect() as conn:
                    body = conn.execute(text(json_agg_sql("risk_units")), {"adcode": CITY}).scalar_one()
                return f"{len(body) / 2**20:.2f} MB"

            run("peer: PostGIS json_agg of the same 5,000 rows", json_agg)

            export = {"kind": "risk_units", "adcode": CITY, "format": "geojson"}
            run(f"GeoJSON export of the city's {units:,} risk units", get("/api/v1/exports", **export))

            def pyogrio_write() -> str:
                with engine.connect() as conn:
                    frame = gpd.read_postgis(
                        text(EXPORT_ROWS), conn, geom_col="geom", params={"adcode": CITY}
                    )
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "units.geojson")
                    pyogrio.write_dataframe(frame, path, driver="GeoJSON")
                    return f"{len(frame):,} rows, {os.path.getsize(path) / 2**20:.2f} MB"

            run("peer: read_postgis + pyogrio GeoJSON of the same rows", pyogrio_write)

            notices = {"adcode": CITY}
            run(
                "neighbour notices, first page (100 units)",
                get("/api/v1/analysis/neighbour-notices", **notices),
            )
            run(
                "neighbour notices, a page of 1,000 units",
                get("/api/v1/analysis/neighbour-notices", **notices, limit=1000),
            )
        year = str(dt.date.today().year)
        plan = {"adcode": CITY, "period": year}
        run(f"{PLAN} for {year}, JSON (default page)", get("/api/v1/analysis/inspection-plan", **plan))
        run(
            f"{PLAN} for {year}, JSON page of 5,000 (the largest)",
            get("/api/v1/analysis/inspection-plan", **plan, limit=5000),
        )
        run(
            f"{PLAN} for {year}, whole year as CSV (download)",
            get("/api/v1/analysis/inspection-plan", **plan, format="csv"),
        )
        run(
            f"{PLAN} for {year}, whole year as Excel (download)",
            get("/api/v1/analysis/inspection-plan", **plan, format="xlsx"),
        )
        run(
            f"{PLAN} for {year}-12, JSON (one month, whole)",
            get("/api/v1/analysis/inspection-plan", adcode=CITY, period=f"{year}-12", limit=5000),
        )

        def draw_only() -> str:
            with engine.connect() as conn:
                drawn = draw_inspection_plan(conn, SYSTEM, CITY, parse_period(year), 0, app.state.settings)
            return f"{len(drawn.checks):,} checks, {len(drawn.self_checks):,} enterprises"

        run(f"{PLAN} peer: the draw alone for {year} (no formatting)", draw_only)
        if args.only == "all":
            run(
                "four-colour map, H3 res 9 over the city",
                get("/api/v1/analysis/four-color", adcode=CITY, zones="h3", h3_res=9),
            )
    engine.dispose()
    write(rows, args.runs, units, only=args.only)


def write(rows: list[tuple[str, str, list[float], str, float]], runs: int, units: int, *, only: str) -> None:
    """The results file: header, table, then the notes kept from the file. With --only plan the other rows
    (and the header saying when they were measured) are kept and the plan's rows replaced in place."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    when = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}, load average {os.getloadavg()[0]:.1f}"
    table = [
        f"| {label} | {what} | {median} | {', '.join(f'{t:.3f}' for t in times)} | {peak:.0f} |"
        for label, what, times, median, peak in rows
    ]
    if only == "plan" and "|---|" in old.split(NOTES, 1)[0]:
        head, _, rest = old.split(NOTES, 1)[0].partition("|---|")
        head_lines = head.splitlines()
        kept = [ln for ln in ("|---|" + rest).splitlines()[1:] if ln.startswith("| ")]
        at = next((i for i, ln in enumerate(kept) if ln.startswith(f"| {PLAN}")), len(kept))
        others = [ln for ln in kept if not ln.startswith(f"| {PLAN}")]
        at = min(at, len(others))
        plan_run = f"The 双随机 plan's rows: `{COMMAND} --only plan --runs {runs}` — {when}."
        header = [*head_lines[:3], "", plan_run, ""]  # title, blank, the run of the other rows
        lines = [*header, head_lines[-1], "|---|" + rest.splitlines()[0], *others[:at], *table, *others[at:]]
    else:
        lines = [
            "# City requests (泉州市 350500)",
            "",
            f"`{COMMAND}` — {when}; the demo city ({units:,} risk units); medians of {runs}; through the app "
            "in process as an admin with `Accept-Encoding: gzip`; peak MB = how much the process's peak RSS "
            "grew during the runs (a lower bound; 0 when an earlier request had needed more).",
            "",
            "| request | answer | median s | runs s | peak RSS growth MB |",
            "|---|---|---:|---|---:|",
            *table,
        ]
    write_report(RESULTS, "\n".join(lines))


if __name__ == "__main__":
    main()
