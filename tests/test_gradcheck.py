"""The gradient checker itself: it passes right derivatives and catches wrong ones."""

from __future__ import annotations

import math

import pytest

from micrograd import Value
from micrograd.gradcheck import GradcheckError, gradcheck, numerical_grad


def test_numerical_grad_by_nudging() -> None:
    # f(x, y) = x^2 y: df/dx = 2xy = 12, df/dy = x^2 = 9
    grads = numerical_grad(lambda x, y: x * x * y, [3.0, 2.0])
    assert grads == pytest.approx([12.0, 9.0], rel=1e-8)


def test_numerical_grad_of_a_plain_function() -> None:
    (g,) = numerical_grad(lambda x: 3 * x**2 - 4 * x + 5, [3.0])  # the lecture's f(x), f'(3) = 14
    assert g == pytest.approx(14.0, rel=1e-8)


def test_gradcheck_passes_a_right_derivative() -> None:
    assert gradcheck(lambda x, y: (x * y).tanh() + y.exp(), [0.3, -0.7]) is True


def test_gradcheck_catches_hidden_dependence() -> None:
    # Value(x.data) cuts the graph: backward sees x * c (grad x) but f is x**2 (grad 2x).
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: x * Value(x.data), [3.0])
    message = str(info.value)
    assert "input 0" in message and "[3.0]" in message and "3.0" in message and "6.0" in message


def test_gradcheck_catches_a_wrong_rule() -> None:
    def wrong_sin(x: Value) -> Value:  # a primitive whose rule says d/dx sin = sin (should be cos)
        out = math.sin(x.data)
        return Value(out, (x,), "sin", "", _local_grads=(out,))

    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(wrong_sin, [1.0])
    right = lambda x: Value(math.sin(x.data), (x,), "sin", "", _local_grads=(math.cos(x.data),))  # noqa: E731
    assert gradcheck(right, [1.0])


def test_gradcheck_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="empty"):
        numerical_grad(lambda x: x, [])
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a number"):
        numerical_grad(lambda x: x, ["a"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="f must return a Value"):
        gradcheck(lambda x: 1.0, [1.0])  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="eps"):
        numerical_grad(lambda x: x, [1.0], eps=0.0)
