"""Types for command-line flags: each rejects a bad value at parse time with a one-line reason."""

from __future__ import annotations

import argparse

__all__ = ["add_max_file_option", "whole_number", "positive_int", "non_negative_int", "positive_float", "finite_float"]


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def add_max_file_option(parser: argparse.ArgumentParser) -> None:
    """``--max-file-mb``: the largest input file (checkpoint, CSV, text) the command will read."""
    from micrograd._files import DEFAULT_READ_LIMIT

    parser.add_argument("--max-file-mb", type=positive_int, default=None, metavar="MB",
                        help=f"refuse input files larger than this (default: {DEFAULT_READ_LIMIT // 2**20})")
