"""Database tables (SQLModel). Every schema change goes through an Alembic migration.

Times are stored in UTC (naive); a month is stored as its `YYYY-MM` in KPI_TIMEZONE,
fixed when the entry is written. Money is stored in integer cents.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from .quantity import Quantity


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    created_at: datetime = Field(sa_type=DateTime)
    commission_base_cents: int | None = None
    reminder_time: str | None = None  # "HH:MM", "off", or None = use KPI_DAILY_REMINDER
    last_reminded_on: date | None = None


class GroupBinding(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("platform", "group_id"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    group_id: str
    team_id: int = Field(foreign_key="team.id", index=True)
    adapter: str = "OneBot V11"
    self_id: str | None = None  # the bot account that sits in the group
    bound_at: datetime = Field(sa_type=DateTime)
    bound_by: str


class Member(SQLModel, table=True):
    """A person in a team. Tenures record when they were on it (they can leave and rejoin)."""

    __table_args__ = (UniqueConstraint("team_id", "platform", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    platform: str
    user_id: str
    name: str
    role: str = "agent"  # agent | supervisor
    joined_on: date
    left_on: date | None = None  # the last day of the current / last tenure


class Tenure(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    start: date
    end: date | None = None


class Entry(SQLModel, table=True):
    """One logged fact: a self-report, a deduction or a bonus."""

    __table_args__ = (
        # Covering index for the month's GROUP BY member, item (scores are aggregated in SQL).
        Index(
            "ix_entry_month_tally",
            "team_id",
            "period",
            "member_id",
            "item_key",
            "revoked_at",
            "quantity",
            "fine_cents",
        ),
        # SPEC §3: a link is logged once per team (revoked entries free it again).
        Index(
            "ux_entry_team_active_link",
            "team_id",
            "link",
            unique=True,
            sqlite_where=text("link IS NOT NULL AND revoked_at IS NULL"),
            postgresql_where=text("link IS NOT NULL AND revoked_at IS NULL"),
        ),
        # Who reported today (/未报, the reminder, the dashboard's team page).
        Index("ix_entry_team_created", "team_id", "created_at"),
        # A member's reports of an item today: the daily caps of every self-report.
        Index("ix_entry_member_day", "member_id", "item_key", "created_at"),
        # Who logged in a month (the dashboard's entries filter), without reading the rows.
        Index("ix_entry_month_logger", "team_id", "period", "created_by", "created_by_name"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id")
    member_id: int = Field(foreign_key="member.id")
    period: str  # YYYY-MM
    item_key: str
    quantity: int = Field(default=1, sa_type=Quantity)  # a Half for `step` items (models.quantity)
    fine_cents: int = 0
    link: str | None = None
    note: str | None = Field(default=None, sa_column=Column(Text))
    image_url: str | None = Field(default=None, sa_column=Column(Text))
    image_file: str | None = None
    image_path: str | None = None
    created_at: datetime = Field(sa_type=DateTime)
    created_by: str  # "platform:user_id"
    created_by_name: str
    source: str | None = None  # "platform:chat:message_id" of the chat message
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime)
    revoked_by: str | None = None
    revoked_by_name: str | None = None
    revoke_reason: str | None = None


class ProcessedMessage(SQLModel, table=True):
    """A chat message that was answered (a write, a read or a refusal): a second delivery
    of it, to this process or another, writes nothing and gets no second answer. Rows older
    than 30 days are pruned daily (`models.housekeeping`)."""

    key: str = Field(primary_key=True)  # platform:account:chat:message_id
    created_at: datetime = Field(sa_type=DateTime)


class Settlement(SQLModel, table=True):
    """A settled (team, month). The unique key is what makes settling exactly once."""

    __table_args__ = (UniqueConstraint("team_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id")
    period: str
    status: str = "settled"  # settled | reopened
    revision: int = 1
    rubric_version: str
    rubric_text: str = Field(sa_column=Column(Text, nullable=False))
    settled_at: datetime = Field(sa_type=DateTime)
    settled_by: str
    commission_base_cents: int | None = None
    appeals_accepted: int = 0


class SettledScore(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("settlement_id", "member_id"),)
    id: int | None = Field(default=None, primary_key=True)
    settlement_id: int = Field(foreign_key="settlement.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    name: str
    rank: int
    categories: str = Field(sa_column=Column(Text, nullable=False))  # JSON {key: "num/den"}
    total: str  # exact fraction "num/den"
    grade: str
    fine_cents: int = 0
    commission_cents: int | None = None


class Post(SQLModel, table=True):
    """An outgoing monthly report to one group; claimed before it is sent (exactly once)."""

    __table_args__ = (UniqueConstraint("team_id", "period", "revision", "platform", "group_id"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id")
    period: str
    revision: int
    platform: str
    group_id: str
    status: str = "pending"  # pending | sending | sent | failed | unknown (held, see settlement)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=DateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=DateTime)
    sent_at: datetime | None = Field(default=None, sa_type=DateTime)
    last_error: str | None = None


class Appeal(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    team_id: int = Field(foreign_key="team.id")
    member_id: int = Field(foreign_key="member.id")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: str = "open"  # open | accepted | rejected | expired
    created_at: datetime = Field(sa_type=DateTime)
    closed_at: datetime | None = Field(default=None, sa_type=DateTime)
    closed_by: str | None = None
    close_reason: str | None = None


class AuditLog(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    team_id: int | None = Field(default=None, index=True)
    at: datetime = Field(sa_type=DateTime)
    actor: str
    action: str  # entry.create | entry.revoke | role | bind | unbind | join | leave | settle | …
    target: str
    before: str | None = Field(default=None, sa_column=Column(Text))
    after: str | None = Field(default=None, sa_column=Column(Text))
    channel: str | None = Field(default=None, sa_column=Column(Text))  # 群聊 / 私聊 / 网页


class WebLogin(SQLModel, table=True):
    """A one-time dashboard link and, once opened, the browser session it started (SPEC §5a).

    Only the SHA-256 of the token is stored. `used_at` is set by the one UPDATE that consumes
    it; the session lasts 12 h from then unless `ended_at` (logout) is set.
    """

    __tablename__ = "web_login"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    platform: str
    adapter: str  # "OneBotV11" / "OneBotV12": the adapter that asked for the link
    user_id: str
    name: str
    group_team_id: int | None = None  # the team a group owner/admin asked from (supervisor)
    created_at: datetime = Field(sa_type=DateTime)
    expires_at: datetime = Field(sa_type=DateTime)
    used_at: datetime | None = Field(default=None, sa_type=DateTime)
    ended_at: datetime | None = Field(default=None, sa_type=DateTime)


class WebSecret(SQLModel, table=True):
    """The key that signs dashboard cookies: in the database, so it survives restarts and
    every bot process on the database shares it."""

    __tablename__ = "web_secret"
    name: str = Field(primary_key=True)
    value: str


class LinkCheck(SQLModel, table=True):
    """One fetch of an entry's link (SPEC §4 "Evidence checks"): the snapshot taken after the
    ✅ (`kind` "snapshot") or a re-check before settlement ("recheck"). `verdict` is alive,
    removed or unknown; `reason` says why in a few words; `url` is the link as reported
    (the entry keeps its normalised spelling), `final_url` where redirects ended."""

    __tablename__ = "link_check"
    __table_args__ = (Index("ix_link_check_team_period", "team_id", "period", "entry_id"),)
    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    team_id: int = Field(foreign_key="team.id")
    period: str
    kind: str  # snapshot | recheck
    url: str = Field(sa_column=Column(Text, nullable=False))
    final_url: str | None = Field(default=None, sa_column=Column(Text))
    status: int | None = None
    title: str | None = Field(default=None, sa_column=Column(Text))
    fingerprint: str | None = None  # simhash of the visible text, 16 hex digits
    verdict: str  # alive | removed | unknown
    reason: str | None = Field(default=None, sa_column=Column(Text))
    checked_at: datetime = Field(sa_type=DateTime)


class EvidencePrint(SQLModel, table=True):
    """A fingerprint of an entry's evidence, compared across the team's entries of every
    month: "image" (perceptual hashes of the screenshot) or "article" (simhash of the page's
    visible text). One of each kind per entry."""

    __tablename__ = "evidence_print"
    __table_args__ = (
        UniqueConstraint("entry_id", "kind"),
        Index("ix_evidence_print_team_kind", "team_id", "kind"),
    )
    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id")
    team_id: int = Field(foreign_key="team.id")
    kind: str  # image | article
    value: str
    final_url: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_type=DateTime)


class EvidenceFlag(SQLModel, table=True):
    """An entry whose evidence a person should look at (SPEC §4): its link was removed, or
    its screenshot or article is the one behind an earlier entry (`earlier_entry_id`).
    Nothing is revoked by a flag: a supervisor keeps the entry (`decision` "kept") or revokes
    it with /撤销 (the flag then counts as revoked through the entry). One flag of a kind per
    entry; `notified_at` is claimed before the agent's private message is sent."""

    __tablename__ = "evidence_flag"
    __table_args__ = (
        UniqueConstraint("entry_id", "kind"),
        Index("ix_evidence_flag_team_period", "team_id", "period"),
    )
    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id")
    team_id: int = Field(foreign_key="team.id")
    period: str
    kind: str  # removed | same_image | same_article
    detail: str | None = Field(default=None, sa_column=Column(Text))
    earlier_entry_id: int | None = None
    created_at: datetime = Field(sa_type=DateTime)
    notified_at: datetime | None = Field(default=None, sa_type=DateTime)
    decision: str | None = None  # None (open) | kept
    decided_at: datetime | None = Field(default=None, sa_type=DateTime)
    decided_by: str | None = None
    decided_by_name: str | None = None
    decision_note: str | None = Field(default=None, sa_column=Column(Text))
    appeal_reason: str | None = Field(default=None, sa_column=Column(Text))
    appealed_at: datetime | None = Field(default=None, sa_type=DateTime)


class RubricVersion(SQLModel, table=True):
    """A rubric uploaded on the dashboard (issue 24): checked as the file is at start, kept
    whole; active from `active_from` (YYYY-MM) once activated. The rubric of a month is the
    most recently activated version whose `active_from` is not after it, else KPI_RUBRIC
    (`models.rubricstore.rubric_for`); a settled month keeps its snapshot."""

    __tablename__ = "rubric_version"
    id: int | None = Field(default=None, primary_key=True)
    version: str  # Rubric.version: the hash of its normalised content
    name: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_type=DateTime)
    created_by: str
    created_by_name: str
    active_from: str | None = Field(default=None, index=True)
    activated_at: datetime | None = Field(default=None, sa_type=DateTime)
    activated_by: str | None = None


class CommissionBase(SQLModel, table=True):
    """A team's commission base from a month on (`/提成基数`, the team settings page):
    `cents` None goes back to KPI_COMMISSION_BASE. The base of a month is the latest row
    of the team whose `from_period` is not after it (`models.commission.commission_base_for`);
    a settled month keeps its own (`Settlement.commission_base_cents`)."""

    __tablename__ = "commission_base"
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    from_period: str
    cents: int | None = None
    set_at: datetime = Field(sa_type=DateTime)
    set_by: str
    set_by_name: str


class ImportBatch(SQLModel, table=True):
    """A file imported on the dashboard (issue 24): one per team and content (SHA-256), so
    the same file is never imported twice. Its entries carry `source` =
    `web:import:<id>:<line>`."""

    __tablename__ = "import_batch"
    __table_args__ = (UniqueConstraint("team_id", "sha256"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id")
    sha256: str
    filename: str
    rows: int
    created_at: datetime = Field(sa_type=DateTime)
    created_by: str
    created_by_name: str


class MemberAccount(SQLModel, table=True):
    """Another account of a team member (SPEC §2 "The same person on two platforms"): a
    superuser linked it with a one-time code (`models.usecases.linking`). Every lookup of a
    member by (team, platform, user id) honours it (`models.roster.member_in`), so this
    account IS that member in the team: its reports, the deductions naming it, its rights."""

    __tablename__ = "member_account"
    __table_args__ = (UniqueConstraint("team_id", "platform", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    team_id: int = Field(foreign_key="team.id")
    platform: str
    user_id: str
    name: str = ""  # the account's name on its platform when it was linked
    linked_at: datetime = Field(sa_type=DateTime)
    linked_by: str


class LinkCode(SQLModel, table=True):
    """A one-time code a person asked for with `/关联` on an account to be linked (SPEC §2):
    only its SHA-256 is kept; valid `models.usecases.linking.CODE_MINUTES`, used once, and a
    new request voids the account's earlier codes."""

    __tablename__ = "link_code"
    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(index=True)
    platform: str
    user_id: str
    name: str
    created_at: datetime = Field(sa_type=DateTime)
    expires_at: datetime = Field(sa_type=DateTime)
    used_at: datetime | None = Field(default=None, sa_type=DateTime)
