"""The notebook path in examples/notebooks: every notebook runs top to bottom and shows its pictures.

Each notebook is executed in a fresh Jupyter kernel with nbclient. Its
``assert`` cells check the key numbers (the nudged derivative equals the
backward one, the seed's tanh neuron, training reaches its target), so any
failure there fails the test, as does any other error.

Which Python runs the kernel: always the interpreter running pytest. The
kernel spec manager below is given no kernel folders, so a ``python3`` kernel
registered by the user or the system (possibly another Python, without
micrograd) is never used; ``python3`` then falls back to ipykernel's built-in
spec, which launches ``sys.executable -m ipykernel_launcher``. Nothing needs
to be registered with ``jupyter kernelspec install``: a fresh clone after
``pip install -e '.[dev]'`` works as it is.

Skipped only when nbclient is not installed (ipykernel missing alongside it is a failure).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import micrograd

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "examples" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

CELL_TIMEOUT_SECONDS = 120  # one cell; the slowest (the moons training) takes a few seconds
PICTURE_TYPES = ("image/svg+xml", "image/png")


def test_the_notebook_path_is_there() -> None:
    names = [path.name for path in NOTEBOOKS]
    assert len(names) >= 7, f"expected the seven notebooks of the learning path in {NOTEBOOK_DIR}, found {names}"
    assert names == sorted(names) and all(name[:2].isdigit() for name in names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    """CI runs them, so the files hold only the source: no outputs, no execution counts."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    for number, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name} cell {number} has stored outputs"
            assert cell["execution_count"] is None, f"{path.name} cell {number} has an execution count"


def _kernel_manager() -> object:
    """A kernel manager for ipykernel's built-in spec: this interpreter, whatever kernels are registered."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    only_builtin = KernelSpecManager(kernel_dirs=[])
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=only_builtin)


def _kernel_environment() -> dict[str, str]:
    env = dict(os.environ)
    # The kernel must import the micrograd under test, even when pytest found it through PYTHONPATH.
    package_parent = str(Path(micrograd.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    # An MPLBACKEND such as Agg (common in CI) would stop ipykernel from choosing its inline
    # backend, and matplotlib pictures would never reach the notebook.
    env.pop("MPLBACKEND", None)
    return env


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_and_shows_its_pictures(path: Path) -> None:
    nbclient = pytest.importorskip("nbclient")
    import nbformat  # a dependency of nbclient

    try:
        import ipykernel  # noqa: F401  (the kernel nbclient starts)
    except ImportError:
        pytest.fail("nbclient is installed but ipykernel is not: pip install ipykernel (or '.[dev]')")

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        km=_kernel_manager(),
        timeout=CELL_TIMEOUT_SECONDS,
        allow_errors=False,  # the first failing cell (an assert cell, say) raises CellExecutionError
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},  # the kernel's working directory
    )
    client.execute(env=_kernel_environment())

    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    shown = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    pictures = {kind for output in shown for kind in output.get("data", {}) if kind in PICTURE_TYPES}
    # Without a picture, draw_dot shows a text with the reason (e.g. no renderer): put it in the message.
    texts = [output["data"]["text/plain"] for output in shown if "text/plain" in output.get("data", {})]
    reason = next((text for text in texts if "no picture" in text), "")

    assert pictures, f"{path.name} showed no picture {reason}"
    if "draw_dot(" in code:
        assert "image/svg+xml" in pictures, f"{path.name} drew no expression graph {reason}"
    if "plt." in code:
        assert "image/png" in pictures, f"{path.name} showed no matplotlib figure"


def test_a_figure_made_without_pyplot_shows_as_a_picture() -> None:
    """micrograd.plots never imports pyplot; its Figures must still display inline in a fresh kernel."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    source = (
        "from micrograd.plots import curves_figure\n"
        "curves_figure([{'step': 0.0, 'loss': 1.0, 'accuracy': 0.5}, {'step': 1.0, 'loss': 0.5, 'accuracy': 0.9}])"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    client = nbclient.NotebookClient(notebook, km=_kernel_manager(), timeout=CELL_TIMEOUT_SECONDS)
    client.execute(env=_kernel_environment())
    shown = notebook.cells[0].outputs
    pictures = [output["data"]["image/png"] for output in shown if "image/png" in output.get("data", {})]
    assert len(pictures) == 1, shown
