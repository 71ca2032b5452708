"""The PNG plots: regions in lighter shades of their dots' colours, a boundary line, titles that say what is shown."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from micrograd.app import plots
from micrograd.app.cli import main
from micrograd.engine import Value
from micrograd.nn import MLP
from micrograd.outputs import NonFiniteOutput, class_colour, class_name, region_colour

pytest.importorskip("matplotlib")
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402


def model_and_data(outputs: int, seed: int = 5) -> tuple[MLP, list[list[float]], list[int]]:
    rng = random.Random(seed)
    random.seed(seed)
    model = MLP(2, [8, outputs], activation="tanh")
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(60)]
    y = [rng.randrange(max(outputs, 2)) for _ in X]
    return model, X, y


def predicted_class(model: MLP, point: list[float]) -> tuple[int, float]:
    """The class model(point) predicts, and by how much it leads the next best: worked on Values, not floats."""
    out = model([Value(point[0]), Value(point[1])])
    scores = [out.data] if isinstance(out, Value) else [v.data for v in out]
    if len(scores) == 1:
        return (1 if scores[0] > 0 else 0), abs(scores[0])
    ranked = sorted(range(len(scores)), key=lambda c: -scores[c])
    return ranked[0], scores[ranked[0]] - scores[ranked[1]]


def regions(figure: Any) -> dict[int, Any]:
    ax = figure.axes[0]
    found = {}
    for artist in ax.get_children():
        gid = artist.get_gid() or ""
        if gid.startswith("region of class "):
            found[int(gid.rsplit(" ", 1)[1])] = artist
    return found


@pytest.mark.parametrize("outputs", [1, 3, 4])
def test_each_region_is_the_predicted_class_in_its_lighter_colour(outputs: int) -> None:
    model, X, y = model_and_data(outputs)
    figure = plots.decision_boundary_figure(model, X, y, dataset="test", resolution=60)
    shaded = regions(figure)
    for c, artist in shaded.items():
        assert to_rgba(artist.get_facecolor()[0]) == pytest.approx(to_rgba(region_colour(c)))
    rng = random.Random(1)
    checked = 0
    for _ in range(200):
        point = [rng.uniform(-1.2, 1.2), rng.uniform(-1.2, 1.2)]
        expected, lead = predicted_class(model, point)
        if lead < 0.05:
            continue  # too near the boundary for a 60x60 grid's interpolation to be sure
        inside = [c for c, artist in shaded.items() if any(path.contains_point(point) for path in artist.get_paths())]
        assert inside == [expected], point
        checked += 1
    assert checked > 100


def test_the_boundary_is_drawn_where_the_prediction_changes() -> None:
    model, X, y = model_and_data(3)
    figure = plots.decision_boundary_figure(model, X, y, dataset="test", resolution=60)
    lines = [a for a in figure.axes[0].collections if a.get_gid() is None and type(a).__name__ == "QuadContourSet"]
    vertices = [v for artist in lines for path in artist.get_paths() for v in path.vertices]
    assert vertices
    near = 0
    for vertex in vertices[:: max(1, len(vertices) // 50)]:
        # On the boundary two classes tie: a step either way changes the prediction, or the lead is tiny.
        _, lead = predicted_class(model, [float(vertex[0]), float(vertex[1])])
        near += lead < 0.05
    assert near >= 0.9 * len(vertices[:: max(1, len(vertices) // 50)])


@pytest.mark.parametrize("outputs", [1, 3])
def test_dots_have_their_class_colour_and_name(outputs: int) -> None:
    model, X, y = model_and_data(outputs)
    figure = plots.decision_boundary_figure(model, X, y, dataset="test")
    dots = [a for a in figure.axes[0].collections if isinstance(a, PathCollection)]
    names = [class_name(c) for c in sorted(set(y))]
    assert [d.get_label() for d in dots] == names
    for c, dot in zip(sorted(set(y)), dots, strict=True):
        assert [tuple(colour) for colour in dot.get_facecolors()] == [to_rgba(class_colour(c))]
        mine = [tuple(p) for p, label in zip(X, y, strict=True) if label == c]
        assert sorted(map(tuple, dot.get_offsets().tolist())) == sorted(mine)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == [*names, "boundary"]


def test_binary_targets_minus_one_is_class_zero() -> None:
    model, X, y = model_and_data(1)
    signed = [1 if label == 1 else -1 for label in y]
    figure = plots.decision_boundary_figure(model, X, signed, dataset="test")
    dots = [a for a in figure.axes[0].collections if isinstance(a, PathCollection)]
    assert [d.get_label() for d in dots] == ["class 0", "class 1"]
    zero = [tuple(p) for p, label in zip(X, signed, strict=True) if label == -1]
    assert sorted(map(tuple, dots[0].get_offsets().tolist())) == sorted(zero)
    assert [tuple(c) for c in dots[0].get_facecolors()] == [to_rgba(class_colour(0))]


def test_the_title_says_dataset_classes_step_and_accuracy() -> None:
    model, X, y = model_and_data(3)
    figure = plots.decision_boundary_figure(model, X, y, dataset="spiral", step=100)
    hits = sum(predicted_class(model, p)[0] == label for p, label in zip(X, y, strict=True))
    ax = figure.axes[0]
    assert ax.get_title() == f"spiral, 3 classes, step 100: accuracy {100 * hits / len(X):.1f}%"
    assert ax.get_xlabel() == "x1 (first input)" and ax.get_ylabel() == "x2 (second input)"


def test_a_nan_score_is_refused_not_drawn() -> None:
    model, X, y = model_and_data(3)
    model.parameters()[0].data = math.nan
    with pytest.raises(NonFiniteOutput, match="the model's scores over the plot"):
        plots.decision_boundary_figure(model, X, y, dataset="test")


def test_the_plot_command_titles_the_picture_from_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["train", "--dataset", "spiral", "--loss", "ce", "--steps", "3", "--hidden", "4",
                 "--out", str(tmp_path)]) == 0  # fmt: skip
    saved: list[Any] = []
    real_save = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda figure, path: saved.append(figure) or real_save(figure, path))
    assert main(["plot", str(tmp_path / "checkpoint.json")]) == 0
    title = saved[0].axes[0].get_title()
    assert title.startswith("spiral, 3 classes, step 3: accuracy ") and title.endswith("%")
    assert (tmp_path / "decision_boundary.png").read_bytes()[:4] == b"\x89PNG"


def test_the_curves_refuse_a_nan_loss() -> None:
    history = [{"step": 0.0, "loss": 1.0, "accuracy": 0.5}, {"step": 1.0, "loss": math.nan, "accuracy": 0.5}]
    with pytest.raises(NonFiniteOutput, match="the loss curve"):
        plots.curves_figure(history)
    history[1]["loss"] = 0.5
    ax = plots.curves_figure(history).axes[0]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
