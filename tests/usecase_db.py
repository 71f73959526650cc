"""A migrated scratch database for the use-case tests (`tests/test_usecases_*.py`), on
SQLite or PostgreSQL as `KPI_TEST_DATABASE_URL` says (`tools.testdb`), and the settings a
use case reads. No NoneBot: a use case is a plain function of a synchronous `Session`,
run here the way `bot.door.write` runs it — whole, as one transaction, committed unless it
raises."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from bot import db
from models.rubric import load_rubric
from models.tables import GroupBinding, Member, Team, Tenure
from models.usecases.base import Actor, Policy
from tools import testdb

T = TypeVar("T")
TZ = ZoneInfo("Asia/Shanghai")
POLICY = Policy(rubric=load_rubric(None), tz=TZ, commission_base=Decimal("5000"))
GROUP = "20001"

BOSS = Actor("qq", "10001", "张主管", group_role="member")
OWNER = Actor("qq", "10009", "群主老王", group_role="owner")
ROOT = Actor("qq", "10000", "超管", is_superuser=True)
ALICE = Actor("qq", "30001", "赵一")
BOB = Actor("qq", "30002", "钱二")
WEB_BOSS = Actor("qq", "10001", "张主管", channel="网页")


class UseCaseDB:
    """The scratch database: `run` a use case as one committed transaction, `rows` to look."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.team_id = 0
        self.ids: dict[str, int] = {}  # user id → member id

    async def run(self, work: Callable[[Session], T]) -> T:
        async with AsyncSession(self.engine, expire_on_commit=False) as s:
            async with s.begin():
                return await s.run_sync(work)

    async def rows(self, sql: str, **params) -> list[tuple]:
        async with self.engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql), params)).all()]

    async def seed(self) -> None:
        """A team bound to GROUP: supervisor 张主管 (explicit /主管), agents 赵一 and 钱二."""

        def work(s: Session) -> None:
            team = Team(name="客服一组", created_at=db_now())
            s.add(team)
            s.flush()
            s.add(
                GroupBinding(
                    platform="qq",
                    group_id=GROUP,
                    team_id=team.id,
                    adapter="OneBot V11",
                    self_id="99",
                    bound_at=db_now(),
                    bound_by="qq:10000",
                )
            )
            for actor, role in ((BOSS, "supervisor"), (ALICE, "agent"), (BOB, "agent")):
                m = Member(
                    team_id=team.id,
                    platform="qq",
                    user_id=actor.user_id,
                    name=actor.name,
                    role=role,
                    joined_on=date(2026, 1, 1),
                )
                s.add(m)
                s.flush()
                s.add(Tenure(member_id=m.id, start=date(2026, 1, 1)))
                self.ids[actor.user_id] = m.id
            self.team_id = team.id

        await self.run(work)


def db_now():
    from models.periods import utcnow

    return utcnow()


async def make(tmp_path: Path, hint: str) -> UseCaseDB:
    engine = db.make_engine(await testdb.create_database(tmp_path, hint))
    await db.migrate("head", engine)
    out = UseCaseDB(engine)
    await out.seed()
    return out
