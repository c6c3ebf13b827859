"""The risk white paper (风险白皮书) of a jurisdiction and period: gathers the figures from the existing
analyses (four-colour map, summary, trend, safety distances, joint prevention, hidden hazards,
close-outs) and hands them to geo.report.white_paper, which assembles and writes the PDF or .docx.

Internal version: admins and the area's regulators (names of enterprises and risk units, the lists).
Public version: anyone; counts and shares only. The aggregates of analyses that are not themselves public
(safety distances, clusters, hazard statistics, close-out counts) are computed as the operator and only
their totals reach the public paper.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine

from api.settings import Settings
from api.usecases import closeouts
from api.usecases.four_colour import FourColourParams, compute, resolve_zones, title, zone_table
from api.usecases.joint_prevention import cluster_params, find_clusters
from geo import vocab
from geo.access import SYSTEM, Principal
from geo.errors import InvalidInput
from geo.report import white_paper as paper
from geo.store import history, summary
from geo.store.exports import county_register
from geo.store.hazards import monthly_statistics
from geo.store.repository import get_jurisdiction_row, require_area
from geo.store.safety_distance import violations_sql
from geo.store.summary import map_boundaries
from maps.print import cjk_font_family, four_colour_print

Format = Literal["pdf", "docx"]
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
MAX_LISTED = (
    50  # rows of each internal list (the paper gives the full counts; the lists are in the registers)
)
MAX_MEMBERS = 8  # member names printed per joint-prevention group


@dataclass(frozen=True)
class WhitePaperFile:
    content: bytes
    media_type: str
    filename: str
    data: paper.WhitePaperData


def parse_period(value: str, today: dt.date | None = None) -> paper.Period:
    """'YYYY-MM' or 'YYYY', not after the current month/year."""
    try:
        period = paper.parse_period(value)
    except ValueError:
        raise InvalidInput.one(
            "period", f"expected YYYY-MM or YYYY, got {value!r}", f"期间应为 YYYY-MM 或 YYYY，收到 {value!r}"
        ) from None
    if period.first > (today or dt.date.today()):
        raise InvalidInput.one("period", "the period has not begun", "期间尚未开始")
    if period.first.year < 2000:
        raise InvalidInput.one("period", "must be 2000 or later", "期间应不早于 2000 年")
    return period


def _members(members: Any) -> str:
    names = [m.name for m in members]
    more = f" 等 {len(names)} 家" if len(names) > MAX_MEMBERS else ""
    return "、".join(names[:MAX_MEMBERS]) + more


def _counts(month: dict[str, Any]) -> dict[int, int]:
    return {int(k): int(v) for k, v in month["counts"].items()}


def gather(
    engine: Engine,
    principal: Principal,
    adcode: str,
    period: paper.Period,
    settings: Settings,
    *,
    public: bool,
    today: dt.date | None = None,
) -> paper.WhitePaperData:
    """The figures of the paper. The internal version checks the principal's area (404 unknown, 401/403
    outside); the public one only that the jurisdiction exists."""
    today = today or dt.date.today()
    end = min(period.last, today)
    previous = paper.previous_period(period)
    with engine.connect() as conn:
        if public:
            j = get_jurisdiction_row(conn, adcode)
            reader = SYSTEM  # aggregates only reach the public paper
        else:
            j = require_area(conn, principal, adcode, detail=True)
            reader = principal
        months = max(12, len(period.months))
        first = dt.date(end.year, end.month, 1)
        for _ in range(months - 1):
            first = (first - dt.timedelta(days=1)).replace(day=1)
        trend_rows = history.level_trend(conn, adcode, first, dt.date(end.year, end.month, 1))
        trend = [(m["month"], _counts(m)) for m in trend_rows]
        prev_month = dt.date(previous.last.year, previous.last.month, 1)
        (prev_row,) = history.level_trend(conn, adcode, prev_month, prev_month)
        s = summary.summary(conn, reader, adcode, today=end, overdue_limit=0)
        s_prev = summary.summary(conn, reader, adcode, today=previous.last, overdue_limit=0)
        sectors = vocab.sectors()
        by_sector = [
            (
                sectors[r["sector"]].name_zh if r["sector"] in sectors else (r["sector"] or "公共区域"),
                int(r["risk_units"]),
                {int(k): int(v) for k, v in r["counts"].items()},
            )
            for r in s["by_sector"]
        ]
        by_zone = [
            (r["name"], r["level"], int(r["risk_units"]), {int(k): int(v) for k, v in r["counts"].items()})
            for r in s["by_zone"]
        ]
        major: list[tuple[str, str, int]] = []
        if not public:
            rows = county_register(conn, adcode, principal)["rows"]
            major = [(r.get("enterprise_name") or "公共区域", r["name"], 1) for r in rows if r["level"] == 1]
        report = violations_sql(conn, reader, adcode, with_lines=False, advice=False)
        v = report.violations
        violation_rows = (
            []
            if public
            else [
                (str(r["hazard_name"]), str(r["target_name"]), float(r["distance_m"]), float(r["required_m"]))
                for r in v.head(MAX_LISTED).to_dict("records")
            ]
        )
        found = find_clusters(conn, reader, cluster_params(adcode), settings)
        cluster_rows = (
            []
            if public
            else [
                (i, c.level, len(c.members), _members(c.members))
                for i, c in enumerate(found.clusters[:MAX_LISTED], 1)
            ]
        )
        stats = monthly_statistics(conn, reader, adcode=adcode, month=end.strftime("%Y-%m"), as_of=today)
        stats_prev = monthly_statistics(
            conn, reader, adcode=adcode, month=previous.last.strftime("%Y-%m"), as_of=today
        )
        cases = closeouts.list_cases(conn, reader, adcode=adcode, limit=10_000, as_of=end).cases
        by_status: dict[str, int] = {}
        for c in cases:
            by_status[str(c["status"])] = by_status.get(str(c["status"]), 0) + 1
        closed_out = (
            []
            if public
            else [
                (f"{a['enterprise_name'] or '公共区域'} {a['risk_unit_name']}", str(a["closed_out_on"] or ""))
                for a in closeouts.announcements(conn, adcode=adcode)[:MAX_LISTED]
            ]
        )
        fc = resolve_zones(conn, FourColourParams(adcode))  # the default zones, as the four-colour map's
        zones = compute(conn, SYSTEM if public else principal, fc, settings)
        if fc.zones == "children":  # the zone table counts as the map does (four_colour.zone_table)
            by_zone = zone_table(zones)
        boundaries = map_boundaries(conn, adcode)
        heading = title(conn, fc)
        synthetic = bool(conn.exec_driver_sql("SELECT bool_or(synthetic) FROM enterprises").scalar())
    map_png = (
        four_colour_print(
            zones,
            boundaries=boundaries,
            title=heading,
            data_source=settings.maps.data_source,
            date=end,
            palette=settings.maps.palette_map(),
            synthetic=synthetic,
            fmt="png",
            dpi=110,
        )
        if len(zones)
        else None
    )
    counts, previous_counts = trend[-1][1], _counts(prev_row)
    hazards = stats["total"] if stats["total"]["reported_to_date"] else None
    hazards_prev = stats_prev["total"] if stats_prev["total"]["reported_to_date"] else None

    def index(c: dict[int, int], overdue: int, h: dict[str, Any] | None) -> paper.SafetyIndex:
        return paper.safety_index(
            paper.IndexInputs(
                counts=c,
                overdue=overdue,
                violations=len(v),
                hazards_screened=report.hazards_checked,
                hazards_reported=h["reported_to_date"] if h else None,
                hazards_closed=h["closed_to_date"] if h else None,
            )
        )

    notes = [
        "说明：各等级数量为期末数（依据评估日期与变更记录重建）；行业、区域分布、安全防护距离与联防联控组团按生成时的登记数据计算。"
    ]
    if report.unchecked:
        notes.append(
            f"另有 {len(report.unchecked)} 处危险源因缺少类型或规模未能筛查安全防护距离，未计入安全距离分项。"
        )
    return paper.WhitePaperData(
        adcode=adcode,
        name=j["name"],
        period=period,
        previous=previous,
        public=public,
        made_on=today,
        counts=counts,
        previous_counts=previous_counts,
        enterprises=int(s["enterprises"]),
        by_sector=by_sector,
        by_zone=by_zone,
        trend=trend,
        major_risks=major[:MAX_LISTED],
        violations=len(v),
        hazards_screened=report.hazards_checked,
        violation_rows=violation_rows,
        clusters=len(found.clusters),
        cross_region_clusters=sum(1 for c in found.clusters if c.cross_region),
        cluster_rows=cluster_rows,
        hazards=hazards,
        previous_hazards=hazards_prev,
        closeouts=by_status,
        closed_out=closed_out,
        index=index(counts, int(s["overdue"]["count"]), hazards),
        previous_index=index(previous_counts, int(s_prev["overdue"]["count"]), hazards_prev),
        map_png=map_png,
        synthetic=synthetic,
        notes=notes,
    )


def white_paper(
    engine: Engine,
    principal: Principal,
    adcode: str,
    period: str,
    settings: Settings,
    *,
    public: bool,
    fmt: Format = "pdf",
    today: dt.date | None = None,
) -> WhitePaperFile:
    """The white paper as a file (PDF or .docx)."""
    if fmt not in MEDIA_TYPES:
        raise InvalidInput.one(
            "format", f"unknown format {fmt!r}; expected pdf or docx", "格式应为 pdf 或 docx"
        )
    p = parse_period(period, today)
    data = gather(engine, principal, adcode, p, settings, public=public, today=today)
    font = cjk_font_family()
    blocks = paper.document(data, font_family=font)
    heading = f"{data.name}安全风险白皮书（{p.label_zh}）"
    content = paper.to_pdf(blocks, font_family=font, title=heading) if fmt == "pdf" else paper.to_docx(blocks)
    suffix = "public" if public else "internal"
    return WhitePaperFile(content, MEDIA_TYPES[fmt], f"white-paper-{adcode}-{p.label}-{suffix}.{fmt}", data)
