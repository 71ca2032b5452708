"""The one boundary for numbers leaving the program, and the one set of class names and colours.

``micrograd.outputs`` is public: notebooks and your own plots use the same names and colours.

Everything a user reads -- ``predict``'s answer, a plot, a page, a checkpoint's history --
passes its numbers through :func:`finite_outputs` first, so a NaN or an infinity is
refused with one line naming where it came from, instead of each site deciding for
itself (a NaN once printed as a confident "class 0").

Every picture (PNG plots, the training page, the notebooks) names and colours classes
with :func:`class_name` and :data:`CLASS_COLOURS`, so "class 1" is the same word and the
same colour everywhere. Binary datasets use targets -1/+1: -1 is class 0 and +1 is class 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sized

__all__ = [
    "NonFiniteOutput",
    "finite_outputs",
    "CLASS_COLOURS",
    "class_name",
    "class_colour",
    "region_colour",
    "binary_class",
]


class NonFiniteOutput(ValueError):
    """A number about to be shown or saved is nan or inf; the message names what and where."""


def finite_outputs(what: str, numbers: Iterable[float]) -> list[float]:
    """``numbers`` as a list of floats, refused with :class:`NonFiniteOutput` if any is nan or inf.

    ``what`` names the numbers for the message, e.g. ``"the model's scores"``.
    """
    given = list(numbers)
    checked = []
    for index, number in enumerate(given):
        try:
            as_float = float(number)
        except OverflowError:  # an int such as 10**400 (JSON can hold one): it would be inf as a float
            raise NonFiniteOutput(f"{what} holds a number too large for a float{_where(index, given)}") from None
        if not math.isfinite(as_float):
            raise NonFiniteOutput(
                f"{what} came out as {as_float}{_where(index, given)}; refusing to show or save a nan/inf result"
            )
        checked.append(as_float)
    return checked


def _where(index: int, numbers: Sized) -> str:
    # Built only for the message: finite_outputs runs over every point of a plot's grid.
    return "" if len(numbers) == 1 else f" (position {index})"


# Matplotlib's "tab10": ten hues that stay distinct for colour-blind readers and on paper.
CLASS_COLOURS: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def class_name(index: int) -> str:
    """The one name of class ``index`` in every picture and message: ``"class 0"``, ``"class 1"``, ..."""
    return f"class {index}"


def class_colour(index: int) -> str:
    """The colour of class ``index``'s dots (the palette repeats after ten classes)."""
    return CLASS_COLOURS[index % len(CLASS_COLOURS)]


def region_colour(index: int, lightness: float = 0.65) -> str:
    """A lighter shade of :func:`class_colour` for the region the model gives to class ``index``.

    ``lightness`` is how far the colour is mixed towards white (0 keeps it, 1 is white).
    """
    colour = class_colour(index)
    channels = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(channel + (255 - channel) * lightness) for channel in channels]
    return "#" + "".join(f"{channel:02x}" for channel in mixed)


def binary_class(target: float) -> int:
    """The class index of a binary target: -1 (or anything <= 0) is class 0, +1 is class 1."""
    return 1 if target > 0 else 0
