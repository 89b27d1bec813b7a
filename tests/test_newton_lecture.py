"""Lecture 4's tools (lecture_lib.second_order, plots.spectral_density) against oracles.

The oracles are independent of the code under test: numpy's solve and eigvalsh, the
trust-region subproblem solver of ``optim``, closed forms on the saddle, and diagonal
matrices whose Lanczos quadrature is exact.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import Problem, curvature, plots, problems, run, second_order
from lecture_lib.optim import damped_newton, gd, newton, solve_trust_region_subproblem
from lecture_lib.spectrum import SpectralDensity

KEY = jax.random.PRNGKey(0)


def labelled(ax):
    return ax.get_title() and ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None


def random_symmetric(seed, dim, low=-2.0, high=3.0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    return (q * rng.uniform(low, high, dim)) @ q.T, rng.normal(size=dim)


# --------------------------------------------------------------------------- damped_steps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_damped_steps_solve_the_damped_system(seed):
    h, g = random_symmetric(seed, 6)
    dampings = [0.0, 2.5, 10.0, 1e3] if np.linalg.eigvalsh(h).min() > 0 else [2.5, 10.0, 1e3]
    steps = second_order.damped_steps(g, h, dampings)
    assert steps.shape == (len(dampings), 6)
    for lam, step in zip(dampings, steps, strict=True):
        np.testing.assert_allclose(step, -np.linalg.solve(h + lam * np.eye(6), g), rtol=1e-10)
    single = second_order.damped_steps(g, h, 10.0)
    assert single.shape == (6,)
    np.testing.assert_allclose(single, -np.linalg.solve(h + 10.0 * np.eye(6), g), rtol=1e-10)
    # a large damping turns the step into gradient descent with rate 1/lambda
    np.testing.assert_allclose(second_order.damped_steps(g, h, 1e8), -g / 1e8, rtol=1e-6)


def test_trust_region_steps_lie_on_the_damped_curve(x64):
    h, g = random_symmetric(3, 5)  # indefinite: eigenvalues in [-2, 3]
    for radius in (0.1, 0.5, 2.0):
        step, lam = solve_trust_region_subproblem(jnp.asarray(g), jnp.asarray(h), radius)
        assert float(lam) > -np.linalg.eigvalsh(h).min()
        np.testing.assert_allclose(
            second_order.damped_steps(g, h, float(lam)), step, rtol=1e-8, atol=1e-10
        )


def test_damped_steps_validate_their_arguments():
    h, g = np.diag([1.0, -1.0]), np.array([1.0, 1.0])
    with pytest.raises(ValueError, match="gradient must be a vector"):
        second_order.damped_steps(g[:1], h, 1.0)
    with pytest.raises(ValueError, match="symmetric"):
        second_order.damped_steps(g, np.array([[1.0, 2.0], [0.0, 1.0]]), 1.0)
    with pytest.raises(ValueError, match="finite"):
        second_order.damped_steps(np.array([np.nan, 1.0]), h, 1.0)
    with pytest.raises(ValueError, match=r"dampings\[1\] must be in \[0, inf\)"):
        second_order.damped_steps(g, h, [2.0, -1.0])
    with pytest.raises(ValueError, match=r"dampings\[0\] = 1 makes H \+ lambda I singular"):
        second_order.damped_steps(g, h, [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        second_order.damped_steps(g, h, [])


# --------------------------------------------------------------------------- reparameterisation


def test_reparameterized_problem_is_the_same_landscape(x64):
    rosen = problems.rosenbrock()
    a = np.array([[0.5, 0.0], [0.5, 2.0]])
    phi_problem = second_order.reparameterized(rosen, a)
    phi = jnp.array([0.3, -0.7])
    assert float(phi_problem.loss(phi)) == pytest.approx(float(rosen.loss(jnp.asarray(a) @ phi)))
    np.testing.assert_allclose(a @ phi_problem.init(KEY), rosen.init(KEY), rtol=1e-14)
    np.testing.assert_allclose(a @ phi_problem.optimum, rosen.optimum, rtol=1e-14)
    exact = jax.hessian(phi_problem.loss)(phi)
    np.testing.assert_allclose(phi_problem.hessian(phi), exact, rtol=1e-10)
    np.testing.assert_allclose(exact, a.T @ rosen.hessian(jnp.asarray(a) @ phi) @ a, rtol=1e-10)


def test_newton_is_invariant_and_gradient_descent_is_not(x64):
    rosen = problems.rosenbrock()
    a = np.diag([2.0, 0.5])
    phi_problem = second_order.reparameterized(rosen, a)
    newton_theta = run(newton(rosen), rosen, 8, KEY)
    newton_phi = second_order.to_original(run(newton(phi_problem), phi_problem, 8, KEY), a)
    np.testing.assert_allclose(newton_theta.iterates, newton_phi.iterates, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(newton_theta.loss, newton_phi.loss, rtol=1e-8, atol=1e-20)
    gd_theta = run(gd(1e-3), rosen, 50, KEY)
    gd_phi = second_order.to_original(run(gd(1e-3), phi_problem, 50, KEY), a)
    assert np.abs(gd_theta.iterates - gd_phi.iterates).max() > 0.1
    # an orthogonal A leaves gradient descent alone too
    c, s = np.cos(0.4), np.sin(0.4)
    rotation = np.array([[c, -s], [s, c]])
    rotated = second_order.reparameterized(rosen, rotation)
    gd_rotated = second_order.to_original(run(gd(1e-3), rotated, 50, KEY), rotation)
    np.testing.assert_allclose(gd_rotated.iterates, gd_theta.iterates, rtol=1e-9, atol=1e-11)


def test_to_original_maps_arrays_and_trajectories():
    a = np.array([[2.0, 1.0], [0.0, 3.0]])
    phi = np.array([[1.0, 1.0], [0.0, -1.0]])
    np.testing.assert_allclose(second_order.to_original(phi, a), [[3.0, 3.0], [-1.0, -3.0]])
    trajectory = run(gd(0.1), problems.quadratic([1.0, 2.0]), 3, KEY)
    mapped = second_order.to_original(trajectory, a)
    np.testing.assert_allclose(mapped.iterates, trajectory.iterates @ a.T)
    np.testing.assert_array_equal(mapped.loss, trajectory.loss)
    with pytest.raises(ValueError, match=r"iterates must have shape \(k, n\)"):
        second_order.to_original(np.ones(3), a)
    with pytest.raises(ValueError, match="recorded iterates"):
        second_order.to_original(run(gd(0.1), problems.quadratic([1.0, 2.0, 3.0]), 2, KEY), a)


def test_reparameterized_validates_its_arguments():
    rosen = problems.rosenbrock()
    with pytest.raises(ValueError, match="problem must be a lecture_lib Problem"):
        second_order.reparameterized("rosenbrock", np.eye(2))
    with pytest.raises(ValueError, match=r"matrix must be square of shape \(2, 2\)"):
        second_order.reparameterized(rosen, np.eye(3))
    with pytest.raises(ValueError, match="matrix must be invertible"):
        second_order.reparameterized(rosen, np.array([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(ValueError, match="finite"):
        second_order.reparameterized(rosen, np.array([[1.0, np.inf], [0.0, 1.0]]))
    pytree = Problem(
        name="pytree",
        loss=lambda p, batch=None: jnp.sum(p["w"] ** 2),
        init=lambda key: {"w": jnp.ones(2)},
    )
    with pytest.raises(ValueError, match="one vector of parameters"):
        second_order.reparameterized(pytree, np.eye(2))


# --------------------------------------------------------------------------- the saddle


@pytest.mark.parametrize("damping", [0.0, 0.3, 0.5, 0.8, 1.5, 20.0])
def test_saddle_factors_are_one_damped_step_near_the_saddle(damping, x64):
    saddle = problems.saddle()
    point = jnp.array([1e-3, 1e-4])
    g = np.asarray(jax.grad(saddle.loss)(point))
    h = np.asarray(saddle.hessian(point))
    after = np.asarray(point) - np.linalg.solve(h + damping * np.eye(2), g)
    np.testing.assert_allclose(
        after / np.asarray(point), second_order.saddle_factors(damping), rtol=1e-6, atol=1e-7
    )


def test_saddle_factors_validate_the_damping():
    with pytest.raises(ValueError, match="without 1"):
        second_order.saddle_factors(1.0)
    with pytest.raises(ValueError, match=r"damping must be in \[0, inf\)"):
        second_order.saddle_factors(-0.5)


# --------------------------------------------------------------------------- damping trace


def test_damping_trace_draws_the_run_it_is_given(x64):
    rosen = problems.rosenbrock()
    trajectory = run(damped_newton(rosen, 0.1), rosen, 25, KEY)
    damping_ax, ratio_ax = second_order.damping_trace(trajectory)
    assert labelled(damping_ax) and labelled(ratio_ax) and damping_ax.get_yscale() == "log"
    lines = damping_ax.get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), trajectory.info["damping"])
    rejected = ~trajectory.info["accepted"]
    assert rejected.sum() > 0 and len(lines[1].get_xdata()) == rejected.sum()
    np.testing.assert_allclose(
        ratio_ax.get_lines()[0].get_ydata(), np.clip(trajectory.info["reduction_ratio"], -1, 2)
    )
    with pytest.raises(ValueError, match="axes must be a pair"):
        second_order.damping_trace(trajectory, axes=damping_ax)


def test_damping_trace_needs_a_damped_run():
    trajectory = run(gd(0.1), problems.rosenbrock(), 3, KEY)
    with pytest.raises(ValueError, match="damped method"):
        second_order.damping_trace(trajectory)
    with pytest.raises(ValueError, match="lecture_lib Trajectory"):
        second_order.damping_trace({"damping": [1.0]})


# --------------------------------------------------------------------------- SLQ read-outs


@pytest.fixture(scope="module")
def diagonal_density():
    """A diagonal matrix with distinct eigenvalues and num_steps = dim: the quadrature of
    every Rademacher probe is exact, nodes = eigenvalues and weights = 1/n."""
    with jax.enable_x64(True):
        eigenvalues = jnp.array([-0.5, 0.01, 0.02, 0.03, 0.2, 1.0, 4.0, 9.0])
        matvec = lambda v: eigenvalues * v  # noqa: E731
        density = curvature.spectral_density(matvec, 8, KEY, num_steps=8, num_probes=3)
    return np.asarray(eigenvalues), density


def test_quadrature_moments_and_mass_are_exact_for_a_full_quadrature(diagonal_density):
    eigenvalues, density = diagonal_density
    moments, errors = second_order.quadrature_moments(density, orders=(1, 2, 3, 5))
    exact = [np.mean(eigenvalues**k) for k in (1, 2, 3, 5)]
    np.testing.assert_allclose(moments, exact, rtol=1e-8)
    assert np.all(errors < 1e-8 * np.abs(exact))  # every probe gives the same answer
    assert second_order.quadrature_mass(density, -0.1, 0.1) == pytest.approx(3 / 8, abs=1e-8)
    assert second_order.quadrature_mass(density, -1.0, 10.0) == pytest.approx(1.0, abs=1e-8)


def test_quadrature_moments_estimate_the_trace_of_a_dense_matrix(x64):
    matrix, _ = random_symmetric(7, 40, -1.0, 2.0)
    dense = jnp.asarray(matrix)
    density = curvature.spectral_density(lambda v: dense @ v, 40, KEY, num_steps=20, num_probes=30)
    moments, errors = second_order.quadrature_moments(density, orders=(1, 2))
    exact = np.array([np.trace(matrix), np.trace(matrix @ matrix)]) / 40
    assert np.all(np.abs(moments - exact) < 4 * errors)
    single = SpectralDensity(density.nodes[:1], density.weights[:1], density.grid, density.density)
    assert np.isnan(second_order.quadrature_moments(single, orders=(1,))[1][0])


def test_smoothed_redraws_the_quadrature_on_another_grid(diagonal_density, x64):
    eigenvalues, density = diagonal_density
    grid = np.linspace(-1.0, 10.0, 300)
    again = curvature.spectral_density(
        lambda v: jnp.asarray(eigenvalues) * v,
        8,
        KEY,
        num_steps=8,
        num_probes=3,
        grid=grid,
        sigma=0.2,
    )
    resmoothed = second_order.smoothed(density, grid, 0.2)
    assert isinstance(resmoothed, SpectralDensity)
    np.testing.assert_allclose(resmoothed.density, again.density, rtol=1e-8, atol=1e-12)
    assert np.trapezoid(resmoothed.density, grid) == pytest.approx(1.0, abs=1e-3)


def test_slq_read_outs_validate_their_arguments(diagonal_density):
    _, density = diagonal_density
    with pytest.raises(ValueError, match="density must be a SpectralDensity"):
        second_order.quadrature_moments((1, 2))
    with pytest.raises(ValueError, match=r"orders\[1\] must be an integer >= 1"):
        second_order.quadrature_moments(density, orders=(1, 0))
    with pytest.raises(ValueError, match="orders must name at least one"):
        second_order.quadrature_moments(density, orders=())
    with pytest.raises(ValueError, match=r"high must be in \(0.5, inf\)"):
        second_order.quadrature_mass(density, 0.5, 0.5)
    with pytest.raises(ValueError, match=r"sigma must be in \(0, inf\)"):
        second_order.smoothed(density, [0.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        second_order.smoothed(density, [1.0, 0.0], 0.1)


def test_eigenvalues_are_numpys_and_validate_the_matrix():
    matrix, _ = random_symmetric(11, 30)
    np.testing.assert_allclose(
        second_order.eigenvalues(matrix), np.linalg.eigvalsh(matrix), rtol=1e-12, atol=1e-12
    )
    with pytest.raises(ValueError, match="square"):
        second_order.eigenvalues(np.ones((2, 3)))
    with pytest.raises(ValueError, match="symmetric"):
        second_order.eigenvalues(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="finite"):
        second_order.eigenvalues(np.array([[np.nan, 0.0], [0.0, 1.0]]))


# --------------------------------------------------------------------------- the explorer


def test_damping_figure_shows_the_run_of_its_damping(x64):
    figure, trajectory = second_order.damping_figure(0.3, steps=20)
    assert len(figure.axes) == 2 and all(labelled(ax) for ax in figure.axes)
    theta = np.array([1.5, 1e-3])  # the saddle's start; steps with its closed-form derivatives
    for k in range(1, 4):
        x, y = theta
        gradient, hessian = np.array([x, y**3 - y]), np.diag([1.0, 3 * y**2 - 1])
        theta = theta - np.linalg.solve(hessian + 0.3 * np.eye(2), gradient)
        np.testing.assert_allclose(trajectory.iterates[k], theta, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(trajectory.iterates[-1], [0.0, 0.0], atol=1e-8)  # lambda < 1/2
    assert figure.axes[0].get_title().startswith("stuck at the saddle")
    figure, trajectory = second_order.damping_figure(2.0, steps=30)
    assert trajectory.loss[-1] == pytest.approx(-0.25, abs=1e-8)  # lambda > 1: a minimum
    assert figure.axes[0].get_title().startswith("reached a minimum")
    adapted = second_order.damping_run(0.01, adapt=True, steps=10)
    assert adapted.info["damping"][-1] < 0.01  # Levenberg-Marquardt shrinks it on the saddle


def test_damping_run_validates_its_arguments():
    with pytest.raises(ValueError, match=r"damping must be in \[0, inf\)"):
        second_order.damping_run(-1.0)
    with pytest.raises(ValueError, match=r"damping must be in \(0, inf\) when adapt=True"):
        second_order.damping_run(0.0, adapt=True)
    with pytest.raises(ValueError, match="adapt must be True or False"):
        second_order.damping_run(1.0, adapt="yes")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        second_order.damping_figure(1.0, steps=0)


def test_damping_explorer_builds():
    explorer = second_order.damping_explorer(steps=3)
    assert [child.description for child in explorer.children[:2]] == [
        "damping lambda",
        "Levenberg-Marquardt adaptation",
    ]
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        second_order.damping_explorer(steps=0)


# --------------------------------------------------------------------------- plots.spectral_density


def test_spectral_density_plot_draws_density_nodes_and_histogram(diagonal_density):
    eigenvalues, density = diagonal_density
    ax = plots.spectral_density(density, eigenvalues=eigenvalues, title="diag")
    assert labelled(ax) and ax.get_yscale() == "log" and ax.get_title() == "diag"
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), density.grid)
    np.testing.assert_allclose(line.get_ydata(), density.density)
    np.testing.assert_allclose(
        np.sort(ax.get_lines()[1].get_xdata()), np.sort(np.tile(eigenvalues, 3))
    )
    heights = [patch.get_height() for patch in ax.patches]
    widths = [patch.get_width() for patch in ax.patches]
    assert len(heights) == 100 and np.dot(heights, widths) == pytest.approx(1.0)
    linear = plots.spectral_density(density, log_scale=False, xlim=(-1.0, 1.0))
    assert linear.get_yscale() == "linear" and linear.get_xlim() == (-1.0, 1.0)
    assert not linear.patches
    # zoomed in, each eigenvalue still weighs 1/n: 6 of the 8 lie in [-1, 1] (1 on the edge)
    zoomed = plots.spectral_density(density, eigenvalues=eigenvalues, xlim=(-1.0, 1.0), bins=10)
    area = sum(patch.get_height() * patch.get_width() for patch in zoomed.patches)
    assert area == pytest.approx(6 / 8)


def test_spectral_density_plot_validates_its_arguments(diagonal_density):
    eigenvalues, density = diagonal_density
    with pytest.raises(ValueError, match="density must be a SpectralDensity"):
        plots.spectral_density(eigenvalues)
    with pytest.raises(ValueError, match="eigenvalues must be a non-empty 1-D array"):
        plots.spectral_density(density, eigenvalues=np.ones((2, 2)))
    with pytest.raises(ValueError, match="eigenvalues must be finite"):
        plots.spectral_density(density, eigenvalues=np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="bins must be an integer >= 1"):
        plots.spectral_density(density, bins=0)
    with pytest.raises(ValueError, match="xlim must be a pair"):
        plots.spectral_density(density, xlim=(1.0, -1.0))
    with pytest.raises(ValueError, match="log_scale must be True or False"):
        plots.spectral_density(density, log_scale="yes")


# --------------------------------------------------------------------------- exercise checks


def _solution_step(gradient, hessian, damping):
    return -np.linalg.solve(np.asarray(hessian) + damping * np.eye(len(gradient)), gradient)


def _solution_ratio(loss_fn, theta, step, gradient, hessian, damping):
    return (loss_fn(theta + step) - loss_fn(theta)) / (
        gradient @ step + 0.5 * step @ hessian @ step
    )


def _solution_update(damping, rho):
    return 1.5 * damping if rho < 0.25 else damping * 2 / 3 if rho > 0.75 else damping


@pytest.mark.parametrize(
    ("check", "answer", "hint"),
    [
        (
            "check_hessian_at",
            lambda x, y: np.array([3 * x**2 * y**2 + 2 * y, 2 * x**3 * y + 2 * x - 3 * y**2]),
            "the gradient",
        ),
        ("check_damped_newton_step", lambda g, h, lam: -_solution_step(g, h, lam), "sign"),
        ("check_damped_newton_step", lambda g, h, lam: _solution_step(g, h, 0.0), "undamped"),
        (
            "check_reduction_ratio",
            lambda f, t, d, g, h, lam: _solution_ratio(f, t, d, g, h + lam * jnp.eye(2), lam),
            "undamped model",
        ),
        (
            "check_levenberg_marquardt_update",
            lambda lam, rho: 1 / _solution_update(1 / lam, rho),
            "swapped",
        ),
    ],
)
def test_exercise_checks_name_the_common_mistakes(check, answer, hint):
    from lecture_lib import checks

    with pytest.raises(checks.CheckFailed, match=hint):
        getattr(checks.newton, check)(answer)


def test_exercise_checks_pass_the_solutions(capsys):
    from lecture_lib import checks

    checks.newton.check_hessian_at(
        lambda x, y: np.array(
            [[6 * x * y**2, 6 * x**2 * y + 2], [6 * x**2 * y + 2, 2 * x**3 - 6 * y]]
        )
    )
    checks.newton.check_damped_newton_step(_solution_step)
    checks.newton.check_reduction_ratio(_solution_ratio)
    checks.newton.check_levenberg_marquardt_update(_solution_update)
    assert capsys.readouterr().out.count("Well done!") == 4
