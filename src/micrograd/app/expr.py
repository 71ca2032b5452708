"""A small, safe expression language for the command line.

``micrograd explain "tanh(x1*w1 + x2*w2 + b)" --set x1=2 ...`` needs to turn
text typed by a person into a graph of Values. Handing that text to Python's
``eval`` would run *any* code (``__import__('os').system(...)``), so instead
the text is parsed with :mod:`ast` and only a short whitelist of node kinds is
ever evaluated -- everything else is refused with an :class:`ExpressionError`
that names what was refused.

The language:

- numbers (``2``, ``-3.5``, ``1e-3``) and names (``x1``, ``w``);
- ``+ - * / **``, unary minus and plus, parentheses;
- every op of the table :data:`micrograd.ops.OPS` that has a function's name,
  called by that name: ``exp log tanh sigmoid relu sin cos sqrt abs softplus
  silu gelu`` with one argument, ``linear(w1, ..., wn, x1, ..., xn, b)`` and
  ``dot(w1, ..., wn, x1, ..., xn)``, ``pow(x, k=2)`` with its constants as
  keywords -- and any op added later with :func:`micrograd.ops.defop`, with no
  change here. Not the rows that micrograd's model code registers for its own
  fused nodes (``softmax_cross_entropy``, ``rms_scale``, ``attention_score``,
  ``attend``): those take lists with a structure (a class index, a query and a
  key, scores and values) that a flat argument list cannot state, so calling
  one is refused with a message naming the Python function to use instead;
- optionally, assignments separated by ``;`` or new lines, which name the
  intermediate results, as in the lecture:
  ``n = x1*w1 + x2*w2 + b; o = tanh(n)``. The last statement is the result.

Each input name becomes a leaf ``Value`` labelled with that name; each
intermediate node is labelled with its assigned name, or else with its own
source text when that is short, so pictures and explanations stay readable.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
import sys
import unicodedata
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from micrograd import ops
from micrograd.engine import Value, no_grad
from micrograd.ops import Op

__all__ = [
    "ExpressionError",
    "FUNCTIONS",
    "MAX_LENGTH",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "evaluate",
    "parse_settings",
    "ParsedExpression",
    "parse_expression",
]

# Limits. They are far above anything a person types, and they keep the parser
# itself safe: ast.parse on a very long or very deeply nested string can raise
# MemoryError or RecursionError before any check of ours could run.
MAX_LENGTH = 2000
MAX_DEPTH = 100
MAX_EXPONENT = 100  # |k| in x**k; float powers cannot hang, but x**1e9 only ever overflows

# A number computed while folding constants is either an int or a float.
Number = int | float
# While evaluating, a sub-expression is a Value, or a plain number if it holds no names.
Operand = Value | int | float


class _TableFunctions(Mapping[str, Op]):
    """The functions an expression may call: the ops of ``micrograd.ops.OPS`` whose names are names.

    Read from the table at every use, so an op added with ``defop`` -- even after
    this module was imported -- can be called at once. The operators ``+ * **``
    are rows of the table too, but they are written as operators.
    """

    def __getitem__(self, name: str) -> Op:
        op = ops.OPS.get(name) if isinstance(name, str) and _is_function_name(name) else None
        if op is None or _model_module(op):
            raise KeyError(name)
        return op

    def __iter__(self) -> Iterator[str]:
        return (name for name, op in list(ops.OPS.items()) if _is_function_name(name) and not _model_module(op))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"<expression functions: {', '.join(self)}>"


def _is_function_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__")


def _model_module(op: Op) -> str:
    """The module of micrograd's model code that registered ``op`` for its own fused nodes, or "".

    Such rows (``micrograd.losses.softmax_cross_entropy``, ``micrograd.nn.attend`` ...) take
    lists with a structure -- a class index, a query and a key, scores and values -- that the
    flat argument list of an expression cannot state: they are not functions of the language.
    The rows of :mod:`micrograd.ops` and a user's own ``defop`` rows are.
    """
    module = str(getattr(op.forward, "__module__", ""))
    return module if ops.is_built_in(op) and module != "micrograd.ops" else ""


# The built-in rows whose inputs are two halves (and a bias): the count of arguments that fits,
# and how a call is written. Any other count would be read with the halves shifted. (Built-in
# rows cannot be replaced, so the rows themselves are the keys.)
_PAIRED_SHAPES: dict[Op, tuple[int, str]] = {
    ops.LINEAR: (1, "linear(w1, ..., wn, x1, ..., xn, b)"),  # an odd count: n weights, n inputs, a bias
    ops.DOT: (0, "dot(w1, ..., wn, x1, ..., xn)"),  # an even count, at least 2
}


# The functions a user may call: every op of the table with a function's name, but the model code's own rows.
FUNCTIONS: Mapping[str, Op] = _TableFunctions()

# Labels longer than this are dropped: a label is for reading in a box, not a full formula.
_MAX_AUTO_LABEL = 16

# Friendly names for refused syntax, so the message says what a learner typed.
_REFUSED_NAMES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "indexing ('[...]')",
    ast.Lambda: "lambda",
    ast.Compare: "comparisons",
    ast.BoolOp: "'and' / 'or'",
    ast.IfExp: "'... if ... else ...'",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.ListComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.JoinedStr: "f-strings",
    ast.Starred: "'*' unpacking",
    ast.NamedExpr: "':='",
    ast.Await: "await",
    ast.Import: "import",
    ast.ImportFrom: "import",
    ast.FunctionDef: "function definitions",
    ast.AugAssign: "augmented assignment ('+=' ...)",
}


class ExpressionError(ValueError):
    """The expression or a ``--set`` value was refused; the message says what and why."""


@dataclass(frozen=True)
class ParsedExpression:
    """An expression that passed every check, ready to evaluate.

    ``inputs`` are the names that need a value (in order of first use);
    ``assigned`` are the names the expression defines itself.
    """

    text: str
    statements: tuple[ast.stmt, ...]
    inputs: tuple[str, ...]
    assigned: tuple[str, ...]


def parse_expression(text: str) -> ParsedExpression:
    """Parse and check ``text``; raise ExpressionError for anything outside the language."""
    if not isinstance(text, str):
        raise ExpressionError(f"the expression must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if "\x00" in text:
        raise ExpressionError("the expression contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate: what a non-UTF-8 byte in argv becomes
        raise ExpressionError(
            f"the expression contains a character that is not valid text at position {error.start}"
        ) from None
    # Check bracket depth on the raw text first: that is what makes ast.parse itself
    # recurse deeply (and in CPython raise MemoryError or RecursionError).
    _check_bracket_depth(text)
    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal" for '1if': the error below says enough
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(text, mode="exec")
    except SyntaxError as error:
        where = f" at column {error.offset}" if error.offset else ""
        raise ExpressionError(f"not a valid expression{where}: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"the expression is nested too deeply (limit {MAX_DEPTH} levels)") from None
    if not tree.body:
        raise ExpressionError("the expression is empty")
    _check_tree_depth(tree)

    inputs: list[str] = []
    assigned: list[str] = []
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
                raise ExpressionError("an assignment must give one plain name, as in 'n = x*w + b'")
            target = statement.targets[0].id
            _check_name(target, "an assigned name")
            _check_node(statement.value, inputs, assigned)
            assigned.append(target)
        elif isinstance(statement, ast.Expr):
            _check_node(statement.value, inputs, assigned)
        else:
            raise ExpressionError(f"{_describe(statement)} is not allowed; only expressions and 'name = expression'")
    return ParsedExpression(text, tuple(tree.body), tuple(inputs), tuple(assigned))


def evaluate(text: str | ParsedExpression, values: Mapping[str, float]) -> Value:
    """Build the graph of ``text`` with the given input values and return its output Value.

    Every input name must be in ``values`` (an unset name is an ExpressionError
    naming it); extra names in ``values`` are an error too, as they are
    most likely a typo. Math errors (log of a negative number, division by
    zero, overflow) are reported as ExpressionError naming the sub-expression.
    """
    parsed = text if isinstance(text, ParsedExpression) else parse_expression(text)
    if not isinstance(values, Mapping):
        raise ExpressionError(f"values must be a mapping of names to numbers, got {type(values).__name__}")
    missing = [name for name in parsed.inputs if name not in values]
    if missing:
        names = ", ".join(missing)
        hint = " ".join(f"--set {name}=VALUE" for name in missing)
        raise ExpressionError(f"no value for {names}: give one with {hint}{_normalised_note(parsed.text, missing)}")
    unused = [name for name in values if name not in parsed.inputs]
    if unused:
        raise ExpressionError(f"{', '.join(unused)} set but not used in the expression")

    for name in parsed.inputs:
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExpressionError(f"{name} = {_clip(repr(value))} is not a number ({type(value).__name__})")
    # One leaf per input name: using a name twice uses the same Value twice.
    scope: dict[str, Operand] = {name: Value(float(values[name]), label=name) for name in parsed.inputs}
    leaves = set(id(v) for v in scope.values())
    result: Operand = 0.0
    for statement in parsed.statements:
        assert isinstance(statement, (ast.Assign, ast.Expr))  # guaranteed by parse_expression
        result = _evaluate_node(statement.value, scope, parsed.text)
        if isinstance(statement, ast.Assign):
            target = statement.targets[0]
            assert isinstance(target, ast.Name)
            # The assigned name is the best label, but never rename an input (n = x).
            if isinstance(result, Value) and id(result) not in leaves:
                result.label = target.id
            scope[target.id] = result
    if not isinstance(result, Value):  # a constant expression such as "2*3"
        result = Value(result)
    if not result.label:  # too long for an automatic label: still name the output
        result.label = "out"
    return result


def _normalised_note(text: str, names: Sequence[str]) -> str:
    """Why a name spelled one way in the expression is looked up as another: Python reads identifiers
    in Unicode's NFKC form, so the name 'ℌ' in an expression is the name 'H'."""
    spellings = sorted({word for word in re.findall(r"\w+", text) if unicodedata.normalize("NFKC", word) != word})
    notes = [
        f"{word!r} as {unicodedata.normalize('NFKC', word)!r}"
        for word in spellings
        if unicodedata.normalize("NFKC", word) in names
    ]
    return f" (Python reads the name {', '.join(notes)}: names are compared in Unicode NFKC form)" if notes else ""


def parse_settings(settings: Sequence[str]) -> dict[str, float]:
    """``["x=2", "w=-3"]`` -> ``{"x": 2.0, "w": -3.0}``; ExpressionError for malformed items."""
    if isinstance(settings, str):  # a lone "x=1" would be read character by character
        raise TypeError("parse_settings: settings must be a list of 'NAME=NUMBER' strings, got str")
    values: dict[str, float] = {}
    for item in settings:
        if not isinstance(item, str):
            raise ExpressionError(f"--set {item!r}: expected NAME=NUMBER text, got {type(item).__name__}")
        name, sep, number = item.partition("=")
        name, number = name.strip(), number.strip()
        if not sep or not name or not number:
            raise ExpressionError(f"--set {item!r}: expected NAME=NUMBER, as in --set x=2")
        # As Python reads the expression's names: --set ℌ=1 sets the name H, as "ℌ" in the expression is H.
        name = unicodedata.normalize("NFKC", name)
        _check_name(name, f"--set {item!r}:")
        try:
            value = float(number)
        except ValueError:
            raise ExpressionError(f"--set {item!r}: {number!r} is not a number") from None
        if not math.isfinite(value):
            raise ExpressionError(f"--set {item!r}: the value must be a finite number")
        if name in values:
            raise ExpressionError(f"--set: {name} is set twice")
        values[name] = value
    return values


# ----------------------------------------------------------------------
# Checking: walk the tree once and refuse anything outside the whitelist
# ----------------------------------------------------------------------


def _check_bracket_depth(text: str) -> None:
    depth = 0
    for char in text:
        if char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(f"the expression is nested too deeply (more than {MAX_DEPTH} brackets)")
        elif char in ")]}":
            depth -= 1


def _check_tree_depth(tree: ast.AST) -> None:
    # An explicit stack, so that checking the depth cannot itself overflow the stack.
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"the expression is nested too deeply (more than {MAX_DEPTH} levels; "
                "a chain like a+b+c+... counts one level per term)"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_name(name: str, context: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ExpressionError(f"{context} {name!r} is not a valid name (letters, digits and _, not a Python keyword)")
    if name.startswith("__"):
        raise ExpressionError(f"{context} {name!r}: names starting with '__' are not allowed")
    if name in FUNCTIONS:
        raise ExpressionError(f"{context} {name!r} is a function name and cannot hold a value")


def _check_node(node: ast.expr, inputs: list[str], assigned: list[str]) -> None:
    """Refuse any node kind outside the language (recursion is bounded by _check_tree_depth)."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"{_describe(node)} is not allowed; only numbers")
        try:
            as_float = float(node.value)
        except OverflowError:  # an int literal beyond the float range
            as_float = math.inf
        if not math.isfinite(as_float):
            raise ExpressionError(f"the number {_clip(ast.unparse(node))} is too large")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise ExpressionError(f"{node.id} is a function: call it as {node.id}(...)")
        _check_name(node.id, "the name")
        if node.id not in assigned and node.id not in inputs:
            inputs.append(node.id)
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
            raise ExpressionError(f"the operator {_operator_symbol(node.op)} is not allowed; only + - * / **")
        _check_node(node.left, inputs, assigned)
        _check_node(node.right, inputs, assigned)
        if isinstance(node.op, ast.Pow):
            _check_exponent(node.right)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise ExpressionError(f"the operator {_operator_symbol(node.op)} is not allowed; only unary minus")
        _check_node(node.operand, inputs, assigned)
    elif isinstance(node, ast.Call):
        op = _called_op(node)
        _check_call(op, node)
        for argument in node.args:
            _check_node(argument, inputs, assigned)
    else:
        raise ExpressionError(f"{_describe(node)} is not allowed")


def _called_op(node: ast.Call) -> Op:
    """The op of the table a call names; ExpressionError if it names none."""
    op = FUNCTIONS.get(node.func.id) if isinstance(node.func, ast.Name) else None
    if op is None:
        called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        row = ops.OPS.get(called)
        module = _model_module(row) if row is not None else ""
        if module:
            instead = f"{module}.{called}" if callable(getattr(sys.modules.get(module), called, None)) else module
            raise ExpressionError(
                f"{called}() is a building block of {module} for lists of Values and cannot be called in an "
                f"expression (in Python, use {instead}); an expression can call {', '.join(FUNCTIONS)}"
            )
        raise ExpressionError(f"calling {_clip(called)!r} is not allowed; only {', '.join(FUNCTIONS)}")
    return op


def _check_call(op: Op, node: ast.Call) -> None:
    """The inputs as arguments, the op's constants (``k`` of ``pow``) as keywords with a number each."""
    shape = _call_shape(op)
    if any(isinstance(argument, ast.Starred) for argument in node.args):
        raise ExpressionError(f"{op.name}() takes its arguments one by one, not '*' unpacked: {shape}")
    if op.arity is None:
        if not node.args:
            raise ExpressionError(f"{op.name}() takes at least one argument: {shape}")
    elif len(node.args) != op.arity:
        count = "exactly one argument" if op.arity == 1 else f"exactly {op.arity} arguments"
        raise ExpressionError(f"{op.name}() takes {count}: {shape}")
    _check_paired(op, len(node.args))
    given = [item.arg for item in node.keywords]
    repeated = next((name for i, name in enumerate(given) if name is not None and name in given[:i]), None)
    if repeated is not None:  # as Python: f(k=2, k=3) is a SyntaxError, "keyword argument repeated: k"
        raise ExpressionError(f"{op.name}(): keyword argument repeated: {repeated}")
    for name in given:
        if name is None or name not in op.attrs:
            raise ExpressionError(f"{op.name}() has no keyword {'**' if name is None else name!r}: {shape}")
    missing = [name for name in op.attrs if name not in given]
    if missing:
        raise ExpressionError(f"{op.name}() needs {', '.join(f'{name}=NUMBER' for name in missing)}: {shape}")
    for item in node.keywords:
        value = _constant_value(item.value)
        if value is None:
            raise ExpressionError(f"{op.name}(): {item.arg} must be a number, as in {shape}")
        if not math.isfinite(value):
            raise ExpressionError(f"{op.name}(): {item.arg} must be a finite number")


def _paired_shape(op: Op) -> tuple[int, str] | None:
    """(parity of the count, how a call is written) for the built-in linear and dot; None for other ops."""
    return _PAIRED_SHAPES.get(op)


def _check_paired(op: Op, count: int) -> None:
    """linear and dot read their arguments as halves: refuse a count that does not split so."""
    paired = _paired_shape(op)
    if paired is None:
        return
    parity, shape = paired
    if count % 2 != parity or count < 2 - parity:
        which = "an odd number" if parity else "an even number (at least 2)"
        raise ExpressionError(f"{op.name}() takes {which} of arguments, {count} given: {shape}")


def _call_shape(op: Op) -> str:
    """How a call of ``op`` is written: 'tanh(x)', 'pow(x, k=NUMBER)', 'linear(w1, ..., wn, x1, ..., xn, b)'."""
    paired = _paired_shape(op)
    if paired is not None:
        return paired[1]
    if op.arity is None:
        inputs = ["x1", "x2", "..."]
    elif op.arity == 1:
        inputs = ["x"]
    else:
        inputs = [f"x{i}" for i in range(1, op.arity + 1)]
    return f"{op.name}({', '.join([*inputs, *(f'{name}=NUMBER' for name in op.attrs)])})"


def _check_exponent(node: ast.expr) -> None:
    """A constant exponent must be modest; a name or expression as exponent is fine (x ** y)."""
    value = _constant_value(node)
    if value is not None and abs(value) > MAX_EXPONENT:
        raise ExpressionError(f"the exponent {_clip(ast.unparse(node))} is too large (limit {MAX_EXPONENT})")


def _constant_value(node: ast.expr) -> float | None:
    """The number a literal like ``3`` or ``-3`` stands for; None if the node is not one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _constant_value(node.operand)
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    return None


# ----------------------------------------------------------------------
# Evaluation of a checked tree: only the node kinds let through above
# ----------------------------------------------------------------------


def _evaluate_node(node: ast.expr, scope: Mapping[str, Operand], text: str) -> Operand:
    try:
        result = _compute(node, scope, text)
    except ExpressionError:
        raise
    except (ArithmeticError, ValueError) as error:
        # The engine's messages name the op; add which part of the input it was.
        raise ExpressionError(f"in {_clip(ast.unparse(node))!r}: {error}") from None
    if isinstance(result, Value) and not result.label and result._prev:
        result.label = _short_label(_compact(ast.unparse(node)))
    return result


def _compute(node: ast.expr, scope: Mapping[str, Operand], text: str) -> Operand:
    if isinstance(node, ast.Constant):
        # Keep ints as ints so that x**2 records the op '**2', as in the lecture.
        value = node.value
        assert isinstance(value, (int, float))
        return value
    if isinstance(node, ast.Name):
        return scope[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate_node(node.operand, scope, text)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call):
        op = _called_op(node)  # looked up again: the table may have changed since parsing
        _check_call(op, node)
        arguments = [_evaluate_node(argument, scope, text) for argument in node.args]
        attrs: dict[str, float] = {}
        for item in node.keywords:
            value = _constant_value(item.value)
            assert item.arg is not None and value is not None  # guaranteed by _check_call
            attrs[item.arg] = value
        if any(isinstance(argument, Value) for argument in arguments):
            return _apply(op, arguments, attrs)
        # A function of constants is a constant: compute it on throwaway Values, building no graph.
        with no_grad():
            return _apply(op, [Value(float(argument)) for argument in arguments], attrs).data
    if isinstance(node, ast.BinOp):
        left = _evaluate_node(node.left, scope, text)
        right = _evaluate_node(node.right, scope, text)
        if not isinstance(left, Value) and not isinstance(right, Value):
            return _fold(node.op, left, right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right
        _check_exponent_value(right)
        return left**right
    raise ExpressionError(f"{_describe(node)} is not allowed")  # unreachable after checking


def _apply(op: Op, arguments: Sequence[Operand], attrs: Mapping[str, float]) -> Value:
    """The op's node (its row computes the value and the local derivatives); numbers become constants."""
    try:
        result = op(*arguments, **attrs)
    except (TypeError, IndexError) as error:  # e.g. a forward of an op added with defop that cannot take these
        raise ExpressionError(f"{op.name}(): {type(error).__name__}: {error}") from None
    if not isinstance(result, Value):
        raise ExpressionError(f"{op.name}() did not give a Value but {type(result).__name__}")
    return result


def _fold(op: ast.operator, left: Number, right: Number) -> Number:
    """Arithmetic on two constants, with the engine's errors for the bad cases."""
    if isinstance(op, (ast.Add, ast.Sub, ast.Mult)):
        result = left + right if isinstance(op, ast.Add) else left - right if isinstance(op, ast.Sub) else left * right
        # Python's ints are exact and unbounded; the constant must still fit in a float.
        if isinstance(result, int) and abs(result) > _LARGEST_FLOAT:
            raise OverflowError(f"a constant of {result.bit_length()} bits is too large for a float")
        return result
    if isinstance(op, ast.Div):
        if right == 0:
            raise ZeroDivisionError(f"division: divisor is {right}")
        return left / right
    _check_exponent_value(right)
    # The engine's pow, so that bad cases raise its errors; no_grad: a constant needs no derivative.
    with no_grad():
        return (Value(left) ** right).data


_LARGEST_FLOAT = int(sys.float_info.max)


def _check_exponent_value(exponent: Operand) -> None:
    # Also checked here, after evaluation, for exponents computed from constants: x**(50*50).
    if not isinstance(exponent, Value) and abs(exponent) > MAX_EXPONENT:
        raise ExpressionError(f"the exponent {exponent} is too large (limit {MAX_EXPONENT})")


def _compact(source: str) -> str:
    """``x1 * w1 + b`` -> ``x1*w1 + b``: spaces only around + and -, as people write it."""
    return re.sub(r"\s*(\*\*|\*|/)\s*", r"\1", source)


def _short_label(source: str) -> str:
    return source if len(source) <= _MAX_AUTO_LABEL else ""


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        return f"the constant {_clip(repr(node.value))}"
    return _REFUSED_NAMES.get(type(node), f"'{type(node).__name__}'")


def _operator_symbol(op: ast.AST) -> str:
    symbols = {
        ast.Mod: "'%'",
        ast.FloorDiv: "'//'",
        ast.MatMult: "'@'",
        ast.LShift: "'<<'",
        ast.RShift: "'>>'",
        ast.BitAnd: "'&'",
        ast.BitOr: "'|'",
        ast.BitXor: "'^'",
        ast.Invert: "'~'",
        ast.Not: "'not'",
    }
    return symbols.get(type(op), f"'{type(op).__name__}'")


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
