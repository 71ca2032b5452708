"""Record a loss once, then replay its forward and backward pass without building Values.

The eager engine builds a fresh graph of Value objects for every example of
every step, and most of a training step is spent creating and walking those
objects. But for a fixed model the graph is the same each time; only the
numbers change. ``compile_loss`` records the graph of one example's loss once
and turns it into code:

* ``engine="python"`` -- one generated Python function: a loop over the batch
  whose body is the recorded graph as straight-line arithmetic on local
  variables (forward, then backward), with the parameters and their gradient
  accumulators held in locals. No dependencies.
* ``engine="numpy"`` -- the same graph evaluated for the whole batch at once
  with numpy arrays. Neurons that read the same inputs (a layer) become one
  matrix product, and an activation applied to a whole layer becomes one array
  op. numpy is imported only when this engine is asked for.

Gradients are *added* to the parameters' ``.grad``, exactly as ``backward()``
does, so ``zero_grad``, optimizers and checkpoints work unchanged::

    model = MLP(2, [16, 16, 1])
    step = compile_loss(lambda x, y: (1 + -y * model(x)).relu(), model, n_inputs=2,
                        regularizer=lambda ps: 1e-4 * sum(p * p for p in ps))
    model.zero_grad()
    loss = step.loss_and_backward(X, y)  # mean hinge loss + L2, grads in p.grad
    print(step.source)                   # the generated code

The limit (the same as ``jax.jit``'s): the graph is recorded for one example
and replayed for all, so it must not depend on the data. Ops are replayed
faithfully -- ``relu``, ``tanh`` and the rest recompute their value and local
derivative from the new numbers, so relu's kink is fine -- but Python code that
branches on ``.data`` (``if x.data > 0: ...``) or turns an input into a plain
number (``float(x)``) is *not* re-run. ``compile_loss`` records two different
examples and refuses, with ``CompileError``, when their graphs differ, which
catches most such cases; a branch that both examples happen to take the same
way cannot be seen.
"""

from __future__ import annotations

import math
import operator
import re
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal, Protocol, Union

from micrograd.engine import Value, is_grad_enabled, topological_order

if TYPE_CHECKING:  # only for type hints: numpy is optional
    import numpy

__all__ = ["compile_loss", "CompiledLoss", "CompileError", "SUPPORTED_OPS"]

SUPPORTED_OPS = ("+", "*", "**<k>", "**", "exp", "log", "tanh", "sigmoid", "ReLU", "linear")

Engine = Literal["python", "numpy"]
PerExampleLoss = Callable[[list[Value], Value], Value]
Regularizer = Callable[[list[Value]], Value]


class HasParameters(Protocol):
    """Anything with a ``parameters()`` method, e.g. ``micrograd.nn.MLP``."""

    def parameters(self) -> list[Value]: ...


Params = Union[Sequence[Value], HasParameters]  # noqa: UP007 (a runtime alias: `|` needs 3.10 objects)


class CompileError(ValueError):
    """The function cannot be compiled, or the compiled loss no longer matches its parameters."""


# ----------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------


def compile_loss(
    per_example_loss: PerExampleLoss,
    params: Params,
    n_inputs: int,
    *,
    engine: Engine = "python",
    regularizer: Regularizer | None = None,
    example: tuple[Sequence[float], float] | None = None,
) -> CompiledLoss:
    """Compile ``mean_i per_example_loss(X[i], y[i]) + regularizer(params)`` and its gradient.

    ``per_example_loss(inputs, target)`` gets ``n_inputs`` Values and the target
    as a Value (so that its uses are recorded too) and returns the loss of one
    example as a Value. ``params`` is a list of Values or a module with
    ``parameters()``; the loss may read no other Value made outside the function.
    ``regularizer(params)``, optional, is a term of the parameters alone (e.g.
    L2), added once per batch, not per example.

    The graph is recorded on the first call of ``loss_and_backward`` (from the
    batch's own examples, so checks on the data such as the label check of
    ``hinge_loss`` see real numbers), or at once when ``example=(row, target)``
    is given.
    """
    if engine not in ("python", "numpy"):
        raise ValueError(f"compile_loss: engine must be 'python' or 'numpy', got {engine!r}")
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int):
        raise TypeError(f"compile_loss: n_inputs must be an int, got {type(n_inputs).__name__} {n_inputs!r}")
    if n_inputs < 1:
        raise ValueError(f"compile_loss: n_inputs must be an int >= 1, got {n_inputs!r}")
    if engine == "numpy":
        _import_numpy()  # fail now, with a clear message, rather than at the first step
    compiled = CompiledLoss(per_example_loss, params, n_inputs, engine, regularizer)
    if example is not None:
        row, target = example
        compiled.record([row], [target])
    return compiled


class CompiledLoss:
    """A recorded loss: call ``loss_and_backward(X, y)`` once per training step. Made by ``compile_loss``."""

    def __init__(
        self,
        per_example_loss: PerExampleLoss,
        params: Params,
        n_inputs: int,
        engine: Engine,
        regularizer: Regularizer | None,
    ) -> None:
        self.engine: Engine = engine
        self.n_inputs = n_inputs
        self._per_example_loss = per_example_loss
        self._param_source = params
        self._params: tuple[Value, ...] = tuple(_read_params(params))
        self._param_position = _identity_index(self._params)
        self._example_code: Callable[..., float] | None = None
        self._example_source = ""
        self._regularizer_code: Callable[..., float] | None = None
        self._regularizer_source = ""
        if regularizer is not None:
            graph = _record_regularizer(regularizer, self._params, self._param_position)
            self._regularizer_source = _python_regularizer_source(graph, len(self._params))
            self._regularizer_code = _build(self._regularizer_source, "regularizer_and_backward", graph)

    @property
    def params(self) -> tuple[Value, ...]:
        """The parameters, in the order the generated code numbers them (p0, p1, ...)."""
        return self._params

    @property
    def source(self) -> str:
        """The generated code, for reading (recorded graph as Python or numpy statements)."""
        if self._example_code is None:
            raise RuntimeError(
                "CompiledLoss.source: nothing recorded yet; call loss_and_backward once or pass example="
            )
        return self._example_source + ("\n\n" + self._regularizer_source if self._regularizer_source else "")

    def record(self, X: Sequence[Sequence[float]], y: Sequence[float]) -> None:
        """Record the graph now, from two examples of this batch, and generate the code."""
        rows, targets = self._check_batch(X, y)
        first, second = 0, _most_different_example(rows, targets)
        graph = _record_example(self._per_example_loss, rows[first], targets[first], self._param_position)
        other = _record_example(self._per_example_loss, rows[second], targets[second], self._param_position)
        _check_same_graph(graph, other)
        graph.nodes = other.nodes = []  # the recorded Values are not needed any more
        if self.engine == "python":
            self._example_source = _python_example_source(graph, self.n_inputs, len(self._params))
        else:
            self._example_source = _NumpyWriter(graph, self.n_inputs, len(self._params)).source()
        self._example_code = _build(self._example_source, "loss_and_backward", graph)

    def loss_and_backward(self, X: Sequence[Sequence[float]] | Any, y: Sequence[float] | Any) -> float:
        """The mean of the per-example loss over the rows of ``X`` (plus the regularizer); gradients added to ``.grad``.

        ``X`` holds one row of ``n_inputs`` numbers per example (a list of lists or
        a 2-d numpy array), ``y`` one target per example.
        """
        self._check_params()
        if self._example_code is None:
            self.record(X, y)
            assert self._example_code is not None
        if self.engine == "python":
            rows, targets = self._check_batch(X, y)
            loss = self._example_code(rows, targets, self._params, 1.0 / len(rows))
        else:
            rows_array, targets_array = self._check_arrays(X, y)
            loss = self._example_code(rows_array, targets_array, self._params, 1.0 / len(rows_array))
        if self._regularizer_code is not None:
            loss = loss + self._regularizer_code(self._params)
        return loss

    def __repr__(self) -> str:
        state = "recorded" if self._example_code is not None else "not recorded yet"
        return f"CompiledLoss(engine={self.engine!r}, n_inputs={self.n_inputs}, params={len(self._params)}, {state})"

    # -- checks -------------------------------------------------------------

    def _check_params(self) -> None:
        """Refuse when the parameter list changed since recording: the code has the old one built in."""
        current = _read_params(self._param_source)
        if len(current) != len(self._params) or not all(map(operator.is_, current, self._params)):
            raise CompileError(
                f"compiled loss: the parameters changed since recording ({len(self._params)} then, "
                f"{len(current)} now); call compile_loss again"
            )

    def _check_batch(self, X: Any, y: Any) -> tuple[list[tuple[float, ...]], list[float]]:
        """Rows as tuples of floats and targets as floats, with the sizes checked."""
        if hasattr(X, "tolist"):  # a numpy array: converting in one go is much faster
            X = X.tolist()
        if hasattr(y, "tolist"):
            y = y.tolist()
        try:
            rows = [tuple(map(float, row)) for row in X]
            targets = [float(t) for t in y]
        except (TypeError, ValueError, OverflowError) as error:
            # The fast conversion above names nothing; look again for the entry that failed.
            raise _batch_problem(X, y) or error from None
        if not rows:
            raise ValueError("compiled loss: X is empty")
        if len(rows) != len(targets):
            raise ValueError(f"compiled loss: {len(rows)} rows in X but {len(targets)} targets in y")
        for i, row in enumerate(rows):
            if len(row) != self.n_inputs:
                raise ValueError(
                    f"compiled loss: expected {self.n_inputs} inputs per example, got {len(row)} in X[{i}]"
                )
        return rows, targets

    def _check_arrays(self, X: Any, y: Any) -> tuple[numpy.ndarray, numpy.ndarray]:
        np = _import_numpy()
        try:
            rows = np.asarray(X, dtype=np.float64)
            targets = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as error:
            raise _batch_problem(X, y) or error from None
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(f"compiled loss: X must be a non-empty batch of rows (2-d), got shape {rows.shape}")
        if rows.shape[1] != self.n_inputs:
            raise ValueError(f"compiled loss: expected {self.n_inputs} inputs per example, got {rows.shape[1]}")
        if targets.shape != (rows.shape[0],):
            raise ValueError(f"compiled loss: {rows.shape[0]} rows in X but y has shape {targets.shape}")
        return rows, targets


# ----------------------------------------------------------------------
# Recording: run the function once on Values and describe the graph
# ----------------------------------------------------------------------

_UNARY_OPS = ("exp", "log", "tanh", "sigmoid", "ReLU")


@dataclass
class _Graph:
    """A recorded graph, numbered in topological order.

    ``kinds[k]`` is one of 'param', 'input', 'target', 'constant', 'op'; ``slot[k]``
    is the parameter or input number for those kinds; ``consts[k]`` the number of a
    constant; ``children[k]`` the child positions of an op node.
    """

    root: int
    ops: list[str]
    kinds: list[str]
    slot: list[int]
    consts: list[float]
    children: list[tuple[int, ...]]
    needs_grad: list[bool] = field(default_factory=list)  # depends on a parameter
    varies: list[bool] = field(default_factory=list)  # depends on an input or the target
    pow_rule: Any = None  # the engine's own rule for x ** y, used for its local derivatives
    nodes: list[Value] = field(default_factory=list)  # kept only while recording

    def __len__(self) -> int:
        return len(self.ops)


def _record_example(fn: PerExampleLoss, row: Sequence[float], target: float, param_position: dict[int, int]) -> _Graph:
    inputs = [Value(x) for x in row]
    target_value = Value(target)
    out = _call_recorded(lambda: fn(inputs, target_value), "per_example_loss")
    roles = {id(x): ("input", i) for i, x in enumerate(inputs)}
    roles[id(target_value)] = ("target", 0)
    return _describe(out, roles, param_position, "per_example_loss")


def _record_regularizer(fn: Regularizer, params: tuple[Value, ...], param_position: dict[int, int]) -> _Graph:
    graph = _describe(_call_recorded(lambda: fn(list(params)), "regularizer"), {}, param_position, "regularizer")
    # A constant the function made itself dies with the graph (Values hold no cycles); one that
    # outlives it was made outside, so it is probably a parameter missing from params.
    constants = [
        (weakref.ref(graph.nodes[k]), graph.consts[k]) for k, kind in enumerate(graph.kinds) if kind == "constant"
    ]
    graph.nodes = []
    for ref, data in constants:
        if ref() is not None:
            raise CompileError(_outside_value_message(data))
    return graph


def _outside_value_message(data: float) -> str:
    return (
        f"compile_loss: the loss reads a Value that is not in params (data {data!r}), made outside the "
        "function: add it to params, or make it inside the function as a constant"
    )


def _call_recorded(call: Callable[[], Any], what: str) -> Value:
    if not is_grad_enabled():
        raise CompileError(f"compile_loss: cannot record {what} inside no_grad(): no graph would be built")
    out = call()
    if not isinstance(out, Value):
        raise CompileError(f"compile_loss: {what} must return a Value, got {type(out).__name__}")
    return out


def _describe(out: Value, roles: dict[int, tuple[str, int]], param_position: dict[int, int], what: str) -> _Graph:
    order = topological_order(out)
    position = {id(node): k for k, node in enumerate(order)}
    graph = _Graph(root=len(order) - 1, ops=[], kinds=[], slot=[], consts=[], children=[], nodes=order)
    for node in order:
        if node._prev:
            if not _is_supported(node._op):
                raise CompileError(
                    f"compile_loss: {what} uses the op {node._op!r}, which the compiler does not know; "
                    f"it supports {', '.join(SUPPORTED_OPS)}"
                )
            if node._op == "**":
                graph.pow_rule = node._rule
            kind, slot = "op", -1
        elif id(node) in roles:
            kind, slot = roles[id(node)]
        elif id(node) in param_position:
            kind, slot = "param", param_position[id(node)]
        else:
            kind, slot = "constant", -1  # checked against a second recording: it must be made by the function
        graph.ops.append(node._op)
        graph.kinds.append(kind)
        graph.slot.append(slot)
        graph.consts.append(node.data if kind == "constant" else 0.0)
        graph.children.append(tuple(position[id(child)] for child in node._prev))
    for k in range(len(order)):
        kids = graph.children[k]
        graph.needs_grad.append(graph.kinds[k] == "param" or any(graph.needs_grad[c] for c in kids))
        graph.varies.append(graph.kinds[k] in ("input", "target") or any(graph.varies[c] for c in kids))
    return graph


def _is_supported(op: str) -> bool:
    return op in _UNARY_OPS or op in ("+", "*", "**", "linear") or (op.startswith("**") and _exponent(op) is not None)


def _exponent(op: str) -> float | None:
    """The constant exponent k of an op named '**<k>' (e.g. '**2', '**-1', '**0.5')."""
    text = op[2:]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float(Fraction(text))  # e.g. '**1/2' from a Fraction exponent
    except (ValueError, ZeroDivisionError):
        return None


def _check_same_graph(first: _Graph, second: _Graph) -> None:
    """Two recordings from different examples must give the same graph, or the code would be wrong for one."""
    same_shape = first.ops == second.ops and first.kinds == second.kinds and first.children == second.children
    if not same_shape or first.slot != second.slot:
        raise CompileError(
            "compile_loss: the recorded graph differs between two examples; the loss must not branch on "
            "the data in Python (if x.data > 0 ...), only through ops such as relu"
        )
    for k, kind in enumerate(first.kinds):
        if kind != "constant":
            continue
        if first.nodes[k] is second.nodes[k]:
            raise CompileError(_outside_value_message(first.consts[k]))
        a, b = first.consts[k], second.consts[k]
        if a != b and not (math.isnan(a) and math.isnan(b)):
            raise CompileError(
                f"compile_loss: a constant of the graph differs between two examples ({a!r} vs {b!r}); "
                "the loss must use its inputs and target as Values, not their .data or float()"
            )


def _most_different_example(rows: list[tuple[float, ...]], targets: list[float]) -> int:
    """An example whose numbers differ from the first one's, so the second recording can disagree."""
    first = (rows[0], targets[0])
    for i in range(len(rows) - 1, 0, -1):
        if (rows[i], targets[i]) != first and targets[i] != targets[0]:
            return i  # a different target too, when there is one: targets often pick branches
    for i in range(len(rows) - 1, 0, -1):
        if rows[i] != rows[0]:
            return i
    return 0


def _build(source: str, name: str, graph: _Graph) -> Callable[..., float]:
    """Compile generated source into a function; its helpers live in the module namespace."""
    namespace: dict[str, Any] = {
        "exp": math.exp,
        "log": math.log,
        "tanh": math.tanh,
        "sigmoid": _stable_sigmoid,
        "checked_pow": _checked_pow,
        "pow_rule": graph.pow_rule,
        "inf": math.inf,
        "nan": math.nan,
    }
    if "np." in source:
        np = _import_numpy()
        namespace["np"] = np
        namespace.update(_numpy_helpers(np))
    exec(compile(source, f"<micrograd.compiled {name}>", "exec"), namespace)
    function: Callable[..., float] = namespace[name]
    return function


# ----------------------------------------------------------------------
# The Python engine: straight-line code over floats, one loop over the batch
# ----------------------------------------------------------------------


def _literal(x: float) -> str:
    """A float as Python source that reads back as exactly the same float."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def _scalar_names(graph: _Graph) -> list[str]:
    """The name of each node's value in the generated code."""
    names = []
    for k, kind in enumerate(graph.kinds):
        if kind == "param":
            names.append(f"p{graph.slot[k]}")
        elif kind == "input":
            names.append(f"x{graph.slot[k]}")
        elif kind == "target":
            names.append("t")
        elif kind == "constant":
            names.append(_literal(graph.consts[k]))
        else:
            names.append(f"v{k}")
    return names


# Operator precedence, to print nested expressions with only the parentheses Python needs.
_CONDITIONAL, _SUM, _PRODUCT, _NEGATIVE, _POWER, _ATOM = 1, 5, 6, 7, 8, 10
# Inlined expressions nest; past this depth a value gets its own line (Python's parser has limits).
_MAX_INLINE_DEPTH = 50


def _operand(expression: tuple[str, int], weakest_allowed: int) -> str:
    text, level = expression
    return text if level >= weakest_allowed else f"({text})"


def _scalar_expression(graph: _Graph, k: int, kids: list[tuple[str, int]]) -> tuple[str, int]:
    """Node k as a Python expression of its children, computed as the eager op computes it."""
    op = graph.ops[k]
    if op == "+":  # left-associative: a left operand of the same precedence needs no parentheses
        return f"{_operand(kids[0], _SUM)} + {_operand(kids[1], _SUM + 1)}", _SUM
    if op == "*":
        return f"{_operand(kids[0], _PRODUCT)} * {_operand(kids[1], _PRODUCT + 1)}", _PRODUCT
    if op == "linear":  # bias + w1*x1 + w2*x2 ..., left to right as the eager loop adds
        n = (len(kids) - 1) // 2
        terms = "".join(
            f" + {_operand(w, _PRODUCT)} * {_operand(x, _PRODUCT + 1)}"
            for w, x in zip(kids[:n], kids[n : 2 * n], strict=False)
        )
        return f"{_operand(kids[-1], _SUM)}{terms}", _SUM
    if op == "ReLU":  # reads its operand twice, so the operand is always a name (see _inlinable)
        x = kids[0][0]
        return f"0.0 if {x} < 0.0 else {x}", _CONDITIONAL  # as the engine: NaN flows through
    if op in _UNARY_OPS:  # exp, log, tanh, sigmoid: helpers from the namespace
        return f"{op}({kids[0][0]})", _ATOM
    if op == "**":
        return f"checked_pow({kids[0][0]}, {kids[1][0]})", _ATOM
    k_exp = _exponent(op)
    assert k_exp is not None
    if k_exp.is_integer():  # float ** integral float is real; 0 ** negative raises ZeroDivisionError itself
        return f"{_operand(kids[0], _ATOM)} ** {_literal(k_exp)}", _POWER
    return f"checked_pow({kids[0][0]}, {_literal(k_exp)})", _ATOM


def _scalar_local_grads(graph: _Graph, names: list[str], k: int) -> list[str | None]:
    """d node / d child for each child, as product-level expressions; None stands for exactly 1.0."""
    kids = [names[c] for c in graph.children[k]]
    kids = [x if not x.startswith("-") else f"({x})" for x in kids]  # a negative literal inside a product
    return _local_grad_expressions(graph.ops[k], names[k], kids, arrays=False)


def _local_grad_expressions(op: str, out: str, kids: list[str], arrays: bool) -> list[str | None]:
    """The engine's derivative rules as source text, one per child; None stands for exactly 1.

    Shared by both engines: ``arrays`` says whether the names hold floats (Python engine) or
    numpy arrays over the batch, which changes only relu, ``**`` and ``x ** k``.
    """
    if op == "+":
        return [None, None]
    if op == "*":
        return [kids[1], kids[0]]
    if op == "linear":
        n = (len(kids) - 1) // 2
        return [*kids[n : 2 * n], *kids[:n], None]
    if op == "exp":
        return [out]
    if op == "log":
        return [f"(1.0 / {kids[0]})"]
    if op == "tanh":
        return [f"(1.0 - {out} * {out})"]
    if op == "sigmoid":
        return [f"({out} * (1.0 - {out}))"]
    if op == "ReLU":
        return [f"np.where({out} <= 0.0, 0.0, 1.0)" if arrays else f"(0.0 if {out} <= 0.0 else 1.0)"]
    if op == "**":
        rule = "np_pow_rule" if arrays else "pow_rule"
        return [f"{rule}({kids[0]}, {kids[1]}, {out})[0]", f"{rule}({kids[0]}, {kids[1]}, {out})[1]"]
    k_exp = _exponent(op)
    assert k_exp is not None
    if k_exp == 0.0:
        return ["0.0"]
    if arrays:
        return [f"({_literal(k_exp)} * np_pow({kids[0]}, {_literal(k_exp - 1.0)}))"]
    return [f"{_literal(k_exp)} * {kids[0]} ** {_literal(k_exp - 1.0)}"]


def _scalar_backward(graph: _Graph, names: list[str], seed: str) -> tuple[list[str], list[str]]:
    """The chain rule in reverse topological order (the order backward() visits nodes).

    Returns the statements for the nodes' gradients ``d<k>``, and then those
    adding to the parameters' gradients ``g<j>``. A node's contributions are
    summed in one statement, in the order backward() adds them, written once all
    have arrived; a gradient passed on unchanged (through ``+``) just reuses the
    name. Nodes that do not depend on a parameter get no gradient code at all.
    """
    contributions: dict[int, list[str]] = {graph.root: [seed]}
    grad_name: dict[int, str] = {}
    lines: list[str] = []
    for k in range(len(graph) - 1, -1, -1):
        if graph.kinds[k] == "op" and graph.needs_grad[k]:
            terms = contributions.pop(k)
            if len(terms) == 1 and " " not in terms[0]:
                grad_name[k] = terms[0]  # a bare name: pass it on, no statement
            else:
                grad_name[k] = f"d{k}"
                lines.append(f"d{k} = {' + '.join(terms)}")
            for child, local in zip(graph.children[k], _scalar_local_grads(graph, names, k), strict=False):
                if graph.needs_grad[child]:
                    term = grad_name[k] if local is None else f"{local} * {grad_name[k]}"
                    contributions.setdefault(child, []).append(term)
    param_lines = [
        f"g{graph.slot[k]} += {' + '.join(contributions[k])}"
        for k in range(len(graph))
        if graph.kinds[k] == "param" and k in contributions
    ]
    return lines, param_lines


def _scalar_forward(graph: _Graph, names: list[str], backward: list[str]) -> list[str]:
    """One statement per op node, except that a value used once and not needed by the backward
    pass is written straight into the expression that uses it (fewer lines: faster to compile)."""
    read_by_backward = set(re.findall(r"\bv\d+\b", "\n".join(backward)))
    uses = [0] * len(graph)
    for k in range(len(graph)):
        for c in graph.children[k]:
            uses[c] += 1
    twice_read = {c for k in range(len(graph)) if graph.ops[k] == "ReLU" for c in graph.children[k]}
    expression: dict[int, tuple[str, int]] = {}
    depth = [0] * len(graph)
    lines = []
    for k in range(len(graph)):
        if graph.kinds[k] != "op":
            expression[k] = (names[k], _NEGATIVE if names[k].startswith("-") else _ATOM)
            continue
        kids = graph.children[k]
        text, level = _scalar_expression(graph, k, [expression[c] for c in kids])
        depth[k] = 1 + max(depth[c] for c in kids)
        inline = (
            k != graph.root
            and uses[k] == 1
            and names[k] not in read_by_backward
            and k not in twice_read
            and depth[k] < _MAX_INLINE_DEPTH
        )
        if inline:
            expression[k] = (text, level)
        else:
            lines.append(f"{names[k]} = {text}")
            expression[k] = (names[k], _ATOM)
            depth[k] = 0
    return lines


def _used_params(graph: _Graph) -> list[int]:
    return sorted({graph.slot[k] for k, kind in enumerate(graph.kinds) if kind == "param"})


def _name_list(names: list[str], indent: str, per_line: int = 12) -> str:
    """Names separated by commas, a dozen to a line, so long lists stay readable."""
    chunks = [", ".join(names[i : i + per_line]) for i in range(0, len(names), per_line)]
    return (",\n" + indent).join(chunks)


def _parameter_prologue(used: list[int], n_params: int, start_gradients: bool = True) -> list[str]:
    """Read every parameter's data into a local p<j> and (optionally) start its gradient g<j> at 0."""
    lines = [
        "    # parameter values, read once per call",
        "    (",
        f"        {_name_list([f'p{j}' for j in range(n_params)], '        ')},",
        "    ) = [param.data for param in params]",
    ]
    if start_gradients:
        chained = [" = ".join(f"g{j}" for j in used[i : i + 12]) for i in range(0, len(used), 12)]
        lines.append("    # g<j> sums d loss / d p<j> over the batch")
        lines.append("    " + " = \\\n        ".join(chained) + " = 0.0")
    return lines


def _gradient_epilogue(used: list[int]) -> list[str]:
    chosen = ", ".join(f"params[{j}]" for j in used) if len(used) != 1 else f"params[{used[0]}],"
    return [
        "    # add the gradients to .grad, as backward() does",
        f"    for param, grad in zip(\n        {'params' if used == list(range(len(used))) else '(' + chosen + ')'},",
        f"        (\n            {_name_list([f'g{j}' for j in used], '            ')},\n        ),\n    ):",
        "        param.grad += grad",
    ]


def _python_example_source(graph: _Graph, n_inputs: int, n_params: int) -> str:
    names = _scalar_names(graph)
    used = _used_params(graph)
    body = "        "
    unpack = ", ".join(f"x{i}" for i in range(n_inputs)) + ("," if n_inputs == 1 else "")
    backward, param_lines = _scalar_backward(graph, names, "scale") if graph.needs_grad[graph.root] else ([], [])
    forward = _scalar_forward(graph, names, backward + param_lines)
    lines = [
        "def loss_and_backward(rows, targets, params, scale):",
        '    """Mean loss over the rows (scale = 1 / len(rows)); adds its gradient to params[j].grad."""',
        *(_parameter_prologue(used, n_params) if used else []),
        "    total = 0.0",
        f"    for ({unpack}), t in zip(rows, targets):",
        f"{body}# forward: the recorded ops (a value used once is written into its user)",
        *[body + line for line in forward],
        f"{body}total += {names[graph.root]}",
        f"{body}# backward: d<k> is d (this example's loss * scale) / d v<k>",
        *[body + line for line in backward + param_lines],
        *(_gradient_epilogue(used) if used else []),
        "    return total * scale",
    ]
    return "\n".join(lines) + "\n"


def _python_regularizer_source(graph: _Graph, n_params: int) -> str:
    names = _scalar_names(graph)
    used = _used_params(graph)
    backward, param_lines = _scalar_backward(graph, names, "1.0") if graph.needs_grad[graph.root] else ([], [])
    forward = _scalar_forward(graph, names, backward + param_lines)
    lines = [
        "def regularizer_and_backward(params):",
        '    """The regularizer (a function of the parameters alone); adds its gradient to params[j].grad."""',
        *(_parameter_prologue(used, n_params, start_gradients=False) if used else []),
        "    # forward",
        *["    " + line for line in forward],
        "    # backward",
        *["    " + line for line in backward],
        *(["    " + line.replace(" += ", " = ", 1) for line in param_lines]),
        *(_gradient_epilogue(used) if used else []),
        f"    return {names[graph.root]}",
    ]
    return "\n".join(lines) + "\n"


def _checked_pow(x: float, k: float) -> float:
    """x ** k with the eager engine's errors (Python would return a complex number for (-8) ** 0.5)."""
    if x < 0.0 and not float(k).is_integer():
        raise ValueError(f"pow: a negative base {x} cannot be raised to the fractional power {k}")
    if x == 0.0 and k < 0.0:
        raise ZeroDivisionError(f"pow: 0.0 cannot be raised to the negative power {k}")
    return float(x**k)


def _stable_sigmoid(x: float) -> float:
    # Only ever exponentiate -|x|, so that exp cannot overflow (the eager formula, term for term).
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# ----------------------------------------------------------------------
# The numpy engine: the whole batch at once, one matrix product per layer
# ----------------------------------------------------------------------


class _NumpyWriter:
    """Writes numpy code evaluating a recorded per-example graph for a batch of B examples.

    Every node is either a scalar (parameters, constants, and ops on them only),
    a column of B numbers (inputs, the target, and ops on them), or one column of
    a *block*, a (B, m) array computed by a single numpy op for m nodes at once:

    * a dense block: 'linear' nodes that read the same inputs in the same order
      (the neurons of one layer), as ``inputs @ W.T + b``;
    * a map block: the same unary op (e.g. relu) applied to columns of one block.

    Every other op is computed on its own, on columns (still vectorized over B).
    The generated backward pass visits the same statements in reverse.
    """

    def __init__(self, graph: _Graph, n_inputs: int, n_params: int) -> None:
        self.graph = graph
        self.n_inputs = n_inputs
        self.n_params = n_params
        self.block_of: dict[int, tuple[int, int]] = {}  # node -> (block number, column)
        self.blocks: list[dict[str, Any]] = []
        self.statement_at: dict[int, tuple[str, int]] = {}  # first node position -> ('block', b) or ('node', k)
        self.param_matrices: list[tuple[str, list[list[int]]]] = []  # (name, index into theta)
        self._find_blocks()

    # -- grouping -------------------------------------------------------------

    def _find_blocks(self) -> None:
        g = self.graph
        dense_groups: dict[tuple[int, ...], list[int]] = {}
        for k in range(len(g)):
            if g.ops[k] == "linear" and g.kinds[k] == "op":
                kids = g.children[k]
                n = (len(kids) - 1) // 2
                static = [*kids[:n], kids[-1]]
                if all(g.kinds[c] in ("param", "constant") for c in static) and all(
                    g.varies[c] for c in kids[n : 2 * n]
                ):
                    dense_groups.setdefault(kids[n : 2 * n], []).append(k)
        for inputs, members in dense_groups.items():
            self._add_block({"kind": "dense", "members": members, "inputs": inputs})
        for k in range(len(g)):  # map blocks: in order, so a map of a map is found too
            if g.kinds[k] != "op" or k in self.block_of or not self._is_map_op(g.ops[k]):
                continue
            source = self.block_of.get(g.children[k][0])
            if source is None:
                continue
            members = [
                m
                for m in range(k, len(g))
                if m not in self.block_of
                and g.ops[m] == g.ops[k]
                and g.kinds[m] == "op"
                and self.block_of.get(g.children[m][0], (-1, -1))[0] == source[0]
            ]
            columns = [self.block_of[g.children[m][0]][1] for m in members]
            if len(set(columns)) != len(columns):  # one column mapped twice: keep it simple, do them one by one
                continue
            self._add_block({"kind": "map", "members": members, "source": source[0], "columns": columns})
        for k in range(len(g)):
            if g.kinds[k] == "op" and k not in self.block_of:
                self.statement_at[k] = ("node", k)

    @staticmethod
    def _is_map_op(op: str) -> bool:
        return op in _UNARY_OPS or (op.startswith("**") and op != "**")

    def _add_block(self, block: dict[str, Any]) -> None:
        number = len(self.blocks)
        block["width"] = len(block["members"])
        self.blocks.append(block)
        for column, member in enumerate(block["members"]):
            self.block_of[member] = (number, column)
        # Computed where its first member was: every member only reads what existed before that.
        self.statement_at[block["members"][0]] = ("block", number)

    # -- names ----------------------------------------------------------------

    def value(self, k: int) -> str:
        g = self.graph
        kind = g.kinds[k]
        if kind == "param":
            return f"p{g.slot[k]}"
        if kind == "input":
            return f"X[:, {g.slot[k]}]"
        if kind == "target":
            return "t"
        if kind == "constant":
            return _literal(g.consts[k])
        if k in self.block_of:
            b, column = self.block_of[k]
            return f"h{b}[:, {column}]"
        return f"v{k}"

    # -- forward --------------------------------------------------------------

    def _block_forward(self, b: int) -> list[str]:
        g, block = self.graph, self.blocks[b]
        if block["kind"] == "dense":
            members, inputs = block["members"], block["inputs"]
            n = len(inputs)
            weights = [[g.children[m][i] for i in range(n)] for m in members]
            biases = [g.children[m][-1] for m in members]
            self.param_matrices.append((f"W{b}", [[self._theta(c) for c in row] for row in weights]))
            self.param_matrices.append((f"b{b}", [[self._theta(c) for c in biases]]))
            block["input_matrix"] = self._input_matrix(inputs)
            return [
                f"# dense block h{b}: {len(members)} neurons reading the same {n} inputs",
                f"A{b} = {block['input_matrix']}",
                f"h{b} = A{b} @ W{b}.T + b{b}[0]",
            ]
        op, source, columns = g.ops[block["members"][0]], block["source"], block["columns"]
        src = f"h{source}" if columns == list(range(self.blocks[source]["width"])) else f"h{source}[:, {columns}]"
        block["input"] = src
        return [f"# map block h{b}: {op} of {len(columns)} columns of h{source}", f"h{b} = {self._map_expr(op, src)}"]

    def _input_matrix(self, inputs: tuple[int, ...]) -> str:
        """The (B, n) matrix of a dense block's inputs: an existing block or X when possible."""
        g = self.graph
        if all(g.kinds[c] == "input" for c in inputs) and [g.slot[c] for c in inputs] == list(range(self.n_inputs)):
            return "X"
        first = self.block_of.get(inputs[0])
        if first is not None:
            b = first[0]
            if [self.block_of.get(c) for c in inputs] == [(b, i) for i in range(self.blocks[b]["width"])]:
                return f"h{b}"
        return "np.stack([" + ", ".join(self.value(c) for c in inputs) + "], axis=1)"

    def _theta(self, k: int) -> int:
        """Where a parameter or constant sits in the flat vector theta = (params..., constants...)."""
        g = self.graph
        if g.kinds[k] == "param":
            return g.slot[k]
        self.theta_constants.append(g.consts[k])
        return self.n_params + len(self.theta_constants) - 1

    @staticmethod
    def _map_expr(op: str, x: str) -> str:
        if op == "ReLU":
            return f"np.where({x} < 0.0, 0.0, {x})"
        if op == "tanh":
            return f"np.tanh({x})"
        if op in ("exp", "log"):
            return f"np_{op}({x})"
        if op == "sigmoid":
            return f"np_sigmoid({x})"
        k_exp = _exponent(op)
        assert k_exp is not None
        return f"np_pow({x}, {_literal(k_exp)})"

    def _node_forward(self, k: int) -> str:
        g = self.graph
        op, kids = g.ops[k], [self.value(c) for c in g.children[k]]
        if op == "+":
            return f"v{k} = {kids[0]} + {kids[1]}"
        if op == "*":
            return f"v{k} = {kids[0]} * {kids[1]}"
        if op == "linear":
            n = (len(kids) - 1) // 2
            return f"v{k} = {kids[-1]}" + "".join(
                f" + {w} * {x}" for w, x in zip(kids[:n], kids[n : 2 * n], strict=False)
            )
        if op == "**":
            return f"v{k} = np_pow_values({kids[0]}, {kids[1]})"
        return f"v{k} = {self._map_expr(op, kids[0])}"

    # -- backward -------------------------------------------------------------

    def _local_grads(self, k: int, out: str, kids: list[str]) -> list[str | None]:
        """d out / d child as numpy expressions; None means exactly 1."""
        return _local_grad_expressions(self.graph.ops[k], out, kids, arrays=True)

    def source(self) -> str:
        g = self.graph
        self.theta_constants: list[float] = []
        self.scalar_grad_index: list[int] = []
        forward: list[str] = []
        for k in sorted(self.statement_at):
            what, number = self.statement_at[k]
            forward += self._block_forward(number) if what == "block" else [self._node_forward(k)]
        backward = self._backward()
        used = _used_params(g)
        lines = [
            "def loss_and_backward(X, t, params, scale):",
            '    """Mean loss over the rows of X (B, n) with targets t (B,); adds its gradient to params[j].grad."""',
            "    B = X.shape[0]",
            "    values = [param.data for param in params]",
        ]
        scalar_params = sorted({g.slot[k] for k in range(len(g)) if g.kinds[k] == "param"} - self._dense_only_params())
        if scalar_params:
            lines.append(
                "    "
                + ", ".join(f"p{j}" for j in scalar_params)
                + ", = "
                + ", ".join(f"values[{j}]" for j in scalar_params)
                + ","
            )
        if self.param_matrices:
            theta = "values" + (f" + {[c for c in self.theta_constants]!r}" if self.theta_constants else "")
            lines.append(f"    theta = np.array({theta})")
            for name, _ in self.param_matrices:
                lines.append(f"    {name} = theta[{name}_index]")
        # Plain arithmetic overflows to inf silently, as Python floats do; the ops whose eager
        # versions raise (exp, log, pow) check for themselves in np_exp, np_log and np_pow.
        lines.append("    with np.errstate(all='ignore'):")
        lines += ["        " + line for line in forward]
        root = self.value(g.root)
        lines.append(f"        total = float(np.broadcast_to({root}, (B,)).sum()) * scale")
        lines += ["        " + line for line in backward]
        lines.append("    # add the gradients to .grad, as backward() does")
        if used == list(range(self.n_params)):
            lines.append("    for param, grad in zip(params, gradient[: len(params)].tolist()):")
            lines.append("        param.grad += grad")
        else:
            lines.append("    for j, grad in zip(used, gradient[used].tolist()):")
            lines.append("        params[j].grad += grad")
        lines.append("    return total")
        # The index arrays are constants of the code: written once, as globals of the generated module.
        header = ["# where each weight sits in theta = [param.data for param in params] + constants"]
        if used != list(range(self.n_params)):
            header.append(f"used = np.array({used}, dtype=np.intp)  # the parameters the loss reads")
        for name, index in self.param_matrices:
            header.append(f"{name}_index = np.array({index}, dtype=np.intp)")
        if self.scalar_grad_index:
            header.append(f"scalar_index = np.array({self.scalar_grad_index}, dtype=np.intp)")
        header.append(f"n_theta = {self.n_params + len(self.theta_constants)}")
        return "\n".join(header + [""] + lines) + "\n"

    def _dense_only_params(self) -> set[int]:
        """Parameters read only by dense blocks (they come from theta, not as scalars)."""
        g = self.graph
        needed_as_scalar = set()
        for k in range(len(g)):
            if g.kinds[k] == "op" and k not in self.block_of:
                needed_as_scalar |= {g.slot[c] for c in g.children[k] if g.kinds[c] == "param"}
        all_params = {g.slot[k] for k in range(len(g)) if g.kinds[k] == "param"}
        return all_params - needed_as_scalar

    def _backward(self) -> list[str]:
        """Reverse-mode over the statements in reverse order.

        Each node's gradient is a B-column ``d<k>`` (or, for a block, ``dh<b>``
        of shape (B, m)); sums are always written as new arrays (never in place),
        so no gradient array is ever shared by two names by accident. Parameter
        gradients are collected as (index into theta, values) pairs and summed by
        one ``np.bincount`` at the end.
        """
        g = self.graph
        lines = ["# backward: d<k> is d (sum of the batch's losses * scale) / d v<k>, one entry per example"]
        if not g.needs_grad[g.root]:
            return lines + ["gradient = np.zeros(n_theta)"]
        node_grad: dict[int, str] = {}  # node -> name of its gradient so far
        block_grad: dict[int, str] = {}  # block -> name of its (B, m) gradient so far
        scatter: list[tuple[str, str]] = []  # (index array name, values) into the flat gradient
        scalar_grads: list[tuple[int, str]] = []  # (parameter, values to sum) from single ops
        renames = iter(range(1, 10**9))

        def add(child: int, term: str) -> None:
            if g.kinds[child] == "param":
                scalar_grads.append((g.slot[child], term))
            elif child in node_grad:
                name = f"d{child}_{next(renames)}"
                lines.append(f"{name} = {node_grad[child]} + {term}")
                node_grad[child] = name
            else:
                lines.append(f"d{child} = {term}")
                node_grad[child] = f"d{child}"

        def add_block(b: int, term: str) -> None:
            if b in block_grad:
                name = f"dh{b}_{next(renames)}"
                lines.append(f"{name} = {block_grad[b]} + {term}")
            else:
                name = f"dh{b}"
                lines.append(f"{name} = {term}")
            block_grad[b] = name

        lines.append(f"d{g.root} = np.full(B, scale)")
        node_grad[g.root] = f"d{g.root}"
        for k in sorted(self.statement_at, reverse=True):
            what, number = self.statement_at[k]
            if what == "node":
                if not g.needs_grad[k]:
                    continue
                kids = [self.value(c) for c in g.children[k]]
                for child, local in zip(g.children[k], self._local_grads(k, self.value(k), kids), strict=False):
                    if g.needs_grad[child]:
                        add(child, node_grad[k] if local is None else f"{local} * {node_grad[k]}")
                continue
            block = self.blocks[number]
            members = block["members"]
            if not any(g.needs_grad[m] for m in members):
                continue
            columns = [node_grad.get(m) for m in members]
            if any(columns):  # gradients that reached single columns: stack them into the block's
                if not all(columns):
                    lines.append("zero = np.zeros(B)")
                add_block(number, "np.stack([" + ", ".join(c or "zero" for c in columns) + "], axis=1)")
            if number not in block_grad:
                continue
            dh = block_grad[number]
            if block["kind"] == "dense":
                lines.append(f"dW{number} = {dh}.T @ A{number}")
                scatter.append((f"W{number}_index.ravel()", f"dW{number}.ravel()"))
                scatter.append((f"b{number}_index[0]", f"{dh}.sum(axis=0)"))
                inputs = block["inputs"]
                if any(g.needs_grad[c] for c in inputs):
                    lines.append(f"dA{number} = {dh} @ W{number}")
                    matrix = block["input_matrix"]
                    if matrix.startswith("h"):
                        add_block(int(matrix[1:]), f"dA{number}")
                    else:
                        for i, child in enumerate(inputs):
                            if g.needs_grad[child]:
                                add(child, f"dA{number}[:, {i}]")
                continue
            x, source = block["input"], block["source"]
            (local,) = self._local_grads(members[0], f"h{number}", [x])
            term = dh if local is None else f"{local} * {dh}"
            if x == f"h{source}":
                add_block(source, term)
            else:  # a subset of the source's columns: pass each on by column
                lines.append(f"dm{number} = {term}")
                for i, column in enumerate(block["columns"]):
                    add(self.blocks[source]["members"][column], f"dm{number}[:, {i}]")
        if scalar_grads:
            self.scalar_grad_index = [j for j, _ in scalar_grads]
            scatter.append(("scalar_index", "np.array([" + ", ".join(f"np.sum({v})" for _, v in scalar_grads) + "])"))
        lines.append("# every parameter's gradient, summed over the batch and over its uses")
        lines.append(f"gradient = np.bincount(np.concatenate([{', '.join(i for i, _ in scatter)}]),")
        lines.append(
            f"                       weights=np.concatenate([{', '.join(v for _, v in scatter)}]), minlength=n_theta)"
        )
        return lines


def _numpy_helpers(np: Any) -> dict[str, Callable[..., Any]]:
    """Array versions of the ops that need more than one numpy call."""

    def np_sigmoid(x: Any) -> Any:
        e = np.exp(-np.abs(x))  # exp of -|x| only: it cannot overflow (as the eager formula)
        return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))

    def np_exp(x: Any) -> Any:
        out = np.exp(x)
        if np.any(np.isinf(out) & np.isfinite(x)):
            raise OverflowError("exp: result overflows a float")
        return out

    def np_log(x: Any) -> Any:
        if np.any(x <= 0.0):
            raise ValueError(f"log: argument must be > 0, got {np.min(x)}")
        return np.log(x)

    def np_pow(x: Any, k: float) -> Any:
        return np_pow_values(x, k)

    def np_pow_values(x: Any, y: Any) -> Any:
        x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        if np.any((x < 0.0) & (y != np.floor(y))):
            raise ValueError("pow: a negative base cannot be raised to a fractional power")
        if np.any((x == 0.0) & (y < 0.0)):
            raise ZeroDivisionError("pow: 0.0 cannot be raised to a negative power")
        out = np.power(x, y)
        if np.any(np.isinf(out) & np.isfinite(x)):
            raise OverflowError("pow: result overflows a float")
        return out

    def np_pow_rule(x: Any, y: Any, out: Any) -> tuple[Any, Any]:
        x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        at_zero_zero = (x == 0.0) & (y == 0.0)  # 0 ** 0: d/dx = 0, as the engine's rule says
        d_base = np.where(at_zero_zero, 0.0, y * np_pow_values(np.where(at_zero_zero, 1.0, x), y - 1.0))
        safe_log = np.log(np.where(x > 0.0, x, 1.0))
        d_exponent = np.where(x > 0.0, out * safe_log, np.where(x == 0.0, 0.0, np.nan))
        return d_base, d_exponent

    return {
        "np_sigmoid": np_sigmoid,
        "np_exp": np_exp,
        "np_log": np_log,
        "np_pow": np_pow,
        "np_pow_values": np_pow_values,
        "np_pow_rule": np_pow_rule,
    }


# ----------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------


def _import_numpy() -> Any:
    try:
        import numpy as np
    except ImportError:
        raise ImportError(
            "compile_loss(engine='numpy') needs numpy: pip install 'micrograd[fast]' (or pip install numpy)"
        ) from None
    return np


def _batch_problem(X: Any, y: Any) -> Exception | None:
    """The first entry of ``X`` or ``y`` that is not a number, as an error naming it; None if none is found."""
    for name, batch, entries in (("X", X, "rows"), ("y", y, "targets")):
        if isinstance(batch, (str, bytes)) or not isinstance(batch, Iterable):
            return TypeError(f"compiled loss: {name} must be a list of {entries}, one per example, "
                             f"got {type(batch).__name__}")
    for i, row in enumerate(X):
        if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
            return TypeError(f"compiled loss: X[{i}] must be a row of numbers, got {type(row).__name__} {row!r}")
        for j, x in enumerate(row):
            problem = _number_problem(f"X[{i}][{j}]", x)
            if problem is not None:
                return problem
    for i, target in enumerate(y):
        problem = _number_problem(f"y[{i}]", target)
        if problem is not None:
            return problem
    return None


def _number_problem(where: str, x: Any) -> Exception | None:
    try:
        float(x)
    except OverflowError:  # an int such as 10**400
        return ValueError(f"compiled loss: {where} is too large for a float")
    except (TypeError, ValueError):
        return TypeError(f"compiled loss: {where} must be a number, got {type(x).__name__} {x!r}")
    return None


def _read_params(params: Params) -> list[Value]:
    if hasattr(params, "parameters"):
        found = params.parameters()
    elif isinstance(params, (str, bytes, Value)) or not isinstance(params, Iterable):
        raise TypeError(
            "compile_loss: params must be a list of Values or a module with parameters(), "
            f"got {type(params).__name__}"
        )
    else:
        found = list(params)
    for i, p in enumerate(found):
        if not isinstance(p, Value):
            raise TypeError(f"compile_loss: params[{i}] must be a Value, got {type(p).__name__}")
    return list(found)


def _identity_index(params: tuple[Value, ...]) -> dict[int, int]:
    position: dict[int, int] = {}
    for j, p in enumerate(params):
        if id(p) in position:
            raise CompileError(f"compile_loss: params[{j}] is the same Value as params[{position[id(p)]}]")
        position[id(p)] = j
    return position
