"""The cached per-zone totals of stored zones (migration 0007): filled by the first map, read by the
next, dropped by every write that may change them, never stored from a read that a write overtook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import pytest
import shapely
from hypothesis import given, settings
from shapely.geometry import Point, box
from sqlalchemy import Connection, Engine, text

import geo.store.four_colour as store
from geo.four_colour import four_colour
from geo.store.four_colour import ZoneQuery, four_colour_sql, load_units_frame
from tests.geo.test_four_colour import X0, Y0, D, cell, units_frame, zones_frame
from tests.store.test_four_colour_sql import (
    CHILDREN,
    PARENT,
    assert_same,
    reset,
    scenes,
    store_units,
    store_zones,
)

CODES = ["FCT01", "FCT02", "FCT03", "FCT04"]
STORED = ZoneQuery(
    "SELECT adcode, name, geom FROM jurisdictions WHERE parent_adcode = :p", {"p": PARENT}, stored=True
)


def inside(i: int, level: int, eid: int | None = None, size: float = 0.2) -> tuple[int, Any, int | None]:
    """A square unit wholly inside cell i."""
    x, y = X0 + (i + 0.3) * D, Y0 + 0.3 * D
    return (level, box(x, y, x + size * D, y + size * D), eid)


ZONES = zones_frame(cell(0), cell(1), cell(2), cell(5), codes=CODES)
UNITS = units_frame(
    inside(0, 3, 1),
    inside(1, 2),
    (1, box(X0 + 1.8 * D, Y0 + 0.1 * D, X0 + 2.2 * D, Y0 + 0.3 * D), 2),  # across the FCT02/FCT03 edge
    (4, Point(X0 + 0.5 * D, Y0 + 0.6 * D), None),
)


@pytest.fixture
def committed(engine: Engine) -> Iterator[Engine]:
    """ZONES as grid jurisdictions and UNITS as risk units, committed; everything removed after."""
    with engine.begin() as conn:
        reset(conn)
        store_zones(conn, ZONES)
        store_units(conn, UNITS)
    yield engine
    with engine.begin() as conn:
        reset(conn)


def stored_map(engine: Engine, **kw: Any) -> gpd.GeoDataFrame:
    with engine.connect() as conn:
        return four_colour_sql(conn, STORED, **kw)


def cached(engine: Engine) -> dict[str, int]:
    """Cached zones and their unit counts."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT zone_adcode, n1 + n2 + n3 + n4 FROM four_colour_zone_totals"))
        return {str(r[0]): int(r[1]) for r in rows}


def counts(result: gpd.GeoDataFrame, code: str = "FCT01") -> dict[int, int]:
    return dict(result.set_index("code").loc[code, "counts"])


def reference(conn: Connection, **kw: Any) -> gpd.GeoDataFrame:
    """The GeoPandas reference on the units and zones stored now, in the stored select's order."""
    zones = gpd.read_postgis(
        text("SELECT adcode AS code, name, geom FROM jurisdictions WHERE parent_adcode = :p"),
        conn,
        geom_col="geom",
        params={"p": PARENT},
    ).rename_geometry("geometry")
    return four_colour(zones, load_units_frame(conn, (X0 - D, Y0 - D, X0 + 7 * D, Y0 + 2 * D)), **kw)


def agrees(engine: Engine, **kw: Any) -> gpd.GeoDataFrame:
    got = stored_map(engine, **kw)
    with engine.connect() as conn:
        assert_same(got, reference(conn, **kw))
    return got


def test_the_first_map_fills_the_cache_and_the_next_reads_it(committed: Engine) -> None:
    assert cached(committed) == {}
    first = agrees(committed)
    assert cached(committed) == {"FCT01": 2, "FCT02": 2, "FCT03": 1, "FCT04": 0}
    with committed.begin() as conn:  # not a write the triggers watch: proves the totals are read
        conn.execute(text("UPDATE four_colour_zone_totals SET n4 = n4 + 7 WHERE zone_adcode = 'FCT04'"))
    second = stored_map(committed)
    assert counts(second, "FCT04") == {1: 0, 2: 0, 3: 0, 4: 7}
    assert all(counts(second, c) == counts(first, c) for c in CODES[:3])


def test_counts_only_and_weighted_maps_come_from_the_same_totals(committed: Engine) -> None:
    stored_map(committed)
    assert len(cached(committed)) == 4
    agrees(committed, area_share=False)
    agrees(committed, rule="weighted")


# Each write, and the zones whose totals it must drop (FCT04, far away, keeps its row).
WRITES = [
    (
        "unit moved",
        "UPDATE risk_units SET geom = ST_Translate(geom, :d, 0) WHERE name = '单元 1'",  # into FCT03
        {"FCT02", "FCT03"},
    ),
    ("level changed", "UPDATE risk_units SET level = 1 WHERE name = '单元 0'", {"FCT01"}),
    ("enterprise changed", "UPDATE risk_units SET enterprise_id = 2 WHERE name = '单元 0'", {"FCT01"}),
    ("unit deleted", "DELETE FROM risk_units WHERE name = '单元 2'", {"FCT02", "FCT03"}),
    (
        "unit added",
        "INSERT INTO risk_units (kind, name, sector, geom, level, assessment_method) VALUES "
        "('public_area', 'new', 'urban_gas', ST_SetSRID(ST_MakePoint(:x, :y), 4490), 1, 'direct')",
        {"FCT03"},
    ),
    ("units truncated", "TRUNCATE risk_units CASCADE", {"FCT01", "FCT02", "FCT03", "FCT04"}),
    (
        "zone boundary changed",
        "UPDATE jurisdictions SET geom = ST_Multi(ST_Translate(geom, :s, 0)) WHERE adcode = 'FCT01'",
        {"FCT01"},
    ),
    ("zone deleted", "DELETE FROM jurisdictions WHERE adcode = 'FCT02'", {"FCT02"}),
]


@pytest.mark.parametrize(("sql", "dropped"), [w[1:] for w in WRITES], ids=[w[0] for w in WRITES])
def test_a_committed_write_drops_the_totals_it_changes(
    committed: Engine, sql: str, dropped: set[str]
) -> None:
    stored_map(committed)
    with committed.begin() as conn:
        conn.execute(text(sql), {"d": D, "s": 0.4 * D, "x": X0 + 2.5 * D, "y": Y0 + 0.5 * D})
    zones = set(CODES) - ({"FCT02"} if "DELETE FROM jurisdictions" in sql else set())
    assert set(cached(committed)) == zones - dropped
    agrees(committed)  # the map shows the write, and stores what it computed again
    assert set(cached(committed)) == zones


def test_a_write_that_changes_nothing_counted_keeps_the_totals(committed: Engine) -> None:
    stored_map(committed)
    with committed.begin() as conn:
        conn.execute(text("UPDATE risk_units SET name = name || '*', geom = geom"))
        conn.execute(
            text("UPDATE jurisdictions SET name = name || '*' WHERE parent_adcode = :p"), {"p": PARENT}
        )
    assert set(cached(committed)) == set(CODES)


def test_an_uncommitted_write_shows_in_its_own_transaction_and_is_not_stored(committed: Engine) -> None:
    stored_map(committed)
    with committed.connect() as conn:
        conn.execute(text("UPDATE risk_units SET level = 1 WHERE name = '单元 0'"))
        out = four_colour_sql(conn, STORED)
        assert counts(out) == {1: 1, 2: 0, 3: 0, 4: 1}
        assert_same(out, reference(conn))
        assert set(cached(committed)) == set(CODES)  # the other sessions still see the old totals …
        conn.rollback()
    assert counts(stored_map(committed)) == {1: 0, 2: 0, 3: 1, 4: 1}  # … which are current again


def test_a_write_in_flight_elsewhere_keeps_the_map_from_storing(committed: Engine) -> None:
    with committed.connect() as writer:
        writer.execute(text("UPDATE risk_units SET level = 1 WHERE name = '单元 0'"))  # not committed
        out = stored_map(committed)  # does not wait for the writer
        assert counts(out) == {1: 0, 2: 0, 3: 1, 4: 1}
        assert cached(committed) == {}
        writer.commit()
    assert counts(agrees(committed)) == {1: 1, 2: 0, 3: 0, 4: 1}
    assert set(cached(committed)) == set(CODES)


def test_totals_overtaken_by_a_write_are_not_stored(
    committed: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write committed between the aggregation and the store: the totals read are returned, not kept."""
    aggregate = store._aggregate

    def aggregate_then_write(conn: Connection, *args: Any, **kw: Any) -> list[Any]:
        rows = aggregate(conn, *args, **kw)
        with committed.begin() as other:
            other.execute(text("UPDATE risk_units SET level = 1 WHERE name = '单元 0'"))
        return rows

    monkeypatch.setattr(store, "_aggregate", aggregate_then_write)
    assert counts(stored_map(committed)) == {1: 0, 2: 0, 3: 1, 4: 1}
    assert cached(committed) == {}
    monkeypatch.undo()
    assert counts(agrees(committed)) == {1: 1, 2: 0, 3: 0, 4: 1}


def test_repeatable_read_callers_compute_and_do_not_store(committed: Engine) -> None:
    with committed.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        assert_same(four_colour_sql(conn, STORED), reference(conn))
    assert cached(committed) == {}


@settings(max_examples=15, deadline=None)
@given(scene=scenes())
def test_cold_and_warm_maps_agree_with_the_reference(
    engine: Engine, scene: tuple[Any, Any, dict[str, Any]]
) -> None:
    zones, units, options = scene
    zones = zones.assign(code=[f"FCT{i:02d}" for i in range(len(zones))])
    with engine.begin() as conn:
        reset(conn)
        store_zones(conn, zones)
        store_units(conn, units)
    try:
        want = four_colour(zones, units, **options)
        for _ in ("cold", "warm"):
            got = stored_map(engine, **options).set_index("code").loc[want["code"]].reset_index()
            got["geometry"] = got.geometry.apply(lambda g: shapely.get_geometry(g, 0))
            assert_same(got[list(want.columns)].set_geometry("geometry", crs=4490), want)
        assert len(cached(engine)) == len(zones)
    finally:
        with engine.begin() as conn:
            reset(conn)


def test_stored_zones_follow_the_select_order_cold_and_warm(committed: Engine) -> None:
    backwards = ZoneQuery(CHILDREN, {"p": PARENT}, stored=True)  # ORDER BY adcode DESC
    with committed.connect() as conn:
        for _ in ("cold", "warm"):
            assert four_colour_sql(conn, backwards)["code"].tolist() == CODES[::-1]
    assert set(cached(committed)) == set(CODES)


BULK = """
INSERT INTO risk_units (kind, name, sector, geom, level, assessment_method)
SELECT 'public_area', 'bulk', 'urban_gas', ST_SetSRID(ST_MakePoint(:x0 + (i % 2) * :dx + i * :step, :y), 4490),
    1 + i % 4, 'direct'
FROM generate_series(0, :n - 1) AS i
"""


@pytest.mark.parametrize(
    ("dx", "dropped"),
    [(0.0, {"FCT03"}), (-2 * D, {"FCT01", "FCT02", "FCT03"})],
    ids=["in one zone", "in two zones: the box around them"],
)
def test_a_bulk_write_drops_the_zones_around_its_units(
    committed: Engine, dx: float, dropped: set[str]
) -> None:
    """More than PRECISE_UNITS units in one statement: the box around them (per 0.1° cell) decides."""
    stored_map(committed)
    n = 2001
    with committed.begin() as conn:
        conn.execute(
            text(BULK), {"x0": X0 + 2.1 * D, "dx": dx, "step": 0.5 * D / n, "y": Y0 + 0.5 * D, "n": n}
        )
    assert set(cached(committed)) == set(CODES) - dropped
    assert agrees(committed).set_index("code").loc["FCT03", "unit_count"] == 1 + (n + 1) // 2 + (
        n // 2 if not dx else 0
    )
