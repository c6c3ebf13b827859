"""Response schemas the OpenAPI document names: GeoJSON Features and FeatureCollections with typed
properties, links, the error body, and the media types of files. Documentation only: the routes build their
answers themselves (api/features.py), these models describe them so a client can be generated."""

from __future__ import annotations

import decimal
import types
import typing
from typing import Annotated, Any, Literal, Union

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import ARRAY, Table
from sqlalchemy.dialects.postgresql import JSONB

from geo.store import repository as repo

GEOJSON = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    """JSON sent as `application/geo+json` (RFC 7946); as a route's response_class it makes that the
    documented media type."""

    media_type = GEOJSON


class Geometry(BaseModel):
    """A GeoJSON geometry (RFC 7946 §3.1), in the request's `crs`."""

    model_config = ConfigDict(extra="allow")

    type: Literal[
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    ]
    coordinates: list[Any] | None = None
    geometries: list[Geometry] | None = None


class Link(BaseModel):
    model_config = ConfigDict(extra="allow")

    rel: str = Field(description="self, next, prev, collection, …")
    href: str
    type: str | None = None
    title: str | None = None


class ErrorItem(BaseModel):
    """One problem: where (a field path, row or feature) and why, in English and Chinese."""

    model_config = ConfigDict(extra="allow")

    field: str = Field(description="the field, query parameter, header, row or feature at fault")
    reason: str
    reason_zh: str | None = Field(None, description="the reason in Chinese")


class ErrorBody(BaseModel):
    """Every error answer of riskmap (api/errors.py)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "detail": "properties.level: expected 1, 2, 3 or 4",
                "errors": [
                    {
                        "field": "properties.level",
                        "reason": "expected 1, 2, 3 or 4",
                        "reason_zh": "风险等级应为 1–4",
                    }
                ],
                "request_id": "0b5c1b0e8f8e4d4c9a5c2f1e3d4b5a69",
            }
        },
    )

    detail: str = Field(description="what went wrong, in one sentence")
    errors: list[ErrorItem] = Field(
        description="each problem with its field; empty when there is none to name"
    )
    request_id: str = Field(description="also in the X-Request-ID header; quote it when reporting a problem")


# --- typed properties of the register tables -----------------------------------------------------------------


def _bare(tp: Any) -> Any:
    """A type without its constraints (Annotated metadata): an answer is described by what it may hold, not
    by the limits a new value must keep (rows loaded before a limit existed are still answered)."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _bare(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return Union[tuple(_bare(a) for a in typing.get_args(tp))]  # noqa: UP007 (built at run time)
    if origin in (list, dict, tuple) and typing.get_args(tp):
        return origin[tuple(_bare(a) for a in typing.get_args(tp))]
    return tp


def _column_type(table: Table, name: str) -> Any:
    col = table.c.get(name)
    if col is None:
        return Any
    if isinstance(col.type, ARRAY):
        try:
            return list[col.type.item_type.python_type]  # type: ignore[name-defined]
        except NotImplementedError:
            return list[Any]
    if isinstance(col.type, JSONB):
        return Any
    try:
        py = col.type.python_type
    except NotImplementedError:
        return Any
    return float if py is decimal.Decimal else py


COMPUTED: dict[str, dict[str, Any]] = {
    # values the server adds to a row's columns (repository.list_features / get_feature)
    "enterprise": {"level": int, "level_rule": str, "risk_unit_count": int},
    "risk unit": {"overdue": bool},
    "protection target": {"occupancy_exceeded": bool},
}


def properties_model(res: repo.Resource, schema: type[BaseModel], name: str) -> type[BaseModel]:
    """The properties of `res` as answered: every column the API sends, typed from the input schema where it
    has the field (enums, lists, dates) and from the table otherwise; each may be null."""
    fields: dict[str, Any] = {}
    for prop in (*res.properties, *res.geometries_in_properties, *COMPUTED.get(res.name, {})):
        if prop in res.geometries_in_properties:
            tp: Any = Geometry
        elif prop in COMPUTED.get(res.name, {}):
            tp = COMPUTED[res.name][prop]
        elif prop in schema.model_fields:
            tp = _bare(schema.model_fields[prop].annotation)
        else:
            tp = _column_type(res.table, prop)
        description = schema.model_fields[prop].description if prop in schema.model_fields else None
        fields[prop] = (tp | None, Field(None, description=description))
    return create_model(name, __config__=ConfigDict(extra="allow"), **fields)


def feature_models(
    res: repo.Resource, schema: type[BaseModel], noun: str
) -> tuple[type[BaseModel], type[BaseModel]]:
    """(Feature, FeatureCollection) models of a register table, named after `noun` (e.g. RiskUnit); made once
    per table, so two routes of one table name the same schema."""
    if res.name in _MADE:
        return _MADE[res.name]
    props = properties_model(res, schema, f"{noun}Record")
    key_type: Any = str if res.key == "adcode" else int
    one: dict[str, Any] = {
        "type": (Literal["Feature"], ...),
        "id": (key_type, Field(..., description=f"the {res.name}'s {res.key}")),
        "geometry": (Geometry | None, ...),
        "properties": (props, ...),
    }
    feature = create_model(f"{noun}Feature", __config__=ConfigDict(extra="allow"), **one)
    many: dict[str, Any] = {
        "type": (Literal["FeatureCollection"], ...),
        "features": (list[feature], ...),
        "numberMatched": (int, Field(..., description="rows matching the filters, over all pages")),
        "numberReturned": (int, Field(..., description="features on this page")),
        "links": (list[Link], Field(..., description="self, and next / prev where there are more pages")),
        "next": (str | None, Field(None, description="the next page's URL, or null on the last page")),
    }
    collection = create_model(f"{noun}FeatureCollection", __config__=ConfigDict(extra="allow"), **many)
    _MADE[res.name] = (feature, collection)
    return feature, collection


_MADE: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {}


# --- files ----------------------------------------------------------------------------------------------------

BINARY = {"type": "string", "format": "binary"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF = "application/pdf"
GPKG = "application/geopackage+sqlite3"
CSV = "text/csv"
ZIP = "application/zip"


def file_response(*media_types: str, description: str = "the file") -> dict[int | str, dict[str, Any]]:
    """A 200 answer that is a file of one of `media_types` (for a route's `responses=`)."""
    return {200: {"description": description, "content": {m: {"schema": BINARY} for m in media_types}}}


class Feature(BaseModel):
    """A GeoJSON Feature (RFC 7946 §3.2)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["Feature"]
    id: int | str | None = None
    geometry: Geometry | None
    properties: dict[str, Any] | None


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946 §3.3); analyses add members of their own beside `features`."""

    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"]
    features: list[Feature]


GEOJSON_FEATURE: dict[str, Any] = {"response_model": Feature, "response_class": GeoJSONResponse}
GEOJSON_COLLECTION: dict[str, Any] = {"response_model": FeatureCollection, "response_class": GeoJSONResponse}


def table_record(
    name: str, table: Table, extra: dict[str, Any], skip: tuple[str, ...] = ("geom",)
) -> type[BaseModel]:
    """Properties made of a table's columns (typed from the table) and `extra` computed values; each may be
    null, and more may come (extra allowed)."""
    fields: dict[str, Any] = {
        c.name: (_column_type(table, c.name) | None, None) for c in table.c if c.name not in skip
    }
    fields.update({k: (tp | None, None) for k, tp in extra.items()})
    return create_model(name, __config__=ConfigDict(extra="allow"), **fields)


def _geojson_models(
    noun: str, props: type[BaseModel], **members: Any
) -> tuple[type[BaseModel], type[BaseModel]]:
    one: dict[str, Any] = {
        "type": (Literal["Feature"], ...),
        "id": (int | str, ...),
        "geometry": (Geometry | None, ...),
        "properties": (props, ...),
    }
    feature = create_model(f"{noun}Feature", __config__=ConfigDict(extra="allow"), **one)
    many: dict[str, Any] = {
        "type": (Literal["FeatureCollection"], ...),
        "features": (list[feature], ...),
        **members,
    }
    return feature, create_model(f"{noun}FeatureCollection", __config__=ConfigDict(extra="allow"), **many)


def _hazard_models() -> tuple[type[BaseModel], type[BaseModel]]:
    from geo.store.models import Hazard

    record = table_record(
        "HazardRecord",
        Hazard.__table__,  # type: ignore[arg-type]
        {
            "risk_unit_name": str,
            "risk_unit_level": int,
            "enterprise_name": str,
            "status_zh": str,
            "grade_zh": str,
            "overdue": bool,
            "working_days_overdue": int,
            "evaluation_overdue": bool,
            "deadlines_provisional": bool,
            "open": bool,
            "events": list[dict[str, Any]],
            "attachments": list[dict[str, Any]],
        },
    )
    return _geojson_models(
        "Hazard",
        record,
        numberMatched=(int | None, Field(None, description="hazards matching the filters, over all pages")),
        numberReturned=(int | None, None),
    )


HazardFeature, HazardFeatureCollection = _hazard_models()


class FourColourZone(BaseModel):
    """One zone of the four-colour map."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="the zone's code (a child unit's adcode, a cell's id, …)")
    name: str | None = None
    level: int | None = Field(description="1 重大/红 … 4 低/蓝; null when no risk unit touches the zone")
    level_name: str | None = None
    color: str | None = Field(description="the level's colour (RISKMAP_MAP_PALETTE); null with no level")
    counts: dict[str, int] = Field(description="risk units by level, keys 1–4")
    area_share: dict[str, float] = Field(
        description="share of the zone's area covered by units of each level"
    )
    unit_count: int
    enterprise_count: int
    index: float | None = Field(None, description="rule=weighted: Σ w_L·n_L")
    raised_units: int | None = Field(None, description="levels=dynamic: units raised by open hidden hazards")
    enterprise_ids: list[int] | None = Field(None, description="admins and the area's regulators only")
    why: dict[str, Any] | None = Field(
        None, description="why the zone has its level (text_zh; deciding_units for admins and regulators)"
    )


FourColourFeature, FourColourFeatureCollection = _geojson_models(
    "FourColour",
    FourColourZone,
    adcode=(str, ...),
    name=(str | None, None),
    zones=(str, Field(..., description="children, grid, h3, parks or grids")),
    rule=(str, ...),
    rule_description=(str | None, None),
    zones_used=(
        dict[str, Any] | None,
        Field(None, description="the zones used and why (kind, default, label_zh, reason, reason_zh, …)"),
    ),
    levels=(str | None, Field(None, description="assessed or dynamic")),
    zone_counts=(dict[str, int], Field(..., description="zones per level 1–4, and `none`")),
    unit_counts=(dict[str, int] | None, Field(None, description="risk units filed in the area by level 1–4")),
    unit_counts_description=(str | None, None),
    numberReturned=(int, ...),
)


class RaisedUnit(BaseModel):
    """A risk unit shown above its assessed level because of open hidden hazards (levels=dynamic)."""

    model_config = ConfigDict(extra="allow")

    risk_unit_id: int
    name: str | None = None
    enterprise_id: int | None = None
    assessed_level: int | None = None
    dynamic_level: int | None = None
    rules: list[str] = Field(description="the rules that raised it")
    raised_by: list[dict[str, Any]] = Field(description="the hazards that raised it (id, grade, rule)")


class EnterpriseLevel(BaseModel):
    """One enterprise with its level and its risk units by level."""

    model_config = ConfigDict(extra="allow")

    id: int
    name: str | None = None
    credit_code: str | None = None
    sector: str | None = None
    jurisdiction_adcode: str | None = None
    level: int | None = Field(description="1 重大 … 4 低; null with no risk unit")
    level_name: str | None = None
    color: str | None = None
    counts: dict[str, int] = Field(description="risk units by level 1–4")
    risk_unit_count: int
    level_rule: str | None = None
    raised: list[RaisedUnit] | None = Field(None, description="levels=dynamic: the enterprise's raised units")


EnterpriseLevelFeature, EnterpriseLevelFeatureCollection = _geojson_models(
    "EnterpriseLevel",
    EnterpriseLevel,
    adcode=(str, ...),
    level_rule=(str | None, None),
    levels=(str | None, Field(None, description="assessed or dynamic")),
    counts=(dict[str, int], Field(..., description="enterprises per level 1–4, and `none`")),
    numberReturned=(int, ...),
)
GEOJSON_ENTERPRISE_LEVELS: dict[str, Any] = {
    "response_model": EnterpriseLevelFeatureCollection,
    "response_class": GeoJSONResponse,
}


class SectorCount(BaseModel):
    model_config = ConfigDict(extra="allow")

    sector: str | None
    enterprises: int
    risk_units: int
    counts: dict[str, int] = Field(description="risk units by level 1–4")


class ZoneCount(BaseModel):
    model_config = ConfigDict(extra="allow")

    adcode: str
    name: str | None = None
    level: int | None = None
    risk_units: int
    enterprises: int
    counts: dict[str, int] = Field(description="risk units by level 1–4")


class OverdueUnit(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    name: str | None = None
    level: int | None = None
    enterprise_id: int | None = None
    enterprise_name: str | None = None
    due: str = Field(description="ISO date the re-assessment was due")
    days_overdue: int


class Overdue(BaseModel):
    model_config = ConfigDict(extra="allow")

    count: int
    items: list[OverdueUnit] = Field(description="admins and the area's regulators only (else empty)")


class Summary(BaseModel):
    """The register of a jurisdiction in numbers."""

    model_config = ConfigDict(extra="allow")

    adcode: str
    name: str | None = None
    date: str = Field(description="the day counted (Beijing time), ISO date")
    enterprises: int
    risk_units: int
    public_area_risks: int
    counts: dict[str, int] = Field(description="risk units by level 1–4")
    by_sector: list[SectorCount]
    by_zone: list[ZoneCount]
    overdue: Overdue
    levels: str = Field(description="assessed or dynamic")
    raised_units: int | None = Field(None, description="levels=dynamic: how many units were raised")
    raised: list[RaisedUnit] | None = Field(
        None, description="levels=dynamic; admins and the area's regulators"
    )


class PlanRecorded(BaseModel):
    """What POST /inspections/from-plan made."""

    model_config = ConfigDict(extra="allow")

    adcode: str
    period: str
    seed: int
    part: str
    created: list[int] = Field(description="ids of the planned inspections made now")
    existing: list[int] = Field(description="ids of checks already made into inspections (not made twice)")
    outside_jurisdiction: list[int] = Field(description="enterprises outside the caller's jurisdictions")
    clusters_without_team: list[int]


class Token(BaseModel):
    access_token: str = Field(description="send as `Authorization: Bearer …`")
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds")


class Me(BaseModel):
    username: str
    role: Literal["admin", "regulator", "enterprise", "public"]
    adcodes: list[str] = Field(description="a regulator's jurisdictions (roots of the subtrees it oversees)")
    enterprise_id: int | None = Field(description="an enterprise user's enterprise")


class SessionInfo(BaseModel):
    username: str
    role: Literal["admin", "regulator", "enterprise", "public"]
    csrf_token: str = Field(
        description="send in the X-CSRF-Token header of every write signed in by the cookie"
    )
    csrf_header: str


GEOJSON_HAZARD: dict[str, Any] = {"response_model": HazardFeature, "response_class": GeoJSONResponse}
GEOJSON_HAZARDS: dict[str, Any] = {
    "response_model": HazardFeatureCollection,
    "response_class": GeoJSONResponse,
}
GEOJSON_FOUR_COLOUR: dict[str, Any] = {
    "response_model": FourColourFeatureCollection,
    "response_class": GeoJSONResponse,
}


def _closeout_models() -> tuple[type[BaseModel], type[BaseModel]]:
    from geo.store.models import CloseOut

    case = table_record(
        "CloseoutCase",
        CloseOut.__table__,  # type: ignore[arg-type]
        {
            "risk_unit_kind": str,
            "risk_unit_level": int,
            "assigned_late": bool,
            "verification_overdue": bool,
            "deadlines_provisional": bool,
            "events": list[dict[str, Any]],
        },
        skip=(),
    )
    listed = create_model(
        "CloseoutCaseList",
        __config__=ConfigDict(extra="allow"),
        cases=(list[case], ...),  # type: ignore[valid-type]
        numberMatched=(int, ...),
        numberReturned=(int, ...),
    )
    return case, listed


CloseoutCase, CloseoutCaseList = _closeout_models()
BINARY_OF = {"schema": BINARY}


class HistoryRecord(BaseModel):
    """One change of a row: who, when, and the values before and after."""

    model_config = ConfigDict(extra="allow")

    id: int | None = Field(description="null for a create rebuilt from the row itself (migration 0009)")
    action: Literal["create", "update", "delete"]
    actor: str
    at: str | None = Field(description="ISO 8601 time of the change")
    old_values: dict[str, Any] | None = Field(description="an update's changed columns; a delete's whole row")
    new_values: dict[str, Any] | None = Field(description="an update's changed columns; a create's whole row")


class History(BaseModel):
    model_config = ConfigDict(extra="allow")

    entity: str
    id: int
    records: list[HistoryRecord]


class TrendMonth(BaseModel):
    model_config = ConfigDict(extra="allow")

    month: str = Field(description="YYYY-MM")
    counts: dict[str, int] = Field(description="risk units by level 1–4 at the month's end")
    total: int
    assessed_counts: dict[str, int] | None = Field(None, description="levels=dynamic: at assessed levels")
    raised_units: int | None = Field(None, description="levels=dynamic: units raised at the month's end")


class Trend(BaseModel):
    model_config = ConfigDict(extra="allow")

    adcode: str
    name: str | None = None
    months: list[TrendMonth]


def _inspection_models() -> tuple[type[BaseModel], type[BaseModel]]:
    from geo.store.models import Inspection

    record = table_record("Inspection", Inspection.__table__, {"hazard_ids": list[int]}, skip=())  # type: ignore[arg-type]
    listed = create_model(
        "InspectionList",
        __config__=ConfigDict(extra="allow"),
        inspections=(list[record], ...),  # type: ignore[valid-type]
        numberMatched=(int, ...),
        numberReturned=(int, ...),
    )
    return record, listed


InspectionRecord, InspectionList = _inspection_models()


class ImportReport(BaseModel):
    """What an import found and did (or, with dry_run, would do)."""

    model_config = ConfigDict(extra="allow")

    kind: str
    format: str
    dry_run: bool
    valid: bool = Field(description="no row was refused")
    written: bool
    rows: int
    rejected_rows: int
    inserted: int
    updated: int
    unchanged: int = Field(description="rows equal to a stored row: not written, no history")
    columns: dict[str, str] = Field(description="header in the file → field")
    ignored_columns: list[str]
    encoding: str | None
    errors: list[ErrorItem] = Field(description="row or feature, field and reason of each refused value")
    errors_total: int


class SearchResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="enterprise, risk_unit, protection_target or jurisdiction")
    id: int | str
    name: str
    detail: str | None = None
    bbox: list[float] = Field(description="[minlon, minlat, maxlon, maxlat] in the request's crs")


class SearchAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    q: str
    results: list[SearchResult]


class Health(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["ok"]
    postgis: str | None = Field(description="PostGIS library version")
    schema_revision: str | None = Field(description="the database's migration revision")


class Liveness(BaseModel):
    status: Literal["live"]


class Readiness(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["ready"]
    schema_revision: str | None


class HazardCounts(BaseModel):
    """A month's counts of hidden hazards (definitions in the answer's `definitions`)."""

    model_config = ConfigDict(extra="allow")

    found: int
    rectified: int
    closed: int
    open: int
    overdue: int
    supervised: int
    reported_to_date: int
    closed_to_date: int
    rectification_rate: float | None = Field(description="closed to date / reported to date; null with none")


class HazardStatistics(BaseModel):
    """隐患排查治理统计分析表 of a month."""

    model_config = ConfigDict(extra="allow")

    month: str = Field(description="YYYY-MM")
    adcode: str | None
    report_due: str = Field(description="ISO date the month's report is due")
    report_due_passed: bool
    total: HazardCounts
    by_grade: dict[str, HazardCounts] = Field(description="general, major")
    by_sector: dict[str, HazardCounts] = Field(description="sector code, or public_area")
    definitions: dict[str, str]


class HazardAnnouncements(BaseModel):
    """公示 of closed major hazards: no people, phones, description or position."""

    model_config = ConfigDict(extra="allow")

    announcements: list[dict[str, Any]]


class Vocabularies(BaseModel):
    """The controlled lists of the register (data/*.csv and the standards they come from)."""

    model_config = ConfigDict(extra="allow")

    levels: list[dict[str, Any]] = Field(description="1 重大/红 … 4 低/蓝, names and default colours")
    sectors: list[dict[str, Any]]
    accident_types: list[dict[str, Any]]
    protection_target_types: list[dict[str, Any]]
    hazard_kinds: list[dict[str, Any]] = Field(description="the safety-distance rules' hazard kinds")
    consultation_zones: list[dict[str, Any]]
    gb_classes: list[dict[str, Any]]
    control_levels: list[str]
    assessment_bands: dict[str, list[dict[str, Any]]] = Field(description="LEC, LS, MES bands")


class RosterLoaded(BaseModel):
    """What POST /roster stored (or, with dry_run, found in the file)."""

    model_config = ConfigDict(extra="allow")

    inspectors: int = Field(description="inspectors in the file")
    deactivated: int | None = Field(None, description="inspectors no longer in the roster (kept, inactive)")
    dry_run: bool | None = None


class RosterList(BaseModel):
    model_config = ConfigDict(extra="allow")

    inspectors: list[dict[str, Any]]
    count: int


class PlanChecks(BaseModel):
    """One list of the plan: its totals (the whole plan's) and the rows of this page."""

    model_config = ConfigDict(extra="allow")

    count: int = Field(description="checks (random_checks) or self-inspections (self_inspection) in the plan")
    by_level: dict[str, int] | None = None
    numberMatched: int | None = Field(None, description="rows of this list in the whole plan")
    numberReturned: int | None = Field(None, description="rows of this list on this page")
    items: list[dict[str, Any]]


class InspectionPlan(BaseModel):
    """The 双随机 draw of a period and the self-inspection calendar."""

    model_config = ConfigDict(extra="allow")

    adcode: str
    name: str | None = None
    period: str = Field(description="YYYY-MM or YYYY")
    start: str
    end: str
    seed: int
    frequencies: list[dict[str, Any]] = Field(description="data/inspection_frequencies.csv")
    roster: dict[str, Any] = Field(description="synthetic (bool), note, jurisdictions, inspectors")
    enterprises: int
    unassessed_enterprises: int
    limit: int | None = Field(None, description="rows of each list per page")
    offset: int | None = Field(None, description="rows of each list skipped")
    next: str | None = Field(None, description="the next page's URL, or null on the last page")
    links: list[Link] | None = Field(
        None, description="self, next / prev, and alternate: the whole plan as Excel and CSV"
    )
    random_checks: PlanChecks
    self_inspection: PlanChecks


class InspectionCoverage(BaseModel):
    """The plan beside the inspections done."""

    model_config = ConfigDict(extra="allow")

    adcode: str
    period: str
    seed: int
    by_level: dict[str, dict[str, Any]] = Field(description="planned, done and missed checks by level 1–4")
    missed: list[dict[str, Any]]
    self_inspection: list[dict[str, Any]] = Field(description="per enterprise: recorded against its calendar")
    cross: dict[str, Any] = Field(description="the cross-inspection assignments made into inspections")
    plan_source: dict[str, int] = Field(description="checks from records / from the draw")


class DynamicLevels(BaseModel):
    model_config = ConfigDict(extra="allow")

    adcode: str
    units: list[dict[str, Any]] = Field(description="units with open hazards: assessed and shown level, why")
    rules: dict[str, dict[str, Any]] = Field(description="data/dynamic_risk_rules.csv: rule_zh, source")


class TileJSON(BaseModel):
    """TileJSON 3.0.0 of a vector-tile layer."""

    model_config = ConfigDict(extra="allow")

    tilejson: str
    name: str
    scheme: Literal["xyz"]
    tiles: list[str] = Field(description="URL templates with {z}/{x}/{y}")
    minzoom: int
    maxzoom: int
    bounds: list[float] = Field(description="[west, south, east, north] in degrees")
    vector_layers: list[dict[str, Any]]


class HazardsImported(BaseModel):
    model_config = ConfigDict(extra="allow")

    hazards: int = Field(description="hazards in the list (stored, or with dry_run found)")
    ids: list[int] | None = Field(None, description="the ids of the hazards stored")
    dry_run: bool | None = None


class Attachment(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    filename: str
    media_type: str
    size: int
    sha256: str
    uploaded_by: str | None = None


class CloseoutAnnouncements(BaseModel):
    """公示 of closed-out major risks: no people or phones."""

    model_config = ConfigDict(extra="allow")

    announcements: list[dict[str, Any]]


class OverdueCloseouts(BaseModel):
    model_config = ConfigDict(extra="allow")

    as_of: str = Field(description="the day judged on (ISO date)")
    assignments: list[dict[str, Any]] = Field(
        description="major and large units not assigned in 3 working days"
    )
    verifications: list[dict[str, Any]] = Field(description="requests not verified in 10 working days")


class CrossInspectionPlan(BaseModel):
    """交叉互查 inside clusters and 异地交叉检查 teams."""

    model_config = ConfigDict(extra="allow")

    adcode: str
    name: str | None = None
    seed: int
    distance_m: float
    trades: str = Field(description="similar or sector")
    clusters: list[dict[str, Any]] = Field(description="members' checks (inspector → inspected) and the team")
    teams: list[dict[str, Any]]
    constraints: dict[str, Any]
    roster: dict[str, Any] = Field(description="synthetic (bool), note, jurisdictions")


class NeighbourNotices(BaseModel):
    """Level-1/2 risk units and who near them must be told."""

    model_config = ConfigDict(extra="allow")

    adcode: str
    name: str | None = None
    distance_m: float = Field(description="metres, in metric_crs")
    metric_crs: str = Field(description="the Gauss–Krüger zone the distances were measured in")
    max_level: int
    numberMatched: int
    numberReturned: int
    limit: int
    offset: int
    notices: list[dict[str, Any]] = Field(
        description="risk_unit, recipients, enterprises, protection_targets"
    )


class KeyTargets(BaseModel):
    """重点乡镇/县区 and 重点企业 by the score in `score`."""

    model_config = ConfigDict(extra="allow")

    adcode: str
    name: str | None = None
    level: Any = None
    date: str
    score: str = Field(description="how the score is computed")
    rule: str
    zone_kind: str | None = None
    zone_kind_zh: str | None = None
    top: dict[str, Any]
    key_zones: list[dict[str, Any]]
    key_enterprises: list[dict[str, Any]]
    zones: list[dict[str, Any]]
    enterprises: list[dict[str, Any]]
    numberMatched: int


class Exposure(BaseModel):
    """People in distance bands around a risk unit, edge to edge in metres."""

    model_config = ConfigDict(extra="allow")

    metric_crs: str = Field(description="the Gauss–Krüger zone the distances were measured in")
    bands: list[dict[str, Any]] = Field(description="each band [from, to): targets, people, households")
    total_people: float = Field(description="people in all bands (some estimated; see each band)")
