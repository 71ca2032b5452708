"""Loss functions and softmax, named as in ``torch.nn.functional``.

Every function here but one is a *composite*: it is written with the engine's
primitives (``+ * ** exp log relu``), so it has no derivative code of its own
and ``backward()`` works through it like through any other expression. The
exception is ``softmax_cross_entropy``, one example's loss as a single node: a
row of the op table with its own derivative (softmax - one-hot), for speed.

All losses take one prediction per example and return the *mean* over the
examples (PyTorch's default ``reduction='mean'``), except ``softmax_cross_entropy``
which is one example's. Predictions may be Values or plain numbers; the result
is always a Value.

Numerical stability: ``exp`` of a large number overflows a float, so the
softmax family subtracts the largest logit first (as a plain float, so it is a
constant of the graph and changes no gradient), and the logistic loss is
written so that ``exp`` only ever sees a number <= 0.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable, Sequence
from typing import Any, cast

from micrograd import ops
from micrograd.engine import Scalar, Value
from micrograd.ops import defop

__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "hinge_loss",
    "log_softmax",
    "mse_loss",
    "softmax",
    "softmax_cross_entropy",
]


def mse_loss(preds: Iterable[Scalar], targets: Iterable[Scalar]) -> Value:
    """Mean squared error: mean((pred - target)**2), as ``F.mse_loss``."""
    predictions, goals = _paired("mse_loss", preds, targets, "preds", "targets")
    squared_errors = [(p - t) ** 2 for p, t in zip(predictions, goals, strict=True)]
    return _mean(squared_errors)


def hinge_loss(scores: Iterable[Scalar], labels: Iterable[Scalar]) -> Value:
    """Max-margin loss mean(relu(1 - label * score)) for labels +1/-1, as in the original micrograd demo."""
    values, signs = _paired("hinge_loss", scores, labels, "scores", "labels")
    for i, label in enumerate(signs):
        if _data(label) not in (1.0, -1.0):
            raise ValueError(f"hinge_loss: labels must be +1 or -1, got {_data(label)!r} at index {i}")
    # Written exactly as the demo notebook writes it, so the numbers agree bit for bit.
    losses = [(1 + -yi * si).relu() for yi, si in zip(signs, values, strict=True)]
    return cast(Value, sum(losses)) * (1.0 / len(losses))


def binary_cross_entropy_with_logits(logits: Iterable[Scalar], targets: Iterable[Scalar]) -> Value:
    """Logistic loss on raw scores for targets 0/1, as ``F.binary_cross_entropy_with_logits``."""
    xs, ts = _paired("binary_cross_entropy_with_logits", logits, targets, "logits", "targets")
    for i, t in enumerate(ts):
        if _data(t) not in (0.0, 1.0):
            raise ValueError(f"binary_cross_entropy_with_logits: targets must be 0 or 1, got {_data(t)!r} at index {i}")
    return _mean([_logistic_loss(x, t) for x, t in zip(xs, ts, strict=True)])


def cross_entropy(logits: Iterable[Sequence[Scalar]], targets: Iterable[int]) -> Value:
    """Softmax cross-entropy: mean(-log_softmax(logits_i)[target_i]), as ``F.cross_entropy``.

    ``logits`` holds one list of class scores per example; ``targets`` one class index per example.
    """
    rows = _as_list("cross_entropy", "logits", logits)
    classes = _as_list("cross_entropy", "targets", targets)
    if len(rows) != len(classes):
        raise ValueError(f"cross_entropy: {len(rows)} logit rows but {len(classes)} targets")
    if not rows:
        raise ValueError("cross_entropy: logits and targets are empty")
    n_classes = -1
    losses = []
    for i, (row, target) in enumerate(zip(rows, classes, strict=True)):
        scores = _values("cross_entropy", f"logits[{i}]", row)
        if not scores:
            raise ValueError(f"cross_entropy: logits[{i}] is empty; each example needs at least one class score")
        if n_classes == -1:
            n_classes = len(scores)
        elif len(scores) != n_classes:
            raise ValueError(f"cross_entropy: logits[{i}] has {len(scores)} classes but logits[0] has {n_classes}")
        if isinstance(target, bool) or not isinstance(target, int):
            raise TypeError(f"cross_entropy: targets[{i}] must be an int class index, got {type(target).__name__}")
        if not 0 <= target < n_classes:
            raise ValueError(f"cross_entropy: targets[{i}] = {target} is out of range for {n_classes} classes")
        # -log softmax(x)[t] = log(sum_j exp(x_j)) - x_t; only the one entry is needed.
        losses.append(_log_sum_exp(scores) - scores[target])
    return _mean(losses)


def softmax(values: Iterable[Scalar]) -> list[Value]:
    """exp(x_i) / sum_j exp(x_j) for each i, as ``F.softmax`` over one list."""
    xs = _values("softmax", "values", values)
    if not xs:
        raise ValueError("softmax: values is empty")
    # Shifting by the largest (a constant) changes no result but keeps every exp(.) <= 1: none overflows.
    return ops.softmax_weights(xs)


def log_softmax(values: Iterable[Scalar]) -> list[Value]:
    """x_i - log(sum_j exp(x_j)) for each i, as ``F.log_softmax`` over one list."""
    xs = _values("log_softmax", "values", values)
    if not xs:
        raise ValueError("log_softmax: values is empty")
    normaliser = _log_sum_exp(xs)
    return [x - normaliser for x in xs]


def softmax_cross_entropy(logits: Sequence[Scalar], target: int) -> Value:
    """-log softmax(logits)[target] for one example, as one node of the graph.

    The same number as ``-softmax(logits)[target].log()`` (computed in that order, so bit for bit
    the same unless the probability underflows to 0, where it switches to log-sum-exp), but one
    node instead of about 3n, with the derivative from the op table:
    d/dlogit_i = softmax(logits)_i - [i == target], written as exp(l_i - l_target - out) - [i == target]
    so that derivatives of any order are right.
    """
    scores = _values("softmax_cross_entropy", "logits", logits)
    if not scores:
        raise ValueError("softmax_cross_entropy: logits is empty")
    if isinstance(target, bool) or not isinstance(target, int):
        raise TypeError(f"softmax_cross_entropy: target must be an int class index, got {type(target).__name__}")
    if not 0 <= target < len(scores):
        raise ValueError(f"softmax_cross_entropy: target {target} is out of range for {len(scores)} classes")
    return cast(Value, SOFTMAX_CROSS_ENTROPY(*scores, target=target))


def _softmax_cross_entropy_forward(*logits: Any, target: int) -> Any:
    """-log(e_t / sum(e)) with e_i = exp(l_i - max l), the softmax as microgpt.py computes it"""
    exps, inverse = ops.softmax_parts(list(logits))
    p = exps[target] * inverse
    if p > 0.0:
        return -math.log(p)
    largest = max(logits)
    return math.log(sum(exps)) - (logits[target] - largest)  # p underflowed: the same quantity, without log(0)


def _softmax_cross_entropy_stacked(stacked: Any, target: Any) -> Any:
    """The forward for array engines: logit i of every node in row i, ``target`` one class per node."""
    np = sys.modules["numpy"]
    exps, inverse = ops.softmax_parts(stacked)
    columns = np.arange(stacked.shape[1])
    p = exps[target, columns] * inverse
    with np.errstate(divide="ignore"):
        return np.where(
            p == 0.0, ops.c_log(ops.sequential_sum(exps)) - (stacked[target, columns] - stacked.max(axis=0)),
            -ops.c_log(np.where(p == 0.0, 1.0, p)),
        )


def _softmax_cross_entropy_derivative(*args: Any, target: int) -> Any:
    """d/dl_i = exp(l_i - l_t - out) - [i == t], that is softmax_i - [i == t]"""
    logits, out = args[:-1], args[-1]
    shift = logits[target] + out  # log of the softmax normaliser
    local = [ops.exp(x - shift) - (1.0 if i == target else 0.0) for i, x in enumerate(logits)]
    return local[0] if len(local) == 1 else tuple(local)


def _softmax_cross_entropy_stacked_derivative(stacked: Any, out: Any, target: Any) -> Any:
    """The derivative above for array engines (logit i of every node in row i)."""
    np = sys.modules["numpy"]
    columns = np.arange(stacked.shape[1])
    with np.errstate(under="ignore"):  # gradients are sums in another order anyway: numpy's exp will do
        grads = np.exp(stacked - (stacked[target, columns] + out))
    grads[target, columns] -= 1.0
    return grads


SOFTMAX_CROSS_ENTROPY = defop(
    "softmax_cross_entropy",
    _softmax_cross_entropy_forward,
    _softmax_cross_entropy_derivative,
    "out = -log softmax(l)[t]; d/dl_i = softmax(l)_i - [i == t]",
    batched=(_softmax_cross_entropy_stacked, _softmax_cross_entropy_stacked_derivative),
)


# ----------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------


def _log_sum_exp(xs: list[Value]) -> Value:
    """log(sum exp(x)) computed as m + log(sum exp(x - m)) with m the largest x (a plain float)."""
    largest = max(x.data for x in xs)
    # The term with x = m contributes exp(0) = 1, so the sum is >= 1 and its log is safe.
    total = cast(Value, sum((x - largest).exp() for x in xs))
    return total.log() + largest


def _logistic_loss(x: Value, t: Scalar) -> Value:
    """-t*log(sigmoid(x)) - (1-t)*log(1 - sigmoid(x)), rearranged so exp never sees a positive number:

    max(x, 0) - x*t + log(1 + exp(-|x|)), with -|x| written as x - 2*max(x, 0). No branch on the
    data, so the graph is the same for every x (the compiled engines can replay it). And no |x| of
    its own: relu's derivative at 0 is 0, which would make |x| flat there and the gradient at x = 0
    wrong by 1/2; with x - 2*relu(x) it is sigmoid(0) - t, as it should be.
    """
    positive_part = x.relu()
    return positive_part - x * t + (1 + (x - 2 * positive_part).exp()).log()


def _mean(terms: list[Value]) -> Value:
    # Same form as the demo's hinge loss: python sum, then times 1/n.
    return cast(Value, sum(terms)) * (1.0 / len(terms))


# ----------------------------------------------------------------------
# Input checks: each error names the function and the argument
# ----------------------------------------------------------------------


def _paired(
    fn: str, first: Iterable[Scalar], second: Iterable[Scalar], first_name: str, second_name: str
) -> tuple[list[Value], list[Scalar]]:
    """Check two lists of scalars of the same non-zero length; the first is turned into Values."""
    xs = _values(fn, first_name, first)
    ys = _scalars(fn, second_name, second)
    if len(xs) != len(ys):
        raise ValueError(f"{fn}: {len(xs)} {first_name} but {len(ys)} {second_name}; they must have the same length")
    if not xs:
        raise ValueError(f"{fn}: {first_name} and {second_name} are empty")
    return xs, ys


def _as_list(fn: str, name: str, items: object) -> list[object]:
    if isinstance(items, (str, bytes, Value, numbers.Number)) or not isinstance(items, Iterable):
        raise TypeError(f"{fn}: {name} must be a list, got {type(items).__name__}")
    return list(items)


def _scalars(fn: str, name: str, items: object) -> list[Scalar]:
    """The items, each checked to be a Value or a real number (bool is refused: it is usually a slip)."""
    out: list[Scalar] = []
    for i, item in enumerate(_as_list(fn, name, items)):
        if isinstance(item, Value) or (isinstance(item, (int, float)) and not isinstance(item, bool)):
            out.append(item)
        elif isinstance(item, numbers.Real) and not isinstance(item, bool):
            out.append(float(item))  # e.g. fractions.Fraction or numpy.float64
        else:
            raise TypeError(f"{fn}: {name}[{i}] must be a Value or a number, got {type(item).__name__}")
        if isinstance(item, int) and not -_LARGEST_INT_FLOAT <= item <= _LARGEST_INT_FLOAT:
            raise OverflowError(f"{fn}: {name}[{i}] is an int too large for a float")
    return out


_LARGEST_INT_FLOAT = int(sys.float_info.max)  # ints beyond it cannot become floats


def _values(fn: str, name: str, items: object) -> list[Value]:
    """The items as Values: numbers become constant leaves."""
    return [x if isinstance(x, Value) else Value(x) for x in _scalars(fn, name, items)]


def _data(x: Scalar) -> float:
    return x.data if isinstance(x, Value) else float(x)
