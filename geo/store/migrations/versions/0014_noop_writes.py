"""risk units' and close-out cases' assessment inputs: no value is SQL NULL, never the JSON null

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 14:20:00

A risk unit made through the API without assessment inputs kept the JSON value `null`; one COPYed by
an import or the demo kept SQL NULL. Both read back as None, but they are different values, so
re-importing such a unit unchanged counted as a change: a new version and a history record for nothing.
The models now write None as SQL NULL (`JSONB(none_as_null=True)`), and the stored JSON nulls become
SQL NULL here, as bookkeeping: no history or cache trigger fires (no value a reader sees changes). The
downgrade keeps SQL NULL, which the code before reads the same way.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE risk_units DISABLE TRIGGER USER")
    op.execute("UPDATE risk_units SET assessment_inputs = NULL WHERE assessment_inputs = 'null'::jsonb")
    op.execute("ALTER TABLE risk_units ENABLE TRIGGER USER")
    op.execute("UPDATE closeouts SET proposed_inputs = NULL WHERE proposed_inputs = 'null'::jsonb")


def downgrade() -> None:
    pass
