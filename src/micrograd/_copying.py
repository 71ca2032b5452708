"""Copying and pickling a graph as a flat list of records, so that no depth needs recursion.

``copy.deepcopy`` and ``pickle`` call ``Value.__reduce__``, which hands them
:func:`flatten`'s records; :func:`rebuild` makes the nodes again, children
first. Ops are stored by name (``Op.__reduce__``), so a pickle loads in either
engine and finds the op of the table it was made with.
"""

from __future__ import annotations

from typing import Any

__all__ = ["reduce_value"]


def reduce_value(root: Any, order: list[Any]) -> tuple[Any, ...]:
    """What ``__reduce__`` returns for ``root``, given its topological order (children before parents)."""
    index = {id(node): i for i, node in enumerate(order)}
    records = []
    for node in order:
        if node._backward_set_by_hand():
            # The function refers to the nodes of this graph, not of the copy: copying it would compute
            # the copy's gradients into the original. Refuse, as pickle does for a local function.
            raise TypeError(
                "cannot copy or pickle a graph with a node whose _backward is a function set by hand "
                f"(op {node._op!r})"
            )
        kids = tuple(index[id(child)] for child in node._prev)
        extra = dict(node.__dict__) if node.__dict__ else None
        # A gradient that is a Value (after create_graph=True) has a graph that reads this node again:
        # it is copied as its number, as ``detach()`` would, so that the records stay a flat list.
        grad = node.grad.data if hasattr(type(node.grad), "_apply_op") else node.grad
        records.append((type(node), node.data, grad, kids, node._local_grads, node._fn, node._attrs, extra))
    return (rebuild, (records,))


def rebuild(records: list[Any]) -> Any:
    """The nodes of :func:`reduce_value`'s records, made again in order; the last one is the root."""
    nodes: list[Any] = []
    for cls, data, grad, kids, local_grads, fn, attrs, extra in records:
        node = cls._make(data, tuple(nodes[k] for k in kids), local_grads, fn, attrs)
        node.grad = grad
        for name, value in (extra or {}).items():
            setattr(node, name, value)
        nodes.append(node)
    return nodes[-1]
