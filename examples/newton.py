"""Newton's method with derivatives from micrograd: a root in 1-D, minima in 1-D and 2-D.

Root of f:     x <- x - f(x) / f'(x)
Minimum of f:  x <- x - f'(x) / f''(x)           (1-D)
               x <- x - H(x)^-1 grad f(x)         (2-D, H = the Hessian)

Near the answer each step roughly doubles the number of correct digits.

Run: python examples/newton.py
"""

from collections.abc import Callable

from micrograd import Value
from micrograd.functional import gradient, hessian, value_and_grad


def cubic(x: Value) -> Value:
    """x**3 - 2x - 5, Newton's own example: one real root, near 2.0946."""
    return x**3 - 2 * x - 5


def quartic(x: Value) -> Value:
    """x**4 - 3x**3 + 2: f'(x) = x**2 (4x - 9), so a minimum at x = 9/4."""
    return x**4 - 3 * x**3 + 2


def rosenbrock(x: Value, y: Value) -> Value:
    """(1 - x)**2 + 100 (y - x**2)**2: a curved valley, minimum at (1, 1)."""
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def find_root_1d(f: Callable[[Value], Value], x: float, max_steps: int = 20) -> float:
    """Newton on f(x) = 0: follow the tangent line down to zero."""
    for step in range(max_steps):
        value, (slope,) = value_and_grad(f)([x])
        print(f"  step {step}  x = {x:.16f}  f(x) = {value: .3e}")
        change = -value / slope
        x = x + change
        if abs(change) < 1e-14:  # converged: the step is down at rounding level
            break
    return x


def minimize_1d(f: Callable[[Value], Value], x: float, max_steps: int = 20) -> float:
    """Newton on f'(x) = 0: jump to the lowest point of the parabola that matches f at x."""
    for step in range(max_steps):
        (slope,) = gradient(f)([x])
        ((curvature,),) = hessian(f)([x])
        print(f"  step {step}  x = {x:.16f}  f'(x) = {slope: .3e}")
        change = -slope / curvature
        x = x + change
        if abs(change) < 1e-14:
            break
    return x


def minimize_2d(f: Callable[[Value, Value], Value], x: float, y: float, max_steps: int = 20) -> tuple[float, float]:
    """Newton on grad f = 0: solve H d = -grad f for the step d (a 2x2 system, by Cramer's rule)."""
    for step in range(max_steps):
        value, (gx, gy) = value_and_grad(f)([x, y])
        (hxx, hxy), (hyx, hyy) = hessian(f)([x, y])
        print(f"  step {step}  (x, y) = ({x:.12f}, {y:.12f})  f = {value:.3e}")
        determinant = hxx * hyy - hxy * hyx
        dx = (-gx * hyy + gy * hxy) / determinant
        dy = (-gy * hxx + gx * hyx) / determinant
        x, y = x + dx, y + dy
        if abs(dx) + abs(dy) < 1e-14:
            break
    return x, y


print("root of x**3 - 2x - 5, from x = 2:")
root = find_root_1d(cubic, 2.0)
print(f"root: {root:.15f}")

print("minimum of x**4 - 3x**3 + 2, from x = 3:")
minimum = minimize_1d(quartic, 3.0)
print(f"minimum 1-D: {minimum:.15f}")

print("minimum of the Rosenbrock function, from (-1.2, 1):")
mx, my = minimize_2d(rosenbrock, -1.2, 1.0)
print(f"minimum 2-D: {mx:.15f} {my:.15f}")
