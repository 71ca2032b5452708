"""The interactive pages (micrograd.viz.html): their content, and their behaviour in a real browser.

The browser tests drive Chromium with Playwright for Python (the ``chromium``
fixture of conftest.py finds it on PATH or where Playwright put it); they skip
with the reason when either is absent. Set MICROGRAD_SCREENSHOTS=folder to keep
the screenshots for looking at.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest

from micrograd import ops
from micrograd.app.expr import evaluate
from micrograd.engine import Value
from micrograd.outputs import NonFiniteOutput, class_colour, class_name, region_colour
from micrograd.viz import to_html
from micrograd.viz.gpt_page import gpt_html
from micrograd.viz.html import TrainingHistory, backward_html, grid_axes, grid_snapshot, training_html

SEED_EXPRESSION = "n = x1*w1 + x2*w2 + b; o = tanh(n)"
SEED_VALUES = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}


def seed_page() -> str:
    return to_html(evaluate(SEED_EXPRESSION, SEED_VALUES), title="The lecture's neuron")


def small_history() -> TrainingHistory:
    """Four points, a boundary that moves from x = 1 to x = 0 over three snapshots."""
    points = [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]
    labels = [-1.0, -1.0, 1.0, 1.0]
    xs, ys = grid_axes(points, resolution=21, margin=0.5)
    snapshots = [
        grid_snapshot(step, loss, accuracy, lambda x, y, shift=shift: 3.0 * (x - shift), xs, ys)
        for step, loss, accuracy, shift in [(0, 2.0, 0.5, 1.0), (10, 0.8, 0.75, 0.5), (20, 0.1, 1.0, 0.0)]
    ]
    curve = [{"step": s, "loss": 2.0 * math.exp(-s / 8), "accuracy": min(1.0, 0.5 + s / 40)} for s in range(21)]
    return {"X": points, "y": labels, "snapshots": snapshots, "curve": curve, "title": "Toy run"}  # type: ignore[typeddict-item]


# ----------------------------------------------------------------------
# Without a browser: the page is self-contained and carries the right data
# ----------------------------------------------------------------------


def test_the_page_needs_no_network() -> None:
    page = seed_page()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]+src=|<link|@import|url\(", page)
    # The only address is the SVG namespace name, which is never fetched.
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}


def test_the_page_carries_the_engines_numbers() -> None:
    match = re.search(r"const DATA = (.*);\n", seed_page())
    assert match is not None
    data = json.loads(match.group(1))
    names = {node["index"]: node["name"] for node in data["nodes"]}
    assert names[data["root"]] == "o"
    by_name = {node["name"]: node for node in data["nodes"]}
    assert by_name["x1"]["data"] == 2.0 and by_name["w1"]["data"] == -3.0
    assert by_name["x1"]["grad"] == pytest.approx(-1.5)
    steps = [(names[step["parent"]], names[step["child"]]) for step in data["steps"]]
    assert steps[0] == ("o", "n") and steps[-1] == ("x1*w1", "w1") and len(steps) == 9
    x1_step = data["steps"][7]
    assert (x1_step["local"], x1_step["upstream"]) == (-3.0, pytest.approx(0.5))


def page_data(page: str) -> dict[str, Any]:
    match = re.search(r"const DATA = (.*);\n", page)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_the_page_carries_each_ops_rule_from_the_table() -> None:
    data = page_data(seed_page())
    by_name = {node["name"]: node for node in data["nodes"]}
    assert by_name["o"]["rule"] == ops.TANH.doc and by_name["x1"]["rule"] == ""
    assert data["steps"][0]["rule"] == "1 - o*o" and data["steps"][0]["how"] == "rule"


def hand_made_root() -> Value:
    """A node made by hand without local derivatives, and one with the lecture's own _backward."""
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    c = Value(3.0, (a, b), "+", label="c")
    s = Value(math.sin(b.data), (b,), "sin", label="s")

    def _backward() -> None:
        b.grad += math.cos(b.data) * s.grad

    s._backward = _backward
    root = c * s
    root.label = "r"
    return root


def test_a_page_of_nodes_made_by_hand_says_what_they_pass_back() -> None:
    data = page_data(backward_html(hand_made_root()))
    names = {node["index"]: node["name"] for node in data["nodes"]}
    hows = [(names[step["parent"]], names[step["child"]], step["how"]) for step in data["steps"]]
    assert hows == [
        ("r", "c", "rule"),
        ("r", "s", "rule"),
        ("s", "b", "own _backward"),
        ("c", "a", "nothing"),
        ("c", "b", "nothing"),
    ]


def test_a_label_cannot_break_out_of_the_script() -> None:
    x = Value(1.0, label="</script><b>boom</b>")
    page = backward_html(x * 2, title="<i>title</i>")
    assert "</script><b>" not in page
    assert "<h1>&lt;i&gt;title&lt;/i&gt;</h1>" in page


def test_a_large_graph_is_refused() -> None:
    chain = Value(1.0)
    for _ in range(150):
        chain = chain + 1
    with pytest.raises(ValueError, match="max_nodes=200"):
        backward_html(chain)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.pop("snapshots"), "needs the key 'snapshots'"),
        (lambda h: h["y"].pop(), "4 points in X but 3 labels"),
        (lambda h: h["X"].__setitem__(0, [1.0]), "X\\[0\\] must be a 2-d point"),
        (lambda h: h.__setitem__("snapshots", []), "is empty"),
        (lambda h: h["snapshots"][1]["grid"]["scores"].pop(), "snapshots\\[1\\]: scores must have"),
    ],
)
def test_training_history_is_checked(change: Any, message: str) -> None:
    history = small_history()
    change(history)
    with pytest.raises(ValueError, match=message):
        training_html(history)


def test_grid_snapshot_scores_rows_by_y() -> None:
    snapshot = grid_snapshot(3, 0.5, 0.75, lambda x, y: 10 * x + y, [0.0, 1.0], [0.0, 2.0, 4.0])
    assert snapshot["grid"]["scores"] == [[0.0, 10.0], [2.0, 12.0], [4.0, 14.0]]
    assert snapshot["step"] == 3 and snapshot["accuracy"] == 0.75


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h["snapshots"][1].__setitem__("loss", math.nan), r"snapshots\[1\]'s loss and accuracy .* nan"),
        (
            lambda h: h["snapshots"][2]["grid"]["scores"][3].__setitem__(4, math.inf),
            r"snapshots\[2\]'s scores came out as inf",
        ),
        (lambda h: h["curve"][7].__setitem__("accuracy", math.nan), r"curve\[7\]'s loss and accuracy came out as nan"),
        (lambda h: h["X"][0].__setitem__(1, -math.inf), r"X\[0\] came out as -inf"),
    ],
)
def test_a_nan_in_a_training_run_is_refused_not_drawn(change: Any, message: str) -> None:
    """A nan would be drawn as some colour or point that looks like a result: refused, naming where it is."""
    history = small_history()
    change(history)
    with pytest.raises(NonFiniteOutput, match=message):
        training_html(history)


def test_a_nan_loss_of_a_gpt_run_is_refused_not_left_out() -> None:
    run = {
        "history": [{"step": 1, "loss": 3.0}, {"step": 2, "loss": math.nan}, {"step": 3, "loss": 2.5}],
        "samples": [],
        "attention": [],
    }
    with pytest.raises(NonFiniteOutput, match=r"the run's loss came out as nan \(position 1\)"):
        gpt_html(run)  # type: ignore[arg-type]


def test_chromium_is_found_on_path_then_where_playwright_put_it(tmp_path: Path, monkeypatch: Any) -> None:
    from conftest import find_chromium

    on_path = tmp_path / "bin" / "chromium-browser"
    on_path.parent.mkdir()
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    bundled = tmp_path / "ms-playwright" / "chrome"
    bundled.parent.mkdir()
    bundled.write_text("")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert find_chromium(str(bundled)) == on_path  # PATH first
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert find_chromium(str(bundled)) == bundled
    assert find_chromium(str(tmp_path / "ms-playwright" / "not-downloaded")) is None
    assert find_chromium(None) is None


# ----------------------------------------------------------------------
# In Chromium
# ----------------------------------------------------------------------


@pytest.fixture
def browser(chromium: Any) -> Any:
    return chromium


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("MICROGRAD_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def current(page: Any) -> tuple[str, str]:
    """The highlighted node's name and the grad its box shows."""
    node = page.locator(".node.current")
    assert node.count() == 1
    return node.get_attribute("data-name"), node.locator(".grad").text_content()


def grad_shown(page: Any, name: str) -> str:
    return page.locator(f'.node[data-name="{name}"] .grad').text_content()


def test_the_backward_page_steps_through_the_lecture_neuron(open_page: Any, tmp_path: Path) -> None:
    page = open_page(seed_page())
    assert page.locator("#step-counter").text_content() == "Step 0 of 9"
    assert current(page) == ("o", "grad 1")  # the seed
    assert grad_shown(page, "x1") == "grad ?"
    screenshot(page, tmp_path, "backward-step-0")

    # Steps in Value.backward's order: o->n, n->(x1*w1 + x2*w2), n->b, then the sum's inputs,
    # x2*w2's inputs, x1*w1's inputs. After 8 presses x1 has just received its gradient.
    for _ in range(8):
        page.keyboard.press("ArrowRight")
    assert page.locator("#step-counter").text_content() == "Step 8 of 9"
    assert current(page) == ("x1", "grad -1.5")
    assert page.locator(".node.source").get_attribute("data-name") == "x1*w1"
    panel = page.locator("#panel").inner_text()
    assert "do/dx1 += d(x1*w1)/dx1 × do/d(x1*w1)" in panel
    assert "local derivative: d(x1*w1)/dx1 = w1 = -3" in panel
    assert "x1.grad = 0 + -3 × 0.5 = -1.5" in panel
    assert grad_shown(page, "w1") == "grad ?"  # not reached yet
    assert grad_shown(page, "b") == "grad 0.5"
    screenshot(page, tmp_path, "backward-step-8")

    page.keyboard.press("ArrowRight")
    assert current(page) == ("w1", "grad 1")
    assert "Done" in page.locator("#panel").inner_text()
    page.keyboard.press("ArrowRight")  # past the end: stays on the last step
    assert page.locator("#step-counter").text_content() == "Step 9 of 9"

    page.click("#back")
    page.click("#back")
    assert current(page) == ("w2", "grad 0")
    assert grad_shown(page, "x1") == "grad ?"  # stepping back empties it again
    page.keyboard.press("Home")
    assert current(page) == ("o", "grad 1")
    page.click("#last")
    assert current(page) == ("w1", "grad 1")
    assert {grad_shown(page, name) for name in ("x1", "x2", "w2", "b")} == {"grad -1.5", "grad 0.5", "grad 0"}


def test_play_runs_to_the_end(open_page: Any) -> None:
    page = open_page(to_html(evaluate("x*y", {"x": 2.0, "y": 3.0})))
    page.keyboard.press(" ")
    page.wait_for_function("document.getElementById('step-counter').textContent === 'Step 2 of 2'", timeout=5000)
    assert current(page) == ("y", "grad 2")
    assert page.locator("#play").text_content().strip().endswith("play")  # stopped by itself


def test_a_reused_value_shows_its_gradient_adding_up(open_page: Any) -> None:
    page = open_page(to_html(evaluate("y = x*x", {"x": 3.0})))
    page.keyboard.press("ArrowRight")
    assert current(page) == ("x", "grad 3")
    page.keyboard.press("ArrowRight")
    assert current(page) == ("x", "grad 6")
    assert "x.grad = 3 + 3 × 1 = 6" in page.locator("#panel").inner_text()


def polyline_points(page: Any, selector: str) -> list[list[float]]:
    return [[float(v) for v in xy.split(",")] for xy in page.locator(selector).get_attribute("points").split()]


def hex_rgb(colour: str) -> list[int]:
    return [int(colour[i : i + 2], 16) for i in (1, 3, 5)]


def canvas_pixel(page: Any, pixel_x: int, pixel_y: int) -> list[int]:
    """The boundary canvas's colour at one pixel, as [r, g, b]."""
    context = "document.getElementById('boundary').getContext('2d')"
    rgba = page.evaluate(f"Array.from({context}.getImageData({pixel_x}, {pixel_y}, 1, 1).data)")
    return list(rgba[:3])


def test_the_training_page_moves_through_the_snapshots(open_page: Any, tmp_path: Path) -> None:
    page = open_page(training_html(small_history()))
    label = page.locator("#snapshot-label")
    assert label.text_content() == "step 0: loss 2, accuracy 50.0%"

    def colour_at(x: float) -> list[int]:
        """The region colour at data coordinate (x, 0.79): the grid spans -1.5..1.5, away from the dots."""
        return canvas_pixel(page, round((x + 1.5) / 3.0 * 420), 100)

    # Step 0: the boundary is at x = 1, so x = 0.5 is still class 0: the lighter shade of class 0's dots.
    assert colour_at(0.5) == hex_rgb(region_colour(0))
    assert colour_at(1.3) == hex_rgb(region_colour(1))
    screenshot(page, tmp_path, "training-step-0")

    page.locator("#slider").fill("2")
    assert label.text_content() == "step 20: loss 0.1, accuracy 100.0%"
    assert colour_at(0.5) == hex_rgb(region_colour(1))  # the boundary moved to x = 0
    assert colour_at(-0.5) == hex_rgb(region_colour(0))
    marker = page.locator("#loss .marker")
    assert float(marker.get_attribute("x1")) == pytest.approx(410.0)  # the marker is at the last step
    assert page.locator("#loss polyline").get_attribute("points").count(",") == 21
    screenshot(page, tmp_path, "training-step-20")


def demo_scores(parameters: dict[str, float], X: Any) -> Any:
    """Scores of the demo's MLP 2-16-16-1 (relu, linear output) in PyTorch float64, from its parameters by name."""
    torch = pytest.importorskip("torch")
    out = torch.tensor(X, dtype=torch.float64)
    for layer, (nin, nout) in enumerate([(2, 16), (16, 16), (16, 1)]):
        weights = torch.tensor(
            [[parameters[f"layers.{layer}.neurons.{n}.w.{i}"] for i in range(nin)] for n in range(nout)],
            dtype=torch.float64,
        )
        biases = torch.tensor([parameters[f"layers.{layer}.neurons.{n}.b"] for n in range(nout)], dtype=torch.float64)
        out = out @ weights.T + biases
        if layer < 2:
            out = torch.relu(out)
    return out[:, 0]


def loss_and_accuracy(parameters: dict[str, float], X: Any, y: Any) -> tuple[float, float]:
    """The demo's objective worked in PyTorch: mean hinge loss on labels -1/+1 plus 1e-4 * sum(p*p)."""
    import torch

    scores = demo_scores(parameters, X)
    signs = torch.tensor([2.0 * label - 1.0 for label in y], dtype=torch.float64)
    hinge = torch.relu(1 - signs * scores).mean()
    l2 = 1e-4 * sum(value * value for value in parameters.values())
    predicted = (scores > 0).long().tolist()
    return float(hinge) + l2, sum(p == label for p, label in zip(predicted, y, strict=True)) / len(y)


def test_the_demo_page_shows_one_set_of_parameters_at_each_step(
    open_page: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At each slider position the label's loss and accuracy and the drawn boundary are of one set of
    parameters: step k = after k updates. Checked at the first and last positions against PyTorch."""
    from micrograd.app.cli import main
    from micrograd.app.data import make_moons
    from micrograd.app.training import TrainConfig, build_model

    assert main(["demo", "--steps", "20", "--html", "--engine", "eager", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    page = open_page((tmp_path / "run" / "training.html").read_text(encoding="utf-8"))
    data = page.evaluate("DATA")
    X, y = make_moons(n_samples=100, noise=0.1, seed=1337)
    initial = build_model(TrainConfig(), 2, 2).state_dict()  # the seed's weights, before any update
    final = json.loads((tmp_path / "run" / "checkpoint.json").read_text(encoding="utf-8"))["parameters"]
    assert [s["step"] for s in data["snapshots"]] == [0, 1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert [p["step"] for p in data["curve"]] == list(range(21))  # the same numbering as the slider
    assert page.locator("#slider").get_attribute("max") == str(len(data["snapshots"]) - 1)

    for position, parameters in ((0, initial), (len(data["snapshots"]) - 1, final)):
        page.locator("#slider").fill(str(position))
        snapshot = data["snapshots"][position]
        loss, accuracy = loss_and_accuracy(parameters, X, y)
        assert snapshot["loss"] == pytest.approx(loss, rel=1e-9) and snapshot["accuracy"] == accuracy
        label = page.locator("#snapshot-label").text_content()
        shown = re.fullmatch(r"step (\d+): loss ([\d.e-]+), accuracy ([\d.]+)%", label)
        assert shown is not None
        assert int(shown.group(1)) == snapshot["step"]
        assert float(shown.group(2)) == pytest.approx(loss, rel=1e-3)
        assert shown.group(3) == f"{100 * accuracy:.1f}"
        # The curve's point of this step is of the same parameters.
        assert data["curve"][snapshot["step"]]["loss"] == pytest.approx(loss, rel=1e-9)
        # The boundary drawn: the grid's scores are these parameters' scores...
        grid = snapshot["grid"]
        points = [[gx, gy] for gy in grid["ys"] for gx in grid["xs"]]
        expected = demo_scores(parameters, points).tolist()
        assert [s for row in grid["scores"] for s in row] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        # ... and the canvas is coloured by them: away from the boundary and the dots, each pixel is
        # the region colour of the class these parameters give that place.
        x0, x1, y0, y1 = grid["xs"][0], grid["xs"][-1], grid["ys"][0], grid["ys"][-1]
        checked = 0
        for pixel_y in range(15, 420, 30):
            for pixel_x in range(15, 420, 30):
                place = [x0 + (pixel_x + 0.5) / 420 * (x1 - x0), y1 - (pixel_y + 0.5) / 420 * (y1 - y0)]
                score = float(demo_scores(parameters, [place])[0])
                near_a_dot = any(math.dist(place, point) < 0.15 for point in X)
                if abs(score) < 0.3 or near_a_dot:
                    continue
                assert canvas_pixel(page, pixel_x, pixel_y) == hex_rgb(region_colour(1 if score > 0 else 0))
                checked += 1
        assert checked > 40
        screenshot(page, tmp_path, f"demo-position-{position}")

    # The marker of the last step sits on the end of the axis, where the curve ends.
    axis_end = float(page.locator("#loss line.axis").first.get_attribute("x2"))
    assert float(page.locator("#loss .marker").get_attribute("x1")) == pytest.approx(axis_end)
    last_point = page.locator("#loss polyline").get_attribute("points").split()[-1]
    assert float(last_point.split(",")[0]) == pytest.approx(axis_end)
    # The loss axis is logarithmic by default: the middle step's loss sits at its log position.
    assert page.locator("#log-scale").is_checked()
    losses = [p["loss"] for p in data["curve"]]
    points = polyline_points(page, "#loss polyline")
    top, bottom = 10, 180 - 24  # the chart's plot area (svg height 180)

    def log_y(loss: float) -> float:
        low, high = math.log10(min(losses)), math.log10(max(losses))
        return bottom - (math.log10(loss) - low) / (high - low) * (bottom - top)

    assert points[10][1] == pytest.approx(log_y(losses[10]))
    page.locator("#log-scale").uncheck()  # the switch: a linear axis from 0
    points = polyline_points(page, "#loss polyline")
    assert points[10][1] == pytest.approx(bottom - losses[10] / max(losses) * (bottom - top))

    # One set of class names and colours, from micrograd.outputs; the title names the dataset and the run.
    assert data["classes"] == [
        {"name": class_name(k), "colour": class_colour(k), "region": region_colour(k)} for k in (0, 1)
    ]
    legend = page.locator("#legend").inner_text()
    assert "class 0" in legend and "class 1" in legend
    assert "+1" not in page.locator("body").inner_text() and "−1" not in page.locator("body").inner_text()
    final_accuracy = data["snapshots"][-1]["accuracy"]
    assert page.locator("h1").text_content() == f"moons, 2 classes, step 20: accuracy {100 * final_accuracy:.1f}%"


def test_the_page_explains_an_op_added_with_defop_and_nodes_made_by_hand(open_page: Any, tmp_path: Path) -> None:
    ops.defop("softsign", lambda x: x / (1 + abs(x)), lambda x, out: 1 / (1 + abs(x)) ** 2, "d/dx = 1/(1+|x|)**2")
    try:
        page = open_page(to_html(evaluate("y = softsign(x)*x", {"x": 0.5})))
    finally:
        del ops.OPS["softsign"]
    page.click("#last")
    panel = page.locator("#panel").inner_text()
    assert "local derivative: dsoftsign(x)/dx = 1/(1 + abs(x))**2 = 0.444444" in panel
    assert "the rule of softsign" not in panel  # written out in the graph's names above, not the op's letters
    screenshot(page, tmp_path, "backward-softsign")

    page = open_page(backward_html(hand_made_root()))
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert current(page) == ("b", "grad -1.24844")  # cos(2) * s.grad, with s.grad = c = 3: the closure computes it
    assert "has its own _backward function" in page.locator("#panel").inner_text()
    page.keyboard.press("ArrowRight")
    assert current(page) == ("a", "grad 0")
    assert "passes nothing back" in page.locator("#panel").inner_text()
    screenshot(page, tmp_path, "backward-hand-made")
