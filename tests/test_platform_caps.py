"""What each platform can and cannot do (`bot.platforms.Caps`), and how the chat layer
handles what it cannot: who a platform's users are (identity), a private message where
the platform has none, a group send it does not allow (the post is held), a picture it
cannot take (the text still goes)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from models.tables import GroupBinding


def milky_event(scene: str = "group", segments: list | None = None, **data):
    from nonebot.adapters.milky import Adapter

    body = {
        "message_scene": scene,
        "peer_id": 70001 if scene == "group" else 30001,
        "message_seq": 11,
        "sender_id": 30001,
        "time": 1_700_000_000,
        "segments": segments or [{"type": "text", "data": {"text": "/朋友圈"}}],
        **data,
    }
    if scene == "group":
        body["group"] = {
            "group_id": 70001,
            "group_name": "客服群",
            "member_count": 3,
            "max_member_count": 500,
        }
        body.setdefault(
            "group_member",
            {
                "user_id": 30001,
                "nickname": "zhang",
                "sex": "unknown",
                "group_id": 70001,
                "card": "张三",
                "title": "",
                "level": 1,
                "role": "admin",
                "join_time": 0,
                "last_sent_time": 0,
            },
        )
    else:
        body["friend"] = {
            "user_id": 30001,
            "nickname": "zhang",
            "sex": "unknown",
            "qid": "",
            "remark": "",
            "category": {"category_id": 0, "category_name": "好友"},
        }
    return Adapter.json_to_event(
        {"event_type": "message_receive", "time": 1_700_000_000, "self_id": 99990, "data": body}
    )


def fake_bot(adapter: str, self_id: str = "99990"):
    """A bot of `adapter` for code that reads only its name and id."""
    return SimpleNamespace(self_id=self_id, adapter=SimpleNamespace(get_name=lambda: adapter))


def test_each_platform_says_what_it_cannot_do():
    from bot.platforms import of_adapter

    v11, v12, milky = (of_adapter(n) for n in ("OneBot V11", "OneBot V12", "Milky"))
    assert v11 is not None
    assert v12 is not None
    assert milky is not None
    assert (v11.caps.numeric_ids, v11.caps.group_files, v11.caps.private_needs_friend) == (
        True,
        True,
        False,
    )
    assert (v12.caps.numeric_ids, v12.caps.names_in_events) == (False, False)
    assert (milky.caps.numeric_ids, milky.caps.private_needs_friend) == (True, True)


async def test_a_milky_user_is_the_qq_user_of_the_same_number():
    from bot.platforms import of_adapter

    milky, v11 = of_adapter("Milky"), of_adapter("OneBot V11")
    assert milky is not None
    assert v11 is not None
    facts = await milky.describe(fake_bot("Milky"), milky_event())
    assert facts is not None
    assert (facts.platform, facts.user_id, facts.group_id) == ("qq", "30001", "70001")
    assert (facts.sender_name, facts.sender_role, facts.message_id) == ("张三", "admin", "11")
    assert facts.platform == v11.identity(fake_bot("OneBot V11"))
    private = await milky.describe(fake_bot("Milky"), milky_event("friend"))
    assert private is not None
    assert (private.group_id, private.sender_role) == (None, None)


def test_a_v12_user_is_never_the_qq_user_of_the_same_id():
    from bot.platforms import of_adapter

    v12 = of_adapter("OneBot V12")
    assert v12 is not None
    bot = SimpleNamespace(platform="qq", self_id="1", adapter=SimpleNamespace())
    assert v12.bot_identity(bot) == "v12.qq"


async def test_milky_mentions_and_pictures_read_as_targets_and_evidence():
    from bot.dispatch import match_command
    from bot.parse import Args

    segments = [
        {"type": "image", "data": {"resource_id": "r1", "temp_url": "http://x.test/r1",
                                   "width": 1, "height": 1, "sub_type": "normal"}},
        {"type": "text", "data": {"text": "/扣分 "}},
        {"type": "mention", "data": {"user_id": 30002, "name": "李四"}},
        {"type": "mention", "data": {"user_id": 99990, "name": "机器人"}},
        {"type": "text", "data": {"text": " 迟到"}},
    ]  # fmt: skip
    event = milky_event(segments=segments)
    bot = fake_bot("Milky")
    found = match_command(bot, event.get_message())
    assert found is not None
    route, arg = found
    assert route.cmd.alias == "deduct"
    args = Args.from_message(arg, "99990")
    assert args.mentions == ["30002"]  # the bot's own @ is not a target
    assert args.words == ["迟到"]
    assert [(i.url, i.file) for i in args.images] == [("http://x.test/r1", "r1")]


@pytest.fixture
def limited():
    """A platform that has no private messages to group members and no proactive sends."""
    from bot import platforms
    from bot.platforms import Caps, Platform

    class Limited(Platform):
        adapter = "Limited"
        caps = Caps(private_to_member=False, proactive=False, numeric_ids=False)
        calls: list = []  # noqa: RUF012

        def identity(self, bot, event=None):
            return "limited"

        async def send_group(self, bot, group_id, message):
            self.calls.append(("group", group_id))

        async def send_private(self, bot, user_id, message, via_group=None):
            self.calls.append(("private", user_id))

    platform = platforms.register(Limited())
    yield platform
    platforms._registry.pop("Limited")


async def test_a_private_message_where_the_platform_has_none_is_refused_unsent(limited):
    from bot.send import CannotSend, send_direct

    with pytest.raises(CannotSend, match="不能私聊"):
        await send_direct(fake_bot("Limited"), "u1", ["🔑 链接"], via_group="g1")
    assert limited.calls == []


async def test_a_group_send_the_platform_does_not_allow_is_refused_unsent(
    limited, monkeypatch: pytest.MonkeyPatch
):
    """`plugins.monthly.flush_posts` holds a post whose send raised and tells the
    superusers (tests/test_monthly.py), as for any refused send."""
    import nonebot

    from bot.send import CannotSend, send_group

    bot = fake_bot("Limited", "acc1")
    monkeypatch.setattr(nonebot, "get_bots", lambda: {"acc1": bot})
    binding = GroupBinding(
        platform="limited",
        group_id="g1",
        team_id=1,
        adapter="Limited",
        self_id="acc1",
        bound_at=datetime(2026, 1, 1),
        bound_by="x",
    )
    with pytest.raises(CannotSend, match="不允许机器人主动发群消息"):
        await send_group(binding, ["月报"])
    assert limited.calls == []


async def test_a_picture_the_platform_cannot_take_is_left_out_and_the_text_goes(
    monkeypatch: pytest.MonkeyPatch,
):
    from nonebot_plugin_alconna.uniseg import UniMessage

    from bot.replies import Picture, deliver

    exported: list[str] = []

    async def export(self, bot=None, fallback=True, adapter=None):
        if any(type(s).__name__ == "Image" for s in self):
            raise RuntimeError("upload_file failed")
        exported.append(str(self))
        return str(self)

    monkeypatch.setattr(UniMessage, "export", export)
    sent: list = []

    async def send(message):
        sent.append(message)

    await deliver(fake_bot("OneBot V12"), ["月报", Picture(b"\x89PNG")], send)
    assert sent == ["月报"]


async def test_a_qq_group_bound_over_onebot_v11_is_served_by_the_same_account_over_milky(
    monkeypatch: pytest.MonkeyPatch,
):
    """A team moving from NapCat to Lagrange V2 keeps its group: the post goes out."""
    import nonebot

    from bot.send import NoBotOnline, pick_bot

    milky = fake_bot("Milky", "12345")
    binding = GroupBinding(
        platform="qq",
        group_id="70001",
        team_id=1,
        adapter="OneBot V11",
        self_id="12345",
        bound_at=datetime(2026, 1, 1),
        bound_by="x",
    )
    monkeypatch.setattr(nonebot, "get_bots", lambda: {"12345": milky})
    assert await pick_bot(binding) is milky
    binding.platform = "v12.qq"  # the v12 QQ user of the same id is someone else
    with pytest.raises(NoBotOnline):
        await pick_bot(binding)


def test_milky_is_registered_for_its_clients_and_refuses_a_webhook_without_a_token():
    from nonebot.adapters.milky import Adapter

    from bot.doors import ExposureError
    from bot.platforms.milky import _factory

    assert _factory(SimpleNamespace()) is None
    clients = [{"host": "127.0.0.1", "port": 3000, "access_token": "t"}]
    assert _factory(SimpleNamespace(milky_clients=clients)) is Adapter
    hook = {"host": "127.0.0.1", "port": 3000, "access_token": "t"}
    assert _factory(SimpleNamespace(milky_webhook=hook)) is Adapter
    with pytest.raises(ExposureError, match="MILKY_WEBHOOK"):
        _factory(SimpleNamespace(milky_webhook={"host": "127.0.0.1", "port": 3000}))


def test_official_qq_is_registered_for_its_bots_and_refuses_unsigned_webhooks():
    """The adapter serves `/qq/webhook` even for gateway bots: with the signature check off
    anyone could post events there as anyone."""
    from nonebot.adapters.qq import Adapter

    from bot.doors import ExposureError
    from bot.platforms.qq import _factory

    bots = [{"id": "102000001", "secret": "s", "use_websocket": False}]
    assert _factory(SimpleNamespace()) is None
    assert _factory(SimpleNamespace(qq_bots=bots)) is Adapter
    assert _factory(SimpleNamespace(qq_bots=bots, qq_verify_webhook=True)) is Adapter
    for off in (False, "false", "0"):
        with pytest.raises(ExposureError, match="QQ_VERIFY_WEBHOOK"):
            _factory(SimpleNamespace(qq_bots=bots, qq_verify_webhook=off))
