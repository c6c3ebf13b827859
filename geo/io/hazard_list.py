"""A hazard list (隐患清单) as offices and enterprises keep it in Excel or CSV: the columns it may have and
every row read into the values of a hazard report, with all problems at once (row, column, reason)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final

from geo.errors import InvalidInput, Problem
from geo.io.readers import RawTable

HEADERS: Final = {
    "risk_unit_id": ("风险点ID", "风险点编号", "risk_unit_id"),
    "credit_code": ("统一社会信用代码", "企业信用代码", "credit_code"),
    "risk_unit_name": ("风险点名称", "风险点", "risk_unit_name"),
    "description": ("隐患描述", "隐患内容", "隐患名称", "description"),
    "grade": ("隐患等级", "隐患级别", "等级", "grade"),
    "criterion": ("判定依据", "判定标准条目", "criterion"),
    "reported_on": ("发现日期", "排查日期", "reported_on"),
    "lon": ("经度", "lon", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "inspection_id": ("检查ID", "检查记录ID", "inspection_id"),
}
_LABELS_ZH: Final = {
    "risk_unit_id": "风险点ID",
    "credit_code": "统一社会信用代码",
    "risk_unit_name": "风险点名称",
    "description": "隐患描述",
    "grade": "隐患等级",
    "criterion": "判定依据",
    "reported_on": "发现日期",
    "lon": "经度",
    "lat": "纬度",
    "inspection_id": "检查ID",
}
GRADES: Final = {"一般": "general", "一般隐患": "general", "一般事故隐患": "general", "general": "general",
                 "重大": "major", "重大隐患": "major", "重大事故隐患": "major", "major": "major"}  # fmt: skip


def _key(header: str) -> str:
    return re.sub(r"[\s()（）*＊]|必填", "", str(header)).lower()


@dataclass(frozen=True)
class HazardRow:
    """One row: where it is in the file, the hazard's values, and how its risk unit is named (an id, or the
    enterprise's credit code and the unit's name)."""

    label: str
    values: dict[str, Any]
    credit_code: str | None
    risk_unit_name: str | None
    problems: tuple[Problem, ...] = ()  # what is wrong with the row as written (named row N.field)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse_hazard_list(table: RawTable) -> list[HazardRow]:
    """The rows of the list, each with the problems of its cells (the database checks come later, so a
    report names every row's problems at once); InvalidInput for a list without the needed columns."""
    wanted = {_key(h): f for f, names in HEADERS.items() for h in names}
    columns: dict[str, int] = {}
    for i, header in enumerate(table.headers):
        f = wanted.get(_key(header))
        if f is not None and f not in columns:
            columns[f] = i
    problems = [
        Problem("header", f"no column for {f} (one of: {', '.join(HEADERS[f])})", f"缺少“{_LABELS_ZH[f]}”列")
        for f in ("description", "grade")
        if f not in columns
    ]
    if "risk_unit_id" not in columns and not {"credit_code", "risk_unit_name"} <= set(columns):
        problems.append(
            Problem(
                "header",
                "name each hazard's risk unit: a 风险点ID column, or 统一社会信用代码 and 风险点名称",
                "须有“风险点ID”列，或“统一社会信用代码”和“风险点名称”两列",
            )
        )
    if problems:
        raise InvalidInput(problems)
    cells = table.frame.to_numpy(dtype=object)
    out: list[HazardRow] = []
    for r, label in enumerate(table.labels):
        problems = []
        where = f"{table.label_kind} {int(label)}"
        raw = {f: cells[r, j] for f, j in columns.items()}
        values: dict[str, Any] = {"description": _text(raw.get("description"))}
        if not values["description"]:
            problems.append(Problem(f"{where}.description", "required", "“隐患描述”不能为空"))
        grade = GRADES.get(_text(raw.get("grade")).lower())
        if grade is None:
            problems.append(Problem(f"{where}.grade", "一般 or 重大", "隐患等级应为“一般”或“重大”"))
        values["grade"] = grade
        values["criterion"] = _text(raw.get("criterion")).upper() or None
        for f in ("risk_unit_id", "inspection_id"):
            text = _text(raw.get(f))
            if text:
                if text.isdigit():
                    values[f] = int(text)
                else:
                    problems.append(Problem(f"{where}.{f}", "a whole number", f"“{_LABELS_ZH[f]}”应为整数"))
        day = raw.get("reported_on")
        if isinstance(day, dt.datetime):
            values["reported_on"] = day.date()
        elif isinstance(day, dt.date):
            values["reported_on"] = day
        elif _text(day):
            try:
                values["reported_on"] = dt.date.fromisoformat(_text(day).replace("/", "-"))
            except ValueError:
                problems.append(Problem(f"{where}.reported_on", "a date YYYY-MM-DD", "“发现日期”应为日期"))
        lon, lat = _text(raw.get("lon")), _text(raw.get("lat"))
        if lon or lat:
            try:
                values["geometry"] = {"type": "Point", "coordinates": [float(lon), float(lat)]}
            except ValueError:
                problems.append(Problem(f"{where}.lon", "lon and lat as numbers", "经纬度应为数字"))
        code, name = _text(raw.get("credit_code")).upper() or None, _text(raw.get("risk_unit_name")) or None
        if "risk_unit_id" not in values and not (code and name):
            problems.append(
                Problem(
                    f"{where}.risk_unit_id",
                    "name the risk unit (id, or credit code and name)",
                    "须指明风险点",
                )
            )
        out.append(HazardRow(where, values, code, name, tuple(problems)))
    if not out:
        raise InvalidInput.one("file", "the list has no rows", "清单中没有隐患")
    return out
