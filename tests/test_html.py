"""The interactive pages (micrograd.html): their content, and their behaviour in a real browser.

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from micrograd import ops
from micrograd.engine import Value
from micrograd.expr import evaluate
from micrograd.html import TrainingHistory, backward_html, grid_axes, grid_snapshot, training_html
from micrograd.viz import to_html

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


# ----------------------------------------------------------------------
# In Chromium
# ----------------------------------------------------------------------


@pytest.fixture
def browser(chromium: Any) -> Any:
    return chromium


@pytest.fixture
def open_page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """Open an HTML text from a file on disk, as a person would; fail on any script error."""
    pages = []
    errors: list[str] = []

    def open_html(text: str) -> Any:
        path = tmp_path / f"page{len(pages)}.html"
        path.write_text(text, encoding="utf-8")
        page = browser.new_page(viewport={"width": 1300, "height": 800})
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        pages.append(page)
        return page

    yield open_html
    for page in pages:
        page.close()
    assert errors == []


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


def test_the_training_page_moves_through_the_snapshots(open_page: Any, tmp_path: Path) -> None:
    page = open_page(training_html(small_history()))
    label = page.locator("#snapshot-label")
    assert label.text_content() == "step 0: loss 2, accuracy 50.0%"

    def colour_at(x: float) -> list[int]:
        """The boundary canvas's pixel at data coordinate (x, 0); the grid spans -1.5..1.5."""
        pixel_x = round((x + 1.5) / 3.0 * 420)
        return page.evaluate(
            f"Array.from(document.getElementById('boundary').getContext('2d').getImageData({pixel_x}, 100, 1, 1).data)"
        )

    # Step 0: the boundary is at x = 1, so x = 0.5 is still class -1 (red: more red than blue).
    red, _, blue, _ = colour_at(0.5)
    assert red > blue
    screenshot(page, tmp_path, "training-step-0")

    page.locator("#slider").fill("2")
    assert label.text_content() == "step 20: loss 0.1, accuracy 100.0%"
    red, _, blue, _ = colour_at(0.5)  # the boundary moved to x = 0: now class +1, blue
    assert blue > red
    marker = page.locator("#loss .marker")
    assert float(marker.get_attribute("x1")) == pytest.approx(410.0)  # the marker is at the last step
    assert page.locator("#loss polyline").get_attribute("points").count(",") == 21
    screenshot(page, tmp_path, "training-step-20")


def test_the_page_explains_an_op_added_with_defop_and_nodes_made_by_hand(open_page: Any, tmp_path: Path) -> None:
    ops.defop("softsign", lambda x: x / (1 + abs(x)), lambda x, out: 1 / (1 + abs(x)) ** 2, "d/dx = 1/(1+|x|)**2")
    try:
        page = open_page(to_html(evaluate("y = softsign(x)*x", {"x": 0.5})))
    finally:
        del ops.OPS["softsign"]
    page.click("#last")
    panel = page.locator("#panel").inner_text()
    assert "local derivative: dsoftsign(x)/dx = 1/(1 + abs(x))**2 = 0.444444" in panel
    assert "the rule of softsign: d/dx = 1/(1+|x|)**2" in panel
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
