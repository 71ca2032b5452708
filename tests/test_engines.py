"""The three training engines (eager, compiled, numpy) run the same training, step for step."""

from __future__ import annotations

from pathlib import Path

import pytest

from micrograd.app import training  # the module itself: the tests patch its internals
from micrograd.app.checkpoint import load_checkpoint
from micrograd.app.cli import main
from micrograd.app.training import TrainConfig, accuracy, resolve_engine, resume_run, start_run
from micrograd.engine import Value
from micrograd.nn import MLP, outputs_on_floats

pytest.importorskip("numpy")

FAST_ENGINES = ("compiled", "numpy")


def _history(config: TrainConfig, engine: str, tmp_path: Path) -> tuple[list[dict[str, float]], list[float]]:
    run = start_run(config, tmp_path / engine, engine=engine)
    history = list(run.steps())
    return history, [p.data for p in run.model.parameters()]


@pytest.mark.parametrize("engine", FAST_ENGINES)
@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(steps=25, seed=3),  # the demo: full batch, hinge, SGD, linear schedule, L2
        TrainConfig(steps=25, seed=4, loss="mse", activation="tanh", optimizer="adam", lr=0.01, batch_size=16),
        TrainConfig(steps=25, seed=5, dataset="circles", l2=0.0, activation="sigmoid", val_fraction=0.25),
        TrainConfig(steps=25, seed=6, loss="bce", optimizer="adamw", lr=0.02, batch_size=20),
    ],
    ids=["demo", "mse-tanh-adam-minibatch", "circles-sigmoid-no-l2-val", "bce-adamw-minibatch"],
)
def test_fast_engines_train_exactly_as_eager(engine: str, config: TrainConfig, tmp_path: Path) -> None:
    eager_history, eager_params = _history(config, "eager", tmp_path)
    history, params = _history(config, engine, tmp_path)
    assert len(history) == len(eager_history) == config.steps
    for ours, reference in zip(history, eager_history, strict=True):
        assert ours["loss"] == pytest.approx(reference["loss"], rel=1e-12, abs=1e-12)
        assert ours["accuracy"] == reference["accuracy"]
        assert ours.get("val_accuracy") == reference.get("val_accuracy")
    assert params == pytest.approx(eager_params, rel=1e-10, abs=1e-12)


def test_resume_with_another_engine_continues_the_same_run(tmp_path: Path) -> None:
    # A constant schedule: a linear one spans --steps, so a 10-step run is not the first half of a 20-step one.
    config = TrainConfig(steps=20, seed=7, batch_size=24, schedule="constant")
    _, straight = _history(config, "eager", tmp_path)
    half_config = TrainConfig(steps=10, seed=7, batch_size=24, schedule="constant")
    half = start_run(half_config, tmp_path / "half", engine="numpy")
    list(half.steps())
    saved = half.save()
    resumed = resume_run(saved, tmp_path / "half", steps=20, engine="compiled")
    list(resumed.steps())
    assert [p.data for p in resumed.model.parameters()] == pytest.approx(straight, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize(
    "engine,loss,numpy_installed,expected",
    [
        ("auto", "hinge", True, "numpy"),
        ("auto", "hinge", False, "compiled"),
        ("auto", "mse", True, "numpy"),
        ("auto", "bce", True, "numpy"),
        ("auto", "ce", True, "eager"),
        ("eager", "ce", True, "eager"),
        ("compiled", "hinge", False, "compiled"),
    ],
)
def test_resolve_engine(engine: str, loss: str, numpy_installed: bool, expected: str,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "_numpy_installed", lambda: numpy_installed)
    assert resolve_engine(engine, loss) == expected


@pytest.mark.parametrize(
    "engine,loss,numpy_installed,message",
    [
        ("numpy", "ce", True, "engine 'numpy' supports the losses hinge, bce, mse, not 'ce'"),
        ("compiled", "ce", False, "engine 'compiled' supports the losses hinge, bce, mse, not 'ce'"),
        ("numpy", "hinge", False, "engine 'numpy' needs numpy"),
        ("gpu", "hinge", True, "unknown engine 'gpu'"),
    ],
)
def test_resolve_engine_refuses_clearly(engine: str, loss: str, numpy_installed: bool, message: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "_numpy_installed", lambda: numpy_installed)
    with pytest.raises(ValueError, match=message):
        resolve_engine(engine, loss)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("outputs", [1, 3])
def test_accuracy_scores_are_the_models_scores_bit_for_bit(activation: str, outputs: int) -> None:
    """accuracy() runs the MLP on plain floats; its scores must be exactly model(x)'s."""
    import random

    random.seed(outputs)
    model = MLP(3, [5, 4, outputs], activation=activation)
    points = [[random.uniform(-3, 3) for _ in range(3)] for _ in range(50)]
    for x, on_floats in zip(points, outputs_on_floats(model, points), strict=True):
        expected = model(x)
        expected_list = [expected] if isinstance(expected, Value) else expected
        assert on_floats == [v.data for v in expected_list]
    labels = [random.randrange(max(2, outputs)) for _ in points]
    by_values = sum(training._predicted(model(x)) == label for x, label in zip(points, labels, strict=True))
    assert accuracy(model, points, labels) == by_values / len(points)


@pytest.mark.parametrize("engine", ["eager", "compiled", "numpy"])
def test_demo_engine_flag(engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    assert main(["demo", "--out", str(tmp_path), "--steps", "3", "--engine", engine]) == 0
    assert f"(engine: {engine})" in capsys.readouterr().out


def test_demo_default_engine_is_the_fastest_installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    assert main(["demo", "--out", str(tmp_path), "--steps", "2"]) == 0
    assert "(engine: numpy)" in capsys.readouterr().out  # numpy is installed here (importorskip above)


@pytest.mark.parametrize("engine", ["eager", "compiled", "numpy"])
def test_divergence_stops_the_run_at_the_first_bad_step(engine: str, tmp_path: Path) -> None:
    run = start_run(TrainConfig(steps=20, lr=1e300), tmp_path, engine=engine)
    with pytest.raises(training.TrainingDiverged, match=r"training diverged at step 2: the loss is nan"):
        for _ in run.steps():
            run.save()  # step 1 is still finite, so its checkpoint is written
    assert run.step == 1 and len(run.history) == 1
    assert load_checkpoint(tmp_path / "checkpoint.json")["step"] == 1


def test_decision_grid_scores_are_the_models_outputs() -> None:
    import random

    from micrograd.app.plots import decision_grid

    random.seed(2)
    for model in (MLP(2, [6, 1]), MLP(2, [6, 3])):
        xs, ys, scores = decision_grid(model, [[0.0, 0.0], [1.0, 1.0]], resolution=7)
        for row, y in zip(scores, ys, strict=True):
            for score, x in zip(row, xs, strict=True):
                out = model([x, y])
                assert score == (out.data if isinstance(out, Value) else float(training._predicted(out)))


def test_the_compiled_engines_come_from_the_compiler_package() -> None:
    import micrograd.compiler

    assert training.compile_loss is micrograd.compiler.compile_loss


def test_the_old_word_batched_runs_the_numpy_engine_with_one_warning(tmp_path: Path) -> None:
    config = TrainConfig(steps=3, batch_size=8)
    with pytest.warns(FutureWarning, match=r"engine 'batched' is now called 'numpy'") as caught:
        run = start_run(config, tmp_path / "old", engine="batched")
    assert len([w for w in caught if issubclass(w.category, FutureWarning)]) == 1
    assert run.engine == "numpy"
    for _ in run.steps():
        pass
    new, _ = _history(config, "numpy", tmp_path)
    assert run.history == new


@pytest.mark.parametrize("command", [["demo", "--steps", "2"], ["train", "--steps", "2", "--quiet"]])
def test_the_cli_takes_the_old_word_with_a_one_line_note(command: list[str], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--out", str(tmp_path), "--engine", "batched"]) == 0
    captured = capsys.readouterr()
    notes = captured.err.splitlines()
    name = f"micrograd {command[0]}"
    assert notes == [f"{name}: note: --engine 'batched' is now called 'numpy'; the old name works until micrograd 1.2"]
    assert "Warning" not in captured.err and ".py:" not in captured.err  # no warnings dump
    if command[0] == "demo":
        assert "(engine: numpy)" in captured.out


def test_the_cli_help_and_errors_name_only_todays_words(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "{auto,eager,compiled,numpy}" in help_text and "batched" not in help_text
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--engine", "numpi"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "did you mean 'numpy'?" in err and "batched" not in err
