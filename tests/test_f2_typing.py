"""What people type (SPEC §3 "What people type"): targets, items, counts and fines in any
order; ids with or without `#`, or named by replying; months in words; near-miss commands."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from nonebug import App

from models.periods import set_clock
from tests.utils import GROUP, OWNER, at, bind, entries, entry, group_event, plain, said, say

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 15, 10, 0, tzinfo=SH)
ZHAO, LI = 30001, 30002
NAMES = {ZHAO: "赵龘", LI: "李四"}


@pytest.fixture(autouse=True)
def frozen_clock(fresh_db: Path) -> None:
    set_clock(NOW)


async def agent(app: App, user_id: int) -> str:
    """An agent registers by reporting an article (entry #1 for the first one)."""
    url = f"https://example.com/{user_id}"
    return plain(await said(app, f"/软文 {url}", user_id, card=NAMES[user_id]))


async def boss(app: App, content, **kw) -> str:
    kw.setdefault("role", "owner")
    return plain(await said(app, content, OWNER, **kw))


# ---- 1. targets, items, counts and fines in any order -------------------------------------


async def test_item_before_the_target(app: App):
    await bind(app)
    await agent(app, ZHAO)
    reply = await boss(app, ["/扣分 迟到 ", at(ZHAO)])
    assert reply.startswith("✅ #2 赵龘 人事考核·迟到 −1"), reply
    assert (await entry(2)).item_key == "late"


async def test_fine_before_the_target_and_note_after(app: App):
    await bind(app)
    await agent(app, LI)
    reply = await boss(app, ["/严重投诉 罚款200 ", at(LI), " 态度差"])
    assert reply.startswith("✅ #2 李四 业务绩效·严重投诉 −3 罚款 ¥200"), reply
    e = await entry(2)
    assert (e.fine_cents, e.note) == (20000, "态度差")


async def test_count_before_the_item(app: App):
    await bind(app)
    await agent(app, LI)
    reply = await boss(app, ["/扣分 ", at(LI), " 3 回复不及时"])
    assert reply.startswith("✅ #2 李四 业务绩效·回复不及时 ×3 −6"), reply
    e = await entry(2)
    assert (e.item_key, e.quantity, e.note) == ("response", 3, None)


async def test_item_count_and_note_then_target_last(app: App):
    await bind(app)
    await agent(app, ZHAO)
    reply = await boss(app, ["/扣分 回复不及时 2 客户等了半小时 ", at(ZHAO)])
    assert reply.startswith("✅ #2 赵龘 业务绩效·回复不及时 ×2 −4"), reply
    e = await entry(2)
    assert (e.quantity, e.note) == (2, "客户等了半小时")


async def test_target_between_item_and_count_for_several_people(app: App):
    await bind(app)
    await agent(app, ZHAO)
    await agent(app, LI)
    reply = await boss(app, ["/扣分 迟到 ", at(ZHAO), " ", at(LI), " 2"])
    lines = reply.splitlines()
    assert lines[0].startswith("✅ #3 赵龘 人事考核·迟到 ×2 −2"), reply
    assert lines[1].startswith("✅ #4 李四 人事考核·迟到 ×2 −2"), reply


async def test_an_unknown_item_in_any_order_still_lists_the_valid_ones(app: App):
    await bind(app)
    await agent(app, ZHAO)
    reply = await boss(app, ["/扣分 ", at(ZHAO), " 睡觉"])
    assert reply.startswith("❌ “睡觉”不是扣分项目。可用：迟到、"), reply
    assert len(await entries()) == 1


async def test_someone_new_named_after_the_count_is_looked_up_and_registered(app: App):
    await bind(app)
    event = group_event(["/扣分 迟到 2 ", at(40001)], OWNER, role="owner")
    info = {"user_id": 40001, "card": "王五", "nickname": "w"}
    (reply,) = await say(
        app, event, api=[("get_group_member_info", {"group_id": GROUP, "user_id": 40001}, info)]
    )
    assert plain(reply).startswith("✅ #1 王五 人事考核·迟到 ×2 −2"), reply
