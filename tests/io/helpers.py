"""Files for the import tests: registers written as CSV, Excel, GeoJSON, GeoPackage and zipped Shapefile."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.api.builders import QUANGANG, credit_code

ENTERPRISE_HEADERS = ["统一社会信用代码", "企业名称", "行业领域", "地址", "联系电话", "经度", "纬度"]
RISK_HEADERS = [
    "所属企业统一社会信用代码",
    "风险点名称",
    "风险等级",
    "可能导致的事故类型",
    "存在的主要危险有害因素",
    "管控措施",
    "管控层级",
    "责任人",
    "责任人手机号码",
    "评估日期",
    "经度",
    "纬度",
]


def enterprise_rows(n: int, start: int = 1) -> list[list[Any]]:
    rows = []
    for i in range(start, start + n):
        lon = QUANGANG[0] + (i % 40) * 0.001
        lat = QUANGANG[1] + (i // 40 % 40) * 0.001
        rows.append(
            [
                credit_code(i),
                f"泉港化工{i}号有限公司",
                "危险化学品",
                "泉州市泉港区南埔镇",
                "0595-87781234",
                lon,
                lat,
            ]
        )
    return rows


def risk_rows(n: int, code: str) -> list[list[Any]]:
    rows = []
    for i in range(n):
        lon = QUANGANG[0] + (i % 50) * 0.0005
        lat = QUANGANG[1] + (i // 50 % 50) * 0.0005
        rows.append(
            [
                code,
                f"储罐区{i:04d}",
                ["重大风险", "较大风险", "一般风险", "低风险"][i % 4],
                "火灾、容器爆炸",
                "液氨泄漏、中毒窒息",
                "设置有毒气体报警仪，双人巡检",
                ["公司级", "车间级", "班组级", "岗位级"][i % 4],
                "陈建华",
                "13800138000",
                "2026-03-01",
                lon,
                lat,
            ]
        )
    return rows


def write_csv(
    path: Path, headers: Sequence[str], rows: Sequence[Sequence[Any]], encoding: str = "utf-8"
) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(headers))
    for r in rows:
        ws.append(list(r))
    wb.save(path)
    return path


def write_geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), "utf-8"
    )
    return path


def zip_files(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path
