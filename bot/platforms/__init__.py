"""Platform glue: everything the bot must know about one chat platform, in one module each.

The rest of the bot speaks uniseg (`nonebot_plugin_alconna.uniseg`: `UniMessage`, `Text`,
`At`, `Image`, `File`, `Target`) and uninfo (`nonebot_plugin_uninfo`) and asks this package
for the rest. No module outside `bot/platforms/` (and the adapter package `adapters/`)
imports a specific adapter (`nonebot.adapters.onebot`, `.milky`, `.qq`, `.feishu`, `.wecom`);
`tests/test_platform_layers.py` checks it.

A platform module (`onebot_v11.py`, `onebot_v12.py`, `milky.py`, `qq.py`, `feishu.py`,
`wecom.py`) defines a subclass of `Platform` and calls `register(TheirPlatform())` at import;
`bot/platforms/__init__.py` imports the modules whose adapter is installed (`_MODULES`), and
`bot.app` registers the adapters the configuration asks for (`register_adapters`), then
calls each one's `setup(driver)`. A module provides:

- `adapter`: the adapter's `get_name()` ("OneBot V11", "Milky", "QQ", "Feishu"…), the key
  of the registry (`of_bot`, `of_adapter`), and the `adapter` stored in a group binding;
  `adapter_type`: its Adapter class (a subclass, like nonebug's test adapters, is found
  by it). `register(platform, factory)`: `factory(config)` returns the Adapter class when
  the configuration asks for the platform (e.g. `QQ_BOTS` set), else None.
- `caps`: `Caps`, what the platform can and cannot do (no QQ numbers, no private message to
  a member, proactive sends refused, mentions not delivered, no group files). The bot
  reads `numeric_ids`, `names_in_events`, `private_to_member`, `proactive`, `group_files`
  and `private_hint`, never the adapter's type; `mentions`, `private_needs_friend` and
  `member_lookup` describe the platform for the tests and the README (the glue's own
  `member` / `send_private` answer accordingly).
- `identity(bot, event)`: the stored platform string of the event's users (`qq` for every
  route whose users are QQ numbers: OneBot v11 and Milky; `v12.<declared>` for OneBot v12;
  `qqbot` for the official QQ API's openids; …). Two platforms share a string only when
  their user ids name the same people: one never lets a user impersonate another's
  (`bot.identity`). `bot_identity(bot)` is the same for a bot with no event at hand.
- `async describe(bot, event)`: the platform-neutral facts of a message event (`Facts`), or
  None for an event that is not a group or private message. The default reads uninfo's
  `get_session` (user, scene, member nick and role) for a platform added without its own;
  the six platforms here read their events themselves. OneBot v11, v12 and Milky override it
  and read the same fields from the event itself, because uninfo keeps a session 300 s
  (a demoted admin would keep their rights that long: SPEC §2 reads the role at every
  command) and on OneBot v11 asks `get_group_info` and `get_group_member_info` for each
  new speaker (two round trips on the hot path). A platform whose events carry no name
  says so (`Facts.sender_name == user_id`; the bot then asks `member`).
- `quoted(bot, event, group_id)`: the message this one replies to (`Quoted`), only when it
  is a message of this same chat; None otherwise.
- `member(bot, group_id, user_id, fresh=False)`: `MemberInfo` (display name, role "owner"
  / "admin" / "member") of someone in the group; None when they are not in it, or the
  platform cannot tell. Raises nothing. `fresh`: bypass the implementation's cache (a
  right checked now, `bot.grouprole`).
- `in_group(bot, group_id)`: the account is in this group (a scheduled send picks an
  account that is, `bot.send.pick_bot`).
- `send_group(bot, group_id, message)`, `send_private(bot, user_id, message, via_group)`:
  send a message already exported by uniseg (`UniMessage.export(bot)`: the platform's own
  `Message`, pictures uploaded); raise when the platform refuses (not a friend, proactive
  send refused). The defaults send through uniseg's exporter to a `Target`.
- `upload_group_file(bot, group_id, name, data)`: False where the platform has no group
  files.
- `setup(driver)`: start-up and shutdown hooks once the adapter is registered (Milky,
  official QQ and Feishu: one kept-alive HTTP session, `keep_alive`).
- `convert(bot, seg)`: a segment this platform reads itself before uniseg's builder does
  (Feishu: a picture with the address it is fetched from); None: the builder's.
- `async picture(url)`: the bytes of an evidence picture at an address only this platform
  can fetch (with its credentials: Feishu's message resource API), None for an address
  that is not its own; `bot.evidence` asks `platform_picture` before fetching a URL.
- `caps.private_hint`: what a person does so the bot can write to them privately, for a
  refused private message (`/后台`): `private_hint(bot)`.

Messages in: `bot.dispatch.match_command` finds the command in the adapter's own message
(the first segment whose `is_text()` and `data["text"]`), then turns what follows it into
uniseg segments with `to_uniseg` (the adapter's uniseg builder, one segment at a time).
The defaults below serve a platform uniseg and uninfo cover well; a module overrides what
differs.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from nonebot import logger

if TYPE_CHECKING:
    from nonebot.adapters import Adapter, Bot, Event, Message, MessageSegment
    from nonebot.drivers import Driver, HTTPClientSession

FRIEND_HINT = "请先加机器人为好友，再私聊机器人发 /后台"


@dataclass(frozen=True)
class Caps:
    """What a platform can do. Every False is handled by the bot, never hidden."""

    numeric_ids: bool = True  # users are numbers people can type (QQ numbers)
    mentions: bool = True  # an @ arrives as a mention with the user's id
    names_in_events: bool = True  # a message carries the sender's display name
    private_to_member: bool = True  # the bot can message a group member privately
    private_needs_friend: bool = False  # …only a friend (Milky), else refused
    proactive: bool = True  # the bot may send to a group without replying (monthly post)
    group_files: bool = False  # a file can be put in the group (the workbook)
    member_lookup: bool = True  # `member` answers whether someone is in the group
    private_hint: str = FRIEND_HINT  # how a person lets the bot write to them privately


@dataclass
class Facts:
    """The platform-neutral facts of one message event."""

    platform: str
    adapter: str
    user_id: str
    group_id: str | None
    message_id: str
    sender_name: str
    sender_role: str | None
    self_id: str
    to_me: bool


@dataclass(frozen=True)
class Quoted:
    """The message a message replies to, in the same chat."""

    message_id: str
    user_id: str | None  # its sender, when known
    text: str = ""  # its text, when the platform gave it


@dataclass(frozen=True)
class MemberInfo:
    name: str  # display name (group card, nickname), or "" when the platform gives none
    role: str | None  # "owner", "admin", "member"


class Bounded(OrderedDict):
    """A small LRU map: the newest `limit` keys (what a platform remembers of its chats)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class Platform(ABC):
    """One chat platform (see the module docstring). Each says how its users are named
    (`identity`); everything else has a default through uninfo / uniseg."""

    adapter: str = ""
    adapter_type: type[Adapter] | None = None  # also found for a subclass (nonebug's fakes)
    caps: Caps = Caps()

    @abstractmethod
    def identity(self, bot: Bot, event: Event | None = None) -> str:
        """The platform part of a person's identity (`qq`, `qqbot.<AppID>`, `wecom`, …)."""

    def bot_identity(self, bot: Bot) -> str:
        return self.identity(bot, None)

    async def describe(self, bot: Bot, event: Event) -> Facts | None:
        """Through uninfo (see the module docstring for who overrides it and why)."""
        from nonebot_plugin_uninfo import SceneType, get_session

        if event.get_type() != "message":
            return None
        session = await get_session(bot, event)
        if session is None or session.scene.type not in (SceneType.PRIVATE, SceneType.GROUP):
            return None
        member = session.member
        role = member.role.id.lower() if member is not None and member.role else None
        name = (member.nick if member else None) or session.user.nick or session.user.name
        return Facts(
            platform=self.identity(bot, event),
            adapter=self.adapter,
            user_id=session.user.id,
            group_id=session.scene.id if session.scene.is_group else None,
            message_id=_message_id(event),
            sender_name=name or session.user.id,
            sender_role=UNINFO_ROLES.get(role or "", role),
            self_id=str(bot.self_id),
            to_me=event.is_tome(),
        )

    def quoted(self, bot: Bot, event: Event, group_id: str | None) -> Quoted | None:
        return None

    async def member(
        self, bot: Bot, group_id: str, user_id: str, *, fresh: bool = False
    ) -> MemberInfo | None:
        return None

    async def in_group(self, bot: Bot, group_id: str) -> bool:
        return False

    async def send_group(self, bot: Bot, group_id: str, message: Message) -> None:
        await _send_to(bot, target_of(group_id, False, bot, self.adapter), message)

    async def send_private(
        self, bot: Bot, user_id: str, message: Message, via_group: str | None = None
    ) -> None:
        await _send_to(bot, target_of(user_id, True, bot, self.adapter), message)

    async def upload_group_file(self, bot: Bot, group_id: str, name: str, data: bytes) -> bool:
        return False

    def setup(self, driver: Driver) -> None:  # noqa: B027 - a hook most platforms skip
        """Once its adapter is registered (`bot.app`): start-up and shutdown hooks (none
        by default)."""

    def convert(self, bot: Bot, seg: MessageSegment) -> Any | None:
        """The uniseg segment of `seg` where this platform reads it itself, else None."""
        return None

    async def picture(self, url: str) -> bytes | None:
        """The picture at `url` when the address is this platform's own (fetched with its
        credentials; raises when that fails), None when it is not."""
        return None


def private_hint(bot: Bot) -> str:
    """What to do so the bot can write to you privately on `bot`'s platform (the reply to a
    refused private message: `/后台` asked in a group)."""
    platform = of_bot(bot)
    return platform.caps.private_hint if platform is not None else FRIEND_HINT


async def platform_picture(url: str) -> bytes | None:
    """The evidence picture at `url` if a platform owns the address (see `Platform.picture`),
    None when none does (the address is fetched as any other)."""
    for platform in _registry.values():
        found = await platform.picture(url)
        if found is not None:
            return found
    return None


def keep_alive(
    driver: Driver,
    adapter_type: type[Adapter],
    install: Callable[[Adapter, HTTPClientSession], None] | None = None,
) -> None:
    """One kept-alive HTTP session for an adapter's API calls, opened at the driver's
    start-up and closed at its shutdown. nonebot's `Adapter.request` (and Feishu's
    `send_request`) go through `driver.request`, which opens a new httpx client (an SSL
    context, a TCP connection) for every call: ~60 ms of a reply's round trip, measured
    over tools/milky_sim.py. `install(adapter, session)` points the adapter's calls at the
    session; the default replaces `adapter.request`. Nothing happens on a driver without an
    HTTP client (the adapter then refuses to call out anyway)."""
    import nonebot
    from nonebot.drivers import HTTPClientMixin

    session: HTTPClientSession | None = None

    def _request(adapter: Adapter, opened: HTTPClientSession) -> None:
        adapter.request = opened.request  # type: ignore[method-assign]

    @driver.on_startup
    async def _open() -> None:
        nonlocal session
        if not isinstance(driver, HTTPClientMixin):
            return
        session = driver.get_session()
        await session.setup()
        (install or _request)(nonebot.get_adapter(adapter_type), session)

    @driver.on_shutdown
    async def _close() -> None:
        nonlocal session
        if session is not None:
            await session.close()
            session = None


def target_of(chat_id: str, private: bool, bot: Bot, adapter: str):
    """uniseg's `Target` of a group or a person, reached through `bot`."""
    from nonebot_plugin_alconna.uniseg import Target

    return Target(chat_id, private=private, self_id=str(bot.self_id), adapter=adapter)


async def _send_to(bot: Bot, target: Any, message: Message) -> Any:
    from nonebot_plugin_alconna.uniseg import SerializeFailed
    from nonebot_plugin_alconna.uniseg.adapters import alter_get_exporter

    exporter = alter_get_exporter(adapter_name(bot))
    if exporter is None:
        raise SerializeFailed(f"uniseg has no exporter for {adapter_name(bot)}")
    return await exporter.send_to(target, bot, message)


UNINFO_ROLES = {"owner": "owner", "administrator": "admin", "admin": "admin", "member": "member"}


def _message_id(event: Event) -> str:
    """The event's message id as uniseg reads it for its adapter."""
    from nonebot_plugin_alconna.uniseg import get_message_id

    return str(get_message_id(event))


def to_uniseg(bot: Bot, segments: Iterable[MessageSegment]) -> list[Any]:
    """The segments as uniseg segments (`Text`, `At`, `Image`, `Reply`, `Emoji`, `Other`…),
    by the platform's `convert`, else the adapter's own uniseg builder, one at a time: a
    segment the builder cannot read (a field missing, of the wrong type: anything a client
    may send) is read again with its text fields only, else becomes an empty `Image` when
    it was a picture, `Text` when text, `Other` otherwise; never an error."""
    from nonebot_plugin_alconna.uniseg import Image, Other, Text

    builder = _builder(adapter_name(bot))
    platform = of_bot(bot)
    found: list[Any] = []
    for seg in segments:
        built = platform.convert(bot, seg) if platform is not None else None
        if built is None:
            built = _convert(builder, seg)
        if built is None and isinstance(seg.data, dict):  # again with its text fields only
            texts = {k: v for k, v in seg.data.items() if isinstance(v, str)}
            with suppress(Exception):
                built = _convert(builder, replace(seg, data=texts))
        if built is None:
            if seg.type == "image":
                built = Image()
            elif seg.is_text():
                built = Text(str(seg.data.get("text", "")))
            else:
                built = Other(seg)
        found.extend(built if isinstance(built, list) else [built])
    return found


def _convert(builder: Any, seg: MessageSegment) -> Any:
    if builder is None:
        return None
    try:
        return builder.convert(seg)
    except Exception:
        return None


@lru_cache(maxsize=32)
def _builder(adapter: str) -> Any:
    from nonebot_plugin_alconna.uniseg.adapters import alter_get_builder

    return alter_get_builder(adapter)


_registry: dict[str, Platform] = {}
_by_type: dict[type, Platform | None] = {}
_factories: dict[str, Callable[[Any], type[Adapter] | None]] = {}


def register(
    platform: Platform, factory: Callable[[Any], type[Adapter] | None] | None = None
) -> Platform:
    """Add a platform. `factory(config)` (NoneBot's config: `.env` keys as lower-case
    attributes) returns the adapter class to register with the driver when the config
    asks for it, None when it does not (see `bot.app`)."""
    if platform.adapter in _registry:
        raise ValueError(f"platform {platform.adapter} registered twice")
    _registry[platform.adapter] = platform
    if factory is not None:
        _factories[platform.adapter] = factory
    return platform


def of_adapter(name: str) -> Platform | None:
    return _registry.get(name)


def of_bot(bot: Bot) -> Platform | None:
    found = _registry.get(bot.adapter.get_name())
    if found is None:
        kind = type(bot.adapter)
        if kind not in _by_type:
            _by_type[kind] = next(
                (
                    p
                    for p in _registry.values()
                    if p.adapter_type and issubclass(kind, p.adapter_type)
                ),
                None,
            )
        found = _by_type[kind]
    return found


def adapter_name(bot: Bot) -> str:
    """The adapter's name as uniseg knows it (a subclass of a known adapter, like nonebug's
    test adapters, is named after it)."""
    platform = of_bot(bot)
    return platform.adapter if platform is not None else bot.adapter.get_name()


def platforms() -> list[Platform]:
    return list(_registry.values())


def adapters_to_register(config: Any) -> list[type[Adapter]]:
    """The adapter classes the configuration asks for, in registration order."""
    found = []
    for name, factory in _factories.items():
        adapter = factory(config)
        if adapter is not None:
            found.append(adapter)
            logger.debug(f"platform {name}: adapter registered")
    return found


def register_adapters(driver: Driver) -> None:
    """Register the adapters the configuration asks for, and set their platforms up."""
    for adapter in adapters_to_register(driver.config):
        driver.register_adapter(adapter)
        platform = of_adapter(adapter.get_name())
        if platform is not None:
            platform.setup(driver)


_MODULES = ("onebot_v11", "onebot_v12", "milky", "qq", "feishu", "wecom")


def _load() -> None:
    for name in _MODULES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ImportError as e:  # its adapter is not installed
            logger.info(f"platform {name} not available: {e}")


_load()
