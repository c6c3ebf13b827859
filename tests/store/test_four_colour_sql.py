"""four_colour_sql against the GeoPandas reference, on hand-made cases and random ones (PostGIS)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon, box
from sqlalchemy import Connection, Engine, text

from geo.codes import make_credit_code
from geo.errors import InvalidInput
from geo.four_colour import DEFAULT_PALETTE, four_colour
from geo.store.four_colour import (
    PARALLEL_MIN_ZONES,
    PARALLEL_SETTINGS,
    PLANNER_SETTINGS,
    ZoneQuery,
    four_colour_sql,
    load_units_frame,
)
from tests.geo.test_four_colour import X0, Y0, D, cell, units_frame, zones_frame

PARENT = "FCT0"


def reset(conn: Connection) -> None:
    conn.execute(text("TRUNCATE risk_units, enterprises RESTART IDENTITY CASCADE"))
    conn.execute(text("DELETE FROM jurisdictions WHERE parent_adcode = :p"), {"p": PARENT})
    conn.execute(text("DELETE FROM jurisdictions WHERE adcode = :p"), {"p": PARENT})


def store_units(conn: Connection, units: gpd.GeoDataFrame) -> None:
    """Enterprise units under enterprises of their id, the others as public-area risks."""
    for eid in sorted({int(e) for e in units["enterprise_id"].dropna()}):
        conn.execute(
            text(
                "INSERT INTO enterprises (id, credit_code, name, sector, geom) "
                "VALUES (:id, :code, :name, 'hazardous_chemicals', ST_SetSRID(ST_MakePoint(:x, :y), 4490))"
            ),
            {
                "id": eid,
                "code": make_credit_code(f"91350505{eid:09d}"),
                "name": f"企业 {eid}",
                "x": X0,
                "y": Y0,
            },
        )
    rows = [
        {
            "eid": None if pd.isna(r.enterprise_id) else int(r.enterprise_id),
            "kind": "public_area" if pd.isna(r.enterprise_id) else "enterprise",
            "name": f"单元 {i}",
            "level": int(r.level),
            "wkb": shapely.to_wkb(r.geometry),
        }
        for i, r in enumerate(units.itertuples())
    ]
    if rows:
        conn.execute(
            text(
                "INSERT INTO risk_units (enterprise_id, kind, name, sector, geom, level, assessment_method) "
                "VALUES (:eid, :kind, :name, 'urban_gas', ST_GeomFromWKB(:wkb, 4490), :level, 'direct')"
            ),
            rows,
        )


def store_zones(conn: Connection, zones: gpd.GeoDataFrame) -> None:
    """The zones as grid jurisdictions under a parent FCT0."""
    conn.execute(
        text(
            "INSERT INTO jurisdictions (adcode, name, level, geom) "
            "VALUES (:a, '测试县', 'county', ST_Multi(ST_GeomFromWKB(:wkb, 4490)))"
        ),
        {"a": PARENT, "wkb": shapely.to_wkb(shapely.box(*zones.total_bounds))},
    )
    conn.execute(
        text(
            "INSERT INTO jurisdictions (adcode, name, level, parent_adcode, geom) "
            "VALUES (:a, :n, 'grid', :p, ST_Multi(ST_GeomFromWKB(:wkb, 4490)))"
        ),
        [
            {"a": c, "n": n, "p": PARENT, "wkb": shapely.to_wkb(g)}
            for c, n, g in zip(zones["code"], zones["name"], zones.geometry, strict=True)
        ],
    )


CHILDREN = "SELECT adcode, name, geom FROM jurisdictions WHERE parent_adcode = :p ORDER BY adcode DESC"


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as c:
        reset(c)
        c.commit()
        yield c
        c.rollback()
        reset(c)
        c.commit()


def assert_same(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> None:
    """Same zones, levels, colours, counts, ids and index; area shares within 1e-6."""
    assert list(got.columns) == list(want.columns)
    for col in ("code", "name", "color", "counts", "enterprise_ids", "unit_count"):
        assert got[col].tolist() == want[col].tolist(), col
    # The density rule divides by the zone's geodesic area (PostGIS and pyproj agree to ~1e-9).
    for g, w in zip(got["index"], want["index"], strict=True):
        assert g == w if w is None else g == pytest.approx(w, rel=1e-7), (g, w)
    for g, w in zip(got["why"], want["why"], strict=True):
        assert g.keys() == w.keys()
        for k in w:
            if isinstance(w[k], float):
                assert g[k] == pytest.approx(w[k], rel=1e-6, abs=1e-3), k
            elif k != "text_zh":  # its figures are the numbers above, rounded
                assert g[k] == w[k], k
    assert got["level"].fillna(0).tolist() == want["level"].fillna(0).tolist()
    for g, w in zip(got["area_share"], want["area_share"], strict=True):
        if w is None:
            assert g is None
        else:
            assert g.keys() == w.keys()
            assert all(abs(g[k] - w[k]) <= 1e-6 + 1e-12 for k in w), (g, w)
    assert all(a.equals(b) for a, b in zip(got.geometry, want.geometry, strict=True))
    assert got.crs.to_epsg() == want.crs.to_epsg() == 4490


def both(conn: Connection, zones: gpd.GeoDataFrame, units: gpd.GeoDataFrame, **kw: Any) -> gpd.GeoDataFrame:
    """Store the units, run the SQL with the zones as a frame and check it against the reference."""
    store_units(conn, units)
    got = four_colour_sql(conn, zones, **kw)
    assert_same(got, four_colour(zones, units, **kw))
    return got


def rows(result: gpd.GeoDataFrame) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in result.to_dict("records")}


# --- hand-made cases ---------------------------------------------------------------------------------


def test_polygon_straddling_two_zones(conn: Connection) -> None:
    unit = box(X0 + 0.7 * D, Y0 + 0.2 * D, X0 + 1.5 * D, Y0 + 0.6 * D)
    out = rows(both(conn, zones_frame(cell(0), cell(1)), units_frame((2, unit, 7))))
    assert out["Z0"]["counts"] == out["Z1"]["counts"] == {1: 0, 2: 1, 3: 0, 4: 0}
    assert out["Z0"]["area_share"][2] == pytest.approx(0.12, abs=2e-4)
    assert out["Z1"]["area_share"][2] == pytest.approx(0.20, abs=2e-4)
    assert out["Z0"]["enterprise_ids"] == out["Z1"]["enterprise_ids"] == [7]


def test_polygon_only_touching_an_edge(conn: Connection) -> None:
    outside = box(X0 + D, Y0 + 0.2 * D, X0 + 1.3 * D, Y0 + 0.4 * D)
    corner = box(X0 + D, Y0 + D, X0 + 1.2 * D, Y0 + 1.2 * D)
    units = units_frame((1, outside, None), (2, corner, None))
    for area_share in (True, False):
        conn.execute(text("DELETE FROM risk_units"))
        out = rows(both(conn, zones_frame(cell(0), cell(1)), units, area_share=area_share))
        assert out["Z0"]["unit_count"] == 0
        assert out["Z1"]["counts"] == {1: 1, 2: 0, 3: 0, 4: 0}


def test_point_on_the_shared_edge(conn: Connection) -> None:
    out = both(conn, zones_frame(cell(0), cell(1)), units_frame((3, Point(X0 + D, Y0 + 0.5 * D), None)))
    assert out["counts"].tolist() == [{1: 0, 2: 0, 3: 1, 4: 0}] * 2


def test_pipeline_crossing_three_zones(conn: Connection) -> None:
    pipeline = LineString([(X0 + 0.5 * D, Y0 + 0.5 * D), (X0 + 2.5 * D, Y0 + 0.6 * D)])
    along = LineString([(X0 + D, Y0 + 0.1 * D), (X0 + D, Y0 + 0.9 * D)])  # on the Z0/Z1 edge only
    out = both(
        conn, zones_frame(cell(0), cell(1), cell(2)), units_frame((1, pipeline, None), (2, along, None))
    )
    assert out["counts"].tolist() == [{1: 1, 2: 0, 3: 0, 4: 0}] * 3
    assert all(sum(s.values()) == 0 for s in out["area_share"])


def test_empty_zone_and_blue_zone(conn: Connection) -> None:
    units = units_frame((4, box(X0 + 0.1 * D, Y0 + 0.1 * D, X0 + 0.2 * D, Y0 + 0.2 * D), None))
    out = both(conn, zones_frame(cell(0), cell(5)), units)
    blue, empty = out.iloc[0], out.iloc[1]
    assert (blue["level"], blue["color"], blue["counts"]) == (4, "#0000FF", {1: 0, 2: 0, 3: 0, 4: 1})
    assert blue["area_share"][4] == pytest.approx(0.01, abs=2e-5)
    assert pd.isna(empty["level"])
    assert empty["color"] is None
    assert empty["counts"] == {1: 0, 2: 0, 3: 0, 4: 0}
    assert empty["area_share"] == {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
    assert (empty["enterprise_ids"], empty["unit_count"]) == ([], 0)


def test_weighted_rule_and_custom_palette(conn: Connection) -> None:
    points = [
        (lv, Point(X0 + (k + 1) / 100 * D, Y0 + lv / 10 * D), None)
        for lv, n in ((2, 1), (3, 2), (4, 5))
        for k in range(n)
    ]
    palette = {1: "#a50026", 2: "#f46d43", 3: "#fee08b", 4: "#4575b4"}
    out = both(conn, zones_frame(cell(0), cell(3)), units_frame(*points), rule="weighted", palette=palette)
    assert (out.iloc[0]["index"], out.iloc[0]["level"], out.iloc[0]["color"]) == (55.0, 2, "#f46d43")
    assert (out.iloc[1]["index"], out.iloc[1]["color"]) == (0.0, None)


def test_density_rule_divides_by_the_zone_area(conn: Connection) -> None:
    """Two zones with the same units, one four times the area: the big one's density is a quarter."""
    small, big = cell(0), box(X0 + 2 * D, Y0, X0 + 4 * D, Y0 + 2 * D)
    points = [(1, Point(X0 + 0.5 * D, Y0 + 0.5 * D), None), (1, Point(X0 + 2.5 * D, Y0 + 0.5 * D), None)]
    out = both(conn, zones_frame(small, big), units_frame(*points), rule="density", breaks=(60, 30, 20))
    d_small, d_big = out["index"].tolist()
    assert d_small == pytest.approx(4 * d_big, rel=1e-3)
    assert d_small > 60 > 30 > d_big > 20  # about 89 and 22 per km² (0.01° squares at 25°N: 1.12 km²)
    assert out["level"].tolist() == [1, 3]
    assert out.iloc[1]["why"]["break"] == 20.0
    assert out.iloc[1]["why"]["weighted_units"] == 100.0


def test_overlaps_add_up_and_clip(conn: Connection) -> None:
    big = box(X0 - D, Y0 - D, X0 + 2 * D, Y0 + 2 * D)
    out = both(conn, zones_frame(cell(0)), units_frame((3, big, 1), (3, big, 2), (4, cell(0), 2)))
    assert out.iloc[0]["area_share"] == {1: 0.0, 2: 0.0, 3: 1.0, 4: 1.0}
    assert out.iloc[0]["enterprise_ids"] == [1, 2]


def test_zones_from_a_query_follow_its_order(conn: Connection) -> None:
    zones = zones_frame(cell(0), cell(1), cell(2), codes=["FCT01", "FCT02", "FCT03"])
    units = units_frame(
        (2, Point(X0 + 0.5 * D, Y0 + 0.5 * D), 5), (1, Point(X0 + 2.5 * D, Y0 + 0.5 * D), None)
    )
    store_units(conn, units)
    store_zones(conn, zones)
    got = four_colour_sql(conn, ZoneQuery(CHILDREN, {"p": PARENT}))
    want = four_colour(zones, units).iloc[::-1].reset_index(drop=True)
    got["geometry"] = got.geometry.apply(lambda g: shapely.get_geometry(g, 0))  # stored as MULTIPOLYGON
    assert_same(got, want)
    assert got["code"].tolist() == ["FCT03", "FCT02", "FCT01"]


def test_zone_query_codes_must_be_unique(conn: Connection) -> None:
    store_zones(conn, zones_frame(cell(0), codes=["FCT01"]))
    twice = "SELECT adcode, name, geom FROM jurisdictions WHERE parent_adcode = :p UNION ALL " + CHILDREN
    with pytest.raises(InvalidInput):
        four_colour_sql(conn, ZoneQuery(twice, {"p": PARENT}))


def test_planner_settings_are_put_back_and_the_temp_table_goes(conn: Connection) -> None:
    names = sorted({*PLANNER_SETTINGS, *PARALLEL_SETTINGS})

    def settings() -> dict[str, str]:
        return {k: conn.execute(text("SELECT current_setting(:k)"), {"k": k}).scalar() for k in names}

    before = settings()
    store_units(conn, units_frame((3, Point(X0 + 0.5 * D, Y0 + 0.5 * D), None)))
    many = zones_frame(*[cell(i, j) for i in range(8) for j in range(PARALLEL_MIN_ZONES // 8)])
    for zones in (zones_frame(cell(0)), zones_frame(cell(0)), many):  # the TEMP table is made again
        assert four_colour_sql(conn, zones).iloc[0]["level"] == 3
        assert settings() == before
    assert conn.execute(text("SELECT to_regclass('pg_temp.four_colour_zones')")).scalar() is None
    store_zones(conn, many.assign(code=[f"FCT{i:02d}" for i in range(len(many))]))
    assert four_colour_sql(conn, ZoneQuery(CHILDREN, {"p": PARENT})).iloc[-1]["level"] == 3
    assert settings() == before


def test_load_units_frame(conn: Connection) -> None:
    units = units_frame(
        (2, Point(X0 + 0.5 * D, Y0 + 0.5 * D), 5),
        (1, box(X0 + 3 * D, Y0, X0 + 3.5 * D, Y0 + 0.5 * D), None),
        (4, LineString([(X0 + 10 * D, Y0), (X0 + 11 * D, Y0)]), None),
    )
    store_units(conn, units)
    near = load_units_frame(conn, (X0, Y0, X0 + 4 * D, Y0 + D))
    assert near["level"].tolist() == [2, 1]
    assert near["enterprise_id"].tolist()[0] == 5
    assert pd.isna(near["enterprise_id"].tolist()[1])
    assert near["area_m2"].iloc[1] == pytest.approx(0.25 * 1_118_000, rel=0.01)
    assert near.crs.to_epsg() == 4490
    along = load_units_frame(conn, LineString([(X0 + 10.5 * D, Y0 - D), (X0 + 10.5 * D, Y0 + D)]))
    assert along["level"].tolist() == [4]
    assert len(load_units_frame(conn, (0.0, 0.0, 1.0, 1.0))) == 0


def test_the_reference_on_loaded_units_agrees(conn: Connection) -> None:
    unit = box(X0 + 0.7 * D, Y0 + 0.2 * D, X0 + 1.5 * D, Y0 + 0.6 * D)
    zones = zones_frame(cell(0), cell(1))
    store_units(
        conn,
        units_frame((2, unit, 7), (3, box(X0 + 0.1 * D, Y0 + 0.1 * D, X0 + 0.3 * D, Y0 + 0.3 * D), None)),
    )
    loaded = load_units_frame(conn, tuple(zones.total_bounds))
    assert_same(four_colour(zones, loaded), four_colour_sql(conn, zones))


# --- property: random zones and units on a coarse lattice ------------------------------------------

STEP = 1 / 512  # exactly representable, so lattice points are exactly collinear where they should be


def _xy(i: int, j: int) -> tuple[float, float]:
    return (X0 + i * STEP / 2, Y0 + j * STEP / 2)


@st.composite
def scenes(draw: st.DrawFn) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, Any]]:
    nx, ny, size = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.sampled_from([4, 8]))
    zones: list[Polygon] = [
        box(*_xy(i * size, j * size), *_xy((i + 1) * size, (j + 1) * size))
        for j in range(ny)
        for i in range(nx)
    ]
    ix, jy = st.integers(-2, nx * size + 2), st.integers(-2, ny * size + 2)
    lattice = st.tuples(ix, jy)
    for _ in range(draw(st.integers(0, 2))):
        hull = shapely.convex_hull(
            shapely.multipoints([_xy(*p) for p in draw(st.lists(lattice, min_size=3, max_size=6))])
        )
        if hull.geom_type == "Polygon" and hull.area > 0:
            zones.append(hull)

    def unit(kind: str) -> Any:
        if kind == "point":
            return Point(_xy(*draw(lattice)))
        if kind == "line":
            pts = draw(st.lists(lattice, min_size=2, max_size=3, unique=True))
            return LineString([_xy(*p) for p in pts])
        (i, j), w, h = draw(lattice), draw(st.integers(1, size + 2)), draw(st.integers(1, size + 2))
        if kind == "box":
            return box(*_xy(i, j), *_xy(i + w, j + h))
        hull = shapely.convex_hull(
            shapely.multipoints([_xy(*p) for p in draw(st.lists(lattice, min_size=3, max_size=5))])
        )
        return hull if hull.geom_type == "Polygon" else box(*_xy(i, j), *_xy(i + 1, j + 1))

    kinds = draw(st.lists(st.sampled_from(["point", "line", "box", "hull"]), max_size=12))
    units = units_frame(
        *[(draw(st.integers(1, 4)), unit(k), draw(st.one_of(st.none(), st.integers(1, 3)))) for k in kinds]
    )
    options = draw(
        st.sampled_from(
            [
                {},
                {"rule": "weighted"},
                {"area_share": False},
                {"rule": "weighted", "breaks": (50, 20, 2)},
                {"rule": "density"},
                {"rule": "density", "breaks": (50, 20, 2), "area_share": False},
            ]
        )
    )
    return zones_frame(*zones), units, options


@settings(max_examples=40, deadline=None)
@given(scene=scenes())
def test_sql_and_reference_agree_on_random_scenes(
    engine: Engine, scene: tuple[Any, Any, dict[str, Any]]
) -> None:
    zones, units, options = scene
    with engine.connect() as conn:
        reset(conn)
        try:
            both(conn, zones, units, **options)
        finally:
            conn.rollback()


def test_default_palette_is_the_vocabulary_one(conn: Connection) -> None:
    out = both(conn, zones_frame(cell(0)), units_frame((1, Point(X0 + 0.5 * D, Y0 + 0.5 * D), None)))
    assert out.iloc[0]["color"] == DEFAULT_PALETTE[1]
    assert np.array_equal(out["unit_count"].to_numpy(), [1])


def test_no_zones(conn: Connection) -> None:
    store_units(conn, units_frame((1, Point(X0, Y0), None)))
    assert len(four_colour_sql(conn, ZoneQuery(CHILDREN, {"p": "nowhere"}))) == 0
    assert len(four_colour_sql(conn, zones_frame().iloc[:0])) == 0


def test_works_on_an_autocommit_connection(engine: Engine, conn: Connection) -> None:
    store_units(conn, units_frame((2, Point(X0 + 0.5 * D, Y0 + 0.5 * D), None)))
    conn.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
        out = four_colour_sql(auto, zones_frame(cell(0), cell(1)))
    assert out["level"].fillna(0).tolist() == [2, 0]
