"""a link is logged once per team: unique index on the active (team, link)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 07:00:00

The rule was a check before the insert, which two PostgreSQL transactions can both pass.
Before the index is made, any later duplicate of an active link (possible only on a
database written concurrently) is revoked with a reason, never deleted.
"""

from collections.abc import Sequence
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_LINK = sa.text("link IS NOT NULL AND revoked_at IS NULL")


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE entry SET revoked_at = :now, revoked_by = 'system', revoked_by_name = '系统',"
            " revoke_reason = '升级时发现：同一链接已在更早的记录中'"
            " WHERE link IS NOT NULL AND revoked_at IS NULL AND id NOT IN"
            " (SELECT min_id FROM (SELECT MIN(id) AS min_id FROM entry"
            "  WHERE link IS NOT NULL AND revoked_at IS NULL GROUP BY team_id, link) AS firsts)"
        ).bindparams(now=datetime.now(timezone.utc).replace(tzinfo=None))
    )
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.drop_index("ix_entry_team_link")
        batch_op.create_index(
            "ux_entry_team_active_link",
            ["team_id", "link"],
            unique=True,
            sqlite_where=ACTIVE_LINK,
            postgresql_where=ACTIVE_LINK,
        )


def downgrade() -> None:
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.drop_index("ux_entry_team_active_link")
        batch_op.create_index("ix_entry_team_link", ["team_id", "link"], unique=False)
