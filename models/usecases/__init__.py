"""Every chat command as one synchronous use case (issue 21): plain request in, plain
result out, or `Refused`. Each takes a synchronous `Session` — the command's one
transaction, run by `bot.door.write` (writes) or `bot.door.read` (reads) — and checks
every rule that depends on stored data, writes the rows and their audit rows (with the
actor's channel: 群聊 / 私聊 / 网页), and computes the scores the reply shows. The chat
layer (and the web) parse into the request and format the result; they never see a
session. Requests share `base.Actor`, `base.Person`, `base.Word`; settings come from
`base.Policy`.
"""
