"""The outbox sender: every due monthly post, claimed before it is sent, and the alerts
to superusers about posts whose fate is unknown. What is guaranteed (never twice without
a person deciding) is in `models.settlement`; every state change goes through the write
door (`bot.door.write`) in the post's team.

Module state (it must be: one sender at a time per process): `_flush_lock`.
"""

from __future__ import annotations

import asyncio

from nonebot import logger
from nonebot.exception import ActionFailed

from bot import door
from bot.identity import superuser_ids
from bot.replies import Part
from bot.runtime import commission_base, policy, rubric
from bot.send import CannotSend, NoBotOnline, send_group, send_private
from models.settlement import (
    claim_post,
    due_posts,
    finish_post,
    hold_post,
    hold_stuck_posts,
    release_post,
)
from models.tables import GroupBinding, Post
from models.usecases.posts import AlertRead, DirectPost, PostRead, alert_of, post_of

from .post import dm_message, report_messages

_flush_lock = asyncio.Lock()


async def _prepare(post: Post) -> tuple[GroupBinding, str | None, list[list[Part]]]:
    """Where a post goes (the binding whose bot sends it, a user id for a DM) and its messages."""
    request = PostRead(
        post.team_id, post.period, post.platform, post.group_id, rubric(), commission_base()
    )
    found = await door.read(lambda s: post_of(s, request, policy()))
    if isinstance(found, DirectPost):
        if found.binding is None:
            raise NoBotOnline(f"团队没有 {post.platform} 的群")
        if found.card is None:
            raise RuntimeError(f"{post.platform}:{found.user_id} 不是团队成员")
        return found.binding, found.user_id, [dm_message(found)]
    if found.binding is None:
        raise RuntimeError("群已解绑")
    return found.binding, None, report_messages(found)


async def flush_posts() -> int:
    """Send every due post, each claimed first; returns how many went out."""
    sent = 0
    async with _flush_lock:
        held = await door.write(None, hold_stuck_posts)
        for post in held:
            await tell_superusers(post)
        posts = await door.read(due_posts)
        for post in posts:
            if not await door.write(post.team_id, lambda s, p=post: claim_post(s, p)):
                continue
            if await _send(post):
                sent += 1
    return sent


async def _send(post: Post) -> bool:
    """Send one claimed post; record how it went. True if it went out whole."""
    started = accepted = 0
    messages: list[list[Part]] = []
    try:
        binding, uid, messages = await _prepare(post)
        for parts in messages:
            started += 1
            if uid is None:
                await send_group(binding, parts)
            else:
                await send_private(binding, uid, parts)
            accepted += 1
    except Exception as e:
        logger.warning(f"post #{post.id} to {post.group_id} failed: {e!r}")
        surely_not_sent = accepted == 0 and (
            not started or isinstance(e, NoBotOnline | ActionFailed)
        )

        error = e
        # The platform will not take it at all (CannotSend): held for a person to resend.
        refused = str(e) if isinstance(e, CannotSend) and accepted == 0 else None

        def record(s) -> bool:
            if refused is not None:
                return hold_post(s, post.id, f"平台拒绝发送：{refused}")
            if not surely_not_sent:
                return hold_post(
                    s, post.id, f"已发出 {accepted}/{len(messages)} 条后出错：{error!r}"
                )
            if isinstance(error, NoBotOnline):
                release_post(s, post.id)
            else:
                finish_post(s, post.id, repr(error))
            return False

        if await door.write(post.team_id, record):
            await tell_superusers(post, refused)
        return False
    await door.write(post.team_id, lambda s: finish_post(s, post.id, None))
    return True


async def tell_superusers(post: Post, refused: str | None = None) -> None:
    """A held post: every superuser gets a private message saying what to check and how to
    re-send it (through a bot of the post's platform; logged when none can)."""
    request = AlertRead(post.team_id, post.platform, post.group_id)
    found = await door.read(lambda s: alert_of(s, request, policy()))
    team_name = found.team_name
    dm = post.group_id.startswith("dm:")
    name = found.member_name if found.member_name is not None else post.group_id[3:]
    where = f"私信给 {name}" if dm else f"发往群 {post.group_id}"
    text = (
        f"⚠️ 「{team_name}」{post.period} 月报{where} 被平台拒绝（{refused}），没有发出。"
        f"在「{team_name}」的群里发 /重发 {post.period} 即可发出"
        if refused is not None
        else f"⚠️ 「{team_name}」{post.period} 月报{where} 时中断，不确定是否已经发出。"
        f"为免重复，机器人不会自动重发。请到{'对方' if dm else '群里'}确认：没收到就在"
        f"「{team_name}」的群里发 /重发 {post.period}"
    )
    logger.warning(text)
    if found.binding is None:
        return
    for uid in superuser_ids(post.platform):
        try:
            await send_private(found.binding, uid, [text])
        except Exception as e:
            logger.warning(f"telling superuser {uid} about post #{post.id} failed: {e!r}")
