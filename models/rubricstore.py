"""Rubric versions kept in the database, the rubric of each month, and the what-if (issue 24).

The rubric is data (SPEC §1): besides the file of KPI_RUBRIC, a superuser may upload a new
version on the dashboard. It is checked exactly as the file is at start (`parse_rubric`
with the bot's reserved command names: the same messages), kept whole as a draft, and
activated from a month that no team has settled. The rubric of a month is then:

- a settled month: its snapshot (`Settlement.rubric_text`), whatever happens later;
- otherwise the most recently activated version whose `active_from` is not after the
  month (`rubric_for`), else the file's rubric.

Activating from a month therefore changes that month and the later ones that are not
settled, and nothing before it. The what-if scores a month under a draft before anything
changes: every agent's total, grade and pay under the month's rules and under the draft,
and the team's total pay.

Plain functions of a synchronous `Session` (the door's); nothing here knows the web.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from .commission import open_month_base
from .dashboard import scored_now
from .ledger import Refused, settlement_row
from .periods import utcnow
from .roster import _scored, audit
from .rubric import Rubric, RubricError, parse_rubric
from .scoring import MemberScore, money, round_half_up
from .settlement import base_of, rubric_of
from .tables import Member, RubricVersion, SettledScore, Settlement

MAX_RUBRIC_BYTES = 200_000
_parsed: dict[str, Rubric] = {}


def check_draft(text: str, source: str, reserved: set[str]) -> Rubric:
    """The draft as the bot would load it at start; RubricError with the same message."""
    if len(text.encode()) > MAX_RUBRIC_BYTES:
        raise RubricError(f"考核表 {source} 太大（超过 {MAX_RUBRIC_BYTES // 1000} KB）")
    return parse_rubric(text, source, reserved)


def _rubric_of(row: RubricVersion) -> Rubric:
    rub = _parsed.get(row.version)
    if rub is None:
        rub = _parsed[row.version] = parse_rubric(row.text, f"#{row.id} {row.name}")
    return rub


def active_version(s: Session, period: str) -> RubricVersion | None:
    """The activated version in force for an open `period` (None: the file's rubric)."""
    return s.execute(
        select(RubricVersion)
        .where(RubricVersion.active_from.is_not(None), RubricVersion.active_from <= period)
        .order_by(RubricVersion.activated_at.desc(), RubricVersion.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def rubric_for(s: Session, period: str, fallback: Rubric) -> Rubric:
    """The rubric a month is scored with (see the module docstring); `fallback` is the
    file's (KPI_RUBRIC). A team's settled month keeps its snapshot: `month_rules_for`.
    One indexed query; each version is parsed once per process."""
    row = active_version(s, period)
    return fallback if row is None else _rubric_of(row)


def month_rules_for(
    s: Session, team_id: int, period: str, fallback: Rubric, default_base: Decimal | None
) -> tuple[Rubric, Decimal | None, Settlement | None]:
    """(rubric, commission base, settlement) of a team's month: a settled month's snapshot
    and base, else the version in force and the team's base for the month."""
    st = settlement_row(s, team_id, period)
    if st is not None and st.status == "settled":
        return rubric_of(st, fallback), base_of(st), st
    return rubric_for(s, period, fallback), open_month_base(s, team_id, period, default_base), st


# ---- drafts and activation ------------------------------------------------------------------


def versions(s: Session) -> list[RubricVersion]:
    return list(s.execute(select(RubricVersion).order_by(RubricVersion.id.desc())).scalars())


def version_by_id(s: Session, version_id: int) -> RubricVersion:
    row = s.get(RubricVersion, version_id) if 0 < version_id < 2**31 else None
    if row is None:
        raise Refused(f"没有编号为 {version_id} 的考核表版本")
    return row


def save_draft(
    s: Session, text: str, name: str, actor: str, actor_name: str, reserved: set[str]
) -> RubricVersion:
    """Keep a checked draft (the same content twice is one draft)."""
    rub = check_draft(text, name, reserved)
    same = s.execute(
        select(RubricVersion).where(RubricVersion.version == rub.version).limit(1)
    ).scalar_one_or_none()
    if same is not None:
        return same
    row = RubricVersion(
        version=rub.version,
        name=name[:100],
        text=text,
        created_at=utcnow(),
        created_by=actor,
        created_by_name=actor_name,
    )
    s.add(row)
    s.flush()
    audit(s, None, actor, "rubric.draft", f"rubric#{row.id}", None, {"name": row.name}, "网页")
    return row


def settled_teams(s: Session, period: str) -> list[str]:
    """Names of the teams that have settled `period` (and not reopened it)."""
    from .tables import Team

    rows = s.execute(
        select(Team.name)
        .join(Settlement, Settlement.team_id == Team.id)
        .where(Settlement.period == period, Settlement.status == "settled")
        .order_by(Team.name)
    ).scalars()
    return list(rows)


def activate(
    s: Session, version_id: int, from_period: str, actor: str, actor_name: str, *, superuser: bool
) -> RubricVersion:
    """Activate a version from `from_period` on: never a month a team has settled (its
    pay is final; SPEC §1 a settled month keeps its rubric). Superusers only: the rubric is
    every team's."""
    if not superuser:
        raise Refused("只有超级管理员可以启用考核表（考核表对所有团队生效）")
    row = version_by_id(s, version_id)
    settled = settled_teams(s, from_period)
    if settled:
        raise Refused(
            f"{from_period} 已结算（{'、'.join(settled[:5])}），不能从这个月启用新考核表；"
            "请选择还没有结算的月份"
        )
    before = row.active_from
    row.active_from = from_period
    row.activated_at = utcnow()
    row.activated_by = actor
    s.add(row)
    s.flush()
    audit(
        s,
        None,
        actor,
        "rubric.activate",
        f"rubric#{row.id}",
        {"active_from": before},
        {"active_from": from_period, "name": row.name, "by": actor_name},
        "网页",
    )
    return row


# ---- the what-if -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIfRow:
    member_id: int
    name: str
    old: MemberScore
    new: MemberScore

    @property
    def delta(self) -> Fraction:
        return self.new.total - self.old.total


@dataclass(frozen=True)
class WhatIf:
    period: str
    settled: bool
    base: Decimal | None
    old_rubric: Rubric
    new_rubric: Rubric
    rows: list[WhatIfRow]

    @property
    def old_pay(self) -> Decimal | None:
        return _pay(r.old for r in self.rows) if self.base is not None else None

    @property
    def new_pay(self) -> Decimal | None:
        return _pay(r.new for r in self.rows) if self.base is not None else None

    @cached_property
    def changed(self) -> list[WhatIfRow]:
        """The agents whose shown total, grade or pay moves."""
        return [r for r in self.rows if _shown(r.old) != _shown(r.new)]

    @cached_property
    def changed_set(self) -> set[int]:
        return {id(r) for r in self.changed}


def _pay(scores) -> Decimal:
    """The team's pay as paid: each agent's commission rounded half up to the cent."""
    return sum((money(s.commission) for s in scores if s.commission is not None), Decimal(0))


def _shown(score: MemberScore) -> tuple:
    pay = None if score.commission is None else money(score.commission)
    return round_half_up(score.total, 1), score.grade, pay


def what_if(
    s: Session,
    team_id: int,
    period: str,
    draft: Rubric,
    fallback: Rubric,
    default_base: Decimal | None,
) -> WhatIf:
    """Every scored agent of the team's month under its rules now (a settled month: as
    settled) and under `draft`, with the same entries and the same commission base.
    Nothing is written. The scores come from `dashboard.scored_now` (the team page's: a
    month read again after one new entry scores one agent again, under either rubric)."""
    rubric, base, st = month_rules_for(s, team_id, period, fallback, default_base)
    after = scored_now(s, draft, team_id, period, base)
    settled = st is not None and st.status == "settled"
    before = None if settled else scored_now(s, rubric, team_id, period, base)
    if settled:
        from .settlement import stored_score

        found = s.execute(
            select(SettledScore, Member.name)
            .join(Member, Member.id == SettledScore.member_id)
            .where(SettledScore.settlement_id == st.id)
        ).all()
        people = [(sc.member_id, sc.name, stored_score(rubric, sc)) for sc, _ in found]
    else:
        agents = s.execute(
            select(Member.id, Member.name).where(*_scored(team_id, period)).order_by(Member.id)
        ).all()
        people = [(mid, name, None) for mid, name in agents]
    rows = []
    for mid, name, stored in people:
        old = stored if before is None else before.scores.get(mid, before.empty)
        rows.append(WhatIfRow(mid, name, old, after.scores.get(mid, after.empty)))
    rows.sort(key=lambda r: (-r.new.total, r.name, r.member_id))
    return WhatIf(period, settled, base, rubric, draft, rows)
