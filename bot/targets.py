"""Who a command is about: @mentions, QQ numbers or exact roster names (SPEC §3 targets),
and the speaker's own registration (SPEC §2: registered on the first report).

Only someone the platform says is in the group is registered (SPEC §2): a person not yet
on the team is looked up with `get_group_member_info` for this group before the command's
transaction, and a failed lookup means "not in this group". People already on the team
are found in the roster as before."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from models.ledger import Refused, entry_ids_from
from models.periods import period_bounds
from models.roster import find_by_name, join, join_sync, member_of, user_ids_on_team
from models.tables import Member
from models.text import clean_name

from . import db
from .config import get_config
from .context import Ctx
from .identity import is_superuser
from .parse import Args, Token, looks_numeric, parse_entry_id
from .platforms import of_bot

QQ_RE = re.compile(r"^\d{5,12}$")
_CITED_ID = re.compile(r"[#＃](\d{1,18})")
MAX_TARGETS = 50


def too_many() -> Refused:
    return Refused(f"一次最多 {MAX_TARGETS} 人，请分几次发")


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
    return clean_name(info.name).strip() or user_id


async def prefetch_names(ctx: Ctx, args: Args, *, targets: bool) -> None:
    """Ask the adapter, before any transaction opens, for the names of the people this
    message may register: with `targets` (a command about other people), @-ed or quoted
    people and QQ numbers not yet on the team; otherwise (a self-report) the speaker, when
    the event carries no name (OneBot v12). Stored in `ctx.names`."""
    if ctx.group_id is None or ctx.team is None:
        return
    wanted: set[str] = set()
    if targets:
        # @s anywhere (SPEC §3: in any order); QQ numbers as `resolve_targets` reads them,
        # before any other number (a number after a target is a count)
        wanted.update(t.mention for t in args.tokens if t.mention)
        found = False
        for t in args.tokens:
            if t.mention:
                found = True
            elif not found and QQ_RE.match(t.norm):
                wanted.add(t.norm)
                found = True
            elif looks_numeric(t.norm):
                break
        if ctx.quoted_user_id:
            wanted.add(ctx.quoted_user_id)
    elif ctx.member is None and ctx.sender_name == ctx.user_id:
        wanted.add(ctx.user_id)
    if not wanted:
        return
    async with db.reading() as s:
        known = await user_ids_on_team(s, ctx.team.id, ctx.platform, wanted)
    await ask_names(ctx, sorted(wanted - known))


async def ask_new_people(ctx: Ctx, user_ids: list[str]) -> None:
    """`ask_names` for those of `user_ids` not on the team (any tenure): whether they are in
    the group, and their name."""
    if ctx.team is None or not user_ids:
        return
    async with db.reading() as s:
        known = await user_ids_on_team(s, ctx.team.id, ctx.platform, set(user_ids))
    await ask_names(ctx, sorted(set(user_ids) - known))


async def ask_names(ctx: Ctx, user_ids: list[str]) -> None:
    """Fill `ctx.names` from the implementation (before any transaction opens)."""
    for uid in user_ids:
        ctx.names[uid] = await _ask_adapter(ctx, uid)


def lookup_name(ctx: Ctx, user_id: str) -> str | None:
    """The name `prefetch_names` found for a member of the group (None: not in the group
    per the implementation, or not asked)."""
    return ctx.names.get(user_id)


def ensure_self(ctx: Ctx, session: Session) -> Member:
    """The speaker as an agent of the group's team, registering them on first use.

    The membership read with the context is used as it is (no second query on the hot
    path); registering goes through `join_sync`, which finds a row a concurrent first report
    wrote a moment before (writes of a team are serialised)."""
    m = ctx.member
    if m is None:
        name = ctx.sender_name
        if name == ctx.user_id:  # OneBot v12 events carry no group card: ask for it
            name = lookup_name(ctx, ctx.user_id) or name
        m, _ = join_sync(
            session, ctx.team_id, ctx.platform, ctx.user_id, name, ctx.today, ctx.actor
        )
        return m
    if m.left_on is not None:  # /离职 ends membership from that day
        raise Refused(f"你已于 {m.left_on} 离职，如需重新入职请联系主管 /入职")
    if m.role == "supervisor":
        raise Refused("主管不参与自报考核；如需参与请先 /取消主管")
    return m


async def resolve_targets(
    ctx: Ctx,
    session: AsyncSession,
    tokens: list[Token],
    *,
    period: str | None = None,
    is_end: Callable[[Token], bool] = lambda t: False,
    register: bool = True,
    allow_left: bool = False,
) -> tuple[list[Member], int]:
    """Read targets from the start of `tokens`; return (members, tokens used).

    All or nothing: any target that cannot be used raises Refused naming it. Once a target
    is found, a number ends the list (it is a count or a fine, not a QQ number).
    """
    found: list[Member] = []
    errors: list[str] = []
    used = 0
    for tok in tokens:
        if tok.mention is None and (is_end(tok) or (found and looks_numeric(tok.norm))):
            break
        if used >= MAX_TARGETS:
            raise too_many()
        uid = tok.mention
        if uid is None and QQ_RE.match(tok.norm):
            uid = tok.norm
        if uid is not None:
            m = await _by_id(ctx, session, uid, tok.mention is not None, register, errors)
        else:
            same = await find_by_name(session, ctx.team_id, tok.norm)
            if not same:
                break  # not a target: the rest is the command's arguments
            current = [x for x in same if x.left_on is None] or same
            if len(current) > 1:
                who = "、".join(f"{x.name}（{x.user_id}）" for x in current)
                errors.append(f"“{tok.norm}”有重名：{who}，请用 @ 或 QQ 号指定")
                used += 1
                continue
            m = current[0]
        used += 1
        if m is None:
            continue
        if not allow_left and m.left_on is not None:
            first = period_bounds(period)[0] if period else ctx.today
            if m.left_on < first:
                errors.append(f"{m.name} 已于 {m.left_on} 离职")
                continue
        if all(x.id != m.id for x in found):
            found.append(m)
    if not found and not errors and ctx.quoted_user_id is not None:
        # SPEC §3: a reply to someone's message that names nobody is about that someone,
        # if they are on the team or, to be registered, in this group.
        if register and lookup_name(ctx, ctx.quoted_user_id) is None:
            if await member_of(session, ctx.team_id, ctx.platform, ctx.quoted_user_id) is None:
                return [], 0
        quoted = [Token(mention=ctx.quoted_user_id)]
        ctx_found, _ = await resolve_targets(
            ctx, session, quoted, period=period, register=register, allow_left=allow_left
        )
        return ctx_found, 0
    if errors:
        raise Refused("；".join(errors) + "。本次没有记录任何内容")
    return found, used


async def _by_id(
    ctx: Ctx, session: AsyncSession, uid: str, mentioned: bool, register: bool, errors: list[str]
) -> Member | None:
    """The team member with this user id, registered on the spot if `register` and the
    platform says they are in this group (an @ of someone who is not is refused like a
    QQ number); None (with the reason in `errors`) otherwise."""
    m = await member_of(session, ctx.team_id, ctx.platform, uid)
    if m is not None:
        return m
    name = lookup_name(ctx, uid)
    if name is None and (register or not mentioned):
        errors.append(f"QQ {uid} 不在本群或本团队")
    elif not register:
        errors.append(f"{name or uid} 还不是本团队成员")
    else:
        m, _ = await join(session, ctx.team_id, ctx.platform, uid, name, ctx.today, ctx.actor)
    return m


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


async def named_entry(
    ctx: Ctx, session: AsyncSession, words: list[str], ask: str = "请写记录编号，例如 #123"
) -> tuple[int, list[str]]:
    """The entry a command names, and the words after it (SPEC §3 "What people type").

    The first word when it is an id (`#62` or `62`); otherwise the message replied to:
    the bot's confirmation of one entry (`✅ #168 …`), or the chat message that created
    it (its `source`). Refused when it names none, or several (a listing, or a report
    about several people)."""
    if words and (wanted := parse_entry_id(words[0])) is not None:
        return wanted, words[1:]
    message_id, by_bot, text = _quoted(ctx)
    if message_id is None:
        raise Refused(f"{ask}（或回复该记录的确认消息）")
    ids = _confirmed_ids(text) if by_bot else []
    if not ids and ctx.team is not None:
        source = ctx.message_key.rsplit(":", 1)[0] + ":" + message_id
        ids = await entry_ids_from(session, ctx.team.id, source)
    if not ids:
        raise Refused("你回复的消息没有对应的记录，请写记录编号，例如 #123")
    if len(ids) > 1:
        listed = "、".join(f"#{i}" for i in ids[:10])
        raise Refused(f"你回复的消息对应多条记录（{listed}），请写上编号")
    return ids[0], words


def not_an_agent(ctx: Ctx, member: Member) -> str | None:
    """Why `member` may not be marked (SPEC §3 "What people type"): a supervisor; or,
    someone the command would put on the team only now (not an agent yet), a superuser,
    the group's owner, or an admin where admins supervise. None for an agent."""
    if member.role == "supervisor":
        return "主管"
    if member.user_id not in ctx.names:  # on the team before this command: an agent
        return None
    if is_superuser(ctx.platform, member.user_id):
        return "超级管理员"
    role = ctx.extra.get("group_roles", {}).get(member.user_id)
    if role == "owner":
        return "群主"
    if role == "admin" and get_config().kpi_admins_are_supervisors:
        return "群管理员（视为主管）"
    return None
