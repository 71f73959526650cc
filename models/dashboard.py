"""What the web dashboard shows and who may see it (SPEC §5a, §2).

Every number comes from the code chat uses: the ranking is `month_scores` (as `/排行`: a
settled month's stored scores), an agent's month is `member_score` (as `/我的绩效`).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from .appeals import open_appeal_rows
from .ledger import MonthTallies, Ranked, rank, read_tallies, tally_query
from .nudges import Gap, missing_on
from .periods import month_start_utc, period_bounds, shift_period
from .quantity import as_quantity
from .rights import is_current
from .roster import agents_scored, memberships_of, team_bindings, teams
from .rubric import Rubric
from .scoring import MemberScore, Tally, score_member
from .settlement import (
    base_of,
    member_score,
    month_scores,
    rubric_of,
    rules_in_force,
    stored_score,
)
from .tables import (
    Appeal,
    AuditLog,
    CommissionBase,
    Entry,
    GroupBinding,
    Member,
    MemberAccount,
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
    csrf: str = ""  # the session's form token (models.weblogin.csrf_token)
    platform: str = ""
    user_id: str = ""

    @property
    def key(self) -> str:
        """`platform:user_id`, as entries and audit rows name people."""
        return f"{self.platform}:{self.user_id}"

    def sees_team(self, team_id: int) -> bool:
        return self.manages(team_id) or team_id in self.agent_in

    def manages(self, team_id: int) -> bool:
        return self.superuser or team_id in self.supervises

    def sees_member(self, team_id: int, member_id: int) -> bool:
        return self.manages(team_id) or self.agent_in.get(team_id) == member_id


def viewer_of(
    s: Session,
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
    for m in memberships_of(s, login.platform, login.user_id):
        if not is_current(m, today):
            continue
        if m.role == "supervisor":
            supervises.add(m.team_id)
        else:
            agent_in[m.team_id] = m.id
    if login.group_team_id is not None and group_admin:
        supervises.add(login.group_team_id)
    return Viewer(
        login.id,
        login.name,
        superuser,
        frozenset(supervises),
        agent_in,
        platform=login.platform,
        user_id=login.user_id,
    )


def groups_to_ask(s: Session, login: WebLogin) -> list[GroupBinding]:
    """The groups whose owner/admin list decides the session's group right: those bound to
    the team the link was asked from, on the person's platform (none when it was asked in
    private chat)."""
    if login.group_team_id is None:
        return []
    return [b for b in team_bindings(s, login.group_team_id) if b.platform == login.platform]


def visible_teams(s: Session, viewer: Viewer) -> list[Team]:
    return [t for t in teams(s) if viewer.sees_team(t.id)]


class Unseen(Exception):
    """A page's team, member or entry that does not exist (404), or that the viewer may not
    see (`forbidden`, 403): raised by the page reads, turned into the page by the web."""

    def __init__(self, what: str, *, forbidden: bool = False):
        super().__init__(what)
        self.what, self.forbidden = what, forbidden


def team_for(s: Session, viewer: Viewer, team_id: int, *, manage: bool = False) -> Team:
    """The team of a page: 404 when there is none, 403 unless the viewer sees it (with
    `manage`: supervises it)."""
    team = s.get(Team, team_id)
    if team is None:
        raise Unseen("团队")
    if not (viewer.manages(team_id) if manage else viewer.sees_team(team_id)):
        raise Unseen("团队", forbidden=True)
    return team


def member_for(s: Session, team_id: int, member_id: int) -> Member:
    """A member of the team (404 when there is none, or they are another team's)."""
    member = s.get(Member, member_id)
    if member is None or member.team_id != team_id:
        raise Unseen("成员")
    return member


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


def team_month(
    s: Session,
    team: Team,
    period: str,
    rubric: Rubric,
    base: Decimal | None,
    *,
    today: date,
    tz: ZoneInfo,
    full: bool,
) -> TeamMonth:
    """The ranking as `/排行` computes it (`settlement.month_scores`, the open month from
    the scores kept here, `live_ranking`); `rubric` and `base` are the fallback (the file's,
    KPI_COMMISSION_BASE). With `full` (supervisors) also who has not reported today
    (current month only) and the month's open appeals."""
    seen: list[MonthTallies] = []

    def live(s: Session, rub: Rubric, team_id: int, period: str, base: Decimal | None):
        ranking, tallies = live_ranking(s, rub, team_id, period, base)
        seen.append(tallies)
        return ranking

    rubric, ranking, settlement = month_scores(s, team.id, period, rubric, base, live)
    tallies = seen[0] if seen else None
    missing = None
    appeals: list = []
    if full:
        if period == today.strftime("%Y-%m"):
            missing = missing_on(s, rubric, team.id, today, tz, tallies)
        appeals = [tuple(r) for r in open_appeal_rows(s, team.id, period)]
    names = {r.member.id: r.member.name for r in ranking}
    if appeals:
        names |= member_names(s, {e.member_id for _, e in appeals})
    return TeamMonth(team, period, rubric, ranking, settlement, missing, appeals, names)


# ---- the live ranking: each member's month kept per state of their entries ------------------


@dataclass(frozen=True, slots=True)
class _Part:
    """One member's counted entries of the month: their state (`member_states`) and
    tallies, read by one query, so the two always describe the same entries."""

    state: tuple[int, int]
    tallies: dict[str, Tally]
    fine_cents: int


@dataclass(frozen=True)
class Scored:
    """A month's tallies and every member's score under one rubric version and base."""

    tallies: MonthTallies
    scores: dict[int, MemberScore]  # members with entries; the others score as `empty`
    empty: MemberScore


_KEEP = 8  # months (team, period), and (month, rubric version, base), kept per process
_MONTHS: OrderedDict[tuple, tuple[int, dict[int, _Part]]] = OrderedDict()  # (links, parts)
_SCORES: OrderedDict[tuple, tuple[dict[int, _Part], Scored]] = OrderedDict()
_LOCK = threading.Lock()  # the door's reader threads and the event loop share the caches
_ENGINES: WeakKeyDictionary = WeakKeyDictionary()  # engine → its number in this process
_engine_numbers = itertools.count(1)
PART_QUERY_MEMBERS = 200  # more changed members than this: the whole month is read again


def _engine_number(session: Session) -> int:
    """A number for the database the session reads, never reused by another engine in this
    process (an `id()` could be, once an engine is gone)."""
    engine = session.get_bind()
    with _LOCK:
        if engine not in _ENGINES:
            _ENGINES[engine] = next(_engine_numbers)
        return _ENGINES[engine]


def _cached(cache: OrderedDict, key: tuple):
    with _LOCK:
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
        return found


def _keep(cache: OrderedDict, key: tuple, value):
    with _LOCK:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > _KEEP:
            cache.popitem(last=False)
    return value


_STATES = (
    select(Entry.member_id, func.count(Entry.id), func.sum(Entry.id))
    .where(
        Entry.team_id == bindparam("team_id"),
        Entry.period == bindparam("period"),
        Entry.revoked_at.is_(None),
    )
    .group_by(Entry.member_id)
)


def member_states(s: Session, team_id: int, period: str) -> dict[int, tuple[int, int]]:
    """member id → (how many, Σ ids) of their entries of the month that count (not
    revoked): one scan of the month's index, a row per member.

    An entry's member, item, quantity and fine never change once written (but for a
    `/关联` that merges an account's own member into another: `_month_parts` starts over
    whenever the team has a new linked account), a revoke only
    ever sets `revoked_at`, entries are never deleted, and a team's ids grow in the order
    its writes commit (one writer on SQLite; on PostgreSQL the team's lock is taken before
    any insert, `bot.door`). So a member whose state is as before has the same counted
    entries, hence the same tallies: k revokes and k new entries of one member keep the
    count but not Σ ids, because every new id exceeds every older one."""
    rows = s.execute(_STATES, {"team_id": team_id, "period": period})
    return {int(mid): (int(n), int(ids)) for mid, n, ids in rows}


_LINKS = select(func.max(MemberAccount.id)).where(MemberAccount.team_id == bindparam("team_id"))


def _read_parts(
    s: Session, team_id: int, period: str, members: list[int] | None
) -> dict[int, _Part]:
    """`ledger.tally_query` of the month (of `members` only, or all), with each member's
    state computed from the same rows."""
    q = tally_query(team_id, period).add_columns(func.sum(Entry.id))
    if members is not None:
        q = q.where(Entry.member_id.in_(members))
    found: dict[int, tuple[dict[str, Tally], list[int]]] = {}
    for mid, item, qty, n, fine, ids in s.execute(q):
        tallies, acc = found.setdefault(mid, ({}, [0, 0, 0]))
        tallies[item] = Tally(as_quantity(qty), int(n))
        acc[0] += int(n)
        acc[1] += int(ids)
        acc[2] += int(fine or 0)
    return {mid: _Part((n, ids), t, fine) for mid, (t, (n, ids, fine)) in found.items()}


def _month_parts(s: Session, team_id: int, period: str) -> dict[int, _Part]:
    """Every member's `_Part` of the month as the database has it now: the states are read
    (`member_states`), and only the members whose state is not the one kept are read
    again — a new entry or a revoke re-reads one member, not the month. A part is kept
    under the state read with it (`_read_parts`), not the one read before it: where each
    statement sees the latest commit (PostgreSQL's READ COMMITTED), an entry committed
    between the two statements is in both or in neither.

    A `/关联` may move a merged member's entries to another member (the one change of an
    entry's member): a new linked account of the team (`MemberAccount`) drops what was kept.

    Only from a read session (committed data): SQLite may give a rolled-back entry's id to
    the next one."""
    key = (_engine_number(s), team_id, period)
    links = s.execute(_LINKS, {"team_id": team_id}).scalar() or 0
    states = member_states(s, team_id, period)
    kept_links, kept = _cached(_MONTHS, key) or (links, {})
    if kept_links != links:
        kept = {}
    changed = [m for m, st in states.items() if (p := kept.get(m)) is None or p.state != st]
    if not changed and len(kept) == len(states):
        return kept
    if len(changed) > PART_QUERY_MEMBERS:
        parts = _read_parts(s, team_id, period, None)
    else:
        parts = {m: p for m, p in kept.items() if m in states and m not in changed}
        if changed:
            parts |= _read_parts(s, team_id, period, changed)
    return _keep(_MONTHS, key, (links, parts))[1]


def _as_tallies(parts: dict[int, _Part]) -> MonthTallies:
    return MonthTallies(
        {m: p.tallies for m, p in parts.items()}, {m: p.fine_cents for m, p in parts.items()}
    )


def tallies_now(s: Session, team_id: int, period: str) -> MonthTallies:
    """`ledger.month_tallies` of the month, from the per-member parts kept in this process
    (`_month_parts`): the what-if and the team page read the same month once, and a write
    re-reads only its member. Only from a read session."""
    return _as_tallies(_month_parts(s, team_id, period))


def scored_now(
    s: Session, rubric: Rubric, team_id: int, period: str, base: Decimal | None
) -> Scored:
    """The month's tallies and every member's `score_member` under `rubric` and `base`,
    kept per process: a member is scored again only when their entries changed
    (`_month_parts`), or under another rubric version or base. Only from a read session."""
    parts = _month_parts(s, team_id, period)
    key = (_engine_number(s), team_id, period, rubric.version, base)
    kept = _cached(_SCORES, key)
    if kept is not None and kept[0] is parts:
        return kept[1]
    old_parts, old = kept if kept is not None else ({}, None)
    scores = {}
    for m, p in parts.items():
        if old is not None and old_parts.get(m) is p:
            scores[m] = old.scores[m]
        else:
            scores[m] = score_member(rubric, p.tallies, Fraction(p.fine_cents, 100), base)
    empty = old.empty if old is not None else score_member(rubric, {}, 0, base)
    return _keep(_SCORES, key, (parts, Scored(_as_tallies(parts), scores, empty)))[1]


def live_ranking(
    s: Session, rubric: Rubric, team_id: int, period: str, base: Decimal | None
) -> tuple[list[Ranked], MonthTallies]:
    """The open month's ranking as `ledger.month_ranking` computes it (the same tallies,
    `score_member` and `rank`), from `scored_now`: a page read again after one new entry
    or revoke scores one member again. The roster is read at every call (a rename, a join
    or a leave shows at once). Only from a read session."""
    agents = agents_scored(s, team_id, period)
    scored = scored_now(s, rubric, team_id, period, base)
    ranking = rank([(a, scored.scores.get(a.id, scored.empty)) for a in agents])
    return ranking, scored.tallies


def member_names(s: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(s.execute(select(Member.id, Member.name).where(Member.id.in_(ids))).all())


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


def member_month(
    s: Session,
    team: Team,
    member: Member,
    period: str,
    rubric: Rubric,
    base: Decimal | None,
) -> MemberMonth:
    """An agent's month (`settlement.member_score`, as `/我的绩效`), its entries and their
    appeals, and the trend; `rubric` and `base` are the fallback (the file's,
    KPI_COMMISSION_BASE)."""
    rub, score = member_score(s, team.id, member.id, period, rubric, base)
    entries = member_entries(s, team.id, member.id, period)
    rows = s.execute(
        select(Appeal)
        .where(Appeal.member_id == member.id, Appeal.entry_id.in_([e.id for e in entries]))
        .order_by(Appeal.id)
    )
    appeals = {a.entry_id: a for a in rows.scalars()}
    rubric_now, base_now = rules_in_force(s, team.id, period, rubric, base)
    trend = member_trend(s, team.id, member, period, rubric_now, base_now)
    return MemberMonth(member, period, rub, score, entries, appeals, trend)


def member_entries(s: Session, team_id: int, member_id: int, period: str) -> list[Entry]:
    return list(
        s.execute(
            select(Entry)
            .where(Entry.team_id == team_id, Entry.member_id == member_id, Entry.period == period)
            .order_by(Entry.id)
        ).scalars()
    )


def member_trend(
    s: Session,
    team_id: int,
    member: Member,
    last: str,
    rubric_now: Rubric,
    base_now: Decimal | None,
    months: int = TREND_MONTHS,
) -> list[tuple[str, MemberScore | None]]:
    """The member's score in each of the `months` months up to `last` (None: not scored).

    Each settled month is its stored row with its snapshot's rubric (`stored_score`, as
    `settlement.member_score` reads it; a settled month without the member's row is scored
    with its snapshot and base); every other month with `rubric_now` and `base_now` (the
    rules of `last`). One GROUP BY over the months, the same tallies and `score_member`
    as chat.
    """
    periods = [shift_period(last, -k) for k in range(months - 1, -1, -1)]
    rows = s.execute(tally_query(team_id, periods, member.id, by=Entry.period)).all()
    tallies, fines = read_tallies(rows)
    settled = {
        st.period: st
        for st in s.execute(
            select(Settlement).where(Settlement.team_id == team_id, Settlement.period.in_(periods))
        ).scalars()
    }
    stored = {
        sc.settlement_id: sc
        for sc in s.execute(
            select(SettledScore).where(
                SettledScore.member_id == member.id,
                SettledScore.settlement_id.in_(
                    [st.id for st in settled.values() if st.status == "settled"]
                ),
            )
        ).scalars()
    }
    tenures = list(s.execute(select(Tenure).where(Tenure.member_id == member.id)).scalars())
    out: list[tuple[str, MemberScore | None]] = []
    for period in periods:
        first, end = period_bounds(period)
        on_team = any(t.start <= end and (t.end is None or t.end >= first) for t in tenures)
        if not on_team and period not in tallies:
            out.append((period, None))
            continue
        rubric, base = rubric_now, base_now
        st = settled.get(period)
        if st is not None and st.status == "settled":
            if st.id in stored:  # as settled (SPEC §4), not as the entries say today
                out.append((period, stored_score(rubric_of(st, rubric_now), stored[st.id])))
                continue
            rubric, base = rubric_of(st, rubric_now), base_of(st)
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


def entries_page(s: Session, team_id: int, f: EntryFilter, page: int = 1) -> Page:
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
    total = s.execute(select(func.count(Entry.id)).where(*conds)).scalar_one()
    # The page's ids first (from an index, without reading the month's rows), then its rows.
    ids = (
        select(Entry.id)
        .where(*conds)
        .order_by(Entry.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
        .scalar_subquery()
    )
    rows = s.execute(select(Entry).where(Entry.id.in_(ids)).order_by(Entry.id.desc()))
    return Page(list(rows.scalars()), int(total), page)


def entry_choices(
    s: Session, team_id: int, period: str
) -> tuple[list[tuple[int, str]], list[tuple[str, str]]]:
    """(people, loggers) that appear in the month's entries, for the filter menus."""
    people = s.execute(
        select(Member.id, Member.name)
        .where(
            Member.id.in_(
                select(Entry.member_id).where(Entry.team_id == team_id, Entry.period == period)
            )
        )
        .order_by(Member.name)
    )
    loggers = s.execute(
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
    "commission": "提成基数",
    "import": "导入",
}


def audit_page(
    s: Session,
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
    total = s.execute(select(func.count(AuditLog.id)).where(*conds)).scalar_one()
    rows = s.execute(
        select(AuditLog)
        .where(*conds)
        .order_by(AuditLog.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return Page(list(rows.scalars()), int(total), page)


APPEAL_STATUS = {"open": "待处理", "accepted": "已受理", "rejected": "已驳回", "expired": "已过期"}


def appeals_list(
    s: Session, team_id: int, period: str | None, status: str | None
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
    return [tuple(r) for r in s.execute(q).all()]


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


# ---- what the desk's forms list (plain functions of a sync Session, through bot.door) --------


def agents_to_mark(s: Session, team_id: int, today: date, not_user: str) -> list[Member]:
    """The team's current agents by name, without the person logging (nobody marks
    themselves, SPEC §2)."""
    rows = s.execute(
        select(Member)
        .where(Member.team_id == team_id, Member.role == "agent")
        .order_by(Member.name)
    ).scalars()
    return [m for m in rows if is_current(m, today) and m.user_id != not_user]


def members_by_user(s: Session, team_id: int, user_ids: list[str], platform: str) -> dict[str, int]:
    """user id → member id, for the people a form names (the form lists members of every
    platform by their user id; the same id on two platforms is the one on `platform`)."""
    rows = s.execute(
        select(Member.user_id, Member.id, Member.platform).where(
            Member.team_id == team_id, Member.user_id.in_(user_ids)
        )
    )
    found: dict[str, int] = {}
    for uid, member_id, _platform in sorted(rows.all(), key=lambda r: r[2] == platform):
        found[uid] = member_id  # the viewer's platform sorts last: it wins
    return found


def team_roster(s: Session, team_id: int) -> list[Member]:
    """Everyone on the team, those still on it first, by name."""
    return list(
        s.execute(
            select(Member)
            .where(Member.team_id == team_id)
            .order_by(Member.left_on.is_not(None), Member.name)
        ).scalars()
    )


def base_history(s: Session, team_id: int, limit: int = 20) -> list[CommissionBase]:
    """The team's commission bases as set, newest first."""
    return list(
        s.execute(
            select(CommissionBase)
            .where(CommissionBase.team_id == team_id)
            .order_by(CommissionBase.id.desc())
            .limit(limit)
        ).scalars()
    )
