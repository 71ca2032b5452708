"""Old import path of ``micrograd.app.expr`` (the expression language), kept so that existing imports still work."""

from micrograd.app.expr import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    ExpressionError,
    ParsedExpression,
    evaluate,
    parse_expression,
    parse_settings,
)

__all__ = [
    "FUNCTIONS", "MAX_DEPTH", "MAX_EXPONENT", "MAX_LENGTH", "ExpressionError", "ParsedExpression", "evaluate",
    "parse_expression", "parse_settings"
]
