"""The workloads of benchmarks/bench.py, as they run inside a fresh child process.

Each child imports the micrograd found on its PYTHONPATH (this project's ``src`` or the original
micrograd 0.1.0), so nothing here imports micrograd at module level. ``worker_main`` is the child's
entry point: it runs one of WORKERS on the JSON data file the parent wrote and prints one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


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
    # Ours (the original has no engine.backend, and its Value no __slots__; the C engine's Value has no
    # __slots__ either): count the graph of one more step. The original's count is the same.
    import micrograd.engine

    if hasattr(micrograd.engine, "backend") or hasattr(Value, "__slots__"):
        inputs = [list(map(Value, xrow)) for xrow in X]
        losses_ = [(1 + -yi * model(x)).relu() for yi, x in zip(y, inputs, strict=False)]
        total = sum(losses_) * (1.0 / len(losses_)) + alpha * sum(p * p for p in model.parameters())
        nodes = count_nodes(total)
    return {"times": times, "losses": losses, "nodes": nodes}


def work_w1_compiled(data: dict[str, Any], steps: int, engine: str) -> dict[str, Any]:
    """The same step through micrograd.compiler.compile_loss; also the compile cost next to one eager step."""
    if engine == "numpy":
        import numpy  # noqa: F401  (its import, ~0.1 s once per process, is not part of compiling)
    from micrograd.compiler import compile_loss

    X, y = data["X"], data["y"]
    model = _demo_model(data)
    params = model.parameters()
    start = time.perf_counter()
    compiled = compile_loss(
        lambda x, t: (1 + -t * model(x)).relu(),
        model,
        n_inputs=2,
        engine=engine,
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
        return float(loss)

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
        params: list[Any] = [t.clone().requires_grad_() for layer in layers for t in layer]
        Xt, yt = torch.tensor(X, dtype=dt), torch.tensor(y, dtype=dt)

        def step(k: int) -> float:
            h = Xt
            for i in range(3):
                h = h @ params[2 * i].T + params[2 * i + 1]
                h = torch.relu(h) if i < 2 else h
            data_loss = torch.relu(1 - yt * h[:, 0]).mean()
            return _sgd_step(data_loss + alpha * sum((p * p).sum() for p in params), params, k)

    else:  # one 0-d tensor per scalar, exactly the micrograd way
        neurons = []
        for W, b in layers:
            for i in range(W.shape[0]):
                w = [torch.tensor(float(v), dtype=dt, requires_grad=True) for v in W[i]]
                neurons.append((w, torch.tensor(float(b[i]), dtype=dt, requires_grad=True)))
        sizes = [16, 16, 1]
        scalar_params: list[Any] = [p for w, b in neurons for p in (*w, b)]

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
            return _sgd_step(total, scalar_params, k)

    times, losses = _timed_steps(step, steps)
    return {"times": times, "losses": losses}


def _sgd_step(total: Any, params: list[Any], k: int) -> float:
    """Backward from the torch loss ``total`` and the moons demo's SGD step k on ``params``; the loss as a float."""
    import torch

    for p in params:
        p.grad = None
    total.backward()
    with torch.no_grad():
        for p in params:
            p -= (1.0 - 0.9 * (k % 100) / 100) * p.grad
    return float(total)


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


def count_nodes(root: Any) -> int:
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
    return {"times": times, "nodes": count_nodes(out), "checksum": checksum}


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
    nodes = count_nodes(out)
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
            samples.append((k + 1, rss_bytes()))
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
            samples.append((step, rss_bytes()))
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
    from micrograd.compiler import compile_loss

    X, y = data["X"], data["y"]
    model = _demo_model(data)
    compiled = compile_loss(
        lambda x, t: (1 + -t * model(x)).relu(),
        model,
        2,
        engine=engine,
        regularizer=lambda ps: 1e-4 * sum(p * p for p in ps),
    )

    def step(k: int) -> float:
        model.zero_grad()
        loss = compiled.loss_and_backward(X, y)
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * (k % 100) / 100) * p.grad
        return float(loss)

    return step


def rss_bytes() -> int:
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


if __name__ == "__main__":  # started by bench_harness.run_worker: NAME DATA_FILE OPTIONS_JSON
    worker_main(sys.argv[1:])
