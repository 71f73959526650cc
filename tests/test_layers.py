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
