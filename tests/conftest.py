"""Test setup: NoneBot initialised once (nonebug), every test on a fresh migrated database
with the default rubric, a free clock and no remembered deliveries."""

import shutil
import tempfile
from pathlib import Path

import nonebot
import pytest
from nonebug import NONEBOT_INIT_KWARGS

_TMP = Path(tempfile.mkdtemp(prefix="kpi-tests-"))
TEMPLATE_DB = _TMP / "template.db"


def pytest_configure(config: pytest.Config) -> None:
    config.stash[NONEBOT_INIT_KWARGS] = {
        "driver": "~fastapi+~websockets",
        "superusers": {"10000"},
        "command_start": {"/"},
        "kpi_database_url": f"sqlite+aiosqlite:///{TEMPLATE_DB}",
        "kpi_data_dir": str(_TMP / "data"),
        "kpi_timezone": "Asia/Shanghai",
        "apscheduler_autostart": False,
        "log_level": "WARNING",
    }


@pytest.fixture(scope="session", autouse=True)
async def after_nonebot_init(after_nonebot_init: None) -> None:
    from nonebot.adapters.onebot.v11 import Adapter as V11
    from nonebot.adapters.onebot.v12 import Adapter as V12

    from bot.app import plugin_names

    driver = nonebot.get_driver()
    driver.register_adapter(V11)
    driver.register_adapter(V12)
    nonebot.load_plugin("nonebot_plugin_apscheduler")
    for name in plugin_names():
        assert nonebot.load_plugin(name) is not None, name

    import plugins.monthly

    plugins.monthly.AUTO_FLUSH = False  # tests send pending posts with flush_posts()


@pytest.fixture(autouse=True)
async def fresh_db(nonebug_init: None, tmp_path: Path):
    """Each test gets its own copy of the migrated template database."""
    from bot import db, kit
    from models.periods import set_clock

    await db.dispose()
    path = tmp_path / "kpi.db"
    shutil.copy(TEMPLATE_DB, path)
    db.init_engine(f"sqlite+aiosqlite:///{path}")
    kit.forget_deliveries()
    kit.forget_bindings()
    set_clock(None)
    yield path
    set_clock(None)
    await db.dispose()
    db.init_engine(f"sqlite+aiosqlite:///{TEMPLATE_DB}")
