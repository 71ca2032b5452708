"""Issue 20, item 3: a save costs the same at step 100 and at step 100,000, and a run can always read
its own checkpoint, while resuming still lands exactly where an uninterrupted run does and no step's
record is lost.

The bytes a save writes are counted from the files themselves: a file that was replaced (a new inode)
counts whole, a file written in place counts by what it grew. No clock is read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from micrograd.app import checkpoint as checkpoint_module
from micrograd.app.checkpoint import load_checkpoint
from micrograd.app.cli import main
from micrograd.app.training import Run, TrainConfig, resume_run, start_run

# A small, quick run: 20 points, one hidden layer of 2, minibatches drawn from (seed, step), Adam.
CONFIG = {"n_samples": 20, "hidden": [2], "batch_size": 8, "optimizer": "adam", "lr": 0.01, "schedule": "constant"}


def config(steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, **CONFIG)  # type: ignore[arg-type]


def bytes_written(folder: Path, action: Callable[[], object]) -> int:
    """What ``action`` wrote into ``folder``: files that are new or were replaced count whole, files written
    in place count by what they grew."""
    before = {path.name: path.stat() for path in folder.iterdir()}
    action()
    total = 0
    for path in folder.iterdir():
        now, then = path.stat(), before.get(path.name)
        total += now.st_size if then is None or then.st_ino != now.st_ino else now.st_size - then.st_size
    return total


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every os.fsync call made, by file descriptor."""
    calls: list[int] = []
    real = os.fsync

    def counting(descriptor: int) -> None:
        calls.append(descriptor)
        real(descriptor)

    monkeypatch.setattr(os, "fsync", counting)
    yield calls


def train(run: Run, every: int, until: int | None = None) -> None:
    """Run's steps, saving every ``every`` steps as `micrograd train --checkpoint-every` does, and at the end."""
    for _ in run.steps():
        if run.step % every == 0:
            run.save()
        if until is not None and run.step >= until:
            break
    run.save()


def long_history(run: Run, steps: int) -> None:
    """Give ``run`` the history of ``steps`` steps, as if it had trained them (the numbers a real run
    records: a loss with every digit, an accuracy that is a multiple of 1/20). A save's cost depends on
    the history and the model, not on where the numbers came from."""
    rng = random.Random(steps)
    run.history = [{"step": float(k), "loss": 0.05 + rng.random(), "accuracy": rng.randrange(21) / 20}
                   for k in range(steps)]
    run.step = steps


def save_at(step: int, tmp_path: Path, fsyncs: list[int]) -> tuple[int, int]:
    """(bytes written, fsync calls) of the save at ``step`` of a run saving every 10 steps."""
    folder = tmp_path / f"at{step}"
    run = start_run(config(step), folder, engine="numpy")
    if step > 100:
        long_history(run, step - 10)
        run.save()  # the save at step - 10: its history is on disk
    for _ in run.steps():
        if run.step % 10 == 0 and run.step < step:
            run.save()
    assert run.step == step
    fsyncs.clear()
    written = bytes_written(folder, run.save)
    return written, len(fsyncs)


def test_a_save_at_step_100_000_writes_what_a_save_at_step_100_does(tmp_path: Path, fsyncs: list[int]) -> None:
    # 6da8dad rewrote the whole history every save, about 110 bytes a step: 11 kB at step 100, 11 MB
    # at step 100,000. Now a save writes the steps since the last one, the model, and a bounded summary.
    early, early_fsyncs = save_at(100, tmp_path, fsyncs)
    late, late_fsyncs = save_at(100_000, tmp_path, fsyncs)
    later, later_fsyncs = save_at(300_000, tmp_path, fsyncs)
    assert late <= 1.25 * early, f"a save wrote {early} bytes at step 100 but {late} at step 100,000"
    assert later <= 1.25 * early, f"a save wrote {early} bytes at step 100 but {later} at step 300,000"
    assert early_fsyncs == late_fsyncs == later_fsyncs  # the fsyncs of a save do not grow with the run


def test_a_run_of_600_000_steps_reads_its_own_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Near 600k steps 6da8dad's checkpoint passed the 64 MiB read limit: --resume, predict and plot refused it.
    run = start_run(config(600_010), tmp_path, engine="numpy")
    long_history(run, 600_000)
    run.save()
    path = tmp_path / "checkpoint.json"
    assert path.stat().st_size < 64 * 1024
    assert load_checkpoint(path)["step"] == 600_000
    assert main(["predict", str(path), "0.5,-0.2"]) == 0
    assert "class" in capsys.readouterr().out
    resumed = resume_run(path, tmp_path, engine="numpy")
    train(resumed, every=5)
    assert load_checkpoint(path)["step"] == 600_010

    from micrograd.app.training import read_history

    assert read_history(path) == [*run.history, *resumed.history[-10:]]  # every step, from the log


def _checkpoint(path: Path) -> dict[str, Any]:
    saved: dict[str, Any] = json.loads(path.read_text())
    return saved


def _log_lines(folder: Path) -> list[str]:
    """The history log's lines after its header (which names the run that wrote them)."""
    return (folder / "checkpoint.history.jsonl").read_text().splitlines()[1:]


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of 600 steps, saving every 10."""
    folder = tmp_path_factory.mktemp("straight")
    train(start_run(config(600), folder, engine="numpy"), every=10)
    return folder


def assert_same_run(folder: Path, straight: Path) -> None:
    """The run in ``folder`` ended where the uninterrupted one did: parameters, optimizer, summary, every record."""
    from micrograd.app.training import SUMMARY_CAP, read_history

    ours, theirs = _checkpoint(folder / "checkpoint.json"), _checkpoint(straight / "checkpoint.json")
    assert ours["step"] == theirs["step"] == 600
    assert ours["parameters"] == theirs["parameters"]
    assert ours["optimizer"] == theirs["optimizer"]
    assert ours["extra"]["history"] == theirs["extra"]["history"]
    assert len(ours["extra"]["history"]) <= SUMMARY_CAP + 2
    full = read_history(folder / "checkpoint.json")
    assert full == read_history(straight / "checkpoint.json")
    assert [record["step"] for record in full] == list(range(600))  # each step once, in order
    assert _log_lines(folder) == _log_lines(straight)


@pytest.mark.parametrize("elsewhere", [False, True], ids=["same-folder", "other-folder"])
def test_resuming_continues_the_same_run_and_the_same_history(elsewhere: bool, straight: Path,
                                                             tmp_path: Path) -> None:
    first = tmp_path / "first"
    train(start_run(config(600), first, engine="numpy"), every=10, until=250)
    out = tmp_path / "second" if elsewhere else first
    train(resume_run(first / "checkpoint.json", out, engine="numpy"), every=7)  # another cadence of saves
    assert_same_run(out, straight)


def test_a_save_cut_short_after_the_log_loses_and_repeats_nothing(straight: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The log is appended first, then the checkpoint is replaced: a crash between the two leaves log lines
    # that no checkpoint counts. The resumed run runs those steps again, and records them once.
    run = start_run(config(600), tmp_path, engine="numpy")
    train(run, every=10, until=200)
    for _ in run.steps():
        if run.step == 230:
            break
    real_save = checkpoint_module.save

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_module, "save", crash)
    with pytest.raises(OSError):
        run.save()
    monkeypatch.setattr(checkpoint_module, "save", real_save)
    with open(tmp_path / "checkpoint.history.jsonl", "ab") as log:
        log.write(b'{"step":230.0,"lo')  # and a kill in the middle of a later append
    assert _checkpoint(tmp_path / "checkpoint.json")["step"] == 200
    train(resume_run(tmp_path / "checkpoint.json", tmp_path, engine="numpy"), every=10)
    assert_same_run(tmp_path, straight)


def test_a_checkpoint_whose_log_is_missing_still_resumes_exactly(straight: Path, tmp_path: Path) -> None:
    from micrograd.app.training import read_history

    train(start_run(config(600), tmp_path, engine="numpy"), every=10, until=250)
    (tmp_path / "checkpoint.history.jsonl").unlink()
    with pytest.raises(ValueError, match=r"checkpoint.history.jsonl: missing, cut short, or not the history log"):
        read_history(tmp_path / "checkpoint.json")
    summary = _checkpoint(tmp_path / "checkpoint.json")["extra"]["history"]
    train(resume_run(tmp_path / "checkpoint.json", tmp_path, engine="numpy"), every=10)
    ours, theirs = _checkpoint(tmp_path / "checkpoint.json"), _checkpoint(straight / "checkpoint.json")
    assert ours["parameters"] == theirs["parameters"] and ours["extra"]["history"] == theirs["extra"]["history"]
    # What is left of the first 250 steps is the summary; every step after them is in the new log.
    assert read_history(tmp_path / "checkpoint.json") == summary + read_history(straight / "checkpoint.json")[250:]


def test_a_checkpoint_written_by_6da8dad_loads_and_resumes_without_losing_its_history(
    straight: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from micrograd.app.training import read_history

    # 6da8dad's Run.save: the whole history in extra.history, and no log.
    run = start_run(config(600), tmp_path, engine="numpy")
    for _ in run.steps():
        if run.step == 300:
            break
    checkpoint_module.save(tmp_path / "checkpoint.json", run.model, optimizer=run.optimizer, step=run.step,
                           extra={"config": dataclasses.asdict(run.config), "history": run.history},
                           scheduler=run.scheduler)
    assert read_history(tmp_path / "checkpoint.json") == run.history
    assert main(["predict", str(tmp_path / "checkpoint.json"), "0.5,-0.2"]) == 0
    train(resume_run(tmp_path / "checkpoint.json", tmp_path, engine="numpy"), every=10)
    assert_same_run(tmp_path, straight)  # its 300 records moved to the log, none lost


def test_a_hand_edited_log_entry_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train(start_run(config(20), tmp_path, engine="numpy"), every=10, until=10)
    path = tmp_path / "checkpoint.json"
    saved = _checkpoint(path)
    saved["extra"]["history_log"]["file"] = "../../etc/passwd"
    path.write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["train", "--resume", str(path), "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'extra.history_log' 'file' must be the name of a file beside" in err, err


def test_the_training_page_still_draws_every_step(tmp_path: Path, open_page: Any) -> None:
    pytest.importorskip("matplotlib")
    assert main(["demo", "--html", "--steps", "300", "--out", str(tmp_path)]) == 0
    page = open_page((tmp_path / "training.html").read_text(encoding="utf-8"))
    curve = page.evaluate("DATA.curve")
    assert [point["step"] for point in curve] == list(range(301))  # the page's history is the run's, not the summary
    assert len(_checkpoint(tmp_path / "checkpoint.json")["extra"]["history"]) < 300
