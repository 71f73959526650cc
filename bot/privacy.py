"""Who may read pay in a reply (SPEC §4 "Pay is private by default", §6): one rule for
every chat command that shows commission."""

from __future__ import annotations

from .config import get_config
from .context import Ctx


def sees_pay(ctx: Ctx, member_id: int | None = None) -> bool:
    """Pay is private (SPEC §4, §6): everyone's with KPI_PAY_PUBLIC, else one's own, else a
    supervisor's view in private chat. A group reads every reply, so there a supervisor's
    `/排行` or `/绩效 @某人` shows no colleague's pay either (`PAY_HINT` says where it is)."""
    if get_config().kpi_pay_public:
        return True
    if member_id is not None and ctx.member is not None and ctx.member.id == member_id:
        return True
    return ctx.is_supervisor and ctx.group_id is None


def pay_hint(ctx: Ctx, command: str) -> str | None:
    """The line under a supervisor's group reply whose pay was held back."""
    if get_config().kpi_pay_public or not ctx.is_supervisor or ctx.group_id is None:
        return None
    return f"提成和罚款不在群里显示：私聊我发 {command} 查看，或发 /后台 在网页看"
