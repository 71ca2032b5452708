"""The engine: a scalar ``Value`` that remembers how it was computed.

Every primitive op below does two things in one place: it computes its forward
value, and it names its *local derivative rule* -- a small function
``rule(inputs..., out) -> d out / d input`` written with plain arithmetic.  At
forward time the rule is evaluated once on floats and the numbers are stored
in the new node (``_local_grads``), next to its children (``_prev``).  A node
therefore holds data, not closures: no node refers back to itself, so a graph
is freed by reference counting the moment it is dropped.

``backward()`` is then just the chain rule over a topological order:
``child.grad += local_grad * node.grad`` for every edge.  The same rules,
evaluated on Values instead of floats, give higher-order gradients
(``backward(create_graph=True)``).

Composite ops (``-``, ``/``, ``neg`` ...) are built from primitives and have no
derivative code of their own.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import numbers
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar, Union

__all__ = ["Value", "linear", "topological_order", "no_grad", "is_grad_enabled"]

Scalar = Union["Value", float, int]
# rule(inputs..., out): the local derivative of out with respect to each input.
Rule = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])

# Switched off by micrograd.no_grad(): ops then build no graph (results are leaves).
_grad_enabled = True


def is_grad_enabled() -> bool:
    """True unless inside ``micrograd.no_grad()``."""
    return _grad_enabled


class Value:
    """One scalar of an expression graph, with the gradient of the output with respect to it.

    ``Value(data, _children=(), _op='', label='')`` -- the positional form of the
    original micrograd. ``data`` and ``grad`` are floats; ``_prev`` is the tuple
    of children in a fixed order; ``_op`` names the op that made the node.
    """

    __slots__ = ("data", "grad", "label", "_prev", "_op", "_rule", "_local_grads", "__weakref__")

    def __init__(
        self,
        data: float,
        _children: Iterable[Value] = (),
        _op: str = "",
        label: str = "",
        _rule: Rule | None = None,
        _local_grads: tuple[Any, ...] = (),
    ) -> None:
        if type(data) is not float:
            data = _to_float(data)
        self.data: float = data
        self.grad: Any = 0.0  # a float; a Value after backward(create_graph=True)
        self.label = label
        self._prev: tuple[Value, ...] = _children if type(_children) is tuple else tuple(_children)
        self._op = _op
        self._rule = _rule
        self._local_grads = _local_grads

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # ------------------------------------------------------------------
    # Primitives: the forward value and the local derivative, side by side.
    # Each rule gets the inputs and the output, as floats (or as Values for
    # higher-order gradients), and returns d out / d input for each input.
    # ------------------------------------------------------------------

    # A rule is made once, as a static attribute beside its op, not as a lambda
    # inside the op: a lambda would be a new function object for every node,
    # more garbage for Python's collector to scan while a big graph is alive.

    _add_rule = staticmethod(lambda a, b, out: (1.0, 1.0))

    def __add__(self, other: Scalar) -> Value:
        """a + b; d/da = 1, d/db = 1"""
        other = other if isinstance(other, Value) else Value(other)
        return _binary(self, other, self.data + other.data, "+", Value._add_rule)

    _mul_rule = staticmethod(lambda a, b, out: (b, a))

    def __mul__(self, other: Scalar) -> Value:
        """a * b; d/da = b, d/db = a"""
        other = other if isinstance(other, Value) else Value(other)
        return _binary(self, other, self.data * other.data, "*", Value._mul_rule)

    _zero_rule = staticmethod(lambda x, out: 0.0)  # x ** 0

    def __pow__(self, exponent: Scalar) -> Value:
        """x ** k for a number k; d/dx = k * x**(k-1).  x ** y for a Value y: see _pow_value."""
        if isinstance(exponent, Value):
            return _pow_value(self, exponent)
        if not isinstance(exponent, numbers.Real):
            raise TypeError(f"pow: exponent must be a number or a Value, got {type(exponent).__name__}")
        k = _to_float(exponent, "pow: exponent")
        out = _float_pow("pow", self.data, k)
        if k == 0.0:  # d/dx x**0 = 0 everywhere, even at x = 0 where k * x**-1 is undefined
            return _unary(self, out, f"**{exponent}", Value._zero_rule)
        if self.data == 0.0 and k < 1.0 and _grad_enabled:
            raise ZeroDivisionError(f"pow: the derivative of x**{exponent} is infinite at x = 0.0")
        # The one rule that is a closure: it needs the exponent k, which is not an input.
        try:
            return _unary(self, out, f"**{exponent}", lambda x, out: k * x ** (k - 1))
        except OverflowError:  # e.g. the derivative of x**-1, -x**-2, at x = 1e-160 (so also a / 1e-160)
            raise OverflowError(f"pow: the derivative of x**{exponent} overflows a float at x = {self.data}") from None

    _exp_rule = staticmethod(lambda x, out: out)

    def exp(self) -> Value:
        """exp(x); d/dx = exp(x)"""
        try:
            out = math.exp(self.data)
        except OverflowError:
            raise OverflowError(f"exp: result overflows a float, got {self.data}") from None
        return _unary(self, out, "exp", Value._exp_rule)

    _log_rule = staticmethod(lambda x, out: 1.0 / x)

    def log(self) -> Value:
        """log(x); d/dx = 1 / x"""
        if self.data <= 0.0:  # NaN is not refused: it flows through, as in PyTorch
            raise ValueError(f"log: argument must be > 0, got {self.data}")
        return _unary(self, math.log(self.data), "log", Value._log_rule)

    _tanh_rule = staticmethod(lambda x, out: 1.0 - out * out)

    def tanh(self) -> Value:
        """tanh(x); d/dx = 1 - tanh(x)**2"""
        # math.tanh saturates to +-1 instead of overflowing, so tanh(1000) is exact.
        return _unary(self, math.tanh(self.data), "tanh", Value._tanh_rule)

    _sigmoid_rule = staticmethod(lambda x, out: out * (1.0 - out))

    def sigmoid(self) -> Value:
        """sigmoid(x) = 1 / (1 + exp(-x)); d/dx = sigmoid(x) * (1 - sigmoid(x))"""
        return _unary(self, _stable_sigmoid(self.data), "sigmoid", Value._sigmoid_rule)

    _relu_rule = staticmethod(lambda x, out: 0.0 if out <= 0.0 else 1.0)

    def relu(self) -> Value:
        """relu(x) = max(0, x); d/dx = 1 if x > 0 else 0"""
        # Written so that NaN flows through (relu(nan) is nan, as in PyTorch), not clamped to 0.
        out = 0.0 if self.data < 0.0 else self.data
        return _unary(self, out, "ReLU", Value._relu_rule)

    # ------------------------------------------------------------------
    # Composites: built from the primitives above, no derivative code.
    # Written exactly as the original micrograd does, so results agree bit for bit.
    # ------------------------------------------------------------------

    def __neg__(self) -> Value:  # -self
        return self * -1

    def __radd__(self, other: Scalar) -> Value:  # other + self
        return self + other

    def __sub__(self, other: Scalar) -> Value:  # self - other
        return self + (-other)

    def __rsub__(self, other: Scalar) -> Value:  # other - self
        return other + (-self)

    def __rmul__(self, other: Scalar) -> Value:  # other * self
        return self * other

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
        return self.data < other.data if isinstance(other, Value) else _compare(self.data.__lt__, other)

    def __le__(self, other: Scalar) -> bool:
        return self.data <= other.data if isinstance(other, Value) else _compare(self.data.__le__, other)

    def __gt__(self, other: Scalar) -> bool:
        return self.data > other.data if isinstance(other, Value) else _compare(self.data.__gt__, other)

    def __ge__(self, other: Scalar) -> bool:
        return self.data >= other.data if isinstance(other, Value) else _compare(self.data.__ge__, other)

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
            order = topological_order(self)
            for node in order:
                if node._prev:  # intermediate: gradient of this pass only
                    node.grad = 0.0
            seed = 1.0 if self._prev else self.grad + 1.0
            self.grad = Value(seed) if create_graph and not isinstance(seed, Value) else seed
            for node in reversed(order):
                grad = node.grad
                local_grads = _local_grads_as_values(node) if create_graph else node._local_grads
                # strict=False: a node made by hand, Value(x, (a, b)), has children but no local
                # derivatives and passes nothing on -- as in the original, whose _backward does nothing.
                for child, local in zip(node._prev, local_grads, strict=False):
                    child.grad += local * grad

    def _backward(self) -> None:
        """One chain-rule step: pass this node's grad to its children (the lecture's manual backprop)."""
        for child, local in zip(self._prev, self._local_grads, strict=False):  # see backward()
            child.grad += local * self.grad


# ----------------------------------------------------------------------
# Node construction
# ----------------------------------------------------------------------


def _unary(x: Value, data: float, op: str, rule: Rule) -> Value:
    if not _grad_enabled:
        return Value(data)
    return Value(data, (x,), op, "", rule, (rule(x.data, data),))


def _binary(a: Value, b: Value, data: float, op: str, rule: Rule) -> Value:
    if not _grad_enabled:
        return Value(data)
    return Value(data, (a, b), op, "", rule, rule(a.data, b.data, data))


def _local_grads_as_values(node: Value) -> tuple[Any, ...]:
    """The node's rule evaluated on Values, so that each local derivative is itself a graph."""
    if node._rule is None:
        return ()
    local = node._rule(*node._prev, node)
    return (local,) if len(node._prev) == 1 else tuple(local)


def _pow_value(base: Value, exponent: Value) -> Value:
    """x ** y with y a Value; d/dx = y * x**(y-1), d/dy = x**y * log(x)"""
    out = _float_pow("pow", base.data, exponent.data)
    # At x = 0 the base derivative y * x**(y-1) is infinite for 0 < y < 1 (y < 0 already failed
    # above); at y = 0 it is 0, as for x**0 with a number exponent and as in PyTorch.
    if base.data == 0.0 and 0.0 < exponent.data < 1.0 and _grad_enabled:
        raise ZeroDivisionError(f"pow: the derivative of x**y is infinite at x = 0.0, y = {exponent.data}")
    return _binary(base, exponent, out, "**", _pow_value_rule)


def _pow_value_rule(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """d/dx = y * x**(y-1); d/dy = x**y * log(x) (0 at x = 0 as in PyTorch, nan for x < 0)"""
    if x > 0.0:
        d_exponent = out * (x.log() if isinstance(x, Value) else math.log(x))
    else:
        d_exponent = 0.0 if _data(x) == 0.0 else math.nan
    if _data(x) == 0.0 and _data(y) == 0.0:  # 0 ** 0: x**y is 1 for every nearby x, so d/dx = 0
        return 0.0, d_exponent
    return y * x ** (y - 1.0), d_exponent


def linear(weights: Sequence[Value], inputs: Sequence[Scalar], bias: Value) -> Value:
    """bias + sum(w_i * x_i) as one node; d/dw_i = x_i, d/dx_i = w_i, d/dbias = 1.

    A neuron's weighted sum. It adds in the same order as ``sum(w*x for ..., bias)``,
    so the value is bit-for-bit the same, but it is one node instead of 2n.
    """
    if len(weights) != len(inputs):
        raise ValueError(f"linear: {len(weights)} weights but {len(inputs)} inputs")
    xs = [x if isinstance(x, Value) else Value(x) for x in inputs]
    try:
        w_data = [w.data for w in weights]
        total = bias.data
    except AttributeError:  # diagnosed only when it fails: this is a neuron's hot path
        _check_linear_parameters(weights, bias)
        raise
    x_data = [x.data for x in xs]
    for w, x in zip(w_data, x_data, strict=True):
        total += w * x
    if not _grad_enabled:
        return Value(total)
    return Value(total, (*weights, *xs, bias), "linear", "", _linear_rule, (*x_data, *w_data, 1.0))


def _check_linear_parameters(weights: Sequence[Any], bias: Any) -> None:
    for i, weight in enumerate(weights):
        if not isinstance(weight, Value):
            raise TypeError(f"linear: weights[{i}] must be a Value, got {type(weight).__name__}")
    if not isinstance(bias, Value):
        raise TypeError(f"linear: bias must be a Value, got {type(bias).__name__}")


def _linear_rule(*args: Any) -> tuple[Any, ...]:
    """args = (w_1..w_n, x_1..x_n, bias, out): d/dw_i = x_i, d/dx_i = w_i, d/dbias = 1"""
    n = (len(args) - 2) // 2
    return (*args[n : 2 * n], *args[:n], 1.0)


# ----------------------------------------------------------------------
# Topological order, without recursion (a million-node chain must work)
# ----------------------------------------------------------------------


def topological_order(*roots: Value) -> list[Value]:
    """Every node the roots depend on, children before parents, the roots last.

    An explicit stack instead of recursion, so depth is limited by memory,
    not by Python's recursion limit. The order depends only on the children's
    order, so it is the same on every run.
    """
    with _collector_paused():
        return _depth_first_order(roots)


def _depth_first_order(roots: tuple[Value, ...]) -> list[Value]:
    order: list[Value] = []
    visited: set[Value] = set()
    for root in roots:
        if root in visited:
            continue
        visited.add(root)
        stack = [(root, iter(root._prev))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in visited:
                    visited.add(child)
                    stack.append((child, iter(child._prev)))
                    break
            else:  # all children done: the node itself comes next
                stack.pop()
                order.append(node)
    return order


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


class no_grad:
    """Context manager and decorator: ops inside build no graph (results are leaves).

    As ``torch.no_grad``: for evaluation and for parameter updates. The switch is
    process-wide (not per thread).
    """

    def __enter__(self) -> None:
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = False

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._previous

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


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


def _compare(compare: Callable[[float], Any], other: object) -> Any:
    """A comparison of data with a plain number; NotImplemented for anything else."""
    if isinstance(other, numbers.Real):
        return compare(float(other))
    return NotImplemented


def _check_divisor(divisor: Scalar) -> None:
    value = divisor.data if isinstance(divisor, Value) else _to_float(divisor, "division: divisor")
    if value == 0.0:
        raise ZeroDivisionError(f"division: divisor is {value}")


def _float_pow(op: str, x: float, k: float) -> float:
    if x < 0.0 and not k.is_integer():
        raise ValueError(f"{op}: a negative base {x} cannot be raised to the fractional power {k}")
    if x == 0.0 and k < 0.0:
        raise ZeroDivisionError(f"{op}: 0.0 cannot be raised to the negative power {k}")
    try:
        return float(x**k)
    except OverflowError:
        raise OverflowError(f"{op}: {x} ** {k} overflows a float") from None


def _stable_sigmoid(x: float) -> float:
    # exp of a large positive number overflows, so only ever exponentiate -|x|.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
