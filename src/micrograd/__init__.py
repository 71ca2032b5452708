"""micrograd: a scalar-valued reverse-mode autodiff engine and a small neural-net library."""

from micrograd.autograd import grad
from micrograd.engine import Value, enable_grad, is_grad_enabled, linear, no_grad, topological_order
from micrograd.ops import defop

__all__ = ["Value", "defop", "enable_grad", "grad", "is_grad_enabled", "linear", "no_grad", "topological_order"]
__version__ = "1.0.0"
