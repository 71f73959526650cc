"""The boss's desk (issue 24): rubric versions, commission bases per team and month,
imported files, and the index the dashboard's filter of who logged reads

`rubric_version` keeps each rubric uploaded on the dashboard and the month it is active
from; `commission_base` each team's commission base from a month on; `import_batch` each
imported file (one per team and content). Both start empty: the
rubric stays KPI_RUBRIC and the base KPI_COMMISSION_BASE (or a team's
`commission_base_cents`, set by nothing before) until someone sets one. Nothing existing is
changed; the downgrade drops only what this adds.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rubric_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_by_name", sa.String(), nullable=False),
        sa.Column("active_from", sa.String(), nullable=True),
        sa.Column("activated_at", sa.DateTime(), nullable=True),
        sa.Column("activated_by", sa.String(), nullable=True),
    )
    op.create_index("ix_rubric_version_active_from", "rubric_version", ["active_from"])
    op.create_table(
        "commission_base",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), nullable=False),
        sa.Column("from_period", sa.String(), nullable=False),
        sa.Column("cents", sa.Integer(), nullable=True),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.Column("set_by", sa.String(), nullable=False),
        sa.Column("set_by_name", sa.String(), nullable=False),
    )
    op.create_index("ix_commission_base_team_id", "commission_base", ["team_id"])
    op.create_table(
        "import_batch",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_by_name", sa.String(), nullable=False),
        sa.UniqueConstraint("team_id", "sha256"),
    )
    op.create_index(
        "ix_entry_month_logger", "entry", ["team_id", "period", "created_by", "created_by_name"]
    )


def downgrade() -> None:
    op.drop_index("ix_entry_month_logger", table_name="entry")
    op.drop_table("import_batch")
    op.drop_index("ix_commission_base_team_id", table_name="commission_base")
    op.drop_table("commission_base")
    op.drop_index("ix_rubric_version_active_from", table_name="rubric_version")
    op.drop_table("rubric_version")
