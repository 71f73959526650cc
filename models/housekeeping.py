"""Pruning what the bot no longer needs (SPEC §5: tables that only grow are pruned daily).

- Dashboard links never opened, a day after they expired; sessions a day after they ended
  (logout) or ran out (`models.weblogin.SESSION_TTL` after they started). A live session
  and a link that can still be opened are never touched.
- Claimed chat messages (`processed_message`) older than `MESSAGE_DAYS`: no client
  delivers a message again a month later, so the claim has done its work.

Deleting is idempotent, so every process may run it; nothing else depends on these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_
from sqlalchemy.orm import Session

from .tables import ProcessedMessage, WebLogin
from .weblogin import SESSION_TTL

LOGIN_GRACE = timedelta(days=1)
MESSAGE_DAYS = 30


@dataclass(frozen=True)
class Pruned:
    logins: int
    messages: int


def prune(session: Session, now: datetime) -> Pruned:
    """Delete old web_login and processed_message rows (see the module docstring); `now`
    is naive UTC. Runs in the caller's transaction."""
    old = now - LOGIN_GRACE
    logins = session.execute(
        delete(WebLogin).where(
            or_(
                and_(WebLogin.used_at.is_(None), WebLogin.expires_at < old),
                WebLogin.ended_at < old,
                WebLogin.used_at < old - SESSION_TTL,
            )
        )
    )
    messages = session.execute(
        delete(ProcessedMessage).where(
            ProcessedMessage.created_at < now - timedelta(days=MESSAGE_DAYS)
        )
    )
    return Pruned(logins.rowcount, messages.rowcount)
