"""The old module paths, such as ``micrograd.training``, of modules that moved into the layers.

There is no file for them. ``import micrograd.training`` (or ``from micrograd.training import
start_run``) still works for one release: the import system asks :class:`OldPaths`, which makes
a small module whose module-level ``__getattr__`` forwards every name to the new module
(``micrograd.app.training``), and warns once, with a FutureWarning of one line naming the new path.
The core never imports the layers by name here: the new module is imported only when old code asks.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

from micrograd._engine_names import REMOVED_IN

__all__ = ["MOVED", "OldPaths", "install", "notice"]

MOVED = {
    "micrograd.cli": "micrograd.app.cli",
    "micrograd.training": "micrograd.app.training",
    "micrograd.checkpoint": "micrograd.app.checkpoint",
    "micrograd.data": "micrograd.app.data",
    "micrograd.plots": "micrograd.app.plots",
    "micrograd.expr": "micrograd.app.expr",
    "micrograd.compiled": "micrograd.compiler",
    "micrograd.html": "micrograd.viz.html",
    "micrograd.gpt_compiled": "micrograd.compiler.gpt",
}


def notice(old: str) -> str:
    """The one line an import of the old path ``old`` warns with."""
    return f"{old} has moved to {MOVED[old]}; import from there (the old path works until {REMOVED_IN})"


class OldPaths:
    """Finds and loads the old paths of :data:`MOVED`, and nothing else: a finder for ``sys.meta_path``
    and its loader (the protocols of importlib.abc, without importing it: that costs more than all of this)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, cast("Loader", self), origin=f"moved to {MOVED[fullname]}")

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # a plain new module

    def exec_module(self, module: ModuleType) -> None:
        old = module.__name__
        # stacklevel 2: the warnings module skips the import system's own frames, so the
        # notice names the line that imported the old path.
        warnings.warn(notice(old), FutureWarning, stacklevel=2)
        new = importlib.import_module(MOVED[old])

        def forward(name: str) -> Any:
            return getattr(new, name)  # an AttributeError names the new module, where the name is missing

        module.__doc__ = f"The old path of {MOVED[old]}: every name is that module's."
        module.__all__ = list(getattr(new, "__all__", ()))  # type: ignore[attr-defined]
        module.__getattr__ = forward  # type: ignore[method-assign]
        module.__dir__ = lambda: sorted(set(dir(new)) | set(vars(module)))  # type: ignore[method-assign]


def install() -> None:
    """Put :class:`OldPaths` at the end of ``sys.meta_path``, once (re-importing micrograd adds no second)."""
    if not any(type(finder).__name__ == "OldPaths" and type(finder).__module__ == __name__
               for finder in sys.meta_path):
        sys.meta_path.append(OldPaths())
