"""Every row of the op table, checked in the eager engine and to third order.

One spec per op (inputs, attrs, a torch float64 twin). The test walks
``micrograd.ops.OPS``: an op the package defines without a spec here fails,
so a new row cannot go unchecked. Checks, one line each in SPECS:

- the node's value is the row's forward, and the local derivatives stored at
  forward time are the row's derivative (so the inline + and * nodes cannot
  drift from their rows);
- first derivatives against central differences;
- first, second and third directional derivatives against PyTorch float64;
- second and third against central differences of the order below, so they are
  checked where torch is absent too.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import micrograd.gpt  # noqa: F401 - registers the GPT's fused ops, so the walk covers them too
from helpers import optional
from micrograd import Value, grad
from micrograd.ops import OPS, Op, defop

torch = optional("torch")
F = optional("torch.nn.functional")


@dataclass
class Spec:
    inputs: list[float]  # a point where the op is smooth
    twin: Callable[..., Any] | None  # the same maths on torch tensors (a list of 0-d tensors), or None
    attrs: dict[str, Any] = field(default_factory=dict)


def _t(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


SPECS: dict[str, Spec] = {
    "+": Spec([0.7, -1.3], _t(lambda a, b: a + b)),
    "*": Spec([0.7, -1.3], _t(lambda a, b: a * b)),
    "pow": Spec([1.3], _t(lambda x: x**3.0), {"k": 3.0}),
    "**": Spec([1.3, 0.7], _t(lambda x, y: x**y)),
    "exp": Spec([0.4], _t(lambda x: x.exp())),
    "log": Spec([1.7], _t(lambda x: x.log())),
    "tanh": Spec([0.4], _t(lambda x: x.tanh())),
    "sigmoid": Spec([-0.6], _t(lambda x: x.sigmoid())),
    "relu": Spec([0.9], _t(lambda x: x.relu())),
    "sin": Spec([1.0], _t(lambda x: x.sin())),
    "cos": Spec([1.0], _t(lambda x: x.cos())),
    "sqrt": Spec([2.3], _t(lambda x: x.sqrt())),
    "abs": Spec([-0.8], _t(lambda x: x.abs())),
    "softplus": Spec([0.3], _t(lambda x: F.softplus(x))),
    "silu": Spec([0.3], _t(lambda x: F.silu(x))),
    "gelu": Spec([0.3], _t(lambda x: F.gelu(x, approximate="tanh"))),
    "linear": Spec([0.5, -1.0, 2.0, 3.0, 0.1], _t(lambda w1, w2, x1, x2, b: b + w1 * x1 + w2 * x2)),
    "dot": Spec([0.5, -1.0, 2.0, 3.0], _t(lambda w1, w2, x1, x2: w1 * x1 + w2 * x2)),
    "softmax_cross_entropy": Spec(
        [0.2, -0.5, 1.1], _t(lambda *ls: -torch.stack(ls).log_softmax(0)[1]), {"target": 1}
    ),
    "rms_scale": Spec([0.2, -0.5, 1.1], _t(lambda *xs: ((torch.stack(xs) ** 2).mean() + 1e-5) ** -0.5), {"eps": 1e-5}),
    "attention_score": Spec(
        [0.2, -0.5, 1.1, 0.3], _t(lambda q1, q2, k1, k2: (q1 * k1 + q2 * k2) * 0.7), {"scale": 0.7}
    ),
    "attend": Spec(
        [0.2, -0.5, 1.1, 0.3, -0.4, 0.9],
        _t(lambda *a: (torch.stack(a[:3]).softmax(0) * torch.stack(a[3:])).sum()),
    ),
}

PACKAGE_OPS = [name for name, op in OPS.items() if getattr(op.forward, "__module__", "").startswith("micrograd")]


def test_every_op_of_the_package_has_a_spec() -> None:
    missing = [name for name in PACKAGE_OPS if name not in SPECS]
    assert not missing, f"add a Spec for {missing} to SPECS"


def _apply(name: str, xs: list[Any]) -> Any:
    return OPS[name](*xs, **SPECS[name].attrs)


@pytest.mark.parametrize("name", PACKAGE_OPS)
def test_node_holds_the_rows_value_and_local_derivatives(name: str) -> None:
    op, spec = OPS[name], SPECS[name]
    out = _apply(name, [Value(x) for x in spec.inputs])
    assert out._fn is op and out._op == op.display(tuple(spec.attrs.values()))
    assert out.data == op.forward(*spec.inputs, **spec.attrs)
    expected = op.local_grads(tuple(spec.inputs), out.data, tuple(spec.attrs.values()))
    assert out._local_grads == pytest.approx(expected, rel=0, abs=0)


def test_methods_and_operators_build_the_rows_nodes() -> None:
    x, y = Value(0.7), Value(-1.3)
    assert (x + y)._fn is OPS["+"] and (x * y)._fn is OPS["*"] and (x**2)._fn is OPS["pow"]
    assert (x**y)._fn is OPS["**"] and x.relu()._op == "ReLU" and (x**2)._op == "**2"
    for name in ("exp", "tanh", "sigmoid", "sin", "cos", "softplus", "silu", "gelu"):
        assert getattr(x, name)()._fn is OPS[name]
    assert abs(x)._fn is OPS["abs"] and Value(4.0).sqrt()._fn is OPS["sqrt"]


def _numerical(f: Callable[[list[float]], float], point: list[float], eps: float = 1e-6) -> list[float]:
    out = []
    for i in range(len(point)):
        up, down = list(point), list(point)
        up[i] += eps
        down[i] -= eps
        out.append((f(up) - f(down)) / (2 * eps))
    return out


@pytest.mark.parametrize("name", PACKAGE_OPS)
def test_first_derivatives_match_central_differences(name: str) -> None:
    spec = SPECS[name]
    xs = [Value(x) for x in spec.inputs]
    _apply(name, xs).backward()
    expected = _numerical(lambda p: float(_apply(name, p)), spec.inputs)
    assert [x.grad for x in xs] == pytest.approx(expected, rel=1e-6, abs=1e-7)


def _directional(name: str, point: list[float], direction: list[float], order: int) -> list[float]:
    """f(t) = op(point + t * direction): its derivatives of order 0..order at t = 0, from our engine."""
    t = Value(0.0)
    out = _apply(name, [p + t * d for p, d in zip(point, direction, strict=True)])
    results = [out.data]
    current = out
    for k in range(order):
        (current,) = grad(current, t, create_graph=k + 1 < order)
        results.append(current.data if isinstance(current, Value) else current)
    return results


def _direction(n: int) -> list[float]:
    rng = random.Random(n)
    return [rng.uniform(-1.0, 1.0) for _ in range(n)]


@pytest.mark.parametrize("name", PACKAGE_OPS)
def test_higher_derivatives_match_central_differences_of_the_order_below(name: str) -> None:
    spec = SPECS[name]
    direction = _direction(len(spec.inputs))
    ours = _directional(name, spec.inputs, direction, 3)
    eps = 1e-5
    for order in (2, 3):

        def below(s: float, order: int = order) -> float:
            shifted = [p + s * d for p, d in zip(spec.inputs, direction, strict=True)]
            return _directional(name, shifted, direction, order - 1)[-1]

        numeric = (below(eps) - below(-eps)) / (2 * eps)
        assert ours[order] == pytest.approx(numeric, rel=1e-5, abs=1e-6), f"order {order}"


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("name", PACKAGE_OPS)
def test_derivatives_to_third_order_match_torch_float64(name: str) -> None:
    spec = SPECS[name]
    assert spec.twin is not None
    direction = _direction(len(spec.inputs))
    ours = _directional(name, spec.inputs, direction, 3)
    t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    current = spec.twin(*[p + t * d for p, d in zip(spec.inputs, direction, strict=True)])
    theirs = [current.item()]
    for _ in range(3):
        if current.requires_grad:
            (current,) = torch.autograd.grad(current, t, create_graph=True)
        else:  # a constant derivative (e.g. of +): every higher one is 0
            current = torch.zeros((), dtype=torch.float64)
        theirs.append(current.item())
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------
# defop: a new op in one call
# ----------------------------------------------------------------------


def test_defop_adds_an_op_that_is_right_to_third_order() -> None:
    softsign = defop("softsign_t", lambda x: x / (1 + abs(x)), lambda x, out: 1 / (1 + abs(x)) ** 2)
    x = Value(0.5)
    y = softsign(x) * x
    assert y.data == pytest.approx(0.5 / 1.5 * 0.5)
    (d1,) = grad(y, x, create_graph=True)
    (d2,) = grad(d1, x, create_graph=True)
    (d3,) = grad(d2, x)
    # y = x**2 / (1 + x) for x > 0: y' = (x**2 + 2x) / (1+x)**2, y'' = 2 / (1+x)**3, y''' = -6 / (1+x)**4
    assert d1.data == pytest.approx((0.25 + 1.0) / 1.5**2, rel=1e-12)
    assert d2.data == pytest.approx(2 / 1.5**3, rel=1e-12)
    assert d3 == pytest.approx(-6 / 1.5**4, rel=1e-12)
    assert softsign(-3.0) == -0.75  # on plain numbers it is the forward


def test_math_cos_in_a_derivative_is_the_documented_pitfall() -> None:
    """The issue's bug, kept as a guard on the docs: math.cos cuts a Value out of the graph, ops.cos does not."""
    from micrograd import ops

    wrong = defop("sin_with_math_cos", math.sin, lambda x, out: math.cos(x))
    right = defop("sin_with_ops_cos", math.sin, lambda x, out: ops.cos(x))
    for op, expected in ((wrong, 0.0), (right, -math.sin(1.0))):
        x = Value(1.0)
        (d1,) = grad(op(x), x, create_graph=True)
        assert d1.data == pytest.approx(math.cos(1.0))
        assert grad(d1, x)[0] == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: defop("bad name", abs, abs), ValueError, "identifier"),
        (lambda: defop("fine", 3, abs), TypeError, "forward must be a function"),
        (lambda: defop("fine", abs, None), TypeError, "derivative must be a function"),
        (lambda: defop("fine", abs, abs, batched=abs), TypeError, "batched must be a pair"),  # type: ignore[arg-type]
        (lambda: defop("fine", abs, abs, batched=(abs, 3)), TypeError, "batched must be a pair"),  # type: ignore[arg-type]
        (lambda: defop("fine", abs, abs, notation="infix"), TypeError, "notation must be"),  # type: ignore[arg-type]
        (lambda: OPS["+"](Value(1.0)), TypeError, r"\+: takes 2 input"),
        (lambda: Value(-1.0).sqrt(), ValueError, "sqrt: argument must be >= 0"),
        (lambda: Value(0.0).sqrt(), ZeroDivisionError, "sqrt: the derivative is infinite"),
        (lambda: Value(0.0).log(), ValueError, "log: argument must be > 0"),
    ],
)
def test_bad_definitions_and_domains_are_clear_errors(call: Callable[[], Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_op_repr_names_its_rule() -> None:
    assert "1 - tanh(x)**2" in repr(OPS["tanh"])
    assert isinstance(OPS["tanh"], Op)


# ----------------------------------------------------------------------
# Every row on arrays: many nodes at once, for the array engines
# ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_row_answers_on_arrays_with_its_floats(name: str) -> None:
    """``on_arrays`` gives the row's forward for each node (its batched code or its forward on arrays), and
    ``derivative_on_arrays`` its local derivatives, to rounding (array code may sum in another order)."""
    np = pytest.importorskip("numpy")
    op, spec = OPS[name], SPECS[name]
    rng = random.Random(name)
    points = [[x + rng.uniform(-1e-3, 1e-3) for x in spec.inputs] for _ in range(3)]
    stacked = np.array(points).T  # row i: input i of every node
    with np.errstate(all="ignore"):
        out = op.on_arrays(stacked, **spec.attrs)
        local = op.derivative_on_arrays(stacked, out, **spec.attrs)
    assert local.shape == stacked.shape
    for k, point in enumerate(points):
        expected = op.forward(*point, **spec.attrs)
        assert out[k] == pytest.approx(expected, rel=1e-15, abs=1e-300)
        expected_local = op.local_grads(tuple(point), expected, tuple(spec.attrs.values()))
        assert local[:, k].tolist() == pytest.approx([float(d) for d in expected_local], rel=1e-12, abs=1e-300)


def test_changing_a_rows_rule_drops_its_shortcuts() -> None:
    """A lesson that puts a wrong rule into a row must see it used everywhere, array engines included."""
    np = pytest.importorskip("numpy")
    op = OPS["dot"]
    saved = (op.forward, op.batched, op.notation)
    assert op.batched is not None and op.written_as("sum_of_products")
    try:
        op.forward = lambda *args: 42.0
        assert op.batched is None and op.notation is None
        assert op.on_arrays(np.ones((4, 3))).tolist() == [42.0, 42.0, 42.0]
    finally:
        op.forward, op.batched, op.notation = saved
    assert op.on_arrays(np.ones((4, 3))).tolist() == [2.0, 2.0, 2.0]
