"""micrograd: a scalar-valued reverse-mode autodiff engine and a small neural-net library."""

from micrograd.autograd import grad
from micrograd.engine import Value, is_grad_enabled, linear, no_grad, topological_order

__all__ = ["Value", "grad", "is_grad_enabled", "linear", "no_grad", "topological_order"]
__version__ = "1.0.0"
