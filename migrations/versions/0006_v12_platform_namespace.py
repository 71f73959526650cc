"""OneBot v12 identities get their own namespace: platform `wechat` becomes `v12.wechat`

Until now a v12 event's declared platform was stored as is, so a v12 client declaring
`qq` was the QQ user of the same id. From 0006 the platform of a v12 event is
`v12.<declared>` (bot.identity). Every stored platform other than `qq` can only have come
from v12, so it is renamed, in every column that holds a platform or an actor / message
key `platform:…`. Only values change (plain UPDATEs, the same SQL on SQLite and
PostgreSQL, no table rebuilt, so no batch mode is needed); every row is kept. Rows a v12
client stored as `qq` cannot be told from QQ's and stay `qq`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLATFORMS = [("groupbinding", "platform"), ("member", "platform"), ("post", "platform"),
             ("web_login", "platform")]
# "platform:user", "platform:account:chat:message" (or "system", which has no colon)
PREFIXED = [("groupbinding", "bound_by"), ("entry", "created_by"), ("entry", "revoked_by"),
            ("entry", "source"), ("processedmessage", "key"), ("settlement", "settled_by"),
            ("appeal", "closed_by"), ("auditlog", "actor")]
# audit targets that name a person or a group as "platform:id"
AUDIT_TARGETS = ("join", "leave", "role", "bind", "unbind", "bind.refused", "bind.account")

NOT_YET = "{c} <> 'qq' AND substr({c}, 1, 4) <> 'v12.'"
PREFIX_NOT_YET = "{c} LIKE '%:%' AND substr({c}, 1, 3) <> 'qq:' AND substr({c}, 1, 4) <> 'v12.'"


def _audit_actions() -> str:
    return ", ".join(f"'{a}'" for a in AUDIT_TARGETS)


def upgrade() -> None:
    for table, col in PLATFORMS:
        op.execute(f"UPDATE {table} SET {col} = 'v12.' || {col} WHERE {NOT_YET.format(c=col)}")
    for table, col in PREFIXED:
        where = PREFIX_NOT_YET.format(c=col)
        op.execute(f"UPDATE {table} SET {col} = 'v12.' || {col} WHERE {col} IS NOT NULL AND {where}")
    where = PREFIX_NOT_YET.format(c="target")
    op.execute(
        f"UPDATE auditlog SET target = 'v12.' || target"
        f" WHERE action IN ({_audit_actions()}) AND {where}"
    )


def downgrade() -> None:
    columns = [*PLATFORMS, *PREFIXED]
    for table, col in columns:
        op.execute(
            f"UPDATE {table} SET {col} = substr({col}, 5) WHERE substr({col}, 1, 4) = 'v12.'"
        )
    op.execute(
        f"UPDATE auditlog SET target = substr(target, 5)"
        f" WHERE action IN ({_audit_actions()}) AND substr(target, 1, 4) = 'v12.'"
    )
