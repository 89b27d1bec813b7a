"""Taylor models against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import taylor


def cubic(x):
    return x**3 - 2 * x**2 + 3 * x - 1


@pytest.mark.usefixtures("x64")
def test_scalar_models_match_the_closed_form():
    x0, x = 1.5, 2.1
    value = cubic(x0)
    slope = 3 * x0**2 - 4 * x0 + 3
    curvature = 6 * x0 - 4
    first = taylor.taylor_model(cubic, x0, 1)
    second = taylor.taylor_model(cubic, x0, 2)
    assert float(first(x)) == pytest.approx(value + slope * (x - x0), rel=1e-12)
    assert float(second(x)) == pytest.approx(
        value + slope * (x - x0) + 0.5 * curvature * (x - x0) ** 2, rel=1e-12
    )


@pytest.mark.usefixtures("x64")
def test_vector_second_order_model_is_exact_for_a_quadratic():
    a_matrix = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    b = jnp.array([1.0, -1.0])

    def f(x):
        return 0.5 * x @ a_matrix @ x + b @ x + 4.0

    model = taylor.taylor_model(f, jnp.array([0.3, -0.7]), 2)
    for point in jax.random.normal(jax.random.PRNGKey(0), (5, 2)):
        assert float(model(point)) == pytest.approx(float(f(point)), rel=1e-12)


@pytest.mark.usefixtures("x64")
def test_model_errors_shrink_with_the_right_order():
    def f(x):
        return jnp.sin(x[0]) * jnp.exp(x[1])

    steps = np.geomspace(1e-3, 1e-1, 8)
    for order in (1, 2):
        errors = taylor.model_error(f, jnp.array([0.4, 0.2]), jnp.array([0.6, 0.8]), steps, order)
        slope = np.polyfit(np.log(steps), np.log(np.asarray(errors)), 1)[0]
        assert slope == pytest.approx(order + 1, abs=0.1)


def test_steepest_descent_step_minimises_the_linear_model_on_the_ball():
    def f(x):
        return x[0] ** 2 + 3 * x[0] * x[1]

    x0 = jnp.array([1.0, 2.0])
    radius = 0.3
    step = taylor.steepest_descent_step(f, x0, radius)
    gradient = np.asarray(jax.grad(f)(x0))
    angles = np.linspace(0, 2 * np.pi, 3600)
    circle = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert float(gradient @ np.asarray(step)) <= (circle @ gradient).min() + 1e-6
    assert float(jnp.linalg.norm(step)) == pytest.approx(radius, rel=1e-6)


def test_steepest_descent_step_is_zero_at_a_stationary_point():
    step = taylor.steepest_descent_step(lambda x: jnp.sum(x**2), jnp.zeros(3), 0.5)
    np.testing.assert_array_equal(step, 0.0)
    with pytest.raises(ValueError, match="radius"):
        taylor.steepest_descent_step(lambda x: jnp.sum(x**2), jnp.ones(3), -1.0)


@pytest.mark.usefixtures("x64")
def test_smoothness_model_sandwiches_a_smooth_function():
    # h(x) = sum(sin x) has Hessian diag(-sin x): its gradient is 1-Lipschitz.
    def h(x):
        return jnp.sum(jnp.sin(x))

    x0 = jnp.array([0.3, -1.2, 2.0])
    upper = taylor.smoothness_model(h, x0, 1.0, bound="upper")
    lower = taylor.smoothness_model(h, x0, 1.0, bound="lower")
    for point in 3.0 * jax.random.normal(jax.random.PRNGKey(0), (50, 3)):
        assert float(lower(point)) <= float(h(point)) + 1e-12 <= float(upper(point)) + 2e-12
    d = point - x0
    linear = h(x0) + jnp.cos(x0) @ d
    assert float(upper(point)) == pytest.approx(float(linear + 0.5 * d @ d), rel=1e-12)
    # The upper model's minimiser is the gradient step with learning rate 1/L.
    minimiser = x0 - jnp.cos(x0)
    np.testing.assert_allclose(jax.grad(upper)(minimiser), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="bound must be"):
        taylor.smoothness_model(h, x0, 1.0, bound="middle")


def test_loglog_slope_recovers_a_power_law_and_validates():
    steps = np.geomspace(1e-3, 1.0, 7)
    assert taylor.loglog_slope(steps, 5.0 * steps**2.5) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="errors must all be in"):
        taylor.loglog_slope(steps, np.zeros(7))
    with pytest.raises(ValueError, match="errors must have the shape"):
        taylor.loglog_slope(steps, steps[:3])
    with pytest.raises(ValueError, match="must not all be equal"):
        taylor.loglog_slope(np.ones(3), np.ones(3))
