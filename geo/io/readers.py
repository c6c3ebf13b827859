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
import re
import tempfile
import xml.etree.ElementTree as ET  # only its ParseError: openpyxl parses, with defusedxml
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj

from geo.errors import InvalidInput, Problem
from geo.io.fields import MAX_COLUMNS
from geo.io.safezip import ZipLimits, check_members, extract, open_zip
from geo.io.tempfiles import temp_folder

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
    sheets: list[str] = field(default_factory=list)  # a workbook's sheet names; the first is the one read

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
    """The table of `path`; `filename` (as uploaded) decides the format by its extension. Reasons never
    show where the server keeps the file: its path (and any temporary folder) become the uploaded name."""
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
    try:
        table = readers[fmt](path, zip_limits or ZipLimits())
        if len(table) == 0:
            raise _bad("the file has no data rows", "文件中没有数据行")
        refuse_unknown_datum(table.source_crs)
    except InvalidInput as exc:
        raise _without_paths(exc, path, filename or path.name) from None
    return table


def _without_paths(exc: InvalidInput, path: Path, filename: str) -> InvalidInput:
    """The error with the server's paths (GDAL and openpyxl name the file they read) replaced."""
    temp = re.escape(str(Path(tempfile.gettempdir())))

    def clean(text: str | None) -> str | None:
        if text is None:
            return None
        text = text.replace(str(path), filename)
        text = re.sub(rf"{temp}/riskmap-[^/\s'\"]+/", "", text)  # a member of an unpacked zip: its name
        return re.sub(rf"{temp}/[^\s'\"]*", filename, text)

    return InvalidInput([Problem(p.field, clean(p.reason) or "", clean(p.reason_zh)) for p in exc.problems])


# --- datums that cannot be converted without parameters we do not have -------------------------------

# Beijing 1954 (Krassowsky 1940 ellipsoid, EPSG:4214 and its Gauss–Krüger systems 2401–2442, 21413–21423,
# 21453–21463…; New Beijing 4555) and Xian 1980 (IAG 1975 ellipsoid, EPSG:4610, 2327–2390…) are local
# datums: going to CGCS2000 needs a 7-parameter (or grid) transformation fitted to the area, which the
# surveying office of each province holds and no file carries. PROJ would apply none (a "ballpark" that is
# off by tens to a hundred-odd metres), so such files are refused rather than placed silently wrong.
_OLD_DATUMS = {6378245.0: ("Beijing 1954", "北京54"), 6378140.0: ("Xian 1980", "西安80")}


def refuse_unknown_datum(crs: pyproj.CRS | None) -> None:
    if crs is None:
        return
    geodetic = crs.geodetic_crs
    ellipsoid = geodetic.ellipsoid if geodetic is not None else None
    if ellipsoid is None:
        return
    datum = _OLD_DATUMS.get(round(ellipsoid.semi_major_metre, 1))
    if datum is None:
        return
    name, name_zh = datum
    raise _bad(
        f"the file is in {crs.name} ({name} datum): converting it to CGCS2000 needs a 7-parameter "
        "transformation fitted to your area, which the file does not carry and riskmap cannot know; "
        "reproject it to CGCS2000 (EPSG:4490, or a CGCS2000 Gauss-Kruger zone) with the parameters of your "
        "surveying office, then import it",
        f"文件坐标系为 {crs.name}（{name_zh}坐标系）：转换到 CGCS2000 需要本地区的七参数，文件中没有、系统也无法得知；"
        "请先用测绘部门提供的参数转换为 CGCS2000（EPSG:4490 或 CGCS2000 高斯-克吕格投影）后再导入",
    )


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
    """A zip of one Shapefile, or of several with the same fields (one per geometry type, as our exports
    and ArcGIS write them): their features in turn, numbered across the files."""
    zf = open_zip(path)
    with zf, temp_folder("shp") as tmp:
        infos = check_members(zf, limits)
        shps = sorted((i for i in infos if i.filename.lower().endswith(".shp")), key=lambda i: i.filename)
        if not shps:
            raise _bad("the zip holds no .shp file", "压缩文件中没有 .shp 文件")
        tables = [_one_shapefile(zf, infos, shp, Path(tmp), limits) for shp in shps]
        return tables[0] if len(tables) == 1 else _concat(tables)


def _one_shapefile(
    zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], shp_info: zipfile.ZipInfo, tmp: Path, limits: ZipLimits
) -> RawTable:
    stem = shp_info.filename[: -len(".shp")]
    parts = [i for i in infos if i.filename[:-4] == stem and i.filename[-4:].lower() in SHAPEFILE_PARTS]
    found = {i.filename[-4:].lower() for i in parts}
    missing = [s for s in (".shx", ".dbf") if s not in found]
    if missing:
        raise _bad(
            f"the Shapefile {Path(stem).name} lacks its {', '.join(missing)} file",
            f"Shapefile {Path(stem).name} 缺少 {', '.join(missing)} 文件",
        )
    extracted = extract(zf, parts, tmp, limits)
    shp = next(p for p in extracted if p.suffix.lower() == ".shp")
    encoding = None
    if ".cpg" not in found:
        dbf = next(p for p in extracted if p.suffix.lower() == ".dbf")
        encoding = _dbf_encoding(dbf)
    table = read_gis(shp, "shapefile", encoding=encoding)
    table.encoding = encoding or (shp.with_suffix(".cpg").read_text().strip() if ".cpg" in found else None)
    return table


def _concat(tables: list[RawTable]) -> RawTable:
    headers = tables[0].headers
    crs = tables[0].source_crs
    for t in tables[1:]:
        if t.headers != headers or t.source_crs != crs:
            raise _bad(
                "the Shapefiles in the zip differ in their fields or coordinate system: import them one by one",
                "压缩文件中的各 Shapefile 字段或坐标系不一致，请逐个导入",
            )
    frame = pd.concat([t.frame for t in tables], ignore_index=True)
    geometry = np.concatenate(
        [t.geometry if t.geometry is not None else np.full(len(t), None) for t in tables]
    )
    problems: dict[int, str] = {}
    offset = 0
    for t in tables:
        problems.update({offset + k: v for k, v in t.geometry_problems.items()})
        offset += len(t)
    return RawTable(
        "shapefile",
        headers,
        frame,
        np.arange(len(frame)),
        "feature",
        geometry=geometry,
        geometry_problems=problems,
        source_crs=crs,
        encoding=tables[0].encoding,
    )


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


_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_PROLOG_BYTES = 64 * 1024  # a DTD can only come before the root element: the start of a part is enough


def _refuse_dtd(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Excel never writes a DTD; one in a workbook is an attack (XXE: external entities reading the
    server's files or URLs; billion laughs: entities expanding to gigabytes). Refused by name here, and
    openpyxl parses with defusedxml anyway (it refuses entities too, should a DTD come later)."""
    for info in infos:
        if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
            continue
        with zf.open(info) as part:
            head = part.read(_PROLOG_BYTES)
        if _DTD.search(head):
            raise _bad(
                f"the workbook's part {info.filename} declares a DTD or XML entities, which Excel never "
                "writes (an XXE or entity-expansion attack, or a broken file): refused",
                f"工作簿的 {info.filename} 含有 DTD 或 XML 实体声明（Excel 不会生成，疑为 XXE 或实体膨胀攻击）：已拒绝",
            )


def _xml_attack(exc: BaseException) -> InvalidInput:
    if isinstance(exc, ET.ParseError):
        return _bad(
            f"not a readable Excel (.xlsx) workbook: malformed XML ({exc})",
            "不是有效的 Excel（.xlsx）文件：XML 格式错误",
        )
    return _bad(
        f"the workbook holds XML that is refused ({type(exc).__name__}: entities or a DTD, which Excel "
        "never writes)",
        "工作簿含有被拒绝的 XML（实体或 DTD 声明，Excel 不会生成）",
    )


def _sheet_has_data(ws: Any) -> bool:
    """Whether a sheet holds a header and at least one more non-empty row."""
    rows = 0
    for row in ws.iter_rows(values_only=True):
        if any(v not in (None, "") for v in row):
            rows += 1
            if rows >= 2:
                return True
    return False


def _other_sheet_hint(wb: Any) -> tuple[str, str]:
    """(English, Chinese) hint naming the sheets after the first that hold data, or ("", "")."""
    others = [ws.title for ws in wb.worksheets[1:] if _sheet_has_data(ws)]
    if not others:
        return "", ""
    names = ", ".join(f"'{t}'" for t in others)
    names_zh = "、".join(f"“{t}”" for t in others)
    return (
        f"; only the first sheet ('{wb.worksheets[0].title}') is read, and the data seem to be on {names}: "
        "move that sheet first (or delete the sheets before it)",
        f"；只读取第一个工作表（“{wb.worksheets[0].title}”），数据似乎在 {names_zh}：请把该工作表移到最前（或删除前面的工作表）",
    )


def read_xlsx(path: Path, limits: ZipLimits) -> RawTable:
    """The first sheet of a workbook, read-only. Formula cells are recorded: their values are refused.
    A workbook with a DTD is refused (XXE, entity bombs); when the first sheet holds no rows and a later
    one does, the error says which."""
    import openpyxl
    import openpyxl.xml
    from defusedxml import DefusedXmlException

    from geo.errors import SetupError

    if not openpyxl.xml.DEFUSEDXML:
        raise SetupError(
            "openpyxl is not using defusedxml (install defusedxml; do not set OPENPYXL_DEFUSEDXML=False): "
            "refusing to parse uploaded workbooks without it"
        )
    zf = open_zip(path)  # an .xlsx is a zip: the same bomb checks before openpyxl inflates anything
    with zf:
        _refuse_dtd(zf, check_members(zf, limits))
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (DefusedXmlException, ET.ParseError) as exc:
        raise _xml_attack(exc) from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        if isinstance(exc.__cause__ or exc.__context__, DefusedXmlException | ET.ParseError):
            raise _xml_attack(exc.__cause__ or exc.__context__) from None  # type: ignore[arg-type]
        raise _bad(f"not a readable Excel (.xlsx) workbook: {exc}", "不是有效的 Excel（.xlsx）文件") from None
    try:
        ws = wb.worksheets[0]
        rows_iter = ws.iter_rows()
        header_cells = next(rows_iter, None)
        if header_cells is None:
            hint, hint_zh = _other_sheet_hint(wb)
            raise _bad(f"the first sheet is empty{hint}", f"第一个工作表为空{hint_zh}")
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
        if not rows:
            hint, hint_zh = _other_sheet_hint(wb)
            if hint:
                raise _bad(f"the first sheet has no data rows{hint}", f"第一个工作表没有数据行{hint_zh}")
    except (DefusedXmlException, ET.ParseError) as exc:
        raise _xml_attack(exc) from None
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as exc:
        raise _bad(f"not a readable Excel (.xlsx) workbook: {exc}", "不是有效的 Excel（.xlsx）文件") from None
    finally:
        wb.close()
    table = RawTable("xlsx", headers, _frame(headers, rows), np.array(labels, dtype=np.int64), "row")
    table.formula_cells = formulas
    table.sheets = [ws.title for ws in wb.worksheets]
    return table
