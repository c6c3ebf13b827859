"""Benchmark of the joint-prevention clusters: PostGIS (geo.store.joint_prevention) against scikit-learn's
DBSCAN on the same 100,000 enterprises, in the same run, with the sector rules (data/sector_similarity.csv).

Setup of ../shared/performance.md: numpy seed 42, EPSG:4547 over a 300 km square, 100,000 enterprise points
(80 % around 2,000 park centres, σ 500 m), eps 500 m; stored in EPSG:4490. Each park is dominated by one
trade (70 %), the rest drawn from a county-like mix, so that "same or similar trade" matters.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg2
import pyproj
import scipy
import shapely
import sklearn
import sqlalchemy
from common import create_database, machine, median_of, psycopg2_dsn, server_url
from sklearn.cluster import DBSCAN
from sqlalchemy import create_engine, text

from geo.access import SYSTEM
from geo.codes import make_credit_code
from geo.joint_prevention import (
    Trade,
    components,
    partition,
    reference_clusters,
    similarity_rules,
    trade_links,
)
from geo.store import joint_prevention as store
from geo.store.bulk import frame_text
from geo.store.engine import make_engine

DB_NAME = "riskmap_bench_clusters"
SQUARE_M = 300_000.0
X0, Y0 = 350_000.0, 2_700_000.0  # EPSG:4547 (CGCS2000 GK CM 114E), the square's south-west corner (≈ 24.4°N)
EPS_M = 500.0
PARENT = "BENCH"
RESULTS = Path(__file__).resolve().parent / "results" / "clusters.md"
PEER_SKLEARN_S = 0.24  # ../shared/performance.md: scikit-learn DBSCAN ball_tree, 100k points, eps 500 m
PEER_POSTGIS_S = 0.30  # ../shared/performance.md: ST_ClusterDBSCAN(geom, 500, 1) OVER (), rows fetched

# (sector, business type, weight): a county-like mix, with the trades the similarity table links.
TRADES: list[tuple[str, str, float]] = [
    ("hazardous_chemicals", "危化品生产", 4),
    ("hazardous_chemicals", "危化品储存", 2),
    ("hazardous_chemicals", "加油站", 3),
    ("hazardous_chemicals", "加气站", 0.7),
    ("urban_gas", "瓶装液化气供应站", 0.6),
    ("urban_gas", "管道燃气经营", 0.3),
    ("special_equipment", "压力容器充装", 1.5),
    ("special_equipment", "起重机械使用", 1.5),
    ("road_transport", "危险货物道路运输", 1.5),
    ("road_transport", "普通货物运输", 3),
    ("fireworks", "烟花爆竹零售", 1),
    ("civil_explosives", "爆破作业", 0.3),
    ("industry_trade", "家具制造", 8),
    ("industry_trade", "纺织服装", 12),
    ("industry_trade", "食品加工", 12),
    ("industry_trade", "机械制造", 16),
    ("industry_trade", "建材（石材加工）", 7),
    ("dust_explosion", "粉尘涉爆-木材加工", 2.5),
    ("dust_explosion", "粉尘涉爆-粮食加工", 1.5),
    ("dust_explosion", "粉尘涉爆-金属抛光", 2),
    ("metal_smelting", "铝加工（熔铸）", 1),
    ("ammonia_refrigeration", "冷库（涉氨制冷）", 2),
    ("non_coal_mine", "露天采石场", 1.5),
    ("fire_safety", "商场超市", 3),
    ("other", "仓储物流", 2),
]


@dataclass
class Data:
    xy: np.ndarray  # (n, 2) EPSG:4547 metres
    trade: np.ndarray  # (n,) index into TRADES
    ids: np.ndarray  # (n,) enterprise ids 1..n


def make_data(n: int, parks: int) -> Data:
    rng = np.random.default_rng(42)
    n_park = int(n * 0.8)
    centres = rng.uniform((X0, Y0), (X0 + SQUARE_M, Y0 + SQUARE_M), (parks, 2))
    which = rng.integers(parks, size=n_park)
    near = centres[which] + rng.normal(0.0, 500.0, (n_park, 2))
    loose = rng.uniform((X0, Y0), (X0 + SQUARE_M, Y0 + SQUARE_M), (n - n_park, 2))
    xy = np.vstack([near, loose])
    weights = np.array([w for _, _, w in TRADES])
    weights /= weights.sum()
    main = rng.choice(len(TRADES), size=parks, p=weights)  # each park's dominant trade
    mixed = rng.choice(len(TRADES), size=n, p=weights)
    trade = mixed.copy()
    dominant = rng.random(n_park) < 0.7
    trade[:n_park][dominant] = main[which][dominant]
    return Data(xy, trade, np.arange(1, n + 1, dtype=np.int64))


# --- database ---------------------------------------------------------------------------------------


def load(url: str, data: Data) -> float:
    """COPY the enterprises (points, EPSG:4490) under one synthetic county; ANALYZE. Returns seconds."""
    t = time.perf_counter()
    to_4490 = pyproj.Transformer.from_crs(4547, 4490, always_xy=True)
    lon, lat = to_4490.transform(data.xy[:, 0], data.xy[:, 1])
    square = shapely.box(X0 - 5_000, Y0 - 5_000, X0 + SQUARE_M + 5_000, Y0 + SQUARE_M + 5_000)
    square = shapely.transform(square, lambda c: np.column_stack(to_4490.transform(c[:, 0], c[:, 1])))
    conn = psycopg2.connect(psycopg2_dsn(url))
    cur = conn.cursor()
    cur.execute(
        "INSERT INTO jurisdictions (adcode, name, level, geom, synthetic) "
        "VALUES (%s, %s, 'county', ST_Multi(ST_GeomFromWKB(%s, 4490)), true)",
        (PARENT, "基准测试县", shapely.to_wkb(square)),
    )
    points = shapely.to_wkb(shapely.set_srid(shapely.points(lon, lat), 4490), hex=True, include_srid=True)
    frame = pd.DataFrame(
        {
            "id": data.ids,
            "credit_code": [make_credit_code(f"91440300{i:09d}") for i in data.ids],
            "name": [f"企业{i}" for i in data.ids],
            "sector": [TRADES[k][0] for k in data.trade],
            "business_type": [TRADES[k][1] for k in data.trade],
            "jurisdiction_adcode": PARENT,
            "geom": points,
            "synthetic": "t",
        }
    )
    buf = io.BytesIO(frame_text(frame))
    cur.copy_expert(f"COPY enterprises ({', '.join(frame.columns)}) FROM STDIN", buf)
    conn.commit()
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE enterprises")
    cur.execute("VACUUM ANALYZE jurisdictions")
    conn.close()
    return time.perf_counter() - t


def loaded(url: str, n: int) -> bool:
    try:
        eng = create_engine(url)
        with eng.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM enterprises WHERE jurisdiction_adcode = :a"), {"a": PARENT}
            )
            ok = found.scalar() == n
        eng.dispose()
        return ok
    except sqlalchemy.exc.OperationalError:
        return False


# --- the work measured ----------------------------------------------------------------------------


def postgis(url: str, *, method: str, widen: bool = True) -> Callable[[], list[tuple[int, ...]]]:
    engine = make_engine(url, statement_timeout_ms=600_000)
    rules = similarity_rules()

    def run() -> list[tuple[int, ...]]:
        with engine.connect() as conn:
            result = store.cluster_enterprises(
                conn, SYSTEM, PARENT, distance_m=EPS_M, rules=rules, widen=widen, method=method
            )
            conn.rollback()
        return partition(result.ids, result.labels)

    return run


def postgis_report(url: str) -> Callable[[], int]:
    """Clusters and what the API reports of them: members' register fields and unit counts, hulls."""
    engine = make_engine(url, statement_timeout_ms=600_000)
    rules = similarity_rules()

    def run() -> int:
        with engine.connect() as conn:
            result = store.cluster_enterprises(conn, SYSTEM, PARENT, distance_m=EPS_M, rules=rules)
            found = store.cluster_members(conn, result)
            conn.rollback()
        return len(found.hulls)

    return run


def postgis_plain(url: str) -> Callable[[], list[tuple[int, ...]]]:
    """The peer's query: ST_ClusterDBSCAN(geom, 500, 1) OVER () on the points in EPSG:4547, rows fetched."""
    engine = make_engine(url, statement_timeout_ms=600_000)
    query = text(
        "SELECT id, ST_ClusterDBSCAN(ST_Transform(geom, 4547), :d, 1) OVER () AS c "
        "FROM enterprises WHERE jurisdiction_adcode = :a"
    )

    def run() -> list[tuple[int, ...]]:
        with engine.connect() as conn:
            rows = conn.execute(query, {"d": EPS_M, "a": PARENT}).all()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        return partition(ids, np.array([r[1] for r in rows], dtype=np.int64))

    return run


def sklearn_plain(data: Data) -> Callable[[], list[tuple[int, ...]]]:
    def run() -> list[tuple[int, ...]]:
        labels = DBSCAN(eps=EPS_M, min_samples=1).fit(data.xy).labels_
        return partition(data.ids, labels.astype(np.int64))

    return run


def _links(data: Data, widen: bool) -> tuple[Any, np.ndarray]:
    present = sorted({Trade(*TRADES[k][:2]) for k in np.unique(data.trade)})
    links = trade_links(present, similarity_rules(), widen=widen)
    index = links.index()
    return links, np.array([index[Trade(*TRADES[k][:2])] for k in data.trade], dtype=np.int64)


def sklearn_rules(data: Data, *, widen: bool = True) -> Callable[[], list[tuple[int, ...]]]:
    """The same rules with scikit-learn: DBSCAN(eps, 1) per clique of the similarity, then the connected
    components of all those clusters (scipy.sparse.csgraph) — the algorithm of method=cliques, in memory."""

    def run() -> list[tuple[int, ...]]:
        links, trade = _links(data, widen)
        a, b = [], []
        for clique in links.cliques:
            rows = np.flatnonzero(np.isin(trade, clique))
            if len(rows) < 2:
                continue
            labels = DBSCAN(eps=EPS_M, min_samples=1).fit(data.xy[rows]).labels_
            _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
            a.append(rows)
            b.append(rows[first[inverse]])
        labels = components(len(data.ids), np.concatenate(a), np.concatenate(b))
        return partition(data.ids, labels)

    return run


def kdtree_rules(data: Data) -> Callable[[], list[tuple[int, ...]]]:
    """geo.joint_prevention.reference_clusters: k-d tree pairs within eps, similarity filter, components."""

    def run() -> list[tuple[int, ...]]:
        links, trade = _links(data, True)
        return partition(data.ids, reference_clusters(data.xy, trade, links, EPS_M))

    return run


@dataclass
class Row:
    work: str
    seconds: float
    runs: list[float]
    result: Any
    note: str = ""


def _versions(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar()
        postgis_v = conn.execute(text("SELECT postgis_full_version()")).scalar() or ""
    engine.dispose()
    geos = postgis_v.split('GEOS="')[1].split('"')[0] if 'GEOS="' in postgis_v else "?"
    pgis = postgis_v.split('POSTGIS="')[1].split('"')[0].split()[0] if 'POSTGIS="' in postgis_v else "?"
    return (
        f"PostgreSQL {pg}, PostGIS {pgis} (GEOS {geos}); Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, scipy {scipy.__version__}, numpy {np.__version__}, "
        f"shapely {shapely.__version__}, pyproj {pyproj.__version__}, SQLAlchemy {sqlalchemy.__version__}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--parks", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reuse", action="store_true", help="keep the loaded database if its size matches")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    command = ".venv/bin/python bench/clusters.py " + " ".join(a for a in sys.argv[1:] if a != "--reuse")

    data = make_data(args.enterprises, args.parks)
    url = server_url().set(database=DB_NAME).render_as_string(hide_password=False)
    load_s = None
    if not (args.reuse and loaded(url, args.enterprises)):
        print(f"loading {args.enterprises:,} enterprises …", flush=True)
        url = create_database(DB_NAME)
        load_s = load(url, data)
        print(f"  {load_s:.1f} s", flush=True)

    rows: list[Row] = []

    def measure(work: str, fn: Callable[[], Any], note: str = "", *, warm_up: bool = True) -> Any:
        print(f"{work} …", flush=True)
        if warm_up:
            fn()  # warm-up (connection, PROJ, imports), not counted
        med, runs, result = median_of(args.repeat, fn)
        rows.append(Row(work, med, runs, result, note))
        print(
            f"  median {med:.3f} s of {', '.join(f'{x:.3f}' for x in runs)}; {len(result) if isinstance(result, list) else result} clusters",
            flush=True,
        )
        return result

    ours = measure(
        "(1) PostGIS `cluster_enterprises`, sector rules (method auto → cliques)",
        postgis(url, method="auto"),
        "stage sites in the GK zone, ST_ClusterDBSCAN per clique, components; the API's clustering step",
    )
    pairs = measure(
        "(2) PostGIS `cluster_enterprises`, sector rules, method pairs",
        postgis(url, method="pairs"),
        "ST_DWithin self-join on a GiST index of the metric sites, components (scipy.sparse.csgraph); "
        "no warm-up run (slow)",
        warm_up=False,
    )
    same_sector = measure(
        "(3) PostGIS `cluster_enterprises`, same sector only (method dbscan)",
        postgis(url, method="auto", widen=False),
        "ST_ClusterDBSCAN partitioned by sector",
    )
    measure(
        "(4) PostGIS `cluster_enterprises` + `cluster_members` (what the API reports)",
        postgis_report(url),
        "+ members' register fields, unit counts, convex hulls (count = clusters ≥ 2 kept)",
    )
    plain = measure(
        "(5) PostGIS `ST_ClusterDBSCAN(geom, 500, 1) OVER ()`, no trades (the peer's query)",
        postgis_plain(url),
        "rows fetched",
    )
    sk_rules = measure(
        "(6) scikit-learn DBSCAN per clique + components, sector rules",
        sklearn_rules(data),
        "same data and rules, in memory",
    )
    sk_sector = measure(
        "(7) scikit-learn DBSCAN per sector, same sector only",
        sklearn_rules(data, widen=False),
    )
    sk_plain = measure(
        "(8) scikit-learn `DBSCAN(eps=500, min_samples=1).fit`, no trades", sklearn_plain(data)
    )
    kd = measure(
        "(9) k-d tree reference (`geo.joint_prevention.reference_clusters`), sector rules",
        kdtree_rules(data),
        "scipy cKDTree.query_pairs + similarity filter + components",
    )
    agreement = {
        "(1) = (2) = (6) = (9) (sector rules)": ours == pairs == sk_rules == kd,
        "(3) = (7) (same sector)": same_sector == sk_sector,
        "(5) = (8) (no trades)": plain == sk_plain,
    }
    print(agreement, flush=True)
    by = {r.work[:3]: r for r in rows}
    load_avg = Path("/proc/loadavg").read_text().split()[:3]
    lines = [
        "# Joint-prevention clusters: PostGIS against scikit-learn",
        "",
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {machine()}; load average at the end {' / '.join(load_avg)}",
        f"- versions: {_versions(url)}",
        f"- data: numpy seed 42, EPSG:4547 over a 300 km square (stored in EPSG:4490); {args.enterprises:,} "
        f"enterprise points, 80 % around {args.parks:,} park centres (σ 500 m), 20 % uniform; {len(TRADES)} "
        f"trades in {len({s for s, _, _ in TRADES})} sectors, each park 70 % its dominant trade; eps {EPS_M:g} m; "
        f"similarity: data/sector_similarity.csv"
        + (f"; load (COPY + ANALYZE) {load_s:.1f} s" if load_s else ""),
        f"- command: `{command.strip()}`",
        f"- times: median of {args.repeat} after one warm-up run (none for (2)), wall clock, rows fetched "
        "into Python",
        "",
        "| work | median s | runs s | clusters (≥ 2) | note |",
        "|---|---:|---|---:|---|",
    ]
    for r in rows:
        count = len(r.result) if isinstance(r.result, list) else r.result
        lines.append(
            f"| {r.work} | {r.seconds:.3f} | {', '.join(f'{x:.3f}' for x in r.runs)} | {count:,} | {r.note} |"
        )
    lines += [
        "",
        "Ratios (PostGIS / scikit-learn, same rules, same data): "
        f"sector rules (1)/(6) = {by['(1)'].seconds / by['(6)'].seconds:.2f}; "
        f"same sector (3)/(7) = {by['(3)'].seconds / by['(7)'].seconds:.2f}; "
        f"no trades (5)/(8) = {by['(5)'].seconds / by['(8)'].seconds:.2f}. "
        f"Target: (1) ≤ 1 s — {'met' if by['(1)'].seconds <= 1.0 else 'NOT met'} on this run.",
        "",
        f"This VM against the peer run of ../shared/performance.md: scikit-learn (8) took {by['(8)'].seconds:.2f} s "
        f"here and {PEER_SKLEARN_S} s there (×{by['(8)'].seconds / PEER_SKLEARN_S:.1f}), the plain PostGIS query (5) "
        f"{by['(5)'].seconds:.2f} s here and {PEER_POSTGIS_S} s there (×{by['(5)'].seconds / PEER_POSTGIS_S:.1f}). "
        f"Scaled by (5)'s factor, (1) would take {by['(1)'].seconds * PEER_POSTGIS_S / by['(5)'].seconds:.2f} s "
        "on the peer's machine; read the load average above.",
        "",
        "Identical partitions (clusters of ≥ 2 compared as sets of ids): "
        + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in agreement.items()),
        "",
    ]
    report = "\n".join(lines)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
