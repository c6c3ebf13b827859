"""Read a register file into one table of raw cells (and geometries), whatever its format.

GeoJSON, GeoPackage and zipped Shapefiles give features (named `feature N`, counted from 0); CSV and
Excel give rows as a spreadsheet shows them (`row N`, the header being row 1). Nothing is interpreted
here beyond what the format itself defines: headers and values are mapped and checked in validate.py.
A file that cannot be read at all raises InvalidInput naming `file`, with the reason.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj

from geo.errors import InvalidInput
from geo.io.fields import MAX_COLUMNS
from geo.io.safezip import ZipLimits, check_members, extract, open_zip

FORMATS = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "shapefile",
    ".csv": "csv",
    ".xlsx": "xlsx",
}
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


@dataclass
class RawTable:
    """Cells as the file holds them; `geometry` in `source_crs` (None: lon/lat in the request's crs)."""

    format: str
    headers: list[str]
    frame: pd.DataFrame  # one column per header, positional names "c0", "c1", …
    labels: np.ndarray  # row numbers (as a user sees them) or feature indexes
    label_kind: str  # "row" or "feature"
    geometry: np.ndarray | None = None  # shapely objects, None where missing
    geometry_problems: dict[int, str] = field(default_factory=dict)  # position → why it was unreadable
    source_crs: pyproj.CRS | None = None
    encoding: str | None = None
    formula_cells: list[tuple[int, int]] = field(default_factory=list)  # (position, column index)

    def __len__(self) -> int:
        return len(self.frame)


def _bad(reason: str, reason_zh: str) -> InvalidInput:
    return InvalidInput.one("file", reason, reason_zh)


def file_format(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        raise _bad(
            f"unsupported file type {suffix or '(none)'!r}; expected one of {known} "
            "(a Shapefile goes in a .zip with its .shp, .shx, .dbf and .prj)",
            f"不支持的文件类型 {suffix or '（无扩展名）'}；支持 {known}（Shapefile 请连同 .shp/.shx/.dbf/.prj 打包为 .zip）",
        )
    return FORMATS[suffix]


def read_file(path: Path, filename: str | None = None, *, zip_limits: ZipLimits | None = None) -> RawTable:
    """The table of `path`; `filename` (as uploaded) decides the format by its extension."""
    fmt = file_format(filename or path.name)
    if path.stat().st_size == 0:
        raise _bad("the file is empty", "文件为空")
    readers: dict[str, Callable[[Path, ZipLimits], RawTable]] = {
        "geojson": lambda p, _: read_geojson(p.read_bytes()),
        "gpkg": lambda p, _: read_gis(p, "gpkg"),
        "shapefile": read_zipped_shapefile,
        "csv": lambda p, _: read_csv(p.read_bytes()),
        "xlsx": read_xlsx,
    }
    table = readers[fmt](path, zip_limits or ZipLimits())
    if len(table) == 0:
        raise _bad("the file has no data rows", "文件中没有数据行")
    return table


def _check_columns(headers: list[str]) -> None:
    if len(headers) > MAX_COLUMNS:
        raise _bad(
            f"the file has {len(headers)} columns; at most {MAX_COLUMNS} are accepted",
            f"文件有 {len(headers)} 列，最多允许 {MAX_COLUMNS} 列",
        )


def _frame(headers: list[str], rows: list[list[Any]] | dict[str, Any]) -> pd.DataFrame:
    names = [f"c{i}" for i in range(len(headers))]
    if isinstance(rows, dict):
        return pd.DataFrame(rows, columns=names, dtype=object)
    return pd.DataFrame(rows, columns=names, dtype=object) if rows else pd.DataFrame(columns=names)


# --- GeoJSON ---------------------------------------------------------------------------------------


def _geojson_crs(doc: dict[str, Any]) -> pyproj.CRS | None:
    """The legacy `crs` member (GeoJSON 2008, still written by QGIS and ArcGIS for projected data)."""
    crs = doc.get("crs")
    if not isinstance(crs, dict):
        return None
    name = (crs.get("properties") or {}).get("name")
    try:
        return pyproj.CRS.from_user_input(name) if name else None
    except pyproj.exceptions.CRSError:
        raise _bad(f"unknown crs {name!r} in the GeoJSON", f"GeoJSON 中的坐标系 {name} 无法识别") from None


def read_geojson(data: bytes) -> RawTable:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad(
            f"a GeoJSON file must be UTF-8 text (RFC 7946); invalid byte at position {exc.start}",
            f"GeoJSON 文件须为 UTF-8 编码；第 {exc.start} 字节处编码无效",
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            f"不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列",
        ) from None
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = {"type": "FeatureCollection", "features": [doc]}
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise _bad("expected a GeoJSON FeatureCollection", "应为 GeoJSON FeatureCollection")
    features = doc["features"]
    headers: list[str] = []
    seen: set[str] = set()
    for f in features:
        props = f.get("properties") if isinstance(f, dict) else None
        for k in props or {}:
            if k not in seen:
                seen.add(k)
                headers.append(k)
                if len(headers) > MAX_COLUMNS:
                    _check_columns(headers)
    columns: dict[str, list[Any]] = {f"c{i}": [] for i in range(len(headers))}
    geoms: list[Any] = []
    problems: dict[int, str] = {}
    from geo.geometry import parse_geometry

    for i, f in enumerate(features):
        props = f.get("properties") if isinstance(f, dict) else None
        props = props if isinstance(props, dict) else {}
        for j, h in enumerate(headers):
            columns[f"c{j}"].append(props.get(h))
        geom = f.get("geometry") if isinstance(f, dict) else None
        if geom is None:
            geoms.append(None)
            continue
        try:  # the API's own GeoJSON checks (shape, nesting, numbers); place and crs come later
            geoms.append(parse_geometry(geom, require_in_china=False))
        except InvalidInput as exc:
            geoms.append(None)
            problems[i] = exc.problems[0].reason
    return RawTable(
        "geojson",
        headers,
        _frame(headers, columns),
        np.arange(len(features)),
        "feature",
        geometry=np.array(geoms, dtype=object),
        geometry_problems=problems,
        source_crs=_geojson_crs(doc),
        encoding="utf-8",
    )


# --- GeoPackage and Shapefile (GDAL through pyogrio) ----------------------------------------------


# Field types whose values the Arrow stream gives exactly as the row-by-row reader does (ints, reals,
# text; ints with empty cells turn into floats in both). Others (dates, times, booleans, binary, lists)
# keep the row-by-row reader, one read of just those columns.
_ARROW_TYPES = frozenset({"OFTString", "OFTInteger", "OFTInteger64", "OFTReal"})


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _cells(column: pd.Series) -> np.ndarray:
    """A column as Python objects (str, int, float, Timestamp, …), None where empty (NaN, NaT)."""
    return column.astype(object).where(column.notna(), None).to_numpy()


def _arrow_cells(column: Any) -> np.ndarray:
    """_cells of a column of text or numbers from the Arrow stream (a pyarrow ChunkedArray), in numpy.

    Not through a Series: pandas would turn text into its string dtype (Arrow-backed when pyarrow is
    installed) and back, which costs more than reading the file. Text is dictionary-encoded first, so a
    value repeated in many rows becomes one Python string (registers repeat values a lot)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        encoded = column.combine_chunks().dictionary_encode()
        lookup = np.empty(len(encoded.dictionary) + 1, dtype=object)
        lookup[:-1] = encoded.dictionary.to_numpy(zero_copy_only=False)
        lookup[-1] = None  # an empty cell
        codes = pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(zero_copy_only=False)
        return lookup[codes]
    values = column.to_numpy(zero_copy_only=False)  # ints with empty cells come as floats (NaN)
    cells = values.astype(object)
    cells[pd.isna(values)] = None
    return cells


def _layer_by_rows(
    path: Path, layer: str, encoding: str | None
) -> tuple[list[str], dict[str, np.ndarray], np.ndarray | None, Any]:
    import pyogrio

    frame = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    headers = [str(c) for c in frame.columns if c != "geometry"]
    data = {h: _cells(frame[h]) for h in headers}
    geometry = np.asarray(frame.geometry.values, dtype=object) if "geometry" in frame else None
    return headers, data, geometry, getattr(frame, "crs", None)


def _layer_by_arrow(
    path: Path, layer: str, encoding: str | None, info: dict[str, Any]
) -> tuple[list[str], dict[str, np.ndarray], np.ndarray | None, Any]:
    """The same table as _layer_by_rows, read through GDAL's Arrow stream (several times faster)."""
    import pyogrio
    import shapely

    names = [str(f) for f in info["fields"]]
    subtypes = info.get("ogr_subtypes") or ["OFSTNone"] * len(names)
    fast = [
        n
        for n, t, sub in zip(names, info["ogr_types"], subtypes, strict=True)
        if t in _ARROW_TYPES and sub == "OFSTNone"
    ]
    slow = [n for n in names if n not in fast]
    meta, table = pyogrio.read_arrow(path, layer=layer, encoding=encoding, columns=fast)
    data = {n: _arrow_cells(table.column(n)) for n in fast}
    if slow:
        rest = pyogrio.read_dataframe(path, layer=layer, encoding=encoding, columns=slow, read_geometry=False)
        data.update({n: _cells(rest[n]) for n in slow})
    geometry = None
    wkb_name = meta.get("geometry_name") or "wkb_geometry"
    if meta.get("geometry_type") and wkb_name in table.column_names:
        wkb = table.column(wkb_name).to_numpy(zero_copy_only=False)
        geometry = np.asarray(shapely.from_wkb(wkb), dtype=object)
    headers = [n for n in names if n != "geometry"]
    return headers, data, geometry, meta.get("crs")


def read_gis(path: Path, fmt: str, encoding: str | None = None) -> RawTable:
    import pyogrio
    from pyogrio.errors import DataSourceError

    try:
        layers = pyogrio.list_layers(path)
        if len(layers) == 0:
            raise _bad("the file holds no layer", "文件中没有图层")
        layer = str(layers[0][0])
        info = pyogrio.read_info(path, layer=layer, encoding=encoding)
        _check_columns(list(info["fields"]))
        read = None
        if _has_pyarrow():
            import pyarrow

            try:
                read = _layer_by_arrow(path, layer, encoding, info)
            except (pyarrow.ArrowException, UnicodeDecodeError):
                read = None  # the row-by-row reader tells what is wrong, as it always has
        headers, data, geometry, crs_text = read or _layer_by_rows(path, layer, encoding)
    except InvalidInput:
        raise
    except (DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError) as exc:
        raise _bad(f"cannot read the {fmt} file: {exc}", f"无法读取 {fmt} 文件（格式错误或已损坏）") from None
    except UnicodeDecodeError:
        raise _bad("the attribute table is not in a known encoding", "属性表编码无法识别") from None
    if geometry is not None:
        geometry[pd.isna(geometry)] = None
    n = len(geometry) if geometry is not None else len(next(iter(data.values()), ()))
    crs = pyproj.CRS.from_user_input(crs_text) if crs_text is not None else None
    return RawTable(
        fmt,
        headers,
        _frame(headers, {f"c{i}": data[h] for i, h in enumerate(headers)}),
        np.arange(n),
        "feature",
        geometry=geometry,
        source_crs=crs,
        encoding=encoding,
    )


def _dbf_encoding(dbf: Path) -> str:
    """GBK or UTF-8 for a .dbf without a .cpg, from its text bytes (charset-normalizer)."""
    from charset_normalizer import from_bytes

    raw = dbf.read_bytes()
    header_len = int.from_bytes(raw[8:10], "little") if len(raw) > 10 else 0
    body = raw[header_len : header_len + (1 << 20)]
    try:
        body.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(body, cp_isolation=["gb18030", "gbk", "big5", "utf_8"]).best()
    return "GB18030" if best is None or best.encoding in {"gb18030", "gbk", "gb2312"} else best.encoding


def read_zipped_shapefile(path: Path, limits: ZipLimits) -> RawTable:
    zf = open_zip(path)
    with zf, tempfile.TemporaryDirectory(prefix="riskmap-shp-") as tmp:
        infos = check_members(zf, limits)
        shps = [i for i in infos if i.filename.lower().endswith(".shp")]
        if len(shps) != 1:
            raise _bad(
                f"the zip must hold exactly one .shp file, found {len(shps)}",
                f"压缩文件中应恰好包含一个 .shp 文件，实际 {len(shps)} 个",
            )
        stem = shps[0].filename[: -len(".shp")]
        parts = [i for i in infos if i.filename[:-4] == stem and i.filename[-4:].lower() in SHAPEFILE_PARTS]
        found = {i.filename[-4:].lower() for i in parts}
        missing = [s for s in (".shx", ".dbf") if s not in found]
        if missing:
            raise _bad(
                f"the Shapefile lacks its {', '.join(missing)} file",
                f"Shapefile 缺少 {', '.join(missing)} 文件",
            )
        extracted = extract(zf, parts, Path(tmp), limits)
        shp = next(p for p in extracted if p.suffix.lower() == ".shp")
        encoding = None
        if ".cpg" not in found:
            dbf = next(p for p in extracted if p.suffix.lower() == ".dbf")
            encoding = _dbf_encoding(dbf)
        table = read_gis(shp, "shapefile", encoding=encoding)
        table.encoding = encoding or (
            shp.with_suffix(".cpg").read_text().strip() if ".cpg" in found else None
        )
        return table


# --- CSV ------------------------------------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (with or without BOM), else GBK/GB18030 when the bytes read as Chinese."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        position = exc.start
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1 << 20], cp_isolation=["gb18030", "gbk", "big5", "utf_8"]).best()
    if best is not None and best.encoding in {"gb18030", "gbk", "gb2312"} and best.chaos < 0.2:
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            pass
    raise _bad(
        f"the file is not UTF-8 text (invalid byte at position {position}) nor GBK; save it as UTF-8 CSV",
        f"文件不是 UTF-8（第 {position} 字节处编码无效）或 GBK 文本；请另存为 UTF-8 编码的 CSV",
    )


def read_csv(data: bytes) -> RawTable:
    text, encoding = decode_text(data)
    if "\x00" in text:
        raise _bad("the file holds NUL bytes: not a CSV text file", "文件包含空字节，不是 CSV 文本文件")
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        headers = next(reader)
    except StopIteration:
        raise _bad("the file is empty", "文件为空") from None
    except csv.Error as exc:
        raise _bad(f"not a readable CSV file: {exc}", "CSV 文件格式错误") from None
    _check_columns(headers)
    rows, labels = [], []
    width = len(headers)
    try:
        for n, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > width:
                raise _bad(
                    f"row {n} has {len(row)} cells but the header only {width}",
                    f"第 {n} 行有 {len(row)} 个单元格，多于表头的 {width} 列",
                )
            rows.append([c if c != "" else None for c in row] + [None] * (width - len(row)))
            labels.append(n)
    except csv.Error as exc:
        raise _bad(f"not a readable CSV file: {exc}", "CSV 文件格式错误") from None
    return RawTable(
        "csv", headers, _frame(headers, rows), np.array(labels, dtype=np.int64), "row", encoding=encoding
    )


# --- Excel ----------------------------------------------------------------------------------------


def read_xlsx(path: Path, limits: ZipLimits) -> RawTable:
    """The first sheet of a workbook, read-only. Formula cells are recorded: their values are refused."""
    import openpyxl

    zf = open_zip(path)  # an .xlsx is a zip: the same bomb checks before openpyxl inflates anything
    with zf:
        check_members(zf, limits)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise _bad(f"not a readable Excel (.xlsx) workbook: {exc}", "不是有效的 Excel（.xlsx）文件") from None
    try:
        ws = wb.worksheets[0]
        rows_iter = ws.iter_rows()
        header_cells = next(rows_iter, None)
        if header_cells is None:
            raise _bad("the first sheet is empty", "第一个工作表为空")
        headers = [("" if c.value is None else str(c.value)) for c in header_cells]
        while headers and headers[-1] == "":
            headers.pop()
        _check_columns(headers)
        width = len(headers)
        rows: list[list[Any]] = []
        labels: list[int] = []
        formulas: list[tuple[int, int]] = []
        for n, cells in enumerate(rows_iter, start=2):
            values = []
            for j, c in enumerate(cells[:width]):
                if c.data_type == "f":
                    formulas.append((len(rows), j))
                values.append(None if c.value is None or c.value == "" else c.value)
            if not any(v is not None for v in values) and not any(
                c.value not in (None, "") for c in cells[width:]
            ):
                continue
            rows.append(values + [None] * (width - len(values)))
            labels.append(n)
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as exc:
        raise _bad(f"not a readable Excel (.xlsx) workbook: {exc}", "不是有效的 Excel（.xlsx）文件") from None
    finally:
        wb.close()
    table = RawTable("xlsx", headers, _frame(headers, rows), np.array(labels, dtype=np.int64), "row")
    table.formula_cells = formulas
    return table
