"""Training the GPT as microgpt.py does: the documents in order, Adam with a linear decay, every step's loss."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from micrograd._engine_names import GPT_OLD_SPELLINGS, canonical_engine
from micrograd._files import short_repr
from micrograd._gradmode import collector_paused as _collector_paused
from micrograd.gpt.checkpoint import CheckpointError, _stream_to_json, load_checkpoint, save
from micrograd.gpt.model import GPT, GPTConfig
from micrograd.gpt.tokenizer import PathLike, Tokenizer
from micrograd.optim import LinearLR, PaperAdam

__all__ = ["BETAS", "ENGINES", "EPS", "LEARNING_RATE", "SCALAR_MAX_PARAMETERS", "Training", "scalar_engine", "train"]

# microgpt.py's settings.
BETAS = (0.85, 0.99)
EPS = 1e-8
LEARNING_RATE = 0.01
ENGINES = ("eager", "numpy", "torch")
# The largest model the scalar engines take. Measured (2 shared cores, 2026-12-07), one step on a name:
# 204,160 parameters (n_embd 64, n_layer 4, block 64) take 0.30 s eager and 0.12 s numpy after 7.9 s of
# recording, so 1,000 steps take 2 to 5 minutes; 801,536 (n_embd 128) take 1.1 s eager (18 minutes for
# 1,000 steps) and 0.58 s numpy after 29 s of recording, where the torch engine takes 0.06 s.
SCALAR_MAX_PARAMETERS = 250_000


def scalar_engine(engine: str) -> str:
    """``auto`` as the GPT means it: numpy when numpy is installed, else eager; never torch without asking."""
    if engine != "auto":
        return engine
    try:
        import numpy  # noqa: F401
    except ImportError:
        return "eager"
    return "numpy"


class Training:
    """A training run: the model, the documents in order, Adam with a linear decay, and every step's loss.

    ``Training.start(docs, steps=1000, seed=42)`` sets it up exactly as microgpt.py does;
    ``run()`` takes the steps one by one and yields ``(step, loss)``; ``save(path)`` writes a
    checkpoint from which ``Training.resume`` continues exactly where it stopped.

    ``engine`` is how a step is computed: ``"eager"`` builds the graph of Values every step;
    ``"numpy"`` (needs numpy) records the graph once per document length and replays it
    with numpy arrays (``micrograd.compiler.gpt``): the same losses for the same parameters, and
    gradients equal to rounding; ``"torch"`` (needs PyTorch) runs the same model in PyTorch
    (``micrograd.gpt.torch_engine``) on ``device`` in ``dtype``, ``batch_size`` documents per step,
    and under torchrun on several processes. ``"auto"`` is numpy when numpy is installed, else
    eager; the old name ``"compiled"`` for numpy still works, with a FutureWarning.
    The scalar engines take one document per step and at most ``SCALAR_MAX_PARAMETERS`` parameters.
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
        batch_size: int = 1,
        device: str = "cpu",
        dtype: str = "float64",
    ) -> None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"Training: steps must be an int >= 1, got {steps!r}")
        engine = scalar_engine(canonical_engine(engine, (*ENGINES, "auto"), "Training: engine", old=GPT_OLD_SPELLINGS))
        _check_engine_settings(engine, model.config, batch_size, device, dtype)
        if not docs:
            raise ValueError("Training: docs is empty")
        self._model = model
        self.docs = list(docs)
        # Every character must be in the vocabulary. One set of all the text is checked (encoding the
        # 32,033 names one by one cost 30 ms of every run); only when it fails is the first unknown
        # character looked for, so that the message names it as encode() does.
        if not set().union(*self.docs) <= set(model.chars):
            for doc in self.docs:
                model.tokenizer.encode(doc)
        self.num_steps = steps
        self.seed = seed
        self.optimizer = PaperAdam(model.parameters(), lr=lr, betas=BETAS, eps=EPS)
        self.scheduler = LinearLR(self.optimizer, start_factor=1.0, end_factor=0.0, total_iters=steps)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.engine = engine
        self.batch_size = batch_size
        self.device, self.dtype = device, dtype
        self._compiled: Any = None  # the numpy engine's state, made on the first step
        self._torch: Any = None  # the torch engine's (micrograd.gpt.torch_engine.TorchTraining), likewise
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
        batch_size: int = 1,
        device: str = "cpu",
        dtype: str = "float64",
    ) -> Training:
        """Seed ``random.Random(seed)``, shuffle the documents, build the vocabulary, draw the weights."""
        # The sizes and the engine's settings are checked before anything else (vocab_size 2 stands in for
        # the one still unknown); the model's size for a scalar engine is checked once the vocabulary is known.
        engine = scalar_engine(canonical_engine(engine, (*ENGINES, "auto"), "Training: engine", old=GPT_OLD_SPELLINGS))
        GPTConfig(vocab_size=2, n_embd=n_embd, n_head=n_head, n_layer=n_layer, block_size=block_size)
        _check_engine_settings(engine, None, batch_size, device, dtype)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"Training: steps must be an int >= 1, got {steps!r}")
        shuffled = list(docs)
        if not shuffled:
            raise ValueError("Training: docs is empty")
        rng = random.Random(seed)
        rng.shuffle(shuffled)
        tokenizer = Tokenizer.from_documents(shuffled)
        config = GPTConfig(tokenizer.vocab_size, n_embd, n_head, n_layer, block_size)
        _check_scalar_size(engine, config)  # before drawing a model too big for Values
        model = GPT(config, tokenizer.chars, rng=rng)
        training = cls(model, shuffled, steps, lr=lr, seed=seed, engine=engine, batch_size=batch_size, device=device,
                       dtype=dtype)
        training._stream_state = rng.getstate()
        return training

    @property
    def model(self) -> GPT:
        """The model, as Values: on the numpy engine, its parameters are copied in from the arrays when read.

        Copying the 4,192 parameters after every step cost a tenth of a short run's time; now a step
        leaves the Values behind, and reading ``model`` (a snapshot, a save, sampling) brings them up.
        """
        if self._compiled is not None:
            self._compiled.sync_parameters()
        return self._model

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
        if self.engine == "numpy" and self._compiled is None:
            from micrograd.compiler.gpt import CompiledTraining

            self._compiled = CompiledTraining(self)
        if self.engine == "torch" and self._torch is None:
            self._torch = self.torch_engine()
        while self.step < end:
            value = self._step(self.docs[self.step % len(self.docs)])
            yield self.step, value
        if self._torch is not None:  # the Values model follows the torch module at the end of a run
            self._torch.sync()
        if self._compiled is not None:
            self._compiled.sync_parameters()

    def torch_engine(self) -> Any:
        """The torch engine of this run (made on first use): its module, ``generate`` and ``attention_weights``."""
        if self.engine != "torch":
            raise ValueError(f"Training: this run's engine is {self.engine!r}, not 'torch'")
        if self._torch is None:
            from micrograd.gpt.torch_engine import TorchTraining

            self._torch = TorchTraining(self, device=self.device, dtype=self.dtype, batch_size=self.batch_size)
        return self._torch

    def sync(self) -> None:
        """Bring the Values model and the optimizer up to date with the engine's arrays or tensors."""
        for engine in (self._compiled, self._torch):
            if engine is not None:
                engine.sync()

    def _step(self, doc: str) -> float:
        """One training step on ``doc``, all or nothing; returns its loss."""
        before = self._state()
        try:
            with _collector_paused():
                if self._torch is not None:
                    value: float = self._torch.step()
                    self.scheduler.step()
                elif self._compiled is not None:
                    value = self._compiled.step(self._model.tokenizer.document(doc))
                    self.scheduler.step()
                else:
                    loss = self._model.document_loss(doc)
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
        if self._torch is not None:  # the Values are left alone until sync()
            buffers: tuple[Any, ...] = self._torch.state()
        elif compiled is not None:  # its step replaces its arrays; the Values follow when read
            buffers = (compiled.parameters.copy(), compiled.exp_avg.copy(), compiled.exp_avg_sq.copy())
        else:
            buffers = ([p.data for p in optimizer.params], list(optimizer.exp_avg), list(optimizer.exp_avg_sq))
        return self.step, len(self.history), optimizer.step_count, self.scheduler.last_epoch, buffers

    def _put_back(self, state: tuple[Any, ...]) -> None:
        step, length, step_count, epoch, buffers = state
        optimizer, compiled = self.optimizer, self._compiled
        if self._torch is not None:
            self._torch.put_back(buffers)
            self._restore_counts(step, length, step_count, epoch)
            return
        if compiled is not None:
            compiled.parameters, compiled.exp_avg, compiled.exp_avg_sq = (array.copy() for array in buffers)
            compiled.stale = False  # the Values are set from the same numbers below
            data = buffers[0].tolist()
        else:
            data, exp_avg, exp_avg_sq = buffers
            optimizer.exp_avg[:] = exp_avg
            optimizer.exp_avg_sq[:] = exp_avg_sq
        for p, number in zip(optimizer.params, data, strict=True):
            p.data = number
            p.grad = 0.0
        self._restore_counts(step, length, step_count, epoch)

    def _restore_counts(self, step: int, length: int, step_count: int, epoch: int) -> None:
        self.optimizer.step_count = step_count
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
        if self.batch_size != 1:  # written only when it is not microgpt's one document per step
            info["batch_size"] = self.batch_size
        if self._stream_state is not None:
            info["stream"] = _stream_to_json(self._stream_state)
        self.sync()  # the engine's arrays or tensors: parameters and Adam's buffers
        save(
            self.model,
            path,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            step=self.step,
            extra={**(extra or {}), "training": info, "history": self.history},
        )

    @classmethod
    def resume(cls, path: PathLike, docs: Iterable[str], *, engine: str = "eager", device: str = "cpu",
               dtype: str = "float64") -> Training:
        """Continue the run saved at ``path`` on the same documents (given unshuffled, as to ``start``).

        Any engine continues a run saved by any other (the checkpoint holds the parameters and Adam's
        buffers as numbers); the batch size is the checkpoint's, so a run of several documents per
        step continues on the torch engine.
        """
        checkpoint = load_checkpoint(path)
        name = os.fspath(path)
        info = checkpoint["extra"].get("training")
        if not isinstance(info, dict) or "seed" not in info:
            raise CheckpointError(f"checkpoint {name!r}: it holds no training run to resume (no extra.training)")
        seed, steps, lr = info["seed"], info["steps"], info["lr"]
        batch_size = info.get("batch_size", 1)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise CheckpointError(f"checkpoint {name!r}: 'extra.training.batch_size' must be an int >= 1, "
                                  f"got {short_repr(batch_size)}")
        config: GPTConfig = checkpoint["config"]
        training = cls.start(
            docs, steps, seed=seed, lr=lr, n_embd=config.n_embd, n_head=config.n_head, n_layer=config.n_layer,
            block_size=config.block_size, engine=engine, batch_size=batch_size, device=device, dtype=dtype,
        )
        if len(training.docs) != info.get("num_docs"):
            raise CheckpointError(f"checkpoint {name!r} was trained on other documents than these "
                                  f"({short_repr(info.get('num_docs'))} documents, not {len(training.docs):,})")
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
    batch_size: int = 1,
    device: str = "cpu",
    dtype: str = "float64",
) -> Training:
    """Train a GPT on ``docs`` as microgpt.py does; the finished run has the model and every step's loss."""
    training = Training.start(
        docs, steps, seed=seed, lr=lr, n_embd=n_embd, n_head=n_head, n_layer=n_layer, block_size=block_size,
        engine=engine, batch_size=batch_size, device=device, dtype=dtype,
    )
    for _ in training.run():
        pass
    return training


def _check_engine_settings(engine: str, config: GPTConfig | None, batch_size: int, device: str, dtype: str) -> None:
    """What only the torch engine does (batches, devices, dtypes, big models) is refused on the scalar ones."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Training: batch_size must be an int >= 1, got {batch_size!r}")
    if engine == "torch":
        from micrograd.gpt.torch_engine import check_device, ranks_from_env

        check_device(device, dtype, ranks_from_env().local_rank)
        return
    for name, value, default in (("batch_size", batch_size, 1), ("device", device, "cpu"), ("dtype", dtype, "float64")):
        if value != default:
            raise ValueError(f"Training: {name} {value!r} needs engine 'torch'; the {engine} engine takes "
                             "one document per step in float64 on the CPU")
    if config is not None:
        _check_scalar_size(engine, config)


def _check_scalar_size(engine: str, config: GPTConfig) -> None:
    """A scalar engine holds every parameter as a Value: beyond SCALAR_MAX_PARAMETERS it would take minutes a step."""
    if engine != "torch" and config.num_parameters > SCALAR_MAX_PARAMETERS:
        raise ValueError(f"Training: {config.num_parameters:,} parameters are too many for the {engine} engine "
                         f"(at most {SCALAR_MAX_PARAMETERS:,}); use engine 'torch'")


def _documents_digest(docs: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(docs).encode("utf-8")).hexdigest()
