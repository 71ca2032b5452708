"""Pictures of the expression graph: ``draw_dot(root)`` returns a :class:`Graph`.

A :class:`Graph` holds the DOT text of the graph (one record box ``label | data | grad`` per Value,
one small node per op, edges in the direction the data flows) and turns it into SVG or PNG.
It shows itself inline in Jupyter. It is drawn by:

1. Graphviz's ``dot``, when a real one is on the PATH (micrograd's own ``dot`` command,
   which stands in for it, is skipped);
2. otherwise micrograd's layered layout (:mod:`micrograd.viz.render`), in this process:
   SVG with nothing else installed, PNG/PDF with matplotlib (``pip install 'micrograd[viz]'``).

Only a PNG/PDF without matplotlib or Graphviz raises :class:`RendererNotFound`, which says how
to get one (and the DOT text is still written, so nothing is lost).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from micrograd import ops
from micrograd._files import atomic_write
from micrograd.engine import Value, topological_order

__all__ = [
    "Graph",
    "RendererNotFound",
    "RenderError",
    "TooManyNodes",
    "DEFAULT_MAX_NODES",
    "EXPLAIN_MAX_NODES",
    "EXPAND_LINEAR_UP_TO",
    "INSTALL_HINT",
    "find_renderer",
    "draw_dot",
]

PathLike = str | os.PathLike[str]

# An MLP training step has tens of thousands of nodes: dot would run for hours and
# the picture would be unreadable anyway. A few hundred is the most a person can read.
DEFAULT_MAX_NODES = 500
# The narration and the step-through page stop sooner: a page of more steps is not read.
EXPLAIN_MAX_NODES = 200

INSTALL_HINT = "pip install 'micrograd[viz]'"  # brings matplotlib, which paints PNG and PDF

# Long enough for any graph under the node cap; a hung renderer must not hang the caller.
_RENDER_TIMEOUT_SECONDS = 120

# Record labels treat these as syntax, so a label containing them must escape them.
_DOT_SPECIAL = re.compile(r'([{}|<>"\\])')


class RendererNotFound(RuntimeError, OSError):
    """Nothing here can draw the format asked for (PNG/PDF without matplotlib or Graphviz); the message says how.

    Also an OSError (a program that is not there is an OS-level problem), so
    a caller that reports OSErrors in one line reports this one too.
    """


class RenderError(RuntimeError, OSError):
    """The ``dot`` program ran but failed (or took too long); the message has its output."""


# ----------------------------------------------------------------------
# Finding a renderer
# ----------------------------------------------------------------------


def find_renderer() -> str | None:
    """The path of Graphviz's ``dot`` on the PATH, or None: then micrograd's own layout draws the graph."""
    # Imported here, not at the top: every CLI start imports this module, and only drawing needs these.
    from micrograd.viz.dot_command import real_graphviz_dot

    return real_graphviz_dot()


def _run_renderer(source: str, format: str) -> bytes:
    program = find_renderer()
    if program is None:
        from micrograd.viz.render import MissingPainter, render_dot  # the layout and SVG writer: only when drawing

        try:
            return render_dot(source, format)
        except MissingPainter as error:
            raise RendererNotFound(str(error)) from None
    command = [program, "-Kdot", f"-T{format}"]
    try:
        finished = subprocess.run(
            command, input=source.encode("utf-8"), capture_output=True, timeout=_RENDER_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        raise RenderError(f"{program} took more than {_RENDER_TIMEOUT_SECONDS} s; try a smaller graph") from None
    if finished.returncode != 0:
        message = finished.stderr.decode("utf-8", "replace").strip()[-500:]
        raise RenderError(f"{program} -T{format} failed (exit {finished.returncode}): {message}")
    return finished.stdout


# ----------------------------------------------------------------------
# The picture
# ----------------------------------------------------------------------


class Graph:
    """A drawn expression graph: DOT text, plus ways to render and save it.

    Made by :func:`draw_dot`. Mirrors the parts of the ``graphviz`` package's
    ``Digraph`` that the lecture uses: ``.source``, ``.render(filename)`` and
    inline display in Jupyter.
    """

    def __init__(self, source: str, format: str = "svg", node_count: int = 0) -> None:
        self.source = source
        self.format = format
        self.node_count = node_count

    def __repr__(self) -> str:
        return f"<micrograd.viz.Graph: {self.node_count} values, format={self.format!r}>"

    def pipe(self, format: str | None = None) -> bytes:
        """The rendered picture as bytes (RendererNotFound / RenderError if that fails)."""
        return _run_renderer(self.source, _check_format(format or self.format))

    def render(self, filename: PathLike, format: str | None = None) -> str:
        """Write the picture to ``filename.<format>`` and return that path (as the graphviz package).

        Without a renderer, writes the DOT text to ``filename.dot`` instead and
        raises RendererNotFound naming that file and how to get a renderer.
        """
        chosen = _check_format(format or self.format)
        target = Path(f"{os.fspath(filename)}.{chosen}")
        return self._write_picture(target, chosen)

    def save(self, path: PathLike) -> str:
        """Write the DOT text to ``path`` (no renderer needed) and return the path."""
        target = Path(path)
        atomic_write(target, self.source)  # a failed write leaves an earlier file whole
        return str(target)

    def write(self, path: PathLike) -> str:
        """Write to ``path`` in the format its suffix names: ``.svg``, ``.png``, ``.pdf`` ... or ``.dot``."""
        target = Path(path)
        suffix = target.suffix.lower().lstrip(".")
        if not suffix:
            raise ValueError(f"{target}: give the file a suffix naming the format, e.g. graph.svg or graph.png")
        if suffix in ("dot", "gv"):
            return self.save(target)
        return self._write_picture(target, _check_format(suffix))

    def _write_picture(self, target: Path, format: str) -> str:
        try:
            picture = self.pipe(format)
        except RendererNotFound:
            fallback = target.with_suffix(".dot")
            self.save(fallback)
            raise RendererNotFound(
                f"no way to draw {format.upper()} here, so the graph was saved as DOT text in {fallback}; "
                f"{INSTALL_HINT} (or install Graphviz) to draw it, or ask for .svg, which needs neither"
            ) from None
        atomic_write(target, picture)
        return str(target)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter's hook: an inline SVG, or only text when there is no renderer.

        Never raises: a notebook cell should show a hint, not a traceback.
        """
        text = repr(self)
        try:
            svg = self.pipe("svg").decode("utf-8")
        except (OSError, RuntimeError) as error:  # RendererNotFound and RenderError are both
            return {"text/plain": f"{text}\n(no picture: {error})"}
        return {"image/svg+xml": svg, "text/plain": text}


def _check_format(format: str) -> str:
    # The format goes into the renderer's command line: allow only what a format name looks like.
    if not re.fullmatch(r"[a-z0-9_:]+", format):
        raise ValueError(f"format must be a name such as 'svg' or 'png', got {format!r}")
    return format


def draw_dot(
    root: Value,
    format: str = "svg",
    rankdir: str = "LR",
    *,
    color_by_grad: bool = False,
    show_order: bool = False,
    max_nodes: int = DEFAULT_MAX_NODES,
    expand_linear: bool | None = None,
) -> Graph:
    """The expression graph of ``root``, as in the lecture's notebook: ``draw_dot(o)``.

    Each Value is a record box ``label | data | grad`` (numbers to 4 decimals);
    each op a small oval between its inputs and its result.

    - ``format``: what ``render``/``pipe`` produce ('svg', 'png', 'pdf' ...).
    - ``rankdir``: 'LR' (left to right, as in the lecture) or 'TB', 'RL', 'BT'.
    - ``color_by_grad``: fill each box by |grad|, white for 0 up to deep orange
      for the largest |grad| in the graph: where the output is most sensitive.
    - ``show_order``: put each node's position in the topological order
      (1 = first computed) in its box; ``explain`` calls unlabelled nodes
      ``v<that number>``.
    - ``max_nodes``: a graph with more Values raises ValueError saying how many
      it has (nothing is drawn: a picture of 65,000 boxes helps no one).
    - ``expand_linear``: draw each fused ``linear`` node (a neuron's ``w.x + b``) as the
      lecture's boxes: ``x1*w1``, ``x2*w2``, ``+`` ..., ``+ b``, each with the data and grad
      it would have in the lecture's unfused graph. The default (None) expands graphs of up
      to :data:`EXPAND_LINEAR_UP_TO` Values, where the extra boxes still fit on a screen.
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_dot: root must be a Value, got {type(root).__name__}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"draw_dot: rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}")
    if expand_linear is not None and not isinstance(expand_linear, bool):
        raise TypeError(f"draw_dot: expand_linear must be True, False or None, got {expand_linear!r}")
    _check_format(format)
    order = _ordered_nodes(root, max_nodes, "draw_dot")
    if expand_linear is None:
        expand_linear = len(order) <= EXPAND_LINEAR_UP_TO
    boxes = _boxes(order, expand_linear)
    largest_grad = max((_magnitude(box.grad) for box in boxes), default=0.0)

    lines = [
        "digraph micrograd {",
        f"  graph [rankdir={rankdir}];",
        '  node [shape=record, fontname="Helvetica", fontsize=12];',
        '  edge [color="#555555"];',
    ]
    if color_by_grad:
        legend = f"fill: |grad| relative to the largest, {largest_grad:.4f}"
        lines.append(f'  graph [label="{_escape(legend)}", labelloc=t, fontname="Helvetica", fontsize=11];')
    for box in boxes:
        fields = [_escape(box.label), f"data {box.data:.4f}", f"grad {box.grad:.4f}"]
        if show_order and box.position is not None:
            fields.insert(0, f"#{box.position}")
        attributes = [f'label="{{ {" | ".join(fields)} }}"']
        if color_by_grad:
            share = _magnitude(box.grad) / largest_grad if largest_grad > 0 else 0.0
            attributes.append(f'style=filled, fillcolor="{_heat_colour(share)}"')
        lines.append(f"  {box.id} [{', '.join(attributes)}];")
        if box.inputs:
            # The op gets its own small node, fed by the children, feeding the result.
            op_id = f"{box.id}_op"
            lines.append(f'  {op_id} [label="{_escape(box.op)}", shape=ellipse, fontsize=11, margin="0.05,0.02"];')
            for child in box.inputs:
                lines.append(f"  {child} -> {op_id};")
            lines.append(f"  {op_id} -> {box.id};")
    lines.append("}")
    return Graph("\n".join(lines) + "\n", format, len(boxes))


# Up to this many Values, draw_dot expands fused linear nodes by default (see expand_linear).
EXPAND_LINEAR_UP_TO = 50


@dataclass
class _Box:
    """One record box of the picture: a Value of the graph, or a step of an expanded linear node."""

    id: str
    label: str
    data: float
    grad: float
    op: str = ""
    inputs: list[str] = field(default_factory=list)
    position: int | None = None  # in the topological order; None for the steps of an expanded node


def _boxes(order: list[Value], expand_linear: bool) -> list[_Box]:
    ids = {node: f"v{position}" for position, node in enumerate(order, start=1)}
    boxes: list[_Box] = []
    for position, node in enumerate(order, start=1):
        # float(): a gradient is a Value after backward(create_graph=True); show its number.
        box = _Box(ids[node], node.label, float(node.data), float(node.grad), node._op, [], position)
        children = node._prev
        fn = getattr(node, "_fn", None)
        fused = fn is ops.LINEAR or fn is ops.DOT
        if expand_linear and fused and len(children) >= 2:
            boxes += _expanded_linear(node, box, [ids[child] for child in children], fn is ops.LINEAR)
        else:
            box.inputs = [ids[child] for child in children]
        boxes.append(box)
    return boxes


def _expanded_linear(node: Value, box: _Box, child_ids: list[str], has_bias: bool) -> list[_Box]:
    """The lecture's boxes for ``node = w1*x1 + ... + wn*xn (+ b)``: the steps before ``box``, which is the last.

    Every step feeds only the next, through ``+``, so in the unfused graph each has the
    grad of the node itself; the leaves keep their own grads, which backward gave them.
    """
    children = node._prev
    count = (len(children) - 1) // 2 if has_bias else len(children) // 2
    weights, inputs = children[:count], children[count : 2 * count]
    weight_ids, input_ids = child_ids[:count], child_ids[count : 2 * count]
    grad = float(node.grad)
    steps: list[_Box] = []
    products = []
    for i, (weight, x) in enumerate(zip(weights, inputs, strict=True), start=1):
        label = f"{x.label}*{weight.label}" if x.label and weight.label else ""
        product = _Box(f"{box.id}_x{i}", label, float(x.data) * float(weight.data), grad, "*",
                       [input_ids[i - 1], weight_ids[i - 1]])  # fmt: skip
        steps.append(product)
        products.append(product)
    total = products[0]
    for i, product in enumerate(products[1:], start=2):
        label = f"{total.label} + {product.label}" if total.label and product.label else ""
        total = _Box(f"{box.id}_s{i}", label if len(label) <= 32 else "", total.data + product.data, grad, "+",
                     [total.id, product.id])  # fmt: skip
        steps.append(total)
    if has_bias:
        box.op, box.inputs = "+", [total.id, child_ids[-1]]
    else:  # the last step is the node itself
        last = steps.pop()
        box.op, box.inputs = last.op, last.inputs
    return steps


class TooManyNodes(ValueError):
    """The graph has more values than ``max_nodes`` allows. ``count`` and ``max_nodes`` are kept, so a
    caller with other words for the limit (the command line's ``--max-nodes``) can say it its own way."""

    def __init__(self, caller: str, count: int, max_nodes: int) -> None:
        self.count = count
        self.max_nodes = max_nodes
        super().__init__(
            f"{caller}: the graph has {count:,} values, more than max_nodes={max_nodes}; "
            f"pass max_nodes={count} to go on anyway (the picture will be big and hard to read), "
            "or draw a smaller expression, e.g. one neuron instead of the whole loss"
        )


def _ordered_nodes(root: Value, max_nodes: int, caller: str) -> list[Value]:
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int):
        raise TypeError(f"{caller}: max_nodes must be a positive int, got {max_nodes!r} ({type(max_nodes).__name__})")
    if max_nodes < 1:
        raise ValueError(f"{caller}: max_nodes must be a positive int, got {max_nodes!r}")
    order = topological_order(root)
    if len(order) > max_nodes:
        raise TooManyNodes(caller, len(order), max_nodes)
    return order


def _escape(text: str) -> str:
    """Make ``text`` safe inside a quoted DOT record label."""
    text = "".join(" " if ord(char) < 32 else char for char in text)  # no line breaks in a box
    return _DOT_SPECIAL.sub(r"\\\1", text)


def _magnitude(x: Any) -> float:
    size = abs(float(x))
    return size if math.isfinite(size) else 0.0


def _heat_colour(share: float) -> str:
    """White at 0, deep orange at 1: a colour ramp a reader sees without a legend."""
    low, high = (255, 255, 255), (232, 93, 36)
    red, green, blue = (round(a + (b - a) * share) for a, b in zip(low, high, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"
