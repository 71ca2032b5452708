"""Pictures of a training run: the decision boundary and the loss/accuracy curves.

Uses matplotlib's object API (``Figure`` with the Agg canvas), never pyplot, so
nothing depends on a display or on global state. matplotlib is an optional
extra: ``pip install 'micrograd[plot]'``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from micrograd._files import atomic_write
from micrograd.app import training
from micrograd.nn import MLP, outputs_on_floats
from micrograd.outputs import binary_class, class_colour, class_name, finite_outputs, region_colour

__all__ = [
    "decision_grid", "class_margins", "decision_boundary_figure", "curves_figure", "save_figure", "FIGURE_FORMATS",
]


_NOTEBOOK_FIGURE: Any = None


def _require_matplotlib() -> Any:
    """matplotlib's Figure, extended so that Jupyter shows it as a picture even before pyplot is imported.

    Jupyter's inline display of Figures is switched on when pyplot loads its backend; a Figure made
    with the object API alone would otherwise show as ``<Figure size 550x500 with 1 Axes>``.
    """
    global _NOTEBOOK_FIGURE
    if _NOTEBOOK_FIGURE is None:
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("plots need matplotlib: pip install 'micrograd[plot]'") from None

        class NotebookFigure(Figure):
            def _repr_png_(self) -> bytes:
                return _figure_bytes(self, "png")

        _NOTEBOOK_FIGURE = NotebookFigure
    return _NOTEBOOK_FIGURE


def _grid_axes(
    X: Sequence[Sequence[float]], resolution: int, margin: float
) -> tuple[list[float], list[float]]:
    x_lo, x_hi = min(p[0] for p in X) - margin, max(p[0] for p in X) + margin
    y_lo, y_hi = min(p[1] for p in X) - margin, max(p[1] for p in X) + margin
    xs = [x_lo + (x_hi - x_lo) * i / (resolution - 1) for i in range(resolution)]
    ys = [y_lo + (y_hi - y_lo) * j / (resolution - 1) for j in range(resolution)]
    return xs, ys


def decision_grid(
    model: MLP, X: Sequence[Sequence[float]], resolution: int = 60, margin: float = 0.5
) -> tuple[list[float], list[float], list[list[float]]]:
    """The model's output over a grid covering X: (xs, ys, scores[row][col]).

    For one output the score is the raw output; for several, the predicted class.
    """
    xs, ys = _grid_axes(X, resolution, margin)
    # Evaluation only: the model on plain floats (the same numbers as model(x), no Values made).
    outputs = outputs_on_floats(model, [[x, y] for y in ys for x in xs])
    flat = [out[0] if len(out) == 1 else float(max(range(len(out)), key=out.__getitem__)) for out in outputs]
    scores = [flat[row * resolution : (row + 1) * resolution] for row in range(resolution)]
    return xs, ys, scores


def class_margins(outputs: Sequence[float]) -> list[float]:
    """For each class, how far ahead of the best other class the model puts it: > 0 where it is predicted.

    One output (a binary model: score > 0 is class 1) gives [-score, score]; several give
    ``s_c - max(s_j for j != c)``. Each is a smooth function of the input, so its zero line is the
    boundary, drawn smooth, and the region where it is positive is where class c is predicted.
    """
    if len(outputs) == 1:
        return [-outputs[0], outputs[0]]
    margins = []
    for c, score in enumerate(outputs):
        rivals = max(other for j, other in enumerate(outputs) if j != c)
        margins.append(score - rivals)
    return margins


def _class_labels(y: Sequence[float]) -> list[int]:
    """Class indices: labels 0..k-1 as they are; binary targets -1/+1 through binary_class (-1 is class 0)."""
    if any(label < 0 for label in y):
        return [binary_class(label) for label in y]
    return [int(label) for label in y]


def decision_boundary_figure(
    model: MLP,
    X: Sequence[Sequence[float]],
    y: Sequence[float],
    title: str | None = None,
    *,
    dataset: str | None = None,
    step: int | None = None,
    resolution: int = 100,
) -> Any:
    """A Figure with the predicted regions shaded, the boundary drawn, and the data points on top.

    Each class's region is a lighter shade of its dots' colour (``micrograd.outputs.region_colour`` and
    ``class_colour``), for any number of classes; the boundary is the black line where the
    predicted class changes. Without a ``title``, the title says what is shown:
    "spiral, 3 classes, step 100: accuracy 97.5%" (the accuracy of the drawn model on X).
    """
    Figure = _require_matplotlib()
    if not X or len(X[0]) != 2:
        raise ValueError("decision boundary plots need 2-D inputs")
    labels = _class_labels(y)
    xs, ys = _grid_axes(X, resolution, 0.5)
    # Evaluation only: the model on plain floats (the same numbers as model(x), no Values made).
    grid_outputs = outputs_on_floats(model, [[x, y_] for y_ in ys for x in xs])
    finite_outputs("the model's scores over the plot", [score for out in grid_outputs for score in out])
    margins = [class_margins(out) for out in grid_outputs]
    n_classes = max(max(labels) + 1, len(margins[0]))
    accuracy = 100.0 * training.accuracy(model, X, labels)  # X is not empty, so a number, never nan

    fig = Figure(figsize=(6.6, 5), dpi=100)
    ax = fig.add_subplot()
    drew_boundary = False
    for c in range(len(margins[0])):
        field = [[margins[row * resolution + col][c] for col in range(resolution)] for row in range(resolution)]
        # The region where class c's margin is positive, and its edge: smooth, since the margin is.
        lowest, highest = min(map(min, field)), max(map(max, field))
        if highest <= 0.0:
            continue  # the model predicts class c nowhere on the plot
        region = ax.contourf(xs, ys, field, levels=[0.0, math.inf],
                             colors=[region_colour(c)])  # fmt: skip
        region.set_gid(f"region of class {c}")  # names the artist for a reader of the figure (and the tests)
        if lowest < 0.0:
            ax.contour(xs, ys, field, levels=[0.0], colors="black", linewidths=1.2)
            drew_boundary = True
    for c in range(n_classes):
        points = [p for p, label in zip(X, labels, strict=True) if label == c]
        if points:
            ax.scatter([p[0] for p in points], [p[1] for p in points], s=22, color=class_colour(c),
                       edgecolors="black", linewidths=0.5, label=class_name(c), zorder=3)  # fmt: skip
    if title is None:
        named = dataset or "data"
        when = f", step {step}" if step is not None else ""
        title = f"{named}, {n_classes} classes{when}: accuracy {accuracy:.1f}%"
    ax.set_title(title)
    ax.set_xlabel("x1 (first input)")
    ax.set_ylabel("x2 (second input)")
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    if drew_boundary:
        ax.plot([], [], color="black", linewidth=1.2, label="boundary")  # a legend entry for the contour lines
    # Outside the axes, so the legend never hides points; its entries are the dots' classes.
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, borderaxespad=0.0)
    fig.tight_layout()
    return fig


def curves_figure(
    history: Sequence[Mapping[str, float]], title: str = "training", *, final: Mapping[str, float] | None = None
) -> Any:
    """A Figure with loss (left axis) and accuracy in percent (right axis) against the step.

    Step k is the parameters after k updates. A run's ``history[k]`` is measured before update
    k + 1, on the parameters of step k, so N updates give the points 0..N-1. ``final`` (``{"step": N,
    "loss": ..., "accuracy": ...}``, measured after the last update) adds the point N, so that the
    curve ends at the step the run ended at, the one the decision boundary's title names.
    """
    Figure = _require_matplotlib()
    records = list(history)
    if final is not None:
        if records and not final["step"] > records[-1]["step"]:
            raise ValueError(f"curves_figure: final step {final['step']} must come after the history's last, "
                             f"{records[-1]['step']}")
        records.append(final)
    steps = [h["step"] for h in records]
    losses = finite_outputs("the loss curve", [h["loss"] for h in records])
    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    ax.plot(steps, losses, color="#c0392b", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="#c0392b")
    ax.set_yscale("log" if all(loss > 0 for loss in losses) else "linear")
    acc_ax = ax.twinx()
    accuracies = finite_outputs("the accuracy curve", [100 * h["accuracy"] for h in records])
    acc_ax.plot(steps, accuracies, color="#2c6fbb", label="train accuracy")
    if any("val_accuracy" in h for h in records):
        acc_ax.plot(steps, [100 * h.get("val_accuracy", float("nan")) for h in records], color="#27ae60",
                    linestyle="--", label="validation accuracy")
    acc_ax.set_ylabel("accuracy (%)", color="#2c6fbb")
    acc_ax.set_ylim(0, 101)
    lines = ax.get_lines() + acc_ax.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="center right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


# The picture formats save_figure writes, by the output's suffix; no suffix (/dev/stdout) is PNG.
FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", "": "png"}


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a Figure as PNG, SVG or PDF, by the suffix of ``path``, atomically (a crash never leaves half
    a picture). Any other suffix is refused (ValueError) before anything is written."""
    suffix = Path(path).suffix
    fmt = FIGURE_FORMATS.get(suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write a picture as {suffix!r} ({path}): use .png, .svg or .pdf")
    return atomic_write(path, _figure_bytes(fig, fmt))


def _figure_bytes(fig: Any, fmt: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # the Agg canvas: no display needed
    buffer = io.BytesIO()
    # No date in SVG and PDF files, so that the same figure gives the same bytes.
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
    fig.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()
