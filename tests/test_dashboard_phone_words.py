"""What the dashboard's pages say (QA round web2): accounts and groups as people know them
(SPEC §2: QQ numbers shown, never openids, userids or app ids), no config key names, a
broken rubric's line in Chinese, and 「重发月报」 only when a post of the month is held."""

from __future__ import annotations

from datetime import date, datetime

from nonebug import App
from sqlalchemy import select

from bot import db
from models.periods import set_clock
from models.tables import GroupBinding, Member, Post, Tenure
from tests.test_dashboard import (  # noqa: F401  (frozen_clock: the suite's November)
    BOSS,
    SHANGHAI,
    ZHANG,
    frozen_clock,
    ids,
    login,
    table,
    team_a,
)
from tests.test_rubric_web_store import settle
from tests.test_web_desk import token
from tests.utils import SUPER

OPEN_ID, CHAT_ID, APP = "ou_45151726f28346e5be3b693e225a", "oc_af2b5ce0d1e2", "cli_qa00000000000001"


async def feishu_member_and_group(team_id: int) -> None:
    async with db.writing() as s:
        m = Member(
            team_id=team_id,
            platform=f"feishu.{APP}",
            user_id=OPEN_ID,
            name="飞书小李",
            joined_on=date(2026, 11, 1),
        )
        s.add(m)
        await s.flush()
        s.add(Tenure(member_id=m.id, start=date(2026, 11, 1)))
        s.add(
            GroupBinding(
                platform=f"feishu.{APP}",
                group_id=CHAT_ID,
                team_id=team_id,
                adapter="Feishu",
                bound_at=datetime(2026, 11, 2, 1, 0),
                bound_by="qq:10003",
            )
        )


async def test_the_roster_shows_qq_numbers_and_never_a_feishu_open_id(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    await feishu_member_and_group(a)
    boss = await login(app, BOSS)
    page = await boss.get(f"/kpi/team/{a}/roster")
    rows = {r[0]: r[1] for r in table(page.text, "roster")}
    assert rows["姓名"] == "账号"
    assert rows["张三"] == f"QQ {ZHANG}"
    assert rows["飞书小李"] == "飞书"
    assert OPEN_ID not in page.text


async def test_settings_name_each_groups_platform_and_no_config_key(app: App):
    from tests.utils import GROUP

    await team_a(app)
    a = (await ids())["客服一组"]
    await feishu_member_and_group(a)
    boss = await login(app, BOSS)
    page = (await boss.get(f"/kpi/team/{a}/settings")).text
    assert f"<li>QQ 群 {GROUP} <span" in page
    assert "<li>飞书群 <span" in page
    for raw in (CHAT_ID, APP, "feishu.", "qq 群", "KPI_COMMISSION_BASE"):
        assert raw not in page, raw
    assert "默认提成基数（配置文件" in page


async def test_a_what_if_of_broken_toml_says_in_chinese_which_line(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    broken = 'name = "x"\nversion 2\n'
    r = await boss.post(
        f"/kpi/team/{a}/rubric/whatif", data={"csrf": await token(boss), "toml": broken}
    )
    assert r.status_code == 400
    assert "考核表 网页编辑 不是有效的 TOML（第 2 行第 9 列）：键后面缺少“=”" in r.text
    assert "Expected" not in r.text
    assert "line" not in r.text


async def test_resend_is_offered_only_for_a_month_with_a_held_post(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    await settle(app, "2026-11")
    set_clock(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI))
    root = await login(app, SUPER)
    month = {"month": "2026-11"}
    async with db.writing() as s:  # the month's post went out fine
        for post in (await s.execute(select(Post).where(Post.team_id == a))).scalars():
            post.status = "sent"
    fine = (await root.get(f"/kpi/team/{a}", params=month)).text
    assert 'id="reopen"' in fine
    assert 'id="resend"' not in fine
    async with db.writing() as s:  # a post that may not have reached the group
        post = (await s.execute(select(Post).where(Post.team_id == a).limit(1))).scalar_one()
        post.status = "unknown"
    held = (await root.get(f"/kpi/team/{a}", params=month)).text
    assert "重发月报（1 条中断或发送失败）" in held
    other = (await root.get(f"/kpi/team/{a}", params={"month": "2026-10"})).text
    assert 'id="resend"' not in other
