"""Speed and memory of this micrograd against the original micrograd 0.1.0 (and PyTorch, for reference).

    python benchmarks/bench.py              # the full run (a few minutes)
    python benchmarks/bench.py --quick      # a smoke run: fewer rounds and steps, smaller graphs
    python benchmarks/bench.py --rounds 7 --markdown results.md
    python benchmarks/bench.py --only microgpt --rounds 3   # one workload (see WORKLOADS)
    python benchmarks/bench.py --only gpt-eager,gpt-numpy --rounds 3 --gpt-steps 30
    python benchmarks/bench.py --only gpt-full              # the 1,000-step default runs (about ten minutes)

The program is five modules: this driver (the command line, the rows, the rounds),
bench_harness.py (processes, environments, timing), bench_workloads.py (the W1, W2, W3
and memory workloads, run in child processes), bench_microgpt.py (the microgpt.py
comparisons) and bench_report.py (the tables).

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
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_harness import (
    ORIGINAL,
    OURS,
    SCRATCH,
    Row,
    ensure_original,
    has_module,
    imported_micrograd,
    last_line,
    make_data,
    precompile_ours,
    run_worker,
)
from bench_microgpt import (
    DEFAULT_MICROGPT,
    DEFAULT_MICROGPT_INPUT,
    GPT_ARRAY_ENGINE,
    GPT_DEFAULT_STEPS,
    GPT_ENGINES,
    MICROGPT_SEED,
    MICROGPT_THEIRS,
    Comparison,
    check_round,
    gpt_comparison,
    microgpt_comparison,
    microgpt_setup,
    missing_reference,
    run_gpt_full,
    run_gpt_train,
    run_microgpt,
)
from bench_report import Results, gpt_full_lines, gpt_lines, gpt_memory_lines, report

GPT_WORKLOADS = tuple(f"gpt-{engine}" for engine in GPT_ENGINES)
WORKLOADS = ("w1", "w2", "w3", "memory", "microgpt", *GPT_WORKLOADS, "gpt-memory", "gpt-full")
DEFAULT_WORKLOADS = WORKLOADS[:-1]  # gpt-full (about ten minutes) only when asked for by name
QUICK_WORKLOADS = WORKLOADS[:5]  # --quick stays a smoke run of a few seconds a row: no gpt rows unless named
# Both names of the GPT's array engine choose its row, whichever GPT_ARRAY_ENGINE is.
WORKLOAD_SPELLINGS = {"gpt-compiled": f"gpt-{GPT_ARRAY_ENGINE}", "gpt-numpy": f"gpt-{GPT_ARRAY_ENGINE}"}


def workload_names(text: str) -> set[str]:
    """``--only w1,microgpt``: a comma-separated choice among WORKLOADS."""
    names = {name.strip().lower() for name in text.split(",") if name.strip()}
    names = {WORKLOAD_SPELLINGS.get(name, name) for name in names}
    unknown = names - set(WORKLOADS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown workload {sorted(unknown) or text!r}; choose from {', '.join(WORKLOADS)}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
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
        help=f"training steps of each process in the {' and '.join(GPT_WORKLOADS)} rows (default 30; 5 with --quick)",
    )
    return parser


@dataclass
class Settings:
    """What the command line asked for, checked."""

    rounds: int
    quick: bool
    selected: set[str]
    microgpt_steps: int
    gpt_steps: int
    script: Path  # microgpt.py
    names: Path  # its data
    markdown: Path | None

    @classmethod
    def parse(cls, argv: Sequence[str] | None = None) -> Settings:
        parser = build_parser()
        args = parser.parse_args(argv)
        quick = args.quick
        rounds = 2 if quick and args.rounds == 5 else args.rounds
        default = QUICK_WORKLOADS if quick else DEFAULT_WORKLOADS
        settings = cls(
            rounds=rounds,
            quick=quick,
            selected=set().union(*args.only) if args.only else set(default),
            microgpt_steps=args.microgpt_steps or (5 if quick else 30),
            gpt_steps=args.gpt_steps if args.gpt_steps is not None else 5 if quick else 30,
            script=args.microgpt.resolve(),
            names=args.microgpt_input.resolve(),
            markdown=args.markdown,
        )
        checked = {"--rounds": rounds, "--microgpt-steps": settings.microgpt_steps, "--gpt-steps": settings.gpt_steps}
        for flag, value in checked.items():
            if value < 1:
                parser.error(f"{flag} must be at least 1")
        return settings

    def steps(self, what: str) -> int:
        """Steps (or repeats, sizes) of each measured process, full or --quick."""
        full, quick = SIZES[what]
        return quick if self.quick else full


SIZES = {  # (full, --quick)
    "original_gc": (3, 1),
    "original_nogc": (5, 1),
    "eager": (10, 3),
    "python": (40, 5),
    "numpy": (300, 20),
    "torch_scalar": (3, 1),
    "torch_batched": (300, 20),
    "w2_nodes": (100_000, 20_000),
    "w2_original": (2, 1),
    "w2_eager": (3, 2),
    "w3_depth": (1_000_000, 100_000),
    "memory_steps": (1000, 50),
    "memory_original_steps": (20, 2),
    "gpt_memory_steps": (GPT_DEFAULT_STEPS, 100),
}


# ----------------------------------------------------------------------
# The rows
# ----------------------------------------------------------------------


def w_rows(settings: Settings, original: Path) -> list[Row]:
    """The W1 and W2 rows selected, each with the baseline its ratio is taken against."""
    s, rows = settings.steps, []
    if "w1" in settings.selected:
        gc_on, gc_off = "W1 original, default GC", "W1 original, GC disabled"
        rows += [
            Row(gc_on, "w1_eager", original, {"steps": s("original_gc"), "gc_enabled": True}),
            Row("W1 eager, default GC", "w1_eager", OURS, {"steps": s("eager"), "gc_enabled": True}, gc_on),
            Row(gc_off, "w1_eager", original, {"steps": s("original_nogc"), "gc_enabled": False}),
            Row("W1 eager, GC disabled", "w1_eager", OURS, {"steps": s("eager"), "gc_enabled": False}, gc_off),
            Row("W1 compiled, pure Python", "w1_compiled", OURS, {"steps": s("python"), "engine": "compiled"}, gc_on),
        ]
        if has_module("numpy"):
            rows.append(
                Row("W1 compiled, numpy batch", "w1_compiled", OURS, {"steps": s("numpy"), "engine": "numpy"}, gc_on)
            )
        if has_module("torch"):
            rows += [
                Row("W1 PyTorch, 0-d tensors", "w1_torch", OURS, {"steps": s("torch_scalar"), "batched": False}, gc_on),
                Row("W1 PyTorch, batched", "w1_torch", OURS, {"steps": s("torch_batched"), "batched": True}, gc_on),
            ]
    if "w2" in settings.selected:
        nodes = s("w2_nodes")
        rows.append(Row("W2 original", "w2", original, {"repeats": s("w2_original"), "n_nodes": nodes}))
        rows.append(Row("W2 eager", "w2", OURS, {"repeats": s("w2_eager"), "n_nodes": nodes}, "W2 original"))
    return rows


def theirs_row(rows: list[Row], settings: Settings, steps: int) -> Row:
    """The row of microgpt.py as it is with NUM_STEPS=steps: one process per round serves every row compared with it."""
    options = {"steps": steps, "data": settings.names, "seed": MICROGPT_SEED, "swapped": False}
    for row in rows:
        if row.worker == "microgpt" and row.options == options:
            return row
    taken = any(row.label == MICROGPT_THEIRS for row in rows)
    label = f"{MICROGPT_THEIRS}, NUM_STEPS={steps}" if taken else MICROGPT_THEIRS
    row = Row(label, "microgpt", settings.script, options)
    rows.append(row)
    return row


def pair(theirs: Row, ours: Row, comparison: Comparison) -> None:
    """Each round's runs of the two rows go to the comparison, which checks their parity."""
    ours.baseline = theirs.label
    theirs.feeds.append((comparison, "theirs"))
    ours.feeds.append((comparison, "ours"))


def microgpt_rows(rows: list[Row], settings: Settings) -> tuple[Comparison, Path | None]:
    """microgpt.py with our Value against it as it is; also the temporary folder of the swapped script."""
    comparison = microgpt_comparison(settings.microgpt_steps)
    try:
        comparison.skip, swapped = microgpt_setup(settings.script, settings.names)
    except (ValueError, SyntaxError) as e:
        comparison.failure, swapped = f"cannot swap the Value class of {settings.script}: {e}", None
    if swapped is not None:
        options = {"steps": settings.microgpt_steps, "data": settings.names, "seed": MICROGPT_SEED, "swapped": True}
        theirs = theirs_row(rows, settings, settings.microgpt_steps)
        ours = Row(comparison.label, "microgpt", swapped, options)
        rows.append(ours)
        pair(theirs, ours, comparison)
    return comparison, None if swapped is None else swapped.parent


def gpt_rows(rows: list[Row], settings: Settings) -> tuple[list[Comparison], Path | None]:
    """`micrograd gpt train --engine E` against microgpt.py, per selected engine; also where ours imports micrograd."""
    engines = [engine for engine in GPT_ENGINES if f"gpt-{engine}" in settings.selected]
    comparisons = [gpt_comparison(engine, settings.gpt_steps) for engine in engines]
    if not comparisons:
        return [], None
    skip = missing_reference(settings.script, settings.names)
    micrograd = imported_micrograd()
    for comparison in comparisons:
        comparison.skip = skip
        if micrograd != (OURS / "micrograd").resolve():
            comparison.failure = f"python -m micrograd imports {micrograd}, not {OURS / 'micrograd'}"
        if skip:
            continue
        theirs = theirs_row(rows, settings, settings.gpt_steps)
        options = {"engine": comparison.engine, "steps": settings.gpt_steps, "data": settings.names,
                   "seed": MICROGPT_SEED}
        ours = Row(comparison.label, "gpt", OURS, options)
        rows.append(ours)
        pair(theirs, ours, comparison)
    return comparisons, micrograd


# ----------------------------------------------------------------------
# The rounds
# ----------------------------------------------------------------------


def measure(row: Row, data: Path) -> dict[str, Any]:
    """One fresh process of the row; a whole program's failure comes back in its ``error``."""
    if row.worker == "microgpt":
        return run_microgpt(row.path, **row.options)
    if row.worker == "gpt":
        options = row.options
        return run_gpt_train(options["engine"], options["data"], options["steps"], options["seed"])
    return run_worker(row.worker, row.path, data, **row.options)


def run_rounds(rows: list[Row], rounds: int, data: Path, started: float) -> None:
    """Every row once per round, the order flipped each round; then each comparison's parity, every round."""
    comparisons = list({id(c): c for row in rows for c, _ in row.feeds}.values())
    for r in range(rounds):
        for row in rows if r % 2 == 0 else rows[::-1]:  # drift over time hits both sides alike
            if row.feeds and all(c.failure for c, _ in row.feeds):
                continue  # reported once, instead of a speed; the other rows go on
            out = measure(row, data)
            if out.get("error"):
                for comparison, _ in row.feeds:
                    comparison.failure = comparison.failure or out["error"]
                continue
            row.times.append(statistics.median(out["times"]))
            row.runs.append(out)
            for comparison, side in row.feeds:
                getattr(comparison, side).append(out)
        for comparison in comparisons:  # parity before any speed
            if not comparison.failure:
                check_round(comparison, comparison.theirs[-1], comparison.ours[-1])
        if rows:
            print(f"round {r + 1}/{rounds} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


def check_agreement(rows: list[Row]) -> None:
    """The engines must agree before their speeds are compared: W1's first loss, W2's graph size."""
    by_label = {row.label: row for row in rows}
    w1 = [row for row in rows if row.label.startswith("W1")]
    if w1:
        reference = by_label["W1 original, default GC"].runs[0]["losses"][0]
        for row in w1:
            loss = row.runs[0]["losses"][0]
            if not math.isclose(loss, reference, rel_tol=1e-9):
                raise RuntimeError(f"{row.label}: first loss {loss!r} differs from the original's {reference!r}")
    if "W2 eager" in by_label and by_label["W2 original"].runs[0]["nodes"] != by_label["W2 eager"].runs[0]["nodes"]:
        raise RuntimeError("W2: the two engines built graphs of different sizes")


def measure_once(settings: Settings, results: Results, original: Path, data: Path) -> None:
    """W3 and memory: one process each (a depth that works or not; bytes, which do not jitter)."""
    if "w3" in settings.selected:
        results.w3_ours = run_worker("w3", OURS, data, depth=settings.steps("w3_depth"))
        results.w3_original = {d: run_worker("w3", original, data, depth=d) for d in (500, 1000, 2000)}
    if "memory" in settings.selected:
        nodes = settings.steps("w2_nodes")
        results.memory = {
            name: run_worker("memory", OURS, data, n_nodes=nodes, steps=settings.steps("memory_steps"), engine=name)
            for name in ("eager", "compiled")
        }
        results.memory_original = run_worker(
            "memory", original, data, n_nodes=nodes, steps=settings.steps("memory_original_steps"), engine="eager"
        )


def gpt_memory(settings: Settings, failures: list[str]) -> list[str]:
    """RSS over a GPT training run, per engine, one process each."""
    memory: dict[str, dict[str, Any]] = {}
    memory_file = SCRATCH / "gpt.json"
    memory_file.parent.mkdir(parents=True, exist_ok=True)
    memory_file.write_text(json.dumps({"seed": MICROGPT_SEED}))
    steps = settings.steps("gpt_memory_steps")
    for engine in GPT_ENGINES:
        try:
            memory[engine] = run_worker("gpt_memory", OURS, memory_file, steps=steps, every=steps // 10, engine=engine)
        except RuntimeError as e:
            memory[engine] = {"failure": last_line(str(e))}
            failures.append(f"gpt-memory, engine {engine}: {memory[engine]['failure']}")
    return ["", *gpt_memory_lines(memory)]


def gpt_full(settings: Settings, started: float, failures: list[str]) -> list[str]:
    """One round of the full default run, microgpt.py's 1,000 steps against each engine's."""
    skip = missing_reference(settings.script, settings.names)
    if skip:
        return ["", f"gpt-full: {skip}"]
    theirs, comparisons = run_gpt_full(settings.script, settings.names, GPT_ENGINES, started)
    if theirs["error"]:
        failures.append(f"gpt-full, microgpt.py: {theirs['error']}")
    failures += [
        f"gpt-full, {c.engine}: {c.failure}" for c in comparisons if c.failure and c.failure != theirs["error"]
    ]
    return ["", *gpt_full_lines(theirs, comparisons, GPT_DEFAULT_STEPS)]


# ----------------------------------------------------------------------
# main
# ----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings.parse(argv)
    load_before, started = os.getloadavg()[0], time.perf_counter()
    original, data = ORIGINAL, SCRATCH / "data.json"
    if settings.selected & {"w1", "w2", "w3", "memory"}:  # the microgpt and gpt rows need neither
        original, data = ensure_original(), make_data()
    rows = w_rows(settings, original)
    microgpt, swapped_folder = microgpt_rows(rows, settings) if "microgpt" in settings.selected else (None, None)
    gpt, micrograd = gpt_rows(rows, settings)
    if any(row.worker in ("microgpt", "gpt") for row in rows) or "gpt-full" in settings.selected:
        precompile_ours()
    try:
        run_rounds(rows, settings.rounds, data, started)
    finally:
        if swapped_folder is not None:
            shutil.rmtree(swapped_folder, ignore_errors=True)
    check_agreement(rows)
    results = Results(settings.rounds, settings.quick, [row for row in rows if row.worker not in ("microgpt", "gpt")])
    results.microgpt = microgpt
    measure_once(settings, results, original, data)
    failures = [f"{c.label}: {c.failure}" for c in gpt if c.failure]
    if gpt:
        results.more += ["", *gpt_lines(gpt, MICROGPT_SEED, settings.names, micrograd)]
    if "gpt-memory" in settings.selected:
        results.more += gpt_memory(settings, failures)
    if "gpt-full" in settings.selected:
        results.more += gpt_full(settings, started, failures)
    results.seconds, results.load = time.perf_counter() - started, (load_before, os.getloadavg()[0])
    table = report(results, MICROGPT_SEED, settings.names)
    print(table)
    if settings.markdown:
        settings.markdown.write_text(table)
    messages = [f"MICROGPT FAILED: {microgpt.failure}"] if microgpt is not None and microgpt.failure else []
    messages += [f"GPT FAILED: {failure}" for failure in failures]
    for message in messages:
        print(message, file=sys.stderr)
    return 1 if messages else 0


def run_main() -> int:
    """main, with a failure (a process failed, or two engines disagree) told in one line, not a traceback."""
    try:
        return main()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        print(f"bench.py: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run_main())
