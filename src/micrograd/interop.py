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
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from micrograd.engine import Value
from micrograd.nn import MLP, Layer

if TYPE_CHECKING:  # for the annotations only; at run time torch is imported on first use
    import torch

__all__ = ["to_torch", "from_torch", "gpt_to_torch", "read_gpt_module", "load_gpt_weights"]

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
    for layer, (linear, where) in zip(mlp.layers, linears, strict=True):
        weight = _real_matrix(linear.weight, (linear.out_features, linear.in_features), f"from_torch: {where} weight")
        bias = _real_matrix(linear.bias, (linear.out_features,), f"from_torch: {where} bias")
        for neuron, row, b in zip(layer.neurons, weight, bias, strict=True):
            for w, number in zip(neuron.w, row, strict=True):
                w.data = number
            neuron.b.data = b
    return mlp


def _real_matrix(tensor: Any, shape: tuple[int, ...], what: str) -> Any:
    """The tensor's numbers as nested lists of Python floats, refused unless it has exactly ``shape``
    and real numbers: a weight of shape (1, 2, 1) would put lists into Value.data, and converting a
    complex tensor to float64 silently drops the imaginary part."""
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{what} must be a tensor, got {type(tensor).__name__}")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValueError(f"{what} has dtype {tensor.dtype}; only real numbers can become Values")
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{what} has shape {tuple(tensor.shape)}, expected {shape}")
    return tensor.detach().to(torch.float64).tolist()


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


# ----------------------------------------------------------------------
# The GPT of micrograd.gpt
# ----------------------------------------------------------------------

_TORCH_GPT_CLASS: Any = None


def gpt_to_torch(model: Any) -> torch.nn.Module:
    """A float64 ``torch.nn.Module`` computing the same logits as a ``micrograd.gpt.GPT``.

    Its ``forward(idx)`` takes a LongTensor of token ids of shape (B, T), T <= block_size, and
    returns logits of shape (B, T, vocab_size): all positions at once, with a causal mask, where
    micrograd goes one position at a time with a key/value cache. The modules are named as in
    microgpt.py (``wte``, ``wpe``, ``lm_head``, ``layers[i].attn_wq`` ... ``mlp_fc2``), every
    ``nn.Linear`` without bias; ``module.chars`` is the vocabulary. The weights are copied.
    """
    _require_torch()
    import torch

    if not all(hasattr(model, name) for name in ("config", "chars", "wte", "layers")):  # duck-typed: gpt imports us
        raise TypeError(f"gpt_to_torch: expected a micrograd.gpt.GPT, got {type(model).__name__}")
    c = model.config
    module = _torch_gpt_class()(c.vocab_size, c.n_embd, c.n_head, c.n_layer, c.block_size, list(model.chars))
    with torch.no_grad():
        for name, rows in _gpt_matrices(model):
            module.get_parameter(name).copy_(torch.tensor(rows, dtype=torch.float64))
    return cast("torch.nn.Module", module)


def read_gpt_module(module: torch.nn.Module, chars: Iterable[str] | None = None) -> tuple[dict[str, int], list[str]]:
    """The sizes (GPTConfig's fields) and the vocabulary of a module made by ``gpt_to_torch``.

    ``n_head`` comes from the module's attribute of that name, the vocabulary from ``chars`` or
    else ``module.chars``. ``micrograd.gpt.from_torch`` builds the model from these.
    """
    _require_torch()
    import torch

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"gpt_from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    try:
        wte = module.get_parameter("wte.weight")
        wpe = module.get_parameter("wpe.weight")
        n_layer = len(cast("torch.nn.ModuleList", module.get_submodule("layers")))
        n_head: Any = module.n_head
    except (AttributeError, TypeError) as error:
        raise ValueError(f"gpt_from_torch: not a GPT module as gpt_to_torch makes them: {error}") from None
    for name, table in (("wte.weight", wte), ("wpe.weight", wpe)):
        if table.dim() != 2:  # the sizes below are read from the two dimensions
            raise ValueError(f"gpt_from_torch: {name} has shape {tuple(table.shape)}, expected 2 dimensions")
    vocabulary = chars if chars is not None else getattr(module, "chars", None)
    if vocabulary is None:
        raise ValueError("gpt_from_torch: the module has no 'chars'; pass the vocabulary as chars=")
    sizes = {
        "vocab_size": int(wte.shape[0]),
        "n_embd": int(wte.shape[1]),
        "n_head": int(n_head),
        "n_layer": n_layer,
        "block_size": int(wpe.shape[0]),
    }
    return sizes, list(vocabulary)


def load_gpt_weights(model: Any, module: torch.nn.Module) -> None:
    """Copy every matrix of ``module`` (as ``gpt_to_torch`` names them) into the GPT ``model``."""

    for name, rows in _gpt_matrices(model):
        try:
            parameter = module.get_parameter(name)
        except AttributeError:
            raise ValueError(f"gpt_from_torch: the module has no parameter {name!r}") from None
        weight = _real_matrix(parameter, (len(rows), len(rows[0])), f"gpt_from_torch: {name}")
        for row, numbers_ in zip(rows, weight, strict=True):
            for p, number in zip(row, numbers_, strict=True):
                p.data = number


def _gpt_matrices(model: Any) -> list[tuple[str, list[list[Value]]]]:
    """(torch parameter name, micrograd weight rows) for every matrix of the model."""
    matrices = [
        ("wte.weight", model.wte.weight),
        ("wpe.weight", model.wpe.weight),
        ("lm_head.weight", model.lm_head.weight),
    ]
    for i, layer in enumerate(model.layers):
        attn = layer.attn
        for name, linear in (("attn_wq", attn.wq), ("attn_wk", attn.wk), ("attn_wv", attn.wv), ("attn_wo", attn.wo)):
            matrices.append((f"layers.{i}.{name}.weight", linear.weight))
        matrices.append((f"layers.{i}.mlp_fc1.weight", layer.fc1.weight))
        matrices.append((f"layers.{i}.mlp_fc2.weight", layer.fc2.weight))
    return matrices


def _bare_linear(nin: int, nout: int) -> torch.nn.Linear:
    """A float64 ``nn.Linear`` without bias whose weight is not initialised (it is about to be overwritten)."""
    import torch
    from torch import nn

    # Made on the meta device, so nothing is drawn (torch's generator is left alone), then given real memory:
    # skip_init does the same through empty_like, which costs a second of imports on first use.
    made = nn.Linear(nin, nout, bias=False, device="meta", dtype=torch.float64)
    made.weight = nn.Parameter(torch.empty(nout, nin, dtype=torch.float64))
    return made


def _torch_gpt_class() -> Any:
    """The torch module class, defined on first use (so that importing this module never imports torch)."""
    global _TORCH_GPT_CLASS
    if _TORCH_GPT_CLASS is not None:
        return _TORCH_GPT_CLASS
    import torch
    from torch import nn

    linear = _bare_linear

    def rmsnorm(x: torch.Tensor) -> torch.Tensor:
        return x * (x.pow(2).mean(dim=-1, keepdim=True) + 1e-5) ** -0.5

    class Layer(nn.Module):
        def __init__(self, n_embd: int, n_head: int) -> None:
            super().__init__()
            self.n_head = n_head
            self.attn_wq = linear(n_embd, n_embd)
            self.attn_wk = linear(n_embd, n_embd)
            self.attn_wv = linear(n_embd, n_embd)
            self.attn_wo = linear(n_embd, n_embd)
            self.mlp_fc1 = linear(n_embd, 4 * n_embd)
            self.mlp_fc2 = linear(4 * n_embd, n_embd)

        def forward(self, x: torch.Tensor, attention: list[torch.Tensor] | None = None) -> torch.Tensor:
            batch, length, n_embd = x.shape
            heads, head_dim = self.n_head, n_embd // self.n_head
            h = rmsnorm(x)

            def split(t: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, heads, T, head_dim)
                return t.view(batch, length, heads, head_dim).transpose(1, 2)

            q, k, v = split(self.attn_wq(h)), split(self.attn_wk(h)), split(self.attn_wv(h))
            scores = q @ k.transpose(-2, -1) / head_dim**0.5
            future = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
            weights = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
            if attention is not None:  # (B, heads, T, T): what each position looks at, for the heat maps
                attention.append(weights.detach())
            mixed = (weights @ v).transpose(1, 2).reshape(batch, length, n_embd)
            x = x + self.attn_wo(mixed)
            out: torch.Tensor = x + self.mlp_fc2(torch.relu(self.mlp_fc1(rmsnorm(x))))
            return out

    class TorchGPT(nn.Module):
        """microgpt's GPT in torch, all positions at once."""

        def __init__(
            self, vocab_size: int, n_embd: int, n_head: int, n_layer: int, block_size: int, chars: list[str]
        ) -> None:
            super().__init__()
            self.n_head = n_head
            self.block_size = block_size
            self.chars = chars
            # Given a _weight, Embedding draws nothing (skip_init's meta-device pass costs seconds of imports here).
            self.wte = nn.Embedding(vocab_size, n_embd, _weight=torch.empty(vocab_size, n_embd, dtype=torch.float64))
            self.wpe = nn.Embedding(block_size, n_embd, _weight=torch.empty(block_size, n_embd, dtype=torch.float64))
            self.lm_head = linear(n_embd, vocab_size)
            self.layers = nn.ModuleList(Layer(n_embd, n_head) for _ in range(n_layer))

        def forward(self, idx: torch.Tensor, attention: list[torch.Tensor] | None = None) -> torch.Tensor:
            """Logits (B, T, vocab) of token ids (B, T); each layer's attention weights go to ``attention`` if given."""
            if idx.dim() != 2:
                raise ValueError(f"TorchGPT: expected token ids of shape (B, T), got {tuple(idx.shape)}")
            length = idx.shape[1]
            if length > self.block_size:
                raise ValueError(f"TorchGPT: {length} positions but the block size is {self.block_size}")
            positions = torch.arange(length, device=idx.device)
            x = rmsnorm(self.wte(idx) + self.wpe(positions))
            for layer in self.layers:
                x = layer(x, attention)
            logits: torch.Tensor = self.lm_head(x)
            return logits

    _TORCH_GPT_CLASS = TorchGPT
    return TorchGPT
