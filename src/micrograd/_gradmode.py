"""Grad mode, per thread, as in PyTorch: ``no_grad()`` and ``enable_grad()``.

Inside ``no_grad()`` ops build no graph (their results are leaves). The mode
belongs to the thread, so one thread can evaluate while another trains.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "recording", "collector_paused"]

F = TypeVar("F", bound=Callable[..., Any])


class _ThreadMode(threading.local):
    """This thread's grad mode and the modes saved by the blocks it is inside."""

    def __init__(self) -> None:
        self.enabled = True
        self.saved: list[bool] = []


_mode = _ThreadMode()
# How many no_grad/enable_grad blocks are open in all threads together. While it is 0,
# every thread records, and an op need not look up its thread's mode at all. A list, so
# that the native engine can read the same counter without a lookup by name.
open_blocks = [0]
_count_lock = threading.Lock()


def is_grad_enabled() -> bool:
    """True unless this thread is inside ``micrograd.no_grad()``."""
    return _mode.enabled


def recording() -> bool:
    """Whether an op should build a node now (the fast form of ``is_grad_enabled``)."""
    return not open_blocks[0] or _mode.enabled


class _GradModeBlock:
    """Sets this thread's grad mode for a ``with`` block (or a decorated function), then restores it."""

    _enabled = True

    def __enter__(self) -> None:
        _mode.saved.append(_mode.enabled)  # a stack: the same object can be entered twice, nested
        _mode.enabled = self._enabled
        with _count_lock:
            open_blocks[0] += 1

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = _mode.saved.pop()
        with _count_lock:
            open_blocks[0] -= 1

    def __call__(self, fn: F) -> F:
        mode = type(self)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with mode():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeBlock):
    """Context manager and decorator: ops inside build no graph (results are leaves), as ``torch.no_grad``."""

    _enabled = False


class enable_grad(_GradModeBlock):
    """Context manager and decorator: build graphs inside, even within ``no_grad`` (as ``torch.enable_grad``)."""

    _enabled = True


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while walking a graph.

    The walk allocates many short-lived objects, and every few hundred of them
    the collector would rescan the live graph, finding nothing: a node refers
    only to its children. Pausing those scans is pure saving; nothing leaks.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
