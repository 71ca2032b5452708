"""A page of a GPT training run (``micrograd gpt train --html``): loss, samples over training, attention.

One self-contained HTML file, opened from disk with no network: the loss of every
step with its running mean, the names sampled at several steps of the run, and for
a chosen name, each head's attention weights as a heat map, position by position.
The numbers are computed in Python (``micrograd.gpt``) and only drawn by the page.

Steps on the page count updates, as everywhere in micrograd: "step k" is the model after
k updates, step 0 the untrained one. Update k is computed on the parameters of step k - 1,
so ``Training.history``'s entry ``{"step": k, "loss": x}`` (the loss of update k's document)
is drawn at step k - 1, where the samples drawn at step k - 1 come from the same parameters.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypedDict

from micrograd.outputs import finite_outputs
from micrograd.viz.html import _page

if TYPE_CHECKING:
    from micrograd.gpt import GPT

__all__ = ["GPTRun", "SampleSnapshot", "AttentionMap", "attention_map", "gpt_html", "BOS_LABEL"]

BOS_LABEL = "BOS"  # how the page shows the BOS token, as notebook 8 does


class SampleSnapshot(TypedDict):
    """Names drawn from the model after ``step`` updates (0: the untrained model)."""

    step: int
    names: list[str]


class _MapRequired(TypedDict):
    name: str
    tokens: list[str]
    layers: list[list[list[list[float]]]]


class AttentionMap(_MapRequired, total=False):
    """``layers[l][t][h][s]``: how much position t attends to s <= t in head h of layer l, reading ``tokens``.

    ``vocab_size``: the vocabulary of the model that made the map (with BOS), when known.
    """

    vocab_size: int


class _RunRequired(TypedDict):
    history: list[dict[str, Any]]  # [{"step": k, "loss": x}, ...]: update k (from 1) and its loss
    samples: list[SampleSnapshot]
    attention: list[AttentionMap]


class GPTRun(_RunRequired, total=False):
    """Everything ``gpt_html`` draws. ``vocab_size`` (with BOS) marks ln(vocab_size) on the loss:
    the loss of a uniform guess. Without it, the attention maps' ``vocab_size`` is used."""

    title: str
    summary: str
    vocab_size: int


def attention_map(model: GPT, name: str) -> AttentionMap:
    """The attention weights of every layer and head while ``model`` reads ``[BOS] + name``."""
    weights = model.attention_weights(name)
    tokens = [BOS_LABEL, *name][: model.config.block_size]
    return {"name": name, "tokens": tokens, "layers": weights, "vocab_size": model.config.vocab_size}


def gpt_html(run: GPTRun) -> str:
    """The page: the loss curve, the samples over training, and a heat map per head for each name in ``attention``.

    ``history`` is ``Training.history``: entry ``{"step": k, "loss": x}`` is update k (k >= 1), whose
    loss is measured on the model after k - 1 updates, so the page draws it at step k - 1.
    """
    for key in ("history", "samples", "attention"):
        if key not in run:
            raise ValueError(f"gpt_html: run needs the key {key!r}")
    updates, losses = [], []
    for i, entry in enumerate(run["history"]):
        step, loss = entry.get("step"), entry.get("loss")
        if isinstance(step, bool) or not isinstance(step, int) or not isinstance(loss, (int, float)):
            raise ValueError(f"gpt_html: history[{i}] must be {{'step': int, 'loss': number}}, got {entry!r}")
        if step < 1:
            raise ValueError(f"gpt_html: history[{i}]'s step is update number {step}; updates count from 1")
        updates.append(step)
        losses.append(loss)
    # A nan loss is refused rather than left out: a curve with a silent gap would look like a good run.
    losses = finite_outputs("gpt_html: the run's loss", losses)
    for i, entry_map in enumerate(run["attention"]):
        _check_map(i, entry_map)
    sample_steps = [int(s["step"]) for s in run["samples"]]
    samples = [
        {"step": step, "names": [str(n) for n in snapshot["names"]]}
        for step, snapshot in zip(sample_steps, run["samples"], strict=True)
    ]
    vocab_size = _vocab_size(run)
    data = {
        "summary": run.get("summary", ""),
        "curve": [[update - 1, loss] for update, loss in zip(updates, losses, strict=True)],
        "lastStep": max([*updates, *sample_steps, 0]),  # the model after the last update, or the last sampled
        "uniform": None if vocab_size is None else {"vocab": vocab_size, "loss": math.log(vocab_size)},
        "samples": samples,
        "attention": [{"name": m["name"], "tokens": m["tokens"], "layers": m["layers"]} for m in run["attention"]],
    }
    return _page("gpt", run.get("title", "A GPT, trained with micrograd"), data)


def _vocab_size(run: GPTRun) -> int | None:
    """The run's vocabulary size (with BOS): given, or the one its attention maps agree on, or None."""
    given = run.get("vocab_size")
    if given is None:
        sizes = {m.get("vocab_size") for m in run["attention"]} - {None}
        given = sizes.pop() if len(sizes) == 1 else None
    if given is None:
        return None
    if isinstance(given, bool) or not isinstance(given, int) or given < 2:
        raise ValueError(f"gpt_html: vocab_size must be an int >= 2 (BOS and a character), got {given!r}")
    return given


def _check_map(i: int, entry: AttentionMap) -> None:
    tokens, layers = entry["tokens"], entry["layers"]
    for layer in layers:
        if len(layer) != len(tokens):
            raise ValueError(f"gpt_html: attention[{i}] has {len(tokens)} tokens but {len(layer)} positions")
        for t, heads in enumerate(layer):
            if any(len(row) != t + 1 for row in heads):
                raise ValueError(f"gpt_html: attention[{i}], position {t}: each head needs {t + 1} weights")
            for row in heads:
                finite_outputs(f"gpt_html: attention[{i}]'s weights", row)
