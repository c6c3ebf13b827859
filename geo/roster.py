"""The regulators' roster of law-enforcement inspectors (执法人员名录库, seed 002 二(二)1) as offices keep it
in Excel: the columns it may have, and every row checked before anything is stored (all problems at
once, naming the row and the column). The 双随机 draw and the cross-inspection teams use the stored
roster (geo.joint_prevention.Inspector) instead of a synthetic one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from geo.codes import validate_adcode, validate_credit_code
from geo.errors import InvalidInput, Problem
from geo.io.readers import RawTable

# field → the headers a roster may use for it (compared without spaces, brackets and case)
HEADERS: Final = {
    "name": ("姓名", "执法人员", "执法人员姓名", "name"),
    "code": ("执法证号", "执法证件号", "执法证编号", "证件号", "certificate", "code"),
    "jurisdiction_adcode": ("所属辖区代码", "行政区划代码", "辖区代码", "adcode", "jurisdiction_adcode"),
    "department": ("所属部门", "执法部门", "部门", "单位", "department"),
    "team": ("检查组", "执法组", "小组", "team"),
    "avoid": ("回避企业", "回避企业信用代码", "需回避企业", "avoid"),
}
REQUIRED: Final = ("name", "code", "jurisdiction_adcode", "department")
_LABELS_ZH: Final = {
    "name": "姓名",
    "code": "执法证号",
    "jurisdiction_adcode": "所属辖区代码",
    "department": "所属部门",
    "team": "检查组",
    "avoid": "回避企业",
}
_SPLIT: Final = re.compile(r"[;；,，、\s]+")


def _key(header: str) -> str:
    return re.sub(r"[\s()（）*＊]|必填", "", str(header)).lower()


@dataclass(frozen=True)
class RosterEntry:
    """One inspector of the roster; `avoid` holds the credit codes of enterprises they must not inspect."""

    code: str
    name: str
    jurisdiction_adcode: str
    department: str
    team: str | None
    avoid: tuple[str, ...]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel hands adcodes and numbers back as floats
    return str(value).strip()


def parse_roster(table: RawTable) -> list[RosterEntry]:
    """The roster's rows, checked: required columns present, every required cell filled, adcodes and the
    credit codes of 回避 enterprises valid, no certificate number twice. InvalidInput lists every problem."""
    wanted = {_key(h): field for field, names in HEADERS.items() for h in names}
    columns: dict[str, int] = {}
    for i, header in enumerate(table.headers):
        field = wanted.get(_key(header))
        if field is not None and field not in columns:
            columns[field] = i
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        raise InvalidInput(
            [
                Problem(
                    "header",
                    f"no column for {f} (one of: {', '.join(HEADERS[f])})",
                    f"缺少“{_LABELS_ZH[f]}”列",
                )
                for f in missing
            ]
        )
    problems: list[Problem] = []
    out: list[RosterEntry] = []
    seen: dict[str, int] = {}
    cells = table.frame.to_numpy(dtype=object)
    for r, label in enumerate(table.labels):
        where = f"{table.label_kind} {int(label)}"
        values = {f: _text(cells[r, j]) for f, j in columns.items()}
        for f in REQUIRED:
            if not values[f]:
                problems.append(Problem(f"{where}.{f}", "required", f"“{_LABELS_ZH[f]}”不能为空"))
        adcode = values["jurisdiction_adcode"]
        if adcode:
            try:
                adcode = validate_adcode(adcode, field=f"{where}.jurisdiction_adcode")
            except InvalidInput as exc:
                problems.extend(exc.problems)
        avoid: list[str] = []
        for code in (c for c in _SPLIT.split(values.get("avoid", "")) if c):
            try:
                avoid.append(validate_credit_code(code.upper(), field=f"{where}.avoid"))
            except InvalidInput as exc:
                problems.extend(exc.problems)
        code = values["code"]
        if code in seen:
            problems.append(
                Problem(
                    f"{where}.code",
                    f"certificate {code} is listed twice (row {seen[code]})",
                    f"执法证号 {code} 重复（第 {seen[code]} 行）",
                )
            )
        elif code:
            seen[code] = int(label)
        out.append(
            RosterEntry(
                code=code,
                name=values["name"],
                jurisdiction_adcode=adcode,
                department=values["department"],
                team=values.get("team") or None,
                avoid=tuple(avoid),
            )
        )
    if problems:
        raise InvalidInput(problems)
    if not out:
        raise InvalidInput.one("file", "the roster has no rows", "名录库中没有人员")
    return out


def entries_adcodes(entries: Sequence[RosterEntry]) -> set[str]:
    return {e.jurisdiction_adcode for e in entries}
