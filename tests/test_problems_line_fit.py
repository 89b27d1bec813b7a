"""problems.line_fit: the two-parameter least-squares problem of lecture 5, against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import curvature, problems, run
from lecture_lib.optim import gd


def _design(problem):
    x, _ = problem.data
    x = np.asarray(x, np.float64)
    return np.stack([x, np.ones_like(x)], axis=1)


def test_data_follow_the_line_and_the_optimum_is_least_squares(x64):
    problem = problems.line_fit(
        num_examples=400, key=jax.random.PRNGKey(3), slope=2.0, intercept=-1.0, noise=0.5
    )
    x, y = (np.asarray(a, np.float64) for a in problem.data)
    assert x.shape == y.shape == (400,)
    assert abs(x.mean() - 2.0) < 0.2 and abs(x.std() - 1.0) < 0.15
    design = _design(problem)
    expected, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(problem.optimum, expected, rtol=1e-10)
    np.testing.assert_allclose(expected, [2.0, -1.0], atol=0.15)
    residual = design @ expected - y
    assert abs(residual.std() - 0.5) < 0.06
    np.testing.assert_allclose(problem.optimal_loss, 0.5 * np.mean(residual**2), rtol=1e-10)
    np.testing.assert_allclose(problem.full_loss(problem.optimum), problem.optimal_loss, rtol=1e-10)
    assert problem.test_data[0].shape == (400,)
    assert not np.allclose(problem.test_data[0], problem.data[0])


def test_loss_is_half_mean_squared_error_and_accepts_no_batch(x64):
    problem = problems.line_fit(num_examples=30)
    theta = jnp.array([0.3, -0.7])
    x, y = (np.asarray(a) for a in problem.data)
    expected = 0.5 * np.mean((0.3 * x - 0.7 - y) ** 2)
    np.testing.assert_allclose(problem.loss(theta), expected, rtol=1e-12)
    np.testing.assert_allclose(problem.loss(theta, problem.data), expected, rtol=1e-12)
    half = (problem.data[0][:10], problem.data[1][:10])
    np.testing.assert_allclose(
        problem.loss(theta, half), 0.5 * np.mean((0.3 * x[:10] - 0.7 - y[:10]) ** 2), rtol=1e-12
    )
    np.testing.assert_allclose(
        problem.output_loss(problem.predict(theta, problem.data[0]), problem.data[1])
        + problem.penalty(theta),
        expected,
        rtol=1e-12,
    )


def test_hessian_fisher_and_ggn_are_the_design_covariance(x64):
    problem = problems.line_fit(num_examples=50, l2=0.3)
    design = _design(problem)
    expected = design.T @ design / 50 + np.diag([0.3, 0.0])
    theta = jnp.array([1.5, 2.0])
    batch = problem.data
    np.testing.assert_allclose(problem.hessian(theta), expected, rtol=1e-10)
    for matrix in (curvature.hessian, curvature.ggn, curvature.fisher):
        got = jax.jit(lambda t, matrix=matrix: matrix(problem, t, batch))(theta)
        np.testing.assert_allclose(got, expected, rtol=1e-10)
    eigenvalues = np.linalg.eigvalsh(expected)
    assert problem.smoothness == pytest.approx(eigenvalues.max())
    assert problem.strong_convexity == pytest.approx(eigenvalues.min())
    gradient = jax.grad(problem.loss)(problem.optimum)
    np.testing.assert_allclose(gradient, 0.0, atol=1e-10)


def test_sample_targets_add_unit_gaussian_noise(x64):
    problem = problems.line_fit()
    outputs = jnp.full((20000,), 3.0)
    samples = np.asarray(problem.sample_targets(jax.random.PRNGKey(1), outputs))
    assert abs(samples.mean() - 3.0) < 0.03 and abs(samples.std() - 1.0) < 0.02


def test_runs_record_iterates_and_gd_converges():
    problem = problems.line_fit()
    np.testing.assert_allclose(problem.init(jax.random.PRNGKey(5)), [-2.0, 3.0])
    trajectory = run(gd(0.3), problem, 400, jax.random.PRNGKey(0))
    assert trajectory.iterates.shape == (401, 2)
    np.testing.assert_allclose(trajectory.iterates[-1], problem.optimum, atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_examples": 1}, "num_examples"),
        ({"noise": 0.0}, "noise"),
        ({"x_std": -1.0}, "x_std"),
        ({"l2": -0.1}, "l2"),
        ({"slope": float("nan")}, "slope"),
        ({"intercept": float("inf")}, "intercept"),
        ({"start": (1.0, 2.0, 3.0)}, "start"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        problems.line_fit(**kwargs)
