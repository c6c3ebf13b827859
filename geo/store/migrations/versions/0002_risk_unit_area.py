"""risk units: geodesic area of polygonal units, kept by the database

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AREA_M2_SQL = (
    "CASE WHEN GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON') "
    "THEN ST_Area(geom::geography, true) ELSE 0 END"
)


def upgrade() -> None:
    op.add_column(
        "risk_units",
        sa.Column("area_m2", sa.Float(), sa.Computed(AREA_M2_SQL, persisted=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("risk_units", "area_m2")
