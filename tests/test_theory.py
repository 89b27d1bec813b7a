"""Rates and bounds: closed forms, and the GD bound against exact GD on quadratics."""

import math

import jax
import numpy as np
import pytest

from lecture_lib import theory


def test_gd_rate_closed_form():
    assert theory.gd_rate(1.0) == 0.0
    assert theory.gd_rate(3.0) == pytest.approx(0.5)
    assert theory.gd_rate(99.0) == pytest.approx(0.98)


def test_gd_bound_at_zero_is_the_smoothness_term():
    assert theory.gd_bound(0, 4.0, 1.0, 3.0) == pytest.approx(0.5 * 4.0 * 9.0)
    assert theory.gd_bound(2, 4.0, 1.0, 1.0) == pytest.approx(2.0 * 0.6**4)


@pytest.mark.parametrize("seed", range(5))
def test_gd_bound_holds_for_exact_gd_on_random_quadratics(seed):
    rng = np.random.default_rng(seed)
    dim = 6
    eigenvalues = np.sort(rng.uniform(0.1, 10.0, dim))
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    a_matrix = q @ np.diag(eigenvalues) @ q.T
    mu, lipschitz = eigenvalues[0], eigenvalues[-1]
    alpha = theory.optimal_learning_rate(lipschitz, mu)
    assert alpha == pytest.approx(2 / (lipschitz + mu))
    delta = rng.normal(size=dim)
    distance = np.linalg.norm(delta)
    for k in range(60):
        gap = 0.5 * delta @ a_matrix @ delta
        assert gap <= theory.gd_bound(k, lipschitz, mu, distance) * (1 + 1e-9)
        delta = delta - alpha * a_matrix @ delta


def test_gd_iterations_is_the_smallest_k():
    for kappa in (2.0, 10.0, 1000.0):
        for eps in (1e-2, 1e-8):
            k = theory.gd_iterations(kappa, eps)
            rate = theory.gd_rate(kappa)
            assert rate ** (2 * k) <= eps < rate ** (2 * (k - 1))
    ratio = theory.gd_iterations(2000.0, 1e-6) / theory.gd_iterations(1000.0, 1e-6)
    assert ratio == pytest.approx(2.0, rel=0.01)
    assert theory.gd_iterations(1.0, 1e-3) == 1


def test_max_stable_learning_rate_separates_convergence_from_divergence():
    lipschitz = 5.0
    limit = theory.max_stable_learning_rate(lipschitz)
    assert abs(1 - 0.99 * limit * lipschitz) < 1 < abs(1 - 1.01 * limit * lipschitz)


def test_lipschitz_rates():
    assert theory.lipschitz_rate(10, 2.0, 3.0) == pytest.approx(1.2)
    assert theory.stochastic_rate(10, 2.0, 3.0, 0.5) == pytest.approx(1.7)


def test_lipschitz_rate_holds_for_gd_with_step_one_over_l_on_a_nonconvex_function():
    # h(x) = sum(1 - cos x_i) is nonnegative, nonconvex and 1-smooth.
    def h(x):
        return np.sum(1 - np.cos(x))

    x = np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (20,), minval=-3, maxval=3))
    initial = h(x)
    squared_norms = []
    for _ in range(200):
        gradient = np.sin(x)
        squared_norms.append(gradient @ gradient)
        x = x - gradient
    averages = np.cumsum(squared_norms) / np.arange(1, 201)
    bounds = [theory.lipschitz_rate(k, 1.0, initial) for k in range(1, 201)]
    assert np.all(averages <= np.array(bounds) + 1e-12)
    assert not math.isclose(averages[-1], 0.0)


def test_stochastic_rate_with_step_closed_form_and_range():
    assert theory.stochastic_rate_with_step(10, 0.25, 2.0, 3.0, 0.5) == pytest.approx(
        2 * 3.0 / (0.25 * 10) + 0.25 * 2.0 * 0.5
    )
    assert theory.stochastic_rate_with_step(7, 0.5, 2.0, 3.0, 0.5) == pytest.approx(
        theory.stochastic_rate(7, 2.0, 3.0, 0.5)
    )
    with pytest.raises(ValueError, match="learning_rate must be in"):
        theory.stochastic_rate_with_step(10, 1.0, 2.0, 3.0, 0.5)
