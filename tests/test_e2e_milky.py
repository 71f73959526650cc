"""End to end over Milky (Lagrange V2, LuckyLilliaBot): the bot started as a user starts it
(`python -m bot` with `MILKY_CLIENTS` in its `.env`), connecting to the protocol side
`tools.milky_sim` as nonebot-adapter-milky does (event WebSocket + HTTP API).

Milky users are QQ numbers, stored as platform `qq` like OneBot v11's: `SUPERUSERS=
["qq:10000"]` names the same person on both. Mentions arrive as `mention` segments, names
and roles in the event's `group_member`; private messages reach friends only.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from models.periods import current_period, shift_period
from tools.milky_sim import MilkySim, Person
from tools.onebot_sim import BotProcess

SUPER, ZHANG, LI, BOSS = 10000, 30001, 30002, 30009
GROUP = 70001
LAST_MONTH = shift_period(current_period(ZoneInfo("Asia/Shanghai")), -1)


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to a bot process; the in-process database of conftest is not used."""


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
async def milky() -> AsyncIterator[MilkySim]:
    async with MilkySim(uin=99990) as sim:
        sim.add_group(
            GROUP,
            "客服群",
            Person(SUPER, "超管", role="member"),  # a superuser, no group role
            Person(ZHANG, "zhang", card="张三"),
            Person(LI, "li", card="李四"),
            Person(BOSS, "boss", card="王主管"),
        )
        sim.friends.add(SUPER)
        yield sim


@pytest.fixture(scope="module")
async def bot(
    milky: MilkySim, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotProcess]:
    proc = BotProcess(
        tmp_path_factory.mktemp("milky-bot"),
        token="unused-onebot-token",
        superusers=(f"qq:{SUPER}",),
        env={"MILKY_CLIENTS": milky.client_config, "KPI_FETCH_ALLOW_HOSTS": "localhost"},
    )
    await proc.start()
    await asyncio.wait_for(milky.connected.wait(), 30)
    await milky.wait_for(lambda c: c.action == "get_login_info")
    yield proc
    await proc.stop()


async def test_a_team_works_over_milky(bot: BotProcess, milky: MilkySim):
    say = milky.say
    bound = await say(GROUP, SUPER, "/绑定 Milky一组")
    assert bound.startswith("✅ 本群已绑定团队「Milky一组」"), bound  # qq:10000 over Milky

    first = await say(GROUP, ZHANG, "/朋友圈")
    assert first.startswith("✅ #"), first
    assert "朋友圈/空间维护 已记录（本月 1/20" in first, first

    picture = png()
    shot = await say(GROUP, LI, milky.picture(picture), "/朋友圈 今日更新")
    assert shot.startswith("✅ #"), shot

    made = await say(GROUP, SUPER, "/主管 ", milky.mention(GROUP, BOSS))
    assert made.startswith("✅"), made
    assert "王主管" in made, made

    fined = await say(GROUP, BOSS, "/扣分 ", milky.mention(GROUP, ZHANG), " 迟到")
    assert fined.startswith("✅ #"), fined
    assert "张三 人事考核·迟到" in fined, fined

    # a reply to 李四's message names 李四 (the adapter fetches it with get_message)
    quoted = await milky.post(GROUP, LI, "亲，稍等")
    complaint = await say(GROUP, BOSS, milky.reply(quoted), "/投诉 回复慢")
    assert complaint.startswith("✅ #"), complaint
    assert "李四 业务绩效·客户投诉 −3" in complaint, complaint

    ranking = await say(GROUP, ZHANG, "/排行")
    assert "张三" in ranking, ranking
    assert "李四" in ranking, ranking
    assert str(ZHANG) not in ranking, ranking  # names, never raw ids

    # the picture is kept as evidence, fetched from the protocol side's temp_url
    deadline = time.monotonic() + 15
    rows: list[tuple] = []
    while time.monotonic() < deadline:
        rows = await bot.rows("SELECT image_url, image_file, image_path FROM entry ORDER BY id")
        if rows[1][2]:
            break
        await asyncio.sleep(0.1)
    url, file, path = rows[1]
    assert url.startswith(f"http://localhost:{milky.port}/res/"), rows
    assert file, rows
    assert path, rows
    assert bot.folder is not None
    stored = bot.folder / "data" / "evidence" / path.rsplit("/", 1)[-1]
    assert stored.read_bytes() == picture


async def test_monthly_post_over_milky_carries_the_ranking_image(bot: BotProcess, milky: MilkySim):
    group = GROUP + 1
    milky.add_group(group, "月报群", Person(SUPER, "超管"), Person(ZHANG, "zhang", card="张三"))
    assert (await milky.say(group, SUPER, "/绑定 Milky月报组")).startswith("✅")
    assert (await milky.say(group, ZHANG, "/朋友圈")).startswith("✅ #")
    late = await milky.say(group, SUPER, "/扣分 ", milky.mention(group, ZHANG), " 迟到 上月")
    assert late.startswith("✅ #"), late

    since = len(milky.calls)
    settled = await milky.say(group, SUPER, "/结算 上月")
    assert settled == f"✅ {LAST_MONTH} 已结算，1 人，月报马上发到群里", settled
    post = await milky.wait_for(
        lambda c: (
            c.action == "send_group_message"
            and c.params["group_id"] == group
            and bool(milky.images(c.params["message"]))
        ),
        since=since,
    )
    assert f"「Milky月报组」{LAST_MONTH} 月度绩效" in milky.text_of(post.params["message"])
    (picture,) = milky.images(post.params["message"])
    width, height = Image.open(io.BytesIO(picture)).size
    assert 800 <= width <= 1000, width
    assert height >= 200, height


async def test_dashboard_link_goes_privately_to_a_friend_and_never_to_the_group(
    bot: BotProcess, milky: MilkySim
):
    group = GROUP + 2
    milky.add_group(group, "后台群", Person(SUPER, "超管"), Person(ZHANG, "zhang", card="张三"))
    assert (await milky.say(group, SUPER, "/绑定 Milky后台组")).startswith("✅")
    assert (await milky.say(group, ZHANG, "/朋友圈")).startswith("✅ #")

    since = len(milky.calls)
    refused = await milky.say(group, ZHANG, "/后台")  # 张三 is not the bot's friend
    assert refused.startswith("❌ 私聊发送失败：请先加机器人为好友"), refused
    tried = [c for c in milky.calls[since:] if c.action == "send_private_message"]
    assert [(c.params["user_id"], c.ok) for c in tried] == [(ZHANG, False)]
    in_group = [
        milky.text_of(c.params["message"])
        for c in milky.calls[since:]
        if c.action == "send_group_message"
    ]
    assert not any("/kpi/login/" in t for t in in_group), in_group

    since = len(milky.calls)
    sent = await milky.say(group, SUPER, "/后台")  # a friend
    assert sent.startswith("✅ 登录链接已私聊发给你"), sent
    (private,) = [c for c in milky.calls[since:] if c.action == "send_private_message"]
    assert private.ok
    assert private.params["user_id"] == SUPER
    assert "/kpi/login/" in milky.text_of(private.params["message"])


async def test_api_calls_share_one_kept_alive_connection(bot: BotProcess, milky: MilkySim):
    """`bot.platforms.milky` gives the adapter one HTTP session: a new connection (and an
    httpx client) per call cost ~60 ms of every reply."""
    group = GROUP + 3
    milky.add_group(group, "连接群", Person(SUPER, "超管"), Person(ZHANG, "zhang", card="张三"))
    since = len(milky.calls)
    assert (await milky.say(group, SUPER, "/绑定 Milky连接组")).startswith("✅")
    for i in range(5):
        assert (await milky.say(group, ZHANG, f"/软文 https://example.com/k/{i}")).startswith("✅")
    calls = milky.calls[since:]
    assert len(calls) >= 6
    assert len({c.peer for c in calls}) == 1, [c.peer for c in calls]
