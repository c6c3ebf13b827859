"""The risk white paper (风险白皮书) of a jurisdiction and period: assembled from figures the use case
gathers (`WhitePaperData`), as a document of headings, paragraphs, tables and images, written as a PDF
(matplotlib, A4 portrait, the CJK font of the maps) or an editable .docx (python-docx).

The safety index (安全指数, 0–100, higher is safer) is the weighted mean of the components that could be
measured (docs/white_paper.md):

    R 风险结构 = 100 × (1 − (n₁ + 0.5·n₂) / N)            weight 0.35  (N units, n₁ 重大, n₂ 较大)
    C 评估及时 = 100 × (1 − overdue / N)                   weight 0.20  (re-assessments overdue)
    D 安全距离 = 100 × (1 − min(1, violations / hazards))  weight 0.25  (hazards screened)
    H 隐患治理 = 100 × closed to date / reported to date   weight 0.20

A component without data (no units, no hazard screened, no hidden hazard reported) is left out and the
weights of the others are scaled to sum to 1; the paper says which were left out, never scoring what was
not measured. The public version (`public=True`) holds counts and shares only: no enterprise, risk-unit
or person names, phones or positions.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from geo import vocab

WEIGHTS: dict[str, float] = {"R": 0.35, "C": 0.20, "D": 0.25, "H": 0.20}
COMPONENT_NAMES_ZH = {"R": "风险结构", "C": "评估及时", "D": "安全距离", "H": "隐患治理"}
FORMULAS_ZH = {
    "R": "100 ×（1 −（重大风险数 + 0.5 × 较大风险数）÷ 风险点总数）",
    "C": "100 ×（1 − 逾期未复评风险点数 ÷ 风险点总数）",
    "D": "100 ×（1 − min（1，安全距离违规数 ÷ 已筛查危险源数））",
    "H": "100 × 累计已销号隐患数 ÷ 累计上报隐患数",
}


@dataclass(frozen=True)
class Period:
    """A month ('2026-11') or a year ('2026')."""

    label: str
    first: dt.date
    last: dt.date

    @property
    def label_zh(self) -> str:
        if len(self.label) == 4:
            return f"{self.first.year} 年"
        return f"{self.first.year} 年 {self.first.month} 月"

    @property
    def months(self) -> list[str]:
        out, m = [], self.first
        while m <= self.last:
            out.append(m.strftime("%Y-%m"))
            m = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
        return out


def parse_period(value: str) -> Period:
    """'YYYY-MM' or 'YYYY' → the Period; ValueError otherwise."""
    if len(value) == 4 and value.isdigit():
        year = int(value)
        return Period(value, dt.date(year, 1, 1), dt.date(year, 12, 31))
    first = dt.datetime.strptime(value, "%Y-%m").date()
    nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(value, first, nxt - dt.timedelta(days=1))


def previous_period(p: Period) -> Period:
    if len(p.label) == 4:
        return parse_period(str(p.first.year - 1))
    before = p.first - dt.timedelta(days=1)
    return parse_period(before.strftime("%Y-%m"))


@dataclass(frozen=True)
class IndexInputs:
    """What the safety index of one period is computed from (None: not measured)."""

    counts: Mapping[int, int]  # units by level at the period's end
    overdue: int | None = None
    violations: int | None = None
    hazards_screened: int | None = None
    hazards_reported: int | None = None
    hazards_closed: int | None = None


@dataclass(frozen=True)
class SafetyIndex:
    value: float | None
    components: dict[str, float]  # measured components
    left_out: list[str]


def safety_index(x: IndexInputs) -> SafetyIndex:
    """The documented index (module docstring): measured components only, weights rescaled."""
    n = sum(x.counts.values())
    parts: dict[str, float] = {}
    if n:
        parts["R"] = 100 * (1 - (x.counts.get(1, 0) + 0.5 * x.counts.get(2, 0)) / n)
        if x.overdue is not None:
            parts["C"] = 100 * (1 - min(1.0, x.overdue / n))
    if x.violations is not None and x.hazards_screened:
        parts["D"] = 100 * (1 - min(1.0, x.violations / x.hazards_screened))
    if x.hazards_reported and x.hazards_closed is not None:
        parts["H"] = 100 * x.hazards_closed / x.hazards_reported
    left_out = [k for k in WEIGHTS if k not in parts]
    if not parts:
        return SafetyIndex(None, {}, left_out)
    weight = sum(WEIGHTS[k] for k in parts)
    value = sum(WEIGHTS[k] * v for k, v in parts.items()) / weight
    return SafetyIndex(round(value, 1), {k: round(v, 1) for k, v in parts.items()}, left_out)


@dataclass
class WhitePaperData:
    """Everything the paper says, gathered by api.usecases.white_paper (names only where `public` is off)."""

    adcode: str
    name: str
    period: Period
    previous: Period
    public: bool
    made_on: dt.date
    counts: dict[int, int]
    previous_counts: dict[int, int]
    enterprises: int
    by_sector: list[tuple[str, int, dict[int, int]]]  # sector name, units, by level
    by_zone: list[tuple[str, int | None, int, dict[int, int]]]  # zone name, level, units, by level
    trend: list[tuple[str, dict[int, int]]]  # month, counts by level
    major_risks: list[tuple[str, str, int]]  # enterprise (or 公共区域), unit name, level: internal only
    violations: int | None
    hazards_screened: int | None
    violation_rows: list[tuple[str, str, float, float]]  # hazard, target, actual m, required m: internal
    clusters: int | None
    cross_region_clusters: int | None
    cluster_rows: list[tuple[int, int | None, int, str]]  # id, level, members, member names (internal)
    hazards: dict[str, Any] | None  # monthly_statistics totals of the period's last month
    previous_hazards: dict[str, Any] | None
    closeouts: dict[str, int]  # by status
    closed_out: list[tuple[str, str]]  # announced close-outs: unit, date (internal)
    index: SafetyIndex
    previous_index: SafetyIndex
    map_png: bytes | None = None
    synthetic: bool = False
    notes: list[str] = field(default_factory=list)


# --- the document -----------------------------------------------------------------------------------------

Block = tuple[Literal["h1", "h2", "p", "table", "image"], Any]


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "—"


def _delta(now: float | None, before: float | None, unit: str = "") -> str:
    if now is None or before is None:
        return "（上期无可比数据）"
    d = now - before
    if abs(d) < 1e-9:
        return "（与上期持平）"
    sign = "上升" if d > 0 else "下降"
    return f"（较上期{sign} {abs(d):g}{unit}）"


def _levels_row(counts: Mapping[int, int]) -> list[str]:
    return [str(counts.get(k, 0)) for k in (1, 2, 3, 4)]


LEVEL_HEAD = [f"{vocab.LEVEL_NAMES_ZH[k]}" for k in (1, 2, 3, 4)]


def document(d: WhitePaperData, *, font_family: str) -> list[Block]:
    """The paper as blocks, in order; the same for the PDF and the .docx. `font_family` (with Chinese
    glyphs, maps.print.cjk_font_family) draws the trend chart."""
    version = "公开版" if d.public else "内部版（含敏感信息，不得公开）"
    total = sum(d.counts.values())
    prev_total = sum(d.previous_counts.values())
    b: list[Block] = [
        ("h1", f"{d.name}安全风险白皮书（{d.period.label_zh}）"),
        ("p", f"版本：{version}　行政区划代码：{d.adcode}　生成日期：{d.made_on.isoformat()}"),
    ]
    if d.synthetic:
        b.append(("p", "注：本白皮书使用合成（模拟）数据，仅用于演示，不反映真实的安全风险状况。"))
    b += [
        ("h2", "一、总体情况"),
        (
            "p",
            f"截至{d.period.label_zh}末，{d.name}登记风险点 {total} 处"
            f"{_delta(total, prev_total, ' 处')}，涉及企业 {d.enterprises} 家。其中重大风险 {d.counts.get(1, 0)} 处、"
            f"较大风险 {d.counts.get(2, 0)} 处、一般风险 {d.counts.get(3, 0)} 处、低风险 {d.counts.get(4, 0)} 处。",
        ),
        (
            "table",
            (
                ["等级", "本期数量", "占比", "上期数量", "占比"],
                [
                    [
                        f"{vocab.LEVEL_NAMES_ZH[k]}（{vocab.LEVEL_COLOURS_ZH[k]}）",
                        str(d.counts.get(k, 0)),
                        _pct(d.counts.get(k, 0), total),
                        str(d.previous_counts.get(k, 0)),
                        _pct(d.previous_counts.get(k, 0), prev_total),
                    ]
                    for k in (1, 2, 3, 4)
                ],
            ),
        ),
        ("h2", "二、安全风险四色分布图"),
    ]
    if d.map_png:
        b.append(("image", d.map_png))
    else:
        b.append(("p", "（本辖区尚无可绘制的分区）"))
    b += [
        ("h2", "三、按行业领域统计"),
        (
            "table",
            (
                ["行业领域", "风险点", "占比", *LEVEL_HEAD],
                [[s, str(n), _pct(n, total), *_levels_row(c)] for s, n, c in d.by_sector],
            ),
        ),
        ("h2", "四、按区域统计"),
        (
            "p",
            "各区域的风险点按四色图计数：跨区域的风险点（如管线）在所涉各区域分别计入，与四色图及其接口一致。",
        ),
        (
            "table",
            (
                ["区域", "区域等级", "风险点", *LEVEL_HEAD],
                [
                    [z, vocab.LEVEL_NAMES_ZH.get(lv, "—") if lv else "—", str(n), *_levels_row(c)]
                    for z, lv, n, c in d.by_zone
                ],
            ),
        ),
        ("h2", "五、风险变化趋势"),
        ("p", "各月末各等级风险点数量（依据评估日期与变更记录重建）。"),
        ("image", trend_chart(d.trend, font_family=font_family)),
        (
            "table",
            (["月份", *LEVEL_HEAD, "合计"], [[m, *_levels_row(c), str(sum(c.values()))] for m, c in d.trend]),
        ),
        ("h2", "六、重大风险"),
    ]
    if d.public:
        b.append(("p", f"辖区内重大风险 {d.counts.get(1, 0)} 处（公开版不列出企业及风险点名称）。"))
    elif d.major_risks:
        b.append(
            (
                "p",
                f"重大风险共 {d.counts.get(1, 0)} 处，列出前 {len(d.major_risks)} 处（完整清单见一县一册）。",
            )
        )
        b.append(
            (
                "table",
                (
                    ["序号", "企业/责任单位", "风险点名称"],
                    [[str(i), e, u] for i, (e, u, _) in enumerate(d.major_risks, 1)],
                ),
            )
        )
    else:
        b.append(("p", "辖区内无重大风险。"))
    b.append(("h2", "七、安全防护距离"))
    if d.violations is None:
        b.append(("p", "本期未进行安全防护距离筛查。"))
    else:
        b.append(
            (
                "p",
                f"共筛查危险源 {d.hazards_screened or 0} 处，发现安全防护距离不足 {d.violations} 处"
                "（危险源与防护目标之间实际距离小于规定距离）。",
            )
        )
        if not d.public and d.violation_rows:
            b.append(
                (
                    "table",
                    (
                        ["危险源", "防护目标", "实际距离（米）", "规定距离（米）"],
                        [[h, t, f"{a:.0f}", f"{r:.0f}"] for h, t, a, r in d.violation_rows],
                    ),
                )
            )
    b.append(("h2", "八、联防联控"))
    if d.clusters is None:
        b.append(("p", "本期未进行联防联控组团分析。"))
    else:
        b.append(
            ("p", f"识别联防联控组团 {d.clusters} 个，其中跨区域组团 {d.cross_region_clusters or 0} 个。")
        )
        if not d.public and d.cluster_rows:
            b.append(
                (
                    "table",
                    (
                        ["组团", "最高等级", "企业数", "成员企业"],
                        [
                            [str(i), vocab.LEVEL_NAMES_ZH.get(lv, "—") if lv else "—", str(n), names]
                            for i, lv, n, names in d.cluster_rows
                        ],
                    ),
                )
            )
    b.append(("h2", "九、隐患排查治理"))
    if d.hazards is None:
        b.append(("p", "本期无隐患排查治理数据。"))
    else:
        h = d.hazards
        rate = h.get("rectification_rate")
        b.append(
            (
                "p",
                f"{d.period.label_zh}最后一月新发现隐患 {h['found']} 项，整改 {h['rectified']} 项，销号 {h['closed']} 项；"
                f"月末未销号 {h['open']} 项，其中逾期 {h['overdue']} 项、挂牌督办 {h['supervised']} 项。"
                f"累计整改率 {'—' if rate is None else f'{100 * rate:.1f}%'}。",
            )
        )
    b.append(("h2", "十、风险销号"))
    cases = sum(d.closeouts.values())
    b.append(
        (
            "p",
            f"销号案件共 {cases} 件：已交办 {d.closeouts.get('assigned', 0)} 件，已申请 {d.closeouts.get('requested', 0)} 件，"
            f"核查未通过 {d.closeouts.get('rejected', 0)} 件，已销号 {d.closeouts.get('approved', 0)} 件。",
        )
    )
    if not d.public and d.closed_out:
        b.append(("table", (["已销号风险点", "销号日期"], [list(r) for r in d.closed_out])))
    b += [("h2", "十一、安全指数"), *index_blocks(d)]
    for note in d.notes:
        b.append(("p", note))
    return b


def index_blocks(d: WhitePaperData) -> list[Block]:
    i, p = d.index, d.previous_index
    out: list[Block] = [
        (
            "p",
            f"本期安全指数 {'—' if i.value is None else i.value}（满分 100，越高越安全）"
            f"{_delta(i.value, p.value, ' 分')}。上期（{d.previous.label_zh}）{'—' if p.value is None else p.value}。",
        ),
        (
            "p",
            "计算方法：安全指数为下列分项的加权平均，未能计量的分项不计入并按其余权重重新归一："
            + "；".join(f"{COMPONENT_NAMES_ZH[k]} = {FORMULAS_ZH[k]}，权重 {WEIGHTS[k]:g}" for k in WEIGHTS)
            + "。",
        ),
        (
            "table",
            (
                ["分项", "权重", "本期", "上期"],
                [
                    [
                        COMPONENT_NAMES_ZH[k],
                        f"{WEIGHTS[k]:g}",
                        f"{i.components[k]:.1f}" if k in i.components else "未计量",
                        f"{p.components[k]:.1f}" if k in p.components else "未计量",
                    ]
                    for k in WEIGHTS
                ],
            ),
        ),
    ]
    if i.left_out:
        out.append(("p", "本期未计量的分项：" + "、".join(COMPONENT_NAMES_ZH[k] for k in i.left_out) + "。"))
    return out


def trend_chart(
    trend: Sequence[tuple[str, Mapping[int, int]]],
    *,
    font_family: str,
    palette: Mapping[int, str] | None = None,
) -> bytes:
    """Lines of units per level per month, as PNG (text in `font_family`)."""
    import matplotlib as mpl

    with mpl.rc_context({"font.family": font_family}):  # fonts are chosen when the text is made
        return _trend_chart(trend, palette)


def _trend_chart(trend: Sequence[tuple[str, Mapping[int, int]]], palette: Mapping[int, str] | None) -> bytes:
    from matplotlib.figure import Figure

    colours = dict(palette or vocab.DEFAULT_PALETTE)
    fig = Figure(figsize=(6.5, 2.6), dpi=130)
    ax = fig.add_subplot()
    months = [m for m, _ in trend]
    for k in (1, 2, 3, 4):
        ax.plot(
            months,
            [c.get(k, 0) for _, c in trend],
            marker="o",
            ms=3,
            color=colours[k],
            label=vocab.LEVEL_NAMES_ZH[k],
        )
    ax.set_ylabel("风险点数")
    ax.legend(fontsize=7, ncols=4, loc="upper left")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --- PDF -------------------------------------------------------------------------------------------------

_W, _H = 8.27, 11.69  # A4 portrait, inches
_M = 0.6
_T_SIZE, _T_PAD = 8.0, 0.04  # table text (points), cell padding (inches)
_T_LINE = _T_SIZE * 1.3 / 72


def to_pdf(blocks: Sequence[Block], *, font_family: str, title: str) -> bytes:
    """The blocks on A4 portrait pages: text wrapped, tables split between rows (header repeated), images
    scaled to the width; page numbers at the foot."""
    import matplotlib as mpl

    with mpl.rc_context({"font.family": font_family, "pdf.fonttype": 42}):  # chosen when text is made
        return _to_pdf(blocks, font_family=font_family, title=title)


def _to_pdf(blocks: Sequence[Block], *, font_family: str, title: str) -> bytes:
    import matplotlib as mpl
    import matplotlib.image as mpimg
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from geo.escape import plain_text
    from geo.io.registers import wrap_text

    pages: list[Figure] = []
    state: dict[str, Any] = {}

    def new_page() -> None:
        fig = Figure(figsize=(_W, _H))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, _W)
        ax.set_ylim(0, _H)
        ax.axis("off")
        pages.append(fig)
        state["ax"], state["y"] = ax, _H - _M

    def need(height: float) -> Any:
        if state["y"] - height < _M:
            new_page()
        return state["ax"]

    new_page()
    width = _W - 2 * _M
    for kind, value in blocks:
        if kind in ("h1", "h2", "p"):
            size = {"h1": 16.0, "h2": 12.0, "p": 10.0}[kind]
            line_h = size * 1.5 / 72
            lines = wrap_text(value, width, size)
            if kind == "h2":
                need(line_h * 3)  # a heading never ends a page
                state["y"] -= line_h * 0.5
            for line in lines:
                ax = need(line_h)
                ax.text(
                    _W / 2 if kind == "h1" else _M,
                    state["y"] - line_h * 0.8,
                    plain_text(line),
                    fontsize=size,
                    weight="bold" if kind != "p" else "normal",
                    ha="center" if kind == "h1" else "left",
                )
                state["y"] -= line_h
            state["y"] -= 0.08
        elif kind == "image":
            img = mpimg.imread(io.BytesIO(value), format="png")
            h_px, w_px = img.shape[:2]
            h = width * h_px / w_px
            if h > _H - 2 * _M:
                h = _H - 2 * _M
            ax = need(h)
            w = h * w_px / h_px
            ax.imshow(img, extent=(_M, _M + w, state["y"] - h, state["y"]), aspect="auto", zorder=0)
            state["y"] -= h + 0.1
        elif kind == "table":
            header, rows = value
            col_w = width / len(header)
            cells = [[wrap_text(c, col_w - 2 * _T_PAD, _T_SIZE) for c in row] for row in rows]
            head = [wrap_text(c, col_w - 2 * _T_PAD, _T_SIZE) for c in header]

            def draw_row(row: list[list[str]], bold: bool, col_w: float = col_w) -> None:
                h = max(len(c) for c in row) * _T_LINE + 2 * _T_PAD
                ax = need(h)
                for j, cell in enumerate(row):
                    x = _M + j * col_w
                    colour = "#e8e8e8" if bold else "white"
                    ax.add_patch(
                        Rectangle((x, state["y"] - h), col_w, h, facecolor=colour, edgecolor="black", lw=0.4)
                    )
                    for k, line in enumerate(cell):
                        ax.text(
                            x + _T_PAD,
                            state["y"] - _T_PAD - (k + 0.8) * _T_LINE,
                            plain_text(line),
                            fontsize=_T_SIZE,
                            weight="bold" if bold else "normal",
                        )
                state["y"] -= h

            head_h = max(len(c) for c in head) * _T_LINE + 2 * _T_PAD
            need(head_h * 2)
            draw_row(head, True)
            for row in cells:
                h = max(len(c) for c in row) * _T_LINE + 2 * _T_PAD
                if state["y"] - h < _M:
                    new_page()
                    draw_row(head, True)
                draw_row(row, False)
            state["y"] -= 0.15
    buf = io.BytesIO()
    with mpl.rc_context({"font.family": font_family, "pdf.fonttype": 42}), PdfPages(buf) as pdf:
        for n, fig in enumerate(pages, 1):
            fig.axes[0].text(
                _W / 2, 0.3, f"{plain_text(title)}　第 {n} 页 / 共 {len(pages)} 页", ha="center", fontsize=8
            )
            pdf.savefig(fig)
    return buf.getvalue()


# --- .docx -----------------------------------------------------------------------------------------------


def to_docx(blocks: Sequence[Block]) -> bytes:
    """The blocks as an editable Word document (headings, paragraphs, tables with a header row, images)."""
    import docx
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    doc = docx.Document()
    for style in ("Normal", "Heading 1", "Heading 2"):
        font = doc.styles[style].font
        font.name = "SimSun" if style == "Normal" else "SimHei"
        rpr = doc.styles[style].element.get_or_add_rPr()
        rpr.get_or_add_rFonts().set(qn("w:eastAsia"), font.name)
    doc.styles["Normal"].font.size = Pt(10.5)
    section = doc.sections[0]
    section.left_margin = section.right_margin = Cm(2.2)
    for kind, value in blocks:
        if kind == "h1":
            doc.add_heading(value, level=1)
        elif kind == "h2":
            doc.add_heading(value, level=2)
        elif kind == "p":
            doc.add_paragraph(value)
        elif kind == "image":
            doc.add_picture(io.BytesIO(value), width=Cm(16))
        elif kind == "table":
            header, rows = value
            table = doc.add_table(rows=1, cols=len(header))
            table.style = "Table Grid"
            for cell, text in zip(table.rows[0].cells, header, strict=True):
                cell.text = text
                for run in cell.paragraphs[0].runs:
                    run.bold = True
            for row in rows:
                cells = table.add_row().cells
                for cell, text in zip(cells, row, strict=True):
                    cell.text = text
            doc.add_paragraph()
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
