"""Exports re-import to the same data in every format (Chinese text intact); templates; 一企一册, 一县一册;
nobody sees or writes rows outside their scope."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, text

from api.auth import current_principal
from geo.access import Principal, Role
from tests.api.builders import credit_code, guarded, ok
from tests.io.helpers import ENTERPRISE_HEADERS, RISK_HEADERS, enterprise_rows, risk_rows, write_csv

IMPORTS = "/api/v1/imports"
EXPORTS = "/api/v1/exports"
ORDER = ("zones", "enterprises", "risk_units", "public_risks", "protection_targets")


def _post_bytes(client: Any, data: bytes, name: str, kind: str, **params: Any) -> Any:
    return client.post(IMPORTS, params={"kind": kind, **params}, files={"file": (name, data)})


def _load_register(client: Any, tmp_path: Path) -> None:
    """A small register with the awkward cases: Chinese everywhere, LEC factors, lines and polygons,
    a text that starts with '-' or '=', a derived and a given GB 36894 class, a park."""
    zones = "编码,名称,类型,上级行政区划代码,来源,WKT\n" + (
        'QG-PARK-01,泉港石化工业园区,园区,350505,园区管委会,"POLYGON ((118.80 25.14, 118.84 25.14, 118.84 25.18, 118.80 25.18, 118.80 25.14))"\n'
    )
    assert _post_bytes(client, zones.encode(), "zones.csv", "zones").status_code == 201
    enterprises = enterprise_rows(3)
    enterprises[2][3] = "=泉港区“南山”路 1 号"
    r = _post_bytes(
        client,
        write_csv(tmp_path / "e.csv", ENTERPRISE_HEADERS, enterprises).read_bytes(),
        "e.csv",
        "enterprises",
    )
    assert r.status_code == 201, r.text
    units = risk_rows(6, credit_code(1)) + risk_rows(2, credit_code(2))
    units[1][5] = "-定期巡检；+双人操作"
    path = write_csv(tmp_path / "r.csv", RISK_HEADERS, units)
    assert _post_bytes(client, path.read_bytes(), "r.csv", "risk_units").status_code == 201
    lec = "所属企业统一社会信用代码,风险点名称,评估方法,L,E,C,危险源类型,储存容积,经度,纬度\n" + (
        f"{credit_code(3)},液化气储罐,LEC,3,6,15,lpg_supply_base,120,118.9,25.12\n"
    )
    r = _post_bytes(client, lec.encode(), "lec.csv", "risk_units")
    assert r.status_code == 201, r.text
    public = "风险点名称,行业领域,风险等级,可能导致的事故类型,管控层级,WKT\n" + (
        '南埔镇燃气中压管线,城镇燃气,较大风险,火灾、其他爆炸,公司级,"LINESTRING (118.86 25.10, 118.88 25.12, 118.90 25.13)"\n'
        '泉港区中心广场,消防,一般,,岗位级,"POLYGON ((118.87 25.10, 118.875 25.10, 118.875 25.105, 118.87 25.105, 118.87 25.10))"\n'
    )
    r = _post_bytes(client, public.encode(), "public.csv", "public_risks")
    assert r.status_code == 201, r.text
    targets = "防护目标名称,防护目标类型,防护目标类别,人数,户数,地址,WKT\n" + (
        '泉港区第一中学,学校,,2400,,山腰街道,"POINT (118.885 25.115)"\n'
        '南山村,村庄,,,45,南埔镇,"POLYGON ((118.89 25.12, 118.895 25.12, 118.895 25.125, 118.89 25.125, 118.89 25.12))"\n'
        '石化宿舍,居住区,一般防护目标一类,300,,南埔镇,"POINT (118.87 25.11)"\n'
    )
    r = _post_bytes(client, targets.encode(), "targets.csv", "protection_targets")
    assert r.status_code == 201, r.text


SNAPSHOT = {
    "enterprises": "SELECT credit_code, name, sector, business_type, address, employees, supervising_department, "
    "contact_person, contact_phone, jurisdiction_adcode, ST_AsText(geom) FROM enterprises ORDER BY credit_code",
    "risk_units": "SELECT e.credit_code, r.kind, r.name, r.sector, r.level, r.assessment_method, r.assessment_inputs::text, "
    "r.assessment_score, r.assessment_table, r.accident_types, r.hazards, r.control_measures, r.control_level, "
    "r.responsible_department, r.responsible_person, r.responsible_phone, r.assessed_on, r.next_assessment_due, "
    "r.max_occupancy, r.hazard_kind, r.capacity_m3, r.jurisdiction_adcode, ST_AsText(r.geom) "
    "FROM risk_units r LEFT JOIN enterprises e ON e.id = r.enterprise_id ORDER BY e.credit_code NULLS FIRST, r.name",
    "protection_targets": "SELECT name, type, gb_class, gb_class_derived, population, households, address, "
    "jurisdiction_adcode, ST_AsText(geom) FROM protection_targets ORDER BY name",
    "zones": "SELECT adcode, name, level, parent_adcode, source, ST_AsText(geom) FROM jurisdictions "
    "WHERE level IN ('park', 'grid') ORDER BY adcode",
}


def _snapshot(engine: Engine, *, grid: bool = False, ccw: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Stored rows; `grid`: coordinates to 1e-9 degrees (0.1 mm), as Excel keeps 15–16 digits; `ccw`: rings
    oriented one way (a Shapefile's outer rings run clockwise, GeoJSON's counter-clockwise: the same area)."""
    if ccw:
        return {
            k: [tuple(r) for r in rows]
            for k, rows in _snapshot_with(
                engine,
                lambda q: q.replace("ST_AsText(r.geom)", "ST_AsText(ST_ForcePolygonCCW(r.geom))").replace(
                    "ST_AsText(geom)", "ST_AsText(ST_ForcePolygonCCW(geom))"
                ),
            ).items()
        }
    with engine.connect() as conn:
        return {
            k: [
                tuple(r)
                for r in conn.execute(
                    text(
                        q.replace("ST_AsText(r.geom)", "ST_AsText(ST_SnapToGrid(r.geom, 1e-9))").replace(
                            "ST_AsText(geom)", "ST_AsText(ST_SnapToGrid(geom, 1e-9))"
                        )
                        if grid
                        else q
                    )
                )
            ]
            for k, q in SNAPSHOT.items()
        }


def _snapshot_with(engine: Engine, rewrite: Any) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {k: list(conn.execute(text(rewrite(q)))) for k, q in SNAPSHOT.items()}


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        # DELETE, not TRUNCATE … CASCADE, which would also empty `users` (the signed-in admin among them)
        conn.execute(text("DELETE FROM risk_units; DELETE FROM protection_targets; DELETE FROM enterprises"))
        conn.execute(text("DELETE FROM jurisdictions WHERE level IN ('park', 'grid')"))


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "xlsx", "csv", "shp", "shp-gbk"])
def test_every_export_reimports_to_the_same_data(
    client: Any, engine: Engine, tmp_path: Path, fmt: str
) -> None:
    api = guarded(client)
    _load_register(api, tmp_path)
    before = _snapshot(engine, grid=fmt == "xlsx", ccw=fmt.startswith("shp"))
    assert len(before["risk_units"]) == 11
    files = {}
    for kind in ORDER:
        fmt_, _, encoding = fmt.partition("-")
        response = api.get(EXPORTS, params={"kind": kind, "format": fmt_, "encoding": encoding or "utf-8"})
        assert response.status_code == 200, response.text
        assert "attachment" in response.headers["content-disposition"]
        files[kind] = response.content
    if fmt in ("csv", "geojson"):
        assert "泉港石化工业园区".encode() in files["zones"]
        assert "液氨泄漏、中毒窒息".encode() in files["risk_units"]
    if fmt == "csv":
        assert "'=泉港区".encode() in files["enterprises"]  # formula injection defused
        assert "'-定期巡检".encode() in files["risk_units"]
    _empty(engine)
    for kind in ORDER:
        r = _post_bytes(api, files[kind], f"{kind}.{'zip' if fmt.startswith('shp') else fmt}", kind)
        assert r.status_code == 201, (kind, r.json()["errors"][:6])
    after = _snapshot(engine, grid=fmt == "xlsx", ccw=fmt.startswith("shp"))
    for kind in SNAPSHOT:
        assert after[kind] == before[kind], kind


def test_xlsx_export_cells_are_not_formulas(client: Any, tmp_path: Path) -> None:
    api = guarded(client)
    _load_register(api, tmp_path)
    data = api.get(EXPORTS, params={"kind": "enterprises", "format": "xlsx"}).content
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    cells = [c for row in ws.iter_rows() for c in row]
    assert not [c for c in cells if c.data_type == "f"]
    assert any(c.value == "'=泉港区“南山”路 1 号" for c in cells)


def test_export_rejects_unknown_format_and_kind(client: Any) -> None:
    assert client.get(EXPORTS, params={"kind": "enterprises", "format": "kml"}).status_code == 422
    bad = client.get(EXPORTS, params={"kind": "enterprises", "format": "shp", "encoding": "latin1"})
    assert bad.status_code == 422
    assert client.get(EXPORTS, params={"kind": "mines"}).status_code == 422
    assert client.get(EXPORTS, params={"kind": "enterprises", "adcode": "999999"}).status_code == 404


@pytest.mark.parametrize("kind", ORDER)
def test_templates_have_chinese_headers_dropdowns_and_an_example_that_imports(client: Any, kind: str) -> None:
    api = guarded(client)
    response = api.get(f"/api/v1/templates/{kind}.xlsx")
    assert response.status_code == 200, response.text
    wb = openpyxl.load_workbook(io.BytesIO(response.content))
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[1]]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in h) or h in ("L", "E", "C", "WKT") for h in headers), (
        headers
    )
    validations = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation}
    assert validations
    assert all("选项" in f for f in validations.values())
    options = wb["选项"]
    offered = {c.value for row in options.iter_rows() for c in row if c.value}
    if kind in ("enterprises", "public_risks"):
        assert "危险化学品" in offered
    if kind in ("risk_units", "public_risks"):
        assert {"重大风险", "火灾", "公司级"} <= offered
    if kind == "risk_units":  # its example names the example enterprise: make that one first
        example_enterprise = api.get("/api/v1/templates/enterprises.xlsx").content
        assert _post_bytes(api, example_enterprise, "e.xlsx", "enterprises").status_code == 201
    report = ok(_post_bytes(api, response.content, f"{kind}.xlsx", kind, dry_run="true"))
    assert report["valid"], report["errors"]
    assert report["rows"] == 1


def test_unknown_template_is_422(client: Any) -> None:
    assert client.get("/api/v1/templates/mines.xlsx").status_code == 422


def test_enterprise_register_excel_and_pdf(client: Any, tmp_path: Path) -> None:
    api = guarded(client)
    _load_register(api, tmp_path)
    eid = api.get("/api/v1/enterprises", params={"limit": 10}).json()["features"][0]["id"]
    xlsx = api.get(f"/api/v1/exports/enterprise-register/{eid}.xlsx")
    assert xlsx.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert wb.sheetnames == ["企业基本情况", "风险点清单", "存在隐患情况"]
    info = {r[0].value: r[1].value for r in wb["企业基本情况"].iter_rows(min_row=2) if len(r) > 1}
    assert info["企业名称"] == "泉港化工1号有限公司"
    assert info["风险点数量"] == 6
    units = wb["风险点清单"]
    assert units.max_row == 7
    # the sheet of risk points is itself an import file
    data = io.BytesIO()
    sheet_only = openpyxl.Workbook()
    target = sheet_only.active
    assert target is not None
    for row in units.iter_rows(values_only=True):
        target.append(list(row))
    sheet_only.save(data)
    report = ok(_post_bytes(api, data.getvalue(), "units.xlsx", "risk_units", dry_run="true"))
    assert report["valid"], report["errors"]
    assert (report["inserted"], report["updated"], report["unchanged"]) == (0, 0, 6)
    pdf = api.get(f"/api/v1/exports/enterprise-register/{eid}.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert b"NotoSansCJK" in pdf.content
    assert api.get("/api/v1/exports/enterprise-register/999999.pdf").status_code == 404


def test_county_register_lists_major_and_large_risks(client: Any, tmp_path: Path) -> None:
    api = guarded(client)
    _load_register(api, tmp_path)
    response = api.get("/api/v1/exports/county-register/350505.xlsx")
    assert response.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(response.content))
    ws = wb["重大较大风险清单"]
    header = [c.value for c in ws[2]]
    rows = [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=3, values_only=True)]
    levels = {r["风险等级"] for r in rows}
    assert levels == {"重大风险（红）", "较大风险（橙）"}
    # risk_rows cycles 重大/较大/一般/低: of 6 + 2 units, 4 + 2 are level 1–2; the LEC tank scores
    # 3×6×15 = 270 (较大); the gas pipeline is 较大; the square (一般) is left out
    assert len(rows) == 8
    assert any(r["风险点名称"] == "南埔镇燃气中压管线" and r["风险类别"] == "公共区域风险" for r in rows)
    assert wb["汇总"].cell(row=wb["汇总"].max_row, column=5).value == 8
    assert api.get("/api/v1/exports/county-register/QG-PARK-01.xlsx").status_code in (404, 422)


# --- scope ------------------------------------------------------------------------------------------


def _as(client: Any, principal: Principal) -> None:
    client.app.dependency_overrides[current_principal] = lambda: principal


def test_scope_of_imports_and_exports(client: Any, engine: Engine, tmp_path: Path) -> None:
    api = guarded(client)
    _load_register(api, tmp_path)
    eid = api.get("/api/v1/enterprises", params={"limit": 10}).json()["features"][0]["id"]
    try:
        _as(api, Principal(Role.public))
        assert api.get(EXPORTS, params={"kind": "enterprises"}).status_code == 401  # anonymous: sign in
        assert _post_bytes(api, b"a,b\n1,2\n", "x.csv", "protection_targets").status_code == 401

        _as(api, Principal(Role.regulator, username="蚌山区应急局", adcodes=("340303",)))
        assert _post_bytes(api, b"a,b\n1,2\n", "x.csv", "enterprises").status_code == 403
        outside = "防护目标名称,防护目标类型,人数,经度,纬度\n泉港区第二中学,学校,1200,118.88,25.11\n"
        r = _post_bytes(api, outside.encode(), "t.csv", "protection_targets")
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "row 2.geometry"
        inside = "防护目标名称,防护目标类型,人数,经度,纬度\n蚌山小学,学校,900,117.355,32.886\n"
        assert _post_bytes(api, inside.encode(), "t.csv", "protection_targets").status_code == 201
        seen = api.get(EXPORTS, params={"kind": "protection_targets", "format": "geojson"}).json()["features"]
        assert [f["properties"]["防护目标名称"] for f in seen] == ["蚌山小学"]
        assert api.get(EXPORTS, params={"kind": "enterprises"}).json()["features"] == []
        assert api.get("/api/v1/exports/county-register/350505.xlsx").status_code == 403  # not its area
        assert api.get("/api/v1/exports/county-register/340303.xlsx").status_code == 200

        _as(api, Principal(Role.enterprise, username="泉港化工1号", enterprise_id=eid))
        units = api.get(EXPORTS, params={"kind": "risk_units", "format": "geojson"}).json()["features"]
        assert len(units) == 6
        assert {f["properties"]["所属企业统一社会信用代码"] for f in units} == {credit_code(1)}
        assert api.get(EXPORTS, params={"kind": "protection_targets"}).status_code == 403
        others = write_csv(tmp_path / "o.csv", RISK_HEADERS, risk_rows(2, credit_code(2)))
        r = _post_bytes(api, others.read_bytes(), "o.csv", "risk_units")
        assert r.status_code == 422
        assert all(e["field"].endswith("enterprise_credit_code") for e in r.json()["errors"])
        own = write_csv(tmp_path / "own.csv", RISK_HEADERS, risk_rows(2, credit_code(1)))
        assert _post_bytes(api, own.read_bytes(), "own.csv", "risk_units").status_code == 201
        assert api.get("/api/v1/exports/county-register/350505.xlsx").status_code == 403
    finally:
        api.app.dependency_overrides.clear()


def test_geojson_export_names_a_crs_other_than_wgs84(client: Any, tmp_path: Path) -> None:
    api = guarded(client)
    _load_register(api, tmp_path)
    stored = api.get(EXPORTS, params={"kind": "enterprises", "format": "geojson"}).json()
    assert stored["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::4490"
    wgs84 = api.get(EXPORTS, params={"kind": "enterprises", "format": "geojson", "crs": "wgs84"}).json()
    assert "crs" not in wgs84  # RFC 7946: WGS 84 lon/lat needs no name
    gcj = api.get(EXPORTS, params={"kind": "enterprises", "format": "geojson", "crs": "gcj02"}).json()
    assert gcj["coordinate_system"].startswith("gcj02")


def test_xlsx_and_gpkg_exports_keep_dates_as_dates(client: Any, tmp_path: Path) -> None:
    import pyogrio

    api = guarded(client)
    _load_register(api, tmp_path)
    data = api.get(EXPORTS, params={"kind": "risk_units", "format": "xlsx"}).content
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    header = [c.value for c in ws[1]]
    column = header.index("评估日期")
    dated = [row[column] for row in ws.iter_rows(min_row=2) if row[column].value is not None]
    assert dated
    assert all(c.is_date and c.number_format == "yyyy-mm-dd" for c in dated)
    path = tmp_path / "units.gpkg"
    path.write_bytes(api.get(EXPORTS, params={"kind": "risk_units", "format": "gpkg"}).content)
    info = pyogrio.read_info(path)
    types = dict(zip(info["fields"], info["ogr_types"], strict=True))
    assert types["评估日期"] == "OFTDate"


def test_streamed_csv_is_gzipped_for_a_client_that_asks(client: Any, engine: Engine, tmp_path: Path) -> None:
    from api.usecases import exports as usecase
    from geo.access import SYSTEM

    api = guarded(client)
    _load_register(api, tmp_path)
    params = {"kind": "risk_units", "format": "csv"}
    gzipped = api.get(EXPORTS, params=params, headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    plain = api.get(EXPORTS, params=params, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    whole = usecase.export_table(engine, SYSTEM, "risk_units", fmt="csv").content
    assert gzipped.content == plain.content == whole  # httpx takes the gzip off
