"""GeoPackages and Shapefiles read through GDAL's Arrow stream give the very table the row-by-row reader
gives: same headers, cells (types included), empty cells, geometries and crs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.io import readers
from geo.io.readers import RawTable, read_file
from tests.io.helpers import zip_files

pytest.importorskip("pyarrow")


def _layer(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    text = np.array(["一般风险", " 较大风险 ", "", "'=1+1", "Café", "é", None, "13800138000"], dtype=object)
    ints = pd.array(rng.integers(-5, 5, n), dtype="Int32")
    ints[::7] = pd.NA
    reals = rng.normal(size=n)
    reals[::5] = np.nan
    return pd.DataFrame(
        {
            "风险等级": text[rng.integers(0, len(text), n)],
            "名称": [f"风险点{i}" if i % 9 else None for i in range(n)],
            "int_null": ints,
            "int_full": rng.integers(0, 100, n).astype(np.int32),
            "int64": rng.integers(-(2**40), 2**40, n),
            "real": reals,
            "flag": rng.integers(0, 2, n).astype(bool),
            "when": pd.to_datetime(
                [dt.datetime(2026, 1, 1) + dt.timedelta(hours=int(h)) for h in rng.integers(0, 9999, n)]
            ),
        }
    )


def _geometries(n: int) -> list[Any]:
    out: list[Any] = [shapely.Point(118 + i / 100, 25) for i in range(n)]
    out[3] = None
    out[4] = shapely.Point()
    return out


def _dump(table: RawTable) -> dict[str, Any]:
    return {
        "headers": table.headers,
        "cells": {c: [(type(v), v if v == v else "nan") for v in table.frame[c]] for c in table.frame},
        "labels": list(table.labels),
        "geometry": None
        if table.geometry is None
        else [None if g is None else g.wkb for g in table.geometry],
        "crs": table.source_crs,
        "encoding": table.encoding,
    }


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    calls: list[Path] = []
    by_arrow = readers._layer_by_arrow
    with monkeypatch.context() as m:
        m.setattr(readers, "_layer_by_arrow", lambda p, *a: calls.append(p) or by_arrow(p, *a))
        arrow = _dump(read_file(path))
    assert calls, "the Arrow reader was not used"
    with monkeypatch.context() as m:
        m.setattr(readers, "_has_pyarrow", lambda: False)
        rows = _dump(read_file(path))
    return arrow, rows


def test_geopackage_arrow_equals_row_by_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import geopandas as gpd

    frame = _layer()
    path = tmp_path / "units.gpkg"
    gpd.GeoDataFrame(frame, geometry=_geometries(len(frame)), crs=4490).to_file(path, driver="GPKG")
    arrow, rows = _both(path, monkeypatch)
    assert arrow == rows
    assert arrow["headers"] == list(frame.columns)
    assert arrow["geometry"][3] is None


def test_geopackage_without_geometry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "table.gpkg"
    pyogrio.write_dataframe(_layer(), path, driver="GPKG")
    arrow, rows = _both(path, monkeypatch)
    assert arrow == rows
    assert arrow["geometry"] is None


def test_gbk_shapefile_arrow_equals_row_by_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import geopandas as gpd

    frame = _layer().drop(columns=["when"])
    folder = tmp_path / "shp"
    folder.mkdir()
    gdf = gpd.GeoDataFrame(frame, geometry=_geometries(len(frame)), crs=4490)
    gdf.to_file(folder / "风险点.shp", encoding="GBK")
    members = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".cpg"}  # detected: GB18030
    arrow, rows = _both(zip_files(tmp_path / "风险点.zip", members), monkeypatch)
    assert arrow == rows
    assert arrow["encoding"] == "GB18030"
