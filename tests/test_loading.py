"""One way to load: ``micrograd.load`` reads every checkpoint this project writes, ``micrograd.nn.load`` and
``micrograd.gpt.load`` one kind each, one CheckpointError, and each command says which one reads the other kind."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import micrograd
import micrograd.app.checkpoint as app_checkpoint
import micrograd.gpt.checkpoint as gpt_checkpoint
from helpers import ROOT, run_python, seeded_mlp
from micrograd import gpt, nn
from micrograd.app.cli import main

TINY_GPT = gpt.GPTConfig(vocab_size=3, n_embd=4, n_head=2, n_layer=1, block_size=4)


@pytest.fixture
def mlp_file(tmp_path: Path) -> tuple[Path, nn.MLP]:
    model: nn.MLP = seeded_mlp(5, 2, [3, 3, 1], activation="tanh", output_activation="sigmoid")
    path = tmp_path / "mlp.json"
    app_checkpoint.save(path, model, step=7, extra={"note": "written by the app's save"})
    return path, model


@pytest.fixture
def gpt_file(tmp_path: Path) -> tuple[Path, gpt.GPT]:
    model = gpt.GPT(TINY_GPT, ["a", "b"], rng=random.Random(3))
    path = tmp_path / "gpt.json"
    gpt.save(model, path)
    return path, model


def test_there_is_one_checkpoint_error() -> None:
    classes = {micrograd.CheckpointError, nn.CheckpointError, app_checkpoint.CheckpointError,
               gpt.CheckpointError, gpt_checkpoint.CheckpointError}
    assert len(classes) == 1
    assert issubclass(micrograd.CheckpointError, ValueError)


def test_micrograd_load_and_nn_load_give_the_saved_mlp(mlp_file: tuple[Path, nn.MLP]) -> None:
    path, saved = mlp_file
    point = [0.3, -1.2]
    expected = saved(point)
    assert isinstance(expected, micrograd.Value)
    for loader in (micrograd.load, nn.load, app_checkpoint.load_model):
        before = random.getstate()
        model = loader(path)
        assert random.getstate() == before  # building the MLP draws weights; loading must not use them up
        assert isinstance(model, nn.MLP)
        assert (model.nin, model.nouts, model.activation, model.output_activation) == (2, [3, 3, 1], "tanh", "sigmoid")
        assert model.state_dict() == saved.state_dict()  # every float exactly
        out = model(point)
        assert isinstance(out, micrograd.Value) and out.data == expected.data


def test_micrograd_load_gives_the_saved_gpt(gpt_file: tuple[Path, gpt.GPT]) -> None:
    path, saved = gpt_file
    for loader in (micrograd.load, gpt.load):
        model = loader(path)
        assert isinstance(model, gpt.GPT)
        assert model.config == saved.config and model.chars == saved.chars
        assert model.state_dict() == saved.state_dict()
        assert model.generate(4, seed=1) == saved.generate(4, seed=1)


def test_micrograd_load_of_a_trained_gpt_continues_its_random_stream(tmp_path: Path) -> None:
    training = gpt.train(["ab", "ba", "aab"], steps=2, seed=4, n_embd=4, n_head=2, block_size=4)
    path = tmp_path / "run.json"
    training.save(path)
    expected = gpt.load(path).generate(3)
    loaded = micrograd.load(path)
    assert isinstance(loaded, gpt.GPT)
    assert loaded.generate(3) == expected


def test_each_reader_names_the_command_for_the_other_kind(mlp_file: tuple[Path, nn.MLP],
                                                         gpt_file: tuple[Path, gpt.GPT]) -> None:
    with pytest.raises(micrograd.CheckpointError, match=r"this is a GPT checkpoint .*: micrograd gpt sample reads it"):
        nn.load(gpt_file[0])
    with pytest.raises(micrograd.CheckpointError,
                       match=r"this is an MLP checkpoint .*: micrograd predict and micrograd plot read it"):
        gpt.load(mlp_file[0])


@pytest.mark.parametrize("kind", ["cnn", 3, None])
def test_an_unknown_kind_is_refused_by_every_reader(kind: object, mlp_file: tuple[Path, nn.MLP]) -> None:
    data = json.loads(mlp_file[0].read_text(encoding="utf-8"))
    data["kind"] = kind
    mlp_file[0].write_text(json.dumps(data), encoding="utf-8")
    if kind is None:  # "kind": null is what a missing kind reads as: an MLP's
        assert micrograd.load(mlp_file[0]).state_dict() == mlp_file[1].state_dict()
        return
    for loader in (micrograd.load, nn.load, gpt.load):
        with pytest.raises(micrograd.CheckpointError, match=rf"'kind' is {kind!r}; this micrograd reads 'gpt'"):
            loader(mlp_file[0])


def test_micrograd_load_refuses_what_is_no_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        micrograd.load(tmp_path / "missing.json")
    (tmp_path / "half.json").write_text('{"format": "micrograd-checkpoint", "version": 1', encoding="utf-8")
    with pytest.raises(micrograd.CheckpointError, match=r"half\.json.*looks truncated"):
        micrograd.load(tmp_path / "half.json")
    (tmp_path / "other.json").write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(micrograd.CheckpointError, match="this is not a micrograd checkpoint"):
        micrograd.load(tmp_path / "other.json")


@pytest.mark.parametrize("path", [None, 3, ["model.json"]])
def test_a_path_that_is_no_path_is_a_type_error_naming_the_reader(path: object) -> None:
    for loader, name in ((micrograd.load, "micrograd.load"), (nn.load, "micrograd.nn.load"),
                         (gpt.load, "micrograd.gpt.load")):
        with pytest.raises(TypeError, match=rf"^{name}: path must be a str or os.PathLike, got {type(path).__name__}$"):
            loader(path)  # type: ignore[arg-type]


def test_a_gpt_shaped_mlp_checkpoint_is_still_checked_as_an_mlp(mlp_file: tuple[Path, nn.MLP]) -> None:
    data = json.loads(mlp_file[0].read_text(encoding="utf-8"))
    data["model"]["nouts"] = [3, 1]
    mlp_file[0].write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(micrograd.CheckpointError, match=r"2 -> \[3, 1\] has 13 parameters, the file 25"):
        micrograd.load(mlp_file[0])


@pytest.mark.parametrize("command", [["predict", "{path}", "0.5,-0.2"], ["plot", "{path}", "-o", "{out}"]])
def test_predict_and_plot_given_a_gpt_checkpoint_say_which_command_reads_it(
    command: list[str], gpt_file: tuple[Path, gpt.GPT], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [word.format(path=gpt_file[0], out=tmp_path / "b.png") for word in command]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"micrograd {command[0]}: error: checkpoint {str(gpt_file[0])!r}: this is a GPT checkpoint ('kind' is "
        "'gpt'): micrograd gpt sample reads it"
    ]
    assert not (tmp_path / "b.png").exists()


def test_gpt_sample_given_an_mlp_checkpoint_says_which_commands_read_it(
    mlp_file: tuple[Path, nn.MLP], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gpt", "sample", str(mlp_file[0])]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("micrograd gpt sample: ")
    assert lines[0].endswith("this is an MLP checkpoint (it has no 'kind'): micrograd predict and micrograd plot "
                             "read it")


def test_micrograd_load_needs_no_app_and_no_layer(mlp_file: tuple[Path, nn.MLP],
                                                  gpt_file: tuple[Path, gpt.GPT]) -> None:
    # A fresh process: what loading imports is what a user's program pays for.
    script = (
        "import sys, micrograd\n"
        "print('micrograd._files' in sys.modules, 'micrograd.gpt' in sys.modules)\n"
        f"mlp = micrograd.load({str(mlp_file[0])!r})\n"
        f"model = micrograd.load({str(gpt_file[0])!r})\n"
        "print(type(mlp).__name__, type(model).__name__)\n"
        "layers = ('micrograd.app', 'micrograd.viz', 'micrograd.compiler')\n"
        "print(sorted(m for m in sys.modules if m.startswith(layers)))\n"
    )
    done = run_python(script, cwd=ROOT)
    # `import micrograd` reads no files yet and loads no GPT: the engine alone starts as quickly as before.
    assert done.stdout.splitlines() == ["False False", "MLP GPT", "[]"]
    assert done.stderr == ""
