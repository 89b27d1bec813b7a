"""Problems: closed forms against jax.hessian / jax.grad, and data problems' contracts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from lecture_lib import problems

KEY = jax.random.PRNGKey(0)


def flat_hessian(problem, params):
    flat, unravel = ravel_pytree(params)
    return jax.hessian(lambda v: problem.loss(unravel(v), problem.data))(flat)


@pytest.mark.usefixtures("x64")
def test_quadratic_spectrum_and_hessian():
    problem = problems.quadratic([0.5, 3.0, 10.0], rotation_key=jax.random.PRNGKey(7))
    theta = problem.init(KEY)
    dense = jax.hessian(problem.loss)(theta, None)
    np.testing.assert_allclose(dense, problem.hessian(theta), atol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(dense), [0.5, 3.0, 10.0], rtol=1e-12)
    assert problem.smoothness == 10.0 and problem.strong_convexity == 0.5
    assert problem.condition_number == pytest.approx(20.0)
    np.testing.assert_allclose(jax.grad(problem.loss)(problem.optimum, None), 0.0, atol=1e-12)
    # The default start is one unit along every eigendirection: distance sqrt(dim).
    assert float(jnp.linalg.norm(theta - problem.optimum)) == pytest.approx(np.sqrt(3.0))


def test_quadratic_from_condition_number():
    problem = problems.quadratic(condition_number=50.0, dim=4)
    assert problem.smoothness == pytest.approx(1.0)
    assert problem.strong_convexity == pytest.approx(1 / 50.0)


def test_rotated_2d_quadratic_is_not_axis_aligned():
    problem = problems.quadratic([1.0, 10.0], angle=np.pi / 6)
    off_diagonal = problem.hessian(problem.init(KEY))[0, 1]
    assert abs(float(off_diagonal)) > 1.0


def test_rosenbrock_and_saddle_stationary_points():
    rosen = problems.rosenbrock()
    np.testing.assert_allclose(jax.grad(rosen.loss)(rosen.optimum, None), 0.0, atol=1e-6)
    assert float(rosen.loss(rosen.optimum, None)) == 0.0
    saddle = problems.saddle()
    origin = jnp.zeros(2)
    np.testing.assert_allclose(jax.grad(saddle.loss)(origin, None), 0.0)
    np.testing.assert_allclose(np.linalg.eigvalsh(saddle.hessian(origin)), [-1.0, 1.0], atol=1e-6)
    assert float(saddle.loss(saddle.optimum, None)) == pytest.approx(saddle.optimal_loss)
    np.testing.assert_allclose(jax.grad(saddle.loss)(saddle.optimum, None), 0.0, atol=1e-6)


def test_linear_regression_closed_forms_match_autodiff():
    problem = problems.linear_regression(l2=1e-2)
    params = problem.init(KEY)
    dense = flat_hessian(problem, params)
    np.testing.assert_allclose(dense, problem.hessian(params), rtol=1e-4, atol=1e-4)
    eigenvalues = np.linalg.eigvalsh(np.asarray(dense, np.float64))
    assert problem.smoothness == pytest.approx(eigenvalues.max(), rel=1e-3)
    assert problem.strong_convexity == pytest.approx(eigenvalues.min(), rel=1e-2)
    grad_at_optimum, _ = ravel_pytree(jax.grad(problem.loss)(problem.optimum, problem.data))
    assert float(jnp.linalg.norm(grad_at_optimum)) < 1e-4
    assert float(problem.full_loss(problem.optimum)) == pytest.approx(
        problem.optimal_loss, rel=1e-5
    )
    assert float(problem.full_loss(params)) > problem.optimal_loss


@pytest.mark.parametrize(
    "make, output_shape",
    [
        (problems.logistic_regression, ()),
        (problems.softmax_regression, (10,)),
        (lambda: problems.mlp(hidden_sizes=(16, 8)), (10,)),
        (problems.linear_regression, ()),
    ],
)
def test_data_problem_contract(make, output_shape):
    problem = make()
    params = problem.init(KEY)
    x, y = problem.data
    outputs = problem.predict(params, x)
    assert outputs.shape == (x.shape[0], *output_shape)
    assert jnp.isfinite(problem.full_loss(params))
    samples = problem.sample_targets(jax.random.PRNGKey(1), outputs)
    assert samples.shape == y.shape
    # The loss is the output loss of the predictions plus the weight penalty.
    penalty = problem.full_loss(params) - problem.output_loss(outputs, y)
    assert float(penalty) >= -1e-6
    assert problem.test_data[0].shape[1] == x.shape[1]


def test_logistic_regression_keeps_two_classes_and_learns():
    problem = problems.logistic_regression(classes=(3, 8))
    assert set(np.unique(np.asarray(problem.data[1]))) == {0.0, 1.0}
    from lecture_lib import optim, run

    trajectory = run(optim.gd(0.5), problem, 100, KEY)
    assert problems.accuracy(problem, trajectory.final_params) > 0.9


def test_penalty_applies_to_weights_only():
    params = {"w": jnp.array([3.0, 4.0]), "b": jnp.array(100.0)}
    assert float(problems._weight_penalty(params)) == pytest.approx(12.5)
    layers = [{"w": jnp.ones((2, 2)), "b": jnp.ones(2)}]
    assert float(problems._weight_penalty(layers)) == pytest.approx(2.0)


def test_softmax_cross_entropy_against_closed_form():
    logits = jnp.array([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]])
    labels = jnp.array([1, 2])
    first = -np.log(np.exp(2.0) / (np.exp(1.0) + np.exp(2.0) + np.exp(0.5)))
    expected = (first + np.log(3.0)) / 2
    assert float(problems.softmax_cross_entropy(logits, labels)) == pytest.approx(
        expected, rel=1e-6
    )
    assert float(
        problems.binary_cross_entropy(jnp.array([0.0]), jnp.array([1.0]))
    ) == pytest.approx(np.log(2.0), rel=1e-6)


@pytest.mark.usefixtures("x64")
def test_noisy_quadratic_noise_covariance_is_curvature_over_batch_size():
    problem = problems.noisy_quadratic(dim=6, num_examples=20000, key=jax.random.PRNGKey(3))
    theta = problem.init(KEY)
    x, y = problem.data
    grad = jax.grad(problem.loss)
    full = grad(theta, problem.data)
    np.testing.assert_allclose(
        jax.hessian(problem.loss)(theta, problem.data), problem.hessian(theta)
    )
    np.testing.assert_allclose(grad(problem.optimum, problem.data), 0.0, atol=1e-10)
    assert float(problem.full_loss(problem.optimum)) == pytest.approx(problem.optimal_loss)
    per_example = jax.vmap(lambda xi: grad(theta, (xi[None], y[:1])))(x)
    covariance = np.cov(np.asarray(per_example - full).T)
    curvature = np.diag(np.asarray(problem.hessian(theta)))
    np.testing.assert_allclose(np.diag(covariance), curvature, rtol=0.05)
    off_diagonal = covariance - np.diag(np.diag(covariance))
    assert np.abs(off_diagonal).max() < 0.05
