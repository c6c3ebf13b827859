"""Writes that change nothing record nothing: re-importing an unchanged file or export, a PATCH with the
stored values and loading the same demo again keep every row's version, `synthetic` and `updated_at`
and write no history record; a write that does change a row still does all of that, for that row only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from geo.access import SYSTEM
from geo.store.demo import load_demo
from geo.store.imports import import_file
from tests.api.builders import (
    ENTERPRISES,
    RISK_UNITS,
    created,
    credit_code,
    enterprise_feature,
    guarded,
    if_match,
    ok,
)
from tests.api.builders import risk_unit_feature as unit_feature
from tests.api.test_exports import EXPORTS, ORDER, _load_register, _post_bytes
from tests.io.helpers import ENTERPRISE_HEADERS, RISK_HEADERS, enterprise_rows, risk_rows, write_csv

TABLES = ("enterprises", "risk_units", "protection_targets")


def _state(engine: Engine) -> dict[str, Any]:
    """Each register row's id, version, synthetic flag and updated_at, and the history's size."""
    with engine.connect() as conn:
        out: dict[str, Any] = {
            t: conn.execute(text(f"SELECT id, version, synthetic, updated_at FROM {t} ORDER BY id")).all()
            for t in TABLES
        }
        out["history"] = conn.execute(text("SELECT count(*) FROM history")).scalar_one()
    return out


def _mark_synthetic(engine: Engine) -> None:
    """As the demo leaves its rows (the flag is set by hand, so the history records it before we look)."""
    with engine.begin() as conn:
        for t in TABLES:
            conn.execute(text(f"UPDATE {t} SET synthetic = true"))


@pytest.mark.usefixtures("boundaries", "clean")
def test_reimporting_the_same_files_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    e_path = write_csv(tmp_path / "e.csv", ENTERPRISE_HEADERS, enterprise_rows(3))
    units = risk_rows(6, credit_code(1))
    r_path = write_csv(tmp_path / "r.csv", RISK_HEADERS, units)
    import_file(engine, e_path, kind="enterprises", principal=SYSTEM)
    import_file(engine, r_path, kind="risk_units", principal=SYSTEM)
    _mark_synthetic(engine)
    before = _state(engine)

    again_e = import_file(engine, e_path, kind="enterprises", principal=SYSTEM)
    again_r = import_file(engine, r_path, kind="risk_units", principal=SYSTEM)
    assert (again_e.inserted, again_e.updated, again_e.unchanged) == (0, 0, 3)
    assert (again_r.inserted, again_r.updated, again_r.unchanged) == (0, 0, 6)
    assert again_r.as_dict()["unchanged"] == 6
    assert _state(engine) == before

    # One changed value: that row, and only that row, is updated, recorded and no longer synthetic.
    units[2][5] = "改为每日三次巡检"
    changed = import_file(
        engine, write_csv(tmp_path / "r2.csv", RISK_HEADERS, units), kind="risk_units", principal=SYSTEM
    )
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 5)
    after = _state(engine)
    assert after["history"] == before["history"] + 1
    moved = [(b, a) for b, a in zip(before["risk_units"], after["risk_units"], strict=True) if a != b]
    assert len(moved) == 1
    (old, new) = moved[0]
    assert (new.version, new.synthetic) == (old.version + 1, False)
    assert new.updated_at > old.updated_at
    with engine.connect() as conn:
        record = conn.execute(
            text("SELECT action, old_values, new_values FROM history ORDER BY id DESC LIMIT 1")
        ).one()
    assert record.action == "update"
    assert set(record.new_values) == {"control_measures", "synthetic", "version"}
    assert record.new_values["control_measures"] == "改为每日三次巡检"


@pytest.mark.parametrize("fmt", ["geojson", "csv", "gpkg", "xlsx"])
def test_reimporting_an_unchanged_export_writes_nothing(
    client: Any, engine: Engine, tmp_path: Path, fmt: str
) -> None:
    """Every kind exported and imported again over the same rows (which are synthetic, as the demo's)."""
    api = guarded(client)
    _load_register(api, tmp_path)
    _mark_synthetic(engine)
    before = _state(engine)
    files = {kind: ok_bytes(api.get(EXPORTS, params={"kind": kind, "format": fmt})) for kind in ORDER}
    for kind in ORDER:
        r = _post_bytes(api, files[kind], f"{kind}.{fmt}", kind)
        assert r.status_code == 201, (kind, r.json())
        report = r.json()
        assert (report["inserted"], report["updated"]) == (0, 0), (kind, report)
        assert report["unchanged"] == report["rows"] > 0
    assert _state(engine) == before


def ok_bytes(response: Any) -> bytes:
    assert response.status_code == 200, response.text
    return bytes(response.content)


def test_a_patch_with_the_stored_values_changes_nothing(client: Any, engine: Engine) -> None:
    api = guarded(client)
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1)))
    unit = created(api.post(RISK_UNITS, json=unit_feature(e["id"])))
    _mark_synthetic(engine)
    for url, props in (
        (f"{ENTERPRISES}/{e['id']}", e["properties"]),
        (f"{RISK_UNITS}/{unit['id']}", unit["properties"]),
    ):
        before = _state(engine)
        current = api.get(url)
        etag = current.headers["etag"]
        same = {
            k: v for k, v in props.items() if k in ("name", "employees", "hazards", "level", "control_level")
        }
        for headers in ({"If-Match": etag}, {"If-Match": "*"}):
            patched = api.patch(url, json={"properties": same}, headers=headers)
            assert patched.status_code == 200, patched.text
            assert patched.headers["etag"] == etag
            assert patched.json() == current.json()
            assert patched.json()["properties"]["synthetic"] is True
        # the same geometry again
        geometry = current.json()["geometry"]
        assert (
            ok(api.patch(url, json={"properties": {}, "geometry": geometry}, headers={"If-Match": etag}))
            == current.json()
        )
        assert _state(engine) == before
        # a stale ETag is still refused, even when the values are the same
        stale = f'"7-{etag.strip(chr(34)).split("-", 1)[1]}"'
        assert api.patch(url, json={"properties": same}, headers={"If-Match": stale}).status_code == 412

    url = f"{RISK_UNITS}/{unit['id']}"
    before = _state(engine)
    changed = api.patch(url, json={"properties": {"hazards": "液氨泄漏"}}, headers=if_match(api, url))
    assert changed.status_code == 200
    assert changed.headers["etag"].startswith('"2-')
    assert _state(engine)["history"] == before["history"] + 1


@pytest.mark.usefixtures("boundaries", "clean")
def test_loading_the_same_demo_again_writes_nothing(engine: Engine) -> None:
    first = load_demo(engine, seed=11, scale=0.02, echo=lambda _: None)
    before = _state(engine)
    assert len(before["risk_units"]) == first["risk units"] > 0
    messages: list[str] = []
    load_demo(engine, seed=11, scale=0.02, echo=messages.append)
    assert _state(engine) == before
    assert f"risk units: {first['risk units']} unchanged, 0 removed, 0 added" in messages

    # Another seed replaces the demo: the old rows go (and their deletion is recorded), real rows stay.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE enterprises SET synthetic = false WHERE id = (SELECT min(id) FROM enterprises)")
        )
        real = conn.execute(text("SELECT id FROM enterprises WHERE NOT synthetic")).scalar_one()
    other = load_demo(engine, seed=12, scale=0.02, echo=lambda _: None)
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM enterprises WHERE synthetic")).scalar()
            == other["enterprises"]
        )
        assert conn.execute(text("SELECT count(*) FROM enterprises WHERE id = :i"), {"i": real}).scalar() == 1
        deleted = conn.execute(text("SELECT count(*) FROM history WHERE action = 'delete'")).scalar()
    assert deleted > 0


def test_rows_made_through_the_api_reimport_unchanged(client: Any, engine: Engine) -> None:
    """A risk unit POSTed without assessment inputs stores SQL NULL, as a COPY does (not the JSON null),
    so its export imports again as unchanged."""
    api = guarded(client)
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1)))
    created(api.post(RISK_UNITS, json=unit_feature(e["id"])))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT assessment_inputs IS NULL FROM risk_units")).scalar() is True
    before = _state(engine)
    for kind in ("enterprises", "risk_units"):
        data = ok_bytes(api.get(EXPORTS, params={"kind": kind, "format": "csv"}))
        report = _post_bytes(api, data, f"{kind}.csv", kind).json()
        assert (report["inserted"], report["updated"], report["unchanged"]) == (0, 0, 1), report
    assert _state(engine) == before


@pytest.mark.usefixtures("boundaries", "clean")
def test_a_position_off_in_the_last_digits_is_not_a_move(engine: Engine, tmp_path: Path) -> None:
    """Coordinates that come back 1e-13° off (an Excel export keeps 15–16 digits) leave the row alone;
    when another value of the row changes, the stored position stays and the record names that value
    only; a move of 1e-6° (about 0.1 m) is a move."""
    import_file(
        engine,
        write_csv(tmp_path / "e.csv", ENTERPRISE_HEADERS, enterprise_rows(1)),
        kind="enterprises",
        principal=SYSTEM,
    )
    units = risk_rows(3, credit_code(1))
    import_file(
        engine, write_csv(tmp_path / "r.csv", RISK_HEADERS, units), kind="risk_units", principal=SYSTEM
    )
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT name, ST_AsEWKB(geom) FROM risk_units ORDER BY name")).all()
    before = _state(engine)
    for row in units:
        row[-2] += 1e-13
    same = import_file(
        engine, write_csv(tmp_path / "r1.csv", RISK_HEADERS, units), kind="risk_units", principal=SYSTEM
    )
    assert (same.updated, same.unchanged) == (0, 3)
    assert _state(engine) == before

    units[0][5] = "三级巡检"
    units[1][-2] += 1e-6
    changed = import_file(
        engine, write_csv(tmp_path / "r2.csv", RISK_HEADERS, units), kind="risk_units", principal=SYSTEM
    )
    assert (changed.updated, changed.unchanged) == (2, 1)
    with engine.connect() as conn:
        after = conn.execute(text("SELECT name, ST_AsEWKB(geom) FROM risk_units ORDER BY name")).all()
        records = (
            conn.execute(text("SELECT new_values FROM history WHERE action = 'update' ORDER BY entity_id"))
            .scalars()
            .all()
        )
    assert after[0] == stored[0]  # kept to the last bit
    assert after[1] != stored[1]
    assert after[2] == stored[2]
    assert [set(r) - {"version"} for r in records] == [{"control_measures"}, {"geom"}]
