"""Optimizers and schedules: 50 steps side by side with torch.optim in float64, exact resume, validation."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
import torch

from helpers import seeded_mlp
from micrograd import Value
from micrograd.app.data import make_lecture
from micrograd.losses import mse_loss
from micrograd.nn import MLP
from micrograd.optim import SGD, Adam, AdamW, CosineAnnealingLR, LinearLR, Optimizer, PaperAdam

STEPS = 50
XS, YS = make_lecture()


def make_model(seed: int = 3) -> MLP:
    model: MLP = seeded_mlp(seed, 3, [4, 4, 1], activation="tanh", output_activation="linear")
    return model


def micrograd_loss(model: MLP) -> Value:
    return mse_loss([model(x) for x in XS], YS)  # type: ignore[misc]


def torch_loss(model: MLP, theta: torch.Tensor) -> torch.Tensor:
    """The same network as ``model`` written in torch: theta[i] is model.parameters()[i]."""
    predictions = []
    for x in XS:
        inputs: list[Any] = list(x)
        index = 0
        for layer in model.layers:
            outputs = []
            for neuron in layer.neurons:
                n = len(neuron.w)
                total = theta[index + n]  # bias first, then w_i * x_i in order, as micrograd's linear adds
                for k in range(n):
                    total = total + theta[index + k] * inputs[k]
                index += n + 1
                outputs.append(torch.tanh(total) if neuron.activation == "tanh" else total)
            inputs = outputs
        predictions.append(inputs[0])
    return torch.nn.functional.mse_loss(torch.stack(predictions), torch.tensor(YS, dtype=torch.float64))


def run_side_by_side(
    make_ours: Callable[[list[Value]], Any],
    make_theirs: Callable[[list[torch.Tensor]], Any],
    make_our_schedule: Callable[[Any], Any] | None = None,
    make_their_schedule: Callable[[Any], Any] | None = None,
) -> None:
    model = make_model()
    theta = torch.tensor([p.data for p in model.parameters()], dtype=torch.float64, requires_grad=True)
    ours, theirs = make_ours(model.parameters()), make_theirs([theta])
    our_schedule = make_our_schedule(ours) if make_our_schedule else None
    their_schedule = make_their_schedule(theirs) if make_their_schedule else None
    for _ in range(STEPS):
        loss = micrograd_loss(model)
        ours.zero_grad()
        loss.backward()
        ours.step()
        their_loss = torch_loss(model, theta)
        theirs.zero_grad()
        their_loss.backward()  # type: ignore[no-untyped-call]
        theirs.step()
        assert abs(loss.data - their_loss.item()) <= 1e-9
        if our_schedule is not None and their_schedule is not None:
            our_schedule.step()
            their_schedule.step()
            assert abs(our_schedule.get_last_lr()[0] - their_schedule.get_last_lr()[0]) <= 1e-12
    for mine, reference in zip([p.data for p in model.parameters()], theta.tolist(), strict=True):
        assert abs(mine - reference) <= 1e-9, (mine, reference)
    # The run must have moved the parameters, or the comparison says nothing.
    assert max(abs(a - b.data) for a, b in zip(theta.tolist(), make_model().parameters(), strict=True)) > 1e-3


SGD_SETTINGS = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.1, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.05, "nesterov": True},
]


@pytest.mark.parametrize("options", SGD_SETTINGS, ids=lambda o: ",".join(o))
def test_sgd_matches_torch(options: dict[str, Any]) -> None:
    run_side_by_side(lambda ps: SGD(ps, **options), lambda ps: torch.optim.SGD(ps, **options))


ADAM_SETTINGS = [
    {"lr": 0.01},
    {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.01, "weight_decay": 0.1},
]


@pytest.mark.parametrize("options", ADAM_SETTINGS, ids=lambda o: ",".join(o))
def test_adam_matches_torch(options: dict[str, Any]) -> None:
    run_side_by_side(lambda ps: Adam(ps, **options), lambda ps: torch.optim.Adam(ps, **options))


@pytest.mark.parametrize("options", [{"lr": 0.01}, {"lr": 0.02, "weight_decay": 0.5, "betas": (0.5, 0.9)}])
def test_adamw_matches_torch(options: dict[str, Any]) -> None:
    run_side_by_side(lambda ps: AdamW(ps, **options), lambda ps: torch.optim.AdamW(ps, **options))


def test_training_with_linear_lr_matches_torch() -> None:
    run_side_by_side(
        lambda ps: SGD(ps, lr=0.2, momentum=0.5),
        lambda ps: torch.optim.SGD(ps, lr=0.2, momentum=0.5),
        lambda opt: LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=30),
        lambda opt: torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=30),
    )


def test_training_with_cosine_annealing_matches_torch() -> None:
    run_side_by_side(
        lambda ps: Adam(ps, lr=0.03),
        lambda ps: torch.optim.Adam(ps, lr=0.03),
        lambda opt: CosineAnnealingLR(opt, T_max=20, eta_min=0.001),
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=0.001),
    )


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda o: LinearLR(o), lambda o: torch.optim.lr_scheduler.LinearLR(o)),
        (
            lambda o: LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=40),
            lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=40),
        ),
        (
            lambda o: CosineAnnealingLR(o, T_max=30),
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=30),
        ),
        (
            lambda o: CosineAnnealingLR(o, T_max=7, eta_min=0.05),
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.05),
        ),
    ],
)
def test_schedules_match_torch_including_past_the_end(ours: Callable[..., Any], theirs: Callable[..., Any]) -> None:
    parameter = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    their_optimizer = torch.optim.SGD([parameter], lr=0.5)
    their_schedule = theirs(their_optimizer)
    our_optimizer = SGD([Value(0.0)], lr=0.5)
    our_schedule = ours(our_optimizer)
    for _ in range(100):
        assert abs(our_schedule.get_last_lr()[0] - their_schedule.get_last_lr()[0]) <= 1e-12
        assert our_optimizer.lr == our_schedule.get_last_lr()[0]
        their_optimizer.step()
        their_schedule.step()
        our_optimizer.step()
        our_schedule.step()


def test_linear_lr_gives_the_original_demos_decay_exactly() -> None:
    optimizer = SGD([Value(0.0)], lr=1.0)
    schedule = LinearLR(optimizer, start_factor=1.0, end_factor=0.1, total_iters=100)
    for k in range(100):
        assert optimizer.lr == 1.0 - 0.9 * k / 100
        schedule.step()


def test_sgd_with_linear_lr_is_bit_for_bit_the_demo_update() -> None:
    by_hand, by_optimizer = make_model(), make_model()
    optimizer = SGD(by_optimizer.parameters(), lr=1.0)
    schedule = LinearLR(optimizer, start_factor=1.0, end_factor=0.1, total_iters=100)
    for k in range(10):
        loss = micrograd_loss(by_hand)
        by_hand.zero_grad()
        loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in by_hand.parameters():
            p.data -= learning_rate * p.grad
        loss = micrograd_loss(by_optimizer)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    assert [p.data for p in by_hand.parameters()] == [p.data for p in by_optimizer.parameters()]


# ----------------------------------------------------------------------
# Behaviour
# ----------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps), lambda ps: AdamW(ps)])
def test_step_builds_no_graph_and_zero_grad_clears(make: Callable[[list[Value]], Optimizer]) -> None:
    model = make_model()
    optimizer = make(model.parameters())
    micrograd_loss(model).backward()
    before = [p.data for p in model.parameters()]
    optimizer.step()
    for p, old in zip(model.parameters(), before, strict=True):
        assert type(p.data) is float and p.data != old
        assert p._prev == ()
    optimizer.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_gradients_that_are_values_are_used_by_their_number() -> None:
    x = Value(3.0)
    (x * x).backward(create_graph=True)  # x.grad is now a Value
    SGD([x], lr=0.5).step()
    assert x.data == 3.0 - 0.5 * 6.0


def test_params_may_be_a_generator() -> None:
    model = make_model()
    assert len(SGD(p for p in model.parameters()).params) == len(model.parameters())


@pytest.mark.parametrize(
    ("make", "make_schedule"),
    [
        (lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True), lambda o: LinearLR(o, 1.0, 0.2, 15)),
        (lambda ps: Adam(ps, lr=0.02, weight_decay=0.01), lambda o: CosineAnnealingLR(o, T_max=12)),
        (lambda ps: AdamW(ps, lr=0.02), lambda o: CosineAnnealingLR(o, T_max=25, eta_min=1e-4)),
    ],
)
def test_resuming_from_a_json_state_continues_exactly(
    make: Callable[..., Any], make_schedule: Callable[..., Any]
) -> None:
    def train(model: MLP, optimizer: Optimizer, schedule: Any, steps: int) -> None:
        for _ in range(steps):
            loss = micrograd_loss(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()

    straight = make_model()
    optimizer = make(straight.parameters())
    schedule = make_schedule(optimizer)
    train(straight, optimizer, schedule, 30)

    first = make_model()
    optimizer = make(first.parameters())
    schedule = make_schedule(optimizer)
    train(first, optimizer, schedule, 18)
    saved = json.loads(json.dumps([first.state_dict(), optimizer.state_dict(), schedule.state_dict()]))

    resumed = make_model(seed=99)  # different starting weights: everything must come from the state
    resumed.load_state_dict(saved[0])
    optimizer = make(resumed.parameters())
    optimizer.lr = 123.0  # overwritten by the state, as in torch
    optimizer.load_state_dict(saved[1])
    schedule = make_schedule(optimizer)
    schedule.load_state_dict(saved[2])
    assert optimizer.step_count == 18
    train(resumed, optimizer, schedule, 12)
    assert [p.data for p in resumed.parameters()] == [p.data for p in straight.parameters()]


def test_state_dict_is_plain_json_with_buffers_in_parameter_order() -> None:
    params = [Value(1.0), Value(-2.0)]
    optimizer = Adam(params, lr=0.1)
    params[0].grad, params[1].grad = 0.5, -4.0
    optimizer.step()
    state = optimizer.state_dict()
    assert json.loads(json.dumps(state)) == state
    assert state["step"] == 1 and state["num_parameters"] == 2
    assert state["hyperparameters"] == {"lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}
    assert state["buffers"]["exp_avg"] == pytest.approx([0.1 * 0.5, 0.1 * -4.0])
    assert state["buffers"]["exp_avg_sq"] == pytest.approx([0.001 * 0.25, 0.001 * 16.0])


# ----------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: SGD([Value(1.0)], lr=-0.1), ValueError, "SGD: lr must be >= 0.0, got -0.1"),
        (lambda: SGD([Value(1.0)], lr=float("nan")), ValueError, "SGD: lr must be finite"),
        (lambda: SGD([Value(1.0)], lr="0.1"), TypeError, "SGD: lr must be a number, got str"),  # type: ignore[arg-type]
        (lambda: SGD([Value(1.0)], momentum=-1.0), ValueError, "SGD: momentum must be >= 0.0"),
        (lambda: SGD([Value(1.0)], weight_decay=-1.0), ValueError, "SGD: weight_decay must be >= 0.0"),
        (lambda: SGD([Value(1.0)], nesterov=True), ValueError, "SGD: Nesterov momentum needs momentum > 0"),
        (lambda: SGD([Value(1.0)], momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening = 0"),
        (lambda: SGD([]), ValueError, "SGD: params is empty"),
        (lambda: SGD([Value(1.0), 2.0]), TypeError, "SGD: params[1] must be a Value, got float"),  # type: ignore[list-item]
        (lambda: SGD(Value(1.0)), TypeError, "SGD: params must be a list of Values"),  # type: ignore[arg-type]
        (lambda: Adam([Value(1.0)], betas=(1.0, 0.999)), ValueError, "Adam: betas[0] must be < 1.0, got 1.0"),
        (lambda: Adam([Value(1.0)], betas=(0.9, -0.1)), ValueError, "Adam: betas[1] must be >= 0.0, got -0.1"),
        (lambda: Adam([Value(1.0)], betas=0.9), TypeError, "Adam: betas must be a pair of numbers"),  # type: ignore[arg-type]
        (lambda: Adam([Value(1.0)], eps=0.0), ValueError, "Adam: eps must be > 0.0, got 0.0"),
        (lambda: AdamW([Value(1.0)], lr=-1.0), ValueError, "AdamW: lr must be >= 0.0"),
        (lambda: AdamW([Value(1.0)], weight_decay=-0.1), ValueError, "AdamW: weight_decay must be >= 0.0"),
        (lambda: LinearLR(SGD([Value(1.0)]), start_factor=0.0), ValueError, "LinearLR: start_factor must be > 0.0"),
        (lambda: LinearLR(SGD([Value(1.0)]), end_factor=1.5), ValueError, "LinearLR: end_factor must be <= 1.0"),
        (lambda: LinearLR(SGD([Value(1.0)]), total_iters=0), ValueError, "LinearLR: total_iters must be at least 1"),
        (lambda: CosineAnnealingLR(SGD([Value(1.0)]), T_max=2.5), TypeError, "CosineAnnealingLR: T_max must be an int"),  # type: ignore[arg-type]
        (lambda: CosineAnnealingLR(torch.optim.SGD([torch.zeros(1)]), 5), TypeError, "expected a micrograd optimizer"),  # type: ignore[arg-type]
    ],
)
def test_bad_settings_are_refused_with_clear_messages(make: Callable[[], Any], error: type, message: str) -> None:
    with pytest.raises(error) as raised:
        make()
    assert message in str(raised.value)


def test_a_parameter_listed_twice_is_refused() -> None:
    p = Value(1.0)
    with pytest.raises(ValueError, match=r"params\[1\] appears more than once"):
        SGD([p, p])


def _trained_adam() -> Adam:
    params = [Value(1.0), Value(2.0)]
    optimizer = Adam(params, lr=0.1)
    for p in params:
        p.grad = 1.0
    optimizer.step()
    return optimizer


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda s: s.update(optimizer="SGD"), ValueError, "the state is of a 'SGD' optimizer, not 'Adam'"),
        (lambda s: s.update(num_parameters=3), ValueError, "the state is for 3 parameters, but this optimizer has 2"),
        (lambda s: s.pop("buffers"), ValueError, "missing keys ['buffers']"),
        (lambda s: s["buffers"]["exp_avg"].pop(), ValueError, "buffer 'exp_avg' must be a list of 2 numbers"),
        (lambda s: s["buffers"]["exp_avg"].__setitem__(0, "x"), TypeError, "buffer 'exp_avg'[0] must be a number"),
        (lambda s: s["hyperparameters"].update(lr=-1.0), ValueError, "lr must be >= 0.0"),
        (lambda s: s.update(step=-1), ValueError, "step must be an int >= 0"),
    ],
)
def test_bad_optimizer_state_is_refused_and_changes_nothing(
    edit: Callable[[dict[str, Any]], Any], error: type, message: str
) -> None:
    optimizer = _trained_adam()
    state = optimizer.state_dict()
    edit(state)
    fresh = Adam([Value(0.0), Value(0.0)], lr=0.5)
    before = fresh.state_dict()
    with pytest.raises(error) as raised:
        fresh.load_state_dict(state)
    assert message in str(raised.value) and "Adam.load_state_dict" in str(raised.value)
    assert fresh.state_dict() == before


def test_scheduler_state_for_other_settings_is_refused() -> None:
    state = CosineAnnealingLR(SGD([Value(1.0)]), T_max=10).state_dict()
    with pytest.raises(ValueError, match="settings"):
        CosineAnnealingLR(SGD([Value(1.0)]), T_max=11).load_state_dict(state)
    with pytest.raises(ValueError, match="'CosineAnnealingLR' schedule, not 'LinearLR'"):
        LinearLR(SGD([Value(1.0)])).load_state_dict(state)


def test_paper_adam_is_algorithm_1_bit_for_bit_and_adam_up_to_rounding() -> None:
    rng = random.Random(3)
    start = [rng.uniform(-1, 1) for _ in range(5)]
    ours, torch_form = [Value(x) for x in start], [Value(x) for x in start]
    paper = PaperAdam(ours, lr=0.01, betas=(0.85, 0.99), eps=1e-8)
    paper_schedule = LinearLR(paper, start_factor=1.0, end_factor=0.0, total_iters=10)
    adam = Adam(torch_form, lr=0.01, betas=(0.85, 0.99), eps=1e-8)
    adam_schedule = LinearLR(adam, start_factor=1.0, end_factor=0.0, total_iters=10)
    by_hand, m, v = list(start), [0.0] * 5, [0.0] * 5
    for step in range(10):
        grads = [rng.uniform(-1, 1) for _ in range(5)]
        for p, q, g in zip(ours, torch_form, grads, strict=True):
            p.grad, q.grad = g, g
        paper.step()
        paper_schedule.step()
        adam.step()
        adam_schedule.step()
        # Algorithm 1 as microgpt.py writes it, with its linear decay.
        lr_t = 0.01 * (1 - step / 10)
        for i, g in enumerate(grads):
            m[i] = 0.85 * m[i] + (1 - 0.85) * g
            v[i] = 0.99 * v[i] + (1 - 0.99) * g**2
            m_hat = m[i] / (1 - 0.85 ** (step + 1))
            v_hat = v[i] / (1 - 0.99 ** (step + 1))
            by_hand[i] -= lr_t * m_hat / (v_hat**0.5 + 1e-8)
    assert [p.data for p in ours] == by_hand
    assert [p.data for p in ours] == pytest.approx([q.data for q in torch_form], rel=1e-13)
    assert paper.state_dict()["optimizer"] == "PaperAdam"
