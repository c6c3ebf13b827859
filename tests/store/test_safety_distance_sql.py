"""Safety distances in PostGIS (geo.store.safety_distance): metric distances at 22°N, 25°N and 35°N, both
directions of seed 000 (四) across a county border, the GiST index in the plans, and the same answers
as the GeoPandas reference on a random register."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point, Polygon, box
from sqlalchemy import Connection, Engine, text

from geo import safety_distance as sd
from geo.access import SYSTEM
from geo.errors import InvalidInput, NotFound
from geo.store import safety_distance as store

GEOD = Geod(ellps="GRS80")
QUANGANG = (118.88, 25.11)  # 泉港区 350505
# Synthetic counties at 22°N and 35°N (the demo's real ones are near 25°N and 33–35°N).
TEST_COUNTIES = {"T22": (113.55, 22.0), "T35": (117.55, 35.0)}


def at(origin: tuple[float, float], distance_m: float, azimuth: float) -> Point:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, distance_m)
    return Point(lon, lat)


def square(centre: Point, half_m: float) -> Polygon:
    o = (centre.x, centre.y)
    return box(at(o, half_m, 270).x, at(o, half_m, 180).y, at(o, half_m, 90).x, at(o, half_m, 0).y)


def add_hazard(
    conn: Connection,
    geom: Any,
    kind: str | None,
    *,
    adcode: str = "350505",
    capacity: float | None = None,
    name: str = "罐区",
    level: int = 1,
) -> int:
    return int(
        conn.execute(
            text(
                "INSERT INTO risk_units (kind, name, sector, geom, level, assessment_method, hazard_kind, capacity_m3, "
                "jurisdiction_adcode) VALUES ('public_area', :n, 'urban_gas', ST_GeomFromWKB(:w, 4490), :lv, "
                "'direct', :k, :c, :a) RETURNING id"
            ),
            {"n": name, "w": shapely.to_wkb(geom), "k": kind, "c": capacity, "a": adcode, "lv": level},
        ).scalar_one()
    )


def add_target(
    conn: Connection,
    geom: Any,
    ttype: str,
    gb_class: str,
    *,
    adcode: str = "350505",
    population: int | None = None,
    households: int | None = None,
    name: str = "目标",
) -> int:
    return int(
        conn.execute(
            text(
                "INSERT INTO protection_targets (name, type, gb_class, population, households, geom, jurisdiction_adcode) "
                "VALUES (:n, :t, :g, :p, :h, ST_GeomFromWKB(:w, 4490), :a) RETURNING id"
            ),
            {
                "n": name,
                "t": ttype,
                "g": gb_class,
                "p": population,
                "h": households,
                "w": shapely.to_wkb(geom),
                "a": adcode,
            },
        ).scalar_one()
    )


@pytest.fixture
def db(engine: Engine, boundaries: None, clean: None) -> Iterator[Connection]:
    """A connection on emptied register tables, with two synthetic counties at 22°N and 35°N."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_contours RESTART IDENTITY"))
        for code, (lon, lat) in TEST_COUNTIES.items():
            conn.execute(
                text(
                    "INSERT INTO jurisdictions (adcode, name, level, geom, synthetic) VALUES "
                    "(:c, :n, 'county', ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)), true)"
                ),
                {
                    "c": code,
                    "n": f"测试县{code}",
                    "x0": lon - 0.2,
                    "y0": lat - 0.2,
                    "x1": lon + 0.2,
                    "y1": lat + 0.2,
                },
            )
    with engine.begin() as conn:
        yield conn


# --- distances -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adcode", "origin"), [("T22", TEST_COUNTIES["T22"]), ("350505", QUANGANG), ("T35", TEST_COUNTIES["T35"])]
)
def test_distances_agree_with_geodesic_at_three_latitudes(
    db: Connection, adcode: str, origin: tuple[float, float]
) -> None:
    hazard = Point(origin)
    add_hazard(db, hazard, "liquefied_hydrocarbon_tanks", adcode=adcode)
    truth = {}
    for d in (20, 75, 130, 149):
        for az in (0, 60, 135, 270):
            p = at(origin, d, az)
            truth[add_target(db, p, "village", "general_1", adcode=adcode, population=120)] = float(
                GEOD.inv(origin[0], origin[1], p.x, p.y)[2]
            )
    add_target(db, at(origin, 151, 45), "village", "general_1", adcode=adcode, population=120)  # just outside
    found = store.violations_sql(db, SYSTEM, adcode).violations
    assert set(found["target_id"]) == set(truth)
    for row in found.itertuples():
        assert row.distance_m == pytest.approx(truth[row.target_id], rel=0.005)
        assert row.distance_m == pytest.approx(truth[row.target_id], rel=5e-4)
        assert row.required_m == 150
        assert row.people == 120
        assert row.side == "both"
        assert isinstance(row.line, shapely.LineString)
        assert row.line.length > 0 or row.distance_m == 0


def test_web_mercator_would_pass_the_sql_does_not(db: Connection) -> None:
    add_hazard(db, Point(QUANGANG), "liquefied_hydrocarbon_tanks")
    target = at(QUANGANG, 140, 0)
    add_target(db, target, "village", "general_1", population=300)
    mercator = db.execute(
        text(
            "SELECT ST_Distance(ST_Transform(ST_SetSRID(ST_Point(:x0, :y0), 4490), 3857), "
            "ST_Transform(ST_SetSRID(ST_Point(:x1, :y1), 4490), 3857))"
        ),
        {"x0": QUANGANG[0], "y0": QUANGANG[1], "x1": target.x, "y1": target.y},
    ).scalar_one()
    assert mercator > 150
    (row,) = store.violations_sql(db, SYSTEM, "350505").violations.itertuples()
    assert row.distance_m == pytest.approx(140, rel=0.005)


def test_polygons_are_measured_edge_to_edge(db: Connection) -> None:
    origin = TEST_COUNTIES["T35"]
    add_hazard(db, square(Point(origin), 50), "process_unit_a_b", adcode="T35")
    estate = square(at(origin, 50 + 60 + 50, 90), 50)  # 60 m edge to edge, 160 m between centres
    add_target(db, estate, "residential", "general_1", adcode="T35", households=300)
    (row,) = store.violations_sql(db, SYSTEM, "T35").violations.itertuples()
    assert row.distance_m == pytest.approx(60, rel=0.005)
    assert row.required_m == 100
    assert row.people == round(300 * 2.62)
    assert row.population_estimated


# --- both directions, unchecked, contours ------------------------------------------------------------------------


def _border_pair(db: Connection) -> tuple[Point, Point]:
    """A point in 泉港区 and one in 惠安县, 100 m apart across their shared border."""
    wkb = db.execute(
        text(
            "SELECT ST_AsBinary(ST_PointOnSurface(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom)))) "
            "FROM jurisdictions a, jurisdictions b WHERE a.adcode = '350505' AND b.adcode = '350521'"
        )
    ).scalar_one()
    b = shapely.from_wkb(bytes(wkb))
    covers = text(
        "SELECT ST_Covers(geom, ST_SetSRID(ST_Point(:x, :y), 4490)) FROM jurisdictions WHERE adcode = :a"
    )
    for az in range(0, 360, 15):
        here, there = at((b.x, b.y), 50, az), at((b.x, b.y), 50, az + 180)
        if (
            db.execute(covers, {"x": here.x, "y": here.y, "a": "350505"}).scalar()
            and db.execute(covers, {"x": there.x, "y": there.y, "a": "350521"}).scalar()
        ):
            return here, there
    raise AssertionError("no crossing found")


def test_both_directions_across_a_county_border(db: Connection) -> None:
    here, there = _border_pair(db)
    h = add_hazard(db, here, "liquefied_hydrocarbon_tanks", adcode="350505", name="球罐区")
    t = add_target(db, there, "school", "high_sensitive", adcode="350521", population=900, name="惠安某小学")
    quangang = store.violations_sql(db, SYSTEM, "350505").violations
    huian = store.violations_sql(db, SYSTEM, "350521").violations
    city = store.violations_sql(db, SYSTEM, "350500").violations
    for frame, side in ((quangang, "hazard"), (huian, "target"), (city, "both")):
        assert list(zip(frame["hazard_id"], frame["target_id"], frame["side"], strict=True)) == [(h, t, side)]
    assert huian.at[0, "distance_m"] == pytest.approx(100, rel=0.01)
    assert "惠安某小学" in huian.at[0, "explanation_zh"]
    assert store.violations_sql(db, SYSTEM, "340303").violations.empty  # 蚌埠: nothing


def test_unchecked_hazards_are_listed(db: Connection) -> None:
    # Level 3: no consultation zone screens them (levels 1, 2 would be screened by it: see below).
    add_hazard(db, Point(QUANGANG), "lpg_supply_base", name="储配站", level=3)
    add_hazard(db, at(QUANGANG, 500, 0), "fireworks_warehouse", name="总仓库", level=3)
    add_hazard(db, at(QUANGANG, 900, 0), "lpg_supply_base", capacity=120, name="小储配站", level=3)
    add_target(db, at(QUANGANG, 10, 90), "school", "high_sensitive", population=50)
    report = store.violations_sql(db, SYSTEM, "350505")
    assert report.violations.empty
    assert report.hazards_checked == 1
    assert sorted(u["name"] for u in report.unchecked) == ["储配站", "总仓库"]


def test_contours_and_their_replacement(db: Connection) -> None:
    h = add_hazard(db, Point(QUANGANG), "liquefied_hydrocarbon_tanks")
    school = add_target(db, at(QUANGANG, 400, 90), "school", "high_sensitive", population=600)
    hamlet = add_target(db, at(QUANGANG, 400, 270), "village", "general_3", households=5)
    stored = store.replace_risk_contours(
        db,
        SYSTEM,
        h,
        [(1e-5, square(Point(QUANGANG), 600), "QRA 2025"), (3e-7, square(Point(QUANGANG), 2000), None)],
    )
    assert [c["individual_risk"] for c in stored] == [3e-7, 1e-5]
    found = store.violations_sql(db, SYSTEM, "350505").violations.set_index("target_id")
    assert list(found.index) == [school]
    assert found.loc[school, "basis"] == ["risk_contour"]
    assert isinstance(found.loc[school, "line"], shapely.LineString)  # drawn although found by the contour
    assert hamlet not in found.index
    with pytest.raises(InvalidInput):
        store.replace_risk_contours(db, SYSTEM, h, [(1e-5, square(Point(QUANGANG), 10), None)] * 2)
    with pytest.raises(NotFound):
        store.replace_risk_contours(db, SYSTEM, 10**9, [])
    assert store.replace_risk_contours(db, SYSTEM, h, []) == []


# --- the index ---------------------------------------------------------------------------------------------------


def test_the_gist_indexes_are_used(db: Connection) -> None:
    h = add_hazard(db, Point(QUANGANG), "liquefied_hydrocarbon_tanks")
    add_target(db, at(QUANGANG, 50, 0), "village", "general_1", population=200)
    plan = store.explain_violations(db, "350505")
    assert "Index Scan using ix_protection_targets_geom_gist on protection_targets" in plan
    assert "st_expand" in plan
    analysed = store.explain_violations(db, "350505", analyze=True)
    assert "ix_protection_targets_geom_gist" in analysed
    assert "Seq Scan on protection_targets" not in analysed
    siting = store.explain_siting(db, at(QUANGANG, 80, 0), 225.0)
    assert "ix_protection_targets_geom_gist" in siting
    assert h


# --- against the GeoPandas reference -----------------------------------------------------------------------------

KINDS = [
    "liquefied_hydrocarbon_tanks",
    "process_unit_a_b",
    "elevated_flare",
    "filling_station",
    "lpg_supply_base",
]
TYPES = [
    ("village", None),
    ("residential", None),
    ("school", "high_sensitive"),
    ("hospital", "high_sensitive"),
    ("office", None),
]


def _random_register(db: Connection, seed: int = 5) -> list[int]:
    rng = np.random.default_rng(seed)
    hazard_ids = []
    for i in range(40):
        centre = at(QUANGANG, float(rng.uniform(0, 1500)), float(rng.uniform(0, 360)))
        geom: Any = square(centre, float(rng.uniform(5, 40))) if rng.random() < 0.5 else centre
        kind: str | None = KINDS[i % len(KINDS)] if i % 10 else None  # no kind: screened by level only
        cap = float(rng.choice([30, 150, 400, 800])) if kind == "lpg_supply_base" else None
        level = (1, 2, 3, 4)[i % 4]
        hazard_ids.append(add_hazard(db, geom, kind, capacity=cap, name=f"危险源{i}", level=level))
    for i in range(400):
        centre = at(QUANGANG, float(rng.uniform(0, 1700)), float(rng.uniform(0, 360)))
        geom = square(centre, float(rng.uniform(10, 60))) if rng.random() < 0.4 else centre
        ttype, fixed = TYPES[i % len(TYPES)]
        hh = int(rng.integers(1, 80)) if ttype in ("village", "residential") else None
        pop = None if hh is not None and rng.random() < 0.7 else int(rng.integers(5, 400))
        cls = fixed or str(sd.derive_gb_class(ttype, pop, hh))
        add_target(db, geom, ttype, cls, population=pop, households=hh, name=f"目标{i}")
    for h in hazard_ids[:4]:
        c = db.execute(text("SELECT ST_AsBinary(geom) FROM risk_units WHERE id = :h"), {"h": h}).scalar_one()
        centre = shapely.from_wkb(bytes(c)).centroid
        store.replace_risk_contours(
            db, SYSTEM, h, [(1e-5, square(centre, 300), None), (3e-6, square(centre, 450), None)]
        )
    return hazard_ids


def test_sql_agrees_with_the_reference(db: Connection) -> None:
    _random_register(db)
    report = store.violations_sql(db, SYSTEM, "350505")
    hazards, targets, contours = store.load_frames(db)
    ref = sd.violations(hazards, targets, contours=contours)
    sql = report.violations
    assert len(sql) > 20
    assert list(zip(sql["hazard_id"], sql["target_id"], strict=True)) == list(
        zip(ref["hazard_id"], ref["target_id"], strict=True)
    )
    np.testing.assert_allclose(sql["distance_m"], ref["distance_m"], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(sql["people"], ref["people"])
    assert sql["basis"].tolist() == ref["basis"].tolist()
    assert sql["explanation_en"].tolist() == ref["explanation_en"].tolist()
    assert {"distance", "consultation_inner", "risk_contour"} <= {b for bs in sql["basis"] for b in bs}
    # Every screened pair (what the map colours): the same status and basis.
    screened = sd.screened_pairs(hazards, targets)
    key = ["hazard_id", "target_id", "status", "basis"]
    mine = report.pairs[report.pairs["hazard_in_scope"] | report.pairs["target_in_scope"]]
    assert sorted(map(tuple, mine[key].to_numpy().tolist())) == sorted(
        map(tuple, screened[key].to_numpy().tolist())
    )
    assert {"consultation"} <= set(screened["basis"])
    # Violations only (no advice, the inner zones' reach): the same violations.
    lean = store.violations_sql(db, SYSTEM, "350505", advice=False).violations
    assert lean[["hazard_id", "target_id"]].equals(sql[["hazard_id", "target_id"]])
    assert lean["basis"].tolist() == sql["basis"].tolist()

    # Siting checks and exposure agree too.
    rng = np.random.default_rng(9)
    verdicts = set()
    for _ in range(12):
        site = at(QUANGANG, float(rng.uniform(0, 3500)), float(rng.uniform(0, 360)))
        for proposal in (
            sd.hazard_proposal("liquefied_hydrocarbon_tanks"),
            sd.hazard_proposal("fireworks_warehouse", level=1),
            sd.target_proposal("school"),
            sd.target_proposal("residential", households=500),
        ):
            a = store.siting_check_sql(db, SYSTEM, site, proposal)
            b = sd.siting_check(site, proposal, hazards=hazards, targets=targets, contours=contours)
            verdicts.add(a.verdict)
            assert a.verdict == b.verdict
            assert [(c.existing["id"], c.status, c.basis) for c in a.conflicts] == [
                (c.existing["id"], c.status, c.basis) for c in b.conflicts
            ]
            assert [c.distance_m for c in a.conflicts] == pytest.approx(
                [c.distance_m for c in b.conflicts], abs=1e-6
            )
            assert a.explanation_zh == b.explanation_zh
    assert {"veto", "advise", "ok"} <= verdicts
    unit = int(hazards["id"].iloc[0])
    geom = hazards.geometry.iloc[0]
    assert store.exposure_sql(db, SYSTEM, unit, (100, 300, 1000))["bands"] == sd.exposure(
        geom, targets, (100, 300, 1000)
    )


def test_siting_check_sql_finds_contours_and_moves(db: Connection) -> None:
    h = add_hazard(db, Point(QUANGANG), "liquefied_hydrocarbon_tanks", name="球罐区")
    store.replace_risk_contours(db, SYSTEM, h, [(3e-6, square(Point(QUANGANG), 600), None)])
    result = store.siting_check_sql(
        db, SYSTEM, at(QUANGANG, 100, 0), sd.target_proposal("school", population=500)
    )
    assert result.verdict == "veto"
    bases = {c.basis: c for c in result.conflicts}
    assert bases["distance"].move_m == pytest.approx(50, abs=0.5)
    assert bases["risk_contour"].move_m == pytest.approx(500, rel=0.01)
    assert result.max_move_m == pytest.approx(500, rel=0.01)
    assert result.epsg == 4549  # CGCS2000 / 3-degree Gauss-Kruger CM 120E
    with pytest.raises(NotFound):
        store.exposure_sql(db, SYSTEM, 10**9)
    bands = store.exposure_sql(db, SYSTEM, h, (50, 200))["bands"]
    assert [b["targets"] for b in bands] == [0, 0]
    assert math.isclose(sum(b["from_m"] for b in bands), 50)
