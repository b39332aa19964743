"""The import layers of the product code (docs/architecture.md, "The map"): each part imports only
the layers below it, ``bot`` never imports ``cogs`` (cogs are loaded by extension name), no import
circle among product modules, and no product module imports the sandbox but the CLI's lazy
sandbox start.

Imports are read with ``ast``, every one of them: at module level, inside functions, and under
``if TYPE_CHECKING:`` (a type-only import still ties two modules together)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: The packages read; ``sandbox`` is not product.
ROOTS = ("bot", "cogs", "sandbox")
SANDBOX = ("sandbox",)
#: docs/architecture.md's map, lowest layer first: a module imports its own layer's or lower ones.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("bot.i18n",),
    ("bot.domain",),
    ("bot.net", "bot.http_client", "bot.logs", "bot.metrics", "bot.shards"),
    ("bot.backends",),
    ("bot.config", "bot.crypto"),
    ("bot.store",),
    ("bot.jobs",),
    ("bot.web", "bot.ops", "bot.relay", "bot.mask_editor", "bot.check"),
    ("bot.discord_side",),
    ("cogs",),
    ("bot.cli",),
)
#: The one product module that may import the sandbox, and only inside a function: the CLI
#: starts it when no Discord token is configured.
SANDBOX_STARTER = "bot.cli"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    #: Inside a function: imported when called, not when the module is.
    lazy: bool


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {}
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def is_sandbox(name: str) -> bool:
    return any(_within(name, package) for package in SANDBOX)


def _resolve(name: str, known: set[str]) -> str | None:
    """The longest known module ``name`` is, or is inside."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Every dotted name ``node`` may import (``from a import b`` may import module ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parent = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            parent = parent.rpartition(".")[0]
        base = f"{parent}.{base}".strip(".")
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known: set[str]) -> None:
        self.module, self.is_package, self.known = module, is_package, known
        self.edges: set[Edge] = set()
        self._depth = 0

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function  # noqa: N815

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        for name in _imported(node, self.module, self.is_package):
            target = _resolve(name, self.known)
            if target is not None and target != self.module:
                self.edges.add(Edge(self.module, target, lazy=self._depth > 0))

    visit_Import = visit_ImportFrom = _import  # noqa: N815


def import_graph() -> list[Edge]:
    modules = _modules()
    known = set(modules)
    edges: set[Edge] = set()
    for name, path in modules.items():
        visitor = _Imports(name, path.name == "__init__.py", known)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        edges |= visitor.edges
    return sorted(edges, key=lambda e: (e.source, e.target))


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def product_edges() -> list[Edge]:
    edges = import_graph()
    # The graph is real: the cogs import the engine's parts (a reader that found nothing would pass).
    assert Edge("cogs.imagine", "bot.jobs.rules", lazy=False) in edges
    return [e for e in edges if not is_sandbox(e.source)]


def test_bot_never_imports_cogs(product_edges: list[Edge]) -> None:
    upward = [
        f"{e.source} -> {e.target}"
        for e in product_edges
        if _within(e.source, "bot") and _within(e.target, "cogs")
    ]
    assert upward == []


def layer(module: str) -> int | None:
    """The index in LAYERS of the part ``module`` is in (None: a part the map does not name)."""
    return next(
        (n for n, parts in enumerate(LAYERS) for part in parts if _within(module, part)),
        None,
    )


def test_every_product_module_is_on_the_map() -> None:
    unmapped = [m for m in _modules() if m not in ("bot", "cogs") and not is_sandbox(m) and layer(m) is None]
    assert unmapped == []


def test_imports_point_down_the_map(product_edges: list[Edge]) -> None:
    upward = [
        f"{e.source} -> {e.target}"
        for e in product_edges
        if not is_sandbox(e.target) and (layer(e.target) or 0) > (layer(e.source) or 0)
    ]
    assert upward == []


def test_no_import_cycles(product_edges: list[Edge]) -> None:
    assert cycles([e for e in product_edges if not is_sandbox(e.target)]) == []


def test_only_the_cli_starts_the_sandbox(product_edges: list[Edge]) -> None:
    sandboxed = [
        f"{e.source} -> {e.target}"
        for e in product_edges
        if is_sandbox(e.target) and not (e.source == SANDBOX_STARTER and e.lazy)
    ]
    assert sandboxed == []


def test_the_checks_see_what_they_look_for() -> None:
    """The helpers on a made-up graph: a circle of three is one component, a branch is none."""
    edges = [Edge("a", "b", False), Edge("b", "c", False), Edge("c", "a", True), Edge("c", "d", False)]
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles(edges[:2]) == []
    assert _resolve("bot.jobs.engine.JobEngine", {"bot", "bot.jobs", "bot.jobs.engine"}) == "bot.jobs.engine"
    assert _imported(ast.parse("from . import x").body[0], "cogs.a", False) == ["cogs", "cogs.x"]  # type: ignore[arg-type]
