"""geo.joint_prevention (no database): trade similarity, single linkage, cross-inspection, 异地 teams,
双随机 and self-inspection plans, key targets; the plans' constraints as property tests over many seeds."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.closeout import calendar as closeout_calendar
from geo.errors import InvalidInput
from geo.four_colour import four_colour_options
from geo.joint_prevention import (
    KEY_TARGET_SCORE,
    MAX_DISTANCE_M,
    PlanEnterprise,
    SimilarityRule,
    Team,
    Trade,
    assign_teams,
    check_distance,
    components,
    enterprise_levels,
    inspection_frequencies,
    key_targets,
    parse_period,
    partition,
    peer_checks,
    random_checks,
    reference_clusters,
    risk_scores,
    self_inspections,
    similarity_rules,
    synthetic_roster,
    trade_links,
)
from geo.vocab import sectors

FUEL = Trade("hazardous_chemicals", "加油站")
PLANT = Trade("hazardous_chemicals", "危化品生产")
LPG = Trade("urban_gas", "瓶装液化气供应站")
PIPED = Trade("urban_gas", "管道燃气经营")
FURNITURE = Trade("industry_trade", "家具制造")
WOOD_DUST = Trade("dust_explosion", "粉尘涉爆-木材加工")
GRAIN_DUST = Trade("dust_explosion", "粉尘涉爆-粮食加工")
TOURISM = Trade("tourism", "景区经营")


# --- reference tables ----------------------------------------------------------------------------------------


def test_similarity_table_rows_are_sourced_and_use_known_sectors() -> None:
    rules = similarity_rules()
    assert len(rules) >= 10
    known = sectors()
    for rule in rules:
        assert rule.source.strip()
        assert rule.rationale.strip()
        for kind, value in ((rule.kind_a, rule.value_a), (rule.kind_b, rule.value_b)):
            assert kind in ("sector", "business_type")
            if kind == "sector":
                assert value in known
    # The example: production, storage and fuel stations are alike.
    links = trade_links([PLANT, FUEL, Trade("hazardous_chemicals", "危化品储存")], rules)
    assert links.similar.all()


def test_frequency_table_follows_seed_003() -> None:
    freq = {(f.plan, f.level): f for f in inspection_frequencies()}
    assert [freq["regulator", lv].per_year() for lv in (1, 2, 3, 4)] == [12, 6, 4, 1]
    assert [freq["self", lv].unit for lv in (1, 2, 3, 4)] == ["day", "week", "half_month", "month"]
    assert all("seed 003" in f.source for f in freq.values())


# --- trade similarity -----------------------------------------------------------------------------------------


def test_same_sector_is_similar_and_the_table_widens_it() -> None:
    rules = similarity_rules()
    plain = trade_links([FUEL, PLANT, LPG, PIPED, FURNITURE, TOURISM], rules, widen=False)
    idx = plain.index()
    assert plain.similar[idx[FUEL], idx[PLANT]]
    assert not plain.similar[idx[FUEL], idx[LPG]]
    assert plain.transitive
    assert plain.rules_used == ()
    wide = trade_links([FUEL, PLANT, LPG, PIPED, FURNITURE, TOURISM], rules)
    assert wide.similar[idx[FUEL], idx[LPG]]  # 加油站 ~ 瓶装液化气供应站
    assert not wide.similar[idx[PLANT], idx[PIPED]]
    assert not wide.similar[idx[TOURISM]].sum() > 1
    # PLANT ~ FUEL ~ LPG ~ PIPED but PLANT !~ PIPED: not transitive, DBSCAN per group would over-link.
    assert not wide.transitive
    assert (idx[FUEL], idx[LPG]) in wide.cross_pairs or (idx[LPG], idx[FUEL]) in wide.cross_pairs


def _cover_ok(links: object) -> None:
    from geo.joint_prevention import TradeLinks

    assert isinstance(links, TradeLinks)
    n = len(links.trades)
    covered = np.zeros((n, n), dtype=bool)
    for clique in links.cliques:
        sub = links.similar[np.ix_(clique, clique)]
        assert sub.all(), f"clique {clique} has a dissimilar pair"
        covered[np.ix_(clique, clique)] = True
    assert (covered | ~links.similar).all(), "a similar pair is in no clique"


ALL_TRADES = [
    Trade(s, b)
    for s, bts in {
        "hazardous_chemicals": ["加油站", "加气站", "危化品生产", "危化品储存"],
        "urban_gas": ["瓶装液化气供应站", "管道燃气经营"],
        "special_equipment": ["压力容器充装", "电梯维保"],
        "fireworks": ["烟花爆竹生产", "烟花爆竹零售"],
        "civil_explosives": ["爆破作业"],
        "industry_trade": ["家具制造", "食品加工", "纺织服装"],
        "dust_explosion": ["粉尘涉爆-木材加工", "粉尘涉爆-粮食加工"],
        "ammonia_refrigeration": ["冷库（涉氨制冷）"],
        "road_transport": ["危险货物道路运输"],
        "tourism": ["景区经营"],
    }.items()
    for b in bts
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(ALL_TRADES), min_size=1, max_size=len(ALL_TRADES), unique=True), st.booleans()
)
def test_clique_cover_covers_every_similar_pair_with_similar_sets(trades: list[Trade], widen: bool) -> None:
    _cover_ok(trade_links(trades, similarity_rules(), widen=widen))


def test_a_rule_whose_sides_are_not_pairwise_similar_is_split_into_pairs() -> None:
    rule = SimilarityRule("business_type", "家具制造", "business_type", "加油站", "test", "test")
    links = trade_links([FURNITURE, Trade("other", "家具制造"), FUEL], [rule])
    _cover_ok(links)


# --- single linkage (reference) ---------------------------------------------------------------------------------


def test_chain_is_one_cluster_and_unrelated_trades_do_not_link() -> None:
    links = trade_links([PLANT, TOURISM], similarity_rules())
    idx = links.index()
    # A–B–C on a line: A and C 900 m apart, each 450 m from B; D 450 m from C in an unrelated sector.
    xy = np.array([[0.0, 0.0], [450.0, 0.0], [900.0, 0.0], [1350.0, 0.0]])
    trades = np.array([idx[PLANT], idx[PLANT], idx[PLANT], idx[TOURISM]])
    labels = reference_clusters(xy, trades, links, 500.0)
    assert partition([1, 2, 3, 4], labels) == [(1, 2, 3)]
    assert partition([1, 2, 3, 4], reference_clusters(xy, trades, links, 400.0)) == []


def test_components_and_partition() -> None:
    labels = components(5, np.array([0, 3]), np.array([1, 4]))
    assert partition([10, 11, 12, 13, 14], labels) == [(10, 11), (13, 14)]
    assert partition([10, 11, 12, 13, 14], labels, min_size=1) == [(10, 11), (12,), (13, 14)]


@pytest.mark.parametrize("bad", [0, -1, 10_000.001, float("nan"), float("inf")])
def test_distance_out_of_range_is_refused(bad: float) -> None:
    with pytest.raises(InvalidInput) as err:
        check_distance(bad)
    assert err.value.problems[0].field == "distance_m"


def test_distance_bounds_are_inclusive_above() -> None:
    assert check_distance(MAX_DISTANCE_M) == MAX_DISTANCE_M
    assert check_distance(0.5) == 0.5


# --- levels ------------------------------------------------------------------------------------------------------


def test_enterprise_level_is_the_highest_of_its_units_by_default() -> None:
    counts = np.array([[0, 2, 5, 0], [0, 0, 0, 1], [0, 0, 0, 0], [1, 0, 0, 9]])
    assert enterprise_levels(counts) == [2, 4, None, 1]
    weighted = four_colour_options(rule="weighted")
    assert enterprise_levels(np.array([[0, 0, 0, 5]]), weighted) == [4]
    assert enterprise_levels(np.array([[0, 0, 10, 0]]), weighted) == [1]  # I = 100


# --- cross-inspection ---------------------------------------------------------------------------------------------

clusters_strategy = st.lists(st.integers(min_value=2, max_value=40), min_size=1, max_size=12)


def _clusters(sizes: list[int]) -> dict[int, list[int]]:
    out, next_id = {}, 1
    for size in sizes:
        ids = list(range(next_id, next_id + size))
        out[ids[0]] = ids
        next_id += size + 3
    return out


@settings(max_examples=150, deadline=None)
@given(clusters_strategy, st.integers(min_value=0, max_value=2**63 - 1))
def test_peer_checks_meet_every_constraint(sizes: list[int], seed: int) -> None:
    clusters = _clusters(sizes)
    checks = peer_checks(clusters, seed=seed)
    assert checks == peer_checks(clusters, seed=seed)  # one seed, one plan
    for key, members in clusters.items():
        mine = [(c.inspector_id, c.inspected_id) for c in checks if c.cluster_key == key]
        assert all(a != b for a, b in mine)  # never itself
        assert all(a in members and b in members for a, b in mine)
        assert sorted(a for a, _ in mine) == members  # each inspects exactly one
        assert sorted(b for _, b in mine) == members  # and is inspected by exactly one
        if len(members) >= 3:
            assert not any((b, a) in mine for a, b in mine)  # no mutual pairs


def test_peer_checks_depend_on_the_seed_and_on_nothing_else() -> None:
    clusters = _clusters([12, 7])
    plans = {
        tuple((c.inspector_id, c.inspected_id) for c in peer_checks(clusters, seed=s)) for s in range(20)
    }
    assert len(plans) > 15
    # A cluster's plan does not change when another cluster is added.
    one = list(peer_checks({1: clusters[1]}, seed=5))
    both = [c for c in peer_checks(clusters, seed=5) if c.cluster_key == 1]
    assert one == both
    with pytest.raises(InvalidInput):
        peer_checks(clusters, seed=-1)


def _teams(places: list[str], per_place: int = 2) -> list[Team]:
    return [
        Team(f"{p}-T{k}", f"{p} 组 {k}", p, p, (f"{p}-I{k}",), synthetic=True)
        for p in places
        for k in range(per_place)
    ]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from(["A", "B", "C", "D", "E"]), min_size=1, max_size=3, unique=True).flatmap(
        lambda _: st.lists(
            st.lists(st.sampled_from(["A", "B", "C", "D", "E"]), min_size=1, max_size=2, unique=True),
            min_size=1,
            max_size=40,
        )
    ),
    st.integers(min_value=0, max_value=10_000),
)
def test_teams_never_inspect_their_own_jurisdiction_and_share_the_load(
    homes: list[list[str]], seed: int
) -> None:
    regions = {k: frozenset([*h, "CITY"]) for k, h in enumerate(homes, start=1)}
    teams = _teams(["A", "B", "C", "D", "E"])
    plan = assign_teams(regions, teams, seed=seed)
    assert plan == assign_teams(regions, teams, seed=seed)
    place = {t.id: t.jurisdiction_adcode for t in teams}
    assert plan.unassignable == ()
    for key, team in plan.team_by_cluster.items():
        assert team is not None
        assert place[team] not in regions[key]
    assert sum(plan.loads.values()) == len(regions)
    usable = {t.id for t in teams if any(place[t.id] not in r for r in regions.values())}
    if plan.balanced:
        loads = [plan.loads[t] for t in usable]
        assert max(loads) - min(loads) <= 1


def test_team_balance_is_exact_when_nothing_forbids_it() -> None:
    regions = {k: frozenset({"X"}) for k in range(1, 24)}
    plan = assign_teams(regions, _teams(["A", "B", "C"], per_place=2), seed=3)
    assert plan.balanced
    assert sorted(plan.loads.values()) == [3, 4, 4, 4, 4, 4]


def test_a_team_of_the_only_jurisdiction_leaves_the_cluster_unassigned() -> None:
    plan = assign_teams({1: frozenset({"A"})}, _teams(["A"]), seed=0)
    assert plan.team_by_cluster == {1: None}
    assert plan.unassignable == (1,)


def test_synthetic_roster_is_marked_and_complete() -> None:
    inspectors, teams = synthetic_roster(
        [("350505", "泉港区"), ("350521", "惠安县")], inspectors_per_jurisdiction=5, teams_per_jurisdiction=2
    )
    assert len(inspectors) == 10
    assert len(teams) == 4
    assert all(p.synthetic for p in inspectors)
    assert all(t.synthetic for t in teams)
    assert len({p.id for p in inspectors}) == 10
    assert sorted(i for t in teams for i in t.inspector_ids) == sorted(p.id for p in inspectors)
    assert teams[0].name.startswith("泉港区应急管理局执法")


# --- periods ---------------------------------------------------------------------------------------------------


def test_periods() -> None:
    month = parse_period("2026-12")
    assert (month.kind, month.start, month.end) == ("month", dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    year = parse_period("2026")
    assert (year.kind, year.days()) == ("year", 365)
    assert parse_period("2028-02").end == dt.date(2028, 2, 29)


@pytest.mark.parametrize(
    "bad", ["2026-13", "2026-00", "26-12", "2026/12", "2026-1", "", "1999", "2026-12-01", "abcd"]
)
def test_malformed_periods_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_period(bad)
    assert err.value.problems[0].field == "period"


# --- the 双随机 plan ---------------------------------------------------------------------------------------------

PLACES = ["C1", "C2", "C3", "C4"]


def _enterprises(n: int, rng: np.random.Generator, *, unassessed: float = 0.1) -> list[PlanEnterprise]:
    out = []
    for i in range(n):
        level = None if rng.random() < unassessed else int(rng.integers(1, 5))
        home = PLACES[int(rng.integers(len(PLACES)))]
        out.append(PlanEnterprise(1000 + 3 * i, level, frozenset({home, "CITY", "PROVINCE"})))
    return out


def _assert_plan_ok(checks: list, enterprises: list[PlanEnterprise], roster: list, period: object) -> None:
    home = {p.id: p.jurisdiction_adcode for p in roster}
    regions = {e.id: e.regions for e in enterprises}
    pool = Counter(p.jurisdiction_adcode for p in roster)
    cal = closeout_calendar()
    pairs: Counter[frozenset[str]] = Counter()
    for c in checks:
        assert period.start <= c.date <= period.end  # type: ignore[attr-defined]
        assert cal.is_working_day(c.date), c.date  # never on a weekend or a holiday
        assert len(set(c.inspector_ids)) == len(c.inspector_ids) == 2
        assert not c.from_outside
        assert all(home[i] in regions[c.enterprise_id] for i in c.inspector_ids)  # the home department
        pairs[frozenset(c.inspector_ids)] += 1
    # A pair repeats only once every pair of its pool has been used.
    for place, size in pool.items():
        mine = {pair: n for pair, n in pairs.items() if home[next(iter(pair))] == place}
        if any(n > 1 for n in mine.values()):
            assert len(mine) == size * (size - 1) // 2


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=5, max_value=60))
def test_a_year_of_random_checks_follows_the_levels_and_the_rules(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    enterprises = _enterprises(n, rng)
    roster, _ = synthetic_roster([(p, p) for p in PLACES], inspectors_per_jurisdiction=12, seed=seed)
    year = parse_period("2026")
    checks = random_checks(enterprises, roster, year, seed=seed)
    assert checks == random_checks(enterprises, roster, year, seed=seed)
    _assert_plan_ok(checks, enterprises, roster, year)
    per_enterprise = Counter(c.enterprise_id for c in checks)
    expected = {1: 12, 2: 6, 3: 4, 4: 1}
    for e in enterprises:
        assert per_enterprise[e.id] == expected[e.level or 4]
        # One check in each window of the level's frequency (calendar-aligned).
        every = 12 // expected[e.level or 4]
        months = sorted(c.date.month for c in checks if c.enterprise_id == e.id)
        assert [(m - 1) // every for m in months] == list(range(expected[e.level or 4]))
    # Loads are even within each home department: least-loaded inspectors are drawn first.
    loads = Counter(i for c in checks for i in c.inspector_ids)
    for place in PLACES:
        staff = [p.id for p in roster if p.jurisdiction_adcode == place]
        if any(loads.get(i, 0) for i in staff):
            assert max(loads.get(i, 0) for i in staff) - min(loads.get(i, 0) for i in staff) <= 2


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=12))
def test_a_month_plan_is_the_year_draw_cut_to_that_month(seed: int, month: int) -> None:
    enterprises = _enterprises(40, np.random.default_rng(seed))
    roster, _ = synthetic_roster([(p, p) for p in PLACES], inspectors_per_jurisdiction=10, seed=seed)
    period = parse_period(f"2026-{month:02d}")
    checks = random_checks(enterprises, roster, period, seed=seed)
    _assert_plan_ok(checks, enterprises, roster, period)
    year = random_checks(enterprises, roster, parse_period("2026"), seed=seed)
    in_month = sorted((c.date, c.enterprise_id) for c in year if c.date.month == month)
    assert sorted((c.date, c.enterprise_id) for c in checks) == in_month
    level_one = [e.id for e in enterprises if e.level == 1]
    assert sorted(c.enterprise_id for c in checks if c.level == 1) == sorted(level_one)


@pytest.mark.parametrize("size", [2, 3, 7, 8])
def test_a_department_without_conflicts_is_drawn_round_robin(size: int) -> None:
    # 50 重大 enterprises: 600 checks in a year for a pool of `size`; in the order they are drawn (by date)
    # every block of C(size, 2) checks uses each pair once, and loads never drift apart.
    enterprises = [PlanEnterprise(i, 1, frozenset({"C1", "CITY"})) for i in range(1, 51)]
    roster, _ = synthetic_roster([("C1", "C1")], inspectors_per_jurisdiction=size, seed=5)
    checks = random_checks(enterprises, roster, parse_period("2026"), seed=5)
    assert len(checks) == 600
    assert [(c.date, c.enterprise_id) for c in checks] == sorted((c.date, c.enterprise_id) for c in checks)
    pairs = [frozenset(c.inspector_ids) for c in checks]
    cycle = size * (size - 1) // 2
    for start in range(0, len(pairs) - cycle + 1, cycle):
        assert len(set(pairs[start : start + cycle])) == cycle
    loads = Counter({p.id: 0 for p in roster})
    for c in checks:
        loads.update(c.inspector_ids)
        assert max(loads.values()) - min(loads.values()) <= (1 if size % 2 == 0 else 2)
    assert checks == random_checks(enterprises, roster, parse_period("2026"), seed=5)
    assert checks != random_checks(enterprises, roster, parse_period("2026"), seed=6)


def test_departments_with_and_without_conflicts_in_one_plan() -> None:
    # C1 has a conflict (drawn check by check), C2 has none (round robin); both keep the rules.
    enterprises = [PlanEnterprise(i, 1, frozenset({f"C{1 + i % 2}", "CITY"})) for i in range(1, 41)]
    roster, _ = synthetic_roster([("C1", "C1"), ("C2", "C2")], inspectors_per_jurisdiction=6, seed=1)
    c1 = [p for p in roster if p.jurisdiction_adcode == "C1"]
    roster = [replace(p, avoid=frozenset({2, 4})) if p.id == c1[0].id else p for p in roster]
    year = parse_period("2026")
    checks = random_checks(enterprises, roster, year, seed=1)
    _assert_plan_ok(checks, enterprises, roster, year)
    assert not any(c1[0].id in c.inspector_ids for c in checks if c.enterprise_id in (2, 4))
    assert any(c1[0].id in c.inspector_ids for c in checks)
    loads = Counter(i for c in checks for i in c.inspector_ids)
    for place in ("C1", "C2"):
        staff = [loads[p.id] for p in roster if p.jurisdiction_adcode == place]
        assert max(staff) - min(staff) <= 2


def test_random_checks_differ_between_seeds() -> None:
    enterprises = _enterprises(30, np.random.default_rng(1))
    roster, _ = synthetic_roster([(p, p) for p in PLACES], inspectors_per_jurisdiction=10)
    period = parse_period("2026-06")
    plans = {tuple(random_checks(enterprises, roster, period, seed=s)) for s in range(5)}
    assert len(plans) == 5


def test_a_roster_too_small_is_reported_on_the_roster_field() -> None:
    enterprises = [PlanEnterprise(i, 1, frozenset({"C1"})) for i in range(1, 30)]
    roster, _ = synthetic_roster([("C1", "C1")], inspectors_per_jurisdiction=1)
    with pytest.raises(InvalidInput) as err:
        random_checks(enterprises, roster, parse_period("2026-01"), seed=0)
    assert err.value.problems[0].field == "roster"


def test_conflicts_are_avoided_and_a_short_home_pool_borrows_from_outside() -> None:
    enterprises = [PlanEnterprise(i, 1, frozenset({"C1", "CITY"})) for i in range(1, 11)]
    roster, _ = synthetic_roster([("C1", "C1"), ("C2", "C2")], inspectors_per_jurisdiction=4)
    c1 = [p for p in roster if p.jurisdiction_adcode == "C1"]
    # the first C1 inspector's relative runs enterprise 1 and he used to work at 2; two others avoid 2 too
    roster = [replace(p, avoid=frozenset({1, 2})) if p.id == c1[0].id else p for p in roster]
    roster = [replace(p, avoid=frozenset({2})) if p.id in (c1[1].id, c1[2].id) else p for p in roster]
    checks = random_checks(enterprises, roster, parse_period("2026-03"), seed=7)
    by = {c.enterprise_id: c for c in checks}
    assert c1[0].id not in by[1].inspector_ids
    assert not by[1].from_outside
    assert by[2].from_outside  # only one C1 inspector is free for it: the team comes from C2
    assert all(i.startswith("C2") for i in by[2].inspector_ids)
    assert all(not c.from_outside for c in checks if c.enterprise_id != 2)


def test_checks_fall_on_working_days_across_national_day() -> None:
    enterprises = [PlanEnterprise(i, 1, frozenset({"C1"})) for i in range(1, 200)]
    roster, _ = synthetic_roster([("C1", "C1")], inspectors_per_jurisdiction=30)
    checks = random_checks(enterprises, roster, parse_period("2026-10"), seed=3)
    assert len(checks) == 199
    days = {c.date for c in checks}
    assert not days & {dt.date(2026, 10, d) for d in range(1, 8)}  # 国庆
    assert dt.date(2026, 10, 10) in days or all(d.weekday() < 5 for d in days)  # the make-up Saturday counts


# --- self-inspection -------------------------------------------------------------------------------------------


def test_self_inspection_calendar() -> None:
    enterprises = [PlanEnterprise(i, lv, frozenset()) for i, lv in enumerate([1, 2, 3, 4, None], start=1)]
    month = parse_period("2026-12")
    by_level = {s.enterprise_id: s for s in self_inspections(enterprises, month)}
    mondays = sum(1 for d in range(1, 32) if calendar.weekday(2026, 12, d) == 0)
    assert [by_level[i].count for i in range(1, 6)] == [31, mondays, 2, 1, 1]
    assert by_level[3].dates(month) == [dt.date(2026, 12, 1), dt.date(2026, 12, 16)]
    assert all(d.weekday() == 0 for d in by_level[2].dates(month))
    assert not by_level[5].assessed
    assert by_level[5].level == 4
    year = {s.enterprise_id: s.count for s in self_inspections(enterprises, parse_period("2026"))}
    assert year[1] == 365
    assert year[3] == 24
    assert year[4] == 12
    assert year[2] in (52, 53)


# --- key targets ----------------------------------------------------------------------------------------------


def test_risk_score_is_the_documented_formula() -> None:
    counts = np.array([[1, 2, 3, 4]])
    overdue = np.array([[1, 0, 0, 2]])
    assert risk_scores(counts, overdue)[0] == 100 + 60 + 30 + 4 + 0.5 * (100 + 2)
    assert "100" in KEY_TARGET_SCORE
    assert "overdue" in KEY_TARGET_SCORE


def test_key_targets_pick_the_top_zones_and_enterprises() -> None:
    ids = list(range(1, 9))
    counts = np.array([[1, 0, 0, 0], [0, 3, 0, 0], [0, 0, 9, 0], [0, 0, 0, 1],
                       [2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]])  # fmt: skip
    overdue = np.zeros((8, 4), dtype=np.int64)
    overdue[3, 3] = 1
    zones = ["Z1", "Z1", "Z2", "Z3", "Z2", None, "Z4", "Z4"]
    ranked = key_targets(
        zone_codes=["Z1", "Z2", "Z3", "Z4"],
        zone_names=["一镇", "二镇", "三镇", "四镇"],
        enterprise_ids=ids,
        enterprise_names=[f"企业{i}" for i in ids],
        enterprise_zones=zones,
        enterprise_counts=counts,
        enterprise_overdue=overdue,
        public_zones=["Z3"],
        public_counts=np.array([[0, 1, 0, 0]]),
        public_overdue=np.array([[0, 1, 0, 0]]),
        top_zones=2,
        top_enterprises=3,
    )
    assert [z.code for z in ranked.zones] == ["Z2", "Z1", "Z3", "Z4"]
    assert [z.score for z in ranked.zones] == [290.0, 190.0, 46.5, 10.0]
    assert [z.code for z in ranked.zones if z.key] == ["Z2", "Z1"]
    assert [e.code for e in ranked.enterprises if e.key] == ["5", "1", "2"]
    assert ranked.enterprises[-1].code == "7"
    assert ranked.enterprises[-1].score == 0
    assert not ranked.enterprises[-1].key


def test_a_zero_score_is_never_a_key_target() -> None:
    ranked = key_targets(
        zone_codes=["Z1"],
        zone_names=["一镇"],
        enterprise_ids=[1],
        enterprise_names=["企业"],
        enterprise_zones=["Z1"],
        enterprise_counts=np.zeros((1, 4), dtype=np.int64),
        enterprise_overdue=np.zeros((1, 4), dtype=np.int64),
    )
    assert not ranked.zones[0].key
    assert not ranked.enterprises[0].key
