"""Joint prevention (联防联控), the pure part: trade similarity (行业相近、业态相似), single-linkage clusters,
cross-inspection (交叉互查, 异地交叉检查), 双随机 inspection plans, self-inspection calendars and key targets.

No I/O beyond reading the two reference tables in data/ (as geo.vocab does); PostGIS work is in
geo/store/joint_prevention.py.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from geo.closeout import calendar as closeout_calendar
from geo.errors import InvalidInput
from geo.four_colour import (
    DEFAULT_WEIGHTS,
    LEVELS,
    FourColourOptions,
    ZoneTotals,
    four_colour_options,
    summarise,
)
from geo.resources import read_table
from geo.vocab import sectors

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

TradeKind = Literal["sector", "business_type"]
TRADE_KINDS: Final = ("sector", "business_type")
MAX_DISTANCE_M: Final = 10_000.0
DEFAULT_DISTANCE_M: Final = 500.0

__all__ = [
    "DEFAULT_DISTANCE_M",
    "KEY_TARGET_SCORE",
    "MAX_DISTANCE_M",
    "Cluster",
    "Frequency",
    "Inspector",
    "KeyTargets",
    "Member",
    "PeerCheck",
    "Period",
    "PlanEnterprise",
    "RandomCheck",
    "Ranked",
    "SelfInspection",
    "SimilarityRule",
    "Team",
    "TeamPlan",
    "Trade",
    "TradeLinks",
    "assign_teams",
    "build_clusters",
    "check_distance",
    "components",
    "enterprise_levels",
    "inspection_frequencies",
    "key_targets",
    "parse_period",
    "partition",
    "peer_checks",
    "random_checks",
    "reference_clusters",
    "risk_scores",
    "self_inspections",
    "similarity_rules",
    "synthetic_roster",
    "trade_links",
]


def check_distance(distance_m: float, field_name: str = "distance_m") -> float:
    """distance_m as a float in metres, 0 < d ≤ 10,000; InvalidInput naming the field otherwise."""
    if not (
        isinstance(distance_m, int | float) and math.isfinite(distance_m) and 0 < distance_m <= MAX_DISTANCE_M
    ):
        raise InvalidInput.one(
            field_name,
            f"must be a distance in metres greater than 0 and at most {MAX_DISTANCE_M:,.0f}, got {distance_m!r}",
            f"距离须大于 0 米且不超过 {MAX_DISTANCE_M:,.0f} 米",
        )
    return float(distance_m)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidInput.one("seed", "must be a non-negative integer", "随机种子须为非负整数")
    return int(seed)


# --- trade similarity (行业相近、业态相似) ------------------------------------------------------------------


@dataclass(frozen=True)
class SimilarityRule:
    """One row of data/sector_similarity.csv: two sectors or business types whose enterprises count as
    行业相近、业态相似 (symmetric)."""

    kind_a: TradeKind
    value_a: str
    kind_b: TradeKind
    value_b: str
    rationale: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return {
            "a": f"{self.kind_a}:{self.value_a}",
            "b": f"{self.kind_b}:{self.value_b}",
            "rationale": self.rationale,
            "source": self.source,
        }


def similarity_rules() -> tuple[SimilarityRule, ...]:
    """The rows of data/sector_similarity.csv, checked: known kinds, known sector codes, sources given."""
    known = sectors()
    out: list[SimilarityRule] = []
    for i, row in enumerate(read_table("sector_similarity.csv"), start=2):
        kinds = (row["kind_a"], row["kind_b"])
        values = (row["value_a"].strip(), row["value_b"].strip())
        for kind, value in zip(kinds, values, strict=True):
            if kind not in TRADE_KINDS or not value:
                raise ValueError(f"sector_similarity.csv line {i}: bad {kind!r} {value!r}")
            if kind == "sector" and value not in known:
                raise ValueError(f"sector_similarity.csv line {i}: unknown sector {value!r}")
        if not row["source"].strip() or not row["rationale"].strip():
            raise ValueError(f"sector_similarity.csv line {i}: every row needs a rationale and a source")
        out.append(
            SimilarityRule(
                cast(TradeKind, kinds[0]),
                values[0],
                cast(TradeKind, kinds[1]),
                values[1],
                row["rationale"],
                row["source"],
            )
        )
    return tuple(out)


@dataclass(frozen=True, order=True)
class Trade:
    """What an enterprise does: its sector code (行业领域) and business type (业态, '' when not given)."""

    sector: str
    business_type: str = ""


def _side_matches(kind: str, value: str, trade: Trade) -> bool:
    return trade.sector == value if kind == "sector" else trade.business_type == value


@dataclass(frozen=True)
class TradeLinks:
    """Which of the trades present are similar to which: the same sector always; rows of the similarity
    table widen it (``widen=True``).

    ``groups`` are the connected components of the similarity; when each group is a clique
    (``transitive``), single linkage on "within d and similar" is DBSCAN(d, 1) run per group. In general
    ``cliques`` cover every similar pair by sets of pairwise-similar trades (each sector; each table row's
    two sides when they are pairwise similar, else the row's pairs one by one): DBSCAN(d, 1) run per clique
    then adds only true links and finds every link, and the components of all its clusters together are
    the single-linkage clusters.
    """

    trades: tuple[Trade, ...]
    similar: BoolArray  # (n, n), symmetric, True on the diagonal
    sector_index: IntArray  # (n,) index of each trade's sector among the sectors present
    groups: IntArray  # (n,) component of the similarity graph
    transitive: bool
    cross_pairs: tuple[tuple[int, int], ...]  # similar (i < j) of different sectors
    cliques: tuple[tuple[int, ...], ...]
    rules_used: tuple[SimilarityRule, ...]

    def index(self) -> dict[Trade, int]:
        return {t: i for i, t in enumerate(self.trades)}

    def similar_pairs(self) -> tuple[IntArray, IntArray]:
        """Every ordered pair (i, j) of similar trades, both directions and i == j included."""
        a, b = np.nonzero(self.similar)
        return a.astype(np.int64), b.astype(np.int64)


def _clique_cover(
    similar: BoolArray, sector_index: IntArray, rule_sets: list[set[int]]
) -> list[tuple[int, ...]]:
    """Sets of pairwise-similar trades covering every similar pair (see TradeLinks)."""
    n = len(similar)
    cliques: set[tuple[int, ...]] = {
        tuple(int(i) for i in np.flatnonzero(sector_index == k)) for k in np.unique(sector_index)
    }
    for members in rule_sets:
        ordered = tuple(sorted(members))
        if similar[np.ix_(ordered, ordered)].all():
            cliques.add(ordered)
        else:
            cliques.update((i, j) for i in ordered for j in ordered if i < j and similar[i, j])
    covered = np.zeros((n, n), dtype=np.bool_)
    for c in cliques:
        covered[np.ix_(c, c)] = True
    assert (covered | ~similar).all(), "the clique cover misses a similar pair"
    kept = [c for c in cliques if not any(set(c) < set(o) for o in cliques)]
    return sorted(kept)


def trade_links(
    trades: Iterable[Trade], rules: Sequence[SimilarityRule] = (), *, widen: bool = True
) -> TradeLinks:
    """The similarity between the given trades (deduplicated and sorted)."""
    ts = tuple(sorted(set(trades)))
    n = len(ts)
    sector_names = sorted({t.sector for t in ts})
    sector_index = np.array([sector_names.index(t.sector) for t in ts], dtype=np.int64)
    similar = sector_index[:, None] == sector_index[None, :]
    used: list[SimilarityRule] = []
    rule_sets: list[set[int]] = []
    if widen:
        for rule in rules:
            side_a = {i for i, t in enumerate(ts) if _side_matches(rule.kind_a, rule.value_a, t)}
            side_b = {i for i, t in enumerate(ts) if _side_matches(rule.kind_b, rule.value_b, t)}
            hits = [(i, j) for i in side_a for j in side_b if i != j]
            for i, j in hits:
                similar[i, j] = similar[j, i] = True
            if hits:
                used.append(rule)
                rule_sets.append(side_a | side_b)
    _, groups = connected_components(sp.csr_matrix(similar), directed=False)
    groups = groups.astype(np.int64)
    transitive = all(bool(similar[np.ix_(groups == g, groups == g)].all()) for g in np.unique(groups))
    cross = tuple(
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if similar[i, j] and sector_index[i] != sector_index[j]
    )
    cliques = tuple(_clique_cover(similar, sector_index, rule_sets)) if n else ()
    return TradeLinks(ts, similar, sector_index, groups, transitive, cross, cliques, tuple(used))


# --- single linkage ---------------------------------------------------------------------------------------


def components(n: int, a: IntArray, b: IntArray) -> IntArray:
    """Connected components of the graph on nodes 0..n-1 with edges (a[k], b[k]); labels 0..k-1."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = sp.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def reference_clusters(
    xy: FloatArray, trade_index: IntArray, links: TradeLinks, distance_m: float
) -> IntArray:
    """Single-linkage labels of points (metric coordinates, metres) linked when within distance_m and of
    similar trades: the in-memory reference (a k-d tree's pairs, then connected components)."""
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(xy).query_pairs(r=distance_m, output_type="ndarray").astype(np.int64)
    keep = links.similar[trade_index[pairs[:, 0]], trade_index[pairs[:, 1]]]
    pairs = pairs[keep]
    return components(n, pairs[:, 0], pairs[:, 1])


def partition(ids: Sequence[int] | IntArray, labels: IntArray, *, min_size: int = 2) -> list[tuple[int, ...]]:
    """The clusters as sorted tuples of ids, those with at least min_size members, sorted: a canonical
    form for comparing two clusterings."""
    ids_arr = np.asarray(ids, dtype=np.int64)
    order = np.lexsort((ids_arr, labels))
    out: list[tuple[int, ...]] = []
    if len(order) == 0:
        return out
    split = np.flatnonzero(np.diff(labels[order])) + 1
    for chunk in np.split(ids_arr[order], split):
        if len(chunk) >= min_size:
            out.append(tuple(int(i) for i in chunk))
    return sorted(out)


# --- cluster reports ----------------------------------------------------------------------------------------


def enterprise_levels(counts: IntArray, options: FourColourOptions | None = None) -> list[int | None]:
    """Each enterprise's level from its units' counts by level (n, 4): 就高 by default, or the weighted
    rule of the four-colour map (geo.four_colour.summarise, the same code the map uses)."""
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, 4)
    if len(counts) == 0:
        return []
    options = options or four_colour_options()
    totals = ZoneTotals(
        counts=counts,
        area_m2=None,
        zone_area_m2=np.ones(len(counts)),
        enterprise_ids=[[] for _ in range(len(counts))],
    )
    n = len(counts)
    frame = summarise(list(range(n)), [""] * n, np.full(n, None, dtype=object), totals, options)
    return [None if pd.isna(lv) else int(lv) for lv in frame["level"]]


@dataclass(frozen=True)
class Member:
    """An enterprise in a cluster."""

    id: int
    name: str
    credit_code: str
    sector: str
    business_type: str | None
    jurisdiction_adcode: str | None
    jurisdiction_name: str | None
    inside: bool  # filed under the jurisdiction asked for (else a neighbour across its border)
    counts: tuple[int, int, int, int]  # its risk units by level
    level: int | None
    lon: float
    lat: float


@dataclass(frozen=True)
class Cluster:
    """A joint-prevention group (联防联控组团): enterprises linked by "within d and similar trades"."""

    id: int
    key: int  # the smallest member id: stable while the members stay
    members: tuple[Member, ...]
    hull: BaseGeometry | None
    level: int | None = None
    counts: dict[str, int] = field(default_factory=dict)  # members by level, "none" without units
    unit_counts: dict[str, int] = field(default_factory=dict)
    sectors: tuple[str, ...] = ()
    business_types: tuple[str, ...] = ()
    jurisdictions: tuple[tuple[str | None, str | None], ...] = ()  # (adcode, name) of the members
    cross_region: bool = False  # 跨区域联防: members filed under more than one jurisdiction

    @property
    def member_ids(self) -> tuple[int, ...]:
        return tuple(m.id for m in self.members)


def build_clusters(
    members: Sequence[Member], labels: Sequence[int], hulls: Mapping[int, BaseGeometry | None]
) -> list[Cluster]:
    """Group members by label into clusters (labels of fewer than 2 members are dropped) and describe each:
    highest level, members and units by level, sectors, jurisdictions, cross-region flag.

    Clusters are numbered 1.. from the most severe: highest level first, then more members, then key."""
    by_label: dict[int, list[Member]] = {}
    for member, label in zip(members, labels, strict=True):
        by_label.setdefault(int(label), []).append(member)
    made: list[tuple[tuple[int, int, int], int, Cluster]] = []
    for label, group in by_label.items():
        if len(group) < 2:
            continue
        group.sort(key=lambda m: m.id)
        levels = [m.level for m in group if m.level is not None]
        level = min(levels) if levels else None
        counts = {str(lv): sum(1 for m in group if m.level == lv) for lv in LEVELS}
        counts["none"] = sum(1 for m in group if m.level is None)
        unit_counts = {str(lv): sum(m.counts[lv - 1] for m in group) for lv in LEVELS}
        places = sorted(
            {(m.jurisdiction_adcode, m.jurisdiction_name) for m in group}, key=lambda p: p[0] or ""
        )
        cluster = Cluster(
            id=0,
            key=group[0].id,
            members=tuple(group),
            hull=hulls.get(label),
            level=level,
            counts=counts,
            unit_counts=unit_counts,
            sectors=tuple(sorted({m.sector for m in group})),
            business_types=tuple(sorted({m.business_type for m in group if m.business_type})),
            jurisdictions=tuple(places),
            cross_region=len(places) > 1,
        )
        made.append(((level or 5, -len(group), cluster.key), label, cluster))
    made.sort(key=lambda item: item[0])
    return [replace(c, id=i) for i, (_, _, c) in enumerate(made, start=1)]


# --- cross-inspection within clusters (交叉互查) -------------------------------------------------------------


@dataclass(frozen=True)
class PeerCheck:
    """Enterprise `inspector_id` inspects enterprise `inspected_id`, both of cluster `cluster_key`."""

    cluster_key: int
    inspector_id: int
    inspected_id: int


def peer_checks(members_by_cluster: Mapping[int, Sequence[int]], *, seed: int) -> list[PeerCheck]:
    """Every member inspects exactly one other member and is inspected by exactly one (load 1 each).

    The members of each cluster are put in a random cycle (numpy default_rng((seed, key)), key = the
    cluster's smallest member id, so a cluster's plan does not change when another cluster does): each
    inspects the next. Never itself; no mutual pair in a cluster of 3 or more (a cycle of length ≥ 3); in a
    cluster of 2 the two inspect each other, the only way. Same seed, same plan.
    """
    seed = _check_seed(seed)
    out: list[PeerCheck] = []
    for key in sorted(members_by_cluster):
        ids = sorted({int(i) for i in members_by_cluster[key]})
        if len(ids) < 2:
            continue
        rng = np.random.default_rng((seed, int(key)))
        cycle = [ids[i] for i in rng.permutation(len(ids))]
        out.extend(PeerCheck(int(key), cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(len(cycle)))
    return out


# --- inspectors and teams (执法人员名录库, seed 002) --------------------------------------------------------


@dataclass(frozen=True)
class Inspector:
    """A law-enforcement inspector of the 双随机 roster (执法人员名录库)."""

    id: str
    name: str
    jurisdiction_adcode: str
    jurisdiction_name: str
    department: str
    team_id: str
    synthetic: bool = False
    # Enterprises this inspector must not inspect (回避: a relative works there, a former employer, …).
    avoid: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Team:
    """An inspection team (检查组) of one jurisdiction, for 异地交叉检查."""

    id: str
    name: str
    jurisdiction_adcode: str
    jurisdiction_name: str
    inspector_ids: tuple[str, ...]
    synthetic: bool = False


_SURNAMES: Final = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢傅钟姜崔谭廖范汪陆金石戴贾韦夏邱方侯邹熊孟秦白江阎薛尹段雷黎史龙陶贺顾毛郝龚邵万钱严覃武洪"
_GIVEN: Final = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红兰建国志文斌海波宁辉鹏飞俊峰琳晨雪梅琴云龙凯鑫佳欣浩宇晓东昊天子豪思远雨"
_TEAM_NUMERALS: Final = "一二三四五六七八九十"


def synthetic_roster(
    jurisdictions: Sequence[tuple[str, str]],
    *,
    inspectors_per_jurisdiction: int = 12,
    teams_per_jurisdiction: int = 2,
    seed: int = 0,
) -> tuple[list[Inspector], list[Team]]:
    """A made-up roster for demonstrations, marked synthetic: for each (adcode, name), that many inspectors
    of its 应急管理局 with invented names, split round-robin into teams_per_jurisdiction teams."""
    if inspectors_per_jurisdiction < 1 or teams_per_jurisdiction < 1:
        raise InvalidInput.one("roster", "needs at least one inspector and one team per jurisdiction")
    rng = np.random.default_rng((_check_seed(seed), 2002))
    inspectors: list[Inspector] = []
    teams: list[Team] = []
    for adcode, name in sorted(set(jurisdictions)):
        department = f"{name}应急管理局"
        team_ids = [f"{adcode}-T{k + 1}" for k in range(teams_per_jurisdiction)]
        members: dict[str, list[str]] = {t: [] for t in team_ids}
        for k in range(inspectors_per_jurisdiction):
            given = "".join(rng.choice(list(_GIVEN), size=int(rng.integers(1, 3))))
            person = f"{_SURNAMES[int(rng.integers(len(_SURNAMES)))]}{given}"
            team = team_ids[k % teams_per_jurisdiction]
            ident = f"{adcode}-I{k + 1:03d}"
            members[team].append(ident)
            inspectors.append(Inspector(ident, person, adcode, name, department, team, synthetic=True))
        for k, team in enumerate(team_ids):
            numeral = _TEAM_NUMERALS[k] if k < len(_TEAM_NUMERALS) else str(k + 1)
            teams.append(
                Team(team, f"{department}执法{numeral}组", adcode, name, tuple(members[team]), synthetic=True)
            )
    return inspectors, teams


@dataclass(frozen=True)
class TeamPlan:
    """Which team inspects which cluster in the 异地交叉检查."""

    team_by_cluster: dict[int, str | None]
    loads: dict[str, int]
    balanced: bool  # every team has ⌊C/T⌋ or ⌈C/T⌉ clusters
    max_load: int
    unassignable: tuple[int, ...]  # clusters with no team from outside their jurisdictions


def assign_teams(
    cluster_regions: Mapping[int, Iterable[str]], teams: Sequence[Team], *, seed: int
) -> TeamPlan:
    """Assign each cluster (key → the adcodes of its members' jurisdictions and their ancestors) to one
    team whose jurisdiction is none of them: never their own (异地), balanced.

    Solved as a small integer programme (scipy.optimize.milp, HiGHS): every cluster gets exactly one
    allowed team; each of the T teams allowed somewhere (a team whose jurisdiction holds every cluster
    can take none) gets ⌊C/T⌋ or ⌈C/T⌉ clusters; among those plans the one of least random cost (numpy
    default_rng(seed)) is taken, so that seeds differ and one seed gives one plan. When the "never own"
    rule makes that balance impossible, the plan of smallest maximum load is taken (``balanced`` False).
    """
    seed = _check_seed(seed)
    keys = sorted(cluster_regions)
    team_ids = [t.id for t in sorted(teams, key=lambda t: t.id)]
    team_place = {t.id: t.jurisdiction_adcode for t in teams}
    regions = {k: frozenset(cluster_regions[k]) for k in keys}
    allowed = [[t for t in team_ids if team_place[t] not in regions[k]] for k in keys]
    unassignable = tuple(k for k, ok in zip(keys, allowed, strict=True) if not ok)
    work = [(k, ok) for k, ok in zip(keys, allowed, strict=True) if ok]
    loads = dict.fromkeys(team_ids, 0)
    result: dict[int, str | None] = dict.fromkeys(keys)
    if not work or not team_ids:
        return TeamPlan(result, loads, not work, 0, unassignable)

    usable = sorted({t for _, ok in work for t in ok})
    n_clusters, n_teams = len(work), len(usable)
    col = {t: i for i, t in enumerate(usable)}
    rows: list[int] = []
    cols: list[int] = []
    for r, (_, ok) in enumerate(work):
        rows.extend([r] * len(ok))
        cols.extend(col[t] for t in ok)
    n_vars = len(rows)
    ones = np.ones(n_vars)
    per_cluster = sp.csr_matrix((ones, (rows, np.arange(n_vars))), shape=(n_clusters, n_vars))
    per_team = sp.csr_matrix((ones, (cols, np.arange(n_vars))), shape=(n_teams, n_vars))
    cost = np.random.default_rng((seed, 2028)).random(n_vars)

    def solve(lower: int, upper: int) -> NDArray[np.float64] | None:
        res = milp(
            cost,
            constraints=[
                LinearConstraint(per_cluster, 1, 1),
                LinearConstraint(per_team, lower, upper),
            ],
            integrality=np.ones(n_vars),
            bounds=Bounds(0, 1),
        )
        return np.asarray(res.x) if res.status == 0 and res.x is not None else None

    floor = n_clusters // n_teams
    x = solve(floor, floor if n_clusters % n_teams == 0 else floor + 1)
    balanced = x is not None
    if x is None:
        lo, hi = floor + 1, n_clusters
        best = solve(0, hi)
        while lo < hi:  # smallest feasible maximum load
            mid = (lo + hi) // 2
            found = solve(0, mid)
            if found is not None:
                hi, best = mid, found
            else:
                lo = mid + 1
        x = best if hi == lo and best is not None else solve(0, lo)
    assert x is not None  # every cluster in `work` has an allowed team, so upper = C is feasible
    chosen = np.flatnonzero(x > 0.5)
    for v in chosen:
        key = work[rows[v]][0]
        team = usable[cols[v]]
        result[key] = team
        loads[team] += 1
    return TeamPlan(result, loads, balanced, max(loads.values()), unassignable)


# --- periods and frequencies ----------------------------------------------------------------------------------

_PERIOD: Final = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


@dataclass(frozen=True)
class Period:
    """A plan's period: a calendar month (2026-12) or year (2026)."""

    label: str
    kind: Literal["month", "year"]
    start: dt.date
    end: dt.date  # inclusive

    @property
    def year(self) -> int:
        return self.start.year

    def days(self) -> int:
        return (self.end - self.start).days + 1


def parse_period(value: str, field_name: str = "period") -> Period:
    """'2026-12' (a month) or '2026' (a year), years 2000–2100."""
    match = _PERIOD.match(value.strip()) if isinstance(value, str) else None
    year = int(match.group(1)) if match else 0
    month = int(match.group(2)) if match and match.group(2) else None
    if not match or not 2000 <= year <= 2100 or (month is not None and not 1 <= month <= 12):
        raise InvalidInput.one(
            field_name,
            f"expected a month YYYY-MM (e.g. 2026-12) or a year YYYY (e.g. 2026) between 2000 and 2100, got {value!r}",
            f"周期应为 YYYY-MM（如 2026-12）或 YYYY（如 2026）形式的月份或年份，收到 {value!r}",
        )
    if month is None:
        return Period(f"{year:04d}", "year", dt.date(year, 1, 1), dt.date(year, 12, 31))
    last = calendar.monthrange(year, month)[1]
    return Period(f"{year:04d}-{month:02d}", "month", dt.date(year, month, 1), dt.date(year, month, last))


@dataclass(frozen=True)
class Frequency:
    """How often a level is inspected: by regulators (双随机) or by the enterprise itself (自查)."""

    plan: Literal["regulator", "self"]
    level: int
    every: float
    unit: Literal["day", "week", "half_month", "month"]
    name_zh: str
    source: str

    def per_year(self) -> float:
        per = {"day": 365.0, "week": 52.0, "half_month": 24.0, "month": 12.0}[self.unit]
        return per / self.every


def inspection_frequencies() -> tuple[Frequency, ...]:
    """The rows of data/inspection_frequencies.csv, checked: both plans, every level once, sources given."""
    out = []
    for i, row in enumerate(read_table("inspection_frequencies.csv"), start=2):
        if row["plan"] not in ("regulator", "self") or row["unit"] not in (
            "day",
            "week",
            "half_month",
            "month",
        ):
            raise ValueError(f"inspection_frequencies.csv line {i}: bad plan or unit")
        if not row["source"].strip():
            raise ValueError(f"inspection_frequencies.csv line {i}: every row needs a source")
        out.append(
            Frequency(
                cast(Literal["regulator", "self"], row["plan"]),
                int(row["level"]),
                float(row["every"]),
                cast(Literal["day", "week", "half_month", "month"], row["unit"]),
                row["name_zh"],
                row["source"],
            )
        )
    for plan in ("regulator", "self"):
        if sorted(f.level for f in out if f.plan == plan) != list(LEVELS):
            raise ValueError(f"inspection_frequencies.csv: plan {plan} needs levels 1–4 once each")
    regulator_units = {f.unit for f in out if f.plan == "regulator"}
    if regulator_units != {"month"} or any(12 % f.every for f in out if f.plan == "regulator"):
        raise ValueError(
            "inspection_frequencies.csv: regulator rows must be every 1, 2, 3, 4, 6 or 12 months"
        )
    return tuple(out)


def _by_level(frequencies: Sequence[Frequency], plan: str) -> dict[int, Frequency]:
    return {f.level: f for f in frequencies if f.plan == plan}


@dataclass(frozen=True)
class PlanEnterprise:
    """An enterprise as the plans see it: its level (None: no assessed risk unit) and the adcodes of its
    jurisdiction and that jurisdiction's ancestors (an inspector of any of them is 'at home' there)."""

    id: int
    level: int | None
    regions: frozenset[str]


# --- the regulators' 双随机 draw -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomCheck:
    """One 双随机 inspection: an enterprise, a date, and the inspectors drawn for it."""

    date: dt.date
    enterprise_id: int
    level: int  # the level whose frequency applied (unassessed enterprises: unassessed_level)
    window: str  # the frequency window the date was drawn in, e.g. 2026-11/2026-12
    inspector_ids: tuple[str, ...]
    # True when the enterprise's own jurisdiction (or its ancestors) had too few inspectors free of a
    # conflict, and the team came from elsewhere.
    from_outside: bool = False


def _windows(every: int) -> list[tuple[int, int]]:
    """Calendar windows of `every` months in a year: (first month, number of months)."""
    return [(m, every) for m in range(1, 13, every)]


def _working_days_by_month(year: int) -> list[IntArray]:
    """The ordinals of each month's working days (index 1–12), by the State Council's calendar; a month
    with none (never, in practice) falls back to all its days."""
    cal = closeout_calendar()
    out: list[IntArray] = [np.zeros(0, dtype=np.int64)]
    for m in range(1, 13):
        days = [dt.date(year, m, d) for d in range(1, calendar.monthrange(year, m)[1] + 1)]
        work = [d.toordinal() for d in days if cal.is_working_day(d)] or [d.toordinal() for d in days]
        out.append(np.array(work, dtype=np.int64))
    return out


def _draw_dates(
    enterprises: Sequence[PlanEnterprise],
    year: int,
    seed: int,
    freq: Mapping[int, Frequency],
    unassessed: int,
) -> list[tuple[dt.date, int, int, str]]:
    """For every enterprise and every window of its level's frequency in the year, one date drawn at
    random in the window (a month of it, then one of that month's working days: inspectors do not work
    weekends and holidays). Depends on the seed, the year and the register."""
    ordered = sorted(enterprises, key=lambda e: e.id)
    ids = np.array([e.id for e in ordered], dtype=np.int64)
    levels = np.array([e.level if e.level is not None else unassessed for e in ordered], dtype=np.int64)
    rng = np.random.default_rng((seed, year))
    draws = rng.random((len(ordered), 12, 2))
    working = _working_days_by_month(year)
    out: list[tuple[dt.date, int, int, str]] = []
    for level in np.unique(levels):
        rows = np.flatnonzero(levels == level)
        every = round(freq[int(level)].every)
        windows = _windows(every)
        first = np.array([w[0] for w in windows], dtype=np.int64)
        k = len(windows)
        month = first[None, :] + np.minimum((draws[rows, :k, 0] * every).astype(np.int64), every - 1)
        ordinal = np.zeros_like(month)
        for m in range(1, 13):
            here = month == m
            if here.any():
                days = working[m]
                pick = np.minimum((draws[rows, :k, 1][here] * days.size).astype(np.int64), days.size - 1)
                ordinal[here] = days[pick]
        labels = [
            f"{year:04d}-{m:02d}" if span == 1 else f"{year:04d}-{m:02d}/{year:04d}-{m + span - 1:02d}"
            for m, span in windows
        ]
        for r, row in enumerate(rows):
            for w in range(k):
                out.append((dt.date.fromordinal(int(ordinal[r, w])), int(ids[row]), int(level), labels[w]))
    return out


def random_checks(
    enterprises: Sequence[PlanEnterprise],
    roster: Sequence[Inspector],
    period: Period,
    *,
    seed: int,
    frequencies: Sequence[Frequency] | None = None,
    unassessed_level: int = 4,
    inspectors_per_check: int = 2,
) -> list[RandomCheck]:
    """The regulators' 双随机 plan for the period (seed 003 三(四); 双随机、一公开), in date order.

    Random objects: each enterprise is inspected once in every window of its level's frequency
    (重大 each month, 较大 each two months, 一般 each quarter, 低 each year; calendar-aligned windows), on a
    working day drawn at random in the window; a month's plan is the year's draw cut to that month, so
    the two agree. Enterprises without an assessed unit are drawn at ``unassessed_level``'s frequency.

    Random inspectors: ``inspectors_per_check`` (2: 行政执法不少于两人) drawn from the roster
    (执法人员名录库) for each check:
    - from the enterprise's own jurisdiction or its ancestors (the department that holds the enterprise
      inspects it; 异地交叉检查 is the cross-inspection plan's business, not this draw's);
    - never an inspector who must avoid the enterprise (``Inspector.avoid``, 回避);
    - the least-loaded eligible inspectors first, ties broken at random, so the load is even;
    - a pair that has not inspected together yet in the period when there is one (a pair repeats only
      once every pair of the pool has been used);
    - only when the home pool has fewer than ``inspectors_per_check`` eligible people does the team come
      from elsewhere (``from_outside``). InvalidInput on field ``roster`` when even that is too few.

    How: the checks fall into groups that share no inspector (a department's pool, with the checks of
    enterprises some of its people avoid and those borrowing from elsewhere joining the groups they
    touch). A group whose checks all draw two from one and the same pool (the usual case: no 回避 in it)
    takes its pairs from a round-robin schedule of the pool (the circle method, its people, rounds and
    pairs shuffled by the seed, a fresh schedule after every C(n, 2) checks): each round pairs everyone
    once, so loads never differ by more than one (two in a pool of odd size, where one sits out each
    round) and no pair repeats before all have inspected together. The other groups are drawn check by
    check (`_draw_inspectors`). Same seed, same plan.
    """
    seed = _check_seed(seed)
    k = inspectors_per_check
    if k < 2:
        raise InvalidInput.one(
            "inspectors_per_check", "at least two inspectors per check", "每次检查至少两名执法人员"
        )
    freq = _by_level(frequencies or inspection_frequencies(), "regulator")
    drawn = _draw_dates(enterprises, period.year, seed, freq, unassessed_level)
    drawn = sorted((d for d in drawn if period.start <= d[0] <= period.end), key=lambda d: (d[0], d[1]))
    if not drawn:
        return []
    people = sorted(roster, key=lambda p: p.id)
    n = len(people)
    place = np.array([p.jurisdiction_adcode for p in people], dtype=object)
    avoiders: dict[int, list[int]] = {}
    for i, p in enumerate(people):
        for enterprise_id in p.avoid:
            avoiders.setdefault(enterprise_id, []).append(i)
    regions = {e.id: e.regions for e in enterprises}
    # Each check's kind: its home pool less those who avoid it (the mask it draws from), and whether that
    # pool is too small so the team comes from outside. Few kinds: a department's, and one per 回避.
    kind_of: dict[tuple[frozenset[str], tuple[int, ...]], int] = {}
    masks: list[BoolArray] = []
    outside: list[bool] = []
    homes: dict[frozenset[str], BoolArray] = {}
    kinds = np.zeros(len(drawn), dtype=np.int64)
    for j, (_, enterprise_id, _, _) in enumerate(drawn):
        region = regions[enterprise_id]
        key = (region, tuple(avoiders.get(enterprise_id, ())))
        kind = kind_of.get(key)
        if kind is None:
            home = homes.get(region)
            if home is None:
                home = np.array([p in region for p in place], dtype=np.bool_) if n else np.zeros(0, np.bool_)
                homes[region] = home
            free = np.ones(n, dtype=np.bool_)
            free[list(key[1])] = False
            short = int((home & free).sum()) < k
            kind = kind_of[key] = len(masks)
            masks.append(free & ~home if short else home & free)
            outside.append(short)
        kinds[j] = kind
    teams = np.zeros((len(drawn), k), dtype=np.int64)
    rng = np.random.default_rng((seed, period.year, period.start.month if period.kind == "month" else 0))
    loads = np.zeros(n, dtype=np.int64)
    used = np.zeros((n, n), dtype=np.bool_)
    for group in _independent_groups(masks):
        rows = np.flatnonzero(np.isin(kinds, group))
        pool = np.flatnonzero(masks[group[0]])
        if len(group) == 1 and k == 2 and not outside[group[0]] and pool.size >= 2:
            teams[rows] = _round_robin(pool, rows.size, rng)
            continue
        for j in rows.tolist():
            team = _draw_inspectors(masks[kinds[j]], loads, used, rng, k)
            if team is None:
                raise InvalidInput.one(
                    "roster",
                    f"the roster is too small: fewer than {k} inspectors free of a conflict "
                    f"(回避) are left for enterprise {drawn[j][1]}",
                    "执法人员名录库人数不足：回避后可抽取的执法人员少于每次检查所需人数",
                )
            for a in team:
                loads[a] += 1
                used[a, team] = True
                used[a, a] = False
            teams[j] = team
    ids = [p.id for p in people]
    return [
        RandomCheck(date, enterprise_id, level, window, tuple(ids[i] for i in team), outside[kind])
        for (date, enterprise_id, level, window), team, kind in zip(
            drawn, teams.tolist(), kinds.tolist(), strict=True
        )
    ]


def _independent_groups(masks: Sequence[BoolArray]) -> list[list[int]]:
    """The masks' indices grouped so that no two groups share an inspector (connected components of
    'draws from a common inspector'), in the order of each group's first inspector."""
    parent = list(range(len(masks)))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    owner: dict[int, int] = {}
    for m, mask in enumerate(masks):
        for i in np.flatnonzero(mask).tolist():
            other = owner.setdefault(i, m)
            if root(other) != root(m):
                parent[root(other)] = root(m)
    groups: dict[int, list[int]] = {}
    for m in range(len(masks)):
        groups.setdefault(root(m), []).append(m)
    first = {
        r: min((int(np.argmax(masks[m])) for m in g if masks[m].any()), default=-1) for r, g in groups.items()
    }
    return [groups[r] for r in sorted(groups, key=lambda r: (first[r], r))]


def _round_robin(pool: IntArray, m: int, rng: np.random.Generator) -> IntArray:
    """m pairs (m, 2) of the pool's inspectors from round-robin schedules (the circle method): in round r
    of a pool of N (N even; an odd pool gets a 'sits out' member), N-1 meets r and (r+i) mod (N-1) meets
    (r-i) mod (N-1). Each schedule's members, round order, pair order and who is named first are
    shuffled; a new schedule starts once all C(n, 2) pairs have inspected together."""
    n = pool.size
    size = n + n % 2
    r = np.arange(size - 1)[:, None]
    i = np.arange(1, size // 2)[None, :]
    first = np.concatenate([np.full((size - 1, 1), size - 1), (r + i) % (size - 1)], axis=1)
    second = np.concatenate([r, (r - i) % (size - 1)], axis=1)
    rounds = np.stack([first, second], axis=-1)  # (rounds, pairs per round, 2)
    out: list[IntArray] = []
    made = 0
    while made < m:
        member = rng.permutation(n)
        schedule = rounds[rng.permutation(size - 1)]
        shuffle = np.argsort(rng.random(schedule.shape[:2]), axis=1)
        schedule = np.take_along_axis(schedule, shuffle[..., None], axis=1)
        flip = rng.random(schedule.shape[:2]) < 0.5
        schedule = np.where(flip[..., None], schedule[..., ::-1], schedule)
        pairs = schedule.reshape(-1, 2)
        pairs = pairs[(pairs < n).all(axis=1)]  # an odd pool: the one sitting out is not drawn
        out.append(pool[member[pairs]])
        made += len(pairs)
    return np.concatenate(out)[:m]


def _least_loaded(candidates: IntArray, loads: IntArray, rng: np.random.Generator) -> IntArray:
    """The candidates ordered by load, ties in random order."""
    return candidates[np.lexsort((rng.random(candidates.size), loads[candidates]))]


def _complete(
    first: int, mask: BoolArray, loads: IntArray, used: NDArray[np.bool_], rng: np.random.Generator, k: int
) -> list[int] | None:
    """A team of k from `first` and the least-loaded eligible others, no two of whom have inspected
    together yet; None when there is no such team."""
    team = [first]
    free = mask.copy()
    while len(team) < k:
        free &= ~used[team[-1]]
        free[team[-1]] = False
        options = np.flatnonzero(free)
        if options.size == 0:
            return None
        low = loads[options].min()
        best = options[loads[options] == low]
        team.append(int(best[rng.integers(best.size)]))
    return team


def _draw_inspectors(
    mask: BoolArray, loads: IntArray, used: NDArray[np.bool_], rng: np.random.Generator, k: int
) -> list[int] | None:
    """k eligible inspectors, least-loaded first, ties at random; no two of whom have inspected together
    yet when such a team exists (other first picks are tried, least-loaded first), else the k
    least-loaded. None only when fewer than k are eligible."""
    eligible = np.flatnonzero(mask)
    if eligible.size < k:
        return None
    lowest = loads[eligible].min()
    ties = eligible[loads[eligible] == lowest]
    team = _complete(int(ties[rng.integers(ties.size)]), mask, loads, used, rng, k)
    if team is not None:
        return team
    order = _least_loaded(eligible, loads, rng)
    # A first pick with no eligible partner it has not inspected with fails at once in `_complete`
    # (before drawing anything): skip those in one pass instead of trying each (a city's year: 1.5 M
    # tries once most pairs were used). The draw is the same.
    fresh = ~used[np.ix_(order, order)]
    np.fill_diagonal(fresh, False)
    for first in order[fresh.any(axis=1)]:
        team = _complete(int(first), mask, loads, used, rng, k)
        if team is not None:
            return team
    return [int(i) for i in _least_loaded(eligible, loads, rng)[:k]]  # every pair used: one repeats


# --- the enterprises' self-inspection (自查) --------------------------------------------------------------------


@dataclass(frozen=True)
class SelfInspection:
    """An enterprise's self-inspection calendar in a period (seed 003 二(五))."""

    enterprise_id: int
    level: int
    assessed: bool
    frequency: Frequency
    count: int
    schedule_zh: str

    def dates(self, period: Period) -> list[dt.date]:
        return _self_dates(self.frequency, period)


_WEEKDAY_ZH: Final = "一二三四五六日"


def _self_dates(freq: Frequency, period: Period) -> list[dt.date]:
    """Daily: every day. Weekly: every Monday. Half-monthly: the 1st and the 16th. Monthly: the 1st.
    (`every` > 1 takes every n-th of these.)"""
    days = [period.start + dt.timedelta(days=i) for i in range(period.days())]
    if freq.unit == "day":
        picked = days
    elif freq.unit == "week":
        picked = [d for d in days if d.weekday() == 0]
    elif freq.unit == "half_month":
        picked = [d for d in days if d.day in (1, 16)]
    else:
        picked = [d for d in days if d.day == 1]
    step = max(1, round(freq.every))
    return picked[::step]


def _schedule_zh(freq: Frequency) -> str:
    base = {
        "day": "每日",
        "week": f"每周{_WEEKDAY_ZH[0]}",
        "half_month": "每月1日、16日",
        "month": "每月1日",
    }[freq.unit]
    return base if round(freq.every) <= 1 else f"{base}（每 {round(freq.every)} 次取一次）"


def self_inspections(
    enterprises: Sequence[PlanEnterprise],
    period: Period,
    *,
    frequencies: Sequence[Frequency] | None = None,
    unassessed_level: int = 4,
) -> list[SelfInspection]:
    """Each enterprise's self-inspection frequency (红 daily, 橙 weekly, 黄 half-monthly, 蓝 monthly) and the
    number of inspections due in the period; `dates()` lists them."""
    freq = _by_level(frequencies or inspection_frequencies(), "self")
    counts = {lv: len(_self_dates(f, period)) for lv, f in freq.items()}
    out = []
    for e in sorted(enterprises, key=lambda e: e.id):
        level = e.level if e.level is not None else unassessed_level
        f = freq[level]
        out.append(SelfInspection(e.id, level, e.level is not None, f, counts[level], _schedule_zh(f)))
    return out


# --- key targets (重点县区、重点乡镇、重点企业, seed 003 三(三)) ---------------------------------------------------

OVERDUE_FACTOR: Final = 0.5
KEY_TARGET_SCORE: Final = (
    "Risk score S = Σ over risk units of w_L × (1 + 0.5 × overdue), with w = {1: 100, 2: 30, 3: 10, 4: 1} "
    "(the weights of the four-colour map's weighted index) and overdue = 1 when the unit's re-assessment is "
    "past due (seed 000 (一)). An enterprise's score sums its own units; a zone's sums the units of the "
    "enterprises in it and its public-area units. Ties: higher level, then more units, then code or id."
)


def risk_scores(
    counts: IntArray,
    overdue: IntArray,
    *,
    weights: Mapping[int, float] = DEFAULT_WEIGHTS,
    overdue_factor: float = OVERDUE_FACTOR,
) -> FloatArray:
    """S per row from units by level (n, 4) and overdue units by level (n, 4): see KEY_TARGET_SCORE."""
    w = np.array([weights[lv] for lv in LEVELS], dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64).reshape(-1, 4)
    o = np.asarray(overdue, dtype=np.float64).reshape(-1, 4)
    return np.asarray(c @ w + overdue_factor * (o @ w), dtype=np.float64)


@dataclass(frozen=True)
class Ranked:
    """A zone or an enterprise with its score and rank (1 = most at risk)."""

    rank: int
    code: str
    name: str
    score: float
    level: int | None
    counts: dict[str, int]
    overdue: int
    key: bool  # among the top N picked as key targets


@dataclass(frozen=True)
class KeyTargets:
    zones: list[Ranked]
    enterprises: list[Ranked]


def _rank(
    codes: Sequence[str], names: Sequence[str], counts: IntArray, overdue: IntArray, top: int
) -> list[Ranked]:
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, 4)
    overdue = np.asarray(overdue, dtype=np.int64).reshape(-1, 4)
    scores = risk_scores(counts, overdue)
    present = counts > 0
    levels = np.where(present.any(axis=1), np.argmax(present, axis=1) + 1, 5)
    order = sorted(range(len(codes)), key=lambda i: (-scores[i], levels[i], -counts[i].sum(), str(codes[i])))
    out = []
    for rank, i in enumerate(order, start=1):
        out.append(
            Ranked(
                rank=rank,
                code=str(codes[i]),
                name=str(names[i]),
                score=round(float(scores[i]), 3),
                level=int(levels[i]) if levels[i] <= 4 else None,
                counts={str(lv): int(counts[i, lv - 1]) for lv in LEVELS},
                overdue=int(overdue[i].sum()),
                key=bool(rank <= top and scores[i] > 0),
            )
        )
    return out


def key_targets(
    *,
    zone_codes: Sequence[str],
    zone_names: Sequence[str],
    enterprise_ids: Sequence[int],
    enterprise_names: Sequence[str],
    enterprise_zones: Sequence[str | None],
    enterprise_counts: IntArray,
    enterprise_overdue: IntArray,
    public_zones: Sequence[str | None] = (),
    public_counts: IntArray | None = None,
    public_overdue: IntArray | None = None,
    top_zones: int = 3,
    top_enterprises: int = 5,
) -> KeyTargets:
    """Zones and enterprises ranked by the risk score (KEY_TARGET_SCORE); the top ones flagged as key
    targets: 2–3 key townships and 5 key enterprises for a county, 2–3 key counties and 10 key enterprises
    for a city (seed 003 三(三)). A zone or enterprise with score 0 is never a key target."""
    index = {str(c): i for i, c in enumerate(zone_codes)}
    zc = np.zeros((len(zone_codes), 4), dtype=np.int64)
    zo = np.zeros((len(zone_codes), 4), dtype=np.int64)
    ec = np.asarray(enterprise_counts, dtype=np.int64).reshape(-1, 4)
    eo = np.asarray(enterprise_overdue, dtype=np.int64).reshape(-1, 4)
    for z, c, o in zip(enterprise_zones, ec, eo, strict=True):
        if z is not None and str(z) in index:
            zc[index[str(z)]] += c
            zo[index[str(z)]] += o
    if public_counts is not None and public_overdue is not None:
        pc = np.asarray(public_counts, dtype=np.int64).reshape(-1, 4)
        po = np.asarray(public_overdue, dtype=np.int64).reshape(-1, 4)
        for z, c, o in zip(public_zones, pc, po, strict=True):
            if z is not None and str(z) in index:
                zc[index[str(z)]] += c
                zo[index[str(z)]] += o
    zones = _rank([str(c) for c in zone_codes], list(zone_names), zc, zo, top_zones)
    ents = _rank([str(i) for i in enterprise_ids], list(enterprise_names), ec, eo, top_enterprises)
    return KeyTargets(zones, ents)
