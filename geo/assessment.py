"""Level of one risk unit from an LEC, LS or MES score, or given directly; factor values and score
cut-offs come from data/assessment_factors.csv and data/assessment_bands.csv, never from this code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from itertools import pairwise
from math import prod
from typing import Any

from geo.errors import InvalidInput, Problem, SetupError
from geo.resources import read_table
from geo.vocab import LEVEL_NAMES_ZH, AssessmentMethod

FACTORS_FILE = "assessment_factors.csv"
BANDS_FILE = "assessment_bands.csv"
DEFAULT_TABLE = "default"
LEVELS = (1, 2, 3, 4)
SCORED_METHODS = (AssessmentMethod.LEC, AssessmentMethod.LS, AssessmentMethod.MES)


@dataclass(frozen=True)
class FactorValue:
    """One allowed value of one factor (e.g. LEC L = 10, 完全可以预料)."""

    method: AssessmentMethod
    factor: str
    value: float
    meaning_zh: str
    source: str


@dataclass(frozen=True)
class Band:
    """Scores in (min_exclusive, max_inclusive] get `level`; None means the side is open."""

    method: AssessmentMethod
    table: str
    level: int
    min_exclusive: float | None
    max_inclusive: float | None
    source: str

    def contains(self, score: float) -> bool:
        return _band_contains(self, _exact(score))


@dataclass(frozen=True)
class Assessment:
    """The outcome of `assess`: the canonical inputs (upper-case factor names), the score, the level."""

    method: AssessmentMethod
    inputs: dict[str, float]
    score: float | None
    level: int
    table: str


@dataclass(frozen=True)
class _Tables:
    factors: dict[AssessmentMethod, dict[str, tuple[FactorValue, ...]]]
    bands: dict[tuple[AssessmentMethod, str], tuple[Band, ...]]  # ascending score order


def _exact(x: float | int | Decimal) -> Decimal:
    """A float as the decimal it was written as (0.1 -> Decimal('0.1')), so products are exact."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, int):
        return Decimal(x)
    return Decimal(repr(float(x)))


def _fmt(x: float | Decimal) -> str:
    """400.0 -> '400', 0.05 -> '0.05'."""
    d = _exact(x).normalize()
    return format(d, "f")


def _band_contains(band: Band, score: Decimal) -> bool:
    above = band.min_exclusive is None or score > _exact(band.min_exclusive)
    below = band.max_inclusive is None or score <= _exact(band.max_inclusive)
    return above and below


def _bad_data(file: str, row: int | None, reason: str) -> SetupError:
    where = f"data/{file}" + (f" row {row}" if row is not None else "")
    return SetupError(f"{where}: {reason}; fix the file (or $RISKMAP_DATA_DIR) and restart")


def _csv_number(text: str, file: str, row: int) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise _bad_data(file, row, f"{text!r} is not a number") from None
    if not d.is_finite():
        raise _bad_data(file, row, f"{text!r} is not a finite number")
    return d


def _csv_method(text: str, file: str, row: int) -> AssessmentMethod:
    try:
        m = AssessmentMethod(text.strip())
    except ValueError:
        raise _bad_data(file, row, f"unknown method {text!r}") from None
    if m not in SCORED_METHODS:
        raise _bad_data(file, row, f"method {m} takes no factors or bands")
    return m


def _load_factors() -> dict[AssessmentMethod, dict[str, tuple[FactorValue, ...]]]:
    out: dict[AssessmentMethod, dict[str, list[FactorValue]]] = {}
    for i, r in enumerate(read_table(FACTORS_FILE), start=2):
        m = _csv_method(r["method"], FACTORS_FILE, i)
        factor = r["factor"].strip().upper()
        value = _csv_number(r["value"], FACTORS_FILE, i)
        if not factor or value is None or value <= 0:
            raise _bad_data(FACTORS_FILE, i, "factor and a positive value are required")
        values = out.setdefault(m, {}).setdefault(factor, [])
        if any(_exact(v.value) == value for v in values):
            raise _bad_data(FACTORS_FILE, i, f"{m} {factor} = {r['value']} is listed twice")
        values.append(FactorValue(m, factor, float(value), r["meaning_zh"].strip(), r["source"].strip()))
    missing = [m for m in SCORED_METHODS if m not in out]
    if missing:
        raise _bad_data(FACTORS_FILE, None, f"no factors for {', '.join(missing)}")
    return {m: {f: tuple(v) for f, v in fs.items()} for m, fs in out.items()}


def _load_bands() -> dict[tuple[AssessmentMethod, str], tuple[Band, ...]]:
    grouped: dict[tuple[AssessmentMethod, str], list[Band]] = {}
    for i, r in enumerate(read_table(BANDS_FILE), start=2):
        m = _csv_method(r["method"], BANDS_FILE, i)
        table = r["table"].strip()
        level_text = r["level"].strip()
        if not table or level_text not in {str(v) for v in LEVELS}:
            raise _bad_data(BANDS_FILE, i, "a table name and a level 1–4 are required")
        lo = _csv_number(r["min_exclusive"], BANDS_FILE, i)
        hi = _csv_number(r["max_inclusive"], BANDS_FILE, i)
        if lo is not None and hi is not None and lo >= hi:
            raise _bad_data(BANDS_FILE, i, "min_exclusive must be below max_inclusive")
        band = Band(
            m,
            table,
            int(level_text),
            None if lo is None else float(lo),
            None if hi is None else float(hi),
            r["source"].strip(),
        )
        grouped.setdefault((m, table), []).append(band)
    for (m, table), bs in grouped.items():
        bs.sort(key=lambda b: (b.min_exclusive is not None, b.min_exclusive or 0.0))
        name = f"{m} table {table!r}"
        if bs[0].min_exclusive is not None or bs[-1].max_inclusive is not None:
            raise _bad_data(BANDS_FILE, None, f"{name}: the lowest band needs no minimum, the top no maximum")
        for below, above in pairwise(bs):
            if below.max_inclusive != above.min_exclusive:
                raise _bad_data(BANDS_FILE, None, f"{name}: bands must meet without gap or overlap")
            if above.level >= below.level:
                raise _bad_data(BANDS_FILE, None, f"{name}: a higher score must give a more severe level")
    if any(m not in {k[0] for k in grouped} for m in SCORED_METHODS):
        raise _bad_data(BANDS_FILE, None, "every scored method needs a band table")
    return {k: tuple(v) for k, v in grouped.items()}


@cache
def _tables() -> _Tables:
    return _Tables(_load_factors(), _load_bands())


def _parse_method(value: Any, field: str) -> AssessmentMethod:
    if isinstance(value, AssessmentMethod):
        return value
    if isinstance(value, str):
        wanted = value.strip().lower()
        for m in AssessmentMethod:
            if m.value.lower() == wanted:
                return m
    allowed = ", ".join(m.value for m in AssessmentMethod)
    raise InvalidInput.one(
        field,
        f"unknown assessment method {value!r}; expected one of: {allowed}",
        f"未知的评价方法：{value}（可选：{allowed}）",
    )


def _scored_method(value: Any, field: str) -> AssessmentMethod:
    m = _parse_method(value, field)
    if m not in SCORED_METHODS:
        raise InvalidInput.one(field, f"the {m} method has no score", f"{m} 方法没有分值")
    return m


def _parse_level(value: Any, field: str) -> int:
    """An integer 1..4; '2' and 2.0 are accepted, True, 2.5 and 0 are not."""
    n: int | None = None
    if isinstance(value, bool):
        n = None
    elif isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value.strip())
    if n not in LEVELS:
        raise InvalidInput.one(
            field,
            f"level must be an integer 1–4 (1 重大/red … 4 低/blue), got {value!r}",
            f"风险等级须为 1–4 的整数（1 重大风险 … 4 低风险），收到：{value}",
        )
    return n


def _parse_number(value: Any) -> Decimal | None:
    """A finite number from an int, float, Decimal or numeric string; None otherwise (bool too)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, Decimal):
            d = value
        elif isinstance(value, int | float):
            d = _exact(value)
        elif isinstance(value, str):
            d = Decimal(value.strip())
        else:
            return None
    except (InvalidOperation, ValueError, OverflowError):
        return None
    return d if d.is_finite() else None


def _table_bands(m: AssessmentMethod, table: Any, field: str) -> tuple[Band, ...]:
    bands_by_table = _tables().bands
    if isinstance(table, str) and (m, table) in bands_by_table:
        return bands_by_table[(m, table)]
    known = ", ".join(sorted(t for mm, t in bands_by_table if mm == m))
    raise InvalidInput.one(
        field,
        f"unknown {m} score table {table!r}; expected one of: {known}",
        f"未知的 {m} 分级表：{table}（可选：{known}）",
    )


def _level_in(bands: tuple[Band, ...], score: Decimal) -> int:
    for b in bands:
        if _band_contains(b, score):
            return b.level
    raise AssertionError("bands are checked to cover every score")  # pragma: no cover


def factors(method: str | AssessmentMethod) -> dict[str, tuple[FactorValue, ...]]:
    """The factors of a scored method and their allowed values, in file order (for forms and docs)."""
    return dict(_tables().factors[_scored_method(method, "method")])


def tables(method: str | AssessmentMethod) -> list[str]:
    """Names of the band tables available for a scored method ('default' first)."""
    m = _scored_method(method, "method")
    names = [t for mm, t in _tables().bands if mm == m]
    return sorted(names, key=lambda t: (t != DEFAULT_TABLE, t))


def bands(method: str | AssessmentMethod, table: str = DEFAULT_TABLE) -> list[Band]:
    """The bands of one table, level 1 (highest scores) first."""
    m = _scored_method(method, "method")
    return sorted(_table_bands(m, table, "table"), key=lambda b: b.level)


def level_for_score(method: str | AssessmentMethod, score: float, table: str = DEFAULT_TABLE) -> int:
    """The level 1–4 a score of a scored method falls in, by the named band table."""
    m = _scored_method(method, "method")
    table_bands = _table_bands(m, table, "table")
    d = _parse_number(score)
    if d is None or d <= 0:
        raise InvalidInput.one(
            "score", f"score must be a positive number, got {score!r}", f"分值须为正数：{score}"
        )
    return _level_in(table_bands, d)


def _factor_inputs(m: AssessmentMethod, inputs: Mapping[str, Any] | None, field: str) -> dict[str, Decimal]:
    """Check the factor values against the allowed ones; every problem is reported at once."""
    allowed = _tables().factors[m]
    names = ", ".join(allowed)
    if inputs is None:
        raise InvalidInput.one(
            f"{field}.inputs",
            f"the {m} method needs the factors {names}",
            f"{m} 方法须填写因子 {names}",
        )
    problems: list[Problem] = []
    got: dict[str, Decimal] = {}
    for key, raw in inputs.items():
        name = key.strip().upper() if isinstance(key, str) else None
        if name not in allowed:
            problems.append(
                Problem(
                    f"{field}.inputs.{key}",
                    f"unknown {m} factor {key!r}; expected {names}",
                    f"{m} 方法没有因子 {key}（应为 {names}）",
                )
            )
            continue
        path = f"{field}.inputs.{name}"
        if name in got:
            problems.append(Problem(path, f"factor {name} is given twice", f"因子 {name} 重复填写"))
            continue
        values = allowed[name]
        shown = ", ".join(_fmt(v.value) for v in values)
        d = _parse_number(raw)
        if d is None or all(d != _exact(v.value) for v in values):
            problems.append(
                Problem(
                    path,
                    f"{raw!r} is not an allowed {m} {name} value; allowed: {shown}",
                    f"{m} 因子 {name} 的取值 {raw} 不在允许范围内（可选：{shown}）",
                )
            )
            continue
        got[name] = d
    for name in allowed:
        if name not in got and not any(p.field == f"{field}.inputs.{name}" for p in problems):
            shown = ", ".join(_fmt(v.value) for v in allowed[name])
            problems.append(
                Problem(
                    f"{field}.inputs.{name}",
                    f"factor {name} is missing; allowed: {shown}",
                    f"缺少因子 {name}（可选：{shown}）",
                )
            )
    if problems:
        raise InvalidInput(problems)
    return {name: got[name] for name in allowed}


def assess(
    method: str | AssessmentMethod,
    inputs: Mapping[str, Any] | None,
    *,
    level: int | None = None,
    table: str = DEFAULT_TABLE,
    field: str = "assessment",
) -> Assessment:
    """Score and grade one risk unit.

    LEC/LS/MES: every factor is required (keys case-insensitive), each one of the allowed values; the
    score is their product and the level comes from the band table. A `level` given as well must agree.
    direct: `level` is required, `inputs` are not scored or kept, the score is None.
    """
    m = _parse_method(method, f"{field}.method")
    given = None if level is None else _parse_level(level, "level")
    if inputs is not None and not isinstance(inputs, Mapping):
        raise InvalidInput.one(
            f"{field}.inputs", "inputs must be an object of factor: value", "inputs 须为“因子: 取值”的对象"
        )
    if m is AssessmentMethod.direct:
        if table != DEFAULT_TABLE:
            raise InvalidInput.one(
                f"{field}.table", "the direct method has no score tables", "直接定级方法没有分级表"
            )
        if given is None:
            raise InvalidInput.one(
                "level", "level is required for the direct method", "直接定级时须填写风险等级 level"
            )
        return Assessment(m, {}, None, given, DEFAULT_TABLE)
    table_bands = _table_bands(m, table, f"{field}.table")
    values = _factor_inputs(m, inputs, field)
    score = prod(values.values(), start=Decimal(1))
    computed = _level_in(table_bands, score)
    if given is not None and given != computed:
        raise InvalidInput.one(
            "level",
            f"level {given} contradicts the {m} score {_fmt(score)} (level {computed})",
            f"风险等级 {given}（{LEVEL_NAMES_ZH[given]}）与 {m} 分值 {_fmt(score)} "
            f"对应的等级 {computed}（{LEVEL_NAMES_ZH[computed]}）不符",
        )
    return Assessment(m, {k: float(v) for k, v in values.items()}, float(score), computed, table)
