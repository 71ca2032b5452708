"""The two engines of this micrograd side by side: the pure-Python reference engine and the native C accelerator.

    python benchmarks/engines.py                     # every row, 3 rounds (a few minutes)
    python benchmarks/engines.py --quick             # a smoke run: 2 rounds, few steps, small graphs
    python benchmarks/engines.py --only microgpt,w1 --rounds 5 --microgpt-steps 20

The engine is chosen per process by the environment: MICROGRAD_PURE=1 selects the
pure-Python engine; without it micrograd.engine uses the native accelerator when it is
built. Every measured process reports micrograd.engine.backend ("native" or "python";
a missing attribute counts as "python"); each run is printed with the backend that
actually ran, and a table cell whose runs did not use the backend its column is named
after says so (its target is then "n/a" rather than met or not).

Rows (names for --only): microgpt, w1, w2, memory, gpt-eager; benchmarks/README.md
describes them. The workloads and the process plumbing are bench.py's (its modules
bench_harness, bench_workloads and bench_microgpt); this file adds only the engine
selection, the backend reports and the table.
Each row runs its processes A B C, C B A, ... (the order flips every round) and each
round gives one ratio per engine; the table gives the median value of each column and
the median and min-max of the ratios. Exit status 1 when a row fails (a process
failed, or two engines disagree on a loss or a sampled name).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_harness as harness  # noqa: E402  (bench.py's process plumbing)
import bench_microgpt as mg  # noqa: E402  (bench.py's microgpt.py runs: the Value swap, the parity check)
import bench_workloads as work  # noqa: E402  (bench.py's workloads and their worker protocol)

PURE_VARIABLE = "MICROGRAD_PURE"
EXPECTED_BACKEND = {"pure": "python", "native": "native"}
ROW_NAMES = ("microgpt", "w1", "w2", "memory", "gpt-eager")
BACKEND_MARK = "[engines] backend "
# One statement, run in a measured process once micrograd can be imported: prints the backend and the
# engine's file. Written with __import__ so that, inserted into microgpt.py, it adds no name to the script.
ANNOUNCE_BACKEND = (
    f"print({BACKEND_MARK!r} + str(getattr(__import__('micrograd.engine').engine, 'backend', 'python')) + ' ' + "
    "__import__('micrograd.engine').engine.__file__, flush=True)"
)
# `python -c LAUNCHER gpt train ...`: `python -m micrograd gpt train ...`, announcing the backend first.
LAUNCHER = f"{ANNOUNCE_BACKEND}; __import__('runpy').run_module('micrograd', run_name='__main__', alter_sys=True)"


class RowFailed(Exception):
    """A process of the row failed or two engines disagree: the row reports this instead of numbers."""


@dataclass
class Series:
    """One column of a row: each round's value (seconds, or bytes per node) and the backend each process reported."""

    engine: str  # "original", "microgpt", "pure" or "native"
    values: list[float] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.values)

    def wrong_backends(self) -> list[str]:
        """The backends reported by this column's runs other than the one it is named after."""
        expected = EXPECTED_BACKEND.get(self.engine)
        return sorted({backend for backend in self.backends if expected is not None and backend != expected})


@dataclass
class Target:
    text: str
    pure_min_ratio: float | None = None
    native_min_ratio: float | None = None
    native_max_value: float | None = None


@dataclass
class Row:
    """One workload: its columns, target, and either its numbers or why there are none."""

    name: str
    workload: str
    unit: str  # "s": whole process; "ms": per step or per build; "B": bytes per node
    baseline: Series | None  # original micrograd or microgpt's own Value; None: native is compared with pure
    pure: Series
    native: Series
    target: Target
    failure: str | None = None
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    def ratios(self, series: Series) -> list[float]:
        """Per round, baseline / series (above 1: series is faster, or smaller); without a baseline, pure / series."""
        base = self.baseline or self.pure
        return [b / x for b, x in zip(base.values, series.values, strict=True)]


@dataclass
class Measurement:
    value: float
    backend: str
    output: dict[str, Any]


@dataclass
class Contender:
    series: Series
    launch: Callable[[], Measurement]


@dataclass
class Settings:
    rows: list[str]
    rounds: int
    quick: bool
    microgpt: Path
    microgpt_input: Path
    microgpt_steps: int
    gpt_steps: int
    w1_steps: dict[str, int]
    w2_repeats: dict[str, int]
    w2_nodes: int


# ----------------------------------------------------------------------
# Inside a measured worker process
# ----------------------------------------------------------------------


def graph_size(root: Any) -> int:
    """Nodes reachable from root, through the engine's own topological_order when it has one."""
    try:
        from micrograd.engine import topological_order
    except ImportError:  # the original 0.1.0
        return work.count_nodes(root)
    return len(topological_order(root))


def work_node_memory(data: dict[str, Any], n_nodes: int) -> dict[str, Any]:
    """Bytes per node of the W2 graph: tracemalloc peak of build + backward and of the build alone, and RSS growth.

    tracemalloc sees only what goes through Python's allocators; the RSS growth of a first, untraced
    build + backward is there to show memory that a C extension takes from malloc directly.
    """
    import gc
    import tracemalloc

    recipe = work.mixed_program(n_nodes, seed=11)
    gc.collect()
    rss_before = work.rss_bytes()
    out, leaves = work.build_mixed_graph(*recipe)
    out.backward()
    rss_growth = work.rss_bytes() - rss_before
    nodes = graph_size(out)
    del out, leaves
    gc.collect()
    tracemalloc.start()
    out, leaves = work.build_mixed_graph(*recipe)
    _, build_peak = tracemalloc.get_traced_memory()
    out.backward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "peak_per_node": peak / nodes,
        "build_per_node": build_peak / nodes,
        "rss_per_node": rss_growth / nodes,
        "nodes": nodes,
    }


def worker_main(argv: list[str]) -> None:
    """Child process: work.worker_main's workload and JSON line, plus the backend that ran it."""
    work.WORKERS.setdefault("node_memory", work_node_memory)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        work.worker_main(argv)
    result = json.loads(printed.getvalue().strip().splitlines()[-1])
    import micrograd.engine

    result["backend"] = str(getattr(micrograd.engine, "backend", "python"))
    print(json.dumps(result))


# ----------------------------------------------------------------------
# Starting the processes
# ----------------------------------------------------------------------


@contextlib.contextmanager
def engine_selected(pure: bool) -> Iterator[None]:
    """MICROGRAD_PURE=1 (pure) or no MICROGRAD_PURE (native) in os.environ while the next processes start.

    os.environ rather than an env argument: bench_harness's runners build their environment from it.
    """
    before = os.environ.get(PURE_VARIABLE)
    if pure:
        os.environ[PURE_VARIABLE] = "1"
    else:
        os.environ.pop(PURE_VARIABLE, None)
    try:
        yield
    finally:
        os.environ.pop(PURE_VARIABLE, None)
        if before is not None:
            os.environ[PURE_VARIABLE] = before


def run_worker(name: str, engine: str, data: Path, **options: Any) -> Measurement:
    """One workload of work.WORKERS in a fresh process with one engine; harness.run_worker's protocol, here.

    The value is the median of the process's ``times``, or its ``peak_per_node`` when it has no times.
    """
    pythonpath = harness.ORIGINAL if engine == "original" else harness.OURS
    with engine_selected(engine == "pure"):
        env = dict(os.environ, PYTHONPATH=str(pythonpath), **harness.ONE_THREAD)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, str(data), json.dumps(options)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=str(harness.SCRATCH))
    if done.returncode != 0:
        why = harness.last_line(done.stderr)
        raise RowFailed(f"{engine}: worker {name} exited with status {done.returncode}: {why}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(out["micrograd"]).resolve().parent != pythonpath.resolve():
        raise RowFailed(f"{engine}: imported micrograd from {out['micrograd']}, expected it under {pythonpath}")
    value = statistics.median(out["times"]) if "times" in out else float(out["peak_per_node"])
    backend = "original 0.1.0" if engine == "original" else str(out["backend"])
    return Measurement(value, backend, out)


def worker_launch(name: str, engine: str, data: Path, **options: Any) -> Callable[[], Measurement]:
    return lambda: run_worker(name, engine, data, **options)


def announced_backend(stdout: str) -> str:
    """The backend a whole program announced (ANNOUNCE_BACKEND); its engine must be this project's."""
    line = next((line for line in stdout.splitlines() if line.startswith(BACKEND_MARK)), None)
    if line is None:
        raise RowFailed("the process did not announce its backend")
    backend, _, engine_file = line[len(BACKEND_MARK) :].strip().partition(" ")
    if not Path(engine_file).resolve().is_relative_to((harness.OURS / "micrograd").resolve()):
        raise RowFailed(f"the process imported micrograd.engine from {engine_file}, not from {harness.OURS}")
    return backend


def alternate(
    row: Row, contenders: list[Contender], rounds: int, check: Callable[[dict[str, Measurement]], None]
) -> None:
    """Run the contenders A B C, C B A, ... for ``rounds`` rounds, print every run, check each round's outputs."""
    for r in range(rounds):
        done: dict[str, Measurement] = {}
        for contender in contenders if r % 2 == 0 else contenders[::-1]:
            measured = contender.launch()
            series = contender.series
            series.values.append(measured.value)
            series.backends.append(measured.backend)
            done[series.engine] = measured
            print(
                f"{row.name:<9} round {r + 1}/{rounds}  {series.engine:<8}  backend={measured.backend:<15} "
                f"{show(measured.value, row.unit)}",
                flush=True,
            )
        check(done)


def three_columns(baseline: str | None) -> tuple[Series | None, Series, Series]:
    return (Series(baseline) if baseline else None), Series("pure"), Series("native")


# ----------------------------------------------------------------------
# The rows
# ----------------------------------------------------------------------


def microgpt_launch(script: Path, ours: bool, pure: bool, settings: Settings) -> Callable[[], Measurement]:
    def launch() -> Measurement:
        with engine_selected(pure):
            out = mg.run_microgpt(
                script,
                swapped=ours,
                steps=settings.microgpt_steps,
                data=settings.microgpt_input,
                seed=mg.MICROGPT_SEED,
            )
        if out["error"]:
            raise RowFailed(out["error"])
        return Measurement(out["wall"], announced_backend(out["stdout"]) if ours else "its own Value", out)

    return launch


def announce_in_script(swapped: Path) -> None:
    """Put ANNOUNCE_BACKEND right after the lines that mg.swap_value_class put in place of ``class Value``."""
    lines = swapped.read_text().split("\n")
    at = next((i for i, line in enumerate(lines) if mg.SWAP_MARK in line), None)
    if at is None:
        raise RowFailed(f"no {mg.SWAP_MARK!r} line in the swapped script")
    swapped.write_text("\n".join([*lines[: at + 1], ANNOUNCE_BACKEND, *lines[at + 1 :]]))


def measure_microgpt(settings: Settings, data: Path) -> Row:
    steps = settings.microgpt_steps
    target = Target("native >= 10x (aim 20x), pure >= 1x", pure_min_ratio=1.0, native_min_ratio=10.0)
    row = Row("microgpt", f"microgpt.py, {steps} steps, whole process", "s", *three_columns("microgpt"), target)
    try:
        skip, swapped = mg.microgpt_setup(settings.microgpt, settings.microgpt_input)
    except (ValueError, SyntaxError) as e:
        row.failure = f"cannot swap the Value class of {settings.microgpt}: {e}"
        return row
    if swapped is None:
        row.skipped = skip
        return row
    assert row.baseline is not None
    worst = [0.0]
    loops: dict[str, list[float]] = {}

    def check(done: dict[str, Measurement]) -> None:
        for engine in EXPECTED_BACKEND:
            theirs, ours = done["microgpt"].output["stdout"], done[engine].output["stdout"]
            problems, diff = mg.microgpt_parity(theirs, ours, steps)
            if problems:
                raise RowFailed(f"PARITY MISMATCH, {engine} vs microgpt's Value: {'; '.join(problems[:3])}")
            worst[0] = max(worst[0], diff)
        for engine in ("microgpt", *EXPECTED_BACKEND):
            if done[engine].output["loop"] is not None:
                loops.setdefault(engine, []).append(done[engine].output["loop"])

    try:
        announce_in_script(swapped)
        contenders = [Contender(row.baseline, microgpt_launch(settings.microgpt, False, False, settings))]
        contenders += [
            Contender(s, microgpt_launch(swapped, True, s is row.pure, settings)) for s in (row.pure, row.native)
        ]
        alternate(row, contenders, settings.rounds, check)
    except RowFailed as e:
        row.failure = str(e)
    finally:
        shutil.rmtree(swapped.parent, ignore_errors=True)
    row.notes.append(microgpt_note(settings, worst[0], loops))
    return row


def microgpt_note(settings: Settings, worst: float, loops: dict[str, list[float]]) -> str:
    """How the microgpt row was measured, its parity, and the training loop alone (when there are 2+ steps)."""
    steps = settings.microgpt_steps
    loop = ", ".join(f"{engine} {show(statistics.median(values), 'ms')}" for engine, values in loops.items())
    return (
        f"microgpt: NUM_STEPS={steps}, SEED={mg.MICROGPT_SEED}, INPUT={settings.microgpt_input}; value = wall time "
        f"of the whole process (start-up, setup, {steps} steps, 20 sampled names); ratio = microgpt's own Value / "
        f"ours. Parity, every round: all {steps} losses equal to 1e-9 relative (largest relative difference "
        f"{worst:.1e}) and the sampled names identical, pure and native alike."
        + (f" Training loop alone (first to last step line), median per step: {loop}." if loop else "")
    )


def measure_w1(settings: Settings, data: Path) -> Row:
    row = Row(
        "w1",
        "W1 moons step, eager",
        "ms",
        *three_columns("original"),
        Target("native >= 200x original", native_min_ratio=200.0),
    )
    assert row.baseline is not None

    def check(done: dict[str, Measurement]) -> None:
        reference = done["original"].output["losses"]
        for engine in EXPECTED_BACKEND:
            for k, (a, b) in enumerate(zip(reference, done[engine].output["losses"], strict=False)):
                if not math.isclose(a, b, rel_tol=1e-9):
                    raise RowFailed(f"PARITY MISMATCH, {engine}: step {k + 1} loss {b!r}, original {a!r}")

    contenders = [
        Contender(s, worker_launch("w1_eager", s.engine, data, steps=settings.w1_steps[s.engine], gc_enabled=True))
        for s in (row.baseline, row.pure, row.native)
    ]
    try:
        alternate(row, contenders, settings.rounds, check)
    except RowFailed as e:
        row.failure = str(e)
    steps = ", ".join(f"{engine} {n}" for engine, n in settings.w1_steps.items())
    row.notes.append(
        f"W1: bench_workloads.work_w1_eager (MLP(2, [16, 16, 1]), 100 points, default GC); value = median step time in "
        f"each process (steps per process: {steps}); the losses of the steps every engine ran equal the original's "
        "to 1e-9 relative."
    )
    return row


def measure_w2(settings: Settings, data: Path) -> Row:
    row = Row(
        "w2",
        "W2 mixed graph, build + backward",
        "ms",
        *three_columns("original"),
        Target("native >= 15x original", native_min_ratio=15.0),
    )
    assert row.baseline is not None
    sizes: set[int] = set()

    def check(done: dict[str, Measurement]) -> None:
        reference = done["original"].output
        for engine in EXPECTED_BACKEND:
            out = done[engine].output
            if out["nodes"] != reference["nodes"]:
                raise RowFailed(f"{engine} built {out['nodes']:,} nodes, the original {reference['nodes']:,}")
            if not math.isclose(out["checksum"], reference["checksum"], rel_tol=1e-9):
                raise RowFailed(
                    f"PARITY MISMATCH, {engine}: sum of the leaves' gradients {out['checksum']!r}, "
                    f"original {reference['checksum']!r}"
                )
        sizes.add(reference["nodes"])

    contenders = [
        Contender(
            s, worker_launch("w2", s.engine, data, repeats=settings.w2_repeats[s.engine], n_nodes=settings.w2_nodes)
        )
        for s in (row.baseline, row.pure, row.native)
    ]
    try:
        alternate(row, contenders, settings.rounds, check)
    except RowFailed as e:
        row.failure = str(e)
    row.notes.append(
        f"W2: bench_workloads.work_w2, {', '.join(f'{n:,}' for n in sorted(sizes)) or '?'} nodes; value = median of "
        f"{', '.join(f'{engine} {n}' for engine, n in settings.w2_repeats.items())} builds + backward per process "
        "(freeing the graph included); the node count and the sum of the leaves' gradients (to 1e-9) agree."
    )
    return row


def measure_memory(settings: Settings, data: Path) -> Row:
    row = Row(
        "memory",
        "memory per node, W2 build + backward",
        "B",
        *three_columns("original"),
        Target("native <= 128 B/node", native_max_value=128.0),
    )
    assert row.baseline is not None
    runs: dict[str, dict[str, Any]] = {}

    def check(done: dict[str, Measurement]) -> None:
        runs.update({engine: measured.output for engine, measured in done.items()})

    contenders = [
        Contender(s, worker_launch("node_memory", s.engine, data, n_nodes=settings.w2_nodes))
        for s in (row.baseline, row.pure, row.native)
    ]
    try:
        alternate(row, contenders, 1, check)  # tracemalloc counts bytes, not time: one run per engine
    except RowFailed as e:
        row.failure = str(e)
    detail = "; ".join(
        f"{engine}: build alone {out['build_per_node']:.0f} B/node, RSS growth {out['rss_per_node']:.0f} B/node"
        for engine, out in runs.items()
    )
    nodes = ", ".join(sorted({f"{out['nodes']:,}" for out in runs.values()}))
    row.notes.append(
        f"memory: tracemalloc peak over building and differentiating the W2 graph ({nodes} nodes) / nodes, one "
        f"process per engine; ratio = original / engine. {detail}. tracemalloc sees only Python's allocators: "
        "memory a C extension takes from malloc shows only in the RSS growth."
    )
    return row


def gpt_launch(pure: bool, settings: Settings) -> Callable[[], Measurement]:
    """One `micrograd gpt train --engine eager` process (mg.gpt_train_command) that announces its backend."""

    def launch() -> Measurement:
        steps, folder = settings.gpt_steps, Path(tempfile.mkdtemp(prefix="micrograd-engines-gpt-"))
        try:
            command = mg.gpt_train_command(
                "eager", folder / "out", settings.microgpt_input, steps, mg.MICROGPT_SEED
            )
            assert command[1:3] == ["-m", "micrograd"], command
            command[1:3] = ["-c", LAUNCHER]
            with engine_selected(pure):
                done = harness.run_timed(command, harness.program_env(), folder)
            printed = "".join(done["lines"])
            if done["code"] != 0:
                raise RowFailed(
                    f"micrograd gpt train exited with status {done['code']}: {harness.last_line(done['stderr'])}"
                )
            try:
                history = mg.read_gpt_history(folder / "out" / "checkpoint.json")
            except ValueError as e:
                raise RowFailed(str(e)) from None
            stdout = "".join(line + "\n" for line in mg.gpt_history_lines(history, steps)) + printed
            return Measurement(done["wall"] / steps, announced_backend(printed), {"stdout": stdout})
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return launch


def measure_gpt_eager(settings: Settings, data: Path) -> Row:
    steps = settings.gpt_steps
    row = Row(
        "gpt-eager",
        f"micrograd gpt train --engine eager, {steps} steps",
        "ms",
        *three_columns(None),
        Target("native not slower than pure (>= 1x)", native_min_ratio=1.0),
    )
    if not settings.microgpt_input.is_file():
        row.skipped = f"skipped: data {settings.microgpt_input} not found (--microgpt-input PATH)"
        return row
    worst = [0.0]

    def check(done: dict[str, Measurement]) -> None:
        problems, diff = mg.microgpt_parity(done["pure"].output["stdout"], done["native"].output["stdout"], steps)
        if problems:
            raise RowFailed(f"PARITY MISMATCH, native vs pure: {'; '.join(problems[:3])}")
        worst[0] = max(worst[0], diff)

    contenders = [Contender(row.pure, gpt_launch(True, settings)), Contender(row.native, gpt_launch(False, settings))]
    try:
        alternate(row, contenders, settings.rounds, check)
    except RowFailed as e:
        row.failure = str(e)
    row.notes.append(
        f"gpt-eager: `micrograd gpt train --engine eager --steps {steps} --seed {mg.MICROGPT_SEED} --data "
        f"{settings.microgpt_input} --quiet --out TMP`; value = whole-process wall time / steps; ratio = pure / "
        f"native. Parity, every round: the {steps} losses of the checkpoints equal to 1e-9 relative (largest "
        f"relative difference {worst[0]:.1e}) and the sampled names identical."
    )
    return row


MEASURES: dict[str, Callable[[Settings, Path], Row]] = {
    "microgpt": measure_microgpt,
    "w1": measure_w1,
    "w2": measure_w2,
    "memory": measure_memory,
    "gpt-eager": measure_gpt_eager,
}


# ----------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------


def show(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value:.0f} B/node"
    if unit == "s":
        return f"{value:.2f} s"
    ms = value * 1e3
    return f"{ms:.3f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 1000 else f"{ms:.0f} ms"


def times(x: float) -> str:
    return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def value_cell(row: Row, series: Series | None) -> str:
    if series is None:
        return "-"
    wrong = series.wrong_backends()
    return show(series.median(), row.unit) + (f" (**ran {', '.join(wrong)}**)" if wrong else "")


def ratio_cell(row: Row, series: Series) -> str:
    if row.baseline is None and series is row.pure:
        return "(baseline)"
    ratios = row.ratios(series)
    if len(ratios) == 1:
        return times(ratios[0])
    return f"{times(statistics.median(ratios))} ({times(min(ratios))} - {times(max(ratios))})"


def verdict(row: Row) -> str:
    """Met or not met per column the target names; n/a for a column whose runs did not use its backend."""
    target, checks = row.target, []
    if target.pure_min_ratio is not None:
        checks.append(("pure", row.pure, statistics.median(row.ratios(row.pure)) >= target.pure_min_ratio))
    if target.native_min_ratio is not None:
        checks.append(("native", row.native, statistics.median(row.ratios(row.native)) >= target.native_min_ratio))
    if target.native_max_value is not None:
        checks.append(("native", row.native, row.native.median() <= target.native_max_value))
    words = []
    for name, series, passed in checks:
        wrong = series.wrong_backends()
        state = f"n/a (ran {', '.join(wrong)})" if wrong else "met" if passed else "**not met**"
        words.append(f"{name} {state}")
    return "; ".join(words)


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| workload | original / microgpt | pure | native | pure ratio | native ratio | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        if row.skipped or row.failure:
            why = row.skipped or f"**FAILED, no numbers reported**: {row.failure}"
            lines.append(f"| {row.workload} | {why} | | | | | {row.target.text} |")
            continue
        cells = [value_cell(row, s) for s in (row.baseline, row.pure, row.native)]
        cells += [ratio_cell(row, s) for s in (row.pure, row.native)]
        lines.append(f"| {row.workload} | {' | '.join(cells)} | {row.target.text}: {verdict(row)} |")
    return lines


def report(rows: list[Row], settings: Settings, seconds: float, load: tuple[float, float]) -> str:
    backends = {
        engine: sorted({b for row in rows for b in getattr(row, engine).backends}) or ["-"]
        for engine in ("pure", "native")
    }
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; {time.strftime('%Y-%m-%d %H:%M')}; "
        f"{settings.rounds} rounds{' (--quick)' if settings.quick else ''}, {seconds:.0f} s; load average (1 min) "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end.",
        f"Backends that ran: pure ({PURE_VARIABLE}=1) -> {', '.join(backends['pure'])}; native (no {PURE_VARIABLE}) "
        f"-> {', '.join(backends['native'])}.",
        "",
        *table(rows),
        "",
        "Values: medians over the rounds. Ratios: per round, original (or microgpt's own Value; for gpt-eager, pure) "
        "/ the column, so above 1 is faster or smaller; median (min - max) over the rounds.",
        *(note for row in rows if not (row.failure or row.skipped) for note in row.notes),
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------


def row_names(text: str) -> list[str]:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ROW_NAMES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown row {unknown or text!r}; choose from {', '.join(ROW_NAMES)}")
    return names


def parse_args(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 3; 2 with --quick)")
    parser.add_argument("--only", type=row_names, metavar="ROW[,ROW]", help=f"rows among {', '.join(ROW_NAMES)}")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer rounds and steps, smaller graphs")
    parser.add_argument("--microgpt-steps", type=int, metavar="N", help="NUM_STEPS of microgpt.py (10; 3 --quick)")
    parser.add_argument("--gpt-steps", type=int, metavar="N", help="steps of micrograd gpt train (30; 5 --quick)")
    parser.add_argument(
        "--microgpt",
        type=Path,
        default=mg.DEFAULT_MICROGPT,
        metavar="PATH",
        help="Karpathy's microgpt.py (default ../shared/reference/microgpt.py)",
    )
    parser.add_argument(
        "--microgpt-input",
        type=Path,
        default=mg.DEFAULT_MICROGPT_INPUT,
        metavar="PATH",
        help="one name a line, for microgpt.py and gpt train (default ../shared/data/names.txt)",
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    settings = Settings(
        rows=[name for name in ROW_NAMES if name in (args.only or ROW_NAMES)],
        rounds=args.rounds if args.rounds is not None else 2 if quick else 3,
        quick=quick,
        microgpt=args.microgpt.resolve(),
        microgpt_input=args.microgpt_input.resolve(),
        microgpt_steps=args.microgpt_steps or (3 if quick else 10),
        gpt_steps=args.gpt_steps or (5 if quick else 30),
        w1_steps={"original": 1, "pure": 3, "native": 3} if quick else {"original": 3, "pure": 10, "native": 50},
        w2_repeats={"original": 1, "pure": 2, "native": 2} if quick else {"original": 2, "pure": 3, "native": 5},
        w2_nodes=20_000 if quick else 100_000,
    )
    if min(settings.rounds, settings.microgpt_steps, settings.gpt_steps) < 1:
        parser.error("--rounds, --microgpt-steps and --gpt-steps must be at least 1")
    return settings


def prepare(settings: Settings) -> Path:
    """The original micrograd and the moons data for the worker rows; our bytecode for the whole programs."""
    data = harness.SCRATCH / "data.json"
    if set(settings.rows) & {"w1", "w2", "memory"}:
        harness.ensure_original()
        data = harness.make_data()
    if set(settings.rows) & {"microgpt", "gpt-eager"}:
        try:
            harness.precompile_ours()
        except subprocess.CalledProcessError as e:  # a source that does not compile: its rows will say so
            print(f"warning: compileall of src/micrograd failed ({e})", file=sys.stderr)
    return data


def main() -> int:
    if sys.argv[1:2] == ["--worker"]:
        worker_main(sys.argv[2:])
        return 0
    settings = parse_args(sys.argv[1:])
    load_before, started = os.getloadavg()[0], time.perf_counter()
    data = prepare(settings)
    rows = [MEASURES[name](settings, data) for name in settings.rows]
    print()
    print(report(rows, settings, time.perf_counter() - started, (load_before, os.getloadavg()[0])), end="")
    for row in rows:
        if row.failure:
            print(f"FAILED: {row.name}: {row.failure}", file=sys.stderr)
    return 1 if any(row.failure for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
