"""Training runs for the command line: the explicit loop, plus what a run needs around it.

The loop itself is the one the docs teach -- forward, ``zero_grad``,
``backward``, ``step`` -- in ``train_step``. Around it: a config that names
everything a run depends on, checkpoints that let ``--resume`` continue to
exactly the parameters an uninterrupted run would reach, and a history for
the pictures.

The history has one record per step. ``Run.history`` holds this session's records
(after, in a resumed run, the saved summary of the steps before it); on disk they
are kept in two places, so that a save costs the same at step 100 and at step
100,000 and the checkpoint never outgrows what it can read back:

* the checkpoint's ``extra.history`` is a summary of at most SUMMARY_CAP + 2
  records -- every stride-th step (the stride doubles as the run grows), the step
  with the lowest loss, and the last step -- read by ``--resume`` and by older
  micrograd versions, which see it as a shorter history;
* every record is in the log beside it, ``checkpoint.history.jsonl`` (JSON Lines
  after a header line), to which each save appends the steps since the last one.
  ``read_history(checkpoint_path)`` reads them all back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import json
import math
import os
import random
import signal
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from micrograd import losses, optim
from micrograd._engine_names import canonical_engine
from micrograd._files import short_repr
from micrograd.app import checkpoint, data
from micrograd.compiler import CompiledLoss, compile_loss
from micrograd.engine import Value
from micrograd.nn import ACTIVATIONS, MAX_LAYER_SIZE, MLP, outputs_on_floats
from micrograd.outputs import finite_outputs

__all__ = [
    "TrainConfig", "Run", "DATASETS", "LOSSES", "OPTIMIZERS", "SCHEDULES", "ENGINES",
    "start_run", "resume_run", "resolve_engine", "TrainingDiverged", "checked_history", "read_history",
    "HISTORY_LOG_NAME", "SUMMARY_CAP",
]

DATASETS = ("moons", "circles", "blobs", "spiral", "yinyang")
LOSSES = ("hinge", "bce", "mse", "ce")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("linear", "cosine", "constant")
# The words of micrograd._engine_names. eager: build Values every step (the engine a learner reads).
# compiled: the graph recorded once, run as micrograd.compiler's generated Python. numpy: the recorded
# graph replayed over the whole batch with numpy arrays (the `fast` extra). The old word "batched"
# still works for numpy, with a one-line notice.
ENGINES = ("eager", "compiled", "numpy")
# One example's loss, for the engines that record the graph once (compiled, numpy): the same ops as
# data_loss on a batch of one.
# The target t is the class index (0 or 1) as a Value, so that the recorded graph reads it.
# They replay one recorded graph, so the loss must not branch on the data:
# cross-entropy does (its target picks which logit to read, its max-shift which one to subtract),
# so it is not here.
_PER_EXAMPLE_LOSSES: dict[str, Callable[[MLP], Callable[[list[Value], Value], Value]]] = {
    "hinge": lambda model: lambda x, t: (1 + -(2 * t - 1) * model(x)).relu(),  # type: ignore[operator]
    "bce": lambda model: lambda x, t: losses.binary_cross_entropy_with_logits([model(x)], [t]),  # type: ignore[list-item]
    "mse": lambda model: lambda x, t: (model(x) - (2 * t - 1.0)) ** 2,  # type: ignore[operator]  # labels -1/+1
}
COMPILABLE_LOSSES = tuple(_PER_EXAMPLE_LOSSES)
CHECKPOINT_NAME = "checkpoint.json"
HISTORY_LOG_NAME = "checkpoint.history.jsonl"  # every step's record, beside the checkpoint
# The checkpoint's summary of the history keeps at most this many stride-th records (plus the best and
# the last): a loss curve's worth of points, a few kB, whatever the length of the run.
SUMMARY_CAP = 128


@dataclass
class TrainConfig:
    """Everything a run depends on. Stored in the checkpoint, so a resumed run is the same run."""

    dataset: str = "moons"  # one of DATASETS, or "csv:PATH"
    n_samples: int = 100
    noise: float = 0.1
    hidden: list[int] = field(default_factory=lambda: [16, 16])
    activation: str = "relu"
    loss: str = "auto"  # hinge for two classes, ce for more
    optimizer: str = "sgd"
    lr: float = 1.0
    schedule: str = "linear"  # linear decay to 0.1 x lr over the run, as the original demo
    l2: float = 1e-4  # the original demo's alpha * sum(p*p)
    steps: int = 100
    batch_size: int = 0  # 0: the full training set every step
    val_fraction: float = 0.0
    seed: int = 1337

    @classmethod
    def from_checkpoint(cls, saved: dict[str, Any], path: Path) -> TrainConfig:
        """The config a checkpoint stores, every setting checked: a hand-edited file gets a clear error."""
        extra = saved.get("extra") or {}
        if not isinstance(extra, dict) or not isinstance(extra.get("config"), dict):
            raise ValueError(
                f"{path}: checkpoint has no training config (was it written by `micrograd train` or `demo`?)"
            )
        problem = _config_problem(extra["config"])
        if problem is None:
            config = cls(**{key: _as_setting(value) for key, value in extra["config"].items()})
            try:
                config.check()
            except ValueError as error:
                problem = str(error)
        if problem is not None:
            raise ValueError(f"{path}: checkpoint has a bad training config: {problem}")
        return config

    def check(self) -> None:
        """Raise ValueError naming the first setting that is out of range."""
        dataset = self.dataset
        if dataset not in DATASETS and not dataset.startswith("csv:"):
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)} or csv:PATH")
        if self.loss not in LOSSES + ("auto",):
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be at least 1, got {','.join(map(str, self.hidden))}")
        if any(h > MAX_LAYER_SIZE for h in self.hidden):
            raise ValueError(f"hidden sizes must be at most {MAX_LAYER_SIZE:,}, got {','.join(map(str, self.hidden))}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"noise must be >= 0, got {self.noise}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.n_samples < 2:
            raise ValueError(f"n_samples must be at least 2, got {self.n_samples}")
        if self.batch_size < 0:
            raise ValueError(f"batch size must be >= 0 (0 = full batch), got {self.batch_size}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val fraction must be in [0, 1), got {self.val_fraction}")


def _config_problem(stored: dict[str, Any]) -> str | None:
    """What is wrong with a stored config's names and types, or None."""
    defaults = TrainConfig()
    for name, value in stored.items():
        if name not in {f.name for f in dataclasses.fields(TrainConfig)}:
            return f"unknown setting {name!r}"
        default = getattr(defaults, name)
        if isinstance(default, list):
            ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            kind = "a list of whole numbers"
        elif isinstance(default, str):
            ok, kind = isinstance(value, str), "a string"
        elif isinstance(default, int):
            ok, kind = isinstance(value, int) and not isinstance(value, bool), "a whole number"
        else:
            ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        if not ok:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            return f"{name} must be {kind}, got {shown}"
    return None


def _as_setting(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


@dataclass
class Dataset:
    X_train: list[list[float]]
    y_train: list[int]
    X_val: list[list[float]]
    y_val: list[int]
    n_classes: int


def load_dataset(config: TrainConfig) -> Dataset:
    """The run's data, generated from its seed (or read from its CSV), split into train and validation."""
    name = config.dataset
    if name.startswith("csv:"):
        X, y = data.load_csv(name[4:])
    else:
        options: dict[str, Any] = {"n_samples": config.n_samples, "seed": config.seed}
        if name in ("moons", "circles", "spiral"):
            options["noise"] = config.noise
        X, y = getattr(data, f"make_{name}")(**options)
    if config.val_fraction > 0:
        X_train, X_val, y_train, y_val = data.train_test_split(
            X, y, test_fraction=config.val_fraction, seed=config.seed
        )
    else:
        X_train, y_train, X_val, y_val = X, y, [], []
    n_classes = max(y) + 1
    if n_classes < 2:
        raise ValueError(f"dataset {name!r} has only one class")
    return Dataset(X_train, y_train, X_val, y_val, n_classes)


def resolved_loss(config: TrainConfig, n_classes: int) -> str:
    """The loss to use: 'auto' picks hinge for two classes and cross-entropy for more."""
    loss = config.loss
    if loss == "auto":
        loss = "hinge" if n_classes == 2 else "ce"
    if loss != "ce" and n_classes != 2:
        raise ValueError(f"loss {loss!r} needs two classes but the data has {n_classes}; use --loss ce")
    return loss


def build_model(config: TrainConfig, nin: int, n_classes: int) -> MLP:
    """An MLP whose weights come from the run's seed (Python's global random, as the original)."""
    random.seed(config.seed)
    outputs = n_classes if resolved_loss(config, n_classes) == "ce" else 1
    return MLP(nin, list(config.hidden) + [outputs], activation=config.activation)


def build_optimizer(config: TrainConfig, model: MLP) -> tuple[optim.Optimizer, optim.LRScheduler | None]:
    params = model.parameters()
    optimizer: optim.Optimizer
    if config.optimizer == "sgd":
        optimizer = optim.SGD(params, lr=config.lr)
    elif config.optimizer == "adam":
        optimizer = optim.Adam(params, lr=config.lr)
    else:
        optimizer = optim.AdamW(params, lr=config.lr)
    scheduler: optim.LRScheduler | None = None
    if config.schedule == "linear":
        scheduler = optim.LinearLR(optimizer, start_factor=1.0, end_factor=0.1, total_iters=config.steps)
    elif config.schedule == "cosine":
        scheduler = optim.CosineAnnealingLR(optimizer, T_max=config.steps)
    return optimizer, scheduler


def data_loss(loss: str, outputs: Sequence[Value | list[Value]], y: Sequence[int]) -> Value:
    """The mean loss of a batch; labels are class indices, converted to what each loss expects."""
    if loss == "ce":
        return losses.cross_entropy([o if isinstance(o, list) else [o] for o in outputs], list(y))
    scores = [o if isinstance(o, Value) else o[0] for o in outputs]
    if loss == "hinge":
        return losses.hinge_loss(scores, [2 * label - 1 for label in y])
    if loss == "bce":
        return losses.binary_cross_entropy_with_logits(scores, list(y))
    return losses.mse_loss(scores, [2.0 * label - 1.0 for label in y])


def accuracy(model: MLP, X: Sequence[Sequence[float]], y: Sequence[int]) -> float:
    """Fraction of points whose predicted class is the label (score > 0 means class 1)."""
    if not X:
        return float("nan")
    # No gradients needed: the MLP on plain floats (the same numbers as model(x), about 3x faster).
    outputs = outputs_on_floats(model, X)
    hits = sum(_predicted_class(scores) == label for scores, label in zip(outputs, y, strict=True))
    return hits / len(X)


def _predicted_class(scores: list[float]) -> int:
    if len(scores) == 1:
        return 1 if scores[0] > 0 else 0
    return max(range(len(scores)), key=scores.__getitem__)


def _predicted(output: Value | list[Value]) -> int:
    if isinstance(output, Value):
        return 1 if output.data > 0 else 0
    return max(range(len(output)), key=lambda i: output[i].data)


def train_step(
    model: MLP, optimizer: optim.Optimizer, X: Sequence[Sequence[float]], y: Sequence[int], loss: str, l2: float
) -> tuple[float, float]:
    """One step of gradient descent; returns (loss, training accuracy) measured before the update."""
    outputs = [model(x) for x in X]  # forward
    total = data_loss(loss, outputs, y)
    if l2:
        total = total + l2 * sum(p * p for p in model.parameters())
    optimizer.zero_grad()
    total.backward()  # gradients of every parameter
    optimizer.step()  # update
    hits = sum(_predicted(o) == label for o, label in zip(outputs, y, strict=True))
    return total.data, hits / len(y)


def _numpy_installed() -> bool:
    return importlib.util.find_spec("numpy") is not None


def resolve_engine(engine: str, loss: str) -> str:
    """The engine a run uses: 'auto' is the fastest installed one that can run this loss.

    An engine asked for by name that cannot run is an error, not a quiet fallback. An old name
    ("batched") is translated with a FutureWarning.
    """
    try:
        engine = canonical_engine(engine, ("auto", *ENGINES), "engine")
    except ValueError:
        raise ValueError(f"unknown engine {engine!r}; choose one of auto, {', '.join(ENGINES)}") from None
    if engine == "auto":
        if loss not in COMPILABLE_LOSSES:
            return "eager"
        return "numpy" if _numpy_installed() else "compiled"
    if engine != "eager" and loss not in COMPILABLE_LOSSES:
        raise ValueError(
            f"engine {engine!r} supports the losses {', '.join(COMPILABLE_LOSSES)}, not {loss!r}; use --engine eager"
        )
    if engine == "numpy" and not _numpy_installed():
        raise ValueError("engine 'numpy' needs numpy: pip install 'micrograd[fast]'")
    return engine


def _l2_penalty(l2: float) -> Callable[[list[Value]], Value]:
    """l2 * sum(p*p), written as train_step writes it, for the recording engines (compiled, numpy)."""

    def penalty(params: list[Value]) -> Value:
        return cast(Value, l2 * sum(p * p for p in params))

    return penalty


# Beyond this a number's square overflows a float (sqrt of 1.8e308 is 1.3e154).
_HUGE = 1e154


def _first_line(error: BaseException) -> str:
    """The error's message, without the bare errno tuple Python's float pow gives ("(34, 'Numerical ...')")."""
    args = error.args
    text = str(args[1]) if len(args) == 2 and isinstance(args[0], int) else str(error)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(error).__name__


class TrainingDiverged(ValueError):
    """A step made the loss or the parameters nan or inf (usually: the learning rate is too large)."""


class Run:
    """A training run in progress: model, optimizer, data, step count and history.

    ``engine`` is how each step computes the loss and its gradient (see ENGINES); all
    three give the same gradients to 1e-12, so a run can be resumed with another engine.
    """

    def __init__(self, config: TrainConfig, out_dir: Path, engine: str = "eager") -> None:
        config.check()
        self.config = config
        self.out_dir = Path(out_dir)
        self.data = load_dataset(config)
        self.loss = resolved_loss(config, self.data.n_classes)
        self.engine = resolve_engine(engine, self.loss)
        nin = len(self.data.X_train[0])
        self.model = build_model(config, nin, self.data.n_classes)
        self.optimizer, self.scheduler = build_optimizer(config, self.model)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self._summary = _HistorySummary()  # what the checkpoint keeps of the history
        self._log: _LogPlace | None = None  # the history log this run continues: set by resume_run and save
        self._compiled: CompiledLoss | None = None
        if self.engine != "eager":
            self._compiled = compile_loss(
                _PER_EXAMPLE_LOSSES[self.loss](self.model), self.model, n_inputs=nin,
                engine=self.engine,  # "compiled" or "numpy": compile_loss takes the same words
                regularizer=_l2_penalty(config.l2) if config.l2 else None,
            )

    def _train_step(self, X: list[list[float]], y: list[int]) -> tuple[float, float]:
        if self._compiled is None:
            return train_step(self.model, self.optimizer, X, y, self.loss, self.config.l2)
        train_accuracy = accuracy(self.model, X, y)  # before the update, as train_step measures it
        self.optimizer.zero_grad()
        loss_value = self._compiled.loss_and_backward(X, y)
        self.optimizer.step()
        return loss_value, train_accuracy

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    def batch(self, step: int) -> tuple[list[list[float]], list[int]]:
        """The examples of one step: the whole training set, or a sample drawn from (seed, step) alone,
        so that a resumed run draws exactly the batches the uninterrupted run would have."""
        X, y = self.data.X_train, self.data.y_train
        size = self.config.batch_size
        if size == 0 or size >= len(X):
            return X, y
        rng = random.Random(f"{self.config.seed}/batch/{step}")
        chosen = rng.sample(range(len(X)), size)
        return [X[i] for i in chosen], [y[i] for i in chosen]

    def evaluate(self) -> tuple[float, float]:
        """(loss, accuracy) of the current parameters on the whole training set, l2 included, as a
        full-batch step measures them before its update: what the training page calls "step k"
        (the parameters after k updates). Changes no gradient."""
        from micrograd.engine import no_grad

        with no_grad():
            outputs = [self.model(x) for x in self.data.X_train]
            total = data_loss(self.loss, outputs, self.data.y_train)
            if self.config.l2:
                total = total + self.config.l2 * sum(p * p for p in self.model.parameters())
        return total.data, accuracy(self.model, self.data.X_train, self.data.y_train)

    def steps(self) -> Iterator[dict[str, float]]:
        """Train until config.steps, yielding each step's record."""
        while self.step < self.config.steps:
            X, y = self.batch(self.step)
            try:
                loss_value, train_acc = self._train_step(X, y)
            except ArithmeticError as error:  # the engine refuses to overflow (x**2 of 1e200, exp of 710)
                raise self._diverged(f"a number overflowed a float ({_first_line(error)})") from None
            self._check_finite(loss_value)
            if self.scheduler is not None:
                self.scheduler.step()
            record = {"step": float(self.step), "loss": loss_value, "accuracy": train_acc}
            if self.data.X_val:
                record["val_accuracy"] = accuracy(self.model, self.data.X_val, self.data.y_val)
            self.history.append(record)
            self.step += 1
            yield record

    def _check_finite(self, loss_value: float) -> None:
        """Stop at the first step that makes the loss, a parameter or the optimizer's state nan/inf:
        every later number would be too, and such a state cannot be saved."""
        if not math.isfinite(loss_value):
            raise self._diverged(f"the loss is {loss_value}")
        if not all(math.isfinite(p.data) for p in self.model.parameters()):
            raise self._diverged("a parameter became nan or inf")
        for name, values in self.optimizer.buffers().items():
            if not all(math.isfinite(v) for v in values):
                raise self._diverged(f"the optimizer's {name} became nan or inf")

    def _diverged(self, what: str) -> TrainingDiverged:
        return TrainingDiverged(
            f"training diverged at step {self.step + 1}: {what}; {self._divergence_cause()}. "
            "Checkpoints saved before this step are kept unchanged."
        )

    def _divergence_cause(self) -> str:
        """What to change, from the settings that can make numbers overflow: the data's scale, the L2
        penalty, or else the learning rate. Only the last is cured by a lower --lr."""
        largest_input = max((abs(v) for x in self.data.X_train for v in x), default=0.0)
        if not largest_input <= _HUGE:  # `not`: also a nan
            source = "the CSV file" if self.config.dataset.startswith("csv:") else f"--noise {self.config.noise}"
            return f"the inputs reach {largest_input:.3g} ({source}), too large to square; use smaller inputs"
        l2 = self.config.l2
        # The penalty's gradient is 2 * l2 * p, which Adam squares: with parameters of order 1 (as they
        # start) it overflows for l2 beyond this, whatever the learning rate.
        if not 2 * l2 <= _HUGE:
            return f"the L2 penalty overflows (--l2 {l2}); lower --l2"
        return f"lower --lr (it is {self.config.lr})"

    def save(self) -> Path:
        """Write the checkpoint atomically: the previous one stays readable until the new one is complete.

        The steps since the last save go first to the history log, appended and fsynced, so that the
        checkpoint, which counts them, never names lines that are not on disk. What a save writes does
        not grow with the run: those lines, the model and optimizer, and the bounded summary."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._log = self._write_log()  # checks the records it writes, among them those the summary adds
        self._summary.add(self._records_from(self._summary.through), through=self.step)
        extra = {"config": dataclasses.asdict(self.config), "history": self._summary.records(),
                 "history_log": self._log.stored()}
        checkpoint.save(self.checkpoint_path, self.model, optimizer=self.optimizer, step=self.step, extra=extra,
                        scheduler=self.scheduler)
        return self.checkpoint_path

    @property
    def history_log_path(self) -> Path:
        return self.out_dir / HISTORY_LOG_NAME

    def _write_log(self) -> _LogPlace:
        """Put the record of every step before this one in the history log; return where they are."""
        target = self.history_log_path
        place = self._log
        if place is not None and _same_file(place.path, target):
            count, lines = self._log_lines(place.through)
            size = checkpoint.append_log(target, place.run, place.size, lines)
            if size is not None:
                return _LogPlace(target, place.run, size, place.records + count, self.step)
        # Otherwise a new log, written atomically: the lines of the log this run continues, when they can
        # still be read (a line a crashed save appended after them is dropped: its step runs again), then
        # this run's. When they cannot, the records this run holds: the summary the checkpoint kept.
        earlier = None if place is None else checkpoint.read_log(place.path, place.run, place.size)
        if place is None or earlier is None:
            earlier, earlier_records, start = b"", 0, 0
        else:
            earlier_records, start = place.records, place.through
        count, lines = self._log_lines(start)
        run = uuid.uuid4().hex  # from os.urandom: the seeded random module is not touched
        size = checkpoint.new_log(target, run, earlier + lines)
        return _LogPlace(target, run, size, earlier_records + count, self.step)

    def _records_from(self, start: int) -> list[dict[str, float]]:
        """The history's records of step ``start`` and after (the last ones: found from the end)."""
        index = len(self.history)
        while index > 0 and _step_of(self.history[index - 1]) >= start:
            index -= 1
        return self.history[index:]

    def _log_lines(self, start: int) -> tuple[int, bytes]:
        """The log lines of the records of step ``start`` and after, and how many there are."""
        records = checked_history(self._records_from(start), "the history to save")
        return len(records), "".join(map(_log_line, records)).encode("utf-8")


def _step_of(record: object) -> float:
    """A record's step; a record without one counts as new, so that checked_history names it."""
    try:
        return float(record["step"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError, OverflowError):
        return math.inf


def _log_line(record: dict[str, float]) -> str:
    """A checked record (finite floats by name) as a line of JSON: compact, each float in its shortest
    round-trip form (``repr``, as the json module writes floats), so that it reads back exactly."""
    return "{" + ",".join(f"{_json_key(key)}:{number!r}" for key, number in record.items()) + "}\n"


@functools.lru_cache(maxsize=64)
def _json_key(key: str) -> str:
    return json.dumps(key)


def _same_file(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:  # either is missing
        return False


def _stride(steps: int) -> int:
    """The summary's stride after ``steps`` steps: the smallest power of two that keeps at most SUMMARY_CAP
    of the steps 0 .. steps-1."""
    stride = 1
    while -(-steps // stride) > SUMMARY_CAP:
        stride *= 2
    return stride


class _HistorySummary:
    """The checkpoint's bounded summary of a history: the records of every stride-th step (see ``_stride``),
    the record with the lowest loss (the earliest of equals: a resumed run's LossRiseWatch needs it) and
    the last record. A function of the records alone, so a resumed run's summary is the uninterrupted
    run's: the stride only doubles, and the steps it keeps are among those kept before."""

    def __init__(self, records: Sequence[dict[str, float]] = (), through: int = 0) -> None:
        self.through = 0  # the records of the steps before this one have been added
        self.stride = _stride(0)
        self.kept: list[dict[str, float]] = []
        self.best: dict[str, float] | None = None
        self.last: dict[str, float] | None = None
        self.add(records, through)

    def add(self, records: Sequence[dict[str, float]], through: int) -> None:
        for record in records:
            step = int(record["step"])
            if step + 1 > self.stride * SUMMARY_CAP:  # so _stride(step + 1) > self.stride
                self.stride = stride = _stride(step + 1)
                self.kept = [kept for kept in self.kept if int(kept["step"]) % stride == 0]
            if step % self.stride == 0:
                self.kept.append(record)
            self._note(record)
        self.through = through

    def _note(self, record: dict[str, float]) -> None:
        if self.best is None or record["loss"] < self.best["loss"]:
            self.best = record
        self.last = record

    def records(self) -> list[dict[str, float]]:
        chosen = {int(record["step"]): record for record in self.kept}
        for record in (self.best, self.last):
            if record is not None:
                chosen.setdefault(int(record["step"]), record)
        return [chosen[step] for step in sorted(chosen)]


@dataclass(frozen=True)
class _LogPlace:
    """Where a run's full history is: the log at ``path`` whose header names ``run``, of which a checkpoint
    counts the first ``size`` bytes, holding ``records`` lines: the records of the steps before ``through``."""

    path: Path
    run: str
    size: int
    records: int
    through: int

    def stored(self) -> dict[str, Any]:
        """As the checkpoint's ``extra.history_log`` holds it: the file by its name, beside the checkpoint."""
        return {"file": self.path.name, "run": self.run, "bytes": self.size, "records": self.records}


def _stored_log_place(extra: dict[str, Any], path: Path, step: int) -> _LogPlace | None:
    """The history log a checkpoint names, checked; None for a checkpoint that names none (6da8dad's)."""
    stored = extra.get("history_log")
    if stored is None:
        return None

    def bad(problem: str) -> ValueError:
        return ValueError(f"{path}: checkpoint's 'extra.history_log' {problem} (remove the key to resume "
                          "from the checkpoint's summary of the history alone)")

    if not isinstance(stored, dict):
        raise bad(f"must be an object, got {type(stored).__name__}")
    name, run = stored.get("file"), stored.get("run")
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise bad(f"'file' must be the name of a file beside the checkpoint, got {short_repr(name, 40)}")
    if not isinstance(run, str) or not run:
        raise bad(f"'run' must be a non-empty string, got {short_repr(run, 40)}")
    numbers = [stored.get(key) for key in ("bytes", "records")]
    for key, number in zip(("bytes", "records"), numbers, strict=True):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise bad(f"{key!r} must be an int >= 0, got {short_repr(number, 40)}")
    return _LogPlace(path.parent / name, run, cast(int, numbers[0]), cast(int, numbers[1]), step)


HISTORY_KEYS = ("step", "loss", "accuracy")  # in every record; "val_accuracy" too when there is validation data


def checked_history(history: object, what: str) -> list[dict[str, float]]:
    """A run's history (one record of numbers by name per step), refused with a ValueError naming the record
    unless every record has the keys the pictures and messages read, and every number is finite (the boundary
    of micrograd.outputs: a hand-edited 10**400 or NaN must not reach a plot or a printed line)."""
    if not isinstance(history, list):
        raise ValueError(f"{what} must be a list of step records (numbers by name), got {type(history).__name__}")
    checked = []
    for index, record in enumerate(history):
        if type(record) is dict and _plain(record):  # as Run.steps makes them: the quick way for a long history
            checked.append(dict(record))
            continue
        if not isinstance(record, dict):
            raise ValueError(f"{what}: record {index} must be an object of numbers, got {type(record).__name__}")
        missing = [key for key in HISTORY_KEYS if key not in record]
        if missing:
            raise ValueError(f"{what}: record {index} has no {', '.join(repr(key) for key in missing)}")
        for key, number in record.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise ValueError(f"{what}: record {index} {key!r} must be a number, got {type(number).__name__}")
        numbers = finite_outputs(f"{what}: record {index}", record.values())
        checked.append(dict(zip(record, numbers, strict=True)))
    return checked


def read_history(path: Path | str) -> list[dict[str, float]]:
    """Every step's record of the run whose checkpoint is at ``path``: the lines of the history log beside
    it that the checkpoint counts. A checkpoint that names no log (written by micrograd before logs) holds
    them all itself. Raises ValueError if the log is missing, cut short or replaced: the checkpoint's own
    ``extra["history"]`` then still holds its summary.

    A run resumed from a checkpoint whose log was missing has, for the steps before it, only the
    records of that checkpoint's summary: their steps show the gaps.
    """
    path = Path(path)
    saved = checkpoint.load_checkpoint(path)
    extra = saved["extra"]
    place = _stored_log_place(extra, path, saved["step"])
    if place is None:
        return checked_history(extra.get("history") or [], f"{path}: checkpoint's history")
    body = checkpoint.read_log(place.path, place.run, place.size)
    if body is None:
        raise ValueError(f"{place.path}: missing, cut short, or not the history log of {path}; the checkpoint "
                         f"itself keeps a summary of its {saved['step']} steps in extra['history']")
    count = body.count(b"\n")
    if count != place.records:
        raise ValueError(f"{place.path}: {count} records where {path} counts {place.records}")
    try:  # the lines as one JSON list: parsed in one call, not one call per line
        records = json.loads(b"[" + body.rstrip(b"\n").replace(b"\n", b",") + b"]")
    except ValueError:
        records = None
    if not isinstance(records, list) or len(records) != count:  # then line by line, to name the bad one
        records = [_log_record(place.path, number, line) for number, line in enumerate(body.splitlines(), start=2)]
    return checked_history(records, f"{place.path}")


def _log_record(path: Path, number: int, line: bytes) -> Any:
    """One line of a log, or a ValueError naming the line (``number``, counted from the header, 1)."""
    try:
        record = json.loads(line)
    except ValueError:
        raise ValueError(f"{path}: line {number} is not JSON") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: line {number} is not a step's record")
    return record


def _plain(record: dict[str, Any]) -> bool:
    """The record has the keys the pictures read, and every number in it is a finite float."""
    for number in record.values():
        if type(number) is not float or not math.isfinite(number):
            return False
    return all(key in record for key in HISTORY_KEYS)


def start_run(config: TrainConfig, out_dir: Path, engine: str = "eager") -> Run:
    return Run(config, out_dir, engine)


def resume_run(path: Path, out_dir: Path, steps: int | None = None, engine: str = "eager") -> Run:
    """Rebuild a run from its checkpoint: same data, model, optimizer state, schedule and step."""
    saved = checkpoint.load_checkpoint(path)
    config = TrainConfig.from_checkpoint(saved, path)
    history = checked_history(saved["extra"].get("history") or [], f"{path}: checkpoint's history")
    if steps is not None:
        config.steps = steps
    run = Run(config, out_dir, engine)
    run.model.load_state_dict(saved["parameters"])
    if saved.get("optimizer") is not None:
        run.optimizer.load_state_dict(saved["optimizer"])
    if run.scheduler is not None and saved.get("scheduler"):
        scheduler_state = dict(saved["scheduler"])
        scheduler_state["settings"] = run.scheduler.settings()  # --steps may have lengthened the schedule
        run.scheduler.load_state_dict(scheduler_state)
    run.step = int(saved["step"])
    run.history = list(history)
    run._summary = _HistorySummary(history, through=run.step)
    run._log = _stored_log_place(saved["extra"], Path(path), run.step)
    if run.step > config.steps:
        raise ValueError(f"{path}: checkpoint is at step {run.step}, past --steps {config.steps}")
    return run


def progress_bar(total: int, initial: int) -> Any:
    """A tqdm bar on stderr when tqdm is installed (the `cli` extra); else None, and plain lines are printed."""
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc="training", unit="step", leave=False, file=sys.stderr)


@contextlib.contextmanager
def closing_bar(bar: Any) -> Iterator[None]:
    """Close the progress bar (if any) however the loop ends, so that an error's line starts a line of its own."""
    try:
        yield
    finally:
        if bar is not None:
            bar.close()


class StopRequests:
    """Turn Ctrl-C into a request checked between steps, so a step is never saved half-applied."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopRequests:
        self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

