"""The package layout: what each module of src/micrograd is, and which it may import.

The import graph is read from the source (every ``import`` in every module of src/micrograd,
including those inside functions, which run later but still tie the modules together), so these
tests need nothing to be importable to find a cycle.

Every module is classified in :data:`MODULES`: a new module fails the test until it is placed,
and a classified module that is gone fails it too, so the table is always the layout.
"""

from __future__ import annotations

import ast
import importlib
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "src" / "micrograd"

# What each module is. A module may import modules of its own rank or a lower one (RANK), never
# a higher one: the core never needs the layers built on it, and the layers stack in this order.
# - core: the small flat library a learner reads (and the package itself, its front door);
# - private: the core's helpers, named with a leading underscore; not an API;
# - compiler, gpt, viz, app: the layers (compiled training steps; the GPT; pictures and pages;
#   the command line), each built on those before it;
# - entry: ``python -m micrograd``.
RANK = {"core": 0, "private": 0, "compiler": 1, "gpt": 2, "viz": 3, "app": 4, "entry": 5}
_CORE = ("engine", "ops", "autograd", "nn", "losses", "optim", "gradcheck", "functional", "fused", "outputs",
         "interop", "datasets")
_PRIVATE = ("_cengine", "_checks", "_copying", "_gradmode", "_files", "_engine_names", "_mlp_checkpoint", "_moved")
_LAYERS = {
    "compiler": ("", "._text", ".gpt", ".gpt_cache", ".loss", ".numpy", ".plan", ".python"),
    "gpt": ("", ".checkpoint", ".model", ".tokenizer", ".torch_engine", ".training"),
    "viz": ("", ".dot_command", ".dot_reader", ".gpt_page", ".graph", ".html", ".layered", ".narrate", ".render"),
    "app": ("", ".checkpoint", ".cli", ".data", ".expr", ".flags", ".gpt_command", ".plots", ".training"),
}
MODULES: dict[str, str] = {
    "micrograd": "core",
    **{f"micrograd.{name}": "core" for name in _CORE},
    **{f"micrograd.{name}": "private" for name in _PRIVATE},
    **{f"micrograd.{layer}{name}": layer for layer, names in _LAYERS.items() for name in names},
    "micrograd.__main__": "entry",
}
# The one import against the ranks: micrograd.load reads every kind of checkpoint, the GPT's too
# (inside the function, so `import micrograd` does not load the GPT; the model's name is for the type).
UPWARD = {("micrograd", "micrograd.gpt.checkpoint"), ("micrograd", "micrograd.gpt.model")}
# The core modules that must exist whatever else changes: the library the README walks through.
CORE = ("engine", "ops", "autograd", "nn", "losses", "optim", "gradcheck", "functional")

# Modules that moved, and where to. The old paths have no file: micrograd/_moved.py makes them on import.
OLD_PATHS = {
    "micrograd.cli": "micrograd.app.cli",
    "micrograd.training": "micrograd.app.training",
    "micrograd.checkpoint": "micrograd.app.checkpoint",
    "micrograd.data": "micrograd.app.data",
    "micrograd.plots": "micrograd.app.plots",
    "micrograd.expr": "micrograd.app.expr",
    "micrograd.compiled": "micrograd.compiler",
    "micrograd.html": "micrograd.viz.html",
    "micrograd.gpt_compiled": "micrograd.compiler.gpt",
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
    assert "micrograd.gpt.checkpoint" in graph["micrograd"]  # imported inside micrograd.load
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert find_cycles(import_graph()) == []


def test_every_module_is_classified() -> None:
    found = set(import_graph())
    unclassified = sorted(found - set(MODULES))
    assert unclassified == [], f"classify these modules in tests/test_layout.py MODULES: {unclassified}"


def test_every_classified_module_exists() -> None:
    missing = sorted(set(MODULES) - set(import_graph()))
    assert missing == [], f"classified in tests/test_layout.py MODULES but not in src/micrograd: {missing}"


@pytest.mark.parametrize("core", CORE)
def test_the_core_the_readme_walks_through_is_there(core: str) -> None:
    assert MODULES.get(f"micrograd.{core}") == "core"
    assert (PACKAGE / f"{core}.py").is_file()


def upward_imports(graph: dict[str, set[str]], modules: dict[str, str]) -> list[str]:
    """The imports of a module from a layer above its own (other than those of UPWARD), as sentences."""
    return sorted(
        f"{name} ({modules[name]}) imports {target} ({modules[target]})"
        for name, targets in graph.items() if name in modules
        for target in targets if target in modules
        if RANK[modules[target]] > RANK[modules[name]] and (name, target) not in UPWARD
    )


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert upward_imports(import_graph(), MODULES) == []


def test_the_core_imports_nothing_from_the_app_even_inside_functions() -> None:
    graph = import_graph()
    core = [name for name, kind in MODULES.items() if kind in ("core", "private")]
    for name in core:
        app = sorted(target for target in graph.get(name, ()) if _in_layer(target, ("micrograd.app",)))
        assert app == [], f"{name} imports {app}"


def test_the_rank_check_sees_an_import_from_above() -> None:
    graph = import_graph() | {"micrograd.nn": {"micrograd.engine", "micrograd.app.checkpoint"}}
    assert upward_imports(graph, MODULES) == ["micrograd.nn (core) imports micrograd.app.checkpoint (app)"]
    assert upward_imports({"micrograd.viz.html": {"micrograd.gpt"}}, MODULES) == []  # viz is above the GPT


def test_the_old_paths_are_one_table_and_no_files() -> None:
    from micrograd import _moved

    assert _moved.MOVED == OLD_PATHS
    for old in OLD_PATHS:
        assert old not in MODULES
        relative = Path(*old.split(".")[1:])
        assert not (PACKAGE / relative.with_suffix(".py")).exists() and not (PACKAGE / relative).exists(), old


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_import_paths_still_import_and_warn(old: str) -> None:
    sys.modules.pop(old, None)  # a fresh import: the notice comes once per import
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    notices = [w for w in caught if issubclass(w.category, FutureWarning)]
    assert len(notices) == 1, [str(w.message) for w in caught]
    message = str(notices[0].message)
    assert "\n" not in message and old in message and f"moved to {OLD_PATHS[old]}" in message
    new = importlib.import_module(OLD_PATHS[old])
    assert module.__all__ and module.__all__ == list(new.__all__)
    for name in module.__all__:
        assert getattr(module, name) is getattr(new, name), name
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_the_old_path_notice_points_at_the_line_that_imports_it(tmp_path: Path) -> None:
    sys.modules.pop("micrograd.training", None)
    source = "from micrograd.training import start_run\n"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        namespace: dict[str, object] = {}
        exec(compile(source, str(tmp_path / "user_code.py"), "exec"), namespace)
    from micrograd.app.training import start_run

    assert namespace["start_run"] is start_run
    (notice,) = [w for w in caught if issubclass(w.category, FutureWarning)]
    assert (notice.filename, notice.lineno) == (str(tmp_path / "user_code.py"), 1)


def test_the_console_script_and_python_m_use_the_app() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'micrograd = "micrograd.app.cli:console_main"' in pyproject
    assert "micrograd.app.cli" in import_graph()["micrograd.__main__"]


# ----------------------------------------------------------------------
# No function over 80 lines
# ----------------------------------------------------------------------

MAX_FUNCTION_LINES = 80
def function_lengths(source: str) -> dict[str, int]:
    """Every function's and method's length in lines, from its first decorator to its last line, by
    qualified name (``Class.method``, ``outer.inner``)."""
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([child.lineno, *(decorator.lineno for decorator in child.decorator_list)])
                assert child.end_lineno is not None
                lengths[prefix + child.name] = child.end_lineno - first + 1
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return lengths


def _long_functions() -> dict[str, int]:
    return {
        f"{name}:{function}": length
        for name, path in _modules().items()
        for function, length in function_lengths(path.read_text(encoding="utf-8")).items()
        if length > MAX_FUNCTION_LINES
    }


def test_the_function_length_reader_counts_every_line() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(78))
    source = (f"@decorator\ndef long():\n{body}\n\n"
              "class C:\n    async def m(self):\n        def inner():\n            pass\n")
    lengths = function_lengths(source)
    assert lengths == {"long": 80, "C.m": 3, "C.m.inner": 2}
    assert function_lengths(textwrap.dedent("""
        if True:
            def f():
                return 1
    """)) == {"f": 2}


def test_no_function_is_over_80_lines() -> None:
    long = _long_functions()
    assert long == {}, f"split these into well-named pieces of at most {MAX_FUNCTION_LINES} lines: {long}"


def test_the_numpy_engine_has_one_reverse_pass() -> None:
    """The GPT's programs are code written by compiler/numpy.py's walk: compiler/gpt.py takes no derivative itself."""
    tree = ast.parse((PACKAGE / "compiler" / "gpt.py").read_text(encoding="utf-8"))
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not attributes & {"derivative", "derivative_on_arrays", "local_grads"}  # (the mean over n: eager)
    writer = ast.parse((PACKAGE / "compiler" / "numpy.py").read_text(encoding="utf-8"))
    walks = [f.name for f in ast.walk(writer) if isinstance(f, ast.FunctionDef) and any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "reversed" for n in ast.walk(f))]
    assert walks == ["backward"]  # one reverse walk, for the batch's statements and the GPT's groups
