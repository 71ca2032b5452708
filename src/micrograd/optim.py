"""Optimizers and learning-rate schedules, with the names and update rules of ``torch.optim``.

An optimizer holds a list of parameters and, on ``step()``, moves each one
against its gradient. Updates are plain float arithmetic on ``p.data``: they
build no graph, exactly as PyTorch runs its updates under ``no_grad``.

    optimizer = Adam(model.parameters(), lr=1e-2)
    for k in range(100):
        loss = ...
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

Every optimizer and schedule has ``state_dict()`` / ``load_state_dict()``
returning plain JSON-able dicts (hyperparameters, step count, and per-parameter
buffers as lists of floats in parameter order), so a run saved with
``micrograd.app.checkpoint.save`` resumes exactly where it stopped.

The original micrograd demo's ``learning_rate = 1.0 - 0.9*k/100`` is
``LinearLR(SGD(params, lr=1.0), start_factor=1.0, end_factor=0.1, total_iters=100)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from micrograd.engine import Value

__all__ = ["SGD", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "LinearLR", "Optimizer", "PaperAdam"]


class Optimizer:
    """Base class: a list of parameters, a learning rate, a step count and per-parameter buffers."""

    def __init__(self, params: Iterable[Value], lr: float) -> None:
        self.params = _check_params(type(self).__name__, params)
        self.lr = _check_number(type(self).__name__, "lr", lr, minimum=0.0)
        self.step_count = 0  # how many times step() has run; Adam's bias correction needs it

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0.0 (gradients accumulate across backward calls)."""
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        """Update every parameter once from its current gradient."""
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The settings chosen at construction (and ``lr``, which a schedule may change), as JSON-able values."""
        return {"lr": self.lr}

    def set_hyperparameters(self, settings: Mapping[str, Any]) -> None:
        """Check and apply settings as returned by ``hyperparameters()``."""
        self.lr = _check_number(type(self).__name__, "lr", settings["lr"], minimum=0.0)

    def buffers(self) -> dict[str, list[float]]:
        """Per-parameter running state, each a list of floats in parameter order."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: hyperparameters, step count and buffers, as plain JSON-able values."""
        return {
            "optimizer": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "step": self.step_count,
            "num_parameters": len(self.params),
            "buffers": {name: list(values) for name, values in self.buffers().items()},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``: hyperparameters, step count and buffers (all checked first)."""
        where = f"{type(self).__name__}.load_state_dict"
        keys = {"optimizer", "hyperparameters", "step", "num_parameters", "buffers"}
        _check_state_header(where, state_dict, keys, "optimizer", type(self).__name__)
        if state_dict["num_parameters"] != len(self.params):
            raise ValueError(
                f"{where}: the state is for {state_dict['num_parameters']!r} parameters, "
                f"but this optimizer has {len(self.params)}"
            )
        step = _check_non_negative_int(where, "step", state_dict["step"])
        settings = state_dict["hyperparameters"]
        if not isinstance(settings, Mapping):
            raise TypeError(f"{where}: hyperparameters must be a dict, got {type(settings).__name__}")
        _check_keys(f"{where}: hyperparameters", settings, set(self.hyperparameters()))
        buffers = state_dict["buffers"]
        if not isinstance(buffers, Mapping):
            raise TypeError(f"{where}: buffers must be a dict, got {type(buffers).__name__}")
        _check_keys(f"{where}: buffers", buffers, set(self.buffers()))
        checked = {key: _check_buffer(where, key, values, len(self.params)) for key, values in buffers.items()}
        # Apply only after everything has been checked: a bad state changes nothing.
        previous = self.hyperparameters()
        try:
            self.set_hyperparameters(settings)
        except (TypeError, ValueError) as error:
            self.set_hyperparameters(previous)
            raise ValueError(f"{where}: {error}") from None
        self.step_count = step
        live_buffers = self.buffers()  # the optimizer's own lists, so fill them in place
        for key, values in checked.items():
            live_buffers[key][:] = values

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay, as torch.optim.SGD.

    Per parameter p with gradient g, buffer b, at each step:
        g = g + weight_decay * p
        b = g on the first step, else momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b       (only when momentum != 0)
        p = p - lr * g
    """

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.set_hyperparameters(
            {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay, "nesterov": nesterov}
        )
        self.momentum_buffer = [0.0] * len(self.params)

    def hyperparameters(self) -> dict[str, Any]:
        """lr, momentum, dampening, weight_decay, nesterov."""
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "dampening": self.dampening,
            "weight_decay": self.weight_decay,
            "nesterov": self.nesterov,
        }

    def set_hyperparameters(self, settings: Mapping[str, Any]) -> None:
        """Check and apply lr, momentum, dampening, weight_decay, nesterov."""
        super().set_hyperparameters(settings)
        self.momentum = _check_number("SGD", "momentum", settings["momentum"], minimum=0.0)
        self.dampening = _check_number("SGD", "dampening", settings["dampening"])
        self.weight_decay = _check_number("SGD", "weight_decay", settings["weight_decay"], minimum=0.0)
        nesterov = settings["nesterov"]
        if not isinstance(nesterov, bool):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        if nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        self.nesterov = nesterov

    def buffers(self) -> dict[str, list[float]]:
        """momentum_buffer (all zeros while momentum is 0, so the state always has the same shape)."""
        return {"momentum_buffer": self.momentum_buffer}

    def step(self) -> None:
        """One SGD update of every parameter."""
        first_step = self.step_count == 0
        gradients = _gradients("SGD", self.params)  # all checked before any parameter changes
        for i, (p, g) in enumerate(zip(self.params, gradients, strict=True)):
            if self.weight_decay != 0.0:
                g = g + self.weight_decay * p.data
            if self.momentum != 0.0:
                # The first step starts the buffer at g itself (not (1 - dampening) * g), as PyTorch does.
                if first_step:
                    self.momentum_buffer[i] = g
                else:
                    self.momentum_buffer[i] = self.momentum * self.momentum_buffer[i] + (1.0 - self.dampening) * g
                g = g + self.momentum * self.momentum_buffer[i] if self.nesterov else self.momentum_buffer[i]
            p.data = p.data - self.lr * g
        self.step_count += 1


class Adam(Optimizer):
    """Adam: steps scaled by running averages of the gradient and its square, as torch.optim.Adam.

    Per parameter p with gradient g, at step t = 1, 2, ...:
        g = g + weight_decay * p                         (L2 penalty folded into the gradient)
        m = beta1 * m + (1 - beta1) * g                  (exp_avg)
        v = beta2 * v + (1 - beta2) * g * g              (exp_avg_sq)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    # AdamW sets this: weight decay shrinks p directly instead of being added to the gradient.
    decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.set_hyperparameters({"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})
        self.exp_avg = [0.0] * len(self.params)
        self.exp_avg_sq = [0.0] * len(self.params)

    def hyperparameters(self) -> dict[str, Any]:
        """lr, betas (as a list), eps, weight_decay."""
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps, "weight_decay": self.weight_decay}

    def set_hyperparameters(self, settings: Mapping[str, Any]) -> None:
        """Check and apply lr, betas, eps, weight_decay."""
        name = type(self).__name__
        super().set_hyperparameters(settings)
        betas = settings["betas"]
        if isinstance(betas, (str, bytes)) or not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair of numbers (beta1, beta2), got {betas!r}")
        beta1 = _check_number(name, "betas[0]", betas[0], minimum=0.0, below=1.0)
        beta2 = _check_number(name, "betas[1]", betas[1], minimum=0.0, below=1.0)
        self.betas = (beta1, beta2)
        self.eps = _check_number(name, "eps", settings["eps"], above=0.0)
        self.weight_decay = _check_number(name, "weight_decay", settings["weight_decay"], minimum=0.0)

    def buffers(self) -> dict[str, list[float]]:
        """exp_avg (m) and exp_avg_sq (v)."""
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def step(self) -> None:
        """One Adam update of every parameter."""
        gradients = _gradients(type(self).__name__, self.params)  # all checked before anything changes
        self.step_count += 1
        beta1, beta2 = self.betas
        # m and v start at 0, so early averages are too small; dividing by these undoes that bias.
        bias_correction1 = 1.0 - beta1**self.step_count
        bias_correction2_sqrt = math.sqrt(1.0 - beta2**self.step_count)
        step_size = self.lr / bias_correction1
        for i, (p, g) in enumerate(zip(self.params, gradients, strict=True)):
            if self.weight_decay != 0.0:
                if self.decoupled_weight_decay:
                    p.data = p.data * (1.0 - self.lr * self.weight_decay)
                else:
                    g = g + self.weight_decay * p.data
            self.exp_avg[i] = beta1 * self.exp_avg[i] + (1.0 - beta1) * g
            self.exp_avg_sq[i] = beta2 * self.exp_avg_sq[i] + (1.0 - beta2) * g * g
            denominator = math.sqrt(self.exp_avg_sq[i]) / bias_correction2_sqrt + self.eps
            p.data = p.data - step_size * (self.exp_avg[i] / denominator)


class AdamW(Adam):
    """Adam with decoupled weight decay (p shrinks by lr * weight_decay * p each step), as torch.optim.AdamW."""

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class PaperAdam(Adam):
    """Adam computed in the order of Kingma & Ba's Algorithm 1, as microgpt.py writes it.

    The same update as ``Adam``; only the float rounding differs, because the bias
    corrections are applied to the averages instead of being folded into the step size:

        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (v_hat ** 0.5 + eps)

    Use it to reproduce, bit for bit, a program that writes Adam this way. Weight decay, if
    any, is added to the gradient first (L2, as in ``Adam``).
    """

    def step(self) -> None:
        """One Adam update of every parameter, in the paper's order of operations."""
        gradients = [p.grad for p in self.params]
        if not all(type(g) is float for g in gradients):  # the usual case is checked in one pass
            gradients = _gradients(type(self).__name__, self.params)  # all checked before anything changes
        if self.weight_decay != 0.0:
            gradients = [g + self.weight_decay * p.data for p, g in zip(self.params, gradients, strict=True)]
        self.step_count += 1
        beta1, beta2 = self.betas
        keep1, keep2 = 1 - beta1, 1 - beta2
        bias_correction1 = 1 - beta1**self.step_count
        bias_correction2 = 1 - beta2**self.step_count
        lr, eps = self.lr, self.eps
        # Whole lists at a time: the same operations as a loop over i, with less interpreter work per parameter.
        m = [beta1 * m_i + keep1 * g for m_i, g in zip(self.exp_avg, gradients, strict=True)]
        v = [beta2 * v_i + keep2 * g**2 for v_i, g in zip(self.exp_avg_sq, gradients, strict=True)]
        for p, m_i, v_i in zip(self.params, m, v, strict=True):
            # p - lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / (1 - beta1**t) and v_hat = v / (1 - beta2**t)
            p.data -= lr * (m_i / bias_correction1) / ((v_i / bias_correction2) ** 0.5 + eps)
        self.exp_avg[:] = m
        self.exp_avg_sq[:] = v


# ----------------------------------------------------------------------
# Learning-rate schedules
# ----------------------------------------------------------------------


class LRScheduler:
    """Base class: sets ``optimizer.lr`` from the optimizer's starting lr and the number of ``step()`` calls.

    As in PyTorch, call ``scheduler.step()`` once per training step, after ``optimizer.step()``.
    The learning rate is computed in closed form from the step count, so it does not drift.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected a micrograd optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0  # PyTorch's name for the number of step() calls so far
        self._apply()

    def lr_at(self, epoch: int) -> float:
        """The learning rate after ``epoch`` calls of ``step()``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance the schedule by one and set the optimizer's learning rate."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rate set by the last ``step()``, as a one-element list (as PyTorch: one per group)."""
        return [self._last_lr]

    def settings(self) -> dict[str, Any]:
        """The schedule's own settings, as JSON-able values."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """The schedule's settings, starting lr and step count, as plain JSON-able values."""
        return {
            "scheduler": type(self).__name__,
            "settings": self.settings(),
            "base_lr": self.base_lr,
            "last_epoch": self.last_epoch,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` and set the optimizer's learning rate to match."""
        where = f"{type(self).__name__}.load_state_dict"
        keys = {"scheduler", "settings", "base_lr", "last_epoch"}
        _check_state_header(where, state_dict, keys, "scheduler", type(self).__name__)
        if state_dict["settings"] != self.settings():
            raise ValueError(
                f"{where}: the state has settings {state_dict['settings']!r}, this schedule {self.settings()!r}"
            )
        epoch = _check_non_negative_int(where, "last_epoch", state_dict["last_epoch"])
        self.base_lr = _check_number(where, "base_lr", state_dict["base_lr"], minimum=0.0)
        self.last_epoch = epoch
        self._apply()

    def _apply(self) -> None:
        self._last_lr = self.lr_at(self.last_epoch)
        self.optimizer.lr = self._last_lr

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({settings}, last_epoch={self.last_epoch})"


class LinearLR(LRScheduler):
    """Scale the lr by a factor going linearly from start_factor to end_factor over total_iters steps, then constant.

    lr(k) = base_lr * (start_factor + (end_factor - start_factor) * min(k, total_iters) / total_iters)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
    ) -> None:
        # Same ranges as PyTorch: a start factor of 0 would make the first steps do nothing.
        self.start_factor = _check_number("LinearLR", "start_factor", start_factor, above=0.0, maximum=1.0)
        self.end_factor = _check_number("LinearLR", "end_factor", end_factor, minimum=0.0, maximum=1.0)
        self.total_iters = _check_count("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer)

    def settings(self) -> dict[str, Any]:
        """start_factor, end_factor, total_iters."""
        return {"start_factor": self.start_factor, "end_factor": self.end_factor, "total_iters": self.total_iters}

    def lr_at(self, epoch: int) -> float:
        """base_lr times the interpolated factor."""
        progress = min(epoch, self.total_iters)
        factor = self.start_factor + (self.end_factor - self.start_factor) * progress / self.total_iters
        return self.base_lr * factor


class CosineAnnealingLR(LRScheduler):
    """Lower the lr from base_lr to eta_min along half a cosine over T_max steps (and back up after, as PyTorch).

    lr(k) = eta_min + (base_lr - eta_min) * (1 + cos(pi * k / T_max)) / 2
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _check_count("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = _check_number("CosineAnnealingLR", "eta_min", eta_min, minimum=0.0)
        super().__init__(optimizer)

    def settings(self) -> dict[str, Any]:
        """T_max, eta_min."""
        return {"T_max": self.T_max, "eta_min": self.eta_min}

    def lr_at(self, epoch: int) -> float:
        """The cosine curve at step ``epoch``."""
        return self.eta_min + (self.base_lr - self.eta_min) * (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0


# ----------------------------------------------------------------------
# Checks with messages that name the optimizer and the setting
# ----------------------------------------------------------------------


def _check_params(owner: str, params: Iterable[Value]) -> list[Value]:
    if isinstance(params, (Value, str, bytes)) or not isinstance(params, Iterable):
        raise TypeError(
            f"{owner}: params must be a list of Values (e.g. model.parameters()), got {type(params).__name__}"
        )
    checked = list(params)
    if not checked:
        raise ValueError(f"{owner}: params is empty; there is nothing to optimize")
    seen: set[int] = set()
    for i, p in enumerate(checked):
        if not isinstance(p, Value):
            raise TypeError(f"{owner}: params[{i}] must be a Value, got {type(p).__name__}")
        if id(p) in seen:
            # It would be updated twice per step.
            raise ValueError(f"{owner}: params[{i}] appears more than once")
        seen.add(id(p))
    return checked


def _check_state_header(where: str, state_dict: Any, keys: set[str], kind: str, name: str) -> None:
    """A state_dict is a dict with exactly these keys, made by this kind of object (state_dict[kind] == name)."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"{where}: expected a dict, got {type(state_dict).__name__}")
    _check_keys(where, state_dict, keys)
    if state_dict[kind] != name:
        word = "schedule" if kind == "scheduler" else kind
        raise ValueError(f"{where}: the state is of a {state_dict[kind]!r} {word}, not {name!r}")


def _check_non_negative_int(where: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: {name} must be an int >= 0, got {value!r}")
    return value


def _check_number(
    owner: str,
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
) -> float:
    """A finite real number within the given bounds, as a float; else TypeError/ValueError naming it."""
    number = _as_float(owner, name, value)
    if not math.isfinite(number):
        raise ValueError(f"{owner}: {name} must be finite, got {number}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{owner}: {name} must be <= {maximum}, got {number}")
    if above is not None and number <= above:
        raise ValueError(f"{owner}: {name} must be > {above}, got {number}")
    if below is not None and number >= below:
        raise ValueError(f"{owner}: {name} must be < {below}, got {number}")
    return number


def _check_count(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be at least 1, got {value}")
    return value


def _check_keys(where: str, mapping: Mapping[str, Any], expected: set[str]) -> None:
    missing = sorted(expected - set(mapping))
    unexpected = sorted(set(mapping) - expected)
    if missing or unexpected:
        raise ValueError(f"{where}: missing keys {missing}, unexpected keys {unexpected}")


def _check_buffer(where: str, name: str, values: Any, length: int) -> list[float]:
    if not isinstance(values, list) or len(values) != length:
        shown = f"a list of {len(values)}" if isinstance(values, list) else type(values).__name__
        raise ValueError(f"{where}: buffer {name!r} must be a list of {length} numbers, got {shown}")
    return [_as_float(where, f"buffer {name!r}[{i}]", x) for i, x in enumerate(values)]


def _as_float(owner: str, name: str, value: Any) -> float:
    """A real number (not a bool) as a float; TypeError or ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:  # an int such as 10**400
        raise ValueError(f"{owner}: {name} is too large for a float") from None


def _gradients(owner: str, params: list[Value]) -> list[float]:
    """Every parameter's gradient as a float, all checked before a step changes anything."""
    gradients = []
    for i, p in enumerate(params):
        g = p.grad
        # After backward(create_graph=True) a gradient is itself a Value; the update needs its number.
        if isinstance(g, Value):
            g = g.data
        gradients.append(g if type(g) is float else _as_float(f"{owner}.step", f"params[{i}].grad", g))
    return gradients
