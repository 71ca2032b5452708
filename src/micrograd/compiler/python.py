"""The Python engine: a plan as straight-line code over floats, in one loop over the batch.

The generated function reads the parameters into locals, then for each example
runs the recorded ops forward (one statement per value, except that a value used
once is written straight into the expression that uses it) and the chain rule
backward, summing each parameter's gradient in a local. Every op's value and
local derivative come from its row of the table: the code calls ``op_tanh_f(x)``
and ``op_tanh_d(x, out)``, which are the row's own ``forward`` and ``derivative``,
put in the namespace of the generated code. Only the rows with a ``notation``
(``micrograd.ops.Notation``: ``+``, ``*``, ``linear``, ``dot``, ``relu`` and
``x ** <integer>``) are written inline, as Python arithmetic that gives the very
same floats (a test holds them to the table), and only the derivatives their
notation implies are written out: 1 for ``+``, the other factor for ``*``, x for
w, w for x and 1 for a bias. The emitter asks the row; it never tests which op it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from micrograd.compiler._text import CHUNK, Symbols, chunked_sum, literal, unpack, wrapped
from micrograd.compiler.plan import Plan, PlanNode
from micrograd.ops import Op

__all__ = ["example_source", "regularizer_source", "namespace", "inline_forward", "inline_derivatives"]

# Operator precedence, to print nested expressions with only the parentheses Python needs.
_CONDITIONAL, _SUM, _PRODUCT, _NEGATIVE, _POWER, _ATOM = 1, 5, 6, 7, 8, 10
_INFIX = {"+": _SUM, "*": _PRODUCT}  # the row operators written inline, and their precedence
# Inlined expressions nest; past this depth a value gets its own statement (Python's parser nests too).
_MAX_INLINE_DEPTH = 50

Expression = tuple[str, int]  # source text and the precedence of its outermost operator


def _operand(expression: Expression, weakest_allowed: int) -> str:
    text, level = expression
    return text if level >= weakest_allowed else f"({text})"


def _leaf(text: str) -> Expression:
    return text, (_NEGATIVE if text.startswith("-") else _ATOM)


# ----------------------------------------------------------------------
# The inline ops: the same floats as the table's functions, without a call
# ----------------------------------------------------------------------


def _integer_exponent(op: Op, attrs: Sequence[Any]) -> bool:
    if not op.written_as("power") or len(attrs) != 1 or not isinstance(attrs[0], float):
        return False
    k = attrs[0]
    return k.is_integer() and abs(k) < 1e15


def inline_forward(op: Op, attrs: Sequence[Any], args: Sequence[Expression]) -> Expression | None:
    """The op's value as inline Python, or None when it is called from the table.

    ``relu`` reads its operand twice: the caller passes it a name. ``x ** k`` for an
    integral float k is what ``ops.float_pow`` computes (the same float, and the same
    ZeroDivisionError and OverflowError); fractional powers go through the table.
    """
    notation = op.notation
    if notation is None:
        return None
    level = _INFIX.get(notation.symbol) if notation.form == "infix" else None
    if level is not None:  # + and *: Python's own operators give the row's floats
        return f"{_operand(args[0], level)} {notation.symbol} {_operand(args[1], level + 1)}", level
    if notation.form == "sum_of_products":  # bias + w1*x1 + w2*x2 ..., left to right as the table adds
        n = len(args) // 2
        if n > CHUNK:
            return None  # written as several statements, see _sum_of_products
        start = _operand(args[-1], _SUM) if notation.bias else "0.0"
        products = _products(args)
        return " + ".join([start, *products]), _SUM
    if notation.form == "clip_below_zero":
        x = args[0][0]
        return f"0.0 if {x} < 0.0 else {x}", _CONDITIONAL  # as ops.relu: NaN flows through
    if _integer_exponent(op, attrs):
        return f"{_operand(args[0], _POWER + 1)} ** {literal(attrs[0])}", _POWER
    return None


def _products(args: Sequence[Expression]) -> list[str]:
    """``w_i * x_i`` for the inputs (w_1..w_n, x_1..x_n[, b]) of a linear or dot."""
    n = len(args) // 2
    pairs = zip(args[:n], args[n : 2 * n], strict=True)
    return [f"{_operand(w, _PRODUCT)} * {_operand(x, _PRODUCT + 1)}" for w, x in pairs]


def _sum_of_products(target: str, op: Op, args: Sequence[Expression]) -> list[str]:
    """A long linear or dot as statements of at most CHUNK products each, added in the table's order."""
    products = _products(args)
    start = _operand(args[-1], _SUM) if _has_bias(op) else "0.0"
    return chunked_sum(target, products, start)


def _has_bias(op: Op) -> bool:
    return op.notation is not None and op.notation.bias


def inline_derivatives(op: Op, args: Sequence[str]) -> list[str | None] | None:
    """The trivial local derivatives, one per input (None stands for exactly 1), or None for the table's rule.

    The row's notation says which they are: 1 and 1 for ``a + b``, the other factor for ``a * b``,
    x for w, w for x and 1 for the bias of a sum of products.
    """
    if op.written_as("infix", "+"):
        return [None, None]
    if op.written_as("infix", "*"):
        return [args[1], args[0]]
    if op.written_as("sum_of_products"):
        n = len(args) // 2
        return [*args[n : 2 * n], *args[:n], *([None] if _has_bias(op) else [])]
    return None


# ----------------------------------------------------------------------
# Forward and backward
# ----------------------------------------------------------------------


def _names(plan: Plan) -> list[str]:
    """The name (or literal) of each node's value in the generated code."""
    names = []
    for k, node in enumerate(plan.nodes):
        if node.kind == "param":
            names.append(f"p{node.slot}")
        elif node.kind == "input":
            names.append(f"x{node.slot}")
        elif node.kind == "target":
            names.append("t")
        elif node.kind in ("constant", "fixed"):
            names.append(literal(node.const))
        else:
            names.append(f"v{k}")
    return names


def _read_by_backward(plan: Plan) -> set[int]:
    """The nodes whose values the backward pass reads (they get a name of their own)."""
    read: set[int] = set()
    needs = plan.needs_grad
    for k, node in enumerate(plan.nodes):
        if node.kind != "op" or node.op is None or not needs[k] or node.op.written_as("infix", "+"):
            continue
        kids = node.children
        if node.op.written_as("infix", "*"):
            read.update(kids[1 - i] for i in (0, 1) if needs[kids[i]])
        elif node.op.written_as("sum_of_products"):
            n = len(kids) // 2
            read.update(kids[n + i] for i in range(n) if needs[kids[i]])
            read.update(kids[i] for i in range(n) if needs[kids[n + i]])
        else:  # the table's derivative(*inputs, out)
            read.update(kids)
            read.add(k)
    return read


def _forward(plan: Plan, symbols: Symbols, names: list[str]) -> list[str]:
    """One statement per op node, except that a value used once, and not read by the backward
    pass, is written straight into the expression that uses it (fewer lines: faster to compile)."""
    read = _read_by_backward(plan)
    uses = plan.uses()
    # clip_below_zero reads its operand twice (x < 0.0, then x): a name, not an expression
    named = {c for node in plan.nodes if node.op is not None and node.op.written_as("clip_below_zero")
             for c in node.children}
    expressions: list[Expression] = []
    depth = [0] * len(plan)
    lines: list[str] = []
    for k, node in enumerate(plan.nodes):
        if node.kind != "op":
            expressions.append(_leaf(names[k]))
            continue
        assert node.op is not None
        kids = [expressions[c] for c in node.children]
        expression = inline_forward(node.op, node.attrs, kids)
        if expression is None and node.op.written_as("sum_of_products"):
            lines += _sum_of_products(names[k], node.op, kids)
            expressions.append((names[k], _ATOM))
            continue
        if expression is None:
            expression = symbols.call(symbols.forward(node.op), node.op, [e[0] for e in kids], node.attrs), _ATOM
        depth[k] = 1 + max((depth[c] for c in node.children), default=0)
        inline = k != plan.root and uses[k] == 1 and k not in read and k not in named and depth[k] < _MAX_INLINE_DEPTH
        if inline:
            expressions.append(expression)
        else:
            lines.append(f"{names[k]} = {expression[0]}")
            expressions.append((names[k], _ATOM))
            depth[k] = 0
    return lines


def _backward(plan: Plan, symbols: Symbols, names: list[str], seed: str) -> tuple[list[str], list[str]]:
    """The chain rule in reverse topological order (the order backward() visits nodes).

    Returns the statements for the nodes' gradients ``d<k>``, then those adding to
    the parameters' gradients ``g<j>``. A node's contributions are summed when all
    have arrived, in the order backward() adds them; a gradient passed on unchanged
    (through ``+``) just reuses the name. Nodes that do not depend on a parameter get
    no gradient code at all.
    """
    needs = plan.needs_grad
    contributions: dict[int, list[str]] = {plan.root: [seed]} if needs[plan.root] else {}
    lines: list[str] = []
    for k in range(plan.root, -1, -1):
        node = plan.nodes[k]
        if node.kind not in ("op", "fixed") or not needs[k]:
            continue
        terms = contributions.pop(k, None)
        if not terms:  # nothing reaches it (a node made by hand passes no gradient)
            continue
        if len(terms) == 1 and terms[0].isidentifier():
            grad = terms[0]  # a bare name: pass it on, no statement
        else:
            grad = f"d{k}"
            lines += chunked_sum(grad, terms)
        for child, local in zip(node.children, _local_derivatives(plan, symbols, names, k, lines), strict=False):
            if needs[child]:
                contributions.setdefault(child, []).append(grad if local is None else f"{local} * {grad}")
    param_lines: list[str] = []
    for k, node in enumerate(plan.nodes):
        if node.kind == "param" and k in contributions:
            param_lines += chunked_sum(f"g{node.slot}", contributions[k], start=f"g{node.slot}")
    return lines, param_lines


def _local_derivatives(plan: Plan, symbols: Symbols, names: list[str], k: int, lines: list[str]) -> list[str | None]:
    """d node / d child for each child, as expressions (None: exactly 1); may add a statement to ``lines``."""
    node: PlanNode = plan.nodes[k]
    kids = [names[c] for c in node.children]
    if node.kind == "fixed":  # made by hand: the derivatives it was given, as backward() uses them
        return [literal(g) for g in node.fixed_grads]
    assert node.op is not None
    trivial = inline_derivatives(node.op, kids)
    if trivial is not None:
        return trivial
    call = symbols.call(symbols.derivative(node.op), node.op, [*kids, names[k]], node.attrs)
    if len(kids) == 1:
        return [call]
    targets = [f"l{k}_{i}" if plan.needs_grad[c] else "_" for i, c in enumerate(node.children)]
    lines.append(unpack(targets, call))
    return [None if t == "_" else t for t in targets]


# ----------------------------------------------------------------------
# The generated functions
# ----------------------------------------------------------------------


def _indent(lines: Sequence[str], indent: str) -> list[str]:
    return [indent + line.replace("\n", "\n" + indent) for line in lines]


def _prologue(plan: Plan, used: list[int]) -> list[str]:
    """Read every parameter's data into a local p<j>, and start the gradient g<j> of each used one at 0."""
    lines = [
        "    # parameter values, read once per call",
        "    (",
        f"        {wrapped([f'p{j}' for j in range(plan.n_params)], '        ')},",
        "    ) = [param.data for param in params]",
        "    # g<j> sums d loss / d p<j>",
    ]
    for i in range(0, len(used), CHUNK):
        lines.append("    " + " = ".join(f"g{j}" for j in used[i : i + CHUNK]) + " = 0.0")
    return lines


def _epilogue(plan: Plan, used: list[int]) -> list[str]:
    every = used == list(range(plan.n_params))
    chosen = "params" if every else f"(\n        {wrapped([f'params[{j}]' for j in used], '        ')},\n    )"
    return [
        "    # add the gradients to .grad, as backward() does",
        f"    for param, grad in zip({chosen}, (",
        f"        {wrapped([f'g{j}' for j in used], '        ')},",
        "    )):",
        "        param.grad += grad",
    ]


def example_source(plan: Plan, symbols: Symbols) -> str:
    """``loss_and_backward(rows, targets, params, scale)``: the mean loss over the batch, gradients added to .grad."""
    names = _names(plan)
    used = plan.used_params()
    backward, param_lines = _backward(plan, symbols, names, "scale")
    forward = _forward(plan, symbols, names)
    inputs = [f"x{i}" for i in range(plan.n_inputs)]
    body = "        "
    lines = [
        "def loss_and_backward(rows, targets, params, scale):",
        '    """Mean loss over the rows (scale = 1 / len(rows)); adds its gradient to params[j].grad."""',
        *(_prologue(plan, used) if used else []),
        "    total = 0.0",
        f"    for (\n        {wrapped(inputs, '        ')},\n    ), t in zip(rows, targets):",
        f"{body}# forward: the recorded ops (a value used once is written into its user)",
        *_indent(forward, body),
        f"{body}total += {names[plan.root]}",
        f"{body}# backward: d<k> is d (this example's loss * scale) / d v<k>",
        *_indent(backward + param_lines, body),
        *(_epilogue(plan, used) if used else []),
        "    return total * scale",
    ]
    return "\n".join(lines) + "\n"


def regularizer_source(plan: Plan, symbols: Symbols) -> str:
    """``regularizer_and_backward(params)``: the regularizer's value, its gradient added to .grad."""
    names = _names(plan)
    used = plan.used_params()
    backward, param_lines = _backward(plan, symbols, names, "1.0")
    forward = _forward(plan, symbols, names)
    lines = [
        "def regularizer_and_backward(params):",
        '    """The regularizer (a function of the parameters alone); adds its gradient to params[j].grad."""',
        *(_prologue(plan, used) if used else []),
        "    # forward",
        *_indent(forward, "    "),
        "    # backward",
        *_indent(backward + param_lines, "    "),
        *(_epilogue(plan, used) if used else []),
        f"    return {names[plan.root]}",
    ]
    return "\n".join(lines) + "\n"


def namespace(symbols: Symbols) -> dict[str, Any]:
    """The generated code's globals: each op's own forward and derivative, from the table."""
    return symbols.namespace(lambda op: (op.forward, op.derivative))
