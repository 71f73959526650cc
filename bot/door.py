"""The one door every write of a team goes through, chat or not (SPEC §5).

`write(team_id, work)` runs `work(session)` — a plain function of a synchronous
`Session` — as one transaction, serialised per team on both engines (SQLite: one
writer; PostgreSQL: the team's advisory lock), in group commit with the units of the
same team queued at the same moment, and returns its result only once that transaction
is committed: nothing is acknowledged that is not durable. The dispatcher, the monthly
settlement and its catch-up, the outbox, reminders and the web's actions all call it.

`read(work)` runs `work(session)` in a read-only session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from . import db

T = TypeVar("T")


async def write(team_id: int | None, work: Callable[[Session], T]) -> T:
    """Run `work` as one write transaction of team `team_id` (None: no team yet)."""
    with db.serialise_team(team_id):
        return await db.unit_of_work_sync(work)


async def read(work: Callable[[Session], T]) -> T:
    """Run `work` in a read session; a write inside it raises `db.WriteInReadOnly`."""
    async with db.reading() as s:
        with db.read_only():
            return await s.run_sync(work)
