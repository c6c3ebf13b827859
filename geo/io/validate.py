"""Check every row of a register file before anything is written, the way the API checks a POST.

Three steps, each collecting problems per row instead of stopping at the first:

1. `map_columns`: Chinese (or English) headers → fields (data/import_headers.csv).
2. `coerce` and `locate`: cell values → typed values (numbers, dates, level names such as 重大风险 or 红),
   and the geometry (the file's own, lon/lat columns or WKT) → valid CGCS2000 lon/lat, inside China.
   Vectorised over columns; a value seen in many rows is converted once.
3. `rules`: the register rules the API applies (geo/register.py, geo/codes.py, geo/vocab.py,
   geo/safety_distance.py), called once per distinct combination of the values each rule reads, so
   100,000 rows cost a few thousand rule calls and every row is still checked by the same code.

Rows are named as a user sees them: `row 5` (spreadsheet row, header = row 1) or `feature 3`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely

from geo import vocab
from geo.codes import validate_adcode, validate_credit_code, validate_phone
from geo.coords import InputCrs, to_storage
from geo.errors import InvalidInput, Problem
from geo.io.fields import (
    FIELDS,
    GEOMETRY_TYPES,
    FieldType,
    Kind,
    fields_of,
    header_aliases,
    normalise_header,
    primary_headers,
)
from geo.io.readers import RawTable

MAX_LISTED_PROBLEMS = 1_000
_EXPORT_ESCAPE = re.compile(r"^'(?=[=+\-@\t\r])")


# --- problems, per row ----------------------------------------------------------------------------


@dataclass
class Problems:
    """Problems of a table, each tied to a position (or None for the whole file)."""

    labels: np.ndarray
    label_kind: str
    items: list[tuple[int | None, str, str, str | None]] = field(default_factory=list)

    def add(self, pos: int | None, name: str, reason: str, reason_zh: str | None = None) -> None:
        self.items.append((pos, name, reason, reason_zh))

    def add_rows(self, positions: Sequence[int] | np.ndarray, name: str, reason: str, zh: str | None) -> None:
        for pos in positions:
            self.add(int(pos), name, reason, zh)

    def add_invalid(
        self, pos: int | None, exc: InvalidInput, rename: Mapping[str, str] | None = None
    ) -> None:
        for p in exc.problems:
            self.add(pos, (rename or {}).get(p.field, p.field), p.reason, p.reason_zh)

    @property
    def rejected(self) -> set[int]:
        return {pos for pos, *_ in self.items if pos is not None}

    def where(self, pos: int | None) -> str:
        if pos is None:
            return "file"
        return f"{self.label_kind} {self.labels[pos]}"

    def where_zh(self, pos: int) -> str:
        label = self.labels[pos]
        return f"第 {label} 行" if self.label_kind == "row" else f"第 {label} 个要素"

    def as_problems(self, limit: int = MAX_LISTED_PROBLEMS) -> list[Problem]:
        ordered = sorted(self.items, key=lambda p: (-1 if p[0] is None else p[0], p[1]))
        return [Problem(f"{self.where(pos)}.{name}", reason, zh) for pos, name, reason, zh in ordered[:limit]]

    def __bool__(self) -> bool:
        return bool(self.items)


def _invalid(fn: Callable[[], Any]) -> tuple[Any, InvalidInput | None]:
    try:
        return fn(), None
    except InvalidInput as exc:
        return None, exc


# --- 1. headers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMap:
    columns: dict[str, int]  # field → column position
    headers: dict[str, str]  # field → header as in the file
    ignored: list[str]


def map_columns(table: RawTable, kind: Kind, problems: Problems) -> ColumnMap:
    aliases = header_aliases(kind)
    columns: dict[str, int] = {}
    headers: dict[str, str] = {}
    ignored: list[str] = []
    for i, header in enumerate(table.headers):
        name = aliases.get(normalise_header(header))
        if name is None:
            if str(header).strip():
                ignored.append(str(header))
            continue
        if name in columns:
            problems.add(
                None,
                name,
                f"two columns map to {name}: {headers[name]!r} and {header!r}",
                f"两列都对应 {name}：“{headers[name]}”和“{header}”",
            )
            continue
        columns[name] = i
        headers[name] = str(header)
    shown = primary_headers(kind)
    missing = [f for f in FIELDS[kind] if f.required and f.name not in columns]
    for f in missing:
        problems.add(
            None,
            f.name,
            f"the file has no column for {f.name} (e.g. {shown.get(f.name, f.name)!r})",
            f"文件缺少“{shown.get(f.name, f.name)}”列",
        )
    if missing and len(table.sheets) > 1:  # a cover or instructions sheet before the register
        others = table.sheets[1:]
        problems.add(
            None,
            "sheet",
            f"only the first sheet ('{table.sheets[0]}') is read; the workbook also has "
            + ", ".join(f"'{s}'" for s in others)
            + ": if the register is there, move that sheet first (or delete the sheets before it)",
            f"只读取第一个工作表（“{table.sheets[0]}”）；工作簿还有 "
            + "、".join(f"“{s}”" for s in others)
            + "：如数据在其中，请把该工作表移到最前（或删除前面的工作表）",
        )
    if table.geometry is None and "wkt" not in columns and not {"lon", "lat"} <= set(columns):
        problems.add(
            None,
            "geometry",
            "the file has no geometry: give 经度 and 纬度 (lon, lat) columns or a WKT column",
            "文件没有位置信息：请提供“经度”“纬度”两列或 WKT 列",
        )
    return ColumnMap(columns, headers, ignored)


# --- 2. cell values -------------------------------------------------------------------------------

Coerced = tuple[Any, tuple[str, str] | None]

LEVEL_WORDS = {
    **{str(k): k for k in range(1, 5)},
    **{name: k for k, name in vocab.LEVEL_NAMES_ZH.items()},
    **{name.removesuffix("风险"): k for k, name in vocab.LEVEL_NAMES_ZH.items()},
    **{c: k for k, c in vocab.LEVEL_COLOURS_ZH.items()},
    **{c + "色": k for k, c in vocab.LEVEL_COLOURS_ZH.items()},
    **{f"{'一二三四'[k - 1]}级": k for k in range(1, 5)},
    **{v: k for k, v in vocab.LEVEL_NAMES_EN.items()},
    "red": 1,
    "orange": 2,
    "yellow": 3,
    "blue": 4,
}
CONTROL_LEVEL_WORDS = {
    "company": "company",
    "公司": "company",
    "公司级": "company",
    "厂级": "company",
    "workshop": "workshop",
    "车间": "workshop",
    "车间级": "workshop",
    "team": "team",
    "班组": "team",
    "班组级": "team",
    "post": "post",
    "岗位": "post",
    "岗位级": "post",
}
CONTROL_LEVEL_NAMES_ZH = {"company": "公司级", "workshop": "车间级", "team": "班组级", "post": "岗位级"}
METHOD_WORDS = {
    **{str(m).lower(): str(m) for m in vocab.AssessmentMethod},
    "直接判定": "direct",
    "直接定级": "direct",
    "直接判定法": "direct",
}
ZONE_LEVEL_WORDS = {"park": "park", "园区": "park", "grid": "grid", "网格": "grid"}
ZONE_LEVEL_NAMES_ZH = {"park": "园区", "grid": "网格"}
GB_CLASS_WORDS = {
    **{str(c): str(c) for c in vocab.GBClass},
    **{name: str(c) for c, name in vocab.GB_CLASS_NAMES_ZH.items()},
}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
_CODE_SPLIT = re.compile(r"[、,，;；/\s]+")


def _text(value: Any) -> str:
    if type(value) is str:  # the common case, kept cheap: no copy unless something changes
        text = value.strip()
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        return _EXPORT_ESCAPE.sub("", text) if text[:1] == "'" else text
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps phone numbers and codes typed as numbers as floats
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        value = value.date()
    text = unicodedata.normalize("NFC", str(value)).strip()
    return _EXPORT_ESCAPE.sub("", text)


def _coerce_text(value: Any, max_length: int | None) -> Coerced:
    text = _text(value)
    if max_length is not None and len(text) > max_length:
        return None, (f"at most {max_length} characters, got {len(text)}", f"最多 {max_length} 个字符")
    return text or None, None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = unicodedata.normalize("NFKC", _text(value)).replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def _coerce_number(value: Any, lo: float | None, hi: float | None, integer: bool) -> Coerced:
    number = _number(value)
    if number is None or not math.isfinite(number):
        return None, (f"expected a number, got {_text(value)!r}", f"应为数字，收到：{_text(value)}")
    if integer and not number.is_integer():
        return None, (f"expected a whole number, got {number:g}", f"应为整数，收到：{number:g}")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        return None, (f"must be between {lo:g} and {hi:g}, got {number:g}", f"应在 {lo:g} 到 {hi:g} 之间")
    return (int(number) if integer else number), None


def _coerce_date(value: Any) -> Coerced:
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    text = unicodedata.normalize("NFKC", _text(value))
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date(), None
        except ValueError:
            continue
    return None, (
        f"expected a date like 2026-03-01, got {text!r}",
        f"日期格式错误，应如 2026-03-01，收到：{text}",
    )


def _coerce_words(value: Any, words: Mapping[str, Any], what: str, what_zh: str) -> Coerced:
    text = unicodedata.normalize("NFKC", _text(value))
    key = text.lower() if text.isascii() else text
    if key in words:
        return words[key], None
    allowed = "、".join(sorted({k for k in words if not k.isascii()}))
    return None, (f"unknown {what} {text!r}", f"未知的{what_zh}：{text}（可填：{allowed}）")


_WORD_FIELDS: dict[tuple[str, str], tuple[Mapping[str, Any], str, str]] = {
    ("risk", "level"): (LEVEL_WORDS, "risk level (1–4, 重大/较大/一般/低, 红/橙/黄/蓝)", "风险等级"),
    ("risk", "control_level"): (CONTROL_LEVEL_WORDS, "control level", "管控层级"),
    ("risk", "assessment_method"): (METHOD_WORDS, "assessment method (LEC, LS, MES, direct)", "评估方法"),
    (str(Kind.protection_targets), "gb_class"): (GB_CLASS_WORDS, "GB 36894 class", "防护目标类别"),
    (str(Kind.zones), "level"): (ZONE_LEVEL_WORDS, "zone type (park, grid)", "区域类型"),
}


def _word_spec(kind: Kind, name: str) -> tuple[Mapping[str, Any], str, str] | None:
    group = "risk" if kind in (Kind.risk_units, Kind.public_risks) else str(kind)
    return _WORD_FIELDS.get((group, name))


def _converter(kind: Kind, name: str) -> Callable[[Any], Coerced]:
    f = fields_of(kind)[name]
    words = _word_spec(kind, name)
    if words is not None:
        return lambda v: _coerce_words(v, *words)
    if f.type is FieldType.integer:
        return lambda v: _coerce_number(v, f.min_value, f.max_value, True)
    if f.type is FieldType.number:
        return lambda v: _coerce_number(v, f.min_value, f.max_value, False)
    if f.type is FieldType.date:
        return _coerce_date
    if f.type is FieldType.codes:
        return lambda v: (tuple(c for c in _CODE_SPLIT.split(_text(v)) if c) or None, None)
    return _TextConverter(f.max_length)


@dataclass(frozen=True)
class _TextConverter:
    """_coerce_text with its length limit; `many` converts a whole list of distinct values."""

    max_length: int | None

    def __call__(self, value: Any) -> Coerced:
        return _coerce_text(value, self.max_length)

    def many(self, values: Sequence[Any]) -> list[Coerced]:
        """[self(v) for v in values], the strings (nearly every cell) one step at a time over the list:
        a register has as many distinct names as rows."""
        if not all(type(v) is str for v in values):
            return [self(v) for v in values]
        texts = [v.strip() for v in values]
        texts = [t if unicodedata.is_normalized("NFC", t) else unicodedata.normalize("NFC", t) for t in texts]
        texts = [_EXPORT_ESCAPE.sub("", t) if t[:1] == "'" else t for t in texts]
        limit = self.max_length
        if limit is None or max(map(len, texts), default=0) <= limit:
            return [(t or None, None) for t in texts]
        return [
            (None, (f"at most {limit} characters, got {len(t)}", f"最多 {limit} 个字符"))
            if len(t) > limit
            else (t or None, None)
            for t in texts
        ]


def _by_unique(
    values: pd.Series, convert: Callable[[Any], Coerced]
) -> tuple[np.ndarray, dict[int, tuple[str, str]]]:
    """Convert each distinct non-empty value once; (converted values, position → error)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    converted = np.empty(len(uniques) + 1, dtype=object)
    converted[-1] = None  # code -1: empty cell
    failed: dict[int, tuple[str, str]] = {}
    if isinstance(convert, _TextConverter):  # a blank text is None there too
        results = convert.many(list(uniques))
    else:
        results = [
            (None, None) if isinstance(raw, str) and not raw.strip() else convert(raw) for raw in uniques
        ]
    for i, (value, error) in enumerate(results):
        converted[i] = value
        if error is not None:
            failed[i] = error
    out = converted[codes]
    errors: dict[int, tuple[str, str]] = {}
    if failed:
        bad = np.zeros(len(converted), dtype=bool)
        bad[list(failed)] = True
        positions = np.flatnonzero(bad[codes])
        positions = positions[np.argsort(codes[positions], kind="stable")]  # by value, then row
        errors = {int(pos): failed[int(code)] for pos, code in zip(positions, codes[positions], strict=True)}
    return out, errors


def coerce(table: RawTable, kind: Kind, cmap: ColumnMap, problems: Problems) -> pd.DataFrame:
    """One column per field the file has (typed values, None when empty or wrong)."""
    out: dict[str, np.ndarray] = {}
    for name, col in cmap.columns.items():
        if name in ("lon", "lat", "wkt"):
            continue
        raw = table.frame[f"c{col}"]
        values, errors = _by_unique(raw, _converter(kind, name))
        for pos, (reason, zh) in errors.items():
            problems.add(pos, name, reason, zh)
        out[name] = values
    for row, col in table.formula_cells:
        header = table.headers[col]
        name = next((n for n, c in cmap.columns.items() if c == col), header)
        problems.add(
            row,
            name,
            f"column {header!r} holds a formula; riskmap reads values only: paste the values instead",
            f"“{header}”列是公式；只接受数值，请粘贴为数值后再导入",
        )
    for f in FIELDS[kind]:
        if f.required and f.name in out:
            empty = np.flatnonzero(pd.isna(pd.Series(out[f.name], dtype=object)).to_numpy())
            shown = primary_headers(kind).get(f.name, f.name)
            problems.add_rows(empty, f.name, "is required", f"“{shown}”为必填项")
    index = pd.RangeIndex(len(table))
    return pd.DataFrame({k: pd.Series(v, dtype=object, index=index) for k, v in out.items()}, index=index)


# --- geometries -----------------------------------------------------------------------------------


def _from_columns(table: RawTable, cmap: ColumnMap, problems: Problems) -> np.ndarray:
    n = len(table)
    geoms = np.full(n, None, dtype=object)
    if {"lon", "lat"} <= set(cmap.columns):
        lon, lon_err = _by_unique(
            table.frame[f"c{cmap.columns['lon']}"], lambda v: _coerce_number(v, None, None, False)
        )
        lat, lat_err = _by_unique(
            table.frame[f"c{cmap.columns['lat']}"], lambda v: _coerce_number(v, None, None, False)
        )
        for name, errors in (("lon", lon_err), ("lat", lat_err)):
            for pos, (reason, zh) in errors.items():
                problems.add(pos, name, reason, zh)
        have = np.array([a is not None and b is not None for a, b in zip(lon, lat, strict=True)], dtype=bool)
        if have.any():
            geoms[have] = shapely.points(lon[have].astype(float), lat[have].astype(float))
    if "wkt" in cmap.columns:
        wkt = table.frame[f"c{cmap.columns['wkt']}"]
        present = wkt.notna().to_numpy() & (wkt.astype(str).str.strip() != "").to_numpy()
        if present.any():
            texts = np.array([_text(v) for v in wkt[present]], dtype=object)
            parsed = shapely.from_wkt(texts, on_invalid="ignore")
            bad = np.flatnonzero(present)[pd.isna(parsed)]
            problems.add_rows(bad, "wkt", "unreadable WKT geometry", "WKT 几何无法解析")
            geoms[present] = parsed
    return geoms


def _project(geoms: np.ndarray, source: pyproj.CRS | None) -> tuple[np.ndarray, bool]:
    """Geometries in a projected (or other geographic) CRS → CGCS2000 lon/lat; (geoms, projected?)."""
    if source is None:
        return geoms, False
    epsg = source.to_epsg(min_confidence=70)
    if epsg in (4490, 4326) or (
        source.is_geographic and source.ellipsoid and source.ellipsoid.name in {"GRS 1980", "WGS 84"}
    ):
        return geoms, False
    tr = pyproj.Transformer.from_crs(source, 4490, always_xy=True)
    present = ~pd.isna(geoms)
    out = geoms.copy()
    out[present] = shapely.transform(
        geoms[present], lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
    )
    return out, True


def locate(
    table: RawTable, kind: Kind, cmap: ColumnMap, crs: InputCrs | str, problems: Problems
) -> np.ndarray:
    """Each row's geometry as a valid CGCS2000 lon/lat shapely geometry (None where it is wrong)."""
    from geo.boundaries import china_outline

    for pos, reason in table.geometry_problems.items():
        problems.add(pos, "geometry", reason, "几何对象格式错误")
    geoms = _from_columns(table, cmap, problems) if table.geometry is None else table.geometry.copy()
    if table.geometry is not None and ("wkt" in cmap.columns or "lon" in cmap.columns):
        extra = _from_columns(table, cmap, problems)
        geoms = np.where(pd.isna(geoms), extra, geoms)
    geoms, projected = _project(geoms, table.source_crs)
    missing = np.flatnonzero(pd.isna(geoms))
    already = table.geometry_problems.keys() | {
        p for p, n, *_ in problems.items if n in ("wkt", "lon", "lat")
    }
    problems.add_rows(
        [int(p) for p in missing if p not in already],
        "geometry",
        "the row has no location",
        "缺少位置（几何）",
    )
    ok = ~pd.isna(geoms)
    # Z and M (a WKT `POINT M`/`ZM`, a measured GeoPackage layer) are dropped: storage is 2-d. Only these
    # change: 2-d geometries stay as they are.
    ok[ok] = shapely.has_z(geoms[ok].astype(object)) | shapely.has_m(geoms[ok].astype(object))
    geoms[ok] = shapely.force_2d(geoms[ok].astype(object))
    _check_shapes(geoms, kind, problems)
    good = np.array([g is not None for g in geoms], dtype=bool)
    if not projected:
        geoms[good] = to_storage(geoms[good], crs)
    outline = china_outline()
    shapely.prepare(outline)
    outside = np.flatnonzero(good)[~shapely.covers(outline, geoms[good].astype(object))] if good.any() else []
    problems.add_rows(
        outside,
        "geometry",
        "the geometry lies outside China; riskmap stores places in China only "
        "(check that longitude comes first, and the crs or the file's .prj)",
        "几何位于中国境外（请检查经纬度顺序与坐标系）",
    )
    for pos in outside:
        geoms[pos] = None
    return geoms


_GEOM_TYPE_NAMES = (
    "Point",
    "LineString",
    "LinearRing",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)  # shapely.get_type_id order


def _check_shapes(geoms: np.ndarray, kind: Kind, problems: Problems) -> None:
    """The checks of geo.geometry.parse_geometry, on the whole column; failing rows become None."""
    allowed = GEOMETRY_TYPES[kind]
    present = np.flatnonzero(~pd.isna(geoms))
    arr = geoms[present].astype(object)
    empty = shapely.is_empty(arr)
    type_ids = shapely.get_type_id(arr)
    allowed_ids = [i for i, name in enumerate(_GEOM_TYPE_NAMES) if name in allowed]
    for i in np.flatnonzero(empty | ~np.isin(type_ids, allowed_ids)):
        pos, g = int(present[i]), arr[i]
        if empty[i]:
            problems.add(pos, "geometry", "the geometry is empty", "几何为空")
        else:
            kinds = ", ".join(sorted(allowed))
            problems.add(
                pos,
                "geometry",
                f"a {g.geom_type} is not allowed here; expected {kinds}",
                f"此处不接受 {g.geom_type}，应为 {kinds}",
            )
        geoms[pos] = None
    live = np.flatnonzero(~pd.isna(geoms))
    if not len(live):
        return
    arr = geoms[live].astype(object)
    coords_ok = np.ones(len(arr), dtype=bool)
    coords, index = shapely.get_coordinates(arr, return_index=True)
    bad_coord = ~np.isfinite(coords).all(axis=1) | (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    coords_ok[np.unique(index[bad_coord])] = False
    for i in np.flatnonzero(~coords_ok):
        problems.add(
            int(live[i]),
            "geometry",
            "coordinates must be finite longitude, latitude in degrees (|lon| ≤ 180, |lat| ≤ 90); "
            "a projected file needs its .prj",
            "坐标应为经纬度（经度在前）；投影坐标的文件须附 .prj",
        )
        geoms[live[i]] = None
    valid = shapely.is_valid(arr)
    for i in np.flatnonzero(~valid & coords_ok):
        why = shapely.is_valid_reason(arr[i])
        problems.add(int(live[i]), "geometry", f"invalid geometry: {why}", f"几何无效：{why}")
        geoms[live[i]] = None


# --- 3. register rules ----------------------------------------------------------------------------


def column_values(frame: pd.DataFrame, name: str) -> list[Any]:
    return list(column_array(frame, name))


def column_array(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The column as objects, None where empty; all None when the frame has no such column."""
    if name not in frame:
        return np.full(len(frame), None, dtype=object)
    column = frame[name]
    values = column.to_numpy(dtype=object, copy=True)
    values[pd.isna(column).to_numpy()] = None
    return values


def _objects(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array of the values (tuples and lists stay single cells)."""
    return np.fromiter(values, dtype=object, count=len(values))


def group_rows(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows holding equal values in every column share a group: (group of each row, first row of each
    group), groups numbered in order of first appearance, as the keys of a dict of value tuples would be.

    Values compare as Python compares them (1 == 1.0); None is a value like any other. The columns hold
    what `column_array` gives (no NaN: it is None there)."""
    group = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)  # None → -1
        group, _ = pd.factorize(group * (len(uniques) + 1) + (codes + 1))
    first = np.unique(group, return_index=True)[1]
    return np.asarray(group, dtype=np.int64), first


def _per_group(
    rows: np.ndarray,
    columns: Sequence[np.ndarray],
    fn: Callable[..., Any],
    problems: Problems,
    rename: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """fn(*values) once per distinct combination of the columns' values at `rows` (positions, ascending);
    each of those rows gets its combination's problems. (results per group, group of each row), a
    result being None where fn raised InvalidInput."""
    values = [column[rows] for column in columns]
    group, first = group_rows(values)
    results = np.full(len(first), None, dtype=object)
    failed: dict[int, InvalidInput] = {}
    for g, row in enumerate(first):
        result, exc = _invalid(partial(fn, *(v[row] for v in values)))
        results[g] = result
        if exc is not None:
            failed[g] = exc
    if failed:
        bad = np.zeros(len(first), dtype=bool)
        bad[list(failed)] = True
        for i in np.flatnonzero(bad[group]):
            problems.add_invalid(int(rows[i]), failed[int(group[i])], rename)
    return results, group


def per_distinct(
    rows: np.ndarray,
    columns: Sequence[np.ndarray],
    fn: Callable[..., Any],
    problems: Problems,
    rename: Mapping[str, str] | None = None,
) -> np.ndarray:
    """fn(*values) of each row of `rows`, computed once per distinct combination of values; a row whose
    combination fails gets None and the failure's problems (field names through `rename`)."""
    results, group = _per_group(rows, columns, fn, problems, rename)
    return results[group]


def _live(values: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Positions (of `rows`, or of all) where the value is not None."""
    present = np.flatnonzero(~pd.isna(values))
    return present if rows is None else np.intersect1d(rows, present, assume_unique=True)


def enterprise_rules(frame: pd.DataFrame, problems: Problems) -> pd.DataFrame:
    """clean_enterprise's checks: credit code (GB 32100), sector, phone."""
    out = frame.copy()
    credit = column_array(frame, "credit_code")
    live = _live(credit)
    credit[live] = per_distinct(live, [credit], lambda c: validate_credit_code(c, "credit_code"), problems)
    out["credit_code"] = credit
    _vocab_column(out, "sector", lambda v: vocab.sector_code(v, "sector"), problems)
    _vocab_column(out, "contact_phone", lambda v: validate_phone(v, "contact_phone"), problems)
    return out


def _vocab_column(frame: pd.DataFrame, name: str, fn: Callable[[Any], Any], problems: Problems) -> None:
    if name not in frame:
        return
    values = column_array(frame, name)
    live = _live(values)
    values[live] = per_distinct(live, [values], fn, problems)
    frame[name] = pd.Series(values, dtype=object, index=frame.index)


_FACTORS = ("L", "E", "C", "S", "M")


_ASSESSED = (
    "kind",
    "sector",
    "level",
    "assessment_method",
    "assessment_inputs",
    "assessment_score",
    "assessment_table",
)


def risk_rules(
    frame: pd.DataFrame,
    owner_sectors: Sequence[str | None] | None,
    problems: Problems,
    skip: set[int] | None = None,
) -> pd.DataFrame:
    """clean_risk_unit's checks (and the safety-distance ones the API adds) on every row.

    `owner_sectors`: each row's enterprise sector, or None for public-area risks. Rows in `skip`
    (no owner found) are not checked further. Each check runs once per distinct combination of the
    values it reads, in the order the rows first show it.
    """
    from geo.register import clean_risk_unit
    from geo.safety_distance import check_capacity, hazard_kind_code

    n = len(frame)
    public = owner_sectors is None
    owners = np.full(n, None, dtype=object) if owner_sectors is None else _objects(owner_sectors)
    checked = np.ones(n, dtype=bool)
    checked[[i for i in skip or () if 0 <= i < n]] = False
    rows = np.flatnonzero(checked)
    sector, level, method, table = (
        column_array(frame, c) for c in ("sector", "level", "assessment_method", "assessment_table")
    )
    factors = [column_array(frame, f"factor_{f}") for f in _FACTORS]

    def assessment(
        owner: str | None,
        sector_: str | None,
        level_: int | None,
        method_: str | None,
        table_: str | None,
        *row_factors: Any,
    ) -> dict[str, Any]:
        inputs = tuple((f, v) for f, v in zip(_FACTORS, row_factors, strict=True) if v is not None)
        props: dict[str, Any] = {
            "level": level_,
            "assessment_method": method_,
            "assessment_table": table_,
            "assessment_inputs": dict(inputs) if inputs else None,
        }
        if sector_ is not None:
            props["sector"] = sector_
        return clean_risk_unit(props, owner_sector=owner, prefix="")

    rename = {"assessment_inputs." + f: "factor_" + f for f in _FACTORS}
    assessed, assessed_group = _per_group(
        rows, [owners, sector, level, method, table, *factors], assessment, problems, rename
    )

    def dates(
        owner: str | None, sector_: str | None, on: dt.date | None, due: dt.date | None
    ) -> dict[str, Any]:
        props: dict[str, Any] = {"level": 4, "assessed_on": on, "next_assessment_due": due}
        if owner is None:
            props["sector"] = sector_ or "other"
        return clean_risk_unit(props, owner_sector=owner, prefix="")

    on_col, due_col = column_array(frame, "assessed_on"), column_array(frame, "next_assessment_due")
    date_sector = sector if public else np.full(n, None, dtype=object)
    date_problems = Problems(problems.labels, problems.label_kind)
    dated, dated_group = _per_group(rows, [owners, date_sector, on_col, due_col], dates, date_problems)
    problems.items.extend(p for p in date_problems.items if p[1] in ("assessed_on", "next_assessment_due"))

    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        if not name.startswith("factor_"):
            out[name] = frame[name]
    for c in _ASSESSED:
        values = np.full(n, None, dtype=object)
        values[rows] = _objects([None if a is None else a.get(c) for a in assessed])[assessed_group]
        out[c] = pd.Series(values, dtype=object, index=frame.index)
    due_values = np.full(n, None, dtype=object)
    due_values[rows] = _objects([d["next_assessment_due"] if d else None for d in dated])[dated_group]
    out["next_assessment_due"] = pd.Series(due_values, dtype=object, index=frame.index)
    out["kind"] = str(vocab.RiskUnitKind.public_area if public else vocab.RiskUnitKind.enterprise)
    if not public:
        out["sector"] = None
    if "accident_types" in frame:
        types = column_array(frame, "accident_types")
        live = _live(types, rows)
        codes = np.full(n, None, dtype=object)
        codes[live] = per_distinct(
            live, [types], lambda t: vocab.accident_type_codes(list(t), "accident_types"), problems
        )
        out["accident_types"] = pd.Series(codes, dtype=object, index=frame.index)
    _vocab_column(out, "responsible_phone", lambda v: validate_phone(v, "responsible_phone"), problems)
    if "max_occupancy" in frame:
        _occupancy_rule(out, owners if not public else column_array(out, "sector"), rows, problems)
    if "hazard_kind" in frame:
        kinds, caps = column_array(frame, "hazard_kind"), column_array(frame, "capacity_m3")

        def hazard(kind_: str, cap: float | None) -> str:
            code = hazard_kind_code(kind_, "hazard_kind")
            check_capacity(code, cap, "capacity_m3")
            return code

        live = _live(kinds, rows)
        kinds[live] = per_distinct(live, [kinds, caps], hazard, problems)
        out["hazard_kind"] = pd.Series(kinds, dtype=object, index=frame.index)
    return out


def _occupancy_rule(out: pd.DataFrame, sectors: np.ndarray, rows: np.ndarray, problems: Problems) -> None:
    """Seed 002 三(四)3 (register.occupancy_exceeded) on the whole column: at most 10 people in one
    dust-explosion or ammonia-refrigeration space."""
    from geo.register import OCCUPANCY_LIMITED_SECTORS, occupancy_reasons

    people = pd.to_numeric(pd.Series(column_array(out, "max_occupancy")), errors="coerce").to_numpy()
    for sector, limit in OCCUPANCY_LIMITED_SECTORS.items():
        over = np.zeros(len(out), dtype=bool)
        over[rows] = (sectors[rows] == sector) & (np.nan_to_num(people[rows], nan=-1.0) > limit)
        for pos in np.flatnonzero(over):
            problems.add(int(pos), "max_occupancy", *occupancy_reasons(sector, int(people[pos])))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def target_rules(frame: pd.DataFrame, problems: Problems) -> pd.DataFrame:
    """clean_protection_target per row (type, class derived from people or households)."""
    from geo.register import clean_protection_target

    records = frame.to_dict("records")
    out = []
    for pos, rec in enumerate(records):
        props = {str(k): v for k, v in rec.items() if not _blank(v)}
        props.setdefault("type", "")
        value, exc = _invalid(partial(clean_protection_target, props, prefix=""))
        if exc is not None:
            problems.add_invalid(pos, exc)
            value = rec
        out.append({**rec, **{k: (str(v) if isinstance(v, vocab.GBClass) else v) for k, v in value.items()}})
    cols = [*frame.columns, "gb_class", "gb_class_derived"]
    result = pd.DataFrame(out, columns=list(dict.fromkeys(cols)), index=frame.index, dtype=object)
    return result


_ZONE_CODE = re.compile(r"^[0-9A-Za-z_-]{2,12}$")


def zone_rules(frame: pd.DataFrame, problems: Problems) -> pd.DataFrame:
    out = frame.copy()
    for pos, code in enumerate(column_values(frame, "adcode")):
        if code is not None and not _ZONE_CODE.match(code):
            problems.add(
                pos, "adcode", "2 to 12 letters, digits, _ or -", "编码须为 2–12 位字母、数字、_ 或 -"
            )
    parents = column_array(frame, "parent_adcode")
    live = _live(parents)
    per_distinct(live, [parents], lambda p: validate_adcode(p, "parent_adcode"), problems)
    return out


def duplicates(
    keys: Sequence[Hashable | None], problems: Problems, name: str, what: str, what_zh: str
) -> None:
    """Rows whose natural key another row of the same file has too; each names the first one."""
    column = _objects(keys)
    duplicate_rows([column], ~pd.isna(column), problems, name, what, what_zh)


def duplicate_rows(
    columns: Sequence[np.ndarray], keyed: np.ndarray, problems: Problems, name: str, what: str, what_zh: str
) -> None:
    """`duplicates` with the key in columns (equal in every column: the same key), for the rows where
    `keyed` is true; the others have no key."""
    rows = np.flatnonzero(keyed)
    if not len(rows):
        return
    group, first = group_rows([c[rows] for c in columns])
    for i in np.flatnonzero(first[group] != np.arange(len(rows))):
        pos, other = int(rows[i]), int(rows[first[group[i]]])
        problems.add(
            pos,
            name,
            f"duplicate {what}: the same as {problems.where(other)}",
            f"{what_zh}重复：与{problems.where_zh(other)}相同",
        )
