"""The baseline of bench/roundtrip.py: the smallest NoneBot app the KPI bot could be.

Same drivers (`~fastapi+~websockets`), the OneBot v11 adapter, one `on_command("echo")` that
answers with one message; no database. Started the same way as the bot: from a folder with a
`.env` (HOST, PORT, ONEBOT_ACCESS_TOKEN, LOG_LEVEL…), `python bench/echo_bot.py`.
"""

from __future__ import annotations

import nonebot
from nonebot import on_command
from nonebot.adapters import Message
from nonebot.adapters.onebot.v11 import Adapter as OneBotV11
from nonebot.params import CommandArg


def main() -> None:
    nonebot.init(driver="~fastapi+~websockets")
    nonebot.get_driver().register_adapter(OneBotV11)

    echo = on_command("echo", priority=10, block=True)

    @echo.handle()
    async def _(arg: Message = CommandArg()) -> None:
        await echo.finish(f"✅ {arg.extract_plain_text()}")

    nonebot.run()


if __name__ == "__main__":
    main()
