"""The regulators' roster of inspectors (执法人员名录库) in PostGIS: stored from the office's Excel list in
the caller's scope, listed, and handed to the 双随机 draw and the cross-inspection teams as
geo.joint_prevention Inspectors and Teams."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy.dialects.postgresql import insert

from geo.access import Principal, Role
from geo.errors import InvalidInput, Problem
from geo.joint_prevention import Inspector, Team
from geo.roster import RosterEntry
from geo.store.models import RosterInspector
from geo.store.repository import E, J, deny, in_area, in_area_codes, in_subtree, set_actor

T = cast(Table, RosterInspector.__table__)


def save_roster(conn: Connection, principal: Principal, entries: Sequence[RosterEntry]) -> dict[str, int]:
    """Store a roster: every inspector's jurisdiction must exist and lie in the caller's area (a
    regulator's; an admin's is everything). Inspectors are matched by certificate number; those of the
    file's jurisdictions that the file no longer lists are deactivated (kept, for the plans made with
    them). All rows or none."""
    if principal.role not in (Role.admin, Role.regulator):
        raise deny(principal, "load the inspectors' roster")
    adcodes = sorted({e.jurisdiction_adcode for e in entries})
    known = set(conn.execute(select(J.c.adcode).where(J.c.adcode.in_(adcodes))).scalars())
    problems: list[Problem] = []
    for i, e in enumerate(entries):
        if e.jurisdiction_adcode not in known:
            problems.append(
                Problem(
                    f"row {i + 2}.jurisdiction_adcode",
                    f"no jurisdiction {e.jurisdiction_adcode}",
                    f"行政区划 {e.jurisdiction_adcode} 不存在",
                )
            )
        elif not in_area(conn, principal, e.jurisdiction_adcode):
            problems.append(
                Problem(
                    f"row {i + 2}.jurisdiction_adcode",
                    f"{e.jurisdiction_adcode} is outside your jurisdictions",
                    f"{e.jurisdiction_adcode} 不在您的管辖范围内",
                )
            )
    if problems:
        raise InvalidInput(problems)
    codes = [e.code for e in entries]
    taken = conn.execute(select(T.c.code, T.c.jurisdiction_adcode).where(T.c.code.in_(codes))).all()
    for code, adcode in taken:
        if not in_area(conn, principal, adcode):
            # someone else's inspector: not ours to move (and not ours to learn of beyond this)
            raise InvalidInput.one(
                "code",
                f"certificate {code} belongs to another jurisdiction's roster",
                f"执法证号 {code} 已属于其他辖区的名录库",
            )
    set_actor(conn, principal)
    stmt = insert(T).values(
        [
            {
                "code": e.code,
                "name": e.name,
                "jurisdiction_adcode": e.jurisdiction_adcode,
                "department": e.department,
                "team": e.team,
                "avoid": list(e.avoid),
                "active": True,
                "loaded_by": principal.actor,
            }
            for e in entries
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[T.c.code],
        set_={
            c: stmt.excluded[c]
            for c in ("name", "jurisdiction_adcode", "department", "team", "avoid", "active", "loaded_by")
        }
        | {"loaded_at": func.now()},
    )
    conn.execute(stmt)
    retired = conn.execute(
        update(T)
        .where(T.c.jurisdiction_adcode.in_(adcodes), T.c.code.not_in(codes), T.c.active)
        .values(active=False)
    ).rowcount
    return {"inspectors": len(entries), "deactivated": retired}


def list_roster(conn: Connection, principal: Principal, *, adcode: str | None = None) -> list[dict[str, Any]]:
    if principal.role not in (Role.admin, Role.regulator):
        raise deny(principal, "read the inspectors' roster")
    q = select(*T.c, J.c.name.label("jurisdiction_name")).select_from(
        T.join(J, J.c.adcode == T.c.jurisdiction_adcode)
    )
    if principal.role is Role.regulator:
        q = q.where(in_area_codes(conn, T.c.jurisdiction_adcode, principal))
    if adcode is not None:
        q = q.where(in_subtree(conn, T.c.jurisdiction_adcode, adcode))
    return [dict(r) for r in conn.execute(q.order_by(T.c.jurisdiction_adcode, T.c.code)).mappings()]


def roster_for(conn: Connection, adcodes: Sequence[str]) -> tuple[list[Inspector], list[Team]]:
    """The active inspectors of these jurisdictions (and the teams they form), for the plans. The credit
    codes they must avoid become enterprise ids."""
    rows = (
        conn.execute(
            select(*T.c, J.c.name.label("jurisdiction_name"))
            .select_from(T.join(J, J.c.adcode == T.c.jurisdiction_adcode))
            .where(T.c.active, T.c.jurisdiction_adcode.in_(list(adcodes)))
            .order_by(T.c.code)
        )
        .mappings()
        .all()
    )
    codes = sorted({c for r in rows for c in r["avoid"]})
    ids: dict[str, list[int]] = {}
    if codes:
        for code, ident in conn.execute(select(E.c.credit_code, E.c.id).where(E.c.credit_code.in_(codes))):
            ids.setdefault(code, []).append(int(ident))
    inspectors: list[Inspector] = []
    members: dict[tuple[str, str], list[str]] = {}
    names: dict[tuple[str, str], tuple[str, str]] = {}
    for r in rows:
        team = r["team"] or f"{r['department']}执法组"
        key = (r["jurisdiction_adcode"], team)
        team_id = f"{r['jurisdiction_adcode']}-{team}"
        members.setdefault(key, []).append(r["code"])
        names[key] = (team_id, r["jurisdiction_name"])
        avoid = frozenset(i for c in r["avoid"] for i in ids.get(c, []))
        inspectors.append(
            Inspector(
                r["code"],
                r["name"],
                r["jurisdiction_adcode"],
                r["jurisdiction_name"],
                r["department"],
                team_id,
                avoid=avoid,
            )
        )
    teams = [Team(names[k][0], k[1], k[0], names[k][1], tuple(v)) for k, v in sorted(members.items())]
    return inspectors, teams
