"""evidence checks: link snapshots and re-checks, evidence fingerprints, flags (issue 25)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "link_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("period", _STR(), nullable=False),
        sa.Column("kind", _STR(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("fingerprint", _STR(), nullable=True),
        sa.Column("verdict", _STR(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entry.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("link_check", schema=None) as batch_op:
        batch_op.create_index("ix_link_check_entry_id", ["entry_id"], unique=False)
        batch_op.create_index(
            "ix_link_check_team_period", ["team_id", "period", "entry_id"], unique=False
        )
    op.create_table(
        "evidence_print",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("kind", _STR(), nullable=False),
        sa.Column("value", _STR(), nullable=False),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entry.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "kind"),
    )
    with op.batch_alter_table("evidence_print", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_print_team_kind", ["team_id", "kind"], unique=False)
    op.create_table(
        "evidence_flag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("period", _STR(), nullable=False),
        sa.Column("kind", _STR(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("earlier_entry_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.Column("decision", _STR(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", _STR(), nullable=True),
        sa.Column("decided_by_name", _STR(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("appeal_reason", sa.Text(), nullable=True),
        sa.Column("appealed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["entry.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "kind"),
    )
    with op.batch_alter_table("evidence_flag", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_flag_team_period", ["team_id", "period"], unique=False)


def downgrade() -> None:
    """Drops only the tables this revision added: every entry, score and post stays."""
    op.drop_table("evidence_flag")
    op.drop_table("evidence_print")
    op.drop_table("link_check")
