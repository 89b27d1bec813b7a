"""Taylor models: the local pictures every optimizer in the course is built on.

first order:   h(x0 + d) ~ h(x0) + grad h(x0)^T d
second order:  h(x0 + d) ~ h(x0) + grad h(x0)^T d + 1/2 d^T H(x0) d
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib import validation


def taylor_model(f: Callable, x0, order: int) -> Callable:
    """The Taylor model of ``f`` around ``x0`` as a function of the point ``x``.

    Args:
      f: a scalar function of a scalar or of a vector.
      x0: the expansion point (scalar or 1-D array).
      order: 1 (linear model) or 2 (quadratic model).

    The Hessian is never formed: the second-order term uses a Hessian-vector
    product (forward-over-reverse), so the model is cheap for any dimension.
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    if not callable(f):
        raise ValueError(f"f must be a callable scalar function, got {f!r}")
    x0 = jnp.asarray(x0, jnp.result_type(float))
    if x0.ndim > 1:
        raise ValueError(f"x0 must be a scalar or a 1-D array, got shape {x0.shape}")
    value, gradient = jax.value_and_grad(f)(x0)
    if jnp.ndim(value) != 0:
        raise ValueError(f"f must return a scalar, got shape {jnp.shape(value)}")

    def model(x):
        step = jnp.asarray(x, x0.dtype) - x0
        linear = value + jnp.vdot(gradient, step)
        if order == 1:
            return linear
        _, curvature = jax.jvp(jax.grad(f), (x0,), (step,))
        return linear + 0.5 * jnp.vdot(step, curvature)

    return model


def model_error(f: Callable, x0, direction, step_sizes, order: int) -> jax.Array:
    """|f(x0 + t d) - model(x0 + t d)| for each step size t along a direction d.

    Taylor's theorem says this shrinks like t^(order+1) as t -> 0.
    """
    model = taylor_model(f, x0, order)
    x0 = jnp.asarray(x0, jnp.result_type(float))
    direction = jnp.asarray(direction, x0.dtype)
    points = x0 + jnp.asarray(step_sizes, x0.dtype).reshape((-1,) + (1,) * x0.ndim) * direction
    # one compiled function for all points: eager vmap dispatches op by op, ~10x slower here
    return jax.jit(jax.vmap(lambda point: jnp.abs(f(point) - model(point))))(points)


def steepest_descent_step(f: Callable, x0, radius) -> jax.Array:
    """argmin of the linear model over the ball ||d|| <= radius: d = -radius g / ||g||.

    At a stationary point (g = 0) the linear model is flat and the step is zero.
    """
    radius = validation.nonnegative("radius", radius)
    x0 = jnp.asarray(x0, jnp.result_type(float))
    gradient = jax.grad(f)(x0)
    norm = jnp.linalg.norm(gradient)
    return jnp.where(norm > 0, -radius * gradient / jnp.where(norm > 0, norm, 1.0), 0.0)


def smoothness_model(f: Callable, x0, smoothness, *, bound: str = "upper") -> Callable:
    r"""The Lipschitz-smoothness model of ``f`` around ``x0`` as a function of the point ``x``.

    If the gradient of ``f`` is ``L``-Lipschitz, then with ``d = x - x0`` and ``g = grad f(x0)``

    .. math::  f(x_0) + g^\top d - \tfrac{L}{2}\|d\|^2 \;\le\; f(x_0 + d)
               \;\le\; f(x_0) + g^\top d + \tfrac{L}{2}\|d\|^2,

    so the linear model is off by at most ``L/2 ||d||^2``. ``bound="upper"`` gives the
    right-hand side, whose minimiser ``d = -g/L`` is gradient descent with step ``1/L``;
    ``bound="lower"`` gives the left-hand side.
    """
    smoothness = validation.positive("smoothness", smoothness)
    if bound not in ("upper", "lower"):
        raise ValueError(f"bound must be 'upper' or 'lower', got {bound!r}")
    linear = taylor_model(f, x0, 1)
    x0 = jnp.asarray(x0, jnp.result_type(float))
    sign = 1.0 if bound == "upper" else -1.0

    def model(x):
        step = jnp.asarray(x, x0.dtype) - x0
        return linear(x) + sign * 0.5 * smoothness * jnp.vdot(step, step)

    return model


def loglog_slope(step_sizes, errors) -> float:
    """Least-squares slope of log(errors) against log(step_sizes): the p in error ~ C t^p.

    Use it on :func:`model_error` to measure the order of a Taylor model's error.
    """
    step_sizes = np.asarray(step_sizes, np.float64)
    errors = np.asarray(errors, np.float64)
    if step_sizes.ndim != 1 or step_sizes.size < 2:
        raise ValueError(
            f"step_sizes must be a 1-D array of >= 2 values, got shape {step_sizes.shape}"
        )
    if errors.shape != step_sizes.shape:
        raise ValueError(
            f"errors must have the shape of step_sizes {step_sizes.shape}, got {errors.shape}"
        )
    for name, values in (("step_sizes", step_sizes), ("errors", errors)):
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"{name} must all be in (0, inf) to take logarithms, got {values}")
    if np.ptp(step_sizes) == 0:
        raise ValueError("step_sizes must not all be equal: a slope needs different step sizes")
    slope, _ = np.polyfit(np.log(step_sizes), np.log(errors), 1)
    return float(slope)
