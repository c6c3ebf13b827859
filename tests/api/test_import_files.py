"""Hostile and awkward import files, uploaded by the roles that may import: WKT with M, XXE and
billion-laughs workbooks, a GDAL error that named the server's temporary path, data on a workbook's second
sheet, a Beijing 1954 .prj, and the temporary folders an import leaves (none) or a killed process left."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
from pyproj import CRS, Transformer
from shapely.geometry import Point
from sqlalchemy import Engine, text

from geo.io.tempfiles import sweep_stale, temp_folder
from tests.api.builders import QUANGANG, created, credit_code, enterprise_feature, guarded, ok
from tests.io.helpers import (
    ENTERPRISE_HEADERS,
    RISK_HEADERS,
    enterprise_rows,
    risk_rows,
    write_xlsx,
    zip_files,
)

IMPORTS = "/api/v1/imports"


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


@pytest.fixture
def enterprise_user(api: Any, client_as: Any) -> Any:
    """An enterprise user (may import its own risk units): the role an attacker most easily gets."""
    e = created(api.post("/api/v1/enterprises", json=enterprise_feature(1)))
    return guarded(client_as("enterprise", enterprise_id=e["id"]))


def _post(client: Any, name: str, data: bytes, kind: str, **params: Any) -> Any:
    return client.post(IMPORTS, params={"kind": kind, **params}, files={"file": (name, data)})


def _file_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    errors = [e for e in response.json()["errors"] if e["field"] == "file"]
    assert errors, response.json()
    assert errors[0]["reason_zh"]
    return errors[0]


def _ours() -> list[Path]:
    """This process's riskmap temporary folders."""
    return [p for p in Path(tempfile.gettempdir()).glob(f"riskmap-*-{os.getpid()}-*") if p.is_dir()]


# --- WKT with a measure --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wkt",
    [
        f"POINT M ({QUANGANG[0]} {QUANGANG[1]} 7)",
        f"POINT ZM ({QUANGANG[0]} {QUANGANG[1]} 12 7)",
        f"LINESTRING M ({QUANGANG[0]} {QUANGANG[1]} 1, {QUANGANG[0] + 0.001} {QUANGANG[1]} 2)",
    ],
)
def test_wkt_with_m_or_zm_is_stored_in_two_dimensions(api: Any, engine: Engine, wkt: str) -> None:
    """`POINT M` / `ZM` in a CSV was a 500 (PostGIS refused a measured geometry); the measure is dropped."""
    body = f'行业领域,风险点名称,风险等级,管控措施,WKT\n城镇燃气,燃气调压站,3,巡检,"{wkt}"\n'
    response = _post(api, "public.csv", body.encode(), "public_risks")
    assert response.status_code == 201, response.text
    assert response.json()["inserted"] == 1
    with engine.connect() as conn:
        dims = conn.execute(text("SELECT ST_NDims(geom), ST_Zmflag(geom) FROM risk_units")).one()
    assert tuple(dims) == (2, 0)


# --- workbooks with a DTD ----------------------------------------------------------------------------


def _workbook(rows: list[list[Any]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _edit(data: bytes, member: str, change: Callable[[str], str]) -> bytes:
    """The workbook with one XML part rewritten (as an attacker edits the zip by hand)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in source.infolist():
            part = source.read(info.filename)
            zf.writestr(info, change(part.decode()).encode() if info.filename == member else part)
    return out.getvalue()


XXE = '<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
LAUGHS = (
    '<!DOCTYPE worksheet [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)
PADDING = "<!--" + "x" * 100_000 + "-->"  # past the prolog the reader looks at: defusedxml must catch it


def _attack(dtd: str, entity: str) -> bytes:
    rows = [RISK_HEADERS, *risk_rows(1, credit_code(1))]
    base = _workbook(rows)
    return _edit(base, "xl/worksheets/sheet1.xml", lambda xml: dtd + xml.replace("储罐区0000", entity))


@pytest.mark.parametrize(
    ("dtd", "entity"),
    [(XXE, "&xxe;"), (LAUGHS, "&lol9;"), (PADDING + XXE, "&xxe;"), (PADDING + LAUGHS, "&lol9;")],
    ids=["xxe", "billion-laughs", "xxe-late", "billion-laughs-late"],
)
def test_hostile_workbooks_are_422_naming_the_file(
    enterprise_user: Any, engine: Engine, dtd: str, entity: str
) -> None:
    response = _post(enterprise_user, "风险点.xlsx", _attack(dtd, entity), "risk_units")
    error = _file_error(response)
    assert "DTD" in error["reason"] or "entities" in error["reason"]
    assert "root:" not in response.text  # nothing of /etc/passwd
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM risk_units")).scalar_one() == 0


def test_a_workbook_part_with_a_dtd_is_named(enterprise_user: Any) -> None:
    wb = _edit(
        _workbook([RISK_HEADERS, *risk_rows(1, credit_code(1))]),
        "xl/workbook.xml",
        lambda xml: '<!DOCTYPE workbook [<!ENTITY xxe SYSTEM "http://169.254.169.254/">]>' + xml,
    )
    assert "xl/workbook.xml" in _file_error(_post(enterprise_user, "a.xlsx", wb, "risk_units"))["reason"]


def test_malformed_workbook_xml_is_422_not_500(enterprise_user: Any) -> None:
    wb = _edit(
        _workbook([RISK_HEADERS, *risk_rows(1, credit_code(1))]),
        "xl/worksheets/sheet1.xml",
        lambda x: x[:-40],
    )
    assert "Excel" in _file_error(_post(enterprise_user, "a.xlsx", wb, "risk_units"))["reason"]


# --- data on the second sheet --------------------------------------------------------------------------


def test_data_on_the_second_sheet_gets_a_hint(enterprise_user: Any, tmp_path: Path) -> None:
    import openpyxl

    for cover in ([], [["填表说明：请在“风险点清单”工作表中填写"]]):
        wb = openpyxl.Workbook()
        first = wb.active
        assert first is not None
        first.title = "说明"
        for row in cover:
            first.append(row)
        data = wb.create_sheet("风险点清单")
        for row in [RISK_HEADERS, *risk_rows(2, credit_code(1))]:
            data.append(row)
        wb.save(tmp_path / "book.xlsx")
        error = _file_error(
            _post(enterprise_user, "book.xlsx", (tmp_path / "book.xlsx").read_bytes(), "risk_units")
        )
        assert "'风险点清单'" in error["reason"], error
        assert "'说明'" in error["reason"]
        assert "风险点清单" in error["reason_zh"]


def test_a_cover_sheet_before_the_register_gets_a_hint(enterprise_user: Any, tmp_path: Path) -> None:
    """A first sheet of instructions (text in several rows) is read as the register: the missing columns
    come with the names of the other sheets."""
    import openpyxl

    wb = openpyxl.Workbook()
    cover = wb.active
    assert cover is not None
    cover.title = "填表说明"
    for line in (["一、本表由企业填写"], ["二、风险等级填写重大、较大、一般、低"], ["三、经纬度为 CGCS2000"]):
        cover.append(line)
    data = wb.create_sheet("风险点清单")
    for row in [RISK_HEADERS, *risk_rows(2, credit_code(1))]:
        data.append(row)
    wb.save(tmp_path / "book.xlsx")
    response = _post(enterprise_user, "book.xlsx", (tmp_path / "book.xlsx").read_bytes(), "risk_units")
    assert response.status_code == 422, response.text
    hints = [e for e in response.json()["errors"] if e["field"] == "file.sheet"]
    assert hints, response.json()
    assert "'风险点清单'" in hints[0]["reason"]
    assert "填表说明" in hints[0]["reason"]
    assert "风险点清单" in hints[0]["reason_zh"]


# --- GDAL's messages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "shown"), [("企业.gpkg", "企业.gpkg"), ("broken.zip", "企业.shp")])
def test_a_gdal_error_does_not_show_the_servers_paths(api: Any, name: str, shown: str) -> None:
    """GDAL names the file it failed to read: the uploaded name (or the zip member's), not /tmp/…"""
    if name.endswith(".zip"):
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as zf:
            zf.writestr("企业.shp", b"not a shapefile" * 10)
            zf.writestr("企业.shx", b"x" * 100)
            zf.writestr("企业.dbf", b"y" * 100)
        payload = data.getvalue()
    else:
        payload = b"not a GeoPackage at all " * 100
    response = _post(api, name, payload, "enterprises")
    error = _file_error(response)
    assert tempfile.gettempdir() not in response.text
    assert "riskmap-" not in response.text
    assert "upload." not in response.text
    assert f"'{shown}' not recognized" in error["reason"]


# --- Beijing 1954 and Xian 1980 ----------------------------------------------------------------------


def _shapefile_in(tmp_path: Path, epsg: int) -> bytes:
    to_local = Transformer.from_crs(4490, epsg, always_xy=True)  # ballpark: only the .prj matters here
    frame = gpd.GeoDataFrame(
        dict(
            zip(
                ["信用代码", "企业名称", "行业领域"],
                [[credit_code(1)], ["泉港化工"], ["危险化学品"]],
                strict=True,
            )
        ),
        geometry=[Point(*to_local.transform(*QUANGANG))],
        crs=CRS.from_epsg(epsg),
    )
    folder = tmp_path / f"shp{epsg}"
    folder.mkdir()
    pyogrio.write_dataframe(frame, folder / "企业.shp", encoding="GBK")
    members = {p.name: p.read_bytes() for p in folder.iterdir()}
    return zip_files(tmp_path / f"{epsg}.zip", members).read_bytes()


@pytest.mark.parametrize(
    ("epsg", "datum"),
    [(2437, "Beijing 1954"), (4214, "Beijing 1954"), (21460, "Beijing 1954"), (2385, "Xian 1980")],
)
def test_a_beijing_54_or_xian_80_prj_is_refused_with_the_reason(
    api: Any, engine: Engine, tmp_path: Path, epsg: int, datum: str
) -> None:
    error = _file_error(_post(api, "企业.zip", _shapefile_in(tmp_path, epsg), "enterprises"))
    assert datum in error["reason"]
    assert "7-parameter" in error["reason"]
    assert "CGCS2000" in error["reason"]
    assert "七参数" in error["reason_zh"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM enterprises")).scalar_one() == 0


def test_a_geojson_naming_beijing_54_is_refused(api: Any) -> None:
    doc = (
        '{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:2437"}},'
        '"features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [40500000, 2780000]},'
        '"properties": {"企业名称": "x"}}]}'
    )
    assert "Beijing 1954" in _file_error(_post(api, "a.geojson", doc.encode(), "enterprises"))["reason"]


def test_a_cgcs2000_gauss_kruger_prj_is_still_accepted(api: Any, tmp_path: Path) -> None:
    response = _post(api, "企业.zip", _shapefile_in(tmp_path, 4549), "enterprises")
    assert response.status_code == 201, response.text


# --- temporary folders ---------------------------------------------------------------------------------


def test_imports_leave_no_temporary_folder(api: Any, tmp_path: Path) -> None:
    before = set(_ours())
    good = write_xlsx(tmp_path / "e.xlsx", ENTERPRISE_HEADERS, enterprise_rows(3))
    assert _post(api, "e.xlsx", good.read_bytes(), "enterprises").status_code == 201
    _file_error(_post(api, "企业.zip", _shapefile_in(tmp_path, 2437), "enterprises"))
    _file_error(_post(api, "e.gpkg", b"SQLite format 3\x00" + b"\x00" * 100, "enterprises"))
    assert _post(api, "x.csv", b"a,b\n" + b"1,2\n" * 10, "enterprises", dry_run="true").status_code == 200
    assert set(_ours()) == before


def test_startup_sweeps_what_a_killed_process_left(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed server cannot remove its upload folder; the next start removes the folders of processes
    that are gone, and any of ours older than 6 hours, and leaves everything else alone."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import AuthSettings, DatabaseSettings, Settings

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    dead_pid = int(gone.stdout)
    killed = tmp_path / f"riskmap-upload-{dead_pid}-abc123"
    (killed / "nested").mkdir(parents=True)
    (killed / "nested" / "upload.gpkg").write_bytes(b"x" * 1000)
    old = tmp_path / "riskmap-shp-old"
    old.mkdir()
    os.utime(old, (time.time() - 7 * 3600, time.time() - 7 * 3600))
    with temp_folder("upload") as live_name:
        live = Path(live_name)
        assert live.parent == tmp_path
        keep = [tmp_path / "riskmap-export-notes", tmp_path / "other"]
        for p in keep:
            p.mkdir()
        app = create_app(
            Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret="x" * 40))
        )
        with TestClient(app) as c:
            assert ok(c.get("/api/v1/health"))["status"] == "ok"
        assert not killed.exists()
        assert not old.exists()
        assert live.exists()  # this process's own, in use
        assert all(p.exists() for p in keep)
    assert not live.exists()
    assert sweep_stale(tmp_path) == []
