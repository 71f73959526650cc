"""One matcher for every KPI command, and the one transaction each command runs in.

`kpi_command` registers a handler under a command's names; `rubric_command` says how a
rubric item's own commands are handled, and the commands themselves are those of the
rubric in force for the current month (`bot.runtime.rubric_in_force`, looked at for every
message), so a version activated on the dashboard is answered without a restart. A handler
is a plain `def handle(ctx, args) -> Call | Reply`: it parses the message into its use
case's request and returns a `Call` of the use case (`models.usecases`) with the function
that words its result, or (a command that reads nothing stored, like /帮助) the reply
itself. It never sees a session. For each message that starts with a command, `_dispatch`:

1. builds the `Ctx` (who, where, which team), keeps unbound groups and groups served by
   another bot account silent, and drops a message this process already handled;
2. checks the role (SPEC §2) and the number of people named (`bot.targets`);
3. for a command that writes: looks up, through the adapter, the names of the people the
   message names (nothing slow inside a transaction), parses the message into its use
   case's request, then runs ONE write transaction through `bot.door.write` (serialised
   per team, and shared with the units of the team queued at the same moment, group
   commit), which claims the message id (a redelivered message writes nothing and gets no
   second answer), runs the use case, commits;
   for a command that only reads: parses, runs the use case through `bot.door.read` (a
   read-only session), then claims the message id in a short write of its own;
4. replies once the transaction is committed: a ✅ is never sent for something that is
   not in the database. `Refused` becomes `❌ reason + usage`, and rolls back; a use case
   whose result is worded as a `Refused` keeps what it wrote (an audit row of the attempt)
   and is answered ❌ all the same. A `Later` runs after the session is closed (adapter calls
   and file work whose outcome the reply reports: building and uploading a workbook,
   sending a login link privately).

Every answer follows a committed claim of the message (SPEC §5 "Several processes"): a
refused write claims it after its rollback, in a transaction of its own, and stays silent
when another process claimed it first; so one message delivered to several processes is
answered once, ✅, ❌ or information. A command that ends in 「出错了」 keeps no claim of
its own and is forgotten by `_seen`: the same message sent again is handled again.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from nonebot import get_driver, logger, on_message
from nonebot.adapters import Bot, Event, Message
from nonebot.matcher import Matcher
from nonebot.rule import Rule
from nonebot.typing import T_State
from sqlalchemy.orm import Session

from models.ledger import Refused, release_message
from models.rubric import Item, Rubric
from models.usecases.base import Policy

from . import door
from .commands import SYNONYMS, Cmd, rubric_commands
from .context import Ctx, build_ctx, load_member, refresh_name, stale_name
from .parse import Args, clip_echo
from .platforms import of_bot, to_uniseg
from .replies import Reply, send_reply
from .runtime import in_force, policy, rubric_in_force, rubric_now
from .targets import check_target_count, prefetch_names

Req = TypeVar("Req")
Res = TypeVar("Res")

if TYPE_CHECKING:
    from nonebot_plugin_alconna.uniseg import UniMessage

PRIVATE_OK = {"me", "rank", "score", "monthly", "rubric", "help", "dashboard", "status"}
NO_TEAM_OK = {"help", "rubric", "dashboard", "status"}  # a superuser may be on no team
FAILED = "❌ 出错了，这次操作没有生效，请稍后再试"


@dataclass(frozen=True)
class Later:
    """Work for after the command's session is closed; its result is the reply."""

    run: Callable[[], Awaitable[Reply]]


@dataclass(frozen=True)
class Call(Generic[Req, Res]):
    """A command parsed: the use case (`models.usecases`) to run as its one transaction,
    its request, and how its result is worded (`reply`: after the commit)."""

    use_case: Callable[[Session, Req, Policy], Res]
    request: Req
    reply: Callable[[Res], Reply | Later | Refused]
    keeps_member: bool = False  # the use case reads the speaker's membership and name itself


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


# ---- routing -------------------------------------------------------------------------------

Outcome = Reply | Later | Refused
Handler = Callable[[Ctx, Args], "Call | Outcome"]
Prepare = Callable[[Ctx, Args], Awaitable[None]]


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
    prepare: Prepare | None = None


_routes: dict[str, _Route] = {}  # the built-in commands (`bot.commands.COMMANDS`)
_makers: list[tuple[Callable[[Cmd], bool], Callable[[Item], Handler]]] = []
_matcher: type[Matcher] | None = None


@dataclass(frozen=True)
class _Table:
    """The commands a rubric version answers: the built-in ones and its items' own."""

    routes: dict[str, _Route]
    by_length: list[str]  # command names, longest first (prefix match like NoneBot's)
    shadowed: dict[str, list[str]]  # command name → synonyms that start with it (`排行榜`)


_tables: dict[str, _Table] = {}  # rubric version → its table, built at its first message


def _table_of(rub: Rubric) -> _Table:
    """The command table of `rub` (SPEC §1: a rubric item's commands come from the
    rubric): the built-in commands and, for each item command, the route its plugin
    makes for the item (`rubric_command`)."""
    table = _tables.get(rub.version)
    if table is not None:
        return table
    routes = dict(_routes)
    for item, cmd in rubric_commands(rub):
        make = next((m for which, m in _makers if which(cmd)), None)
        if make is None:
            continue
        route = _Route(cmd, make(item), anywhere=False)
        for name in cmd.names:
            routes.setdefault(name.lower(), route)  # a rubric never shadows a built-in
    by_length = sorted(routes, key=len, reverse=True)
    shadowed: dict[str, list[str]] = {}
    for syn in SYNONYMS.keys() - routes.keys():
        if name := next((n for n in by_length if syn.startswith(n)), None):
            shadowed.setdefault(name, []).append(syn)
    table = _Table(routes, by_length, shadowed)
    if len(_tables) > 32:
        _tables.clear()
    _tables[rub.version] = table
    return table


def _starts_with(text: str, start: str) -> bool:
    """`text` begins with `start`, also typed full-width (`／` for `/`, Chinese IME)."""
    head = text[: len(start)]
    return head == start or unicodedata.normalize("NFKC", head) == start


def _first_text(message: Message) -> tuple[int, str] | None:
    """The first non-blank text segment (index, text), whatever comes before it."""
    for index, seg in enumerate(message):
        if seg.is_text():
            text = str(seg.data.get("text", "")).lstrip()
            if text:
                return index, text
    return None


def _lead(bot: Bot, segments: Message) -> list | None:
    """What comes before the command's text, as uniseg segments: @s and pictures are kept
    (a target, the evidence), a quote, faces and blank text dropped; None when anything
    else comes first (not a command)."""
    from nonebot_plugin_alconna.uniseg import At, AtAll, Emoji, Image, Reply, Text

    kept = []
    for seg in to_uniseg(bot, segments):
        if isinstance(seg, At | Image):
            kept.append(seg)
        elif isinstance(seg, Text):
            if seg.text.strip():
                return None
        elif not isinstance(seg, Reply | Emoji | AtAll):
            return None
    return kept


def match_command(
    bot: Bot, message: Message, rub: Rubric | None = None
) -> tuple[_Route, UniMessage] | None:
    """The command a message starts with (`/软文…`) among the built-in ones and those of
    `rub` (default: the rubric in force as last read, `bot.runtime.rubric_now`), and the
    message after it as a uniseg `UniMessage` (converted only once a command matched, and
    only what follows it).

    SPEC §3 "What real clients send": before the command's text may come a quote (kept by
    the adapter when the quoted message could not be fetched), @s (of the bot, or the one
    QQ inserts for the quoted person), pictures, faces and blank text. @s and pictures stay
    in the arguments (a target, the evidence); the rest is dropped.

    One matcher serves every KPI command: NoneBot checks each matcher's rules in its own
    task, so sixty matchers cost far more per message than one dictionary lookup.
    """
    from nonebot_plugin_alconna.uniseg import Text, UniMessage

    table = _table_of(rub or rubric_now())
    found = _first_text(message)
    if found is None:
        return None
    index, text = found
    starts = get_driver().config.command_start
    for start in sorted(starts, key=len, reverse=True):
        if start and _starts_with(text, start):
            text = text[len(start) :]
            started = True
            break
    else:
        if "" not in starts:
            return None
        started = False
    low = text.lower()
    for name in table.by_length:
        if low.startswith(name):
            lead = _lead(bot, message[:index]) if index else []
            if lead is None:
                return None
            if (longer := table.shadowed.get(name)) and (hint := _synonym_at(low, longer)):
                return _suggestion(hint, table), UniMessage()  # `/排行榜` is not `/排行 榜`
            rest = text[len(name) :].lstrip()
            arg = UniMessage(lead)
            if rest:
                arg.append(Text(rest))
            if index + 1 < len(message):
                arg.extend(to_uniseg(bot, message[index + 1 :]))
            return table.routes[name], arg
    if started and (hint := near_miss(low, table)):
        if index and _lead(bot, message[:index]) is None:
            return None
        return _suggestion(hint, table), UniMessage()
    return None


# ---- a command almost typed ---------------------------------------------------------------

_suggestions: dict[tuple[str, str], _Route] = {}
_WORD_END = re.compile(r"[\s\d#＃@:：,，。!！?？/]|https?:")


def _synonym_at(low: str, synonyms: list[str]) -> str | None:
    """The command meant by a synonym `low` starts with as a whole word."""
    for syn in synonyms:
        if low == syn or (low.startswith(syn) and _WORD_END.match(low, len(syn))):
            return SYNONYMS[syn]
    return None


def _one_edit(a: str, b: str) -> bool:
    """`a` and `b` differ by one insertion, deletion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return True
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return short[i:] == long[i + 1 :]


def near_miss(low: str, table: _Table | None = None) -> str | None:
    """SPEC §3: the command a mistyped one means, when unambiguous enough: a known synonym
    (`/排名`, `/我的积分`), or a name one edit away (`/加好有`). Names of one character, and
    English aliases shorter than four letters, are too short to guess from. Only read for a
    message that starts like a command and is none: it costs the commands nothing."""
    m = _WORD_END.search(low)
    word = low[: m.start()] if m else low
    if len(word) < 2:
        return None
    if word in SYNONYMS:
        return SYNONYMS[word]
    routes = (table or _table_of(rubric_now())).routes
    for name in routes:
        if len(name) >= (4 if name.isascii() else 2) and _one_edit(word, name):
            return routes[name].cmd.name
    return None


def _suggestion(name: str, table: _Table) -> _Route:
    """A route that answers `❓ 是不是 /排行？` and the command's usage, like a read
    command (silent in unbound groups, claimed once)."""
    cmd = table.routes[name.lower()].cmd
    route = _suggestions.get((name, cmd.usage))
    if route is None:
        text = f"❓ 是不是 /{cmd.name}？\n用法：{cmd.usage}"

        def answer(ctx: Ctx, args: Args) -> str:
            return text

        route = _Route(replace(cmd, role="anyone", writes=False), answer, anywhere=False)
        _suggestions[(name, cmd.usage)] = route
    return route


async def _is_command(bot: Bot, event: Event, state: T_State) -> bool:
    if event.get_type() != "message":
        return False
    found = match_command(bot, event.get_message(), await rubric_in_force())
    if found is None:
        return False
    state["kpi_route"], state["kpi_arg"] = found
    state["kpi_bot"], state["kpi_event"] = bot, event  # for `_dispatch`, which takes `state`
    return True


def _member_in_transaction(cmd: Cmd, bot: Bot) -> bool:
    """An agent's own write (a self-report, /撤回, /申诉) needs the speaker's membership
    for nothing before its transaction, so it is read inside it (the hot path). Others
    need it first: for the role check, or (a platform whose events carry no name, like
    OneBot v12) to know whether the speaker's name must be asked for."""
    platform = of_bot(bot)
    names = platform is not None and platform.caps.names_in_events
    return cmd.writes and cmd.role == "member" and names


class _Handled(Exception):
    """The message was already handled (by another process, or before a restart)."""


@dataclass
class _Turn:
    """How far a message got: `claimed` once its claim is committed, `alone` when that
    claim is a transaction of its own (a read), not part of the command's write."""

    claimed: bool = False
    alone: bool = False


async def _dispatch(state: T_State) -> None:
    """The one handler. NoneBot checks and solves each parameter of a handler in a task of
    its own, for every message, so it takes the state alone: `_is_command` put the bot and
    the event there beside the route."""
    bot: Bot = state["kpi_bot"]
    event: Event = state["kpi_event"]
    route: _Route = state["kpi_route"]
    cmd = route.cmd
    try:
        ctx = await build_ctx(bot, event, member=not _member_in_transaction(cmd, bot))
    except Exception:
        logger.exception("reading the chat context failed")
        await bot.send(event, FAILED)
        return
    if ctx is None or not first_delivery(ctx.message_key):
        return
    if ctx.group_id is not None and ctx.binding is None and not route.anywhere:
        return  # silent in a group that is not bound to a team
    if ctx.served_elsewhere and not (cmd.alias == "bind" and ctx.to_me):
        return  # another account serves this group; `@本账号 /绑定` moves it here
    turn = _Turn()
    try:
        reply = await _run(route, ctx, state["kpi_arg"], turn)
    except _Handled:
        return
    except Refused as e:
        reply = f"❌ {clip_echo(str(e))}\n用法：{cmd.usage}"
        try:
            if not turn.claimed and not await _claim_alone(ctx):
                return  # another process answered this message
        except Exception:
            logger.exception(f"claiming /{cmd.name} failed")
            reply = await _failed(ctx, turn)
    except Exception:
        logger.exception(f"command {cmd.name} failed")
        reply = await _failed(ctx, turn)
    await send_reply(bot, event, reply)


async def _run(route: _Route, ctx: Ctx, arg: UniMessage, turn: _Turn) -> Reply:
    """Check, run and claim the command; its reply (a `Refused` is raised)."""
    cmd = route.cmd
    if ctx.group_id is None and cmd.alias not in PRIVATE_OK:
        raise Refused("请在已绑定的群里使用这个命令")
    if ctx.group_id is None and ctx.team is None and cmd.alias not in NO_TEAM_OK:
        raise Refused(_no_team(ctx))
    _check_role(ctx, cmd)
    args = Args.from_message(arg, ctx.self_id)
    check_target_count(args)
    if cmd.writes:
        outcome = await _write(route, ctx, args)
        turn.claimed = True
    else:
        outcome = await _read(route, ctx, args, turn)
        if not turn.claimed and not await _claim_alone(ctx):
            raise _Handled
        turn.claimed = turn.alone = True
    if isinstance(outcome, Later):
        outcome = await outcome.run()
    if isinstance(outcome, Refused):
        raise outcome
    return outcome


def _no_team(ctx: Ctx) -> str:
    """Why a private command has no team to read."""
    teams = ctx.extra.get("teams")
    if ctx.is_superuser and teams:
        return (
            f"机器人有 {len(teams)} 个团队（{'、'.join(teams)}），请先在要查看的团队群里发一条命令"
            "（如 /状态），再私聊我；或发 /后台 在网页看"
        )
    if ctx.is_superuser:
        return "还没有团队：请先在团队群里 /绑定"
    if left_on := ctx.extra.get("left_on"):
        return f"你已于 {left_on} 离职，私聊不再能查看；如需重新入职请联系主管 /入职"
    return "你还不在任何团队里，请先在团队群里报一次或让主管 /入职"


async def _claim_alone(ctx: Ctx) -> bool:
    """SPEC §5 "Several processes": claim the message in a short write of its own (a read
    command, or a refused write after its rollback) before answering; False when another
    process (or this one, before a restart) claimed it first and answered."""
    return await door.claim(_team_of(ctx), ctx.message_key)


def _team_of(ctx: Ctx) -> int | None:
    return ctx.team.id if ctx.team is not None else None


async def _failed(ctx: Ctx, turn: _Turn) -> str:
    """A command that ended in an unexpected error is not remembered as handled, so the
    same message delivered again is handled again: it leaves `_seen`, and a claim of its
    own is withdrawn (a claim made with a committed write stays: that write is durable)."""
    _seen.pop(ctx.message_key, None)
    if turn.alone:
        try:
            await door.write(_team_of(ctx), lambda s: release_message(s, ctx.message_key))
        except Exception:
            logger.exception("withdrawing the claim of a failed command failed")
    return FAILED


async def _write(route: _Route, ctx: Ctx, args: Args) -> Outcome:
    """The command's one write transaction: claim the message, run the use case, commit;
    then word its result."""
    cmd = route.cmd
    if route.prepare is not None:
        await route.prepare(ctx, args)
    else:
        await prefetch_names(ctx, args, targets=cmd.role not in ("member", "anyone"))
    team_id = _team_of(ctx)
    planned = route.handler(ctx, args)  # parsing: before the transaction opens
    settings = policy()

    def unit(s: Session):
        if not (isinstance(planned, Call) and planned.keeps_member):
            _open_unit(s, ctx)
        if isinstance(planned, Call):
            return planned.use_case(s, planned.request, in_force(s, team_id, settings))
        return planned

    try:
        result = await door.write(team_id, unit, claim=ctx.message_key)
    except door.Claimed:
        raise _Handled from None
    return planned.reply(result) if isinstance(planned, Call) else result


def _open_unit(s: Session, ctx: Ctx) -> None:
    """The start of every write unit after the message's claim (`bot.door`): read the
    speaker's membership if it is not read yet, keep their name current."""
    if not ctx.member_loaded and ctx.team is not None:
        load_member(ctx, s)
    refresh_name(ctx, s)


async def _read(route: _Route, ctx: Ctx, args: Args, turn: _Turn) -> Outcome:
    """A reading command: parse, run the use case in a read-only session; then word its
    result. A speaker whose stored name is not their group card any more has the message
    claimed and the name kept current first, in one short write (the reply then shows the
    new name); otherwise the caller claims the message after the read."""
    team_id = _team_of(ctx)
    if stale_name(ctx):
        try:
            await door.write(team_id, lambda s: refresh_name(ctx, s), claim=ctx.message_key)
        except door.Claimed:
            raise _Handled from None  # another process answered this message
        except Exception:  # a stale name must not cost the command its reply
            logger.exception("refreshing the member's name failed")
        else:
            turn.claimed = turn.alone = True
    planned = route.handler(ctx, args)
    if not isinstance(planned, Call):
        return planned
    settings = policy()
    return planned.reply(
        await door.read(
            lambda s: planned.use_case(s, planned.request, in_force(s, team_id, settings))
        )
    )


def _matcher_once() -> None:
    global _matcher
    if _matcher is None:
        _matcher = on_message(rule=Rule(_is_command), priority=10, block=True)
        _matcher.handle()(_dispatch)


def kpi_command(
    cmd: Cmd, *, anywhere: bool = False, prepare: Prepare | None = None
) -> Callable[[Handler], Handler]:
    """Register `cmd` under every one of its names.

    anywhere: also answered in unbound groups (only `/绑定` and `/帮助`, SPEC §2).
    prepare: adapter calls a writing command needs, run before its transaction opens
    (default: the names of the people it names, `bot.targets.prefetch_names`).
    """

    def deco(func: Handler) -> Handler:
        route = _Route(cmd, func, anywhere, prepare)
        for name in cmd.names:
            if name.lower() in _routes:
                raise ValueError(f"command /{name} registered twice")
            _routes[name.lower()] = route
        _tables.clear()
        return func

    _matcher_once()
    return deco


def rubric_command(which: Callable[[Cmd], bool]) -> Callable[[Callable[[Item], Handler]], Any]:
    """Register how the rubric items' commands that `which` selects are handled: `make(item)`
    gives the handler of one item. The commands themselves come from the rubric in force
    (`_table_of`), so a version activated on the dashboard that adds an item with its own
    commands is answered at the next message, without a restart."""

    def deco(make: Callable[[Item], Handler]) -> Callable[[Item], Handler]:
        _makers.append((which, make))
        _tables.clear()
        return make

    _matcher_once()
    return deco
