"""The synthetic demo register: shape, places, codes, assessments, determinism."""

from __future__ import annotations

import datetime as dt
import re

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString

from geo.assessment import assess
from geo.boundaries import demo_boundaries, load_boundaries
from geo.codes import validate_credit_code, validate_phone
from geo.demo import (
    ENTERPRISE_COLUMNS,
    EXCLUDED_COUNTIES,
    PARK_COLUMNS,
    RISK_UNIT_COLUMNS,
    TARGET_COLUMNS,
    DemoRegister,
    derive_gb_class,
    enterprise_count,
    synthetic_register,
)
from geo.register import clean_enterprise, clean_protection_target, clean_risk_unit
from geo.vocab import accident_types, is_high_risk_sector, sectors, target_types

AS_OF = dt.date(2026, 3, 1)


@pytest.fixture(scope="module")
def demo_units() -> gpd.GeoDataFrame:
    """Every county-level unit of the demo regions (cnmaps), indexed by adcode."""
    frame = demo_boundaries()
    return frame[frame["level"] == "county"].set_index("adcode", drop=False)


@pytest.fixture(scope="module")
def register(demo_units: gpd.GeoDataFrame) -> DemoRegister:
    return synthetic_register(demo_units, seed=7, scale=0.1, as_of=AS_OF)


def _metric(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> gpd.GeoSeries:
    # One Gauss–Krüger zone is good enough for containment and rough lengths (areas use _geodesic_area).
    series = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    return series.to_crs(4547)


def test_columns_are_the_database_columns(register: DemoRegister) -> None:
    from geo.store import models

    skip = {"id", "enterprise_id", "created_at", "created_by", "updated_at", "version"}  # server-kept
    for table, frame in register.tables().items():
        db = [
            c.name
            for c in models.Base.metadata.tables[table].columns
            if c.name not in skip and c.computed is None
        ]
        ours = ["geom" if c == "geometry" else c for c in frame.columns if c != "enterprise_credit_code"]
        assert sorted(ours) == sorted(db), table
        assert frame.crs.to_epsg() == 4490
        assert frame["synthetic"].all()
    assert list(register.parks.columns) == PARK_COLUMNS
    assert list(register.enterprises.columns) == ENTERPRISE_COLUMNS
    assert list(register.risk_units.columns) == RISK_UNIT_COLUMNS
    assert list(register.protection_targets.columns) == TARGET_COLUMNS


def test_enterprise_counts_follow_land_area(demo_units: gpd.GeoDataFrame) -> None:
    areas = _metric(demo_units).area / 1e6
    for code, km2 in areas.items():
        if code in EXCLUDED_COUNTIES:
            continue
        assert 300 <= enterprise_count(km2) <= 2000, code
    assert enterprise_count(0) == 300
    assert enterprise_count(5000) == 2000
    assert enterprise_count(1000, scale=0.1) == 90


def test_scale_one_on_a_small_district() -> None:
    lichang = load_boundaries(["350502"], with_ancestors=False)
    reg = synthetic_register(lichang, scale=1.0, as_of=AS_OF)
    expected = enterprise_count(float(_metric(lichang).area.iloc[0]) / 1e6)
    assert 300 <= len(reg.enterprises) == expected <= 2000
    # ~60–70 % of the firms sit in the district's park.
    park = reg.parks.geometry.iloc[0]
    share = reg.enterprises.within(park).mean()
    assert 0.55 <= share <= 0.75


def test_everything_is_inside_its_county(register: DemoRegister, demo_units: gpd.GeoDataFrame) -> None:
    # Compare in metres: 1 m of slack for the round trip through the Gauss–Krüger zone.
    counties = _metric(demo_units)
    grown = counties.buffer(1.0)
    for name, frame in (("enterprises", register.enterprises), ("risk units", register.risk_units),
                        ("targets", register.protection_targets)):  # fmt: skip
        metric = _metric(frame)
        home = grown.loc[frame["jurisdiction_adcode"]].values
        assert metric.within(gpd.GeoSeries(home, crs=metric.crs), align=False).all(), name
    ent = register.enterprises
    exact = counties.loc[ent["jurisdiction_adcode"]].values
    assert _metric(ent).within(gpd.GeoSeries(exact, crs=4547), align=False).all()
    sites = ent[ent["site"].notna()]
    site_geoms = _metric(gpd.GeoSeries(list(sites["site"]), crs=4490))
    assert site_geoms.within(
        gpd.GeoSeries(grown.loc[sites["jurisdiction_adcode"]].values, crs=4547), align=False
    ).all()
    assert site_geoms.is_valid.all()
    hectares = _geodesic_area(sites["site"]) / 1e4
    assert hectares.between(0.2, 21).all()
    assert 0.35 < len(sites) / len(ent) < 0.65
    parks = register.parks
    assert (
        _metric(parks)
        .within(gpd.GeoSeries(counties.loc[parks["parent_adcode"]].values, crs=4547), align=False)
        .all()
    )


def test_no_register_in_kinmen(register: DemoRegister) -> None:
    for frame in (register.enterprises, register.risk_units, register.protection_targets):
        assert "350527" not in set(frame["jurisdiction_adcode"])
    assert not any(code.startswith("350527") for code in register.parks["adcode"])
    assert register.enterprises["jurisdiction_adcode"].nunique() == 18


def test_parks(register: DemoRegister) -> None:
    parks = register.parks.set_index("adcode")
    assert all(re.fullmatch(r"\d{6}P\d{2}", code) for code in parks.index)
    assert (parks["level"] == "park").all()
    assert (parks.index.str[:6] == parks["parent_adcode"]).all()
    assert parks.loc["350505P01", "name"] == "泉港石化工业园区"
    assert parks.geometry.geom_type.eq("MultiPolygon").all()
    assert parks.geometry.is_valid.all()
    km2 = _geodesic_area(register.parks.geometry) / 1e6
    assert km2.between(0.3, 13).all()
    # 泉港's park is a chemical park.
    quangang = register.enterprises[register.enterprises.within(parks.loc["350505P01", "geometry"])]
    assert (quangang["sector"] == "hazardous_chemicals").mean() > 0.5


def test_enterprise_fields(register: DemoRegister) -> None:
    ent = register.enterprises
    assert ent["credit_code"].is_unique
    for code, adcode in zip(ent["credit_code"], ent["jurisdiction_adcode"], strict=True):
        assert validate_credit_code(code) == code
        assert code[:2] == "91"
        assert code[2:8] == adcode
    assert ent["name"].is_unique
    assert ent["name"].str.endswith(("有限公司", "加油站")).all()
    assert set(ent["sector"]) <= set(sectors())
    assert ent.geometry.geom_type.eq("Point").all()
    for phone in ent["contact_phone"]:
        assert re.fullmatch(r"1[3-9]\d{9}", phone)
        assert validate_phone(phone) == phone
    assert ent["employees"].ge(1).all()
    assert ent["supervising_department"].str.endswith(("局", "大队")).all()
    assert ent["business_type"].notna().all()
    assert ent["address"].notna().all()
    for row in ent.head(200).to_dict("records"):
        clean_enterprise({k: row[k] for k in ("credit_code", "sector", "contact_phone")})


def test_units_levels_agree_with_their_assessment(register: DemoRegister) -> None:
    units = register.risk_units
    assert set(units["level"]) == {1, 2, 3, 4}
    share = units["level"].value_counts(normalize=True)
    assert 0.01 < share[1] < 0.07
    assert 0.07 < share[2] < 0.2
    assert 0.25 < share[3] < 0.45
    assert 0.4 < share[4] < 0.6
    for row in units.itertuples(index=False):
        if row.assessment_method == "direct":
            assert row.assessment_inputs is None
            assert pd.isna(row.assessment_score)
            assert assess("direct", None, level=row.level).level == row.level
            continue
        a = assess(row.assessment_method, row.assessment_inputs, table=row.assessment_table)
        assert a.level == row.level
        assert a.score == row.assessment_score
    assert {"LEC", "LS", "MES"} <= set(units["assessment_method"])


def test_units_are_registered_sensibly(register: DemoRegister) -> None:
    units = register.risk_units
    ent = register.enterprises.set_index("credit_code")
    mine = units[units["kind"] == "enterprise"]
    public = units[units["kind"] == "public_area"]
    assert mine["enterprise_credit_code"].isin(ent.index).all()
    assert mine["sector"].isna().all()
    assert public["enterprise_credit_code"].isna().all()
    assert public["sector"].notna().all()
    per_enterprise = mine.groupby("enterprise_credit_code").size()
    assert per_enterprise.between(1, 6).all()
    assert len(per_enterprise) == len(ent)
    assert not mine.duplicated(["enterprise_credit_code", "name"]).any()
    assert units.geometry.is_valid.all()
    known = set(accident_types())
    assert all(types and set(types) <= known for types in units["accident_types"])
    assert units["hazards"].notna().all()
    assert units["control_measures"].notna().all()
    # Control level follows the level; public areas have none.
    assert (mine.loc[mine["level"] == 1, "control_level"] == "company").all()
    assert set(mine.loc[mine["level"] == 4, "control_level"]) <= {"post", "team"}
    assert public["control_level"].isna().all()
    # Dates: never in the future; due one year on for high-risk sectors, three otherwise; some overdue.
    sector_of = mine["enterprise_credit_code"].map(ent["sector"]).where(mine["kind"] == "enterprise")
    rule_sector = sector_of.combine_first(units["sector"])
    for assessed, due, sector in zip(
        units["assessed_on"], units["next_assessment_due"], rule_sector, strict=True
    ):
        assert AS_OF - dt.timedelta(days=3 * 365 + 183) <= assessed < AS_OF
        years = 1 if is_high_risk_sector(sector) else 3
        assert due.year - assessed.year == years
        assert due.month == assessed.month
    overdue = (units["next_assessment_due"] < AS_OF).mean()
    assert 0.05 < overdue < 0.3
    # Occupancy of dust and ammonia rooms: within the limit of 10 (seed 002 三(四)3), a few at it.
    limited = units.loc[rule_sector.isin(["dust_explosion", "ammonia_refrigeration"]), "max_occupancy"]
    assert limited.notna().all()
    assert (limited <= 10).all()
    assert (limited == 10).any()
    assert (
        units.loc[~rule_sector.isin(["dust_explosion", "ammonia_refrigeration"]), "max_occupancy"]
        .isna()
        .all()
    )
    # Shapes: points, small polygons and pipe runs.
    assert set(units.geometry.geom_type) == {"Point", "Polygon", "LineString"}
    # The register's own rules accept the rows.
    for row in units.sample(300, random_state=1).to_dict("records"):
        props = {k: (None if k == "max_occupancy" and pd.isna(v) else v) for k, v in row.items()}
        owner = ent.loc[row["enterprise_credit_code"], "sector"] if row["kind"] == "enterprise" else None
        cleaned = clean_risk_unit(props, owner_sector=owner)
        assert cleaned["level"] == row["level"]


def test_public_area_risks(register: DemoRegister) -> None:
    public = register.risk_units[register.risk_units["kind"] == "public_area"]
    gas = public[public["sector"] == "urban_gas"]
    assert len(gas) >= 3 * 18
    assert gas.geometry.map(lambda g: isinstance(g, LineString)).all()
    assert (_metric(gas).length > 600).mean() > 0.8
    assert {"fire_safety", "tourism", "road_transport", "water_supply", "drainage"} <= set(public["sector"])
    crowded = public[public["sector"].isin(["fire_safety", "tourism"])]
    assert crowded.geometry.geom_type.eq("Polygon").all()
    assert set(public["level"]) == {1, 2, 3, 4} or len(set(public["level"])) >= 3


def test_protection_targets(register: DemoRegister) -> None:
    targets = register.protection_targets
    assert set(targets["type"]) <= set(target_types())
    assert {"school", "kindergarten", "hospital", "care_home", "residential", "village"} <= set(
        targets["type"]
    )
    assert targets["gb_class_derived"].all()
    for row in targets.itertuples(index=False):
        pop = None if pd.isna(row.population) else int(row.population)
        hh = None if pd.isna(row.households) else int(row.households)
        assert row.gb_class == derive_gb_class(row.type, pop, hh)
    assert {"high_sensitive", "general_1", "general_2", "general_3"} <= set(targets["gb_class"])
    assert targets.loc[targets["type"] == "village"].geometry.geom_type.eq("Point").all()
    assert (
        targets.loc[targets["type"] == "residential"]
        .geometry.geom_type.isin(["Polygon", "MultiPolygon"])
        .all()
    )
    for row in targets.head(100).to_dict("records"):
        clean_protection_target(
            {"type": row["type"], "population": row["population"], "households": row["households"]}
        )
    # Some sit close to the 泉港 chemical park, for the safety-distance checks.
    park = register.parks.set_index("adcode").loc["350505P01", "geometry"]
    near = _metric(targets).distance(_metric(gpd.GeoSeries([park], crs=4490)).iloc[0])
    assert ((near > 50) & (near < 900)).sum() >= 4


def test_same_seed_same_register_and_counties_independent(demo_units: gpd.GeoDataFrame) -> None:
    two = demo_units.loc[["350505", "340303"]]
    first = synthetic_register(two, seed=11, scale=0.05, as_of=AS_OF)
    again = synthetic_register(two, seed=11, scale=0.05, as_of=AS_OF)
    for table, frame in first.tables().items():
        pd.testing.assert_frame_equal(_comparable(frame), _comparable(again.tables()[table]), obj=table)
    # Adding a county leaves the others as they were.
    three = synthetic_register(
        demo_units.loc[["350505", "340303", "370405"]], seed=11, scale=0.05, as_of=AS_OF
    )
    ent = three.enterprises[three.enterprises["jurisdiction_adcode"] != "370405"].reset_index(drop=True)
    pd.testing.assert_frame_equal(_comparable(first.enterprises), _comparable(ent))
    other = synthetic_register(two, seed=12, scale=0.05, as_of=AS_OF)
    assert set(other.enterprises["credit_code"]).isdisjoint(first.enterprises["credit_code"])


def _geodesic_area(geoms: pd.Series) -> pd.Series:
    geod = Geod(ellps="GRS80")
    return pd.Series([abs(geod.geometry_area_perimeter(g)[0]) for g in geoms], index=geoms.index)


def _comparable(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    out = pd.DataFrame(frame.drop(columns="geometry"))
    out["wkb"] = shapely.to_wkb(frame.geometry.values)
    if "site" in out:
        out["site"] = [None if g is None else shapely.to_wkb(g) for g in out["site"]]
    for col in ("assessment_inputs", "accident_types"):
        if col in out:
            out[col] = out[col].map(repr)
    return out
