from nonebug import App

from tests.utils import GROUP, OWNER, at, bind, group_event, said, say


async def test_bind_then_report_and_deduct(app: App):
    assert (await bind(app)).startswith("✅ 本群已绑定团队「客服一组」")
    reply = await said(app, "/软文 https://example.com/a 知乎", 30001, card="张三")
    assert reply == "✅ #1 自建渠道软文 已记录（本月 1/8，推广绩效 0.3/10）", reply
    reply = await said(app, ["/投诉 ", at(30001), " 态度差"], OWNER, role="owner")
    assert reply == "✅ #2 张三 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87.3）", reply


async def test_unbound_group_is_silent(app: App):
    await say(app, group_event("/软文 https://example.com/a", 30001, group_id=GROUP + 5), replies=0)
    _ = OWNER
