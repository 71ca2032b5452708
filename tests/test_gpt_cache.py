"""The GPT's recorded plan kept between runs (micrograd.compiler.gpt_cache): read back, checked, not trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")

from micrograd import gpt  # noqa: E402
from micrograd.compiler import gpt as compiler_gpt  # noqa: E402
from micrograd.compiler import gpt_cache  # noqa: E402
from micrograd.ops import OPS, defop  # noqa: E402

DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "charlotte", "amelia"]
SIZES = {"n_embd": 8, "n_head": 2, "n_layer": 1, "block_size": 8}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MICROGRAD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run(steps: int = 6, **sizes: int) -> gpt.Training:
    training = gpt.Training.start(DOCS, steps, seed=3, engine="numpy", **{**SIZES, **sizes})
    for _ in training.run():
        pass
    return training


def no_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(model: Any) -> Any:
        raise AssertionError("recorded, though a plan was kept")

    monkeypatch.setattr(compiler_gpt, "record_model", refuse)


def test_a_second_run_reads_the_plan_and_gives_the_same_losses(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run()
    (kept,) = folder.glob("gpt-plan-*.npz")
    no_recording(monkeypatch)
    second = run()
    assert second.losses == first.losses  # the same programs: bit for bit
    eager = gpt.Training.start(DOCS, 6, seed=3, **SIZES)
    for _ in eager.run():
        pass
    assert second.losses == pytest.approx(eager.losses, rel=1e-12)
    assert second.model.generate(5) == eager.model.generate(5)
    assert list(folder.glob("gpt-plan-*.npz")) == [kept]


def test_other_sizes_have_a_plan_of_their_own(folder: Path) -> None:
    run()
    run(n_embd=4)
    assert len(list(folder.glob("gpt-plan-*.npz"))) == 2


def test_a_kept_plan_that_computes_otherwise_is_caught_by_the_first_step(folder: Path) -> None:
    first = run()
    (kept,) = folder.glob("gpt-plan-*.npz")
    with np.load(kept) as stored:
        arrays = {name: stored[name] for name in stored.files}
    right = arrays["leaf_param_index"]
    arrays["leaf_param_index"] = right[::-1].copy()  # every parameter read from the wrong place
    np.savez(kept, **arrays)
    second = run()
    assert second.losses == first.losses  # recorded again after the first step's check
    with np.load(next(folder.glob("gpt-plan-*.npz"))) as stored:
        assert stored["leaf_param_index"].tolist() == right.tolist()  # and kept anew


def test_a_wrong_plan_that_cannot_be_deleted_is_not_read_again(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run()
    (kept,) = folder.glob("gpt-plan-*.npz")
    with np.load(kept) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["leaf_param_index"] = arrays["leaf_param_index"][::-1].copy()
    np.savez(kept, **arrays)
    monkeypatch.setattr(gpt_cache, "forget_plan", lambda path: None)  # as if the folder were read-only
    assert run().losses == first.losses  # the step after the failed check records; it does not read it again


@pytest.mark.parametrize("content", [b"", b"not a zip file", b"PK\x03\x04 torn"])
def test_an_unreadable_file_is_passed_over(folder: Path, content: bytes) -> None:
    first = run()
    (kept,) = folder.glob("gpt-plan-*.npz")
    kept.write_bytes(content)
    assert run().losses == first.losses


def test_a_file_of_another_format_or_with_an_unknown_op_is_passed_over(folder: Path) -> None:
    first = run()
    (kept,) = folder.glob("gpt-plan-*.npz")
    with np.load(kept) as stored:
        arrays = {name: stored[name] for name in stored.files}
    header = arrays["header"].tobytes().decode()
    for changed in (header.replace('"format": 1', '"format": 99'), header.replace('"rms_scale"', '"no_such_op"')):
        assert changed != header
        np.savez(kept, **{**arrays, "header": np.frombuffer(changed.encode(), dtype=np.uint8)})
        assert run().losses == first.losses


def test_no_cache_when_the_folder_is_set_empty_or_cannot_be_written(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROGRAD_CACHE_DIR", "")
    expected = run().losses
    assert gpt_cache.cache_folder() is None
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("mine\n")
    monkeypatch.setenv("MICROGRAD_CACHE_DIR", str(blocked / "cache"))
    assert run().losses == expected
    assert blocked.read_text() == "mine\n"  # what was there is untouched


def test_a_plan_using_a_row_changed_at_run_time_is_neither_read_nor_kept(folder: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    first = run()
    (kept,) = folder.glob("gpt-plan-*.npz")
    assert gpt_cache.read_plan(gpt_cache.plan_file(first.model)) is not None
    # As ``OPS["relu"].derivative = ...`` marks it; the flag alone, since replacing a built-in rule
    # here would change every later test of this process.
    monkeypatch.setattr(OPS["relu"], "edited", True)
    assert gpt_cache.read_plan(gpt_cache.plan_file(first.model)) is None
    kept.unlink()
    assert run().losses == first.losses
    assert list(folder.glob("gpt-plan-*.npz")) == []  # and not kept
    softsign = defop("cache_test_softsign", lambda x: x / (1 + abs(x)), lambda x, out: (1 + abs(x)) ** -2)
    monkeypatch.setitem(OPS, softsign.name, softsign)  # out of the table again after the test
    softsign.derivative = lambda x, out: (1 + abs(x)) ** -2
    assert softsign.edited and not OPS["dot"].edited


def test_a_model_of_another_class_keeps_no_plan(folder: Path) -> None:
    class Mine(gpt.GPT):
        pass

    model = run().model
    model.__class__ = Mine
    assert gpt_cache.plan_file(model) is None


def test_the_default_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MICROGRAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert gpt_cache.cache_folder() == tmp_path / "micrograd"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert gpt_cache.cache_folder() == Path.home() / ".cache" / "micrograd"


def test_at_most_keep_plans_are_kept_the_least_recently_used_go(folder: Path) -> None:
    import os

    folder.mkdir(parents=True)
    for i in range(gpt_cache.KEEP + 3):  # plans of earlier versions of the code, oldest first
        old = folder / f"gpt-plan-{i:032d}.npz"
        old.write_bytes(b"an old plan")
        os.utime(old, ns=(i * 10**9, i * 10**9))
    os.utime(folder / f"gpt-plan-{0:032d}.npz", ns=(10**12, 10**12))  # the oldest, but read just now
    mine = folder / "mine.txt"
    mine.write_text("not a plan\n")
    run()
    left = sorted(path.name for path in folder.glob("gpt-plan-*.npz"))
    assert len(left) == gpt_cache.KEEP
    assert f"gpt-plan-{0:032d}.npz" in left and f"gpt-plan-{1:032d}.npz" not in left
    assert mine.read_text() == "not a plan\n"
