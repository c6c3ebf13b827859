"""A synthetic province at national-deployment density, and the figures of issue 16 measured on it.

    python -m bench.province generate [--scale 1.0] [--database riskmap_bench_province]
    python -m bench.province measure [--runs 3] [--database riskmap_bench_province]

`generate` makes the database (bench.common.create_database: from riskmap_template, migrated to head) and
loads, deterministically (numpy seed 42, one generator per chunk), at scale 1.0:

- 1 province, 9 cities, 90 counties and 39,600 township-like zones (level 'township'): a 180 × 220 grid of
  cells of ~1.7 km whose vertices are jittered by up to 15 % of a cell (so every cell stays a convex quad and
  the cells tile the province without gaps or overlaps), over 300 km × 400 km around 118° E 26° N. A county
  is a block of 20 × 22 cells, a city a block of 3 × 3 (or 3 × 4) counties; their boundaries are the
  cells' outer edges, so the levels nest exactly. Codes: Fujian's prefix 35 (adcodes must start with a
  province code of GB/T 2260, geo.codes), the province row 350000 (written only where none is stored),
  cities 359100–359900 and counties 3591xx–3599xx, which GB/T 2260 does not use (Fujian's cities are
  3501–3509): no clash with the demo's real boundaries; townships are the county's code + 001–440.
- 100,000 enterprises (points; 80 % around 2,000 park centres with σ 500 m, the rest anywhere; sectors of
  data/sectors.csv; credit codes 91 + county + a serial, with the GB 32100 check character).
- 1,000,000 risk units, every one of an enterprise (1 + a skewed share of the rest per enterprise), within
  σ 150 m of it: 90 % polygons (rotated squares of 20–200 m), 5 % lines, 5 % points; levels 1–4 at
  5/15/40/40 %; accident types of GB 6441; the county of the cell its centre is in.
- 100,000 protection targets of data/target_types.csv (90 % points, 10 % polygons), classes by
  geo.targets.derive_gb_class.

Rows go through the one COPY writer (geo.store.bulk.copy_chunks), made chunk by chunk while the server
stores the chunk before. As bench/tiles.py does for a bulk load, the tables' user triggers are off during
the load (a fresh database has no cached four-colour totals or answers to drop) and the counters they move
are moved once after it (tile_epoch, tile_epoch_<table>, four_colour_writes); secondary indexes are
dropped before and built after the load (shared/performance.md: "drop or defer indexes during a bulk
load"), then ANALYZE.

`measure` is described in its own docstring (`measure_all`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import http.client
import json
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, create_engine, text

from bench.common import EXPORT_ROWS, SUBTREE, json_agg_sql
from geo import vocab
from geo.codes import make_credit_code
from geo.resources import read_table
from geo.store.bulk import array_literal, copy_chunks, copy_text, geometry_fields, text_fields
from geo.targets import derive_gb_class

DB = "riskmap_bench_province"
SEED = 42
CENTRE = (118.0, 26.0)
SOURCE = "synthetic: bench/province.py (numpy seed 42)"
M_LAT = 1 / 111_320
M_LON = 1 / (111_320 * math.cos(math.radians(CENTRE[1])))
COUNTY_COLS, COUNTY_ROWS = 9, 10  # 90 counties
CITY_OF_COL = (0, 0, 0, 1, 1, 1, 2, 2, 2)
CITY_OF_ROW = (0, 0, 0, 1, 1, 1, 2, 2, 2, 2)  # 3 × 3 cities of 3 × 3 (the last row 3 × 4) counties
ZONES_X, ZONES_Y = 20, 22  # cells per county at scale 1: 39,600 zones
CELL_X, CELL_Y = 300_000 / (COUNTY_COLS * ZONES_X), 400_000 / (COUNTY_ROWS * ZONES_Y)  # metres
JITTER = 0.15  # of a cell, per axis: every cell stays convex
ENTERPRISES, UNITS, TARGETS, PARKS = 100_000, 1_000_000, 100_000, 2_000
CHUNK = 50_000
TABLES = ("jurisdictions", "enterprises", "risk_units", "protection_targets")

SECTOR_WEIGHTS = {
    "industry_trade": 0.45, "hazardous_chemicals": 0.10, "construction": 0.08, "fire_safety": 0.08,
    "dust_explosion": 0.05, "other": 0.05, "road_transport": 0.04, "urban_gas": 0.03, "non_coal_mine": 0.03,
    "special_equipment": 0.03, "ammonia_refrigeration": 0.02, "fireworks": 0.02, "metal_smelting": 0.02,
}  # fmt: skip
TARGET_WEIGHTS = {
    "residential": 0.35, "village": 0.20, "school": 0.08, "office": 0.07, "kindergarten": 0.05,
    "shopping": 0.05, "industrial": 0.05, "hotel": 0.04, "hospital": 0.03, "entertainment": 0.03,
    "care_home": 0.02, "government": 0.02, "transport_hub": 0.01,
}  # fmt: skip
HOUSEHOLD_TYPES = ("residential", "village")
CONTROL = {1: ("company",), 2: ("workshop", "company"), 3: ("team", "workshop"), 4: ("post", "team")}
DEPARTMENT = {"company": "安全环保部", "workshop": "生产车间", "team": "运行班组", "post": "操作岗"}
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国")


@dataclass(frozen=True)
class Province:
    """The cell grid: `vertices[j, i]` is the jittered corner (metres from the south-west corner)."""

    nx: int
    ny: int
    zx: int
    zy: int
    vertices: np.ndarray

    @classmethod
    def make(cls, scale: float, seed: int = SEED) -> Province:
        zx = max(1, round(ZONES_X * math.sqrt(scale)))
        zy = max(1, round(ZONES_Y * math.sqrt(scale)))
        nx, ny = COUNTY_COLS * zx, COUNTY_ROWS * zy
        rng = np.random.default_rng([seed, 0])
        gx, gy = np.meshgrid(np.arange(nx + 1, dtype=float), np.arange(ny + 1, dtype=float))
        jx = (rng.random(gx.shape) * 2 - 1) * JITTER
        jy = (rng.random(gy.shape) * 2 - 1) * JITTER
        vertices = np.stack([(gx + jx) * CELL_X, (gy + jy) * CELL_Y], axis=-1)
        return cls(nx, ny, zx, zy, vertices)

    @property
    def width_m(self) -> float:
        return self.nx * CELL_X

    @property
    def height_m(self) -> float:
        return self.ny * CELL_Y

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Metres from the south-west corner to lon/lat (a local equirectangular frame around CENTRE)."""
        return (
            CENTRE[0] + (x - self.width_m / 2) * M_LON,
            CENTRE[1] + (y - self.height_m / 2) * M_LAT,
        )

    def world(self, gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid coordinates (cell units) to metres, bilinear in each cell: a point of cell (i, j) in grid
        space lies in that cell's quad on the ground."""
        i = np.clip(np.floor(gx).astype(int), 0, self.nx - 1)
        j = np.clip(np.floor(gy).astype(int), 0, self.ny - 1)
        u, v = (gx - i)[:, None], (gy - j)[:, None]
        v00, v10 = self.vertices[j, i], self.vertices[j, i + 1]
        v01, v11 = self.vertices[j + 1, i], self.vertices[j + 1, i + 1]
        p = (1 - u) * (1 - v) * v00 + u * (1 - v) * v10 + (1 - u) * v * v01 + u * v * v11
        return p[:, 0], p[:, 1]

    def clip(self, gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.clip(gx, 0, self.nx - 1e-6), np.clip(gy, 0, self.ny - 1e-6)

    def county_index(self, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
        """0–89: the county of the cell each grid point is in (row-major from the south-west)."""
        col = np.clip(np.floor(gx).astype(int) // self.zx, 0, COUNTY_COLS - 1)
        row = np.clip(np.floor(gy).astype(int) // self.zy, 0, COUNTY_ROWS - 1)
        return row * COUNTY_COLS + col

    def block(self, i0: int, j0: int, i1: int, j1: int) -> shapely.Polygon:
        """The outline of cells [i0, i1) × [j0, j1): the cells' outer edges, counter-clockwise, in lon/lat."""
        v = self.vertices
        ring = np.concatenate(
            [v[j0, i0:i1], v[j0:j1, i1], v[j1, i1:i0:-1], v[j1:j0:-1, i0], v[j0, i0 : i0 + 1]]
        )
        lon, lat = self.lonlat(ring[:, 0], ring[:, 1])
        return shapely.Polygon(np.column_stack([lon, lat]))


def county_code(k: int) -> str:
    row, col = divmod(k, COUNTY_COLS)
    city = CITY_OF_ROW[row] * 3 + CITY_OF_COL[col]
    members = [
        r * COUNTY_COLS + c
        for r in range(COUNTY_ROWS)
        for c in range(COUNTY_COLS)
        if CITY_OF_ROW[r] * 3 + CITY_OF_COL[c] == city
    ]
    return f"359{city + 1}{members.index(k) + 1:02d}"


def city_code(city: int) -> str:
    return f"359{city + 1}00"


COUNTY_CODES = [county_code(k) for k in range(COUNTY_COLS * COUNTY_ROWS)]


def jurisdiction_rows(p: Province, has_province: bool) -> Iterator[tuple[bytes, int]]:
    """Province (unless stored), cities, counties, then the zones (parents before children)."""
    rows: list[tuple[str, str, str, str | None, Any]] = []
    if not has_province:
        rows.append(("350000", "福建省（合成）", "province", None, p.block(0, 0, p.nx, p.ny)))
    for city in range(9):
        cols = [c for c in range(COUNTY_COLS) if CITY_OF_COL[c] == city % 3]
        rws = [r for r in range(COUNTY_ROWS) if CITY_OF_ROW[r] == city // 3]
        outline = p.block(cols[0] * p.zx, rws[0] * p.zy, (cols[-1] + 1) * p.zx, (rws[-1] + 1) * p.zy)
        rows.append((city_code(city), f"合成{city + 1}市", "city", "350000", outline))
    for k, code in enumerate(COUNTY_CODES):
        row, col = divmod(k, COUNTY_COLS)
        outline = p.block(col * p.zx, row * p.zy, (col + 1) * p.zx, (row + 1) * p.zy)
        rows.append((code, f"合成{code[3]}市{int(code[4:]):d}县", "county", code[:4] + "00", outline))
    yield _jurisdiction_text(rows), len(rows)
    # zones, one county at a time: its cells as quads of the jittered vertices
    v = p.vertices
    for k, code in enumerate(COUNTY_CODES):
        row, col = divmod(k, COUNTY_COLS)
        gi, gj = np.meshgrid(np.arange(col * p.zx, (col + 1) * p.zx), np.arange(row * p.zy, (row + 1) * p.zy))
        ii, jj = gi.ravel(), gj.ravel()
        quad = np.stack([v[jj, ii], v[jj, ii + 1], v[jj + 1, ii + 1], v[jj + 1, ii], v[jj, ii]], axis=1)
        lon, lat = p.lonlat(quad[..., 0], quad[..., 1])
        polys = np.asarray(shapely.polygons(np.stack([lon, lat], axis=-1)), dtype=object)
        zone_rows: list[tuple[str, str, str, str | None, Any]] = [
            (f"{code}{n + 1:03d}", f"{code}合成乡镇{n + 1}", "township", code, g) for n, g in enumerate(polys)
        ]
        yield _jurisdiction_text(zone_rows), len(zone_rows)


JURISDICTION_COLUMNS = ["adcode", "name", "level", "parent_adcode", "source", "synthetic", "geom"]


def _jurisdiction_text(rows: list[tuple[str, str, str, str | None, Any]]) -> bytes:
    n = len(rows)
    geoms = shapely.multipolygons([[r[4]] for r in rows]) if n else []
    return copy_text(
        [
            text_fields([r[0] for r in rows], "adcode"),
            text_fields([r[1] for r in rows], "name"),
            text_fields([r[2] for r in rows], "level"),
            text_fields([r[3] for r in rows], "parent_adcode"),
            [SOURCE] * n,
            ["t"] * n,
            geometry_fields(list(geoms)),
        ]
    )


@dataclass
class Enterprises:
    gx: np.ndarray
    gy: np.ndarray
    sector: np.ndarray
    county: np.ndarray
    units: np.ndarray  # risk units per enterprise


def make_enterprises(p: Province, n: int, units: int, parks: int, seed: int = SEED) -> Enterprises:
    rng = np.random.default_rng([seed, 1])
    pgx, pgy = rng.random(parks) * p.nx, rng.random(parks) * p.ny
    in_park = rng.random(n) < 0.8
    park = rng.integers(0, parks, n)
    gx = np.where(in_park, pgx[park] + rng.normal(0, 500 / CELL_X, n), rng.random(n) * p.nx)
    gy = np.where(in_park, pgy[park] + rng.normal(0, 500 / CELL_Y, n), rng.random(n) * p.ny)
    gx, gy = p.clip(gx, gy)
    codes = list(SECTOR_WEIGHTS)
    known = set(vocab.sectors())
    assert set(codes) <= known, set(codes) - known
    weights = np.array(list(SECTOR_WEIGHTS.values()))
    sector = np.array(codes)[rng.choice(len(codes), n, p=weights / weights.sum())]
    # 1 unit each, the rest shared by a skewed (log-normal) weight: a few enterprises hold dozens
    share = rng.lognormal(0, 1, n)
    counts = 1 + rng.multinomial(max(0, units - n), share / share.sum()) if units >= n else np.ones(n, int)
    return Enterprises(gx, gy, sector, p.county_index(gx, gy), counts)


ENTERPRISE_COLUMNS = [
    "id", "credit_code", "name", "sector", "address", "employees", "supervising_department",
    "contact_person", "contact_phone", "jurisdiction_adcode", "synthetic", "geom",
]  # fmt: skip


def _people(rng: np.random.Generator, n: int) -> list[str]:
    s = rng.integers(0, len(SURNAMES), n)
    g1, g2 = rng.integers(0, len(GIVEN), n), rng.integers(-len(GIVEN), len(GIVEN), n)
    return [SURNAMES[a] + GIVEN[b] + (GIVEN[c] if c >= 0 else "") for a, b, c in zip(s, g1, g2, strict=True)]


def _mobiles(rng: np.random.Generator, n: int) -> list[str]:
    return [f"13{d:09d}" for d in rng.integers(0, 10**9, n).tolist()]


def enterprise_rows(
    p: Province, e: Enterprises, first_id: int, seed: int = SEED
) -> Iterator[tuple[bytes, int]]:
    n = len(e.gx)
    for start in range(0, n, CHUNK):
        sl = slice(start, min(n, start + CHUNK))
        m = sl.stop - sl.start
        rng = np.random.default_rng([seed, 2, start])
        ids = np.arange(first_id + sl.start, first_id + sl.stop)
        county = [COUNTY_CODES[k] for k in e.county[sl].tolist()]
        codes = [
            make_credit_code(f"91{c}{i:09d}") for c, i in zip(county, range(sl.start, sl.stop), strict=True)
        ]
        x, y = p.world(e.gx[sl], e.gy[sl])
        lon, lat = p.lonlat(x, y)
        geoms = np.asarray(shapely.points(lon, lat), dtype=object)
        yield (
            copy_text(
                [
                    text_fields((ids).tolist(), "id"),
                    codes,
                    [f"合成企业{i:06d}有限公司" for i in range(sl.start, sl.stop)],
                    text_fields((e.sector[sl]).tolist(), "sector"),
                    [
                        f"{c}合成路{i % 997 + 1}号"
                        for c, i in zip(county, range(sl.start, sl.stop), strict=True)
                    ],
                    text_fields((rng.integers(5, 800, m)).tolist(), "employees"),
                    ["应急管理局"] * m,
                    _people(rng, m),
                    _mobiles(rng, m),
                    county,
                    ["t"] * m,
                    geometry_fields(geoms),
                ]
            ),
            m,
        )


UNIT_COLUMNS = [
    "id", "enterprise_id", "kind", "name", "sector", "level", "assessment_method", "accident_types", "hazards",
    "control_measures", "control_level", "responsible_department", "responsible_person", "responsible_phone",
    "assessed_on", "next_assessment_due", "jurisdiction_adcode", "synthetic", "geom",
]  # fmt: skip


def unit_rows(
    p: Province, e: Enterprises, enterprise_first_id: int, unit_first_id: int, seed: int = SEED
) -> Iterator[tuple[bytes, int]]:
    """The risk units, one chunk per ~CHUNK units (whole enterprises), each chunk from its own generator."""
    accident = sorted(vocab.accident_types())
    combos = [
        array_literal(sorted({accident[a], accident[b]})) for a in range(len(accident)) for b in (0, 2, 5)
    ]
    days = [(dt.date(2025, 1, 1) + dt.timedelta(days=d)) for d in range(0, 700, 7)]
    assessed = [d.isoformat() for d in days]
    due = [d.replace(year=d.year + 1).isoformat() if (d.month, d.day) != (2, 29) else "" for d in days]
    ends = np.cumsum(e.units)
    n = len(e.gx)
    start, unit_id = 0, unit_first_id
    while start < n:
        base = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, base + CHUNK, side="left")) + 1
        stop = min(n, max(stop, start + 1))
        per = e.units[start:stop]
        m = int(per.sum())
        rng = np.random.default_rng([seed, 3, start])
        owner = np.repeat(np.arange(start, stop), per)
        number = np.arange(m) - np.repeat(np.cumsum(per) - per, per) + 1  # 1, 2, … per enterprise
        gx = e.gx[owner] + rng.normal(0, 150 / CELL_X, m)
        gy = e.gy[owner] + rng.normal(0, 150 / CELL_Y, m)
        gx, gy = p.clip(gx, gy)
        cx, cy = p.world(gx, gy)
        kind = rng.choice(3, m, p=[0.9, 0.05, 0.05])  # polygon, line, point
        side = 20 + rng.random(m) * 180
        theta = rng.random(m) * math.pi
        c, s = np.cos(theta), np.sin(theta)
        square = np.array([(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5), (-0.5, -0.5)])
        ux = side[:, None] * (square[None, :, 0] * c[:, None] - square[None, :, 1] * s[:, None])
        uy = side[:, None] * (square[None, :, 0] * s[:, None] + square[None, :, 1] * c[:, None])
        lon, lat = p.lonlat(cx[:, None] + ux, cy[:, None] + uy)
        geoms = np.empty(m, dtype=object)
        poly, line, point = kind == 0, kind == 1, kind == 2
        geoms[poly] = shapely.polygons(np.stack([lon[poly], lat[poly]], axis=-1))
        geoms[line] = shapely.linestrings(np.stack([lon[line, :3], lat[line, :3]], axis=-1))
        plon, plat = p.lonlat(cx[point], cy[point])
        geoms[point] = shapely.points(plon, plat)
        level = rng.choice([1, 2, 3, 4], m, p=[0.05, 0.15, 0.40, 0.40])
        pick = rng.random(m)
        control = [
            CONTROL[lv][0] if r < 0.7 or len(CONTROL[lv]) == 1 else CONTROL[lv][1]
            for lv, r in zip(level.tolist(), pick.tolist(), strict=True)
        ]
        day = rng.integers(0, len(days), m)
        county = p.county_index(gx, gy)
        yield (
            copy_text(
                [
                    text_fields((np.arange(unit_id, unit_id + m)).tolist(), "id"),
                    text_fields((owner + enterprise_first_id).tolist(), "enterprise_id"),
                    ["enterprise"] * m,
                    [f"{k}#风险单元" for k in number.tolist()],
                    text_fields((e.sector[owner]).tolist(), "sector"),
                    text_fields((level).tolist(), "level"),
                    ["direct"] * m,
                    [combos[k] for k in rng.integers(0, len(combos), m).tolist()],
                    ["设备设施泄漏、人员违章作业"] * m,
                    ["定期巡检，作业许可，应急处置卡"] * m,
                    control,
                    [DEPARTMENT[c] for c in control],
                    _people(rng, m),
                    _mobiles(rng, m),
                    [assessed[d] for d in day.tolist()],
                    [due[d] or "\\N" for d in day.tolist()],
                    [COUNTY_CODES[k] for k in county.tolist()],
                    ["t"] * m,
                    geometry_fields(geoms),
                ]
            ),
            m,
        )
        unit_id += m
        start = stop


TARGET_COLUMNS = [
    "id", "name", "type", "gb_class", "gb_class_derived", "population", "households", "address",
    "jurisdiction_adcode", "synthetic", "geom",
]  # fmt: skip


def target_rows(p: Province, n: int, first_id: int, seed: int = SEED) -> Iterator[tuple[bytes, int]]:
    types = list(TARGET_WEIGHTS)
    fixed = {r["code"]: r["gb_class"] for r in read_table("target_types.csv")}  # "" where counts decide
    assert set(types) <= set(fixed), set(types) - set(fixed)
    w = np.array(list(TARGET_WEIGHTS.values()))
    classes: dict[tuple[str, int, int | None], str] = {}
    for start in range(0, n, CHUNK):
        m = min(n, start + CHUNK) - start
        rng = np.random.default_rng([seed, 4, start])
        near_zone = rng.random(m) < 0.6  # around a town centre (a zone's centre), else anywhere
        zgx = rng.integers(0, p.nx, m) + 0.5 + rng.normal(0, 300 / CELL_X, m)
        zgy = rng.integers(0, p.ny, m) + 0.5 + rng.normal(0, 300 / CELL_Y, m)
        gx, gy = p.clip(
            np.where(near_zone, zgx, rng.random(m) * p.nx), np.where(near_zone, zgy, rng.random(m) * p.ny)
        )
        cx, cy = p.world(gx, gy)
        kind = np.array(types)[rng.choice(len(types), m, p=w / w.sum())]
        population = (np.minimum(rng.lognormal(4.4, 1.0, m), 5000) // 5 * 5).astype(int)
        households = [
            int(pp) // 3 if k in HOUSEHOLD_TYPES else None
            for k, pp in zip(kind.tolist(), population.tolist(), strict=True)
        ]
        gb = []
        for k, pp, hh in zip(kind.tolist(), population.tolist(), households, strict=True):
            key = (k, pp, hh)
            if key not in classes:
                classes[key] = str(derive_gb_class(k, pp, hh).value)
            gb.append(classes[key])
        polygon = rng.random(m) < 0.1
        side = 50 + rng.random(m) * 250
        lon0, lat0 = p.lonlat(cx - side / 2, cy - side / 2)
        lon1, lat1 = p.lonlat(cx + side / 2, cy + side / 2)
        lon, lat = p.lonlat(cx, cy)
        geoms = np.where(
            polygon, np.asarray(shapely.box(lon0, lat0, lon1, lat1)), np.asarray(shapely.points(lon, lat))
        )
        county = [COUNTY_CODES[k] for k in p.county_index(gx, gy).tolist()]
        ids = range(start, start + m)
        yield (
            copy_text(
                [
                    text_fields((np.arange(first_id + start, first_id + start + m)).tolist(), "id"),
                    [f"合成防护目标{i:06d}" for i in ids],
                    text_fields((kind).tolist(), "type"),
                    gb,
                    ["f" if fixed[k] else "t" for k in kind.tolist()],
                    text_fields((population).tolist(), "population"),
                    text_fields(households, "households"),
                    [f"{c}合成街{i % 499 + 1}号" for c, i in zip(county, ids, strict=True)],
                    county,
                    ["t"] * m,
                    geometry_fields(geoms),
                ]
            ),
            m,
        )


# --- generate -------------------------------------------------------------------------------------------


def _secondary_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that back no constraint (GiST, partial, lookups)."""
    return [
        (r.indexname, r.indexdef)
        for r in conn.execute(
            text(
                """
                SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.schemaname = current_schema() AND i.tablename = :t AND NOT EXISTS (
                    SELECT 1 FROM pg_constraint c
                    WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)
                ORDER BY i.indexname
                """
            ),
            {"t": table},
        )
    ]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _next_id(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")).scalar_one())


def load(engine: Engine, scale: float = 1.0, seed: int = SEED, echo: Any = print) -> dict[str, Any]:
    """Load the province into the database of `engine` (one transaction) and ANALYZE; returns the counts,
    seconds per step and rows/s."""
    p = Province.make(scale, seed)
    n_ent = max(1, round(ENTERPRISES * scale))
    n_units = max(n_ent, round(UNITS * scale))
    n_targets = max(1, round(TARGETS * scale))
    steps: dict[str, tuple[int, float]] = {}
    t_all = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL jit = off"))
        has_province = (
            conn.execute(text("SELECT 1 FROM jurisdictions WHERE adcode = '350000'")).scalar() is not None
        )
        first = {t: _next_id(conn, t) for t in TABLES[1:]}
        dropped: list[tuple[str, str]] = []
        for table in TABLES:
            conn.execute(
                text(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            )  # a bulk load; counters moved below
            for name, definition in _secondary_indexes(conn, table):
                conn.execute(text(f"DROP INDEX {_quoted(name)}"))
                dropped.append((name, definition))

        def copy(table: str, columns: list[str], chunks: Iterator[tuple[bytes, int]]) -> None:
            t = time.perf_counter()
            done = [0]

            def sent(rows: int) -> None:
                done[0] += rows

            copy_chunks(conn, table, columns, chunks, sent)
            steps[table] = (done[0], time.perf_counter() - t)
            echo(
                f"{table}: {done[0]:,} rows in {steps[table][1]:.1f} s ({done[0] / steps[table][1]:,.0f} rows/s)"
            )

        copy("jurisdictions", JURISDICTION_COLUMNS, jurisdiction_rows(p, has_province))
        e = make_enterprises(p, n_ent, n_units, max(1, round(PARKS * scale)), seed)
        copy("enterprises", ENTERPRISE_COLUMNS, enterprise_rows(p, e, first["enterprises"], seed))
        copy("risk_units", UNIT_COLUMNS, unit_rows(p, e, first["enterprises"], first["risk_units"], seed))
        copy(
            "protection_targets", TARGET_COLUMNS, target_rows(p, n_targets, first["protection_targets"], seed)
        )
        t = time.perf_counter()
        for _, definition in dropped:
            conn.execute(text(definition))
        steps["indexes"] = (len(dropped), time.perf_counter() - t)
        echo(f"{len(dropped)} secondary indexes built in {steps['indexes'][1]:.1f} s")
        for table in TABLES:
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
            conn.execute(text(f"SELECT nextval('tile_epoch_{table}')"))
            if table != "jurisdictions":
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
                )
        conn.execute(text("SELECT nextval('tile_epoch'), nextval('four_colour_writes')"))
        conn.execute(text("SELECT jurisdiction_closure_rebuild()"))  # its triggers were off for the COPY
    t = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in (*TABLES, "jurisdiction_closure"):
            conn.execute(text(f"ANALYZE {table}"))
    steps["analyze"] = (0, time.perf_counter() - t)
    echo(f"ANALYZE in {steps['analyze'][1]:.1f} s")
    return {
        "scale": scale,
        "seed": seed,
        "grid": f"{p.nx} × {p.ny} cells of {CELL_X:.0f} × {CELL_Y:.0f} m ({p.width_m / 1000:.0f} × {p.height_m / 1000:.0f} km)",
        "steps": steps,
        "total_s": time.perf_counter() - t_all,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def sizes(engine: Engine) -> list[tuple[str, int, int, int, int]]:
    """(table, rows, table bytes, index bytes, total bytes incl. TOAST) of the register's tables."""
    out = []
    with engine.connect() as conn:
        for table in TABLES:
            r = conn.execute(
                text(
                    f"SELECT (SELECT count(*) FROM {table}), pg_table_size('{table}'), "
                    f"pg_indexes_size('{table}'), pg_total_relation_size('{table}')"
                )
            ).one()
            out.append((table, int(r[0]), int(r[1]), int(r[2]), int(r[3])))
    return out


# --- results --------------------------------------------------------------------------------------------

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "province.md")


def write_section(name: str, lines: list[str]) -> None:
    """Replace the section between `<!-- name -->` markers of bench/results/province.md (the others stay)."""
    begin, end = f"<!-- {name} begin -->", f"<!-- {name} end -->"
    body = "# The synthetic province\n"
    if os.path.exists(RESULTS):
        with open(RESULTS, encoding="utf-8") as f:
            body = f.read()
    block = "\n".join([begin, *lines, end])
    if begin in body and end in body:
        head, rest = body.split(begin, 1)
        body = head + block + rest.split(end, 1)[1]
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    with open(RESULTS, "w", encoding="utf-8") as f:
        f.write(body)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def generate_main(args: argparse.Namespace) -> None:
    from bench.common import create_database, machine

    print(f"{machine()}; load average {load_average()}", flush=True)
    t = time.perf_counter()
    url = create_database(args.database)
    made = time.perf_counter() - t
    print(f"database {args.database} made and migrated in {made:.1f} s", flush=True)
    engine = create_engine(url)
    result = load(engine, args.scale, args.seed)
    table_sizes = sizes(engine)
    engine.dispose()
    steps = result["steps"]
    mb = 2**20
    lines = [
        "## Generate",
        "",
        f"`python -m bench.province generate --scale {args.scale:g} --database {args.database}` — "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}, load average {load_average()} at the end. "
        f"Grid: {result['grid']}. One run (a load is not repeated to take a median; the figure is the "
        "rows/s of each COPY, indexes built after).",
        "",
        "| step | rows | s | rows/s |",
        "|---|---:|---:|---:|",
        f"| create the database from the template, migrate to head | | {made:.1f} | |",
        *(f"| COPY {t} | {n:,} | {s:.1f} | {n / s:,.0f} |" for t, (n, s) in steps.items() if t in TABLES),
        f"| build the {steps['indexes'][0]} secondary indexes (GiST and others) | | {steps['indexes'][1]:.1f} | |",
        f"| ANALYZE | | {steps['analyze'][1]:.1f} | |",
        f"| **load total** (one transaction + ANALYZE) | | **{result['total_s']:.1f}** | |",
        "",
        f"Peak RSS of the generating process: {result['peak_rss_mb']:.0f} MB.",
        "",
        "| table | rows | table MB | indexes MB | total MB (pg_total_relation_size) | bytes / row |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {t} | {n:,} | {tb / mb:.0f} | {ib / mb:.0f} | {tot / mb:.0f} | {tot / max(n, 1):,.0f} |"
            for t, n, tb, ib, tot in table_sizes
        ),
    ]
    write_section("generate", lines)
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="make the database and load the province")
    g.add_argument("--scale", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=SEED)
    g.add_argument("--database", default=DB)
    m = sub.add_parser("measure", help="measure riskmap beside its peers on the province")
    m.add_argument("--runs", type=int, default=3)
    m.add_argument("--database", default=DB)
    m.add_argument("--peer-python", default=os.environ.get("BENCH_TIPG_PYTHON", "/tmp/tipgvenv/bin/python"))
    m.add_argument("--skip", default="", help="comma-separated parts to skip: tiles, lists, map")
    x = sub.add_parser(
        "exports", help="the server's memory and time exporting a county's and the city's units"
    )
    x.add_argument("--runs", type=int, default=3)
    x.add_argument("--database", default=DB)
    x.add_argument(
        "--source", default=".", help="the checkout the server runs (e.g. main, for the figure before)"
    )
    x.add_argument("--label", default="this branch", help="names the section and the rows")
    x.add_argument("--formats", default=",".join(EXPORT_FORMATS))
    x.add_argument("--no-peers", dest="peers", action="store_false")
    args = ap.parse_args(argv)
    if args.command == "generate":
        generate_main(args)
    elif args.command == "exports":
        measure_exports_main(args)
    else:
        measure_main(args)


# --- measure --------------------------------------------------------------------------------------------

COUNTY, CITY, PROVINCE = "359101", "359100", "350000"
PLACES = ((COUNTY, "county"), (CITY, "city"), (PROVINCE, "province"))
ZOOMS = (8, 10, 12, 14)
TIMEOUT = 60.0  # seconds: anything slower is recorded as such, not waited for
SECRET = "bench-province-" + "q8Wm3Zr7Kx2Lp9Vb4Nt6Hc1Yd5Fg0Js"
USER = "bench-province"


FOUR_COLOUR_PEER = """
SELECT j.adcode, min(r.level) AS level, count(*) FILTER (WHERE r.level = 1) AS n1,
       count(*) FILTER (WHERE r.level = 2) AS n2, count(*) FILTER (WHERE r.level = 3) AS n3,
       count(*) FILTER (WHERE r.level = 4) AS n4
FROM jurisdictions j LEFT JOIN risk_units r ON ST_Intersects(j.geom, r.geom)
WHERE j.parent_adcode = :adcode GROUP BY j.adcode"""


# The lists' peers read the subtree from the closure table of migration 0023s, as hand-written SQL would
# now: the walk of bench.common.SUBTREE is estimated at every jurisdiction, which made a peer slow, not its
# work (bench/results/subtree.md).
PEER_SUBTREE = (
    "WITH subtree AS (SELECT descendant AS adcode FROM jurisdiction_closure WHERE ancestor = :adcode)"
)


def _closure(sql: str) -> str:
    assert SUBTREE in sql
    return sql.replace(SUBTREE, PEER_SUBTREE)


CLUSTERS_PEER = _closure(
    SUBTREE
    + """
SELECT count(DISTINCT c) FROM (
    SELECT ST_ClusterDBSCAN(ST_Transform(e.geom, 4548), 500, 1) OVER () AS c
    FROM enterprises e WHERE e.jurisdiction_adcode IN (SELECT adcode FROM subtree)) k"""
)


def _status_kb(pid: int | str, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak(pid: int | str) -> int:
    """Reset the process's peak RSS (VmHWM) to its RSS (Linux: clear_refs 5); returns the RSS in kB."""
    with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as f:
        f.write("5")
    return _status_kb(pid, "VmRSS")


def peak_mb(pid: int | str) -> float:
    return _status_kb(pid, "VmHWM") / 1024


def _children() -> set[int]:
    out: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children", encoding="ascii") as f:
            out |= {int(x) for x in f.read().split()}
    return out


@dataclass
class Row:
    part: str
    label: str
    answer: str
    times: list[float]
    peak: float | None  # MB: the server's peak RSS (riskmap, tipg) or this process's peak growth (peers)
    who: str = "riskmap"

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def free_port() -> int:
    """A port nobody listens on now (other people's servers run on this machine too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(cmd: list[str], env: dict[str, str], port: int) -> Iterator[int]:
    """bench.tiles.server (started, log to a file, stopped), yielding the server's pid; refuses to go on if
    the server that answers is not ours (another one took the port)."""
    from bench.tiles import server

    before = _children()
    with server(cmd, env, port):
        new = _children() - before
        pid = max(new)
        with open("/proc/net/tcp", encoding="ascii") as f:
            table = [line.split() for line in f.readlines()[1:]]
        listening = {r[9] for r in table if r[1].endswith(f":{port:04X}") and r[3] == "0A"}
        fds = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        if not any(f"socket:[{inode}]" in fds for inode in listening):
            raise RuntimeError(f"port {port} is served by another process, not the one started")
        yield pid


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, int, int, str]:
    """(status, bytes received, bytes decoded, the first error of a 4xx/5xx) — TimeoutError past TIMEOUT."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        parts = []
        while chunk := r.read(1 << 16):
            parts.append(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError(f"more than {TIMEOUT:.0f} s")
        body = b"".join(parts)
    except (TimeoutError, OSError) as exc:
        raise TimeoutError(f"more than {TIMEOUT:.0f} s") from exc
    finally:
        conn.close()
    decoded = gzip.decompress(body) if r.getheader("Content-Encoding") == "gzip" else body
    head = ""
    if r.status >= 400:
        try:
            err = (json.loads(decoded).get("errors") or [{}])[0]
            head = f"{err.get('field')}: {err.get('reason')}"
        except ValueError:
            head = decoded[:200].decode(errors="replace")
    return r.status, len(body), len(decoded), head


def _sizes(size: int, sent: int) -> str:
    """The body's MB and what was sent: gzipped, or as it is (streams are not compressed)."""
    if sent < size:
        return f"{size / 2**20:.2f} MB ({sent / 2**20:.2f} MB gzipped)"
    return f"{size / 2**20:.2f} MB (sent as it is)"


def _median_and_runs(times: list[float], error: str) -> tuple[str, str]:
    """A row's median seconds ("—" when a run failed or none ran) and every run's, as the tables print them."""
    median = f"{statistics.median(times):.3f}" if times and not error else "—"
    return median, ", ".join(f"{t:.3f}" for t in times)


def timed_runs(runs: int, fn: Any, pid: int | str) -> tuple[list[float], Any, float | None, str]:
    """Run fn `runs` times (stopping at the first that fails or passes TIMEOUT): (seconds of each, the last
    result, the peak RSS MB of process `pid` over the runs, what went wrong or "")."""
    reset_peak(pid)
    times: list[float] = []
    result = None
    for _ in range(runs):
        t = time.perf_counter()
        try:
            result = fn()
        except TimeoutError:
            return times, result, peak_mb(pid), f"more than {TIMEOUT:.0f} s (abandoned)"
        times.append(time.perf_counter() - t)
        if isinstance(result, tuple) and result[0] >= 400:
            return times, result, peak_mb(pid), f"{result[0]}: {result[3]}"
    return times, result, peak_mb(pid), ""


def tiles_near(z: int, p: Province, n: int = 12) -> list[tuple[int, int, int]]:
    """Up to n tiles at zoom z nearest the province's centre, inside it (bench.tiles.tiles_around)."""
    from bench.tiles import tiles_around

    return tiles_around(z, CENTRE, p.width_m / 2 * M_LON, p.height_m / 2 * M_LAT, n)


def measure_tiles(
    who: str, port: int, path: str, headers: dict[str, str], pid: int, p: Province
) -> list[Row]:
    """bench.tiles' sequential p50/p95 (3 passes over up to 12 tiles) and tiles/s with 8 concurrent clients;
    a zoom whose first tile takes over 2 s is asked for 3 tiles only, over TIMEOUT it is recorded as such."""
    from bench.tiles import Client, concurrent, sequential

    rows = []
    for z in ZOOMS:
        tiles = tiles_near(z, p)
        label = f"z{z} tiles"
        reset_peak(pid)
        client = Client(port, path, headers)
        client.conn.timeout = TIMEOUT
        try:
            first, _ = client.get(*tiles[0])
            if first > 2:
                tiles = tiles[:3]
            seq = sequential(client, tiles)
            tps = concurrent(port, path, headers, tiles)
        except (TimeoutError, OSError) as exc:
            rows.append(
                Row(
                    "tiles",
                    label,
                    f"more than {TIMEOUT:.0f} s ({exc.__class__.__name__})",
                    [],
                    peak_mb(pid),
                    who,
                )
            )
            print(f"{who} {label}: timed out", flush=True)
            continue
        except RuntimeError as exc:  # a 4xx/5xx
            rows.append(Row("tiles", label, str(exc)[:120], [], peak_mb(pid), who))
            continue
        answer = (
            f"p50 {seq['p50']:.1f} ms, p95 {seq['p95']:.1f} ms, {seq['kb']:.0f} KB, "
            f"{tps:.0f} tiles/s (8 clients), {len(tiles)} tiles"
        )
        rows.append(Row("tiles", label, answer, [seq["p50"] / 1000], peak_mb(pid), who))
        print(f"{who} {label}: {answer}, peak {peak_mb(pid):.0f} MB", flush=True)
    return rows


def measure_lists(runs: int, port: int, key: str, pid: int, engine: Engine) -> list[Row]:
    """List pages and exports through the server (gzip asked for), each beside its peer."""
    import geopandas as gpd
    import pyogrio

    headers = {"X-API-Key": key, "Accept-Encoding": "gzip"}
    rows: list[Row] = []

    def ours(label: str, path: str) -> None:
        times, result, peak, error = timed_runs(runs, lambda: http_get(port, path, headers), pid)
        if error:
            answer = error
        else:
            status, sent, size, _ = result
            answer = f"{status}, {_sizes(size, sent)}"
        rows.append(Row("lists", label, answer, times, peak))
        print(f"{label}: {answer} {[round(t, 3) for t in times]} peak {peak:.0f} MB", flush=True)

    def peer(label: str, fn: Callable[[], str]) -> None:
        before = reset_peak("self") / 1024
        times, result, peak, error = timed_runs(runs, fn, "self")
        grew = (peak or 0) - before
        rows.append(Row("lists", label, error or str(result), times, grew, "peer"))
        print(f"{label}: {error or result} {[round(t, 3) for t in times]} +{grew:.0f} MB", flush=True)

    def json_agg(table: str, adcode: str) -> Callable[[], str]:
        def call() -> str:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL statement_timeout = {int(TIMEOUT * 1000)}"))
                body = conn.execute(text(_closure(json_agg_sql(table))), {"adcode": adcode}).scalar_one()
            return f"{len(body) / 2**20:.2f} MB"

        return call

    def pyogrio_write(adcode: str) -> Callable[[], str]:
        def call() -> str:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL statement_timeout = {int(TIMEOUT * 1000)}"))
                frame = gpd.read_postgis(
                    text(_closure(EXPORT_ROWS)), conn, geom_col="geom", params={"adcode": adcode}
                )
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "units.geojson")
                pyogrio.write_dataframe(frame, path, driver="GeoJSON")
                return f"{len(frame):,} rows, {os.path.getsize(path) / 2**20:.2f} MB"

        return call

    for adcode, what in ((COUNTY, "county"), (PROVINCE, "province")):
        for table, path in (("risk_units", "risk-units"), ("enterprises", "enterprises")):
            ours(
                f"{table}: a page of 5,000 in the {what} ({adcode})",
                f"/api/v1/{path}?adcode={adcode}&limit=5000",
            )
            peer(f"peer: PostGIS json_agg of the same 5,000 {table}", json_agg(table, adcode))
    for adcode, what in ((COUNTY, "county"), (CITY, "city")):
        ours(
            f"GeoJSON export of the {what}'s risk units ({adcode})",
            f"/api/v1/exports?kind=risk_units&adcode={adcode}&format=geojson",
        )
        peer("peer: read_postgis + pyogrio GeoJSON of the same rows", pyogrio_write(adcode))

    def zone_levels(adcode: str) -> Callable[[], str]:
        def call() -> str:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL statement_timeout = {int(TIMEOUT * 1000)}"))
                conn.execute(text("SET LOCAL jit = off"))
                conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
                found = conn.execute(text(FOUR_COLOUR_PEER), {"adcode": adcode}).all()
            return f"{len(found)} zones"

        return call

    for adcode, what, zones in (
        (COUNTY, "county", "its 440 townships"),
        (CITY, "city", "its counties"),
        (PROVINCE, "province", "its 9 cities"),
    ):
        ours(
            f"four-colour map of the {what} ({adcode}) over {zones} (default zones; run 1 cold)",
            f"/api/v1/analysis/four-color?adcode={adcode}",
        )
        peer(
            "peer: PostGIS join, highest level and counts per zone (GiST, jit off, no parallel)",
            zone_levels(adcode),
        )

    def peer_sql(sql: str, adcode: str, what: str) -> Callable[[], str]:
        def call() -> str:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL statement_timeout = {int(TIMEOUT * 1000)}"))
                conn.execute(text("SET LOCAL jit = off"))
                found = conn.execute(text(sql), {"adcode": adcode}).scalar_one()
            return f"{found:,} {what}"

        return call

    for adcode, what in ((COUNTY, "county"), (CITY, "city")):
        ours(
            f"joint prevention: clusters of the {what}'s enterprises within 500 m ({adcode})",
            f"/api/v1/analysis/joint-prevention?adcode={adcode}",
        )
        peer(
            "peer: PostGIS ST_ClusterDBSCAN(500 m, 1) of the same enterprises (CGCS2000 GK, CM 117° E)",
            peer_sql(CLUSTERS_PEER, adcode, "clusters"),
        )
    return rows


MAP_PAGES = (
    f"{COUNTY}:合成1市1县 {COUNTY} (county):2",
    f"{CITY}:合成1市 {CITY} (city):3",
    f"{PROVINCE}:福建省（合成） {PROVINCE} (province):5",
)


def measure_map(args: argparse.Namespace) -> list[str]:
    """The one map of a county, the city and the province by bench/one_map.py (its own app in process, its
    own Chromium), run as a subprocess with a time limit; its table, or how it failed, as markdown lines."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "one_map.py")
    limit = 20 * 60
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "one_map.md")
        cmd = [
            sys.executable,
            script,
            "--database",
            args.database,
            "--runs",
            str(args.runs),
            "--output",
            output,
        ]
        for page in MAP_PAGES:
            cmd += ["--page", page]
        shown = "python bench/one_map.py --database {} --runs {} {}".format(
            args.database, args.runs, " ".join(f"--page '{p}'" for p in MAP_PAGES)
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started, load_before = dt.datetime.now(dt.UTC), load_average()
        t = time.perf_counter()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=False)
            failed = "" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-600:]}"
        except subprocess.TimeoutExpired:
            failed = f"not finished within {limit} s (stopped)"
        took = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        table = []
        if not failed and os.path.exists(output):
            with open(output, encoding="utf-8") as f:
                table = [line for line in f.read().splitlines() if line.startswith("|")]
    lines = [
        "### The one map (GET /map), by bench/one_map.py",
        "",
        f"`{shown}` — started {started:%Y-%m-%d %H:%M} UTC, load average {load_before} before, "
        f"{load_average()} after, {took:.0f} s in all. Made: the page over HTTP on loopback (the app in the "
        "bench's process); in Chromium from navigation start: painted = the zones drawn and the vector tiles "
        "shown painted; analyses = the last overlay fetched after the paint answered; quiet = the wall time "
        "until the network is quiet. Medians (runs). Peak RSS of the largest process of the bench (the app "
        "and its server run in it; Chromium's processes are its children): "
        + (f"{peak / 1024:.0f} MB." if peak > before else "not above an earlier child's."),
        "",
    ]
    if failed:
        lines.append(f"Failed: {failed}")
    lines += table
    return lines


def measure_main(args: argparse.Namespace) -> None:

    from bench.common import machine, server_url
    from bench.tiles import OURS_PATH, TIPG_PATH, riskmap_command, tipg_command
    from geo.access import SYSTEM
    from geo.store import users

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    url = server_url().set(database=args.database).render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.begin() as conn:
        counts = {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}
        users.remove_user(conn, SYSTEM, USER)
        users.create_user(conn, SYSTEM, USER, "a long bench password 1", "admin")
        key = users.create_api_key(conn, SYSTEM, USER)
    if not counts["risk_units"]:
        raise SystemExit(f"{args.database} has no risk units: run `python -m bench.province generate` first")
    p = Province.make(1.0)
    started = dt.datetime.now(dt.UTC)
    load_before = load_average()
    print(f"{machine()}; load average {load_before}; {counts}", flush=True)
    rows: list[Row] = []
    try:
        if "tiles" not in skip:
            for label, mb in (("riskmap, cache off", "0"), ("riskmap, cache on (64 MB)", "64")):
                port = free_port()
                with serving(riskmap_command(url, port, SECRET), {"RISKMAP_TILE_CACHE_MB": mb}, port) as pid:
                    rows += measure_tiles(label, port, OURS_PATH, {"X-API-Key": key}, pid, p)
            tipg, env = tipg_command(args.peer_python, url, port := free_port())
            with serving(tipg, env, port) as pid:
                rows += measure_tiles("tipg (peer)", port, TIPG_PATH, {}, pid, p)
        if "lists" not in skip:
            port = free_port()
            with serving(riskmap_command(url, port, SECRET), {}, port) as pid:
                rows += measure_lists(args.runs, port, key, pid, engine)
    finally:
        with engine.begin() as conn:
            users.remove_user(conn, SYSTEM, USER)
        engine.dispose()
    if rows:
        write_measure(args, rows, counts, started, load_before, machine())
    if "map" not in skip:
        lines = measure_map(args)
        write_section("measure map", lines)
        print("\n".join(lines))


def write_measure(
    args: argparse.Namespace,
    rows: list[Row],
    counts: dict[str, int],
    started: dt.datetime,
    load_before: str,
    machine: str,
) -> None:
    lines = [
        "## Measure",
        "",
        f"`python -m bench.province measure --runs {args.runs} --database {args.database}"
        f"{' --skip ' + args.skip if args.skip else ''}` — started {started:%Y-%m-%d %H:%M} UTC, {machine}; "
        f"load average {load_before} before, {load_average()} after. The province: "
        + ", ".join(f"{n:,} {t}" for t, n in counts.items())
        + f". Anything slower than {TIMEOUT:.0f} s is abandoned and recorded as such.",
        "",
        "Servers are one uvicorn process each on loopback (riskmap as an admin with an API key; tipg from its own "
        "venv on the same table, asked for the same attributes). Peak MB: for riskmap and tipg the server "
        "process's peak RSS (VmHWM, reset before each row's requests); for a peer run in this process, how much "
        "this process's peak RSS grew over its RSS before (the PostgreSQL backend's memory is not counted).",
        "",
    ]
    parts = {
        "tiles": (
            "### Vector tiles of the 1,000,000 risk units",
            "Sequential p50 / p95 over 3 passes of up to 12 tiles nearest the centre (as bench/tiles.py), then "
            "tiles/s with 8 concurrent clients each asking for every tile once.",
        ),
        "lists": (
            "### List pages and exports",
            f"Medians of {args.runs} (every run in the last column); `Accept-Encoding: gzip`.",
        ),
    }
    for part, (title, note) in parts.items():
        mine = [r for r in rows if r.part == part]
        if not mine:
            continue
        lines += [title, "", note, ""]
        if part == "tiles":
            lines += ["| server | zoom | answer | peak MB |", "|---|---|---|---:|"]
            lines += [f"| {r.who} | {r.label} | {r.answer} | {r.peak or 0:.0f} |" for r in mine]
        else:
            lines += ["| request | answer | median s | runs s | peak MB |", "|---|---|---:|---|---:|"]
            for r in mine:
                med = f"{r.median:.3f}" if r.median is not None else "—"
                runs = ", ".join(f"{t:.3f}" for t in r.times)
                peak = f"{r.peak:.0f}" if r.peak is not None else "—"
                lines.append(f"| {r.label} | {r.answer} | {med} | {runs} | {peak} |")
        lines.append("")
    write_section("measure", lines)
    print("\n".join(lines))


# --- exports: the server's memory and time, before and after a change -----------------------------------

EXPORT_USER = "bench-province-exports"  # not USER: a `measure` run at the same time keeps its own key
EXPORT_FORMATS = ("geojson", "csv", "xlsx")


def peer_export(engine: Engine, adcode: str, fmt: str) -> Callable[[], str]:
    """The peer of an export: read_postgis of the same rows, written by GDAL through pyogrio (GeoJSON; CSV
    with WKT; XLSX, which has no geometry column)."""

    def call() -> str:
        import geopandas as gpd
        import pyogrio

        with engine.begin() as conn:
            conn.execute(text(f"SET LOCAL statement_timeout = {int(TIMEOUT * 1000)}"))
            frame = gpd.read_postgis(text(EXPORT_ROWS), conn, geom_col="geom", params={"adcode": adcode})
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"units.{fmt}")
            options: dict[str, Any] = {"GEOMETRY": "AS_WKT"} if fmt == "csv" else {}
            driver = {"geojson": "GeoJSON", "csv": "CSV", "xlsx": "XLSX"}[fmt]
            if fmt == "xlsx":
                frame = frame.drop(columns="geom")
                frame = gpd.GeoDataFrame(frame)
                pyogrio.write_dataframe(frame, path, driver=driver)
            else:
                pyogrio.write_dataframe(frame, path, driver=driver, layer_options=options)
            return f"{len(frame):,} rows, {os.path.getsize(path) / 2**20:.2f} MB"

    return call


def measure_exports_main(args: argparse.Namespace) -> None:
    """The city's (and a county's) risk-unit exports through one riskmap server started from `--source`
    (a checkout: main before a change, the branch after), with the server's RSS before, its peak during
    the runs, the time; each beside its peer in this process. Writes its own section, named by `--label`."""
    from bench.common import machine, server_url
    from bench.tiles import riskmap_command
    from geo.access import SYSTEM
    from geo.store import users

    url = server_url().set(database=args.database).render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.begin() as conn:
        users.remove_user(conn, SYSTEM, EXPORT_USER)
        users.create_user(conn, SYSTEM, EXPORT_USER, "a long bench password 1", "admin")
        key = users.create_api_key(conn, SYSTEM, EXPORT_USER)
    source = os.path.abspath(args.source)
    headers = {"X-API-Key": key, "Accept-Encoding": "gzip"}
    started = dt.datetime.now(dt.UTC)
    load_before = load_average()
    table = [
        "| export | answer | median s | runs s | RSS before MB | peak MB | load average |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    try:
        cmd = riskmap_command(url, port := free_port(), SECRET)
        cmd[-1] = f"import sys; sys.path.insert(0, {source!r}); " + cmd[-1]
        with serving(cmd, {}, port) as pid:
            http_get(port, "/api/v1/exports?kind=enterprises&adcode=359101&format=csv", headers)  # warm
            for adcode, what in ((COUNTY, "county"), (CITY, "city")):
                for fmt in args.formats.split(","):
                    path = f"/api/v1/exports?kind=risk_units&adcode={adcode}&format={fmt}"
                    before = reset_peak(pid) / 1024
                    times, result, peak, error = timed_runs(
                        args.runs, lambda p=path: http_get(port, p, headers), pid
                    )
                    answer = error or f"{result[0]}, {_sizes(result[2], result[1])}"
                    med, runs = _median_and_runs(times, error)
                    table.append(
                        f"| riskmap ({args.label}): {fmt} of the {what}'s risk units ({adcode}) | {answer} | {med} "
                        f"| {runs} | {before:.0f} | {peak or 0:.0f} | {load_average()} |"
                    )
                    print(table[-1], flush=True)
                    if args.peers:
                        before = reset_peak("self") / 1024
                        times, result, peak, error = timed_runs(
                            args.runs, peer_export(engine, adcode, fmt), "self"
                        )
                        med, runs = _median_and_runs(times, error)
                        table.append(
                            f"| peer: read_postgis + pyogrio {fmt} of the same rows | {error or result} | {med} | {runs} "
                            f"| {before:.0f} (this process) | {peak or 0:.0f} (this process) | {load_average()} |"
                        )
                        print(table[-1], flush=True)
    finally:
        with engine.begin() as conn:
            users.remove_user(conn, SYSTEM, EXPORT_USER)
        engine.dispose()
    lines = [
        f"## Exports: the server's memory ({args.label})",
        "",
        f"`python -m bench.province exports --runs {args.runs} --database {args.database} --source <{args.label}> "
        f"--label '{args.label}' --formats {args.formats}{'' if args.peers else ' --no-peers'}` — started "
        f"{started:%Y-%m-%d %H:%M} UTC, {machine()}; load average {load_before} before, {load_average()} after "
        "(and at each row, in its last column). One riskmap server (uvicorn, one process, an admin's API key, "
        "`Accept-Encoding: gzip`; GeoJSON and Excel streams are sent as they are, CSV gzipped: on main by the middleware, whole; on the branch as it is streamed) answers every row in turn: RSS before = its "
        "RSS when the row starts (what earlier rows left), peak = its peak RSS (VmHWM, reset at the row's "
        f"start) over the row's {args.runs} runs. A peer runs in this bench's process: its RSS before the row and "
        "its peak over the row. Medians (every run listed).",
        "",
        *table,
        "",
    ]
    write_section(f"measure exports {args.label}", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
