"""The old path of the GPT's numpy engine, which is now ``micrograd.compiler.gpt``: every name is forwarded there."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from micrograd._engine_names import REMOVED_IN


def __getattr__(name: str) -> Any:
    warnings.warn(
        f"micrograd.gpt_compiled has moved to micrograd.compiler.gpt; import from there (the old path works "
        f"until {REMOVED_IN})",
        FutureWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module("micrograd.compiler.gpt"), name)
