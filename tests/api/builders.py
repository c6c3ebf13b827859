"""Shared builders and assertions for the API tests: GeoJSON Features, places in the seed regions,
and a guard that no response of the suite is a 500."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, text

from geo.codes import make_credit_code

ENTERPRISES = "/api/v1/enterprises"
RISK_UNITS = "/api/v1/risk-units"
TARGETS = "/api/v1/protection-targets"
JURISDICTIONS = "/api/v1/jurisdictions"

# Places at least ~1 km inside the real (cnmaps) boundaries, so a GCJ-02 offset keeps them inside.
QUANGANG = (118.88, 25.11)  # 泉港区 350505
QUANGANG_2 = (118.91, 25.15)
QUANGANG_3 = (118.75, 25.17)
HUIAN = (118.82, 24.98)  # 惠安县 350521
BENGSHAN = (117.355, 32.886)  # 蚌埠市蚌山区 340303
# A square wholly inside 泉港区 (for a park, a township), and two points in it.
INNER_BOX = (118.80, 25.14, 118.84, 25.18)
IN_BOX = (118.81, 25.15)
IN_BOX_2 = (118.83, 25.17)


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def box_polygon(minx: float, miny: float, maxx: float, maxy: float) -> dict[str, Any]:
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    return {"type": "Polygon", "coordinates": [ring]}


def credit_code(n: int) -> str:
    """A valid 统一社会信用代码 (GB 32100 check digit), distinct for each n."""
    return make_credit_code(f"913505057{n:08d}")


def _feature(geometry: dict[str, Any] | None, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": copy.deepcopy(geometry), "properties": props}


def enterprise_feature(
    n: int = 1,
    *,
    at: tuple[float, float] = QUANGANG,
    geometry: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "credit_code": credit_code(n),
        "name": f"泉港石化储运有限公司{n}号",
        "sector": "危险化学品",
        "business_type": "危化品储存",
        "address": "福建省泉州市泉港区南埔镇",
        "employees": 120,
        "supervising_department": "泉港区应急管理局",
        "contact_person": "林志强",
        "contact_phone": "0595 8778 1234",
    }
    props.update(overrides)
    return _feature(geometry or point(*at), props)


def risk_unit_feature(
    enterprise_id: int | None = None,
    *,
    at: tuple[float, float] = QUANGANG,
    geometry: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": "液氨储罐区",
        "level": 2,
        "hazards": "液氨泄漏、中毒窒息",
        "control_measures": "设置有毒气体报警仪，双人巡检",
        "control_level": "company",
        "responsible_person": "陈建华",
    }
    if enterprise_id is not None:
        props["enterprise_id"] = enterprise_id
    else:
        props["sector"] = "城镇燃气"
    props.update(overrides)
    return _feature(geometry or point(*at), props)


def protection_target_feature(
    *, at: tuple[float, float] = QUANGANG, geometry: dict[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    props: dict[str, Any] = {"name": "泉港区第一中学", "type": "school", "address": "泉港区山腰街道"}
    props.update(overrides)
    return _feature(geometry or point(*at), props)


def jurisdiction_feature(
    adcode: str, name: str, level: str, parent: str | None, geometry: dict[str, Any]
) -> dict[str, Any]:
    props = {"adcode": adcode, "name": name, "level": level, "parent_adcode": parent, "source": "test"}
    return _feature(geometry, props)


@contextmanager
def shared_client(database_url: str, engine: Engine) -> Iterator[Any]:
    """A guarded TestClient over emptied register tables, for a module whose tests share rows (the
    function-scoped `client` fixture empties the tables before every test)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import DatabaseSettings, Settings

    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, protection_targets, enterprises RESTART IDENTITY CASCADE"))
        conn.execute(
            text("DELETE FROM jurisdictions WHERE synthetic OR level IN ('park', 'grid', 'township')")
        )
    from api.auth import current_principal
    from geo.access import SYSTEM

    app = create_app(Settings(db=DatabaseSettings(DATABASE_URL=database_url)))
    app.dependency_overrides[current_principal] = lambda: SYSTEM  # as an admin, like the `client` fixture
    with TestClient(app) as c:
        yield guarded(c)


# --- assertions -------------------------------------------------------------------------------------


def _no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (
        f"{response.request.method} {response.request.url} → {response.status_code}: {response.read()!r}"
    )


def guarded(client: Any) -> Any:
    """The TestClient, failing the test on any 5xx response it receives."""
    hooks = client.event_hooks
    if _no_server_error not in hooks["response"]:
        hooks["response"] = [*hooks["response"], _no_server_error]
        client.event_hooks = hooks
    return client


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    body: dict[str, Any] = response.json()
    return body


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def count(client: Any, path: str, **params: Any) -> int:
    """numberMatched of a list request (one row fetched unless `limit` is given)."""
    params.setdefault("limit", 1)
    n: int = ok(client.get(path, params=params))["numberMatched"]
    return n


def if_match(client: Any, url: str) -> dict[str, str]:
    """The `If-Match` header a PATCH or DELETE of `url` needs: the ETag of the row as `client` reads it
    now (what a real client does before it edits), or `*` when `client` cannot read it (the answer then
    shows the scope rule, 404 or 403, rather than the precondition)."""
    response = client.get(url)
    return {"If-Match": response.headers["etag"] if response.status_code == 200 else "*"}


def problem(response: httpx.Response, field: str, *, status: int = 422) -> dict[str, Any]:
    """The error entry naming `field` (a substring of errors[].field) of an error response."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"detail", "errors"}, body
    assert isinstance(body["detail"], str)
    assert body["detail"]
    matches = [e for e in body["errors"] if field in e["field"]]
    assert matches, f"no error naming {field!r} in {body['errors']}"
    found: dict[str, Any] = matches[0]
    assert found["reason"]
    return found


def ids(collection: dict[str, Any]) -> set[int]:
    return {f["id"] for f in collection["features"]}


def move_creation(conn: Connection, unit_id: int, at: str) -> None:
    """Date the making of a risk unit (its created_at, and the copy its 'delete' record keeps) to `at`:
    bookkeeping for the tests, not an edit, so no history or cache trigger fires."""
    conn.execute(text("ALTER TABLE risk_units DISABLE TRIGGER USER"))
    conn.execute(
        text("UPDATE risk_units SET created_at = CAST(:at AS timestamptz) WHERE id = :id"),
        {"at": at, "id": unit_id},
    )
    conn.execute(text("ALTER TABLE risk_units ENABLE TRIGGER USER"))
    conn.execute(
        text(
            "UPDATE history SET old_values = jsonb_set(old_values, '{created_at}', to_jsonb(CAST(:at AS timestamptz))) "
            "WHERE entity = 'risk_units' AND entity_id = :id AND action = 'delete'"
        ),
        {"at": at, "id": unit_id},
    )
