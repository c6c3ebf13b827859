"""Domain rules for register rows (一企一册): normalise codes and vocabularies, check what types can't.

Each function takes already type-checked properties and returns the column values to store, or raises
InvalidInput listing every problem with its field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from geo import vocab
from geo.assessment import assess
from geo.codes import validate_credit_code, validate_phone
from geo.errors import InvalidInput, Problem
from geo.targets import derive_gb_class

T = TypeVar("T")

HIGH_RISK_REASSESS_YEARS = 1
OTHER_REASSESS_YEARS = 3
# Seed 002 三(四)3: dust-explosion sites and ammonia-refrigeration rooms hold at most 10 people.
OCCUPANCY_LIMITED_SECTORS = {"dust_explosion": 10, "ammonia_refrigeration": 10}


class _Checker:
    """Collects problems so one response lists all of them, not just the first."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.problems: list[Problem] = []

    def field(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def run(self, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except InvalidInput as exc:
            self.problems.extend(exc.problems)
            return None

    def fail(self, name: str, reason: str, reason_zh: str | None = None) -> None:
        self.problems.append(Problem(self.field(name), reason, reason_zh))

    def done(self) -> None:
        if self.problems:
            raise InvalidInput(self.problems)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def reassessment_years(sector: str | None) -> int:
    """Seed 000 (一): high-risk industries at least yearly, others at least every three years."""
    return HIGH_RISK_REASSESS_YEARS if vocab.is_high_risk_sector(sector) else OTHER_REASSESS_YEARS


def next_assessment_due(assessed_on: dt.date, sector: str | None) -> dt.date:
    return _add_years(assessed_on, reassessment_years(sector))


def clean_enterprise(props: Mapping[str, Any], *, prefix: str = "properties.") -> dict[str, Any]:
    c = _Checker(prefix)
    out = dict(props)
    if "credit_code" in props:
        out["credit_code"] = c.run(lambda: validate_credit_code(props["credit_code"], c.field("credit_code")))
    if "sector" in props:
        out["sector"] = c.run(lambda: vocab.sector_code(props["sector"], c.field("sector")))
    if props.get("contact_phone"):
        out["contact_phone"] = c.run(lambda: validate_phone(props["contact_phone"], c.field("contact_phone")))
    c.done()
    return out


def clean_risk_unit(
    props: Mapping[str, Any],
    *,
    owner_sector: str | None,
    prefix: str = "properties.",
) -> dict[str, Any]:
    """`owner_sector` is the enterprise's sector, or None for a public-area risk (which names its own)."""
    c = _Checker(prefix)
    out = dict(props)
    is_public = owner_sector is None
    out["kind"] = vocab.RiskUnitKind.public_area if is_public else vocab.RiskUnitKind.enterprise
    declared_kind = props.get("kind")
    if declared_kind is not None and declared_kind != out["kind"]:
        if declared_kind == vocab.RiskUnitKind.enterprise:
            c.fail("kind", "an enterprise risk unit needs enterprise_id", "企业风险点须指明所属企业")
        else:
            c.fail(
                "kind",
                "a public-area risk belongs to no enterprise: drop enterprise_id",
                "公共区域风险不属于企业",
            )
    sector = None
    if is_public:
        if not props.get("sector"):
            c.fail("sector", "a public-area risk needs its sector (行业领域)", "公共区域风险须填写行业领域")
        else:
            sector = c.run(lambda: vocab.sector_code(props["sector"], c.field("sector")))
        out["sector"] = sector
    else:
        if props.get("sector"):
            c.run(lambda: vocab.sector_code(props["sector"], c.field("sector")))
        out["sector"] = None  # an enterprise unit takes its enterprise's sector
        sector = owner_sector

    if occupancy_exceeded(sector, props.get("max_occupancy")):
        c.fail("max_occupancy", *occupancy_reasons(sector, props["max_occupancy"]))

    method = props.get("assessment_method") or vocab.AssessmentMethod.direct
    a = _assess(c, method, props)
    if a is not None:
        out.update(
            level=a.level,
            assessment_method=str(a.method),
            assessment_inputs=a.inputs or None,
            assessment_score=a.score,
            assessment_table=a.table if a.score is not None else None,
        )
    if props.get("accident_types") is not None:
        out["accident_types"] = c.run(
            lambda: vocab.accident_type_codes(list(props["accident_types"]), c.field("accident_types"))
        )
    if props.get("responsible_phone"):
        out["responsible_phone"] = c.run(
            lambda: validate_phone(props["responsible_phone"], c.field("responsible_phone"))
        )
    assessed_on = props.get("assessed_on")
    due = props.get("next_assessment_due")
    if assessed_on is not None:
        latest = next_assessment_due(assessed_on, sector)
        if due is None:
            out["next_assessment_due"] = latest
        elif due > latest:
            c.fail(
                "next_assessment_due",
                f"{due} is later than the rule allows ({latest}: every {reassessment_years(sector)} year(s) "
                "for this sector, seed 000 (一))",
                f"复评日期晚于规定（应不晚于 {latest}）",
            )
        elif due < assessed_on:
            c.fail("next_assessment_due", "is before assessed_on", "早于评估日期")
        if assessed_on > dt.date.today():
            c.fail("assessed_on", "is in the future", "评估日期不能晚于今天")
    c.done()
    return out


def _assess(c: _Checker, method: Any, props: Mapping[str, Any]) -> Any:
    """assess(), with its problems named by the property that holds the value: `assessment.inputs.L` is
    `assessment_inputs.L` here, and `level` is `properties.level` like every other field."""
    try:
        return assess(
            method,
            props.get("assessment_inputs"),
            level=props.get("level"),
            table=props.get("assessment_table") or "default",
            field="assessment",
        )
    except InvalidInput as exc:
        for p in exc.problems:
            head, dot, rest = p.field.partition(".")
            c.fail(f"assessment_{rest}" if head == "assessment" and dot else p.field, p.reason, p.reason_zh)
        return None


def occupancy_exceeded(sector: str | None, max_occupancy: int | None) -> bool:
    limit = OCCUPANCY_LIMITED_SECTORS.get(sector or "")
    return limit is not None and max_occupancy is not None and max_occupancy > limit


def occupancy_reasons(sector: str | None, max_occupancy: int) -> tuple[str, str]:
    """Why a unit breaking seed 002 三(四)3 is refused (English, Chinese)."""
    limit = OCCUPANCY_LIMITED_SECTORS[sector or ""]
    what = "dust-explosion space" if sector == "dust_explosion" else "ammonia-refrigeration space"
    what_zh = "涉爆粉尘场所" if sector == "dust_explosion" else "涉氨制冷场所"
    return (
        f"{max_occupancy} people in one {what}: at most {limit} may work in one space at a time "
        "(seed 002 三(四)3); split the space into units of at most that many",
        f"{what_zh}同一空间内作业人员不得超过{limit}人（现为{max_occupancy}人）",
    )


def clean_protection_target(props: Mapping[str, Any], *, prefix: str = "properties.") -> dict[str, Any]:
    c = _Checker(prefix)
    out = dict(props)
    ttype = c.run(lambda: vocab.target_type_code(props["type"], c.field("type")))
    out["type"] = ttype
    if ttype is not None:
        if props.get("gb_class"):
            out["gb_class"] = vocab.GBClass(props["gb_class"])
            out["gb_class_derived"] = False
        else:
            derived = c.run(
                lambda: derive_gb_class(
                    ttype, props.get("population"), props.get("households"), field=c.field("gb_class")
                )
            )
            out["gb_class"] = derived
            out["gb_class_derived"] = True
    c.done()
    return out
