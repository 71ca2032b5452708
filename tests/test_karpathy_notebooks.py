"""Karpathy's own notebooks (karpathy/micrograd's demo.ipynb and trace_graph.ipynb) run unchanged on this micrograd.

They are read from ``../shared/reference/karpathy-micrograd/`` beside the repository (MIT; not ours, so
never copied into the project) and skipped with the reason where that folder is absent. They need
``graphviz`` and ``scikit-learn`` (both in the ``test`` extra). trace_graph.ipynb runs the ``graphviz``
package, which runs a program called ``dot``: the one micrograd installs stands in for Graphviz.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import micrograd
from conftest import ROOT
from micrograd.viz.dot_command import is_stand_in

# KARPATHY_MICROGRAD names another folder holding them (a git worktree's parent is not the clone's).
KARPATHY = Path(os.environ.get("KARPATHY_MICROGRAD", ROOT.parent / "shared" / "reference" / "karpathy-micrograd"))
CELL_TIMEOUT_SECONDS = 600  # a hang guard only: demo.ipynb's training cell takes seconds to a minute


def _notebook_path(name: str) -> Path:
    path = KARPATHY / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: Karpathy's notebooks are read from there, never copied into the project")
    return path


def _bin_with_dot(tmp_path: Path) -> Path:
    """The folder an activated venv puts first on the PATH, holding micrograd's ``dot``.

    That is the interpreter's own scripts folder when micrograd was installed with the ``dot``
    console script. An install made before the script existed (an editable install is not
    refreshed) lacks it: then a wrapper like the one pip writes is made in a tmp folder.
    """
    scripts = Path(sys.executable).parent
    installed = scripts / "dot"
    if installed.is_file() and is_stand_in(installed):
        return scripts
    folder = tmp_path / "bin"
    folder.mkdir()
    wrapper = folder / "dot"
    wrapper.write_text(
        f"#!{sys.executable}\nimport sys\nfrom micrograd.viz.dot_command import main\nsys.exit(main())\n",
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return folder


def _run(path: Path, tmp_path: Path) -> Any:
    nbclient = pytest.importorskip("nbclient")
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    if os.name == "nt":
        pytest.skip("the dot wrapper made here is a POSIX script")
    for module in ("graphviz", "sklearn", "numpy", "matplotlib"):
        pytest.importorskip(module, reason=f"Karpathy's notebooks need {module}: pip install -e '.[test]'")
    env = dict(os.environ)
    package_parent = str(Path(micrograd.__file__).resolve().parent.parent)  # the micrograd under test
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    # As an activated venv: its bin first (with micrograd's dot), then the rest of the PATH.
    folders = [str(_bin_with_dot(tmp_path)), str(Path(sys.executable).parent), env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(dict.fromkeys(f for f in folders if f))
    env.pop("MPLBACKEND", None)  # let %matplotlib inline choose its backend
    work = tmp_path / "work"  # trace_graph's dot.render('gout') writes gout and gout.svg here
    work.mkdir()
    notebook = nbformat.read(path, as_version=4)  # read only: the file is never written
    client = nbclient.NotebookClient(
        notebook,
        km=AsyncKernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[])),
        timeout=CELL_TIMEOUT_SECONDS,
        allow_errors=False,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute(env=env)
    return notebook


def _texts(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def test_trace_graph_runs_unchanged_and_draws(tmp_path: Path) -> None:
    notebook = _run(_notebook_path("trace_graph.ipynb"), tmp_path)
    pictures = [
        output["data"]["image/svg+xml"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/svg+xml" in output.get("data", {})
    ]
    assert len(pictures) == 2  # draw_dot(y) and the neuron's dot
    # The neuron of Neuron(2) seeded 1337 on x = (1, -2): its output box is in the picture.
    assert "ReLU" in pictures[1] and "grad 1.0000" in pictures[1]
    rendered = tmp_path / "work" / "gout.svg"
    assert rendered.is_file() and "<svg" in rendered.read_text(encoding="utf-8")


def test_demo_runs_unchanged_and_trains_to_karpathys_numbers(tmp_path: Path) -> None:
    path = _notebook_path("demo.ipynb")
    notebook = _run(path, tmp_path)
    # The outputs stored in Karpathy's file are the original micrograd's own run: the truth to match.
    stored = json.loads(path.read_text(encoding="utf-8"))

    def training(cells: list[Any]) -> list[tuple[int, float, str]]:
        lines = [line for cell in cells for line in _texts(cell).splitlines()]
        found = [re.fullmatch(r"step (\d+) loss (\S+), accuracy (\S+)%", line) for line in lines]
        return [(int(m[1]), float(m[2]), m[3]) for m in found if m]

    ours = training([cell for cell in notebook.cells if cell.cell_type == "code"])
    theirs = training([cell for cell in stored["cells"] if cell["cell_type"] == "code"])
    assert len(theirs) == 100
    assert [(step, accuracy) for step, _, accuracy in ours] == [(step, accuracy) for step, _, accuracy in theirs]
    # Not bit for bit: the original keeps a node's children in a set, so the order in which a weight's
    # grad adds up its 100 contributions follows memory addresses: run here three times, the original gave
    # 0.7429006313851133, ...113 and ...113 at step 2 (Karpathy's file: ...131). This micrograd's order is fixed.
    for (step, loss, _), (_, stored_loss, _) in zip(ours, theirs, strict=True):
        assert loss == pytest.approx(stored_loss, rel=1e-12, abs=0.0), f"step {step}"
