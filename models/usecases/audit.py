"""`/审计 [月份]` as a read use case, run through `bot.door.read` (SPEC §3 "/审计", §6
"every deduction explainable"): the team's latest audit rows, each as a sentence with
names (`models.roster.audit_sentences_of`), never an id or stored JSON.

    audit_log(s, AuditRead) -> list[AuditLine]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from ..periods import month_start_utc, shift_period
from ..roster import audit_rows_of, audit_sentences_of
from .base import Policy


@dataclass(frozen=True)
class AuditRead:
    team_id: int
    period: str | None  # None: the latest rows, whatever their month
    item_names: dict[str, str] = field(default_factory=dict)  # item key → its Chinese name


@dataclass(frozen=True)
class AuditLine:
    at: datetime  # UTC
    said: str


def audit_log(s: Session, req: AuditRead, policy: Policy) -> list[AuditLine]:
    """The latest 20 audit rows of the team (of `period` when given, in local months),
    newest first."""
    since = until = None
    if req.period:
        since = month_start_utc(req.period, policy.tz)
        until = month_start_utc(shift_period(req.period, 1), policy.tz)
    rows = audit_rows_of(s, req.team_id, since, until)
    said = audit_sentences_of(s, req.team_id, rows, req.item_names)
    return [AuditLine(r.at, line) for r, line in zip(rows, said, strict=True)]
