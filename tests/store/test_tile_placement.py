"""Low-zoom tiles of risk units drawn from their stored places (tile_x, tile_y, tile_span, tile_m: migration
0024t) equal the tiles placed row by row from each unit's box (`tiles._cells_and_features`): the same cells
with the same counts and levels, the same units alone in their cells (at the same point, to a tile unit), the
same wide units drawn as themselves, for every scope, and after units are moved, widened and deleted."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import mapbox_vector_tile
import pytest
from sqlalchemy import Connection, Engine, text

from geo.access import Principal, Role
from geo.store import repository as repo
from geo.store import tiles
from tests.api.builders import HUIAN, QUANGANG

LAYER = tiles.LAYERS["risk_units"]
ADMIN = Principal(Role.admin, "t")
COUNTY = Principal(Role.regulator, "r", adcodes=("350505",))


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _made(
    conn: Connection, principal: Principal, z: int, x: int, y: int, *, placed: bool, adcode: str | None = None
) -> list[Any]:
    """The decoded tile, made by the stored places or row by row (statements built here, not kept)."""
    layer = LAYER if placed else tiles.Layer(**{**LAYER.__dict__, "placed": False})
    sql, fixed = tiles.compiled_tile_statement(conn, layer, tiles.scope(principal, layer), True, adcode)
    body = conn.exec_driver_sql(sql, {**fixed, **tiles.tile_params(layer, True, z, x, y)}).one()[0]
    return list(mapbox_vector_tile.decode(bytes(body or b"")).get("risk_units", {}).get("features", []))


def _summary(features: list[Any]) -> tuple[Counter[Any], dict[int, Any]]:
    """Cells as a multiset of (count, level, n1..n4, shape); features drawn alone by id with their geometry."""
    cells: Counter[Any] = Counter()
    alone: dict[int, Any] = {}
    for f in features:
        p = f["properties"]
        if p.get("count", 1) > 1:
            ring = f["geometry"]["coordinates"][0]
            cells[
                (p["count"], p["level"], p["n1"], p["n2"], p["n3"], p["n4"], tuple(sorted(map(tuple, ring))))
            ] += 1
        else:
            alone[p["id"]] = (p.get("count"), p["level"], p.get("name"), f["geometry"])
    return cells, alone


def _same(old: list[Any], new: list[Any]) -> None:
    old_cells, old_alone = _summary(old)
    new_cells, new_alone = _summary(new)
    assert new_cells == old_cells
    assert new_alone.keys() == old_alone.keys()
    for key, (count, level, name, geometry) in old_alone.items():
        n_count, n_level, n_name, n_geometry = new_alone[key]
        assert (n_count, n_level, n_name, n_geometry["type"]) == (count, level, name, geometry["type"]), key
        if geometry["type"] == "Point":  # placed to the stored precision: within a tile unit
            assert all(
                abs(a - b) <= 1
                for a, b in zip(geometry["coordinates"], n_geometry["coordinates"], strict=True)
            ), key
        else:
            assert n_geometry == geometry, key


@pytest.fixture
def units(client: Any, engine: Engine) -> list[int]:
    """Units of every size around 泉港区 and 惠安县: 2 m to 8 km squares, lines and points, a few on the
    borders of z8–z11 tiles, filed under the two counties, two enterprises' and public ones."""
    rng = random.Random(7)
    with engine.begin() as conn:
        owners = [
            int(
                conn.execute(
                    text(
                        "INSERT INTO enterprises (name, credit_code, sector, geom, jurisdiction_adcode) VALUES "
                        "(:n, :c, 'chemicals', ST_SetSRID(ST_MakePoint(:x, :y), 4490), '350505') RETURNING id"
                    ),
                    {"n": f"企业{i}", "c": f"91350505MA0000000{i}", "x": QUANGANG[0], "y": QUANGANG[1]},
                ).scalar_one()
            )
            for i in range(2)
        ]
        places = []
        for i in range(400):
            at = QUANGANG if i % 3 else HUIAN
            x, y = at[0] + rng.uniform(-0.15, 0.15), at[1] + rng.uniform(-0.15, 0.15)
            side = 10 ** rng.uniform(-4.7, -1.1)  # about 2 m to 8 km
            places.append((x, y, side))
        for z in (8, 9, 10, 11):  # box centres on tile borders (a western and a northern edge)
            tx, ty = _tile_of(*QUANGANG, z)
            lon = tx / 2**z * 360 - 180
            lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * ty / 2**z))))
            places += [(lon, QUANGANG[1], 0.0002), (QUANGANG[0], lat, 0.0002), (lon, lat, 0.0)]
        for i, (x, y, side) in enumerate(places):
            shape = i % 10
            geom = (
                f"ST_SetSRID(ST_MakePoint({x}, {y}), 4490)"
                if shape == 0 or side == 0
                else f"ST_SetSRID(ST_MakeLine(ST_MakePoint({x - side}, {y}), ST_MakePoint({x + side}, {y})), 4490)"
                if shape == 1
                else f"ST_MakeEnvelope({x - side / 2}, {y - side / 2}, {x + side / 2}, {y + side / 2}, 4490)"
            )
            public = i % 4 == 0
            conn.execute(
                text(
                    "INSERT INTO risk_units (kind, enterprise_id, name, level, assessment_method, geom, "
                    f"jurisdiction_adcode) VALUES (:k, :e, :n, :lv, 'direct', {geom}, :a)"
                ),
                {
                    "k": "public_area" if public else "enterprise",
                    "e": None if public else owners[i % 2],
                    "n": f"单元{i}",
                    "lv": 1 + i % 4,
                    "a": "350505" if y > 25.04 else "350521",
                },
            )
        return owners


def _tiles_around(z: int) -> list[tuple[int, int]]:
    out = set()
    for at in (QUANGANG, HUIAN):
        x, y = _tile_of(*at, z)
        out |= {(x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    return sorted(out)


def _compare_everywhere(engine: Engine, principals: list[Principal], adcode: str | None = None) -> int:
    drawn = 0
    with engine.connect() as conn:
        for principal in principals:
            for z in (6, 8, 9, 10, 11):
                for x, y in _tiles_around(z):
                    old = _made(conn, principal, z, x, y, placed=False, adcode=adcode)
                    _same(old, _made(conn, principal, z, x, y, placed=True, adcode=adcode))
                    drawn += len(old)
    return drawn


def test_placed_tiles_equal_the_row_by_row_placement_in_every_scope(units: list[int], engine: Engine) -> None:
    own = Principal(Role.enterprise, "e", enterprise_id=units[0])
    assert _compare_everywhere(engine, [ADMIN, COUNTY, own]) > 100
    assert _compare_everywhere(engine, [ADMIN], adcode="350521") > 10


def test_every_unit_is_counted_once_over_the_tiles_that_hold_it(units: list[int], engine: Engine) -> None:
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM risk_units")).scalar_one()
        wide = 0
        for z in (8, 10):
            counted = 0
            shift = 23 - z  # the tiles that hold a box centre, from the stored places
            x0, x1, y0, y1 = conn.execute(
                text(
                    "SELECT min(tile_x) >> :s, max(tile_x) >> :s, min(tile_y) >> :s, max(tile_y) >> :s "
                    "FROM risk_units"
                ),
                {"s": shift},
            ).one()
            for x in range(x0, x1 + 1):
                for y in range(y0, y1 + 1):
                    for f in _made(conn, ADMIN, z, x, y, placed=True):
                        counted += f["properties"].get("count") or 0
                        wide += f["properties"].get("count") is None
            drawn_wide = conn.execute(
                text("SELECT count(*) FROM risk_units WHERE tile_span >= :w"), {"w": 64.0 * 2 ** (11 - z)}
            ).scalar_one()
            assert counted + drawn_wide == total, z  # each small unit in one cell of one tile
        assert wide  # some were drawn as themselves (in every tile they meet)


def test_stored_places_follow_a_move_a_widening_and_a_delete(units: list[int], engine: Engine) -> None:
    with engine.begin() as conn:
        ids = conn.execute(text("SELECT id FROM risk_units ORDER BY id LIMIT 30")).scalars().all()
        conn.execute(  # moved about 5 km east
            text("UPDATE risk_units SET geom = ST_Translate(geom, 0.05, 0) WHERE id = ANY(:i)"),
            {"i": ids[:10]},
        )
        conn.execute(  # widened to about 3 km
            text("UPDATE risk_units SET geom = ST_Buffer(ST_Centroid(geom), 0.015) WHERE id = ANY(:i)"),
            {"i": ids[10:20]},
        )
        conn.execute(text("DELETE FROM risk_units WHERE id = ANY(:i)"), {"i": ids[20:30]})
        assert not conn.execute(
            text(
                "SELECT count(*) FROM risk_units WHERE tile_m IS DISTINCT FROM riskmap_morton(tile_x, tile_y)"
            )
        ).scalar_one()
    assert _compare_everywhere(engine, [ADMIN, COUNTY]) > 100


def test_morton_agrees_with_the_database(engine: Engine) -> None:
    rng = random.Random(3)
    pairs = [(0, 0), (2**23 - 1, 2**23 - 1), (1, 0), (0, 1)] + [
        (rng.randrange(2**23), rng.randrange(2**23)) for _ in range(50)
    ]
    with engine.connect() as conn:
        for x, y in pairs:
            assert conn.execute(
                text("SELECT riskmap_morton(:x, :y)"), {"x": x, "y": y}
            ).scalar_one() == tiles.morton(x, y)
    assert repo.RISK_UNITS.table.c.tile_m is not None
