"""Benchmark of the four-colour map: PostGIS (four_colour_sql) against the GeoPandas reference.

Setup of ../shared/performance.md: numpy seed 42, EPSG:4547 over a 300 km square, Voronoi zones,
small polygon units 20–200 m with levels 1–4 at 5/15/40/40 %, stored in EPSG:4490.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg2
import pyproj
import shapely
import sqlalchemy
from common import create_database, database_exists, machine, median_of, psycopg2_dsn, server_url
from sqlalchemy import create_engine, text

from geo.codes import make_credit_code
from geo.four_colour import four_colour, geodesic_area_m2
from geo.store.bulk import frame_text
from geo.store.engine import make_engine
from geo.store.four_colour import ZoneQuery, four_colour_sql, load_units_frame
from geo.store.migrate import upgrade

DB_NAME = "riskmap_bench_four_colour"
SQUARE_M = 300_000.0
# EPSG:4547 = CGCS2000 / 3-degree Gauss-Kruger CM 114E; the square's south-west corner (≈ 24.4°N).
X0, Y0 = 350_000.0, 2_700_000.0
LEVEL_SHARES = (0.05, 0.15, 0.40, 0.40)
PARENT = "BENCH"
RESULTS = Path(__file__).resolve().parent / "results" / "four_colour.md"
NOTES_MARKER = "<!-- notes: kept when the bench rewrites this file -->"


# --- data -------------------------------------------------------------------------------------------


@dataclass
class Data:
    zones: gpd.GeoDataFrame  # code, name, geometry (EPSG:4490)
    units: gpd.GeoDataFrame  # id, level, enterprise_id, geometry (EPSG:4490)
    enterprises: gpd.GeoDataFrame  # id, geometry
    timings: dict[str, float] = field(default_factory=dict)


def _to_4490(geoms: np.ndarray) -> np.ndarray:
    tr = pyproj.Transformer.from_crs(4547, 4490, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def make_data(n_zones: int, n_units: int, n_enterprises: int, enterprise_share: float) -> Data:
    rng = np.random.default_rng(42)
    square = shapely.box(X0, Y0, X0 + SQUARE_M, Y0 + SQUARE_M)

    seeds = shapely.points(rng.uniform((X0, Y0), (X0 + SQUARE_M, Y0 + SQUARE_M), (n_zones, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=square))
    cells = shapely.intersection(cells, square)
    zones = gpd.GeoDataFrame(
        {"code": [f"Z{i:06d}" for i in range(cells.size)], "name": [f"网格 {i}" for i in range(cells.size)]},
        geometry=_to_4490(cells),
        crs=4490,
    )

    # Squares of side 20–200 m, turned by a random angle, centred anywhere in the square.
    centre = rng.uniform((X0, Y0), (X0 + SQUARE_M, Y0 + SQUARE_M), (n_units, 2))
    half = rng.uniform(10.0, 100.0, n_units)
    angle = rng.uniform(0.0, np.pi / 2, n_units)
    corner = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)], dtype=np.float64)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x = centre[:, :1] + half[:, None] * (corner[:, 0] * cos - corner[:, 1] * sin)
    y = centre[:, 1:] + half[:, None] * (corner[:, 0] * sin + corner[:, 1] * cos)
    polygons = shapely.polygons(np.stack([x, y], axis=2))
    levels = rng.choice(np.array([1, 2, 3, 4], dtype=np.int16), size=n_units, p=LEVEL_SHARES)
    owned = rng.random(n_units) < enterprise_share
    owner = rng.integers(1, n_enterprises + 1, n_units)
    units = gpd.GeoDataFrame(
        {
            "id": np.arange(1, n_units + 1, dtype=np.int64),
            "level": levels,
            "enterprise_id": pd.array(np.where(owned, owner, 0), dtype="Int64"),
        },
        geometry=_to_4490(polygons),
        crs=4490,
    )
    units.loc[~owned, "enterprise_id"] = pd.NA

    sites = shapely.points(rng.uniform((X0, Y0), (X0 + SQUARE_M, Y0 + SQUARE_M), (n_enterprises, 2)))
    enterprises = gpd.GeoDataFrame(
        {"id": np.arange(1, n_enterprises + 1, dtype=np.int64)}, geometry=_to_4490(sites), crs=4490
    )
    return Data(zones, units, enterprises)


# --- database ---------------------------------------------------------------------------------------


def _hex_ewkb(geoms: np.ndarray) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(geoms, 4490), hex=True, include_srid=True)


def _copy(cur: Any, table: str, columns: list[str], frame: pd.DataFrame) -> None:
    buf = io.BytesIO(frame_text(frame))
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    timings[key] = timings.get(key, 0.0) + time.perf_counter() - t


def load(url: str, data: Data, *, spatial_order: bool) -> dict[str, float]:
    """COPY zones, enterprises and units; indexes and constraints of risk_units built after."""
    tm: dict[str, float] = {}
    conn = psycopg2.connect(psycopg2_dsn(url))
    cur = conn.cursor()
    zones, units, ents = data.zones, data.units, data.enterprises

    square = shapely.multipolygons([shapely.box(*zones.total_bounds)])
    cur.execute(
        "INSERT INTO jurisdictions (adcode, name, level, geom, synthetic) "
        "VALUES (%s, %s, 'county', ST_GeomFromWKB(%s, 4490), true)",
        (PARENT, "基准测试区", shapely.to_wkb(square)),
    )
    zone_geoms = np.asarray(zones.geometry.array, dtype=object)
    multi = shapely.multipolygons(zone_geoms, indices=np.arange(zone_geoms.size))
    _copy(
        cur,
        "jurisdictions",
        ["adcode", "name", "level", "parent_adcode", "geom", "synthetic"],
        pd.DataFrame(
            {"adcode": zones["code"], "name": zones["name"], "level": "grid", "parent": PARENT}
        ).assign(geom=_hex_ewkb(multi), synthetic="t"),
    )
    _copy(
        cur,
        "enterprises",
        ["id", "credit_code", "name", "sector", "geom", "synthetic"],
        pd.DataFrame(
            {
                "id": ents["id"],
                "credit_code": [make_credit_code(f"91350505{i:09d}") for i in ents["id"]],
                "name": [f"企业 {i}" for i in ents["id"]],
                "sector": "hazardous_chemicals",
                "geom": _hex_ewkb(np.asarray(ents.geometry.array, dtype=object)),
                "synthetic": "t",
            }
        ),
    )
    conn.commit()

    # Secondary indexes and constraints of risk_units go during the COPY and come back after it.
    cur.execute(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'risk_units' AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = 'risk_units'::regclass)"
    )
    index_defs = [r[0] for r in cur.fetchall()]
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'risk_units'::regclass AND contype IN ('u', 'f')"
    )
    constraints = cur.fetchall()
    for (name,) in [(d.split()[2],) for d in index_defs]:
        cur.execute(f"DROP INDEX {name}")
    for name, _ in constraints:
        cur.execute(f"ALTER TABLE risk_units DROP CONSTRAINT {name}")
    conn.commit()

    if spatial_order:
        with _timed(tm, "spatial order (Hilbert sort before COPY)"):
            units = units.iloc[np.argsort(units.geometry.hilbert_distance(), kind="stable")]
    with _timed(tm, "build hex EWKB"):
        wkb = _hex_ewkb(np.asarray(units.geometry.array, dtype=object))
    with _timed(tm, "build COPY buffer"):
        owned = units["enterprise_id"].notna().to_numpy()
        frame = pd.DataFrame(
            {
                "id": units["id"].to_numpy(),
                "enterprise_id": units["enterprise_id"],
                "kind": np.where(owned, "enterprise", "public_area"),
                "name": "u" + units["id"].astype(str),
                "sector": "urban_gas",
                "geom": wkb,
                "level": units["level"].to_numpy(),
                "assessment_method": "direct",
                "synthetic": "t",
            }
        )
        buf = io.BytesIO(frame_text(frame))
    with _timed(tm, "COPY (incl. stored area_m2)"):
        cur.copy_expert(f"COPY risk_units ({', '.join(frame.columns)}) FROM STDIN", buf)
        conn.commit()
    with _timed(tm, "GiST index"):
        for d in index_defs:
            if "gist" in d:
                cur.execute(d)
        conn.commit()
    with _timed(tm, "other indexes and constraints"):
        for d in index_defs:
            if "gist" not in d:
                cur.execute(d)
        for name, definition in constraints:
            cur.execute(f"ALTER TABLE risk_units ADD CONSTRAINT {name} {definition}")
        conn.commit()
    conn.autocommit = True
    with _timed(tm, "ANALYZE"):
        cur.execute("VACUUM ANALYZE risk_units")
        cur.execute("VACUUM ANALYZE jurisdictions")
        cur.execute("VACUUM ANALYZE enterprises")
    conn.close()
    return tm


# --- measure ----------------------------------------------------------------------------------------


def _agreement(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> dict[str, Any]:
    """How far two four-colour results are apart, zone by zone (matched by code)."""
    same_codes = sorted(a["code"]) == sorted(b["code"])
    b = b.set_index("code").loc[a["code"]].reset_index()
    level_a, level_b = a["level"].fillna(0).to_numpy(), b["level"].fillna(0).to_numpy()
    counts_a = np.array([[c[lv] for lv in (1, 2, 3, 4)] for c in a["counts"]])
    counts_b = np.array([[c[lv] for lv in (1, 2, 3, 4)] for c in b["counts"]])
    out: dict[str, Any] = {
        "zones": len(a),
        "same zone codes": same_codes,
        "levels identical": bool((level_a == level_b).all()),
        "counts identical": bool((counts_a == counts_b).all()),
        "enterprise ids identical": a["enterprise_ids"].tolist() == b["enterprise_ids"].tolist(),
    }
    if a["area_share"].iloc[0] is not None and b["area_share"].iloc[0] is not None:
        share_a = np.array([[s[lv] for lv in (1, 2, 3, 4)] for s in a["area_share"]])
        share_b = np.array([[s[lv] for lv in (1, 2, 3, 4)] for s in b["area_share"]])
        out["max |area share difference|"] = float(np.abs(share_a - share_b).max())
    return out


@dataclass
class Row:
    work: str
    seconds: float
    runs: list[float]
    note: str = ""


def _sql_runner(url: str, zones: Any, *, area_share: bool, workers: str) -> Callable[[], gpd.GeoDataFrame]:
    from geo.store import four_colour as store

    engine = make_engine(url, statement_timeout_ms=3_600_000)

    def run() -> gpd.GeoDataFrame:
        store.PARALLEL_SETTINGS = {**BASE_SETTINGS, "max_parallel_workers_per_gather": workers}
        with engine.connect() as conn:
            return four_colour_sql(conn, zones, area_share=area_share)

    return run


def _reference_from_db(url: str) -> Callable[[], gpd.GeoDataFrame]:
    engine = make_engine(url, statement_timeout_ms=3_600_000)

    def run() -> gpd.GeoDataFrame:
        with engine.connect() as conn:
            zones = gpd.read_postgis(
                text("SELECT adcode AS code, name, geom FROM jurisdictions WHERE parent_adcode = :a"),
                conn,
                geom_col="geom",
                params={"a": PARENT},
            )
            units = load_units_frame(conn, tuple(zones.total_bounds))
        return four_colour(zones, units)

    return run


def _clear_cache(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM four_colour_zone_totals"))
    engine.dispose()


def _cached_zones(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT count(*) FROM four_colour_zone_totals")).scalar() or 0)
    engine.dispose()
    return n


def extra_units(data: Data, n: int, first_id: int, seed: int) -> pd.DataFrame:
    """n more units (squares as make_data's) with ids from first_id, as load()'s COPY frame."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform((X0, Y0), (X0 + SQUARE_M, Y0 + SQUARE_M), (n, 2))
    half = rng.uniform(10.0, 100.0, n)
    polygons = shapely.box(centre[:, 0] - half, centre[:, 1] - half, centre[:, 0] + half, centre[:, 1] + half)
    owner = rng.integers(1, len(data.enterprises) + 1, n)
    owned = rng.random(n) < 0.5
    return pd.DataFrame(
        {
            "id": np.arange(first_id, first_id + n, dtype=np.int64),
            "enterprise_id": pd.Series(owner).where(owned).astype("Int64"),
            "kind": np.where(owned, "enterprise", "public_area"),
            "name": [f"x{i}" for i in range(first_id, first_id + n)],
            "sector": "urban_gas",
            "geom": _hex_ewkb(_to_4490(polygons)),
            "level": rng.choice(np.array([1, 2, 3, 4]), size=n, p=LEVEL_SHARES),
            "assessment_method": "direct",
            "synthetic": "t",
        }
    )


def copy_units(url: str, frame: pd.DataFrame, *, triggers: bool = True) -> float:
    """Seconds to COPY the frame into risk_units and commit (the cache triggers on or off)."""
    conn = psycopg2.connect(psycopg2_dsn(url))
    cur = conn.cursor()
    if not triggers:
        cur.execute("ALTER TABLE risk_units DISABLE TRIGGER USER")
    conn.commit()
    t = time.perf_counter()
    _copy(cur, "risk_units", list(frame.columns), frame)
    conn.commit()
    seconds = time.perf_counter() - t
    if not triggers:
        cur.execute("ALTER TABLE risk_units ENABLE TRIGGER USER")
        conn.commit()
    conn.close()
    return seconds


def delete_units(url: str, first_id: int) -> float:
    """Seconds to delete the units from first_id on and commit."""
    conn = psycopg2.connect(psycopg2_dsn(url))
    cur = conn.cursor()
    t = time.perf_counter()
    cur.execute("DELETE FROM risk_units WHERE id >= %s", (first_id,))
    conn.commit()
    seconds = time.perf_counter() - t
    conn.close()
    return seconds


def write_costs(url: str, data: Data, zones_query: ZoneQuery, n: int = 100_000) -> list[tuple[str, float]]:
    """What keeping the cache current costs writers: a COPY of n units with the triggers off, with
    an empty cache and with every zone cached, then deleting them; one unit's level changed."""
    first = 10_000_000
    frame = extra_units(data, n, first, seed=7)
    fill = _sql_runner(url, zones_query, area_share=True, workers="1")
    _clear_cache(url)
    out = [(f"COPY {n:,} units, cache triggers disabled", copy_units(url, frame, triggers=False))]
    out.append((f"DELETE the {n:,} units, no cached zone", delete_units(url, first)))
    out.append(
        (f"COPY {n:,} units, no cached zone (the triggers find nothing to drop)", copy_units(url, frame))
    )
    delete_units(url, first)
    fill()
    out.append((f"COPY {n:,} units, all {len(data.zones):,} zones cached", copy_units(url, frame)))
    out.append((f"  zones still cached after it: {_cached_zones(url):,}", float("nan")))
    fill()
    out.append((f"DELETE the {n:,} units, all zones cached", delete_units(url, first)))
    fill()
    conn = psycopg2.connect(psycopg2_dsn(url))
    cur = conn.cursor()
    t = time.perf_counter()
    cur.execute("UPDATE risk_units SET level = 5 - level WHERE id = 1")
    conn.commit()
    out.append(("UPDATE one unit's level, all zones cached", time.perf_counter() - t))
    cur.execute("UPDATE risk_units SET level = 5 - level WHERE id = 1")
    conn.commit()
    conn.close()
    return out


def _versions(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar()
        postgis = conn.execute(text("SELECT postgis_full_version()")).scalar() or ""
    engine.dispose()
    geos = postgis.split('GEOS="')[1].split('"')[0] if 'GEOS="' in postgis else "?"
    pg_postgis = postgis.split('POSTGIS="')[1].split('"')[0].split()[0] if 'POSTGIS="' in postgis else "?"
    return (
        f"PostgreSQL {pg}, PostGIS {pg_postgis} (GEOS {geos}); Python {platform.python_version()}, "
        f"geopandas {gpd.__version__}, shapely {shapely.__version__} (GEOS {shapely.geos_version_string}), "
        f"pyproj {pyproj.__version__}, numpy {np.__version__}, pandas {pd.__version__}, SQLAlchemy {sqlalchemy.__version__}"
    )


BASE_SETTINGS: dict[str, str] = {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--units", type=int, default=1_000_000)
    ap.add_argument("--zones", type=int, default=40_000)
    ap.add_argument("--enterprises", type=int, default=20_000)
    ap.add_argument(
        "--enterprise-share", type=float, default=0.5, help="share of units owned by an enterprise"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="100k units, 4k zones, 1 run: a sanity check")
    ap.add_argument(
        "--order", choices=("hilbert", "random"), default="hilbert", help="physical order of the units"
    )
    ap.add_argument("--reuse", action="store_true", help="keep the loaded database if its sizes match")
    ap.add_argument("--variants", action="store_true", help="also time serial plans and the TEMP-table path")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.quick:
        args.units, args.zones, args.enterprises, args.repeat = 100_000, 4_000, 2_000, 1

    from geo.store import four_colour as store

    global BASE_SETTINGS
    BASE_SETTINGS = dict(store.PARALLEL_SETTINGS)
    command = ".venv/bin/python bench/four_colour.py " + " ".join(
        a for a in __import__("sys").argv[1:] if a != "--reuse"
    )

    print(f"generating {args.zones:,} zones and {args.units:,} units …", flush=True)
    t = time.perf_counter()
    data = make_data(args.zones, args.units, args.enterprises, args.enterprise_share)
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    data.units["area_m2"] = geodesic_area_m2(np.asarray(data.units.geometry.array, dtype=object))
    area_s = time.perf_counter() - t
    print(f"  {gen_s:.1f} s; unit areas in memory {area_s:.1f} s", flush=True)

    url = server_url().set(database=DB_NAME).render_as_string(hide_password=False)
    load_times: dict[str, float] = {}
    reused = False
    if args.reuse and database_exists(DB_NAME):
        eng = create_engine(url)
        with eng.connect() as conn:
            n_units = conn.execute(text("SELECT count(*) FROM risk_units")).scalar()
            n_zones = conn.execute(
                text("SELECT count(*) FROM jurisdictions WHERE parent_adcode = :a"), {"a": PARENT}
            ).scalar()
        eng.dispose()
        reused = n_units == len(data.units) and n_zones == len(data.zones)
        if reused:
            upgrade(url)
    if not reused:
        print("loading …", flush=True)
        url = create_database(DB_NAME)
        load_times = load(url, data, spatial_order=args.order == "hilbert")
        for k, v in load_times.items():
            print(f"  {k}: {v:.1f} s", flush=True)

    children = "SELECT adcode AS code, name, geom FROM jurisdictions WHERE parent_adcode = :a"
    zones_query = ZoneQuery(children, {"a": PARENT})
    stored_query = ZoneQuery(children, {"a": PARENT}, stored=True)
    rows: list[Row] = []

    def measure(work: str, fn: Callable[[], Any], note: str = "", repeat: int = args.repeat) -> Any:
        print(f"{work} …", flush=True)
        med, runs, result = median_of(repeat, fn)
        rows.append(Row(work, med, runs, note))
        print(f"  median {med:.2f} s of {', '.join(f'{x:.2f}' for x in runs)}", flush=True)
        return result

    cold = _sql_runner(url, stored_query, area_share=True, workers="1")

    def cold_run() -> gpd.GeoDataFrame:
        _clear_cache(url)  # not timed apart: a DELETE of 40k rows, ~0.1 s
        return cold()

    measure(
        "(1c) stored zones, cold: no zone cached, every zone aggregated and its totals stored",
        cold_run,
        "the first map of these zones after the cache was emptied; the aggregation of (1d) + storing",
    )
    sql_area = measure(
        "(1) four_colour_sql, stored zones (ZoneQuery stored=True), all totals cached, with area shares",
        _sql_runner(url, stored_query, area_share=True, workers="1"),
        "reads four_colour_zone_totals; what a map request costs while nothing is written",
    )
    measure(
        "(1a) as (1), counts and levels only",
        _sql_runner(url, stored_query, area_share=False, workers="1"),
    )
    stored_run = _sql_runner(url, stored_query, area_share=True, workers="1")
    times = []
    stale_counts = []
    for run in range(args.repeat):
        frame = extra_units(data, 1000, 20_000_000 + 1000 * run, seed=100 + run)
        copy_units(url, frame)
        stale_counts.append(len(data.zones) - _cached_zones(url))
        t = time.perf_counter()
        stored_run()
        times.append(time.perf_counter() - t)
    rows.append(
        Row(
            "(1b) as (1), just after 1,000 units were added at random places",
            float(np.median(times)),
            times,
            f"the COPY's triggers dropped {', '.join(f'{n:,}' for n in stale_counts)} zones' totals; "
            "the map aggregates those again and stores them",
        )
    )
    delete_units(url, 20_000_000)
    measure(
        "(1d) four_colour_sql, zones from a table without the cache (stored=False), with area shares",
        _sql_runner(url, zones_query, area_share=True, workers="1"),
        "zones-outer nested loop into the units' GiST, 1 parallel worker + leader",
    )
    measure(
        "(1e) as (1d), counts and levels only (area_share=False)",
        _sql_runner(url, zones_query, area_share=False, workers="1"),
        "same plan, no intersections",
    )
    if args.variants:
        measure(
            "(1f) as (1d), serial plan (max_parallel_workers_per_gather=0)",
            _sql_runner(url, zones_query, area_share=True, workers="0"),
        )
        measure(
            "(1g) as (1e), serial plan",
            _sql_runner(url, zones_query, area_share=False, workers="0"),
        )
        measure(
            "(1h) as (1d), 2 parallel workers",
            _sql_runner(url, zones_query, area_share=True, workers="2"),
        )
        zones_frame = data.zones[["code", "name", "geometry"]]
        measure(
            "(1i) four_colour_sql, zones as a GeoDataFrame (TEMP table, never cached), with area shares",
            _sql_runner(url, zones_frame, area_share=True, workers="1"),
            "a TEMP table cannot be scanned by parallel workers: serial",
        )
        measure(
            "(1j) as (1i), counts and levels only",
            _sql_runner(url, zones_frame, area_share=False, workers="1"),
        )
    measure(
        "(2) GeoPandas reference, from the database to the answer",
        _reference_from_db(url),
        "read_postgis(zones) + load_units_frame(bbox) + four_colour; units carry the stored area_m2",
    )
    ref = measure(
        "(3) GeoPandas reference, data in memory, with area shares",
        lambda: four_colour(data.zones, data.units),
        f"units carry area_m2 (computing it in memory: {area_s:.1f} s, once)",
    )
    measure(
        "(3b) GeoPandas reference, data in memory, counts and levels only",
        lambda: four_colour(data.zones, data.units, area_share=False),
    )
    agreement = _agreement(sql_area, ref)
    print(agreement, flush=True)
    print("write costs …", flush=True)
    writes = write_costs(url, data, stored_query, n=args.units // 10)
    for k, v in writes:
        print(f"  {k}: {v:.2f} s", flush=True)
    report = _report(args, command, rows, agreement, load_times, reused, gen_s, url, writes)
    # Notes written by hand below the marker (what was tried and what it gave) survive a new run.
    old = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
    notes = old[old.index(NOTES_MARKER) :] if NOTES_MARKER in old else NOTES_MARKER + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report + "\n" + notes, encoding="utf-8")
    print(report)


def _report(
    args: argparse.Namespace,
    command: str,
    rows: list[Row],
    agreement: dict[str, Any],
    load_times: dict[str, float],
    reused: bool,
    gen_s: float,
    url: str,
    writes: list[tuple[str, float]],
) -> str:
    load_avg = Path("/proc/loadavg").read_text().split()[:3]
    lines = [
        "# Four-colour map: PostGIS against the GeoPandas reference",
        "",
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {machine()}; load average at the end {' / '.join(load_avg)}",
        f"- versions: {_versions(url)}",
        f"- data: numpy seed 42, EPSG:4547 over a 300 km square (stored in EPSG:4490); {args.zones:,} Voronoi "
        f"zones; {args.units:,} squares of side 20–200 m turned at random, levels 1–4 at 5/15/40/40 %; "
        f"{args.enterprise_share:.0%} of them owned by {args.enterprises:,} enterprises; units stored in "
        f"{args.order} order",
        f"- command: `{command.strip()}`",
        f"- times: median of {args.repeat} (wall clock, each run on a fresh connection)",
        "",
        "| work | median s | runs s | note |",
        "|---|---:|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.work} | {r.seconds:.2f} | {', '.join(f'{x:.2f}' for x in r.runs)} | {r.note} |")
    lines += ["", "(4) agreement of (1) and (3): " + "; ".join(f"{k}: {v}" for k, v in agreement.items()), ""]
    lines += [
        "Keeping the cached totals current: what writers pay (migration 0007's statement triggers; wall "
        "clock of the statement and its commit, one run each):",
        "",
        "| write | s |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {'' if v != v else f'{v:.2f}'} |" for k, v in writes] + [""]
    if load_times:
        lines += [
            "Loading (psycopg2 COPY of hex EWKB; secondary indexes and constraints of risk_units built after):",
            "",
        ]
        lines += ["| step | s |", "|---|---:|"] + [f"| {k} | {v:.1f} |" for k, v in load_times.items()]
        lines += [f"| total | {sum(load_times.values()):.1f} |", ""]
    elif reused:
        lines += ["(database reused from an earlier run: loading not timed)", ""]
    lines += [f"Generating the data in memory took {gen_s:.1f} s (not part of any figure).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
