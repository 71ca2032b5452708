"""A bridge to PyTorch: ``to_torch(mlp)`` and ``from_torch(sequential)`` copy a network across.

Both directions keep the weights and the activations, so the two models
compute the same function (to float64 rounding) and the same parameter
gradients. A micrograd ``MLP`` maps to a ``torch.nn.Sequential`` of

    Linear, [activation], Linear, [activation], ..., Linear, [activation]

with the activation one of ReLU, Tanh, Sigmoid, or none for 'linear'
(``from_torch`` also reads ``nn.Identity`` as 'linear'). Every hidden layer has
the same activation, as in ``MLP``; the output layer has its own.

PyTorch is optional: ``pip install 'micrograd[torch]'``. It is imported only
when one of these functions is called, so ``import micrograd`` never needs it.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from micrograd.nn import MLP, Layer

if TYPE_CHECKING:  # for the annotations only; at run time torch is imported on first use
    import torch

__all__ = ["to_torch", "from_torch"]

# micrograd activation name -> name of the torch.nn module class computing the same function.
_TORCH_ACTIVATION_CLASSES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid"}


def to_torch(mlp: MLP) -> torch.nn.Sequential:
    """A float64 ``torch.nn.Sequential`` with the same weights and activations as ``mlp``.

    Layer i becomes ``nn.Linear(nin, nout)`` (weight[j][k] = neuron j's w[k],
    bias[j] = neuron j's b) followed by its activation module; a 'linear'
    layer gets no activation module. The weights are copied: changing one
    model afterwards does not change the other.
    """
    _require_torch()
    import torch

    if not isinstance(mlp, MLP):
        raise TypeError(f"to_torch: expected a micrograd MLP, got {type(mlp).__name__}")
    modules: list[torch.nn.Module] = []
    for index, layer in enumerate(mlp.layers):
        nin, nout = len(layer.neurons[0].w), len(layer.neurons)
        # skip_init: no random initialisation, since every number is overwritten
        # below (and torch's random number generator is left untouched).
        linear = torch.nn.utils.skip_init(torch.nn.Linear, nin, nout, dtype=torch.float64)  # type: ignore[no-untyped-call]
        weight = [[w.data for w in neuron.w] for neuron in layer.neurons]
        bias = [neuron.b.data for neuron in layer.neurons]
        with torch.no_grad():  # copying numbers into parameters is not part of any graph
            linear.weight.copy_(torch.tensor(weight, dtype=torch.float64))
            linear.bias.copy_(torch.tensor(bias, dtype=torch.float64))
        modules.append(linear)
        activation = _layer_activation(layer, index)
        if activation != "linear":
            modules.append(getattr(torch.nn, _TORCH_ACTIVATION_CLASSES[activation])())
    return torch.nn.Sequential(*modules)


def from_torch(model: torch.nn.Sequential) -> MLP:
    """A micrograd ``MLP`` with the same weights and activations as a ``torch.nn.Sequential``.

    The model must be Linear layers with bias, each followed by at most one of
    ReLU, Tanh, Sigmoid, Identity, with the same activation after every
    hidden layer. Anything else (Conv, Dropout, BatchNorm, a Linear without
    bias, mixed hidden activations ...) raises ValueError naming the layer.
    Weights of any float dtype are converted to Python floats (float64).
    """
    _require_torch()
    import torch

    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"from_torch: expected a torch.nn.Sequential, got {type(model).__name__}")
    activation_names = {getattr(torch.nn, cls): name for name, cls in _TORCH_ACTIVATION_CLASSES.items()}
    activation_names[torch.nn.Identity] = "linear"

    # One entry per Linear: the module, its name in the Sequential, and the
    # activation after it (None until one is seen, which means 'linear').
    linears: list[tuple[torch.nn.Linear, str]] = []
    activations: list[tuple[str, str] | None] = []  # (activation, where it was found)
    for key, module in model.named_children():
        where = f"layer {key!r} ({module!r})"
        if isinstance(module, torch.nn.Linear):
            if module.bias is None:
                raise ValueError(f"from_torch: unsupported {where}: a Linear without bias (neurons always have one)")
            if linears and module.in_features != linears[-1][0].out_features:
                raise ValueError(
                    f"from_torch: {where} takes {module.in_features} inputs "
                    f"but the layer before gives {linears[-1][0].out_features}"
                )
            linears.append((module, where))
            activations.append(None)
        elif type(module) in activation_names:
            if not linears:
                raise ValueError(f"from_torch: unsupported {where}: the model must start with a Linear layer")
            if activations[-1] is not None:
                raise ValueError(f"from_torch: unsupported {where}: a second activation after one Linear layer")
            activations[-1] = (activation_names[type(module)], where)
        else:
            raise ValueError(
                f"from_torch: unsupported {where}; an MLP can only be made from "
                "Linear (with bias), ReLU, Tanh, Sigmoid and Identity"
            )
    if not linears:
        raise ValueError("from_torch: the model has no Linear layer")

    names = [found[0] if found else "linear" for found in activations]
    hidden = names[:-1]
    for i, name in enumerate(hidden):
        if name != hidden[0]:
            found = activations[i]
            culprit = f"{found[1]} is" if found else f"{linears[i][1]} has no activation, that is"
            raise ValueError(
                f"from_torch: unsupported mixed hidden activations: {culprit} {name!r} but the first hidden "
                f"layer's is {hidden[0]!r}; an MLP uses one activation for all hidden layers"
            )

    nin = linears[0][0].in_features
    nouts = [linear.out_features for linear, _ in linears]
    # MLP() draws initial weights from Python's global random generator; keep the
    # caller's random sequence as it was, since all of them are overwritten.
    state = random.getstate()
    try:
        mlp = MLP(nin, nouts, activation=hidden[0] if hidden else "relu", output_activation=names[-1])
    finally:
        random.setstate(state)
    for layer, (linear, _) in zip(mlp.layers, linears, strict=True):
        weight = linear.weight.detach().to(torch.float64).tolist()
        bias = linear.bias.detach().to(torch.float64).tolist()
        for neuron, row, b in zip(layer.neurons, weight, bias, strict=True):
            for w, number in zip(neuron.w, row, strict=True):
                w.data = number
            neuron.b.data = b
    return mlp


def _layer_activation(layer: Layer, index: int) -> str:
    activations = {neuron.activation for neuron in layer.neurons}
    if len(activations) != 1:
        raise ValueError(f"to_torch: layer {index} mixes activations {sorted(activations)}; torch needs one per layer")
    return activations.pop()


def _require_torch() -> None:
    """Raise an ImportError that says how to install torch, instead of a bare "No module named torch"."""
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "micrograd.interop needs PyTorch, an optional extra: pip install 'micrograd[torch]'"
        ) from error
