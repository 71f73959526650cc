"""create_app(): NoneBot with the FastAPI + websockets + httpx drivers, the adapters the
configuration asks for (`bot.platforms`), uniseg and uninfo, our plugins."""

from __future__ import annotations

import pkgutil
from typing import Any

import nonebot

import plugins

from . import doors

# NoneBot's own defaults cover HOST (127.0.0.1), PORT (8080) and COMMAND_START (/). The
# websockets client serves ONEBOT_WS_URLS (forward WebSocket) and Milky's event stream; the
# httpx client is the HTTP client Milky's API calls (and the official QQ and Feishu
# adapters) need: without it Milky ignores MILKY_CLIENTS silently.
DEFAULT_DRIVER = "~fastapi+~websockets+~httpx"
LIBRARIES = ("nonebot_plugin_apscheduler", "nonebot_plugin_alconna", "nonebot_plugin_uninfo")


def _driver_configured() -> bool:
    """DRIVER is set in `.env`, `.env.{ENVIRONMENT}` or the environment (read by NoneBot's
    own settings loader, the same one `nonebot.init` uses)."""
    from nonebot.config import Config, Env

    settings = Config(_env_file=(".env", f".env.{Env().environment}"))
    return "driver" in settings.model_fields_set


def plugin_names() -> list[str]:
    return [f"plugins.{m.name}" for m in pkgutil.iter_modules(plugins.__path__)]


def create_app(**overrides: Any):
    """Initialise NoneBot, register the adapters the configuration asks for (OneBot v11 and
    v12 always; Milky with MILKY_CLIENTS or MILKY_WEBHOOK…) and load every plugin.

    Files it creates are private (umask 077); a HOST beyond loopback without an access
    token raises `doors.ExposureError` before anything listens (SPEC §5)."""
    doors.private_files()
    if not _driver_configured():
        overrides.setdefault("driver", DEFAULT_DRIVER)
    nonebot.init(**overrides)
    driver = nonebot.get_driver()
    doors.check_exposure(str(driver.config.host), doors.Keys.from_config())
    from . import platforms

    platforms.register_adapters(driver)

    # Fail at start, naming the key or the rubric item, rather than load plugins half-way.
    from . import runtime  # noqa: F401  (validates the config and the rubric on import)

    for name in LIBRARIES:
        nonebot.load_plugin(name)
    for name in plugin_names():
        nonebot.load_plugin(name)
    return nonebot.get_asgi()
