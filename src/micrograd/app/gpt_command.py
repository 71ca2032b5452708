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
``--engine compiled`` (the default when numpy is installed) replays a recorded
graph instead of building Values every step; ``--html`` also writes ``OUT/gpt.html``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from micrograd.app.flags import (
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
ENGINES = ("auto", "eager", "compiled")

# The settings of a new run, with their defaults; on --resume they come from the checkpoint.
_RUN_DEFAULTS: dict[str, Any] = {
    "steps": 1000,
    "seed": 42,
    "n_embd": 16,
    "n_head": 4,
    "n_layer": 1,
    "block_size": 16,
    "lr": 0.01,
}


class GPTUsageError(ValueError):
    """A mistake in the command's input: one line on stderr, exit status 2 (as every ValueError in main)."""


def add_gpt_command(sub: Any) -> None:
    """Add ``gpt train`` and ``gpt sample`` to the ``micrograd`` parser's subcommands."""
    gpt = sub.add_parser("gpt", help="train Karpathy's microgpt on names and sample new ones")
    commands = gpt.add_subparsers(dest="gpt_command", metavar="COMMAND", parser_class=type(gpt))
    gpt.set_defaults(handler=lambda args: _help(gpt))

    train = commands.add_parser("train", help="train a GPT as microgpt.py does, then print sampled names")
    train.add_argument("--data", metavar="PATH", help="one document per line (default: the shipped names.txt)")
    train.add_argument("--steps", type=positive_int, help="training steps, one document each (default: 1000)")
    train.add_argument("--seed", type=whole_number,
                       help="seed of the document order, weights and samples (default: 42)")
    train.add_argument("--n-embd", type=positive_int, help="embedding size (default: 16)")
    train.add_argument("--n-head", type=positive_int, help="attention heads; must divide --n-embd (default: 4)")
    train.add_argument("--n-layer", type=positive_int, help="transformer layers (default: 1)")
    train.add_argument("--block-size", type=positive_int, help="longest sequence, BOS included (default: 16)")
    train.add_argument("--lr", type=positive_float, help="learning rate, decayed linearly to 0 (default: 0.01)")
    train.add_argument("--engine", default="auto", choices=ENGINES,
                       help="eager: a graph of Values every step; compiled: recorded once per document length, "
                       "replayed with numpy (the same losses); auto (default): compiled when numpy is installed")
    train.add_argument("--samples", type=non_negative_int, default=20, help="names to print at the end (default: 20)")
    train.add_argument("--temperature", type=temperature, default=0.5, help=TEMPERATURE_HELP)
    train.add_argument("--out", metavar="DIR", type=output_folder,
                       help=f"output folder for checkpoint.json (default: {DEFAULT_OUT}, or CKPT's with --resume)")
    train.add_argument("--checkpoint-every", type=non_negative_int, default=100, metavar="N",
                       help="also save every N steps; 0: only at the end (default: 100)")
    train.add_argument("--resume", metavar="CKPT", help="continue the run saved in CKPT exactly")
    train.add_argument("--quiet", action="store_true", help="no progress bar and no notes: only the names")
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
    from micrograd import gpt

    quiet = args.quiet
    engine = _engine(args.engine)
    saved_extra: dict[str, Any] = {}
    if args.resume:
        training, data_name, saved_extra = _resume(args, engine)
    else:
        settings = {key: getattr(args, key) if getattr(args, key) is not None else default
                    for key, default in _RUN_DEFAULTS.items()}
        _check_sizes(settings)
        data_path = _data_path(args.data)
        docs = gpt.read_documents(data_path)
        training = gpt.Training.start(docs, **settings, engine=engine)
        data_name = args.data
    out = Path(args.out) if args.out else (Path(args.resume).parent if args.resume else DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CHECKPOINT_NAME
    extra: dict[str, Any] = {"data": data_name}
    snapshots: list[dict[str, Any]] | None = None
    if args.html:
        kept = saved_extra.get("samples_over_training")
        snapshots = extra["samples_over_training"] = list(kept) if isinstance(kept, list) else []

    model = training.model
    if not quiet:
        c = model.config
        _note(f"{len(training.docs):,} documents, vocabulary of {c.vocab_size} (BOS included), "
              f"{c.num_parameters:,} parameters; step {training.step} of {training.num_steps} (engine: {engine})")
    began = time.perf_counter()
    finished = _train(training, path, extra, args.checkpoint_every, quiet, snapshots, args.temperature)
    seconds = time.perf_counter() - began
    training.save(path, extra=extra)
    if not finished:
        print(f"micrograd gpt: interrupted at step {training.step}; resume with --resume {path}", file=sys.stderr)
        return 130
    if not quiet:
        last = training.history[-1]["loss"] if training.history else float("nan")
        _note(f"step {training.step} / {training.num_steps} | loss {last:.4f} | {seconds:.1f} s; wrote {path}")
    names = model.generate(args.samples, args.temperature)
    if snapshots is not None:
        page = _write_page(training, names, snapshots, out, data_name)
        if not quiet:
            _note(f"wrote {page}")
    for i, name in enumerate(names, 1):
        print(f"sample {i:2d}: {name}")
    return 0


SNAPSHOT_NAMES = 8  # names drawn for the page at each snapshot step


def _snapshot(training: Any, snapshots: list[dict[str, Any]], temperature: float) -> None:
    """Names drawn now, with the run's seed every time (so snapshots differ only by the model): for --html."""
    seed = training.seed if training.seed is not None else 0
    names = training.model.generate(SNAPSHOT_NAMES, temperature, seed=seed)
    snapshots.append({"step": training.step, "names": names})


def _write_page(training: Any, names: list[str], snapshots: list[dict[str, Any]], out: Path,
                data_name: str | None) -> Path:
    from micrograd._files import atomic_write
    from micrograd.viz.gpt_page import attention_map, gpt_html

    model = training.model
    chosen = [name for name in dict.fromkeys(names) if name] + training.docs[:3]
    attention = [attention_map(model, name) for name in dict.fromkeys(chosen)]
    c = model.config
    summary = (
        f"{training.num_steps} steps on {len(training.docs):,} documents of {data_name or 'names.txt'}; "
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


def _data_path(data: str | None) -> Path:
    if data is None:
        from micrograd.datasets import names_path

        return names_path()
    return Path(data)


def _engine(choice: str) -> str:
    """auto: compiled when numpy is installed, else eager; compiled without numpy is refused."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        if choice == "compiled":
            raise GPTUsageError("--engine compiled needs numpy: pip install 'micrograd[fast]'") from None
        return "eager"
    return "compiled" if choice == "auto" else choice


def _resume(args: argparse.Namespace, engine: str) -> tuple[Any, str | None, dict[str, Any]]:
    """The saved run, refusing settings on the command line that differ from the checkpoint's."""
    from micrograd import gpt

    checkpoint = gpt.load_checkpoint(args.resume)
    info = checkpoint["extra"].get("training")
    if not isinstance(info, dict):
        raise GPTUsageError(f"{args.resume}: this checkpoint holds no training run to resume")
    saved = {**checkpoint["config"].as_dict(), "steps": info["steps"], "seed": info["seed"], "lr": info["lr"]}
    for key in _RUN_DEFAULTS:
        given = getattr(args, key)
        if given is not None and given != saved[key]:
            flag = "--" + key.replace("_", "-")
            raise GPTUsageError(
                f"{flag} {given} differs from the checkpoint's {saved[key]}; a resumed run keeps its settings"
            )
    stored = checkpoint["extra"].get("data")
    data_name = args.data if args.data is not None else (stored if isinstance(stored, str) else None)
    docs = gpt.read_documents(_data_path(data_name))
    return gpt.Training.resume(args.resume, docs, engine=engine), data_name, checkpoint["extra"]


def _train(
    training: Any,
    path: Path,
    extra: dict[str, Any],
    every: int,
    quiet: bool,
    snapshots: list[dict[str, Any]] | None,
    temperature: float,
) -> bool:
    """Run to the end (or to Ctrl-C), saving every ``every`` steps; True if it finished."""
    from micrograd.app.training import StopRequests

    bar = None if quiet else _progress_bar(training.num_steps, training.step)
    plain_every = max(1, training.num_steps // 20)
    snapshot_every = max(1, training.num_steps // 10)
    if snapshots is not None and training.step == 0:
        _snapshot(training, snapshots, temperature)  # the untrained model's names
    with StopRequests() as stop:
        for step, loss in training.run():
            if bar is not None:
                bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)
                bar.update(1)
            elif not quiet and (step % plain_every == 0 or step == training.num_steps):
                _note(f"step {step:4d} / {training.num_steps:4d} | loss {loss:.4f}")
            if snapshots is not None and (step % snapshot_every == 0 or step == training.num_steps):
                _snapshot(training, snapshots, temperature)
            if every and step % every == 0 and step < training.num_steps:
                training.save(path, extra=extra)
            if stop.requested:
                break
    if bar is not None:
        bar.close()
    return bool(training.done)


def _progress_bar(total: int, initial: int) -> Any:
    """A tqdm bar on stderr when tqdm is installed (the `cli` extra); else None, and plain lines are printed."""
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc="training", unit="step", leave=False, file=sys.stderr)


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
    for i, name in enumerate(model.samples(args.num, args.temperature, seed=args.seed, prefix=args.prefix), 1):
        print(f"sample {i:2d}: {name}", flush=True)
    return 0
