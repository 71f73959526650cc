"""SPEC §6: any text and any message segments get a ✅/❌/information reply or silence,
never an unhandled error, and a refused command writes nothing."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nonebot.adapters.onebot.v11 import Message, MessageSegment
from nonebug import App
from sqlalchemy import func, select

from bot import db
from models.tables import AuditLog, Entry, Member
from tests.utils import OWNER, bind, deliver, group_event, say

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
