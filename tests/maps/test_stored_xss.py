"""Stored XSS (issue #19, item 1), in headless Chromium against the served app with real sign-in.

Enterprise users write script payloads into every text field of their enterprise and its risk units through
the API, a regulator into protection targets, a public risk and a siting check's name, an admin into a
park's name. Then the regulator (and the public, for the published maps) opens every map: the four-colour
map by grid cells and by parks (internal and public), the safety-distance map, a siting check's map and the
joint-prevention map. Every interactive feature of every map is hovered and clicked (DOM mouse events on
each Leaflet path, so overlapping ones are reached too): no script may run (`window.__xss` stays
undefined), the payload must read as text in the tooltips and popups, and the page must load with no
console error (a CSP violation is one).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pyproj import Geod
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import AuthSettings, DatabaseSettings, Settings
from tests.api.builders import (
    ENTERPRISES,
    INNER_BOX,
    JURISDICTIONS,
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    enterprise_feature,
    jurisdiction_feature,
    point,
    protection_target_feature,
    risk_unit_feature,
)
from tests.maps.browser import Browser, PageReport, require_chromium, serve_app
from tests.principals import TEST_SECRET, add_test_user, bearer

pytestmark = pytest.mark.browser

COUNTY = "350505"  # 泉港区
GEOD = Geod(ellps="GRS80")
# Every way in we know of: an element with a handler, closing an attribute and the element, a script
# element, an SVG handler, a javascript: URL. Each sets window.__xss if it runs.
PAYLOAD = (
    '<img src=x onerror="window.__xss=1">'
    '"><script>window.__xss=2</script>'
    "'><svg onload=window.__xss=3>"
    "javascript:window.__xss=4//"
)
LITERAL = '<img src=x onerror="window.__xss=1">'  # what a reader must see as text

ENTERPRISE_TEXT = ("name", "business_type", "address", "supervising_department", "contact_person")
RISK_UNIT_TEXT = ("name", "hazards", "control_measures", "responsible_department", "responsible_person")
TARGET_TEXT = ("name", "address")

# Hover and click every interactive Leaflet feature; collect what the tooltips and popups show; give a
# failed image (onerror) time to fire; report whether anything ran.
_HOVER_ALL = """(async () => {
    const texts = [];
    const grab = () => {
        for (const el of document.querySelectorAll(".leaflet-tooltip, .leaflet-popup-content")) {
            texts.push(el.innerText);
        }
    };
    const features = Array.from(document.querySelectorAll(".leaflet-interactive"));
    for (const el of features) {
        const box = el.getBoundingClientRect();
        const at = {bubbles: true, cancelable: true, view: window,
                    clientX: box.x + box.width / 2, clientY: box.y + box.height / 2};
        el.dispatchEvent(new MouseEvent("mouseover", at));
        el.dispatchEvent(new MouseEvent("mousemove", at));
        grab();
        el.dispatchEvent(new MouseEvent("click", at));
        grab();
        el.dispatchEvent(new MouseEvent("mouseout", at));
    }
    for (const a of document.querySelectorAll("a[href^='javascript:' i]")) { a.click(); }
    await new Promise(resolve => setTimeout(resolve, 800));
    return {
        xss: window.__xss === undefined ? null : window.__xss,
        features: features.length,
        texts: texts,
        injected: document.querySelectorAll(
            "img[onerror], svg[onload], .leaflet-tooltip script, .leaflet-popup-content script").length,
    };
})()"""
_READY = "window.L && document.querySelectorAll('.leaflet-interactive').length > 0"


def offset(origin: tuple[float, float], azimuth: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, metres)
    return float(lon), float(lat)


def _tagged(tag: str) -> str:
    """The payload behind the field's tag, cut to 100 characters (the shortest text field's limit)."""
    return f"{tag} {PAYLOAD}"[:100]


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _empty_register(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, protection_targets, enterprises RESTART IDENTITY CASCADE"))
        conn.execute(
            text("DELETE FROM jurisdictions WHERE synthetic OR level IN ('park', 'grid', 'township')")
        )


@pytest.fixture(scope="module")
def served(database_url: str, engine: Engine, boundaries: None) -> Iterator[dict[str, Any]]:
    """The app with real sign-in on 127.0.0.1, and a register whose every text field is a payload, written
    by the roles that may write it."""
    _empty_register(engine)
    settings = Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret=TEST_SECRET))
    app = create_app(settings)
    app.state.engine = engine  # serve_app runs the app without the lifespan that would make one
    admin = bearer(add_test_user(engine, "admin"), "admin")
    regulator = bearer(add_test_user(engine, "regulator", adcodes=(COUNTY,)), "regulator")
    with serve_app(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as http:
        # Three plants 450 m apart (one joint-prevention cluster), registered by the admin with plain names.
        places = [QUANGANG, offset(QUANGANG, 90, 450), offset(QUANGANG, 90, 900)]
        for n, at in enumerate(places, start=1):
            eid = _ok(http.post(ENTERPRISES, json=enterprise_feature(n, at=at), headers=admin), 201)["id"]
            # The attacker: the enterprise's own user, through the API.
            own = bearer(add_test_user(engine, "enterprise", enterprise_id=eid), "enterprise")
            props = {field: _tagged(f"E{n}.{field}") for field in ENTERPRISE_TEXT}
            etag = http.get(f"{ENTERPRISES}/{eid}", headers=own).headers["etag"]
            _ok(
                http.patch(
                    f"{ENTERPRISES}/{eid}", json={"properties": props}, headers={**own, "If-Match": etag}
                )
            )
            unit = risk_unit_feature(
                eid,
                at=at,
                level=n,
                hazard_kind="液化烃罐组",
                capacity_m3=2000,
                **{field: _tagged(f"U{n}.{field}") for field in RISK_UNIT_TEXT},
            )
            _ok(http.post(RISK_UNITS, json=unit, headers=own), 201)
        # The regulator's own writes: protection targets close to the plants, and a public risk.
        for n, (azimuth, metres) in enumerate(((0, 120), (180, 200)), start=1):
            target = protection_target_feature(
                at=offset(QUANGANG, azimuth, metres),
                population=1500,
                **{field: _tagged(f"T{n}.{field}") for field in TARGET_TEXT},
            )
            _ok(http.post(TARGETS, json=target, headers=regulator), 201)
        public_risk = risk_unit_feature(
            at=offset(QUANGANG, 270, 600), level=2, **{f: _tagged(f"P.{f}") for f in RISK_UNIT_TEXT}
        )
        _ok(http.post(RISK_UNITS, json=public_risk, headers=regulator), 201)
        # A park, whose name the four-colour map shows (internal and public); only an admin loads zones.
        park = jurisdiction_feature(
            f"{COUNTY}P99", _tagged("Z.name"), "park", COUNTY, box_polygon(*INNER_BOX)
        )
        _ok(http.post(JURISDICTIONS, json=park, headers=admin), 201)
        yield {"url": base_url, "http": http, "regulator": regulator}
    _empty_register(engine)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(window=(1400, 1000)) as b:
        yield b


# (path, query, signed in as the regulator?, POST body)
MAPS = {
    "four-colour": ("/maps/four-color", {"adcode": COUNTY, "zones": "grid", "cell_m": "1000"}, True, None),
    "four-colour-public": (
        "/maps/four-color",
        {"adcode": COUNTY, "zones": "grid", "cell_m": "1000", "public": "true"},
        False,
        None,
    ),
    "four-colour-parks": ("/maps/four-color", {"adcode": COUNTY, "zones": "parks"}, True, None),
    "four-colour-parks-public": (
        "/maps/four-color",
        {"adcode": COUNTY, "zones": "parks", "public": "true"},
        False,
        None,
    ),
    "safety-distance": ("/maps/safety-distance", {"adcode": COUNTY}, True, None),
    "siting-check": (
        "/maps/siting-check",
        {},
        True,
        {
            "geometry": point(*offset(QUANGANG, 0, 60)),
            "target_type": "school",
            "population": 600,
            "name": _tagged("S.name"),
        },
    ),
    "joint-prevention": ("/maps/joint-prevention", {"adcode": COUNTY}, True, None),
}


def _open(served: dict[str, Any], browser: Browser, which: str) -> PageReport:
    path, query, signed_in, body = MAPS[which]
    url = str(httpx.URL(served["url"] + path, params=query))
    return browser.open(
        url,
        wait_for=_READY,
        evaluate=_HOVER_ALL,
        headers=served["regulator"] if signed_in else None,
        post_json=body,
        timeout=60,
    )


@pytest.mark.parametrize("which", list(MAPS))
def test_no_script_runs_when_every_feature_is_hovered_and_clicked(
    served: dict[str, Any], browser: Browser, which: str
) -> None:
    report = _open(served, browser, which)
    assert report.ready, (which, report.failed, report.console_errors)
    state = report.value
    assert state["features"] > 0
    assert state["xss"] is None, f"{which}: a payload ran (window.__xss = {state['xss']})"
    assert state["injected"] == 0
    shown = "\n".join(state["texts"])
    assert state["texts"], which
    if which != "four-colour-public":  # the published grid map shows no names (a park's, it does)
        assert LITERAL in shown, f"{which}: the payload is not shown as text"
    # Nothing was loaded from an injected element (an <img src=x> would ask for .../x), and the page ran with
    # no console error: a CSP violation would be one.
    assert not [u for u in report.requests if u.rstrip("/").endswith("/x")], report.requests
    failed = [(u, why) for u, why in report.failed if not u.endswith("/favicon.ico")]
    assert failed == []
    assert [e for e in report.console_errors if "favicon.ico" not in e] == []
    assert report.external_requests == []


def test_every_text_field_reaches_a_map(served: dict[str, Any], browser: Browser) -> None:
    """The test above means something only if the payloads are on the maps: every text field a map shows
    is read, as text, in some tooltip or popup. (No map shows an enterprise's address or supervising
    department, a target's address, or an enterprise risk point's hazards: the popups leave them out.)"""
    shown = ""
    for which in ("four-colour", "four-colour-parks", "safety-distance", "siting-check", "joint-prevention"):
        shown += "\n".join(_open(served, browser, which).value["texts"])
    tags = ["E1.name", "E1.business_type", "E1.contact_person", "U1.name", "T1.name", "S.name", "Z.name"]
    tags += ["P.name", "P.control_measures", "P.responsible_person"]
    missing = [tag for tag in tags if f"{tag} {LITERAL}" not in shown]
    assert missing == []
