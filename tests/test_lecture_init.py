"""``init="lecture"``: an MLP that starts, and so trains, as the lecture's MLP does.

The reference below is the lecture's code as the lecture builds it on screen, written here
from its description: a Value whose ops store ``_backward`` closures (tanh by its exp
formula, as the lecture writes it), a Neuron that draws its weights and then its bias from
``random.uniform(-1, 1)``, Layer and MLP as lists of those, and the training loop: sum of
squared errors, zero every grad, backward, step against the gradient, 20 times.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Union

import pytest

from micrograd.nn import MLP, Layer, Neuron

Number = Union["LectureValue", float]


class LectureValue:
    def __init__(self, data: float, children: tuple[LectureValue, ...] = ()) -> None:
        self.data = data
        self.grad = 0.0
        self._prev = children
        self._backward: Callable[[], None] = lambda: None

    def __add__(self, other: Number) -> LectureValue:
        other = other if isinstance(other, LectureValue) else LectureValue(other)
        out = LectureValue(self.data + other.data, (self, other))

        def backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = backward
        return out

    def __radd__(self, other: Number) -> LectureValue:
        return self + other

    def __mul__(self, other: Number) -> LectureValue:
        other = other if isinstance(other, LectureValue) else LectureValue(other)
        out = LectureValue(self.data * other.data, (self, other))

        def backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = backward
        return out

    def __pow__(self, exponent: float) -> LectureValue:
        out = LectureValue(self.data**exponent, (self,))

        def backward() -> None:
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = backward
        return out

    def __neg__(self) -> LectureValue:
        return self * -1

    def __sub__(self, other: Number) -> LectureValue:
        return self + (-other)

    def tanh(self) -> LectureValue:
        t = (math.exp(2 * self.data) - 1) / (math.exp(2 * self.data) + 1)
        out = LectureValue(t, (self,))

        def backward() -> None:
            self.grad += (1 - t**2) * out.grad

        out._backward = backward
        return out

    def backward(self) -> None:
        order: list[LectureValue] = []
        seen: set[int] = set()

        def visit(node: LectureValue) -> None:
            if id(node) not in seen:
                seen.add(id(node))
                for child in node._prev:
                    visit(child)
                order.append(node)

        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


class LectureNeuron:
    def __init__(self, nin: int) -> None:
        self.w = [LectureValue(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = LectureValue(random.uniform(-1, 1))

    def __call__(self, x: list[float]) -> LectureValue:
        act = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        return act.tanh()

    def parameters(self) -> list[LectureValue]:
        return self.w + [self.b]


class LectureLayer:
    def __init__(self, nin: int, nout: int) -> None:
        self.neurons = [LectureNeuron(nin) for _ in range(nout)]

    def __call__(self, x: list[float]) -> list[LectureValue]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[LectureValue]:
        return [p for n in self.neurons for p in n.parameters()]


class LectureMLP:
    def __init__(self, nin: int, nouts: list[int]) -> None:
        sizes = [nin, *nouts]
        self.layers = [LectureLayer(sizes[i], sizes[i + 1]) for i in range(len(nouts))]

    def __call__(self, x: list[float]) -> LectureValue:
        h: list = x
        for layer in self.layers:
            h = layer(h)
        assert len(h) == 1
        return h[0]

    def parameters(self) -> list[LectureValue]:
        return [p for layer in self.layers for p in layer.parameters()]


XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]


def _train(model, steps: int, learning_rate: float) -> list[tuple[float, list[float]]]:  # type: ignore[no-untyped-def]
    """The lecture's loop; for each step the loss and the predictions before the update."""
    record = []
    for _ in range(steps):
        ypred = [model(x) for x in XS]
        loss = sum((yout - ygt) ** 2 for ygt, yout in zip(YS, ypred, strict=True))
        for p in model.parameters():
            p.grad = 0.0
        loss.backward()
        for p in model.parameters():
            p.data += -learning_rate * p.grad
        record.append((loss.data, [y.data for y in ypred]))
    return record


@pytest.mark.parametrize("seed", [0, 1337, 2026])
def test_lecture_init_starts_with_the_lectures_parameters(seed: int) -> None:
    random.seed(seed)
    lecture = LectureMLP(3, [4, 4, 1])
    random.seed(seed)
    ours = MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh", init="lecture")
    # Drawn in the same order from the same generator, so equal bit for bit.
    assert [p.data for p in ours.parameters()] == [p.data for p in lecture.parameters()]
    assert any(n.b.data != 0.0 for layer in ours.layers for n in layer.neurons)


@pytest.mark.parametrize("learning_rate", [0.05, 0.1])
@pytest.mark.parametrize("seed", [0, 1337])
def test_lecture_init_trains_to_the_lectures_numbers(seed: int, learning_rate: float) -> None:
    random.seed(seed)
    lecture = _train(LectureMLP(3, [4, 4, 1]), 20, learning_rate)
    random.seed(seed)
    model = MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh", init="lecture")
    ours = _train(model, 20, learning_rate)
    for step, ((want_loss, want_pred), (got_loss, got_pred)) in enumerate(zip(lecture, ours, strict=True)):
        # Not bit for bit: the lecture's tanh is (e^2x - 1)/(e^2x + 1) and ours math.tanh, and
        # gradients are summed in another order, so the last digits may differ.
        assert got_loss == pytest.approx(want_loss, rel=1e-9, abs=1e-12), f"step {step}"
        assert got_pred == pytest.approx(want_pred, rel=1e-9, abs=1e-12), f"step {step}"
    assert ours[-1][0] < ours[0][0] / 4  # and it trains: the comparison is not between two flat lines


def test_default_init_is_unchanged_bias_zero_and_the_same_weights() -> None:
    random.seed(5)
    default = MLP(3, [4, 1])
    random.seed(5)
    # The original's draws: only the weights, neuron by neuron, layer by layer.
    weights = [[random.uniform(-1, 1) for _ in range(nin)] for nin, nout in [(3, 4), (4, 1)] for _ in range(nout)]
    assert [[w.data for w in n.w] for layer in default.layers for n in layer.neurons] == weights
    assert all(n.b.data == 0.0 for layer in default.layers for n in layer.neurons)


def test_neuron_and_layer_take_init_too() -> None:
    random.seed(3)
    neuron = Neuron(2, init="lecture")
    random.seed(3)
    assert [p.data for p in neuron.parameters()] == [random.uniform(-1, 1) for _ in range(3)]
    random.seed(3)
    layer = Layer(2, 2, activation="tanh", init="lecture")
    random.seed(3)
    assert [p.data for p in layer.parameters()] == [random.uniform(-1, 1) for _ in range(6)]


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLP(2, [1], init="Lecture"),
        lambda: Neuron(2, init="kaiming"),
        lambda: Layer(2, 2, init=""),
    ],
)
def test_an_unknown_init_is_refused_by_name(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"unknown init .*choose one of original, lecture"):
        make()


def test_an_init_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="init must be a str"):
        MLP(2, [1], init=None)  # type: ignore[arg-type]
