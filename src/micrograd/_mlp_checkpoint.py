"""What an MLP checkpoint holds, checked entry by entry before any Value is made.

``micrograd.nn.load`` builds the MLP from what :func:`check_mlp_checkpoint` returns; this module
does not import ``micrograd.nn`` (which imports it), so the activations are passed in.
A checkpoint is described in ``micrograd.app.checkpoint``, which writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from micrograd._files import CHECKPOINT_FORMAT, READERS, checked_parameters, checkpoint_kind

__all__ = ["VERSION", "check_mlp_checkpoint"]

VERSION = 1  # the newest MLP checkpoint version this micrograd reads (and the one it writes)
_SPEC_KEYS = ("type", "nin", "nouts", "activation", "output_activation")

Fail = Callable[[str], Exception]


def check_mlp_checkpoint(data: dict[str, Any], activations: Sequence[str], fail: Fail) -> dict[str, Any]:
    """The checked contents of an MLP checkpoint (``data`` as :func:`micrograd._files.read_checkpoint_json`
    returns it), keys as ``micrograd.app.checkpoint.save`` writes them; ``fail(problem)`` makes the error."""
    if checkpoint_kind(data, fail) != "mlp":
        raise fail(READERS[data["kind"]])
    version = _checked_version(data.get("version"), fail)
    for key in ("model", "parameters"):
        if key not in data:
            raise fail(f"missing key {key!r}")
    spec = _checked_architecture(data["model"], activations, fail)
    parameters = checked_parameters(data["parameters"], fail)
    sizes = [spec["nin"], *spec["nouts"]]
    # Each layer has (inputs + 1 bias) * outputs parameters.
    expected_count = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True))
    if len(parameters) != expected_count:
        # Checked before building, so a hand-edited layer size cannot allocate a huge model.
        raise fail(
            f"the model {spec['nin']} -> {spec['nouts']} has {expected_count} parameters, the file {len(parameters)}"
        )
    step = data.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise fail(f"'step' must be an int >= 0, got {step!r}")
    for key in ("optimizer", "scheduler"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise fail(f"{key!r} must be an object or null, got {type(data[key]).__name__}")
    extra = data.get("extra", {})
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise fail(f"'extra' must be an object, got {type(extra).__name__}")
    return {
        "format": CHECKPOINT_FORMAT,
        "version": version,
        "model": spec,
        "parameters": parameters,
        "optimizer": data.get("optimizer"),
        "scheduler": data.get("scheduler"),
        "step": step,
        "extra": extra,
    }


def _checked_version(version: object, fail: Fail) -> int:
    if isinstance(version, bool) or not isinstance(version, int):
        raise fail(f"'version' must be an int, got {version!r}")
    if version > VERSION:
        raise fail(f"version {version} was written by a newer micrograd; this one reads version {VERSION}")
    if version < 1:
        raise fail(f"'version' must be at least 1, got {version}")
    return version


def _checked_architecture(spec: Any, activations: Sequence[str], fail: Fail) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise fail(f"'model' must be an object, got {type(spec).__name__}")
    for key in _SPEC_KEYS:
        if key not in spec:
            raise fail(f"missing key 'model.{key}'")
    if spec["type"] != "MLP":
        raise fail(f"'model.type' is {spec['type']!r}; only 'MLP' can be loaded")
    nin, nouts = spec["nin"], spec["nouts"]
    if isinstance(nin, bool) or not isinstance(nin, int) or nin < 1:
        raise fail(f"'model.nin' must be an int >= 1, got {nin!r}")
    if not isinstance(nouts, list) or not nouts:
        raise fail(f"'model.nouts' must be a non-empty list of layer sizes, got {nouts!r}")
    for i, size in enumerate(nouts):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise fail(f"'model.nouts[{i}]' must be an int >= 1, got {size!r}")
    for key in ("activation", "output_activation"):
        if spec[key] not in activations:
            raise fail(f"'model.{key}' is {spec[key]!r}; expected one of {', '.join(activations)}")
    return {key: spec[key] for key in _SPEC_KEYS}
