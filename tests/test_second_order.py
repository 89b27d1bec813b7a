"""Second-order methods against independent oracles: closed forms, numpy solves, brute force."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import Problem, curvature, data, problems, run
from lecture_lib.optim import (
    SecondOrderMethod,
    cubic_regularization,
    damped_newton,
    gauss_newton,
    hessian_free,
    levenberg_marquardt,
    natural_gradient,
    newton,
    reduction_ratio,
    solve_cubic_subproblem,
    solve_trust_region_subproblem,
    truncated_cg,
    trust_region,
)

KEY = jax.random.PRNGKey(0)
pytestmark = pytest.mark.usefixtures("x64")


# --------------------------------------------------------------------------- helpers


def model_problem(hessian, gradient) -> Problem:
    """h(theta) = g.theta + 1/2 theta^T H theta, started at 0: there g and H are the given ones."""
    h_matrix, g_vector = jnp.asarray(hessian, float), jnp.asarray(gradient, float)

    def loss(params, batch=None):
        return g_vector @ params + 0.5 * params @ (h_matrix @ params)

    return Problem(name="model", loss=loss, init=lambda key: jnp.zeros(g_vector.size))


def one_step(method: SecondOrderMethod, params, batch=None, key=KEY, state=None):
    state = method.init(params) if state is None else state
    return jax.jit(method.step)(params, state, batch, key)


def rotation(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def rosenbrock_derivatives(x, y, a=1.0, b=100.0):
    """Gradient and Hessian of (a - x)^2 + b (y - x^2)^2, by hand."""
    gradient = np.array([-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)])
    hessian = np.array([[2 - 4 * b * (y - x**2) + 8 * b * x**2, -4 * b * x], [-4 * b * x, 2 * b]])
    return gradient, hessian


def quadratic_model(g, h, steps):
    """q(d) for each row d of ``steps``."""
    return steps @ g + 0.5 * np.einsum("ki,ij,kj->k", steps, h, steps)


def small_dataset(size=30, features=16):
    """The first ``size`` training digits, cut to their first ``features`` pixels (fast solves)."""
    full = data.digits()
    return data.Dataset(
        full.x_train[:size, :features],
        full.y_train[:size],
        full.x_test[:10, :features],
        full.y_test[:10],
    )


def pseudo_huber() -> Problem:
    """h(x) = sum sqrt(1 + x_i^2) - 1: convex, but Newton's step -x (1 + x^2) overshoots."""

    def loss(params, batch=None):
        return jnp.sum(jnp.sqrt(1 + params**2) - 1)

    return Problem(name="pseudo-Huber", loss=loss, init=lambda key: jnp.array([2.0]))


def huber_newton_oracle(x, damping):
    """The damped Newton step on sqrt(1 + x^2) - 1 and its reduction ratio, by hand."""
    s = np.sqrt(1 + x**2)
    g, h = x / s, s**-3
    d = -g / (h + damping)
    actual = np.sqrt(1 + (x + d) ** 2) - s
    return d, actual / (g * d + 0.5 * h * d**2)


# --------------------------------------------------------------------------- Newton


def test_newton_lands_on_the_optimum_of_a_quadratic_in_one_step():
    problem = problems.quadratic(
        [0.1, 1.0, 3.0, 40.0], rotation_key=jax.random.PRNGKey(4), optimum=[1.0, -2.0, 0.5, 3.0]
    )
    params, _, info = one_step(newton(problem), problem.init(KEY))
    np.testing.assert_allclose(params, problem.optimum, rtol=0, atol=1e-10)
    assert set(info) == {"damping", "reduction_ratio", "step_norm", "accepted"}
    assert float(info["reduction_ratio"]) == pytest.approx(1.0, abs=1e-10)


def test_damped_newton_step_is_the_damped_solve():
    problem = problems.rosenbrock()
    start = problem.init(KEY)
    g, h = rosenbrock_derivatives(*np.asarray(start))
    params, state, info = one_step(damped_newton(problem, 0.7, adapt=False), start)
    expected = np.asarray(start) - np.linalg.solve(h + 0.7 * np.eye(2), g)
    np.testing.assert_allclose(params, expected, rtol=1e-12)
    assert float(state.damping) == 0.7 and bool(info["accepted"])


def test_levenberg_marquardt_shrinks_damping_by_two_thirds_where_the_model_is_exact():
    problem = problems.quadratic([0.5, 2.0, 9.0], rotation_key=jax.random.PRNGKey(1))
    method = damped_newton(problem, 2.0)
    step = jax.jit(method.step)
    params, state = problem.init(KEY), method.init(problem.init(KEY))
    a_matrix = np.asarray(problem.hessian(None))
    for k in range(4):
        expected = np.asarray(params) - np.linalg.solve(
            a_matrix + 2.0 * (2 / 3) ** k * np.eye(3), a_matrix @ np.asarray(params)
        )
        params, state, info = step(params, state, None, KEY)
        assert float(info["reduction_ratio"]) == pytest.approx(1.0, abs=1e-9)
        assert float(info["damping"]) == pytest.approx(2.0 * (2 / 3) ** k, rel=1e-12)
        assert bool(info["accepted"])
        np.testing.assert_allclose(params, expected, rtol=1e-10, atol=1e-14)
    assert float(state.damping) == pytest.approx(2.0 * (2 / 3) ** 4, rel=1e-12)


def test_an_overshooting_model_grows_damping_and_a_rejected_step_keeps_the_params():
    problem = pseudo_huber()
    method = damped_newton(problem, 1e-3)
    # At x = 0.9 the step overshoots but still decreases h: 0 < rho < 1/4, accepted.
    d, rho = huber_newton_oracle(0.9, 1e-3)
    assert 0 < rho < 0.25
    params, state, info = one_step(method, jnp.array([0.9]))
    assert float(info["reduction_ratio"]) == pytest.approx(rho, rel=1e-10)
    assert bool(info["accepted"])
    np.testing.assert_allclose(params, [0.9 + d], rtol=1e-12)
    assert float(state.damping) == pytest.approx(1.5e-3, rel=1e-12)
    # At x = 2 the step lands at about -8, far uphill: rho < 0, rejected, damping grows.
    d, rho = huber_newton_oracle(2.0, 1e-3)
    assert rho < 0
    params, state, info = one_step(method, jnp.array([2.0]))
    assert float(info["reduction_ratio"]) == pytest.approx(rho, rel=1e-10)
    assert not bool(info["accepted"])
    np.testing.assert_array_equal(params, [2.0])
    assert float(state.damping) == pytest.approx(1.5e-3, rel=1e-12)
    assert float(info["step_norm"]) == pytest.approx(abs(d), rel=1e-12)


def test_reduction_ratio_and_rule_conventions():
    assert float(reduction_ratio(-1.0, -2.0)) == 0.5
    assert float(reduction_ratio(-1.0, 0.5)) == 0.0  # the model promised no decrease
    assert float(reduction_ratio(0.0, 0.0)) == 1.0  # a null step at a stationary point
    assert float(reduction_ratio(jnp.nan, -1.0)) == -np.inf
    assert float(levenberg_marquardt(1.0, 0.5)) == 1.0
    assert float(levenberg_marquardt(1.0, 0.9)) == pytest.approx(2 / 3)
    assert float(levenberg_marquardt(1.0, 0.1)) == 1.5
    assert float(levenberg_marquardt(1.0, jnp.nan)) == 1.5


def test_newton_converges_to_the_saddle_while_the_safeguarded_methods_find_a_minimum():
    problem = problems.saddle()  # start (1.5, 1e-3), just off the saddle's stable axis
    newton_run = run(newton(problem), problem, 30, KEY)
    x, y = newton_run.final_params
    assert newton_run.grad_norm[-1] < 1e-8 and abs(x) < 1e-8 and abs(y) < 1e-8
    assert np.linalg.eigvalsh(np.diag([1.0, 3 * y**2 - 1]))[0] < 0  # a saddle, not a minimum
    for method in (
        damped_newton(problem, 1.0),
        trust_region(problem, 0.5),
        cubic_regularization(problem, 1.0),
    ):
        trajectory = run(method, problem, 60, KEY)
        assert not trajectory.diverged
        assert trajectory.loss[-1] == pytest.approx(-0.25, abs=1e-9)
        np.testing.assert_allclose(np.abs(trajectory.final_params), [0.0, 1.0], atol=1e-6)


# --------------------------------------------------------------------------- trust region


def brute_force_disk(g, h, radius, angles=200_001, radii=401):
    """The minimum of q over a polar grid of the disk, and the best point on its boundary."""
    phi = np.linspace(0, 2 * np.pi, angles)
    circle = radius * np.stack([np.cos(phi), np.sin(phi)], axis=1)
    on_circle = quadratic_model(g, h, circle)
    coarse = np.linspace(0, 2 * np.pi, 2001)
    disk = np.concatenate(
        [
            r * np.stack([np.cos(coarse), np.sin(coarse)], axis=1)
            for r in np.linspace(0, radius, radii)
        ]
    )
    return on_circle.min(), circle[on_circle.argmin()], quadratic_model(g, h, disk).min()


def test_trust_region_step_is_the_brute_force_minimum_on_a_small_circle():
    problem = problems.rosenbrock()
    start = problem.init(KEY)
    g, h = rosenbrock_derivatives(*np.asarray(start))
    radius = 0.05
    params, state, info = one_step(trust_region(problem, radius), start)
    d = np.asarray(params) - np.asarray(start)
    assert np.linalg.norm(d) == pytest.approx(radius, rel=1e-10)
    circle_min, circle_argmin, disk_min = brute_force_disk(g, h, radius)
    q_step = quadratic_model(g, h, d[None])[0]
    assert q_step <= circle_min + 1e-12 and q_step <= disk_min + 1e-12
    assert q_step == pytest.approx(circle_min, abs=1e-8)
    np.testing.assert_allclose(d, circle_argmin, atol=1e-4 * radius)
    # The multiplier is the damping that gives the same step: -(H + lambda I)^{-1} g.
    np.testing.assert_allclose(d, -np.linalg.solve(h + info["damping"] * np.eye(2), g), rtol=1e-8)
    assert float(info["radius"]) == radius and bool(info["accepted"])


def test_trust_region_with_a_large_radius_takes_the_newton_step():
    a_matrix = rotation(0.3) @ np.diag([0.5, 4.0]) @ rotation(0.3).T
    g = np.array([1.0, -2.0])
    params, _, info = one_step(trust_region(model_problem(a_matrix, g), 100.0), jnp.zeros(2))
    np.testing.assert_allclose(params, -np.linalg.solve(a_matrix, g), rtol=1e-12)
    assert float(info["damping"]) == 0.0
    assert float(info["reduction_ratio"]) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("angle", [0.0, 0.7])
def test_trust_region_hard_case_completes_the_step_along_the_bottom_eigenvector(angle):
    # H = diag(-1, 2), g = (0, 2) in a rotated frame: g has no component on the bottom
    # eigenvector, and ||(H + I)^{-1} g|| = 2/3 < radius = 1, so lambda = 1 and
    # d = (+-sqrt(5)/3, -2/3) with q(d) = -4/3 + 1/6 = -7/6.
    q_matrix = rotation(angle)
    h = q_matrix @ np.diag([-1.0, 2.0]) @ q_matrix.T
    g = q_matrix @ np.array([0.0, 2.0])
    d, lam = solve_trust_region_subproblem(jnp.asarray(g), jnp.asarray(h), 1.0)
    d = np.asarray(d)
    assert np.linalg.norm(d) == pytest.approx(1.0, rel=1e-10)
    assert float(lam) == pytest.approx(1.0, rel=1e-10)
    np.testing.assert_allclose(np.abs(q_matrix.T @ d), [np.sqrt(5) / 3, 2 / 3], rtol=1e-7)
    assert quadratic_model(g, h, d[None])[0] == pytest.approx(-7 / 6, rel=1e-10)
    circle_min, _, disk_min = brute_force_disk(g, h, 1.0)
    assert circle_min == pytest.approx(-7 / 6, abs=1e-8) and disk_min >= -7 / 6 - 1e-12
    # Through the method, on the model problem itself: rho = 1, the step is taken.
    params, _, info = one_step(trust_region(model_problem(h, g), 1.0), jnp.zeros(2))
    np.testing.assert_allclose(params, d, rtol=1e-10)
    # A radius below 2/3 is not the hard case: lambda > 1 and the boundary is still hit.
    d_small, lam_small = solve_trust_region_subproblem(jnp.asarray(g), jnp.asarray(h), 0.5)
    assert float(lam_small) > 1 and np.linalg.norm(d_small) == pytest.approx(0.5, rel=1e-10)
    assert quadratic_model(g, h, np.asarray(d_small)[None])[0] == pytest.approx(
        brute_force_disk(g, h, 0.5)[0], abs=1e-8
    )


def test_trust_region_escapes_an_exact_saddle_along_the_negative_curvature():
    d, lam = solve_trust_region_subproblem(jnp.zeros(2), jnp.diag(jnp.array([1.0, -1.0])), 0.3)
    np.testing.assert_allclose(np.abs(np.asarray(d)), [0.0, 0.3], atol=1e-15)
    assert float(lam) == 1.0


def test_trust_region_radius_follows_nocedal_wright():
    # Pseudo-Huber at x = 2: the Newton step (-10) leaves the radius 0.5; the boundary
    # step to 1.5 gives rho = 0.994 > 3/4, so the radius doubles, capped at max_radius.
    method = trust_region(pseudo_huber(), 0.5, max_radius=0.8)
    params, state, info = one_step(method, jnp.array([2.0]))
    actual = np.sqrt(1 + 1.5**2) - np.sqrt(5)
    predicted = -0.5 * 2 / np.sqrt(5) + 0.5 * 5**-1.5 * 0.25
    assert float(info["reduction_ratio"]) == pytest.approx(actual / predicted, rel=1e-10)
    assert float(info["step_norm"]) == pytest.approx(0.5, rel=1e-10)
    assert float(state.radius) == 0.8 and bool(info["accepted"])
    np.testing.assert_allclose(params, [1.5], rtol=1e-12)
    # h = -x + 10 max(x - 0.2, 0)^3 is flat-curved at 0 (g = -1, H = 0): the model runs
    # to the boundary x = 1 where h = 4.12, so rho < 0: rejected, radius / 4.
    cliff = Problem(
        name="cliff",
        loss=lambda p, b=None: jnp.sum(-p + 10 * jnp.maximum(p - 0.2, 0.0) ** 3),
        init=lambda key: jnp.zeros(1),
    )
    params, state, info = one_step(trust_region(cliff, 1.0), jnp.zeros(1))
    assert float(info["reduction_ratio"]) == pytest.approx(-4.12, rel=1e-10)
    assert not bool(info["accepted"])
    np.testing.assert_array_equal(params, [0.0])
    assert float(state.radius) == 0.25


# --------------------------------------------------------------------------- cubic


def brute_force_cubic(g, h, sigma, extent, angles=2001, radii=2001):
    phi = np.linspace(0, 2 * np.pi, angles)
    units = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    best = np.inf
    for r in np.linspace(0, extent, radii):
        best = min(best, (quadratic_model(g, h, r * units) + sigma / 3 * r**3).min())
    return best


@pytest.mark.parametrize(
    "point, sigma", [((-1.2, 1.0), 50.0), ((0.3, 0.5), 20.0), ((0.0, 0.3), 100.0)]
)
def test_cubic_step_is_the_global_minimiser_of_the_cubic_model(point, sigma):
    g, h = rosenbrock_derivatives(*point)  # indefinite Hessian at the last two points
    d, lam = solve_cubic_subproblem(jnp.asarray(g), jnp.asarray(h), sigma)
    d = np.asarray(d)
    r = np.linalg.norm(d)
    assert float(lam) == pytest.approx(sigma * r, rel=1e-10)
    np.testing.assert_allclose(g + h @ d + sigma * r * d, 0.0, atol=1e-9 * np.linalg.norm(g))
    assert np.linalg.eigvalsh(h + sigma * r * np.eye(2))[0] >= -1e-9
    model_value = quadratic_model(g, h, d[None])[0] + sigma / 3 * r**3
    best = brute_force_cubic(g, h, sigma, extent=2 * r)
    assert model_value <= best + 1e-12
    assert model_value == pytest.approx(best, rel=1e-4)


def test_cubic_hard_case():
    # H = diag(-1, 2), g = (0, 2), sigma = 1: lambda = 1, r = 1, d = (+-sqrt(5)/3, -2/3).
    g, h = np.array([0.0, 2.0]), np.diag([-1.0, 2.0])
    d, lam = solve_cubic_subproblem(jnp.asarray(g), jnp.asarray(h), 1.0)
    np.testing.assert_allclose(np.abs(np.asarray(d)), [np.sqrt(5) / 3, 2 / 3], rtol=1e-10)
    assert float(lam) == pytest.approx(1.0)
    model_value = quadratic_model(g, h, np.asarray(d)[None])[0] + 1 / 3
    assert model_value <= brute_force_cubic(g, h, 1.0, extent=2.0) + 1e-12


def test_cubic_method_steps_by_the_subproblem_and_adapts_sigma():
    problem = problems.rosenbrock()
    start = problem.init(KEY)
    g, h = rosenbrock_derivatives(*np.asarray(start))
    d, _ = solve_cubic_subproblem(jnp.asarray(g), jnp.asarray(h), 10.0)
    params, state, info = one_step(cubic_regularization(problem, 10.0), start)
    np.testing.assert_allclose(params, np.asarray(start) + np.asarray(d), rtol=1e-12)
    assert set(info) == {"sigma", "damping", "reduction_ratio", "step_norm", "accepted"}
    assert float(state.sigma) == 10.0
    _, state, info = one_step(cubic_regularization(problem, 10.0, adapt=True), start)
    rho = float(info["reduction_ratio"])
    expected = 5.0 if rho > 0.75 else (10.0 if rho >= 0.25 else 20.0)
    assert float(state.sigma) == expected


# --------------------------------------------------------------------------- curvature matrices


def test_gauss_newton_solves_linear_regression_in_one_undamped_step():
    dataset = small_dataset()
    problem = problems.linear_regression(l2=1e-2, dataset=dataset)
    params, _, _ = one_step(
        gauss_newton(problem, 0.0, adapt=False), problem.init(KEY), problem.data
    )
    x = np.asarray(dataset.x_train, np.float64)
    y = np.asarray(dataset.y_train, np.float64)
    design = np.concatenate([np.ones((len(y), 1)), x], axis=1)
    ridge = np.diag(np.r_[0.0, np.full(x.shape[1], 1e-2)])
    solution = np.linalg.solve(design.T @ design / len(y) + ridge, design.T @ y / len(y))
    np.testing.assert_allclose(params["b"], solution[0], rtol=1e-8)
    np.testing.assert_allclose(params["w"], solution[1:], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(params["w"], problem.optimum["w"], rtol=1e-4, atol=1e-5)


def flat_step(method, problem, batch=None, key=KEY):
    params = problem.init(KEY)
    new, _, info = one_step(method, params, problem.data if batch is None else batch, key)
    return np.asarray(curvature.flatten(new)[0] - curvature.flatten(params)[0]), info


def test_natural_gradient_with_the_true_fisher_is_the_gauss_newton_step_for_softmax():
    problem = problems.softmax_regression(dataset=small_dataset())
    params = problem.init(KEY)
    g, ggn = jax.jit(
        lambda p: (
            curvature.flatten(jax.grad(problem.loss)(p, problem.data))[0],
            curvature.ggn(problem, p, problem.data),
        )
    )(params)
    g, ggn = np.asarray(g), np.asarray(ggn)
    expected = -0.5 * np.linalg.solve(ggn + 0.1 * np.eye(g.size), g)
    # The canonical link makes F = GGN: the natural step is the damped Gauss-Newton step.
    step, info = flat_step(natural_gradient(problem, 0.1, learning_rate=0.5), problem)
    np.testing.assert_allclose(step, expected, rtol=1e-8, atol=1e-12)
    assert bool(info["accepted"])


def test_natural_gradient_with_the_empirical_fisher_solves_with_the_dense_empirical_fisher():
    problem = problems.softmax_regression(dataset=small_dataset())
    params = problem.init(KEY)
    g, empirical = jax.jit(
        lambda p: (
            curvature.flatten(jax.grad(problem.loss)(p, problem.data))[0],
            curvature.empirical_fisher(problem, p, problem.data),
        )
    )(params)
    g, empirical = np.asarray(g), np.asarray(empirical)
    expected = -np.linalg.solve(empirical + 0.1 * np.eye(g.size), g)
    step, _ = flat_step(natural_gradient(problem, 0.1, fisher="empirical"), problem)
    np.testing.assert_allclose(step, expected, rtol=1e-8, atol=1e-12)


def test_a_sampled_fisher_draws_its_labels_with_the_step_key():
    problem = problems.logistic_regression(dataset=small_dataset(40))
    method = natural_gradient(problem, 0.1, num_samples=2)
    first, _ = flat_step(method, problem, key=jax.random.PRNGKey(1))
    again, _ = flat_step(method, problem, key=jax.random.PRNGKey(1))
    other, _ = flat_step(method, problem, key=jax.random.PRNGKey(2))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


# --------------------------------------------------------------------------- Hessian-free


def test_hessian_free_with_n_iterations_is_the_damped_newton_step():
    problem = problems.quadratic([0.2, 1.0, 2.5, 7.0, 30.0], rotation_key=jax.random.PRNGKey(5))
    a_matrix = np.asarray(problem.hessian(None))
    start = np.asarray(problem.init(KEY))
    for damping in (0.0, 0.3):
        method = hessian_free(problem, damping, 5, adapt=False, curvature="hessian", cg_tol=0.0)
        step, info = flat_step(method, problem)
        expected = -np.linalg.solve(a_matrix + damping * np.eye(5), a_matrix @ start)
        np.testing.assert_allclose(step, expected, rtol=1e-9, atol=1e-12)
        assert int(info["cg_iterations"]) == 5 and not bool(info["negative_curvature"])


@pytest.mark.parametrize("iterations", [1, 2, 3])
def test_hessian_free_minimises_the_model_over_the_krylov_space(iterations):
    problem = problems.quadratic([0.2, 0.9, 2.5, 7.0, 30.0, 60.0], rotation_key=KEY)
    a_matrix = np.asarray(problem.hessian(None))
    g = a_matrix @ np.asarray(problem.init(KEY))
    krylov = np.stack([np.linalg.matrix_power(a_matrix, j) @ g for j in range(iterations)], 1)
    basis, _ = np.linalg.qr(krylov)
    coefficients = np.linalg.solve(basis.T @ a_matrix @ basis, -basis.T @ g)
    method = hessian_free(problem, 0.0, iterations, adapt=False, curvature="hessian")
    step, info = flat_step(method, problem)
    np.testing.assert_allclose(step, basis @ coefficients, rtol=1e-9, atol=1e-12)
    assert int(info["cg_iterations"]) == iterations


def test_negative_curvature_stops_conjugate_gradients():
    h = np.diag([2.0, -1.0])
    # -g has positive curvature, the next direction negative: one CG step, the minimiser
    # of q along g, -(g.g / g^T H g) g.
    g = np.array([1.0, 0.5])
    method = hessian_free(model_problem(h, g), 0.0, 10, adapt=False, curvature="hessian")
    params, _, info = one_step(method, jnp.zeros(2))
    np.testing.assert_allclose(params, -(g @ g) / (g @ h @ g) * g, rtol=1e-12)
    assert bool(info["negative_curvature"]) and int(info["cg_iterations"]) == 1
    # Negative curvature along -g itself: the steepest-descent direction -g (N&W 7.1).
    g = np.array([0.1, 1.0])
    method = hessian_free(model_problem(h, g), 0.0, 10, adapt=False, curvature="hessian")
    params, _, info = one_step(method, jnp.zeros(2))
    np.testing.assert_allclose(params, -g, rtol=1e-12)
    assert bool(info["negative_curvature"]) and int(info["cg_iterations"]) == 0


def test_hessian_free_with_ggn_products_matches_the_dense_gauss_newton_step():
    problem = problems.logistic_regression(dataset=small_dataset(60))
    dense_step, _ = flat_step(gauss_newton(problem, 0.5, adapt=False), problem)
    method = hessian_free(problem, 0.5, 100, adapt=False, cg_tol=1e-13)
    step, info = flat_step(method, problem)
    np.testing.assert_allclose(step, dense_step, rtol=1e-8, atol=1e-11)
    assert not bool(info["negative_curvature"]) and int(info["cg_iterations"]) < 100


def test_hessian_free_trains_a_small_network():
    problem = problems.mlp(hidden_sizes=(6,), dataset=small_dataset())
    trajectory = run(hessian_free(problem, 1.0, 10, warm_start=0.95), problem, 6, KEY)
    assert not trajectory.diverged and trajectory.loss[-1] < 0.6 * trajectory.loss[0]
    assert np.all(trajectory.info["cg_iterations"] <= 10)
    assert not trajectory.info["negative_curvature"].any()


# --------------------------------------------------------------------------- validation


def test_arguments_are_validated_before_any_work():
    saddle = problems.saddle()
    softmax = problems.softmax_regression(dataset=small_dataset())
    cases = [
        (lambda: newton("not a problem"), "problem"),
        (lambda: damped_newton(saddle, -1.0), "damping"),
        (lambda: damped_newton(saddle, 0.0), "damping"),
        (lambda: damped_newton(saddle, 1.0, adapt="yes"), "adapt"),
        (lambda: gauss_newton(saddle), "predict"),
        (lambda: natural_gradient(saddle, 1.0), "predict"),
        (lambda: natural_gradient(softmax, 1.0, fisher="exact"), "fisher"),
        (lambda: natural_gradient(softmax, 1.0, learning_rate=0.0), "learning_rate"),
        (lambda: natural_gradient(softmax, 1.0, num_samples=0), "num_samples"),
        (lambda: natural_gradient(softmax, 1.0, fisher="empirical", num_samples=2), "num_samples"),
        (lambda: hessian_free(saddle, 1.0, 5), "predict"),
        (lambda: hessian_free(saddle, 1.0, 0, curvature="hessian"), "cg_iters"),
        (lambda: hessian_free(softmax, 1.0, 5, curvature="fisher"), "curvature"),
        (lambda: hessian_free(softmax, 1.0, 5, cg_tol=1.0), "cg_tol"),
        (lambda: hessian_free(softmax, 1.0, 5, warm_start=1.5), "warm_start"),
        (lambda: trust_region(saddle, 0.0), "radius"),
        (lambda: trust_region(saddle, 1.0, max_radius=0.5), "max_radius"),
        (lambda: trust_region(saddle, 1.0, eta=0.3), "eta"),
        (lambda: cubic_regularization(saddle, 0.0), "sigma"),
        (lambda: cubic_regularization(saddle, 1.0, adapt=1), "adapt"),
        (lambda: solve_trust_region_subproblem(jnp.ones(2), jnp.eye(3), 1.0), "hessian"),
        (lambda: solve_trust_region_subproblem(jnp.ones(2), jnp.eye(2), -1.0), "radius"),
        (lambda: solve_cubic_subproblem(jnp.ones(2), jnp.eye(2), 0.0), "sigma"),
        (lambda: truncated_cg(lambda v: v, jnp.ones(2), jnp.zeros(2), 0, 0.0), "max_iters"),
        (lambda: truncated_cg(lambda v: v, jnp.ones(2), jnp.zeros(3), 2, 0.0), "x0"),
    ]
    for build, name in cases:
        with pytest.raises(ValueError, match=name):
            build()
