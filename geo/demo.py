"""Deterministic synthetic risk register (parks, enterprises, risk units, protection targets) for demo counties.

Pure: county boundaries and a seed in, GeoDataFrames (EPSG:4490, columns named as in geo/store/models.py) out.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate, product
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geo import vocab
from geo.assessment import Assessment, assess, factors
from geo.boundaries import admin_unit
from geo.codes import make_credit_code
from geo.coords import STORAGE_EPSG, gauss_kruger_epsg
from geo.errors import InvalidInput, NotFound
from geo.targets import derive_gb_class

__all__ = [
    "ENTERPRISE_COLUMNS",
    "EXCLUDED_COUNTIES",
    "PARK_COLUMNS",
    "RISK_UNIT_COLUMNS",
    "SYNTHETIC_SOURCE",
    "TARGET_COLUMNS",
    "DemoRegister",
    "derive_gb_class",
    "enterprise_count",
    "synthetic_register",
    "target_count",
]

_T = TypeVar("_T")

SYNTHETIC_SOURCE = "riskmap synthetic demo (geo.demo)"

# Counties that get no synthetic register. 金门县 is listed under 泉州市 by cnmaps (and by GB/T 2260), but it
# is administered by the Taiwan authorities in practice: a demo register there would be fiction of the
# wrong kind. Its boundary stays in the jurisdictions.
EXCLUDED_COUNTIES: dict[str, str] = {
    "350527": "金门县: administered by the Taiwan authorities in practice",
    "710000": "台湾省: administered by the Taiwan authorities in practice",
}

# Column lists: the DB columns of geo/store/models.py minus ids, timestamps, version and computed columns.
# The geometry column (DB `geom`) is the GeoDataFrame's `geometry`, as in load_boundaries() and in the
# repository's rows; an enterprise's `site` is a second, plain shapely column. Risk units name their enterprise
# by credit code (enterprise_credit_code) since ids exist only once stored.
PARK_COLUMNS = ["adcode", "name", "level", "parent_adcode", "geometry", "source", "synthetic"]
ENTERPRISE_COLUMNS = [
    "credit_code", "name", "sector", "business_type", "address", "geometry", "site", "employees",
    "supervising_department", "contact_person", "contact_phone", "jurisdiction_adcode", "synthetic",
]  # fmt: skip
RISK_UNIT_COLUMNS = [
    "enterprise_credit_code", "kind", "name", "sector", "geometry", "level", "assessment_method",
    "assessment_inputs", "assessment_score", "assessment_table", "accident_types", "hazards",
    "control_measures", "control_level", "responsible_department", "responsible_person", "responsible_phone",
    "assessed_on", "next_assessment_due", "max_occupancy", "hazard_kind", "capacity_m3", "jurisdiction_adcode",
    "synthetic",
]  # fmt: skip
TARGET_COLUMNS = [
    "name", "type", "gb_class", "gb_class_derived", "population", "population_estimated", "households", "address",
    "geometry", "jurisdiction_adcode", "synthetic",
]  # fmt: skip


@dataclass
class DemoRegister:
    """The synthetic register: one GeoDataFrame per table, all EPSG:4490, all rows synthetic=True."""

    parks: gpd.GeoDataFrame
    enterprises: gpd.GeoDataFrame
    risk_units: gpd.GeoDataFrame
    protection_targets: gpd.GeoDataFrame

    def tables(self) -> dict[str, gpd.GeoDataFrame]:
        """Frames by DB table name (parks go to jurisdictions)."""
        return {
            "jurisdictions": self.parks,
            "enterprises": self.enterprises,
            "risk_units": self.risk_units,
            "protection_targets": self.protection_targets,
        }

    def counts(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.tables().items()}


# --- size rules ----------------------------------------------------------------------------------------------

# A county has ~10^4 legal-person units (domain.md §8); the register holds the few hundred to two thousand that
# carry safety risks worth registering. Rule: 300 + 0.6 per km² of land, capped at 2,000, times `scale`.
_ENTERPRISES_BASE = 300
_ENTERPRISES_PER_KM2 = 0.6
_ENTERPRISES_MAX = 2000
# "A few per 10 km²" protection targets: 0.3 per km² of land, at least 30 (times `scale`, at least 5).
_TARGETS_PER_KM2 = 0.3
_TARGETS_MIN = 30


def enterprise_count(area_km2: float, scale: float = 1.0) -> int:
    """Enterprises generated for a county of this land area: clip(300 + 0.6·km², 300, 2000) × scale (≥ 1)."""
    base = min(max(_ENTERPRISES_BASE + _ENTERPRISES_PER_KM2 * area_km2, _ENTERPRISES_BASE), _ENTERPRISES_MAX)
    return max(1, round(base * scale))


def target_count(area_km2: float, scale: float = 1.0) -> int:
    """Protection targets generated for a county: max(0.3·km², 30) × scale (≥ 5)."""
    return max(5, round(max(_TARGETS_PER_KM2 * area_km2, _TARGETS_MIN) * scale))


# --- sectors: weights, business types, units -----------------------------------------------------------------

# Sector mix of an ordinary county's register (relative weights); county profiles multiply them.
_BASE_WEIGHTS: dict[str, float] = {
    "industry_trade": 36, "construction": 9, "dust_explosion": 7, "ammonia_refrigeration": 4,
    "hazardous_chemicals": 8, "special_equipment": 6, "road_transport": 6, "fire_safety": 10,
    "non_coal_mine": 2, "fireworks": 1.5, "metal_smelting": 1.5, "urban_gas": 1.2, "tourism": 1.5,
    "civil_explosives": 0.3, "oil_gas_pipeline": 0.2, "other": 3,
}  # fmt: skip

# Sectors that do not sit in industrial parks (mines, fireworks works and magazines keep away from others;
# shops, sites and scenic areas are where the people are).
_NOT_IN_PARKS = frozenset(
    {"non_coal_mine", "fireworks", "civil_explosives", "tourism", "fire_safety", "construction", "urban_gas"}
)
# Where scattered enterprises of a sector go: near towns, or anywhere in the county (remote).
_URBAN = frozenset(
    {"fire_safety", "construction", "road_transport", "special_equipment", "urban_gas", "other"}
)
_REMOTE = frozenset({"non_coal_mine", "fireworks", "civil_explosives", "tourism", "oil_gas_pipeline"})


@dataclass(frozen=True)
class _Profile:
    """What makes a demo county's register look like its economy (from public knowledge, roughly)."""

    multipliers: dict[str, float] = field(default_factory=dict)
    park_sectors: tuple[str, ...] = ("industry_trade",)
    park_names: tuple[str, ...] = ()
    mountainous: bool = False  # tighter town clusters


_URBAN_DISTRICT = {"non_coal_mine": 0.0, "fireworks": 0.3, "metal_smelting": 0.3, "fire_safety": 2.0,
                   "construction": 1.5, "tourism": 0.7}  # fmt: skip
_MOUNTAINS = {"non_coal_mine": 3.5, "tourism": 1.5, "fire_safety": 0.7}
_DEHONG = {
    **_MOUNTAINS,
    "fireworks": 2.5,
    "ammonia_refrigeration": 1.3,
    "tourism": 2.0,
    "hazardous_chemicals": 0.8,
}

_PROFILES: dict[str, _Profile] = {
    # 泉州市
    "350502": _Profile(_URBAN_DISTRICT),  # 鲤城区
    "350503": _Profile(_URBAN_DISTRICT),  # 丰泽区
    "350504": _Profile({"non_coal_mine": 2.0}),  # 洛江区
    # 泉港区: the petrochemical base on 湄洲湾 (seed 001); its chemical firms sit in the park.
    "350505": _Profile(
        {"hazardous_chemicals": 4.0, "road_transport": 1.5, "industry_trade": 0.8},
        park_sectors=("hazardous_chemicals",),
        park_names=("泉港石化工业园区",),
    ),
    "350521": _Profile(  # 惠安县: the other shore of the 泉港/惠安 petrochemical area, stone carving
        {"hazardous_chemicals": 1.5, "industry_trade": 1.2},
        park_sectors=("industry_trade", "hazardous_chemicals"),
    ),
    "350524": _Profile({**_MOUNTAINS, "dust_explosion": 1.3}, mountainous=True),  # 安溪县
    "350525": _Profile(_MOUNTAINS, mountainous=True),  # 永春县
    "350526": _Profile({**_MOUNTAINS, "industry_trade": 1.3}, mountainous=True),  # 德化县 (ceramics, kaolin)
    "350581": _Profile(
        {"non_coal_mine": 0.0, "industry_trade": 1.2, "dust_explosion": 1.3},  # 石狮市 (textiles)
        park_sectors=("dust_explosion",),
    ),
    "350582": _Profile({"non_coal_mine": 0.2, "industry_trade": 1.3, "dust_explosion": 1.3}),  # 晋江市
    "350583": _Profile({"non_coal_mine": 3.0, "industry_trade": 1.2}),  # 南安市 (stone)
    # 蚌埠市蚌山区 (seed 002): an urban district.
    "340303": _Profile({**_URBAN_DISTRICT, "ammonia_refrigeration": 1.5}),
    # 枣庄市台儿庄区 (seed 004)
    "370405": _Profile(
        {"fireworks": 4.0, "hazardous_chemicals": 1.5, "dust_explosion": 1.2},
        park_sectors=("industry_trade", "hazardous_chemicals"),
    ),
    # 德宏州 (seed 003): mountains, border trade, sugar mills.
    "533102": _Profile({**_DEHONG, "road_transport": 1.5}, mountainous=True),  # 瑞丽市
    "533103": _Profile(_DEHONG, mountainous=True),  # 芒市
    "533122": _Profile(_DEHONG, mountainous=True),  # 梁河县
    "533123": _Profile(_DEHONG, mountainous=True),  # 盈江县
    "533124": _Profile(_DEHONG, mountainous=True),  # 陇川县
}

# 业态 by sector: (business type, weight in parks, weight elsewhere, name words, employees median)
_BusinessType = tuple[str, float, float, tuple[str, ...], int]
_BUSINESS_TYPES: dict[str, tuple[_BusinessType, ...]] = {
    "hazardous_chemicals": (
        ("危化品生产", 6, 0.5, ("石化", "化工", "新材料", "精细化工", "化学"), 180),
        ("危化品储存", 2.5, 0.3, ("石化仓储", "化工储运", "港务储运"), 60),
        ("危化品使用", 1.5, 0.5, ("化工科技", "材料科技"), 80),
        ("加油站", 0, 5, ("加油站", "石油销售", "能源"), 12),
        ("加气站", 0, 1, ("燃气加气站", "清洁能源"), 10),
        ("危化品经营（带储存）", 0, 1.5, ("化工贸易", "化工物资"), 15),
        ("危化品经营（不带储存）", 0, 1, ("化工贸易", "化工原料"), 6),
    ),
    "fireworks": (
        ("烟花爆竹生产", 0, 3, ("烟花爆竹", "花炮"), 60),
        ("烟花爆竹批发", 0, 1, ("烟花爆竹贸易", "花炮经营"), 12),
        ("烟花爆竹零售", 0, 4, ("烟花爆竹零售", "花炮商行"), 3),
    ),
    "civil_explosives": (
        ("民用爆炸物品销售", 0, 1, ("民爆器材", "民爆物品"), 20),
        ("爆破作业", 0, 1, ("爆破工程", "爆破"), 40),
    ),
    "non_coal_mine": (
        ("露天采石场", 0, 5, ("石材矿业", "矿业", "采石"), 40),
        ("地下金属矿山", 0, 1.5, ("矿业", "有色矿业"), 150),
        ("尾矿库", 0, 0.7, ("矿业", "选矿"), 20),
        ("砂石开采", 0, 3, ("砂石", "建材"), 25),
    ),
    "metal_smelting": (
        ("钢铁冶炼", 1, 1, ("钢铁", "特钢"), 400),
        ("铝加工（熔铸）", 2, 1, ("铝业", "金属制品"), 150),
        ("铜冶炼", 1, 0.5, ("铜业", "有色金属"), 200),
    ),
    "industry_trade": (
        ("机械制造", 3, 2, ("机械", "机电", "装备制造"), 80),
        ("纺织服装", 2, 2, ("纺织", "服饰", "织造"), 120),
        ("鞋业制造", 2, 2, ("鞋业", "鞋材"), 150),
        ("陶瓷制造", 1, 1, ("陶瓷", "瓷业"), 90),
        ("食品加工", 2, 2, ("食品", "农产品"), 60),
        ("建材（石材加工）", 1, 2, ("石材", "建材"), 40),
        ("造纸及纸制品", 1, 0.5, ("纸业", "包装"), 70),
        ("家具制造", 1, 1, ("家具", "家居"), 50),
    ),
    "dust_explosion": (
        ("粉尘涉爆-木材加工", 2, 2, ("木业", "工艺品"), 45),
        ("粉尘涉爆-金属抛光", 2, 1, ("五金", "金属制品"), 40),
        ("粉尘涉爆-粮食加工", 1, 1.5, ("粮油", "米业", "面粉"), 35),
        ("粉尘涉爆-纺织纤维", 1.5, 1, ("纺织", "纤维"), 90),
        ("粉尘涉爆-饲料加工", 1, 1, ("饲料", "生物科技"), 30),
    ),
    "ammonia_refrigeration": (
        ("冷库（涉氨制冷）", 1, 2, ("冷链物流", "冷冻"), 25),
        ("水产品加工（涉氨制冷）", 1, 1.5, ("水产", "海产品"), 70),
        ("肉类加工（涉氨制冷）", 1, 1, ("食品", "肉类加工"), 90),
    ),
    "construction": (
        ("房屋建筑施工", 0, 3, ("建设工程", "建筑工程"), 180),
        ("市政工程施工", 0, 1, ("市政工程", "路桥"), 120),
        ("交通工程施工", 0, 0.7, ("交通建设", "路桥工程"), 150),
    ),
    "special_equipment": (
        ("锅炉使用", 1, 1, ("热能", "能源科技"), 30),
        ("压力容器充装", 1, 1, ("气体", "工业气体"), 20),
        ("起重机械使用", 1, 1, ("起重设备", "吊装"), 30),
        ("电梯维保", 0, 1, ("电梯工程", "电梯"), 25),
    ),
    "road_transport": (
        ("危险货物道路运输", 1, 1, ("危险品运输", "化工物流"), 60),
        ("道路旅客运输", 0, 1, ("客运", "汽车运输"), 120),
        ("普通货物运输", 1, 2, ("物流", "货运"), 40),
    ),
    "fire_safety": (
        ("商场超市", 0, 2, ("商贸", "购物中心"), 60),
        ("宾馆酒店", 0, 1.5, ("酒店管理", "大酒店"), 50),
        ("娱乐场所", 0, 1, ("娱乐", "文化传播"), 20),
        ("农贸市场", 0, 1, ("市场管理", "农贸市场"), 15),
    ),
    "urban_gas": (
        ("管道燃气经营", 0, 1, ("燃气", "天然气"), 80),
        ("瓶装液化气供应站", 0, 2, ("液化气", "燃气供应"), 8),
    ),
    "oil_gas_pipeline": (("油气管道运营", 1, 1, ("管道", "天然气管网"), 40),),
    "tourism": (("景区经营", 0, 1, ("旅游开发", "文化旅游"), 60),),
    "other": (
        ("仓储物流", 1, 1, ("仓储", "物流"), 20),
        ("其他", 1, 1, ("实业", "贸易"), 15),
    ),
}

# Share of enterprises that register a site polygon, and its median area (ha), by sector.
_SITE: dict[str, tuple[float, float]] = {
    "hazardous_chemicals": (0.9, 4.0), "fireworks": (0.8, 3.0), "civil_explosives": (0.9, 3.0),
    "non_coal_mine": (0.95, 10.0), "metal_smelting": (0.9, 8.0), "industry_trade": (0.45, 1.5),
    "dust_explosion": (0.5, 1.2), "ammonia_refrigeration": (0.6, 1.0), "construction": (0.6, 2.0),
    "special_equipment": (0.3, 1.0), "road_transport": (0.4, 1.5), "fire_safety": (0.25, 0.8),
    "urban_gas": (0.8, 1.5), "oil_gas_pipeline": (0.5, 1.0), "tourism": (0.9, 15.0), "other": (0.2, 0.8),
}  # fmt: skip
_SITE_HA = (0.5, 20.0)

# Level mix (levels 1–4) by risk tier. Tuned so that a whole demo county lands near 3 / 12 / 35 / 50 %.
_LEVEL_MIX = {
    "high": (0.10, 0.26, 0.37, 0.27),
    "medium": (0.035, 0.13, 0.39, 0.445),
    "low": (0.011, 0.07, 0.33, 0.589),
}
_HIGH_TIER = frozenset(
    {"hazardous_chemicals", "fireworks", "civil_explosives", "metal_smelting", "non_coal_mine", "urban_gas",
     "oil_gas_pipeline"}
)  # fmt: skip
_MEDIUM_TIER = frozenset(
    {"dust_explosion", "ammonia_refrigeration", "construction", "special_equipment", "road_transport"}
)
# Business types riskier or tamer than their sector.
_TIER_OVERRIDE = {
    "加油站": "medium", "加气站": "medium", "烟花爆竹零售": "low", "危化品经营（不带储存）": "low",
    "电梯维保": "low", "危险货物道路运输": "high",
}  # fmt: skip

# Units per enterprise (inclusive range) by sector; business-type overrides for tiny operations.
_UNITS_PER_ENTERPRISE = {
    "hazardous_chemicals": (3, 6),
    "metal_smelting": (3, 6),
    "fireworks": (3, 6),
    "non_coal_mine": (3, 6),
    "ammonia_refrigeration": (2, 5),
    "urban_gas": (2, 4),
}
_UNITS_OVERRIDE = {"加油站": (2, 4), "加气站": (2, 3), "烟花爆竹零售": (1, 2), "危化品经营（不带储存）": (1, 2),
                   "电梯维保": (1, 2), "危化品经营（带储存）": (2, 3), "烟花爆竹批发": (2, 3)}  # fmt: skip
_UNITS_DEFAULT = (1, 4)


@dataclass(frozen=True)
class _UnitTemplate:
    """A kind of risk point: name ('#' → numbered, may repeat), shape, GB 6441 types, text; hot ranks which
    units of an enterprise take its highest drawn levels."""

    name: str
    shape: str  # 'point' | 'area' | 'line'
    accidents: tuple[str, ...]
    hazards: str
    measures: str
    hot: int = 1


# Risk-point kinds by sector (or by 业态 where it differs: 加油站, 加气站, 烟花爆竹零售), then the public-area kinds.
# Three lines each: key | name ('#' is numbered: 1#储罐区, 2#储罐区; '-' none) | shape | GB 6441 accident types |
# hot (which kinds take an enterprise's highest drawn levels); the hazards; the control measures.
_UNIT_TABLE = """
hazardous_chemicals | #储罐区 | area | 08 17 18 19 | 2
    储存甲B类易燃液体，储罐泄漏遇点火源可能引发火灾、爆炸，有毒介质泄漏可致中毒
    设置防火堤、可燃及有毒气体检测报警，液位高高联锁和紧急切断阀，储罐定期检测，每班巡检
hazardous_chemicals | 液化烃球罐区 | area | 08 17 18 | 3
    液化烃（丙烯、液化石油气）压力储存，泄漏后可能形成蒸气云爆炸
    注水设施、紧急切断和 SIS 安全仪表系统，喷淋冷却，防火间距符合 GB 50160
hazardous_chemicals | #生产装置区 | area | 07 08 17 18 19 | 3
    涉及重点监管危险化工工艺，反应失控可能导致超温超压、火灾爆炸
    DCS 自动控制和安全联锁，紧急泄放设施，严格执行工艺卡片和操作规程，变更管理
hazardous_chemicals | 反应釜区 | area | 07 17 18 19 | 2
    放热反应釜冷却失效或投料错误可能导致冲料、爆炸
    温度压力联锁、双电源冷却系统、爆破片和紧急泄放，投料双人复核
hazardous_chemicals | 装卸站台 | point | 02 08 18 | 1
    槽车装卸时静电、溢流可能引发火灾爆炸
    鹤管防溢流和静电接地报警，装卸专人监护，车辆熄火、安装阻火器
hazardous_chemicals | 危化品仓库 | area | 08 18 19 | 1
    桶装易燃、有毒化学品混存，泄漏或受热可能起火、中毒
    分区分类分库储存，通风和防爆电气，温湿度监测，严控动火
hazardous_chemicals | 厂区工艺管廊 | line | 08 18 19 | 1
    管线腐蚀穿孔、法兰垫片失效可能泄漏
    定期测厚和泄漏检测与修复（LDAR），管廊设可燃气体探测器，动火作业审批
hazardous_chemicals | 导热油炉房 | point | 07 08 16 | 1
    导热油高温泄漏可能起火、灼烫
    超温联锁、膨胀槽液位监控，炉房防火分隔，定期检验
hazardous_chemicals | 污水处理站 | area | 06 19 | 0
    污水池有毒气体积聚，池边作业可能淹溺
    池边防护栏和救生圈，有限空间作业审批，气体检测
hazardous_chemicals | 配电室 | point | 05 08 | 0
    高低压配电设备老化、绝缘损坏，可能触电或电气火灾
    持证电工操作，绝缘工器具定期检测，配电室防小动物措施，红外测温巡检
加油站 | 埋地油罐区 | area | 08 18 | 2
    汽油、柴油储罐油气泄漏，遇点火源可能火灾爆炸
    双层罐和渗漏检测，油气回收，液位仪监测，卸油防溢
加油站 | 加油区 | area | 02 08 18 | 1
    加油作业油气挥发，车辆碰撞加油机可能引发火灾
    加油机紧急切断阀和防撞设施，禁烟禁火，配置灭火器和灭火毯
加油站 | 卸油口 | point | 08 18 | 1
    卸油时静电积聚、溢油可能起火
    静电接地报警仪，卸油专人监护，密闭卸油
加油站 | 站房配电间 | point | 05 08 | 0
    电气线路故障可能触电、起火
    防爆电气，定期电气检测
加气站 | LNG 储罐区 | area | 07 08 17 18 | 2
    低温液化天然气泄漏可能冻伤、形成爆炸性气云
    储罐压力液位监测，紧急切断，可燃气体报警与防爆电气
加气站 | 加气区 | area | 08 17 18 | 1
    加气软管破裂、车辆失控可能泄漏起火
    拉断阀、紧急切断，防撞护栏
加气站 | 站房配电间 | point | 05 08 | 0
    电气线路故障可能触电、起火
    防爆电气，定期电气检测
fireworks | #危险品总仓库 | area | 14 08 | 3
    成品、半成品大量储存，遇火源、撞击可能燃烧爆炸
    限量储存，防雷防静电，库房间安全距离和防护屏障，专人管理
fireworks | #装药工房 | point | 14 08 | 3
    装药作业药物摩擦、撞击可能引发爆炸
    定员定量，单人单栋，使用防静电工具，不得超员超量
fireworks | 引火线制作工房 | point | 14 08 | 2
    黑火药引火线生产中火药爆炸
    机械化操作、人药隔离，定员定量
fireworks | 成品中转库 | area | 14 08 | 1
    中转成品超量堆放可能殉爆
    限量存放，及时转运，防火防雷
fireworks | 包装工房 | point | 08 03 | 0
    包装作业火灾和机械伤害
    严禁明火，安全操作规程培训
烟花爆竹零售 | 门店储存区 | point | 14 08 | 1
    零售点存放烟花爆竹，遇火源可能燃烧爆炸
    限量存放，专柜销售，严禁与居住场所设置在同一建筑
烟花爆竹零售 | 营业区 | point | 08 | 0
    人员聚集、火灾时疏散困难
    配置灭火器，保持疏散通道畅通
civil_explosives | 炸药库 | area | 14 | 3
    工业炸药储存，受热、撞击可能爆炸
    限量储存，双人双锁，视频监控和入侵报警
civil_explosives | 雷管库 | point | 14 | 2
    雷管误爆可能引发殉爆
    雷管炸药分库存放，防静电和防雷
civil_explosives | 装卸作业区 | point | 14 02 | 1
    装卸搬运时撞击、跌落
    轻拿轻放，专人押运，限速
non_coal_mine | 采场#台阶 | area | 10 13 09 02 | 2
    高陡边坡失稳、爆破飞石和高处坠落
    自上而下分台阶开采，边坡监测，爆破警戒，台阶高度和坡面角符合设计
non_coal_mine | 尾矿库 | area | 10 06 | 3
    尾矿库溃坝可能危及下游人员
    在线监测浸润线和库水位，调洪能力复核，汛期 24 小时值守
non_coal_mine | 排土场 | area | 10 02 | 1
    排土场滑坡、车辆坠落
    分层排土，安全车挡，边坡巡查
non_coal_mine | 破碎车间 | point | 03 01 | 1
    破碎机、皮带机卷入和物体打击
    防护罩和急停拉绳，停机检修挂牌上锁
non_coal_mine | 爆破器材库 | point | 14 13 | 2
    爆破器材储存和领用爆炸
    双人双锁，限量储存，领退台账
non_coal_mine | 矿区运输道路 | line | 02 10 | 1
    重载下坡车辆制动失效、翻车
    限速，设避险车道和挡车设施
metal_smelting | 熔炼炉区 | area | 07 18 08 | 3
    高温熔融金属遇水爆炸、喷溅灼烫
    炉体冷却水监测和紧急排放，作业区干燥防水，防护服
metal_smelting | 铸造车间 | area | 07 04 | 2
    熔融金属吊运倾翻、灼烫
    铸造起重机定期检验，吊运路线避开人员
metal_smelting | 煤气柜 | point | 19 18 | 3
    煤气泄漏中毒、爆炸
    固定式 CO 报警，煤气区域作业许可，佩戴空气呼吸器
metal_smelting | 行车吊运区 | point | 04 | 1
    行车吊运物体坠落
    持证操作，吊具检查，吊物下严禁站人
metal_smelting | 配电室 | point | 05 08 | 0
    高低压配电设备老化、绝缘损坏，可能触电或电气火灾
    持证电工操作，绝缘工器具定期检测，配电室防小动物措施，红外测温巡检
industry_trade | #生产车间 | area | 03 05 08 | 1
    设备运转部位卷入、电气线路故障起火
    设备防护罩和急停，电气线路定期检测，车间通道保持畅通
industry_trade | 喷涂车间 | area | 08 18 19 | 2
    油漆溶剂蒸气积聚，遇火源可能燃爆
    防爆电气和机械通风，溶剂限量存放，禁火
industry_trade | 冲压车间 | area | 03 | 1
    冲床压手
    双手按钮和光电保护，定期检验
industry_trade | 成品仓库 | area | 08 | 0
    可燃物集中堆放，火灾蔓延
    分区堆放，保持防火间距，自动喷水灭火
industry_trade | 空压机房 | point | 17 03 | 1
    储气罐超压爆炸
    安全阀定期校验，压力表检定
industry_trade | 行车作业区 | point | 04 01 | 1
    起吊物坠落
    持证操作，限位器完好，吊索具检查
industry_trade | 叉车作业区 | area | 02 | 0
    场内叉车碰撞行人
    人车分流，限速，持证驾驶
industry_trade | 有限空间（污水池） | point | 19 06 | 2
    污水池、集水井内硫化氢积聚，进入作业可能中毒窒息
    有限空间作业审批，先通风、再检测、后作业，配置气体检测仪和应急救援装备，专人监护
industry_trade | 配电室 | point | 05 08 | 0
    高低压配电设备老化、绝缘损坏，可能触电或电气火灾
    持证电工操作，绝缘工器具定期检测，配电室防小动物措施，红外测温巡检
dust_explosion | #除尘系统 | point | 18 08 | 3
    除尘器内可燃粉尘积聚，遇火花可能粉尘爆炸
    泄爆和隔爆装置，火花探测与熄灭，锁气卸灰，每班清灰
dust_explosion | 粉尘作业车间 | area | 18 08 03 | 2
    作业场所粉尘积尘，二次扬尘可能引发粉尘爆炸
    作业场所及时清扫积尘，防爆电气，严禁明火，控制作业人数
dust_explosion | 打磨抛光工位 | point | 18 03 | 2
    打磨抛光产生金属粉尘，火花引燃
    湿式除尘或吸尘罩，禁止干式集中除尘器与其他系统串联
dust_explosion | 成品仓库 | area | 08 | 0
    可燃物集中堆放，火灾蔓延
    分区堆放，保持防火间距
dust_explosion | 配电室 | point | 05 08 | 0
    高低压配电设备老化、绝缘损坏，可能触电或电气火灾
    持证电工操作，绝缘工器具定期检测，配电室防小动物措施，红外测温巡检
ammonia_refrigeration | 液氨制冷机房 | point | 19 17 18 | 3
    液氨泄漏中毒、遇火源爆炸
    氨气浓度报警与事故排风联锁，紧急泄氨器，定员定岗，配备正压式空气呼吸器
ammonia_refrigeration | 高压贮氨器 | point | 17 19 | 3
    贮氨器超压、泄漏
    安全阀和液位计定期检验，远程监控
ammonia_refrigeration | 速冻间 | area | 19 03 | 2
    速冻装置氨泄漏，作业人员密集
    人员与制冷设备隔离，控制作业人数，氨报警
ammonia_refrigeration | #冷藏间 | area | 19 20 | 1
    冷间氨管泄漏、人员被困冻伤
    冷间设呼救装置和内开门锁，氨报警
ammonia_refrigeration | 液氨管道 | line | 19 17 | 2
    管道阀门腐蚀泄漏
    管道定期检测，阀门标识，巡检
construction | #塔吊作业区 | point | 04 01 | 2
    塔吊倾覆、吊物坠落
    安装验收和定期检测，司索信号工持证，群塔防碰撞
construction | 深基坑 | area | 10 06 | 2
    基坑坍塌、积水淹溺
    专项方案论证，基坑监测，临边防护和降排水
construction | 高支模区 | area | 10 09 | 2
    模板支撑体系坍塌
    专项方案专家论证，浇筑时监测，严禁超载
construction | 脚手架作业区 | area | 09 01 | 1
    高处坠落、物体打击
    安全网和临边防护，系挂安全带
construction | 施工临时用电 | point | 05 | 1
    临时用电漏电触电
    三级配电两级保护，一机一闸一漏
construction | 施工升降机 | point | 04 09 | 1
    吊笼坠落
    防坠安全器定期检测，限载
special_equipment | #锅炉 | point | 16 07 | 2
    锅炉缺水、超压爆炸，蒸汽灼烫
    水位和压力联锁保护，持证司炉，定期检验
special_equipment | 压力容器区 | point | 17 | 2
    压力容器超压爆炸
    安全阀、压力表定期校验，定期检验
special_equipment | 气瓶充装区 | area | 17 18 | 2
    气瓶超装、错装爆炸
    充装前后检查，电子秤复核，防错装接头
special_equipment | #起重机 | point | 04 | 1
    起重机吊物坠落、倾覆
    定期检验，限位保护，持证作业
special_equipment | 场内机动车辆作业区 | area | 02 | 0
    场内车辆伤害
    持证驾驶，限速，人车分流
road_transport | 危货车辆停车场 | area | 02 08 18 | 2
    危险货物车辆集中停放，泄漏起火可能蔓延
    专用停车场分区停放，视频监控，GPS 动态监控，消防设施
road_transport | 车辆维修车间 | area | 03 08 | 1
    维修作业机械伤害、动火起火
    举升机定期检查，动火审批
road_transport | 客车停车场 | area | 02 | 1
    车辆倒车碰撞行人
    倒车影像，专人指挥
road_transport | 加油点 | point | 08 18 | 1
    内部加油点油气泄漏
    防爆电气，禁火
fire_safety | 营业大厅 | area | 08 19 | 2
    人员密集，火灾烟气可能致群死群伤
    自动喷淋和火灾报警完好，疏散通道和安全出口畅通，定期演练
fire_safety | 厨房 | point | 08 18 | 1
    燃气泄漏、油锅起火
    燃气泄漏报警和切断阀，烟道定期清洗
fire_safety | 消防控制室 | point | 08 | 0
    值守缺位致火情处置延误
    持证人员 24 小时双人值班
fire_safety | 配电室 | point | 05 08 | 0
    高低压配电设备老化、绝缘损坏，可能触电或电气火灾
    持证电工操作，绝缘工器具定期检测，配电室防小动物措施，红外测温巡检
urban_gas | 液化石油气储罐区 | area | 08 17 18 | 3
    液化石油气储罐泄漏可能蒸气云爆炸
    紧急切断，喷淋冷却，可燃气体报警，储罐定期检验
urban_gas | 门站调压区 | area | 18 08 | 2
    调压设备故障、超压泄漏
    超压切断，双路调压，24 小时监控
urban_gas | 钢瓶充装间 | area | 17 18 | 2
    钢瓶超装、泄漏爆炸
    充装秤联锁，钢瓶检验，防爆电气
urban_gas | 瓶库 | area | 17 18 | 1
    实瓶集中存放泄漏
    通风、防爆电气，限量存放
oil_gas_pipeline | 输气管道#段 | line | 08 18 | 2
    第三方施工破坏、腐蚀穿孔泄漏起火爆炸
    管道巡护，地面标识，阴极保护，高后果区识别和管控
oil_gas_pipeline | 分输站 | area | 18 08 | 2
    站场设备泄漏
    可燃气体报警，ESD 紧急停车系统
oil_gas_pipeline | 阀室 | point | 18 | 1
    阀门内漏、外漏
    远程监控，定期巡检
tourism | 游客中心 | area | 08 | 1
    节假日人员聚集，踩踏和火灾
    限流预约，疏散指示，消防设施
tourism | 观光游步道 | line | 09 10 20 | 1
    临崖步道坠落、落石
    护栏和警示标识，雨季封闭巡查
tourism | 玻璃栈道 | line | 09 20 | 2
    栈道结构失效、游客坠落
    定期结构检测，限载限流
tourism | 漂流河段 | line | 06 | 2
    漂流翻船淹溺
    救生衣、救生员驻点，汛期停运
other | 仓储区 | area | 08 03 | 0
    货物堆垛倒塌、火灾
    堆垛限高，消防设施完好
other | 办公区 | area | 08 | 0
    电气火灾
    电气线路检查，消防设施
other | 配电室 | point | 05 08 | 0
    高低压配电设备老化、绝缘损坏，可能触电或电气火灾
    持证电工操作，绝缘工器具定期检测，配电室防小动物措施，红外测温巡检
public_gas_main | - | line | 18 08 19 | 1
    中压天然气管道穿越人员密集区，第三方施工破坏或腐蚀泄漏可能引发火灾爆炸、中毒
    每日巡线，设置警示标识，施工前管位交底，阴极保护检测，泄漏检测和 24 小时应急抢修
public_scenic | - | area | 06 09 10 20 | 1
    节假日游客聚集，临水临崖区域可能淹溺、坠落、踩踏
    最大承载量控制和预约限流，危险区域护栏和警示，应急救援队伍驻点
public_square | - | area | 08 20 | 1
    人员密集场所，火灾或拥挤踩踏可能造成群死群伤
    大型活动安全许可，人流监测和疏导，消防设施和疏散通道检查
public_market | - | area | 08 05 18 | 1
    农贸市场摊位电气线路私拉乱接、瓶装液化气使用，火灾风险高
    电气线路整治，瓶装燃气安装泄漏报警和切断装置，消防通道畅通
public_black_spot | - | line | 02 | 1
    急弯陡坡、视距不良，事故多发路段
    设置减速带、警示标志和防护栏，加强巡逻和测速
public_water_plant | - | area | 19 06 05 | 1
    加氯间液氯泄漏中毒，清水池淹溺
    氯气泄漏报警和吸收装置，池边防护，持证上岗
public_sewage | - | area | 19 06 18 | 1
    污水处理构筑物硫化氢、沼气积聚，池边淹溺
    有限空间作业审批，气体检测，池边护栏
public_waterlog | - | point | 06 05 02 | 1
    暴雨时下穿通道积水，车辆和行人被困淹溺
    积水监测和预警，汛期封闭交通，排水泵站保障运行
public_bridge | - | line | 10 02 06 | 1
    桥梁结构老化、超载车辆通行可能垮塌
    定期检测，限载限高设施，超限车辆治理
public_park | - | area | 06 20 | 1
    城市公园水体和游乐设施，游客淹溺和设施伤害
    水体护栏和救生圈，游乐设施定期检验
"""


def _parse_units(table: str) -> dict[str, tuple[_UnitTemplate, ...]]:
    out: dict[str, list[_UnitTemplate]] = {}
    lines = [line.strip() for line in table.strip().splitlines()]
    for head, hazards, measures in zip(lines[0::3], lines[1::3], lines[2::3], strict=True):
        key, name, shape, acc, hot = (part.strip() for part in head.split("|"))
        template = _UnitTemplate(
            "" if name == "-" else name, shape, tuple(acc.split()), hazards, measures, int(hot)
        )
        out.setdefault(key, []).append(template)
    return {k: tuple(v) for k, v in out.items()}


_UNITS = _parse_units(_UNIT_TABLE)

# Risk-point kinds that are hazards of data/safety_distance_rules.csv (安全防护距离), by template name. Storage
# volumes (m³) follow the unit's footprint, not a draw, so the rest of the register stays as it was.
_HAZARD_KINDS = {
    "液化烃球罐区": "liquefied_hydrocarbon_tanks",
    "#生产装置区": "process_unit_a_b",
    "反应釜区": "process_unit_a_b",
    "埋地油罐区": "filling_station",
    "#危险品总仓库": "fireworks_warehouse",
    "液化石油气储罐区": "lpg_supply_base",
}
_CAPACITY_PER_M2 = {
    "liquefied_hydrocarbon_tanks": 2.0,
    "lpg_supply_base": 0.5,
}  # m³ of storage per m² of footprint

_SUPERVISOR = {
    "hazardous_chemicals": "应急管理局", "fireworks": "应急管理局", "non_coal_mine": "应急管理局",
    "metal_smelting": "应急管理局", "industry_trade": "应急管理局", "dust_explosion": "应急管理局",
    "ammonia_refrigeration": "应急管理局", "civil_explosives": "工业和信息化局",
    "construction": "住房和城乡建设局", "special_equipment": "市场监督管理局", "road_transport": "交通运输局",
    "urban_gas": "住房和城乡建设局", "oil_gas_pipeline": "发展和改革局", "fire_safety": "消防救援大队",
    "tourism": "文化和旅游局", "water_supply": "住房和城乡建设局", "drainage": "住房和城乡建设局",
    "waste_treatment": "住房和城乡建设局", "municipal_facilities": "住房和城乡建设局",
    "urban_park": "住房和城乡建设局", "major_project": "发展和改革局", "major_event": "公安局",
    "other": "应急管理局",
}  # fmt: skip
# In 泉州 the city-management bureau runs gas, water, drainage and municipal facilities (seed 001).
_CITY_MANAGEMENT = frozenset({"urban_gas", "water_supply", "drainage", "waste_treatment", "municipal_facilities",
                              "urban_park"})  # fmt: skip


def _one(rng: np.random.Generator, seq: Sequence[_T]) -> _T:
    """One element, uniformly (cheaper than Generator.choice for the millions of small draws here)."""
    return seq[int(rng.integers(len(seq)))]


def _weighted(rng: np.random.Generator, weights: Sequence[float] | np.ndarray) -> int:
    """Index drawn with probability proportional to weights."""
    cum = list(accumulate(float(w) for w in weights))
    return min(bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)


@cache
def _high_risk() -> frozenset[str]:
    """高危行业 (re-assessed yearly): the sectors flagged high_risk in data/sectors.csv."""
    return frozenset(code for code in vocab.sectors() if vocab.is_high_risk_sector(code))


# --- names ---------------------------------------------------------------------------------------------------

_TRADE_CHARS = (
    "鑫华盛泰恒源达兴隆永丰宏海瑞安信通德顺金利嘉诚鸿远腾晟益富联新明正天福祥康荣昌茂博峰凯辉宇星润"
    "佳立成发建宝美祥龙骏豪锦绿晶祺裕聚力众合凯旺捷航"
)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程苏魏吕丁任沈姚卢傅钟姜崔谭廖范汪陆金石戴贾韦夏邱方侯邹熊孟秦白江阎薛尹段雷黎史龙陶贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红梅鹏飞斌宇浩凯婷雪琳晨阳志建国文辉海波红亮春燕立新少"
_VILLAGE_A = "东西南北上下前后大小新旧中"
_VILLAGE_B = "山坑头田洋厝林溪坂湖岭埔寨岗塘桥庄营店楼"
_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156",
    "157", "158", "159", "166", "173", "177", "180", "181", "182", "183", "186", "187", "188", "189", "191",
    "198", "199",
)  # fmt: skip
_ROAD_SUFFIX = ("路", "路", "路", "街", "大道")
# GB 11714 organisation-code check character weights (the 9-character body of a credit code).
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _short_name(name: str) -> str:
    """泉港区 → 泉港, 德宏傣族景颇族自治州 → 德宏, 芒市 → 芒市 (a one-character stem keeps its suffix)."""
    if "自治" in name:
        return name[:2]
    for suffix in ("特别行政区", "省", "市", "区", "县", "州", "旗"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _org_code(rng: np.random.Generator) -> str:
    """A 9-character organisation code (GB 11714): 8-character body plus its check character; new
    registrations carry 'MA' bodies, older ones 8 digits."""
    if rng.random() < 0.55:
        body = "MA" + "".join(_ORG_BODY_CHARS[i] for i in rng.integers(0, len(_ORG_BODY_CHARS), 6))
    else:
        body = str(rng.integers(1, 10)) + "".join(str(d) for d in rng.integers(0, 10, 7))
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


# --- assessment draws ------------------------------------------------------------------------------------------


@cache
def _combos() -> dict[tuple[str, int], tuple[tuple[dict[str, float], Assessment], ...]]:
    """Every allowed factor combination of LEC, LS and MES with its assessment (default table), by level: a
    unit's inputs are drawn among those of the level wanted, so the stored score and level always agree."""
    out: dict[tuple[str, int], list[tuple[dict[str, float], Assessment]]] = {}
    for method in ("LEC", "LS", "MES"):
        allowed = factors(method)
        names = list(allowed)
        for values in product(*(tuple(fv.value for fv in allowed[n]) for n in names)):
            inputs = dict(zip(names, (float(v) for v in values), strict=True))
            a = assess(method, inputs)
            out.setdefault((method, a.level), []).append((inputs, a))
    return {k: tuple(v) for k, v in out.items()}


_METHOD_WEIGHTS = (("LEC", 0.55), ("LS", 0.33), ("MES", 0.12))


def _draw_assessment(rng: np.random.Generator, level: int, allow_direct: bool) -> dict[str, Any]:
    """Assessment columns for a unit of the wanted level (as geo.register.clean_risk_unit stores them)."""
    # 重大危险源 and the like are graded level 1 directly (直接判定), without a score.
    if allow_direct and level == 1 and rng.random() < 0.3:
        a = assess("direct", None, level=1)
        return {"assessment_method": str(a.method), "assessment_inputs": None, "assessment_score": None,
                "assessment_table": None, "level": a.level}  # fmt: skip
    combos = _combos()
    methods = [(m, w) for m, w in _METHOD_WEIGHTS if (m, level) in combos]
    weights = np.array([w for _, w in methods])
    method = methods[_weighted(rng, weights)][0]
    options = combos[(method, level)]
    inputs, a = options[int(rng.integers(len(options)))]
    return {
        "assessment_method": str(a.method),
        "assessment_inputs": dict(inputs),
        "assessment_score": a.score,
        "assessment_table": a.table,
        "level": a.level,
    }


def _control_level(rng: np.random.Generator, level: int) -> str:
    """管控层级 follows the level (seed 004 二(一)3): major → company, large → workshop (or company),
    general → team (or workshop), low → post (or team)."""
    choices = {1: (("company", 1.0),), 2: (("workshop", 0.8), ("company", 0.2)),
               3: (("team", 0.7), ("workshop", 0.3)), 4: (("post", 0.6), ("team", 0.4))}[level]  # fmt: skip
    r, acc = rng.random(), 0.0
    for name, p in choices:
        acc += p
        if r < acc:
            return name
    return choices[-1][0]


_DEPARTMENTS = {
    "company": ("安全环保部", "安全管理部", "总经理办公室"),
    "workshop": ("生产部", "设备动力部", "储运部", "生产车间"),
    "team": ("运行一班", "运行二班", "维修班", "装卸班", "生产班组"),
    "post": ("操作岗", "巡检岗", "装卸岗", "值班岗"),
}


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- geometry helpers (metric CRS) ------------------------------------------------------------------------------


def _rect(cx: float, cy: float, w: float, h: float, theta: float) -> Polygon:
    c, s = math.cos(theta), math.sin(theta)
    pts = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return Polygon([(cx + u * c - v * s, cy + u * s + v * c) for u, v in pts])


def _local(cx: float, cy: float, theta: float, uv: np.ndarray) -> np.ndarray:
    """Site-local (u, v) offsets → metric x, y."""
    c, s = math.cos(theta), math.sin(theta)
    return np.column_stack((cx + uv[:, 0] * c - uv[:, 1] * s, cy + uv[:, 0] * s + uv[:, 1] * c))


def _multipolygon(geom: BaseGeometry) -> MultiPolygon | None:
    parts = [
        p for p in shapely.get_parts(shapely.get_parts(geom)) if isinstance(p, Polygon) and not p.is_empty
    ]
    return MultiPolygon(parts) if parts else None


@dataclass
class _Site:
    cx: float
    cy: float
    w: float
    h: float
    theta: float


@dataclass
class _Park:
    adcode: str
    name: str
    sector: str
    polygon: BaseGeometry  # metric
    lots: list[_Site]


@dataclass
class _County:
    adcode: str
    name: str
    short: str
    province: str | None
    city: str | None
    epsg: int
    area: BaseGeometry  # metric, prepared
    inner: BaseGeometry  # area minus a margin: where sites and targets fit whole
    area_km2: float
    rng: np.random.Generator
    profile: _Profile
    towns: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))
    town_sigma: np.ndarray = field(default_factory=lambda: np.empty(0))
    town_weight: np.ndarray = field(default_factory=lambda: np.empty(0))
    parks: list[_Park] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    @property
    def place(self) -> str:
        """Address prefix: 福建省泉州市泉港区 (a municipality's name only once)."""
        parts = [self.province, self.city if self.city != self.province else None, self.name]
        return "".join(p for p in parts if p)

    @property
    def city_label(self) -> str:
        """The city as company names carry it: 泉州市, 德宏州 (not the autonomous prefecture's full name)."""
        if not self.city or self.city == self.province:
            return ""
        return _short_name(self.city) + "州" if "自治" in self.city else self.city

    def department(self, sector: str | None) -> str:
        dept = _SUPERVISOR.get(sector or "other", "应急管理局")
        if sector in _CITY_MANAGEMENT and self.adcode.startswith("3505"):
            dept = "城市管理局"
        return f"{self.name}{dept}"

    def sample(
        self, n: int, *, region: BaseGeometry | None = None, near_towns: float = 0.0, avoid_parks: bool = True
    ) -> np.ndarray:
        """n points (metric x, y) inside region (default: inner), a share near_towns drawn around town
        centres, the rest uniformly; rejection sampling, vectorised."""
        if n <= 0:
            return np.empty((0, 2))
        region = self.inner if region is None else region
        shapely.prepare(region)
        xmin, ymin, xmax, ymax = region.bounds
        out: list[np.ndarray] = []
        have = 0
        rng = self.rng
        for attempt in range(60):
            if have >= n:
                break
            m = max(64, 3 * (n - have))
            uniform = np.column_stack((rng.uniform(xmin, xmax, m), rng.uniform(ymin, ymax, m)))
            if near_towns > 0 and len(self.towns) and attempt < 40:
                k = rng.choice(len(self.towns), m, p=self.town_weight)
                gauss = self.towns[k] + rng.normal(0, 1, (m, 2)) * self.town_sigma[k, None]
                pick = rng.random(m) < near_towns
                cand = np.where(pick[:, None], gauss, uniform)
            else:
                cand = uniform
            ok = shapely.contains_xy(region, cand[:, 0], cand[:, 1])
            if avoid_parks and self.parks:
                for park in self.parks:
                    ok &= ~shapely.contains_xy(park.polygon, cand[:, 0], cand[:, 1])
            good = cand[ok]
            out.append(good[: n - have])
            have += len(out[-1])
        if have < n:  # a sliver of a county: fall back to points on the region itself
            p = region.representative_point()
            out.append(np.repeat([[p.x, p.y]], n - have, axis=0))
        return np.vstack(out)[:n]

    def clip(self, geom: BaseGeometry) -> BaseGeometry:
        """geom cut to the county; the (prepared) containment test spares most of the costly intersections."""
        return geom if self.area.contains(geom) else geom.intersection(self.area)

    def unique_name(self, make: Callable[[], str], fallback: str) -> str:
        """A name not used before in this county: redraw a few times, then number the fallback."""
        for _ in range(30):
            name = make()
            if name not in self.names:
                self.names.add(name)
                return name
        i = 2
        while f"{fallback}{i}" in self.names:
            i += 1
        self.names.add(f"{fallback}{i}")
        return f"{fallback}{i}"

    def trade_name(self) -> str:
        n = len(_TRADE_CHARS)
        i, j = self.rng.integers(0, n, 2)
        j = (i + 1 + j % (n - 1)) % n  # two different characters
        return _TRADE_CHARS[i] + _TRADE_CHARS[j]

    def person(self) -> str:
        rng = self.rng
        idx = rng.integers(0, len(_GIVEN), 2)
        given = _GIVEN[idx[0]] + (_GIVEN[idx[1]] if rng.random() < 0.7 else "")
        return _one(rng, _SURNAMES) + given

    def mobile(self) -> str:
        rng = self.rng
        return _one(rng, _MOBILE_PREFIXES) + f"{int(rng.integers(0, 10**8)):08d}"

    def road(self) -> str:
        rng = self.rng
        return self.trade_name() + _one(rng, _ROAD_SUFFIX) + f"{int(rng.integers(1, 400))}号"


# --- one county ---------------------------------------------------------------------------------------------------


def _make_county(row: Any, seed: int) -> _County:
    adcode = str(row.adcode)
    geom = row.geometry
    lon = geom.centroid.x
    epsg = gauss_kruger_epsg(lon)
    metric = gpd.GeoSeries([geom], crs=STORAGE_EPSG).to_crs(epsg).iloc[0]
    metric = shapely.make_valid(metric)
    # Margin so that a 20 ha site or a target polygon centred on a sampled point stays inside the county.
    inner = metric.buffer(-350)
    if inner.is_empty or inner.area < 0.2 * metric.area:
        inner = metric.buffer(-100)
        if inner.is_empty:
            inner = metric
    shapely.prepare(metric)
    shapely.prepare(inner)
    try:
        unit = admin_unit(adcode)
        province, city = unit.province, unit.city
    except (NotFound, InvalidInput):
        province = city = None
    name = str(row.name) if getattr(row, "name", None) else adcode
    # Per-county generator from (seed, adcode): adding or dropping another county changes nothing here.
    digits = int("".join(ch for ch in adcode if ch.isdigit()) or "0")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), digits]))
    return _County(
        adcode=adcode,
        name=name,
        short=_short_name(name),
        province=province,
        city=city,
        epsg=epsg,
        area=metric,
        inner=inner,
        area_km2=metric.area / 1e6,
        rng=rng,
        profile=_PROFILES.get(adcode, _Profile()),
    )


def _place_towns(c: _County) -> None:
    """Synthetic town centres (the county seat first): clustering targets for shops, housing and gas mains."""
    n = int(np.clip(round(c.area_km2 / 120), 2, 15))
    c.towns = c.sample(n, avoid_parks=False)
    # Mountain towns sit in narrow valleys: tighter clusters than on the coastal plain.
    spread = 800.0 if c.profile.mountainous else 1200.0
    c.town_sigma = np.full(n, spread)
    c.town_sigma[0] = spread * 1.6 if c.area_km2 > 150 else spread
    w = np.ones(n)
    w[0] = 3.0
    c.town_weight = w / w.sum()


def _park_polygon(c: _County, target_m2: float) -> tuple[BaseGeometry, float] | None:
    """A blocky park (2–4 aligned rectangles) of about target_m2 inside the county, and its grid angle."""
    rng = c.rng
    for _ in range(6):
        half = math.sqrt(target_m2) * 0.9
        room = c.area.buffer(-half)
        if room.is_empty or room.area < 1e4:
            target_m2 *= 0.6
            continue
        cx, cy = c.sample(1, region=room)[0]
        theta = float(rng.uniform(0, math.pi / 2))
        aspect = float(rng.uniform(1.0, 1.8))
        w = math.sqrt(0.6 * target_m2 * aspect)
        h = 0.6 * target_m2 / w
        blocks = [_rect(cx, cy, w, h, theta)]
        for _ in range(int(rng.integers(1, 4))):
            # Extra blocks along the main block's axes: parks grow along their road grid.
            du, dv = rng.uniform(-0.6, 0.6) * w, rng.choice([-1, 1]) * rng.uniform(0.4, 0.7) * h
            bw, bh = w * rng.uniform(0.3, 0.6), h * rng.uniform(0.4, 0.8)
            co, si = math.cos(theta), math.sin(theta)
            blocks.append(_rect(cx + du * co - dv * si, cy + du * si + dv * co, bw, bh, theta))
        poly = shapely.union_all(blocks).intersection(c.inner)
        poly = shapely.make_valid(poly)
        if poly.area > 0.3 * target_m2:
            return poly, theta
        target_m2 *= 0.7
    return None


def _park_lots(c: _County, poly: BaseGeometry, theta: float, n: int) -> list[_Site]:
    """n non-overlapping lots on the park's grid, chosen at random among the cells that fit inside it."""
    if n <= 0:
        return []
    rng = c.rng
    cx, cy = poly.centroid.x, poly.centroid.y
    side = math.sqrt(poly.area * 0.8 / n)
    radius = math.dist(poly.bounds[:2], poly.bounds[2:]) / 2 + side
    shapely.prepare(poly)
    for _ in range(12):
        k = int(radius / side) + 1
        grid = np.arange(-k, k + 1) * side
        uu, vv = np.meshgrid(grid, grid)
        centres = _local(cx, cy, theta, np.column_stack((uu.ravel(), vv.ravel())))
        corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * side
        rot = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
        cells = shapely.polygons(centres[:, None, :] + (corners @ rot)[None, :, :])
        inside = shapely.contains(poly, cells)
        idx = np.flatnonzero(inside)
        if len(idx) >= n:
            chosen = rng.choice(idx, n, replace=False)
            return [_Site(float(centres[i, 0]), float(centres[i, 1]), side, side, theta) for i in chosen]
        side *= 0.85
    # Too narrow a park for a grid: lots at random points of it, small.
    pts = c.sample(n, region=poly, avoid_parks=False)
    return [_Site(float(x), float(y), 60.0, 60.0, theta) for x, y in pts]


def _make_parks(c: _County, n_park_enterprises: int) -> None:
    rng = c.rng
    n_parks = 1 if c.area_km2 < 500 else 2
    shares = rng.dirichlet(np.full(n_parks, 4.0)) if n_parks > 1 else np.ones(1)
    counts = np.floor(shares * n_park_enterprises).astype(int)
    counts[0] += n_park_enterprises - counts.sum()
    for i in range(n_parks):
        code = f"{c.adcode}P{i + 1:02d}"
        if i < len(c.profile.park_names):
            name = c.profile.park_names[i]
        elif i == 0:
            name = f"{c.name}经济开发区"
        else:
            name = f"{c.short}工业园区"
        sector = c.profile.park_sectors[i % len(c.profile.park_sectors)]
        # About 1.5 ha per lot at 75 % coverage, within 1.5–12 km² and a tenth of the county.
        target = float(np.clip(counts[i] * rng.uniform(1.3, 1.8) * 1e4 / 0.75, 1.5e6, 12e6))
        target = min(target, 0.1 * c.area.area)
        made = _park_polygon(c, target)
        if made is None:
            continue
        poly, theta = made
        park = _Park(code, name, sector, poly, [])
        park.lots = _park_lots(c, poly, theta, int(counts[i]))
        c.parks.append(park)


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[_weighted(rng, p)]


def _business_type(rng: np.random.Generator, sector: str, in_park: bool) -> _BusinessType:
    options = _BUSINESS_TYPES[sector]
    w = np.array([o[1] if in_park else o[2] for o in options], dtype=float)
    if w.sum() == 0:
        w = np.array([o[2] for o in options], dtype=float)
    return options[_weighted(rng, w)]


def _enterprises(c: _County, scale: float) -> tuple[list[dict[str, Any]], list[_Site | None], list[str]]:
    """Enterprise rows (metric geometries) and each one's site frame (None without a site)."""
    rng = c.rng
    n = enterprise_count(c.area_km2, scale)
    weights = {k: v * c.profile.multipliers.get(k, 1.0) for k, v in _BASE_WEIGHTS.items()}
    weights = {k: v for k, v in weights.items() if v > 0}
    park_weights = {k: v for k, v in weights.items() if k not in _NOT_IN_PARKS}
    # ~60–70 % of registered firms sit in parks, as they do in real industrial counties.
    n_park = round(n * rng.uniform(0.6, 0.7))
    _make_parks(c, n_park)
    _place_towns(c)
    slots: list[tuple[str, _Park | None, _Site | None]] = []  # (sector, park, lot)
    for zone in c.parks:
        for plot in zone.lots:
            # A park is dominated by its trade (60–80 %); the rest come from the county's park-able mix.
            sector = zone.sector if rng.random() < 0.7 else _pick(rng, park_weights)
            slots.append((sector, zone, plot))
    while len(slots) < n:
        slots.append((_pick(rng, weights), None, None))
    scattered = [i for i, s in enumerate(slots) if s[1] is None]
    # Locate the scattered ones by sector: town-bound, remote or mixed.
    share = np.array(
        [0.85 if slots[i][0] in _URBAN else 0.0 if slots[i][0] in _REMOTE else 0.5 for i in scattered]
    )
    pts = np.empty((len(scattered), 2))
    for want in (0.85, 0.0, 0.5):
        sel = np.flatnonzero(share == want)
        if len(sel):
            pts[sel] = c.sample(len(sel), near_towns=want)
    where = dict(zip(scattered, pts, strict=True))

    rows: list[dict[str, Any]] = []
    sites: list[_Site | None] = []
    tiers: list[str] = []
    codes: set[str] = set()
    for i, (sector, park, lot) in enumerate(slots):
        bt_name, _, _, words, median = _business_type(rng, sector, park is not None)
        p_site, site_ha = _SITE.get(sector, (0.3, 1.0))
        if bt_name in ("烟花爆竹零售", "危化品经营（不带储存）", "电梯维保"):
            p_site = 0.05
        has_site = rng.random() < p_site
        ha = float(np.clip(rng.lognormal(math.log(site_ha), 0.5), *_SITE_HA))
        if lot is not None:
            x, y = lot.cx, lot.cy
            side = min(lot.w * 0.85, math.sqrt(ha * 1e4))
            frame = _Site(x, y, side, min(lot.h * 0.85, side * rng.uniform(0.7, 1.0)), lot.theta)
        else:
            x, y = where[i]
            aspect = rng.uniform(1.0, 2.0)
            w = math.sqrt(ha * 1e4 * aspect)
            frame = _Site(float(x), float(y), w, ha * 1e4 / w, float(rng.uniform(0, math.pi)))
        # A park lot squeezed below 0.5 ha registers its point only (sites are 0.5–20 ha).
        has_site = has_site and frame.w * frame.h >= 0.5e4
        site = None
        if has_site:
            site = _multipolygon(c.clip(_rect(frame.cx, frame.cy, frame.w, frame.h, frame.theta)))
        while True:
            code = make_credit_code("91" + c.adcode + _org_code(rng))
            if code not in codes:
                codes.add(code)
                break
        word = _one(rng, words)

        def company(word: str = word) -> str:
            if rng.random() < 0.7:
                return f"{c.short}{c.trade_name()}{word}有限公司"
            return f"{c.city_label}{c.name}{c.trade_name()}{word}有限公司"

        name = c.unique_name(company, f"{c.short}{word}有限公司")
        employees = int(np.clip(round(rng.lognormal(math.log(median), 0.6)), 1, 5000))
        # 福建省泉州市泉港区 + 泉港石化工业园区 / 蚌山区经济开发区 (not 蚌山区蚌山区经济开发区)
        address = c.place + (park.name.removeprefix(c.name) if park else "") + c.road()
        rows.append(
            {
                "credit_code": code,
                "name": name,
                "sector": sector,
                "business_type": bt_name,
                "address": address,
                "geom": Point(x, y),
                "site": site,
                "employees": employees,
                "supervising_department": c.department(sector),
                "contact_person": c.person(),
                "contact_phone": c.mobile(),
                "jurisdiction_adcode": c.adcode,
                "synthetic": True,
            }
        )
        sites.append(frame if has_site else None)
        tier = _TIER_OVERRIDE.get(
            bt_name, "high" if sector in _HIGH_TIER else "medium" if sector in _MEDIUM_TIER else "low"
        )
        tiers.append(tier)
    return rows, sites, tiers


def _templates(sector: str, business_type: str) -> tuple[_UnitTemplate, ...]:
    return _UNITS.get(business_type) or _UNITS.get(sector) or _UNITS["other"]


def _unit_geometry(c: _County, shape: str, frame: _Site | None, x: float, y: float) -> BaseGeometry:
    """A unit inside its site frame (points, small squares, L-shaped pipe runs), or next to the enterprise
    point when it has no site."""
    rng = c.rng
    if frame is None:
        frame = _Site(x, y, 80.0, 80.0, float(rng.uniform(0, math.pi)))
    w, h = frame.w, frame.h
    uv = rng.uniform(-0.35, 0.35, (2, 2)) * [w, h]
    if shape == "point":
        px, py = _local(frame.cx, frame.cy, frame.theta, uv[:1])[0]
        return Point(px, py)
    if shape == "line":
        corner = np.array([[uv[0, 0], uv[0, 1]], [uv[1, 0], uv[0, 1]], [uv[1, 0], uv[1, 1]]])
        if np.abs(np.diff(corner, axis=0)).sum() < 10:  # degenerate draw: a straight run across the site
            corner = np.array([[-0.35 * w, 0.0], [0.0, 0.0], [0.35 * w, 0.0]])
        return LineString(_local(frame.cx, frame.cy, frame.theta, corner))
    half = max(5.0, min(w, h) * rng.uniform(0.05, 0.12))
    sq = np.array([[-half, -half], [half, -half], [half, half], [-half, half]]) + uv[0]
    return Polygon(_local(frame.cx, frame.cy, frame.theta, sq))


def _assessed_on(rng: np.random.Generator, as_of: dt.date, high_risk: bool) -> dt.date:
    """Assessment dates over the last 3.5 years: high-risk sectors mostly within the year (some overdue),
    others spread so that ~15 % are past their three-year due date."""
    recent = high_risk and rng.random() < 0.85
    days = int(rng.integers(5, 360)) if recent else int(rng.integers(5, 1278))
    return as_of - dt.timedelta(days=days)


def _levels(rng: np.random.Generator, tier: str, k: int) -> list[int]:
    return sorted(1 + _weighted(rng, _LEVEL_MIX[tier]) for _ in range(k))


def _unit_row(
    c: _County,
    *,
    kind: str,
    name: str,
    sector: str | None,
    rule_sector: str | None,
    geom: BaseGeometry,
    template: _UnitTemplate,
    level: int,
    assessed_on: dt.date,
    credit_code: str | None,
    allow_direct: bool,
    department: str | None = None,
) -> dict[str, Any]:
    rng = c.rng
    assessment = _draw_assessment(rng, level, allow_direct)
    level = assessment["level"]
    years = 1 if rule_sector in _high_risk() else 3
    control = _control_level(rng, level) if kind == "enterprise" else None
    occupancy = None
    if rule_sector in ("dust_explosion", "ammonia_refrigeration"):
        # Seed 002 三(四)3: at most 10 people in one such space (the register refuses more); a few sites
        # work at the limit. (Two draws as before, so the rest of the demo stays the same.)
        crowded = rng.random() < 0.08
        occupancy = 10 if crowded else int(rng.integers(1, 11))
        if crowded:
            rng.integers(11, 31)
    hazard_kind = _HAZARD_KINDS.get(template.name)
    capacity = None
    if hazard_kind in _CAPACITY_PER_M2 and geom.area > 0:  # geom is metric here (the county's zone)
        capacity = float(np.clip(round(geom.area * _CAPACITY_PER_M2[hazard_kind], -1), 20, 1000))
    return {
        "enterprise_credit_code": credit_code,
        "kind": kind,
        "name": name,
        "sector": sector,
        "geom": geom,
        **assessment,
        "accident_types": list(template.accidents),
        "hazards": template.hazards,
        "control_measures": template.measures,
        "control_level": control,
        "responsible_department": department
        or (_one(rng, _DEPARTMENTS[control]) if control else c.department(rule_sector)),
        "responsible_person": c.person(),
        "responsible_phone": c.mobile(),
        "assessed_on": assessed_on,
        "next_assessment_due": _add_years(assessed_on, years),
        "max_occupancy": occupancy,
        "hazard_kind": hazard_kind,
        "capacity_m3": capacity,
        "jurisdiction_adcode": c.adcode,
        "synthetic": True,
    }


def _enterprise_units(
    c: _County, enterprises: list[dict[str, Any]], sites: list[_Site | None], tiers: list[str], as_of: dt.date
) -> list[dict[str, Any]]:
    rng = c.rng
    out: list[dict[str, Any]] = []
    for ent, frame, tier in zip(enterprises, sites, tiers, strict=True):
        sector, bt = ent["sector"], ent["business_type"]
        templates = _templates(sector, bt)
        lo, hi = _UNITS_OVERRIDE.get(bt) or _UNITS_PER_ENTERPRISE.get(sector, _UNITS_DEFAULT)
        k = int(rng.integers(lo, hi + 1))
        # Kinds in random order; a numbered kind ('#') sometimes comes twice or three times (1#, 2#, 3# tank
        # farms). Names stay unique within the enterprise.
        chosen: list[tuple[str, _UnitTemplate]] = []
        for j in rng.permutation(len(templates)):
            t = templates[j]
            copies = 1 + int(rng.random() < 0.35) + int(rng.random() < 0.12) if "#" in t.name else 1
            chosen += [(t.name.replace("#", f"{m}#", 1), t) for m in range(1, copies + 1)]
        chosen = chosen[:k]
        # The hottest kinds take the highest drawn levels (a tank farm, not the switch room, is the red one).
        levels = _levels(rng, tier, len(chosen))
        chosen.sort(key=lambda nt: -nt[1].hot)
        x, y = ent["geom"].x, ent["geom"].y
        assessed = _assessed_on(rng, as_of, sector in _high_risk())
        allow_direct = sector in _HIGH_TIER
        for (name, t), level in zip(chosen, levels, strict=True):
            out.append(
                _unit_row(
                    c, kind="enterprise", name=name, sector=None, rule_sector=sector,
                    geom=_unit_geometry(c, t.shape, frame, x, y), template=t, level=level,
                    assessed_on=assessed, credit_code=ent["credit_code"], allow_direct=allow_direct,
                )
            )  # fmt: skip
    return out


# --- public areas ---------------------------------------------------------------------------------------------------

_PUBLIC_MIX = {"urban_gas": (0.08, 0.25, 0.40, 0.27)}
_PUBLIC_DEFAULT_MIX = (0.03, 0.15, 0.40, 0.42)

_GAS_MAIN, _SCENIC, _SQUARE, _MARKET, _BLACK_SPOT, _WATER_PLANT, _SEWAGE, _WATERLOG, _BRIDGE, _PARK_T = (
    _UNITS[f"public_{k}"][0]
    for k in (
        "gas_main",
        "scenic",
        "square",
        "market",
        "black_spot",
        "water_plant",
        "sewage",
        "waterlog",
        "bridge",
        "park",
    )
)


def _walk(c: _County, start: np.ndarray, length_m: float) -> LineString | None:
    """A street-like polyline from start: 250–500 m legs, gentle turns, staying inside the county."""
    rng = c.rng
    pts = [start]
    heading = rng.uniform(0, 2 * math.pi)
    total = 0.0
    while total < length_m:
        for _ in range(6):
            step = rng.uniform(250, 500)
            turn = heading + rng.normal(0, 0.5)
            nxt = pts[-1] + step * np.array([math.cos(turn), math.sin(turn)])
            if shapely.contains_xy(c.inner, nxt[0], nxt[1]):
                pts.append(nxt)
                heading = turn
                total += step
                break
            heading += math.pi / 2
        else:
            break
    return LineString(pts) if len(pts) >= 2 else None


def _public_units(c: _County, as_of: dt.date) -> list[dict[str, Any]]:
    rng = c.rng
    out: list[dict[str, Any]] = []

    def add(sector: str, name: str, geom: BaseGeometry | None, t: _UnitTemplate) -> None:
        if geom is None or geom.is_empty:
            return
        mix = _PUBLIC_MIX.get(sector, _PUBLIC_DEFAULT_MIX)
        level = 1 + _weighted(rng, mix)
        out.append(
            _unit_row(
                c, kind="public_area", name=c.unique_name(lambda: name, name), sector=sector,
                rule_sector=sector, geom=geom, template=t, level=level,
                assessed_on=_assessed_on(rng, as_of, sector in _high_risk()), credit_code=None,
                allow_direct=False, department=c.department(sector),
            )
        )  # fmt: skip

    def near_town(n: int, spread: float = 0.85) -> np.ndarray:
        return c.sample(n, near_towns=spread)

    def box(x: float, y: float, ha: float) -> Polygon | None:
        w = math.sqrt(ha * 1e4 * rng.uniform(1, 1.8))
        clipped = _multipolygon(c.clip(_rect(x, y, w, ha * 1e4 / w, float(rng.uniform(0, math.pi)))))
        # A scenic area larger than the margin may cross the county line: keep its largest piece inside.
        return max(clipped.geoms, key=lambda p: p.area) if clipped else None

    # City gas mains: several km each, mostly in town (they start at a town centre).
    n_gas = int(np.clip(round(c.area_km2 / 250) + 2, 3, 8))
    for i in range(n_gas):
        town = 0 if i < 2 else int(rng.integers(len(c.towns)))
        start = c.towns[town] + rng.normal(0, 400, 2)
        if not shapely.contains_xy(c.inner, start[0], start[1]):
            start = c.towns[town]
        area = "城区" if town == 0 else f"第{town}片区"
        add(
            "urban_gas",
            f"{c.short}{area}中压燃气管道{i + 1}号线",
            _walk(c, start, rng.uniform(2000, 8000)),
            _GAS_MAIN,
        )
    # Crowded places: scenic areas (tourism), squares and markets (fire safety), parks.
    for x, y in c.sample(int(rng.integers(1, 4)), near_towns=0.0):
        kind = str(rng.choice(["山风景区", "湖风景区", "溪生态旅游区", "古镇景区"]))
        add("tourism", f"{c.short}{c.trade_name()}{kind}", box(x, y, rng.uniform(30, 250)), _SCENIC)
    for x, y in near_town(int(rng.integers(2, 5))):
        if rng.random() < 0.5:
            add("fire_safety", f"{c.trade_name()}广场", box(x, y, rng.uniform(1, 6)), _SQUARE)
        else:
            add("fire_safety", f"{c.short}{c.trade_name()}农贸市场", box(x, y, rng.uniform(0.5, 2)), _MARKET)
    for x, y in near_town(int(rng.integers(1, 3))):
        add("urban_park", f"{c.short}{c.trade_name()}公园", box(x, y, rng.uniform(5, 20)), _PARK_T)
    # Road black spots: short stretches of county roads.
    for x, y in c.sample(int(rng.integers(2, 5)), near_towns=0.5):
        road = f"县道X{int(rng.integers(100, 999))}线K{int(rng.integers(1, 60))}+{int(rng.integers(0, 10)) * 100}"
        line = _walk(c, np.array([x, y]), rng.uniform(300, 1200))
        add("road_transport", f"{road}事故多发路段", line, _BLACK_SPOT)
    # Water and drainage.
    for j, (x, y) in enumerate(near_town(int(rng.integers(1, 3)), 0.6)):
        add("water_supply", f"{c.short}第{j + 1}水厂", box(x, y, rng.uniform(2, 6)), _WATER_PLANT)
    for x, y in near_town(1, 0.6):
        add("waste_treatment", f"{c.short}污水处理厂", box(x, y, rng.uniform(3, 10)), _SEWAGE)
    for x, y in near_town(int(rng.integers(1, 4))):
        add("drainage", f"{c.trade_name()}路下穿通道易涝点", Point(x, y), _WATERLOG)
    for x, y in near_town(int(rng.integers(0, 3)), 0.5):
        add(
            "municipal_facilities",
            f"{c.trade_name()}大桥",
            _walk(c, np.array([x, y]), rng.uniform(200, 600)),
            _BRIDGE,
        )
    return out


# --- protection targets --------------------------------------------------------------------------------------------

# type: (weight, polygon size in ha or None for a point, population range, households range or None, near towns)
_TARGET_KINDS: dict[str, tuple[float, tuple[float, float] | None, tuple[int, int], tuple[int, int] | None, float]] = {
    "village": (40, None, (0, 0), (5, 600), 0.0),
    "residential": (20, (1, 8), (0, 0), (80, 3000), 0.9),
    "school": (8, (2, 10), (300, 3000), None, 0.8),
    "kindergarten": (6, None, (60, 400), None, 0.85),
    "hospital": (3, (1, 6), (100, 1500), None, 0.9),
    "care_home": (3, (0.3, 2), (30, 300), None, 0.7),
    "shopping": (5, (0.5, 4), (50, 5000), None, 0.9),
    "office": (5, None, (20, 1500), None, 0.9),
    "hotel": (3, None, (20, 800), None, 0.9),
    "entertainment": (2, (0.5, 3), (50, 3000), None, 0.9),
    "transport_hub": (1, (1, 5), (200, 5000), None, 0.8),
    "government": (2, None, (50, 600), None, 0.95),
    "cultural_relic": (2, (0.2, 2), (0, 50), None, 0.3),
}  # fmt: skip


def _target_name(c: _County, ttype: str) -> str:
    rng = c.rng
    tn = c.trade_name()
    return {
        "village": lambda: _one(rng, _VILLAGE_A + _TRADE_CHARS) + _one(rng, _VILLAGE_B) + "村",
        "residential": lambda: tn + str(rng.choice(["花园", "小区", "苑", "家园", "新村", "公寓"])),
        "school": lambda: f"{c.short}{tn}" + str(rng.choice(["小学", "中学", "中心小学", "实验学校"])),
        "kindergarten": lambda: f"{tn}幼儿园",
        "hospital": lambda: f"{c.short}{tn}" + str(rng.choice(["医院", "卫生院", "社区卫生服务中心"])),
        "care_home": lambda: f"{c.short}{tn}" + str(rng.choice(["敬老院", "养老院", "福利院"])),
        "shopping": lambda: tn + str(rng.choice(["购物广场", "商业中心", "超市"])),
        "office": lambda: tn + str(rng.choice(["大厦", "写字楼", "商务中心"])),
        "hotel": lambda: tn + str(rng.choice(["大酒店", "宾馆", "酒店"])),
        "entertainment": lambda: (
            f"{c.short}" + str(rng.choice(["体育馆", "影剧院", "文化馆", "全民健身中心"]))
        ),
        "transport_hub": lambda: f"{c.short}" + str(rng.choice(["汽车站", "汽车客运站", "公交枢纽站"])),
        "government": lambda: f"{c.name}{tn}" + str(rng.choice(["街道办事处", "镇人民政府", "社区居委会"])),
        "cultural_relic": lambda: tn + str(rng.choice(["古厝", "寺", "祠堂", "古桥"])),
    }[ttype]()


def _target_row(c: _County, ttype: str, x: float, y: float, *, small: bool = False) -> dict[str, Any]:
    rng = c.rng
    _, size, pop_range, hh_range, _ = _TARGET_KINDS[ttype]
    households = population = None
    if hh_range is not None:
        lo, hi = hh_range
        if small:  # a hamlet: 二类 or 三类 targets for the distance checks
            lo, hi = 3, 30
        households = int(np.clip(round(rng.lognormal(math.log(math.sqrt(lo * hi)), 0.6)), lo, hi))
        population = round(households * rng.uniform(2.6, 3.6))
    else:
        population = int(rng.integers(*pop_range)) if pop_range[1] > 0 else None
    geom: BaseGeometry = Point(x, y)
    if size is not None:
        ha = rng.uniform(*size)
        w = math.sqrt(ha * 1e4 * rng.uniform(1, 1.6))
        poly = c.clip(_rect(x, y, w, ha * 1e4 / w, float(rng.uniform(0, math.pi))))
        geom = _multipolygon(poly) or geom
        if isinstance(geom, MultiPolygon) and len(geom.geoms) == 1:
            geom = geom.geoms[0]
    name = c.unique_name(lambda: _target_name(c, ttype), _target_name(c, ttype))
    gb = derive_gb_class(ttype, population, households)
    return {
        "name": name,
        "type": ttype,
        "gb_class": str(gb),
        "gb_class_derived": True,
        "population": population,
        "population_estimated": hh_range is not None,  # people = households × 2.6–3.6, not a count
        "households": households,
        "address": c.place + c.road() if ttype != "village" else c.place + name,
        "geom": geom,
        "jurisdiction_adcode": c.adcode,
        "synthetic": True,
    }


def _targets(c: _County, scale: float, hazardous_sites: list[_Site]) -> list[dict[str, Any]]:
    rng = c.rng
    n = target_count(c.area_km2, scale)
    kinds = list(_TARGET_KINDS)
    w = np.array([_TARGET_KINDS[k][0] for k in kinds], dtype=float)
    drawn = [kinds[i] for i in rng.choice(len(kinds), n, p=w / w.sum())]
    out: list[dict[str, Any]] = []
    for spread in sorted({_TARGET_KINDS[k][4] for k in drawn}):
        group = [k for k in drawn if _TARGET_KINDS[k][4] == spread]
        for ttype, (x, y) in zip(group, c.sample(len(group), near_towns=spread), strict=True):
            out.append(
                _target_row(c, ttype, float(x), float(y), small=ttype == "village" and rng.random() < 0.25)
            )
    # Deliberate encroachment, for the safety-distance checks to find: homes, schools and care homes 100–800 m
    # outside hazardous parks, and hamlets 80–400 m from some hazardous sites.
    for park in c.parks:
        if park.sector not in _HIGH_TIER:
            continue
        ring = park.polygon.buffer(800).difference(park.polygon.buffer(100)).intersection(c.inner)
        if ring.is_empty:
            continue
        near = ["village", "residential", "school", "kindergarten", "care_home", "village"]
        k = int(rng.integers(4, 9))
        for (x, y), ttype in zip(c.sample(k, region=ring), rng.choice(near, k), strict=True):
            out.append(_target_row(c, str(ttype), float(x), float(y)))
    for frame in hazardous_sites:
        if rng.random() >= 0.08:
            continue
        ring = Point(frame.cx, frame.cy).buffer(400).difference(Point(frame.cx, frame.cy).buffer(80))
        ring = ring.intersection(c.inner)
        if ring.is_empty:
            continue
        x, y = c.sample(1, region=ring)[0]
        out.append(_target_row(c, "village", float(x), float(y), small=rng.random() < 0.5))
    return out


# --- the register ---------------------------------------------------------------------------------------------------


# Column dtypes: nullable integers stay integers (Int64), text and lists stay Python objects (so None is None,
# not NaN), geometries other than `geom` (an enterprise's site) are plain shapely objects.
_DTYPES: dict[str, str] = {
    "level": "int64", "employees": "Int64", "max_occupancy": "Int64", "population": "Int64",
    "households": "Int64", "assessment_score": "float64", "synthetic": "bool", "gb_class_derived": "bool",
    "capacity_m3": "float64", "population_estimated": "bool",
}  # fmt: skip


def _frame(rows: list[dict[str, Any]], columns: Sequence[str], epsg: int) -> gpd.GeoDataFrame:
    """Rows with metric geometries → GeoDataFrame in EPSG:4490 with exactly `columns`."""
    # A jurisdiction's level is a word ('park'), a risk unit's a number.
    dtypes: dict[str, Any] = {**_DTYPES, "level": object} if "adcode" in columns else dict(_DTYPES)
    data = pd.DataFrame(
        {
            col: pd.Series([r[col] for r in rows], dtype=dtypes.get(col, object))
            for col in columns
            if col != "geometry"
        }
    )
    if "site" in data.columns:
        site = gpd.GeoSeries(data["site"].tolist(), crs=epsg).to_crs(STORAGE_EPSG)
        data["site"] = pd.Series([None if g is None or g.is_empty else g for g in site], dtype=object)
    geom = gpd.GeoSeries([r["geom"] for r in rows], crs=epsg).to_crs(STORAGE_EPSG)
    out = gpd.GeoDataFrame(data, geometry=geom.values, crs=f"EPSG:{STORAGE_EPSG}")
    return out[list(columns)]


def _empty(columns: Sequence[str]) -> gpd.GeoDataFrame:
    return _frame([], columns, STORAGE_EPSG)


def _concat(frames: list[gpd.GeoDataFrame], columns: Sequence[str]) -> gpd.GeoDataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty(columns)
    out = pd.concat(frames, ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=f"EPSG:{STORAGE_EPSG}")
    return out[list(columns)]


def _county_register(row: Any, seed: int, scale: float, as_of: dt.date) -> tuple[gpd.GeoDataFrame, ...]:
    c = _make_county(row, seed)
    enterprises, sites, tiers = _enterprises(c, scale)
    units = _enterprise_units(c, enterprises, sites, tiers, as_of)
    units += _public_units(c, as_of)
    hazardous = [
        s for s, e in zip(sites, enterprises, strict=True) if s is not None and e["sector"] in _HIGH_TIER
    ]
    targets = _targets(c, scale, hazardous)
    parks = [
        {
            "adcode": p.adcode,
            "name": p.name,
            "level": "park",
            "parent_adcode": c.adcode,
            "geom": _multipolygon(p.polygon),
            "source": SYNTHETIC_SOURCE,
            "synthetic": True,
        }
        for p in c.parks
    ]
    return (
        _frame(parks, PARK_COLUMNS, c.epsg),
        _frame(enterprises, ENTERPRISE_COLUMNS, c.epsg),
        _frame(units, RISK_UNIT_COLUMNS, c.epsg),
        _frame(targets, TARGET_COLUMNS, c.epsg),
    )


def synthetic_register(
    counties: gpd.GeoDataFrame, *, seed: int = 2026, scale: float = 1.0, as_of: dt.date | None = None
) -> DemoRegister:
    """A synthetic register for the county rows of `counties` (adcode, name, geometry in EPSG:4490; rows whose
    `level` is not 'county' and the EXCLUDED_COUNTIES are skipped).

    Deterministic for given (seed, scale, as_of): each county draws from its own generator seeded by
    (seed, adcode). as_of (default today) anchors the assessment dates. scale multiplies the numbers of
    enterprises and protection targets (0.1 for quick tests); parks and public-area risks keep their counts.
    """
    if scale <= 0:
        raise InvalidInput.one("scale", "scale must be positive", "scale 须为正数")
    as_of = as_of or dt.date.today()
    rows = counties.reset_index(drop=True)  # the caller's index (an adcode index, say) plays no part
    rows = rows.to_crs(STORAGE_EPSG) if rows.crs is not None else rows.set_crs(STORAGE_EPSG)
    if "level" in rows.columns:
        rows = rows[rows["level"] == "county"]
    rows = rows[~rows["adcode"].astype(str).isin(EXCLUDED_COUNTIES)]
    rows = rows.rename_geometry("geometry") if rows.geometry.name != "geometry" else rows
    parts: list[tuple[gpd.GeoDataFrame, ...]] = [
        _county_register(row, seed, scale, as_of)
        for row in rows.sort_values("adcode").itertuples(index=False)
    ]
    return DemoRegister(
        parks=_concat([p[0] for p in parts], PARK_COLUMNS),
        enterprises=_concat([p[1] for p in parts], ENTERPRISE_COLUMNS),
        risk_units=_concat([p[2] for p in parts], RISK_UNIT_COLUMNS),
        protection_targets=_concat([p[3] for p in parts], TARGET_COLUMNS),
    )
