"""The one boundary for numbers leaving the program (micrograd.outputs.finite_outputs)."""

from __future__ import annotations

import math

import pytest

from micrograd.outputs import NonFiniteOutput, finite_outputs


def test_finite_numbers_pass_as_floats() -> None:
    checked = finite_outputs("the scores", [1, -2.5, 0.0, 1e308])
    assert checked == [1.0, -2.5, 0.0, 1e308]
    assert all(type(number) is float for number in checked)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_are_refused_naming_what_and_where(bad: float) -> None:
    with pytest.raises(NonFiniteOutput, match=rf"^the scores came out as {bad} \(position 1\); refusing"):
        finite_outputs("the scores", [0.5, bad, 2.0])


def test_a_single_number_has_no_position() -> None:
    with pytest.raises(NonFiniteOutput, match=r"^the score came out as nan; refusing to show or save"):
        finite_outputs("the score", [math.nan])


def test_an_int_too_large_for_a_float_is_refused_not_an_overflow_error() -> None:
    # JSON can hold 10**400; float() of it raises a bare OverflowError.
    with pytest.raises(NonFiniteOutput, match=r"^the history holds a number too large for a float \(position 0\)$"):
        finite_outputs("the history", [10**400, 1.0])


def test_the_refusal_is_a_value_error_so_the_cli_prints_one_line() -> None:
    assert issubclass(NonFiniteOutput, ValueError)


def test_any_iterable_is_read_once() -> None:
    assert finite_outputs("generated", (x / 2 for x in range(3))) == [0.0, 0.5, 1.0]
