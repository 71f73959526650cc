"""index for a member's reports of an item today (the daily caps, SPEC §3)

Every self-report counts what the agent logged of the item today; without this index that
count read the whole `entry` table (a sequential scan on PostgreSQL, a full scan on SQLite)
on every report. An index only: no row changes, the downgrade drops it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["member_id", "item_key", "created_at"]


def upgrade() -> None:
    op.create_index("ix_entry_member_day", "entry", COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_entry_member_day", table_name="entry")
