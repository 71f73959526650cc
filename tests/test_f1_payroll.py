"""Issue 23 (part 1), SPEC §4: a month a boss can pay from — a settled month read from its
stored scores everywhere, pay private by default, equal shown totals share a rank, the
appeals that expire with the month named, a correction that says what changed."""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
from nonebot.adapters.onebot.v11 import Adapter, Bot
from nonebug import App
from openpyxl import load_workbook
from sqlalchemy import update

from bot import db, door
from bot.config import get_config
from models.periods import set_clock
from models.tables import Entry
from tests.utils import (
    BOT_ID,
    GROUP,
    OTHER_GROUP,
    OWNER,
    SUPER,
    Capture,
    at,
    bind,
    group_event,
    private_event,
    said,
    say,
)

SHANGHAI = timezone(timedelta(hours=8))
ZHANG, LI = 30001, 30002


class Any(str):
    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


def monthly():
    import plugins.monthly

    return plugins.monthly


@pytest.fixture
def paid(monkeypatch) -> None:
    """A commission base of ¥8000, pay private (the default)."""
    monkeypatch.setattr(get_config(), "kpi_commission_base", Decimal("8000"))


def boss_info() -> tuple[str, dict, dict]:
    """The group's answer for OWNER, whom `/主管 @OWNER` registers."""
    info = {"group_id": GROUP, "user_id": OWNER}
    return ("get_group_member_info", info, {"card": "老板", "nickname": "boss"})


async def october(app: App) -> None:
    """张三: 4 articles, a complaint; 李四: 4 articles, 45 friends, a severe complaint (¥200)."""
    set_clock(datetime(2026, 10, 5, 9, 0, tzinfo=SHANGHAI))
    await bind(app)
    for n in range(4):
        assert (await said(app, f"/软文 https://example.com/z{n}", ZHANG, card="张三"))[0] == "✅"
        assert (await said(app, f"/软文 https://example.com/l{n}", LI, card="李四"))[0] == "✅"
    assert (await said(app, "/加好友 45", LI, card="李四"))[0] == "✅"
    assert (await said(app, ["/投诉 ", at(ZHANG), " 态度差"], OWNER, role="owner"))[0] == "✅"
    reply = await said(app, ["/严重投诉 ", at(LI), " 200 辱骂客户"], OWNER, role="owner")
    assert reply.startswith("✅"), reply


async def settle_october(app: App) -> str:
    set_clock(datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI))
    reply = await said(app, "/结算 2026-10", OWNER, role="owner")
    assert reply.startswith("✅ 2026-10 已"), reply
    return reply


async def flush(app: App, n_messages: int = 1) -> list[str]:
    out: list[str] = []
    async with app.test_api() as ctx:
        ctx.create_bot(base=Bot, adapter=ctx.create_adapter(base=Adapter), self_id=BOT_ID)
        for _ in range(n_messages):
            ctx.should_call_api(
                "send_group_msg", {"group_id": GROUP, "message": Capture(out)}, {"message_id": 1}
            )
        await monthly().flush_posts()
    return out


async def export(app: App, month: str = "2026-10") -> tuple[str, bytes]:
    """`/导出` in the group with pay public (else a workbook with pay stays out of group
    files, see the last test); returns the reply and the uploaded workbook."""
    files: list[str] = []
    out: list[str] = []
    cfg = get_config()
    public, cfg.kpi_pay_public = cfg.kpi_pay_public, True
    try:
        async with app.test_matcher() as ctx:
            bot = ctx.create_bot(base=Bot, adapter=ctx.create_adapter(base=Adapter), self_id=BOT_ID)
            event = group_event(f"/导出 {month}", OWNER, role="owner")
            ctx.receive_event(bot, event)
            ctx.should_call_api(
                "upload_group_file",
                {"group_id": GROUP, "file": Capture(files), "name": Any()},
                None,
            )
            ctx.should_call_send(event, Capture(out), {"message_id": 1})
    finally:
        cfg.kpi_pay_public = public
    return out[0], base64.b64decode(files[0].removeprefix("base64://"))


NUMBERS = re.compile(r"^(\d+\. |总分 |\S+ [\d.]+/\d+$)")


def numbers(text: str) -> list[str]:
    """The lines of a reply that carry scores: ranking rows, category points, the total."""
    return [line for line in text.splitlines() if NUMBERS.match(line)]


async def entry_id(item_key: str) -> int:
    async with db.reading() as s:
        return (
            (await s.execute(Entry.__table__.select().where(Entry.item_key == item_key))).first().id
        )


# ---- a settled month is read from its stored scores ------------------------------------------


async def views(app: App) -> dict:
    from bot.runtime import rubric
    from models import dashboard as dash
    from models.tables import Member, Team

    got = {
        "rank": numbers(await said(app, "/排行 2026-10", OWNER, role="owner")),
        "score": numbers(await said(app, ["/绩效 ", at(LI), " 2026-10"], OWNER, role="owner")),
        "me": numbers(await said(app, "/我的绩效 2026-10", LI, card="李四")),
        "monthly": numbers(await said(app, "/月报 2026-10", OWNER, role="owner")),
    }
    _, data = await export(app)
    got["export"] = list(
        load_workbook(io.BytesIO(data))["汇总"].iter_rows(min_row=3, values_only=True)
    )
    base = get_config().kpi_commission_base

    def read(s):
        team = s.get(Team, 1)
        li = s.execute(Member.__table__.select().where(Member.user_id == str(LI))).first()
        member = s.get(Member, li.id)
        tm = dash.team_month(
            s, team, "2026-10", rubric(), base, today=datetime(2026, 11, 2).date(),
            tz=get_config().tz, full=True,
        )  # fmt: skip
        return tm, dash.member_month(s, team, member, "2026-10", rubric(), base)

    tm, mm = await door.read(read)
    got["dashboard"] = [
        (r.rank, r.member.name, r.score.total, r.score.fines, r.score.commission)
        for r in tm.ranking
    ]
    got["member page"] = (mm.score.total, mm.score.fines, mm.score.commission)
    got["trend"] = [(p, s.total if s else None) for p, s in mm.trend if p == "2026-10"]
    return got


async def test_a_settled_month_is_read_from_its_stored_scores_after_its_entries_drift(
    app: App, paid
):
    """SPEC §4: once settled, /排行 /绩效 /我的绩效 /月报 /导出 and the dashboard show the
    stored month; a direct change of an entry in the database (drift) changes none of them."""
    from bot.runtime import rubric
    from models.ledger import month_ranking

    await october(app)
    await settle_october(app)
    before = await views(app)
    assert before["rank"]
    assert before["export"]
    assert before["dashboard"]
    async with db.writing() as s:
        await s.execute(update(Entry).where(Entry.item_key == "friends").values(quantity=60))
        await s.execute(
            update(Entry).where(Entry.item_key == "severe_complaint").values(fine_cents=90000)
        )
    async with db.reading() as s:
        live = await s.run_sync(month_ranking, rubric(), 1, "2026-10", Decimal("8000"))
    li_live = next(r for r in live if r.member.name == "李四").score
    assert (li_live.total, li_live.fines) != before["member page"][:2]  # the entries did drift
    assert await views(app) == before


# ---- equal shown totals share a rank ----------------------------------------------------------


def test_equal_shown_totals_share_a_rank():
    """81.5 and 81.45 both read 81.5: one place; the next is third (SPEC §4)."""
    from models.ledger import rank
    from models.roster import Agent
    from models.scoring import MemberScore

    def agent(i: int, name: str, total: Fraction):
        return Agent(i, name, "qq", str(i)), MemberScore([], total, "B", Fraction(0), None)

    ranked = rank(
        [
            agent(1, "乙", Fraction(8145, 100)),
            agent(2, "甲", Fraction(815, 10)),
            agent(3, "丙", Fraction(8144, 100)),
            agent(4, "丁", Fraction(80)),
        ]
    )
    assert [(r.rank, r.member.name) for r in ranked] == [(1, "乙"), (1, "甲"), (3, "丙"), (4, "丁")]


# ---- pay is private by default ------------------------------------------------------------------


async def test_pay_is_shown_to_supervisors_and_to_each_agent_for_themselves_only(app: App, paid):
    await october(app)
    mine = (await say(app, private_event("/我的绩效", LI)))[0]
    assert "罚款 ¥200" in mine, mine
    assert "提成 ¥" in mine, mine
    # a group reads every reply: an agent's own card there shows colleagues no pay of theirs
    in_group = await said(app, "/我的绩效", LI, card="李四")
    assert "提成" not in in_group.splitlines()[-2], in_group
    assert "总分 89.5（B）" in in_group.splitlines(), in_group
    assert in_group.splitlines()[-1] == (
        "提成和罚款不在群里显示：私聊我发 /我的绩效 2026-10 查看，或发 /后台 在网页看"
    ), in_group
    theirs = await said(app, "/排行", LI, card="李四")
    assert "¥" not in theirs, theirs
    assert "提成" in theirs.splitlines()[-1], theirs
    assert "私聊我发 /我的绩效 2026-10 查看自己的" in theirs
    boss = await said(app, "/排行", OWNER, role="owner")
    assert "¥" not in boss, boss
    # the group's owner supervises by the group's word, which a private chat does not carry
    assert boss.splitlines()[-1] == "提成和罚款不在群里显示：发 /后台 在网页看", boss
    assert (await say(app, private_event("/排行", OWNER)))[0].startswith("❌ ")
    assert (await said(app, ["/主管 ", at(OWNER)], SUPER, api=[boss_info()]))[0] == "✅"
    boss = await said(app, "/排行", OWNER, role="owner")
    assert boss.splitlines()[-1] == (
        "提成和罚款不在群里显示：私聊我发 /排行 2026-10 查看，或发 /后台 在网页看"
    ), boss
    boss = (await say(app, private_event("/排行", OWNER)))[0]
    assert "罚款 提成" in boss.splitlines()[1], boss
    assert "¥200" in boss, boss


async def test_a_supervisors_group_reply_shows_no_colleagues_pay(app: App, paid):
    """The group reads a supervisor's reply too (SPEC §6): /绩效 @某人 and /月报 keep pay for
    private chat, where they show it."""
    await october(app)
    card = await said(app, ["/绩效 ", at(LI)], OWNER, role="owner")
    assert "提成" not in card.splitlines()[-2], card
    assert "提成 ¥" not in card, card
    assert card.splitlines()[-1] == "提成和罚款不在群里显示：发 /后台 在网页看", card
    assert (await said(app, ["/主管 ", at(OWNER)], SUPER, api=[boss_info()]))[0] == "✅"
    card = await said(app, ["/绩效 ", at(LI)], OWNER, role="owner")
    assert card.splitlines()[-1].startswith(
        "提成和罚款不在群里显示：私聊我发 /绩效 李四 2026-10"
    ), card
    preview = await said(app, "/月报", OWNER, role="owner")
    assert "¥" not in preview, preview
    assert "私聊我发 /月报 2026-10 查看" in preview, preview
    card = (await say(app, private_event("/绩效 李四", OWNER)))[0]
    assert "罚款 ¥200" in card, card
    assert "提成 ¥" in card, card
    assert "提成和罚款不在群里显示" not in card, card
    preview = "\n".join(await say(app, private_event("/月报", OWNER)))
    assert "¥200" in preview, preview


async def test_a_superuser_on_no_team_reads_the_team_in_private_as_the_group_hint_says(
    app: App, paid
):
    """SPEC §4: a superuser reads /排行, /绩效 名字 and /月报 in private chat — of the only
    team, else of the team whose group they last spoke in."""
    await october(app)
    hint = await said(app, "/月报", SUPER)
    assert "私聊我发 /月报 2026-10 查看" in hint, hint
    ranking = (await say(app, private_event("/排行", SUPER)))[0]
    assert ranking.startswith("🏆"), ranking
    assert "¥200" in ranking, ranking
    card = (await say(app, private_event("/绩效 李四 2026-10", SUPER)))[0]
    assert "罚款 ¥200" in card, card
    assert "提成 ¥" in card, card
    preview = "\n".join(await say(app, private_event("/月报 2026-10", SUPER)))
    assert "¥200" in preview, preview


async def test_a_superuser_of_several_teams_reads_the_one_whose_group_they_spoke_in(app: App, paid):
    from bot import context

    context._superusers_team.clear()
    await october(app)
    await bind(app, OTHER_GROUP, "客服二组")
    refused = (await say(app, private_event("/排行", SUPER)))[0]
    assert refused.startswith("❌ 机器人有 2 个团队（客服一组、客服二组），请先在要查看"), refused
    assert "报一次" not in refused
    await said(app, "/状态", SUPER)  # in the first team's group
    ranking = (await say(app, private_event("/排行", SUPER)))[0]
    assert ranking.startswith("🏆 「客服一组」"), ranking
    await said(app, "/状态", SUPER, group_id=OTHER_GROUP)
    ranking = (await say(app, private_event("/排行", SUPER)))[0]
    assert "客服二组" in ranking.splitlines()[0], ranking


async def test_the_group_post_and_its_image_show_no_pay_unless_pay_is_public(
    app: App, paid, monkeypatch
):
    import bot.render

    drawn: list[list[str]] = []
    real = bot.render.render_ranking

    def spy(title, heads, cells, footer="", font_path=None):
        drawn.append(heads)
        return real(title, heads, cells, footer, font_path)

    monkeypatch.setattr(bot.render, "render_ranking", spy)
    await october(app)
    await settle_october(app)
    post = (await flush(app))[0]
    assert "¥" not in post, post[:500]
    assert "提成" not in post.split("[CQ:image")[0], post[:500]
    assert drawn[-1][-1] == "等级"  # the image has no pay columns either

    monkeypatch.setattr(get_config(), "kpi_pay_public", True)
    assert (await said(app, "/重开 2026-10", SUPER)).startswith("✅")
    await settle_october(app)
    post = (await flush(app))[0]
    assert "罚款 提成" in post, post[:500]
    assert "¥200" in post, post[:500]
    assert drawn[-1][-2:] == ["罚款", "提成"]
    theirs = await said(app, "/排行 2026-10", ZHANG, card="张三")
    assert "¥200" in theirs, theirs


async def test_the_dashboard_shows_the_ranking_pay_to_supervisors_only(app: App, paid):
    from tests.test_dashboard import BOSS, NOW, Table, ids, login, team_a

    set_clock(NOW)
    await team_a(app)
    a = (await ids())["客服一组"]
    pages = {}
    for who in (BOSS, 30001):
        html = (await (await login(app, who)).get(f"/kpi/team/{a}")).text
        table = Table("ranking")
        table.feed(html)
        pages[who] = table.rows
    assert pages[BOSS][0][-1] == "提成", pages[BOSS]
    assert "¥" in pages[BOSS][1][-1], pages[BOSS]
    assert not any("¥" in c or "提成" in c for row in pages[30001] for c in row), pages[30001]
    mine = await (await login(app, 30001)).get(f"/kpi/team/{a}/member/{(await ids())['张三']}")
    assert "提成 ¥" in mine.text


# ---- the monthly cycle tells people ------------------------------------------------------------------


async def test_settle_and_the_post_name_the_appeals_that_expire_and_at_their_agents(app: App, paid):
    await october(app)
    complaint = await entry_id("complaint")
    assert (await said(app, f"/申诉 #{complaint} 客户打错电话了", ZHANG, card="张三"))[0] == "✅"
    reply = await settle_october(app)
    assert f"1 条申诉未处理，随本月结算过期：[CQ:at,qq={ZHANG}] #{complaint}" in reply, reply
    post = (await flush(app))[0]
    assert f"1 条申诉未处理，随本月结算过期：[CQ:at,qq={ZHANG}] #{complaint}" in post, post[:800]


async def test_a_correction_lists_each_agent_whose_total_or_pay_changed_old_to_new(
    app: App, paid, monkeypatch
):
    await october(app)
    await settle_october(app)
    first = (await flush(app))[0]
    assert "更正" not in first
    assert (await said(app, "/重开 2026-10", SUPER)).startswith("✅")
    complaint = await entry_id("complaint")
    assert (await said(app, f"/撤销 #{complaint} 投诉不成立", OWNER, role="owner"))[0] == "✅"
    reply = await settle_october(app)
    line = "· 张三 总分 88.0 → 91.0，提成有变动（本人发 /我的绩效 2026-10 查看）"
    assert line in reply, reply
    assert "李四" not in reply, reply
    post = (await flush(app))[0]
    assert "【更正】" in post, post[:800]
    assert line in post, post[:800]
    assert "· 李四" not in post, post[:800]

    monkeypatch.setattr(get_config(), "kpi_pay_public", True)
    assert (await said(app, "/重开 2026-10", SUPER)).startswith("✅")
    reply = await settle_october(app)
    assert "更正内容：与原月报相比，没有人的总分或提成变化" in reply, reply
    async with db.writing() as s:  # a fine corrected by hand before the next settlement
        await s.execute(
            update(Entry).where(Entry.item_key == "severe_complaint").values(fine_cents=10000)
        )
    await flush(app)
    assert (await said(app, "/重开 2026-10", SUPER)).startswith("✅")
    reply = await settle_october(app)
    assert "· 李四 提成 ¥" in reply, reply
    assert "罚款 ¥200.00 → ¥100.00" in reply, reply


def test_the_ranking_table_has_a_fines_column_only_when_someone_has_fines_and_pay_is_shown():
    from bot.format import Row, ranking_table
    from models.rubric import load_rubric

    rub = load_rubric(None)
    cats = [Fraction(10), Fraction(47), Fraction(30), Fraction(3)]
    fined = Row(1, "李四", cats, Fraction(90), "A", Fraction(6960), Fraction(200))
    clean = Row(2, "张三", cats, Fraction(90), "A", Fraction(7200))
    heads, cells = ranking_table(rub, [fined, clean], pay=True)
    assert heads[-2:] == ["罚款", "提成"]
    assert [c[-2:] for c in cells] == [["¥200.00", "¥6960.00"], ["", "¥7200.00"]]
    assert ranking_table(rub, [clean], pay=True)[0][-1] == "提成"
    assert "罚款" not in ranking_table(rub, [clean], pay=True)[0]
    heads, cells = ranking_table(rub, [fined, clean], pay=False)
    assert heads[-1] == "等级"
    assert all("¥" not in c for row in cells for c in row)


async def test_the_monthly_dm_is_the_stored_month_with_the_agents_own_pay(
    app: App, paid, monkeypatch
):
    monkeypatch.setattr(get_config(), "kpi_monthly_dm", True)
    await october(app)
    await settle_october(app)
    mine = numbers((await say(app, private_event("/我的绩效 2026-10", LI)))[0])
    async with db.writing() as s:  # drift after settling, before the DM goes out
        await s.execute(update(Entry).where(Entry.item_key == "friends").values(quantity=60))
    group: list[str] = []
    private: list[str] = []
    async with app.test_api() as ctx:
        ctx.create_bot(base=Bot, adapter=ctx.create_adapter(base=Adapter), self_id=BOT_ID)
        ctx.should_call_api(
            "send_group_msg", {"group_id": GROUP, "message": Capture(group)}, {"message_id": 1}
        )
        for uid in (LI, ZHANG):  # in ranking order
            ctx.should_call_api(
                "send_private_msg", {"user_id": uid, "message": Capture(private)}, {"message_id": 2}
            )
        assert await monthly().flush_posts() == 3
    assert "¥" not in group[0].split("[CQ:image")[0]
    assert numbers(private[0]) == mine
    assert "罚款 ¥200.00 提成 ¥" in mine[-1], mine
    assert "李四" not in private[1]


async def test_a_workbook_with_pay_is_not_put_in_group_files_unless_pay_is_public(
    app: App, paid, monkeypatch
):
    """Every group member can open group files: with private pay `/导出` keeps the workbook
    for the dashboard (SPEC §6); with `KPI_PAY_PUBLIC=true` it is uploaded as before."""
    await october(app)
    set_clock(datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI))
    reply = await said(app, "/导出 2026-10", OWNER, role="owner")  # no upload_group_file call
    assert reply == (
        "✅ 已导出 2026-10 绩效表（2 人，11 条记录）。表里有提成和罚款，不公开，"
        "所以没有上传群文件：发 /后台 在网页下载"
    ), reply
    monkeypatch.setattr(get_config(), "kpi_pay_public", True)
    files: list[str] = []
    upload = (
        "upload_group_file",
        {"group_id": GROUP, "file": Capture(files), "name": "客服一组-2026-10-绩效.xlsx"},
        None,
    )
    reply = await said(app, "/导出 2026-10", OWNER, role="owner", api=[upload])
    assert reply.endswith("，文件已上传到群文件"), reply
    book = load_workbook(io.BytesIO(base64.b64decode(files[0].removeprefix("base64://"))))
    assert "提成(元)" in [c.value for c in next(book["汇总"].iter_rows(min_row=2, max_row=2))]
