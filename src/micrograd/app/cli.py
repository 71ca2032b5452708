"""The `micrograd` command line: demo, train, predict, plot.

Every error the user can cause ends as one line on stderr and exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import gc
import json
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO

from micrograd._files import DEFAULT_READ_LIMIT, atomic_write, set_read_limit
from micrograd.app.data import parses_as_float
from micrograd.app.flags import (
    Words,
    add_max_file_option,
    finite_float,
    non_negative_int,
    output_folder,
    positive_float,
    positive_int,
)
from micrograd.outputs import class_name, finite_outputs
from micrograd.viz.graph import DEFAULT_MAX_NODES, EXPLAIN_MAX_NODES, TooManyNodes

__all__ = ["main", "build_parser", "explain_command", "graph_command"]

PathLike = str | os.PathLike[str]


class _Parser(argparse.ArgumentParser):
    """argparse, with the changes a learner needs:

    - a usage error is one line (argparse prints the whole usage block first), named by the
      subcommand it belongs to (``micrograd train: error: ...``);
    - a mistyped flag, subcommand or choice suggests the closest right one;
    - a positional holding numbers or an expression may start with ``-`` (``predict CKPT -0.8,0.2``,
      ``graph "-x"``), and so may any option's value that is a number (``--noise -1e-3``).
    """

    # Set on the subcommands whose positionals hold numbers or expressions: there a word starting
    # with "-" that is no option of the subcommand is input, not a mistyped flag.
    dash_positionals = False

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}{self._dash_value_hint(message)}\n")

    def _dash_value_hint(self, message: str) -> str:
        """``--prefix -a``: argparse takes ``-a`` for a flag ("expected one argument"); show the spelling that works."""
        match = re.fullmatch(r"argument (\S+): expected one argument", message)
        words: list[str] = getattr(self, "_words", [])
        if match is None:
            return ""
        names = match.group(1).split("/")
        for word, after in zip(words, words[1:], strict=False):
            if word in names and after.startswith("-") and after.split("=", 1)[0] not in self._option_string_actions:
                flag = next((name for name in names if name.startswith("--")), names[0])
                return f"; a value that starts with '-' is given with '=': {flag}={after}"
        return ""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        # argparse hands a subcommand's leftover words up to the top parser, which reports them as
        # "micrograd: error: unrecognized arguments", without naming the subcommand or what was meant.
        # So every parser reports its own leftovers; the top one never sees any.
        self._words = [str(word) for word in (sys.argv[1:] if args is None else args)]
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}{self._flag_suggestion(extras)}")
        return parsed, extras

    def _flag_suggestion(self, words: Sequence[str]) -> str:
        flags = [option for action in self._actions for option in action.option_strings if option.startswith("--")]
        for word in words:
            if word.startswith("-"):
                close = difflib.get_close_matches(word.split("=", 1)[0], flags, n=1, cutoff=0.6)
                if close:
                    return f"; did you mean {close[0]}?"
        return ""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            names = [str(choice) for choice in choices]
            close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r}{hint} (choose from {', '.join(map(repr, names))})"
            )
        super()._check_value(action, value)

    def _parse_optional(self, arg_string: str) -> Any:
        # argparse decides here, word by word, whether a word is an option; None means "an input".
        parsed = super()._parse_optional(arg_string)
        if parsed is None or arg_string.startswith("--"):
            return parsed  # "--anything" stays a flag, so a mistyped --flag is reported (with a suggestion)
        # Python 3.12.7+ returns a list of (action, option, separator, value); before, one (action, option, value).
        action, option = (parsed[0] if isinstance(parsed, list) else parsed)[:2]
        if action is None:  # no option of this parser
            return None if self.dash_positionals or parses_as_float(arg_string) else parsed
        # "-o*2" would be option -o with the value "*2": in an expression command it is the expression.
        attached = arg_string != option and not arg_string.startswith(option + "=")
        if self.dash_positionals and attached and not _EXPRESSION_CHARS.isdisjoint(arg_string):
            return None
        return parsed


_EXPRESSION_CHARS = frozenset("*+/()^,% ")


class UserError(Exception):
    """A mistake in the command's input: reported in one line, exit status 2."""


# ----------------------------------------------------------------------
# Argument types: reject bad values at parse time with a clear message (the shared ones in flags.py)
# ----------------------------------------------------------------------


def _hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 16,16, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"hidden sizes must be at least 1, got {text}")
    return sizes


# ----------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------


class LossRiseWatch:
    """Notices, once per run, a loss that has grown tenfold over its best so far.

    Such a loss is what a too-large learning rate looks like before it overflows (mse on circles
    at lr 1 went from 0.98 to 272320 without ever becoming nan), so the advice is a smaller --lr.
    ``train`` prints the warning when the run ends, beside its result: a run that diverges instead
    ends with its one-line error, which gives the same advice.
    """

    RISE = 10.0

    def __init__(self, lr: float, earlier_losses: Sequence[float] = ()) -> None:
        self.lr = lr
        finite = [loss for loss in earlier_losses if math.isfinite(loss)]
        self.best = min(finite) if finite else math.inf  # a resumed run remembers its best
        self.warning: str | None = None  # the first rise's warning, once seen

    def see(self, record: dict[str, float]) -> str | None:
        """The warning if this step's record is the run's first tenfold rise, else None."""
        loss = record["loss"]
        rose = self.best > 0 and loss > self.RISE * self.best
        if rose and self.warning is None:
            step = int(record["step"]) + 1  # records count from 0; messages from 1, as "training diverged at step k"
            self.warning = (f"warning: loss rose from {self.best:.4g} to {loss:.4g} at step {step}; "
                            f"try --lr {self.lr / 10:g}")
            return self.warning
        self.best = min(self.best, loss)
        return None


def _train_loop(run: Any, checkpoint_every: int, show_progress: bool, watch: LossRiseWatch) -> bool:
    """Run to the end (or to Ctrl-C), saving the checkpoint on schedule; True if it finished."""
    from micrograd.app.training import StopRequests, closing_bar, progress_bar

    bar = progress_bar(run.config.steps, run.step) if show_progress else None
    finished = True
    with StopRequests() as stop, closing_bar(bar):
        for record in run.steps():
            watch.see(record)
            if bar is not None:
                postfix = {"loss": f"{record['loss']:.4f}", "acc": f"{100 * record['accuracy']:.1f}%"}
                if "val_accuracy" in record:
                    postfix["val"] = f"{100 * record['val_accuracy']:.1f}%"
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
            if checkpoint_every and run.step % checkpoint_every == 0 and run.step < run.config.steps:
                run.save()
            if stop.requested:
                finished = run.step >= run.config.steps
                break
    run.save()
    return finished


def _cmd_demo(args: argparse.Namespace) -> int:
    from micrograd.app.plots import curves_figure, decision_boundary_figure, save_figure
    from micrograd.app.training import TrainConfig, start_run

    out = Path(args.out)
    config = TrainConfig(steps=args.steps, seed=args.seed)
    run = start_run(config, out, engine=_engine(args))
    began = time.perf_counter()
    # Step k of the page is the parameters after k updates: step 0 before training, then after
    # the first, every snapshot_every-th and the last update, each with its own loss and accuracy.
    snapshots = [_snapshot(run)] if args.html else []
    snapshot_every = max(1, config.steps // 10)
    for _ in run.steps():
        if args.html and (run.step % snapshot_every == 0 or run.step in (1, config.steps)):
            snapshots.append(_snapshot(run))
    seconds = time.perf_counter() - began
    run.save()
    X, y = run.data.X_train, run.data.y_train
    boundary = save_figure(decision_boundary_figure(run.model, X, y, dataset="moons", step=run.step),
                           out / "decision_boundary.png")
    # After the last update (the step the boundary's title names); the page's last snapshot measured it already.
    last = snapshots[-1] if snapshots and snapshots[-1]["step"] == run.step else None
    final_loss, final_accuracy = (last["loss"], last["accuracy"]) if last else run.evaluate()
    final = {"step": run.step, "loss": final_loss, "accuracy": final_accuracy}
    curves = save_figure(curves_figure(run.history, title=f"moons: loss and accuracy, steps 0 to {run.step}",
                                       final=final), out / "training_curves.png")
    print(f"trained MLP 2-16-16-1 on {len(X)} moons points for {config.steps} steps in {seconds:.2f} s"
          f" (engine: {run.engine})")
    print(f"wrote {boundary}, {curves}, {run.checkpoint_path}")
    if args.html:
        from micrograd.viz.html import training_html

        page = atomic_write(out / "training.html", training_html(_training_history(run, snapshots)))  # type: ignore[arg-type]
        print(f"wrote {page}")
    print(f"accuracy {100 * final_accuracy:.1f}%")
    return 0


def _snapshot(run: Any) -> dict[str, Any]:
    """The model as it is now: its boundary, loss and accuracy all of the same parameters."""
    from micrograd.app.plots import decision_grid

    xs, ys, scores = decision_grid(run.model, run.data.X_train, resolution=40)
    loss, accuracy = run.evaluate()
    return {"step": run.step, "loss": loss, "accuracy": accuracy, "grid": {"xs": xs, "ys": ys, "scores": scores}}


def _training_history(run: Any, snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """The page's data. The history's record k is measured on the parameters after k updates (before
    update k+1), so it is the curve's step k; the last snapshot adds the final step, which no record has."""
    curve = [{"step": int(r["step"]), "loss": r["loss"], "accuracy": r["accuracy"]} for r in run.history]
    last = snapshots[-1]
    if not curve or curve[-1]["step"] < last["step"]:
        curve.append({"step": last["step"], "loss": last["loss"], "accuracy": last["accuracy"]})
    title = (f"{run.config.dataset}, {run.data.n_classes} classes, step {last['step']}: "
             f"accuracy {100 * last['accuracy']:.1f}%")
    return {"X": run.data.X_train, "y": run.data.y_train, "curve": curve, "snapshots": snapshots, "title": title}


# The learning rate each loss trains with when --lr is not given, per optimizer: measured on every
# built-in dataset with the command's defaults (200 points, 16,16 relu, 100 steps, linear decay).
# With sgd, mse's gradient grows with the error, so it takes a tenth of hinge's step (at 1 it
# overflowed on moons and climbed to 272320 on circles); ce at 1 exploded on blobs (inputs up to
# +-9) and at 0.3-0.5 its loss still jumped over tenfold there in the first steps. adam's
# normalised steps make one rate fit every loss: 0.03 beat 0.01 on every dataset.
DEFAULT_LR: dict[str, dict[str, float]] = {
    "sgd": {"hinge": 1.0, "bce": 1.0, "mse": 0.1, "ce": 0.2},
    "adam": {"hinge": 0.03, "bce": 0.03, "mse": 0.03, "ce": 0.03},
    "adamw": {"hinge": 0.03, "bce": 0.03, "mse": 0.03, "ce": 0.03},
}


def default_lr(config: Any) -> float:
    """The learning rate for ``config``'s optimizer and loss; "auto" is first resolved from the data's classes."""
    from micrograd.app.training import load_dataset, resolved_loss

    loss = config.loss
    if loss == "auto":
        config.check()  # the data is read to count its classes: refuse a bad setting first, as a run would
        loss = resolved_loss(config, load_dataset(config).n_classes)
    return DEFAULT_LR[config.optimizer][loss]


def _lr_help() -> str:
    """--lr's help: each optimizer's rates, "adam, adamw: 0.03" where every loss shares one."""
    texts: dict[str, list[str]] = {}
    for optimizer, rates in DEFAULT_LR.items():
        shared = set(rates.values())
        text = f"{shared.pop():g}" if len(shared) == 1 else ", ".join(f"{loss} {lr:g}" for loss, lr in rates.items())
        texts.setdefault(text, []).append(optimizer)
    return "learning rate (default: the loss's; " + "; ".join(
        f"{', '.join(optimizers)}: {text}" for text, optimizers in texts.items()) + ")"


def _cmd_train(args: argparse.Namespace) -> int:
    from micrograd.app.training import TrainConfig, resume_run, start_run

    out = Path(args.out)
    if args.resume:
        run = resume_run(Path(args.resume), out, steps=args.steps, engine=_engine(args))
    else:
        config = TrainConfig(
            dataset=args.dataset, n_samples=args.samples, noise=args.noise, hidden=args.hidden,
            activation=args.activation, loss=args.loss, optimizer=args.optimizer,
            lr=args.lr if args.lr is not None else 1.0,  # without --lr: replaced by the loss's default below
            schedule=args.schedule, l2=args.l2, steps=args.steps if args.steps is not None else 100,
            batch_size=args.batch_size, val_fraction=args.val_fraction, seed=args.seed,
        )
        if args.lr is None:
            config.lr = default_lr(config)
        run = start_run(config, out, engine=_engine(args))
    watch = LossRiseWatch(run.config.lr, [record["loss"] for record in run.history])
    finished = _train_loop(run, args.checkpoint_every, show_progress=not args.quiet, watch=watch)
    last = run.history[-1] if run.history else None
    if last is None:
        print(f"nothing to do: checkpoint is already at step {run.step}")
        return 0
    line = f"step {run.step}/{run.config.steps} loss {last['loss']:.6f} accuracy {100 * last['accuracy']:.1f}%"
    if "val_accuracy" in last:
        line += f" val_accuracy {100 * last['val_accuracy']:.1f}%"
    print(line)
    print(f"checkpoint {run.checkpoint_path}")
    if watch.warning is not None:  # not progress: shown with --quiet too
        print(f"micrograd train: {watch.warning}", file=sys.stderr)
    if not finished:
        print("interrupted: resume with --resume " + str(run.checkpoint_path), file=sys.stderr)
        return 130
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from micrograd.app.checkpoint import load_checkpoint_and_model
    from micrograd.engine import Value, no_grad
    from micrograd.losses import softmax
    from micrograd.ops import sigmoid

    saved, model = load_checkpoint_and_model(args.checkpoint)
    try:
        x = [float(part) for part in args.inputs.split(",")]
    except ValueError:
        raise UserError(f"inputs must be numbers separated by commas, got {args.inputs!r}") from None
    if not all(math.isfinite(v) for v in x):  # a NaN input would come out as a confident "class 0"
        raise UserError(f"inputs must be finite numbers, got {args.inputs!r}")
    if len(x) != model.nin:
        raise UserError(f"the model takes {model.nin} inputs, got {len(x)}")
    with no_grad():
        out = model(x)
        # The boundary: a nan or inf score is refused in one line, never printed as a confident class.
        what = f"the model's output for the inputs {args.inputs}"
        scores = finite_outputs(what, [out.data] if isinstance(out, Value) else [o.data for o in out])
        if len(scores) == 1 and _trained_loss(saved) != "bce":  # hinge and mse train a score, not a probability
            print(f"{class_name(1 if scores[0] > 0 else 0)} (score {scores[0]:.6f})")
            return 0
        # bce trains sigmoid(score) to be the probability of class 1; ce trains softmax(scores) to be all of them
        if len(scores) == 1:
            class_1 = sigmoid(scores[0])
            probabilities = [1.0 - class_1, class_1]
        else:
            probabilities = [p.data for p in softmax(scores)]
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    shown = ", ".join(f"{class_name(i)} {p:.4f}" for i, p in enumerate(probabilities))
    print(f"{class_name(best)} (probabilities: {shown})")
    return 0


def _trained_loss(saved: dict[str, Any]) -> str | None:
    """The loss a checkpoint's model was trained with (None if the file does not say), from its config."""
    extra = saved.get("extra")
    config = extra.get("config") if isinstance(extra, dict) else None
    loss = config.get("loss") if isinstance(config, dict) else None
    return loss if isinstance(loss, str) else None


def _cmd_plot(args: argparse.Namespace) -> int:
    from micrograd.app.checkpoint import load_checkpoint_and_model
    from micrograd.app.plots import decision_boundary_figure, save_figure
    from micrograd.app.training import TrainConfig, load_dataset

    path = Path(args.checkpoint)
    saved, model = load_checkpoint_and_model(path)
    if model.nin != 2:
        raise UserError(f"decision boundaries need 2-D inputs; this model takes {model.nin}")
    extra = saved.get("extra") or {}
    if not isinstance(extra, dict) or not isinstance(extra.get("config"), dict):
        raise UserError(f"{path}: checkpoint does not say which data it was trained on")
    data = load_dataset(TrainConfig.from_checkpoint(saved, path))
    out = Path(args.output) if args.output else path.with_name("decision_boundary.png")
    figure = decision_boundary_figure(model, data.X_train, data.y_train, dataset=str(extra["config"].get("dataset")),
                                      step=saved.get("step"))  # fmt: skip
    save_figure(figure, out)
    print(f"wrote {out}")
    return 0


# The notebooks of examples/notebooks/ in the lecture's order: it starts with nudging (01), then builds Value (00).
TOUR_NOTEBOOKS = (
    ("01_derivative_by_nudging.ipynb", "the derivative by nudging"),
    ("00_build_your_own_value.ipynb", "type the lecture's Value yourself, _backward closures and all"),
    ("02_value_and_expression_graph.ipynb", "Value and the expression graph, drawn"),
    ("03_manual_backprop.ipynb", "the chain rule by hand, node by node"),
    ("04_backprop_through_a_neuron.ipynb", "backprop through a tanh neuron"),
    ("05_backward_per_op_and_topological_sort.ipynb", "a backward rule per op, and the topological order"),
    ("06_training_an_mlp.ipynb", "training an MLP"),
    ("07_moons_demo.ipynb", "the moons demo"),
    ("08_from_micrograd_to_gpt.ipynb", "from micrograd to GPT"),
)

NEURON = "n = x1*w1 + x2*w2 + b; o = tanh(n)"
NEURON_SETTINGS = "--set x1=2 --set x2=0 --set w1=-3 --set w2=1 --set b=6.8813735870195432"


def _cmd_tour(args: argparse.Namespace) -> int:
    """The guided start: the lecture's path from a nudged derivative to GPT, computed here, then where to go next."""
    print("micrograd tour: the path of Karpathy's micrograd lecture, each step computed here\n")
    _tour_nudging()
    _tour_chain_rule()
    _tour_neuron()
    _tour_mlp()
    print("\n9. microgpt. The same Values, grown into a GPT that learns to make up names (Embedding, attention,")
    print("   Adam): `micrograd gpt train` trains Karpathy's microgpt, `micrograd gpt sample` draws new names.")
    print("\n10. GPT at scale. The same chain rule, one backward rule per op, on tensors instead of single numbers")
    print("    (PyTorch on GPUs): nothing new in the calculus, only in the size.")
    _tour_next()
    print(engine_text())
    return 0


def _tour_nudging() -> None:
    def f(x: float) -> float:
        return 3 * x**2 - 4 * x + 5

    h = 0.001
    print("1. The derivative by nudging. f(x) = 3x**2 - 4x + 5 at x = 3: nudge x by h = 0.001, and")
    print(f"   (f(x + h) - f(x)) / h = {(f(3 + h) - f(3)) / h:.4f}, close to the exact slope 6x - 4 = 14.")


def _tour_chain_rule() -> None:
    from micrograd.engine import Value

    a, b, c, f = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c"), Value(-2.0, label="f")
    e = a * b
    d = e + c
    L = d * f
    print("\n2. Value: a number that remembers how it was made. With a = 2, b = -3, c = 10, f = -2:")
    print(f"   e = a*b = {e.data:g}, d = e + c = {d.data:g}, L = d*f = {L.data:g}; L's inputs are d and f, by '*'.")
    print("\n3. The graph drawn: boxes for the values, small nodes for the ops. Draw it yourself:")
    print('   micrograd graph "e = a*b; d = e + c; L = d*f" --set a=2 --set b=-3 --set c=10 --set f=-2 -o L.svg')
    L.backward()
    print("\n4. The chain rule, node by node from L back (dL/dL = 1): each input's grad is the local derivative")
    print("   times the grad of the node it feeds:")
    print(f"   dL/dd = f = {d.grad:g}   dL/df = d = {f.grad:g}   dL/de = dL/dd * 1 = {e.grad:g}   "
          f"dL/dc = dL/dd * 1 = {c.grad:g}")
    print(f"   dL/da = dL/de * b = {a.grad:g}   dL/db = dL/de * a = {b.grad:g}   (L.backward() gives the same)")
    print("\n5. A backward rule per op, each its own small function: + hands its grad to both inputs; * gives each")
    print("   input the grad times the other input; tanh gives grad * (1 - out**2); x**n gives grad * n * x**(n-1).")


def _tour_neuron() -> None:
    from micrograd.engine import Value, topological_order

    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    order = topological_order(o)
    o.backward()
    names = ", ".join(v.label or v._op for v in reversed(order))
    print("\n6. Topological order: backward() runs each node's rule only after every node that uses it has passed")
    print(f"   its grad on. For the neuron of step 7 ({len(order)} nodes), from the output back: {names}.")
    print("\n7. A tanh neuron, forward and backward:")
    print(f"o = tanh(x1*w1 + x2*w2 + b) = {o.data:.4f}")
    print(f"grads: x1 {x1.grad:.4f}  w1 {w1.grad:.4f}  x2 {x2.grad:.4f}  w2 {w2.grad:.4f}")


def _tour_mlp() -> None:
    import random

    from micrograd.engine import Value
    from micrograd.nn import MLP

    state = random.getstate()  # the weights are drawn from a seeded stream; the caller's is left as it was
    try:
        random.seed(1337)
        model = MLP(3, [4, 4, 1], activation="tanh")
    finally:
        random.setstate(state)
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    losses = []
    for _ in range(20):
        loss = Value(0.0)
        for x, y in zip(xs, ys, strict=True):
            out = model(x)
            assert isinstance(out, Value)  # one output
            loss = loss + (out - y) ** 2
        losses.append(loss.data)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad
    print("\n8. An MLP of such neurons, MLP(3, [4, 4, 1]), on the lecture's four examples: 20 steps of gradient")
    print(f"   descent take the squared-error loss from {losses[0]:.4f} to {losses[-1]:.4f}.")


def _tour_next() -> None:
    print("\nNext, try it yourself:")
    print(f'  micrograd explain "{NEURON}" {NEURON_SETTINGS} --html')
    print("      every step of the backward pass in words, and a page that steps through it in a browser")
    print(f'  micrograd graph "{NEURON}" {NEURON_SETTINGS} -o neuron.svg')
    print("      the neuron's graph with every data and grad")
    print("  the notebooks in examples/notebooks/, in the lecture's order:")
    for number, (name, what) in enumerate(TOUR_NOTEBOOKS, 1):
        print(f"    {number}. {name}: {what}")


def engine_text() -> str:
    """Which engine runs: the C accelerator or the reference engine.py, and how to switch."""
    from micrograd import engine

    if engine.backend == "native":
        return "engine: native (the C accelerator; MICROGRAD_PURE=1 runs the reference engine.py instead)"
    if os.environ.get("MICROGRAD_PURE", "") not in ("", "0"):
        return "engine: python (the reference engine.py, chosen by MICROGRAD_PURE)"
    return "engine: python (the reference engine.py; the C accelerator is not built)"


def version_text() -> str:
    from micrograd import __version__, engine

    why = {"native": "the C accelerator"}.get(engine.backend, "the reference engine.py")
    return f"micrograd {__version__} (engine: {engine.backend}, {why})"


def _cmd_explain(args: argparse.Namespace) -> int:
    return explain_command(args.expression, args.settings, html=args.html, check=args.check,
                           max_nodes=args.max_nodes)


def _cmd_graph(args: argparse.Namespace) -> int:
    return graph_command(args.expression, args.settings, output=args.output, rankdir=args.rankdir,
                         color_by_grad=args.color_by_grad, show_order=args.show_order, max_nodes=args.max_nodes)




@contextmanager
def _max_nodes_as_flag() -> Iterator[None]:
    """Reword the library's "pass max_nodes=N" (advice for Python) as the flag the command line has."""
    try:
        yield
    except TooManyNodes as error:
        raise UserError(
            f"the graph has {error.count:,} values, more than --max-nodes {error.max_nodes}; pass --max-nodes "
            f"{error.count} to draw it anyway (the picture will be big and hard to read), or give a smaller expression"
        ) from None


def explain_command(
    expression: str,
    settings: Sequence[str] = (),
    *,
    html: PathLike | None = None,
    check: bool = True,
    max_nodes: int = EXPLAIN_MAX_NODES,
    file: TextIO | None = None,
) -> int:
    """``micrograd explain EXPR --set x=2 ... [--html out.html]``; returns the exit code 0.

    Raises ExpressionError (a ValueError) for a bad expression or ``--set``,
    OSError if the page cannot be written.
    """
    from micrograd.app.expr import evaluate, parse_settings
    from micrograd.viz import explain, to_html

    out = file if file is not None else sys.stdout
    root = evaluate(expression, parse_settings(settings))
    with _max_nodes_as_flag():
        explain(root, file=out, check=check, max_nodes=max_nodes)
        if html is not None:
            page = to_html(root, title=expression, max_nodes=max_nodes)
            if os.fspath(html) == EXPLAIN_PAGE:  # the page's default place: micrograd-out/ is made if missing
                folder = os.path.dirname(EXPLAIN_PAGE)
                if os.path.exists(folder) and not os.path.isdir(folder):
                    raise UserError(f"cannot write {EXPLAIN_PAGE}: {folder} is not a folder; name a page: --html FILE")
                os.makedirs(folder, exist_ok=True)
            atomic_write(html, page)  # a failed write leaves an earlier page whole
            out.write(f"\nwrote {html}: open it in a browser and step with the arrow keys\n")
    return 0


def graph_command(
    expression: str,
    settings: Sequence[str] = (),
    *,
    output: PathLike = "graph.svg",
    rankdir: str = "LR",
    color_by_grad: bool = False,
    show_order: bool = False,
    max_nodes: int = DEFAULT_MAX_NODES,
    file: TextIO | None = None,
) -> int:
    """``micrograd graph EXPR --set x=2 ... -o out.svg``: draw the graph after the backward pass.

    The format comes from the output's suffix (.svg, .png, .pdf, or .dot for
    the DOT text). Returns 0. Raises ExpressionError (ValueError) for bad
    input and RendererNotFound / RenderError (OSErrors) when drawing fails;
    without a renderer the DOT text is still written next to ``output``.
    """
    from micrograd.app.expr import evaluate, parse_settings
    from micrograd.viz import draw_dot

    root = evaluate(expression, parse_settings(settings))
    root.backward()
    with _max_nodes_as_flag():
        graph = draw_dot(root, rankdir=rankdir, color_by_grad=color_by_grad, show_order=show_order,
                         max_nodes=max_nodes)
    written = graph.write(output)
    (file if file is not None else sys.stdout).write(f"wrote {written}\n")
    return 0


# ----------------------------------------------------------------------
# The parser
# ----------------------------------------------------------------------


# Each kind of run has its own default folder, so that none replaces another's checkpoint; `gpt train`
# writes micrograd-out/gpt (gpt_command.DEFAULT_OUT). The demo keeps the folder the README shows.
DEMO_OUT = "micrograd-out"
TRAIN_OUT = os.path.join("micrograd-out", "train")
EXPLAIN_PAGE = os.path.join("micrograd-out", "explain.html")  # `explain --html` without a file name

ENGINE_HELP = (
    "how each step computes gradients: eager (a graph of Values), compiled (recorded once, run as generated "
    "Python), numpy (recorded once, replayed with numpy arrays); all give the same numbers. "
    "auto (default): the fastest installed that supports the loss"
)


def _engine_choices() -> Words:
    from micrograd._engine_names import OLD_SPELLINGS
    from micrograd.app.training import ENGINES

    return Words(("auto", *ENGINES), [old for old, new in OLD_SPELLINGS.items() if new in ENGINES])


def _engine(args: argparse.Namespace) -> str:
    """``--engine`` in today's words: an old one ("batched") is translated, with a one-line note."""
    from micrograd._engine_names import canonical_engine

    return canonical_engine(args.engine, tuple(_engine_choices()), "--engine")


def _add_train_parser(sub: Any, engines: Sequence[str]) -> argparse.ArgumentParser:
    from micrograd.app.training import DATASETS, LOSSES, OPTIMIZERS, SCHEDULES
    from micrograd.nn import ACTIVATIONS

    hidden_activations = [name for name in ACTIVATIONS if name != "linear"]  # linear hidden layers add nothing
    train = sub.add_parser("train", help="train an MLP on a dataset, with checkpoints")
    train.add_argument("--dataset", default="moons", help=f"{', '.join(DATASETS)} or csv:PATH (default: moons)")
    train.add_argument("--samples", type=positive_int, default=200, help="points to generate (default: 200)")
    train.add_argument("--noise", type=finite_float, default=0.1, help="noise of generated data (default: 0.1)")
    train.add_argument("--hidden", type=_hidden_sizes, default=[16, 16], help="hidden layer sizes (default: 16,16)")
    train.add_argument("--activation", default="relu", choices=hidden_activations)
    train.add_argument("--loss", default="auto", choices=("auto",) + LOSSES,
                       help="default: hinge for two classes, ce for more")
    train.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS)
    train.add_argument("--lr", type=positive_float, default=None, help=_lr_help())
    train.add_argument("--schedule", default="linear", choices=SCHEDULES, help="learning-rate schedule")
    train.add_argument("--l2", type=finite_float, default=1e-4, help="L2 penalty alpha*sum(p*p) (default: 1e-4)")
    train.add_argument("--steps", type=positive_int, default=None,
                       help="total steps, also when resuming (default: 100)")
    train.add_argument("--batch-size", type=non_negative_int, default=0, help="examples per step, 0 = all")
    train.add_argument("--val-fraction", type=finite_float, default=0.2, help="held out for validation (default: 0.2)")
    train.add_argument("--seed", type=int, default=0, help="seed for data, weights and batches (default: 0)")
    train.add_argument("--out", default=TRAIN_OUT, type=output_folder,
                       help=f"output folder; the checkpoint is OUT/checkpoint.json (default: {TRAIN_OUT})")
    train.add_argument("--resume", metavar="CKPT", help="continue a run from its checkpoint")
    train.add_argument("--checkpoint-every", type=non_negative_int, default=10,
                       help="save every N steps (default: 10)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--engine", default="auto", choices=engines, help=ENGINE_HELP)
    train.set_defaults(handler=_cmd_train)
    parser: argparse.ArgumentParser = train
    return parser


def build_parser() -> argparse.ArgumentParser:
    engines = _engine_choices()
    parser = _Parser(prog="micrograd", description="A tiny autograd engine: train, predict, plot, explain.")
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_demo_parser(sub, engines)
    train = _add_train_parser(sub, engines)
    predict, plot = _add_model_parsers(sub)
    _add_explain_parser(sub)
    _add_graph_parser(sub)
    for reader in (train, predict, plot):
        add_max_file_option(reader)

    tour = sub.add_parser("tour", help="a forward and backward pass through one neuron")
    tour.set_defaults(handler=_cmd_tour)

    from micrograd.app.gpt_command import add_gpt_command

    add_gpt_command(sub)
    return parser


def _add_demo_parser(sub: Any, engines: Sequence[str]) -> None:
    demo = sub.add_parser("demo", help="train the original moons demo and write its pictures and checkpoint")
    demo.add_argument("--out", default=DEMO_OUT, type=output_folder, help=f"output folder (default: {DEMO_OUT})")
    demo.add_argument("--steps", type=positive_int, default=100, help="training steps (default: 100)")
    demo.add_argument("--seed", type=int, default=1337, help="seed for data and weights (default: 1337)")
    demo.add_argument("--html", action="store_true", help="also write training.html, an interactive page of the run")
    demo.add_argument("--engine", default="auto", choices=engines, help=ENGINE_HELP)
    demo.set_defaults(handler=_cmd_demo)


def _add_model_parsers(sub: Any) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """``predict`` and ``plot``: the commands that read a trained MLP's checkpoint."""
    predict = sub.add_parser("predict", help="run a trained model on one input")
    predict.add_argument("checkpoint", help="checkpoint.json written by train or demo")
    predict.add_argument("inputs", help="comma-separated input values, e.g. 0.5,-0.2")
    predict.set_defaults(handler=_cmd_predict)
    predict.dash_positionals = True

    plot = sub.add_parser("plot", help="draw a trained model's decision boundary (2-D data)")
    plot.add_argument("checkpoint", help="checkpoint.json written by train or demo")
    plot.add_argument("-o", "--output",
                      help="picture to write: .png, .svg or .pdf (default: decision_boundary.png by the checkpoint)")
    plot.set_defaults(handler=_cmd_plot)
    return predict, plot


def _add_explain_parser(sub: Any) -> None:
    explain_parser = sub.add_parser("explain", help="print every step of the backward pass of an expression")
    explain_parser.add_argument("expression", help="e.g. 'n = x1*w1 + x2*w2 + b; o = tanh(n)'")
    explain_parser.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                                help="the value of an input name; repeat for each input")
    explain_parser.add_argument("--html", metavar="FILE", nargs="?", const=EXPLAIN_PAGE,
                                help="also write a page that steps through the backward pass "
                                f"(FILE left out: {EXPLAIN_PAGE})")
    explain_parser.add_argument("--no-check", dest="check", action="store_false", help="skip the numerical check")
    explain_parser.add_argument("--max-nodes", type=positive_int, default=EXPLAIN_MAX_NODES,
                                help=f"refuse larger graphs (default {EXPLAIN_MAX_NODES})")
    explain_parser.set_defaults(handler=_cmd_explain)
    explain_parser.dash_positionals = True


def _add_graph_parser(sub: Any) -> None:
    graph_parser = sub.add_parser("graph", help="draw an expression's graph after the backward pass")
    graph_parser.add_argument("expression", help="e.g. 'tanh(x*w + b)'")
    graph_parser.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                              help="the value of an input name; repeat for each input")
    graph_parser.add_argument("-o", "--output", default="graph.svg", metavar="FILE",
                              help="where to write; the suffix picks the format: .svg, .png, .pdf or .dot")
    graph_parser.add_argument("--rankdir", choices=["LR", "TB", "RL", "BT"], default="LR", help="layout direction")
    graph_parser.add_argument("--color-by-grad", action="store_true", help="fill each box by |grad|")
    graph_parser.add_argument("--show-order", action="store_true", help="number the boxes in topological order")
    graph_parser.add_argument("--max-nodes", type=positive_int, default=DEFAULT_MAX_NODES,
                              help=f"refuse larger graphs (default {DEFAULT_MAX_NODES})")
    graph_parser.set_defaults(handler=_cmd_graph)
    graph_parser.dash_positionals = True


def _command_name(args: argparse.Namespace) -> str:
    """The words that named the command, as argparse's own errors name it: ``micrograd gpt train``."""
    words = ["micrograd", args.command]
    if getattr(args, "gpt_command", None):
        words.append(args.gpt_command)
    return " ".join(words)


@contextmanager
def notes_on_stderr(command: Callable[[], str]) -> Iterator[None]:
    """Within the block, a FutureWarning (an old spelling that still works, such as ``--engine batched``)
    is one line on stderr, ``micrograd train: note: ...``, instead of Python's warning with its file and
    source line, from rank 0 alone under torchrun. ``command`` gives the words that name the command,
    once they are known.
    Other warnings are shown as Python shows them."""
    with warnings.catch_warnings():  # puts the filters and showwarning back afterwards
        warnings.simplefilter("default", FutureWarning)  # each notice once per place, even if filtered out
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            if not issubclass(category, FutureWarning):
                shown(message, category, filename, lineno, file, line)
                return
            if os.environ.get("RANK", "0") != "0":
                return  # one of several torchrun processes: rank 0 says it once for all
            text = str(message).strip().splitlines()
            print(f"{command()}: note: {text[0] if text else category.__name__}", file=sys.stderr)

        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    parsed: list[argparse.Namespace] = []
    with notes_on_stderr(lambda: _command_name(parsed[0]) if parsed else "micrograd"):
        parser = build_parser()
        args = parser.parse_args(argv)
        parsed.append(args)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 0
        set_read_limit(args.max_file_mb * 2**20 if getattr(args, "max_file_mb", None) else DEFAULT_READ_LIMIT)
        return _run(args)


def console_main() -> int:
    """The ``micrograd`` command (and ``python -m micrograd``): ``main()``, after which the process ends."""
    status = main()
    # Python's last act before exit is a full collection over every object alive, only to find that
    # all of them go with the process anyway. After `gpt train` that is a recorded graph and its
    # plan, tens of thousands of objects: freezing them skips the walk (22 ms of a 0.4 s run).
    # Not in main(), which tests and notebooks call in a process that goes on; and not once torch is
    # loaded, whose objects (a torchrun rank's process group and its threads) must be collected
    # before the interpreter ends, or a rank can abort at exit.
    if "torch" not in sys.modules:
        gc.freeze()
    return status


def _run(args: argparse.Namespace) -> int:
    """The command's handler; whatever the user can cause ends as one line on stderr and an exit status."""
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("micrograd: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`micrograd demo | head -1`): as for any Unix tool, not an error to
        # report. Point stdout at /dev/null so that Python's final flush cannot complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the signal
    except (UserError, ValueError, TypeError, KeyError, OSError, ImportError, json.JSONDecodeError) as err:
        message = str(err) if not isinstance(err, KeyError) else str(err.args[0] if err.args else err)
        if isinstance(err, FileNotFoundError) and err.filename:
            message = f"no such file: {err.filename}"
        print(f"{_command_name(args)}: error: {message.splitlines()[0] if message else type(err).__name__}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(console_main())
