"""Who may read pay in a reply (SPEC §4 "Pay is private by default", §6): one rule for
every chat command that shows commission."""

from __future__ import annotations

from models.rights import is_current_supervisor

from .config import get_config
from .context import Ctx


def sees_pay(ctx: Ctx, member_id: int | None = None) -> bool:
    """Pay is private (SPEC §4, §6): everyone's with KPI_PAY_PUBLIC; else nobody's in a
    group, which reads every reply — an agent's own `/我的绩效` there would show colleagues
    their pay, a supervisor's `/排行` everyone's; in private chat one's own, and a
    supervisor's view of anyone (`pay_hint` says where it is)."""
    if get_config().kpi_pay_public:
        return True
    if ctx.group_id is not None:
        return False
    if member_id is not None and ctx.member is not None and ctx.member.id == member_id:
        return True
    return ctx.is_supervisor


def pay_hint(ctx: Ctx, command: str, *, own: bool = False) -> str | None:
    """The line under a group reply whose pay was held back: for one's own card (`own`),
    or a supervisor's view of others — in private chat only for an explicit supervisor or
    a superuser (the group's owner or admin supervises by the group's word, which a
    private chat does not carry: the dashboard, then)."""
    if get_config().kpi_pay_public or ctx.group_id is None or not (own or ctx.is_supervisor):
        return None
    if own or ctx.is_superuser or is_current_supervisor(ctx.member, ctx.today):
        return f"提成和罚款不在群里显示：私聊我发 {command} 查看，或发 /后台 在网页看"
    return "提成和罚款不在群里显示：发 /后台 在网页看"
