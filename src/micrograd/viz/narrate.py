"""The backward pass told step by step: ``explain(root)``, and the data behind it, ``trace_backward(root)``.

``explain`` prints the forward values, every step of the backward pass (node, op, upstream
gradient, local derivative, product, the child it is added to), and checks each leaf's gradient
against :func:`micrograd.gradcheck.numerical_grad`. It computes its gradients in a table of its
own, with exactly the arithmetic of ``Value.backward``, so it leaves every ``.grad`` in the graph
as it found it. :func:`micrograd.viz.html.backward_html` plays the same steps in a browser.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from micrograd.engine import Value, linear, no_grad, topological_order
from micrograd.gradcheck import check_eps, numerical_grad
from micrograd.viz.graph import DEFAULT_MAX_NODES, _ordered_nodes

__all__ = ["NodeInfo", "GradientStep", "BackwardTrace", "trace_backward", "replay", "explain"]


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
