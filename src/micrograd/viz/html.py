"""Interactive pages: one self-contained HTML file each, opened from disk, no network.

- :func:`backward_html` -- steps through the backward pass of one expression:
  the graph (laid out here in the browser, so no Graphviz is needed), the
  node being updated highlighted, the chain-rule formula of the step with its
  numbers, and gradients filling in as you go. Buttons and arrow keys
  (left/right, Home/End, space to play).
- :func:`training_html` -- a training run: the decision boundary at several
  steps (a slider) and the loss and accuracy curves. Step k is the parameters
  after k updates; at each slider position the loss, the accuracy and the
  boundary are of those same parameters.

Everything (data, CSS, JavaScript) is inlined; the numbers are computed in
Python and only drawn by the page, so what it shows is exactly what the
engine computed. The page templates, CSS and JavaScript are files in
``micrograd/viz/static/``, read once when the first page is made.
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any, TypedDict

from micrograd.engine import Value
from micrograd.outputs import binary_class, class_colour, class_name, finite_outputs, region_colour
from micrograd.viz.graph import EXPLAIN_MAX_NODES
from micrograd.viz.narrate import trace_backward

__all__ = [
    "backward_html",
    "training_html",
    "grid_axes",
    "grid_snapshot",
    "TrainingHistory",
    "Snapshot",
    "Grid",
    "CurvePoint",
    "fill_template",
    "script_json",
]


# ----------------------------------------------------------------------
# The backward pass, step by step
# ----------------------------------------------------------------------


def backward_html(root: Value, title: str | None = None, max_nodes: int = EXPLAIN_MAX_NODES) -> str:
    """A page that plays the backward pass of ``root``. No ``.grad`` in the graph is changed.

    One step of the page is one use of the chain rule, ``child.grad += local *
    node.grad``, in the order ``Value.backward`` does them: the same steps, with
    the same numbers, as :func:`micrograd.viz.explain` prints (one per edge).
    Each local derivative is written in the graph's own names; the op's rule as
    its row states it (in the row's own letters) is shown only where it cannot
    be written so. Graphs above ``max_nodes`` Values raise
    ValueError: the picture would be unreadable.
    """
    if not isinstance(root, Value):
        raise TypeError(f"backward_html: root must be a Value, got {type(root).__name__}")
    trace = trace_backward(root, max_nodes=max_nodes)
    data = {
        "root": trace.root,
        "nodes": [
            {
                "index": node.index,
                "name": node.name,
                "op": node.op,
                "data": _shown(node.data),
                "children": list(node.children),
                "formula": node.formula,
                "rule": node.rule,
                "rule_written": node.rule_written,
                "constant": node.is_constant,
                "grad": _shown(trace.grads[node.index]),
            }
            for node in trace.nodes
        ],
        "steps": [
            {
                "parent": step.parent,
                "child": step.child,
                "upstream": _shown(step.upstream),
                "local": _shown(step.local),
                "rule": step.local_rule,
                "product": _shown(step.product),
                "before": _shown(step.before),
                "after": _shown(step.after),
                "how": step.how,
            }
            for step in trace.steps
        ],
    }
    heading = title if title is not None else f"Backpropagation through {trace.node(trace.root).name}"
    return _page("backward", heading, data)


def _shown(number: float) -> float | str:
    """A number of the backward page: finite ones as they are, nan and infinities as the words
    "nan", "inf", "-inf", which the page prints as they are.

    The backward page explains a graph as it is, so a node whose data is nan shows "nan" rather
    than refusing the page (the training and GPT pages refuse instead: a nan there means a run
    went wrong). JSON has no number for them, so they travel as words, never as a wrong number.
    """
    return number if math.isfinite(number) else repr(float(number))


def _page(kind: str, title: str, data: Any) -> str:
    """``static/page.html`` (the head, title and script frame every page shares) around the body
    ``static/<kind>.html``, with its title, CSS (common + <kind>), data and script (common + <kind>).

    Every page (backward, training, gpt) is made here, by :func:`fill_template`: one pass over
    the template, so a title or a label that happens to contain ``__DATA__`` stays text.
    """
    return fill_template(
        _static("page.html"),
        texts={"TITLE": title},
        json_blocks={"DATA": data},
        trusted={
            "BODY": _static(f"{kind}.html"),
            "STYLE": "\n" + _static("common.css") + "\n" + _static(f"{kind}.css"),
            "SCRIPT": "\n" + _static("common.js") + "\n" + _static(f"{kind}.js"),
        },
    )


_PLACEHOLDER = re.compile(r"__([A-Z]+)__")


def fill_template(
    template: str,
    texts: Mapping[str, str] = {},  # noqa: B006 -- read only
    json_blocks: Mapping[str, Any] = {},  # noqa: B006 -- read only
    trusted: Mapping[str, str] = {},  # noqa: B006 -- read only
) -> str:
    """``template`` with every ``__NAME__`` replaced in one pass (what is put in is never searched again).

    - ``texts``: user text (titles, labels), HTML-escaped, quotes included.
    - ``json_blocks``: data for a ``<script>`` element, as JSON escaped by :func:`script_json`.
    - ``trusted``: our own files (CSS, JavaScript), put in as they are.

    A placeholder in the template with no value, or a value with no placeholder, is a
    programming error and raises KeyError, so a renamed placeholder cannot go unnoticed.
    """
    values: dict[str, str] = {}
    for name, text in texts.items():
        values[name] = html.escape(text, quote=True)
    for name, block in json_blocks.items():
        values[name] = script_json(block)
    values.update(trusted)
    used: set[str] = set()

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"fill_template: no value for the placeholder __{name}__")
        used.add(name)
        return values[name]

    page = _PLACEHOLDER.sub(value_of, template)
    unused = set(values) - used
    if unused:
        raise KeyError(f"fill_template: the template has no placeholder for {sorted(unused)}")
    return page


@functools.cache
def _static(name: str) -> str:
    """A file of ``micrograd/viz/static`` (package data, so installed wheels have it too)."""
    return (resources.files("micrograd.viz") / "static" / name).read_text(encoding="utf-8")


# Characters that could end a <script> element or open an HTML comment inside it ("</script>",
# "<!--"), plus the two line separators that older JavaScript did not allow in a string.
_SCRIPT_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def script_json(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script>``: no ``<``, ``>``, ``&``, U+2028 or U+2029 appear raw.

    JSON strings keep their meaning (``\\u003c`` is ``<`` to JavaScript), and outside strings
    JSON has none of these characters. NaN and infinities are refused (ValueError): JSON has
    no word for them, so each page decides before this how to show such a number.
    """
    return json.dumps(data, allow_nan=False).translate(_SCRIPT_ESCAPES)


# ----------------------------------------------------------------------
# A training run
# ----------------------------------------------------------------------


class Grid(TypedDict):
    """Model scores on a grid: ``scores[j][i]`` is the score at ``(xs[i], ys[j])``; > 0 is class 1, else class 0."""

    xs: list[float]
    ys: list[float]
    scores: list[list[float]]


class Snapshot(TypedDict):
    """The model after ``step`` updates (0: the initial parameters): loss, accuracy and grid all of those parameters."""

    step: int
    loss: float
    accuracy: float  # a fraction, 0..1
    grid: Grid


class CurvePoint(TypedDict):
    """Loss and accuracy at one step (for curves finer than the snapshots)."""

    step: int
    loss: float
    accuracy: float


class _HistoryRequired(TypedDict):
    X: list[list[float]]  # training points, each [x, y]
    y: list[float]  # their labels: > 0 is class 1, otherwise class 0 (so -1/1 and 0/1 both work)
    snapshots: list[Snapshot]


class TrainingHistory(_HistoryRequired, total=False):
    """Everything ``training_html`` draws. ``curve`` is optional; without it the
    curves are drawn through the snapshots' own loss and accuracy."""

    curve: list[CurvePoint]
    title: str


def grid_axes(
    points: Sequence[Sequence[float]], resolution: int = 40, margin: float = 0.5
) -> tuple[list[float], list[float]]:
    """Evenly spaced xs and ys covering ``points`` plus ``margin`` on each side."""
    if not points:
        raise ValueError("grid_axes: no points")
    if resolution < 2:
        raise ValueError(f"grid_axes: resolution must be at least 2, got {resolution}")
    axes = []
    for dimension in (0, 1):
        low = min(point[dimension] for point in points) - margin
        high = max(point[dimension] for point in points) + margin
        axes.append([low + (high - low) * i / (resolution - 1) for i in range(resolution)])
    return axes[0], axes[1]


def grid_snapshot(
    step: int,
    loss: float,
    accuracy: float,
    score: Callable[[float, float], float],
    xs: Sequence[float],
    ys: Sequence[float],
) -> Snapshot:
    """One snapshot, scoring the model at every grid point: ``score(x, y) -> float`` (> 0 means class 1)."""
    scores = [[float(score(x, y)) for x in xs] for y in ys]
    return {
        "step": int(step),
        "loss": float(loss),
        "accuracy": float(accuracy),
        "grid": {"xs": [float(x) for x in xs], "ys": [float(y) for y in ys], "scores": scores},
    }


def training_html(history: TrainingHistory) -> str:
    """A page with the decision boundary at each snapshot (a slider) and the loss and accuracy curves.

    "step k" means the parameters after k updates (step 0: the initial ones). A snapshot's
    boundary, loss and accuracy must all be of those parameters, and the curve's point k too,
    so the slider and the curves agree. Class names and colours come from
    :mod:`micrograd.outputs`, as in every other picture; a nan or inf anywhere is refused
    (:class:`~micrograd.outputs.NonFiniteOutput`) rather than drawn as something else.
    """
    _check_history(history)
    snapshots = history["snapshots"]
    curve = history.get("curve") or [
        {"step": s["step"], "loss": s["loss"], "accuracy": s["accuracy"]} for s in snapshots
    ]
    data = {
        "X": [finite_outputs(f"training_html: X[{i}]", point) for i, point in enumerate(history["X"])],
        "labels": [binary_class(label) for label in finite_outputs("training_html: y", history["y"])],
        "classes": [{"name": class_name(k), "colour": class_colour(k), "region": region_colour(k)} for k in (0, 1)],
        "snapshots": [_checked_snapshot(i, snapshot) for i, snapshot in enumerate(snapshots)],
        "curve": [_checked_point(f"training_html: curve[{i}]", point) for i, point in enumerate(curve)],
    }
    return _page("training", history.get("title", "Training run"), data)


def _checked_point(where: str, point: CurvePoint | Snapshot) -> dict[str, float]:
    loss, accuracy = finite_outputs(f"{where}'s loss and accuracy", [point["loss"], point["accuracy"]])
    return {"step": int(point["step"]), "loss": loss, "accuracy": accuracy}


def _checked_snapshot(i: int, snapshot: Snapshot) -> dict[str, Any]:
    where = f"training_html: snapshots[{i}]"
    grid = snapshot["grid"]
    return {
        **_checked_point(where, snapshot),
        "grid": {
            "xs": finite_outputs(f"{where}'s grid xs", grid["xs"]),
            "ys": finite_outputs(f"{where}'s grid ys", grid["ys"]),
            "scores": [finite_outputs(f"{where}'s scores", row) for row in grid["scores"]],
        },
    }


def _check_history(history: TrainingHistory) -> None:
    """Clear messages for malformed history, instead of a blank page."""
    for key in ("X", "y", "snapshots"):
        if key not in history:
            raise ValueError(f"training_html: history needs the key {key!r}")
    points, labels, snapshots = history["X"], history["y"], history["snapshots"]
    if len(points) != len(labels):
        raise ValueError(f"training_html: {len(points)} points in X but {len(labels)} labels in y")
    for i, point in enumerate(points):
        if len(point) != 2:
            raise ValueError(f"training_html: X[{i}] must be a 2-d point [x, y], got {len(point)} numbers")
    if not snapshots:
        raise ValueError("training_html: history['snapshots'] is empty; give at least one")
    for i, snapshot in enumerate(snapshots):
        grid = snapshot["grid"]
        rows, width = len(grid["scores"]), len(grid["xs"])
        if rows != len(grid["ys"]) or any(len(row) != width for row in grid["scores"]):
            raise ValueError(
                f"training_html: snapshots[{i}]: scores must have len(ys)={len(grid['ys'])} rows "
                f"of len(xs)={width} numbers"
            )
