"""Pure parts of the import: headers, cell values, zip safety, text encodings, field limits."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from geo.errors import InvalidInput
from geo.io.fields import FIELDS, Kind, fields_of, header_aliases, normalise_header
from geo.io.readers import decode_text, read_csv, read_geojson
from geo.io.safezip import ZipLimits, check_members, extract, open_zip
from geo.io.validate import LEVEL_WORDS, Problems, coerce, map_columns
from geo.io.writers import escape_cell


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("统一社会信用代码", "credit_code"),
        (" 企业名称（必填）* ", "name"),
        ("信用代码", "credit_code"),
        ("ＣＲＥＤＩＴ＿ＣＯＤＥ", "credit_code"),
        ("经度", "lon"),
        ("lng", "lon"),
    ],
)
def test_enterprise_headers(header: str, field: str) -> None:
    assert header_aliases(Kind.enterprises)[normalise_header(header)] == field


def test_same_header_means_different_fields_per_kind() -> None:
    assert header_aliases(Kind.risk_units)[normalise_header("统一社会信用代码")] == "enterprise_credit_code"
    assert header_aliases(Kind.risk_units)[normalise_header("联系电话")] == "responsible_phone"
    assert header_aliases(Kind.enterprises)[normalise_header("联系电话")] == "contact_phone"


@pytest.mark.parametrize(
    ("word", "level"), [("重大风险", 1), ("较大", 2), ("黄", 3), ("蓝色", 4), ("1", 1), ("四级", 4)]
)
def test_level_words(word: str, level: int) -> None:
    assert LEVEL_WORDS[word] == level


def _table(text: str) -> Any:
    return read_csv(text.encode("utf-8"))


def test_cells_are_typed_and_each_bad_cell_named() -> None:
    table = _table(
        "风险点名称,风险等级,评估日期,最大作业人数,管控层级,可能导致的事故类型,经度,纬度\n"
        "罐区,重大风险,2026年3月1日,8,车间,火灾、08,118.9,25.1\n"
        "库房,特大,2026-13-01,8.5,厂部,,abc,25.1\n"
    )
    problems = Problems(table.labels, table.label_kind)
    cmap = map_columns(table, Kind.public_risks, problems)
    frame = coerce(table, Kind.public_risks, cmap, problems)
    assert frame["level"][0] == 1
    assert str(frame["assessed_on"][0]) == "2026-03-01"
    assert frame["control_level"][0] == "workshop"
    assert frame["accident_types"][0] == ("火灾", "08")
    fields = {p.field for p in problems.as_problems()}
    assert {"row 3.level", "row 3.assessed_on", "row 3.max_occupancy", "row 3.control_level"} <= fields
    assert "file.sector" in fields  # a public-area risk needs its 行业领域 column


def test_formula_escape_is_removed_on_import() -> None:
    assert escape_cell("=1+2") == "'=1+2"
    assert escape_cell("@SUM(A1)") == "'@SUM(A1)"
    assert escape_cell("普通文本") == "普通文本"
    table = _table("风险点名称,行业领域,风险等级,经度,纬度\n'=罐区,消防,1,118.9,25.1\n")
    problems = Problems(table.labels, table.label_kind)
    frame = coerce(table, Kind.public_risks, map_columns(table, Kind.public_risks, problems), problems)
    assert frame["name"][0] == "=罐区"


def test_gbk_csv_is_read_and_garbage_is_refused() -> None:
    text = "企业名称,统一社会信用代码\n泉港石化储运有限公司,91350505MA2XY01234\n"
    decoded, encoding = decode_text(text.encode("gbk"))
    assert decoded == text
    assert encoding == "gb18030"
    with pytest.raises(InvalidInput, match="not UTF-8"):
        decode_text(bytes(range(128, 256)) * 4)


def test_geojson_legacy_crs_member_is_honoured() -> None:
    doc = b'{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}}, "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [488000, 2778000]}, "properties": {"a": 1}}]}'
    table = read_geojson(doc)
    assert table.source_crs is not None
    assert table.source_crs.to_epsg() == 4549


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("members", "limits", "words"),
    [
        ({"../x.shp": b"1"}, ZipLimits(), "unsafe path"),
        ({"/etc/x.shp": b"1"}, ZipLimits(), "unsafe path"),
        ({"C:/x.shp": b"1"}, ZipLimits(), "unsafe path"),
        ({f"{i}.txt": b"1" for i in range(20)}, ZipLimits(max_members=10), "at most 10"),
        ({"a.shp": b"\0" * (3 << 20)}, ZipLimits(), "zip bomb"),
        ({"a.shp": b"ab" * 1000}, ZipLimits(max_total_bytes=1000), "expands to"),
    ],
)
def test_zip_checks(tmp_path: Path, members: dict[str, bytes], limits: ZipLimits, words: str) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(_zip(members))
    with open_zip(path) as zf, pytest.raises(InvalidInput, match=words):
        check_members(zf, limits)


def test_extraction_stops_at_a_lying_size(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(_zip({"a.dbf": b"x" * 5000}, zipfile.ZIP_STORED))
    with open_zip(path) as zf:
        infos = check_members(zf, ZipLimits())
        infos[0].file_size = 10  # as a forged central directory would say
        with pytest.raises(InvalidInput, match=r"larger than the archive says|truncated or corrupt"):
            extract(zf, infos, tmp_path, ZipLimits())


def test_field_limits_agree_with_the_api_schemas() -> None:
    """A file and a POST accept the same lengths and ranges (api/routers/* property schemas)."""
    from api.routers.enterprises import EnterpriseProperties
    from api.routers.protection_targets import ProtectionTargetProperties
    from api.routers.risk_units import RiskUnitProperties

    def limits(model: Any, name: str) -> tuple[Any, Any, Any]:
        prop = model.model_json_schema()["properties"][name]
        found: dict[str, Any] = {}
        for branch in prop.get("anyOf", [prop]):
            for key in ("maxLength", "minimum", "exclusiveMinimum", "maximum"):
                if key in branch:
                    found[key] = branch[key]
        return (
            found.get("maxLength"),
            found.get("minimum", found.get("exclusiveMinimum")),
            found.get("maximum"),
        )

    schemas = {
        Kind.enterprises: EnterpriseProperties,
        Kind.public_risks: RiskUnitProperties,
        Kind.protection_targets: ProtectionTargetProperties,
    }
    checked = 0
    for kind, model in schemas.items():
        for f in FIELDS[kind]:
            if f.name not in model.model_fields or f.name in {
                "credit_code",
                "sector",
                "type",
                "gb_class",
                "level",
            }:
                continue
            max_length, lo, hi = limits(model, f.name)
            if max_length is not None and f.type == "text":
                assert f.max_length == max_length, (kind, f.name)
                checked += 1
            if hi is not None:
                assert (f.min_value, f.max_value) == (lo, hi), (kind, f.name)
                checked += 1
    assert checked >= 15
    assert fields_of(Kind.risk_units)["level"].max_value == 4
