"""hidden hazards (隐患排查治理): inspections, hazards, their steps and attachments

Revision ID: 0013
Revises: 0010s
Create Date: 2026-12-04 14:30:00

The second half of the dual prevention mechanism (issue #14): a record per inspection (检查), a register of
hidden hazards (隐患) with their state in the loop reported → assigned → rectifying → rectified → accepted →
closed, each step kept in hazard_events, and photos or PDFs kept in the database. The rules are in
geo/hazards.py. The regulators' roster of inspectors (执法人员名录库). And the days of holiday notices loaded after a release (`riskmap calendar load`), which
every deadline in working days counts with.
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0010s"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inspections",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=True),
        sa.Column("jurisdiction_adcode", sa.String(length=12), nullable=False),
        sa.Column("risk_unit_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("inspectors", sa.Text(), nullable=False),
        sa.Column("checklist", sa.Text(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("plan_ref", sa.Text(), nullable=True),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_by", sa.Text(), server_default=sa.text("riskmap_history_actor()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('self','random','department','cross','third_party')",
            name=op.f("ck_inspections_kind_known"),
        ),
        sa.CheckConstraint(
            "result IN ('no_hazard','hazards_found')", name=op.f("ck_inspections_result_known")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_inspections_enterprise_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
    )
    op.create_index(op.f("ix_inspections_enterprise_id"), "inspections", ["enterprise_id"], unique=False)
    op.create_index(
        op.f("ix_inspections_jurisdiction_adcode"), "inspections", ["jurisdiction_adcode"], unique=False
    )
    op.create_table(
        "hazards",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("inspection_id", sa.BigInteger(), nullable=True),
        sa.Column("risk_unit_id", sa.BigInteger(), nullable=True),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=True),
        sa.Column("jurisdiction_adcode", sa.String(length=12), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(geometry_type="POINT", srid=4490, spatial_index=False),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("grade", sa.String(length=8), nullable=False),
        sa.Column("criterion", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column("reported_by", sa.Text(), nullable=False),
        sa.Column("assigned_on", sa.Date(), nullable=True),
        sa.Column("assigned_by", sa.Text(), nullable=True),
        sa.Column("notice_ref", sa.Text(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("responsible", sa.Text(), nullable=True),
        sa.Column("measures", sa.Text(), nullable=True),
        sa.Column("funds", sa.Text(), nullable=True),
        sa.Column("plan", sa.Text(), nullable=True),
        sa.Column("rectified_on", sa.Date(), nullable=True),
        sa.Column("rectified_by", sa.Text(), nullable=True),
        sa.Column("rectification", sa.Text(), nullable=True),
        sa.Column("evaluation_due", sa.Date(), nullable=True),
        sa.Column("evaluator", sa.Text(), nullable=True),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("accepted_by", sa.Text(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("supervised", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("supervised_on", sa.Date(), nullable=True),
        sa.Column("supervising_unit", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "grade = 'major' OR NOT supervised", name=op.f("ck_hazards_supervised_major_only")
        ),
        sa.CheckConstraint("grade IN ('general','major')", name=op.f("ck_hazards_grade_known")),
        sa.CheckConstraint(
            "status IN ('reported','assigned','rectifying','rectified','accepted','closed')",
            name=op.f("ck_hazards_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_hazards_enterprise_id"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"], ["inspections.id"], name=op.f("fk_hazards_inspection_id"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["risk_unit_id"], ["risk_units.id"], name=op.f("fk_hazards_risk_unit_id"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazards")),
    )
    op.create_index(op.f("ix_hazards_enterprise_id"), "hazards", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_hazards_inspection_id"), "hazards", ["inspection_id"], unique=False)
    op.create_index(op.f("ix_hazards_jurisdiction_adcode"), "hazards", ["jurisdiction_adcode"], unique=False)
    op.create_index(op.f("ix_hazards_risk_unit_id"), "hazards", ["risk_unit_id"], unique=False)
    op.create_index("ix_hazards_status", "hazards", ["status"], unique=False)
    op.create_table(
        "hazard_attachments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("hazard_id", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.Text(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["hazard_id"], ["hazards.id"], name=op.f("fk_hazard_attachments_hazard_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_attachments")),
    )
    op.create_index(
        op.f("ix_hazard_attachments_hazard_id"), "hazard_attachments", ["hazard_id"], unique=False
    )
    op.create_table(
        "hazard_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("hazard_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.CheckConstraint(
            "action IN ('report','assign','start','rectify','accept','reject','close','supervise')",
            name=op.f("ck_hazard_events_action_known"),
        ),
        sa.ForeignKeyConstraint(
            ["hazard_id"], ["hazards.id"], name=op.f("fk_hazard_events_hazard_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_events")),
    )
    op.create_index(op.f("ix_hazard_events_hazard_id"), "hazard_events", ["hazard_id"], unique=False)

    op.create_index("ix_hazards_geom_gist", "hazards", ["geom"], postgresql_using="gist")
    op.create_table(
        "working_calendar_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.Text(), server_default="", nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("loaded_by", sa.Text(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('holiday','workday')", name=op.f("ck_working_calendar_days_kind_known")),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_working_calendar_days")),
    )
    op.create_table(
        "roster_inspectors",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("jurisdiction_adcode", sa.String(length=12), nullable=False),
        sa.Column("department", sa.Text(), nullable=False),
        sa.Column("team", sa.Text(), nullable=True),
        sa.Column("avoid", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("loaded_by", sa.Text(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["jurisdiction_adcode"],
            ["jurisdictions.adcode"],
            name=op.f("fk_roster_inspectors_jurisdiction_adcode"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_roster_inspectors")),
    )
    op.create_index(
        op.f("ix_roster_inspectors_jurisdiction_adcode"), "roster_inspectors", ["jurisdiction_adcode"]
    )


def downgrade() -> None:
    op.drop_table("roster_inspectors")
    op.drop_table("working_calendar_days")
    op.drop_index("ix_hazards_geom_gist", table_name="hazards")
    op.drop_index(op.f("ix_hazard_events_hazard_id"), table_name="hazard_events")
    op.drop_table("hazard_events")
    op.drop_index(op.f("ix_hazard_attachments_hazard_id"), table_name="hazard_attachments")
    op.drop_table("hazard_attachments")
    op.drop_index("ix_hazards_status", table_name="hazards")
    op.drop_index(op.f("ix_hazards_risk_unit_id"), table_name="hazards")
    op.drop_index(op.f("ix_hazards_jurisdiction_adcode"), table_name="hazards")
    op.drop_index(op.f("ix_hazards_inspection_id"), table_name="hazards")
    op.drop_index(op.f("ix_hazards_enterprise_id"), table_name="hazards")
    op.drop_table("hazards")
    op.drop_index(op.f("ix_inspections_jurisdiction_adcode"), table_name="inspections")
    op.drop_index(op.f("ix_inspections_enterprise_id"), table_name="inspections")
    op.drop_table("inspections")
