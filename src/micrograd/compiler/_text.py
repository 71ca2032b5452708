"""What both emitters write the same way: numbers, the names of the ops' functions, long sums and lists."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from micrograd.compiler.plan import Plan
from micrograd.ops import Op

# Terms per statement of a long sum, and names per line of a long list: no statement
# of the generated code grows with the graph (Python's parser nests a + b + c ...).
CHUNK = 32
PER_LINE = 12

_OPERATOR_WORDS = {"+": "add", "*": "mul", "**": "pow_value"}


def literal(x: float) -> str:
    """A float as source that reads back as exactly the same float (inf and nan are names of the namespace)."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def wrapped(items: Sequence[str], indent: str) -> str:
    """Items separated by commas, a dozen to a line, so that long lists stay readable."""
    lines = [", ".join(items[i : i + PER_LINE]) for i in range(0, len(items), PER_LINE)]
    return (",\n" + indent).join(lines)


def chunked_sum(target: str, terms: Sequence[str], start: str | None = None) -> list[str]:
    """Statements that set ``target`` to ``start + terms[0] + terms[1] + ...``, added left to right.

    ``a + b + c`` is ``(a + b) + c`` in Python, so ``t = t + c + d`` after ``t = a + b``
    adds in exactly the same order as one long line would.
    """
    lines: list[str] = []
    previous = start
    for i in range(0, len(terms), CHUNK):
        chunk = list(terms[i : i + CHUNK])
        if previous is not None:
            chunk.insert(0, previous)
        lines.append(f"{target} = {' + '.join(chunk)}")
        previous = target
    if not lines:
        lines.append(f"{target} = {start if start is not None else '0.0'}")
    return lines


def unpack(targets: Sequence[str], value: str) -> str:
    """``a, b = value``, the targets wrapped over lines when there are many."""
    if len(targets) <= PER_LINE:
        return f"{', '.join(targets)}, = {value}"
    return f"(\n    {wrapped(targets, '    ')},\n) = {value}"


class Symbols:
    """The names the generated code gives to the ops' functions and to constants it cannot write out.

    Every op of the plan gets ``op_<name>_f`` (its forward) and ``op_<name>_d`` (its
    derivative), numbered when two different ops share a name (an op redefined with
    ``defop`` while nodes of the old one are alive). Assigned in plan order, so the same
    plan gets the same names.
    """

    def __init__(self, plan: Plan) -> None:
        self._name_ops(plan.ops())
        self.constants: dict[str, Any] = {}  # op constants that are not plain numbers
        self._constant_name: dict[int, str] = {}
        for node in plan.nodes:
            for value in node.attrs:
                if _number_text(value) is None and id(value) not in self._constant_name:
                    name = f"constant_{len(self.constants)}"
                    self._constant_name[id(value)] = name
                    self.constants[name] = value

    @classmethod
    def for_ops(cls, ops: Sequence[Op]) -> Symbols:
        """The names of these ops, in this order, for code whose constants are all numbers."""
        symbols = cls.__new__(cls)
        symbols._name_ops(ops)
        symbols.constants, symbols._constant_name = {}, {}
        return symbols

    def _name_ops(self, ops: Sequence[Op]) -> None:
        self.ops: list[tuple[str, Op]] = []
        self._base: dict[int, str] = {}
        taken: set[str] = set()
        for op in ops:
            word = op.name if op.name.isidentifier() else _OPERATOR_WORDS.get(op.name, "op")
            base, n = f"op_{word}", 1
            while base in taken:
                n += 1
                base = f"op_{word}_{n}"
            taken.add(base)
            self._base[id(op)] = base
            self.ops.append((base, op))

    def forward(self, op: Op) -> str:
        return self._base[id(op)] + "_f"

    def derivative(self, op: Op) -> str:
        return self._base[id(op)] + "_d"

    def attr_text(self, value: Any) -> str:
        text = _number_text(value)
        return text if text is not None else self._constant_name[id(value)]

    def call(self, function: str, op: Op, args: Sequence[str], attrs: Sequence[Any]) -> str:
        """``function(a, b, k=2.0)``: positional inputs, the op's constants by keyword."""
        keywords = [f"{name}={self.attr_text(value)}" for name, value in zip(op.attrs, attrs, strict=True)]
        return f"{function}({', '.join([*args, *keywords])})"

    def namespace(self, wrap: Callable[[Op], tuple[Callable[..., Any], Callable[..., Any]]]) -> dict[str, Any]:
        """The functions and constants the generated code reads; ``wrap(op)`` gives (forward, derivative)."""
        namespace: dict[str, Any] = {"inf": math.inf, "nan": math.nan, **self.constants}
        for base, op in self.ops:
            namespace[base + "_f"], namespace[base + "_d"] = wrap(op)
        return namespace


def _number_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        return literal(value)
    return None
