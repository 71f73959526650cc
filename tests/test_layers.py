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


# Plugins whose commands are not use cases yet (issue 21: /月报 and /导出, /后台), and
# handlers (/审计): everything else is held to the rules below. Shrink these as they move.
NOT_YET_USE_CASES = {"monthly", "web"}
NOT_YET_HANDLERS = {"audit_cmd"}
SESSION_ATTRS = {"s", "session", "tx"}


def _plugin_files() -> list[Path]:
    out = []
    for path in sorted((ROOT / "plugins").glob("**/*.py")):
        rel = path.relative_to(ROOT / "plugins")
        if rel.parts[0] not in NOT_YET_USE_CASES and rel.name not in NOT_YET_USE_CASES:
            out.append(path)
    return out


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


@pytest.mark.parametrize("path", _plugin_files(), ids=str)
def test_a_writing_command_is_a_plain_parse_with_no_session(path: Path):
    """Issue 21: a writing command's handler is a plain function that parses the message into
    a use case's request (`bot.dispatch.Call`); it never sees a session."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    writers = [
        inner
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(_writes(d) for d in f.decorator_list)
        for inner in ast.walk(f)  # a rubric_command factory's handler is nested in it
        if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    for f in writers:
        assert isinstance(f, ast.FunctionDef), f"{path.name}: {f.name} is async"
    for f in ast.walk(tree):
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and f.name not in NOT_YET_HANDLERS:
            used = {
                n.attr
                for n in ast.walk(f)
                if isinstance(n, ast.Attribute) and getattr(n.value, "id", "") == "ctx"
            }
            assert not used & SESSION_ATTRS, (
                f"{path.name}: {f.name} uses ctx.{used & SESSION_ATTRS}"
            )


def test_the_rules_checker_sees_the_writing_commands():
    """The check above is not vacuous: it finds the writing handlers of the plugins."""
    tree = ast.parse((ROOT / "plugins" / "supervise.py").read_text(encoding="utf-8"))
    found = {
        f.name
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and any(_writes(d) for d in f.decorator_list)
    }
    assert {"deduct", "bonus", "revoke_cmd", "_shortcut_of"} <= found


def test_the_rules_checker_sees_the_read_commands_and_the_exempt_ones():
    """Read commands are checked too (`/排行` `/状态`), and an exempt plugin still using
    `ctx.s` is what the exemption lists, not a plugin the check would pass."""
    checked = {p.name for p in _plugin_files()}
    assert {"scores.py", "ops.py", "linkcheck.py", "supervise.py"} <= checked
    tree = ast.parse((ROOT / "plugins" / "supervise.py").read_text(encoding="utf-8"))
    exempt = [f for f in ast.walk(tree) if getattr(f, "name", None) in NOT_YET_HANDLERS]
    assert exempt
    assert all(isinstance(f, ast.AsyncFunctionDef) for f in exempt)
    assert any(  # /审计 still reads `ctx.s`: remove the exemption when it becomes a use case
        isinstance(n, ast.Attribute) and n.attr == "s" and getattr(n.value, "id", "") == "ctx"
        for f in exempt
        for n in ast.walk(f)
    )


def test_no_plugin_reaches_the_write_path_below_the_door():
    """The dispatcher runs every write through `bot.door`; no plugin opens a unit itself."""
    for path in _plugin_files():
        text = path.read_text(encoding="utf-8")
        for name in ("unit_of_work", "db.writing(", "serialise_team"):
            assert name not in text, f"{path.name} uses {name}"
