"""The search box: by name, credit code, address or adcode, best first, in the caller's scope, LIKE
wildcards taken literally."""

from __future__ import annotations

from typing import Any

from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    RISK_UNITS,
    created,
    enterprise_feature,
    ok,
    problem,
    risk_unit_feature,
)

SEARCH = "/api/v1/search"


def test_search_finds_what_the_caller_may_see(client: Any, client_as: Any) -> None:
    e1 = created(client.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG, name="泉港石化有限公司")))
    e2 = created(client.post(ENTERPRISES, json=enterprise_feature(2, at=HUIAN, name="惠安石化有限公司")))
    created(client.post(RISK_UNITS, json=risk_unit_feature(e1["id"], at=QUANGANG, name="石化储罐区")))
    admin = ok(client.get(SEARCH, params={"q": "石化"}))["results"]
    assert {(r["kind"], r["name"]) for r in admin} >= {
        ("enterprise", "泉港石化有限公司"),
        ("enterprise", "惠安石化有限公司"),
        ("risk_unit", "石化储罐区"),
    }
    assert admin[0]["name"] == "石化储罐区"  # starts with the query
    found = next(r for r in admin if r["name"] == "泉港石化有限公司")
    assert found["bbox"][0] <= QUANGANG[0] <= found["bbox"][2]
    by_code = ok(client.get(SEARCH, params={"q": e2["properties"]["credit_code"]}))["results"]
    assert [r["id"] for r in by_code] == [str(e2["id"])]
    reg = client_as("regulator", adcodes=("350505",))
    names = {r["name"] for r in ok(reg.get(SEARCH, params={"q": "石化"}))["results"]}
    assert "惠安石化有限公司" not in names
    assert "泉港石化有限公司" in names
    ent = client_as("enterprise", enterprise_id=e2["id"])
    names = {r["name"] for r in ok(ent.get(SEARCH, params={"q": "石化"}))["results"]}
    assert names == {"惠安石化有限公司"}
    public = ok(client_as("public").get(SEARCH, params={"q": "泉港"}))["results"]
    assert {r["kind"] for r in public} == {"jurisdiction"}  # boundaries are public, the register is not
    assert ok(client.get(SEARCH, params={"q": "%"}))["results"] == []  # a wildcard is a character
    problem(client.get(SEARCH, params={"q": "  "}), "q")
