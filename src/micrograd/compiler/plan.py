"""The plan: a recorded loss as typed nodes, and the blocks the numpy emitter computes at once.

Recording runs the loss once on Values and describes the graph it built, in
topological order (children before parents, the loss last), as a tuple of
``PlanNode``. A node is a parameter, an input, the target, a constant, an op of
the table (``micrograd.ops``: its ``Op`` object, not its name, with the op's
constants such as pow's exponent in ``attrs``) or a *fixed* node: one made by
hand, ``Value(data, children, op)``, which has no row in the table, so its
value is the recorded number and its children get the local derivatives it was
given (none, if none were given), exactly as ``backward()`` treats it.

The emitters (``micrograd.compiler.python`` and ``micrograd.compiler.numpy``)
read only the plan: never the Values, and never text they generated.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Union

from micrograd.engine import Value, is_grad_enabled, topological_order
from micrograd.ops import Op

__all__ = [
    "CompileError",
    "PlanNode",
    "TokenAt",
    "Plan",
    "Recording",
    "record",
    "check_same_recording",
    "record_example",
    "record_regularizer",
    "DenseBlock",
    "MapBlock",
    "Layout",
    "layout",
]

NodeKind = Literal["param", "input", "target", "index", "constant", "op", "fixed"]


class TokenAt(int):
    """A token id that is an input of the recorded graph: the token at ``position`` of the sequence.

    It is an ``int`` (the op sees the number it was recorded with), used as an op's constant, such
    as the class a cross-entropy picks; a replay puts the token at that position of each new sequence.
    """

    position: int

    def __new__(cls, token: int, position: int) -> TokenAt:
        self = super().__new__(cls, token)
        self.position = position
        return self


class CompileError(ValueError):
    """The function cannot be compiled, or the compiled loss no longer matches its parameters."""


class PlanNode(NamedTuple):
    """One node of a recorded graph; ``children`` are positions of earlier nodes.

    A named tuple, not a dataclass: a GPT's graph has tens of thousands of nodes, and a tuple is
    made several times faster than a frozen dataclass instance.
    """

    kind: NodeKind
    op: Op | None = None  # for kind 'op'
    children: tuple[int, ...] = ()
    attrs: tuple[Any, ...] = ()  # the op's constants, in the order of op.attrs
    slot: int = -1  # the parameter or input number
    const: float = 0.0  # the value of a constant or of a fixed node
    fixed_grads: tuple[float, ...] = ()  # a fixed node's local derivatives, as given
    label: str = ""  # a fixed node's _op, for messages (an op node is named by its op)
    # An index input (an embedding lookup): parameter lookup[0] + token * lookup[1] + lookup[2], with
    # token the sequence's token at position ``slot`` (which row of a table is read is an input).
    lookup: tuple[int, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A recorded graph: its nodes in topological order, the root (the loss) last."""

    nodes: tuple[PlanNode, ...]
    n_inputs: int
    n_params: int
    needs_grad: tuple[bool, ...]  # depends on a parameter
    varies: tuple[bool, ...]  # depends on an input or the target
    outputs: tuple[int, ...] = ()  # the nodes the recorded function returned, when it returned several

    @property
    def root(self) -> int:
        return len(self.nodes) - 1

    def __len__(self) -> int:
        return len(self.nodes)

    def used_params(self) -> list[int]:
        """The parameters the graph reads, in order."""
        return sorted({node.slot for node in self.nodes if node.kind == "param"})

    def uses(self) -> list[int]:
        """How many times each node is read by another (a child read twice by one node counts twice)."""
        count = [0] * len(self.nodes)
        for node in self.nodes:
            for child in node.children:
                count[child] += 1
        return count

    def ops(self) -> list[Op]:
        """The distinct ops of the graph, in order of first use."""
        seen: dict[int, Op] = {}
        for node in self.nodes:
            if node.op is not None and id(node.op) not in seen:
                seen[id(node.op)] = node.op
        return list(seen.values())


@dataclass(frozen=True)
class Recording:
    """A plan and the Values it was read from (kept only while the recordings are compared)."""

    plan: Plan
    values: tuple[Value, ...]


def _call(call: Callable[[], Any], what: str) -> list[Value]:
    if not is_grad_enabled():
        raise CompileError(f"compile_loss: cannot record {what} inside no_grad(): no graph would be built")
    out = call()
    outs = out if isinstance(out, list) and out else [out]
    for item in outs:
        if not isinstance(item, Value):
            raise CompileError(f"compile_loss: {what} must return a Value, got {type(item).__name__}")
    return outs


def record(
    call: Callable[[], Any],
    roles: Mapping[int, tuple[NodeKind, int] | PlanNode],
    param_position: Mapping[int, int],
    what: str,
    n_inputs: int,
    n_params: int,
) -> Recording:
    """Run ``call`` (which builds the loss from Values) and describe the graph it returns.

    ``roles`` maps id(Value) of the inputs and the target to ('input', i) or ('target', 0), or to
    the whole node (an index input); ``param_position`` maps id(parameter) to its number. Any other
    leaf is a constant. ``call`` may return a list of Values: the plan's ``outputs``.
    """
    outs = _call(call, what)
    order = topological_order(*outs)
    # Keyed by the Value itself: Values hash by identity (they have no __eq__), and a lookup
    # without id() is twice as fast over a graph's hundred thousand edges.
    position = {node: k for k, node in enumerate(order)}
    nodes = _plan_nodes(order, position, roles, param_position, what)
    plan = _finish(nodes, n_inputs, n_params, tuple(position[out] for out in outs) if len(outs) > 1 else (), what)
    return Recording(plan, tuple(order))


def _plan_nodes(
    order: list[Value],
    position: Mapping[Value, int],
    roles: Mapping[int, tuple[NodeKind, int] | PlanNode],
    param_position: Mapping[int, int],
    what: str,
) -> list[PlanNode]:
    """Each Value of the order as a node of the plan."""
    nodes: list[PlanNode] = []
    at = position.__getitem__
    # An op node as tuple.__new__ makes it: a GPT's 10,000 nodes, and PlanNode(...) with keyword defaults costs 3x.
    op_node = PlanNode("op")[4:]  # the defaults of the fields after attrs
    new = tuple.__new__
    for node in order:
        children = tuple(map(at, node._prev))
        if node._backward_set_by_hand():
            raise CompileError(
                f"compile_loss: {what} has a node whose _backward is a function set by hand "
                f"(op {node._op!r}, data {node.data!r}); the compiler cannot read a Python function: "
                "add the op with micrograd.ops.defop(name, forward, derivative) instead"
            )
        op: Op | None = getattr(node, "_fn", None)
        if children and op is not None:
            # No label: a row's node is named by its op, and _op would format one for each of a GPT's 10,000 nodes.
            nodes.append(new(PlanNode, ("op", op, children, tuple(node._attrs), *op_node)))
        elif children:
            nodes.append(_fixed_node(node, children, node._op, what))
        elif id(node) in roles:
            role = roles[id(node)]
            nodes.append(role if isinstance(role, PlanNode) else PlanNode(role[0], slot=role[1]))
        elif id(node) in param_position:
            nodes.append(PlanNode("param", slot=param_position[id(node)]))
        else:  # compared with a second recording: it must be made by the function, the same each time
            nodes.append(PlanNode("constant", const=node.data))
    return nodes


def _finish(nodes: list[PlanNode], n_inputs: int, n_params: int, outputs: tuple[int, ...], what: str) -> Plan:
    """The plan of these nodes: which depend on a parameter, which on the data."""
    needs_grad: list[bool] = []
    varies: list[bool] = []
    needs, vary = needs_grad.__getitem__, varies.__getitem__
    for item in nodes:
        needs_grad.append(item.kind in ("param", "index") or any(map(needs, item.children)))
        varies.append(item.kind in ("input", "target", "index") or any(map(vary, item.children)))
    for k, item in enumerate(nodes):
        if item.kind == "fixed" and varies[k]:
            raise CompileError(
                f"compile_loss: {what} uses a node made by hand, Value({item.const!r}, children, {item.label!r}), "
                f"on the inputs or the target; op {item.label!r} has no row in micrograd.ops, so its value cannot "
                "be computed for other examples: add it with micrograd.ops.defop(name, forward, derivative)"
            )
        if item.kind == "fixed":  # its value is the recorded number: it depends on nothing
            varies[k] = False
    return Plan(tuple(nodes), n_inputs, n_params, tuple(needs_grad), tuple(varies), outputs)


def record_example(
    fn: Callable[[list[Value], Value], Value],
    row: Sequence[float],
    target: float,
    param_position: Mapping[int, int],
    n_params: int,
) -> Recording:
    """Record one example's loss: inputs and target become Values whose uses are recorded."""
    inputs = [Value(x) for x in row]
    target_value = Value(target)
    roles: dict[int, tuple[NodeKind, int]] = {id(x): ("input", i) for i, x in enumerate(inputs)}
    roles[id(target_value)] = ("target", 0)
    return record(lambda: fn(inputs, target_value), roles, param_position, "per_example_loss", len(row), n_params)


def record_regularizer(
    fn: Callable[[list[Value]], Value], params: Sequence[Value], param_position: Mapping[int, int]
) -> Plan:
    """Record the regularizer, a function of the parameters alone.

    A constant the function made itself dies with the graph (Values hold no cycles); one that
    outlives it was made outside, so it is probably a parameter missing from params.
    """
    recording = record(lambda: fn(list(params)), {}, param_position, "regularizer", 0, len(params))
    plan = recording.plan
    constants = [
        (weakref.ref(value), node.const)
        for value, node in zip(recording.values, plan.nodes, strict=True)
        if node.kind == "constant"
    ]
    del recording
    for ref, data in constants:
        if ref() is not None:
            raise CompileError(_outside_value_message(data))
    return plan


def _fixed_node(node: Value, children: tuple[int, ...], label: str, what: str) -> PlanNode:
    try:
        grads = tuple(float(g) for g in node._local_grads)
    except (TypeError, ValueError) as error:
        raise CompileError(
            f"compile_loss: {what} has a node made by hand (op {label!r}) whose local derivatives are not numbers"
        ) from error
    return PlanNode("fixed", children=children, const=node.data, fixed_grads=grads[: len(children)], label=label)


def _same_number(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b) and type(a) is type(b)


def _outside_value_message(data: float) -> str:
    return (
        f"compile_loss: the loss reads a Value that is not in params (data {data!r}), made outside the "
        "function: add it to params, or make it inside the function as a constant"
    )


def check_same_recording(first: Recording, second: Recording) -> None:
    """Two recordings from different examples must give the same plan, or the code would be wrong for one."""
    a_nodes, b_nodes = first.plan.nodes, second.plan.nodes
    same_shape = len(a_nodes) == len(b_nodes) and all(
        a.kind == b.kind and a.op is b.op and a.children == b.children and a.slot == b.slot
        for a, b in zip(a_nodes, b_nodes, strict=False)
    )
    if not same_shape:
        raise CompileError(
            "compile_loss: the recorded graph differs between two examples; the loss must not branch on "
            "the data in Python (if x.data > 0 ...), only through ops such as relu"
        )
    for k, (a, b) in enumerate(zip(a_nodes, b_nodes, strict=True)):
        if a.kind == "constant" and first.values[k] is second.values[k]:
            raise CompileError(_outside_value_message(a.const))
        differs = (
            len(a.attrs) != len(b.attrs)
            or not all(map(_same_number, a.attrs, b.attrs))
            or not _same_number(a.const, b.const)
            or a.fixed_grads != b.fixed_grads
        )
        if differs:
            shown = (a.attrs, b.attrs) if a.attrs != b.attrs else (a.const, b.const)
            raise CompileError(
                f"compile_loss: a constant of the graph differs between two examples ({shown[0]!r} vs "
                f"{shown[1]!r}); the loss must use its inputs and target as Values, not their .data or float()"
            )


# ----------------------------------------------------------------------
# Blocks: nodes the numpy emitter computes with one array op
# ----------------------------------------------------------------------


@dataclass(frozen=True)
class DenseBlock:
    """``linear`` (or ``dot``) nodes that read the same inputs in the same order: one matrix product.

    ``weights[i]`` and ``biases[i]`` (None for dot) are the parameter or constant nodes of member i.
    """

    members: tuple[int, ...]
    inputs: tuple[int, ...]
    weights: tuple[tuple[int, ...], ...]
    biases: tuple[int, ...] | None


@dataclass(frozen=True)
class MapBlock:
    """The same one-input op applied to columns of one block: one array op."""

    op: Op
    attrs: tuple[Any, ...]
    members: tuple[int, ...]
    source: int  # the block read
    columns: tuple[int, ...]  # the column of the source each member reads


Block = Union[DenseBlock, MapBlock]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class Layout:
    """The plan's op nodes grouped into statements: ('node', k) or ('block', b), in an order that computes."""

    blocks: tuple[Block, ...]
    block_of: Mapping[int, tuple[int, int]]  # node -> (block number, column)
    statements: tuple[tuple[Literal["node", "block"], int], ...]


def layout(plan: Plan) -> Layout:
    """Group the plan's nodes into blocks.

    * dense: sum-of-products nodes (linear or dot) whose weights and bias are parameters or
      constants and whose inputs all vary, grouped by their inputs (the neurons of one layer);
    * map: nodes of the same one-input op (and constants) that read columns of one
      block, each a different column (an activation applied to a layer).

    A block is computed where its first member was: every member reads only
    what exists before that (the members of a dense block read the same inputs,
    those of a map block read one earlier block).
    """
    blocks: list[Block] = []
    block_of: dict[int, tuple[int, int]] = {}
    first_of_block: dict[int, int] = {}

    def add(block: Block) -> None:
        number = len(blocks)
        blocks.append(block)
        for column, member in enumerate(block.members):
            block_of[member] = (number, column)
        first_of_block[block.members[0]] = number

    for dense in _dense_blocks(plan):
        add(dense)
    for mapped in _map_blocks(plan, block_of, len(blocks)):
        add(mapped)
    statements: list[tuple[Literal["node", "block"], int]] = []
    for k, node in enumerate(plan.nodes):
        if k in first_of_block:
            statements.append(("block", first_of_block[k]))
        elif node.kind in ("op", "fixed") and k not in block_of:
            statements.append(("node", k))
    return Layout(tuple(blocks), block_of, tuple(statements))


def _dense_blocks(plan: Plan) -> list[DenseBlock]:
    """The layers: sum-of-products nodes with static weights reading the same varying inputs."""
    nodes, varies = plan.nodes, plan.varies
    static = ("param", "constant")
    dense: dict[tuple[bool, tuple[int, ...]], list[int]] = {}
    for k, node in enumerate(nodes):
        notation = node.op.notation if node.kind == "op" and node.op is not None else None
        if notation is None or notation.form != "sum_of_products":
            continue
        n = len(node.children) // 2
        weights, inputs = node.children[:n], node.children[n : 2 * n]
        bias = node.children[2 * n :]
        if all(nodes[c].kind in static for c in (*weights, *bias)) and all(varies[c] for c in inputs):
            dense.setdefault((notation.bias, inputs), []).append(k)
    return [
        DenseBlock(
            members=tuple(members),
            inputs=inputs,
            weights=tuple(nodes[m].children[: len(inputs)] for m in members),
            biases=tuple(nodes[m].children[-1] for m in members) if has_bias else None,
        )
        for (has_bias, inputs), members in dense.items()
    ]


def _map_blocks(plan: Plan, block_of: dict[int, tuple[int, int]], first_number: int) -> list[MapBlock]:
    """Activations of layers: the same one-input op on columns of one block, numbered from ``first_number``.

    In one pass over the nodes in order: a node joins the block of its (op, constants, source
    block) unless that block already reads its column; a member is numbered at once (in
    ``block_of``), so a map of a map block is found too (a reader comes after what it reads).
    """
    open_blocks: dict[tuple[int, tuple[Any, ...], int], int] = {}
    maps: dict[int, tuple[Op, tuple[Any, ...], int, list[int], list[int]]] = {}  # op, attrs, source, members, columns
    seen_columns: dict[int, set[int]] = {}
    for k, node in enumerate(plan.nodes):
        op = node.op
        if node.kind != "op" or op is None or op.arity != 1 or len(node.children) != 1:
            continue
        source = block_of.get(node.children[0])
        if source is None:
            continue
        key = (id(op), _hashable(node.attrs), source[0])
        number = open_blocks.get(key)
        if number is not None and source[1] in seen_columns[number]:
            continue  # one column mapped twice: this one is computed on its own
        if number is None:
            number = open_blocks[key] = first_number + len(maps)
            maps[number] = (op, node.attrs, source[0], [], [])
            seen_columns[number] = set()
        members, columns = maps[number][3], maps[number][4]
        block_of[k] = (number, len(members))
        members.append(k)
        columns.append(source[1])
        seen_columns[number].add(source[1])
    return [
        MapBlock(op, attrs, tuple(members), source_number, tuple(columns))
        for _, (op, attrs, source_number, members, columns) in sorted(maps.items())
    ]


def _hashable(attrs: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        hash(attrs)
    except TypeError:
        return tuple(id(a) for a in attrs)
    return tuple((type(a), a) for a in attrs)
