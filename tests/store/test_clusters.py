"""Joint-prevention clusters and neighbour notices in PostGIS: hand-made layouts with known answers (a chain,
unrelated trades, a county border, 25°N and 35°N where degrees or web Mercator would be wrong), and equality
with scikit-learn's DBSCAN and with the in-memory reference on random points."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, Engine, text

from geo.access import SYSTEM
from geo.codes import make_credit_code
from geo.errors import InvalidInput, NotFound
from geo.joint_prevention import Trade, build_clusters, partition, reference_clusters, similarity_rules
from geo.store import joint_prevention as store
from geo.store.bulk import copy_rows

GEOD = Geod(ellps="GRS80")
RULES = similarity_rules()
PLANT = ("hazardous_chemicals", "危化品生产")
FUEL = ("hazardous_chemicals", "加油站")
LPG = ("urban_gas", "瓶装液化气供应站")
MILL = ("metal_smelting", "钢铁冶炼")
TEXTILE = ("industry_trade", "纺织服装")
TOURISM = ("tourism", "景区经营")
QUANGANG = (118.86, 25.12)  # 泉港区 350505, about 25°N
ZAOZHUANG = (117.45, 35.0)  # 枣庄市 370400, 35°N


def offset(origin: tuple[float, float], azimuth: float, metres: float) -> tuple[float, float]:
    """The point `metres` from origin along the geodesic of the given azimuth (degrees from north)."""
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, metres)
    return float(lon), float(lat)


def square_site(centre: tuple[float, float], half_m: float) -> Polygon:
    """A square of side 2 half_m metres around centre (corners by geodesic offsets)."""
    corners = [
        offset(offset(centre, ns, half_m), ew, half_m)
        for ns, ew in ((0, 90), (0, 270), (180, 270), (180, 90))
    ]
    return Polygon([corners[0], corners[1], corners[2], corners[3]])


@dataclass
class Register:
    """Enterprises (and their risk units, and protection targets) written straight into the test database."""

    engine: Engine
    rows: list[dict[str, Any]] = field(default_factory=list)
    units: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)

    def enterprise(
        self,
        at: tuple[float, float],
        trade: tuple[str, str] = PLANT,
        adcode: str = "350505",
        *,
        site: BaseGeometry | None = None,
        levels: Sequence[int] = (),
        name: str | None = None,
    ) -> int:
        ident = len(self.rows) + 1
        self.rows.append(
            {
                "id": ident,
                "credit_code": make_credit_code(f"91350505{ident:09d}"),
                "name": name or f"测试企业{ident}号",
                "sector": trade[0],
                "business_type": trade[1],
                "jurisdiction_adcode": adcode,
                "contact_person": "联系人",
                "contact_phone": "13800000000",
                "geometry": Point(at),
                "site": shapely.MultiPolygon([site]) if isinstance(site, Polygon) else site,
                "synthetic": True,
            }
        )
        for k, level in enumerate(levels):
            self.unit(ident, at, level, adcode, name=f"风险点{k + 1}")
        return ident

    def unit(self, enterprise_id: int, at: tuple[float, float], level: int, adcode: str, *, name: str) -> int:
        ident = len(self.units) + 1
        self.units.append(
            {
                "id": ident,
                "enterprise_id": enterprise_id,
                "kind": "enterprise",
                "name": name,
                "level": level,
                "assessment_method": "direct",
                "jurisdiction_adcode": adcode,
                "control_measures": "双人巡检",
                "geometry": Point(at),
                "synthetic": True,
            }
        )
        return ident

    def target(self, at: tuple[float, float], name: str, adcode: str = "350505") -> int:
        ident = len(self.targets) + 1
        self.targets.append(
            {
                "id": ident,
                "name": name,
                "type": "school",
                "gb_class": "high_sensitive",
                "jurisdiction_adcode": adcode,
                "geometry": Point(at),
                "synthetic": True,
            }
        )
        return ident

    def save(self) -> None:
        with self.engine.begin() as conn:
            copy_rows(
                conn,
                "enterprises",
                self.rows,
                columns=["id", "credit_code", "name", "sector", "business_type", "jurisdiction_adcode",
                         "contact_person", "contact_phone", "synthetic"],
                geometry_columns={"geometry": "geom", "site": "site"},
            )  # fmt: skip
            if self.units:
                copy_rows(
                    conn,
                    "risk_units",
                    self.units,
                    columns=["id", "enterprise_id", "kind", "name", "level", "assessment_method",
                             "jurisdiction_adcode", "control_measures", "synthetic"],
                    geometry_columns={"geometry": "geom"},
                )  # fmt: skip
            if self.targets:
                copy_rows(
                    conn,
                    "protection_targets",
                    self.targets,
                    columns=["id", "name", "type", "gb_class", "jurisdiction_adcode", "synthetic"],
                    geometry_columns={"geometry": "geom"},
                )
            for table in ("enterprises", "risk_units", "protection_targets"):
                conn.execute(text(f"ANALYZE {table}"))


@pytest.fixture
def register(engine: Engine, boundaries: None, clean: None) -> Register:
    return Register(engine)


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as c:
        yield c
        c.rollback()


def clusters_of(conn: Connection, adcode: str, **options: Any) -> list[tuple[int, ...]]:
    run = store.cluster_enterprises(conn, SYSTEM, adcode, rules=RULES, **options)
    conn.rollback()
    keep = np.zeros(len(run.ids), dtype=bool)
    for label in np.unique(run.labels):
        members = run.labels == label
        keep |= members & run.inside[members].any()
    return partition(run.ids[keep], run.labels[keep])


# --- hand-made layouts ---------------------------------------------------------------------------------------


def test_a_chain_is_one_cluster_and_unrelated_plants_do_not_link(
    register: Register, conn: Connection
) -> None:
    a = register.enterprise(QUANGANG)
    b = register.enterprise(offset(QUANGANG, 90, 450))
    c = register.enterprise(offset(QUANGANG, 90, 900))  # 900 m from A, 450 m from B
    register.enterprise(offset(offset(QUANGANG, 90, 900), 0, 450), TOURISM)  # 450 m from C, unrelated
    north = offset(QUANGANG, 0, 3000)
    register.enterprise(north, MILL)
    register.enterprise(offset(north, 90, 450), TEXTILE)  # two plants 450 m apart, unrelated sectors
    register.save()
    assert clusters_of(conn, "350505") == [(a, b, c)]
    assert clusters_of(conn, "350505", distance_m=440) == []
    for method in ("dbscan", "cliques", "pairs"):
        assert clusters_of(conn, "350505", method=method, widen=False) == [(a, b, c)]


def test_similar_trades_of_different_sectors_link_only_when_widened(
    register: Register, conn: Connection
) -> None:
    fuel = register.enterprise(QUANGANG, FUEL)
    lpg = register.enterprise(offset(QUANGANG, 45, 300), LPG)
    register.save()
    assert clusters_of(conn, "350505") == [(fuel, lpg)]
    assert clusters_of(conn, "350505", method="pairs") == [(fuel, lpg)]
    assert clusters_of(conn, "350505", widen=False) == []


def test_sites_are_polygons_when_registered(register: Register, conn: Connection) -> None:
    east = offset(QUANGANG, 90, 900)
    a = register.enterprise(QUANGANG, site=square_site(QUANGANG, 300))
    b = register.enterprise(east, site=square_site(east, 300))  # points 900 m apart, sites 300 m apart
    c = register.enterprise(offset(east, 90, 750))  # a point 450 m from b's site edge
    register.save()
    assert clusters_of(conn, "350505") == [(a, b, c)]
    assert clusters_of(conn, "350505", distance_m=290) == []


@pytest.mark.parametrize(
    ("adcode", "origin", "linked_m", "apart_m"),
    [("350500", (118.80, 25.0), 480.0, 520.0), ("370400", ZAOZHUANG, 450.0, 520.0)],
    ids=["25N", "35N"],
)
def test_distances_are_metres_not_degrees_or_web_mercator(
    register: Register,
    conn: Connection,
    adcode: str,
    origin: tuple[float, float],
    linked_m: float,
    apart_m: float,
) -> None:
    # East–west pairs: web Mercator and "degrees × 111 km" both stretch them by 1/cos(lat) (10 % at 25°N,
    # 22 % at 35°N), so they would split the first pair; the second pair is truly apart.
    a = register.enterprise(origin, adcode=adcode)
    b = register.enterprise(offset(origin, 90, linked_m), adcode=adcode)
    far = offset(origin, 0, 5000)
    register.enterprise(far, adcode=adcode)
    register.enterprise(offset(far, 90, apart_m), adcode=adcode)
    register.save()

    to_mercator = Transformer.from_crs(4490, 3857, always_xy=True)
    (x0, y0), (x1, y1) = (to_mercator.transform(*p) for p in (origin, offset(origin, 90, linked_m)))
    assert math.hypot(x1 - x0, y1 - y0) > 500  # what web Mercator would measure
    dlon = offset(origin, 90, linked_m)[0] - origin[0]
    assert dlon * 111_320 > 500  # what "degrees × 111.32 km" would measure

    assert clusters_of(conn, adcode) == [(a, b)]
    run = store.cluster_enterprises(conn, SYSTEM, adcode, rules=RULES)
    assert run.frame.srid == 4548  # CGCS2000 3° Gauss–Krüger CM 117E: both places are nearest 117E
    conn.rollback()


def _border_pair(
    conn: Connection, inside: str, outside: str
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Two points about 300 m apart on either side of the border of two counties."""
    row = conn.execute(
        text(
            "SELECT ST_AsBinary(a.geom) AS a, ST_AsBinary(b.geom) AS b, "
            "ST_AsBinary(ST_PointOnSurface(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom)))) AS p "
            "FROM jurisdictions a, jurisdictions b WHERE a.adcode = :a AND b.adcode = :b"
        ),
        {"a": inside, "b": outside},
    ).one()
    poly_a, poly_b = shapely.from_wkb(bytes(row.a)), shapely.from_wkb(bytes(row.b))
    border = shapely.from_wkb(bytes(row.p))
    p = (border.x, border.y) if border.geom_type == "Point" else border.representative_point().coords[0]
    for azimuth in range(0, 360, 15):
        here, there = offset(p, azimuth, 150), offset(p, azimuth + 180, 150)
        if poly_a.contains(Point(here)) and poly_b.contains(Point(there)):
            return here, there
    raise AssertionError("no crossing found")


def test_a_pair_straddling_a_county_border_is_cross_region(register: Register, conn: Connection) -> None:
    here, there = _border_pair(conn, "350505", "350521")
    a = register.enterprise(here, adcode="350505", levels=[2])
    b = register.enterprise(there, adcode="350521", levels=[1])
    register.save()

    run = store.cluster_enterprises(conn, SYSTEM, "350505", rules=RULES)
    found = store.cluster_members(conn, run)
    conn.rollback()
    (cluster,) = build_clusters(found.members, found.labels, found.hulls)
    assert cluster.member_ids == (a, b)
    assert cluster.cross_region
    assert [code for code, _ in cluster.jurisdictions] == ["350505", "350521"]
    assert cluster.level == 1  # 就高: the neighbour's major risk
    assert {m.id: m.inside for m in cluster.members} == {a: True, b: False}
    assert cluster.hull is not None
    assert cluster.hull.covers(shapely.MultiPoint([here, there]))

    # From the city both are inside; without the neighbours the county sees no cluster.
    assert clusters_of(conn, "350500") == [(a, b)]
    assert clusters_of(conn, "350505", neighbours=False) == []


def test_unknown_adcode_method_and_distance_are_refused(register: Register, conn: Connection) -> None:
    register.save()
    with pytest.raises(NotFound):
        store.cluster_enterprises(conn, SYSTEM, "999999")
    for bad in ({"distance_m": 0}, {"distance_m": 10_001}, {"method": "kmeans"}):
        with pytest.raises(InvalidInput):
            store.cluster_enterprises(conn, SYSTEM, "350505", **bad)  # type: ignore[arg-type]


# --- random points: PostGIS equals scikit-learn and the reference ------------------------------------------


def _random_points(n: int, seed: int, centre: tuple[float, float], epsg: int) -> np.ndarray:
    """Metric coordinates: 70 % uniform over an 80 km square, 30 % in 150 clumps (σ 400 m)."""
    rng = np.random.default_rng(seed)
    x0, y0 = Transformer.from_crs(4490, epsg, always_xy=True).transform(*centre)
    uniform = rng.uniform(-40_000, 40_000, (int(n * 0.7), 2))
    clumps = rng.uniform(-35_000, 35_000, (150, 2))
    near = clumps[rng.integers(150, size=n - len(uniform))] + rng.normal(0, 400, (n - len(uniform), 2))
    return np.vstack([uniform, near]) + np.array([x0, y0])


def _store_points(
    register: Register, xy: np.ndarray, epsg: int, trades: Sequence[tuple[str, str]]
) -> list[int]:
    lon, lat = Transformer.from_crs(epsg, 4490, always_xy=True).transform(xy[:, 0], xy[:, 1])
    return [
        register.enterprise((float(x), float(y)), trades[i % len(trades)])
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    ]


def test_postgis_clusters_equal_scikit_learn_dbscan_on_10000_random_points(
    register: Register, conn: Connection
) -> None:
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    xy = _random_points(10_000, 42, QUANGANG, 4549)
    ids = _store_points(register, xy, 4549, [PLANT])
    register.save()

    run = store.cluster_enterprises(conn, SYSTEM, "350505", distance_m=500, rules=RULES)
    conn.rollback()
    assert run.frame.srid == 4549
    assert run.method == "dbscan"
    ours = partition(run.ids, run.labels)
    labels = sklearn_cluster.DBSCAN(eps=500, min_samples=1).fit(xy).labels_
    theirs = partition(ids, labels)
    assert len(ours) > 500  # a real mix of clusters, not one blob
    assert ours == theirs


def test_every_method_equals_the_reference_with_the_similarity_table(
    register: Register, conn: Connection
) -> None:
    trades = [PLANT, FUEL, LPG, ("urban_gas", "管道燃气经营"), ("special_equipment", "压力容器充装"), TEXTILE,
              ("dust_explosion", "粉尘涉爆-纺织纤维"), MILL, ("fireworks", "烟花爆竹零售"),
              ("civil_explosives", "爆破作业")]  # fmt: skip
    xy = _random_points(4_000, 7, QUANGANG, 4549)
    ids = _store_points(register, xy, 4549, trades)
    register.save()

    results = {}
    for method in ("cliques", "pairs", "auto"):
        run = store.cluster_enterprises(conn, SYSTEM, "350505", distance_m=700, rules=RULES, method=method)
        conn.rollback()
        results[method] = partition(run.ids, run.labels)
    with pytest.raises(InvalidInput):  # this similarity is not transitive: DBSCAN per group would over-link
        store.cluster_enterprises(conn, SYSTEM, "350505", distance_m=700, rules=RULES, method="dbscan")
    conn.rollback()

    index = run.links.index()
    trade_of = np.array([index[Trade(*trades[i % len(trades)])] for i in range(len(ids))])
    reference = partition(ids, reference_clusters(xy, trade_of, run.links, 700))
    assert results["cliques"] == results["pairs"] == results["auto"] == reference
    assert len(reference) > 50
    assert any(
        len({trades[(i - 1) % len(trades)][0] for i in c}) > 1 for c in reference
    )  # links across sectors


# --- neighbour notices -------------------------------------------------------------------------------------


def test_neighbour_notices_list_enterprises_and_targets_within_the_distance(
    register: Register, conn: Connection
) -> None:
    a = register.enterprise(QUANGANG, levels=[1, 3])
    b = register.enterprise(offset(QUANGANG, 90, 450), TOURISM, levels=[3])
    register.enterprise(offset(QUANGANG, 90, 550), TOURISM)
    here, there = offset(QUANGANG, 200, 300), offset(QUANGANG, 0, 700)
    school = register.target(here, "第一中学")
    register.target(there, "第二中学")
    register.save()

    found = store.neighbour_notices(conn, SYSTEM, "350505", distance_m=500)
    assert found.total == 1  # only the level-1 unit; level-3 units need no notice
    (unit,) = found.units
    assert unit.enterprise_id == a
    (neighbour,) = found.enterprises[unit.id]
    assert neighbour.id == b
    assert neighbour.distance_m == pytest.approx(450, abs=0.5)
    (target,) = found.targets[unit.id]
    assert target.id == school
    assert target.distance_m == pytest.approx(300, abs=0.5)
    assert store.neighbour_notices(conn, SYSTEM, "350505", distance_m=800).targets[unit.id][
        1
    ].distance_m == pytest.approx(700, abs=0.5)


def test_neighbour_notices_use_the_gist_indexes(register: Register, conn: Connection) -> None:
    xy = _random_points(5_000, 3, QUANGANG, 4549)
    _store_points(register, xy, 4549, [PLANT])
    for k in range(1_500):
        register.target(register.rows[k * 3]["geometry"].coords[0], f"目标{k}")
    register.save()
    frame = store.metric_frame(conn, SYSTEM, "350505")
    dlon, dlat = store.box_degrees(500, frame.max_abs_lat)
    params = {"ids": [1, 2, 3], "srid": frame.srid, "d": 500, "dlon": dlon, "dlat": dlat}
    plan = store.explain(conn, "notice_enterprises", params)
    assert "ix_enterprises_geom_gist" in plan
    assert "ix_enterprises_site_gist" in plan
    assert "ix_protection_targets_geom_gist" in store.explain(conn, "notice_targets", params)


# --- plans and key targets ---------------------------------------------------------------------------------


def test_roster_units_are_the_county_and_its_siblings(register: Register, conn: Connection) -> None:
    register.save()
    county = store.roster_units(conn, SYSTEM, "350505")
    assert county.parent_adcode == "350500"
    codes = [a for a, _ in county.units]
    assert "350505" in codes
    assert "350521" in codes
    assert all(c.startswith("3505") for c in codes)
    assert [a for a, _ in store.roster_units(conn, SYSTEM, "350500").units] == codes
    assert store.jurisdiction_paths(conn, ["350505"]) == {"350505": ("350505", "350500", "350000")}


def test_key_target_data_uses_parks_as_zones_of_a_county(register: Register, engine: Engine) -> None:
    east = offset(QUANGANG, 90, 2000)
    park = shapely.MultiPolygon([square_site(east, 800)])
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO jurisdictions (adcode, name, level, parent_adcode, geom, synthetic) "
                "VALUES ('350505P99', '测试园区', 'park', '350505', ST_GeomFromText(:wkt, 4490), true)"
            ),
            {"wkt": park.wkt},
        )
    inside = register.enterprise(east, levels=[1, 2])
    outside = register.enterprise(QUANGANG, levels=[4])
    register.save()
    with engine.connect() as c:
        data = store.key_target_data(c, SYSTEM, "350505")
        park_plan = store.plan_enterprises(c, SYSTEM, "350505P99")
        park_targets = store.key_target_data(c, SYSTEM, "350505P99")
    assert data.zone_kind == "park"
    assert [z.adcode for z in data.zones] == ["350505P99"]
    zones = {e.id: e.zone for e in data.enterprises}
    assert zones == {inside: "350505P99", outside: None}
    assert [r.id for r in park_plan] == [inside]
    assert [e.id for e in park_targets.enterprises] == [inside]  # a park holds what lies in it
