"""The baseline of bench/roundtrip.py: the smallest NoneBot app the KPI bot could be.

Same drivers as the bot (`~fastapi+~websockets+~httpx`), the OneBot v11 adapter, and Milky
when `MILKY_CLIENTS` is set (`roundtrip.py --platform milky`; with the bot's one kept-alive
HTTP session for its API calls); one `on_command("echo")` that answers with one message; no
database. Started the same way as the bot: from a folder with a `.env` (HOST, PORT,
ONEBOT_ACCESS_TOKEN, LOG_LEVEL…), `python bench/echo_bot.py`.
"""

from __future__ import annotations

import nonebot
from nonebot import on_command
from nonebot.adapters import Message
from nonebot.adapters.onebot.v11 import Adapter as OneBotV11
from nonebot.params import CommandArg


def main() -> None:
    nonebot.init(driver="~fastapi+~websockets+~httpx")
    nonebot.get_driver().register_adapter(OneBotV11)
    if getattr(nonebot.get_driver().config, "milky_clients", None):
        from nonebot.adapters.milky import Adapter as Milky

        from bot.platforms import keep_alive  # as the bot: one kept-alive HTTP session

        nonebot.get_driver().register_adapter(Milky)
        keep_alive(nonebot.get_driver(), Milky)

    echo = on_command("echo", priority=10, block=True)

    @echo.handle()
    async def _(arg: Message = CommandArg()) -> None:
        await echo.finish(f"✅ {arg.extract_plain_text()}")

    nonebot.run()


if __name__ == "__main__":
    main()
