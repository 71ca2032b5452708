"""Differential test of the two engines: every graph gives the same bits on both.

``micrograd/_cengine.c`` (the native accelerator) and ``micrograd/engine.py``
(the pure-Python reference, chosen by ``MICROGRAD_PURE=1``) promise the same
``data`` and ``grad`` for every graph, to the last bit. This file checks it on

* random programs (:func:`run_program`): a few leaves, each reused many times,
  and a pass over every op of the table, every operator with Values, floats and
  ints on either side, the math namespace, ``linear``, the table's rows called
  directly and two ops defined here with ``defop``; then ``backward()``, first
  derivatives with ``create_graph=True`` and second derivatives of them;
* five steps of SGD on the lecture's MLP with the hinge loss (:func:`train_mlp`);
* graphs pickled by one engine and loaded by the other;
* edge cases the random programs avoid (:data:`EDGES`: NaN, inf, subnormals, -0.0,
  kinks, overflows, errors, hand-made nodes), one per line: the same graph, or
  the same error with the same message, from both engines.

Each engine runs in a child process (this module, imported by the child: one
child per engine runs every seed, since starting Python is the slow part); the
pytest process runs the same programs with whatever engine it has. Numbers are
compared as ``float.hex``, so -0.0 and 0.0 differ and NaN is a string like any other.
To see what a seed builds, or to bisect a mismatch: ``run_program(seed)`` in a
Python with and without ``MICROGRAD_PURE=1``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pickle
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, cast

import pytest

import micrograd
from helpers import TESTS, engine_env
from micrograd import Value, ops
from micrograd import engine as micrograd_engine
from micrograd.engine import topological_order
from micrograd.losses import hinge_loss
from micrograd.nn import MLP  # importing nn adds its rows to the table (rms_scale, attention_score, attend)
from micrograd.ops import OPS, defop

try:
    import fcntl  # to share the children's results between pytest-xdist's workers (POSIX)
except ImportError:  # pragma: no cover - elsewhere each worker runs its own children
    fcntl = None  # type: ignore[assignment]

SEEDS = range(200)
PICKLE_SEEDS = range(10)
LIMIT = 8.0  # every node of a program is scaled back into [-LIMIT, LIMIT]: no overflow, bounded derivatives

# Two ops of our own, defined as a user would (prefixed names: no other test's defop replaces them).
SOFTSIGN = defop("diff_softsign", lambda x: x / (1.0 + abs(x)), lambda x, out: 1.0 / (1.0 + ops.abs(x)) ** 2)
BLEND = defop(  # two inputs and a keyword attr
    "diff_blend",
    lambda a, b, *, w: w * a * b + math.sin(a),
    lambda a, b, out, *, w: (w * b + ops.cos(a), w * a),
)


# ----------------------------------------------------------------------
# The random programs
# ----------------------------------------------------------------------


class Pool:
    """The nodes of one program: a few leaves, then one node per step; operands are drawn from it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        zero = rng.choice([0.0, -0.0])  # leaves[0] is a zero of either sign: x * 0, relu(0), 0 ** y ...
        self.leaves = [Value(zero), Value(rng.uniform(-2.0, 2.0)), Value(rng.uniform(0.25, 3.0))]
        self.leaves += [Value(rng.choice([1.0, -1.0, 0.5, 2])), Value(rng.uniform(-3.0, 3.0))]
        self.nodes: list[Value] = list(self.leaves)

    def pick(self) -> Value:
        """Any node: a leaf or a recent node most often, so that each feeds several later nodes."""
        r = self.rng.random()
        if r < 0.4:
            return self.rng.choice(self.leaves)
        if r < 0.8:
            return self.nodes[-self.rng.randint(1, min(4, len(self.nodes)))]
        return self.rng.choice(self.nodes)

    def positive(self) -> Value:
        """A node >= 0.25 by construction (log, sqrt, fractional and Value powers, divisors)."""
        x, how = self.pick(), self.rng.randrange(5)
        if how == 0 and x.data >= 0.25:
            return x
        if how == 1:
            return abs(x) + 0.25
        if how == 2:
            return x * x + 0.5
        if how == 3:
            return x.sigmoid() + 0.25
        return 0.25 + x.softplus()

    def nonzero(self) -> Value:
        """A node with |x| >= 0.25, of either sign."""
        x = self.positive()
        return x if self.rng.random() < 0.5 else -x

    def small(self, limit: float) -> Value:
        """A node scaled into [-limit, limit] (exp's argument, exponents)."""
        x = self.pick()
        return x if abs(x.data) <= limit else x * (limit / abs(x.data))

    def const(self) -> float:
        return self.rng.choice([0.5, -1.5, 2.0, 0.1, -3.0, self.rng.uniform(-3.0, 3.0)])

    def integer(self) -> int:
        return self.rng.choice([-3, -1, 1, 2, 5])

    def number(self) -> float | int:
        return self.const() if self.rng.random() < 0.5 else self.integer()

    def operand(self) -> Value | float | int:
        return self.pick() if self.rng.random() < 0.6 else self.number()

    def several(self, n: int) -> list[Value]:
        return [self.pick() for _ in range(n)]

    def add(self, node: Value) -> None:
        """Append a step's node, scaled back into [-LIMIT, LIMIT] by a constant factor (gradients flow on)."""
        if not math.isfinite(node.data):
            raise AssertionError(f"the generator made a non-finite node {node!r}")
        self.nodes.append(node if abs(node.data) <= LIMIT else node * (LIMIT / abs(node.data)))


def _linear(p: Pool, bias: bool) -> Value:
    """micrograd.linear with Value weights, inputs mixing Values, floats and ints, as a list or a tuple."""
    n = p.rng.randint(1, 4)
    weights, inputs = p.several(n), [p.operand() for _ in range(n)]
    if p.rng.random() < 0.3:
        return micrograd.linear(tuple(weights), tuple(inputs), p.pick() if bias else None)
    return micrograd.linear(weights, inputs, p.pick() if bias else None)


def _handmade(p: Pool) -> Value:
    """a * b as microgpt makes a node by hand: children and local derivatives given to the constructor."""
    a, b = p.pick(), p.pick()
    return Value(a.data * b.data, (a, b), "handmade", _local_grads=(b.data, a.data))


def _unary_row(name: str) -> Callable[[Pool], Value]:
    """A one-input row of the table, called directly on any node."""
    return lambda p: OPS[name](p.pick())


def _rows(p: Pool, name: str, n: int, **attrs: Any) -> Value:
    """A row of the table with n inputs (twice n for the rows of pairs), called directly."""
    return cast(Value, OPS[name](*p.several(n), **attrs))


# Every step builds one node from the pool. Each program takes every step once (in a shuffled order),
# then random ones, so every program covers every op, operator and row.
STEPS: dict[str, Callable[[Pool], Value]] = {
    "v + v": lambda p: p.pick() + p.pick(),
    "v + float": lambda p: p.pick() + p.const(),
    "float + v": lambda p: p.const() + p.pick(),
    "v + int": lambda p: p.pick() + p.integer(),
    "int + v": lambda p: p.integer() + p.pick(),
    "v - v": lambda p: p.pick() - p.pick(),
    "v - v, same node (exactly 0)": lambda p: (lambda x: x - x)(p.pick()),
    "v - float": lambda p: p.pick() - p.const(),
    "float - v": lambda p: p.const() - p.pick(),
    "v - int": lambda p: p.pick() - p.integer(),
    "int - v": lambda p: p.integer() - p.pick(),
    "v * v": lambda p: p.pick() * p.pick(),
    "v * v, same node": lambda p: (lambda x: x * x)(p.pick()),
    "v * float": lambda p: p.pick() * p.const(),
    "float * v": lambda p: p.const() * p.pick(),
    "v * int": lambda p: p.pick() * p.integer(),
    "int * v": lambda p: p.integer() * p.pick(),
    "v * 0.0": lambda p: p.pick() * 0.0,
    "v * 1e-300 (subnormals downstream)": lambda p: p.pick() * 1e-300,
    "v / v": lambda p: p.pick() / p.nonzero(),
    "v / float": lambda p: p.pick() / p.rng.choice([0.5, -3.0, 0.1, 7.0]),
    "float / v": lambda p: p.const() / p.nonzero(),
    "v / int": lambda p: p.pick() / p.integer(),
    "int / v": lambda p: p.integer() / p.nonzero(),
    "-v": lambda p: -p.pick(),
    "v ** int": lambda p: p.pick() ** p.rng.choice([0, 1, 2, 3]),
    "v ** float": lambda p: p.pick() ** p.rng.choice([0.0, 1.0, 2.0, 3.0]),
    "v ** negative": lambda p: p.nonzero() ** p.rng.choice([-1, -2, -3, -1.0, -2.0]),
    "v ** fraction": lambda p: p.positive() ** p.rng.choice([0.5, 1.5, -0.5, 2.5, -1.5, 1 / 3]),
    "v ** v": lambda p: p.positive() ** p.small(2.0),
    "number ** v": lambda p: p.rng.choice([2.0, 0.5, 3]) ** p.small(2.0),
    "0 ** v": lambda p: p.leaves[0] ** (abs(p.pick()) + 3.0),  # y >= 3: every derivative is defined
    "exp()": lambda p: p.small(3.0).exp(),
    "log()": lambda p: p.positive().log(),
    "tanh()": lambda p: p.pick().tanh(),
    "sigmoid()": lambda p: p.pick().sigmoid(),
    "relu()": lambda p: p.pick().relu(),
    "relu() of exactly 0": lambda p: (lambda x: (x - x).relu())(p.pick()),
    "relu() of a signed 0": lambda p: (p.pick() * 0.0).relu(),
    "relu() of a negative": lambda p: (-abs(p.pick()) - 0.5).relu(),
    "sin()": lambda p: p.pick().sin(),
    "cos()": lambda p: p.pick().cos(),
    "sqrt()": lambda p: p.positive().sqrt(),
    "softplus()": lambda p: p.pick().softplus(),
    "silu()": lambda p: p.pick().silu(),
    "gelu()": lambda p: p.pick().gelu(),
    "abs()": lambda p: abs(p.pick()),
    "ops.exp": lambda p: ops.exp(p.small(3.0)),
    "ops.log": lambda p: ops.log(p.positive()),
    "ops.tanh": lambda p: ops.tanh(p.pick()),
    "ops.sigmoid": lambda p: ops.sigmoid(p.pick()),
    "ops.relu": lambda p: ops.relu(p.pick()),
    "ops.sin": lambda p: ops.sin(p.pick()),
    "ops.cos": lambda p: ops.cos(p.pick()),
    "ops.sqrt": lambda p: ops.sqrt(p.positive()),
    "ops.softplus": lambda p: ops.softplus(p.pick()),
    "ops.silu": lambda p: ops.silu(p.pick()),
    "ops.gelu": lambda p: ops.gelu(p.pick()),
    "ops.abs": lambda p: ops.abs(p.pick()),
    "linear": lambda p: _linear(p, bias=True),
    "linear, bias=None": lambda p: _linear(p, bias=False),
    "node made by hand": _handmade,
    "defop softsign": lambda p: SOFTSIGN(p.pick()),
    "defop blend (attr w)": lambda p: BLEND(p.pick(), p.operand(), w=p.rng.choice([0.5, -2.0, 3])),
    "OPS[+]": lambda p: OPS["+"](p.operand(), p.pick()),
    "OPS[*]": lambda p: OPS["*"](p.pick(), p.operand()),
    "OPS[pow] (attr k)": lambda p: OPS["pow"](p.positive(), k=p.rng.choice([2, 3.0, -1.5, 0.5])),
    "OPS[**]": lambda p: OPS["**"](p.positive(), p.small(2.0)),
    "OPS[exp]": lambda p: OPS["exp"](p.small(3.0)),
    "OPS[log]": lambda p: OPS["log"](p.positive()),
    "OPS[sqrt]": lambda p: OPS["sqrt"](p.positive()),
    "OPS[tanh]": _unary_row("tanh"),
    "OPS[sigmoid]": _unary_row("sigmoid"),
    "OPS[relu]": _unary_row("relu"),
    "OPS[sin]": _unary_row("sin"),
    "OPS[cos]": _unary_row("cos"),
    "OPS[abs]": _unary_row("abs"),
    "OPS[softplus]": _unary_row("softplus"),
    "OPS[silu]": _unary_row("silu"),
    "OPS[gelu]": _unary_row("gelu"),
    "OPS[diff_softsign]": _unary_row("diff_softsign"),
    "OPS[diff_blend]": lambda p: OPS["diff_blend"](p.operand(), p.pick(), w=p.const()),
    "OPS[linear]": lambda p: (lambda n: _rows(p, "linear", 2 * n + 1))(p.rng.randint(1, 3)),
    "OPS[dot]": lambda p: (lambda n: _rows(p, "dot", 2 * n))(p.rng.randint(1, 3)),
    "OPS[softmax_cross_entropy] (target)": lambda p: _rows(p, "softmax_cross_entropy", 3, target=p.rng.randrange(3)),
    "OPS[rms_scale] (eps)": lambda p: OPS["rms_scale"](p.positive(), *p.several(2), eps=p.rng.choice([1e-5, 0.5])),
    "OPS[attention_score] (scale)": lambda p: _rows(p, "attention_score", 4, scale=p.rng.choice([0.5, 0.25])),
    "OPS[attend]": lambda p: (lambda n: _rows(p, "attend", 2 * n))(p.rng.randint(1, 3)),
}
EXTRA_STEPS = 30  # random steps after the pass over STEPS


def build_program(seed: int) -> tuple[Value, list[Value], list[Value]]:
    """The graph of one seed: its output (the sum of every step's node), its leaves and three inner nodes."""
    pool = Pool(random.Random(seed))
    names = list(STEPS)
    pool.rng.shuffle(names)
    names += pool.rng.choices(list(STEPS), k=EXTRA_STEPS)
    for name in names:
        pool.add(STEPS[name](pool))
    inner = pool.nodes[len(pool.leaves) :]
    out = sum(inner, pool.leaves[1])  # every node reaches the output
    return out, pool.leaves, pool.rng.sample(inner, 3)


def describe(out: Value) -> list[str]:
    """One line per node of the graph, in topological order: op, data and grad as float.hex."""
    lines = []
    for i, node in enumerate(topological_order(out)):
        name = node._fn.name if node._fn is not None else "handmade" if node._prev else "leaf"
        lines.append(f"node {i} {name} {node._op!r} {node.data.hex()} {_hex(node.grad)}")
    return lines


def _hex(x: Any) -> str:
    """A grad as text: a float's hex, a Value's (after create_graph) or anything else's repr (p.grad = 0)."""
    if type(x) is float:
        return x.hex()
    return f"Value {x.data.hex()}" if isinstance(x, Value) else f"{type(x).__name__} {x!r}"


def run_program(seed: int) -> list[str]:
    """The graph of one seed, differentiated five ways; float.hex of every number, one line each."""
    out, leaves, inner = build_program(seed)
    out.backward()
    lines = describe(out)
    wrt = leaves + inner  # with respect to the leaves and three inner nodes
    firsts = micrograd.grad(out, wrt, create_graph=True)
    lines += [f"d/dx{i} {d.data.hex()}" for i, d in enumerate(firsts)]
    lines += [f"d/dx1 graph: {line}" for line in describe(firsts[1])]
    for i, first in enumerate(firsts[1:3], 1):  # second derivatives: two rows of the Hessian
        lines += [f"d2/dx{i}dx{j} {_hex(d)}" for j, d in enumerate(micrograd.grad(first, wrt))]
    both = micrograd.grad([out, inner[0]], wrt)  # two outputs: the gradient of their sum
    lines += [f"d(out + inner0)/dx{i} {_hex(d)}" for i, d in enumerate(both)]
    out.backward(create_graph=True)  # leaves accumulate: their float grads plus the Values of this pass
    lines += [f"leaf{i} after backward(create_graph=True) {_hex(leaf.grad)}" for i, leaf in enumerate(leaves)]
    return lines


def ops_used(lines: list[str]) -> set[str]:
    """The rows of the table that made a node of a program (from run_program's lines)."""
    return {line.split()[2] for line in lines if line.startswith("node ")} - {"leaf"}


# ----------------------------------------------------------------------
# The lecture's MLP, and pickles
# ----------------------------------------------------------------------

POINTS = [[0.0, 0.0], [1.0, -0.5], [-1.5, 2.0], [0.25, 1.0], [2.0, 2.0], [-0.5, -1.25]]  # (0, 0): relu's kink
LABELS = [1, -1, 1, -1, 1, -1]


def train_mlp() -> list[str]:
    """Five steps of SGD on MLP(2, [8, 8, 1]) with the hinge loss and L2, as in the demo; hex of everything."""
    state = random.getstate()
    random.seed(1337)
    try:
        model = MLP(2, [8, 8, 1])
    finally:
        random.setstate(state)  # in the pytest process, leave the global generator as it was
    lines = []
    for step in range(5):
        scores = [cast(Value, model(x)) for x in POINTS]
        loss = hinge_loss(scores, LABELS) + 1e-4 * sum(p * p for p in model.parameters())
        model.zero_grad()
        loss.backward()
        lines.append(f"step {step} loss {loss.data.hex()}")
        lines += [f"step {step} {name} {p.data.hex()} {_hex(p.grad)}" for name, p in model.named_parameters()]
        learning_rate = 1.0 - 0.9 * step / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
    return lines + [f"final {name} {p.data.hex()}" for name, p in model.named_parameters()]


# Not pickled: a graph after backward(create_graph=True). Its leaves' grads are Values whose graphs hold the
# leaves again, and pickle (and copy.deepcopy) then recurse without end, in both engines alike.
PICKLED = ("output after backward()", "a first derivative (create_graph=True)")


def pickled_graph(seed: int, kind: str) -> Value:
    """One graph to pickle: a program's output after backward(), or the graph of one of its first derivatives.

    Each is built afresh: a pickle copies each graph on its own, so graphs that share nodes would part on loading.
    """
    out, leaves, _ = build_program(seed)
    out.backward()
    return micrograd.grad(out, leaves, create_graph=True)[1] if kind == PICKLED[1] else out


def dump_graphs(path: Path) -> list[list[str]]:
    """Pickle graphs of every kind for PICKLE_SEEDS to path; their lines, then their lines after a second backward."""
    graphs = [pickled_graph(seed, kind) for kind in PICKLED for seed in PICKLE_SEEDS]
    lines = [describe(out) for out in graphs]
    path.write_bytes(pickle.dumps(graphs))
    for out in graphs:
        out.backward()  # leaves accumulate: a second pass uses the stored local derivatives again
        lines.append(describe(out))
    return lines


def load_graphs(path: Path) -> list[list[str]]:
    """The graphs dump_graphs pickled: their lines as loaded, then after a second backward in this engine."""
    graphs = pickle.loads(path.read_bytes())
    lines = [describe(out) for out in graphs]
    for out in graphs:
        out.backward()
        lines.append(describe(out))
    return lines


# ----------------------------------------------------------------------
# Edge cases the random programs stay away from: each a small graph, or an error
# (the same error, with the same message, from both engines)
# ----------------------------------------------------------------------

NAN, INF = math.nan, math.inf


def _lecture_tanh() -> Value:
    """The lecture's way to add an op: a node made by hand with its own _backward."""
    x = Value(0.5)
    n = x * 2
    t = math.tanh(n.data)
    out = Value(t, (n,), "tanh")

    def backward() -> None:
        n.grad += (1 - t**2) * out.grad

    out._backward = backward
    return out * 3


def _int_grads() -> Value:
    """Gradients reset to the int 0 by hand (p.grad = 0) before backward."""
    a = Value(2.0)
    b = a * 3
    a.grad = b.grad = 0
    return b * a


def _chain(depth: int) -> Value:
    """A graph far deeper than Python's recursion limit."""
    x = y = Value(0.5)
    for _ in range(depth):
        y = y * 1.0001 + x * 1e-4
    return y


EDGES: dict[str, Callable[[], Value]] = {
    "relu(nan)": lambda: Value(NAN).relu() * 2,
    "exp, tanh, sigmoid of inf and -inf": lambda: Value(INF).tanh() + Value(-INF).exp() + Value(-INF).sigmoid(),
    "exp(inf)": lambda: Value(INF).exp(),
    "exp(709.7), next to overflow": lambda: Value(709.7).exp(),
    "exp(710): overflow": lambda: Value(710.0).exp(),
    "exp(-745): a subnormal": lambda: Value(-745.0).exp() * 2,
    "subnormal * subnormal": lambda: Value(1e-310) * Value(1e-10),
    "log(1e-310): the derivative overflows": lambda: Value(1e-310).log(),
    "log(0)": lambda: Value(0.0).log(),
    "sqrt(0): an infinite derivative": lambda: Value(0.0).sqrt(),
    "0 ** 0": lambda: Value(0.0) ** 0,
    "0 ** -1": lambda: Value(0.0) ** -1,
    "(-0.0) ** 3": lambda: Value(-0.0) ** 3,
    "(-2) ** 0.5": lambda: Value(-2.0) ** 0.5,
    "10 ** 400: overflow": lambda: Value(10.0) ** 400,
    "10 ** -320: a subnormal": lambda: Value(10.0) ** -320,
    "2 ** inf": lambda: Value(2.0) ** INF,
    "0 ** Value(0)": lambda: Value(0.0) ** Value(0.0),
    "(-2) ** Value(2): d/dy is nan": lambda: Value(-2.0) ** Value(2.0),
    "1 / 1e-310: overflow": lambda: Value(1.0) / 1e-310,
    "1 / Value(0)": lambda: Value(1.0) / Value(0.0),
    "x / 0": lambda: Value(1.0) / 0,
    "x + 10**400": lambda: Value(1.0) + 10**400,
    "x * True, x / Fraction(1, 3)": lambda: Value(2.0) * True + Value(1.0) / cast(Any, Fraction(1, 3)),
    "-0.0 through +, *, relu, abs": lambda: (Value(-0.0) + Value(-0.0)) * 2 + Value(-0.0).relu() + abs(Value(-0.0)),
    "linear of -0.0 with no bias": lambda: micrograd.linear([Value(-0.0)], [1.0], None),
    "linear of no weights, with a bias": lambda: micrograd.linear([], [], Value(1.0)),
    "OPS[linear] of a bias alone": lambda: OPS["linear"](Value(1.0)),
    "softmax_cross_entropy of one logit": lambda: OPS["softmax_cross_entropy"](Value(0.3), target=0),
    "rms_scale of one input": lambda: OPS["rms_scale"](Value(0.3), eps=1e-5),
    "attend over one position": lambda: OPS["attend"](Value(0.3), Value(2.0)),
    "a node with its own _backward (lecture)": _lecture_tanh,
    "grads set to the int 0": _int_grads,
    "a chain 5000 deep": lambda: _chain(5000),
}


def run_edge(name: str) -> list[str]:
    """An edge case's graph after backward() and grad(create_graph=True), or the error and where it came."""
    try:
        out = EDGES[name]()
    except Exception as error:
        return [f"building: {type(error).__name__}: {error}"]
    lines = [f"before backward: {line}" for line in describe(out)]
    for stage in ("backward()", "backward() again", "grad(create_graph=True)"):
        try:
            if stage.startswith("backward"):
                out.backward()
                lines += [f"after {stage}: {line}" for line in describe(out)]
            else:
                leaves = [node for node in topological_order(out) if not node._prev]
                lines += [f"d/dleaf{i} {_hex(d)}" for i, d in enumerate(micrograd.grad(out, leaves, create_graph=True))]
        except Exception as error:
            lines.append(f"{stage}: {type(error).__name__}: {error}")
    return lines


# ----------------------------------------------------------------------
# The child processes
# ----------------------------------------------------------------------


def child_main() -> None:
    """A child's work: the job (JSON on stdin) in, the numbers and the engine that made them (JSON on stdout) out."""
    job = json.loads(sys.stdin.read())
    result: dict[str, Any] = {"backend": micrograd_engine.backend, "ops": sorted(OPS)}
    if "seeds" in job:
        result["programs"] = {str(seed): run_program(seed) for seed in job["seeds"]}
    if job.get("mlp"):
        result["mlp"] = train_mlp()
    if job.get("edges"):
        result["edges"] = {name: run_edge(name) for name in EDGES}
    if "dump" in job:
        result["graphs"] = dump_graphs(Path(job["dump"]))
    if "load" in job:
        result["graphs"] = load_graphs(Path(job["load"]))
    json.dump(result, sys.stdout)


CHILD_CODE = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_differential as t; t.child_main()"


class Child:
    """This module run in another Python, with the native engine or MICROGRAD_PURE=1, started at once."""

    def __init__(self, engine: str, job: dict[str, Any]) -> None:
        env = engine_env(pure=engine == "pure")
        self.engine = engine
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD_CODE],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.job = json.dumps(job)
        self._result: dict[str, Any] | None = None

    def result(self) -> dict[str, Any]:
        if self._result is None:
            stdout, stderr = self.process.communicate(self.job, timeout=120)
            assert self.process.returncode == 0, f"the {self.engine} child failed:\n{stderr}"
            self._result = json.loads(stdout)
        return self._result


def run_child(engine: str, job: dict[str, Any]) -> dict[str, Any]:
    return Child(engine, job).result()


def require_native(result: dict[str, Any]) -> None:
    """Skip when the accelerator is not built; fail when it is but the child did not run it."""
    if result["backend"] == "native":
        return
    if importlib.util.find_spec("micrograd._cengine") is None:
        pytest.skip("the native engine (micrograd._cengine) is not built: nothing to compare the reference with")
    raise AssertionError(f"micrograd._cengine is built, but a child without MICROGRAD_PURE ran {result['backend']!r}")


def first_difference(ours: list[str], theirs: list[str], names: tuple[str, str]) -> str:
    """Where two runs part: the first line that differs (each run's), the line before it, how many differ."""
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b]
    if not differ:
        return f"{names[0]} has {len(ours)} lines, {names[1]} {len(theirs)}"
    i = differ[0]
    before = ours[i - 1] if i else "(start)"
    return (
        f"line {i} of {len(ours)} ({len(differ)} lines differ), after {before!r}:\n"
        f"  {names[0]}: {ours[i]}\n  {names[1]}: {theirs[i]}"
    )


def assert_same_programs(ours: dict[str, list[str]], theirs: dict[str, list[str]], names: tuple[str, str]) -> None:
    assert ours.keys() == theirs.keys()
    bad = [int(seed) for seed in ours if ours[seed] != theirs[seed]]
    if bad:
        seed = str(min(bad))
        raise AssertionError(
            f"{names[0]} vs {names[1]}: {len(bad)} of {len(ours)} programs differ, seeds {sorted(bad)[:20]}; "
            f"run_program({seed}) differs at {first_difference(ours[seed], theirs[seed], names)}"
        )


class Children:
    """Both engines' children for one job, started at once and left to run while the pytest process works.

    Under pytest-xdist the first worker to get here runs them and leaves the results in the session's
    temporary folder for the other worker (which waits on a lock meanwhile): one run per session.
    """

    def __init__(self, job: dict[str, Any], shared: Path | None) -> None:
        self.results: dict[str, dict[str, Any]] = {}
        self.running: dict[str, Child] = {}
        self.lock: IO[str] | None = None
        self.cache = shared / "differential-children.json" if shared is not None else None
        if shared is not None:
            self.lock = open(shared / "differential-children.lock", "w")  # held until close()
            fcntl.flock(self.lock.fileno(), fcntl.LOCK_EX)
            if self.cache is not None and self.cache.exists():
                self.results = json.loads(self.cache.read_text())
                self.close()
                return
        self.running = {engine: Child(engine, job) for engine in ("native", "pure")}

    def result(self, engine: str) -> dict[str, Any]:
        if not self.results:
            self.results = {name: child.result() for name, child in self.running.items()}
            if self.cache is not None:
                self.cache.write_text(json.dumps(self.results))
            self.close()
        return self.results[engine]

    def close(self) -> None:
        for child in self.running.values():
            if child.process.poll() is None:  # a test failed before it read the results
                child.process.kill()
                child.process.communicate()
        if self.lock is not None:
            self.lock.close()  # releases the lock
            self.lock = None


# ----------------------------------------------------------------------
# The tests
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def children(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Children]:
    """The children running every seed and the MLP, once per session (shared by xdist's workers)."""
    xdist = os.environ.get("PYTEST_XDIST_WORKER") is not None and fcntl is not None
    running = Children(
        {"seeds": list(SEEDS), "mlp": True, "edges": True}, tmp_path_factory.getbasetemp().parent if xdist else None
    )
    yield running
    running.close()


def test_programs_in_this_process_match_the_reference(children: Children) -> None:
    ours = {str(seed): run_program(seed) for seed in SEEDS}  # while the children run
    assert_same_programs(ours, children.result("pure")["programs"], (f"{micrograd_engine.backend} here", "pure child"))


def test_each_child_runs_the_engine_it_was_asked_for(children: Children) -> None:
    assert children.result("pure")["backend"] == "python"
    require_native(children.result("native"))


def test_programs_cover_every_row_of_the_op_table(children: Children) -> None:
    result = children.result("pure")
    for seed, lines in result["programs"].items():
        missing = set(result["ops"]) - ops_used(lines)
        assert not missing, f"run_program({seed}) never uses the rows {sorted(missing)}"
        overflowed = [line for line in lines if {"inf", "-inf", "nan"} & set(line.split())]
        assert not overflowed, f"run_program({seed}) is not finite: {overflowed[:3]}"


def test_programs_native_match_the_reference(children: Children) -> None:
    native = children.result("native")
    require_native(native)
    assert_same_programs(native["programs"], children.result("pure")["programs"], ("native child", "pure child"))


@pytest.mark.parametrize("where", ["this process", "native child"])
def test_mlp_training_matches_the_reference(where: str, children: Children) -> None:
    if where == "this process":
        ours = train_mlp()
    else:
        require_native(children.result("native"))
        ours = children.result("native")["mlp"]
    reference = children.result("pure")["mlp"]
    n = (2 + 1) * 8 + (8 + 1) * 8 + (8 + 1) * 1  # parameters of MLP(2, [8, 8, 1])
    assert len(ours) == len(reference) == 5 * (1 + n) + n
    if ours != reference:
        pytest.fail(f"training differs at {first_difference(ours, reference, (where, 'pure child'))}")


@pytest.mark.parametrize(("writer", "reader"), [("native", "pure"), ("pure", "native")])
def test_graph_pickled_by_one_engine_loads_in_the_other(writer: str, reader: str, tmp_path: Path) -> None:
    path = tmp_path / "graphs.pickle"
    written = run_child(writer, {"dump": str(path)})
    read = run_child(reader, {"load": str(path)})
    require_native(written if writer == "native" else read)
    n = len(PICKLED) * len(PICKLE_SEEDS)
    assert len(written["graphs"]) == len(read["graphs"]) == 2 * n
    for i, (ours, theirs) in enumerate(zip(written["graphs"], read["graphs"], strict=True)):
        if ours != theirs:
            kind, seed = PICKLED[i % n // len(PICKLE_SEEDS)], PICKLE_SEEDS[i % len(PICKLE_SEEDS)]
            when = "as loaded" if i < n else "after a second backward()"
            names = (f"{writer} writer", f"{reader} reader")
            pytest.fail(f"seed {seed}, {kind}, {when}: {first_difference(ours, theirs, names)}")


@pytest.mark.parametrize("name", EDGES)
def test_edge_case_matches_the_reference(name: str, children: Children) -> None:
    reference = children.result("pure")["edges"][name]
    here = run_edge(name)
    if here != reference:
        pytest.fail(f"{name}: {first_difference(here, reference, (f'{micrograd_engine.backend} here', 'pure child'))}")
    native = children.result("native")
    require_native(native)
    if native["edges"][name] != reference:
        pytest.fail(f"{name}: {first_difference(native['edges'][name], reference, ('native child', 'pure child'))}")
