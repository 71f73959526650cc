"""covering index for the month's scores

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 18:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["team_id", "period", "member_id", "item_key", "revoked_at", "quantity", "fine_cents"]


def upgrade() -> None:
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.drop_index("ix_entry_team_period_member")
        batch_op.create_index("ix_entry_month_tally", COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.drop_index("ix_entry_month_tally")
        batch_op.create_index(
            "ix_entry_team_period_member", ["team_id", "period", "member_id"], unique=False
        )
