"""The pure parts of benchmarks/bench.py's microgpt and gpt rows: swapping the Value class, the parity
check, the command lines and the tables (bench_microgpt.py, bench_report.py, the driver's choices).

No timing and no real microgpt.py here: a small synthetic script and made-up outputs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))  # the benchmark's modules import each other by name, as a script does
import bench  # noqa: E402
import bench_microgpt as mg  # noqa: E402
from bench_report import gpt_full_lines, gpt_lines, gpt_memory_lines, microgpt_lines  # noqa: E402

SCRIPT = """import math
import random
random.seed(1)

# an autograd of its own
class Value:
    __slots__ = ('data',)

    def __init__(self, data):
        self.data = data

    # a comment inside the body

    def __add__(self, other):
        return Value(self.data + other.data)
# right after the class, at the top level
def double(v):
    class Value:  # a nested class of the same name is not the one to swap
        pass
    return v + v

print(double(Value(2.0)).data)
"""


def test_swap_cuts_exactly_the_class_block_and_imports_ours() -> None:
    out = mg.swap_value_class(SCRIPT)
    lines = out.split("\n")
    assert lines[:5] == ["import math", "import random", "random.seed(1)", "", "# an autograd of its own"]
    assert lines[5].startswith("from micrograd import Value")
    assert lines[6].startswith("print(") and mg.SWAP_MARK in lines[6]
    after = SCRIPT.split("\n")[15:]  # from '# right after the class' on, untouched
    assert after[0] == "# right after the class, at the top level"
    assert lines[7:] == after
    assert "__slots__" not in out and "def __add__" not in out and "a comment inside the body" not in out
    assert out.count("class Value") == 1  # the nested one stays
    compile(out, "swapped.py", "exec")


def test_swap_takes_decorators_and_crlf_along() -> None:
    script = "import x\r\n@decorate\r\nclass Value:\r\n    pass\r\n\r\nprint(Value)\r\n"
    out = mg.swap_value_class(script)
    assert "@decorate" not in out and "class Value" not in out
    assert out.startswith("import x\r\nfrom micrograd import Value")
    assert out.endswith("\r\n\r\nprint(Value)\r\n")
    assert all(line.endswith("\r") for line in out.split("\n")[:-1])  # no bare LF put in


@pytest.mark.parametrize(
    "script",
    ["x = 1\n", "def f():\n    class Value:\n        pass\n", "class Value:\n    pass\nclass Value:\n    pass\n"],
)
def test_swap_refuses_a_script_without_exactly_one_top_level_value(script: str) -> None:
    with pytest.raises(ValueError, match="class Value"):
        mg.swap_value_class(script)


def _output(losses: list[float], names: list[str]) -> str:
    lines = ["num docs: 3", "vocab size: 4", "num params: 10"]
    lines += [f"step {k + 1:4d} / {len(losses):4d} | loss {loss:.12f}" for k, loss in enumerate(losses)]
    lines += ["", "--- inference (new, hallucinated names) ---"]
    lines += [f"sample {k + 1:2d}: {name}" for k, name in enumerate(names)]
    return "\n".join(lines) + "\n"


LOSSES = [3.3, 3.1234567890125, 2.9]
NAMES = ["anna", "", "bob"]


def test_parse_reads_every_loss_and_sample_line() -> None:
    losses, samples = mg.parse_microgpt_output(_output(LOSSES, NAMES))
    assert losses == [(1, 3.3), (2, 3.123456789012), (3, 2.9)]  # 12 digits, as printed
    assert samples == ["sample  1: anna", "sample  2: ", "sample  3: bob"]


def test_parity_accepts_equal_runs_and_differences_below_1e_9() -> None:
    assert mg.microgpt_parity(_output(LOSSES, NAMES), _output(LOSSES, NAMES), 3) == ([], 0.0)
    nearly = [LOSSES[0], LOSSES[1] * (1 + 1e-11), LOSSES[2]]
    problems, worst = mg.microgpt_parity(_output(LOSSES, NAMES), _output(nearly, NAMES), 3)
    assert problems == [] and 0 < worst < 1e-9


@pytest.mark.parametrize(
    ("ours", "expected"),
    [
        (_output([3.3, 3.1234567890125 * (1 + 1e-8), 2.9], NAMES), "step 2: loss"),
        (_output([3.3, float("nan"), 2.9], NAMES), "step 2: loss"),
        (_output(LOSSES, ["anna", "", "rob"]), "sampled names differ: 'sample  3: bob' (theirs) vs 'sample  3: rob'"),
        (_output(LOSSES, NAMES[:2]), "sampled names differ"),
        (_output(LOSSES, []), "sampled names missing"),
        (_output(LOSSES[:2], NAMES), "ours printed loss lines for steps [1, 2]"),
        ("Traceback (most recent call last):\n", "ours printed loss lines for steps []"),
    ],
)
def test_parity_reports_every_kind_of_mismatch(ours: str, expected: str) -> None:
    problems, _ = mg.microgpt_parity(_output(LOSSES, NAMES), ours, 3)
    assert any(expected in p for p in problems), problems


def test_a_mismatch_fails_the_row_instead_of_giving_a_speed() -> None:
    microgpt = mg.microgpt_comparison(3)
    mg.check_round(microgpt, {"stdout": _output(LOSSES, NAMES)}, {"stdout": _output([3.3, 3.2, 2.9], NAMES)})
    assert microgpt.failure is not None and microgpt.failure.startswith("PARITY MISMATCH, step 2: loss")
    lines = microgpt_lines(microgpt)
    row = [line for line in lines if line.startswith(f"| {mg.MICROGPT_OURS}")]
    assert len(row) == 1 and "FAILED, no speed reported" in row[0] and "per step" not in row[0]


def test_equal_rounds_keep_the_largest_difference_and_count_the_names() -> None:
    microgpt = mg.microgpt_comparison(3)
    nearly = [LOSSES[0], LOSSES[1] * (1 + 1e-11), LOSSES[2]]
    for ours in (_output(LOSSES, NAMES), _output(nearly, NAMES), _output(LOSSES, NAMES)):
        mg.check_round(microgpt, {"stdout": _output(LOSSES, NAMES)}, {"stdout": ours})
    assert microgpt.failure is None and microgpt.samples == 3
    assert 0.5e-11 < microgpt.worst < 1e-9  # the second round's, not forgotten by the third


def test_a_missing_script_skips_the_row_with_one_line(tmp_path: Path) -> None:
    reason, swapped = mg.microgpt_setup(tmp_path / "absent.py", tmp_path / "names.txt")
    assert swapped is None and reason is not None and "\n" not in reason and "absent.py" in reason
    microgpt = mg.microgpt_comparison(3)
    microgpt.skip = reason
    assert sum(reason in line for line in microgpt_lines(microgpt)) == 1


# ----------------------------------------------------------------------
# The gpt rows: `micrograd gpt train` against microgpt.py
# ----------------------------------------------------------------------


def test_gpt_train_command_runs_our_cli_with_the_given_settings(tmp_path: Path) -> None:
    command = mg.gpt_train_command("numpy", tmp_path / "out", tmp_path / "names.txt", steps=30, seed=42)
    assert command[:3] == [sys.executable, "-m", "micrograd"]
    args = command[3:]
    assert args[:4] == ["gpt", "train", "--engine", "numpy"]
    pairs = dict(zip(args[2:-1:2], args[3:-1:2], strict=True))
    assert pairs["--data"] == str(tmp_path / "names.txt") and pairs["--out"] == str(tmp_path / "out")
    assert pairs["--steps"] == "30" and pairs["--seed"] == "42" and args[-1] == "--quiet"


def test_gpt_train_command_without_steps_or_seed_leaves_the_defaults(tmp_path: Path) -> None:
    command = mg.gpt_train_command("eager", tmp_path / "out", tmp_path / "names.txt", quiet=False)
    assert "--steps" not in command and "--seed" not in command and "--quiet" not in command


HISTORY = [{"step": 1, "loss": 3.3659669475848504}, {"step": 2, "loss": 3.4242727838717717}, {"step": 3, "loss": 2.9}]


def test_history_lines_read_back_as_the_exact_floats() -> None:
    lines = mg.gpt_history_lines(HISTORY, 3)
    assert lines[0] == "step    1 /    3 | loss 3.3659669475848504"
    losses, samples = mg.parse_microgpt_output("\n".join(lines) + "\n")
    assert losses == [(entry["step"], entry["loss"]) for entry in HISTORY] and samples == []


@pytest.mark.parametrize(
    "history",
    [
        None,
        {"step": 1, "loss": 3.3},
        [{"step": 1}],
        [{"loss": 3.3}],
        [{"step": "1", "loss": 3.3}],
        [{"step": 1, "loss": "3.3"}],
        [{"step": True, "loss": 3.3}],
        [{"step": 1, "loss": False}],
        [[1, 3.3]],
    ],
)
def test_history_entries_of_another_shape_give_no_line(history: object) -> None:
    assert mg.gpt_history_lines(history, 1) == []


def test_read_history_from_a_checkpoint_and_refuse_one_without(tmp_path: Path) -> None:
    good = tmp_path / "checkpoint.json"
    good.write_text(json.dumps({"kind": "gpt", "extra": {"data": None, "history": HISTORY}}))
    assert mg.read_gpt_history(good) == HISTORY
    for name, text in (("no-extra.json", '{"kind": "gpt"}'), ("cut.json", '{"extra": {"hist'), ("list.json", "[]")):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ValueError, match="no extra.history"):
            mg.read_gpt_history(path)
    with pytest.raises(ValueError, match="no extra.history"):
        mg.read_gpt_history(tmp_path / "absent.json")


def _ours(history: list[dict[str, float]], names: list[str]) -> str:
    """What run_gpt_train hands to the parity check: the checkpoint's losses as lines, then the printed names."""
    lines = mg.gpt_history_lines(history, 3) + [f"sample {k + 1:2d}: {name}" for k, name in enumerate(names)]
    return "\n".join(lines) + "\n"


def test_gpt_parity_against_microgpt_printed_with_12_digits() -> None:
    theirs = _output([entry["loss"] for entry in HISTORY], NAMES)
    problems, worst = mg.microgpt_parity(theirs, _ours(HISTORY, NAMES), 3)
    assert problems == [] and 0 < worst < 1e-12  # only microgpt's rounding to 12 digits
    off = [*HISTORY[:2], {"step": 3, "loss": 2.9 * (1 + 2e-9)}]
    problems, _ = mg.microgpt_parity(theirs, _ours(off, NAMES), 3)
    assert len(problems) == 1 and problems[0].startswith("step 3: loss")
    problems, _ = mg.microgpt_parity(theirs, _ours(HISTORY[:2], NAMES), 3)
    assert problems and "ours printed loss lines for steps [1, 2]" in problems[0]
    problems, _ = mg.microgpt_parity(theirs, _ours(HISTORY, ["anna", "bob", ""]), 3)
    assert problems == ["sampled names differ: 'sample  2: ' (theirs) vs 'sample  2: bob' (ours)"]


THEIRS = [{"wall": 30.0, "cpu": 20.0}, {"wall": 36.0, "cpu": 21.0}]


def _gpt(engine: str, runs: list[dict[str, float]], **found: object) -> mg.Comparison:
    comparison = mg.gpt_comparison(engine, 30)
    comparison.theirs, comparison.ours = list(THEIRS), list(runs)
    for key, value in found.items():
        setattr(comparison, key, value)
    return comparison


def test_gpt_lines_give_the_ratios_and_the_target_verdict() -> None:
    runs = [{"wall": 2.0, "cpu": 1.0}, {"wall": 4.0, "cpu": 2.0}]
    eager_row = _gpt("eager", runs, worst=1e-13, samples=20)
    array_row = _gpt(mg.GPT_ARRAY_ENGINE, runs, worst=1e-13, samples=20)
    lines = gpt_lines([eager_row, array_row], 42, "names.txt", "src/micrograd")
    eager = next(line for line in lines if line.startswith("| micrograd gpt train --engine eager |"))
    cells = [cell.strip() for cell in eager.strip("|").split("|")]
    assert cells[1:] == [
        "1100 ms per step",
        "100 ms per step",
        "12.0x",
        "9.0x - 15.0x",
        "15.2x (10.5x - 20.0x)",
        ">= 10x: met",
    ]
    array = next(line for line in lines if line.startswith(f"| micrograd gpt train --engine {mg.GPT_ARRAY_ENGINE} |"))
    assert array.endswith("| >= 50x: **not met** |")
    assert sum("all 30 losses equal to 1e-9 relative" in line for line in lines) == 2


def test_a_failed_gpt_row_gives_no_speed_and_the_script_exits_1() -> None:
    state = _gpt("eager", [])
    state.steps = 3
    mg.check_round(state, {"stdout": _output([3.3, 3.4, 2.9], NAMES)}, {"stdout": _ours(HISTORY, NAMES)})
    assert str(state.failure).startswith("PARITY MISMATCH, step 1: loss")
    lines = gpt_lines([state], 42, "names.txt", "src/micrograd")
    row = [line for line in lines if line.startswith("| micrograd gpt train --engine eager")]
    assert len(row) == 1 and "FAILED, no speed reported" in row[0] and "per step" not in row[0]


def test_a_missing_reference_skips_the_gpt_rows(tmp_path: Path) -> None:
    reason = mg.missing_reference(tmp_path / "absent.py", tmp_path / "names.txt")
    assert reason is not None and "absent.py" in reason
    rows = [_gpt(engine, [], skip=reason) for engine in mg.GPT_ENGINES]
    assert sum(reason in line for line in gpt_lines(rows, 42, "names.txt", None)) == 2


def test_gpt_full_lines_give_total_times_or_the_failure() -> None:
    theirs = {"wall": 372.0, "cpu": 350.0, "error": None}
    ok = mg.gpt_comparison("eager", 1000)
    ok.ours, ok.worst, ok.samples = [{"wall": 31.0, "cpu": 30.0}], 2e-13, 20
    failed = mg.gpt_comparison(mg.GPT_ARRAY_ENGINE, 1000)
    failed.failure = "PARITY MISMATCH, step 7: loss"
    lines = gpt_full_lines(theirs, [ok, failed], 1000)
    assert any(line.startswith("| microgpt.py, NUM_STEPS=1000") and "6 min 12 s" in line for line in lines)
    eager = next(line for line in lines if "--engine eager" in line)
    assert eager.endswith("| 31.0 s | 30.0 s | 12.0x | 11.7x |")
    array = next(line for line in lines if f"--engine {mg.GPT_ARRAY_ENGINE}" in line)
    assert "FAILED, no time reported" in array and not re.search(r"\d s \|", array)
    assert "eager: all 1000 losses equal to 1e-9 relative" in lines[-1]


def test_gpt_memory_lines_give_first_last_and_highest() -> None:
    mb = 2**20
    memory = {
        "eager": {"rss": [(100, 40 * mb), (200, 42 * mb), (1000, 41 * mb)]},
        "compiled": {"failure": "ModuleNotFoundError: No module named 'numpy'"},
    }
    lines = gpt_memory_lines(memory)
    assert (
        "| gpt.Training, engine='eager': step 100 -> 1000, sampled every 100 | 40.0 -> 41.0 MB (+1.0 MB) | 42.0 MB |"
        in lines
    )
    assert any("engine='compiled'" in line and "FAILED" in line for line in lines)
    assert lines[-1] == "gpt-memory, eager, RSS in MB by step: 100: 40.0, 200: 42.0, 1000: 41.0."


def test_workload_choice_and_the_quick_default() -> None:
    array = f"gpt-{mg.GPT_ARRAY_ENGINE}"
    assert bench.workload_names("gpt-eager, GPT-compiled") == {"gpt-eager", array}
    assert bench.workload_names("gpt-numpy") == {array}  # the array engine's old and new names
    assert array in bench.WORKLOADS and array in bench.DEFAULT_WORKLOADS
    assert "gpt-full" not in bench.DEFAULT_WORKLOADS and "gpt-full" in bench.WORKLOADS
    assert not any(name.startswith("gpt") for name in bench.QUICK_WORKLOADS)
    with pytest.raises(Exception, match="unknown workload"):
        bench.workload_names("gpt")


# ----------------------------------------------------------------------
# The driver's rounds, with made-up processes: who runs, in which order, and what each comparison gets
# ----------------------------------------------------------------------


def _settings(tmp_path: Path, steps: int = 3) -> bench.Settings:
    return bench.Settings(rounds=2, quick=True, selected={"microgpt"}, microgpt_steps=steps, gpt_steps=steps,
                          script=tmp_path / "microgpt.py", names=tmp_path / "names.txt", markdown=None)


def test_one_microgpt_process_per_round_serves_every_row_with_its_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    rows: list[bench.Row] = []
    microgpt, eager = mg.microgpt_comparison(3), mg.gpt_comparison("eager", 3)
    for comparison in (microgpt, eager):
        theirs = bench.theirs_row(rows, settings, 3)
        ours = bench.Row(comparison.label, "gpt", tmp_path, {})
        rows.append(ours)
        bench.pair(theirs, ours, comparison)
    assert [row.label for row in rows] == [mg.MICROGPT_THEIRS, microgpt.label, eager.label]
    assert rows[0].feeds == [(microgpt, "theirs"), (eager, "theirs")]
    assert rows[1].baseline == rows[2].baseline == mg.MICROGPT_THEIRS
    order: list[str] = []
    wrong = _output([3.3, 3.2, 2.9], NAMES)

    def measure(row: bench.Row, data: Path) -> dict[str, object]:
        order.append(row.label)
        stdout = wrong if row.label == eager.label else _output(LOSSES, NAMES)
        return {"stdout": stdout, "times": [1.0], "wall": 1.0, "cpu": 1.0, "error": None}

    monkeypatch.setattr(bench, "measure", measure)
    bench.run_rounds(rows, 2, tmp_path / "data.json", started=0.0)
    # Round 1 in order, round 2 reversed; the failed gpt row is not run again, the others are.
    assert order == [mg.MICROGPT_THEIRS, microgpt.label, eager.label, microgpt.label, mg.MICROGPT_THEIRS]
    assert microgpt.failure is None and len(microgpt.theirs) == len(microgpt.ours) == 2 and microgpt.samples == 3
    assert eager.failure is not None and eager.failure.startswith("PARITY MISMATCH, step 2: loss")


def test_a_second_step_count_gets_its_own_microgpt_row(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    rows: list[bench.Row] = []
    first, again, other = (bench.theirs_row(rows, settings, steps) for steps in (3, 3, 5))
    assert first is again and other is not first
    assert [row.label for row in rows] == [mg.MICROGPT_THEIRS, f"{mg.MICROGPT_THEIRS}, NUM_STEPS=5"]


def test_a_process_that_fails_fails_every_comparison_it_serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path)
    rows: list[bench.Row] = []
    comparisons = [mg.gpt_comparison(engine, 3) for engine in mg.GPT_ENGINES]
    for comparison in comparisons:
        ours = bench.Row(comparison.label, "gpt", tmp_path, {})
        bench.pair(bench.theirs_row(rows, settings, 3), ours, comparison)
        rows.append(ours)
    calls: list[str] = []

    def measure(row: bench.Row, data: Path) -> dict[str, object]:
        calls.append(row.label)
        return {"error": "theirs (microgpt.py) exited with status 1: boom"}

    monkeypatch.setattr(bench, "measure", measure)
    bench.run_rounds(rows, 3, tmp_path / "data.json", started=0.0)
    assert calls == [mg.MICROGPT_THEIRS]  # every row it served has failed: nothing more runs
    assert all(c.failure == "theirs (microgpt.py) exited with status 1: boom" for c in comparisons)
