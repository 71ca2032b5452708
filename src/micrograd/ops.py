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

A row answers for itself in every interpreter, so none of them tests which op it
holds: ``batched=(forward, derivative)`` is its code for array interpreters given
many nodes at once (``Op.on_arrays``; a fused row with many inputs needs it, a
row written with this namespace does without), and ``notation`` says how
formulas and generated code may write it out as arithmetic (``Notation``).
``c_pow``, ``c_exp``, ``c_log``, ``sequential_sum`` and ``softmax_parts`` give
Python's own floats on arrays too, for rows that must match the eager engine bit
for bit.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import math
import numbers
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Literal

__all__ = [
    "Op",
    "OPS",
    "Notation",
    "add_in_order",
    "defop",
    "c_exp",
    "c_log",
    "c_pow",
    "sequential_sum",
    "softmax_parts",
    "softmax_weights",
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

    __slots__ = (
        "name", "forward", "derivative", "doc", "arity", "attrs", "_display", "checked", "batched", "notation", "pad",
        "edited",
    )

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        derivative: Callable[..., Any],
        doc: str = "",
        display: Callable[..., str] | None = None,
        batched: tuple[Callable[..., Any], Callable[..., Any]] | None = None,
        notation: Notation | None = None,
        pad: tuple[float, ...] | None = None,
    ) -> None:
        self.name = name
        self.forward = forward
        self.derivative = derivative
        self.doc = doc
        self.arity, self.attrs = _signature(name, forward)
        self._display = display
        self.checked = False  # whether the engine has checked what the derivative gives (on first use)
        self.batched = batched  # (forward, derivative) on one stacked array, for the array interpreters
        self.notation = notation  # how formulas and generated code write the row out as arithmetic
        # A variadic row whose inputs are len(pad) equal parts (scores, then values): each part padded
        # at its end with its pad value gives the same value and the same derivatives of the real
        # inputs, bit for bit, so an array interpreter may compute nodes of different widths together.
        self.pad = pad
        self.edited = False  # whether its forward or derivative was replaced after it was made

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in ("forward", "derivative"):
            row_edits[0] += 1  # an engine with code of its own for this row must use the row again
            object.__setattr__(self, "checked", False)  # and the engine checks what the new rule gives
            if hasattr(self, "notation"):  # a rule changed at run time: the shortcuts written for the old one go
                object.__setattr__(self, "batched", None)
                object.__setattr__(self, "notation", None)
                object.__setattr__(self, "pad", None)
                object.__setattr__(self, "edited", True)

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

    def written_as(self, form: str, symbol: str = "") -> bool:
        """Whether the row says it is written out as ``form`` (see ``Notation``), with this ``symbol`` if given."""
        notation = self.notation
        return notation is not None and notation.form == form and (not symbol or notation.symbol == symbol)

    def on_arrays(self, stacked: Any, **attrs: Any) -> Any:
        """The value for many nodes at once: ``stacked[i]`` holds input i of every node (a 2-d numpy array).

        The row's ``batched`` forward when it has one (one array operation for the whole stack),
        else its own forward on the rows of the stack (written with this module's functions,
        it takes arrays as well as floats). Returns one value per node, as a float array.
        """
        if self.batched is not None:
            return self.batched[0](stacked, **attrs)
        np = _numpy()
        out = np.asarray(self.forward(*stacked, **attrs), dtype=float)
        return np.broadcast_to(out, stacked.shape[1:]) if out.shape != stacked.shape[1:] else out

    def derivative_on_arrays(self, stacked: Any, out: Any, **attrs: Any) -> Any:
        """The local derivatives of many nodes at once: row i holds d out / d input i of every node."""
        if self.batched is not None:
            return self.batched[1](stacked, out, **attrs)
        local = self.local_tuple(self.derivative(*stacked, out, **attrs), len(stacked))
        rows = _numpy().empty(stacked.shape)
        for i, d in enumerate(local):
            rows[i] = d  # a number (such as 1.0 for +) fills the row
        return rows

    def display(self, attrs: tuple[Any, ...] = ()) -> str:
        """How a node of this op is labelled in pictures and ``_op``: e.g. '**2' for x ** 2."""
        return self._display(*attrs) if self._display is not None else self.name

    def __repr__(self) -> str:
        return f"<op {self.name}: {self.doc}>" if self.doc else f"<op {self.name}>"

    def __reduce__(self) -> tuple[Any, ...]:  # pickled by name: a node's op is looked up again on load
        return (_op_named, (self.name,))


@dataclass(frozen=True)
class Notation:
    """How a row is written out as arithmetic rather than called, with the same floats as its forward.

    The narration writes formulas with it and the code generators write inline code with it, so
    neither needs to know which row it is looking at:

    * ``infix``: ``a <symbol> b`` (``+``, ``*``, ``**``); the local derivatives of ``+`` are 1 and
      those of ``*`` the other factor;
    * ``power``: ``x ** k`` for the node's constant ``k``;
    * ``sum_of_products``: ``w_1 x_1 + ... + w_n x_n`` (inputs ``w_1..w_n, x_1..x_n``), added from
      0.0 left to right, or from the last input (a bias) when ``bias``; derivatives x for w, w for x, 1;
    * ``clip_below_zero``: ``0.0 if x < 0.0 else x`` (NaN flows through).
    """

    form: Literal["infix", "power", "sum_of_products", "clip_below_zero"]
    symbol: str = ""
    bias: bool = False


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
    batched: tuple[Callable[..., Any], Callable[..., Any]] | None = None,
    notation: Notation | None = None,
    pad: tuple[float, ...] | None = None,
) -> Op:
    """Add an op to the table and return it, as a function on Values and numbers.

    ``forward(*inputs, **attrs)`` takes floats (or arrays) and returns the value;
    ``derivative(*inputs, out, **attrs)`` returns the local derivative(s). Write
    the derivative with this module's functions and arithmetic, not ``math``'s,
    so that it also works on Values (``math.cos`` would turn a Value into a
    float and cut it out of the graph: the second derivative would be 0).
    Defining one of your own names again replaces that op (re-running a notebook cell is fine); the
    built-in rows cannot be replaced (a ValueError), since other rows and the engines rely on them.

    ``batched=(forward, derivative)``, optional, is the row for array interpreters given many nodes
    at once: ``forward(stacked, **attrs)`` gets one 2-d array whose row i is input i of every node
    and returns one value per node; ``derivative(stacked, out, **attrs)`` returns one row of local
    derivatives per input. Without it, the array interpreters call ``forward`` and ``derivative``
    on arrays, which works for a row written with this module's functions.

    ``pad``, optional, for a variadic row whose inputs are ``len(pad)`` equal parts: padding each
    part at its end with its value (``attend``: scores with -inf, values with 0.0) changes neither
    the value nor the real inputs' derivatives, bit for bit. The GPT's numpy engine then computes
    nodes of different widths (attention over 3 and over 7 positions) in one array operation.
    """
    if not isinstance(name, str) or not (name.isidentifier() or name in _OPERATOR_NAMES):
        raise ValueError(f"defop: name must be an identifier such as 'softsign', got {name!r}")
    for what, fn in (("forward", forward), ("derivative", derivative)):
        if not callable(fn):
            raise TypeError(f"defop: {what} must be a function, got {type(fn).__name__}")
    if batched is not None and not (
        isinstance(batched, tuple) and len(batched) == 2 and all(callable(fn) for fn in batched)
    ):
        raise TypeError(f"defop: batched must be a pair (forward, derivative) of functions, got {batched!r}")
    if pad is not None and not (
        isinstance(pad, tuple) and pad and all(isinstance(v, float) for v in pad)
    ):
        raise TypeError(f"defop: pad must be a non-empty tuple of floats, one per part of the inputs, got {pad!r}")
    if notation is not None and not isinstance(notation, Notation):
        raise TypeError(f"defop: notation must be a micrograd.ops.Notation, got {type(notation).__name__}")
    if name in OPS and is_built_in(OPS[name]):
        # Other rows and the engines' own code rely on the library's rows: replacing one would change
        # some derivatives and not others. Your own ops can be defined again (a re-run notebook cell).
        raise ValueError(f"defop: {name!r} is a built-in op of micrograd and cannot be replaced; choose another name")
    doc = doc or (getattr(forward, "__doc__", None) or "")
    op = Op(name, forward, derivative, doc, display, batched, notation, pad)
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


# ----------------------------------------------------------------------
# C's own pow, exp and log on arrays, and the softmax: for rows that must give
# the floats of Python's arithmetic whatever they are evaluated on.
# ----------------------------------------------------------------------


def c_pow(x: Any, k: float) -> Any:
    """``x ** k`` as Python computes it on floats (C's pow), also element by element on numpy arrays.

    numpy's power is not C's pow: it takes shortcuts for a number exponent (1/x for -1, sqrt
    for 0.5, x*x for 2), and on a CPU with AVX-512 it runs its own vectorised pow for any
    exponent, which differs from C's in the last bit for about one element in twenty. An array
    engine that must give the eager engine's numbers bit for bit computes these powers with this.
    """
    np = sys.modules.get("numpy")
    if np is None or type(x) is not np.ndarray and (isinstance(x, (int, float)) or _is_node(x)):
        return x**k
    k = float(k)
    return _c_elementwise(lambda a: np.power(a, k), lambda values: map(pow, values, repeat(k)), x)


def c_exp(x: Any) -> Any:
    """``math.exp`` (C's exp) on a float, or element by element on a numpy array (``np.exp`` may differ)."""
    if isinstance(x, (int, float)):
        return math.exp(x)
    return _c_elementwise(_numpy().exp, lambda values: map(math.exp, values), x)


def c_log(x: Any) -> Any:
    """``math.log`` (C's log) on a float, or element by element on a numpy array (``np.log`` may differ)."""
    if isinstance(x, (int, float)):
        return math.log(x)
    return _c_elementwise(_numpy().log, lambda values: map(math.log, values), x)


def _c_elementwise(numpy_function: Any, python_function: Any, x: Any) -> Any:
    """Python's (C's) float function on each element of ``x``, where its answer is a finite float.

    Elsewhere -- an overflow, log(0), a negative base to a fractional power, where Python raises
    or gives a complex number -- numpy's inf or nan is kept.
    """
    np = _numpy()
    if type(x) is not np.ndarray or x.dtype != float:
        x = np.asarray(x, dtype=float)
    try:
        return np.fromiter(python_function(x.ravel().tolist()), float, x.size).reshape(x.shape)
    except (ArithmeticError, ValueError, TypeError):  # TypeError: a complex number from pow
        pass
    with np.errstate(all="ignore"):
        result = np.array(numpy_function(x), dtype=float)
    finite = np.isfinite(result)
    result[finite] = list(python_function(x[finite].tolist()))
    return result


def _reduce_add(terms: Any, start: Any = 0.0) -> Any:
    return functools.reduce(operator.add, terms, start)


# ``start + t0 + t1 + ...`` added in order, each sum rounded, as a chain of Value additions does. Up to
# Python 3.11 that is what sum() does, in C and twice as fast; from 3.12 sum() adds floats with
# compensation (more exact, but not the Values' numbers), so reduce does it there.
add_in_order: Callable[..., Any] = sum if sys.version_info < (3, 12) else _reduce_add


def sequential_sum(xs: Any, start: Any = 0.0) -> Any:
    """``start + xs[0] + xs[1] + ...`` added left to right, as Python's ``sum``: of a list, or of the rows
    of a 2-d array (numpy's own sum adds pairwise, in another order; cumsum adds in this one)."""
    if not hasattr(xs, "cumsum"):
        return add_in_order(xs, start)
    # start + x0 equals x0 but for the sign of a zero, and adding start at the end gives that sign back.
    return xs.cumsum(axis=0)[-1] + start


def _largest(xs: Any) -> Any:
    """The largest score: of a list (a Value counts as its number, a constant of the graph), or of
    every column of a 2-d array."""
    if not isinstance(xs, (list, tuple)):
        return xs.max(axis=0)
    values = [x.data if _is_node(x) else x for x in xs]
    if isinstance(values[0], numbers.Real):
        return builtins.max(values)
    largest = values[0]  # arrays, one per score: the largest entry by entry
    for v in values[1:]:
        largest = where(v > largest, v, largest)
    return largest


def softmax_parts(scores: Any, exact: bool = True) -> tuple[Any, Any]:
    """``(exps, inverse)`` with ``exps[i] * inverse`` the softmax of ``scores``, as microgpt.py computes it:
    ``exp(s_i - max)``, their sum from 0 left to right, and Value division's multiplication by its inverse.

    ``scores`` is a list of floats or Values, or a 2-d array with one softmax per column; the one
    softmax of every row, the sampler and the losses. ``exact=False`` lets an array use numpy's
    exp and division where the last bit does not matter (a derivative's sum is in another order anyway).
    """
    largest = _largest(scores)
    if isinstance(scores, (list, tuple)):
        exps = [exp(s - largest) for s in scores]
        return exps, c_pow(sequential_sum(exps), -1)
    if not exact:
        exps = _numpy().exp(scores - largest)
        return exps, 1.0 / exps.sum(axis=0)
    exps = c_exp(scores - largest)
    return exps, c_pow(sequential_sum(exps), -1)



def softmax_weights(scores: Any) -> list[Any]:
    """exp(s_t - max) / sum(...) of a list of floats or Values, as microgpt.py's softmax computes it:
    ``softmax_parts``, then each exp times the inverse of the sum."""
    exps, inverse = softmax_parts(list(scores))
    return [e * inverse for e in exps]


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
    return add_in_order(map(operator.mul, args[:n], args[n : 2 * n]), args[-1])


def _dot_forward(*args: Any) -> Any:
    """w_1 x_1 + ... + w_n x_n, from 0.0, left to right (bit for bit Python's sum(w * x ...))"""
    n = len(args) // 2
    return add_in_order(map(operator.mul, args[:n], args[n:]), 0.0)


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

ADD = defop(
    "+", lambda a, b: a + b, lambda a, b, out: (1.0, 1.0), "d/da = 1, d/db = 1", notation=Notation("infix", "+")
)
MUL = defop("*", lambda a, b: a * b, lambda a, b, out: (b, a), "d/da = b, d/db = a", notation=Notation("infix", "*"))
POW = defop(
    "pow",
    lambda x, *, k: power(x, k),
    _pow_const_derivative,
    "d/dx x**k = k x**(k-1)",
    display=lambda k: f"**{_k(k)}",
    notation=Notation("power"),
)
POW_VALUE = defop(
    "**", power, _pow_value_derivative, "d/dx x**y = y x**(y-1), d/dy = x**y log x", notation=Notation("infix", "**")
)
EXP = defop("exp", exp, lambda x, out: out, "d/dx e**x = e**x")
LOG = defop("log", log, lambda x, out: 1.0 / x, "d/dx log x = 1/x")
TANH = defop("tanh", tanh, lambda x, out: 1.0 - out * out, "d/dx tanh x = 1 - tanh(x)**2")
SIGMOID = defop("sigmoid", sigmoid, lambda x, out: out * (1.0 - out), "d/dx s(x) = s(x) (1 - s(x))")
RELU = defop(
    "relu",
    relu,
    _relu_derivative,
    "d/dx relu x = 1 if x > 0 else 0",
    display=lambda: "ReLU",
    notation=Notation("clip_below_zero"),
)
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
def _products_stacked(stacked: Any) -> Any:
    n = len(stacked) // 2
    return stacked[:n] * stacked[n : 2 * n]


def _weights_and_inputs_swapped(stacked: Any) -> Any:
    n = len(stacked) // 2
    np = _numpy()
    return np.concatenate([stacked[n : 2 * n], stacked[:n], np.ones((len(stacked) - 2 * n, *stacked.shape[1:]))])


LINEAR = defop(
    "linear",
    _linear_forward,
    _linear_derivative,
    "d/dw_i = x_i, d/dx_i = w_i, d/db = 1",
    batched=(
        lambda stacked: _numpy().concatenate([stacked[-1:], _products_stacked(stacked)]).cumsum(axis=0)[-1],
        lambda stacked, out: _weights_and_inputs_swapped(stacked),
    ),
    notation=Notation("sum_of_products", bias=True),
)
DOT = defop(
    "dot",
    _dot_forward,
    _dot_derivative,
    "d/dw_i = x_i, d/dx_i = w_i",
    batched=(
        lambda stacked: sequential_sum(_products_stacked(stacked)),
        lambda stacked, out: _weights_and_inputs_swapped(stacked),
    ),
    notation=Notation("sum_of_products"),
)


def _k(k: float) -> str:
    """An exponent as the original names it: 2 for 2.0, -1 for -1.0, 0.5 for 0.5."""
    return str(int(k)) if float(k).is_integer() and builtins.abs(k) < 1e15 else repr(float(k))
