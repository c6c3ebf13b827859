"""Exports of the register (GeoJSON, GeoPackage, Excel, CSV), import templates, and the registers
people file: 一企一册 (Excel, PDF) and 一县一册 (Excel). The files are made by api/usecases/exports.py."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.auth import PrincipalDep
from api.compression import accepts_gzip
from api.deps import CrsDep, EngineDep, SettingsDep
from api.schemas import CSV, GEOJSON, GPKG, PDF, XLSX, ZIP, file_response
from api.usecases import exports as usecase
from geo.escape import ascii_filename
from geo.io.fields import Kind
from geo.io.streaming import gzip_chunks

router = APIRouter(tags=["import and export"])


def _file(download: usecase.Download) -> Response:
    if download.chunks is not None:
        return StreamingResponse(
            download.chunks, media_type=download.media_type, headers=_attachment(download.filename)
        )
    return Response(download.content, media_type=download.media_type, headers=_attachment(download.filename))


def _attachment(name: str) -> dict[str, str]:
    """Content-Disposition with an ASCII fallback and the UTF-8 (Chinese) name (RFC 6266 / 5987)."""
    ascii_name = ascii_filename(name)
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"}


@router.get(
    "/api/v1/exports",
    summary="Export a register table: GeoJSON, GeoPackage, Excel or CSV",
    response_class=Response,
    responses=file_response(GEOJSON, GPKG, XLSX, CSV, ZIP, description="the table as a file (`format`)"),
)
def export(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    crs: CrsDep,
    kind: Annotated[
        str, Query(description="enterprises, risk_units, public_risks, protection_targets or zones")
    ],
    adcode: Annotated[
        str | None, Query(max_length=12, description="only this jurisdiction's subtree")
    ] = None,
    format: Annotated[
        str, Query(description="geojson, gpkg, xlsx, csv or shp (zipped Shapefiles)")
    ] = "geojson",
    encoding: Annotated[str, Query(description="shp only: the .cpg, UTF-8 or GBK")] = "UTF-8",
) -> Response:
    """Rows the caller may see, with the Chinese headers an import reads: an export re-imports to the same
    data. GeoJSON follows `crs` (and names it when it is not WGS 84); GeoPackage, Excel, CSV and Shapefile are
    CGCS2000 lon/lat (EPSG:4490). A Shapefile zip holds one file per geometry type, with the short field
    names of data/import_headers.csv."""
    download = usecase.export_table(
        engine, principal, kind, adcode=adcode, fmt=format, crs=crs, encoding=encoding, stream=True
    )
    if (
        download.chunks is not None
        and format == "csv"
        and accepts_gzip(request.headers.get("accept-encoding", ""))
    ):
        # the gzip middleware leaves a stream alone: CSV (a fifth of its size gzipped) is compressed as it is
        # written; GeoJSON is sent as it is (gzip would cost the city's export a second or more)
        return StreamingResponse(
            gzip_chunks(download.chunks),
            media_type=download.media_type,
            headers={**_attachment(download.filename), "Content-Encoding": "gzip"},
        )
    return _file(download)


@router.get(
    "/api/v1/templates/{kind}.xlsx",
    summary="An Excel template to fill in for an import",
    response_class=Response,
    responses=file_response(XLSX),
)
def template(
    kind: Annotated[
        str, Path(description="enterprises, risk_units, public_risks, protection_targets or zones")
    ],
) -> Response:
    """Chinese headers (required ones marked *), drop-downs for sector, level, accident types, control level
    (and target type, class), one example row."""
    return _file(usecase.import_template(kind))


@router.get(
    "/api/v1/exports/enterprise-register/{enterprise_id}.xlsx",
    summary="一企一册 of one enterprise (Excel)",
    response_class=Response,
    responses=file_response(XLSX),
)
def enterprise_register_excel(enterprise_id: int, engine: EngineDep, principal: PrincipalDep) -> Response:
    return _file(usecase.enterprise_register(engine, principal, enterprise_id, "xlsx"))


@router.get(
    "/api/v1/exports/enterprise-register/{enterprise_id}.pdf",
    summary="一企一册 of one enterprise (PDF)",
    response_class=Response,
    responses=file_response(PDF),
)
def enterprise_register_print(
    enterprise_id: int, engine: EngineDep, principal: PrincipalDep, settings: SettingsDep
) -> Response:
    download = usecase.enterprise_register(
        engine, principal, enterprise_id, "pdf", palette=settings.maps.palette_map()
    )
    return _file(download)


@router.get(
    "/api/v1/exports/county-register/{adcode}.xlsx",
    summary="一县一册: major and large risks of a jurisdiction (Excel)",
    response_class=Response,
    responses=file_response(XLSX),
)
def county_register_excel(
    adcode: Annotated[str, Path(max_length=12)], engine: EngineDep, principal: PrincipalDep
) -> Response:
    return _file(usecase.county_register(engine, principal, adcode))


__all__ = ["Kind", "router"]
