"""Derivatives of functions, in the style of HIPS autograd and JAX: ``gradient(f)`` is the function grad f.

Here ``f`` is an ordinary Python function of several numbers, written with
Value operations: it takes Values positionally and returns one Value,
``f(x, y) -> Value``. The helpers turn it into new functions that take a list
of floats and return plain floats (the same convention as
``micrograd.gradcheck.numerical_grad(f, inputs)``)::

    f = lambda x, y: x**2 * y + y**3
    value_and_grad(f)([1.0, 2.0])   # (10.0, [4.0, 13.0])
    gradient(f)([1.0, 2.0])         # [4.0, 13.0]       df/dx_i
    hessian(f)([1.0, 2.0])          # [[4.0, 2.0], [2.0, 12.0]]   d2f/dx_i dx_j

Why the name ``gradient`` (and not ``grad`` or ``grad_fn``): ``micrograd.grad``
already exists with PyTorch's meaning (the gradients of an output you have
computed), and in PyTorch ``grad_fn`` is the attribute that names the op which
made a tensor, not a function maker. ``gradient(f)`` says what it returns.

Each call evaluates ``f`` once on fresh leaf Values and differentiates with
``micrograd.grad``; ``.grad`` of nothing is touched. An input that ``f`` ignores
has derivative 0.0. The helpers build the graph even when called inside
``no_grad()`` (as ``torch.func.grad`` does); a ``no_grad()`` *inside* ``f`` is
respected. Results are floats, so they do not nest the way ``jax.grad`` does:
for third and higher derivatives use ``micrograd.grad(..., create_graph=True)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from micrograd.autograd import _grad_mode_enabled, grad
from micrograd.engine import Value

__all__ = ["value_and_grad", "gradient", "hessian"]

ScalarFunction = Callable[..., Value]  # f(*values) -> one Value
Point = Iterable[float]


def value_and_grad(f: ScalarFunction) -> Callable[[Point], tuple[float, list[float]]]:
    """The function xs -> (f(xs), [df/dx_i for each i]): value and gradient from one evaluation of f."""
    _check_function("value_and_grad", f)

    def value_and_grad_of_f(xs: Point) -> tuple[float, list[float]]:
        inputs, out = _evaluate("value_and_grad", f, xs)
        return out.data, list(grad(out, inputs))

    return value_and_grad_of_f


def gradient(f: ScalarFunction) -> Callable[[Point], list[float]]:
    """The function xs -> [df/dx_1, ..., df/dx_n], the gradient of f at xs."""
    _check_function("gradient", f)

    def gradient_of_f(xs: Point) -> list[float]:
        inputs, out = _evaluate("gradient", f, xs)
        return list(grad(out, inputs))

    return gradient_of_f


def hessian(f: ScalarFunction) -> Callable[[Point], list[list[float]]]:
    """The function xs -> H with H[i][j] = d2f / dx_i dx_j, the matrix of second derivatives.

    Row i is the gradient of df/dx_i, which ``grad(..., create_graph=True)``
    returns as a Value with its own graph. Entries are not symmetrised, so
    H[i][j] and H[j][i] may differ in the last bits, as in PyTorch.
    """
    _check_function("hessian", f)

    def hessian_of_f(xs: Point) -> list[list[float]]:
        inputs, out = _evaluate("hessian", f, xs)
        first = grad(out, inputs, create_graph=True)
        return [list(grad(df_dxi, inputs)) for df_dxi in first]

    return hessian_of_f


# ----------------------------------------------------------------------
# Checks with messages that say what was expected and what came instead
# ----------------------------------------------------------------------


def _check_function(helper: str, f: Any) -> None:
    # Checked when the helper is made, so the error points at the line that made it.
    if not callable(f):
        raise TypeError(f"{helper}: f must be a function of Values, got {type(f).__name__}")


def _evaluate(helper: str, f: ScalarFunction, xs: Any) -> tuple[list[Value], Value]:
    """f on fresh leaves made from xs, with the graph recorded even inside no_grad()."""
    inputs = [Value(x) for x in _check_point(helper, xs)]
    with _grad_mode_enabled():
        out = f(*inputs)
    if not isinstance(out, Value):
        raise TypeError(f"{helper}: f must return a Value, got {type(out).__name__}{_return_hint(out)}")
    return inputs, out


def _return_hint(out: Any) -> str:
    if isinstance(out, (list, tuple)):
        return " (f must be scalar-valued: return one Value, e.g. the sum of the outputs)"
    if isinstance(out, numbers.Number):
        return " (a plain number: use Value ops such as x.exp(), not math.exp(x))"
    return ""


def _check_point(helper: str, xs: Any) -> list[float]:
    if isinstance(xs, numbers.Number) or isinstance(xs, Value):
        raise TypeError(f"{helper}: xs must be a list of numbers, got {type(xs).__name__}; for one number write [x]")
    if isinstance(xs, (str, bytes, Mapping)) or not isinstance(xs, Iterable):
        raise TypeError(f"{helper}: xs must be a list of numbers, got {type(xs).__name__}")
    point = list(xs)
    if not point:
        raise ValueError(f"{helper}: xs must hold at least one number, got an empty list")
    for i, x in enumerate(point):
        # bool is a number to Python, but True as a coordinate is almost always a mistake.
        if isinstance(x, bool) or not isinstance(x, numbers.Real):
            hint = " (pass its .data: the helper makes its own Values)" if isinstance(x, Value) else ""
            raise TypeError(f"{helper}: xs[{i}] must be a real number, got {type(x).__name__}{hint}")
    return [float(x) for x in point]
