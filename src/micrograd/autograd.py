"""Gradients as return values: ``grad(outputs, inputs, create_graph=False)``, as ``torch.autograd.grad``.

``backward()`` writes into ``.grad``; ``grad`` returns the gradients instead and
leaves every ``.grad`` as it found it. With ``create_graph=True`` the gradients
are Values connected to the graph (each op's derivative rule from the table,
evaluated on Values), so they can be differentiated again, to any order::

    x = Value(2.0)
    (dy_dx,) = grad(x**3, x, create_graph=True)   # 3x**2 = 12, a Value
    (d2y_dx2,) = grad(dy_dx, x)                   # 6x    = 12.0, a float
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, overload

from micrograd._gradmode import collector_paused as _collector_paused
from micrograd.engine import Value, chain_rule, enable_grad, topological_order

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
    with enable_grad():
        return _reverse_pass(outs, ins, create_graph=True)


def _reverse_pass(outs: list[Value], ins: list[Value], create_graph: bool) -> tuple[Any, ...]:
    """The chain rule of backward(), edge for edge in the same order, into a table of its own.

    No ``.grad`` is read or written, so calls in several threads, or beside a ``backward()``,
    give exactly their sequential results (as ``torch.autograd.grad``). A graph with a
    ``_backward`` set by hand is the exception: the lecture's function adds into ``.grad``
    itself, so there the walk runs on ``.grad`` fields set aside for the call.
    """
    with _collector_paused():
        order = topological_order(*outs, *ins)
        if any(node._backward_set_by_hand() for node in order):
            return _reverse_pass_on_grad_fields(order, outs, ins, create_graph)
        grads: dict[Value, Any] = {}
        for out in outs:  # an output listed twice counts twice
            grads[out] = grads.get(out, 0.0) + 1.0
        if create_graph:
            for out in outs:
                grads[out] = Value(grads[out])
        for node in reversed(order):
            g = grads.get(node)
            if g is None or not node._prev:
                continue
            fn = node._fn if create_graph else None  # the rules on Values: a graph to differentiate again
            on_values = fn is not None
            local_grads = fn.local_grads(node._prev, node, node._attrs) if fn is not None else node._local_grads
            for child, local in zip(node._prev, local_grads, strict=False):  # a hand-made node may give fewer
                before = grads.get(child, 0.0)
                term = local * g
                first = on_values and type(before) is float and before == 0.0  # as chain_rule starts a sum there
                grads[child] = term if first else before + term
        # An input the outputs do not depend on gets 0.0: with create_graph, a Value(0.0).
        return tuple(_as_result(grads.get(x, 0.0), create_graph) for x in ins)


def _as_result(g: Any, create_graph: bool) -> Any:
    return Value(g) if create_graph and not isinstance(g, Value) else g


def _reverse_pass_on_grad_fields(
    order: list[Value], outs: list[Value], ins: list[Value], create_graph: bool
) -> tuple[Any, ...]:
    """The walk of backward() itself, on .grad fields set aside for the call and put back after."""
    saved = [node.grad for node in order]
    try:
        for node in order:
            node.grad = 0.0
        for out in outs:
            out.grad = out.grad + 1.0
        if create_graph:
            for out in outs:
                out.grad = Value(out.grad)
        chain_rule(order, create_graph=create_graph)
        return tuple(_as_result(x.grad, create_graph) for x in ins)
    finally:
        for node, before in zip(order, saved, strict=True):
            node.grad = before


@contextmanager
def _grad_mode_enabled() -> Iterator[None]:
    """Build graphs inside this block even under ``no_grad()`` (what ``torch.enable_grad`` does)."""
    with enable_grad():
        yield


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
