"""The words for "how the numbers are computed", the same in the CLI, the API and the docs.

- ``eager``: a graph of Values is built and walked backward every step (the C accelerator
  when it is built, else the reference ``engine.py``);
- ``compiled``: the graph is recorded once and turned into generated Python code
  (``micrograd.compiler.python``);
- ``numpy``: the graph is recorded once and replayed with numpy arrays
  (``micrograd.compiler.numpy``);
- ``torch``: the GPT as a PyTorch module (``micrograd.gpt.torch_engine``), for sizes the
  scalar engines cannot take;
- ``auto``: the fastest of these that is installed and can run the job.

Older releases used other words; they still work for one release, with a one-line notice.
"""

from __future__ import annotations

import warnings

__all__ = ["DESCRIPTIONS", "DEVICES", "DTYPES", "OLD_SPELLINGS", "REMOVED_IN", "canonical_engine"]

DESCRIPTIONS = {
    "eager": "a graph of Values every step",
    "compiled": "recorded once, run as generated Python code",
    "numpy": "recorded once, replayed with numpy arrays",
    "torch": "the same model in PyTorch",
    "auto": "the fastest installed engine that can run this",
}

# Where the torch engine runs, and in what numbers (``--device``, ``--dtype``): named here, not in the
# torch engine, so that the command line lists them without loading the GPT.
DEVICES = ("cpu", "cuda", "mps")
DTYPES = ("float64", "float32", "bfloat16")

# Old word -> (where it was used, the word now). "compiled" was the GPT's name for its numpy
# replay, so it only maps to "numpy" where a caller says the old GPT meaning applies.
OLD_SPELLINGS = {"batched": "numpy", "python": "compiled"}
GPT_OLD_SPELLINGS = {"compiled": "numpy"}
REMOVED_IN = "micrograd 1.2"


def canonical_engine(name: object, allowed: tuple[str, ...], what: str, *, old: dict[str, str] | None = None) -> str:
    """``name`` in today's words; an old spelling warns once (FutureWarning) and is translated.

    ``allowed`` are the engines this caller runs; ``what`` names the caller in messages
    (e.g. ``"micrograd train --engine"``); ``old`` overrides the table of old spellings.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__}")
    table = OLD_SPELLINGS if old is None else old
    if name not in allowed and name in table and table[name] in allowed:
        new = table[name]
        warnings.warn(f"{what} {name!r} is now called {new!r}; the old name works until {REMOVED_IN}",
                      FutureWarning, stacklevel=3)
        return new
    if name not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {name!r}")
    return name
