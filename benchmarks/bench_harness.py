"""The plumbing of benchmarks/bench.py: where things are, the environment of a measured process,
starting and timing processes, and the data every process is handed.

Both packages import as ``micrograd``, so the original is installed into its own folder and each
measured process gets a PYTHONPATH that points at one of the two; every process reports the
``micrograd`` it imported and the harness checks it. Every measured process is single-threaded.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench_microgpt import Comparison

ROOT = Path(__file__).resolve().parent.parent
OURS = ROOT / "src"
ORIGINAL = ROOT / ".cache" / "original-micrograd-0.1.0"
SCRATCH = ROOT / ".cache" / "bench"
WORKER_SCRIPT = Path(__file__).resolve().parent / "bench_workloads.py"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Row:
    """One row of the tables: a program run once per round in a fresh process, and what it reported."""

    label: str
    worker: str  # a workload of bench_workloads.WORKERS, or "microgpt" / "gpt" for a whole program
    path: Path  # the micrograd put on PYTHONPATH (a workload) or the script (microgpt)
    options: dict[str, Any]
    baseline: str = ""  # the label of the row its ratio is taken against
    times: list[float] = field(default_factory=list)  # per round: the process's median step time
    runs: list[dict[str, Any]] = field(default_factory=list)  # per round: all it reported
    feeds: list[tuple[Comparison, str]] = field(default_factory=list)  # (comparison, "theirs" or "ours")


# ----------------------------------------------------------------------
# The workloads of bench_workloads.py, one fresh process each
# ----------------------------------------------------------------------


def run_worker(name: str, pythonpath: Path, data: Path, **options: Any) -> dict[str, Any]:
    """Run one workload of bench_workloads.WORKERS in a fresh process importing the micrograd under ``pythonpath``.

    Returns the JSON the worker printed; RuntimeError when it failed or imported another micrograd.
    """
    result = subprocess.run(
        [sys.executable, str(WORKER_SCRIPT), name, str(data), json.dumps(options)],
        env=dict(os.environ, PYTHONPATH=str(pythonpath), **ONE_THREAD),
        capture_output=True,
        text=True,
        cwd=str(SCRATCH),  # not the repository root: nothing there may shadow the micrograd under test
    )
    if result.returncode != 0:
        raise RuntimeError(f"{name} {options} exited with status {result.returncode}: {last_line(result.stderr)}")
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    expected = pythonpath.resolve()
    if Path(out["micrograd"]).resolve().parent != expected:
        raise RuntimeError(f"{name}: imported micrograd from {out['micrograd']}, expected it under {expected}")
    return out


def has_module(name: str) -> bool:
    """Whether a fresh process of this interpreter can import ``name`` (numpy, torch: optional)."""
    result = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True)
    return result.returncode == 0


def ensure_original() -> Path:
    """The folder holding the original micrograd 0.1.0, installed with pip on first use (never into the venv)."""
    if not (ORIGINAL / "micrograd" / "engine.py").exists():
        print(f"installing micrograd==0.1.0 into {ORIGINAL} ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(ORIGINAL), "micrograd==0.1.0"],
            check=True,
        )
    return ORIGINAL


def make_data() -> Path:
    """The moons and the demo's initial weights, as plain floats in a JSON file every W* process reads."""
    # Imported here, in the parent process only: the workers may have the original micrograd on their path.
    from micrograd.app.data import make_moons

    X, labels = make_moons(n_samples=100, noise=0.1, seed=3)
    y = [2 * label - 1 for label in labels]  # the demo's hinge loss wants -1/+1
    random.seed(1337)  # the demo's initialisation: per neuron, nin uniform(-1, 1) weights then a zero bias
    init = []
    for nin, nout in ((2, 16), (16, 16), (16, 1)):
        for _ in range(nout):
            init += [random.uniform(-1, 1) for _ in range(nin)] + [0.0]
    SCRATCH.mkdir(parents=True, exist_ok=True)
    path = SCRATCH / "data.json"
    path.write_text(json.dumps({"X": X, "y": y, "init": init}))
    return path



# ----------------------------------------------------------------------
# Whole programs (microgpt.py, `micrograd gpt train`), timed from outside
# ----------------------------------------------------------------------


def program_env(**settings: str) -> dict[str, str]:
    """The environment of a whole-program run: ours on PYTHONPATH, one thread, no stray microgpt knobs."""
    dropped = ("N_EMBD", "N_HEAD", "N_LAYER", "BLOCK_SIZE", "PYTHONDONTWRITEBYTECODE")  # see precompile_ours
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        PYTHONPATH=str(OURS),  # the same environment for every program; only ours import micrograd
        PYTHONUNBUFFERED="1",  # step lines arrive as printed, so their arrival times the training loop
        **ONE_THREAD,
    )
    env.update(settings)
    return env


def precompile_ours() -> None:
    """Write the bytecode of src/micrograd once, before any program is timed, as ``pip install`` does.

    An installed package has its .pyc files (so do the standard library and numpy here); a
    process that had to compile the package's sources at every start (PYTHONDONTWRITEBYTECODE
    in the environment, no __pycache__ yet) would charge ours a few tenths of a second that no
    user pays. The files go to the usual __pycache__ folders, which git ignores.
    """
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(OURS / "micrograd")],
        env=program_env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run_timed(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run one whole process and time it from outside, as its user would.

    Returns its exit ``code``, ``lines`` of stdout, ``stderr``, ``wall`` (clock around the
    process), ``cpu`` (its user + system time, from ``getrusage(RUSAGE_CHILDREN)``) and
    ``step_clock``: when each stdout line starting with ``step `` arrived.
    """
    import resource

    lines, step_clock = [], []
    with tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=err, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("step "):
                step_clock.append(time.perf_counter())
            lines.append(line)
        code = process.wait()
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"code": code, "lines": lines, "stderr": stderr, "wall": wall, "cpu": cpu, "step_clock": step_clock}


def last_line(stderr: str) -> str:
    """The line of a failed process's stderr that says why (the last one), for a one-line report."""
    return stderr.strip().splitlines()[-1] if stderr.strip() else "(no stderr)"


def imported_micrograd() -> Path | None:
    """The package folder that ``python -m micrograd`` imports in the programs' environment."""
    result = subprocess.run(
        [sys.executable, "-c", "import micrograd; print(micrograd.__file__)"],
        env=program_env(),
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not result.stdout.strip():
        return None
    return Path(result.stdout.strip().splitlines()[-1]).resolve().parent

