"""Training the GPT as microgpt.py does: the documents in order, Adam with a linear decay, every step's loss."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from micrograd._gradmode import collector_paused as _collector_paused
from micrograd.gpt.checkpoint import CheckpointError, _short, _stream_to_json, load_checkpoint, save
from micrograd.gpt.model import GPT, GPTConfig
from micrograd.gpt.tokenizer import PathLike, Tokenizer
from micrograd.optim import LinearLR, PaperAdam

__all__ = ["BETAS", "ENGINES", "EPS", "LEARNING_RATE", "Training", "train"]

# microgpt.py's settings.
BETAS = (0.85, 0.99)
EPS = 1e-8
LEARNING_RATE = 0.01
ENGINES = ("eager", "compiled")


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
