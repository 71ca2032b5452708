"""Helpers shared by the test files: one copy of each, instead of one per file.

Plain functions and constants (fixtures live in conftest.py). Import them by name, as the test
files import conftest: ``from helpers import run_cli, same_bits``.

- Paths: ROOT (the repository), SRC (the micrograd under test, for child processes), TESTS.
- The CLI: ``run_main`` (in this process, exit status and output) and ``run_cli`` (``python -m
  micrograd`` in a child process, what a user at a shell sees).
- Child processes: ``engine_env`` (the environment, with the engine chosen), ``run_python`` and
  ``run_example`` (a script of examples/).
- Numbers: ``same_bits`` (bit-for-bit comparison, -0.0 and 0.0 differ).
- Models: ``seeded_mlp`` (an MLP whose initial weights a seed fixes).
- Optional packages: ``optional`` (the module or None) and ``needs`` (a skip mark naming what is missing).
- Pictures: ``svg_texts`` (the text of an SVG's text elements).
"""

from __future__ import annotations

import importlib
import math
import os
import random
import struct
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
SRC = ROOT / "src"
PURE_VARIABLE = "MICROGRAD_PURE"  # set to 1: the process runs the reference engine.py instead of the C one

# ----------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``micrograd.app.cli.main(argv)`` in this process: its exit status (argparse's SystemExit included),
    stdout and stderr. Output printed before the call is dropped first."""
    from micrograd.app.cli import main

    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's usage errors and --help
        code = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
    out, err = capsys.readouterr()
    return code, out, err


def run_cli(
    *argv: str,
    timeout: float = 120,
    pure: bool | None = None,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    cpu_seconds: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m micrograd ARGV`` in a fresh process, as a user at a shell runs it (see engine_env for
    ``pure`` and ``env``). The result holds the exit status, stdout and stderr; nothing is checked here.

    ``cpu_seconds`` bounds the child's CPU time (RLIMIT_CPU, POSIX): a test that some work is *not*
    done then fails the same on a busy machine as on an idle one, which a wall-clock bound would not.
    ``timeout`` is only a guard against a hang.
    """
    limit = None if cpu_seconds is None else lambda: _limit_cpu(cpu_seconds)
    return _child(["-m", "micrograd", *argv], pure, timeout, cwd, env, input, limit)


def _child(
    arguments: list[str],
    pure: bool | None,
    timeout: float,
    cwd: Path | str | None,
    env: Mapping[str, str] | None,
    input: str | None,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """This interpreter run with ``arguments``, its output captured as text, in engine_env's environment."""
    return subprocess.run(
        [sys.executable, *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=engine_env(pure, **(env or {})),
        input=input,
        preexec_fn=preexec,
    )


def _limit_cpu(seconds: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))


# ----------------------------------------------------------------------
# Child processes
# ----------------------------------------------------------------------


def engine_env(pure: bool | None = None, **extra: str) -> dict[str, str]:
    """This process's environment for a child, with the engine chosen: ``pure=True`` sets
    MICROGRAD_PURE=1 (the reference engine), ``pure=False`` removes it (the C accelerator where it
    is built), None leaves it as it is. ``extra`` is added last (PYTHONPATH=str(SRC), for instance)."""
    env = dict(os.environ)
    if pure is not None:
        env.pop(PURE_VARIABLE, None)
        if pure:
            env[PURE_VARIABLE] = "1"
    env.update(extra)
    return env


def run_python(
    code: str,
    *args: str,
    pure: bool | None = None,
    check: bool = True,
    timeout: float = 300,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -c CODE ARGS`` in a fresh interpreter (this one's executable), ``input`` on its stdin; see
    engine_env for ``pure`` and ``env``. With ``check`` a failing child fails the test with its stderr, not
    with a bare exit status; ``timeout`` only guards against a hang."""
    result = _child(["-c", code, *args], pure, timeout, cwd, env, input)
    if check and result.returncode != 0:
        raise AssertionError(f"the child Python exited with status {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def run_example(name: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``examples/NAME`` as a reader of the README would (``python examples/NAME``); ``timeout`` only
    guards against a hang. The result holds the exit status, stdout and stderr; nothing is checked here."""
    return _child([str(ROOT / "examples" / name)], None, timeout, ROOT, None, None)


# ----------------------------------------------------------------------
# Numbers, models, optional packages, pictures
# ----------------------------------------------------------------------


def same_bits(a: float, b: float) -> bool:
    """Whether two floats are the same double, bit for bit (so -0.0 is not 0.0); any NaN equals any NaN."""
    return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))


def seeded_mlp(seed: int, nin: int, nouts: list[int], **options: Any) -> Any:
    """``MLP(nin, nouts, **options)`` with its initial weights fixed by ``seed``.

    MLP draws from Python's global generator (as the lecture's does), so the seed is set right before;
    the generator is left where the MLP left it, as the lecture's code would.
    """
    from micrograd.nn import MLP

    random.seed(seed)
    return MLP(nin, nouts, **options)


def optional(name: str) -> ModuleType | None:
    """The module, or None when it is not installed (numpy and torch are optional extras)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def needs(name: str) -> pytest.MarkDecorator:
    """A mark that skips a test, saying so, when the optional package ``name`` is not installed."""
    return pytest.mark.skipif(optional(name) is None, reason=f"{name} is not installed")


def svg_texts(svg: str) -> list[str]:
    """The text of every text element of an SVG picture, in document order, entities decoded."""
    elements = ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")
    return ["".join(element.itertext()) for element in elements]
