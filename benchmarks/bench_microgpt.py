"""The microgpt comparison: Karpathy's microgpt.py (somebody else's whole program using a scalar
autograd) against the same script with our Value swapped in, and against our own command for the
same model and run, ``micrograd gpt train``.

microgpt.py is not part of this repository: it is read at run time from the path given, and the
swapped copy is written to a temporary folder outside the repository. Every comparison checks
parity first, in every round: every step's loss to 1e-9 relative and the sampled names exactly;
a mismatch fails the row instead of giving a speed.
"""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_harness import OURS, ROOT, last_line, program_env, run_timed

MICROGPT_THEIRS = "microgpt.py, its own Value, default GC"
MICROGPT_OURS = "microgpt.py, Value swapped for ours, default GC"
MICROGPT_TARGET = ">= 1.5x (aim 2x)"
MICROGPT_SEED = 42
DEFAULT_MICROGPT = ROOT.parent / "shared" / "reference" / "microgpt.py"
DEFAULT_MICROGPT_INPUT = ROOT.parent / "shared" / "data" / "names.txt"
SWAP_MARK = "[bench] Value imported from "  # the swapped script prints this + the file that defines Value
STEP_LINE = re.compile(r"^step\s+(\d+)\s*/\s*\d+\s*\|\s*loss\s+(\S+)\s*$")
SAMPLE_LINE = re.compile(r"^sample\s+\d+:")

# The GPT's array engine, by the name `micrograd gpt train --engine` knows it (its old name
# "compiled" still works until 1.2, with a one-line note; the workload gpt-compiled still picks this row).
GPT_ARRAY_ENGINE = "numpy"
GPT_ENGINES = ("eager", GPT_ARRAY_ENGINE)
GPT_TARGETS = {"eager": 10.0, GPT_ARRAY_ENGINE: 50.0}  # how many times faster than microgpt.py, whole runs
GPT_DEFAULT_STEPS = 1000  # `micrograd gpt train` without --steps (and microgpt.py without NUM_STEPS)


@dataclass
class Comparison:
    """One row compared with microgpt.py as it is: the runs of both sides, round by round, and their parity.

    ``skip`` (the script or its data is missing) or ``failure`` (a process failed, or the two
    disagree on a loss or a sampled name) is reported instead of a speed.
    """

    label: str
    steps: int
    target: float  # the ratio microgpt.py / ours to reach
    target_text: str
    engine: str = ""  # the `micrograd gpt train --engine` of a gpt row
    theirs: list[dict[str, Any]] = field(default_factory=list)
    ours: list[dict[str, Any]] = field(default_factory=list)
    skip: str | None = None
    failure: str | None = None
    worst: float = 0.0  # the largest relative difference between two losses of the same step
    samples: int = 0  # how many sampled names were compared


def gpt_comparison(engine: str, steps: int) -> Comparison:
    target = GPT_TARGETS[engine]
    return Comparison(gpt_label(engine), steps, target, f">= {target:.0f}x", engine=engine)


def microgpt_comparison(steps: int) -> Comparison:
    return Comparison(MICROGPT_OURS, steps, 1.5, MICROGPT_TARGET)


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
        name_a = samples_a[i] if i < len(samples_a) else "(none)"
        name_b = samples_b[i] if i < len(samples_b) else "(none)"
        problems.append(f"sampled names differ: {name_a!r} (theirs) vs {name_b!r} (ours)")
    return problems, worst



def check_round(comparison: Comparison, theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    """One round's two runs must print the same losses (to 1e-9) and the same names; else the row fails."""
    problems, worst = microgpt_parity(theirs["stdout"], ours["stdout"], comparison.steps)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        comparison.failure = "PARITY MISMATCH, " + "; ".join(problems[:3]) + more
        return
    comparison.worst = max(comparison.worst, worst)
    comparison.samples = len(parse_microgpt_output(ours["stdout"])[1])


# ----------------------------------------------------------------------
# microgpt.py, as it is and with our Value
# ----------------------------------------------------------------------


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
        out["error"] = f"{who} ({script.name}) exited with status {done['code']}: {last_line(done['stderr'])}"
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


# ----------------------------------------------------------------------
# micrograd gpt train: the microgpt model and run as our own command
# ----------------------------------------------------------------------


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
            out["error"] = f"{gpt_label(engine)} exited with status {done['code']}: {last_line(done['stderr'])}"
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


def run_gpt_full(
    script: Path, data: Path, engines: tuple[str, ...], started: float
) -> tuple[dict[str, Any], list[Comparison]]:
    """One round of the full default run: microgpt.py's 1,000 steps, then ``micrograd gpt train`` per engine.

    Ours run as a user types it: no --steps, --seed or --quiet (the progress bar goes to
    stderr), only --engine, --data (the same file as microgpt.py's INPUT) and a temporary --out.
    Returns microgpt.py's run and one comparison per engine (its one run in ``ours``).
    """
    theirs = run_microgpt(script, swapped=False, steps=GPT_DEFAULT_STEPS, data=data, seed=MICROGPT_SEED)
    print(f"gpt-full: microgpt.py done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    comparisons = []
    for engine in engines:
        comparison = gpt_comparison(engine, GPT_DEFAULT_STEPS)
        comparisons.append(comparison)
        if theirs["error"]:
            comparison.failure = theirs["error"]
            continue
        ours = run_gpt_train(engine, data, quiet=False)
        comparison.theirs, comparison.ours = [theirs], [ours]
        if ours["error"]:
            comparison.failure = ours["error"]
        else:
            check_round(comparison, theirs, ours)
        print(f"gpt-full: {engine} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return theirs, comparisons
