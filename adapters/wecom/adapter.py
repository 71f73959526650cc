"""The adapter: one `wecom_aibot_sdk.WSClient` per robot of `WECOM_BOTS`.

The SDK speaks the protocol: it connects to `WECOM_WS_URL`, authenticates with
`aibot_subscribe` (bot_id, secret), pings every `WECOM_HEARTBEAT_INTERVAL` ms (two pings
without an answer close the connection), reconnects with a doubling delay, answers each
frame's ack by `req_id`, uploads media in chunks and downloads/decrypts files. The adapter
turns its callbacks into NoneBot events and its calls into `Bot` API calls:

- `authenticated` → the bot is connected (`bot_connect`); `disconnected` → disconnected,
  until the SDK's next successful authentication (the same `Bot` object again);
- `message` (an `aibot_msg_callback`) → pictures downloaded and decrypted, then a
  `GroupMessageEvent` / `PrivateMessageEvent`; `event` → `NoticeEvent`;
- APIs: `reply(req_id, body)`, `send_message(chatid, body)`, `upload_media(data, type,
  filename)`, `download_file(url, aeskey)`.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from typing import Any

from nonebot import get_plugin_config, logger
from nonebot.adapters import Adapter as BaseAdapter
from nonebot.drivers import Driver
from typing_extensions import override
from wecom_aibot_sdk import (
    WSAuthFailureError,
    WSClient,
    WsConnectionManager,
    WSReconnectExhaustedError,
)

from .bot import Bot
from .config import BotInfo, Config
from .event import GroupMessageEvent, MessageEvent, NoticeEvent, PrivateMessageEvent
from .exception import ApiNotAvailable, WeComAdapterException, from_sdk
from .message import Message, MessageSegment

_LEADING_AT = re.compile(r"^\s*@\S+\s*")
_TRAILING_AT = re.compile(r"\s*@\S+\s*$")


class _SdkLog:
    """The SDK's logger protocol onto NoneBot's logger (its info is our debug: it tells of
    every download and upload)."""

    def __init__(self, bot_id: str) -> None:
        self.prefix = f"WeCom {bot_id}: "

    def _line(self, message: str, args: tuple[Any, ...]) -> str:
        return self.prefix + " ".join([message, *map(str, args)])

    def debug(self, message: str, *args: Any) -> None:
        logger.debug(self._line(message, args))

    def info(self, message: str, *args: Any) -> None:
        logger.debug(self._line(message, args))

    def warn(self, message: str, *args: Any) -> None:
        logger.warning(self._line(message, args))

    def error(self, message: str, *args: Any) -> None:
        logger.error(self._line(message, args))


class _Manager(WsConnectionManager):
    """The SDK's connection manager, reconnecting also after a *clean* close.

    wecom_aibot_sdk 1.0.8 reads frames with `async for` over the websockets connection,
    which ends without an exception when the connection is closed normally (close code
    1000/1001: the server going away politely, and the SDK's own close after an auth
    failure or two unanswered pings). The SDK then neither reports the disconnection nor
    reconnects: the robot would stay silent until restarted. This treats the end of the
    loop like the SDK treats a dropped connection."""

    async def _receive_loop(self) -> None:
        ws = self._ws
        await super()._receive_loop()
        if ws is not None and self._ws is ws and not self._is_manual_close:
            reason = f"closed ({ws.close_code} {ws.close_reason or ''})".strip()
            self._logger.warn(f"WebSocket connection {reason}")
            self._ws = None
            self._stop_heartbeat()
            self._clear_pending_messages(f"WebSocket connection {reason}")
            if self.on_disconnected:
                self.on_disconnected(reason)
            await self._schedule_reconnect()


def _client(info: BotInfo, cfg: Config) -> WSClient:
    client = WSClient(
        info.bot_id,
        info.secret,
        ws_url=cfg.wecom_ws_url,
        heartbeat_interval=cfg.wecom_heartbeat_interval,
        reconnect_interval=cfg.wecom_reconnect_interval,
        max_reconnect_attempts=cfg.wecom_max_reconnect_attempts,
        request_timeout=cfg.wecom_request_timeout,
        logger=_SdkLog(info.bot_id),
    )
    client._ws_manager.__class__ = _Manager  # same state, the loop above (see _Manager)
    return client


def strip_bot_mention(text: str, name: str | None) -> str:
    """A group message's text without the "@<robot name>" the platform keeps in it.

    With the name known, its first "@name" (followed by a space or the end) goes, wherever
    it is. Without it, a leading "@word", else a trailing one: a group message reaches the
    robot only when it is @-ed, so one of them is the robot."""
    if name:
        m = re.search(rf"@{re.escape(name)}(?=\s|$)\s*", text)
        if m:
            return (text[: m.start()] + text[m.end() :]).strip()
        return text.strip()
    if _LEADING_AT.match(text):
        return _LEADING_AT.sub("", text, count=1).strip()
    return _TRAILING_AT.sub("", text, count=1).strip()


class Adapter(BaseAdapter):
    @override
    def __init__(self, driver: Driver, **kwargs: Any) -> None:
        super().__init__(driver, **kwargs)
        config = kwargs.get("config")
        self.wecom_config: Config = config if config is not None else get_plugin_config(Config)
        """`WECOM_*` from NoneBot's config, or a `Config` given to `register_adapter`."""
        self.all_bots: dict[str, Bot] = {}
        """Every configured robot, connected or not (`self.bots`: the connected ones)."""
        self.tasks: set[asyncio.Task] = set()
        self.driver.on_startup(self.startup)
        self.driver.on_shutdown(self.shutdown)

    @classmethod
    @override
    def get_name(cls) -> str:
        return "WeCom"

    async def startup(self) -> None:
        """Create a client per robot and start connecting (the SDK retries by itself)."""
        for info in self.wecom_config.wecom_bots:
            if info.bot_id in self.all_bots:
                continue
            bot = self._make_bot(info)
            task = asyncio.create_task(bot.client.connect())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def shutdown(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for bot in list(self.all_bots.values()):
            try:
                await bot.client.disconnect()
            except Exception as e:
                logger.warning(f"WeCom {bot.self_id}: disconnect failed: {e!r}")
            self._offline(bot, "shutdown")
        self.all_bots.clear()

    def _make_bot(self, info: BotInfo) -> Bot:
        cfg = self.wecom_config
        if not info.name:
            logger.warning(
                f"WeCom {info.bot_id}: no robot name in WECOM_BOTS; the robot's @ is taken "
                "to be the first (or last) @word of a group message"
            )
        client = _client(info, cfg)
        bot = Bot(self, info.bot_id, info, client)
        self.all_bots[info.bot_id] = bot
        client.on("authenticated", lambda: self._online(bot))
        client.on("disconnected", lambda reason: self._offline(bot, reason))
        client.on("error", lambda error: self._error(bot, error))
        client.on("message", lambda frame: self._on_message(bot, frame))
        client.on("event", lambda frame: self._on_event(bot, frame))
        client.on("event.disconnected_event", lambda frame: self._replaced(bot))
        return bot

    def _online(self, bot: Bot) -> None:
        if bot.self_id not in self.bots:
            self.bot_connect(bot)
            logger.info(f"WeCom {bot.self_id}: connected")

    def _offline(self, bot: Bot, reason: str) -> None:
        if bot.self_id in self.bots:
            self.bot_disconnect(bot)
            logger.warning(f"WeCom {bot.self_id}: disconnected ({reason})")

    def _replaced(self, bot: Bot) -> None:
        logger.error(
            f"WeCom {bot.self_id}: 另一个连接顶替了本连接（一个智能机器人同时只能有一个长连接），"
            "本进程不再重连；请只让一个进程使用这个机器人"
        )

    def _error(self, bot: Bot, error: Exception) -> None:
        if isinstance(error, WSAuthFailureError):
            logger.error(f"WeCom {bot.self_id}: 认证一直失败，已停止重连；请检查 bot_id 与 secret")
        elif isinstance(error, WSReconnectExhaustedError):
            logger.error(f"WeCom {bot.self_id}: 重连次数用尽，已停止重连")
        else:
            logger.warning(f"WeCom {bot.self_id}: {error}")

    async def _on_message(self, bot: Bot, frame: dict[str, Any]) -> None:
        try:
            event = await self.message_event(bot, frame)
        except Exception as e:
            logger.opt(exception=e).error(f"WeCom {bot.self_id}: unreadable message callback")
            return
        if event is not None:
            await bot.handle_event(event)

    async def _on_event(self, bot: Bot, frame: dict[str, Any]) -> None:
        body = frame.get("body") or {}
        event_type = (body.get("event") or {}).get("eventtype", "")
        event = NoticeEvent(
            self_id=bot.self_id,
            req_id=(frame.get("headers") or {}).get("req_id", ""),
            raw=body,
            event_type=event_type,
            user_id=(body.get("from") or {}).get("userid"),
            chat_id=body.get("chatid"),
        )
        await bot.handle_event(event)

    async def _image(self, bot: Bot, image: dict[str, Any]) -> MessageSegment:
        url, aeskey = image.get("url", ""), image.get("aeskey")
        try:
            raw = await bot.download(url, aeskey)
        except Exception as e:
            logger.warning(f"WeCom {bot.self_id}: picture not downloaded: {e}")
            return MessageSegment.received_image(None, media_url=url, aeskey=aeskey, error=str(e))
        return MessageSegment.received_image(raw, media_url=url, aeskey=aeskey)

    async def message_event(self, bot: Bot, frame: dict[str, Any]) -> MessageEvent | None:
        """The event of an `aibot_msg_callback` frame, its pictures already decrypted."""
        received = datetime.now(timezone.utc)  # the reply window runs from here
        body = frame.get("body") or {}
        msgtype = body.get("msgtype", "")
        items: list[dict[str, Any]]
        if msgtype == "mixed":
            items = list((body.get("mixed") or {}).get("msg_item") or [])
        else:
            items = [body]
        group = body.get("chattype") == "group"
        segments: list[MessageSegment | asyncio.Task] = []
        stripped = False
        for item in items:
            kind = item.get("msgtype")
            if kind == "text":
                text = (item.get("text") or {}).get("content", "")
                if group and not stripped:
                    text, stripped = strip_bot_mention(text, bot.info.name), True
                if text:
                    segments.append(MessageSegment.text(text))
            elif kind == "image":
                segments.append(asyncio.create_task(self._image(bot, item.get("image") or {})))
            elif kind in ("voice", "file", "video"):
                segments.append(MessageSegment(kind, dict(item.get(kind) or {})))
        pending = [s for s in segments if isinstance(s, asyncio.Task)]
        if pending:
            await asyncio.gather(*pending)
        message = Message([s.result() if isinstance(s, asyncio.Task) else s for s in segments])
        user_id = (body.get("from") or {}).get("userid", "")
        common = {
            "self_id": bot.self_id,
            "req_id": (frame.get("headers") or {}).get("req_id", ""),
            "time": received,
            "raw": dict(body),
            "message_id": body.get("msgid", ""),
            "user_id": user_id,
            "msgtype": msgtype,
            "message": message,
            "original_message": Message(message),
            "to_me": True,
            "quote": body.get("quote"),
        }
        if group:
            return GroupMessageEvent(chat_id=body.get("chatid", ""), **common)
        return PrivateMessageEvent(chat_id=body.get("chatid") or user_id, **common)

    @override
    async def _call_api(self, bot: Bot, api: str, **data: Any) -> Any:  # type: ignore[override]
        client = bot.client
        try:
            if api == "reply":
                return await client.reply({"headers": {"req_id": data["req_id"]}}, data["body"])
            if api == "send_message":
                return await client.send_message(data["chatid"], data["body"])
            if api == "upload_media":
                return await client.upload_media(
                    data["data"], type=data.get("type", "image"), filename=data["filename"]
                )
            if api == "download_file":
                return await client.download_file(data["url"], data.get("aeskey"))
        except WeComAdapterException:
            raise
        except Exception as e:
            raise from_sdk(api, e) from e
        raise ApiNotAvailable
