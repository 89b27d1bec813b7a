"""Lecture 5's tools (lecture_lib.natural_gradient) and plots against independent oracles.

The oracles are written here from the definitions in numpy: KL divergences from
probabilities, the KL ball's minimiser by sampling the ellipse, second moments by
enumerating minibatches, Adam's v by stepping ``optim.adam`` itself, structured
approximations and costs by hand.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import curvature, natural_gradient, plots, problems, run
from lecture_lib import natural_gradient as ng
from lecture_lib.optim import adam, gd

KEY = jax.random.PRNGKey(0)


def _float64(tree):
    return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf, jnp.float64), tree)


def _perturbed(problem, seed=0, scale=0.5):
    """Random float64 parameters shaped like ``problem.init``'s (numpy draws: no JAX kernels)."""
    shapes = jax.eval_shape(problem.init, KEY)
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(
        lambda leaf: jnp.asarray(scale * rng.standard_normal(leaf.shape), jnp.float64), shapes
    )


def _shaped_like_init(problem):
    """Zeros shaped like ``problem.init``'s parameters."""
    return jax.tree_util.tree_map(
        lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), jax.eval_shape(problem.init, KEY)
    )


def _subset(problem, count=12):
    x, y = problem.data
    return jnp.asarray(x[:count], jnp.float64), y[:count]


def _small_mlp():
    return problems.mlp(hidden_sizes=(3,), activation="tanh")


# --------------------------------------------------------------------------- matrices


def test_curvature_matrices_and_products_agree(x64):
    problem = _small_mlp()
    params = _perturbed(problem, 7)
    batch = _subset(problem, 8)
    dense = ng.curvature_matrices(problem, params, batch)
    assert set(dense) == set(curvature.MATRICES)
    flat, unflatten = curvature.flatten(params)
    vector = np.random.default_rng(8).standard_normal(flat.size)
    products = ng.curvature_products(problem, params, batch, vector)
    for name in curvature.MATRICES:  # matrix-free (jvp / vjp) against dense (Jacobians)
        np.testing.assert_allclose(products[name], dense[name] @ vector, atol=1e-10)
    hessian = jax.jit(jax.hessian(lambda theta: problem.loss(unflatten(theta), batch)))(flat)
    np.testing.assert_allclose(dense["hessian"], hessian, atol=1e-12)
    gradients = np.asarray(ng.per_example_gradients(problem, params, batch))
    np.testing.assert_allclose(dense["empirical_fisher"], gradients.T @ gradients / 8, atol=1e-12)
    np.testing.assert_allclose(dense["fisher"], dense["ggn"], atol=1e-12)  # canonical link
    together = ng.curvature_set(problem, params, batch, vector)
    for name in curvature.MATRICES:
        np.testing.assert_allclose(together.matrices[name], dense[name], atol=1e-14)
        np.testing.assert_allclose(together.products[name], products[name], atol=1e-14)
    np.testing.assert_allclose(together.example_gradients, gradients, atol=1e-14)
    np.testing.assert_allclose(
        together.gradient, curvature.flatten(jax.grad(problem.loss)(params, batch))[0], atol=1e-14
    )
    with pytest.raises(ValueError, match="vector must be a vector of shape"):
        ng.curvature_set(problem, params, batch, vector[:3])
    with pytest.raises(ValueError, match="names must be a non-empty subset"):
        ng.curvature_matrices(problem, params, batch, names=["newton"])
    with pytest.raises(ValueError, match="names must be a non-empty subset"):
        ng.curvature_matrices(problem, params, batch, names=[])
    with pytest.raises(ValueError, match="vector must be a vector of shape"):
        ng.curvature_products(problem, params, batch, vector[:3])
    with pytest.raises(ValueError, match="data problem"):
        ng.curvature_matrices(problems.rosenbrock(), jnp.zeros(2), None, names=["ggn"])


# --------------------------------------------------------------------------- predictive KL


def test_predictive_kl_of_softmax_matches_numpy(x64):
    problem = problems.softmax_regression()
    x, _ = _subset(problem)
    p_params, q_params = _perturbed(problem, 0), _perturbed(problem, 1)
    p = np.asarray(jax.nn.softmax(np.asarray(x) @ p_params["w"] + p_params["b"]))
    q = np.asarray(jax.nn.softmax(np.asarray(x) @ q_params["w"] + q_params["b"]))
    expected = np.mean(np.sum(p * np.log(p / q), axis=1))
    np.testing.assert_allclose(ng.predictive_kl(problem, p_params, q_params, x), expected, 1e-10)
    assert float(ng.predictive_kl(problem, p_params, p_params, x)) == pytest.approx(0.0, abs=1e-14)


def test_predictive_kl_of_bernoulli_and_gaussian_match_numpy(x64):
    logistic = problems.logistic_regression()
    x, _ = _subset(logistic)
    a, b = _perturbed(logistic, 2, scale=0.1), _perturbed(logistic, 3, scale=0.1)
    p = 1 / (1 + np.exp(-(np.asarray(x) @ a["w"] + a["b"])))
    q = 1 / (1 + np.exp(-(np.asarray(x) @ b["w"] + b["b"])))
    expected = np.mean(p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q)))
    np.testing.assert_allclose(ng.predictive_kl(logistic, a, b, x), expected, rtol=1e-10)

    line = problems.line_fit(num_examples=20)
    theta, other = jnp.array([1.0, 2.0]), jnp.array([-0.5, 0.3])
    xs = np.asarray(line.data[0])
    expected = 0.5 * np.mean(((1.0 - -0.5) * xs + (2.0 - 0.3)) ** 2)
    np.testing.assert_allclose(ng.predictive_kl(line, theta, other, line.data[0]), expected, 1e-12)


def test_predictive_kl_has_the_fisher_as_its_hessian(x64):
    problem = _small_mlp()
    params = _perturbed(problem, 4)
    batch = _subset(problem, 10)
    flat, unflatten = curvature.flatten(params)

    def kl(delta):
        return ng.predictive_kl(problem, params, unflatten(flat + delta), batch[0])

    gradient, hessian = jax.jit(lambda d: (jax.grad(kl)(d), jax.hessian(kl)(d)))(
        jnp.zeros_like(flat)
    )
    fisher = jax.jit(lambda p: curvature.fisher(problem, p, batch))(params)
    np.testing.assert_allclose(hessian, fisher, atol=1e-12)
    np.testing.assert_allclose(gradient, 0.0, atol=1e-12)


def test_predictive_kl_validates():
    problem = problems.softmax_regression()
    params = _shaped_like_init(problem)
    with pytest.raises(ValueError, match="problem must be a data problem"):
        ng.predictive_kl(problems.rosenbrock(), jnp.zeros(2), jnp.zeros(2), jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="x must be a batch"):
        ng.predictive_kl(problem, params, params, jnp.array(1.0))
    with pytest.raises(ValueError, match="other_params must have the structure"):
        ng.predictive_kl(problem, params, [params], problem.data[0][:3])


# --------------------------------------------------------------------------- KL ball


def test_kl_ball_step_beats_every_point_of_the_ellipse():
    rng = np.random.default_rng(0)
    root = rng.normal(size=(3, 3))
    metric = root @ root.T + 0.1 * np.eye(3)
    gradient = rng.normal(size=3)
    radius = 0.7
    step = ng.kl_ball_step(metric, gradient, radius)
    assert 0.5 * step @ metric @ step == pytest.approx(radius)
    # points on the ellipse 1/2 d^T M d = radius: d = L^-T u sqrt(2 radius), |u| = 1
    directions = rng.normal(size=(200000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    cholesky = np.linalg.cholesky(metric)
    points = np.sqrt(2 * radius) * np.linalg.solve(cholesky.T, directions.T).T
    assert (points @ gradient).min() >= gradient @ step - 1e-12
    assert (points @ gradient).min() <= gradient @ step + 1e-2
    np.testing.assert_allclose(
        ng.kl_ball_step(np.eye(3), gradient, radius),
        -np.sqrt(2 * radius) * gradient / np.linalg.norm(gradient),
    )


@pytest.mark.parametrize(
    "metric, gradient, radius, match",
    [
        (np.eye(2), np.zeros(2), 1.0, "gradient must be nonzero"),
        (np.eye(2), np.ones(3), 1.0, "metric must have shape"),
        (np.eye(2), np.ones(2), 0.0, "radius"),
        (np.diag([1.0, -1.0]), np.ones(2), 1.0, "positive definite"),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), np.ones(2), 1.0, "symmetric"),
        (np.ones(2), np.ones(2), 1.0, "square matrix"),
    ],
)
def test_kl_ball_step_validates(metric, gradient, radius, match):
    with pytest.raises(ValueError, match=match):
        ng.kl_ball_step(metric, gradient, radius)


def test_divergence_ball_finds_the_quadratic_boundary():
    metric = np.array([[3.0, 1.0], [1.0, 0.5]])
    metric_j = jnp.asarray(metric, jnp.float32)
    points = ng.divergence_ball(lambda d: 0.5 * d @ metric_j @ d, 0.2, 36, max_length=10.0)
    assert points.shape == (36, 2)
    angles = 2 * np.pi * np.arange(36) / 36
    units = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    expected = np.sqrt(0.4 / np.einsum("ki,ij,kj->k", units, metric, units))[:, None] * units
    np.testing.assert_allclose(points, expected, rtol=1e-5, atol=1e-6)
    both = ng.divergence_ball(lambda d: 0.5 * d @ metric_j @ d, [0.2, 0.8], 36, max_length=10.0)
    assert both.shape == (2, 36, 2)
    np.testing.assert_allclose(both[0], points)
    np.testing.assert_allclose(both[1], 2 * points, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="max_length must reach"):
        ng.divergence_ball(lambda d: 0.5 * d @ metric_j @ d, 0.2, 36, max_length=0.01)
    with pytest.raises(ValueError, match="num_directions"):
        ng.divergence_ball(lambda d: d @ d, 0.2, 2)
    with pytest.raises(ValueError, match="divergence must be a function"):
        ng.divergence_ball(3.0, 0.2)


# --------------------------------------------------------------------------- reparameterisation


def test_reparameterised_problem_transforms_gradient_and_curvature(x64):
    problem = problems.logistic_regression(l2=1e-2)
    params = _perturbed(problem, 5, scale=0.1)
    batch = _subset(problem, 30)
    flat, _ = curvature.flatten(params)
    n = flat.shape[0]
    a = np.eye(n) + 0.3 * np.random.default_rng(1).normal(size=(n, n)) / np.sqrt(n)
    new = ng.reparameterised(problem, a, params)
    phi = jnp.asarray(np.linalg.solve(a, np.asarray(flat)))

    @jax.jit
    def measure(params, phi):
        return {
            "loss": (problem.loss(params, batch), new.loss(phi, batch)),
            "grad": (
                curvature.flatten(jax.grad(problem.loss)(params, batch))[0],
                jax.grad(new.loss)(phi, batch),
            ),
            "fisher": (
                curvature.fisher(problem, params, batch),
                curvature.fisher(new, phi, batch),
            ),
        }

    got = measure(params, phi)
    np.testing.assert_allclose(got["loss"][1], got["loss"][0], rtol=1e-12)
    gradient = np.asarray(got["grad"][0])
    np.testing.assert_allclose(got["grad"][1], a.T @ gradient, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(got["fisher"][1], a.T @ got["fisher"][0] @ a, atol=1e-10)
    # a natural-gradient step in phi is the same step in theta; a gradient step is not
    step_phi = ng.preconditioned_direction(new, phi, "fisher", batch=batch)
    step_theta = ng.preconditioned_direction(problem, params, "fisher", batch=batch)
    np.testing.assert_allclose(a @ step_phi, step_theta, rtol=1e-6, atol=1e-9)
    gd_phi = ng.preconditioned_direction(new, phi, "identity", batch=batch)
    assert np.linalg.norm(a @ gd_phi + gradient) > 0.1 * np.linalg.norm(gradient)
    start = curvature.flatten(jax.jit(problem.init)(KEY))[0]
    np.testing.assert_allclose(
        jax.jit(new.init)(KEY), np.linalg.solve(a, start), rtol=1e-10, atol=1e-14
    )


def test_reparameterised_line_fit_maps_optimum_and_hessian(x64):
    line = problems.line_fit()
    a = np.array([[2.0, 1.0], [0.0, 0.5]])
    new = ng.reparameterised(line, a, line.optimum)
    np.testing.assert_allclose(a @ np.asarray(new.optimum), line.optimum, rtol=1e-10)
    np.testing.assert_allclose(new.hessian(new.optimum), a.T @ line.hessian(line.optimum) @ a)
    np.testing.assert_allclose(new.full_loss(new.optimum), line.optimal_loss, rtol=1e-10)


def test_reparameterised_validates():
    line = problems.line_fit()
    with pytest.raises(ValueError, match="matrix must be invertible"):
        ng.reparameterised(line, np.ones((2, 2)), line.optimum)
    with pytest.raises(ValueError, match=r"matrix must have shape \(2, 2\)"):
        ng.reparameterised(line, np.eye(3), line.optimum)
    with pytest.raises(ValueError, match="problem must be"):
        ng.reparameterised("line", np.eye(2), line.optimum)


# --------------------------------------------------------------------------- directions and paths


def test_preconditioned_directions_on_the_line_fit(x64):
    line = problems.line_fit()
    theta = jnp.array([-1.0, 2.5])
    gradient = np.asarray(jax.grad(line.loss)(theta))
    np.testing.assert_allclose(ng.preconditioned_direction(line, theta, "identity"), -gradient)
    # least squares: F = H, so the natural gradient points exactly at the optimum
    for matrix in ("fisher", "hessian", "ggn"):
        np.testing.assert_allclose(
            ng.preconditioned_direction(line, theta, matrix), line.optimum - theta, rtol=1e-9
        )
    x, y = (np.asarray(a) for a in line.data)
    residual = theta[0] * x + theta[1] - y
    design = np.stack([x, np.ones_like(x)], axis=1)
    ef = (design * residual[:, None] ** 2).T @ design / len(x)
    np.testing.assert_allclose(
        ng.preconditioned_direction(line, theta, "empirical_fisher", damping=0.1),
        -np.linalg.solve(ef + 0.1 * np.eye(2), gradient),
        rtol=1e-9,
    )
    huge = ng.preconditioned_direction(line, theta, "fisher", damping=1e8)
    np.testing.assert_allclose(huge * 1e8, -gradient, rtol=1e-6)
    with pytest.raises(ValueError, match="matrix must be one of"):
        ng.preconditioned_direction(line, theta, "newton")
    with pytest.raises(ValueError, match="damping"):
        ng.preconditioned_direction(line, theta, "fisher", damping=-1.0)


def test_preconditioned_descent_paths(x64):
    line = problems.line_fit()
    path = ng.preconditioned_descent(line, 40, 0.2, "identity")
    trajectory = run(gd(0.2), line, 40, KEY)
    assert path.iterates.shape == (41, 2) and path.loss.shape == (41,)
    np.testing.assert_allclose(path.iterates, trajectory.iterates, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(path.loss, trajectory.loss, rtol=1e-9)
    one = ng.preconditioned_descent(line, 1, 1.0, "fisher")
    np.testing.assert_allclose(one.iterates[-1], line.optimum, rtol=1e-9)
    # with a small step the natural gradient walks the straight segment to the optimum
    natural = ng.preconditioned_descent(line, 20, 0.1, "fisher")
    start, optimum = natural.iterates[0], np.asarray(line.optimum)
    fractions = 1 - 0.9 ** np.arange(21)
    np.testing.assert_allclose(
        natural.iterates, start + fractions[:, None] * (optimum - start), rtol=1e-9
    )
    with pytest.raises(ValueError, match="steps"):
        ng.preconditioned_descent(line, 0, 0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        ng.preconditioned_descent(line, 3, 0.0)


def test_preconditioned_descent_is_optim_natural_gradient(x64):
    from lecture_lib.optim import natural_gradient as natural_gradient_method

    line = problems.line_fit(num_examples=30)
    for fisher, matrix in (("true", "fisher"), ("empirical", "empirical_fisher")):
        method = natural_gradient_method(line, damping=1e-3, fisher=fisher, learning_rate=0.2)
        trajectory = run(method, line, 10, KEY)
        path = ng.preconditioned_descent(line, 10, 0.2, matrix, damping=1e-3)
        np.testing.assert_allclose(path.iterates, trajectory.iterates, rtol=1e-9, atol=1e-12)


def test_direction_field_evaluates_on_the_grid():
    grid_x, grid_y, values = ng.direction_field(
        lambda p: {"double": 2 * p, "norm": jnp.sum(p**2)}, (-1, 1), (0, 3), resolution=4
    )
    assert grid_x.shape == grid_y.shape == (4, 4)
    np.testing.assert_allclose(grid_x[0], np.linspace(-1, 1, 4))
    np.testing.assert_allclose(grid_y[:, 0], np.linspace(0, 3, 4))
    np.testing.assert_allclose(values["double"], 2 * np.stack([grid_x, grid_y], -1), rtol=1e-6)
    np.testing.assert_allclose(values["norm"], grid_x**2 + grid_y**2, rtol=1e-6)
    with pytest.raises(ValueError, match="xlim must be increasing"):
        ng.direction_field(lambda p: p, (1, -1), (0, 1))
    with pytest.raises(ValueError, match="resolution"):
        ng.direction_field(lambda p: p, (0, 1), (0, 1), resolution=1)
    with pytest.raises(ValueError, match="ylim must be a pair"):
        ng.direction_field(lambda p: p, (0, 1), (0, 1, 2))


def test_angle_between():
    np.testing.assert_allclose(ng.angle_between([1, 0], [0, 2]), 90.0)
    np.testing.assert_allclose(ng.angle_between([1, 1], [2, 2]), 0.0, atol=1e-6)
    np.testing.assert_allclose(ng.angle_between([[1, 0], [1, 0]], [[-1, 0], [1, 1]]), [180, 45])
    with pytest.raises(ValueError, match="nonzero"):
        ng.angle_between([0, 0], [1, 0])
    with pytest.raises(ValueError, match="same length"):
        ng.angle_between([1, 0, 0], [1, 0])


# --------------------------------------------------------------------------- Adam and the EF


def test_per_example_gradients_give_the_gradient_and_the_empirical_fisher(x64):
    problem = problems.softmax_regression(l2=0.1)
    params = _perturbed(problem, 6, scale=0.2)
    batch = _subset(problem, 15)
    gradients = np.asarray(ng.per_example_gradients(problem, params, batch))
    assert gradients.shape == (15, 650)

    @jax.jit
    def oracles(params):
        data_loss = lambda p: problem.output_loss(problem.predict(p, batch[0]), batch[1])  # noqa: E731
        gradient = curvature.flatten(jax.grad(data_loss)(params))[0]
        return gradient, curvature.empirical_fisher(problem, params, batch)

    gradient, empirical_fisher = oracles(params)
    np.testing.assert_allclose(gradients.mean(axis=0), gradient, atol=1e-12)
    penalty = 0.1 * np.diag(np.r_[np.zeros(10), np.ones(640)])  # b before w; b not penalised
    np.testing.assert_allclose(gradients.T @ gradients / 15 + penalty, empirical_fisher, atol=1e-12)
    with pytest.raises(ValueError, match="as many labels"):
        ng.per_example_gradients(problem, params, (batch[0], batch[1][:3]))


def test_minibatch_second_moment_by_enumeration():
    gradients = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, 1.0]])
    for batch_size in (1, 2, 3):
        draws = itertools.product(range(3), repeat=batch_size)
        expected = np.mean([gradients[list(d)].mean(axis=0) ** 2 for d in draws], axis=0)
        np.testing.assert_allclose(ng.minibatch_second_moment(gradients, batch_size), expected)
    np.testing.assert_allclose(ng.minibatch_second_moment(gradients, 1), np.mean(gradients**2, 0))
    with pytest.raises(ValueError, match="batch_size"):
        ng.minibatch_second_moment(gradients, 0)
    with pytest.raises(ValueError, match="gradients must have shape"):
        ng.minibatch_second_moment(np.ones(3), 1)


def test_adam_second_moment_is_adams_bias_corrected_v():
    rng = np.random.default_rng(1)
    gradients = jnp.asarray(rng.standard_normal((7, 4)) * np.array([1.0, 0.1, 3.0, 0.5]))
    key, steps, b2 = jax.random.PRNGKey(2), 12, 0.9
    for batch_size in (1, 3):
        # the same draws, fed to optim.adam one step at a time
        optimizer = adam(1.0, b1=0.0, b2=b2, eps=0.0)
        state = optimizer.init(gradients[0])
        update = jax.jit(optimizer.update)
        draws = np.asarray(
            jax.vmap(lambda k: jax.random.randint(k, (3,), 0, 7))(jax.random.split(key, steps))
        )
        for index in draws[:, :batch_size]:
            _, state = update(jnp.mean(gradients[index], axis=0), state)
        expected = np.asarray(state.nu) / (1 - b2**steps)
        got = ng.adam_second_moment(gradients, key, steps, batch_size=[batch_size, 3], b2=b2)
        np.testing.assert_allclose(got[0], expected, rtol=1e-5)


def test_adam_second_moment_tends_to_the_minibatch_second_moment():
    gradients = jnp.asarray(np.random.default_rng(3).standard_normal((50, 6)) + np.arange(6) * 0.3)
    got = ng.adam_second_moment(gradients, KEY, 20000, batch_size=[1, 5], b2=0.9995)
    for row, batch_size in zip(got, (1, 5), strict=True):
        expected = ng.minibatch_second_moment(np.asarray(gradients), batch_size)
        np.testing.assert_allclose(row, expected, rtol=0.12)
    single = ng.adam_second_moment(gradients, KEY, 10, batch_size=2, b2=0.5)
    assert single.shape == (6,)
    assert ng.adam_second_moment(gradients, KEY, 10, b2=[0.5, 0.9, 0.99]).shape == (3, 6)
    with pytest.raises(ValueError, match="b2"):
        ng.adam_second_moment(gradients, KEY, 10, b2=1.0)
    with pytest.raises(ValueError, match="same length"):
        ng.adam_second_moment(gradients, KEY, 10, batch_size=[1, 2], b2=[0.9, 0.9, 0.9])
    with pytest.raises(ValueError, match="steps"):
        ng.adam_second_moment(gradients, KEY, 0)


# --------------------------------------------------------------------------- structure and costs


def test_block_sizes_follow_the_flatten_order():
    params = _shaped_like_init(problems.mlp(hidden_sizes=(8, 8)))
    assert ng.block_sizes(params) == [65 * 8, 9 * 8, 9 * 10]
    assert ng.block_sizes(params, "leaf") == [8, 64 * 8, 8, 8 * 8, 10, 8 * 10]
    # mark each layer with its index and check the flattened vector's segments
    marked = [jax.tree_util.tree_map(lambda a, i=i: jnp.full_like(a, i), p) for i, p in enumerate(
        params)]  # fmt: skip
    flat = np.asarray(curvature.flatten(marked)[0])
    edges = np.cumsum([0, *ng.block_sizes(params)])
    for index in range(3):
        assert np.all(flat[edges[index] : edges[index + 1]] == index)
    with pytest.raises(ValueError, match="level"):
        ng.block_sizes(params, "neuron")


def test_block_diagonal_and_diagonal_approximations():
    matrix = np.arange(25.0).reshape(5, 5)
    blocked = ng.block_diagonal(matrix, [2, 3])
    expected = np.zeros((5, 5))
    expected[:2, :2], expected[2:, 2:] = matrix[:2, :2], matrix[2:, 2:]
    np.testing.assert_array_equal(blocked, expected)
    np.testing.assert_array_equal(ng.diagonal_approximation(matrix), np.diag(np.diag(matrix)))
    np.testing.assert_array_equal(ng.block_diagonal(matrix, [1] * 5), np.diag(np.diag(matrix)))
    assert ng.relative_frobenius_error(matrix, matrix) == 0.0
    off = matrix - expected
    assert ng.relative_frobenius_error(blocked, matrix) == pytest.approx(
        np.sqrt(np.sum(off**2) / np.sum(matrix**2))
    )
    with pytest.raises(ValueError, match="blocks must add up"):
        ng.block_diagonal(matrix, [2, 2])
    with pytest.raises(ValueError, match=r"blocks\[0\]"):
        ng.block_diagonal(matrix, [0, 5])
    with pytest.raises(ValueError, match="square matrix"):
        ng.diagonal_approximation(np.ones((2, 3)))
    with pytest.raises(ValueError, match="exact must be nonzero"):
        ng.relative_frobenius_error(np.ones((2, 2)), np.zeros((2, 2)))


def test_layer_shapes_and_approximation_costs():
    params = _shaped_like_init(problems.mlp(hidden_sizes=(8, 8)))
    assert ng.layer_shapes(params) == [(64, 8), (8, 8), (8, 10)]
    costs = ng.approximation_costs([(2, 3), (3, 1)])
    sizes = [9, 4]
    assert costs["full"] == (13**2, 13**3)
    assert costs["block-diagonal (layers)"] == (81 + 16, 729 + 64)
    assert costs["Kronecker factors"] == (9 + 9 + 16 + 1, 27 + 27 + 64 + 1)
    assert costs["diagonal"] == (sum(sizes), sum(sizes))
    big = ng.approximation_costs([(784, 1000), (1000, 500), (500, 10)])
    n = 785 * 1000 + 1001 * 500 + 501 * 10
    assert big["full"].inversion == n**3  # exact Python integers
    order = [big[name].storage for name in ng.APPROXIMATIONS]
    assert order == sorted(order, reverse=True)
    table = ng.format_cost_table({"tiny": costs, "big": big})
    assert "tiny storage" in table and "Kronecker factors" in table and f"{n**2:.3g}" in table
    with pytest.raises(ValueError, match="shapes must list"):
        ng.approximation_costs([])
    with pytest.raises(ValueError, match="fan_out"):
        ng.approximation_costs([(2, 0)])
    with pytest.raises(ValueError, match="params must be a non-empty list"):
        ng.layer_shapes({"w": jnp.ones((2, 2))})
    with pytest.raises(ValueError, match=r"costs\['x'\] must be the output"):
        ng.format_cost_table({"x": {"full": (1, 1)}})


# --------------------------------------------------------------------------- line-fit figure


def test_line_fit_runs_and_figure():
    figure, result = ng.line_fit_figure(1e-6, 0.1, steps=5, resolution=5)
    assert len(figure.axes) == 3
    for ax in figure.axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_legend() is not None
    line = ng.line_fit_problem()
    assert set(result.fields) == set(ng.LINE_FIT_METHODS)
    to_optimum = np.asarray(line.optimum) - np.stack([result.grid_x, result.grid_y], -1)
    assert ng.angle_between(result.fields["natural gradient (Fisher)"], to_optimum).max() < 0.01
    assert ng.angle_between(result.fields["empirical Fisher"], to_optimum).max() > 30
    assert result.paths["gradient descent"].iterates.shape == (6, 2)
    np.testing.assert_allclose(
        result.paths["gradient descent"].iterates,
        ng.preconditioned_descent(line, 5, 0.1, "identity").iterates,
    )
    damped = ng.line_fit_runs(damping=1e6, learning_rate=0.1, steps=5, resolution=5)
    gd_field = damped.fields["gradient descent"]
    for name in ("empirical Fisher", "natural gradient (Fisher)"):
        assert ng.angle_between(damped.fields[name], gd_field).max() < 0.01
    with pytest.raises(ValueError, match="damping"):
        ng.line_fit_runs(damping=-1.0)
    with pytest.raises(ValueError, match="two parameters"):
        ng.line_fit_runs(problem=problems.softmax_regression())


def test_damping_explorer_builds():
    explorer = natural_gradient.damping_explorer(steps=5, resolution=5)  # compiled above
    assert [child.description for child in explorer.children[:2]] == ["damping", "step size"]
    with pytest.raises(ValueError, match="steps"):
        natural_gradient.damping_explorer(steps=0)


# --------------------------------------------------------------------------- plots


def test_matrix_heatmap_shows_magnitudes_and_blocks():
    matrix = np.array([[4.0, -1.0, 0.0], [-1.0, 2.0, 0.0], [0.0, 0.0, 1e-3]])
    ax = plots.matrix_heatmap(matrix, blocks=[2, 1], title="a matrix")
    assert ax.get_title() == "a matrix" and ax.get_xlabel() and ax.get_ylabel()
    image = ax.get_images()[0]
    data = image.get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(data), matrix == 0)
    np.testing.assert_allclose(data.filled(0), np.abs(matrix))
    assert image.norm.vmax == 4.0 and image.norm.vmin == pytest.approx(4e-4)
    assert ax.get_legend() is not None  # the block borders
    assert len(ax.figure.axes) == 2  # the colour bar
    with pytest.raises(ValueError, match="blocks must add up"):
        plots.matrix_heatmap(matrix, blocks=[1, 1])
    with pytest.raises(ValueError, match="square"):
        plots.matrix_heatmap(np.ones((2, 3)))
    with pytest.raises(ValueError, match="nonzero"):
        plots.matrix_heatmap(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="dynamic_range"):
        plots.matrix_heatmap(matrix, dynamic_range=0.5)


def test_vector_field_draws_unit_arrows_and_paths():
    line = problems.line_fit()
    grid_x, grid_y = np.meshgrid(np.linspace(-1, 2, 4), np.linspace(-2, 2, 3))
    directions = np.stack([grid_x * 3, grid_y + 5], axis=-1)
    path = np.array([[-1.0, 1.0], [0.0, 0.5], [1.0, 0.0]])
    ax = plots.vector_field(line, grid_x, grid_y, directions, paths={"a path": path}, title="t")
    quiver = [c for c in ax.collections if c.__class__.__name__ == "Quiver"][0]
    np.testing.assert_allclose(np.hypot(quiver.U, quiver.V), 1.0)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "a path" in labels and "minimum" in labels and "direction" in labels
    np.testing.assert_allclose(ax.get_lines()[-1].get_xydata(), path)
    assert ax.get_title() == "t" and ax.get_xlim() == (-1.0, 2.0)
    raw = plots.vector_field(line, grid_x, grid_y, directions, normalise=False)
    quiver = [c for c in raw.collections if c.__class__.__name__ == "Quiver"][0]
    np.testing.assert_allclose(quiver.U.ravel(), (grid_x * 3).ravel())
    with pytest.raises(ValueError, match="directions must have shape"):
        plots.vector_field(line, grid_x, grid_y, directions[..., :1])
    with pytest.raises(ValueError, match="grid_x and grid_y"):
        plots.vector_field(line, grid_x, grid_y[:2], directions)
    with pytest.raises(ValueError, match=r"paths\['bad'\]"):
        plots.vector_field(line, grid_x, grid_y, directions, paths={"bad": np.ones(3)})
