"""`make demo`: start the bot on a throwaway database and play a short day in a QQ group.

The bot runs as `make run` runs it; `tools.onebot_sim` plays NapCat. Everything said and
every reply is printed as a chat transcript; the bot is stopped and its folder removed at
the end (`--keep` keeps it, to look at the database and the log). A PostgreSQL
`KPI_DATABASE_URL` runs it on a throwaway database made on that server.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time

from tools import testdb
from tools.onebot_sim import (
    BotProcess,
    OneBotV11Sim,
    SegmentLike,
    as_segments,
    at,
    image,
    plain_text,
)

GROUP = 20001
OWNER, ZHANG, LI = 10001, 30001, 30002
PEOPLE = {
    OWNER: ("陈老板", "owner"),
    ZHANG: ("张三", "member"),
    LI: ("李四", "member"),
}

SCRIPT: list[tuple[int, tuple[SegmentLike, ...]]] = [
    (OWNER, ("/绑定 客服一组",)),
    (ZHANG, ("/软文 https://zhuanlan.zhihu.com/p/2026001 知乎",)),
    (ZHANG, ("/自媒体 https://www.toutiao.com/article/2026002 头条",)),
    (LI, ("/加好友 20 ", image("http://127.0.0.1:9/wechat-friends.png", "friends.image"))),
    (LI, ("/朋友圈 新品预告",)),
    (ZHANG, ("/软文 https://zhuanlan.zhihu.com/p/2026001",)),
    (OWNER, ("/投诉 ", at(ZHANG), " 回复太慢，客户投诉")),
    (OWNER, ("/迟到 ", at(LI))),
    (ZHANG, ("/我的绩效",)),
    (LI, ("/排行",)),
]

ROLE = {"owner": "群主", "admin": "管理员", "member": ""}


def show(who: str, text: str, *, bot: bool = False) -> None:
    lines = text.splitlines() or [""]
    head = f"  🤖 {lines[0]}" if bot else f"{who}：{lines[0]}"
    pad = "     " if bot else " " * (len(who) * 2 + 2)
    print(head)
    for line in lines[1:]:
        print(pad + line)


async def play(keep: bool) -> int:
    started = time.perf_counter()
    testdb.use_database_url_from_env()
    bot = BotProcess()
    print(f"▶ 启动机器人（python -m bot，临时目录 {bot.folder}）…", flush=True)
    await bot.start()
    print(f"▶ 数据库 {testdb.describe(bot.database_url)}", flush=True)
    try:
        async with OneBotV11Sim(bot.ws_url("v11")) as qq:
            for uid, (name, role) in PEOPLE.items():
                qq.add_member(GROUP, uid, card=name, role=role)
            print(f"▶ 模拟 QQ（NapCat）已连接 {bot.ws_url('v11')}，群 {GROUP}\n")
            for uid, parts in SCRIPT:
                name, role = PEOPLE[uid]
                tag = f"{name}（{ROLE[role]}）" if ROLE[role] else name
                said = plain_text(as_segments(parts), lambda u: qq.name_of(u, str(GROUP)))
                show(tag, said)
                for reply in await qq.say(GROUP, uid, *parts, linger=0.05, timeout=30):
                    show("", reply, bot=True)
                print()
    finally:
        await bot.stop()
        if keep:
            print(f"▶ 已保留 {bot.folder}（bot.log）和数据库 {testdb.describe(bot.database_url)}")
        else:
            shutil.rmtree(bot.folder, ignore_errors=True)
            await testdb.drop_database(bot.database_url)
    print(f"▶ 机器人已停止，用时 {time.perf_counter() - started:.1f} 秒")
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description="KPI 机器人演示：一段群聊")
    ap.add_argument("--keep", action="store_true", help="keep the bot's folder (database, log)")
    sys.exit(asyncio.run(play(ap.parse_args().keep)))


if __name__ == "__main__":
    main()
