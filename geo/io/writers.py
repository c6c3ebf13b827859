"""Write register tables as GeoJSON, GeoPackage, Excel or CSV with the Chinese headers an import reads,
and plain tables (a header and rows, such as the inspection plan's sheets) as CSV or Excel.

Spreadsheet cells that start with = + - @ (or a tab or carriage return) are written with a leading
apostrophe so Excel never runs them as formulas (CSV/formula injection, geo.escape.escape_cell); the
importer removes it again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import shapely

from geo.coords import InputCrs, from_storage
from geo.escape import escape_cell as escape_cell  # re-exported: callers and tests import it from here
from geo.io.fields import FIELDS, FieldType, Kind, fields_of, primary_headers
from geo.io.tempfiles import temp_folder
from geo.resources import read_table

FORMATS = ("geojson", "gpkg", "xlsx", "csv", "shp")
MEDIA_TYPES = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "shp": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    if _missing(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _plain_column(series: pd.Series) -> list[Any]:
    """`_plain` of every value of a column, done per column: missing values by one mask, numbers by
    `tolist` (Python ints and floats), only a column holding dates (or other objects) value by value."""
    values = series.tolist()
    missing = series.isna().to_numpy()
    if series.dtype == object or missing.any():
        values = [None if m else _plain(v) for v, m in zip(values, missing, strict=True)]
    return values


def table_columns(kind: Kind, frame: pd.DataFrame) -> list[str]:
    """The frame's field columns in the order of the kind's fields."""
    return [f.name for f in FIELDS[kind] if f.name in frame.columns]


def _points_only(geoms: np.ndarray) -> bool:
    return len(geoms) > 0 and bool(np.all(shapely.get_type_id(geoms.astype(object)) == 0))


def tabular(
    kind: Kind,
    frame: pd.DataFrame,
    geoms: np.ndarray,
    *,
    typed_dates: bool = False,
    points: bool | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """(headers, rows) for a spreadsheet: fields by their Chinese headers, then 经度/纬度 for points or WKT;
    `typed_dates`: date fields as date objects (a workbook's date cells), else ISO text; `points`: whether
    the whole table is points, when `geoms` is a batch of it (else: whether `geoms` are all points)."""
    headers = primary_headers(kind)
    cols = table_columns(kind, frame)
    out_headers = [headers[c] for c in cols]
    dated = {i for i, c in enumerate(cols) if typed_dates and fields_of(kind)[c].type == FieldType.date}
    records = (
        [
            [_as_date(v) if i in dated else _plain(v) for i, v in enumerate(row)]
            for row in frame[cols].itertuples(index=False, name=None)
        ]
        if len(frame)
        else []
    )
    if (_points_only(geoms) if points is None else points) and kind is not Kind.zones:
        out_headers += [headers["lon"], headers["lat"]]
        xy = shapely.get_coordinates(geoms.astype(object))
        for rec, (x, y) in zip(records, xy, strict=True):
            rec += [float(x), float(y)]
    else:
        out_headers.append(headers["wkt"])
        for rec, g in zip(records, geoms, strict=True):
            rec.append(shapely.to_wkt(g, rounding_precision=-1))
    return out_headers, records


class Sheet(NamedTuple):
    """A plain table: a sheet of a workbook, or the whole of a CSV file."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]


def csv_cell(v: Any) -> Any:
    """A value as a CSV cell: None empty, a float exactly (repr), text escaped (never a formula)."""
    return "" if v is None else (repr(v) if isinstance(v, float) else escape_cell(str(v)))


def write_rows_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """CSV in UTF-8 with a byte-order mark (Excel then reads the Chinese), CRLF line ends; text cells
    escaped, floats written exactly (repr), None as an empty cell."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for r in rows:
        w.writerow([csv_cell(v) for v in r])
    return buf.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def write_csv(kind: Kind, frame: pd.DataFrame, geoms: np.ndarray) -> bytes:
    headers, rows = tabular(kind, frame, geoms)
    return write_rows_csv(headers, rows)


def xlsx_cell(value: Any) -> Any:
    """A value for openpyxl: text escaped. Numbers stay numbers: Excel keeps 15–16 significant digits
    (openpyxl writes %.16g), so a coordinate survives to about 1e-12 degrees, not always to the last bit."""
    return escape_cell(value)


def write_xlsx(kind: Kind, frame: pd.DataFrame, geoms: np.ndarray, *, sheet: str = "数据") -> bytes:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    headers, rows = tabular(kind, frame, geoms, typed_dates=True)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(headers)

    def cell(value: Any) -> Any:
        if isinstance(value, dt.date):  # a date cell shown as a date, not a number or text
            c = WriteOnlyCell(ws, value=value)
            c.number_format = "yyyy-mm-dd"
            return c
        return xlsx_cell(value)

    for r in rows:
        ws.append([cell(v) for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def print_ready(ws: Any) -> None:
    """Page setup for a register that is printed: landscape A4, fitted to the page width (as many pages
    down as needed), the header row repeated on every page, dates shown as dates."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = True
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(cell.value, dt.date):
                cell.number_format = "yyyy-mm-dd"


def write_sheets_xlsx(sheets: Sequence[Sheet], *, max_width: int = 60) -> bytes:
    """A workbook of plain tables for people to read: one sheet each, header bold and frozen, columns as
    wide as their first 200 cells (10 to `max_width` characters); text cells escaped; dates as date
    cells; printed landscape, fitted to the width, the header on every page."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    for i, sheet in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet()
        assert ws is not None
        ws.title = sheet.title
        ws.append(list(sheet.header))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in sheet.rows:
            ws.append([xlsx_cell(v) for v in row])
        ws.freeze_panes = "A2"
        for col in ws.columns:
            width = max(len(str(c.value or "")) for c in list(col)[:200])
            ws.column_dimensions[col[0].column_letter].width = min(max_width, max(10, width * 1.6))
        print_ready(ws)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _typed_series(kind: Kind, name: str, values: pd.Series) -> pd.Series:
    f = fields_of(kind)[name]
    if f.type == "integer":
        return pd.array([None if _missing(v) else int(v) for v in values], dtype="Int64")  # type: ignore[return-value]
    if f.type == "number":
        return pd.Series([np.nan if _missing(v) else float(v) for v in values], dtype="float64")
    if f.type == FieldType.date:  # date objects: written through Arrow as a Date field, not text
        return pd.Series([_as_date(v) for v in values], dtype=object)
    return pd.Series([_plain(v) for v in values], dtype=object)


def _as_date(value: Any) -> dt.date | None:
    if _missing(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def write_geojson(
    kind: Kind, frame: pd.DataFrame, geoms: np.ndarray, crs: InputCrs | str = "cgcs2000"
) -> bytes:
    return b"".join(geojson_chunks(kind, frame, geoms, crs))


def geojson_chunks(
    kind: Kind, frame: pd.DataFrame, geoms: np.ndarray, crs: InputCrs | str = "cgcs2000", *, batch: int = 2000
) -> Iterator[bytes]:
    """The GeoJSON FeatureCollection of a register table in pieces of `batch` features (for a streamed
    answer): geojson_stream of the table cut into batches."""
    n = len(geoms)
    parts = ((frame.iloc[s : s + batch], geoms[s : s + batch]) for s in range(0, n, batch))
    return geojson_stream(kind, parts, crs)


def geojson_stream(
    kind: Kind, batches: Iterable[tuple[pd.DataFrame, np.ndarray]], crs: InputCrs | str = "cgcs2000"
) -> Iterator[bytes]:
    """The GeoJSON FeatureCollection of a register table given in batches (frame, geometries), one piece
    per batch, each written as it comes (nothing kept from one to the next): the same bytes however the
    table is cut. Each column is read once as a list, the geometries converted (GCJ-02, BD-09) and written
    as GeoJSON text by shapely in one vectorised call per batch, not cell by cell."""
    doc: dict[str, Any] = {"type": "FeatureCollection"}
    doc.update(_geojson_crs_member(str(crs)))
    doc["features"] = []
    head = json.dumps(doc, ensure_ascii=False)
    yield head[:-2].encode("utf-8")  # up to and with the features' "["
    first = True
    for frame, geoms in batches:
        n = len(geoms)
        if not n:
            continue
        headers = primary_headers(kind)
        columns = {headers[c]: _plain_column(frame[c]) for c in table_columns(kind, frame)}
        out: Any = np.asarray(geoms, dtype=object)
        if crs != InputCrs.cgcs2000:
            out = from_storage(out, crs)  # shapely.transform: every coordinate of the batch at once
        texts = shapely.to_geojson(out).tolist()
        parts = []
        for i in range(n):
            props = {h: values[i] for h, values in columns.items()}
            geometry = texts[i] if texts[i] is not None else "null"
            parts.append(
                f'{{"type": "Feature", "geometry": {geometry}, '
                f'"properties": {json.dumps(props, ensure_ascii=False)}}}'
            )
        yield (("" if first else ", ") + ", ".join(parts)).encode("utf-8")
        first = False
    yield b"]}"


def csv_stream(
    kind: Kind, batches: Iterable[tuple[pd.DataFrame, np.ndarray]], *, points: bool
) -> Iterator[bytes]:
    """The bytes of write_csv of a register table given in batches, one piece per batch. `points`: whether
    every geometry of the whole table is a point (then 经度/纬度 columns, else WKT), known before the first
    row is written."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    encoding = "utf-8-sig"  # the BOM, once, at the start
    for frame, geoms in batches:
        if not len(geoms):
            continue
        headers, rows = tabular(kind, frame, geoms, points=points)
        if encoding == "utf-8-sig":
            w.writerow(headers)
        w.writerows([csv_cell(v) for v in r] for r in rows)
        yield buf.getvalue().encode(encoding)
        encoding = "utf-8"
        buf.seek(0)
        buf.truncate()
    if encoding == "utf-8-sig":  # no rows: the header alone, as write_csv writes it
        headers, _ = tabular(kind, pd.DataFrame(), np.empty(0, dtype=object), points=points)
        w.writerow(headers)
        yield buf.getvalue().encode(encoding)


def xlsx_stream(
    kind: Kind, batches: Iterable[tuple[pd.DataFrame, np.ndarray]], *, points: bool, sheet: str = "数据"
) -> Iterator[bytes]:
    """The workbook of a register table given in batches (the cells write_xlsx writes: Chinese headers, text
    escaped, dates as date cells), written as the rows come (geo.io.streaming.xlsx_chunks, text inline:
    nothing kept but the first 199 rows, which size the columns). `points` as for csv_stream."""
    from geo.io.streaming import xlsx_chunks

    batches = iter(batches)
    header, _ = tabular(kind, pd.DataFrame(), np.empty(0, dtype=object), points=points)
    first: list[list[Any]] = []
    for frame, geoms in batches:
        if len(geoms):
            header, first = tabular(kind, frame, geoms, typed_dates=True, points=points)
            break

    def every() -> Iterator[list[Any]]:
        yield from first
        for frame, geoms in batches:
            if len(geoms):
                yield from tabular(kind, frame, geoms, typed_dates=True, points=points)[1]

    yield from xlsx_chunks([Sheet(sheet, header, every())], inline=True)  # type: ignore[arg-type]


def _geojson_crs_member(crs: str) -> dict[str, Any]:
    """RFC 7946 GeoJSON is WGS 84 lon/lat; a file in another CRS says which (GDAL, QGIS and our importer read
    the 2008 `crs` member; GCJ-02 and BD-09 have no EPSG code, so they are named in a foreign member)."""
    if crs == InputCrs.wgs84:
        return {}
    if crs == InputCrs.cgcs2000:
        return {"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}}
    return {"coordinate_system": f"{crs} (lon/lat, not WGS 84: Chinese map-provider offsets)"}


def write_gpkg(kind: Kind, frame: pd.DataFrame, geoms: np.ndarray, *, layer: str | None = None) -> bytes:
    import geopandas as gpd
    import pyogrio

    headers = primary_headers(kind)
    cols = table_columns(kind, frame)
    data: dict[str, Any] = {
        headers[c]: _typed_series(kind, c, frame[c]).to_numpy() if len(frame) else [] for c in cols
    }
    gdf = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(list(geoms), crs=4490), crs=4490)
    with temp_folder("gpkg") as tmp:
        path = Path(tmp) / "export.gpkg"
        # Arrow keeps date columns as Date fields; GeoPackage 1.3 because GDAL 3.6 (Debian 12) warns on 1.4,
        # whose additions (the gpkg_spatial_ref_sys epoch column) we do not use.
        pyogrio.write_dataframe(
            gdf,
            path,
            layer=layer or str(kind),
            driver="GPKG",
            use_arrow=True,
            dataset_options={"VERSION": "1.3"},
        )
        return path.read_bytes()


SHAPEFILE_ENCODINGS = ("UTF-8", "GBK")
_SHAPE_FAMILIES = {"Point": "points", "LineString": "lines", "Polygon": "polygons"}


def shapefile_names(kind: Kind) -> dict[str, str]:
    """Field → its Shapefile field name (dBase allows 10 bytes): the header itself when it fits in UTF-8,
    else the published short name of data/import_headers.csv (whose import aliases also hold the names
    GDAL and ArcGIS truncate the long headers to)."""
    headers = primary_headers(kind)
    short: dict[str, str] = {}
    for row in read_table("import_headers.csv"):
        if row["kind"] == str(kind) and row["source"].startswith("Shapefile field name (dBase"):
            short.setdefault(row["field"], row["header"])
    return {
        f: (h if len(h.encode("utf-8")) <= 10 else short.get(f, f[:10]))
        for f, h in headers.items()
        if f not in ("lon", "lat", "wkt")
    }


def write_shapefile_zip(
    kind: Kind, frame: pd.DataFrame, geoms: np.ndarray, *, encoding: str = "UTF-8"
) -> bytes:
    """A zip of Shapefiles in CGCS2000, one per geometry family (points, lines, polygons: a Shapefile holds
    one), multi-parts with their family; short field names (shapefile_names); a .cpg naming `encoding`."""
    import zipfile

    import geopandas as gpd
    import pyogrio

    if encoding not in SHAPEFILE_ENCODINGS:
        raise ValueError(encoding)
    names = shapefile_names(kind)
    cols = table_columns(kind, frame)
    data: dict[str, Any] = {
        names[c]: _typed_series(kind, c, frame[c]).to_numpy() if len(frame) else [] for c in cols
    }
    gdf = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(list(geoms), crs=4490), crs=4490)
    family = gdf.geometry.geom_type.str.removeprefix("Multi").map(_SHAPE_FAMILIES)
    buf = io.BytesIO()
    with temp_folder("shp") as tmp, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        groups = [(name, gdf[family == name]) for name in dict.fromkeys(_SHAPE_FAMILIES.values())]
        written = [(name, part) for name, part in groups if len(part)] or [("points", gdf.iloc[:0])]
        for name, part in written:
            stem = f"{kind}_{name}" if len(written) > 1 else str(kind)
            kinds = set(part.geometry.geom_type)
            if name == "points" and kinds == {"Point", "MultiPoint"}:  # one type per Shapefile
                part = part.set_geometry(
                    [shapely.MultiPoint([g]) if g.geom_type == "Point" else g for g in part.geometry],
                    crs=4490,
                )
                kinds = {"MultiPoint"}
            shape_type = (
                kinds.pop() if len(kinds) == 1 else f"Multi{name[:-1].title().replace('Line', 'LineString')}"
            )
            path = Path(tmp) / f"{stem}.shp"
            pyogrio.write_dataframe(
                part,
                path,
                driver="ESRI Shapefile",
                encoding=encoding,
                use_arrow=True,
                geometry_type=shape_type if len(part) else "Point",
            )
            for member in sorted(Path(tmp).glob(f"{stem}.*")):
                zf.write(member, member.name)
    return buf.getvalue()


def write_table(
    kind: Kind,
    frame: pd.DataFrame,
    geoms: np.ndarray,
    fmt: str,
    crs: InputCrs | str = "cgcs2000",
    *,
    encoding: str = "UTF-8",
) -> bytes:
    if fmt == "geojson":
        return write_geojson(kind, frame, geoms, crs)
    if fmt == "gpkg":
        return write_gpkg(kind, frame, geoms)
    if fmt == "xlsx":
        return write_xlsx(kind, frame, geoms)
    if fmt == "csv":
        return write_csv(kind, frame, geoms)
    if fmt == "shp":
        return write_shapefile_zip(kind, frame, geoms, encoding=encoding)
    raise ValueError(fmt)
