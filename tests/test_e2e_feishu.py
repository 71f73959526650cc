"""End to end over Feishu: the bot started as a user starts it (`python -m bot` with
`FEISHU_BOTS` and `FEISHU_API_BASE` in its `.env`), taking events from `tools.feishu_sim`
over the long connection (and, in one test, the encrypted webhook) as
nonebot-adapter-feishu does, and calling its open API.

Users are open_ids of this app, stored as platform `feishu.<app_id>`; events carry ids
only (names from the contact API, the owner from chat info); text with a picture is one
`post`, read as the command it starts with; a pasted picture is fetched by the message
resource API and kept as evidence; pictures go up by `im/v1/images`.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from models.periods import current_period, shift_period
from tests.utils import one, png
from tools.feishu_sim import FeishuSim, User
from tools.onebot_sim import BotProcess

THIS_MONTH = current_period(ZoneInfo("Asia/Shanghai"))
LAST_MONTH = shift_period(THIS_MONTH, -1)
SUPER = User("超管")


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to a bot process; the in-process database of conftest is not used."""


@pytest.fixture(scope="module")
async def fs() -> AsyncIterator[FeishuSim]:
    async with FeishuSim(protocol="ws") as sim:
        sim.users[SUPER.open_id] = SUPER
        yield sim


@pytest.fixture(scope="module")
async def bot(fs: FeishuSim, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    proc = BotProcess(
        tmp_path_factory.mktemp("feishu-bot"),
        token="unused-onebot-token",
        superusers=(f"feishu.{fs.app_id}:{SUPER.open_id}",),
        env=fs.env(),
    )
    await proc.start()
    await fs.wait_connected(30)
    yield proc
    await proc.stop()


async def test_a_team_works_over_feishu(bot: BotProcess, fs: FeishuSim):
    assert "平台不认识" not in bot.log()  # SUPERUSERS "feishu.<App ID>:<open_id>" is understood
    owner = fs.add_user("老板")
    chat = fs.add_chat("售后群", owner=owner)
    zhang, li, boss = (fs.add_user(n) for n in ("张三", "李四", "王主管"))
    fs.join(chat, zhang, li, boss)

    bound = one(await fs.say(chat, owner, "/绑定 飞书一组"))  # the owner, from chat info
    assert bound.startswith("✅ 本群已绑定团队「飞书一组」"), bound

    first = one(await fs.say(chat, zhang, "/朋友圈"))
    assert re.fullmatch(r"✅ #\d+ 朋友圈/空间维护 已记录（本月 1/20，推广绩效 0\.1/10）", first), (
        first
    )
    picture = png("green")
    shot = one(await fs.say(chat, li, "/朋友圈 今日更新", fs.picture(picture)))  # one `post`
    assert shot.startswith("✅ #"), shot
    assert "朋友圈/空间维护 已记录" in shot, shot

    made = one(await fs.say(chat, owner, "/主管 ", boss))
    assert made == "✅ 王主管 现在是「飞书一组」的主管", made
    by_at = one(await fs.say(chat, boss, "/扣分 ", zhang, " 迟到"))
    assert re.match(r"✅ #\d+ 张三 人事考核·迟到 −1（本月人事考核 9/10", by_at), by_at
    by_name = one(await fs.say(chat, boss, "/投诉 李四 回复慢"))
    assert re.match(r"✅ #\d+ 李四 业务绩效·客户投诉 −3", by_name), by_name

    # someone far down a big chat's member list (listed 100 a page) is found by @
    fs.join(chat, *(fs.add_user(f"同事{i}") for i in range(150)))
    late = fs.add_user("周末")
    fs.join(chat, late)
    assert one(await fs.say(chat, owner, "/入职 ", late)).startswith("✅ 周末 已入职")

    # an @ of someone outside the chat is refused by the name the @ showed, not the open_id
    outsider = fs.add_user("赵六")
    refused = one(await fs.say(chat, boss, "/扣分 ", outsider, " 迟到"))
    assert refused.startswith("❌ 赵六 不在本群或本团队"), refused
    assert outsider.open_id not in refused, refused

    ranking = one(await fs.say(chat, zhang, "/排行"))
    assert ranking.splitlines()[0] == f"🏆 「飞书一组」{THIS_MONTH} 排行", ranking
    assert "张三" in ranking, ranking
    assert "李四" in ranking, ranking
    for u in (zhang, li, boss, owner):
        assert u.open_id not in ranking, ranking  # names, never open_ids

    (key,) = next(m.images for m in fs.messages.values() if m.images)
    rows = await bot.rows("SELECT image_file FROM entry WHERE image_file IS NOT NULL")
    assert rows == [(key,)], rows  # the picture of the post is the entry's evidence
    assert ("GET", f"/open-apis/contact/v3/users/{zhang.open_id}") in fs.api_calls


async def test_a_pasted_picture_is_kept_as_evidence_and_the_same_one_again_is_flagged(
    bot: BotProcess, fs: FeishuSim
):
    owner = fs.add_user("老板")
    chat = fs.add_chat("截图群", owner=owner)
    zhou, wu = fs.add_user("周九"), fs.add_user("吴十")
    assert one(await fs.say(chat, owner, "/绑定 飞书截图组")).startswith("✅")
    picture = png("purple", (80, 60))
    since = len(fs.api_calls)
    first = one(await fs.say(chat, zhou, "/朋友圈 今日更新", fs.picture(picture)))
    first_id = int(re.match(r"✅ #(\d+)", first).group(1))
    again = one(await fs.say(chat, wu, "/朋友圈 ", fs.picture(picture)))  # an image message
    again_id = int(re.match(r"✅ #(\d+)", again).group(1))

    told = await fs.wait_sent(lambda s: s.ok and s.receive_id == wu.open_id, timeout=15)
    assert f"#{again_id}" in told.text, told.text
    assert f"重复截图（与 #{first_id} 周九 同一张）" in told.text, told.text
    flags = await bot.rows(
        "SELECT entry_id, kind, earlier_entry_id FROM evidence_flag WHERE entry_id = :id",
        id=again_id,
    )
    assert flags == [(again_id, "same_image", first_id)], flags

    rows = await bot.rows(
        "SELECT image_url, image_path FROM entry WHERE id IN (:a, :b) ORDER BY id",
        a=first_id,
        b=again_id,
    )
    for url, path in rows:
        assert url.startswith(f"{fs.api_base}/open-apis/im/v1/messages/om_"), url
        assert "/resources/img_v3_" in url, url
        assert path, rows
    stored = bot.folder / "data" / "evidence" / rows[0][1].rsplit("/", 1)[-1]
    assert stored.read_bytes() == picture  # fetched by the message resource API
    fetched = [p for m, p in fs.api_calls[since:] if m == "GET" and "/resources/" in p]
    assert len(fetched) == 2, fetched


async def test_monthly_post_carries_its_image_uploaded_by_image_key(bot: BotProcess, fs: FeishuSim):
    owner = fs.add_user("老板")
    chat = fs.add_chat("月报群", owner=owner)
    zhao = fs.add_user("赵六")
    assert one(await fs.say(chat, owner, "/绑定 飞书月报组")).startswith("✅")
    assert one(await fs.say(chat, zhao, "/朋友圈")).startswith("✅ #")
    assert one(await fs.say(chat, owner, "/扣分 ", zhao, " 迟到 上月")).startswith("✅ #")

    replies = await fs.say(chat, owner, "/结算 上月", expect=2, linger=1.0)
    assert replies[0] == f"✅ {LAST_MONTH} 已结算，1 人，月报马上发到群里", replies
    post = next(s for s in fs.sent if s.chat_id == chat.chat_id and "月度绩效" in s.text)
    assert f"「飞书月报组」{LAST_MONTH} 月度绩效" in post.text, post.text
    assert "赵六" in post.text, post.text
    assert zhao.open_id not in post.text
    assert ("POST", "/open-apis/im/v1/images") in fs.api_calls
    (image,) = post.images
    width, height = Image.open(io.BytesIO(image)).size
    assert 800 <= width <= 1000, (width, height)
    assert height >= 200, (width, height)

    exported = await fs.say(chat, owner, "/导出", expect=2, linger=0.5)
    assert exported == [
        f"[文件] 飞书月报组-{THIS_MONTH}-绩效.xlsx",
        f"✅ 已导出 {THIS_MONTH} 绩效表（1 人，1 条记录），文件已上传到群文件",
    ], exported
    book = next(s for s in fs.sent if s.chat_id == chat.chat_id and s.msg_type == "file")
    name, data = fs.files[book.content["file_key"]]
    assert name == f"飞书月报组-{THIS_MONTH}-绩效.xlsx", name
    assert data.startswith(b"PK"), name


async def test_dashboard_link_goes_privately_and_a_user_out_of_reach_is_told(
    bot: BotProcess, fs: FeishuSim
):
    owner = fs.add_user("老板")
    chat = fs.add_chat("后台群", owner=owner)
    sun, far = fs.add_user("孙八"), fs.add_user("远方")
    far.reachable = False  # outside the app's availability
    assert one(await fs.say(chat, owner, "/绑定 飞书后台组")).startswith("✅")
    assert one(await fs.say(chat, sun, "/朋友圈")).startswith("✅ #")
    assert one(await fs.say(chat, far, "/朋友圈")).startswith("✅ #")

    sent = one(await fs.say(chat, sun, "/后台"))
    assert sent == "✅ 登录链接已私聊发给你（10 分钟内有效，只能用一次）", sent
    private = next(s for s in reversed(fs.sent) if s.receive_id == sun.open_id)
    assert private.receive_id_type == "open_id"
    assert "/kpi/login/" in private.text
    assert all("/kpi/login/" not in s.text for s in fs.sent if s.chat_id == chat.chat_id)

    refused = one(await fs.say(chat, far, "/后台"))
    assert refused.startswith("❌ 私聊发送失败"), refused


async def test_over_the_encrypted_webhook_a_report_with_a_picture_is_taken(tmp_path):
    async with FeishuSim(protocol="http", encrypt_key="kpi-encrypt-key") as sim:
        proc = BotProcess(tmp_path, env=sim.env())
        await proc.start()
        try:
            sim.use_webhook(f"http://{proc.host}:{proc.port}")
            await sim.wait_connected(30)
            owner = sim.add_user("老板")
            chat = sim.add_chat(owner=owner)
            assert one(await sim.say(chat, owner, "/绑定 飞书回调组")).startswith("✅")
            agent = sim.add_user("钱七")
            shot = one(await sim.say(chat, agent, "/朋友圈 ", sim.picture(png())))
            assert shot.startswith("✅ #"), shot
            assert "朋友圈/空间维护 已记录" in shot, shot
        finally:
            await proc.stop()


async def test_api_calls_share_one_kept_alive_connection(bot: BotProcess, fs: FeishuSim):
    """`bot.platforms.feishu` sends the adapter's calls over one HTTP session (the adapter
    opens a new client and connection per call otherwise)."""
    owner = fs.add_user("老板")
    chat = fs.add_chat("连接群", owner=owner)
    since = len(fs.peers)
    assert one(await fs.say(chat, owner, "/绑定 飞书连接组")).startswith("✅")
    for _ in range(5):
        assert "「飞书连接组」" in one(await fs.say(chat, owner, "/排行"))
    peers = fs.peers[since:]
    assert len(peers) >= 6, peers
    assert len(set(peers)) == 1, peers
