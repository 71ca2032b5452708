"""Memory: training does not leak, and a dropped graph is freed at once (no reference cycles)."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from pathlib import Path

import pytest

from micrograd.app.training import TrainConfig, start_run
from micrograd.engine import Value


@pytest.mark.parametrize("engine", ["eager", "compiled", "numpy"])
def test_a_thousand_training_steps_use_flat_memory(engine: str, tmp_path: Path) -> None:
    if engine == "numpy":
        pytest.importorskip("numpy")
    config = TrainConfig(n_samples=24, hidden=[4, 4], steps=1000, batch_size=8, optimizer="adam", lr=0.01)
    run = start_run(config, tmp_path, engine=engine)
    steps = run.steps()
    tracemalloc.start()
    try:
        samples = {}
        for _record in steps:
            run.history.clear()  # the history grows by design (one record per step); nothing else may
            if run.step in (100, 1000):
                gc.collect()
                samples[run.step] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    growth = samples[1000] - samples[100]
    # Over 900 steps, a leak of even one float (24 bytes) per step would show as 21 kB.
    assert growth < 16_000, f"memory grew by {growth} bytes from step 100 to step 1000"


def test_a_million_node_graph_is_freed_when_dropped() -> None:
    x = Value(1.0)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(1_000_000):
            y = y + x
        y.backward()
        assert x.grad == 1_000_001.0
        middle = weakref.ref(y._prev[0]._prev[0])
        built = tracemalloc.get_traced_memory()[0] - baseline
        gc_was_enabled = gc.isenabled()
        gc.disable()  # prove that reference counting alone frees it: the graph holds no cycles
        try:
            del y
            assert middle() is None
            left = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            if gc_was_enabled:
                gc.enable()
    finally:
        tracemalloc.stop()
    assert built > 100_000_000  # the graph really was big (about 300 bytes a node) ...
    # ... and nothing of it is left, beyond what the interpreter keeps in its free lists
    # (up to 2,000 spare tuples of each small size: about 115 kB here).
    assert left < 1_000_000, f"{left} bytes of a {built}-byte graph still allocated after it was dropped"
