"""Exports of the register (GeoJSON, GeoPackage, Excel, CSV), import templates, and the registers
people file: 一企一册 (Excel, PDF) and 一县一册 (Excel)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.auth import PrincipalDep
from api.deps import CrsDep, EngineDep, SettingsDep
from geo.errors import InvalidInput
from geo.escape import ascii_filename
from geo.io.fields import KIND_NAMES_ZH, Kind
from geo.io.registers import (
    county_register_xlsx,
    enterprise_register_pdf,
    enterprise_register_xlsx,
    template_xlsx,
)
from geo.io.writers import FORMATS, MEDIA_TYPES, write_table
from geo.store.exports import county_register, enterprise_register, export_rows
from geo.store.imports import parse_kind

router = APIRouter(tags=["import and export"])
XLSX = MEDIA_TYPES["xlsx"]


def _attachment(name: str) -> dict[str, str]:
    """Content-Disposition with an ASCII fallback and the UTF-8 (Chinese) name (RFC 6266 / 5987)."""
    ascii_name = ascii_filename(name)
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"}


@router.get("/api/v1/exports", summary="Export a register table: GeoJSON, GeoPackage, Excel or CSV")
def export(
    engine: EngineDep,
    principal: PrincipalDep,
    crs: CrsDep,
    kind: Annotated[
        str, Query(description="enterprises, risk_units, public_risks, protection_targets or zones")
    ],
    adcode: Annotated[
        str | None, Query(max_length=12, description="only this jurisdiction's subtree")
    ] = None,
    format: Annotated[str, Query(description="geojson, gpkg, xlsx or csv")] = "geojson",
) -> Response:
    """Rows the caller may see, with the Chinese headers an import reads: an export re-imports to the same
    data. GeoJSON follows `crs`; GeoPackage, Excel and CSV are CGCS2000 lon/lat (EPSG:4490)."""
    checked = parse_kind(kind)
    if format not in FORMATS:
        raise InvalidInput.one(
            "format", f"expected one of {', '.join(FORMATS)}", f"格式应为 {', '.join(FORMATS)} 之一"
        )
    with engine.connect() as conn:
        frame, geoms = export_rows(conn, checked, principal, adcode)
    body = write_table(checked, frame, geoms, format, crs)
    name = f"{KIND_NAMES_ZH[checked]}_{adcode or '全部'}_{dt.date.today().isoformat()}.{format}"
    return Response(body, media_type=MEDIA_TYPES[format], headers=_attachment(name))


@router.get("/api/v1/templates/{kind}.xlsx", summary="An Excel template to fill in for an import")
def template(
    kind: Annotated[
        str, Path(description="enterprises, risk_units, public_risks, protection_targets or zones")
    ],
) -> Response:
    """Chinese headers (required ones marked *), drop-downs for sector, level, accident types, control level
    (and target type, class), one example row."""
    checked = parse_kind(kind)
    return Response(
        template_xlsx(checked), media_type=XLSX, headers=_attachment(f"{KIND_NAMES_ZH[checked]}导入模板.xlsx")
    )


@router.get(
    "/api/v1/exports/enterprise-register/{enterprise_id}.xlsx", summary="一企一册 of one enterprise (Excel)"
)
def enterprise_register_excel(enterprise_id: int, engine: EngineDep, principal: PrincipalDep) -> Response:
    with engine.connect() as conn:
        register = enterprise_register(conn, enterprise_id, principal)
    name = f"{register['enterprise']['name']}_一企一册.xlsx"
    return Response(enterprise_register_xlsx(register), media_type=XLSX, headers=_attachment(name))


@router.get(
    "/api/v1/exports/enterprise-register/{enterprise_id}.pdf", summary="一企一册 of one enterprise (PDF)"
)
def enterprise_register_print(
    enterprise_id: int, engine: EngineDep, principal: PrincipalDep, settings: SettingsDep
) -> Response:
    from maps.print import cjk_font_family

    with engine.connect() as conn:
        register = enterprise_register(conn, enterprise_id, principal)
    pdf = enterprise_register_pdf(
        register, font_family=cjk_font_family(), palette=settings.maps.palette_map()
    )
    name = f"{register['enterprise']['name']}_一企一册.pdf"
    return Response(pdf, media_type="application/pdf", headers=_attachment(name))


@router.get(
    "/api/v1/exports/county-register/{adcode}.xlsx",
    summary="一县一册: major and large risks of a jurisdiction (Excel)",
)
def county_register_excel(
    adcode: Annotated[str, Path(max_length=12)], engine: EngineDep, principal: PrincipalDep
) -> Response:
    with engine.connect() as conn:
        register = county_register(conn, adcode, principal)
    name = f"{register['jurisdiction']['name']}_一县一册.xlsx"
    return Response(county_register_xlsx(register), media_type=XLSX, headers=_attachment(name))


__all__ = ["Kind", "router"]
