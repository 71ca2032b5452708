"""The lecture's ways of extending Value, grad mode per thread, and copying deep graphs.

Expected numbers come from calculus (d/dx sin x = cos x ...), not from our code.
"""

from __future__ import annotations

import copy
import math
import pickle
import threading

import pytest

from micrograd import Value, grad, is_grad_enabled, no_grad
from micrograd.engine import enable_grad, topological_order

# ----------------------------------------------------------------------
# out._backward = closure, as in the lecture
# ----------------------------------------------------------------------


class MyValue(Value):
    """A subclass that adds sin the way the lecture adds tanh: a node plus a _backward closure."""

    def sin(self) -> MyValue:
        out = MyValue(math.sin(self.data), (self,), "sin")

        def _backward() -> None:
            self.grad += math.cos(self.data) * out.grad

        out._backward = _backward
        return out


def test_subclass_with_a_backward_closure_gets_the_original_gradient() -> None:
    x = MyValue(1.0)
    y = x.sin()
    y.backward()
    assert x.grad == math.cos(1.0)  # 0.5403..., as karpathy/micrograd computes it
    assert y._op == "sin" and y._prev == (x,)


def test_closure_on_a_plain_value_inside_a_bigger_graph() -> None:
    def sin(v: Value) -> Value:
        out = Value(math.sin(v.data), (v,), "sin")

        def _backward() -> None:
            v.grad += math.cos(v.data) * out.grad

        out._backward = _backward
        return out

    x, w = Value(0.3), Value(2.0)
    y = sin(x * w) * x + x  # d/dx = cos(xw) w x + sin(xw) + 1
    y.backward()
    assert x.grad == pytest.approx(math.cos(0.6) * 2.0 * 0.3 + math.sin(0.6) + 1.0, rel=1e-15)
    assert w.grad == pytest.approx(math.cos(0.6) * 0.3 * 0.3, rel=1e-15)


def test_manual_backprop_node_by_node_like_the_lecture() -> None:
    x1, x2, w1, w2 = Value(2.0), Value(0.0), Value(-3.0), Value(1.0)
    b = Value(6.8813735870195432)
    n = x1 * w1 + x2 * w2 + b
    o = n.tanh()
    o.grad = 1.0
    for node in reversed(topological_order(o)):
        node._backward()
    assert n.grad == pytest.approx(0.5, abs=1e-12)  # 1 - tanh(n)**2 with tanh(n) = 1/sqrt(2)
    assert (x1.grad, w1.grad, x2.grad, w2.grad) == pytest.approx((-1.5, 1.0, 0.5, 0.0), abs=1e-12)


def test_monkeypatched_method_is_used_and_the_rest_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a published tutorial does: Value.tanh = my_tanh, written with exp and a closure."""

    def my_tanh(self: Value) -> Value:
        t = (math.exp(2 * self.data) - 1) / (math.exp(2 * self.data) + 1)
        out = Value(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += (1 - t**2) * out.grad

        out._backward = _backward
        return out

    monkeypatch.setattr(Value, "tanh", my_tanh)
    x = Value(0.5)
    y = x.tanh() * x.exp()  # the patched tanh next to the table's exp
    y.backward()
    t = math.tanh(0.5)
    assert x.grad == pytest.approx((1 - t * t) * math.exp(0.5) + t * math.exp(0.5), rel=1e-14)
    # higher order through the table's ops still works while tanh is patched
    z = Value(0.5)
    (d1,) = grad(z.exp() * z, z, create_graph=True)
    assert grad(d1, z)[0] == pytest.approx(math.exp(0.5) * 2.5, rel=1e-14)


def test_extra_attributes_on_values() -> None:
    p = Value(1.0, label="w")
    p.m, p.v, p.color = 0.0, 0.0, "red"  # an optimizer's moments, a colour for drawing
    y = p * p
    y.backward()
    assert (p.m, p.v, p.color, p.label, p.grad) == (0.0, 0.0, "red", "w", 2.0)


def test_backward_must_be_set_to_a_function() -> None:
    with pytest.raises(TypeError, match="_backward must be a function"):
        Value(1.0)._backward = 3  # type: ignore[assignment]


# ----------------------------------------------------------------------
# Grad mode is per thread, and no_grad blocks nest and re-enter correctly
# ----------------------------------------------------------------------


def test_overlapping_no_grad_in_two_threads_leaves_grad_mode_on() -> None:
    entered_a, entered_b, leave_a = threading.Event(), threading.Event(), threading.Event()

    def a() -> None:
        with no_grad():
            entered_a.set()
            leave_a.wait(5)

    def b() -> None:
        entered_a.wait(5)
        with no_grad():
            entered_b.set()
            leave_a.set()  # a leaves while b is still inside: the order that broke a global flag

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert entered_b.is_set() and is_grad_enabled()
    w = Value(3.0)
    (w * w).backward()
    assert w.grad == 6.0


def test_a_trainer_thread_is_unaffected_by_another_threads_no_grad() -> None:
    inside, done = threading.Event(), threading.Event()
    results: list[float] = []

    def evaluator() -> None:
        with no_grad():
            inside.set()
            done.wait(5)

    def trainer() -> None:
        inside.wait(5)
        w = Value(2.0)
        (w * w * w).backward()
        results.append(w.grad)
        done.set()

    threads = [threading.Thread(target=evaluator), threading.Thread(target=trainer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [12.0]


def test_the_same_no_grad_object_entered_twice_restores_the_mode() -> None:
    block = no_grad()
    with block:
        with block:
            assert not is_grad_enabled()
        assert not is_grad_enabled()
        with enable_grad():
            assert (Value(2.0) * 3)._prev  # a graph inside enable_grad, inside no_grad
    assert is_grad_enabled()
    assert (Value(2.0) * 3)._prev


# ----------------------------------------------------------------------
# Copying and pickling deep graphs
# ----------------------------------------------------------------------


def _chain(n: int) -> tuple[Value, Value]:
    x = Value(0.5)
    y = x
    for i in range(n):
        y = y * 1.0000001 + x if i % 2 else (y + 0.25).tanh()
    return x, y


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_100000_node_chain_copies_and_gives_the_same_gradients(how: str) -> None:
    x, y = _chain(50_000)  # about 100,000 nodes
    twin = copy.deepcopy(y) if how == "deepcopy" else pickle.loads(pickle.dumps(y))
    assert twin is not y and twin.data == y.data
    y.backward()
    twin.backward()
    order = topological_order(twin)
    leaves = [node for node in order if not node._prev and node.data == 0.5]
    assert len(leaves) == 1  # the shared leaf x stays one node in the copy
    assert leaves[0].grad == x.grad and leaves[0] is not x
    assert [n._op for n in order[-5:]] == [n._op for n in topological_order(y)[-5:]]


def test_copy_keeps_attributes_and_op_constants() -> None:
    x = Value(3.0, label="x")
    y = x**2
    y.note = "squared"
    twin = copy.deepcopy(y)
    assert (twin._op, twin.note, twin._prev[0].label, twin.data) == ("**2", "squared", "x", 9.0)
    twin.backward()
    assert twin._prev[0].grad == 6.0 and x.grad == 0.0


def test_a_node_with_a_hand_set_backward_refuses_to_pickle_clearly() -> None:
    y = MyValue(1.0).sin()
    with pytest.raises(TypeError, match="_backward is a function set by hand"):
        pickle.dumps(y)
