"""POST /api/v1/imports: the report of a dry run, all-or-nothing writes, and every bad file a 4xx."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from api.auth import current_principal
from geo.access import SYSTEM
from tests.api.builders import ENTERPRISES, credit_code, guarded, ok
from tests.io.helpers import (
    ENTERPRISE_HEADERS,
    RISK_HEADERS,
    enterprise_rows,
    risk_rows,
    write_csv,
    write_xlsx,
)

IMPORTS = "/api/v1/imports"


def _post(client: Any, path: Path, kind: str, *, name: str | None = None, **params: Any) -> Any:
    with path.open("rb") as f:
        return client.post(IMPORTS, params={"kind": kind, **params}, files={"file": (name or path.name, f)})


def _counts(engine: Engine) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("enterprises", "risk_units", "protection_targets", "jurisdictions")
        )


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


def _thousand_with_three_bad(tmp_path: Path) -> tuple[list[list[Any]], Path]:
    rows = risk_rows(1000, credit_code(1))
    rows[99][2] = "特大风险"  # level: sheet row 101
    rows[499][8] = "1380013800"  # phone with 10 digits: row 501
    rows[899][10] = 200.5  # longitude out of range: row 901
    return rows, write_xlsx(tmp_path / "风险点清单.xlsx", RISK_HEADERS, rows)


def test_three_bad_rows_among_a_thousand(api: Any, engine: Engine, tmp_path: Path) -> None:
    assert (
        _post(
            api, write_csv(tmp_path / "e.csv", ENTERPRISE_HEADERS, enterprise_rows(1)), "enterprises"
        ).status_code
        == 201
    )
    before = _counts(engine)
    rows, path = _thousand_with_three_bad(tmp_path)

    report = ok(_post(api, path, "risk_units", dry_run="true"))
    assert report["rows"] == 1000
    assert report["valid"] is False
    assert report["written"] is False
    assert report["rejected_rows"] == 3
    listed = {(e["field"], e["reason_zh"] is not None) for e in report["errors"]}
    assert {f for f, _ in listed} == {"row 101.level", "row 501.responsible_phone", "row 901.geometry"}
    assert all(zh for _, zh in listed)
    assert all(e["reason"] for e in report["errors"])
    assert report["columns"]["风险等级"] == "level"

    real = _post(api, path, "risk_units")
    assert real.status_code == 422
    body = real.json()
    assert "3 of 1000 rows rejected" in body["detail"]
    assert "nothing was written" in body["detail"]
    assert {e["field"] for e in body["errors"]} == {
        "row 101.level",
        "row 501.responsible_phone",
        "row 901.geometry",
    }
    assert _counts(engine) == before

    rows[99][2] = "重大风险"
    rows[499][8] = "13800138000"
    rows[899][10] = 118.9
    fixed = write_xlsx(tmp_path / "风险点清单.xlsx", RISK_HEADERS, rows)
    done = _post(api, fixed, "risk_units")
    assert done.status_code == 201, done.text
    assert (done.json()["inserted"], done.json()["updated"]) == (1000, 0)
    assert _counts(engine)[1] == before[1] + 1000
    again = _post(
        api, fixed, "risk_units"
    ).json()  # a corrected file imported twice: no copies, nothing written
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 1000)
    assert _counts(engine)[1] == before[1] + 1000


def _ten_thousand_columns(tmp_path: Path) -> Path:
    header = ",".join(f"c{i}" for i in range(10_000))
    return _write(
        tmp_path / "wide.csv", (header + "\n" + ",".join("1" for _ in range(10_000)) + "\n").encode()
    )


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated_zip(tmp_path: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.shp", b"x" * 5000)
        zf.writestr("a.dbf", b"y" * 5000)
    return _write(tmp_path / "cut.zip", buf.getvalue()[: len(buf.getvalue()) // 2])


def _formula_xlsx(tmp_path: Path) -> Path:
    rows = enterprise_rows(2)
    rows[1][3] = '=HYPERLINK("http://example.com","点击")'
    return write_xlsx(tmp_path / "formula.xlsx", ENTERPRISE_HEADERS, rows)


BAD_FILES = {
    "truncated zip": (_truncated_zip, "file", "truncated or corrupt"),
    "wrong extension": (lambda p: _write(p / "register.txt", b"a,b\n1,2\n"), "file", "unsupported file type"),
    "empty file": (lambda p: _write(p / "empty.csv", b""), "file", "empty"),
    "10,000 columns": (_ten_thousand_columns, "file", "10000 columns"),
    "invalid UTF-8 (GeoJSON)": (
        lambda p: _write(p / "bad.geojson", b'{"type": "FeatureCollection", "features": [\xff\xfe]}'),
        "file",
        "UTF-8",
    ),
    "invalid UTF-8 (CSV)": (
        lambda p: _write(p / "bad.csv", bytes(range(128, 256)) * 20),
        "file",
        "not UTF-8",
    ),
    "formulas in Excel cells": (_formula_xlsx, "row 3.address", "formula"),
    "a .xlsx that is not a workbook": (
        lambda p: _write(p / "fake.xlsx", b"PK\x03\x04 not really"),
        "file",
        "zip",
    ),
    "a zip bomb": (
        lambda p: _zip_bomb(p),
        "file",
        "zip bomb",
    ),
    "path traversal in a zip": (
        lambda p: _write_zip(p / "evil.zip", {"../../etc/evil.shp": b"x", "a.dbf": b"y"}),
        "file",
        "unsafe path",
    ),
}


def _write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _zip_bomb(tmp_path: Path) -> Path:
    return _write_zip(tmp_path / "bomb.zip", {"a.shp": b"\0" * (50 << 20), "a.shx": b"", "a.dbf": b""})


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_get_a_clear_4xx_and_change_nothing(
    api: Any, engine: Engine, tmp_path: Path, case: str
) -> None:
    make, field, words = BAD_FILES[case]
    before = _counts(engine)
    response = _post(api, make(tmp_path), "enterprises")
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["detail"]
    matches = [e for e in body["errors"] if e["field"] == field]
    assert matches, body
    assert words.lower() in (matches[0]["reason"]).lower(), matches
    assert _counts(engine) == before
    assert ok(api.get("/api/v1/health"))["status"] == "ok"


def test_an_upload_over_the_limit_is_refused_while_streaming(
    database_url: str, boundaries: None, clean: None, engine: Engine
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import DatabaseSettings, ImportSettings, Settings

    settings = Settings(
        db=DatabaseSettings(DATABASE_URL=database_url), imports=ImportSettings(max_upload_bytes=100_000)
    )
    before = _counts(engine)
    app = create_app(settings)
    app.dependency_overrides[current_principal] = lambda: SYSTEM  # the operator: only the size limit differs
    with TestClient(app) as c:
        big = b"a,b\n" + b"1,2\n" * 100_000

        def chunks() -> Any:  # no Content-Length: the server must count as the bytes arrive
            yield b'--xx\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
            for i in range(0, len(big), 65536):
                yield big[i : i + 65536]
            yield b"\r\n--xx--\r\n"

        streamed = c.post(
            IMPORTS,
            params={"kind": "enterprises"},
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=xx"},
        )
        assert streamed.status_code == 413, streamed.text
        assert "limit" in streamed.json()["detail"]
        declared = c.post(IMPORTS, params={"kind": "enterprises"}, files={"file": ("big.csv", big)})
        assert declared.status_code == 413
        assert c.get("/api/v1/health").status_code == 200
    assert _counts(engine) == before


def test_missing_required_column_is_named(api: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ENTERPRISE_HEADERS[1:], [r[1:] for r in enterprise_rows(2)])
    response = _post(api, path, "enterprises")
    assert response.status_code == 422
    assert any(
        e["field"] == "file.credit_code" and "统一社会信用代码" in e["reason_zh"]
        for e in response.json()["errors"]
    )


def test_unknown_kind_and_wrong_crs(api: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ENTERPRISE_HEADERS, enterprise_rows(1))
    assert _post(api, path, "mines").status_code == 422
    assert _post(api, path, "enterprises", crs="utm").status_code == 422
    assert api.get(ENTERPRISES).json()["numberMatched"] == 0


def test_gcj02_points_are_converted(api: Any, engine: Engine, tmp_path: Path) -> None:
    from geo.coords import wgs84_to_gcj02

    rows = enterprise_rows(1)
    lon, lat = rows[0][5], rows[0][6]
    rows[0][5], rows[0][6] = wgs84_to_gcj02(lon, lat)
    assert (
        _post(
            api, write_csv(tmp_path / "e.csv", ENTERPRISE_HEADERS, rows), "enterprises", crs="gcj02"
        ).status_code
        == 201
    )
    with engine.connect() as conn:
        x, y = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM enterprises")).one()
    assert abs(x - lon) < 1e-5
    assert abs(y - lat) < 1e-5
