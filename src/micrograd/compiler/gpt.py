"""The GPT's numpy engine: a training step recorded once, replayed with numpy for every document.

A step's graph has the same shape for every document of the same length; only the token ids
change: which row of ``wte`` each position reads, and which logit each cross-entropy picks. So
the graph of a document as long as the block is recorded once, as a ``Plan`` (the recording
format of ``micrograd.compiler``) with two kinds of token inputs:

* *index* nodes: stand-ins for the token embeddings, each reading the row of ``wte`` its
  position's token picks (``PlanNode.lookup``);
* ``TokenAt`` constants: an op's constant that is the token at a position, such as the class
  each cross-entropy picks (``tokens[t + 1]``).

The recorded function returns the loss at each position (``GPT.position_losses``); a document
of ``n`` positions is *cut* from it: the nodes its first ``n`` losses depend on. The loss
of the document is then whatever the model makes of those ``n`` losses (``GPT.mean_loss``), run
by the eager engine on n Values (a handful of nodes), so no shape of the loss is written here.

The replay: op nodes grouped by (depth, op, number of inputs, constants), one group at a time,
each computed by its row of the table for all members at once (``Op.on_arrays``, the row's own
array code: element by element the eager engine's float operations in the eager order, so every
loss is bit for bit the eager one for the same parameters). The program of each length is code
written by the numpy engine (``micrograd.compiler.numpy.group_program``: ``Program.source``), so
its backward pass is that engine's one reverse walk, the groups in reverse with
``Op.derivative_on_arrays``; only the order in which a node's gradient contributions are added
differs from the eager engine, so gradients agree to rounding.

``CompiledTraining`` is a ``Training`` run on this engine: the flat parameters and Adam's buffers
as arrays, ``PaperAdam``'s update on them (the gradient is already a sum in another order than
the eager engine's, so its square and root are numpy's rather than C's pow: as close, and faster).

Needs numpy (``pip install 'micrograd[fast]'``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import CodeType
from typing import Any

import numpy as np

from micrograd._gradmode import collector_paused
from micrograd.compiler._text import Symbols
from micrograd.compiler.numpy import DenseGrid, Group, dense_grid, group_namespace, group_program
from micrograd.compiler.plan import Plan, PlanNode, TokenAt, record
from micrograd.engine import Value, no_grad
from micrograd.ops import Op

# The model and the run are micrograd.gpt's GPT and Training, passed in (not imported: gpt imports this module).
GPT = Any
Training = Any

__all__ = ["Program", "SequencePlan", "CompiledTraining", "record_model"]


def record_model(model: GPT) -> Plan:
    """The plan of the per-position losses of a document as long as the block, from the eager model."""
    params = model.parameters()
    param_position = {id(p): j for j, p in enumerate(params)}
    n = model.config.block_size
    wte_start = param_position[id(model.wte.weight[0][0])]
    width = model.config.n_embd
    # Any token ids will do: the shape of the graph does not depend on them.
    ids = [model.bos] + [i % (model.config.vocab_size - 1) for i in range(n)]
    tokens = [TokenAt(token, t) for t, token in enumerate(ids)]
    stand_ins = [[Value(w.data) for w in model.wte.weight[token]] for token in ids[:n]]
    roles: dict[int, tuple[Any, int] | PlanNode] = {
        id(v): PlanNode("index", slot=t, lookup=(wte_start, width, j))
        for t, row in enumerate(stand_ins)
        for j, v in enumerate(row)
    }
    recording = record(
        lambda: model.position_losses(tokens, stand_ins), roles, param_position, "the GPT's loss", 0, len(params)
    )
    return recording.plan


class SequencePlan:
    """A recorded plan as arrays, grouped for the replay; ``program(n)`` cuts the plan of a document of n positions."""

    def __init__(self, plan: Plan, mean: Callable[[list[Value]], Value]) -> None:
        self.mean = mean  # losses -> the document's loss, as the model computes it
        self.size = len(plan)
        self.n_params = plan.n_params
        self.outputs = np.array(plan.outputs or (plan.root,), dtype=np.intp)
        depth = [0] * self.size
        leaves: dict[str, list[Any]] = {"param": [], "param_index": [], "index": [], "lookup": [], "const": [],
                                         "const_value": []}
        groups: dict[tuple[Any, ...], tuple[Op, dict[str, Any], list[str], list[int], list[Any]]] = {}
        depth_of = depth.__getitem__
        for k, node in enumerate(plan.nodes):
            if not node.children:
                _leaf(k, node, leaves)
                continue
            op = node.op
            if node.kind != "op" or op is None:
                raise ValueError(f"the GPT's numpy engine: a node without a row in the op table ({node.label!r})")
            depth[k] = level = 1 + max(map(depth_of, node.children))
            tokens: list[str] = []
            positions: list[int] = []
            constant: tuple[Any, ...] = ()
            if node.attrs:  # most nodes have none: the rest are sorted into token inputs and constants
                attrs = dict(zip(op.attrs, node.attrs, strict=True))
                tokens = sorted(name for name, value in attrs.items() if isinstance(value, TokenAt))
                positions = [attrs[name].position for name in tokens]
                constant = tuple(sorted((name, value) for name, value in attrs.items() if name not in tokens))
            # Nodes of a row that pads (attention over 3 positions and over 7) share a group whatever their width.
            key = (level, id(op), len(node.children) if op.pad is None else -1, tuple(tokens), constant)
            group = groups.get(key)
            if group is None:
                group = groups[key] = (op, dict(constant), tokens, [], [])
            group[3].append(k)
            group[4].append((node.children, positions))
        pads = _PadSlots(self.size, leaves)
        self.groups = [_make_group(*group, pads) for _, group in sorted(groups.items(), key=lambda item: item[0][0])]
        self.size += len(pads.slots)  # the pad values' slots come after the plan's nodes
        self.leaves = {name: np.array(items, dtype=float if name == "const_value" else np.intp).reshape(
            (-1, 3) if name == "lookup" else (-1,)) for name, items in leaves.items()}
        is_param = np.zeros(self.size, dtype=bool)
        is_param[self.leaves["param"]] = True
        # Found once on the whole plan; a program cuts them (_cut_grid).
        self.groups = [replace(g, grid=dense_grid(g.op, g.children, g.out, is_param, np)) for g in self.groups]
        self.needs_grad = np.array(plan.needs_grad, dtype=bool)
        self._ready(Symbols(plan))

    def _ready(self, symbols: Symbols) -> None:
        self.symbols = symbols  # the programs' names for the ops' array code, the same for every length
        self.namespace = group_namespace(symbols, np)
        self.compiled: dict[str, CodeType] = {}  # source -> code: lengths with the same groups share it

    @classmethod
    def from_parts(cls, parts: dict[str, Any], mean: Callable[[list[Value]], Value]) -> SequencePlan:
        """A SequencePlan from what ``parts()`` gave (the GPT's plan cache keeps them between runs)."""
        sequence = cls.__new__(cls)
        sequence.mean = mean
        for name in ("size", "n_params", "outputs", "leaves", "groups", "needs_grad"):
            setattr(sequence, name, parts[name])
        sequence._ready(Symbols.for_ops(parts["ops"]))
        return sequence

    def parts(self) -> dict[str, Any]:
        """What the programs are cut from: numbers, arrays, groups and the ops in the order of their names."""
        ops = [op for _, op in self.symbols.ops]
        return {"size": self.size, "n_params": self.n_params, "outputs": self.outputs, "leaves": self.leaves,
                "groups": self.groups, "needs_grad": self.needs_grad, "ops": ops,
                "constants": dict(self.symbols.constants)}

    def program(self, n: int) -> Program:
        """The loss and gradient of a document of ``n`` positions (``n + 1`` tokens)."""
        if not 1 <= n <= len(self.outputs):
            raise ValueError(
                f"the GPT's numpy engine: a document of {n} positions, but the block is {len(self.outputs)}"
            )
        # The cut: what the first n losses depend on, found from them back (a child is at a smaller
        # depth than its parent, so a group is reached before its children's). Those nodes read no
        # token past the n + 1 of the document: a position's loss reads only the tokens up to the next.
        live = np.zeros(self.size, dtype=bool)
        live[self.outputs[:n]] = True
        for group in reversed(self.groups):
            reached = live[group.out]
            if reached.any():
                live[group.children[:, reached].ravel()] = True
        return Program(self, live, n)


def _leaf(k: int, node: PlanNode, leaves: dict[str, list[Any]]) -> None:
    if node.kind == "param":
        leaves["param"].append(k)
        leaves["param_index"].append(node.slot)
    elif node.kind == "index":
        leaves["index"].append(k)
        table, width, column = node.lookup
        leaves["lookup"].append((node.slot, table + column, width))  # parameter: table + column + token * width
    elif node.kind == "constant":
        leaves["const"].append(k)
        leaves["const_value"].append(node.const)
    else:
        raise ValueError(f"the GPT's numpy engine: a leaf of kind {node.kind!r} (inputs are token ids only)")


class _PadSlots:
    """Slots after the plan's nodes holding the values rows pad with (``Op.pad``), one per value."""

    def __init__(self, first: int, leaves: dict[str, list[Any]]) -> None:
        self.first, self.leaves = first, leaves
        self.slots: dict[str, int] = {}  # keyed by repr: 0.0 and -0.0 are different pads

    def slot(self, value: float) -> int:
        if repr(value) not in self.slots:
            self.slots[repr(value)] = slot = self.first + len(self.slots)
            self.leaves["const"].append(slot)
            self.leaves["const_value"].append(value)
        return self.slots[repr(value)]


def _padded(op: Op, children: tuple[int, ...], width: int, pads: _PadSlots) -> tuple[int, ...]:
    """A node's inputs widened to ``width``: each of the row's parts padded at its end with its value."""
    assert op.pad is not None
    parts = len(op.pad)
    size, extra = len(children) // parts, (width - len(children)) // parts
    return tuple(itertools.chain.from_iterable(
        (*children[j * size:(j + 1) * size], *[pads.slot(value)] * extra) for j, value in enumerate(op.pad)
    ))


def _make_group(
    op: Op, attrs: dict[str, Any], tokens: list[str], out: list[int], members: list[Any], pads: _PadSlots
) -> Group:
    arity = max(len(c) for c, _ in members)
    if any(len(c) != arity for c, _ in members):  # a row that pads: every member as wide as the widest
        members = [(_padded(op, c, arity, pads), p) for c, p in members]
    # fromiter: a group may have thousands of members, and np.array of tuples is slow
    flat = np.fromiter(itertools.chain.from_iterable(c for c, _ in members), np.intp, len(members) * arity)
    children = flat.reshape(len(members), arity).T
    positions = np.array([p for _, p in members], dtype=np.intp).reshape(len(members), len(tokens)).T
    return Group(op, attrs, dict(zip(tokens, positions, strict=True)), np.array(out, dtype=np.intp), children)


class Program:
    """The loss and its gradient for documents of ``n`` positions, cut from a ``SequencePlan``.

    Its code is written by the numpy engine (``micrograd.compiler.numpy.group_program``), whose
    reverse pass it shares; ``source`` is that code, for reading.
    """

    def __init__(self, sequence: SequencePlan, live: np.ndarray, n: int) -> None:
        self.n = n
        renumber = np.cumsum(live) - 1  # old slot -> new slot, for the slots kept
        leaves = sequence.leaves

        def kept(slots: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
            mask = live[slots]
            return [renumber[slots[mask]], *(other[mask] for other in others)]

        groups = []
        for group in sequence.groups:
            mask = live[group.out]
            if mask.any():
                tokens = {name: positions[mask] for name, positions in group.tokens.items()}
                out = renumber[group.out[mask]]
                children = renumber[group.children[:, mask]]
                grid = None if group.grid is None else _cut_grid(group.grid, live, renumber)
                groups.append(Group(group.op, group.attrs, tokens, out, children, bool(sequence.needs_grad[out].any()),
                                    grid))
        self.source, arrays = group_program(groups, sequence.symbols)
        param_slots, param_index = kept(leaves["param"], leaves["param_index"])
        index_slots, lookup = kept(leaves["index"], leaves["lookup"])
        const_slots, const_values = kept(leaves["const"], leaves["const_value"])
        positions, offsets, widths = lookup.T
        namespace = {
            **sequence.namespace, **arrays, "size": int(live.sum()), "n_params": sequence.n_params,
            "const_slots": const_slots, "const_values": const_values, "param_slots": param_slots,
            "param_index": param_index, "index_slots": index_slots, "lookup_positions": positions,
            "offsets": offsets, "widths": widths, "outputs": renumber[sequence.outputs[:n]],
            "loss_of_outputs": _loss_of(sequence.mean),
        }
        code = sequence.compiled.get(self.source)
        if code is None:
            code = sequence.compiled[self.source] = compile(self.source, "<micrograd.compiler.gpt program>", "exec")
        exec(code, namespace)
        self._code: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]] = namespace["loss_and_grad"]

    def loss_and_grad(self, parameters: np.ndarray, tokens: Sequence[int]) -> tuple[float, np.ndarray]:
        """The loss of ``tokens`` (``n + 1`` ids) and its gradient with respect to every parameter."""
        return self._code(parameters, np.asarray(tokens, dtype=np.intp))


def _cut_grid(grid: DenseGrid, live: np.ndarray, renumber: np.ndarray) -> DenseGrid | None:
    """The grid of the positions kept by a cut, renumbered; None if a cut went through a position."""
    kept = live[grid.out]
    positions = kept.all(axis=1)
    if kept[~positions].any():
        return None
    return DenseGrid(renumber[grid.out[positions]], renumber[grid.weights], renumber[grid.inputs[positions]])


def _loss_of(mean: Callable[[list[Value]], Value]) -> Callable[[np.ndarray], tuple[float, list[float]]]:
    """The document's loss from its positions' losses, and its derivative by each: the model's own function.

    Run by the eager engine on Values made of those numbers, a few nodes, whatever shape the model gives it.
    """

    def loss_of_outputs(outputs: np.ndarray) -> tuple[float, list[float]]:
        losses = [Value(x) for x in outputs.tolist()]
        loss = mean(losses)
        loss.backward()
        return float(loss.data), [v.grad for v in losses]

    return loss_of_outputs


class CompiledTraining:
    """The state of a ``Training`` run on the numpy engine: flat parameters, Adam's buffers, the programs.

    ``step(tokens)`` takes one training step and returns its loss; ``sync_parameters()`` copies the
    parameters into the model's Values (``Training.model`` does when read, ``run()`` at its end), and
    ``sync()`` Adam's buffers into the optimizer too.
    """

    def __init__(self, training: Training) -> None:
        self.training = training
        self.model = training.model  # read before this engine is the run's: nothing to bring up yet
        self.params = self.model.parameters()
        self.stale = False  # whether the Values are behind the arrays
        optimizer = training.optimizer
        self.parameters = np.array([p.data for p in self.params])
        self.exp_avg = np.array(optimizer.exp_avg)
        self.exp_avg_sq = np.array(optimizer.exp_avg_sq)
        self.sequence: SequencePlan | None = None
        self.programs: dict[int, Program] = {}
        self.unchecked = False  # whether the plan was read from the cache and no step has checked it yet
        self.read_kept = True  # False once a kept plan failed its check: record, whatever the folder holds
        self.plan_path: Path | None = None  # the file of the kept plan (gpt_cache.plan_file), found with the plan

    def program(self, n: int) -> Program:
        """The program for documents of ``n`` positions, made the first time that length comes up."""
        program = self.programs.get(n)
        if program is None:
            with collector_paused():  # tens of thousands of new objects, none of them garbage
                if self.sequence is None:
                    self.sequence = self._plan()
                program = self.programs[n] = self.sequence.program(n)
        return program

    def _plan(self) -> SequencePlan:
        """The plan a run of the same code and sizes kept (see gpt_cache), else recorded now and kept."""
        from micrograd.compiler import gpt_cache

        self.plan_path = gpt_cache.plan_file(self.model)  # the package's files are looked at once a run
        parts = gpt_cache.read_plan(self.plan_path) if self.read_kept else None
        if parts is not None:
            self.unchecked = True
            return SequencePlan.from_parts(parts, self.model.mean_loss)
        sequence = SequencePlan(record_model(self.model), self.model.mean_loss)
        gpt_cache.write_plan(self.plan_path, sequence.parts())
        return sequence

    def _check(self, tokens: Sequence[int], loss: float) -> bool:
        """Whether the first loss of a kept plan is the eager model's, the same float; if not, the file goes."""
        from micrograd.compiler import gpt_cache

        self.unchecked = False
        with no_grad():
            expected = self.model.loss(tokens).data
        if loss == expected or (math.isnan(loss) and math.isnan(expected)):
            return True
        gpt_cache.forget_plan(self.plan_path)
        self.sequence, self.programs, self.read_kept = None, {}, False
        return False

    def step(self, tokens: Sequence[int]) -> float:
        """One training step on one document: loss, gradient, then PaperAdam's update; returns the loss."""
        training = self.training
        optimizer = training.optimizer
        n = min(self.model.config.block_size, len(tokens) - 1)
        loss, gradient = self.program(n).loss_and_grad(self.parameters, tokens[: n + 1])
        if self.unchecked and not self._check(tokens[: n + 1], loss):  # a kept plan that computes otherwise
            loss, gradient = self.program(n).loss_and_grad(self.parameters, tokens[: n + 1])  # recorded anew
        if optimizer.weight_decay != 0.0:
            gradient = gradient + optimizer.weight_decay * self.parameters
        optimizer.step_count += 1
        beta1, beta2 = optimizer.betas
        t = optimizer.step_count
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        # PaperAdam's update on arrays. The gradient is a sum in another order than the eager engine's
        # (equal to rounding), so its square and root are numpy's, not C's pow: as close, and faster.
        self.exp_avg = beta1 * self.exp_avg + (1 - beta1) * gradient
        self.exp_avg_sq = beta2 * self.exp_avg_sq + (1 - beta2) * (gradient * gradient)
        denominator = np.sqrt(self.exp_avg_sq / bias_correction2) + optimizer.eps
        self.parameters = self.parameters - optimizer.lr * (self.exp_avg / bias_correction1) / denominator
        self.stale = True
        return loss

    def sync_parameters(self) -> None:
        """Copy the parameters into the model's Values, if a step changed them since the last copy."""
        if self.stale:
            for p, number in zip(self.params, self.parameters.tolist(), strict=True):
                p.data = number
            self.stale = False

    def sync(self) -> None:
        """Copy the parameters into the Values and Adam's buffers into the optimizer."""
        self.sync_parameters()
        optimizer = self.training.optimizer
        optimizer.exp_avg[:] = self.exp_avg.tolist()
        optimizer.exp_avg_sq[:] = self.exp_avg_sq.tolist()
