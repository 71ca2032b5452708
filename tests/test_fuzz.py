"""Differential fuzzing: random expression graphs, micrograd against PyTorch float64, central
differences, and the compiled/batched paths.

The programs (random graphs) and their float reference live in fuzz_programs.py. Each
property runs twice: a CI-sized run (derandomize=True, so every CI run tests the same
cases and a failure is reproducible from the test alone), and a ``slow`` run with
thousands of fresh random cases (``pytest -m slow tests/test_fuzz.py``; a failure
prints the program, pasteable as code). A program a run ever finds failing goes into
``REGRESSIONS`` / ``REFUSAL_REGRESSIONS`` below, one entry per case; a bug in micrograd
stays there as a strict xfail until it is fixed.

The properties:
* every row of micrograd's op table is drawn (the float reference of a step is its
  row's forward and derivative), with the composites built from them;
* every leaf gradient and the root value match PyTorch float64 (programs kept in the
  domain by construction, so no case is discarded);
* the same against central differences (``numerical_grad``), which needs no torch;
* ``compile_loss`` (python and numpy engines) matches the eager engine on a batch;
* off the domain, micrograd raises only its documented errors, and only where torch
  also finds an inf or a nan;
* the machinery catches a deliberately wrong derivative.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, event, given, settings, target
from hypothesis import strategies as st

from fuzz_programs import (
    STEP_NAMES,
    STEPS,
    TORCH_STEP_NAMES,
    Bounds,
    Program,
    call_arguments,
    is_feasible,
    node_operands,
    programs,
    reference,
    replay,
    table_rows_not_fuzzed,
)
from helpers import needs, optional
from micrograd import Value, ops
from micrograd.compiler import compile_loss
from micrograd.gradcheck import numerical_grad

torch: Any = optional("torch")
needs_torch = needs("torch")

# The errors micrograd documents; anything else escaping an op is a bug.
DOCUMENTED_ERRORS = (TypeError, ValueError, ZeroDivisionError, OverflowError)

# Case counts. CI: a few hundred in all, well under a minute on 2 cores. Slow: thousands.
CI = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Tolerances, as a fraction of the error scales of fuzz_programs.Reference (roughly: the result
# with every term made positive, plus the same for every local derivative on the way). micrograd
# and torch do the same IEEE double operations in the same order, except that exp/log/tanh/pow
# come from different libraries (a few ulp apart) and a node's gradient terms may be added in
# another order; first-order rounding analysis puts the difference at a few ulp (1.1e-16) times
# the scale. 1e-9 leaves ~10^6 of room for what that analysis leaves out, and is still far below
# what a wrong rule does: it changes the terms of its paths by O(1) of their size.
TORCH_RTOL = 1e-9
# The compiled python engine runs the eager formulas on the same floats (math.exp ...); only the
# 1/B scaling and summation order differ. The numpy engine also uses numpy's exp/log/tanh (SIMD
# versions that may differ from libm by an ulp or two) and sums the batch pairwise. Both stay
# within ~1e-14 of the scale; 1e-12 is the limit tests/test_compiled.py already uses.
COMPILED_RTOL = 1e-12


def skip_unless_slow_selected(request: pytest.FixtureRequest) -> None:
    """The slow variants run only when asked for with ``-m slow``. pyproject's addopts deselects them;
    this also keeps them out of a run that overrides addopts (a test module cannot deselect, so it skips)."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("slow fuzzing: run with -m slow")


# The scales are first-order: where a path's derivative vanishes (x**2 at 0) they are 0, but an ulp
# still shows up squared. micrograd's x / y is x * y**-1, one ulp off true division, so
# log(x / x) ** 2 is 1.2e-32, not 0 (see REGRESSIONS). An absolute 1e-20 covers such ulp**2 terms
# and is far below any value or gradient these programs compute on purpose.
ABS_FLOOR = 1e-20


def assert_close(got: float, expected: float, scale: float, rtol: float, what: str) -> None:
    """|got - expected| <= rtol * max(scale, |expected|) + ABS_FLOOR; nan never passes."""
    limit = rtol * max(scale, abs(expected)) + ABS_FLOOR
    assert abs(got - expected) <= limit, f"{what}: micrograd {got!r}, expected {expected!r} (scale {scale:.3g})"


# ----------------------------------------------------------------------
# micrograd vs PyTorch float64
# ----------------------------------------------------------------------


def torch_value_and_grads(program: Program) -> tuple[float, list[float]]:
    assert torch is not None
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in program.leaves]
    root = replay(program, leaves, "torch")[-1]
    root.backward()
    return root.item(), [0.0 if leaf.grad is None else leaf.grad.item() for leaf in leaves]


def micrograd_value_and_grads(program: Program) -> tuple[float, list[float]]:
    leaves = [Value(x) for x in program.leaves]
    root = replay(program, leaves, "micrograd")[-1]
    root.backward()
    return root.data, [leaf.grad for leaf in leaves]


def assert_matches_torch(program: Program, rtol: float = TORCH_RTOL) -> None:
    ref = reference(program)  # also proves the program is in the domain
    value, grads = micrograd_value_and_grads(program)
    expected_value, expected_grads = torch_value_and_grads(program)
    assert_close(value, expected_value, ref.value_scale, rtol, f"value of {program}")
    for i, (grad, expected) in enumerate(zip(grads, expected_grads, strict=True)):
        assert_close(grad, expected, ref.grad_scale[i], rtol, f"d root / d leaf {i} of {program}")


def _check_against_torch(program: Program) -> None:
    target(float(program.depth()), label="depth")  # steer generation towards deep graphs
    for step in program.steps:
        event(f"op {step[0]}")  # --hypothesis-show-statistics: every op is drawn
    assert_matches_torch(program)


def test_every_row_of_the_table_is_fuzzed() -> None:
    assert table_rows_not_fuzzed() == [], "give these rows a step and a torch oracle in fuzz_programs.py"


@needs_torch
@CI
@given(programs(op_names=TORCH_STEP_NAMES))
def test_matches_torch(program: Program) -> None:
    _check_against_torch(program)


@pytest.mark.slow
@needs_torch
def test_matches_torch_slow(request: pytest.FixtureRequest) -> None:
    skip_unless_slow_selected(request)
    SLOW(given(programs(op_names=TORCH_STEP_NAMES))(_check_against_torch))()


# ----------------------------------------------------------------------
# micrograd vs central differences (runs without torch)
# ----------------------------------------------------------------------

# Gentler programs: central differences lose digits when values or derivatives are large, and
# a perturbed point must stay in the domain (or the estimate raises, and the case is discarded).
GENTLE = Bounds(value=1e2, partial=1e2, kink=1e-3)
EPS = 1e-6


def _check_against_central_differences(program: Program, stats: Counter[str]) -> None:
    ref = reference(program, bounds=GENTLE)
    leaves = [Value(x) for x in program.leaves]
    root = replay(program, leaves, "micrograd")[-1]
    root.backward()

    def f(*values: Value) -> Value:
        return replay(program, values, "micrograd")[-1]

    try:
        fine = numerical_grad(f, list(program.leaves), eps=EPS)
        coarse = numerical_grad(f, list(program.leaves), eps=2 * EPS)
    except DOCUMENTED_ERRORS as error:  # a nudged leaf left the domain: no estimate here
        stats["discarded"] += 1
        event(f"discarded: {type(error).__name__}")
        assume(False)
    stats["checked"] += 1
    assert_close(root.data, ref.root, ref.value_scale, 1e-9, f"value of {program}")  # same floats, but x/y is x*y**-1
    for i, (leaf, estimate, rough) in enumerate(zip(leaves, fine, coarse, strict=True)):
        # The estimate is off by O(eps**2) (truncation) plus ~ulp * value_scale / eps (rounding).
        # Doubling eps makes truncation 4x larger, so |fine - coarse| measures it (Richardson); a relu
        # kink crossed by a nudge shows up there too. A wrong rule is off by O(its paths),
        # which none of these terms cover.
        limit = 10 * abs(estimate - rough) + 1e-6 * (1.0 + ref.grad_scale[i]) + 1e-8 * ref.value_scale
        assert abs(leaf.grad - estimate) <= limit, f"leaf {i} of {program}: backward {leaf.grad!r}, numeric {estimate}"


def _run_central_differences(config: settings) -> None:
    stats: Counter[str] = Counter()

    @config
    @given(programs(max_steps=15, bounds=GENTLE))
    def check(program: Program) -> None:
        _check_against_central_differences(program, stats)

    check()
    # Hypothesis fails the test itself if it filters too much; this keeps the rate visibly low.
    assert stats["discarded"] <= 0.1 * (stats["checked"] + stats["discarded"]), stats


def test_matches_central_differences() -> None:
    _run_central_differences(settings(CI, max_examples=150))


@pytest.mark.slow
def test_matches_central_differences_slow(request: pytest.FixtureRequest) -> None:
    skip_unless_slow_selected(request)
    _run_central_differences(settings(SLOW, max_examples=6000))


# ----------------------------------------------------------------------
# Compiled (python and numpy engines) vs the eager engine
# ----------------------------------------------------------------------


class CompileCase:
    """A program whose leaves are split into parameters, inputs and the target, and a batch of rows."""

    def __init__(
        self, program: Program, params: list[int], inputs: list[int], target_leaf: int, rows: list[list[float]]
    ) -> None:
        self.program, self.param_leaves, self.input_leaves, self.target_leaf = program, params, inputs, target_leaf
        self.rows = rows  # full leaf vectors; the parameter leaves keep the program's values

    def __repr__(self) -> str:
        return (
            f"CompileCase({self.program!r}, params={self.param_leaves}, inputs={self.input_leaves}, "
            f"target_leaf={self.target_leaf}, rows={self.rows})"
        )


# Neurons and activations more often than in STEP_NAMES, so the numpy engine's dense and map blocks are hit.
COMPILE_OP_NAMES = (*STEP_NAMES, "linear", "linear", "linear", "tanh", "relu", "sigmoid")


@st.composite
def compile_cases(draw: st.DrawFn) -> CompileCase:
    program = draw(programs(max_steps=30, op_names=COMPILE_OP_NAMES))
    n = program.n_leaves
    # Half the time, every leaf a linear step uses as a weight or bias is a parameter (and not the
    # target): neurons the numpy engine batches into matrix products and maps over.
    neuron_leaves = {i for step in program.steps if step[0] in ("linear", "linear_c") for i in (*step[1], step[3])}
    layers = draw(st.booleans()) and len(neuron_leaves) < n
    target_leaf = draw(st.sampled_from(sorted(set(range(n)) - neuron_leaves) if layers else range(n)))
    others = [i for i in range(n) if i != target_leaf]
    is_param = [(layers and i in neuron_leaves) or draw(st.booleans()) for i in others]
    if not any(is_param):
        is_param[0] = True  # at least one gradient to compare
    params = [i for i, p in zip(others, is_param, strict=True) if p]
    inputs = [i for i, p in zip(others, is_param, strict=True) if not p]
    # The target always enters the loss: combined with the root at the end (when that stays safe).
    root, t = len(program.leaves) + len(program.steps) - 1, target_leaf
    endings = [(("add", root, t),), (("mul", root, t),), (("sub", root, t), ("pow_c", root + 1, 2))]
    for ending in draw(st.permutations(endings)):
        if is_feasible(program.with_steps(*ending), program.leaves):
            program = program.with_steps(*ending)
            break
    rows = [list(program.leaves)]
    for _ in range(draw(st.integers(0, 5))):
        row = list(program.leaves)
        for i in [*inputs, target_leaf]:
            row[i] = draw(st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False))
        if is_feasible(program, row):  # a row outside the domain would make the eager engine raise
            rows.append(row)
        else:
            event("compiled: infeasible row skipped")
    return CompileCase(program, params, inputs, target_leaf, rows)


def _per_example_loss(case: CompileCase, params: list[Value]) -> Callable[[list[Value], Value], Value]:
    def loss(inputs: list[Value], target_value: Value) -> Value:
        leaves: list[Any] = [None] * case.program.n_leaves
        for slot, i in enumerate(case.param_leaves):
            leaves[i] = params[slot]
        for slot, i in enumerate(case.input_leaves):
            leaves[i] = inputs[slot]
        leaves[case.target_leaf] = target_value
        return replay(case.program, leaves, "micrograd")[-1]

    return loss


def _check_compiled_against_eager(case: CompileCase) -> None:
    params = [Value(case.program.leaves[i]) for i in case.param_leaves]
    loss_fn = _per_example_loss(case, params)
    n_inputs = max(1, len(case.input_leaves))  # compile_loss needs a column even if no leaf is an input
    X = [[row[i] for i in case.input_leaves] or [0.0] for row in case.rows]
    y = [row[case.target_leaf] for row in case.rows]
    batch = len(case.rows)

    # Eager: one graph per row, backward on each, then the mean.
    total = 0.0
    for inputs, target_value in zip(X, y, strict=True):
        loss = loss_fn([Value(x) for x in inputs], Value(target_value))
        loss.backward()
        total += loss.data
    eager_loss, eager_grads = total / batch, [p.grad / batch for p in params]

    refs = [reference(case.program, row) for row in case.rows]
    loss_scale = sum(r.value_scale for r in refs) / batch
    grad_scales = [sum(r.grad_scale[i] for r in refs) / batch for i in case.param_leaves]
    for engine in ("compiled", "numpy"):
        for p in params:
            p.grad = 0.0
        compiled = compile_loss(loss_fn, params, n_inputs, engine=engine)
        got = compiled.loss_and_backward(X, y)
        assert_close(got, eager_loss, loss_scale, COMPILED_RTOL, f"{engine} loss of {case}")
        for j, (p, expected) in enumerate(zip(params, eager_grads, strict=True)):
            assert_close(p.grad, expected, grad_scales[j], COMPILED_RTOL, f"{engine} d loss / d param {j} of {case}")


@settings(CI, max_examples=200)
@given(compile_cases())
def test_compiled_matches_eager(case: CompileCase) -> None:
    _check_compiled_against_eager(case)


@pytest.mark.slow
def test_compiled_matches_eager_slow(request: pytest.FixtureRequest) -> None:
    skip_unless_slow_selected(request)
    settings(SLOW, max_examples=6000)(given(compile_cases())(_check_compiled_against_eager))()


# ----------------------------------------------------------------------
# Out of the domain: micrograd refuses only with its documented errors, and only where torch
# agrees something is wrong (a value or a local derivative that is not finite)
# ----------------------------------------------------------------------


def torch_step_is_finite(step: tuple[Any, ...], operands: Sequence[float]) -> bool:
    """The step's value and its derivatives with respect to its node operands, in torch, are all finite."""
    assert torch is not None
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in operands]
    oracle = STEPS[step[0]].torch
    assert oracle is not None, step
    out = oracle(*call_arguments(step, leaves))
    grads = torch.autograd.grad(out, leaves, allow_unused=True)
    numbers = [out.item()] + [0.0 if g is None else g.item() for g in grads]
    return all(math.isfinite(x) for x in numbers)


def _check_refusals(program: Program) -> None:
    pool: list[Value] = [Value(x) for x in program.leaves]
    for step in program.steps:
        try:
            pool.append(STEPS[step[0]].micrograd(*call_arguments(step, pool)))
        except Exception as error:
            assert isinstance(error, DOCUMENTED_ERRORS), f"{step}: undocumented {type(error).__name__}: {error}"
            operands = [node.data for node in pool]
            known = known_refusal_bug(step, operands, error)
            if known is not None:
                event(f"known bug: {known}")  # kept in REFUSAL_REGRESSIONS as a strict xfail
                return
            event(f"refused: {step[0]} {type(error).__name__}")
            # Replay just this step in torch on the same numbers: it must see an inf or a nan.
            assert not torch_step_is_finite(step, operands), (
                f"micrograd refused {step} with {type(error).__name__}: {error}, but torch computes it: "
                f"operands {[operands[i] for i in node_operands(step)]} in {program}"
            )
            return
    pool[-1].backward()  # backward never raises: it only multiplies and adds floats


def known_refusal_bug(step: tuple[Any, ...], operands: Sequence[float], error: Exception) -> str | None:
    """Which documented difference from torch explains this refusal, if any (see REFUSAL_REGRESSIONS)."""
    # a / b is a * b**-1, and the local derivative of b**-1, -b**-2, overflows for |b| < ~1e-154, even
    # where torch's a / b and its gradient are finite (x / x at 1e-160). micrograd refuses with a clear
    # OverflowError rather than return a gradient of inf - inf; torch divides directly, so it never has to.
    if isinstance(error, OverflowError) and "the derivative of x**-1 overflows" in str(error):
        return "derivative overflow"
    return None


# Programs drawn with no safety filter; leaves and constants from the same small ranges, so
# exact zeros (x - x, a 0.0 leaf) and overflow (exp of exp) come up often.
@needs_torch
@settings(CI, max_examples=200)
@given(programs(max_steps=20, bounds=None, op_names=TORCH_STEP_NAMES))
def test_refuses_only_what_torch_cannot_compute(program: Program) -> None:
    _check_refusals(program)


@pytest.mark.slow
@needs_torch
def test_refuses_only_what_torch_cannot_compute_slow(request: pytest.FixtureRequest) -> None:
    skip_unless_slow_selected(request)
    SLOW(given(programs(max_steps=20, bounds=None, op_names=TORCH_STEP_NAMES))(_check_refusals))()


# ----------------------------------------------------------------------
# The fuzzer can fail
# ----------------------------------------------------------------------


def wrong_tanh_rule(x: float, out: float) -> float:
    """tanh' = 1 - tanh**2; this says 1 - tanh, a mistake that is right at 0 and nowhere else."""
    return 1.0 - out


@needs_torch
def test_fuzzer_catches_a_wrong_derivative(monkeypatch: pytest.MonkeyPatch) -> None:
    # The rule lives in one place, the table's row: every interpreter of the engine reads it there.
    monkeypatch.setattr(ops.TANH, "derivative", wrong_tanh_rule)

    @settings(CI, max_examples=300, phases=[Phase.generate], database=None)  # no shrinking: only "does it fail"
    @given(programs(op_names=TORCH_STEP_NAMES))
    def search(program: Program) -> None:
        assert_matches_torch(program)

    with pytest.raises(AssertionError, match="d root / d leaf"):
        search()


def test_central_differences_catch_a_wrong_derivative(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same check without torch: the numerical gradient needs only the forward.
    monkeypatch.setattr(ops.TANH, "derivative", wrong_tanh_rule)
    stats: Counter[str] = Counter()

    @settings(CI, max_examples=150, phases=[Phase.generate], database=None)
    @given(programs(max_steps=15, bounds=GENTLE))
    def search(program: Program) -> None:
        _check_against_central_differences(program, stats)

    with pytest.raises(AssertionError, match="backward"):
        search()


# ----------------------------------------------------------------------
# Regressions: every case a fuzzing run found, one line each
# ----------------------------------------------------------------------

REGRESSIONS: list[Any] = [
    # x * x, x - x and (x + x) / x: the same node on both sides.
    Program((1.5, -0.5), (("mul", 0, 0), ("sub", 2, 2), ("add", 0, 0), ("div", 4, 0))),
    # Slow run: x / x is 1 + ulp in micrograd (x * x**-1) and exactly 1 in torch; squared log: 1.2e-32 vs 0.
    Program((0.0, 1.8515625), (("div", 1, 1), *(("neg", i) for i in range(2, 14)), ("log", 14), ("pow_c", 15, 2))),
    # Slow run: the same x / x feeds u ** w with u = 1 (+ ulps): d/dw = u**w * log(u) is 0 in torch, 3.3e-16 here.
    Program((0.0, 1.8515625), (("div", 1, 1), *(("neg", i) for i in range(2, 13)), ("linear_c", (13,), (0.0,), 13),
                               ("linear", (14, 14), (14, 14), 14), ("neg", 15), ("neg", 16),
                               ("linear_c", (0, 0), (0.0, 0.0), 0), ("pow", 17, 18))),
]


@needs_torch
@pytest.mark.parametrize("program", REGRESSIONS)
def test_regressions(program: Program) -> None:
    assert_matches_torch(program)


REFUSAL_REGRESSIONS: list[tuple[Program, str | None]] = [
    # x / x at 1e-160: torch gives 1.0 and gradient 0.0; the derivative of x**-1 overflows here.
    (Program((1e-160,), (("div", 0, 0),)), r"pow: the derivative of x\*\*-1 overflows a float at x = 1e-160"),
    (Program((2.0, 1e-160), (("div", 0, 1),)), r"pow: the derivative of x\*\*-1 overflows"),  # torch: 2e160
    (Program((0.0, 0.0), (("pow", 0, 1),)), None),  # 0 ** 0: torch gives 1.0 and gradients (0.0, 0.0)
    (Program((0.0,), (("pow", 0, 0),)), None),  # x ** x at 0: torch gives 1.0 and gradient 0.0
]


@needs_torch
@pytest.mark.parametrize("program,refusal", REFUSAL_REGRESSIONS)
def test_refusal_regressions(program: Program, refusal: str | None) -> None:
    """Once bugs (0 ** 0 raised; a / tiny raised a bare OverflowError): now computed, or refused clearly."""
    if refusal is not None:
        with pytest.raises(OverflowError, match=refusal):
            replay(program, [Value(x) for x in program.leaves], "micrograd")
        return
    leaves = [Value(x) for x in program.leaves]
    pool = replay(program, leaves, "micrograd")
    pool[-1].backward()
    import torch

    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in program.leaves]
    torch_pool = replay(program, tensors, "torch")
    torch_pool[-1].backward()
    assert pool[-1].data == torch_pool[-1].item()
    assert [leaf.grad for leaf in leaves] == [float(t.grad) for t in tensors]
