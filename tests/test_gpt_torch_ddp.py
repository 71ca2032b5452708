"""``torchrun --nproc_per_node 2 -m micrograd gpt train --engine torch``: two CPU processes (gloo), one run.

The reference is the same command in one process with the same global batch: the mean over the real
tokens of the whole batch, whichever process computed which documents.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from micrograd import gpt
from micrograd.app.cli import main

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():
    pytest.skip("this PyTorch has no torch.distributed", allow_module_level=True)

WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn", "zoe"]
FLAGS = ["--n-embd", "8", "--n-head", "2", "--block-size", "8", "--seed", "3", "--engine", "torch"]
# With OMP_NUM_THREADS set, torchrun prints no banner about it.
QUIET_TORCHRUN = {"OMP_NUM_THREADS": "1"}


def torchrun(processes: int, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "-m", "micrograd", *argv]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **QUIET_TORCHRUN, **(env or {})})


@pytest.fixture()
def words(tmp_path: Path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    return path


def history(path: Path) -> list[float]:
    saved = json.loads(path.read_text(encoding="utf-8"))
    return [entry["loss"] for entry in saved["extra"]["history"]]


@pytest.mark.parametrize("batch", [4, 5], ids=["even", "uneven"])
def test_two_processes_give_the_one_process_losses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path, batch: int
) -> None:
    argv = ["gpt", "train", "--data", str(words), *FLAGS, "--steps", "6", "--batch-size", str(batch),
            "--samples", "3"]
    process = torchrun(2, *argv, "--out", str(tmp_path / "two"))
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert main([*argv, "--quiet", "--out", str(tmp_path / "one")]) == 0
    one_out = capsys.readouterr().out
    ours, reference = history(tmp_path / "two" / "checkpoint.json"), history(tmp_path / "one" / "checkpoint.json")
    assert len(ours) == len(reference) == 6
    for step, (a, b) in enumerate(zip(ours, reference, strict=True), 1):
        assert abs(a - b) <= 1e-9 * abs(b), f"step {step}: 2 processes {a!r}, 1 process {b!r}"
    # Only rank 0 prints: one progress note, the final line, and the samples once.
    assert out == one_out
    assert err.count("2 processes") == 1 and "Traceback" not in err, err


def _rank_pids(marker: str) -> dict[int, int]:
    """The processes started with MICROGRAD_TEST_RUN=marker, by their RANK (read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        values = dict(item.split(b"=", 1) for item in environ if b"=" in item)
        if values.get(b"MICROGRAD_TEST_RUN") == marker.encode() and b"RANK" in values:
            found[int(values[b"RANK"])] = int(entry.name)
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks' processes through /proc")
def test_killing_a_rank_ends_the_run_in_one_line_and_keeps_the_checkpoint(tmp_path: Path, words: Path) -> None:
    marker = f"{os.getpid()}-{tmp_path.name}"
    path = tmp_path / "checkpoint.json"
    process = torchrun(2, "gpt", "train", "--data", str(words), *FLAGS, "--steps", "100000", "--batch-size", "2",
                       "--checkpoint-every", "20", "--quiet", "--out", str(tmp_path),
                       env={"MICROGRAD_TEST_RUN": marker})
    try:
        for _ in range(1200):  # up to 2 minutes for the first checkpoint on a busy machine
            if path.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        assert path.exists(), process.communicate(timeout=60)
        ranks = _rank_pids(marker)
        assert set(ranks) == {0, 1}, ranks
        os.kill(ranks[1], signal.SIGKILL)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0
    ours = [line for line in err.splitlines() if line.startswith("micrograd gpt")]  # torchrun says "micrograd FAILED"
    assert len(ours) == 1 and "another process" in ours[0] and str(path) in ours[0], err
    assert "File \"" + str(Path(gpt.__file__).parent) not in err  # no traceback of ours
    # The last checkpoint is whole: it loads, and the run resumes from it.
    saved = gpt.load_checkpoint(path)
    assert saved["step"] >= 20 and saved["step"] % 20 == 0
    resumed = gpt.Training.resume(path, WORDS, engine="torch")
    assert resumed.step == saved["step"] and resumed.batch_size == 2
