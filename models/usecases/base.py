"""What every use case's request shares, and the settings use cases read (SPEC §2, §3).

A request says who acts (`Actor`), in which team, and what the chat layer (or the web)
already looked up outside the transaction (`Person`: the people a message names, with
their name and role in the group as the platform says now). Everything that depends on
stored data — roles, "nobody deals for themselves", the month being open, caps,
duplicates — is checked by the use case itself, inside its one transaction.

`Policy` holds the settings of the process (rubric, time zone, commission base…); a use
case takes it as its last argument (the bot builds it from its configuration at each
command, `bot.runtime.policy`). Nothing here keeps module state.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal

from sqlalchemy.orm import Session

from ..ledger import Refused
from ..periods import local_now
from ..rights import is_current_supervisor
from ..roster import MemberRow, member_row
from ..rubric import Rubric
from ..tables import Member

__all__ = [
    "Actor",
    "EntryRef",
    "Person",
    "Policy",
    "Refused",
    "Word",
    "entry_id_of",
    "is_supervisor",
    "require_supervisor",
    "speaker",
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
    typed_ids: bool = True  # on their platform a typed number names a user (QQ numbers)
    mentions: bool = True  # on their platform an @ reaches the bot as a mention (WeCom: no)

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
    """One word of a command as typed, or an @ (`mention`: the user id on the speaker's
    platform; `shown`: the name the @ read as, where the platform gives one), or a roster
    member chosen by id (`member_id`: the web's forms, which list members of every
    platform)."""

    text: str = ""
    mention: str | None = None
    member_id: int | None = None
    shown: str = ""  # an @'s name as the message showed it (`@赵六`), for refusals only

    @property
    def norm(self) -> str:
        return unicodedata.normalize("NFKC", self.text).strip()


@dataclass(frozen=True)
class PeopleRequest:
    """A command about the people its words name (`/离职 @张三`, `/取消关联 张三`): @s,
    roster names or numbers (`targets.resolve`), the quoted message's sender."""

    team_id: int
    actor: Actor
    words: tuple[Word, ...]
    people: Mapping[str, Person] = field(default_factory=dict)  # looked up by the chat layer
    quoted: str | None = None  # the sender of the message replied to


@dataclass(frozen=True)
class Policy:
    """The settings use cases read (KPI_* keys and the rubric in force)."""

    rubric: Rubric
    tz: tzinfo
    commission_base: Decimal | None = None
    admins_are_supervisors: bool = True
    undo_minutes: int = 10
    # The file's rubric and KPI_COMMISSION_BASE once `rubric` and `commission_base` hold this
    # month's in force (`bot.runtime.in_force`): what another month falls back to.
    fallback: tuple[Rubric, Decimal | None] | None = None

    def now(self) -> datetime:
        return local_now(self.tz)

    @property
    def today(self) -> date:
        return local_now(self.tz).date()


def speaker(s: Session, team_id: int, actor: Actor) -> MemberRow | None:
    """The actor's membership of the team (any tenure), as a plain row."""
    return member_row(s, team_id, actor.platform, actor.user_id)


def is_supervisor(actor: Actor, member: Member | MemberRow | None, policy: Policy) -> bool:
    """A superuser, an explicit `/主管` of the team who has not left, or (with
    KPI_ADMINS_ARE_SUPERVISORS) the group's owner or admin as the platform says now
    (SPEC §2). Being a supervisor never lets anyone deal for themselves."""
    return (
        actor.is_superuser
        or is_current_supervisor(member, policy.today)
        or (policy.admins_are_supervisors and actor.group_role in ("owner", "admin"))
    )


def require_supervisor(s: Session, team_id: int, actor: Actor, policy: Policy) -> MemberRow | None:
    """The actor's membership; Refused unless they supervise the team (SPEC §2)."""
    member = speaker(s, team_id, actor)
    if not is_supervisor(actor, member, policy):
        raise Refused("只有本团队的主管可以这样做")
    return member


@dataclass(frozen=True)
class EntryRef:
    """The entry a command names (SPEC §3 "What people type"): its id as typed, or the
    message replied to — the ids the bot's confirmation cites, or that chat message's key
    (`Entry.source`); `ask` is the refusal when it names none."""

    entry_id: int | None = None
    replied: bool = False  # the command replies to a message
    confirmed: tuple[int, ...] = ()  # ids cited by the bot's message replied to
    source: str | None = None  # the key of the message replied to
    ask: str = "请写记录编号，例如 #123"

    def resolve(self, s: Session, team_id: int) -> int:
        """The entry id; Refused when the reference names none, or several."""
        from ..ledger import entry_ids_from

        if self.entry_id is not None:
            return self.entry_id
        if not self.replied:
            raise Refused(f"{self.ask}（或回复该记录的确认消息）")
        ids = list(self.confirmed)
        if not ids and self.source is not None:
            ids = entry_ids_from(s, team_id, self.source)
        if not ids:
            raise Refused("你回复的消息没有对应的记录，请写记录编号，例如 #123")
        if len(ids) > 1:
            listed = "、".join(f"#{i}" for i in ids[:10])
            raise Refused(f"你回复的消息对应多条记录（{listed}），请写上编号")
        return ids[0]


def entry_id_of(s: Session, team_id: int, ref: int | EntryRef) -> int:
    """The entry a request names: an id, or an `EntryRef` read in the transaction."""
    return ref if isinstance(ref, int) else ref.resolve(s, team_id)
