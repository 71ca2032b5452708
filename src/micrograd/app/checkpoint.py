"""Save and load training checkpoints as JSON files (never pickle: loading a file must not run code).

A checkpoint records everything needed to rebuild a model and resume training:

    {
      "format": "micrograd-checkpoint", "version": 1,
      "model": {"type": "MLP", "nin": 2, "nouts": [16, 16, 1],
                "activation": "relu", "output_activation": "linear"},
      "parameters": {"layers.0.neurons.0.w.0": 0.23, ...},   # model.state_dict()
      "optimizer": {...} or null,                              # optimizer.state_dict()
      "scheduler": {...} or null,                              # scheduler.state_dict()
      "step": 0,
      "extra": {...}                                           # anything JSON-able: data seed, loss history
    }

Floats are written with Python's shortest round-trip repr, so a loaded model
has exactly the saved numbers. NaN and infinity are not valid JSON and a model
holding them is broken anyway, so ``save`` refuses them with a ValueError.

Writes are atomic: the checkpoint goes to a temporary file in the same folder,
is flushed to disk, then renamed over the old file in one step. A run killed
mid-save leaves the previous checkpoint whole (and at worst a stray
``.NAME.*.tmp`` file behind). Resuming:

    checkpoint = load_checkpoint(path)
    model = build_model(checkpoint)
    optimizer = Adam(model.parameters(), lr=1e-2)
    optimizer.load_state_dict(checkpoint["optimizer"])

A record that grows with the run (one line per training step) does not belong in
the checkpoint, which every save rewrites whole: it goes to a log beside it, an
append-only file whose first line names the run that writes it. Each save appends
its new lines with one write and one fsync (``append_log``), so saving costs the
same at step 100 and at step 100,000; the checkpoint records the log's run and size,
and a reader takes that many bytes (``read_log``): lines a crashed save appended
after them belong to no checkpoint and are never read.
"""

from __future__ import annotations

import json
import os
import random
import stat
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from micrograd._files import (
    CHECKPOINT_FORMAT,
    _naming,
    atomic_write,
    checked_parameters,
    finite_parameters,
    read_checkpoint_json,
)
from micrograd.nn import ACTIVATIONS, MLP

__all__ = [
    "FORMAT", "VERSION", "CheckpointError", "build_model", "load_checkpoint", "load_model", "save",
    "LOG_FORMAT", "new_log", "append_log", "read_log",
]

FORMAT = CHECKPOINT_FORMAT
VERSION = 1

PathLike = str | os.PathLike[str]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: truncated, not JSON, or not in the expected shape."""


class _HasStateDict(Protocol):
    def state_dict(self) -> dict[str, Any]: ...


def save(
    path: PathLike,
    model: MLP,
    optimizer: _HasStateDict | None = None,
    step: int = 0,
    extra: Mapping[str, Any] | None = None,
    *,
    scheduler: _HasStateDict | None = None,
) -> None:
    """Write model, optional optimizer/scheduler state, step and extra to ``path`` as JSON, atomically."""
    if not isinstance(model, MLP):
        raise TypeError(f"save: model must be a micrograd.nn.MLP, got {type(model).__name__}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"save: step must be an int >= 0, got {step!r}")
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(f"save: extra must be a dict or None, got {type(extra).__name__}")
    parameters = finite_parameters(model.state_dict())
    checkpoint = {
        "format": FORMAT,
        "version": VERSION,
        "model": _architecture(model),
        "parameters": parameters,
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "step": step,
        "extra": {} if extra is None else dict(extra),
    }
    try:
        # allow_nan=False: Python would otherwise write NaN/Infinity, which is not JSON.
        text = json.dumps(checkpoint, allow_nan=False, indent=1)
    except ValueError:
        raise ValueError("save: the optimizer, scheduler or extra holds nan or inf, which JSON cannot store") from None
    except TypeError as error:
        raise TypeError(f"save: the optimizer, scheduler or extra is not JSON-serialisable: {error}") from None
    atomic_write(os.fspath(path), text + "\n")  # temporary file beside path, fsync, rename


def load_checkpoint(path: PathLike) -> dict[str, Any]:
    """Read and check a checkpoint file; return its contents as a dict (keys as written by ``save``)."""
    checkpoint, _ = _read(path)
    return checkpoint


def build_model(checkpoint: Mapping[str, Any]) -> MLP:
    """A new MLP with the architecture and parameters of a dict returned by ``load_checkpoint``."""
    spec = checkpoint["model"]
    # Building an MLP draws initial weights from the global random module; put its state back,
    # so loading a model does not change what a seeded program does next.
    saved_state = random.getstate()
    try:
        model = MLP(
            spec["nin"], spec["nouts"], activation=spec["activation"], output_activation=spec["output_activation"]
        )
    finally:
        random.setstate(saved_state)
    model.load_state_dict(checkpoint["parameters"])
    return model


def load_model(path: PathLike) -> MLP:
    """Rebuild the trained MLP saved at ``path``."""
    _, model = _read(path)
    return model


def load_checkpoint_and_model(path: PathLike) -> tuple[dict[str, Any], MLP]:
    """The checkpoint's contents and the MLP they describe, from one read of the file."""
    return _read(path)


# ----------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------


def _architecture(model: MLP) -> dict[str, Any]:
    return {
        "type": "MLP",
        "nin": model.nin,
        "nouts": list(model.nouts),
        "activation": model.activation,
        "output_activation": model.output_activation,
    }


# ----------------------------------------------------------------------
# Logs: append-only files beside a checkpoint
# ----------------------------------------------------------------------

LOG_FORMAT = "micrograd-log"
_HEADER_LIMIT = 4096  # bytes: a log's header line is far shorter; a longer first line is not a log's


def new_log(path: PathLike, run: str, body: bytes) -> int:
    """Write a log atomically: a header line naming ``run``, then ``body`` (whole lines). Returns its size in bytes."""
    data = json.dumps({"format": LOG_FORMAT, "version": 1, "run": run}).encode("utf-8") + b"\n" + body
    atomic_write(os.fspath(path), data)  # temporary file beside path, fsync, rename
    return len(data)


def append_log(path: PathLike, run: str, size: int, body: bytes) -> int | None:
    """Append ``body`` (whole lines) to ``run``'s log at ``path`` and fsync it; return the log's new size.

    One write and one fsync, whatever the log holds already. Returns None, writing nothing, unless the
    file is a regular file whose header names ``run`` and which holds exactly ``size`` bytes: a log that
    is missing, was replaced, or ends in lines no checkpoint counts is written anew by the caller instead.
    """
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_APPEND)  # never created here: new_log does that
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _naming(error, path) from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size != size:
            return None
        header = _log_header(descriptor)
        if header is None or header[0] != run:
            return None
        if body:
            view = memoryview(body)
            while view:
                view = view[os.write(descriptor, view):]
            os.fsync(descriptor)  # the lines are on disk before a checkpoint that counts them is
    except OSError as error:  # e.g. the disk is full: the caller's next save writes the log anew
        raise _naming(error, path) from None
    finally:
        os.close(descriptor)
    return size + len(body)


def read_log(path: PathLike, run: str, size: int) -> bytes | None:
    """The lines after the header among the first ``size`` bytes of ``run``'s log at ``path``; None if the
    file is missing, not a regular file, not ``run``'s log, shorter than ``size``, or cut inside a line there."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size < size:
            return None
        header = _log_header(descriptor)
        if header is None or header[0] != run or header[1] > size:
            return None
        chunks, offset = [], header[1]
        while offset < size:
            chunk = os.pread(descriptor, min(size - offset, 2**24), offset)
            if not chunk:  # the file shrank while being read
                return None
            chunks.append(chunk)
            offset += len(chunk)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    body = b"".join(chunks)
    return body if not body or body.endswith(b"\n") else None


def _log_header(descriptor: int) -> tuple[str, int] | None:
    """(the run its header names, where the lines after it start) of the log open as ``descriptor``,
    or None if the file does not start with a log's header."""
    head = os.pread(descriptor, _HEADER_LIMIT, 0)
    end = head.find(b"\n")
    try:
        header = json.loads(head[:end]) if end > 0 else None
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("format") != LOG_FORMAT or header.get("version") != 1:
        return None
    run = header.get("run")
    return (run, end + 1) if isinstance(run, str) else None


# ----------------------------------------------------------------------
# Reading and checking
# ----------------------------------------------------------------------


def _read(path: PathLike) -> tuple[dict[str, Any], MLP]:
    """Parse and check the file; return its contents and the model built from them."""
    name = os.fspath(path)

    def fail(problem: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {name!r}: {problem}")

    data = read_checkpoint_json(name, fail)
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise fail(f"'version' must be an int, got {version!r}")
    if version > VERSION:
        raise fail(f"version {version} was written by a newer micrograd; this one reads version {VERSION}")
    if version < 1:
        raise fail(f"'version' must be at least 1, got {version}")
    for key in ("model", "parameters"):
        if key not in data:
            raise fail(f"missing key {key!r}")

    spec = _check_architecture(data["model"], fail)
    parameters = checked_parameters(data["parameters"], fail)
    sizes = [spec["nin"], *spec["nouts"]]
    # Each layer has (inputs + 1 bias) * outputs parameters.
    expected_count = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True))
    if len(parameters) != expected_count:
        # Checked before building, so a hand-edited layer size cannot allocate a huge model.
        raise fail(
            f"the model {spec['nin']} -> {spec['nouts']} has {expected_count} parameters, the file {len(parameters)}"
        )

    step = data.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise fail(f"'step' must be an int >= 0, got {step!r}")
    for key in ("optimizer", "scheduler"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise fail(f"{key!r} must be an object or null, got {type(data[key]).__name__}")
    extra = data.get("extra", {})
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise fail(f"'extra' must be an object, got {type(extra).__name__}")

    checkpoint: dict[str, Any] = {
        "format": FORMAT,
        "version": version,
        "model": spec,
        "parameters": parameters,
        "optimizer": data.get("optimizer"),
        "scheduler": data.get("scheduler"),
        "step": step,
        "extra": extra,
    }
    try:
        model = build_model(checkpoint)
    except KeyError as error:  # parameter names that do not fit the architecture
        raise fail(f"the parameters do not match the architecture: {error.args[0]}") from None
    except ValueError as error:  # sizes over micrograd.nn's limits (MAX_INPUTS, MAX_LAYER_SIZE, ...)
        raise fail(f"the model cannot be built: {error}") from None
    return checkpoint, model


def _check_architecture(spec: Any, fail: Callable[[str], CheckpointError]) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise fail(f"'model' must be an object, got {type(spec).__name__}")
    for key in ("type", "nin", "nouts", "activation", "output_activation"):
        if key not in spec:
            raise fail(f"missing key 'model.{key}'")
    if spec["type"] != "MLP":
        raise fail(f"'model.type' is {spec['type']!r}; only 'MLP' can be loaded")
    nin, nouts = spec["nin"], spec["nouts"]
    if isinstance(nin, bool) or not isinstance(nin, int) or nin < 1:
        raise fail(f"'model.nin' must be an int >= 1, got {nin!r}")
    if not isinstance(nouts, list) or not nouts:
        raise fail(f"'model.nouts' must be a non-empty list of layer sizes, got {nouts!r}")
    for i, size in enumerate(nouts):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise fail(f"'model.nouts[{i}]' must be an int >= 1, got {size!r}")
    for key in ("activation", "output_activation"):
        if spec[key] not in ACTIVATIONS:
            raise fail(f"'model.{key}' is {spec[key]!r}; expected one of {', '.join(ACTIVATIONS)}")
    return {key: spec[key] for key in ("type", "nin", "nouts", "activation", "output_activation")}


