"""Events of the WeCom intelligent robot's long connection.

`aibot_msg_callback` frames become `GroupMessageEvent` (chattype "group") or
`PrivateMessageEvent` (chattype "single"); `aibot_event_callback` frames become
`NoticeEvent`. What the platform gives, and what it does not:

- a group message reaches the robot only when it is @-ed, as text beginning (usually)
  with "@<robot name>": the adapter strips that and sets `to_me`. Other "@名字" stay text:
  there is no mention list, only the sender's `userid` (no display name, no role);
- every callback carries a `req_id`: a reply echoes it (`Bot.send`), for a few minutes;
- `chatid` is the group's id; a private chat has none, its chat is the sender's userid.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from nonebot.adapters import Event as BaseEvent
from nonebot.utils import escape_tag
from pydantic import Field
from typing_extensions import override

from .message import Message


class Event(BaseEvent):
    self_id: str
    req_id: str
    time: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @override
    def get_type(self) -> str:
        return "meta_event"

    @override
    def get_event_name(self) -> str:
        return self.get_type()

    @override
    def get_event_description(self) -> str:
        return escape_tag(f"req_id={self.req_id}")

    @override
    def get_message(self) -> Message:
        raise ValueError("Event has no message!")

    @override
    def get_user_id(self) -> str:
        raise ValueError("Event has no context!")

    @override
    def get_session_id(self) -> str:
        raise ValueError("Event has no context!")

    @override
    def is_tome(self) -> bool:
        return False


class MessageEvent(Event):
    message_id: str
    chattype: str
    chat_id: str
    """The group's chatid, or the sender's userid in a private chat (where a reply goes)."""
    user_id: str
    msgtype: str
    message: Message
    original_message: Message
    to_me: bool = True
    quote: dict[str, Any] | None = None
    """The quoted message's content as the platform gives it (text or picture), if any."""

    @override
    def get_type(self) -> str:
        return "message"

    @override
    def get_event_name(self) -> str:
        return f"message.{'group' if self.chattype == 'group' else 'private'}"

    @override
    def get_event_description(self) -> str:
        text = escape_tag(str(self.message))
        return f"Message {self.message_id} from {self.user_id}@[{self.chat_id}]: {text!r}"

    @override
    def get_message(self) -> Message:
        return self.message

    @override
    def get_user_id(self) -> str:
        return self.user_id

    @override
    def get_session_id(self) -> str:
        return self.user_id

    @override
    def is_tome(self) -> bool:
        return self.to_me


class GroupMessageEvent(MessageEvent):
    chattype: Literal["group"] = "group"

    @property
    def group_id(self) -> str:
        return self.chat_id

    @override
    def get_session_id(self) -> str:
        return f"group_{self.chat_id}_{self.user_id}"


class PrivateMessageEvent(MessageEvent):
    chattype: Literal["single"] = "single"


class NoticeEvent(Event):
    """An `aibot_event_callback`: enter_chat, template_card_event, feedback_event…"""

    event_type: str
    user_id: str | None = None
    chat_id: str | None = None

    @override
    def get_type(self) -> str:
        return "notice"

    @override
    def get_event_name(self) -> str:
        return f"notice.{self.event_type}"

    @override
    def get_user_id(self) -> str:
        if self.user_id is None:
            raise ValueError("Event has no user")
        return self.user_id

    @override
    def get_session_id(self) -> str:
        return self.get_user_id()
