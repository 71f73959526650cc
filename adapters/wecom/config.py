"""Configuration of the WeCom intelligent-robot adapter (`WECOM_*` keys)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from wecom_aibot_sdk.ws import DEFAULT_WS_URL


class BotInfo(BaseModel):
    """One intelligent robot: its long-connection credentials, from the WeCom admin console
    (智能机器人 → API 模式 → 长连接). `name` is the robot's display name: group messages
    arrive as "@<name> …", and the adapter strips exactly that; without it, a leading (or
    else trailing) "@word" is taken for the robot."""

    bot_id: str
    secret: str
    name: str | None = None
    corp: str | None = None
    """A short name of the robot's corp (企业). WeCom userids are unique only within a
    corp: robots of two corps served by one bot must say which is which."""


class Config(BaseModel):
    wecom_bots: list[BotInfo] = Field(default_factory=list)
    wecom_ws_url: str = DEFAULT_WS_URL
    wecom_heartbeat_interval: int = 30000
    """Milliseconds between pings; two unanswered pings close the connection (SDK)."""
    wecom_reconnect_interval: int = 1000
    """First reconnect delay in ms, doubling up to 30 s (SDK)."""
    wecom_max_reconnect_attempts: int = -1
    """-1: never give up (the SDK's own default is 10, then the bot stays offline)."""
    wecom_reply_window: float = 300.0
    """Seconds after a message during which a reply goes back on its req_id (the platform
    keeps a callback answerable about six minutes); later, or when refused, it is sent
    proactively to the chat."""
    wecom_request_timeout: int = 10000
    """Milliseconds for downloading a picture (SDK's HTTP client)."""
