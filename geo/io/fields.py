"""What each kind of import holds: its fields, their types and limits, and the column headers of real
registers (data/import_headers.csv) that map to them.

The types and limits mirror the API's property schemas (api/routers/*): tests/io/test_fields.py holds
them to the same numbers, so a file and a POST accept the same values.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from geo.resources import read_table


class Kind(StrEnum):
    enterprises = "enterprises"
    risk_units = "risk_units"  # an enterprise's risk points (风险点)
    public_risks = "public_risks"  # public-area risks (公共区域风险) of a government
    protection_targets = "protection_targets"
    zones = "zones"  # parks (园区) and grids (网格)


KIND_NAMES_ZH = {
    Kind.enterprises: "企业",
    Kind.risk_units: "企业风险点",
    Kind.public_risks: "公共区域风险",
    Kind.protection_targets: "防护目标",
    Kind.zones: "园区与网格",
}


class FieldType(StrEnum):
    text = "text"
    integer = "integer"
    number = "number"
    date = "date"
    codes = "codes"  # a list of codes in one cell: '火灾、爆炸' or '08,13'


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType = FieldType.text
    required: bool = False
    max_length: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    stored: bool = True  # False: read and checked, not a column (the enterprise's name on a risk unit)


def _t(name: str, max_length: int | None = None, *, required: bool = False, stored: bool = True) -> Field:
    return Field(name, FieldType.text, required, max_length, stored=stored)


def _i(name: str, lo: float, hi: float) -> Field:
    return Field(name, FieldType.integer, min_value=lo, max_value=hi)


_RISK_COMMON = (
    _t("name", 200, required=True),
    _i("level", 1, 4),
    _t("assessment_method"),
    _t("assessment_table", 32),
    Field("factor_L", FieldType.number),
    Field("factor_E", FieldType.number),
    Field("factor_C", FieldType.number),
    Field("factor_S", FieldType.number),
    Field("factor_M", FieldType.number),
    Field("accident_types", FieldType.codes),
    _t("hazards", 2000),
    _t("control_measures", 2000),
    _t("control_level"),
    _t("responsible_department", 200),
    _t("responsible_person", 100),
    _t("responsible_phone", 40),
    Field("assessed_on", FieldType.date),
    Field("next_assessment_due", FieldType.date),
    _i("max_occupancy", 0, 1_000_000),
    _t("hazard_kind", 80),
    Field("capacity_m3", FieldType.number, min_value=0, max_value=1e7),
    _t("jurisdiction", 12),
)

FIELDS: dict[Kind, tuple[Field, ...]] = {
    Kind.enterprises: (
        _t("credit_code", 18 * 4, required=True),  # checked by geo.codes; the length here only bounds junk
        _t("name", 200, required=True),
        _t("sector", 100, required=True),
        _t("business_type", 500),
        _t("address", 500),
        _i("employees", 0, 1_000_000),
        _t("supervising_department", 500),
        _t("contact_person", 500),
        _t("contact_phone", 40),
        _t("jurisdiction", 12),
    ),
    Kind.risk_units: (
        _t("enterprise_credit_code", 18 * 4, required=True),
        _t("enterprise_name", 200, stored=False),
        _t("sector", 100, stored=False),
        *_RISK_COMMON,
    ),
    Kind.public_risks: (_t("sector", 100, required=True), *_RISK_COMMON),
    Kind.protection_targets: (
        _t("name", 200, required=True),
        _t("type", 100, required=True),
        _t("gb_class", 40),
        _i("population", 0, 10_000_000),
        _i("households", 0, 5_000_000),
        _t("address", 500),
        _t("jurisdiction", 12),
    ),
    Kind.zones: (
        _t("adcode", 12, required=True),
        _t("name", 100, required=True),
        _t("level", 16, required=True),
        _t("parent_adcode", 12, required=True),
        _t("source", 500),
    ),
}

# Geometry columns of a table without a geometry of its own (CSV, Excel).
GEOMETRY_FIELDS = ("lon", "lat", "wkt")

GEOMETRY_TYPES: dict[Kind, frozenset[str]] = {
    Kind.enterprises: frozenset({"Point"}),
    Kind.risk_units: frozenset(
        {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}
    ),
    Kind.public_risks: frozenset(
        {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}
    ),
    Kind.protection_targets: frozenset({"Point", "MultiPoint", "Polygon", "MultiPolygon"}),
    Kind.zones: frozenset({"Polygon", "MultiPolygon"}),
}

MAX_COLUMNS = 200


def fields_of(kind: Kind) -> dict[str, Field]:
    return {f.name: f for f in FIELDS[kind]}


_BRACKETS = re.compile(r"[（(【\[][^）)】\]]*[）)】\]]")
_NOISE = re.compile(r"[\s*＊:：_\-]+")


def normalise_header(header: object) -> str:
    """'  风险等级（必填）*' → '风险等级'; full-width letters folded, case ignored for ASCII."""
    text = unicodedata.normalize("NFKC", str(header if header is not None else ""))
    text = _BRACKETS.sub("", text)
    return _NOISE.sub("", text).lower()


def _applies(row_kind: str, kind: Kind) -> bool:
    if row_kind == "*":
        return True
    if row_kind == "risk":
        return kind in (Kind.risk_units, Kind.public_risks)
    return row_kind == str(kind)


def _known(kind: Kind) -> set[str]:
    extra = {"wkt"} if kind is Kind.zones else set(GEOMETRY_FIELDS)
    return set(fields_of(kind)) | extra


@cache
def header_aliases(kind: Kind) -> dict[str, str]:
    """Normalised header → field name: the field names themselves and every alias in the table."""
    known = _known(kind)
    out = {normalise_header(name): name for name in known}
    for row in read_table("import_headers.csv"):
        if _applies(row["kind"], kind) and row["field"] in known:
            out.setdefault(normalise_header(row["header"]), row["field"])
    return out


@cache
def primary_headers(kind: Kind) -> dict[str, str]:
    """Field → the Chinese header exports and templates use (the first alias of the table)."""
    known = _known(kind)
    out: dict[str, str] = {}
    for row in read_table("import_headers.csv"):
        if _applies(row["kind"], kind) and row["field"] in known:
            out.setdefault(row["field"], row["header"])
    return out
