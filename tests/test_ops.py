"""One table of ops drives every check: value vs math, gradcheck (listed and drawn points), PyTorch float64.

Adding an op to the engine means adding one row here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import optional
from micrograd import Value, linear
from micrograd.gradcheck import gradcheck

torch = optional("torch")


@dataclass
class Op:
    name: str
    fn: Callable[..., Value]  # the micrograd expression, on Values
    ref: Callable[..., float]  # the same maths on floats (math module)
    torch_fn: Callable[..., object]  # the same on torch tensors
    domain: list[tuple[float, float]]  # per argument: where the op is smooth
    points: list[tuple[float, ...]]  # listed points, edge-ish cases included


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _dot(w1, w2, x1, x2, b):  # a neuron's weighted sum
    return linear([w1, w2], [x1, x2], b)


R = (-5.0, 5.0)
POS = (0.05, 20.0)
OPS = [
    Op("add", lambda a, b: a + b, lambda a, b: a + b, lambda a, b: a + b, [R, R], [(1.0, 2.0), (-3.5, 0.0)]),
    Op("radd", lambda a: 2.5 + a, lambda a: 2.5 + a, lambda a: 2.5 + a, [R], [(1.0,), (-4.0,)]),
    Op("sub", lambda a, b: a - b, lambda a, b: a - b, lambda a, b: a - b, [R, R], [(1.0, 2.0)]),
    Op("rsub", lambda a: 2.0 - a, lambda a: 2.0 - a, lambda a: 2.0 - a, [R], [(3.0,)]),
    Op("mul", lambda a, b: a * b, lambda a, b: a * b, lambda a, b: a * b, [R, R], [(3.0, -2.0), (0.0, 4.0)]),
    Op("rmul", lambda a: 3 * a, lambda a: 3 * a, lambda a: 3 * a, [R], [(1.5,)]),
    Op("neg", lambda a: -a, lambda a: -a, lambda a: -a, [R], [(2.0,)]),
    Op("div", lambda a, b: a / b, lambda a, b: a / b, lambda a, b: a / b, [R, POS], [(1.0, 4.0), (-2.0, 0.5)]),
    Op("rdiv", lambda a: 1 / a, lambda a: 1 / a, lambda a: 1 / a, [POS], [(4.0,), (0.25,)]),
    Op("square", lambda a: a**2, lambda a: a**2, lambda a: a**2, [R], [(3.0,), (-1.5,), (0.0,)]),
    Op("cube", lambda a: a**3, lambda a: a**3, lambda a: a**3, [R], [(-2.0,)]),
    Op("inverse_square", lambda a: a**-2, lambda a: a**-2, lambda a: a**-2, [POS], [(0.5,)]),
    Op("sqrt", lambda a: a**0.5, lambda a: a**0.5, lambda a: a**0.5, [POS], [(4.0,), (0.1,)]),
    Op("pow_value", lambda a, b: a**b, lambda a, b: a**b, lambda a, b: a**b, [POS, R], [(2.0, 3.0), (0.5, -1.5)]),
    Op("rpow", lambda a: 2**a, lambda a: 2**a, lambda a: 2**a, [R], [(3.0,), (-0.5,)]),
    Op("exp", lambda a: a.exp(), math.exp, lambda a: a.exp(), [R], [(0.0,), (2.0,), (-3.0,)]),
    Op("log", lambda a: a.log(), math.log, lambda a: a.log(), [POS], [(1.0,), (0.1,), (10.0,)]),
    Op("tanh", lambda a: a.tanh(), math.tanh, lambda a: a.tanh(), [R], [(0.0,), (0.8813735870195432,), (-3.0,)]),
    Op("relu", lambda a: a.relu(), lambda a: max(a, 0.0), lambda a: a.relu(), [R], [(2.0,), (-1.0,)]),
    Op("sigmoid", lambda a: a.sigmoid(), _sigmoid, lambda a: a.sigmoid(), [R], [(0.0,), (3.0,), (-3.0,)]),
    Op(
        "linear",
        _dot,
        lambda w1, w2, x1, x2, b: b + w1 * x1 + w2 * x2,
        lambda w1, w2, x1, x2, b: b + w1 * x1 + w2 * x2,
        [R] * 5,
        [(0.5, -1.0, 2.0, 3.0, 0.1)],
    ),
]
IDS = [op.name for op in OPS]


def _points(op: Op) -> st.SearchStrategy[tuple[float, ...]]:
    """Hypothesis points inside the op's domain, away from relu's kink at 0."""
    coords = [st.floats(lo, hi, allow_nan=False) for lo, hi in op.domain]
    strategy = st.tuples(*coords)
    if op.name == "relu":
        strategy = strategy.filter(lambda p: abs(p[0]) > 1e-3)
    return strategy


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_forward_matches_math(op: Op) -> None:
    for point in op.points:
        got = op.fn(*[Value(x) for x in point]).data
        assert got == pytest.approx(op.ref(*point), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_gradcheck_at_listed_points(op: Op) -> None:
    for point in op.points:
        assert gradcheck(op.fn, list(point))


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_gradcheck_at_drawn_points(op: Op) -> None:
    @settings(max_examples=40, deadline=None)
    @given(_points(op))
    def check(point: tuple[float, ...]) -> None:
        assert gradcheck(op.fn, list(point), atol=1e-5, rtol=1e-4)

    check()


def _torch_value_and_grads(op: Op, point: tuple[float, ...]) -> tuple[float, list[float]]:
    assert torch is not None
    xs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point]
    out = op.torch_fn(*xs)
    out.backward()
    return out.item(), [0.0 if x.grad is None else x.grad.item() for x in xs]


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_matches_torch_float64(op: Op) -> None:
    @settings(max_examples=40, deadline=None)
    @given(_points(op))
    def check(point: tuple[float, ...]) -> None:
        values = [Value(x) for x in point]
        out = op.fn(*values)
        out.backward()
        expected, expected_grads = _torch_value_and_grads(op, point)
        assert out.data == pytest.approx(expected, rel=1e-9, abs=1e-12)
        for v, g in zip(values, expected_grads, strict=True):
            assert v.grad == pytest.approx(g, rel=1e-9, abs=1e-12)

    for point in op.points:
        check.hypothesis.inner_test(point)  # type: ignore[attr-defined]
    check()
