"""The op table: every op's forward value and local derivative, written once.

Each row is a ``defop(name, forward, derivative)`` call:

* ``forward(*inputs, **attrs)`` computes the value from plain numbers (floats,
  or numpy arrays for the batched compiler);
* ``derivative(*inputs, out, **attrs)`` returns d out / d input, one per input
  (a single value for a one-input op, a tuple otherwise).

Derivatives are written with the small math namespace below (``exp``, ``log``,
``tanh``, ``sin``, ``cos``, ``sqrt``, ``sigmoid``, ``where`` ...) and ordinary
arithmetic. Those functions accept floats, Values and numpy arrays alike, so the
same rule serves every interpreter: the eager engine evaluates it on floats at
forward time, ``create_graph=True`` evaluates it on Values (so second and third
derivatives are right for free), the numpy compiler evaluates it on arrays, and
the narration and the expression parser read the same rows.

``attrs`` are constants of a node that are not inputs, such as the exponent
``k`` of ``x ** k``; they are stored on the node, never in its name.

Adding an op is one call::

    softsign = defop("softsign", lambda x: x / (1 + abs(x)), lambda x, out: 1 / (1 + abs(x)) ** 2)
    softsign(Value(0.5))   # a Value; also works in explain, graph and compile_loss

Composites (``-``, ``/``, ``softmax`` ...) are written with these primitives and
have no derivative of their own.
"""

from __future__ import annotations

import builtins
import inspect
import math
import numbers
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "Op",
    "OPS",
    "defop",
    "exp",
    "log",
    "tanh",
    "sigmoid",
    "relu",
    "sin",
    "cos",
    "sqrt",
    "abs",
    "sign",
    "where",
    "softplus",
    "silu",
    "gelu",
]


class Op:
    """One row of the table: a name, the forward value, the local derivative and a one-line docstring.

    Calling an op applies it: on Values it builds a node of the graph, on plain
    numbers (or numpy arrays) it just computes the forward value.
    """

    __slots__ = ("name", "forward", "derivative", "doc", "arity", "attrs", "_display", "checked")

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        derivative: Callable[..., Any],
        doc: str = "",
        display: Callable[..., str] | None = None,
    ) -> None:
        self.name = name
        self.forward = forward
        self.derivative = derivative
        self.doc = doc
        self.arity, self.attrs = _signature(name, forward)
        self._display = display
        self.checked = False  # whether the engine has checked what the derivative gives (on first use)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in ("forward", "derivative"):
            row_edits[0] += 1  # an engine with code of its own for this row must use the row again
            object.__setattr__(self, "checked", False)  # and the engine checks what the new rule gives

    def __call__(self, *inputs: Any, **attrs: Any) -> Any:
        for x in inputs:
            # A Value (or any node type) builds a graph node; the op need not import the engine.
            make = getattr(type(x), "_apply_op", None)
            if make is not None:
                return make(self, inputs, attrs)
        return self.forward(*inputs, **attrs)

    def local_grads(self, inputs: tuple[Any, ...], out: Any, attrs: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        """d out / d input for each input, always as a tuple (the rule evaluated on floats, Values or arrays)."""
        local = self.derivative(*inputs, out, **dict(zip(self.attrs, attrs, strict=True)))
        return self.local_tuple(local, len(inputs))  # type: ignore[no-any-return]

    def local_tuple(self, local: Any, n_inputs: int) -> Any:
        """A derivative's result as a tuple: a one-input op, or a variadic op given one input, may give one value.

        Anything that is not a sequence comes back as it is, for the engine's check to name.
        """
        if self.arity == 1 or (n_inputs == 1 and not isinstance(local, (tuple, list))):
            return (local,)
        return tuple(local) if isinstance(local, (tuple, list)) else local

    def display(self, attrs: tuple[Any, ...] = ()) -> str:
        """How a node of this op is labelled in pictures and ``_op``: e.g. '**2' for x ** 2."""
        return self._display(*attrs) if self._display is not None else self.name

    def __repr__(self) -> str:
        return f"<op {self.name}: {self.doc}>" if self.doc else f"<op {self.name}>"

    def __reduce__(self) -> tuple[Any, ...]:  # pickled by name: a node's op is looked up again on load
        return (_op_named, (self.name,))


OPS: dict[str, Op] = {}  # every op, by name, in the order defined
# How many times a row's forward or derivative has been set. The native engine has C code for
# a few rows; it runs that code only while the row holds the functions the code was written for
# (a test or a lesson may put a wrong rule into the table, and then the engine must use it).
row_edits = [0]


def defop(
    name: str,
    forward: Callable[..., Any],
    derivative: Callable[..., Any],
    doc: str = "",
    *,
    display: Callable[..., str] | None = None,
) -> Op:
    """Add an op to the table and return it, as a function on Values and numbers.

    ``forward(*inputs, **attrs)`` takes floats (or arrays) and returns the value;
    ``derivative(*inputs, out, **attrs)`` returns the local derivative(s). Write
    the derivative with this module's functions and arithmetic, not ``math``'s,
    so that it also works on Values (``math.cos`` would turn a Value into a
    float and cut it out of the graph: the second derivative would be 0).
    Defining one of your own names again replaces that op (re-running a notebook cell is fine); the
    built-in rows cannot be replaced (a ValueError), since other rows and the engines rely on them.
    """
    if not isinstance(name, str) or not (name.isidentifier() or name in _OPERATOR_NAMES):
        raise ValueError(f"defop: name must be an identifier such as 'softsign', got {name!r}")
    for what, fn in (("forward", forward), ("derivative", derivative)):
        if not callable(fn):
            raise TypeError(f"defop: {what} must be a function, got {type(fn).__name__}")
    if name in OPS and is_built_in(OPS[name]):
        # Other rows and the engines' own code rely on the library's rows: replacing one would change
        # some derivatives and not others. Your own ops can be defined again (a re-run notebook cell).
        raise ValueError(f"defop: {name!r} is a built-in op of micrograd and cannot be replaced; choose another name")
    op = Op(name, forward, derivative, doc or (getattr(forward, "__doc__", None) or ""), display)
    OPS[name] = op
    return op


def is_built_in(op: Op) -> bool:
    """A row micrograd itself defined: its forward was written in one of micrograd's modules."""
    return str(getattr(op.forward, "__module__", "")).startswith("micrograd.")


_OPERATOR_NAMES = ("+", "*", "**")


def _signature(name: str, forward: Callable[..., Any]) -> tuple[int | None, tuple[str, ...]]:
    """(number of inputs or None for any number, names of the keyword-only attributes) of a forward."""
    try:
        parameters = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: one input
        return 1, ()
    kinds = [p.kind for p in parameters]
    attrs = tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return None, attrs
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    arity = sum(1 for kind in kinds if kind in positional)
    if arity == 0:
        raise ValueError(f"defop: the forward of {name!r} must take at least one input")
    return arity, attrs


def _op_named(name: str) -> Op:
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}: define it with micrograd.ops.defop before loading") from None


# ----------------------------------------------------------------------
# The math namespace: one name, three kinds of argument.
# On a float it is the math function (with errors that name the op), on a
# Value it applies the op from the table (a node, so derivatives of
# derivatives work), on a numpy array it is numpy's function.
# ----------------------------------------------------------------------


def _is_node(x: Any) -> bool:
    return getattr(type(x), "_apply_op", None) is not None


def _numpy() -> Any:
    return sys.modules["numpy"]  # only arrays reach here, so numpy is already imported


def _float_exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        raise OverflowError(f"exp: result overflows a float, got {x}") from None


def _float_log(x: float) -> float:
    if x <= 0.0:  # NaN is not refused: it flows through, as in PyTorch
        raise ValueError(f"log: argument must be > 0, got {x}")
    return math.log(x)


def _float_sqrt(x: float) -> float:
    if x < 0.0:
        raise ValueError(f"sqrt: argument must be >= 0, got {x}")
    return math.sqrt(x)


def _float_sigmoid(x: float) -> float:
    # exp of a large positive number overflows, so only ever exponentiate -|x|.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _float_softplus(x: float) -> float:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): never overflows, exact for large |x|.
    return (x if x > 0.0 else 0.0) + math.log1p(math.exp(-builtins.abs(x)))


def _array_sigmoid(x: Any) -> Any:
    np = _numpy()
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def _array_softplus(x: Any) -> Any:
    np = _numpy()
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _array_log(x: Any) -> Any:
    np = _numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x)


def _array_exp(x: Any) -> Any:
    np = _numpy()
    with np.errstate(over="ignore"):
        return np.exp(x)


def _elementwise(
    op_name: str, on_float: Callable[[float], float], on_array: Callable[[Any], Any], doc: str
) -> Callable[[Any], Any]:
    def function(x: Any) -> Any:
        if type(x) is float:
            return on_float(x)
        if isinstance(x, numbers.Real):
            return on_float(float(x))
        if _is_node(x):
            return OPS[op_name](x)
        return on_array(x)

    function.__name__ = function.__qualname__ = op_name
    function.__doc__ = doc
    return function


exp = _elementwise("exp", _float_exp, _array_exp, "e ** x")
log = _elementwise("log", _float_log, _array_log, "the natural logarithm")
tanh = _elementwise("tanh", math.tanh, lambda x: _numpy().tanh(x), "the hyperbolic tangent")
sigmoid = _elementwise("sigmoid", _float_sigmoid, _array_sigmoid, "1 / (1 + e ** -x)")
def _float_sin(x: float) -> float:
    return math.sin(x) if x - x == 0.0 else math.nan  # sin(+-inf) is nan, as in PyTorch (math.sin raises)


def _float_cos(x: float) -> float:
    return math.cos(x) if x - x == 0.0 else math.nan


sin = _elementwise("sin", _float_sin, lambda x: _numpy().sin(x), "the sine")
cos = _elementwise("cos", _float_cos, lambda x: _numpy().cos(x), "the cosine")
sqrt = _elementwise("sqrt", _float_sqrt, lambda x: _numpy().sqrt(x), "the square root")
softplus = _elementwise("softplus", _float_softplus, _array_softplus, "log(1 + e ** x)")


def relu(x: Any) -> Any:
    """max(0, x), with NaN flowing through (relu(nan) is nan, as in PyTorch)."""
    if type(x) is float:
        return 0.0 if x < 0.0 else x
    if isinstance(x, numbers.Real):
        f = float(x)
        return 0.0 if f < 0.0 else f
    if _is_node(x):
        return OPS["relu"](x)
    return _numpy().where(x < 0.0, 0.0, x)


def abs(x: Any) -> Any:  # noqa: A001 - the namespace mirrors math's names
    """|x|"""
    if isinstance(x, numbers.Real):
        return builtins.abs(float(x))
    if _is_node(x):
        return OPS["abs"](x)
    return _numpy().abs(x)


def sign(x: Any) -> Any:
    """-1, 0 or 1 (as torch.sign, so 0 for NaN: abs's gradient at NaN is 0 as in PyTorch); on a Value, a number."""
    if _is_node(x):
        x = x.data
    if isinstance(x, numbers.Real):
        x = float(x)
        return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else (x * 0.0 if x == 0.0 else 0.0))  # -0.0 stays -0.0
    np = _numpy()
    return np.where(np.isnan(x), 0.0, np.sign(x))


def where(condition: Any, if_true: Any, if_false: Any) -> Any:
    """``if_true`` where the condition holds, else ``if_false`` (numpy's where for arrays)."""
    if type(condition) is bool or isinstance(condition, numbers.Real):
        return if_true if condition else if_false
    return _numpy().where(condition, if_true, if_false)


def _silu_forward(x: Any) -> Any:
    return x * sigmoid(x)


_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu_inner(x: Any) -> Any:
    return _GELU_C * (x + 0.044715 * x * x * x)


def silu(x: Any) -> Any:
    """x * sigmoid(x)"""
    return OPS["silu"](x)


def gelu(x: Any) -> Any:
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the tanh form (as torch's approximate='tanh')"""
    return OPS["gelu"](x)


# ----------------------------------------------------------------------
# Pow: the errors of the eager engine for float arguments.
# ----------------------------------------------------------------------


def power(x: Any, k: Any) -> Any:
    """x ** k with errors instead of complex numbers (floats) and numpy's inf/nan (arrays)."""
    if type(x) is float and type(k) is float:
        return float_pow("pow", x, k)
    if isinstance(x, numbers.Real) and isinstance(k, numbers.Real):
        return float_pow("pow", float(x), float(k))
    if _is_node(x) or _is_node(k):
        return x**k
    np = _numpy()
    with np.errstate(all="ignore"):
        return np.power(np.asarray(x, dtype=float), k)


def float_pow(op: str, x: float, k: float) -> float:
    """x ** k on floats, refusing what has no real value, with a message that names the op."""
    if x < 0.0 and not k.is_integer():
        raise ValueError(f"{op}: a negative base {x} cannot be raised to the fractional power {k}")
    if x == 0.0 and k < 0.0:
        raise ZeroDivisionError(f"{op}: 0.0 cannot be raised to the negative power {k}")
    try:
        return float(x**k)
    except OverflowError:
        raise OverflowError(f"{op}: {x} ** {k} overflows a float") from None


def _pow_value_derivative(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """d/dx = y * x**(y-1); d/dy = x**y * log(x), 0 at x = 0 as in PyTorch (nan for x < 0)"""
    xd = x.data if _is_node(x) else x
    yd = y.data if _is_node(y) else y
    if isinstance(xd, numbers.Real):
        xd = float(xd)
        d_exponent = out * log(x) if xd > 0.0 else (0.0 if xd == 0.0 else math.nan)
        if xd == 0.0 and yd == 0.0:  # 0 ** 0: x**y is 1 for every nearby x, so d/dx = 0
            return 0.0, d_exponent
        return y * x ** (y - 1.0), d_exponent
    np = _numpy()  # arrays: the same cases, element by element
    with np.errstate(all="ignore"):
        positive = np.where(x > 0.0, x, 1.0)
        d_exponent = np.where(x > 0.0, out * np.log(positive), np.where(x == 0.0, 0.0, np.nan))
        zero_zero = (x == 0.0) & (y == 0.0)
        d_base = np.where(zero_zero, 0.0, y * np.power(np.where(zero_zero, 1.0, x), y - 1.0))
    return d_base, d_exponent


def _pow_const_derivative(x: Any, out: Any, *, k: float) -> Any:
    """d/dx x**k = k * x**(k-1) (0 for k = 0, even at x = 0)"""
    # Plain ** serves floats, Values and arrays: where x**(k-1) has no real value, x**k was refused first.
    return 0.0 if k == 0.0 else k * x ** (k - 1.0)


def _linear_forward(*args: Any) -> Any:
    """bias + w_1 x_1 + ... + w_n x_n, added left to right (as the original's sum over a neuron)"""
    n = (len(args) - 1) // 2
    total = args[-1]
    for w, x in zip(args[:n], args[n : 2 * n], strict=True):
        total = total + w * x
    return total


def _dot_forward(*args: Any) -> Any:
    """w_1 x_1 + ... + w_n x_n, from 0.0, left to right (bit for bit Python's sum(w * x ...))"""
    n = len(args) // 2
    total = 0.0
    for w, x in zip(args[:n], args[n:], strict=True):
        total = total + w * x
    return total


def _linear_derivative(*args: Any) -> tuple[Any, ...]:
    """args = (w_1..w_n, x_1..x_n, b, out): d/dw_i = x_i, d/dx_i = w_i, d/db = 1"""
    n = (len(args) - 2) // 2
    return (*args[n : 2 * n], *args[:n], 1.0)


def _dot_derivative(*args: Any) -> tuple[Any, ...]:
    """args = (w_1..w_n, x_1..x_n, out): d/dw_i = x_i, d/dx_i = w_i"""
    n = (len(args) - 1) // 2
    return (*args[n : 2 * n], *args[:n])


def _relu_derivative(x: Any, out: Any) -> Any:
    """1 where out > 0, else 0; NaN gives 1 so that NaN flows on (one expression for floats, Values, arrays)"""
    return 1.0 - (out <= 0.0)


# ----------------------------------------------------------------------
# The table. One row per primitive: forward, derivative, and its maths.
# ----------------------------------------------------------------------

ADD = defop("+", lambda a, b: a + b, lambda a, b, out: (1.0, 1.0), "d/da = 1, d/db = 1")
MUL = defop("*", lambda a, b: a * b, lambda a, b, out: (b, a), "d/da = b, d/db = a")
POW = defop(
    "pow", lambda x, *, k: power(x, k), _pow_const_derivative, "d/dx x**k = k x**(k-1)", display=lambda k: f"**{_k(k)}"
)
POW_VALUE = defop("**", power, _pow_value_derivative, "d/dx x**y = y x**(y-1), d/dy = x**y log x")
EXP = defop("exp", exp, lambda x, out: out, "d/dx e**x = e**x")
LOG = defop("log", log, lambda x, out: 1.0 / x, "d/dx log x = 1/x")
TANH = defop("tanh", tanh, lambda x, out: 1.0 - out * out, "d/dx tanh x = 1 - tanh(x)**2")
SIGMOID = defop("sigmoid", sigmoid, lambda x, out: out * (1.0 - out), "d/dx s(x) = s(x) (1 - s(x))")
RELU = defop("relu", relu, _relu_derivative, "d/dx relu x = 1 if x > 0 else 0", display=lambda: "ReLU")
SIN = defop("sin", sin, lambda x, out: cos(x), "d/dx sin x = cos x")
COS = defop("cos", cos, lambda x, out: -sin(x), "d/dx cos x = -sin x")
SQRT = defop("sqrt", sqrt, lambda x, out: 0.5 / out, "d/dx sqrt x = 1 / (2 sqrt x)")
ABS = defop("abs", abs, lambda x, out: sign(x), "d/dx |x| = sign x")
SOFTPLUS = defop("softplus", softplus, lambda x, out: sigmoid(x), "d/dx log(1 + e**x) = sigmoid x")
SILU = defop(
    "silu", _silu_forward, lambda x, out: sigmoid(x) * (1.0 + x * (1.0 - sigmoid(x))), "d/dx x s(x) = s (1 + x (1 - s))"
)
GELU = defop(
    "gelu",
    lambda x: 0.5 * x * (1.0 + tanh(_gelu_inner(x))),
    lambda x, out: 0.5 * (1.0 + tanh(_gelu_inner(x)))
    + 0.5 * x * (1.0 - tanh(_gelu_inner(x)) ** 2) * _GELU_C * (1.0 + 3 * 0.044715 * x * x),
    "d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t**2) c (1 + 3 a x**2), t = tanh(c (x + a x**3))",
)
LINEAR = defop("linear", _linear_forward, _linear_derivative, "d/dw_i = x_i, d/dx_i = w_i, d/db = 1")
DOT = defop("dot", _dot_forward, _dot_derivative, "d/dw_i = x_i, d/dx_i = w_i")


def _k(k: float) -> str:
    """An exponent as the original names it: 2 for 2.0, -1 for -1.0, 0.5 for 0.5."""
    return str(int(k)) if float(k).is_integer() and builtins.abs(k) < 1e15 else repr(float(k))
