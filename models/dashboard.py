"""What the web dashboard shows and who may see it (SPEC §5a, §2).

Every number comes from the code chat uses: the ranking is `month_scores` (as `/排行`: a
settled month's stored scores), an agent's month is `member_score` (as `/我的绩效`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .appeals import open_appeals
from .ledger import MonthTallies, Ranked, member_entries, read_tallies, tally_query
from .nudges import Gap, missing_reports
from .periods import month_start_utc, period_bounds, shift_period
from .rights import is_current
from .roster import all_teams, bindings_of, memberships
from .rubric import Rubric
from .scoring import MemberScore, Tally, score_member
from .settlement import base_of, member_score, month_scores, rubric_of, stored_score
from .tables import (
    Appeal,
    AuditLog,
    Entry,
    GroupBinding,
    Member,
    SettledScore,
    Settlement,
    Team,
    Tenure,
    WebLogin,
)

PAGE_SIZE = 50
TREND_MONTHS = 12


# ---- who sees what (SPEC §2) -----------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """A logged-in person: a superuser sees every team, a supervisor their teams, an agent
    their own pages and their team's ranking."""

    login_id: int
    name: str
    superuser: bool
    supervises: frozenset[int] = frozenset()
    agent_in: dict[int, int] = field(default_factory=dict)  # team id → own member id

    def sees_team(self, team_id: int) -> bool:
        return self.manages(team_id) or team_id in self.agent_in

    def manages(self, team_id: int) -> bool:
        return self.superuser or team_id in self.supervises

    def sees_member(self, team_id: int, member_id: int) -> bool:
        return self.manages(team_id) or self.agent_in.get(team_id) == member_id


async def viewer_of(
    session: AsyncSession,
    login: WebLogin,
    superuser: bool,
    today: date,
    *,
    group_admin: bool = False,
) -> Viewer:
    """Rights from the roster and the facts as they are at this request (SPEC §2, §5a): a
    `/取消主管` or a `/离职` takes effect at the next page.

    A supervisor is an explicit `/主管` of the team whose membership has not ended; an agent
    a member who has not left (`models.rights.is_current`); a member who left sees nothing
    of that team. The team of the group where the link was asked for (`group_team_id`)
    is supervised only when `group_admin` says the platform reports the person as owner or
    admin of a group bound to that team right now (the caller asks it, see
    `groups_to_ask`; with KPI_ADMINS_ARE_SUPERVISORS off, or no bot able to answer, it is
    False)."""
    supervises: set[int] = set()
    agent_in: dict[int, int] = {}
    for m in await memberships(session, login.platform, login.user_id):
        if not is_current(m, today):
            continue
        if m.role == "supervisor":
            supervises.add(m.team_id)
        else:
            agent_in[m.team_id] = m.id
    if login.group_team_id is not None and group_admin:
        supervises.add(login.group_team_id)
    return Viewer(login.id, login.name, superuser, frozenset(supervises), agent_in)


async def groups_to_ask(session: AsyncSession, login: WebLogin) -> list[GroupBinding]:
    """The groups whose owner/admin list decides the session's group right: those bound to
    the team the link was asked from, on the person's platform (none when it was asked in
    private chat)."""
    if login.group_team_id is None:
        return []
    return [
        b for b in await bindings_of(session, login.group_team_id) if b.platform == login.platform
    ]


async def visible_teams(session: AsyncSession, viewer: Viewer) -> list[Team]:
    return [t for t in await all_teams(session) if viewer.sees_team(t.id)]


# ---- the team's month ------------------------------------------------------------------------


@dataclass
class TeamMonth:
    team: Team
    period: str
    rubric: Rubric
    ranking: list[Ranked]
    settlement: Settlement | None
    missing: list[tuple[Member, list[Gap]]] | None  # today's non-reporters (current month)
    appeals: list[tuple[Appeal, Entry]]
    names: dict[int, str]

    @property
    def status(self) -> str:
        s = self.settlement
        if s is None:
            return "未结算（实时数据）"
        if s.status == "reopened":
            return "已重开，待重新结算（实时数据）"
        return f"已结算（第 {s.revision} 版）" if s.revision > 1 else "已结算"


async def team_month(
    session: AsyncSession,
    team: Team,
    period: str,
    rubric_now: Rubric,
    base_now: Decimal | None,
    *,
    today: date,
    tz: ZoneInfo,
    full: bool,
) -> TeamMonth:
    """The ranking as `/排行` computes it; with `full` (supervisors) also who has not reported
    today (current month only) and the month's open appeals."""
    rubric, ranking, settlement = await month_scores(session, team.id, period, rubric_now, base_now)
    missing = None
    appeals: list = []
    if full:
        if period == today.strftime("%Y-%m"):
            missing = await missing_reports(
                session, rubric, team.id, today, tz, tallies_of(ranking)
            )
        appeals = [tuple(r) for r in await open_appeals(session, team.id, period)]
    names = {r.member.id: r.member.name for r in ranking}
    if appeals:
        names |= await member_names(session, {e.member_id for _, e in appeals})
    return TeamMonth(team, period, rubric, ranking, settlement, missing, appeals, names)


def tallies_of(ranking: list[Ranked]) -> MonthTallies:
    """The month's tallies back from the ranking's item scores (no second GROUP BY); a
    member's are rebuilt only when asked for (only today's non-reporters are)."""
    return MonthTallies(_TalliesFromRanking(ranking), {})  # type: ignore[arg-type]


class _TalliesFromRanking(Mapping[int, dict[str, Tally]]):
    def __init__(self, ranking: list[Ranked]) -> None:
        self._ranked = {r.member.id: r for r in ranking}

    def __getitem__(self, member_id: int) -> dict[str, Tally]:
        score = self._ranked[member_id].score
        return {i.item.key: Tally(i.quantity, i.entries) for c in score.categories for i in c.items}

    def __iter__(self) -> Iterator[int]:
        return iter(self._ranked)

    def __len__(self) -> int:
        return len(self._ranked)


async def member_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Member.id, Member.name).where(Member.id.in_(ids)))
    return dict(rows.all())


# ---- an agent's month --------------------------------------------------------------------------


@dataclass
class MemberMonth:
    member: Member
    period: str
    rubric: Rubric
    score: MemberScore
    entries: list[Entry]
    appeals: dict[int, Appeal]  # entry id → its latest appeal
    trend: list[tuple[str, MemberScore | None]]


async def member_month(
    session: AsyncSession,
    team: Team,
    member: Member,
    period: str,
    rubric_now: Rubric,
    base_now: Decimal | None,
) -> MemberMonth:
    rubric, score = await member_score(session, team.id, member.id, period, rubric_now, base_now)
    entries = await member_entries(session, team.id, member.id, period)
    rows = await session.execute(
        select(Appeal)
        .where(Appeal.member_id == member.id, Appeal.entry_id.in_([e.id for e in entries]))
        .order_by(Appeal.id)
    )
    appeals = {a.entry_id: a for a in rows.scalars()}
    trend = await member_trend(session, team.id, member, period, rubric_now, base_now)
    return MemberMonth(member, period, rubric, score, entries, appeals, trend)


async def member_trend(
    session: AsyncSession,
    team_id: int,
    member: Member,
    last: str,
    rubric_now: Rubric,
    base_now: Decimal | None,
    months: int = TREND_MONTHS,
) -> list[tuple[str, MemberScore | None]]:
    """The member's score in each of the `months` months up to `last` (None: not scored).

    Each month is scored with its own rules (a settled month with its snapshot), from one
    GROUP BY over the months, the same tallies and `score_member` as chat.
    """
    periods = [shift_period(last, -k) for k in range(months - 1, -1, -1)]
    rows = (await session.execute(tally_query(team_id, periods, member.id, by=Entry.period))).all()
    tallies, fines = read_tallies(rows)
    settled = {
        s.period: s
        for s in (
            await session.execute(
                select(Settlement).where(
                    Settlement.team_id == team_id, Settlement.period.in_(periods)
                )
            )
        ).scalars()
    }
    stored = {
        sc.settlement_id: sc
        for sc in (
            await session.execute(
                select(SettledScore).where(
                    SettledScore.member_id == member.id,
                    SettledScore.settlement_id.in_(
                        [s.id for s in settled.values() if s.status == "settled"]
                    ),
                )
            )
        ).scalars()
    }
    tenures = list(
        (await session.execute(select(Tenure).where(Tenure.member_id == member.id))).scalars()
    )
    out: list[tuple[str, MemberScore | None]] = []
    for period in periods:
        first, end = period_bounds(period)
        on_team = any(t.start <= end and (t.end is None or t.end >= first) for t in tenures)
        if not on_team and period not in tallies:
            out.append((period, None))
            continue
        rubric, base = rubric_now, base_now
        s = settled.get(period)
        if s is not None and s.status == "settled":
            if s.id in stored:  # as settled (SPEC §4), not as the entries say today
                out.append((period, stored_score(rubric_of(s, rubric_now), stored[s.id])))
                continue
            rubric, base = rubric_of(s, rubric_now), base_of(s)
        score = score_member(
            rubric, tallies.get(period, {}), Fraction(fines.get(period, 0), 100), base
        )
        out.append((period, score))
    return out


# ---- lists with filters ---------------------------------------------------------------------------


@dataclass
class Page:
    rows: list
    total: int
    page: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


@dataclass(frozen=True)
class EntryFilter:
    period: str
    item: str | None = None
    member_id: int | None = None
    logged_by: str | None = None
    revoked: str | None = None  # "yes" | "no" | None (all)


async def entries_page(session: AsyncSession, team_id: int, f: EntryFilter, page: int = 1) -> Page:
    conds = [Entry.team_id == team_id, Entry.period == f.period]
    if f.item:
        conds.append(Entry.item_key == f.item)
    if f.member_id:
        conds.append(Entry.member_id == f.member_id)
    if f.logged_by:
        conds.append(Entry.created_by == f.logged_by)
    if f.revoked == "yes":
        conds.append(Entry.revoked_at.is_not(None))
    elif f.revoked == "no":
        conds.append(Entry.revoked_at.is_(None))
    total = (await session.execute(select(func.count(Entry.id)).where(*conds))).scalar_one()
    rows = await session.execute(
        select(Entry)
        .where(*conds)
        .order_by(Entry.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return Page(list(rows.scalars()), int(total), page)


async def entry_choices(
    session: AsyncSession, team_id: int, period: str
) -> tuple[list[tuple[int, str]], list[tuple[str, str]]]:
    """(people, loggers) that appear in the month's entries, for the filter menus."""
    people = await session.execute(
        select(Member.id, Member.name)
        .where(
            Member.id.in_(
                select(Entry.member_id).where(Entry.team_id == team_id, Entry.period == period)
            )
        )
        .order_by(Member.name)
    )
    loggers = await session.execute(
        select(Entry.created_by, func.max(Entry.created_by_name))
        .where(Entry.team_id == team_id, Entry.period == period)
        .group_by(Entry.created_by)
        .order_by(func.max(Entry.created_by_name))
    )
    return [tuple(r) for r in people.all()], [tuple(r) for r in loggers.all()]


AUDIT_ACTIONS = {
    "entry.create": "记录",
    "entry.revoke": "撤销",
    "appeal.open": "申诉",
    "appeal.accepted": "申诉受理",
    "appeal.rejected": "申诉驳回",
    "join": "入职",
    "leave": "离职",
    "role": "角色",
    "bind": "绑定",
    "unbind": "解绑",
    "settle": "结算",
    "reopen": "重开",
    "team.create": "建团队",
}


async def audit_page(
    session: AsyncSession,
    team_id: int,
    period: str,
    tz: ZoneInfo,
    action: str | None = None,
    page: int = 1,
) -> Page:
    """The team's writes in the month (local time), newest first."""
    conds = [
        AuditLog.team_id == team_id,
        AuditLog.at >= month_start_utc(period, tz),
        AuditLog.at < month_start_utc(shift_period(period, 1), tz),
    ]
    if action:
        conds.append(AuditLog.action == action)
    total = (await session.execute(select(func.count(AuditLog.id)).where(*conds))).scalar_one()
    rows = await session.execute(
        select(AuditLog)
        .where(*conds)
        .order_by(AuditLog.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return Page(list(rows.scalars()), int(total), page)


APPEAL_STATUS = {"open": "待处理", "accepted": "已受理", "rejected": "已驳回", "expired": "已过期"}


async def appeals_list(
    session: AsyncSession, team_id: int, period: str | None, status: str | None
) -> list[tuple[Appeal, Entry]]:
    q = (
        select(Appeal, Entry)
        .join(Entry, Entry.id == Appeal.entry_id)
        .where(Appeal.team_id == team_id)
        .order_by(Appeal.id.desc())
        .limit(500)
    )
    if period:
        q = q.where(Entry.period == period)
    if status:
        q = q.where(Appeal.status == status)
    return [tuple(r) for r in (await session.execute(q)).all()]


# ---- files -------------------------------------------------------------------------------------


def evidence_file(entry: Entry, data_dir: Path) -> Path | None:
    """The entry's downloaded image, only if it lies inside the data folder."""
    if not entry.image_path:
        return None
    root = data_dir.resolve()
    path = Path(entry.image_path)
    path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path
