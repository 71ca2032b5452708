"""Checkpoint files: atomic writes (a reader, or a crash, sees the old file or the new one, never half of
one), and the reading and first checks every kind of checkpoint shares."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Union

PathLike = Union[str, "os.PathLike[str]"]


def atomic_write(path: PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path``: a regular file (or a new one) is replaced atomically, anything else written in place.

    A regular file gets a temporary file beside it, fsynced, then renamed over it. os.replace is atomic
    on POSIX and Windows when both names are on the same file system, which is why the temporary file
    lives in the same folder: a process killed at any moment leaves either the previous file or the new one.

    A path that exists and is not a regular file or a folder (a device such as /dev/null, a FIFO,
    /dev/stdout on a terminal or a pipe) is opened and written, as shell redirection and Graphviz do:
    renaming a file over it would replace the device node with a regular file.
    An OSError names ``path``, never the temporary file, which the caller has not heard of.
    """
    written = _write_in_place(path, data)
    if written is not None:
        return written
    # A symlink is followed to the file it names, and that file is replaced: the temporary file must
    # sit beside the real file (a rename cannot cross file systems), and replacing the link itself
    # would turn it into a regular file and leave its target stale.
    try:
        target = Path(path).resolve()
    except RuntimeError:  # Python < 3.13 raises this for a loop of symlinks; 3.13 an OSError (ELOOP)
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), os.fspath(path)) from None
    folder = target.parent
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


def _is_special(path: PathLike) -> bool:
    """Whether ``path`` exists (after symlinks) and is neither a regular file nor a folder."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing, a broken link, a loop, a NUL in the name: the usual path reports it
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _write_in_place(path: PathLike, data: bytes | str) -> Path | None:
    """Write ``data`` into the device or FIFO at ``path`` and return its name; None if ``path`` is no such thing.

    The open has no O_CREAT: if the device went away since the check, the write fails rather than
    leave a regular file in its place. If the path became a regular file meanwhile, it is left to
    the atomic replacement (None). Opening a FIFO waits for a reader, as the shell's ``>`` does.
    """
    if not _is_special(path):
        return None
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        descriptor = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0))
    except OSError as error:
        raise _naming(error, path) from None
    with os.fdopen(descriptor, "wb") as device:  # a buffered writer: a pipe may take the bytes in pieces
        if stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None  # replaced by a regular file since the check: that one is replaced atomically
        try:
            device.write(payload)
            device.flush()
        except OSError as error:
            raise _naming(error, path) from None
    return Path(os.path.abspath(path))


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
GPT_KIND = "gpt"  # an MLP checkpoint has no "kind": MLPs were saved before there was anything else

# Which command reads each kind, for the one line a command given the other kind prints.
READERS = {
    "mlp": "this is an MLP checkpoint (it has no 'kind'): micrograd predict and micrograd plot read it",
    GPT_KIND: "this is a GPT checkpoint ('kind' is 'gpt'): micrograd gpt sample reads it",
}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: truncated, not JSON, not in the expected shape, or of the
    other kind (an MLP's where a GPT's is wanted, or the other way round)."""


def checkpoint_name(path: object, caller: str) -> str:
    """``path`` (a str or os.PathLike) as a str, for a reader named ``caller``; TypeError naming both otherwise."""
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(name, str):
        raise TypeError(f"{caller}: path must be a str or os.PathLike, got {type(path).__name__}")
    return name


def checkpoint_failure(name: str) -> Callable[[str], CheckpointError]:
    """The error for a problem with the checkpoint file ``name``: its message starts by naming the file."""

    def fail(problem: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {name!r}: {problem}")

    return fail


def checkpoint_kind(data: dict[str, Any], fail: Callable[[str], Exception]) -> str:
    """``"mlp"`` or ``"gpt"``: what the checkpoint ``data`` (from :func:`read_checkpoint_json`) holds."""
    kind = data.get("kind")
    if kind is None:
        return "mlp"
    if kind != GPT_KIND:
        raise fail(f"'kind' is {short_repr(kind)}; this micrograd reads {GPT_KIND!r} checkpoints and MLP ones "
                   "(no 'kind')")
    return GPT_KIND


def short_repr(value: object, width: int = 60) -> str:
    """A value read from a file, for a message, cut to ``width``: a huge int or a long string would drown
    the line (and an int's repr is refused beyond 4,300 digits)."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an int of {value.bit_length()} bits"
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python converts to text, inside a list or dict
        return f"a {type(value).__name__} holding a huge int"
    return text if len(text) <= width else text[: width - 3] + "..."


def finite_parameters(parameters: dict[str, float]) -> dict[str, float]:
    """The parameters to save, refused if any is nan or inf (a checkpoint holds finite numbers only)."""
    for name, number in parameters.items():
        if not math.isfinite(number):
            raise ValueError(f"save: parameter {name} is {number}; refusing to save a model with nan/inf parameters")
    return parameters


DEFAULT_READ_LIMIT = 64 * 2**20  # bytes; far above any toy dataset or checkpoint, far below the memory
_read_limit = DEFAULT_READ_LIMIT
_CHUNK = 2**20


def set_read_limit(limit: int) -> None:
    """From now on, :func:`read_text` accepts files of up to ``limit`` bytes."""
    global _read_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"the file size limit must be a whole number of bytes >= 1, got {limit!r}")
    _read_limit = limit


def read_limit() -> int:
    """The largest file, in bytes, that :func:`read_text` and :func:`read_limited` accept now."""
    return _read_limit


@contextlib.contextmanager
def reading_limit(limit: int) -> Iterator[None]:
    """Within the block, :func:`read_text` accepts files of up to ``limit`` bytes."""
    previous = _read_limit
    set_read_limit(limit)
    try:
        yield
    finally:
        set_read_limit(previous)


class InputFileError(ValueError):
    """An input file that is not a regular file, or larger than the read limit."""


_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
}


def read_text(path: PathLike, what: str, *, newline: str | None = None, encoding: str = "utf-8") -> str:
    """The text of the regular file ``path``, refused unless it is one and at most :func:`read_limit` bytes.

    A device such as /dev/zero or a FIFO never ends, so reading it would grow memory until the
    process dies: they are refused before a byte is read, as is any file over the limit. ``what``
    names the file in messages ("checkpoint 'x.json'"). Raises FileNotFoundError, IsADirectoryError,
    InputFileError (a ValueError), or UnicodeDecodeError for text that is not ``encoding``.
    """
    name = os.fspath(path)
    limit = _read_limit
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it changes nothing for a regular file.
        descriptor = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what}: no such file") from None
    try:
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):  # the error open() gives for a folder
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        if not stat.S_ISREG(status.st_mode):
            kind = _KINDS.get(stat.S_IFMT(status.st_mode), "not a regular file")
            raise InputFileError(f"{what} is {kind}, not a regular file")
        if status.st_size > limit:
            raise InputFileError(
                f"{what} is {status.st_size:,} bytes, over the limit of {limit:,} (raise it with --max-file-mb)"
            )
    except BaseException:
        os.close(descriptor)
        raise
    with os.fdopen(descriptor, "rb") as file:
        text = read_limited(file, what, limit=limit).decode(encoding)
    # As text-mode open() does: universal newlines unless the caller (csv) wants them kept.
    return text if newline == "" else text.replace("\r\n", "\n").replace("\r", "\n")


def read_limited(
    stream: BinaryIO, what: str, *, limit: int | None = None, hint: str = " (raise it with --max-file-mb)"
) -> bytes:
    """The bytes of ``stream`` to its end, refused (InputFileError) once more than ``limit`` bytes come.

    For anything that can be read, a pipe or a device too: at most ``limit + 1`` bytes are read, so
    /dev/zero is refused after the limit instead of filling the memory. ``limit`` defaults to the
    read limit (:func:`set_read_limit`); ``hint`` ends the message, saying how to raise it.
    """
    limit = _read_limit if limit is None else limit
    # In pieces: read(limit + 1) would allocate the whole limit up front, even for an empty file.
    # Counting the bytes read (not trusting st_size) also stops a file that grows while we read it.
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(min(_CHUNK, limit + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise InputFileError(f"{what} is over the limit of {limit:,} bytes{hint}")
    return b"".join(chunks)


def checked_parameters(parameters: Any, fail: Callable[[str], Exception]) -> dict[str, float]:
    """A checkpoint's "parameters" object as name -> float, refused with ``fail(problem)`` unless every
    value is a finite number (not a bool, not an int too large for a float, not nan or inf)."""
    if not isinstance(parameters, dict):
        raise fail(f"'parameters' must be an object of name -> number, got {type(parameters).__name__}")
    checked = {}
    for name, number in parameters.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise fail(f"parameter {name!r} must be a number, got {type(number).__name__} {number!r}")
        try:
            value = float(number)
        except OverflowError:  # an integer too large for a float
            raise fail(f"parameter {name!r} is too large for a float") from None
        if not math.isfinite(value):  # e.g. 1e999, which JSON reads as inf
            raise fail(f"parameter {name!r} is {value}, not a finite number")
        checked[name] = value
    return checked


def read_checkpoint_json(name: str, fail: Callable[[str], Exception]) -> dict[str, Any]:
    """The JSON object in the checkpoint file ``name``, refused with ``fail(problem)`` unless it is one.

    Only finite numbers are accepted (json would otherwise read NaN and Infinity), the top
    level must be an object, and its "format" must be a micrograd checkpoint's.
    """
    try:
        text = read_text(name, f"checkpoint {name!r}")
    except InputFileError as error:
        raise fail(str(error).removeprefix(f"checkpoint {name!r} ")) from None
    except UnicodeDecodeError:
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
