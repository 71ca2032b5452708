"""Derivatives by nudging: the first lesson, and the check on every backward rule.

``numerical_grad`` estimates df/dx_i by moving x_i a little each way and
watching f (central differences, error O(eps**2)). ``gradcheck`` compares that
estimate with what ``backward()`` computes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

from micrograd.engine import Value

__all__ = ["numerical_grad", "gradcheck", "GradcheckError"]

Function = Callable[..., Value]


class GradcheckError(RuntimeError):
    """backward() and the numerical estimate disagree (named as in torch.autograd.gradcheck)."""


def numerical_grad(f: Function, inputs: Sequence[float], eps: float = 1e-6) -> list[float]:
    """Central differences: (f(x + eps) - f(x - eps)) / (2 eps) for each input in turn."""
    point = _check_inputs(inputs, eps)
    grads = []
    for i in range(len(point)):
        up = list(point)
        down = list(point)
        up[i] += eps
        down[i] -= eps
        grads.append((_evaluate(f, up).data - _evaluate(f, down).data) / (2 * eps))
    return grads


def gradcheck(
    f: Function,
    inputs: Sequence[float],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """True if backward() agrees with numerical_grad within atol + rtol*|numeric|; else GradcheckError."""
    point = _check_inputs(inputs, eps)
    values = [Value(x) for x in point]
    out = _call(f, values)
    out.backward()
    numeric = numerical_grad(f, point, eps)
    for i, (value, num) in enumerate(zip(values, numeric, strict=True)):
        analytic = float(value.grad)
        if not abs(analytic - num) <= atol + rtol * abs(num):  # `not <=` also catches nan
            raise GradcheckError(
                f"gradcheck: input {i} at point {point}: analytic gradient {analytic!r} "
                f"but numerical gradient {num!r} (atol={atol}, rtol={rtol})"
            )
    return True


def _check_inputs(inputs: Sequence[float], eps: float) -> list[float]:
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
        raise TypeError(f"inputs must be a list of numbers, got {type(inputs).__name__}")
    if len(inputs) == 0:
        raise ValueError("inputs must hold at least one number, got an empty list")
    point: list[float] = []
    for i, x in enumerate(inputs):
        if isinstance(x, Value):
            x = x.data
        if not isinstance(x, numbers.Real):
            raise TypeError(f"inputs[{i}] must be a number, got {type(x).__name__}")
        point.append(float(x))
    if not (isinstance(eps, numbers.Real) and eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    return point


def _evaluate(f: Function, point: list[float]) -> Value:
    return _call(f, [Value(x) for x in point])


def _call(f: Function, values: list[Value]) -> Value:
    out = f(*values)
    if not isinstance(out, Value):
        raise TypeError(f"f must return a Value, got {type(out).__name__}")
    return out
