"""register schema: jurisdictions, enterprises, risk units, protection targets

Revision ID: 0001
Revises:
Create Date: 2026-11-23 18:11:22.051548
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPATIAL = {
    "jurisdictions": ["geom"],
    "enterprises": ["geom", "site"],
    "risk_units": ["geom"],
    "protection_targets": ["geom"],
}


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "jurisdictions",
        sa.Column("adcode", sa.String(length=12), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_adcode", sa.String(length=12), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("adcode ~ '^[0-9A-Za-z_-]{2,12}$'", name=op.f("ck_jurisdictions_adcode_form")),
        sa.CheckConstraint(
            "level IN ('province','city','county','township','village','grid','park')",
            name=op.f("ck_jurisdictions_level_known"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_adcode"],
            ["jurisdictions.adcode"],
            name=op.f("fk_jurisdictions_parent_adcode"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("adcode", name=op.f("pk_jurisdictions")),
    )
    op.create_index(op.f("ix_jurisdictions_parent_adcode"), "jurisdictions", ["parent_adcode"], unique=False)
    op.create_table(
        "enterprises",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sector", sa.String(length=40), nullable=False),
        sa.Column("business_type", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "site",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("supervising_department", sa.Text(), nullable=True),
        sa.Column("contact_person", sa.Text(), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("jurisdiction_adcode", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.CheckConstraint("char_length(credit_code) = 18", name=op.f("ck_enterprises_credit_code_length")),
        sa.CheckConstraint(
            "employees IS NULL OR employees >= 0", name=op.f("ck_enterprises_employees_nonneg")
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_adcode"],
            ["jurisdictions.adcode"],
            name=op.f("fk_enterprises_jurisdiction_adcode"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_enterprises_credit_code")),
    )
    op.create_index(
        op.f("ix_enterprises_jurisdiction_adcode"), "enterprises", ["jurisdiction_adcode"], unique=False
    )
    op.create_index(op.f("ix_enterprises_sector"), "enterprises", ["sector"], unique=False)
    op.create_table(
        "protection_targets",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("gb_class", sa.String(length=16), nullable=False),
        sa.Column("gb_class_derived", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("jurisdiction_adcode", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.CheckConstraint(
            "GeometryType(geom) IN ('POINT','POLYGON','MULTIPOINT','MULTIPOLYGON')",
            name=op.f("ck_protection_targets_geom_kind"),
        ),
        sa.CheckConstraint(
            "gb_class IN ('high_sensitive','important','general_1','general_2','general_3')",
            name=op.f("ck_protection_targets_gb_class_known"),
        ),
        sa.CheckConstraint(
            "households IS NULL OR households >= 0", name=op.f("ck_protection_targets_households_nonneg")
        ),
        sa.CheckConstraint(
            "population IS NULL OR population >= 0", name=op.f("ck_protection_targets_population_nonneg")
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_adcode"],
            ["jurisdictions.adcode"],
            name=op.f("fk_protection_targets_jurisdiction_adcode"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protection_targets")),
    )
    op.create_index(op.f("ix_protection_targets_gb_class"), "protection_targets", ["gb_class"], unique=False)
    op.create_index(
        op.f("ix_protection_targets_jurisdiction_adcode"),
        "protection_targets",
        ["jurisdiction_adcode"],
        unique=False,
    )
    op.create_index(op.f("ix_protection_targets_type"), "protection_targets", ["type"], unique=False)
    op.create_table(
        "risk_units",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sector", sa.String(length=40), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("assessment_method", sa.String(length=8), nullable=False),
        sa.Column("assessment_inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("assessment_score", sa.Float(), nullable=True),
        sa.Column("assessment_table", sa.String(length=32), nullable=True),
        sa.Column(
            "accident_types", postgresql.ARRAY(sa.String(length=2)), server_default="{}", nullable=False
        ),
        sa.Column("hazards", sa.Text(), nullable=True),
        sa.Column("control_measures", sa.Text(), nullable=True),
        sa.Column("control_level", sa.String(length=16), nullable=True),
        sa.Column("responsible_department", sa.Text(), nullable=True),
        sa.Column("responsible_person", sa.Text(), nullable=True),
        sa.Column("responsible_phone", sa.String(length=32), nullable=True),
        sa.Column("assessed_on", sa.Date(), nullable=True),
        sa.Column("next_assessment_due", sa.Date(), nullable=True),
        sa.Column("max_occupancy", sa.Integer(), nullable=True),
        sa.Column("jurisdiction_adcode", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.CheckConstraint(
            "(kind = 'enterprise') = (enterprise_id IS NOT NULL)",
            name=op.f("ck_risk_units_kind_matches_owner"),
        ),
        sa.CheckConstraint(
            "GeometryType(geom) IN ('POINT','LINESTRING','POLYGON','MULTIPOINT','MULTILINESTRING','MULTIPOLYGON')",
            name=op.f("ck_risk_units_geom_kind"),
        ),
        sa.CheckConstraint(
            "assessment_method IN ('LEC','LS','MES','direct')", name=op.f("ck_risk_units_method_known")
        ),
        sa.CheckConstraint(
            "control_level IS NULL OR control_level IN ('company','workshop','team','post')",
            name=op.f("ck_risk_units_control_level_known"),
        ),
        sa.CheckConstraint("kind IN ('enterprise','public_area')", name=op.f("ck_risk_units_kind_known")),
        sa.CheckConstraint("level BETWEEN 1 AND 4", name=op.f("ck_risk_units_level_range")),
        sa.CheckConstraint(
            "max_occupancy IS NULL OR max_occupancy >= 0", name=op.f("ck_risk_units_occupancy_nonneg")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_risk_units_enterprise_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_adcode"],
            ["jurisdictions.adcode"],
            name=op.f("fk_risk_units_jurisdiction_adcode"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_units")),
        sa.UniqueConstraint("enterprise_id", "name", name=op.f("uq_risk_units_enterprise_id_name")),
    )
    op.create_index(op.f("ix_risk_units_enterprise_id"), "risk_units", ["enterprise_id"], unique=False)
    op.create_index(
        op.f("ix_risk_units_jurisdiction_adcode"), "risk_units", ["jurisdiction_adcode"], unique=False
    )
    op.create_index(op.f("ix_risk_units_level"), "risk_units", ["level"], unique=False)
    op.create_index(
        op.f("ix_risk_units_next_assessment_due"), "risk_units", ["next_assessment_due"], unique=False
    )

    for table, columns in SPATIAL.items():
        for column in columns:
            op.create_index(f"ix_{table}_{column}_gist", table, [column], postgresql_using="gist")
            # A stored geometry is always valid: the API repairs nothing silently and rejects the invalid.
            op.create_check_constraint(f"{column}_valid", table, f"{column} IS NULL OR ST_IsValid({column})")


def downgrade() -> None:
    op.drop_index(op.f("ix_risk_units_next_assessment_due"), table_name="risk_units")
    op.drop_index(op.f("ix_risk_units_level"), table_name="risk_units")
    op.drop_index(op.f("ix_risk_units_jurisdiction_adcode"), table_name="risk_units")
    op.drop_index(op.f("ix_risk_units_enterprise_id"), table_name="risk_units")
    op.drop_table("risk_units")
    op.drop_index(op.f("ix_protection_targets_type"), table_name="protection_targets")
    op.drop_index(op.f("ix_protection_targets_jurisdiction_adcode"), table_name="protection_targets")
    op.drop_index(op.f("ix_protection_targets_gb_class"), table_name="protection_targets")
    op.drop_table("protection_targets")
    op.drop_index(op.f("ix_enterprises_sector"), table_name="enterprises")
    op.drop_index(op.f("ix_enterprises_jurisdiction_adcode"), table_name="enterprises")
    op.drop_table("enterprises")
    op.drop_index(op.f("ix_jurisdictions_parent_adcode"), table_name="jurisdictions")
    op.drop_table("jurisdictions")
