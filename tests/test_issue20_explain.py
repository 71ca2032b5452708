"""Issue 20, items 12 and 14: what ``micrograd explain`` accepts, and how its words match its pictures.

- item 12: ``pow(x, k=2, k=3)`` is refused as Python refuses a repeated keyword; the functions an
  expression may call are those that work there, and the others are refused in the user's terms;
- item 14: the rules are written in the graph's own names (the op table's letters, ``d/da = b``,
  clash with a user's ``b``); the terminal and the page count the same steps; and in a notebook
  ``explain(root)`` shows its text once.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

import micrograd.losses  # noqa: F401 -- their rows are in the table, as in the CLI, which imports them
import micrograd.nn  # noqa: F401
from micrograd import ops
from micrograd.app.cli import main
from micrograd.app.expr import FUNCTIONS, ExpressionError, evaluate
from micrograd.engine import Value
from micrograd.viz import explain
from micrograd.viz.html import backward_html
from micrograd.viz.narrate import trace_backward

LECTURE = "n = x1*w1 + x2*w2 + b; o = tanh(n)"
LECTURE_VALUES = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}

# What an engine's or Python's own error looks like when it leaks out instead of a message for the user.
INTERNAL_WORDS = ("IndexError", "TypeError", "tuple index", "list index", "zip()", "local derivatives for")


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; it must refuse with status 2 and one line, no traceback. Returns that line."""
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, f"accepted: {captured.out[:300]}"
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


# ----------------------------------------------------------------------
# Item 12: a repeated keyword
# ----------------------------------------------------------------------


def test_a_repeated_keyword_is_refused_in_pythons_words(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SyntaxError) as python:
        compile("pow(x, k=2, k=3)", "<expression>", "eval")  # what Python itself says
    assert python.value.msg == "keyword argument repeated: k"
    with pytest.raises(ExpressionError, match=r"^pow\(\): keyword argument repeated: k$"):
        evaluate("pow(x, k=2, k=3)", {"x": 2.0})
    line = one_line_error(["explain", "pow(x, k=2, k=3)", "--set", "x=2"], capsys)
    assert line.endswith("keyword argument repeated: k")
    # The same value twice is still a repetition, as in Python.
    with pytest.raises(ExpressionError, match="keyword argument repeated: k"):
        evaluate("pow(x, k=2, k=2)", {"x": 2.0})
    assert evaluate("pow(x, k=3)", {"x": 2.0}).data == 8.0  # one k is fine


# ----------------------------------------------------------------------
# Item 12: only functions that work are offered
# ----------------------------------------------------------------------


def advertised_call(name: str) -> tuple[str, dict[str, float]]:
    """The call a user would write from the shape the language gives for ``name``, with values for its names.

    ``name()`` is refused with the shape of a call ('pow(x, k=NUMBER)', 'linear(w1, ..., wn, x1, ...,
    xn, b)'); the '...' are dropped, NUMBER becomes 2 and each input name gets a value of its own.
    """
    with pytest.raises(ExpressionError) as refused:
        evaluate(f"{name}()", {})
    match = re.search(rf": ({re.escape(name)}\(.*\))$", str(refused.value))
    assert match is not None, f"{name}() gave no shape of a call: {refused.value}"
    call = re.sub(r",\s*\.\.\.", "", match.group(1)).replace("NUMBER", "2")
    tree = ast.parse(call, mode="eval").body
    assert isinstance(tree, ast.Call)
    names = [argument.id for argument in tree.args if isinstance(argument, ast.Name)]
    return call, {input_name: 0.3 + 0.25 * i for i, input_name in enumerate(names)}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_the_language_offers_works_as_it_says(name: str) -> None:
    call, values = advertised_call(name)
    root = evaluate(call, values)
    assert root._fn is FUNCTIONS[name] and math.isfinite(root.data)
    text = explain(root, quiet=True)
    checks = [line.split() for line in text.split("Check against numerical_grad")[1].splitlines()[2:]]
    assert {row[0] for row in checks} == set(values) and all(row[-1] == "yes" for row in checks), text


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "attend", "attention_score", "rms_scale"])
def test_the_models_own_fused_nodes_are_not_offered_and_are_refused_clearly(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert name in ops.OPS and name not in FUNCTIONS
    refused = one_line_error(["explain", f"{name}(x)", "--set", "x=2"], capsys)
    assert f"{name}() is a building block of micrograd." in refused and "cannot be called in an expression" in refused
    assert not any(word in refused for word in INTERNAL_WORDS), refused
    offered = refused.split("an expression can call ")[1].split(", ")
    assert offered == list(FUNCTIONS) and name not in offered
    listed = one_line_error(["explain", "frobnicate(x)", "--set", "x=2"], capsys)  # the list of what works
    assert name not in listed.split("only ")[1].split(", ")


@pytest.mark.parametrize("name", ["linear", "dot"])
@pytest.mark.parametrize("count", range(0, 6))
def test_a_wrong_number_of_arguments_is_said_in_the_users_terms(name: str, count: int) -> None:
    values = {f"a{i}": 0.5 + i for i in range(count)}
    call = f"{name}({', '.join(values)})"
    try:
        root = evaluate(call, values)
    except ExpressionError as error:
        message = str(error)
        assert message.startswith(f"{name}() takes "), message
        assert not any(word in message for word in INTERNAL_WORDS), message
        return
    # Accepted: then every argument was used as the shape says (halves, and linear's bias last).
    half = count // 2
    expected = sum((0.5 + i) * (0.5 + half + i) for i in range(half)) + ((0.5 + count - 1) if name == "linear" else 0.0)
    assert root.data == pytest.approx(expected)
    assert (count % 2 == 1) if name == "linear" else (count % 2 == 0 and count >= 2)


# ----------------------------------------------------------------------
# Item 14: the rules in the graph's own names
# ----------------------------------------------------------------------


def derivatives_named(text: str) -> list[str]:
    """Every 'dX/dY' of a text whose X is empty: a rule in the op table's letters, not the graph's names."""
    return re.findall(r"(?<![\w)])d/d\w+", text)


def test_the_rules_use_the_graphs_names_not_the_tables_letters(capsys: pytest.CaptureFixture[str]) -> None:
    # The user's bias is called b; the table states * as "d/da = b, d/db = a".
    assert main(["explain", "a*b + b", "--set", "a=2", "--set", "b=3"]) == 0
    text = capsys.readouterr().out
    assert ops.MUL.doc not in text and derivatives_named(text) == [], text
    lines = [line.strip() for line in text.splitlines()]
    assert any(line.endswith("-> a: local d(a*b)/da = b = 3;  3 * 1 = 3;  a.grad = 0 + 3 = 3") for line in lines)
    assert any(line.endswith("-> b: local d(a*b)/db = a = 2;  2 * 1 = 2;  b.grad = 1 + 2 = 3") for line in lines)

    lecture = explain(evaluate(LECTURE, LECTURE_VALUES), quiet=True)
    assert derivatives_named(lecture) == [] and ops.TANH.doc not in lecture


def test_the_page_writes_the_rules_in_the_graphs_names(open_page: Any, tmp_path: Path) -> None:
    page = open_page(backward_html(evaluate(LECTURE, LECTURE_VALUES)))
    steps = page.evaluate("DATA.steps.length")
    seen = []
    for _ in range(steps):
        page.keyboard.press("ArrowRight")
        seen.append(page.locator("#panel").inner_text())
    page.screenshot(path=str(tmp_path / "lecture-last-step.png"))
    assert not any(ops.MUL.doc in panel or ops.ADD.doc in panel or ops.TANH.doc in panel for panel in seen)
    assert all(derivatives_named(panel) == [] for panel in seen), seen
    assert "local derivative: d(x1*w1)/dx1 = w1 = -3" in seen[7]  # the rule in the graph's own names


def cos_by_numpy(x: Any, out: Any) -> Any:
    """A derivative the narration cannot write out in names: numpy's cos wants a number."""
    numpy = pytest.importorskip("numpy")
    return float(numpy.cos(x))


def test_a_rule_that_cannot_be_written_in_names_says_whose_letters_it_uses(open_page: Any) -> None:
    op = ops.defop("mysin20", math.sin, cos_by_numpy, "d/dx mysin20(x) = cos(x)")
    try:
        x = Value(0.5, label="x")
        y = op(Value(1.0, label="z") * x) * x
        y.label = "y"
        text = explain(y, quiet=True)
        page = open_page(backward_html(y))
    finally:
        ops.OPS.pop("mysin20", None)
    header = next(line for line in text.splitlines() if "[op mysin20" in line)
    assert "in the op's own letters, not the graph's names: d/dx mysin20(x) = cos(x)" in header, header
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    panel = page.locator("#panel").inner_text()
    assert "the rule of mysin20, in the op's own letters (not the graph's names):" in panel, panel


# ----------------------------------------------------------------------
# Item 14: one count of steps in the terminal and on the page
# ----------------------------------------------------------------------


def terminal_steps(text: str) -> list[tuple[int, str]]:
    """(number, child) of each numbered step of the narration."""
    return [(int(number), child) for number, child in re.findall(r"^\s*step (\d+)\b.*?-> ([^:]+):", text, re.M)]


def test_the_terminal_and_the_page_count_the_same_steps(open_page: Any) -> None:
    root = evaluate(LECTURE, LECTURE_VALUES)
    text = explain(root, quiet=True)
    html = backward_html(root)
    match = re.search(r"const DATA = (.*);\n", html)
    assert match is not None
    data = json.loads(match.group(1))
    names = {node["index"]: node["name"] for node in data["nodes"]}
    page_steps = [names[step["child"]] for step in data["steps"]]

    numbered = terminal_steps(text)
    assert [number for number, _ in numbered] == list(range(1, len(page_steps) + 1)), text
    assert [child for _, child in numbered] == page_steps
    assert f"{len(page_steps)} steps" in text and len(page_steps) == len(trace_backward(root).steps) == 9

    page = open_page(html)
    for number, child in numbered:
        page.keyboard.press("ArrowRight")
        assert page.locator("#step-counter").text_content() == f"Step {number} of {len(numbered)}"
        assert page.locator(".node.current").get_attribute("data-name") == child


# ----------------------------------------------------------------------
# Item 14: explain in a notebook shows its text once
# ----------------------------------------------------------------------


def test_explain_returns_its_text_with_a_short_repr(capsys: pytest.CaptureFixture[str]) -> None:
    root = evaluate(LECTURE, LECTURE_VALUES)
    result = explain(root)
    printed = capsys.readouterr().out
    assert result == printed and isinstance(result, str)  # tests and callers still read the text
    assert "Forward pass" not in repr(result) and "\n" not in repr(result) and len(repr(result)) < 120
    quiet = explain(root, quiet=True)
    assert quiet == printed and "Forward pass" not in repr(quiet)
    pretty = pytest.importorskip("IPython.lib.pretty")
    assert "Forward pass" not in pretty.pretty(result)


def test_explain_in_a_jupyter_kernel_shows_the_narration_once() -> None:
    nbclient: Any = pytest.importorskip("nbclient")
    nbformat: Any = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")  # the kernel nbclient starts

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from micrograd.app.expr import evaluate\nfrom micrograd.viz import explain\n"
            f"root = evaluate({LECTURE!r}, {LECTURE_VALUES!r})\nexplain(root)"
        )
    ]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    shown = []
    for output in notebook.cells[0].outputs:
        shown.append(output.get("text", "") + output.get("data", {}).get("text/plain", ""))
    assert sum(text.count("Forward pass") for text in shown) == 1, shown
    assert sum(text.count("Check against numerical_grad") for text in shown) == 1, shown
