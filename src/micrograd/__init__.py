"""micrograd: a scalar-valued reverse-mode autodiff engine and a small neural-net library."""

from micrograd.engine import Value, linear, topological_order

__all__ = ["Value", "linear", "topological_order"]
__version__ = "1.0.0"
