"""Every file reader, fed random bytes and random JSON shapes: it succeeds or raises its own error.

The readers: MLP checkpoints (``micrograd.app.checkpoint.load_model``), GPT checkpoints
(``micrograd.gpt.load_checkpoint``), CSV (``micrograd.app.data.load_csv``), the text of
``micrograd gpt --data`` (``micrograd.gpt.read_documents``), and torch models
(``micrograd.interop.from_torch`` and ``micrograd.gpt.from_torch``, whose "files" are state dicts).

The only allowed outcomes are success, or the reader's own error class with a one-line message
that says something. Any other exception (a KeyError, an IndexError, a bare OverflowError, ...)
fails the test, and so does a peak of traced memory above ``MEMORY_LIMIT``: a small input must
never make a reader allocate much (a checkpoint whose sizes promise a huge model is refused
before the model is built).

Success is checked too: what a reader accepts is what was written. A fuzzed file a reader accepts
must read back to the values actually in the file (every parameter, bit for bit, the sizes, the
vocabulary, the rows of a CSV, the documents of a text), and random models, tables and texts
written with the project's writers (``save``; for CSV, which the project only reads, Python's
``csv`` module) read back equal, bit for bit.

Hypothesis is derandomized (the same inputs every run) and the example counts keep the default
run to a few seconds; ``-m slow`` is not needed for it. The counts per reader are in EXAMPLES.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import random
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import same_bits, seeded_mlp
from micrograd import gpt
from micrograd.app.checkpoint import CheckpointError, load_checkpoint_and_model, load_model, save
from micrograd.app.data import load_csv
from micrograd.nn import ACTIVATIONS, MLP

MEMORY_LIMIT = 32 * 2**20  # bytes of traced Python allocations per input; each input is at most a few kB

EXAMPLES = {  # hypothesis examples per reader and kind of input
    "bytes": 100,
    "json": 80,
    "mutated": 100,
    "csv": 150,
    "text": 80,
    "torch": 40,
    "round trip": 60,
}


def _settings(kind: str) -> Any:
    return settings(max_examples=EXAMPLES[kind], deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


# ----------------------------------------------------------------------
# Where the inputs are written: one folder for the module, a new name for every input
# ----------------------------------------------------------------------

_folder: list[Path] = []
_names = itertools.count()
_VALID: dict[str, Any] = {}  # valid documents to mutate, by reader


@pytest.fixture(scope="module", autouse=True)
def _input_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    _folder.append(tmp_path_factory.mktemp("reader-fuzz"))
    state = random.getstate()
    # The valid checkpoints that the mutations start from, made here: strategies must not use `random`.
    _VALID["mlp checkpoint"] = _mlp_checkpoint()
    _VALID["gpt checkpoint"] = _gpt_checkpoint()
    yield
    random.setstate(state)  # the MLP below draws from the global generator
    _folder.pop()


def _file(content: bytes, suffix: str) -> Path:
    path = _folder[0] / f"input{next(_names)}{suffix}"
    path.write_bytes(content)
    return path


def _read(reader: Callable[[Any], Any], argument: Any, allowed: type[BaseException] | tuple[type[BaseException], ...]
          ) -> Any:
    """Run the reader; let only ``allowed`` errors with a one-line message through; bound its memory.

    Returns what the reader returned, or None when it refused the input.
    """
    tracemalloc.start()
    try:
        return reader(argument)
    except allowed as error:
        message = str(error)
        assert message.strip(), f"{type(error).__name__} with an empty message"
        assert "\n" not in message, f"{type(error).__name__} message is not one line: {message!r}"
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MEMORY_LIMIT, f"reading took {peak:,} bytes of memory"


# ----------------------------------------------------------------------
# Random JSON, and valid documents to mutate
# ----------------------------------------------------------------------

_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, -1, 2, 10**9, 10**12, 10**400, -(10**400), 1e308, -1e308, 5e-324, 0.5])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_json = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

# Finite doubles, with the ones a text format gets wrong first: -0.0, the smallest subnormal, the largest.
_doubles = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e308, -1.7976931348623157e308, 0.1, 1 / 3]
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (keys of objects, indices of lists), the root excluded."""
    found = []
    children = document.items() if isinstance(document, dict) else enumerate(document) if isinstance(document, list) \
        else []
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _mutated(document: Any) -> Any:
    """A strategy: ``document`` with one to three places replaced by random JSON or deleted."""
    places = _paths(document)

    @st.composite
    def mutate(draw: Any) -> Any:
        changed = copy.deepcopy(document)
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            path = draw(st.sampled_from(places))
            parent = changed
            try:
                for key in path[:-1]:
                    parent = parent[key]
                if draw(st.booleans()) and isinstance(parent, dict):
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = draw(_json)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change removed or replaced this place
        return changed

    return mutate()


def _mlp_checkpoint() -> Any:
    path = _folder[0] / "valid-mlp.json"
    save(path, seeded_mlp(0, 2, [3, 1]), step=1, extra={"history": [{"step": 0, "loss": 0.5, "accuracy": 0.5}]})
    return json.loads(path.read_text())


def _gpt_checkpoint() -> Any:
    training = gpt.train(["ab", "ba", "abba"], steps=1, n_embd=4, n_head=2, n_layer=1, block_size=4)
    path = _folder[0] / "valid-gpt.json"
    training.save(path)
    return json.loads(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------
# What an accepted file must read back to: the values in the file, computed from the document itself
# ----------------------------------------------------------------------


def _as_float(number: Any) -> float:
    assert isinstance(number, int | float) and not isinstance(number, bool), f"the file's {number!r} is no number"
    return float(number)


def _same_parameters(read: dict[str, float], written: Any) -> None:
    """Every parameter of the file, and no other, read back as the same double."""
    assert isinstance(written, dict)
    assert sorted(read) == sorted(written), "the parameters read are not the file's"
    different = [name for name in written if not same_bits(read[name], _as_float(written[name]))]
    assert not different, f"read back other values than the file holds: {different[:3]}"


def _assert_mlp_is_the_file(read: tuple[dict[str, Any], MLP], document: Any) -> None:
    """An MLP checkpoint a reader accepted: its sizes, step and every parameter are the file's."""
    checkpoint, model = read
    spec = document["model"]
    shown = {"nin": model.nin, "nouts": list(model.nouts), "activation": model.activation,
             "output_activation": model.output_activation}
    for key, value in shown.items():
        if key in spec:  # a key the file leaves out takes the documented default
            assert value == spec[key], f"model.{key} read as {value!r}, the file says {spec[key]!r}"
    _same_parameters(dict(model.state_dict()), document["parameters"])
    assert checkpoint["step"] == document["step"]


def _assert_gpt_is_the_file(checkpoint: dict[str, Any], document: Any) -> None:
    """A GPT checkpoint a reader accepted: its sizes, vocabulary, step and every parameter are the file's."""
    model = checkpoint["model_object"]
    sizes = model.config.as_dict()
    assert sizes == {key: document["model"][key] for key in sizes}, "the sizes read are not the file's"
    assert model.chars == document["vocabulary"]
    _same_parameters(dict(model.state_dict()), document["parameters"])
    assert checkpoint["step"] == document["step"]


def _csv_values(text: str) -> tuple[list[list[float]], list[int]]:
    """The numbers a CSV text holds, as its documentation reads it: blank rows skipped, a first row with a
    field that is not a number is a header, the last column the label."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    rows = [row for row in reader if any(field.strip() for field in row)]
    if rows and not all(_is_number(field) for field in rows[0]):
        rows = rows[1:]
    return [[float(field) for field in row[:-1]] for row in rows], [int(float(row[-1])) for row in rows]


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _documents(text: str) -> list[str]:
    """A --data text's documents: one per non-blank line (any of \\n, \\r\\n, \\r ends a line), stripped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line.strip() for line in lines if line.strip()]


# The readers and their own error classes. A missing file is not among the inputs, a folder neither.
_READERS: dict[str, tuple[Callable[[Any], object], type[BaseException] | tuple[type[BaseException], ...]]] = {
    "mlp checkpoint": (load_model, CheckpointError),
    "gpt checkpoint": (gpt.load_checkpoint, gpt.CheckpointError),
    "csv": (load_csv, ValueError),
    "gpt --data text": (gpt.read_documents, ValueError),
}


# ----------------------------------------------------------------------
# Checkpoints: random bytes, random JSON, and valid checkpoints with random changes
# ----------------------------------------------------------------------


@pytest.mark.parametrize("reader", list(_READERS))
@_settings("bytes")
@given(content=st.binary(max_size=2000))
def test_random_bytes(reader: str, content: bytes) -> None:
    read, allowed = _READERS[reader]
    _read(read, _file(content, ".in"), allowed)


@pytest.mark.parametrize("reader", ["mlp checkpoint", "gpt checkpoint"])
@_settings("json")
@given(document=_json | st.dictionaries(st.sampled_from(["format", "version", "kind", "model", "parameters",
                                                         "vocabulary", "step", "extra", "optimizer"]), _json))
def test_random_json(reader: str, document: Any) -> None:
    read, allowed = _READERS[reader]
    if isinstance(document, dict) and "format" not in document:
        document["format"] = "micrograd-checkpoint"  # past the first check, into the shape checks
    path = _file(json.dumps(document).encode(), ".json")
    if reader == "mlp checkpoint":
        read = _read(load_checkpoint_and_model, path, allowed)
        if read is not None:
            _assert_mlp_is_the_file(read, document)
    elif (checkpoint := _read(read, path, allowed)) is not None:
        _assert_gpt_is_the_file(checkpoint, document)


@st.composite
def _mutated_checkpoint(draw: Any, kind: str) -> Any:
    return draw(_mutated(_VALID[kind]))


@_settings("mutated")
@given(document=st.deferred(lambda: _mutated_checkpoint("mlp checkpoint")))
def test_mutated_mlp_checkpoint(document: Any) -> None:
    read = _read(load_checkpoint_and_model, _file(json.dumps(document).encode(), ".json"), CheckpointError)
    if read is not None:
        _assert_mlp_is_the_file(read, document)


@_settings("mutated")
@given(document=st.deferred(lambda: _mutated_checkpoint("gpt checkpoint")))
def test_mutated_gpt_checkpoint(document: Any) -> None:
    path = _file(json.dumps(document, ensure_ascii=False).encode(), ".json")
    checkpoint = _read(gpt.load_checkpoint, path, gpt.CheckpointError)
    if checkpoint is not None:
        _assert_gpt_is_the_file(checkpoint, document)


def test_the_mutations_leave_some_checkpoints_readable() -> None:
    # The checks above only bite on files the reader accepts: the unmutated ones must be among them.
    for kind, reader, check in (("mlp checkpoint", load_checkpoint_and_model, _assert_mlp_is_the_file),
                                ("gpt checkpoint", gpt.load_checkpoint, _assert_gpt_is_the_file)):
        document = _VALID[kind]
        check(reader(_file(json.dumps(document, ensure_ascii=False).encode(), ".json")), document)  # type: ignore[operator]


# ----------------------------------------------------------------------
# CSV and text: random rows of plausible and implausible fields
# ----------------------------------------------------------------------

_fields = st.sampled_from(["0", "1", "2", "-1", "0.5", "1e308", "1e999", "nan", "inf", "x", "", " ", "1.0", "10000",
                           "9999", '"1,2"', '"', "\ufeff1", "1e-400"]) | st.text(max_size=6)
_rows = st.lists(st.lists(_fields, min_size=0, max_size=5).map(",".join), max_size=12)


@_settings("csv")
@given(rows=_rows, newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_csv_rows(rows: list[str], newline: str) -> None:
    text = newline.join(rows)
    read = _read(load_csv, _file(text.encode("utf-8", "surrogatepass"), ".csv"), ValueError)
    if read is not None:
        X, y = read
        expected_X, expected_y = _csv_values(text)
        assert y == expected_y
        assert len(X) == len(expected_X) and all(
            len(a) == len(b) and all(map(same_bits, a, b)) for a, b in zip(X, expected_X, strict=True)
        ), f"read {X}, the file holds {expected_X}"


# Rows of one width, of numbers written in the ways a person or a program writes them (and a few that
# float() reads but a CSV of numbers may not hold): most files are accepted, so what they read back to is checked.
_numbers = st.sampled_from(["0", "1", "-1", "0.5", " 2 ", "+3", "1.0", "1e308", "1e-400", "-0.0", "5e-324", "10000",
                            "1_0", "\u0661", "0x1", "nan", "x"]) | _doubles.map(repr)
_labels = st.sampled_from(["0", "1", "2", "1.0", " 1", "2.0", "-1", "0.5", "1e0"])


@_settings("csv")
@given(width=st.integers(min_value=1, max_value=3), data=st.data(), header=st.booleans())
def test_csv_plausible_rows(width: int, data: Any, header: bool) -> None:
    rows = data.draw(st.lists(st.lists(_numbers, min_size=width, max_size=width).flatmap(
        lambda features: _labels.map(lambda label: [*features, label])), min_size=1, max_size=6))
    text = "\n".join(([",".join(f"c{i}" for i in range(width + 1))] if header else []) + [",".join(r) for r in rows])
    read = _read(load_csv, _file(text.encode(), ".csv"), ValueError)
    if read is not None:
        X, y = read
        expected_X, expected_y = _csv_values(text)
        assert y == expected_y and len(X) == len(expected_X)
        assert all(len(a) == len(b) and all(map(same_bits, a, b)) for a, b in zip(X, expected_X, strict=True)), (
            f"read {X}, the file holds {expected_X}"
        )


@_settings("text")
@given(text=st.text(max_size=400))
def test_gpt_data_text(text: str) -> None:
    documents = _read(gpt.read_documents, _file(text.encode("utf-8", "surrogatepass"), ".txt"), ValueError)
    if documents is not None:
        assert documents == _documents(text)


# ----------------------------------------------------------------------
# Torch models: Linear layers whose weights were replaced by tensors of random shape and dtype
# ----------------------------------------------------------------------

_shapes = st.lists(st.integers(min_value=0, max_value=3), min_size=0, max_size=3).map(tuple)
_dtypes = st.sampled_from(["float32", "float64", "float16", "int64", "complex64", "bool"])


@_settings("torch")
@given(layers=st.lists(st.tuples(_shapes, _shapes, _dtypes), min_size=1, max_size=3))
def test_torch_mlp_state(layers: list[tuple[tuple[int, ...], tuple[int, ...], str]]) -> None:
    torch = pytest.importorskip("torch")
    from micrograd.interop import from_torch

    modules = []
    for weight_shape, bias_shape, dtype in layers:
        linear = torch.nn.utils.skip_init(torch.nn.Linear, 2, 2)  # no random init: both tensors are replaced
        linear.weight = torch.nn.Parameter(torch.zeros(weight_shape, dtype=getattr(torch, dtype)), requires_grad=False)
        linear.bias = torch.nn.Parameter(torch.zeros(bias_shape, dtype=getattr(torch, dtype)), requires_grad=False)
        modules.append(linear)
    _read(from_torch, torch.nn.Sequential(*modules), ValueError)


@_settings("torch")
@given(replaced=st.lists(st.tuples(st.sampled_from(["wte.weight", "wpe.weight", "lm_head.weight",
                                                    "layers.0.attn_wq.weight", "layers.0.mlp_fc2.weight"]),
                                   _shapes, _dtypes), min_size=1, max_size=3))
def test_torch_gpt_state(replaced: list[tuple[str, tuple[int, ...], str]]) -> None:
    torch = pytest.importorskip("torch")
    from micrograd.interop import gpt_to_torch

    if "torch gpt" not in _VALID:
        _VALID["torch gpt"] = gpt.GPT(gpt.GPTConfig(vocab_size=3, n_embd=4, n_head=2, n_layer=1, block_size=4),
                                      chars=["a", "b"])
    module = gpt_to_torch(_VALID["torch gpt"])
    for name, shape, dtype in replaced:
        owner_name, _, attribute = name.rpartition(".")
        owner = module.get_submodule(owner_name)
        setattr(owner, attribute, torch.nn.Parameter(torch.zeros(shape, dtype=getattr(torch, dtype)),
                                                     requires_grad=False))
    _read(gpt.from_torch, module, ValueError)


# ----------------------------------------------------------------------
# Round trips: random models, tables and texts written, then read back equal, bit for bit
# ----------------------------------------------------------------------

_plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | _doubles | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
_history = st.lists(st.fixed_dictionaries({"step": st.integers(min_value=0, max_value=10**6), "loss": _doubles}),
                    max_size=4)


@_settings("round trip")
@given(nin=st.integers(min_value=1, max_value=4), nouts=st.lists(st.integers(min_value=1, max_value=4), min_size=1,
       max_size=3), activation=st.sampled_from(ACTIVATIONS), output=st.sampled_from(ACTIVATIONS), data=st.data(),
       step=st.integers(min_value=0, max_value=2**62),
       extra=st.dictionaries(st.text(max_size=8).filter(lambda key: key != "history"), _plain_json, max_size=3))
def test_mlp_checkpoint_round_trip(nin: int, nouts: list[int], activation: str, output: str, data: Any, step: int,
                                   extra: dict[str, Any]) -> None:
    model = seeded_mlp(0, nin, nouts, activation=activation, output_activation=output)
    for p in model.parameters():
        p.data = data.draw(_doubles)
    path = _file(b"", ".json")
    save(path, model, step=step, extra=extra)
    checkpoint, loaded = load_checkpoint_and_model(path)
    assert (loaded.nin, list(loaded.nouts), loaded.activation, loaded.output_activation) == (nin, nouts, activation,
                                                                                             output)
    written, read = model.state_dict(), loaded.state_dict()
    assert list(read) == list(written)
    assert all(same_bits(read[name], written[name]) for name in written), "a parameter came back changed"
    assert checkpoint["step"] == step and checkpoint["extra"] == extra


@_settings("round trip")
@given(chars=st.lists(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=6, unique=True),
       n_head=st.integers(min_value=1, max_value=2), head_size=st.integers(min_value=1, max_value=2),
       n_layer=st.integers(min_value=1, max_value=2), block_size=st.integers(min_value=1, max_value=5),
       data=st.data(), step=st.integers(min_value=0, max_value=2**62), history=_history)
def test_gpt_checkpoint_round_trip(chars: list[str], n_head: int, head_size: int, n_layer: int, block_size: int,
                                   data: Any, step: int, history: list[dict[str, Any]]) -> None:
    config = gpt.GPTConfig(vocab_size=len(chars) + 1, n_embd=n_head * head_size, n_head=n_head, n_layer=n_layer,
                           block_size=block_size)
    model = gpt.GPT(config, sorted(chars), rng=random.Random(0))
    for p in model.parameters():
        p.data = data.draw(_doubles)
    path = _file(b"", ".json")
    gpt.save(model, path, step=step, extra={"history": history})
    checkpoint = gpt.load_checkpoint(path)
    loaded = checkpoint["model_object"]
    assert loaded.config == config and loaded.chars == sorted(chars)
    written, read = model.state_dict(), loaded.state_dict()
    assert list(read) == list(written)
    assert all(same_bits(read[name], written[name]) for name in written), "a parameter came back changed"
    assert checkpoint["step"] == step and checkpoint["history"] == history


@_settings("round trip")
@given(width=st.integers(min_value=1, max_value=4), data=st.data(), header=st.booleans(),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_csv_round_trip(width: int, data: Any, header: bool, newline: str) -> None:
    # The project reads CSV but writes none: Python's csv module writes it, floats as repr (every digit).
    rows = data.draw(st.lists(st.tuples(st.lists(_doubles, min_size=width, max_size=width),
                                        st.integers(min_value=0, max_value=9)), min_size=1, max_size=8))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=newline)
    if header:
        writer.writerow([f"x{i}" for i in range(width)] + ["label"])
    writer.writerows([[repr(x) for x in features] + [label] for features, label in rows])
    X, y = load_csv(_file(text.getvalue().encode(), ".csv"))
    assert y == [label for _, label in rows]
    assert all(map(same_bits, [x for row in X for x in row], [x for features, _ in rows for x in features]))
    assert [len(row) for row in X] == [width] * len(rows)


@_settings("round trip")
@given(documents=st.lists(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"),
                                  min_size=1, max_size=12).map(str.strip).filter(bool), min_size=1, max_size=8))
def test_gpt_data_round_trip(documents: list[str]) -> None:
    assert gpt.read_documents(_file("\n".join(documents).encode(), ".txt")) == documents
