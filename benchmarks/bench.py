"""Speed and memory of this micrograd against the original micrograd 0.1.0 (and PyTorch, for reference).

    python benchmarks/bench.py              # the full run (a few minutes)
    python benchmarks/bench.py --quick      # a smoke run: fewer rounds and steps, smaller graphs
    python benchmarks/bench.py --rounds 7 --markdown results.md

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
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
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
}


def worker_main(argv: list[str]) -> None:
    """Child process: run one workload with the micrograd found on PYTHONPATH, print JSON."""
    name, data_file, options = argv[0], argv[1], json.loads(argv[2])
    result = WORKERS[name](_load(data_file), **options)
    import micrograd

    result["micrograd"] = str(Path(micrograd.__file__).parent)
    print(json.dumps(result))


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: 2 rounds, few steps, small graphs")
    parser.add_argument("--markdown", type=Path, help="also write the results table to this file")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker)
        return 0

    quick = args.quick
    rounds = 2 if quick and args.rounds == 5 else args.rounds
    if rounds < 1:
        parser.error("--rounds must be at least 1")
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

    original = ensure_original()
    data = make_data()
    torch_ok = has_module("torch")
    numpy_ok = has_module("numpy")
    started = time.perf_counter()

    # (row label, worker, pythonpath, options, the baseline it is compared with)
    rows: list[tuple[str, str, Path, dict[str, Any], str]] = [
        ("W1 original, default GC", "w1_eager", original, {"steps": steps["original_gc"], "gc_enabled": True}, ""),
        (
            "W1 eager, default GC",
            "w1_eager",
            OURS,
            {"steps": steps["eager"], "gc_enabled": True},
            "W1 original, default GC",
        ),
        ("W1 original, GC disabled", "w1_eager", original, {"steps": steps["original_nogc"], "gc_enabled": False}, ""),
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
    rows.append(("W2 original", "w2", original, {"repeats": 1 if quick else 2, "n_nodes": w2_nodes}, ""))
    rows.append(("W2 eager", "w2", OURS, {"repeats": 2 if quick else 3, "n_nodes": w2_nodes}, "W2 original"))

    medians: dict[str, list[float]] = {label: [] for label, *_ in rows}
    extras: dict[str, list[dict[str, Any]]] = {label: [] for label, *_ in rows}
    for r in range(rounds):
        order = rows if r % 2 == 0 else rows[::-1]  # flip the order each round: drift hits both sides alike
        for label, worker, path, options, _ in order:
            out = run(worker, path, data, **options)
            medians[label].append(statistics.median(out["times"]))
            extras[label].append(out)
        print(f"round {r + 1}/{rounds} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    # the engines must agree before their speeds are compared
    first_losses = {label: extras[label][0]["losses"][0] for label, *_ in rows if label.startswith("W1")}
    reference = first_losses["W1 original, default GC"]
    for label, loss in first_losses.items():
        if not math.isclose(loss, reference, rel_tol=1e-9):
            raise RuntimeError(f"{label}: first loss {loss!r} differs from the original's {reference!r}")
    if extras["W2 original"][0]["nodes"] != extras["W2 eager"][0]["nodes"]:
        raise RuntimeError("W2: the two engines built graphs of different sizes")

    w3_ours = run("w3", OURS, data, depth=w3_depth)
    w3_original = {d: run("w3", original, data, depth=d) for d in (500, 1000, 2000)}
    memory = {
        name: run("memory", OURS, data, n_nodes=w2_nodes, steps=memory_steps, engine=name)
        for name in ("eager", "python")
    }
    memory_original = run("memory", original, data, n_nodes=w2_nodes, steps=2 if quick else 20, engine="eager")

    table = report(
        rows,
        medians,
        extras,
        rounds,
        w3_ours,
        w3_original,
        memory,
        memory_original,
        quick,
        time.perf_counter() - started,
    )
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    return 0


def report(
    rows: list[tuple[str, str, Path, dict[str, Any], str]],
    medians: dict[str, list[float]],
    extras: dict[str, list[dict[str, Any]]],
    rounds: int,
    w3_ours: dict[str, Any],
    w3_original: dict[int, dict[str, Any]],
    memory: dict[str, dict[str, Any]],
    memory_original: dict[str, Any],
    quick: bool,
    seconds: float,
) -> str:
    def ms(x: float) -> str:
        return f"{x * 1e3:.3f}" if x < 0.01 else f"{x * 1e3:.1f}" if x < 1 else f"{x * 1e3:.0f}"

    def ratio(x: float) -> str:
        return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x"

    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; {time.strftime('%Y-%m-%d %H:%M')}; {rounds} rounds"
        f"{' (--quick)' if quick else ''}, {seconds:.0f} s.",
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
    w2_nodes = extras["W2 eager"][0]["nodes"]
    compiled_rows = [label for label, worker, *_ in rows if worker == "w1_compiled"]
    lines.append("")
    w1_nodes = extras["W1 eager, default GC"][0]["nodes"]
    lines.append(
        f"Graph sizes: W1 {w1_nodes:,} nodes per step (eager); W2 {w2_nodes:,} nodes, all reachable from the output."
    )
    for label in compiled_rows:
        compile_times = [e["compile"] for e in extras[label]]
        eager_steps = [e["eager_step"] for e in extras[label]]
        lines.append(
            f"{label}: compile (record two examples + generate + compile the code) "
            f"median {ms(statistics.median(compile_times))} ms "
            f"vs one eager step in the same process {ms(statistics.median(eager_steps))} ms "
            f"(ratio {statistics.median(c / e for c, e in zip(compile_times, eager_steps, strict=False)):.2f})."
        )
    lines.append("")
    w3_line = (
        f"W3 chain: {w3_ours['depth']:,} additions forward + backward at recursion limit {w3_ours['recursion_limit']}: "
        f"{'exact gradient ' + repr(w3_ours['grad']) if w3_ours['ok'] else 'FAILED'} "
        f"in {w3_ours.get('seconds', 0):.1f} s. "
    )
    original_ok = [d for d, r in w3_original.items() if r["ok"]]
    original_bad = [d for d, r in w3_original.items() if not r["ok"]]
    w3_line += f"Original: depth {max(original_ok) if original_ok else 'none'} works"
    w3_line += f", {min(original_bad):,} raises RecursionError." if original_bad else "."
    lines.append(w3_line)
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
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
