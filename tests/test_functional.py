"""value_and_grad, gradient and hessian: functions of floats in, floats out; and the Newton example."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import run_example
from micrograd import Value, no_grad
from micrograd.functional import gradient, hessian, value_and_grad
from micrograd.gradcheck import numerical_grad


def rosenbrock(x: Value, y: Value) -> Value:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rosenbrock_gradient(x: float, y: float) -> list[float]:
    return [-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)]


def rosenbrock_hessian(x: float, y: float) -> list[list[float]]:
    return [[2 - 400 * y + 1200 * x**2, -400 * x], [-400 * x, 200.0]]


@pytest.mark.parametrize("point", [(-1.2, 1.0), (1.0, 1.0), (0.5, -0.25), (3.0, 2.0)])
def test_rosenbrock_value_gradient_hessian(point: tuple[float, float]) -> None:
    x, y = point
    value, grads = value_and_grad(rosenbrock)(list(point))
    assert value == pytest.approx((1 - x) ** 2 + 100 * (y - x**2) ** 2, rel=1e-14)
    assert grads == pytest.approx(rosenbrock_gradient(x, y), rel=1e-12, abs=1e-12)
    assert gradient(rosenbrock)(list(point)) == grads
    got = hessian(rosenbrock)(list(point))
    want = rosenbrock_hessian(x, y)
    for row, want_row in zip(got, want, strict=True):
        assert row == pytest.approx(want_row, rel=1e-12, abs=1e-12)


def test_results_are_plain_floats() -> None:
    value, grads = value_and_grad(rosenbrock)([0.5, 0.5])
    matrix = hessian(rosenbrock)([0.5, 0.5])
    assert type(value) is float
    assert all(type(g) is float for g in grads + gradient(rosenbrock)([0.5, 0.5]))
    assert all(type(h) is float for row in matrix for h in row)


def test_one_variable_function() -> None:
    # f = x**3: f' = 3x**2, f'' = 6x
    assert gradient(lambda x: x**3)([2.0]) == [12.0]
    assert hessian(lambda x: x**3)([2.0]) == [[12.0]]


def test_an_input_the_function_ignores_has_derivative_zero() -> None:
    f = lambda x, y, z: x * y  # noqa: E731 -- z unused on purpose
    assert gradient(f)([2.0, 3.0, 4.0]) == [3.0, 2.0, 0.0]
    assert hessian(f)([2.0, 3.0, 4.0]) == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert gradient(lambda x: Value(5.0))([1.0]) == [0.0]  # a constant function


def test_accepts_any_iterable_of_real_numbers() -> None:
    np = pytest.importorskip("numpy")
    f = lambda x, y: x * y  # noqa: E731
    assert gradient(f)((2, 3)) == [3.0, 2.0]
    assert gradient(f)(np.array([2.0, 3.0])) == [3.0, 2.0]
    assert gradient(f)(iter([2.0, 3.0])) == [3.0, 2.0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3))
def test_gradient_matches_numerical_grad_and_hessian_is_symmetric(point: list[float]) -> None:
    def f(x: Value, y: Value, z: Value) -> Value:
        return (x * y).tanh() + (z - x).sigmoid() * y + (x**2 + z**2 + 1).log()

    assert gradient(f)(point) == pytest.approx(numerical_grad(f, point), rel=1e-6, abs=1e-7)
    matrix = hessian(f)(point)
    for i in range(3):
        for j in range(3):
            assert matrix[i][j] == pytest.approx(matrix[j][i], rel=1e-12, abs=1e-12)
        # Row i of the Hessian is the gradient of df/dx_i, estimated by nudging.
        row_estimate = [
            (gradient(f)(_nudged(point, j, 1e-5))[i] - gradient(f)(_nudged(point, j, -1e-5))[i]) / 2e-5
            for j in range(3)
        ]
        assert matrix[i] == pytest.approx(row_estimate, rel=1e-5, abs=1e-6)


def _nudged(point: list[float], j: int, step: float) -> list[float]:
    moved = list(point)
    moved[j] += step
    return moved


def test_helpers_work_inside_no_grad_and_touch_no_global_state() -> None:
    with no_grad():
        assert gradient(lambda x: x * x)([3.0]) == [6.0]
        assert hessian(lambda x: x * x * x)([1.0]) == [[6.0]]
        assert not (Value(1.0) * 2)._prev  # still in no_grad afterwards


def test_no_grad_inside_f_is_respected() -> None:
    def f(x: Value) -> Value:
        with no_grad():
            frozen = x * x  # treated as a constant
        return frozen * x

    assert gradient(f)([3.0]) == [9.0]


# ----------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------


@pytest.mark.parametrize("helper", [value_and_grad, gradient, hessian])
def test_f_must_be_callable(helper: Any) -> None:
    with pytest.raises(TypeError, match=rf"{helper.__name__}: f must be a function of Values, got float"):
        helper(3.0)


@pytest.mark.parametrize("helper", [value_and_grad, gradient, hessian])
def test_f_must_return_a_value(helper: Any) -> None:
    name = helper.__name__
    with pytest.raises(TypeError, match=rf"{name}: f must return a Value, got float \(a plain number: use Value ops"):
        helper(lambda x: math.exp(x.data))([1.0])
    with pytest.raises(TypeError, match=rf"{name}: f must return a Value, got list \(f must be scalar-valued"):
        helper(lambda x: [x, x])([1.0])
    with pytest.raises(TypeError, match=rf"{name}: f must return a Value, got NoneType"):
        helper(lambda x: None)([1.0])


@pytest.mark.parametrize("helper", [value_and_grad, gradient, hessian])
def test_xs_must_be_a_non_empty_list_of_numbers(helper: Any) -> None:
    name = helper.__name__
    f = helper(lambda x: x * x)
    with pytest.raises(ValueError, match=rf"{name}: xs must hold at least one number, got an empty list"):
        f([])
    with pytest.raises(TypeError, match=rf"{name}: xs must be a list of numbers, got float; for one number write"):
        f(2.0)
    with pytest.raises(TypeError, match=rf"{name}: xs must be a list of numbers, got str"):
        f("2")
    with pytest.raises(TypeError, match=rf"{name}: xs\[0\] must be a real number, got str"):
        f(["2"])
    with pytest.raises(TypeError, match=rf"{name}: xs\[0\] must be a real number, got bool"):
        f([True])
    with pytest.raises(TypeError, match=rf"{name}: xs\[0\] must be a real number, got Value \(pass its .data"):
        f([Value(2.0)])
    with pytest.raises(TypeError, match=rf"{name}: xs\[0\] must be a real number, got complex"):
        f([1j])


def test_wrong_number_of_inputs_is_pythons_own_error() -> None:
    with pytest.raises(TypeError, match="positional argument"):
        gradient(lambda x, y: x * y)([1.0])


# ----------------------------------------------------------------------
# The Newton's-method example
# ----------------------------------------------------------------------


def test_newton_example_finds_the_known_root_and_minima() -> None:
    result = run_example("newton.py")
    assert result.returncode == 0, result.stderr
    answers = dict(re.findall(r"^(root|minimum 1-D|minimum 2-D): (.*)$", result.stdout, re.M))
    # The real root of x**3 - 2x - 5 (Newton's example), to 15 digits.
    assert float(answers["root"]) == pytest.approx(2.0945514815423265, abs=1e-14)
    assert float(answers["minimum 1-D"]) == pytest.approx(9 / 4, abs=1e-14)
    x, y = (float(part) for part in answers["minimum 2-D"].split())
    assert (x, y) == pytest.approx((1.0, 1.0), abs=1e-12)
    assert result.stdout.count("step") < 30  # quadratic convergence: a handful of steps each
