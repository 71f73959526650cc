"""Agents' self-reports: /软文 /付费软文 /自媒体 /加好友 /朋友圈, /报, /撤回, evidence images,
/我的绩效 and /排行 (SPEC §1 scoring, §3 Agents, §6 never-happens)."""

from __future__ import annotations

import re
import struct
import threading
import zlib
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from nonebot.adapters.onebot.v11 import MessageSegment
from nonebug import App
from sqlalchemy import func, select

from models.periods import set_clock
from models.tables import AuditLog, Entry, Member, ProcessedMessage
from tests.utils import (
    OWNER,
    at,
    bind,
    entries,
    entry,
    group_event,
    image,
    next_id,
    plain,
    private_event,
    said,
    say,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 15, 10, 0, tzinfo=SH)
ZHANG, LI, WANG = 30001, 30002, 30003


@pytest.fixture(autouse=True)
def frozen_clock(fresh_db: Path) -> None:
    set_clock(NOW)


async def row_counts(*, claims: bool = False) -> dict[str, int]:
    """Rows of the tables a command writes; with `claims`, also the claimed messages (every
    answered message is claimed, a refusal too: SPEC §5 "Several processes")."""
    from bot import db

    out = {}
    async with db.reading() as s:
        for table in (Entry, AuditLog, Member, *([ProcessedMessage] if claims else [])):
            out[table.__name__] = (
                await s.execute(select(func.count()).select_from(table))
            ).scalar_one()
    return out


async def report(app: App, content, user_id: int = ZHANG, **kw) -> str:
    kw.setdefault("card", {ZHANG: "张三", LI: "李四", WANG: "王五"}.get(user_id, ""))
    return plain(await said(app, content, user_id, **kw))


# ---- each self-report command ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "/软文 https://example.com/a 知乎",
            "✅ #1 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）",
        ),
        (
            "/article https://example.com/a",
            "✅ #1 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）",
        ),
        (
            "/付费软文 https://example.com/a",
            "✅ #1 松松软文付费推广 已记录（本月 1/2，推广绩效 1/10）",
        ),
        ("/paid https://example.com/a", "✅ #1 松松软文付费推广 已记录（本月 1/2，推广绩效 1/10）"),
        (
            "/自媒体 https://example.com/a 抖音",
            "✅ #1 自媒体平台推广 已记录（本月 1/8，推广绩效 0.3/10）",
        ),
        (
            "/media https://example.com/a",
            "✅ #1 自媒体平台推广 已记录（本月 1/8，推广绩效 0.3/10）",
        ),
        ("/加好友 15 微信", "✅ #1 QQ/微信加好友 已记录（本月 15/60，推广绩效 0.5/10）"),
        ("/friends 15", "✅ #1 QQ/微信加好友 已记录（本月 15/60，推广绩效 0.5/10）"),
        ("/朋友圈 发了新品", "✅ #1 朋友圈/空间维护 已记录（本月 1/20，推广绩效 0.1/10）"),
        ("/moments", "✅ #1 朋友圈/空间维护 已记录（本月 1/20，推广绩效 0.1/10）"),
    ],
)
async def test_each_self_report_command_confirms_with_id_progress_and_category(
    app: App, command: str, expected: str
):
    await bind(app)
    assert await report(app, command) == expected
    (e,) = await entries()
    assert e.id == 1
    assert e.period == "2026-11"
    assert e.created_by == f"qq:{ZHANG}"
    assert e.revoked_at is None


async def test_self_report_keeps_link_note_and_quantity(app: App):
    await bind(app)
    await report(app, "/软文 https://example.com/a 知乎")
    await report(app, "/加好友 15 微信群")
    await report(app, "/朋友圈 发了新品")
    a, f, m = await entries()
    assert (a.item_key, a.link, a.note, a.quantity) == (
        "article",
        "https://example.com/a",
        "知乎",
        1,
    )
    assert (f.item_key, f.link, f.note, f.quantity) == ("friends", None, "微信群", 15)
    assert (m.item_key, m.note, m.quantity) == ("moments", "发了新品", 1)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "/报 article https://example.com/r",
            "✅ #1 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）",
        ),
        (
            "/报 自建渠道软文 https://example.com/r",
            "✅ #1 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）",
        ),
        (
            "/报 软文 https://example.com/r",
            "✅ #1 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）",
        ),
        (
            "/报 paid_article https://example.com/r",
            "✅ #1 松松软文付费推广 已记录（本月 1/2，推广绩效 1/10）",
        ),
        (
            "/报 松松软文付费推广 https://example.com/r",
            "✅ #1 松松软文付费推广 已记录（本月 1/2，推广绩效 1/10）",
        ),
        (
            "/报 media https://example.com/r",
            "✅ #1 自媒体平台推广 已记录（本月 1/8，推广绩效 0.3/10）",
        ),
        (
            "/报 自媒体 https://example.com/r",
            "✅ #1 自媒体平台推广 已记录（本月 1/8，推广绩效 0.3/10）",
        ),
        ("/报 friends 30", "✅ #1 QQ/微信加好友 已记录（本月 30/60，推广绩效 1/10）"),
        ("/报 加好友 30", "✅ #1 QQ/微信加好友 已记录（本月 30/60，推广绩效 1/10）"),
        ("/报 QQ/微信加好友 30", "✅ #1 QQ/微信加好友 已记录（本月 30/60，推广绩效 1/10）"),
        ("/报 moments", "✅ #1 朋友圈/空间维护 已记录（本月 1/20，推广绩效 0.1/10）"),
        ("/报 朋友圈 5 空间", "✅ #1 朋友圈/空间维护 已记录（本月 5/20，推广绩效 0.5/10）"),
        ("/report 朋友圈/空间维护 10", "✅ #1 朋友圈/空间维护 已记录（本月 10/20，推广绩效 1/10）"),
    ],
)
async def test_report_names_item_by_key_chinese_name_or_command(
    app: App, command: str, expected: str
):
    await bind(app)
    assert await report(app, command) == expected


async def test_report_with_unknown_item_lists_self_report_items(app: App):
    await bind(app)
    reply = await report(app, "/报 吃饭 3")
    assert reply == (
        "❌ “吃饭”不是可自报的项目。可自报：软文、付费软文、自媒体、好友、朋友圈\n"
        "用法：/报 <项目> [数量] [链接或备注]"
    )
    assert await entries() == []


async def test_report_of_supervisor_item_is_refused(app: App):
    await bind(app)
    reply = await report(app, "/报 投诉")
    assert reply.startswith("❌ 客户投诉由主管登记，不能自报。可自报：软文")
    reply = await report(app, "/报")
    assert reply.startswith("❌ 请写上项目")
    assert await entries() == []


# ---- evidence rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "/软文",
        "/软文 知乎 没有链接",
        "/软文 ftp://example.com/a",
        "/软文 example.com/a",
        "/付费软文 www.example.com",
        "/自媒体 javascript:alert(1)",
        "/报 软文",
    ],
)
async def test_link_items_require_http_link(app: App, command: str):
    await bind(app)
    reply = await report(app, command)
    assert reply.startswith("❌ "), reply
    assert "需要附上链接（http:// 或 https:// 开头）" in reply
    assert "\n用法：/" in reply
    assert await entries() == []


@pytest.mark.parametrize("count", ["0", "501", "-1", "abc", "1.5", "99999999999999999999"])
async def test_friends_count_outside_1_to_500_is_refused(app: App, count: str):
    await bind(app)
    reply = await report(app, f"/加好友 {count}")
    assert reply.startswith("❌ "), reply
    assert "好友" in reply.splitlines()[0]
    assert reply.endswith("用法：/加好友 <个数> [备注]")
    assert await entries() == []


async def test_friends_count_is_required(app: App):
    await bind(app)
    reply = await report(app, "/加好友")
    assert reply == "❌ 请写上好友的数量（个数）\n用法：/加好友 <个数> [备注]"
    reply = await report(app, "/加好友 0")
    assert reply == "❌ 好友数量必须是 1–500 的整数，收到 0\n用法：/加好友 <个数> [备注]"


@pytest.mark.parametrize(("count", "n"), [("1", 1), ("500", 500), ("３", 3), ("６０", 60)])
async def test_friends_count_bounds_accepted_and_full_width_digits(app: App, count: str, n: int):
    await bind(app)
    reply = await report(app, f"/加好友 {count}")
    assert reply.startswith(f"✅ #1 QQ/微信加好友 已记录（本月 {n}/60，"), reply
    (e,) = await entries()
    assert e.quantity == n


async def test_target_capped_at_weight_for_many_friends(app: App):
    await bind(app)
    reply = await report(app, "/加好友 500")
    assert (
        reply == "✅ #1 QQ/微信加好友 已记录（本月 500/60，推广绩效 2/10）\n🎉 本月好友目标已完成"
    )


# ---- duplicate links -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "again",
    [
        "https://example.com/post/1",
        "HTTPS://EXAMPLE.COM/post/1",
        "https://Example.com/post/1/",
        "https://example.com/post/1?utm_source=qq&utm_medium=share",
        "https://example.com/post/1#comments",
        "https://example.com:443/post/1",
    ],
)
async def test_duplicate_link_is_refused_naming_first_entry(app: App, again: str):
    await bind(app)
    await report(app, "/朋友圈")
    assert (await report(app, "/软文 https://example.com/post/1")).startswith("✅ #2 ")
    reply = await report(app, f"/自媒体 {again}", LI)
    assert reply == "❌ 该链接已在 #2 记录过\n用法：/自媒体 <链接> [平台或备注]"
    assert len(await entries()) == 2


async def test_different_path_or_query_is_not_a_duplicate(app: App):
    await bind(app)
    await report(app, "/软文 https://example.com/post/1")
    assert (await report(app, "/软文 https://example.com/post/2")).startswith("✅ #2 ")
    assert (await report(app, "/软文 https://example.com/post/1?id=3")).startswith("✅ #3 ")


async def test_duplicate_link_is_per_team(app: App):
    from tests.utils import OTHER_GROUP

    await bind(app)
    await bind(app, OTHER_GROUP, "客服二组")
    await report(app, "/软文 https://example.com/a")
    reply = await report(app, "/软文 https://example.com/a", LI, group_id=OTHER_GROUP)
    assert reply == "✅ #2 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）"


async def test_revoked_link_can_be_reported_again(app: App):
    await bind(app)
    await report(app, "/软文 https://example.com/a")
    assert (await report(app, "/撤回")).startswith("✅ 已撤回 #1")
    reply = await report(app, "/软文 https://example.com/a/")
    assert reply == "✅ #2 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）"


# ---- duplicate delivery ----------------------------------------------------------------------


async def test_same_message_delivered_twice_is_logged_once(app: App):
    await bind(app)
    mid = next_id()
    first = group_event("/软文 https://example.com/a", ZHANG, card="张三", message_id=mid)
    again = group_event("/软文 https://example.com/a", ZHANG, card="张三", message_id=mid)
    assert (await say(app, first))[0].startswith("✅ #1 ")
    await say(app, again, replies=0)
    assert len(await entries()) == 1


async def test_redelivery_after_restart_is_silent_and_writes_nothing(app: App):
    """The in-process memory is gone (restart); the database still knows the message."""
    from bot import dispatch

    await bind(app)
    mid = next_id()
    assert (await say(app, group_event("/加好友 5", ZHANG, message_id=mid)))[0].startswith("✅")
    dispatch.forget_deliveries()
    before = await row_counts(claims=True)
    await say(app, group_event("/加好友 5", ZHANG, message_id=mid), replies=0)
    assert await row_counts(claims=True) == before


async def test_same_message_id_in_another_group_is_a_different_message(app: App):
    from tests.utils import OTHER_GROUP

    await bind(app)
    await bind(app, OTHER_GROUP, "客服二组")
    mid = next_id()
    ev1 = group_event("/加好友 5", ZHANG, message_id=mid)
    ev2 = group_event("/加好友 5", ZHANG, group_id=OTHER_GROUP, message_id=mid)
    assert (await say(app, ev1))[0].startswith("✅ #1 ")
    assert (await say(app, ev2))[0].startswith("✅ #2 ")


# ---- /撤回 -------------------------------------------------------------------------------------


async def test_undo_within_window_marks_entry_revoked_keeping_who_and_when(app: App):
    await bind(app)
    await report(app, "/软文 https://example.com/a")
    set_clock(NOW + timedelta(minutes=9))
    reply = await report(app, "/撤回")
    assert reply == "✅ 已撤回 #1 自建渠道软文（本月 0/8，推广绩效 0/10）"
    e = await entry(1)
    assert e is not None
    assert e.revoked_at == (NOW + timedelta(minutes=9)).astimezone(ZoneInfo("UTC")).replace(
        tzinfo=None
    )
    assert e.revoked_by == f"qq:{ZHANG}"
    assert e.revoked_by_name == "张三"
    assert e.revoke_reason == "本人撤回"
    assert e.created_by == f"qq:{ZHANG}"
    assert e.link == "https://example.com/a"


async def test_undo_named_entry_and_last_one(app: App):
    await bind(app)
    await report(app, "/软文 https://example.com/a")
    await report(app, "/加好友 20")
    await report(app, "/朋友圈")
    assert await report(app, "/撤回 #1") == "✅ 已撤回 #1 自建渠道软文（本月 0/8，推广绩效 0.8/10）"
    assert (
        await report(app, "/undo") == "✅ 已撤回 #3 朋友圈/空间维护（本月 0/20，推广绩效 0.7/10）"
    )
    assert (
        await report(app, "/撤回 ＃2") == "✅ 已撤回 #2 QQ/微信加好友（本月 0/60，推广绩效 0/10）"
    )
    assert (await report(app, "/撤回")).startswith("❌ 你还没有可撤回的记录")


async def test_undo_outside_window_is_refused_naming_revoke(app: App):
    await bind(app)
    await report(app, "/软文 https://example.com/a")
    set_clock(NOW + timedelta(minutes=11))
    reply = await report(app, "/撤回")
    assert reply == ("❌ #1 已超过 10 分钟，不能自己撤回了，请主管 /撤销 #1\n用法：/撤回 [#编号]")
    e = await entry(1)
    assert e is not None
    assert e.revoked_at is None


async def test_undo_of_someone_elses_entry_is_refused(app: App):
    await bind(app)
    await report(app, "/软文 https://example.com/a")
    reply = await report(app, "/撤回 #1", LI)
    assert reply == "❌ #1 不是你报的，只能撤回自己的记录\n用法：/撤回 [#编号]"
    e = await entry(1)
    assert e is not None
    assert e.revoked_at is None


async def test_undo_of_supervisor_deduction_is_refused(app: App):
    await bind(app)
    await report(app, "/朋友圈")
    await said(app, ["/投诉 ", at(ZHANG)], OWNER, role="owner")
    reply = await report(app, "/撤回 #2")
    assert reply.startswith("❌ #2 不是你报的")
    # A bare /撤回 only ever looks at the speaker's own entries.
    assert (await report(app, "/撤回")).startswith("✅ 已撤回 #1 ")
    e = await entry(2)
    assert e is not None
    assert e.revoked_at is None


@pytest.mark.parametrize(("arg", "why"), [("#99", "找不到 #99"), ("abc", "编号应写成 #123")])
async def test_undo_of_unknown_or_malformed_id_is_refused(app: App, arg: str, why: str):
    await bind(app)
    await report(app, "/朋友圈")
    reply = await report(app, f"/撤回 {arg}")
    assert reply.startswith(f"❌ {why}"), reply


async def test_undo_twice_is_refused(app: App):
    await bind(app)
    await report(app, "/朋友圈")
    await report(app, "/撤回 #1")
    reply = await report(app, "/撤回 #1")
    assert reply.startswith("❌ #1 已被撤销过了"), reply


# ---- daily caps --------------------------------------------------------------------------------


async def test_the_daily_cap_of_an_item_counted_in_times_says_the_count_once(app: App):
    await bind(app)
    for _ in range(20):
        assert (await report(app, "/朋友圈")).startswith("✅ #")
    moments = await report(app, "/朋友圈")
    assert moments.startswith("❌ 朋友圈每人每天最多报 20 次，你今天已报 20 次\n"), moments


async def test_daily_cap_refuses_the_21st_article_and_resets_next_local_day(app: App):
    late = datetime(2026, 11, 15, 23, 0, tzinfo=SH)
    set_clock(late)
    await bind(app)
    for i in range(1, 21):
        assert (await report(app, f"/软文 https://example.com/{i}")).startswith(f"✅ #{i} ")
    reply = await report(app, "/软文 https://example.com/21")
    assert reply == (
        "❌ 软文每人每天最多报 20 次，你今天已报 20 次（20篇）\n用法：/软文 <链接> [平台或备注]"
    )
    assert len(await entries()) == 20
    # Another agent has their own cap.
    assert (await report(app, "/软文 https://example.com/li", LI)).startswith("✅ #21 ")
    # Local midnight in Shanghai (still the 15th in UTC) starts a new day.
    set_clock(datetime(2026, 11, 16, 0, 0, 30, tzinfo=SH))
    reply = await report(app, "/软文 https://example.com/21")
    assert reply == "✅ #22 自建渠道软文 已记录（本月 21/8，推广绩效 2/10）"


async def test_revoked_reports_do_not_count_towards_daily_cap(app: App):
    await bind(app)
    for i in range(1, 21):
        await report(app, f"/朋友圈 第{i}次")
    assert (await report(app, "/朋友圈")).startswith("❌ 朋友圈每人每天最多报 20 次")
    await report(app, "/撤回")
    assert (await report(app, "/朋友圈 补")).startswith("✅ #21 朋友圈/空间维护 已记录（本月 20/20")


async def test_friends_daily_unit_cap(app: App):
    await bind(app)
    assert (await report(app, "/加好友 500")).startswith("✅ #1 ")
    assert (await report(app, "/加好友 500")).startswith("✅ #2 ")
    reply = await report(app, "/加好友 1")
    assert reply == "❌ 好友每人每天最多 1000个，你今天已报 1000个\n用法：/加好友 <个数> [备注]"


# ---- target reached ----------------------------------------------------------------------------


async def test_target_reached_message_once_on_the_8th_article(app: App):
    await bind(app)
    replies = [await report(app, f"/软文 https://example.com/{i}") for i in range(1, 10)]
    assert [r for r in replies if "🎉" in r] == [replies[7]]
    assert replies[6] == "✅ #7 自建渠道软文 已记录（本月 7/8，推广绩效 1.8/10）"
    assert replies[7] == (
        "✅ #8 自建渠道软文 已记录（本月 8/8，推广绩效 2/10）\n🎉 本月软文目标已完成"
    )
    assert replies[8] == "✅ #9 自建渠道软文 已记录（本月 9/8，推广绩效 2/10）"


async def test_target_reached_when_a_count_crosses_it(app: App):
    await bind(app)
    assert "🎉" not in await report(app, "/加好友 50")
    assert await report(app, "/加好友 15") == (
        "✅ #2 QQ/微信加好友 已记录（本月 65/60，推广绩效 2/10）\n🎉 本月好友目标已完成"
    )
    assert "🎉" not in await report(app, "/加好友 1")


# ---- month boundaries --------------------------------------------------------------------------


async def test_month_boundary_follows_shanghai_time(app: App):
    await bind(app)
    set_clock(datetime(2026, 11, 30, 23, 59, 59, tzinfo=SH))
    assert await report(app, "/软文 https://example.com/nov") == (
        "✅ #1 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）"
    )
    set_clock(datetime(2026, 11, 30, 16, 0, 0))  # naive UTC = 2026-12-01 00:00 +08:00
    assert await report(app, "/软文 https://example.com/dec") == (
        "✅ #2 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）"
    )
    nov, dec = await entries()
    assert (nov.period, dec.period) == ("2026-11", "2026-12")
    card = await report(app, "/我的绩效 2026-11")
    assert card.startswith("📋 张三 2026-11 绩效\n")
    assert "软文 1/8" in card
    assert (await report(app, "/我的绩效 上月")) == card
    assert "软文 1/8" in await report(app, "/我的绩效")
    assert (await report(app, "/我的绩效")).startswith("📋 张三 2026-12 绩效\n")


# ---- evidence images ---------------------------------------------------------------------------


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


PNG = _png()
BIG = b"\x00" * 4096


def stored_under(path: Path, folder: Path) -> bytes:
    """The bytes of a downloaded file, which must lie inside `folder`."""
    assert path.is_file()
    assert path.resolve().is_relative_to(folder.resolve())
    return path.read_bytes()


class _Files(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/good.png":
            body, ctype = PNG, "image/png"
        elif self.path == "/big.png":
            body, ctype = BIG, "image/png"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def files_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def local_files_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local file server is exempt from the public-address rule, as an intranet would be."""
    from bot.config import get_config

    monkeypatch.setattr(get_config(), "kpi_fetch_allow_hosts", "127.0.0.1")


@pytest.mark.usefixtures("no_proxy", "local_files_allowed")
async def test_image_evidence_is_downloaded_into_data_folder(app: App, files_server: str):
    import bot.evidence
    from bot.config import get_config

    await bind(app)
    url = f"{files_server}/good.png"
    reply = await report(app, ["/朋友圈 截图 ", image(url, "good.image")])
    assert reply == "✅ #1 朋友圈/空间维护 已记录（本月 1/20，推广绩效 0.1/10）"
    await bot.evidence.wait_downloads()
    e = await entry(1)
    assert e is not None
    assert (e.image_url, e.image_file) == (url, "good.image")
    assert e.image_path is not None
    assert stored_under(Path(e.image_path), Path(get_config().kpi_data_dir)) == PNG


@pytest.mark.usefixtures("no_proxy", "local_files_allowed")
async def test_failed_image_download_never_blocks_the_report(app: App, files_server: str):
    import bot.evidence

    await bind(app)
    url = f"{files_server}/missing.png"
    reply = await report(app, ["/加好友 3 ", image(url, "gone.image")])
    assert reply == "✅ #1 QQ/微信加好友 已记录（本月 3/60，推广绩效 0.1/10）"
    await bot.evidence.wait_downloads()
    e = await entry(1)
    assert e is not None
    assert (e.image_url, e.image_file, e.image_path) == (url, "gone.image", None)
    assert e.revoked_at is None


@pytest.mark.usefixtures("no_proxy", "local_files_allowed")
async def test_oversized_image_is_not_kept_but_report_stands(
    app: App, files_server: str, monkeypatch: pytest.MonkeyPatch
):
    import bot.evidence

    monkeypatch.setattr(bot.evidence, "MAX_BYTES", 1024)
    await bind(app)
    url = f"{files_server}/big.png"
    reply = await report(app, ["/软文 https://example.com/a ", image(url, "big.image")])
    assert reply == "✅ #1 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）"
    await bot.evidence.wait_downloads()
    e = await entry(1)
    assert e is not None
    assert (e.image_url, e.image_file, e.image_path) == (url, "big.image", None)


async def test_unreachable_image_host_never_blocks_the_report(app: App):
    import bot.evidence

    await bind(app)
    reply = await report(app, ["/朋友圈 ", image("http://127.0.0.1:9/x.png", "x.image")])
    assert reply.startswith("✅ #1 ")
    await bot.evidence.wait_downloads()
    e = await entry(1)
    assert e is not None
    assert e.image_path is None
    assert e.image_url == "http://127.0.0.1:9/x.png"


# ---- ✅ means written, ❌ means nothing written (SPEC §6) ----------------------------------------


async def test_every_ok_reply_is_in_the_database_and_every_refusal_writes_nothing(app: App):
    await bind(app)
    sup = {"role": "owner"}
    script: list[tuple[int, object, dict]] = [
        (ZHANG, "/软文 https://example.com/1", {}),
        (ZHANG, "/软文", {}),
        (ZHANG, "/软文 ftp://example.com/1", {}),
        (LI, "/自媒体 https://EXAMPLE.com/1/?utm_source=x", {}),
        (ZHANG, "/加好友 0", {}),
        (LI, "/加好友 ３", {}),
        (ZHANG, "/加好友 501", {}),
        (ZHANG, "/加好友 abc", {}),
        (ZHANG, "/报 不存在", {}),
        (ZHANG, "/报 投诉", {}),
        (WANG, "/报 moments 2", {}),
        (LI, ["/投诉 ", at(ZHANG)], {}),
        (OWNER, ["/投诉 ", at(ZHANG), " 态度差"], sup),
        (OWNER, ["/扣分 ", at(ZHANG), " 吃饭"], sup),
        (OWNER, ["/扣分 ", at(ZHANG), " 软文"], sup),
        (ZHANG, "/撤回 #1x", {}),
        (LI, "/撤回 #1", {}),
        (WANG, "/撤回", {}),
        (OWNER, "/撤销 #999", sup),
        (OWNER, "/撤销 #1 重复", sup),
        (OWNER, "/撤销 #1", sup),
        (OWNER, ["/严重投诉 ", at(LI), " abc"], sup),
        (OWNER, ["/严重投诉 ", at(LI), " 500 骂人"], sup),
        (OWNER, ["/请假 ", at(LI), " 101"], sup),
        (ZHANG, "/付费软文 https://example.com/p", {}),
        (ZHANG, "/我的绩效 2099-99", {}),
        (LI, ["/加好友 5 ", image("http://127.0.0.1:9/y.png", "y.image")], {}),
    ]
    oks = fails = 0
    for user, content, kw in script:
        before = await row_counts()
        reply = await report(app, content, user, **kw)
        assert reply.startswith(("✅", "❌")), reply
        if reply.startswith("❌"):
            fails += 1
            assert await row_counts() == before, (content, reply)
            continue
        oks += 1
        assert await row_counts() != before, (content, reply)
        for line in reply.splitlines():
            if m := re.match(r"^✅ #(\d+) ", line):
                e = await entry(int(m.group(1)))
                assert e is not None, (content, line)
                assert e.revoked_at is None
            elif m := re.match(r"^✅ 已(?:撤回|撤销) #(\d+)", line):
                e = await entry(int(m.group(1)))
                assert e is not None, (content, line)
                assert e.revoked_at is not None
    assert oks >= 8
    assert fails >= 14
    import bot.evidence

    await bot.evidence.wait_downloads()


@pytest.mark.parametrize(
    "content",
    [
        ["/软文 ", MessageSegment.face(1)],
        ["/软文 ", MessageSegment.at("all"), " https://example.com/x"],
        ["/加好友 ", MessageSegment.reply(123), " 5"],
        ["/报 ", at(ZHANG), " 软文 https://example.com/y"],
        "/报 软文 https://example.com/" + "a" * 3000,
        "/朋友圈 " + "很长的备注" * 200,
        "/撤回 #999999999999",
        "/撤回 #99999999999999999999",
        "/加好友 ５００ ５００",
        "/我的绩效 9999-99",
        "/排行 上上月",
        "/软文 https://",
        "/软文 http://[::1",
    ],
)
async def test_odd_input_gets_a_clear_answer_never_an_error(app: App, content):
    await bind(app)
    before = await row_counts()
    reply = await report(app, content)
    assert not reply.startswith("❌ 出错了"), reply
    if reply.startswith("❌"):
        assert await row_counts() == before


async def test_a_nul_character_is_removed_before_anything_is_stored(app: App):
    """PostgreSQL refuses NUL in text; any client may send one (SPEC §6 bad input)."""
    await bind(app)
    reply = await report(app, "/朋友圈 早\x00安", card="张\x00三")
    assert reply.startswith("✅ #"), reply
    async with _db().reading() as s:
        entry = (await s.execute(select(Entry))).scalar_one()
        member = (await s.execute(select(Member))).scalar_one()
    assert (entry.note, member.name) == ("早安", "张三")


async def test_an_entry_id_beyond_32_bits_is_no_such_entry(app: App):
    await bind(app)
    for word in ("#2147483648", "#999999999999"):
        reply = await report(app, f"/撤回 {word}")
        assert reply.startswith(f"❌ 找不到 {word}"), reply


def _db():
    from bot import db

    return db


# ---- /我的绩效 and /排行 -------------------------------------------------------------------------


async def test_my_score_shows_categories_progress_deductions_total_and_grade(app: App):
    await bind(app)
    await report(app, "/软文 https://example.com/a")
    await report(app, "/加好友 3")
    await said(app, ["/投诉 ", at(ZHANG), " 态度差"], OWNER, role="owner")
    await said(app, ["/迟到 ", at(ZHANG)], OWNER, role="owner")
    card = await report(app, "/我的绩效")
    # promotion 2×1/8 + 2×3/60 = 0.35; total 9 + 47 + 30 + 0.35 = 86.35
    assert card == (
        "📋 张三 2026-11 绩效\n"
        "人事考核 9/10\n"
        "业务绩效 47/50\n"
        "订单绩效 30/30\n"
        "推广绩效 0.4/10\n"
        "  软文 1/8 · 付费软文 0/2 · 自媒体 0/8 · 好友 3/60 · 朋友圈 0/20\n"
        "扣分/加分：\n"
        "  #3 业务绩效·客户投诉 −3「态度差」\n"
        "  #4 人事考核·迟到 −1\n"
        "总分 86.4（B）"
    )
    assert await report(app, "/me") == card


async def test_my_score_in_private_chat(app: App):
    await bind(app)
    await report(app, "/付费软文 https://example.com/a")
    (reply,) = await say(app, private_event("/我的绩效", ZHANG))
    assert reply == (
        "📋 张三 2026-11 绩效\n"
        "人事考核 10/10\n"
        "业务绩效 50/50\n"
        "订单绩效 30/30\n"
        "推广绩效 1/10\n"
        "  软文 0/8 · 付费软文 1/2 · 自媒体 0/8 · 好友 0/60 · 朋友圈 0/20\n"
        "总分 91.0（A）"
    )


async def test_my_score_for_stranger_in_private_chat_is_refused(app: App):
    await bind(app)
    (reply,) = await say(app, private_event("/我的绩效", 39999))
    assert reply.startswith("❌ 你还不在任何团队里")


async def test_self_report_in_private_chat_is_refused(app: App):
    await bind(app)
    await report(app, "/朋友圈")
    (reply,) = await say(app, private_event("/软文 https://example.com/a", ZHANG))
    assert reply.startswith("❌ 请在已绑定的群里使用这个命令")
    assert len(await entries()) == 1


async def test_my_score_with_bad_month_is_refused(app: App):
    await bind(app)
    await report(app, "/朋友圈")
    reply = await report(app, "/我的绩效 明年")
    assert reply.startswith("❌ 月份 明年 无效")


async def test_ranking_orders_by_total_highest_first(app: App):
    await bind(app)
    for i in range(8):
        await report(app, f"/软文 https://example.com/z{i}", ZHANG)
    await report(app, "/软文 https://example.com/l", LI)
    await report(app, "/朋友圈", WANG)
    await said(app, ["/投诉 ", at(WANG)], OWNER, role="owner")
    await said(app, ["/订单纠纷 ", at(LI)], OWNER, role="owner")
    reply = await report(app, "/排行")
    # 张三 10+50+30+2 = 92; 李四 10+50+27+0.25 = 87.25; 王五 10+47+30+0.1 = 87.1
    assert reply == (
        "🏆 「客服一组」2026-11 排行\n"
        "名次 姓名 人事/业务/订单/推广 总分 等级\n"
        "1. 张三 10/50/30/2 92.0 A\n"
        "2. 李四 10/50/27/0.3 87.3 B\n"
        "3. 王五 10/47/30/0.1 87.1 B"
    )
    assert await report(app, "/rank 本月") == reply
    assert await report(app, "/排行 2026-10") == "「客服一组」2026-10 还没有人上榜"


# ---- the hot path (issue 14) ------------------------------------------------------------------


async def test_a_self_report_runs_a_fixed_small_number_of_statements(
    app: App, monkeypatch: pytest.MonkeyPatch
):
    """One `/软文` of a registered agent, from event to reply, is one transaction (the
    group's binding is cached). Why each statement:

    SQLite: BEGIN IMMEDIATE (the bot issues it: writers queue instead of failing), then
    the message claim (INSERT … ON CONFLICT DO NOTHING: a redelivery writes nothing).
    PostgreSQL: the team's advisory lock (writes of a team one at a time) and the claim in
    one statement (WITH lock … INSERT), sent with the BEGIN in one round trip (psycopg's
    pipeline, past SQLAlchemy's execute: `bot.door._with_begin`). Then one SELECT for the
    speaker's membership and every rule (settled month, duplicate link, daily cap) joined
    to the agent's month so far (the reply's score), the entry (INSERT … RETURNING id) and its audit row — on
    PostgreSQL one statement (WITH … INSERT), and no ping of a connection in steady use."""
    from sqlalchemy import event

    from bot import db, door, runtime

    # The month's rules are remembered RULES_TTL (5 s); a loaded machine may take longer
    # between the two reports, and then reads them again (two SELECTs): not the hot path.
    monkeypatch.setattr(runtime, "RULES_TTL", 3600.0)
    await bind(app)
    await report(app, "/软文 https://example.com/warm/1")
    statements: list[str] = []
    threads: set[str] = set()

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement.split()[0].upper())
        threads.add(threading.current_thread().name)

    real_first = door._with_begin

    def first(conn, statement, params):
        record(conn, None, str(statement.compile(dialect=conn.dialect)))
        return real_first(conn, statement, params)

    monkeypatch.setattr(door, "_with_begin", first)
    sync_engine = db.write_engine()
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        reply = await report(app, "/软文 https://example.com/hot/2")
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    assert reply.startswith("✅ #2 自建渠道软文 已记录（本月 2/8"), reply
    expected = {
        "sqlite": ["BEGIN", "INSERT", "SELECT", "INSERT", "INSERT"],
        "postgresql": ["WITH", "SELECT", "WITH"],
    }[db.engine().dialect.name]
    assert statements == expected
    if db.engine().dialect.name == "sqlite":  # the whole unit in one hop, on the writer
        assert len(threads) == 1
        assert threads.pop().startswith("kpi-sqlite-writer")
