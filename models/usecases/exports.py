"""`/导出 [月份]` as a read use case, run through `bot.door.read` (SPEC §4 "the workbook
is a payroll document"): everything the workbook says of a month, gathered in one read
as plain values; the workbook is built from it (`models.export.build_workbook`) after
the session is closed.

    export(s, ExportRead) -> Export
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..appeals import appeal_states_of
from ..export import MonthBook, month_state
from ..rubric import Rubric
from ..settlement import settlement_row
from ..tables import Entry, Member
from .base import Policy
from .scores import RankRead, entry_row, ranking


@dataclass(frozen=True)
class ExportRead:
    team_id: int
    team_name: str
    period: str
    rubric: Rubric  # the fallback rules (the file's), as `scores.RankRead`
    base: Decimal | None


@dataclass(frozen=True)
class Export:
    rubric: Rubric  # the rules the month is scored with
    book: MonthBook

    @property
    def people(self) -> int:
        return len(self.book.ranking)

    @property
    def shows_pay(self) -> bool:
        """Whether the workbook holds anyone's money: a commission or a fine."""
        return any(r.score.fines or r.score.commission is not None for r in self.book.ranking)

    @property
    def count(self) -> int:
        """The entries the post counts (revoked ones apart)."""
        return sum(1 for e in self.book.entries if e.revoked_at is None)


def export(s: Session, req: ExportRead, policy: Policy) -> Export:
    """The month as the workbook shows it: the ranking as everyone reads it (stored once
    settled, `scores.ranking`), every entry (revoked ones too), the names of the people
    they are about, and the state of each entry's latest appeal."""
    ranked = ranking(s, RankRead(req.team_id, req.period, req.rubric, req.base), policy)
    rows = s.execute(
        select(Entry)
        .where(Entry.team_id == req.team_id, Entry.period == req.period)
        .order_by(Entry.id)
    ).scalars()
    entries = [entry_row(e) for e in rows]
    ids = {e.member_id for e in entries} | {r.member.id for r in ranked.ranking}
    names = dict(s.execute(select(Member.id, Member.name).where(Member.id.in_(ids))).all())
    appeals = appeal_states_of(s, req.team_id, req.period)
    by_entry = {e.id: e.member_id for e in entries}
    accepted = Counter(by_entry[eid] for eid, st in appeals.items() if st == "accepted")
    state = month_state(settlement_row(s, req.team_id, req.period))
    book = MonthBook(
        req.team_name, req.period, state, ranked.ranking, entries, names, appeals, accepted
    )
    return Export(ranked.rubric, book)
