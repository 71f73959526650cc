"""Who may act on whom, as plain rules (SPEC §2 "Roles", §5a).

Two rules every right rests on: a membership counts only while it lasts, and nobody deals
for themselves. Chat (`bot.context`, the supervisor plugins) and the web
(`models.dashboard.viewer_of`) both ask these functions, at each command and each request.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from .ledger import Refused
from .tables import Member

SELF_MARK = "不能给自己扣分或加分"
SELF_REVOKE = "不能撤销自己的记录，请让其他主管处理"
SELF_APPEAL = "不能处理自己的申诉，请让其他主管处理"


def is_current(member: Member, today: date) -> bool:
    """The membership has not ended: `/离职` ends it from its day on (SPEC §2), so a member
    whose `left_on` is today or earlier has left; one set for a later day has not yet."""
    return member.left_on is None or member.left_on > today


def is_current_supervisor(member: Member | None, today: date) -> bool:
    """An explicit `/主管` of the member's team whose membership lasts (SPEC §2)."""
    return member is not None and member.role == "supervisor" and is_current(member, today)


def is_speaker(member: Member, actor: str, speaker_member_id: int | None = None) -> bool:
    """`member` is the person speaking: the same (platform, user) as `actor`
    (`platform:user_id`), or the speaker's own membership row."""
    return (
        speaker_member_id is not None and member.id == speaker_member_id
    ) or f"{member.platform}:{member.user_id}" == actor


def refuse_self(
    actor: str, speaker_member_id: int | None, subjects: Iterable[Member], refusal: str
) -> None:
    """Nobody deals for themselves (SPEC §2 "An agent can act only on their own records",
    issue 20): whoever a supervisor's action is about — a deduction, a bonus, a rubric
    shortcut, a revoke (also one that accepts an appeal), rejecting an appeal — must not be
    the speaker, whatever their group role or superuser status. Raises `Refused(refusal)`.

    An agent's own `/撤回` of their own self-report and their `/申诉` are agent commands and
    are not asked here."""
    if any(is_speaker(m, actor, speaker_member_id) for m in subjects):
        raise Refused(refusal)
