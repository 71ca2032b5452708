"""Interactive pages: one self-contained HTML file each, opened from disk, no network.

- :func:`backward_html` -- steps through the backward pass of one expression:
  the graph (laid out here in the browser, so no Graphviz is needed), the
  node being updated highlighted, the chain-rule formula of the step with its
  numbers, and gradients filling in as you go. Buttons and arrow keys
  (left/right, Home/End, space to play).
- :func:`training_html` -- a training run: the decision boundary at several
  steps (a slider) and the loss and accuracy curves.

Everything (data, CSS, JavaScript) is inlined; the numbers are computed in
Python and only drawn by the page, so what it shows is exactly what the
engine computed.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from typing import Any, TypedDict

from micrograd.engine import Value
from micrograd.viz import trace_backward

__all__ = [
    "backward_html",
    "training_html",
    "grid_axes",
    "grid_snapshot",
    "TrainingHistory",
    "Snapshot",
    "Grid",
    "CurvePoint",
]


# ----------------------------------------------------------------------
# The backward pass, step by step
# ----------------------------------------------------------------------


def backward_html(root: Value, title: str | None = None, max_nodes: int = 200) -> str:
    """A page that plays the backward pass of ``root``. No ``.grad`` in the graph is changed.

    One step of the page is one use of the chain rule, ``child.grad += local *
    node.grad``, in the order ``Value.backward`` does them (the same steps as
    :func:`micrograd.viz.explain`). Graphs above ``max_nodes`` Values raise
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
                "data": node.data,
                "children": list(node.children),
                "formula": node.formula,
                "constant": node.is_constant,
                "grad": trace.grads[node.index],
            }
            for node in trace.nodes
        ],
        "steps": [
            {
                "parent": step.parent,
                "child": step.child,
                "upstream": step.upstream,
                "local": step.local,
                "rule": step.local_rule,
                "product": step.product,
                "before": step.before,
                "after": step.after,
            }
            for step in trace.steps
        ],
    }
    heading = title if title is not None else f"Backpropagation through {trace.node(trace.root).name}"
    return (
        _BACKWARD_TEMPLATE.replace("__TITLE__", html.escape(heading))
        .replace("__STYLE__", _COMMON_STYLE + _BACKWARD_STYLE)
        .replace("__DATA__", _script_literal(data))
        .replace("__SCRIPT__", _BACKWARD_SCRIPT)
    )


def _script_literal(data: Any) -> str:
    """Data as a JavaScript literal that is safe inside <script>.

    json.dumps writes NaN and Infinity as bare words, which JavaScript reads as
    its own NaN and Infinity, so odd numbers survive. '</' is escaped so no
    label can close the script element early.
    """
    return json.dumps(data).replace("</", "<\\/")


# ----------------------------------------------------------------------
# A training run
# ----------------------------------------------------------------------


class Grid(TypedDict):
    """Model scores on a grid: ``scores[j][i]`` is the score at ``(xs[i], ys[j])``; > 0 is class +1."""

    xs: list[float]
    ys: list[float]
    scores: list[list[float]]


class Snapshot(TypedDict):
    """The model at one training step."""

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
    y: list[float]  # their labels: > 0 is class +1, otherwise class -1 (so -1/1 and 0/1 both work)
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
    """One snapshot, scoring the model at every grid point: ``score(x, y) -> float`` (> 0 means class +1)."""
    scores = [[float(score(x, y)) for x in xs] for y in ys]
    return {
        "step": int(step),
        "loss": float(loss),
        "accuracy": float(accuracy),
        "grid": {"xs": [float(x) for x in xs], "ys": [float(y) for y in ys], "scores": scores},
    }


def training_html(history: TrainingHistory) -> str:
    """A page with the decision boundary at each snapshot (a slider) and the loss and accuracy curves."""
    _check_history(history)
    curve = history.get("curve") or [
        {"step": s["step"], "loss": s["loss"], "accuracy": s["accuracy"]} for s in history["snapshots"]
    ]
    data = {
        "X": [[float(a), float(b)] for a, b in history["X"]],
        "y": [1 if label > 0 else -1 for label in history["y"]],
        "snapshots": history["snapshots"],
        "curve": curve,
    }
    title = history.get("title", "Training run")
    return (
        _TRAINING_TEMPLATE.replace("__TITLE__", html.escape(title))
        .replace("__STYLE__", _COMMON_STYLE + _TRAINING_STYLE)
        .replace("__DATA__", _script_literal(data))
        .replace("__SCRIPT__", _TRAINING_SCRIPT)
    )


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


# ----------------------------------------------------------------------
# The pages themselves. Plain CSS and JavaScript, no libraries.
# ----------------------------------------------------------------------

_COMMON_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 1.2em 2em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; margin: 0 0 .4em 0; }
button { font-size: 1.05em; padding: .3em .8em; margin-right: .3em; cursor: pointer;
         border: 1px solid #999; border-radius: 4px; background: white; }
button:hover { background: #eef; }
.hint { color: #666; font-size: .9em; }
code, .mono { font-family: ui-monospace, "Cascadia Mono", Menlo, Consolas, monospace; }
"""

_BACKWARD_STYLE = """
#controls { margin: .6em 0; }
#step-counter { font-weight: 600; margin-left: .8em; }
#panel { background: white; border: 1px solid #ccc; border-radius: 6px; padding: .7em 1em;
         min-height: 7.4em; max-width: 70em; }
#panel .chain { font-size: 1.15em; margin: .25em 0; }
#panel .numbers { font-size: 1.15em; margin: .25em 0; color: #a33a00; }
#graph-box { overflow: auto; background: white; border: 1px solid #ccc; border-radius: 6px; margin-top: .8em; }
svg text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
.node rect { fill: #fff; stroke: #444; stroke-width: 1.2; }
.node .name { font-weight: bold; }
.node .grad { fill: #999; }
.node.has-grad .grad { fill: #0a5; font-weight: bold; }
.node.constant rect { stroke-dasharray: 4 3; }
.node.source rect { stroke: #1f6feb; stroke-width: 3; fill: #eef4ff; }
.node.current rect { stroke: #e8590c; stroke-width: 3.5; fill: #fff1e6; }
.op circle, .op ellipse { fill: #f3f3f3; stroke: #666; }
.edge { stroke: #999; stroke-width: 1.3; fill: none; }
.edge.active { stroke: #e8590c; stroke-width: 3; }
"""

_BACKWARD_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>__STYLE__</style>
</head>
<body>
<h1>__TITLE__</h1>
<p class="hint">The backward pass, one chain-rule step at a time. Each box shows a value's
<b>data</b> (from the forward pass) and its <b>grad</b> (d output / d this value), filled in as
the gradient flows back. Keys: &larr; &rarr; step, Home/End, space plays.</p>
<div id="controls">
  <button id="first" title="first step (Home)">&#x25C0;&#x25C0; first</button>
  <button id="back" title="back (&larr;)">&#x25C0; back</button>
  <button id="play" title="play / pause (space)">&#x25B6; play</button>
  <button id="next" title="next (&rarr;)">next &#x25B6;</button>
  <button id="last" title="last step (End)">last &#x25B6;&#x25B6;</button>
  <span id="step-counter"></span>
</div>
<div id="panel"></div>
<div id="graph-box"><svg id="graph" xmlns="http://www.w3.org/2000/svg"></svg></div>
<script>
const DATA = __DATA__;
__SCRIPT__
</script>
</body>
</html>
"""

_BACKWARD_SCRIPT = r"""
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";
const BOX_W = 170, BOX_H = 58, COLUMN_GAP = 90, ROW_GAP = 24, PAD = 20;
const nodes = DATA.nodes, steps = DATA.steps;
const byIndex = {};
nodes.forEach(n => { byIndex[n.index] = n; });

// Numbers as in the text narration: 6 significant digits, no "-0".
function num(x) {
  if (!isFinite(x)) return String(x);
  let text = Number(x.toPrecision(6)).toString();
  return text === "-0" ? "0" : text;
}
// A compound name or a negative number gets brackets inside a formula.
function wrap(text) {
  return /^[\w.#]+$|^\w+\([^()]*\)$/.test(text) ? text : "(" + text + ")";
}

// ---- Layout: one column per layer, inputs on the left, the output on the right.
// A node's depth is its longest path up from the leaves; then every node moves as far right
// as its parents allow, so an input used late (a bias) sits next to where it is used,
// and its edge does not run behind other boxes.
const depth = {};
nodes.forEach(n => {  // nodes come in topological order, so children are done first
  depth[n.index] = n.children.length ? 1 + Math.max(...n.children.map(c => depth[c])) : 0;
});
const maxDepth = Math.max(...nodes.map(n => depth[n.index]));
const parents = {};
nodes.forEach(n => n.children.forEach(c => { (parents[c] = parents[c] || []).push(n.index); }));
const layer = {};
nodes.slice().reverse().forEach(n => {
  layer[n.index] = parents[n.index] ? Math.min(...parents[n.index].map(p => layer[p])) - 1 : maxDepth;
});
const columns = [];
for (let d = 0; d <= maxDepth; d++) columns.push([]);
nodes.forEach(n => columns[layer[n.index]].push(n.index));
const row = {};
function numberRows() { columns.forEach(col => col.forEach((id, i) => { row[id] = i; })); }
function mean(ids) { return ids.reduce((s, id) => s + row[id], 0) / ids.length; }
numberRows();
// A few barycentre sweeps: each node moves towards the average row of its neighbours.
for (let sweep = 0; sweep < 4; sweep++) {
  for (let d = maxDepth - 1; d >= 0; d--) {
    columns[d].sort((a, b) => (parents[a] ? mean(parents[a]) : row[a]) - (parents[b] ? mean(parents[b]) : row[b]));
    numberRows();
  }
  for (let d = 1; d <= maxDepth; d++) {
    columns[d].sort((a, b) => mean(byIndex[a].children) - mean(byIndex[b].children));
    numberRows();
  }
}
const tallest = Math.max(...columns.map(c => c.length));
const position = {};
columns.forEach((col, d) => {
  const offset = (tallest - col.length) * (BOX_H + ROW_GAP) / 2;  // centre short columns
  col.forEach((id, i) => {
    position[id] = { x: PAD + d * (BOX_W + COLUMN_GAP), y: PAD + offset + i * (BOX_H + ROW_GAP) };
  });
});

// ---- Drawing, once; stepping only changes classes and texts.
const svg = document.getElementById("graph");
const width = PAD * 2 + (maxDepth + 1) * BOX_W + maxDepth * COLUMN_GAP;
const height = PAD * 2 + tallest * (BOX_H + ROW_GAP) - ROW_GAP;
svg.setAttribute("width", width);
svg.setAttribute("height", height);
svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
function make(tag, attributes, parent, text) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const key in attributes) element.setAttribute(key, attributes[key]);
  if (text !== undefined) element.textContent = text;
  parent.appendChild(element);
  return element;
}
const edgeLayer = make("g", {}, svg), opLayer = make("g", {}, svg), nodeLayer = make("g", {}, svg);
const edgeElements = {};  // "child-parent" -> path, so a step can light up its edge
const nodeElements = {}, gradTexts = {};
nodes.forEach(n => {
  const p = position[n.index];
  if (n.children.length) {
    const opX = p.x - COLUMN_GAP / 2, opY = p.y + BOX_H / 2;
    n.children.forEach(c => {
      const q = position[c];
      const x1 = q.x + BOX_W, y1 = q.y + BOX_H / 2;
      edgeElements[c + "-" + n.index] = make("path", {
        class: "edge", d: `M${x1},${y1} C${x1 + 30},${y1} ${opX - 30},${opY} ${opX - 18},${opY}`,
      }, edgeLayer);
    });
    make("path", { class: "edge", d: `M${opX + 18},${opY} L${p.x},${opY}` }, edgeLayer);
    const op = make("g", { class: "op" }, opLayer);
    make("ellipse", { cx: opX, cy: opY, rx: Math.max(16, 4 + 4 * n.op.length), ry: 14 }, op);
    make("text", { x: opX, y: opY + 4, "text-anchor": "middle" }, op, n.op);
  }
  const group = make("g", {
    class: "node" + (n.constant ? " constant" : ""), id: "node-" + n.index, "data-name": n.name,
  }, nodeLayer);
  make("rect", { x: p.x, y: p.y, width: BOX_W, height: BOX_H, rx: 6 }, group);
  const label = n.name.length > 20 ? n.name.slice(0, 19) + "\u2026" : n.name;
  make("title", {}, group, n.formula ? n.name + " = " + n.formula : n.name);  // full name on hover
  make("text", { class: "name", x: p.x + 8, y: p.y + 17 }, group, label);
  make("text", { class: "data", x: p.x + 8, y: p.y + 34 }, group, "data " + num(n.data));
  gradTexts[n.index] = make("text", { class: "grad", x: p.x + 8, y: p.y + 50 }, group, "grad ?");
  nodeElements[n.index] = group;
});

// ---- Stepping. State k: the seed and the first k chain-rule steps have happened.
let state = 0, timer = null;
const root = byIndex[DATA.root];
const panel = document.getElementById("panel");
const counter = document.getElementById("step-counter");
function escapeHtml(text) {
  return text.replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}
function heading(node) {  // "n = a + b", or just the formula when it is the name already
  const same = node.name.replace(/ /g, "") === node.formula.replace(/ /g, "");
  return same ? node.name : node.name + " = " + node.formula;
}
function show(k) {
  state = Math.max(0, Math.min(steps.length, k));
  // Gradients as they stand after k steps: the seed, then each step's running total.
  const grad = {};
  grad[DATA.root] = 1;
  for (let i = 0; i < state; i++) grad[steps[i].child] = steps[i].after;
  nodes.forEach(n => {
    const known = n.index in grad;
    gradTexts[n.index].textContent = "grad " + (known ? num(grad[n.index]) : "?");
    nodeElements[n.index].classList.toggle("has-grad", known);
    nodeElements[n.index].classList.remove("current", "source");
  });
  Object.values(edgeElements).forEach(e => e.classList.remove("active"));
  counter.textContent = `Step ${state} of ${steps.length}`;
  const R = escapeHtml(root.name);
  if (state === 0) {
    nodeElements[DATA.root].classList.add("current");
    panel.innerHTML = `<div class="chain">The seed: <b>${R}.grad = d${wrap(R)}/d${wrap(R)} = 1</b></div>
      <div>Each step passes a node's grad to one of its inputs:
      <code>input.grad += (local derivative) &times; node.grad</code>. Press &rarr; to start.</div>`;
    return;
  }
  const s = steps[state - 1];
  const parent = byIndex[s.parent], child = byIndex[s.child];
  nodeElements[s.child].classList.add("current");
  nodeElements[s.parent].classList.add("source");
  const edge = edgeElements[s.child + "-" + s.parent];
  if (edge) edge.classList.add("active");
  const P = escapeHtml(wrap(parent.name)), C = escapeHtml(wrap(child.name));
  const rule = s.rule === num(s.local) ? num(s.local) : `${escapeHtml(s.rule)} = ${num(s.local)}`;
  const accumulated = s.before !== 0
    ? `<div>${C} was already used elsewhere, so the contributions add up.</div>` : "";
  const finished = state === steps.length
    ? `<div><b>Done:</b> every gradient is filled in.</div>` : "";
  panel.innerHTML = `
    <div>${escapeHtml(heading(parent))} &nbsp; passes its grad to
      <b class="child-name">${escapeHtml(child.name)}</b></div>
    <div class="chain mono">d${wrap(R)}/d${C} += d${P}/d${C} &times; d${wrap(R)}/d${P}</div>
    <div class="chain mono">local derivative: d${P}/d${C} = ${rule}</div>
    <div class="numbers mono">${C}.grad = ${num(s.before)} + ${num(s.local)} &times; ${wrap(num(s.upstream))}
      = <b class="shown-grad">${num(s.after)}</b></div>
    ${accumulated}${finished}`;
}
function play() {
  if (timer) { clearInterval(timer); timer = null; playButton.innerHTML = "&#x25B6; play"; return; }
  if (state === steps.length) show(0);
  playButton.innerHTML = "&#x2016; pause";
  timer = setInterval(() => {
    show(state + 1);
    if (state >= steps.length) play();  // stop as soon as the last step is shown
  }, 900);
}
const playButton = document.getElementById("play");
playButton.onclick = play;
document.getElementById("first").onclick = () => show(0);
document.getElementById("back").onclick = () => show(state - 1);
document.getElementById("next").onclick = () => show(state + 1);
document.getElementById("last").onclick = () => show(steps.length);
document.addEventListener("keydown", event => {
  const actions = {
    ArrowRight: () => show(state + 1), ArrowLeft: () => show(state - 1),
    Home: () => show(0), End: () => show(steps.length), " ": play,
  };
  if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
});
show(0);
"""

_TRAINING_STYLE = """
#layout { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.card { background: white; border: 1px solid #ccc; border-radius: 6px; padding: .7em 1em; }
#snapshot-label { font-weight: 600; margin: .2em 0 .5em 0; }
#layout > .card:first-child { width: 420px; }  /* fixed, so a longer label cannot reflow the page */
#slider { width: 420px; }
svg text { font-size: 11px; fill: #444; }
.axis { stroke: #888; }
.loss-line { stroke: #c0392b; stroke-width: 2; fill: none; }
.accuracy-line { stroke: #2471a3; stroke-width: 2; fill: none; }
.marker { stroke: #333; stroke-dasharray: 3 3; }
"""

_TRAINING_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>__STYLE__</style>
</head>
<body>
<h1>__TITLE__</h1>
<p class="hint">Move the slider to see the decision boundary at each saved step. The background is the
model's score (blue: class +1, red: class &minus;1, white: the boundary); dots are the training points.</p>
<div id="layout">
  <div class="card">
    <div><input id="slider" type="range" min="0" value="0" step="1" aria-label="snapshot"></div>
    <div id="snapshot-label"></div>
    <canvas id="boundary" width="420" height="420"></canvas>
  </div>
  <div class="card">
    <div><b>Loss</b></div><svg id="loss" width="420" height="180"></svg>
    <div><b>Accuracy</b></div><svg id="accuracy" width="420" height="180"></svg>
  </div>
</div>
<script>
const DATA = __DATA__;
__SCRIPT__
</script>
</body>
</html>
"""

_TRAINING_SCRIPT = r"""
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";
const snapshots = DATA.snapshots, curve = DATA.curve;
const slider = document.getElementById("slider");
const label = document.getElementById("snapshot-label");
const canvas = document.getElementById("boundary");
const context = canvas.getContext("2d");
slider.max = snapshots.length - 1;

function drawBoundary(snapshot) {
  const grid = snapshot.grid, xs = grid.xs, ys = grid.ys;
  const W = canvas.width, H = canvas.height;
  const x0 = xs[0], x1 = xs[xs.length - 1], y0 = ys[0], y1 = ys[ys.length - 1];
  const toX = x => (x - x0) / (x1 - x0) * W, toY = y => H - (y - y0) / (y1 - y0) * H;
  // One pixel per grid point on a small canvas, then scaled up with smoothing: a soft
  // picture of the scores instead of blocks. Source pixel centres map onto the grid points.
  const cells = document.createElement("canvas");
  cells.width = xs.length;
  cells.height = ys.length;
  const cellContext = cells.getContext("2d");
  const image = cellContext.createImageData(xs.length, ys.length);
  for (let j = 0; j < ys.length; j++) {
    for (let i = 0; i < xs.length; i++) {
      const score = grid.scores[j][i];
      // Colour strength grows with |score| but saturates, so the boundary (score 0) stays white.
      const strength = isFinite(score) ? Math.tanh(Math.abs(score)) : 1;
      const light = Math.round(255 - 110 * strength);
      const at = 4 * ((ys.length - 1 - j) * xs.length + i);  // row 0 of the image is the top: the largest y
      image.data.set(score > 0 ? [light, light, 255, 255] : [255, light, light, 255], at);
    }
  }
  cellContext.putImageData(image, 0, 0);
  context.clearRect(0, 0, W, H);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(cells, 0.5, 0.5, xs.length - 1, ys.length - 1, 0, 0, W, H);
  DATA.X.forEach((point, k) => {
    context.beginPath();
    context.arc(toX(point[0]), toY(point[1]), 4.5, 0, 2 * Math.PI);
    context.fillStyle = DATA.y[k] > 0 ? "#1f4fd1" : "#d12f1f";
    context.fill();
    context.lineWidth = 1;
    context.strokeStyle = "#222";
    context.stroke();
  });
}

function make(tag, attributes, parent, text) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const key in attributes) element.setAttribute(key, attributes[key]);
  if (text !== undefined) element.textContent = text;
  parent.appendChild(element);
  return element;
}

// A line chart of one field of the curve; returns a function that moves the step marker.
function drawCurve(svg, field, className, fixedRange) {
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
  const left = 46, right = 10, top = 10, bottom = 24;
  const points = curve.filter(p => isFinite(p[field]));
  const steps = curve.map(p => p.step);
  const sMin = Math.min(...steps), sMax = Math.max(...steps, sMin + 1);
  const values = points.map(p => p[field]);
  const [vMin, vMax] = fixedRange || [Math.min(0, ...values), Math.max(...values, 1e-12)];
  const toX = s => left + (s - sMin) / (sMax - sMin) * (W - left - right);
  const toY = v => H - bottom - (v - vMin) / (vMax - vMin) * (H - top - bottom);
  make("line", { class: "axis", x1: left, y1: H - bottom, x2: W - right, y2: H - bottom }, svg);
  make("line", { class: "axis", x1: left, y1: top, x2: left, y2: H - bottom }, svg);
  make("text", { x: left - 4, y: toY(vMax) + 4, "text-anchor": "end" }, svg, Number(vMax.toPrecision(3)));
  make("text", { x: left - 4, y: toY(vMin) + 4, "text-anchor": "end" }, svg, Number(vMin.toPrecision(3)));
  make("text", { x: left, y: H - 8 }, svg, "step " + sMin);
  make("text", { x: W - right, y: H - 8, "text-anchor": "end" }, svg, "step " + sMax);
  make("polyline", {
    class: className, points: points.map(p => toX(p.step) + "," + toY(p[field])).join(" "),
  }, svg);
  const marker = make("line", { class: "marker", y1: top, y2: H - bottom }, svg);
  return step => { marker.setAttribute("x1", toX(step)); marker.setAttribute("x2", toX(step)); };
}
const moveLossMarker = drawCurve(document.getElementById("loss"), "loss", "loss-line", null);
const moveAccuracyMarker = drawCurve(document.getElementById("accuracy"), "accuracy", "accuracy-line", [0, 1]);

function show(k) {
  const snapshot = snapshots[k];
  slider.value = k;
  label.textContent = `step ${snapshot.step}: loss ${Number(snapshot.loss.toPrecision(4))}, ` +
    `accuracy ${(100 * snapshot.accuracy).toFixed(1)}%`;
  drawBoundary(snapshot);
  moveLossMarker(snapshot.step);
  moveAccuracyMarker(snapshot.step);
}
slider.addEventListener("input", () => show(+slider.value));
show(0);
"""
