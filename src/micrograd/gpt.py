"""A GPT on scalar Values: Karpathy's microgpt.py, built from ``micrograd.nn`` pieces.

The architecture, step for step as microgpt.py (February 2026) has it:

    x = rmsnorm(wte[token] + wpe[position])
    for each layer:
        x = x + attention(rmsnorm(x))          # causal, multi-head, with a key/value cache
        x = x + fc2(relu(fc1(rmsnorm(x))))     # MLP of 4x width
    logits = lm_head(x)                        # no biases anywhere

trained on one document per step (``[BOS] + characters + [BOS]``, cropped to
the block size) with the mean cross-entropy of predicting each next token,
and Adam (betas 0.85, 0.99, eps 1e-8) with a learning rate decaying linearly
to 0. With the same seed and sizes it computes the same numbers as
microgpt.py: Python's ``random`` seeded with S shuffles the documents, then
draws every weight from ``gauss(0, 0.08)`` in microgpt.py's order (wte, wpe,
lm_head, then per layer wq, wk, wv, wo, fc1, fc2), and the samples at the end
are drawn from the same stream.

    training = train(read_documents("names.txt"), steps=1000)
    print(training.history[-1])                 # {'step': 1000, 'loss': ...}
    for i, name in enumerate(training.model.generate(20, temperature=0.5), 1):
        print(f"sample {i:2d}: {name}")

A step runs on one of two engines: ``eager`` builds the graph of Values (the
engine a learner reads; the hot spots are fused nodes of the op table), and
``compiled`` (``micrograd.gpt_compiled``, needs numpy) records that graph once
and replays it with arrays. Both give microgpt.py's losses and samples.
``micrograd gpt train`` / ``micrograd gpt sample`` are the command line.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, cast

from micrograd._files import (
    CHECKPOINT_FORMAT,
    atomic_write,
    checked_parameters,
    finite_parameters,
    read_checkpoint_json,
    read_text,
)
from micrograd._gradmode import collector_paused as _collector_paused
from micrograd._outputs import NonFiniteOutput, finite_outputs
from micrograd.engine import Value, no_grad
from micrograd.losses import softmax_cross_entropy
from micrograd.nn import MAX_PARAMETERS, CausalSelfAttention, Embedding, KVCache, Linear, Module, RMSNorm
from micrograd.optim import LinearLR, PaperAdam

if TYPE_CHECKING:  # for annotations only: torch is imported when to_torch/from_torch are called
    import torch

__all__ = [
    "BETAS",
    "CheckpointError",
    "EPS",
    "GPT",
    "GPTConfig",
    "Tokenizer",
    "Training",
    "documents",
    "from_torch",
    "load",
    "load_checkpoint",
    "read_documents",
    "save",
    "train",
]

# microgpt.py's settings.
INIT_STD = 0.08  # every weight starts as gauss(0, 0.08)
BETAS = (0.85, 0.99)
EPS = 1e-8
LEARNING_RATE = 0.01

FORMAT = CHECKPOINT_FORMAT  # the same family as micrograd.app.checkpoint; "kind" tells them apart
VERSION = 1
KIND = "gpt"
ENGINES = ("eager", "compiled")

PathLike = str | os.PathLike[str]


# ----------------------------------------------------------------------
# Documents and the tokenizer
# ----------------------------------------------------------------------


def documents(text: str) -> list[str]:
    """One document per non-empty line, each stripped of surrounding white space (as microgpt.py reads its file)."""
    return [line.strip() for line in text.strip().split("\n") if line.strip()]


def read_documents(path: PathLike) -> list[str]:
    """The documents of a UTF-8 text file; ValueError if it holds none."""
    name = os.fspath(path)
    try:
        # Universal newlines, as microgpt.py's open(): \r\n and \r become \n. read_text refuses
        # devices (/dev/zero never ends) and files over the read limit before they fill the memory.
        text = read_text(name, f"data file {name!r}")
    except IsADirectoryError:
        raise ValueError(f"data file {name!r} is a directory") from None
    except UnicodeDecodeError:
        raise ValueError(f"data file {name!r} is not UTF-8 text") from None
    docs = documents(text)
    if not docs:
        raise ValueError(f"data file {name!r} is empty: it needs at least one non-blank line")
    return docs


class Tokenizer:
    """Characters to token ids and back: ``chars`` sorted, id i is ``chars[i]``, and BOS is ``len(chars)``."""

    def __init__(self, chars: Iterable[str]) -> None:
        chars = list(chars)
        for i, ch in enumerate(chars):
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"Tokenizer: chars[{i}] must be one character, got {ch!r}")
        if chars != sorted(set(chars)):
            raise ValueError("Tokenizer: chars must be sorted and unique")
        if not chars:
            raise ValueError("Tokenizer: chars is empty")
        self.chars = chars
        self.bos = len(chars)
        self.vocab_size = len(chars) + 1
        self._ids = {ch: i for i, ch in enumerate(chars)}

    @classmethod
    def from_documents(cls, docs: Iterable[str]) -> Tokenizer:
        """The sorted set of every character in the documents."""
        return cls(sorted(set("".join(docs))))

    def encode(self, text: str) -> list[int]:
        """Token ids of the characters of ``text``; ValueError naming the first unknown character."""
        try:
            return [self._ids[ch] for ch in text]
        except KeyError as error:
            raise ValueError(f"character {error.args[0]!r} is not in the vocabulary {''.join(self.chars)!r}") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of token ids (BOS is left out)."""
        return "".join(self.chars[i] for i in ids if i != self.bos)

    def document(self, doc: str) -> list[int]:
        """``[BOS] + ids + [BOS]``: a training sequence."""
        return [self.bos, *self.encode(doc), self.bos]

    def __repr__(self) -> str:
        return f"Tokenizer({''.join(self.chars)!r})"


# ----------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------


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

    def _loss(
        self,
        tokens: Sequence[int],
        token_embeddings: Sequence[Sequence[Value]] | None = None,
        losses: list[Value] | None = None,
    ) -> Value:
        """The mean loss; with stand-ins for the token embeddings, and each position's loss put in ``losses``."""
        n = min(self.config.block_size, len(tokens) - 1)
        caches = self.new_caches()
        losses = [] if losses is None else losses
        for t in range(n):
            embedding = None if token_embeddings is None else token_embeddings[t]
            losses.append(_token_loss(self.forward(tokens[t], t, caches, embedding), tokens[t + 1]))
        return cast(Value, sum(losses)) * (1 / n)

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
        return self._draw(num, temperature, choices, forced)

    def _draw(
        self, num: int, temperature: float, choices: Callable[..., list[int]], forced: list[int]
    ) -> Iterator[str]:
        tokens = range(self.config.vocab_size)
        for _ in range(num):
            with no_grad():  # not held across the yield: the caller's code between names builds graphs as usual
                caches = self.new_caches()
                token_id = self.bos
                sample = [self.chars[i] for i in forced]
                for pos_id in range(self.config.block_size):
                    logits = self.forward(token_id, pos_id, caches)
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


def _sampling_weights(logits: list[Value], temperature: float) -> list[float]:
    """softmax(logits / temperature) as floats, with microgpt.py's operations in its order.

    A temperature so small that 1/temperature (or a logit times it) is past the largest float is
    taken at its limit, exp((logit - largest) / temperature): all the weight on the largest logits.
    """
    try:
        inverse = temperature**-1  # Value division by a number multiplies by its inverse
    except OverflowError:
        inverse = math.inf
    scaled = [v.data * inverse for v in logits]
    if all(map(math.isfinite, scaled)):
        largest = max(scaled)
        exps = [math.exp(s - largest) for s in scaled]
    else:
        top = max(v.data for v in logits)
        exps = [math.exp((v.data - top) / temperature) for v in logits]  # 1 for the largest, else 0 or tiny
    normaliser = sum(exps) ** -1
    return [e * normaliser for e in exps]


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
# ----------------------------------------------------------------------


class Training:
    """A training run: the model, the documents in order, Adam with a linear decay, and every step's loss.

    ``Training.start(docs, steps=1000, seed=42)`` sets it up exactly as microgpt.py does;
    ``run()`` takes the steps one by one and yields ``(step, loss)``; ``save(path)`` writes a
    checkpoint from which ``Training.resume`` continues exactly where it stopped.

    ``engine`` is how a step is computed: ``"eager"`` builds the graph of Values every step;
    ``"compiled"`` (needs numpy) records the graph once per document length and replays it
    with numpy (``micrograd.gpt_compiled``): the same losses for the same parameters, and
    gradients equal to rounding.
    """

    def __init__(
        self,
        model: GPT,
        docs: Sequence[str],
        steps: int,
        *,
        lr: float = LEARNING_RATE,
        seed: int | None = None,
        engine: str = "eager",
    ) -> None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"Training: steps must be an int >= 1, got {steps!r}")
        if engine not in ENGINES:
            raise ValueError(f"Training: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        if not docs:
            raise ValueError("Training: docs is empty")
        self.model = model
        self.docs = list(docs)
        for doc in self.docs:
            model.tokenizer.encode(doc)  # every character must be in the vocabulary
        self.num_steps = steps
        self.seed = seed
        self.optimizer = PaperAdam(model.parameters(), lr=lr, betas=BETAS, eps=EPS)
        self.scheduler = LinearLR(self.optimizer, start_factor=1.0, end_factor=0.0, total_iters=steps)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.engine = engine
        self._compiled: Any = None  # the compiled engine's state, made on the first step
        # The random stream as start() leaves it (after the shuffle and the weights), saved so that
        # load() can give model.rng back without replaying the draws; None when not made by start().
        self._stream_state: tuple[Any, ...] | None = None

    @classmethod
    def start(
        cls,
        docs: Iterable[str],
        steps: int = 1000,
        *,
        seed: int = 42,
        lr: float = LEARNING_RATE,
        n_embd: int = 16,
        n_head: int = 4,
        n_layer: int = 1,
        block_size: int = 16,
        engine: str = "eager",
    ) -> Training:
        """Seed ``random.Random(seed)``, shuffle the documents, build the vocabulary, draw the weights."""
        # The sizes are checked before anything else (vocab_size 2 stands in for the one still unknown).
        GPTConfig(vocab_size=2, n_embd=n_embd, n_head=n_head, n_layer=n_layer, block_size=block_size)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"Training: steps must be an int >= 1, got {steps!r}")
        shuffled = list(docs)
        if not shuffled:
            raise ValueError("Training: docs is empty")
        rng = random.Random(seed)
        rng.shuffle(shuffled)
        tokenizer = Tokenizer.from_documents(shuffled)
        config = GPTConfig(tokenizer.vocab_size, n_embd, n_head, n_layer, block_size)
        model = GPT(config, tokenizer.chars, rng=rng)
        training = cls(model, shuffled, steps, lr=lr, seed=seed, engine=engine)
        training._stream_state = rng.getstate()
        return training

    @property
    def done(self) -> bool:
        return self.step >= self.num_steps

    def run(self, steps: int | None = None) -> Iterator[tuple[int, float]]:
        """Train to the end (or ``steps`` more steps); yield ``(step, loss)`` after each, counting steps from 1.

        Each step is all or nothing: an exception in its middle (a KeyboardInterrupt in a notebook
        included) puts the parameters, the optimizer, the schedule, ``step`` and ``history`` back
        as they were before it, so the run can be saved, resumed or continued from there.
        """
        end = self.num_steps if steps is None else min(self.num_steps, self.step + steps)
        if self.engine == "compiled" and self._compiled is None:
            from micrograd.gpt_compiled import CompiledTraining

            self._compiled = CompiledTraining(self)
        while self.step < end:
            value = self._step(self.docs[self.step % len(self.docs)])
            yield self.step, value

    def _step(self, doc: str) -> float:
        """One training step on ``doc``, all or nothing; returns its loss."""
        before = self._state()
        try:
            with _collector_paused():
                if self._compiled is not None:
                    value: float = self._compiled.step(self.model.tokenizer.document(doc))
                    self.scheduler.step()
                else:
                    loss = self.model.document_loss(doc)
                    loss.backward()
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad()
                    value = loss.data
                    del loss  # the graph is freed here, by reference counting
            self.step += 1
            self.history.append({"step": self.step, "loss": value})
        except BaseException:
            while True:
                try:
                    self._put_back(before)
                    break
                except KeyboardInterrupt:  # a second Ctrl-C while putting back: finish that first
                    continue
            raise
        return value

    def _state(self) -> tuple[Any, ...]:
        """What a step changes, copied: the compiled engine's arrays, or the parameters and Adam's buffers."""
        optimizer, compiled = self.optimizer, self._compiled
        if compiled is not None:  # its step replaces its arrays and copies the parameters into the Values
            buffers: tuple[Any, ...] = (compiled.parameters.copy(), compiled.exp_avg.copy(), compiled.exp_avg_sq.copy())
        else:
            buffers = ([p.data for p in optimizer.params], list(optimizer.exp_avg), list(optimizer.exp_avg_sq))
        return self.step, len(self.history), optimizer.step_count, self.scheduler.last_epoch, buffers

    def _put_back(self, state: tuple[Any, ...]) -> None:
        step, length, step_count, epoch, buffers = state
        optimizer, compiled = self.optimizer, self._compiled
        if compiled is not None:
            compiled.parameters, compiled.exp_avg, compiled.exp_avg_sq = (array.copy() for array in buffers)
            data = buffers[0].tolist()
        else:
            data, exp_avg, exp_avg_sq = buffers
            optimizer.exp_avg[:] = exp_avg
            optimizer.exp_avg_sq[:] = exp_avg_sq
        for p, number in zip(optimizer.params, data, strict=True):
            p.data = number
            p.grad = 0.0
        optimizer.step_count = step_count
        self.scheduler.last_epoch = epoch
        self.scheduler._apply()  # the learning rate of that step
        self.step = step
        del self.history[length:]

    @property
    def losses(self) -> list[float]:
        return [entry["loss"] for entry in self.history]

    def save(self, path: PathLike, extra: Mapping[str, Any] | None = None) -> None:
        """A checkpoint of the run (model, optimizer, schedule, step, history): ``Training.resume`` continues it."""
        info: dict[str, Any] = {"steps": self.num_steps, "lr": self.scheduler.base_lr, "num_docs": len(self.docs)}
        if self.seed is not None:
            info["seed"] = self.seed
        info["docs_sha256"] = _documents_digest(self.docs)
        if self._stream_state is not None:
            info["stream"] = _stream_to_json(self._stream_state)
        if self._compiled is not None:
            self._compiled.sync()  # Adam's buffers, kept as arrays between steps
        save(
            self.model,
            path,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            step=self.step,
            extra={**(extra or {}), "training": info, "history": self.history},
        )

    @classmethod
    def resume(cls, path: PathLike, docs: Iterable[str], *, engine: str = "eager") -> Training:
        """Continue the run saved at ``path`` on the same documents (given unshuffled, as to ``start``)."""
        checkpoint = load_checkpoint(path)
        name = os.fspath(path)
        info = checkpoint["extra"].get("training")
        if not isinstance(info, dict) or "seed" not in info:
            raise CheckpointError(f"checkpoint {name!r}: it holds no training run to resume (no extra.training)")
        seed, steps, lr = info["seed"], info["steps"], info["lr"]
        config: GPTConfig = checkpoint["config"]
        training = cls.start(
            docs, steps, seed=seed, lr=lr, n_embd=config.n_embd, n_head=config.n_head, n_layer=config.n_layer,
            block_size=config.block_size, engine=engine,
        )
        if len(training.docs) != info.get("num_docs"):
            raise CheckpointError(f"checkpoint {name!r} was trained on other documents than these "
                                  f"({_short(info.get('num_docs'))} documents, not {len(training.docs):,})")
        if _documents_digest(training.docs) != info.get("docs_sha256"):
            raise CheckpointError(f"checkpoint {name!r} was trained on other documents than these")
        if training.model.chars != checkpoint["chars"] or training.model.config != config:
            raise CheckpointError(f"checkpoint {name!r}: its vocabulary or sizes do not match these documents")
        try:
            training.model.load_state_dict(checkpoint["parameters"])
            training.optimizer.load_state_dict(checkpoint["optimizer"])
            training.scheduler.load_state_dict(checkpoint["scheduler"])
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint {name!r}: {error}") from None
        step = checkpoint["step"]
        if training.optimizer.step_count != step or training.scheduler.last_epoch != step:
            raise CheckpointError(f"checkpoint {name!r}: the optimizer and schedule are not at step {step}")
        training.step = checkpoint["step"]
        training.history = list(checkpoint["history"])
        return training


def train(
    docs: Iterable[str],
    steps: int = 1000,
    *,
    seed: int = 42,
    lr: float = LEARNING_RATE,
    n_embd: int = 16,
    n_head: int = 4,
    n_layer: int = 1,
    block_size: int = 16,
    engine: str = "eager",
) -> Training:
    """Train a GPT on ``docs`` as microgpt.py does; the finished run has the model and every step's loss."""
    training = Training.start(
        docs, steps, seed=seed, lr=lr, n_embd=n_embd, n_head=n_head, n_layer=n_layer, block_size=block_size,
        engine=engine,
    )
    for _ in training.run():
        pass
    return training


def _documents_digest(docs: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(docs).encode("utf-8")).hexdigest()


def _sampling_rng(seed: int, num_docs: int, num_parameters: int) -> random.Random:
    """The stream ``Training.start`` leaves behind: seeded, one shuffle of num_docs, one gauss per weight.

    How much a shuffle draws depends only on the length of the list, not on what is in it.
    """
    rng = random.Random(seed)
    rng.shuffle(list(range(num_docs)))
    for _ in range(num_parameters):
        rng.gauss(0.0, 1.0)
    return rng


# A checkpoint that does not store its random stream (one saved before it did, or by a Training not
# made by start()) has it replayed from extra.training: a shuffle of num_docs, about 0.7 s for this many.
MAX_REPLAYED_DOCUMENTS = 2**20
_STREAM_WORDS = 624  # the Mersenne Twister's state: 624 words of 32 bits, and a position


def _stream_to_json(state: tuple[Any, ...]) -> dict[str, Any]:
    """``random.Random.getstate()`` as JSON: the 624 words in hex, the position, and gauss's cached draw."""
    version, internal, gauss_next = state
    return {"key": "".join(f"{word:08x}" for word in internal[:-1]), "pos": internal[-1], "gauss_next": gauss_next}


def _training_stream(info: object, num_parameters: int, fail: Callable[[str], Exception]) -> random.Random:
    """Check a checkpoint's ``extra.training``; the random stream its run left behind, stored or replayed (bounded)."""
    if not isinstance(info, dict):
        raise fail("'extra.training' must be an object")
    for key in ("seed", "steps", "num_docs"):
        if isinstance(info.get(key), bool) or not isinstance(info.get(key), int):
            raise fail(f"'extra.training.{key}' must be an int, got {_short(info.get(key))}")
    if info["steps"] < 1 or info["num_docs"] < 1:
        raise fail("'extra.training' steps and num_docs must be at least 1")
    if isinstance(info.get("lr"), bool) or not isinstance(info.get("lr"), (int, float)):
        raise fail(f"'extra.training.lr' must be a number, got {_short(info.get('lr'))}")
    stream = info.get("stream")
    if stream is None:
        if info["num_docs"] > MAX_REPLAYED_DOCUMENTS:
            raise fail(f"'extra.training.num_docs' is {_short(info['num_docs'])}; without a stored 'stream' at most "
                       f"{MAX_REPLAYED_DOCUMENTS:,} documents are replayed to find the run's random stream")
        return _sampling_rng(info["seed"], info["num_docs"], num_parameters)
    problem = ("'extra.training.stream' must be {\"key\": 4992 hex digits, \"pos\": 0..624, "
               "\"gauss_next\": number or null}")
    if not isinstance(stream, dict) or set(stream) != {"key", "pos", "gauss_next"}:
        raise fail(problem)
    key, pos, gauss_next = stream["key"], stream["pos"], stream["gauss_next"]
    if not isinstance(key, str) or len(key) != 8 * _STREAM_WORDS or not set(key) <= set("0123456789abcdef"):
        raise fail(problem)
    if isinstance(pos, bool) or not isinstance(pos, int) or not 0 <= pos <= _STREAM_WORDS:
        raise fail(problem)
    if gauss_next is not None and (isinstance(gauss_next, bool) or not isinstance(gauss_next, (int, float))
                                   or not math.isfinite(gauss_next)):
        raise fail(problem)
    words = tuple(int(key[i : i + 8], 16) for i in range(0, len(key), 8))
    rng = random.Random()
    rng.setstate((3, (*words, pos), None if gauss_next is None else float(gauss_next)))
    return rng


# ----------------------------------------------------------------------
# Checkpoints: JSON, written atomically
# ----------------------------------------------------------------------


class CheckpointError(ValueError):
    """A GPT checkpoint that cannot be used: truncated, not JSON, or not in the expected shape."""


def save(
    model: GPT,
    path: PathLike,
    *,
    optimizer: Mapping[str, Any] | None = None,
    scheduler: Mapping[str, Any] | None = None,
    step: int = 0,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write the model (and, for a run, optimizer and schedule state, step and extra) to ``path`` as JSON.

    The format is that of ``micrograd.app.checkpoint`` with ``"kind": "gpt"``, the sizes under
    ``model`` and the vocabulary under ``vocabulary``; ``extra.history`` holds the losses.
    """
    if not isinstance(model, GPT):
        raise TypeError(f"save: model must be a micrograd.gpt.GPT, got {type(model).__name__}")
    parameters = finite_parameters(model.state_dict())
    checkpoint = {
        "format": FORMAT,
        "version": VERSION,
        "kind": KIND,
        "model": {"type": "GPT", **model.config.as_dict()},
        "vocabulary": model.chars,
        "parameters": parameters,
        "optimizer": None if optimizer is None else dict(optimizer),
        "scheduler": None if scheduler is None else dict(scheduler),
        "step": step,
        "extra": {} if extra is None else dict(extra),
    }
    try:
        text = json.dumps(checkpoint, allow_nan=False, ensure_ascii=False, indent=1)
    except ValueError:
        raise ValueError("save: the optimizer, scheduler or extra holds nan or inf, which JSON cannot store") from None
    atomic_write(path, text + "\n")


def load(path: PathLike) -> GPT:
    """The GPT saved at ``path``. If the file is from a training run, ``model.rng`` continues its random stream."""
    checkpoint = load_checkpoint(path)
    return cast(GPT, checkpoint["model_object"])


def load_checkpoint(path: PathLike) -> dict[str, Any]:
    """Read and check a GPT checkpoint: its entries, plus ``config`` (a GPTConfig), ``chars``, ``history``
    and ``model_object`` (the GPT)."""
    name = os.fspath(path)

    def fail(problem: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {name!r}: {problem}")

    data = read_checkpoint_json(name, fail)
    if data.get("kind") != KIND:
        raise fail(f"'kind' is {data.get('kind')!r}, expected {KIND!r}; this is not a GPT checkpoint")
    if data.get("version") != VERSION:
        raise fail(f"'version' is {data.get('version')!r}; this micrograd reads version {VERSION}")
    for key in ("model", "vocabulary", "parameters", "step"):
        if key not in data:
            raise fail(f"missing key {key!r}")
    spec = data["model"]
    if not isinstance(spec, dict) or spec.get("type") != "GPT":
        raise fail("'model' must be an object with \"type\": \"GPT\"")
    sizes = {key: spec.get(key) for key in ("vocab_size", "n_embd", "n_head", "n_layer", "block_size")}
    try:
        config = GPTConfig(**sizes)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise fail(f"bad 'model': {error}") from None
    chars = data["vocabulary"]
    if not isinstance(chars, list):
        raise fail(f"'vocabulary' must be a list of characters, got {type(chars).__name__}")
    parameters = checked_parameters(data["parameters"], fail)
    if len(parameters) != config.num_parameters:
        # Checked before building: sizes edited to 10**9 must not allocate the model they promise.
        raise fail(f"the model's sizes make {config.num_parameters:,} parameters, the file has {len(parameters):,}")
    try:
        model = _unseeded_model(config, chars)
    except (TypeError, ValueError) as error:
        raise fail(f"bad 'vocabulary': {error}") from None
    try:
        model.load_state_dict(parameters)
    except (KeyError, TypeError, ValueError) as error:
        raise fail(f"the parameters do not fit the model: {error}") from None
    step = data["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise fail(f"'step' must be an int >= 0, got {step!r}")
    for key in ("optimizer", "scheduler"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise fail(f"{key!r} must be an object or null, got {type(data[key]).__name__}")
    extra = data.get("extra") or {}
    if not isinstance(extra, dict):
        raise fail(f"'extra' must be an object, got {type(extra).__name__}")
    history = extra.get("history", [])
    if not isinstance(history, list):
        raise fail("'extra.history' must be a list")
    for i, entry in enumerate(history):
        if (
            not isinstance(entry, dict)
            or set(entry) != {"step", "loss"}
            or isinstance(entry["step"], bool)
            or not isinstance(entry["step"], int)
            or isinstance(entry["loss"], bool)
            or not isinstance(entry["loss"], (int, float))
        ):
            raise fail(f"'extra.history[{i}]' must be {{\"step\": int, \"loss\": number}}, got {_short(entry)}")
    try:  # the boundary for numbers leaving the program: the losses are drawn and printed
        finite_outputs("'extra.history' losses", [entry["loss"] for entry in history])
    except NonFiniteOutput as error:
        raise fail(str(error)) from None
    info = extra.get("training")
    if info is not None:
        model.rng = _training_stream(info, config.num_parameters, fail)
    return {
        **data,
        "extra": extra,
        "config": config,
        "chars": model.chars,
        "history": history,
        "model_object": model,
    }


def _short(value: object) -> str:
    """A value for a message: a huge int's repr is thousands of digits (or refused beyond 4300)."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an int of {value.bit_length()} bits"
    try:
        shown = repr(value)
    except ValueError:  # an int with too many digits inside a list or dict
        return f"a {type(value).__name__} holding a huge int"
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _unseeded_model(config: GPTConfig, chars: Sequence[str]) -> GPT:
    """A GPT whose weights are about to be overwritten: drawn from a throwaway stream, not from ``random``."""
    model = GPT(config, chars, rng=random.Random(0))
    model.rng = None
    return model


