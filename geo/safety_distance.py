"""Safety distances (安全防护距离) between hazards and protection targets (防护目标): rules, existing violations,
the siting check (一票否决) and exposure bands. Pure GeoPandas/Shapely reference of geo.store.safety_distance."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from itertools import pairwise
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from geo import vocab
from geo.coords import gauss_kruger_epsg
from geo.errors import InvalidInput
from geo.resources import read_table
from geo.targets import derive_gb_class
from geo.vocab import GB_CLASS_NAMES_ZH, GBClass

# Distances are edge to edge (polygon to polygon, not centroid to centroid), in metres, in the CGCS2000 3°
# Gauss–Krüger zone (EPSG:4534–4554) of each hazard, chosen by the longitude of its representative point:
# a few hundredths of a percent from the geodesic distance inside a zone; never degrees, never web Mercator.
#
# Rules are data (data/, every row with its standard, edition, clause and source):
# - safety_distance_rules.csv: prescriptive minimum distances, hazard kind × GB 36894 target class (× storage
#   volume band for LPG); several rules matching a pair: the largest distance governs.
# - individual_risk_criteria.csv: GB 36894 individual-risk criteria per class for new (新建) and existing (在役)
#   installations; a target inside a hazard's contour at or above its criterion violates it. Hazards of the
#   register are judged as existing installations, a proposed plant as new (and a proposed target against
#   the existing installations around it).
# - population_rules.csv: people in a target whose population is not given (an estimate, always flagged).
# - consultation_distances.csv: the consultation zone of a level-1/2 unit (重大/较大风险) by level (UK HSE
#   PADHI's idea, domain.md §10). Every level-1/2 unit is screened, whatever its kind: a target inside the
#   zone is at least `advise` (needs a quantitative risk assessment, GB 36894), never `ok`; a highly
#   sensitive target inside the inner zone of a level-1 unit is a violation (一票否决).
#
# Seed 000 (四): no high-risk project in a population-dense area and no population-dense area around one; a
# broken distance is a one-vote veto (一票否决) for a proposal, coming within ADVISE_FACTOR (1.5) times a
# required distance draws advice. geo.store.safety_distance finds the candidate pairs in PostGIS; both end in
# assess_violations, assess_siting and exposure_bands here, so the rules are applied by one piece of code.

SRID: Final = 4490
ADVISE_FACTOR: Final = 1.5
VERDICT_DETAILS: Final = 20  # conflicts and unchecked units named in a verdict's text
DEFAULT_BANDS: Final = (100.0, 300.0, 1000.0)
MAX_BAND_M: Final = 10_000.0
MAX_BANDS: Final = 10

Installation = Literal["new", "existing"]
Status = Literal["violation", "advise", "ok"]
Verdict = Literal["veto", "advise", "ok"]

GB_CLASS_NAMES_EN: Final = {
    GBClass.high_sensitive: "highly sensitive target",
    GBClass.important: "important target",
    GBClass.general_1: "general target, class 1",
    GBClass.general_2: "general target, class 2",
    GBClass.general_3: "general target, class 3",
}
VERDICT_NAMES_ZH: Final = {"veto": "否决（一票否决）", "advise": "建议调整", "ok": "符合"}

# Columns of a candidate pair (a hazard and a protection target near it), whoever computed the distance.
PAIR_COLUMNS: Final = (
    "hazard_id",
    "hazard_name",
    "hazard_kind",
    "capacity_m3",
    "enterprise_id",
    "hazard_adcode",
    "hazard_level",
    "target_id",
    "target_name",
    "target_type",
    "gb_class",
    "population",
    "households",
    "population_estimated",
    "target_area_m2",
    "target_adcode",
    "distance_m",
    "epsg",
)


# --- rules ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistanceRule:
    """One row of data/safety_distance_rules.csv: hazard kind × target class (× volume band) → metres."""

    rule_id: str
    hazard_kind: str
    gb_class: str
    min_capacity_m3: float | None  # exclusive
    max_capacity_m3: float | None  # inclusive
    distance_m: float
    standard: str
    edition: str
    clause: str
    target_description: str
    source: str

    def covers(self, capacity_m3: float | None) -> bool:
        if self.min_capacity_m3 is None and self.max_capacity_m3 is None:
            return True
        if capacity_m3 is None or not math.isfinite(capacity_m3):
            return False
        above = self.min_capacity_m3 is None or capacity_m3 > self.min_capacity_m3
        below = self.max_capacity_m3 is None or capacity_m3 <= self.max_capacity_m3
        return above and below

    @property
    def citation(self) -> str:
        """E.g. 'GB 50160-2008 表 4.1.9' (flags such as [verify] left out; see `verify`)."""
        edition = self.edition.replace("[verify]", "").strip()
        clause = self.clause.replace("[verify]", "").strip()
        return f"{self.standard}-{edition} {clause}".strip()

    @property
    def cited(self) -> str:
        """The citation as explanations show it: with ' [verify]' when the figure is not yet checked."""
        return f"{self.citation} [verify]" if self.verify else self.citation

    @property
    def verify(self) -> bool:
        """The figure or its clause is not yet checked against the standard's text (domain.md)."""
        return any("[verify]" in s for s in (self.source, self.clause, self.edition))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "citation": self.citation, "verify": self.verify}


@dataclass(frozen=True)
class HazardKind:
    """A hazard kind of the rules (危险源类型): what its distances depend on."""

    code: str
    name_zh: str
    name_en: str
    capacity_banded: bool  # the distance depends on the storage volume (capacity_m3)
    tabulated: bool  # some in-force rule gives a distance
    max_capacity_m3: float | None  # the largest volume the bands cover
    standard: str


def _float(value: str) -> float | None:
    return float(value) if value.strip() else None


@cache
def _rule_table() -> tuple[tuple[dict[str, str], ...], tuple[DistanceRule, ...]]:
    rows = read_table("safety_distance_rules.csv")
    rules = tuple(
        DistanceRule(
            rule_id=r["rule_id"],
            hazard_kind=r["hazard_kind"],
            gb_class=r["gb_class"],
            min_capacity_m3=_float(r["min_capacity_m3_exclusive"]),
            max_capacity_m3=_float(r["max_capacity_m3_inclusive"]),
            distance_m=float(r["distance_m"]),
            standard=r["standard"],
            edition=r["edition"],
            clause=r["clause"],
            target_description=r["target_description"],
            source=r["source"],
        )
        for r in rows
        if r["in_force"] == "true" and r["distance_m"].strip()
    )
    for rule in rules:
        GBClass(rule.gb_class)  # a typo in the data file fails loudly
    return rows, rules


def distance_rules() -> tuple[DistanceRule, ...]:
    """The rules in force (superseded editions are kept in the file with in_force=false)."""
    return _rule_table()[1]


@cache
def hazard_kinds() -> dict[str, HazardKind]:
    """Every hazard kind named in the rules file, in file order."""
    rows, rules = _rule_table()
    out: dict[str, HazardKind] = {}
    for r in rows:
        code = r["hazard_kind"]
        if code in out:
            continue
        mine = [x for x in rules if x.hazard_kind == code]
        banded = any(x.min_capacity_m3 is not None or x.max_capacity_m3 is not None for x in mine)
        tops = [x.max_capacity_m3 for x in mine if x.max_capacity_m3 is not None]
        out[code] = HazardKind(
            code=code,
            name_zh=r["hazard_name_zh"],
            name_en=r["hazard_name_en"],
            capacity_banded=banded,
            tabulated=bool(mine),
            max_capacity_m3=max(tops) if banded and tops else None,
            standard=r["standard"],
        )
    return out


def hazard_kind_code(value: str, field: str = "hazard_kind") -> str:
    """A hazard kind's code from its code, Chinese or English name; 422 naming `field` when unknown."""
    v = str(value).strip()
    kinds = hazard_kinds()
    if v in kinds:
        return v
    for k in kinds.values():
        if v in (k.name_zh, k.name_zh.split("（", 1)[0]) or v.lower() in (k.name_en.lower(), k.code.lower()):
            return k.code
    allowed = ", ".join(f"{k.code} ({k.name_zh})" for k in kinds.values())
    raise InvalidInput.one(
        field,
        f"unknown hazard kind {value!r}; expected one of: {allowed} (data/safety_distance_rules.csv)",
        f"未知的危险源类型：{value}",
    )


def check_capacity(hazard_kind: str, capacity_m3: float | None, field: str = "capacity_m3") -> None:
    """A volume-banded kind (LPG supply base, GB 50028) needs a storage volume its bands cover."""
    kind = hazard_kinds()[hazard_kind]
    if capacity_m3 is not None and not (math.isfinite(capacity_m3) and capacity_m3 > 0):
        raise InvalidInput.one(
            field, "the storage volume must be a positive number of m³", "储存容积须为正数"
        )
    if not kind.capacity_banded:
        return
    if capacity_m3 is None:
        raise InvalidInput.one(
            field,
            f"a {kind.name_en} needs its total storage volume in m³: its safety distance depends on it "
            f"({kind.standard})",
            f"{kind.name_zh}须填写总储存容积（立方米），其安全防护距离按容积确定（{kind.standard}）",
        )
    if not any(r.covers(capacity_m3) for r in distance_rules() if r.hazard_kind == hazard_kind):
        raise InvalidInput.one(
            field,
            f"no rule covers a {kind.name_en} of {capacity_m3:g} m³: data/safety_distance_rules.csv "
            f"tabulates up to {kind.max_capacity_m3:g} m³",
            f"储存容积 {capacity_m3:g} 立方米超出规则表范围（至 {kind.max_capacity_m3:g} 立方米）",
        )


@cache
def _rules_by_kind_class() -> dict[tuple[str, str], tuple[DistanceRule, ...]]:
    out: dict[tuple[str, str], list[DistanceRule]] = {}
    for r in distance_rules():
        out.setdefault((r.hazard_kind, r.gb_class), []).append(r)
    return {k: tuple(v) for k, v in out.items()}


def rule_for(hazard_kind: str | None, capacity_m3: float | None, gb_class: str) -> DistanceRule | None:
    """The governing rule (largest distance among those that match), or None."""
    if hazard_kind is None:
        return None
    matching = [r for r in _rules_by_kind_class().get((hazard_kind, gb_class), ()) if r.covers(capacity_m3)]
    return max(matching, key=lambda r: r.distance_m) if matching else None


@cache
def reach_m(hazard_kind: str | None, capacity_m3: float | None = None) -> float:
    """The largest distance any target class needs from this kind (at this volume, if banded): how far
    to look for conflicts. 0 when nothing is tabulated (or the volume is not covered)."""
    if hazard_kind is None:
        return 0.0
    kind = hazard_kinds().get(hazard_kind)
    if kind is None:
        return 0.0
    rules = [r for r in distance_rules() if r.hazard_kind == hazard_kind]
    if kind.capacity_banded and capacity_m3 is not None:
        rules = [r for r in rules if r.covers(capacity_m3)]
    return max((r.distance_m for r in rules), default=0.0)


def max_reach_m() -> float:
    """The largest distance of any rule."""
    return max((r.distance_m for r in distance_rules()), default=0.0)


@dataclass(frozen=True)
class ConsultationZone:
    """One row of data/consultation_distances.csv: how far a level-1/2 unit's consultation zone reaches."""

    level: int
    consultation_m: float
    inner_m: float | None  # a target of inner_gb_classes closer than this is a violation (一票否决)
    inner_gb_classes: frozenset[str]
    source: str

    @property
    def verify(self) -> bool:
        return "[verify]" in self.source

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": f"CONSULT-L{self.level}",
            "level": self.level,
            "consultation_m": self.consultation_m,
            "inner_m": self.inner_m,
            "inner_gb_classes": sorted(self.inner_gb_classes),
            "standard": "GB 36894",
            "edition": "2018",
            "clause": "定量风险评价 (consultation zone, data/consultation_distances.csv)",
            "citation": f"consultation zone of a level-{self.level} unit (data/consultation_distances.csv)",
            "source": self.source,
            "verify": self.verify,
        }


@cache
def consultation_zones() -> dict[int, ConsultationZone]:
    """Consultation zones by risk level (levels without a row are not screened by level)."""
    out: dict[int, ConsultationZone] = {}
    for r in read_table("consultation_distances.csv"):
        classes = frozenset(c for c in r["inner_gb_classes"].split(";") if c.strip())
        for c in classes:
            GBClass(c)  # a typo in the data file fails loudly
        zone = ConsultationZone(
            level=int(r["level"]),
            consultation_m=float(r["consultation_m"]),
            inner_m=_float(r["inner_m"]),
            inner_gb_classes=classes,
            source=r["source"],
        )
        if not zone.consultation_m > 0 or (zone.inner_m is not None and zone.inner_m > zone.consultation_m):
            raise ValueError(
                f"consultation_distances.csv: level {zone.level}: need 0 < inner_m ≤ consultation_m"
            )
        out[zone.level] = zone
    return out


def _level(value: Any) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(value)


def consultation_zone(level: Any) -> ConsultationZone | None:
    lv = _level(level)
    return None if lv is None else consultation_zones().get(lv)


def consultation_m(level: Any) -> float:
    """The consultation distance of a unit of this level (0 when its level is not screened)."""
    zone = consultation_zone(level)
    return zone.consultation_m if zone else 0.0


def max_consultation_m() -> float:
    return max((z.consultation_m for z in consultation_zones().values()), default=0.0)


def screened_levels() -> list[int]:
    """Levels screened against every protection target whatever their kind (1 and 2 by default)."""
    return sorted(consultation_zones())


def zone_reach_m(level: Any, consultation: bool = True) -> float:
    """How far a unit's zone reaches: its consultation distance, or (violations only) its inner zone."""
    zone = consultation_zone(level)
    if zone is None:
        return 0.0
    return zone.consultation_m if consultation else (zone.inner_m or 0.0)


def hazard_reach_m(
    hazard_kind: Any, capacity_m3: Any, level: Any, factor: float = 1.0, *, consultation: bool = True
) -> float:
    """How far to look for conflicts around an existing unit: factor × its largest tabulated distance (when
    it can be checked) and its consultation distance (only its inner zone when looking for violations
    only), the larger."""
    kind = None if hazard_kind is None or pd.isna(hazard_kind) else str(hazard_kind)
    cap = _num(capacity_m3)
    tab = reach_m(kind, cap) if kind is not None and unchecked_reason(kind, cap) is None else 0.0
    return max(factor * tab, zone_reach_m(level, consultation))


def possible_reach_m(hazard_kind: Any, factor: float = 1.0) -> float:
    """The largest distance that could apply to a unit of this kind whatever its volume: how near an
    unchecked unit (no volume, unknown kind) has to be to leave a verdict undecided."""
    kind = hazard_kinds().get(str(hazard_kind)) if hazard_kind is not None else None
    if kind is not None and kind.tabulated:
        return factor * reach_m(kind.code, None)
    return factor * max_reach_m()


@dataclass(frozen=True)
class Screen:
    """How one (unit, target) pair fares: status, the criterion that decides it and why."""

    status: Literal["violation", "advise", "ok"]
    basis: Literal["distance", "consultation_inner", "consultation"]
    rule: DistanceRule | None  # the tabulated rule, when one applies (met or not)
    zone: ConsultationZone | None  # the unit's consultation zone, when its level is screened


def screen_pair(
    hazard_kind: Any, capacity_m3: Any, level: Any, gb_class: str, distance_m: float, advise_factor: float
) -> Screen | None:
    """The screening of one pair (None when neither a rule nor a consultation zone applies). The worst of:
    the tabulated rule (violation < required ≤ advise < advise_factor × required), the inner zone of the
    unit's consultation zone for its classes (violation), the consultation zone (advise)."""
    kind = None if hazard_kind is None or pd.isna(hazard_kind) else str(hazard_kind)
    rule = rule_for(kind, _num(capacity_m3), str(gb_class))
    zone = consultation_zone(level)
    if rule is None and zone is None:
        return None
    d = float(distance_m)
    if rule is not None and d < rule.distance_m:
        return Screen("violation", "distance", rule, zone)
    if (
        zone is not None
        and zone.inner_m is not None
        and str(gb_class) in zone.inner_gb_classes
        and d < zone.inner_m
    ):
        return Screen("violation", "consultation_inner", rule, zone)
    if rule is not None and d < advise_factor * rule.distance_m:
        return Screen("advise", "distance", rule, zone)
    if zone is not None and d < zone.consultation_m:
        return Screen("advise", "consultation", rule, zone)
    return Screen("ok", "distance" if rule is not None else "consultation", rule, zone)


@cache
def unchecked_reason(hazard_kind: str, capacity_m3: float | None) -> tuple[str, str] | None:
    """Why an existing hazard cannot be checked against distances (English, Chinese), or None."""
    kind = hazard_kinds().get(hazard_kind)
    if kind is None:
        return (f"unknown hazard kind {hazard_kind!r}", f"未知的危险源类型 {hazard_kind}")
    if not kind.tabulated:
        return (
            f"no distance is tabulated for a {kind.name_en} ({kind.standard}): give its risk contours",
            f"{kind.name_zh}无表列安全距离（{kind.standard}），须提供个人风险等值线或按标准计算",
        )
    if kind.capacity_banded and not any(
        r.covers(capacity_m3) for r in distance_rules() if r.hazard_kind == hazard_kind
    ):
        if capacity_m3 is None:
            return (
                f"no storage volume (capacity_m3): a {kind.name_en}'s distance depends on it",
                f"未填写储存容积，{kind.name_zh}的安全距离按容积确定",
            )
        return (
            f"{capacity_m3:g} m³ is beyond the tabulated volumes (up to {kind.max_capacity_m3:g} m³)",
            f"储存容积 {capacity_m3:g} 立方米超出规则表范围",
        )
    return None


@dataclass(frozen=True)
class RiskCriterion:
    """GB 36894 individual-risk criterion of one target class (per year)."""

    gb_class: str
    new_per_year: float
    existing_per_year: float
    standard: str
    edition: str
    clause: str
    source: str

    def for_installation(self, installation: Installation) -> float:
        return self.new_per_year if installation == "new" else self.existing_per_year

    @property
    def citation(self) -> str:
        return f"{self.standard}-{self.edition} {self.clause.replace('[verify]', '').strip()}".strip()


@cache
def risk_criteria() -> dict[str, RiskCriterion]:
    return {
        r["gb_class"]: RiskCriterion(
            gb_class=str(GBClass(r["gb_class"])),
            new_per_year=float(r["new_per_year"]),
            existing_per_year=float(r["existing_per_year"]),
            standard=r["standard"],
            edition=r["edition"],
            clause=r["clause"],
            source=r["source"],
        )
        for r in read_table("individual_risk_criteria.csv")
    }


def criterion(gb_class: str, installation: Installation) -> float:
    """The highest individual risk per year GB 36894 accepts at a target of this class."""
    return risk_criteria()[gb_class].for_installation(installation)


# --- people --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PopulationRule:
    target_type: str
    basis: Literal["households", "area", "default"]
    factor: float
    unit: str
    source: str


@cache
def _population_rules() -> dict[tuple[str, str], PopulationRule]:
    out: dict[tuple[str, str], PopulationRule] = {}
    for r in read_table("population_rules.csv"):
        if r["basis"] not in ("households", "area", "default"):
            raise ValueError(f"population_rules.csv: unknown basis {r['basis']!r}")
        rule = PopulationRule(r["target_type"], r["basis"], float(r["factor"]), r["unit"], r["source"])  # type: ignore[arg-type]
        out[(rule.target_type, rule.basis)] = rule
    return out


def _population_rule(target_type: str, basis: str) -> PopulationRule | None:
    rules = _population_rules()
    return rules.get((target_type, basis)) or rules.get(("*", basis))


def estimate_people(
    target_type: str, population: float | None, households: float | None, area_m2: float | None
) -> tuple[int, bool, str | None]:
    """(people, estimated, how): the stored count, else households × people per household, else the
    outline's area × density, else the type's default (data/population_rules.csv)."""
    if population is not None and not pd.isna(population):
        return int(population), False, None
    if households is not None and not pd.isna(households):
        rule = _population_rule(target_type, "households")
        if rule is not None:
            return round(float(households) * rule.factor), True, f"{rule.factor:g} {rule.unit}: {rule.source}"
    if area_m2 is not None and not pd.isna(area_m2) and area_m2 > 0:
        rule = _population_rule(target_type, "area")
        if rule is not None:
            return (
                max(1, round(float(area_m2) * rule.factor)),
                True,
                f"{rule.factor:g} {rule.unit}: {rule.source}",
            )
    rule = _population_rule(target_type, "default")
    assert rule is not None, "population_rules.csv needs a '*,default' row"
    return round(rule.factor), True, f"{rule.factor:g} {rule.unit}: {rule.source}"


def with_people(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds `people` (int) and sets `population_estimated` (a stored flag, or estimated here) and
    `population_rule` to a frame with target_type, population, households and target_area_m2."""
    out = frame.copy()
    people, estimated, how = [], [], []
    stored = (
        out["population_estimated"] if "population_estimated" in out else pd.Series(False, index=out.index)
    )
    for ttype, pop, hh, area, flag in zip(
        out["target_type"], out["population"], out["households"], out["target_area_m2"], stored, strict=True
    ):
        n, est, rule = estimate_people(str(ttype), pop, hh, area)
        people.append(n)
        estimated.append(bool(est or (flag is True or flag == 1)))
        how.append(rule)
    out["people"] = np.asarray(people, dtype=np.int64)
    out["population_estimated"] = np.asarray(estimated, dtype=bool)
    out["population_rule"] = how
    return out


# --- metric zones ---------------------------------------------------------------------------------------


def zone_epsg(geom: BaseGeometry) -> int:
    """The CGCS2000 3° Gauss–Krüger zone of a geometry: by its representative point's longitude (the same
    point PostGIS's ST_PointOnSurface gives)."""
    return gauss_kruger_epsg(float(geom.representative_point().x), field="geometry")


def zone_epsgs(geoms: NDArray[Any]) -> NDArray[np.int64]:
    lon = shapely.get_x(shapely.point_on_surface(np.asarray(geoms, dtype=object)))
    cm = 3 * np.floor((lon + 1.5) / 3.0)
    return (4534 + (cm - 75) // 3).astype(np.int64)


def to_zone(geoms: NDArray[Any], epsg: int) -> NDArray[Any]:
    """EPSG:4490 geometries in the Gauss–Krüger zone `epsg` (metres)."""
    return np.asarray(gpd.GeoSeries(geoms, crs=SRID).to_crs(epsg).values, dtype=object)


def from_zone(geoms: NDArray[Any], epsg: int) -> NDArray[Any]:
    """Geometries in the Gauss–Krüger zone `epsg` back in EPSG:4490."""
    return np.asarray(gpd.GeoSeries(geoms, crs=epsg).to_crs(SRID).values, dtype=object)


# --- candidate pairs (GeoPandas) ---------------------------------------------------------------------------


def _frame_in_4490(frame: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise TypeError(f"{name} must be a GeoDataFrame, not {type(frame).__name__}")
    if frame.crs is None:
        return frame.set_crs(SRID)
    return frame if frame.crs.to_epsg() == SRID else frame.to_crs(SRID)


def _col(frame: pd.DataFrame, name: str, default: Any = None) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series(default, index=frame.index, dtype=object)


def target_area_m2(geoms: NDArray[Any]) -> NDArray[np.float64]:
    """Geodesic area of each outline in m² (0 for points): what population_rules' densities multiply."""
    from geo.four_colour import geodesic_area_m2  # the same spheroid area as ST_Area(geography)

    return np.asarray(geodesic_area_m2(geoms), dtype=np.float64)


# Metres per degree, chosen low so that a box in degrees is never narrower than the distance it stands for.
M_PER_DEG_LAT: Final = 110_000.0  # the true value is 110,574–111,694 m
M_PER_DEG_LON_EQ: Final = 111_000.0  # below 111,320 m · cos φ / sqrt(1 − e² sin² φ)
BOX_MARGIN: Final = 1.01


def degree_boxes(geoms: NDArray[Any], reach_m: NDArray[np.float64] | float) -> NDArray[Any]:
    """Boxes in degrees at least reach_m metres beyond each geometry's bounds on every side."""
    b = shapely.bounds(np.asarray(geoms, dtype=object))
    dlat = np.asarray(reach_m, dtype=np.float64) / M_PER_DEG_LAT * BOX_MARGIN
    lat = np.minimum(89.0, np.maximum(np.abs(b[:, 1]), np.abs(b[:, 3])) + dlat)
    dlon = np.asarray(reach_m, dtype=np.float64) / (M_PER_DEG_LON_EQ * np.cos(np.radians(lat))) * BOX_MARGIN
    return shapely.box(b[:, 0] - dlon, b[:, 1] - dlat, b[:, 2] + dlon, b[:, 3] + dlat)


def candidate_pairs(
    hazards: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame,
    reach: Sequence[float] | NDArray[np.float64],
    *,
    with_lines: bool = False,
) -> pd.DataFrame:
    """Every (hazard, target) pair within the hazard's `reach` metres, edge to edge, with PAIR_COLUMNS
    (and `line`, the shortest line in EPSG:4490, when asked). Hazards need id, name, hazard_kind,
    capacity_m3; targets id, name, type, gb_class, population, households (population_estimated optional)."""
    hazards = _frame_in_4490(hazards, "hazards").reset_index(drop=True)
    targets = _frame_in_4490(targets, "targets").reset_index(drop=True)
    reach_arr = np.asarray(reach, dtype=np.float64)
    if reach_arr.shape != (len(hazards),):
        raise ValueError("reach needs one distance per hazard")
    parts: list[pd.DataFrame] = []
    if len(hazards) and len(targets):
        h_geoms = np.asarray(hazards.geometry.values, dtype=object)
        t_geoms = np.asarray(targets.geometry.values, dtype=object)
        zones = zone_epsgs(h_geoms)
        degrees = shapely.STRtree(t_geoms)
        for epsg in np.unique(zones):
            hi = np.flatnonzero((zones == epsg) & (reach_arr > 0))
            if not hi.size:
                continue
            # Only the targets in a box in degrees around the hazards are projected (the SQL's first stage).
            near = np.unique(
                degrees.query(degree_boxes(h_geoms[hi], reach_arr[hi]), predicate="intersects")[1]
            )
            h_m = to_zone(h_geoms[hi], int(epsg))
            t_m = to_zone(t_geoms[near], int(epsg)) if near.size else np.zeros(0, dtype=object)
            tree = shapely.STRtree(t_m)
            left, found = tree.query(h_m, predicate="dwithin", distance=reach_arr[hi])
            right = near[found]
            dist = shapely.distance(h_m[left], t_m[found])
            part = pd.DataFrame({"h": hi[left], "t": right, "distance_m": dist, "epsg": int(epsg)})
            if with_lines:
                part["line"] = from_zone(shapely.shortest_line(h_m[left], t_m[found]), int(epsg))
            parts.append(part)
    pairs = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({"h": [], "t": [], "distance_m": [], "epsg": []}).astype(
            {"h": np.int64, "t": np.int64, "epsg": np.int64}
        )
    )
    return _attach(pairs, hazards, targets, with_lines=with_lines)


def _attach(
    pairs: pd.DataFrame, hazards: gpd.GeoDataFrame, targets: gpd.GeoDataFrame, *, with_lines: bool
) -> pd.DataFrame:
    h, t = pairs["h"].to_numpy(dtype=np.int64), pairs["t"].to_numpy(dtype=np.int64)
    t_area = target_area_m2(np.asarray(targets.geometry.values, dtype=object)[t]) if len(t) else np.zeros(0)
    out = pd.DataFrame(
        {
            "hazard_id": hazards["id"].to_numpy()[h],
            "hazard_name": _col(hazards, "name").to_numpy()[h],
            "hazard_kind": _col(hazards, "hazard_kind").to_numpy()[h],
            "capacity_m3": pd.to_numeric(_col(hazards, "capacity_m3"), errors="coerce").to_numpy()[h],
            "enterprise_id": _col(hazards, "enterprise_id").to_numpy()[h],
            "hazard_adcode": _col(hazards, "jurisdiction_adcode").to_numpy()[h],
            "hazard_level": pd.to_numeric(_col(hazards, "level"), errors="coerce").to_numpy()[h],
            "target_id": targets["id"].to_numpy()[t],
            "target_name": _col(targets, "name").to_numpy()[t],
            "target_type": _col(targets, "type").to_numpy()[t],
            "gb_class": _col(targets, "gb_class").to_numpy()[t],
            "population": _col(targets, "population").to_numpy()[t],
            "households": _col(targets, "households").to_numpy()[t],
            "population_estimated": _col(targets, "population_estimated", False).to_numpy()[t],
            "target_area_m2": t_area,
            "target_adcode": _col(targets, "jurisdiction_adcode").to_numpy()[t],
            "distance_m": pairs["distance_m"].to_numpy(dtype=np.float64),
            "epsg": pairs["epsg"].to_numpy(dtype=np.int64),
        }
    )
    if with_lines:
        out["line"] = pairs["line"].to_numpy() if "line" in pairs else None
    return out


def contour_hits(
    contours: gpd.GeoDataFrame, hazards: gpd.GeoDataFrame, targets: gpd.GeoDataFrame
) -> pd.DataFrame:
    """(hazard, target) pairs where the target intersects one of the hazard's risk contours: PAIR_COLUMNS
    plus contour_id and individual_risk, one row per contour. Contours need id, risk_unit_id,
    individual_risk; their risk units must be among `hazards`."""
    contours = _frame_in_4490(contours, "contours").reset_index(drop=True)
    hazards = _frame_in_4490(hazards, "hazards").reset_index(drop=True)
    targets = _frame_in_4490(targets, "targets").reset_index(drop=True)
    if not (len(contours) and len(targets)):
        return pd.DataFrame(columns=[*PAIR_COLUMNS, "contour_id", "individual_risk"])
    tree = shapely.STRtree(np.asarray(targets.geometry.values, dtype=object))
    ci, ti = tree.query(np.asarray(contours.geometry.values, dtype=object), predicate="intersects")
    position = pd.Series(np.arange(len(hazards)), index=hazards["id"].to_numpy())
    hi = position.reindex(contours["risk_unit_id"].to_numpy()[ci]).to_numpy()
    keep = ~pd.isna(hi)
    ci, ti, hi = ci[keep], ti[keep], hi[keep].astype(np.int64)
    h_geoms = np.asarray(hazards.geometry.values, dtype=object)[hi]
    t_geoms = np.asarray(targets.geometry.values, dtype=object)[ti]
    zones = zone_epsgs(h_geoms) if hi.size else np.zeros(0, dtype=np.int64)
    dist = np.zeros(hi.size)
    for epsg in np.unique(zones):
        m = zones == epsg
        dist[m] = shapely.distance(to_zone(h_geoms[m], int(epsg)), to_zone(t_geoms[m], int(epsg)))
    pairs = pd.DataFrame({"h": hi, "t": ti, "distance_m": dist, "epsg": zones})
    out = _attach(pairs, hazards, targets, with_lines=False)
    out["contour_id"] = contours["id"].to_numpy()[ci]
    out["individual_risk"] = contours["individual_risk"].to_numpy(dtype=np.float64)[ci]
    return out


# --- assessing pairs (shared with geo.store.safety_distance) ----------------------------------------------


def _lookup_rules(pairs: pd.DataFrame) -> tuple[NDArray[np.float64], list[str | None]]:
    """The governing rule of each pair: (required metres, NaN without a rule; rule ids)."""
    required = np.full(len(pairs), np.nan)
    rule_ids: list[str | None] = [None] * len(pairs)
    found: dict[tuple[Any, Any, Any], DistanceRule | None] = {}
    for i, (kind, cap, cls) in enumerate(
        zip(pairs["hazard_kind"], pairs["capacity_m3"], pairs["gb_class"], strict=True)
    ):
        key = (kind, _num(cap), cls)
        if key not in found:
            found[key] = rule_for(None if kind is None or pd.isna(kind) else str(kind), key[1], str(cls))
        rule = found[key]
        if rule is not None:
            required[i] = rule.distance_m
            rule_ids[i] = rule.rule_id
    return required, rule_ids


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of Python values; much faster than DataFrame.to_dict("records") on pandas 3."""
    cols = [str(c) for c in frame.columns]
    values = [frame[c].tolist() for c in frame.columns]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)] if cols else []


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _zone_lookup(pairs: pd.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(consultation_m, inner_m) of each pair's unit, NaN where its level is not screened or the target's
    class has no inner zone."""
    zones = consultation_zones()
    levels = pd.to_numeric(_col(pairs, "hazard_level"), errors="coerce").to_numpy(dtype=np.float64)
    classes = pairs["gb_class"].astype(str).to_numpy() if len(pairs) else np.zeros(0, dtype=object)
    consult = np.full(len(pairs), np.nan)
    inner = np.full(len(pairs), np.nan)
    for level, zone in zones.items():
        m = levels == level
        consult[m] = zone.consultation_m
        if zone.inner_m is not None:
            inner[m & np.isin(classes, list(zone.inner_gb_classes))] = zone.inner_m
    return consult, inner


def assess_pairs(pairs: pd.DataFrame, *, advise_factor: float = 1.0) -> pd.DataFrame:
    """Each pair screened as `screen_pair` does, vectorised: required_m and rule_id (the tabulated rule),
    consultation_m and inner_m (the unit's consultation zone), status ('violation' / 'advise' / 'ok') and
    basis ('distance' / 'consultation_inner' / 'consultation'); pairs with neither rule nor zone are dropped."""
    required, rule_ids = _lookup_rules(pairs)
    consult, inner = _zone_lookup(pairs)
    out = pairs.assign(
        required_m=required,
        rule_id=np.asarray(rule_ids, dtype=object),
        consultation_m=consult,
        inner_m=inner,
    )
    keep = ~np.isnan(required) | ~np.isnan(consult)
    out = out[keep].copy()
    d = out["distance_m"].to_numpy(dtype=np.float64)
    r, c, i = required[keep], consult[keep], inner[keep]
    by_rule = d < r  # NaN compares False
    by_inner = ~by_rule & (d < i)
    rule_advise = ~by_rule & ~by_inner & (d < advise_factor * r)
    in_zone = ~by_rule & ~by_inner & ~rule_advise & (d < c)
    out["status"] = np.where(by_rule | by_inner, "violation", np.where(rule_advise | in_zone, "advise", "ok"))
    out["basis"] = np.where(
        by_inner,
        "consultation_inner",
        np.where(in_zone | (np.isnan(r) & ~by_rule), "consultation", "distance"),
    )
    return out.reset_index(drop=True)


def assess_contours(hits: pd.DataFrame, *, installation: Installation = "existing") -> pd.DataFrame:
    """Pairs whose target lies inside a contour at or above its class's criterion: one row per pair with
    contour_risk (the highest such contour) and criterion_per_year."""
    if not len(hits):
        return hits.drop(columns=["contour_id", "individual_risk"], errors="ignore").assign(
            contour_risk=np.zeros(0), criterion_per_year=np.zeros(0)
        )
    crit = np.array([criterion(str(c), installation) for c in hits["gb_class"]], dtype=np.float64)
    risk = hits["individual_risk"].to_numpy(dtype=np.float64)
    # 1e-9 relative: 3e-6 read from a CSV and 3e-6 from a float column are the same criterion.
    above = risk >= crit * (1 - 1e-9)
    bad = hits[above].assign(criterion_per_year=crit[above])
    bad = bad.sort_values("individual_risk", ascending=False, kind="stable")
    bad = bad.drop_duplicates(["hazard_id", "target_id"]).rename(columns={"individual_risk": "contour_risk"})
    return bad.drop(columns=["contour_id"]).reset_index(drop=True)


VIOLATION_COLUMNS: Final = (
    *PAIR_COLUMNS,
    "required_m",
    "shortfall_m",
    "rule_id",
    "inner_m",
    "contour_risk",
    "criterion_per_year",
    "basis",
    "people",
    "population_rule",
    "situation",
    "explanation_zh",
    "explanation_en",
)
_KEY: Final = ["hazard_id", "target_id"]


def assess_violations(
    pairs: pd.DataFrame, hits: pd.DataFrame | None = None, *, installation: Installation = "existing"
) -> pd.DataFrame:
    """Violations from candidate pairs (distance) and contour hits (individual risk): VIOLATION_COLUMNS
    (and line, hazard_in_scope, target_in_scope when the inputs carry them), one row per (hazard, target),
    sorted by hazard, then distance."""
    by_distance = assess_pairs(pairs)
    by_distance = by_distance[by_distance["status"] == "violation"]
    by_contour = (
        assess_contours(hits, installation=installation) if hits is not None else pd.DataFrame(columns=_KEY)
    )
    if "hazard_level" not in by_contour and len(by_contour) == 0:
        by_contour = by_contour.assign(hazard_level=np.zeros(0))
    attrs = pd.concat(
        [
            by_distance.drop(
                columns=["status", "basis", "required_m", "rule_id", "consultation_m", "inner_m"]
            ),
            by_contour.drop(columns=["contour_risk", "criterion_per_year"], errors="ignore"),
        ],
        ignore_index=True,
    ).drop_duplicates(_KEY)
    out = attrs.merge(
        by_distance[[*_KEY, "status", "basis"]].rename(columns={"basis": "screen_basis"}), on=_KEY, how="left"
    )
    if "contour_risk" in by_contour:
        out = out.merge(by_contour[[*_KEY, "contour_risk", "criterion_per_year"]], on=_KEY, how="left")
    else:
        out = out.assign(contour_risk=np.nan, criterion_per_year=np.nan)
    # The distance rule is reported for contour-only pairs too (it was met there).
    required, rule_ids = _lookup_rules(out) if len(out) else (np.zeros(0), [])
    out["required_m"] = required
    out["rule_id"] = np.asarray(rule_ids, dtype=object)
    _, inner = _zone_lookup(out) if len(out) else (np.zeros(0), np.zeros(0))
    out["inner_m"] = inner
    screened = out["status"].to_numpy() == "violation"
    by_rule = screened & (out["screen_basis"].to_numpy() == "distance")
    by_inner = screened & (out["screen_basis"].to_numpy() == "consultation_inner")
    by_risk = out["contour_risk"].notna().to_numpy()
    out["basis"] = [
        [b for b, on in (("distance", r), ("consultation_inner", i), ("risk_contour", k)) if on]
        for r, i, k in zip(by_rule.tolist(), by_inner.tolist(), by_risk.tolist(), strict=True)
    ]
    out = out.drop(columns=["screen_basis"])
    d_m = out["distance_m"].to_numpy(dtype=np.float64)
    out["shortfall_m"] = np.where(
        by_rule, out["required_m"].to_numpy(dtype=np.float64) - d_m, np.where(by_inner, inner - d_m, np.nan)
    )
    out = with_people(out) if len(out) else out.assign(people=np.zeros(0, dtype=np.int64), population_rule=[])
    out["situation"] = np.where(
        out["distance_m"].to_numpy(dtype=np.float64) <= 0, "hazard_inside_target", "target_near_hazard"
    )
    texts = [_violation_text(row, installation) for row in _records(out)]
    out["explanation_zh"] = [t[0] for t in texts]
    out["explanation_en"] = [t[1] for t in texts]
    out = out.sort_values(["hazard_id", "distance_m", "target_id"], kind="stable").reset_index(drop=True)
    extra = [c for c in ("line", "hazard_in_scope", "target_in_scope") if c in out]
    return out[[*VIOLATION_COLUMNS, *extra]]


def violations(
    hazards: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame,
    *,
    contours: gpd.GeoDataFrame | None = None,
    installation: Installation = "existing",
    with_lines: bool = False,
    reach_factor: float = 1.0,
) -> pd.DataFrame:
    """Every (hazard, target) pair closer than its required distance, a highly sensitive target inside the
    inner consultation zone of a level-1 unit, or a target inside a risk contour its class may not be in
    (GeoPandas reference of geo.store.safety_distance.violations_sql).

    Hazards are the rows with a hazard_kind or a screened level (1, 2); those whose distance cannot be
    checked (nothing tabulated, no storage volume) are checked against their consultation zone (levels
    1–2) and contours only (see `unchecked_hazards`). `pairs(...)` gives every screened pair."""
    units = _frame_in_4490(hazards, "hazards").reset_index(drop=True)
    kinds = units[screened_units(units)].reset_index(drop=True)
    reach = np.array(
        [
            hazard_reach_m(k, c, lv, reach_factor, consultation=False)  # violations: the inner zone
            for k, c, lv in zip(
                kinds["hazard_kind"], _col(kinds, "capacity_m3"), _col(kinds, "level"), strict=True
            )
        ],
        dtype=np.float64,
    )
    pairs = candidate_pairs(kinds, targets, reach, with_lines=with_lines)
    # A contour from a QRA counts whatever the unit's kind: every unit passed may own contours.
    hits = contour_hits(contours, units, targets) if contours is not None else None
    return assess_violations(pairs, hits, installation=installation)


def screened_units(units: pd.DataFrame) -> NDArray[np.bool_]:
    """Which risk units are screened as hazards: those with a hazard kind, and every unit of a level that has
    a consultation zone (1 and 2), whatever its kind."""
    levels = pd.to_numeric(_col(units, "level"), errors="coerce").to_numpy(dtype=np.float64)
    return np.asarray(_col(units, "hazard_kind").notna().to_numpy() | np.isin(levels, screened_levels()))


def screened_pairs(
    hazards: gpd.GeoDataFrame, targets: gpd.GeoDataFrame, *, advise_factor: float = ADVISE_FACTOR
) -> pd.DataFrame:
    """Every screened (unit, target) pair within reach, with status and basis (assess_pairs): what the map
    colours (violation / advise / ok); GeoPandas reference of violations_sql's `pairs`."""
    units = _frame_in_4490(hazards, "hazards").reset_index(drop=True)
    kinds = units[screened_units(units)].reset_index(drop=True)
    reach = np.array(
        [
            hazard_reach_m(k, c, lv, advise_factor)
            for k, c, lv in zip(
                kinds["hazard_kind"], _col(kinds, "capacity_m3"), _col(kinds, "level"), strict=True
            )
        ],
        dtype=np.float64,
    )
    return assess_pairs(candidate_pairs(kinds, targets, reach), advise_factor=advise_factor)


def unchecked_hazards(hazards: pd.DataFrame) -> list[dict[str, Any]]:
    """Hazards (id, name, hazard_kind, capacity_m3) whose distances cannot be checked, with the reason."""
    out = []
    for row in _records(hazards):
        if row.get("hazard_kind") is None or pd.isna(row["hazard_kind"]):
            continue  # no kind: screened by its level's consultation zone (levels 1, 2) or not a hazard
        cap = row.get("capacity_m3")
        cap_f = None if cap is None or pd.isna(cap) else float(cap)
        if consultation_m(row.get("level")) >= possible_reach_m(row["hazard_kind"], ADVISE_FACTOR):
            continue  # its consultation zone reaches further than any distance that could apply
        why = unchecked_reason(str(row["hazard_kind"]), cap_f)
        if why is not None:
            out.append(
                {
                    "risk_unit_id": int(row["id"]),
                    "name": row.get("name"),
                    "hazard_kind": row["hazard_kind"],
                    "capacity_m3": cap_f,
                    "reason": why[0],
                    "reason_zh": why[1],
                }
            )
    return out


# --- explanations ------------------------------------------------------------------------------------------


def sci(value: float) -> str:
    """3e-06 → '3×10⁻⁶' (how GB 36894 writes its criteria)."""
    mantissa, exponent = f"{value:.0e}".split("e")
    sup = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    return f"{mantissa}×10{str(int(exponent)).translate(sup)}"


@cache
def _kind_names(code: str | None) -> tuple[str, str]:
    k = hazard_kinds().get(code or "")
    if k is None:  # a risk unit with contours or a screened level but no hazard kind
        return (
            ("危险源类型未填", "hazard kind not given")
            if code is None or code != code
            else (str(code), str(code))
        )
    return k.name_zh.split("（", 1)[0], k.name_en.lower()


def _level_names(level: Any) -> tuple[str, str]:
    """(重大风险, 'level-1 (major) unit') of a risk level; ('风险点', 'risk unit') when unknown."""
    lv = _level(level)
    if lv is None or lv not in vocab.LEVEL_NAMES_ZH:
        return "风险点", "risk unit"
    return f"{lv}级{vocab.LEVEL_NAMES_ZH[lv]}", f"level-{lv} ({vocab.LEVEL_NAMES_EN[lv]} risk) unit"


@cache
def _type_names(code: str | None) -> tuple[str, str]:
    t = vocab.target_types().get(code or "")
    return (t.name_zh, t.name_en.lower()) if t else (str(code), str(code))


@cache
def _class_names(gb_class: Any) -> tuple[str, str]:
    try:
        c = GBClass(str(gb_class))
    except ValueError:
        return str(gb_class), str(gb_class)
    return GB_CLASS_NAMES_ZH[c], GB_CLASS_NAMES_EN[c]


@cache
def _rules_by_id() -> dict[str, DistanceRule]:
    return {r.rule_id: r for r in distance_rules()}


def _rule(rule_id: Any) -> DistanceRule | None:
    return _rules_by_id().get(rule_id) if isinstance(rule_id, str) else None


def _violation_text(row: Mapping[str, Any], installation: Installation) -> tuple[str, str]:
    kind_zh, kind_en = _kind_names(row["hazard_kind"])
    type_zh, type_en = _type_names(row["target_type"])
    class_zh, class_en = _class_names(row["gb_class"])
    h, t, d = row["hazard_name"], row["target_name"], float(row["distance_m"])
    zh: list[str] = []
    en: list[str] = []
    if "distance" in row["basis"]:
        rule = _rule(row["rule_id"])
        cite = rule.cited if rule else ""
        req, short = float(row["required_m"]), float(row["shortfall_m"])
        if d <= 0:
            zh.append(
                f"{h}（{kind_zh}）与{t}（{type_zh}，{class_zh}）相交或位于其内，{cite} 要求相距至少 {req:.0f} 米"
            )
            en.append(
                f"{h} ({kind_en}) overlaps {t} ({type_en}, {class_en}); {cite} requires {req:.0f} m between them"
            )
        else:
            zh.append(
                f"{h}（{kind_zh}）与{t}（{type_zh}，{class_zh}）边界最近距离 {d:.0f} 米，小于 {cite} 规定的 "
                f"{req:.0f} 米安全防护距离，相差 {short:.0f} 米"
            )
            en.append(
                f"{h} ({kind_en}) is {d:.0f} m from {t} ({type_en}, {class_en}), edge to edge; {cite} requires "
                f"{req:.0f} m: {short:.0f} m short"
            )
    if "consultation_inner" in row["basis"]:
        lv_zh, lv_en = _level_names(row.get("hazard_level"))
        inner = float(row["inner_m"])
        zone_ = consultation_zone(row.get("hazard_level"))
        flag = " [verify]" if zone_ is not None and zone_.verify else ""
        why_zh, why_en = (
            ("无表列安全距离，", "no tabulated distance; ")
            if not isinstance(row.get("rule_id"), str)
            else ("", "")
        )
        zh.append(
            f"{h}（{lv_zh}，{kind_zh}）与{t}（{type_zh}，{class_zh}）相距 {d:.0f} 米，{why_zh}位于该{lv_zh}单元咨询区内圈"
            f"（{inner:.0f} 米{flag}）内，高敏感防护目标一票否决"
        )
        en.append(
            f"{h} ({lv_en}, {kind_en}) is {d:.0f} m from {t} ({type_en}, {class_en}): {why_en}inside the inner "
            f"zone ({inner:.0f} m{flag}) of the consultation zone of a {lv_en}, where a highly sensitive target is "
            "vetoed (seed 000 (四))"
        )
    if "risk_contour" in row["basis"]:
        risk, crit = float(row["contour_risk"]), float(row["criterion_per_year"])
        inst_zh = "新建装置" if installation == "new" else "在役装置"
        zh.append(
            f"{t}（{class_zh}）位于{h}个人风险 {sci(risk)}/年 等值线内，超过 GB 36894-2018 对{inst_zh}"
            f" {sci(crit)}/年 的个人风险基准"
        )
        en.append(
            f"{t} ({class_en}) lies inside the {sci(risk)}/year individual-risk contour of {h}; GB 36894-2018 "
            f"accepts at most {sci(crit)}/year for an {installation} installation"
        )
    return "；".join(zh) + "。", "; ".join(en) + "."


# --- siting check ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HazardProposal:
    """A proposed plant (拟建高风险项目): its hazard kind and, for volume-banded kinds, storage volume."""

    hazard_kind: str
    capacity_m3: float | None = None
    name: str = "拟建项目"
    level: int | None = None  # its expected risk level: 1 or 2 screens the targets in its consultation zone


@dataclass(frozen=True)
class TargetProposal:
    """A proposed school, housing estate… (拟建防护目标): its type, class and people."""

    target_type: str
    gb_class: str
    population: int | None
    households: int | None
    people: int
    population_estimated: bool
    name: str = "拟建项目"


Proposal = HazardProposal | TargetProposal


def hazard_proposal(
    hazard_kind: str,
    capacity_m3: float | None = None,
    *,
    name: str | None = None,
    level: int | None = None,
    prefix: str = "",
) -> HazardProposal:
    """A checked hazard proposal: a known kind, and a covered storage volume where the rules need one."""
    code = hazard_kind_code(hazard_kind, f"{prefix}hazard_kind")
    check_capacity(code, capacity_m3, f"{prefix}capacity_m3")
    if level is not None and level not in (1, 2, 3, 4):
        raise InvalidInput.one(f"{prefix}level", "the risk level is 1, 2, 3 or 4", "风险等级应为 1–4")
    return HazardProposal(code, capacity_m3, name or f"拟建{hazard_kinds()[code].name_zh}", level)


def target_proposal(
    target_type: str,
    *,
    population: int | None = None,
    households: int | None = None,
    gb_class: str | None = None,
    area_m2: float | None = None,
    name: str | None = None,
    prefix: str = "",
) -> TargetProposal:
    """A checked target proposal: a known type; its GB 36894 class given, fixed by the type, or derived
    from people or households (one of them needed then: 422 naming `population`)."""
    code = vocab.target_type_code(target_type, f"{prefix}target_type")
    if gb_class is not None:
        try:
            cls = GBClass(gb_class)
        except ValueError:
            allowed = ", ".join(c.value for c in GBClass)
            raise InvalidInput.one(
                f"{prefix}gb_class",
                f"unknown GB 36894 class {gb_class!r}; expected one of {allowed}",
                "未知的防护目标类别",
            ) from None
    else:
        cls = derive_gb_class(code, population, households, field=f"{prefix}population")
    people, estimated, _ = estimate_people(code, population, households, area_m2)
    return TargetProposal(
        code,
        str(cls),
        population,
        households,
        people,
        estimated,
        name or f"拟建{vocab.target_types()[code].name_zh}",
    )


def siting_reach_m(proposal: Proposal, advise_factor: float = ADVISE_FACTOR) -> float:
    """How far from the proposal a conflict (or advice, or an unchecked unit) can arise: for a proposed
    target, the largest tabulated distance × advise_factor or the largest consultation distance."""
    if isinstance(proposal, HazardProposal):
        return max(
            advise_factor * reach_m(proposal.hazard_kind, proposal.capacity_m3),
            consultation_m(proposal.level),
        )
    return max(advise_factor * max_reach_m(), max_consultation_m())


@dataclass
class Conflict:
    """One conflict of a proposal with an existing hazard or protection target."""

    existing: dict[str, Any]  # kind ('protection_target' | 'hazard'), id, name, and its attributes
    status: Literal["veto", "advise"]
    basis: Literal["distance", "consultation_inner", "consultation", "risk_contour"]
    distance_m: float
    required_m: float | None
    advise_m: float | None
    move_m: float | None  # how far the proposal must move (straight away) to meet the required distance
    clear_advise_m: float | None  # … to leave the advice band as well
    rule: dict[str, Any] | None
    contour_risk: float | None = None
    criterion_per_year: float | None = None
    people: int | None = None
    population_estimated: bool | None = None
    line: BaseGeometry | None = None  # shortest line proposal → existing, EPSG:4490
    explanation_zh: str = ""
    explanation_en: str = ""


@dataclass
class SitingResult:
    """The verdict on a proposal (veto / advise / ok) with every conflict, explained in Chinese and English."""

    verdict: Verdict
    conflicts: list[Conflict]
    unchecked: list[dict[str, Any]]
    advise_factor: float
    epsg: int
    explanation_zh: str
    explanation_en: str
    notes: list[dict[str, str]] = field(default_factory=list)

    @property
    def max_move_m(self) -> float:
        return max((c.move_m or 0.0 for c in self.conflicts if c.status == "veto"), default=0.0)


Rows = pd.DataFrame | Sequence[Mapping[str, Any]]


def _as_records(rows: Rows | None) -> list[dict[str, Any]]:
    if rows is None:
        return []
    return _records(rows) if isinstance(rows, pd.DataFrame) else [dict(r) for r in rows]


def assess_siting(
    proposal: Proposal,
    candidates: Rows,
    hits: Rows | None = None,
    *,
    epsg: int,
    advise_factor: float = ADVISE_FACTOR,
    visible: Callable[[str | None], bool] | None = None,
) -> SitingResult:
    """The verdict from the existing features near the proposal.

    `visible(adcode)` says whether the caller may see rows filed under an adcode (None: all): the verdict
    counts every row, but one the caller may not see is not named (no id, name, line or attributes).

    For a HazardProposal `candidates` are targets (PAIR_COLUMNS' target side, distance_m, optional line); for
    a TargetProposal they are hazards (the hazard side). `hits` (TargetProposal only): contours of existing
    hazards the proposal intersects, with hazard columns, individual_risk and escape_m (how far to move out).
    Rows may be a DataFrame or dicts: a siting check has a handful, and plain Python beats pandas there.
    """
    if advise_factor < 1:
        raise InvalidInput.one("advise_factor", "must be at least 1", "建议距离倍数不能小于 1")
    mine = (
        {
            "hazard_id": 0,
            "hazard_name": proposal.name,
            "hazard_kind": proposal.hazard_kind,
            "capacity_m3": proposal.capacity_m3,
        }
        if isinstance(proposal, HazardProposal)
        else {
            "target_id": 0,
            "target_name": proposal.name,
            "target_type": proposal.target_type,
            "gb_class": proposal.gb_class,
        }
    )
    side = "hazard_adcode" if isinstance(proposal, TargetProposal) else "target_adcode"
    rows = [
        _redacted(row, proposal) if visible is not None and not visible(_text(row.get(side))) else row
        for row in ({**row, **mine} for row in _as_records(candidates))
    ]
    unchecked: list[dict[str, Any]] = []
    notes: list[dict[str, str]] = []
    conflicts: list[Conflict] = []
    for row in rows:
        kind, cap = row["hazard_kind"], _num(row.get("capacity_m3"))
        level = proposal.level if isinstance(proposal, HazardProposal) else row.get("hazard_level")
        row["hazard_level"] = level
        d = float(row["distance_m"])
        has_kind = kind is not None and not pd.isna(kind)
        if isinstance(proposal, TargetProposal) and has_kind:
            why = unchecked_reason(str(kind), cap)
            # Unchecked when near enough for some distance to apply and beyond what its zone screens.
            if why is not None and consultation_m(level) <= d < possible_reach_m(kind, advise_factor):
                unchecked.append(
                    {
                        "risk_unit_id": None if row["hazard_id"] is None else int(row["hazard_id"]),
                        "name": row["hazard_name"],
                        "hazard_kind": kind,
                        "level": _level(level),
                        "distance_m": round(d, 1),
                        "reason": why[0],
                        "reason_zh": why[1],
                    }
                )
                continue
            if why is not None:
                kind = None  # no distance applies: its consultation zone screens it
        screen = screen_pair(kind, cap, level, str(row["gb_class"]), d, advise_factor)
        if screen is None or screen.status == "ok":
            continue
        if screen.basis == "distance":
            assert screen.rule is not None
            row.update(required_m=screen.rule.distance_m, rule_id=screen.rule.rule_id, status=screen.status)
            conflicts.append(_distance_conflict(proposal, row, advise_factor))
        else:
            assert screen.zone is not None
            conflicts.append(_consultation_conflict(proposal, row, screen))
    if isinstance(proposal, HazardProposal) and not hazard_kinds()[proposal.hazard_kind].tabulated:
        kind_ = hazard_kinds()[proposal.hazard_kind]
        notes.append(
            {
                "reason": f"no distance is tabulated for a {kind_.name_en}: assess its external distances per "
                f"{kind_.standard} or by a QRA before approval",
                "reason_zh": f"{kind_.name_zh}无表列安全距离，审批前须按 {kind_.standard} 计算外部距离或开展定量风险评价",
            }
        )
    if isinstance(proposal, TargetProposal):
        crit = criterion(proposal.gb_class, "existing")
        inside = [
            _redacted(h, proposal)
            if visible is not None and not visible(_text(h.get("hazard_adcode")))
            else h
            for h in _as_records(hits)
            if float(h["individual_risk"]) >= crit * (1 - 1e-9)
        ]
        seen: set[Any] = set()
        for row in sorted(
            inside, key=lambda h: -float(h["individual_risk"])
        ):  # the highest contour per hazard
            key = row["hazard_id"] if row["hazard_id"] is not None else ("outside", row["contour_id"])
            if key not in seen:
                seen.add(key)
                conflicts.append(_contour_conflict(proposal, row, crit))
    conflicts.sort(key=lambda c: (c.status != "veto", round(c.distance_m, 6), c.basis, c.existing["id"] or 0))
    verdict: Verdict = (
        "veto"
        if any(c.status == "veto" for c in conflicts)
        else "advise"
        if conflicts or notes or unchecked
        else "ok"
    )
    zh, en = _verdict_text(proposal, verdict, conflicts, unchecked, notes, advise_factor)
    return SitingResult(verdict, conflicts, unchecked, advise_factor, epsg, zh, en, notes)


def _consultation_conflict(proposal: Proposal, row: Mapping[str, Any], screen: Screen) -> Conflict:
    """A conflict found by a level-1/2 unit's consultation zone (its inner zone: veto; else advise)."""
    zone = screen.zone
    assert zone is not None
    d = float(row["distance_m"])
    p_zh, p_en, e_zh, e_en = _subjects(proposal, row)
    lv_zh, lv_en = _level_names(zone.level)
    flag = " [verify]" if zone.verify else ""  # the zone's distances are riskmap's assumption
    if screen.rule is None:
        why_zh, why_en = "无表列安全距离", "no tabulated distance"
    else:
        why_zh = f"满足 {screen.rule.cited} 规定的 {screen.rule.distance_m:.0f} 米"
        why_en = f"it meets the {screen.rule.distance_m:.0f} m {screen.rule.cited} requires"
    if screen.status == "violation":
        inner = float(zone.inner_m or 0.0)
        move = max(inner - d, 0.0)
        zh = (
            f"{p_zh}距{e_zh} {d:.0f} 米，{why_zh}，但位于{lv_zh}单元咨询区内圈（{inner:.0f} 米{flag}）内，"
            f"高敏感防护目标须至少外移 {move:.0f} 米（一票否决）。"
        )
        en = (
            f"{p_en[0].upper()}{p_en[1:]} would be {d:.0f} m from {e_en}: {why_en}; within the inner zone "
            f"({inner:.0f} m{flag}) of the consultation zone of a {lv_en}, where a highly sensitive target is vetoed "
            f"(seed 000 (四)); it would have to move at least {move:.0f} m further away (veto)."
        )
        required, advise, clear = inner, zone.consultation_m, max(zone.consultation_m - d, 0.0)
    else:
        clear = max(zone.consultation_m - d, 0.0)
        zh = (
            f"{p_zh}距{e_zh} {d:.0f} 米：{why_zh}；位于{lv_zh}单元的咨询区（{zone.consultation_m:.0f} 米{flag}）内，"
            f"须开展定量风险评价（GB 36894）后再定，或再外移 {clear:.0f} 米。"
        )
        en = (
            f"{p_en[0].upper()}{p_en[1:]} would be {d:.0f} m from {e_en}: "
            + ("no tabulated distance; within the consultation zone of a major risk" if screen.rule is None
               else f"{why_en}, but it lies within the consultation zone of a major risk")
            + f" ({lv_en}, {zone.consultation_m:.0f} m{flag}): a quantitative risk assessment (GB 36894) is needed, "
            f"or a site {clear:.0f} m further away."
        )  # fmt: skip
        move, required, advise = None, None, zone.consultation_m
    people, estimated = _people(proposal, row)
    return Conflict(
        existing=_existing(proposal, row),
        status="veto" if screen.status == "violation" else "advise",
        basis=screen.basis,
        distance_m=d,
        required_m=required,
        advise_m=advise,
        move_m=move,
        clear_advise_m=clear,
        rule=zone.as_dict(),
        people=people,
        population_estimated=estimated,
        line=row.get("line"),
        explanation_zh=zh,
        explanation_en=en,
    )


OUTSIDE_NAMES: Final = {
    "hazard": ("辖区外的风险单元", "a risk unit outside your jurisdictions"),
    "protection_target": ("辖区外的防护目标", "a protection target outside your jurisdictions"),
}


def _redacted(row: Mapping[str, Any], proposal: Proposal) -> dict[str, Any]:
    """A row the caller may not see, stripped of what names it: the kind, class and level that decide the
    verdict and the distance stay."""
    out = dict(row)
    out["outside_scope"] = True
    if isinstance(proposal, TargetProposal):
        out.update(hazard_id=None, hazard_name=OUTSIDE_NAMES["hazard"][0], capacity_m3=None,
                   enterprise_id=None, hazard_adcode=None, line=None)  # fmt: skip
    else:
        out.update(target_id=None, target_name=OUTSIDE_NAMES["protection_target"][0], population=None,
                   households=None, target_adcode=None, line=None)  # fmt: skip
    return out


def _existing(proposal: Proposal, row: Mapping[str, Any]) -> dict[str, Any]:
    outside = {"outside_scope": True} if row.get("outside_scope") else {}
    if isinstance(proposal, HazardProposal):
        return {
            **outside,
            "kind": "protection_target",
            "id": None if row["target_id"] is None else int(row["target_id"]),
            "name": row["target_name"],
            "type": row["target_type"],
            "gb_class": row["gb_class"],
            "jurisdiction_adcode": _text(row.get("target_adcode")),
        }
    cap = row.get("capacity_m3")
    return {
        **outside,
        "kind": "hazard",
        "id": None if row["hazard_id"] is None else int(row["hazard_id"]),
        "name": row["hazard_name"],
        "hazard_kind": row["hazard_kind"],
        "capacity_m3": None if cap is None or pd.isna(cap) else float(cap),
        "enterprise_id": None
        if row.get("enterprise_id") is None or pd.isna(row["enterprise_id"])
        else int(row["enterprise_id"]),
        "level": _level(row.get("hazard_level")),
        "jurisdiction_adcode": _text(row.get("hazard_adcode")),
    }


def _people(proposal: Proposal, row: Mapping[str, Any]) -> tuple[int, bool]:
    if isinstance(proposal, TargetProposal):
        return proposal.people, proposal.population_estimated
    n, est, _ = estimate_people(
        str(row["target_type"]), row.get("population"), row.get("households"), row.get("target_area_m2")
    )
    stored = row.get("population_estimated")
    return n, bool(est or stored is True)


def _subjects(proposal: Proposal, row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(proposal zh, proposal en, existing zh, existing en) descriptions."""
    kind_zh, kind_en = _kind_names(row["hazard_kind"])
    type_zh, type_en = _type_names(row["target_type"])
    class_zh, class_en = _class_names(row["gb_class"])
    if isinstance(proposal, HazardProposal):
        return (
            f"拟建{kind_zh}",
            f"the proposed {kind_en.lower()}",
            f"{row['target_name']}（{type_zh}，{class_zh}）",
            f"{row['target_name']} ({type_en}, {class_en})",
        )
    lv_zh, lv_en = _level_names(row.get("hazard_level"))
    return (
        f"拟建{type_zh}（{class_zh}）",
        f"the proposed {type_en} ({class_en})",
        f"{row['hazard_name']}（{lv_zh}，{kind_zh}）",
        f"{row['hazard_name']} ({lv_en}, {kind_en.lower()})",
    )


def _distance_conflict(proposal: Proposal, row: Mapping[str, Any], factor: float) -> Conflict:
    d, req = float(row["distance_m"]), float(row["required_m"])
    rule = _rule(row["rule_id"])
    cite = rule.cited if rule else ""
    veto = row["status"] == "violation"
    move = max(req - d, 0.0)
    clear = max(factor * req - d, 0.0)
    p_zh, p_en, e_zh, e_en = _subjects(proposal, row)
    if veto:
        zh = (
            f"{p_zh}距{e_zh} {d:.0f} 米，小于 {cite} 规定的 {req:.0f} 米安全防护距离，"
            f"须至少外移 {move:.0f} 米（一票否决）。"
        )
        en = (
            f"{p_en[0].upper()}{p_en[1:]} would be {d:.0f} m from {e_en}, less than the {req:.0f} m {cite} "
            f"requires: it would have to move at least {move:.0f} m further away (veto)."
        )
    else:
        zh = (
            f"{p_zh}距{e_zh} {d:.0f} 米，满足 {cite} 规定的 {req:.0f} 米，但在其 {factor:g} 倍（{factor * req:.0f} 米）"
            f"范围内，建议再外移 {clear:.0f} 米或论证。"
        )
        en = (
            f"{p_en[0].upper()}{p_en[1:]} would be {d:.0f} m from {e_en}: it meets the {req:.0f} m {cite} requires "
            f"but lies within {factor:g} times that ({factor * req:.0f} m); moving {clear:.0f} m further away clears it."
        )
    people, estimated = _people(proposal, row)
    return Conflict(
        existing=_existing(proposal, row),
        status="veto" if veto else "advise",
        basis="distance",
        distance_m=d,
        required_m=req,
        advise_m=factor * req,
        move_m=move,
        clear_advise_m=clear,
        rule=rule.as_dict() if rule else None,
        people=people,
        population_estimated=estimated,
        line=row.get("line"),
        explanation_zh=zh,
        explanation_en=en,
    )


def _contour_conflict(proposal: TargetProposal, row: Mapping[str, Any], crit: float) -> Conflict:
    risk = float(row["individual_risk"])
    escape = row.get("escape_m")
    escape_f = None if escape is None or pd.isna(escape) else float(escape)
    p_zh, p_en, e_zh, e_en = _subjects(
        proposal, {**row, "target_type": proposal.target_type, "gb_class": proposal.gb_class}
    )
    move_zh = f"，须至少外移 {escape_f:.0f} 米" if escape_f is not None else ""
    move_en = f"; it would have to move at least {escape_f:.0f} m" if escape_f is not None else ""
    c = risk_criteria()[proposal.gb_class]
    return Conflict(
        existing=_existing(proposal, row),
        status="veto",
        basis="risk_contour",
        distance_m=float(row["distance_m"]),
        required_m=None,
        advise_m=None,
        move_m=escape_f,
        clear_advise_m=None,
        rule={
            "rule_id": f"GB36894:{proposal.gb_class}",
            "standard": c.standard,
            "edition": c.edition,
            "clause": c.clause,
            "citation": c.citation,
            "source": c.source,
            "verify": "[verify]" in c.clause or "[verify]" in c.source,
        },
        contour_risk=risk,
        criterion_per_year=crit,
        people=proposal.people,
        population_estimated=proposal.population_estimated,
        line=row.get("line"),
        explanation_zh=(
            f"{p_zh}位于{e_zh}个人风险 {sci(risk)}/年 等值线内，超过 {c.citation} 对在役装置 {sci(crit)}/年 "
            f"的个人风险基准{move_zh}（一票否决）。"
        ),
        explanation_en=(
            f"{p_en[0].upper()}{p_en[1:]} would lie inside the {sci(risk)}/year individual-risk contour of {e_en}; "
            f"{c.citation} accepts at most {sci(crit)}/year near an existing installation{move_en} (veto)."
        ),
    )


def _verdict_text(
    proposal: Proposal,
    verdict: Verdict,
    conflicts: list[Conflict],
    unchecked: list[dict[str, Any]],
    notes: list[dict[str, str]],
    factor: float,
) -> tuple[str, str]:
    what_zh = (
        f"拟建{_kind_names(proposal.hazard_kind)[0]}"
        if isinstance(proposal, HazardProposal)
        else f"拟建{_type_names(proposal.target_type)[0]}"
    )
    vetoes = [c for c in conflicts if c.status == "veto"]
    advice = [c for c in conflicts if c.status == "advise"]
    if verdict == "veto":
        move = max((c.move_m or 0.0) for c in vetoes)
        zh = (
            f"否决：{what_zh}与现有 {len(vetoes)} 处对象的安全防护距离、咨询区内圈或个人风险基准不符合要求，实行一票否决"
            f"（须至少外移 {move:.0f} 米，或另行选址）。"
        )
        en = (
            f"Veto: the proposal breaks {len(vetoes)} required safety distance(s), inner consultation zone(s) or risk criteria with what "
            f"exists (one-vote veto, seed 000 (四)); it would have to move at least {move:.0f} m, or go elsewhere."
        )
    elif verdict == "advise":
        parts_zh, parts_en = [], []
        by_rule = [c for c in advice if c.basis == "distance"]
        by_zone = [c for c in advice if c.basis == "consultation"]
        if by_rule:
            parts_zh.append(f"{len(by_rule)} 处对象在规定距离的 {factor:g} 倍范围内")
            parts_en.append(
                f"{len(by_rule)} existing feature(s) lie within {factor:g} times a required distance"
            )
        if by_zone:
            parts_zh.append(
                f"位于 {len(by_zone)} 处重大、较大风险单元的咨询区内，须开展定量风险评价（GB 36894）"
            )
            parts_en.append(
                f"it lies within the consultation zone of {len(by_zone)} level-1/2 unit(s): a quantitative risk "
                "assessment (GB 36894) is needed"
            )
        if unchecked:
            parts_zh.append(f"{len(unchecked)} 处附近危险源无法按表列距离核查")
            parts_en.append(
                f"{len(unchecked)} nearby hazard(s) cannot be checked against tabulated distances"
            )
        for n in notes:
            parts_zh.append(n["reason_zh"])
            parts_en.append(n["reason"])
        zh = (
            f"建议调整：{what_zh}未违反表列安全防护距离，但"
            + "；".join(parts_zh)
            + "，建议调整选址或开展论证。"
        )
        en = (
            "Advise: no required distance is broken, but "
            + "; ".join(parts_en)
            + ". Consider another site or a study."
        )
    else:
        zh = (
            f"符合：{what_zh}与现有危险源和防护目标均满足安全防护距离（含 {factor:g} 倍建议距离），"
            "且不在任何重大、较大风险单元的咨询区内。"
        )
        en = (
            f"OK: the proposal keeps every required safety distance, and {factor:g} times each, to what exists, "
            "and lies in no consultation zone of a level-1 or level-2 unit."
        )
    # Each unit or target by name, level, distance and why (the first VERDICT_DETAILS; the rest counted).
    details_zh = [c.explanation_zh for c in conflicts[:VERDICT_DETAILS]]
    details_en = [c.explanation_en for c in conflicts[:VERDICT_DETAILS]]
    for u in unchecked[: max(0, VERDICT_DETAILS - len(details_zh))]:
        lv_zh, lv_en = _level_names(u.get("level"))
        details_zh.append(f"{u['name']}（{lv_zh}）距 {u['distance_m']:.0f} 米，无法核查：{u['reason_zh']}。")
        details_en.append(
            f"{u['name']} ({lv_en}) {u['distance_m']:.0f} m away cannot be checked: {u['reason']}."
        )
    rest = len(conflicts) + len(unchecked) - len(details_zh)
    if rest > 0:
        details_zh.append(f"另有 {rest} 处，见各项。")
        details_en.append(f"{rest} more: see the features.")
    return " ".join([zh, *details_zh]), " ".join([en, *details_en])


def siting_check(
    geometry: BaseGeometry,
    proposal: Proposal,
    *,
    hazards: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame,
    contours: gpd.GeoDataFrame | None = None,
    advise_factor: float = ADVISE_FACTOR,
) -> SitingResult:
    """The siting check of a proposal at `geometry` (EPSG:4490) against existing hazards and targets
    (GeoPandas reference of geo.store.safety_distance.siting_check_sql)."""
    epsg = zone_epsg(geometry)
    g_m = to_zone(np.array([geometry], dtype=object), epsg)[0]
    reach = siting_reach_m(proposal, advise_factor)
    is_hazard = isinstance(proposal, HazardProposal)
    if is_hazard:
        others = _frame_in_4490(targets, "targets").reset_index(drop=True)
    else:
        others = _frame_in_4490(hazards, "hazards")
        others = others[screened_units(others)].reset_index(drop=True)
    # Project only what lies in a box in degrees around the proposal (as the SQL's index search does).
    o_geoms = np.asarray(others.geometry.values, dtype=object)
    box = degree_boxes(np.array([geometry], dtype=object), reach)[0]
    near = (
        np.flatnonzero(shapely.intersects(o_geoms, box))
        if len(others) and reach > 0
        else np.zeros(0, dtype=np.int64)
    )
    o_m = np.full(len(others), None, dtype=object)
    o_m[near] = to_zone(o_geoms[near], epsg) if near.size else []
    found = (
        shapely.STRtree(o_m[near]).query(g_m, predicate="dwithin", distance=reach)
        if near.size
        else np.zeros(0, dtype=np.int64)
    )
    idx = near[found]
    zeros = np.zeros(idx.size, dtype=np.int64)
    pairs = pd.DataFrame(
        {
            "h": zeros if is_hazard else idx,
            "t": idx if is_hazard else zeros,
            "distance_m": shapely.distance(g_m, o_m[idx]),
            "epsg": epsg,
        }
    )
    me = gpd.GeoDataFrame({"id": [0]}, geometry=[geometry], crs=SRID)
    candidates = (
        _attach(pairs, me, others, with_lines=False)
        if is_hazard
        else _attach(pairs, others, me, with_lines=False)
    )
    candidates["line"] = from_zone(shapely.shortest_line(g_m, o_m[idx]), epsg) if idx.size else []
    hits = None
    if not is_hazard and contours is not None and len(contours):
        contours = _frame_in_4490(contours, "contours").reset_index(drop=True)
        c_geoms = np.asarray(contours.geometry.values, dtype=object)
        ci = shapely.STRtree(c_geoms).query(geometry, predicate="intersects")
        units = _frame_in_4490(hazards, "hazards").reset_index(drop=True)
        position = pd.Series(np.arange(len(units)), index=units["id"].to_numpy())
        rows = []
        for i in ci:
            j = position.get(contours["risk_unit_id"].iat[int(i)])
            if j is None:
                continue
            u_m = to_zone(np.array([units.geometry.iat[int(j)]], dtype=object), epsg)[0]
            c_m = to_zone(c_geoms[[int(i)]], epsg)[0]
            rows.append(
                {
                    "hazard_id": units["id"].iat[int(j)],
                    "hazard_name": _col(units, "name").iat[int(j)],
                    "hazard_kind": _col(units, "hazard_kind").iat[int(j)],
                    "capacity_m3": _col(units, "capacity_m3").iat[int(j)],
                    "enterprise_id": _col(units, "enterprise_id").iat[int(j)],
                    "hazard_adcode": _col(units, "jurisdiction_adcode").iat[int(j)],
                    "hazard_level": _col(units, "level").iat[int(j)],
                    "contour_id": contours["id"].iat[int(i)],
                    "individual_risk": float(contours["individual_risk"].iat[int(i)]),
                    "distance_m": float(shapely.distance(g_m, u_m)),
                    "escape_m": escape_distance(g_m, c_m),
                }
            )
        hits = pd.DataFrame(rows)
    return assess_siting(proposal, candidates, hits, epsg=epsg, advise_factor=advise_factor)


def escape_distance(geom_m: BaseGeometry, contour_m: BaseGeometry) -> float:
    """How far (m, metric CRS) a geometry inside a contour must move to leave it: the largest distance from
    a vertex of their overlap to the contour's boundary (a lower bound for a straight move)."""
    inside = geom_m.intersection(contour_m)
    if inside.is_empty:
        return 0.0
    points = shapely.points(shapely.get_coordinates(inside))
    return float(shapely.distance(points, contour_m.boundary).max())


# --- exposure ---------------------------------------------------------------------------------------------


def parse_bands(value: str | Sequence[float] | None, field: str = "bands") -> tuple[float, ...]:
    """Outer edges of the distance bands in metres, ascending: '100,300,1000' → (100.0, 300.0, 1000.0)."""
    if value is None:
        return DEFAULT_BANDS
    try:
        edges = [float(v) for v in (value.split(",") if isinstance(value, str) else value)]
    except ValueError:
        raise InvalidInput.one(
            field,
            "expected comma-separated distances in metres, e.g. 100,300,1000",
            "距离分带应为以逗号分隔的米数",
        ) from None
    if not edges or len(edges) > MAX_BANDS:
        raise InvalidInput.one(field, f"give 1 to {MAX_BANDS} band edges", f"距离分带应为 1–{MAX_BANDS} 个")
    if not all(math.isfinite(e) and 0 < e <= MAX_BAND_M for e in edges):
        raise InvalidInput.one(
            field,
            f"each band edge must be more than 0 and at most {MAX_BAND_M:g} m",
            "距离分带须在 0–10000 米之间",
        )
    if any(b <= a for a, b in pairwise(edges)):
        raise InvalidInput.one(field, "band edges must increase", "距离分带须递增")
    return tuple(edges)


def exposure_bands(distances: pd.DataFrame, bands: Sequence[float] = DEFAULT_BANDS) -> list[dict[str, Any]]:
    """People, households and targets per distance band [from, to) around a risk unit. `distances` has
    target_id, distance_m (edge to edge), gb_class, target_type, population, households, target_area_m2
    (and population_estimated); a target counts once, in the band of its nearest edge."""
    frame = with_people(distances) if len(distances) else distances.assign(people=[], population_rule=[])
    out = []
    lower = 0.0
    for upper in bands:
        d = frame["distance_m"].to_numpy(dtype=np.float64) if len(frame) else np.zeros(0)
        inside = frame[(d >= lower) & (d < upper)] if len(frame) else frame
        by_class = {str(c): 0 for c in GBClass}
        for cls, n in inside.groupby("gb_class")["people"].sum().items() if len(inside) else ():
            by_class[str(cls)] = int(n)
        hh = pd.to_numeric(inside["households"], errors="coerce") if len(inside) else pd.Series(dtype=float)
        out.append(
            {
                "from_m": lower,
                "to_m": float(upper),
                "targets": len(inside),
                "people": int(inside["people"].sum()) if len(inside) else 0,
                "households": int(hh.sum()) if len(hh) else 0,
                "estimated_targets": int(inside["population_estimated"].sum()) if len(inside) else 0,
                "people_by_gb_class": by_class,
                "target_ids": sorted(int(i) for i in inside["target_id"]) if len(inside) else [],
                "target_ids_outside_scope": 0,  # ids the caller may not see (set by geo.store)
            }
        )
        lower = float(upper)
    return out


def exposure(
    geometry: BaseGeometry, targets: gpd.GeoDataFrame, bands: Sequence[float] = DEFAULT_BANDS
) -> list[dict[str, Any]]:
    """People in distance bands around a hazard geometry (GeoPandas reference of exposure_sql)."""
    epsg = zone_epsg(geometry)
    dummy = gpd.GeoDataFrame({"id": [0]}, geometry=[geometry], crs=SRID)
    pairs = candidate_pairs(dummy, targets, [max(bands)])
    pairs = pairs.assign(epsg=epsg)
    return exposure_bands(pairs, bands)


# --- rings for maps ------------------------------------------------------------------------------------------


def distance_ring(geometry: BaseGeometry, distance_m: float, *, quad_segs: int = 32) -> BaseGeometry:
    """The area within distance_m of a geometry (EPSG:4490), buffered in its Gauss–Krüger zone: for maps."""
    epsg = zone_epsg(geometry)
    g_m = to_zone(np.array([geometry], dtype=object), epsg)[0]
    return from_zone(np.array([g_m.buffer(distance_m, quad_segs=quad_segs)], dtype=object), epsg)[0]


def required_rings(
    hazards: gpd.GeoDataFrame,
    *,
    gb_classes: Iterable[str] | None = None,
    quad_segs: int = 32,
    consultation: bool = True,
) -> gpd.GeoDataFrame:
    """The required-distance rings of each hazard (for maps only: a buffer's polygon cuts chords off the
    true circle, so analyses never use it): one ring per distinct distance, with the classes it protects;
    and the consultation zone of each level-1/2 unit (group 'consultation')."""
    hazards = _frame_in_4490(hazards, "hazards").reset_index(drop=True)
    wanted = {str(c) for c in gb_classes} if gb_classes is not None else None
    rows: list[dict[str, Any]] = []
    owner: list[int] = []
    for i, (hid, kind, cap, level) in enumerate(
        zip(
            hazards["id"],
            _col(hazards, "hazard_kind"),
            _col(hazards, "capacity_m3"),
            _col(hazards, "level"),
            strict=True,
        )
    ):
        zone = consultation_zone(level) if consultation else None
        if zone is not None:
            lv_zh, _ = _level_names(zone.level)
            rows.append(
                {
                    "hazard_id": hid,
                    "hazard_kind": kind,
                    "distance_m": zone.consultation_m,
                    "gb_classes": [str(c) for c in GBClass],
                    "label_zh": f"{zone.consultation_m:.0f} 米：{lv_zh}咨询区",
                    "citation": "data/consultation_distances.csv",
                    "group": "consultation",
                }
            )
            owner.append(i)
        if kind is None or pd.isna(kind):
            continue
        by_distance: dict[float, list[DistanceRule]] = {}
        for cls in GBClass:
            rule = rule_for(str(kind), _num(cap), str(cls)) if wanted is None or str(cls) in wanted else None
            if rule is not None:
                by_distance.setdefault(rule.distance_m, []).append(rule)
        for distance, rules in sorted(by_distance.items()):
            classes = [r.gb_class for r in rules]
            names = "、".join(GB_CLASS_NAMES_ZH[GBClass(c)] for c in classes)
            rows.append(
                {
                    "hazard_id": hid,
                    "hazard_kind": kind,
                    "distance_m": distance,
                    "gb_classes": classes,
                    "label_zh": f"{distance:.0f} 米：{'所有防护目标' if len(classes) == len(GBClass) else names}",
                    "citation": rules[0].cited,
                    "group": None,
                }
            )
            owner.append(i)
    columns = ["hazard_id", "hazard_kind", "distance_m", "gb_classes", "label_zh", "citation", "group"]
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=SRID)
    geoms = np.asarray(hazards.geometry.values, dtype=object)[owner]
    distances = np.array([r["distance_m"] for r in rows], dtype=np.float64)
    out = np.empty(len(rows), dtype=object)
    zones = zone_epsgs(geoms)
    for epsg in np.unique(zones):  # one projection per zone, not per hazard
        m = zones == epsg
        g_m = to_zone(geoms[m], int(epsg))
        out[m] = from_zone(shapely.buffer(g_m, distances[m], quad_segs=quad_segs), int(epsg))
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry=list(out), crs=SRID)
