r"""Checks for ``exercises/04_newton.ipynb`` (lecture 4: Newton's method and trust regions).

Every reference is written out by hand in numpy (float64): the Hessian of the exercise's
function from its closed form, the damped step by ``numpy.linalg.solve``, the test
objectives' gradients and Hessians in closed form, the Levenberg-Marquardt rule as two
comparisons. No reference shares a code path with a student's JAX answer. Each case lists
what common mistakes return, so a wrong answer gets a hint about the mistake it most likely
is: the sign of the step, a forgotten damping, the damping added to every entry, the damped
model in rho, inverted Levenberg-Marquardt factors.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib.checks.core import call_student, compare, passed

_KEY = jax.random.PRNGKey(404)


def _random_matrix(key, dim: int, low: float, high: float) -> np.ndarray:
    """A random symmetric matrix with eigenvalues spread evenly in [low, high]."""
    gaussian = np.asarray(jax.random.normal(key, (dim, dim)), np.float64)
    q, r = np.linalg.qr(gaussian)
    q = q * np.sign(np.diag(r))
    matrix = q @ np.diag(np.linspace(low, high, dim)) @ q.T
    return (matrix + matrix.T) / 2


def _random_vector(key, dim: int) -> np.ndarray:
    return np.asarray(jax.random.normal(key, (dim,)), np.float64)


# --------------------------------------------------------------------------- task 1: Hessian


def _hessian(x: float, y: float) -> np.ndarray:
    """f(x, y) = x^3 y^2 + 2 x y - y^3."""
    mixed = 6 * x**2 * y + 2
    return np.array([[6 * x * y**2, mixed], [mixed, 2 * x**3 - 6 * y]])


def check_hessian_at(hessian_at: Callable) -> bool:
    """``hessian_at(x, y)``: the 2x2 Hessian of f(x, y) = x^3 y^2 + 2 x y - y^3 at (x, y)."""
    task = "hessian_at"
    hint = (
        "differentiate f twice: [[d2f/dx2, d2f/dxdy], [d2f/dydx, d2f/dy2]] = "
        "[[6 x y^2, 6 x^2 y + 2], [6 x^2 y + 2, 2 x^3 - 6 y]]; return a 2x2 array"
    )
    points = [(1.0, 2.0), (0.5, -1.0), (-2.0, 0.3), (0.0, 0.0), (1.5, 0.0)]
    random_points = np.asarray(
        jax.random.uniform(jax.random.fold_in(_KEY, 1), (5, 2), minval=-2.0, maxval=2.0)
    )
    points += [(float(x), float(y)) for x, y in random_points]
    for index, (x, y) in enumerate(points):
        expected = _hessian(x, y)
        gradient = np.array([3 * x**2 * y**2 + 2 * y, 2 * x**3 * y + 2 * x - 3 * y**2])
        mixed = expected[0, 1]
        mistakes = [
            (
                gradient,
                "that is the gradient (the first derivatives); differentiate each once more "
                "to get the 2x2 matrix",
            ),
            (
                np.array([[expected[1, 1], mixed], [mixed, expected[0, 0]]]),
                "the diagonal is swapped: the top-left entry is d2f/dx2, the bottom-right d2f/dy2",
            ),
            (
                np.array([[expected[0, 0], mixed - 2], [mixed - 2, expected[1, 1]]]),
                "the mixed derivative misses the term 2 x y: d2(2 x y)/dxdy = 2",
            ),
            (
                np.array([[expected[0, 0], mixed], [mixed, 2 * x**3 + 6 * y]]),
                "d2(-y^3)/dy2 = -6 y: mind the sign",
            ),
            (
                np.array([[expected[0, 0], mixed], [0.0, expected[1, 1]]]),
                "the Hessian is symmetric: fill in both mixed entries",
            ),
        ]
        label = "random (key 404)" if index >= 5 else "fixed"
        case = f"(x, y) = ({x:.4g}, {y:.4g}) ({label})"
        got = call_student(task, hessian_at, (x, y), case, expected, hint)
        compare(task, case, expected, got, hint, mistakes, rtol=1e-5, atol=1e-6)
    return passed(task, len(points))


# --------------------------------------------------------------------------- task 2: damped step


def _step_cases() -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    """(description, gradient, hessian, damping)."""
    key_a, key_b, key_c, key_d = jax.random.split(jax.random.fold_in(_KEY, 2), 4)
    spd = _random_matrix(key_a, 5, 0.05, 4.0)
    indefinite = _random_matrix(key_c, 4, -1.5, 3.0)
    return [
        (
            "the lecture's H = diag(5, 2), gradient (2.5, 1), damping 0 (Newton)",
            np.array([2.5, 1.0]),
            np.diag([5.0, 2.0]),
            0.0,
        ),
        (
            "H = diag(5, 2), gradient (2.5, 1), damping 1",
            np.array([2.5, 1.0]),
            np.diag([5.0, 2.0]),
            1.0,
        ),
        (
            "H = [[3, 1], [1, 2]], gradient (1, -2), damping 0.5",
            np.array([1.0, -2.0]),
            np.array([[3.0, 1.0], [1.0, 2.0]]),
            0.5,
        ),
        (
            "the saddle's H = diag(1, -1), gradient (1, -0.5), damping 2 (> 1 = -lambda_min)",
            np.array([1.0, -0.5]),
            np.diag([1.0, -1.0]),
            2.0,
        ),
        (
            "random 5x5 positive definite H (key 404), damping 0.1",
            _random_vector(key_b, 5),
            spd,
            0.1,
        ),
        (
            "random 4x4 indefinite H (eigenvalues in [-1.5, 3], key 404), damping 2",
            _random_vector(key_d, 4),
            indefinite,
            2.0,
        ),
    ]


def check_damped_newton_step(damped_newton_step: Callable) -> bool:
    """``damped_newton_step(gradient, hessian, damping)`` = -(H + damping I)^{-1} gradient."""
    task = "damped_newton_step"
    hint = (
        "solve (hessian + damping * I) d = -gradient, e.g. "
        "-jnp.linalg.solve(hessian + damping * jnp.eye(n), gradient), with n = gradient.shape[0]"
    )
    cases = _step_cases()
    for case, g, h, lam in cases:
        n = g.size
        identity = np.eye(n)
        expected = -np.linalg.solve(h + lam * identity, g)
        mistakes = [(-expected, "mind the sign: the step is d = -(H + damping I)^{-1} gradient")]
        if lam > 0:
            if abs(np.linalg.det(h)) > 1e-9:
                mistakes.append(
                    (
                        -np.linalg.solve(h, g),
                        "that is the undamped Newton step: add damping * I to the Hessian",
                    )
                )
            everywhere = h + lam * np.ones((n, n))
            if abs(np.linalg.det(everywhere)) > 1e-9:
                mistakes.append(
                    (
                        -np.linalg.solve(everywhere, g),
                        "add the damping to the diagonal only: hessian + damping * I (with "
                        "jnp.eye), not hessian + damping, which adds it to every entry",
                    )
                )
            mistakes.append((-g / lam, "the Hessian is missing: -gradient / damping is GD"))
            subtracted = h - lam * identity
            if abs(np.linalg.det(subtracted)) > 1e-9:
                mistakes.append(
                    (-np.linalg.solve(subtracted, g), "add the damping: H + damping I, not minus")
                )
        mistakes.append(
            (
                -(h + lam * identity) @ g,
                "multiply by the *inverse* of H + damping I (solve the linear system), "
                "not by the matrix itself",
            )
        )
        args = (jnp.asarray(g, jnp.float32), jnp.asarray(h, jnp.float32), lam)
        got = call_student(task, damped_newton_step, args, case, expected, hint)
        compare(task, case, expected, got, hint, mistakes, rtol=1e-4, atol=1e-5)
    return passed(task, len(cases))


# --------------------------------------------------------------------------- task 3: rho


class _Objective:
    """h for the student (works on numpy and JAX arrays) with numpy's closed-form derivatives."""

    def __init__(self, name: str, loss: Callable, gradient: Callable, hessian: Callable):
        self.name, self.loss, self.gradient, self.hessian = name, loss, gradient, hessian


def _rosenbrock() -> _Objective:
    def loss(t):
        return (1.0 - t[0]) ** 2 + 100.0 * (t[1] - t[0] ** 2) ** 2

    def gradient(t):
        x, y = t
        return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])

    def hessian(t):
        x, y = t
        return np.array([[2 - 400 * (y - 3 * x**2), -400 * x], [-400 * x, 200.0]])

    return _Objective("Rosenbrock (1-x)^2 + 100 (y-x^2)^2", loss, gradient, hessian)


def _saddle() -> _Objective:
    def loss(t):
        return 0.5 * t[0] ** 2 + 0.25 * t[1] ** 4 - 0.5 * t[1] ** 2

    return _Objective(
        "the saddle x^2/2 + y^4/4 - y^2/2",
        loss,
        lambda t: np.array([t[0], t[1] ** 3 - t[1]]),
        lambda t: np.diag([1.0, 3 * t[1] ** 2 - 1]),
    )


def _quadratic() -> _Objective:
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])

    def loss(t):
        return 0.5 * (t[0] * (3.0 * t[0] + t[1]) + t[1] * (t[0] + 2.0 * t[1])) - (t[0] - t[1])

    return _Objective(
        "the quadratic 1/2 t^T [[3, 1], [1, 2]] t - (t_1 - t_2)",
        loss,
        lambda t: a @ np.asarray(t) - b,
        lambda t: a,
    )


def _ratio_cases() -> list[tuple[str, _Objective, np.ndarray, float]]:
    rosen, saddle, quadratic = _rosenbrock(), _saddle(), _quadratic()
    start = np.array([-1.2, 1.0])
    after_newton = np.array([-1.1752809, 1.38067416])  # Newton's first step from the start
    random = np.asarray(jax.random.uniform(jax.random.fold_in(_KEY, 3), (2,), minval=-1.0))
    return [
        ("at (-1.2, 1), damping 1 (a good step)", rosen, start, 1.0),
        ("at (-1.175, 1.381), damping 0.01 (a very bad step)", rosen, after_newton, 0.01),
        ("at (-1.175, 1.381), damping 1 (still bad)", rosen, after_newton, 1.0),
        ("at (-1.175, 1.381), damping 3", rosen, after_newton, 3.0),
        ("at (1, 0.3), damping 1 (in between)", saddle, np.array([1.0, 0.3]), 1.0),
        ("at (1, 0.05), damping 1 (close to -lambda_min)", saddle, np.array([1.0, 0.05]), 1.0),
        ("at (1, 0.3), damping 30 (a short step)", saddle, np.array([1.0, 0.3]), 30.0),
        ("at (1, 1), damping 0.5 (the model is exact)", quadratic, np.array([1.0, 1.0]), 0.5),
        (f"at a random point {np.round(random, 3)} (key 404), damping 5", rosen, random, 5.0),
    ]


def check_reduction_ratio(reduction_ratio: Callable) -> bool:
    """``reduction_ratio(loss_fn, theta, step, gradient, hessian, damping)``:

    rho = (h(theta + step) - h(theta)) / (g.step + 1/2 step^T H step), the undamped model.
    """
    task = "reduction_ratio"
    hint = (
        "actual = loss_fn(theta + step) - loss_fn(theta); predicted = gradient @ step + "
        "0.5 * step @ hessian @ step (the *undamped* model); return actual / predicted"
    )
    cases = _ratio_cases()
    for case, objective, theta, lam in cases:
        g, h = objective.gradient(theta), objective.hessian(theta)
        d = -np.linalg.solve(h + lam * np.eye(2), g)
        actual = objective.loss(theta + d) - objective.loss(theta)
        quadratic_term = 0.5 * d @ h @ d
        predicted = g @ d + quadratic_term
        expected = actual / predicted
        damped = predicted + 0.5 * lam * d @ d
        mistakes = [
            (
                actual / damped,
                "use the undamped model q(d) = g.d + 1/2 d^T H d: rho judges the curvature, "
                "the damping is what it adapts (leave damping out of rho)",
            ),
            (predicted / actual, "the ratio is actual / predicted, not the other way round"),
            (-expected, "mind the signs: both changes are new minus old, negative for a decrease"),
            (actual / (g @ d + 2 * quadratic_term), "the model has 1/2 d^T H d, with the 1/2"),
            (actual / (g @ d), "the model is second order: add 1/2 d^T H d to g.d"),
        ]
        args = (
            objective.loss,
            jnp.asarray(theta, jnp.float32),
            jnp.asarray(d, jnp.float32),
            jnp.asarray(g, jnp.float32),
            jnp.asarray(h, jnp.float32),
            lam,
        )
        case = f"{objective.name}: {case}"
        got = call_student(task, reduction_ratio, args, case, expected, hint)
        # float32 inputs: the loss difference of a small step loses digits to rounding
        compare(task, case, expected, got, hint, mistakes, rtol=2e-3, atol=1e-4)
    return passed(task, len(cases))


# --------------------------------------------------------------------------- task 4: LM rule


def _levenberg_marquardt(damping: float, rho: float) -> float:
    if rho < 0.25:
        return 1.5 * damping
    if rho > 0.75:
        return damping * 2.0 / 3.0
    return damping


def check_levenberg_marquardt_update(levenberg_marquardt_update: Callable) -> bool:
    """``levenberg_marquardt_update(damping, rho)``: x 3/2 if rho < 1/4, x 2/3 if rho > 3/4."""
    task = "levenberg_marquardt_update"
    hint = (
        "if rho < 1/4 (the model was too optimistic) return 1.5 * damping; if rho > 3/4 "
        "(the model is good) return damping * 2/3; otherwise return damping unchanged"
    )
    fixed = [
        (1.0, 0.1, "a poor step"),
        (1.0, 0.9, "a good step"),
        (1.0, 0.5, "in between"),
        (2.0, -3.0, "a rejected step (rho < 0)"),
        (0.3, 0.25, "rho exactly 1/4"),
        (0.3, 0.75, "rho exactly 3/4"),
        (0.01, 1.2, "the model underestimated the decrease"),
        (5.0, 0.0, "no decrease at all"),
    ]
    key_damping, key_rho = jax.random.split(jax.random.fold_in(_KEY, 4))
    dampings = np.asarray(10.0 ** jax.random.uniform(key_damping, (6,), minval=-3, maxval=2))
    rhos = np.asarray(jax.random.uniform(key_rho, (6,), minval=-1.0, maxval=1.5))
    cases = fixed + [
        (float(lam), float(rho), "random (key 404)")
        for lam, rho in zip(dampings, rhos, strict=True)
    ]
    for lam, rho, label in cases:
        expected = _levenberg_marquardt(lam, rho)
        mistakes = []
        if rho == 0.25:
            mistakes.append(
                (1.5 * lam, "rho = 1/4 exactly is not below 1/4: the damping stays (use <)")
            )
        if rho == 0.75:
            mistakes.append(
                (2.0 / 3.0 * lam, "rho = 3/4 exactly is not above 3/4: the damping stays (use >)")
            )
        mistakes += [
            (
                2.0 / 3.0 * lam if rho < 0.25 else 1.5 * lam if rho > 0.75 else lam,
                "the factors (or the thresholds) are swapped: a poor step (rho < 1/4) needs "
                "*more* damping (x 3/2), a good one (rho > 3/4) less (x 2/3)",
            ),
            (
                1.5 * lam if rho < 0.75 else lam,
                "keep the damping when 1/4 <= rho <= 3/4, and shrink it (x 2/3) above 3/4",
            ),
        ]
        case = f"damping = {lam:.4g}, rho = {rho:.4g} ({label})"
        got = call_student(task, levenberg_marquardt_update, (lam, rho), case, expected, hint)
        compare(task, case, expected, got, hint, mistakes, rtol=1e-6, atol=1e-12)
    return passed(task, len(cases))
