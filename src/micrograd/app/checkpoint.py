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
``.NAME.*.tmp`` file behind).

Reading and checking a file is the library's (``micrograd.nn.load``, ``micrograd.load``), so a program
loads a trained model without this application; the readers here return what it returns. Resuming:

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
import stat
from collections.abc import Mapping
from typing import Any, Protocol

from micrograd._files import CHECKPOINT_FORMAT, CheckpointError, _naming, atomic_write, finite_parameters
from micrograd._mlp_checkpoint import VERSION
from micrograd.nn import MLP, mlp_from_checkpoint, read_checkpoint

__all__ = [
    "FORMAT", "VERSION", "CheckpointError", "build_model", "load_checkpoint", "load_model", "save",
    "LOG_FORMAT", "new_log", "append_log", "read_log",
]

FORMAT = CHECKPOINT_FORMAT

PathLike = str | os.PathLike[str]


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
    checkpoint, _ = read_checkpoint(path)
    return checkpoint


def build_model(checkpoint: Mapping[str, Any]) -> MLP:
    """A new MLP with the architecture and parameters of a dict returned by ``load_checkpoint``."""
    return mlp_from_checkpoint(checkpoint)


def load_model(path: PathLike) -> MLP:
    """Rebuild the trained MLP saved at ``path`` (the same as ``micrograd.nn.load``)."""
    _, model = read_checkpoint(path)
    return model


def load_checkpoint_and_model(path: PathLike) -> tuple[dict[str, Any], MLP]:
    """The checkpoint's contents and the MLP they describe, from one read of the file."""
    return read_checkpoint(path)


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
