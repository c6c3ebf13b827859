"""safety distances: hazard kind and storage volume of risk units, estimated populations, risk contours

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("risk_units", sa.Column("hazard_kind", sa.String(length=40), nullable=True))
    op.add_column("risk_units", sa.Column("capacity_m3", sa.Float(), nullable=True))
    op.create_index(op.f("ix_risk_units_hazard_kind"), "risk_units", ["hazard_kind"], unique=False)
    op.create_check_constraint("capacity_positive", "risk_units", "capacity_m3 IS NULL OR capacity_m3 > 0")
    op.add_column(
        "protection_targets",
        sa.Column("population_estimated", sa.Boolean(), server_default="false", nullable=False),
    )
    op.create_table(
        "risk_contours",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("risk_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("individual_risk", sa.Float(), nullable=False),
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
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "individual_risk > 0 AND individual_risk < 1", name=op.f("ck_risk_contours_risk_range")
        ),
        sa.ForeignKeyConstraint(
            ["risk_unit_id"],
            ["risk_units.id"],
            name=op.f("fk_risk_contours_risk_unit_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_contours")),
        sa.UniqueConstraint(
            "risk_unit_id", "individual_risk", name=op.f("uq_risk_contours_risk_unit_id_individual_risk")
        ),
    )
    op.create_index(op.f("ix_risk_contours_risk_unit_id"), "risk_contours", ["risk_unit_id"], unique=False)
    op.create_index("ix_risk_contours_geom_gist", "risk_contours", ["geom"], postgresql_using="gist")
    # As every stored geometry (0001): valid, never repaired silently.
    op.create_check_constraint("geom_valid", "risk_contours", "geom IS NULL OR ST_IsValid(geom)")


def downgrade() -> None:
    op.drop_index("ix_risk_contours_geom_gist", table_name="risk_contours")
    op.drop_index(op.f("ix_risk_contours_risk_unit_id"), table_name="risk_contours")
    op.drop_table("risk_contours")
    op.drop_column("protection_targets", "population_estimated")
    op.drop_constraint(op.f("ck_risk_units_capacity_positive"), "risk_units", type_="check")
    op.drop_index(op.f("ix_risk_units_hazard_kind"), table_name="risk_units")
    op.drop_column("risk_units", "capacity_m3")
    op.drop_column("risk_units", "hazard_kind")
