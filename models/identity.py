"""Where a bare `SUPERUSERS` id was first seen (SPEC §2: a person is (platform, user id)).

A `SUPERUSERS` entry without a platform (`10000`) counts on one platform only: the first
on which that id speaks to the bot. The first sighting is a `web_secret` row named
`superuser:<id>` whose value is the platform, written with INSERT … ON CONFLICT DO NOTHING,
so two processes seeing the id at once on two platforms agree on one.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import WebSecret

PREFIX = "superuser:"


async def claim_platform(session: AsyncSession, user_id: str, platform: str) -> str:
    """The platform bare id `user_id` belongs to: `platform` if this is its first sighting,
    else the one stored before."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    mod = postgresql if dialect == "postgresql" else sqlite
    name = PREFIX + user_id
    await session.execute(
        mod.insert(WebSecret).values(name=name, value=platform).on_conflict_do_nothing()
    )
    return (await session.execute(select(WebSecret.value).where(WebSecret.name == name))).one()[0]


async def claimed_platforms(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, str]:
    """{bare id: platform} for those of `user_ids` already seen."""
    names = [PREFIX + u for u in user_ids]
    if not names:
        return {}
    rows = await session.execute(
        select(WebSecret.name, WebSecret.value).where(WebSecret.name.in_(names))
    )
    return {name[len(PREFIX) :]: value for name, value in rows.all()}


def platform_label(platform: str) -> str:
    """A platform string (SPEC §2: `qq`, `v12.<declared>`, `qqbot.<AppID>`, `feishu.<app>`,
    `wecom[.<corp>]`) in words for a reply."""
    if platform == "qq":
        return "QQ"
    head, _, rest = platform.partition(".")
    if head == "qqbot":
        return "QQ 官方机器人"
    if head == "feishu":
        return "飞书"
    if head == "wecom":
        return "企业微信"
    if head == "v12":
        return {"wechat": "微信", "qq": "QQ（OneBot v12）"}.get(rest, f"OneBot v12（{rest}）")
    return platform


def account_words(platform: str, user_id: str, name: str = "") -> str:
    """An account as a reply names it: `QQ 30001（张三）`, `企业微信账号「zhangsan」`. A QQ
    number is how people know a QQ account; elsewhere ids mean nothing to them, so the name
    the platform gave comes first (the id only when it gave none)."""
    if platform == "qq":
        return f"QQ {user_id}（{name}）" if name and name != user_id else f"QQ {user_id}"
    return f"{platform_label(platform)}账号「{name or user_id}」"


def shown_account(platform: str, user_id: str) -> str:
    """An account as the dashboard shows it (SPEC §2: QQ numbers are shown, never openids or
    userids): `QQ 30001` for a QQ number, else the platform's name (`飞书`, `企业微信`)."""
    return f"QQ {user_id}" if platform == "qq" else platform_label(platform)


def shown_group(platform: str, group_id: str) -> str:
    """A bound group as the dashboard shows it: the platform's name, and the group's number
    for a QQ group only (a Feishu or WeCom chat id means nothing to people; bindings keep
    no group name): `QQ 群 23001`, `飞书群`, `企业微信群`."""
    label = platform_label(platform)
    return f"QQ 群 {group_id}" if platform == "qq" else f"{label}群"
