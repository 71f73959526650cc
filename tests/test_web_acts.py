"""The desk's actions on the month over HTTP (issue 24), each through the chat command's use
case: log marks for several people, revoke with a reason, decide appeals, an agent's own
appeal, the roster, the reminder — and each refusal with the chat's ❌ text: an agent,
another team's supervisor, no CSRF token, a foreign Origin, a settled month. A chat command
sees the result (`/明细` shows a web revoke with its reason and who; `/审计` says 网页)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import nonebot
from nonebot.adapters.onebot import v11
from nonebot.adapters.onebot.v11.exception import ActionFailed
from nonebug import App
from sqlalchemy import select

from bot import db
from models.periods import set_clock
from models.tables import Appeal, AuditLog, Entry, Member, Post, Settlement
from tests.test_dashboard import (  # noqa: F401  (frozen_clock: the suite's November)
    BOSS,
    LI,
    OWNER,
    SHANGHAI,
    WANG,
    ZHANG,
    frozen_clock,
    ids,
    login,
    table,
    team_a,
)
from tests.test_rubric_web_store import settle
from tests.test_web_desk import EVIL, count, token
from tests.utils import GROUP, SUPER, at, connected, plain, said


class GroupBot(v11.Adapter):
    """The group's bot account, connected while the dashboard acts: it says who is in
    which group (`members`: (group, QQ) → card) and keeps what it sends to groups."""

    members: dict[tuple[int, int], str]
    sent: list[tuple[int, str]]

    async def _call_api(self, bot, api: str, **data):
        if api == "get_group_member_info":
            card = self.members.get((data["group_id"], data["user_id"]))
            if card is None:
                raise ActionFailed(status="failed", retcode=100, message="不是群成员")
            return {"user_id": data["user_id"], "card": card, "nickname": card, "role": "member"}
        if api in ("send_group_msg", "send_msg"):
            self.sent.append((data.get("group_id"), plain(str(data["message"]))))
        return {"message_id": len(self.sent)}


@contextlib.asynccontextmanager
async def group_bot(members: dict[tuple[int, int], str] | None = None) -> AsyncIterator[GroupBot]:
    adapter = GroupBot(nonebot.get_driver())
    adapter.members, adapter.sent = dict(members or {}), []
    with connected(adapter):
        yield adapter


async def entry_of(member_name: str, item: str) -> Entry:
    async with db.reading() as s:
        return (
            await s.execute(
                select(Entry)
                .join(Member, Member.id == Entry.member_id)
                .where(
                    Member.name == member_name, Entry.item_key == item, Entry.revoked_at.is_(None)
                )
                .order_by(Entry.id.desc())
                .limit(1)
            )
        ).scalar_one()


async def test_log_a_deduction_for_several_people_with_a_note(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    page = await boss.get(f"/kpi/team/{a}/log")
    assert page.status_code == 200
    assert 'value="30001"' in page.text  # 张三 can be chosen
    t = await token(boss, f"/kpi/team/{a}/log")
    before = await count(Entry)
    r = await boss.post(
        f"/kpi/team/{a}/log",
        data={
            "csrf": t,
            "who": [str(ZHANG), str(LI)],
            "item": "late",
            "count": "2",
            "note": "晨会迟到",
        },
    )
    assert r.status_code == 200, r.text
    assert "张三 人事考核·迟到 ×2 −2" in r.text
    assert "李四 人事考核·迟到 ×2 −2" in r.text
    assert await count(Entry) == before + 2
    assert (await entry_of("张三", "late")).note == "晨会迟到"
    audit = plain(await said(app, "/审计", BOSS))
    assert "（网页）" in audit


async def test_a_fine_logged_on_the_web_is_the_fine_typed_and_the_note_stays_a_note(app: App):
    """The form's count (1 by default) is no fine, and nothing in the note — a number, a
    colleague's name — is read as a count or as a person to mark."""
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss, f"/kpi/team/{a}/log")
    before = await count(Entry)
    data = {
        "csrf": t,
        "who": [str(LI)],
        "item": "severe_complaint",
        "count": "1",
        "fine": "200",
        "note": "3 次辱骂客户 张三 在场",
    }
    r = await boss.post(f"/kpi/team/{a}/log", data=data)
    assert r.status_code == 200, r.text
    assert await count(Entry) == before + 1
    entry = await entry_of("李四", "severe_complaint")
    assert (entry.fine_cents, entry.quantity, entry.note) == (20000, 1, "3 次辱骂客户 张三 在场")
    bad = data | {"item": "late", "count": "几次", "fine": ""}
    r = await boss.post(f"/kpi/team/{a}/log", data=bad)
    assert r.status_code == 400, r.text
    assert "看不懂“几次”" in r.text
    assert await count(Entry) == before + 1
    # a count in Chinese numerals is read as chat reads it (SPEC §3 "What people type")
    r = await boss.post(f"/kpi/team/{a}/log", data=bad | {"count": "两次", "csrf": t})
    assert r.status_code == 200, r.text
    assert (await entry_of("李四", "late")).quantity == 2


async def test_log_refusals_come_with_the_chat_text(app: App):
    await team_a(app)
    a, b = (await ids())["客服一组"], (await ids())["客服二组"]
    boss, agent = await login(app, BOSS), await login(app, ZHANG)
    t, ta = await token(boss), await token(agent)
    data = {"who": [str(LI)], "item": "late"}
    path = f"/kpi/team/{a}/log"
    before = await count(Entry)
    assert (await boss.post(path, data=data)).status_code == 403  # no token
    assert (await boss.post(path, data=data | {"csrf": t}, headers=EVIL)).status_code == 403
    assert (await agent.post(path, data=data | {"csrf": ta})).status_code == 403
    assert (await boss.post(f"/kpi/team/{b}/log", data=data | {"csrf": t})).status_code == 403
    bad = await boss.post(path, data=data | {"csrf": t, "count": "500"})
    assert bad.status_code == 400
    assert "❌ 次数必须是 1–100 的整数，收到 500" in bad.text
    nobody = await boss.post(path, data={"item": "late", "csrf": t})
    assert nobody.status_code == 400
    assert "❌ 请勾选要登记迟到的人" in nobody.text  # a form has nobody to @
    assert await count(Entry) == before


async def test_a_settled_month_refuses_a_mark_and_a_revoke_with_409(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    await settle(app, "2026-11")
    root = await login(app, SUPER)
    t = await token(root)
    r = await root.post(
        f"/kpi/team/{a}/log", data={"csrf": t, "who": [str(LI)], "item": "late", "month": "2026-11"}
    )
    assert r.status_code == 409
    assert "❌ 2026-11 已结算，不能再修改" in r.text
    e = await entry_of("李四", "late")
    r = await root.post(f"/kpi/team/{a}/entries/{e.id}/revoke", data={"csrf": t, "reason": "录错"})
    assert r.status_code == 409
    assert (await entry_of("李四", "late")).id == e.id  # still there


async def test_a_web_revoke_shows_in_chat_with_its_reason_and_who(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss)
    e = await entry_of("李四", "late")
    agent = await login(app, ZHANG)
    refused = await agent.post(
        f"/kpi/team/{a}/entries/{e.id}/revoke", data={"csrf": await token(agent)}
    )
    assert refused.status_code == 403
    r = await boss.post(
        f"/kpi/team/{a}/entries/{e.id}/revoke", data={"csrf": t, "reason": "打卡机故障"}
    )
    assert r.status_code == 200, r.text
    assert f"✅ 已撤销 #{e.id} 李四（原因：打卡机故障）" in r.text
    again = await boss.post(f"/kpi/team/{a}/entries/{e.id}/revoke", data={"csrf": t})
    assert again.status_code == 409
    detail = plain(await said(app, ["/明细 ", at(LI)], BOSS))
    assert "打卡机故障" in detail
    async with db.reading() as s:
        revoked = await s.get(Entry, e.id)
    assert revoked.revoked_by == f"qq:{BOSS}"
    audit = plain(await said(app, "/审计", BOSS))
    (line,) = [x for x in audit.splitlines() if "撤销了" in x]
    assert "原因：打卡机故障" in line
    assert "（网页）" in line


async def test_appeals_are_filed_by_their_agent_and_decided_on_the_web(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    complaint = await entry_of("张三", "complaint")
    late = await entry_of("李四", "late")
    zhang, li = await login(app, ZHANG), await login(app, LI)
    tz, tl = await token(zhang), await token(li)
    other = await li.post(
        f"/kpi/team/{a}/entries/{complaint.id}/appeal", data={"csrf": tl, "reason": "不是我"}
    )
    assert other.status_code == 403
    assert "不是你的记录" in other.text
    mine = await zhang.post(
        f"/kpi/team/{a}/entries/{complaint.id}/appeal", data={"csrf": tz, "reason": "客户打错人了"}
    )
    assert mine.status_code == 200, mine.text
    await li.post(f"/kpi/team/{a}/entries/{late.id}/appeal", data={"csrf": tl, "reason": "堵车"})
    boss = await login(app, BOSS)
    t = await token(boss)
    page = await boss.get(f"/kpi/team/{a}/appeals")
    assert f'id="accept-{complaint.id}"' in page.text
    ok = await boss.post(
        f"/kpi/team/{a}/appeals/{late.id}/reject", data={"csrf": t, "reason": "迟到有打卡记录"}
    )
    assert ok.status_code == 200
    assert f"✅ 已驳回 #{late.id} 的申诉（迟到有打卡记录）" in ok.text
    accepted = await boss.post(
        f"/kpi/team/{a}/entries/{complaint.id}/revoke", data={"csrf": t, "reason": "核实属实"}
    )
    assert "申诉已受理" in accepted.text
    async with db.reading() as s:
        states = dict((await s.execute(select(Appeal.entry_id, Appeal.status))).all())
    assert states == {complaint.id: "accepted", late.id: "rejected"}
    twice = await boss.post(f"/kpi/team/{a}/appeals/{late.id}/reject", data={"csrf": t})
    assert twice.status_code == 409
    assert f"#{late.id} 没有待处理的申诉" in twice.text


async def test_roster_join_rename_leave_and_roles(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss)
    page = await boss.get(f"/kpi/team/{a}/roster")
    assert "李四" in page.text
    async with group_bot({(GROUP, 30077): "小赵"}):
        joined = await boss.post(
            f"/kpi/team/{a}/roster/join", data={"csrf": t, "user_id": "30077", "name": "赵新"}
        )
    assert joined.status_code == 200, joined.text
    assert "赵新" in joined.text
    zhao = (await ids())["赵新"]
    renamed = await boss.post(
        f"/kpi/team/{a}/roster/{zhao}/rename", data={"csrf": t, "name": "赵小新"}
    )
    assert renamed.status_code == 200, renamed.text
    assert "赵小新" in (await boss.get(f"/kpi/team/{a}/roster")).text
    left = await boss.post(f"/kpi/team/{a}/roster/{zhao}/leave", data={"csrf": t, "confirm": "yes"})
    assert left.status_code == 200
    assert "赵小新 已离职" in left.text
    assert (
        await boss.post(f"/kpi/team/{a}/roster/{zhao}/leave", data={"csrf": t, "confirm": "yes"})
    ).status_code == 409
    li = (await ids())["李四"]
    role = await boss.post(
        f"/kpi/team/{a}/roster/{li}/role", data={"csrf": t, "role": "supervisor"}
    )
    assert role.status_code == 403  # only a superuser or the group's owner
    assert "只有群主或超级管理员" in role.text
    root = await login(app, SUPER)
    made = await root.post(
        f"/kpi/team/{a}/roster/{li}/role", data={"csrf": await token(root), "role": "supervisor"}
    )
    assert made.status_code == 200
    async with db.reading() as s:
        assert (await s.get(Member, li)).role == "supervisor"


async def test_the_desk_marks_and_lets_go_a_member_of_another_platform_not_a_new_one(app: App):
    """A team that moved part of its groups to WeCom: the QQ boss's form names its WeCom
    agent by their user id, and the mark lands on that member (no QQ member is made up
    with a WeCom userid); leaving works the same."""
    from datetime import date

    from models.tables import Tenure

    await team_a(app)
    a = (await ids())["客服一组"]
    async with db.writing() as s:
        wx = Member(
            team_id=a,
            platform="wecom",
            user_id="xiaowang",
            name="小王",
            joined_on=date(2026, 11, 1),
        )
        s.add(wx)
        await s.flush()
        s.add(Tenure(member_id=wx.id, start=date(2026, 11, 1)))
        wx_id = wx.id
    boss = await login(app, BOSS)
    page = await boss.get(f"/kpi/team/{a}/log")
    assert 'value="xiaowang"' in page.text
    t = await token(boss, f"/kpi/team/{a}/log")
    members = await count(Member)
    r = await boss.post(
        f"/kpi/team/{a}/log", data={"csrf": t, "who": ["xiaowang"], "item": "late", "note": "晨会"}
    )
    assert r.status_code == 200, r.text
    assert "小王 人事考核·迟到" in r.text
    assert await count(Member) == members
    assert (await entry_of("小王", "late")).member_id == wx_id
    left = await boss.post(
        f"/kpi/team/{a}/roster/{wx_id}/leave", data={"csrf": t, "confirm": "yes"}
    )
    assert left.status_code == 200, left.text
    assert "小王 已离职" in left.text


async def test_the_reminder_is_set_on_the_settings_page(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss)
    bad = await boss.post(f"/kpi/team/{a}/settings/reminder", data={"csrf": t, "value": "25:99"})
    assert bad.status_code == 400
    ok = await boss.post(f"/kpi/team/{a}/settings/reminder", data={"csrf": t, "value": "17:30"})
    assert "✅ 每天 17:30 提醒" in ok.text
    assert "每天 17:30" in (await boss.get(f"/kpi/team/{a}/settings")).text


# ---- the month ------------------------------------------------------------------------------


async def test_settle_asks_first_then_settles_and_reopen_is_a_superusers(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    set_clock(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI))
    boss = await login(app, BOSS)
    t = await token(boss)
    page = await boss.get(f"/kpi/team/{a}", params={"month": "2026-11"})
    assert 'id="settle"' in page.text
    asked = await boss.post(f"/kpi/team/{a}/month/settle", data={"csrf": t, "month": "2026-11"})
    assert asked.status_code == 200
    assert "结算后这个月不能再修改" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert await count(Settlement) == 0  # the first step changes nothing
    no_token = await boss.post(
        f"/kpi/team/{a}/month/settle", data={"month": "2026-11", "confirm": "yes"}
    )
    assert no_token.status_code == 403
    not_over = await boss.post(
        f"/kpi/team/{a}/month/settle", data={"csrf": t, "month": "2026-12", "confirm": "yes"}
    )
    assert not_over.status_code == 400
    assert "❌ 2026-12 还没结束，不能结算" in not_over.text
    done = await boss.post(
        f"/kpi/team/{a}/month/settle", data={"csrf": t, "month": "2026-11", "confirm": "yes"}
    )
    assert done.status_code == 200, done.text
    assert "✅ 2026-11 已结算，2 人" in done.text
    again = await boss.post(
        f"/kpi/team/{a}/month/settle", data={"csrf": t, "month": "2026-11", "confirm": "yes"}
    )
    assert again.status_code == 409
    assert "已结算过" in again.text
    assert "已结算" in (await boss.get(f"/kpi/team/{a}", params={"month": "2026-11"})).text
    reopen = {"csrf": t, "month": "2026-11", "confirm": "yes"}
    assert (await boss.post(f"/kpi/team/{a}/month/reopen", data=reopen)).status_code == 403
    root = await login(app, SUPER)
    tr = await token(root)
    ok = await root.post(
        f"/kpi/team/{a}/month/reopen", data={"csrf": tr, "month": "2026-11", "confirm": "yes"}
    )
    assert ok.status_code == 200
    assert "✅ 2026-11 已重开" in ok.text
    nothing = await root.post(
        f"/kpi/team/{a}/month/resend", data={"csrf": tr, "month": "2026-11", "confirm": "yes"}
    )
    assert nothing.status_code == 400
    assert "没有 2026-11 需要重发的月报" in nothing.text


async def test_settle_reopen_and_resend_on_the_web_are_audited_as_web_with_the_name(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    set_clock(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI))
    boss = await login(app, BOSS)
    month = {"csrf": await token(boss), "month": "2026-11", "confirm": "yes"}
    assert (await boss.post(f"/kpi/team/{a}/month/settle", data=month)).status_code == 200
    root = await login(app, SUPER)
    month["csrf"] = await token(root)
    assert (await root.post(f"/kpi/team/{a}/month/reopen", data=month)).status_code == 200
    async with db.writing() as s:  # a post that may not have reached the group
        post = (await s.execute(select(Post).where(Post.team_id == a).limit(1))).scalar_one()
        post.status = "unknown"
    resent = await root.post(f"/kpi/team/{a}/month/resend", data=month)
    assert resent.status_code == 200, resent.text
    async with db.reading() as s:
        rows = (
            await s.execute(
                select(AuditLog.action, AuditLog.actor, AuditLog.channel).where(
                    AuditLog.action.in_(("settle", "reopen", "post.resend"))
                )
            )
        ).all()
    assert sorted(rows) == [
        ("post.resend", f"qq:{SUPER}", "网页"),
        ("reopen", f"qq:{SUPER}", "网页"),
        ("settle", f"qq:{BOSS}", "网页"),
    ]
    audit = plain(await said(app, "/审计", BOSS, card="王主管")).splitlines()
    assert any(x.endswith(" 王主管 结算了 2026-11（第 1 版，2 人）（网页）") for x in audit), audit
    assert any(x.endswith("重开了 2026-11（网页）") for x in audit), audit
    assert any(x.endswith("重发了月报（网页）") for x in audit), audit


async def test_settle_in_chat_is_still_audited_as_chat(app: App):
    await team_a(app)
    await settle(app, "2026-11")
    async with db.reading() as s:
        (channel,) = (
            await s.execute(select(AuditLog.channel).where(AuditLog.action == "settle"))
        ).one()
    assert channel == "群聊"


async def test_a_refused_appeal_leaves_the_writer_ready_for_the_next_write(app: App):
    """A refusal raised while a query's cursor was still open kept SQLite's writer connection
    on its old snapshot: after another connection wrote, the next write failed at once with
    "database is locked" (the web's reject after an agent's refused appeal and a login)."""
    from bot import door
    from bot.runtime import policy
    from models.ledger import Refused
    from models.usecases.appeals import AppealRequest, file
    from models.usecases.base import Actor

    await team_a(app)
    a = (await ids())["客服一组"]
    complaint = await entry_of("张三", "complaint")
    p = policy()
    li = Actor("qq", str(LI), "李四")
    req = AppealRequest(a, li, complaint.id, "不是我")
    try:
        await door.write(a, lambda s: file(s, req, p))
    except Refused as e:
        kept = e  # the refusal (and its frames) outlive the transaction, as in the web's page
    assert "不是你的记录" in str(kept)
    async with db.writing() as s:  # another connection writes (the web's login does)
        (await s.get(Member, complaint.member_id)).name = "张三丰"
    assert await door.write(a, lambda s: s.get(Entry, complaint.id).id) == complaint.id


async def test_the_web_joins_only_someone_the_groups_bot_says_is_in_the_group(app: App):
    """SPEC §2: as chat's `/入职 99999998 钱八`, a QQ number no bot account of the team's
    groups knows is refused and nothing is written; one it knows joins with the name given."""
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss)
    page = await boss.get(f"/kpi/team/{a}/roster")
    assert "QQ 号" in page.text
    members, audits = await count(Member), await count(AuditLog)
    path = f"/kpi/team/{a}/roster/join"
    async with group_bot({(GROUP, 30088): "钱八的群名片"}) as platform:
        outsider = await boss.post(path, data={"csrf": t, "user_id": "99999999", "name": "钱九"})
        assert outsider.status_code == 400, outsider.text
        assert "❌ QQ 99999999 不在本群，不能入职。本次没有记录任何内容" in outsider.text
        assert (await count(Member), await count(AuditLog)) == (members, audits)
        inside = await boss.post(path, data={"csrf": t, "user_id": "30088", "name": "钱八"})
    assert inside.status_code == 200, inside.text
    assert "✅ 钱八 已入职" in inside.text
    assert not platform.sent
    assert await count(Member) == members + 1
    # no bot account online: nobody can say they are in the group, so nobody joins
    nobody = await boss.post(path, data={"csrf": t, "user_id": "30089", "name": "孙九"})
    assert nobody.status_code == 400
    assert "不在本群" in nobody.text
    assert await count(Member) == members + 1


async def wecom_team() -> tuple[int, httpx.AsyncClient]:
    """A team bound to a WeCom group only, its supervisor logged in to the dashboard."""
    from datetime import date

    from bot import door
    from bot.runtime import policy
    from models.tables import GroupBinding, Team, Tenure
    from models.usecases.base import Actor
    from models.usecases.weblink import LinkRequest, dashboard_link
    from tests.test_dashboard import client

    async with db.writing() as s:
        team = Team(name="企微组", created_at=datetime(2026, 11, 1))
        s.add(team)
        await s.flush()
        s.add(
            GroupBinding(
                platform="wecom",
                group_id="wrkGROUP",
                team_id=team.id,
                adapter="WeCom",
                bound_at=datetime(2026, 11, 1),
                bound_by="wecom:wangzg",
            )
        )
        for uid, name, role in (("wangzg", "王主管", "supervisor"), ("zhaoliu", "赵六", "agent")):
            m = Member(
                team_id=team.id,
                platform="wecom",
                user_id=uid,
                name=name,
                role=role,
                joined_on=date(2026, 11, 1),
            )
            s.add(m)
            await s.flush()
            s.add(Tenure(member_id=m.id, start=date(2026, 11, 1)))
        team_id = team.id
    actor = Actor("wecom", "wangzg", "王主管")
    link = await door.write(
        team_id,
        lambda s: dashboard_link(s, LinkRequest(actor, "WeCom", team_id, None), policy()),
    )
    c = client()
    assert (await c.post(f"/kpi/login/{link.token}")).status_code == 303
    return team_id, c


async def test_a_wecom_teams_join_form_asks_for_the_userid_and_confirms_nobody_new(app: App):
    """WeCom: the field is the userid (not a QQ number); a userid on the roster comes back
    with the name given, and one the platform cannot confirm (WeCom has no member lookup)
    is refused with what to do, writing nothing — a number is no QQ number there."""
    team_id, boss = await wecom_team()
    page = await boss.get(f"/kpi/team/{team_id}/roster")
    assert "企业微信账号（userid）" in page.text
    assert "QQ 号" not in page.text
    t = await token(boss, f"/kpi/team/{team_id}/roster")
    path = f"/kpi/team/{team_id}/roster/join"
    members = await count(Member)
    for uid in ("12345", "sunqi"):
        r = await boss.post(path, data={"csrf": t, "user_id": uid, "name": "孙七"})
        assert r.status_code == 400, r.text
        assert f"❌ 企业微信账号（userid） {uid} 不在成员名单上" in r.text
        assert "在群里报一次" in r.text
    assert await count(Member) == members
    known = await boss.post(path, data={"csrf": t, "user_id": "zhaoliu", "name": "赵小六"})
    assert known.status_code == 200, known.text
    assert "✅ 赵小六 已改名" in known.text
    bad = await boss.post(path, data={"csrf": t, "user_id": "赵 六", "name": "赵六"})
    assert bad.status_code == 400
    assert "请写要入职的人的企业微信账号（userid）" in bad.text


async def test_a_field_the_item_does_not_take_is_refused_not_ignored(app: App):
    """A fine typed for an item with no fine, or a count for a fine item (one entry each
    time), is refused with ❌ and nothing is logged — never a ✅ that dropped it."""
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss, f"/kpi/team/{a}/log")
    before = await count(Entry)
    path = f"/kpi/team/{a}/log"
    late = await boss.post(
        path, data={"csrf": t, "who": [str(LI)], "item": "late", "count": "1", "fine": "200"}
    )
    assert late.status_code == 400, late.text
    assert "❌ 迟到不带罚款，没有登记（收到 罚款200）。要罚款请用严重投诉" in late.text
    twice = {"csrf": t, "who": [str(LI)], "item": "severe_complaint", "count": "2", "fine": "200"}
    r = await boss.post(path, data=twice)
    assert r.status_code == 400, r.text
    assert "❌ 严重投诉一次登记一条（另填罚款），次数只能是 1，收到 2" in r.text
    assert await count(Entry) == before
    once = await boss.post(path, data=twice | {"count": "1"})
    assert once.status_code == 200, once.text
    assert await count(Entry) == before + 1


async def test_long_notes_and_reasons_are_refused_with_the_chats_limits_never_cut(app: App):
    """备注 takes 500 characters as in chat (`/扣分 … 备注`); 501 is refused, as is a reason
    longer than chat's (撤销 200, 申诉 and 驳回 300); nothing is stored cut short."""
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss, f"/kpi/team/{a}/log")
    assert 'maxlength="500" id="log-note"' in (await boss.get(f"/kpi/team/{a}/log")).text
    path = f"/kpi/team/{a}/log"
    before = await count(Entry)
    ok = await boss.post(
        path, data={"csrf": t, "who": [str(LI)], "item": "late", "note": "晚" * 300}
    )
    assert ok.status_code == 200, ok.text
    assert (await entry_of("李四", "late")).note == "晚" * 300
    long = await boss.post(
        path, data={"csrf": t, "who": [str(LI)], "item": "late", "note": "晚" * 501}
    )
    assert long.status_code == 400, long.text
    assert "❌ 备注最多 500 个字，收到 501 个字，请写短一些" in long.text
    assert await count(Entry) == before + 1
    e = await entry_of("李四", "late")
    r = await boss.post(
        f"/kpi/team/{a}/entries/{e.id}/revoke", data={"csrf": t, "reason": "错" * 201}
    )
    assert r.status_code == 400
    assert "❌ 原因最多 200 个字，收到 201 个字" in r.text
    async with db.reading() as s:
        assert (await s.get(Entry, e.id)).revoked_at is None
    agent = await login(app, LI)
    ta = await token(agent)
    r = await agent.post(
        f"/kpi/team/{a}/entries/{e.id}/appeal", data={"csrf": ta, "reason": "冤" * 301}
    )
    assert r.status_code == 400
    assert "❌ 申诉理由最多 300 个字，收到 301 个字" in r.text
    assert await count(Appeal) == 0


async def test_appeals_on_the_web_are_told_in_the_group_as_chat_tells_them(app: App):
    """SPEC §4: an appeal filed on the dashboard asks the supervisors in the group by @, as
    `/申诉` does; the boss's 驳回 and 受理（撤销） on the 申诉 page tell the agent by @."""
    await team_a(app)
    a = (await ids())["客服一组"]
    complaint = await entry_of("张三", "complaint")
    late = await entry_of("李四", "late")
    zhang, li, boss = await login(app, ZHANG), await login(app, LI), await login(app, BOSS)
    tz, tl, t = await token(zhang), await token(li), await token(boss)
    async with group_bot() as platform:
        filed = await zhang.post(
            f"/kpi/team/{a}/entries/{complaint.id}/appeal", data={"csrf": tz, "reason": "打错人"}
        )
        assert filed.status_code == 200, filed.text
        assert len(platform.sent) == 1
        group, text = platform.sent[0]
        assert group == GROUP
        assert text.startswith("📮 张三（网页）\n✅ 已提交对 #")
        assert f"请主管处理：[CQ:at,qq={BOSS}]" in text
        assert f"同意：/撤销 #{complaint.id}" in text
        await li.post(
            f"/kpi/team/{a}/entries/{late.id}/appeal", data={"csrf": tl, "reason": "堵车"}
        )
        platform.sent.clear()
        await boss.post(
            f"/kpi/team/{a}/appeals/{late.id}/reject", data={"csrf": t, "reason": "有打卡记录"}
        )
        await boss.post(
            f"/kpi/team/{a}/entries/{complaint.id}/revoke", data={"csrf": t, "reason": "属实"}
        )
        plain_revoke = await entry_of("李四", "late")  # no appeal on it any more: no notice
        await boss.post(f"/kpi/team/{a}/entries/{plain_revoke.id}/revoke", data={"csrf": t})
    texts = [text for _, text in platform.sent]
    assert len(texts) == 2, texts
    assert f"[CQ:at,qq={LI}] 你对 #{late.id} 的申诉已被驳回，扣分保留" in texts[0]
    assert texts[0].startswith("📮 王主管（网页）\n✅ 已驳回")
    assert f"[CQ:at,qq={ZHANG}] 你对 #{complaint.id} 的申诉已受理，扣分已撤销" in texts[1]


async def test_a_rename_is_audited_in_chat_and_on_the_web_with_both_names(app: App):
    """`/入职 @某人 新名` and the dashboard's 改名 each write an audit row: /审计 and the
    操作日志 page say who renamed whom from what to what, and where."""
    await team_a(app)
    a = (await ids())["客服一组"]
    reply = plain(await said(app, ["/入职 ", at(ZHANG), " 张小三"], OWNER, role="owner"))
    assert reply == "✅ 张小三 已在团队中，姓名已更新", reply
    boss = await login(app, BOSS)
    t = await token(boss)
    li = (await ids())["李四"]
    r = await boss.post(f"/kpi/team/{a}/roster/{li}/rename", data={"csrf": t, "name": "李小四"})
    assert r.status_code == 200, r.text
    audit = plain(await said(app, "/审计", BOSS))
    assert "把 张三 改名为 张小三" in audit, audit
    assert "把 李四 改名为 李小四（网页）" in audit, audit
    page = await boss.get(f"/kpi/team/{a}/audit")
    assert "把 李四 改名为 李小四（网页）" in page.text
    assert await count(AuditLog, AuditLog.action == "rename") == 2


async def test_a_rename_to_a_name_another_member_has_is_refused_in_chat_and_on_the_web(app: App):
    """Two current members never share a name (on WeCom neither could be named in chat):
    the rename is refused naming the clash, and nothing changes."""
    await team_a(app)
    a = (await ids())["客服一组"]
    audits = await count(AuditLog)
    reply = plain(await said(app, ["/入职 ", at(ZHANG), " 李四"], OWNER, role="owner"))
    assert reply.startswith("❌ 团队里已有一位 李四（QQ 30002），不能把 张三 也改成 李四"), reply
    boss = await login(app, BOSS)
    t = await token(boss)
    zhang = (await ids())["张三"]
    r = await boss.post(f"/kpi/team/{a}/roster/{zhang}/rename", data={"csrf": t, "name": "李四"})
    assert r.status_code == 400, r.text
    assert "❌ 团队里已有一位 李四（QQ 30002）" in r.text
    async with db.reading() as s:
        assert (await s.get(Member, zhang)).name == "张三"
    assert await count(AuditLog) == audits
    # the name of someone who has left is free again
    li = (await ids())["李四"]
    assert (
        await boss.post(f"/kpi/team/{a}/roster/{li}/leave", data={"csrf": t, "confirm": "yes"})
    ).status_code == 200
    r = await boss.post(f"/kpi/team/{a}/roster/{zhang}/rename", data={"csrf": t, "name": "李四"})
    assert r.status_code == 200, r.text


async def test_leave_on_the_web_asks_first_and_never_takes_the_viewers_own_row(app: App):
    """One tap on 离职 shows what will happen and a 确认离职 button; nothing changes until
    it is pressed. A supervisor's own row is refused (they would lock themselves out)."""
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss)
    li, me = (await ids())["李四"], (await ids())["王主管"]
    asked = await boss.post(f"/kpi/team/{a}/roster/{li}/leave", data={"csrf": t})
    assert asked.status_code == 200, asked.text
    assert "确认离职" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    async with db.reading() as s:
        assert (await s.get(Member, li)).left_on is None
    own = await boss.post(f"/kpi/team/{a}/roster/{me}/leave", data={"csrf": t, "confirm": "yes"})
    assert own.status_code == 403, own.text
    assert "❌ 不能在网页上给自己办离职，请让其他主管处理" in own.text
    async with db.reading() as s:
        assert (await s.get(Member, me)).left_on is None
    done = await boss.post(f"/kpi/team/{a}/roster/{li}/leave", data={"csrf": t, "confirm": "yes"})
    assert "✅ 李四 已离职" in done.text
