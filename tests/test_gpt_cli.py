"""``micrograd gpt train`` and ``micrograd gpt sample``: output, checkpoints, resume, and every bad input."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import run_cli, run_main
from micrograd import gpt
from micrograd.datasets import names_path

WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn"]
SMALL = ["--n-embd", "8", "--n-head", "2", "--block-size", "8", "--seed", "3"]


def names_of(out: str) -> list[str]:
    lines = out.splitlines()
    assert all(line.startswith("sample ") for line in lines), out
    return [line.split(": ", 1)[1] if ": " in line else "" for line in lines]


@pytest.fixture()
def words(tmp_path: Path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    return path


def test_train_prints_the_names_the_library_draws(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path
) -> None:
    out_dir = tmp_path / "run"
    code, out, err = run_main(capsys, "gpt", "train", "--data", str(words), "--steps", "6", *SMALL,
                              "--samples", "5", "--out", str(out_dir), "--quiet", "--engine", "eager")
    assert code == 0 and err == ""
    expected = gpt.train(WORDS, steps=6, seed=3, n_embd=8, n_head=2, block_size=8)
    assert out.splitlines() == [f"sample {i:2d}: {name}" for i, name in enumerate(expected.model.generate(5), 1)]
    saved = json.loads((out_dir / "checkpoint.json").read_text(encoding="utf-8"))
    assert saved["format"] == "micrograd-checkpoint" and saved["kind"] == "gpt" and saved["step"] == 6
    assert saved["extra"]["history"] == expected.history  # every step, full precision
    # gpt sample continues the run's random stream: the same names as train printed.
    code, again, _ = run_main(capsys, "gpt", "sample", str(out_dir / "checkpoint.json"), "--num", "5")
    assert code == 0 and again == out


def test_train_notes_progress_on_stderr_unless_quiet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path
) -> None:
    code, out, err = run_main(capsys, "gpt", "train", "--data", str(words), "--steps", "3", *SMALL,
                              "--samples", "2", "--out", str(tmp_path))
    assert code == 0 and len(out.splitlines()) == 2
    assert "10 documents" in err and "step 3 / 3" in err and "checkpoint.json" in err


def test_default_data_is_the_shipped_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert names_path().read_text(encoding="utf-8").splitlines()[:3] == ["emma", "olivia", "ava"]
    assert (names_path().parent / "LICENSE-names.txt").exists()
    code, out, _ = run_main(capsys, "gpt", "train", "--steps", "1", "--samples", "2", "--quiet", "--out", str(tmp_path))
    assert code == 0 and len(names_of(out)) == 2
    saved = json.loads((tmp_path / "checkpoint.json").read_text(encoding="utf-8"))
    assert saved["extra"]["training"]["num_docs"] == 32033  # as microgpt.py counts them
    assert len(saved["vocabulary"]) == 26


@pytest.mark.parametrize("engine", ["eager", "numpy"])
def test_resume_continues_exactly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path, engine: str
) -> None:
    if engine == "numpy":
        pytest.importorskip("numpy")
    argv = ["gpt", "train", "--data", str(words), "--steps", "8", *SMALL, "--samples", "4", "--quiet"]
    code, whole, _ = run_main(capsys, *argv, "--out", str(tmp_path / "whole"), "--engine", engine)
    assert code == 0
    # A run stopped after 5 steps, saved as the command saves it, then resumed by the command.
    partial = gpt.Training.start(WORDS, 8, seed=3, n_embd=8, n_head=2, block_size=8, engine=engine)
    for _ in partial.run(5):
        pass
    (tmp_path / "part").mkdir()
    partial.save(tmp_path / "part" / "checkpoint.json", extra={"data": str(words)})
    code, resumed, _ = run_main(capsys, "gpt", "train", "--resume", str(tmp_path / "part" / "checkpoint.json"),
                                "--samples", "4", "--quiet", "--engine", engine)
    assert code == 0 and resumed == whole
    a = json.loads((tmp_path / "whole" / "checkpoint.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "part" / "checkpoint.json").read_text(encoding="utf-8"))
    assert a["extra"]["history"] == b["extra"]["history"] and a["parameters"] == b["parameters"]


def test_the_numpy_engine_trains_the_eager_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path
) -> None:
    pytest.importorskip("numpy")
    argv = ["gpt", "train", "--data", str(words), "--steps", "12", *SMALL, "--samples", "8", "--quiet"]
    outputs, histories, errors = [], [], []
    for engine in ("eager", "numpy", "auto", "compiled"):
        code, out, err = run_main(capsys, *argv, "--engine", engine, "--out", str(tmp_path / engine))
        assert code == 0
        outputs.append(out)
        errors.append(err)
        saved = json.loads((tmp_path / engine / "checkpoint.json").read_text(encoding="utf-8"))
        histories.append(saved["extra"]["history"])
    assert outputs[0] == outputs[1] == outputs[2] == outputs[3]
    for a, b in zip(histories[0], histories[1], strict=True):
        assert a["step"] == b["step"] and a["loss"] == pytest.approx(b["loss"], rel=1e-13)
    assert histories[1] == histories[2] == histories[3]  # auto is numpy when numpy is there; so is the old name
    assert errors[:3] == ["", "", ""]
    # The old name works for one release, with one line saying so (not a Python warning dump), even with --quiet.
    assert errors[3].count("\n") == 1, errors[3]
    assert errors[3].startswith("micrograd gpt train: note: --engine 'compiled' is now called 'numpy'"), errors[3]


def test_the_training_api_takes_the_old_engine_name_with_a_future_warning() -> None:
    pytest.importorskip("numpy")
    with pytest.warns(FutureWarning, match="'compiled' is now called 'numpy'"):
        training = gpt.Training.start(WORDS, 2, seed=3, n_embd=8, n_head=2, block_size=8, engine="compiled")
    assert training.engine == "numpy"
    assert gpt.Training.start(WORDS, 2, engine="auto").engine == "numpy"
    with pytest.raises(ValueError, match="engine must be one of eager, numpy, torch, auto"):
        gpt.Training.start(WORDS, 2, engine="fast")


def test_checkpoint_every_n_steps(capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path) -> None:
    code, _, _ = run_main(capsys, "gpt", "train", "--data", str(words), "--steps", "4", *SMALL, "--samples", "0",
                          "--checkpoint-every", "2", "--quiet", "--out", str(tmp_path))
    assert code == 0
    assert json.loads((tmp_path / "checkpoint.json").read_text(encoding="utf-8"))["step"] == 4


def test_sample_with_seed_prefix_and_temperature(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path
) -> None:
    run_main(capsys, "gpt", "train", "--data", str(words), "--steps", "3", *SMALL, "--samples", "0", "--quiet",
             "--out", str(tmp_path))
    ckpt = str(tmp_path / "checkpoint.json")
    code, first, _ = run_main(capsys, "gpt", "sample", ckpt, "--num", "6", "--seed", "9", "--prefix", "em",
                              "--temperature", "0.9")
    code2, second, _ = run_main(capsys, "gpt", "sample", ckpt, "--num", "6", "--seed", "9", "--prefix", "em",
                                "--temperature", "0.9")
    assert code == code2 == 0 and first == second
    assert len(names_of(first)) == 6 and all(name.startswith("em") for name in names_of(first))


def _bad(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run_main(capsys, *argv)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("flags", "words_in_message"),
    [
        (["--n-embd", "6", "--n-head", "4"], ["--n-embd", "divisible", "--n-head"]),
        (["--n-embd", "0"], ["--n-embd"]),
        (["--n-head", "-2"], ["--n-head"]),
        (["--n-layer", "0"], ["--n-layer"]),
        (["--block-size", "0"], ["--block-size"]),
        (["--steps", "0"], ["--steps"]),
        (["--steps", "-5"], ["--steps"]),
        (["--steps", "ten"], ["--steps"]),
        (["--lr", "0"], ["--lr"]),
        (["--temperature", "-1"], ["--temperature"]),
        (["--samples", "-1"], ["--samples"]),
        (["--engine", "fast"], ["--engine"]),
    ],
)
def test_bad_train_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path, flags: list[str], words_in_message: list[str]
) -> None:
    err = _bad(capsys, "gpt", "train", "--data", str(words), "--out", str(tmp_path), *flags)
    for word in words_in_message:
        assert word in err
    assert not (tmp_path / "checkpoint.json").exists()


def test_missing_and_empty_data_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _bad(capsys, "gpt", "train", "--data", str(tmp_path / "nope.txt"), "--out", str(tmp_path))
    assert "nope.txt" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    assert "empty" in _bad(capsys, "gpt", "train", "--data", str(empty), "--out", str(tmp_path))
    assert "directory" in _bad(capsys, "gpt", "train", "--data", str(tmp_path), "--out", str(tmp_path / "o"))


def test_prefix_outside_the_vocabulary(capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path) -> None:
    run_main(capsys, "gpt", "train", "--data", str(words), "--steps", "1", *SMALL, "--samples", "0", "--quiet",
             "--out", str(tmp_path))
    err = _bad(capsys, "gpt", "sample", str(tmp_path / "checkpoint.json"), "--prefix", "Zo")
    assert "--prefix" in err and "'Z'" in err
    assert "block size" in _bad(capsys, "gpt", "sample", str(tmp_path / "checkpoint.json"), "--prefix", "a" * 9)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{",
        '{"format": "micrograd-checkpoint", "version": 1, "kind": "gpt"}',
        '{"format": "micrograd-checkpoint", "version": 1, "model": {"type": "MLP"}}',
        "[]",
        "\x00\xff",
    ],
)
def test_corrupt_checkpoints(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_text(content, encoding="latin-1")
    assert "checkpoint" in _bad(capsys, "gpt", "sample", str(path))
    assert "checkpoint" in _bad(capsys, "gpt", "train", "--resume", str(path), "--out", str(tmp_path / "o"))
    assert "no such file" in _bad(capsys, "gpt", "sample", str(tmp_path / "missing.json"))


def test_a_truncated_real_checkpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path) -> None:
    run_main(capsys, "gpt", "train", "--data", str(words), "--steps", "1", *SMALL, "--samples", "0", "--quiet",
             "--out", str(tmp_path))
    path = tmp_path / "checkpoint.json"
    path.write_text(path.read_text(encoding="utf-8")[:500], encoding="utf-8")
    assert "truncated" in _bad(capsys, "gpt", "sample", str(path))


def test_resume_refuses_other_settings_and_other_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path
) -> None:
    run_main(capsys, "gpt", "train", "--data", str(words), "--steps", "2", *SMALL, "--samples", "0", "--quiet",
             "--out", str(tmp_path))
    ckpt = str(tmp_path / "checkpoint.json")
    assert "--n-embd 16 differs" in _bad(capsys, "gpt", "train", "--resume", ckpt, "--n-embd", "16")
    other = tmp_path / "other.txt"
    other.write_text("\n".join(reversed(WORDS)) + "\nzed\n", encoding="utf-8")
    assert "other documents" in _bad(capsys, "gpt", "train", "--resume", ckpt, "--data", str(other))


def test_the_installed_command_runs(tmp_path: Path, words: Path) -> None:
    result = run_cli("gpt", "train", "--data", str(words), "--steps", "2", *SMALL, "--samples", "3", "--quiet",
                     "--out", str(tmp_path))
    assert result.returncode == 0 and result.stderr == ""
    assert len(names_of(result.stdout)) == 3
    bad = run_cli("gpt", "train", "--n-embd", "6", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stdout == ""


# ----------------------------------------------------------------------
# --html: one self-contained page, looked at in Chromium
# ----------------------------------------------------------------------

def test_html_page_of_a_run_main(capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path) -> None:
    code, out, _ = run_main(capsys, "gpt", "train", "--data", str(words), "--steps", "10", *SMALL, "--samples", "3",
                            "--html", "--quiet", "--out", str(tmp_path), "--engine", "eager")
    assert code == 0 and len(names_of(out)) == 3
    page = (tmp_path / "gpt.html").read_text(encoding="utf-8")
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    saved = json.loads((tmp_path / "checkpoint.json").read_text(encoding="utf-8"))
    snapshots = saved["extra"]["samples_over_training"]
    assert [s["step"] for s in snapshots] == list(range(11))  # the untrained model, then every step of 10
    # A resumed run keeps the snapshots it had.
    partial = gpt.Training.start(WORDS, 10, seed=3, n_embd=8, n_head=2, block_size=8)
    for _ in partial.run(4):
        pass
    partial.save(tmp_path / "p.json", extra={"data": str(words), "samples_over_training": snapshots[:5]})
    code, _, _ = run_main(capsys, "gpt", "train", "--resume", str(tmp_path / "p.json"), "--samples", "3", "--html",
                          "--quiet", "--out", str(tmp_path / "resumed"), "--engine", "eager")
    assert code == 0
    resumed = json.loads((tmp_path / "resumed" / "checkpoint.json").read_text(encoding="utf-8"))
    assert resumed["extra"]["samples_over_training"] == snapshots
    assert (tmp_path / "resumed" / "gpt.html").read_text(encoding="utf-8") == page


def test_html_page_in_chromium(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path, chromium: Any
) -> None:
    code, _, _ = run_main(capsys, "gpt", "train", "--data", str(words), "--steps", "12", *SMALL, "--n-layer", "2",
                          "--samples", "3", "--html", "--quiet", "--out", str(tmp_path))
    assert code == 0
    model = gpt.load(tmp_path / "checkpoint.json")
    errors: list[str] = []
    page = chromium.new_page(viewport={"width": 1300, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((tmp_path / "gpt.html").as_uri())
    # The loss: one point per step, raw and running mean.
    assert page.locator("#loss polyline.loss-raw").get_attribute("points").count(",") == 12
    assert page.locator("#samples tr").count() == 13  # step 0, then 1..12
    # The heat maps of the first name: 2 layers x 2 heads, each a triangle of T(T+1)/2 cells.
    first = page.locator("#name option").first.text_content()
    length = min(len(first) + 1, 8)
    assert page.locator("table.map").count() == 4
    assert page.locator("td.cell").count() == 4 * length * (length + 1) // 2
    # Each row of a map sums to 1, and the cells are the model's own weights.
    weights = model.attention_weights(first)
    cell = page.locator("table.map").nth(1).locator("tr").nth(length).locator("td.cell").last
    assert float(cell.get_attribute("data-weight")) == pytest.approx(weights[0][length - 1][1][length - 1])
    page.screenshot(path=str(tmp_path / "gpt-page.png"), full_page=True)
    # Choosing another name redraws the maps for it.
    options = page.locator("#name option")
    last = options.nth(options.count() - 1).text_content()
    page.locator("#name").select_option(index=options.count() - 1)
    tokens = page.locator("table.map").first.locator("tr").first.locator("th").all_text_contents()[1:]
    assert "".join(tokens[1:]) == last[: 7]
    page.close()
    assert errors == []


def test_the_numpy_engine_asks_for_one_blas_thread_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    from micrograd.app import gpt_command

    environ: dict[str, str] = {}
    monkeypatch.setattr(os, "environ", environ)  # the process's own environment is left alone
    monkeypatch.setitem(sys.modules, "numpy", sys.modules.get("numpy"))
    gpt_command._one_blas_thread()  # numpy already loaded its BLAS: too late to ask, nothing set
    assert environ == {}
    monkeypatch.delitem(sys.modules, "numpy", raising=False)
    environ["OMP_NUM_THREADS"] = "4"
    gpt_command._one_blas_thread()  # the user's choice stands
    assert environ == {"OMP_NUM_THREADS": "4"}
    del environ["OMP_NUM_THREADS"]
    gpt_command._one_blas_thread()
    assert environ == {"OPENBLAS_NUM_THREADS": "1"}
