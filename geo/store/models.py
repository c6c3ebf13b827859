"""Tables of the risk register (GeoAlchemy2). Geometries are lon/lat in CGCS2000 (EPSG:4490)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4490
AREA_M2_SQL = (
    "CASE WHEN GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON') "
    "THEN ST_Area(geom::geography, true) ELSE 0 END"
)

# Where a risk unit lies on the web-Mercator tile grid (display only), kept by PostgreSQL from its geometry
# (migration 0024t, which has the same expressions): its box centre in tile units of zoom 11 (2^23 a side),
# the box's larger side in those units, and the Morton code of the centre, so that a tile of zoom ≤ 11 is
# one range of codes (geo.store.tiles draws small units per cell from an index-only scan).
_BOX = "geom::box3d"
TILE_X_SQL = (
    f"LEAST(8388607, GREATEST(0, floor(((ST_XMin({_BOX}) + ST_XMax({_BOX})) * 0.5 + 180.0) / 360.0 * 8388608.0)))"
    "::integer"
)
TILE_Y_SQL = (
    "LEAST(8388607, GREATEST(0, floor((1.0 - ln(tan(pi() / 4.0 + radians(LEAST(85.0511287798, GREATEST("
    f"-85.0511287798, (ST_YMin({_BOX}) + ST_YMax({_BOX})) * 0.5))) / 2.0)) / pi()) / 2.0 * 8388608.0)))::integer"
)
TILE_SPAN_SQL = (
    f"GREATEST((ST_XMax({_BOX}) - ST_XMin({_BOX})) / 360.0 * 8388608.0, radians(ST_YMax({_BOX}) - ST_YMin({_BOX})) "
    f"* (8388608.0 / (2.0 * pi())) / cos(radians((ST_YMin({_BOX}) + ST_YMax({_BOX})) * 0.5)))"
)
TILE_M_SQL = f"riskmap_morton({TILE_X_SQL}, {TILE_Y_SQL})"
TILE_WIDE: Final = 64
"""tile_span (zoom-11 units) from which a unit is in the partial index of wide units (a cell at zoom 11)."""


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def _geom(kind: str, nullable: bool = False) -> Mapped[Any]:
    # Indexes are made by the migrations (GiST, named), not by GeoAlchemy2's implicit ones.
    return mapped_column(Geometry(kind, srid=SRID, spatial_index=False), nullable=nullable)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Who made the row: the transaction's riskmap.actor, as the history's triggers read it (migration 0009).
    created_by: Mapped[str] = mapped_column(Text, server_default=text("riskmap_history_actor()"))
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    version: Mapped[int] = mapped_column(Integer, server_default="1", default=1)
    synthetic: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)


class Jurisdiction(Base):
    """Administrative unit or zone (行政区划 / 网格 / 园区) with its boundary."""

    __tablename__ = "jurisdictions"

    adcode: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    parent_adcode: Mapped[str | None] = mapped_column(
        String(12), ForeignKey("jurisdictions.adcode", ondelete="RESTRICT"), index=True
    )
    geom: Mapped[Any] = _geom("MULTIPOLYGON")
    source: Mapped[str | None] = mapped_column(Text)
    synthetic: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_jurisdictions_geom_gist", "geom", postgresql_using="gist"),
        CheckConstraint(
            "level IN ('province','city','county','township','village','grid','park')", name="level_known"
        ),
        CheckConstraint("adcode ~ '^[0-9A-Za-z_-]{2,12}$'", name="adcode_form"),
    )


class JurisdictionClosure(Base):
    """Every (ancestor, descendant) pair of the jurisdiction tree, each jurisdiction with itself too; kept
    by statement triggers on jurisdictions (migration 0023s). `jurisdiction_subtree` reads it."""

    __tablename__ = "jurisdiction_closure"

    ancestor: Mapped[str] = mapped_column(String(12), primary_key=True)
    descendant: Mapped[str] = mapped_column(String(12), primary_key=True, index=True)


class Enterprise(TimestampMixin, Base):
    """A production or business unit (生产经营单位) and its register header (一企一册)."""

    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(Text)
    sector: Mapped[str] = mapped_column(String(40), index=True)
    business_type: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = _geom("POINT")
    site: Mapped[Any] = _geom("MULTIPOLYGON", nullable=True)
    employees: Mapped[int | None] = mapped_column(Integer)
    supervising_department: Mapped[str | None] = mapped_column(Text)
    contact_person: Mapped[str | None] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    jurisdiction_adcode: Mapped[str | None] = mapped_column(
        String(12), ForeignKey("jurisdictions.adcode", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        Index("ix_enterprises_geom_gist", "geom", postgresql_using="gist"),
        Index("ix_enterprises_site_gist", "site", postgresql_using="gist"),
        CheckConstraint("char_length(credit_code) = 18", name="credit_code_length"),
        CheckConstraint("employees IS NULL OR employees >= 0", name="employees_nonneg"),
    )


class RiskUnit(TimestampMixin, Base):
    """A risk point or area (风险点 / 风险区域) of an enterprise, or a public-area risk (公共区域风险)."""

    __tablename__ = "risk_units"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    enterprise_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("enterprises.id", ondelete="CASCADE")
    )  # looked up through the unique (enterprise_id, name) index
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    sector: Mapped[str | None] = mapped_column(String(40))
    geom: Mapped[Any] = _geom("GEOMETRY")
    level: Mapped[int] = mapped_column(SmallInteger)
    assessment_method: Mapped[str] = mapped_column(String(8))
    # None is SQL NULL (not the JSON null), as a COPY stores it, so an API write and an import agree.
    assessment_inputs: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    assessment_score: Mapped[float | None] = mapped_column(Float)
    assessment_table: Mapped[str | None] = mapped_column(String(32))
    accident_types: Mapped[list[str]] = mapped_column(ARRAY(String(2)), server_default="{}", default=list)
    hazards: Mapped[str | None] = mapped_column(Text)
    control_measures: Mapped[str | None] = mapped_column(Text)
    control_level: Mapped[str | None] = mapped_column(String(16))
    responsible_department: Mapped[str | None] = mapped_column(Text)
    responsible_person: Mapped[str | None] = mapped_column(Text)
    responsible_phone: Mapped[str | None] = mapped_column(String(32))
    assessed_on: Mapped[dt.date | None] = mapped_column(Date)
    next_assessment_due: Mapped[dt.date | None] = mapped_column(Date, index=True)
    max_occupancy: Mapped[int | None] = mapped_column(Integer)
    # Safety distances (安全防护距离): a code of data/safety_distance_rules.csv, and the storage volume that
    # volume-banded rules (LPG supply bases, GB 50028) need.
    hazard_kind: Mapped[str | None] = mapped_column(String(40))
    capacity_m3: Mapped[float | None] = mapped_column(Float)
    # indexed with the level (ix_risk_units_jurisdiction_adcode_level below, migration 0022p)
    jurisdiction_adcode: Mapped[str | None] = mapped_column(
        String(12), ForeignKey("jurisdictions.adcode", ondelete="SET NULL")
    )
    # Geodesic area (CGCS2000 spheroid) of polygonal units, 0 for points and lines: the four-colour
    # map's area shares use it for every unit that lies wholly inside a zone.
    area_m2: Mapped[float] = mapped_column(Float, Computed(AREA_M2_SQL, persisted=True))
    tile_x: Mapped[int] = mapped_column(Integer, Computed(TILE_X_SQL, persisted=True))
    tile_y: Mapped[int] = mapped_column(Integer, Computed(TILE_Y_SQL, persisted=True))
    tile_span: Mapped[float] = mapped_column(DOUBLE_PRECISION, Computed(TILE_SPAN_SQL, persisted=True))
    tile_m: Mapped[int] = mapped_column(BigInteger, Computed(TILE_M_SQL, persisted=True))

    __table_args__ = (
        Index("ix_risk_units_geom_gist", "geom", postgresql_using="gist"),
        # a low-zoom tile's small units by an index-only range scan; its wide ones by a small GiST (0024t)
        Index(
            "ix_risk_units_tile_m",
            "tile_m",
            postgresql_include=[
                "tile_x",
                "tile_y",
                "tile_span",
                "level",
                "id",
                "enterprise_id",
                "jurisdiction_adcode",
            ],
        ),
        Index(
            "ix_risk_units_geom_wide",
            "geom",
            postgresql_using="gist",
            postgresql_where=text(f"tile_span >= {TILE_WIDE}"),
        ),
        # Partial indexes: each index is work on every inserted row (migration 0008).
        Index("ix_risk_units_level_major", "level", postgresql_where=text("level <= 2")),
        # a jurisdiction's counts by level from the index alone (geo.store.filed.unit_level_counts)
        Index("ix_risk_units_jurisdiction_adcode_level", "jurisdiction_adcode", "level"),
        Index("ix_risk_units_hazard_kind", "hazard_kind", postgresql_where=text("hazard_kind IS NOT NULL")),
        CheckConstraint("level BETWEEN 1 AND 4", name="level_range"),
        CheckConstraint("kind IN ('enterprise','public_area')", name="kind_known"),
        CheckConstraint("(kind = 'enterprise') = (enterprise_id IS NOT NULL)", name="kind_matches_owner"),
        CheckConstraint("assessment_method IN ('LEC','LS','MES','direct')", name="method_known"),
        CheckConstraint(
            "control_level IS NULL OR control_level IN ('company','workshop','team','post')",
            name="control_level_known",
        ),
        CheckConstraint(
            # an ARRAY containment, not IN: PostGIS's geometry_columns would read 'POINT' out of an IN
            # list as the column's type (migration 0018)
            "ARRAY['POINT','LINESTRING','POLYGON','MULTIPOINT','MULTILINESTRING','MULTIPOLYGON']::text[] "
            "@> ARRAY[GeometryType(geom)]",
            name="geom_kind",
        ),
        CheckConstraint("max_occupancy IS NULL OR max_occupancy >= 0", name="occupancy_nonneg"),
        CheckConstraint("capacity_m3 IS NULL OR capacity_m3 > 0", name="capacity_positive"),
        UniqueConstraint("enterprise_id", "name"),
    )


class ProtectionTarget(TimestampMixin, Base):
    """A protection target (防护目标): school, hospital, housing… classed per GB 36894-2018."""

    __tablename__ = "protection_targets"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32), index=True)
    gb_class: Mapped[str] = mapped_column(String(16), index=True)
    gb_class_derived: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    population: Mapped[int | None] = mapped_column(Integer)
    # True when `population` is an estimate (from households, say: data/population_rules.csv), not a count.
    population_estimated: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    households: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = _geom("GEOMETRY")
    jurisdiction_adcode: Mapped[str | None] = mapped_column(
        String(12), ForeignKey("jurisdictions.adcode", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        Index("ix_protection_targets_geom_gist", "geom", postgresql_using="gist"),
        CheckConstraint(
            "gb_class IN ('high_sensitive','important','general_1','general_2','general_3')",
            name="gb_class_known",
        ),
        CheckConstraint("population IS NULL OR population >= 0", name="population_nonneg"),
        CheckConstraint("households IS NULL OR households >= 0", name="households_nonneg"),
        CheckConstraint(
            "ARRAY['POINT','POLYGON','MULTIPOINT','MULTIPOLYGON']::text[] @> ARRAY[GeometryType(geom)]",
            name="geom_kind",
        ),
    )


class RiskContour(Base):
    """An individual-risk contour (个人风险等值线) of a risk unit from its QRA: the area where the risk is at
    least `individual_risk` per year (e.g. 3e-7, 3e-6, 1e-5, 3e-5), checked against GB 36894 criteria."""

    __tablename__ = "risk_contours"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    risk_unit_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("risk_units.id", ondelete="CASCADE"), index=True
    )
    individual_risk: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = _geom("MULTIPOLYGON")
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_risk_contours_geom_gist", "geom", postgresql_using="gist"),
        CheckConstraint("individual_risk > 0 AND individual_risk < 1", name="risk_range"),
        UniqueConstraint("risk_unit_id", "individual_risk"),
    )


class User(Base):
    """Someone who signs in: a role and its scope (adcode subtrees of a regulator, an enterprise's id)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, never the password
    role: Mapped[str] = mapped_column(String(16))
    adcodes: Mapped[list[str]] = mapped_column(ARRAY(String(12)), server_default="{}")
    enterprise_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("enterprises.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, server_default="true", default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("role IN ('admin','regulator','enterprise')", name="role_known"),
        CheckConstraint("role <> 'regulator' OR cardinality(adcodes) > 0", name="regulator_has_adcodes"),
    )


class ApiKey(Base):
    """An API key of a user (header X-API-Key): only its SHA-256 is stored, with a prefix to name it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true", default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebSession(Base):
    """A browser session (cookie `riskmap_session`): only the SHA-256 of the cookie's random value is stored.
    Signing out deletes the row, so a copied cookie stops working; so does deactivating the user."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


SPATIAL_COLUMNS = {
    "jurisdictions": ["geom"],
    "enterprises": ["geom", "site"],
    "risk_units": ["geom"],
    "protection_targets": ["geom"],
    "risk_contours": ["geom"],
    "hazards": ["geom"],
}


class HistoryRecord(Base):
    """One create, update or delete of an enterprise, risk unit or protection target, written by the
    database's own triggers (migration 0005) so that every path — API, COPY imports, plain SQL — is kept.
    Updates keep only the columns that changed, old and new; creates the whole new row, deletes the whole
    old row: enough to rebuild any row at any time."""

    __tablename__ = "history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_history_entity_entity_id", "entity", "entity_id", "id"),
        CheckConstraint(
            "entity IN ('enterprises','risk_units','protection_targets','inspections')", name="entity_known"
        ),
        CheckConstraint("action IN ('create','update','delete')", name="action_known"),
    )


CLOSEOUT_STATUSES = ("assigned", "requested", "rejected", "approved")


class CloseOut(Base):
    """The assignment (交办) of a major or large risk unit and its close-out (销号) case (seed 002 三(二)).
    Names of the unit and enterprise are kept as they were, so a public announcement (公示) survives the
    unit's later deletion."""

    __tablename__ = "closeouts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    risk_unit_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("risk_units.id", ondelete="SET NULL"), index=True
    )
    enterprise_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("enterprises.id", ondelete="SET NULL"), index=True
    )
    jurisdiction_adcode: Mapped[str | None] = mapped_column(String(12), index=True)
    risk_unit_name: Mapped[str] = mapped_column(Text)
    enterprise_name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    old_level: Mapped[int] = mapped_column(SmallInteger)
    identified_on: Mapped[dt.date] = mapped_column(Date)
    assignment_due: Mapped[dt.date] = mapped_column(Date)
    assigned_on: Mapped[dt.date] = mapped_column(Date)
    assigned_by: Mapped[str] = mapped_column(Text)
    assigning_unit: Mapped[str] = mapped_column(Text)
    letter_ref: Mapped[str | None] = mapped_column(Text)
    requested_on: Mapped[dt.date | None] = mapped_column(Date)
    requested_by: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    signed_by: Mapped[str | None] = mapped_column(Text)
    proposed_level: Mapped[int | None] = mapped_column(SmallInteger)
    proposed_method: Mapped[str | None] = mapped_column(String(8))
    proposed_inputs: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    proposed_score: Mapped[float | None] = mapped_column(Float)
    proposed_table: Mapped[str | None] = mapped_column(String(32))
    verification_due: Mapped[dt.date | None] = mapped_column(Date)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    new_level: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("status IN ('assigned','requested','rejected','approved')", name="status_known"),
        CheckConstraint("old_level IN (1, 2)", name="old_level_major_or_large"),
        CheckConstraint("proposed_level IS NULL OR proposed_level IN (3, 4)", name="proposed_level_low"),
        CheckConstraint("new_level IS NULL OR new_level IN (3, 4)", name="new_level_low"),
        # One open case per unit; a closed (approved) one stays beside a new one.
        Index(
            "uq_closeouts_open_risk_unit",
            "risk_unit_id",
            unique=True,
            postgresql_where="status <> 'approved'",
        ),
    )


class CloseOutEvent(Base):
    """Each step of a close-out case (assign, request, approve, reject) with who, when and what was said,
    so a rejected request stays on record after the next one."""

    __tablename__ = "closeout_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    closeout_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("closeouts.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    on_date: Mapped[dt.date] = mapped_column(Date)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", default=dict)

    __table_args__ = (
        CheckConstraint("action IN ('assign','request','approve','reject')", name="action_known"),
    )


INSPECTION_KINDS = ("self", "random", "department", "cross", "third_party")
HAZARD_STATUSES = ("reported", "assigned", "rectifying", "rectified", "accepted", "closed")
HAZARD_ACTIONS = ("report", "assign", "start", "rectify", "accept", "reject", "close", "supervise")


class Inspection(Base):
    """One inspection (检查): who checked (enterprise self-inspection 自查, regulator random check 双随机,
    department check, cross-inspection 交叉互查, third party), when, which enterprise or public area and
    which risk units, with which checklist, and what it found (migration 0013)."""

    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    enterprise_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("enterprises.id", ondelete="SET NULL"), index=True
    )
    jurisdiction_adcode: Mapped[str] = mapped_column(String(12), index=True)
    risk_unit_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    inspected_on: Mapped[dt.date] = mapped_column(Date)
    inspectors: Mapped[str] = mapped_column(Text)
    checklist: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(String(16))  # None while planned
    notes: Mapped[str | None] = mapped_column(Text)
    plan_ref: Mapped[str | None] = mapped_column(Text)
    # planned (made from a plan, to fill in) or done (migration 0019h)
    status: Mapped[str] = mapped_column(String(16), server_default="done", default="done")
    # The planned check this carries out (random:<enterprise>:<window>, cross:<enterprise>:<period>): unique,
    # so making a plan's records again adds none twice; `plan` keeps what the plan said.
    plan_key: Mapped[str | None] = mapped_column(Text, unique=True)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, server_default="1", default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    synthetic: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    created_by: Mapped[str] = mapped_column(Text, server_default=text("riskmap_history_actor()"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("kind IN ('self','random','department','cross','third_party')", name="kind_known"),
        CheckConstraint("result IN ('no_hazard','hazards_found')", name="result_known"),
        CheckConstraint("status IN ('planned','done')", name="status_known"),
        CheckConstraint("status = 'planned' OR result IS NOT NULL", name="result_when_done"),
    )


class Hazard(Base):
    """A hidden hazard (隐患): where, on which risk unit of which enterprise, its grade (一般 / 重大 with the
    criterion judged by), its state in the loop reported → assigned → rectifying → rectified → accepted →
    closed, the rectification notice and 五落实, the third-party evaluation of a major one, and 挂牌督办
    (migration 0013; rules in geo/hazards.py)."""

    __tablename__ = "hazards"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    inspection_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("inspections.id", ondelete="SET NULL"), index=True
    )
    risk_unit_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("risk_units.id", ondelete="SET NULL"), index=True
    )
    enterprise_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("enterprises.id", ondelete="SET NULL"), index=True
    )
    jurisdiction_adcode: Mapped[str] = mapped_column(String(12), index=True)
    geom: Mapped[Any] = _geom("POINT")
    description: Mapped[str] = mapped_column(Text)
    grade: Mapped[str] = mapped_column(String(8))
    criterion: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reported_on: Mapped[dt.date] = mapped_column(Date)
    reported_by: Mapped[str] = mapped_column(Text)
    assigned_on: Mapped[dt.date | None] = mapped_column(Date)
    assigned_by: Mapped[str | None] = mapped_column(Text)
    notice_ref: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    responsible: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
    funds: Mapped[str | None] = mapped_column(Text)
    plan: Mapped[str | None] = mapped_column(Text)
    rectified_on: Mapped[dt.date | None] = mapped_column(Date)
    rectified_by: Mapped[str | None] = mapped_column(Text)
    rectification: Mapped[str | None] = mapped_column(Text)
    evaluation_due: Mapped[dt.date | None] = mapped_column(Date)
    evaluator: Mapped[str | None] = mapped_column(Text)
    accepted_on: Mapped[dt.date | None] = mapped_column(Date)
    accepted_by: Mapped[str | None] = mapped_column(Text)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_by: Mapped[str | None] = mapped_column(Text)
    supervised: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    supervised_on: Mapped[dt.date | None] = mapped_column(Date)
    supervising_unit: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default="1", default=1)
    synthetic: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("grade IN ('general','major')", name="grade_known"),
        CheckConstraint(
            "status IN ('reported','assigned','rectifying','rectified','accepted','closed')",
            name="status_known",
        ),
        CheckConstraint("grade = 'major' OR NOT supervised", name="supervised_major_only"),
        Index("ix_hazards_status", "status"),
        Index("ix_hazards_geom_gist", "geom", postgresql_using="gist"),
    )


class HazardEvent(Base):
    """Each step of a hazard (report, assign, start, rectify, accept, reject, close, supervise): who, when,
    what was said, so a failed acceptance stays on record after the next one."""

    __tablename__ = "hazard_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hazard_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("hazards.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    on_date: Mapped[dt.date] = mapped_column(Date)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", default=dict)

    __table_args__ = (
        CheckConstraint(
            "action IN ('report','assign','start','rectify','accept','reject','close','supervise')",
            name="action_known",
        ),
    )


class HazardAttachment(Base):
    """A photo (JPEG, PNG) or PDF of a hazard, kept in the database (no file path a client could steer),
    its type judged from its content and its size limited (geo.hazards.attachment_type)."""

    __tablename__ = "hazard_attachments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hazard_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("hazards.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WorkingCalendarDay(Base):
    """A day of a State Council holiday notice loaded after this release (`riskmap calendar load`): it adds
    to (and overrides) data/cn_working_calendar.csv for every deadline in working days (migration 0013)."""

    __tablename__ = "working_calendar_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(Text, server_default="")
    source: Mapped[str] = mapped_column(Text)
    loaded_by: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (CheckConstraint("kind IN ('holiday','workday')", name="kind_known"),)


class RosterInspector(Base):
    """An inspector of the regulators' roster (执法人员名录库, seed 002 二(二)1), imported from the office's
    Excel list (`POST /api/v1/roster`, `riskmap roster import`); the 双随机 draw and the cross-inspection
    teams use it instead of a synthetic one. `avoid` holds the credit codes of enterprises the inspector
    must not inspect (回避). A roster loaded again for a jurisdiction deactivates those it no longer
    lists (migration 0013)."""

    __tablename__ = "roster_inspectors"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    jurisdiction_adcode: Mapped[str] = mapped_column(
        String(12), ForeignKey("jurisdictions.adcode", ondelete="RESTRICT"), index=True
    )
    department: Mapped[str] = mapped_column(Text)
    team: Mapped[str | None] = mapped_column(Text)
    avoid: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true", default=True)
    loaded_by: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoginFailure(Base):
    """One failed (or in-flight) sign-in, under one key of `api/login_limit.py`: a (username, address) pair or
    an address. Shared by every worker process and kept across restarts (migration 0016); `at` is seconds
    since the epoch."""

    __tablename__ = "login_failures"
    __table_args__ = (
        CheckConstraint("kind IN ('pair', 'address')", name="login_failures_kind_check"),
        Index("login_failures_key_at", "kind", "key", "at"),
        Index("login_failures_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    at: Mapped[float] = mapped_column(DOUBLE_PRECISION)
