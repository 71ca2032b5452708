"""A layered (Sugiyama-style) layout of a parsed DOT graph, in pure Python, in points (1/72 inch).

The steps, each linear or close to it in the size of the graph, so that a graph at the
node cap (500 Values, about 1,000 boxes) is laid out in about a second:

1. break cycles (a DFS's back edges are laid out reversed, and drawn pointing back);
2. give each node a layer: one past its deepest input, and a node without inputs (a leaf)
   just before its first use, so a bias sits next to the ``+`` it feeds, as in ``dot``;
3. split edges that skip layers with invisible waypoints, so every edge joins adjacent layers;
4. order each layer by the barycentre of its neighbours, sweeping down and up, keeping the
   order with the fewest crossings (counted exactly by inversions);
5. place each layer's nodes as close to their neighbours' average as their widths allow
   (an exact least-squares fit under "no overlap" constraints, pool-adjacent-violators);
6. route each edge through its waypoints as a smooth curve, ending in an arrowhead.

Text widths are estimated from character classes (no font files are read), so a
label's box fits its text within a few percent.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from dataclasses import dataclass, field

from micrograd.viz.dot_reader import DotGraph

__all__ = ["Field", "PlacedNode", "PlacedEdge", "Layout", "label_lines", "layout", "text_width", "unescape_label"]

POINTS_PER_INCH = 72.0
_NODE_SEPARATION = 0.25 * POINTS_PER_INCH  # dot's nodesep default
_RANK_SEPARATION = 0.5 * POINTS_PER_INCH  # dot's ranksep default
_MARGIN = 4.0  # around the whole picture, as dot's pad
_SWEEPS = 12  # barycentre passes; the best order seen is kept, so more only costs time
_ARROW_LENGTH = 10.0


# ----------------------------------------------------------------------
# Text and node sizes
# ----------------------------------------------------------------------

_NARROW = set(" .,:;!|il'`()[]{}fjtIr-")
_WIDE = set("mwMW@%")


def text_width(text: str, font_size: float) -> float:
    """Estimated width of ``text`` in points (Helvetica-like proportions)."""
    units = 0.0
    for char in text:
        if char in _NARROW:
            units += 0.3
        elif char in _WIDE:
            units += 0.85
        elif char.isupper() or char == "_":
            units += 0.68
        else:
            units += 0.56
    return units * font_size


# DOT's escapes in a label: \n, \l and \r end a line (centred, left, right: all drawn centred here),
# the others stand for the character itself. One pass, so "\\n" (an escaped backslash, then n) stays "\n".
_ESCAPED = re.compile(r'\\([nlr{}|<>"\\ ])')


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return "\n" if char in "nlr" else char


def unescape_label(label: str) -> str:
    r"""A plain (non-record) label as shown: ``\|`` is ``|``, ``\\`` a backslash, ``\n`` a real line break."""
    return _ESCAPED.sub(_unescape, label)


def label_lines(text: str) -> list[str]:
    """The lines of an unescaped label: line breaks are real ones by now, so a backslash is only a backslash."""
    return text.split("\n")


@dataclass
class Field:
    """One field of a record box (or the whole box of a plain node): its text and its rectangle."""

    text: str
    x: float = 0.0  # left
    y: float = 0.0  # top
    width: float = 0.0
    height: float = 0.0
    children: list[Field] = field(default_factory=list)
    horizontal: bool = True  # children side by side (True) or stacked (False)


@dataclass
class PlacedNode:
    name: str
    label: str
    shape: str
    x: float  # centre
    y: float
    width: float
    height: float
    attributes: dict[str, str]
    record: Field | None = None  # a record's field tree, in absolute coordinates


@dataclass
class PlacedEdge:
    tail: str
    head: str
    points: list[tuple[float, float]]  # the curve's waypoints; the arrowhead ends at the last
    attributes: dict[str, str]


@dataclass
class Layout:
    width: float
    height: float
    nodes: list[PlacedNode]
    edges: list[PlacedEdge]
    graph_attributes: dict[str, str]
    directed: bool = True
    label: str = ""
    label_height: float = 0.0


def _font_size(attributes: dict[str, str], fallback: float = 14.0) -> float:
    try:
        size = float(attributes.get("fontsize", fallback))
    except ValueError:
        return fallback
    return size if 1.0 <= size <= 200.0 else fallback


def _text_box(text: str, font_size: float) -> tuple[float, float]:
    lines = label_lines(text)
    return max(text_width(line, font_size) for line in lines), len(lines) * font_size * 1.2


# -- records: "{ a | { b | c } }" is a tree of fields, each brace level turning the direction --


MAX_RECORD_NESTING = 200  # brace levels in a record label; each level is a few calls deep in the functions below


def _parse_record(label: str) -> Field:
    position = 0
    depth = 0  # braces open where we are; refused past MAX_RECORD_NESTING, before Python's recursion limit

    def fields(horizontal: bool) -> Field:
        nonlocal position, depth
        depth += 1
        if depth > MAX_RECORD_NESTING:
            raise ValueError(f"a record label is nested more than {MAX_RECORD_NESTING} braces deep")
        node = Field("", horizontal=horizontal)
        text: list[str] = []
        while position < len(label):
            char = label[position]
            if char == "\\" and position + 1 < len(label):
                following = label[position + 1]
                text.append("\n" if following in "nlr" else following)  # a line break, as unescape_label
                position += 2
                continue
            position += 1
            if char == "{":
                node.children.append(fields(not horizontal))
                text = []
                continue
            if char == "}":
                break
            if char == "|":
                if not node.children or text or label[position - 2] == "|":
                    node.children.append(Field(_clean(text)))
                text = []
                continue
            text.append(char)
        if text or not node.children or label[position - 1 : position] == "|":
            node.children.append(Field(_clean(text)))
        depth -= 1
        return node

    return fields(True)


def _clean(text: list[str]) -> str:
    joined = "".join(text).strip()
    return re.sub(r"^<[^>]*>\s*", "", joined)  # a field's <port> name is not shown


def _simplify(node: Field) -> Field:
    """Drop the empty text fields a brace leaves beside itself ("{ a }" is one field, not three)."""
    kept = [
        _simplify(child) if child.children else child
        for child in node.children
        if child.children or child.text or len(node.children) == 1
    ]
    kept = [child for child in kept if child.children or child.text or len(kept) == 1] or [Field("")]
    node.children = kept
    if len(kept) == 1 and kept[0].children:
        return Field("", children=kept[0].children, horizontal=kept[0].horizontal)
    return node


def _measure(node: Field, font_size: float) -> tuple[float, float]:
    if not node.children:
        width, height = _text_box(node.text, font_size)
        return width + 16.0, max(height + 8.0, 1.5 * font_size)
    sizes = [_measure(child, font_size) for child in node.children]
    if node.horizontal:
        return sum(w for w, _ in sizes), max(h for _, h in sizes)
    return max(w for w, _ in sizes), sum(h for _, h in sizes)


def _place(node: Field, x: float, y: float, width: float, height: float, font_size: float) -> None:
    node.x, node.y, node.width, node.height = x, y, width, height
    if not node.children:
        return
    sizes = [_measure(child, font_size) for child in node.children]
    if node.horizontal:
        natural = sum(w for w, _ in sizes)
        spare = (width - natural) / len(sizes)
        for child, (child_width, _) in zip(node.children, sizes, strict=True):
            _place(child, x, y, child_width + spare, height, font_size)
            x += child_width + spare
    else:
        natural = sum(h for _, h in sizes)
        spare = (height - natural) / len(sizes)
        for child, (_, child_height) in zip(node.children, sizes, strict=True):
            _place(child, x, y, width, child_height + spare, font_size)
            y += child_height + spare


def _node_size(attributes: dict[str, str], name: str, left_to_right: bool) -> tuple[float, float, Field | None]:
    """Width, height and (for records) the field tree of one node."""
    shape = attributes.get("shape", "ellipse").lower()
    label = attributes.get("label", "\\N").replace("\\N", name)
    font_size = _font_size(attributes)
    if shape not in ("record", "mrecord"):
        label = unescape_label(label)
    if shape in ("record", "mrecord"):
        # The top level runs across in TB and down in LR; each brace turns it (dot's rule).
        try:
            record = _simplify(_parse_record(label))
        except ValueError as error:
            raise ValueError(f"node {name!r}: {error}") from None
        if left_to_right:
            _flip(record)
        width, height = _measure(record, font_size)
        return max(width, 54.0), max(height, 36.0), record
    text_width_, text_height = _text_box(label, font_size)
    if shape == "point":
        return 6.0, 6.0, None
    if shape in ("plaintext", "plain", "none", "underline"):
        return text_width_ + 16.0, text_height + 8.0, None
    if shape in ("box", "rect", "rectangle", "square", "component", "note", "tab", "folder", "box3d"):
        return max(54.0, text_width_ + 16.0), max(36.0, text_height + 8.0), None
    # ellipse, oval, circle and the rest: an ellipse round the text's box
    width, height = max(54.0, text_width_ * 1.3 + 12.0), max(36.0, text_height * 1.3 + 6.0)
    if shape in ("circle", "doublecircle"):
        width = height = max(width, height)
    return width, height, None


def _flip(node: Field) -> None:
    node.horizontal = not node.horizontal
    for child in node.children:
        _flip(child)


# ----------------------------------------------------------------------
# The layered layout
# ----------------------------------------------------------------------


def _break_cycles(count: int, successors: list[list[int]]) -> set[tuple[int, int]]:
    """The edges a depth-first search meets going back up its own path: reversing them leaves a DAG."""
    state = [0] * count  # 0 unseen, 1 on the path, 2 done
    back: set[tuple[int, int]] = set()
    for start in range(count):
        if state[start]:
            continue
        state[start] = 1
        stack = [(start, iter(successors[start]))]
        while stack:
            node, remaining = stack[-1]
            following = next(remaining, None)
            if following is None:
                state[node] = 2
                stack.pop()
            elif state[following] == 1:
                back.add((node, following))
            elif state[following] == 0:
                state[following] = 1
                stack.append((following, iter(successors[following])))
    return back


def _topological(count: int, successors: list[list[int]], predecessors: list[list[int]]) -> list[int]:
    waiting = [len(p) for p in predecessors]
    ready = [n for n in range(count) if waiting[n] == 0]
    order: list[int] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for following in successors[node]:
            waiting[following] -= 1
            if waiting[following] == 0:
                ready.append(following)
    return order


def _layers(count: int, successors: list[list[int]], predecessors: list[list[int]]) -> list[int]:
    order = _topological(count, successors, predecessors)
    layer = [0] * count
    for node in order:
        for following in successors[node]:
            layer[following] = max(layer[following], layer[node] + 1)
    # A node with no inputs moves up to just before its first use (a leaf beside its op).
    for node in reversed(order):
        if not predecessors[node] and successors[node]:
            layer[node] = min(layer[s] for s in successors[node]) - 1
    return layer


def _crossings(upper_positions: list[int], lower_positions: list[int]) -> int:
    """Crossings of the edges (upper_positions[i] -> lower_positions[i]): inversions after sorting by upper."""
    pairs = sorted(zip(upper_positions, lower_positions, strict=True))
    seen: list[int] = []
    total = 0
    for _, lower in pairs:
        # edges already seen with a larger lower end cross this one
        index = bisect_left(seen, lower + 1)
        total += len(seen) - index
        seen.insert(index, lower)
    return total


def _isotonic_positions(desired: list[float], gaps: list[float]) -> list[float]:
    """Positions p minimising sum (p_i - desired_i)^2 with p_{i+1} - p_i >= gaps[i] (pool adjacent violators)."""
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    targets = [d - o for d, o in zip(desired, offsets, strict=True)]
    blocks: list[list[float]] = []  # [sum, count]
    for target in targets:
        blocks.append([target, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, size = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += size
    values: list[float] = []
    for total, size in blocks:
        values.extend([total / size] * int(size))
    return [v + o for v, o in zip(values, offsets, strict=True)]


@dataclass
class _Grid:
    """The abstract layout: nodes (the graph's, then the waypoints of long edges) in layers.

    "across" is a node's size along its layer, "along" its size along the ranks; ``up`` and ``down``
    are each node's neighbours in the layer above and below; ``chains`` maps an edge's number to the
    nodes it passes, tail first (self-loops have none).
    """

    real_count: int
    layer: list[int]
    across: list[float]
    along: list[float]
    up: list[list[int]]
    down: list[list[int]]
    chains: dict[int, list[int]]

    @property
    def total(self) -> int:
        return len(self.layer)

    @property
    def depth(self) -> int:
        return max(self.layer, default=-1) + 1


def _forward_edges(pairs: list[tuple[int, int]], count: int) -> list[tuple[int, int, int]]:
    """(tail, head, edge number) with the tail laid out above the head: cycles broken, self-loops left out."""
    successors: list[list[int]] = [[] for _ in range(count)]
    for tail_index, head_index in pairs:
        if tail_index != head_index:
            successors[tail_index].append(head_index)
    back = _break_cycles(count, successors)
    forward: list[tuple[int, int, int]] = []
    for number, (tail_index, head_index) in enumerate(pairs):
        if tail_index == head_index:
            continue
        if (tail_index, head_index) in back:
            tail_index, head_index = head_index, tail_index
        forward.append((tail_index, head_index, number))
    return forward


def _grid(forward: list[tuple[int, int, int]], across: list[float], along: list[float]) -> _Grid:
    """Layers for the nodes, and a waypoint in every layer a long edge crosses (each edge becomes a chain)."""
    count = len(across)
    successors: list[list[int]] = [[] for _ in range(count)]
    predecessors: list[list[int]] = [[] for _ in range(count)]
    for tail_index, head_index, _ in forward:
        successors[tail_index].append(head_index)
        predecessors[head_index].append(tail_index)
    grid = _Grid(count, _layers(count, successors, predecessors), list(across), list(along),
                 [[] for _ in range(count)], [[] for _ in range(count)], {})
    for tail_index, head_index, number in forward:
        chain = [tail_index]
        for between in range(grid.layer[tail_index] + 1, grid.layer[head_index]):
            chain.append(len(grid.layer))
            grid.layer.append(between)
            grid.across.append(2.0)
            grid.along.append(0.0)
            grid.up.append([])
            grid.down.append([])
        chain.append(head_index)
        for upper, lower in zip(chain, chain[1:], strict=False):
            grid.down[upper].append(lower)
            grid.up[lower].append(upper)
        grid.chains[number] = chain
    return grid


def _initial_rows(grid: _Grid) -> list[list[int]]:
    """Each layer's nodes in a first order: a depth-first walk from the top, so children start near their parents."""
    rows: list[list[int]] = [[] for _ in range(grid.depth)]
    seen = [False] * grid.total
    for start in sorted(range(grid.total), key=lambda n: grid.layer[n]):
        stack = [start]
        while stack:
            node = stack.pop()
            if seen[node]:
                continue
            seen[node] = True
            rows[grid.layer[node]].append(node)
            stack.extend(reversed(grid.down[node]))
    return rows


def _crossing_count(grid: _Grid, rows: list[list[int]], position: list[int]) -> int:
    count = 0
    for row in rows[:-1]:
        uppers = [position[node] for node in row for _ in grid.down[node]]
        lowers = [position[lower] for node in row for lower in grid.down[node]]
        count += _crossings(uppers, lowers)
    return count


def _numbered(rows: list[list[int]], position: list[int]) -> None:
    """``position[node]``: the node's place in its row."""
    for row in rows:
        for place, node in enumerate(row):
            position[node] = place


def _ordered_rows(grid: _Grid, rows: list[list[int]]) -> list[list[int]]:
    """The rows after barycentre sweeps, down and up in turn: the order with the fewest crossings seen."""
    position = [0] * grid.total
    _numbered(rows, position)
    best_rows, best = [list(row) for row in rows], _crossing_count(grid, rows, position)
    for sweep in range(_SWEEPS):
        if best == 0:
            break
        downward = sweep % 2 == 0
        sequence = range(1, grid.depth) if downward else range(grid.depth - 2, -1, -1)
        neighbours = grid.up if downward else grid.down
        for row_number in sequence:
            row = rows[row_number]

            def key(node: int, neighbours: list[list[int]] = neighbours) -> float:
                linked = neighbours[node]
                return sum(position[n] for n in linked) / len(linked) if linked else float(position[node])

            row.sort(key=key)
            for place, node in enumerate(row):
                position[node] = place
        count = _crossing_count(grid, rows, position)
        if count < best:
            best_rows, best = [list(row) for row in rows], count
    return best_rows


def _across_coordinates(grid: _Grid, rows: list[list[int]]) -> list[float]:
    """Each node's centre across its layer: packed first, then pulled towards its neighbours."""
    across = grid.across
    coordinate = [0.0] * grid.total
    for row in rows:
        edge = 0.0
        for node in row:
            coordinate[node] = edge + across[node] / 2
            edge += across[node] + _NODE_SEPARATION

    def gaps(row: list[int]) -> list[float]:
        return [
            (across[a] + across[b]) / 2 + (_NODE_SEPARATION if a < grid.real_count or b < grid.real_count else 8.0)
            for a, b in zip(row, row[1:], strict=False)
        ]

    for sweep in range(8):
        downward = sweep % 2 == 0
        sequence = range(1, grid.depth) if downward else range(grid.depth - 2, -1, -1)
        neighbours = grid.up if downward else grid.down
        for row_number in sequence:
            row = rows[row_number]
            desired = []
            for node in row:
                linked = neighbours[node] or (grid.down[node] if downward else grid.up[node])
                desired.append(sum(coordinate[n] for n in linked) / len(linked) if linked else coordinate[node])
            for node, placed in zip(row, _isotonic_positions(desired, gaps(row)), strict=True):
                coordinate[node] = placed
    lowest = min((coordinate[n] - across[n] / 2 for n in range(grid.total)), default=0.0)
    shift = _MARGIN - lowest
    return [value + shift for value in coordinate]


def _rank_centres(grid: _Grid) -> tuple[list[float], float]:
    """Each layer's centre along the ranks (as thick as its thickest node, ranksep between), and the extent."""
    thickness = [0.0] * grid.depth
    for node in range(grid.total):
        thickness[grid.layer[node]] = max(thickness[grid.layer[node]], grid.along[node])
    rank_centre = []
    edge = _MARGIN
    for row_thickness in thickness:
        rank_centre.append(edge + row_thickness / 2)
        edge += row_thickness + _RANK_SEPARATION
    return rank_centre, (edge - _RANK_SEPARATION + _MARGIN if grid.depth else 2 * _MARGIN)


@dataclass
class _Frame:
    """From the abstract layout's axes (across a layer, along the ranks) to the picture's x and y."""

    left_to_right: bool
    flip_along: bool  # BT and RL: the ranks run the other way
    extent_along: float
    title_height: float  # the strip at the top that the graph's label takes

    def point(self, across_value: float, along_value: float) -> tuple[float, float]:
        if self.flip_along:
            along_value = self.extent_along - along_value
        if self.left_to_right:
            return along_value, across_value + self.title_height
        return across_value, along_value + self.title_height


def _placed_node(graph: DotGraph, name: str, centre: tuple[float, float],
                 size: tuple[float, float, Field | None]) -> PlacedNode:
    x, y = centre
    node_width, node_height, record = size
    attributes = graph.nodes[name]
    if record is not None:
        _place(record, x - node_width / 2, y - node_height / 2, node_width, node_height, _font_size(attributes))
    return PlacedNode(
        name=name,
        label=unescape_label(attributes.get("label", "\\N").replace("\\N", name)),
        shape=attributes.get("shape", "ellipse").lower(),
        x=x,
        y=y,
        width=node_width,
        height=node_height,
        attributes=attributes,
        record=record,
    )


def _self_loop(looped: PlacedNode) -> list[tuple[float, float]]:
    """A small loop beside the node."""
    right, middle = looped.x + looped.width / 2, looped.y
    return [(right, middle - 6), (right + 18, middle - 14), (right + 18, middle + 14), (right, middle + 6)]


def _route(grid: _Grid, chain: list[int], rank_centre: list[float], coordinate: list[float],
           frame: _Frame) -> list[tuple[float, float]]:
    """An edge's waypoints: from the tail's far side, through the chain's waypoints, to the head's near side."""
    route = []
    for step, node in enumerate(chain):
        centre = rank_centre[grid.layer[node]]
        if step == 0:
            centre += grid.along[node] / 2
        elif step == len(chain) - 1:
            centre -= grid.along[node] / 2
        route.append(frame.point(coordinate[node], centre))
    return route


def layout(graph: DotGraph) -> Layout:
    """Place every node and route every edge of ``graph`` (see the module docstring for how)."""
    rankdir = graph.graph_attributes.get("rankdir", "TB").upper()
    left_to_right = rankdir in ("LR", "RL")
    names = list(graph.nodes)
    index = {name: i for i, name in enumerate(names)}
    sizes = [_node_size(graph.nodes[name], name, left_to_right) for name in names]
    forward = _forward_edges([(index[tail], index[head]) for tail, head, _ in graph.edges], len(names))
    grid = _grid(forward, [h if left_to_right else w for w, h, _ in sizes],
                 [w if left_to_right else h for w, h, _ in sizes])
    rows = _ordered_rows(grid, _initial_rows(grid))
    coordinate = _across_coordinates(grid, rows)
    rank_centre, extent_along = _rank_centres(grid)
    extent_across = max((coordinate[n] + grid.across[n] / 2 for n in range(grid.total)), default=0.0) + _MARGIN

    title = unescape_label(graph.graph_attributes.get("label", ""))
    title_height = _text_box(title, _font_size(graph.graph_attributes))[1] + 8.0 if title else 0.0
    frame = _Frame(left_to_right, rankdir in ("BT", "RL"), extent_along, title_height)
    width, height = (extent_along, extent_across) if left_to_right else (extent_across, extent_along)
    if title:
        width = max(width, _text_box(title, _font_size(graph.graph_attributes))[0] + 2 * _MARGIN)

    placed_nodes = [
        _placed_node(graph, name, frame.point(coordinate[node], rank_centre[grid.layer[node]]), sizes[node])
        for node, name in enumerate(names)
    ]
    placed_edges = []
    for number, (tail, head, attributes) in enumerate(graph.edges):
        if number not in grid.chains:
            placed_edges.append(PlacedEdge(tail, head, _self_loop(placed_nodes[index[tail]]), attributes))
            continue
        route = _route(grid, grid.chains[number], rank_centre, coordinate, frame)
        if index[tail] != grid.chains[number][0]:  # laid out head-to-tail to break a cycle: still ends at the head
            route.reverse()
        placed_edges.append(PlacedEdge(tail, head, route, attributes))
    return Layout(width=width, height=height + title_height, nodes=placed_nodes, edges=placed_edges,
                  graph_attributes=graph.graph_attributes, directed=graph.directed, label=title,
                  label_height=title_height)


def curve(points: list[tuple[float, float]], left_to_right: bool) -> list[tuple[float, float]]:
    """Cubic Bezier control points through ``points``: leaving and entering each along the rank direction.

    Returns [p0, c1, c2, p1, c1, c2, p2, ...] (the SVG path ``M p0 C c1 c2 p1 C ...``).
    """
    if len(points) < 2:
        return list(points)
    result = [points[0]]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if left_to_right:
            middle = (x0 + x1) / 2
            result += [(middle, y0), (middle, y1), (x1, y1)]
        else:
            middle = (y0 + y1) / 2
            result += [(x0, middle), (x1, middle), (x1, y1)]
    return result


def arrowhead(
    tip: tuple[float, float], before: tuple[float, float], length: float = _ARROW_LENGTH
) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """The base point the curve should end at, and the triangle of an arrowhead at ``tip``."""
    dx, dy = tip[0] - before[0], tip[1] - before[1]
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    base = (tip[0] - ux * length, tip[1] - uy * length)
    half = length * 0.35
    return base, [tip, (base[0] - uy * half, base[1] + ux * half), (base[0] + uy * half, base[1] - ux * half)]
