"""Input checks for the engine: numbers in, clear errors out, each naming the op and the operand."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

__all__ = ["to_float", "shown", "compare", "divisor_data"]


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


def compare(how: Callable[[float, Any], Any], data: float, other: object) -> Any:
    """``data <op> other`` for a plain number; NotImplemented for anything else (so Python raises its TypeError).

    The number is compared as it is, not converted to a float first: Python compares a float with
    an int exactly, so ``Value(1) < 10**400`` is True instead of an OverflowError from float(10**400).
    """
    if isinstance(other, numbers.Real):
        return how(data, other)
    return NotImplemented


def divisor_data(divisor: Any) -> float:
    """The divisor's value, refusing zero before ``x ** -1`` would."""
    value = divisor.data if hasattr(type(divisor), "_apply_op") else to_float(divisor, "division: divisor")
    if value == 0.0:
        raise ZeroDivisionError(f"division: divisor is {value}")
    return float(value)
