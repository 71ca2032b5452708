"""The pure parts of the microgpt row of benchmarks/bench.py: swapping the Value class, and the parity check.

No timing and no real microgpt.py here: a small synthetic script and made-up outputs.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_under_test", ROOT / "benchmarks" / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()

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
    out = bench.swap_value_class(SCRIPT)
    lines = out.split("\n")
    assert lines[:5] == ["import math", "import random", "random.seed(1)", "", "# an autograd of its own"]
    assert lines[5].startswith("from micrograd import Value")
    assert lines[6].startswith("print(") and bench.SWAP_MARK in lines[6]
    after = SCRIPT.split("\n")[15:]  # from '# right after the class' on, untouched
    assert after[0] == "# right after the class, at the top level"
    assert lines[7:] == after
    assert "__slots__" not in out and "def __add__" not in out and "a comment inside the body" not in out
    assert out.count("class Value") == 1  # the nested one stays
    compile(out, "swapped.py", "exec")


def test_swap_takes_decorators_and_crlf_along() -> None:
    script = "import x\r\n@decorate\r\nclass Value:\r\n    pass\r\n\r\nprint(Value)\r\n"
    out = bench.swap_value_class(script)
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
        bench.swap_value_class(script)


def _output(losses: list[float], names: list[str]) -> str:
    lines = ["num docs: 3", "vocab size: 4", "num params: 10"]
    lines += [f"step {k + 1:4d} / {len(losses):4d} | loss {loss:.12f}" for k, loss in enumerate(losses)]
    lines += ["", "--- inference (new, hallucinated names) ---"]
    lines += [f"sample {k + 1:2d}: {name}" for k, name in enumerate(names)]
    return "\n".join(lines) + "\n"


LOSSES = [3.3, 3.1234567890125, 2.9]
NAMES = ["anna", "", "bob"]


def test_parse_reads_every_loss_and_sample_line() -> None:
    losses, samples = bench.parse_microgpt_output(_output(LOSSES, NAMES))
    assert losses == [(1, 3.3), (2, 3.123456789012), (3, 2.9)]  # 12 digits, as printed
    assert samples == ["sample  1: anna", "sample  2: ", "sample  3: bob"]


def test_parity_accepts_equal_runs_and_differences_below_1e_9() -> None:
    assert bench.microgpt_parity(_output(LOSSES, NAMES), _output(LOSSES, NAMES), 3) == ([], 0.0)
    nearly = [LOSSES[0], LOSSES[1] * (1 + 1e-11), LOSSES[2]]
    problems, worst = bench.microgpt_parity(_output(LOSSES, NAMES), _output(nearly, NAMES), 3)
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
    problems, _ = bench.microgpt_parity(_output(LOSSES, NAMES), ours, 3)
    assert any(expected in p for p in problems), problems


def test_a_mismatch_fails_the_row_instead_of_giving_a_speed() -> None:
    microgpt = {"steps": 3, "seed": 42, "input": "names.txt", "theirs": [], "ours": []}
    bench.check_microgpt_round(
        microgpt, {"stdout": _output(LOSSES, NAMES)}, {"stdout": _output([3.3, 3.2, 2.9], NAMES)}
    )
    assert microgpt["failure"].startswith("PARITY MISMATCH, step 2: loss")
    lines = bench.microgpt_lines(microgpt)
    row = [line for line in lines if line.startswith(f"| {bench.MICROGPT_OURS}")]
    assert len(row) == 1 and "FAILED, no speed reported" in row[0] and "per step" not in row[0]


def test_a_missing_script_skips_the_row_with_one_line(tmp_path: Path) -> None:
    reason, swapped = bench.microgpt_setup(tmp_path / "absent.py", tmp_path / "names.txt")
    assert swapped is None and reason is not None and "\n" not in reason and "absent.py" in reason
    lines = bench.microgpt_lines({"skip": reason})
    assert sum(reason in line for line in lines) == 1


# ----------------------------------------------------------------------
# The gpt rows: `micrograd gpt train` against microgpt.py
# ----------------------------------------------------------------------


def test_gpt_train_command_runs_our_cli_with_the_given_settings(tmp_path: Path) -> None:
    command = bench.gpt_train_command("compiled", tmp_path / "out", tmp_path / "names.txt", steps=30, seed=42)
    assert command[:3] == [sys.executable, "-m", "micrograd"]
    args = command[3:]
    assert args[:4] == ["gpt", "train", "--engine", "compiled"]
    pairs = dict(zip(args[2:-1:2], args[3:-1:2], strict=True))
    assert pairs["--data"] == str(tmp_path / "names.txt") and pairs["--out"] == str(tmp_path / "out")
    assert pairs["--steps"] == "30" and pairs["--seed"] == "42" and args[-1] == "--quiet"


def test_gpt_train_command_without_steps_or_seed_leaves_the_defaults(tmp_path: Path) -> None:
    command = bench.gpt_train_command("eager", tmp_path / "out", tmp_path / "names.txt", quiet=False)
    assert "--steps" not in command and "--seed" not in command and "--quiet" not in command


HISTORY = [{"step": 1, "loss": 3.3659669475848504}, {"step": 2, "loss": 3.4242727838717717}, {"step": 3, "loss": 2.9}]


def test_history_lines_read_back_as_the_exact_floats() -> None:
    lines = bench.gpt_history_lines(HISTORY, 3)
    assert lines[0] == "step    1 /    3 | loss 3.3659669475848504"
    losses, samples = bench.parse_microgpt_output("\n".join(lines) + "\n")
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
    assert bench.gpt_history_lines(history, 1) == []


def test_read_history_from_a_checkpoint_and_refuse_one_without(tmp_path: Path) -> None:
    good = tmp_path / "checkpoint.json"
    good.write_text(json.dumps({"kind": "gpt", "extra": {"data": None, "history": HISTORY}}))
    assert bench.read_gpt_history(good) == HISTORY
    for name, text in (("no-extra.json", '{"kind": "gpt"}'), ("cut.json", '{"extra": {"hist'), ("list.json", "[]")):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ValueError, match="no extra.history"):
            bench.read_gpt_history(path)
    with pytest.raises(ValueError, match="no extra.history"):
        bench.read_gpt_history(tmp_path / "absent.json")


def _ours(history: list[dict[str, float]], names: list[str]) -> str:
    """What run_gpt_train hands to the parity check: the checkpoint's losses as lines, then the printed names."""
    lines = bench.gpt_history_lines(history, 3) + [f"sample {k + 1:2d}: {name}" for k, name in enumerate(names)]
    return "\n".join(lines) + "\n"


def test_gpt_parity_against_microgpt_printed_with_12_digits() -> None:
    theirs = _output([entry["loss"] for entry in HISTORY], NAMES)
    problems, worst = bench.microgpt_parity(theirs, _ours(HISTORY, NAMES), 3)
    assert problems == [] and 0 < worst < 1e-12  # only microgpt's rounding to 12 digits
    off = [*HISTORY[:2], {"step": 3, "loss": 2.9 * (1 + 2e-9)}]
    problems, _ = bench.microgpt_parity(theirs, _ours(off, NAMES), 3)
    assert len(problems) == 1 and problems[0].startswith("step 3: loss")
    problems, _ = bench.microgpt_parity(theirs, _ours(HISTORY[:2], NAMES), 3)
    assert problems and "ours printed loss lines for steps [1, 2]" in problems[0]
    problems, _ = bench.microgpt_parity(theirs, _ours(HISTORY, ["anna", "bob", ""]), 3)
    assert problems == ["sampled names differ: 'sample  2: ' (theirs) vs 'sample  2: bob' (ours)"]


def _gpt_info(engines: dict[str, dict[str, object]]) -> dict[str, object]:
    theirs = [{"wall": 30.0, "cpu": 20.0}, {"wall": 36.0, "cpu": 21.0}]
    return {
        "steps": 30,
        "seed": 42,
        "input": "names.txt",
        "micrograd": "src/micrograd",
        "theirs": theirs,
        "engines": engines,
    }


def test_gpt_lines_give_the_ratios_and_the_target_verdict() -> None:
    runs = [{"wall": 2.0, "cpu": 1.0}, {"wall": 4.0, "cpu": 2.0}]
    state = {"steps": 30, "runs": runs, "worst": 1e-13, "samples": 20}
    lines = bench.gpt_lines(_gpt_info({"eager": state, "compiled": dict(state)}))
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
    compiled = next(line for line in lines if line.startswith("| micrograd gpt train --engine compiled |"))
    assert compiled.endswith("| >= 50x: **not met** |")
    assert sum("all 30 losses equal to 1e-9 relative" in line for line in lines) == 2


def test_a_failed_gpt_row_gives_no_speed_and_the_script_exits_1() -> None:
    state: dict[str, object] = {"steps": 3, "runs": []}
    bench.check_microgpt_round(state, {"stdout": _output([3.3, 3.4, 2.9], NAMES)}, {"stdout": _ours(HISTORY, NAMES)})
    assert str(state["failure"]).startswith("PARITY MISMATCH, step 1: loss")
    lines = bench.gpt_lines(_gpt_info({"eager": state}))
    row = [line for line in lines if line.startswith("| micrograd gpt train --engine eager")]
    assert len(row) == 1 and "FAILED, no speed reported" in row[0] and "per step" not in row[0]


def test_a_missing_reference_skips_the_gpt_rows(tmp_path: Path) -> None:
    reason = bench.missing_reference(tmp_path / "absent.py", tmp_path / "names.txt")
    assert reason is not None and "absent.py" in reason
    info = {**_gpt_info({"eager": {"steps": 30}, "compiled": {"steps": 30}}), "skip": reason}
    assert sum(reason in line for line in bench.gpt_lines(info)) == 2


def test_gpt_full_lines_give_total_times_or_the_failure() -> None:
    theirs = {"wall": 372.0, "cpu": 350.0, "error": None}
    ok = {"steps": 1000, "run": {"wall": 31.0, "cpu": 30.0}, "worst": 2e-13, "samples": 20}
    failed = {"steps": 1000, "failure": "PARITY MISMATCH, step 7: loss"}
    lines = bench.gpt_full_lines({"steps": 1000, "theirs": theirs, "engines": {"eager": ok, "compiled": failed}})
    assert any(line.startswith("| microgpt.py, NUM_STEPS=1000") and "6 min 12 s" in line for line in lines)
    eager = next(line for line in lines if "--engine eager" in line)
    assert eager.endswith("| 31.0 s | 30.0 s | 12.0x | 11.7x |")
    compiled = next(line for line in lines if "--engine compiled" in line)
    assert "FAILED, no time reported" in compiled and not re.search(r"\d s \|", compiled)


def test_gpt_memory_lines_give_first_last_and_highest() -> None:
    mb = 2**20
    memory = {
        "eager": {"rss": [(100, 40 * mb), (200, 42 * mb), (1000, 41 * mb)]},
        "compiled": {"failure": "ModuleNotFoundError: No module named 'numpy'"},
    }
    lines = bench.gpt_memory_lines(memory)
    assert (
        "| gpt.Training, engine='eager': step 100 -> 1000, sampled every 100 | 40.0 -> 41.0 MB (+1.0 MB) | 42.0 MB |"
        in lines
    )
    assert any("engine='compiled'" in line and "FAILED" in line for line in lines)
    assert lines[-1] == "gpt-memory, eager, RSS in MB by step: 100: 40.0, 200: 42.0, 1000: 41.0."


def test_workload_choice_and_the_quick_default() -> None:
    assert bench.workload_names("gpt-eager, GPT-compiled") == {"gpt-eager", "gpt-compiled"}
    assert "gpt-full" not in bench.DEFAULT_WORKLOADS and "gpt-full" in bench.WORKLOADS
    assert not any(name.startswith("gpt") for name in bench.QUICK_WORKLOADS)
    with pytest.raises(Exception, match="unknown workload"):
        bench.workload_names("gpt")
