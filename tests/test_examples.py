"""The worked examples: the original micrograd README and the seed's tanh neuron."""

from __future__ import annotations

import pytest

from helpers import needs, optional
from micrograd import Value

torch = optional("torch")


def test_original_readme_example() -> None:
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    assert f"{g.data:.4f}" == "24.7041"  # the numbers the original README prints
    g.backward()
    assert f"{a.grad:.4f}" == "138.8338"
    assert f"{b.grad:.4f}" == "645.5773"


@needs("torch")
def test_original_sanity_check_against_torch() -> None:
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()

    xt = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    zt = 2 * xt + 2 + xt
    qt = zt.relu() + zt * xt
    ht = (zt * zt).relu()
    yt = ht + qt + qt * xt
    yt.backward()
    assert y.data == yt.item()
    assert x.grad == xt.grad.item()


def _seed_neuron(tanh_via_exp: bool) -> tuple[Value, dict[str, Value]]:
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    if tanh_via_exp:
        e = (2 * n).exp()
        o = (e - 1) / (e + 1)
    else:
        o = n.tanh()
    return o, {"x1": x1, "x2": x2, "w1": w1, "w2": w2, "n": n}


@pytest.mark.parametrize("tanh_via_exp", [False, True], ids=["tanh", "tanh_from_exp"])
def test_seed_tanh_neuron(tanh_via_exp: bool) -> None:
    o, v = _seed_neuron(tanh_via_exp)
    o.backward()
    assert o.data == pytest.approx(0.7071, abs=1e-4)
    assert v["x1"].grad == pytest.approx(-1.5, abs=1e-9)
    assert v["w1"].grad == pytest.approx(1.0, abs=1e-9)
    assert v["x2"].grad == pytest.approx(0.5, abs=1e-9)
    assert v["w2"].grad == pytest.approx(0.0, abs=1e-12)
    assert v["n"].grad == pytest.approx(0.5, abs=1e-9)
