"""Graph pictures and the narrated backward pass (micrograd.viz)."""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path

import pytest

from helpers import optional, svg_texts
from micrograd import ops
from micrograd.app.cli import explain_command, graph_command
from micrograd.app.expr import ExpressionError, evaluate
from micrograd.engine import Value, linear, topological_order
from micrograd.ops import Op
from micrograd.viz import (
    INSTALL_HINT,
    RendererNotFound,
    draw_dot,
    explain,
    find_renderer,
    replay,
    trace_backward,
)
from micrograd.viz import graph as viz_graph  # the module itself: the tests patch what it looks up

B = 6.8813735870195432  # the lecture's bias, chosen so that n = 0.8814 and o = tanh(n) = 0.7071

# The lecture's walk-through, worked by hand: o = tanh(n), do/dn = 1 - o**2 = 1 - 0.5 = 0.5;
# '+' passes 0.5 on unchanged; '*' swaps: x1.grad = w1 * 0.5, w1.grad = x1 * 0.5.
SEED_GRADS = {"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5, "x1*w1": 0.5, "x2*w2": 0.5, "n": 0.5, "o": 1.0}

HAVE_MATPLOTLIB = optional("matplotlib") is not None  # matplotlib paints PNG when there is no Graphviz
needs_png = pytest.mark.skipif(
    find_renderer() is None and not HAVE_MATPLOTLIB, reason=f"PNG needs Graphviz or matplotlib: {INSTALL_HINT}"
)


def lecture_neuron() -> tuple[Value, dict[str, Value]]:
    """The seed's neuron, built and labelled exactly as in the lecture."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(B, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    x1w1x2w2 = x1w1 + x2w2
    x1w1x2w2.label = "x1*w1 + x2*w2"
    n = x1w1x2w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o, {node.label: node for node in topological_order(o)}


# ----------------------------------------------------------------------
# draw_dot: the DOT text
# ----------------------------------------------------------------------


def record_labels(source: str) -> dict[str, str]:
    """label field -> the whole record label, from the DOT text."""
    labels = {}
    for match in re.finditer(r'label="\{ (.*?) \}"', source):
        fields = match.group(1).split(" | ")
        labels[fields[0]] = match.group(1)
    return labels


def test_record_boxes_show_label_data_and_grad_after_backward() -> None:
    o, _ = lecture_neuron()
    o.backward()
    labels = record_labels(draw_dot(o).source)
    assert labels["x1"] == "x1 | data 2.0000 | grad -1.5000"
    assert labels["w1"] == "w1 | data -3.0000 | grad 1.0000"
    assert labels["w2"] == "w2 | data 1.0000 | grad 0.0000"
    assert labels["n"] == "n | data 0.8814 | grad 0.5000"
    assert labels["o"] == "o | data 0.7071 | grad 1.0000"
    assert len(labels) == 10


def test_each_op_is_a_node_and_edges_follow_the_data() -> None:
    o, nodes = lecture_neuron()
    source = draw_dot(o).source
    ids = {label: match for match, label in re.findall(r'(v\d+) \[label="\{ ([^|]*?) \|', source)}
    op_labels = re.findall(r'(v\d+)_op \[label="([^"]*)"', source)
    assert sorted(op for _, op in op_labels) == ["*", "*", "+", "+", "tanh"]
    edges = re.findall(r"(v\d+(?:_op)?) -> (v\d+(?:_op)?);", source)
    # x1 and w1 flow into the '*' op, which flows into x1*w1; n flows through tanh into o.
    product = ids["x1*w1"]
    assert (ids["x1"], f"{product}_op") in edges
    assert (ids["w1"], f"{product}_op") in edges
    assert (f"{product}_op", product) in edges
    assert (ids["n"], f"{ids['o']}_op") in edges and (f"{ids['o']}_op", ids["o"]) in edges
    assert len(edges) == 2 * 4 + 1 + 5  # four binary ops, one unary op, one edge out of each op


def test_special_characters_in_labels_are_escaped() -> None:
    tricky = Value(1.0, label='a{b}|<c> "d" \\e')
    source = draw_dot(tricky * 2).source
    assert r"a\{b\}\|\<c\> \"d\" \\e" in source


def test_escaped_labels_come_out_of_the_renderer_unchanged() -> None:
    tricky = Value(1.0, label='a{b}|<c> "d" \\e')
    svg = draw_dot(tricky * 2).pipe("svg").decode("utf-8")
    assert 'a{b}|<c> "d" \\e' in svg_texts(svg)


def test_show_order_numbers_the_boxes_in_topological_order() -> None:
    o, _ = lecture_neuron()
    labels = record_labels(draw_dot(o, show_order=True).source)
    assert labels["#1"].startswith("#1 | x1 |")
    assert labels["#10"].startswith("#10 | o |")


def test_color_by_grad_fills_by_magnitude() -> None:
    o, _ = lecture_neuron()
    o.backward()
    source = draw_dot(o, color_by_grad=True).source
    fills = dict(re.findall(r'label="\{ ([^|]*?) \|.*?fillcolor="(#[0-9a-f]{6})"', source))
    assert fills["x1"] == "#e85d24"  # |grad| 1.5, the largest: the full colour
    assert fills["w2"] == "#ffffff"  # grad 0: white
    assert fills["n"] not in ("#e85d24", "#ffffff")
    assert "relative to the largest, 1.5000" in source


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="rankdir"):
        draw_dot(Value(1.0), rankdir="XY")
    with pytest.raises(ValueError, match="format"):
        draw_dot(Value(1.0), format="svg -o /tmp/x")
    with pytest.raises(TypeError, match="Value"):
        draw_dot(1.0)  # type: ignore[arg-type]


def test_a_large_graph_is_refused_quickly_with_the_count_and_the_way_out() -> None:
    # About the size of an MLP training step: tens of thousands of nodes.
    xs = [Value(float(i)) for i in range(20_000)]
    loss = sum((x * x for x in xs), Value(0.0))
    count = len(topological_order(loss))
    assert count > 60_000
    expected = f"the graph has {count:,} values, more than max_nodes=500; pass max_nodes={count}"
    with pytest.raises(ValueError, match=expected):
        draw_dot(loss)


def drawn_boxes(source: str) -> tuple[list[tuple[str, float, float]], list[str]]:
    """(label, data, grad) of every record box, and the label of every op node, read from the DOT text."""
    from micrograd.viz.dot_reader import read_dot

    boxes, ops_drawn = [], []
    for attributes in read_dot(source).nodes.values():
        label = attributes["label"]
        if attributes.get("shape") == "ellipse":
            ops_drawn.append(label)
            continue
        match = re.fullmatch(r"\{ (.*) \| data (\S+) \| grad (\S+) \}", label)
        assert match, label
        boxes.append((match[1], float(match[2]), float(match[3])))
    return boxes, ops_drawn


def fused_lecture_neuron(bias: bool = True) -> Value:
    """The lecture's neuron with its weighted sum as one fused linear node, as nn.Neuron makes it."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    n = linear([w1, w2], [x1, x2], Value(B, label="b") if bias else None)
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o


def test_a_fused_neuron_is_drawn_as_the_lectures_boxes_with_the_unfused_grads() -> None:
    o = fused_lecture_neuron()
    o.backward()
    boxes, ops_drawn = drawn_boxes(draw_dot(o).source)
    # The lecture's picture: 10 boxes (5 leaves, x1*w1, x2*w2, their sum, n, o) and 5 ops: 15 nodes.
    assert len(boxes) == 10 and sorted(ops_drawn) == ["*", "*", "+", "+", "tanh"]
    # Each box has the data and grad of the same box in the lecture's graph, built with plain * and +.
    unfused, by_label = lecture_neuron()
    unfused.backward()
    assert sorted(label for label, _, _ in boxes) == sorted(by_label)
    for label, data, grad in boxes:
        assert data == pytest.approx(by_label[label].data, abs=5e-5), label
        assert grad == pytest.approx(by_label[label].grad, abs=5e-5), label
    assert draw_dot(o).node_count == 10


def test_a_three_input_neuron_expands_to_the_unfused_grads() -> None:
    import random

    from micrograd.nn import Neuron

    random.seed(3)
    neuron = Neuron(3, activation="tanh")
    for i, weight in enumerate(neuron.w, start=1):
        weight.label = f"w{i}"
    neuron.b.label = "b"
    xs = [Value(v, label=f"x{i}") for i, v in enumerate([0.7, -1.3, 2.1], start=1)]
    out = neuron(xs)
    assert isinstance(out, Value)
    out.backward()
    boxes, ops_drawn = drawn_boxes(draw_dot(out).source)
    assert sorted(ops_drawn) == ["*", "*", "*", "+", "+", "+", "tanh"]
    # The same neuron by hand, as the lecture writes it: ((x1*w1 + x2*w2) + x3*w3) + b, then tanh.
    twins = {label: Value(v.data, label=label) for label, v in [(w.label, w) for w in neuron.w] + [("b", neuron.b)]}
    twin_xs = [Value(x.data, label=x.label) for x in xs]
    products = [x * twins[f"w{i}"] for i, x in enumerate(twin_xs, start=1)]
    sums = [products[0] + products[1]]
    sums.append(sums[0] + products[2])
    hand = (sums[1] + twins["b"]).tanh()
    hand.backward()
    truth = {v.label: v for v in [*twins.values(), *twin_xs]}
    truth.update({"x1*w1": products[0], "x2*w2": products[1], "x3*w3": products[2]})
    truth.update({"x1*w1 + x2*w2": sums[0], "x1*w1 + x2*w2 + x3*w3": sums[1]})
    drawn = {label: (data, grad) for label, data, grad in boxes if label}
    assert set(truth) <= set(drawn)
    for label, value in truth.items():
        assert drawn[label] == (pytest.approx(value.data, abs=5e-5), pytest.approx(value.grad, abs=5e-5)), label


def test_a_fused_sum_without_bias_expands_without_the_last_plus() -> None:
    o = fused_lecture_neuron(bias=False)
    o.backward()
    boxes, ops_drawn = drawn_boxes(draw_dot(o).source)
    assert sorted(ops_drawn) == ["*", "*", "+", "tanh"]
    assert ("n", -6.0, pytest.approx(1 - math.tanh(-6.0) ** 2, abs=5e-5)) in boxes


def test_expand_linear_can_be_switched_off_and_is_off_for_big_graphs() -> None:
    o = fused_lecture_neuron()
    boxes, ops_drawn = drawn_boxes(draw_dot(o, expand_linear=False).source)
    assert len(boxes) == 7 and sorted(ops_drawn) == ["linear", "tanh"]
    big = o
    for _ in range(30):  # past 50 Values: a sum of 30 more terms
        big = big + 1.0
    assert len(topological_order(big)) > 50
    assert "linear" in drawn_boxes(draw_dot(big).source)[1]
    assert "linear" not in drawn_boxes(draw_dot(big, expand_linear=True).source)[1]
    with pytest.raises(TypeError, match="expand_linear"):
        draw_dot(o, expand_linear="yes")  # type: ignore[arg-type]


def test_max_nodes_can_be_raised() -> None:
    chain = Value(1.0)
    for _ in range(300):
        chain = chain + 1
    with pytest.raises(ValueError):
        draw_dot(chain, max_nodes=100)
    assert draw_dot(chain, max_nodes=1000).node_count == 601


# ----------------------------------------------------------------------
# draw_dot: rendering, saving, Jupyter
# ----------------------------------------------------------------------


@needs_png
def test_render_svg_and_png(tmp_path: Path) -> None:
    o, _ = lecture_neuron()
    o.backward()
    graph = draw_dot(o)
    svg_path = graph.render(tmp_path / "neuron")
    assert svg_path == str(tmp_path / "neuron.svg")
    texts = svg_texts(Path(svg_path).read_text(encoding="utf-8"))
    assert {"x1", "data 2.0000", "grad -1.5000", "tanh"} <= set(texts)
    png_path = graph.render(tmp_path / "neuron", format="png")
    assert Path(png_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(graph.write(tmp_path / "by_suffix.png")).read_bytes()[:4] == b"\x89PNG"


def test_jupyter_bundle_has_the_svg() -> None:
    o, _ = lecture_neuron()
    bundle = draw_dot(o)._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml") and "<svg" in bundle["image/svg+xml"]
    assert "10 values" in bundle["text/plain"]


def test_save_writes_the_dot_text(tmp_path: Path) -> None:
    o, _ = lecture_neuron()
    graph = draw_dot(o)
    path = graph.save(tmp_path / "neuron.dot")
    assert Path(path).read_text(encoding="utf-8") == graph.source
    assert graph.source.startswith("digraph micrograd {")


def test_without_graphviz_or_matplotlib_svg_still_draws_and_png_keeps_the_dot_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(viz_graph, "find_renderer", lambda: None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)  # its import fails, as if absent
    o, _ = lecture_neuron()
    graph = draw_dot(o)
    svg_path = graph.render(tmp_path / "neuron")  # SVG needs neither
    assert "data 2.0000" in svg_texts(Path(svg_path).read_text(encoding="utf-8"))
    with pytest.raises(RendererNotFound, match=re.escape("pip install 'micrograd[viz]'")):
        graph.render(tmp_path / "neuron", format="png")
    assert (tmp_path / "neuron.dot").read_text(encoding="utf-8") == graph.source
    with pytest.raises(OSError):  # RendererNotFound is an OSError too, for the command line
        graph.write(tmp_path / "picture.png")
    assert (tmp_path / "picture.dot").exists()


def test_without_graphviz_the_notebook_gets_the_svg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viz_graph, "find_renderer", lambda: None)
    o, _ = lecture_neuron()
    bundle = draw_dot(o)._repr_mimebundle_()
    assert "x1" in svg_texts(bundle["image/svg+xml"])


def test_a_failing_renderer_gives_the_notebook_text_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "dot"
    broken.write_text("#!/bin/sh\necho 'syntax error in line 1' >&2\nexit 1\n", encoding="utf-8")
    broken.chmod(0o755)
    monkeypatch.setattr(viz_graph, "find_renderer", lambda: str(broken))
    o, _ = lecture_neuron()
    bundle = draw_dot(o)._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    assert "syntax error in line 1" in bundle["text/plain"]


# What pip writes for the console script `dot = "micrograd.viz.dot_command:main"`.
STAND_IN = "#!/usr/bin/python3\nimport sys\nfrom micrograd.viz.dot_command import main\nsys.exit(main())\n"


def test_graphviz_is_found_past_micrograds_own_dot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_program: Callable[[Path, str], Path]
) -> None:
    fake_program(tmp_path / "venv_bin", STAND_IN)
    real = fake_program(tmp_path / "usr_bin", "#!/bin/sh\necho graphviz\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'venv_bin'}{os.pathsep}{tmp_path / 'usr_bin'}")
    assert find_renderer() == str(real)


def test_only_micrograds_own_dot_gives_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_program: Callable[[Path, str], Path]
) -> None:
    fake_program(tmp_path / "venv_bin", STAND_IN)
    monkeypatch.setenv("PATH", str(tmp_path / "venv_bin"))
    assert find_renderer() is None


# ----------------------------------------------------------------------
# explain: the narration
# ----------------------------------------------------------------------


def test_explain_reproduces_the_lecture_walk_through() -> None:
    o, _ = lecture_neuron()
    text = explain(o, quiet=True)
    lines = [line.strip() for line in text.splitlines()]
    # Forward values.
    assert "n = (x1*w1 + x2*w2) + b = (-6) + 6.88137 = 0.881374" in lines
    assert "o = tanh(n) = tanh(0.881374) = 0.707107" in lines
    # The backward steps: node, op, upstream grad, local derivative, product, child.
    assert "o.grad = 1   (the seed: do/do = 1)" in lines
    # The op's rule as its row in the table states it, then written out in the nodes' names.
    assert "o = tanh(n)   [op tanh]   upstream o.grad = 1" in lines
    assert "step 1 -> n: local do/dn = 1 - o*o = 0.5;  0.5 * 1 = 0.5;  n.grad = 0 + 0.5 = 0.5" in lines
    assert "step 8 -> x1: local d(x1*w1)/dx1 = w1 = -3;  -3 * 0.5 = -1.5;  x1.grad = 0 + (-1.5) = -1.5" in lines
    assert "step 9 -> w1: local d(x1*w1)/dw1 = x1 = 2;  2 * 0.5 = 1;  w1.grad = 0 + 1 = 1" in lines
    assert "step 7 -> w2: local d(x2*w2)/dw2 = x2 = 0;  0 * 0.5 = 0;  w2.grad = 0 + 0 = 0" in lines
    # The final gradients, checked against the hand-worked values.
    for name in ("x1", "w1", "x2", "w2", "b"):
        assert f"{name}.grad = {SEED_GRADS[name]:g}" in lines
    # Each leaf against numerical_grad: both numbers, and agreement.
    checks = {parts[0]: parts[1:] for parts in (line.split() for line in lines) if parts and parts[-1] in ("yes", "NO")}
    assert set(checks) == {"x1", "w1", "x2", "w2", "b"}
    for name, (backward, numerical, agree) in checks.items():
        assert float(backward) == pytest.approx(SEED_GRADS[name], abs=1e-12)
        assert float(numerical) == pytest.approx(SEED_GRADS[name], abs=1e-6)
        assert agree == "yes"


def test_explain_visits_nodes_parents_first_and_every_edge_once() -> None:
    o, _ = lecture_neuron()
    text = explain(o, quiet=True, check=False)
    arrows = re.findall(r"-> ([^:]+):", text)
    assert arrows == ["n", "x1*w1 + x2*w2", "b", "x1*w1", "x2*w2", "x2", "w2", "x1", "w1"]


def test_explain_prints_and_returns_the_same_text(capsys: pytest.CaptureFixture[str]) -> None:
    o, _ = lecture_neuron()
    text = explain(o)
    assert capsys.readouterr().out == text
    buffer = StringIO()
    assert explain(o, file=buffer) == buffer.getvalue()


def test_explain_leaves_the_grads_alone() -> None:
    o, nodes = lecture_neuron()
    explain(o, quiet=True)
    assert all(node.grad == 0.0 for node in nodes.values())
    o.backward()
    explain(o, quiet=True)
    assert nodes["x1"].grad == pytest.approx(-1.5)  # not doubled


def test_explain_shows_gradients_adding_up_where_a_value_is_used_twice() -> None:
    x = Value(3.0, label="x")
    y = x * x
    y.label = "y"
    text = explain(y, quiet=True)
    assert "x.grad = 0 + 3 = 3" in text
    assert "x.grad = 3 + 3 = 6" in text
    assert re.search(r"x\s+6\s+6(\.0+\d*)?\s+yes", text)


def test_explain_calls_constants_constants() -> None:
    x = Value(2.0, label="x")
    y = x - 1
    text = explain(y, quiet=True)
    assert "v2 = -1   (a constant)" in text
    assert "an input" in text


def test_trace_matches_backward_bit_for_bit_and_torch() -> None:
    torch = pytest.importorskip("torch")
    values = {"a": 1.3, "b": -0.7, "c": 2.1}
    text = "t = tanh(a*b + c)*exp(b) - log(c)/a; s = sigmoid(t**2 + relu(a - b)); s * c ** b"
    root = evaluate(text, values)
    trace = trace_backward(root)
    leaves = {node.label: node for node in topological_order(root) if node.label in values}
    root.backward()
    order = topological_order(root)
    for node in leaves.values():
        assert trace.grads[order.index(node) + 1] == node.grad  # same arithmetic, same bits

    a, b, c = (torch.tensor(values[name], dtype=torch.float64, requires_grad=True) for name in "abc")
    t = torch.tanh(a * b + c) * torch.exp(b) - torch.log(c) / a
    s = torch.sigmoid(t**2 + torch.relu(a - b))
    (s * c**b).backward()
    for name, tensor in zip("abc", (a, b, c), strict=True):
        assert leaves[name].grad == pytest.approx(tensor.grad.item(), rel=1e-12)


def test_explain_narrates_a_linear_node() -> None:
    w = [Value(0.5, label="w1"), Value(-2.0, label="w2")]
    x = [Value(3.0, label="x1"), Value(1.0, label="x2")]
    bias = Value(0.25, label="bias")
    out = linear(w, x, bias)
    out.label = "z"
    text = explain(out, quiet=True)
    assert "z = w1*x1 + w2*x2 + bias = 0.5*3 + (-2)*1 + 0.25 = -0.25" in text
    assert "-> w2: local dz/dw2 = x2 = 1;" in text
    assert text.count("yes") == 5


def test_replay_recomputes_with_new_leaf_values() -> None:
    root = evaluate("y = x**3 - 2/x + exp(x*z)", {"x": 1.5, "z": -0.5})
    x = next(node for node in topological_order(root) if node.label == "x")
    assert replay(root, {}) == root.data
    assert replay(root, {x: 2.0}) == evaluate("y = x**3 - 2/x + exp(x*z)", {"x": 2.0, "z": -0.5}).data
    assert root.data == pytest.approx(1.5**3 - 2 / 1.5 + math.exp(-0.75))  # the graph is unchanged


def test_replay_refuses_an_op_it_does_not_know() -> None:
    strange = Value(1.0, (Value(2.0),), "mystery", _local_grads=(1.0,))
    with pytest.raises(ValueError, match="mystery"):
        replay(strange, {})


def test_explain_reports_a_disagreement_at_a_kink() -> None:
    x = Value(0.0, label="x")
    y = x.relu()
    text = explain(y, quiet=True)
    assert re.search(r"x\s+0\s+0\.5\s+NO", text)  # relu's kink: the two disagree, and it says so


def test_explain_refuses_a_huge_graph() -> None:
    chain = Value(1.0)
    for _ in range(300):
        chain = chain * 1.0
    with pytest.raises(ValueError, match="max_nodes=200"):
        explain(chain, quiet=True)


# ----------------------------------------------------------------------
# The command-line functions
# ----------------------------------------------------------------------


def test_explain_command_prints_the_narration() -> None:
    out = StringIO()
    code = explain_command(
        "n = x1*w1 + x2*w2 + b; o = tanh(n)",
        ["x1=2", "x2=0", "w1=-3", "w2=1", f"b={B!r}"],
        file=out,
    )
    assert code == 0
    assert "x1.grad = -1.5" in out.getvalue()


def test_explain_command_writes_the_page(tmp_path: Path) -> None:
    out = StringIO()
    page = tmp_path / "walk.html"
    explain_command("x*y", ["x=2", "y=3"], html=page, file=out)
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert f"wrote {page}" in out.getvalue()


def test_commands_raise_value_errors_for_bad_input() -> None:
    with pytest.raises(ExpressionError, match="no value for y"):
        explain_command("x*y", ["x=2"], file=StringIO())
    with pytest.raises(ValueError, match="attribute"):
        graph_command("x.y", ["x=1"], output="unused.svg", file=StringIO())


def test_graph_command_draws_after_backward(tmp_path: Path) -> None:
    target = tmp_path / "neuron.svg"
    out = StringIO()
    graph_command("o = tanh(x1*w1 + b)", ["x1=2", "w1=-3", f"b={B!r}"], output=target, file=out)
    texts = svg_texts(target.read_text(encoding="utf-8"))
    assert "grad -1.5000" in texts  # x1.grad = w1 * (1 - o**2) = -3 * 0.5: backward has run
    assert out.getvalue() == f"wrote {target}\n"


def test_graph_command_dot_output_needs_no_renderer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viz_graph, "find_renderer", lambda: None)
    target = tmp_path / "g.dot"
    graph_command("x*y", ["x=2", "y=3"], output=target, file=StringIO())
    assert "grad 3.0000" in target.read_text(encoding="utf-8")  # x.grad = y


def test_explain_reports_a_leaf_that_cannot_be_nudged() -> None:
    x = Value(1e-7, label="x")  # nudging by eps=1e-6 takes log below zero
    text = explain(x.log(), quiet=True)
    assert "cannot nudge here: log: argument must be > 0" in text


# ----------------------------------------------------------------------
# The narration reads the op table and runs the engine's own chain rule
# ----------------------------------------------------------------------


@pytest.fixture
def softsign() -> Iterator[Op]:
    """An op the package does not have, added for one test and removed after it."""
    op = ops.defop(
        "softsign", lambda x: x / (1 + abs(x)), lambda x, out: 1 / (1 + abs(x)) ** 2, "d/dx x/(1+|x|) = 1/(1+|x|)**2"
    )
    try:
        yield op
    finally:
        ops.OPS.pop("softsign", None)


def check_rows(text: str) -> dict[str, list[str]]:
    """The numerical check table of explain's text: input name -> [backward, numerical, agree]."""
    table = text.split("Check against numerical_grad")[1].splitlines()[2:]
    return {parts[0]: parts[1:] for parts in (line.split() for line in table) if parts}


def test_an_op_added_with_defop_is_narrated_checked_and_drawn(softsign: Op, tmp_path: Path) -> None:
    root = evaluate("y = softsign(x)*x", {"x": 0.5})
    text = explain(root, quiet=True)
    assert "softsign(x) = softsign(0.5) = 0.333333" in text
    assert "softsign(x)   [op softsign]   upstream softsign(x).grad = 0.5" in text
    # The rule, from the row's derivative, in the node's names; the number, from the node.
    assert "-> x: local dsoftsign(x)/dx = 1/(1 + abs(x))**2 = 0.444444;" in text
    (backward, numerical, agree) = check_rows(text)["x"]
    assert float(backward) == pytest.approx(1 / 3 + 2 / 9, abs=1e-9)  # s(x) + x s'(x)
    assert float(numerical) == pytest.approx(1 / 3 + 2 / 9, abs=1e-8) and agree == "yes"

    # graph: the expression language and the picture know the new op with no other edit.
    target = tmp_path / "softsign.dot"
    graph_command("softsign(x)*x", ["x=0.5"], output=target, file=StringIO())
    source = target.read_text(encoding="utf-8")
    assert '_op [label="softsign"' in source
    assert "grad 0.5556" in source  # backward has run: x.grad
    assert 'label="softsign"' in draw_dot(root).source

    out = StringIO()
    explain_command("softsign(x)*x", ["x=0.5"], file=out)
    assert "x.grad = 0.555556" in out.getvalue()


def package_rows() -> list[str]:
    """The rows micrograd defines (not ones a test module may have added with defop)."""
    return [name for name, op in ops.OPS.items() if str(getattr(op.forward, "__module__", "")).startswith("micrograd")]


def one_input_ops() -> list[str]:
    return [name for name in package_rows() if ops.OPS[name].arity == 1 and not ops.OPS[name].attrs]


@pytest.mark.parametrize("name", one_input_ops())
def test_every_one_input_op_of_the_table_parses_and_narrates(name: str) -> None:
    op = ops.OPS[name]
    root = evaluate(f"y = {name}(x)*x", {"x": 0.7})  # 0.7: inside every built-in op's domain, off every kink
    text = explain(root, quiet=True)
    assert f"{name}(x) = {name}(0.7) = " in text
    rule = re.compile(rf"step \d+ -> x: local d{name}\(x\)/dx = ")
    rule_line = next(line for line in text.splitlines() if rule.match(line.strip()))
    assert "none recorded" not in rule_line and "own _backward" not in rule_line
    local = op.local_grads((0.7,), op.forward(0.7))[0]
    assert f"= {float(local):.6g};" in rule_line  # the number stored by the node is the row's
    assert check_rows(text)["x"][2] == "yes"
    root.backward()
    (x,) = [node for node in topological_order(root) if node.label == "x"]
    trace = trace_backward(root)
    assert trace.grads[topological_order(root).index(x) + 1] == x.grad  # the engine's arithmetic, bit for bit


def test_the_trace_is_the_engines_chain_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from micrograd import engine

    walked: list[Value] = []
    real_chain_rule = engine.chain_rule

    def watched(order: list[Value], create_graph: bool = False) -> None:
        walked.extend(order)
        real_chain_rule(order, create_graph)

    monkeypatch.setattr(engine, "chain_rule", watched)
    o, nodes = lecture_neuron()
    trace = trace_backward(o)
    # One step of the engine's walk per op node, from the output back.
    assert [node.label for node in walked] == ["o", "n", "x1*w1 + x2*w2", "x2*w2", "x1*w1"]
    assert trace.grads[trace.root] == 1.0


def test_the_narration_shows_the_rule_the_table_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    # A wrong rule put into the table is what the narration shows, and the check catches it.
    monkeypatch.setattr(ops.TANH, "derivative", lambda x, out: 1.0 - out)
    o, _ = lecture_neuron()
    text = explain(o, quiet=True)
    assert "-> n: local do/dn = 1 - o = 0.292893;" in text
    assert check_rows(text)["x1"][2] == "NO"


def test_explain_narrates_a_node_made_by_hand_as_backward_treats_it() -> None:
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    c = Value(3.0, (a, b), "+")
    c.label = "c"
    text = explain(c, quiet=True)  # was: "zip() argument 2 is shorter than argument 1"
    assert "c = 3   (made by hand from a, b, op '+': no op of the table computed it)" in text
    assert "  c   [op +, made by hand]   upstream c.grad = 1" in text
    assert "-> a: no local dc/da was recorded when the node was made, so it passes nothing back" in text
    assert "a.grad = 0" in text and "b.grad = 0" in text
    assert "cannot nudge here: replay: cannot recompute the node made by hand with op '+'" in text
    c.backward()
    assert (a.grad, b.grad) == (0.0, 0.0)  # what backward does, too


def test_a_node_made_by_hand_passes_back_the_local_derivatives_it_was_given() -> None:
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    m = Value(5.0, (a, b), "mystery", _local_grads=(4.0,))  # one for a, none for b
    m.label = "m"
    trace = trace_backward(m)
    assert [(step.how, step.local, step.after) for step in trace.steps] == [("rule", 4.0, 4.0), ("nothing", 0.0, 0.0)]
    m.backward()
    assert (a.grad, b.grad) == (4.0, 0.0)


def test_the_lectures_own_backward_closure_is_narrated_by_what_it_does() -> None:
    x = Value(1.0, label="x")
    out = Value(math.sin(x.data), (x,), "sin")
    out.label = "s"

    def _backward() -> None:
        x.grad += math.cos(x.data) * out.grad

    out._backward = _backward
    y = out * 2
    y.label = "y"
    text = explain(y, quiet=True)
    assert "  s   [op sin, made by hand]   upstream s.grad = 2" in text
    assert "-> x: the node's own _backward function changed x.grad by 1.0806 (= 0.540302 * 2);" in text
    assert "x.grad = 1.0806" in text
    y.backward()
    assert x.grad == pytest.approx(2 * math.cos(1.0))
    assert trace_backward(y).grads[1] == x.grad


def test_every_grad_is_put_back_even_after_create_graph() -> None:
    o, nodes = lecture_neuron()
    o.backward(create_graph=True)
    before = {name: node.grad for name, node in nodes.items()}
    explain(o, quiet=True)
    assert all(nodes[name].grad is grad for name, grad in before.items())  # the very same objects


def example_node(op: Op) -> tuple[Value, int]:
    """The op on a few positive inputs (off every kink), and how many; its constants all 2 (pow's k, a class index)."""
    attrs = {key: 2 for key in op.attrs}
    # Ops of any number of inputs have layouts of their own: pairs (dot), pairs and a bias (linear) ...
    for count in [op.arity] if op.arity is not None else [4, 5, 6, 3]:
        inputs = [Value(0.7 + 0.2 * i, label=f"a{i}") for i in range(count)]
        try:
            return op(*inputs, **attrs), count
        except (ValueError, TypeError, IndexError):
            continue
    raise AssertionError(f"{op.name}: found no number of inputs it takes")


@pytest.mark.parametrize("name", package_rows())
def test_every_row_of_the_table_narrates_and_its_check_agrees(name: str) -> None:
    root, count = example_node(ops.OPS[name])
    text = explain(root, quiet=True)
    assert "none recorded" not in text and "own _backward" not in text
    rows = check_rows(text)
    assert set(rows) == {f"a{i}" for i in range(count)}
    assert all(agree == "yes" for _, _, agree in rows.values()), text


def test_a_graph_over_the_cap_says_by_how_much_in_its_error() -> None:
    # sum() of one Value 600 times: 600 additions, the Value itself and the 0 sum() starts from.
    from micrograd.viz import TooManyNodes

    with pytest.raises(TooManyNodes) as caught:
        draw_dot(sum([Value(1.0)] * 600), max_nodes=500)  # type: ignore[arg-type]
    assert (caught.value.count, caught.value.max_nodes) == (602, 500)
    assert isinstance(caught.value, ValueError)  # callers that caught ValueError still do
    assert "pass max_nodes=602" in str(caught.value)
