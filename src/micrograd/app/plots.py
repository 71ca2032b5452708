"""Pictures of a training run: the decision boundary and the loss/accuracy curves.

Uses matplotlib's object API (``Figure`` with the Agg canvas), never pyplot, so
nothing depends on a display or on global state. matplotlib is an optional
extra: ``pip install 'micrograd[plot]'``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from micrograd._files import atomic_write
from micrograd.engine import Value
from micrograd.nn import MLP, outputs_on_floats

__all__ = ["decision_grid", "decision_boundary_figure", "curves_figure", "save_figure"]


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
                return _png_bytes(self)

        _NOTEBOOK_FIGURE = NotebookFigure
    return _NOTEBOOK_FIGURE


def decision_grid(
    model: MLP, X: Sequence[Sequence[float]], resolution: int = 60, margin: float = 0.5
) -> tuple[list[float], list[float], list[list[float]]]:
    """The model's output over a grid covering X: (xs, ys, scores[row][col]).

    For one output the score is the raw output; for several, the predicted class.
    """
    x_lo, x_hi = min(p[0] for p in X) - margin, max(p[0] for p in X) + margin
    y_lo, y_hi = min(p[1] for p in X) - margin, max(p[1] for p in X) + margin
    xs = [x_lo + (x_hi - x_lo) * i / (resolution - 1) for i in range(resolution)]
    ys = [y_lo + (y_hi - y_lo) * j / (resolution - 1) for j in range(resolution)]
    # Evaluation only: the model on plain floats (the same numbers as model(x), no Values made).
    outputs = outputs_on_floats(model, [[x, y] for y in ys for x in xs])
    flat = [out[0] if len(out) == 1 else float(max(range(len(out)), key=out.__getitem__)) for out in outputs]
    scores = [flat[row * resolution : (row + 1) * resolution] for row in range(resolution)]
    return xs, ys, scores


def decision_boundary_figure(
    model: MLP, X: Sequence[Sequence[float]], y: Sequence[int], title: str = "decision boundary"
) -> Any:
    """A Figure with the predicted regions shaded and the data points on top."""
    Figure = _require_matplotlib()
    if not X or len(X[0]) != 2:
        raise ValueError("decision boundary plots need 2-D inputs")
    xs, ys, scores = decision_grid(model, X)
    n_classes = max(y) + 1
    fig = Figure(figsize=(5.5, 5), dpi=100)
    ax = fig.add_subplot()
    if n_classes <= 2 and isinstance(model([X[0][0], X[0][1]]), Value):
        ax.contourf(xs, ys, [[1.0 if s > 0 else 0.0 for s in row] for row in scores], levels=[-0.5, 0.5, 1.5],
                    colors=["#f4b6b6", "#b6cdf4"], alpha=0.8)
        ax.contour(xs, ys, scores, levels=[0.0], colors="k", linewidths=1)
    else:
        ax.contourf(xs, ys, scores, levels=[c - 0.5 for c in range(n_classes + 1)], cmap="Pastel1", alpha=0.9)
    palette = ["#c0392b", "#2c6fbb", "#27ae60", "#8e44ad", "#d68910", "#17a589"]
    for c in range(n_classes):
        pts = [p for p, label in zip(X, y, strict=True) if label == c]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=22, c=palette[c % len(palette)],
                   edgecolors="k", linewidths=0.5, label=f"class {c}")
    ax.set_title(title)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def curves_figure(history: Sequence[dict[str, float]], title: str = "training") -> Any:
    """A Figure with loss (left axis) and accuracy (right axis) against the step."""
    Figure = _require_matplotlib()
    steps = [h["step"] for h in history]
    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    ax.plot(steps, [h["loss"] for h in history], color="#c0392b", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="#c0392b")
    ax.set_yscale("log" if all(h["loss"] > 0 for h in history) else "linear")
    acc_ax = ax.twinx()
    acc_ax.plot(steps, [100 * h["accuracy"] for h in history], color="#2c6fbb", label="train accuracy")
    if any("val_accuracy" in h for h in history):
        acc_ax.plot(steps, [100 * h.get("val_accuracy", float("nan")) for h in history], color="#27ae60",
                    linestyle="--", label="validation accuracy")
    acc_ax.set_ylabel("accuracy (%)", color="#2c6fbb")
    acc_ax.set_ylim(0, 101)
    lines = ax.get_lines() + acc_ax.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="center right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a Figure as PNG, atomically (a crash never leaves half a picture)."""
    return atomic_write(path, _png_bytes(fig))


def _png_bytes(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # the Agg canvas: no display needed
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
