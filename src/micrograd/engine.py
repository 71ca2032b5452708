"""The engine: a scalar ``Value`` that remembers how it was computed.

A node holds its value ``data``, its gradient ``grad``, its children and the
local derivative of itself with respect to each child -- numbers, computed at
forward time from the op's row in the table (``micrograd.ops``). Forward and
backward stand side by side: ``a * b`` stores ``(b, a)``, the two local
derivatives, next to ``(a, b)``.

``backward()`` is then the chain rule over a topological order:
``child.grad += local * node.grad`` for every edge, from the output back to the
leaves. Nothing else is needed, because the local derivatives are already there.

To stay light, a node keeps its children and local derivatives in its own slots
(``_a``/``_b`` and ``_da``/``_db`` for the one- and two-input ops that make up
almost every graph; tuples for ops with more inputs), so a node is a single
object for Python's garbage collector, and a dropped graph is freed at once by
reference counting (a node refers only to its children, never back).
``_prev``, ``_local_grads`` and ``_op`` read these slots for you.

Extending Value the way the lecture does works too: set ``out._backward`` to a
function of no arguments and ``backward()`` calls it for that node, exactly as
in the original micrograd.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import numbers
import operator
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import reduce
from operator import add as _add
from operator import attrgetter
from operator import mul as _mul
from typing import Any, TypeVar, Union

from micrograd import ops
from micrograd.ops import ADD, DOT, LINEAR, MUL, POW, POW_VALUE, Op, float_pow

_INF = float("inf")

__all__ = ["Value", "linear", "topological_order", "no_grad", "enable_grad", "is_grad_enabled"]

Scalar = Union["Value", float, int]
F = TypeVar("F", bound=Callable[..., Any])


class _Marker:
    """What ``_b`` holds when ``_a`` is a tuple of children rather than one child."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_MANY = _Marker("<many children>")  # _a: tuple of children, _da: tuple of local derivatives
_CUSTOM = _Marker("<custom _backward>")  # _a: tuple of children; the node's _backward is a user function


class Value:
    """One scalar of an expression graph, with the gradient of the output with respect to it.

    ``Value(data, _children=(), _op='', label='')`` -- the positional form of the
    original micrograd. ``data`` and ``grad`` are floats; ``_prev`` is the tuple
    of children in a fixed order; ``_op`` names the op that made the node.
    """

    # One object per node: children and local derivatives live in slots, not in tuples
    # of their own. __dict__ lets code put its own attributes on a node (a colour, an
    # optimizer's moment); it costs one pointer until it is used.
    __slots__ = ("data", "grad", "_a", "_b", "_da", "_db", "_fn", "_arg", "__dict__", "__weakref__")

    label: str = ""  # kept in __dict__ when set: most nodes have none
    # The slots, for readers and type checkers: first child and second child (or a tuple of
    # children, see _MANY), their local derivatives, the op of the table, the op's constants.
    _a: Any
    _b: Any
    _da: Any
    _db: Any
    _fn: Op | None
    _arg: tuple[Any, ...]

    def __init__(
        self,
        data: float,
        _children: Iterable[Value] = (),
        _op: str = "",
        label: str = "",
        _local_grads: Iterable[Any] = (),
    ) -> None:
        self.data: float = data if type(data) is float else _to_float(data)
        self.grad: Any = 0.0  # a float; a Value after backward(create_graph=True)
        self._fn = None
        if label:
            self.label = label
        children = tuple(_children)
        if children:  # a node made by hand: no op from the table, so only the local derivatives given count
            self._a = children
            self._b = _MANY
            self._da = tuple(_local_grads)
        else:
            self._a = None
        if _op:
            self.__dict__["_op_text"] = _op

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # ------------------------------------------------------------------
    # The graph, as the original names it
    # ------------------------------------------------------------------

    @property
    def _prev(self) -> tuple[Value, ...]:
        """The children, in order (the original keeps a set; a tuple keeps the order fixed)."""
        return _children(self)

    @_prev.setter
    def _prev(self, children: Iterable[Value]) -> None:
        custom = getattr(self, "_a", None) is not None and self._b is _CUSTOM
        self._a = tuple(children)
        if not custom:
            self._b, self._da = _MANY, ()

    @property
    def _local_grads(self) -> tuple[Any, ...]:
        """d self / d child for each child, as stored at forward time."""
        a = self._a
        if a is None or self._b is _CUSTOM:
            return ()
        b = self._b
        if b is None:
            return (self._da,)
        if b is _MANY:
            return tuple(self._da)
        return (self._da, self._db)

    @property
    def _op(self) -> str:
        """The op's label: '+', '*', '**2', 'exp', 'ReLU' ... ('' for a leaf)."""
        fn: Op | None = getattr(self, "_fn", None)  # a subclass's own __init__ may never set it
        if fn is None:
            return str(self.__dict__.get("_op_text", ""))
        return fn.display(self._attrs)

    @_op.setter
    def _op(self, text: str) -> None:
        self.__dict__["_op_text"] = text

    @property
    def _attrs(self) -> tuple[Any, ...]:
        """The node's constants that are not inputs (the exponent k of x ** k), in its op's order."""
        return self._arg if self._fn is not None and self._fn.attrs else ()

    # ------------------------------------------------------------------
    # Primitives. Each row of the table in micrograd.ops gives an op's value and
    # local derivative; these methods apply it. + and * are most of every graph,
    # so they build their node right here, storing the same local derivatives as
    # their rows ((1, 1) and (b, a); a test holds every op to its row).
    # ------------------------------------------------------------------

    def __add__(self, other: Scalar) -> Value:
        """a + b; d/da = 1, d/db = 1"""
        if type(other) is not Value and not isinstance(other, Value):
            other = _constant(other)
        if _disabled_blocks and not _mode.enabled:
            return _constant(self.data + other.data)  # no_grad: a leaf
        out: Value = _new(Value)  # object.__new__: no __init__ frame, every slot set below
        out.data = self.data + other.data
        out.grad = 0.0
        out._a = self
        out._b = other
        out._da = 1.0
        out._db = 1.0
        out._fn = ADD
        return out

    def __mul__(self, other: Scalar) -> Value:
        """a * b; d/da = b, d/db = a"""
        if type(other) is not Value and not isinstance(other, Value):
            other = _constant(other)
        a = self.data
        b = other.data
        if _disabled_blocks and not _mode.enabled:
            return _constant(a * b)
        out: Value = _new(Value)
        out.data = a * b
        out.grad = 0.0
        out._a = self
        out._b = other
        out._da = b
        out._db = a
        out._fn = MUL
        return out

    def __pow__(self, exponent: Scalar) -> Value:
        """x ** k for a number k (k is stored on the node); x ** y for a Value y"""
        if isinstance(exponent, Value):
            # At x = 0 the base derivative y * x**(y-1) is infinite for 0 < y < 1 (y < 0 fails in the forward)
            if self.data == 0.0 and 0.0 < exponent.data < 1.0 and (not _disabled_blocks or _mode.enabled):
                raise ZeroDivisionError(f"pow: the derivative of x**y is infinite at x = 0.0, y = {exponent.data}")
            try:
                return _apply(POW_VALUE, (self, exponent), ())
            except _DerivativeOverflow:
                raise OverflowError(
                    f"pow: the derivative of x**y overflows a float at x = {self.data}, y = {exponent.data}"
                ) from None
        if not isinstance(exponent, numbers.Real):
            raise TypeError(f"pow: exponent must be a number or a Value, got {type(exponent).__name__}")
        k = _to_float(exponent, "pow: exponent")
        x = self.data
        data = float_pow("pow", x, k)
        if _disabled_blocks and not _mode.enabled:
            return _constant(data)
        if x == 0.0 and k < 1.0 and k != 0.0:
            raise ZeroDivisionError(f"pow: the derivative of x**{exponent} is infinite at x = 0.0")
        try:
            local = POW.derivative(x, data, k=k)
        except OverflowError:  # e.g. the derivative of x**-1, -x**-2, at x = 1e-160 (so also a / 1e-160)
            raise OverflowError(f"pow: the derivative of x**{exponent} overflows a float at x = {x}") from None
        out: Value = _new(Value)
        out.data = data
        out.grad = 0.0
        out._a = self
        out._b = None
        out._da = local
        out._fn = POW
        out._arg = (k,)
        return out

    def exp(self) -> Value:
        """e ** x; d/dx = e ** x"""
        return _unary(ops.EXP, self)

    def log(self) -> Value:
        """log x; d/dx = 1 / x"""
        return _unary(ops.LOG, self)

    def tanh(self) -> Value:
        """tanh x; d/dx = 1 - tanh(x)**2 (math.tanh saturates, so tanh(1000) is exact)"""
        return _unary(ops.TANH, self)

    def sigmoid(self) -> Value:
        """1 / (1 + e**-x); d/dx = s (1 - s)"""
        return _unary(ops.SIGMOID, self)

    def relu(self) -> Value:
        """max(0, x); d/dx = 1 if x > 0 else 0 (relu(nan) is nan, as in PyTorch)"""
        return _unary(ops.RELU, self)

    def sin(self) -> Value:
        return _unary(ops.SIN, self)

    def cos(self) -> Value:
        return _unary(ops.COS, self)

    def sqrt(self) -> Value:
        return _unary(ops.SQRT, self)

    def softplus(self) -> Value:
        return _unary(ops.SOFTPLUS, self)

    def silu(self) -> Value:
        return _unary(ops.SILU, self)

    def gelu(self) -> Value:
        """GELU, the tanh form (torch's approximate='tanh')"""
        return _unary(ops.GELU, self)

    def __abs__(self) -> Value:
        return _unary(ops.ABS, self)

    @staticmethod
    def _apply_op(op: Op, inputs: Sequence[Any], attrs: dict[str, Any]) -> Value:
        """Apply any op of the table to Values (and numbers): how ``op(x, y)`` builds a node."""
        return _apply(op, inputs, tuple(attrs[name] for name in op.attrs) if op.attrs else ())

    # ------------------------------------------------------------------
    # Composites: built from the primitives above, no derivative code.
    # Written exactly as the original micrograd does, so results agree bit for bit.
    # ------------------------------------------------------------------

    def __neg__(self) -> Value:  # -self
        return self * -1

    __radd__ = __add__  # other + self is computed as self + other, as the original does

    def __sub__(self, other: Scalar) -> Value:  # self - other
        return self + (-other)

    def __rsub__(self, other: Scalar) -> Value:  # other - self
        return other + (-self)

    __rmul__ = __mul__  # other * self is computed as self * other, as the original does

    def __truediv__(self, other: Scalar) -> Value:  # self / other
        _check_divisor(other)
        return self * other**-1

    def __rtruediv__(self, other: Scalar) -> Value:  # other / self
        _check_divisor(self)
        return other * self**-1

    def __rpow__(self, base: float) -> Value:  # base ** self
        return Value(base) ** self

    # Comparisons look at data only (as comparing 0-d tensors does in PyTorch).
    # There is no __eq__: Values stay hashable by identity, as in the original.
    # With a non-number they return NotImplemented, so Python raises its usual
    # TypeError ("'<' not supported between instances of 'Value' and 'str'").
    def __lt__(self, other: Scalar) -> bool:
        return self.data < other.data if isinstance(other, Value) else _compare(operator.lt, self.data, other)

    def __le__(self, other: Scalar) -> bool:
        return self.data <= other.data if isinstance(other, Value) else _compare(operator.le, self.data, other)

    def __gt__(self, other: Scalar) -> bool:
        return self.data > other.data if isinstance(other, Value) else _compare(operator.gt, self.data, other)

    def __ge__(self, other: Scalar) -> bool:
        return self.data >= other.data if isinstance(other, Value) else _compare(operator.ge, self.data, other)

    def __float__(self) -> float:
        return self.data

    def detach(self) -> Value:
        """A new leaf with the same data, cut off from the graph (as ``Tensor.detach``)."""
        return Value(self.data)

    # ------------------------------------------------------------------
    # Backpropagation
    # ------------------------------------------------------------------

    def backward(self, create_graph: bool = False) -> None:
        """Chain rule from this node to every node it depends on.

        Seeds ``self.grad = 1`` and visits nodes in reverse topological order,
        so a node's gradient is complete before it is passed on. Leaves
        *accumulate* (call ``zero_grad`` between steps, as in PyTorch);
        intermediate nodes hold the gradient of this pass only, so a second
        ``backward()`` adds exactly the same amounts to the leaves again.

        With ``create_graph=True`` the gradients are themselves Values,
        connected to the graph, so they can be differentiated again.
        """
        with _collector_paused():
            order = _depth_first((self,), zero_grads=True)  # intermediates: gradient of this pass only
            seed = 1.0 if self._a is not None else self.grad + 1.0
            self.grad = Value(seed) if create_graph and not isinstance(seed, Value) else seed
            if create_graph:
                with _grad_mode(True):
                    chain_rule(order, create_graph=True)
            else:
                chain_rule(order)

    @property
    def _backward(self) -> Callable[[], None]:
        """One chain-rule step: pass this node's grad to its children (the lecture's manual backprop).

        Assigning a function of no arguments replaces the step for this node,
        as in the lecture: ``out._backward = _backward``.
        """
        if self._a is not None and self._b is _CUSTOM:
            custom: Callable[[], None] = self.__dict__["_custom_backward"]
            return custom
        return functools.partial(chain_rule, [self])

    @_backward.setter
    def _backward(self, step: Callable[[], None]) -> None:
        if not callable(step):
            raise TypeError(f"_backward must be a function of no arguments, got {type(step).__name__}")
        self._a = _children(self) if getattr(self, "_a", None) is not None else ()
        self._b = _CUSTOM
        self.__dict__["_custom_backward"] = step

    # ------------------------------------------------------------------
    # Copying and pickling without recursion (a 100,000-node chain must copy)
    # ------------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        extra = {k: v for k, v in self.__dict__.items() if k != "_custom_backward"} or None
        if self._a is None:
            return (_rebuild_leaf, (type(self), self.data, self.grad, extra))
        if self._b is _CUSTOM:
            raise TypeError("cannot copy or pickle a node whose _backward is a function set by hand")
        return (_rebuild_graph, (_flatten(self),))


_new = object.__new__


def _constant(x: Any) -> Value:
    """A number as a leaf (the 2 of x * 2, or an op's result under no_grad): Value(x) without its argument handling."""
    if type(x) is int and -(2**53) <= x <= 2**53:  # sum() starts from the int 0
        x = float(x)
    elif type(x) is not float:
        return Value(x)
    leaf: Value = _new(Value)
    leaf.data = x
    leaf.grad = 0.0
    leaf._a = None
    leaf._fn = None
    return leaf


# ----------------------------------------------------------------------
# Node construction from the table
# ----------------------------------------------------------------------


def _unary(op: Op, x: Value) -> Value:
    """A one-input op: its value and local derivative from its row, on floats."""
    d = x.data
    data = op.forward(d)
    if type(data) is not float:
        data = float(data)
    if _disabled_blocks and not _mode.enabled:
        return _constant(data)
    try:
        local = op.derivative(d, data)
    except ZeroDivisionError:
        raise ZeroDivisionError(f"{op.name}: the derivative is infinite at x = {d}") from None
    except OverflowError:
        raise OverflowError(f"{op.name}: the derivative overflows a float at x = {d}") from None
    if (local == _INF or local == -_INF) and -_INF < d < _INF and -_INF < data < _INF:
        # Float division does not raise: 1 / 5e-324 (log's derivative) is a silent inf. A finite input
        # with a finite output and an infinite derivative is an overflow, refused as the docs promise.
        raise OverflowError(f"{op.name}: the derivative overflows a float at x = {d}")
    out: Value = _new(Value)
    out.data = data
    out.grad = 0.0
    out._a = x
    out._b = None
    out._da = local
    out._fn = op
    return out


class _DerivativeOverflow(OverflowError):
    """A local derivative too large for a float (the op's own message names it better where it can)."""


def _apply(op: Op, inputs: Sequence[Any], attrs: tuple[Any, ...]) -> Value:
    """Any op of the table on any number of inputs (numbers become leaves)."""
    if op.arity is not None and len(inputs) != op.arity:
        raise TypeError(f"{op.name}: takes {op.arity} input(s), got {len(inputs)}")
    xs = tuple(x if isinstance(x, Value) else Value(x) for x in inputs)
    data_in = [x.data for x in xs]
    named = dict(zip(op.attrs, attrs, strict=True))
    data = op.forward(*data_in, **named)
    data = data if type(data) is float else _to_float(data, f"{op.name}: result")
    if _disabled_blocks and not _mode.enabled:
        return _constant(data)
    try:
        local = op.local_grads(tuple(data_in), data, attrs)
    except ZeroDivisionError:
        raise ZeroDivisionError(f"{op.name}: the derivative is infinite at {data_in}") from None
    except OverflowError:  # e.g. y * x**(y-1) of x**y at x = 1e-200, y = -1: Python's bare "(34, ...)"
        raise _DerivativeOverflow(f"{op.name}: the derivative overflows a float at {data_in}") from None
    if len(local) != len(xs):
        raise ValueError(f"{op.name}: the derivative gave {len(local)} local derivatives for {len(xs)} inputs")
    out: Value = _new(Value)
    out.data = data
    out.grad = 0.0
    out._fn = op
    if attrs:
        out._arg = attrs
    if len(xs) == 1:
        out._a, out._b, out._da = xs[0], None, local[0]
    elif len(xs) == 2:
        out._a, out._b, out._da, out._db = xs[0], xs[1], local[0], local[1]
    else:
        out._a, out._b, out._da = xs, _MANY, local
    return out


def linear(weights: Sequence[Value], inputs: Sequence[Scalar], bias: Value | None) -> Value:
    """bias + sum(w_i * x_i) as one node; d/dw_i = x_i, d/dx_i = w_i, d/dbias = 1.

    A neuron's weighted sum. It adds in the same order as ``sum(w*x for ..., bias)``,
    so the value is bit-for-bit the same, but it is one node instead of 2n.
    With ``bias=None`` the sum starts from 0.0, bit for bit ``sum(w * x for ...)``.
    """
    if len(weights) != len(inputs):
        raise ValueError(f"linear: {len(weights)} weights but {len(inputs)} inputs")
    try:
        x_data = list(map(_get_data, inputs))
        xs = inputs
    except AttributeError:  # some inputs are plain numbers: they become leaves
        xs = [x if isinstance(x, Value) else Value(x) for x in inputs]
        x_data = list(map(_get_data, xs))
    try:
        w_data = list(map(_get_data, weights))
        start = 0.0 if bias is None else bias.data
    except AttributeError:  # diagnosed only when it fails: this is a neuron's hot path
        _check_linear_parameters(weights, bias)
        raise
    # reduce adds left to right, one product at a time: exactly the loop bias + w1*x1 + w2*x2 ...
    total = reduce(_add, map(_mul, w_data, x_data), start)
    if _disabled_blocks and not _mode.enabled:
        return _constant(total)
    out: Value = _new(Value)
    out.data = total
    out.grad = 0.0
    out._b = _MANY
    if bias is None:  # the local derivatives of the table's rows, stored as they are read
        out._a, out._da, out._fn = (*weights, *xs), (*x_data, *w_data), DOT
    else:
        out._a, out._da, out._fn = (*weights, *xs, bias), (*x_data, *w_data, 1.0), LINEAR
    return out


_get_data = attrgetter("data")


def _check_linear_parameters(weights: Sequence[Any], bias: Any) -> None:
    for i, weight in enumerate(weights):
        if not isinstance(weight, Value):
            raise TypeError(f"linear: weights[{i}] must be a Value, got {type(weight).__name__}")
    if bias is not None and not isinstance(bias, Value):
        raise TypeError(f"linear: bias must be a Value or None, got {type(bias).__name__}")


# ----------------------------------------------------------------------
# The graph: children, topological order, and the one chain-rule walk
# ----------------------------------------------------------------------


def has_custom_backward(node: Value) -> bool:
    """True for a node whose ``_backward`` is a function set by hand (the lecture's pattern), not a table row."""
    return getattr(node, "_a", None) is not None and node._b is _CUSTOM


def _children(node: Value) -> tuple[Value, ...]:
    a = node._a
    if a is None:
        return ()
    b = node._b
    if b is None:
        return (a,)
    if b is _MANY or b is _CUSTOM:
        return tuple(a)
    return (a, b)


def topological_order(*roots: Value) -> list[Value]:
    """Every node the roots depend on, children before parents, the roots last.

    An explicit stack instead of recursion, so depth is limited by memory,
    not by Python's recursion limit. Children are visited in order, exactly as
    a recursive depth-first search would, so the order is the same on every run.
    """
    with _collector_paused():
        return _depth_first(roots, zero_grads=False)


def _depth_first(roots: Sequence[Value], zero_grads: bool) -> list[Value]:
    """The depth-first order; with ``zero_grads``, every op node's grad is set to 0.0 on the way.

    The stack holds nodes to visit; a node being expanded sits under a _DONE marker,
    with its unvisited children above it: when the marker comes back up, the
    children are all done and the node is next in the order.
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[Any] = list(reversed(roots))
    push, pop, emit, mark = stack.append, stack.pop, order.append, visited.add
    while stack:
        node = pop()
        if node is _DONE:
            emit(pop())
            continue
        if node in visited:
            continue
        mark(node)
        a = node._a
        if a is None:  # a leaf
            emit(node)
            continue
        if zero_grads:
            node.grad = 0.0
        push(node)
        push(_DONE)
        b = node._b
        if b is None:
            if a not in visited:
                push(a)
        elif b is _MANY or b is _CUSTOM:  # a neuron's weights are shared by every example: skip the seen
            stack.extend([child for child in reversed(a) if child not in visited])
        else:
            if b not in visited:
                push(b)
            if a not in visited:
                push(a)
    return order


_DONE = _Marker("<children done>")


def chain_rule(order: list[Value], create_graph: bool = False) -> None:
    """``child.grad += local * node.grad`` for every edge, nodes taken from the end of ``order``.

    The one walk behind ``backward()``, ``_backward()``, ``micrograd.grad`` and
    the narrated trace. With ``create_graph`` the local derivatives are the table's
    rules evaluated on Values, so the gradients are graphs too.
    """
    for node in reversed(order):
        a = node._a
        if a is None:
            continue
        g = node.grad
        b = node._b
        if create_graph and node._fn is not None:
            locals_ = node._fn.local_grads(_children(node), node, node._attrs)
            for child, local in zip(_children(node), locals_, strict=True):
                term = local * g
                grad = child.grad
                child.grad = term if type(grad) is float and grad == 0.0 else grad + term
        elif b is None:
            a.grad += node._da * g
        elif b is _MANY:
            for child, local in zip(a, node._da, strict=False):  # a node made by hand may give fewer
                child.grad += local * g
        elif b is _CUSTOM:
            node.__dict__["_custom_backward"]()
        else:
            a.grad += node._da * g
            b.grad += node._db * g


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while we walk a graph.

    Walking allocates many short-lived objects (the visited set, the order, the
    stack), and every few hundred allocations the collector would rescan the
    whole live graph. Our graphs hold no reference cycles (a node refers only to
    its children), so those scans can never find garbage: pausing them is pure
    saving. Nothing is leaked -- the collector resumes as it was.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ----------------------------------------------------------------------
# Copying and pickling: a graph as a flat list, so no recursion at any depth
# ----------------------------------------------------------------------


def _flatten(root: Value) -> list[Any]:
    """The graph below root in topological order: leaves as themselves, op nodes as records of indices."""
    order = topological_order(root)
    index = {node: i for i, node in enumerate(order)}
    records: list[Any] = []
    for node in order:
        if node._a is None:
            records.append(node)  # a leaf pickles by itself (no children, so no recursion)
            continue
        kids = tuple(index[c] for c in _children(node))
        fn = node._fn
        extra = {k: v for k, v in node.__dict__.items()} or None
        records.append((type(node), node.data, node.grad, kids, node._local_grads, fn, node._attrs, extra))
    return records


def _rebuild_leaf(cls: type[Value], data: float, grad: Any, extra: dict[str, Any] | None) -> Value:
    node: Value = _new(cls)
    node.data, node.grad, node._a, node._fn = data, grad, None, None
    if extra:
        node.__dict__.update(extra)
    return node


def _rebuild_graph(records: list[Any]) -> Value:
    nodes: list[Value] = []
    for record in records:
        if isinstance(record, Value):
            nodes.append(record)
            continue
        cls, data, grad, kids, local, fn, attrs, extra = record
        node: Value = _new(cls)
        node.data, node.grad, node._fn = data, grad, fn
        children = tuple(nodes[k] for k in kids)
        if fn is not None and len(children) == 1:
            node._a, node._b, node._da = children[0], None, local[0]
        elif fn is not None and len(children) == 2:
            node._a, node._b, node._da, node._db = children[0], children[1], local[0], local[1]
        else:
            node._a, node._b, node._da = children, _MANY, tuple(local)
        if attrs:
            node._arg = attrs
        if extra:
            node.__dict__.update(extra)
        nodes.append(node)
    return nodes[-1]


# ----------------------------------------------------------------------
# Grad mode, per thread (as in PyTorch)
# ----------------------------------------------------------------------


class _GradMode(threading.local):
    """This thread's grad mode and the modes saved by the blocks it is inside."""

    def __init__(self) -> None:
        self.enabled = True
        self.saved: list[bool] = []


_mode = _GradMode()
# How many no_grad blocks are open in all threads together. While it is 0, every
# thread builds graphs, and an op need not look at its thread's mode at all.
_disabled_blocks = 0
_count_lock = threading.Lock()


def is_grad_enabled() -> bool:
    """True unless this thread is inside ``micrograd.no_grad()``."""
    return _mode.enabled


class _GradModeBlock:
    """Sets this thread's grad mode for a ``with`` block (or a decorated function), then restores it."""

    _enabled = True

    def __enter__(self) -> None:
        global _disabled_blocks
        _mode.saved.append(_mode.enabled)  # a stack: the same object can be entered twice, nested
        _mode.enabled = self._enabled
        with _count_lock:
            _disabled_blocks += 1

    def __exit__(self, *exc: object) -> None:
        global _disabled_blocks
        _mode.enabled = _mode.saved.pop()
        with _count_lock:
            _disabled_blocks -= 1

    def __call__(self, fn: F) -> F:
        mode = type(self)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with mode():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeBlock):
    """Context manager and decorator: ops inside build no graph (results are leaves).

    As ``torch.no_grad``: for evaluation and for parameter updates. The mode is
    per thread, so another thread's training is not affected.
    """

    _enabled = False


class enable_grad(_GradModeBlock):
    """Context manager and decorator: build graphs inside, even within ``no_grad`` (as ``torch.enable_grad``)."""

    _enabled = True


def _grad_mode(enabled: bool) -> _GradModeBlock:
    return enable_grad() if enabled else no_grad()


# ----------------------------------------------------------------------
# Helpers: conversions and domain checks with messages that name the op
# ----------------------------------------------------------------------


def _to_float(data: Any, what: str = "Value: data") -> float:
    if isinstance(data, numbers.Real):
        try:
            return float(data)
        except OverflowError:  # an int beyond 1.8e308
            raise OverflowError(f"{what} {_shown(data)} is too large for a float") from None
    raise TypeError(f"{what} must be a real number (int or float), got {type(data).__name__} {_shown(data)}")


def _shown(x: object) -> str:
    if isinstance(x, int) and x.bit_length() > 128:  # repr of a huge int is long (or refused: 4300 digits)
        return f"(an int of {x.bit_length()} bits)"
    shown = repr(x)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _data(x: Scalar) -> float:
    return x.data if isinstance(x, Value) else float(x)


def _compare(compare: Callable[[float, Any], Any], data: float, other: object) -> Any:
    """A comparison of data with a plain number; NotImplemented for anything else.

    The number is compared as it is, not converted to a float first: Python compares a float with
    an int exactly, so ``Value(1) < 10**400`` is True instead of an OverflowError from float(10**400).
    """
    if isinstance(other, numbers.Real):
        return compare(data, other)
    return NotImplemented


def _check_divisor(divisor: Scalar) -> None:
    value = divisor.data if isinstance(divisor, Value) else _to_float(divisor, "division: divisor")
    if value == 0.0:
        raise ZeroDivisionError(f"division: divisor is {value}")


_stable_sigmoid = ops._float_sigmoid  # the float sigmoid of the table, for code that evaluates models on floats
