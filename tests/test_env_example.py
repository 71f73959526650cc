"""`.env.example` documents every key the bot reads (the developers' guide: every key
documented), the KPI_* settings and each platform's connection keys."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Config

EXAMPLE = (Path(__file__).resolve().parent.parent / ".env.example").read_text(encoding="utf-8")
PLATFORM_KEYS = (
    *("ONEBOT_ACCESS_TOKEN", "MILKY_CLIENTS", "QQ_BOTS", "QQ_API_BASE", "QQ_AUTH_BASE"),
    *("FEISHU_BOTS", "FEISHU_API_BASE", "WECOM_BOTS", "WECOM_WS_URL", "DRIVER"),
)


def documented() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", EXAMPLE, re.M))


def test_every_kpi_setting_is_in_env_example():
    keys = {name.upper() for name in Config.model_fields if name.startswith("kpi_")}
    assert keys, "Config has KPI settings"
    assert sorted(keys - documented()) == []


def test_every_platform_key_is_in_env_example():
    assert sorted(set(PLATFORM_KEYS) - documented()) == []
