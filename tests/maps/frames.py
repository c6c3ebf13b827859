"""Small hand-made frames in the shapes the four-colour analysis and the register return."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import LineString, Point, box

# A strip of five townships near 泉港区 (lon 118.8°E, lat 25.05°N), each 0.06° × 0.08° (about 6 × 9 km).
X0, Y0, W = 118.80, 25.05, 0.06

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "maps"

ENTERPRISE_NAMES = ["泉港石化有限公司", "福建省某某化工厂", "南埔燃气储配站"]
CREDIT_CODES = ["91350505MA2XXXXX1A", "91350505MA2YYYYY2B", "91350505MA2ZZZZZ3C"]
CONTACT_PEOPLE = ["张三丰", "李四海", "王五湖"]
CONTACT_PHONES = ["13800000001", "13800000002", "13800000003"]
UNIT_NAMES = ["常压储罐区", "南埔燃气中压管线", "液氯装卸台"]
RESPONSIBLE_PEOPLE = ["赵六合", "孙七星", "周八方"]
RESPONSIBLE_PHONES = ["13900000001", "13900000002", "13900000003"]


def make_zones() -> gpd.GeoDataFrame:
    """Five zones: one of each level 1–4 and one without risk units."""
    return gpd.GeoDataFrame(
        {
            "code": ["350505001", "350505002", "350505003", "350505004", "350505005"],
            "name": ["山腰街道", "南埔镇", "界山镇", "后龙镇", "涂岭镇"],
            "level": pd.array([1, 2, 3, 4, None], dtype="Int64"),
            "color": ["#FF0000", "#FF7F00", "#FFFF00", "#0000FF", None],
            "counts": [
                {1: 1, 2: 1, 3: 0, 4: 0},
                {1: 0, 2: 1, 3: 1, 4: 0},
                {1: 0, 2: 1, 3: 0, 4: 0},
                {1: 0, 2: 1, 3: 0, 4: 0},
                {1: 0, 2: 0, 3: 0, 4: 0},
            ],
            "area_share": [{1: 0.02, 2: 0.0, 3: 0.0, 4: 0.0}, {}, {}, {}, {}],
            "enterprise_ids": [[1, 2], [3], [], [], []],
            "unit_count": [2, 2, 1, 1, 0],
        },
        geometry=[box(X0 + i * W, Y0, X0 + (i + 1) * W, Y0 + 0.08) for i in range(5)],
        crs=4490,
    )


def make_enterprises() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": [1, 2, 3],
            "name": ENTERPRISE_NAMES,
            "sector": ["hazardous_chemicals", "hazardous_chemicals", "hazardous_chemicals"],
            "level": pd.array([1, 3, 2], dtype="Int64"),
            "credit_code": CREDIT_CODES,
            "contact_person": CONTACT_PEOPLE,
            "contact_phone": CONTACT_PHONES,
            "risk_unit_count": [1, 1, 0],
        },
        geometry=[Point(X0 + 0.02, Y0 + 0.03), Point(X0 + 0.045, Y0 + 0.05), Point(X0 + 0.09, Y0 + 0.04)],
        crs=4490,
    )


def make_risk_units() -> gpd.GeoDataFrame:
    """A tank farm (polygon), a gas pipeline across four zones (line) and a loading bay (point)."""
    return gpd.GeoDataFrame(
        {
            "id": [10, 11, 12],
            "name": UNIT_NAMES,
            "level": pd.array([1, 2, 3], dtype="Int64"),
            "kind": ["enterprise", "public_area", "enterprise"],
            "enterprise_id": [1, None, 2],
            "sector": ["hazardous_chemicals", "gas", "hazardous_chemicals"],
            "accident_types": [["08", "17"], ["18", "19"], ["19"]],
            "control_measures": [
                "储罐区设置可燃气体报警和紧急切断",
                "每日巡线，第三方施工报备",
                "装卸作业双人确认",
            ],
            "responsible_person": RESPONSIBLE_PEOPLE,
            "responsible_phone": RESPONSIBLE_PHONES,
        },
        geometry=[
            box(X0 + 0.015, Y0 + 0.025, X0 + 0.025, Y0 + 0.035),
            LineString([(X0 + 0.01, Y0 + 0.06), (X0 + 0.23, Y0 + 0.065)]),
            Point(X0 + 0.045, Y0 + 0.052),
        ],
        crs=4490,
    )


def make_county_boundaries() -> gpd.GeoDataFrame:
    """The county outline."""
    return gpd.GeoDataFrame(
        {"adcode": ["350505"], "name": ["泉港区"], "level": ["county"]},
        geometry=[box(X0, Y0, X0 + 5 * W, Y0 + 0.08)],
        crs=4490,
    )
