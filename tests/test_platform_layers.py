"""The chat layer's boundary: only the platform glue (`bot/platforms/`) and the adapter
package (`adapters/`) import a specific adapter; everything else speaks uniseg, uninfo and
`bot.platforms`."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECIFIC = ("nonebot.adapters.",)
ALLOWED = (ROOT / "bot" / "platforms", ROOT / "adapters")
CHECKED = [
    p
    for folder in ("bot", "plugins", "models")
    for p in sorted((ROOT / folder).glob("**/*.py"))
    if not any(p.is_relative_to(a) for a in ALLOWED)
]


def adapter_imports(path: Path) -> list[str]:
    """Modules under `nonebot.adapters.<name>` that `path` imports (anywhere in it, also
    inside functions). `nonebot.adapters` itself (the base Bot, Event, Message) is fine."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith(SPECIFIC)]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.startswith(SPECIFIC):
                found.append(node.module)
            elif node.module == "nonebot.adapters":
                found += [f"nonebot.adapters.{a.name}" for a in node.names if a.name.islower()]
    return found


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_platform_glue_imports_a_specific_adapter(path: Path):
    assert adapter_imports(path) == []


def test_the_check_sees_an_adapter_import(tmp_path: Path):
    sample = tmp_path / "m.py"
    sample.write_text(
        "from nonebot.adapters import Bot\n"
        "def f():\n    from nonebot.adapters.onebot import v11\n"
        "import nonebot.adapters.milky\n"
        "from nonebot.adapters import qq\n",
        encoding="utf-8",
    )
    assert sorted(adapter_imports(sample)) == [
        "nonebot.adapters.milky",
        "nonebot.adapters.onebot",
        "nonebot.adapters.qq",
    ]
