"""Input checks for the engine: numbers in, clear errors out, each naming the op and the operand."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "to_float", "shown", "compare", "divisor_data", "check_children", "check_linear", "derivative_error",
    "check_local_grads",
]


def to_float(data: Any, what: str = "Value: data") -> float:
    """A real number as a float: ints, floats, numpy and other ``numbers.Real`` scalars; TypeError otherwise."""
    if isinstance(data, numbers.Real):
        try:
            return float(data)
        except OverflowError:  # an int beyond 1.8e308
            raise OverflowError(f"{what} {shown(data)} is too large for a float") from None
    raise TypeError(f"{what} must be a real number (int or float), got {type(data).__name__} {shown(data)}")


def shown(x: object) -> str:
    """A short repr for messages (the repr of a huge int is long, or refused beyond 4300 digits)."""
    if isinstance(x, int) and x.bit_length() > 128:
        return f"(an int of {x.bit_length()} bits)"
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def compare(how: Callable[[float, Any], bool], data: float, other: object) -> bool:
    """``data <op> other`` for a plain number; NotImplemented for anything else (so Python raises its TypeError).

    The number is compared as it is, not converted to a float first: Python compares a float with
    an int exactly, so ``Value(1) < 10**400`` is True instead of an OverflowError from float(10**400).
    """
    if isinstance(other, numbers.Real):
        return how(data, other)
    return NotImplemented  # type: ignore[no-any-return]  # Python then raises its own TypeError


def divisor_data(divisor: Any) -> float:
    """The divisor's value, refusing zero before ``x ** -1`` would."""
    value = divisor.data if hasattr(type(divisor), "_apply_op") else to_float(divisor, "division: divisor")
    if value == 0.0:
        raise ZeroDivisionError(f"division: divisor is {value}")
    return float(value)


def check_children(children: tuple[Any, ...], node_type: type) -> tuple[Any, ...]:
    for child in children:
        if not isinstance(child, node_type):
            raise TypeError(f"Value: children must be Values, got {type(child).__name__}")
    return children


def check_linear(weights: Sequence[Any], inputs: Sequence[Any], bias: Any, node_type: type) -> None:
    if len(weights) != len(inputs):
        raise ValueError(f"linear: {len(weights)} weights but {len(inputs)} inputs")
    for i, weight in enumerate(weights):
        if not isinstance(weight, node_type):
            raise TypeError(f"linear: weights[{i}] must be a Value, got {type(weight).__name__}")
    if bias is not None and not isinstance(bias, node_type):
        raise TypeError(f"linear: bias must be a Value or None, got {type(bias).__name__}")


def derivative_error(
    kind: type[Exception], op: Any, data_in: tuple[float, ...], attrs: tuple[Any, ...], about: tuple[str, str]
) -> Exception:
    """The error for a derivative that is infinite or too large, naming the op and where.

    ``about`` is pow's wording: ("pow: the derivative of x{display}", "x = {}"), filled in here.
    """
    subject = about[0].format(display=op.display(attrs)) if about[0] else f"{op.name}: the derivative"
    where = about[1].format(*data_in) if about[1] else (f"x = {data_in[0]}" if len(data_in) == 1 else f"{data_in}")
    problem = "is infinite" if kind is ZeroDivisionError else "overflows a float"
    return kind(f"{subject} {problem} at {where}")


def check_local_grads(op: Any, local: Any, n_inputs: int) -> None:
    """A row's derivative gave one real number per input (``local``, as ``Op.local_tuple`` made it).

    Anything else -- None, a str, a complex, a tuple of the wrong length -- is refused here, naming the op,
    instead of failing later in the backward pass or not at all.
    """
    items = local
    if not isinstance(items, tuple) or len(items) != n_inputs:
        raise ValueError(
            f"{op.name}: the derivative must give {n_inputs} local derivative(s), one per input; got {shown(local)}"
        )
    for i, d in enumerate(items):
        # type() first: a variadic row is checked at every use, and isinstance against an abc is slow.
        if type(d) is not float and not isinstance(d, numbers.Real):
            raise TypeError(f"{op.name}: local derivative {i} must be a real number, got {type(d).__name__} {shown(d)}")
    op.checked = True
