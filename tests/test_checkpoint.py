"""Checkpoints: exact round trips, resuming training, clear errors on damaged files, atomic writes under SIGKILL."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import seeded_mlp
from micrograd import Value
from micrograd.app.checkpoint import FORMAT, VERSION, CheckpointError, build_model, load_checkpoint, load_model, save
from micrograd.app.data import make_moons
from micrograd.losses import hinge_loss
from micrograd.nn import MLP
from micrograd.optim import Adam, CosineAnnealingLR


def make_model(seed: int = 0, **options: Any) -> MLP:
    model: MLP = seeded_mlp(seed, 2, [5, 3, 1], **options)
    return model


def test_round_trip_keeps_architecture_and_exact_parameters(tmp_path: Path) -> None:
    model = make_model(activation="tanh", output_activation="sigmoid")
    path = tmp_path / "model.json"
    save(path, model)
    for loaded in (load_model(path), load_model(str(path)), build_model(load_checkpoint(path))):
        assert (loaded.nin, loaded.nouts, loaded.activation, loaded.output_activation) == (
            2,
            [5, 3, 1],
            "tanh",
            "sigmoid",
        )
        assert loaded.state_dict() == model.state_dict()  # floats compared exactly
        assert loaded([0.3, -1.2]).data == model([0.3, -1.2]).data  # type: ignore[union-attr]


def test_the_file_is_plain_json_with_format_and_version(tmp_path: Path) -> None:
    model = make_model()
    path = tmp_path / "model.json"
    save(path, model, step=12, extra={"seed": 3, "history": [1.5, 0.25]})
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["format"] == FORMAT == "micrograd-checkpoint" and raw["version"] == VERSION == 1
    assert raw["model"] == {
        "type": "MLP",
        "nin": 2,
        "nouts": [5, 3, 1],
        "activation": "relu",
        "output_activation": "linear",
    }
    assert raw["parameters"] == model.state_dict()
    assert (raw["step"], raw["extra"], raw["optimizer"], raw["scheduler"]) == (
        12,
        {"seed": 3, "history": [1.5, 0.25]},
        None,
        None,
    )
    assert load_checkpoint(path)["extra"] == raw["extra"]
    assert os.stat(path).st_mode & 0o777 == 0o644  # not the owner-only mode of a temporary file


def test_loading_does_not_disturb_the_global_random_state(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    save(path, make_model())
    random.seed(11)
    expected = random.random()
    random.seed(11)
    load_model(path)
    assert random.random() == expected


def test_resuming_from_a_checkpoint_continues_training_exactly(tmp_path: Path) -> None:
    X, y = make_moons(n_samples=20, seed=1)
    labels = [2 * label - 1 for label in y]

    def train(model: MLP, optimizer: Adam, schedule: CosineAnnealingLR, steps: int) -> None:
        for _ in range(steps):
            loss = hinge_loss([model(x) for x in X], labels)  # type: ignore[misc]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()

    def fresh(seed: int) -> tuple[MLP, Adam, CosineAnnealingLR]:
        model = make_model(seed)
        optimizer = Adam(model.parameters(), lr=0.05)
        return model, optimizer, CosineAnnealingLR(optimizer, T_max=15)

    straight = fresh(0)
    train(*straight, 12)

    first = fresh(0)
    train(*first, 7)
    path = tmp_path / "run.json"
    save(path, first[0], first[1], step=7, extra={"data_seed": 1}, scheduler=first[2])

    checkpoint = load_checkpoint(path)
    model = build_model(checkpoint)
    optimizer = Adam(model.parameters(), lr=0.05)
    optimizer.load_state_dict(checkpoint["optimizer"])
    schedule = CosineAnnealingLR(optimizer, T_max=15)
    schedule.load_state_dict(checkpoint["scheduler"])
    assert checkpoint["step"] == 7 and checkpoint["extra"] == {"data_seed": 1}
    train(model, optimizer, schedule, 5)
    assert model.state_dict() == straight[0].state_dict()


# ----------------------------------------------------------------------
# Refusing to save
# ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_or_inf_parameters_are_not_saved_and_the_old_file_stays(tmp_path: Path, bad: float) -> None:
    path = tmp_path / "model.json"
    model = make_model()
    save(path, model)
    before = path.read_bytes()
    model.layers[1].neurons[2].b.data = bad
    with pytest.raises(ValueError, match=r"parameter layers\.1\.neurons\.2\.b is (nan|inf|-inf)"):
        save(path, model)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.json"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"extra": {"loss": math.nan}}, ValueError, "holds nan or inf"),
        ({"extra": {"when": object()}}, TypeError, "not JSON-serialisable"),
        ({"extra": [1, 2]}, TypeError, "extra must be a dict or None"),
        ({"step": -1}, ValueError, "step must be an int >= 0"),
        ({"model": Value(1.0)}, TypeError, "model must be a micrograd.nn.MLP"),
    ],
)
def test_bad_arguments_to_save(tmp_path: Path, kwargs: dict[str, Any], error: type, message: str) -> None:
    arguments: dict[str, Any] = {"model": make_model(), **kwargs}
    with pytest.raises(error, match=message):
        save(tmp_path / "model.json", **arguments)
    assert os.listdir(tmp_path) == []


def test_a_failure_while_writing_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.json"
    save(path, make_model(seed=1))
    before = path.read_bytes()

    def broken_fsync(descriptor: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save(path, make_model(seed=2))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.json"]


# ----------------------------------------------------------------------
# Damaged and hand-edited files
# ----------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "model.json"
    save(path, make_model(), Adam(make_model().parameters()), step=3)
    return path


def test_every_truncation_gives_a_clear_error(saved: Path) -> None:
    text = saved.read_text(encoding="utf-8")
    cuts = sorted({0, 1, len(text) // 2, len(text) - 3} | set(range(0, len(text) - 2, max(1, len(text) // 40))))
    for cut in cuts:
        saved.write_text(text[:cut], encoding="utf-8")
        with pytest.raises(CheckpointError) as raised:
            load_model(saved)
        assert str(saved) in str(raised.value) and "not valid JSON" in str(raised.value)
    saved.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(CheckpointError, match="looks truncated"):
        load_checkpoint(saved)


def edit(path: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def first_weight(data: dict[str, Any]) -> str:
    return str(next(iter(data["parameters"])))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="something-else"), "'format' is 'something-else', expected 'micrograd-checkpoint'"),
        (lambda d: d.pop("format"), "'format' is None"),
        (lambda d: d.update(version=2), "version 2 was written by a newer micrograd"),
        (lambda d: d.update(version="1"), "'version' must be an int"),
        (lambda d: d.pop("parameters"), "missing key 'parameters'"),
        (lambda d: d.pop("model"), "missing key 'model'"),
        (lambda d: d["model"].pop("nouts"), "missing key 'model.nouts'"),
        (lambda d: d["model"].update(type="CNN"), "only 'MLP' can be loaded"),
        (lambda d: d["model"].update(nin=0), "'model.nin' must be an int >= 1, got 0"),
        (lambda d: d["model"].update(nouts=[5, "3", 1]), "'model.nouts[1]' must be an int >= 1"),
        (lambda d: d["model"].update(nouts=[5, 3, 10**9]), "has 4000000033 parameters, the file 37"),
        (lambda d: d["model"].update(activation="swish"), "'model.activation' is 'swish'"),
        (lambda d: d["model"].update(nouts=[5, 4]), "the model 2 -> [5, 4] has 39 parameters, the file 37"),
        (lambda d: d["parameters"].pop(first_weight(d)), "has 37 parameters, the file 36"),
        (lambda d: d["parameters"].update({first_weight(d): "0.5"}), "must be a number, got str '0.5'"),
        (lambda d: d["parameters"].update({first_weight(d): None}), "must be a number, got NoneType"),
        (
            lambda d: d["parameters"].update({"bogus": d["parameters"].pop(first_weight(d))}),
            "do not match the architecture",
        ),
        (lambda d: d.update(parameters=[1.0, 2.0]), "'parameters' must be an object"),
        (lambda d: d.update(step=-2), "'step' must be an int >= 0"),
        (lambda d: d.update(optimizer=[1]), "'optimizer' must be an object or null"),
        (lambda d: d.update(extra="notes"), "'extra' must be an object"),
    ],
)
def test_hand_edited_files_give_a_clear_error(
    saved: Path, change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    edit(saved, change)
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(saved)
    assert message in str(raised.value) and str(saved) in str(raised.value)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("NaN", "holds NaN"),
        ("-Infinity", "holds -Infinity"),
        ("1e999", "is inf, not a finite number"),
        ("1" * 5000, "not a usable JSON"),
    ],
)
def test_non_finite_numbers_in_the_file_are_refused(saved: Path, literal: str, message: str) -> None:
    text = saved.read_text(encoding="utf-8")
    name = next(iter(json.loads(text)["parameters"]))
    number = json.dumps(json.loads(text)["parameters"][name])
    saved.write_text(text.replace(f'"{name}": {number}', f'"{name}": {literal}', 1), encoding="utf-8")
    with pytest.raises(CheckpointError, match=message):
        load_model(saved)


@pytest.mark.parametrize(
    ("content", "message"), [(b"\x80\x81\xfe", "not UTF-8 text"), (b"[1, 2]", "expected a JSON object")]
)
def test_files_that_are_not_checkpoints(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.json"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing-here.json"):
        load_model(tmp_path / "nothing-here.json")


# ----------------------------------------------------------------------
# Atomic writes: kill a process that saves in a loop, then the file must load
# ----------------------------------------------------------------------

# Each save sets every parameter to the save's number, so a file mixing two saves is detected.
# Files opened for writing write in small chunks with pauses, like a slow disk: a kill then
# lands while a file is half written, which a save that wrote the checkpoint in place would not survive.
SAVER = """
import builtins, os, random, sys, time
from micrograd.app.checkpoint import save
from micrograd.nn import MLP

class SlowFile:
    def __init__(self, file):
        self._file = file
    def write(self, text):
        for start in range(0, len(text), 4096):
            self._file.write(text[start:start + 4096])
            self._file.flush()
            time.sleep(0.0005)
        return len(text)
    def __getattr__(self, name):
        return getattr(self._file, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self._file.__exit__(*exc)

real_open, real_fdopen = builtins.open, os.fdopen
def slow_open(file, mode="r", *args, **kwargs):
    opened = real_open(file, mode, *args, **kwargs)
    return SlowFile(opened) if any(m in mode for m in "wax+") else opened
builtins.open = slow_open
os.fdopen = lambda fd, mode="r", *args, **kwargs: SlowFile(real_fdopen(fd, mode, *args, **kwargs))

random.seed(0)
model = MLP(4, [48, 48, 1])
path, start = sys.argv[1], int(sys.argv[2])
number = start
while True:
    for p in model.parameters():
        p.data = float(number)
    save(path, model, step=number, extra={"padding": "x" * 20000})
    if number == start:
        print("saved", flush=True)
    number += 1
"""


def test_a_process_killed_while_saving_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    rng = random.Random(0)
    last_step = -1
    for round_number in range(20):
        process = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path), str(round_number * 100_000)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline() == "saved\n"
        time.sleep(rng.uniform(0.0, 0.15))  # land somewhere inside a later save
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        checkpoint = load_checkpoint(path)
        step = checkpoint["step"]
        assert step >= round_number * 100_000 > last_step
        assert set(checkpoint["parameters"].values()) == {float(step)}
        last_step = step
    # Killed runs may leave temporary files, but never under the checkpoint's own name.
    assert all(name == "run.json" or name.startswith(".run.json.") for name in os.listdir(tmp_path))
