"""The 五个清单 of hidden-hazard governance (seed 000 (九): 检查清单, 隐患清单, 整改清单, 销号清单, 措施清单) of one
enterprise or one jurisdiction, as the sheets of one workbook."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection

from geo import hazards as rules
from geo.access import Principal, Role
from geo.errors import InvalidInput
from geo.hazards import Grade, Status
from geo.io.writers import Sheet
from geo.store import hazards as store
from geo.vocab import LEVEL_NAMES_ZH

KIND_ZH = {
    "self": "企业自查",
    "random": "双随机抽查",
    "department": "部门检查",
    "cross": "交叉互查",
    "third_party": "第三方检查",
}
ALL = 10_000_000


def five_lists(
    conn: Connection,
    principal: Principal,
    *,
    adcode: str | None,
    enterprise_id: int | None,
    as_of: dt.date,
) -> list[Sheet]:
    """What the caller may see of one enterprise (`enterprise_id`) or one jurisdiction (`adcode`):
    inspections, hazards, rectifications (assigned ones with their notice and 五落实), closed hazards, and
    the control measures of the risk units concerned."""
    if (adcode is None) == (enterprise_id is None):
        if principal.role is Role.enterprise and principal.enterprise_id is not None and adcode is None:
            enterprise_id = principal.enterprise_id
        else:
            raise InvalidInput.one(
                "adcode",
                "give either adcode (a jurisdiction) or enterprise_id",
                "须给出行政区划代码或企业 ID（二者之一）",
            )
    inspections, _ = store.list_inspections(  # done ones: a planned check is not yet on the check list
        conn, principal, adcode=adcode, enterprise_id=enterprise_id, status="done", limit=ALL
    )
    found, _ = store.list_hazards(
        conn, principal, as_of=as_of, adcode=adcode, enterprise_id=enterprise_id, limit=ALL
    )
    units = store.measures_of(conn, principal, adcode=adcode, enterprise_id=enterprise_id)
    return [
        _checks(inspections),
        _hazards(found),
        _rectifications(found),
        _closed(found),
        _measures(units, found),
    ]


def _checks(rows: list[dict[str, Any]]) -> Sheet:
    header = [
        "检查ID",
        "检查日期",
        "检查类型",
        "企业ID",
        "辖区",
        "检查风险点",
        "检查人员",
        "检查表",
        "检查结果",
        "计划来源",
    ]
    return Sheet(
        "检查清单",
        header,
        [
            [
                r["id"],
                r["inspected_on"],
                KIND_ZH.get(r["kind"], r["kind"]),
                r["enterprise_id"],
                r["jurisdiction_adcode"],
                "、".join(str(u) for u in r["risk_unit_ids"]),
                r["inspectors"],
                r["checklist"],
                "发现隐患" if r["result"] == "hazards_found" else "未发现隐患",
                r["plan_ref"],
            ]
            for r in rows
        ],
    )


def _hazards(rows: list[dict[str, Any]]) -> Sheet:
    header = [
        "隐患ID", "发现日期", "企业", "风险点", "隐患描述", "等级", "判定依据", "状态", "整改期限", "是否逾期",
        "挂牌督办", "检查ID",
    ]  # fmt: skip
    criteria = rules.criteria()
    return Sheet(
        "隐患清单",
        header,
        [
            [
                r["id"],
                r["reported_on"],
                r["enterprise_name"],
                r["risk_unit_name"],
                r["description"],
                rules.GRADE_ZH[Grade(r["grade"])],
                criteria[r["criterion"]].text if r["criterion"] in criteria else None,
                rules.STATUS_ZH[Status(r["status"])],
                r["deadline"],
                "是" if r["overdue"] else "否",
                r["supervising_unit"] if r["supervised"] else None,
                r["inspection_id"],
            ]
            for r in rows
        ],
    )


def _rectifications(rows: list[dict[str, Any]]) -> Sheet:
    header = [
        "隐患ID", "企业", "整改通知书", "下达日期", "整改期限", "期限待定（日历未覆盖）", "责任", "措施", "资金",
        "预案", "整改完成日期", "整改情况", "第三方评估截止", "状态",
    ]  # fmt: skip
    return Sheet(
        "整改清单",
        header,
        [
            [
                r["id"],
                r["enterprise_name"],
                r["notice_ref"],
                r["assigned_on"],
                r["deadline"],
                "是" if r["deadlines_provisional"] else "否",
                r["responsible"],
                r["measures"],
                r["funds"],
                r["plan"],
                r["rectified_on"],
                r["rectification"],
                r["evaluation_due"],
                rules.STATUS_ZH[Status(r["status"])],
            ]
            for r in rows
            if r["assigned_on"] is not None
        ],
    )


def _closed(rows: list[dict[str, Any]]) -> Sheet:
    header = [
        "隐患ID",
        "企业",
        "风险点",
        "等级",
        "整改完成日期",
        "验收日期",
        "验收人",
        "第三方评估单位",
        "销号日期",
        "销号人",
    ]
    return Sheet(
        "销号清单",
        header,
        [
            [
                r["id"],
                r["enterprise_name"],
                r["risk_unit_name"],
                rules.GRADE_ZH[Grade(r["grade"])],
                r["rectified_on"],
                r["accepted_on"],
                r["accepted_by"],
                r["evaluator"],
                r["closed_on"],
                r["closed_by"],
            ]
            for r in rows
            if r["status"] == Status.closed.value
        ],
    )


def _measures(units: list[dict[str, Any]], hazards: list[dict[str, Any]]) -> Sheet:
    open_by_unit: dict[int, int] = {}
    for h in hazards:
        if h["open"] and h["risk_unit_id"] is not None:
            open_by_unit[h["risk_unit_id"]] = open_by_unit.get(h["risk_unit_id"], 0) + 1
    header = ["风险点ID", "企业", "风险点", "风险等级", "管控措施", "管控层级", "责任人", "未销号隐患数"]
    return Sheet(
        "措施清单",
        header,
        [
            [
                u["id"],
                u["enterprise_name"],
                u["name"],
                LEVEL_NAMES_ZH.get(u["level"]),
                u["control_measures"],
                u["control_level"],
                u["responsible_person"],
                open_by_unit.get(u["id"], 0),
            ]
            for u in units
        ],
    )
