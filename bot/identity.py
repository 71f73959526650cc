"""Who someone is: (platform, user id), and which of them are superusers (SPEC §2).

- The platform of a OneBot v11 or Milky event is `qq` (both name users by QQ number: the
  same people); of a OneBot v12 event `v12.<declared>` (`v12.wechat`, `v12.qq`): what a
  v12 implementation declares never makes its user the QQ user of the same id. Each
  platform module of `bot.platforms` says which string its users have. This string is the platform stored everywhere (members, bindings,
  posts, logins, message keys, actors `platform:user`).
- `SUPERUSERS` entries name their platform: `qq:10000`, `v12.wechat:wxid_x`. A bare id
  (`10000`) counts only on the platform it is first seen on (stored, see
  `models.identity`); the bot warns at start about each one. The older `OneBotV11:10000`
  means `qq:10000`; `OneBotV12:x` is read as the bare id `x`.
- `is_superuser(platform, user_id)` is the one place that decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from weakref import WeakKeyDictionary

from nonebot import get_driver, logger
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity import claim_platform, claimed_platforms

from . import db

QQ = "qq"
V12 = "v12."
LEGACY = {"OneBotV11": QQ, "OneBot V11": QQ}  # adapter names once used in their place


def v12_platform(declared: object) -> str:
    """The stored platform of a OneBot v12 event that declares `declared`."""
    name = re.sub(r"[^0-9A-Za-z_.-]", "_", str(declared or "").strip())[:32]
    return V12 + (name or "unknown")


# Platforms named per bot app (`bot.platforms`): the official QQ API's openids, Feishu's
# open_ids; WeCom's userids are per corp (`wecom`, or `wecom.<corp>` when WECOM_BOTS names one).
PER_APP = ("qqbot.", "feishu.", "wecom.")
WECOM = "wecom"


def known_platform(platform: str) -> bool:
    return platform in (QQ, WECOM) or any(
        platform.startswith(prefix) and len(platform) > len(prefix) for prefix in (V12, *PER_APP)
    )


@dataclass(frozen=True)
class Superusers:
    named: frozenset[tuple[str, str]]  # (platform, user id)
    bare: frozenset[str]
    unknown: tuple[str, ...]  # entries naming a platform the bot does not have


@lru_cache(maxsize=8)
def parse_superusers(entries: frozenset[str]) -> Superusers:
    named: set[tuple[str, str]] = set()
    bare: set[str] = set()
    unknown: list[str] = []
    for raw in entries:
        entry = str(raw).strip()
        platform, sep, user_id = entry.partition(":")
        if not sep:
            bare.add(entry)
            continue
        if platform == "OneBotV12":
            bare.add(user_id)
            continue
        platform = LEGACY.get(platform, platform)
        named.add((platform, user_id))
        if not known_platform(platform):
            unknown.append(entry)
    return Superusers(frozenset(named), frozenset(bare), tuple(sorted(unknown)))


def superusers() -> Superusers:
    return parse_superusers(frozenset(get_driver().config.superusers))


# {engine: {bare id: platform}}: a claim belongs to its database.
_claims: WeakKeyDictionary[AsyncEngine, dict[str, str]] = WeakKeyDictionary()


def _known_claims() -> dict[str, str]:
    if db._engine is None:
        return {}
    return _claims.setdefault(db._engine, {})


def is_superuser(platform: str, user_id: str) -> bool:
    """SPEC §2: `platform:user_id` is in SUPERUSERS, or `user_id` is there bare and was
    first seen on `platform` (`note_sighting` records that first)."""
    platform = LEGACY.get(platform, platform)
    su = superusers()
    if (platform, user_id) in su.named:
        return True
    return user_id in su.bare and _known_claims().get(user_id) == platform


async def note_sighting(platform: str, user_id: str) -> None:
    """Record where a bare SUPERUSERS id speaks first (once per database; race-free)."""
    if user_id not in superusers().bare:
        return
    claims = _known_claims()
    if user_id in claims:
        return
    async with db.writing() as s:
        claims[user_id] = await claim_platform(s, user_id, platform)
    if claims[user_id] == platform:
        logger.warning(
            f"SUPERUSERS 里的 {user_id} 没写平台，从现在起只在 {platform} 上算超级管理员；"
            f'请写成 "{platform}:{user_id}" / bare SUPERUSERS id {user_id} now counts on '
            f'{platform} only; write it as "{platform}:{user_id}"'
        )


def superuser_ids(platform: str) -> list[str]:
    """The user ids of `platform` to tell superuser news to (held posts): its named
    entries, and bare ids first seen there or not seen anywhere yet."""
    su = superusers()
    claims = _known_claims()
    ids = {u for p, u in su.named if p == platform}
    ids |= {u for u in su.bare if claims.get(u, platform) == platform}
    return sorted(ids)


async def load_claims() -> None:
    """At start: read the stored first sightings and warn about every bare id and every
    entry naming an unknown platform, saying how to write it."""
    su = superusers()
    claims = _known_claims()
    if su.bare:
        async with db.reading() as s:
            claims.update(await claimed_platforms(s, su.bare))
    for user_id in sorted(su.bare):
        where = claims.get(user_id)
        if where:
            logger.warning(
                f"SUPERUSERS 里的 {user_id} 没写平台：只在它第一次出现的 {where} 上算超级管理员，"
                f'请写成 "{where}:{user_id}" / bare SUPERUSERS id {user_id} counts only on '
                f'{where}, where it was first seen: write it as "{where}:{user_id}"'
            )
        else:
            logger.warning(
                f"SUPERUSERS 里的 {user_id} 没写平台：只在它第一次出现的平台上算超级管理员；"
                f'QQ 号请写成 "qq:{user_id}"，微信等 OneBot v12 写成 "v12.平台:{user_id}" / '
                f"bare SUPERUSERS id {user_id} will count only on the platform it is first "
                f'seen on: write "qq:{user_id}" (or "v12.<platform>:{user_id}")'
            )
    for entry in su.unknown:
        logger.warning(
            f"SUPERUSERS 里的 {entry} 的平台不认识（应为 qq、v12.<平台>、qqbot.<AppID> 或 "
            f"feishu.<App ID>）/ unknown platform in SUPERUSERS entry {entry} (use qq, "
            f"v12.<platform>, qqbot.<AppID> or feishu.<App ID>)"
        )
