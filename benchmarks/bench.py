"""Speed and memory of this micrograd against the original micrograd 0.1.0 (and PyTorch, for reference).

    python benchmarks/bench.py              # the full run (a few minutes)
    python benchmarks/bench.py --quick      # a smoke run: fewer rounds and steps, smaller graphs
    python benchmarks/bench.py --rounds 7 --markdown results.md
    python benchmarks/bench.py --only microgpt --rounds 3   # one workload (see WORKLOADS)
    python benchmarks/bench.py --only gpt-eager,gpt-compiled --rounds 3 --gpt-steps 30
    python benchmarks/bench.py --only gpt-full              # the 1,000-step default runs (about ten minutes)

Both packages import as ``micrograd``, so the original is installed into its own
folder (``.cache/original-micrograd-0.1.0``) and each engine runs in a fresh
process whose PYTHONPATH points at one of them. Every process gets the same
data (generated here once, passed as a JSON file of plain floats) and runs the
same code. Processes alternate A B A B ... over the rounds (the order flips
every round), and each round gives one ratio, because on a shared machine
only ratios measured side by side mean anything; the report gives the median
time of each engine and the min-max range of the ratios over the rounds.

Workloads
  W1  one step of the original moons demo: MLP(2, [16, 16, 1]) on 100 points,
      mean hinge loss + 1e-4 * sum(p*p), zero_grad, backward, SGD with
      lr = 1.0 - 0.9*k/100. (The demo's accuracy line is left out: it is
      reporting, not training, and the compiled path has no scores to count.)
  W2  build and backward of a ~100k-node graph mixing +, *, **2 and relu.
  W3  a chain of 1,000,000 additions, forward and backward, at the default
      recursion limit; the gradient must be exact.
  mem tracemalloc peak per node while building and differentiating W2; RSS
      over many W1 steps (flat = no leak).
  microgpt  Karpathy's microgpt.py (not ours: read from --microgpt PATH at run
      time, never copied here) as two whole processes: as it is, and with its
      class Value cut out and `from micrograd import Value` in its place (written
      to a temporary folder outside the repository). Same SEED, NUM_STEPS and
      data; every step's loss must agree to 1e-9 and the sampled names exactly,
      else the row fails and the script exits 1. Timed from outside: wall and
      CPU time of the whole process, what a user of the script sees.
  gpt-eager, gpt-compiled  `micrograd gpt train --engine eager|compiled --steps N
      --seed 42 --data FILE --quiet --out TMP` (python -m micrograd, a fresh
      temporary folder each time) against the unmodified microgpt.py with
      NUM_STEPS=N, SEED=42 and INPUT=FILE, alternating whole processes (N 30; 5
      with --quick; --gpt-steps N). Parity first: every step's loss, read from
      the checkpoint's extra.history at full precision, must equal microgpt's
      printed loss to 1e-9 relative and the 20 sampled names must be the same,
      else the row fails and the script exits 1. Reported: whole-process wall
      time / N, the wall and CPU ratios (median and range over the rounds)
      against the targets, 10x (eager) and 50x (compiled). When microgpt and
      these rows run with the same N, one microgpt.py process per round serves
      them all.
  gpt-memory  RSS every 100 steps of a 1,000-step GPT training run through the
      Python API (gpt.Training, the shipped names, seed 42), eager and compiled.
  gpt-full  (only by name) one round of the full default run: microgpt.py's
      1,000 steps against `micrograd gpt train` with no --steps, --seed or
      --quiet, per engine; total wall and CPU time, parity as above.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OURS = ROOT / "src"
ORIGINAL = ROOT / ".cache" / "original-micrograd-0.1.0"
SCRATCH = ROOT / ".cache" / "bench"


# ----------------------------------------------------------------------
# The workloads, as run inside a fresh child process
# ----------------------------------------------------------------------


def _load(path: str) -> dict[str, Any]:
    with open(path) as f:
        data: dict[str, Any] = json.load(f)
    return data


def _demo_model(data: dict[str, Any]) -> Any:
    from micrograd.nn import MLP

    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    for p, value in zip(model.parameters(), data["init"], strict=False):
        p.data = value  # the same starting point in every engine, whatever its initialisation code
    return model


def _timed_steps(step: Callable[[int], float], steps: int) -> tuple[list[float], list[float]]:
    times, losses = [], []
    for k in range(steps):
        start = time.perf_counter()
        losses.append(step(k))
        times.append(time.perf_counter() - start)
    return times, losses


def work_w1_eager(data: dict[str, Any], steps: int, gc_enabled: bool) -> dict[str, Any]:
    """The demo's training step, as the demo notebook writes it."""
    import gc

    from micrograd.engine import Value

    if not gc_enabled:
        gc.disable()
    X, y = data["X"], data["y"]
    model = _demo_model(data)
    alpha = 1e-4

    def step(k: int) -> float:
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores, strict=False)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * (k % 100) / 100  # the demo's 100-step schedule, repeated
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        return float(total_loss.data)

    times, losses = _timed_steps(step, steps)
    nodes = 0
    if hasattr(Value, "__slots__"):  # ours: count the graph of one more step (the original's count is the same)
        inputs = [list(map(Value, xrow)) for xrow in X]
        losses_ = [(1 + -yi * model(x)).relu() for yi, x in zip(y, inputs, strict=False)]
        total = sum(losses_) * (1.0 / len(losses_)) + alpha * sum(p * p for p in model.parameters())
        nodes = _count_nodes(total)
    return {"times": times, "losses": losses, "nodes": nodes}


def work_w1_compiled(data: dict[str, Any], steps: int, engine: str) -> dict[str, Any]:
    """The same step through micrograd.compiled; also the compile cost next to one eager step."""
    if engine == "numpy":
        import numpy  # noqa: F401  (its import, ~0.1 s once per process, is not part of compiling)
    from micrograd.compiled import compile_loss

    X, y = data["X"], data["y"]
    model = _demo_model(data)
    params = model.parameters()
    start = time.perf_counter()
    compiled = compile_loss(
        lambda x, t: (1 + -t * model(x)).relu(),
        model,
        n_inputs=2,
        engine=engine,  # type: ignore[arg-type]
        regularizer=lambda ps: 1e-4 * sum(p * p for p in ps),
    )
    compiled.record(X, y)  # what the first call does: record two examples, generate and compile the code
    compile_seconds = time.perf_counter() - start
    if engine == "numpy":
        import numpy as np

        X, y = np.array(X, dtype=float), np.array(y, dtype=float)

    def step(k: int) -> float:
        model.zero_grad()
        loss = compiled.loss_and_backward(X, y)
        learning_rate = 1.0 - 0.9 * (k % 100) / 100  # the demo's 100-step schedule, repeated
        for p in params:
            p.data -= learning_rate * p.grad
        return loss

    times, losses = _timed_steps(step, steps)
    eager_step = statistics.median(work_w1_eager(data, 3, gc_enabled=True)["times"])
    return {"times": times, "losses": losses, "compile": compile_seconds, "eager_step": eager_step}


def work_w1_torch(data: dict[str, Any], steps: int, batched: bool) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    dt = torch.float64
    X, y = data["X"], data["y"]
    shapes = [(2, 16), (16, 16), (16, 1)]
    init = iter(data["init"])
    layers = []  # per layer: weights (nout, nin) and biases (nout), copied from the same init
    for nin, nout in shapes:
        rows = [[next(init) for _ in range(nin)] + [next(init)] for _ in range(nout)]
        layers.append((torch.tensor([r[:-1] for r in rows], dtype=dt), torch.tensor([r[-1] for r in rows], dtype=dt)))
    alpha = 1e-4
    if batched:
        params = [t.clone().requires_grad_() for layer in layers for t in layer]
        Xt, yt = torch.tensor(X, dtype=dt), torch.tensor(y, dtype=dt)

        def step(k: int) -> float:
            h = Xt
            for i in range(3):
                h = h @ params[2 * i].T + params[2 * i + 1]
                h = torch.relu(h) if i < 2 else h
            data_loss = torch.relu(1 - yt * h[:, 0]).mean()
            total = data_loss + alpha * sum((p * p).sum() for p in params)
            for p in params:
                p.grad = None
            total.backward()
            with torch.no_grad():
                for p in params:
                    p -= (1.0 - 0.9 * (k % 100) / 100) * p.grad
            return float(total)

    else:  # one 0-d tensor per scalar, exactly the micrograd way
        neurons = []
        for W, b in layers:
            for i in range(W.shape[0]):
                w = [torch.tensor(float(v), dtype=dt, requires_grad=True) for v in W[i]]
                neurons.append((w, torch.tensor(float(b[i]), dtype=dt, requires_grad=True)))
        sizes = [16, 16, 1]
        scalar_params = [p for w, b in neurons for p in (*w, b)]

        def model(x: list[Any]) -> Any:
            start = 0
            for layer, size in enumerate(sizes):
                outs = []
                for w, b in neurons[start : start + size]:
                    act = sum((wi * xi for wi, xi in zip(w, x, strict=False)), b)
                    outs.append(torch.relu(act) if layer < 2 else act)
                x, start = outs, start + size
            return x[0]

        def step(k: int) -> float:
            inputs = [[torch.tensor(v, dtype=dt) for v in row] for row in X]
            scores = list(map(model, inputs))
            losses = [torch.relu(1 + -yi * s) for yi, s in zip(y, scores, strict=False)]
            total = sum(losses) * (1.0 / len(losses)) + alpha * sum(p * p for p in scalar_params)
            for p in scalar_params:
                p.grad = None
            total.backward()
            with torch.no_grad():
                for p in scalar_params:
                    p -= (1.0 - 0.9 * (k % 100) / 100) * p.grad
            return float(total)

    times, losses = _timed_steps(step, steps)
    return {"times": times, "losses": losses}


def mixed_program(n_nodes: int, seed: int) -> tuple[list[float], list[tuple[int, int, int, int]], list[int]]:
    """A recipe for a graph of about n_nodes nodes mixing +, *, **2 and relu (made before timing starts).

    Returns leaf values, steps (op, a, b, leaf) over earlier positions, and the positions
    nothing reads (summed at the end, so that every node is reachable from the output).
    """
    rng = random.Random(seed)
    leaves = [rng.uniform(-1, 1) for _ in range(1000)]
    nodes_per_op = (1, 1, 2, 2, 5)  # a*b; a+leaf; relu(a+b); a**2+leaf; (a-b)*0.5 with its two constants
    steps: list[tuple[int, int, int, int]] = []
    read: set[int] = set()
    made = 0
    while made < n_nodes:
        size = len(leaves) + len(steps)
        r = rng.random()
        op = 0 if r < 0.3 else 1 if r < 0.55 else 2 if r < 0.7 else 3 if r < 0.85 else 4
        a, b = rng.randrange(size), rng.randrange(size)
        steps.append((op, a, b, rng.randrange(len(leaves))))
        read.update((a, b) if op in (0, 2, 4) else (a,))
        made += nodes_per_op[op]
    unread = [i for i in range(len(leaves), len(leaves) + len(steps)) if i not in read]
    return leaves, steps, unread


def build_mixed_graph(leaves_data: list[float], steps: list[tuple[int, int, int, int]], unread: list[int]) -> Any:
    """Build the recipe's graph with the micrograd on the path: the part that is timed."""
    from micrograd.engine import Value

    leaves = [Value(x) for x in leaves_data]
    nodes = list(leaves)
    for op, i, j, k in steps:
        a, b = nodes[i], nodes[j]
        if op == 0:
            nodes.append(a * b)
        elif op == 1:
            nodes.append(a + leaves[k])  # keeps magnitudes near 1 (no slow subnormal numbers)
        elif op == 2:
            nodes.append((a + b).relu())
        elif op == 3:
            nodes.append(a**2 + leaves[k])
        else:
            nodes.append((a - b) * 0.5)
    level = [nodes[i] for i in unread]
    while len(level) > 1:  # a balanced sum: shallow, so the original's recursive sort copes
        level = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)] + ([level[-1]] if len(level) % 2 else [])
    return level[0], leaves


def _count_nodes(root: Any) -> int:
    seen, stack = {id(root)}, [root]
    while stack:
        for child in stack.pop()._prev:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


def work_w2(data: dict[str, Any], repeats: int, n_nodes: int) -> dict[str, Any]:
    recipe = mixed_program(n_nodes, seed=11)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out, leaves = build_mixed_graph(*recipe)
        out.backward()
        del out  # freeing the graph is part of the work (the original leaves it to the cyclic GC)
        times.append(time.perf_counter() - start)
        checksum = sum(float(v.grad) for v in leaves)
    out, _ = build_mixed_graph(*recipe)
    return {"times": times, "nodes": _count_nodes(out), "checksum": checksum}


def work_w3(data: dict[str, Any], depth: int) -> dict[str, Any]:
    """y = x + x + ... + x (depth additions): dy/dx = depth + 1, exactly, in floats."""
    from micrograd.engine import Value

    limit = sys.getrecursionlimit()
    x = Value(1.0)
    start = time.perf_counter()
    try:
        y = x
        for _ in range(depth):
            y = y + x
        y.backward()
    except RecursionError:
        return {"ok": False, "depth": depth, "error": "RecursionError", "recursion_limit": limit}
    seconds = time.perf_counter() - start
    exact = x.grad == depth + 1 and y.data == depth + 1
    return {"ok": bool(exact), "depth": depth, "seconds": seconds, "grad": float(x.grad), "recursion_limit": limit}


def work_memory(data: dict[str, Any], n_nodes: int, steps: int, engine: str) -> dict[str, Any]:
    """Peak traced bytes per node of W2, and RSS over W1 steps sampled every steps/10."""
    import gc
    import tracemalloc

    recipe = mixed_program(n_nodes, seed=11)
    tracemalloc.start()
    out, _ = build_mixed_graph(*recipe)
    out.backward()
    nodes = _count_nodes(out)
    _, peak = tracemalloc.get_traced_memory()
    del out, _
    tracemalloc.stop()
    gc.collect()
    samples = []
    every = max(1, steps // 10)
    if engine == "eager":
        step = _eager_step_function(data)
    else:
        step = _compiled_step_function(data, engine)
    for k in range(steps):
        step(k)
        if (k + 1) % every == 0:
            samples.append((k + 1, _rss_bytes()))
    return {"peak_per_node": peak / nodes, "nodes": nodes, "rss": samples}


def work_gpt_memory(data: dict[str, Any], steps: int, every: int, engine: str) -> dict[str, Any]:
    """RSS every ``every`` steps of a GPT training run through the Python API (the shipped names, seed 42).

    The run's history keeps one {"step", "loss"} per step by design (a few hundred bytes each).
    """
    from micrograd import gpt
    from micrograd.datasets import names_path

    docs = gpt.read_documents(names_path())
    options = {} if engine == "eager" else {"engine": engine}
    training = gpt.Training.start(docs, steps, seed=data["seed"], **options)
    samples = []
    for step, _ in training.run():
        if step % every == 0:
            samples.append((step, _rss_bytes()))
    return {"rss": samples, "last_loss": training.history[-1]["loss"]}


def _eager_step_function(data: dict[str, Any]) -> Callable[[int], float]:
    from micrograd.engine import Value

    X, y = data["X"], data["y"]
    model = _demo_model(data)

    def step(k: int) -> float:
        scores = [model(list(map(Value, row))) for row in X]
        losses = [(1 + -yi * s).relu() for yi, s in zip(y, scores, strict=False)]
        total = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * (k % 100) / 100) * p.grad
        return float(total.data)

    return step


def _compiled_step_function(data: dict[str, Any], engine: str) -> Callable[[int], float]:
    from micrograd.compiled import compile_loss

    X, y = data["X"], data["y"]
    model = _demo_model(data)
    compiled = compile_loss(
        lambda x, t: (1 + -t * model(x)).relu(),
        model,
        2,
        engine=engine,
        regularizer=lambda ps: 1e-4 * sum(p * p for p in ps),  # type: ignore[arg-type]
    )

    def step(k: int) -> float:
        model.zero_grad()
        loss = compiled.loss_and_backward(X, y)
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * (k % 100) / 100) * p.grad
        return loss

    return step


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak is the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "w1_eager": work_w1_eager,
    "w1_compiled": work_w1_compiled,
    "w1_torch": work_w1_torch,
    "w2": work_w2,
    "w3": work_w3,
    "memory": work_memory,
    "gpt_memory": work_gpt_memory,
}


def worker_main(argv: list[str]) -> None:
    """Child process: run one workload with the micrograd found on PYTHONPATH, print JSON."""
    name, data_file, options = argv[0], argv[1], json.loads(argv[2])
    result = WORKERS[name](_load(data_file), **options)
    import micrograd

    result["micrograd"] = str(Path(micrograd.__file__).parent)
    print(json.dumps(result))


# ----------------------------------------------------------------------
# microgpt.py: somebody else's whole program, run as it is and with our Value
# ----------------------------------------------------------------------

MICROGPT_THEIRS = "microgpt.py, its own Value, default GC"
MICROGPT_OURS = "microgpt.py, Value swapped for ours, default GC"
MICROGPT_TARGET = ">= 1.5x (aim 2x)"
MICROGPT_SEED = 42
DEFAULT_MICROGPT = ROOT.parent / "shared" / "reference" / "microgpt.py"
DEFAULT_MICROGPT_INPUT = ROOT.parent / "shared" / "data" / "names.txt"
SWAP_MARK = "[bench] Value imported from "  # the swapped script prints this + the file that defines Value
STEP_LINE = re.compile(r"^step\s+(\d+)\s*/\s*\d+\s*\|\s*loss\s+(\S+)\s*$")
SAMPLE_LINE = re.compile(r"^sample\s+\d+:")


def swap_value_class(source: str) -> str:
    """The script's text with its top-level ``class Value`` cut out and ``from micrograd import Value`` in its place.

    The block runs from ``class Value`` (or its first decorator) to the end of its
    body, as Python's parser sees it, so the next top-level statement and every
    other line stay exactly as they were. The inserted lines also print which
    file defines the imported Value, so the harness can check it is this project's.
    """
    tree = ast.parse(source)
    found = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Value"]
    if len(found) != 1:
        raise ValueError(f"expected one top-level 'class Value' in the script, found {len(found)}")
    node = found[0]
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    last = node.end_lineno or node.lineno
    lines = source.split("\n")
    cr = "\r" if lines[0].endswith("\r") else ""  # keep a CRLF script CRLF
    swap = [
        "from micrograd import Value  # put here by benchmarks/bench.py, in place of the script's own Value" + cr,
        f"print({SWAP_MARK!r} + __import__('sys').modules[Value.__module__].__file__)" + cr,
    ]
    return "\n".join(lines[: first - 1] + swap + lines[last:])


def parse_microgpt_output(stdout: str) -> tuple[list[tuple[int, float]], list[str]]:
    """The ``(step, loss)`` of every ``step N / M | loss X`` line, and the ``sample N: name`` lines verbatim."""
    losses, samples = [], []
    for line in stdout.splitlines():
        match = STEP_LINE.match(line)
        if match:
            losses.append((int(match.group(1)), float(match.group(2))))
        elif SAMPLE_LINE.match(line):
            samples.append(line)
    return losses, samples


def microgpt_parity(theirs: str, ours: str, steps: int, rel_tol: float = 1e-9) -> tuple[list[str], float]:
    """Compare two runs' outputs: every step's loss to rel_tol, and the sampled names exactly.

    Returns the problems found (none: the runs agree) and the largest relative
    difference between two losses of the same step.
    """
    (losses_a, samples_a), (losses_b, samples_b) = parse_microgpt_output(theirs), parse_microgpt_output(ours)
    problems = []
    for who, losses in (("theirs", losses_a), ("ours", losses_b)):
        if [step for step, _ in losses] != list(range(1, steps + 1)):
            problems.append(f"{who} printed loss lines for steps {[s for s, _ in losses][:8]}..., expected 1..{steps}")
    worst = 0.0
    for (step, a), (_, b) in zip(losses_a, losses_b, strict=False):  # unequal lengths: reported above
        diff = abs(a - b) / max(abs(a), abs(b)) if a != b else 0.0
        worst = max(worst, diff) if not math.isnan(diff) else math.inf
        if not math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.0):
            problems.append(f"step {step}: loss {a!r} (theirs) vs {b!r} (ours), relative difference {diff:.1e}")
    if not samples_a or not samples_b:
        problems.append(f"sampled names missing: theirs printed {len(samples_a)}, ours {len(samples_b)}")
    elif samples_a != samples_b:
        i = next(
            (i for i, (a, b) in enumerate(zip(samples_a, samples_b, strict=False)) if a != b),
            min(len(samples_a), len(samples_b)),
        )
        a = samples_a[i] if i < len(samples_a) else "(none)"
        b = samples_b[i] if i < len(samples_b) else "(none)"
        problems.append(f"sampled names differ: {a!r} (theirs) vs {b!r} (ours)")
    return problems, worst


def program_env(**settings: str) -> dict[str, str]:
    """The environment of a whole-program run: ours on PYTHONPATH, one thread, no stray microgpt knobs."""
    dropped = ("N_EMBD", "N_HEAD", "N_LAYER", "BLOCK_SIZE", "PYTHONDONTWRITEBYTECODE")  # see precompile_ours
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        PYTHONPATH=str(OURS),  # the same environment for every program; only ours import micrograd
        PYTHONUNBUFFERED="1",  # step lines arrive as printed, so their arrival times the training loop
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
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


def _last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1] if stderr.strip() else "(no stderr)"


def run_microgpt(script: Path, swapped: bool, steps: int, data: Path, seed: int) -> dict[str, Any]:
    """Run one whole microgpt process (default GC, nothing patched); time it from outside.

    ``swapped`` says the script is the one with our Value: it must then report
    a Value defined under this project's src/micrograd.
    """
    env = program_env(INPUT=str(data), NUM_STEPS=str(steps), SEED=str(seed))
    done = run_timed([sys.executable, str(script)], env, script.parent)
    lines, step_clock, wall = done["lines"], done["step_clock"], done["wall"]
    out: dict[str, Any] = {
        "stdout": "".join(lines),
        "wall": wall,
        "cpu": done["cpu"],
        "times": [wall / steps],
        "loop": (step_clock[-1] - step_clock[0]) / (len(step_clock) - 1) if len(step_clock) > 1 else None,
        "error": None,
        "micrograd": None,
    }
    who = "ours" if swapped else "theirs"
    if done["code"] != 0:
        out["error"] = f"{who} ({script.name}) exited with status {done['code']}: {_last_line(done['stderr'])}"
        return out
    marks = [line[len(SWAP_MARK) :].strip() for line in lines if line.startswith(SWAP_MARK)]
    if swapped:
        expected = (OURS / "micrograd").resolve()
        if len(marks) != 1 or not Path(marks[0]).resolve().is_relative_to(expected):
            out["error"] = f"ours imported Value from {marks or 'nowhere'}, expected a file under {expected}"
        else:
            out["micrograd"] = str(Path(marks[0]).resolve().parent)
    elif marks:
        out["error"] = "theirs imported a Value from micrograd: it should run the script's own class"
    return out


def missing_reference(script: Path, data: Path) -> str | None:
    """One line saying why a row that runs microgpt.py is skipped (the script or its data is absent), or None."""
    for what, path in (("script", script), ("data", data)):
        if not path.is_file():
            return f"skipped: microgpt {what} {path} not found (--microgpt PATH / --microgpt-input PATH)"
    return None


def microgpt_setup(script: Path, data: Path) -> tuple[str | None, Path | None]:
    """A reason to skip the row (the script or its data is missing), or the swapped script in a fresh temporary folder.

    The folder is outside the repository: nothing of the script is ever written into it.
    """
    reason = missing_reference(script, data)
    if reason is not None:
        return reason, None
    folder = Path(tempfile.mkdtemp(prefix="micrograd-bench-microgpt-"))
    swapped = folder / "microgpt_with_our_value.py"
    swapped.write_text(swap_value_class(script.read_text()))
    return None, swapped


def microgpt_lines(info: dict[str, Any]) -> list[str]:
    """The microgpt table (or its one-line skip reason, or its failure, loudly) and a note on how it was measured."""

    def ms(x: float) -> str:
        return f"{x * 1e3:.0f} ms"

    head = [
        "| workload | microgpt's own Value | ours | ratio, median | ratio, min-max over rounds | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    if info.get("skip"):
        return head + [f"| {MICROGPT_OURS} | {info['skip']} | | | | {MICROGPT_TARGET} |"]
    if info.get("failure"):
        return head + [
            f"| {MICROGPT_OURS} | **FAILED, no speed reported**: {info['failure']} | | | | {MICROGPT_TARGET} |"
        ]
    theirs, ours, steps = info["theirs"], info["ours"], info["steps"]

    def spread(key: str) -> tuple[float, float, float, float, float]:
        a = [run[key] for run in theirs]
        b = [run[key] for run in ours]
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        return statistics.median(a), statistics.median(b), statistics.median(ratios), min(ratios), max(ratios)

    wall = spread("wall")
    cpu = spread("cpu")
    lines = head + [
        f"| {MICROGPT_OURS} | {ms(wall[0] / steps)} per step | {ms(wall[1] / steps)} per step | {wall[2]:.2f}x | "
        f"{wall[3]:.2f}x - {wall[4]:.2f}x | {MICROGPT_TARGET} |",
        "",
        f"microgpt: NUM_STEPS={steps}, SEED={info['seed']}, INPUT={info['input']}; per step = whole-process wall "
        f"time / NUM_STEPS (interpreter start, the script's setup, {steps} training steps and its 20 sampled names); "
        "ratio = theirs / ours, per round (above 1: ours is faster).",
        f"Whole process: wall {wall[0]:.1f} s (theirs) vs {wall[1]:.1f} s (ours); "
        f"CPU {cpu[0]:.1f} s vs {cpu[1]:.1f} s, ratio {cpu[2]:.2f}x ({cpu[3]:.2f}x - {cpu[4]:.2f}x).",
    ]
    if all(run["loop"] is not None for run in theirs + ours):
        loop = spread("loop")
        lines.append(
            f"Training loop alone (arrival of the first to the last step line): {ms(loop[0])} vs {ms(loop[1])} "
            f"per step, ratio {loop[2]:.2f}x ({loop[3]:.2f}x - {loop[4]:.2f}x)."
        )
    lines.append(
        f"Parity, every round: all {steps} losses equal to 1e-9 relative (largest relative difference "
        f"{info['worst']:.1e}), the {info['samples']} sampled names identical. Ours imported Value from "
        f"{ours[0]['micrograd']}."
    )
    return lines


# ----------------------------------------------------------------------
# micrograd gpt train: the microgpt model and run as our own command, against microgpt.py
# ----------------------------------------------------------------------

GPT_ENGINES = ("eager", "compiled")
GPT_TARGETS = {"eager": 10.0, "compiled": 50.0}  # how many times faster than microgpt.py, whole runs
GPT_DEFAULT_STEPS = 1000  # `micrograd gpt train` without --steps (and microgpt.py without NUM_STEPS)


def gpt_label(engine: str) -> str:
    return f"micrograd gpt train --engine {engine}"


def gpt_train_command(
    engine: str, out: Path, data: Path, steps: int | None = None, seed: int | None = None, quiet: bool = True
) -> list[str]:
    """The command line of one ``micrograd gpt train`` run; no ``steps`` or ``seed``: the command's defaults.

    ``python -m micrograd`` with the running interpreter is what the installed ``micrograd``
    script does (import the package's CLI and call it), on the same Python as microgpt.py.
    """
    command = [sys.executable, "-m", "micrograd", "gpt", "train", "--engine", engine, "--data", str(data)]
    command += ["--out", str(out)]
    if steps is not None:
        command += ["--steps", str(steps)]
    if seed is not None:
        command += ["--seed", str(seed)]
    if quiet:
        command.append("--quiet")
    return command


def gpt_history_lines(history: Any, steps: int) -> list[str]:
    """A checkpoint's ``extra.history`` (``[{"step": k, "loss": x}, ...]``) as microgpt.py's step lines.

    The loss is written with ``repr``, every digit of the float that was saved, so that
    parse_microgpt_output reads back exactly that number. An entry of another shape gives no
    line, and the parity check then reports its step as missing.
    """
    lines: list[str] = []
    if not isinstance(history, list):
        return lines
    for entry in history:
        if not isinstance(entry, dict):
            continue
        step, loss = entry.get("step"), entry.get("loss")
        if isinstance(step, bool) or isinstance(loss, bool):
            continue
        if isinstance(step, int) and isinstance(loss, int | float):
            lines.append(f"step {step:4d} / {steps:4d} | loss {float(loss)!r}")
    return lines


def read_gpt_history(path: Path) -> Any:
    """The ``extra.history`` of a checkpoint written by ``micrograd gpt train``; ValueError if it has none."""
    try:
        return json.loads(path.read_text())["extra"]["history"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"no extra.history in {path}: {type(e).__name__}: {e}") from None


def run_gpt_train(
    engine: str, data: Path, steps: int | None = None, seed: int | None = None, quiet: bool = True
) -> dict[str, Any]:
    """Run one whole ``micrograd gpt train`` process in a fresh temporary folder; time it from outside.

    The result's ``stdout`` is what microgpt_parity compares with microgpt.py's output: every
    step's loss from the checkpoint (exact; the command prints no losses with --quiet and
    rounds them without), then what the command printed (the sampled names).
    """
    total = steps if steps is not None else GPT_DEFAULT_STEPS
    folder = Path(tempfile.mkdtemp(prefix="micrograd-bench-gpt-"))  # outside the repository; removed below
    try:
        done = run_timed(gpt_train_command(engine, folder / "out", data, steps, seed, quiet), program_env(), folder)
        printed = "".join(done["lines"])
        out: dict[str, Any] = {
            "stdout": printed,
            "wall": done["wall"],
            "cpu": done["cpu"],
            "times": [done["wall"] / total],
            "error": None,
        }
        if done["code"] != 0:
            out["error"] = f"{gpt_label(engine)} exited with status {done['code']}: {_last_line(done['stderr'])}"
            return out
        try:
            history = read_gpt_history(folder / "out" / "checkpoint.json")
        except ValueError as e:
            out["error"] = str(e)
            return out
        out["stdout"] = "".join(line + "\n" for line in gpt_history_lines(history, total)) + printed
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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


def run_gpt_full(script: Path, data: Path, engines: tuple[str, ...], started: float) -> dict[str, Any]:
    """One round of the full default run: microgpt.py's 1,000 steps, then ``micrograd gpt train`` per engine.

    Ours run as a user types it: no --steps, --seed or --quiet (the progress bar goes to
    stderr), only --engine, --data (the same file as microgpt.py's INPUT) and a temporary --out.
    """
    full: dict[str, Any] = {"steps": GPT_DEFAULT_STEPS, "engines": {}}
    theirs = run_microgpt(script, swapped=False, steps=GPT_DEFAULT_STEPS, data=data, seed=MICROGPT_SEED)
    full["theirs"] = theirs
    print(f"gpt-full: microgpt.py done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    for engine in engines:
        state: dict[str, Any] = {"steps": GPT_DEFAULT_STEPS}
        full["engines"][engine] = state
        if theirs["error"]:
            state["failure"] = theirs["error"]
            continue
        ours = run_gpt_train(engine, data, quiet=False)
        state["run"] = ours
        if ours["error"]:
            state["failure"] = ours["error"]
        else:
            check_microgpt_round(state, theirs, ours)
        print(f"gpt-full: {engine} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return full


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{seconds:.1f} s"


def _times(x: float) -> str:
    return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x"


def _parity_words(state: dict[str, Any]) -> str:
    return (
        f"all {state['steps']} losses equal to 1e-9 relative (largest relative difference {state['worst']:.1e}), "
        f"the {state['samples']} sampled names identical"
    )


def gpt_lines(info: dict[str, Any]) -> list[str]:
    """The table of the gpt-eager / gpt-compiled rows (a failed row says so instead of a speed) and its notes."""
    head = [
        "| workload | microgpt.py | ours | ratio, median | ratio, min-max over rounds | CPU ratio, median (min-max) "
        "| target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    lines, notes = list(head), []
    steps = info["steps"]
    for engine, state in info["engines"].items():
        target = f">= {GPT_TARGETS[engine]:.0f}x"
        if info.get("skip"):
            lines.append(f"| {gpt_label(engine)} | {info['skip']} | | | | | {target} |")
            continue
        if state.get("failure"):
            failed = f"**FAILED, no speed reported**: {state['failure']}"
            lines.append(f"| {gpt_label(engine)} | {failed} | | | | | {target} |")
            continue
        theirs, ours = info["theirs"], state["runs"]
        wall = [a["wall"] / b["wall"] for a, b in zip(theirs, ours, strict=True)]
        cpu = [a["cpu"] / b["cpu"] for a, b in zip(theirs, ours, strict=True)]
        wall_theirs = statistics.median(run["wall"] for run in theirs)
        wall_ours = statistics.median(run["wall"] for run in ours)
        verdict = "met" if statistics.median(wall) >= GPT_TARGETS[engine] else "**not met**"
        lines.append(
            f"| {gpt_label(engine)} | {_ms(wall_theirs / steps)} per step | {_ms(wall_ours / steps)} per step | "
            f"{_times(statistics.median(wall))} | {_times(min(wall))} - {_times(max(wall))} | "
            f"{_times(statistics.median(cpu))} ({_times(min(cpu))} - {_times(max(cpu))}) | {target}: {verdict} |"
        )
        cpu_theirs = statistics.median(run["cpu"] for run in theirs)
        cpu_ours = statistics.median(run["cpu"] for run in ours)
        notes.append(
            f"{gpt_label(engine)}: whole process {wall_ours:.2f} s wall, {cpu_ours:.2f} s CPU (microgpt.py "
            f"{wall_theirs:.1f} s wall, {cpu_theirs:.1f} s CPU). Parity, every round: {_parity_words(state)}."
        )
    lines += [
        "",
        f"gpt rows: `micrograd gpt train --engine E --steps {steps} --seed {info['seed']} --data {info['input']} "
        f"--quiet --out TMP` against microgpt.py with NUM_STEPS={steps}, SEED={info['seed']}, INPUT the same file, "
        "alternating fresh processes; per step = whole-process wall time / steps (interpreter start, setup, "
        "the training steps and the 20 sampled names); ratio = microgpt.py / ours, per round. "
        f"Ours imported micrograd from {info.get('micrograd')}.",
        *notes,
    ]
    return lines


def gpt_full_lines(full: dict[str, Any]) -> list[str]:
    """The full default run: one process each, total wall and CPU time."""
    theirs = full["theirs"]
    lines = [
        f"| full default run, one process each: {full['steps']:,} steps + 20 names | wall | CPU | "
        "microgpt.py / ours, wall | microgpt.py / ours, CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    if theirs["error"]:
        return lines + [f"| microgpt.py | **FAILED**: {theirs['error']} | | | |"]
    lines.append(
        f"| microgpt.py, NUM_STEPS={full['steps']}, SEED={MICROGPT_SEED} | {_duration(theirs['wall'])} | "
        f"{_duration(theirs['cpu'])} | | |"
    )
    notes = []
    for engine, state in full["engines"].items():
        label = f"`micrograd gpt train --engine {engine}`"
        if state.get("failure"):
            lines.append(f"| {label} | **FAILED, no time reported**: {state['failure']} | | | |")
            continue
        ours = state["run"]
        lines.append(
            f"| {label} | {_duration(ours['wall'])} | {_duration(ours['cpu'])} | "
            f"{_times(theirs['wall'] / ours['wall'])} | {_times(theirs['cpu'] / ours['cpu'])} |"
        )
        notes.append(f"{engine}: {_parity_words(state)}")
    lines += [
        "",
        "gpt-full: ours with no --steps, --seed or --quiet (defaults 1,000 and 42, progress bar on stderr), the same "
        "data file as microgpt.py; one round, so each ratio is one measurement (on a loaded machine the CPU "
        "ratio is the steadier one)." + (" Parity: " + "; ".join(notes) + "." if notes else ""),
    ]
    return lines


def gpt_memory_lines(memory: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| memory, GPT training through the Python API | RSS, first sample -> last | highest |", "|---|---:|---:|"]
    for engine, result in memory.items():
        if "failure" in result:
            lines.append(f"| gpt.Training, engine={engine!r} | **FAILED**: {result['failure']} | |")
            continue
        rss = result["rss"]
        first, last = rss[0][1] / 2**20, rss[-1][1] / 2**20
        lines.append(
            f"| gpt.Training, engine={engine!r}: step {rss[0][0]} -> {rss[-1][0]}, sampled every {rss[0][0]} | "
            f"{first:.1f} -> {last:.1f} MB ({last - first:+.1f} MB) | {max(b for _, b in rss) / 2**20:.1f} MB |"
        )
    series = [
        f"gpt-memory, {engine}, RSS in MB by step: "
        + ", ".join(f"{step}: {rss / 2**20:.1f}" for step, rss in result["rss"])
        + "."
        for engine, result in memory.items()
        if "rss" in result
    ]
    return lines + ([""] + series if series else [])


# ----------------------------------------------------------------------
# The parent: set up, alternate the engines, report
# ----------------------------------------------------------------------


def ensure_original() -> Path:
    if not (ORIGINAL / "micrograd" / "engine.py").exists():
        print(f"installing micrograd==0.1.0 into {ORIGINAL} ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(ORIGINAL), "micrograd==0.1.0"],
            check=True,
        )
    return ORIGINAL


def make_data() -> Path:
    # Imported here, in the parent process only: the workers may have the original micrograd on their path.
    from micrograd.data import make_moons

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


def run(name: str, pythonpath: Path, data: Path, **options: Any) -> dict[str, Any]:
    env = dict(
        os.environ, PYTHONPATH=str(pythonpath), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1"
    )
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", name, str(data), json.dumps(options)],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(SCRATCH),  # not the repository root: nothing there may shadow the micrograd under test
    )
    if result.returncode != 0:
        raise RuntimeError(f"{name} {options} failed:\n{result.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    expected = pythonpath.resolve()
    if Path(out["micrograd"]).resolve().parent != expected:
        raise RuntimeError(f"{name}: imported micrograd from {out['micrograd']}, expected it under {expected}")
    return out


def has_module(name: str) -> bool:
    result = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True)
    return result.returncode == 0


WORKLOADS = ("w1", "w2", "w3", "memory", "microgpt", "gpt-eager", "gpt-compiled", "gpt-memory", "gpt-full")
DEFAULT_WORKLOADS = WORKLOADS[:-1]  # gpt-full (about ten minutes) only when asked for by name
QUICK_WORKLOADS = WORKLOADS[:5]  # --quick stays a smoke run of a few seconds a row: no gpt rows unless named


def workload_names(text: str) -> set[str]:
    """``--only w1,microgpt``: a comma-separated choice among WORKLOADS."""
    names = {name.strip().lower() for name in text.split(",") if name.strip()}
    unknown = names - set(WORKLOADS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown workload {sorted(unknown) or text!r}; choose from {', '.join(WORKLOADS)}"
        )
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: 2 rounds, few steps, small graphs")
    parser.add_argument("--markdown", type=Path, help="also write the results table to this file")
    parser.add_argument(
        "--only",
        type=workload_names,
        action="append",
        metavar="NAMES",
        help=f"run only these workloads, comma-separated or repeated: {', '.join(WORKLOADS)} "
        f"(default: all but gpt-full; with --quick: {', '.join(QUICK_WORKLOADS)})",
    )
    parser.add_argument(
        "--microgpt",
        type=Path,
        default=DEFAULT_MICROGPT,
        metavar="PATH",
        help="Karpathy's microgpt.py, read at run time (default: ../shared/reference/microgpt.py from the repo root)",
    )
    parser.add_argument(
        "--microgpt-input", type=Path, default=DEFAULT_MICROGPT_INPUT, metavar="PATH", help="its data, one name a line"
    )
    parser.add_argument(
        "--microgpt-steps",
        type=int,
        metavar="N",
        help="NUM_STEPS of each microgpt process (default 30; 5 with --quick)",
    )
    parser.add_argument(
        "--gpt-steps",
        type=int,
        metavar="N",
        help="training steps of each process in the gpt-eager and gpt-compiled rows (default 30; 5 with --quick)",
    )
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker)
        return 0

    quick = args.quick
    rounds = 2 if quick and args.rounds == 5 else args.rounds
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    selected: set[str] = set().union(*args.only) if args.only else set(QUICK_WORKLOADS if quick else DEFAULT_WORKLOADS)
    microgpt_steps = args.microgpt_steps or (5 if quick else 30)
    if microgpt_steps < 1:
        parser.error("--microgpt-steps must be at least 1")
    gpt_steps = args.gpt_steps if args.gpt_steps is not None else 5 if quick else 30
    if gpt_steps < 1:
        parser.error("--gpt-steps must be at least 1")
    load_before = os.getloadavg()[0]
    steps = {
        "original_gc": 1 if quick else 3,
        "original_nogc": 1 if quick else 5,
        "eager": 3 if quick else 10,
        "python": 5 if quick else 40,
        "numpy": 20 if quick else 300,
        "torch_scalar": 1 if quick else 3,
        "torch_batched": 20 if quick else 300,
    }
    w2_nodes = 20_000 if quick else 100_000
    w3_depth = 100_000 if quick else 1_000_000
    memory_steps = 50 if quick else 1000

    original, data = ORIGINAL, SCRATCH / "data.json"
    if selected & {"w1", "w2", "w3", "memory"}:  # the microgpt and gpt rows need neither the original nor the moons
        original = ensure_original()
        data = make_data()
    torch_ok = "w1" in selected and has_module("torch")
    numpy_ok = "w1" in selected and has_module("numpy")
    started = time.perf_counter()

    # (row label, worker, pythonpath or script, options, the baseline it is compared with)
    rows: list[tuple[str, str, Path, dict[str, Any], str]] = []
    if "w1" in selected:
        rows += [
            ("W1 original, default GC", "w1_eager", original, {"steps": steps["original_gc"], "gc_enabled": True}, ""),
            (
                "W1 eager, default GC",
                "w1_eager",
                OURS,
                {"steps": steps["eager"], "gc_enabled": True},
                "W1 original, default GC",
            ),
            (
                "W1 original, GC disabled",
                "w1_eager",
                original,
                {"steps": steps["original_nogc"], "gc_enabled": False},
                "",
            ),
            (
                "W1 eager, GC disabled",
                "w1_eager",
                OURS,
                {"steps": steps["eager"], "gc_enabled": False},
                "W1 original, GC disabled",
            ),
            (
                "W1 compiled, pure Python",
                "w1_compiled",
                OURS,
                {"steps": steps["python"], "engine": "python"},
                "W1 original, default GC",
            ),
        ]
    if numpy_ok:
        rows.append(
            (
                "W1 compiled, numpy batch",
                "w1_compiled",
                OURS,
                {"steps": steps["numpy"], "engine": "numpy"},
                "W1 original, default GC",
            )
        )
    if torch_ok:
        rows.append(
            (
                "W1 PyTorch, 0-d tensors",
                "w1_torch",
                OURS,
                {"steps": steps["torch_scalar"], "batched": False},
                "W1 original, default GC",
            )
        )
        rows.append(
            (
                "W1 PyTorch, batched",
                "w1_torch",
                OURS,
                {"steps": steps["torch_batched"], "batched": True},
                "W1 original, default GC",
            )
        )
    if "w2" in selected:
        rows.append(("W2 original", "w2", original, {"repeats": 1 if quick else 2, "n_nodes": w2_nodes}, ""))
        rows.append(("W2 eager", "w2", OURS, {"repeats": 2 if quick else 3, "n_nodes": w2_nodes}, "W2 original"))

    # The rows that run whole programs: microgpt.py as it is (shared by every row with the same NUM_STEPS),
    # with our Value, and `micrograd gpt train`. A row compared with microgpt.py reports into a state dict
    # (its "failure" stops it); a run of microgpt.py as it is reports into every row that needs it.
    script, microgpt_input = args.microgpt.resolve(), args.microgpt_input.resolve()
    dependents: dict[str, list[dict[str, Any]]] = {}
    pairs: list[tuple[str, str, dict[str, Any]]] = []  # (row, the microgpt.py row it is compared with, its state)

    def theirs_row(steps: int, state: dict[str, Any]) -> str:
        label = next(
            (row[0] for row in rows if row[1] == "microgpt" and row[3] == {**options(steps), "swapped": False}), None
        )
        if label is None:
            label = MICROGPT_THEIRS if MICROGPT_THEIRS not in dependents else f"{MICROGPT_THEIRS}, NUM_STEPS={steps}"
            rows.append((label, "microgpt", script, {**options(steps), "swapped": False}, ""))
        dependents.setdefault(label, []).append(state)
        return label

    def options(steps: int) -> dict[str, Any]:
        return {"steps": steps, "data": microgpt_input, "seed": MICROGPT_SEED}

    microgpt: dict[str, Any] | None = None
    swapped_folder: Path | None = None
    if "microgpt" in selected:
        microgpt = {"steps": microgpt_steps, "seed": MICROGPT_SEED, "input": microgpt_input, "theirs": [], "ours": []}
        try:
            microgpt["skip"], swapped = microgpt_setup(script, microgpt_input)
        except (ValueError, SyntaxError) as e:
            microgpt["skip"], swapped = None, None
            microgpt["failure"] = f"cannot swap the Value class of {script}: {e}"
        if swapped is not None:
            swapped_folder = swapped.parent
            baseline = theirs_row(microgpt_steps, microgpt)
            rows.append((MICROGPT_OURS, "microgpt", swapped, {**options(microgpt_steps), "swapped": True}, baseline))
            dependents[MICROGPT_OURS] = [microgpt]
            pairs.append((MICROGPT_OURS, baseline, microgpt))

    gpt: dict[str, Any] | None = None
    gpt_engines = tuple(engine for engine in GPT_ENGINES if f"gpt-{engine}" in selected)
    if gpt_engines:
        gpt = {"steps": gpt_steps, "seed": MICROGPT_SEED, "input": microgpt_input, "theirs": [], "engines": {}}
        gpt["engines"] = {engine: {"steps": gpt_steps, "runs": []} for engine in gpt_engines}
        gpt["skip"] = missing_reference(script, microgpt_input)
        gpt["micrograd"] = imported_micrograd()
        if gpt["micrograd"] != (OURS / "micrograd").resolve():
            for state in gpt["engines"].values():
                state["failure"] = f"python -m micrograd imports {gpt['micrograd']}, not {OURS / 'micrograd'}"
        if not gpt["skip"]:
            for engine, state in gpt["engines"].items():
                baseline = theirs_row(gpt_steps, state)
                label = gpt_label(engine)
                rows.append(
                    (label, "gpt", OURS, {"engine": engine, "steps": gpt_steps, **options(gpt_steps)}, baseline)
                )
                dependents[label] = [state]
                pairs.append((label, baseline, state))
                state["baseline"] = baseline

    if any(row[1] in ("microgpt", "gpt") for row in rows) or selected & {"gpt-full"}:
        precompile_ours()
    medians: dict[str, list[float]] = {label: [] for label, *_ in rows}
    extras: dict[str, list[dict[str, Any]]] = {label: [] for label, *_ in rows}
    try:
        for r in range(rounds):
            order = rows if r % 2 == 0 else rows[::-1]  # flip the order each round: drift hits both sides alike
            for label, worker, path, options_, _ in order:
                if worker in ("microgpt", "gpt"):
                    states = dependents[label]
                    if all(state.get("failure") for state in states):
                        continue  # reported once, instead of a speed; the other rows go on
                    if worker == "microgpt":
                        out = run_microgpt(path, **options_)
                    else:
                        out = run_gpt_train(options_["engine"], options_["data"], options_["steps"], options_["seed"])
                    if out["error"]:
                        for state in states:
                            state.setdefault("failure", out["error"])
                        continue
                else:
                    out = run(worker, path, data, **options_)
                medians[label].append(statistics.median(out["times"]))
                extras[label].append(out)
            for label, baseline, state in pairs:  # parity before any speed: every round, every step
                if not state.get("failure"):
                    check_microgpt_round(state, extras[baseline][-1], extras[label][-1])
            if rows:
                print(f"round {r + 1}/{rounds} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    finally:
        if swapped_folder is not None:
            shutil.rmtree(swapped_folder, ignore_errors=True)

    # the engines must agree before their speeds are compared
    if "w1" in selected:
        first_losses = {label: extras[label][0]["losses"][0] for label, *_ in rows if label.startswith("W1")}
        reference = first_losses["W1 original, default GC"]
        for label, loss in first_losses.items():
            if not math.isclose(loss, reference, rel_tol=1e-9):
                raise RuntimeError(f"{label}: first loss {loss!r} differs from the original's {reference!r}")
    if "w2" in selected and extras["W2 original"][0]["nodes"] != extras["W2 eager"][0]["nodes"]:
        raise RuntimeError("W2: the two engines built graphs of different sizes")

    w3_ours, w3_original = None, None
    if "w3" in selected:
        w3_ours = run("w3", OURS, data, depth=w3_depth)
        w3_original = {d: run("w3", original, data, depth=d) for d in (500, 1000, 2000)}
    memory, memory_original = None, None
    if "memory" in selected:
        memory = {
            name: run("memory", OURS, data, n_nodes=w2_nodes, steps=memory_steps, engine=name)
            for name in ("eager", "python")
        }
        memory_original = run("memory", original, data, n_nodes=w2_nodes, steps=2 if quick else 20, engine="eager")
    if microgpt is not None and not microgpt.get("skip") and not microgpt.get("failure"):
        microgpt["theirs"], microgpt["ours"] = extras[MICROGPT_THEIRS], extras[MICROGPT_OURS]
    more: list[str] = []
    failures: list[str] = []
    if gpt is not None:
        for engine, state in gpt["engines"].items():
            if state.get("failure"):
                failures.append(f"{gpt_label(engine)}: {state['failure']}")
            elif not gpt["skip"]:
                gpt["theirs"], state["runs"] = extras[state["baseline"]], extras[gpt_label(engine)]
        more += ["", *gpt_lines(gpt)]
    if "gpt-memory" in selected:
        gpt_memory: dict[str, dict[str, Any]] = {}
        memory_file = SCRATCH / "gpt.json"
        memory_file.parent.mkdir(parents=True, exist_ok=True)
        memory_file.write_text(json.dumps({"seed": MICROGPT_SEED}))
        gpt_memory_steps = 100 if quick else GPT_DEFAULT_STEPS
        for engine in GPT_ENGINES:
            try:
                gpt_memory[engine] = run(
                    "gpt_memory", OURS, memory_file, steps=gpt_memory_steps, every=gpt_memory_steps // 10, engine=engine
                )
            except RuntimeError as e:
                gpt_memory[engine] = {"failure": _last_line(str(e))}
                failures.append(f"gpt-memory, engine {engine}: {gpt_memory[engine]['failure']}")
        more += ["", *gpt_memory_lines(gpt_memory)]
    if "gpt-full" in selected:
        skip = missing_reference(script, microgpt_input)
        if skip:
            more += ["", f"gpt-full: {skip}"]
        else:
            full = run_gpt_full(script, microgpt_input, GPT_ENGINES, started)
            more += ["", *gpt_full_lines(full)]
            if full["theirs"]["error"]:
                failures.append(f"gpt-full, microgpt.py: {full['theirs']['error']}")
            failures += [
                f"gpt-full, {engine}: {state['failure']}"
                for engine, state in full["engines"].items()
                if state.get("failure") and state["failure"] != full["theirs"]["error"]
            ]

    table = report(
        [row for row in rows if row[1] not in ("microgpt", "gpt")],
        medians,
        extras,
        rounds,
        w3_ours,
        w3_original,
        memory,
        memory_original,
        microgpt,
        quick,
        time.perf_counter() - started,
        (load_before, os.getloadavg()[0]),
        more,
    )
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    status = 0
    if microgpt is not None and microgpt.get("failure"):
        print(f"MICROGPT FAILED: {microgpt['failure']}", file=sys.stderr)
        status = 1
    for failure in failures:
        print(f"GPT FAILED: {failure}", file=sys.stderr)
        status = 1
    return status


def check_microgpt_round(microgpt: dict[str, Any], theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    """One round's two runs must print the same losses (to 1e-9) and the same names; else the row fails."""
    problems, worst = microgpt_parity(theirs["stdout"], ours["stdout"], microgpt["steps"])
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        microgpt["failure"] = "PARITY MISMATCH, " + "; ".join(problems[:3]) + more
        return
    microgpt["worst"] = max(microgpt.get("worst", 0.0), worst)
    microgpt["samples"] = len(parse_microgpt_output(ours["stdout"])[1])


def report(
    rows: list[tuple[str, str, Path, dict[str, Any], str]],
    medians: dict[str, list[float]],
    extras: dict[str, list[dict[str, Any]]],
    rounds: int,
    w3_ours: dict[str, Any] | None,
    w3_original: dict[int, dict[str, Any]] | None,
    memory: dict[str, dict[str, Any]] | None,
    memory_original: dict[str, Any] | None,
    microgpt: dict[str, Any] | None,
    quick: bool,
    seconds: float,
    load: tuple[float, float] = (math.nan, math.nan),
    more: list[str] | None = None,
) -> str:
    def ms(x: float) -> str:
        return f"{x * 1e3:.3f}" if x < 0.01 else f"{x * 1e3:.1f}" if x < 1 else f"{x * 1e3:.0f}"

    def ratio(x: float) -> str:
        return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x"

    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; {time.strftime('%Y-%m-%d %H:%M')}; {rounds} rounds"
        f"{' (--quick)' if quick else ''}, {seconds:.0f} s; load average (1 min) {load[0]:.1f} at the start, "
        f"{load[1]:.1f} at the end.",
    ]
    if rows:
        lines += [
            "",
            "| workload | median per step | vs | ratio, median | ratio, min-max over rounds |",
            "|---|---:|---|---:|---:|",
        ]
    for label, worker, _, options, baseline in rows:
        median = statistics.median(medians[label])
        unit = "ms" if not label.startswith("W2") else "ms (build + backward)"
        if not baseline:
            lines.append(f"| {label} | {ms(median)} {unit} | | | |")
            continue
        ratios = [b / a for a, b in zip(medians[label], medians[baseline], strict=False)]
        lines.append(
            f"| {label} | {ms(median)} {unit} | {baseline} | {ratio(statistics.median(ratios))} | "
            f"{ratio(min(ratios))} - {ratio(max(ratios))} |"
        )
        del worker, options
    sizes = []
    if "W1 eager, default GC" in extras:
        sizes.append(f"W1 {extras['W1 eager, default GC'][0]['nodes']:,} nodes per step (eager)")
    if "W2 eager" in extras:
        sizes.append(f"W2 {extras['W2 eager'][0]['nodes']:,} nodes, all reachable from the output")
    if sizes:
        lines += ["", f"Graph sizes: {'; '.join(sizes)}."]
    compiled_rows = [label for label, worker, *_ in rows if worker == "w1_compiled"]
    for label in compiled_rows:
        compile_times = [e["compile"] for e in extras[label]]
        eager_steps = [e["eager_step"] for e in extras[label]]
        lines.append(
            f"{label}: compile (record two examples + generate + compile the code) "
            f"median {ms(statistics.median(compile_times))} ms "
            f"vs one eager step in the same process {ms(statistics.median(eager_steps))} ms "
            f"(ratio {statistics.median(c / e for c, e in zip(compile_times, eager_steps, strict=False)):.2f})."
        )
    if w3_ours is not None and w3_original is not None:
        w3_line = (
            f"W3 chain: {w3_ours['depth']:,} additions forward + backward at recursion limit "
            f"{w3_ours['recursion_limit']}: "
            f"{'exact gradient ' + repr(w3_ours['grad']) if w3_ours['ok'] else 'FAILED'} "
            f"in {w3_ours.get('seconds', 0):.1f} s. "
        )
        original_ok = [d for d, r in w3_original.items() if r["ok"]]
        original_bad = [d for d, r in w3_original.items() if not r["ok"]]
        w3_line += f"Original: depth {max(original_ok) if original_ok else 'none'} works"
        w3_line += f", {min(original_bad):,} raises RecursionError." if original_bad else "."
        lines += ["", w3_line]
    if memory is not None and memory_original is not None:
        lines.append("")
        lines.append("| memory | eager (ours) | original |")
        lines.append("|---|---:|---:|")
        lines.append(
            f"| tracemalloc peak per node, W2 build + backward | {memory['eager']['peak_per_node']:.0f} B | "
            f"{memory_original['peak_per_node']:.0f} B |"
        )
        for name, title in (("eager", "eager"), ("python", "compiled (python)")):
            rss = memory[name]["rss"]
            growth = (rss[-1][1] - rss[0][1]) / 2**20
            lines.append(
                f"| RSS over W1 steps, {title}: step {rss[0][0]} -> {rss[-1][0]} | "
                f"{rss[0][1] / 2**20:.1f} -> {rss[-1][1] / 2**20:.1f} MB "
                f"({growth:+.1f} MB) | |"
            )
        rss = memory_original["rss"]
        lines.append(
            f"| RSS over W1 steps, original (default GC): step {rss[0][0]} -> {rss[-1][0]} | | "
            f"{rss[0][1] / 2**20:.1f} -> {rss[-1][1] / 2**20:.1f} MB |"
        )
    if microgpt is not None:
        lines += ["", *microgpt_lines(microgpt)]
    lines += more or []
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
