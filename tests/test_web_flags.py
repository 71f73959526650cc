"""The dashboard's 待核实 list (issue 25 item 3, SPEC §5a): the month's evidence flags on the
team page with the agent, the item, the link, why and when it was checked; one-tap 保留 and
撤销 (a reason prefilled) through the chat's use cases (`/保留`, `/撤销`), audited as 网页;
each refusal with the chat's ❌ text (agent, another team's supervisor, no CSRF token, a
foreign Origin, a settled month); an agent sees only their own flags; `/月报` agrees."""

from __future__ import annotations

from html import unescape

from nonebug import App
from sqlalchemy import select

from bot import db, door
from models.linkcheck import CheckResult, record_checks
from models.periods import utcnow
from models.tables import AuditLog, Entry, EvidenceFlag, Member
from tests.test_dashboard import (  # noqa: F401  (frozen_clock: the suite's November)
    BOSS,
    LI,
    ZHANG,
    frozen_clock,
    ids,
    login,
    team_a,
)
from tests.test_rubric_web_store import settle
from tests.test_web_desk import EVIL, token
from tests.utils import SUPER, plain, said

GONE = "微信显示「该内容已被发布者删除」"
ARTICLE = "0f0f0f0f0f0f0f0f"


async def links_of(name: str) -> list[Entry]:
    async with db.reading() as s:
        q = (
            select(Entry)
            .join(Member, Member.id == Entry.member_id)
            .where(Member.name == name, Entry.link.is_not(None))
            .order_by(Entry.id)
        )
        return list((await s.execute(q)).scalars())


async def flagged_month(app: App) -> tuple[int, Entry, Entry, Entry]:
    """客服一组's November with three flags: 张三's first link and 李四's first removed, and
    李四's second link (the last entry returned) the same article as 张三's second."""
    await team_a(app)
    a = (await ids())["客服一组"]
    zhang, li = await links_of("张三"), await links_of("李四")
    now = utcnow()

    def check(e: Entry, verdict: str, reason: str, fingerprint: str | None = None):
        return CheckResult(
            e.id, "recheck", e.link, verdict, reason, now, e.link, 200, "文章", fingerprint
        )

    results = [
        check(zhang[0], "removed", GONE),
        check(li[0], "removed", "HTTP 404"),
        check(zhang[1], "alive", "HTTP 200", ARTICLE),
        check(li[1], "alive", "HTTP 200", ARTICLE),
    ]
    assert len(await door.write(a, lambda s: record_checks(s, results))) == 3
    return a, zhang[0], li[0], li[1]


async def open_flags() -> set[int]:
    async with db.reading() as s:
        q = select(EvidenceFlag.entry_id).where(EvidenceFlag.decision.is_(None))
        return set((await s.execute(q)).scalars())


async def revoked(entry_id: int) -> bool:
    async with db.reading() as s:
        return (await s.get(Entry, entry_id)).revoked_at is not None


async def test_the_team_page_lists_the_months_flags_with_why_and_the_two_buttons(app: App):
    a, gone, missing, copy = await flagged_month(app)
    boss = await login(app, BOSS)
    page = await boss.get(f"/kpi/team/{a}")
    assert page.status_code == 200
    html = unescape(page.text)
    assert "待核实（3 条）" in html
    assert f"#{gone.id} 张三" in html
    assert f"链接已删除（{GONE}）" in html
    assert f"#{missing.id} 李四" in html
    assert "链接已删除（HTTP 404）" in html
    (earlier,) = [e.id for e in await links_of("张三")][1:2]
    assert f"#{copy.id} 李四" in html
    assert f"重复文章（与 #{earlier} 张三 同一篇）" in html
    assert gone.link in html
    assert "核查于 11-20 10:00" in html
    assert f'id="keep-{gone.id}"' in html
    assert f'id="flag-revoke-{gone.id}"' in html
    assert 'name="reason" value="链接已删除"' in html  # prefilled, editable
    assert f'name="reason" value="重复文章（与 #{earlier} 相同）"' in html


async def test_keep_and_revoke_on_the_page_are_the_chat_commands_and_chat_agrees(app: App):
    a, gone, missing, _copy = await flagged_month(app)
    boss = await login(app, BOSS)
    t = await token(boss, f"/kpi/team/{a}")
    kept = await boss.post(
        f"/kpi/team/{a}/flags/{gone.id}/keep",
        data={"csrf": t, "back": f"/kpi/team/{a}?month=2026-11"},
    )
    assert kept.status_code == 200, kept.text
    assert f"✅ 已保留 #{gone.id} 张三（链接已删除），照常计分" in kept.text
    assert f'href="/kpi/team/{a}?month=2026-11"' in kept.text  # back to the list
    gone_revoke = await boss.post(
        f"/kpi/team/{a}/entries/{missing.id}/revoke",
        data={"csrf": t, "reason": "链接已删除，已和本人确认", "back": f"/kpi/team/{a}"},
    )
    assert gone_revoke.status_code == 200, gone_revoke.text
    assert f"✅ 已撤销 #{missing.id} 李四（原因：链接已删除，已和本人确认）" in gone_revoke.text
    assert not await revoked(gone.id)
    assert await revoked(missing.id)

    page = unescape((await boss.get(f"/kpi/team/{a}")).text)
    assert "待核实（1 条）" in page
    assert f'id="flag-{gone.id}"' not in page
    assert f'id="flag-{missing.id}"' not in page

    again = await boss.post(f"/kpi/team/{a}/flags/{gone.id}/keep", data={"csrf": t})
    assert again.status_code == 409
    assert f"❌ #{gone.id} 没有待核实的标记" in again.text
    twice = await boss.post(f"/kpi/team/{a}/flags/{missing.id}/keep", data={"csrf": t})
    assert twice.status_code == 409
    assert f"❌ #{missing.id} 已被撤销，无需保留" in twice.text

    async with db.reading() as s:
        rows = (
            await s.execute(
                select(AuditLog.action, AuditLog.actor, AuditLog.channel).where(
                    AuditLog.action.in_(("flag.keep", "entry.revoke"))
                )
            )
        ).all()
    assert sorted(rows) == [
        ("entry.revoke", f"qq:{BOSS}", "网页"),
        ("flag.keep", f"qq:{BOSS}", "网页"),
    ]
    audit = plain(await said(app, "/审计", BOSS, card="王主管"))
    assert f"王主管 核实后保留了 张三的推广绩效·自建渠道软文（#{gone.id}）（网页）" in audit, audit
    monthly = plain(await said(app, "/月报", BOSS, card="王主管"))
    assert "🔎 核查 4 条链接，已删除 2 条，撤销 1 条" in monthly
    assert "待核实 1 条：" in monthly
    assert f"#{gone.id} " not in monthly
    assert f"#{missing.id} " not in monthly


async def test_an_agent_sees_only_their_own_flags_and_decides_nothing(app: App):
    a, gone, missing, copy = await flagged_month(app)
    zhang, li = await login(app, ZHANG), await login(app, LI)
    mine = unescape((await zhang.get(f"/kpi/team/{a}")).text)
    assert f'id="flag-{gone.id}"' in mine
    assert f'id="flag-{missing.id}"' not in mine
    assert f'id="flag-{copy.id}"' not in mine
    assert "待核实（1 条）" in mine
    assert "keep-" not in mine
    assert "flag-revoke-" not in mine
    assert f"/申诉 #{gone.id}" in mine
    lis = unescape((await li.get(f"/kpi/team/{a}")).text)
    assert "待核实（2 条）" in lis
    t = await token(zhang)
    before = await open_flags()
    keep = await zhang.post(f"/kpi/team/{a}/flags/{gone.id}/keep", data={"csrf": t})
    assert keep.status_code == 403
    revoke = await zhang.post(
        f"/kpi/team/{a}/entries/{missing.id}/revoke", data={"csrf": t, "reason": "链接已删除"}
    )
    assert revoke.status_code == 403
    assert await open_flags() == before
    assert not await revoked(missing.id)
    # the agent answers the flag on the page, as /申诉 does in chat
    appeal = await zhang.post(
        f"/kpi/team/{a}/entries/{gone.id}/appeal", data={"csrf": t, "reason": "文章搬到新地址了"}
    )
    assert appeal.status_code == 200, appeal.text
    boss = unescape((await (await login(app, BOSS)).get(f"/kpi/team/{a}")).text)
    assert "申诉：文章搬到新地址了" in boss
    async with db.reading() as s:
        row = (
            await s.execute(select(AuditLog).where(AuditLog.action == "flag.appeal"))
        ).scalar_one()
    assert row.channel == "网页"  # the audit says where the agent answered


async def test_refused_without_the_token_from_elsewhere_or_for_another_teams_supervisor(
    app: App,
):
    a, gone, missing, _copy = await flagged_month(app)
    b = (await ids())["客服二组"]
    boss = await login(app, BOSS)
    t = await token(boss)
    before = await open_flags()
    keep, revoke = (
        f"/kpi/team/{a}/flags/{gone.id}/keep",
        f"/kpi/team/{a}/entries/{missing.id}/revoke",
    )
    assert (await boss.post(keep, data={})).status_code == 403
    assert (await boss.post(revoke, data={"reason": "x"})).status_code == 403
    assert (await boss.post(keep, data={"csrf": t}, headers=EVIL)).status_code == 403
    assert (await boss.post(revoke, data={"csrf": t}, headers=EVIL)).status_code == 403
    # 客服二组's page and actions are not BOSS's: another team's supervisor is refused
    assert (await boss.get(f"/kpi/team/{b}")).status_code == 403
    assert (
        await boss.post(f"/kpi/team/{b}/flags/{gone.id}/keep", data={"csrf": t})
    ).status_code == 403
    root = await login(app, SUPER)
    other = await root.post(f"/kpi/team/{b}/flags/{gone.id}/keep", data={"csrf": await token(root)})
    assert other.status_code == 400
    assert f"❌ 本团队没有 #{gone.id}" in other.text
    assert await open_flags() == before
    assert not await revoked(missing.id)


async def test_a_settled_month_keeps_its_flags_read_only_and_refuses_with_409(app: App):
    a, gone, missing, _copy = await flagged_month(app)
    await settle(app, "2026-11")
    root = await login(app, SUPER)
    t = await token(root)
    page = unescape((await root.get(f"/kpi/team/{a}", params={"month": "2026-11"})).text)
    assert f'id="flag-{gone.id}"' in page
    assert "keep-" not in page
    assert "本月已结算" in page
    keep = await root.post(f"/kpi/team/{a}/flags/{gone.id}/keep", data={"csrf": t})
    assert keep.status_code == 409
    assert "❌ 2026-11 已结算，不能再修改" in keep.text
    revoke = await root.post(
        f"/kpi/team/{a}/entries/{missing.id}/revoke", data={"csrf": t, "reason": "链接已删除"}
    )
    assert revoke.status_code == 409
    assert gone.id in await open_flags()
    assert not await revoked(missing.id)
    chat = plain(await said(app, f"/保留 #{gone.id}", BOSS, card="王主管"))
    assert chat.startswith("❌ 2026-11 已结算")
