"""Execute the notebooks in place, so that they are stored with their outputs and pictures.

    python examples/notebooks/execute.py              # every notebook in this folder
    python examples/notebooks/execute.py 06_training_an_mlp.ipynb

GitHub shows a notebook as it is stored: stored without outputs, a learner sees no
pictures until they run it. So the notebooks are committed executed, and this script is
how they are executed. Run it after editing a notebook (tests/test_notebooks.py fails
when a notebook's stored text outputs differ from what running it prints).

Re-running it on unchanged notebooks and an unchanged micrograd gives no diff:

- every notebook seeds its own randomness and prints no timings or memory addresses;
- the kernel runs with a fixed PYTHONHASHSEED, so the order of sets of strings is fixed;
- a cell's prints are stored as one output (the kernel sends them in pieces that depend on
  timing);
- nbclient's per-cell timings are not recorded, and the notebook's metadata is put back
  as it was (nbclient would add the kernel's Python version);
- the file is written with nbformat's layout (sorted keys, one-space indent) and atomically.

Pictures are bytes from matplotlib and the Graphviz renderer: another version of those may
draw them slightly differently, which is why the test compares only the text outputs.

The kernel is always this interpreter (ipykernel's built-in spec, whatever kernels are
registered), importing the micrograd that this interpreter imports.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

import micrograd
from micrograd._files import atomic_write

NOTEBOOK_DIR = Path(__file__).resolve().parent
CELL_TIMEOUT_SECONDS = 600  # a hang guard for one cell; the slowest takes a few seconds


def kernel_manager() -> Any:
    """A kernel manager for ipykernel's built-in spec: this interpreter, whatever kernels are registered."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    only_builtin = KernelSpecManager(kernel_dirs=[])
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=only_builtin)


def kernel_environment() -> dict[str, str]:
    env = dict(os.environ)
    # The kernel must import the micrograd this process imports, even one found through PYTHONPATH.
    package_parent = str(Path(micrograd.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    # An MPLBACKEND such as Agg (common in CI) would stop ipykernel from choosing its inline
    # backend, and matplotlib pictures would never reach the notebook.
    env.pop("MPLBACKEND", None)
    env["PYTHONHASHSEED"] = "0"  # set iteration order of strings, the same on every run
    return env


def execute(path: Path, timeout: int = CELL_TIMEOUT_SECONDS) -> Any:
    """The notebook at ``path`` run top to bottom in a fresh kernel (the file is not touched).

    Raises nbclient's CellExecutionError at the first cell that fails (an assert cell, say).
    """
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    metadata = copy.deepcopy(notebook.metadata)
    client = nbclient.NotebookClient(
        notebook,
        km=kernel_manager(),
        timeout=timeout,
        allow_errors=False,
        record_timing=False,  # timestamps in every cell's metadata would change on every run
        resources={"metadata": {"path": str(path.resolve().parent)}},  # the kernel's working directory
    )
    client.execute(env=kernel_environment())
    notebook.metadata = metadata  # nbclient adds the kernel's language_info (the Python version)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    return notebook


def merge_streams(outputs: list[Any]) -> list[Any]:
    """``outputs`` with each run of consecutive stdout (or stderr) pieces joined into one output.

    How a cell's prints arrive in pieces depends on when the kernel flushed its buffer, which
    depends on timing: joined, the same prints are the same output on every run.
    """
    merged: list[Any] = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            previous["text"] += output["text"]
        else:
            merged.append(output)
    return merged


def write(notebook: Any, path: Path) -> None:
    import nbformat

    text = nbformat.writes(notebook)
    atomic_write(path, text if text.endswith("\n") else text + "\n")


def main(argv: list[str]) -> int:
    names = argv or sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb"))
    for name in names:
        path = Path(name) if Path(name).exists() else NOTEBOOK_DIR / name
        if not path.is_file():
            print(f"execute.py: error: no notebook {name}", file=sys.stderr)
            return 2
        print(f"executing {path.name}", flush=True)
        write(execute(path), path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
