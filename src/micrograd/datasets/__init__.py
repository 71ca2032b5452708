"""Data files shipped with micrograd.

- ``names.txt``: 32,033 names, one per line, from Andrej Karpathy's makemore repository
  (MIT licence, Copyright (c) 2022 Andrej Karpathy; the full text is in ``LICENSE-names.txt``
  beside it). Karpathy's microgpt.py trains on it, and so does ``micrograd gpt train`` by default.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["names_path"]


def names_path() -> Path:
    """The path of the shipped ``names.txt``."""
    return Path(str(resources.files(__name__).joinpath("names.txt")))
