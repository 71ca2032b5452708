"""The README's Python examples run and print what their comments say."""

from __future__ import annotations

import contextlib
import io
import re

from conftest import ROOT

BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _expected_prints(code: str) -> list[str]:
    """For each print line, the first words of its comment: what the line must print."""
    out = []
    for line in code.splitlines():
        if line.startswith("print(") and "#" in line:
            comment = line.split("#", 1)[1].strip()
            comment = comment.removeprefix("prints ").split(",")[0].split(" (")[0]
            out.append(comment.strip())
    return out


def test_readme_examples_print_what_they_say() -> None:
    blocks = BLOCK.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 2
    for code in blocks:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, "README.md", "exec"), {})
        printed = buffer.getvalue().splitlines()
        expected = _expected_prints(code)
        assert len(printed) == len(expected), (printed, expected)
        for got, want in zip(printed, expected, strict=True):
            assert got.startswith(want), (got, want)
