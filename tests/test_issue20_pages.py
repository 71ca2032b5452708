"""Issue 20, items 13, 15 and 16 (and 12's ``plot -o x.svg``): words and pictures that agree.

- notebook 06 says what its pictures show: the weighted sum drawn as ``*`` and ``+`` boxes, and the
  forgotten ``zero_grad`` run's loss with its spikes, every step in the table;
- gpt.html: a loss axis fitted to the data with ticks, ln(vocab) marked, a colour scale and numbers
  on the heat maps, BOS named BOS, and one step convention (step k: after k updates);
- the demo's accuracy in percent on the page as in the PNG, the PNG's curve reaching the run's last
  step, and pictures written in the format their suffix names.

The browser tests use the ``chromium`` and ``open_page`` fixtures of conftest.py; set
MICROGRAD_SCREENSHOTS=folder to keep the screenshots.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT
from micrograd import gpt
from micrograd.app.cli import main

NOTEBOOK_06 = ROOT / "examples" / "notebooks" / "06_training_an_mlp.ipynb"
WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn"]
SMALL = ["--n-embd", "8", "--n-head", "2", "--block-size", "8", "--seed", "3"]


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _cells() -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = json.loads(NOTEBOOK_06.read_text(encoding="utf-8"))["cells"]
    return cells


def _stdout(cell: dict[str, Any]) -> str:
    return "".join(_text(o["text"]) for o in cell["outputs"] if o.get("name") == "stdout")


def _svg_of(cell: dict[str, Any]) -> str:
    return "".join(_text(o["data"]["image/svg+xml"]) for o in cell["outputs"] if "image/svg+xml" in o.get("data", {}))


def _ops_drawn(svg: str) -> set[str]:
    """The labels of the op ellipses of a draw_dot picture (nodes whose id ends in _op)."""
    ops = re.findall(r"<title>[^<]*_op</title>\s*<ellipse[^>]*/>\s*<text[^>]*>([^<]*)</text>", svg)
    return {op.strip() for op in ops}


def _screenshot(page: Any, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("MICROGRAD_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------
# Item 13: notebook 06
# ----------------------------------------------------------------------


def test_notebook_06_says_the_weighted_sum_is_drawn_as_the_boxes_its_picture_shows() -> None:
    cells = _cells()
    (first,) = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and "draw_dot(out)" in _text(c["source"])]
    shown = _ops_drawn(_svg_of(cells[first]))
    assert {"*", "+"} <= shown and "linear" not in shown, shown  # the picture: separate * and + boxes
    words = _text(cells[first + 1]["source"])
    assert "single `linear` node" not in words.split("expand_linear=False")[0], words
    assert all(f"`{op}`" in words for op in ("*", "+")), "the words do not name the boxes of the picture"
    # The one `linear` node the words speak of is drawn too, by the next cell.
    fused = cells[first + 2]
    assert "expand_linear=False" in _text(fused["source"])
    assert _ops_drawn(_svg_of(fused)) == {"linear", "tanh"}


def test_notebook_06_table_shows_every_step_and_the_words_the_spikes_of_the_forgotten_zero_grad() -> None:
    cells = _cells()
    (index,) = [i for i, c in enumerate(cells) if "forgot, forgot_losses, forgot_steps = train(" in _text(c["source"])]
    rows = [line.split() for line in _stdout(cells[index]).splitlines() if re.match(r"\s*\d+\s+\d", line)]
    steps = [int(row[0]) for row in rows]
    assert steps == list(range(30)), f"the table skips steps: {steps}"
    forgot = [float(row[3]) for row in rows]
    # A spike: the loss jumps back up a hundredfold, to more than 0.1 (a visible rise on the plot).
    spikes = [s for s in range(1, 30) if forgot[s] > 100 * forgot[s - 1] and forgot[s] > 0.1]
    assert spikes, "no spike in the forgotten run: the words below would need rewriting"
    words = _text(cells[index + 1]["source"])
    assert "all the way to 0" not in words
    for s in spikes:
        assert f"step {s}" in words, f"the words do not mention the spike at step {s}"
        assert f"{forgot[s]:.2g}" in words or f"{forgot[s]:.3g}" in words, f"nor its loss {forgot[s]}"
    for s in spikes:
        assert rows[s][-1] == "up", f"the table does not mark the rise at step {s}"


# ----------------------------------------------------------------------
# Item 15: gpt.html
# ----------------------------------------------------------------------


def _gpt_page(tmp_path: Path, steps: int) -> Path:
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    code = main(["gpt", "train", "--data", str(words), "--steps", str(steps), *SMALL, "--samples", "3",
                 "--html", "--quiet", "--out", str(out), "--engine", "eager"])  # fmt: skip
    assert code == 0
    return out


_AXIS_SCRIPT = """svg => {
  const texts = [...svg.querySelectorAll("text")];
  const number = t => /^-?[0-9.]+$/.test(t.textContent.trim());
  const at = (t, key) => +t.getAttribute(key);
  return {
    yTicks: texts.filter(t => number(t) && t.getAttribute("text-anchor") === "end")
                 .map(t => [+t.textContent, at(t, "y") - 4]),
    xTicks: texts.filter(t => number(t) && t.getAttribute("text-anchor") === "middle")
                 .map(t => [+t.textContent, at(t, "x")]),
    raw: svg.querySelector("polyline.loss-raw").getAttribute("points").trim().split(" ")
            .map(p => p.split(",").map(Number)),
    uniform: [...svg.querySelectorAll("line.uniform")].map(l => +l.getAttribute("y1")),
    texts: texts.map(t => t.textContent),
  };
}"""


def _scale(ticks: list[list[float]]) -> tuple[float, float]:
    """(a, b) of the axis's pixel = a + b * value, from its first and last tick."""
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    b = (p1 - p0) / (v1 - v0)
    return p0 - b * v0, b


def test_gpt_page_loss_axis_fits_the_data_marks_ln_vocab_and_counts_steps_as_updates(
    chromium: Any, tmp_path: Path
) -> None:
    out = _gpt_page(tmp_path, steps=12)
    saved = json.loads((out / "checkpoint.json").read_text(encoding="utf-8"))
    losses = [entry["loss"] for entry in saved["extra"]["history"]]
    vocab = len(set("".join(WORDS))) + 1
    page = chromium.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((out / "gpt.html").as_uri())
    axis = page.locator("#loss").evaluate(_AXIS_SCRIPT)
    _screenshot(page, tmp_path, "gpt-issue20")
    assert errors == []
    # The y axis: at least 3 evenly spaced ticks, the lowest and highest within one tick of the data.
    values = sorted(v for v, _ in axis["yTicks"])
    assert len(values) >= 3, axis["yTicks"]
    gap = values[1] - values[0]
    assert all(abs((b - a) - gap) < 1e-9 for a, b in zip(values, values[1:], strict=False))
    low, high = min(*losses, math.log(vocab)), max(*losses, math.log(vocab))
    assert values[0] <= low < values[0] + gap and values[-1] - gap < high <= values[-1], (values, low, high)
    # Every point of the curve sits on that axis, and ln(vocab) is marked and named.
    a, b = _scale(sorted(axis["yTicks"]))
    assert [y for _, y in axis["raw"]] == pytest.approx([a + b * loss for loss in losses], abs=0.05)
    assert axis["uniform"] and axis["uniform"][-1] == pytest.approx(a + b * math.log(vocab), abs=0.05)
    assert any(f"ln {vocab} = {math.log(vocab):.2f}" in text for text in axis["texts"])
    # Steps: update k's loss is drawn at step k - 1 (the parameters it was measured on), so the
    # curve runs 0..11, the samples 0..12, and the step axis ends at 12, where the run ended.
    ax, bx = _scale(sorted(axis["xTicks"]))
    assert [x for x, _ in axis["raw"]] == pytest.approx([ax + bx * s for s in range(12)], abs=0.05)
    assert max(v for v, _ in axis["xTicks"]) == 12 and min(v for v, _ in axis["xTicks"]) == 0
    labels = page.locator("#samples tr td:first-child").all_text_contents()
    assert [int(re.match(r"step (\d+)", label).group(1)) for label in labels] == list(range(13))  # type: ignore[union-attr]
    page.close()


def test_gpt_page_heat_maps_have_numbers_a_colour_scale_and_bos_named(chromium: Any, tmp_path: Path) -> None:
    out = _gpt_page(tmp_path, steps=4)
    model = gpt.load(out / "checkpoint.json")
    page = chromium.new_page(viewport={"width": 1300, "height": 900})
    page.goto((out / "gpt.html").as_uri())
    first = page.locator("#name option").first.text_content() or ""
    header = page.locator("table.map").first.locator("tr").first.locator("th").all_text_contents()
    assert header[1] == "BOS" and "\u00b7" not in header  # as notebook 08 names it
    weights = model.attention_weights(first)[0]  # layer 0: [t][head][s]
    cells = page.locator("table.map").first.locator("td.cell")
    texts = cells.all_text_contents()
    expected = [f"{weights[t][0][s]:.2f}" for t in range(len(weights)) for s in range(t + 1)]
    assert texts == expected
    # The colour scale: numbers from 0 to 1, and a gradient from no colour to the cells' full colour.
    scale = page.locator("#scale")
    numbers = [float(t) for t in scale.locator("text").all_text_contents() if re.fullmatch(r"[0-9.]+", t)]
    assert numbers[0] == 0 and numbers[-1] == 1 and len(numbers) >= 3
    stops = scale.locator("stop")
    assert [stops.nth(i).get_attribute("stop-opacity") for i in range(stops.count())] == ["0", "1"]
    full = stops.nth(1).get_attribute("stop-color") or ""
    one_cell = cells.first.evaluate("td => td.style.background")
    assert re.sub(r"\D+", ",", full).strip(",") == ",".join(re.findall(r"\d+", one_cell)[:3])
    _screenshot(page, tmp_path, "gpt-maps-issue20")
    page.close()


def test_gpt_html_refuses_an_update_numbered_0() -> None:
    from micrograd.viz.gpt_page import gpt_html

    with pytest.raises(ValueError, match="updates count from 1"):
        gpt_html({"history": [{"step": 0, "loss": 3.0}], "samples": [], "attention": []})


# ----------------------------------------------------------------------
# Item 16: the demo's accuracy and its curves PNG; item 12: plot -o x.svg
# ----------------------------------------------------------------------


def test_training_page_shows_accuracy_in_percent(open_page: Any, tmp_path: Path) -> None:
    from micrograd.viz.html import CurvePoint, grid_axes, grid_snapshot, training_html

    points = [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]
    xs, ys = grid_axes(points, resolution=11)
    snapshots = [grid_snapshot(s, 1.0 / (s + 1), 0.5 + s / 20, lambda x, y: x, xs, ys) for s in (0, 10)]
    curve: list[CurvePoint] = [{"step": s, "loss": 1.0 / (s + 1), "accuracy": 0.5 + s / 20} for s in range(11)]
    page = open_page(training_html({"X": points, "y": [-1.0, -1.0, 1.0, 1.0], "snapshots": snapshots, "curve": curve}))
    labels = page.locator("#accuracy text").all_text_contents()
    assert "100" in labels and "1" not in labels, labels  # the axis in percent, not a fraction
    heading = page.locator("#accuracy").evaluate("svg => svg.previousElementSibling.textContent")
    assert "%" in heading
    # The accuracy line reaches the top of the axis where the accuracy is 1.
    points_drawn = page.locator("#accuracy polyline").get_attribute("points").split()
    top = min(float(p.split(",")[1]) for p in points_drawn)
    ticks = page.locator("#accuracy text").evaluate_all(
        "ts => ts.filter(t => t.textContent === '100').map(t => +t.getAttribute('y') - 4)")
    assert top == pytest.approx(ticks[0], abs=0.05)
    _screenshot(page, tmp_path, "training-accuracy-issue20")


def test_curves_png_ends_at_the_step_the_run_ended_at_with_accuracy_in_percent() -> None:
    pytest.importorskip("matplotlib")
    from micrograd.app.plots import curves_figure

    history = [{"step": float(k), "loss": 1.0 / (k + 1), "accuracy": min(1.0, 0.5 + k / 10)} for k in range(5)]
    final = {"step": 5.0, "loss": 0.1, "accuracy": 1.0}
    figure = curves_figure(history, title="run: step 5", final=final)
    loss_line = figure.axes[0].get_lines()[0]
    accuracy_line = figure.axes[1].get_lines()[0]
    assert list(loss_line.get_xdata()) == [0, 1, 2, 3, 4, 5]
    assert list(loss_line.get_ydata())[-1] == 0.1
    assert list(accuracy_line.get_ydata()) == pytest.approx([50, 60, 70, 80, 90, 100])
    assert figure.axes[1].get_ylabel() == "accuracy (%)"
    with pytest.raises(ValueError, match="must come after"):
        curves_figure(history, final={"step": 4.0, "loss": 0.1, "accuracy": 1.0})


def _figure() -> Any:
    from micrograd.app.plots import curves_figure

    return curves_figure([{"step": 0.0, "loss": 1.0, "accuracy": 0.5}, {"step": 1.0, "loss": 0.5, "accuracy": 1.0}])


@pytest.mark.parametrize(
    ("name", "start"),
    [("a.svg", b"<?xml"), ("a.SVG", b"<?xml"), ("a.pdf", b"%PDF"), ("a.png", b"\x89PNG"), ("noext", b"\x89PNG")],
)
def test_save_figure_writes_the_format_its_suffix_names(tmp_path: Path, name: str, start: bytes) -> None:
    pytest.importorskip("matplotlib")
    from micrograd.app.plots import save_figure

    path = save_figure(_figure(), tmp_path / name)
    data = path.read_bytes()
    assert data.startswith(start)
    if start == b"<?xml":
        assert b"<svg" in data[:400]


def test_save_figure_refuses_an_unknown_suffix_and_writes_nothing(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from micrograd.app.plots import save_figure

    with pytest.raises(ValueError, match=r"'\.jpg'.*\.png, \.svg or \.pdf"):
        save_figure(_figure(), tmp_path / "a.jpg")
    assert list(tmp_path.iterdir()) == []


def test_plot_command_writes_svg_for_svg_and_refuses_jpg_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    assert main(["train", "--steps", "2", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    checkpoint = str(out / "checkpoint.json")
    assert main(["plot", checkpoint, "-o", str(tmp_path / "b.svg")]) == 0
    assert (tmp_path / "b.svg").read_bytes().startswith(b"<?xml")
    capsys.readouterr()
    assert main(["plot", checkpoint, "-o", str(tmp_path / "b.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".jpg" in err and ".svg" in err
    assert not (tmp_path / "b.jpg").exists()
