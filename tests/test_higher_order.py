"""Derivatives of derivatives: micrograd.grad(create_graph=True), backward(create_graph=True), no_grad, detach.

Every primitive (every row of the OPS table) is checked to third order against
PyTorch in float64 and against finite differences of the order below; random
expressions are checked by their full Hessian.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import micrograd
from helpers import run_example, seeded_mlp
from micrograd import Value, grad, is_grad_enabled, no_grad
from micrograd.functional import hessian
from micrograd.nn import MLP
from test_ops import IDS, OPS, Op

torch = pytest.importorskip("torch")

MultiIndex = tuple[int, ...]


# ----------------------------------------------------------------------
# All partial derivatives up to some order, in micrograd and in torch
# ----------------------------------------------------------------------


def micrograd_derivatives(f: Callable[..., Value], point: Sequence[float], order: int) -> dict[MultiIndex, float]:
    """{(i, j, ...): d^n f / dx_i dx_j ...} for every multi-index of length `order`."""
    xs = [Value(x) for x in point]
    level: dict[MultiIndex, Any] = {(): f(*xs)}
    for n in range(1, order + 1):
        last = n == order  # only the last level may be plain floats
        level = {
            index + (i,): d
            for index, value in level.items()
            for i, d in enumerate(grad(value, xs, create_graph=not last))
        }
    return level


def torch_derivatives(torch_fn: Callable[..., Any], point: Sequence[float], order: int) -> dict[MultiIndex, float]:
    xs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point]
    level: dict[MultiIndex, Any] = {(): torch_fn(*xs)}
    for _ in range(order):
        next_level = {}
        for index, value in level.items():
            for i, d in enumerate(_torch_grad(value, xs)):
                next_level[index + (i,)] = d
        level = next_level
    return {index: d.item() for index, d in level.items()}


def _torch_grad(value: Any, xs: list[Any]) -> list[Any]:
    """torch.autograd.grad, with 0 for inputs not used (torch gives None) and for constants."""
    zero = torch.tensor(0.0, dtype=torch.float64)
    if not (isinstance(value, torch.Tensor) and value.requires_grad):
        return [zero] * len(xs)  # d(constant) = 0; torch refuses to differentiate it
    grads = torch.autograd.grad(value, xs, create_graph=True, allow_unused=True)
    return [zero if g is None else g for g in grads]


def finite_difference_derivatives(
    f: Callable[..., Value], point: Sequence[float], order: int
) -> dict[MultiIndex, float]:
    """Order-n derivatives as central differences of micrograd's order-(n-1) derivatives."""
    derivatives: dict[MultiIndex, float] = {}
    for j in range(len(point)):
        step = 1e-5 * max(1.0, abs(point[j]))
        up, down = list(point), list(point)
        up[j] += step
        down[j] -= step
        above = micrograd_derivatives(f, up, order - 1)
        below = micrograd_derivatives(f, down, order - 1)
        for index in above:
            derivatives[index + (j,)] = (above[index] - below[index]) / (2 * step)
    return derivatives


def _drawn_points(op: Op, for_torch: bool = False) -> st.SearchStrategy[tuple[float, ...]]:
    coords = [st.floats(lo, hi, allow_nan=False) for lo, hi in op.domain]
    points = st.tuples(*coords)
    if op.name == "relu":  # second derivative 0 holds away from the kink only
        points = points.filter(lambda p: abs(p[0]) > 0.01)
    if op.name == "pow_value" and for_torch:
        # torch zeroes d(x**y)/dx where y == 0 with a mask, which is right at first
        # order but loses d2/dy dx = x**(y-1) (1 + y log x) there: at (1, 0) torch
        # gives 0 instead of 1. The same happens one order up where y - 1 == 0, and
        # so on. The finite-difference test covers these points instead.
        points = points.filter(lambda p: p[1] not in (0.0, 1.0, 2.0))
    return points


def _assert_close(got: dict[MultiIndex, float], want: dict[MultiIndex, float], rel: float, abs_: float) -> None:
    assert got.keys() == want.keys()
    for index in want:
        assert got[index] == pytest.approx(want[index], rel=rel, abs=abs_), f"derivative {index}"


# ----------------------------------------------------------------------
# Every primitive, orders 2 and 3
# ----------------------------------------------------------------------


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_every_op_matches_torch_at_higher_order(op: Op, order: int) -> None:
    @settings(max_examples=30, deadline=None)
    @given(_drawn_points(op, for_torch=True))
    def check(point: tuple[float, ...]) -> None:
        got = micrograd_derivatives(op.fn, point, order)
        want = torch_derivatives(op.torch_fn, point, order)
        _assert_close(got, want, rel=1e-9, abs_=1e-12)

    for point in op.points:
        check.hypothesis.inner_test(point)  # type: ignore[attr-defined]
    check()


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_every_op_matches_finite_differences_of_the_order_below(op: Op, order: int) -> None:
    @settings(max_examples=20, deadline=None)
    @given(_drawn_points(op))
    def check(point: tuple[float, ...]) -> None:
        got = micrograd_derivatives(op.fn, point, order)
        want = finite_difference_derivatives(op.fn, point, order)
        _assert_close(got, want, rel=1e-5, abs_=1e-6)

    for point in op.points:
        if op.name != "relu" or abs(point[0]) > 0.01:
            check.hypothesis.inner_test(point)  # type: ignore[attr-defined]
    check()


def test_the_checks_can_fail() -> None:
    # A wrong second derivative must be caught: compare x**3 with the torch row of x**2.
    cube = next(op for op in OPS if op.name == "cube")
    square = next(op for op in OPS if op.name == "square")
    with pytest.raises(AssertionError):
        _assert_close(
            micrograd_derivatives(cube.fn, (1.5,), 2), torch_derivatives(square.torch_fn, (1.5,), 2), 1e-9, 1e-12
        )


# ----------------------------------------------------------------------
# Worked cases with known answers
# ----------------------------------------------------------------------


@pytest.mark.parametrize("x", [-2.0, 0.0, 0.5, 3.0])
def test_derivatives_of_x_cubed_to_fourth_order(x: float) -> None:
    v = Value(x)
    (d1,) = grad(v**3, v, create_graph=True)
    (d2,) = grad(d1, v, create_graph=True)
    (d3,) = grad(d2, v, create_graph=True)
    (d4,) = grad(d3, v)
    assert (d1.data, d2.data, d3.data, d4) == (3 * x**2, 6 * x, 6.0, 0.0)


def test_hessian_of_a_two_variable_function() -> None:
    # f = x**2 y + y**3: H = [[2y, 2x], [2x, 6y]]
    x, y = Value(1.5), Value(-2.0)
    f = x**2 * y + y**3
    df_dx, df_dy = grad(f, [x, y], create_graph=True)
    assert (df_dx.data, df_dy.data) == (2 * 1.5 * -2.0, 1.5**2 + 3 * 4.0)
    assert list(grad(df_dx, [x, y])) == [-4.0, 3.0]
    assert list(grad(df_dy, [x, y])) == [3.0, -12.0]


def test_mixed_partial_of_tanh_product() -> None:
    # d2/dx dy tanh(x y) = (1 - t**2) - 2 x y t (1 - t**2) with t = tanh(x y)
    x, y = Value(0.7), Value(-0.4)
    (df_dx,) = grad((x * y).tanh(), x, create_graph=True)
    (d2f_dxdy,) = grad(df_dx, y)
    t = math.tanh(0.7 * -0.4)
    assert d2f_dxdy == pytest.approx((1 - t * t) - 2 * 0.7 * -0.4 * t * (1 - t * t), rel=1e-12)


def test_d_by_dy_of_x_to_the_y_at_x_zero_is_the_same_at_every_order() -> None:
    x, y = Value(0.0), Value(2.0)
    assert grad(x**y, y) == (0.0,)  # as in PyTorch
    assert grad(x**y, y, create_graph=True)[0].data == 0.0


# ----------------------------------------------------------------------
# Hessians of random expressions against torch.autograd.functional.hessian
# ----------------------------------------------------------------------

# Each builder works on Values and on tensors alike; all are smooth and finite on any input.
UNARY: dict[str, Callable[[Any], Any]] = {
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "relu": lambda a: a.relu(),
    "square": lambda a: a**2,
    "exp_of_tanh": lambda a: a.tanh().exp(),
    "log_of_square_plus_1": lambda a: (a**2 + 1).log(),
    "neg": lambda a: -a,
}
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div_by_square_plus_1": lambda a, b: a / (b**2 + 1),
    "pow_of_sigmoid": lambda a, b: (a.sigmoid() + 0.5) ** b.tanh(),
}
N_VARIABLES = 3

Expression = Any  # ("var", i) | ("const", c) | (unary name, e) | (binary name, e1, e2)


def _expressions() -> st.SearchStrategy[Expression]:
    leaves = st.one_of(
        st.tuples(st.just("var"), st.integers(0, N_VARIABLES - 1)),
        st.tuples(st.just("const"), st.floats(-2.0, 2.0)),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(sorted(UNARY)), inner),
            st.tuples(st.sampled_from(sorted(BINARY)), inner, inner),
        ),
        max_leaves=8,
    )


def _evaluate(expression: Expression, variables: Sequence[Any]) -> Any:
    kind = expression[0]
    if kind == "var":
        return variables[expression[1]]
    if kind == "const":
        return expression[1] + 0 * variables[0]  # a constant that is still a Value / tensor
    if kind in UNARY:
        return UNARY[kind](_evaluate(expression[1], variables))
    return BINARY[kind](_evaluate(expression[1], variables), _evaluate(expression[2], variables))


@settings(max_examples=150, deadline=None)
@given(
    _expressions(),
    st.lists(st.floats(-2.0, 2.0).filter(lambda x: abs(x) > 1e-3), min_size=N_VARIABLES, max_size=N_VARIABLES),
)
def test_hessian_of_random_expressions_matches_torch(expression: Expression, point: list[float]) -> None:
    got = hessian(lambda *xs: _evaluate(expression, xs))(point)
    want = torch.autograd.functional.hessian(
        lambda t: _evaluate(expression, [t[i] for i in range(N_VARIABLES)]),
        torch.tensor(point, dtype=torch.float64),
    )
    # Where an exponent is exactly 0, torch's x ** y masks d/dx to a constant 0, which loses
    # d2/dxdy = x**-1: its Hessian is then not even symmetric. Ours is right there (see
    # test_mixed_partial_of_pow_at_exponent_zero); such cases cannot be compared with torch.
    assume(torch.allclose(want, want.T, rtol=1e-9, atol=1e-10))
    for i, j in itertools.product(range(N_VARIABLES), repeat=2):
        assert got[i][j] == pytest.approx(want[i][j].item(), rel=1e-9, abs=1e-10), (i, j)


@pytest.mark.parametrize("x", [0.5, 1.5, 3.0])
def test_mixed_partial_of_pow_at_exponent_zero(x: float) -> None:
    """d2(x**y)/dxdy = x**(y-1) * (1 + y*log(x)), which is 1/x at y = 0, both ways round."""
    got = hessian(lambda a, b: a**b)([x, 0.0])
    assert got[0][1] == pytest.approx(1.0 / x, rel=1e-12)
    assert got[1][0] == pytest.approx(1.0 / x, rel=1e-12)
    assert got[1][1] == pytest.approx(math.log(x) ** 2, rel=1e-12)  # x**y * log(x)**2
    assert got[0][0] == 0.0  # y * (y-1) * x**(y-2)


# ----------------------------------------------------------------------
# micrograd.grad: the contract
# ----------------------------------------------------------------------


def test_grad_touches_no_dot_grad() -> None:
    x, y = Value(2.0), Value(3.0)
    hidden = x * y
    out = hidden.tanh() + x
    for v in (x, y, hidden, out):
        v.grad = 7.0
    grad(out, [x, y])
    grad(out, [x, y], create_graph=True)
    assert [v.grad for v in (x, y, hidden, out)] == [7.0] * 4


def test_grad_matches_backward() -> None:
    x, y = Value(0.3), Value(-1.2)
    out = (x * y + y.exp()).sigmoid() * x
    gx, gy = grad(out, [x, y])
    out.backward()
    assert (gx, gy) == (x.grad, y.grad)


def test_grad_of_several_outputs_is_the_gradient_of_their_sum() -> None:
    x = Value(2.0)
    a, b = x**2, x.exp()
    assert grad([a, b], x) == (4.0 + math.exp(2.0),)
    assert grad([a, a], x) == (8.0,)  # an output listed twice counts twice


def test_grad_returns_floats_or_values() -> None:
    x = Value(1.0)
    (first,) = grad(x * x, x)
    (connected,) = grad(x * x, x, create_graph=True)
    assert type(first) is float
    assert isinstance(connected, Value) and connected._prev


def test_grad_of_an_input_not_used_is_zero() -> None:
    x, unused = Value(1.0), Value(5.0)
    assert grad(x * 2, [x, unused]) == (2.0, 0.0)
    gx, g_unused = grad(x * 2, [x, unused], create_graph=True)
    assert isinstance(g_unused, Value) and g_unused.data == 0.0
    assert grad(g_unused, unused) == (0.0,)  # and it differentiates to 0 again


def test_grad_with_respect_to_an_intermediate_node_and_the_output_itself() -> None:
    x = Value(3.0)
    middle = x * x
    out = middle * 2
    assert grad(out, [middle, out]) == (2.0, 1.0)


def test_higher_order_graphs_leave_first_order_numbers_unchanged() -> None:
    x = Value(0.5)
    out = (x.tanh() * x).exp()
    before = grad(out, x)
    (connected,) = grad(out, x, create_graph=True)
    assert (connected.data,) == before == grad(out, x)


def test_grad_rejects_non_values() -> None:
    x = Value(1.0)
    y = x * 3
    cases: list[tuple[Any, Any, str]] = [
        (1.0, x, r"grad: outputs must be a Value or a list of Values, got float"),
        ("y", x, r"grad: outputs must be a Value or a list of Values, got str"),
        ([[y]], x, r"grad: outputs\[0\] must be a Value, got list \(Values are scalars: pass a flat list\)"),
        (y, None, r"grad: inputs must be a Value or a list of Values, got NoneType"),
        (y, [x, 2.0], r"grad: inputs\[1\] must be a Value, got float"),
    ]
    for outputs, inputs, message in cases:
        with pytest.raises(TypeError, match=message):
            grad(outputs, inputs)


def test_grad_rejects_empty_lists_and_a_third_positional_value() -> None:
    x = Value(1.0)
    with pytest.raises(ValueError, match="grad: outputs is empty"):
        grad([], x)
    with pytest.raises(ValueError, match="grad: inputs is empty"):
        grad(x * 2, [])
    with pytest.raises(TypeError, match=r"create_graph must be True or False, got Value; .*grad\(y, \[a, b\]\)"):
        grad(x * 2, x, x)  # type: ignore[call-overload]


# ----------------------------------------------------------------------
# backward(create_graph=True)
# ----------------------------------------------------------------------


def test_backward_create_graph_gives_value_gradients_that_differentiate_again() -> None:
    x = Value(2.0)
    y = x**3
    y.backward(create_graph=True)
    dy_dx = x.grad
    assert isinstance(dy_dx, Value) and dy_dx.data == 12.0
    assert grad(dy_dx, x) == (12.0,)  # d/dx 3x**2 = 6x
    x.grad = 0.0
    dy_dx.backward()  # the same through backward: x.grad is now 6x
    assert x.grad == 12.0


def test_backward_create_graph_twice_on_a_leaf_accumulates() -> None:
    x = Value(2.0)
    x.backward(create_graph=True)
    x.backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.data == 2.0


def test_backward_default_gives_floats_equal_to_create_graph() -> None:
    def build() -> tuple[Value, Value, Value]:
        a, b = Value(0.4), Value(-0.9)
        return a, b, (a * b).sigmoid() + a.log()

    a, b, out = build()
    out.backward()
    assert type(a.grad) is float and type(b.grad) is float
    a2, b2, out2 = build()
    out2.backward(create_graph=True)
    assert (a2.grad.data, b2.grad.data) == (a.grad, b.grad)


# ----------------------------------------------------------------------
# no_grad and detach
# ----------------------------------------------------------------------


def test_no_grad_builds_no_children() -> None:
    x, w = Value(2.0), Value(-1.0)
    with no_grad():
        results = [x + w, x * w, x**2, x ** w.relu(), x.exp(), x.log(), x.tanh(), x.sigmoid(), w.relu(), x / w, -x]
        neuron = micrograd.linear([w], [x], Value(0.5))
    for r in results + [neuron]:
        assert r._prev == () and r._op == "" and r._local_grads == ()
    assert neuron.data == 0.5 + 2.0 * -1.0


def test_no_grad_results_are_leaves_for_backward() -> None:
    x = Value(3.0)
    with no_grad():
        y = x * x
    y.backward()
    assert (y.grad, x.grad) == (1.0, 0.0)


def test_no_grad_nests_and_restores() -> None:
    assert is_grad_enabled()
    with no_grad():
        with no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled()  # leaving the inner block keeps the outer one's mode
    assert is_grad_enabled()
    assert (Value(1.0) * 2)._prev  # graphs are built again


def test_no_grad_restores_after_an_exception() -> None:
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            Value(1.0) / 0
    assert is_grad_enabled()


def test_no_grad_as_a_decorator() -> None:
    @no_grad()
    def evaluate(x: Value) -> Value:
        """Doc kept by functools.wraps."""
        assert not is_grad_enabled()
        return x * x + 1

    result = evaluate(Value(2.0))
    assert result.data == 5.0 and result._prev == ()
    assert evaluate.__name__ == "evaluate" and evaluate.__doc__ == "Doc kept by functools.wraps."
    assert is_grad_enabled()
    with pytest.raises(ZeroDivisionError):
        no_grad()(lambda: Value(1.0) / 0)()
    assert is_grad_enabled()


def test_grad_create_graph_inside_no_grad_still_builds_the_graph() -> None:
    # As torch.autograd.grad: create_graph=True asks for a graph, and gets one.
    x = Value(2.0)
    y = x**3
    with no_grad():
        (dy_dx,) = grad(y, x, create_graph=True)
        assert not is_grad_enabled()
        assert (x * x)._prev == ()
    assert grad(dy_dx, x) == (12.0,)


def test_grad_restores_the_mode_after_an_error() -> None:
    x = Value(1.0)
    with no_grad():
        with pytest.raises(TypeError):
            grad(x, [1.0], create_graph=True)  # type: ignore[list-item]
        assert not is_grad_enabled()


def test_detach_is_a_leaf_with_the_same_data() -> None:
    x = Value(3.0)
    y = x * x
    y.grad = 5.0
    d = y.detach()
    assert d is not y and d.data == 9.0 and d._prev == () and d.grad == 0.0
    # Gradient flows through the attached factor only: d/dx (detach(x*x) * x) = 9.
    assert grad(d * x, x) == (9.0,)
    assert grad(d * x, x, create_graph=True)[0].data == 9.0


# ----------------------------------------------------------------------
# A gradient penalty trained through: second derivatives with respect to weights
# ----------------------------------------------------------------------


def _penalty(model: Any, point: list[Any], gradient_of: Callable[..., Sequence[Any]]) -> Any:
    """(||d model / d input||**2 - 1)**2, the gradient penalty on one input point."""
    out = model(point)
    slopes = gradient_of(out, point)
    return (sum(s * s for s in slopes) - 1) ** 2


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_gradient_penalty_parameter_gradients_match_torch(activation: str) -> None:
    from micrograd.interop import to_torch

    model = seeded_mlp(11, 2, [5, 4, 1], activation=activation)
    point = [0.3, -0.8]

    xs = [Value(x) for x in point]
    penalty = _penalty(model, xs, lambda out, xs: grad(out, xs, create_graph=True))
    penalty.backward()

    torch_model = to_torch(model)
    t_point = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    t_penalty = _penalty(
        lambda p: torch_model(p)[0], t_point, lambda out, x: torch.autograd.grad(out, x, create_graph=True)[0]
    )
    t_penalty.backward()
    assert penalty.data == pytest.approx(t_penalty.item(), rel=1e-12)
    # The penalty does not depend on the last bias, so torch leaves that .grad None.
    torch_grads = [
        g
        for p in torch_model.parameters()
        for g in (torch.zeros_like(p) if p.grad is None else p.grad).flatten().tolist()
    ]
    ours = _grads_in_torch_order(model)
    assert ours == pytest.approx(torch_grads, rel=1e-9, abs=1e-12)
    assert any(abs(g) > 1e-6 for g in ours)  # the check is not vacuous


def _grads_in_torch_order(model: MLP) -> list[float]:
    # torch lists each layer's weight matrix (row per neuron), then its bias vector.
    grads: list[float] = []
    for layer in model.layers:
        grads += [w.grad for n in layer.neurons for w in n.w]
        grads += [n.b.grad for n in layer.neurons]
    return grads


def test_gradient_penalty_example_runs_and_the_penalty_falls() -> None:
    result = run_example("gradient_penalty.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps = [line.split() for line in lines if line.startswith("step")]
    assert len(steps) >= 3
    # "step N  fit F  penalty P  |grad| G" -- columns by position
    first_penalty, last_penalty = float(steps[0][5]), float(steps[-1][5])
    first_fit, last_fit = float(steps[0][3]), float(steps[-1][3])
    assert last_penalty < first_penalty / 10
    assert last_fit < first_fit / 10
    assert abs(float(steps[-1][7]) - 1.0) < 0.05  # the slopes end near norm 1
