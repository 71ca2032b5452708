"""Types for command-line flags: each rejects a bad value at parse time with a one-line reason."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

__all__ = [
    "Words",
    "add_max_file_option",
    "whole_number",
    "positive_int",
    "non_negative_int",
    "positive_float",
    "finite_float",
    "temperature",
    "output_folder",
]


class Words(tuple[str, ...]):
    """An option's choices that also accept old spellings, which the help and the errors do not list."""

    old: frozenset[str]

    def __new__(cls, words: Sequence[str], old: Sequence[str]) -> Words:
        choices = super().__new__(cls, words)
        choices.old = frozenset(old)
        return choices

    def __contains__(self, value: object) -> bool:
        return value in self.old or super().__contains__(value)


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


def temperature(text: str) -> float:
    """A sampling temperature: any finite number > 0; a tiny one samples greedily (see micrograd.gpt.GPT.generate)."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be > 0, got {text}; for greedy sampling (always the likeliest character) give a tiny one, e.g. 1e-9"
        )
    return value


def output_folder(text: str) -> str:
    """A folder to write into, made if missing: refused at once if it, or a folder above it, is a file."""
    path = os.path.abspath(text)
    while True:
        if os.path.exists(path):
            if not os.path.isdir(path):
                where = "" if path == os.path.abspath(text) else f" ({path} is a file)"
                raise argparse.ArgumentTypeError(f"{text!r} is not a folder{where}; give a folder to write into")
            return text
        parent = os.path.dirname(path)
        if parent == path:
            return text
        path = parent


def add_max_file_option(parser: argparse.ArgumentParser) -> None:
    """``--max-file-mb``: the largest input file (checkpoint, CSV, text) the command will read."""
    from micrograd._files import DEFAULT_READ_LIMIT

    parser.add_argument("--max-file-mb", type=positive_int, default=None, metavar="MB",
                        help=f"refuse input files larger than this (default: {DEFAULT_READ_LIMIT // 2**20})")
