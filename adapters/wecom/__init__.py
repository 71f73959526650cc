"""NoneBot adapter for the WeCom intelligent robot (企业微信智能机器人) long connection,
on the platform's SDK `wecom-aibot-sdk`. Register with
`driver.register_adapter(adapters.wecom.Adapter)`; configure `WECOM_BOTS` and
`WECOM_WS_URL` (see `config.py`)."""

from .adapter import Adapter
from .bot import Bot
from .config import BotInfo, Config
from .event import Event, GroupMessageEvent, MessageEvent, NoticeEvent, PrivateMessageEvent
from .exception import ActionFailed, ApiNotAvailable, NetworkError, WeComAdapterException
from .message import Message, MessageSegment

__all__ = [
    "ActionFailed",
    "Adapter",
    "ApiNotAvailable",
    "Bot",
    "BotInfo",
    "Config",
    "Event",
    "GroupMessageEvent",
    "Message",
    "MessageEvent",
    "MessageSegment",
    "NetworkError",
    "NoticeEvent",
    "PrivateMessageEvent",
    "WeComAdapterException",
]
