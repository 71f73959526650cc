"""The dashboard's pages as read use cases, run through `bot.door.read` (read-only), as
the chat's reads are (SPEC §5a, issue 21). A page of `plugins.web` calls one of them: it
checks what needs the database — the team exists and the viewer sees it, the member is the
team's (`dashboard.Unseen`: the web answers 404 or 403) — and returns the rows and values
the template shows, loaded; the route checks the request, calls it and renders.

    looking(s, LookRead)           -> Looking | None  who a session cookie is (every page)
    home(s, PageRead)              -> list[Team]      the teams the viewer sees
    team(s, PageRead)              -> TeamPage        the ranking, 待核实, non-reporters
    member(s, MemberRead)          -> MemberPage      an agent's month and trend
    entries(s, EntriesRead)        -> EntriesPage     the month's entries, filtered
    audit(s, AuditRead)            -> AuditPage       the month's writes, as /审计
    appeals(s, AppealsRead)        -> AppealsPage
    rubric(s, PageRead)            -> RubricPage      the month's rules and the versions
    export(s, PageRead)            -> Exported        the workbook's data, as /导出
    evidence(s, EvidenceRead)      -> Entry           the entry an image belongs to
    settings(s, PageRead)          -> SettingsPage    the team's base, history, groups
    marking(s, PageRead)           -> MarkingPage     the agents a supervisor may mark
    roster(s, PageRead)            -> RosterPage
    team_of(s, PageRead)           -> Team            a page with only the team to read
    member_of(s, MemberRead)       -> (Team, Member)  an action on a member of the team

The reads that score or word a month take the `base.Policy` (`bot.runtime.policy()`): the
rules a month is scored with are its own (`models.settlement.rules_in_force`), with the
policy's rubric and commission base (the file's, KPI_COMMISSION_BASE) as the fallback. The
others take the session and their request only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from ..commission import commission_base_for
from ..dashboard import (
    EntryFilter,
    MemberMonth,
    Page,
    TeamMonth,
    Unseen,
    Viewer,
    agents_to_mark,
    appeals_list,
    audit_page,
    base_history,
    entries_page,
    entry_choices,
    groups_to_ask,
    member_for,
    member_month,
    member_names,
    team_for,
    team_month,
    team_roster,
    viewer_of,
    visible_teams,
)
from ..linkcheck import FlagView, pending_flags
from ..roster import audit_sentences_of, names_in, team_bindings
from ..rubric import Rubric
from ..rubricstore import month_rules_for, versions
from ..settlement import held_posts
from ..tables import (
    Appeal,
    CommissionBase,
    Entry,
    GroupBinding,
    Member,
    RubricVersion,
    Settlement,
    Team,
    WebLogin,
)
from ..weblogin import session_of
from .base import Policy
from .exports import Export, ExportRead
from .exports import export as export_month

# ---- who is looking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LookRead:
    cookie: str | None
    today: date
    ask_groups: bool  # KPI_ADMINS_ARE_SUPERVISORS: a group's owner or admin supervises


@dataclass(frozen=True)
class Looking:
    """A session's login and signing key, the groups whose owner/admin list the platform
    must be asked about (`dashboard.groups_to_ask`), and the viewer as the roster says
    without that right. Its `superuser` is False: SUPERUSERS is configuration, the
    caller's (`bot.identity.is_superuser`)."""

    login: WebLogin
    key: str
    groups: list[GroupBinding]
    viewer: Viewer


def looking(s: Session, req: LookRead) -> Looking | None:
    """Who a session cookie is, with rights from the roster at this request (SPEC §2, §5a);
    None: no session (never one, ended, expired or signed with an older key)."""
    found = session_of(s, req.cookie)
    if found is None:
        return None
    login, key = found
    groups = groups_to_ask(s, login) if req.ask_groups else []
    return Looking(login, key, groups, viewer_of(s, login, False, req.today))


# ---- a team's pages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRead:
    viewer: Viewer
    team_id: int = 0
    period: str = ""


def home(s: Session, req: PageRead) -> list[Team]:
    return visible_teams(s, req.viewer)


def team_of(s: Session, req: PageRead, *, manage: bool = True) -> Team:
    """The team, if the viewer supervises it (`manage`) or sees it."""
    return team_for(s, req.viewer, req.team_id, manage=manage)


@dataclass(frozen=True)
class TeamPage:
    team: Team
    month: TeamMonth
    flags: list[FlagView]
    held: int = 0  # the month's posts 「重发月报」 would send again (read for a superuser)


def team(s: Session, req: PageRead, policy: Policy) -> TeamPage:
    """The team's month as `/排行` reads it (`dashboard.team_month`), with its 待核实 list:
    every open flag of the team for a supervisor, an agent's own only (SPEC §5a)."""
    v = req.viewer
    t = team_for(s, v, req.team_id)
    manage = v.manages(req.team_id)
    tm = team_month(
        s,
        t,
        req.period,
        policy.rubric,
        policy.commission_base,
        today=policy.today,
        tz=policy.tz,  # type: ignore[arg-type]
        full=manage,
    )
    flags = pending_flags(s, req.team_id, req.period)
    if not manage:
        me = v.agent_in.get(req.team_id)
        flags = [f for f in flags if f.member_id == me]
    held = held_posts(s, req.team_id, req.period) if v.superuser else 0
    return TeamPage(t, tm, flags, held)


@dataclass(frozen=True)
class MemberRead:
    viewer: Viewer
    team_id: int
    member_id: int
    period: str = ""


@dataclass(frozen=True)
class MemberPage:
    team: Team
    month: MemberMonth


def member_of(s: Session, req: MemberRead, *, manage: bool = True) -> tuple[Team, Member]:
    """The team (supervised by the viewer with `manage`, else seen) and its member."""
    return team_for(s, req.viewer, req.team_id, manage=manage), member_for(
        s, req.team_id, req.member_id
    )


def member(s: Session, req: MemberRead, policy: Policy) -> MemberPage:
    """An agent's month (`dashboard.member_month`), for a supervisor or the agent."""
    t, m = member_of(s, req, manage=False)
    if not req.viewer.sees_member(req.team_id, req.member_id):
        raise Unseen("成员", forbidden=True)
    return MemberPage(t, member_month(s, t, m, req.period, policy.rubric, policy.commission_base))


@dataclass(frozen=True)
class EntriesRead:
    viewer: Viewer
    team_id: int
    filter: EntryFilter
    page: int = 1


@dataclass(frozen=True)
class EntriesPage:
    team: Team
    rubric: Rubric
    result: Page
    people: list[tuple[int, str]]
    loggers: list[tuple[str, str]]
    names: dict[int, str]


def _rules(s: Session, team_id: int, period: str, policy: Policy):
    return month_rules_for(s, team_id, period, policy.rubric, policy.commission_base)


def entries(s: Session, req: EntriesRead, policy: Policy) -> EntriesPage:
    t = team_for(s, req.viewer, req.team_id, manage=True)
    period = req.filter.period
    rub, _, _ = _rules(s, req.team_id, period, policy)
    result = entries_page(s, req.team_id, req.filter, req.page)
    people, loggers = entry_choices(s, req.team_id, period)
    names = member_names(s, {e.member_id for e in result.rows})
    return EntriesPage(t, rub, result, people, loggers, names)


@dataclass(frozen=True)
class AuditRead:
    viewer: Viewer
    team_id: int
    period: str
    action: str | None = None
    page: int = 1
    item_names: dict[str, str] = field(default_factory=dict)  # as `/审计` names the items


@dataclass(frozen=True)
class AuditPage:
    team: Team
    result: Page
    actors: dict[str, str]
    sentences: list[str]


def audit(s: Session, req: AuditRead, policy: Policy) -> AuditPage:
    """The month's writes, each worded as `/审计` words it (`roster.audit_sentences_of`)."""
    t = team_for(s, req.viewer, req.team_id, manage=True)
    result = audit_page(s, req.team_id, req.period, policy.tz, req.action, req.page)  # type: ignore[arg-type]
    actors = names_in(s, req.team_id, {r.actor for r in result.rows})
    sentences = audit_sentences_of(s, req.team_id, list(result.rows), req.item_names)
    return AuditPage(t, result, actors, sentences)


@dataclass(frozen=True)
class AppealsRead:
    viewer: Viewer
    team_id: int
    period: str
    status: str | None = None


@dataclass(frozen=True)
class AppealsPage:
    team: Team
    rubric: Rubric
    rows: list[tuple[Appeal, Entry]]
    names: dict[int, str]
    closers: dict[str, str]


def appeals(s: Session, req: AppealsRead, policy: Policy) -> AppealsPage:
    t = team_for(s, req.viewer, req.team_id, manage=True)
    rub, _, _ = _rules(s, req.team_id, req.period, policy)
    rows = appeals_list(s, req.team_id, req.period, req.status)
    names = member_names(s, {e.member_id for _, e in rows})
    closers = names_in(s, req.team_id, {a.closed_by for a, _ in rows if a.closed_by})
    return AppealsPage(t, rub, rows, names, closers)


@dataclass(frozen=True)
class RubricPage:
    team: Team
    rubric: Rubric
    base: Decimal | None
    settled: Settlement | None  # the month's settlement, once settled
    versions: list[RubricVersion]


def rubric(s: Session, req: PageRead, policy: Policy) -> RubricPage:
    t = team_for(s, req.viewer, req.team_id)
    rub, base, st = _rules(s, req.team_id, req.period, policy)
    settled = st if st is not None and st.status == "settled" else None
    return RubricPage(t, rub, base, settled, versions(s))


@dataclass(frozen=True)
class Exported:
    team: Team
    export: Export


def export(s: Session, req: PageRead, policy: Policy) -> Exported:
    """The month's workbook data as `/导出` reads it (`usecases.exports.export`); the
    workbook is built from it after the read."""
    t = team_for(s, req.viewer, req.team_id, manage=True)
    ask = ExportRead(t.id, t.name, req.period, policy.rubric, policy.commission_base)
    return Exported(t, export_month(s, ask, policy))


@dataclass(frozen=True)
class EvidenceRead:
    viewer: Viewer
    entry_id: int


def evidence(s: Session, req: EvidenceRead) -> Entry:
    """The entry whose image is asked for, if the viewer may see that member's entries."""
    entry = s.get(Entry, req.entry_id)
    if entry is None:
        raise Unseen("记录")
    if not req.viewer.sees_member(entry.team_id, entry.member_id):
        raise Unseen("记录", forbidden=True)
    return entry


# ---- the desk's pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsPage:
    team: Team
    base: Decimal | None  # the team's commission base of the month
    history: list[CommissionBase]
    groups: list[GroupBinding]


def settings(s: Session, req: PageRead, policy: Policy) -> SettingsPage:
    t = team_for(s, req.viewer, req.team_id, manage=True)
    base = commission_base_for(s, req.team_id, req.period, policy.commission_base)
    return SettingsPage(t, base, base_history(s, req.team_id), team_bindings(s, req.team_id))


@dataclass(frozen=True)
class MarkingPage:
    team: Team
    agents: list[Member]


def marking(s: Session, req: PageRead, policy: Policy) -> MarkingPage:
    """The team's current agents a supervisor may mark (not themselves, SPEC §2)."""
    t = team_for(s, req.viewer, req.team_id, manage=True)
    return MarkingPage(t, agents_to_mark(s, req.team_id, policy.today, req.viewer.user_id))


@dataclass(frozen=True)
class RosterPage:
    team: Team
    members: list[Member]


def roster(s: Session, req: PageRead) -> RosterPage:
    t = team_for(s, req.viewer, req.team_id, manage=True)
    return RosterPage(t, team_roster(s, req.team_id))
