"""Test setup: NoneBot initialised once (nonebug), every test on a fresh migrated database
with the default rubric, a free clock and no remembered deliveries.

The engine follows `KPI_TEST_DATABASE_URL` (see `tools.testdb`): SQLite files by default,
or a database created for this run on a PostgreSQL server. `make test` runs the suite on
both.
"""

import asyncio
import shutil
import tempfile
from pathlib import Path

import nonebot
import pytest
from nonebug import NONEBOT_INIT_KWARGS

from tools import testdb

_TMP = Path(tempfile.mkdtemp(prefix="kpi-tests-"))
TEMPLATE_DB = _TMP / "template.db"
SUITE_URL = f"sqlite+aiosqlite:///{TEMPLATE_DB}"


def pytest_configure(config: pytest.Config) -> None:
    global SUITE_URL
    if testdb.on_postgres():
        SUITE_URL = asyncio.run(testdb.create_database(hint="suite"))
    config.stash[NONEBOT_INIT_KWARGS] = {
        "driver": "~fastapi+~websockets",
        "superusers": {"10000"},
        "command_start": {"/"},
        "kpi_database_url": SUITE_URL,
        "kpi_data_dir": str(_TMP / "data"),
        "kpi_timezone": "Asia/Shanghai",
        "apscheduler_autostart": False,
        "log_level": "WARNING",
    }


def pytest_report_header(config: pytest.Config) -> str:
    return f"database engine: {testdb.engine_name()} ({testdb.describe(SUITE_URL)})"


def pytest_sessionfinish(session: pytest.Session) -> None:
    if testdb.on_postgres():
        asyncio.run(testdb.drop_created())


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
    """Each test gets an empty migrated database; yields its URL.

    SQLite: a copy of the migrated template file. PostgreSQL: the run's database with
    every table emptied and its ids restarted.
    """
    from sqlmodel import SQLModel

    from bot import context, db, dispatch, evidence, linkcheck, runtime
    from models.periods import set_clock

    for background in (linkcheck, evidence):  # a test's snapshots and downloads end with it
        for task in list(background._tasks):
            task.cancel()
        background._tasks.clear()
    await db.dispose()
    if testdb.on_postgres():
        url = SUITE_URL
        db.init_engine(url)
        await testdb.truncate(db.engine(), SQLModel.metadata)
    else:
        path = tmp_path / "kpi.db"
        shutil.copy(TEMPLATE_DB, path)
        url = f"sqlite+aiosqlite:///{path}"
        db.init_engine(url)
    dispatch.forget_deliveries()
    context.forget_bindings()
    runtime.forget_rules()
    set_clock(None)
    yield url
    set_clock(None)
    await db.dispose()
    db.init_engine(SUITE_URL)
