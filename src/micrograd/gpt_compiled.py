"""The GPT's compiled engine: a training step recorded once per document length, replayed with numpy.

A step's graph has the same shape for every document of the same length; only the token
ids (which row of ``wte`` each position reads) and the target ids (which logit each
cross-entropy picks) change. So the first time a length comes up, the eager model builds
the loss once, with stand-in Values for the token embeddings, and the recorded graph
becomes a program over one array of node values:

* leaves: parameters are gathered from the flat parameter array, each position's token
  embedding from the row of ``wte`` its token id picks (an index input), constants are fixed;
* forward: op nodes grouped by (depth, op, number of inputs, constants), one group at a
  time, each with the op's forward from the table (``micrograd.ops``) on columns of its
  inputs -- element by element the eager engine's float operations in the eager order, so
  every loss is bit for bit the eager one for the same parameters. The cross-entropy's
  target is a column too: ``target = tokens[t + 1]``;
* backward: groups in reverse depth order; each evaluates the op's derivative from the
  table on its saved columns and adds ``local * grad`` into its children's slots. Only the
  order in which a node's gradient contributions are added differs from the eager engine,
  so gradients agree to rounding (a few units in the last place);
* the update is ``PaperAdam``'s, on arrays, with Python's ``pow`` where numpy would take a
  shortcut (``**2``, ``**0.5``) or, with AVX-512, its own vectorised pow, so the same
  gradients give the same parameters. For the same reason every pow, exp and log of the
  fused rows' array code is C's (``losses._python_pow``, ``_python_exp``, ``_python_log``).

Needs numpy (``pip install 'micrograd[fast]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from micrograd import fused, losses
from micrograd.engine import Value, topological_order
from micrograd.losses import SOFTMAX_CROSS_ENTROPY, _python_pow
from micrograd.ops import ADD, DOT, MUL, RELU, Op

# The model and the run are micrograd.gpt's GPT and Training, passed in (not imported: gpt imports this module).
GPT = Any
Training = Any

__all__ = ["Recording", "Program", "CompiledTraining"]


@dataclass
class _Group:
    """Op nodes computed together: ``out[i] = op(*values[children[i]])``."""

    op: Op
    attrs: dict[str, Any]  # constants of the op that are the same for every member
    out: np.ndarray  # (k,) slots
    children: np.ndarray  # (k, arity) slots
    target_positions: np.ndarray | None  # cross-entropy: the position of each member (its target is tokens[t + 1])

    def __post_init__(self) -> None:
        self.flat_children = self.children.ravel()


class Recording:
    """The graph of one step on a document as long as the block, recorded once from the eager model.

    Every node knows its position: the last position it depends on (-1 for parameters and
    constants). The first ``n`` positions of the graph are the whole graph of a document of
    ``n`` positions, but for the loss at the end, the mean over the positions: ``Program``
    takes them and puts the mean for ``n`` back.
    """

    def __init__(self, model: GPT) -> None:
        params = model.parameters()
        index = {p: i for i, p in enumerate(params)}
        n = model.config.block_size
        self.block_size = n
        self.n_params = len(params)
        self.n_embd = model.config.n_embd
        self.wte_start = index[model.wte.weight[0][0]]
        # Any token ids will do: the shape of the graph does not depend on them.
        tokens = [model.bos] + [i % (model.config.vocab_size - 1) for i in range(n)]
        stand_ins = [[Value(w.data) for w in model.wte.weight[token]] for token in tokens[:n]]
        embedding_of = {v: (t, j) for t, row in enumerate(stand_ins) for j, v in enumerate(row)}
        per_position: list[Value] = []
        loss = model._loss(tokens, stand_ins, per_position)
        order = topological_order(loss)
        slot_of = {node: k for k, node in enumerate(order)}
        self.size = len(order)
        self.ce_slots = np.array([slot_of[node] for node in per_position], dtype=np.intp)
        position_of_ce = {node: t for t, node in enumerate(per_position)}
        # The mean at the end: loss = (0 + l_0 + l_1 + ...) * (1/n), made again for each n by Program.
        head = set()
        node: Value = loss
        while node not in position_of_ce:
            head.add(node)
            node = node._prev[0]

        position = [-1] * len(order)
        depth = [0] * len(order)
        param_slots, param_index, emb_slots, emb_positions, emb_columns = [], [], [], [], []
        const_slots, const_values = [], []
        groups: dict[tuple[Any, ...], tuple[Op, dict[str, Any], list[int], list[tuple[int, ...]], list[int]]] = {}
        slot = slot_of.__getitem__
        for k, node in enumerate(order):
            children = tuple(map(slot, node._prev))
            if not children:
                if node in index:
                    param_slots.append(k)
                    param_index.append(index[node])
                elif node in embedding_of:
                    t, j = embedding_of[node]
                    position[k] = t
                    emb_slots.append(k)
                    emb_positions.append(t)
                    emb_columns.append(j)
                else:
                    const_slots.append(k)
                    const_values.append(node.data)
                continue
            if node in head:
                position[k] = n  # never taken
                continue
            op = node._fn
            if op is None:
                raise ValueError(f"compiled GPT: a node without a row in the op table ({node._op!r})")
            depth[k] = level = 1 + max(map(depth.__getitem__, children))
            position[k] = max(map(position.__getitem__, children))
            attrs = dict(zip(op.attrs, node._attrs, strict=True))
            if op is SOFTMAX_CROSS_ENTROPY:  # the target is an input: tokens[position + 1]
                del attrs["target"]
            key = (level, op.name, len(children), tuple(sorted(attrs.items())))
            group = groups.get(key)
            if group is None:
                group = groups[key] = (op, attrs, [], [], [])
            group[2].append(k)
            group[3].append(children)
        self.position = np.array(position, dtype=np.intp)
        self.param_slots = np.array(param_slots, dtype=np.intp)
        self.param_index = np.array(param_index, dtype=np.intp)
        self.emb_slots = np.array(emb_slots, dtype=np.intp)
        self.emb_positions = np.array(emb_positions, dtype=np.intp)
        self.emb_columns = np.array(emb_columns, dtype=np.intp)
        self.const_slots = np.array(const_slots, dtype=np.intp)
        self.const_values = np.array(const_values, dtype=float)
        self.groups = [
            _Group(
                op=op,
                attrs=attrs,
                out=np.array(out, dtype=np.intp),
                children=np.array(children, dtype=np.intp).reshape(len(out), -1),
                target_positions=self.position[np.array(out, dtype=np.intp)] if op is SOFTMAX_CROSS_ENTROPY else None,
            )
            for _, (op, attrs, out, children, _) in sorted(groups.items(), key=lambda item: item[0][0])
        ]


class Program:
    """The loss and its gradient for documents of ``n`` positions (``n + 1`` tokens, BOS on both ends)."""

    def __init__(self, recording: Recording, n: int) -> None:
        if not 1 <= n <= recording.block_size:
            raise ValueError(f"compiled GPT: a document of {n} positions, but the block is {recording.block_size}")
        self.n = n
        self.n_params = recording.n_params
        self.n_embd = recording.n_embd
        self.wte_start = recording.wte_start
        keep = recording.position < n
        renumber = np.cumsum(keep) - 1  # old slot -> new slot, for the slots kept
        self.size = int(keep.sum())

        def kept(slots: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
            mask = keep[slots]
            return [renumber[slots[mask]], *(other[mask] for other in others)]

        self.param_slots, self.param_index = kept(recording.param_slots, recording.param_index)
        self.emb_slots, self.emb_positions, self.emb_columns = kept(
            recording.emb_slots, recording.emb_positions, recording.emb_columns
        )
        self.const_slots, self.const_values = kept(recording.const_slots, recording.const_values)
        self.ce_slots = renumber[recording.ce_slots[:n]]
        self.groups = []
        for group in recording.groups:
            mask = keep[group.out]
            if not mask.any():
                continue
            positions = group.target_positions
            self.groups.append(
                _Group(
                    op=group.op,
                    attrs=group.attrs,
                    out=renumber[group.out[mask]],
                    children=renumber[group.children[mask]],
                    target_positions=None if positions is None else positions[mask],
                )
            )

    def loss_and_grad(self, parameters: np.ndarray, tokens: Sequence[int]) -> tuple[float, np.ndarray]:
        """The mean loss of ``tokens`` (``n + 1`` ids) and its gradient with respect to every parameter."""
        ids = np.asarray(tokens, dtype=np.intp)
        values = np.empty(self.size)
        values[self.const_slots] = self.const_values
        values[self.param_slots] = parameters[self.param_index]
        emb_index = self.wte_start + ids[self.emb_positions] * self.n_embd + self.emb_columns
        values[self.emb_slots] = parameters[emb_index]
        saved: list[tuple[np.ndarray, dict[str, Any]]] = []
        for group in self.groups:
            inputs = values[group.children]  # (members, arity)
            attrs = group.attrs
            if group.target_positions is not None:
                attrs = {**attrs, "target": ids[group.target_positions + 1]}
            values[group.out] = _forward(group.op, inputs, attrs)
            saved.append((inputs, attrs))
        # The mean, as the eager model takes it: (0 + l_0 + l_1 + ...) * (1/n), added left to right,
        # so each position's loss gets the gradient 1/n.
        mean = float(values[self.ce_slots].cumsum()[-1]) * (1 / self.n)
        grads = np.zeros(self.size)
        grads[self.ce_slots] = 1 / self.n
        for group, (inputs, attrs) in zip(reversed(self.groups), reversed(saved), strict=True):
            upstream = grads[group.out]
            local = _derivative(group.op, inputs, values[group.out], attrs)
            grads += np.bincount(group.flat_children, (local * upstream[:, None]).ravel(), minlength=self.size)
        gradient = np.zeros(self.n_params)
        gradient[self.param_index] = grads[self.param_slots]
        np.add.at(gradient, emb_index, grads[self.emb_slots])
        return mean, gradient


def _forward(op: Op, inputs: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    """The op's forward on the members' inputs (one row each), the common ops' arithmetic spelled out."""
    result: np.ndarray
    if op is ADD:
        result = inputs[:, 0] + inputs[:, 1]
    elif op is MUL:
        result = inputs[:, 0] * inputs[:, 1]
    elif op is RELU:
        result = np.where(inputs[:, 0] < 0.0, 0.0, inputs[:, 0])
    elif op is DOT:
        # w_1 x_1 + w_2 x_2 + ..., added left to right as engine.linear adds: cumsum is sequential.
        n = inputs.shape[1] // 2
        result = np.cumsum(inputs[:, :n] * inputs[:, n:], axis=1)[:, -1]
    elif op.name in _STACKED:  # the row's own array code, given its inputs as rows of one array
        result = _STACKED[op.name][0](inputs.T, **attrs)
    else:
        result = np.asarray(op.forward(*inputs.T, **attrs), dtype=float)
    return result


def _derivative(op: Op, inputs: np.ndarray, out: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    """The local derivatives, one row per member, from the op's row (the common ops' spelled out)."""
    if op is ADD:
        return np.ones_like(inputs)
    if op is MUL:
        return inputs[:, ::-1]
    if op is DOT:
        n = inputs.shape[1] // 2
        return np.concatenate([inputs[:, n:], inputs[:, :n]], axis=1)
    if op.name in _STACKED:
        stacked: np.ndarray = _STACKED[op.name][1](inputs.T, out, **attrs).T
        return stacked
    local = op.derivative(*inputs.T, out, **attrs)
    if inputs.shape[1] == 1:
        local = (local,)
    columns = [d if isinstance(d, np.ndarray) and d.shape == out.shape else np.full(out.shape, float(d)) for d in local]
    return np.stack(columns, axis=1)


# The fused rows' array code (forward, derivative), which their forward and derivative run on arrays.
_STACKED: dict[str, tuple[Any, Any]] = {
    "rms_scale": (fused._rms_scale_stacked, fused._rms_scale_stacked_derivative),
    "attention_score": (fused._attention_score_stacked, fused._attention_score_stacked_derivative),
    "attend": (fused._attend_stacked, fused._attend_stacked_derivative),
    "softmax_cross_entropy": (
        losses._softmax_cross_entropy_stacked,
        losses._softmax_cross_entropy_stacked_derivative,
    ),
}


class CompiledTraining:
    """The state of a ``Training`` run on the compiled engine: flat parameters, Adam's buffers, the programs."""

    def __init__(self, training: Training) -> None:
        self.training = training
        self.params = training.model.parameters()
        optimizer = training.optimizer
        self.parameters = np.array([p.data for p in self.params])
        self.exp_avg = np.array(optimizer.exp_avg)
        self.exp_avg_sq = np.array(optimizer.exp_avg_sq)
        self.recording: Recording | None = None
        self.programs: dict[int, Program] = {}

    def step(self, tokens: Sequence[int]) -> float:
        """One training step on one document: loss, gradient, then PaperAdam's update; returns the loss."""
        training = self.training
        model, optimizer = training.model, training.optimizer
        n = min(model.config.block_size, len(tokens) - 1)
        program = self.programs.get(n)
        if program is None:
            if self.recording is None:
                self.recording = Recording(model)
            program = self.programs[n] = Program(self.recording, n)
        loss, gradient = program.loss_and_grad(self.parameters, tokens[: n + 1])
        if optimizer.weight_decay != 0.0:
            gradient = gradient + optimizer.weight_decay * self.parameters
        optimizer.step_count += 1
        beta1, beta2 = optimizer.betas
        t = optimizer.step_count
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        self.exp_avg = beta1 * self.exp_avg + (1 - beta1) * gradient
        self.exp_avg_sq = beta2 * self.exp_avg_sq + (1 - beta2) * _python_pow(gradient, 2)
        denominator = _python_pow(self.exp_avg_sq / bias_correction2, 0.5) + optimizer.eps
        self.parameters = self.parameters - optimizer.lr * (self.exp_avg / bias_correction1) / denominator
        for p, number in zip(self.params, self.parameters.tolist(), strict=True):
            p.data = number
        return loss

    def sync(self) -> None:
        """Copy Adam's buffers back into the optimizer (the parameters are copied every step)."""
        optimizer = self.training.optimizer
        optimizer.exp_avg[:] = self.exp_avg.tolist()
        optimizer.exp_avg_sq[:] = self.exp_avg_sq.tolist()
