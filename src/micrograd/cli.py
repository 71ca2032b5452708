"""The `micrograd` command line."""

from __future__ import annotations

import argparse
import random
import sys
from typing import Sequence

from micrograd.engine import Value
from micrograd.nn import MLP


def _tour() -> None:
    """A forward and backward pass, then a small training run."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    print(f"neuron: o = tanh(x1*w1 + x2*w2 + b) = {o.data:.4f}")
    print(f"  grads: x1 {x1.grad:.4f}  w1 {w1.grad:.4f}  x2 {x2.grad:.4f}  w2 {w2.grad:.4f}")
    random.seed(1337)
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    model = MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh")
    for step in range(50):
        loss = sum((model(x) - y) ** 2 for x, y in zip(xs, ys))
        model.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        for p in model.parameters():
            p.data -= 0.05 * p.grad
        if step % 10 == 0 or step == 49:
            print(f"step {step:2d} loss {loss.data:.6f}")  # type: ignore[union-attr]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="micrograd", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("tour", help="a forward/backward pass and a small training run")
    args = parser.parse_args(argv)
    if args.command in (None, "tour"):
        _tour()
    return 0


if __name__ == "__main__":
    sys.exit(main())
