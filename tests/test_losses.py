"""Losses and softmax: values and gradients against PyTorch float64 and finite differences, stability, errors."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import cast

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (the usual PyTorch spelling)
from hypothesis import given, settings
from hypothesis import strategies as st

from micrograd import Value
from micrograd.gradcheck import gradcheck
from micrograd.losses import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    hinge_loss,
    log_softmax,
    mse_loss,
    softmax,
)
from micrograd.nn import MLP

# Any float in range, with the extremes and the kinks drawn often.
numbers = st.one_of(
    st.floats(min_value=-1000.0, max_value=1000.0, allow_nan=False),
    st.sampled_from([-1000.0, 1000.0, 0.0, 1.0, -1.0]),
)
FAST = settings(max_examples=60, deadline=None)


def close(a: float, b: float) -> bool:
    """Within 1e-9, relative to the size of the numbers once they exceed 1."""
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def assert_matches_torch(ours: Value, our_inputs: list[Value], theirs: torch.Tensor, their_input: torch.Tensor) -> None:
    ours.backward()
    theirs.backward()  # type: ignore[no-untyped-call]
    assert close(ours.data, theirs.item()), (ours.data, theirs.item())
    assert their_input.grad is not None
    for mine, reference in zip([v.grad for v in our_inputs], their_input.grad.flatten().tolist(), strict=True):
        assert math.isfinite(mine)
        assert close(mine, reference), (mine, reference)


def leaves(xs: list[float]) -> tuple[list[Value], torch.Tensor]:
    return [Value(x) for x in xs], torch.tensor(xs, dtype=torch.float64, requires_grad=True)


# ----------------------------------------------------------------------
# Against PyTorch
# ----------------------------------------------------------------------


@FAST
@given(st.lists(st.tuples(numbers, numbers), min_size=1, max_size=6))
def test_mse_loss_matches_torch(pairs: list[tuple[float, float]]) -> None:
    preds, targets = [p for p, _ in pairs], [t for _, t in pairs]
    values, tensor = leaves(preds)
    expected = F.mse_loss(tensor, torch.tensor(targets, dtype=torch.float64))
    assert_matches_torch(mse_loss(values, targets), values, expected, tensor)


@FAST
@given(st.lists(st.tuples(numbers, st.sampled_from([-1, 1])), min_size=1, max_size=6))
def test_hinge_loss_matches_torch(pairs: list[tuple[float, int]]) -> None:
    scores, labels = [s for s, _ in pairs], [y for _, y in pairs]
    values, tensor = leaves(scores)
    expected = torch.relu(1 - torch.tensor(labels, dtype=torch.float64) * tensor).mean()
    assert_matches_torch(hinge_loss(values, labels), values, expected, tensor)


@FAST
@given(st.lists(st.tuples(numbers, st.sampled_from([0, 1])), min_size=1, max_size=6))
def test_binary_cross_entropy_with_logits_matches_torch(pairs: list[tuple[float, int]]) -> None:
    logits, targets = [x for x, _ in pairs], [t for _, t in pairs]
    values, tensor = leaves(logits)
    expected = F.binary_cross_entropy_with_logits(tensor, torch.tensor(targets, dtype=torch.float64))
    assert_matches_torch(binary_cross_entropy_with_logits(values, targets), values, expected, tensor)


@pytest.mark.parametrize("logit", [0.0, -0.0, 1e-300, 800.0, -800.0, 40.0, -40.0])
@pytest.mark.parametrize("target", [0, 1])
def test_binary_cross_entropy_at_the_kink_and_far_out(logit: float, target: int) -> None:
    """At 0 the branch-free form must still give sigmoid(0) - t; far out, no overflow."""
    values, tensor = leaves([logit])
    expected = F.binary_cross_entropy_with_logits(tensor, torch.tensor([float(target)], dtype=torch.float64))
    assert_matches_torch(binary_cross_entropy_with_logits(values, [target]), values, expected, tensor)


@st.composite
def classification(draw: st.DrawFn) -> tuple[list[list[float]], list[int]]:
    n_classes = draw(st.integers(1, 4))
    n_examples = draw(st.integers(1, 4))
    rows = [draw(st.lists(numbers, min_size=n_classes, max_size=n_classes)) for _ in range(n_examples)]
    targets = [draw(st.integers(0, n_classes - 1)) for _ in range(n_examples)]
    return rows, targets


@FAST
@given(classification())
def test_cross_entropy_matches_torch(case: tuple[list[list[float]], list[int]]) -> None:
    rows, targets = case
    values = [[Value(x) for x in row] for row in rows]
    tensor = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    expected = F.cross_entropy(tensor, torch.tensor(targets))
    assert_matches_torch(cross_entropy(values, targets), [v for row in values for v in row], expected, tensor)


@FAST
@given(st.lists(numbers, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_softmax_and_log_softmax_match_torch(xs: list[float], rng: random.Random) -> None:
    # Weighted sums: the plain sum of a softmax is always 1 and would have zero gradient.
    weights = [rng.uniform(-2.0, 2.0) for _ in xs]
    for ours_fn, torch_fn in ((softmax, F.softmax), (log_softmax, F.log_softmax)):
        values, tensor = leaves(xs)
        outputs = ours_fn(values)
        assert len(outputs) == len(xs)
        ours: Value = sum((w * o for w, o in zip(weights, outputs, strict=True)), Value(0.0))
        theirs = (torch.tensor(weights, dtype=torch.float64) * torch_fn(tensor, dim=0)).sum()
        expected_outputs = torch_fn(tensor.detach(), dim=0).tolist()
        assert all(close(o.data, e) for o, e in zip(outputs, expected_outputs, strict=True))
        assert_matches_torch(ours, values, theirs, tensor)


# ----------------------------------------------------------------------
# Against finite differences
# ----------------------------------------------------------------------


def test_gradients_agree_with_finite_differences() -> None:
    rng = random.Random(0)
    for _ in range(10):
        point = [rng.uniform(-3.0, 3.0) for _ in range(6)]
        gradcheck(lambda *v: mse_loss(list(v[:3]), [0.5, -1.0, 2.0]), point[:3])
        gradcheck(lambda *v: binary_cross_entropy_with_logits(list(v), [1, 0, 1, 0, 1, 1]), point)
        gradcheck(lambda *v: cross_entropy([list(v[:3]), list(v[3:])], [2, 0]), point)
        gradcheck(lambda *v: log_softmax(list(v))[1] * 2.0 + softmax(list(v))[0], point)


def test_hinge_gradient_agrees_with_finite_differences_away_from_the_kink() -> None:
    gradcheck(lambda a, b, c: hinge_loss([a, b, c], [1, -1, 1]), [0.3, 0.2, -2.5])


# ----------------------------------------------------------------------
# Stability and the original demo
# ----------------------------------------------------------------------


@pytest.mark.parametrize("extreme", [1000.0, -1000.0, 1e300, -1e300])
def test_extreme_logits_give_finite_losses_and_gradients(extreme: float) -> None:
    makers: list[Callable[[Value], Value]] = [
        lambda x: binary_cross_entropy_with_logits([x], [1]),
        lambda x: binary_cross_entropy_with_logits([x], [0]),
        lambda x: cross_entropy([[x, Value(0.0), -x]], [1]),
        lambda x: log_softmax([x, Value(0.0)])[1],
        lambda x: softmax([x, Value(0.0)])[0],
    ]
    for make_loss in makers:
        x = Value(extreme)
        loss = make_loss(x)
        loss.backward()
        assert math.isfinite(loss.data) and math.isfinite(x.grad)


def test_hinge_loss_is_bit_for_bit_the_demo_loss() -> None:
    random.seed(1337)
    model = MLP(2, [8, 1])
    rng = random.Random(5)
    X = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(30)]
    y = [rng.choice([-1, 1]) for _ in X]
    scores = [cast(Value, model(list(map(Value, row)))) for row in X]
    # The original demo's expression, verbatim.
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores, strict=True)]
    demo = sum(losses) * (1.0 / len(losses))
    assert hinge_loss(scores, y).data == demo.data  # type: ignore[union-attr]


def test_plain_numbers_give_a_value_and_numbers_as_targets_get_no_gradient() -> None:
    loss = mse_loss([1.0, 2], [0.0, 0.0])
    assert isinstance(loss, Value) and loss.data == 2.5
    target = Value(1.0)
    pred = Value(3.0)
    mse_loss([pred], [target]).backward()
    assert (pred.grad, target.grad) == (4.0, -4.0)  # d/dt (p - t)**2 = -2(p - t), as torch gives targets


def test_a_generator_of_predictions_is_accepted() -> None:
    assert mse_loss((Value(x) for x in [1.0, 3.0]), [1.0, 1.0]).data == 2.0


# ----------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mse_loss([1.0, 2.0], [1.0]), "mse_loss: 2 preds but 1 targets"),
        (lambda: mse_loss([], []), "mse_loss: preds and targets are empty"),
        (lambda: hinge_loss([1.0], []), "hinge_loss: 1 scores but 0 labels"),
        (lambda: hinge_loss([1.0, 2.0], [1, 0]), "hinge_loss: labels must be +1 or -1, got 0.0 at index 1"),
        (lambda: binary_cross_entropy_with_logits([1.0], [-1]), "targets must be 0 or 1, got -1.0 at index 0"),
        (lambda: binary_cross_entropy_with_logits([], []), "binary_cross_entropy_with_logits: logits and targets"),
        (lambda: cross_entropy([[1.0, 2.0]], [2]), "cross_entropy: targets[0] = 2 is out of range for 2 classes"),
        (lambda: cross_entropy([[1.0, 2.0]], [-1]), "targets[0] = -1 is out of range"),
        (lambda: cross_entropy([[1.0, 2.0], [1.0]], [0, 0]), "logits[1] has 1 classes but logits[0] has 2"),
        (lambda: cross_entropy([[1.0]], [0, 0]), "cross_entropy: 1 logit rows but 2 targets"),
        (lambda: cross_entropy([], []), "cross_entropy: logits and targets are empty"),
        (lambda: cross_entropy([[]], [0]), "cross_entropy: logits[0] is empty"),
        (lambda: softmax([]), "softmax: values is empty"),
        (lambda: log_softmax([]), "log_softmax: values is empty"),
    ],
)
def test_bad_values_raise_value_error_naming_the_function(call: object, message: str) -> None:
    with pytest.raises(ValueError) as error:
        call()  # type: ignore[operator]
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mse_loss(["1.0"], [1.0]), "mse_loss: preds[0] must be a Value or a number, got str"),  # type: ignore[list-item]
        (lambda: mse_loss([1.0], [None]), "mse_loss: targets[0] must be a Value or a number, got NoneType"),  # type: ignore[list-item]
        (lambda: mse_loss(Value(1.0), [1.0]), "mse_loss: preds must be a list, got Value"),  # type: ignore[arg-type]
        (lambda: hinge_loss([1.0], [True]), "hinge_loss: labels[0] must be a Value or a number, got bool"),
        (lambda: cross_entropy([[1.0, 2.0]], [1.0]), "cross_entropy: targets[0] must be an int class index"),  # type: ignore[list-item]
        (lambda: cross_entropy([Value(1.0)], [0]), "cross_entropy: logits[0] must be a list, got Value"),  # type: ignore[list-item]
        (lambda: softmax("abc"), "softmax: values must be a list, got str"),  # type: ignore[arg-type]
    ],
)
def test_wrong_types_raise_type_error(call: object, message: str) -> None:
    with pytest.raises(TypeError) as error:
        call()  # type: ignore[operator]
    assert message in str(error.value)
