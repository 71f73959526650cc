"""Errors of the WeCom adapter, on NoneBot's exception classes."""

from __future__ import annotations

import re

from nonebot.exception import ActionFailed as BaseActionFailed
from nonebot.exception import AdapterException
from nonebot.exception import ApiNotAvailable as BaseApiNotAvailable
from nonebot.exception import NetworkError as BaseNetworkError

# wecom_aibot_sdk reports a refused frame as a plain Exception whose text carries the ack's
# "errcode=…, errmsg=…" (ws.py, _process_reply_queue); this reads them back.
_ACK_ERROR = re.compile(r"errcode=(-?\d+), errmsg=(.*)$", re.S)


class WeComAdapterException(AdapterException):
    def __init__(self, *args: object) -> None:
        super().__init__("WeCom")
        self.args = args


class NetworkError(BaseNetworkError, WeComAdapterException):
    """The frame never got an answer: not connected, connection lost, ack timeout."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg

    def __repr__(self) -> str:
        return f"NetworkError(msg={self.msg!r})"


class ActionFailed(BaseActionFailed, WeComAdapterException):
    """The platform answered the frame with a non-zero errcode (e.g. a proactive send to a
    chat the robot may not post in, a `text` message where only markdown is allowed)."""

    def __init__(self, errcode: int, errmsg: str, api: str = "") -> None:
        super().__init__(errcode, errmsg, api)
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api

    def __repr__(self) -> str:
        return f"ActionFailed(api={self.api!r}, errcode={self.errcode}, errmsg={self.errmsg!r})"

    __str__ = __repr__


class ApiNotAvailable(BaseApiNotAvailable, WeComAdapterException):
    pass


def from_sdk(api: str, exc: Exception) -> WeComAdapterException:
    """The adapter error for an exception raised by the SDK."""
    text = str(exc)
    m = _ACK_ERROR.search(text)
    if m and "ack error" in text:
        return ActionFailed(int(m.group(1)), m.group(2).strip(), api)
    return NetworkError(f"{api}: {text}")
