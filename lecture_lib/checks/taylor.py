"""Checks for ``exercises/01_taylor.ipynb`` (lecture 1: Taylor approximations).

Every reference here is written out by hand in numpy (float64), with the
derivatives of the test functions in closed form, so it shares no code path with
a student's JAX answer. Each case also lists the answers that common mistakes
give, so a wrong answer gets a hint about the mistake it most likely is.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib.checks.core import check_expected, passed

_KEY = jax.random.PRNGKey(101)


# --------------------------------------------------------------------------- test functions
# Each comes with its gradient and Hessian by hand (numpy, float64).


def _cubic(x):
    return x**3 - 2.0 * x + 1.0


def _cubic_derivatives(x):
    return x**3 - 2.0 * x + 1.0, 3.0 * x**2 - 2.0, 6.0 * x


def _wavy(w):
    return jnp.sum(jnp.sin(w)) + 0.25 * jnp.sum(w**4)


def _wavy_derivatives(w):
    return np.sum(np.sin(w)) + 0.25 * np.sum(w**4), np.cos(w) + w**3, np.diag(-np.sin(w) + 3 * w**2)


_BOWL_MATRIX = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, -0.5], [0.0, -0.5, 1.0]])
_BOWL_VECTOR = np.array([1.0, -2.0, 0.5])


def _bowl(w):
    matrix, vector = jnp.asarray(_BOWL_MATRIX, w.dtype), jnp.asarray(_BOWL_VECTOR, w.dtype)
    return 0.5 * w @ (matrix @ w) + vector @ w


def _bowl_derivatives(w):
    return (
        0.5 * w @ _BOWL_MATRIX @ w + _BOWL_VECTOR @ w,
        _BOWL_MATRIX @ w + _BOWL_VECTOR,
        _BOWL_MATRIX,
    )


def _model_cases(key) -> list:
    """(description, f, its closed-form derivatives, x0, x): scalars, vectors, random points."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    rand_x0, rand_x = jax.random.normal(k1, (3,)), jax.random.normal(k2, (3,))
    bowl_x0, bowl_x = jax.random.normal(k3, (3,)), jax.random.normal(k4, (3,))
    cubic = "f(x) = x**3 - 2x + 1"
    wavy = "f(w) = sum(sin(w)) + sum(w**4)/4"
    bowl = "f(w) = 1/2 w^T A w + b^T w (a quadratic)"
    return [
        (f"{cubic}, x0 = 1.5, x = 2.0", _cubic, _cubic_derivatives, 1.5, 2.0),
        (f"{cubic}, x0 = -1.0, x = -1.3", _cubic, _cubic_derivatives, -1.0, -1.3),
        (f"{cubic}, x0 = x = 0.7 (the model is exact at x0)", _cubic, _cubic_derivatives, 0.7, 0.7),
        (
            f"{wavy}, x0 = [0.5, -1.0], x = [0.8, -0.6]",
            _wavy,
            _wavy_derivatives,
            jnp.array([0.5, -1.0]),
            jnp.array([0.8, -0.6]),
        ),
        (f"{wavy}, random x0 and x in R^3 (key 101)", _wavy, _wavy_derivatives, rand_x0, rand_x),
        (f"{bowl}, random x0 and x in R^3 (key 101)", _bowl, _bowl_derivatives, bowl_x0, bowl_x),
    ]


def _as64(value):
    return np.asarray(value, np.float64)


def _dot(a, b):
    return np.dot(np.ravel(a), np.ravel(b)) if np.ndim(a) else a * b


# --------------------------------------------------------------------------- task 1


def check_first_order_model(first_order_model: Callable) -> bool:
    """Task 1: ``first_order_model(f, x0, x) = f(x0) + grad f(x0)^T (x - x0)``."""
    task = "first_order_model"
    cases = []
    for description, f, derivatives, x0, x in _model_cases(_KEY):
        x0_, x_ = _as64(x0), _as64(x)
        value, gradient, _ = derivatives(x0_)
        value_at_x, gradient_at_x, _ = derivatives(x_)
        expected = value + _dot(gradient, x_ - x0_)
        mistakes = [
            (value_at_x, "you returned f(x) itself; the model only uses f and its gradient at x0."),
            (value + _dot(gradient, x_), "use the step d = x - x0, not x, in the linear term."),
            (
                value + _dot(gradient_at_x, x_ - x0_),
                "evaluate the gradient at the expansion point x0, not at x.",
            ),
            (value - _dot(gradient, x_ - x0_), "check the sign of the linear term: + grad^T d."),
        ]
        cases.append((description, (f, x0, x), expected, mistakes))
    count = check_expected(
        task,
        first_order_model,
        cases,
        "the model is f(x0) + grad f(x0)^T (x - x0); get the gradient with jax.grad(f)(x0), and "
        "take the inner product with jnp.dot or jnp.vdot so scalars and vectors both work.",
        atol=1e-5,
    )
    return passed(task, count)


# --------------------------------------------------------------------------- task 2


def check_second_order_model(second_order_model: Callable) -> bool:
    """Task 2: the first-order model plus ``1/2 (x - x0)^T H(x0) (x - x0)``."""
    task = "second_order_model"
    cases = []
    for description, f, derivatives, x0, x in _model_cases(jax.random.fold_in(_KEY, 2)):
        x0_, x_ = _as64(x0), _as64(x)
        step = x_ - x0_
        value, gradient, hessian = derivatives(x0_)
        _, _, hessian_at_x = derivatives(x_)
        linear = value + _dot(gradient, step)
        curvature = _dot(step, np.dot(hessian, step))
        expected = linear + 0.5 * curvature
        mistakes = [
            (linear, "this is the first-order model: the curvature term 1/2 d^T H d is missing."),
            (linear + curvature, "the curvature term needs its factor 1/2: 1/2 d^T H d."),
            (
                linear + 0.5 * _dot(step, np.dot(hessian_at_x, step)),
                "evaluate the Hessian at the expansion point x0, not at x.",
            ),
        ]
        cases.append((description, (f, x0, x), expected, mistakes))
    count = check_expected(
        task,
        second_order_model,
        cases,
        "add 1/2 d^T H d with d = x - x0 and H = jax.hessian(f)(x0) to the first-order model; "
        "jnp.dot(d, jnp.dot(H, d)) works for scalars and vectors alike.",
        atol=1e-5,
    )
    return passed(task, count)


# --------------------------------------------------------------------------- task 3


def check_steepest_descent_step(steepest_descent_step: Callable) -> bool:
    """Task 3: ``argmin_{||d|| <= radius} g^T d = -radius g / ||g||``."""
    task = "steepest_descent_step"
    k1, k2 = jax.random.split(jax.random.fold_in(_KEY, 3))
    inputs = [
        ("gradient = [3, 4], radius = 1", jnp.array([3.0, 4.0]), 1.0),
        ("gradient = [3, 4], radius = 0.5", jnp.array([3.0, 4.0]), 0.5),
        ("gradient = [0, -2, 0], radius = 2", jnp.array([0.0, -2.0, 0.0]), 2.0),
        ("gradient = [-0.1] (1-D), radius = 3", jnp.array([-0.1]), 3.0),
        (
            "random gradient in R^5, random radius (key 101)",
            jax.random.normal(k1, (5,)),
            float(jax.random.uniform(k2, minval=0.1, maxval=2.0)),
        ),
    ]
    cases = []
    for description, gradient, radius in inputs:
        g = _as64(gradient)
        direction = g / np.sqrt(np.sum(g**2))
        mistakes = [
            (radius * direction, "this step goes uphill: minimise, so point against the gradient."),
            (-radius * g, "the step must have length radius: divide the gradient by its norm."),
            (-direction, "the step must have length radius, not 1: scale the unit vector."),
            (-g, "-gradient is the step with learning rate 1; the ball fixes the step's length."),
        ]
        cases.append((description, (gradient, radius), -radius * direction, mistakes))
    count = check_expected(
        task,
        steepest_descent_step,
        cases,
        "by Cauchy-Schwarz g^T d >= -||g|| ||d|| >= -||g|| radius, with equality only for "
        "d = -radius g / ||g|| (jnp.linalg.norm gives ||g||).",
        atol=1e-5,
    )
    return passed(task, count)


# --------------------------------------------------------------------------- task 4


def _least_squares_slope(x, y):
    x_centred = x - x.mean()
    return float(np.sum(x_centred * (y - y.mean())) / np.sum(x_centred**2))


def check_loglog_slope(loglog_slope: Callable) -> bool:
    """Task 4: the least-squares slope of log(errors) against log(step_sizes)."""
    task = "loglog_slope"
    steps = np.geomspace(1e-3, 1e-1, 12)
    noise = np.asarray(jax.random.normal(jax.random.fold_in(_KEY, 4), steps.shape), np.float64)
    noisy = 2.0 * steps**1.5 * np.exp(0.2 * noise)
    inputs = [
        ("errors = 3 t**2 (a first-order model's error)", steps, 3.0 * steps**2),
        ("errors = 0.5 t**3 (a second-order model's error)", steps, 0.5 * steps**3),
        ("two points: t = [0.1, 0.2], errors = [0.01, 0.04]", np.r_[0.1, 0.2], np.r_[0.01, 0.04]),
        ("noisy errors = 2 t**1.5 * exp(0.2 z), z ~ N(0, 1) (key 101)", steps, noisy),
    ]
    cases = []
    for description, t, errors in inputs:
        log_t, log_e = np.log(t), np.log(errors)
        slope = _least_squares_slope(log_t, log_e)
        intercept = log_e.mean() - slope * log_t.mean()
        mistakes = [
            (
                _least_squares_slope(log_e, log_t),
                "regress log(errors) on log(step_sizes), not the other way round.",
            ),
            (
                (log_e[-1] - log_e[0]) / (log_t[-1] - log_t[0]),
                "fit all points by least squares (e.g. jnp.polyfit(..., 1)), not just the ends.",
            ),
            (
                np.array([slope, intercept]),
                "polyfit returns [slope, intercept]; return only the slope.",
            ),
            (intercept, "that is the intercept; the slope is the first coefficient of polyfit."),
            (
                _least_squares_slope(t, errors),
                "take logarithms first: the slope of a power law is linear only on log-log axes.",
            ),
        ]
        cases.append((description, (t, errors), slope, mistakes))
    count = check_expected(
        task,
        loglog_slope,
        cases,
        "fit a straight line to the points (log t, log error) by least squares "
        "(jnp.polyfit with degree 1) and return its slope.",
        rtol=1e-3,
        atol=1e-4,
    )
    return passed(task, count)
