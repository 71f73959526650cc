"""Agents self-report promotion work: /软文 /付费软文 /自媒体 /加好友 /朋友圈 (from the rubric),
/报 for any self-report item, /撤回 (SPEC §3 Agents). The rules are
`models.usecases.selfreport`; here the message becomes its request and the result its reply."""

from bot.commands import COMMANDS, plugin_meta, rubric_commands, usages
from bot.config import get_config
from bot.context import Ctx
from bot.dispatch import Call, Later, kpi_command, rubric_command
from bot.evidence import fetch_later
from bot.format import cat_line
from bot.linkcheck import snapshot_later
from bot.parse import Args
from bot.runtime import rubric
from bot.targets import actor_of
from models.ledger import Refused
from models.rubric import Item
from models.usecases.selfreport import (
    Reported,
    ReportRequest,
    Undone,
    UndoRequest,
    self_report,
    undo,
)
from models.words import parse_entry_id


def _report(ctx: Ctx, args: Args, item: Item | None) -> Call:
    """The request of a self-report: the hot path, one plain function on the writer thread
    (`bot.dispatch`)."""
    image = args.images[0] if args.images else None
    request = ReportRequest(
        team_id=ctx.team_id,
        actor=actor_of(ctx),
        words=tuple(args.tokens),
        item_key=item.key if item is not None else None,
        image_url=image.url if image else None,
        image_file=image.file if image else None,
        source=ctx.message_key,
    )
    return Call(self_report, request, _reported, keeps_member=True)


def _reported(done: Reported) -> str:
    item, quantity = done.item, done.quantity
    target = item.target or 0
    reply = (
        f"✅ #{done.entry_id} {item.name} 已记录"
        f"（本月 {done.done}/{target}，{cat_line(done.score, item.category)}）"
    )
    if done.done - quantity < target <= done.done:
        reply += f"\n🎉 本月{item.label}目标已完成"
    return reply


def _with_picture(call: Call, args: Args) -> Call:
    """After the commit: the picture's fetch and the link's snapshot are queued (SPEC §4:
    neither delays the ✅)."""
    image = args.images[0] if args.images else None
    picture = (image.raw or image.url) if image is not None else None  # bytes: WeCom

    def reply(done: Reported) -> str | Later:
        text = _reported(done)
        if not picture and done.url is None:
            return text

        async def fetch_then_reply() -> str:
            if picture:
                fetch_later(done.entry_id, picture, get_config().kpi_data_dir)
            if done.url is not None:
                snapshot_later(call.request.team_id, done.entry_id, done.url)
            return text

        return Later(fetch_then_reply)

    return Call(call.use_case, call.request, reply, keeps_member=True)


@rubric_command(lambda cmd: cmd.role != "supervisor")
def _self_report_of(item: Item):
    """The handler of a self-report item's own commands (`/软文`), for any rubric version."""

    def _handle(ctx: Ctx, args: Args) -> Call:
        return _with_picture(_report(ctx, args, item), args)

    return _handle


SELF_COMMANDS = [(i, c) for i, c in rubric_commands(rubric()) if c.role != "supervisor"]


@kpi_command(COMMANDS["report"])
def report(ctx: Ctx, args: Args) -> Call:
    return _with_picture(_report(ctx, args, None), args)


@kpi_command(COMMANDS["undo"])
def undo_cmd(ctx: Ctx, args: Args) -> Call:
    wanted = parse_entry_id(args.words[0]) if args.words else None
    if args.words and wanted is None:
        raise Refused(f"编号应写成 #123，收到 {args.words[0]}")
    return Call(undo, UndoRequest(ctx.team_id, actor_of(ctx), wanted), _undone)


def _undone(done: Undone) -> str:
    item = done.item
    if item is None:
        return f"✅ 已撤回 #{done.entry_id}"
    progress = f"本月 {done.done}/{item.target}，" if done.done is not None else ""
    return (
        f"✅ 已撤回 #{done.entry_id} {item.name}（{progress}{cat_line(done.score, item.category)}）"
    )


__plugin_meta__ = plugin_meta(
    "自报推广",
    "客服自报推广工作（软文、加好友、朋友圈…），附链接或截图作证据",
    [*(c.usage for _, c in SELF_COMMANDS), *usages("report", "undo")],
)
