"""Controlled vocabularies of the register: sectors, accident types, target types, levels."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from geo.errors import InvalidInput
from geo.resources import read_table

LEVEL_NAMES_ZH = {1: "重大风险", 2: "较大风险", 3: "一般风险", 4: "低风险"}
LEVEL_NAMES_EN = {1: "major", 2: "large", 3: "general", 4: "low"}
LEVEL_COLOURS_ZH = {1: "红", 2: "橙", 3: "黄", 4: "蓝"}
DEFAULT_PALETTE = {1: "#FF0000", 2: "#FF7F00", 3: "#FFFF00", 4: "#0000FF"}


class RiskUnitKind(StrEnum):
    """风险点 of an enterprise, or a public-area risk (公共区域风险) assessed by a government."""

    enterprise = "enterprise"
    public_area = "public_area"


class ControlLevel(StrEnum):
    """管控层级 (seed 004 二(一)3)."""

    company = "company"
    workshop = "workshop"
    team = "team"
    post = "post"


class AssessmentMethod(StrEnum):
    LEC = "LEC"
    LS = "LS"
    MES = "MES"
    direct = "direct"


class JurisdictionLevel(StrEnum):
    province = "province"
    city = "city"
    county = "county"
    township = "township"
    village = "village"
    grid = "grid"
    park = "park"


# Administrative levels, outermost first; parks and grids are zones, not administrative units.
ADMIN_LEVELS = (
    JurisdictionLevel.province,
    JurisdictionLevel.city,
    JurisdictionLevel.county,
    JurisdictionLevel.township,
    JurisdictionLevel.village,
)


class GBClass(StrEnum):
    """GB 36894-2018 protection-target classes."""

    high_sensitive = "high_sensitive"  # 高敏感防护目标
    important = "important"  # 重要防护目标
    general_1 = "general_1"  # 一般防护目标一类
    general_2 = "general_2"  # 一般防护目标二类
    general_3 = "general_3"  # 一般防护目标三类


GB_CLASS_NAMES_ZH = {
    GBClass.high_sensitive: "高敏感防护目标",
    GBClass.important: "重要防护目标",
    GBClass.general_1: "一般防护目标一类",
    GBClass.general_2: "一般防护目标二类",
    GBClass.general_3: "一般防护目标三类",
}


@dataclass(frozen=True)
class Term:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Sector(Term):
    high_risk: bool


def sectors() -> dict[str, Sector]:
    return {
        r["code"]: Sector(r["code"], r["name_zh"], r["name_en"], r["high_risk"] == "true")
        for r in read_table("sectors.csv")
    }


def accident_types() -> dict[str, Term]:
    return {r["code"]: Term(r["code"], r["name_zh"], r["name_en"]) for r in read_table("accident_types.csv")}


def target_types() -> dict[str, Term]:
    return {r["code"]: Term(r["code"], r["name_zh"], r["name_en"]) for r in read_table("target_types.csv")}


def _short_zh(name: str) -> str:
    """'消防（人员密集场所）' → '消防': registers often write the name without its gloss."""
    return name.split("（", 1)[0].split("(", 1)[0].strip()


def _lookup(
    terms: dict[str, Term] | dict[str, Sector], value: str, field: str, what: str, what_zh: str
) -> str:
    """Accept a code, its Chinese name (with or without the gloss in brackets) or English name."""
    v = value.strip()
    if v in terms:
        return v
    for t in terms.values():
        if v in (t.name_zh, _short_zh(t.name_zh)) or v.lower() in (t.name_en.lower(), t.code.lower()):
            return t.code
    allowed = ", ".join(f"{t.code} ({t.name_zh})" for t in terms.values())
    raise InvalidInput.one(
        field, f"unknown {what} {value!r}; expected one of: {allowed}", f"未知的{what_zh}：{value}"
    )


def sector_code(value: str, field: str = "sector") -> str:
    return _lookup(sectors(), value, field, "sector", "行业领域")


def target_type_code(value: str, field: str = "type") -> str:
    return _lookup(target_types(), value, field, "protection-target type", "防护目标类型")


def accident_type_codes(values: list[str], field: str = "accident_types") -> list[str]:
    """Normalise GB 6441 codes ('8', '08', '火灾' all give '08'); keep order, drop repeats."""
    known = accident_types()
    out: list[str] = []
    for i, raw in enumerate(values):
        v = str(raw).strip()
        if v.isdigit() and len(v) <= 2:
            v = v.zfill(2)
        code = _lookup(known, v, f"{field}[{i}]", "GB 6441 accident type", "事故类别")
        if code not in out:
            out.append(code)
    return out


def is_high_risk_sector(code: str | None) -> bool:
    return (code or "") in _high_risk_sectors()


@cache
def _high_risk_sectors() -> frozenset[str]:
    """Codes of the high-risk sectors (data/sectors.csv is read once per process, as read_table is)."""
    return frozenset(code for code, s in sectors().items() if s.high_risk)
