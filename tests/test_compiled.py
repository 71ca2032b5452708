"""The compiled path gives the eager engine's numbers, and refuses what it cannot replay."""

from __future__ import annotations

import builtins
import itertools
import math
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import micrograd.gpt  # noqa: F401 - registers the package's fused ops (nn, losses, gpt), so the walk covers them
from conftest import ROOT
from helpers import same_bits
from micrograd import Value, linear, no_grad, ops
from micrograd.compiler import SUPPORTED_OPS, CompiledLoss, CompileError, compile_loss
from micrograd.compiler import numpy as numpy_engine
from micrograd.compiler import python as python_engine
from micrograd.compiler._text import Symbols
from micrograd.compiler.plan import MapBlock, PlanNode, layout, record_example
from micrograd.nn import MLP

ENGINES = ["compiled", "numpy"]
TOLERANCE = dict(rel_tol=1e-12, abs_tol=1e-12)

PerExample = Callable[[list[Value], Value], Value]


def hinge(model: MLP) -> PerExample:
    return lambda x, t: (1 + -t * model(x)).relu()  # type: ignore[operator]


def squared_error(model: MLP) -> PerExample:
    return lambda x, t: (model(x) - t) ** 2  # type: ignore[operator]


def logistic(model: MLP) -> PerExample:
    # log(1 + exp(-t*s)) for t = +-1, written without a branch on the data so it can be compiled
    return lambda x, t: (1 + (-t * model(x)).exp()).log()  # type: ignore[operator]


LOSSES = {"hinge": hinge, "squared_error": squared_error, "logistic": logistic}


def l2(params: list[Value]) -> Value:
    return 1e-4 * sum((p * p for p in params), Value(0.0))


def eager_loss_and_grads(
    per_example: PerExample, params: list[Value], X: list[list[float]], y: list[float], regularizer: Any = None
) -> tuple[float, list[float]]:
    """The reference: the demo's way, one graph for the whole batch, then backward()."""
    for p in params:
        p.grad = 0.0
    losses = [per_example([Value(v) for v in row], Value(t)) for row, t in zip(X, y, strict=False)]
    total = sum(losses) * (1.0 / len(losses))
    if regularizer is not None:
        total = total + regularizer(params)
    total.backward()
    return total.data, [p.grad for p in params]


def compiled_loss_and_grads(compiled: CompiledLoss, X: Any, y: Any) -> tuple[float, list[float]]:
    for p in compiled.params:
        p.grad = 0.0
    loss = compiled.loss_and_backward(X, y)
    return loss, [p.grad for p in compiled.params]


def assert_close(got: tuple[float, list[float]], expected: tuple[float, list[float]]) -> None:
    assert math.isclose(got[0], expected[0], **TOLERANCE), (got[0], expected[0])
    assert len(got[1]) == len(expected[1])
    for i, (a, b) in enumerate(zip(got[1], expected[1], strict=False)):
        assert math.isclose(a, b, **TOLERANCE), (i, a, b)


def batch(n: int, n_inputs: int, seed: int, labels: str = "sign") -> tuple[list[list[float]], list[float]]:
    rng = random.Random(seed)
    X = [[rng.uniform(-2, 2) for _ in range(n_inputs)] for _ in range(n)]
    y = [rng.choice([-1.0, 1.0]) if labels == "sign" else rng.uniform(-1, 1) for _ in range(n)]
    return X, y


# ----------------------------------------------------------------------
# Same numbers as eager
# ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize(
    "nin, nouts, activation",
    [
        (2, [16, 16, 1], "relu"),
        (3, [4, 1], "tanh"),
        (1, [5, 1, 3, 1], "sigmoid"),
        (4, [1], "relu"),
        (2, [7, 1], "linear"),
    ],
)
def test_random_mlps_match_eager(engine: str, loss_name: str, nin: int, nouts: list[int], activation: str) -> None:
    random.seed(hash((nin, len(nouts), activation)) % 1000)
    model = MLP(nin, nouts, activation=activation)
    X, y = batch(23, nin, seed=nin * 10 + len(nouts))
    per_example = LOSSES[loss_name](model)
    compiled = compile_loss(per_example, model, nin, engine=engine)  # type: ignore[arg-type]
    expected = eager_loss_and_grads(per_example, model.parameters(), X, y)
    assert_close(compiled_loss_and_grads(compiled, X, y), expected)
    # new data, same recording: replayed, not re-recorded
    X2, y2 = batch(9, nin, seed=99)
    expected = eager_loss_and_grads(per_example, model.parameters(), X2, y2)
    assert_close(compiled_loss_and_grads(compiled, X2, y2), expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_demo_loss_with_its_l2_term_matches_eager(engine: str) -> None:
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    X, y = batch(100, 2, seed=3)
    compiled = compile_loss(hinge(model), model, 2, engine=engine, regularizer=l2)  # type: ignore[arg-type]
    expected = eager_loss_and_grads(hinge(model), model.parameters(), X, y, regularizer=l2)
    assert_close(compiled_loss_and_grads(compiled, X, y), expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_training_steps_follow_the_eager_path(engine: str) -> None:
    X, y = batch(30, 2, seed=5)
    random.seed(7)
    eager_model = MLP(2, [8, 8, 1])
    random.seed(7)
    compiled_model = MLP(2, [8, 8, 1])
    compiled = compile_loss(hinge(compiled_model), compiled_model, 2, engine=engine, regularizer=l2)  # type: ignore[arg-type]
    for k in range(5):
        eager_loss, _ = eager_loss_and_grads(hinge(eager_model), eager_model.parameters(), X, y, regularizer=l2)
        compiled_model.zero_grad()
        loss = compiled.loss_and_backward(X, y)
        assert math.isclose(loss, eager_loss, rel_tol=1e-9)
        for model in (eager_model, compiled_model):
            for p in model.parameters():
                p.data -= (1.0 - 0.9 * k / 100) * p.grad
    for a, b in zip(eager_model.parameters(), compiled_model.parameters(), strict=False):
        assert math.isclose(a.data, b.data, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_gradients_accumulate_like_backward(engine: str) -> None:
    random.seed(0)
    model = MLP(2, [3, 1])
    X, y = batch(5, 2, seed=1)
    compiled = compile_loss(squared_error(model), model, 2, engine=engine)  # type: ignore[arg-type]
    _, once = compiled_loss_and_grads(compiled, X, y)
    compiled.loss_and_backward(X, y)  # no zero_grad: adds the same amounts again
    for p, g in zip(model.parameters(), once, strict=False):
        assert math.isclose(p.grad, 2 * g, **TOLERANCE)


@pytest.mark.parametrize("engine", ENGINES)
def test_relu_kink_is_decided_from_the_new_data(engine: str) -> None:
    w, b = Value(1.0), Value(0.0)
    compiled = compile_loss(lambda x, t: linear([w], x, b).relu() * t, [w, b], 1, engine=engine)  # type: ignore[arg-type]
    # recorded where relu is active; replayed at x = 0 (the kink: gradient 0, as eager) and x < 0
    compiled.record([[1.0], [2.0]], [1.0, 2.0])
    for x in (0.0, -1.0, 3.0):
        expected = eager_loss_and_grads(lambda xs, t: linear([w], xs, b).relu() * t, [w, b], [[x]], [1.0])
        assert_close(compiled_loss_and_grads(compiled, [[x]], [1.0]), expected)


def test_numpy_arrays_are_accepted_as_the_batch() -> None:
    np = pytest.importorskip("numpy")
    random.seed(2)
    model = MLP(3, [4, 1])
    X, y = batch(10, 3, seed=2)
    for engine in ENGINES:
        compiled = compile_loss(hinge(model), model, 3, engine=engine)  # type: ignore[arg-type]
        expected = eager_loss_and_grads(hinge(model), model.parameters(), X, y)
        assert_close(compiled_loss_and_grads(compiled, np.array(X), np.array(y)), expected)


# ----------------------------------------------------------------------
# Every primitive op, in graphs drawn by hypothesis
# ----------------------------------------------------------------------

# Each step makes a new value from earlier ones; every formula is defined for any real inputs,
# so the drawn graph never depends on the data (no domain errors, no branches).
STEPS: dict[str, Callable[[Value, Value, Value], Value]] = {
    "add": lambda a, b, p: a + b,
    "mul": lambda a, b, p: a * p,
    "square": lambda a, b, p: a**2,
    "reciprocal": lambda a, b, p: (a * a + 1) ** -1,
    "sqrt": lambda a, b, p: (a * a + 0.5) ** 0.5,
    "exp": lambda a, b, p: a.tanh().exp(),
    "log": lambda a, b, p: (a.sigmoid() + p * p).log(),
    "tanh": lambda a, b, p: (a * p).tanh(),
    "sigmoid": lambda a, b, p: (a + b).sigmoid(),
    "relu": lambda a, b, p: (a - p).relu(),
    "pow": lambda a, b, p: (a.sigmoid() + 0.5) ** b.tanh(),
    "linear": lambda a, b, p: linear([p, p * p], [a, b], p),
}


@st.composite
def programs(draw: st.DrawFn) -> list[tuple[str, int, int, int]]:
    n_steps = draw(st.integers(1, 8))
    program = []
    for i in range(n_steps):
        op = draw(st.sampled_from(sorted(STEPS) + ["layer"]))
        program.append((op, draw(st.integers(0, i + 1)), draw(st.integers(0, i + 1)), draw(st.integers(0, 2))))
    return program


def run_program(program: list[tuple[str, int, int, int]], params: list[Value]) -> PerExample:
    def per_example(inputs: list[Value], target: Value) -> Value:
        pool = list(inputs)
        for op, i, j, k in program:
            a, b, p = pool[i % len(pool)], pool[j % len(pool)], params[k]
            if op == "layer":  # two neurons on the same inputs, then relu: a dense block and a map block
                h = [
                    linear([params[0], params[1]], [a, b], params[2]),
                    linear([params[3], params[1]], [a, b], params[4]),
                ]
                pool.append(sum(v.relu() for v in h) * 0.5)
            else:
                pool.append(STEPS[op](a, b, p))
        return pool[-1] * target + pool[-1]

    return per_example


@settings(max_examples=60, deadline=None)
@given(program=programs(), seed=st.integers(0, 10**6))
def test_drawn_graphs_over_every_op_match_eager(program: list[tuple[str, int, int, int]], seed: int) -> None:
    rng = random.Random(seed)
    params = [Value(rng.uniform(-1, 1)) for _ in range(5)]
    X = [[rng.uniform(-1.5, 1.5) for _ in range(2)] for _ in range(4)]
    y = [rng.uniform(-1, 1) for _ in range(4)]
    per_example = run_program(program, params)
    expected = eager_loss_and_grads(per_example, params, X, y)
    for engine in ENGINES:
        compiled = compile_loss(per_example, params, 2, engine=engine)  # type: ignore[arg-type]
        assert_close(compiled_loss_and_grads(compiled, X, y), expected)


def test_a_param_only_term_inside_the_per_example_loss_counts_once_per_example() -> None:
    p, q = Value(0.3), Value(-0.7)
    per_example = lambda x, t: (p * q).exp() + x[0] * p * t  # noqa: E731
    X, y = [[1.0], [2.0], [-3.0]], [1.0, 0.5, 2.0]
    expected = eager_loss_and_grads(per_example, [p, q], X, y)
    for engine in ENGINES:
        assert_close(compiled_loss_and_grads(compile_loss(per_example, [p, q], 1, engine=engine), X, y), expected)  # type: ignore[arg-type]


# ----------------------------------------------------------------------
# Every row of the op table, in both engines (an op added to the package is covered here
# with no edit), and ops added with defop
# ----------------------------------------------------------------------

PACKAGE_OPS = [name for name, op in ops.OPS.items() if getattr(op.forward, "__module__", "").startswith("micrograd")]


def _positive_inputs(params: list[Value], x: list[Value], n: int) -> list[Value]:
    """n different Values in (1, 2) built from parameters and inputs: inside every op's domain."""
    return [params[i % len(params)] * x[i % len(x)] + (1.0 + 0.05 * i) for i in range(n)]


ATTR_VALUES = (1.5, 3.0, -2.0, 1, 0)  # for constants such as pow's exponent; ints for those that are an index


def _takes(op: ops.Op, n: int, attrs: dict[str, Any]) -> bool:
    try:
        op(*_positive_inputs([Value(0.5)], [Value(0.5)], n), **attrs)
    except (ArithmeticError, TypeError, ValueError, IndexError):
        return False
    return True


def _ways_to_call(op: ops.Op) -> list[tuple[int, dict[str, Any]]]:
    """(number of inputs, constants) that the op takes: up to three sets of constants.

    An op of any number of inputs gets the first of 5, 4, 3, 2 it takes.
    """
    counts = [op.arity] if op.arity is not None else [5, 4, 3, 2]
    choices = [dict.fromkeys(op.attrs, value) for value in ATTR_VALUES] if op.attrs else [{}]
    for n in counts:
        taken = [attrs for attrs in choices if _takes(op, n, attrs)]
        if taken:
            return [(n, attrs) for attrs in taken[:3]]
    raise AssertionError(f"{op.name}: no number of inputs and constants tried works")


def _op_losses(op: ops.Op, n: int, attrs: dict[str, Any], params: list[Value]) -> dict[str, PerExample]:
    """Losses that use the op: on single values and, for one-input ops, on a layer (a numpy map block)."""
    losses: dict[str, PerExample] = {
        "single": lambda x, t: op(*_positive_inputs(params, x, n), **attrs) * (t + 2.0),
    }
    if n == 1:

        def on_a_layer(x: list[Value], t: Value) -> Value:  # three neurons on the same inputs, then the op
            layer = [linear(params[i : i + 2], x, params[5 - i]) for i in range(3)]
            return sum((op(h, **attrs) for h in layer), Value(0.0)) * t

        losses["layer"] = on_a_layer
    return losses


def _check_op_against_eager(op: ops.Op, n: int, attrs: dict[str, Any]) -> None:
    rng = random.Random(op.name)
    params = [Value(rng.uniform(0.2, 0.6)) for _ in range(6)]
    X = [[rng.uniform(0.1, 0.9) for _ in range(2)] for _ in range(7)]
    y = [rng.uniform(-1, 1) for _ in range(7)]
    for how, per_example in _op_losses(op, n, attrs, params).items():
        expected = eager_loss_and_grads(per_example, params, X, y)
        assert any(g != 0.0 for g in expected[1]), (op.name, how)  # the loss really depends on the parameters
        for engine in ENGINES:
            compiled = compile_loss(per_example, params, 2, engine=engine)  # type: ignore[arg-type]
            got = compiled_loss_and_grads(compiled, X, y)
            try:
                assert_close(got, expected)
            except AssertionError as error:
                raise AssertionError(f"{op.name} {attrs} ({how}, {engine}): {error}") from None


@pytest.mark.parametrize("name", PACKAGE_OPS)
def test_every_op_of_the_table_compiles_to_eagers_numbers(name: str) -> None:
    op = ops.OPS[name]
    for n, attrs in _ways_to_call(op):
        _check_op_against_eager(op, n, attrs)


def test_supported_ops_are_the_tables() -> None:
    assert set(SUPPORTED_OPS) == set(ops.OPS)


@pytest.fixture
def restore_op_table() -> Any:
    saved = dict(ops.OPS)
    yield
    ops.OPS.clear()
    ops.OPS.update(saved)


def test_ops_added_with_defop_compile_in_both_engines(restore_op_table: Any) -> None:
    softsign = ops.defop("softsign", lambda x: x / (1 + abs(x)), lambda x, out: 1 / (1 + abs(x)) ** 2)
    hypot = ops.defop("hypot", lambda a, b: ops.sqrt(a * a + b * b), lambda a, b, out: (a / out, b / out))
    scaled = ops.defop("scaled", lambda x, *, c: c * x, lambda x, out, *, c: c)
    # written with math: it takes floats only, so the numpy engine applies it entry by entry
    cube = ops.defop("cube", lambda x: math.pow(x, 3), lambda x, out: 3.0 * math.pow(x, 2))
    assert {"softsign", "hypot", "scaled", "cube"} <= set(SUPPORTED_OPS)
    for op, n, attrs in ((softsign, 1, {}), (hypot, 2, {}), (scaled, 1, {"c": -0.5}), (cube, 1, {})):
        _check_op_against_eager(op, n, attrs)


# ----------------------------------------------------------------------
# The inline forms are the table's numbers, bit for bit
# ----------------------------------------------------------------------

SPECIAL = [0.0, -0.0, 1.5, -2.5, 3.0, 1e-320, -1e300, 1e300, math.inf, -math.inf, math.nan]


def _outcome(compute: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """What compute(*args, **kwargs) returns, or the type of the arithmetic error it raises."""
    try:
        return compute(*args, **kwargs)
    except (ArithmeticError, ValueError) as error:
        return type(error)


@pytest.mark.parametrize("op", [ops.ADD, ops.MUL, ops.LINEAR, ops.DOT, ops.RELU, ops.POW], ids=lambda op: op.name)
def test_the_inline_forms_give_the_tables_floats(op: ops.Op) -> None:
    n = {"+": 2, "*": 2, "linear": 5, "dot": 4, "relu": 1, "pow": 1}[op.name]
    names = [f"a{i}" for i in range(n)]
    for k in (-3.0, -1.0, 0.0, 1.0, 2.0, 3.0, 10.0) if op is ops.POW else (None,):
        attrs = {"k": k} if k is not None else {}
        text = python_engine.inline_forward(op, tuple(attrs.values()), [(name, 10) for name in names])
        assert text is not None
        arrays = numpy_engine.inline_forward(op, names) if op is not ops.POW else None
        for values in itertools.product(SPECIAL, repeat=min(n, 2)):
            args = [values[i % len(values)] * (1 + i) for i in range(n)]  # every input, some of them scaled
            expected = _outcome(op.forward, *args, **attrs)
            got = _outcome(eval, text[0], {}, dict(zip(names, args, strict=True)))
            assert type(got) is type(expected) and (isinstance(got, type) or same_bits(got, expected)), (args, k)
            if arrays is not None:
                np = pytest.importorskip("numpy")
                columns = [np.array([a, -a]) for a in args]
                with np.errstate(all="ignore"):
                    on_arrays = eval(arrays, {"np": np}, dict(zip(names, columns, strict=True)))  # noqa: S307
                    reference = op.forward(*columns, **attrs)
                assert all(map(same_bits, np.broadcast_to(on_arrays, (2,)), np.broadcast_to(reference, (2,))))
            if isinstance(expected, float):  # the trivial derivatives written out are the table's
                trivial = python_engine.inline_derivatives(op, names)
                if trivial is not None:
                    local = op.local_grads(tuple(args), expected)
                    written = [1.0 if d is None else dict(zip(names, args, strict=True))[d] for d in trivial]
                    assert all(map(same_bits, written, local)), (args, written, local)


# ----------------------------------------------------------------------
# Big graphs: no recursion, no line of the generated code grows with the graph
# ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_a_neuron_with_ten_thousand_inputs(engine: str) -> None:
    rng = random.Random(10_000)
    n = 10_000
    w, b = [Value(rng.uniform(-0.01, 0.01)) for _ in range(n)], Value(0.1)
    X = [[rng.uniform(-1, 1) for _ in range(n)] for _ in range(3)]
    y = [0.5, -0.5, 1.0]
    per_example: PerExample = lambda x, t: (linear(w, x, b) - t) ** 2  # noqa: E731
    expected = eager_loss_and_grads(per_example, [*w, b], X, y)
    compiled = compile_loss(per_example, [*w, b], n, engine=engine)  # type: ignore[arg-type]
    assert_close(compiled_loss_and_grads(compiled, X, y), expected)
    assert max(map(len, compiled.source.splitlines())) < 1000


@pytest.mark.parametrize("engine", ENGINES)
def test_a_parameter_used_ten_thousand_times(engine: str) -> None:
    p = Value(0.3)
    per_example: PerExample = lambda x, t: sum((p * x[i % 3] for i in range(10_000)), Value(0.0)) * t  # noqa: E731
    X, y = [[1.0, 2.0, 3.0], [0.5, -0.1, 0.2]], [1.0, 2.0]
    expected = eager_loss_and_grads(per_example, [p], X, y)
    compiled = compile_loss(per_example, [p], 3, engine=engine)  # type: ignore[arg-type]
    assert_close(compiled_loss_and_grads(compiled, X, y), expected)
    assert max(map(len, compiled.source.splitlines())) < 1000


# ----------------------------------------------------------------------
# Every graph in both engines: leaves as the loss, inf and nan, eager's errors
# ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_a_loss_that_is_a_leaf(engine: str) -> None:
    p, q = Value(0.25), Value(-1.0)
    X, y = [[1.0, 2.0], [3.0, 4.0]], [0.5, -0.5]
    cases: list[PerExample] = [
        lambda x, t: p,  # a bare parameter
        lambda x, t: x[1],  # an input
        lambda x, t: t,  # the target
        lambda x, t: Value(2.0),  # a constant
    ]
    for per_example in cases:
        expected = eager_loss_and_grads(per_example, [p, q], X, y)
        assert_close(compiled_loss_and_grads(compile_loss(per_example, [p, q], 2, engine=engine), X, y), expected)  # type: ignore[arg-type]


def _same_or_both_nan(got: tuple[float, list[float]], expected: tuple[float, list[float]]) -> bool:
    pairs = [(got[0], expected[0]), *zip(got[1], expected[1], strict=True)]
    return all((math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12) for a, b in pairs)


@pytest.mark.parametrize("engine", ENGINES)
def test_inf_and_nan_as_eager(engine: str) -> None:
    w = Value(0.5)
    X, y = [[math.inf], [1.0], [-math.inf], [math.nan]], [1.0, 1.0, 1.0, 1.0]
    cases: list[PerExample] = [
        lambda x, t: w * 2.0 ** x[0],  # an infinite exponent (a Value): inf, as eager
        lambda x, t: Value(2.0) ** (w * x[0]),
        lambda x, t: (x[0] * w + 3.0) ** math.inf * w,  # an infinite constant exponent
        lambda x, t: (x[0] * w).tanh() + (x[0] * w).sigmoid() + (x[0] * w).relu(),
        lambda x, t: (x[0] * w).exp() * w,
    ]
    for i, per_example in enumerate(cases):
        for rows in ([X[0], X[1]], [X[2], X[1]], [X[3], X[1]]):
            compiled = compile_loss(per_example, [w], 1, engine=engine, example=([0.5], 1.0))  # type: ignore[arg-type]
            expected = _outcome(eager_loss_and_grads, per_example, [w], rows, y[:2])
            if isinstance(expected, type):  # eager raises (e.g. (-inf) ** inf): so must the compiled code
                with pytest.raises(expected):
                    compiled.loss_and_backward(rows, y[:2])
                continue
            got = compiled_loss_and_grads(compiled, rows, y[:2])
            assert _same_or_both_nan(got, expected), (i, rows, got, expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_what_raises_eagerly_raises_compiled(engine: str) -> None:
    w = Value(1.0)
    cases: list[tuple[PerExample, float]] = [
        (lambda x, t: (x[0] * w).log(), -1.0),  # ValueError: log of a negative number
        (lambda x, t: (x[0] * w).log(), 0.0),
        (lambda x, t: (x[0] * w).sqrt(), -4.0),
        (lambda x, t: (x[0] * w).exp(), 1000.0),  # OverflowError
        (lambda x, t: (x[0] * w) ** -1, 0.0),  # ZeroDivisionError
        (lambda x, t: (x[0] * w) ** 0.5, 0.0),  # ZeroDivisionError: the derivative is infinite
        (lambda x, t: (x[0] * w) ** 0.5, -2.0),  # ValueError: a fractional power of a negative number
        (lambda x, t: (x[0] * w) ** 2, 1e200),  # OverflowError, as float ** does
        (lambda x, t: x[0] ** (w * 0.5), -2.0),  # ValueError: the same, with a Value exponent
    ]
    for i, (per_example, bad) in enumerate(cases):
        with pytest.raises((ArithmeticError, ValueError)) as eager_error:
            eager_loss_and_grads(per_example, [w], [[0.5], [bad]], [1.0, 1.0])
        compiled = compile_loss(per_example, [w], 1, engine=engine, example=([0.5], 1.0))  # type: ignore[arg-type]
        with pytest.raises(eager_error.type):
            compiled.loss_and_backward([[0.5], [bad]], [1.0, 1.0])
        assert compiled.loss_and_backward([[0.5], [0.25]], [1.0, 1.0]) is not None, i  # fine data still runs


@pytest.mark.parametrize("engine", ENGINES)
def test_a_node_made_by_hand_gives_eagers_gradient(engine: str) -> None:
    a, b = Value(0.5), Value(-1.5)

    def per_example(x: list[Value], t: Value) -> Value:
        fixed = Value(3.0, (a, b), "+")  # no op and no local derivatives: backward passes nothing to a, b
        given = Value(2.0, (a,), "twice", _local_grads=(4.0,))  # passes 4 * its gradient to a
        return fixed * x[0] + given * t + a * b * x[1]

    X, y = [[1.0, 2.0], [-3.0, 0.5]], [1.0, -2.0]
    expected = eager_loss_and_grads(per_example, [a, b], X, y)
    assert_close(compiled_loss_and_grads(compile_loss(per_example, [a, b], 2, engine=engine), X, y), expected)  # type: ignore[arg-type]


# ----------------------------------------------------------------------
# The plan and the emitters
# ----------------------------------------------------------------------


def test_numpy_blocks_over_some_columns_and_maps_of_maps() -> None:
    random.seed(8)
    first, rest = MLP(2, [5, 1], activation="tanh"), MLP(3, [3, 1], activation="tanh")  # first: one layer used
    params = first.parameters() + rest.parameters()

    def per_example(x: list[Value], t: Value) -> Value:
        h = first.layers[0](x)  # tanh of a dense block: a map block
        assert isinstance(h, list)
        picked = [h[4].tanh(), h[1].tanh(), h[0].tanh()]  # a map of it, over some of its columns
        out = rest(picked)
        assert isinstance(out, Value)
        return (out - t) ** 2 + h[2] * h[3]

    position = {id(p): j for j, p in enumerate(params)}
    plan = record_example(per_example, [0.1, 0.2], 0.5, position, len(params)).plan
    blocks = layout(plan).blocks
    maps = [block for block in blocks if isinstance(block, MapBlock)]
    assert any(list(block.columns) != list(range(len(blocks[block.source].members))) for block in maps)
    assert any(isinstance(blocks[block.source], MapBlock) for block in maps)
    X, y = batch(11, 2, seed=8, labels="real")
    expected = eager_loss_and_grads(per_example, params, X, y)
    assert_close(compiled_loss_and_grads(compile_loss(per_example, params, 2, engine="numpy"), X, y), expected)


def test_the_same_plan_gives_the_same_source() -> None:
    random.seed(5)
    model = MLP(3, [4, 4, 1], activation="tanh")
    per_example = squared_error(model)
    params = model.parameters()
    position = {id(p): j for j, p in enumerate(params)}
    plan = record_example(per_example, [0.1, 0.2, 0.3], 0.5, position, len(params)).plan  # type: ignore[arg-type]
    again = record_example(per_example, [0.4, -0.2, 0.3], 0.5, position, len(params)).plan  # type: ignore[arg-type]
    assert plan.nodes == again.nodes  # typed nodes: the op rows themselves, not their names
    assert all(isinstance(node, PlanNode) for node in plan.nodes)
    assert {node.op for node in plan.nodes if node.kind == "op"} == {ops.LINEAR, ops.TANH, ops.ADD, ops.MUL, ops.POW}
    python_text = python_engine.example_source(plan, Symbols(plan))
    assert python_text == python_engine.example_source(plan, Symbols(plan)) == python_engine.example_source(
        again, Symbols(again)
    )
    numpy_text = numpy_engine.example_source(plan, layout(plan), Symbols(plan))
    assert numpy_text == numpy_engine.example_source(plan, layout(plan), Symbols(plan))
    assert "op_tanh_f(" in python_text and "op_tanh_d(" in python_text  # the table's functions, called
    for engine in ENGINES:
        first = compile_loss(per_example, model, 3, engine=engine, example=([0.1, 0.2, 0.3], 0.5))  # type: ignore[arg-type]
        second = compile_loss(per_example, model, 3, engine=engine, example=([0.7, 0.1, -0.3], 1.5))  # type: ignore[arg-type]
        assert first.source == second.source


# ----------------------------------------------------------------------
# Refusals
# ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_wrong_number_of_inputs_is_a_value_error(engine: str) -> None:
    model = MLP(2, [3, 1])
    compiled = compile_loss(hinge(model), model, 2, engine=engine)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected 2 inputs"):
        compiled.loss_and_backward([[1.0, 2.0, 3.0]], [1.0])
    compiled.loss_and_backward([[1.0, 2.0]], [1.0])
    with pytest.raises(ValueError, match="expected 2 inputs"):
        compiled.loss_and_backward([[1.0]], [1.0])
    with pytest.raises(ValueError, match="targets|shape"):
        compiled.loss_and_backward([[1.0, 2.0]], [1.0, 1.0])


def test_a_changed_parameter_list_is_refused() -> None:
    model = MLP(2, [3, 1])
    compiled = compile_loss(hinge(model), model, 2)  # type: ignore[arg-type]
    compiled.loss_and_backward([[1.0, 2.0]], [1.0])
    model.layers[0].neurons[0].w.append(Value(0.5))  # a parameter added after recording
    with pytest.raises(CompileError, match="parameters changed"):
        compiled.loss_and_backward([[1.0, 2.0]], [1.0])
    params = [Value(1.0)]
    compiled = compile_loss(lambda x, t: x[0] * params[0], params, 1)
    params[0] = Value(2.0)  # the list passed in, changed in place
    with pytest.raises(CompileError, match="parameters changed"):
        compiled.loss_and_backward([[1.0]], [0.0])


def test_a_value_missing_from_params_is_refused() -> None:
    w, forgotten = Value(1.0), Value(2.0)
    with pytest.raises(CompileError, match="not in params"):
        compile_loss(lambda x, t: x[0] * w * forgotten, [w], 1, example=([1.0], 0.0))
    with pytest.raises(CompileError, match="not in params"):
        compile_loss(lambda x, t: x[0] * w, [w], 1, regularizer=lambda ps: ps[0] * forgotten)


def test_a_node_made_by_hand_on_the_inputs_is_refused() -> None:
    def cube(x: Value) -> Value:  # made by hand: no row in the op table, so no way to recompute it
        return Value(x.data**3, (x,), "cube", _local_grads=(3 * x.data**2,))

    for engine in ENGINES:
        with pytest.raises(CompileError, match="made by hand.*'cube'.*defop"):
            compile_loss(lambda x, t: cube(x[0]), [], 1, engine=engine, example=([1.0], 0.0))  # type: ignore[arg-type]


def test_a_node_with_a_backward_set_by_hand_is_refused() -> None:
    w = Value(0.5)

    def sin(x: Value) -> Value:  # the lecture's way of adding an op: a closure the compiler cannot read
        out = Value(math.sin(x.data), (x,), "sin")

        def _backward() -> None:
            x.grad += math.cos(x.data) * out.grad

        out._backward = _backward  # type: ignore[method-assign,assignment]
        return out

    for engine in ENGINES:
        with pytest.raises(CompileError, match="_backward.*'sin'.*defop"):
            compile_loss(lambda x, t: sin(x[0] * w), [w], 1, engine=engine, example=([1.0], 0.0))  # type: ignore[arg-type]


def test_python_branching_on_data_is_refused() -> None:
    w = Value(1.0)

    def branchy(x: list[Value], t: Value) -> Value:
        return x[0] * w if x[0].data > 0 else x[0] * w * w

    with pytest.raises(CompileError, match="differs between two examples"):
        compile_loss(branchy, [w], 1).loss_and_backward([[1.0], [-1.0]], [1.0, 1.0])

    def baked(x: list[Value], t: Value) -> Value:
        return x[0] * w * t.data  # the target's number, not the Value: a constant of the graph

    with pytest.raises(CompileError, match="constant of the graph differs"):
        compile_loss(baked, [w], 1).loss_and_backward([[1.0], [1.0]], [1.0, -1.0])


def test_the_old_engine_word_still_works_with_a_notice() -> None:
    w = Value(2.0)
    with pytest.warns(FutureWarning, match="'python' is now called 'compiled'"):
        compiled = compile_loss(lambda x, t: x[0] * w * t, [w], 1, engine="python")
    assert compiled.engine == "compiled"
    assert compiled.loss_and_backward([[3.0]], [0.5]) == 3.0 and w.grad == 1.5


def test_other_misuse() -> None:
    with pytest.raises(ValueError, match="engine"):
        compile_loss(lambda x, t: x[0], [], 1, engine="fortran")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_inputs"):
        compile_loss(lambda x, t: x[0], [], 0)
    with pytest.raises(CompileError, match="must return a Value"):
        compile_loss(lambda x, t: 1.0, [], 1, example=([1.0], 0.0))  # type: ignore[arg-type,return-value]
    with no_grad(), pytest.raises(CompileError, match="no_grad"):
        compile_loss(lambda x, t: x[0] * 2, [], 1, example=([1.0], 0.0))
    with pytest.raises(RuntimeError, match="nothing recorded"):
        _ = compile_loss(lambda x, t: x[0], [], 1).source
    with pytest.raises(ValueError, match="empty"):
        compile_loss(lambda x, t: x[0], [], 1).loss_and_backward([], [])


def test_numpy_engine_without_numpy_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_numpy(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError("No module named 'numpy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_numpy)
    with pytest.raises(ImportError, match=r"micrograd\[fast\]"):
        compile_loss(lambda x, t: x[0], [], 1, engine="numpy")
    compile_loss(lambda x, t: x[0], [], 1, engine="compiled")  # the compiled (Python) engine needs nothing


@pytest.mark.parametrize("engine", ENGINES)
def test_the_generated_code_can_be_read(engine: str) -> None:
    model = MLP(2, [2, 1])
    compiled = compile_loss(hinge(model), model, 2, engine=engine, example=([0.1, 0.2], 1.0), regularizer=l2)  # type: ignore[arg-type]
    assert "def loss_and_backward(" in compiled.source
    assert "def regularizer_and_backward(" in compiled.source
    assert "recorded" in repr(compiled)


# ----------------------------------------------------------------------
# The benchmark script runs end to end (numbers are not checked here: no timing in tests)
# ----------------------------------------------------------------------


def test_benchmark_quick_run_works(original_micrograd: Any) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=str(ROOT),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "W1" in result.stdout and "W2" in result.stdout and "W3" in result.stdout
