"""The numpy engine: a plan evaluated for the whole batch at once, one matrix product per layer.

Every node of the plan is a scalar (parameters, constants, and ops on them
alone), a column of B numbers (inputs, the target, and ops on them), or one
column of a *block* (see ``plan.layout``), a (B, m) array computed by one numpy
op for m nodes at once: a layer's neurons as ``A @ W.T + b``, an activation of a
layer as one call. Every other op is computed on its own, still on columns.

Ops come from the table: the code calls ``op_tanh_f(x)`` and ``op_tanh_d(x, out)``,
the rows' own ``forward`` and ``derivative`` evaluated on arrays, through a small
wrapper (``ArrayOp``) that gives the eager engine's errors: where a result is inf
or nan, it evaluates the row again on the floats of those entries, so that what
raises eagerly (the log of a negative number, an exp that overflows) raises the
same exception here, and what gives inf or nan eagerly gives it here too. An op
whose forward only takes floats (written with ``math``) is applied entry by entry.
Only the rows whose notation says how (``micrograd.ops.Notation``: ``+``, ``*``,
``linear``, ``dot`` and ``relu``) are written inline, and the derivatives their
notation implies (1, the other factor, x for w and w for x). A row with a
``batched`` pair is called with its inputs stacked, one array operation for all.

The same writer also writes the GPT's programs (``micrograd.compiler.gpt``), whose nodes are
not columns of a batch but *groups*: the nodes of one row at one depth, gathered from one
array ``V`` of every node's value and computed by the row's array code at once (``Group``).
Forward and backward are the same two walks over the statements (``_Writer.forward`` and
``_Writer.backward``); only where the gradient starts and how it ends differ (``_GroupWriter``).
A group that is a layer applied at every position (``DenseGrid``) passes its gradient back as
two matrix products, as a dense block does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from micrograd.compiler._text import Symbols, chunked_sum, literal, unpack, wrapped
from micrograd.compiler.plan import DenseBlock, Layout, Plan
from micrograd.compiler.python import inline_derivatives
from micrograd.ops import Op

__all__ = [
    "example_source", "namespace", "ArrayOp", "inline_forward",
    "Group", "DenseGrid", "dense_grid", "group_program", "group_namespace",
]


def inline_forward(op: Op, args: Sequence[str]) -> str | None:
    """The value of a row written as ``a + b``, ``a * b`` or ``0.0 if x < 0.0 else x`` (its notation), as inline
    numpy giving the same numbers as the row, else None."""
    if op.written_as("infix", "+") or op.written_as("infix", "*"):
        assert op.notation is not None
        return f"{args[0]} {op.notation.symbol} {args[1]}"
    if op.written_as("clip_below_zero"):
        return f"np.where({args[0]} < 0.0, 0.0, {args[0]})"  # as ops.relu: NaN flows through
    return None


@dataclass(frozen=True)
class _Theta:
    """Where each weight of the dense blocks sits in theta = [param.data ...] + constants."""

    constants: tuple[float, ...]
    weights: dict[int, list[list[int]]]  # block -> rows of theta indices
    biases: dict[int, list[int]]  # block -> theta indices (linear blocks only)


def _theta(plan: Plan, layout: Layout) -> _Theta:
    constants: list[float] = []
    weights: dict[int, list[list[int]]] = {}
    biases: dict[int, list[int]] = {}

    def index(k: int) -> int:
        node = plan.nodes[k]
        if node.kind == "param":
            return node.slot
        constants.append(node.const)
        return plan.n_params + len(constants) - 1

    for b, block in enumerate(layout.blocks):
        if isinstance(block, DenseBlock):
            weights[b] = [[index(c) for c in row] for row in block.weights]
            if block.biases is not None:
                biases[b] = [index(c) for c in block.biases]
    return _Theta(tuple(constants), weights, biases)


class _Writer:
    """Writes one plan's code; everything it writes follows from the plan and its layout."""

    def __init__(self, plan: Plan, layout: Layout, symbols: Symbols) -> None:
        self.plan = plan
        self.layout = layout
        self.symbols = symbols
        self.theta = _theta(plan, layout)
        self.input_matrix: dict[int, str] = {}  # dense block -> its input matrix
        self.map_input: dict[int, str] = {}  # map block -> the array it maps
        self.header: list[str] = []

    def value(self, k: int) -> str:
        node = self.plan.nodes[k]
        if node.kind == "param":
            return f"p{node.slot}"
        if node.kind == "input":
            return f"X[:, {node.slot}]"
        if node.kind == "target":
            return "t"
        if node.kind in ("constant", "fixed"):
            return literal(node.const)
        at = self.layout.block_of.get(k)
        if at is not None:
            return f"h{at[0]}[:, {at[1]}]"
        return f"v{k}"

    def width(self, b: int) -> int:
        return len(self.layout.blocks[b].members)

    def index_array(self, name: str, items: Sequence[int], comment: str = "") -> None:
        self.header.append(f"{name} = np.array({_list_text([str(i) for i in items])}, dtype=np.intp){comment}")

    # -- forward --------------------------------------------------------------

    def forward(self) -> list[str]:
        """Every statement's value, in the layout's order."""
        write = {"node": self.node_forward, "block": self.block_forward, "group": self.group_forward}
        lines: list[str] = []
        for what, number in self.statements():
            lines += write[what](number)
        return lines

    def statements(self) -> Sequence[tuple[str, int]]:
        return self.layout.statements

    def group_forward(self, g: int) -> list[str]:
        raise NotImplementedError("a layout of nodes and blocks has no groups")  # see _GroupWriter

    def node_forward(self, k: int) -> list[str]:
        node = self.plan.nodes[k]
        if node.kind == "fixed":
            return []  # its value is the recorded number
        op = node.op
        assert op is not None
        kids = [self.value(c) for c in node.children]
        inline = inline_forward(op, kids)
        if inline is not None:
            return [f"v{k} = {inline}"]
        if op.written_as("sum_of_products") and op.notation is not None:
            n = len(kids) // 2
            products = [f"{w} * {x}" for w, x in zip(kids[:n], kids[n : 2 * n], strict=True)]
            return chunked_sum(f"v{k}", products, kids[-1] if op.notation.bias else "0.0")
        return [f"v{k} = {self.symbols.call(self.symbols.forward(op), op, kids, node.attrs)}"]

    def block_forward(self, b: int) -> list[str]:
        block = self.layout.blocks[b]
        if isinstance(block, DenseBlock):
            matrix = self.input_matrix[b] = self._input_matrix(block.inputs)
            bias = f" + b{b}" if block.biases is not None else ""
            return [
                f"# dense block h{b}: {len(block.members)} neurons reading the same {len(block.inputs)} inputs",
                f"A{b} = {matrix}",
                f"h{b} = A{b} @ W{b}.T{bias}",
            ]
        source = f"h{block.source}"
        lines = [f"# map block h{b}: {block.op.name} of {len(block.columns)} columns of {source}"]
        if list(block.columns) != list(range(self.width(block.source))):
            self.index_array(f"columns{b}", block.columns, f"  # the columns of {source} that h{b} maps")
            lines.append(f"A{b} = {source}[:, columns{b}]")
            source = f"A{b}"
        self.map_input[b] = source
        call = inline_forward(block.op, [source]) or self.symbols.call(
            self.symbols.forward(block.op), block.op, [source], block.attrs
        )
        return [*lines, f"h{b} = {call}"]

    def _input_matrix(self, inputs: tuple[int, ...]) -> str:
        """The (B, n) matrix of a dense block's inputs: X or an earlier block when it is exactly that."""
        nodes, block_of = self.plan.nodes, self.layout.block_of
        if [nodes[c].kind for c in inputs] == ["input"] * len(inputs) and [nodes[c].slot for c in inputs] == list(
            range(self.plan.n_inputs)
        ):
            return "X"
        first = block_of.get(inputs[0])
        if first is not None and [block_of.get(c) for c in inputs] == [
            (first[0], i) for i in range(self.width(first[0]))
        ]:
            return f"h{first[0]}"
        return f"np.stack({_list_text([self.value(c) for c in inputs])}, axis=1)"

    # -- backward -------------------------------------------------------------

    def backward(self) -> list[str]:
        """Reverse mode: the statements in reverse order, each passing its gradient on to what it read.

        This walk is the numpy engine's one reverse pass, for a batch of examples (here) and for
        a GPT's document (``_GroupWriter``); they differ in where the gradient starts (``seed``) and
        how the parameters' gradients are gathered at the end (``gradient_lines``).
        """
        grads = _Gradients(self.plan)
        self.seed(grads)
        pass_back = {"node": self.node_backward, "block": self.block_backward, "group": self.group_backward}
        for what, number in reversed(self.statements()):
            pass_back[what](number, grads)
        self.gradient_lines(grads)
        return grads.lines

    def seed(self, grads: _Gradients) -> None:
        """d loss / d loss: a column of ``scale`` (each example's loss counts ``scale`` in the total).

        A node's gradient ``d<k>`` is a column of B numbers (a block's, ``dh<b>``, is
        (B, m)); its terms are summed once all have arrived. Parameter gradients are
        collected as (index into theta, values) pairs and summed by one ``np.bincount``.
        """
        plan = self.plan
        grads.lines.append("# backward: d<k> is d (sum of the batch's losses * scale) / d v<k>, one entry per example")
        if plan.needs_grad[plan.root]:
            grads.add(plan.root, "np.full(B, scale)")

    def group_backward(self, g: int, grads: _Gradients) -> None:
        raise NotImplementedError("a layout of nodes and blocks has no groups")  # see _GroupWriter

    def node_backward(self, k: int, grads: _Gradients) -> None:
        """Pass one node's gradient on to its children, each times its local derivative."""
        needs = self.plan.needs_grad
        terms = grads.node_terms.pop(k, None)
        if not needs[k] or not terms:
            return
        grad = grads.total(f"d{k}", terms)
        for child, local in zip(self.plan.nodes[k].children, self.local_derivatives(k, grads.lines), strict=False):
            if needs[child]:
                grads.add(child, grad if local is None else f"{local} * {grad}")

    def block_backward(self, number: int, grads: _Gradients) -> None:
        """A block's gradient (B, m): a dense block's to its weights and inputs, a map block's to its source."""
        needs, block = self.plan.needs_grad, self.layout.blocks[number]
        if not any(needs[m] for m in block.members):
            return
        columns = [grads.node_terms.pop(m, None) for m in block.members]
        if any(columns):  # gradients that reached single columns: stacked into the block's
            stacked = [grads.total(f"d{m}", terms) if terms else grads.zero() for m, terms in
                       zip(block.members, columns, strict=True)]
            grads.block_terms.setdefault(number, []).append(f"np.stack({_list_text(stacked)}, axis=1)")
        terms = grads.block_terms.pop(number, None)
        if not terms:
            return
        dh = grads.total(f"dh{number}", terms)
        if isinstance(block, DenseBlock):
            self.dense_backward(number, block, dh, grads)
            return
        source = self.map_input[number]
        local = self.symbols.call(self.symbols.derivative(block.op), block.op, [source, f"h{number}"], block.attrs)
        if source == f"h{block.source}":
            grads.block_terms.setdefault(block.source, []).append(f"{local} * {dh}")
        else:  # some columns of the source: passed on column by column
            grads.lines.append(f"dm{number} = {local} * {dh}")
            members = self.layout.blocks[block.source].members
            for i, column in enumerate(block.columns):
                grads.add(members[column], f"dm{number}[:, {i}]")

    def dense_backward(self, number: int, block: DenseBlock, dh: str, grads: _Gradients) -> None:
        """A layer: its weights' gradient as one matrix product, and its inputs' as another."""
        grads.lines.append(f"dW{number} = {dh}.T @ A{number}")
        grads.scatter.append((f"W{number}_index.ravel()", f"dW{number}.ravel()"))
        if block.biases is not None:
            grads.scatter.append((f"b{number}_index", f"{dh}.sum(axis=0)"))
        if any(self.plan.needs_grad[c] for c in block.inputs):
            grads.lines.append(f"dA{number} = {dh} @ W{number}")
            matrix = self.input_matrix[number]
            if matrix.startswith("h"):
                grads.block_terms.setdefault(int(matrix[1:]), []).append(f"dA{number}")
            else:
                for i, child in enumerate(block.inputs):
                    grads.add(child, f"dA{number}[:, {i}]")

    def gradient_lines(self, grads: _Gradients) -> None:
        """Every parameter's gradient, summed over the batch and over its uses, in one ``np.bincount``."""
        lines = grads.lines
        scatter = grads.scatter
        slots = sorted(grads.param_terms)
        if slots:
            sums = [f"np.sum({grads.total(f'gp{j}', grads.param_terms[j])})" for j in slots]
            self.index_array("scalar_index", slots, "  # the parameters read outside dense blocks")
            scatter.append(("scalar_index", f"np.array({_list_text(sums)})"))
        lines.append("# every parameter's gradient, summed over the batch and over its uses")
        if scatter:
            indices = _list_text([i for i, _ in scatter])
            weights = _list_text([v for _, v in scatter])
            lines.append(f"gradient = np.bincount(np.concatenate({indices}), weights=np.concatenate({weights}),")
            lines.append("                       minlength=n_theta)")
        else:
            lines.append("gradient = np.zeros(n_theta)")

    def local_derivatives(self, k: int, lines: list[str]) -> list[str | None]:
        """d node / d child for each child (None: exactly 1); may add a statement to ``lines``."""
        node = self.plan.nodes[k]
        if node.kind == "fixed":
            return [literal(g) for g in node.fixed_grads]
        op = node.op
        assert op is not None
        kids = [self.value(c) for c in node.children]
        trivial = inline_derivatives(op, kids)
        if trivial is not None:
            return trivial
        call = self.symbols.call(self.symbols.derivative(op), op, [*kids, f"v{k}"], node.attrs)
        if len(kids) == 1:
            return [call]
        targets = [f"l{k}_{i}" if self.plan.needs_grad[c] else "_" for i, c in enumerate(node.children)]
        lines.append(unpack(targets, call))
        return [None if t == "_" else t for t in targets]

    # -- the function ---------------------------------------------------------

    def source(self) -> str:
        plan, layout = self.plan, self.layout
        forward = self.forward()
        backward = self.backward()
        used = plan.used_params()
        scalar = sorted(
            {
                plan.nodes[c].slot
                for what, k in layout.statements
                if what == "node"
                for c in plan.nodes[k].children
                if plan.nodes[c].kind == "param"
            }
            | ({plan.nodes[plan.root].slot} if plan.nodes[plan.root].kind == "param" else set())
        )
        lines = [
            "def loss_and_backward(X, t, params, scale):",
            '    """Mean loss over the rows of X (B, n) with targets t (B,); adds its gradient to params[j].grad."""',
            "    B = X.shape[0]",
            "    values = [param.data for param in params]",
        ]
        lines += [f"    p{j} = values[{j}]" for j in scalar]
        if self.theta.weights:
            lines.append("    theta = np.array(values + theta_constants)")
            for b in sorted(self.theta.weights):
                lines.append(f"    W{b} = theta[W{b}_index]")
                if b in self.theta.biases:
                    lines.append(f"    b{b} = theta[b{b}_index]")
        # Plain arithmetic overflows to inf silently, as Python floats do; the table's ops
        # check their own results (ArrayOp).
        lines.append("    with np.errstate(all='ignore'):")
        lines += _indented(forward, "        ")
        lines.append(f"        total = float(np.broadcast_to({self.value(plan.root)}, (B,)).sum()) * scale")
        lines += _indented(backward, "        ")
        lines.append("    # add the gradients to .grad, as backward() does")
        if used == list(range(plan.n_params)):
            lines.append("    for param, grad in zip(params, gradient[: len(params)].tolist()):")
            lines.append("        param.grad += grad")
        else:
            self.index_array("used", used, "  # the parameters the loss reads")
            lines.append("    for j, grad in zip(used.tolist(), gradient[used].tolist()):")
            lines.append("        params[j].grad += grad")
        lines.append("    return total")
        header = ["# where each weight sits in theta = [param.data for param in params] + theta_constants"]
        header.append(f"theta_constants = {_list_text([literal(c) for c in self.theta.constants])}")
        for b in sorted(self.theta.weights):
            rows = [_list_text([str(i) for i in row], "    ") for row in self.theta.weights[b]]
            header.append(f"W{b}_index = np.array([\n    {(',' + chr(10) + '    ').join(rows)},\n], dtype=np.intp)")
            if b in self.theta.biases:
                self.index_array(f"b{b}_index", self.theta.biases[b])
        header += self.header
        header.append(f"n_theta = {plan.n_params + len(self.theta.constants)}")
        return "\n".join(header + [""] + lines) + "\n"


class _Gradients:
    """The backward pass being written: the terms of each gradient not yet summed, and the lines so far."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.node_terms: dict[int, list[str]] = {}
        self.block_terms: dict[int, list[str]] = {}
        self.param_terms: dict[int, list[str]] = {}
        self.scatter: list[tuple[str, str]] = []  # (theta indices, values) for the final bincount
        self.lines: list[str] = []
        self.zero_written = False

    def add(self, child: int, term: str) -> None:
        """A term of ``child``'s gradient (a parameter's is summed over the batch at the end)."""
        node = self.plan.nodes[child]
        if node.kind == "param":
            self.param_terms.setdefault(node.slot, []).append(term)
        elif self.plan.needs_grad[child]:
            self.node_terms.setdefault(child, []).append(term)

    def total(self, name: str, terms: list[str]) -> str:
        """The sum of the terms, as a name: a single name is used as it is."""
        if len(terms) == 1 and terms[0].isidentifier():
            return terms[0]
        self.lines.extend(chunked_sum(name, terms))
        return name

    def zero(self) -> str:
        """A column of zeros, written once."""
        if not self.zero_written:
            self.lines.append("zero = np.zeros(B)")
            self.zero_written = True
        return "zero"


# ----------------------------------------------------------------------
# Groups: a GPT document's program, every op node in a group over one slot array
# ----------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Op nodes of one row (and the same constants) computed together: ``V[out] = op(V[children])``.

    ``V`` holds one number per node of the graph. ``children[i]`` holds the slot of input i of
    every member, so ``V[children]`` is the stack the row's array code takes (``Op.on_arrays``).
    ``tokens`` are the op's constants that are the token at a position (``TokenAt``): for each,
    the position every member reads.
    """

    op: Op
    attrs: Mapping[str, Any]  # the constants every member shares
    tokens: Mapping[str, Any]  # constant name -> (members,) positions in the document
    out: Any  # (members,) slots
    children: Any  # (arity, members) slots
    needs_grad: bool = True  # whether any member depends on a parameter
    grid: DenseGrid | None = None  # when the group is a matrix product (see dense_grid)


@dataclass(frozen=True)
class DenseGrid:
    """A group of sum-of-products nodes that is a matrix product: member (p, i) is ``W[i] . X[p]``.

    A layer applied at every position: the weights are parameters, row i the same for every
    position, and position p's inputs the same for every row. Its backward pass is then two
    matrix products, as a dense block's (``dW = dY.T @ X``, ``dX = dY @ W``), instead of one
    scattered product per weight and input; the forward stays the row's own, exact, code.
    """

    out: Any  # (P, M) slots: the member at position p, row i
    weights: Any  # (M, d) slots, each a parameter, each once
    inputs: Any  # (P, d) slots, each once


def dense_grid(op: Op, children: Any, out: Any, params: Any, np: Any) -> DenseGrid | None:
    """The group as a ``DenseGrid`` if it is one: a row written as a sum of products without a bias whose
    weights (the first half of its inputs) are parameters (``params``: a mask over slots), else None."""
    notation = op.notation
    if notation is None or notation.form != "sum_of_products" or notation.bias or len(children) % 2:
        return None
    d = len(children) // 2
    weights, inputs = children[:d].T, children[d:].T  # (members, d) each
    if not params[weights].all():
        return None
    # A row is known by its first weight, a position by its first input (np.unique over whole rows,
    # axis=0, is ten times slower); then every member must read all of its row and its position.
    _, first_of_row, row_of = np.unique(weights[:, 0], return_index=True, return_inverse=True)
    _, first_of_position, position_of = np.unique(inputs[:, 0], return_index=True, return_inverse=True)
    rows, positions = weights[first_of_row], inputs[first_of_position]
    if (weights != rows[row_of]).any() or (inputs != positions[position_of]).any():
        return None
    grid = np.full((len(positions), len(rows)), -1, dtype=np.intp)
    grid[position_of, row_of] = out
    read = np.sort(np.concatenate([rows.ravel(), positions.ravel()]))  # (np.unique's first call costs 8 ms)
    unique = bool((read[1:] != read[:-1]).all())
    if len(out) != grid.size or (grid < 0).any() or not unique:
        return None  # not every (position, row) once, or a slot read twice: += would lose a term
    return DenseGrid(grid, rows, positions)


class _GroupWriter(_Writer):
    """Writes ``loss_and_grad(parameters, ids)`` for groups over a slot array: the same walk, other ends.

    The leaves come from ``parameters`` (plain slots, and rows of a table picked by a token: index
    nodes); the loss is ``loss_of_outputs`` of the program's outputs (the model's own function of
    them), which also gives d loss / d output; the gradient ends as one array over the parameters.
    Index arrays are too long to print: they are globals of the program (``arrays``), named in it.
    """

    def __init__(self, groups: Sequence[Group], symbols: Symbols) -> None:
        # No plan and no layout: the groups say everything a group program computes.
        super().__init__(Plan((), 0, 0, (), ()), Layout((), {}, ()), symbols)
        self.groups = groups
        self.arrays: dict[str, Any] = {}

    def statements(self) -> Sequence[tuple[str, int]]:
        return [("group", g) for g in range(len(self.groups))]

    def _keywords(self, g: int) -> str:
        group = self.groups[g]
        words = [f"{name}={self.symbols.attr_text(value)}" for name, value in group.attrs.items()]
        words += [f"{name}=tokens{g}_{name}" for name in group.tokens]
        return "".join(", " + word for word in words)

    def group_forward(self, g: int) -> list[str]:
        group = self.groups[g]
        self.arrays[f"children{g}"], self.arrays[f"out{g}"] = group.children, group.out
        # No member count here: programs of every length then share their text, and are compiled once.
        lines = [f"# group {g}: {group.op.name}"]
        for name, positions in group.tokens.items():
            self.arrays[f"positions{g}_{name}"] = positions
            lines.append(f"tokens{g}_{name} = ids[positions{g}_{name}]")
        forward = self.symbols.forward(group.op)
        return [*lines, f"S{g} = V[children{g}]", f"V[out{g}] = {forward}(S{g}{self._keywords(g)})"]

    def seed(self, grads: _Gradients) -> None:
        grads.lines += ["# backward: G[k] is d loss / d V[k]", "G = np.zeros(size)", "G[outputs] = seed"]

    def group_backward(self, g: int, grads: _Gradients) -> None:
        """Each member's gradient times its local derivatives, added to its children's (np.add.at sums repeats)."""
        group = self.groups[g]
        if not group.needs_grad:
            return
        if group.grid is not None:
            self.grid_backward(g, group.grid, grads)
            return
        self.arrays[f"flat{g}"] = group.children.ravel()
        local = f"{self.symbols.derivative(group.op)}(S{g}, V[out{g}]{self._keywords(g)})"
        grads.lines.append(f"np.add.at(G, flat{g}, ({local} * G[out{g}]).ravel())")

    def grid_backward(self, g: int, grid: DenseGrid, grads: _Gradients) -> None:
        """A layer at every position: its weights' and inputs' gradients as two matrix products."""
        self.arrays.update({f"grid{g}": grid.out, f"weights{g}": grid.weights, f"inputs{g}": grid.inputs})
        grads.lines += [
            f"dY{g} = G[grid{g}]  # (positions, rows)",
            f"G[weights{g}] += dY{g}.T @ V[inputs{g}]",
            f"G[inputs{g}] += dY{g} @ V[weights{g}]",
        ]

    def gradient_lines(self, grads: _Gradients) -> None:
        grads.lines += [
            "# every parameter's gradient: its plain slots, and the rows of tables the tokens picked",
            "gradient = np.zeros(n_params)",
            "gradient[param_index] = G[param_slots]",
            "np.add.at(gradient, lookup, G[index_slots])",
        ]

    def source(self) -> str:
        forward, backward = self.forward(), self.backward()
        lines = [
            "def loss_and_grad(parameters, ids):",
            '    """The loss of the document of tokens ``ids`` and its gradient over every parameter."""',
            "    V = np.empty(size)",
            "    V[const_slots] = const_values",
            "    V[param_slots] = parameters[param_index]",
            "    lookup = offsets + ids[lookup_positions] * widths  # the parameter each index node reads",
            "    V[index_slots] = parameters[lookup]",
            *_indented(forward, "    "),
            "    loss, seed = loss_of_outputs(V[outputs])",
            *_indented(backward, "    "),
            "    return loss, gradient",
        ]
        return "\n".join(lines) + "\n"


def group_program(groups: Sequence[Group], symbols: Symbols) -> tuple[str, dict[str, Any]]:
    """The source of ``loss_and_grad(parameters, ids)`` over ``groups``, and the index arrays it reads."""
    writer = _GroupWriter(groups, symbols)
    return writer.source(), writer.arrays


def group_namespace(symbols: Symbols, np: Any) -> dict[str, Any]:
    """A group program's globals: numpy, and each row's array code on stacks (``Op.on_arrays``)."""
    return {"np": np, **symbols.namespace(lambda op: (op.on_arrays, op.derivative_on_arrays))}


def _list_text(items: Sequence[str], indent: str = "") -> str:
    """A list display, one dozen items to a line."""
    if not items:
        return "[]"
    return f"[\n{indent}    {wrapped(items, indent + '    ')},\n{indent}]"


def _indented(lines: Sequence[str], indent: str) -> list[str]:
    return [indent + line.replace("\n", "\n" + indent) for line in lines]


def example_source(plan: Plan, layout: Layout, symbols: Symbols) -> str:
    """``loss_and_backward(X, t, params, scale)`` over arrays: the mean loss, gradients added to .grad."""
    return _Writer(plan, layout, symbols).source()


# ----------------------------------------------------------------------
# The table's ops on arrays, with the eager engine's errors
# ----------------------------------------------------------------------


class ArrayOp:
    """One function of a row of the table (its ``forward`` or ``derivative``) applied to batch arrays.

    Where a result has inf or nan entries, the row is evaluated again on the floats of
    those entries, as the eager engine would: if that raises (log(-1), exp(1000)), so
    does this; otherwise the array's inf or nan stands, as eager's does. A row that only
    takes floats (written with ``math``, or with ``if x > 0``) is applied entry by entry.
    """

    __slots__ = ("fn", "np", "derivative", "by_entry", "op")

    def __init__(self, fn: Callable[..., Any], np: Any, derivative: bool, op: Op | None = None) -> None:
        self.fn = fn
        self.np = np
        self.derivative = derivative  # then the last argument is the node's value, and one result per input
        self.by_entry = False
        self.op = op if op is not None and op.batched is not None else None  # a row with array code of its own

    def __call__(self, *args: Any, **attrs: Any) -> Any:
        if self.op is not None and any(isinstance(a, self.np.ndarray) for a in args):
            out = self._batched(args, attrs)
        elif self.by_entry:
            out = self._each(args, attrs)
        else:
            try:
                out = self.fn(*args, **attrs)
            except (TypeError, ValueError):  # e.g. math.cos of an array, or `if x > 0` on one
                if not any(isinstance(a, self.np.ndarray) for a in args):
                    raise  # on floats: the row's own error, as eager raises it
                self.by_entry = True
                out = self._each(args, attrs)
        if type(out) is float:
            return out  # computed on floats: it raised already if eager would
        outs = tuple(out) if self.derivative and len(args) > 2 else (out,)
        for result in outs:
            # The sum of an array is finite only if every entry is (an overflowing sum is only a false alarm).
            if type(result) is not float and not math.isfinite(self.np.add.reduce(result, axis=None)):
                self._replay(args, attrs, outs)
                break
        return out

    def _batched(self, args: tuple[Any, ...], attrs: dict[str, Any]) -> Any:
        """The row's ``batched`` pair, given the inputs stacked (a number input broadcast to the batch)."""
        assert self.op is not None
        np = self.np
        inputs = args[:-1] if self.derivative else args
        stacked = np.stack(np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in inputs)))
        if not self.derivative:
            return self.op.on_arrays(stacked, **attrs)
        local = self.op.derivative_on_arrays(stacked, np.broadcast_to(args[-1], stacked.shape[1:]), **attrs)
        return tuple(local) if len(inputs) > 1 else local[0]

    def _each(self, args: tuple[Any, ...], attrs: dict[str, Any]) -> Any:
        np = self.np
        arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in args))
        shape = arrays[0].shape
        results = [self.fn(*entry, **attrs) for entry in zip(*(a.ravel().tolist() for a in arrays), strict=True)]
        if not (self.derivative and len(args) > 2):
            return np.array(results, dtype=float).reshape(shape)
        return tuple(np.array(column, dtype=float).reshape(shape) for column in zip(*results, strict=True))

    def _replay(self, args: tuple[Any, ...], attrs: dict[str, Any], outs: Sequence[Any]) -> None:
        """Evaluate the row on the floats of every entry whose result is inf or nan: eager's errors."""
        np = self.np
        bad = np.zeros((), dtype=bool)
        for result in outs:
            bad = bad | ~np.isfinite(result)
        *arrays, mask = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in args), bad)
        for i in np.flatnonzero(mask).tolist():
            self.fn(*(float(a.flat[i]) for a in arrays), **attrs)


def namespace(symbols: Symbols, np: Any) -> dict[str, Any]:
    """The generated code's globals: numpy, and each op's forward and derivative on arrays."""

    def wrap(op: Op) -> tuple[Callable[..., Any], Callable[..., Any]]:
        return ArrayOp(op.forward, np, derivative=False, op=op), ArrayOp(op.derivative, np, derivative=True, op=op)

    return {"np": np, **symbols.namespace(wrap)}
