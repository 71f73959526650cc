"""SPEC §3 "What real clients send": messages shaped as NapCat delivers them, handled the way
the OneBot v11 adapter handles them (`Bot.handle_event`: `get_msg` for a reply segment, a
leading @ of the bot removed). A command wrapped in a reply, @s, a picture, a full-width slash
or over-long input is still the command, and gets exactly one reply."""

from __future__ import annotations

import pytest
from nonebot.adapters.onebot.v11 import MessageSegment
from nonebug import App

from tests.utils import (
    BOSS,
    BOT_ID,
    OWNER,
    at,
    deliver,
    entries,
    group_event,
    image,
    next_id,
    plain,
    stored_message,
)

ZHANG = 30001


def reply(message_id: int) -> MessageSegment:
    return MessageSegment.reply(message_id)


async def one(content, user_id: int = ZHANG, *, stored=(), **kw) -> str:
    """Send one group message through the adapter; exactly one reply comes back."""
    out = await deliver(group_event(content, user_id, **kw), stored)
    assert len(out) == 1, (content, out)
    return out[0]


@pytest.fixture
async def team(app: App) -> None:
    """客服一组 in GROUP: 张三 an agent with one report, BOSS an explicit supervisor."""
    assert (await one("/绑定 客服一组", OWNER, role="owner")).startswith("✅")
    assert (await one("/朋友圈", ZHANG, card="张三")).startswith("✅")
    assert (await one(["/主管 ", at(BOSS)], OWNER, role="owner")).startswith("✅")


def unreachable() -> int:
    """The id of a message `get_msg` cannot fetch any more."""
    return next_id()


@pytest.mark.usefixtures("team")
async def test_command_replying_to_an_unfetchable_message_is_answered():
    out = await one([reply(unreachable()), "/加好友 5"], card="张三")
    assert out.startswith("✅ "), out
    assert "QQ/微信加好友 已记录（本月 5/60" in out, out


@pytest.mark.usefixtures("team")
async def test_command_after_a_reply_and_an_at_of_the_bot_is_answered():
    out = await one([reply(unreachable()), at(BOT_ID), " /加好友 6"], card="张三")
    assert "已记录（本月 6/60" in out, out


@pytest.mark.usefixtures("team")
async def test_leading_blank_text_and_face_do_not_hide_the_command():
    face = MessageSegment.face(14)
    out = await one([" \n", face, "\n  /加好友 7"], card="张三")
    assert "已记录（本月 7/60" in out, out


@pytest.mark.usefixtures("team")
async def test_full_width_slash_and_digits_are_the_command():
    out = await one("／加好友 ５", card="张三")
    assert "已记录（本月 5/60" in out, out


@pytest.mark.usefixtures("team")
async def test_screenshot_before_the_command_is_its_evidence():
    shot = image("http://127.0.0.1:9/shot.png", "shot.image")
    out = await one([shot, "/朋友圈 今日更新"], card="张三")
    assert out.startswith("✅ "), out
    assert "朋友圈/空间维护 已记录（本月 2/20" in out, out
    last = (await entries())[-1]
    assert (last.item_key, last.note, last.image_file) == ("moments", "今日更新", "shot.image")


@pytest.mark.usefixtures("team")
async def test_reply_to_an_agents_message_complains_about_the_quoted_sender():
    """QQ inserts @张三 after the reply; the adapter drops it (it is the quoted sender)."""
    quoted = stored_message(next_id(), ZHANG, "亲，稍等", card="张三")
    message = [reply(quoted["message_id"]), at(ZHANG), " /投诉 回复慢"]
    out = await one(message, BOSS, card="老板", stored=[quoted])
    assert out.startswith("✅ "), out
    assert " 张三 业务绩效·客户投诉 −3" in out, out
    last = (await entries())[-1]
    assert (last.item_key, last.note) == ("complaint", "回复慢")


@pytest.mark.usefixtures("team")
async def test_unfetchable_reply_keeps_the_inserted_at_as_the_target():
    message = [reply(unreachable()), at(ZHANG), " /投诉 回复慢"]
    out = await one(message, BOSS, card="老板")
    assert out.startswith("✅ "), out
    assert " 张三 业务绩效·客户投诉 −3" in out, out


@pytest.mark.usefixtures("team")
async def test_reply_to_the_bots_own_message_names_no_target():
    quoted = stored_message(next_id(), int(BOT_ID), "✅ #1 …")
    out = await one([reply(quoted["message_id"]), " /投诉 回复慢"], BOSS, stored=[quoted])
    assert out.startswith("❌ 请 @ 要登记客户投诉的人"), out


TARGETED = [
    ("/扣分 迟到", "✅ ", "张三 人事考核·迟到"),
    ("/加分 培训讲师", "✅ ", "张三 人事考核·培训讲师"),
    ("/迟到 2", "✅ ", "张三 人事考核·迟到 ×2"),
    ("/严重投诉 200 骂人", "✅ ", "张三 业务绩效·严重投诉"),
    ("/绩效", "", "张三"),
    ("/明细", "🗂 张三", ""),
    ("/离职", "✅ 张三 已离职", ""),
]


@pytest.mark.usefixtures("team")
@pytest.mark.parametrize(("command", "starts", "contains"), TARGETED)
async def test_every_targeted_command_takes_the_quoted_sender(
    command: str, starts: str, contains: str
):
    quoted = stored_message(next_id(), ZHANG, "在吗", card="张三")
    message = [reply(quoted["message_id"]), at(ZHANG), f" {command}"]
    out = await one(message, BOSS, card="老板", stored=[quoted])
    assert out.startswith(starts), out
    assert contains in out, out
    assert not out.startswith("❌"), out


@pytest.mark.usefixtures("team")
async def test_promote_and_join_take_the_quoted_sender():
    newcomer = 30077
    quoted = stored_message(next_id(), newcomer, "大家好", card="新人")
    joined = await one([reply(quoted["message_id"]), " /入职"], BOSS, stored=[quoted])
    assert joined.startswith("✅ 新人 已入职"), joined
    quoted = stored_message(next_id(), newcomer, "收到", card="新人")
    promoted = await one(
        [reply(quoted["message_id"]), " /主管"], OWNER, role="owner", stored=[quoted]
    )
    assert promoted == "✅ 新人 现在是「客服一组」的主管", promoted


# ---- over-long input -------------------------------------------------------------------------

HUGE = "1" * 5000


@pytest.mark.usefixtures("team")
async def test_a_5000_digit_count_is_refused_with_the_range_and_usage():
    before = len(await entries())
    out = plain(await one(f"/加好友 {HUGE}", card="张三"))
    assert (
        out
        == "❌ 好友数量必须是 1–500 的整数，收到 11111111111111111111…\n用法：/加好友 <个数> [备注]"
    )
    assert len(out) < 200, len(out)
    assert len(await entries()) == before


@pytest.mark.usefixtures("team")
async def test_a_5000_digit_supervisor_count_and_fine_are_refused_with_the_range():
    count = await one(["/迟到 ", at(ZHANG), f" {HUGE}"], BOSS)
    assert count.startswith("❌ 次数必须是 1–100 的整数"), count[:200]
    fine = await one(["/严重投诉 ", at(ZHANG), f" {HUGE}"], BOSS)
    assert fine.startswith("❌ 罚款金额必须在 0–100000 元之间"), fine[:200]
    assert len(count) < 200
    assert len(fine) < 200


@pytest.mark.usefixtures("team")
@pytest.mark.parametrize(
    "command", [f"/我的绩效 {HUGE}", f"/撤回 #{HUGE}", f"/撤销 #{HUGE}", f"/报 加好友 {HUGE}"]
)
async def test_5000_digits_anywhere_get_a_normal_refusal(command: str):
    out = await one(command, BOSS if command.startswith("/撤销") else ZHANG)
    assert out.startswith("❌ "), out[:200]
    assert "\n用法：" in out, out[:200]
    assert "出错了" not in out, out[:200]
    assert len(out) < 300, out[:200]


@pytest.mark.usefixtures("team")
async def test_a_20000_character_note_is_refused_with_the_limit_and_nothing_logged():
    """SPEC §3 "What people type": a note longer than 500 characters is refused, not cut."""
    note = "长" * 20000
    before = len(await entries())
    out = plain(await one(f"/朋友圈 {note}", card="张三"))
    assert out == "❌ 备注最多 500 个字，收到 20000 个字，请写短一些\n用法：/朋友圈 [备注]", out
    deduct = plain(await one(["/投诉 ", at(ZHANG), f" {note}"], BOSS))
    assert deduct.startswith("❌ 备注最多 500 个字，收到 20000 个字"), deduct[:200]
    assert len(await entries()) == before
