"""The fused rows of the op table: a transformer's hot spots, each one node with its derivative beside it.

Each row computes its value with the same float operations in the same order as
microgpt.py's Values do, so a GPT built from them gives microgpt.py's numbers
bit for bit; only the gradients are summed in another order (equal to rounding).
Defining a row with ``defop`` adds it to the table every interpreter reads; its
``batched`` pair is the same row for array interpreters given many nodes at once
(``stacked[i]`` is input i of every node), with the same float operations in the
same order, so the array engines give the same values too.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, cast

from micrograd.engine import Value
from micrograd.ops import _numpy, add_in_order, c_pow, defop, sequential_sum, softmax_parts, softmax_weights

__all__ = ["ATTEND", "ATTENTION_SCORE", "RMS_SCALE", "attend", "attention_score", "rms_scale", "softmax_weights"]


def rms_scale(x: Sequence[Value], eps: float = 1e-5) -> Value:
    """``(mean(x**2) + eps) ** -0.5`` as one node, the factor RMSNorm multiplies every entry by."""
    return cast(Value, RMS_SCALE(*x, eps=eps))


def _rms_scale_forward(*xs: Any, eps: float) -> Any:
    """(sum(x*x) / n + eps) ** -0.5, computed as microgpt.py's Values compute it"""
    total = 0.0
    for x in xs:
        total = total + x * x
    return c_pow(total * len(xs) ** -1 + eps, -0.5)  # / n is * n**-1 for a Value


def _rms_scale_derivative(*args: Any, eps: float) -> Any:
    """d/dx_i = -x_i * out**3 / n"""
    xs, out = args[:-1], args[-1]
    factor = c_pow(out, 3) * (-1.0 / len(xs))
    return _one_or_tuple([x * factor for x in xs])


def _rms_scale_stacked(xs: Any, eps: float) -> Any:
    return c_pow(sequential_sum(xs * xs) * len(xs) ** -1 + eps, -0.5)


def _rms_scale_stacked_derivative(xs: Any, out: Any, eps: float) -> Any:
    # Gradients are sums in another order than the eager engine's anyway: out**3 as products is close enough.
    return xs * (out * out * out * (-1.0 / len(xs)))


RMS_SCALE = defop(
    "rms_scale",
    _rms_scale_forward,
    _rms_scale_derivative,
    "s = (mean(x**2) + eps) ** -0.5; d/dx_i = -x_i s**3 / n",
    batched=(_rms_scale_stacked, _rms_scale_stacked_derivative),
)


def attention_score(q: Sequence[Value], k: Sequence[Value], scale: float) -> Value:
    """``sum(q_j * k_j) * scale`` as one node: how much a query attends to a key, before the softmax."""
    if len(q) != len(k):
        raise ValueError(f"attention_score: a query of {len(q)} but a key of {len(k)}")
    return cast(Value, ATTENTION_SCORE(*q, *k, scale=scale))


def _attention_score_forward(*qk: Any, scale: float) -> Any:
    """(q_1 k_1 + ... + q_n k_n) * scale, added from 0.0 left to right"""
    n = len(qk) // 2
    return add_in_order(map(operator.mul, qk[:n], qk[n:]), 0.0) * scale


def _attention_score_derivative(*args: Any, scale: float) -> tuple[Any, ...]:
    """args = (q_1..q_n, k_1..k_n, out): d/dq_j = k_j * scale, d/dk_j = q_j * scale"""
    n = (len(args) - 1) // 2
    return (*(k * scale for k in args[n : 2 * n]), *(q * scale for q in args[:n]))


def _attention_score_stacked(qk: Any, scale: float) -> Any:
    n = len(qk) // 2
    return sequential_sum(qk[:n] * qk[n:]) * scale


def _attention_score_stacked_derivative(qk: Any, out: Any, scale: float) -> Any:
    n = len(qk) // 2
    return (qk * scale)[list(range(n, 2 * n)) + list(range(n))]


ATTENTION_SCORE = defop(
    "attention_score",
    _attention_score_forward,
    _attention_score_derivative,
    "s = scale * sum q_j k_j; d/dq_j = scale k_j, d/dk_j = scale q_j",
    batched=(_attention_score_stacked, _attention_score_stacked_derivative),
)


def attend(scores: Sequence[Value], values: Sequence[Value]) -> Value:
    """``sum_t softmax(scores)_t * values_t`` as one node: one channel of an attention head's output."""
    if len(scores) != len(values):
        raise ValueError(f"attend: {len(scores)} scores but {len(values)} values")
    if not scores:
        raise ValueError("attend: scores is empty")
    return cast(Value, ATTEND(*scores, *values))


def _attend_forward(*args: Any) -> Any:
    """a = softmax(s_1..s_n); out = a_1 v_1 + ... + a_n v_n, added from 0.0 left to right"""
    n = len(args) // 2
    exps, inverse = softmax_parts(list(args[:n]))
    return add_in_order([e * inverse * v for e, v in zip(exps, args[n:], strict=True)], 0.0)


def _attend_derivative(*args: Any) -> tuple[Any, ...]:
    """args = (s_1..s_n, v_1..v_n, out): d/ds_t = a_t (v_t - out), d/dv_t = a_t, with a = softmax(s)"""
    n = (len(args) - 1) // 2
    values, out = args[n : 2 * n], args[-1]
    weights = softmax_weights(args[:n])
    return (*(a * (v - out) for a, v in zip(weights, values, strict=True)), *weights)


def _attend_stacked(args: Any) -> Any:
    n = len(args) // 2
    exps, inverse = softmax_parts(args[:n])
    return sequential_sum(exps * inverse * args[n:])


def _attend_stacked_derivative(args: Any, out: Any) -> Any:
    n = len(args) // 2
    exps, inverse = softmax_parts(args[:n], exact=False)  # gradients agree to rounding: numpy's exp will do
    weights = exps * inverse
    return _numpy().concatenate([weights * (args[n:] - out), weights])


ATTEND = defop(
    "attend",
    _attend_forward,
    _attend_derivative,
    "out = sum_t a_t v_t, a = softmax(s); d/ds_t = a_t (v_t - out), d/dv_t = a_t",
    batched=(_attend_stacked, _attend_stacked_derivative),
    pad=(-math.inf, 0.0),  # exp(-inf) is 0.0: no weight, and 0.0 * 0.0 adds nothing to the sum
)


def _one_or_tuple(grads: list[Any]) -> Any:
    """A derivative's result: the bare local derivative for one input (the table's convention), else a tuple."""
    return grads[0] if len(grads) == 1 else tuple(grads)
