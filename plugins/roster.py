"""Teams, groups and the roster: /绑定 /解绑 /入职 /离职 /成员 /主管 /取消主管 (SPEC §2)."""

from bot.commands import COMMANDS, plugin_meta, self_report_examples, usages
from bot.context import Ctx, forget_bindings
from bot.dispatch import Later, kpi_command
from bot.parse import Args
from bot.runtime import rubric
from bot.targets import (
    MAX_TARGETS,
    QQ_RE,
    ask_names,
    ask_new_people,
    lookup_name,
    resolve_targets,
    too_many,
)
from models.ledger import Refused
from models.roster import (
    audit,
    bind_group,
    binding_of,
    is_team_supervisor,
    join,
    leave,
    member_of,
    roster,
    team_by_name,
    unbind_group,
)
from models.roster import new_team as create_team
from models.tables import GroupBinding, Team

__plugin_meta__ = plugin_meta(
    "团队与成员",
    "群绑定团队、成员入职离职、主管设置",
    usages("bind", "unbind", "join", "leave", "members", "promote", "demote"),
)


@kpi_command(COMMANDS["bind"], anywhere=True)
async def bind(ctx: Ctx, args: Args) -> str | None:
    """SPEC §2 "Binding is guarded": a new team is created by the group owner or a
    superuser; joining an existing team needs a superuser or an explicit supervisor of it.
    A refused attempt on an existing team changes nothing but leaves an audit row.

    In a group bound through another bot account, `@本账号 /绑定` moves the group to this
    account (SPEC §5 scale-out); without the @ the account stays silent."""
    if args.mentions:
        return None  # `@另一个机器人账号 /绑定`: addressed to that account, not this one
    name = args.text.strip() or f"团队{ctx.group_id}"
    if len(name) > 30:
        raise Refused("团队名最长 30 个字")
    s = ctx.s
    current = await binding_of(s, ctx.platform, ctx.group_id)
    if current is None:
        reply = await _bind_new(s, ctx, name)
    else:
        team = await s.get(Team, current.team_id)
        if not current.self_id or current.self_id == ctx.self_id:
            raise Refused(f"本群已绑定团队「{team.name}」，如需更换请先 /解绑")
        if not ctx.to_me:
            return None  # both accounts got this /绑定; the other one bound the group
        reply = await _serve_from_here(s, ctx, current, team)
    if isinstance(reply, Refused):
        return reply  # answered ❌ once the audit row of the attempt is committed
    return _rebound(reply)


def _rebound(reply: str) -> Later:
    """Reply once the binding is committed, forgetting the cached one (else a message in
    between could cache the old binding for a while)."""

    async def forget_then_reply() -> str:
        forget_bindings()
        return reply

    return Later(forget_then_reply)


async def _bind_new(s, ctx: Ctx, name: str) -> str | Refused:
    where = f"{ctx.platform}:{ctx.group_id}"
    team = await team_by_name(s, name)
    existed = team is not None
    if team is None:
        if not ctx.is_owner:
            raise Refused("只有群主或超级管理员可以创建新团队")
        team = await create_team(s, name, ctx.actor)
    elif not ctx.is_superuser and not await is_team_supervisor(
        s, team.id, ctx.platform, ctx.user_id
    ):
        audit(s, team.id, ctx.actor, "bind.refused", where, None, name)
        return Refused(
            f"只有超级管理员或「{name}」的主管可以把群绑定到这个已有团队；"
            "请找他们来绑定，或换一个新团队名"
        )
    await bind_group(s, team, ctx.platform, ctx.group_id, ctx.adapter, ctx.self_id, ctx.actor)
    how = "（已有团队，共用成员和记录）" if existed else ""
    examples = "、".join(self_report_examples(rubric()))
    return (
        f"✅ 本群已绑定团队「{name}」{how}\n"
        f"客服：{examples} 即可自报；主管：/扣分 @某人 项目。/帮助 看全部命令"
    )


async def _serve_from_here(s, ctx: Ctx, current: GroupBinding, team: Team) -> str:
    """This bot account serves the group from now on (supervisor of its team or superuser)."""
    if not ctx.is_supervisor:
        raise Refused("只有本团队的主管、群主或超级管理员可以更换回复本群的机器人账号")
    before = current.self_id
    current.self_id, current.adapter = ctx.self_id, ctx.adapter
    audit(
        s, team.id, ctx.actor, "bind.account", f"{ctx.platform}:{ctx.group_id}", before, ctx.self_id
    )
    return f"✅ 本群（团队「{team.name}」）改由本账号回复和播报，其他机器人账号在本群不再回复"


@kpi_command(COMMANDS["unbind"])
async def unbind(ctx: Ctx, args: Args) -> str | None:
    await unbind_group(ctx.s, ctx.team, ctx.platform, ctx.group_id, ctx.actor)
    return _rebound(
        f"✅ 本群已与团队「{ctx.team.name}」解绑，记录都还保留；重新 /绑定 {ctx.team.name} 即可恢复"
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
async def join_cmd(ctx: Ctx, args: Args) -> str | None:
    uids, name = _join_request(ctx, args)
    if not uids:
        raise Refused("请 @ 要入职的人（或写 QQ 号）")
    if name and len(uids) > 1:
        raise Refused("一次给多人入职时不能指定姓名")
    if len(name) > 20:
        raise Refused("姓名最长 20 个字")
    s = ctx.s
    outsiders = [
        uid
        for uid in uids
        if lookup_name(ctx, uid) is None
        and await member_of(s, ctx.team_id, ctx.platform, uid) is None
    ]
    if outsiders and outsiders == [ctx.quoted_user_id] and len(uids) == 1:
        raise Refused("请 @ 要入职的人（或写 QQ 号）")  # the quoted sender is not in this group
    if outsiders:
        who = "、".join(f"QQ {uid}" for uid in outsiders)
        raise Refused(f"{who} 不在本群，不能入职。本次没有记录任何内容")
    lines = []
    for uid in uids:
        display = name or lookup_name(ctx, uid) or uid
        m, status = await join(s, ctx.team_id, ctx.platform, uid, display, ctx.today, ctx.actor)
        if status == "already":
            if name and m.name != name:
                m.name = name
                lines.append(f"✅ {m.name} 已在团队中，姓名已更新")
            else:
                lines.append(f"✅ {m.name} 已在团队中（{m.joined_on} 入职）")
        elif status == "rejoined":
            lines.append(f"✅ {m.name} 重新入职，从 {ctx.today} 起计入考核")
        else:
            lines.append(f"✅ {m.name} 已入职，从 {ctx.today} 起计入考核")
    return "\n".join(lines)


@kpi_command(COMMANDS["leave"])
async def leave_cmd(ctx: Ctx, args: Args) -> str | None:
    s = ctx.s
    targets, _used = await resolve_targets(ctx, s, args.tokens, register=False, allow_left=True)
    if not targets:
        raise Refused("请 @ 要离职的人（或写 QQ 号、姓名）")
    lines = []
    for m in targets:
        if m.left_on is not None:
            raise Refused(f"{m.name} 已于 {m.left_on} 离职")
        await leave(s, m, ctx.today, ctx.actor)
        lines.append(
            f"✅ {m.name} 已离职（{ctx.today}），本月仍计入考核，下月起不再计入；历史记录保留"
        )
    return "\n".join(lines)


@kpi_command(COMMANDS["members"])
async def members_cmd(ctx: Ctx, args: Args) -> str:
    s = ctx.s
    people = await roster(s, ctx.team_id)
    if not people:
        return f"「{ctx.team.name}」还没有成员。客服在群里报一次就会自动登记，或用 /入职 @某人"
    active = [m for m in people if m.left_on is None]
    gone = [m for m in people if m.left_on is not None]
    lines = [f"👥 「{ctx.team.name}」成员 {len(active)} 人"]
    for i, m in enumerate(active, 1):
        role = "主管" if m.role == "supervisor" else "客服"
        lines.append(f"{i}. {m.name}（{m.user_id}）{role} {m.joined_on} 入职")
    if gone:
        lines.append(f"已离职 {len(gone)} 人：")
        lines += [f"- {m.name}（{m.user_id}）{m.left_on} 离职" for m in gone]
    return "\n".join(lines)


async def _set_role(ctx: Ctx, args: Args, role: str) -> str | None:
    s = ctx.s
    targets, _ = await resolve_targets(ctx, s, args.tokens)
    if not targets:
        raise Refused("请 @ 要设置的人")
    lines = []
    for m in targets:
        before = m.role
        m.role = role
        audit(s, ctx.team_id, ctx.actor, "role", f"{m.platform}:{m.user_id}", before, role)
        lines.append(
            f"✅ {m.name} 现在是「{ctx.team.name}」的主管"
            if role == "supervisor"
            else f"✅ {m.name} 不再是主管，按客服参与考核"
        )
    return "\n".join(lines)


@kpi_command(COMMANDS["promote"])
async def promote(ctx: Ctx, args: Args) -> str | None:
    return await _set_role(ctx, args, "supervisor")


@kpi_command(COMMANDS["demote"])
async def demote(ctx: Ctx, args: Args) -> str | None:
    return await _set_role(ctx, args, "agent")
