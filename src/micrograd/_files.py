"""Checkpoint files: atomic writes (a reader, or a crash, sees the old file or the new one, never half of
one), and the reading and first checks every kind of checkpoint shares."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

PathLike = Union[str, "os.PathLike[str]"]


def atomic_write(path: PathLike, data: bytes | str) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``.

    os.replace is atomic on POSIX and Windows when both names are on the same
    file system, which is why the temporary file lives in the same folder: a
    process killed at any moment leaves either the previous file or the new one.
    An OSError names ``path``, never the temporary file, which the caller has not heard of.
    """
    target = Path(path)
    folder = target.resolve().parent
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as error:  # e.g. the folder does not exist, or is not writable
        raise _naming(error, path) from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())  # the data is on disk before the rename makes it visible
        os.chmod(temporary, _mode_for(target))  # mkstemp makes it owner-only; use the usual mode
        os.replace(temporary, target)
    except BaseException as error:  # KeyboardInterrupt too: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError) and error.filename == temporary:
            raise _naming(error, path) from None
        raise
    _fsync_folder(folder)
    return target


def _naming(error: OSError, path: PathLike) -> OSError:
    """The same error (same type, errno and reason) about ``path`` instead of the temporary file."""
    if error.errno is None:
        return error
    return type(error)(error.errno, error.strerror, os.fspath(path))


def _mode_for(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o777  # keep an existing file's permissions
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable after a power cut; not possible everywhere (Windows).
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


CHECKPOINT_FORMAT = "micrograd-checkpoint"  # every checkpoint, MLP or GPT; its "kind" tells them apart


def finite_parameters(parameters: dict[str, float]) -> dict[str, float]:
    """The parameters to save, refused if any is nan or inf (a checkpoint holds finite numbers only)."""
    for name, number in parameters.items():
        if not math.isfinite(number):
            raise ValueError(f"save: parameter {name} is {number}; refusing to save a model with nan/inf parameters")
    return parameters


def read_checkpoint_json(name: str, fail: Callable[[str], Exception]) -> dict[str, Any]:
    """The JSON object in the checkpoint file ``name``, refused with ``fail(problem)`` unless it is one.

    Only finite numbers are accepted (json would otherwise read NaN and Infinity), the top
    level must be an object, and its "format" must be a micrograd checkpoint's.
    """
    try:
        with open(name, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {name!r}: no such file") from None
    except UnicodeDecodeError:  # (a folder given as the file raises IsADirectoryError, an OSError, as open() does)
        raise fail("is not UTF-8 text, so not a checkpoint") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except _NonFiniteError as error:
        raise fail(f"holds {error.args[0]}, but a checkpoint may only hold finite numbers") from None
    except json.JSONDecodeError as error:
        # A checkpoint always ends with the closing brace of the top-level object.
        truncated = "" if text.rstrip().endswith("}") else " (the file looks truncated)"
        raise fail(f"is not valid JSON{truncated}: {error.msg} at line {error.lineno} column {error.colno}") from None
    except ValueError as error:  # e.g. an integer with more digits than Python will parse
        raise fail(f"is not a usable JSON file: {error}") from None
    except RecursionError:
        raise fail("is nested too deeply to be a checkpoint") from None
    if not isinstance(data, dict):
        raise fail(f"expected a JSON object at the top level, got {type(data).__name__}")
    if data.get("format") != CHECKPOINT_FORMAT:
        found = data.get("format")
        raise fail(f"'format' is {found!r}, expected {CHECKPOINT_FORMAT!r}; this is not a micrograd checkpoint")
    return data


class _NonFiniteError(Exception):
    pass


def _refuse_constant(constant: str) -> float:
    raise _NonFiniteError(constant)  # json calls this for NaN, Infinity and -Infinity
