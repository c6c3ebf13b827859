"""Files of the register people take away: a register table (GeoJSON, GeoPackage, Excel, CSV), the import
templates, 一企一册 (Excel, PDF) and 一县一册 (Excel). Each use case fetches in the principal's scope and hands
the rows to the writer of the format (geo/io/writers.py, geo/io/registers.py). They take the engine, not a
connection: the connection goes back to the pool before the file is written, which can take seconds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine

from geo.access import Principal
from geo.coords import InputCrs
from geo.errors import InvalidInput
from geo.io.fields import KIND_NAMES_ZH, Kind
from geo.io.registers import (
    county_register_xlsx,
    enterprise_register_pdf,
    enterprise_register_xlsx,
    template_xlsx,
)
from geo.io.writers import FORMATS, MEDIA_TYPES, SHAPEFILE_ENCODINGS, geojson_chunks, write_table
from geo.store import exports as store
from geo.store.imports import parse_kind

XLSX = MEDIA_TYPES["xlsx"]


@dataclass(frozen=True)
class Download:
    """A file: its bytes, media type and the name to offer (may hold Chinese)."""

    content: bytes
    media_type: str
    filename: str
    rows: int | None = None  # rows of a register table
    chunks: Iterator[bytes] | None = None  # instead of `content`: the file in pieces, to stream


def check_format(fmt: str, field: str = "format") -> str:
    """`fmt` if a register table can be written in it, else InvalidInput naming `field`."""
    if fmt not in FORMATS:
        raise InvalidInput.one(
            field, f"expected one of {', '.join(FORMATS)}", f"格式应为 {', '.join(FORMATS)} 之一"
        )
    return fmt


def export_table(
    engine: Engine,
    principal: Principal,
    kind: str,
    *,
    adcode: str | None = None,
    fmt: str = "geojson",
    crs: InputCrs | str = "cgcs2000",
    today: dt.date | None = None,
    encoding: str = "UTF-8",
    stream: bool = False,
) -> Download:
    """The rows of `kind` the principal may see (in `adcode`'s subtree), with the Chinese headers an import
    reads, so the file imports back to the same rows. GeoJSON follows `crs`; the others are CGCS2000."""
    checked = parse_kind(kind)
    check_format(fmt)
    with engine.connect() as conn:
        frame, geoms = store.export_rows(conn, checked, principal, adcode)
    if encoding.upper() not in SHAPEFILE_ENCODINGS:
        raise InvalidInput.one(
            "encoding", "expected UTF-8 or GBK (the .cpg of a Shapefile export)", "编码应为 UTF-8 或 GBK"
        )
    suffix = "shp.zip" if fmt == "shp" else fmt
    name = f"{KIND_NAMES_ZH[checked]}_{adcode or '全部'}_{(today or dt.date.today()).isoformat()}.{suffix}"
    if stream and fmt == "geojson":
        # GeoJSON is written feature by feature as it is sent, never held whole (the rows are read first,
        # so the connection is back in the pool before the answer starts)
        chunks = geojson_chunks(checked, frame, geoms, crs)
        return Download(b"", MEDIA_TYPES[fmt], name, len(frame), chunks=chunks)
    content = write_table(checked, frame, geoms, fmt, crs, encoding=encoding.upper())
    return Download(content, MEDIA_TYPES[fmt], name, len(frame))


def import_template(kind: str) -> Download:
    """The Excel template of an import: Chinese headers, drop-downs, one example row."""
    checked: Kind = parse_kind(kind)
    return Download(template_xlsx(checked), XLSX, f"{KIND_NAMES_ZH[checked]}导入模板.xlsx")


def enterprise_register(
    engine: Engine,
    principal: Principal,
    enterprise_id: int,
    fmt: Literal["xlsx", "pdf"],
    *,
    palette: Mapping[int, str] | None = None,
) -> Download:
    """一企一册: the enterprise, its risk units and their controls, as Excel or as a PDF to print."""
    with engine.connect() as conn:
        register = store.enterprise_register(conn, enterprise_id, principal)
    name = f"{register['enterprise']['name']}_一企一册.{fmt}"
    if fmt == "pdf":
        from maps.print import cjk_font_family

        pdf = enterprise_register_pdf(register, font_family=cjk_font_family(), palette=palette)
        return Download(pdf, "application/pdf", name)
    return Download(enterprise_register_xlsx(register), XLSX, name)


def county_register(engine: Engine, principal: Principal, adcode: str) -> Download:
    """一县一册: the major and large risks of a jurisdiction (Excel)."""
    with engine.connect() as conn:
        register = store.county_register(conn, adcode, principal)
    return Download(county_register_xlsx(register), XLSX, f"{register['jurisdiction']['name']}_一县一册.xlsx")
