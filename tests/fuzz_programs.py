"""Random expression graphs for the differential fuzzer (tests/test_fuzz.py).

A graph is a small *program*: some leaf values, then steps that each append one
node to a growing pool. A step names an op from ``STEPS`` (every row of
micrograd's op table, ``micrograd.ops.OPS``, and the composites built from
them: ``-``, ``/``, constants on either side) and refers to earlier
nodes by their index in the pool, so any node can be used many times (shared
sub-expressions, diamonds, ``x * x``). The same program is replayed three ways:

* ``"micrograd"`` -- on ``Value``s (the engine under test);
* ``"torch"`` -- on float64 0-d tensors (the oracle);
* ``"value"`` -- on plain floats, by ``reference()``: the forward value and every
  local derivative of every node, from the table's rows (the one place where
  micrograd writes each rule). It decides which steps are safe to draw (in
  the domain, no overflow, away from kinks) and gives each compared number an
  error *scale* (see ``Reference``), so tolerances follow the maths instead of
  being one fixed guess.

Steps are plain tuples so a failing case prints as code that can be pasted into
the regression list of test_fuzz.py:

    ("exp", i)  ("add", i, j)  ("rsub_c", i, 2.0)  ("pow_c", i, 0.5)  ("dot", (w1, w2), (x1, x2))
    ("linear", (w1, w2), (x1, x2), b)  ("linear_c", (w1,), (3.0,), b)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from micrograd import Value, linear, ops
from micrograd.ops import Op

Step = tuple[Any, ...]


@dataclass(frozen=True)
class Program:
    leaves: tuple[float, ...]
    steps: tuple[Step, ...]

    @property
    def n_leaves(self) -> int:
        return len(self.leaves)

    def depth(self) -> int:
        """The longest path from a leaf to the root (the last node), in ops."""
        depths = [0] * self.n_leaves
        for step in self.steps:
            depths.append(1 + max(depths[i] for i in node_operands(step)))
        return depths[-1]

    def with_steps(self, *extra: Step) -> Program:
        return Program(self.leaves, self.steps + extra)


# ----------------------------------------------------------------------
# The steps. The primitives are the rows of micrograd's op table (micrograd.ops.OPS):
# each row's forward and derivative, evaluated on floats, are the float reference of
# its steps, so no rule is written twice. Composites (a - b, a / b, c ** a ...) have
# no rule of their own in micrograd either: their float reference is what the engine
# computes for them from the rows. The oracles are PyTorch and central differences.
# ----------------------------------------------------------------------


@dataclass(frozen=True)
class OpSpec:
    shape: str  # how the step's arguments read: unary, binary, const, linear, linear_c, dot
    micrograd: Callable[..., Any]  # builds the step on Values
    torch: Callable[..., Any] | None  # the oracle, written with tensor methods; None: no torch counterpart
    row: Op | None = None  # the table's row (a primitive); None: a composite of rows

    def reference(self, args: Sequence[Any]) -> tuple[float, tuple[float, ...]]:
        """The step's value and d out / d each node operand, on floats (the arguments of call_arguments)."""
        if self.row is None:
            return _composite_reference(self, args)
        inputs, attrs = _row_inputs(self.shape, args)
        named = dict(zip(self.row.attrs, attrs, strict=True))
        out = self.row.forward(*inputs, **named)
        return out, self.row.local_grads(tuple(inputs), out, attrs)


def _row_inputs(shape: str, args: Sequence[Any]) -> tuple[list[Any], tuple[Any, ...]]:
    """The row's inputs and constants for a step's call arguments."""
    if shape in ("unary", "binary"):
        return list(args), ()
    if shape == "const":  # x ** k: the exponent is the row's constant k, not an input
        return [args[0]], (float(args[1]),)
    if shape == "linear":
        ws, xs, b = args
        return [*ws, *xs, b], ()
    ws, xs = args  # dot
    return [*ws, *xs], ()


def _composite_reference(spec: OpSpec, args: Sequence[Any]) -> tuple[float, tuple[float, ...]]:
    """A composite on fresh leaves (one per node operand): its value, and the leaves' gradients."""
    leaves: list[Value] = []

    def leaf(x: float) -> Value:
        leaves.append(Value(x))
        return leaves[-1]

    if spec.shape in ("unary", "binary"):
        fresh: tuple[Any, ...] = tuple(leaf(x) for x in args)
    elif spec.shape == "const":
        fresh = (leaf(args[0]), args[1])
    else:  # linear_c: weights and bias are nodes, the inputs constants
        ws, cs, b = args
        fresh = ([leaf(w) for w in ws], list(cs), leaf(b))
    out = spec.micrograd(*fresh)
    out.backward()
    return out.data, tuple(x.grad for x in leaves)


def _weighted_sum(ws: Sequence[Any], xs: Sequence[Any], b: Any) -> Any:
    """bias + w1*x1 + w2*x2 ..., left to right: the order micrograd's linear adds in, so torch rounds alike."""
    total = b
    for w, x in zip(ws, xs, strict=True):
        total = total + w * x
    return total


def _dot_sum(ws: Sequence[Any], xs: Sequence[Any]) -> Any:
    return _weighted_sum(ws, xs, 0.0)


def _torch_functional(name: str, **options: Any) -> Callable[[Any], Any]:
    def apply(a: Any) -> Any:
        import torch.nn.functional

        return getattr(torch.nn.functional, name)(a, **options)

    return apply


# The oracle for each one-input row, by the row's name.
TORCH_UNARY: dict[str, Callable[[Any], Any]] = {
    "exp": lambda a: a.exp(),
    "log": lambda a: a.log(),
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "relu": lambda a: a.relu(),
    "sin": lambda a: a.sin(),
    "cos": lambda a: a.cos(),
    "sqrt": lambda a: a.sqrt(),
    "abs": lambda a: a.abs(),
    "softplus": lambda a: a.logaddexp(a.new_zeros(())),  # log(1 + e**a), without torch's threshold at 20
    "silu": _torch_functional("silu"),
    "gelu": _torch_functional("gelu", approximate="tanh"),
}


def _from_package(op: Op) -> bool:
    """A row of micrograd.ops itself, the primitives.

    A test's own defop rows stay out (the draws must not depend on the order tests run in), and so
    do the fused rows other modules define for their models (softmax_cross_entropy, attention ...):
    their inputs have layouts and constants (a class index) that only their own tests know how to draw.
    """
    return getattr(op.forward, "__module__", None) == ops.__name__


def _unary_micrograd(op: Op) -> Callable[[Any], Any]:
    """The Value method of that name where there is one (what users call), else the row applied to the Value."""
    method = getattr(Value, op.name, None)
    return method if callable(method) else op


def _table_steps() -> dict[str, OpSpec]:
    table = ops.OPS
    steps: dict[str, OpSpec] = {}
    for name, op in table.items():
        if _from_package(op) and op.arity == 1 and not op.attrs and name.isidentifier():
            steps[name] = OpSpec("unary", _unary_micrograd(op), TORCH_UNARY.get(name), op)
    steps.update(
        {
            "add": OpSpec("binary", lambda a, b: a + b, lambda a, b: a + b, table["+"]),
            "mul": OpSpec("binary", lambda a, b: a * b, lambda a, b: a * b, table["*"]),
            "pow": OpSpec("binary", lambda a, b: a**b, lambda a, b: a**b, table["**"]),
            # x ** k: micrograd gets k as drawn (int, float or Fraction), the row and torch float(k)
            "pow_c": OpSpec("const", lambda a, c: a**c, lambda a, c: a ** float(c), table["pow"]),
            # a neuron: linear(ws, xs, bias), its inputs nodes; dot is the same without the bias
            "linear": OpSpec("linear", linear, _weighted_sum, table["linear"]),
            "dot": OpSpec("dot", lambda ws, xs: linear(ws, xs, None), _dot_sum, table["dot"]),
        }
    )
    return steps


# What the fuzzer draws: every row of the table, then the composites.
STEPS: dict[str, OpSpec] = {
    **_table_steps(),
    "neg": OpSpec("unary", lambda a: -a, lambda a: -a),
    "sub": OpSpec("binary", lambda a, b: a - b, lambda a, b: a - b),
    "div": OpSpec("binary", lambda a, b: a / b, lambda a, b: a / b),
    # a node and a constant, the constant on the right (x_c) or on the left (rx_c)
    "add_c": OpSpec("const", lambda a, c: a + c, lambda a, c: a + c),
    "radd_c": OpSpec("const", lambda a, c: c + a, lambda a, c: c + a),
    "sub_c": OpSpec("const", lambda a, c: a - c, lambda a, c: a - c),
    "rsub_c": OpSpec("const", lambda a, c: c - a, lambda a, c: c - a),
    "mul_c": OpSpec("const", lambda a, c: a * c, lambda a, c: a * c),
    "rmul_c": OpSpec("const", lambda a, c: c * a, lambda a, c: c * a),
    "div_c": OpSpec("const", lambda a, c: a / c, lambda a, c: a / c),
    "rdiv_c": OpSpec("const", lambda a, c: c / a, lambda a, c: c / a),
    "rpow_c": OpSpec("const", lambda a, c: c**a, lambda a, c: c**a),
    # a neuron whose inputs are constants (data): the weights and bias are the only nodes
    "linear_c": OpSpec("linear_c", linear, _weighted_sum),
}
STEP_NAMES = tuple(STEPS)
# The steps PyTorch can check: all of them, unless a row has no torch counterpart yet.
TORCH_STEP_NAMES = tuple(name for name, spec in STEPS.items() if spec.torch is not None)


def table_rows_not_fuzzed() -> list[str]:
    """The rows of micrograd.ops that no step draws (a new row needs a step here, or a torch oracle above)."""
    drawn = {spec.row.name for name, spec in STEPS.items() if spec.row is not None and name in TORCH_STEP_NAMES}
    return [name for name, op in ops.OPS.items() if _from_package(op) and name not in drawn]


def node_operands(step: Step) -> list[int]:
    """The pool indices a step reads, in the order its partials are listed."""
    name, *args = step
    shape = STEPS[name].shape
    if shape == "unary":
        return [args[0]]
    if shape == "binary":
        return [args[0], args[1]]
    if shape == "const":
        return [args[0]]
    if shape == "dot":
        ws, xs = args
        return [*ws, *xs]
    ws, xs, b = args
    return [*ws, *xs, b] if shape == "linear" else [*ws, b]


def call_arguments(step: Step, pool: Sequence[Any]) -> tuple[Any, ...]:
    """The positional arguments of the step's op, nodes looked up in the pool."""
    name, *args = step
    shape = STEPS[name].shape
    if shape in ("unary", "binary"):
        return tuple(pool[i] for i in args)
    if shape == "const":
        return pool[args[0]], args[1]
    if shape == "dot":
        ws, xs = args
        return [pool[i] for i in ws], [pool[i] for i in xs]
    ws, xs, b = args
    inputs = [pool[i] for i in xs] if shape == "linear" else list(xs)
    return [pool[i] for i in ws], inputs, pool[b]


def replay(program: Program, leaves: Sequence[Any], implementation: str) -> list[Any]:
    """Every node of the program, leaves first, computed with one implementation of the ops ("micrograd", "torch")."""
    pool = list(leaves)
    for step in program.steps:
        op = getattr(STEPS[step[0]], implementation)
        pool.append(op(*call_arguments(step, pool)))
    return pool


# ----------------------------------------------------------------------
# The float reference: safety of each step, and error scales
# ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """What a step may do and still be compared bit-near with another implementation.

    ``partial`` bounds every local derivative: it keeps divisors, log arguments and
    negative-power bases away from 0 (where an ulp of difference between two engines
    would change the answer a lot, or flip a domain check). ``kink`` keeps every
    operand this far from a kink or the edge of its op's domain (relu's and abs's 0,
    the 0 of sqrt and of a fractional power's base): two engines may round a value
    there to different sides.
    """

    value: float = 1e4
    partial: float = 1e4
    kink: float = 1e-6


DEFAULT_BOUNDS = Bounds()


class Infeasible(Exception):
    """The step is out of the domain, overflows or sits too close to a kink for a fair comparison."""


def reference_step(step: Step, values: Sequence[float], bounds: Bounds) -> tuple[float, tuple[float, ...]]:
    """The step's value and local partials on floats; Infeasible when the step is not safe to compare."""
    name = step[0]
    out, partials = _checked_reference(step, values, bounds)
    if abs(out) > bounds.value or any(abs(p) > bounds.partial for p in partials):
        raise Infeasible(f"{name}: too large")
    # Away from kinks and domain edges: the same step with every node operand moved by kink,
    # either way, must exist and have nearly the same partials. This finds relu's and abs's
    # kinks, sqrt's and a fractional power's edge at 0, or those of any row added to the table.
    for shift in (-bounds.kink, bounds.kink):
        moved = list(values)
        for i in set(node_operands(step)):
            moved[i] = values[i] + shift
        try:
            _, near = _checked_reference(step, moved, bounds)
        except Infeasible:
            raise Infeasible(f"{name}: too close to the edge of its domain") from None
        if any(abs(p - q) > 0.1 * (1.0 + abs(p)) for p, q in zip(partials, near, strict=True)):
            raise Infeasible(f"{name}: too close to a kink")
    return out, partials


def _checked_reference(step: Step, values: Sequence[float], bounds: Bounds) -> tuple[float, tuple[float, ...]]:
    name = step[0]
    try:
        out, partials = STEPS[name].reference(call_arguments(step, values))
    except (ArithmeticError, ValueError) as error:  # log(-1), 1/0, 0.0 ** -1, exp(1000)
        raise Infeasible(f"{name}: {error}") from None
    numbers = (out, *partials)
    if any(isinstance(x, complex) for x in numbers):  # (-8.0) ** 0.5 is complex in Python
        raise Infeasible(f"{name}: complex result")
    if not all(math.isfinite(x) for x in numbers):
        raise Infeasible(f"{name}: not finite")
    return float(out), tuple(float(p) for p in partials)


@dataclass
class Reference:
    """The program on floats, and how large rounding errors in it can get.

    A positive path sum, the sum over all paths from node n to the root of
    |product of local derivatives|, is the gradient with every term made
    positive: rounding differences between two implementations scale with it,
    not with the gradient, whose terms may cancel. ``value_scale`` uses it for
    the root's value: a relative error of one ulp at node n moves the root by up
    to ulp * |value(n)| * path_sum(n). ``grad_scale[leaf]`` (see
    _gradient_error_scale) adds up the same for every local derivative on the
    way. Two correct implementations differ by a small multiple of ulp times
    these; a wrong derivative by O(1) of the terms it touches.
    """

    values: list[float]
    edges: list[list[tuple[int, float]]] = field(default_factory=list)  # node -> (child, d node / d child)
    grad_scale: list[float] = field(default_factory=list)
    value_scale: float = 0.0

    @property
    def root(self) -> float:
        return self.values[-1]


def reference(program: Program, leaves: Sequence[float] | None = None, bounds: Bounds = DEFAULT_BOUNDS) -> Reference:
    """Replay on floats (at other leaf values if given); Infeasible if any step is unsafe."""
    values = list(program.leaves if leaves is None else leaves)
    ref = Reference(values=values, edges=[[] for _ in values])
    for step in program.steps:
        out, partials = reference_step(step, values, bounds)
        ref.edges.append(list(zip(node_operands(step), partials, strict=True)))
        values.append(out)
    scale = [0.0] * len(values)
    scale[-1] = 1.0
    for node in range(len(values) - 1, -1, -1):  # the pool is in topological order already
        for child, partial in ref.edges[node]:
            scale[child] += abs(partial) * scale[node]
    ref.value_scale = sum(s * abs(v) for s, v in zip(scale, values, strict=True))
    ref.grad_scale = _gradient_error_scale(program, ref, scale)
    return ref


def _gradient_error_scale(program: Program, ref: Reference, root_scale: list[float]) -> list[float]:
    """Per leaf: how far two correct implementations' gradients can drift apart, in ulps.

    Every local derivative p on an edge node -> child carries its own error, and it reaches the
    leaf's gradient multiplied by |d root / d node| (at most root_scale[node]) and by
    |d child / d leaf| (at most the positive path sum below the child, below_scale). p is a formula
    of the operands (b for a*b, 1/x, log(x) in d x**y / d y, 1 - t*t for tanh), and the operands
    themselves are off by ~ulp * forward_scale (a different exp, or x * y**-1 for x / y). Near a
    zero of the formula (log(1 + ulp), b = x - x, a saturated tanh) that error is absolute, not
    relative to p, so the size used is (|p| + 1) * (1 + the operands' forward_scale): a first-order
    bound that is generous, yet still ulp-sized next to the O(1) error of a wrong rule.
    """
    n_leaves, values = program.n_leaves, ref.values
    forward_scale = [0.0] * n_leaves  # leaves are exact; a node's value is within ~ulp * forward_scale
    below_scale = [[float(i == j) for j in range(n_leaves)] for i in range(n_leaves)]
    total = list(root_scale[:n_leaves])  # the first-order term: gradient terms added in another order
    for node in range(n_leaves, len(values)):
        edges = ref.edges[node]
        forward_scale.append(abs(values[node]) + sum(abs(p) * forward_scale[c] for c, p in edges))
        below_scale.append([sum(abs(p) * below_scale[c][j] for c, p in edges) for j in range(n_leaves)])
        operand_scale = max(forward_scale[c] for c, _ in edges)
        for child, partial in edges:
            size = (abs(partial) + 1.0) * (1.0 + operand_scale)
            for j in range(n_leaves):
                total[j] += root_scale[node] * size * below_scale[child][j]
    return total


def is_feasible(program: Program, leaves: Sequence[float], bounds: Bounds = DEFAULT_BOUNDS) -> bool:
    try:
        reference(program, leaves, bounds)
    except Infeasible:
        return False
    return True


# ----------------------------------------------------------------------
# Hypothesis strategies
# ----------------------------------------------------------------------

LEAF_VALUES = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)
# Constants on either side of an op: hand-picked edge values (0, +-1, an int) and any moderate float.
CONSTANTS = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 2, 0.5, -2.5, 3.0]), LEAF_VALUES)
# x ** k: integers (negative too), halves, a third, 0 (micrograd special-cases it), ints, floats and Fractions.
EXPONENT_VALUES: tuple[Any, ...] = (2, 3, -1, -2, 0, 1, 2.0, 0.5, -0.5, 1.5, 1 / 3, Fraction(1, 2), Fraction(3, 2))
EXPONENTS = st.sampled_from(EXPONENT_VALUES)
# c ** x needs c > 0 (a Value exponent makes every real base need a real log).
POSITIVE_BASES = st.sampled_from([2, 0.5, math.e, 3.0, 10.0, 1.0])
MAX_ATTEMPTS = 6  # draws of one step before falling back to tanh (always safe)


@st.composite
def programs(
    draw: st.DrawFn,
    max_steps: int = 32,
    bounds: Bounds | None = DEFAULT_BOUNDS,
    op_names: Sequence[str] = STEP_NAMES,
) -> Program:
    """A random program whose every step is feasible under ``bounds`` (``None``: anything goes).

    One operand of each step is the newest node (so graphs get deep: up to
    max_steps ops on the longest path), the others come from the whole pool
    (shared sub-expressions, diamonds), sometimes the same node twice. A step
    that is not feasible for the drawn operands is drawn again, a few times,
    then replaced by tanh of the newest node: no case is ever thrown away, so
    hypothesis never filters.
    """
    n_leaves = draw(st.integers(2, 5))
    leaves = [draw(LEAF_VALUES) for _ in range(n_leaves)]
    n_steps = draw(st.integers(1, max_steps))
    values = list(leaves)
    steps: list[Step] = []
    linear_inputs: list[tuple[int, ...]] = []  # reused now and then, so neurons share inputs (a layer)
    for _ in range(n_steps):
        for _attempt in range(MAX_ATTEMPTS):
            step = _draw_step(draw, len(values), n_leaves, op_names, linear_inputs)
            if bounds is None:
                break
            try:
                out, _ = reference_step(step, values, bounds)
            except Infeasible:
                continue
            break
        else:
            step = ("tanh", len(values) - 1)
        if bounds is not None:
            out, _ = reference_step(step, values, bounds)
            values.append(out)
        else:
            values.append(math.nan)  # not tracked: the caller replays the program itself
        if step[0] in ("linear", "dot"):
            linear_inputs.append(step[2])
        steps.append(step)
    return Program(tuple(leaves), tuple(steps))


def _draw_step(
    draw: st.DrawFn, n_nodes: int, n_leaves: int, op_names: Sequence[str], linear_inputs: list[tuple[int, ...]]
) -> Step:
    name = draw(st.sampled_from(op_names))
    shape = STEPS[name].shape

    def newest() -> int:
        # One operand of every step is the newest node: the steps form one long path (the graph is as
        # deep as it has steps, up to max_steps) and no step is dead code.
        return n_nodes - 1

    def any_node() -> int:  # other operands: any earlier node, so sub-expressions are shared (diamonds)
        return n_nodes - 1 - draw(st.integers(0, n_nodes - 1))

    if shape == "unary":
        return (name, newest())
    if shape == "binary":
        first = newest()
        same = draw(st.integers(0, 4)) == 0  # x * x, x + x, x ** x, x / x ...
        second = first if same else any_node()
        return (name, first, second) if draw(st.booleans()) else (name, second, first)  # newest on either side
    if shape == "const":
        constants = EXPONENTS if name == "pow_c" else POSITIVE_BASES if name == "rpow_c" else CONSTANTS
        return (name, newest(), draw(constants))
    if name in ("linear", "dot") and linear_inputs and draw(st.integers(0, 3)) == 0:
        inputs = draw(st.sampled_from(linear_inputs))
    else:
        inputs = (newest(), *(any_node() for _ in range(draw(st.integers(0, 2)))))
    # Half the time weights and bias are all leaves: a neuron whose parameters are leaves, which the
    # numpy engine turns into a matrix product (a layer, when neurons share their inputs).
    if draw(st.booleans()):
        weights, bias = tuple(draw(st.integers(0, n_leaves - 1)) for _ in inputs), draw(st.integers(0, n_leaves - 1))
    else:
        weights, bias = tuple(any_node() for _ in inputs), any_node()
    if shape == "linear_c":
        return (name, weights, tuple(draw(CONSTANTS) for _ in inputs), bias)
    if shape == "dot":
        return (name, weights, inputs)
    return (name, weights, inputs, bias)
