"""The tables of benchmarks/bench.py: the W rows, W3, memory, microgpt and the gpt rows, in Markdown.

Nothing here measures: every function turns results already gathered into lines of text.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench_harness import Row
from bench_microgpt import MICROGPT_SEED, Comparison


@dataclass
class Results:
    """Everything one run of bench.py measured, as the report needs it."""

    rounds: int
    quick: bool
    rows: list[Row]  # the W1 / W2 rows, each measured once per round
    seconds: float = 0.0
    load: tuple[float, float] = (math.nan, math.nan)  # the 1-minute load average at the start and the end
    w3_ours: dict[str, Any] | None = None
    w3_original: dict[int, dict[str, Any]] | None = None  # by depth
    memory: dict[str, dict[str, Any]] | None = None  # by engine: "eager", "compiled"
    memory_original: dict[str, Any] | None = None
    microgpt: Comparison | None = None
    more: list[str] = field(default_factory=list)  # the gpt tables, already written


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{seconds:.1f} s"


def _times(x: float) -> str:
    return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x"


def _parity_words(comparison: Comparison) -> str:
    return (
        f"all {comparison.steps} losses equal to 1e-9 relative (largest relative difference "
        f"{comparison.worst:.1e}), the {comparison.samples} sampled names identical"
    )


def _spread(theirs: list[dict[str, Any]], ours: list[dict[str, Any]], key: str) -> tuple[float, ...]:
    """Median of each side, then the median, min and max of the per-round ratios theirs / ours."""
    a = [run[key] for run in theirs]
    b = [run[key] for run in ours]
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    return statistics.median(a), statistics.median(b), statistics.median(ratios), min(ratios), max(ratios)


# ----------------------------------------------------------------------
# microgpt.py with our Value
# ----------------------------------------------------------------------


def microgpt_lines(comparison: Comparison, seed: int = MICROGPT_SEED, data: object = "") -> list[str]:
    """The microgpt table (or its one-line skip reason, or its failure, loudly) and a note on how it was measured."""

    def ms(x: float) -> str:
        return f"{x * 1e3:.0f} ms"

    head = [
        "| workload | microgpt's own Value | ours | ratio, median | ratio, min-max over rounds | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    label, target = comparison.label, comparison.target_text
    if comparison.skip:
        return head + [f"| {label} | {comparison.skip} | | | | {target} |"]
    if comparison.failure:
        return head + [f"| {label} | **FAILED, no speed reported**: {comparison.failure} | | | | {target} |"]
    theirs, ours, steps = comparison.theirs, comparison.ours, comparison.steps
    wall = _spread(theirs, ours, "wall")
    cpu = _spread(theirs, ours, "cpu")
    lines = head + [
        f"| {label} | {ms(wall[0] / steps)} per step | {ms(wall[1] / steps)} per step | {wall[2]:.2f}x | "
        f"{wall[3]:.2f}x - {wall[4]:.2f}x | {target} |",
        "",
        f"microgpt: NUM_STEPS={steps}, SEED={seed}, INPUT={data}; per step = whole-process wall "
        f"time / NUM_STEPS (interpreter start, the script's setup, {steps} training steps and its 20 sampled names); "
        "ratio = theirs / ours, per round (above 1: ours is faster).",
        f"Whole process: wall {wall[0]:.1f} s (theirs) vs {wall[1]:.1f} s (ours); "
        f"CPU {cpu[0]:.1f} s vs {cpu[1]:.1f} s, ratio {cpu[2]:.2f}x ({cpu[3]:.2f}x - {cpu[4]:.2f}x).",
    ]
    if all(run["loop"] is not None for run in theirs + ours):
        loop = _spread(theirs, ours, "loop")
        lines.append(
            f"Training loop alone (arrival of the first to the last step line): {ms(loop[0])} vs {ms(loop[1])} "
            f"per step, ratio {loop[2]:.2f}x ({loop[3]:.2f}x - {loop[4]:.2f}x)."
        )
    lines.append(f"Parity, every round: {_parity_words(comparison)}. Ours imported Value from {ours[0]['micrograd']}.")
    return lines


# ----------------------------------------------------------------------
# micrograd gpt train against microgpt.py
# ----------------------------------------------------------------------


def gpt_row(comparison: Comparison) -> tuple[str, str | None]:
    """One gpt table row, and its note (None for a row without a speed)."""
    label, target = comparison.label, comparison.target_text
    if comparison.skip:
        return f"| {label} | {comparison.skip} | | | | | {target} |", None
    if comparison.failure:
        return f"| {label} | **FAILED, no speed reported**: {comparison.failure} | | | | | {target} |", None
    theirs, ours, steps = comparison.theirs, comparison.ours, comparison.steps
    wall = _spread(theirs, ours, "wall")
    cpu = _spread(theirs, ours, "cpu")
    verdict = "met" if wall[2] >= comparison.target else "**not met**"
    row = (
        f"| {label} | {_ms(wall[0] / steps)} per step | {_ms(wall[1] / steps)} per step | "
        f"{_times(wall[2])} | {_times(wall[3])} - {_times(wall[4])} | "
        f"{_times(cpu[2])} ({_times(cpu[3])} - {_times(cpu[4])}) | {target}: {verdict} |"
    )
    note = (
        f"{label}: whole process {wall[1]:.2f} s wall, {cpu[1]:.2f} s CPU (microgpt.py "
        f"{wall[0]:.1f} s wall, {cpu[0]:.1f} s CPU). Parity, every round: {_parity_words(comparison)}."
    )
    return row, note


def gpt_lines(comparisons: list[Comparison], seed: int, data: object, micrograd: object) -> list[str]:
    """The table of the gpt-eager / gpt-<array engine> rows (a failed row says so instead of a speed) and its notes."""
    lines = [
        "| workload | microgpt.py | ours | ratio, median | ratio, min-max over rounds | CPU ratio, median (min-max) "
        "| target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for comparison in comparisons:
        row, note = gpt_row(comparison)
        lines.append(row)
        notes += [note] if note else []
    steps = comparisons[0].steps if comparisons else 0
    lines += [
        "",
        f"gpt rows: `micrograd gpt train --engine E --steps {steps} --seed {seed} --data {data} "
        f"--quiet --out TMP` against microgpt.py with NUM_STEPS={steps}, SEED={seed}, INPUT the same file, "
        "alternating fresh processes; per step = whole-process wall time / steps (interpreter start, setup, "
        "the training steps and the 20 sampled names); ratio = microgpt.py / ours, per round. "
        f"Ours imported micrograd from {micrograd}.",
        *notes,
    ]
    return lines


def gpt_full_lines(theirs: dict[str, Any], comparisons: list[Comparison], steps: int) -> list[str]:
    """The full default run: one process each, total wall and CPU time."""
    lines = [
        f"| full default run, one process each: {steps:,} steps + 20 names | wall | CPU | "
        "microgpt.py / ours, wall | microgpt.py / ours, CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    if theirs["error"]:
        return lines + [f"| microgpt.py | **FAILED**: {theirs['error']} | | | |"]
    lines.append(
        f"| microgpt.py, NUM_STEPS={steps}, SEED={MICROGPT_SEED} | {_duration(theirs['wall'])} | "
        f"{_duration(theirs['cpu'])} | | |"
    )
    notes = []
    for comparison in comparisons:
        label = f"`{comparison.label}`"
        if comparison.failure:
            lines.append(f"| {label} | **FAILED, no time reported**: {comparison.failure} | | | |")
            continue
        ours = comparison.ours[0]
        lines.append(
            f"| {label} | {_duration(ours['wall'])} | {_duration(ours['cpu'])} | "
            f"{_times(theirs['wall'] / ours['wall'])} | {_times(theirs['cpu'] / ours['cpu'])} |"
        )
        notes.append(f"{comparison.engine}: {_parity_words(comparison)}")
    lines += [
        "",
        "gpt-full: ours with no --steps, --seed or --quiet (defaults 1,000 and 42, progress bar on stderr), the same "
        "data file as microgpt.py; one round, so each ratio is one measurement (on a loaded machine the CPU "
        "ratio is the steadier one)." + (" Parity: " + "; ".join(notes) + "." if notes else ""),
    ]
    return lines


def gpt_memory_lines(memory: dict[str, dict[str, Any]]) -> list[str]:
    """RSS over a GPT training run per engine: first, last and highest sample, then every sample."""
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
# The whole report
# ----------------------------------------------------------------------


def _step_ms(x: float) -> str:
    return f"{x * 1e3:.3f}" if x < 0.01 else f"{x * 1e3:.1f}" if x < 1 else f"{x * 1e3:.0f}"


def machine_line(results: Results) -> str:
    load = results.load
    return (
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; {time.strftime('%Y-%m-%d %H:%M')}; {results.rounds} rounds"
        f"{' (--quick)' if results.quick else ''}, {results.seconds:.0f} s; load average (1 min) {load[0]:.1f} at "
        f"the start, {load[1]:.1f} at the end."
    )


def row_lines(rows: list[Row]) -> list[str]:
    """The table of the W1 / W2 rows: median time per step, and the ratio to each row's baseline."""
    if not rows:
        return []
    lines = [
        "",
        "| workload | median per step | vs | ratio, median | ratio, min-max over rounds |",
        "|---|---:|---|---:|---:|",
    ]
    by_label = {row.label: row for row in rows}
    for row in rows:
        median = statistics.median(row.times)
        unit = "ms" if not row.label.startswith("W2") else "ms (build + backward)"
        if not row.baseline:
            lines.append(f"| {row.label} | {_step_ms(median)} {unit} | | | |")
            continue
        ratios = [b / a for a, b in zip(row.times, by_label[row.baseline].times, strict=False)]
        lines.append(
            f"| {row.label} | {_step_ms(median)} {unit} | {row.baseline} | {_times(statistics.median(ratios))} | "
            f"{_times(min(ratios))} - {_times(max(ratios))} |"
        )
    return lines


def size_lines(rows: list[Row]) -> list[str]:
    """The graph sizes, and the compile cost of each compiled W1 row next to one eager step."""
    by_label = {row.label: row for row in rows}
    sizes = []
    if "W1 eager, default GC" in by_label:
        sizes.append(f"W1 {by_label['W1 eager, default GC'].runs[0]['nodes']:,} nodes per step (eager)")
    if "W2 eager" in by_label:
        sizes.append(f"W2 {by_label['W2 eager'].runs[0]['nodes']:,} nodes, all reachable from the output")
    lines = ["", f"Graph sizes: {'; '.join(sizes)}."] if sizes else []
    for row in rows:
        if row.worker != "w1_compiled":
            continue
        compile_times = [run["compile"] for run in row.runs]
        eager_steps = [run["eager_step"] for run in row.runs]
        lines.append(
            f"{row.label}: compile (record two examples + generate + compile the code) "
            f"median {_step_ms(statistics.median(compile_times))} ms "
            f"vs one eager step in the same process {_step_ms(statistics.median(eager_steps))} ms "
            f"(ratio {statistics.median(c / e for c, e in zip(compile_times, eager_steps, strict=False)):.2f})."
        )
    return lines


def w3_lines(ours: dict[str, Any], original: dict[int, dict[str, Any]]) -> list[str]:
    line = (
        f"W3 chain: {ours['depth']:,} additions forward + backward at recursion limit "
        f"{ours['recursion_limit']}: "
        f"{'exact gradient ' + repr(ours['grad']) if ours['ok'] else 'FAILED'} "
        f"in {ours.get('seconds', 0):.1f} s. "
    )
    original_ok = [d for d, r in original.items() if r["ok"]]
    original_bad = [d for d, r in original.items() if not r["ok"]]
    line += f"Original: depth {max(original_ok) if original_ok else 'none'} works"
    line += f", {min(original_bad):,} raises RecursionError." if original_bad else "."
    return ["", line]


def memory_lines(memory: dict[str, dict[str, Any]], original: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "| memory | eager (ours) | original |",
        "|---|---:|---:|",
        f"| tracemalloc peak per node, W2 build + backward | {memory['eager']['peak_per_node']:.0f} B | "
        f"{original['peak_per_node']:.0f} B |",
    ]
    for name, title in (("eager", "eager"), ("compiled", "compiled (generated Python)")):
        rss = memory[name]["rss"]
        growth = (rss[-1][1] - rss[0][1]) / 2**20
        lines.append(
            f"| RSS over W1 steps, {title}: step {rss[0][0]} -> {rss[-1][0]} | "
            f"{rss[0][1] / 2**20:.1f} -> {rss[-1][1] / 2**20:.1f} MB "
            f"({growth:+.1f} MB) | |"
        )
    rss = original["rss"]
    lines.append(
        f"| RSS over W1 steps, original (default GC): step {rss[0][0]} -> {rss[-1][0]} | | "
        f"{rss[0][1] / 2**20:.1f} -> {rss[-1][1] / 2**20:.1f} MB |"
    )
    return lines


def report(results: Results, seed: int = MICROGPT_SEED, data: object = "") -> str:
    """The whole Markdown report; ``seed`` and ``data`` are what the microgpt row ran with."""
    lines = [machine_line(results), *row_lines(results.rows), *size_lines(results.rows)]
    if results.w3_ours is not None and results.w3_original is not None:
        lines += w3_lines(results.w3_ours, results.w3_original)
    if results.memory is not None and results.memory_original is not None:
        lines += memory_lines(results.memory, results.memory_original)
    if results.microgpt is not None:
        lines += ["", *microgpt_lines(results.microgpt, seed, data)]
    lines += results.more
    return "\n".join(lines) + "\n"
