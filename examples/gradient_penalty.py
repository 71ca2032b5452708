"""Train through a gradient: fit a small network while a penalty keeps its slope at norm 1.

    loss    = fit + strength * penalty
    fit     = mean over the data of (model(x) - y)**2
    penalty = mean over the data of (||d model(x) / dx||**2 - 1)**2

The penalty (as in WGAN-GP or an eikonal loss) contains d model / dx, so its
gradient with respect to the weights is a second derivative. That works
because micrograd.grad(..., create_graph=True) returns d model / dx as Values
connected to the graph, which loss.backward() then goes through.

Run: python examples/gradient_penalty.py
"""

import random

from micrograd import Value, grad
from micrograd.nn import MLP

random.seed(1)

# Data from y = 0.6 x1 + 0.8 x2, a plane whose slope has norm exactly 1,
# so the fit and the penalty can both become small together.
points = [[random.uniform(-1, 1), random.uniform(-1, 1)] for _ in range(8)]
targets = [0.6 * x1 + 0.8 * x2 for x1, x2 in points]

model = MLP(2, [8, 1], activation="tanh")
strength = 1.0
learning_rate = 0.05

for step in range(401):
    fit = Value(0.0)
    penalty = Value(0.0)
    slope_norms = []
    for point, target in zip(points, targets, strict=True):
        inputs = [Value(x) for x in point]
        out = model(inputs)
        assert isinstance(out, Value)  # one output neuron: one Value
        slopes = grad(out, inputs, create_graph=True)  # d out / d x1, d out / d x2 as Values
        squared_norm = sum((s * s for s in slopes), Value(0.0))
        fit = fit + (out - target) ** 2
        penalty = penalty + (squared_norm - 1.0) ** 2
        slope_norms.append(squared_norm.data**0.5)
    fit = fit / len(points)
    penalty = penalty / len(points)
    loss = fit + strength * penalty

    model.zero_grad()
    loss.backward()  # through the slopes too: second derivatives of the network
    for p in model.parameters():
        p.data -= learning_rate * p.grad

    if step % 50 == 0:
        mean_norm = sum(slope_norms) / len(slope_norms)
        print(f"step {step:3d}  fit {fit.data:.6f}  penalty {penalty.data:.6f}  |grad| {mean_norm:.4f}")
