"""The pure parts of the microgpt row of benchmarks/bench.py: swapping the Value class, and the parity check.

No timing and no real microgpt.py here: a small synthetic script and made-up outputs.
"""

from __future__ import annotations

import importlib.util
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
