"""The house (README «Development»): which package may import which, and how big a module gets.

    main.py → bot (wiring) → handlers → bot.ui (the chat UI kit) → models, exports
    bot.jobs → bot.ui, models, exports          (never handlers)
    bot.db, bot.pipeline, bot.config: foundations any layer above models may use

Read from the source with `ast`, so a forbidden import fails here even if nothing runs it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "models", "exports")
MAX_LINES = 600
MAX_BOT_MODULES = 12


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] in PACKAGES}


def _within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


WIRING = ("bot.app", "bot.dispatcher", "bot.middlewares", "bot.webhook", "bot.i18n")


def _violations(modules: dict[str, Path]) -> list[str]:
    found = []
    for module, path in sorted(modules.items()):
        for name in sorted(_imports(path)):
            rule = None
            if _within(module, "models", "exports") and _within(name, "bot", "handlers"):
                rule = "models and exports import neither bot nor handlers"
            elif _within(module, "bot") and _within(name, "handlers"):
                if not (
                    module == "bot.dispatcher" and name in ("handlers", "handlers.get_routers")
                ):
                    rule = "bot/ imports handlers only for the dispatcher's router list"
            elif _within(module, "handlers") and _within(name, *WIRING, "bot.jobs"):
                rule = "handlers don't import the wiring or the jobs"
            elif _within(module, "bot.ui", "bot.db", "bot.pipeline", "bot.config") and _within(
                name, *WIRING, "bot.jobs"
            ):
                rule = "the UI kit and the foundations don't import the wiring or the jobs"
            elif _within(module, "bot.db", "bot.pipeline", "bot.config") and _within(
                name, "bot.ui"
            ):
                rule = "the foundations don't import the UI kit"
            if rule:
                found.append(f"{module} imports {name}: {rule}")
    return found


def test_imports_go_one_way():
    assert _violations(_modules()) == []


def test_the_checker_sees_wrong_way_imports(tmp_path):
    """The rules are not vacuous: each kind of wrong-way import is reported."""
    wrong = {
        "bot.jobs.probe": "from handlers.review import create_router",
        "bot.ui.probe": "from bot.jobs import outbox",
        "handlers.probe": "import bot.dispatcher",
        "models.probe": "from bot.ui.texts import role_name",
        "bot.db.probe": "from bot.ui import replies",
    }
    modules = {}
    for name, source in wrong.items():
        path = tmp_path / f"{name}.py"
        path.write_text(source + "\n", encoding="utf-8")
        modules[name] = path
    assert sorted({v.split(" ")[0] for v in _violations(modules)}) == sorted(wrong)


def test_bot_holds_only_the_wiring():
    direct = sorted(p.name for p in (ROOT / "bot").glob("*.py"))
    assert len(direct) <= MAX_BOT_MODULES, direct


def test_no_module_over_600_lines():
    long = {
        module: lines
        for module, path in _modules().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
