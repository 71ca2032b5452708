"""The package layout: the library core at the top level, and compiler/, viz/ and app/ built on it.

The import graph is read from the source (every ``import`` in every module of src/micrograd,
including those inside functions, which run later but still tie the modules together), so these
tests need nothing to be importable to find a cycle.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "src" / "micrograd"

# The small flat library a learner reads; it must not need the layers built on it.
CORE = ("engine", "ops", "autograd", "nn", "losses", "optim", "gradcheck", "functional")
LAYERS = ("micrograd.compiler", "micrograd.viz", "micrograd.app")

# Modules that moved, and where to: the old paths re-export the new modules' names.
OLD_PATHS = {
    "micrograd.cli": "micrograd.app.cli",
    "micrograd.training": "micrograd.app.training",
    "micrograd.checkpoint": "micrograd.app.checkpoint",
    "micrograd.data": "micrograd.app.data",
    "micrograd.plots": "micrograd.app.plots",
    "micrograd.expr": "micrograd.app.expr",
    "micrograd.compiled": "micrograd.compiler",
    "micrograd.html": "micrograd.viz.html",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The micrograd modules that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            # `from micrograd.viz import graph` imports the submodule; `from micrograd import Value` the package.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import micrograd.viz.graph as g` names a module; keep it
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    # C extensions (micrograd/_cengine.c) are modules too; they import no micrograd module.
    extensions = {_module_name(path) for path in PACKAGE.rglob("*.c")}
    known = set(modules) | extensions
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    return graph | {name: set() for name in extensions}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def _in_layer(module: str, layers: tuple[str, ...]) -> bool:
    return any(module == layer or module.startswith(layer + ".") for layer in layers)


def test_the_graph_reader_sees_imports_inside_functions_and_finds_cycles() -> None:
    graph = import_graph()
    assert "micrograd.viz.html" in graph["micrograd.app.cli"]  # imported inside _cmd_demo
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert find_cycles(import_graph()) == []


@pytest.mark.parametrize("core", CORE)
def test_the_core_imports_nothing_from_compiler_viz_or_app(core: str) -> None:
    name = f"micrograd.{core}"
    graph = import_graph()
    if name not in graph:
        pytest.skip(f"{name} does not exist")
    # The old paths are the app's, the compiler's and viz's modules under another name.
    layered = [target for target in graph[name] if _in_layer(target, LAYERS) or target in OLD_PATHS]
    assert layered == [], f"{name} imports {layered}"


def test_compiler_and_viz_import_nothing_from_the_app() -> None:
    graph = import_graph()
    for name, targets in graph.items():
        if _in_layer(name, ("micrograd.compiler", "micrograd.viz")):
            app = sorted(t for t in targets if _in_layer(t, ("micrograd.app",)) or t in OLD_PATHS)
            assert app == [], f"{name} imports {app}"


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_import_paths_still_import(old: str) -> None:
    module = importlib.import_module(old)
    new = importlib.import_module(OLD_PATHS[old])
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is getattr(new, name), name


def test_the_console_script_and_python_m_use_the_app() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'micrograd = "micrograd.app.cli:main"' in pyproject
    assert "micrograd.app.cli" in import_graph()["micrograd.__main__"]
