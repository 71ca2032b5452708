"""The ``dot`` command installed with micrograd: Graphviz's when there is one, else micrograd's layered layout.

The ``graphviz`` Python package (which the lecture's ``trace_graph.ipynb`` uses) runs a program
called ``dot``. Where Graphviz is not installed, this command stands in for it, drawing with
:mod:`micrograd.viz.render`. It never shadows a real Graphviz: if another ``dot`` is found
anywhere on the PATH, that one is run instead, with the same arguments.

It takes the options the ``graphviz`` package passes, and a few more::

    dot [-Kengine] [-Tformat] [-o FILE | -O] [-Gname=value] [-Nname=value] [-Ename=value] [-q] [-V] [FILE ...]

Reads the files (or stdin) and writes the picture to stdout, to ``-o FILE``, or (``-O``) next to each
input as ``FILE.format``. ``-V`` prints the version line to stderr, as Graphviz does.

Formats: svg; png, pdf and jpg (painted with matplotlib); plain (positions in inches); dot, gv and
canon (the DOT text back, without positions). xdot is Graphviz's own and is refused. An output that
is a device or a FIFO (/dev/null, /dev/stdout) is written in place; a file is replaced whole.
Inputs are UTF-8 (Latin-1 with a warning, or with charset=latin1), read up to 64 MiB each.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from micrograd._files import InputFileError, atomic_write, read_limit, read_limited
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


@dataclass
class _Request:
    """What a ``dot`` command line asks for."""

    format: str = "dot"  # Graphviz's default output is the DOT text back
    output: str | None = None
    auto_name: bool = False  # -O: each picture beside its input
    defaults: Defaults = field(default_factory=Defaults)  # -G, -N, -E: attributes the files start from
    inputs: list[str] = field(default_factory=list)


def main(argv: Sequence[str] | None = None) -> int:
    """Run as ``dot``: hand over to a real Graphviz if there is one, else draw with the layered layout."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # run as the program: a real Graphviz, if there is one, draws (argv given: a caller wants this)
        real = real_graphviz_dot()
        if real is not None:
            os.execv(real, [real, *arguments])  # never returns: Graphviz does everything, exactly as asked
    # The layout is imported only now: a hand-over to Graphviz, and find_renderer's PATH scan, need none of it.
    from micrograd.viz.render import FORMATS, normal_format

    request = _read_arguments(arguments)
    if isinstance(request, int):  # -V, -? or a usage error: done
        return request
    try:
        format = normal_format(request.format)
    except ValueError as error:
        if request.format.lower().startswith("xdot"):
            return _usage_error(str(error))
        return _usage_error(f'format "{request.format}" not recognized. Use one of: {" ".join(FORMATS)}')
    return _draw_all(request.inputs, format, request.defaults, request.output, request.auto_name)


def _read_arguments(arguments: list[str]) -> _Request | int:
    """The request of a ``dot`` command line, or the exit status if it is answered here (-V, -?, a usage error)."""
    request = _Request()
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
            request.format = argument[2:]
        elif argument.startswith("-K") or argument.startswith("-n") or argument in ("-y", "-v") or argument.startswith(
            "-q"
        ):
            pass  # the engine (always a layered layout here), neato's -n, y-flip, verbosity: nothing to do
        elif argument.startswith("-l"):
            pass  # a PostScript library: not used by SVG or PNG
        elif argument == "-O":
            request.auto_name = True
        elif argument.startswith("-o"):
            request.output = argument[2:]
            if not request.output:
                if position >= len(arguments):
                    return _usage_error("-o needs a file name")
                request.output = arguments[position]
                position += 1
        elif argument[:2] in ("-G", "-N", "-E") and len(argument) > 2:
            name, _, value = argument[2:].partition("=")
            chosen = {"G": request.defaults.graph, "N": request.defaults.node, "E": request.defaults.edge}[argument[1]]
            chosen[name] = value or "true"
        elif argument.startswith("-") and argument != "-":
            return _usage_error(f"option {argument} is not one this stand-in knows (see dot -?)")
        else:
            request.inputs.append(argument)
    return request


def _draw_all(inputs: list[str], format: str, defaults: Defaults, output: str | None, auto_name: bool) -> int:
    """Read every input, then draw each to ``output``, stdout (None) or (``auto_name``) beside it; the exit status."""
    from micrograd.viz.render import MissingPainter, render_dot

    sources: list[tuple[str | None, str]] = []
    for name in inputs or ["-"]:
        try:
            sources.append((None if name == "-" else name, _source_text(name, defaults)))
        except InputFileError as error:
            return _usage_error(str(error))
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
        except RecursionError:  # a last guard: the reader and the layout keep their depth bounded
            print(f"Error: {input_name or '<stdin>'}: the graph is nested too deeply to draw", file=sys.stderr)
            return 1
        target = f"{input_name or 'noname.gv'}.{format}" if auto_name else output
        code = _deliver(picture, target)
        if code:
            return code
    return 0


_LIMIT_HINT = "; install Graphviz to draw larger graphs"
_LATIN_1 = ("latin1", "latin-1", "l1", "iso-8859-1", "iso_8859-1", "iso8859-1", "isolatin1")


def _source_text(name: str, defaults: Defaults) -> str:
    """The DOT text of the input ``name`` ("-": stdin), read up to the read limit (64 MiB unless raised).

    Any file that can be read is read, a pipe or a device too (as Graphviz does), but never more
    than the limit plus one byte: /dev/zero is refused, not read until the memory runs out.
    The text is UTF-8, Graphviz's default; Latin-1 if the graph says charset=latin1 (or -Gcharset=latin1),
    and text that is not UTF-8 is read as Latin-1 with a warning, as Graphviz does.
    """
    what = "standard input" if name == "-" else name
    limit = read_limit()
    if name == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text stream put in place of stdin (an embedding program, a test)
            data = sys.stdin.read(limit + 1).encode("utf-8")
            if len(data) > limit:
                raise InputFileError(f"{what} is over the limit of {limit:,} bytes{_LIMIT_HINT}")
        else:
            data = read_limited(stream, what, hint=_LIMIT_HINT)
    else:
        with open(name, "rb") as file:
            status = os.fstat(file.fileno())
            if stat.S_ISREG(status.st_mode) and status.st_size > limit:
                raise InputFileError(
                    f"{what} is {status.st_size:,} bytes, over the limit of {limit:,}{_LIMIT_HINT}"
                )
            data = read_limited(file, what, hint=_LIMIT_HINT)
    head = data.decode("latin-1")  # every byte is a character: finds an ASCII "charset=..." in any text
    said = re.search(r"""\bcharset\s*=\s*"?([A-Za-z0-9_.-]+)""", head)
    charset = defaults.graph.get("charset") or (said.group(1) if said else "utf-8")
    if charset.lower() in _LATIN_1:
        return head
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        print(
            f"Warning: {what}: invalid UTF-8 at byte {error.start:,}; the text is read as Latin-1. "
            'Perhaps "-Gcharset=latin1" is needed?',
            file=sys.stderr,
        )
        return head


def _deliver(picture: bytes, target: str | None) -> int:
    """Write ``picture`` to the file ``target`` (a device or FIFO in place), or stdout if None; 0 or an exit status."""
    if target is None:
        try:
            # In pieces if need be: with python -u (PYTHONUNBUFFERED) stdout.buffer is the raw file, whose
            # write() may take part of the bytes (a pipe whose reader left) and leave the rest unsaid.
            remaining = memoryview(picture)
            while remaining:
                remaining = remaining[sys.stdout.buffer.write(remaining) or 0 :]
            sys.stdout.flush()
        except BrokenPipeError:  # the reader stopped early (dot ... | head): nothing to report, as Graphviz
            with contextlib.suppress(OSError, AttributeError, ValueError):  # and no second complaint at exit
                nowhere = os.open(os.devnull, os.O_WRONLY)
                os.dup2(nowhere, sys.stdout.fileno())
                os.close(nowhere)
            return 141  # what a shell reports for a program ended by SIGPIPE
        return 0
    try:
        atomic_write(target, picture)
    except OSError as error:
        return _usage_error(f"cannot write {target}: {error.strerror or error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
