"""The microgpt model on scalar Values: sizes, one transformer layer, the GPT, and sampling."""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, cast

from micrograd.engine import Value, no_grad
from micrograd.fused import RMS_SCALE
from micrograd.gpt.tokenizer import Tokenizer
from micrograd.losses import softmax_cross_entropy
from micrograd.nn import MAX_PARAMETERS, CausalSelfAttention, Embedding, KVCache, Linear, Module, RMSNorm
from micrograd.ops import add_in_order, relu, softmax_parts, softmax_weights

if TYPE_CHECKING:  # for annotations only: torch is imported when to_torch/from_torch are called
    import torch

__all__ = ["GPT", "INIT_STD", "Block", "GPTConfig", "from_torch"]

INIT_STD = 0.08  # microgpt.py's: every weight starts as gauss(0, 0.08)


@dataclass(frozen=True)
class GPTConfig:
    """The sizes of a GPT. ``vocab_size`` counts BOS; ``n_embd`` must be a multiple of ``n_head``."""

    vocab_size: int
    n_embd: int = 16
    n_head: int = 4
    n_layer: int = 1
    block_size: int = 16

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"GPTConfig: {field.name} must be an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"GPTConfig: {field.name} must be at least 1, got {value}")
        if self.vocab_size < 2:
            raise ValueError(f"GPTConfig: vocab_size must be at least 2 (BOS and one character), got {self.vocab_size}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"GPTConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.num_parameters > MAX_PARAMETERS:
            raise ValueError(
                f"GPTConfig: these sizes make {self.num_parameters:,} parameters; the limit is {MAX_PARAMETERS:,}"
            )

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def num_parameters(self) -> int:
        """wte, wpe, lm_head, and per layer 4 attention matrices and the two MLP matrices."""
        e = self.n_embd
        return (2 * self.vocab_size + self.block_size) * e + self.n_layer * 12 * e * e

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


class Block(Module):
    """One transformer layer: attention, then a ReLU MLP of 4x width, each on an RMS-normalised input and residual."""

    def __init__(self, n_embd: int, n_head: int, *, std: float = INIT_STD, rng: random.Random | None = None) -> None:
        self.norm = RMSNorm()
        self.attn = CausalSelfAttention(n_embd, n_head, std=std, rng=rng)
        self.fc1 = Linear(n_embd, 4 * n_embd, std=std, rng=rng)
        self.fc2 = Linear(4 * n_embd, n_embd, std=std, rng=rng)

    def __call__(self, x: list[Value], cache: KVCache) -> list[Value]:
        residual = x
        x = self.attn(self.norm(x), cache)
        x = [a + b for a, b in zip(x, residual, strict=True)]
        residual = x
        x = self.fc2([h.relu() for h in self.fc1(self.norm(x))])
        return [a + b for a, b in zip(x, residual, strict=True)]

    def parameters(self) -> list[Value]:
        return self.attn.parameters() + self.fc1.parameters() + self.fc2.parameters()


class GPT(Module):
    """The microgpt model: ``GPT(GPTConfig(vocab_size=27), chars)``; parameters drawn from ``rng`` (or ``random``).

    ``chars`` is the vocabulary (sorted characters; BOS is ``len(chars)``); it may be left out when the
    model is only used on token ids. ``rng`` is kept as ``model.rng``: ``generate()`` without a seed
    draws from it, continuing the stream the weights were drawn from, as microgpt.py does.
    """

    def __init__(
        self,
        config: GPTConfig,
        chars: Iterable[str] | None = None,
        *,
        std: float = INIT_STD,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT: config must be a GPTConfig, got {type(config).__name__}")
        tokenizer = Tokenizer(chars if chars is not None else [chr(0xE000 + i) for i in range(config.vocab_size - 1)])
        if tokenizer.vocab_size != config.vocab_size:
            raise ValueError(
                f"GPT: {len(tokenizer.chars)} characters make a vocabulary of {tokenizer.vocab_size} with BOS, "
                f"but config.vocab_size is {config.vocab_size}"
            )
        self.config = config
        self.tokenizer = tokenizer
        self.rng = rng
        e = config.n_embd
        # Built in microgpt.py's order, which is the order the weights are drawn in.
        self.wte = Embedding(config.vocab_size, e, std=std, rng=rng)
        self.wpe = Embedding(config.block_size, e, std=std, rng=rng)
        self.lm_head = Linear(e, config.vocab_size, std=std, rng=rng)
        self.layers = [Block(e, config.n_head, std=std, rng=rng) for _ in range(config.n_layer)]
        self.norm = RMSNorm()

    def parameters(self) -> list[Value]:
        """In microgpt.py's order: wte, wpe, lm_head, then per layer wq, wk, wv, wo, fc1, fc2 (rows in order)."""
        params = self.wte.parameters() + self.wpe.parameters() + self.lm_head.parameters()
        return params + [p for layer in self.layers for p in layer.parameters()]

    @property
    def chars(self) -> list[str]:
        """The vocabulary: sorted characters; token id i is ``chars[i]`` and BOS is ``len(chars)``."""
        return self.tokenizer.chars

    @property
    def bos(self) -> int:
        return self.tokenizer.bos

    def new_caches(self) -> list[KVCache]:
        """One empty key/value cache per layer: the start of a sequence."""
        return [KVCache() for _ in self.layers]

    def forward(
        self, token_id: int, pos_id: int, caches: Sequence[KVCache], token_embedding: Sequence[Value] | None = None
    ) -> list[Value]:
        """The logits for the token after ``token_id`` at position ``pos_id``; appends to the caches.

        ``token_embedding`` stands in for ``wte(token_id)`` when given (the compiled engine records
        the graph with stand-ins, so that which row of wte is read becomes an input of the program).
        """
        embedding = self.wte(token_id) if token_embedding is None else token_embedding
        x = [t + p for t, p in zip(embedding, self.wpe(pos_id), strict=True)]
        x = self.norm(x)
        for layer, cache in zip(self.layers, caches, strict=True):
            x = layer(x, cache)
        return self.lm_head(x)

    def loss(self, tokens: Sequence[int]) -> Value:
        """Mean cross-entropy of predicting ``tokens[t + 1]`` from ``tokens[:t + 1]``, over the first block_size."""
        self._check_tokens(tokens, minimum=2)
        return self._loss(tokens)

    def _loss(self, tokens: Sequence[int]) -> Value:
        return self.mean_loss(self.position_losses(tokens))

    def position_losses(
        self, tokens: Sequence[int], token_embeddings: Sequence[Sequence[Value]] | None = None
    ) -> list[Value]:
        """The loss at each position (predicting ``tokens[t + 1]``), over the first block_size.

        ``token_embeddings`` stand in for ``wte(tokens[t])`` when given: a compiled engine records the
        graph with stand-ins, so that which row of wte is read becomes an input of its program.
        """
        n = min(self.config.block_size, len(tokens) - 1)
        caches = self.new_caches()
        losses = []
        for t in range(n):
            embedding = None if token_embeddings is None else token_embeddings[t]
            losses.append(_token_loss(self.forward(tokens[t], t, caches, embedding), tokens[t + 1]))
        return losses

    @staticmethod
    def mean_loss(losses: Sequence[Value]) -> Value:
        """The loss of a document: the mean of its positions' losses, added left to right as microgpt.py does."""
        return cast(Value, sum(losses)) * (1 / len(losses))

    def document_loss(self, doc: str) -> Value:
        """``loss`` of ``[BOS] + doc + [BOS]``."""
        return self.loss(self.tokenizer.document(doc))

    def logits(self, tokens: Sequence[int]) -> list[list[float]]:
        """One list of ``vocab_size`` floats per position; position t scores the token at t + 1."""
        self._check_tokens(tokens, minimum=1)
        if len(tokens) > self.config.block_size:
            raise ValueError(f"logits: {len(tokens)} tokens but the block size is {self.config.block_size}")
        caches = self.new_caches()
        with no_grad():
            return [[v.data for v in self.forward(token, t, caches)] for t, token in enumerate(tokens)]

    def attention_weights(self, text: str) -> list[list[list[list[float]]]]:
        """What each head looks at while reading ``[BOS] + text`` (cropped to the block size).

        ``weights[layer][t][head][s]`` is how much position t attends to position s <= t (each
        ``weights[layer][t][head]`` sums to 1): the softmax of the scores, as floats. Builds no graph.
        """
        tokens = [self.bos, *self.tokenizer.encode(text)][: self.config.block_size]
        caches = self.new_caches()
        for cache in caches:
            cache.record = True
        with no_grad():
            for t, token in enumerate(tokens):
                self.forward(token, t, caches)
        return [cache.weights for cache in caches]

    def generate(
        self, num: int = 20, temperature: float = 0.5, seed: int | None = None, prefix: str = ""
    ) -> list[str]:
        """``num`` new documents, drawn as microgpt.py draws them.

        From BOS, each next token is drawn with ``random.choices`` from the softmax of logits /
        temperature, until BOS comes or the block is full. A ``prefix`` is fed in first and is part
        of every result. With ``seed`` the draws come from ``random.Random(seed)``; without, from
        ``model.rng`` (the stream the weights came from) or else from Python's global ``random``.
        The temperature must be > 0; as it nears 0 the draws become greedy (always the likeliest
        token), and a temperature too small for 1/temperature to be a float is taken at that limit.
        Builds no graph. ``samples()`` gives the same documents one at a time.
        """
        return list(self.samples(num, temperature, seed, prefix))

    def samples(
        self, num: int = 20, temperature: float = 0.5, seed: int | None = None, prefix: str = ""
    ) -> Iterator[str]:
        """The documents of ``generate()``, each yielded as soon as it is drawn; the arguments are checked at once."""
        return self._draw(num, temperature, *self._sampling(num, temperature, seed, prefix))

    def _sampling(
        self, num: int, temperature: float, seed: int | None, prefix: str
    ) -> tuple[Callable[..., list[int]], list[int]]:
        """``samples``' arguments checked, as the draw they ask for: the stream's ``choices`` (``Random(seed)``,
        else ``model.rng``, else ``random``) and the prefix's tokens. Any sampler of this model starts here."""
        if isinstance(num, bool) or not isinstance(num, int) or num < 0:
            raise ValueError(f"generate: num must be an int >= 0, got {num!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise TypeError(f"generate: temperature must be a number, got {type(temperature).__name__}")
        if not (temperature > 0.0 and math.isfinite(temperature)):
            raise ValueError(f"generate: temperature must be a finite number > 0, got {temperature!r}")
        if not isinstance(prefix, str):
            raise TypeError(f"generate: prefix must be a str, got {type(prefix).__name__}")
        forced = self.tokenizer.encode(prefix)
        if len(forced) > self.config.block_size:
            raise ValueError(f"generate: the prefix has {len(forced)} characters; the block size is "
                             f"{self.config.block_size}")
        if seed is not None:
            choices: Callable[..., list[int]] = random.Random(seed).choices
        else:
            choices = self.rng.choices if self.rng is not None else random.choices
        return choices, forced

    def _draw(
        self, num: int, temperature: float, choices: Callable[..., list[int]], forced: list[int]
    ) -> Iterator[str]:
        """The documents, drawn on floats: the same operations as the Values would do, without the graph."""
        tokens = range(self.config.vocab_size)
        weights: _FloatWeights | None = None
        for _ in range(num):
            if weights is None:  # read when the first document is asked for: the caller may train in between
                weights = _FloatWeights(self)
            caches: list[_FloatCache] = [([], []) for _ in self.layers]
            token_id = self.bos
            sample = [self.chars[i] for i in forced]
            for pos_id in range(self.config.block_size):
                logits = weights.forward(token_id, pos_id, caches)
                if pos_id < len(forced):
                    token_id = forced[pos_id]
                    continue
                token_id = choices(tokens, weights=_sampling_weights(logits, temperature))[0]
                if token_id == self.bos:
                    break
                sample.append(self.chars[token_id])
            yield "".join(sample)

    def to_torch(self) -> torch.nn.Module:
        """A float64 ``torch.nn.Module`` with these weights: ``forward(LongTensor (B, T))`` -> logits (B, T, vocab)."""
        from micrograd.interop import gpt_to_torch

        return gpt_to_torch(self)

    def _check_tokens(self, tokens: Sequence[int], minimum: int) -> None:
        if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
            raise TypeError(f"tokens must be a list of token ids, got {type(tokens).__name__}")
        if len(tokens) < minimum:
            raise ValueError(f"tokens: need at least {minimum} token ids, got {len(tokens)}")
        for i, token in enumerate(tokens):
            if isinstance(token, bool) or not isinstance(token, int):
                raise TypeError(f"tokens[{i}] must be an int, got {type(token).__name__}")
            if not 0 <= token < self.config.vocab_size:
                raise ValueError(f"tokens[{i}] = {token} is out of range for a vocabulary of {self.config.vocab_size}")

    def __repr__(self) -> str:
        c = self.config
        return (
            f"GPT(vocab_size={c.vocab_size}, n_embd={c.n_embd}, n_head={c.n_head}, n_layer={c.n_layer}, "
            f"block_size={c.block_size})"
        )


def _token_loss(logits: list[Value], target: int) -> Value:
    """-log softmax(logits)[target], one node (the same number as microgpt.py's -probs[target].log())."""
    return softmax_cross_entropy(logits, target)


def _sampling_weights(logits: Sequence[Value] | Sequence[float], temperature: float) -> list[float]:
    """softmax(logits / temperature) as floats, with microgpt.py's operations in its order.

    A temperature so small that 1/temperature (or a logit times it) is past the largest float is
    taken at its limit, exp((logit - largest) / temperature): all the weight on the largest logits.
    """
    try:
        inverse = temperature**-1  # Value division by a number multiplies by its inverse
    except OverflowError:
        inverse = math.inf
    numbers = [v.data if isinstance(v, Value) else v for v in logits]
    scaled = [x * inverse for x in numbers]
    if all(map(math.isfinite, scaled)):
        exps, normaliser = softmax_parts(scaled)
    else:
        top = max(numbers)
        exps = [math.exp((x - top) / temperature) for x in numbers]  # 1 for the largest, else 0 or tiny
        normaliser = sum(exps) ** -1
    return [e * normaliser for e in exps]


_FloatCache = tuple[list[list[float]], list[list[float]]]  # one layer's keys and values, one list per position


class _FloatWeights:
    """The model's weights as floats, and its forward pass on floats: sampling without building Values.

    Every number is computed with the float operations of the op table's rows that the Value model's
    nodes use (``dot``, ``rms_scale``, ``attention_score``, ``attend``, ``relu``), in the same order,
    so the logits, and so the samples, are bit for bit the Value model's (a test holds them to it).
    """

    def __init__(self, model: GPT) -> None:
        def rows(weight: list[list[Value]]) -> list[list[float]]:
            return [[p.data for p in row] for row in weight]

        self.wte, self.wpe, self.lm_head = rows(model.wte.weight), rows(model.wpe.weight), rows(model.lm_head.weight)
        self.eps = model.norm.eps
        self.layers = [
            (layer.norm.eps, layer.attn.n_head, [rows(m.weight) for m in (layer.attn.wq, layer.attn.wk, layer.attn.wv,
                                                                        layer.attn.wo, layer.fc1, layer.fc2)])
            for layer in model.layers
        ]

    def forward(self, token: int, position: int, caches: list[_FloatCache]) -> list[float]:
        """The logits after ``token`` at ``position`` (``GPT.forward`` on floats); appends to the caches."""
        x = _float_norm([t + p for t, p in zip(self.wte[token], self.wpe[position], strict=True)], self.eps)
        for (eps, n_head, (wq, wk, wv, wo, fc1, fc2)), (keys, values) in zip(self.layers, caches, strict=True):
            h = _float_norm(x, eps)
            q = _matvec(wq, h)
            keys.append(_matvec(wk, h))
            values.append(_matvec(wv, h))
            hd = len(q) // n_head
            scale = (hd**0.5) ** -1  # as CausalSelfAttention computes it
            heads: list[float] = []
            for lo in range(0, len(q), hd):
                q_h = q[lo : lo + hd]
                # attention_score and attend, written out so that the softmax is taken once per head, not per channel
                scores = [_dot(q_h, key[lo : lo + hd]) * scale for key in keys]
                weights = softmax_weights(scores)
                heads += [_dot(weights, [value[j] for value in values]) for j in range(lo, lo + hd)]
            x = [a + b for a, b in zip(_matvec(wo, heads), x, strict=True)]
            hidden = [relu(a) for a in _matvec(fc1, _float_norm(x, eps))]
            x = [a + b for a, b in zip(_matvec(fc2, hidden), x, strict=True)]
        return _matvec(self.lm_head, x)


def _dot(w: list[float], x: list[float]) -> float:
    """w_1 x_1 + ... + w_n x_n from 0.0, left to right: the float operations of the dot row (``ops.DOT``)."""
    total: float = add_in_order(map(operator.mul, w, x), 0.0)
    return total


def _matvec(rows: list[list[float]], x: list[float]) -> list[float]:
    return [add_in_order(map(operator.mul, row, x), 0.0) for row in rows]


def _float_norm(x: list[float], eps: float) -> list[float]:
    scale = RMS_SCALE.forward(*x, eps=eps)
    return [xi * scale for xi in x]


def from_torch(module: torch.nn.Module, chars: Iterable[str] | None = None) -> GPT:
    """A GPT with the weights of a module made by ``GPT.to_torch()`` (or one with the same structure)."""
    from micrograd.interop import load_gpt_weights, read_gpt_module

    sizes, vocabulary = read_gpt_module(module, chars)
    state = random.getstate()  # building draws weights; every one is overwritten
    try:
        model = GPT(GPTConfig(**sizes), vocabulary, rng=random.Random(0))
    finally:
        random.setstate(state)
    model.rng = None
    load_gpt_weights(model, module)
    return model


# ----------------------------------------------------------------------
# Training
