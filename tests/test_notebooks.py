"""The notebook path in examples/notebooks: every notebook runs top to bottom and shows its pictures,
and is stored executed, with the outputs that running it gives.

Each notebook is executed in a fresh Jupyter kernel with nbclient, by the same code that stores
them executed (examples/notebooks/execute.py). Its ``assert`` cells check the key numbers (the
nudged derivative equals the backward one, the seed's tanh neuron, training reaches its target),
so any failure there fails the test, as does any other error. The text the run prints (stdout,
stderr and each result's text/plain) must equal the stored text, cell by cell, and every stored
picture must be there again: a notebook edited but not re-executed fails, with the command to run.
The pictures' bytes are not compared (another matplotlib or Graphviz draws them a little
differently).

Which Python runs the kernel: always the interpreter running pytest. The
kernel spec manager is given no kernel folders, so a ``python3`` kernel
registered by the user or the system (possibly another Python, without
micrograd) is never used; ``python3`` then falls back to ipykernel's built-in
spec, which launches ``sys.executable -m ipykernel_launcher``. Nothing needs
to be registered with ``jupyter kernelspec install``: a fresh clone after
``pip install -e '.[dev]'`` works as it is.

Skipped only when nbclient is not installed (ipykernel missing alongside it is a failure).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "examples" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXECUTE_SCRIPT = NOTEBOOK_DIR / "execute.py"
RE_EXECUTE = f"python {EXECUTE_SCRIPT.relative_to(NOTEBOOK_DIR.parent.parent)}"

CELL_TIMEOUT_SECONDS = 600  # a hang guard for one cell; the slowest (the GPT training) takes seconds
PICTURE_TYPES = ("image/svg+xml", "image/png")


def _runner() -> ModuleType:
    """examples/notebooks/execute.py, imported: the tests run the notebooks exactly as it does."""
    spec = importlib.util.spec_from_file_location("execute_notebooks", EXECUTE_SCRIPT)
    assert spec is not None and spec.loader is not None, EXECUTE_SCRIPT
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _code_cells(notebook: Any) -> list[Any]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)  # stored as a list of lines


def _shown_text(cell: Any) -> list[tuple[str, str]]:
    """What a cell printed and returned, as text: (stream name or output type, text) per output."""
    shown = []
    for output in cell["outputs"]:
        if output["output_type"] == "stream":
            shown.append((output["name"], _text(output["text"])))
        elif "text/plain" in output.get("data", {}):
            shown.append((output["output_type"], _text(output["data"]["text/plain"])))
    return shown


def _shown_pictures(cell: Any) -> list[str]:
    return [kind for output in cell["outputs"] for kind in output.get("data", {}) if kind in PICTURE_TYPES]


def test_the_notebook_path_is_there() -> None:
    names = [path.name for path in NOTEBOOKS]
    assert len(names) >= 8, f"expected the notebooks of the learning path in {NOTEBOOK_DIR}, found {names}"
    assert names == sorted(names) and all(name[:2].isdigit() for name in names), names
    assert names[0].startswith("00_build_your_own_value"), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_stored_executed(path: Path) -> None:
    """GitHub shows a notebook as stored: every code cell run, in order, in one session, with its outputs.

    A cell that only assigns or asserts shows nothing when run, so it has no outputs either; that
    each cell's outputs are those of running it is checked by the test below.
    """
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    cells = _code_cells(notebook)
    counts = [cell["execution_count"] for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name} is not stored executed top to bottom (execution counts {counts}): run {RE_EXECUTE} {path.name}"
    )
    assert any(cell["outputs"] for cell in cells), f"{path.name} has no outputs: run {RE_EXECUTE} {path.name}"
    assert any(_shown_pictures(cell) for cell in cells), f"{path.name} is stored without its pictures"
    # Nothing that changes from run to run or machine to machine: timings, the kernel's Python version.
    assert not any("execution" in cell["metadata"] for cell in cells), f"{path.name} has cell timings"
    assert "version" not in notebook["metadata"].get("language_info", {}), f"{path.name} names a Python version"
    for number, cell in enumerate(cells):
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"{path.name} code cell {number} is stored with an error"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_shows_its_pictures_and_prints_what_is_stored(path: Path) -> None:
    pytest.importorskip("nbclient")
    try:
        import ipykernel  # noqa: F401  (the kernel nbclient starts)
    except ImportError:
        pytest.fail("nbclient is installed but ipykernel is not: pip install ipykernel (or '.[dev]')")

    stored = json.loads(path.read_text(encoding="utf-8"))
    notebook = _runner().execute(path, timeout=CELL_TIMEOUT_SECONDS)  # raises at the first failing cell

    cells = _code_cells(notebook)
    code = "\n".join(cell.source for cell in cells)
    shown = [output for cell in cells for output in cell.outputs]
    pictures = {kind for output in shown for kind in output.get("data", {}) if kind in PICTURE_TYPES}
    # Without a picture, draw_dot shows a text with the reason (e.g. no renderer): put it in the message.
    texts = [output["data"]["text/plain"] for output in shown if "text/plain" in output.get("data", {})]
    reason = next((text for text in texts if "no picture" in text), "")

    assert pictures, f"{path.name} showed no picture {reason}"
    if "draw_dot(" in code:
        assert "image/svg+xml" in pictures, f"{path.name} drew no expression graph {reason}"
    if "plt." in code:
        assert "image/png" in pictures, f"{path.name} showed no matplotlib figure"

    stored_cells = _code_cells(stored)
    assert [cell["source"] for cell in cells] == [_text(cell["source"]) for cell in stored_cells]
    for number, (ran, kept) in enumerate(zip(cells, stored_cells, strict=True)):
        where = f"{path.name} code cell {number} ({_text(kept['source']).splitlines()[0]!r})"
        stale = f"{where}: the stored outputs are stale; run {RE_EXECUTE} {path.name}"
        assert _shown_text(ran) == _shown_text(kept), stale
        assert _shown_pictures(ran) == _shown_pictures(kept), stale


def test_a_figure_made_without_pyplot_shows_as_a_picture() -> None:
    """micrograd.app.plots never imports pyplot; its Figures must still display inline in a fresh kernel."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    source = (
        "from micrograd.app.plots import curves_figure\n"
        "curves_figure([{'step': 0.0, 'loss': 1.0, 'accuracy': 0.5}, {'step': 1.0, 'loss': 0.5, 'accuracy': 0.9}])"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    runner = _runner()
    client = nbclient.NotebookClient(notebook, km=runner.kernel_manager(), timeout=CELL_TIMEOUT_SECONDS)
    client.execute(env=runner.kernel_environment())
    shown = notebook.cells[0].outputs
    pictures = [output["data"]["image/png"] for output in shown if "image/png" in output.get("data", {})]
    assert len(pictures) == 1, shown


def _stored(name: str) -> Any:
    (path,) = [path for path in NOTEBOOKS if path.name.startswith(name)]
    return json.loads(path.read_text(encoding="utf-8"))


def _cell_with(notebook: Any, fragment: str) -> Any:
    matches = [cell for cell in _code_cells(notebook) if fragment in _text(cell["source"])]
    assert len(matches) == 1, f"expected one code cell containing {fragment!r}, found {len(matches)}"
    return matches[0]


def test_the_first_notebook_builds_a_value_with_closures_and_checks_it_against_micrograd() -> None:
    notebook = _stored("00_")
    code = "\n".join(_text(cell["source"]) for cell in _code_cells(notebook))
    # The learner's own class, its backward steps as closures, and the comparison that fails the run
    # (test_notebook_runs_...) if any number differs from micrograd.Value's.
    assert "class Value" in code and "def _backward():" in code and "out._backward = _backward" in code
    for operation in ("__add__", "__mul__", "tanh", "exp", "__pow__", "def backward(self)"):
        assert operation in code, operation
    assert "micrograd.Value" in code and "assert ours == library" in code


def test_the_reuse_bug_is_drawn_after_its_backward_step_with_the_wrong_grad() -> None:
    buggy_step = _cell_with(_stored("05_"), "the bug: = instead of +=")
    pictures = [_text(output["data"]["image/svg+xml"]) for output in buggy_step["outputs"]
                if "image/svg+xml" in output.get("data", {})]
    assert len(pictures) == 1, "the a + a graph is not drawn after the buggy backward step"
    # a = 3, b = a + a: the buggy step leaves a.grad at 1 (the right value is 2), b.grad at 1.
    boxes = re.findall(r"grad (-?\d+\.\d+)", pictures[0])
    assert sorted(float(number) for number in boxes) == [1.0, 1.0], boxes


def test_the_forgotten_zero_grad_is_run_next_to_the_right_loop() -> None:
    notebook = _stored("06_")
    runs = _cell_with(notebook, "forgot, forgot_losses, forgot_steps = train(30, zero_grad=False)")
    assert "zero_grad=True" in _text(runs["source"]), "the right loop is not run beside the forgotten one"
    assert _shown_pictures(runs) == ["image/png"], "the two runs' curves are not drawn"
    printed = "".join(text for name, text in _shown_text(runs) if name == "stdout")
    assert "with zero_grad" in printed and "without" in printed
    # And the network is the lecture's, initialised as the lecture does.
    assert 'init="lecture"' in _text(_cell_with(notebook, "learning_rate = 0.1")["source"])


def test_notebook_7_names_and_colours_the_classes_as_every_other_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the notebook's first cell (the data and its scatter plot) here, and read the legend."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from micrograd.outputs import class_colour, class_name

    monkeypatch.setattr(plt, "show", lambda: None)
    namespace: dict[str, Any] = {}
    exec(_text(_code_cells(_stored("07_"))[0]["source"]), namespace)  # noqa: S102 (our own notebook)
    figure = plt.gcf()
    legend = figure.axes[0].get_legend()
    names = [text.get_text() for text in legend.get_texts()]
    assert [name.split(" (")[0] for name in names] == [class_name(0), class_name(1)], names
    colours = [matplotlib.colors.to_hex(handle.get_facecolor()[0]) for handle in legend.legend_handles]
    assert colours == [class_colour(0), class_colour(1)]
    # The points with target -1 (make_moons' label 0) are class 0's.
    class_0 = figure.axes[0].collections[0].get_offsets().tolist()
    points = zip(namespace["X"], namespace["labels"], strict=True)
    assert class_0 == [list(point) for point, label in points if label == 0]
    plt.close(figure)
