"""Record a loss once, then replay its forward and backward pass without building Values.

The eager engine builds a fresh graph of Value objects for every example of
every step, and most of a training step is spent creating and walking those
objects. But for a fixed model the graph is the same each time; only the
numbers change. ``compile_loss`` records the graph of one example's loss once
and turns it into code:

* ``engine="compiled"`` (the default) -- one generated Python function: a loop over the batch
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

How: the loss is recorded into a ``Plan`` (``micrograd.compiler.plan``), typed
nodes in topological order, and an emitter writes the plan as code
(``micrograd.compiler.python`` or ``micrograd.compiler.numpy``). Both take every
op's value and local derivative from its row of the op table, so any op of
``micrograd.ops``, including one added with ``defop``, compiles with no other
edit. A node made by hand, ``Value(data, children, op)``, has no row: it is
replayed as ``backward()`` treats it (its recorded value, and the local
derivatives it was given, if any, passed to its children), and refused when it
depends on the inputs or the target, whose values it could not follow. Like a
number read from ``.data``, its value is not recomputed when the parameters change. So is a
node whose ``_backward`` was set by hand: the compiler cannot read a function.

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

import operator
from collections.abc import Callable, Iterable, KeysView, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, Union, cast

from micrograd._engine_names import canonical_engine
from micrograd.compiler import numpy as numpy_engine
from micrograd.compiler import python as python_engine
from micrograd.compiler._text import Symbols
from micrograd.compiler.plan import (
    CompileError,
    Plan,
    check_same_recording,
    layout,
    record_example,
    record_regularizer,
)
from micrograd.engine import Value
from micrograd.ops import OPS

if TYPE_CHECKING:  # only for type hints: numpy is optional
    import numpy

__all__ = ["compile_loss", "CompiledLoss", "CompileError", "SUPPORTED_OPS"]

# Every op of the table compiles, including those added later with defop: a live view of its names.
SUPPORTED_OPS: KeysView[str] = OPS.keys()

Engine = Literal["compiled", "numpy"]  # micrograd's engine words (micrograd._engine_names)
ENGINES: tuple[Engine, ...] = ("compiled", "numpy")
PerExampleLoss = Callable[[list[Value], Value], Value]
Regularizer = Callable[[list[Value]], Value]


class HasParameters(Protocol):
    """Anything with a ``parameters()`` method, e.g. ``micrograd.nn.MLP``."""

    def parameters(self) -> list[Value]: ...


Params = Union[Sequence[Value], HasParameters]  # noqa: UP007 (a runtime alias: `|` needs 3.10 objects)


# ----------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------


def compile_loss(
    per_example_loss: PerExampleLoss,
    params: Params,
    n_inputs: int,
    *,
    engine: str = "compiled",
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

    ``engine`` is ``"compiled"`` (generated Python) or ``"numpy"`` (array replay), the words the
    CLI uses; the old ``"python"`` still works until the release named in the notice it gives.
    """
    engine = cast(Engine, canonical_engine(engine, ENGINES, "compile_loss: engine"))
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
            plan = record_regularizer(regularizer, self._params, self._param_position)
            symbols = Symbols(plan)
            self._regularizer_source = python_engine.regularizer_source(plan, symbols)
            self._regularizer_code = _build(
                self._regularizer_source, "regularizer_and_backward", python_engine.namespace(symbols)
            )

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
        n_params = len(self._params)
        recording = record_example(self._per_example_loss, rows[first], targets[first], self._param_position, n_params)
        other = record_example(self._per_example_loss, rows[second], targets[second], self._param_position, n_params)
        check_same_recording(recording, other)
        plan = recording.plan
        del recording, other  # the recorded Values are not needed any more
        self._example_source, namespace = _generate(plan, self.engine)
        self._example_code = _build(self._example_source, "loss_and_backward", namespace)

    def loss_and_backward(self, X: Sequence[Sequence[float]] | Any, y: Sequence[float] | Any) -> float:
        """The mean of the per-example loss over the rows of ``X`` (plus the regularizer); gradients added to ``.grad``.

        ``X`` holds one row of ``n_inputs`` numbers per example (a list of lists or
        a 2-d numpy array), ``y`` one target per example.
        """
        self._check_params()
        if self._example_code is None:
            self.record(X, y)
            assert self._example_code is not None
        if self.engine == "compiled":
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
        source = self._param_source
        # The same Values in the same order: compared by identity only (checked as Values when recorded).
        current = list(source.parameters() if hasattr(source, "parameters") else source)
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


def _generate(plan: Plan, engine: Engine) -> tuple[str, dict[str, Any]]:
    """The plan's code for the engine, and the namespace it runs in (the ops' functions)."""
    symbols = Symbols(plan)
    if engine == "compiled":
        return python_engine.example_source(plan, symbols), python_engine.namespace(symbols)
    source = numpy_engine.example_source(plan, layout(plan), symbols)
    return source, numpy_engine.namespace(symbols, _import_numpy())


def _build(source: str, name: str, namespace: dict[str, Any]) -> Callable[..., float]:
    """Compile generated source into a function whose globals are ``namespace``."""
    exec(compile(source, f"<micrograd.compiler {name}>", "exec"), namespace)
    function: Callable[..., float] = namespace[name]
    return function


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
            return TypeError(
                f"compiled loss: {name} must be a list of {entries}, one per example, got {type(batch).__name__}"
            )
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
            f"compile_loss: params must be a list of Values or a module with parameters(), got {type(params).__name__}"
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
