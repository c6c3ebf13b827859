"""Fixtures of the map tests: fresh copies of the hand-made frames in tests/maps/frames.py."""

from __future__ import annotations

import geopandas as gpd
import pytest

from tests.maps.frames import make_county_boundaries, make_enterprises, make_risk_units, make_zones


@pytest.fixture
def zones() -> gpd.GeoDataFrame:
    return make_zones()


@pytest.fixture
def enterprises() -> gpd.GeoDataFrame:
    return make_enterprises()


@pytest.fixture
def risk_units() -> gpd.GeoDataFrame:
    return make_risk_units()


@pytest.fixture
def county_boundaries() -> gpd.GeoDataFrame:
    """Named apart from tests/conftest.py's `boundaries`, which loads real boundaries into PostGIS."""
    return make_county_boundaries()
