"""GDAL itself reads what riskmap serves: Debian's gdal-bin (`ogrinfo`, `ogr2ogr`, installed by
`scripts/setup.sh --dev`) against the OGC API at /ogc on a loopback uvicorn, and against PostGIS directly.
These are also the checks of the README's "Open the register in QGIS" (QGIS reads through the same GDAL)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, make_url

from geo.access import SYSTEM
from geo.store import users
from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    created,
    enterprise_feature,
    protection_target_feature,
    risk_unit_feature,
)
from tests.maps.browser import serve_app
from tests.principals import add_test_user

pytestmark = pytest.mark.gdal


def _gdal(*args: str, env: dict[str, str] | None = None) -> str:
    if shutil.which(args[0]) is None:
        pytest.skip(
            f"{args[0]} is not installed: `apt-get install gdal-bin` (or `bash scripts/setup.sh --dev`)"
        )
    clean = {
        k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    clean.update({"NO_PROXY": "127.0.0.1,localhost", "CPL_DEBUG": "OFF"}, **(env or {}))
    done = subprocess.run(
        args, capture_output=True, text=True, errors="replace", env=clean, timeout=120, check=False
    )
    assert done.returncode == 0, f"{' '.join(args[:3])}… failed: {done.stderr}"
    return done.stdout + done.stderr


def _register(client: Any) -> dict[str, Any]:
    e1 = created(client.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))["id"]
    e2 = created(client.post(ENTERPRISES, json=enterprise_feature(2, at=HUIAN)))["id"]
    lon, lat = QUANGANG
    own = [
        created(
            client.post(RISK_UNITS, json=risk_unit_feature(e1, name=f"储罐区{i}", at=(lon + i * 0.001, lat)))
        )
        for i in range(5)
    ]
    area = risk_unit_feature(e1, name="装卸区", geometry=box_polygon(lon, lat, lon + 0.002, lat + 0.002))
    own.append(created(client.post(RISK_UNITS, json=area)))
    other = created(client.post(RISK_UNITS, json=risk_unit_feature(e2, name="惠安储罐", at=HUIAN)))
    created(client.post(TARGETS, json=protection_target_feature(at=QUANGANG)))
    target_area = protection_target_feature(
        name="山腰村", geometry=box_polygon(lon, lat, lon + 0.01, lat + 0.01)
    )
    created(client.post(TARGETS, json=target_area))
    return {"own": {f["id"] for f in own}, "other": other["id"]}


def test_oapif_reads_what_the_regulator_sees(client: Any, engine: Engine, tmp_path: Path) -> None:
    made = _register(client)
    username = add_test_user(engine, "regulator", adcodes=("350505",))
    with engine.begin() as conn:
        key = users.create_api_key(conn, SYSTEM, username)
    api_count = client.get(RISK_UNITS, params={"adcode": "350505"}).json()["numberMatched"]
    out = tmp_path / "units.geojson"
    with serve_app(client.app) as base:
        env = {"GDAL_HTTP_HEADERS": f"X-API-Key: {key}"}
        listing = _gdal("ogrinfo", "-ro", "-q", f"OAPIF:{base}/ogc", env=env)
        for layer in (
            "risk-units",
            "public-area-risks",
            "protection-targets",
            "enterprises",
            "jurisdictions",
        ):
            assert layer in listing
        # a page size of 2: GDAL follows the rel=next links through all pages
        _gdal(
            "ogr2ogr",
            "-f",
            "GeoJSON",
            str(out),
            f"OAPIF:{base}/ogc",
            "risk-units",
            "-oo",
            "PAGE_SIZE=2",
            env=env,
        )
        # without the key GDAL gets nothing of the register
        anonymous = subprocess.run(
            ["ogrinfo", "-ro", "-so", f"OAPIF:{base}/ogc", "risk-units"],
            capture_output=True,
            text=True,
            check=False,
        )
    got = json.loads(out.read_text(encoding="utf-8"))["features"]
    ids = {f["properties"]["id"] for f in got}
    assert len(got) == api_count == len(made["own"])
    assert ids == made["own"]
    assert made["other"] not in ids  # none of 惠安县
    assert "Feature Count: 0" in anonymous.stdout + anonymous.stderr or anonymous.returncode != 0


def test_oapif_reads_zones_and_hazards(client: Any, engine: Engine, tmp_path: Path) -> None:
    """The four-colour zones (public: no key needed) and the hidden hazards (the regulator's) through GDAL."""
    _register(client)
    units = client.get(RISK_UNITS, params={"adcode": "350505"}).json()["features"]
    for unit in units[:2]:
        body = {"risk_unit_id": unit["id"], "grade": "general", "description": "可燃气体报警器失效"}
        created(client.post("/api/v1/hazards", json=body))
    other = client.get(RISK_UNITS, params={"adcode": "350521"}).json()["features"][0]
    created(client.post("/api/v1/hazards", json={**body, "risk_unit_id": other["id"]}))
    username = add_test_user(engine, "regulator", adcodes=("350505",))
    with engine.begin() as conn:
        key = users.create_api_key(conn, SYSTEM, username)
    zones_out, hazards_out = tmp_path / "zones.geojson", tmp_path / "hazards.geojson"
    with serve_app(client.app) as base:
        expected_zones = client.get(f"{base}/ogc/collections/four-colour-zones/items").json()["numberMatched"]
        listing = _gdal("ogrinfo", "-ro", "-q", f"OAPIF:{base}/ogc")
        assert "four-colour-zones" in listing
        summary = _gdal("ogrinfo", "-ro", "-so", f"OAPIF:{base}/ogc", "four-colour-zones")
        assert "level" in summary
        assert "color" in summary
        _gdal("ogr2ogr", "-f", "GeoJSON", str(zones_out), f"OAPIF:{base}/ogc", "four-colour-zones")
        env = {"GDAL_HTTP_HEADERS": f"X-API-Key: {key}"}
        _gdal("ogr2ogr", "-f", "GeoJSON", str(hazards_out), f"OAPIF:{base}/ogc", "hazards", env=env)
    zones = json.loads(zones_out.read_text(encoding="utf-8"))["features"]
    assert len(zones) == expected_zones > 0
    assert all(z["properties"]["level"] in (None, 1, 2, 3, 4) for z in zones)
    hazards = json.loads(hazards_out.read_text(encoding="utf-8"))["features"]
    assert len(hazards) == 2  # the regulator's two, none of 惠安县
    assert {h["properties"]["risk_unit_id"] for h in hazards} <= {u["id"] for u in units}


def _pg(database_url: str) -> tuple[str, dict[str, str]]:
    url = make_url(database_url)
    conn = (
        f"PG:dbname={url.database} host={url.host or 'localhost'} port={url.port or 5432} user={url.username}"
    )
    return conn, {"PGPASSWORD": url.password or ""}


def test_postgis_reports_true_geometry_types(client: Any, database_url: str, tmp_path: Path) -> None:
    _register(client)
    conn, env = _pg(database_url)
    listing = _gdal("ogrinfo", "-ro", "-q", conn, env=env)
    # "3: risk_units" (no type: GEOMETRY, any) or "11: gis.risk_unit_areas (Multi Polygon)"
    layers: dict[str, str] = {}
    for line in listing.splitlines():
        if line[:1].isdigit() and ": " in line:
            name, _, kind = line.split(": ", 1)[1].partition(" (")
            layers[name] = kind.rstrip(")")
    assert layers["risk_units"] == ""  # was "Point": geometry_columns read the CHECK's first word
    assert layers["protection_targets"] == ""
    assert layers["gis.risk_unit_areas"] == "Multi Polygon"
    assert layers["gis.risk_unit_points"] == "Multi Point"
    assert layers["gis.protection_target_areas"] == "Multi Polygon"
    assert layers["gis.enterprises"] == "Point"
    # ogr2ogr copies the polygons of risk_units as polygons (it copied them into a Point layer before)
    out = tmp_path / "units.gpkg"
    _gdal("ogr2ogr", "-f", "GPKG", str(out), conn, "risk_units", "-select", "name,level", env=env)
    info = _gdal("ogrinfo", "-ro", "-al", "-geom=SUMMARY", str(out))
    assert "POLYGON" in info
    assert "POINT" in info
    # the typed view holds the one area
    areas = _gdal("ogrinfo", "-ro", "-so", conn, "gis.risk_unit_areas", env=env)
    assert "Feature Count: 1" in areas


def test_readme_qgis_steps_are_the_ones_tested() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Open the register in QGIS", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    for needed in ("/ogc", "X-API-Key", "risk-units", "hazards", "four-colour-zones", "gis.", "ogrinfo"):
        assert needed in section


def _exports(api: Any, fmt: str, **params: Any) -> dict[str, bytes]:
    from tests.api.test_exports import EXPORTS, ORDER

    out = {}
    for kind in ORDER:
        response = api.get(EXPORTS, params={"kind": kind, "format": fmt, **params})
        assert response.status_code == 200, response.text
        out[kind] = response.content
    return out


def test_every_gpkg_export_opens_cleanly_in_gdal_36(client: Any, tmp_path: Path) -> None:
    """Debian 12's GDAL reads each GeoPackage without a warning, dates as Date fields, CGCS2000."""
    import sqlite3

    from tests.api.test_exports import _load_register

    _load_register(client, tmp_path)
    for kind, data in _exports(client, "gpkg").items():
        path = tmp_path / f"{kind}.gpkg"
        path.write_bytes(data)
        report = _gdal("ogrinfo", "-ro", "-al", "-so", str(path))
        assert "Warning" not in report, report
        assert "ERROR" not in report, report
        assert "China Geodetic Coordinate System 2000" in report
        if kind == "risk_units":
            assert "评估日期: Date" in report or ": Date (" in report
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # 'GPKG'
            assert db.execute("PRAGMA user_version").fetchone()[0] == 10300  # GeoPackage 1.3
            assert db.execute("SELECT count(*) FROM gpkg_contents").fetchone()[0] == 1


def test_shapefile_out_through_gdal_and_back(client: Any, engine: Engine, tmp_path: Path) -> None:
    """Our Shapefile export reads in GDAL with its .cpg; a Shapefile GDAL writes itself (from our GeoPackage,
    GBK, field names cut to 10 bytes: 统一社会信) imports back to the same rows."""
    from tests.api.test_exports import _empty, _load_register, _post_bytes, _snapshot

    _load_register(client, tmp_path)
    before = _snapshot(engine, ccw=True)
    ours = _exports(client, "shp", encoding="GBK")
    shp_dir = tmp_path / "ours"
    shp_dir.mkdir()
    seen: set[str] = set()
    for kind, data in ours.items():
        (shp_dir / f"{kind}.zip").write_bytes(data)
        report = _gdal("ogrinfo", "-ro", "-so", "-al", f"/vsizip/{shp_dir / f'{kind}.zip'}")
        kinds = [line.split(": ", 1)[1] for line in report.splitlines() if line.startswith("Geometry: ")]
        assert len(kinds) == len(set(kinds)), report  # one Shapefile per geometry type
        seen.update(kinds)
        if kind == "risk_units":
            assert "风险等" in report  # the published short name, read through the GBK .cpg
    assert {"Point", "Polygon"} <= seen
    gdal_zips: dict[str, bytes] = {}
    for kind, data in _exports(client, "gpkg").items():
        src = tmp_path / f"{kind}.gpkg"
        src.write_bytes(data)
        out = tmp_path / f"gdal_{kind}"
        out.mkdir()
        # one Shapefile per geometry type, as a GIS user would write them; GDAL truncates the field names
        import pyogrio

        types = set(pyogrio.read_dataframe(src).geometry.geom_type)
        for geom_type in sorted(types):
            _gdal(
                "ogr2ogr",
                "-f",
                "ESRI Shapefile",
                "-lco",
                "ENCODING=GBK",
                "-where",
                f"ST_GeometryType(geom) = '{geom_type.upper()}'",
                "-nln",
                f"{kind}_{geom_type.lower()}",
                str(out),
                str(src),
            )
        import io
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for member in sorted(out.iterdir()):
                zf.write(member, member.name)
        gdal_zips[kind] = buf.getvalue()
        if kind == "enterprises":
            names = _gdal("ogrinfo", "-ro", "-so", "-al", str(out))
            assert "统一社会信" in names  # GDAL cut 统一社会信用代码 to 10 bytes of GBK
    _empty(engine)
    for kind, data in gdal_zips.items():
        response = _post_bytes(client, data, f"{kind}.zip", kind)
        assert response.status_code == 201, (kind, response.text[:600])
    after = _snapshot(engine, ccw=True)
    for kind in before:
        assert after[kind] == before[kind], kind
