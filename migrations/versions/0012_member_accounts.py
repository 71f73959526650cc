"""The same person on two platforms (issue 22 item 4): a member's other accounts, and the
one-time codes that link them

`member_account` holds accounts linked to a team member besides the member's own
(platform, user id); `link_code` the SHA-256 of each code asked for with `/关联`. Both
start empty: nothing existing is changed, and the downgrade drops only what this adds.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("member.id"), nullable=False),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.Column("linked_by", sa.String(), nullable=False),
        sa.UniqueConstraint("team_id", "platform", "user_id"),
    )
    op.create_index("ix_member_account_member_id", "member_account", ["member_id"])
    op.create_table(
        "link_code",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code_hash", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_link_code_code_hash", "link_code", ["code_hash"])


def downgrade() -> None:
    op.drop_index("ix_link_code_code_hash", table_name="link_code")
    op.drop_table("link_code")
    op.drop_index("ix_member_account_member_id", table_name="member_account")
    op.drop_table("member_account")
