"""`/保留`: a supervisor keeps an entry the link check flagged (SPEC §4: people decide,
never the fetcher). Revoking a flagged entry is the ordinary `marks.revoke`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..linkcheck import Kept, keep
from .base import Actor, Policy, require_supervisor


@dataclass(frozen=True)
class KeepRequest:
    team_id: int
    actor: Actor
    entry_id: int
    note: str | None = None


def keep_flagged(s: Session, req: KeepRequest, policy: Policy) -> Kept:
    """Close the entry's open flags as kept; refused for anyone but a supervisor, for an
    entry with no open flag, a revoked one, one of a settled month, or the supervisor's
    own. The audit row says where the supervisor acted (群聊 / 私聊 / 网页)."""
    me = require_supervisor(s, req.team_id, req.actor, policy)
    return keep(
        s,
        req.team_id,
        req.entry_id,
        req.actor.key,
        req.actor.name,
        me.id if me is not None else None,
        req.note,
        req.actor.channel,
    )
