"""The three pages with hostile titles and labels, opened in Chromium (issue 14, item 1).

Each page is made with a title, a label or a name that tries to get out of its place: an HTML
tag with a handler, a placeholder of our own templates (``__DATA__``...), a ``string.Template``
placeholder, a ``</script>`` or ``<!--<script>`` inside the data, a U+2028 line separator. In
every case the page must run no script of the text's (no dialog, the sentinel global
``window.pwned`` stays unset), hold no element made from it, show the text as it is, and draw
everything: every Value of the graph a box, every point of a curve, every cell of a heat map.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from micrograd.app.cli import main
from micrograd.engine import Value
from micrograd.viz.gpt_page import gpt_html
from micrograd.viz.html import backward_html, fill_template, grid_axes, grid_snapshot, script_json, training_html

# Each would set window.pwned or open a dialog if it ever ran as script or markup.
HOSTILE = [
    "<img src=x onerror=\"window.pwned=1;alert(document.domain)\">",
    "__DATA__",
    "__TITLE__",
    "__SCRIPT__",
    "__STYLE__",
    "$title",
    "${data}",
    "</script><script>window.pwned=1;alert(1)</script>",
    "<!--<script>",
    "a\u2028b\u2029c",
    "<svg onload=\"window.pwned=1\"></svg>",
    "\"'><b id=injected>&amp;</b>",
]
IDS = [f"hostile{i}" for i in range(len(HOSTILE))]


def assert_nothing_injected(page: Any, title: str) -> None:
    """No script of the text ran, no element came from it, and the heading shows it as written."""
    assert page.evaluate("window.pwned") is None
    assert page.locator("img, iframe, b#injected, body svg[onload]").count() == 0
    assert page.locator("script").count() == 1  # the page's own, only
    assert page.locator("h1").text_content() == title
    # document.title strips and collapses ASCII whitespace only (U+2028 stays).
    assert page.evaluate("document.title") == re.sub(r"[ \t\n\f\r]+", " ", title).strip()


def values_in(root: Value) -> set[int]:
    """The ids of every Value in root's graph, found by walking ``_prev`` (not the page's trace)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        value = stack.pop()
        if id(value) not in seen:
            seen.add(id(value))
            stack.extend(value._prev)
    return seen


# ----------------------------------------------------------------------
# The backward page
# ----------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_backward_page_with_a_hostile_label_and_title(open_page: Any, text: str) -> None:
    x = Value(2.0, label=text)
    root = (x * 3).tanh()
    page = open_page(backward_html(root, title=text))
    assert_nothing_injected(page, text)
    assert page.locator(".node").count() == len(values_in(root)) == 4
    assert page.locator(".node").first.get_attribute("data-name") is not None
    names = [page.locator(".node").nth(i).get_attribute("data-name") for i in range(4)]
    assert text in names  # the label, as written, on its box
    page.click("#last")  # every step's panel renders the label too
    assert page.locator("#step-counter").text_content() == "Step 3 of 3"
    assert page.evaluate("window.pwned") is None


def test_the_reported_reproduction(open_page: Any) -> None:
    """The issue's case: an <img> label and the title "Backprop __DATA__" gave three live <img> and alerts."""
    root = (Value(2.0, label="<img src=x onerror=alert(document.domain)>") * 3).tanh()
    page = open_page(backward_html(root, title="Backprop __DATA__"))
    assert_nothing_injected(page, "Backprop __DATA__")
    assert page.locator(".node").count() == 4


def test_explain_html_of_an_expression_with_a_placeholder_name(
    open_page: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``micrograd explain "x__SCRIPT__*2" --set x__SCRIPT__=1 --html p.html`` put the page's script in its title."""
    out = tmp_path / "p.html"
    assert main(["explain", "x__SCRIPT__*2", "--set", "x__SCRIPT__=1", "--html", str(out)]) == 0
    capsys.readouterr()
    page = open_page(out.read_text(encoding="utf-8"))
    assert_nothing_injected(page, "x__SCRIPT__*2")
    assert page.locator(".node").count() == 3  # x__SCRIPT__, the constant 2, the product
    assert page.locator('.node[data-name="x__SCRIPT__"]').count() == 1


def test_a_nan_on_the_backward_page_is_shown_as_nan(open_page: Any) -> None:
    """A node whose data is nan is drawn, with "nan" as its number: the page shows the graph as it is."""
    x = Value(float("nan"), label="x")
    root = x * 2
    page = open_page(backward_html(root))
    assert page.locator(".node").count() == 3
    assert page.locator('.node[data-name="x"] .data').text_content() == "data nan"
    assert page.locator(".node .non-finite").count() == 2  # x and x*2, marked in red
    page.click("#last")
    assert page.locator('.node[data-name="x"] .grad').text_content() == "grad 2"
    # x's grad is a number; the constant 2's grad is d(x*2)/d2 = x = nan, marked.
    assert page.locator('.node[data-name="x"] .grad.non-finite').count() == 0
    assert page.locator(".node .grad.non-finite").count() == 1


# ----------------------------------------------------------------------
# The training page and the GPT page
# ----------------------------------------------------------------------


def small_history(title: str) -> dict[str, Any]:
    points = [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]
    xs, ys = grid_axes(points, resolution=11)
    snapshots = [grid_snapshot(step, 1.0 / (step + 1), 0.75, lambda x, y: x, xs, ys) for step in (0, 5, 10)]
    curve = [{"step": s, "loss": 1.0 / (s + 1), "accuracy": 0.75} for s in range(11)]
    return {"X": points, "y": [-1.0, -1.0, 1.0, 1.0], "snapshots": snapshots, "curve": curve, "title": title}


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_training_page_with_a_hostile_title(open_page: Any, text: str) -> None:
    page = open_page(training_html(small_history(text)))  # type: ignore[arg-type]
    assert_nothing_injected(page, text)
    assert page.locator("#loss polyline").get_attribute("points").count(",") == 11  # every step of the curve
    page.locator("#slider").fill("2")
    assert page.locator("#snapshot-label").text_content().startswith("step 10:")


def gpt_run(text: str) -> dict[str, Any]:
    tokens = ["\u00b7", *text[:5]]
    weights = [[[[1.0 / (t + 1)] * (t + 1)] for t in range(len(tokens))]]  # 1 layer, 1 head, uniform
    return {
        "title": text,
        "summary": text,
        "history": [{"step": s, "loss": 3.0 - 0.1 * s} for s in range(1, 6)],
        "samples": [{"step": 0, "names": [text, "ann"]}],
        "attention": [{"name": text, "tokens": tokens, "layers": weights}],
    }


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_gpt_page_with_hostile_title_names_and_tokens(open_page: Any, text: str) -> None:
    page = open_page(gpt_html(gpt_run(text)))  # type: ignore[arg-type]
    assert_nothing_injected(page, text)
    assert page.locator("#summary").text_content() == text
    assert page.locator("#loss polyline.loss-raw").get_attribute("points").count(",") == 5
    assert page.locator("#name option").first.text_content() == text
    assert text in page.locator("#samples td").nth(1).text_content()
    length = len(text[:5]) + 1
    assert page.locator("td.cell").count() == length * (length + 1) // 2


# ----------------------------------------------------------------------
# The mechanism itself, without a browser
# ----------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_script_json_keeps_markup_out_and_meaning_in(text: str) -> None:
    import json

    block = script_json({"label": text, "n": 1.5})
    for forbidden in ("<", ">", "&", "\u2028", "\u2029"):
        assert forbidden not in block
    assert json.loads(block) == {"label": text, "n": 1.5}


def test_fill_template_is_one_pass() -> None:
    page = fill_template("<h1>__TITLE__</h1>__DATA__", texts={"TITLE": "__DATA__ <b>"}, json_blocks={"DATA": [1]})
    assert page == "<h1>__DATA__ &lt;b&gt;</h1>[1]"


def test_fill_template_refuses_a_missing_or_an_unused_value() -> None:
    with pytest.raises(KeyError, match="__DATA__"):
        fill_template("__TITLE__ __DATA__", texts={"TITLE": "t"})
    with pytest.raises(KeyError, match="EXTRA"):
        fill_template("__TITLE__", texts={"TITLE": "t", "EXTRA": "e"})


def test_nan_cannot_reach_a_page_as_a_number() -> None:
    with pytest.raises(ValueError):
        script_json({"x": math.nan})
