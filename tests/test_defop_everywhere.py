"""One defop call, and the new op works in every interpreter with no other edit.

softsign(x) = x / (1 + |x|) is not in the package. Expected numbers come from
calculus by hand (for x > 0, softsign(x) * x = x**2 / (1 + x)), not from our code.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest

from micrograd import Value, grad
from micrograd.app.cli import explain_command, graph_command
from micrograd.app.expr import evaluate
from micrograd.compiler import compile_loss
from micrograd.ops import OPS, defop
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


@pytest.mark.parametrize("engine", ["python", "numpy"])
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
