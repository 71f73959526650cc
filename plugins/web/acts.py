"""The desk's actions on a team's month (issue 24): log marks, revoke, decide appeals, file
an appeal (an agent, on their own entry), the roster and the daily reminder — each through
the same use case as its chat command (`models.usecases`, issue 21), run by `bot.door.write`
with the person as the actor and the channel 网页 (so `/审计` says so).

Every action is a POST declaring `ActingDep` (same origin, a session, its CSRF token). A
refusal shows the chat command's ❌ text: 403 when it is about who may act, 409 about the
state of things (a settled month, an entry already revoked…), 400 about the input.
"""

from __future__ import annotations

import re
from dataclasses import replace

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from nonebot import logger

from bot import door
from bot.config import get_config
from bot.format import cat_line, entry_points, item_name
from bot.replies import Part
from bot.runtime import commission_base, in_force, policy, rubric, rubric_in_force
from bot.send import send_group
from bot.targets import can_look_up, in_groups
from models import dashboard as dash
from models.identity import platform_label
from models.ledger import Refused
from models.linkcheck import KIND_NAMES, SELF_KEEP
from models.periods import current_period, parse_period, shift_period
from models.rights import SELF_APPEAL, SELF_MARK, SELF_REVOKE
from models.roster import member_in, team_bindings
from models.scoring import fmt_total
from models.tables import Member, Team
from models.usecases import pages
from models.usecases.appeals import AppealRequest, RejectRequest, file, reject
from models.usecases.base import WEB, Actor, Person, Word
from models.usecases.flags import KeepRequest, keep_flagged
from models.usecases.marks import MarkRequest, RevokeRequest, mark, revoke
from models.usecases.roster import (
    JoinRequest,
    LeaveRequest,
    RemindRequest,
    RoleRequest,
    join,
    leave,
    set_reminder,
    set_role,
)
from models.usecases.targets import QQ_RE
from models.words import MAX_NOTE

from .routes import (
    ActingDep,
    ViewerDep,
    confirm,
    not_found,
    refused,
    render,
    same_origin,
)

router = APIRouter(prefix="/kpi", dependencies=[Depends(same_origin)])

_ROLE_WORDS = ("只有", SELF_MARK, SELF_REVOKE, SELF_APPEAL, SELF_KEEP, "不是你的记录")
_STATE_WORDS = (
    "已结算",
    "已经导入过",
    "已被撤销",
    "没有待处理的申诉",
    "已离职",
    "已于",
    "没有待核实的标记",
)


def status_of(text: str) -> int:
    """403 (who may act), 409 (the state of things) or 400 (the input) for a refusal."""
    if any(w in text for w in _ROLE_WORDS):
        return 403
    if any(w in text for w in _STATE_WORDS):
        return 409
    return 400


def web_actor(viewer: dash.Viewer, team_id: int) -> Actor:
    """The viewer as a use case's actor: channel 网页; a supervisor of the team through a
    group they own or administer counts as that group's admin (as in chat, SPEC §2)."""
    return Actor(
        platform=viewer.platform,
        user_id=viewer.user_id,
        name=viewer.name,
        is_superuser=viewer.superuser,
        group_role="admin" if team_id in viewer.supervises else None,
        channel=WEB,
    )


async def _team(viewer: dash.Viewer, team_id: int, *, manage: bool = True) -> Team:
    """The team acted on: 404 when there is none, 403 unless the viewer supervises it
    (`manage`) or sees it (`pages.team_of`, `dashboard.Unseen`)."""
    ask = pages.PageRead(viewer, team_id)
    return await door.read(lambda s: pages.team_of(s, ask, manage=manage))


async def _team_member(viewer: dash.Viewer, team_id: int, member_id: int) -> tuple[Team, Member]:
    """The team acted on (as `_team`) and its member (404 when another team's)."""
    ask = pages.MemberRead(viewer, team_id, member_id)
    return await door.read(lambda s: pages.member_of(s, ask))


async def run(
    request: Request, act, team: Team, use_case, req, done, back: str, tell=None
) -> Response:
    """Run the use case through the door; the page says what happened (`done(result)`) or
    the ❌ text of the refusal. The use case gets the rules in force for the team this
    month (rubric version, commission base), read in its own transaction as in chat.
    `tell(result)`: what the chat command would have said in the group (its parts, or
    None), posted there once the write is committed (`tell_groups`)."""
    p = policy()
    try:
        result = await door.write(team.id, lambda s: use_case(s, req, in_force(s, team.id, p)))
    except Refused as e:
        return refused(request, act.viewer, str(e), status_of(str(e)), team=team, back=back)
    if tell is not None and (parts := tell(result)) is not None:
        await tell_groups(team.id, act.viewer, parts)
    return render(
        request,
        "message.html",
        viewer=act.viewer,
        team=team,
        period=current_period(p.tz),
        title="已完成",
        message=done(result),
        back=back,
    )


async def tell_groups(team_id: int, viewer: dash.Viewer, parts: list[Part] | str) -> None:
    """Post in the team's groups on the viewer's platform (where the @s in `parts` name
    people) what chat says in the group for the same command (SPEC §4: the supervisors are
    asked to decide an appeal, the agent hears the decision), headed by who did it on the
    dashboard. A send that fails is logged; the write stands."""
    body = [parts] if isinstance(parts, str) else parts
    message: list[Part] = [f"📮 {viewer.name}（网页）\n", *body]
    groups = await door.read(lambda s: team_bindings(s, team_id))
    for binding in groups:
        if binding.platform != viewer.platform:
            continue
        try:
            await send_group(binding, message)
        except Exception as e:
            logger.warning(f"web notice to group {binding.group_id} not sent: {e!r}")


# ---- marks --------------------------------------------------------------------------------------


@router.get("/team/{team_id}/log")
async def log_page(request: Request, viewer: ViewerDep, team_id: int) -> Response:
    p = policy()
    page = await door.read(lambda s: pages.marking(s, pages.PageRead(viewer, team_id), p))
    rub = await rubric_in_force()
    return render(
        request,
        "log.html",
        viewer=viewer,
        team=page.team,
        period=current_period(p.tz),
        agents=page.agents,
        rub=rub,
        items=rub.supervisor_items(),
    )


@router.post("/team/{team_id}/log")
async def log_marks(request: Request, act: ActingDep, team_id: int) -> Response:
    """Several people, one item, a count, a fine, a month and a note: `/扣分` or `/加分`."""
    team = await _team(act.viewer, team_id)
    rub = await rubric_in_force()  # an item the version in force added can be logged
    item = rub.item(act.text("item", 40))
    back = f"/kpi/team/{team_id}/log"
    if item is None or rub.who_logs(item) == "self":
        return refused(request, act.viewer, "请选择扣分或加分项目", 400, team=team, back=back)
    who = act.texts("who")
    if not who:
        return refused(
            request, act.viewer, f"请勾选要登记{item.name}的人", 400, team=team, back=back
        )
    platform = act.viewer.platform
    chosen = await door.read(lambda s: dash.members_by_user(s, team_id, who, platform))
    # members by id (they may be on another platform than the viewer), else as an @
    words = [Word(member_id=chosen[uid]) if uid in chosen else Word(mention=uid) for uid in who]
    # a fine item has a fine and no count (as in chat); the note goes apart from the words
    count, fine = act.text("count", 40, "次数"), act.text("fine", 40, "罚款")
    if fine and not item.fine:  # as typed in chat: the use case refuses it, naming the item
        words.append(Word(f"罚款{fine}"))
    if item.fine and count not in ("", "1"):
        return refused(
            request,
            act.viewer,
            f"{item.name}一次登记一条（另填罚款），次数只能是 1，收到 {count}；有几次请分几次登记",
            400,
            team=team,
            back=back,
        )
    for value in (fine if item.fine else count, act.text("month", 40, "月份")):
        if value:
            words.append(Word(value))
    req = MarkRequest(
        team_id=team_id,
        actor=web_actor(act.viewer, team_id),
        words=tuple(words),
        sign=-1 if (item.points or 0) < 0 else 1,
        item_key=item.key,
        people={uid: Person(uid) for uid in who if uid not in chosen},
        note=act.text("note", MAX_NOTE, "备注"),
    )

    def done(marked) -> str:
        times = f" ×{marked.quantity}" if marked.quantity != 1 else ""
        return "\n".join(
            f"✅ #{one.entry.id} {one.member_name} {item_name(rub, marked.item.key)}{times} "
            f"{entry_points(rub, one.entry)}（{marked.period} {cat_line(one.score, marked.item.category)}，"
            f"总分 {fmt_total(one.score.total)}）"
            for one in marked.lines
        )

    return await run(request, act, team, mark, req, done, back)


@router.post("/team/{team_id}/entries/{entry_id}/revoke")
async def revoke_entry(request: Request, act: ActingDep, team_id: int, entry_id: int) -> Response:
    """`/撤销 #id 原因`; an open appeal against the entry is accepted with it."""
    team = await _team(act.viewer, team_id)
    reason = act.text("reason", 200, "原因") or None
    req = RevokeRequest(team_id, web_actor(act.viewer, team_id), entry_id, reason)
    back = act.text("back", 300) or f"/kpi/team/{team_id}/entries"

    def done(r) -> str:
        why = f"（原因：{r.reason}）" if r.reason else ""
        text = f"✅ 已撤销 #{r.entry.id} {r.member_name}{why}，{r.entry.period} 总分 {fmt_total(r.score.total)}"
        return text + ("；申诉已受理" if r.appeal_accepted else "")

    def tell(r) -> list[Part] | None:
        from plugins.supervise import revoked_parts  # loaded before plugins.web

        return revoked_parts(r) if r.appeal_accepted else None

    return await run(request, act, team, revoke, req, done, _safe(back, team_id), tell)


@router.post("/team/{team_id}/appeals/{entry_id}/reject")
async def reject_appeal(request: Request, act: ActingDep, team_id: int, entry_id: int) -> Response:
    team = await _team(act.viewer, team_id)
    reason = act.text("reason", 300, "驳回理由") or None
    req = RejectRequest(team_id, web_actor(act.viewer, team_id), entry_id, reason)

    def done(r) -> str:
        why = f"（{r.reason}）" if r.reason else ""
        return f"✅ 已驳回 #{r.entry_id} 的申诉{why}，扣分保留"

    from plugins.appeal import rejected_parts  # loaded before plugins.web

    return await run(
        request, act, team, reject, req, done, f"/kpi/team/{team_id}/appeals", rejected_parts
    )


@router.post("/team/{team_id}/entries/{entry_id}/appeal")
async def file_appeal(request: Request, act: ActingDep, team_id: int, entry_id: int) -> Response:
    """An agent appeals a deduction of their own (`/申诉 #id 理由`)."""
    team = await _team(act.viewer, team_id, manage=False)
    reason = act.text("reason", 300, "申诉理由") or None
    req = AppealRequest(team_id, web_actor(act.viewer, team_id), entry_id, reason)
    me = act.viewer.agent_in.get(team_id)
    back = f"/kpi/team/{team_id}/member/{me}" if me else f"/kpi/team/{team_id}"

    def done(r) -> str:
        return f"✅ 已提交对 #{r.entry.id} 的申诉（理由：{r.reason}），等待主管处理"

    from plugins.appeal import filed_parts  # loaded before plugins.web

    return await run(request, act, team, file, req, done, back, filed_parts)


@router.post("/team/{team_id}/flags/{entry_id}/keep")
async def keep_flag(request: Request, act: ActingDep, team_id: int, entry_id: int) -> Response:
    """`/保留 #id 备注`: the 待核实 list's 保留 (its 撤销 is `revoke_entry`, as `/撤销`)."""
    team = await _team(act.viewer, team_id)
    note = act.text("note", 200, "备注") or None
    req = KeepRequest(team_id, web_actor(act.viewer, team_id), entry_id, note)
    back = _safe(act.text("back", 300) or f"/kpi/team/{team_id}", team_id)

    def done(kept) -> str:
        kinds = "、".join(KIND_NAMES.get(k, k) for k in kept.kinds)
        return f"✅ 已保留 #{kept.entry_id} {kept.member_name}（{kinds}），照常计分"

    return await run(request, act, team, keep_flagged, req, done, back)


def _safe(back: str, team_id: int) -> str:
    """Only a path of this team's pages (no open redirect through a link)."""
    page = f"/kpi/team/{team_id}"
    ours = back == page or back.startswith((page + "/", page + "?"))
    return back if ours and "//" not in back else f"{page}/entries"


# ---- roster and reminder ------------------------------------------------------------------------


@router.get("/team/{team_id}/roster")
async def roster_page(request: Request, viewer: ViewerDep, team_id: int) -> Response:
    page = await door.read(lambda s: pages.roster(s, pages.PageRead(viewer, team_id)))
    label, numeric = id_field(viewer.platform)
    return render(
        request,
        "roster.html",
        viewer=viewer,
        team=page.team,
        period=current_period(get_config().tz),
        members=page.members,
        id_label=label,
        id_numeric=numeric,
    )


_ID_KINDS = {"wecom": "userid", "feishu": "open_id", "qqbot": "openid"}  # what to paste
_ACCOUNT = re.compile(r"[\w.@-]{1,64}")


def id_field(platform: str) -> tuple[str, bool]:
    """How the 入职 form asks for a new person's account on the viewer's platform (SPEC §2):
    a QQ number where users are QQ numbers (`qq`), else the platform's account id in its
    words (`models.identity.platform_label`: 企业微信账号（userid）…); True when a number."""
    if platform == "qq":
        return "QQ 号", True
    kind = _ID_KINDS.get(platform.split(".", 1)[0])
    return f"{platform_label(platform)}账号" + (f"（{kind}）" if kind else ""), False


@router.post("/team/{team_id}/roster/join")
async def roster_join(request: Request, act: ActingDep, team_id: int) -> Response:
    """`/入职 QQ 姓名`: as in chat, only someone a bot account in one of the team's groups
    (on the viewer's platform) says is in it, or someone already on the roster (SPEC §2)."""
    team = await _team(act.viewer, team_id)
    platform = act.viewer.platform
    label, numeric = id_field(platform)
    uid, name = act.text("user_id", 64, label), act.text("name", 20, "姓名")
    back = f"/kpi/team/{team_id}/roster"
    if not (QQ_RE if numeric else _ACCOUNT).fullmatch(uid):
        said = f"，收到“{uid}”" if uid else ""
        return refused(
            request, act.viewer, f"请写要入职的人的{label}{said}", 400, team=team, back=back
        )
    groups = [
        b for b in await door.read(lambda s: team_bindings(s, team_id)) if b.platform == platform
    ]
    card = await in_groups(groups, uid)
    if card is None and not can_look_up(groups):
        on_team = await door.read(lambda s: member_in(s, team_id, platform, uid) is not None)
        if not on_team:
            return refused(
                request,
                act.viewer,
                f"{label} {uid} 不在成员名单上，这个平台查不到群成员，无法确认他在群里。"
                "请让新人在群里报一次（如 /朋友圈），就会自动入职，之后可在这里改名。"
                "本次没有记录任何内容",
                400,
                team=team,
                back=back,
            )
    actor = replace(web_actor(act.viewer, team_id), typed_ids=numeric)
    people = {uid: Person(uid, card)} if card is not None else {}
    req = JoinRequest(team_id, actor, (uid,), name, people)

    def done(r) -> str:
        return "\n".join(
            f"✅ {one.name} {_JOINED.get(one.status, '已登记')}（{one.joined_on}）"
            for one in r.lines
        )

    return await run(request, act, team, join, req, done, back)


_JOINED = {"new": "已入职", "rejoined": "重新入职", "already": "已经在团队里", "renamed": "已改名"}


@router.post("/team/{team_id}/roster/{member_id}/rename")
async def roster_rename(request: Request, act: ActingDep, team_id: int, member_id: int) -> Response:
    """A new name: `/入职 @某人 新名字` on someone already on the team."""
    team, m = await _team_member(act.viewer, team_id, member_id)
    name = act.text("name", 20, "姓名")
    back = f"/kpi/team/{team_id}/roster"
    if not name:
        return refused(request, act.viewer, "请写新的姓名", 400, team=team, back=back)
    req = JoinRequest(
        team_id,
        web_actor(act.viewer, team_id),
        (m.user_id,),
        name,
        {m.user_id: Person(m.user_id, name)},
    )

    def done(r) -> str:
        return "\n".join(f"✅ {one.name} {_JOINED.get(one.status, '已登记')}" for one in r.lines)

    return await run(request, act, team, join, req, done, back)


@router.post("/team/{team_id}/roster/{member_id}/leave")
async def roster_leave(request: Request, act: ActingDep, team_id: int, member_id: int) -> Response:
    """`/离职 @某人`, asked first (the button sits on every row); never the viewer's own row:
    a supervisor who left themself would be locked out of the page they did it on."""
    team, m = await _team_member(act.viewer, team_id, member_id)
    v, back = act.viewer, f"/kpi/team/{team_id}/roster"
    if (m.platform, m.user_id) == (v.platform, v.user_id) or v.agent_in.get(team_id) == m.id:
        return refused(
            request, v, "不能在网页上给自己办离职，请让其他主管处理", 403, team=team, back=back
        )
    if not act.confirmed:
        return confirm(
            request,
            act,
            f"{m.name} 离职",
            [
                f"{m.name} 从今天起离开「{team.name}」：不能再报数，也不会被提醒；本月仍计入考核，历史记录保留。",
                "要回来时重新入职。",
            ],
            team=team,
            back=back,
            button="确认离职",
        )
    req = LeaveRequest(team_id, web_actor(v, team_id), (Word(member_id=m.id),))

    def done(r) -> str:
        return f"✅ {'、'.join(r.names)} 已离职（{r.today} 起），历史记录保留"

    return await run(request, act, team, leave, req, done, back)


@router.post("/team/{team_id}/roster/{member_id}/role")
async def roster_role(request: Request, act: ActingDep, team_id: int, member_id: int) -> Response:
    """`/主管` / `/取消主管` (a superuser or the group's owner, as in chat)."""
    team, m = await _team_member(act.viewer, team_id, member_id)
    role = "supervisor" if act.text("role", 20) == "supervisor" else "agent"
    req = RoleRequest(
        team_id,
        web_actor(act.viewer, team_id),
        (Word(member_id=m.id),),
        role,
    )

    def done(r) -> str:
        return f"✅ {'、'.join(r.names)} 已{'设为主管' if r.role == 'supervisor' else '改为客服'}"

    return await run(request, act, team, set_role, req, done, f"/kpi/team/{team_id}/roster")


@router.post("/team/{team_id}/settings/reminder")
async def settings_reminder(request: Request, act: ActingDep, team_id: int) -> Response:
    """`/提醒 HH:MM|关闭`."""
    team = await _team(act.viewer, team_id)
    word = act.text("value", 10)
    back = f"/kpi/team/{team_id}/settings"
    if word in ("关闭", "off", "关"):
        value = "off"
    else:
        from bot.config import parse_hhmm

        hm = parse_hhmm(word)
        if hm is None:
            return refused(
                request,
                act.viewer,
                "请写提醒时间 HH:MM（如 17:30）或“关闭”",
                400,
                team=team,
                back=back,
            )
        value = f"{hm[0]:02d}:{hm[1]:02d}"
    req = RemindRequest(team_id, web_actor(act.viewer, team_id), value)

    def done(r) -> str:
        return (
            "✅ 本团队的每日提醒已关闭"
            if r.value == "off"
            else f"✅ 每天 {r.value} 提醒还没报的同事"
        )

    return await run(request, act, team, set_reminder, req, done, back)


# ---- the month: settle, reopen, resend (with a confirmation) -----------------------------------


@router.post("/team/{team_id}/month/{action}")
async def month_action(request: Request, act: ActingDep, team_id: int, action: str) -> Response:
    """`/结算` (a supervisor), `/重开` and `/重发` (a superuser), as in chat; the first POST
    shows what will happen, the second (`confirm=yes`) does it."""
    from models.usecases.monthly import (
        ReopenRequest,
        ResendRequest,
        SettleRequest,
        reopen_month,
        resend_posts,
        settle_month,
    )
    from plugins.monthly import flush_soon  # loaded before plugins.web

    if action not in ("settle", "reopen", "resend"):
        raise not_found()
    team = await _team(act.viewer, team_id)
    cfg = get_config()
    now = current_period(cfg.tz)
    period = parse_period(act.text("month", 20), cfg.tz) or shift_period(now, -1)
    back = f"/kpi/team/{team_id}?month={period}"
    v = act.viewer
    if action != "settle" and not v.superuser:
        return refused(request, v, "只有超级管理员可以这样做", 403, team=team, back=back)
    what = {
        "settle": (
            f"结算 {team.name} {period}",
            [
                f"按 {period} 的考核表和提成基数计算每个人的得分并保存，月报发到团队绑定的群里。",
                "结算后这个月不能再修改（超级管理员可以重开）。",
            ],
        ),
        "reopen": (
            f"重开 {team.name} {period}",
            [f"{period} 将可以补录或撤销记录；改完再结算会播报更正。"],
        ),
        "resend": (
            f"重发 {team.name} {period} 的月报",
            ["请先到群里确认确实没有收到月报，再重发。"],
        ),
    }[action]
    if not act.confirmed:
        return confirm(
            request,
            act,
            what[0],
            what[1],
            team=team,
            period=period,
            back=back,
            button=f"确认{what[0][:2]}",
        )
    file_rubric, default = rubric(), commission_base()

    def work(s):
        if action == "settle":
            req = SettleRequest(
                team_id,
                v.key,
                period,
                now,
                file_rubric,  # `settle` reads the month's own rules (as chat's /结算)
                default,
                cfg.kpi_monthly_dm,
                channel=WEB,
            )
            done = settle_month(s, req)
            return f"✅ {period} 已{'更正' if done.correction else '结算'}，{done.members} 人，月报马上发到群里"
        if action == "reopen":
            reopen_month(s, ReopenRequest(team_id, v.key, period, channel=WEB))
            return f"✅ {period} 已重开，可以补录或撤销；改完再结算会播报更正"
        done = resend_posts(s, ResendRequest(team_id, team.name, v.key, period, channel=WEB))
        return f"✅ {'、'.join(done.periods)} 的月报已重新排队（{done.posts} 条），马上发出"

    try:
        text = await door.write(team_id, work)
    except Refused as e:
        return refused(request, v, str(e), status_of(str(e)), team=team, back=back)
    if action != "reopen":
        flush_soon(0.5)
    return render(
        request,
        "message.html",
        viewer=v,
        team=team,
        period=period,
        title="已完成",
        message=text,
        back=back,
    )


def install(app) -> None:
    app.include_router(router)
