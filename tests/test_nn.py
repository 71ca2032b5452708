"""Neuron, Layer, MLP: shapes, defaults, width-1 layers, training the lecture's network."""

from __future__ import annotations

import random

import pytest

from micrograd import Value
from micrograd.nn import MLP, Layer, Neuron


def test_parameter_count_of_the_demo_network() -> None:
    assert len(MLP(2, [16, 16, 1]).parameters()) == 337


def test_defaults_are_the_originals() -> None:
    random.seed(0)
    model = MLP(2, [16, 16, 1])
    assert repr(model.layers[0].neurons[0]) == "ReLUNeuron(2)"
    assert repr(model.layers[-1].neurons[0]) == "LinearNeuron(16)"
    assert all(n.b.data == 0.0 for layer in model.layers for n in layer.neurons)
    assert all(-1 <= p.data <= 1 for p in model.parameters())


def test_initialisation_draws_from_global_random_in_order() -> None:
    random.seed(42)
    model = MLP(3, [4, 2])
    random.seed(42)
    expected = []
    for nin, nout in ((3, 4), (4, 2)):
        for _ in range(nout):
            expected += [random.uniform(-1, 1) for _ in range(nin)] + [0.0]
    assert [p.data for p in model.parameters()] == expected


def test_output_is_a_value_for_one_output_and_a_list_otherwise() -> None:
    assert isinstance(MLP(2, [3, 1])([1.0, 2.0]), Value)
    out = MLP(2, [3, 2])([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 2


def test_hidden_layer_of_width_one() -> None:
    model = MLP(2, [16, 1, 1])
    out = model([0.5, -0.5])
    assert isinstance(out, Value)
    out.backward()


def test_neuron_matches_the_sum_it_stands_for() -> None:
    random.seed(1)
    neuron = Neuron(3, activation="tanh")
    xs = [Value(0.5), Value(-1.0), Value(2.0)]
    out = neuron(xs)
    expected = sum((w * x for w, x in zip(neuron.w, xs, strict=True)), neuron.b).tanh()
    assert out.data == expected.data
    out.backward()
    grads = [p.grad for p in neuron.parameters()] + [x.grad for x in xs]
    neuron.zero_grad()
    for x in xs:
        x.grad = 0.0
    expected.backward()
    assert grads == [p.grad for p in neuron.parameters()] + [x.grad for x in xs]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
def test_activations(activation: str) -> None:
    layer = Layer(2, 3, activation=activation)
    outs = layer([0.3, -0.2])
    assert isinstance(outs, list) and len(outs) == 3


def test_bad_sizes_and_activations() -> None:
    with pytest.raises(ValueError, match="MLP: nin must be at least 1, got 0"):
        MLP(0, [1])
    with pytest.raises(ValueError, match="Layer: nout must be at least 1, got 0"):
        MLP(2, [0, 1])
    with pytest.raises(TypeError, match="Neuron: nin must be an int"):
        Neuron(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        MLP(2, [2, 1], activation="gelu")
    with pytest.raises(ValueError, match="nouts must be a non-empty list"):
        MLP(2, [])
    with pytest.raises(ValueError, match="Neuron: expected 2 inputs, got 3"):
        MLP(2, [1])([1.0, 2.0, 3.0])


def test_zero_grad() -> None:
    model = MLP(2, [2, 1])
    model([1.0, 1.0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_lecture_network_learns_four_examples() -> None:
    random.seed(1337)
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    model = MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh")
    first = None
    for _ in range(200):
        preds = [model(x) for x in xs]
        loss = sum((p - y) ** 2 for p, y in zip(preds, ys, strict=True))
        assert isinstance(loss, Value)
        first = loss.data if first is None else first
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad
    assert loss.data < 0.01 < first


def test_state_dict_round_trip_and_names() -> None:
    random.seed(3)
    model = MLP(2, [3, 1])
    state = model.state_dict()
    assert list(state)[:3] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1", "layers.0.neurons.0.b"]
    assert [p for _, p in model.named_parameters()] == model.parameters()
    other = MLP(2, [3, 1])
    assert other.state_dict() != state
    other.load_state_dict(state)
    assert other.state_dict() == state


def test_load_state_dict_is_all_or_nothing() -> None:
    model = MLP(2, [2, 1])
    before = model.state_dict()
    bad = dict(before)
    bad["layers.1.neurons.0.b"] = "x"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="layers.1.neurons.0.b must be a number"):
        model.load_state_dict(bad)
    assert model.state_dict() == before
    with pytest.raises(KeyError, match="missing keys"):
        model.load_state_dict({})
