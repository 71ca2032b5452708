"""Gradients as return values: ``grad(outputs, inputs, create_graph=False)``, as ``torch.autograd.grad``.

``backward()`` writes into ``.grad``; ``grad`` returns the gradients instead and
touches no ``.grad`` at all. With ``create_graph=True`` the gradients are Values
connected to the graph (each op's derivative rule evaluated on Values), so
they can be differentiated again, to any order::

    x = Value(2.0)
    (dy_dx,) = grad(x**3, x, create_graph=True)   # 3x**2 = 12, a Value
    (d2y_dx2,) = grad(dy_dx, x)                   # 6x    = 12.0, a float
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, overload

from micrograd import engine
from micrograd.engine import Value, _local_grads_as_values, topological_order

__all__ = ["grad"]

Values = Value | Sequence[Value]


@overload
def grad(outputs: Values, inputs: Values, create_graph: Literal[False] = False) -> tuple[float, ...]: ...
@overload
def grad(outputs: Values, inputs: Values, create_graph: Literal[True]) -> tuple[Value, ...]: ...
@overload
def grad(outputs: Values, inputs: Values, create_graph: bool) -> tuple[float | Value, ...]: ...


def grad(outputs: Values, inputs: Values, create_graph: bool = False) -> tuple[Any, ...]:
    """d(sum of outputs)/d(input) for each input, as a tuple (as ``torch.autograd.grad``).

    ``outputs`` and ``inputs`` are each a Value or a list of Values; inputs may
    be leaves or intermediate nodes. The result has one entry per input:

    - a float, or with ``create_graph=True`` a Value whose own graph computes
      the derivative, so ``grad`` can be applied to it again;
    - 0.0 (``Value(0.0)``) for an input the outputs do not depend on. PyTorch
      raises there unless ``allow_unused=True``; for scalar maths "does not
      depend on" simply means "derivative zero".

    With ``create_graph=True`` the graph is built even inside ``no_grad()``,
    as in PyTorch: asking for a graph explicitly wins over the mode.
    """
    outs = _as_values("outputs", outputs)
    ins = _as_values("inputs", inputs)
    if not isinstance(create_graph, bool):
        # Most often a third Value passed positionally, meant as another input.
        raise TypeError(
            f"grad: create_graph must be True or False, got {type(create_graph).__name__}; "
            "pass several inputs as one list: grad(y, [a, b])"
        )
    if not create_graph:
        return _reverse_pass(outs, ins, create_graph=False)
    with _grad_mode_enabled():
        return _reverse_pass(outs, ins, create_graph=True)


def _reverse_pass(outs: list[Value], ins: list[Value], create_graph: bool) -> tuple[Any, ...]:
    """The chain rule from the outputs back, into a dictionary instead of into ``.grad``."""
    seed: Any = Value(1.0) if create_graph else 1.0
    grads: dict[Value, Any] = {}  # node -> d(sum of outputs)/d(node); Values hash by identity
    for out in outs:
        grads[out] = grads[out] + seed if out in grads else seed
    # Reverse topological order: a node's gradient is complete before it is passed on.
    for node in reversed(topological_order(*outs)):
        upstream = grads.get(node)
        if upstream is None or not node._prev:
            continue
        # First order: the numbers stored at forward time. Higher order: the same
        # rule evaluated on Values, so each local derivative is a graph too.
        local_grads = _local_grads_as_values(node) if create_graph else node._local_grads
        # strict=False: a node made by hand, Value(data, children), has no rule and
        # passes nothing on, exactly as in backward().
        for child, local in zip(node._prev, local_grads, strict=False):
            contribution = local * upstream
            grads[child] = grads[child] + contribution if child in grads else contribution
    zero: Any = Value(0.0) if create_graph else 0.0
    return tuple(grads.get(x, zero) for x in ins)


@contextmanager
def _grad_mode_enabled() -> Iterator[None]:
    """Build graphs inside this block even under ``no_grad()`` (what ``torch.enable_grad`` does)."""
    previous = engine._grad_enabled
    engine._grad_enabled = True
    try:
        yield
    finally:  # restore on errors too, so one failed call cannot leave the mode changed
        engine._grad_enabled = previous


def _as_values(name: str, xs: Values) -> list[Value]:
    items = [xs] if isinstance(xs, Value) else xs
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError(f"grad: {name} must be a Value or a list of Values, got {type(xs).__name__}")
    if len(items) == 0:
        raise ValueError(f"grad: {name} is empty")
    for i, x in enumerate(items):
        if not isinstance(x, Value):
            hint = " (Values are scalars: pass a flat list)" if isinstance(x, (list, tuple)) else ""
            raise TypeError(f"grad: {name}[{i}] must be a Value, got {type(x).__name__}{hint}")
    return list(items)
