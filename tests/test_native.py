"""The two engines' shared contract where the C accelerator has code of its own.

Every test here runs on whichever engine the process uses (CI runs the suite
twice: natively and with MICROGRAD_PURE=1); the ones about the C type's own
policy (garbage collection, memory per node) skip on the reference engine.
Expected numbers come from calculus or from Python's own float arithmetic.
"""

from __future__ import annotations

import gc
import math
import os
import shutil
import subprocess
import sys
import tracemalloc
import weakref
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, run_cli, run_python
from micrograd import Value, engine, grad, linear, no_grad, ops
from micrograd.engine import chain_rule, topological_order

NATIVE = engine.backend == "native"
native_only = pytest.mark.skipif(not NATIVE, reason="about the C accelerator; this process runs the reference engine")


# ----------------------------------------------------------------------
# Which engine runs
# ----------------------------------------------------------------------


def test_the_environment_chooses_the_engine_for_the_whole_process() -> None:
    code = "import micrograd, micrograd.engine as e; print(e.backend, micrograd.Value is e.Value)"
    assert run_python(code, pure=True).stdout.strip() == "python True"
    if not any(shutil.which(cc) for cc in ("cc", "gcc", "clang")):
        pytest.skip("no C compiler here, so the accelerator was not built")
    # Where a compiler is, the README's install builds the accelerator.
    assert run_python(code, pure=False).stdout.strip() == "native True"


def test_version_and_tour_say_which_engine_runs() -> None:
    version = run_cli("--version", pure=True)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "micrograd 1.0.0 (engine: python, the reference engine.py)"
    tour = run_cli("tour", pure=True)
    assert tour.returncode == 0, tour.stderr
    assert "engine: python (the reference engine.py, chosen by MICROGRAD_PURE)" in tour.stdout


def test_without_a_compiler_the_install_says_the_reference_engine_will_be_used(tmp_path: Path) -> None:
    env = dict(os.environ, CC="/bin/false", LDSHARED="/bin/false")
    result = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path), "--build-temp", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("micrograd:")]
    assert len(lines) == 1 and lines[0].endswith("the pure-Python reference engine will be used"), result.stderr
    assert not list(tmp_path.rglob("_cengine*.so"))


# ----------------------------------------------------------------------
# Garbage: cycles a lecture-style graph can make are collected
# ----------------------------------------------------------------------


def _collected(make: Any) -> bool:
    ref = make()
    gc.collect()
    return ref() is None


def _closure_on_its_own_node() -> weakref.ref[Value]:
    x = Value(0.5)
    out = Value(math.sin(x.data), (x,), "sin")

    def _backward() -> None:
        x.grad += math.cos(x.data) * out.grad  # refers to out: out -> closure -> out

    out._backward = _backward
    y = out * 2 + 1
    y.backward()
    return weakref.ref(out)


def _node_stored_on_its_own_input() -> weakref.ref[Value]:
    a = Value(2.0)
    c = (a * 3 + 1).tanh()  # built before a has any attribute
    a.out = c  # a -> c -> ... -> a
    return weakref.ref(c)


def _node_in_a_list_on_its_input() -> weakref.ref[Value]:
    a = Value(2.0)
    a.history = []
    c = a * a
    a.history.append(c)  # the list was there before c was made
    return weakref.ref(c)


def _grad_graph_on_its_node() -> weakref.ref[Value]:
    x = Value(1.5)
    y = x * x * x
    y.backward(create_graph=True)  # x.grad is a Value whose graph reads x
    return weakref.ref(x)


@pytest.mark.parametrize(
    "make", [_closure_on_its_own_node, _node_stored_on_its_own_input, _node_in_a_list_on_its_input,
             _grad_graph_on_its_node],
)  # fmt: skip
def test_lecture_style_cycles_are_collected(make: Any) -> None:
    assert _collected(make)


@native_only
def test_plain_graphs_stay_out_of_the_collector_and_closures_bring_them_in() -> None:
    x, w = Value(1.0), Value(2.0)
    y = (x * w + 1).tanh()
    assert not any(gc.is_tracked(node) for node in topological_order(y))  # freed by reference counting
    x.label, x.m = "x", 0.5  # strings and floats cannot lead back
    assert not gc.is_tracked(x)
    y._backward = lambda: None  # a closure can: y and all it depends on are tracked
    assert all(gc.is_tracked(node) for node in topological_order(y))
    z = y * 2  # and so is what is built on them
    assert gc.is_tracked(z)


# ----------------------------------------------------------------------
# Depth, memory and references
# ----------------------------------------------------------------------


def test_a_million_levels_of_subtraction_and_division_build_backpropagate_and_free() -> None:
    x = Value(1.0)
    y = x
    for _ in range(500_000):
        y = (y - x) / 1.0  # three nodes a level (neg, add, mul), each on the one before
    y.backward()
    assert x.grad == 1.0 - 500_000.0  # y = x - 500000 x
    deep = weakref.ref(y._prev[0])
    was_enabled = gc.isenabled()
    gc.disable()  # reference counting alone, without recursion in C
    try:
        del y
        assert deep() is None
    finally:
        if was_enabled:
            gc.enable()


@native_only
def test_a_node_takes_at_most_128_bytes() -> None:
    x, w = Value(1.0), Value(2.0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(100_000):
            y = y * w  # one node a step, no constants
        per_node = (tracemalloc.get_traced_memory()[0] - before) / 100_000
    finally:
        tracemalloc.stop()
    assert per_node <= 128.5, per_node
    del y


def test_a_million_build_and_drop_loops_keep_memory_flat() -> None:
    x, w = Value(0.3), Value(-1.2)
    loops = 1_000_000 if NATIVE else 100_000  # the reference: a tenth, in the same time

    def build() -> None:
        (x * w + 1.0).tanh().exp().backward()

    for _ in range(1000):
        build()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(loops):
            build()
        growth = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    # A leak of one byte a loop would show as 100 kB or more; the worker's own bookkeeping moves a few kB.
    assert growth < 64_000, growth


def test_ops_and_errors_leave_reference_counts_as_they_were() -> None:
    x, w = Value(2.0), Value(-1.0)
    tracked = [x, w, ops.ADD, ops.MUL, ops.EXP, ops.POW, ops.LINEAR]
    before = [sys.getrefcount(obj) for obj in tracked]
    for _ in range(200):
        y = linear([w, w], [x, 0.5], x) * x + x**2 - 3 / x
        y.exp().backward()
        for bad in (lambda: (x * w).log(), lambda: (x - x) ** -1, lambda: x + "1", lambda: Value(1e300) ** 2.0):
            with pytest.raises((ValueError, ZeroDivisionError, TypeError, OverflowError)):
                bad()
    del y
    assert [sys.getrefcount(obj) for obj in tracked] == before


# ----------------------------------------------------------------------
# The C code's error paths, each with the reference's error
# ----------------------------------------------------------------------

BAD = [
    (lambda: Value(1.0, (2.0,)), TypeError, "children must be Values, got float"),
    (lambda: setattr(Value(1.0), "_prev", [Value(1.0), "a"]), TypeError, "children must be Values, got str"),
    (lambda: setattr(Value(1.0), "_backward", 3), TypeError, "_backward must be a function"),
    (lambda: Value("a"), TypeError, "must be a real number"),
    (lambda: Value(1.0) + "a", TypeError, "must be a real number"),
    (lambda: pow(Value(2.0), 2, 3), TypeError, "positional argument"),
    (lambda: Value(2.0) ** "k", TypeError, "exponent must be a number or a Value, got str"),
    (lambda: Value(-1.0).log(), ValueError, r"log: argument must be > 0, got -1.0"),
    (lambda: Value(1000.0).exp(), OverflowError, "exp: result overflows a float, got 1000.0"),
    (lambda: Value(0.0) ** 0.5, ZeroDivisionError, r"derivative of x\*\*0.5 is infinite at x = 0.0"),
    (lambda: Value(1e-160) ** -1, OverflowError, r"derivative of x\*\*-1 overflows a float at x = 1e-160"),
    (lambda: Value(1.0) / 0, ZeroDivisionError, "division: divisor is 0.0"),
    (lambda: 1 / Value(0.0), ZeroDivisionError, "division: divisor is 0.0"),
    (lambda: Value(1.0) / 10**400, OverflowError, "too large for a float"),
    (lambda: Value(1.0) + 10**400, OverflowError, "too large for a float"),
    (lambda: linear([1.0], [Value(1.0)], None), TypeError, r"weights\[0\] must be a Value"),
    (lambda: linear([Value(1.0)], [Value(1.0), 2.0], None), ValueError, "1 weights but 2 inputs"),
    (lambda: linear([Value(1.0)], ["x"], Value(0.0)), TypeError, "must be a real number"),
    (lambda: topological_order(Value(1.0), 2), TypeError, "roots must be Values, got int"),
    (lambda: chain_rule([Value(1.0), 3]), (TypeError, AttributeError), "int"),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_is_refused_with_the_references_error(make: Any, error: Any, message: str) -> None:
    with pytest.raises(error, match=message):
        make()


def test_an_error_in_a_backward_closure_leaves_the_graph_usable() -> None:
    x = Value(3.0)
    out = Value(x.data * 2, (x,), "twice")
    calls: list[int] = []

    def _backward() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        x.grad += 2 * out.grad

    out._backward = _backward
    y = out * x  # x is reached twice: through out and directly
    with pytest.raises(RuntimeError, match="first call fails"):
        y.backward()
    x.grad = 0.0
    y.backward()  # the walk's bookkeeping was undone: every node is visited again
    assert x.grad == 2 * 3.0 + 6.0  # d(2x * x)/dx = 4x = 12


def test_grads_of_other_types_accumulate_as_python_adds_them() -> None:
    x = Value(3.0)
    x.grad = 0  # microgpt's reset: an int
    (x * x).backward()
    assert x.grad == 6.0 and type(x.grad) is float
    x.grad = 10**400  # Python's int + float refuses this; so do we
    with pytest.raises(OverflowError):
        (x * x).backward()
    x.grad = Value(1.0)  # a Value grad gathers a graph, as in the reference
    (x * 2).backward()
    assert isinstance(x.grad, Value) and x.grad.data == 3.0


def test_a_rule_put_into_the_table_is_the_rule_both_engines_use(monkeypatch: pytest.MonkeyPatch) -> None:
    x = Value(0.5)
    monkeypatch.setattr(ops.EXP, "derivative", lambda x, out: 2.0 * out)  # a wrong rule, on purpose
    x.exp().backward()
    assert x.grad == 2.0 * math.exp(0.5)
    monkeypatch.undo()
    x.grad = 0.0
    x.exp().backward()
    assert x.grad == math.exp(0.5)


def test_no_grad_makes_leaves_in_the_c_paths_too() -> None:
    x, w = Value(2.0), Value(3.0)
    with no_grad():
        results = [x + w, x * w, x - w, x / w, -x, x**2, x.exp(), x.log(), x.tanh(), x.relu(), x.sigmoid(),
                   linear([w], [x], None), 2.0 ** x]  # fmt: skip
    assert all(r._prev == () for r in results)
    assert [r.data for r in results[:4]] == [5.0, 6.0, -1.0, 2.0 * 3.0**-1]


def test_subclasses_weakrefs_and_reflected_operators() -> None:
    class Tagged(Value):
        pass

    t = Tagged(2.0, label="t")
    r = weakref.ref(t)
    y = 1 - 3 / t + 2 * t  # reflected -, / and * on a subclass
    assert type(y) is Value and y.data == 1 + -(3 * 2.0**-1) + 4.0
    y.backward()
    assert t.grad == 3 * 2.0**-2 + 2 and r() is t
    (dy,) = grad(t**3, t, create_graph=True)
    assert dy.data == 12.0 and grad(dy, t) == (12.0,)


def test_a_graph_with_value_gradients_copies_them_as_numbers() -> None:
    import copy
    import pickle

    x = Value(2.0)
    y = x * x * x
    y.backward(create_graph=True)  # x.grad = 3x**2 = 12, a Value whose graph reads x
    for twin in (pickle.loads(pickle.dumps(y)), copy.deepcopy(y)):
        (x_copy,) = {node for node in topological_order(twin) if not node._prev}
        assert twin.data == 8.0 and x_copy.grad == 12.0 and type(x_copy.grad) is float


def test_linear_with_only_a_bias_is_the_bias() -> None:
    b = Value(1.5)
    y = linear([], [], b)
    y.backward()
    assert (y.data, b.grad, y._local_grads) == (1.5, 1.0, (1.0,))
    assert ops.OPS["linear"](b)._local_grads == (1.0,)


# ----------------------------------------------------------------------
# Python code that runs in the middle of the C code (found by review)
# ----------------------------------------------------------------------


def test_a_child_freed_while_its_parent_lets_go_cannot_reach_a_half_freed_parent() -> None:
    holder: dict[str, Value] = {}
    seen: list[tuple[Value, ...]] = []

    class Finalizer:
        def __del__(self) -> None:
            parent = holder.pop("parent", None)
            if parent is not None:  # runs while parent's children are being released
                seen.append(parent._prev)
                parent._prev = ()

    kid = Value(1.0)
    kid.finalizer = Finalizer()
    parent = Value(0.0, (kid, Value(2.0), Value(3.0)))
    holder["parent"] = parent
    del kid
    parent._prev = ()
    assert seen == [()] and parent._prev == ()


def test_linear_holds_its_inputs_while_converting_them() -> None:
    weights, inputs = [Value(2.0), Value(3.0)], [None, 1.0]

    class Emptier:  # a number whose conversion empties both lists
        def __float__(self) -> float:
            weights.clear()
            inputs.clear()
            return 1.0

    import numbers

    numbers.Real.register(Emptier)
    inputs[0] = Emptier()
    assert linear(weights, inputs, None).data == 2.0 * 1.0 + 3.0 * 1.0


def test_a_failed_walk_leaves_no_node_behind_for_the_next() -> None:
    class CollidingKey:  # equal in hash to "_backward", and its comparison fails
        def __hash__(self) -> int:
            return hash("_backward")

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("comparison fails")

    x = Value(2.0)
    z = x * 3.0 + 1.0
    x.__dict__[CollidingKey()] = 1
    with pytest.raises(RuntimeError, match="comparison fails"):
        z.backward()
    x.__dict__ = {}
    assert [node.data for node in topological_order(z)] == [2.0, 3.0, 6.0, 1.0, 7.0]
    x.grad = 0.0
    z.backward()
    assert x.grad == 3.0


def test_a_cycle_through_a_plain_objects_attributes_is_collected() -> None:
    class Box:
        pass

    def make() -> weakref.ref[Value]:
        x = Value(1.0)
        y = x * 2.0
        box = Box()
        box.y = y  # type: ignore[attr-defined]
        x.box = box  # x -> box -> y -> x
        return weakref.ref(x)

    assert _collected(make)


def test_dividing_by_a_number_is_the_c_librarys_power_as_in_python() -> None:
    d = float.fromhex("0x1.1f67fb586b49cp-86")  # where pow(d, -1) and 1 / d differ in the last bit
    a = Value(1.0)
    q = a / d
    q.backward()
    assert q.data.hex() == (1.0 * d**-1).hex() and a.grad.hex() == (d**-1).hex()
    assert (1.0 / Value(d)).data.hex() == (d**-1 * 1.0).hex()


def test_a_chain_through_gradients_is_freed_without_recursion() -> None:
    head = node = Value(0.0)
    for _ in range(300_000):
        nxt = Value(0.0)
        node.grad = nxt
        node = nxt
    del node, nxt
    del head  # frees 300,001 Values, each the grad of the one before


def test_the_reference_answers_what_the_c_code_cannot() -> None:
    with pytest.raises(TypeError):
        pow(2, Value(3.0), 5)  # type: ignore[misc]

    class NoTruth:
        def __bool__(self) -> bool:
            raise ValueError("no truth value")

    with pytest.raises(ValueError, match="no truth value"):
        Value(1.0, _op=NoTruth())  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        del Value(1.0)._op
