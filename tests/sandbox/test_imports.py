"""The sandbox sits beside the bot: the bot reaches it only through the CLI's start of the sandbox,
and the sandbox's own modules import one way (no circle, counting imports made only for types)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, tree: ast.Module, modules: set[str]) -> Iterator[tuple[str, ast.stmt]]:
    """(imported module, the statement) for every import in ``name``'s tree, relative ones resolved;
    ``from package import submodule`` counts as the submodule only."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            submodules = [f"{module}.{alias.name}" for alias in node.names]
            yield from ((sub, node) for sub in submodules if sub in modules)
            if not all(sub in modules for sub in submodules):
                yield module, node


def _function_of(tree: ast.Module, stmt: ast.stmt) -> str | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(child is stmt for child in ast.walk(node)):
            return node.name
    return None


def test_the_bot_imports_the_sandbox_only_where_the_cli_starts_it() -> None:
    users = set()
    for package in ("bot", "cogs"):
        modules = _modules(package)
        for name, path in modules.items():
            tree = ast.parse(path.read_text())
            for module, stmt in _imports(name, path, tree, set(modules)):
                if module.split(".")[0] == "sandbox":
                    users.add((name, _function_of(tree, stmt)))
    assert users == {("bot.cli", "_run_sandbox")}


def test_the_sandbox_modules_import_one_way() -> None:
    modules = _modules("sandbox")
    graph = {
        name: sorted(
            {
                dep
                for dep, _ in _imports(name, path, ast.parse(path.read_text()), set(modules))
                if dep in modules
            }
        )
        for name, path in modules.items()
    }
    done: set[str] = set()

    def circle(name: str, trail: list[str]) -> list[str] | None:
        """The first circle reachable from ``name`` (depth first), or None."""
        if name in trail:
            return [*trail[trail.index(name) :], name]
        if name in done:
            return None
        for dep in graph[name]:
            if found := circle(dep, [*trail, name]):
                return found
        done.add(name)
        return None

    circles = [found for name in sorted(graph) if (found := circle(name, []))]
    assert not circles, " → ".join(circles[0])
