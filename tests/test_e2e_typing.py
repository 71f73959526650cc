"""End to end, over the OneBot v11 simulator (issue 23 "What people type"): a boss, a
supervisor and two agents type what people naturally type, to a bot started as `make run`
starts it, and each gets the answer a person expects."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from tests.utils import one
from tools.onebot_sim import BotProcess, OneBotV11Sim, at

TOKEN = "typing-token"
G = 22001
OWNER, SUP, ZHAO, LI = 10001, 10003, 30001, 30002


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to a bot process; the in-process database of conftest is not used."""


@pytest.fixture(scope="module")
async def qq(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OneBotV11Sim]:
    bot = BotProcess(
        tmp_path_factory.mktemp("typing-bot"),
        token=TOKEN,
        superusers=("qq:10000",),
        env={"KPI_COMMISSION_BASE": "8000"},
    )
    await bot.start()
    sim = OneBotV11Sim(bot.ws_url("v11"), token=TOKEN)
    await sim.connect()
    yield sim
    await sim.disconnect()
    await bot.stop()


async def test_what_people_type_gets_the_answer_a_person_expects(qq: OneBotV11Sim):
    for uid, card in ((SUP, "王主管"), (ZHAO, "赵龘"), (LI, "李四")):
        qq.add_member(G, uid, card=card)
    r = one(await qq.say(G, OWNER, "/绑定 客服一组", role="owner", nickname="陈老板"))
    assert r.startswith("✅"), r
    assert one(await qq.say(G, OWNER, "/主管 ", at(SUP), role="owner")).startswith("✅")
    assert one(await qq.say(G, ZHAO, "/软文 https://mp.weixin.qq.com/s/abc")).startswith("✅ #1")
    assert one(await qq.say(G, LI, "/加好友 25")).startswith("✅ #2")

    # one article, one link: http after https, a dot segment, is the same
    r = one(await qq.say(G, LI, "/软文 http://mp.weixin.qq.com/s/./abc"))
    assert r.startswith("❌ 该链接已在 #1 记录过"), r
    # the item before the target, a fine before the target, a count before the item
    r = one(await qq.say(G, SUP, "/扣分 迟到 ", at(ZHAO)))
    assert re.fullmatch(r"✅ #3 赵龘 人事考核·迟到 −1（本月人事考核 9/10，总分 \d+\.\d）", r), r
    r = one(await qq.say(G, SUP, "/严重投诉 罚款200 ", at(LI), " 态度差"))
    assert r.startswith("✅ #4 李四 业务绩效·严重投诉 −3 罚款 ¥200"), r
    r = one(await qq.say(G, SUP, "/扣分 ", at(LI), " 3 回复不及时"))
    assert r.startswith("✅ #5 李四 业务绩效·回复不及时 ×3 −6"), r
    # half a day of leave is half a day
    r = one(await qq.say(G, SUP, "/请假 ", at(ZHAO), " 半天"))
    assert r.startswith("✅ #6 赵龘 人事考核·请假 ×0.5 −0.3（本月人事考核 8.8/10"), r
    # the group owner is a supervisor, not an agent: no deduction, nobody registered
    r = one(await qq.say(G, SUP, "/投诉 ", at(OWNER)))
    assert r.startswith("❌ 陈老板 是群主，不参与考核"), r
    # /明细 shows counts; an id without #; an appeal shows in /明细
    r = one(await qq.say(G, LI, "/申诉 5 系统卡了"))
    assert r.startswith("✅ 已提交对 #5"), r
    detail = one(await qq.say(G, SUP, "/明细 ", at(LI)))
    assert "回复不及时 ×3 −6" in detail, detail
    assert "〔申诉中〕" in detail, detail
    # an agent's /绩效 is their own; months in words
    mine = one(await qq.say(G, ZHAO, "/绩效"))
    assert mine.startswith("📋 赵龘 "), mine
    assert one(await qq.say(G, ZHAO, "/我的绩效 这个月")) == mine
    # synonyms and near misses are answered with the right usage, never silence
    r = one(await qq.say(G, ZHAO, "/排行榜"))
    assert r.startswith("❓ 是不是 /排行？"), r
    r = one(await qq.say(G, LI, "/加好有 10"))
    assert r.startswith("❓ 是不是 /加好友？"), r
    # pay is private: an agent's /排行 has no money
    ranking = one(await qq.say(G, ZHAO, "/排行"))
    assert "¥" not in ranking, ranking
    assert "提成不公开" in ranking, ranking
    # ... and a supervisor's reply in the group neither (the group reads it): privately it has
    ranking = one(await qq.say(G, SUP, "/排行"))
    assert "¥" not in ranking, ranking
    assert "私聊我发 /排行" in ranking, ranking
    assert "¥" in one(await qq.say_private(SUP, "/排行"))
    # a note over the limit is refused, not cut; nothing is logged
    r = one(await qq.say(G, SUP, "/投诉 ", at(ZHAO), " " + "慢" * 600))
    assert r.startswith("❌"), r
    assert "500" in r, r
    # revoke by a bare id; /审计 in sentences with names, never raw ids
    r = one(await qq.say(G, SUP, "/撤销 2 重复了"))
    assert r.startswith("✅ 已撤销 #2 李四"), r
    audit = one(await qq.say(G, SUP, "/审计"))
    assert "王主管 撤销了 李四的推广绩效·QQ/微信加好友（#2），原因：重复了" in audit, audit
    assert "qq:" not in audit, audit
    assert "member_id" not in audit, audit
