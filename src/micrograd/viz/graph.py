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
from pathlib import Path
from typing import Any

from micrograd.engine import Value, topological_order
from micrograd.viz.dot_command import real_graphviz_dot
from micrograd.viz.render import MissingPainter, render_dot

__all__ = ["Graph", "RendererNotFound", "RenderError", "DEFAULT_MAX_NODES", "INSTALL_HINT", "find_renderer", "draw_dot"]

PathLike = str | os.PathLike[str]

# An MLP training step has tens of thousands of nodes: dot would run for hours and
# the picture would be unreadable anyway. A few hundred is the most a person can read.
DEFAULT_MAX_NODES = 500

INSTALL_HINT = "pip install 'micrograd[viz]'"  # brings matplotlib, which paints PNG and PDF

# Long enough for any graph under the node cap; a hung renderer must not hang the caller.
_RENDER_TIMEOUT_SECONDS = 120

# Record labels treat these as syntax, so a label containing them must escape them.
_DOT_SPECIAL = re.compile(r'([{}|<>"\\])')


class RendererNotFound(RuntimeError, OSError):
    """No ``dot`` program was found; the message says how to install one.

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
    return real_graphviz_dot()


def _run_renderer(source: str, format: str) -> bytes:
    program = find_renderer()
    if program is None:
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
        target.write_text(self.source, encoding="utf-8")
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
        target.write_bytes(picture)
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
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_dot: root must be a Value, got {type(root).__name__}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"draw_dot: rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}")
    _check_format(format)
    order = _ordered_nodes(root, max_nodes, "draw_dot")
    ids = {node: f"v{position}" for position, node in enumerate(order, start=1)}
    largest_grad = max((_magnitude(node.grad) for node in order), default=0.0)

    lines = [
        "digraph micrograd {",
        f"  graph [rankdir={rankdir}];",
        '  node [shape=record, fontname="Helvetica", fontsize=12];',
        '  edge [color="#555555"];',
    ]
    if color_by_grad:
        legend = f"fill: |grad| relative to the largest, {largest_grad:.4f}"
        lines.append(f'  graph [label="{_escape(legend)}", labelloc=t, fontname="Helvetica", fontsize=11];')
    for position, node in enumerate(order, start=1):
        # float(): a gradient is a Value after backward(create_graph=True); show its number.
        fields = [_escape(node.label), f"data {float(node.data):.4f}", f"grad {float(node.grad):.4f}"]
        if show_order:
            fields.insert(0, f"#{position}")
        attributes = [f'label="{{ {" | ".join(fields)} }}"']
        if color_by_grad:
            share = _magnitude(node.grad) / largest_grad if largest_grad > 0 else 0.0
            attributes.append(f'style=filled, fillcolor="{_heat_colour(share)}"')
        lines.append(f"  {ids[node]} [{', '.join(attributes)}];")
        if node._prev:
            # The op gets its own small node, fed by the children, feeding the result.
            op_id = f"{ids[node]}_op"
            lines.append(f'  {op_id} [label="{_escape(node._op)}", shape=ellipse, fontsize=11, margin="0.05,0.02"];')
            for child in node._prev:
                lines.append(f"  {ids[child]} -> {op_id};")
            lines.append(f"  {op_id} -> {ids[node]};")
    lines.append("}")
    return Graph("\n".join(lines) + "\n", format, len(order))


def _ordered_nodes(root: Value, max_nodes: int, caller: str) -> list[Value]:
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int):
        raise TypeError(f"{caller}: max_nodes must be a positive int, got {max_nodes!r} ({type(max_nodes).__name__})")
    if max_nodes < 1:
        raise ValueError(f"{caller}: max_nodes must be a positive int, got {max_nodes!r}")
    order = topological_order(root)
    if len(order) > max_nodes:
        raise ValueError(
            f"{caller}: the graph has {len(order):,} values, more than max_nodes={max_nodes}; "
            f"pass max_nodes={len(order)} to go on anyway (it will be slow and hard to read), "
            "or draw a smaller expression, e.g. one neuron instead of the whole loss"
        )
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
