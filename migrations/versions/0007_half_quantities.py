"""Half quantities: items counted in days may be logged in halves (`step = 0.5`)

`entry.quantity` becomes NUMERIC(10, 1) on PostgreSQL, so `/请假 @某人 半天` stores 0.5
exactly. Every whole quantity already stored is kept as it is. SQLite needs nothing: its
INTEGER column stores a 0.5 exactly as a REAL (models.quantity), and no table is rebuilt.
The covering index `ix_entry_month_tally` holds the column: PostgreSQL rebuilds it with
the new type as part of the ALTER.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "entry",
            "quantity",
            type_=sa.Numeric(10, 1),
            existing_type=sa.Integer(),
            existing_nullable=False,
            postgresql_using="quantity::numeric(10, 1)",
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "entry",
            "quantity",
            type_=sa.Integer(),
            existing_type=sa.Numeric(10, 1),
            existing_nullable=False,
            postgresql_using="ceil(quantity)::integer",
        )
