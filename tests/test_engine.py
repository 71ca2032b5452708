"""Graph mechanics: reuse, diamonds, depth, repeated backward, promotion, determinism, freeing."""

from __future__ import annotations

import gc
import math
import time
import weakref

from helpers import run_python
from micrograd import Value, topological_order


def test_reused_node_accumulates() -> None:
    a = Value(3.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0
    assert b.grad == 2.0


def test_diamond() -> None:
    a = Value(2.0)
    b = a * 3.0
    c = a.exp()
    d = b * c  # d = 3a e^a, dd/da = 3 e^a (1 + a)
    d.backward()
    assert math.isclose(a.grad, 3 * math.exp(2.0) * 3.0, rel_tol=1e-15)


def test_same_value_both_sides() -> None:
    x = Value(-4.0)
    y = x * x
    y.backward()
    assert x.grad == -8.0


def test_repeated_backward_adds_same_gradients_again() -> None:
    x = Value(3.0)
    y = x * x * x
    y.backward()
    assert x.grad == 27.0
    y.backward()
    assert x.grad == 54.0  # the original micrograd gives 72: stale intermediate grads


def test_backward_on_a_leaf_accumulates_one() -> None:
    x = Value(5.0)
    x.backward()
    x.backward()
    assert x.grad == 2.0


def test_integers_become_floats() -> None:
    a, b = Value(2), Value(3)
    c = a * b
    c.backward()
    for v in (a, b, c):
        assert type(v.data) is float
        assert type(v.grad) is float
    assert (a + 1).data == 3.0 and type((2 ** a).data) is float


def test_children_are_an_ordered_tuple() -> None:
    a, b = Value(1.0), Value(2.0)
    assert (a * b)._prev == (a, b)
    assert (b * a)._prev == (b, a)
    assert (a + b)._op == "+" and (a * b)._op == "*" and a.tanh()._op == "tanh"
    assert (a**2)._op == "**2" and a.relu()._op == "ReLU"


def test_repr_and_label() -> None:
    a = Value(2.0, label="a")
    assert repr(a) == "Value(data=2.0, grad=0.0)"
    assert a.label == "a" and Value(1.0).label == ""
    positional = Value(3.0, (a,), "custom")
    assert positional._prev == (a,) and positional._op == "custom"


def test_topological_order_children_first() -> None:
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    order = topological_order(d)
    assert order[-1] is d
    assert set(map(id, order)) == {id(a), id(b), id(c), id(d)}
    assert order.index(c) > order.index(a) and order.index(c) > order.index(b)


def test_million_node_chain() -> None:
    n = 1_000_000
    x = Value(0.5)
    y = x
    for _ in range(n):
        y = y + x  # depth n: each node's first child is the previous node
    start = time.perf_counter()
    y.backward()
    elapsed = time.perf_counter() - start
    assert x.grad == n + 1
    assert y.data == 0.5 * (n + 1)
    print(f"backward over {n + 1:,} nodes: {elapsed:.2f} s")
    del y  # freeing a million-deep chain must not overflow the C stack either


def test_million_deep_tanh_chain_exact_gradient() -> None:
    x = Value(0.3)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    y = y.tanh()
    y.backward()
    assert math.isclose(x.grad, 1 - math.tanh(0.3) ** 2, rel_tol=1e-15)


def test_graph_is_freed_by_reference_counting() -> None:
    gc.disable()
    try:
        x = Value(1.0)
        y = (x * 2.0 + 1.0).tanh() * x
        y.backward()
        probe = weakref.ref(y._prev[0])
        del y
        assert probe() is None  # no reference cycles: gone without the cyclic collector
    finally:
        gc.enable()


_DETERMINISM_SCRIPT = """
import random
from micrograd import Value
random.seed(7)
xs = [Value(random.uniform(-1, 1)) for _ in range(6)]
nodes = list(xs)
for i in range(300):
    a, b = random.choice(nodes), random.choice(nodes)
    op = random.randrange(5)
    out = [a + b, a * b, (a * 0.3).tanh(), a.relu() + b, a.sigmoid() * b][op]
    nodes.append(out)
total = sum(nodes[-50:], Value(0.0))
total.backward()
print([x.grad.hex() for x in xs])
"""


def test_same_gradients_bit_for_bit_across_runs() -> None:
    outputs = set()
    for hash_seed in ("1", "2", "3"):
        outputs.add(run_python(_DETERMINISM_SCRIPT, env={"PYTHONHASHSEED": hash_seed}).stdout)
    assert len(outputs) == 1


def test_stable_tanh_and_sigmoid_at_extremes() -> None:
    for x in (1000.0, -1000.0):
        for op in ("tanh", "sigmoid"):
            v = Value(x)
            out = getattr(v, op)()
            out.backward()
            assert math.isfinite(out.data) and math.isfinite(v.grad), (op, x)
    assert Value(-1000.0).sigmoid().data == 0.0 and Value(1000.0).sigmoid().data == 1.0
    assert Value(1000.0).tanh().data == 1.0


def test_manual_backprop_like_the_lecture() -> None:
    x = Value(2.0)
    w = Value(-3.0)
    n = x * w
    o = n.tanh()
    o.grad = 1.0
    o._backward()
    n._backward()
    assert math.isclose(n.grad, 1 - math.tanh(-6.0) ** 2)
    assert math.isclose(x.grad, w.data * n.grad) and math.isclose(w.grad, x.data * n.grad)


def test_comparisons_use_data() -> None:
    assert Value(1.0) < Value(2.0) and Value(2.0) >= 2 and not Value(1.0) > 1.0
    assert max([Value(1.0), Value(3.0), Value(2.0)]).data == 3.0
    assert Value(1.0) != Value(1.0)  # identity, as in the original: Values are hashable nodes
