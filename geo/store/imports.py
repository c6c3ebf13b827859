"""Import a register file: check every row (geo/io), then write all rows or none, in bulk.

Writing is one transaction, after `riskmap.actor` is set for the history triggers. Enterprises and
zones are COPYed into a TEMP staging table and moved into the register with one INSERT … ON CONFLICT
… DO UPDATE; risk units that are new are COPYed straight into `risk_units` and those already stored
are updated from the staging table (the table is locked against concurrent imports, not readers);
public-area risks and protection targets are matched by a join, then UPDATEd or INSERTed.

Natural keys (upsert):

- enterprises: `credit_code` (unique index);
- enterprise risk units: the enterprise's `credit_code` + `name` (unique index on enterprise_id, name);
- public-area risks: `jurisdiction_adcode` + `sector` + `name` among rows without an enterprise;
- protection targets: `jurisdiction_adcode` + `type` + `name`;
- zones (parks, grids): `adcode`.

Public-area risks and protection targets have no unique index on their keys (rows stored through the
API may repeat one): they are matched under a table lock, and a row matching two stored rows is
refused as ambiguous instead of being guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from geo.access import Principal, Role
from geo.codes import validate_credit_code
from geo.coords import InputCrs, parse_crs
from geo.errors import InvalidInput, Problem
from geo.geometry import as_multipolygon
from geo.io.fields import KIND_NAMES_ZH, Kind
from geo.io.readers import RawTable, read_file
from geo.io.safezip import ZipLimits
from geo.io.validate import (
    MAX_LISTED_PROBLEMS,
    Problems,
    coerce,
    column_array,
    column_values,
    duplicate_rows,
    duplicates,
    enterprise_rules,
    locate,
    map_columns,
    risk_rules,
    target_rules,
    zone_rules,
)
from geo.store import bulk
from geo.store import repository as repo
from geo.store.models import SRID
from geo.store.repository import deny, set_actor
from geo.vocab import ADMIN_LEVELS

Progress = Callable[[str, int, int], None]
COPY_CHUNK = bulk.COPY_CHUNK
_ADMIN = tuple(str(x) for x in ADMIN_LEVELS)
_RANK = {level: i for i, level in enumerate(_ADMIN, start=1)}


@dataclass
class ImportReport:
    kind: str
    format: str
    rows: int
    dry_run: bool
    columns: dict[str, str] = field(default_factory=dict)  # header in the file → field
    ignored_columns: list[str] = field(default_factory=list)
    encoding: str | None = None
    rejected_rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    problems_total: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # rows matching a stored row with the same values: not written, no history
    written: bool = False

    @property
    def valid(self) -> bool:
        return self.problems_total == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": self.format,
            "dry_run": self.dry_run,
            "valid": self.valid,
            "written": self.written,
            "rows": self.rows,
            "rejected_rows": self.rejected_rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "columns": self.columns,
            "ignored_columns": self.ignored_columns,
            "encoding": self.encoding,
            "errors": [p.as_dict() for p in self.problems],
            "errors_total": self.problems_total,
        }


class ImportRejected(InvalidInput):
    """Some rows are wrong: nothing was written. Carries the whole report."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(report.problems or [Problem("file", "rejected")])
        self.report = report
        self.message = (
            f"{report.rejected_rows} of {report.rows} rows rejected"
            + (" (and the file itself)" if report.problems_total and not report.rejected_rows else "")
            + "; nothing was written"
        )


# --- who may import what --------------------------------------------------------------------------

_REGULATOR_KINDS = {Kind.public_risks, Kind.protection_targets, Kind.zones}
_ENTERPRISE_KINDS = {Kind.enterprises, Kind.risk_units}


def check_kind_allowed(principal: Principal, kind: Kind) -> None:
    if principal.is_admin:
        return
    if principal.role is Role.regulator and kind in _REGULATOR_KINDS:
        return
    if (
        principal.role is Role.enterprise
        and kind in _ENTERPRISE_KINDS
        and principal.enterprise_id is not None
    ):
        return
    raise deny(principal, f"import {kind} ({KIND_NAMES_ZH[kind]})")


def _tree(conn: Connection) -> dict[str, tuple[str | None, str]]:
    rows = conn.execute(text("SELECT adcode, parent_adcode, level FROM jurisdictions"))
    return {r[0]: (r[1], r[2]) for r in rows}


def _ancestors(tree: Mapping[str, tuple[str | None, str]], adcode: str) -> list[str]:
    out = []
    seen = set()
    node: str | None = adcode
    while node is not None and node in tree and node not in seen:
        seen.add(node)
        out.append(node)
        node = tree[node][0]
    return out


def in_subtrees(tree: Mapping[str, tuple[str | None, str]], adcode: str | None, roots: Iterable[str]) -> bool:
    if adcode is None:
        return False
    return bool(set(_ancestors(tree, adcode)) & set(roots))


# --- the import ----------------------------------------------------------------------------------


def import_file(
    engine: Engine,
    path: Path,
    filename: str | None = None,
    *,
    kind: Kind | str,
    principal: Principal,
    crs: InputCrs | str = "cgcs2000",
    jurisdiction: str | None = None,
    dry_run: bool = False,
    zip_limits: ZipLimits | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Read, check and (unless `dry_run`, and only if every row is right) write a register file.

    Raises Forbidden when the principal may not import this kind, InvalidInput for an unreadable
    file, ImportRejected (an InvalidInput with the report) when rows are wrong and this is no dry run.
    """
    kind = parse_kind(kind)
    check_kind_allowed(principal, kind)
    note = progress or (lambda *_: None)
    note("read", 0, 1)
    raw = read_file(path, filename, zip_limits=zip_limits)
    note("read", 1, 1)
    return import_table(
        engine,
        raw,
        kind=kind,
        principal=principal,
        crs=crs,
        jurisdiction=jurisdiction,
        dry_run=dry_run,
        progress=progress,
    )


def parse_kind(kind: Kind | str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in Kind)
        raise InvalidInput.one("kind", f"expected one of {allowed}", f"导入类型应为 {allowed} 之一") from None


@dataclass
class _Plan:
    """Checked rows ready to write: stored columns, geometries, and which columns the file gave."""

    frame: pd.DataFrame
    geoms: np.ndarray
    present: set[str]


def import_table(
    engine: Engine,
    raw: RawTable,
    *,
    kind: Kind | str,
    principal: Principal,
    crs: InputCrs | str = "cgcs2000",
    jurisdiction: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    kind = parse_kind(kind)
    check_kind_allowed(principal, kind)
    crs = parse_crs(crs, "crs")
    note = progress or (lambda *_: None)
    problems = Problems(raw.labels, raw.label_kind)
    report = ImportReport(str(kind), raw.format, len(raw), dry_run, encoding=raw.encoding)
    cmap = map_columns(raw, kind, problems)
    report.columns = {h: f for f, h in cmap.headers.items()}
    report.ignored_columns = cmap.ignored
    if problems:  # the file itself is wrong (a missing column): rows cannot be read
        return _finish(report, problems)
    note("check", 0, len(raw))
    typed = coerce(raw, kind, cmap, problems)
    geoms = locate(raw, kind, cmap, crs, problems)
    note("check", len(raw) // 2, len(raw))
    with engine.connect() as conn, conn.begin() as tx:
        set_actor(conn, principal)
        if (
            jurisdiction is not None
            and conn.execute(
                text("SELECT 1 FROM jurisdictions WHERE adcode = :a"), {"a": jurisdiction}
            ).first()
            is None
        ):
            raise InvalidInput.one(
                "jurisdiction",
                f"no jurisdiction with adcode {jurisdiction!r}",
                f"行政区划 {jurisdiction} 不存在",
            )
        plan = _PREPARE[kind](conn, typed, geoms, principal, problems, jurisdiction)
        note("check", len(raw), len(raw))
        if problems:
            tx.rollback()
            return _finish(report, problems)
        try:
            report.inserted, report.updated = _WRITE[kind](conn, plan, note)
            report.unchanged = len(plan.frame) - report.inserted - report.updated
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or "unknown"
            raise InvalidInput.one(
                "file",
                f"rejected by the database constraint {constraint}; nothing was written",
                "数据库约束拒绝写入，未写入任何数据",
            ) from None
        if dry_run:
            tx.rollback()
        else:
            tx.commit()
            report.written = True
    return report


def _finish(report: ImportReport, problems: Problems) -> ImportReport:
    report.problems = problems.as_problems(MAX_LISTED_PROBLEMS)
    report.problems_total = len(problems.items)
    report.rejected_rows = len(problems.rejected)
    if not report.dry_run:
        raise ImportRejected(report)
    return report


# --- jurisdictions, set-based ---------------------------------------------------------------------


def assign_jurisdictions(
    conn: Connection,
    geoms: np.ndarray,
    declared: Sequence[str | None],
    rows: Sequence[int],
    problems: Problems,
    tree: Mapping[str, tuple[str | None, str]],
) -> dict[int, str | None]:
    """For each row in `rows`: the deepest administrative unit covering a point on its geometry, inside
    its declared jurisdiction (a park or grid: the point must lie in it) — repository.assign_jurisdiction
    for a whole column at once: one query for the candidate boundaries, one covers test per boundary for
    the points in its box, then numpy per row."""
    out: dict[int, str | None] = {}
    rows_arr = np.asarray(rows, dtype=np.int64)
    live_arr = rows_arr[~pd.isna(geoms[rows_arr])] if len(rows_arr) else rows_arr
    if not len(live_arr):
        return out
    shapes = geoms[live_arr].astype(object)
    points = shapes.copy()  # a point is its own point on surface: only other shapes are computed
    others = shapely.get_type_id(shapes) != 0
    if others.any():
        points[others] = shapely.point_on_surface(shapes[others])
    bounds = shapely.total_bounds(points)
    cand = conn.execute(
        text(
            "SELECT adcode, level, ST_AsBinary(geom) FROM jurisdictions "
            "WHERE level = ANY(:levels) AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, :srid)"
        ),
        {
            "levels": list(_ADMIN),
            "x0": float(bounds[0]),
            "y0": float(bounds[1]),
            "x1": float(bounds[2]),
            "y1": float(bounds[3]),
            "srid": SRID,
        },
    ).all()
    codes = np.array([c[0] for c in cand], dtype=object)
    ranks = np.array([_RANK[c[1]] for c in cand], dtype=np.int64)
    polys = shapely.from_wkb([bytes(c[2]) for c in cand]) if cand else np.empty(0, dtype=object)
    pi, ti = _covered_pairs(points, polys)
    declared_all = np.asarray(declared, dtype=object)
    declared_live = declared_all[live_arr]
    declared_codes, declared_values = pd.factorize(declared_live, use_na_sentinel=True)  # None → -1
    # zones declared by rows (parks, grids): their point must lie inside them
    zone_codes = {str(d) for d in declared_values if d in tree and tree[d][1] not in _RANK}
    zone_geoms = {}
    if zone_codes:
        for code, wkb in conn.execute(
            text("SELECT adcode, ST_AsBinary(geom) FROM jurisdictions WHERE adcode = ANY(:c)"),
            {"c": list(zone_codes)},
        ):
            zone_geoms[code] = shapely.from_wkb(bytes(wkb))

    # keep the pairs inside each row's declared unit (its subtree), then the deepest unit per row
    keep = np.ones(len(pi), dtype=bool)
    pair_declared = declared_codes[pi]
    for k, d in enumerate(declared_values):
        if d in zone_codes:
            continue
        pairs_d = pair_declared == k
        if pairs_d.any():
            allowed = np.array([d in _ancestors(tree, str(c)) for c in codes], dtype=bool)
            keep[pairs_d] = allowed[ti[pairs_d]]
    pi, ti = pi[keep], ti[keep]
    best = np.full(len(live_arr), None, dtype=object)
    if len(pi):
        order = np.lexsort((-ranks[ti], pi))
        first = order[np.unique(pi[order], return_index=True)[1]]
        best[pi[first]] = codes[ti[first]]
    unknown = np.zeros(len(live_arr), dtype=bool)
    for k, d in enumerate(declared_values):
        mine = declared_codes == k
        if d not in tree:
            unknown[mine] = True
        elif d in zone_codes:
            at = np.flatnonzero(mine)
            best[at[~shapely.covers(zone_geoms[d], points[at])]] = None
    outside = (declared_codes >= 0) & ~unknown & pd.isna(best)
    nowhere = (declared_codes < 0) & pd.isna(best)
    for i in np.flatnonzero(unknown | outside | nowhere):
        row, d = int(live_arr[i]), declared_live[i]
        if unknown[i]:
            problems.add(row, "jurisdiction", f"no jurisdiction with adcode {d!r}", f"行政区划 {d} 不存在")
        elif nowhere[i]:
            problems.add(row, "geometry", *repo.NOWHERE_REASONS)
        else:
            problems.add(
                row,
                "geometry",
                f"the geometry lies outside jurisdiction {d}",
                f"位置不在所申报的行政区划 {d} 内",
            )
    placed = ~(unknown | outside | nowhere)
    out.update(zip(live_arr[placed].tolist(), best[placed].tolist(), strict=True))
    return out


def _inside_filed_under(
    conn: Connection, geoms: np.ndarray, places: Sequence[str | None], rows: Sequence[int], problems: Problems
) -> None:
    """Rows at `rows` are filed under `places` (their enterprise's jurisdiction): each must lie in it, as
    repository.check_place for one row. One query for the distinct boundaries, then one prepared covers
    test per boundary for its rows."""
    rows_arr = np.asarray(rows, dtype=np.int64)
    if not len(rows_arr):
        return
    live = rows_arr[~pd.isna(geoms[rows_arr])]
    place_of = np.asarray(places, dtype=object)
    for i in live[pd.isna(place_of[live])]:
        problems.add(int(i), "geometry", *repo.NOWHERE_REASONS)
    live = live[~pd.isna(place_of[live])]
    if not len(live):
        return
    shapes = geoms[live].astype(object)
    points = shapes.copy()
    others = shapely.get_type_id(shapes) != 0
    if others.any():
        points[others] = shapely.point_on_surface(shapes[others])
    codes, uniques = pd.factorize(place_of[live])
    boundaries = {
        r[0]: (r[1], shapely.from_wkb(bytes(r[2])))
        for r in conn.execute(
            text("SELECT adcode, name, ST_AsBinary(geom) FROM jurisdictions WHERE adcode = ANY(:c)"),
            {"c": [str(u) for u in uniques]},
        )
    }
    for k, code in enumerate(uniques):
        at = np.flatnonzero(codes == k)
        if code not in boundaries:
            continue  # the enterprise's jurisdiction is gone: the foreign key refuses the write
        name, poly = boundaries[code]
        shapely.prepare(poly)
        for i in at[~shapely.covers(poly, points[at])]:
            problems.add(int(live[i]), "geometry", *repo.outside_reasons(str(code), name))


def _covered_pairs(points: np.ndarray, polys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point index, polygon index) of every point a polygon covers (boundary included, as ST_Covers).
    Few polygons, many points: each polygon is prepared once and tested against the points in its box."""
    x, y = shapely.get_x(points), shapely.get_y(points)
    pis, tis = [], []
    for t, poly in enumerate(polys):
        x0, y0, x1, y1 = poly.bounds
        near = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
        if not len(near):
            continue
        shapely.prepare(poly)
        hit = near[shapely.covers(poly, points[near])]
        pis.append(hit)
        tis.append(np.full(len(hit), t))
    if not pis:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(pis), np.concatenate(tis)


def _declared(frame: pd.DataFrame, default: str | None) -> list[str | None]:
    values = column_values(frame, "jurisdiction")
    return [v if v is not None else default for v in values]


def _scope_rows(
    principal: Principal,
    adcodes: Mapping[int, str | None],
    tree: Mapping[str, tuple[str | None, str]],
    problems: Problems,
) -> None:
    if principal.role is not Role.regulator:
        return
    for row, code in adcodes.items():
        if not in_subtrees(tree, code, principal.adcodes):
            problems.add(
                row,
                "geometry",
                f"lies outside the jurisdictions you may edit ({', '.join(principal.adcodes)})",
                "位置不在您有权管理的行政区划内",
            )


# --- per kind: checks that need the database ------------------------------------------------------


def _ok(problems: Problems, n: int) -> list[int]:
    ok = np.ones(n, dtype=bool)
    ok[[pos for pos in problems.rejected if 0 <= pos < n]] = False
    return np.flatnonzero(ok).tolist()


def _prepare_enterprises(
    conn: Connection,
    typed: pd.DataFrame,
    geoms: np.ndarray,
    principal: Principal,
    problems: Problems,
    default: str | None,
) -> _Plan:
    frame = enterprise_rules(typed, problems)
    duplicates(
        column_values(frame, "credit_code"), problems, "credit_code", "credit code", "统一社会信用代码"
    )
    if principal.role is Role.enterprise:
        own = conn.execute(
            text("SELECT credit_code FROM enterprises WHERE id = :i"), {"i": principal.enterprise_id}
        ).scalar()
        for pos, code in enumerate(column_values(frame, "credit_code")):
            if code is not None and code != own:
                problems.add(
                    pos,
                    "credit_code",
                    "an enterprise account may import only its own enterprise",
                    "企业账号只能导入本企业信息",
                )
    tree = _tree(conn)
    rows = _ok(problems, len(frame))
    adcodes = assign_jurisdictions(conn, geoms, _declared(frame, default), rows, problems, tree)
    frame["jurisdiction_adcode"] = pd.Series(
        [adcodes.get(i) for i in range(len(frame))], dtype=object, index=frame.index
    )
    return _Plan(frame, geoms, set(typed.columns))


def _owners(
    conn: Connection, frame: pd.DataFrame, principal: Principal, problems: Problems
) -> tuple[list[Any], list[Any], list[Any]]:
    """Each risk unit's enterprise (id, sector, jurisdiction) by the credit code in the file: each
    distinct code is checked and looked up once, then spread over its rows."""
    raw_codes = column_array(frame, "enterprise_credit_code")
    codes, uniques = pd.factorize(raw_codes, use_na_sentinel=True)  # None → -1
    checked: list[str | None] = []
    invalid: dict[int, InvalidInput] = {}
    for k, code in enumerate(uniques):
        try:
            checked.append(validate_credit_code(code, "enterprise_credit_code"))
        except InvalidInput as exc:
            checked.append(None)
            invalid[k] = exc
    found = {
        r[0]: (r[1], r[2], r[3])
        for r in conn.execute(
            text(
                "SELECT credit_code, id, sector, jurisdiction_adcode FROM enterprises WHERE credit_code = ANY(:c)"
            ),
            {"c": [c for c in checked if c is not None]},
        )
    }
    # per distinct code (and a last slot for empty cells): the enterprise, or why there is none
    ids, sectors, places = (np.full(len(uniques) + 1, None, dtype=object) for _ in range(3))
    missing = np.zeros(len(uniques) + 1, dtype=bool)
    foreign = np.zeros(len(uniques) + 1, dtype=bool)
    for k, normal in enumerate(checked):
        if normal is None:
            continue
        if normal not in found:
            missing[k] = True
            continue
        ids[k], sectors[k], places[k] = found[normal]
        foreign[k] = principal.role is Role.enterprise and ids[k] != principal.enterprise_id
    bad = missing | foreign
    bad[list(invalid)] = True
    for pos in np.flatnonzero(bad[codes]):
        k = int(codes[pos])
        if k in invalid:
            problems.add_invalid(int(pos), invalid[k])
        elif missing[k]:
            problems.add(
                int(pos),
                "enterprise_credit_code",
                f"no enterprise with credit code {checked[k]}: import the enterprise first",
                f"统一社会信用代码为 {checked[k]} 的企业不存在，请先导入企业",
            )
        else:
            problems.add(
                int(pos),
                "enterprise_credit_code",
                "an enterprise account may import only its own risk units",
                "企业账号只能导入本企业的风险点",
            )
    return ids[codes].tolist(), sectors[codes].tolist(), places[codes].tolist()


def _prepare_risk_units(
    conn: Connection,
    typed: pd.DataFrame,
    geoms: np.ndarray,
    principal: Principal,
    problems: Problems,
    default: str | None,
) -> _Plan:
    ids, sectors, places = _owners(conn, typed, principal, problems)
    skip = {i for i, v in enumerate(ids) if v is None}
    frame = risk_rules(typed, sectors, problems, skip)
    frame["enterprise_id"] = pd.Series(ids, dtype=object, index=frame.index)
    id_values, names = np.array(ids, dtype=object), column_array(frame, "name")
    duplicate_rows(
        [id_values, names],
        ~pd.isna(id_values) & ~pd.isna(names),
        problems,
        "name",
        "risk unit (same enterprise and name)",
        "同一企业的风险点名称",
    )
    _no_self_close_out(conn, frame, principal, problems)
    declared = _declared(frame, default)
    tree = _tree(conn)
    rows = _ok(problems, len(frame))
    spatial = [r for r in rows if declared[r] is not None]
    adcodes = assign_jurisdictions(conn, geoms, declared, spatial, problems, tree)
    # as a POST does: without a declared jurisdiction, a unit is filed under its enterprise's, if it
    # lies there
    inherited = [r for r in _ok(problems, len(frame)) if declared[r] is None]
    _inside_filed_under(conn, geoms, places, inherited, problems)
    frame["jurisdiction_adcode"] = pd.Series(
        [adcodes.get(i) if declared[i] is not None else places[i] for i in range(len(frame))],
        dtype=object,
        index=frame.index,
    )
    return _Plan(frame, geoms, set(typed.columns))


def _no_self_close_out(
    conn: Connection, frame: pd.DataFrame, principal: Principal, problems: Problems
) -> None:
    """repository.check_no_self_close_out for a file: an enterprise's row that would take a stored
    level-1/2 unit (same enterprise and name) to level 3 or 4 is refused; the close-out (销号) lowers it."""
    if principal.role is not Role.enterprise:
        return
    stored: dict[str, int] = dict(
        conn.execute(
            text("SELECT name, level FROM risk_units WHERE enterprise_id = :e AND level <= 2"),
            {"e": principal.enterprise_id},
        ).all()
    )
    if not stored:
        return
    old = pd.Series(column_array(frame, "name")).map(stored).to_numpy(dtype=float, na_value=np.nan)
    new = pd.to_numeric(pd.Series(column_array(frame, "level")), errors="coerce").to_numpy(dtype=float)
    for pos in np.flatnonzero(~np.isnan(old) & (np.nan_to_num(new) > 2)):
        level = int(old[pos])
        problems.add(
            int(pos),
            "level",
            f"the stored unit of this name is level {level}: a major or large risk is lowered only by a "
            "close-out (销号) a regulator approves, not by an import",
            f"该风险点现为{'重大' if level == 1 else '较大'}风险，降级须经销号核查，不能通过导入降级",
        )


def _prepare_public(
    conn: Connection,
    typed: pd.DataFrame,
    geoms: np.ndarray,
    principal: Principal,
    problems: Problems,
    default: str | None,
) -> _Plan:
    frame = risk_rules(typed, None, problems)
    frame["enterprise_id"] = None
    return _spatial_keyed(
        conn, frame, typed, geoms, principal, problems, default, "sector", "public-area risk", "公共区域风险"
    )


def _prepare_targets(
    conn: Connection,
    typed: pd.DataFrame,
    geoms: np.ndarray,
    principal: Principal,
    problems: Problems,
    default: str | None,
) -> _Plan:
    frame = target_rules(typed, problems)
    return _spatial_keyed(
        conn, frame, typed, geoms, principal, problems, default, "type", "protection target", "防护目标"
    )


def _spatial_keyed(
    conn: Connection,
    frame: pd.DataFrame,
    typed: pd.DataFrame,
    geoms: np.ndarray,
    principal: Principal,
    problems: Problems,
    default: str | None,
    second: str,
    what: str,
    what_zh: str,
) -> _Plan:
    tree = _tree(conn)
    rows = _ok(problems, len(frame))
    adcodes = assign_jurisdictions(conn, geoms, _declared(frame, default), rows, problems, tree)
    _scope_rows(principal, adcodes, tree, problems)
    frame["jurisdiction_adcode"] = pd.Series(
        [adcodes.get(i) for i in range(len(frame))], dtype=object, index=frame.index
    )
    keys = [
        (frame["jurisdiction_adcode"].iat[i], frame[second].iat[i], frame["name"].iat[i])
        if i in adcodes
        else None
        for i in range(len(frame))
    ]
    duplicates(
        keys,
        problems,
        "name",
        f"{what} (same jurisdiction, {second} and name)",
        f"同一区划内同类{what_zh}名称",
    )
    return _Plan(frame, geoms, set(typed.columns))


def _prepare_zones(
    conn: Connection,
    typed: pd.DataFrame,
    geoms: np.ndarray,
    principal: Principal,
    problems: Problems,
    default: str | None,
) -> _Plan:
    frame = zone_rules(typed, problems)
    duplicates(column_values(frame, "adcode"), problems, "adcode", "zone code", "区域编码")
    tree = _tree(conn)
    parents = column_values(frame, "parent_adcode")
    codes = column_values(frame, "adcode")
    rows = _ok(problems, len(frame))
    for row in rows:
        code, parent = codes[row], parents[row]
        if code in tree and tree[code][1] in _RANK:
            problems.add(
                row,
                "adcode",
                f"{code} is an administrative unit, not a park or grid",
                f"{code} 是行政区划，不是园区或网格",
            )
        if parent not in tree or tree[parent][1] not in _RANK:
            problems.add(
                row,
                "parent_adcode",
                f"no administrative unit with adcode {parent!r}",
                f"上级行政区划 {parent} 不存在",
            )
        elif principal.role is Role.regulator and not in_subtrees(tree, parent, principal.adcodes):
            problems.add(
                row, "parent_adcode", "outside the jurisdictions you may edit", "不在您有权管理的行政区划内"
            )
        if (
            principal.role is Role.regulator
            and code in tree
            and tree[code][1] not in _RANK
            and not in_subtrees(tree, tree[code][0], principal.adcodes)
        ):
            # An upsert by code would rename, move or reshape the stored zone: its scope is the stored
            # row's (its parent), not only the file's. Worded as any out-of-scope write.
            problems.add(
                row, "adcode", "outside the jurisdictions you may edit", "不在您有权管理的行政区划内"
            )
    rows = _ok(problems, len(frame))
    inside = assign_jurisdictions(conn, geoms, parents, rows, problems, tree)
    del inside
    out_geoms = geoms.copy()
    for row in _ok(problems, len(frame)):
        out_geoms[row] = as_multipolygon(geoms[row])
    return _Plan(frame, out_geoms, set(typed.columns))


_PREPARE: dict[Kind, Callable[..., _Plan]] = {
    Kind.enterprises: _prepare_enterprises,
    Kind.risk_units: _prepare_risk_units,
    Kind.public_risks: _prepare_public,
    Kind.protection_targets: _prepare_targets,
    Kind.zones: _prepare_zones,
}


# --- writing -------------------------------------------------------------------------------------

# The columns an import writes: the resources' properties (repository.py) less what the server keeps.
_SERVER_KEPT = frozenset({"id", "synthetic", "version", "created_at", "updated_at"})


def _written(res: repo.Resource) -> tuple[str, ...]:
    return tuple(c for c in res.properties if c not in _SERVER_KEPT)


ENTERPRISE_COLUMNS = _written(repo.ENTERPRISES)
RISK_COLUMNS = _written(repo.RISK_UNITS)
RISK_DERIVED = {
    "enterprise_id",
    "kind",
    "name",
    "sector",
    "level",
    "assessment_method",
    "assessment_inputs",
    "assessment_score",
    "assessment_table",
    "next_assessment_due",
    "jurisdiction_adcode",
}
TARGET_COLUMNS = _written(repo.PROTECTION_TARGETS)
ZONE_COLUMNS = ("adcode", "name", "level", "parent_adcode", "source")


_INTEGER_COLUMNS = {"employees", "level", "max_occupancy", "population", "households", "enterprise_id", "n"}


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column ready for COPY (geo.store.bulk writes the values): missing → NULL, whole numbers as
    integers."""
    if name == "accident_types" and name not in frame:
        return pd.Series([[]] * len(frame), dtype=object)
    if name not in frame:
        return pd.Series([None] * len(frame), dtype=object)
    values = frame[name]
    if name == "accident_types":  # NOT NULL in the table: no types is the empty array
        return pd.Series([[] if _missing(v) else v for v in values], dtype=object)
    if name in _INTEGER_COLUMNS and pd.api.types.infer_dtype(values, skipna=True) in {
        "integer",
        "floating",
        "mixed-integer-float",
        "empty",
    }:
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        return numbers.where(np.isfinite(numbers)).astype("Int64").reset_index(drop=True)
    return values.reset_index(drop=True)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not np.isfinite(value))


def _copy_text(frame: pd.DataFrame, columns: Sequence[str], geoms: np.ndarray) -> bytes:
    """Rows of `frame` (plus `geom` as hex EWKB) in COPY's text format."""
    fields = [bulk.text_fields(_column(frame, c), c) for c in columns]
    fields.append(bulk.geometry_fields(geoms))
    return bulk.copy_text(fields)


def _copy(
    conn: Connection,
    table: str,
    frame: pd.DataFrame,
    columns: Sequence[str],
    geoms: np.ndarray,
    note: Progress,
) -> None:
    """COPY the frame's columns (plus `geom` as hex EWKB) into `table` with one COPY statement
    (geo.store.bulk), progress per chunk sent."""
    total = len(frame)

    def chunks() -> Iterator[tuple[bytes, int]]:
        for start in range(0, total, COPY_CHUNK):
            end = min(start + COPY_CHUNK, total)
            yield _copy_text(frame.iloc[start:end], columns, geoms[start:end]), end

    bulk.copy_chunks(conn, table, [*columns, "geom"], chunks(), lambda done: note("write", done, total))


def _stage(conn: Connection, target: str, columns: Sequence[str], plan: _Plan, note: Progress) -> None:
    cols = sql_list(columns)
    conn.execute(
        text(
            f"DROP TABLE IF EXISTS import_stage; CREATE TEMP TABLE import_stage ON COMMIT DROP AS SELECT {cols}, geom FROM {target} WITH NO DATA"  # noqa: S608 (identifiers from our specs; values bound)
        )
    )
    conn.execute(text("ALTER TABLE import_stage ADD COLUMN n bigint"))
    frame = plan.frame.copy()
    frame["n"] = np.arange(len(frame))
    _copy(conn, "import_stage", frame, [*columns, "n"], plan.geoms, note)
    conn.execute(text("ANALYZE import_stage"))


def sql_list(columns: Iterable[str]) -> str:
    """Column names (ours, from the specs above) as a quoted SQL list."""
    return ", ".join(f'"{c}"' for c in columns)


def _updates(columns: Iterable[str], alias: str = "EXCLUDED", target: str | None = None) -> str:
    """SET list from `alias`; with `target`, a geometry that has not moved (_moved) keeps its stored value."""
    return ", ".join(
        f'"{c}" = CASE WHEN {_moved(target, alias)} THEN {alias}.geom ELSE {target}.geom END'
        if c == "geom" and target is not None
        else f'"{c}" = {alias}."{c}"'
        for c in columns
    )


# Geometries closer than this (degrees, about 0.1 mm) are the same place: an export to Excel keeps 15–16
# significant digits (geo/io/writers.xlsx_cell), so its coordinates may come back off in the last bit.
GEOMETRY_TOLERANCE = 1e-9


def _changes(columns: Sequence[str], target: str, alias: str = "EXCLUDED") -> str:
    """The condition for an upsert to touch a stored row: some column it sets differs. A row whose
    values equal the file's is not updated at all, so it keeps its version, `synthetic` and
    `updated_at`, and the history trigger sees no row (geo/store/migrations/versions/0005). Geometries
    are equal when of the same type and number of points and within GEOMETRY_TOLERANCE of each other."""

    def new(c: str) -> str:
        return f"COALESCE({alias}.\"{c}\", '{{}}')" if c == "accident_types" else f'{alias}."{c}"'

    plain = [c for c in columns if c != "geom"]
    old = ", ".join(f'{target}."{c}"' for c in plain)
    out = [f"ROW({old}) IS DISTINCT FROM ROW({', '.join(map(new, plain))})"]
    if "geom" in columns:
        out.append(_moved(target, alias))
    return "(" + " OR ".join(out) + ")"


def _moved(target: str, alias: str) -> str:
    """Whether the geometry differs by more than GEOMETRY_TOLERANCE (or in type, or in number of points)."""
    a, b = f"{target}.geom", f"{alias}.geom"
    return (
        f"({a} IS DISTINCT FROM {b} AND CASE WHEN {a} IS NULL OR {b} IS NULL THEN true "
        f"WHEN GeometryType({a}) <> GeometryType({b}) OR ST_NPoints({a}) <> ST_NPoints({b}) THEN true "
        f"ELSE ST_HausdorffDistance({a}, {b}) >= {GEOMETRY_TOLERANCE!r} END)"
    )


def _counts(conn: Connection, statement: str) -> tuple[int, int]:
    row = conn.execute(
        text(
            f"WITH w AS ({statement} RETURNING (xmax = 0) AS ins) SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM w"  # noqa: S608 (identifiers from our specs; values bound)
        )
    ).one()
    return int(row[0]), int(row[1])


def _write_enterprises(conn: Connection, plan: _Plan, note: Progress) -> tuple[int, int]:
    _stage(conn, "enterprises", ENTERPRISE_COLUMNS, plan, note)
    update = [
        c
        for c in ENTERPRISE_COLUMNS
        if c in plan.present or c in ("credit_code", "name", "sector", "jurisdiction_adcode")
    ]
    cols = sql_list(ENTERPRISE_COLUMNS)
    return _counts(
        conn,
        f"INSERT INTO enterprises ({cols}, geom) SELECT {cols}, geom FROM import_stage ORDER BY n "  # noqa: S608 (identifiers from our specs; values bound)
        f"ON CONFLICT (credit_code) DO UPDATE SET {_updates([*update, 'geom'], target='enterprises')}, synthetic = false, "
        "version = enterprises.version + 1, updated_at = now() "
        f"WHERE {_changes([*update, 'geom'], 'enterprises')}",
    )


def _risk_update_columns(plan: _Plan) -> list[str]:
    return [c for c in RISK_COLUMNS if c in RISK_DERIVED or c in plan.present]


def _risk_select() -> str:
    return ", ".join(
        "COALESCE(accident_types, '{}')" if c == "accident_types" else f'"{c}"' for c in RISK_COLUMNS
    )


def _write_risk_units(conn: Connection, plan: _Plan, note: Progress) -> tuple[int, int]:
    """New units are COPYed straight into risk_units; units whose (enterprise, name) is stored already
    go through the staging table and one UPDATE. The table lock keeps another import from adding the
    same key in between (readers are not blocked)."""
    conn.execute(text("LOCK TABLE risk_units IN SHARE ROW EXCLUSIVE MODE"))
    owners = sorted({int(v) for v in column_values(plan.frame, "enterprise_id") if v is not None})
    stored = {
        (e, n)
        for e, n in conn.execute(
            text("SELECT enterprise_id, name FROM risk_units WHERE enterprise_id = ANY(:ids)"),
            {"ids": owners},
        )
    }
    keys = zip(column_values(plan.frame, "enterprise_id"), column_values(plan.frame, "name"), strict=True)
    existing = np.array([(int(e), n) in stored for e, n in keys], dtype=bool)
    new = _Plan(plan.frame[~existing], plan.geoms[~existing], plan.present)
    _copy(conn, "risk_units", new.frame, RISK_COLUMNS, new.geoms, note)
    updated = 0
    if existing.any():
        old = _Plan(plan.frame[existing], plan.geoms[existing], plan.present)
        _stage(conn, "risk_units", RISK_COLUMNS, old, note)
        written = [*_risk_update_columns(plan), "geom"]
        sets = _updates(written, "s", "t").replace('s."accident_types"', "COALESCE(s.accident_types, '{}')")
        updated = conn.execute(
            text(
                f"UPDATE risk_units t SET {sets}, synthetic = false, version = t.version + 1, updated_at = now() "  # noqa: S608 (identifiers from our specs; values bound)
                "FROM import_stage s WHERE t.enterprise_id = s.enterprise_id AND t.name = s.name "
                f"AND {_changes(written, 't', 's')}"
            )
        ).rowcount
    return int((~existing).sum()), int(updated)


def _match_and_write(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    update: Sequence[str],
    plan: _Plan,
    match: str,
    note: Progress,
    select: str | None = None,
) -> tuple[int, int]:
    """Upsert by a natural key that has no unique index: lock, match by join, UPDATE the matches, INSERT the rest."""
    _stage(conn, table, columns, plan, note)
    conn.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
    conn.execute(
        text(
            f"ALTER TABLE import_stage ADD COLUMN match_id bigint; "  # noqa: S608 (identifiers from our specs; values bound)
            f"UPDATE import_stage s SET match_id = t.id FROM {table} t WHERE {match}"
        )
    )
    ambiguous = conn.execute(
        text(
            f"SELECT s.n, count(*) FROM import_stage s JOIN {table} t ON {match} GROUP BY s.n HAVING count(*) > 1 ORDER BY s.n"  # noqa: S608 (identifiers from our specs; values bound)
        )
    ).all()
    if ambiguous:
        rows = ", ".join(str(r[0]) for r in ambiguous[:20])
        raise InvalidInput.one(
            "file",
            f"{len(ambiguous)} rows match more than one stored {table} row by their natural key (rows at positions {rows}); "
            "remove the duplicates in the register first",
            "有数据行按自然键匹配到多条已存记录，请先清理重复记录",
        )
    sets = _updates([*update, "geom"], "s", "t")
    updated = conn.execute(
        text(
            f"UPDATE {table} t SET {sets}, synthetic = false, version = t.version + 1, updated_at = now() "  # noqa: S608
            f"FROM import_stage s WHERE s.match_id = t.id AND {_changes([*update, 'geom'], 't', 's')}"
        )
    ).rowcount
    cols = sql_list(columns)
    inserted = conn.execute(
        text(
            f"INSERT INTO {table} ({cols}, geom) SELECT {select or cols}, geom FROM import_stage WHERE match_id IS NULL ORDER BY n"  # noqa: S608
        )
    ).rowcount
    return int(inserted), int(updated)


def _write_public(conn: Connection, plan: _Plan, note: Progress) -> tuple[int, int]:
    match = (
        "t.enterprise_id IS NULL AND t.jurisdiction_adcode = s.jurisdiction_adcode "
        "AND t.sector = s.sector AND t.name = s.name"
    )
    return _match_and_write(
        conn, "risk_units", RISK_COLUMNS, _risk_update_columns(plan), plan, match, note, _risk_select()
    )


def _write_targets(conn: Connection, plan: _Plan, note: Progress) -> tuple[int, int]:
    match = "t.jurisdiction_adcode = s.jurisdiction_adcode AND t.type = s.type AND t.name = s.name"
    update = [
        c
        for c in TARGET_COLUMNS
        if c in plan.present or c in ("name", "type", "gb_class", "gb_class_derived", "jurisdiction_adcode")
    ]
    return _match_and_write(conn, "protection_targets", TARGET_COLUMNS, update, plan, match, note)


def _write_zones(conn: Connection, plan: _Plan, note: Progress) -> tuple[int, int]:
    _stage(conn, "jurisdictions", ZONE_COLUMNS, plan, note)
    cols = sql_list(ZONE_COLUMNS)
    update = [c for c in ZONE_COLUMNS if c in plan.present or c != "source"]
    return _counts(
        conn,
        f"INSERT INTO jurisdictions ({cols}, geom) SELECT {cols}, geom FROM import_stage ORDER BY n "  # noqa: S608 (identifiers from our specs; values bound)
        f"ON CONFLICT (adcode) DO UPDATE SET {_updates([*update, 'geom'], target='jurisdictions')} "
        f"WHERE {_changes([*update, 'geom'], 'jurisdictions')}",
    )


_WRITE: dict[Kind, Callable[[Connection, _Plan, Progress], tuple[int, int]]] = {
    Kind.enterprises: _write_enterprises,
    Kind.risk_units: _write_risk_units,
    Kind.public_risks: _write_public,
    Kind.protection_targets: _write_targets,
    Kind.zones: _write_zones,
}
