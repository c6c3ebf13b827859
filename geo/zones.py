"""Zones to aggregate risk over: a square grid in metres, or H3 cells, cut to a jurisdiction."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo import deadline
from geo.coords import gauss_kruger_epsg
from geo.errors import InvalidInput

STORAGE_CRS = "EPSG:4490"
GRID_CELL_M = (100, 50_000)
H3_RESOLUTIONS = (4, 10)
MAX_ZONES = 200_000


def _polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    if geom.is_empty:
        return None
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    return shapely.union_all(parts) if parts else None


def square_grid(boundary: BaseGeometry, *, cell_m: float, code_prefix: str) -> gpd.GeoDataFrame:
    """Square cells of `cell_m` metres in the CGCS2000 Gauss–Krüger zone of the boundary, cut to it.

    Cells are aligned to multiples of `cell_m` in that zone's coordinates, so a cell keeps its code
    (`<prefix>-<cell_m>m-<column>-<row>`) from one run to the next.
    """
    lo, hi = GRID_CELL_M
    if not lo <= cell_m <= hi:
        raise InvalidInput.one(
            "cell_m", f"must be between {lo} and {hi} metres", f"网格边长应在 {lo}–{hi} 米之间"
        )
    epsg = gauss_kruger_epsg(boundary.centroid.x)
    to_metric = Transformer.from_crs(STORAGE_CRS, f"EPSG:{epsg}", always_xy=True)
    to_lonlat = Transformer.from_crs(f"EPSG:{epsg}", STORAGE_CRS, always_xy=True)
    metric = shapely.transform(boundary, lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1])))
    minx, miny, maxx, maxy = metric.bounds
    i0, i1 = math.floor(minx / cell_m), math.ceil(maxx / cell_m)
    j0, j1 = math.floor(miny / cell_m), math.ceil(maxy / cell_m)
    n = (i1 - i0) * (j1 - j0)
    if n > MAX_ZONES * 4:
        raise InvalidInput.one(
            "cell_m", f"{cell_m} m cells would make about {n} zones here; use larger cells", "网格过密"
        )
    grid_i, grid_j = np.meshgrid(np.arange(i0, i1), np.arange(j0, j1), indexing="ij")
    ii, jj = grid_i.ravel(), grid_j.ravel()
    cells = shapely.box(ii * cell_m, jj * cell_m, (ii + 1) * cell_m, (jj + 1) * cell_m)
    shapely.prepare(metric)
    keep = shapely.intersects(metric, cells)
    cells, ii, jj = cells[keep], ii[keep], jj[keep]
    if len(cells) > MAX_ZONES:
        raise InvalidInput.one(
            "cell_m", f"{cell_m} m cells make {len(cells)} zones here (at most {MAX_ZONES})", "网格过密"
        )
    clipped = _clip(cells, metric)
    geoms, codes = [], []
    for n_done, (geom, i, j) in enumerate(zip(clipped, ii, jj, strict=True)):
        if n_done % 1000 == 0:
            deadline.check()
        poly = _polygonal(geom)
        if poly is None or poly.area == 0:
            continue
        geoms.append(
            shapely.transform(poly, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))
        )
        codes.append(f"{code_prefix}-{int(cell_m)}m-{i}-{j}")
    return gpd.GeoDataFrame(
        {"code": codes, "name": [f"网格 {c.split('-', 2)[2]}" for c in codes]},
        geometry=geoms,
        crs=STORAGE_CRS,
    )


def h3_grid(boundary: BaseGeometry, *, resolution: int) -> gpd.GeoDataFrame:
    """The H3 cells of `resolution` whose centres lie in the boundary, cut to it (code = the H3 index)."""
    import h3

    lo, hi = H3_RESOLUTIONS
    if not lo <= resolution <= hi:
        raise InvalidInput.one("h3_res", f"must be between {lo} and {hi}", f"H3 分辨率应在 {lo}–{hi} 之间")
    # H3 cells are defined on WGS 84; CGCS2000 lon/lat agree with it to centimetres.
    area_km2 = _approx_area_km2(boundary)
    expected = area_km2 / h3.average_hexagon_area(resolution, unit="km^2")
    if expected > MAX_ZONES:
        raise InvalidInput.one(
            "h3_res",
            f"resolution {resolution} makes about {int(expected)} zones here (at most {MAX_ZONES})",
            "H3 网格过密",
        )
    cells = _h3_cells(boundary, resolution, expected)
    hexes = []
    for n_done, c in enumerate(cells):
        if n_done % 1000 == 0:
            deadline.check()
        hexes.append(Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]))
    clipped: list[BaseGeometry] = list(_clip(np.array(hexes, dtype=object), boundary)) if hexes else []
    geoms, codes = [], []
    for cell, geom in zip(cells, clipped, strict=True):
        poly = _polygonal(geom)
        if poly is not None and poly.area > 0:
            geoms.append(poly)
            codes.append(cell)
    return gpd.GeoDataFrame({"code": codes, "name": codes}, geometry=geoms, crs=STORAGE_CRS)


# Cells one polyfill call finds at most (about): h3 holds the GIL for the whole call, and a province in one
# call stalls every other request of the process for seconds (bench/results/limits.md).
_H3_TILE_CELLS = 2_000


def _h3_cells(boundary: BaseGeometry, resolution: int, expected: float) -> list[str]:
    """The sorted H3 cells whose centres lie in the boundary, found tile by tile: the boundary is cut into
    about expected / _H3_TILE_CELLS rectangles, each filled on its own (the time limit checked between).
    A centre lies in one tile's piece of the boundary, so the union is the cells of the whole."""
    import h3

    k = max(1, math.ceil(math.sqrt(expected / _H3_TILE_CELLS)))
    minx, miny, maxx, maxy = boundary.bounds
    xs, ys = np.linspace(minx, maxx, k + 1), np.linspace(miny, maxy, k + 1)
    tiles = [shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(k) for j in range(k)]
    pieces = shapely.intersection(boundary, np.array(tiles, dtype=object)) if k > 1 else [boundary]
    cells: set[str] = set()
    for piece in pieces:
        deadline.check()
        poly = _polygonal(piece)
        if poly is not None:
            cells.update(h3.h3shape_to_cells(h3.geo_to_h3shape(poly.__geo_interface__), resolution))
    deadline.check()
    return sorted(cells)


def _clip(cells: np.ndarray, boundary: BaseGeometry, chunk: int = 256) -> np.ndarray:
    """The cells cut to the boundary. Cells wholly inside stay as they are (a prepared test, cheap); only
    those crossing the boundary pay for an intersection, in chunks, the time limit checked between them."""
    shapely.prepare(boundary)
    out = cells.copy()
    crossing = np.flatnonzero(~shapely.contains_properly(boundary, cells))
    for start in range(0, len(crossing), chunk):
        deadline.check()
        at = crossing[start : start + chunk]
        out[at] = shapely.intersection(cells[at], boundary)
    return out


def _approx_area_km2(geom: BaseGeometry) -> float:
    lat = math.radians(geom.centroid.y)
    return float(geom.area) * (111.32**2) * math.cos(lat)
