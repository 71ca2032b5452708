"""The `micrograd` command: demo, train, resume, predict, plot, and one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_cli
from micrograd.app.cli import main
from micrograd.app.training import TrainConfig, resume_run, start_run

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    raw = path.read_bytes()
    assert raw[:8] == PNG_SIGNATURE and raw[12:16] == b"IHDR"
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


def test_demo_writes_pictures_and_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--steps", "5"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith("accuracy ") and printed[-1].endswith("%")
    width, height = _png_size(tmp_path / "decision_boundary.png")
    assert width > 300 and height > 300
    _png_size(tmp_path / "training_curves.png")
    saved = json.loads((tmp_path / "checkpoint.json").read_text())
    assert saved["step"] == 5 and saved["model"]["nouts"] == [16, 16, 1]


def test_demo_reaches_full_accuracy_with_its_default_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "accuracy 100.0%"


def test_train_predict_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--dataset", "circles", "--steps", "5", "--hidden", "8", "--optimizer", "adam",
                 "--out", str(tmp_path), "--quiet"])
    assert code == 0
    ckpt = tmp_path / "checkpoint.json"
    assert json.loads(ckpt.read_text())["step"] == 5
    capsys.readouterr()
    assert main(["predict", str(ckpt), "0.1,0.2"]) == 0
    assert capsys.readouterr().out.startswith("class ")
    assert main(["plot", str(ckpt), "-o", str(tmp_path / "b.png")]) == 0
    _png_size(tmp_path / "b.png")


def test_train_multiclass_with_cross_entropy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--dataset", "spiral", "--samples", "60", "--steps", "3", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    assert json.loads((tmp_path / "checkpoint.json").read_text())["model"]["nouts"][-1] == 3
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "checkpoint.json"), "0.1,0.2"]) == 0
    assert "probabilities" in capsys.readouterr().out


def _params(path: Path) -> dict[str, float]:
    return json.loads(path.read_text())["parameters"]


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_resume_equals_an_uninterrupted_run(tmp_path: Path, schedule: str) -> None:
    config = dict(steps=8, batch_size=16, n_samples=60, optimizer="adam", lr=0.05, schedule=schedule, seed=4)
    whole = start_run(TrainConfig(**config), tmp_path / "whole")  # type: ignore[arg-type]
    for _ in whole.steps():
        pass
    whole.save()
    halves = start_run(TrainConfig(**config), tmp_path / "halves")  # type: ignore[arg-type]
    for _record in halves.steps():
        if halves.step == 3:
            break
    halves.save()
    resumed = resume_run(halves.checkpoint_path, tmp_path / "halves")
    for _ in resumed.steps():
        pass
    resumed.save()
    assert resumed.step == 8
    assert _params(resumed.checkpoint_path) == _params(whole.checkpoint_path)  # bit for bit


def test_cli_resume_to_more_steps_matches(tmp_path: Path) -> None:
    common = ["--schedule", "constant", "--batch-size", "10", "--optimizer", "sgd", "--lr", "0.3", "--quiet",
              "--samples", "50", "--seed", "9"]
    assert main(["train", *common, "--steps", "6", "--out", str(tmp_path / "a")]) == 0
    assert main(["train", *common, "--steps", "2", "--out", str(tmp_path / "b")]) == 0
    assert main(["train", "--resume", str(tmp_path / "b" / "checkpoint.json"), "--steps", "6",
                 "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert _params(tmp_path / "a" / "checkpoint.json") == _params(tmp_path / "b" / "checkpoint.json")


def _wait_for_progress(proc: subprocess.Popen[str], total: int) -> None:
    """Read the process's stderr until its progress bar shows a finished step (or fail after a minute)."""
    import re
    import select

    assert proc.stderr is not None
    seen = b""
    while not re.search(rb"\|\s*[1-9]\d*/" + str(total).encode(), seen):
        ready, _, _ = select.select([proc.stderr], [], [], 60)
        chunk = os.read(proc.stderr.fileno(), 4096) if ready else b""
        assert chunk, f"no progress from the run: {seen!r}"
        seen += chunk


def test_ctrl_c_saves_a_checkpoint_that_resumes(tmp_path: Path) -> None:
    # No checkpoint is due (--checkpoint-every 0): the one found afterwards is the one Ctrl-C saved.
    cmd = [sys.executable, "-m", "micrograd", "train", "--steps", "100000", "--out", str(tmp_path),
           "--checkpoint-every", "0", "--samples", "40", "--hidden", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_progress(proc, 100000)  # training has begun, however long the start took
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    saved = json.loads((tmp_path / "checkpoint.json").read_text())
    assert 0 < saved["step"] < 100000
    assert main(["train", "--resume", str(tmp_path / "checkpoint.json"), "--steps", str(saved["step"] + 2),
                 "--out", str(tmp_path), "--quiet"]) == 0
    assert json.loads((tmp_path / "checkpoint.json").read_text())["step"] == saved["step"] + 2


BAD_COMMANDS = [
    (["train", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["train", "--lr", "-0.1"], "--lr: must be positive"),
    (["train", "--lr", "abc"], "--lr: expected a number"),
    (["train", "--hidden", "16,0"], "hidden sizes must be at least 1"),
    (["train", "--steps", "0"], "--steps: must be at least 1"),
    (["train", "--dataset", "csv:/no/such/file.csv"], "/no/such/file.csv"),
    (["train", "--dataset", "spiral", "--loss", "hinge", "--samples", "30"], "needs two classes"),
    (["train", "--resume", "/no/such/ckpt.json"], "/no/such/ckpt.json"),
    (["predict", "/no/such/ckpt.json", "1,2"], "/no/such/ckpt.json"),
    (["plot", "/no/such/ckpt.json"], "/no/such/ckpt.json"),
    (["demo", "--steps", "-3"], "--steps: must be at least 1"),
    (["frobnicate"], "invalid choice"),
    (["train", "--dataset", "spiral", "--engine", "numpy", "--samples", "30"],
     "engine 'numpy' supports the losses hinge, bce, mse, not 'ce'"),
    (["demo", "--engine", "gpu"], "invalid choice: 'gpu'"),
    (["train", "--lr", "1e300", "--steps", "20"], "training diverged at step 2: the loss is nan; lower --lr"),
]


@pytest.mark.parametrize("argv,message", BAD_COMMANDS, ids=[" ".join(a) for a, _ in BAD_COMMANDS])
def test_bad_input_is_one_line_and_status_2(argv: list[str], message: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(argv + (["--out", str(tmp_path)] if argv[0] == "train" else [])))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    shown = _terminal_lines(err)
    assert len(shown) == 1, err
    assert message in shown[0] and "Traceback" not in err


def _terminal_lines(text: str) -> list[str]:
    """The lines a terminal shows for ``text``: a progress bar redraws its line after a carriage return,
    and clears it when it closes, so only what follows the last one on each line stays."""
    return [line.rpartition("\r")[2] for line in text.split("\n") if line.rpartition("\r")[2].strip()]


def test_terminal_lines_keep_what_a_terminal_shows() -> None:
    bar_then_error = "\rtraining:   5%|5| 1/20\r                \rmicrograd train: error: x\n"
    assert _terminal_lines(bar_then_error) == ["micrograd train: error: x"]
    assert _terminal_lines("\rtraining:   5%|5| 1/20micrograd train: error: x\n") == [
        "training:   5%|5| 1/20micrograd train: error: x"]  # an error written over an open bar is caught


def test_corrupt_checkpoint_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--steps", "2"]) == 0
    ckpt = tmp_path / "checkpoint.json"
    ckpt.write_text(ckpt.read_text()[:200])  # truncated
    capsys.readouterr()
    resume = ["train", "--resume", str(ckpt), "--out", str(tmp_path)]
    for argv in (["predict", str(ckpt), "1,2"], ["plot", str(ckpt)], resume):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and str(ckpt) in err


def test_predict_with_wrong_number_of_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--steps", "1"]) == 0
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "checkpoint.json"), "1,2,3"]) == 2
    assert "takes 2 inputs, got 3" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "checkpoint.json"), "1,x"]) == 2


def test_python_dash_m_runs_the_cli() -> None:
    result = run_cli("tour")
    assert result.returncode == 0, result.stderr
    assert "x1 -1.5000" in result.stdout


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`micrograd demo | head -1`: the reader leaves early; no traceback, no error line."""
    cmd = [sys.executable, "-m", "micrograd", "demo", "--steps", "1", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.close()  # before the demo prints anything: its first print hits a closed pipe
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == "", err


@pytest.mark.parametrize("command", ["explain_html", "graph_svg", "graph_dot"])
def test_a_failed_write_leaves_the_earlier_file_whole(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing the user saved is lost: a write that fails half way (here, the disk refusing the
    # sync) must leave the earlier page or picture as it was, and no temporary file beside it.
    import micrograd._files

    suffix = {"explain_html": ".html", "graph_svg": ".svg", "graph_dot": ".dot"}[command]
    target = tmp_path / f"saved{suffix}"
    target.write_text("the earlier file", encoding="utf-8")

    def refuse(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(micrograd._files.os, "fsync", refuse)
    if command == "explain_html":
        argv = ["explain", "x*2", "--set", "x=1", "--html", str(target)]
    else:
        argv = ["graph", "x*2", "--set", "x=1", "-o", str(target)]
    assert main(argv) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "the earlier file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def _warning_handler(category: type[Warning], text: str) -> object:
    """A command handler that warns twice with ``text`` (as an old spelling does) and succeeds."""
    import warnings

    def handler(args: object) -> int:
        for _ in range(2):  # the same notice from the same place: shown once
            warnings.warn(text, category, stacklevel=1)
        print("done")
        return 0

    return handler


@pytest.mark.parametrize(
    ("module", "handler", "argv", "name"),
    [
        ("micrograd.app.cli", "_cmd_tour", ["tour"], "micrograd tour"),
        ("micrograd.app.gpt_command", "sample_command", ["gpt", "sample"], "micrograd gpt sample"),
    ],
)
def test_a_future_warning_is_one_note_line_named_by_the_command(
    module: str, handler: str, argv: list[str], name: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import importlib

    text = "--thing 'old' is now called 'new'; the old name works until micrograd 1.2\n(a second line)"
    monkeypatch.setattr(importlib.import_module(module), handler, _warning_handler(FutureWarning, text))
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == "done\n"
    assert captured.err == f"{name}: note: --thing 'old' is now called 'new'; the old name works until micrograd 1.2\n"


def test_under_torchrun_only_rank_0_prints_the_note(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import micrograd.app.gpt_command as gpt_command

    text = "--engine 'compiled' is now called 'numpy'; the old name works until micrograd 1.2"
    monkeypatch.setattr(gpt_command, "sample_command", _warning_handler(FutureWarning, text))
    for rank, expected in (("1", ""), ("0", f"micrograd gpt sample: note: {text}\n")):
        monkeypatch.setenv("RANK", rank)
        assert main(["gpt", "sample"]) == 0
        assert capsys.readouterr().err == expected, f"rank {rank}"


def test_other_warnings_are_left_to_python(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import micrograd.app.cli as cli

    monkeypatch.setattr(cli, "_cmd_tour", _warning_handler(UserWarning, "something else"))
    with pytest.warns(UserWarning, match="something else"):  # reaches the warnings machinery, not a note
        assert main(["tour"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_the_old_engine_word_in_a_real_process_is_one_note_line(tmp_path: Path) -> None:
    done = run_cli("train", "--steps", "2", "--samples", "20", "--quiet", "--out", str(tmp_path), "--engine", "batched")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("micrograd train: note: --engine 'batched' is now called 'numpy'; "
                           "the old name works until micrograd 1.2\n")
