"""Who is speaking, where, through which bot account, and in which team (SPEC §2).

`build_ctx` turns a message event of any platform into a `Ctx`: the platform-neutral
facts of the event (read by the platform glue, `bot.platforms`), the group's binding and
team (cached briefly: every message needs them), and the speaker's membership. Nothing
here talks to the adapter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import date

from nonebot.adapters import Bot, Event
from sqlalchemy.orm import Session

from models.periods import local_now
from models.rights import is_current, is_current_supervisor
from models.roster import (
    MemberRow,
    all_teams,
    binding_and_team,
    member_row,
    memberships,
    rename_member,
)
from models.tables import GroupBinding, Member, Team
from models.text import clean_name

from . import db, door
from .config import get_config
from .identity import is_superuser, note_sighting
from .parse import clean
from .platforms import of_bot


@dataclass
class Ctx:
    bot: Bot
    event: Event
    platform: str
    adapter: str
    user_id: str
    group_id: str | None
    message_id: str
    sender_name: str
    sender_role: str | None
    is_superuser: bool
    self_id: str = ""  # the bot account the message came through
    to_me: bool = False  # the account was @-ed (or it is a private chat)
    quoted_user_id: str | None = None  # sender of the message this one replies to (SPEC §3)
    binding: GroupBinding | None = None
    team: Team | None = None
    member: Member | MemberRow | None = None  # MemberRow in a group (`load_member`)
    extra: dict = field(default_factory=dict)
    # Set by the dispatcher: display names of the people the message names, looked up
    # before the command's transaction opened (`bot.targets.prefetch_names`).
    names: dict[str, str | None] = field(default_factory=dict)
    member_loaded: bool = False  # `member` was read (None then means: not on the team)

    @property
    def actor(self) -> str:
        return f"{self.platform}:{self.user_id}"

    @property
    def message_key(self) -> str:
        """Platform, account, chat and message id: implementations number messages per
        account, so two accounts may each have a message 42 (SPEC §5 scale-out)."""
        chat = self.group_id or "p" + self.user_id
        return f"{self.platform}:{self.self_id}:{chat}:{self.message_id}"

    @property
    def served_elsewhere(self) -> bool:
        """The group is bound and another bot account serves it: this one stays silent."""
        served_by = self.binding.self_id if self.binding is not None else None
        return bool(served_by) and served_by != self.self_id

    @property
    def today(self) -> date:
        return local_now(get_config().tz).date()

    @property
    def is_owner(self) -> bool:
        """A superuser, or the group's owner as this very event says (SPEC §2)."""
        return self.is_superuser or (self.group_id is not None and self.sender_role == "owner")

    @property
    def manages_group(self) -> bool:
        """The group's owner or admin as this event says, counted as a supervisor of its
        team with KPI_ADMINS_ARE_SUPERVISORS (SPEC §2)."""
        return (
            self.group_id is not None
            and get_config().kpi_admins_are_supervisors
            and self.sender_role in ("owner", "admin")
        )

    @property
    def is_supervisor(self) -> bool:
        """A superuser, an explicit `/主管` of the group's team who has not left, or (with
        KPI_ADMINS_ARE_SUPERVISORS) the group's owner or admin as this event says: read at
        every command, so a demotion or a `/离职` counts at once (SPEC §2). Being allowed to
        supervise never lets anyone deal for themselves (`models.rights.refuse_self`)."""
        return (
            self.is_superuser
            or is_current_supervisor(self.member, self.today)
            or self.manages_group
        )

    @property
    def team_id(self) -> int:
        assert self.team is not None
        return self.team.id


async def describe_event(bot: Bot, event: Event) -> dict | None:
    """Platform-neutral facts of a message event, or None for anything else (an event of
    no known platform included). The platform glue reads them (`bot.platforms`): `qq` for
    OneBot v11 and Milky, `v12.<declared>` for v12 (`bot.identity`, SPEC §2)."""
    platform = of_bot(bot)
    if platform is None:
        return None
    facts = await platform.describe(bot, event)
    if facts is None:
        return None
    quoted = platform.quoted(bot, event, facts.group_id)
    found = dict(vars(facts))
    found["sender_name"] = clean(facts.sender_name).strip()
    found["quoted_user_id"] = _quoted(quoted and quoted.user_id, facts.self_id)
    return found


def _quoted(user_id: object, self_id: object) -> str | None:
    """The quoted message's sender, unless it is nobody or the bot itself."""
    if user_id is None or user_id == "" or str(user_id) == str(self_id):
        return None
    return str(user_id)


_BINDING_TTL = 5.0  # seconds; /绑定 and /解绑 clear it at once in this process
_bindings: dict[tuple[str, str], tuple[float, GroupBinding | None, Team | None]] = {}


def _answered_here(binding: GroupBinding | None, self_id: str) -> bool:
    """Whether a message through `self_id` in a group with this binding gets handled."""
    return binding is not None and (not binding.self_id or binding.self_id == self_id)


async def _binding(
    platform: str, group_id: str, self_id: str
) -> tuple[GroupBinding | None, Team | None]:
    """The group's binding and team, remembered briefly (every message needs them).

    SPEC §5 "Several processes": the memory is trusted only when it leads to handling the
    message. When it says the group is unbound or served by another account, the bot would
    stay silent, so the binding is read again first: a `/绑定` through another process (or
    another account) is seen by the next message. A `/解绑` or a move elsewhere is seen
    within `_BINDING_TTL` (5 s)."""
    key = (platform, group_id)
    hit = _bindings.get(key)
    if hit is not None and hit[0] > time.monotonic() and _answered_here(hit[1], self_id):
        return hit[1], hit[2]
    binding, team = await door.read(lambda s: binding_and_team(s, platform, group_id))
    _bindings[key] = (time.monotonic() + _BINDING_TTL, binding, team)
    return binding, team


def forget_bindings() -> None:
    _bindings.clear()


async def build_ctx(bot: Bot, event: Event, *, member: bool = True) -> Ctx | None:
    """The context of a message event (None for other events).

    member=False: in a group, the speaker's membership is left for `load_member` to read
    inside the command's own transaction (one session fewer on the hot path)."""
    facts = await describe_event(bot, event)
    if facts is None:
        return None
    await note_sighting(facts["platform"], facts["user_id"])
    ctx = Ctx(
        bot=bot,
        event=event,
        is_superuser=is_superuser(facts["platform"], facts["user_id"]),
        **facts,
    )
    ctx.sender_name = clean_name(ctx.sender_name).strip()
    if ctx.group_id is not None:
        ctx.binding, ctx.team = await _binding(ctx.platform, ctx.group_id, ctx.self_id)
        if ctx.team is not None and member:
            await door.read(lambda s: load_member(ctx, s))
        if ctx.team is not None and ctx.is_superuser:
            _superusers_team[ctx.actor] = ctx.team.id
        return ctx
    async with db.reading() as s:
        # SPEC §2: in private chat only a membership that has not ended names a team.
        today = ctx.today
        every = await memberships(s, ctx.platform, ctx.user_id)
        mine = [m for m in every if is_current(m, today)]
        mine.sort(key=lambda m: -m.id)
        if not mine and every:  # they left: the refusal says so (`dispatch._no_team`)
            ctx.extra["left_on"] = max(m.left_on for m in every if m.left_on is not None)
        if mine:
            ctx.member = mine[0]
            ctx.team = await s.get(Team, mine[0].team_id)
            ctx.extra["other_teams"] = len(mine) - 1
        elif ctx.is_superuser:
            ctx.team = _team_for_superuser(ctx, await all_teams(s))
    ctx.member_loaded = True
    return ctx


# A superuser on no team reads any team in private chat (SPEC §4): the only team, else the
# team of the group they last spoke in (remembered by this process: module state).
_superusers_team: dict[str, int] = {}


def _team_for_superuser(ctx: Ctx, teams: list[Team]) -> Team | None:
    if len(teams) == 1:
        return teams[0]
    last = _superusers_team.get(ctx.actor)
    found = next((t for t in teams if t.id == last), None)
    if found is None:
        ctx.extra["teams"] = [t.name for t in teams]
    return found


def load_member(ctx: Ctx, session: Session) -> None:
    """The speaker's membership of the group's team (any tenure), as a plain row."""
    assert ctx.team is not None
    ctx.member = member_row(session, ctx.team.id, ctx.platform, ctx.user_id)
    ctx.member_loaded = True


def stale_name(ctx: Ctx) -> bool:
    """The member's stored name differs from their group card (SPEC §2: the card wins)."""
    m = ctx.member
    if ctx.group_id is None or m is None or not ctx.sender_name or m.name == ctx.sender_name:
        return False
    return ctx.sender_name != ctx.user_id


def refresh_name(ctx: Ctx, session: Session) -> None:
    """Keep a member's name in step with their group card, in the caller's transaction."""
    if stale_name(ctx):
        assert ctx.member is not None
        rename_member(session, ctx.member.id, ctx.sender_name)
        ctx.member = replace(ctx.member, name=ctx.sender_name)
