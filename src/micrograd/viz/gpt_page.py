"""A page of a GPT training run (``micrograd gpt train --html``): loss, samples over training, attention.

One self-contained HTML file, opened from disk with no network: the loss of every
step with its running mean, the names sampled at several steps of the run, and for
a chosen name, each head's attention weights as a heat map, position by position.
The numbers are computed in Python (``micrograd.gpt``) and only drawn by the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from micrograd._outputs import finite_outputs
from micrograd.viz.html import _page

if TYPE_CHECKING:
    from micrograd.gpt import GPT

__all__ = ["GPTRun", "SampleSnapshot", "AttentionMap", "attention_map", "gpt_html"]

BOS_LABEL = "\u00b7"  # how the page shows BOS: a middle dot


class SampleSnapshot(TypedDict):
    """Names drawn at one step of training."""

    step: int
    names: list[str]


class AttentionMap(TypedDict):
    """``layers[l][t][h][s]``: how much position t attends to s <= t in head h of layer l, reading ``tokens``."""

    name: str
    tokens: list[str]
    layers: list[list[list[list[float]]]]


class _RunRequired(TypedDict):
    history: list[dict[str, Any]]  # [{"step": k, "loss": x}, ...]
    samples: list[SampleSnapshot]
    attention: list[AttentionMap]


class GPTRun(_RunRequired, total=False):
    """Everything ``gpt_html`` draws."""

    title: str
    summary: str


def attention_map(model: GPT, name: str) -> AttentionMap:
    """The attention weights of every layer and head while ``model`` reads ``[BOS] + name``."""
    weights = model.attention_weights(name)
    tokens = [BOS_LABEL, *name][: model.config.block_size]
    return {"name": name, "tokens": tokens, "layers": weights}


def gpt_html(run: GPTRun) -> str:
    """The page: the loss curve, the samples over training, and a heat map per head for each name in ``attention``."""
    for key in ("history", "samples", "attention"):
        if key not in run:
            raise ValueError(f"gpt_html: run needs the key {key!r}")
    steps, losses = [], []
    for i, entry in enumerate(run["history"]):
        step, loss = entry.get("step"), entry.get("loss")
        if not isinstance(step, int) or not isinstance(loss, (int, float)):
            raise ValueError(f"gpt_html: history[{i}] must be {{'step': int, 'loss': number}}, got {entry!r}")
        steps.append(step)
        losses.append(loss)
    # A nan loss is refused rather than left out: a curve with a silent gap would look like a good run.
    losses = finite_outputs("gpt_html: the run's loss", losses)
    for i, entry_map in enumerate(run["attention"]):
        _check_map(i, entry_map)
    data = {
        "summary": run.get("summary", ""),
        "curve": [[step, loss] for step, loss in zip(steps, losses, strict=True)],
        "samples": [{"step": int(s["step"]), "names": [str(n) for n in s["names"]]} for s in run["samples"]],
        "attention": run["attention"],
    }
    return _page("gpt", run.get("title", "A GPT, trained with micrograd"), data)


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
