"""risk units indexed by (jurisdiction_adcode, level): a jurisdiction's counts by level from the index alone

Revision ID: 0022p
Revises: 0021d
Create Date: 2026-12-04 23:40:00

The legends' counts of a jurisdiction's risk units by level (`geo.store.filed.unit_level_counts`: the
units of the codes filed under it) read the units' heap for their level: on the synthetic province of
bench/province.py (1,000,000 units, a 433 MB heap) 0.2-0.3 s for the province, 0.12 s for a city of
111,000 units. With the level in the index they are an index-only scan: measured on a table of the same
shape, 0.12 s -> 0.075 s for 1,000,000 units and 0.18 s -> 0.009 s for 111,000 (bench/results/one_map.md).
The index replaces the one on jurisdiction_adcode alone, whose lookups it serves as well (the same leading
column; deduplicated, the same size): no more work per written row than before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022p"
down_revision: str | None = "0021d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_risk_units_jurisdiction_adcode_level",
        "risk_units",
        ["jurisdiction_adcode", "level"],
        unique=False,
    )
    op.drop_index("ix_risk_units_jurisdiction_adcode", table_name="risk_units")


def downgrade() -> None:
    op.create_index("ix_risk_units_jurisdiction_adcode", "risk_units", ["jurisdiction_adcode"], unique=False)
    op.drop_index("ix_risk_units_jurisdiction_adcode_level", table_name="risk_units")
