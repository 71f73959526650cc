"""A person's role in a group as the platform says it now (SPEC §2, §5a).

The web dashboard re-checks a group owner's or admin's right at each request: it asks a
connected bot account that is in the group (`Platform.member`: `get_group_member_info`
over OneBot and Milky) and trusts nothing remembered from the login. Answers are kept `ROLE_TTL` seconds, so a
page and its pictures ask once; when no account can answer, the person has no group role
(fail closed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from nonebot import logger
from nonebot.adapters import Bot

from models.tables import GroupBinding

from .platforms import of_bot
from .send import NoBotOnline, pick_bot

ROLE_TTL = 3.0  # seconds an answer is trusted
ASK_TIMEOUT = 5.0  # seconds a bot account may take to answer
MANAGERS = frozenset({"owner", "admin"})

_clock = time.monotonic
_roles: dict[tuple[str, str, str], tuple[float, str | None]] = {}
_asking: dict[tuple[str, str, str], asyncio.Future[str | None]] = {}


def forget_roles() -> None:
    _roles.clear()


async def _ask(bot: Bot, group_id: str, user_id: str) -> str | None:
    platform = of_bot(bot)
    if platform is None:
        return None
    info = await platform.member(bot, group_id, user_id, fresh=True)
    return info.role if info is not None and info.role else None


async def group_role(binding: GroupBinding, user_id: str) -> str | None:
    """ "owner", "admin", "member"… as the platform answers now, or None when no connected
    account in the group answers (or the person is not in it). Requests arriving together
    (a page and its pictures) share one question."""
    key = (binding.platform, binding.group_id, user_id)
    hit = _roles.get(key)
    if hit is not None and hit[0] > _clock():
        return hit[1]
    asking = _asking.get(key)
    if asking is None:
        asking = asyncio.ensure_future(_fresh(key, binding, user_id))
        _asking[key] = asking
        asking.add_done_callback(lambda _: _asking.pop(key, None))
    return await asyncio.shield(asking)


async def _fresh(key: tuple[str, str, str], binding: GroupBinding, user_id: str) -> str | None:
    role: str | None = None
    try:
        bot = await pick_bot(binding)
        role = await asyncio.wait_for(_ask(bot, binding.group_id, user_id), ASK_TIMEOUT)
    except NoBotOnline:
        role = None
    except Exception as e:  # not in the group, an implementation error, a time-out
        logger.info(f"get_group_member_info({binding.group_id}, {user_id}) failed: {e!r}")
        role = None
    _roles[key] = (_clock() + ROLE_TTL, role)
    return role


async def manages_a_group(bindings: Iterable[GroupBinding], user_id: str) -> bool:
    """The platform says the person is owner or admin of one of these groups now."""
    for binding in bindings:
        if await group_role(binding, user_id) in MANAGERS:
            return True
    return False
