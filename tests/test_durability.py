"""A training run killed with SIGKILL at any moment leaves a checkpoint that loads and resumes."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from micrograd.app.checkpoint import load_checkpoint
from micrograd.app.cli import main

# Small and quick, saving after every step, so that a random kill often lands inside a save.
TRAIN = ["train", "--samples", "40", "--hidden", "4", "--batch-size", "8", "--schedule", "constant",
         "--checkpoint-every", "1", "--quiet", "--seed", "5"]
KILLS = 8


def _wait_for_first_checkpoint(path: Path, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, "the training process ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint after a minute"
        time.sleep(0.02)


@pytest.mark.parametrize("engine", ["eager", "numpy"])
def test_sigkill_at_random_moments_leaves_a_checkpoint_that_resumes(engine: str, tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    rng = random.Random(f"kills/{engine}")
    out = tmp_path / "run"
    checkpoint_path = out / "checkpoint.json"
    last_step = 0
    for kill in range(KILLS):
        # The first run starts fresh; every later one resumes from what the previous kill left.
        argv = TRAIN + ["--engine", engine, "--out", str(out), "--steps", "1000000"]
        if kill:
            argv += ["--resume", str(checkpoint_path)]
        process = subprocess.Popen([sys.executable, "-m", "micrograd", *argv],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_first_checkpoint(checkpoint_path, process)
            time.sleep(rng.uniform(0.05, 0.6))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        saved = load_checkpoint(checkpoint_path)  # raises CheckpointError if the kill damaged it
        assert saved["step"] >= last_step, "a kill lost steps that were already saved"
        last_step = saved["step"]
    assert last_step > 0

    # Resuming the final checkpoint completes, and lands exactly where an uninterrupted run does.
    target = last_step + 3
    assert main(TRAIN + ["--engine", engine, "--out", str(out), "--resume", str(checkpoint_path),
                         "--steps", str(target)]) == 0
    straight = tmp_path / "straight"
    assert main(TRAIN + ["--engine", engine, "--out", str(straight), "--steps", str(target)]) == 0
    resumed_file = json.loads(checkpoint_path.read_text())
    straight_file = json.loads((straight / "checkpoint.json").read_text())
    assert resumed_file["step"] == straight_file["step"] == target
    assert resumed_file["parameters"] == pytest.approx(straight_file["parameters"], rel=1e-12, abs=1e-12)
