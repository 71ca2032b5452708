"""Seeing backprop: pictures of the expression graph, and the backward pass told step by step.

Pictures -- ``draw_dot(root)`` returns a :class:`Graph`: the DOT text of the
graph (one record box ``label | data | grad`` per Value, one small node per
op, edges in the direction the data flows), which a Graphviz ``dot`` program
turns into SVG or PNG. It shows itself inline in Jupyter. A renderer is looked
for in this order:

1. ``dot`` on the PATH (Graphviz, if installed);
2. ``graphviz-pure`` (from ``pip install 'micrograd[viz]'``), on the PATH or
   in the running interpreter's scripts folder -- an un-activated venv keeps it
   off the PATH, so ``.venv/bin/python`` alone must still find it.

Without either, :class:`RendererNotFound` says how to get one (and the DOT
text is still written, so nothing is lost).

Narration -- ``explain(root)`` prints the forward values, every step of the
backward pass (node, op, upstream gradient, local derivative, product, the
child it is added to), and checks each leaf's gradient against
:func:`micrograd.gradcheck.numerical_grad`. It computes its gradients in a
table of its own, with exactly the arithmetic of ``Value.backward``, so it
leaves every ``.grad`` in the graph as it found it.

The command line's ``micrograd explain`` and ``micrograd graph`` are
:func:`explain_command` and :func:`graph_command`.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from micrograd.engine import Value, linear, no_grad, topological_order
from micrograd.gradcheck import check_eps, numerical_grad

__all__ = [
    "Graph",
    "RendererNotFound",
    "RenderError",
    "DEFAULT_MAX_NODES",
    "INSTALL_HINT",
    "find_renderer",
    "draw_dot",
    "NodeInfo",
    "GradientStep",
    "BackwardTrace",
    "trace_backward",
    "replay",
    "explain",
    "to_html",
    "explain_command",
    "graph_command",
]

PathLike = str | os.PathLike[str]

# An MLP training step has tens of thousands of nodes: dot would run for hours and
# the picture would be unreadable anyway. A few hundred is the most a person can read.
DEFAULT_MAX_NODES = 500

INSTALL_HINT = "pip install 'micrograd[viz]'"

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
    """The path of a dot-compatible program, or None if there is none (see the module docstring)."""
    for name in ("dot", "graphviz-pure"):
        found = shutil.which(name)
        if found:
            return found
    # Not on the PATH: look where pip put the package's scripts for *this* interpreter.
    suffix = ".exe" if os.name == "nt" else ""
    folders = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    try:
        folders.append(sysconfig.get_path("scripts", f"{os.name}_user"))  # pip install --user
    except KeyError:
        pass
    for folder in folders:
        candidate = Path(folder) / f"graphviz-pure{suffix}"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _run_renderer(source: str, format: str) -> bytes:
    program = find_renderer()
    if program is None:
        raise RendererNotFound(f"no Graphviz 'dot' program found to draw the graph; {INSTALL_HINT} to get one")
    # -Kdot: graphviz-pure picks its layout engine from its own name, so name the one we want.
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
                f"no Graphviz 'dot' program found, so the graph was saved as DOT text in {fallback}; "
                f"{INSTALL_HINT} (or install Graphviz) to draw pictures"
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
        fields = [_escape(node.label), f"data {_float(node.data):.4f}", f"grad {_float(node.grad):.4f}"]
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


def _float(x: Any) -> float:
    # A gradient is a Value after backward(create_graph=True); show its number.
    return float(x)


def _magnitude(x: Any) -> float:
    size = abs(_float(x))
    return size if math.isfinite(size) else 0.0


def _heat_colour(share: float) -> str:
    """White at 0, deep orange at 1: a colour ramp a reader sees without a legend."""
    low, high = (255, 255, 255), (232, 93, 36)
    red, green, blue = (round(a + (b - a) * share) for a, b in zip(low, high, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


# ----------------------------------------------------------------------
# The backward pass as data: what explain() prints and the HTML page plays
# ----------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInfo:
    """One Value of the graph, as the narration shows it.

    ``index`` is 1-based in topological order; ``children`` are indices;
    ``formula`` is how it was computed from its children's names ("" for a leaf).
    """

    index: int
    name: str
    op: str
    data: float
    children: tuple[int, ...]
    formula: str
    is_constant: bool


@dataclass(frozen=True)
class GradientStep:
    """One use of the chain rule: ``child.grad += local * parent.grad``.

    ``local_rule`` is the local derivative as a formula in the nodes' names.
    """

    parent: int
    child: int
    upstream: float
    local: float
    local_rule: str
    product: float
    before: float
    after: float


@dataclass(frozen=True)
class BackwardTrace:
    """The whole backward pass of one root: nodes, steps in order, final gradients by index."""

    nodes: tuple[NodeInfo, ...]
    root: int
    steps: tuple[GradientStep, ...]
    grads: dict[int, float]

    def node(self, index: int) -> NodeInfo:
        return self.nodes[index - 1]


def trace_backward(root: Value, max_nodes: int = DEFAULT_MAX_NODES) -> BackwardTrace:
    """Run the backward pass of ``root`` on a private table of gradients, recording every step.

    The arithmetic is ``Value.backward``'s (same order, same float operations),
    so the numbers agree bit for bit, but no ``.grad`` in the graph is touched.
    """
    order = _ordered_nodes(root, max_nodes, "trace_backward")
    index = {node: position for position, node in enumerate(order, start=1)}
    names = _display_names(order)
    nodes = tuple(
        NodeInfo(
            index=index[node],
            name=names[node],
            op=node._op,
            data=node.data,
            children=tuple(index[child] for child in node._prev),
            formula=_formula(node, names),
            is_constant=not node._prev and not node.label,
        )
        for node in order
    )
    grads = {position: 0.0 for position in index.values()}
    grads[index[root]] = 1.0  # the seed: d root / d root = 1
    steps: list[GradientStep] = []
    for node in reversed(order):
        upstream = grads[index[node]]
        for position, (child, local) in enumerate(zip(node._prev, node._local_grads, strict=True)):
            local = float(local)
            before = grads[index[child]]
            product = local * upstream
            grads[index[child]] = before + product
            steps.append(
                GradientStep(
                    parent=index[node],
                    child=index[child],
                    upstream=upstream,
                    local=local,
                    local_rule=_local_rule(node, position, names),
                    product=product,
                    before=before,
                    after=before + product,
                )
            )
    return BackwardTrace(nodes, index[root], tuple(steps), grads)


def _display_names(order: Sequence[Value]) -> dict[Value, str]:
    """A unique readable name per node: its label, else ``v<position>`` (as show_order numbers it)."""
    label_count: dict[str, int] = {}
    for node in order:
        if node.label:
            label_count[node.label] = label_count.get(node.label, 0) + 1
    names: dict[Value, str] = {}
    for position, node in enumerate(order, start=1):
        if not node.label:
            names[node] = f"v{position}"
        elif label_count[node.label] > 1:
            names[node] = f"{node.label}#{position}"  # two nodes share a label: tell them apart
        else:
            names[node] = node.label
    return names


def _operand(node: Value, names: dict[Value, str]) -> str:
    """How a child appears in a formula: an unlabelled constant by its value, else its name."""
    if not node._prev and not node.label:
        return _number(node.data)
    return names[node]


# A name or number that needs no brackets around it: x1, 2.5, v7, or a call like tanh(n).
_SIMPLE = re.compile(r"[\w.#]+|\w+\([^()]*\)")


def _wrap(text: str) -> str:
    """Brackets around a compound name or a negative number, so a formula reads unambiguously."""
    return text if _SIMPLE.fullmatch(text) else f"({text})"


def _bracket_negative(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


_FUNCTION_NAMES = {"exp": "exp", "log": "log", "tanh": "tanh", "sigmoid": "sigmoid", "ReLU": "relu"}


def _formula(node: Value, names: dict[Value, str]) -> str:
    """How the node was computed, written with its children's names ('' for a leaf)."""
    if not node._prev:
        return ""
    return _formula_text(node._op, [_operand(child, names) for child in node._prev])


def _formula_text(op: str, parts: Sequence[str]) -> str:
    """The formula of ``op`` applied to ``parts`` (names or numbers, unbracketed)."""
    if op in _FUNCTION_NAMES:
        return f"{_FUNCTION_NAMES[op]}({parts[0]})"
    wrapped = [_wrap(part) for part in parts]
    if op == "+":
        return f"{wrapped[0]} + {wrapped[1]}"
    if op == "*":
        return f"{wrapped[0]}*{wrapped[1]}"
    if op == "**":
        return f"{wrapped[0]}**{wrapped[1]}"
    if op.startswith("**"):
        return f"{wrapped[0]}**{_bracket_negative(op[2:])}"
    if op == "linear":
        count = (len(parts) - 1) // 2
        terms = [f"{w}*{x}" for w, x in zip(wrapped[:count], wrapped[count : 2 * count], strict=True)]
        return " + ".join([*terms, wrapped[-1]])
    return f"{op}({', '.join(parts)})"


def _local_rule(node: Value, position: int, names: dict[Value, str]) -> str:
    """d node / d child as a formula in names, for the child at ``position`` in node._prev."""
    op = node._op
    parts = [_operand(child, names) for child in node._prev]
    out = _wrap(names[node])
    x = _wrap(parts[position])
    if op == "+":
        return "1"
    if op == "*":
        return parts[1 - position]  # d(a*b)/da = b
    if op.startswith("**") and op != "**":
        k = _bracket_negative(op[2:])
        return f"{k} * {x}**({k} - 1)"
    if op == "**":
        base, exponent = (_wrap(part) for part in parts)
        return f"{exponent} * {base}**({exponent} - 1)" if position == 0 else f"{out} * log({parts[0]})"
    if op == "exp":
        return f"exp({parts[0]}) = {out}"
    if op == "log":
        return f"1 / {x}"
    if op == "tanh":
        return f"1 - {out}**2"
    if op == "sigmoid":
        return f"{out} * (1 - {out})"
    if op == "ReLU":
        return f"1 if {x} > 0 else 0"
    if op == "linear":
        count = (len(parts) - 1) // 2
        if position < count:
            return parts[count + position]  # d/dw_i = x_i
        if position < 2 * count:
            return parts[position - count]  # d/dx_i = w_i
        return "1"
    return "the recorded local derivative"


# ----------------------------------------------------------------------
# Replaying the graph with other leaf values (for the numerical check)
# ----------------------------------------------------------------------


def replay(root: Value, leaf_values: dict[Value, float]) -> float:
    """The value ``root`` would have if some leaves held other numbers; the graph is not changed.

    Walks the recorded graph in topological order and recomputes each node
    from its children by calling the engine's own op on fresh leaves, chosen
    by the recorded ``_op`` string (for ``'**k'`` the exponent k is read back
    from the op string, which the engine writes as ``f"**{k}"``). Reusing the
    engine's ops means the numbers are exactly what a fresh forward pass gives.
    Raises ValueError for an op it does not know, and the engine's errors
    (ValueError, ArithmeticError) if a new value is outside an op's domain.
    """
    order = topological_order(root)
    values: dict[Value, float] = {}
    with no_grad():  # only numbers are wanted, no graph
        for node in order:
            if not node._prev:
                values[node] = float(leaf_values.get(node, node.data))
            else:
                values[node] = _apply_op(node._op, [values[child] for child in node._prev])
    return values[root]


def _apply_op(op: str, inputs: list[float]) -> float:
    xs = [Value(x) for x in inputs]
    if op == "+":
        return (xs[0] + xs[1]).data
    if op == "*":
        return (xs[0] * xs[1]).data
    if op == "**":
        return (xs[0] ** xs[1]).data
    if op.startswith("**"):
        return (xs[0] ** _parse_exponent(op[2:])).data
    if op == "exp":
        return xs[0].exp().data
    if op == "log":
        return xs[0].log().data
    if op == "tanh":
        return xs[0].tanh().data
    if op == "sigmoid":
        return xs[0].sigmoid().data
    if op == "ReLU":
        return xs[0].relu().data
    if op == "linear":
        count = (len(xs) - 1) // 2
        return linear(xs[:count], xs[count : 2 * count], xs[-1]).data
    raise ValueError(f"replay: cannot recompute op {op!r}")


def _parse_exponent(text: str) -> int | float:
    # Keep an int an int: x**2 and x**2.0 are the same number, but keep the engine's path identical.
    try:
        return int(text)
    except ValueError:
        return float(text)


# ----------------------------------------------------------------------
# The narration
# ----------------------------------------------------------------------


def explain(
    root: Value,
    *,
    file: TextIO | None = None,
    quiet: bool = False,
    check: bool = True,
    eps: float = 1e-6,
    max_nodes: int = 200,
) -> str:
    """Print the forward pass, every backward step and a numerical check; return the same text.

    Prints to ``file`` (default: standard output) unless ``quiet``. Does not
    change any ``.grad``: the gradients are computed in a private table with
    exactly ``Value.backward``'s arithmetic (call ``root.backward()`` yourself
    to fill in the graph, e.g. before ``draw_dot``). With ``check``, each leaf's
    gradient is compared with :func:`numerical_grad`, which nudges the leaf by
    ``eps`` and re-evaluates the graph with :func:`replay`.
    """
    if not isinstance(root, Value):
        raise TypeError(f"explain: root must be a Value, got {type(root).__name__}")
    check_eps("explain", eps)  # up front: otherwise every leaf of the check table says "cannot nudge here"
    trace = trace_backward(root, max_nodes=max_nodes)
    lines = _forward_lines(trace) + [""] + _backward_lines(trace)
    if check:
        lines += [""] + _check_lines(root, trace, eps)
    text = "\n".join(lines) + "\n"
    if not quiet:
        (file if file is not None else sys.stdout).write(text)
    return text


def _number(x: float) -> str:
    """Numbers in the narration: 6 significant digits, and never '-0'."""
    return f"{x + 0.0:.6g}"  # adding 0.0 turns -0.0 into 0.0


def _same_text(a: str, b: str) -> bool:
    return a.replace(" ", "") == b.replace(" ", "")


def _forward_lines(trace: BackwardTrace) -> list[str]:
    lines = ["Forward pass (each value from its inputs, in topological order):"]
    for info in trace.nodes:
        if not info.children:
            kind = "a constant" if info.is_constant else "an input"
            lines.append(f"  {info.name} = {_number(info.data)}   ({kind})")
            continue
        numbers = _formula_text(info.op, [_number(trace.node(child).data) for child in info.children])
        shown = [info.name] if _same_text(info.name, info.formula) else [info.name, info.formula]
        lines.append(f"  {' = '.join(shown)} = {numbers} = {_number(info.data)}")
    return lines


def _backward_lines(trace: BackwardTrace) -> list[str]:
    root = trace.node(trace.root)
    lines = [
        "Backward pass (the chain rule, from the output back to the inputs):",
        f"  {root.name}.grad = 1   (the seed: d{root.name}/d{root.name} = 1)",
        "  Each node passes its grad to each input: input.grad += local derivative * node.grad",
    ]
    step_number = 0
    current_parent = 0
    for step in trace.steps:
        parent = trace.node(step.parent)
        child = trace.node(step.child)
        if step.parent != current_parent:
            step_number += 1
            current_parent = step.parent
            shown = parent.name if _same_text(parent.name, parent.formula) else f"{parent.name} = {parent.formula}"
            lines.append(
                f"  step {step_number}: {shown}   "
                f"[op {parent.op}]   upstream {_wrap(parent.name)}.grad = {_number(step.upstream)}"
            )
        rule = step.local_rule
        local_text = _number(step.local) if rule == _number(step.local) else f"{rule} = {_number(step.local)}"
        lines.append(
            f"    -> {child.name}: local d{_wrap(parent.name)}/d{_wrap(child.name)} = {local_text};  "
            f"{_number(step.local)} * {_wrap(_number(step.upstream))} = {_number(step.product)};  "
            f"{_wrap(child.name)}.grad = {_number(step.before)} + {_wrap(_number(step.product))} "
            f"= {_number(step.after)}"
        )
    lines.append(f"Gradients d{root.name}/d(leaf):")
    for info in trace.nodes:
        if not info.children and not info.is_constant:
            lines.append(f"  {info.name}.grad = {_number(trace.grads[info.index])}")
    return lines


def _check_lines(root: Value, trace: BackwardTrace, eps: float) -> list[str]:
    lines = [
        f"Check against numerical_grad (nudge each input by eps={eps:g} both ways, re-evaluate):",
        f"  {'input':<12} {'backward':>16} {'numerical':>16}   agree",
    ]
    order = topological_order(root)
    for node, info in zip(order, trace.nodes, strict=True):
        if info.children or info.is_constant:
            continue
        analytic = trace.grads[info.index]

        def with_this_leaf(value: Value, leaf: Value = node) -> Value:
            return Value(replay(root, {leaf: value.data}))

        try:
            numeric = numerical_grad(with_this_leaf, [node.data], eps)[0]
        except (ArithmeticError, ValueError) as error:
            lines.append(f"  {info.name:<12} {analytic:>16.10g} {'-':>16}   cannot nudge here: {error}")
            continue
        agree = abs(analytic - numeric) <= 1e-5 + 1e-3 * abs(numeric)  # gradcheck's tolerances
        lines.append(f"  {info.name:<12} {analytic + 0.0:>16.10g} {numeric + 0.0:>16.10g}   {'yes' if agree else 'NO'}")
    return lines


def to_html(root: Value, title: str | None = None, max_nodes: int = 200) -> str:
    """A self-contained HTML page that steps through the backward pass (see micrograd.html)."""
    from micrograd.html import backward_html  # imported here: html imports this module

    return backward_html(root, title=title, max_nodes=max_nodes)


# ----------------------------------------------------------------------
# The command line: `micrograd explain` and `micrograd graph`
# ----------------------------------------------------------------------


def explain_command(
    expression: str,
    settings: Sequence[str] = (),
    *,
    html: PathLike | None = None,
    check: bool = True,
    file: TextIO | None = None,
) -> int:
    """``micrograd explain EXPR --set x=2 ... [--html out.html]``; returns the exit code 0.

    Raises ExpressionError (a ValueError) for a bad expression or ``--set``,
    OSError if the page cannot be written.
    """
    from micrograd.expr import evaluate, parse_settings

    out = file if file is not None else sys.stdout
    root = evaluate(expression, parse_settings(settings))
    explain(root, file=out, check=check)
    if html is not None:
        page = to_html(root, title=expression)
        Path(html).write_text(page, encoding="utf-8")
        out.write(f"\nwrote {html}: open it in a browser and step with the arrow keys\n")
    return 0


def graph_command(
    expression: str,
    settings: Sequence[str] = (),
    *,
    output: PathLike = "graph.svg",
    rankdir: str = "LR",
    color_by_grad: bool = False,
    show_order: bool = False,
    max_nodes: int = DEFAULT_MAX_NODES,
    file: TextIO | None = None,
) -> int:
    """``micrograd graph EXPR --set x=2 ... -o out.svg``: draw the graph after the backward pass.

    The format comes from the output's suffix (.svg, .png, .pdf, or .dot for
    the DOT text). Returns 0. Raises ExpressionError (ValueError) for bad
    input and RendererNotFound / RenderError (OSErrors) when drawing fails;
    without a renderer the DOT text is still written next to ``output``.
    """
    from micrograd.expr import evaluate, parse_settings

    root = evaluate(expression, parse_settings(settings))
    root.backward()
    graph = draw_dot(root, rankdir=rankdir, color_by_grad=color_by_grad, show_order=show_order, max_nodes=max_nodes)
    written = graph.write(output)
    (file if file is not None else sys.stdout).write(f"wrote {written}\n")
    return 0
