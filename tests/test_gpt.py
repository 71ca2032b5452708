"""micrograd.gpt: equal to Karpathy's microgpt.py step for step, and the API around it.

The parity tests run the reference script (``../shared/reference/microgpt.py``, not part of
this project) in subprocesses, all three started at once, and compare every step's loss to
1e-9 relative and the names sampled at the end.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, run_python
from micrograd import Value, grad, no_grad
from micrograd.functional import hessian
from micrograd.gpt import (
    CheckpointError,
    GPTConfig,
    Tokenizer,
    Training,
    documents,
    from_torch,
    load,
    load_checkpoint,
    read_documents,
    save,
    train,
)
from micrograd.gradcheck import gradcheck
from micrograd.losses import softmax, softmax_cross_entropy
from micrograd.nn import CausalSelfAttention, Embedding, KVCache, Linear, RMSNorm, attend, attention_score, rms_scale

REFERENCE = ROOT.parent / "shared" / "reference" / "microgpt.py"
NAMES = ROOT.parent / "shared" / "data" / "names.txt"

# Made-up words for the "another data file" configuration: capitals, a space inside a document,
# a digit, a non-ASCII letter, white space around lines, blank lines, and words longer than the block.
OTHER_WORDS = """
  Anna
bob
carl johnson
dora2
  zoë
eve
frederica
gustavus
\t
hal
ingrid-maria
jo
katherine
lu
"""


def _configurations() -> dict[str, dict[str, Any]]:
    return {
        "defaults": {"data": NAMES, "steps": 10, "sizes": {}},
        "two-layers": {
            "data": NAMES,
            "steps": 10,
            "sizes": {"N_LAYER": 2, "N_EMBD": 8, "N_HEAD": 2, "BLOCK_SIZE": 8},
        },
        "other-data": {
            "data": None,  # written to a temporary folder
            "steps": 15,
            "sizes": {"N_EMBD": 12, "N_HEAD": 3, "BLOCK_SIZE": 6, "SEED": 7},
        },
    }


_SIZE_ARGUMENTS = {"N_EMBD": "n_embd", "N_HEAD": "n_head", "N_LAYER": "n_layer", "BLOCK_SIZE": "block_size"}


class ReferenceRun:
    """microgpt.py running in a subprocess; ``result()`` waits and parses its output."""

    def __init__(self, data: Path, steps: int, sizes: dict[str, int]) -> None:
        env = {**os.environ, "INPUT": str(data), "NUM_STEPS": str(steps), "PYTHONUTF8": "1"}
        env.update({key: str(value) for key, value in sizes.items()})
        self.process = subprocess.Popen(
            [sys.executable, str(REFERENCE)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def result(self) -> tuple[list[float], list[str]]:
        out, err = self.process.communicate(timeout=600)
        assert self.process.returncode == 0, f"microgpt.py failed: {err[-2000:]}"
        losses = [float(m.group(1)) for m in re.finditer(r"^step +\d+ / +\d+ \| loss (\S+)$", out, re.MULTILINE)]
        samples = [m.group(1) for m in re.finditer(r"^sample +\d+: (.*)$", out, re.MULTILINE)]
        return losses, samples


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[ReferenceRun, Path]]]:
    """All three reference runs, started together (the machine may have two cores; they overlap our work)."""
    if not REFERENCE.exists():
        pytest.skip(f"the reference microgpt.py is not at {REFERENCE} (it is not part of this project)")
    if not NAMES.exists():
        pytest.skip(f"the names data is not at {NAMES}")
    other = tmp_path_factory.mktemp("gpt-data") / "words.txt"
    other.write_text(OTHER_WORDS, encoding="utf-8")
    runs = {}
    for name, config in _configurations().items():
        data = config["data"] or other
        runs[name] = (ReferenceRun(data, config["steps"], config["sizes"]), data)
    yield runs
    for run, _ in runs.values():
        if run.process.poll() is None:
            run.process.kill()
            run.process.communicate()


@pytest.mark.parametrize("name", list(_configurations()))
def test_every_loss_and_every_sample_equal_microgpt(
    name: str, reference_runs: dict[str, tuple[ReferenceRun, Path]]
) -> None:
    config = _configurations()[name]
    run, data = reference_runs[name]
    sizes = {_SIZE_ARGUMENTS[key]: value for key, value in config["sizes"].items() if key in _SIZE_ARGUMENTS}
    training = train(read_documents(data), steps=config["steps"], seed=config["sizes"].get("SEED", 42), **sizes)
    ours = training.losses
    names = training.model.generate(20, temperature=0.5)

    runs = {"eager": (ours, names)}
    if importlib.util.find_spec("numpy") is not None:
        compiled = train(read_documents(data), steps=config["steps"], seed=config["sizes"].get("SEED", 42),
                         engine="numpy", **sizes)
        runs["numpy"] = (compiled.losses, compiled.model.generate(20, temperature=0.5))

    theirs, their_names = run.result()
    for engine, (losses, sampled) in runs.items():
        assert len(theirs) == config["steps"] == len(losses)
        for step, (a, b) in enumerate(zip(losses, theirs, strict=True), 1):
            # microgpt prints 12 decimals: about 1e-12 relative of a loss near 3.
            assert abs(a - b) <= 1e-9 * abs(b), f"{name}, {engine}: step {step}: ours {a!r}, microgpt.py {b!r}"
        assert sampled == their_names, engine


@pytest.mark.slow
def test_the_full_default_run_equals_microgpt() -> None:
    """All 1,000 default steps and the 20 samples (microgpt.py takes about 6 minutes): pytest -m slow."""
    if not REFERENCE.exists() or not NAMES.exists():
        pytest.skip(f"the reference microgpt.py or its data is not beside this project ({REFERENCE})")
    run = ReferenceRun(NAMES, 1000, {})
    engines = ["eager"] + (["numpy"] if importlib.util.find_spec("numpy") is not None else [])
    theirs, their_names = run.result()
    assert len(theirs) == 1000
    for engine in engines:
        training = train(read_documents(NAMES), steps=1000, engine=engine)
        for step, (a, b) in enumerate(zip(training.losses, theirs, strict=True), 1):
            assert abs(a - b) <= 1e-9 * abs(b), f"{engine}: step {step}: ours {a!r}, microgpt.py {b!r}"
        assert training.model.generate(20, temperature=0.5) == their_names, engine


# ----------------------------------------------------------------------
# The pieces
# ----------------------------------------------------------------------


def small_training(steps: int = 3, **sizes: int) -> Training:
    docs = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "charlotte", "amelia"]
    options = {"n_embd": 8, "n_head": 2, "n_layer": 1, "block_size": 8, **sizes}
    return train(docs, steps=steps, seed=1, **options)


def test_a_run_refuses_documents_with_a_character_outside_the_vocabulary_naming_the_first() -> None:
    model = small_training().model  # its vocabulary is the letters of the eight names: no 'z', no 'q'
    with pytest.raises(ValueError, match="character 'z' is not in the vocabulary"):
        Training(model, ["emma", "zoe", "qiana"], 3)
    Training(model, ["emma", "mia"], 3)  # known characters only: accepted


def test_initialisation_draws_in_microgpts_order() -> None:
    docs = ["ab", "ba", "c"]
    training = Training.start(docs, 1, seed=5, n_embd=4, n_head=2, n_layer=2, block_size=3)
    rng = random.Random(5)
    shuffled = list(docs)
    rng.shuffle(shuffled)
    assert training.docs == shuffled
    vocab, e = 4, 4
    expected = [rng.gauss(0, 0.08) for _ in range((vocab + 3 + vocab) * e + 2 * 12 * e * e)]
    assert [p.data for p in training.model.parameters()] == expected
    assert [p for _, p in training.model.named_parameters()] == training.model.parameters()


def test_tokenizer() -> None:
    tok = Tokenizer.from_documents(["ba", "ca"])
    assert tok.chars == ["a", "b", "c"] and tok.bos == 3 and tok.vocab_size == 4
    assert tok.document("cab") == [3, 2, 0, 1, 3]
    assert tok.decode([3, 2, 0, 1, 3]) == "cab"
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        tok.encode("az")


def test_documents_are_read_as_microgpt_reads_them(tmp_path: Path) -> None:
    assert documents("  a \n\n b\r\nc \n") == ["a", "b", "c"]
    path = tmp_path / "d.txt"
    path.write_bytes(b"x\r\ny\rz\n\n")
    assert read_documents(path) == ["x", "y", "z"]
    (tmp_path / "blank.txt").write_text(" \n\n")
    with pytest.raises(ValueError, match="empty"):
        read_documents(tmp_path / "blank.txt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_documents(tmp_path / "missing.txt")


def test_pieces_compute_what_they_stand_for() -> None:
    rng = random.Random(0)
    emb = Embedding(3, 2, rng=rng)
    assert emb(1) is emb.weight[1] and len(emb.parameters()) == 6
    lin = Linear(3, 2, rng=rng)
    x = [Value(0.5), Value(-1.0), Value(2.0)]
    expected = [sum(w.data * xi.data for w, xi in zip(row, x, strict=True)) for row in lin.weight]
    assert [v.data for v in lin(x)] == expected
    assert Linear(3, 2, bias=True, rng=rng).bias is not None
    norm = RMSNorm()
    y = norm(x)
    ms = sum(v.data * v.data for v in x) / 3
    assert [v.data for v in y] == pytest.approx([v.data / math.sqrt(ms + 1e-5) for v in x], rel=1e-15)
    with pytest.raises(ValueError, match="divisible"):
        CausalSelfAttention(6, 4)


def test_attention_is_causal_and_uses_the_cache() -> None:
    attn = CausalSelfAttention(4, 2, rng=random.Random(1))
    cache = KVCache()
    xs = [[Value(random.Random(i).uniform(-1, 1)) for _ in range(4)] for i in range(3)]
    first = [v.data for v in attn(xs[0], cache)]
    attn(xs[1], cache)
    assert len(cache) == 2
    # The first position sees only itself: its softmax weight is 1, its output wo(v0).
    v0 = [sum(w.data * x.data for w, x in zip(row, xs[0], strict=True)) for row in attn.wv.weight]
    wo_v0 = [sum(w * v for w, v in zip([p.data for p in row], v0, strict=True)) for row in attn.wo.weight]
    assert first == pytest.approx(wo_v0, rel=1e-14)


@pytest.mark.parametrize(
    ("sizes", "field"),
    [
        ({"n_embd": 6, "n_head": 4}, "n_embd"),
        ({"n_embd": 0}, "n_embd"),
        ({"n_head": -1}, "n_head"),
        ({"n_layer": 0}, "n_layer"),
        ({"block_size": 0}, "block_size"),
        ({"vocab_size": 0}, "vocab_size"),
    ],
)
def test_bad_config_raises_value_error_naming_the_field(sizes: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        GPTConfig(**{"vocab_size": 5, **sizes})
    if "vocab_size" not in sizes:
        with pytest.raises(ValueError, match=field):
            train(["abc"], steps=1, **sizes)


def test_bad_steps_and_empty_docs() -> None:
    with pytest.raises(ValueError, match="steps"):
        train(["abc"], steps=0)
    with pytest.raises(ValueError, match="empty"):
        train([], steps=1)


def test_logits_one_list_per_position() -> None:
    model = small_training().model
    tokens = [model.bos, *model.tokenizer.encode("mia")]
    logits = model.logits(tokens)
    assert len(logits) == 4 and all(len(row) == model.config.vocab_size for row in logits)
    # The loss of a document is the mean of -log softmax at each target.
    doc = [*tokens, model.bos]
    rows = model.logits(doc[:-1])
    nll = [math.log(sum(math.exp(v) for v in row)) - row[t] for row, t in zip(rows, doc[1:], strict=True)]
    expected = sum(nll) / len(rows)
    assert model.loss(doc).data == pytest.approx(expected, rel=1e-13)
    with pytest.raises(ValueError, match="out of range"):
        model.logits([99])


def test_generate_with_a_seed_a_prefix_and_a_temperature() -> None:
    model = small_training().model
    assert model.generate(5, seed=3) == model.generate(5, seed=3)
    names = model.generate(10, temperature=0.8, seed=4, prefix="mi")
    assert len(names) == 10 and all(name.startswith("mi") for name in names)
    assert all(len(name) <= model.config.block_size for name in names)
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        model.generate(1, prefix="z")
    with pytest.raises(ValueError, match="temperature"):
        model.generate(1, temperature=0.0)


def test_attention_weights_are_each_heads_softmax() -> None:
    model = small_training(n_layer=2).model
    weights = model.attention_weights("mia")
    assert len(weights) == 2 and len(weights[0]) == 4 and len(weights[0][3]) == 2
    for layer in weights:
        for t, heads in enumerate(layer):
            for row in heads:
                assert len(row) == t + 1 and sum(row) == pytest.approx(1.0, abs=1e-15)
    assert weights[0][0] == [[1.0], [1.0]]  # BOS sees only itself
    assert model.attention_weights("a" * 20)[0][-1][0].__len__() == model.config.block_size


def test_sampling_builds_no_graph() -> None:
    model = small_training().model
    model.generate(3, seed=1)
    assert all(p.grad == 0.0 for p in model.parameters())


def test_gradients_agree_with_finite_differences() -> None:
    model = small_training(steps=2, n_embd=4, n_head=2, block_size=5).model
    tokens = model.tokenizer.document("ava")
    model.zero_grad()
    model.loss(tokens).backward()
    params = model.parameters()
    picks = [0, 7, len(params) // 3, len(params) // 2, len(params) - 1]
    h = 1e-6
    for i in picks:
        p = params[i]
        analytic = p.grad
        saved = p.data
        p.data = saved + h
        up = model.loss(tokens).data
        p.data = saved - h
        down = model.loss(tokens).data
        p.data = saved
        assert analytic == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8), f"parameter {i}"


# ----------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = small_training().model
    path = tmp_path / "model.json"
    save(model, path)
    loaded = load(path)
    assert loaded.config == model.config and loaded.chars == model.chars
    assert loaded.state_dict() == model.state_dict()
    tokens = [model.bos, 0, 1]
    assert loaded.logits(tokens) == model.logits(tokens)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "micrograd-checkpoint" and data["kind"] == "gpt" and data["version"] == 1


def test_a_resumed_run_continues_exactly(tmp_path: Path) -> None:
    docs = ["emma", "olivia", "ava", "isabella", "sophia"]
    sizes = {"n_embd": 8, "n_head": 2, "block_size": 6}
    whole = train(docs, steps=6, seed=2, **sizes)
    first = Training.start(docs, 6, seed=2, **sizes)
    for _ in first.run(3):
        pass
    path = tmp_path / "checkpoint.json"
    first.save(path)
    history = json.loads(path.read_text(encoding="utf-8"))["extra"]["history"]
    assert history == [{"step": k, "loss": loss} for k, loss in enumerate(whole.losses[:3], 1)]
    resumed = Training.resume(path, docs)
    assert resumed.step == 3
    for _ in resumed.run():
        pass
    assert resumed.history == whole.history
    assert resumed.model.state_dict() == whole.model.state_dict()
    assert resumed.model.generate(5) == whole.model.generate(5)
    # A loaded checkpoint samples from the stream the run left behind.
    resumed.save(path)
    assert load(path).generate(5) == train(docs, steps=6, seed=2, **sizes).model.generate(5)
    with pytest.raises(CheckpointError, match="other documents"):
        Training.resume(path, docs[:-1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not valid JSON"),
        ('{"format": "micrograd-checkpoint", "version": 1, "kind": "gpt"', "truncated"),
        ("[1, 2]", "JSON object"),
        ('{"format": "micrograd-checkpoint", "version": 1, "model": {}}', "kind"),
        ('{"format": "other"}', "not a micrograd checkpoint"),
        ('{"format": "micrograd-checkpoint", "version": 1, "kind": "gpt", "x": NaN}', "NaN"),
    ],
)
def test_corrupt_checkpoints_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CheckpointError, match=message):
        load(path)


def test_edited_checkpoints_are_refused(tmp_path: Path) -> None:
    model = small_training(steps=1).model
    path = tmp_path / "model.json"
    save(model, path)
    good = json.loads(path.read_text(encoding="utf-8"))
    edits = {
        "n_embd": lambda d: d["model"].update(n_embd=7),
        "vocabulary": lambda d: d.update(vocabulary=["b", "a"]),
        "parameters": lambda d: d["parameters"].pop("wte.weight.0.0"),
        "finite": lambda d: d["parameters"].update({"wte.weight.0.0": "x"}),
        "step": lambda d: d.update(step=-1),
    }
    for what, edit in edits.items():
        data = json.loads(json.dumps(good))
        edit(data)
        path.write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(CheckpointError, match="checkpoint"):
            load_checkpoint(path)
        assert what


# ----------------------------------------------------------------------
# PyTorch
# ----------------------------------------------------------------------


def test_to_torch_computes_the_same_logits() -> None:
    torch = pytest.importorskip("torch")
    model = small_training(steps=4, n_layer=2).model
    module = model.to_torch()
    batch = [
        [model.bos, *model.tokenizer.encode("emma"), model.bos, 0, 1],
        [model.bos, *model.tokenizer.encode("ava"), model.bos, 1, 2, 3],
    ]
    theirs = module(torch.tensor(batch, dtype=torch.long))
    assert theirs.dtype == torch.float64 and tuple(theirs.shape) == (2, 8, model.config.vocab_size)
    for tokens, rows in zip(batch, theirs.tolist(), strict=True):
        for ours_row, their_row in zip(model.logits(tokens), rows, strict=True):
            assert max(abs(a - b) for a, b in zip(ours_row, their_row, strict=True)) <= 1e-12


def test_from_torch_round_trip() -> None:
    torch = pytest.importorskip("torch")
    model = small_training(steps=2).model
    module = model.to_torch()
    back = from_torch(module)
    assert back.config == model.config and back.chars == model.chars
    assert back.state_dict() == model.state_dict()
    with torch.no_grad():
        module.get_parameter("lm_head.weight")[0, 0] += 1.0
    assert from_torch(module).lm_head.weight[0][0].data == model.lm_head.weight[0][0].data + 1.0
    with pytest.raises(ValueError, match="not a GPT module"):
        from_torch(torch.nn.Linear(2, 2))


def test_import_does_not_need_torch() -> None:
    code = "import sys, micrograd.gpt; assert 'torch' not in sys.modules; assert 'numpy' not in sys.modules"
    run_python(code)


# ----------------------------------------------------------------------
# The fused nodes: same forward numbers as the Values they replace, derivatives from the op table
# ----------------------------------------------------------------------

FUSED_CASES = {
    # name: (function of a flat list of Values, torch function of a float64 tensor, number of inputs)
    "rms_scale": (lambda xs: rms_scale(xs, 1e-5), lambda t: (t.pow(2).mean() + 1e-5) ** -0.5, 5),
    "attention_score": (
        lambda xs: attention_score(xs[:3], xs[3:], 0.7),
        lambda t: (t[:3] * t[3:]).sum() * 0.7,
        6,
    ),
    "attend": (
        lambda xs: attend(xs[:4], xs[4:]),
        lambda t: (t[:4].softmax(0) * t[4:]).sum(),
        8,
    ),
    "softmax_cross_entropy": (
        lambda xs: softmax_cross_entropy(xs, 2),
        lambda t: -t.log_softmax(0)[2],
        5,
    ),
}


def _point(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-1.5, 1.5) for _ in range(n)]


@pytest.mark.parametrize("name", list(FUSED_CASES))
def test_fused_op_gradient_matches_finite_differences(name: str) -> None:
    f, _, n = FUSED_CASES[name]
    for seed in range(3):
        assert gradcheck(lambda *xs: f(list(xs)), _point(n, seed), eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("name", list(FUSED_CASES))
def test_fused_op_second_derivative_matches_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    f, torch_f, n = FUSED_CASES[name]
    for seed in range(3):
        point = _point(n, seed)
        ours = hessian(lambda *xs: f(list(xs)))(point)
        theirs = torch.autograd.functional.hessian(torch_f, torch.tensor(point, dtype=torch.float64)).tolist()
        for row_ours, row_theirs in zip(ours, theirs, strict=True):
            assert row_ours == pytest.approx(row_theirs, rel=1e-9, abs=1e-12)
        # A third derivative, through the Values the second one is made of.
        xs = [Value(x) for x in point]
        (first,) = grad(f(xs), [xs[0]], create_graph=True)
        (second,) = grad(first, [xs[1]], create_graph=True)
        (third,) = grad(second, [xs[2]])
        t = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        (g1,) = torch.autograd.grad(torch_f(t), t, create_graph=True)
        (g2,) = torch.autograd.grad(g1[0], t, create_graph=True)
        expected = torch.autograd.grad(g2[1], t)[0][2].item() if g2[1].requires_grad else 0.0  # 0 for a bilinear op
        assert third == pytest.approx(expected, rel=1e-8, abs=1e-11)


def test_fused_ops_compute_the_numbers_of_the_values_they_replace() -> None:
    xs = [Value(x) for x in _point(16, 5)]
    assert rms_scale(xs).data == ((sum(x * x for x in xs) / 16 + 1e-5) ** -0.5).data  # type: ignore[operator]
    scores, values = xs[:5], xs[5:10]
    weights = softmax(scores)
    assert attend(scores, values).data == sum(w * v for w, v in zip(weights, values, strict=True)).data  # type: ignore[union-attr]
    for target in range(5):
        assert softmax_cross_entropy(scores, target).data == (-softmax(scores)[target].log()).data
    q, k = xs[:4], xs[4:8]
    assert attention_score(q, k, (4**0.5) ** -1).data == (sum(a * b for a, b in zip(q, k, strict=True)) / 4**0.5).data  # type: ignore[operator]
    # A probability that underflows to 0 still gives a finite loss (log-sum-exp), with the right gradient.
    far = [Value(0.0), Value(-800.0)]
    loss = softmax_cross_entropy(far, 1)
    assert loss.data == pytest.approx(800.0)
    loss.backward()
    assert far[0].grad == pytest.approx(1.0) and far[1].grad == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("op_name", "n_inputs", "attrs"),
    [
        ("rms_scale", 5, {"eps": 1e-5}),
        ("attention_score", 6, {"scale": 0.5}),
        ("attend", 8, {}),
        ("softmax_cross_entropy", 5, {"target": 3}),
    ],
)
def test_fused_op_rows_work_on_numpy_arrays(op_name: str, n_inputs: int, attrs: dict[str, Any]) -> None:
    """The table's contract: a row answers for many nodes at once on arrays (for array engines), with the
    forward's very floats; the derivatives to rounding."""
    np = pytest.importorskip("numpy")
    from micrograd.ops import OPS

    op = OPS[op_name]
    points = [_point(n_inputs, seed) for seed in range(4)]
    points.append([0.0] * (n_inputs - 1) + [-900.0])  # an underflowing probability for the cross-entropy
    stacked = np.array(points).T  # row i: input i of every node
    out = op.on_arrays(stacked, **attrs)
    grads = op.derivative_on_arrays(stacked, out, **attrs)
    assert grads.shape == stacked.shape
    for k, point in enumerate(points):
        expected_out = op.forward(*point, **attrs)
        assert out[k] == expected_out
        expected_grads = op.derivative(*point, expected_out, **attrs)
        assert [g[k] for g in grads] == pytest.approx(list(expected_grads), rel=1e-13, abs=1e-300)


# ----------------------------------------------------------------------
# The numpy engine: recorded once, replayed with numpy
# ----------------------------------------------------------------------


def test_compiled_programs_give_the_eager_loss_and_gradient() -> None:
    np = pytest.importorskip("numpy")
    from micrograd.compiler.gpt import SequencePlan, record_model

    model = small_training(steps=3, n_layer=2, block_size=6).model
    params = model.parameters()
    flat = np.array([p.data for p in params])
    sequence = SequencePlan(record_model(model), model.mean_loss)  # recorded once, for every length
    # Lengths 1..6, a repeated token (the same wte row read twice), a document cropped to the block.
    for doc in ["", "a", "mia", "emma", "ava", "isabella"]:
        tokens = model.tokenizer.document(doc)
        n = min(model.config.block_size, len(tokens) - 1)
        loss, gradient = sequence.program(n).loss_and_grad(flat, tokens[: n + 1])
        model.zero_grad()
        eager = model.loss(tokens)
        eager.backward()
        assert loss == eager.data  # the same float operations in the same order
        expected = np.array([p.grad for p in params])
        assert np.abs(gradient - expected).max() <= 1e-14 * np.abs(expected).max()


def test_a_program_computes_attention_over_every_width_in_one_group() -> None:
    """attend pads (Op.pad): attention over 1..6 positions is one group, and the losses above stay exact."""
    pytest.importorskip("numpy")
    from micrograd.compiler.gpt import SequencePlan, record_model
    from micrograd.fused import ATTEND

    model = small_training(steps=1, n_layer=2, block_size=6).model
    source = SequencePlan(record_model(model), model.mean_loss).program(6).source
    # One attend group per layer: each layer's attention, at every position, in one array operation.
    assert source.count("= op_attend_f(") == 2
    assert ATTEND.pad == (-math.inf, 0.0)


def test_a_layer_at_every_position_is_one_matrix_product_backward() -> None:
    """dense_grid finds W[i] . X[p] for every (p, i) once, with parameter weights; anything else stays scattered."""
    np = pytest.importorskip("numpy")
    from micrograd.compiler.numpy import dense_grid
    from micrograd.ops import DOT, LINEAR

    params = np.zeros(20, dtype=bool)
    params[:6] = True  # slots 0-5: two rows of three weights; 10-15: two positions of three inputs
    w, x = [[0, 1, 2], [3, 4, 5]], [[10, 11, 12], [13, 14, 15]]
    members = [(p, i) for p in range(2) for i in range(2)]
    children = np.array([w[i] + x[p] for p, i in members]).T
    out = np.arange(16, 20)
    grid = dense_grid(DOT, children, out, params, np)
    assert grid is not None
    assert grid.out.tolist() == [[16, 17], [18, 19]] and grid.weights.tolist() == w and grid.inputs.tolist() == x
    assert dense_grid(DOT, children[:, :3], out[:3], params, np) is None  # position 1, row 1 missing
    assert dense_grid(DOT, children, out, ~params, np) is None  # weights that are not parameters
    mixed = children.copy()
    mixed[1, 0] = 4  # member (0, 0) reads row 0's first weight but row 1's second
    assert dense_grid(DOT, mixed, out, params, np) is None
    reread = children.copy()
    reread[3:, :] = np.array([[10, 11, 12], [10, 11, 12], [13, 14, 0], [13, 14, 0]]).T  # slot 0 read as an input
    assert dense_grid(DOT, reread, out, params, np) is None
    assert dense_grid(LINEAR, children, out, params, np) is None  # a row with a bias: not this grid


def test_defop_refuses_a_pad_that_is_not_a_tuple_of_floats() -> None:
    from micrograd.ops import defop

    for pad in ["-inf", (), (0,), [0.0]]:
        with pytest.raises(TypeError, match="pad must be a non-empty tuple of floats"):
            defop("padded_badly", lambda *xs: 0.0, lambda *xs: tuple(0.0 for _ in xs[:-1]), pad=pad)  # type: ignore[arg-type]


def test_the_numpy_engines_model_is_up_to_date_whenever_it_is_read() -> None:
    """A step leaves the Values behind the arrays; reading training.model, in the middle of run(), brings them up."""
    pytest.importorskip("numpy")
    docs = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "charlotte"]
    sizes = {"n_embd": 8, "n_head": 2, "block_size": 7}
    eager = Training.start(docs, 6, seed=4, **sizes)
    compiled = Training.start(docs, 6, seed=4, engine="numpy", **sizes)
    for (step, _), _ in zip(compiled.run(), eager.run(), strict=True):
        arrays = compiled._compiled.parameters.tolist()
        assert [p.data for p in compiled.model.parameters()] == arrays  # read mid-run: the arrays' numbers
        expected = [p.data for p in eager.model.parameters()]
        assert arrays == pytest.approx(expected, rel=1e-11, abs=1e-15), f"step {step}"


def test_compiled_training_resumes_and_matches_eager(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    docs = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "charlotte"]
    sizes = {"n_embd": 8, "n_head": 2, "block_size": 7}
    eager = train(docs, steps=12, seed=4, **sizes)
    compiled = train(docs, steps=12, seed=4, engine="numpy", **sizes)
    assert compiled.losses == pytest.approx(eager.losses, rel=1e-13)
    assert compiled.model.generate(10) == eager.model.generate(10)
    first = Training.start(docs, 12, seed=4, engine="numpy", **sizes)
    for _ in first.run(5):
        pass
    first.save(tmp_path / "c.json")
    resumed = Training.resume(tmp_path / "c.json", docs, engine="numpy")
    for _ in resumed.run():
        pass
    assert resumed.history == compiled.history
    assert resumed.model.state_dict() == compiled.model.state_dict()
    with pytest.raises(ValueError, match="engine"):
        Training.start(docs, 2, engine="fast")


def test_the_old_path_of_the_numpy_engine_forwards_with_a_notice() -> None:
    pytest.importorskip("numpy")
    import micrograd.compiler.gpt as new_home

    sys.modules.pop("micrograd.gpt_compiled", None)  # a fresh import: the notice comes once per import
    with pytest.warns(FutureWarning, match="micrograd.compiler.gpt"):
        import micrograd.gpt_compiled as old_path
    assert old_path.CompiledTraining is new_home.CompiledTraining


# ----------------------------------------------------------------------
# Sampling on floats: the very documents of the Value model
# ----------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [{}, {"n_layer": 2, "n_embd": 8, "n_head": 2, "block_size": 6}])
def test_the_float_sampler_draws_the_value_models_documents(sizes: dict[str, int]) -> None:
    model = small_training(steps=4, **sizes).model
    for seed in (0, 1, 7):
        for temperature in (0.5, 1.0, 2.5, 1e-9, 1e-300):
            for prefix in ("", "a", "mi"):
                forced = model.tokenizer.encode(prefix)
                floats = model.generate(12, temperature, seed, prefix)
                values = _samples_with_values(model, 12, temperature, random.Random(seed).choices, forced)
                assert floats == values, (seed, temperature, prefix)


def _samples_with_values(model: Any, num: int, temperature: float, choices: Any, forced: list[int]) -> list[str]:
    """The documents as the Value model draws them (microgpt.py's loop): what the float sampler must equal."""
    from micrograd.gpt.model import _sampling_weights

    samples = []
    for _ in range(num):
        with no_grad():
            caches = model.new_caches()
            token_id, sample = model.bos, [model.chars[i] for i in forced]
            for pos_id in range(model.config.block_size):
                logits = model.forward(token_id, pos_id, caches)  # Values
                if pos_id < len(forced):
                    token_id = forced[pos_id]
                    continue
                token_id = choices(range(model.config.vocab_size), weights=_sampling_weights(logits, temperature))[0]
                if token_id == model.bos:
                    break
                sample.append(model.chars[token_id])
        samples.append("".join(sample))
    return samples


def test_the_float_forward_gives_the_value_models_logits_bit_for_bit() -> None:
    from micrograd.gpt.model import _FloatWeights

    model = small_training(steps=4, n_layer=2).model
    weights = _FloatWeights(model)
    tokens = model.tokenizer.document("sophia")[: model.config.block_size]
    caches = [([], []) for _ in model.layers]  # type: ignore[var-annotated]
    expected = model.logits(tokens)
    for t, token in enumerate(tokens):
        assert weights.forward(token, t, caches) == expected[t]  # floats compared exactly


def test_sampling_makes_no_values(monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_training(steps=2).model
    made = []
    real_apply = Value._apply_op

    def counting(*args: Any, **kwargs: Any) -> Any:
        made.append(1)
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(Value, "_apply_op", counting)
    assert len(model.generate(5, seed=3)) == 5
    assert not made
