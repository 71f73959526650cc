"""What the chat layer looks up for a command about people, before its transaction: the
adapter's word on who is in the group and their names (SPEC §2: only someone the platform
says is in the group is registered), as plain values for the use cases (`Actor`,
`Person`, `EntryRef`). The rules — who a target is, who may be marked, registering — are
`models.usecases.targets`; a person not yet on the team is looked up with
`get_group_member_info` for this group, and a failed lookup means "not in this group"."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable

from nonebot import logger

from models.ledger import Refused
from models.roster import unnamed, user_ids_on_team
from models.tables import GroupBinding
from models.text import clean_name
from models.usecases.base import CHAT, PRIVATE, Actor, EntryRef, Person
from models.usecases.targets import (  # noqa: F401 (MAX_TARGETS, QQ_RE, too_many: for plugins)
    MAX_TARGETS,
    QQ_RE,
    Where,
    candidate_ids,
    too_many,
)

from . import db
from .context import Ctx
from .grouprole import ASK_TIMEOUT
from .identity import is_superuser
from .parse import Args, parse_entry_id
from .platforms import Caps, MemberInfo, of_adapter, of_bot

_CITED_ID = re.compile(r"[#＃](\d{1,18})")


def check_target_count(args: Args) -> None:
    """SPEC §3: at most MAX_TARGETS @s in one command, refused before any lookup or
    transaction (10,000 @s would otherwise hold the team's writes while each is looked up)."""
    if len(args.mentions) > MAX_TARGETS:
        raise too_many()


async def _ask_adapter(ctx: Ctx, user_id: str) -> str | None:
    """The display name of a member of this group, from the platform (their id when it
    knows no name); None when it does not answer for them: not in the group."""
    platform = of_bot(ctx.bot)
    if ctx.group_id is None or platform is None:
        return None
    info = await platform.member(ctx.bot, ctx.group_id, user_id)
    if info is None:
        return None
    if info.role:
        ctx.extra.setdefault("group_roles", {})[user_id] = info.role
    return _display(info, user_id)


def _display(info: MemberInfo, user_id: str) -> str:
    return clean_name(info.name).strip() or user_id


async def in_groups(bindings: Iterable[GroupBinding], user_id: str) -> str | None:
    """Outside a chat message (the dashboard's 入职): the person's display name in the
    first of these groups whose connected bot account says they are in it, as
    `get_group_member_info` answers for a chat command (SPEC §2); None when no account in
    a group answers for them (not in the groups, no account online, or a platform with no
    member lookup)."""
    from .send import NoBotOnline, pick_bot

    for binding in bindings:
        try:
            bot = await pick_bot(binding)
        except NoBotOnline:
            continue
        platform = of_bot(bot)
        if platform is None:
            continue
        try:
            info = await asyncio.wait_for(
                platform.member(bot, binding.group_id, user_id), ASK_TIMEOUT
            )
        except Exception as e:  # a time-out, an implementation error
            logger.info(f"get_group_member_info({binding.group_id}, {user_id}) failed: {e!r}")
            continue
        if info is not None:
            return _display(info, user_id)
    return None


def can_look_up(bindings: Iterable[GroupBinding]) -> bool:
    """Some of these groups are on a platform that answers who is in a group (not WeCom)."""
    return any((p := of_adapter(b.adapter)) is None or p.caps.member_lookup for b in bindings)


async def prefetch_names(ctx: Ctx, args: Args, *, targets: bool) -> None:
    """Ask the adapter, before any transaction opens, for the names of the people this
    message may register or name for the first time: with `targets` (a command about other
    people), those `models.usecases.targets.candidate_ids` reads that are not yet on the
    team or are stored under their account id (`models.roster.unnamed`); otherwise (a
    self-report) the speaker, when the event carries no name (OneBot v12, official QQ).
    Stored in `ctx.names`."""
    if ctx.group_id is None or ctx.team is None:
        return
    wanted: set[str] = set()
    if targets:
        wanted = candidate_ids(args.tokens, ctx.quoted_user_id)
    elif ctx.sender_name == ctx.user_id and (ctx.member is None or unnamed(ctx.member)):
        wanted.add(ctx.user_id)
    if not wanted:
        return
    async with db.reading() as s:
        known = await user_ids_on_team(s, ctx.team.id, ctx.platform, wanted, named=True)
    await ask_names(ctx, sorted(wanted - known))


async def ask_new_people(ctx: Ctx, user_ids: list[str]) -> None:
    """`ask_names` for those of `user_ids` not on the team (any tenure), or on it under
    their account id: whether they are in the group, and their name."""
    if ctx.team is None or not user_ids:
        return
    async with db.reading() as s:
        known = await user_ids_on_team(s, ctx.team.id, ctx.platform, set(user_ids), named=True)
    await ask_names(ctx, sorted(set(user_ids) - known))


async def ask_names(ctx: Ctx, user_ids: list[str]) -> None:
    """Fill `ctx.names` from the implementation (before any transaction opens)."""
    for uid in user_ids:
        ctx.names[uid] = await _ask_adapter(ctx, uid)


def lookup_name(ctx: Ctx, user_id: str) -> str | None:
    """The name `prefetch_names` found for a member of the group (None: not in the group
    per the implementation, or not asked)."""
    return ctx.names.get(user_id)


def actor_of(ctx: Ctx) -> Actor:
    """The speaker as a use case's `Actor` (their group card, their role as this event says)."""
    name = ctx.sender_name
    if name == ctx.user_id:  # events with no name (OneBot v12, WeCom): asked, or the roster's
        known = ctx.member.name if ctx.member is not None else None
        name = lookup_name(ctx, ctx.user_id) or known or name
    return Actor(
        platform=ctx.platform,
        user_id=ctx.user_id,
        name=name,
        is_superuser=ctx.is_superuser,
        group_role=ctx.sender_role if ctx.group_id is not None else None,
        channel=CHAT if ctx.group_id is not None else PRIVATE,
        typed_ids=_caps(ctx).numeric_ids,
        mentions=_caps(ctx).mentions,
    )


def people_of(ctx: Ctx) -> dict[str, Person]:
    """What the adapter said of the people the message names (`prefetch_names`)."""
    roles = ctx.extra.get("group_roles", {})
    return {
        uid: Person(uid, name, roles.get(uid), is_superuser(ctx.platform, uid))
        for uid, name in ctx.names.items()
    }


def where_of(ctx: Ctx) -> Where:
    """The team, platform and lookups of a command, for `models.usecases.targets.resolve`."""
    return Where(
        ctx.team_id,
        ctx.platform,
        ctx.actor,
        ctx.today,
        people_of(ctx),
        ctx.quoted_user_id,
        _caps(ctx).numeric_ids,
        _caps(ctx).mentions,
    )


def _caps(ctx: Ctx) -> Caps:
    """What the speaker's platform can do: whether a typed number names a user (QQ numbers,
    not openids: `numeric_ids`), whether an @ reaches the bot as a mention (not on WeCom)."""
    platform = of_bot(ctx.bot)
    return platform.caps if platform is not None else Caps()


def _quoted(ctx: Ctx) -> tuple[str | None, bool, str]:
    """The message this one replies to: (its id, sent by this bot account, its text). The id
    alone when the platform could not fetch it; (None, False, "") for no reply, or a reply
    to a message of another chat (`Platform.quoted`)."""
    platform = of_bot(ctx.bot)
    quoted = platform.quoted(ctx.bot, ctx.event, ctx.group_id) if platform is not None else None
    if quoted is None:
        return None, False, ""
    return quoted.message_id, quoted.user_id == ctx.self_id, quoted.text


def _confirmed_ids(text: str) -> list[int]:
    """The entries a bot message confirms: the first id of each `✅` line (a warning below
    may name another), else every id it names."""
    ids = [
        m.group(1)
        for line in text.splitlines()
        if line.startswith("✅")
        if (m := _CITED_ID.search(line))
    ]
    return sorted({int(x) for x in ids or _CITED_ID.findall(text)})


def entry_ref(
    ctx: Ctx, words: list[str], ask: str = "请写记录编号，例如 #123"
) -> tuple[EntryRef, list[str]]:
    """The entry a command names, and the words after it (SPEC §3 "What people type").

    The first word when it is an id (`#62` or `62`); otherwise the message replied to: the
    bot's confirmation of one entry (`✅ #168 …`), or the chat message that created it (its
    `source`), read in the transaction (`models.usecases.base.EntryRef`)."""
    if words and (wanted := parse_entry_id(words[0])) is not None:
        return EntryRef(wanted, ask=ask), words[1:]
    if words and re.fullmatch(r"[#＃]\S*", words[0]):  # `#` and then no id a number can be
        raise Refused(f"编号应写成 #123，收到 {words[0]}")
    message_id, by_bot, text = _quoted(ctx)
    if message_id is None:
        return EntryRef(ask=ask), words
    source = ctx.message_key.rsplit(":", 1)[0] + ":" + message_id
    confirmed = tuple(_confirmed_ids(text)) if by_bot else ()
    return EntryRef(None, True, confirmed, source, ask), words
