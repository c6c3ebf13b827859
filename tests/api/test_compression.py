"""gzip (api/compression.py): text answers of 1 KB or more are compressed for clients that take gzip,
with their own strong ETag; streamed answers, tiles, partial answers and signed-in pages holding a CSRF
token are not."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from api.compression import GZip, accepts_gzip, gzip_etag, strip_suffix
from tests.api.builders import RISK_UNITS, created, enterprise_feature, guarded, risk_unit_feature

BIG = {"rows": [{"name": f"风险点 {i}", "level": i % 4 + 1} for i in range(200)]}


def _etagged(request: Request) -> Response:
    tag = '"v1-abc"'
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"ETag": tag})
    return JSONResponse(BIG, headers={"ETag": tag})


def _stream(request: Request) -> StreamingResponse:
    def parts() -> Iterator[bytes]:
        for _ in range(50):
            yield b'{"a": "' + b"x" * 1000 + b'"}\n'

    return StreamingResponse(parts(), media_type="application/json")


def _page(request: Request) -> HTMLResponse:
    return HTMLResponse('<meta name="csrf-token" content="secret">' + "<p>风险</p>" * 500)


def _tile(request: Request) -> Response:
    return Response(b"\x1a" * 5000, media_type="application/vnd.mapbox-vector-tile")


def _weak(request: Request) -> Response:
    return JSONResponse(BIG, headers={"ETag": 'W/"w1"'})


@pytest.fixture
def small_app() -> TestClient:
    app = Starlette(
        routes=[
            Route("/etagged", _etagged),
            Route("/small", lambda r: JSONResponse({"a": 1})),
            Route("/stream", _stream),
            Route("/page", _page),
            Route("/tile.pbf", _tile),
            Route("/weak", _weak),
        ]
    )
    app.add_middleware(GZip)
    return TestClient(app)


def _raw(client: TestClient, path: str, **headers: str) -> httpx.Response:
    """The answer as sent (not decoded by the client)."""
    with client.stream("GET", path, headers=headers) as r:
        r.raw_bytes = b"".join(r.iter_raw())  # type: ignore[attr-defined]
        return r


def test_a_big_json_answer_is_gzipped_with_its_own_strong_etag(small_app: TestClient) -> None:
    r = _raw(small_app, "/etagged", **{"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(r.raw_bytes)) == BIG  # type: ignore[attr-defined]
    assert int(r.headers["content-length"]) == len(r.raw_bytes)  # type: ignore[attr-defined]
    assert r.headers["etag"] == '"v1-abc-gzip"'
    assert "Accept-Encoding" in r.headers["vary"]
    identity = _raw(small_app, "/etagged", **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers
    assert identity.headers["etag"] == '"v1-abc"'
    assert "Accept-Encoding" in identity.headers["vary"]
    # each representation revalidates with its own tag, and the 304 names the tag the client holds
    again = _raw(small_app, "/etagged", **{"Accept-Encoding": "gzip", "If-None-Match": '"v1-abc-gzip"'})
    assert again.status_code == 304
    assert again.headers["etag"] == '"v1-abc-gzip"'
    plain = _raw(small_app, "/etagged", **{"Accept-Encoding": "identity", "If-None-Match": '"v1-abc"'})
    assert plain.status_code == 304
    assert plain.headers["etag"] == '"v1-abc"'


def test_what_is_not_compressed(small_app: TestClient) -> None:
    gz = {"Accept-Encoding": "gzip"}
    assert "content-encoding" not in _raw(small_app, "/small", **gz).headers  # under 1 KB
    assert "content-encoding" not in _raw(small_app, "/etagged", **{"Accept-Encoding": "gzip;q=0"}).headers
    assert "content-encoding" not in _raw(small_app, "/tile.pbf", **gz).headers  # binary
    assert "content-encoding" not in _raw(small_app, "/etagged", **gz, Range="bytes=0-10").headers
    streamed = _raw(small_app, "/stream", **gz)
    assert "content-encoding" not in streamed.headers  # streamed: passes as it comes
    assert len(streamed.raw_bytes) == 50 * 1010  # type: ignore[attr-defined]
    # a CSRF token beside text a page repeats is not compressed for a cookie-signed request (BREACH)
    assert "content-encoding" not in _raw(small_app, "/page", **gz, Cookie="riskmap_session=x").headers
    assert _raw(small_app, "/page", **gz).headers["content-encoding"] == "gzip"
    weak = _raw(small_app, "/weak", **gz)
    assert weak.headers["content-encoding"] == "gzip"
    assert weak.headers["etag"] == 'W/"w1"'  # a weak tag may be shared across content codings


def test_header_helpers() -> None:
    assert accepts_gzip("gzip, deflate, br")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0, *")
    assert not accepts_gzip("identity")
    assert not accepts_gzip("")
    assert gzip_etag('"7-abc"') == '"7-abc-gzip"'
    assert strip_suffix('"7-abc-gzip", W/"x-gzip", "8-d"') == ('"7-abc", W/"x-gzip", "8-d"', {'"7-abc"'})


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


def test_a_list_is_gzipped_and_its_etags_work_both_ways(api: Any) -> None:
    eid = created(api.post("/api/v1/enterprises", json=enterprise_feature(1)))["id"]
    uid = 0
    for n in range(8):
        uid = created(api.post(RISK_UNITS, json=risk_unit_feature(eid, name=f"储罐区 {n}")))["id"]
    gz = api.get(RISK_UNITS, headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip"
    assert gz.headers["etag"].endswith('-gzip"')
    plain = api.get(RISK_UNITS, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert gz.json() == plain.json()
    assert gz.headers["etag"] == gzip_etag(plain.headers["etag"])
    again = api.get(RISK_UNITS, headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["etag"] == gz.headers["etag"]
    # a write names the row's ETag as it was received, gzipped or not
    row = api.get(f"{RISK_UNITS}/{uid}", headers={"Accept-Encoding": "gzip"})
    tag = row.headers["etag"]
    patched = api.patch(
        f"{RISK_UNITS}/{uid}",
        json={"properties": {"hazards": "液氨泄漏" * 200}},
        headers={"If-Match": tag, "Accept-Encoding": "gzip"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["content-encoding"] == "gzip"
    stale = api.patch(f"{RISK_UNITS}/{uid}", json={"properties": {"hazards": "x"}}, headers={"If-Match": tag})
    assert stale.status_code == 412


def test_a_geojson_export_streams_uncompressed_and_is_the_whole_file(api: Any, engine: Any) -> None:
    from api.usecases.exports import export_table
    from geo.access import SYSTEM

    eid = created(api.post("/api/v1/enterprises", json=enterprise_feature(1)))["id"]
    for n in range(5):
        created(
            api.post(RISK_UNITS, json=risk_unit_feature(eid, name=f"储罐区 {n}", assessed_on="2026-03-01"))
        )
    for crs in ("cgcs2000", "gcj02"):
        params = {"kind": "risk_units", "format": "geojson", "crs": crs}
        with api.stream("GET", "/api/v1/exports", params=params, headers={"Accept-Encoding": "gzip"}) as r:
            assert r.status_code == 200
            raw = b"".join(r.iter_raw())
            assert "content-encoding" not in r.headers  # streamed: sent as it is made
            assert "content-length" not in r.headers
        whole = export_table(engine, SYSTEM, "risk_units", fmt="geojson", crs=crs)
        assert json.loads(raw) == json.loads(whole.content)
        features = json.loads(raw)["features"]
        assert len(features) == 5
        assert {f["properties"]["风险点名称"] for f in features} == {f"储罐区 {n}" for n in range(5)}
