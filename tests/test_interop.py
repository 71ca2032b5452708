"""to_torch / from_torch: same function, same parameter gradients, exact round trips, clear refusals."""

from __future__ import annotations

import random
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import run_python, seeded_mlp
from micrograd import Value
from micrograd.interop import from_torch, to_torch
from micrograd.nn import MLP

torch = pytest.importorskip("torch")
nn = torch.nn

ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear"]
TORCH_ACTIVATION = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


# ----------------------------------------------------------------------
# Helpers: run both models on the same input, and collect gradients in one order
# ----------------------------------------------------------------------


def micrograd_outputs_and_grads(model: MLP, point: list[float]) -> tuple[list[float], list[float], list[float]]:
    """Outputs, d(loss)/d(parameters) in torch's order, d(loss)/d(inputs); loss = sum_k (k+1) * out_k."""
    inputs = [Value(x) for x in point]
    out = model(inputs)
    outs = out if isinstance(out, list) else [out]
    loss = sum((out_k * (k + 1) for k, out_k in enumerate(outs)), Value(0.0))
    model.zero_grad()
    loss.backward()
    param_grads: list[float] = []
    for layer in model.layers:  # torch: each layer's weight matrix row by row, then its bias
        param_grads += [w.grad for n in layer.neurons for w in n.w]
        param_grads += [n.b.grad for n in layer.neurons]
    return [o.data for o in outs], param_grads, [x.grad for x in inputs]


def torch_outputs_and_grads(model: Any, point: list[float]) -> tuple[list[float], list[float], list[float]]:
    x = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    out = model(x)
    loss = (out * torch.arange(1, out.numel() + 1, dtype=torch.float64)).sum()
    model.zero_grad()
    loss.backward()
    param_grads = [g for p in model.parameters() for g in p.grad.flatten().tolist()]
    return out.tolist(), param_grads, x.grad.tolist()


def assert_same_function(ours: MLP, theirs: Any, n_points: int = 5) -> None:
    rng = random.Random(7)
    for _ in range(n_points):
        point = [rng.uniform(-2.0, 2.0) for _ in range(ours.nin)]
        got = micrograd_outputs_and_grads(ours, point)
        want = torch_outputs_and_grads(theirs, point)
        for got_part, want_part in zip(got, want, strict=True):
            assert got_part == pytest.approx(want_part, rel=1e-12, abs=1e-12)


def random_torch_model(nin: int, sizes: list[int], hidden: str, output: str, seed: int) -> Any:
    torch.manual_seed(seed)
    modules: list[Any] = []
    widths = [nin] + sizes
    for i in range(len(sizes)):
        modules.append(nn.Linear(widths[i], widths[i + 1], dtype=torch.float64))
        activation = output if i == len(sizes) - 1 else hidden
        if activation != "linear":
            modules.append(TORCH_ACTIVATION[activation]())
    return nn.Sequential(*modules)


layer_sizes = st.lists(st.integers(1, 4), min_size=1, max_size=3)


# ----------------------------------------------------------------------
# Both directions agree to 1e-12 in float64
# ----------------------------------------------------------------------


# An MLP to build: nin, layer sizes, hidden and output activations, and the seed of its weights.
MLP_SPECS = (st.integers(1, 3), layer_sizes, st.sampled_from(ACTIVATIONS), st.sampled_from(ACTIVATIONS),
             st.integers(0, 2**16))


@settings(max_examples=25, deadline=None)
@given(*MLP_SPECS)
def test_to_torch_computes_the_same_outputs_and_gradients(
    nin: int, sizes: list[int], hidden: str, output: str, seed: int
) -> None:
    model = seeded_mlp(seed, nin, sizes, activation=hidden, output_activation=output)
    assert_same_function(model, to_torch(model))


@settings(max_examples=25, deadline=None)
@given(*MLP_SPECS)
def test_from_torch_computes_the_same_outputs_and_gradients(
    nin: int, sizes: list[int], hidden: str, output: str, seed: int
) -> None:
    theirs = random_torch_model(nin, sizes, hidden, output, seed)
    ours = from_torch(theirs)
    assert (ours.nin, ours.nouts, ours.output_activation) == (nin, sizes, output)
    if len(sizes) > 1:
        assert ours.activation == hidden
    assert_same_function(ours, theirs)


def test_the_comparison_can_fail() -> None:
    model = seeded_mlp(3, 2, [3, 1], activation="tanh")
    theirs: Any = to_torch(model)  # Any: torch types a layer's .weight as Tensor | Module
    with torch.no_grad():
        theirs[0].weight[1, 0] += 1e-9
    with pytest.raises(AssertionError):
        assert_same_function(model, theirs)


# ----------------------------------------------------------------------
# Structure and round trips
# ----------------------------------------------------------------------


def test_to_torch_layout() -> None:
    model = seeded_mlp(0, 3, [4, 4, 2], activation="tanh", output_activation="sigmoid")
    seq: Any = to_torch(model)
    assert [type(m) for m in seq] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear, nn.Sigmoid]
    assert all(p.dtype == torch.float64 for p in seq.parameters())
    assert (seq[0].in_features, seq[0].out_features, seq[4].out_features) == (3, 4, 2)
    assert seq[2].weight[1, 3].item() == model.layers[1].neurons[1].w[3].data
    assert seq[4].bias[1].item() == model.layers[2].neurons[1].b.data
    # The default MLP (ReLU hidden, linear output) has no module after its last Linear.
    assert [type(m) for m in to_torch(MLP(2, [3, 1]))] == [nn.Linear, nn.ReLU, nn.Linear]


@pytest.mark.parametrize("hidden, output", [("relu", "linear"), ("tanh", "sigmoid"), ("linear", "relu")])
def test_round_trips_are_exact(hidden: str, output: str) -> None:
    model = seeded_mlp(5, 3, [4, 2, 2], activation=hidden, output_activation=output)
    back = from_torch(to_torch(model))
    assert back.state_dict() == model.state_dict()
    assert [n.activation for layer in back.layers for n in layer.neurons] == [
        n.activation for layer in model.layers for n in layer.neurons
    ]

    theirs = random_torch_model(2, [3, 1], hidden, output, seed=9)
    again = to_torch(from_torch(theirs))
    assert [type(m) for m in again] == [type(m) for m in theirs]
    for a, b in zip(again.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_copies_are_independent() -> None:
    model = seeded_mlp(1, 2, [2, 1])
    seq: Any = to_torch(model)
    model.layers[0].neurons[0].w[0].data = 123.0
    assert seq[0].weight[0, 0].item() != 123.0
    back = from_torch(seq)
    with torch.no_grad():
        seq[0].bias[0] = 5.0
    assert back.layers[0].neurons[0].b.data != 5.0


def test_identity_reads_as_linear_and_float32_is_converted_exactly() -> None:
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(2, 3), nn.Identity(), nn.Linear(3, 1), nn.Identity())  # float32
    model = from_torch(seq)
    assert (model.activation, model.output_activation) == ("linear", "linear")
    assert model.layers[0].neurons[2].w[1].data == float(seq[0].weight[2, 1].item())
    assert_same_function(model, to_torch(model))


def test_a_single_linear_layer_and_width_one_hidden_layers() -> None:
    torch.manual_seed(2)
    single = nn.Sequential(nn.Linear(3, 2, dtype=torch.float64), nn.Tanh())
    assert_same_function(from_torch(single), single)
    narrow = nn.Sequential(
        nn.Linear(2, 1, dtype=torch.float64), nn.Sigmoid(), nn.Linear(1, 1, dtype=torch.float64), nn.Sigmoid()
    )
    assert_same_function(from_torch(narrow), narrow)


def test_conversions_leave_both_random_generators_alone() -> None:
    # from_torch builds an MLP (which draws from `random`); to_torch builds Linear layers
    # (which would draw from torch's generator). Neither should shift the caller's sequences.
    model = seeded_mlp(4, 2, [3, 1])
    random.seed(99)
    torch.manual_seed(99)
    seq = to_torch(model)
    from_torch(seq)
    after = (random.random(), torch.rand(1).item())
    random.seed(99)
    torch.manual_seed(99)
    assert after == (random.random(), torch.rand(1).item())


# ----------------------------------------------------------------------
# What from_torch cannot represent: ValueError naming the layer
# ----------------------------------------------------------------------


def _linear(nin: int, nout: int, bias: bool = True) -> Any:
    return nn.Linear(nin, nout, bias=bias, dtype=torch.float64)


@pytest.mark.parametrize(
    "modules, message",
    [
        ([nn.Conv1d(1, 1, 3)], r"unsupported layer '0' \(Conv1d"),
        ([_linear(2, 3, bias=False)], r"unsupported layer '0' \(Linear\(.*bias=False\)\): a Linear without bias"),
        ([_linear(2, 3), nn.Dropout(0.1), _linear(3, 1)], r"unsupported layer '1' \(Dropout"),
        ([_linear(2, 3), nn.BatchNorm1d(3), _linear(3, 1)], r"unsupported layer '1' \(BatchNorm1d"),
        ([_linear(2, 3), nn.LeakyReLU(), _linear(3, 1)], r"unsupported layer '1' \(LeakyReLU"),
        ([_linear(2, 3), nn.Sequential(_linear(3, 1))], r"unsupported layer '1' \(Sequential"),
        ([nn.ReLU(), _linear(2, 1)], r"unsupported layer '0' \(ReLU\(\)\): the model must start with a Linear"),
        ([_linear(2, 3), nn.ReLU(), nn.Tanh(), _linear(3, 1)], r"layer '2' \(Tanh\(\)\): a second activation"),
        (
            [_linear(2, 3), nn.ReLU(), _linear(3, 3), nn.Tanh(), _linear(3, 1)],
            r"mixed hidden activations: layer '3' \(Tanh\(\)\) is 'tanh' but the first hidden layer's is 'relu'",
        ),
        (
            [_linear(2, 3), nn.ReLU(), _linear(3, 3), _linear(3, 1)],
            r"mixed hidden activations: layer '2' \(Linear.*\) has no activation, that is 'linear' but",
        ),
        ([_linear(2, 3), _linear(4, 1)], r"layer '1' \(Linear.*\) takes 4 inputs but the layer before gives 3"),
        ([], r"the model has no Linear layer"),
    ],
    ids=[
        "conv",
        "no_bias",
        "dropout",
        "batchnorm",
        "leaky_relu",
        "nested",
        "starts_with_activation",
        "two_activations",
        "mixed_hidden",
        "missing_hidden_activation",
        "shape_mismatch",
        "empty",
    ],
)
def test_from_torch_refuses_what_an_mlp_cannot_represent(modules: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"from_torch: .*" + message):
        from_torch(nn.Sequential(*modules))


def test_layer_names_from_an_ordered_dict_are_used() -> None:
    from collections import OrderedDict

    seq = nn.Sequential(OrderedDict([("hidden", _linear(2, 3)), ("drop", nn.Dropout())]))
    with pytest.raises(ValueError, match=r"unsupported layer 'drop' \(Dropout"):
        from_torch(seq)


def test_wrong_types_are_type_errors() -> None:
    with pytest.raises(TypeError, match="from_torch: expected a torch.nn.Sequential, got Linear"):
        from_torch(_linear(2, 1))
    with pytest.raises(TypeError, match="to_torch: expected a micrograd MLP, got Sequential"):
        to_torch(nn.Sequential())


def test_missing_torch_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'micrograd\[torch\]'"):
        to_torch(MLP(1, [1]))
    with pytest.raises(ImportError, match=r"pip install 'micrograd\[torch\]'"):
        from_torch(None)  # type: ignore[arg-type]


def test_import_micrograd_does_not_import_torch() -> None:
    code = "import sys, micrograd, micrograd.interop, micrograd.functional; print('torch' in sys.modules)"
    result = run_python(code)
    assert result.stdout.strip() == "False"
