"""Drawing without Graphviz: the DOT reader, the layered layout, the SVG writer and the ``dot`` stand-in."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path

import pytest

import helpers
from helpers import ROOT, SRC, engine_env, run_python
from micrograd.engine import Value, topological_order
from micrograd.nn import MLP
from micrograd.viz import draw_dot
from micrograd.viz.dot_command import VERSION_LINE, main
from micrograd.viz.dot_reader import DotSyntaxError, read_dot
from micrograd.viz.layered import layout
from micrograd.viz.render import render_dot

SVG = "{http://www.w3.org/2000/svg}"


def loss_graph(values: int) -> Value:
    """An MLP's squared loss over more and more points, until the graph has at least ``values`` Values."""
    rng = random.Random(0)
    model = MLP(2, [4, 4, 1])
    loss = Value(0.0)
    while len(topological_order(loss)) < values:
        score = model([rng.uniform(-1, 1), rng.uniform(-1, 1)])
        assert isinstance(score, Value)
        loss = loss + (score - 1.0) ** 2
    loss.backward()
    return loss


# ----------------------------------------------------------------------
# The reader
# ----------------------------------------------------------------------


def test_the_reader_takes_what_the_graphviz_package_writes() -> None:
    # Digraph(format='svg', graph_attr={'rankdir': 'LR'}) as trace_graph.ipynb builds it: tabs, no commas.
    source = (
        "digraph {\n\tgraph [rankdir=LR]\n"
        '\t140 [label="{ data 1.0000 | grad 0.0000 }" shape=record]\n'
        '\t"140*" [label="*"]\n\t"140*" -> 140\n\t7 -> "140*"\n}\n'
    )
    graph = read_dot(source)
    assert graph.graph_attributes == {"rankdir": "LR"}
    assert graph.nodes["140"] == {"label": "{ data 1.0000 | grad 0.0000 }", "shape": "record"}
    assert [(tail, head) for tail, head, _ in graph.edges] == [("140*", "140"), ("7", "140*")]


def test_the_reader_handles_chains_defaults_subgraphs_ports_and_comments() -> None:
    source = """/* a */ strict digraph G { // b
    # a preprocessor line
    node [shape=box]; rankdir = TB
    a:out -> b -> {c d} [color=red]
    subgraph cluster_1 { node [shape=circle]; e -> f }
    g; "say \\"hi\\"" [label="x" + "y"]
    }"""
    graph = read_dot(source)
    assert [(t, h) for t, h, _ in graph.edges] == [("a", "b"), ("b", "c"), ("b", "d"), ("e", "f")]
    assert all(attributes == {"color": "red"} for _, _, attributes in graph.edges[:3])
    assert graph.nodes["a"] == {"shape": "box"} and graph.nodes["e"] == {"shape": "circle"}
    assert graph.nodes["g"] == {"shape": "box"}  # the subgraph's default stayed inside it
    assert graph.nodes['say "hi"']["label"] == "xy"
    assert graph.graph_attributes["rankdir"] == "TB"


@pytest.mark.parametrize(
    ("source", "where"),
    [("digraph { a -> }", "line 1"), ("digraph {\n a [label=x\n", "line 3"), ("nodes { }", "line 1")],
)
def test_the_reader_names_the_line_of_a_mistake(source: str, where: str) -> None:
    with pytest.raises(DotSyntaxError, match=where):
        read_dot(source)


# ----------------------------------------------------------------------
# The layout
# ----------------------------------------------------------------------


def overlapping(boxes: list[tuple[str, float, float, float, float]]) -> list[tuple[str, str]]:
    """Pairs of (name, left, top, right, bottom) boxes that overlap, found by a sweep over the lefts."""
    found = []
    ordered = sorted(boxes, key=lambda box: box[1])
    for i, (name, _, top, right, bottom) in enumerate(ordered):
        for other, other_left, other_top, _, other_bottom in ordered[i + 1 :]:
            if other_left >= right:
                break
            if other_top < bottom and top < other_bottom:
                found.append((name, other))
    return found


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_a_graph_at_the_node_cap_is_laid_out_without_overlaps(rankdir: str) -> None:
    root = loss_graph(500)
    graph = draw_dot(root, rankdir=rankdir, max_nodes=600)
    placed = layout(read_dot(graph.source))
    names = {node.name for node in placed.nodes}
    assert len(placed.nodes) == len(read_dot(graph.source).nodes) > 800  # the Values and their op nodes
    boxes = [
        (n.name, n.x - n.width / 2, n.y - n.height / 2, n.x + n.width / 2, n.y + n.height / 2) for n in placed.nodes
    ]
    assert overlapping(boxes) == []
    assert all(0 <= left and right <= placed.width and 0 <= top and bottom <= placed.height
               for _, left, top, right, bottom in boxes)  # fmt: skip
    # Every edge is drawn from its tail's box to its head's box, the way the data flows.
    centres = {n.name: n for n in placed.nodes}
    assert len(placed.edges) == len(read_dot(graph.source).edges)
    for edge in placed.edges:
        assert edge.tail in names and edge.head in names
        start, end = edge.points[0], edge.points[-1]
        tail, head = centres[edge.tail], centres[edge.head]
        axis = 0 if rankdir == "LR" else 1
        assert start[axis] == pytest.approx((tail.x, tail.y)[axis] + (tail.width, tail.height)[axis] / 2)
        assert end[axis] == pytest.approx((head.x, head.y)[axis] - (head.width, head.height)[axis] / 2)


def test_the_lecture_neuron_reads_left_to_right_with_leaves_beside_their_ops() -> None:
    x1, x2, w1, w2 = Value(2.0, label="x1"), Value(0.0, label="x2"), Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = ((x1 * w1 + x2 * w2) + b).tanh()
    o.label = "o"
    placed = layout(read_dot(draw_dot(o).source))
    by_label = {n.label.split("|")[0].strip("{ "): n for n in placed.nodes}
    # Each step of the computation is further right than the one it feeds on.
    assert by_label["x1"].x < by_label["*"].x < by_label["o"].x
    # The bias is drawn one layer before the '+' it feeds, not with the inputs at the far left.
    assert by_label["b"].x > by_label["x1"].x


def test_crossings_are_reduced_for_a_crossed_ladder() -> None:
    # Edges a0->b2, a1->b1, a2->b0 in input order would all cross; the sweeps untangle them.
    source = "digraph { a0; a1; a2; b0; b1; b2; a0 -> b2; a1 -> b1; a2 -> b0; a0 -> c; b2 -> c }"
    placed = layout(read_dot(source))
    x = {n.name: n.x for n in placed.nodes}
    pairs = [("a0", "b2"), ("a1", "b1"), ("a2", "b0")]
    crossings = sum(
        1 for (t1, h1) in pairs for (t2, h2) in pairs if (x[t1] - x[t2]) * (x[h1] - x[h2]) < 0
    ) // 2
    assert crossings == 0


def test_a_cycle_is_drawn_with_every_edge() -> None:
    placed = layout(read_dot("digraph { a -> b -> c -> a; c -> c }"))
    assert {(e.tail, e.head) for e in placed.edges} == {("a", "b"), ("b", "c"), ("c", "a"), ("c", "c")}
    assert all(len(e.points) >= 2 for e in placed.edges)


def test_the_svg_has_every_box_text_and_edge() -> None:
    root = loss_graph(150)
    graph = draw_dot(root)
    svg = ElementTree.fromstring(render_dot(graph.source, "svg"))
    groups = list(svg.iter(f"{SVG}g"))
    nodes = [g for g in groups if g.get("class") == "node"]
    edges = [g for g in groups if g.get("class") == "edge"]
    parsed = read_dot(graph.source)
    assert len(nodes) == len(parsed.nodes) and len(edges) == len(parsed.edges)
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    assert f"data {root.data:.4f}" in texts and "grad 1.0000" in texts
    assert all(edge.find(f"{SVG}path") is not None and edge.find(f"{SVG}polygon") is not None for edge in edges)


def test_png_and_pdf_are_painted_with_matplotlib() -> None:
    pytest.importorskip("matplotlib")
    source = draw_dot(Value(2.0, label="a") * 3).source
    assert render_dot(source, "png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert render_dot(source, "pdf")[:5] == b"%PDF-"


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match='"gif"'):
        render_dot("digraph { a }", "gif")


# ----------------------------------------------------------------------
# The dot stand-in
# ----------------------------------------------------------------------


def run_main(arguments: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, bytes, str]:
    stdout = io.BytesIO()
    stderr = io.StringIO()

    class Out:
        buffer = stdout

        @staticmethod
        def flush() -> None:
            pass

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    monkeypatch.setattr(sys, "stdout", Out)
    monkeypatch.setattr(sys, "stderr", stderr)
    code = main(arguments)
    return code, stdout.getvalue(), stderr.getvalue()


def test_dot_reads_stdin_and_writes_svg_to_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run_main(["-Kdot", "-Tsvg"], 'digraph { a -> "b c" }', monkeypatch)
    assert code == 0
    assert helpers.svg_texts(out.decode("utf-8")) == ["a", "b c"]


def test_dot_writes_o_and_capital_o_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = tmp_path / "gout"
    source.write_text("digraph { x -> y }", encoding="utf-8")
    assert run_main(["-Kdot", "-Tsvg", "-O", str(source)], "", monkeypatch)[0] == 0
    assert (tmp_path / "gout.svg").read_text(encoding="utf-8").count('class="node"') == 2
    assert run_main(["-Tsvg", "-o", str(tmp_path / "named.svg"), str(source)], "", monkeypatch)[0] == 0
    assert (tmp_path / "named.svg").exists()


def test_dot_version_and_mistakes(monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_main(["-V"], "", monkeypatch)
    assert code == 0 and err.strip() == VERSION_LINE
    code, _, err = run_main(["-Tgif"], "digraph { a }", monkeypatch)
    assert code == 2 and 'format "gif" not recognized' in err
    code, _, err = run_main(["-Tsvg"], "digraph { a -> }", monkeypatch)
    assert code == 1 and "line 1" in err


@pytest.mark.skipif(os.name == "nt", reason="shell scripts stand in for programs here")
def test_the_stand_in_hands_over_to_a_real_graphviz_later_on_the_path(
    tmp_path: Path, fake_program: Callable[[Path, str], Path]
) -> None:
    # The console script pip installs, first on the PATH (an activated venv); Graphviz after it.
    stand_in = fake_program(
        tmp_path / "venv_bin",
        f"#!{sys.executable}\nimport sys\nfrom micrograd.viz.dot_command import main\nsys.exit(main())\n",
    )
    fake_program(tmp_path / "usr_bin", '#!/bin/sh\necho "real graphviz got: $*"\n')
    env = engine_env(PATH=f"{tmp_path / 'venv_bin'}{os.pathsep}{tmp_path / 'usr_bin'}", PYTHONPATH=str(SRC))
    finished = subprocess.run([str(stand_in), "-Kdot", "-Tpng", "-O", "gout"], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert finished.stdout == "real graphviz got: -Kdot -Tpng -O gout\n"
    # Without Graphviz, the stand-in draws.
    env["PATH"] = str(tmp_path / "venv_bin")
    finished = subprocess.run([str(stand_in), "-Tsvg"], input="digraph { a }", env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert finished.returncode == 0 and "<svg" in finished.stdout


def test_a_plain_label_is_shown_without_its_escapes() -> None:
    o = Value(-2.0, label="a") * 3
    o.backward()
    assert "fill: |grad| relative to the largest, 3.0000" in svg_texts(draw_dot(o, color_by_grad=True).source)
    assert svg_texts('digraph { a [shape=box, label="x \\{1\\} \\\\ y"] }') == ["x {1} \\ y"]


def test_the_dot_command_is_installed_with_micrograd() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    module, _, function = project["scripts"]["dot"].partition(":")
    assert (module, function) == ("micrograd.viz.dot_command", "main")
    assert {"graphviz>=0.20", "scikit-learn>=1.3"} <= set(project["optional-dependencies"]["test"])
    assert not any("graphviz-pure" in extra for extra in project["optional-dependencies"]["viz"])


def svg_texts(source: str) -> list[str]:
    """The texts of the SVG picture that render_dot draws for the DOT ``source``."""
    return helpers.svg_texts(render_dot(source, "svg").decode("utf-8"))


def test_a_backslash_n_in_a_label_is_text_and_only_a_dot_escape_breaks_the_line() -> None:
    # A Value labelled with a real backslash and an n: one line, as written.
    assert "x\\new" in svg_texts(draw_dot(Value(1.0, label="x\\new")).source)
    # DOT's own \n (and \l, \r) still break the line, in plain labels and in record fields alike.
    assert svg_texts('digraph { a [shape=box, label="a\\nb"] }') == ["a", "b"]
    assert svg_texts('digraph { a [shape=record, label="{ a\\lb | c\\\\nd }"] }') == ["a", "b", "c\\nd"]
    assert svg_texts('digraph { a [shape=box, label="c\\\\nd"] }') == ["c\\nd"]


def test_starting_the_cli_does_not_load_the_layout_or_xml_sax() -> None:
    # Every CLI start imports micrograd.viz.graph; the layout (and xml.sax, which pulls in urllib, http
    # and email) is loaded only when something is drawn.
    check = (
        "import sys, micrograd.app.cli\n"
        "print(sorted(m for m in sys.modules if m.startswith(('xml.sax', 'micrograd.viz.render', "
        "'micrograd.viz.dot_command', 'micrograd.viz.layered'))))\n"
    )
    finished = run_python(check, env={"PYTHONPATH": str(SRC)}, check=False, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "[]"


def test_an_id_is_read_as_dot_reads_it() -> None:
    # The ID pattern is written as the ASCII it leaves out: letters, _, digits after the first, and all non-ASCII.
    graph = read_dot("digraph { _a9 -> é_ü -> 日本 -> \U0001f600x; b2c }")
    assert list(graph.nodes) == ["_a9", "é_ü", "日本", "\U0001f600x", "b2c"]
    with pytest.raises(DotSyntaxError):
        read_dot("digraph { a$b }")


def test_dot_command_line_defaults_are_read_as_attributes_not_pasted_into_the_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def texts(arguments: list[str], source: str) -> list[str]:
        code, out, err = run_main(["-Tsvg", *arguments], source, monkeypatch)
        assert code == 0, err
        return helpers.svg_texts(out.decode("utf-8"))

    # A '{' in a comment before the graph: the defaults still reach the graph.
    assert texts(["-Nlabel=x"], "/* {x} */ digraph {a->b}") == ["x", "x"]
    # A quote in a value is a character of the value, not DOT syntax.
    assert texts(['-Nlabel=a"b'], "digraph {a}") == ['a"b']
    # As in Graphviz, the file's own attributes override the command line's.
    assert texts(["-Nlabel=x"], "digraph { a; node [label=y]; b; c [label=z] }") == ["x", "y", "z"]
    assert texts(["-Glabel=T", "-Elabel=e"], "digraph { a -> b }") == ["T", "e", "a", "b"]
    assert texts(["-Glabel=T"], "digraph { label=F; a }") == ["F", "a"]
    # The DOT text given back carries them too, after the graph's real '{'.
    code, out, _ = run_main(["-Tcanon", '-Nlabel=a"b'], "/* {x} */ digraph {a}", monkeypatch)
    assert code == 0 and read_dot(out.decode("utf-8")).nodes == {"a": {"label": 'a"b'}}


def test_dot_main_with_arguments_does_not_scan_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given argv, main() draws itself and never hands over, so the PATH scan would be wasted work.
    def scanned() -> None:
        raise AssertionError("the PATH was scanned")

    monkeypatch.setattr("micrograd.viz.dot_command.real_graphviz_dot", scanned)
    assert run_main(["-Tsvg"], "digraph { a }", monkeypatch)[0] == 0


def test_a_format_is_named_as_graphviz_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from micrograd.viz.render import normal_format

    assert normal_format("SVG:cairo") == "svg" and normal_format("png") == "png"
    source = tmp_path / "g"
    source.write_text("digraph { a }", encoding="utf-8")
    assert run_main(["-Tsvg:cairo", "-O", str(source)], "", monkeypatch)[0] == 0
    assert (tmp_path / "g.svg").exists()
