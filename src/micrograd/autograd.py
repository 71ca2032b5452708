"""Gradients as return values: ``grad(outputs, inputs, create_graph=False)``, as ``torch.autograd.grad``.

``backward()`` writes into ``.grad``; ``grad`` returns the gradients instead and
touches no ``.grad`` at all. With ``create_graph=True`` the gradients are Values
connected to the graph (each op's derivative rule evaluated on Values), so
they can be differentiated again, to any order.
"""

from __future__ import annotations

from typing import Any, Sequence, Union

from micrograd.engine import Value, _local_grads_as_values, topological_order

__all__ = ["grad"]

Values = Union[Value, Sequence[Value]]


def grad(outputs: Values, inputs: Values, create_graph: bool = False) -> tuple[Any, ...]:
    """d(sum of outputs)/d(input) for each input, as a tuple (as torch.autograd.grad).

    An input the outputs do not depend on gets 0.0 (``Value(0.0)`` with
    ``create_graph=True``) rather than an error.
    """
    outs = _as_values("outputs", outputs)
    ins = _as_values("inputs", inputs)
    seed: Any = Value(1.0) if create_graph else 1.0
    grads: dict[Value, Any] = {}
    for out in outs:
        grads[out] = grads[out] + seed if out in grads else seed
    for node in reversed(topological_order(*outs)):
        upstream = grads.get(node)
        if upstream is None or not node._prev:
            continue
        local_grads = _local_grads_as_values(node) if create_graph else node._local_grads
        for child, local in zip(node._prev, local_grads):
            contribution = local * upstream
            grads[child] = grads[child] + contribution if child in grads else contribution
    zero: Any = Value(0.0) if create_graph else 0.0
    return tuple(grads.get(x, zero) for x in ins)


def _as_values(name: str, xs: Values) -> list[Value]:
    items = [xs] if isinstance(xs, Value) else xs
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError(f"grad: {name} must be a Value or a list of Values, got {type(xs).__name__}")
    if len(items) == 0:
        raise ValueError(f"grad: {name} is empty")
    for i, x in enumerate(items):
        if not isinstance(x, Value):
            raise TypeError(f"grad: {name}[{i}] must be a Value, got {type(x).__name__}")
    return list(items)
