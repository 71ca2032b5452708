"""The engine: a scalar ``Value`` that remembers how it was computed.

This file is the reference engine, written to be read top to bottom. A node
holds its value ``data``, its gradient ``grad``, its children in order and the
local derivative of itself with respect to each child, computed at forward
time from the op's row in the table (``micrograd.ops``). Forward and backward
stand side by side: ``a * b`` stores the children ``(a, b)`` and beside them the
local derivatives ``(b, a)``.

``backward()`` is then the chain rule over a topological order:
``child.grad += local * node.grad`` for every edge, from the output back to the
leaves. Nothing else is needed, because the local derivatives are already there.

The lecture's way of extending Value works as in the original micrograd: set
``out._backward`` to a function of no arguments, and ``backward()`` calls it
for that node.

``micrograd/_cengine.c`` is the same engine in C (the accelerator). Unless the
environment sets ``MICROGRAD_PURE=1``, it replaces the ``Value`` below and
takes from it every method it has no C code for; ``backend`` says which runs.
Both give the same numbers, bit for bit.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import operator
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Union

from micrograd import _checks as checks
from micrograd import ops
from micrograd._copying import reduce_value
from micrograd._gradmode import collector_paused, enable_grad, is_grad_enabled, no_grad, recording
from micrograd.ops import Op

__all__ = ["Value", "linear", "topological_order", "no_grad", "enable_grad", "is_grad_enabled", "backend"]

Scalar = Union["Value", float, int]


class Value:
    """One scalar of an expression graph, with the gradient of the output with respect to it.

    ``Value(data, _children=(), _op='', label='', _local_grads=())``: the
    positional form of the original micrograd, plus microgpt's local derivatives
    for a node made by hand. ``_prev`` is the tuple of children, in order.
    """

    # __dict__ lets code put its own attributes on a node: a label, a colour, an optimizer's moment.
    __slots__ = ("data", "grad", "_children", "_local_grads", "_fn", "_attrs", "__dict__", "__weakref__")
    label = ""  # kept in the node's __dict__ when given

    def __init__(self, data: float, _children: Iterable[Value] = (), _op: str = "", label: str = "",
                 _local_grads: Iterable[float] = ()) -> None:  # fmt: skip
        self.data: float = data if type(data) is float else checks.to_float(data)
        self.grad: Any = 0.0  # a float; a Value after backward(create_graph=True)
        self._prev = _children
        self._local_grads: tuple[float, ...] = tuple(map(float, _local_grads))
        self._fn: Op | None = None  # the op of the table that made this node; None for leaves and hand-made nodes
        self._attrs: tuple[Any, ...] = ()  # the op's constants, e.g. the k of x ** k
        if _op:
            self._op = _op
        if label:
            self.label = label

    @classmethod
    def _make(cls, data: float, children: tuple[Value, ...], local_grads: Sequence[float],
              fn: Op | None = None, attrs: tuple[Any, ...] = ()) -> Value:
        """A node from its parts, without __init__'s argument handling: how every op builds its result."""
        node = object.__new__(cls)
        node.data, node.grad, node._children = data, 0.0, children
        node._local_grads, node._fn, node._attrs = tuple(local_grads), fn, attrs
        return node

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    @property
    def _prev(self) -> tuple[Value, ...]:
        """The children, in order (the original keeps a set; a tuple keeps every run's order the same)."""
        return self._children

    @_prev.setter
    def _prev(self, children: Iterable[Value]) -> None:
        self._children = checks.check_children(tuple(children), Value)

    @property
    def _op(self) -> str:
        """The op's label: '+', '*', '**2', 'exp', 'ReLU' ... ('' for a leaf)."""
        if self._fn is not None:
            return self._fn.display(self._attrs)
        return str(self.__dict__.get("_op", ""))

    @_op.setter
    def _op(self, text: str) -> None:
        self.__dict__["_op"] = text

    # ------------------------------------------------------------------
    # Ops: each applies its row of the table (micrograd.ops), which gives
    # the value and the local derivatives; composites use them.
    # ------------------------------------------------------------------

    def __add__(self, other: Scalar) -> Value:
        """a + b; d/da = 1, d/db = 1"""
        return _apply(ops.ADD, (self, other if isinstance(other, Value) else _constant(other)))

    def __mul__(self, other: Scalar) -> Value:
        """a * b; d/da = b, d/db = a"""
        return _apply(ops.MUL, (self, other if isinstance(other, Value) else _constant(other)))

    def __pow__(self, exponent: Scalar) -> Value:
        """x ** k for a number k (kept on the node as a constant); x ** y for a Value y"""
        if isinstance(exponent, Value):
            return _apply(ops.POW_VALUE, (self, exponent), (), ("pow: the derivative of x**y", "x = {}, y = {}"))
        if not isinstance(exponent, numbers.Real):
            raise TypeError(f"pow: exponent must be a number or a Value, got {type(exponent).__name__}")
        k = checks.to_float(exponent, "pow: exponent")
        return _apply(ops.POW, (self,), (k,), ("pow: the derivative of x{display}", "x = {}"))

    def exp(self) -> Value: return _apply(ops.EXP, (self,))  # noqa: E704
    def log(self) -> Value: return _apply(ops.LOG, (self,))  # noqa: E704
    def tanh(self) -> Value: return _apply(ops.TANH, (self,))  # noqa: E704
    def sigmoid(self) -> Value: return _apply(ops.SIGMOID, (self,))  # noqa: E704
    def relu(self) -> Value: return _apply(ops.RELU, (self,))  # noqa: E704
    def sin(self) -> Value: return _apply(ops.SIN, (self,))  # noqa: E704
    def cos(self) -> Value: return _apply(ops.COS, (self,))  # noqa: E704
    def sqrt(self) -> Value: return _apply(ops.SQRT, (self,))  # noqa: E704
    def softplus(self) -> Value: return _apply(ops.SOFTPLUS, (self,))  # noqa: E704
    def silu(self) -> Value: return _apply(ops.SILU, (self,))  # noqa: E704
    def gelu(self) -> Value: return _apply(ops.GELU, (self,))  # noqa: E704  (torch's approximate='tanh')
    def __abs__(self) -> Value: return _apply(ops.ABS, (self,))  # noqa: E704

    @staticmethod
    def _apply_op(op: Op, inputs: Sequence[Any], attrs: dict[str, Any]) -> Value:
        """Any op of the table on Values and numbers: what ``op(x, y)`` calls to build a node."""
        if op.arity is not None and len(inputs) != op.arity:
            raise TypeError(f"{op.name}: takes {op.arity} input(s), got {len(inputs)}")
        return _apply(op, tuple(map(_as_value, inputs)), tuple(attrs[name] for name in op.attrs))

    # Composites, written exactly as the original micrograd writes them, so results agree bit for bit.
    def __neg__(self) -> Value:
        return self * -1

    __radd__ = __add__  # other + self is computed as self + other, as the original does
    __rmul__ = __mul__

    def __sub__(self, other: Scalar) -> Value:
        return self + (-other)

    def __rsub__(self, other: Scalar) -> Value:
        return other + (-self)

    def __truediv__(self, other: Scalar) -> Value:
        checks.divisor_data(other)
        return self * other**-1

    def __rtruediv__(self, other: Scalar) -> Value:
        checks.divisor_data(self)
        return other * self**-1

    def __rpow__(self, base: float) -> Value:
        return Value(base) ** self

    # Comparisons look at data only, as comparing 0-d tensors does in PyTorch. There is
    # no __eq__: Values stay hashable by identity, as in the original.
    def __lt__(self, other: Scalar) -> bool: return checks.compare(operator.lt, self.data, _data(other))  # noqa: E704
    def __le__(self, other: Scalar) -> bool: return checks.compare(operator.le, self.data, _data(other))  # noqa: E704
    def __gt__(self, other: Scalar) -> bool: return checks.compare(operator.gt, self.data, _data(other))  # noqa: E704
    def __ge__(self, other: Scalar) -> bool: return checks.compare(operator.ge, self.data, _data(other))  # noqa: E704

    def __float__(self) -> float:
        return float(self.data)

    def detach(self) -> Value:
        """A new leaf with the same data, cut off from the graph (as ``Tensor.detach``)."""
        return Value(self.data)

    # ------------------------------------------------------------------
    # Backpropagation
    # ------------------------------------------------------------------

    def backward(self, create_graph: bool = False) -> None:
        """Chain rule from this node to every node it depends on.

        Leaves *accumulate* (call ``zero_grad`` between steps, as in PyTorch); nodes with children
        hold this pass's gradient only. With ``create_graph=True`` the gradients are Values, connected
        to the graph, so they can be differentiated again.
        """
        with collector_paused():
            order = topological_order(self)
            for node in order:
                if node._prev or node._backward_set_by_hand():
                    node.grad = 0.0
            seed = 1.0 if self._prev else self.grad + 1.0
            self.grad = Value(seed) if create_graph and not isinstance(seed, Value) else seed
            with enable_grad() if create_graph else contextlib.nullcontext():
                chain_rule(order, create_graph)

    @property
    def _backward(self) -> Callable[[], None]:
        """This node's chain-rule step; assign a function of no arguments to replace it, as the lecture does."""
        step: Callable[[], None] | None = self.__dict__.get("_backward")
        return step if step is not None else functools.partial(chain_rule, [self])

    @_backward.setter
    def _backward(self, step: Callable[[], None]) -> None:
        if not callable(step):
            raise TypeError(f"_backward must be a function of no arguments, got {type(step).__name__}")
        self.__dict__["_backward"] = step

    def _backward_set_by_hand(self) -> bool:
        return "_backward" in self.__dict__

    def __reduce__(self) -> tuple[Any, ...]:
        """Copy and pickle through a flat list of records: no recursion, at any depth."""
        return reduce_value(self, topological_order(self))


def _apply(op: Op, xs: tuple[Value, ...], attrs: tuple[Any, ...] = (), about: tuple[str, str] = ("", "")) -> Value:
    """One node from an op of the table: its value from the row's forward, its local derivatives from the row's rule.

    ``about`` words the errors of pow: which power, at which x (the data of the inputs fill in ``{}``).
    """
    data_in = tuple(map(_data_of, xs))
    named = dict(zip(op.attrs, attrs, strict=True)) if attrs else None
    out = op.forward(*data_in, **named) if named else op.forward(*data_in)
    if type(out) is not float:
        out = checks.to_float(out, f"{op.name}: result")
    if not recording():  # inside no_grad: a leaf
        return _constant(out)
    try:
        local = op.derivative(*data_in, out, **named) if named else op.derivative(*data_in, out)
    except (ZeroDivisionError, OverflowError) as error:
        raise checks.derivative_error(type(error), op, data_in, attrs, about) from None
    local = op.local_tuple(local, len(xs))
    if not op.checked or op.arity is None:  # first use (and every use of a variadic row, whose count varies)
        checks.check_local_grads(op, local, len(xs))
    if (_INF in local or -_INF in local) and all(abs(d) < _INF for d in (*data_in, out)):
        # Float division does not raise: 1 / 5e-324 (log's derivative) is a silent inf. A finite input
        # with a finite output and an infinite derivative is an overflow, refused as the docs promise.
        raise checks.derivative_error(OverflowError, op, data_in, attrs, about)
    return Value._make(out, xs, local, op, attrs)


_data_of = operator.attrgetter("data")
_INF = float("inf")


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Value) else x


def _as_value(x: Any) -> Value:
    return x if isinstance(x, Value) else _constant(x)


def _constant(x: Any) -> Value:
    """A number as a leaf: the 2 of x * 2, or an op's result under no_grad."""
    return Value._make(x if type(x) is float else checks.to_float(x), (), ())


def linear(weights: Sequence[Value], inputs: Sequence[Scalar], bias: Value | None) -> Value:
    """bias + sum(w_i * x_i) as one node; d/dw_i = x_i, d/dx_i = w_i, d/dbias = 1.

    A neuron's weighted sum, added left to right as ``sum(w*x for ..., bias)``
    adds it, so the value is bit for bit the same, in one node instead of 2n.
    With ``bias=None`` the sum starts from 0.0 (the row ``dot``).
    """
    checks.check_linear(weights, inputs, bias, Value)
    parts = [*weights, *inputs] if bias is None else [*weights, *inputs, bias]
    return _apply(ops.DOT if bias is None else ops.LINEAR, tuple(map(_as_value, parts)))


# ----------------------------------------------------------------------
# The graph: a topological order, and the one chain-rule walk
# ----------------------------------------------------------------------


def topological_order(*roots: Value) -> list[Value]:
    """Every node the roots depend on, children before parents, the roots last.

    Depth-first, with an explicit stack instead of recursion, so depth is
    limited by memory, not by Python's recursion limit. Children are visited in
    order, exactly as a recursive search would, so every run gives the same order.
    """
    for root in roots:
        if not isinstance(root, Value):
            raise TypeError(f"topological_order: roots must be Values, got {type(root).__name__}")
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[Any] = list(reversed(roots))
    while stack:
        node = stack.pop()
        if node is _CHILDREN_DONE:  # the node under the marker has all its children in the order
            order.append(stack.pop())
        elif node not in visited:
            visited.add(node)
            stack += (node, _CHILDREN_DONE)
            stack += [child for child in reversed(node._prev) if child not in visited]
    return order


_CHILDREN_DONE = object()


def chain_rule(order: list[Value], create_graph: bool = False) -> None:
    """``child.grad += local * node.grad`` for every edge, taking nodes from the end of ``order``.

    The one walk behind ``backward()``, ``_backward()``, ``micrograd.grad`` and
    the narration. A node with a ``_backward`` set by hand runs that instead.
    With ``create_graph`` the local derivatives are the table's rules evaluated
    on Values, so the gradients are graphs too.
    """
    for node in reversed(order):
        if node._backward_set_by_hand():
            node._backward()
        elif create_graph and node._fn is not None:
            local_grads = node._fn.local_grads(node._prev, node, node._attrs)
            for child, local in zip(node._prev, local_grads, strict=True):
                term = local * node.grad
                before = child.grad
                child.grad = term if type(before) is float and before == 0.0 else before + term
        else:
            for child, local in zip(node._prev, node._local_grads, strict=False):  # a hand-made node may give fewer
                child.grad += local * node.grad


# ----------------------------------------------------------------------
# The accelerator: the same engine in C, unless MICROGRAD_PURE=1 (or it is not built).
# ----------------------------------------------------------------------

backend = "python"
if os.environ.get("MICROGRAD_PURE", "") in ("", "0"):
    try:
        from micrograd._cengine import install
    except ImportError:  # not built (no C compiler at install): the reference serves
        pass
    else:
        Value, topological_order, chain_rule, linear = install(Value, globals())  # type: ignore[misc]
        backend = "native"
