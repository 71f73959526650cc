"""Links stored before the normalisation of issue 23 get today's spelling

A link is stored normalised (`models.links.normalize_url`), and the unique index
`ux_entry_team_active_link` keeps one active entry per team and link. Rows written before
http and https became one link (and dot segments, doubled slashes, escapes… one spelling)
keep their old spelling, so each old article could be reported once more. This rewrites
every stored link to today's spelling, keeping every row. Where two active entries of a
team would now share a link (the same article counted twice before), the older keeps it
and the newer keeps its old spelling: nothing is revoked by a migration; a supervisor
sees both in `/明细`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from models.links import normalize_url

    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, team_id, link, revoked_at IS NULL AS active FROM entry"
            " WHERE link IS NOT NULL ORDER BY id"
        )
    ).all()
    taken = {(r.team_id, r.link) for r in rows if r.active}
    for r in rows:
        new = normalize_url(r.link)
        if new == r.link:
            continue
        if r.active:
            if (r.team_id, new) in taken:
                continue  # the same article, already active under its new spelling
            taken.discard((r.team_id, r.link))
            taken.add((r.team_id, new))
        conn.execute(
            sa.text("UPDATE entry SET link = :link WHERE id = :id"), {"link": new, "id": r.id}
        )


def downgrade() -> None:
    """Spellings are not restored: each normalised link names the same article."""
