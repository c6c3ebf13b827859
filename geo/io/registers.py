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
from geo.io.fields import FIELDS, KIND_NAMES_ZH, Kind, fields_of, primary_headers
from geo.io.validate import CONTROL_LEVEL_NAMES_ZH, ZONE_LEVEL_NAMES_ZH
from geo.io.writers import print_ready, tabular, xlsx_cell

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
    info.append(["导出日期", dt.date.today()])
    _autosize(info, [24, 60])
    print_ready(info)
    info.page_setup.orientation = "portrait"
    units = wb.create_sheet("风险点清单")
    headers, rows = tabular(Kind.risk_units, frame, register["geometries"])
    dates = _date_columns(Kind.risk_units, frame)
    units.append(headers)
    for cell in units[1]:
        cell.font = Font(bold=True)
    for r in rows:
        units.append([_as_date(v) if i in dates else xlsx_cell(v) for i, v in enumerate(r)])
    units.freeze_panes = "A2"
    _autosize(units, [min(40, max(10, 2 * len(h) + 2)) for h in headers])
    _wrap_columns(units)
    print_ready(units)
    # 存在隐患情况 (seed 004 二(一)7) on a sheet of its own: the risk-unit sheet stays importable as it is.
    found = wb.create_sheet("存在隐患情况")
    found.append(["隐患ID", "风险点", "隐患描述", "等级", "状态", "发现日期", "整改期限", "挂牌督办"])
    for cell in found[1]:
        cell.font = Font(bold=True)
    for h in register.get("open_hazards", []):
        found.append(
            [
                h["id"],
                xlsx_cell(h["risk_unit_name"]),
                xlsx_cell(h["description"]),
                "重大隐患" if h["grade"] == "major" else "一般隐患",
                h["status"],
                h["reported_on"],
                h["deadline"],
                "是" if h["supervised"] else "否",
            ]
        )
    if not register.get("open_hazards"):
        found.append(["", "", "无未销号隐患"])
    found.freeze_panes = "A2"
    _autosize(found, [8, 20, 50, 10, 12, 12, 12, 10])
    _wrap_columns(found)
    print_ready(found)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _date_columns(kind: Kind, frame: pd.DataFrame) -> set[int]:
    """Positions (in `tabular`'s order) of the date fields."""
    from geo.io.writers import table_columns

    fields = fields_of(kind)
    return {i for i, c in enumerate(table_columns(kind, frame)) if fields[c].type == "date"}


def _as_date(value: Any) -> Any:
    """A date cell from the ISO text `tabular` writes (Excel then sorts, filters and prints it as a date)."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return xlsx_cell(value)
    return value


def _wrap_columns(ws: Any, first_row: int = 2) -> None:
    """Wrap the text of every cell from `first_row` on (long measures print on several lines)."""
    from openpyxl.styles import Alignment

    wrap = Alignment(wrap_text=True, vertical="top")
    for row in ws.iter_rows(min_row=first_row):
        for cell in row:
            cell.alignment = wrap


_PDF_COLUMNS = (
    ("风险点名称", "name", 0.12),
    ("风险等级", "level", 0.07),
    ("可能导致的事故类型", "accident_types", 0.11),
    ("主要危险有害因素", "hazards", 0.14),
    ("管控措施", "control_measures", 0.18),
    ("管控层级", "control_level", 0.06),
    ("责任部门", "responsible_department", 0.08),
    ("责任人", "responsible_person", 0.06),
    ("手机号码", "responsible_phone", 0.08),
    ("存在隐患情况", "open_hazards", 0.10),  # seed 004 二(一)7
)

# Page geometry of the printed tables, in inches (A4 landscape) and points.
_PAGE_W, _PAGE_H = 11.69, 8.27
_MARGIN = 0.35
_FONT_PT = 7.0
_LINE_IN = _FONT_PT * 1.3 / 72  # one line of table text
_PAD_IN = 0.04  # inside a cell, on every side
_BOTTOM_IN = 0.45  # above the footer


def _char_em(ch: str) -> float:
    """Width of a character in ems: full width for CJK, a little over half for the rest."""
    import unicodedata

    return 1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.56


def wrap_text(text: Any, width_in: float, font_pt: float = _FONT_PT) -> list[str]:
    """`text` broken into lines that fit `width_in` inches at `font_pt` points: nothing is cut off (a cell
    of any length is all there, on as many lines as it needs). Line breaks in the text are kept."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return [""]
    room = max(1.0, width_in * 72 / font_pt)
    lines: list[str] = []
    for paragraph in str(text).splitlines() or [""]:
        line, used = "", 0.0
        for ch in paragraph:
            w = _char_em(ch)
            if line and used + w > room:
                lines.append(line)
                line, used = "", 0.0
            line += ch
            used += w
        lines.append(line)
    return lines


def plan_pages(heights: Sequence[int], first_lines: int, page_lines: int) -> list[list[tuple[int, int, int]]]:
    """Rows of `heights` lines laid out on pages that hold `first_lines` lines (the first) and `page_lines`
    (the others): per page, (row, first line, end line). A row that does not fit in what is left of a page
    starts on the next one; a row taller than a whole page is split across pages at a line boundary."""
    pages: list[list[tuple[int, int, int]]] = [[]]
    room = first_lines
    for row, height in enumerate(heights):
        start = 0
        while start < height:
            left = height - start
            if left > room and pages[-1] and start == 0 and left <= page_lines:
                pages.append([])  # the whole row fits on the next page: start it there
                room = page_lines
                continue
            take = min(left, max(room, 1))
            pages[-1].append((row, start, start + take))
            start += take
            room -= take
            if start < height:
                pages.append([])
                room = page_lines
    return pages


def draw_table_page(
    ax: Any,
    top_in: float,
    columns: Sequence[tuple[str, float]],
    lines: Sequence[Sequence[list[str]]],
    slices: Sequence[tuple[int, int, int]],
    fills: Mapping[tuple[int, int], str] | None = None,
) -> float:
    """One page of a table on `ax` (coordinates in inches, origin bottom left): the header row, then the
    given slices of rows (row, first line, end line) of `lines` (row → cell → wrapped lines); column
    widths in inches; `fills` colours cells (row, column). Returns where the table ends (inches)."""
    from matplotlib.patches import Rectangle

    header = [wrap_text(label, w - 2 * _PAD_IN) for label, w in columns]
    blocks: list[tuple[list[list[str]], int | None]] = [(header, None)]
    blocks += [([cell[a:b] for cell in lines[r]], r) for r, a, b in slices]
    y = top_in
    for block, row in blocks:
        height = max(len(c) for c in block) * _LINE_IN + 2 * _PAD_IN
        x = _MARGIN
        for col, ((_, w), cell) in enumerate(zip(columns, block, strict=True)):
            colour = "#e8e8e8" if row is None else (fills or {}).get((row, col), "white")
            ax.add_patch(Rectangle((x, y - height), w, height, facecolor=colour, edgecolor="black", lw=0.4))
            for k, line in enumerate(cell):
                ax.text(
                    x + _PAD_IN,
                    y - _PAD_IN - (k + 0.8) * _LINE_IN,
                    plain_text(line),
                    fontsize=_FONT_PT,
                    weight="bold" if row is None else "normal",
                    va="baseline",
                )
            x += w
        y -= height
    return y


def table_header_height(columns: Sequence[tuple[str, float]]) -> float:
    return max(len(wrap_text(lb, w - 2 * _PAD_IN)) for lb, w in columns) * _LINE_IN + 2 * _PAD_IN


def lines_below(top_in: float, columns: Sequence[tuple[str, float]]) -> int:
    """Lines of table text that fit between `top_in` and the footer under the header row (one line of
    padding spare per row is kept by the layout's rounding down)."""
    return int((top_in - table_header_height(columns) - _BOTTOM_IN) / _LINE_IN) - 1


def light(colour: str, alpha: float = 0.6) -> str:
    """`colour` mixed with white (a level's fill that keeps the text readable)."""
    from matplotlib.colors import to_hex, to_rgb

    r, g, b = to_rgb(colour)
    return to_hex((1 - alpha + alpha * r, 1 - alpha + alpha * g, 1 - alpha + alpha * b))


def enterprise_register_pdf(
    register: Mapping[str, Any], *, font_family: str, palette: Mapping[int, str] | None = None
) -> bytes:
    """The 一企一册 as an A4 landscape PDF: the enterprise's details, then its risk points in a table,
    each level cell in its colour. Every cell is wrapped to its column and shown whole; a row that does
    not fit on a page starts on the next, one taller than a page is split across pages, and the header
    row is repeated on each. `font_family` must have Chinese glyphs (maps.print.cjk_font_family)."""
    import matplotlib as mpl
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    colours = dict(palette or vocab.DEFAULT_PALETTE)
    e = register["enterprise"]
    frame: pd.DataFrame = register["risk_units"]
    table_w = _PAGE_W - 2 * _MARGIN
    columns = [(label, frac * table_w) for label, _, frac in _PDF_COLUMNS]
    records = frame.to_dict("records")
    by_unit = register.get("hazards_by_unit", {})
    for r in records:
        r["open_hazards"] = by_unit.get(r.get("name") or "", "无")
    lines = [
        [
            wrap_text(vocab.LEVEL_NAMES_ZH.get(r["level"]) if key == "level" else r.get(key), w - 2 * _PAD_IN)
            for (_, key, _), (_, w) in zip(_PDF_COLUMNS, columns, strict=True)
        ]
        for r in records
    ]
    fills = {(i, 1): light(colours.get(int(r["level"]), "#ffffff")) for i, r in enumerate(records)}
    first_top, other_top = _PAGE_H - 2.35, _PAGE_H - 0.9
    plan = plan_pages(
        [max(len(c) for c in row) for row in lines],
        lines_below(first_top, columns),
        lines_below(other_top, columns),
    )
    today = dt.date.today().isoformat()
    buf = io.BytesIO()
    with mpl.rc_context({"font.family": font_family, "pdf.fonttype": 42}), PdfPages(buf) as pdf:
        for page, slices in enumerate(plan):
            fig = Figure(figsize=(_PAGE_W, _PAGE_H))
            ax = fig.add_axes((0, 0, 1, 1))
            ax.set_xlim(0, _PAGE_W)
            ax.set_ylim(0, _PAGE_H)
            ax.axis("off")
            ax.text(
                _PAGE_W / 2,
                _PAGE_H - 0.5,
                plain_text(f"{e['name']} 安全风险分级管控清单（一企一册）"),
                ha="center",
                fontsize=16,
                weight="bold",
            )
            if page == 0:
                for i, (label, key) in enumerate(ENTERPRISE_HEADER_ROWS):
                    value = e.get(key) if e.get(key) is not None else ""
                    ax.text(
                        _MARGIN + 0.2 + 5.3 * (i % 2),
                        _PAGE_H - 0.95 - 0.25 * (i // 2),
                        plain_text(f"{label}：{value}"),
                        fontsize=9,
                    )
            top = first_top if page == 0 else other_top
            if records:
                draw_table_page(ax, top, columns, lines, slices, fills)
            else:
                ax.text(_PAGE_W / 2, top - 0.5, "（尚无登记的风险点）", ha="center", fontsize=11)
            ax.text(
                _PAGE_W - _MARGIN,
                0.2,
                f"第 {page + 1} 页 / 共 {len(plan)} 页　导出日期 {today}",
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
    return value  # dates stay dates: date cells in the workbook


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
    _wrap_columns(ws, first_row=3)
    ws.freeze_panes = "A3"
    print_ready(ws)
    ws.print_title_rows = "1:2"  # the title and the column headers on every printed page
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
    _autosize(summary, [20, 14, 14, 14, 10])
    print_ready(summary)
    summary.page_setup.orientation = "portrait"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
