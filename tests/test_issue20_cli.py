"""Issue 20, the command line and micrograd.gpt: what users hit (items 2, 4, 9, 10, 12 and 16)."""

from __future__ import annotations

import json
import os
import re
import selectors
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, run_cli, run_main
from micrograd import gpt

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper"]
TINY = {"n_embd": 4, "n_head": 1, "block_size": 8}


def tiny_checkpoint(path: Path, steps: int = 3) -> Path:
    training = gpt.Training.start(NAMES, steps, seed=3, **TINY)
    for _ in training.run():
        pass
    training.save(path)
    return path


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------
# Item 2: each kind of run its own default place; `gpt sample` reads what `gpt train` wrote
# ----------------------------------------------------------------------


def test_demo_train_and_gpt_train_keep_their_own_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "names.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    assert run_main(capsys, "demo", "--steps", "2", "--engine", "eager")[0] == 0
    assert run_main(capsys, "train", "--steps", "2", "--quiet", "--hidden", "3", "--seed", "5")[0] == 0
    code, printed, _ = run_main(capsys, "gpt", "train", "--data", "names.txt", "--steps", "2", "--samples", "4",
                                "--quiet", "--engine", "eager", "--n-embd", "4", "--n-head", "1")
    assert code == 0
    checkpoints = sorted(tmp_path.glob("micrograd-out/**/checkpoint.json"))
    assert len(checkpoints) == 3, checkpoints  # none replaced another
    kinds = sorted(json.loads(path.read_text(encoding="utf-8")).get("kind", "mlp") for path in checkpoints)
    assert kinds.count("gpt") == 1
    # The README's demo, then predict on its checkpoint: still the demo's MLP.
    code, out, err = run_main(capsys, "predict", "micrograd-out/checkpoint.json", "0.5,-0.2")
    assert code == 0 and out.startswith("class "), err
    # `gpt sample` with no checkpoint named reads gpt train's, and continues its stream: the same names.
    code, sampled, err = run_main(capsys, "gpt", "sample", "--num", "4")
    assert code == 0, err
    assert sampled == printed


def test_gpt_sample_without_a_run_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, "gpt", "sample")
    assert code == 2
    assert "micrograd gpt train" in one_error_line(err)


# ----------------------------------------------------------------------
# Item 4: a step of gpt.Training.run is all or nothing, whenever a KeyboardInterrupt comes
# ----------------------------------------------------------------------

# Where a step changes the run's state: the run, the optimizer, the numpy engine and its generated program.
_TRACED_FILES = {"training.py", "gpt.py", "optim.py", "<micrograd.compiler.gpt program>"}
_TRACED_FUNCTIONS = {"run", "_step", "step", "_apply", "zero_grad", "loss_and_grad"}


def _interrupt_at(event: int, action: Any) -> bool:
    """Run ``action`` with a KeyboardInterrupt raised at its ``event``-th traced opcode; True if it was raised."""
    seen = 0

    def local(frame: Any, what: str, arg: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen == event:
            raise KeyboardInterrupt
        return local

    def on_call(frame: Any, what: str, arg: Any) -> Any:
        code = frame.f_code
        if os.path.basename(code.co_filename) in _TRACED_FILES and code.co_name in _TRACED_FUNCTIONS:
            frame.f_trace_opcodes = True
            return local
        return None

    sys.settrace(on_call)
    try:
        action()
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
    return False


def _run_state(training: gpt.Training) -> tuple[Any, ...]:
    optimizer = training.optimizer
    if training._compiled is not None:
        training._compiled.sync()
    return (training.step, list(training.history), optimizer.step_count, training.scheduler.last_epoch,
            optimizer.lr, [p.data for p in optimizer.params], list(optimizer.exp_avg), list(optimizer.exp_avg_sq))


@pytest.mark.parametrize("engine", ["numpy", "eager"])
def test_an_interrupted_step_leaves_the_run_as_before_it(engine: str, tmp_path: Path) -> None:
    if engine == "numpy":
        pytest.importorskip("numpy")
    docs = ["ab", "ba", "abb", "b", "aab"]
    sizes = {"n_embd": 2, "n_head": 1, "block_size": 4}
    whole = gpt.train(docs, steps=60, seed=1, engine=engine, **sizes)
    training = gpt.Training.start(docs, 60, seed=1, engine=engine, **sizes)
    for _ in training.run(2):  # the first lengths are compiled before the interrupts
        pass
    interrupted = 0
    for event in range(1, 100_000, 7):  # every 7th opcode of a step, wherever it lands
        before = _run_state(training)
        if not _interrupt_at(event, lambda: next(training.run(1))):
            break  # the step finished before this opcode: every point of it has been tried
        interrupted += 1
        after = _run_state(training)
        # All or nothing: as before the step, or the whole step done (when the interrupt came after it).
        assert training.optimizer.step_count == training.step == training.scheduler.last_epoch == len(training.history)
        assert after == before or after[0] == before[0] + 1, f"interrupted at opcode {event}"
        if after == before:
            assert [p.grad for p in training.optimizer.params] == [0.0] * len(training.optimizer.params)
    assert interrupted > 50
    # The run goes on as if it had never been interrupted, and its checkpoint resumes.
    for _ in training.run(2):
        pass
    training.save(tmp_path / "run.json")
    resumed = gpt.Training.resume(tmp_path / "run.json", docs, engine=engine)
    for _ in resumed.run():
        pass
    assert resumed.history == whole.history
    assert resumed.model.state_dict() == whole.model.state_dict()


# ----------------------------------------------------------------------
# Item 9: extra.training.num_docs is bounded: no long stall, no MemoryError
# ----------------------------------------------------------------------


def _edit(path: Path, change: Any) -> None:
    saved = json.loads(path.read_text(encoding="utf-8"))
    change(saved["extra"]["training"])
    path.write_text(json.dumps(saved), encoding="utf-8")


def test_a_huge_num_docs_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "c.json")

    def huge_without_stream(info: dict[str, Any]) -> None:
        info["num_docs"] = 10**15
        info.pop("stream", None)

    _edit(path, huge_without_stream)
    # A replay of 10**15 draws would never end: the CPU limit stops it (SIGXCPU, not status 2).
    result = run_cli("gpt", "sample", str(path), "--num", "1", cpu_seconds=30, timeout=600)
    assert result.returncode == 2, result.stderr
    assert "num_docs" in one_error_line(result.stderr)


def test_a_saved_run_gives_its_stream_back_without_replaying_num_docs(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "c.json")
    expected = run_cli("gpt", "sample", str(path), "--num", "3")
    assert expected.returncode == 0, expected.stderr
    _edit(path, lambda info: info.update(num_docs=3 * 10**7))  # a replay of this took 52 s
    result = run_cli("gpt", "sample", str(path), "--num", "3", cpu_seconds=20, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected.stdout
    # The stored stream is the one a replay gives.
    loaded = gpt.load(tiny_checkpoint(tmp_path / "d.json"))
    replayed = gpt.checkpoint._sampling_rng(3, len(NAMES), loaded.config.num_parameters)
    assert loaded.rng is not None and loaded.rng.getstate() == replayed.getstate()


def test_resume_checks_num_docs_against_the_data(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "c.json")
    _edit(path, lambda info: info.update(num_docs=len(NAMES) + 1))
    with pytest.raises(gpt.CheckpointError, match="documents"):
        gpt.Training.resume(path, NAMES)


# ----------------------------------------------------------------------
# Item 10: a tiny temperature samples greedily, said in --help
# ----------------------------------------------------------------------


def _greedy(model: gpt.GPT) -> str:
    """The name made by always taking the likeliest next character, from the logits."""
    tokens = [model.bos]
    while len(tokens) <= model.config.block_size:  # generate draws at most block_size tokens
        logits = model.logits(tokens)[-1]
        best = max(range(len(logits)), key=logits.__getitem__)
        if best == model.bos:
            break
        tokens.append(best)
    return model.tokenizer.decode(tokens)


@pytest.mark.parametrize("temperature", ["1e-320", "5e-324", "1e-300"])
def test_a_tiny_temperature_samples_greedily(
    temperature: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tiny_checkpoint(tmp_path / "c.json", steps=20)
    code, out, err = run_main(capsys, "gpt", "sample", str(path), "--num", "3", "--temperature", temperature)
    assert code == 0, err
    greedy = _greedy(gpt.load(path))
    assert out.splitlines() == [f"sample {i:2d}: {greedy}" for i in (1, 2, 3)]
    (tmp_path / "names.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    code, out, err = run_main(capsys, "gpt", "train", "--data", str(tmp_path / "names.txt"), "--steps", "2",
                              "--samples", "2", "--quiet", "--temperature", temperature, "--out", str(tmp_path / "t"))
    assert code == 0, err
    assert len(out.splitlines()) == 2


def test_temperature_help_says_what_near_zero_means(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("sample", "train"):
        _, out, _ = run_main(capsys, "gpt", command, "--help")
        assert "greedy" in " ".join(out.split())
    code, _, err = run_main(capsys, "gpt", "sample", "x.json", "--temperature", "0")
    assert code == 2 and "1e-9" in one_error_line(err)


# ----------------------------------------------------------------------
# Item 12: --out a file, names as they come, --prefix -a
# ----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["train"], ["demo"], ["gpt", "train"]])
@pytest.mark.parametrize("where", ["afile", "afile/below"])
def test_out_naming_a_file_is_one_clear_line(
    command: list[str], where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("mine", encoding="utf-8")
    code, _, err = run_main(capsys, *command, "--out", str(tmp_path / where), "--steps", "1")
    assert code == 2
    line = one_error_line(err)
    assert "not a folder" in line and "Errno" not in line
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "mine"


def test_gpt_sample_prints_each_name_as_it_comes_and_ends_quietly_on_a_closed_pipe(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "c.json")
    command = [sys.executable, "-m", "micrograd", "gpt", "sample", str(path), "--num", "1000000"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=30), "no name within 30 s"
        first = proc.stdout.readline()
        assert re.fullmatch(r"sample  1: \S*\n", first), first
        proc.stdout.close()  # `| head -1`: the reader leaves
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr.read() == ""
    assert proc.returncode in (0, 141)


def test_a_dash_value_suggests_the_equals_spelling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "gpt", "sample", str(tmp_path / "c.json"), "--prefix", "-a")
    assert code == 2
    assert "--prefix=-a" in one_error_line(err)
    code, _, err = run_main(capsys, "train", "--dataset", "-x")
    assert code == 2 and "--dataset=-x" in one_error_line(err)


# ----------------------------------------------------------------------
# Item 16: tour is the guided start; explain --html picks a file name
# ----------------------------------------------------------------------


def test_tour_walks_the_lecture_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from micrograd.app.cli import engine_text

    code, out, _ = run_main(capsys, "tour")
    assert code == 0
    lines = out.splitlines()
    assert lines[-1] == engine_text()
    assert "grads: x1 -1.5000  w1 1.0000  x2 0.5000  w2 0.0000" in lines
    # The lecture's path, in its order.
    path = ["nudging", "Value", "graph", "chain rule", "backward rule per op", "Topological order",
            "tanh neuron", "MLP", "microgpt", "GPT at scale"]
    places = [out.find(step) for step in path]
    assert -1 not in places and places == sorted(places), dict(zip(path, places, strict=True))
    # Its numbers are the lecture's.
    def f(x: float) -> float:
        return 3 * x**2 - 4 * x + 5

    assert f"{(f(3.001) - f(3)) / 0.001:.4f}" in out
    assert "dL/da = dL/de * b = 6" in out and "dL/db = dL/de * a = -4" in out
    # The notebooks, every one in the folder, the lecture's first (nudging) first.
    listed = re.findall(r"\b(\d\d_\w+\.ipynb)", out)
    folder = sorted(p.name for p in (ROOT / "examples" / "notebooks").glob("*.ipynb"))
    assert sorted(listed) == folder
    assert listed[:3] == ["01_derivative_by_nudging.ipynb", "00_build_your_own_value.ipynb",
                          "02_value_and_expression_graph.ipynb"]
    assert listed[3:] == folder[3:]
    # The commands it points to work as printed.
    monkeypatch.chdir(tmp_path)
    commands = [line.strip() for line in lines if line.strip().startswith("micrograd ") and " --set " in line]
    assert any(" explain " in c and c.endswith("--html") for c in commands)
    assert any(" graph " in c for c in commands)
    for command in commands:
        code, printed, err = run_main(capsys, *shlex.split(command)[1:])
        assert code == 0, (command, err)
        assert "wrote " in printed
    assert (tmp_path / "micrograd-out" / "explain.html").is_file()


def test_explain_html_without_a_file_name_picks_one_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys, "explain", "tanh(x*w + b)", "--set", "x=2", "--set", "w=-3",
                              "--set", "b=6.88", "--html")
    assert code == 0, err
    written = re.search(r"wrote (\S+):", out)
    assert written is not None, out
    page = tmp_path / written.group(1)
    assert page.is_file() and "<html" in page.read_text(encoding="utf-8").lower()
