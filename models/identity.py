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
