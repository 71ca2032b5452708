"""Random expression graphs for the differential fuzzer (tests/test_fuzz.py).

A graph is a small *program*: some leaf values, then steps that each append one
node to a growing pool. A step names an op from ``OPS`` and refers to earlier
nodes by their index in the pool, so any node can be used many times (shared
sub-expressions, diamonds, ``x * x``). The same program is replayed three ways:

* ``"micrograd"`` -- on ``Value``s (the engine under test);
* ``"torch"`` -- on float64 0-d tensors (the oracle);
* ``"value"`` -- on plain floats, by ``reference()``: the forward value and every
  local derivative of every node. It decides which steps are safe to draw (in
  the domain, no overflow, away from kinks) and gives each compared number an
  error *scale* (see ``Reference``), so tolerances follow the maths instead of
  being one fixed guess.

Steps are plain tuples so a failing case prints as code that can be pasted into
the regression list of test_fuzz.py:

    ("exp", i)  ("add", i, j)  ("rsub_c", i, 2.0)  ("linear", (w1, w2), (x1, x2), b)  ("linear_c", (w1,), (3.0,), b)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from micrograd import linear

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
# The op table: one row per op, its three implementations and its derivatives
# ----------------------------------------------------------------------


@dataclass(frozen=True)
class OpSpec:
    shape: str  # how the step's arguments read: unary, binary, const, linear, linear_c
    micrograd: Callable[..., Any]
    torch: Callable[..., Any]  # written with tensor methods, so this module needs no torch import
    value: Callable[..., float]  # the maths on floats
    partials: Callable[..., tuple[float, ...]]  # d out / d each node operand, on floats
    primitive: bool = True  # False: micrograd builds it from other ops (no derivative code of its own)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _weighted_sum(ws: Sequence[Any], xs: Sequence[Any], b: Any) -> Any:
    """bias + w1*x1 + w2*x2 ..., left to right: the order micrograd's linear adds in, so torch rounds alike."""
    total = b
    for w, x in zip(ws, xs, strict=True):
        total = total + w * x
    return total


def _pow_partials(a: float, b: float) -> tuple[float, float]:
    return b * a ** (b - 1.0), a**b * math.log(a)


def _pow_c_partial(a: float, c: Any) -> tuple[float]:
    k = float(c)
    return (0.0 if k == 0.0 else k * a ** (k - 1.0),)


OPS: dict[str, OpSpec] = {
    # unary
    "neg": OpSpec("unary", lambda a: -a, lambda a: -a, lambda a: -a, lambda a: (-1.0,), primitive=False),
    "exp": OpSpec("unary", lambda a: a.exp(), lambda a: a.exp(), math.exp, lambda a: (math.exp(a),)),
    "log": OpSpec("unary", lambda a: a.log(), lambda a: a.log(), math.log, lambda a: (1.0 / a,)),
    "tanh": OpSpec("unary", lambda a: a.tanh(), lambda a: a.tanh(), math.tanh, lambda a: (1.0 - math.tanh(a) ** 2,)),
    "sigmoid": OpSpec(
        "unary", lambda a: a.sigmoid(), lambda a: a.sigmoid(), _sigmoid, lambda a: (_sigmoid(a) * (1 - _sigmoid(a)),)
    ),
    "relu": OpSpec("unary", lambda a: a.relu(), lambda a: a.relu(), lambda a: max(a, 0.0), lambda a: (float(a > 0),)),
    # binary, both operands nodes
    "add": OpSpec("binary", lambda a, b: a + b, lambda a, b: a + b, lambda a, b: a + b, lambda a, b: (1.0, 1.0)),
    "sub": OpSpec(
        "binary", lambda a, b: a - b, lambda a, b: a - b, lambda a, b: a - b, lambda a, b: (1.0, -1.0), primitive=False
    ),
    "mul": OpSpec("binary", lambda a, b: a * b, lambda a, b: a * b, lambda a, b: a * b, lambda a, b: (b, a)),
    "div": OpSpec(
        "binary",
        lambda a, b: a / b,
        lambda a, b: a / b,
        lambda a, b: a / b,
        lambda a, b: (1.0 / b, -a / (b * b)),
        primitive=False,
    ),
    "pow": OpSpec("binary", lambda a, b: a**b, lambda a, b: a**b, lambda a, b: a**b, _pow_partials),
    # a node and a constant, the constant on the right (x_c) or on the left (rx_c)
    "add_c": OpSpec("const", lambda a, c: a + c, lambda a, c: a + c, lambda a, c: a + c, lambda a, c: (1.0,)),
    "radd_c": OpSpec(
        "const", lambda a, c: c + a, lambda a, c: c + a, lambda a, c: c + a, lambda a, c: (1.0,), primitive=False
    ),
    "sub_c": OpSpec(
        "const", lambda a, c: a - c, lambda a, c: a - c, lambda a, c: a - c, lambda a, c: (1.0,), primitive=False
    ),
    "rsub_c": OpSpec(
        "const", lambda a, c: c - a, lambda a, c: c - a, lambda a, c: c - a, lambda a, c: (-1.0,), primitive=False
    ),
    "mul_c": OpSpec("const", lambda a, c: a * c, lambda a, c: a * c, lambda a, c: a * c, lambda a, c: (float(c),)),
    "rmul_c": OpSpec(
        "const", lambda a, c: c * a, lambda a, c: c * a, lambda a, c: c * a, lambda a, c: (float(c),), primitive=False
    ),
    "div_c": OpSpec(
        "const", lambda a, c: a / c, lambda a, c: a / c, lambda a, c: a / c, lambda a, c: (1.0 / c,), primitive=False
    ),
    "rdiv_c": OpSpec(
        "const",
        lambda a, c: c / a,
        lambda a, c: c / a,
        lambda a, c: c / a,
        lambda a, c: (-c / (a * a),),
        primitive=False,
    ),
    # x ** k: micrograd gets k as drawn (int, float or Fraction); torch and floats get float(k)
    "pow_c": OpSpec(
        "const", lambda a, c: a**c, lambda a, c: a ** float(c), lambda a, c: a ** float(c), _pow_c_partial
    ),
    "rpow_c": OpSpec(
        "const",
        lambda a, c: c**a,
        lambda a, c: c**a,
        lambda a, c: c**a,
        lambda a, c: (c**a * math.log(c),),
        primitive=False,
    ),
    # a neuron: linear(ws, xs, bias), the inputs nodes (linear) or constants (linear_c)
    "linear": OpSpec(
        "linear", linear, _weighted_sum, _weighted_sum, lambda ws, xs, b: (*xs, *ws, 1.0)
    ),
    "linear_c": OpSpec(
        "linear_c", linear, _weighted_sum, _weighted_sum, lambda ws, cs, b: (*(float(c) for c in cs), 1.0)
    ),
}
OP_NAMES = tuple(OPS)


def node_operands(step: Step) -> list[int]:
    """The pool indices a step reads, in the order its partials are listed."""
    name, *args = step
    shape = OPS[name].shape
    if shape == "unary":
        return [args[0]]
    if shape == "binary":
        return [args[0], args[1]]
    if shape == "const":
        return [args[0]]
    ws, xs, b = args
    return [*ws, *xs, b] if shape == "linear" else [*ws, b]


def call_arguments(step: Step, pool: Sequence[Any]) -> tuple[Any, ...]:
    """The positional arguments of the step's op, nodes looked up in the pool."""
    name, *args = step
    shape = OPS[name].shape
    if shape in ("unary", "binary"):
        return tuple(pool[i] for i in args)
    if shape == "const":
        return pool[args[0]], args[1]
    ws, xs, b = args
    inputs = [pool[i] for i in xs] if shape == "linear" else list(xs)
    return [pool[i] for i in ws], inputs, pool[b]


def replay(program: Program, leaves: Sequence[Any], implementation: str) -> list[Any]:
    """Every node of the program, leaves first, computed with one implementation of the ops."""
    pool = list(leaves)
    for step in program.steps:
        op = getattr(OPS[step[0]], implementation)
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
    would change the answer a lot, or flip a domain check). ``kink`` keeps relu's
    operand, and the base of a fractional power, this far from 0: two engines may
    round a value near 0 to different signs.
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
    spec = OPS[name]
    args = call_arguments(step, values)
    try:
        out = spec.value(*args)
        partials = spec.partials(*args)
    except (ArithmeticError, ValueError) as error:  # log(-1), 1/0, 0.0 ** -1, exp(1000)
        raise Infeasible(f"{name}: {error}") from None
    numbers = (out, *partials)
    if any(isinstance(x, complex) for x in numbers):  # (-8.0) ** 0.5 is complex in Python
        raise Infeasible(f"{name}: complex result")
    if not all(math.isfinite(x) for x in numbers):
        raise Infeasible(f"{name}: not finite")
    if abs(out) > bounds.value or any(abs(p) > bounds.partial for p in partials):
        raise Infeasible(f"{name}: too large")
    if name == "relu" and abs(args[0]) < bounds.kink:
        raise Infeasible("relu: too close to the kink")
    if name == "pow" or (name == "pow_c" and not float(args[1]).is_integer()):
        if args[0] < bounds.kink:  # x ** y with y not an integer only exists for x > 0
            raise Infeasible(f"{name}: base too close to 0 or negative")
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
    op_names: Sequence[str] = OP_NAMES,
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
        if step[0] == "linear":
            linear_inputs.append(step[2])
        steps.append(step)
    return Program(tuple(leaves), tuple(steps))


def _draw_step(
    draw: st.DrawFn, n_nodes: int, n_leaves: int, op_names: Sequence[str], linear_inputs: list[tuple[int, ...]]
) -> Step:
    name = draw(st.sampled_from(op_names))
    shape = OPS[name].shape

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
    if name == "linear" and linear_inputs and draw(st.integers(0, 3)) == 0:
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
    return (name, weights, inputs, bias)
