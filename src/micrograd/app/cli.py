"""The `micrograd` command line: demo, train, predict, plot.

Every error the user can cause ends as one line on stderr and exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from micrograd._files import DEFAULT_READ_LIMIT, set_read_limit
from micrograd.app.flags import add_max_file_option, finite_float, non_negative_int, positive_float, positive_int
from micrograd.viz.graph import DEFAULT_MAX_NODES

__all__ = ["main", "build_parser", "explain_command", "graph_command"]

PathLike = str | os.PathLike[str]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


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


def _progress(total: int, initial: int, enabled: bool) -> Any:
    """A tqdm bar when tqdm is installed and wanted; otherwise None (plain lines are printed instead)."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc="training", unit="step", leave=False, file=sys.stderr)


def _train_loop(run: Any, checkpoint_every: int, show_progress: bool) -> bool:
    """Run to the end (or to Ctrl-C), saving the checkpoint on schedule; True if it finished."""
    from micrograd.app.training import StopRequests

    bar = _progress(run.config.steps, run.step, show_progress)
    finished = True
    with StopRequests() as stop:
        for record in run.steps():
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
    if bar is not None:
        bar.close()
    run.save()
    return finished


def _cmd_demo(args: argparse.Namespace) -> int:
    from micrograd.app.plots import curves_figure, decision_boundary_figure, save_figure
    from micrograd.app.training import TrainConfig, accuracy, start_run

    out = Path(args.out)
    config = TrainConfig(steps=args.steps, seed=args.seed)
    run = start_run(config, out, engine=args.engine)
    began = time.perf_counter()
    snapshots = []
    snapshot_every = max(1, config.steps // 10)
    for record in run.steps():
        if args.html and (run.step % snapshot_every == 0 or run.step == 1):
            snapshots.append(_snapshot(run, record))
    seconds = time.perf_counter() - began
    run.save()
    X, y = run.data.X_train, run.data.y_train
    final_accuracy = accuracy(run.model, X, y)  # after the last update, not before it
    boundary = save_figure(decision_boundary_figure(run.model, X, y, title="moons: decision boundary"),
                           out / "decision_boundary.png")
    curves = save_figure(curves_figure(run.history, title="moons: loss and accuracy"), out / "training_curves.png")
    print(f"trained MLP 2-16-16-1 on {len(X)} moons points for {config.steps} steps in {seconds:.2f} s"
          f" (engine: {run.engine})")
    print(f"wrote {boundary}, {curves}, {run.checkpoint_path}")
    if args.html:
        from micrograd._files import atomic_write
        from micrograd.viz.html import training_html

        page = atomic_write(out / "training.html", training_html(_training_history(run, snapshots)))  # type: ignore[arg-type]
        print(f"wrote {page}")
    print(f"accuracy {100 * final_accuracy:.1f}%")
    return 0


def _snapshot(run: Any, record: dict[str, float]) -> dict[str, Any]:
    from micrograd.app.plots import decision_grid

    xs, ys, scores = decision_grid(run.model, run.data.X_train, resolution=40)
    return {"step": run.step, "loss": record["loss"], "accuracy": record["accuracy"],
            "grid": {"xs": xs, "ys": ys, "scores": scores}}


def _training_history(run: Any, snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    return {"X": run.data.X_train, "y": run.data.y_train, "curve": run.history, "snapshots": snapshots}


def _cmd_train(args: argparse.Namespace) -> int:
    from micrograd.app.training import TrainConfig, resume_run, start_run

    out = Path(args.out)
    if args.resume:
        run = resume_run(Path(args.resume), out, steps=args.steps, engine=args.engine)
    else:
        config = TrainConfig(
            dataset=args.dataset, n_samples=args.samples, noise=args.noise, hidden=args.hidden,
            activation=args.activation, loss=args.loss, optimizer=args.optimizer,
            lr=args.lr if args.lr is not None else (1.0 if args.optimizer == "sgd" else 0.01),
            schedule=args.schedule, l2=args.l2, steps=args.steps if args.steps is not None else 100,
            batch_size=args.batch_size, val_fraction=args.val_fraction, seed=args.seed,
        )
        run = start_run(config, out, engine=args.engine)
    finished = _train_loop(run, args.checkpoint_every, show_progress=not args.quiet)
    last = run.history[-1] if run.history else None
    if last is None:
        print(f"nothing to do: checkpoint is already at step {run.step}")
        return 0
    line = f"step {run.step}/{run.config.steps} loss {last['loss']:.6f} accuracy {100 * last['accuracy']:.1f}%"
    if "val_accuracy" in last:
        line += f" val_accuracy {100 * last['val_accuracy']:.1f}%"
    print(line)
    print(f"checkpoint {run.checkpoint_path}")
    if not finished:
        print("interrupted: resume with --resume " + str(run.checkpoint_path), file=sys.stderr)
        return 130
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from micrograd._outputs import finite_outputs
    from micrograd.app.checkpoint import load_model
    from micrograd.engine import Value, no_grad

    model = load_model(args.checkpoint)
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
    if isinstance(out, Value):
        print(f"class {1 if scores[0] > 0 else 0} (score {scores[0]:.6f})")
    else:
        from micrograd.losses import softmax

        probs = finite_outputs(what, [p.data for p in softmax(scores)])
        best = max(range(len(probs)), key=probs.__getitem__)
        print(f"class {best} (probabilities {', '.join(f'{p:.4f}' for p in probs)})")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from micrograd.app.checkpoint import load_checkpoint, load_model
    from micrograd.app.plots import decision_boundary_figure, save_figure
    from micrograd.app.training import TrainConfig, load_dataset

    path = Path(args.checkpoint)
    saved = load_checkpoint(path)
    model = load_model(path)
    if model.nin != 2:
        raise UserError(f"decision boundaries need 2-D inputs; this model takes {model.nin}")
    extra = saved.get("extra") or {}
    if not isinstance(extra, dict) or not isinstance(extra.get("config"), dict):
        raise UserError(f"{path}: checkpoint does not say which data it was trained on")
    data = load_dataset(TrainConfig.from_checkpoint(saved, path))
    out = Path(args.output) if args.output else path.with_name("decision_boundary.png")
    save_figure(decision_boundary_figure(model, data.X_train, data.y_train, title=path.name), out)
    print(f"wrote {out}")
    return 0


def _cmd_tour(args: argparse.Namespace) -> int:
    """A forward and backward pass through the seed's neuron, printed."""
    from micrograd.engine import Value

    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    print(f"o = tanh(x1*w1 + x2*w2 + b) = {o.data:.4f}")
    print(f"grads: x1 {x1.grad:.4f}  w1 {w1.grad:.4f}  x2 {x2.grad:.4f}  w2 {w2.grad:.4f}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    return explain_command(args.expression, args.settings, html=args.html, check=args.check)


def _cmd_graph(args: argparse.Namespace) -> int:
    return graph_command(args.expression, args.settings, output=args.output, rankdir=args.rankdir,
                         color_by_grad=args.color_by_grad, show_order=args.show_order, max_nodes=args.max_nodes)


def explain_command(
    expression: str,
    settings: Sequence[str] = (),
    *,
    html: PathLike | None = None,
    check: bool = True,
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
    explain(root, file=out, check=check)
    if html is not None:
        page = to_html(root, title=expression)
        Path(html).write_text(page, encoding="utf-8")
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
    graph = draw_dot(root, rankdir=rankdir, color_by_grad=color_by_grad, show_order=show_order, max_nodes=max_nodes)
    written = graph.write(output)
    (file if file is not None else sys.stdout).write(f"wrote {written}\n")
    return 0


# ----------------------------------------------------------------------
# The parser
# ----------------------------------------------------------------------


ENGINE_HELP = (
    "how each step computes gradients: eager (Values), compiled (generated Python), batched (numpy); "
    "all give the same numbers. auto (default): the fastest installed that supports the loss"
)


def build_parser() -> argparse.ArgumentParser:
    from micrograd.app.training import DATASETS, ENGINES, LOSSES, OPTIMIZERS, SCHEDULES
    from micrograd.nn import ACTIVATIONS

    engines = ("auto",) + ENGINES
    hidden_activations = [name for name in ACTIVATIONS if name != "linear"]  # linear hidden layers add nothing

    parser = _Parser(prog="micrograd", description="A tiny autograd engine: train, predict, plot, explain.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser("demo", help="train the original moons demo and write its pictures and checkpoint")
    demo.add_argument("--out", default="micrograd-out", help="output folder (default: micrograd-out)")
    demo.add_argument("--steps", type=positive_int, default=100, help="training steps (default: 100)")
    demo.add_argument("--seed", type=int, default=1337, help="seed for data and weights (default: 1337)")
    demo.add_argument("--html", action="store_true", help="also write training.html, an interactive page of the run")
    demo.add_argument("--engine", default="auto", choices=engines, help=ENGINE_HELP)
    demo.set_defaults(handler=_cmd_demo)

    train = sub.add_parser("train", help="train an MLP on a dataset, with checkpoints")
    train.add_argument("--dataset", default="moons", help=f"{', '.join(DATASETS)} or csv:PATH (default: moons)")
    train.add_argument("--samples", type=positive_int, default=200, help="points to generate (default: 200)")
    train.add_argument("--noise", type=finite_float, default=0.1, help="noise of generated data (default: 0.1)")
    train.add_argument("--hidden", type=_hidden_sizes, default=[16, 16], help="hidden layer sizes (default: 16,16)")
    train.add_argument("--activation", default="relu", choices=hidden_activations)
    train.add_argument("--loss", default="auto", choices=("auto",) + LOSSES,
                       help="default: hinge for two classes, ce for more")
    train.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS)
    train.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: 1.0 sgd, 0.01 adam)")
    train.add_argument("--schedule", default="linear", choices=SCHEDULES, help="learning-rate schedule")
    train.add_argument("--l2", type=finite_float, default=1e-4, help="L2 penalty alpha*sum(p*p) (default: 1e-4)")
    train.add_argument("--steps", type=positive_int, default=None,
                       help="total steps, also when resuming (default: 100)")
    train.add_argument("--batch-size", type=non_negative_int, default=0, help="examples per step, 0 = all")
    train.add_argument("--val-fraction", type=finite_float, default=0.2, help="held out for validation (default: 0.2)")
    train.add_argument("--seed", type=int, default=0, help="seed for data, weights and batches (default: 0)")
    train.add_argument("--out", default="micrograd-out", help="output folder; the checkpoint is OUT/checkpoint.json")
    train.add_argument("--resume", metavar="CKPT", help="continue a run from its checkpoint")
    train.add_argument("--checkpoint-every", type=non_negative_int, default=10,
                       help="save every N steps (default: 10)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--engine", default="auto", choices=engines, help=ENGINE_HELP)
    train.set_defaults(handler=_cmd_train)

    predict = sub.add_parser("predict", help="run a trained model on one input")
    predict.add_argument("checkpoint", help="checkpoint.json written by train or demo")
    predict.add_argument("inputs", help="comma-separated input values, e.g. 0.5,-0.2")
    predict.set_defaults(handler=_cmd_predict)

    plot = sub.add_parser("plot", help="draw a trained model's decision boundary (2-D data)")
    plot.add_argument("checkpoint", help="checkpoint.json written by train or demo")
    plot.add_argument("-o", "--output", help="PNG to write (default: beside the checkpoint)")
    plot.set_defaults(handler=_cmd_plot)

    explain_parser = sub.add_parser("explain", help="print every step of the backward pass of an expression")
    explain_parser.add_argument("expression", help="e.g. 'n = x1*w1 + x2*w2 + b; o = tanh(n)'")
    explain_parser.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                                help="the value of an input name; repeat for each input")
    explain_parser.add_argument("--html", metavar="FILE", help="also write a page that steps through the backward pass")
    explain_parser.add_argument("--no-check", dest="check", action="store_false", help="skip the numerical check")
    explain_parser.set_defaults(handler=_cmd_explain)

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

    for reader in (train, predict, plot):
        add_max_file_option(reader)

    tour = sub.add_parser("tour", help="a forward and backward pass through one neuron")
    tour.set_defaults(handler=_cmd_tour)

    from micrograd.app.gpt_command import add_gpt_command

    add_gpt_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    set_read_limit(args.max_file_mb * 2**20 if getattr(args, "max_file_mb", None) else DEFAULT_READ_LIMIT)
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
        print(f"micrograd {args.command}: error: {message.splitlines()[0] if message else type(err).__name__}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
