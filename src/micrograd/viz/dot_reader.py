"""Read DOT text into nodes, edges and attributes: the subset that ``draw_dot`` and the ``graphviz`` package write.

Covers ``[strict] digraph|graph [name] { ... }`` with node, edge and attribute statements,
``graph/node/edge [defaults]``, ``name = value`` lines, edge chains (``a -> b -> c``), ports
(read and ignored), subgraphs (their nodes and edges join the graph; their defaults apply
inside them only), quoted strings (joined with ``+``), HTML labels ``<...>`` (kept as text),
and ``//``, ``/* */`` and ``#`` comments. It is what :mod:`micrograd.viz.layered` lays out.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Defaults", "DotGraph", "DotSyntaxError", "read_dot"]


class DotSyntaxError(ValueError):
    """The DOT text does not parse; the message names the line and what was found there."""


@dataclass
class DotGraph:
    """A parsed graph: nodes in the order first mentioned, each with its attributes, and edges."""

    directed: bool = True
    name: str = ""
    graph_attributes: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    body: int = 0  # where the text just after the graph's opening '{' starts in the source


# One token: a quoted string, an HTML string's opening, an edge op, a punctuation mark, or an ID/number.
# An ID is DOT's [A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*, written as the ASCII it leaves out:
# the same characters (checked over every code point), but compiled in well under a millisecond, not 13 ms.
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<comment>//[^\n]*|/\*.*?\*/)
    | (?P<quoted>"(?:[^"\\]|\\.)*")
    | (?P<html><)
    | (?P<edgeop>->|--)
    | (?P<punct>[{}\[\]=;,:+])
    | (?P<id>[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*
           |-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?))
    """,
    re.VERBOSE | re.DOTALL,
)

_KEYWORDS = {"strict", "graph", "digraph", "node", "edge", "subgraph"}

MAX_NESTING = 10_000  # subgraphs inside subgraphs; Graphviz's own parser gives up well before this
MAX_EDGES = 1_000_000  # "a -> { b -> { c ... } }" reaches every node inside: a few kB of text can ask for billions

# A step of the parser: a generator that yields the steps it calls (each runs to its end, and its result is
# sent back) and returns its own result. _Parser.run drives them from a list, so that subgraphs nested
# thousands deep use no Python stack (plain recursion stops near 330 levels, with a RecursionError).
_Step = Generator[Any, Any, Any]


@dataclass
class _Token:
    kind: str  # 'id' (any ID: plain, number, quoted, html), 'op' (punctuation or edge op), 'end'
    text: str
    line: int
    keyword: bool = False  # an unquoted keyword, which cannot be a node name
    end: int = 0  # where the token ends in the source


def _tokens(source: str) -> list[_Token]:
    found: list[_Token] = []
    position, line = 0, 1
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise DotSyntaxError(f"line {line}: unexpected character {source[position]!r}")
        kind, text = match.lastgroup, match.group()
        if kind == "html":  # <...> with nested <...>: the label's text is the markup between
            depth, end = 0, position
            while end < len(source):
                depth += {"<": 1, ">": -1}.get(source[end], 0)
                end += 1
                if depth == 0:
                    break
            if depth != 0:
                raise DotSyntaxError(f"line {line}: an HTML label '<...>' is never closed")
            found.append(_Token("id", source[position + 1 : end - 1], line, end=end))
            line += source.count("\n", position, end)
            position = end
            continue
        if kind == "quoted":
            # In DOT only \" is an escape of the quoted string itself; a backslash-newline continues the line.
            # Other backslashes (\| \n \l in labels) belong to the label and are kept.
            found.append(_Token("id", text[1:-1].replace('\\"', '"').replace("\\\n", ""), line, end=match.end()))
        elif kind == "id":
            found.append(_Token("id", text, line, keyword=text.lower() in _KEYWORDS, end=match.end()))
        elif kind in ("edgeop", "punct"):
            found.append(_Token("op", text, line, end=match.end()))
        line += text.count("\n")
        position = match.end()
    found.append(_Token("end", "", line, end=len(source)))
    return found


class _Parser:
    def __init__(self, source: str, defaults: Defaults) -> None:
        self.tokens = _tokens(source)
        self.at = 0
        self.graph = DotGraph()
        self.defaults = defaults

    # -- token helpers --
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at += 1
        return token

    def is_op(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "op" and token.text == text

    def is_keyword(self, word: str) -> bool:
        token = self.peek()
        return token.keyword and token.text.lower() == word

    def expect_op(self, text: str) -> None:
        token = self.take()
        if token.kind != "op" or token.text != text:
            shown = token.text or "the end of the text"
            raise DotSyntaxError(f"line {token.line}: expected {text!r}, found {shown!r}")

    def identifier(self) -> str:
        token = self.take()
        if token.kind != "id":
            shown = token.text or "the end of the text"
            raise DotSyntaxError(f"line {token.line}: expected a name or value, found {shown!r}")
        text = token.text
        while self.is_op("+") and self.peek(1).kind == "id":  # "abc" + "def" is one string
            self.take()
            text += self.take().text
        return text

    # -- grammar --
    def parse(self) -> DotGraph:
        if self.is_keyword("strict"):
            self.take()
        if self.is_keyword("digraph"):
            self.graph.directed = True
        elif self.is_keyword("graph"):
            self.graph.directed = False
        else:
            token = self.peek()
            raise DotSyntaxError(f"line {token.line}: DOT text starts with 'digraph' or 'graph', found {token.text!r}")
        self.take()
        if self.peek().kind == "id" and not self.peek().keyword:
            self.graph.name = self.identifier()
        self.graph.body = self.peek().end  # the '{' (statements() checks that it is one)
        self.graph.graph_attributes.update(self.defaults.graph)
        self.run(self.statements(dict(self.defaults.node), dict(self.defaults.edge)))
        if self.peek().kind != "end":
            token = self.peek()
            raise DotSyntaxError(f"line {token.line}: unexpected {token.text!r} after the graph's closing '}}'")
        return self.graph

    def run(self, first: _Step) -> Any:
        """Run the step ``first`` and every step it calls, from a list instead of the Python stack; its result."""
        calls: list[_Step] = [first]
        result: Any = None
        while True:
            try:
                called = calls[-1].send(result)
            except StopIteration as finished:
                calls.pop()
                if not calls:
                    return finished.value
                result = finished.value
                continue
            if len(calls) >= 3 * (MAX_NESTING + 1):  # three steps a level: statements, statement, endpoint
                raise DotSyntaxError(f"line {self.peek().line}: subgraphs are nested more than {MAX_NESTING:,} deep")
            calls.append(called)
            result = None

    def statements(self, node_defaults: dict[str, str], edge_defaults: dict[str, str]) -> _Step:
        """Parse ``{ stmt* }``; returns the nodes mentioned in it (an edge to a subgraph reaches all of them)."""
        self.expect_op("{")
        node_defaults, edge_defaults = dict(node_defaults), dict(edge_defaults)  # this scope's own copies
        mentioned: list[str] = []
        while not self.is_op("}"):
            if self.peek().kind == "end":
                raise DotSyntaxError(f"line {self.peek().line}: the graph's '{{' is never closed")
            yield self.statement(node_defaults, edge_defaults, mentioned)
            while self.is_op(";") or self.is_op(","):
                self.take()
        self.take()
        return mentioned

    def attribute_list(self) -> dict[str, str]:
        attributes: dict[str, str] = {}
        while self.is_op("["):
            self.take()
            while not self.is_op("]"):
                key = self.identifier()
                value = "true"
                if self.is_op("="):
                    self.take()
                    value = self.identifier()
                attributes[key] = value
                while self.is_op(",") or self.is_op(";"):
                    self.take()
            self.take()
        return attributes

    def statement(self, node_defaults: dict[str, str], edge_defaults: dict[str, str], mentioned: list[str]) -> _Step:
        for word, defaults in (("graph", None), ("node", node_defaults), ("edge", edge_defaults)):
            if self.is_keyword(word) and self.is_op("[", 1):
                self.take()
                attributes = self.attribute_list()
                if defaults is None:
                    self.graph.graph_attributes.update(attributes)
                else:
                    defaults.update(attributes)
                return
        if self.peek().kind == "id" and not self.peek().keyword and self.is_op("=", 1):
            key = self.identifier()
            self.take()
            self.graph.graph_attributes[key] = self.identifier()
            return
        ends = [(yield self.endpoint(node_defaults, edge_defaults, mentioned))]
        while self.peek().kind == "op" and self.peek().text in ("->", "--"):
            self.take()
            ends.append((yield self.endpoint(node_defaults, edge_defaults, mentioned)))
        attributes = self.attribute_list()
        if len(ends) == 1:
            for name in ends[0]:
                self.graph.nodes[name].update(attributes)
            return
        for tails, heads in zip(ends, ends[1:], strict=False):
            if len(self.graph.edges) + len(tails) * len(heads) > MAX_EDGES:
                line = self.peek().line
                raise DotSyntaxError(f"line {line}: these edges make over {MAX_EDGES:,}, too many to draw")
            for tail in tails:
                for head in heads:
                    self.graph.edges.append((tail, head, {**edge_defaults, **attributes}))

    def endpoint(self, node_defaults: dict[str, str], edge_defaults: dict[str, str], mentioned: list[str]) -> _Step:
        if self.is_keyword("subgraph") or self.is_op("{"):
            if self.is_keyword("subgraph"):
                self.take()
                if self.peek().kind == "id" and not self.peek().keyword:
                    self.identifier()  # the subgraph's name: clusters are drawn as plain nodes here
            inner = yield self.statements(node_defaults, edge_defaults)
            mentioned.extend(inner)
            return inner
        token = self.peek()
        if token.keyword:
            raise DotSyntaxError(f"line {token.line}: {token.text!r} is a keyword; quote it to use it as a name")
        name = self.identifier()
        if self.is_op(":"):  # a port (and compass point): the edge attaches to the node
            self.take()
            self.identifier()
            if self.is_op(":"):
                self.take()
                self.identifier()
        if name not in self.graph.nodes:
            self.graph.nodes[name] = dict(node_defaults)
        mentioned.append(name)
        return [name]


@dataclass(frozen=True)
class Defaults:
    """Attributes given outside the DOT text (``dot -Gname=value -Nname=value -Ename=value``).

    As in Graphviz, they are the defaults the file starts from: the file's own statements override them.
    """

    graph: dict[str, str] = field(default_factory=dict)
    node: dict[str, str] = field(default_factory=dict)
    edge: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.graph or self.node or self.edge)


def read_dot(source: str, defaults: Defaults | None = None) -> DotGraph:
    """Parse DOT text; DotSyntaxError (a ValueError) names the line where it goes wrong."""
    if not isinstance(source, str):
        raise TypeError(f"read_dot: source must be str, got {type(source).__name__}")
    # A line starting with '#' is C-preprocessor output, which dot skips. It is blanked with as many
    # spaces, so that line numbers and the offsets in the source (DotGraph.body) stay right.
    # A byte-order mark at the start is blanked the same way.
    if source.startswith("\ufeff"):
        source = " " + source[1:]
    lines = [" " * len(line) if line.lstrip().startswith("#") else line for line in source.split("\n")]
    return _Parser("\n".join(lines), defaults or Defaults()).parse()
