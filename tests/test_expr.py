"""The command line's expression language: what it builds, and everything it refuses."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micrograd import ops
from micrograd.app.expr import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    ExpressionError,
    evaluate,
    parse_expression,
    parse_settings,
)
from micrograd.engine import Value, topological_order
from micrograd.ops import Op

SEED = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}


def leaves_by_label(root: Value) -> dict[str, Value]:
    return {node.label: node for node in topological_order(root) if not node._prev and node.label}


def test_the_seed_neuron_has_the_lecture_numbers() -> None:
    o = evaluate("tanh(x1*w1 + x2*w2 + b)", SEED)
    assert o.data == pytest.approx(math.tanh(2 * -3 + 0 * 1 + 6.8813735870195432))
    assert o.data == pytest.approx(0.7071067811865476)
    o.backward()
    leaves = leaves_by_label(o)
    assert set(leaves) == {"x1", "x2", "w1", "w2", "b"}
    assert leaves["x1"].grad == pytest.approx(-1.5)
    assert leaves["w1"].grad == pytest.approx(1.0)
    assert leaves["x2"].grad == pytest.approx(0.5)
    assert leaves["w2"].grad == pytest.approx(0.0)


def test_assignments_name_the_intermediate_nodes() -> None:
    o = evaluate("n = x1*w1 + x2*w2 + b; o = tanh(n)", SEED)
    assert o.label == "o"
    (n,) = o._prev
    assert n.label == "n" and n._op == "+"
    labels = {node.label for node in topological_order(o)}
    assert {"x1*w1", "x2*w2", "x1*w1 + x2*w2"} <= labels  # short sub-expressions label themselves


def test_new_lines_separate_statements_too() -> None:
    assert evaluate("a = x + 1\nb = a * a\nb", {"x": 2.0}).data == 9.0


def test_a_long_unnamed_output_is_called_out() -> None:
    assert evaluate("tanh(x1*w1 + x2*w2 + b)", SEED).label == "out"


def test_a_name_used_twice_is_one_value() -> None:
    y = evaluate("x*x*x", {"x": 3.0})
    y.backward()
    (x,) = leaves_by_label(y).values()
    assert x.grad == 27.0  # 3 x**2: every use of x feeds the same leaf


def test_assigning_an_input_does_not_rename_it() -> None:
    y = evaluate("a = x; a * 2", {"x": 3.0})
    assert "x" in leaves_by_label(y)


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("x - y", {"x": 5.0, "y": 2.0}, 3.0),
        ("x / y", {"x": 5.0, "y": 2.0}, 2.5),
        ("-x + +y", {"x": 5.0, "y": 2.0}, -3.0),
        ("x ** 2", {"x": 3.0}, 9.0),
        ("2 ** x", {"x": 3.0}, 8.0),
        ("x ** y", {"x": 2.0, "y": 3.0}, 8.0),
        ("exp(log(x))", {"x": 4.0}, 4.0),
        ("relu(x) + relu(-x)", {"x": -2.0}, 2.0),
        ("sigmoid(x)", {"x": 0.0}, 0.5),
        ("(x + 1) * (x - 1)", {"x": 3.0}, 8.0),
        ("1e-3 * x", {"x": 1000.0}, 1.0),
        ("2 * 3 + x", {"x": 1.0}, 7.0),
    ],
)
def test_arithmetic_and_functions(text: str, values: dict[str, float], expected: float) -> None:
    assert evaluate(text, values).data == pytest.approx(expected)


def test_integer_exponents_stay_integers_in_the_op_name() -> None:
    assert evaluate("x**2", {"x": 3.0})._op == "**2"
    assert evaluate("x**-1", {"x": 4.0})._op == "**-1"


def test_a_constant_expression_is_a_value() -> None:
    result = evaluate("2 * 3", {})
    assert isinstance(result, Value) and result.data == 6.0


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("__import__('os').system('touch /tmp/micrograd-pwned')", "__import__"),
        ("x.real", "attribute"),
        ("(lambda: 1)()", "lambda"),
        ("open('f')", "calling 'open'"),
        ("print(x)", "calling 'print'"),
        ("x[0]", "indexing"),
        ("x < 1", "comparison"),
        ("'a'", "constant"),
        ("True", "constant"),
        ("1j", "constant"),
        ("x % 2", "'%'"),
        ("x // 2", "'//'"),
        ("~x", "'~'"),
        ("x if x else 1", "if"),
        ("[x]", "lists"),
        ("tanh(x, x)", "one argument"),
        ("tanh(x=1)", "one argument"),
        ("import os", "import"),
        ("x += 1", "augmented"),
        ("a, b = x, x", "one plain name"),
        ("x ** 1000", "exponent"),
        ("x ** (50 * 50)", "exponent"),
        ("2 ** 3 ** 300", "exponent"),
        ("tanh", "function"),
        ("tanh = x", "function name"),
        ("__x", "'__'"),
        ("f'{x}'", "f-string"),
        ("", "empty"),
        ("x +", "not a valid expression"),
        ("1" * 400, "too large"),
    ],
)
def test_refused_with_a_message_naming_what(text: str, refused: str) -> None:
    with pytest.raises(ExpressionError, match="(?i)" + re.escape(refused)):
        evaluate(text, {"x": 2.0} if "x" in text else {})


def test_refused_code_is_never_run() -> None:
    marker = Path("/tmp/micrograd-pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(ExpressionError):
        evaluate("__import__('os').system('touch /tmp/micrograd-pwned')", {})
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    [
        "(" * 300 + "x" + ")" * 300,  # CPython's parser gives up near 200 brackets
        "-" * 1500 + "x",  # deep unary chains make ast.parse itself recurse
        "+".join(["x"] * 150),  # a long left-leaning chain
        "x" + "**x" * 120,
    ],
)
def test_deep_nesting_is_refused_before_it_can_crash(text: str) -> None:
    with pytest.raises(ExpressionError, match="nested too deeply"):
        evaluate(text, {"x": 1.0})


def test_long_input_is_refused() -> None:
    text = "x + " * (MAX_LENGTH // 4) + "x"
    with pytest.raises(ExpressionError, match=f"limit is {MAX_LENGTH}"):
        parse_expression(text)


def test_reasonable_nesting_is_fine() -> None:
    depth = MAX_DEPTH // 3
    assert evaluate("(" * depth + "x" + ")" * depth, {"x": 1.5}).data == 1.5


def test_an_unset_name_is_named_with_the_flag_to_fix_it() -> None:
    with pytest.raises(ExpressionError, match="no value for w: give one with --set w=VALUE"):
        evaluate("x * w", {"x": 1.0})


def test_a_set_name_not_in_the_expression_is_reported() -> None:
    with pytest.raises(ExpressionError, match="z set but not used"):
        evaluate("x", {"x": 1.0, "z": 2.0})


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        ("log(x)", {"x": -1.0}, "log: argument must be > 0"),
        ("1 / x", {"x": 0.0}, "division"),
        ("exp(x)", {"x": 1000.0}, "overflow"),
        ("log(0)", {}, "log"),
        ("1 / 0", {}, "division"),
    ],
)
def test_math_errors_become_expression_errors_naming_the_part(
    text: str, values: dict[str, float], message: str
) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate(text, values)


def test_parse_settings() -> None:
    assert parse_settings(["x=2", " w = -3.5 ", "b=1e-3"]) == {"x": 2.0, "w": -3.5, "b": 0.001}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("x", "NAME=NUMBER"),
        ("=2", "NAME=NUMBER"),
        ("x=", "NAME=NUMBER"),
        ("x=two", "not a number"),
        ("x=nan", "finite"),
        ("x=inf", "finite"),
        ("1x=2", "not a valid name"),
        ("for=2", "not a valid name"),
        ("tanh=2", "function name"),
    ],
)
def test_parse_settings_refuses(item: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse_settings([item])


def test_parse_settings_refuses_a_name_set_twice() -> None:
    with pytest.raises(ExpressionError, match="set twice"):
        parse_settings(["x=1", "x=2"])


def test_expression_error_is_a_value_error() -> None:
    # The command line reports ValueErrors in one line, without a traceback.
    assert issubclass(ExpressionError, ValueError)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="xy+-*/().,_ 0123456789eatnhlogrsiumpd[]'\"=;:", max_size=60))
def test_any_text_gives_a_value_or_an_expression_error(text: str) -> None:
    """Fuzz: whatever is typed, the result is a Value or a clear ExpressionError, never a crash."""
    try:
        result = evaluate(text, {})
    except ExpressionError:
        return
    assert isinstance(result, Value)


# ----------------------------------------------------------------------
# The functions are the op table's: every op, and any op added with defop
# ----------------------------------------------------------------------


@pytest.fixture
def softsign() -> Iterator[Op]:
    """An op the package does not have, added for one test and removed after it."""
    op = ops.defop("softsign", lambda x: x / (1 + abs(x)), lambda x, out: 1 / (1 + abs(x)) ** 2)
    try:
        yield op
    finally:
        ops.OPS.pop("softsign", None)


def unary_ops() -> list[str]:
    """The one-input rows micrograd defines (not ones a test module may have added with defop)."""
    return [
        name
        for name, op in ops.OPS.items()
        if name.isidentifier() and op.arity == 1 and not op.attrs and op.forward.__module__.startswith("micrograd")
    ]


@pytest.mark.parametrize("name", unary_ops())
def test_every_one_input_op_of_the_table_is_a_function(name: str) -> None:
    op = ops.OPS[name]
    x = 0.7  # inside every built-in op's domain, away from kinks
    y = evaluate(f"{name}(x)", {"x": x})
    assert y._fn is op and y.data == op.forward(x)
    y.backward()
    (leaf,) = y._prev
    assert leaf.grad == op.local_grads((x,), y.data)[0]
    assert evaluate(f"{name}(0.7)", {}).data == op.forward(x)  # a function of a constant is folded


def test_the_functions_are_the_tables_ops_with_a_function_name() -> None:
    import micrograd.losses  # noqa: F401 - they add the fused rows, which expressions do not offer
    import micrograd.nn  # noqa: F401

    models = {"softmax_cross_entropy", "rms_scale", "attention_score", "attend"}
    assert models <= set(ops.OPS) and not models & set(FUNCTIONS)
    assert set(FUNCTIONS) == {name for name in ops.OPS if name.isidentifier()} - models
    assert {"+", "*", "**"} <= set(ops.OPS) and not {"+", "*", "**"} & set(FUNCTIONS)
    assert FUNCTIONS["tanh"] is ops.TANH


def test_an_op_added_with_defop_is_a_function_at_once(softsign: Op) -> None:
    y = evaluate("softsign(x)*x", {"x": 0.5})
    assert y.data == pytest.approx(0.5 / 1.5 * 0.5)
    y.backward()
    x = leaves_by_label(y)["x"]
    assert x.grad == pytest.approx(0.5 / 1.5 + 0.5 / 1.5**2)  # s(x) + x s'(x), s' = 1 / (1 + |x|)**2
    assert "softsign" in FUNCTIONS
    with pytest.raises(ExpressionError, match="function name"):
        parse_settings(["softsign=1"])


def test_an_op_removed_from_the_table_is_no_longer_a_function() -> None:
    ops.defop("halve", lambda x: x / 2, lambda x, out: 0.5)
    assert evaluate("halve(x)", {"x": 3.0}).data == 1.5
    del ops.OPS["halve"]
    with pytest.raises(ExpressionError, match="calling 'halve' is not allowed"):
        evaluate("halve(x)", {"x": 3.0})


def test_constants_of_an_op_are_keywords_and_become_node_attrs() -> None:
    y = evaluate("pow(x, k=3)", {"x": 2.0})
    assert y.data == 8.0 and y._fn is ops.POW and y._attrs == (3.0,) and y._op == "**3"
    assert evaluate("x**3", {"x": 2.0})._attrs == (3.0,)  # the operator makes the same node
    assert evaluate("pow(x, k=-1)", {"x": 4.0}).data == 0.25


def test_ops_with_many_inputs_are_functions_too() -> None:
    y = evaluate("linear(w1, w2, x1, x2, b)", {"w1": 2.0, "w2": -1.0, "x1": 3.0, "x2": 4.0, "b": 0.5})
    assert y._fn is ops.LINEAR and y.data == 2.0 * 3.0 - 4.0 + 0.5
    assert evaluate("dot(w, 3)", {"w": 2.0}).data == 6.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pow(x)", "pow() needs k=NUMBER: pow(x, k=NUMBER)"),
        ("pow(x, k=x)", "k must be a number"),
        ("pow(x, j=2)", "pow() has no keyword 'j'"),
        ("tanh(x, k=2)", "tanh() has no keyword 'k': tanh(x)"),
        ("exp(x, x)", "exp() takes exactly one argument: exp(x)"),
        ("linear()", "linear() takes at least one argument"),
        ("tanh(*x)", "not '*' unpacked"),
        ("sin", "sin is a function"),
    ],
)
def test_calls_that_do_not_fit_the_op_are_refused(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        evaluate(text, {"x": 2.0} if "x" in text else {})
