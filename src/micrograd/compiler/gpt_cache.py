"""The GPT's recorded plan, kept on disk between runs of the numpy engine.

Recording a GPT's training step (running it once on Values, describing the graph, grouping it for
the replay) takes about 50 ms: a sixth of a whole 100-step run, and the same in every run of the
same sizes. So the numpy engine keeps what it cuts its programs from (``SequencePlan.parts()``) in
one file per sizes and version of the code, and reads that back instead of recording again.

* Where: ``$MICROGRAD_CACHE_DIR`` (set but empty: no cache), else ``$XDG_CACHE_HOME/micrograd``,
  else ``~/.cache/micrograd``. A file is ``gpt-plan-<key>.npz``: numpy arrays and a JSON header,
  read with ``allow_pickle=False``, so no code is ever loaded from it.
* The key: the model's sizes, its BOS and number of parameters, micrograd's version and engine
  (C or Python), Python's version, and the size and modification time of every file of the
  package, so that any edit of the code makes a new key. A plan using a row whose rule was replaced
  at run time (``op.derivative = ...``, ``Op.edited``) is neither read nor kept, and a model of
  another class keeps no plan.
* Trust, then check: the first step on a plan read from a file is checked against the eager
  model on the same document (``CompiledTraining``); unless the two losses are the same float,
  the file is deleted and the plan recorded again.
* At most ``KEEP`` plans are kept; the least recently used go first.
* A file that cannot be read or written is passed over: the cache only ever saves time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from micrograd import engine, ops
from micrograd.compiler.numpy import DenseGrid, Group

__all__ = ["cache_folder", "plan_file", "read_plan", "write_plan", "forget_plan"]

FORMAT = 1  # of the file; a new layout of the parts is a new number, and old files are passed over
KEEP = 16  # plans kept at most: each edit of the code makes a new key, and the least recently used go
_PACKAGE = Path(__file__).resolve().parent.parent
_GRID_PARTS = tuple(part.name for part in dataclasses.fields(DenseGrid))


def cache_folder() -> Path | None:
    """Where plans are kept, or None when ``MICROGRAD_CACHE_DIR`` is set but empty."""
    chosen = os.environ.get("MICROGRAD_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "micrograd"


def plan_file(model: Any) -> Path | None:
    """The file of this model's plan, or None when its plan is not to be kept (see the module's notes)."""
    from micrograd import __version__

    folder = cache_folder()
    # The GPT of micrograd.gpt.model itself (named, not imported: the GPT is a layer above the compiler).
    ours = (type(model).__module__, type(model).__qualname__) == ("micrograd.gpt.model", "GPT")
    if folder is None or not ours:
        return None
    key = hashlib.sha256()
    c = model.config
    key.update(repr((FORMAT, c.vocab_size, c.n_embd, c.n_head, c.n_layer, c.block_size, model.bos,
                     len(model.parameters()), __version__, engine.backend, sys.version_info[:3])).encode())
    for path in sorted(_PACKAGE.rglob("*")):
        if path.suffix in (".py", ".c", ".so") and "__pycache__" not in path.parts:
            status = path.stat()
            key.update(f"{path.relative_to(_PACKAGE)}:{status.st_size}:{status.st_mtime_ns};".encode())
    return folder / f"gpt-plan-{key.hexdigest()[:32]}.npz"


def read_plan(path: Path | None) -> dict[str, Any] | None:
    """The parts of a plan (``SequencePlan.from_parts``) kept at ``path`` (``plan_file(model)``) by a run
    of the same code and sizes, or None (none kept, or unreadable)."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            parts = _parts({name: stored[name] for name in stored.files})
        os.utime(path)  # used now: the last to go when there are too many
        return parts
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, KeyError, TypeError):  # JSONDecodeError: a ValueError
        return None  # unreadable, written by another version, or of an op no longer in the table


def write_plan(path: Path | None, parts: dict[str, Any]) -> None:
    """Keep a plan's parts (``SequencePlan.parts()``) at ``path`` for the next run: written whole or not at
    all, and any failure passed over."""
    if path is None:
        return
    arrays = _arrays(parts)
    if arrays is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # (the stubs read **arrays as allow_pickle)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".gpt-plan-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(buffer.getvalue())
            os.replace(temporary, path)  # a reader sees the old file or the new one, never half of one
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        kept = sorted(path.parent.glob("gpt-plan-*.npz"), key=lambda file: file.stat().st_mtime_ns)
        for old in kept[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        return


def forget_plan(path: Path | None) -> None:
    """Delete a kept plan (one that gave another loss than the eager model)."""
    if path is not None:
        with contextlib.suppress(OSError):  # a file that cannot be deleted is recorded over next time
            path.unlink(missing_ok=True)


def _arrays(parts: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The parts as named arrays and a JSON header; None if a constant is not a plain number, or if
    the plan uses a row whose rule was replaced at run time (the file would outlive the change)."""
    if parts["constants"] or any(op.edited for op in parts["ops"]):
        return None
    groups = []
    arrays: dict[str, np.ndarray] = {"outputs": parts["outputs"], "needs_grad": parts["needs_grad"]}
    for name, leaf in parts["leaves"].items():
        arrays[f"leaf_{name}"] = leaf
    for g, group in enumerate(parts["groups"]):
        if not all(type(value) in (int, float) for value in group.attrs.values()):
            return None
        groups.append({"op": group.op.name, "attrs": dict(group.attrs), "tokens": list(group.tokens),
                       "grid": group.grid is not None})  # (needs_grad: a program works it out for its cut)
        arrays[f"g{g}_out"], arrays[f"g{g}_children"] = group.out, group.children
        for name, positions in group.tokens.items():
            arrays[f"g{g}_token_{name}"] = positions
        if group.grid is not None:
            for part in _GRID_PARTS:
                arrays[f"g{g}_grid_{part}"] = getattr(group.grid, part)
    header = {"format": FORMAT, "size": parts["size"], "n_params": parts["n_params"], "groups": groups,
              "ops": [op.name for op in parts["ops"]], "leaves": list(parts["leaves"])}
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    return arrays


def _parts(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """``SequencePlan.parts()`` again, from the arrays of a file; KeyError or ValueError if they are not that."""
    header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    if header["format"] != FORMAT:
        raise ValueError(f"a plan of format {header['format']}")
    used = [ops.OPS[name] for name in header["ops"]]
    if any(op.edited for op in used):
        raise ValueError("the plan uses a row whose rule was replaced at run time")
    groups = []
    for g, about in enumerate(header["groups"]):
        grid = DenseGrid(*(arrays[f"g{g}_grid_{part}"] for part in _GRID_PARTS)) if about["grid"] else None
        tokens = {name: arrays[f"g{g}_token_{name}"] for name in about["tokens"]}
        groups.append(Group(ops.OPS[about["op"]], about["attrs"], tokens, arrays[f"g{g}_out"],
                            arrays[f"g{g}_children"], grid=grid))
    return {"size": header["size"], "n_params": header["n_params"], "outputs": arrays["outputs"],
            "leaves": {name: arrays[f"leaf_{name}"] for name in header["leaves"]}, "groups": groups,
            "needs_grad": arrays["needs_grad"], "ops": used}
