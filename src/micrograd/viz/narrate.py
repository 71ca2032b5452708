"""The backward pass told step by step: ``explain(root)``, and the data behind it, ``trace_backward(root)``.

``explain`` prints the forward values, every step of the backward pass (node, op, upstream
gradient, local derivative, product, the child it is added to), and checks each leaf's gradient
against :func:`micrograd.gradcheck.numerical_grad`. :func:`micrograd.viz.html.backward_html`
plays the same steps in a browser.

Nothing here knows an op's derivative. Everything is read from the op table
(:mod:`micrograd.ops`) and from the nodes:

- the chain rule is the engine's own: ``trace_backward`` calls each node's ``_backward()``
  (one step of :func:`micrograd.engine.chain_rule`), from the output back, and records how the
  children's gradients change. Every ``.grad`` is put back as it was afterwards;
- the local derivatives shown are the numbers the node stored at forward time (``_local_grads``);
- the rule shown next to each number is the op's derivative rule from its row, written out in
  the nodes' names: the row's ``derivative`` is run on stand-in numbers that write down what is
  done to them (``1 - o*o`` for tanh). The row's ``doc`` states the rule with letters of its own
  (``d/da = b`` for ``*``), which a reader would take for their own names, so it is shown only
  where the rule cannot be written out, and then as the op's own letters;
- the steps are counted one per edge (one ``child.grad += local * node.grad``), in the text and
  on the page of :func:`micrograd.viz.html.backward_html` alike;
- the numerical check recomputes the graph with the rows' ``forward`` (:func:`replay`).

So an op added with :func:`micrograd.ops.defop` is narrated like any other, and a node made by
hand (``Value(3.0, (a, b), '+')``) is narrated as what it is: a node with no op of the table,
which passes back only the local derivatives it was given.
"""

from __future__ import annotations

import math
import numbers
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from micrograd.engine import Value, no_grad, topological_order
from micrograd.gradcheck import check_eps, numerical_grad
from micrograd.ops import Op
from micrograd.viz.graph import DEFAULT_MAX_NODES, EXPLAIN_MAX_NODES, _ordered_nodes

__all__ = ["NodeInfo", "GradientStep", "BackwardTrace", "Explanation", "trace_backward", "replay", "explain"]


# ----------------------------------------------------------------------
# The backward pass as data: what explain() prints and the HTML page plays
# ----------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInfo:
    """One Value of the graph, as the narration shows it.

    ``index`` is 1-based in topological order; ``children`` are indices;
    ``formula`` is how it was computed from its children's names and
    ``values`` the same with their numbers ("" for a leaf, and for a node made
    by hand, which no op of the table computed); ``rule`` is the op's
    derivative rule as its row states it ("" if the row has none).
    ``rule_written`` says that every local derivative of this node is written out
    in the graph's own names (the steps' ``local_rule``): the narration then shows
    those and not ``rule``, whose letters (``d/da = b``) are the row's names for
    its inputs and could be taken for the user's own names.
    """

    index: int
    name: str
    op: str
    data: float
    children: tuple[int, ...]
    formula: str
    is_constant: bool
    values: str = ""
    rule: str = ""
    rule_written: bool = False


# How a step passed the gradient on (GradientStep.how).
BY_RULE = "rule"  # child.grad += local * parent.grad, the local derivative stored at forward time
BY_OWN_BACKWARD = "own _backward"  # a _backward function set on the node by hand changed child.grad
NOTHING = "nothing"  # the node holds no local derivative for this child, so nothing is passed back


@dataclass(frozen=True)
class GradientStep:
    """One use of the chain rule: ``child.grad += local * parent.grad``.

    ``local_rule`` is the local derivative as a formula in the nodes' names.
    ``how`` is ``"rule"`` for that; ``"own _backward"`` when a function set on
    the node by hand made the change (``product`` is then the change seen,
    ``after - before``); ``"nothing"`` when the node passes nothing back to
    this child (a node made by hand without local derivatives).
    """

    parent: int
    child: int
    upstream: float
    local: float
    local_rule: str
    product: float
    before: float
    after: float
    how: str = BY_RULE


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
    """Run the backward pass of ``root`` with the engine's own chain-rule step, recording every step.

    As ``root.backward()``: the seed ``root.grad = 1``, then each node's
    ``_backward()`` in reverse topological order, each gradient starting from 0.
    The changes of the children's gradients are recorded after each node's step.
    Every ``.grad`` in the graph is put back as it was, also if a step raises.
    """
    order = _ordered_nodes(root, max_nodes, "trace_backward")
    index = {node: position for position, node in enumerate(order, start=1)}
    names = _display_names(order)
    nodes = tuple(_node_info(node, index, names) for node in order)
    saved = [node.grad for node in order]
    steps: list[GradientStep] = []
    try:
        for node in order:
            node.grad = 0.0
        root.grad = 1.0  # the seed: d root / d root = 1
        for node in reversed(order):
            if node._prev:
                steps += _one_step(node, index, names)
        grads = {index[node]: float(node.grad) for node in order}
    finally:
        for node, grad in zip(order, saved, strict=True):
            node.grad = grad
    return BackwardTrace(nodes, index[root], tuple(steps), grads)


def _one_step(node: Value, index: dict[Value, int], names: dict[Value, str]) -> list[GradientStep]:
    """Call the node's chain-rule step and describe what it did to each child's gradient."""
    children = node._prev
    upstream = float(node.grad)
    seen_before = {child: float(child.grad) for child in children}
    node._backward()  # the engine's step (chain_rule([node])), or a _backward set on the node by hand
    seen_after = {child: float(child.grad) for child in children}
    locals_ = node._local_grads
    if not locals_:  # nothing stored: a node made by hand, or one with its own _backward
        return _seen_steps(node, upstream, seen_before, seen_after, index)
    rules = _local_rules(node, names)
    running = dict(seen_before)
    steps: list[GradientStep] = []
    for position, child in enumerate(children):
        before = running[child]
        if position < len(locals_):
            local = float(locals_[position])
            product = local * upstream
            after = before + product
            rule = rules[position] if position < len(rules) else _number(local)
            steps.append(GradientStep(index[node], index[child], upstream, local, rule, product, before, after))
        else:  # a node made by hand with fewer local derivatives than children: the rest get nothing
            after = before
            steps.append(_nothing_step(node, child, upstream, before, index))
        running[child] = after
    if all(_same(running[child], seen_after[child]) for child in children):
        return steps  # what the narration computes is what the engine did, bit for bit
    # The step did something else than its stored local derivatives say (a subclass's own
    # _backward, say): tell what was seen, not what the numbers would have given.
    return _seen_steps(node, upstream, seen_before, seen_after, index)


def _seen_steps(
    node: Value,
    upstream: float,
    seen_before: dict[Value, float],
    seen_after: dict[Value, float],
    index: dict[Value, int],
) -> list[GradientStep]:
    """One step per child (used twice or not), with the change of its gradient as seen."""
    steps = []
    for child in dict.fromkeys(node._prev):
        before, after = seen_before[child], seen_after[child]
        if _same(before, after):
            steps.append(_nothing_step(node, child, upstream, before, index))
            continue
        product = after - before
        local = product / upstream if upstream != 0.0 else math.nan
        rule = "set by the node's own _backward"
        steps.append(
            GradientStep(index[node], index[child], upstream, local, rule, product, before, after, BY_OWN_BACKWARD)
        )
    return steps


def _nothing_step(node: Value, child: Value, upstream: float, grad: float, index: dict[Value, int]) -> GradientStep:
    return GradientStep(index[node], index[child], upstream, 0.0, "none recorded", 0.0, grad, grad, NOTHING)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _node_info(node: Value, index: dict[Value, int], names: dict[Value, str]) -> NodeInfo:
    fn = node._fn
    formula = values = rule = ""
    written = False
    if fn is not None and node._prev:
        attrs = node._attrs
        formula = _op_term(fn, attrs, [_name_term(child, names) for child in node._prev]).text
        values = _op_term(fn, attrs, [_Term.number(child.data) for child in node._prev]).text
        rule = fn.doc
        rules = _local_rules(node, names)
        written = len(rules) == len(node._prev) and _rule_placeholder(node) not in rules
    return NodeInfo(
        index=index[node],
        name=names[node],
        op=node._op,
        data=node.data,
        children=tuple(index[child] for child in node._prev),
        formula=formula,
        is_constant=not node._prev and not node.label,
        values=values,
        rule=rule,
        rule_written=written,
    )


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


# ----------------------------------------------------------------------
# Formulas. A _Term is a number that also carries the text of how it was made.
# The op table's derivative rules are written with arithmetic and the math
# namespace of micrograd.ops, which hands anything with an ``_apply_op`` to the
# op's row, so running a rule on terms writes the rule out in the nodes' names:
# tanh's ``1.0 - out * out`` on the term ``o`` gives ``1 - o*o``. Comparisons
# compare the numbers, so a rule that branches (relu, abs) takes the branch
# that holds at this node and writes that out.
# ----------------------------------------------------------------------

# How tightly a piece of text binds: an operand binding less than its operator needs gets brackets.
_LOOSE, _SUM, _PRODUCT, _UNARY, _POWER, _ATOM = range(6)

# A name or number that needs no brackets around it: x1, 2.5, v7, o#3, or a call like tanh(n).
_SIMPLE = re.compile(r"[\w.#]+|\w+\([^()]*\)")

# A derived rule longer than this is not shown in full; the row's doc states the rule instead.
_MAX_RULE_LENGTH = 72


class _Term:
    __slots__ = ("text", "data", "rank")

    def __init__(self, text: str, data: float, rank: int) -> None:
        self.text = text
        self.data = data  # what the engine's math namespace reads from a node
        self.rank = rank

    @staticmethod
    def number(x: float) -> _Term:
        return _Term(_number(x), float(x), _ATOM)

    # The hook through which micrograd.ops' functions (cos, sigmoid, tanh ...) and rows apply to us.
    @staticmethod
    def _apply_op(op: Op, inputs: Sequence[Any], attrs: dict[str, Any]) -> _Term:
        return _op_term(op, tuple(attrs[name] for name in op.attrs), [_as_term(x) for x in inputs])

    def __add__(self, other: Any) -> _Term:
        return _infix(self, " + ", other, _SUM, lambda a, b: a + b)

    def __radd__(self, other: Any) -> _Term:
        return _infix(other, " + ", self, _SUM, lambda a, b: a + b)

    def __sub__(self, other: Any) -> _Term:
        return _infix(self, " - ", other, _SUM, lambda a, b: a - b)

    def __rsub__(self, other: Any) -> _Term:
        return _infix(other, " - ", self, _SUM, lambda a, b: a - b)

    def __mul__(self, other: Any) -> _Term:
        return _infix(self, "*", other, _PRODUCT, lambda a, b: a * b)

    def __rmul__(self, other: Any) -> _Term:
        return _infix(other, "*", self, _PRODUCT, lambda a, b: a * b)

    def __truediv__(self, other: Any) -> _Term:
        return _infix(self, "/", other, _PRODUCT, lambda a, b: a / b)

    def __rtruediv__(self, other: Any) -> _Term:
        return _infix(other, "/", self, _PRODUCT, lambda a, b: a / b)

    def __pow__(self, other: Any) -> _Term:
        return _infix(self, "**", other, _POWER, lambda a, b: a**b)

    def __rpow__(self, other: Any) -> _Term:
        return _infix(other, "**", self, _POWER, lambda a, b: a**b)

    def __neg__(self) -> _Term:
        return _Term(f"-{_operand_text(self, _UNARY + 1)}", -self.data, _UNARY)

    def __pos__(self) -> _Term:
        return self

    def __abs__(self) -> _Term:
        return _Term(f"abs({self.text})", abs(self.data), _ATOM)

    def __float__(self) -> float:
        return self.data

    def __lt__(self, other: Any) -> bool:
        return self.data < _data_of(other)

    def __le__(self, other: Any) -> bool:
        return self.data <= _data_of(other)

    def __gt__(self, other: Any) -> bool:
        return self.data > _data_of(other)

    def __ge__(self, other: Any) -> bool:
        return self.data >= _data_of(other)


def _data_of(x: Any) -> float:
    return x.data if isinstance(x, _Term) else float(x)


def _as_term(x: Any) -> _Term:
    if isinstance(x, _Term):
        return x
    if isinstance(x, numbers.Real):
        return _Term.number(float(x))
    raise TypeError(f"not a number: {type(x).__name__}")


def _operand_text(term: _Term, needed: int) -> str:
    """The term as an operand: bracketed if it binds less than needed, or starts with a minus sign."""
    return f"({term.text})" if term.rank < needed or term.text.startswith("-") else term.text


def _infix(left: Any, symbol: str, right: Any, rank: int, compute: Callable[[float, float], float]) -> _Term:
    a, b = _as_term(left), _as_term(right)
    # + and * group from the left, ** from the right: (a - b) - c is a - b - c, but a - (b - c) is not.
    left_needs = rank + 1 if symbol == "**" else rank
    right_needs = rank if symbol in (" + ", "*") else rank + 1
    try:
        data = float(compute(a.data, b.data))
    except (ArithmeticError, ValueError, TypeError):
        data = math.nan
    return _Term(f"{_operand_text(a, left_needs)}{symbol}{_operand_text(b, right_needs)}", data, rank)


def _name_term(node: Value, names: dict[Value, str]) -> _Term:
    """A child as it appears in a formula: an unlabelled constant by its value, else its name."""
    if not node._prev and not node.label:
        return _Term.number(node.data)
    name = names[node]
    return _Term(name, node.data, _ATOM if _SIMPLE.fullmatch(name) else _LOOSE)


def _op_term(op: Op, attrs: tuple[Any, ...], parts: Sequence[_Term]) -> _Term:
    """The op applied to ``parts``, written out: 'a + b', 'x**2', 'w1*x1 + w2*x2 + b', 'tanh(n)'."""
    data = _forward_data(op, attrs, parts)
    notation = op.notation  # the row says how it is written out; the narration does not test which op it is
    form, symbol = (notation.form, notation.symbol) if notation is not None else ("", "")
    if form == "infix" and symbol in ("+", "*", "**") and len(parts) == 2:
        term = parts[0] + parts[1] if symbol == "+" else parts[0] * parts[1] if symbol == "*" else parts[0] ** parts[1]
        return _Term(term.text, data, term.rank)
    if form == "power" and len(parts) == 1 and len(attrs) == 1:
        return _Term((parts[0] ** _Term.number(float(attrs[0]))).text, data, _POWER)
    if form == "sum_of_products" and notation is not None and parts:
        bias = notation.bias
        count = (len(parts) - 1) // 2 if bias else len(parts) // 2
        if 2 * count + bias == len(parts):
            terms = [(w * x).text for w, x in zip(parts[:count], parts[count : 2 * count], strict=True)]
            if bias:
                terms.append(_operand_text(parts[-1], _SUM + 1))
            return _Term(" + ".join(terms) or "0", data, _SUM if len(terms) > 1 else _PRODUCT)
    keywords = [f"{key}={_number(value)}" for key, value in zip(op.attrs, attrs, strict=True)]
    arguments = [part.text for part in parts] + keywords
    return _Term(f"{op.name}({', '.join(arguments)})", data, _ATOM)


def _forward_data(op: Op, attrs: tuple[Any, ...], parts: Sequence[_Term]) -> float:
    try:
        return float(op.forward(*(part.data for part in parts), **dict(zip(op.attrs, attrs, strict=True))))
    except Exception:  # only a branch of a rule may look at this number; nan never raises
        return math.nan


def _local_rules(node: Value, names: dict[Value, str]) -> list[str]:
    """d node / d child for each child, written out from the op's row; [] if that cannot be done.

    The row's derivative is run on terms standing for the children and the node
    itself. A rule that does not work on them (one that calls numpy, say) or
    whose text would be too long to read gives [], and the narration shows the
    stored number with the row's doc.
    """
    fn = node._fn
    if fn is None:
        return []
    children = [_name_term(child, names) for child in node._prev]
    out = _Term(names[node], node.data, _ATOM if _SIMPLE.fullmatch(names[node]) else _LOOSE)
    try:
        rules = fn.local_grads(tuple(children), out, node._attrs)
    except Exception:  # any rule at all may be in the table; the stored numbers are shown anyway
        return []
    texts = []
    for rule in rules:
        if isinstance(rule, _Term):
            texts.append(rule.text)
        elif isinstance(rule, numbers.Real):
            texts.append(_number(float(rule)))
        else:
            return []
    if any(len(text) > _MAX_RULE_LENGTH for text in texts):
        return [_rule_placeholder(node) for _ in texts]
    return texts


def _rule_placeholder(node: Value) -> str:
    """What a step shows for a rule too long to write out: the row's doc states it instead."""
    return f"{node._fn.name}'s rule" if node._fn is not None else ""


# ----------------------------------------------------------------------
# Replaying the graph with other leaf values (for the numerical check)
# ----------------------------------------------------------------------


def replay(root: Value, leaf_values: dict[Value, float]) -> float:
    """The value ``root`` would have if some leaves held other numbers; the graph is not changed.

    Walks the recorded graph in topological order and recomputes each node
    from its children with its op from the table and the node's constants
    (``_fn`` and ``_attrs``), applied to Values as the engine applies it, so
    the numbers and the errors are exactly those of a fresh forward pass:
    ValueError or ArithmeticError if a new value is outside an op's domain.
    A node made by hand has no op of the table to recompute it with: that is a
    ValueError naming its label.
    """
    order = topological_order(root)
    values: dict[Value, float] = {}
    with no_grad():  # only numbers are wanted, no graph
        for node in order:
            if not node._prev:
                values[node] = float(leaf_values.get(node, node.data))
                continue
            fn = node._fn
            if fn is None:
                raise ValueError(
                    f"replay: cannot recompute the node made by hand with op {node._op!r}: "
                    "it has no op of the table (micrograd.ops) to compute it with"
                )
            inputs = [Value(values[child]) for child in node._prev]
            values[node] = float(fn(*inputs, **dict(zip(fn.attrs, node._attrs, strict=True))).data)
    return values[root]


# ----------------------------------------------------------------------
# The narration
# ----------------------------------------------------------------------


class Explanation(str):
    """The text :func:`explain` printed, as a ``str``; its repr is one short line.

    So ``explain(root)`` as the last line of a notebook cell (or at the ``>>>``
    prompt) shows the narration once -- printed -- and not a second time as the
    quoted repr of the returned string. Everything else is the text's: compare it,
    search it, ``print()`` it to read it again.
    """

    subject = ""  # the name of the explained Value
    where = ""  # where explain wrote the text: "" (quiet), ", printed above" or ", written to its file"

    def __repr__(self) -> str:
        return f"<explanation of {self.subject}: {self.count(chr(10))} lines{self.where}; print() it to read it>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how IPython shows a cell's result
        printer.text(repr(self))


def explain(
    root: Value,
    *,
    file: TextIO | None = None,
    quiet: bool = False,
    check: bool = True,
    eps: float = 1e-6,
    max_nodes: int = EXPLAIN_MAX_NODES,
) -> Explanation:
    """Print the forward pass, every backward step and a numerical check; return the same text.

    Prints to ``file`` (default: standard output) unless ``quiet``. The text is
    returned as an :class:`Explanation`, a ``str`` whose repr is one short line,
    so that in a notebook ``explain(root)`` does not show the text twice. Leaves every
    ``.grad`` as it was: the steps are the engine's own, run by
    :func:`trace_backward`, which puts the gradients back afterwards (call
    ``root.backward()`` yourself to fill in the graph, e.g. before
    ``draw_dot``). With ``check``, each leaf's gradient is compared with
    :func:`numerical_grad`, which nudges the leaf by ``eps`` and re-evaluates
    the graph with :func:`replay`.
    """
    if not isinstance(root, Value):
        raise TypeError(f"explain: root must be a Value, got {type(root).__name__}")
    check_eps("explain", eps)  # up front: otherwise every leaf of the check table says "cannot nudge here"
    trace = trace_backward(root, max_nodes=max_nodes)
    lines = _forward_lines(trace) + [""] + _backward_lines(trace)
    if check:
        lines += [""] + _check_lines(root, trace, eps)
    text = "\n".join(lines) + "\n"
    result = Explanation(text)
    result.subject = trace.node(trace.root).name
    if not quiet:
        stream = file if file is not None else sys.stdout
        stream.write(text)
        result.where = ", printed above" if stream in (sys.stdout, sys.stderr) else ", written to its file"
    return result


def _number(x: float) -> str:
    """Numbers in the narration: 6 significant digits, and never '-0'."""
    return f"{x + 0.0:.6g}"  # adding 0.0 turns -0.0 into 0.0


def _wrap(text: str) -> str:
    """Brackets around a compound name or a negative number, so a formula reads unambiguously."""
    return text if _SIMPLE.fullmatch(text) else f"({text})"


def _same_text(a: str, b: str) -> bool:
    return a.replace(" ", "") == b.replace(" ", "")


def _heading(info: NodeInfo) -> str:
    """'n = a + b', or just the name when the formula is the name already (or there is none)."""
    return info.name if not info.formula or _same_text(info.name, info.formula) else f"{info.name} = {info.formula}"


def _forward_lines(trace: BackwardTrace) -> list[str]:
    lines = ["Forward pass (each value from its inputs, in topological order):"]
    for info in trace.nodes:
        if not info.children:
            kind = "a constant" if info.is_constant else "an input"
            lines.append(f"  {info.name} = {_number(info.data)}   ({kind})")
        elif not info.formula:
            inputs = ", ".join(trace.node(child).name for child in info.children)
            lines.append(
                f"  {info.name} = {_number(info.data)}   (made by hand from {inputs}, op {info.op!r}: "
                "no op of the table computed it)"
            )
        else:
            lines.append(f"  {_heading(info)} = {info.values} = {_number(info.data)}")
    return lines


def _backward_lines(trace: BackwardTrace) -> list[str]:
    """The seed, then the steps numbered one per edge -- one ``child.grad += local * node.grad``
    each -- as the backward page counts them, under a line for the node that passes its grad back."""
    root = trace.node(trace.root)
    r = _wrap(root.name)
    count = len(trace.steps)
    lines = [
        f"Backward pass (the chain rule, from the output back to the inputs): "
        f"{count} step{'' if count == 1 else 's'}, one per edge",
        f"  {r}.grad = 1   (the seed: d{r}/d{r} = 1)",
        "  Each step passes a node's grad to one of its inputs: input.grad += local derivative * node.grad",
    ]
    current_parent = 0
    for number, step in enumerate(trace.steps, start=1):
        parent = trace.node(step.parent)
        child = trace.node(step.child)
        if step.parent != current_parent:
            current_parent = step.parent
            lines.append(
                f"  {_heading(parent)}   [{_op_note(parent)}]   upstream {_wrap(parent.name)}.grad = "
                f"{_number(step.upstream)}"
            )
        lines.append(f"    step {number} -> {child.name}: " + _step_text(step, parent, child))
    lines.append(f"Gradients d{r}/d(leaf):")
    for info in trace.nodes:
        if not info.children and not info.is_constant:
            lines.append(f"  {info.name}.grad = {_number(trace.grads[info.index])}")
    return lines


def _op_note(node: NodeInfo) -> str:
    """'op tanh', and the row's rule only where the steps cannot write it in the graph's names.

    The row's rule names the op's inputs with letters of its own (``d/da = b, d/db = a`` for
    ``*``); next to a user's ``b`` those would read as the user's names, so it is said whose they are.
    """
    note = f"op {node.op}"
    if not node.formula:
        return note + ", made by hand"
    if node.rule and not node.rule_written:
        note += f"; its rule in the op's own letters, not the graph's names: {node.rule}"
    return note


def _step_text(step: GradientStep, parent: NodeInfo, child: NodeInfo) -> str:
    grad = f"{_wrap(child.name)}.grad"
    if step.how == NOTHING:
        return (
            f"no local d{_wrap(parent.name)}/d{_wrap(child.name)} was recorded when the node was made, "
            f"so it passes nothing back (as backward does);  {grad} stays {_number(step.after)}"
        )
    if step.how == BY_OWN_BACKWARD:
        local = "" if math.isnan(step.local) else f" (= {_number(step.local)} * {_wrap(_number(step.upstream))})"
        return (
            f"the node's own _backward function changed {grad} by {_number(step.product)}{local};  "
            f"{grad} = {_number(step.before)} + {_wrap(_number(step.product))} = {_number(step.after)}"
        )
    rule, local = step.local_rule, _number(step.local)
    local_text = local if rule == local else f"{rule} = {local}"
    return (
        f"local d{_wrap(parent.name)}/d{_wrap(child.name)} = {local_text};  "
        f"{local} * {_wrap(_number(step.upstream))} = {_number(step.product)};  "
        f"{grad} = {_number(step.before)} + {_wrap(_number(step.product))} = {_number(step.after)}"
    )


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
