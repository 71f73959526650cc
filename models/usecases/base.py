"""What every use case's request shares, and the settings use cases read (SPEC §2, §3).

A request says who acts (`Actor`), in which team, and what the chat layer (or the web)
already looked up outside the transaction (`Person`: the people a message names, with
their name and role in the group as the platform says now). Everything that depends on
stored data — roles, "nobody deals for themselves", the month being open, caps,
duplicates — is checked by the use case itself, inside its one transaction.

`Policy` holds the settings of the process (rubric, time zone, commission base…). A use
case takes it as its last argument; left out, it is the one `use_policy` installed at
start (the bot's configuration): the only module state here, set once.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal

from sqlalchemy.orm import Session

from ..ledger import Refused
from ..periods import local_now
from ..rights import is_current_supervisor
from ..roster import member_row
from ..rubric import Rubric
from ..tables import Member

__all__ = [
    "Actor",
    "Person",
    "Policy",
    "Refused",
    "Word",
    "current_policy",
    "is_supervisor",
    "require_supervisor",
    "speaker",
    "use_policy",
]

CHAT = "群聊"
PRIVATE = "私聊"
WEB = "网页"


@dataclass(frozen=True)
class Actor:
    """Who acts, as the chat layer (or the web) knows them now."""

    platform: str
    user_id: str
    name: str
    is_superuser: bool = False
    group_role: str | None = None  # 'owner' / 'admin' / 'member' as the platform says now
    channel: str = CHAT  # 群聊 / 私聊 / 网页: recorded in the audit row

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True)
class Person:
    """Someone a request names, as the platform knows them now (looked up before the
    transaction). `name` None: the platform says they are not in the group (or was not
    asked: they are on the team already)."""

    user_id: str
    name: str | None = None
    group_role: str | None = None
    is_superuser: bool = False


@dataclass(frozen=True)
class Word:
    """One word of a command as typed, or an @ (`mention`: the user id)."""

    text: str = ""
    mention: str | None = None

    @property
    def norm(self) -> str:
        return unicodedata.normalize("NFKC", self.text).strip()


@dataclass(frozen=True)
class Policy:
    """The settings use cases read (KPI_* keys and the rubric in force)."""

    rubric: Rubric
    tz: tzinfo
    commission_base: Decimal | None = None
    admins_are_supervisors: bool = True
    undo_minutes: int = 10
    extra: dict = field(default_factory=dict, compare=False)

    def now(self) -> datetime:
        return local_now(self.tz)

    @property
    def today(self) -> date:
        return local_now(self.tz).date()


_policy: Policy | None = None


def use_policy(policy: Policy) -> None:
    """Install the process's settings (the bot does at start; tests do per test)."""
    global _policy
    _policy = policy


def current_policy(policy: Policy | None = None) -> Policy:
    """`policy`, else the one installed with `use_policy`."""
    if policy is not None:
        return policy
    if _policy is None:
        raise RuntimeError("no use-case policy installed (models.usecases.base.use_policy)")
    return _policy


def speaker(s: Session, team_id: int, actor: Actor) -> Member | None:
    """The actor's membership of the team (any tenure), as a plain row."""
    return member_row(s, team_id, actor.platform, actor.user_id)


def is_supervisor(actor: Actor, member: Member | None, policy: Policy) -> bool:
    """A superuser, an explicit `/主管` of the team who has not left, or (with
    KPI_ADMINS_ARE_SUPERVISORS) the group's owner or admin as the platform says now
    (SPEC §2). Being a supervisor never lets anyone deal for themselves."""
    return (
        actor.is_superuser
        or is_current_supervisor(member, policy.today)
        or (policy.admins_are_supervisors and actor.group_role in ("owner", "admin"))
    )


def require_supervisor(s: Session, team_id: int, actor: Actor, policy: Policy) -> Member | None:
    """The actor's membership; Refused unless they supervise the team (SPEC §2)."""
    member = speaker(s, team_id, actor)
    if not is_supervisor(actor, member, policy):
        raise Refused("只有本团队的主管可以这样做")
    return member
