"""Momentum theory against simulation and closed forms."""

import math

import jax
import numpy as np
import pytest

from lecture_lib import optim, problems, run, theory

KEY = jax.random.PRNGKey(0)


@pytest.mark.usefixtures("x64")
def test_iteration_matrix_moves_velocity_and_error_like_the_optimizer():
    lam, alpha, beta = 3.0, 0.2, 0.6
    problem = problems.quadratic([lam], start=[1.0])
    optimizer = optim.momentum(alpha, beta=beta)
    params = problem.init(KEY)
    state = optimizer.init(params)
    matrix = theory.momentum_iteration_matrix(alpha, beta, lam)
    vector = np.array([0.0, 1.0])
    for _ in range(10):
        grads = jax.grad(problem.loss)(params, None)
        updates, state = optimizer.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        vector = matrix @ vector
        np.testing.assert_allclose([state.velocity[0], params[0]], vector, rtol=1e-12)


@pytest.mark.parametrize(
    "alpha_lambda, beta, phase",
    [
        (0.5, 0.0, "monotone"),
        (1.0, 0.0, "1-step"),
        (1.5, 0.0, "oscillation"),
        (2.5, 0.0, "divergence"),
        (1.0, 0.9, "ripples"),
        (0.01, 0.5, "monotone"),
        (2.5, 0.3, "oscillation"),
        (3.9, 0.9, "divergence"),
    ],
)
def test_phases_at_known_points(alpha_lambda, beta, phase):
    assert theory.momentum_phase(alpha_lambda, beta, 1.0) == phase


def test_phase_boundary_is_two_plus_two_beta():
    # Real eigenvalues cross -1 exactly at alpha*lambda = 2 + 2 beta.
    for beta in (0.0, 0.3, 0.8):
        assert theory.momentum_phase(2 + 2 * beta - 1e-3, beta, 1.0) != "divergence"
        assert theory.momentum_phase(2 + 2 * beta + 1e-3, beta, 1.0) == "divergence"


def test_ripples_contract_like_root_beta():
    radius = np.abs(theory.momentum_eigenvalues(1.0, 0.81, 1.0)).max()
    assert radius == pytest.approx(0.9)


def test_optimal_momentum_reaches_the_momentum_rate_at_both_ends():
    lam_min, lam_max = 0.1, 10.0
    alpha, beta = theory.optimal_momentum(lam_min, lam_max)
    rate = theory.momentum_rate(lam_max / lam_min)
    for lam in (lam_min, lam_max, 1.0):
        radius = np.abs(theory.momentum_eigenvalues(alpha, beta, lam)).max()
        assert radius == pytest.approx(rate, rel=1e-6)
    assert math.sqrt(beta) == pytest.approx(rate)


@pytest.mark.usefixtures("x64")
def test_optimal_momentum_converges_at_the_predicted_rate():
    kappa = 100.0
    problem = problems.quadratic(condition_number=kappa, dim=8)
    alpha, beta = theory.optimal_momentum(problem.strong_convexity, problem.smoothness)
    trajectory = run(optim.momentum(alpha, beta=beta), problem, 400, KEY)
    slope = np.polyfit(np.arange(200, 401), np.log(trajectory.loss[200:]), 1)[0]
    assert slope / 2 == pytest.approx(math.log(theory.momentum_rate(kappa)), rel=0.05)


def test_iteration_counts_grow_like_root_kappa():
    ratio = theory.momentum_iterations(4e4, 1e-6) / theory.momentum_iterations(1e4, 1e-6)
    assert ratio == pytest.approx(2.0, rel=0.01)
    k = theory.momentum_iterations(50.0, 1e-4)
    assert theory.momentum_rate(50.0) ** (2 * k) <= 1e-4 < theory.momentum_rate(50.0) ** (2 * k - 2)


def test_bounds_sandwich_and_closed_forms():
    smoothness, mu, distance = 10.0, 0.1, 2.0
    for k in (0, 5, 50):
        lower = theory.first_order_lower_bound(k, smoothness, mu, distance)
        assert lower <= theory.nesterov_bound(k, smoothness, mu, distance)
        assert lower <= theory.gd_bound(k, smoothness, mu, distance)
    assert theory.nesterov_bound(2, 4.0, 1.0, 1.0) == pytest.approx(4.0 * 0.25)
    assert theory.first_order_lower_bound(1, 9.0, 1.0, 1.0) == pytest.approx(0.5 * 0.25)


@pytest.mark.usefixtures("x64")
def test_polyak_rate_trace_formula():
    hessian = np.diag([1.0, 4.0])
    covariance = np.diag([2.0, 8.0])
    assert theory.polyak_sgd_rate(10, hessian, covariance) == pytest.approx(4.0 / 20)
    with pytest.raises(ValueError, match="noise_covariance must have"):
        theory.polyak_sgd_rate(10, hessian, np.eye(3))


def test_momentum_theory_validates():
    with pytest.raises(ValueError, match="beta"):
        theory.momentum_iteration_matrix(0.1, 1.0, 1.0)
    with pytest.raises(ValueError, match="lam_min must be in"):
        theory.optimal_momentum(5.0, 1.0)
    with pytest.raises(ValueError, match="kappa"):
        theory.momentum_rate(0.5)
