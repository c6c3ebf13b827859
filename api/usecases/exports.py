"""Files of the register people take away: a register table (GeoJSON, GeoPackage, Excel, CSV), the import
templates, 一企一册 (Excel, PDF) and 一县一册 (Excel). Each use case fetches in the principal's scope and hands
the rows to the writer of the format (geo/io/writers.py, geo/io/registers.py). They take the engine, not a
connection: the connection goes back to the pool before the file is written, which can take seconds —
except a streamed GeoJSON or CSV export, which reads its rows in batches while it is sent."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

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
from geo.io.writers import (
    FORMATS,
    MEDIA_TYPES,
    SHAPEFILE_ENCODINGS,
    csv_stream,
    geojson_stream,
    write_table,
    xlsx_stream,
)
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


STREAMED = (
    "geojson",
    "csv",
    "xlsx",
)  # written batch by batch as the rows are read: memory bounded by a batch
MAX_FILE_ROWS = 100_000  # the other formats (and any export not streamed) are made whole in memory


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
    max_rows: int | None = MAX_FILE_ROWS,
) -> Download:
    """The rows of `kind` the principal may see (in `adcode`'s subtree), with the Chinese headers an import
    reads, so the file imports back to the same rows. GeoJSON follows `crs`; the others are CGCS2000.

    `stream`: GeoJSON, CSV and Excel come as chunks, written from batches of rows read through a server-side
    cursor while the answer is sent (the connection is held until the last byte, in a REPEATABLE READ,
    read-only transaction: the file is one snapshot; Excel with its text inline, not shared). GeoPackage and
    Shapefile need the whole table before the file is written (GDAL writes a SQLite file and a .dbf whose
    header holds the row count, both seeked into), as does any export not streamed: they hold it in memory,
    and above `max_rows` rows they are refused (422 naming `format`, asking for CSV, GeoJSON or Excel, or a
    smaller `adcode`)."""
    checked = parse_kind(kind)
    check_format(fmt)
    if encoding.upper() not in SHAPEFILE_ENCODINGS:
        raise InvalidInput.one(
            "encoding", "expected UTF-8 or GBK (the .cpg of a Shapefile export)", "编码应为 UTF-8 或 GBK"
        )
    suffix = "shp.zip" if fmt == "shp" else fmt
    name = f"{KIND_NAMES_ZH[checked]}_{adcode or '全部'}_{(today or dt.date.today()).isoformat()}.{suffix}"
    if stream and fmt in STREAMED:
        return _streamed(engine, principal, checked, adcode, fmt, crs, name)
    with engine.connect() as conn:
        _snapshot(conn)
        query = store.export_query(conn, checked, principal, adcode)
        if max_rows is not None:
            rows, _ = store.export_size(conn, query)
            if rows > max_rows:
                raise InvalidInput.one(
                    "format",
                    f"a {fmt} export is made whole in memory and holds at most {max_rows:,} rows; this one has "
                    f"{rows:,}: ask for format=csv, geojson or xlsx (streamed, any size), or a smaller adcode",
                    f"{fmt} 格式导出最多 {max_rows:,} 行，本次 {rows:,} 行：请改用 csv、geojson 或 xlsx 格式，或缩小行政区划",
                )
        frame, geoms = store.export_rows(conn, checked, principal, adcode)
    content = write_table(checked, frame, geoms, fmt, crs, encoding=encoding.upper())
    return Download(content, MEDIA_TYPES[fmt], name, len(frame))


def _snapshot(conn: Connection) -> None:
    """One snapshot for every statement of the export (its scope, its size, its rows), read-only."""
    conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)


def _streamed(
    engine: Engine,
    principal: Principal,
    kind: Kind,
    adcode: str | None,
    fmt: str,
    crs: InputCrs | str,
    name: str,
) -> Download:
    """A GeoJSON, CSV or Excel download written as its rows are read. The scope (403, 404) and, for CSV and
    Excel, the size
    are settled here, before the answer starts; the rows are read by the chunks, which close the
    connection when the last is taken or the answer is dropped."""
    conn = engine.connect()
    try:
        _snapshot(conn)
        query = store.export_query(conn, kind, principal, adcode)
        rows: int | None = None
        if fmt in ("csv", "xlsx"):  # the columns (经度/纬度 or WKT) are chosen before the first row
            rows, points = store.export_size(conn, query)
            write = csv_stream if fmt == "csv" else xlsx_stream
            chunks = write(kind, store.export_batches(conn, query), points=points)
        else:
            chunks = geojson_stream(kind, store.export_batches(conn, query), crs)
    except BaseException:
        conn.close()
        raise
    return Download(b"", MEDIA_TYPES[fmt], name, rows, chunks=_closing(conn, chunks))


def _closing(conn: Connection, chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        # PostgreSQL may have ended the session (a client that stalled past STALL_S): the pool drops it
        with contextlib.suppress(DBAPIError):
            conn.close()  # ends the transaction: the server-side cursor goes with it


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
