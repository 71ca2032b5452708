"""micrograd: a scalar-valued reverse-mode autodiff engine and a small neural-net library.

``micrograd.load(path)`` gives back the model of any checkpoint the project writes (an MLP or a GPT).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from micrograd import _moved
from micrograd.autograd import grad
from micrograd.engine import Value, enable_grad, is_grad_enabled, linear, no_grad, topological_order
from micrograd.ops import defop

if TYPE_CHECKING:
    from micrograd._files import CheckpointError, PathLike
    from micrograd.gpt.model import GPT
    from micrograd.nn import MLP

__all__ = [
    "CheckpointError", "Value", "defop", "enable_grad", "grad", "is_grad_enabled", "linear", "load", "no_grad",
    "topological_order",
]
__version__ = "1.0.0"

_moved.install()  # `import micrograd.training` and the other old paths: see micrograd/_moved.py


def load(path: PathLike) -> MLP | GPT:
    """The model saved at ``path``, whichever kind of checkpoint it is: an MLP (``micrograd train``,
    ``micrograd demo``) or a GPT (``micrograd gpt train``).

    Raises CheckpointError (a ValueError) naming the file and the problem, FileNotFoundError for a
    missing file. ``micrograd.nn.load`` and ``micrograd.gpt.load`` read one kind each.
    """
    from micrograd._files import checkpoint_failure, checkpoint_kind, checkpoint_name, read_checkpoint_json

    name = checkpoint_name(path, "micrograd.load")
    fail = checkpoint_failure(name)
    data = read_checkpoint_json(name, fail)  # read once: the kind decides which reader checks the rest
    if checkpoint_kind(data, fail) == "gpt":
        from micrograd.gpt.checkpoint import checkpoint_from_data as gpt_checkpoint

        model: GPT = gpt_checkpoint(name, data)["model_object"]
        return model
    from micrograd.nn import checkpoint_from_data as mlp_checkpoint

    return mlp_checkpoint(name, data)[1]


def __getattr__(name: str) -> object:
    # CheckpointError is imported when first asked for: the file readers it lives with are not needed
    # by a program that only builds Values, and `import micrograd` stays as quick as the engine.
    if name == "CheckpointError":
        from micrograd._files import CheckpointError

        return CheckpointError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
