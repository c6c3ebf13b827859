"""Workbooks and PDFs people hand around: import templates, 一企一册 (one enterprise's register) and
一县一册 (a jurisdiction's register of its major and large risks)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from geo import vocab
from geo.escape import escape_cell, plain_text
from geo.io.fields import FIELDS, KIND_NAMES_ZH, Kind, primary_headers
from geo.io.validate import CONTROL_LEVEL_NAMES_ZH, ZONE_LEVEL_NAMES_ZH
from geo.io.writers import tabular, xlsx_cell

TEMPLATE_ROWS = 1_000  # rows with drop-downs


def _choices(kind: Kind) -> dict[str, list[str]]:
    """Field → the values its drop-down offers (Chinese names of the controlled vocabularies)."""
    sectors = [s.name_zh for s in vocab.sectors().values()]
    risk = {
        "level": [vocab.LEVEL_NAMES_ZH[k] for k in range(1, 5)],
        "accident_types": [t.name_zh for t in vocab.accident_types().values()],
        "control_level": list(CONTROL_LEVEL_NAMES_ZH.values()),
        "assessment_method": ["直接判定", "LEC", "LS", "MES"],
    }
    return {
        Kind.enterprises: {"sector": sectors},
        Kind.risk_units: risk,
        Kind.public_risks: {"sector": sectors, **risk},
        Kind.protection_targets: {
            "type": [t.name_zh for t in vocab.target_types().values()],
            "gb_class": list(vocab.GB_CLASS_NAMES_ZH.values()),
        },
        Kind.zones: {"level": list(ZONE_LEVEL_NAMES_ZH.values())},
    }[kind]


def template_example(kind: Kind) -> dict[str, Any]:
    """The example row of a template (field → value): a plausible register row in 泉港区."""
    from geo.codes import make_credit_code

    code = make_credit_code("91350505MA2XY0123")
    risk = {
        "name": "液氨储罐区",
        "level": "较大风险",
        "accident_types": "中毒和窒息、容器爆炸",
        "hazards": "液氨泄漏、中毒窒息",
        "control_measures": "设置有毒气体报警仪，双人巡检",
        "control_level": "公司级",
        "responsible_department": "安全环保部",
        "responsible_person": "陈建华",
        "responsible_phone": "13800138000",
        "assessed_on": dt.date.today().replace(day=1).isoformat(),
        "lon": 118.88,
        "lat": 25.11,
    }
    examples: dict[Kind, dict[str, Any]] = {
        Kind.enterprises: {
            "credit_code": code,
            "name": "泉港石化储运有限公司",
            "sector": "危险化学品",
            "business_type": "危化品储存",
            "address": "福建省泉州市泉港区南埔镇",
            "employees": 120,
            "supervising_department": "泉港区应急管理局",
            "contact_person": "林志强",
            "contact_phone": "0595-87781234",
            "lon": 118.88,
            "lat": 25.11,
        },
        Kind.risk_units: {"enterprise_credit_code": code, "enterprise_name": "泉港石化储运有限公司", **risk},
        Kind.public_risks: {
            **risk,
            "name": "南埔镇燃气中压管线",
            "sector": "城镇燃气",
            "accident_types": "火灾、其他爆炸",
        },
        Kind.protection_targets: {
            "name": "泉港区第一中学",
            "type": "学校",
            "population": 2400,
            "address": "泉港区山腰街道",
            "lon": 118.88,
            "lat": 25.11,
        },
        Kind.zones: {
            "adcode": "QG-PARK-01",
            "name": "泉港石化工业园区",
            "level": "园区",
            "parent_adcode": "350505",
            "source": "园区管委会",
            "wkt": "POLYGON ((118.80 25.14, 118.84 25.14, 118.84 25.18, 118.80 25.18, 118.80 25.14))",
        },
    }
    return examples[kind]


def template_fields(kind: Kind) -> list[str]:
    geometry = ["wkt"] if kind is Kind.zones else ["lon", "lat"]
    skip = {"jurisdiction", "assessment_table", "factor_S", "factor_M"}
    return [f.name for f in FIELDS[kind] if f.name not in skip] + geometry


def template_xlsx(kind: Kind) -> bytes:
    """An empty register to fill in: Chinese headers (required ones marked *), drop-downs, one example row."""
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter, quote_sheetname
    from openpyxl.worksheet.datavalidation import DataValidation

    headers = primary_headers(kind)
    required = {f.name for f in FIELDS[kind] if f.required}
    fields = template_fields(kind)
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = KIND_NAMES_ZH[kind]
    lists = wb.create_sheet("选项")
    ws.append([headers[f] + ("*" if f in required else "") for f in fields])
    example = template_example(kind)
    ws.append([escape_cell(example.get(f)) for f in fields])
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="FFF2CC")
    for i, f in enumerate(fields, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font = bold
        if f in required:
            cell.fill = fill
        ws.column_dimensions[get_column_letter(i)].width = max(12, 2 * len(headers[f]) + 4)
    for j, (name, values) in enumerate(_choices(kind).items(), start=1):
        if name not in fields:
            continue
        col = get_column_letter(j)
        lists.cell(row=1, column=j, value=headers[name])
        for k, v in enumerate(values, start=2):
            lists.cell(row=k, column=j, value=v)
        source = f"{quote_sheetname('选项')}!${col}$2:${col}${len(values) + 1}"
        many = name == "accident_types"
        dv = DataValidation(
            type="list",
            formula1=source,
            allow_blank=True,
            showErrorMessage=not many,  # several accident types are written 火灾、爆炸: allowed
            errorTitle="无效的值",
            error=f"请从下拉列表中选择{headers[name]}",
        )
        dv.promptTitle = headers[name]
        dv.prompt = "可填多个，用顿号分隔" if many else "请从下拉列表中选择"
        target = get_column_letter(fields.index(name) + 1)
        dv.add(f"{target}2:{target}{TEMPLATE_ROWS + 1}")
        ws.add_data_validation(dv)
    lists.sheet_state = "hidden"
    ws.cell(row=1, column=1).comment = Comment(
        "第 2 行为示例，导入前请替换或删除；带 * 的列为必填。", "riskmap"
    )
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- 一企一册 ---------------------------------------------------------------------------------------

ENTERPRISE_HEADER_ROWS = (
    ("企业名称", "name"),
    ("统一社会信用代码", "credit_code"),
    ("行业领域", "sector_name"),
    ("业态", "business_type"),
    ("地址", "address"),
    ("所属行政区划", "jurisdiction_name"),
    ("从业人员数", "employees"),
    ("负有监管职责的部门", "supervising_department"),
    ("联系人", "contact_person"),
    ("联系电话", "contact_phone"),
)


def _autosize(ws: Any, widths: Sequence[int]) -> None:
    from openpyxl.utils import get_column_letter

    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w


def enterprise_register_xlsx(register: Mapping[str, Any]) -> bytes:
    """Sheet 企业基本情况 (the header) and sheet 风险点清单 (the risk units, importable as risk_units)."""
    import openpyxl
    from openpyxl.styles import Font

    e = register["enterprise"]
    wb = openpyxl.Workbook()
    info = wb.active
    assert info is not None
    info.title = "企业基本情况"
    info.append([escape_cell(f"{e['name']} 安全风险分级管控清单（一企一册）")])
    info["A1"].font = Font(bold=True, size=14)
    for label, key in ENTERPRISE_HEADER_ROWS:
        info.append([label, escape_cell(e.get(key))])
    frame: pd.DataFrame = register["risk_units"]
    levels = frame["level"].value_counts().to_dict() if len(frame) else {}
    info.append(["风险点数量", len(frame)])
    for k in range(1, 5):
        info.append([f"{vocab.LEVEL_NAMES_ZH[k]}（{vocab.LEVEL_COLOURS_ZH[k]}）", int(levels.get(k, 0))])
    info.append(["导出日期", dt.date.today().isoformat()])
    _autosize(info, [24, 60])
    units = wb.create_sheet("风险点清单")
    headers, rows = tabular(Kind.risk_units, frame, register["geometries"])
    units.append(headers)
    for r in rows:
        units.append([xlsx_cell(v) for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_PDF_COLUMNS = (
    ("风险点名称", "name", 0.14),
    ("风险等级", "level", 0.07),
    ("可能导致的事故类型", "accident_types", 0.13),
    ("主要危险有害因素", "hazards", 0.17),
    ("管控措施", "control_measures", 0.21),
    ("管控层级", "control_level", 0.06),
    ("责任部门", "responsible_department", 0.08),
    ("责任人", "responsible_person", 0.06),
    ("手机号码", "responsible_phone", 0.08),
)
_ROWS_PER_PAGE = 14


def _wrap(text: Any, width: float) -> str:
    import textwrap

    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    chars = max(4, int(width * 150))
    return plain_text("\n".join(textwrap.wrap(str(text), chars)[:4]))


def enterprise_register_pdf(
    register: Mapping[str, Any], *, font_family: str, palette: Mapping[int, str] | None = None
) -> bytes:
    """The 一企一册 as an A4 landscape PDF: the enterprise's details, then its risk points in a table,
    each level cell in its colour. `font_family` must have Chinese glyphs (maps.print.cjk_font_family)."""
    import matplotlib as mpl
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    colours = dict(palette or vocab.DEFAULT_PALETTE)
    e = register["enterprise"]
    frame: pd.DataFrame = register["risk_units"]
    pages = max(1, -(-len(frame) // _ROWS_PER_PAGE))
    buf = io.BytesIO()
    with mpl.rc_context({"font.family": font_family, "pdf.fonttype": 42}), PdfPages(buf) as pdf:
        for page in range(pages):
            fig = Figure(figsize=(11.69, 8.27))
            fig.text(
                0.5,
                0.95,
                plain_text(f"{e['name']} 安全风险分级管控清单（一企一册）"),
                ha="center",
                fontsize=16,
                weight="bold",
            )
            if page == 0:
                lines = [
                    plain_text(f"{label}：{e.get(key) if e.get(key) is not None else ''}")
                    for label, key in ENTERPRISE_HEADER_ROWS
                ]
                for i, line in enumerate(lines):
                    fig.text(0.06 + 0.45 * (i % 2), 0.89 - 0.03 * (i // 2), line, fontsize=9)
            top = 0.72 if page == 0 else 0.9
            chunk = frame.iloc[page * _ROWS_PER_PAGE : (page + 1) * _ROWS_PER_PAGE]
            ax = fig.add_axes((0.03, 0.06, 0.94, top - 0.06))
            ax.axis("off")
            cells = [
                [
                    _wrap(vocab.LEVEL_NAMES_ZH.get(r["level"]) if key == "level" else r.get(key), w)
                    for _, key, w in _PDF_COLUMNS
                ]
                for r in chunk.to_dict("records")
            ]
            if cells:
                table = ax.table(
                    cellText=cells,
                    colLabels=[c[0] for c in _PDF_COLUMNS],
                    colWidths=[c[2] for c in _PDF_COLUMNS],
                    loc="upper center",
                    cellLoc="left",
                )
                table.auto_set_font_size(False)
                table.set_fontsize(7)
                table.scale(1, 3.2)
                for i, r in enumerate(chunk.to_dict("records"), start=1):
                    table[i, 1].set_facecolor(colours.get(int(r["level"]), "white"))
                    table[i, 1].set_alpha(0.6)
            else:
                ax.text(0.5, 0.8, "（尚无登记的风险点）", ha="center", fontsize=11)
            fig.text(
                0.97,
                0.02,
                f"第 {page + 1} 页 / 共 {pages} 页　导出日期 {dt.date.today().isoformat()}",
                ha="right",
                fontsize=8,
            )
            pdf.savefig(fig)
    return buf.getvalue()


# --- 一县一册 ---------------------------------------------------------------------------------------

COUNTY_COLUMNS = (
    ("序号", None),
    ("所属行政区划", "jurisdiction_name"),
    ("行政区划代码", "jurisdiction_adcode"),
    ("企业名称", "enterprise_name"),
    ("统一社会信用代码", "credit_code"),
    ("行业领域", "sector"),
    ("风险类别", "kind"),
    ("风险点名称", "name"),
    ("风险等级", "level"),
    ("可能导致的事故类型", "accident_types"),
    ("存在的主要危险有害因素", "hazards"),
    ("管控措施", "control_measures"),
    ("管控层级", "control_level"),
    ("责任部门", "responsible_department"),
    ("责任人", "responsible_person"),
    ("责任人手机号码", "responsible_phone"),
    ("负有监管职责的部门", "supervising_department"),
    ("下次评估日期", "next_assessment_due"),
)


def _county_value(key: str, row: Mapping[str, Any]) -> Any:
    value = row.get(key)
    if value is None:
        return None
    if key == "level":
        return f"{vocab.LEVEL_NAMES_ZH[value]}（{vocab.LEVEL_COLOURS_ZH[value]}）"
    if key == "sector":
        s = vocab.sectors().get(value)
        return s.name_zh if s else value
    if key == "kind":
        return "企业风险点" if value == "enterprise" else "公共区域风险"
    if key == "accident_types":
        types = vocab.accident_types()
        return "、".join(types[c].name_zh for c in value if c in types) or None
    if key == "control_level":
        return CONTROL_LEVEL_NAMES_ZH.get(value, value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def county_register_xlsx(register: Mapping[str, Any]) -> bytes:
    """Sheet 重大较大风险清单 (levels 1–2, by level and place) and sheet 汇总 (counts per unit and level)."""
    import openpyxl
    from openpyxl.styles import Font, PatternFill

    j = register["jurisdiction"]
    rows: list[dict[str, Any]] = register["rows"]
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "重大较大风险清单"
    ws.append(
        [
            escape_cell(
                f"{j['name']}（{j['adcode']}）重大、较大安全风险清单（一县一册）　导出日期 {dt.date.today().isoformat()}"
            )
        ]
    )
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([c[0] for c in COUNTY_COLUMNS])
    for cell in ws[2]:
        cell.font = Font(bold=True)
    fills = {k: PatternFill("solid", fgColor=vocab.DEFAULT_PALETTE[k].lstrip("#")) for k in (1, 2)}
    for n, row in enumerate(rows, start=1):
        ws.append([n] + [escape_cell(_county_value(key, row)) for _, key in COUNTY_COLUMNS[1:]])
        ws.cell(row=ws.max_row, column=9).fill = fills[row["level"]]
    _autosize(ws, [6, 14, 12, 24, 20, 12, 12, 22, 12, 20, 24, 30, 10, 12, 10, 14, 20, 12])
    summary = wb.create_sheet("汇总")
    summary.append(["所属行政区划", "行政区划代码", "重大风险（红）", "较大风险（橙）", "合计"])
    counts: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        key = (row.get("jurisdiction_name") or "", row.get("jurisdiction_adcode") or "")
        counts.setdefault(key, [0, 0])[row["level"] - 1] += 1
    for (name, code), (major, large) in sorted(counts.items(), key=lambda kv: kv[0][1]):
        summary.append([escape_cell(name), escape_cell(code), major, large, major + large])
    total = [sum(v[0] for v in counts.values()), sum(v[1] for v in counts.values())]
    summary.append(["合计", "", total[0], total[1], total[0] + total[1]])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
