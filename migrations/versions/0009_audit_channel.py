"""The audit log records the channel of each write: 群聊, 私聊 or 网页

A command now runs the same use case from the chat and from the web (issue 21); `/审计`
and the web's audit page say 「（网页）」 for a row written through the web. Rows written
before this revision all came from the chat: they get '群聊'. Nothing is dropped going
down but the column.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auditlog", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.Text(), nullable=True))
    op.execute("UPDATE auditlog SET channel = '群聊' WHERE channel IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("auditlog", schema=None) as batch_op:
        batch_op.drop_column("channel")
