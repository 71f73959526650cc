"""The glue every plugin shares: who is speaking where, permissions, one reply per command.

`kpi_command` registers a command from `bot.commands` (or a rubric item) and wraps its
handler: it builds a `Ctx`, keeps unbound groups silent, drops a redelivered message,
checks the role (SPEC §2), and turns `Refused` into `❌ reason + usage`. A handler is
`async def handle(ctx, args) -> Reply` and never talks to the adapter itself.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from nonebot import get_driver, logger, on_message
from nonebot.adapters import Bot, Event, Message
from nonebot.adapters.onebot import v11, v12
from nonebot.matcher import Matcher
from nonebot.rule import Rule
from nonebot.typing import T_State

from models.ledger import Refused
from models.periods import local_now
from models.roster import binding_of, member_of, memberships
from models.tables import GroupBinding, Member, Team

from . import db
from .commands import Cmd
from .config import get_config
from .format import Several
from .parse import Args

PRIVATE_OK = {"me", "rank", "rubric", "help", "dashboard"}


@dataclass
class Mention:
    user_id: str


@dataclass
class Picture:
    data: bytes


Part = str | Mention | Picture
Reply = str | list[Part] | Several | None  # one message, its parts, or several messages


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
    binding: GroupBinding | None = None
    team: Team | None = None
    member: Member | None = None
    extra: dict = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return f"{self.platform}:{self.user_id}"

    @property
    def message_key(self) -> str:
        return f"{self.platform}:{self.group_id or 'p' + self.user_id}:{self.message_id}"

    @property
    def today(self) -> date:
        return local_now(get_config().tz).date()

    @property
    def is_owner(self) -> bool:
        return self.is_superuser or self.sender_role == "owner"

    @property
    def is_supervisor(self) -> bool:
        if self.is_superuser:
            return True
        if self.member is not None and self.member.role == "supervisor" and not self.member.left_on:
            return True
        return get_config().kpi_admins_are_supervisors and self.sender_role in ("owner", "admin")

    @property
    def team_id(self) -> int:
        assert self.team is not None
        return self.team.id


def describe_event(bot: Bot, event: Event) -> dict | None:
    """Platform-neutral facts of a message event, or None for anything else."""
    if isinstance(event, v11.MessageEvent):
        sender = event.sender
        return {
            "platform": "qq",
            "adapter": "OneBot V11",
            "user_id": str(event.user_id),
            "group_id": str(event.group_id) if isinstance(event, v11.GroupMessageEvent) else None,
            "message_id": str(event.message_id),
            "sender_name": (sender.card or sender.nickname or str(event.user_id)).strip(),
            "sender_role": sender.role,
        }
    if isinstance(event, v12.MessageEvent) and isinstance(
        event, v12.GroupMessageEvent | v12.PrivateMessageEvent
    ):
        name = getattr(event, "user_name", None) or getattr(event, "nickname", None)
        return {
            "platform": event.self.platform,
            "adapter": "OneBot V12",
            "user_id": str(event.user_id),
            "group_id": str(event.group_id) if isinstance(event, v12.GroupMessageEvent) else None,
            "message_id": str(event.message_id),
            "sender_name": str(name or event.user_id),
            "sender_role": getattr(event, "role", None),
        }
    return None


def is_superuser(platform_adapter: str, user_id: str) -> bool:
    supers = get_driver().config.superusers
    return user_id in supers or f"{platform_adapter}:{user_id}" in supers


_BINDING_TTL = 30.0  # seconds; /绑定 and /解绑 clear it at once in this process
_bindings: dict[tuple[str, str], tuple[float, GroupBinding | None, Team | None]] = {}


async def _binding(s, platform: str, group_id: str) -> tuple[GroupBinding | None, Team | None]:
    """The group's binding and team, remembered briefly (every message needs them)."""
    key = (platform, group_id)
    hit = _bindings.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1], hit[2]
    binding = await binding_of(s, platform, group_id)
    team = await s.get(Team, binding.team_id) if binding is not None else None
    _bindings[key] = (time.monotonic() + _BINDING_TTL, binding, team)
    return binding, team


def forget_bindings() -> None:
    _bindings.clear()


async def build_ctx(bot: Bot, event: Event) -> Ctx | None:
    facts = describe_event(bot, event)
    if facts is None:
        return None
    ctx = Ctx(
        bot=bot,
        event=event,
        is_superuser=is_superuser(facts["adapter"].replace(" ", ""), facts["user_id"]),
        **facts,
    )
    async with db.reading() as s:
        if ctx.group_id is not None:
            ctx.binding, ctx.team = await _binding(s, ctx.platform, ctx.group_id)
            if ctx.team is not None:
                ctx.member = await member_of(s, ctx.team.id, ctx.platform, ctx.user_id)
        else:
            mine = list(await memberships(s, ctx.platform, ctx.user_id))
            mine.sort(key=lambda m: (m.left_on is not None, -m.id))
            if mine:
                ctx.member = mine[0]
                ctx.team = await s.get(Team, mine[0].team_id)
                ctx.extra["other_teams"] = len(mine) - 1
    return ctx


async def refresh_name(ctx: Ctx) -> None:
    """Keep a member's name in step with their group card (SPEC §2)."""
    m = ctx.member
    if ctx.group_id is None or m is None or not ctx.sender_name or m.name == ctx.sender_name:
        return
    if ctx.sender_name == ctx.user_id:
        return
    async with db.writing() as s:
        fresh = await s.get(Member, m.id)
        fresh.name = ctx.sender_name
    m.name = ctx.sender_name


# ---- duplicate delivery ------------------------------------------------------------------

_seen: OrderedDict[str, None] = OrderedDict()
_SEEN_MAX = 20000


def first_delivery(key: str) -> bool:
    """False when this message id was already handled by this process."""
    if key in _seen:
        return False
    _seen[key] = None
    if len(_seen) > _SEEN_MAX:
        _seen.popitem(last=False)
    return True


def forget_deliveries() -> None:
    _seen.clear()


# ---- replies -------------------------------------------------------------------------------


def to_message(bot: Bot, parts: Iterable[Part]) -> Message:
    mod = v12 if isinstance(bot, v12.Bot) else v11
    msg = mod.Message()
    for p in parts:
        if isinstance(p, Mention):
            msg += (
                mod.MessageSegment.mention(p.user_id)
                if mod is v12
                else v11.MessageSegment.at(p.user_id)
            )
            msg += mod.MessageSegment.text(" ")
        elif isinstance(p, Picture):
            if mod is v11:  # v12 needs an upload first; the text says it all
                msg += v11.MessageSegment.image(p.data)
        else:
            msg += mod.MessageSegment.text(p)
    return msg


def split_reply(reply: Reply) -> list[list[Part]]:
    """A reply as a list of messages, each a list of parts."""
    if reply is None:
        return []
    if isinstance(reply, str):
        return [[reply]]
    if isinstance(reply, Several):
        return [[m] for m in reply]
    return [list(reply)]


async def send_reply(ctx: Ctx, reply: Reply) -> None:
    for parts in split_reply(reply):
        await ctx.bot.send(ctx.event, to_message(ctx.bot, parts))


# ---- the command decorator ------------------------------------------------------------------

Handler = Callable[[Ctx, Args], Awaitable[Reply]]


def _check_role(ctx: Ctx, cmd: Cmd) -> None:
    role = cmd.role
    if role in ("anyone", "member"):
        return
    if role == "supervisor" and not ctx.is_supervisor:
        raise Refused("只有本团队的主管可以这样做")
    if role == "owner" and not ctx.is_owner:
        raise Refused("只有群主或超级管理员可以这样做")
    if role == "superuser" and not ctx.is_superuser:
        raise Refused("只有超级管理员可以这样做")


@dataclass(frozen=True)
class _Route:
    cmd: Cmd
    handler: Handler
    anywhere: bool


_routes: dict[str, _Route] = {}
_by_length: list[str] = []  # command names, longest first (prefix match like NoneBot's)
_matcher: type[Matcher] | None = None


def match_command(message: Message) -> tuple[_Route, Message] | None:
    """The command a message starts with (`/软文…`), and the message after it.

    One matcher serves every KPI command: NoneBot checks each matcher's rules in its own
    task, so sixty matchers cost far more per message than one dictionary lookup.
    """
    if not message or not message[0].is_text():
        return None
    text = str(message[0].data.get("text", "")).lstrip()
    for start in sorted(get_driver().config.command_start, key=len, reverse=True):
        if start and text.startswith(start):
            text = text[len(start) :]
            break
    else:
        if "" not in get_driver().config.command_start:
            return None
    low = text.lower()
    for name in _by_length:
        if low.startswith(name):
            rest = text[len(name) :].lstrip()
            seg = type(message[0])
            arg = type(message)([seg.text(rest)] if rest else [])
            arg.extend(message[1:])
            return _routes[name], arg
    return None


async def _is_command(event: Event, state: T_State) -> bool:
    if event.get_type() != "message":
        return False
    found = match_command(event.get_message())
    if found is None:
        return False
    state["kpi_route"], state["kpi_arg"] = found
    return True


async def _dispatch(bot: Bot, event: Event, state: T_State) -> None:
    route: _Route = state["kpi_route"]
    cmd = route.cmd
    try:
        ctx = await build_ctx(bot, event)
    except Exception:
        logger.exception("reading the chat context failed")
        await bot.send(event, "❌ 出错了，这次操作没有生效，请稍后再试")
        return
    if ctx is None or not first_delivery(ctx.message_key):
        return
    if ctx.group_id is not None and ctx.binding is None and not route.anywhere:
        return  # silent in a group that is not bound to a team
    await refresh_name(ctx)
    try:
        if ctx.group_id is None and cmd.alias not in PRIVATE_OK:
            raise Refused("请在已绑定的群里使用这个命令")
        if (
            ctx.group_id is None
            and ctx.team is None
            and cmd.alias not in ("help", "rubric", "dashboard")
        ):
            raise Refused("你还不在任何团队里，请先在团队群里报一次或让主管 /入职")
        _check_role(ctx, cmd)
        reply = await route.handler(ctx, Args.from_message(state["kpi_arg"], str(bot.self_id)))
    except Refused as e:
        reply = f"❌ {e}\n用法：{cmd.usage}"
    except Exception:
        logger.exception(f"command {cmd.name} failed")
        reply = "❌ 出错了，这次操作没有生效，请稍后再试"
    await send_reply(ctx, reply)


def kpi_command(cmd: Cmd, *, anywhere: bool = False) -> Callable[[Handler], Handler]:
    """Register `cmd` under every one of its names.

    anywhere: also answered in unbound groups (only `/绑定` and `/帮助`, SPEC §2).
    """
    global _matcher
    if _matcher is None:
        _matcher = on_message(rule=Rule(_is_command), priority=10, block=True)
        _matcher.handle()(_dispatch)

    def deco(func: Handler) -> Handler:
        route = _Route(cmd, func, anywhere)
        for name in cmd.names:
            if name.lower() in _routes:
                raise ValueError(f"command /{name} registered twice")
            _routes[name.lower()] = route
        _by_length[:] = sorted(_routes, key=len, reverse=True)
        return func

    return deco
