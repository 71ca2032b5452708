"""GPT checkpoints: JSON written atomically, read back with every entry checked, and the run's random stream."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from micrograd._files import (
    CHECKPOINT_FORMAT,
    GPT_KIND,
    READERS,
    CheckpointError,
    atomic_write,
    checked_parameters,
    checkpoint_failure,
    checkpoint_kind,
    checkpoint_name,
    finite_parameters,
    read_checkpoint_json,
    short_repr,
)
from micrograd.gpt.model import GPT, GPTConfig
from micrograd.gpt.tokenizer import PathLike
from micrograd.outputs import NonFiniteOutput, finite_outputs

__all__ = ["FORMAT", "KIND", "VERSION", "CheckpointError", "load", "load_checkpoint", "save"]

FORMAT = CHECKPOINT_FORMAT  # the same family as micrograd.app.checkpoint; "kind" tells them apart
VERSION = 1
KIND = GPT_KIND

Fail = Callable[[str], Exception]

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
    name = checkpoint_name(path, "micrograd.gpt.load")
    return checkpoint_from_data(name, read_checkpoint_json(name, checkpoint_failure(name)))


def checkpoint_from_data(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Check a GPT checkpoint already parsed from the file ``name``; what ``load_checkpoint`` returns."""
    fail = checkpoint_failure(name)
    if checkpoint_kind(data, fail) != KIND:
        raise fail(READERS["mlp"])
    if data.get("version") != VERSION:
        raise fail(f"'version' is {data.get('version')!r}; this micrograd reads version {VERSION}")
    for key in ("model", "vocabulary", "parameters", "step"):
        if key not in data:
            raise fail(f"missing key {key!r}")
    model = _checked_model(data, fail)
    step = data["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise fail(f"'step' must be an int >= 0, got {step!r}")
    for key in ("optimizer", "scheduler"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise fail(f"{key!r} must be an object or null, got {type(data[key]).__name__}")
    extra = data.get("extra") or {}
    if not isinstance(extra, dict):
        raise fail(f"'extra' must be an object, got {type(extra).__name__}")
    history = _checked_history(extra.get("history", []), fail)
    info = extra.get("training")
    if info is not None:
        model.rng = _training_stream(info, model.config.num_parameters, fail)
    return {
        **data,
        "extra": extra,
        "config": model.config,
        "chars": model.chars,
        "history": history,
        "model_object": model,
    }


def _checked_model(data: dict[str, Any], fail: Fail) -> GPT:
    """The GPT of the checkpoint's ``model`` sizes, ``vocabulary`` and ``parameters``, each checked first."""
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
    return model


def _checked_history(history: object, fail: Fail) -> list[dict[str, Any]]:
    """``extra.history``: a list of {"step": int, "loss": finite number}."""
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
            raise fail(f"'extra.history[{i}]' must be {{\"step\": int, \"loss\": number}}, got {short_repr(entry)}")
    try:  # the boundary for numbers leaving the program: the losses are drawn and printed
        finite_outputs("'extra.history' losses", [entry["loss"] for entry in history])
    except NonFiniteOutput as error:
        raise fail(str(error)) from None
    return history


def _unseeded_model(config: GPTConfig, chars: Sequence[str]) -> GPT:
    """A GPT whose weights are about to be overwritten: drawn from a throwaway stream, not from ``random``."""
    model = GPT(config, chars, rng=random.Random(0))
    model.rng = None
    return model


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
            raise fail(f"'extra.training.{key}' must be an int, got {short_repr(info.get(key))}")
    if info["steps"] < 1 or info["num_docs"] < 1:
        raise fail("'extra.training' steps and num_docs must be at least 1")
    if isinstance(info.get("lr"), bool) or not isinstance(info.get("lr"), (int, float)):
        raise fail(f"'extra.training.lr' must be a number, got {short_repr(info.get('lr'))}")
    stream = info.get("stream")
    if stream is None:
        if info["num_docs"] > MAX_REPLAYED_DOCUMENTS:
            raise fail(f"'extra.training.num_docs' is {short_repr(info['num_docs'])}; without a stored 'stream' "
                       f"at most {MAX_REPLAYED_DOCUMENTS:,} documents are replayed to find the run's random stream")
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
