"""A small neural-net library on top of the engine: Neuron, Layer, MLP.

Same defaults and the same initialisation as the original micrograd (weights
drawn from ``random.uniform(-1, 1)`` on Python's global ``random`` in the same
order, bias 0, ReLU hidden layers, a linear last layer), so seeded code written
for the original gives the same numbers. ``init="lecture"`` initialises as the
lecture's notebook does instead (the bias drawn from uniform(-1, 1) too, right
after the neuron's weights), so the lecture's seeded training gives its numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from micrograd import ops
from micrograd.engine import Scalar, Value, linear
from micrograd.fused import attend, attention_score, rms_scale, softmax_weights
from micrograd.ops import _float_sigmoid as _stable_sigmoid

if TYPE_CHECKING:
    from micrograd._files import CheckpointError, PathLike

__all__ = [
    "Module",
    "Neuron",
    "Layer",
    "MLP",
    "ACTIVATIONS",
    "outputs_on_floats",
    "load",
    "CheckpointError",
    "Embedding",
    "Linear",
    "RMSNorm",
    "CausalSelfAttention",
    "KVCache",
    "matvec",
    "rms_scale",
    "attention_score",
    "attend",
]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")

# How a Neuron's parameters start. Both draw every weight from random.uniform(-1, 1) on Python's
# global random, neuron by neuron, layer by layer; they differ only in the bias:
# - "original": bias 0, as micrograd's nn.py (the repository's library);
# - "lecture": bias from uniform(-1, 1), drawn right after the neuron's weights, as the Neuron
#   written in the lecture's notebook. So random.seed(s) then MLP(..., init="lecture") holds the
#   same numbers as the lecture's MLP after the same seed.
INITS = ("original", "lecture")

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
    """activation(w . x + b) with weights drawn from uniform(-1, 1) and bias 0 (or, with
    ``init="lecture"``, the bias drawn from uniform(-1, 1) after the weights, as in the lecture)."""

    def __init__(
        self, nin: int, nonlin: bool = True, activation: str | None = None, *, init: str = "original"
    ) -> None:
        _check_size("Neuron: nin", nin, MAX_INPUTS)
        if activation is None:
            activation = "relu" if nonlin else "linear"
        _check_activation("Neuron", "activation", activation)
        _check_init("Neuron", init)
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(random.uniform(-1, 1)) if init == "lecture" else Value(0)
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
    """``nout`` neurons that each see all ``nin`` inputs; keyword arguments (activation, init) go to each Neuron."""

    def __init__(self, nin: int, nout: int, **kwargs: Any) -> None:
        _check_size("Layer: nin", nin, MAX_INPUTS)
        _check_nout(nout)
        _check_parameter_count("Layer", [nin, nout])
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def outputs(self, x: Inputs) -> list[Value]:
        """The layer's outputs, always as a list."""
        xs = _as_list(x)  # once for the layer, not once per neuron
        return [n(xs) for n in self.neurons]

    def __call__(self, x: Inputs) -> Value | list[Value]:
        out = self.outputs(x)
        return out[0] if len(out) == 1 else out  # as the original: one output comes back bare

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron: ``MLP(2, [16, 16, 1])`` maps 2 inputs through two hidden layers to 1 output.

    ``init`` is how the parameters start: ``"original"`` (bias 0, the default) or ``"lecture"``
    (every bias drawn from uniform(-1, 1) after its neuron's weights, as the lecture's MLP).
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "relu",
        output_activation: str = "linear",
        *,
        init: str = "original",
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
        _check_init("MLP", init)
        self.nin = nin
        self.nouts = list(nouts)
        self.activation = activation
        self.output_activation = output_activation
        sizes = [nin] + list(nouts)
        last = len(nouts) - 1
        self.layers = [
            Layer(sizes[i], sizes[i + 1], activation=output_activation if i == last else activation, init=init)
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
    "relu": ops.relu,
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


# ----------------------------------------------------------------------
# Loading a saved MLP (micrograd.app.checkpoint writes the files; micrograd.load reads any kind)
# ----------------------------------------------------------------------


def load(path: PathLike) -> MLP:
    """The MLP saved at ``path`` by ``micrograd train`` or ``demo`` (``micrograd.app.checkpoint.save``).

    Raises CheckpointError (a ValueError) naming the file and the problem, e.g. for a GPT's
    checkpoint (``micrograd.gpt.load`` reads those), and FileNotFoundError for a missing file.
    """
    return read_checkpoint(path)[1]


def read_checkpoint(path: PathLike) -> tuple[dict[str, Any], MLP]:
    """The checkpoint's checked contents and the MLP they describe, from one read of the file."""
    # The file readers are imported when a file is read: `from micrograd.nn import MLP` stays as quick as
    # the engine (they were a quarter of this module's import), as in micrograd/__init__.py.
    from micrograd._files import checkpoint_failure, checkpoint_name, read_checkpoint_json

    name = checkpoint_name(path, "micrograd.nn.load")
    return checkpoint_from_data(name, read_checkpoint_json(name, checkpoint_failure(name)))


def checkpoint_from_data(name: str, data: dict[str, Any]) -> tuple[dict[str, Any], MLP]:
    """Check an MLP checkpoint already parsed from the file ``name``; its contents and its MLP."""
    from micrograd._files import checkpoint_failure
    from micrograd._mlp_checkpoint import check_mlp_checkpoint

    fail = checkpoint_failure(name)
    checkpoint = check_mlp_checkpoint(data, ACTIVATIONS, fail)
    try:
        model = mlp_from_checkpoint(checkpoint)
    except KeyError as error:  # parameter names that do not fit the architecture
        raise fail(f"the parameters do not match the architecture: {error.args[0]}") from None
    except ValueError as error:  # sizes over this module's limits (MAX_INPUTS, MAX_LAYER_SIZE, ...)
        raise fail(f"the model cannot be built: {error}") from None
    return checkpoint, model


def mlp_from_checkpoint(checkpoint: Mapping[str, Any]) -> MLP:
    """A new MLP with the architecture (``checkpoint["model"]``) and parameters of a checked checkpoint."""
    spec = checkpoint["model"]
    # Building an MLP draws initial weights from the global random module; put its state back,
    # so loading a model does not change what a seeded program does next.
    saved_state = random.getstate()
    try:
        model = MLP(
            spec["nin"], spec["nouts"], activation=spec["activation"], output_activation=spec["output_activation"]
        )
    finally:
        random.setstate(saved_state)
    model.load_state_dict(checkpoint["parameters"])
    return model


def _as_list(x: Inputs) -> list[Scalar]:
    if type(x) is list:  # the usual case, e.g. a layer's outputs: read as it is, not copied
        return x
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


def _check_init(owner: str, init: Any) -> None:
    if not isinstance(init, str):
        raise TypeError(f"{owner}: init must be a str, one of {', '.join(INITS)}; got {type(init).__name__}")
    if init not in INITS:
        raise ValueError(f"{owner}: unknown init {init!r}; choose one of {', '.join(INITS)}")


# ----------------------------------------------------------------------
# Transformer pieces: Embedding, Linear, RMSNorm, causal self-attention.
#
# Initialised as Karpathy's microgpt.py initialises them: every weight drawn
# from gauss(0, std) with std 0.08, row by row, on the given random.Random (or
# on Python's global ``random`` when none is given), in the order the modules
# are built. They work on lists of Values, one position at a time.
#
# The hot spots are fused nodes, each a row of the op table defined in
# micrograd.fused with its derivative beside it, so higher-order gradients stay right: a matrix
# row times a vector is one ``linear`` node, RMSNorm's scale one ``rms_scale``
# node, an attention score one ``attention_score`` node, and the softmax of the
# scores mixed with one channel of the values one ``attend`` node. Each computes
# its value with the same float operations in the same order as microgpt.py's
# Values do, so the numbers are bit for bit the same; only the gradients are
# summed in another order (equal to rounding).
# ----------------------------------------------------------------------


def _gauss_matrix(owner: str, rows: int, cols: int, std: float, rng: random.Random | None) -> list[list[Value]]:
    """``rows`` lists of ``cols`` Values drawn from gauss(0, std), row by row (microgpt's ``matrix``)."""
    _check_parameter_total(owner, rows * cols)
    gauss = rng.gauss if rng is not None else random.gauss
    return [[Value(gauss(0.0, std)) for _ in range(cols)] for _ in range(rows)]


class Embedding(Module):
    """A table of ``num`` vectors of size ``dim``; ``embedding(i)`` is row ``i`` (the same Values, not copies)."""

    def __init__(self, num: int, dim: int, *, std: float = 0.08, rng: random.Random | None = None) -> None:
        _check_size("Embedding: num", num, MAX_LAYER_SIZE)
        _check_size("Embedding: dim", dim, MAX_LAYER_SIZE)
        self.num = num
        self.dim = dim
        self.weight = _gauss_matrix("Embedding", num, dim, std, rng)

    def __call__(self, index: int) -> list[Value]:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"Embedding: index must be an int, got {type(index).__name__}")
        if not 0 <= index < self.num:
            raise IndexError(f"Embedding: index {index} is out of range for {self.num} rows")
        return self.weight[index]

    def parameters(self) -> list[Value]:
        return [p for row in self.weight for p in row]

    def __repr__(self) -> str:
        return f"Embedding({self.num}, {self.dim})"


class Linear(Module):
    """``y = W x (+ b)`` with W of ``nout`` rows of ``nin`` weights (microgpt's ``matrix(nout, nin)``).

    Each output is one fused ``linear`` node, adding ``w_0 x_0`` first and left to right, so the value
    is bit for bit ``sum(w * x for w, x in zip(row, x))``. The bias, when asked for, starts at 0.
    """

    def __init__(
        self, nin: int, nout: int, bias: bool = False, *, std: float = 0.08, rng: random.Random | None = None
    ) -> None:
        _check_size("Linear: nin", nin, MAX_INPUTS)
        _check_size("Linear: nout", nout, MAX_LAYER_SIZE)
        self.nin = nin
        self.nout = nout
        self.weight = _gauss_matrix("Linear", nout, nin, std, rng)
        self.bias = [Value(0.0) for _ in range(nout)] if bias else None

    def __call__(self, x: Sequence[Value]) -> list[Value]:
        if len(x) != self.nin:
            raise ValueError(f"Linear: expected {self.nin} inputs, got {len(x)}")
        if self.bias is None:
            return matvec(self.weight, x)
        return [linear(row, x, b) for row, b in zip(self.weight, self.bias, strict=True)]

    def parameters(self) -> list[Value]:
        rows = [p for row in self.weight for p in row]
        return rows if self.bias is None else rows + self.bias

    def __repr__(self) -> str:
        return f"Linear({self.nin}, {self.nout}, bias={self.bias is not None})"


def matvec(rows: Sequence[Sequence[Value]], x: Sequence[Value]) -> list[Value]:
    """``[sum(w * x for w, x in zip(row, x)) for row in rows]``, one fused ``linear`` node per row."""
    return [linear(row, x, None) for row in rows]


class RMSNorm(Module):
    """``x_i * (mean(x**2) + eps) ** -0.5``: rescale a vector to unit root-mean-square, no learned weight."""

    def __init__(self, eps: float = 1e-5) -> None:
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0.0:
            raise ValueError(f"RMSNorm: eps must be a number > 0, got {eps!r}")
        self.eps = float(eps)

    def __call__(self, x: Sequence[Value]) -> list[Value]:
        if not x:
            raise ValueError("RMSNorm: x is empty")
        scale = rms_scale(x, self.eps)
        return [xi * scale for xi in x]

    def __repr__(self) -> str:
        return f"RMSNorm(eps={self.eps})"


class KVCache:
    """The keys and values of the positions seen so far, one list per position (for one attention layer)."""

    def __init__(self) -> None:
        self.keys: list[list[Value]] = []
        self.values: list[list[Value]] = []
        # Filled only when ``record`` is set: attention weights as floats, [position][head][earlier position].
        self.record = False
        self.weights: list[list[list[float]]] = []

    def __len__(self) -> int:
        return len(self.keys)


class CausalSelfAttention(Module):
    """Multi-head causal self-attention, one position at a time, with a key/value cache.

    ``attention(x, cache)`` projects ``x`` to a query, a key and a value, appends the key and value
    to ``cache``, lets each head's query look at every cached key (so only at this and earlier
    positions: causal by construction), and mixes the cached values with the softmax weights.
    The heads' outputs, side by side, go through the output projection ``wo``.
    """

    def __init__(self, n_embd: int, n_head: int, *, std: float = 0.08, rng: random.Random | None = None) -> None:
        _check_size("CausalSelfAttention: n_embd", n_embd, MAX_LAYER_SIZE)
        _check_size("CausalSelfAttention: n_head", n_head, MAX_LAYER_SIZE)
        if n_embd % n_head != 0:
            raise ValueError(f"CausalSelfAttention: n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.n_embd = n_embd
        self.n_head = n_head
        self.head_dim = n_embd // n_head
        self.wq = Linear(n_embd, n_embd, std=std, rng=rng)
        self.wk = Linear(n_embd, n_embd, std=std, rng=rng)
        self.wv = Linear(n_embd, n_embd, std=std, rng=rng)
        self.wo = Linear(n_embd, n_embd, std=std, rng=rng)

    def __call__(self, x: Sequence[Value], cache: KVCache) -> list[Value]:
        q, k, v = self.wq(x), self.wk(x), self.wv(x)
        cache.keys.append(k)
        cache.values.append(v)
        heads: list[Value] = []
        recorded: list[list[float]] = []
        hd = self.head_dim
        scale = (hd**0.5) ** -1  # dividing by sqrt(head_dim), written as microgpt's Value division computes it
        for h in range(self.n_head):
            lo, hi = h * hd, (h + 1) * hd
            q_h = q[lo:hi]
            scores = [attention_score(q_h, key[lo:hi], scale) for key in cache.keys]
            if cache.record:
                recorded.append(softmax_weights([s.data for s in scores]))
            for j in range(lo, hi):
                heads.append(attend(scores, [value[j] for value in cache.values]))
        if cache.record:
            cache.weights.append(recorded)
        return self.wo(heads)

    def parameters(self) -> list[Value]:
        return [p for m in (self.wq, self.wk, self.wv, self.wo) for p in m.parameters()]

    def __repr__(self) -> str:
        return f"CausalSelfAttention(n_embd={self.n_embd}, n_head={self.n_head})"


def _check_parameter_total(owner: str, count: int) -> None:
    if count > MAX_PARAMETERS:
        raise ValueError(f"{owner}: {count:,} parameters; the limit is {MAX_PARAMETERS:,}")


def __getattr__(name: str) -> object:
    # CheckpointError (micrograd.CheckpointError) is imported when first asked for, with the file readers.
    if name == "CheckpointError":
        from micrograd._files import CheckpointError

        return CheckpointError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
