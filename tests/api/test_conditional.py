"""Conditional requests (RFC 9110 §13): PATCH and DELETE need If-Match (428 without), compared strongly
(a weak tag never matches: 412); GETs of rows and lists answer If-None-Match with 304; 16 concurrent
writers lose no update."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.api.builders import (
    ENTERPRISES,
    RISK_UNITS,
    created,
    enterprise_feature,
    guarded,
    if_match,
    ok,
    problem,
    risk_unit_feature,
)


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


@pytest.fixture
def owned(api: Any, client_as: Any) -> tuple[Any, str, str]:
    """An enterprise user (the caller a lost update hurts), its enterprise's URL and one risk unit's."""
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1, employees=0)))
    unit = created(api.post(RISK_UNITS, json=risk_unit_feature(e["id"], level=3)))
    user = guarded(client_as("enterprise", enterprise_id=e["id"]))
    return user, f"{ENTERPRISES}/{e['id']}", f"{RISK_UNITS}/{unit['id']}"


def _names_if_match(response: Any, status: int) -> dict[str, Any]:
    found = problem(response, "If-Match", status=status)
    assert found["field"] == "If-Match"
    assert "If-Match" in found["reason"]
    assert "If-Match" in found["reason_zh"]
    return found


def test_patch_and_delete_without_if_match_are_428_and_change_nothing(owned: tuple[Any, str, str]) -> None:
    user, enterprise, unit = owned
    before = ok(user.get(unit))
    _names_if_match(user.patch(unit, json={"properties": {"hazards": "改"}}), 428)
    _names_if_match(user.patch(enterprise, json={"properties": {"employees": 5}}), 428)
    _names_if_match(user.delete(unit), 428)
    _names_if_match(user.delete(unit, headers={"If-Match": "  "}), 428)
    assert ok(user.get(unit)) == before
    assert ok(user.get(enterprise))["properties"]["employees"] == 0


def test_the_anonymous_get_401_and_out_of_scope_404_before_the_precondition(
    owned: tuple[Any, str, str], client_as: Any, api: Any
) -> None:
    _, enterprise, unit = owned
    public = client_as("public")
    assert public.patch(unit, json={"properties": {"hazards": "x"}}).status_code == 401
    assert public.delete(enterprise).status_code == 401
    other = created(api.post(ENTERPRISES, json=enterprise_feature(2)))
    stranger = client_as("enterprise", enterprise_id=other["id"])
    assert stranger.patch(unit, json={"properties": {"hazards": "x"}}).status_code == 404


def test_a_weak_tag_never_matches(owned: tuple[Any, str, str]) -> None:
    """If-Match uses the strong comparison: W/"…" of the very current tag is 412."""
    user, _, unit = owned
    tag = user.get(unit).headers["etag"]
    assert tag.startswith('"')
    assert not tag.startswith("W/")
    _names_if_match(
        user.patch(unit, json={"properties": {"hazards": "x"}}, headers={"If-Match": f"W/{tag}"}), 412
    )
    _names_if_match(user.delete(unit, headers={"If-Match": f"W/{tag}"}), 412)
    assert ok(user.patch(unit, json={"properties": {"hazards": "x"}}, headers={"If-Match": tag}))
    assert user.delete(unit, headers=if_match(user, unit)).status_code == 204


def test_a_stale_delete_is_412_and_deletes_nothing(owned: tuple[Any, str, str]) -> None:
    user, _, unit = owned
    old = if_match(user, unit)
    ok(user.patch(unit, json={"properties": {"hazards": "新"}}, headers=old))
    _names_if_match(user.delete(unit, headers=old), 412)
    assert ok(user.get(unit))["properties"]["hazards"] == "新"


def test_the_etag_is_the_same_in_every_crs(owned: tuple[Any, str, str]) -> None:
    """Each `crs` is its own URL whose answer follows from the row: one tag serves them all, so a tag read
    in CGCS2000 may guard an edit sent in GCJ-02."""
    user, enterprise, _ = owned
    tag = user.get(enterprise).headers["etag"]
    assert user.get(enterprise, params={"crs": "gcj02"}).headers["etag"] == tag
    moved = user.patch(
        enterprise,
        params={"crs": "gcj02"},
        json={"geometry": {"type": "Point", "coordinates": [118.9, 25.13]}},
        headers={"If-Match": tag},
    )
    assert ok(moved)
    assert moved.headers["etag"] != tag
    assert user.get(enterprise).headers["etag"] == moved.headers["etag"]


def test_if_none_match_on_a_row_is_304(owned: tuple[Any, str, str], api: Any) -> None:
    user, enterprise, unit = owned
    got = user.get(unit)
    tag = got.headers["etag"]
    for held in (tag, f"W/{tag}", f'"nope", {tag}', "*"):  # weak comparison; any of several; any row
        again = user.get(unit, headers={"If-None-Match": held})
        assert again.status_code == 304, held
        assert again.content == b""
        assert again.headers["etag"] == tag
        assert "Authorization" in again.headers["vary"]
    assert ok(user.get(unit, headers={"If-None-Match": '"nope"'})) == ok(got)
    # An enterprise's answer holds its level (就高 of its units): a new unit changes the tag, not the version.
    e_tag = user.get(enterprise).headers["etag"]
    created(
        api.post(RISK_UNITS, json=risk_unit_feature(int(enterprise.rsplit("/", 1)[1]), level=1, name="新"))
    )
    fresh = user.get(enterprise, headers={"If-None-Match": e_tag})
    assert ok(fresh)["properties"]["level"] == 1
    assert fresh.headers["etag"] != e_tag
    assert fresh.headers["etag"].startswith('"1-')  # the row itself was not written


def test_if_none_match_on_a_list_is_304_until_it_changes(owned: tuple[Any, str, str]) -> None:
    user, _, unit = owned
    listed = user.get(RISK_UNITS)
    tag = listed.headers["etag"]
    assert tag.startswith('"')
    assert user.get(RISK_UNITS, headers={"If-None-Match": tag}).status_code == 304
    assert user.get(RISK_UNITS, params={"crs": "gcj02"}, headers={"If-None-Match": tag}).status_code == 200
    ok(user.patch(unit, json={"properties": {"hazards": "变"}}, headers=if_match(user, unit)))
    changed = user.get(RISK_UNITS, headers={"If-None-Match": tag})
    assert ok(changed)["features"][0]["properties"]["hazards"] == "变"
    assert changed.headers["etag"] != tag


def test_malformed_if_match_is_422(owned: tuple[Any, str, str]) -> None:
    user, _, unit = owned
    for bad in ("abc", '"unterminated', 'W/"1" junk'):
        problem(
            user.patch(unit, json={"properties": {"hazards": "x"}}, headers={"If-Match": bad}), "If-Match"
        )


def test_sixteen_concurrent_writers_lose_no_update(owned: tuple[Any, str, str]) -> None:
    """16 threads each add 1 to `employees` 10 times by read, modify, write with If-Match, retrying on 412:
    all 160 increments are kept (without If-Match the same writers lost 147 of 160; now they get 428)."""
    user, enterprise, _ = owned
    writers, rounds = 16, 10
    refused: list[int] = []
    failures: list[str] = []
    start = threading.Barrier(writers)

    def write() -> None:
        start.wait()
        done = 0
        while done < rounds:
            got = user.get(enterprise)
            employees = got.json()["properties"]["employees"]
            r = user.patch(
                enterprise,
                json={"properties": {"employees": employees + 1}},
                headers={"If-Match": got.headers["etag"]},
            )
            if r.status_code == 200:
                done += 1
            elif r.status_code == 412:
                refused.append(1)
            else:
                failures.append(f"{r.status_code} {r.text}")
                return

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures
    final = ok(user.get(enterprise))["properties"]
    assert final["employees"] == writers * rounds
    assert final["version"] == 1 + writers * rounds
    assert refused  # the writers did collide, and the collisions were refused rather than lost


# --- the enterprise-id oracle ------------------------------------------------------------------------------------


def test_an_unknown_and_another_enterprise_id_get_the_same_answer(
    owned: tuple[Any, str, str], api: Any, client_as: Any
) -> None:
    """An enterprise user filing a risk unit (or moving one) under an id not its own gets one answer,
    whether the id exists or not: before, an unknown id was 422 and another enterprise's 403."""
    user, enterprise, unit = owned
    other = created(api.post(ENTERPRISES, json=enterprise_feature(2)))["id"]
    missing = other + 1000
    regulator = client_as("regulator", adcodes=("350505",))
    for caller in (user, regulator):
        answers = []
        for eid in (other, missing):
            r = caller.post(RISK_UNITS, json=risk_unit_feature(eid, name="试探"))
            answers.append((r.status_code, r.json()["detail"].replace(str(eid), "…")))
        assert answers[0] == answers[1]
        assert answers[0][0] == 403
        assert str(other) not in answers[0][1]
    moves = []
    for eid in (other, missing):
        r = user.patch(unit, json={"properties": {"enterprise_id": eid}}, headers=if_match(user, unit))
        body = r.json()
        body.pop("request_id", None)  # each answer has its own
        moves.append((r.status_code, body))
    assert moves[0] == moves[1]
    assert moves[0][0] == 403
    # the admin may know which ids exist: an unknown one is still named
    problem(api.post(RISK_UNITS, json=risk_unit_feature(missing)), "enterprise_id")
    assert ok(user.get(enterprise))["properties"]["risk_unit_count"] == 1
