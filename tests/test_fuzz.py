"""SPEC §6: any text and any message segments get a ✅/❌/information reply or silence,
never an unhandled error, and a refused command writes nothing."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nonebot.adapters.onebot.v11 import Message, MessageSegment
from nonebug import App
from sqlalchemy import func, select

from bot import db
from models.tables import AuditLog, Entry, Member
from tests.utils import OWNER, bind, deliver, group_event, say, stored_message

COMMANDS = [
    "软文", "付费软文", "自媒体", "加好友", "朋友圈", "报", "撤回", "我的绩效", "排行",
    "扣分", "加分", "投诉", "严重投诉", "请假", "撤销", "绩效", "明细", "月报", "结算",
    "入职", "离职", "主管", "申诉", "驳回", "未报", "提醒", "审计", "重开",
]  # fmt: skip
WORDS = st.sampled_from(
    ["投诉", "迟到", "软文", "#1", "#999999999999", "2026-13", "上月", "３", "-1", "0",
     "1e5", "100001", "200.555", "https://e.com/x", "http://", "张三", "¥200", "罚款",
     "99999999999999999999", "\u200b", "'; DROP TABLE entry;--", "\n", "💥"]
)  # fmt: skip
SEGMENTS = st.one_of(
    WORDS.map(MessageSegment.text),
    st.text(max_size=12).map(MessageSegment.text),
    st.sampled_from(["30001", "all", "99999", "1", "abc"]).map(MessageSegment.at),
    st.just(MessageSegment("image", {"file": "x.image", "url": "http://127.0.0.1:9/x"})),
    st.just(MessageSegment("face", {"id": "1"})),
    st.just(MessageSegment("reply", {"id": "5"})),
)


async def counts() -> tuple[int, int, int]:
    async with db.reading() as s:
        return tuple(
            [
                (await s.execute(select(func.count()).select_from(t))).scalar()
                for t in (Entry, AuditLog, Member)
            ]
        )  # type: ignore[return-value]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.sampled_from(COMMANDS),
    segments=st.lists(SEGMENTS, max_size=5),
    role=st.sampled_from(["member", "owner"]),
)
async def test_any_input_gets_a_clear_reply_and_a_refusal_writes_nothing(
    app: App, command, segments, role
):
    if (await counts())[2] == 0:
        await bind(app)
        await say(app, group_event("/软文 https://e.com/seed", 30001, card="张三"))
    message = Message(MessageSegment.text(f"/{command} ")) + Message(segments)
    before = await counts()
    event = group_event(message, OWNER if role == "owner" else 30001, role=role)
    out = await deliver(event)
    reply = out[0] if out else ""
    assert "出错了" not in reply, (message, reply)
    if reply.startswith("❌"):
        assert await counts() == before, (message, reply)


# ---- SPEC §3 "What real clients send": whatever QQ puts before a command ---------------------

QUOTED = 424_242  # a message of 张三 that get_msg can still fetch; any other id is unreachable
PREFIX = st.one_of(
    st.just(MessageSegment.reply(QUOTED)),
    st.integers(1, 10**9).map(MessageSegment.reply),
    st.sampled_from(["99999", "30001", "30002", "10003"]).map(MessageSegment.at),
    st.just(MessageSegment("image", {"file": "p.image", "url": "http://127.0.0.1:9/p.png"})),
    st.sampled_from(["14", "178"]).map(MessageSegment.face),
    st.sampled_from([" ", "\n", " \n  "]).map(MessageSegment.text),
)
VALID = [  # (speaker, role, command): each gets exactly one reply
    (30001, "member", "/加好友 3"),
    (30001, "member", "／加好友 ２"),
    (30001, "member", "/朋友圈 今日更新"),
    (30001, "member", "/报 朋友圈"),
    (30001, "member", "/我的绩效"),
    (30001, "member", "/排行"),
    (30001, "member", "/考核表"),
    (30001, "member", "/帮助 投诉"),
    (OWNER, "owner", "/投诉 回复慢"),
    (OWNER, "owner", "/迟到"),
    (OWNER, "owner", "/绩效"),
    (OWNER, "owner", "/月报"),
    (OWNER, "owner", "/未报"),
    (OWNER, "owner", "/成员"),
]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(prefix=st.lists(PREFIX, min_size=1, max_size=4), valid=st.sampled_from(VALID))
async def test_any_prefix_qq_sends_before_a_command_gets_exactly_one_reply(app: App, prefix, valid):
    if (await counts())[2] == 0:
        await bind(app)
        await say(app, group_event("/朋友圈", 30001, card="张三"))
    user, role, command = valid
    message = Message(prefix) + MessageSegment.text(command)
    quoted = stored_message(QUOTED, 30001, "亲，稍等", card="张三")
    out = await deliver(group_event(message, user, role=role), [quoted])
    assert len(out) == 1, (message, out)
    assert "出错了" not in out[0], (message, out)
