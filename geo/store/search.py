"""Find a place of the register by what a user types (the one map's search box): enterprises by name,
credit code or address, risk units and protection targets by name, jurisdictions by name or adcode;
only what the caller may see (jurisdictions are public, the rest needs a sign-in)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, Text, cast, func, literal, or_, select

from geo.access import Forbidden, Principal, Unauthenticated
from geo.errors import InvalidInput
from geo.store.repository import (
    ENTERPRISES,
    JURISDICTIONS,
    PROTECTION_TARGETS,
    RISK_UNITS,
    Resource,
    in_codes,
    subtree_codes,
    visible,
)

MAX_QUERY = 100


def _like(q: str) -> str:
    """A LIKE pattern that finds `q` anywhere, its own % _ and \\ taken literally."""
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _part(
    res: Resource,
    principal: Principal,
    needle: str,
    subtree: list[str] | None,
    *,
    kind: str,
    detail: Any,
    fields: list[Any],
) -> Any:
    t: Table = res.table
    pattern = _like(needle)
    where = [or_(*(f.ilike(pattern, escape="\\") for f in fields))]
    where += visible(principal, res)
    if subtree is not None and res is not JURISDICTIONS:
        where.append(in_codes(t.c.jurisdiction_adcode, subtree))
    geom = t.c.geom
    key = t.c.adcode if res is JURISDICTIONS else t.c.id
    return select(
        literal(kind).label("kind"),
        cast(key, Text).label("id"),
        t.c.name.label("name"),
        cast(detail, Text).label("detail"),
        func.ST_XMin(geom).label("xmin"),
        func.ST_YMin(geom).label("ymin"),
        func.ST_XMax(geom).label("xmax"),
        func.ST_YMax(geom).label("ymax"),
        # the best matches first: a name that starts with the query, then shorter names
        func.strpos(func.lower(t.c.name), func.lower(literal(needle))).label("at"),
    ).where(*where)


def search(
    conn: Connection, principal: Principal, q: str, *, adcode: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    text = (q or "").strip()
    if not text:
        raise InvalidInput.one("q", "type what to look for", "请输入要查找的内容")
    if len(text) > MAX_QUERY:
        raise InvalidInput.one("q", f"at most {MAX_QUERY} characters", f"最多 {MAX_QUERY} 个字符")
    subtree = subtree_codes(conn, [adcode]) if adcode is not None else None
    J, E, R, P = JURISDICTIONS.table, ENTERPRISES.table, RISK_UNITS.table, PROTECTION_TARGETS.table
    parts = [
        _part(
            JURISDICTIONS,
            principal,
            text,
            subtree,
            kind="jurisdiction",
            detail=J.c.adcode,
            fields=[J.c.name, J.c.adcode],
        )
    ]
    for res, kind, detail, fields in (
        (ENTERPRISES, "enterprise", E.c.credit_code, [E.c.name, E.c.credit_code, E.c.address]),
        (RISK_UNITS, "risk_unit", R.c.level, [R.c.name]),
        (PROTECTION_TARGETS, "protection_target", P.c.address, [P.c.name, P.c.address]),
    ):
        try:
            parts.append(_part(res, principal, text, subtree, kind=kind, detail=detail, fields=fields))
        except (Forbidden, Unauthenticated):
            continue  # a role that may not read this table finds nothing in it
    # One statement per table (each with its own scope CTE), merged here: best first.
    rows = [dict(r) for part in parts for r in conn.execute(part.limit(limit)).mappings()]
    rows.sort(key=lambda r: (r["at"], len(r["name"] or ""), r["kind"], r["id"]))
    return rows[:limit]
