"""The ``dot`` command installed with micrograd: Graphviz's when there is one, else micrograd's layered layout.

The ``graphviz`` Python package (which the lecture's ``trace_graph.ipynb`` uses) runs a program
called ``dot``. Where Graphviz is not installed, this command stands in for it, drawing with
:mod:`micrograd.viz.render`. It never shadows a real Graphviz: if another ``dot`` is found
anywhere on the PATH, that one is run instead, with the same arguments.

It takes the options the ``graphviz`` package passes, and a few more::

    dot [-Kengine] [-Tformat] [-o FILE | -O] [-Gname=value] [-Nname=value] [-Ename=value] [-q] [-V] [FILE ...]

Reads the files (or stdin) and writes the picture to stdout, to ``-o FILE``, or (``-O``) next to each
input as ``FILE.format``. ``-V`` prints the version line to stderr, as Graphviz does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from micrograd._files import atomic_write
from micrograd.viz.dot_reader import Defaults, DotSyntaxError

__all__ = ["main", "real_graphviz_dot", "is_stand_in"]

# The graphviz package reads the version with "dot - graphviz version X.Y.Z"; 0.0.0 says this is no Graphviz.
VERSION_LINE = "dot - graphviz version 0.0.0 (micrograd's layered layout, standing in for Graphviz, not installed)"

_MARK = b"micrograd.viz.dot_command"  # in the console-script wrapper pip writes for this module


def is_stand_in(path: str | os.PathLike[str]) -> bool:
    """Whether the program at ``path`` is this stand-in (pip's wrapper names this module), not Graphviz."""
    try:
        with open(path, "rb") as program:
            head = program.read(4096)
    except OSError:
        return False
    # A real dot is a compiled program far larger than a wrapper; a wrapper names this module near its top.
    # (pip's .exe launchers on Windows carry the script at their end: look there too.)
    if _MARK in head:
        return True
    try:
        size = os.path.getsize(path)
        if size < 1_000_000:
            with open(path, "rb") as program:
                return _MARK in program.read()
    except OSError:
        return False
    return False


def real_graphviz_dot(path_variable: str | None = None) -> str | None:
    """The first ``dot`` on the PATH that is not this stand-in, or None."""
    folders = (os.environ.get("PATH", "") if path_variable is None else path_variable).split(os.pathsep)
    names = ["dot"] + ([name + ext.lower() for ext in os.environ.get("PATHEXT", ".EXE").split(";") for name in ["dot"]]
                       if os.name == "nt" else [])  # fmt: skip
    for folder in folders:
        if not folder:
            continue
        for name in names:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK) and not is_stand_in(candidate):
                return candidate
    return None


def _usage_error(message: str) -> int:
    print(f"dot: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run as ``dot``: hand over to a real Graphviz if there is one, else draw with the layered layout."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # run as the program: a real Graphviz, if there is one, draws (argv given: a caller wants this)
        real = real_graphviz_dot()
        if real is not None:
            os.execv(real, [real, *arguments])  # never returns: Graphviz does everything, exactly as asked
    # The layout is imported only now: a hand-over to Graphviz, and find_renderer's PATH scan, need none of it.
    from micrograd.viz.render import FORMATS, MissingPainter, normal_format, render_dot

    format = "dot"  # Graphviz's default output is the DOT text back
    output: str | None = None
    auto_name = False
    defaults = Defaults()  # -G, -N, -E: attributes the files start from
    inputs: list[str] = []
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        position += 1
        if argument == "-V":
            print(VERSION_LINE, file=sys.stderr)
            return 0
        if argument in ("-?", "--help", "-h"):
            print(__doc__, file=sys.stdout)
            return 0
        if argument.startswith("-T"):
            format = argument[2:]
        elif argument.startswith("-K") or argument.startswith("-n") or argument in ("-y", "-v") or argument.startswith(
            "-q"
        ):
            pass  # the engine (always a layered layout here), neato's -n, y-flip, verbosity: nothing to do
        elif argument.startswith("-l"):
            pass  # a PostScript library: not used by SVG or PNG
        elif argument == "-O":
            auto_name = True
        elif argument.startswith("-o"):
            output = argument[2:]
            if not output:
                if position >= len(arguments):
                    return _usage_error("-o needs a file name")
                output = arguments[position]
                position += 1
        elif argument[:2] in ("-G", "-N", "-E") and len(argument) > 2:
            name, _, value = argument[2:].partition("=")
            chosen = {"G": defaults.graph, "N": defaults.node, "E": defaults.edge}[argument[1]]
            chosen[name] = value or "true"
        elif argument.startswith("-") and argument != "-":
            return _usage_error(f"option {argument} is not one this stand-in knows (see dot -?)")
        else:
            inputs.append(argument)

    try:
        format = normal_format(format)
    except ValueError:
        return _usage_error(f'format "{format}" not recognized. Use one of: {" ".join(FORMATS)}')
    sources: list[tuple[str | None, str]] = []
    if not inputs or inputs == ["-"]:
        sources.append((None, sys.stdin.read()))
    else:
        for name in inputs:
            try:
                sources.append((name, Path(name).read_text(encoding="utf-8")))
            except OSError as error:
                return _usage_error(f"cannot read {name}: {error.strerror or error}")
    for input_name, source in sources:
        try:
            picture = render_dot(source, format, defaults)
        except (DotSyntaxError, ValueError) as error:
            print(f"Error: {input_name or '<stdin>'}: {error}", file=sys.stderr)
            return 1
        except MissingPainter as error:
            print(f"Error: {error}", file=sys.stderr)
            return 1
        if auto_name:
            base = input_name if input_name is not None else "noname.gv"
            atomic_write(f"{base}.{format}", picture)
        elif output is not None:
            atomic_write(output, picture)
        else:
            sys.stdout.buffer.write(picture)
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
