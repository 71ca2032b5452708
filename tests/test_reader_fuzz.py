"""Every file reader, fed random bytes and random JSON shapes: it succeeds or raises its own error.

The readers: MLP checkpoints (``micrograd.checkpoint.load_model``), GPT checkpoints
(``micrograd.gpt.load_checkpoint``), CSV (``micrograd.data.load_csv``), the text of
``micrograd gpt --data`` (``micrograd.gpt.read_documents``), and torch models
(``micrograd.interop.from_torch`` and ``micrograd.gpt.from_torch``, whose "files" are state dicts).

The only allowed outcomes are success, or the reader's own error class with a one-line message
that says something. Any other exception (a KeyError, an IndexError, a bare OverflowError, ...)
fails the test, and so does a peak of traced memory above ``MEMORY_LIMIT``: a small input must
never make a reader allocate much (a checkpoint whose sizes promise a huge model is refused
before the model is built).

Hypothesis is derandomized (the same inputs every run) and the example counts keep the default
run to a few seconds; ``-m slow`` is not needed for it. The counts per reader are in EXAMPLES.
"""

from __future__ import annotations

import copy
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

from micrograd import gpt
from micrograd.checkpoint import CheckpointError, load_model, save
from micrograd.data import load_csv
from micrograd.nn import MLP

MEMORY_LIMIT = 32 * 2**20  # bytes of traced Python allocations per input; each input is at most a few kB

EXAMPLES = {  # hypothesis examples per reader and kind of input
    "bytes": 100,
    "json": 80,
    "mutated": 100,
    "csv": 150,
    "text": 80,
    "torch": 40,
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


def _read(reader: Callable[[Any], object], argument: Any, allowed: type[BaseException] | tuple[type[BaseException], ...]
          ) -> None:
    """Run the reader; let only ``allowed`` errors with a one-line message through; bound its memory."""
    tracemalloc.start()
    try:
        reader(argument)
    except allowed as error:
        message = str(error)
        assert message.strip(), f"{type(error).__name__} with an empty message"
        assert "\n" not in message, f"{type(error).__name__} message is not one line: {message!r}"
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
    random.seed(0)
    path = _folder[0] / "valid-mlp.json"
    save(path, MLP(2, [3, 1]), step=1, extra={"history": [{"step": 0, "loss": 0.5, "accuracy": 0.5}]})
    return json.loads(path.read_text())


def _gpt_checkpoint() -> Any:
    training = gpt.train(["ab", "ba", "abba"], steps=1, n_embd=4, n_head=2, n_layer=1, block_size=4)
    path = _folder[0] / "valid-gpt.json"
    training.save(path)
    return json.loads(path.read_text(encoding="utf-8"))


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
    _read(read, _file(json.dumps(document).encode(), ".json"), allowed)


@st.composite
def _mutated_checkpoint(draw: Any, kind: str) -> Any:
    return draw(_mutated(_VALID[kind]))


@_settings("mutated")
@given(document=st.deferred(lambda: _mutated_checkpoint("mlp checkpoint")))
def test_mutated_mlp_checkpoint(document: Any) -> None:
    _read(load_model, _file(json.dumps(document).encode(), ".json"), CheckpointError)


@_settings("mutated")
@given(document=st.deferred(lambda: _mutated_checkpoint("gpt checkpoint")))
def test_mutated_gpt_checkpoint(document: Any) -> None:
    _read(gpt.load_checkpoint, _file(json.dumps(document, ensure_ascii=False).encode(), ".json"), gpt.CheckpointError)


# ----------------------------------------------------------------------
# CSV and text: random rows of plausible and implausible fields
# ----------------------------------------------------------------------

_fields = st.sampled_from(["0", "1", "2", "-1", "0.5", "1e308", "1e999", "nan", "inf", "x", "", " ", "1.0", "10000",
                           "9999", '"1,2"', '"', "\ufeff1", "1e-400"]) | st.text(max_size=6)
_rows = st.lists(st.lists(_fields, min_size=0, max_size=5).map(",".join), max_size=12)


@_settings("csv")
@given(rows=_rows, newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_csv_rows(rows: list[str], newline: str) -> None:
    _read(load_csv, _file(newline.join(rows).encode("utf-8", "surrogatepass"), ".csv"), ValueError)


@_settings("text")
@given(text=st.text(max_size=400))
def test_gpt_data_text(text: str) -> None:
    _read(gpt.read_documents, _file(text.encode("utf-8", "surrogatepass"), ".txt"), ValueError)


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
