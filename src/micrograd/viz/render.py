"""Draw DOT text without Graphviz: read it, lay it out in layers, and write SVG (or PNG/PDF with matplotlib).

``render_dot(source, "svg")`` is what ``draw_dot(...).pipe()`` and the ``dot`` command use when
no real Graphviz ``dot`` is installed. SVG needs nothing but Python; PNG, PDF and JPEG are
painted with matplotlib (``pip install 'micrograd[viz]'``), from the same layout.
"""

from __future__ import annotations

import io
import re
from html import escape  # not xml.sax.saxutils, which imports urllib, http and email (65 ms) on the way
from typing import Any

from micrograd.viz.dot_reader import Defaults, read_dot
from micrograd.viz.layered import (
    Field,
    Layout,
    PlacedEdge,
    PlacedNode,
    _font_size,  # the layout sized the boxes for this font size: the text must be drawn at the same one
    arrowhead,
    curve,
    label_lines,
    layout,
    unescape_label,
)

__all__ = ["FORMATS", "PICTURE_FORMATS", "MissingPainter", "normal_format", "render_dot", "render_layout"]

TEXT_FORMATS = ("dot", "gv", "canon")  # the DOT text itself, as dot -Tcanon gives it back
SVG_FORMATS = ("svg",)
PICTURE_FORMATS = ("png", "pdf", "jpg", "jpeg")  # painted with matplotlib
FORMATS = SVG_FORMATS + PICTURE_FORMATS + TEXT_FORMATS + ("plain",)

_DEFAULT_FONT = "Times-Roman"


class MissingPainter(RuntimeError, OSError):
    """A PNG/PDF was asked for but matplotlib, which paints them, is not installed."""


def normal_format(format: str) -> str:
    """The format a ``-T`` value names (one of :data:`FORMATS`); ValueError naming it if this layout has none such."""
    name = format.split(":")[0].lower()  # "png:cairo" names a Graphviz renderer: the format is png
    if name.startswith("xdot"):  # xdot, xdot1.4, xdot_json: the layout as Graphviz's drawing operations
        raise ValueError(
            f'format "{name}" is Graphviz\'s drawing operations, which this layout does not write; '
            "use svg or plain (positions), or install Graphviz"
        )
    if name not in FORMATS:
        raise ValueError(f'format "{name}" is not one this layout writes; use one of: {", ".join(FORMATS)}')
    return name


def render_dot(source: str, format: str = "svg", defaults: Defaults | None = None) -> bytes:
    """``source`` (DOT text) drawn in ``format``: one of :data:`FORMATS`.

    ``defaults`` are graph, node and edge attributes the file starts from (``dot -G -N -E``); its own override them.

    ValueError for an unknown format or DOT text that does not parse (the message names the line);
    MissingPainter for png/pdf/jpg without matplotlib.
    """
    format = normal_format(format)
    graph = read_dot(source, defaults)
    if format in TEXT_FORMATS:
        return _with_defaults(source, graph.body, defaults).encode("utf-8")
    placed = layout(graph)
    if format == "plain":
        return _plain(placed).encode("utf-8")
    if format == "svg":
        return render_layout(placed).encode("utf-8")
    return _paint(placed, format)


def _with_defaults(source: str, body: int, defaults: Defaults | None) -> str:
    """The DOT text with ``defaults`` as the first statements of the graph, where they are still overridden."""
    if not defaults:
        return source

    def quoted(text: str) -> str:
        return '"' + text.replace('"', '\\"') + '"'

    statements = [
        f"{keyword} [{', '.join(f'{quoted(key)}={quoted(value)}' for key, value in attributes.items())}];"
        for keyword, attributes in (("graph", defaults.graph), ("node", defaults.node), ("edge", defaults.edge))
        if attributes
    ]
    # body is just past the graph's own '{', as the reader found it: never a brace in a comment or a string.
    return source[:body] + "\n" + "\n".join(statements) + "\n" + source[body:]


# ----------------------------------------------------------------------
# Attribute helpers
# ----------------------------------------------------------------------

def _colour(value: str | None, fallback: str) -> str:
    if not value:
        return fallback
    value = value.split(":")[0].split(";")[0].strip()  # a gradient list: its first colour
    if re.fullmatch(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?|#[0-9a-fA-F]{3}|[A-Za-z]+[0-9]*", value):
        if re.fullmatch(r"[A-Za-z]+[0-9]+", value):  # X11 "grey50", "red3": drop the shade number
            value = re.sub(r"[0-9]+$", "", value)
        return value
    return fallback


def _styles(attributes: dict[str, str]) -> set[str]:
    return {part.strip().lower() for part in attributes.get("style", "").split(",") if part.strip()}


def _fill(attributes: dict[str, str], node: bool) -> str:
    styles = _styles(attributes)
    if node and "filled" in styles:
        return _colour(attributes.get("fillcolor") or attributes.get("color"), "lightgrey")
    return "none"


def _separators(field: Field) -> list[tuple[float, float, float, float]]:
    """The lines between a record's fields, as (x1, y1, x2, y2)."""
    lines = []
    for before, child in zip(field.children, field.children[1:], strict=False):
        if field.horizontal:
            lines.append((child.x, field.y, child.x, field.y + field.height))
        else:
            lines.append((field.x, child.y, field.x + field.width, child.y))
        del before
    for child in field.children:
        lines += _separators(child)
    return lines


def _text_fields(field: Field) -> list[Field]:
    if not field.children:
        return [field]
    return [leaf for child in field.children for leaf in _text_fields(child)]


def _edge_curve(edge: PlacedEdge, left_to_right: bool, directed: bool) -> tuple[list[tuple[float, float]], list[Any]]:
    """The edge's Bezier points and its arrowheads' triangles."""
    points = list(edge.points)
    direction = edge.attributes.get("dir", "forward" if directed else "none").lower()
    heads: list[Any] = []
    if direction in ("forward", "both") and len(points) >= 2:
        base, triangle = arrowhead(points[-1], points[-2])
        points[-1] = base
        heads.append(triangle)
    if direction in ("back", "both") and len(points) >= 2:
        base, triangle = arrowhead(points[0], points[1])
        points[0] = base
        heads.append(triangle)
    if len(edge.points) == 4 and edge.tail == edge.head:  # a self-loop's points are its control points
        return points, heads
    return curve(points, left_to_right), heads


# ----------------------------------------------------------------------
# SVG
# ----------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _svg_text(x: float, y: float, text: str, font: str, size: float, colour: str) -> list[str]:
    lines = label_lines(text)
    first = y - (len(lines) - 1) * size * 0.6 + size * 0.35  # centred on y; the baseline sits below the middle
    return [
        f'<text text-anchor="middle" x="{_number(x)}" y="{_number(first + i * size * 1.2)}" '
        f'font-family="{escape(font)}" font-size="{_number(size)}" fill="{colour}">'
        f"{escape(line)}</text>"
        for i, line in enumerate(lines)
        if line
    ]


def _svg_node(node: PlacedNode, number: int) -> list[str]:
    attributes = node.attributes
    stroke = _colour(attributes.get("color"), "black")
    fill = _fill(attributes, node=True)
    font = attributes.get("fontname", _DEFAULT_FONT)
    size = _font_size(attributes)
    text_colour = _colour(attributes.get("fontcolor"), "black")
    dashed = ' stroke-dasharray="5,2"' if "dashed" in _styles(attributes) else ""
    if "invis" in _styles(attributes):
        return []
    left, top = node.x - node.width / 2, node.y - node.height / 2
    parts = [f'<g id="node{number}" class="node">', f"<title>{escape(node.name)}</title>"]
    shape = node.shape
    if shape in ("record", "mrecord", "box", "rect", "rectangle", "square", "component", "note", "tab", "folder"):
        rounded = ' rx="6" ry="6"' if shape == "mrecord" or "rounded" in _styles(attributes) else ""
        parts.append(
            f'<rect x="{_number(left)}" y="{_number(top)}" width="{_number(node.width)}" '
            f'height="{_number(node.height)}"{rounded} fill="{fill}" stroke="{stroke}"{dashed}/>'
        )
    elif shape == "point":
        parts.append(f'<ellipse cx="{_number(node.x)}" cy="{_number(node.y)}" rx="3" ry="3" fill="{stroke}"/>')
    elif shape not in ("plaintext", "plain", "none", "underline"):
        parts.append(
            f'<ellipse cx="{_number(node.x)}" cy="{_number(node.y)}" rx="{_number(node.width / 2)}" '
            f'ry="{_number(node.height / 2)}" fill="{fill}" stroke="{stroke}"{dashed}/>'
        )
        if shape == "doublecircle":
            parts.append(
                f'<ellipse cx="{_number(node.x)}" cy="{_number(node.y)}" rx="{_number(node.width / 2 - 4)}" '
                f'ry="{_number(node.height / 2 - 4)}" fill="none" stroke="{stroke}"/>'
            )
    if node.record is not None:
        for x1, y1, x2, y2 in _separators(node.record):
            parts.append(
                f'<polyline fill="none" stroke="{stroke}" '
                f'points="{_number(x1)},{_number(y1)} {_number(x2)},{_number(y2)}"/>'
            )
        for leaf in _text_fields(node.record):
            middle_x, middle_y = leaf.x + leaf.width / 2, leaf.y + leaf.height / 2
            parts += _svg_text(middle_x, middle_y, leaf.text, font, size, text_colour)
    elif shape != "point":
        parts += _svg_text(node.x, node.y, node.label, font, size, text_colour)
    parts.append("</g>")
    return parts


def _svg_edge(edge: PlacedEdge, number: int, left_to_right: bool, directed: bool) -> list[str]:
    attributes = edge.attributes
    if "invis" in _styles(attributes):
        return []
    colour = _colour(attributes.get("color"), "black")
    dashed = ' stroke-dasharray="5,2"' if "dashed" in _styles(attributes) else ""
    dotted = ' stroke-dasharray="1,5"' if "dotted" in _styles(attributes) else ""
    points, heads = _edge_curve(edge, left_to_right, directed)
    path = f"M{_number(points[0][0])},{_number(points[0][1])}"
    for i in range(1, len(points) - 2, 3):
        path += "C" + " ".join(f"{_number(x)},{_number(y)}" for x, y in points[i : i + 3])
    arrow = "&#45;&gt;" if directed else "&#45;&#45;"
    parts = [
        f'<g id="edge{number}" class="edge">',
        f"<title>{escape(edge.tail)}{arrow}{escape(edge.head)}</title>",
        f'<path fill="none" stroke="{colour}"{dashed}{dotted} d="{path}"/>',
    ]
    for triangle in heads:
        corners = " ".join(f"{_number(x)},{_number(y)}" for x, y in triangle)
        parts.append(f'<polygon fill="{colour}" stroke="{colour}" points="{corners}"/>')
    if attributes.get("label"):
        middle = edge.points[len(edge.points) // 2]
        font = attributes.get("fontname", _DEFAULT_FONT)
        shown = unescape_label(attributes["label"])
        parts += _svg_text(middle[0], middle[1] - 8, shown, font, _font_size(attributes), colour)
    parts.append("</g>")
    return parts


def render_layout(placed: Layout) -> str:
    """The SVG text of a laid-out graph (structured like Graphviz's: one <g> per node and per edge)."""
    left_to_right = placed.graph_attributes.get("rankdir", "TB").upper() in ("LR", "RL")
    width, height = _number(placed.width), _number(placed.height)
    background = _colour(placed.graph_attributes.get("bgcolor"), "white")
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        "<!-- Drawn by micrograd's layered layout (micrograd.viz.render), not by Graphviz -->",
        f'<svg width="{width}pt" height="{height}pt" viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">',
        '<g id="graph0" class="graph">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="{background}" stroke="none"/>',
    ]
    if placed.label:
        attributes = placed.graph_attributes
        parts += _svg_text(
            placed.width / 2,
            placed.label_height / 2,
            placed.label,
            attributes.get("fontname", _DEFAULT_FONT),
            _font_size(attributes),
            "black",
        )
    for number, edge in enumerate(placed.edges, start=1):
        parts += _svg_edge(edge, number, left_to_right, placed.directed)
    for number, node in enumerate(placed.nodes, start=1):
        parts += _svg_node(node, number)
    parts += ["</g>", "</svg>", ""]
    return "\n".join(parts)


# ----------------------------------------------------------------------
# Pictures through matplotlib
# ----------------------------------------------------------------------

_MATPLOTLIB_FONTS = {"helvetica": "sans-serif", "arial": "sans-serif", "courier": "monospace"}


class _Lettering:
    """Text for matplotlib as filled glyph outlines, one patch per colour.

    A thousand Text artists take seconds to lay out and draw; each glyph's outline is made
    once and every string is composed from them (no kerning, which dot's labels do not need).
    """

    def __init__(self) -> None:
        from matplotlib.font_manager import FontProperties
        from matplotlib.textpath import TextPath, TextToPath

        self._make_outline, self._measure, self._properties = TextPath, TextToPath(), FontProperties
        self._glyphs: dict[tuple[str, str], tuple[Any, Any, float]] = {}  # outline at size 1, its codes, advance
        self._pieces: dict[str, tuple[list[Any], list[Any]]] = {}  # colour -> vertex arrays, code arrays

    def _glyph(self, char: str, family: str) -> tuple[Any, Any, float]:
        key = (char, family)
        if key not in self._glyphs:
            import numpy

            reference = 100.0  # outlines made large and scaled down keep their precision
            properties = self._properties(family=family, size=reference)
            width = self._measure.get_text_width_height_descent(char, properties, ismath=False)[0]
            vertices, codes = numpy.zeros((0, 2)), numpy.zeros(0, dtype=numpy.uint8)
            if not char.isspace():  # a space has an advance but no outline (and TextPath refuses it)
                outline = self._make_outline((0, 0), char, prop=properties)
                vertices = numpy.asarray(outline.vertices, dtype=float) / reference
                codes = numpy.asarray(outline.codes if outline.codes is not None else [1] + [2] * (len(vertices) - 1))
            self._glyphs[key] = (vertices, codes, width / reference)
        return self._glyphs[key]

    def add(self, line: str, x: float, y: float, size: float, family: str, colour: str) -> None:
        import numpy

        glyphs = [self._glyph(char, family) for char in line]
        width = sum(advance for _, _, advance in glyphs) * size
        pen = x - width / 2
        baseline = y + size * 0.35  # y grows downwards here; glyph outlines grow upwards
        vertex_arrays, code_arrays = self._pieces.setdefault(colour, ([], []))
        for vertices, codes, advance in glyphs:
            if len(vertices):
                placed = numpy.column_stack((pen + vertices[:, 0] * size, baseline - vertices[:, 1] * size))
                vertex_arrays.append(placed)
                code_arrays.append(codes)
            pen += advance * size

    def patches(self) -> list[Any]:
        import numpy
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as OutlinePath

        made = []
        for colour, (vertex_arrays, code_arrays) in self._pieces.items():
            if vertex_arrays:
                outline = OutlinePath(numpy.concatenate(vertex_arrays), numpy.concatenate(code_arrays))
                made.append(PathPatch(outline, facecolor=colour, edgecolor="none", linewidth=0))
        return made


def _paint(placed: Layout, format: str) -> bytes:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection, PatchCollection
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingPainter(
            f"drawing {format.upper()} without Graphviz needs matplotlib: pip install 'micrograd[viz]' "
            "(or install Graphviz); SVG needs neither"
        ) from None
    scale = 1 / 72  # points to inches
    figure = Figure(figsize=(max(placed.width, 1) * scale, max(placed.height, 1) * scale))
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, placed.width)
    axes.set_ylim(placed.height, 0)  # y grows downwards, as in the layout and in SVG
    axes.set_axis_off()
    figure.patch.set_facecolor(_colour(placed.graph_attributes.get("bgcolor"), "white"))

    lettering = _Lettering()
    if placed.label:
        _letter(lettering, placed.width / 2, placed.label_height / 2, placed.label, placed.graph_attributes, "black")
    # Shapes are gathered into a few collections, each drawn as one artist: a thousand separate
    # patches cost most of the time of a big picture in bookkeeping, not in drawing.
    curves = _edge_patches(placed)
    shapes, separators, separator_colours = _node_patches(placed, lettering)
    # Edges under the boxes (whose white fill hides their ends), separators on the boxes, text on top.
    axes.add_collection(PatchCollection(curves, match_original=True, zorder=1), autolim=False)
    axes.add_collection(PatchCollection(shapes, match_original=True, zorder=2), autolim=False)
    axes.add_collection(LineCollection(separators, colors=separator_colours, linewidths=1, zorder=3), autolim=False)
    for patch in lettering.patches():
        patch.set_zorder(4)
        axes.add_artist(patch)
    buffer = io.BytesIO()
    # 72 dpi: one pixel per point, as the SVG; fast PNG compression, since the pictures are mostly white.
    options: dict[str, Any] = {"pil_kwargs": {"compress_level": 1}} if format == "png" else {}
    figure.savefig(buffer, format="jpeg" if format == "jpg" else format, dpi=72, **options)
    return buffer.getvalue()


def _family(attributes: dict[str, str]) -> str:
    """The matplotlib font family closest to the DOT ``fontname``."""
    name = attributes.get("fontname", _DEFAULT_FONT).lower()
    return next((value for key, value in _MATPLOTLIB_FONTS.items() if key in name), "serif")


def _letter(lettering: _Lettering, x: float, y: float, words: str, attributes: dict[str, str], colour: str) -> None:
    """A label's lines, centred on (x, y)."""
    lines = label_lines(words)
    # matplotlib's sans-serif (DejaVu Sans) runs a little wider than the Helvetica the boxes are sized for.
    size = 0.95 * _font_size(attributes)
    first = y - (len(lines) - 1) * size * 0.6
    for number, line in enumerate(lines):
        if line.strip():
            lettering.add(line, x, first + number * size * 1.2, size, _family(attributes), colour)


def _edge_patches(placed: Layout) -> list[Any]:
    """Every visible edge's curve and arrowheads, as matplotlib patches."""
    from matplotlib.patches import PathPatch, Polygon
    from matplotlib.path import Path as CurvePath

    left_to_right = placed.graph_attributes.get("rankdir", "TB").upper() in ("LR", "RL")
    curves: list[Any] = []
    for edge in placed.edges:
        if "invis" in _styles(edge.attributes):
            continue
        colour = _colour(edge.attributes.get("color"), "black")
        points, heads = _edge_curve(edge, left_to_right, placed.directed)
        codes = [CurvePath.MOVETO] + [CurvePath.CURVE4] * (len(points) - 1)
        curves.append(PathPatch(CurvePath(points, codes), fill=False, edgecolor=colour, linewidth=1))
        for triangle in heads:
            curves.append(Polygon(triangle, closed=True, facecolor=colour, edgecolor=colour, linewidth=1))
    return curves


def _node_patches(placed: Layout, lettering: _Lettering) -> tuple[list[Any], list[Any], list[str]]:
    """Every visible node's shape, its record's separator lines and their colours; its text goes to ``lettering``."""
    from matplotlib.patches import Ellipse, Rectangle

    shapes: list[Any] = []
    separators: list[Any] = []
    separator_colours: list[str] = []
    for node in placed.nodes:
        attributes = node.attributes
        if "invis" in _styles(attributes):
            continue
        stroke = _colour(attributes.get("color"), "black")
        fill = _fill(attributes, node=True)
        fill_colour = "white" if fill == "none" else fill
        text_colour = _colour(attributes.get("fontcolor"), "black")
        left, top = node.x - node.width / 2, node.y - node.height / 2
        if node.shape in ("record", "mrecord", "box", "rect", "rectangle", "square"):
            shapes.append(Rectangle((left, top), node.width, node.height, facecolor=fill_colour, edgecolor=stroke))
        elif node.shape == "point":
            shapes.append(Ellipse((node.x, node.y), 6, 6, facecolor=stroke, edgecolor=stroke))
        elif node.shape not in ("plaintext", "plain", "none", "underline"):
            shapes.append(Ellipse((node.x, node.y), node.width, node.height, facecolor=fill_colour, edgecolor=stroke))
        if node.record is not None:
            for x1, y1, x2, y2 in _separators(node.record):
                separators.append(((x1, y1), (x2, y2)))
                separator_colours.append(stroke)
            for leaf in _text_fields(node.record):
                _letter(lettering, leaf.x + leaf.width / 2, leaf.y + leaf.height / 2, leaf.text, attributes,
                        text_colour)
        elif node.shape != "point":
            _letter(lettering, node.x, node.y, node.label, attributes, text_colour)
    return shapes, separators, separator_colours


# ----------------------------------------------------------------------
# dot -Tplain: one line per node and edge, in inches (y up), for programs that read positions
# ----------------------------------------------------------------------


def _plain(placed: Layout) -> str:
    def quote(text: str) -> str:
        # A label's line breaks are real ones by now: written back as \n, so each node stays on one line.
        text = text.replace('"', '\\"').replace("\n", "\\n")
        return text if re.fullmatch(r"[A-Za-z_][A-Za-z_0-9.]*", text) else '"' + text + '"'

    inches = 1 / 72
    lines = [f"graph 1 {placed.width * inches:.3f} {placed.height * inches:.3f}"]
    for node in placed.nodes:
        lines.append(
            f"node {quote(node.name)} {node.x * inches:.3f} {(placed.height - node.y) * inches:.3f} "
            f"{node.width * inches:.3f} {node.height * inches:.3f} {quote(node.label)} solid {node.shape} black white"
        )
    for edge in placed.edges:
        points = " ".join(f"{x * inches:.3f} {(placed.height - y) * inches:.3f}" for x, y in edge.points)
        lines.append(f"edge {quote(edge.tail)} {quote(edge.head)} {len(edge.points)} {points} solid black")
    lines.append("stop")
    return "\n".join(lines) + "\n"
