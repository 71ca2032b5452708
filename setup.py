"""Builds micrograd's C accelerator (micrograd/_cengine.c) when it can.

Everything else about the package is in pyproject.toml. Where the extension cannot be
built (no C compiler, no Python headers), the install still succeeds with the pure-Python
reference engine, and says so in one line.
"""

from __future__ import annotations

import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

FALLBACK = "micrograd: the C accelerator was not built ({}); the pure-Python reference engine will be used"


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into one line of output instead of a failed install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # e.g. no compiler found at all
            print(FALLBACK.format(_reason(error)), file=sys.stderr)

    def build_extension(self, ext: Any) -> None:
        if self.compiler.compiler_type == "unix":
            # Bit-identical results need the same float operations as Python: no fused multiply-add.
            ext.extra_compile_args = ["-ffp-contract=off", "-fno-fast-math"]
        try:
            super().build_extension(ext)
        except Exception as error:
            print(FALLBACK.format(_reason(error)), file=sys.stderr)


def _reason(error: Exception) -> str:
    if type(error).__name__ in ("CompileError", "LinkError"):  # the compiler's own output is above this line
        return "compiling micrograd/_cengine.c failed"
    text = str(error).strip()
    return text.splitlines()[-1][:100] if text else type(error).__name__


setup(
    ext_modules=[Extension("micrograd._cengine", ["src/micrograd/_cengine.c"], optional=True)],
    cmdclass={"build_ext": OptionalBuildExt},
)
