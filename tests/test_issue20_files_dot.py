"""Issue 20, items 1 and 11: outputs that are devices or FIFOs are written in place, and the ``dot`` stand-in
answers every mistake with one line (no traceback), reads at most its limit, and never passes text off as xdot.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import helpers
from micrograd._files import atomic_write, reading_limit
from micrograd.viz.dot_command import main as dot_main

SRC = str(helpers.SRC)  # the micrograd under test, for the subprocesses
DOT = "digraph { a -> b }"
posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, device nodes and /dev are POSIX")


def run_dot(arguments: list[str], stdin: bytes = b"", timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """``dot ARGUMENTS`` as its own process (the stand-in even where Graphviz is installed: main is given argv)."""
    program = "import sys\nfrom micrograd.viz.dot_command import main\nsys.exit(main(sys.argv[1:]))\n"
    environment = helpers.engine_env(PYTHONPATH=SRC)
    return subprocess.run([sys.executable, "-c", program, *arguments], input=stdin, capture_output=True,
                          env=environment, timeout=timeout)  # fmt: skip


def one_line(stderr: bytes | str) -> str:
    """The one line a failing dot prints; fails the test on a traceback or a second line."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    assert "Traceback" not in text, text
    assert text.endswith("\n") and text.count("\n") == 1, text
    return text


def in_process(arguments: list[str], capsysbinary: pytest.CaptureFixture[bytes]) -> tuple[int, bytes, str]:
    code = dot_main(arguments)
    captured = capsysbinary.readouterr()
    return code, captured.out, captured.err.decode("utf-8")


def private_null(folder: Path) -> Path:
    """A character device node like /dev/null (1, 3) in ``folder``; skips where we may not make one (not root)."""
    node = folder / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (OSError, AttributeError) as error:
        pytest.skip(f"cannot make a device node here: {error}")
    return node


# ----------------------------------------------------------------------
# Item 1: a device or a FIFO named as the output is written in place, not replaced by a regular file
# ----------------------------------------------------------------------


@posix_only
def test_a_fifo_named_as_the_output_receives_the_bytes_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # The reading end is opened first (without waiting), so the write does not wait for a reader.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        atomic_write(fifo, "through the pipe")
        received = os.read(reader, 1000)
    finally:
        os.close(reader)
    assert received == b"through the pipe"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pipe"]  # no temporary file left behind


@posix_only
def test_a_fifo_with_a_reader_waiting_gets_the_whole_picture(tmp_path: Path) -> None:
    fifo = tmp_path / "picture.svg"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    source = tmp_path / "g.dot"
    source.write_text(DOT, encoding="utf-8")
    finished = run_dot(["-Tsvg", "-o", str(fifo), str(source)], timeout=60)
    reader.join(timeout=30)
    assert finished.returncode == 0, finished.stderr
    assert received and received[0].count(b'class="node"') == 2  # the whole SVG came through the FIFO
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # which is still one


@posix_only
def test_a_device_node_named_as_the_output_stays_a_device(tmp_path: Path) -> None:
    node = private_null(tmp_path)
    assert atomic_write(node, b"x" * 10_000) == node
    assert stat.S_ISCHR(os.stat(node).st_mode)
    # Through the CLI writers too: dot -o, and explain --html, which write with atomic_write.
    source = tmp_path / "g.dot"
    source.write_text(DOT, encoding="utf-8")
    finished = run_dot(["-Tsvg", "-o", str(node), str(source)])
    assert finished.returncode == 0, finished.stderr
    assert stat.S_ISCHR(os.stat(node).st_mode)
    from micrograd.app.cli import main as cli_main

    assert cli_main(["explain", "x*2", "--set", "x=1", "--html", str(node)]) == 0
    assert stat.S_ISCHR(os.stat(node).st_mode)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["g.dot", "null"]


@posix_only
def test_a_symlink_to_a_device_writes_the_device_and_keeps_the_link(tmp_path: Path) -> None:
    node = private_null(tmp_path)
    link = tmp_path / "out.svg"
    link.symlink_to(node)
    atomic_write(link, "<svg/>")
    assert link.is_symlink() and stat.S_ISCHR(os.stat(node).st_mode)


@posix_only
def test_dev_null_is_still_a_character_device_after_writing_to_it(tmp_path: Path) -> None:
    if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        pytest.skip("/dev/null is not a character device on this system")
    # Only once a FIFO is known to be written in place is the system's /dev/null written to.
    fifo = tmp_path / "first"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        atomic_write(fifo, "x")
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "atomic_write replaces special files: /dev/null not tried"
    atomic_write("/dev/null", "nothing to keep")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    source = tmp_path / "g.dot"
    source.write_text(DOT, encoding="utf-8")
    finished = run_dot(["-Tsvg", "-o", "/dev/null", str(source)])
    assert finished.returncode == 0 and finished.stderr == b"", finished.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_regular_file_is_still_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "out.svg"
    target.write_text("old", encoding="utf-8")
    before = os.stat(target).st_ino
    atomic_write(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert os.stat(target).st_ino != before  # a new file renamed over the old one, not the old one rewritten


# ----------------------------------------------------------------------
# Item 11: the dot stand-in
# ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["folder", "missing folder"])
def test_dot_o_a_folder_or_a_missing_folder_is_one_line(
    where: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    source = tmp_path / "g.dot"
    source.write_text(DOT, encoding="utf-8")
    target = tmp_path if where == "folder" else tmp_path / "nowhere" / "g.svg"
    code, out, err = in_process(["-Tsvg", "-o", str(target), str(source)], capsysbinary)
    assert code == 2 and out == b""
    reason = "Is a directory" if where == "folder" else "No such file or directory"
    assert one_line(err) == f"dot: cannot write {target}: {reason}\n"


@posix_only
def test_dot_o_dev_stdout_writes_the_picture_to_stdout() -> None:
    finished = run_dot(["-Tsvg", "-o", "/dev/stdout"], stdin=DOT.encode())
    assert finished.returncode == 0 and finished.stderr == b"", finished.stderr
    assert finished.stdout.startswith(b"<?xml") and finished.stdout.count(b'class="node"') == 2


def test_dot_reads_a_latin_1_file_as_graphviz_does(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    source = tmp_path / "latin.dot"
    source.write_bytes('digraph { a [label="café"] }'.encode("latin-1"))
    code, out, err = in_process(["-Tsvg", str(source)], capsysbinary)
    assert code == 0
    assert ">café</text>" in out.decode("utf-8")
    assert "Latin-1" in one_line(err) and err.startswith("Warning:")
    # Said in the graph (or with -G), Latin-1 is read without a warning, even where the bytes are valid UTF-8.
    source.write_bytes('digraph { charset=latin1; a [label="Ã©"] }'.encode("latin-1"))
    code, out, err = in_process(["-Tsvg", str(source)], capsysbinary)
    assert (code, err) == (0, "") and ">Ã©</text>" in out.decode("utf-8")


def test_dot_draws_5000_nested_subgraphs(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    source = tmp_path / "deep.dot"
    source.write_text("digraph {" + "subgraph {" * 5000 + "a -> b" + "}" * 5000 + "}", encoding="utf-8")
    code, out, err = in_process(["-Tsvg", str(source)], capsysbinary)
    assert (code, err) == (0, "")
    assert out.count(b'class="node"') == 2 and out.count(b'class="edge"') == 1


def test_dot_refuses_absurd_nesting_and_edge_counts_in_one_line(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    source = tmp_path / "deeper.dot"
    source.write_text("digraph {" + "{" * 20_000 + "a" + "}" * 20_000 + "}", encoding="utf-8")
    code, _, err = in_process(["-Tsvg", str(source)], capsysbinary)
    assert code == 1 and "nested more than 10,000 deep" in one_line(err)
    # Each "n -> { ... }" reaches every node inside: 2,000 levels ask for two million edges.
    source.write_text("digraph {" + "".join(f"n{i} -> {{" for i in range(2000)) + "}" * 2001, encoding="utf-8")
    code, _, err = in_process(["-Tsvg", str(source)], capsysbinary)
    assert code == 1 and "too many to draw" in one_line(err)
    # A record label's braces nest its fields: thousands deep is refused, naming the node.
    source.write_text('digraph { r [shape=record, label="' + "{x|" * 5000 + "}" * 5000 + '"] }', encoding="utf-8")
    code, _, err = in_process(["-Tsvg", str(source)], capsysbinary)
    assert code == 1 and "node 'r'" in one_line(err)


@posix_only
def test_dot_reads_a_pipe_only_up_to_the_limit(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    fifo = tmp_path / "input.dot"
    os.mkfifo(fifo)
    text = (DOT + " " * 5000).encode()  # valid DOT, but over the 4,096-byte limit set below

    def feed() -> None:
        with open(fifo, "wb") as writer:
            try:
                writer.write(text)
            except BrokenPipeError:  # dot stopped reading at the limit
                pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    with reading_limit(4096):
        code, out, err = in_process(["-Tsvg", str(fifo)], capsysbinary)
    feeder.join(timeout=30)
    assert code == 2 and out == b""
    assert one_line(err) == f"dot: {fifo} is over the limit of 4,096 bytes; install Graphviz to draw larger graphs\n"


@posix_only
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dot_stops_reading_dev_zero_at_the_limit(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    with reading_limit(100_000):
        code, _, err = in_process(["-Tsvg", "/dev/zero"], capsysbinary)
    assert code == 2 and "/dev/zero is over the limit of 100,000 bytes" in one_line(err)
    finished = run_dot(["-Tsvg"], stdin=b"\0" * (64 * 2**20 + 1), timeout=120)  # stdin: the default 64 MiB
    assert finished.returncode == 2
    assert "standard input is over the limit of 67,108,864 bytes" in one_line(finished.stderr)


@pytest.mark.parametrize("format", ["xdot", "xdot1.4", "xdot_json"])
def test_dot_refuses_xdot_in_one_line_instead_of_echoing_the_input(
    format: str, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(DOT.encode())))
    code, out, err = in_process([f"-T{format}"], capsysbinary)
    assert code == 2 and out == b""
    assert one_line(err).startswith(f'dot: format "{format}" is Graphviz\'s drawing operations')


@posix_only
@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_dot_into_a_pipe_closed_early_prints_no_traceback(unbuffered: str, tmp_path: Path) -> None:
    # With PYTHONUNBUFFERED a write may take only part of the picture: the rest must not be dropped unsaid.
    source = tmp_path / "big.dot"
    source.write_text("digraph {" + " ".join(f"n{i} -> n{i + 1};" for i in range(400)) + "}", encoding="utf-8")
    program = "import sys\nfrom micrograd.viz.dot_command import main\nsys.exit(main(sys.argv[1:]))\n"
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    environment.update(PYTHONPATH=SRC, **({"PYTHONUNBUFFERED": unbuffered} if unbuffered else {}))
    dot = subprocess.Popen([sys.executable, "-c", program, "-Tsvg", str(source)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=environment)  # fmt: skip
    assert dot.stdout is not None and dot.stderr is not None
    dot.stdout.read(10)
    dot.stdout.close()  # as `dot ... | head -c 10` does
    assert dot.wait(timeout=120) != 0
    assert dot.stderr.read() == b""
