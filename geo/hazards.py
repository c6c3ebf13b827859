"""Hidden-hazard inspection and governance (隐患排查治理), the second half of the dual prevention
mechanism: the states of a hazard (隐患), who may take each step, its deadlines in working days, what a
major hazard (重大事故隐患) must carry, attachments, and the dynamic level an open hazard gives its risk
unit. Pure rules; the database side is geo/store/hazards.py.

The loop (domain.md §9; seeds 000 (九), 002 二(一)1–4): 排查 → 隐患 reported, graded 一般 / 重大 →
整改通知 with a deadline (assigned) → rectifying → rectified → accepted (验收; for a major hazard the
third-party evaluation of seed 002 二(一)3, due within 10 working days of the rectification) → closed
(销号). A failed acceptance re-opens it (back to rectifying). A regulator may list a major hazard for
supervision (挂牌督办); closing it ends the listing ("通过后方能予解除督办").

Four eyes (issue #14 item 7): whoever rectified a hazard does not accept or close it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from geo.closeout import calendar
from geo.errors import Conflict, InvalidInput, Problem, SetupError
from geo.resources import read_table

EVALUATION_WORKING_DAYS = 10  # seed 002 二(一)3: 督办部门在10个工作日内组织第三方对整改效果进行评估
MAX_DEADLINE_WORKING_DAYS = 250  # about a year: a longer time limit is a plan, not a rectification
CRITERIA_FILE = "major_hazard_criteria.csv"
DYNAMIC_RULES_FILE = "dynamic_risk_rules.csv"


class Grade(StrEnum):
    general = "general"  # 一般事故隐患
    major = "major"  # 重大事故隐患


GRADE_ZH = {Grade.general: "一般隐患", Grade.major: "重大隐患"}


class Status(StrEnum):
    reported = "reported"  # 已上报: found by an inspection or reported, not yet assigned
    assigned = "assigned"  # 已下达整改通知: a notice with a deadline
    rectifying = "rectifying"  # 整改中
    rectified = "rectified"  # 已整改, waiting for acceptance (major: third-party evaluation)
    accepted = "accepted"  # 已验收 / 评估通过
    closed = "closed"  # 已销号


STATUS_ZH = {
    Status.reported: "已上报",
    Status.assigned: "已下达整改通知",
    Status.rectifying: "整改中",
    Status.rectified: "已整改待验收",
    Status.accepted: "已验收",
    Status.closed: "已销号",
}
OPEN_STATUSES = (Status.reported, Status.assigned, Status.rectifying, Status.rectified)
DEADLINE_RUNNING = (Status.assigned, Status.rectifying)


class Action(StrEnum):
    assign = "assign"  # 下达整改通知 (deadline, and the 五落实 of a major hazard)
    start = "start"  # 开始整改
    rectify = "rectify"  # 整改完成
    accept = "accept"  # 验收通过 / 第三方评估通过
    reject = "reject"  # 验收不通过: re-opened
    close = "close"  # 销号
    supervise = "supervise"  # 挂牌督办 (major only, any open state)


ACTION_ZH = {
    Action.assign: "下达整改通知",
    Action.start: "开始整改",
    Action.rectify: "报告整改完成",
    Action.accept: "验收通过",
    Action.reject: "验收不通过",
    Action.close: "销号",
    Action.supervise: "挂牌督办",
}

TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.reported, Action.assign): Status.assigned,
    (Status.assigned, Action.start): Status.rectifying,
    (Status.assigned, Action.rectify): Status.rectified,
    (Status.rectifying, Action.rectify): Status.rectified,
    (Status.rectified, Action.accept): Status.accepted,
    (Status.rectified, Action.reject): Status.rectifying,
    (Status.accepted, Action.close): Status.closed,
}


class HazardConflict(Conflict):
    """A step the hazard's state does not allow (HTTP 409), naming the field."""

    def __init__(self, field_name: str, reason: str, reason_zh: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.problems = [Problem(field_name, reason, reason_zh)]


def next_status(status: Status, action: Action) -> Status:
    """The state after `action`, or HazardConflict naming what the state allows."""
    after = TRANSITIONS.get((status, action))
    if after is None:
        allowed = sorted({s.value for s, a in TRANSITIONS if a is action})
        raise HazardConflict(
            "status",
            f"cannot {action.value} a hazard that is {status.value} (only one that is {' or '.join(allowed)})",
            f"隐患当前状态为“{STATUS_ZH[status]}”，不能{ACTION_ZH[action]}",
        )
    return after


# --- deadlines ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """A date and whether the working-day calendar covers it (past its last year only weekends are known:
    the deadline is provisional until the State Council's notice for that year is loaded)."""

    day: dt.date
    provisional: bool


def deadline(start: dt.date, working_days: int) -> Deadline:
    cal = calendar()
    day = cal.add_working_days(start, working_days)
    return Deadline(day, not cal.covers(day))


def check_deadline(*, on: dt.date, today: dt.date, working_days: int | None, due: dt.date | None) -> Deadline:
    """The rectification deadline (整改期限): `working_days` after the notice, or a date given outright,
    which must not be in the past nor on a day off. One of the two is required."""
    cal = calendar()
    if (working_days is None) == (due is None):
        raise InvalidInput.one(
            "deadline",
            "give the time limit either as working_days or as a deadline date (one of them)",
            "整改期限须以工作日数（working_days）或截止日期（deadline）二者之一给出",
        )
    if working_days is not None:
        if not 1 <= working_days <= MAX_DEADLINE_WORKING_DAYS:
            raise InvalidInput.one(
                "working_days",
                f"between 1 and {MAX_DEADLINE_WORKING_DAYS} working days",
                f"应在 1 至 {MAX_DEADLINE_WORKING_DAYS} 个工作日之间",
            )
        return deadline(on, working_days)
    assert due is not None
    if due < max(on, today):
        raise InvalidInput.one("deadline", f"{due} is in the past", f"截止日期 {due} 已过")
    if cal.covers(due) and not cal.is_working_day(due):
        raise InvalidInput.one(
            "deadline", f"{due} is not a working day", f"{due} 不是工作日（法定节假日或周末）"
        )
    return Deadline(due, not cal.covers(due))


def working_days_overdue(due: dt.date, as_of: dt.date) -> int:
    return calendar().working_days_between(due, as_of)


def evaluation_due(rectified_on: dt.date) -> Deadline:
    """Seed 002 二(一)3: a major hazard's rectification is evaluated by a third party within 10 working days."""
    return deadline(rectified_on, EVALUATION_WORKING_DAYS)


# --- what a step must carry ------------------------------------------------------------------------------

FIVE_IMPLEMENTATIONS = {
    # 五落实 (seed 002 二(一)1: 整改措施、责任、资金、时间和预案): field → (English, Chinese)
    "responsible": ("responsibility (the person or unit responsible)", "责任"),
    "measures": ("measures", "措施"),
    "funds": ("funds", "资金"),
    "plan": ("emergency plan during rectification", "预案"),
}


def check_assignment(grade: Grade, body: Mapping[str, Any]) -> None:
    """A notice names who rectifies; a major hazard's notice carries all of 五落实 (the time limit is the
    deadline)."""
    problems: list[Problem] = []
    required = (
        FIVE_IMPLEMENTATIONS if grade is Grade.major else {"responsible": FIVE_IMPLEMENTATIONS["responsible"]}
    )
    for field_name, (en, zh) in required.items():
        if not str(body.get(field_name) or "").strip():
            why = "a major hazard needs all of 五落实" if grade is Grade.major else "the notice names"
            problems.append(Problem(field_name, f"{why}: {en}", f"须落实{zh}"))
    if problems:
        raise InvalidInput(problems)


def check_major_criterion(grade: Grade, criterion: str | None) -> None:
    """A major hazard names the criterion it was judged by (data/major_hazard_criteria.csv)."""
    if grade is Grade.major:
        if not criterion:
            raise InvalidInput.one(
                "criterion",
                "a major hazard names the criterion it was judged by (GET /api/v1/vocabularies: major_hazard_criteria)",
                "重大事故隐患须注明判定依据（判定标准条目）",
            )
        if criterion not in criteria():
            raise InvalidInput.one(
                "criterion", f"unknown criterion {criterion!r}", f"未知的判定标准条目 {criterion!r}"
            )
    elif criterion is not None and criterion not in criteria():
        raise InvalidInput.one(
            "criterion", f"unknown criterion {criterion!r}", f"未知的判定标准条目 {criterion!r}"
        )


def check_four_eyes(action: Action, actor: str, *, rectified_by: str | None) -> None:
    """Whoever rectified a hazard does not accept, reject or close it (the inspector who found it may
    check the fix: that is a second pair of eyes on someone else's work)."""
    if action in (Action.accept, Action.reject, Action.close) and actor == rectified_by:
        raise InvalidInput.one(
            "actor",
            f"{actor} rectified this hazard and may not {action.value} it (four eyes: another person does)",
            f"{actor} 为该隐患的整改人，不能{ACTION_ZH[action]}（须由他人验收）",
        )


# --- attachments -------------------------------------------------------------------------------------------

ATTACHMENT_TYPES = {
    # media type → the first bytes every such file starts with
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}


def attachment_type(data: bytes, *, max_bytes: int, field_name: str = "file") -> str:
    """The media type of a photo or document, judged by its content (not its name or the client's word):
    JPEG, PNG or PDF, at most `max_bytes`."""
    if not data:
        raise InvalidInput.one(field_name, "the file is empty", "文件为空")
    if len(data) > max_bytes:
        raise InvalidInput.one(
            field_name,
            f"the file is {len(data)} bytes; at most {max_bytes} are accepted",
            f"文件大小 {len(data)} 字节，超过上限 {max_bytes} 字节",
        )
    for media_type, magics in ATTACHMENT_TYPES.items():
        if any(data.startswith(m) for m in magics):
            return media_type
    raise InvalidInput.one(
        field_name,
        "only photos (JPEG, PNG) and PDF documents are accepted",
        "只接受照片（JPEG、PNG）和 PDF 文件",
    )


# --- reference data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    code: str
    sector: str
    text: str
    source: str
    verified: bool


@cache
def criteria() -> dict[str, Criterion]:
    """The criteria a 重大事故隐患 is judged by, each with its source (data/major_hazard_criteria.csv)."""
    out: dict[str, Criterion] = {}
    for i, row in enumerate(read_table(CRITERIA_FILE), start=2):
        if not row.get("source"):
            raise SetupError(f"data/{CRITERIA_FILE} row {i}: every criterion needs its source")
        out[row["code"]] = Criterion(
            row["code"], row["sector"], row["criterion_zh"], row["source"], row["verified"] == "yes"
        )
    return out


@dataclass(frozen=True)
class DynamicRule:
    """One rule of data/dynamic_risk_rules.csv: `min_open` open hazards of `grade` on a unit either set its
    level to `value` (`set`) or raise it by `value` levels (`raise`, towards 1)."""

    code: str
    grade: Grade
    min_open: int
    effect: str
    value: int
    text_zh: str
    source: str


@cache
def dynamic_rules() -> tuple[DynamicRule, ...]:
    rules = []
    for i, row in enumerate(read_table(DYNAMIC_RULES_FILE), start=2):
        effect = row["effect"]
        if effect not in ("set", "raise"):
            raise SetupError(
                f"data/{DYNAMIC_RULES_FILE} row {i}: effect must be set or raise, not {effect!r}"
            )
        if not row.get("source"):
            raise SetupError(f"data/{DYNAMIC_RULES_FILE} row {i}: every rule needs its source")
        rules.append(
            DynamicRule(
                row["code"],
                Grade(row["grade"]),
                int(row["min_open"]),
                effect,
                int(row["value"]),
                row["rule_zh"],
                row["source"],
            )
        )
    return tuple(rules)


@dataclass(frozen=True)
class DynamicLevel:
    """A unit's level with its open hazards counted: `level` (1–4), the `assessed` level, and the rules and
    hazards that raised it (empty when it is the assessed level)."""

    level: int
    assessed: int
    rules: tuple[str, ...]
    hazard_ids: tuple[int, ...]

    @property
    def raised(self) -> bool:
        return self.level < self.assessed


def dynamic_level(
    assessed: int, open_hazards: Iterable[tuple[int, str]], rules: Sequence[DynamicRule] | None = None
) -> DynamicLevel:
    """The level shown for a risk unit while hazards on it are open (`open_hazards`: (id, grade) pairs).
    Each rule that applies gives a candidate level; the most severe wins (就高), never below the assessed
    one. Which hazards raised it: those of the grades whose rules decided."""
    rules = dynamic_rules() if rules is None else rules
    by_grade: dict[Grade, list[int]] = {}
    for hazard_id, grade in open_hazards:
        by_grade.setdefault(Grade(grade), []).append(hazard_id)
    level, fired, ids = assessed, [], set()
    for rule in rules:
        found = by_grade.get(rule.grade, [])
        if len(found) < rule.min_open:
            continue
        candidate = rule.value if rule.effect == "set" else max(1, assessed - rule.value)
        if candidate < assessed:
            fired.append(rule.code)
            ids.update(found)
            level = min(level, candidate)
    return DynamicLevel(level, assessed, tuple(fired), tuple(sorted(ids)))
