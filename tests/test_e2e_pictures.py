"""End to end: the monthly post carries the ranking image on a fresh install (no KPI_FONT, no
system fonts: fontconfig is pointed at an empty configuration), over OneBot v11 and over
OneBot v12, where the picture is uploaded first (`upload_file`) and sent by its file id."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from models.periods import current_period, shift_period
from tools.onebot_sim import (
    ApiCall,
    ApiFailure,
    BotProcess,
    OneBotV11Sim,
    OneBotV12Sim,
    at,
    file_bytes,
    mention,
)

TOKEN = "pictures"
SUPER = 10000
OWNER = 10001
LAST_MONTH = shift_period(current_period(ZoneInfo("Asia/Shanghai")), -1)
EMPTY_FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig></fontconfig>
"""


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to a bot process; the in-process database of conftest is not used."""


@pytest.fixture(scope="module")
def no_system_fonts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The bot process sees no font: KPI_FONT unset, fontconfig reads an empty config."""
    folder = tmp_path_factory.mktemp("no-fonts")
    (folder / "fonts.conf").write_text(EMPTY_FONTCONFIG, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("KPI_FONT", raising=False)
        mp.setenv("FONTCONFIG_FILE", str(folder / "fonts.conf"))
        mp.setenv("FONTCONFIG_PATH", str(folder))
        mp.setenv("XDG_DATA_HOME", str(folder))
        mp.setenv("HOME", str(folder))
        if shutil.which("fc-list"):
            listed = subprocess.run(["fc-list"], capture_output=True, text=True, check=False)
            assert listed.stdout.strip() == "", listed.stdout
        yield


@pytest.fixture(scope="module")
async def bot(
    no_system_fonts: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotProcess]:
    proc = BotProcess(
        tmp_path_factory.mktemp("pictures-bot"),
        token=TOKEN,
        superusers=(f"qq:{SUPER}", f"v12.wechat:{SUPER}"),  # SPEC §2: entries name their platform
        env={"KPI_FONT": ""},
    )
    await proc.start()
    yield proc
    await proc.stop()


def png(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


def image_segments(call: ApiCall) -> list[dict]:
    return [s for s in call.params.get("message") or [] if s.get("type") == "image"]


async def test_monthly_post_over_onebot_v11_carries_the_ranking_image(bot: BotProcess):
    async with OneBotV11Sim(bot.ws_url("v11"), token=TOKEN) as qq:
        g, agent = 41001, 42001
        bound = await qq.say(g, OWNER, "/绑定 图片一组", role="owner")
        assert bound[0].startswith("✅ 本群已绑定团队「图片一组」"), bound
        assert (await qq.say(g, agent, "/朋友圈", card="张喆🌸"))[0].startswith("✅ #")
        fined = await qq.say(g, OWNER, "/扣分 ", at(agent), " 迟到 上月", role="owner")
        assert fined[0].startswith("✅ #"), fined

        since = len(qq.calls)
        settled = await qq.say(g, OWNER, "/结算 上月", role="owner")
        assert settled == [f"✅ {LAST_MONTH} 已结算，1 人，月报马上发到群里"], settled
        post = await qq.wait_for(
            lambda c: (
                c.action == "send_group_msg"
                and str(c.params.get("group_id")) == str(g)
                and bool(image_segments(c))
            ),
            since=since,
        )

    assert f"「图片一组」{LAST_MONTH} 月度绩效" in qq.describe_send(post).text
    (segment,) = image_segments(post)
    width, height = png(file_bytes(segment["data"]["file"]))
    assert 800 <= width <= 1000, width
    assert height >= 200, height


async def test_monthly_post_over_onebot_v12_uploads_the_image_and_sends_its_file_id(
    bot: BotProcess,
):
    async with OneBotV12Sim(bot.ws_url("v12"), token=TOKEN) as wx:
        g, agent = "wx-pictures", "wxid_pictures_agent"
        bound = await wx.say(g, str(SUPER), "/绑定 图片二组")
        assert bound[0].startswith("✅ 本群已绑定团队「图片二组」"), bound
        assert (await wx.say(g, agent, "/朋友圈", name="李玥"))[0].startswith("✅ #")
        fined = await wx.say(g, str(SUPER), "/扣分 ", mention(agent), " 迟到 上月")
        assert fined[0].startswith("✅ #"), fined

        since = len(wx.calls)
        settled = await wx.say(g, str(SUPER), "/结算 上月")
        assert settled == [f"✅ {LAST_MONTH} 已结算，1 人，月报马上发到群里"], settled
        post = await wx.wait_for(
            lambda c: (
                c.action == "send_message"
                and c.params.get("group_id") == g
                and bool(image_segments(c))
            ),
            since=since,
        )
        uploads = [c for c in wx.calls[since:] if c.action == "upload_file"]

    assert f"「图片二组」{LAST_MONTH} 月度绩效" in wx.describe_send(post).text
    assert [c.params["type"] for c in uploads] == ["data"]
    (segment,) = image_segments(post)
    assert segment["data"]["file_id"] in wx.files
    (picture,) = wx.images(post.params["message"])
    width, _ = png(picture)
    assert 800 <= width <= 1000, width
    assert Path(wx.files[segment["data"]["file_id"]].name).suffix == ".png"


async def test_v12_implementation_without_upload_file_still_gets_the_post_as_text(
    bot: BotProcess,
):
    def unsupported(params: dict) -> None:
        raise ApiFailure(10002, "unsupported action upload_file")

    sim = OneBotV12Sim(
        bot.ws_url("v12"),
        self_id="wxid_noupload",
        token=TOKEN,
        handlers={"upload_file": unsupported},
    )
    async with sim as wx:
        g, agent = "wx-pictures-2", "wxid_pictures_agent2"
        assert (await wx.say(g, str(SUPER), "/绑定 图片三组"))[0].startswith("✅")
        assert (await wx.say(g, agent, "/朋友圈", name="王鑫"))[0].startswith("✅ #")
        assert (await wx.say(g, str(SUPER), "/扣分 ", mention(agent), " 迟到 上月"))[0].startswith(
            "✅ #"
        )

        since = len(wx.calls)
        await wx.say(g, str(SUPER), "/结算 上月")
        post = await wx.wait_for(
            lambda c: (
                c.action == "send_message"
                and c.params.get("group_id") == g
                and f"{LAST_MONTH} 月度绩效" in wx.describe_send(c).text
            ),
            since=since,
        )

    assert [c.status for c in wx.calls[since:] if c.action == "upload_file"] == ["failed"]
    assert image_segments(post) == []
    assert "王鑫" in wx.describe_send(post).text
