"""A small neural-net library on top of the engine: Neuron, Layer, MLP.

Same defaults and the same initialisation as the original micrograd (weights
drawn from ``random.uniform(-1, 1)`` on Python's global ``random`` in the same
order, bias 0, ReLU hidden layers, a linear last layer), so seeded code written
for the original gives the same numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from micrograd.engine import Scalar, Value, _stable_sigmoid, linear

__all__ = ["Module", "Neuron", "Layer", "MLP", "ACTIVATIONS", "outputs_on_floats"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")

# Upper bounds on sizes, checked before any Value is made: a typo such as 10**12 must be refused at
# once instead of allocating until the memory runs out. Every Value is a Python object of a few
# hundred bytes, so 10,000,000 parameters are already a few GB -- far beyond what a scalar engine
# can train, and far above any model it is meant for.
MAX_INPUTS = 100_000  # nin of a Neuron, Layer or MLP
MAX_LAYER_SIZE = 100_000  # nout of a Layer, each entry of an MLP's nouts
MAX_PARAMETERS = 10_000_000  # weights and biases of a Layer or a whole MLP

Inputs = Sequence[Scalar] | Scalar


class Module:
    """Base class: anything with parameters."""

    def parameters(self) -> list[Value]:
        return []

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0.0 (gradients accumulate across backward calls)."""
        for p in self.parameters():
            p.grad = 0.0

    def named_parameters(self) -> list[tuple[str, Value]]:
        """(dotted name, parameter) pairs in ``parameters()`` order, e.g. ``('layers.0.neurons.1.w.0', v)``."""
        return list(_named_values(self, ""))

    def state_dict(self) -> dict[str, float]:
        """Every parameter's value by name, as plain floats (as ``torch.nn.Module.state_dict``)."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, float]) -> None:
        """Copy values from ``state_dict`` into the parameters; names must match exactly."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a dict of name -> number, got {type(state_dict).__name__}")
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        if missing or unexpected:
            raise KeyError(
                f"load_state_dict: missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
            )
        values = {}
        for name, number in state_dict.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise TypeError(f"load_state_dict: {name} must be a number, got {type(number).__name__}")
            try:
                values[name] = float(number)
            except OverflowError:  # an int such as 10**400
                raise ValueError(f"load_state_dict: {name} is too large for a float") from None
        for name, p in params.items():  # only after every entry checked: all or nothing
            p.data = values[name]


class Neuron(Module):
    """activation(w . x + b) with weights drawn from uniform(-1, 1) and bias 0."""

    def __init__(self, nin: int, nonlin: bool = True, activation: str | None = None) -> None:
        _check_size("Neuron: nin", nin, MAX_INPUTS)
        if activation is None:
            activation = "relu" if nonlin else "linear"
        _check_activation("Neuron", "activation", activation)
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.activation = activation
        self.nonlin = activation != "linear"

    def __call__(self, x: Inputs) -> Value:
        xs = _as_list(x)
        if len(xs) != len(self.w):
            raise ValueError(f"Neuron: expected {len(self.w)} inputs, got {len(xs)}")
        act = linear(self.w, xs, self.b)
        if self.activation == "relu":
            return act.relu()
        if self.activation == "tanh":
            return act.tanh()
        if self.activation == "sigmoid":
            return act.sigmoid()
        return act

    def parameters(self) -> list[Value]:
        return self.w + [self.b]

    def __repr__(self) -> str:
        name = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": "Linear"}[self.activation]
        return f"{name}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons that each see all ``nin`` inputs."""

    def __init__(self, nin: int, nout: int, **kwargs: Any) -> None:
        _check_size("Layer: nin", nin, MAX_INPUTS)
        _check_nout(nout)
        _check_parameter_count("Layer", [nin, nout])
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def outputs(self, x: Inputs) -> list[Value]:
        """The layer's outputs, always as a list."""
        return [n(x) for n in self.neurons]

    def __call__(self, x: Inputs) -> Value | list[Value]:
        out = self.outputs(x)
        return out[0] if len(out) == 1 else out  # as the original: one output comes back bare

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron: ``MLP(2, [16, 16, 1])`` maps 2 inputs through two hidden layers to 1 output."""

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "relu",
        output_activation: str = "linear",
    ) -> None:
        _check_size("MLP: nin", nin, MAX_INPUTS)
        if isinstance(nouts, (int, str)) or not isinstance(nouts, Sequence) or len(nouts) == 0:
            raise ValueError(f"MLP: nouts must be a non-empty list of layer sizes, got {nouts!r}")
        for nout in nouts:
            _check_nout(nout)
        _check_parameter_count("MLP", [nin, *nouts])
        # Both, even when there is no hidden layer to use `activation`: it is saved in checkpoints,
        # and a checkpoint naming an unknown activation cannot be loaded.
        _check_activation("MLP", "activation", activation)
        _check_activation("MLP", "output_activation", output_activation)
        self.nin = nin
        self.nouts = list(nouts)
        self.activation = activation
        self.output_activation = output_activation
        sizes = [nin] + list(nouts)
        last = len(nouts) - 1
        self.layers = [
            Layer(sizes[i], sizes[i + 1], activation=output_activation if i == last else activation)
            for i in range(len(nouts))
        ]

    def __call__(self, x: Inputs) -> Value | list[Value]:
        xs: Inputs = x
        for layer in self.layers:
            xs = layer.outputs(xs)  # always a list between layers, so width-1 hidden layers work
        assert isinstance(xs, list)
        return xs[0] if len(xs) == 1 else xs

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


def _named_values(obj: Any, prefix: str) -> Iterator[tuple[str, Value]]:
    """Walk a module's attributes (Values, Modules, and lists of them) in definition order."""
    items = vars(obj).items() if isinstance(obj, Module) else enumerate(obj)
    for key, item in items:
        name = f"{prefix}{key}"
        if isinstance(item, Value):
            yield name, item
        elif isinstance(item, (Module, list, tuple)):
            yield from _named_values(item, name + ".")


# The activations on plain floats, written as the engine's ops compute them.
_FLOAT_ACTIVATIONS: dict[str, Callable[[float], float]] = {
    "relu": lambda z: 0.0 if z < 0.0 else z,
    "tanh": math.tanh,
    "sigmoid": _stable_sigmoid,
    "linear": lambda z: z,
}


def outputs_on_floats(model: MLP, points: Sequence[Sequence[float]]) -> list[list[float]]:
    """``[v.data for v in model(x)]`` for every point, computed on plain floats: no Values, no graph.

    For evaluation (accuracy, decision boundaries). The same operations in the same order as
    ``Neuron`` and ``linear``, so the numbers are bit for bit those of ``model(x)``, about 3x faster.
    """
    layers = [
        [([w.data for w in n.w], n.b.data, _FLOAT_ACTIVATIONS[n.activation]) for n in layer.neurons]
        for layer in model.layers
    ]
    results = []
    for point in points:
        h = [float(v) for v in point]
        if len(h) != model.nin:
            raise ValueError(f"outputs_on_floats: the model takes {model.nin} inputs, got {len(h)}")
        for layer in layers:
            outputs = []
            for weights, bias, activate in layer:
                total = bias
                for w, v in zip(weights, h, strict=True):
                    total += w * v
                outputs.append(activate(total))
            h = outputs
        results.append(h)
    return results


def _as_list(x: Inputs) -> list[Scalar]:
    if isinstance(x, (Value, int, float)):
        return [x]
    if not isinstance(x, (str, bytes)):
        try:
            return list(x)
        except TypeError:  # not iterable; asked only on failure: this runs for every neuron call
            pass
    raise TypeError(f"Neuron: inputs must be a list of numbers or Values, got {type(x).__name__}")


def _check_size(what: str, n: Any, maximum: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{what} must be at least 1, got {n}")
    if n > maximum:
        raise ValueError(f"{what} must be at most {maximum:,}, got {n}")


def _check_nout(nout: Any) -> None:
    # The same words from Layer and from MLP, which checks all its layer sizes before building any.
    _check_size("Layer: nout", nout, MAX_LAYER_SIZE)


def _check_parameter_count(owner: str, sizes: list[int]) -> None:
    """Refuse sizes (checked ints) whose layers would hold more than MAX_PARAMETERS weights and biases."""
    # Each layer has (inputs + 1 bias) * outputs parameters.
    count = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True))
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"{owner}: {sizes[0]} -> {sizes[1:]} would have {count:,} parameters; the limit is {MAX_PARAMETERS:,}"
        )


def _check_activation(owner: str, name: str, activation: Any) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"{owner}: unknown {name} {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
