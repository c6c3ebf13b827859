"""Hidden-hazard inspection and governance (隐患排查治理): inspections, the hazard register and the steps
of its loop, attachments, the overdue list and the dynamic level of risk units. Who may do what is
checked in geo/store/hazards.py; the rules are in geo/hazards.py."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Path, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import PrincipalDep
from api.deps import CrsDep, EngineDep, SettingsDep
from api.features import PRECONDITIONS, IfMatchDep, check_if_match, record_etag, require_if_match
from api.limits import expensive
from api.schemas import (
    GEOJSON_HAZARD,
    GEOJSON_HAZARDS,
    PDF,
    XLSX,
    Attachment,
    DynamicLevels,
    HazardAnnouncements,
    HazardsImported,
    HazardStatistics,
    InspectionCoverage,
    InspectionList,
    InspectionRecord,
    PlanRecorded,
    file_response,
)
from api.usecases import hazard_lists
from api.usecases import inspection_coverage as coverage
from api.usecases import inspection_plan as plan_usecase
from api.usecases import joint_prevention as jp
from geo import deadline
from geo import hazards as rules
from geo.closeout import today as beijing_today
from geo.coords import InputCrs, from_storage_xy
from geo.errors import InvalidInput, TooLarge
from geo.geometry import parse_geometry
from geo.hazards import Action, Grade, Status
from geo.io.hazard_list import HEADERS, parse_hazard_list
from geo.io.readers import file_format, read_file
from geo.io.writers import MEDIA_TYPES, write_sheets_xlsx
from geo.joint_prevention import parse_period
from geo.store import hazards as store
from geo.store.repository import deny

MAX_LIST_BYTES = 10 * 2**20
MAX_ATTACHMENT_BYTES = 10 * 2**20  # a phone photo or a scanned notice; larger files belong elsewhere

inspections = APIRouter(prefix="/api/v1/inspections", tags=["hidden hazards (隐患排查治理)"])
router = APIRouter(prefix="/api/v1/hazards", tags=["hidden hazards (隐患排查治理)"])
analysis = APIRouter(prefix="/api/v1/analysis", tags=["hidden hazards (隐患排查治理)"])

Key = Annotated[int, Path(ge=1, le=2**63 - 1, description="the record's id")]
Adcode = Annotated[
    str | None, Query(max_length=12, description="行政区划代码: the unit and everything below it")
]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Text5000 = Annotated[str, Field(min_length=1, max_length=5000)]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InspectionIn(Body):
    kind: Literal["self", "random", "department", "cross", "third_party"] = Field(
        description="自查 self, 双随机 random, department check, 交叉互查 cross, 第三方 third_party"
    )
    enterprise_id: Id | None = Field(None, description="the enterprise inspected (absent for a public area)")
    risk_unit_ids: Annotated[list[Id], Field(max_length=1000)] = Field(
        default_factory=list, description="the risk units checked"
    )
    geometry: dict[str, Any] | None = Field(None, description="a public area's place (GeoJSON Point)")
    jurisdiction: Annotated[str, Field(max_length=12)] | None = None
    inspected_on: dt.date | None = Field(None, description="today (Beijing) when absent")
    inspectors: Text200 = Field(description="who inspected (names or team)")
    checklist: Annotated[str, Field(max_length=2000)] | None = Field(None, description="检查表 used")
    result: Literal["no_hazard", "hazards_found"]
    notes: Annotated[str, Field(max_length=5000)] | None = None
    plan_ref: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="the plan or cross-inspection assignment this carries out"
    )


class FromPlanIn(Body):
    adcode: Annotated[str, Field(min_length=1, max_length=12, description="行政区划代码")]
    period: Annotated[str, Field(max_length=7, description="a month YYYY-MM or a year YYYY")]
    seed: Annotated[int, Field(ge=0, le=2**31 - 1, description="the plan's seed (as in inspection-plan)")] = 0
    part: Literal["random", "cross", "all"] = Field(
        "all", description="random: the 双随机 checks; cross: the cross-inspection assignments; all: both"
    )
    distance_m: Annotated[float, Field(gt=0, le=100_000)] | None = Field(
        None, description="cross-inspection clusters: the distance (as in /joint-prevention/cross-inspection)"
    )
    sector: Annotated[str, Field(max_length=64)] | None = Field(None, description="clusters of one sector")


class FindingIn(Body):
    """A hazard the inspection found: reported as POST /api/v1/hazards would report it."""

    description: Text5000
    grade: Grade
    criterion: Annotated[str, Field(max_length=16)] | None = None
    risk_unit_id: Id | None = None
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON Point; the unit's point when absent")


class InspectionPatch(Body):
    result: Literal["no_hazard", "hazards_found"] | None = Field(
        None, description="required to fill in a planned inspection"
    )
    inspected_on: dt.date | None = Field(None, description="the day it was done (not in the future)")
    inspectors: Text200 | None = None
    checklist: Annotated[str, Field(max_length=2000)] | None = None
    notes: Annotated[str, Field(max_length=5000)] | None = None
    risk_unit_ids: Annotated[list[Id], Field(max_length=1000)] | None = None
    findings: Annotated[list[FindingIn], Field(max_length=200)] = Field(
        default_factory=list, description="hazards found (隐患), reported with this inspection's id"
    )


class HazardIn(Body):
    description: Text5000
    grade: Grade = Field(description="general 一般隐患 or major 重大事故隐患")
    criterion: Annotated[str, Field(max_length=16)] | None = Field(
        None, description="the 重大事故隐患 criterion judged by (vocabularies: major_hazard_criteria)"
    )
    risk_unit_id: Id | None = None
    enterprise_id: Id | None = None
    inspection_id: Id | None = None
    geometry: dict[str, Any] | None = Field(
        None, description="GeoJSON Point; the risk unit's point when absent"
    )
    jurisdiction: Annotated[str, Field(max_length=12)] | None = None
    reported_on: dt.date | None = None


class AssignIn(Body):
    working_days: Annotated[int, Field(ge=1, le=rules.MAX_DEADLINE_WORKING_DAYS)] | None = Field(
        None, description="time limit in working days after the notice (or give `deadline`)"
    )
    deadline: dt.date | None = Field(None, description="the last day of the time limit (a working day)")
    notice_ref: Annotated[str, Field(max_length=100)] | None = Field(None, description="整改通知书 number")
    responsible: Annotated[str, Field(max_length=500)] | None = Field(None, description="五落实: 责任")
    measures: Annotated[str, Field(max_length=5000)] | None = Field(None, description="五落实: 措施")
    funds: Annotated[str, Field(max_length=500)] | None = Field(None, description="五落实: 资金")
    plan: Annotated[str, Field(max_length=5000)] | None = Field(None, description="五落实: 预案")
    on: dt.date | None = Field(None, description="date of the notice; today (Beijing) when absent")


class StepIn(Body):
    on: dt.date | None = Field(None, description="date of the step; today (Beijing) when absent")


class RectifyIn(StepIn):
    rectification: Text5000 = Field(description="what was done")


class AcceptIn(StepIn):
    evaluator: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="the third party that evaluated a major hazard's rectification (required for major)"
    )


class RejectIn(StepIn):
    reason: Text5000


class SuperviseIn(StepIn):
    supervising_unit: Text200 = Field(description="the office that lists the hazard (挂牌督办单位)")


def _json(body: Any, status_code: int = 200, media_type: str = "application/json") -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code, media_type=media_type)


def _geojson(body: Any, status_code: int = 200) -> JSONResponse:
    return _json(body, status_code, "application/geo+json")


def _point(body: dict[str, Any] | None, crs: InputCrs) -> Any:
    return None if body is None else parse_geometry(body, field="geometry", allowed=("Point",), crs=crs)


def _feature(row: dict[str, Any], crs: InputCrs) -> dict[str, Any]:
    props = {k: v for k, v in row.items() if k not in ("lon", "lat")}
    props["status_zh"] = rules.STATUS_ZH[Status(row["status"])]
    props["grade_zh"] = rules.GRADE_ZH[Grade(row["grade"])]
    lon, lat = from_storage_xy(row["lon"], row["lat"], crs)
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
        "properties": props,
    }


# --- inspections -------------------------------------------------------------------------------------


@inspections.post(
    "", status_code=201, summary="Record an inspection (检查记录)", response_model=InspectionRecord
)
def record_inspection(
    body: InspectionIn, engine: EngineDep, principal: PrincipalDep, crs: CrsDep
) -> JSONResponse:
    values = body.model_dump(exclude={"geometry"})
    values["geometry"] = _point(body.geometry, crs)
    with engine.begin() as conn:
        row = store.record_inspection(conn, principal, values, today=beijing_today())
    return _json(row, 201)


@inspections.post(
    "/from-plan",
    status_code=201,
    summary="Make a plan's checks into inspections to fill in (planned)",
    response_model=PlanRecorded,
)
def from_plan(
    body: FromPlanIn, request: Request, engine: EngineDep, principal: PrincipalDep, settings: SettingsDep
) -> JSONResponse:
    """The 双随机 plan of `GET /analysis/inspection-plan` (same adcode, period, seed) and the cross-inspection
    assignments of `GET /joint-prevention/cross-inspection` made into inspections in the `planned` state:
    one per planned check, with its enterprise, working day, inspectors from the roster, kind (random,
    cross) and plan_ref. Idempotent: each is keyed by the check it carries out (`plan_key`
    random:<enterprise>:<frequency window>, cross:<enterprise>:<period>), so running it again (any seed)
    makes none twice (`existing`). Admins and regulators; a regulator only for the enterprises filed in its
    jurisdictions (`outside`: left out). Fill one in with PATCH /api/v1/inspections/{id}."""
    parsed = parse_period(body.period)
    cross = jp.cluster_params(
        body.adcode, distance_m=body.distance_m or jp.DEFAULT_DISTANCE_M, sector=body.sector
    )
    # the draw and the clustering of a big area are expensive: one of the process's places for large
    # requests, under the role's time limit (503 naming what to ask instead), stopped if the client leaves
    hint, hint_zh = "a smaller adcode or a shorter period", "较小的行政区或较短的周期"
    with expensive(request, settings, principal, hint=hint, hint_zh=hint_zh), engine.begin() as conn:
        deadline.apply(conn)
        made = plan_usecase.record_plan(
            conn, principal, body.adcode, parsed, body.seed, settings, part=body.part, cross=cross
        )
    return _json(
        {
            "adcode": made.adcode,
            "period": made.period.label,
            "seed": made.seed,
            "part": made.part,
            "created": made.created,
            "existing": made.existing,
            "outside_jurisdiction": made.outside,
            "clusters_without_team": made.clusters_without_team,
        },
        201,
    )


@inspections.get("", summary="Inspections the caller may see", response_model=InspectionList)
def list_inspections(
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Adcode = None,
    enterprise_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    kind: Literal["self", "random", "department", "cross", "third_party"] | None = None,
    status: Annotated[
        Literal["planned", "done"] | None, Query(description="planned (to fill in) or done")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    with engine.connect() as conn:
        rows, total = store.list_inspections(
            conn,
            principal,
            adcode=adcode,
            enterprise_id=enterprise_id,
            kind=kind,
            status=status,
            limit=limit,
            offset=offset,
        )
    return _json({"inspections": rows, "numberMatched": total, "numberReturned": len(rows)})


def _inspection(row: dict[str, Any], status_code: int = 200) -> JSONResponse:
    response = _json(row, status_code)
    response.headers["ETag"] = record_etag(row)
    return response


@inspections.get("/{key}", summary="One inspection and the hazards it found", response_model=InspectionRecord)
def get_inspection(key: Key, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    with engine.connect() as conn:
        return _inspection(store.get_inspection(conn, principal, key))


@inspections.patch(
    "/{key}",
    summary="Fill in a planned inspection (or correct one)",
    responses=PRECONDITIONS,
    response_model=InspectionRecord,
)
def fill_inspection(
    key: Key,
    body: InspectionPatch,
    engine: EngineDep,
    principal: PrincipalDep,
    crs: CrsDep,
    if_match: IfMatchDep = None,
) -> JSONResponse:
    """The result, the day it was done, the inspectors, checklist and notes, the risk units checked and the
    hazards found (`findings`, each reported as POST /hazards would be, with this inspection's id; the
    result is then hazards_found). A planned inspection becomes `done`. Needs `If-Match` (the ETag of
    GET /inspections/{id}; 428 without, 412 when it changed). All or nothing: bad input is 422 naming each
    field (`findings[i].grade` …) and writes nothing. Admins and the regulators holding it; an enterprise
    its own self-inspections. Every change is kept (GET /inspections/{id}/history)."""
    values = body.model_dump(exclude_unset=True, exclude={"findings"})
    values = {k: v for k, v in values.items() if v is not None}
    findings = []
    for f in body.findings:
        finding = f.model_dump(exclude={"geometry"})
        finding["geometry"] = _point(f.geometry, crs)
        findings.append(finding)
    values["findings"] = findings
    with engine.begin() as conn:
        if principal.is_public:
            raise deny(principal, "fill in inspections")
        existing = store.get_inspection(conn, principal, key)
        check_if_match(require_if_match(if_match), record_etag(existing), "inspection")
        row = store.fill_inspection(
            conn, principal, key, values, expected_version=existing["version"], today=beijing_today()
        )
    return _inspection(row)


# --- hazards -----------------------------------------------------------------------------------------


@router.post("", status_code=201, summary="Report a hidden hazard (隐患)", **GEOJSON_HAZARD)
def report(body: HazardIn, engine: EngineDep, principal: PrincipalDep, crs: CrsDep) -> JSONResponse:
    """An enterprise reports hazards on its own units (自查); a regulator on any unit or place in its
    jurisdictions. A major hazard (重大事故隐患) names the criterion it was judged by."""
    values = body.model_dump(exclude={"geometry"})
    values["geometry"] = _point(body.geometry, crs)
    with engine.begin() as conn:
        row = store.report(conn, principal, values, today=beijing_today())
    return _geojson(_feature(row, crs), 201)


@router.post(
    "/import",
    status_code=201,
    summary="Import a hazard list (隐患清单) from Excel or CSV",
    response_model=HazardsImported,
    responses={
        200: {"description": "dry_run=true: how many hazards the list holds", "model": HazardsImported}
    },
)
def import_list(
    engine: EngineDep,
    principal: PrincipalDep,
    crs: CrsDep,
    file: Annotated[
        UploadFile,
        File(description="xlsx or csv: " + "; ".join(f"{f}: {' / '.join(h)}" for f, h in HEADERS.items())),
    ],
    dry_run: Annotated[bool, Query(description="check every row, keep nothing")] = False,
) -> JSONResponse:
    """Each row is a hazard report: its risk unit (风险点ID, or 统一社会信用代码 and 风险点名称), 隐患描述,
    隐患等级 (一般/重大), 判定依据 for a major one, 发现日期, optionally 经度/纬度 and 检查ID. Every row is
    checked as a report through the API would be; one bad row and nothing is stored (422 naming each
    row and column)."""
    name = file.filename or ""
    if file_format(name) not in ("xlsx", "csv"):
        raise InvalidInput.one(
            "file", "send the list as .xlsx or .csv", "隐患清单请以 .xlsx 或 .csv 文件上传"
        )
    data = file.file.read(MAX_LIST_BYTES + 1)
    if len(data) > MAX_LIST_BYTES:
        raise TooLarge(f"the list is larger than {MAX_LIST_BYTES} bytes; 隐患清单文件过大")
    with tempfile.TemporaryDirectory(prefix="riskmap-hazards-") as folder:
        path = FilePath(folder) / f"list{FilePath(name).suffix.lower()}"
        path.write_bytes(data)
        rows = parse_hazard_list(read_file(path, name))
    conn_cm = engine.connect() if dry_run else engine.begin()
    with conn_cm as conn:
        made = store.import_hazards(conn, principal, rows, crs=crs, today=beijing_today())
        if dry_run:
            conn.rollback()
    if dry_run:
        return _json({"dry_run": True, "hazards": len(made)})
    return _json({"hazards": len(made), "ids": made}, 201)


@router.get("", summary="The hazard register (GeoJSON) the caller may see", **GEOJSON_HAZARDS)
def list_hazards(
    engine: EngineDep,
    principal: PrincipalDep,
    crs: CrsDep,
    adcode: Adcode = None,
    status: Status | None = None,
    grade: Grade | None = None,
    open: Annotated[bool, Query(description="only hazards not yet accepted or closed")] = False,
    overdue: Annotated[bool, Query(description="only those past their deadline")] = False,
    supervised: Annotated[bool | None, Query(description="listed for supervision (挂牌督办)")] = None,
    enterprise_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    risk_unit_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    as_of: Annotated[
        dt.date | None, Query(description="the day to judge overdue on; today when absent")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    with engine.connect() as conn:
        rows, total = store.list_hazards(
            conn,
            principal,
            as_of=as_of or beijing_today(),
            adcode=adcode,
            status=status,
            grade=grade,
            open_only=open,
            overdue=overdue,
            supervised=supervised,
            enterprise_id=enterprise_id,
            risk_unit_id=risk_unit_id,
            limit=limit,
            offset=offset,
        )
    body = {
        "type": "FeatureCollection",
        "features": [_feature(r, crs) for r in rows],
        "numberMatched": total,
        "numberReturned": len(rows),
    }
    return _geojson(body)


@router.get("/statistics", summary="The month's 隐患排查治理统计分析表", response_model=HazardStatistics)
def statistics(
    engine: EngineDep,
    principal: PrincipalDep,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM", examples=["2026-11"])],
    adcode: Adcode = None,
) -> JSONResponse:
    """Found, rectified and closed in the month; open, overdue and listed for supervision at its end; the
    rectification rate to date; per grade and per sector. Seed 002 二(一)1: due by the 3rd of the next
    month (`report_due`)."""
    with engine.connect() as conn:
        body = store.monthly_statistics(conn, principal, adcode=adcode, month=month, as_of=beijing_today())
    return _json(body)


@router.get(
    "/lists.xlsx",
    summary="五个清单: check, hazard, rectification, close-out and measures lists (Excel)",
    response_class=Response,
    responses=file_response(XLSX),
)
def five_lists(
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Adcode = None,
    enterprise_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """Seed 000 (九): 检查清单, 隐患清单, 整改清单, 销号清单, 措施清单 of one jurisdiction (`adcode`) or one
    enterprise (`enterprise_id`; an enterprise user gets its own without either), as five sheets, printed
    landscape with the header on every page."""
    with engine.connect() as conn:
        sheets = hazard_lists.five_lists(
            conn, principal, adcode=adcode, enterprise_id=enterprise_id, as_of=beijing_today()
        )
    name = f"hazard-lists-{adcode or enterprise_id or 'own'}.xlsx"
    return Response(
        write_sheets_xlsx(sheets),
        media_type=MEDIA_TYPES["xlsx"],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/announcements", summary="公示: closed major hazards (public)", response_model=HazardAnnouncements
)
def announcements(engine: EngineDep, adcode: Adcode = None) -> JSONResponse:
    """Each closed 重大事故隐患: the enterprise, where, the criterion it was judged by, the supervising office
    and the dates; never people, phones, the description or the position."""
    with engine.connect() as conn:
        rows = store.announcements(conn, adcode=adcode)
    return _json({"announcements": rows})


@router.get("/{key}", summary="One hazard with its steps and attachments", **GEOJSON_HAZARD)
def get_hazard(key: Key, engine: EngineDep, principal: PrincipalDep, crs: CrsDep) -> JSONResponse:
    with engine.connect() as conn:
        row = store.get_hazard(conn, principal, key, as_of=beijing_today())
    return _geojson(_feature(row, crs))


def _step(
    key: int, action: Action, body: BaseModel, engine: Any, principal: Any, crs: InputCrs
) -> JSONResponse:
    with engine.begin() as conn:
        row = store.step(conn, principal, key, action, body.model_dump(), today=beijing_today())
    return _geojson(_feature(row, crs))


@router.post(
    "/{key}/assign", summary="Issue the rectification notice (整改通知) with its deadline", **GEOJSON_HAZARD
)
def assign(key: Key, body: AssignIn, engine: EngineDep, principal: PrincipalDep, crs: CrsDep) -> JSONResponse:
    """The deadline in working days (State Council holidays in data/cn_working_calendar.csv; past the
    calendar's last year it is provisional) or as a date. A major hazard's notice carries 五落实."""
    return _step(key, Action.assign, body, engine, principal, crs)


@router.post("/{key}/start", summary="Rectification has started (整改中)", **GEOJSON_HAZARD)
def start(key: Key, body: StepIn, engine: EngineDep, principal: PrincipalDep, crs: CrsDep) -> JSONResponse:
    return _step(key, Action.start, body, engine, principal, crs)


@router.post(
    "/{key}/rectify", summary="Rectification done (整改完成), waiting for acceptance", **GEOJSON_HAZARD
)
def rectify(
    key: Key, body: RectifyIn, engine: EngineDep, principal: PrincipalDep, crs: CrsDep
) -> JSONResponse:
    """For a major hazard the third-party evaluation is due within 10 working days (seed 002 二(一)3)."""
    return _step(key, Action.rectify, body, engine, principal, crs)


@router.post(
    "/{key}/accept",
    summary="Accept the rectification (验收; major: third-party evaluation)",
    **GEOJSON_HAZARD,
)
def accept(key: Key, body: AcceptIn, engine: EngineDep, principal: PrincipalDep, crs: CrsDep) -> JSONResponse:
    """A regulator holding the hazard, not the one who rectified it."""
    return _step(key, Action.accept, body, engine, principal, crs)


@router.post("/{key}/reject", summary="Acceptance failed: the hazard is re-opened", **GEOJSON_HAZARD)
def reject(key: Key, body: RejectIn, engine: EngineDep, principal: PrincipalDep, crs: CrsDep) -> JSONResponse:
    return _step(key, Action.reject, body, engine, principal, crs)


@router.post("/{key}/close", summary="Close the hazard (销号)", **GEOJSON_HAZARD)
def close(key: Key, body: StepIn, engine: EngineDep, principal: PrincipalDep, crs: CrsDep) -> JSONResponse:
    """Ends a listed supervision (挂牌督办) too."""
    return _step(key, Action.close, body, engine, principal, crs)


@router.post("/{key}/supervise", summary="List a major hazard for supervision (挂牌督办)", **GEOJSON_HAZARD)
def supervise(
    key: Key, body: SuperviseIn, engine: EngineDep, principal: PrincipalDep, crs: CrsDep
) -> JSONResponse:
    return _step(key, Action.supervise, body, engine, principal, crs)


@router.post(
    "/{key}/attachments",
    status_code=201,
    summary="Attach a photo (JPEG, PNG) or a PDF",
    response_model=Attachment,
)
def add_attachment(
    key: Key,
    engine: EngineDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description=f"JPEG, PNG or PDF, at most {MAX_ATTACHMENT_BYTES} bytes")],
) -> JSONResponse:
    data = file.file.read(MAX_ATTACHMENT_BYTES + 1)
    with engine.begin() as conn:
        row = store.add_attachment(
            conn, principal, key, filename=file.filename or "", data=data, max_bytes=MAX_ATTACHMENT_BYTES
        )
    return _json(row, 201)


@router.get(
    "/{key}/attachments/{attachment_id}",
    summary="Download an attachment",
    response_class=Response,
    responses=file_response("image/jpeg", "image/png", PDF),
)
def get_attachment(
    key: Key,
    attachment_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    engine: EngineDep,
    principal: PrincipalDep,
) -> Response:
    with engine.connect() as conn:
        row = store.get_attachment(conn, principal, key, attachment_id)
    # Served as a download of its checked type, never rendered as a page of ours.
    return Response(
        bytes(row["data"]),
        media_type=row["media_type"],
        headers={
            "Content-Disposition": f'attachment; filename="attachment-{row["id"]}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- analysis ----------------------------------------------------------------------------------------


@analysis.get(
    "/inspection-coverage",
    summary="The 双随机 plan beside the inspections done (coverage by level)",
    response_model=InspectionCoverage,
)
def inspection_coverage(
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    adcode: Annotated[str, Query(max_length=12, description="行政区划代码")],
    period: Annotated[str, Query(max_length=7, description="a month YYYY-MM or a year YYYY")],
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="the plan's seed")] = 0,
) -> JSONResponse:
    """The plan is the planned inspections made from it (POST /inspections/from-plan) and, for checks not
    made into records, the draw of `seed` (`plan_source`). Each planned check is done when its record is
    filled in, or a regulator's inspection (random, department, cross, third party) of the enterprise is
    done in the check's frequency window; checks whose day has not come are not yet counted as missed.
    `cross`: the cross-inspection assignments made into inspections. Self-inspections recorded against
    each enterprise's calendar to date."""
    with engine.connect() as conn:
        found = coverage.coverage(
            conn, principal, adcode, parse_period(period), seed, settings, as_of=beijing_today()
        )
    return _json(
        {
            "adcode": found.adcode,
            "period": found.period,
            "seed": found.seed,
            "by_level": {str(k): v for k, v in found.by_level.items()},
            "missed": found.missed,
            "self_inspection": found.self_inspection,
            "cross": found.cross,
            "plan_source": found.plan_source,
        }
    )


@analysis.get(
    "/dynamic-levels",
    summary="Risk units whose level is raised by open hazards",
    response_model=DynamicLevels,
)
def dynamic_levels(
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Annotated[str, Query(max_length=12, description="行政区划代码")],
) -> JSONResponse:
    """Each unit with open hazards: its assessed level, the level shown while they are open (rules in
    data/dynamic_risk_rules.csv: an open 重大隐患 → level 1; three open 一般隐患 → one level up) and the
    hazards and rules that raised it."""
    with engine.connect() as conn:
        rows = store.dynamic_levels(conn, principal, adcode=adcode)
    rules_used = {r.code: {"rule_zh": r.text_zh, "source": r.source} for r in rules.dynamic_rules()}
    return _json({"adcode": adcode, "units": rows, "rules": rules_used})
