"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Union

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
