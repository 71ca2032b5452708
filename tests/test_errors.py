"""Bad input gives a clear error of the right type, naming the op and the operand."""

from __future__ import annotations

import pytest

from micrograd import Value


@pytest.mark.parametrize("bad", ["abc", None, [1], (1.0,), {}, 1j])
def test_value_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(TypeError, match=r"Value: data must be a real number.*got"):
        Value(bad)  # type: ignore[arg-type]


def test_operator_with_non_number_raises_type_error() -> None:
    with pytest.raises(TypeError, match="Value: data must be a real number"):
        Value(1.0) + "x"  # type: ignore[operator]
    with pytest.raises(TypeError, match="pow: exponent must be a number"):
        Value(1.0) ** "x"  # type: ignore[operator]


@pytest.mark.parametrize("x", [0.0, -1.0])
def test_log_outside_domain(x: float) -> None:
    with pytest.raises(ValueError, match=rf"log: argument must be > 0, got {x}"):
        Value(x).log()


def test_fractional_power_of_negative_base() -> None:
    with pytest.raises(ValueError, match=r"pow: a negative base -2.0 cannot be raised to the fractional power 0.5"):
        Value(-2.0) ** 0.5
    with pytest.raises(ValueError, match="pow: a negative base"):
        Value(-2.0) ** Value(0.5)


def test_division_by_zero() -> None:
    with pytest.raises(ZeroDivisionError, match="division: divisor is 0.0"):
        Value(1.0) / 0
    with pytest.raises(ZeroDivisionError, match="division: divisor is 0.0"):
        1.0 / Value(0.0)
    with pytest.raises(ZeroDivisionError, match="division"):
        Value(1.0) / Value(0.0)
    with pytest.raises(ZeroDivisionError, match="pow: 0.0 cannot be raised to the negative power -1.0"):
        Value(0.0) ** -1


def test_infinite_derivative_at_zero_is_an_error_not_inf() -> None:
    with pytest.raises(ZeroDivisionError, match=r"pow: the derivative of x\*\*0.5 is infinite at x = 0.0"):
        Value(0.0) ** 0.5


def test_exp_overflow() -> None:
    with pytest.raises(OverflowError, match="exp: result overflows a float, got 1000.0"):
        Value(1000.0).exp()


def test_pow_overflow() -> None:
    with pytest.raises(OverflowError, match="pow: 10.0 \\*\\* 400.0 overflows"):
        Value(10.0) ** 400
