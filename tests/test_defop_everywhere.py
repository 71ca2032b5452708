"""One defop call, and the new op works in every interpreter with no other edit.

softsign(x) = x / (1 + |x|) is not in the package. Expected numbers come from
calculus by hand (for x > 0, softsign(x) * x = x**2 / (1 + x)), not from our code.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pytest

from micrograd import Value, grad
from micrograd.app.cli import explain_command, graph_command
from micrograd.app.expr import evaluate
from micrograd.compiler import compile_loss
from micrograd.compiler.plan import PlanNode, TokenAt, record
from micrograd.losses import softmax_cross_entropy
from micrograd.ops import OPS, defop, exp
from micrograd.viz import explain

SOFTSIGN = defop(
    "softsign_everywhere",
    lambda x: x / (1 + abs(x)),
    lambda x, out: 1 / (1 + abs(x)) ** 2,
    "d/dx x/(1+|x|) = 1/(1+|x|)**2",
)


def test_eager_value_and_three_orders_of_derivative() -> None:
    x = Value(0.5)
    y = SOFTSIGN(x) * x
    (d1,) = grad(y, x, create_graph=True)
    (d2,) = grad(d1, x, create_graph=True)
    (d3,) = grad(d2, x)
    assert y.data == pytest.approx(0.25 / 1.5, rel=1e-15)
    assert (d1.data, d2.data, d3) == pytest.approx((1.25 / 1.5**2, 2 / 1.5**3, -6 / 1.5**4), rel=1e-12)


@pytest.mark.parametrize("engine", ["compiled", "numpy"])
def test_compile_loss_in_both_engines_equals_eager(engine: str) -> None:
    w, b = Value(0.7), Value(-0.2)

    def loss(inputs: list[Value], target: Value) -> Value:
        return (SOFTSIGN(w * inputs[0] + b) - target) ** 2

    rows, targets = [[0.5], [-1.5], [2.0]], [0.1, -0.3, 0.4]
    step = compile_loss(loss, [w, b], n_inputs=1, engine=engine)  # type: ignore[arg-type]
    compiled = step.loss_and_backward(rows, targets)
    compiled_grads = (w.grad, b.grad)
    w.grad = b.grad = 0.0
    total = sum((loss([Value(r[0])], Value(t)) for r, t in zip(rows, targets, strict=True)), Value(0.0)) * (1 / 3)
    total.backward()
    assert compiled == pytest.approx(total.data, rel=1e-12)
    assert compiled_grads == pytest.approx((w.grad, b.grad), rel=1e-12)
    # and by hand: d/dw of mean (s(wx+b) - t)**2 = mean 2 (s - t) s'(z) x
    by_hand = 0.0
    for (x,), t in zip(rows, targets, strict=True):
        z = 0.7 * x - 0.2
        by_hand += 2 * (z / (1 + abs(z)) - t) / (1 + abs(z)) ** 2 * x / 3
    assert compiled_grads[0] == pytest.approx(by_hand, rel=1e-12)


def test_explain_narrates_it_and_its_numerical_check_agrees() -> None:
    x = Value(0.5, label="x")
    text = explain(SOFTSIGN(x) * x, quiet=True)
    assert "softsign_everywhere" in text and "1/(1 + abs(x))**2" in text
    assert "x.grad = 0.555556" in text  # 1.25 / 1.5**2, by hand
    check = text.split("Check against numerical_grad")[1]
    assert "yes" in check and "NO" not in check  # the leaf's gradient agrees with nudging


def test_the_expression_language_explain_and_graph_commands_know_it(tmp_path: Path) -> None:
    assert "softsign_everywhere" in OPS
    y = evaluate("softsign_everywhere(x) * x", {"x": 0.5})
    y.backward()
    leaf = next(n for n in y._prev if not n._prev)
    assert leaf.grad == pytest.approx(1.25 / 1.5**2, rel=1e-12)
    out = io.StringIO()
    assert explain_command("softsign_everywhere(x) * x", ["x=0.5"], file=out) == 0
    assert "softsign_everywhere" in out.getvalue()
    target = tmp_path / "g.dot"
    assert graph_command("softsign_everywhere(x * w)", ["x=2", "w=-3"], output=target, file=io.StringIO()) == 0
    source = target.read_text()
    assert "softsign_everywhere" in source
    assert f"{-6 / 7:.4f}" in source  # softsign(-6) = -6/7, drawn in the value's node
    assert math.isfinite(leaf.grad)


# ----------------------------------------------------------------------
# A fused op: many inputs, one node, with array code of its own for the array engines
# ----------------------------------------------------------------------


def _logsumexp_forward(*xs: float) -> float:
    largest = max(xs)
    return largest + math.log(sum(math.exp(x - largest) for x in xs))


def _logsumexp_batched(stacked: Any) -> Any:
    np = pytest.importorskip("numpy")
    largest = stacked.max(axis=0)
    return largest + np.log(np.exp(stacked - largest).sum(axis=0))


LOGSUMEXP = defop(
    "logsumexp_everywhere",
    _logsumexp_forward,
    lambda *args: tuple(exp(x - args[-1]) for x in args[:-1]),  # d/dx_i = softmax_i = exp(x_i - out)
    "out = log sum exp x_i; d/dx_i = exp(x_i - out)",
    batched=(_logsumexp_batched, lambda stacked, out: pytest.importorskip("numpy").exp(stacked - out)),
)


def _fused_loss(w: list[Value]) -> Any:
    def loss(inputs: list[Value], target: Value) -> Value:
        return (LOGSUMEXP(w[0] * inputs[0], w[1] * inputs[1], w[2]) - target) ** 2

    return loss


def test_a_fused_op_eagerly_against_torch() -> None:
    torch = pytest.importorskip("torch")
    point = [0.3, -1.2, 2.5, 0.0]
    xs = [Value(x) for x in point]
    out = LOGSUMEXP(*xs) * LOGSUMEXP(xs[0], xs[1])
    out.backward()
    t = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    expected = torch.logsumexp(t, 0) * torch.logsumexp(t[:2], 0)
    expected.backward()
    assert out.data == pytest.approx(expected.item(), rel=1e-14)
    assert [x.grad for x in xs] == pytest.approx(t.grad.tolist(), rel=1e-13)
    (d1,) = grad(LOGSUMEXP(*xs), xs[0], create_graph=True)  # and a second derivative: s (1 - s)
    (d2,) = grad(d1, xs[0])
    s = torch.softmax(t.detach(), 0)[0].item()
    assert d2 == pytest.approx(s * (1 - s), rel=1e-12)


@pytest.mark.parametrize("engine", ["compiled", "numpy"])
def test_a_fused_op_compiles_in_both_engines(engine: str) -> None:
    if engine == "numpy":
        pytest.importorskip("numpy")
    w = [Value(0.7), Value(-0.4), Value(0.2)]
    rows, targets = [[0.5, 1.0], [-1.5, 0.3], [2.0, -2.0], [0.0, 0.0]], [0.1, -0.3, 0.4, 1.0]
    step = compile_loss(_fused_loss(w), w, n_inputs=2, engine=engine)
    compiled = step.loss_and_backward(rows, targets)
    compiled_grads = [p.grad for p in w]
    for p in w:
        p.grad = 0.0
    # by hand: d/dw_i of mean (lse(z) - t)**2 = mean 2 (lse - t) softmax(z)_i dz_i/dw_i
    by_hand = [0.0, 0.0, 0.0]
    value = 0.0
    for (x0, x1), t in zip(rows, targets, strict=True):
        z = [0.7 * x0, -0.4 * x1, 0.2]
        lse = math.log(sum(math.exp(v) for v in z))
        value += (lse - t) ** 2 / len(rows)
        for i, dz in enumerate((x0, x1, 1.0)):
            by_hand[i] += 2 * (lse - t) * math.exp(z[i] - lse) * dz / len(rows)
    assert compiled == pytest.approx(value, rel=1e-12)
    assert compiled_grads == pytest.approx(by_hand, rel=1e-12, abs=1e-15)


def test_a_fused_op_in_the_gpt_engine() -> None:
    """The GPT's numpy engine replays any recorded sequence: here one whose positions use the new op."""
    np = pytest.importorskip("numpy")
    from micrograd.compiler.gpt import SequencePlan

    table = [[Value(0.3), Value(-0.8)], [Value(1.1), Value(0.25)]]  # an embedding: one row per token
    scale = Value(0.6)
    params = [p for row in table for p in row] + [scale]

    def position_losses(tokens: list[int], rows: list[list[Value]]) -> list[Value]:
        losses = []
        for t, row in enumerate(rows):
            logits = [LOGSUMEXP(row[0] * scale, row[1], scale), row[1] * row[0]]
            losses.append(softmax_cross_entropy(logits, tokens[t + 1]))
        return losses

    def mean(losses: list[Value]) -> Value:
        return sum(losses, Value(0.0)) * (1 / len(losses))  # type: ignore[return-value]

    recorded = [0, 1, 1, 0]
    stand_ins = [[Value(p.data) for p in table[token]] for token in recorded[:3]]
    roles: dict[int, Any] = {id(v): PlanNode("index", slot=t, lookup=(0, 2, j))
                             for t, row in enumerate(stand_ins) for j, v in enumerate(row)}
    tokens = [TokenAt(token, t) for t, token in enumerate(recorded)]
    plan = record(lambda: position_losses(tokens, stand_ins), roles, {id(p): j for j, p in enumerate(params)},
                  "a test", 0, len(params)).plan
    sequence = SequencePlan(plan, mean)
    flat = np.array([p.data for p in params])
    for document in ([1, 0, 0, 1], [0, 0, 1], [1, 1]):  # other tokens, and shorter documents cut from the plan
        n = len(document) - 1
        loss, gradient = sequence.program(n).loss_and_grad(flat, document)
        eager = mean(position_losses(document, [table[token] for token in document[:n]]))
        for p in params:
            p.grad = 0.0
        eager.backward()
        assert loss == pytest.approx(eager.data, rel=1e-13)
        assert gradient.tolist() == pytest.approx([p.grad for p in params], rel=1e-12, abs=1e-15)
