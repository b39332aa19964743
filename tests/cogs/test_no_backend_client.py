"""Cogs reach a backend through the engine: none imports a backend's client class."""

from __future__ import annotations

import ast
from pathlib import Path

import bot.backends
from bot.backends import registered

COGS = Path(__file__).resolve().parents[2] / "cogs"
#: Every registered backend class's name (AimgBackend…).
CLIENTS = frozenset(cls.__name__ for cls in registered().values())  # type: ignore[attr-defined]


def _imported(path: Path) -> set[str]:
    """Every name ``path`` imports from the backends, as ``module:name``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(bot.backends.__name__):
            found |= {f"{node.module}:{alias.name}" for alias in node.names}
    return found


def test_no_cog_imports_a_backend_client() -> None:
    assert "AimgBackend" in CLIENTS
    held = {
        f"{path.name} {name}"
        for path in sorted(COGS.glob("*.py"))
        for name in _imported(path)
        if name.split(":")[1] in CLIENTS or name.split(":")[0].endswith((".client", ".transport"))
    }
    assert held == set()
