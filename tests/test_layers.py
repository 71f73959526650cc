"""The layers of STYLE.md, checked: plugins parse → call models/ → format, and never touch
SQLAlchemy; models/ knows nothing of chat (no NoneBot)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "plugins").glob("**/*.py")), ids=str)
def test_a_plugin_imports_nothing_from_sqlalchemy(path: Path):
    assert not imported(path) & {"sqlalchemy", "sqlmodel", "aiosqlite", "asyncpg"}


@pytest.mark.parametrize("path", sorted((ROOT / "models").glob("**/*.py")), ids=str)
def test_the_domain_imports_nothing_from_nonebot(path: Path):
    assert not imported(path) & {"nonebot", "bot", "plugins"}


SESSION_ATTRS = {"s", "session", "tx"}
BELOW_THE_DOOR = ("unit_of_work", "serialise_team", "db.writing(", "reading(", "AsyncSession")


def _plugin_files() -> list[Path]:
    return sorted((ROOT / "plugins").glob("**/*.py"))


def _decorated(f: ast.AST, *names: str) -> bool:
    return isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and any(
        isinstance(d, ast.Call) and getattr(d.func, "id", "") in names for d in f.decorator_list
    )


def _is_handler(f: ast.AST) -> bool:
    """A function registered with `@kpi_command(...)`, or a `@rubric_command(...)` factory
    (the handler it makes is nested in it: see `_handlers`)."""
    return _decorated(f, "kpi_command", "rubric_command")


def _handlers(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every command handler of a plugin: the registered functions, and the handlers a
    rubric_command factory makes (the functions nested in it)."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for f in ast.walk(tree):
        if _decorated(f, "rubric_command"):
            found += [
                i for i in ast.walk(f) if isinstance(i, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
        elif _decorated(f, "kpi_command"):
            found.append(f)  # type: ignore[arg-type]
    return found


def _writes(decorator: ast.expr) -> bool | None:
    """Whether a `@kpi_command(COMMANDS["x"])` decorator registers a writing command (None:
    not such a decorator, or a command from the rubric: those write)."""
    from bot.commands import COMMANDS

    if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "rubric_command":
        return True  # a rubric item's commands: the factory and the handler it makes write
    if not (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "kpi_command"):
        return None
    arg = decorator.args[0] if decorator.args else None
    if isinstance(arg, ast.Subscript) and isinstance(arg.slice, ast.Constant):
        return COMMANDS[arg.slice.value].writes
    return True  # `kpi_command(cmd)`: a rubric command (self-report, shortcut): writes


SESSION_PARAMS = {"s", "session", "tx"}


def _session_calls(tree: ast.AST) -> list[tuple[str, str]]:
    """(function, attribute) for every use of a session's own methods (`s.get(…)`,
    `s.execute(…)`, `s.add(…)`) in a function or lambda that takes the session (a parameter
    named `s`, `session` or `tx`): such a function is a use case in the plugin. Handing the
    session on to a function of `models/` (`lambda s: pages.team(s, ask, p)`) is the rule."""
    found = []
    for f in ast.walk(tree):
        if not isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        params = {a.arg for a in f.args.args + f.args.posonlyargs + f.args.kwonlyargs}
        for n in ast.walk(f):
            if (
                isinstance(n, ast.Attribute)
                and getattr(n.value, "id", "") in params & SESSION_PARAMS
            ):
                found.append((getattr(f, "name", "lambda"), f"{n.value.id}.{n.attr}"))  # type: ignore[attr-defined]
    return found


def session_uses(source: str, name: str = "plugin") -> list[str]:
    """What breaks issue 21's rule in a plugin's source: a command handler that is async (a
    handler parses into a `Call`, the dispatcher runs it), any function reading `ctx.s`,
    `ctx.session` or `ctx.tx`, a function of a session using the session itself
    (`_session_calls`), or a write or read opened below the door (the dashboard's pages
    and its login sessions included: they read and write through `bot.door`)."""
    tree = ast.parse(source)
    found = [
        f"{name}: {f.name} is async" for f in _handlers(tree) if isinstance(f, ast.AsyncFunctionDef)
    ]
    for f in ast.walk(tree):
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef):
            used = {
                n.attr
                for n in ast.walk(f)
                if isinstance(n, ast.Attribute) and getattr(n.value, "id", "") == "ctx"
            }
            found += [f"{name}: {f.name} uses ctx.{a}" for a in sorted(used & SESSION_ATTRS)]
    found += [f"{name}: {f} uses {a}" for f, a in _session_calls(tree)]
    found += [f"{name} uses {b}" for b in BELOW_THE_DOOR if b in source]
    return found


@pytest.mark.parametrize("path", _plugin_files(), ids=str)
def test_a_command_is_a_plain_parse_with_no_session(path: Path):
    """Issue 21: every command's handler is a plain function that parses the message into
    a use case's request (`bot.dispatch.Call`) or returns its text; no plugin sees a
    session or opens a transaction itself (the dispatcher runs every write through
    `bot.door.write` and every read through `bot.door.read`). The web's pages and actions
    hand `bot.door` a use case of `models/` the same way (`models.usecases.pages`), their
    login sessions included: no file is exempt."""
    rel = path.relative_to(ROOT / "plugins").as_posix()
    assert session_uses(path.read_text(encoding="utf-8"), rel) == []


def test_the_rules_checker_sees_the_writing_commands():
    """The check above is not vacuous: it finds the writing handlers of the plugins."""
    tree = ast.parse((ROOT / "plugins" / "supervise.py").read_text(encoding="utf-8"))
    found = {
        f.name
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and any(_writes(d) for d in f.decorator_list)
    }
    assert {"deduct", "bonus", "revoke_cmd", "_shortcut_of"} <= found


def test_the_rules_checker_checks_every_plugin_and_its_read_commands():
    """Nothing is exempt: every plugin file is checked, the monthly package and the web's
    `/后台` included, and read commands (`/审计`, `/导出`, `/帮助`) are handlers too."""
    checked = {p.relative_to(ROOT / "plugins").as_posix() for p in _plugin_files()}
    assert {
        "scores.py",
        "ops.py",
        "supervise.py",
        "help.py",
        "monthly/__init__.py",
        "monthly/outbox.py",
        "monthly/post.py",
        "web/__init__.py",
    } <= checked
    handlers = {
        f.name
        for p in _plugin_files()
        for f in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if _is_handler(f)
    }
    assert {"audit_cmd", "export_cmd", "dashboard", "help_cmd", "rubric_cmd"} <= handlers


@pytest.mark.parametrize(
    "source",
    [
        # the shape /审计 had: an async handler reading through the command's session
        "@kpi_command(COMMANDS['audit'])\nasync def audit_cmd(ctx, args):\n"
        "    return await audit_rows(ctx.s, ctx.team_id)\n",
        # a plain handler that still reaches for a session
        "@kpi_command(COMMANDS['export'])\ndef export_cmd(ctx, args):\n"
        "    return export_month(ctx.session)\n",
        # a helper (not a handler) using the session
        "def helper(ctx):\n    return ctx.tx\n",
        # a background job opening its own read or write
        "async def job():\n    async with reading() as s:\n        return s\n",
        "async def job():\n    async with db.writing() as s:\n        return s\n",
        "from sqlalchemy.ext.asyncio import AsyncSession\n",
        # a web page reading in its own session (the shape the dashboard's pages had)
        "async def team_page(request, viewer, team_id):\n"
        "    async with db.reading() as s:\n"
        "        return await dash.team_month(s, await s.get(Team, team_id))\n",
        # a page through the door whose work is a query of its own, not a use case
        "async def roster_page(request, viewer, team_id):\n"
        "    return await door.read(lambda s: s.get(Team, team_id))\n",
    ],
)
def test_the_rules_checker_fails_a_plugin_that_uses_a_session(source: str):
    assert session_uses(source)
