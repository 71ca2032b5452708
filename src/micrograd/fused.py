"""The fused rows of the op table: a transformer's hot spots, each one node with its derivative beside it.

Each row computes its value with the same float operations in the same order as
microgpt.py's Values do, so a GPT built from them gives microgpt.py's numbers
bit for bit; only the gradients are summed in another order (equal to rounding).
Defining a row with ``defop`` adds it to the table every interpreter reads.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, cast

from micrograd import ops
from micrograd.engine import Value
from micrograd.losses import _python_exp, _python_pow
from micrograd.ops import defop

__all__ = ["ATTEND", "ATTENTION_SCORE", "RMS_SCALE", "attend", "attention_score", "rms_scale", "softmax_weights"]


def rms_scale(x: Sequence[Value], eps: float = 1e-5) -> Value:
    """``(mean(x**2) + eps) ** -0.5`` as one node, the factor RMSNorm multiplies every entry by."""
    return cast(Value, RMS_SCALE(*x, eps=eps))


def _rms_scale_forward(*xs: Any, eps: float) -> Any:
    """(sum(x*x) / n + eps) ** -0.5, computed as microgpt.py's Values compute it"""
    if _is_array(xs[0]):
        return _rms_scale_stacked(_numpy().stack(xs), eps)
    total = 0.0
    for x in xs:
        total = total + x * x
    return _python_pow(total * len(xs) ** -1 + eps, -0.5)  # / n is * n**-1 for a Value


def _rms_scale_derivative(*args: Any, eps: float) -> Any:
    """d/dx_i = -x_i * out**3 / n"""
    xs, out = args[:-1], args[-1]
    if _is_array(xs[0]):
        return tuple(_rms_scale_stacked_derivative(_numpy().stack(xs), out, eps))
    factor = _python_pow(out, 3) * (-1.0 / len(xs))
    return _one_or_tuple([x * factor for x in xs])


# The rows' operations on numpy arrays, for array engines: input i of every node is row i of a
# 2-d array (one column per node), and the same float operations run in the same order.


def _rms_scale_stacked(xs: Any, eps: float) -> Any:
    return _python_pow(_sequential_sum(xs * xs) * len(xs) ** -1 + eps, -0.5)


def _rms_scale_stacked_derivative(xs: Any, out: Any, eps: float) -> Any:
    return xs * (_python_pow(out, 3) * (-1.0 / len(xs)))


RMS_SCALE = defop(
    "rms_scale", _rms_scale_forward, _rms_scale_derivative, "s = (mean(x**2) + eps) ** -0.5; d/dx_i = -x_i s**3 / n"
)


def attention_score(q: Sequence[Value], k: Sequence[Value], scale: float) -> Value:
    """``sum(q_j * k_j) * scale`` as one node: how much a query attends to a key, before the softmax."""
    if len(q) != len(k):
        raise ValueError(f"attention_score: a query of {len(q)} but a key of {len(k)}")
    return cast(Value, ATTENTION_SCORE(*q, *k, scale=scale))


def _attention_score_forward(*qk: Any, scale: float) -> Any:
    """(q_1 k_1 + ... + q_n k_n) * scale, added from 0.0 left to right"""
    n = len(qk) // 2
    if _is_array(qk[0]):
        return _attention_score_stacked(_numpy().stack(qk), scale)
    total = 0.0
    for q, k in zip(qk[:n], qk[n:], strict=True):
        total = total + q * k
    return total * scale


def _attention_score_stacked(qk: Any, scale: float) -> Any:
    n = len(qk) // 2
    return _sequential_sum(qk[:n] * qk[n:]) * scale


def _attention_score_stacked_derivative(qk: Any, out: Any, scale: float) -> Any:
    n = len(qk) // 2
    return _numpy().concatenate([qk[n:] * scale, qk[:n] * scale])


def _attention_score_derivative(*args: Any, scale: float) -> tuple[Any, ...]:
    """args = (q_1..q_n, k_1..k_n, out): d/dq_j = k_j * scale, d/dk_j = q_j * scale"""
    n = (len(args) - 1) // 2
    return (*(k * scale for k in args[n : 2 * n]), *(q * scale for q in args[:n]))


ATTENTION_SCORE = defop(
    "attention_score",
    _attention_score_forward,
    _attention_score_derivative,
    "s = scale * sum q_j k_j; d/dq_j = scale k_j, d/dk_j = scale q_j",
)


def attend(scores: Sequence[Value], values: Sequence[Value]) -> Value:
    """``sum_t softmax(scores)_t * values_t`` as one node: one channel of an attention head's output."""
    if len(scores) != len(values):
        raise ValueError(f"attend: {len(scores)} scores but {len(values)} values")
    if not scores:
        raise ValueError("attend: scores is empty")
    return cast(Value, ATTEND(*scores, *values))


def _largest(xs: Sequence[Any]) -> Any:
    """The largest of floats, or element by element of numpy arrays; a Value counts as its number (a constant)."""
    values = [x.data if isinstance(x, Value) else x for x in xs]
    if isinstance(values[0], (int, float)):
        return max(values)
    largest = values[0]
    for v in values[1:]:
        largest = ops.where(v > largest, v, largest)
    return largest


def softmax_weights(scores: Sequence[Any]) -> list[Any]:
    """exp(s_t - max) / sum(...) on floats, Values or arrays, as microgpt.py's softmax computes it (max a constant)."""
    largest = _largest(scores)
    exps = [ops.exp(s - largest) for s in scores]
    inverse = _python_pow(sum(exps), -1)  # a Value division is a multiplication by the inverse
    return [e * inverse for e in exps]


def _attend_forward(*args: Any) -> Any:
    """a = softmax(s_1..s_n); out = a_1 v_1 + ... + a_n v_n, added from 0.0 left to right"""
    n = len(args) // 2
    scores = args[:n]
    if _is_array(scores[0]):
        return _attend_stacked(_numpy().stack(args))
    largest = _largest(scores)
    exps = [ops.exp(s - largest) for s in scores]
    inverse = _python_pow(sum(exps), -1)
    total = 0.0
    for e, v in zip(exps, args[n:], strict=True):
        total = total + e * inverse * v
    return total


def _attend_derivative(*args: Any) -> tuple[Any, ...]:
    """args = (s_1..s_n, v_1..v_n, out): d/ds_t = a_t (v_t - out), d/dv_t = a_t, with a = softmax(s)"""
    n = (len(args) - 1) // 2
    values, out = args[n : 2 * n], args[-1]
    if _is_array(values[0]):
        return tuple(_attend_stacked_derivative(_numpy().stack(args[:-1]), out))
    weights = softmax_weights(args[:n])
    return (*(a * (v - out) for a, v in zip(weights, values, strict=True)), *weights)


def _attend_stacked_weights(scores: Any) -> Any:
    exps = _python_exp(scores - scores.max(axis=0))  # math.exp's numbers, as the float path's
    return exps, _python_pow(_sequential_sum(exps), -1)


def _attend_stacked(args: Any) -> Any:
    n = len(args) // 2
    exps, inverse = _attend_stacked_weights(args[:n])
    return _sequential_sum(exps * inverse * args[n:])


def _attend_stacked_derivative(args: Any, out: Any) -> Any:
    n = len(args) // 2
    exps, inverse = _attend_stacked_weights(args[:n])
    weights = exps * inverse
    return _numpy().concatenate([weights * (args[n:] - out), weights])


def _is_array(x: Any) -> bool:
    """A numpy array (with at least one dimension): the array engines' input."""
    return getattr(x, "ndim", 0) > 0


def _numpy() -> Any:
    return sys.modules["numpy"]  # only arrays reach the callers, so numpy is already imported


def _sequential_sum(stacked: Any) -> Any:
    """Row 0 + row 1 + ... of a 2-d array, left to right as Python's sum adds (cumsum is sequential, sum is not)."""
    return stacked.cumsum(axis=0)[-1]


ATTEND = defop(
    "attend",
    _attend_forward,
    _attend_derivative,
    "out = sum_t a_t v_t, a = softmax(s); d/ds_t = a_t (v_t - out), d/dv_t = a_t",
)


def _one_or_tuple(grads: list[Any]) -> Any:
    """A derivative's result: the bare local derivative for one input (the table's convention), else a tuple."""
    return grads[0] if len(grads) == 1 else tuple(grads)
