"""Every chat command as one synchronous use case (issue 21): plain request in, plain
result out, or `Refused` raised (nothing written). Each takes a synchronous `Session` —
the command's one transaction, run whole by `bot.door.write` — its request, and the
`base.Policy` (settings); it checks every rule that depends on stored data (roles, nobody
deals for themselves, the month open, caps, duplicates), writes the rows and their audit
rows (with the actor's channel: 群聊 / 私聊 / 网页), and computes the scores the reply
shows. The chat layer (and the web, channel 网页) parses into the request and words the
result; it never sees a session. Requests share `base.Actor`, `base.Person`, `base.Word`,
`base.EntryRef`.

    marks.mark(s, MarkRequest)              -> Marked    /扣分 /加分, rubric shortcuts, fines
    marks.revoke(s, RevokeRequest)          -> Revoked   /撤销 (accepts an open appeal)
    selfreport.self_report(s, ReportRequest) -> Reported /软文 … /报 (the hot path)
    selfreport.undo(s, UndoRequest)         -> Undone    /撤回
    appeals.file(s, AppealRequest)          -> Filed     /申诉
    appeals.reject(s, RejectRequest)        -> Rejected  /驳回
    roster.join(s, JoinRequest)             -> Joined    /入职
    roster.leave(s, LeaveRequest)           -> Left      /离职
    roster.set_role(s, RoleRequest)         -> RoleSet   /主管 /取消主管
    roster.set_reminder(s, RemindRequest)   -> ReminderSet  /提醒
    roster.claim_due_reminder(s, team, day) -> DueReminder | None  (the daily nudge job)
    binding.bind(s, BindRequest)            -> Bound | Refused (audit row kept) | Silent  /绑定
    binding.unbind(s, UnbindRequest)        -> Unbound   /解绑
    flags.keep_flagged(s, KeepRequest)      -> Kept      /保留 (a link check's flag)
    monthly.settle_month / reopen_month / resend_posts     /结算 /重开 /重发

The reads run by `bot.door.read` are use cases too: `reads` and `scores` (the read commands),
`exports` (`/导出`), and `pages` (the dashboard's pages, one function per page).

`targets` holds the one rule of who a command is about (`candidate_ids` before the
transaction, `resolve` inside it) and who may be marked (`not_an_agent`).
"""
