"""The compiled path gives the eager engine's numbers, and refuses what it cannot replay."""

from __future__ import annotations

import builtins
import math
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from micrograd import Value, linear, no_grad
from micrograd.compiled import CompiledLoss, CompileError, compile_loss
from micrograd.nn import MLP

ENGINES = ["python", "numpy"]
TOLERANCE = dict(rel_tol=1e-12, abs_tol=1e-12)

PerExample = Callable[[list[Value], Value], Value]


def hinge(model: MLP) -> PerExample:
    return lambda x, t: (1 + -t * model(x)).relu()  # type: ignore[operator]


def squared_error(model: MLP) -> PerExample:
    return lambda x, t: (model(x) - t) ** 2  # type: ignore[operator]


def logistic(model: MLP) -> PerExample:
    # log(1 + exp(-t*s)) for t = +-1, written without a branch on the data so it can be compiled
    return lambda x, t: (1 + (-t * model(x)).exp()).log()  # type: ignore[operator]


LOSSES = {"hinge": hinge, "squared_error": squared_error, "logistic": logistic}


def l2(params: list[Value]) -> Value:
    return 1e-4 * sum((p * p for p in params), Value(0.0))


def eager_loss_and_grads(
    per_example: PerExample, params: list[Value], X: list[list[float]], y: list[float], regularizer: Any = None
) -> tuple[float, list[float]]:
    """The reference: the demo's way, one graph for the whole batch, then backward()."""
    for p in params:
        p.grad = 0.0
    losses = [per_example([Value(v) for v in row], Value(t)) for row, t in zip(X, y, strict=False)]
    total = sum(losses) * (1.0 / len(losses))
    if regularizer is not None:
        total = total + regularizer(params)
    total.backward()
    return total.data, [p.grad for p in params]


def compiled_loss_and_grads(compiled: CompiledLoss, X: Any, y: Any) -> tuple[float, list[float]]:
    for p in compiled.params:
        p.grad = 0.0
    loss = compiled.loss_and_backward(X, y)
    return loss, [p.grad for p in compiled.params]


def assert_close(got: tuple[float, list[float]], expected: tuple[float, list[float]]) -> None:
    assert math.isclose(got[0], expected[0], **TOLERANCE), (got[0], expected[0])
    assert len(got[1]) == len(expected[1])
    for i, (a, b) in enumerate(zip(got[1], expected[1], strict=False)):
        assert math.isclose(a, b, **TOLERANCE), (i, a, b)


def batch(n: int, n_inputs: int, seed: int, labels: str = "sign") -> tuple[list[list[float]], list[float]]:
    rng = random.Random(seed)
    X = [[rng.uniform(-2, 2) for _ in range(n_inputs)] for _ in range(n)]
    y = [rng.choice([-1.0, 1.0]) if labels == "sign" else rng.uniform(-1, 1) for _ in range(n)]
    return X, y


# ----------------------------------------------------------------------
# Same numbers as eager
# ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize(
    "nin, nouts, activation",
    [
        (2, [16, 16, 1], "relu"),
        (3, [4, 1], "tanh"),
        (1, [5, 1, 3, 1], "sigmoid"),
        (4, [1], "relu"),
        (2, [7, 1], "linear"),
    ],
)
def test_random_mlps_match_eager(engine: str, loss_name: str, nin: int, nouts: list[int], activation: str) -> None:
    random.seed(hash((nin, len(nouts), activation)) % 1000)
    model = MLP(nin, nouts, activation=activation)
    X, y = batch(23, nin, seed=nin * 10 + len(nouts))
    per_example = LOSSES[loss_name](model)
    compiled = compile_loss(per_example, model, nin, engine=engine)  # type: ignore[arg-type]
    expected = eager_loss_and_grads(per_example, model.parameters(), X, y)
    assert_close(compiled_loss_and_grads(compiled, X, y), expected)
    # new data, same recording: replayed, not re-recorded
    X2, y2 = batch(9, nin, seed=99)
    expected = eager_loss_and_grads(per_example, model.parameters(), X2, y2)
    assert_close(compiled_loss_and_grads(compiled, X2, y2), expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_demo_loss_with_its_l2_term_matches_eager(engine: str) -> None:
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    X, y = batch(100, 2, seed=3)
    compiled = compile_loss(hinge(model), model, 2, engine=engine, regularizer=l2)  # type: ignore[arg-type]
    expected = eager_loss_and_grads(hinge(model), model.parameters(), X, y, regularizer=l2)
    assert_close(compiled_loss_and_grads(compiled, X, y), expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_training_steps_follow_the_eager_path(engine: str) -> None:
    X, y = batch(30, 2, seed=5)
    random.seed(7)
    eager_model = MLP(2, [8, 8, 1])
    random.seed(7)
    compiled_model = MLP(2, [8, 8, 1])
    compiled = compile_loss(hinge(compiled_model), compiled_model, 2, engine=engine, regularizer=l2)  # type: ignore[arg-type]
    for k in range(5):
        eager_loss, _ = eager_loss_and_grads(hinge(eager_model), eager_model.parameters(), X, y, regularizer=l2)
        compiled_model.zero_grad()
        loss = compiled.loss_and_backward(X, y)
        assert math.isclose(loss, eager_loss, rel_tol=1e-9)
        for model in (eager_model, compiled_model):
            for p in model.parameters():
                p.data -= (1.0 - 0.9 * k / 100) * p.grad
    for a, b in zip(eager_model.parameters(), compiled_model.parameters(), strict=False):
        assert math.isclose(a.data, b.data, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_gradients_accumulate_like_backward(engine: str) -> None:
    random.seed(0)
    model = MLP(2, [3, 1])
    X, y = batch(5, 2, seed=1)
    compiled = compile_loss(squared_error(model), model, 2, engine=engine)  # type: ignore[arg-type]
    _, once = compiled_loss_and_grads(compiled, X, y)
    compiled.loss_and_backward(X, y)  # no zero_grad: adds the same amounts again
    for p, g in zip(model.parameters(), once, strict=False):
        assert math.isclose(p.grad, 2 * g, **TOLERANCE)


@pytest.mark.parametrize("engine", ENGINES)
def test_relu_kink_is_decided_from_the_new_data(engine: str) -> None:
    w, b = Value(1.0), Value(0.0)
    compiled = compile_loss(lambda x, t: linear([w], x, b).relu() * t, [w, b], 1, engine=engine)  # type: ignore[arg-type]
    # recorded where relu is active; replayed at x = 0 (the kink: gradient 0, as eager) and x < 0
    compiled.record([[1.0], [2.0]], [1.0, 2.0])
    for x in (0.0, -1.0, 3.0):
        expected = eager_loss_and_grads(lambda xs, t: linear([w], xs, b).relu() * t, [w, b], [[x]], [1.0])
        assert_close(compiled_loss_and_grads(compiled, [[x]], [1.0]), expected)


def test_numpy_arrays_are_accepted_as_the_batch() -> None:
    np = pytest.importorskip("numpy")
    random.seed(2)
    model = MLP(3, [4, 1])
    X, y = batch(10, 3, seed=2)
    for engine in ENGINES:
        compiled = compile_loss(hinge(model), model, 3, engine=engine)  # type: ignore[arg-type]
        expected = eager_loss_and_grads(hinge(model), model.parameters(), X, y)
        assert_close(compiled_loss_and_grads(compiled, np.array(X), np.array(y)), expected)


# ----------------------------------------------------------------------
# Every primitive op, in graphs drawn by hypothesis
# ----------------------------------------------------------------------

# Each step makes a new value from earlier ones; every formula is defined for any real inputs,
# so the drawn graph never depends on the data (no domain errors, no branches).
STEPS: dict[str, Callable[[Value, Value, Value], Value]] = {
    "add": lambda a, b, p: a + b,
    "mul": lambda a, b, p: a * p,
    "square": lambda a, b, p: a**2,
    "reciprocal": lambda a, b, p: (a * a + 1) ** -1,
    "sqrt": lambda a, b, p: (a * a + 0.5) ** 0.5,
    "exp": lambda a, b, p: a.tanh().exp(),
    "log": lambda a, b, p: (a.sigmoid() + p * p).log(),
    "tanh": lambda a, b, p: (a * p).tanh(),
    "sigmoid": lambda a, b, p: (a + b).sigmoid(),
    "relu": lambda a, b, p: (a - p).relu(),
    "pow": lambda a, b, p: (a.sigmoid() + 0.5) ** b.tanh(),
    "linear": lambda a, b, p: linear([p, p * p], [a, b], p),
}


@st.composite
def programs(draw: st.DrawFn) -> list[tuple[str, int, int, int]]:
    n_steps = draw(st.integers(1, 8))
    program = []
    for i in range(n_steps):
        op = draw(st.sampled_from(sorted(STEPS) + ["layer"]))
        program.append((op, draw(st.integers(0, i + 1)), draw(st.integers(0, i + 1)), draw(st.integers(0, 2))))
    return program


def run_program(program: list[tuple[str, int, int, int]], params: list[Value]) -> PerExample:
    def per_example(inputs: list[Value], target: Value) -> Value:
        pool = list(inputs)
        for op, i, j, k in program:
            a, b, p = pool[i % len(pool)], pool[j % len(pool)], params[k]
            if op == "layer":  # two neurons on the same inputs, then relu: a dense block and a map block
                h = [
                    linear([params[0], params[1]], [a, b], params[2]),
                    linear([params[3], params[1]], [a, b], params[4]),
                ]
                pool.append(sum(v.relu() for v in h) * 0.5)
            else:
                pool.append(STEPS[op](a, b, p))
        return pool[-1] * target + pool[-1]

    return per_example


@settings(max_examples=60, deadline=None)
@given(program=programs(), seed=st.integers(0, 10**6))
def test_drawn_graphs_over_every_op_match_eager(program: list[tuple[str, int, int, int]], seed: int) -> None:
    rng = random.Random(seed)
    params = [Value(rng.uniform(-1, 1)) for _ in range(5)]
    X = [[rng.uniform(-1.5, 1.5) for _ in range(2)] for _ in range(4)]
    y = [rng.uniform(-1, 1) for _ in range(4)]
    per_example = run_program(program, params)
    expected = eager_loss_and_grads(per_example, params, X, y)
    for engine in ENGINES:
        compiled = compile_loss(per_example, params, 2, engine=engine)  # type: ignore[arg-type]
        assert_close(compiled_loss_and_grads(compiled, X, y), expected)


def test_a_param_only_term_inside_the_per_example_loss_counts_once_per_example() -> None:
    p, q = Value(0.3), Value(-0.7)
    per_example = lambda x, t: (p * q).exp() + x[0] * p * t  # noqa: E731
    X, y = [[1.0], [2.0], [-3.0]], [1.0, 0.5, 2.0]
    expected = eager_loss_and_grads(per_example, [p, q], X, y)
    for engine in ENGINES:
        assert_close(compiled_loss_and_grads(compile_loss(per_example, [p, q], 1, engine=engine), X, y), expected)  # type: ignore[arg-type]


# ----------------------------------------------------------------------
# Refusals
# ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_wrong_number_of_inputs_is_a_value_error(engine: str) -> None:
    model = MLP(2, [3, 1])
    compiled = compile_loss(hinge(model), model, 2, engine=engine)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected 2 inputs"):
        compiled.loss_and_backward([[1.0, 2.0, 3.0]], [1.0])
    compiled.loss_and_backward([[1.0, 2.0]], [1.0])
    with pytest.raises(ValueError, match="expected 2 inputs"):
        compiled.loss_and_backward([[1.0]], [1.0])
    with pytest.raises(ValueError, match="targets|shape"):
        compiled.loss_and_backward([[1.0, 2.0]], [1.0, 1.0])


def test_a_changed_parameter_list_is_refused() -> None:
    model = MLP(2, [3, 1])
    compiled = compile_loss(hinge(model), model, 2)  # type: ignore[arg-type]
    compiled.loss_and_backward([[1.0, 2.0]], [1.0])
    model.layers[0].neurons[0].w.append(Value(0.5))  # a parameter added after recording
    with pytest.raises(CompileError, match="parameters changed"):
        compiled.loss_and_backward([[1.0, 2.0]], [1.0])
    params = [Value(1.0)]
    compiled = compile_loss(lambda x, t: x[0] * params[0], params, 1)
    params[0] = Value(2.0)  # the list passed in, changed in place
    with pytest.raises(CompileError, match="parameters changed"):
        compiled.loss_and_backward([[1.0]], [0.0])


def test_a_value_missing_from_params_is_refused() -> None:
    w, forgotten = Value(1.0), Value(2.0)
    with pytest.raises(CompileError, match="not in params"):
        compile_loss(lambda x, t: x[0] * w * forgotten, [w], 1, example=([1.0], 0.0))
    with pytest.raises(CompileError, match="not in params"):
        compile_loss(lambda x, t: x[0] * w, [w], 1, regularizer=lambda ps: ps[0] * forgotten)


def test_an_unknown_op_is_refused() -> None:
    def cube(x: Value) -> Value:  # a user-made op the compiler has no code for
        return Value(x.data**3, (x,), "cube", _local_grads=(3 * x.data**2,))

    with pytest.raises(CompileError, match="'cube'.*supports"):
        compile_loss(lambda x, t: cube(x[0]), [], 1, example=([1.0], 0.0))


def test_python_branching_on_data_is_refused() -> None:
    w = Value(1.0)

    def branchy(x: list[Value], t: Value) -> Value:
        return x[0] * w if x[0].data > 0 else x[0] * w * w

    with pytest.raises(CompileError, match="differs between two examples"):
        compile_loss(branchy, [w], 1).loss_and_backward([[1.0], [-1.0]], [1.0, 1.0])

    def baked(x: list[Value], t: Value) -> Value:
        return x[0] * w * t.data  # the target's number, not the Value: a constant of the graph

    with pytest.raises(CompileError, match="constant of the graph differs"):
        compile_loss(baked, [w], 1).loss_and_backward([[1.0], [1.0]], [1.0, -1.0])


def test_other_misuse() -> None:
    with pytest.raises(ValueError, match="engine"):
        compile_loss(lambda x, t: x[0], [], 1, engine="fortran")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_inputs"):
        compile_loss(lambda x, t: x[0], [], 0)
    with pytest.raises(CompileError, match="must return a Value"):
        compile_loss(lambda x, t: 1.0, [], 1, example=([1.0], 0.0))  # type: ignore[arg-type,return-value]
    with no_grad(), pytest.raises(CompileError, match="no_grad"):
        compile_loss(lambda x, t: x[0] * 2, [], 1, example=([1.0], 0.0))
    with pytest.raises(RuntimeError, match="nothing recorded"):
        _ = compile_loss(lambda x, t: x[0], [], 1).source
    with pytest.raises(ValueError, match="empty"):
        compile_loss(lambda x, t: x[0], [], 1).loss_and_backward([], [])


def test_numpy_engine_without_numpy_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_numpy(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError("No module named 'numpy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_numpy)
    with pytest.raises(ImportError, match=r"micrograd\[fast\]"):
        compile_loss(lambda x, t: x[0], [], 1, engine="numpy")
    compile_loss(lambda x, t: x[0], [], 1, engine="python")  # the python engine needs nothing


@pytest.mark.parametrize("engine", ENGINES)
def test_the_generated_code_can_be_read(engine: str) -> None:
    model = MLP(2, [2, 1])
    compiled = compile_loss(hinge(model), model, 2, engine=engine, example=([0.1, 0.2], 1.0), regularizer=l2)  # type: ignore[arg-type]
    assert "def loss_and_backward(" in compiled.source
    assert "def regularizer_and_backward(" in compiled.source
    assert "recorded" in repr(compiled)


# ----------------------------------------------------------------------
# The benchmark script runs end to end (numbers are not checked here: no timing in tests)
# ----------------------------------------------------------------------


def test_benchmark_quick_run_works(original_micrograd: Any) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=str(ROOT),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "W1" in result.stdout and "W2" in result.stdout and "W3" in result.stdout
