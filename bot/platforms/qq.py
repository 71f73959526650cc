"""The official QQ bot API (`nonebot-adapter-qq`, configured by `QQ_BOTS`): the platform's
own, ToS-compliant route into QQ groups.

What the platform gives and refuses (checked against the adapter's code and the platform's
documentation; `tools/qq_sim.py` plays it in the tests):

- Users are openids, per bot app: `member_openid` in a group, another id (`user_openid`) in a
  private (C2C) chat, and `union_openid` the same in both. No QQ numbers anywhere, so the
  stored platform is `qqbot.<appid>` (`identity`): it can never collide with `qq` (QQ
  numbers) nor with another app's openids. People are named by @ (a mention carries the
  member's openid and name) or by their name on the roster, never by a number.
- A group message reaches the bot only when it @s the bot (`GROUP_AT_MESSAGE_CREATE`, the
  group/C2C intent `1 << 25`, which the adapter asks for only when configured:
  `"intent": {"c2c_group_at_messages": true}` in `QQ_BOTS`). The author's role comes as
  `author.member_role`; a name only as the author's `username` when the platform sends it,
  and as the `username` of a mention. Names seen are remembered (`_names`) so the bot can
  name someone it has seen; it never shows an openid when it knows better.
- Sending: a reply names the message it answers (`msg_id`, counted per message: at most 5,
  within 5 minutes in a group). Anything else is a proactive message, which the platform
  refuses today (`40034102 主动消息失败, 无权限`). So a group send outside a command's
  reply (the monthly post) goes as a reply to the group's latest message while that is
  still answerable (`_recent`); otherwise it is tried as a proactive send and, refused,
  raises `CannotSend`: the post is held, superusers are told where possible, and `/重发`
  in the group (a new message to answer) sends it.
- No private message to a group member: their group openid cannot be messaged. A person
  reaches the bot privately by adding it and writing to it; that C2C user is recognised as
  the group member they are through `union_openid` (once seen in a group; kept in
  `KPI_DATA_DIR/qqbot-members.json` across restarts), so `/后台` written privately
  answers privately.
- A picture is uploaded for that chat (`/v2/groups/{openid}/files`, base64 `file_data`) and
  sent as `msg_type 7` with its `file_info` (the adapter does it for a `file_image`
  segment, which uniseg makes of our PNG bytes). Pasted pictures arrive as attachments
  with a download URL.
- No group files, no member list with names (the platform's member API is whitelisted and
  not in the adapter), no lookup of whether someone is in the group.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from nonebot import logger
from nonebot.adapters import Bot, Event
from nonebot.adapters.qq import Adapter
from nonebot.adapters.qq.event import (
    C2CMessageCreateEvent,
    GroupMessageCreateEvent,
    QQMessageEvent,
)
from nonebot.adapters.qq.exception import ActionFailed

from . import Bounded, Caps, Facts, MemberInfo, Platform, Quoted, keep_alive, register

PLATFORM = "qqbot"
GROUP_REPLY_WINDOW = 280.0  # seconds: the platform answers a group message for 5 minutes
REPLIES_PER_MESSAGE = 5
ROLE_SEEN = 600.0  # seconds a role seen with someone's message counts as the platform's word now
PROACTIVE_REFUSED = {40034102, 40034105, 22009, 304022}
OFF = {"false", "0", "no", "off"}
SAVE_AFTER = 1.0  # seconds: links learnt meanwhile are written together, off the event loop
LINKS_FILE = "qqbot-members.json"  # in KPI_DATA_DIR: who a private (C2C) writer is


class QQOfficial(Platform):
    adapter = "QQ"
    adapter_type = Adapter
    caps = Caps(
        numeric_ids=False,
        names_in_events=False,
        private_to_member=False,
        # a group send is tried: as a reply to the group's latest message while the platform
        # still takes one, else as a proactive send, which it refuses (`CannotSend`)
        proactive=True,
        group_files=False,
        member_lookup=False,
        private_hint="QQ 官方机器人不能主动私聊：请在 QQ 里打开机器人的资料页点「发消息」，"
        "私聊它发 /后台",
    )

    def __init__(self) -> None:
        self._names: Bounded = Bounded(50_000)  # (app, member_openid) → name
        self._roles: Bounded = Bounded(50_000)  # (app, group, member_openid) → (seen at, role)
        self._members: Bounded = Bounded(50_000)  # (app, union_openid) → member_openid
        self._links_loaded = False
        self._saving: asyncio.TimerHandle | None = None  # a save of the links is due
        self._writing: asyncio.Future | None = None  # the last save, on a worker thread
        self._recent: Bounded = Bounded(5_000)  # (app, group openid) → (t, its latest event)
        self._groups: Bounded = Bounded(5_000)  # (app, group_openid) → last seen

    def identity(self, bot: Bot, event: Event | None = None) -> str:
        return f"{PLATFORM}.{bot.self_id}"

    # ---- who writes privately: union_openid → member_openid, kept across restarts -------

    def _links_file(self) -> Path:
        from ..config import get_config

        return Path(get_config().kpi_data_dir) / LINKS_FILE

    def _load_links(self) -> None:
        if self._links_loaded:
            return
        self._links_loaded = True
        try:
            saved = json.loads(self._links_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        for app, links in saved.items() if isinstance(saved, dict) else []:
            for union, member in links.items() if isinstance(links, dict) else []:
                self._members.put((str(app), str(union)), str(member))

    def _link(self, app: str, union: str, member: str) -> None:
        """Remember who a private writer is; the file is written `SAVE_AFTER` later, on a
        worker thread, with every link learnt meanwhile (a burst of new members after a
        start is one write, not one per message on the event loop)."""
        self._load_links()
        if self._members.get((app, union)) == member:
            return
        self._members.put((app, union), member)
        if self._saving is None:
            self._saving = asyncio.get_running_loop().call_later(SAVE_AFTER, self._save_soon)

    def _snapshot(self) -> str:
        saved: dict[str, dict[str, str]] = {}
        for (a, u), m in self._members.items():
            saved.setdefault(a, {})[u] = m
        return json.dumps(saved)

    def _save_soon(self) -> None:
        self._saving = None
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, self._snapshot()))

    def _write(self, text: str) -> None:
        path = self._links_file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_suffix(".part")
            part.write_text(text, encoding="utf-8")
            os.replace(part, path)
        except OSError as e:
            logger.warning(f"QQ: could not keep {path}: {e!r}")

    async def _save_now(self) -> None:
        """At shutdown: a save still due (or under way) is made before the bot stops."""
        if self._writing is not None:
            await self._writing
        if self._saving is not None:
            self._saving.cancel()
            self._saving = None
            await asyncio.to_thread(self._write, self._snapshot())

    def _member_of(self, app: str, union: str) -> str | None:
        self._load_links()
        return self._members.get((app, union))

    def _learn(self, bot: Bot, event: GroupMessageCreateEvent) -> None:
        app, author = str(bot.self_id), event.author
        if author.username:
            self._names.put((app, author.member_openid), author.username)
        seen = (time.monotonic(), author.member_role)
        self._roles.put((app, event.group_openid, author.member_openid), seen)
        if author.union_openid:
            self._link(app, author.union_openid, author.member_openid)
        for mention in event.mentions or []:
            openid = getattr(mention, "member_openid", None)
            username = getattr(mention, "username", None)
            if openid and username and not getattr(mention, "bot", False):
                self._names.put((app, openid), username)
        self._groups.put((app, event.group_openid), time.monotonic())
        self._recent.put((app, event.group_openid), (time.monotonic(), event))

    async def describe(self, bot: Bot, event: Event) -> Facts | None:
        app = str(bot.self_id)
        if isinstance(event, GroupMessageCreateEvent):
            self._learn(bot, event)
            user_id = event.author.member_openid
            return Facts(
                platform=self.identity(bot, event),
                adapter=self.adapter,
                user_id=user_id,
                group_id=event.group_openid,
                message_id=str(event.id),
                sender_name=self._names.get((app, user_id)) or user_id,
                sender_role=event.author.member_role,
                self_id=app,
                to_me=event.is_tome(),
            )
        if isinstance(event, C2CMessageCreateEvent):
            author = event.author
            member = self._member_of(app, author.union_openid) if author.union_openid else None
            user_id = member or author.user_openid
            return Facts(
                platform=self.identity(bot, event),
                adapter=self.adapter,
                user_id=user_id,
                group_id=None,
                message_id=str(event.id),
                sender_name=self._names.get((app, user_id)) or author.username or user_id,
                sender_role=None,
                self_id=app,
                to_me=True,
            )
        return None

    def quoted(self, bot: Bot, event: Event, group_id: str | None) -> Quoted | None:
        reply = getattr(event, "reply", None) if isinstance(event, QQMessageEvent) else None
        if reply is None:
            return None
        author = reply.author
        if author is None:
            user = None
        elif author.bot:  # the bot's own message (its confirmation of an entry)
            user = str(bot.self_id)
        else:
            user = author.member_openid or author.id
        return Quoted(str(reply.msg_idx or ""), user, reply.content or "")

    async def member(
        self, bot: Bot, group_id: str, user_id: str, *, fresh: bool = False
    ) -> MemberInfo | None:
        """What the platform last said of them: roles come only with a person's own group
        messages, so a `fresh` question (the dashboard's re-check, `bot.grouprole`) trusts
        a role seen within `ROLE_SEEN` only — a demoted admin loses the dashboard's group
        rights then, even if they never speak again."""
        app = str(bot.self_id)
        name = self._names.get((app, user_id))
        seen = self._roles.get((app, group_id, user_id))
        role = None
        if seen is not None and (not fresh or time.monotonic() - seen[0] <= ROLE_SEEN):
            role = seen[1]
        if name is None and role is None:
            return None
        return MemberInfo(name or "", role)

    async def in_group(self, bot: Bot, group_id: str) -> bool:
        return (str(bot.self_id), group_id) in self._groups

    def _answerable(self, bot: Bot, key: str, window: float) -> Any:
        hit = self._recent.get((str(bot.self_id), key))
        if hit is None:
            return None
        at, event = hit
        if time.monotonic() - at > window or event._reply_seq >= REPLIES_PER_MESSAGE:
            return None
        return event

    async def send_group(self, bot: Bot, group_id: str, message: Any) -> None:
        """A reply to the group's latest message while it is answerable, else a proactive
        send; refused by the platform: `CannotSend` (see the module docstring)."""
        event = self._answerable(bot, group_id, GROUP_REPLY_WINDOW)
        if event is not None:
            try:
                await bot.send(event, message)
                return
            except ActionFailed as e:
                logger.info(f"QQ passive send to {group_id} refused: {_why(e)}")
        try:
            await bot.send_to_group(group_openid=group_id, message=message)  # type: ignore[attr-defined]
        except ActionFailed as e:
            if e.code in PROACTIVE_REFUSED:
                from ..send import CannotSend

                raise CannotSend(f"QQ 平台拒绝了机器人主动发群消息（{_why(e)}）") from e
            raise

    def setup(self, driver: Any) -> None:
        keep_alive(driver, Adapter)  # the API calls over one kept-alive HTTP session
        driver.on_shutdown(self._save_now)


def _why(e: ActionFailed) -> str:
    return f"{e.code} {e.message}" if e.message else repr(e)


def _factory(config: Any) -> type[Adapter] | None:
    """Registered for `QQ_BOTS`, over the gateway or, for a bot with `"use_websocket":
    false`, as a webhook (`/qq/webhook`, which the adapter serves either way). Refused with
    `QQ_VERIFY_WEBHOOK=false`: without the signature check anyone who reaches the port
    could post events as anyone."""
    if not getattr(config, "qq_bots", None):
        return None
    if str(getattr(config, "qq_verify_webhook", True)).strip().lower() in OFF:
        from ..doors import ExposureError

        raise ExposureError(
            "QQ_VERIFY_WEBHOOK",
            "关闭 QQ 回调签名校验后，谁都能向 /qq/webhook 冒充平台发消息",
            "without the webhook signature check anyone can post events to /qq/webhook",
        )
    return Adapter


register(QQOfficial(), _factory)
