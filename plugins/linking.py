"""The same person on two platforms: /关联 /取消关联 (SPEC §2 "Linked accounts"). The rules
are `models.usecases.linking`."""

from nonebot import logger

from bot.commands import COMMANDS, plugin_meta, usages
from bot.context import Ctx
from bot.dispatch import Call, Later, kpi_command
from bot.parse import Args
from bot.send import send_direct
from bot.targets import actor_of, people_of
from models.ledger import Refused
from models.usecases.linking import (
    CODE_RE,
    CodeIssued,
    CodeRequest,
    Linked,
    LinkRequest,
    Unlinked,
    UnlinkRequest,
    ask_code,
    link,
    unlink,
)

__plugin_meta__ = plugin_meta(
    "账号关联",
    "同一个人在两个平台（如 QQ 和企业微信）的账号算作一人，记录合在一起",
    usages("link", "unlink"),
)


@kpi_command(COMMANDS["link"])
def link_cmd(ctx: Ctx, args: Args) -> Call:
    """`/关联` alone: a code for the speaker's account; `/关联 <码> @张三|张三`: a superuser
    links the account that asked for it (the first six-digit word is the code, the rest
    names the member)."""
    words = list(args.tokens)
    at = next((i for i, w in enumerate(words) if w.mention is None and CODE_RE.match(w.norm)), None)
    if at is None:
        if words:
            raise Refused(
                "关联码是 6 位数字：本人先在新账号上发 /关联 取码，再由超级管理员发 /关联 码 姓名"
            )
        request = CodeRequest(actor_of(ctx), ctx.team_id)
        return Call(ask_code, request, lambda done: _code_sent(ctx, done))
    rest = tuple(words[:at] + words[at + 1 :])
    request = LinkRequest(
        ctx.team_id, actor_of(ctx), words[at].norm, rest, people_of(ctx), ctx.quoted_user_id
    )
    return Call(link, request, _linked)


def _code_sent(ctx: Ctx, done: CodeIssued) -> Later:
    """The code by private message where the platform allows; else in the group (only a
    superuser can use it, and their ✅ names the account it links)."""
    text = (
        f"🔗 关联码 {done.code}（{done.minutes} 分钟内有效，只能用一次）\n"
        f"请把它告诉超级管理员，由超级管理员在团队群里发：/关联 {done.code} 你的姓名\n"
        f"关联后，{done.account} 和你原来的账号算同一个人，记录、绩效合在一起"
    )

    async def send() -> str:
        if ctx.group_id is None:
            return text
        try:
            await send_direct(ctx.bot, ctx.user_id, [text], via_group=ctx.group_id)
        except Exception as e:
            logger.info(f"link code not delivered privately: {type(e).__name__}")
            return text
        return f"✅ 关联码已私聊发给你（{done.minutes} 分钟内有效，只能用一次）"

    return Later(send)


def _linked(done: Linked) -> str:
    merged = f"\n该账号原有的 {done.merged} 条记录已并入 {done.name}" if done.merged else ""
    return (
        f"✅ {done.account}已关联到 {done.name}：从现在起在这个账号上报数、被扣分、查绩效，"
        f"都算 {done.name} 的{merged}"
    )


@kpi_command(COMMANDS["unlink"])
def unlink_cmd(ctx: Ctx, args: Args) -> Call:
    request = UnlinkRequest(
        ctx.team_id, actor_of(ctx), tuple(args.tokens), people_of(ctx), ctx.quoted_user_id
    )
    return Call(unlink, request, _unlinked)


def _unlinked(done: Unlinked) -> str:
    return (
        f"✅ 已取消 {done.name} 与 {'、'.join(done.accounts)} 的关联；记录都留在 {done.name} 名下，"
        "那个账号以后再报数会登记为新成员"
    )
