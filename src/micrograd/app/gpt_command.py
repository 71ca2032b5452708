"""``micrograd gpt train`` and ``micrograd gpt sample``: Karpathy's microgpt on micrograd, from the command line.

    micrograd gpt train                       # 1,000 steps on the shipped names, then 20 new names
    micrograd gpt sample --num 5 --prefix ka  # from the run gpt train just saved
    micrograd gpt train --steps 200 --n-layer 2 --out run1
    micrograd gpt train --resume run1/checkpoint.json
    micrograd gpt sample run1/checkpoint.json --num 5

Training writes ``OUT/checkpoint.json`` (OUT is micrograd-out/gpt unless given:
a folder of its own, so the MLP commands' checkpoints are never replaced) every
``--checkpoint-every`` steps and at the end; a run resumed from it continues
exactly as if it had never stopped (same losses, same samples). The names go to
stdout, one per line in microgpt.py's format (``sample  1: kamon``), each as soon
as it is drawn; progress and notes go to stderr.
``--engine numpy`` (the default when numpy is installed) replays a recorded
graph instead of building Values every step; ``--engine torch`` trains the same
model with PyTorch (``--device``, ``--dtype``, ``--batch-size``, bigger models, and
several processes under ``torchrun``); ``--html`` also writes ``OUT/gpt.html``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from micrograd._engine_names import DEVICES, DTYPES, GPT_OLD_SPELLINGS
from micrograd.app.flags import (
    Words,
    add_max_file_option,
    non_negative_int,
    output_folder,
    positive_float,
    positive_int,
    temperature,
    whole_number,
)

__all__ = ["add_gpt_command", "train_command", "sample_command"]

CHECKPOINT_NAME = "checkpoint.json"
# A folder of its own: demo writes micrograd-out and train micrograd-out/train, each an MLP's checkpoint.
DEFAULT_OUT = Path("micrograd-out") / "gpt"
DEFAULT_CHECKPOINT = DEFAULT_OUT / CHECKPOINT_NAME
TEMPERATURE_HELP = ("sampling temperature, > 0: lower picks likelier characters, higher more varied ones; "
                    "near 0 (e.g. 1e-9) every character is the likeliest, the same as greedy decoding (default: 0.5)")
ENGINES = ("auto", "eager", "numpy", "torch")
DATA_MODES = ("lines", "windows")

# The settings of a new run, with their defaults; on --resume they come from the checkpoint.
_RUN_DEFAULTS: dict[str, Any] = {
    "steps": 1000,
    "seed": 42,
    "n_embd": 16,
    "n_head": 4,
    "n_layer": 1,
    "block_size": 16,
    "lr": 0.01,
    "batch_size": 1,
}


class GPTUsageError(ValueError):
    """A mistake in the command's input: one line on stderr, exit status 2 (as every ValueError in main)."""


def add_gpt_command(sub: Any) -> None:
    """Add ``gpt train`` and ``gpt sample`` to the ``micrograd`` parser's subcommands."""
    gpt = sub.add_parser("gpt", help="train Karpathy's microgpt on names and sample new ones")
    commands = gpt.add_subparsers(dest="gpt_command", metavar="COMMAND", parser_class=type(gpt))
    gpt.set_defaults(handler=lambda args: _help(gpt))

    train = commands.add_parser("train", help="train a GPT as microgpt.py does, then print sampled names")
    train.add_argument("--data", metavar="PATH",
                       help="a UTF-8 text file: one document per line (default: the shipped names.txt)")
    # --data-mode names what the file is cut into, beside --data, the way a user would look for it.
    train.add_argument("--data-mode", choices=DATA_MODES,
                       help="lines (default): one document per line, as names.txt; windows: the whole text cut "
                       "into pieces of --block-size characters, newlines included, for a play or a book")
    train.add_argument("--steps", type=positive_int,
                       help="training steps, of --batch-size documents each (default: 1000)")
    train.add_argument("--seed", type=whole_number,
                       help="seed of the document order, weights and samples (default: 42)")
    train.add_argument("--n-embd", type=positive_int, help="embedding size (default: 16)")
    train.add_argument("--n-head", type=positive_int, help="attention heads; must divide --n-embd (default: 4)")
    train.add_argument("--n-layer", type=positive_int, help="transformer layers (default: 1)")
    train.add_argument("--block-size", type=positive_int, help="longest sequence, BOS included (default: 16)")
    train.add_argument("--lr", type=positive_float, help="learning rate, decayed linearly to 0 (default: 0.01)")
    # The old names (GPT_OLD_SPELLINGS) are accepted, with a one-line note, but listed nowhere.
    train.add_argument("--engine", default="auto", choices=Words(ENGINES, tuple(GPT_OLD_SPELLINGS)),
                       help="eager: a graph of Values every step; numpy: recorded once per document length, "
                       "replayed with numpy arrays (the same losses); torch: the same model in PyTorch, for "
                       "batches and bigger models; auto (default): numpy when numpy is installed, else eager")
    train.add_argument("--device", choices=DEVICES,
                       help="with --engine torch: where to train (default: cpu)")
    train.add_argument("--dtype", choices=DTYPES,
                       help="with --engine torch: float64 (default; the scalar engines' numbers), float32, or "
                       "bfloat16 (mixed precision: float32 weights, bfloat16 arithmetic)")
    train.add_argument("--batch-size", type=positive_int,
                       help="documents per step, padded and masked: the loss is the mean over their real tokens; "
                       "above 1 needs --engine torch; under torchrun the global batch, split over the processes "
                       "(default: 1, microgpt's step)")
    train.add_argument("--samples", type=non_negative_int, default=20, help="names to print at the end (default: 20)")
    train.add_argument("--temperature", type=temperature, default=0.5, help=TEMPERATURE_HELP)
    train.add_argument("--out", metavar="DIR", type=output_folder,
                       help=f"output folder for checkpoint.json (default: {DEFAULT_OUT}, or CKPT's with --resume)")
    train.add_argument("--checkpoint-every", type=non_negative_int, default=100, metavar="N",
                       help="also save every N steps; 0: only at the end (default: 100)")
    train.add_argument("--resume", metavar="CKPT", help="continue the run saved in CKPT exactly")
    train.add_argument("--quiet", action="store_true",
                       help="no progress bar and no notes: only the names (and a note on an old --engine name)")
    train.add_argument("--html", action="store_true",
                       help="also write OUT/gpt.html: the loss, samples over training, attention heat maps")
    add_max_file_option(train)
    train.set_defaults(handler=train_command)

    sample = commands.add_parser("sample", help="print names sampled from a trained GPT")
    sample.add_argument("checkpoint", metavar="CKPT", nargs="?",
                        help=f"checkpoint.json written by gpt train (default: {DEFAULT_CHECKPOINT}, where gpt train "
                        "saves without --out)")
    sample.add_argument("--num", type=non_negative_int, default=20, help="how many names (default: 20)")
    sample.add_argument("--temperature", type=temperature, default=0.5, help=TEMPERATURE_HELP)
    sample.add_argument("--seed", type=whole_number,
                        help="seed of the draws (default: continue the run's random stream, "
                        "which gives the names gpt train printed)")
    sample.add_argument("--prefix", default="", metavar="TEXT", help="start every name with TEXT")
    add_max_file_option(sample)
    sample.set_defaults(handler=sample_command)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


# ----------------------------------------------------------------------
# gpt train
# ----------------------------------------------------------------------


def train_command(args: argparse.Namespace) -> int:
    engine = _engine(args.engine)
    ranks = _ranks(engine)
    try:
        return _train_command(args, engine, ranks)
    except RuntimeError as error:
        if engine != "torch":
            raise
        # PyTorch's own failures (out of memory on a device, an op a device lacks) are RuntimeErrors
        # of many lines; the first says what happened.
        from micrograd.gpt.torch_engine import first_error_line

        raise GPTUsageError(f"PyTorch failed: {first_error_line(error)}") from None
    except (ValueError, OSError, ImportError) as error:
        if ranks.main:
            raise
        # Rank 0 says what every rank meets (bad flags, a missing file); what only this rank meets
        # (its own GPU) would otherwise leave rank 0 waiting for it in silence.
        print(f"micrograd gpt train: error: rank {ranks.rank}: {error}", file=sys.stderr)
        return 2
    finally:
        _leave_process_group()


def _train_command(args: argparse.Namespace, engine: str, ranks: Any) -> int:
    from micrograd import gpt
    from micrograd.gpt.torch_engine import DistributedFailure

    quiet = args.quiet or not ranks.main  # only rank 0 prints
    _check_torch_flags(args, engine)
    device: dict[str, Any] = {}  # where and in what a torch run computes
    if engine == "torch":
        device = {"device": args.device or "cpu", "dtype": args.dtype or "float64"}
    saved_extra: dict[str, Any] = {}
    if args.resume:
        training, data_name, data_mode, saved_extra = _resume(args, engine, device)
    else:
        settings = {key: getattr(args, key) if getattr(args, key) is not None else default
                    for key, default in _RUN_DEFAULTS.items()}
        _check_sizes(settings)
        data_mode = args.data_mode or "lines"
        docs = gpt.read_documents(_data_path(args.data), data_mode, settings["block_size"])
        sizes = {key: settings[key] for key in ("n_embd", "n_head", "n_layer", "block_size")}
        _check_scalar_size(engine, gpt.GPTConfig(gpt.Tokenizer.from_documents(docs).vocab_size, **sizes))
        training = gpt.Training.start(docs, **settings, engine=engine, **device)
        data_name = args.data
    out = Path(args.out) if args.out else (Path(args.resume).parent if args.resume else DEFAULT_OUT)
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
    path = out / CHECKPOINT_NAME
    extra: dict[str, Any] = {"data": data_name}
    if data_mode != "lines":
        extra["data_mode"] = data_mode
    snapshots: list[dict[str, Any]] | None = None
    if args.html and ranks.main:
        kept = saved_extra.get("samples_over_training")
        snapshots = extra["samples_over_training"] = list(kept) if isinstance(kept, list) else []
    if not quiet:
        c = training.model.config
        _note(f"{len(training.docs):,} documents, vocabulary of {c.vocab_size} (BOS included), "
              f"{c.num_parameters:,} parameters; step {training.step} of {training.num_steps} "
              f"(engine: {_engine_summary(training, ranks)})")
    began = time.perf_counter()
    try:
        with _stopped_by_torchrun(ranks):
            finished = _train(training, path if ranks.main else None, extra, args.checkpoint_every, quiet,
                              snapshots, args.temperature)
    except DistributedFailure as error:
        # Every surviving rank says it (with two processes, one line); the checkpoint on disk is the last whole
        # one (files are replaced atomically). Then out at once: tearing down a group with a dead member can hang,
        # and torchrun's SIGTERM would only add a second message.
        saved = f"the last checkpoint saved is {path}" if path.exists() else "no checkpoint was saved yet"
        print(f"micrograd gpt train: error: {error}; {saved}", file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(1)
    seconds = time.perf_counter() - began
    if not ranks.main:
        return 0
    training.save(path, extra=extra)
    if not finished:
        print(f"micrograd gpt: interrupted at step {training.step}; resume with --resume {path}", file=sys.stderr)
        return 130
    if not quiet:
        last = training.history[-1]["loss"] if training.history else float("nan")
        _note(f"step {training.step} / {training.num_steps} | loss {last:.4f} | {seconds:.1f} s; wrote {path}")
    names = _generate(training, args.samples, args.temperature)
    if snapshots is not None:
        page = _write_page(training, names, snapshots, out, data_name, data_mode)
        if not quiet:
            _note(f"wrote {page}")
    for i, name in enumerate(names, 1):
        print(f"sample {i:2d}: {name}")
    return 0


def _engine_summary(training: Any, ranks: Any) -> str:
    if training.engine != "torch":
        return str(training.engine)
    processes = f", {ranks.world} processes" if ranks.world > 1 else ""
    return f"torch on {training.device}, {training.dtype}, batch {training.batch_size}{processes}"


def _generate(training: Any, num: int, temperature: float, seed: int | None = None) -> list[str]:
    """Names drawn from the run's model: by the torch module on a torch run (the Values model is far slower)."""
    if training.engine == "torch":
        return list(training.torch_engine().generate(num, temperature, seed))
    names: list[str] = training.model.generate(num, temperature, seed=seed)
    return names


class _TorchAttention:
    """What the page reads of a model (its sizes and attention weights), computed by the torch engine."""

    def __init__(self, training: Any) -> None:
        self.config = training.model.config
        self._engine = training.torch_engine()

    def attention_weights(self, text: str) -> list[list[list[list[float]]]]:
        weights: list[list[list[list[float]]]] = self._engine.attention_weights(text)
        return weights


SNAPSHOT_NAMES = 8  # names drawn for the page at each snapshot step


def _snapshot(training: Any, snapshots: list[dict[str, Any]], temperature: float) -> None:
    """Names drawn now, with the run's seed every time (so snapshots differ only by the model): for --html."""
    seed = training.seed if training.seed is not None else 0
    names = _generate(training, SNAPSHOT_NAMES, temperature, seed)
    snapshots.append({"step": training.step, "names": names})


def _write_page(training: Any, names: list[str], snapshots: list[dict[str, Any]], out: Path,
                data_name: str | None, data_mode: str) -> Path:
    from micrograd._files import atomic_write
    from micrograd.viz.gpt_page import attention_map, gpt_html

    model = training.model
    chosen = [name for name in dict.fromkeys(names) if name] + training.docs[:3]
    reader: Any = _TorchAttention(training) if training.engine == "torch" else model  # what attention_map reads
    attention = [attention_map(reader, name) for name in dict.fromkeys(chosen)]
    c = model.config
    # The loss curve's caption says "each update"; the summary says what one update trained on.
    unit = "windows" if data_mode == "windows" else "documents"
    per_step = f"{training.batch_size} {unit} per step (the loss is the mean over their tokens)" \
        if training.batch_size > 1 else f"one of the {unit} per step"
    summary = (
        f"{training.num_steps} steps on {len(training.docs):,} {unit} of {data_name or 'names.txt'}, {per_step}; "
        f"n_embd {c.n_embd}, n_head {c.n_head}, n_layer {c.n_layer}, block_size {c.block_size}, "
        f"{c.num_parameters:,} parameters; seed {training.seed}"
    )
    page = gpt_html({"history": training.history, "samples": snapshots, "attention": attention,  # type: ignore[typeddict-item]
                     "title": "microgpt, trained with micrograd", "summary": summary})
    return atomic_write(out / "gpt.html", page)


def _check_sizes(settings: dict[str, Any]) -> None:
    if settings["n_embd"] % settings["n_head"] != 0:
        raise GPTUsageError(
            f"--n-embd ({settings['n_embd']}) must be divisible by --n-head ({settings['n_head']})"
        )


def _check_scalar_size(engine: str, config: Any) -> None:
    """A model too big for Values is refused before its weights are drawn, with the engine that takes it."""
    from micrograd.gpt.training import SCALAR_MAX_PARAMETERS

    if engine != "torch" and config.num_parameters > SCALAR_MAX_PARAMETERS:
        raise GPTUsageError(f"{config.num_parameters:,} parameters are too many for --engine {engine} (at most "
                            f"{SCALAR_MAX_PARAMETERS:,}); use --engine torch")


def _check_torch_flags(args: argparse.Namespace, engine: str) -> None:
    if engine == "torch":
        return
    for flag, value in (("--device", args.device), ("--dtype", args.dtype)):
        if value is not None:
            raise GPTUsageError(f"{flag} needs --engine torch (the {engine} engine computes in float64 on the CPU)")
    if args.batch_size is not None and args.batch_size > 1:
        raise GPTUsageError(f"--batch-size {args.batch_size} needs --engine torch (the {engine} engine takes one "
                            "document per step)")


def _data_path(data: str | None) -> Path:
    if data is None:
        from micrograd.datasets import names_path

        return names_path()
    return Path(data)


def _engine(choice: str) -> str:
    """Today's name of ``choice``; an old name is translated with a one-line note; auto never picks torch."""
    from micrograd._engine_names import GPT_OLD_SPELLINGS, canonical_engine
    from micrograd.gpt.training import scalar_engine

    # An old name warns; the command line's notes_on_stderr prints it as one note line, even with
    # --quiet (a script using the old name needs to hear it), from rank 0 alone.
    engine = canonical_engine(choice, (*ENGINES,), "--engine", old=GPT_OLD_SPELLINGS)
    if engine in ("numpy", "auto"):
        _one_blas_thread()
    if engine == "numpy":
        try:
            import numpy  # noqa: F401
        except ImportError:
            raise GPTUsageError("--engine numpy needs numpy: pip install 'micrograd[fast]'") from None
    return scalar_engine(engine)


# The variables by which the BLAS libraries numpy may be built with read their number of threads.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _one_blas_thread() -> None:
    """One BLAS thread for the numpy engine, unless the user chose a number: its matrix products are at most
    n_embd wide, so BLAS's worker threads only wait, spinning (a third of a 100-step run's CPU time)."""
    if "numpy" not in sys.modules and not any(name in os.environ for name in BLAS_THREADS):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"  # read once, when numpy loads its BLAS


def _ranks(engine: str) -> Any:
    """This process's place in a torchrun job (one process without torchrun); several need the torch engine."""
    from micrograd.gpt.torch_engine import ranks_from_env

    try:
        ranks = ranks_from_env()
    except ValueError as error:
        raise GPTUsageError(str(error)) from None
    if ranks.world > 1 and engine != "torch":
        if not ranks.main:
            raise SystemExit(2)  # rank 0 says why
        raise GPTUsageError(f"torchrun started {ranks.world} processes; several processes need --engine torch")
    return ranks


@contextlib.contextmanager
def _stopped_by_torchrun(ranks: Any) -> Iterator[None]:
    """Under torchrun, its SIGTERM (sent when another process has ended) becomes a DistributedFailure: one line."""
    if ranks.world == 1:
        yield
        return
    from micrograd.gpt.torch_engine import DistributedFailure

    def stop(signum: int, frame: Any) -> None:
        raise DistributedFailure(f"rank {ranks.rank} of {ranks.world}: stopped by torchrun, another process ended")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _leave_process_group() -> None:
    """End this process's part in a torchrun job (torch warns at exit about a group left open)."""
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _resume(args: argparse.Namespace, engine: str,
            device: dict[str, Any]) -> tuple[Any, str | None, str, dict[str, Any]]:
    """The saved run, refusing settings on the command line that differ from the checkpoint's."""
    from micrograd import gpt

    checkpoint = gpt.load_checkpoint(args.resume)
    info = checkpoint["extra"].get("training")
    if not isinstance(info, dict):
        raise GPTUsageError(f"{args.resume}: this checkpoint holds no training run to resume")
    saved = {**checkpoint["config"].as_dict(), "steps": info["steps"], "seed": info["seed"], "lr": info["lr"],
             "batch_size": info.get("batch_size", 1)}
    for key in _RUN_DEFAULTS:
        given = getattr(args, key)
        if given is not None and given != saved[key]:
            flag = "--" + key.replace("_", "-")
            raise GPTUsageError(
                f"{flag} {given} differs from the checkpoint's {saved[key]}; a resumed run keeps its settings"
            )
    if saved["batch_size"] != 1 and engine != "torch":
        raise GPTUsageError(f"{args.resume} was trained on {saved['batch_size']} documents per step (--batch-size); "
                            "only --engine torch continues it")
    _check_scalar_size(engine, checkpoint["config"])
    stored = checkpoint["extra"].get("data")
    data_name = args.data if args.data is not None else (stored if isinstance(stored, str) else None)
    stored_mode = checkpoint["extra"].get("data_mode", "lines")
    if args.data_mode is not None and args.data_mode != stored_mode:
        raise GPTUsageError(f"--data-mode {args.data_mode} differs from the checkpoint's {stored_mode}; "
                            "a resumed run keeps its settings")
    if stored_mode not in DATA_MODES:
        raise GPTUsageError(f"{args.resume}: 'extra.data_mode' is {stored_mode!r}, not one of {', '.join(DATA_MODES)}")
    docs = gpt.read_documents(_data_path(data_name), stored_mode, checkpoint["config"].block_size)
    training = gpt.Training.resume(args.resume, docs, engine=engine, **device)
    return training, data_name, stored_mode, checkpoint["extra"]


def _train(
    training: Any,
    path: Path | None,
    extra: dict[str, Any],
    every: int,
    quiet: bool,
    snapshots: list[dict[str, Any]] | None,
    temperature: float,
) -> bool:
    """Run to the end (or to Ctrl-C), saving every ``every`` steps (not without a path); True if it finished."""
    from micrograd.app.training import StopRequests, closing_bar, progress_bar

    bar = None if quiet else progress_bar(training.num_steps, training.step)
    plain_every = max(1, training.num_steps // 20)
    snapshot_every = max(1, training.num_steps // 10)
    if snapshots is not None and training.step == 0:
        _snapshot(training, snapshots, temperature)  # the untrained model's names
    with StopRequests() as stop, closing_bar(bar):
        for step, loss in training.run():
            if bar is not None:
                bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)
                bar.update(1)
            elif not quiet and (step % plain_every == 0 or step == training.num_steps):
                _note(f"step {step:4d} / {training.num_steps:4d} | loss {loss:.4f}")
            if snapshots is not None and (step % snapshot_every == 0 or step == training.num_steps):
                _snapshot(training, snapshots, temperature)
            if path is not None and every and step % every == 0 and step < training.num_steps:
                training.save(path, extra=extra)
            if stop.requested:
                break
    return bool(training.done)


def _note(text: str) -> None:
    print(text, file=sys.stderr)


# ----------------------------------------------------------------------
# gpt sample
# ----------------------------------------------------------------------


def sample_command(args: argparse.Namespace) -> int:
    from micrograd import gpt

    path = Path(args.checkpoint) if args.checkpoint is not None else DEFAULT_CHECKPOINT
    if args.checkpoint is None and not path.exists():
        raise GPTUsageError(f"no checkpoint at {path}: run `micrograd gpt train` first, or name one (gpt sample CKPT)")
    model = gpt.load(path)
    unknown = sorted(set(args.prefix) - set(model.chars))
    if unknown:
        raise GPTUsageError(
            f"--prefix {args.prefix!r}: {', '.join(map(repr, unknown))} not in the vocabulary {''.join(model.chars)!r}"
        )
    # Each name is printed as soon as it is drawn: `gpt sample --num 2000 | head -1` shows one at once
    # (and a reader that leaves ends the command quietly, as main() handles a closed pipe).
    for i, name in enumerate(_samples(model, args.num, args.temperature, args.seed, args.prefix), 1):
        print(f"sample {i:2d}: {name}", flush=True)
    return 0


def _samples(model: Any, num: int, temperature: float, seed: int | None, prefix: str) -> Iterator[str]:
    """The model's names; a model too big for the scalar engines computes its logits with PyTorch if installed.

    Either way the draws are the same (``random.choices`` on the same stream with the same weights).
    """
    from importlib.util import find_spec

    from micrograd.gpt.training import SCALAR_MAX_PARAMETERS

    if model.config.num_parameters > SCALAR_MAX_PARAMETERS and find_spec("torch") is not None:
        from micrograd.gpt.torch_engine import sample_with_module
        from micrograd.interop import gpt_to_torch

        return sample_with_module(gpt_to_torch(model), model, num, temperature, seed, prefix)
    names: Iterator[str] = model.samples(num, temperature, seed=seed, prefix=prefix)
    return names
