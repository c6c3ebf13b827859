"""A zipped GBK Shapefile in a CGCS2000 Gauss–Krüger projection (.prj) lands where it belongs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from pyproj import CRS, Transformer
from shapely.geometry import Point
from sqlalchemy import Engine, text

from geo.access import SYSTEM
from geo.coords import gauss_kruger_epsg
from geo.io.readers import read_file
from geo.store.imports import import_file
from tests.api.builders import HUIAN, QUANGANG, credit_code
from tests.io.helpers import zip_files

NAMES = ["泉港石化储运有限公司", "惠安县崇武镇石材加工厂"]


def _gbk_shapefile(tmp_path: Path, *, with_cpg: bool) -> Path:
    epsg = gauss_kruger_epsg(QUANGANG[0])  # 4549: CGCS2000 / 3-degree Gauss-Kruger CM 120E
    to_gk = Transformer.from_crs(4490, epsg, always_xy=True)
    points = [Point(*to_gk.transform(*QUANGANG)), Point(*to_gk.transform(*HUIAN))]
    frame = gpd.GeoDataFrame(
        {
            "信用代码": [credit_code(1), credit_code(2)],
            "企业名称": NAMES,
            "行业领域": ["危险化学品", "工贸行业"],
        },
        geometry=points,
        crs=CRS.from_epsg(epsg),
    )
    folder = tmp_path / "shp"
    folder.mkdir()
    pyogrio.write_dataframe(frame, folder / "企业.shp", encoding="GBK")
    members = {p.name: p.read_bytes() for p in folder.iterdir() if with_cpg or p.suffix != ".cpg"}
    assert "企业.prj" in members
    assert "Gauss" in members["企业.prj"].decode() or "GK" in members["企业.prj"].decode()
    assert "泉港".encode("gbk") in members["企业.dbf"]
    return zip_files(tmp_path / "企业.zip", members)


@pytest.mark.parametrize("with_cpg", [True, False], ids=["cpg", "detected"])
def test_gbk_shapefile_reads_chinese(tmp_path: Path, with_cpg: bool) -> None:
    table = read_file(_gbk_shapefile(tmp_path, with_cpg=with_cpg))
    assert table.headers == ["信用代码", "企业名称", "行业领域"]
    assert list(table.frame["c1"]) == NAMES
    assert table.source_crs is not None
    assert table.source_crs.to_epsg() == 4549


@pytest.mark.usefixtures("boundaries", "clean")
@pytest.mark.parametrize("with_cpg", [True, False], ids=["cpg", "detected"])
def test_gbk_gauss_kruger_shapefile_lands_in_the_right_place(
    engine: Engine, tmp_path: Path, with_cpg: bool
) -> None:
    report = import_file(
        engine, _gbk_shapefile(tmp_path, with_cpg=with_cpg), kind="enterprises", principal=SYSTEM
    )
    assert report.inserted == 2
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT name, ST_X(geom), ST_Y(geom), jurisdiction_adcode, sector FROM enterprises ORDER BY credit_code"
            )
        ).all()
    assert [r[0] for r in rows] == NAMES
    for (_, x, y, _, _), (lon, lat) in zip(rows, (QUANGANG, HUIAN), strict=True):
        assert abs(x - lon) < 1e-7
        assert abs(y - lat) < 1e-7
    assert [r[3] for r in rows] == ["350505", "350521"]  # 泉港区, 惠安县
    assert [r[4] for r in rows] == ["hazardous_chemicals", "industry_trade"]
