"""What users hit in the engine: racing gradients, replaced built-in rows, copies that drop a
lecture-style _backward, numbers of other types, and PyTorch's nan/inf behaviour.

Each test failed on 6da8dad (the engine before the two-engines rewrite) and runs on both engines.
Expected numbers come from calculus, from sequential runs, or from PyTorch in float64.
"""

from __future__ import annotations

import copy
import math
import pickle
import random
import re
import threading
from typing import Any

import pytest

from helpers import seeded_mlp
from micrograd import Value, grad, ops
from micrograd.nn import MLP
from micrograd.ops import defop

# ----------------------------------------------------------------------
# Item 5: micrograd.grad touches no .grad, so threads do not race
# ----------------------------------------------------------------------


class Untouchable(Value):
    """A leaf whose .grad may not be read or written: grad() must not need it."""

    @property  # type: ignore[override]
    def grad(self) -> Any:
        raise AssertionError("grad() read .grad")

    @grad.setter
    def grad(self, value: Any) -> None:
        if value != 0.0:  # Value.__init__ sets 0.0 once
            raise AssertionError("grad() wrote .grad")


def test_grad_reads_and_writes_no_grad_field() -> None:
    x = Untouchable(0.5)
    y = (x * x).tanh() + x.exp()
    (dy,) = grad(y, x)
    assert dy == pytest.approx((1 - math.tanh(0.25) ** 2) * 2 * 0.5 + math.exp(0.5), rel=1e-15)
    (d1,) = grad(y, x, create_graph=True)
    assert d1.data == dy


def _loss(model: MLP, point: list[float]) -> Value:
    out = model(point)
    assert isinstance(out, Value)
    return (out - 1.0) ** 2


def test_grad_in_two_threads_and_backward_in_a_third_give_the_sequential_results() -> None:
    model = seeded_mlp(3, 2, [8, 8, 1])
    params = model.parameters()
    points = [[random.uniform(-1, 1), random.uniform(-1, 1)] for _ in range(40)]
    expected = [grad(_loss(model, p), params) for p in points]
    got: dict[int, list[tuple[float, ...]]] = {0: [], 1: []}
    backward_grads: list[list[float]] = []

    def with_grad(k: int) -> None:
        for _ in range(5):
            got[k].extend(grad(_loss(model, p), params) for p in points)

    def with_backward() -> None:
        for _ in range(100):
            for p in params:
                p.grad = 0.0
            _loss(model, points[0]).backward()
            backward_grads.append([p.grad for p in params])

    threads = [threading.Thread(target=with_grad, args=(k,)) for k in (0, 1)] + [threading.Thread(target=with_backward)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got[0] == expected * 5 and got[1] == expected * 5
    assert all(g == list(expected[0]) for g in backward_grads)


# ----------------------------------------------------------------------
# Item 6: the built-in rows cannot be replaced; your own ops can
# ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tanh", "+", "gelu", "pow", "linear", "softmax_cross_entropy"])
def test_a_built_in_row_cannot_be_replaced(name: str) -> None:
    before = ops.OPS[name]
    message = re.escape(f"defop: {name!r} is a built-in op of micrograd and cannot be replaced")
    with pytest.raises(ValueError, match=message):
        defop(name, lambda x: x, lambda x, out: 1.0)
    assert ops.OPS[name] is before


def test_your_own_op_can_be_defined_again() -> None:
    first = defop("issue20_twice", lambda x: 2 * x, lambda x, out: 2.0)
    second = defop("issue20_twice", lambda x: 3 * x, lambda x, out: 3.0)  # a notebook cell run again
    assert ops.OPS["issue20_twice"] is second is not first
    assert second(Value(1.0)).data == 3.0


# ----------------------------------------------------------------------
# Item 7: a copy keeps the lecture's _backward, or refuses as pickle is meant to
# ----------------------------------------------------------------------


def _mysin(x: Value) -> Value:
    out = Value(math.sin(x.data), (x,), "sin")

    def _backward() -> None:
        x.grad += math.cos(x.data) * out.grad

    out._backward = _backward
    return out


def test_copying_a_graph_with_a_hand_set_backward_below_the_root_is_refused() -> None:
    y = _mysin(Value(0.5)) * 2  # the hook is below the root
    for copier in (copy.deepcopy, lambda g: pickle.loads(pickle.dumps(g))):
        with pytest.raises(TypeError, match="cannot copy or pickle a graph with a node whose _backward is a function"):
            copier(y)
    y.backward()  # the original still works: x.grad = 2 cos(0.5)
    (x,) = y._prev[0]._prev
    assert x.grad == 2 * math.cos(0.5)


# ----------------------------------------------------------------------
# Item 8: numbers of any numeric type are numbers; anything else is refused at the op
# ----------------------------------------------------------------------


def test_a_numpy_row_works_as_in_the_original() -> None:
    np = pytest.importorskip("numpy")
    model = seeded_mlp(0, 2, [3, 1])
    out = model(np.array([1.0, 2.0]))
    assert isinstance(out, Value)
    assert out.data == model([1.0, 2.0]).data  # type: ignore[union-attr]


def test_a_torch_row_is_refused_at_the_op_with_a_clear_error() -> None:
    torch = pytest.importorskip("torch")
    model = seeded_mlp(0, 2, [3, 1])
    with pytest.raises(TypeError, match="must be a real number .* got Tensor"):
        model(torch.tensor([1.0, 2.0], dtype=torch.float64))


# ----------------------------------------------------------------------
# Item 12: PyTorch's nan/inf behaviour, and derivatives checked on first use
# ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "x"), [("abs", math.nan), ("sin", math.inf), ("sin", -math.inf), ("cos", math.inf), ("abs", 0.0)]
)
def test_nan_and_inf_as_pytorch_gives_them(op: str, x: float) -> None:
    torch = pytest.importorskip("torch")
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    expected = getattr(t, op)()
    expected.backward()
    v = Value(x)
    out = abs(v) if op == "abs" else getattr(v, op)()
    out.backward()
    assert repr(out.data) == repr(expected.item()) and repr(v.grad) == repr(t.grad.item())


BAD_RULES = [
    (lambda x, out: "1", TypeError, "local derivative 0 must be a real number, got str"),
    (lambda x, out: None, TypeError, "local derivative 0 must be a real number, got NoneType"),
    (lambda x, out: 1j, TypeError, "local derivative 0 must be a real number, got complex"),
]


@pytest.mark.parametrize(("rule", "error", "message"), BAD_RULES, ids=["str", "None", "complex"])
def test_a_bad_one_input_rule_is_refused_on_first_use_naming_the_op(rule: Any, error: Any, message: str) -> None:
    op = defop("issue20_bad_rule", lambda x: 2.0 * x, rule)
    with pytest.raises(error, match=f"issue20_bad_rule: {message}"):
        op(Value(1.0))


@pytest.mark.parametrize("rule", [lambda a, b, out: (1.0,), lambda a, b, out: None, lambda a, b, out: "ab"])
def test_a_two_input_rule_must_give_two_numbers(rule: Any) -> None:
    op = defop("issue20_bad_pair", lambda a, b: a * b, rule)
    with pytest.raises(ValueError, match="issue20_bad_pair: the derivative must give 2 local derivative"):
        op(Value(1.0), Value(2.0))
