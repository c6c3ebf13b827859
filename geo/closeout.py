"""Assignment (交办) and close-out (销号) of major and large risks (seed 002 三(二) 2 and 4): the states
of a case, its deadlines in working days, and what a close-out request must contain. Pure rules; the
database side is geo/store/closeout.py.

- 交办制: a risk judged major (1) or large (2) is assigned by letter to the unit responsible for it
  within 3 working days.
- 销号制: once controls bring it down to general (3) or low (4), that unit's principal person
  (主要负责人) signs a close-out request to the assigning office, which verifies it within 10 working
  days; a closed-out major risk is announced to the public (公示).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from geo.assessment import assess
from geo.errors import Conflict, InvalidInput, NotFound, Problem, SetupError
from geo.resources import read_table
from geo.vocab import LEVEL_NAMES_ZH

ASSIGNMENT_WORKING_DAYS = 3  # seed 002 三(二)2 交办制: 于3个工作日内…发函交办
VERIFICATION_WORKING_DAYS = 10  # seed 002 三(二)4 销号制: 交办单位10个工作日内组织核查或验收
MAJOR_OR_LARGE = (1, 2)
GENERAL_OR_LOW = (3, 4)
CALENDAR_FILE = "cn_working_calendar.csv"
TIMEZONE = ZoneInfo("Asia/Shanghai")


class Status(StrEnum):
    assigned = "assigned"  # 已交办: waiting for the responsible unit's request
    requested = "requested"  # 已申请销号: waiting for verification
    rejected = "rejected"  # 核查未通过: the unit may request again
    approved = "approved"  # 已销号


class Action(StrEnum):
    assign = "assign"
    request = "request"
    approve = "approve"
    reject = "reject"


TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.assigned, Action.request): Status.requested,
    (Status.rejected, Action.request): Status.requested,
    (Status.requested, Action.approve): Status.approved,
    (Status.requested, Action.reject): Status.rejected,
}
STATUS_ZH = {
    Status.assigned: "已交办",
    Status.requested: "已申请销号",
    Status.rejected: "核查未通过",
    Status.approved: "已销号",
}


class CaseConflict(Conflict):
    """A step that the case's state or the unit's level does not allow (HTTP 409), naming the field."""

    def __init__(self, field_name: str, reason: str, reason_zh: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.problems = [Problem(field_name, reason, reason_zh)]  # after the base, which may set its own


class CaseNotFound(NotFound):
    """No such case or risk unit, or none the caller may see (HTTP 404), naming the field."""

    def __init__(self, field_name: str, reason: str, reason_zh: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.problems = [Problem(field_name, reason, reason_zh)]  # after the base, which may set its own


def next_status(status: Status, action: Action) -> Status:
    """The state after `action`, or CaseConflict when the case is not in a state that allows it."""
    after = TRANSITIONS.get((status, action))
    if after is None:
        allowed = sorted({s.value for s, a in TRANSITIONS if a is action})
        raise CaseConflict(
            "status",
            f"cannot {action.value} a case that is {status.value} (only one that is {' or '.join(allowed)})",
            f"案件当前状态为“{STATUS_ZH[status]}”，不能{_ACTION_ZH[action]}",
        )
    return after


_ACTION_ZH = {
    Action.assign: "交办",
    Action.request: "申请销号",
    Action.approve: "核查通过",
    Action.reject: "退回",
}


def today() -> dt.date:
    """Today in Beijing: the date deadlines are counted from."""
    return dt.datetime.now(TIMEZONE).date()


# --- working days ------------------------------------------------------------------------------------


# Statutory holidays on fixed solar dates (《全国年节及纪念日放假办法》 as revised by 国务院令第795号, in force
# 2025-01-01): 元旦 1 Jan, 劳动节 1–2 May, 国庆节 1–3 Oct. Past the loaded notices these are known to be days
# off; the lunar holidays (春节, 清明, 端午, 中秋) and the make-up days are not, so such deadlines stay
# provisional.
FIXED_HOLIDAYS: frozenset[tuple[int, int]] = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


@dataclass(frozen=True)
class WorkingCalendar:
    """Mainland China's working days: Monday to Friday, less the statutory holidays, plus the make-up
    working days (调休上班) on weekends, as the State Council's yearly notices set them. Past the years
    the notices cover only weekends and the fixed-date holidays are known: deadlines there are
    provisional."""

    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    first: dt.date
    last: dt.date
    years: frozenset[int] = frozenset()

    def covers(self, day: dt.date) -> bool:
        if self.years:
            return day.year in self.years
        return self.first <= day <= self.last

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        if day.weekday() >= 5 or day in self.holidays:
            return False
        return self.covers(day) or (day.month, day.day) not in FIXED_HOLIDAYS

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after `start` (not counting `start` itself): the last day of a period of
        n working days that begins the day after."""
        day, left = start, n
        while left > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; 0 when end is not after start."""
        n, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            n += self.is_working_day(day)
        return n


@dataclass(frozen=True)
class CalendarDay:
    day: dt.date
    kind: str  # holiday | workday
    name: str
    source: str


def _calendar_error(row: int, reason: str) -> SetupError:
    return SetupError(f"data/{CALENDAR_FILE} row {row}: {reason}")


def parse_calendar_rows(rows: Iterable[Mapping[str, Any]], *, first_row: int = 2) -> list[CalendarDay]:
    """Days of a State Council holiday notice (date, kind holiday|workday, name, source), checked: every
    problem at once, naming the row (the header is row 1)."""
    problems: list[Problem] = []
    out: list[CalendarDay] = []
    seen: dict[dt.date, int] = {}
    for i, row in enumerate(rows, start=first_row):
        where = f"row {i}"
        raw = str(row.get("date") or "").strip()
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            problems.append(
                Problem(f"{where}.date", f"not a date (YYYY-MM-DD): {raw!r}", f"不是日期：{raw!r}")
            )
            continue
        kind = str(row.get("kind") or "").strip()
        source = str(row.get("source") or "").strip()
        if kind not in ("holiday", "workday"):
            problems.append(
                Problem(
                    f"{where}.kind",
                    f"holiday or workday, not {kind!r}",
                    "应为 holiday（放假）或 workday（调休上班）",
                )
            )
        elif kind == "workday" and day.weekday() < 5:
            problems.append(
                Problem(
                    f"{where}.kind",
                    f"{day} is a weekday: a make-up working day falls on a weekend",
                    f"{day} 是工作日：调休上班日应在周末",
                )
            )
        if not source:
            problems.append(
                Problem(f"{where}.source", "name the State Council notice", "须注明国务院办公厅通知文号")
            )
        if day in seen:
            problems.append(
                Problem(
                    f"{where}.date",
                    f"{day} is listed twice (row {seen[day]})",
                    f"{day} 重复（第 {seen[day]} 行）",
                )
            )
        seen[day] = i
        out.append(CalendarDay(day, kind, str(row.get("name") or "").strip(), source))
    if problems:
        raise InvalidInput(problems)
    if not out:
        raise InvalidInput.one("file", "no days in the file", "文件中没有日期")
    return out


_loaded: tuple[CalendarDay, ...] = ()


def install_days(days: Iterable[CalendarDay]) -> None:
    """Add the days of notices loaded after this release (`riskmap calendar load`, kept in the database)
    to the packaged table; a loaded day overrides the table's."""
    global _loaded
    _loaded = tuple(days)
    calendar.cache_clear()


@cache
def calendar() -> WorkingCalendar:
    try:
        days = {d.day: d for d in parse_calendar_rows(read_table(CALENDAR_FILE))}
    except InvalidInput as exc:
        raise SetupError(f"data/{CALENDAR_FILE}: {exc.message}") from None
    days.update({d.day: d for d in _loaded})
    if not days:
        raise SetupError(f"data/{CALENDAR_FILE} is empty")
    holidays = frozenset(d for d, v in days.items() if v.kind == "holiday")
    workdays = frozenset(d for d, v in days.items() if v.kind == "workday")
    years = frozenset(d.year for d in days)
    return WorkingCalendar(holidays, workdays, dt.date(min(years), 1, 1), dt.date(max(years), 12, 31), years)


def assignment_due(identified_on: dt.date) -> dt.date:
    return calendar().add_working_days(identified_on, ASSIGNMENT_WORKING_DAYS)


def verification_due(requested_on: dt.date) -> dt.date:
    return calendar().add_working_days(requested_on, VERIFICATION_WORKING_DAYS)


def working_days_overdue(due: dt.date, as_of: dt.date) -> int:
    """How many working days past `due` it is on `as_of` (0 while on time)."""
    return calendar().working_days_between(due, as_of)


# --- what a step must contain -----------------------------------------------------------------------


def check_assignable(level: int) -> None:
    if level not in MAJOR_OR_LARGE:
        raise InvalidInput.one(
            "risk_unit_id",
            f"only major (1) or large (2) risks are assigned and closed out; this unit is level {level}",
            f"只有重大、较大风险需交办和销号；该风险点为{LEVEL_NAMES_ZH.get(level, str(level))}",
        )


def check_step_date(
    day: dt.date, *, field_name: str, not_before: dt.date, before_what: str, before_zh: str, on: dt.date
) -> None:
    """A step's date lies between the previous step's and today (`on`)."""
    if day > on:
        raise InvalidInput.one(field_name, f"{day} is in the future", f"{day} 晚于今天")
    if day < not_before:
        raise InvalidInput.one(
            field_name,
            f"{day} is before {before_what} ({not_before})",
            f"{day} 早于{before_zh}（{not_before}）",
        )


@dataclass(frozen=True)
class CloseOutRequest:
    """A close-out request (销号申请): the new controls, the level they bring, who signed."""

    evidence: str
    signed_by: str
    level: int
    method: str | None
    inputs: dict[str, float] | None
    score: float | None
    table: str | None


def check_request(body: Mapping[str, Any]) -> CloseOutRequest:
    """Evidence of the new controls and the principal person's signature are required; the new level is
    given (`proposed_level`) or assessed from `assessment_method` and `assessment_inputs` (they must
    agree when both are given) and must be general (3) or low (4). All problems at once."""
    problems: list[Problem] = []
    evidence = str(body.get("evidence") or "").strip()
    signed_by = str(body.get("signed_by") or "").strip()
    if not evidence:
        problems.append(
            Problem("evidence", "describe the new controls that lower the risk", "须说明降低风险的管控措施")
        )
    if not signed_by:
        problems.append(
            Problem(
                "signed_by",
                "the request is signed by the responsible unit's principal person (主要负责人)",
                "销号申请须由治理责任单位主要负责人签字确认",
            )
        )
    method = body.get("assessment_method")
    level = body.get("proposed_level")
    result = None
    if method is None and level is None:
        problems.append(
            Problem(
                "proposed_level",
                "give the new level (3 or 4) or the new assessment (assessment_method and assessment_inputs)",
                "须给出降级后的等级（3 或 4）或重新评估的方法与取值",
            )
        )
    else:
        try:
            result = assess(
                method or "direct",
                body.get("assessment_inputs"),
                level=level,
                table=body.get("assessment_table") or "default",
                field="assessment",
            )
        except InvalidInput as exc:
            problems.extend(
                Problem("proposed_level", p.reason, p.reason_zh) if p.field == "level" else p
                for p in exc.problems
            )
    if result is not None and result.level not in GENERAL_OR_LOW:
        problems.append(
            Problem(
                "proposed_level",
                f"a close-out needs the risk brought down to general (3) or low (4), not {result.level}",
                f"销号须将风险降为一般或低风险，而非{LEVEL_NAMES_ZH[result.level]}",
            )
        )
    if problems or result is None:
        raise InvalidInput(problems)
    scored = result.score is not None
    return CloseOutRequest(
        evidence=evidence,
        signed_by=signed_by,
        level=result.level,
        method=str(result.method),
        inputs=result.inputs if scored else None,
        score=result.score,
        table=result.table if scored else None,
    )
