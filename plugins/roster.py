"""Teams, groups and the roster: /绑定 /解绑 /入职 /离职 /成员 /主管 /取消主管 (SPEC §2).
The rules are `models.usecases.roster` and `models.usecases.binding`."""

from bot.commands import COMMANDS, plugin_meta, self_report_examples, usages
from bot.context import Ctx, forget_bindings
from bot.dispatch import Call, Later, kpi_command
from bot.parse import Args
from bot.runtime import rubric_now
from bot.targets import (
    MAX_TARGETS,
    QQ_RE,
    actor_of,
    ask_names,
    ask_new_people,
    people_of,
    too_many,
)
from models.ledger import Refused
from models.usecases.binding import (
    BindRequest,
    Bound,
    Silent,
    UnbindRequest,
    Unbound,
    bind,
    unbind,
)
from models.usecases.reads import Roster, TeamRead, members
from models.usecases.roster import (
    Joined,
    JoinRequest,
    LeaveRequest,
    Left,
    RoleRequest,
    RoleSet,
    join,
    leave,
    set_role,
)

__plugin_meta__ = plugin_meta(
    "团队与成员",
    "群绑定团队、成员入职离职、主管设置",
    usages("bind", "unbind", "join", "leave", "members", "promote", "demote"),
)


@kpi_command(COMMANDS["bind"], anywhere=True)
def bind_cmd(ctx: Ctx, args: Args) -> Call | None:
    """SPEC §2 "Binding is guarded" (`models.usecases.binding.bind`). `@另一个机器人账号
    /绑定` is addressed to that account, not this one: silent."""
    if args.mentions:
        return None
    name = args.text.strip() or f"团队{ctx.group_id}"
    assert ctx.group_id is not None
    request = BindRequest(
        actor_of(ctx), ctx.group_id, name, ctx.adapter, ctx.self_id, to_me=ctx.to_me
    )
    return Call(bind, request, _bound)


def _bound(done: Bound | Refused | Silent) -> Later | Refused | None:
    if isinstance(done, Refused):
        return done  # answered ❌ once the audit row of the attempt is committed
    if isinstance(done, Silent):
        return None
    if done.how == "account":
        text = (
            f"✅ 本群（团队「{done.team_name}」）改由本账号回复和播报，其他机器人账号在本群不再回复"
        )
    else:
        how = "（已有团队，共用成员和记录）" if done.how == "existing" else ""
        examples = "、".join(self_report_examples(rubric_now()))
        text = (
            f"✅ 本群已绑定团队「{done.team_name}」{how}\n"
            f"客服：{examples} 即可自报；主管：/扣分 @某人 项目。/帮助 看全部命令"
        )
    return _rebound(text)


def _rebound(reply: str) -> Later:
    """Reply once the binding is committed, forgetting the cached one (else a message in
    between could cache the old binding for a while)."""

    async def forget_then_reply() -> str:
        forget_bindings()
        return reply

    return Later(forget_then_reply)


@kpi_command(COMMANDS["unbind"])
def unbind_cmd(ctx: Ctx, args: Args) -> Call:
    assert ctx.group_id is not None
    return Call(unbind, UnbindRequest(ctx.team_id, actor_of(ctx), ctx.group_id), _unbound)


def _unbound(done: Unbound) -> Later:
    return _rebound(
        f"✅ 本群已与团队「{done.team_name}」解绑，记录都还保留；重新 /绑定 {done.team_name} 即可恢复"
    )


def _join_request(ctx: Ctx, args: Args) -> tuple[list[str], str]:
    """The people `/入职` names (@, QQ numbers, or the quoted sender) and the name given."""
    uids: list[str] = []
    for t in args.tokens:
        if t.mention or QQ_RE.match(t.norm):
            uids.append(t.mention or t.norm)
        else:
            break
    name = " ".join(t.text for t in args.tokens[len(uids) :] if t.mention is None).strip()
    if not uids and ctx.quoted_user_id is not None:  # a reply to their message (SPEC §3)
        uids.append(ctx.quoted_user_id)
    return uids, name


async def _names_for_join(ctx: Ctx, args: Args) -> None:
    """Before the transaction: each person's current group card, unless a name is given
    (a returning member takes their card of today); and, for people not on the team yet,
    whether they are in this group at all (SPEC §2: only they are registered)."""
    uids, name = _join_request(ctx, args)
    if len(uids) > MAX_TARGETS:
        raise too_many()
    if name:
        await ask_new_people(ctx, uids)
    else:
        await ask_names(ctx, uids)


@kpi_command(COMMANDS["join"], prepare=_names_for_join)
def join_cmd(ctx: Ctx, args: Args) -> Call:
    uids, name = _join_request(ctx, args)
    request = JoinRequest(
        ctx.team_id, actor_of(ctx), tuple(uids), name, people_of(ctx), ctx.quoted_user_id
    )
    return Call(join, request, _joined)


def _joined(done: Joined) -> str:
    said = {
        "renamed": "{name} 已在团队中，姓名已更新",
        "already": "{name} 已在团队中（{joined} 入职）",
        "rejoined": "{name} 重新入职，从 {today} 起计入考核",
        "new": "{name} 已入职，从 {today} 起计入考核",
    }
    return "\n".join(
        "✅ " + said[one.status].format(name=one.name, joined=one.joined_on, today=done.today)
        for one in done.lines
    )


@kpi_command(COMMANDS["leave"])
def leave_cmd(ctx: Ctx, args: Args) -> Call:
    request = LeaveRequest(
        ctx.team_id, actor_of(ctx), tuple(args.tokens), people_of(ctx), ctx.quoted_user_id
    )
    return Call(leave, request, _left)


def _left(done: Left) -> str:
    return "\n".join(
        f"✅ {name} 已离职（{done.today}），本月仍计入考核，下月起不再计入；历史记录保留"
        for name in done.names
    )


@kpi_command(COMMANDS["members"])
def members_cmd(ctx: Ctx, args: Args) -> Call:
    return Call(members, TeamRead(ctx.team_id), _roster)


def _roster(team: Roster) -> str:
    if not team.members:
        return f"「{team.team_name}」还没有成员。客服在群里报一次就会自动登记，或用 /入职 @某人"
    active = [m for m in team.members if m.left_on is None]
    gone = [m for m in team.members if m.left_on is not None]
    lines = [f"👥 「{team.team_name}」成员 {len(active)} 人"]
    for i, m in enumerate(active, 1):
        role = "主管" if m.role == "supervisor" else "客服"
        lines.append(f"{i}. {_who(m)}{role} {m.joined_on} 入职")
    if gone:
        lines.append(f"已离职 {len(gone)} 人：")
        lines += [f"- {_who(m)}{m.left_on} 离职" for m in gone]
    return "\n".join(lines)


def _who(m) -> str:
    """A roster line's person: with their QQ number, which people know and can type; an
    openid or a userid means nothing to anyone, so the name alone."""
    return (
        f"{m.name}（{m.user_id}）" if m.platform == "qq" and m.name != m.user_id else f"{m.name} "
    )


def _set_role(ctx: Ctx, args: Args, role: str) -> Call:
    request = RoleRequest(
        ctx.team_id, actor_of(ctx), tuple(args.tokens), role, people_of(ctx), ctx.quoted_user_id
    )
    return Call(set_role, request, _role_set)


def _role_set(done: RoleSet) -> str:
    return "\n".join(
        f"✅ {name} 现在是「{done.team_name}」的主管"
        if done.role == "supervisor"
        else f"✅ {name} 不再是主管，按客服参与考核"
        for name in done.names
    )


@kpi_command(COMMANDS["promote"])
def promote(ctx: Ctx, args: Args) -> Call:
    return _set_role(ctx, args, "supervisor")


@kpi_command(COMMANDS["demote"])
def demote(ctx: Ctx, args: Args) -> Call:
    return _set_role(ctx, args, "agent")
