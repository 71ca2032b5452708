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
    point = _check_inputs("numerical_grad", inputs, eps)
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
    point = _check_inputs("gradcheck", inputs, eps)
    _check_tolerance("atol", atol)
    _check_tolerance("rtol", rtol)
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


def check_eps(owner: str, eps: float) -> None:
    """Refuse a nudge that is not a positive finite number (shared with ``viz.explain``)."""
    if not (isinstance(eps, numbers.Real) and eps > 0 and _is_finite(eps)):
        raise ValueError(f"{owner}: eps must be a positive finite number, got {eps!r}")


def _check_inputs(owner: str, inputs: Sequence[float], eps: float) -> list[float]:
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
        raise TypeError(f"{owner}: inputs must be a list of numbers, got {type(inputs).__name__}")
    if len(inputs) == 0:
        raise ValueError(f"{owner}: inputs must hold at least one number, got an empty list")
    point: list[float] = []
    for i, x in enumerate(inputs):
        if isinstance(x, Value):
            x = x.data
        if not isinstance(x, numbers.Real):
            raise TypeError(f"{owner}: inputs[{i}] must be a number, got {type(x).__name__}")
        try:
            point.append(float(x))
        except OverflowError:  # an int such as 10**400
            raise ValueError(f"{owner}: inputs[{i}] is too large for a float") from None
    check_eps(owner, eps)
    return point


def _check_tolerance(name: str, tolerance: float) -> None:
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real):
        raise TypeError(f"gradcheck: {name} must be a number, got {type(tolerance).__name__} {tolerance!r}")
    # `not >=` also refuses nan, which would make every comparison fail.
    if not (_is_finite(tolerance) and tolerance >= 0):
        raise ValueError(f"gradcheck: {name} must be a finite number >= 0, got {tolerance!r}")


def _is_finite(x: numbers.Real) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:  # an int too large for a float
        return False


def _evaluate(f: Function, point: list[float]) -> Value:
    return _call(f, [Value(x) for x in point])


def _call(f: Function, values: list[Value]) -> Value:
    out = f(*values)
    if not isinstance(out, Value):
        raise TypeError(f"f must return a Value, got {type(out).__name__}")
    return out
