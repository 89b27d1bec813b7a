"""Curvature products and dense matrices against oracles built here from their definitions."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import curvature, problems

NUM_EXAMPLES = 24


def _subset(problem, num_examples=NUM_EXAMPLES):
    x, y = problem.data
    return x[:num_examples], y[:num_examples]


def _float64(tree):
    return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf, jnp.float64), tree)


def _setup(problem, seed=0, scale=1.0):
    params = _float64(problem.init(jax.random.PRNGKey(seed)))
    # Move away from the near-zero initialisation so the outputs are not all equal.
    params = jax.tree_util.tree_map(
        lambda p, k: p + scale * jax.random.normal(k, p.shape, p.dtype),
        params,
        jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(params),
            list(
                jax.random.split(
                    jax.random.PRNGKey(seed + 1), len(jax.tree_util.tree_leaves(params))
                )
            ),
        ),
    )
    x, y = _subset(problem)
    return params, (jnp.asarray(x, jnp.float64), y)


def _random_vector(params, seed=7):
    flat, unflatten = curvature.flatten(params)
    return unflatten(jax.random.normal(jax.random.PRNGKey(seed), flat.shape, flat.dtype))


def _flat(tree):
    return np.asarray(curvature.flatten(tree)[0])


def _penalty_hessian(problem, params):
    flat, unflatten = curvature.flatten(params)
    return jax.hessian(lambda theta: problem.penalty(unflatten(theta)))(flat)


def _linearised_hessian(problem, params, batch):
    """Oracle GGN: the Hessian of the loss of the model's first-order Taylor expansion."""
    x, y = batch
    flat0, unflatten = curvature.flatten(params)

    def loss_of_linear_model(theta):
        outputs0, directional = jax.jvp(
            lambda t: problem.predict(unflatten(t), x), (flat0,), (theta - flat0,)
        )
        return problem.output_loss(outputs0 + directional, y) + problem.penalty(unflatten(theta))

    return np.asarray(jax.hessian(loss_of_linear_model)(flat0))


def _example_gradients(problem, params, x, labels):
    """Rows: the gradient of each example's loss at the given labels (jacobian of the losses)."""
    flat, unflatten = curvature.flatten(params)

    def losses(theta):
        outputs = problem.predict(unflatten(theta), x)
        return jnp.stack(
            [problem.output_loss(outputs[i : i + 1], labels[i : i + 1]) for i in range(len(x))]
        )

    return np.asarray(jax.jacrev(losses)(flat))


def _categorical_fisher(problem, params, batch):
    """Oracle Fisher: sum over classes of p(c|x_i) g_ic g_ic^T, from parameter gradients."""
    x, _ = batch
    probabilities = np.asarray(jax.nn.softmax(problem.predict(params, x)))
    total = 0.0
    for label in range(probabilities.shape[1]):
        gradients = _example_gradients(problem, params, x, jnp.full(len(x), label))
        total = total + (gradients * probabilities[:, label : label + 1]).T @ gradients
    return total / len(x) + np.asarray(_penalty_hessian(problem, params))


@pytest.fixture(scope="module")
def mlp_problem():
    return problems.mlp((6,), activation="tanh", l2=1e-3)


@pytest.fixture(scope="module")
def softmax_problem():
    return problems.softmax_regression(l2=1e-3)


def test_hvp_equals_dense_hessian_times_vector(x64, mlp_problem):
    params, batch = _setup(mlp_problem)
    flat, unflatten = curvature.flatten(params)
    oracle = jax.hessian(lambda theta: mlp_problem.loss(unflatten(theta), batch))(flat)
    vector = _random_vector(params)
    np.testing.assert_allclose(
        _flat(curvature.hvp(mlp_problem, params, batch, vector)),
        np.asarray(oracle) @ _flat(vector),
        rtol=1e-9,
        atol=1e-11,
    )
    np.testing.assert_allclose(
        curvature.hessian(mlp_problem, params, batch), oracle, rtol=1e-12, atol=1e-14
    )


def test_hvp_on_analytic_problem_uses_the_closed_form(x64):
    problem = problems.rosenbrock()
    params = jnp.array([0.3, -0.4])
    vector = jnp.array([1.0, 2.0])
    np.testing.assert_allclose(
        curvature.hvp(problem, params, None, vector), problem.hessian(params) @ vector, rtol=1e-12
    )


@pytest.mark.parametrize("problem_name", ["mlp_problem", "softmax_problem"])
def test_ggn_is_the_hessian_of_the_linearised_model(x64, problem_name, request):
    problem = request.getfixturevalue(problem_name)
    params, batch = _setup(problem, scale=0.3)
    oracle = _linearised_hessian(problem, params, batch)
    dense = np.asarray(curvature.ggn(problem, params, batch))
    np.testing.assert_allclose(dense, oracle, rtol=1e-9, atol=1e-12)
    vector = _random_vector(params)
    np.testing.assert_allclose(
        _flat(curvature.ggn_vp(problem, params, batch, vector)),
        oracle @ _flat(vector),
        rtol=1e-9,
        atol=1e-12,
    )


def test_ggn_differs_from_the_hessian_of_a_nonlinear_model(x64, mlp_problem):
    params, batch = _setup(mlp_problem, scale=0.5)
    hessian = np.asarray(curvature.hessian(mlp_problem, params, batch))
    ggn = np.asarray(curvature.ggn(mlp_problem, params, batch))
    assert np.linalg.norm(hessian - ggn) > 1e-3 * np.linalg.norm(hessian)


@pytest.mark.parametrize("problem_name", ["mlp_problem", "softmax_problem"])
def test_fisher_is_the_label_average_of_squared_gradients(x64, problem_name, request):
    problem = request.getfixturevalue(problem_name)
    params, batch = _setup(problem, scale=0.3)
    oracle = _categorical_fisher(problem, params, batch)
    np.testing.assert_allclose(
        curvature.fisher(problem, params, batch), oracle, rtol=1e-9, atol=1e-12
    )
    vector = _random_vector(params)
    np.testing.assert_allclose(
        _flat(curvature.fisher_vp(problem, params, batch, vector)),
        oracle @ _flat(vector),
        rtol=1e-9,
        atol=1e-12,
    )


@pytest.mark.parametrize("problem_name", ["mlp_problem", "softmax_problem"])
def test_empirical_fisher_is_the_mean_outer_product_of_example_gradients(
    x64, problem_name, request
):
    problem = request.getfixturevalue(problem_name)
    params, (x, y) = _setup(problem, scale=0.3)
    gradients = _example_gradients(problem, params, x, y)
    oracle = gradients.T @ gradients / len(x) + np.asarray(_penalty_hessian(problem, params))
    np.testing.assert_allclose(
        curvature.empirical_fisher(problem, params, (x, y)), oracle, rtol=1e-9, atol=1e-12
    )
    vector = _random_vector(params)
    np.testing.assert_allclose(
        _flat(curvature.empirical_fisher_vp(problem, params, (x, y), vector)),
        oracle @ _flat(vector),
        rtol=1e-9,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    "make_problem",
    [
        lambda: problems.mlp((6,), activation="tanh", l2=1e-3),
        lambda: problems.logistic_regression(l2=1e-3),
        lambda: problems.linear_regression(l2=1e-2),
    ],
    ids=["categorical", "bernoulli", "gaussian"],
)
def test_fisher_equals_ggn_for_canonical_links(x64, make_problem):
    problem = make_problem()
    params, batch = _setup(problem, scale=0.3)
    np.testing.assert_allclose(
        curvature.fisher(problem, params, batch),
        curvature.ggn(problem, params, batch),
        rtol=1e-9,
        atol=1e-12,
    )


def test_linear_regression_curvatures_equal_the_closed_form_hessian(x64):
    problem = problems.linear_regression(l2=1e-2)
    params = _float64(problem.init(jax.random.PRNGKey(0)))
    closed_form = np.asarray(problem.hessian(params), np.float64)
    for matrix in (curvature.hessian, curvature.ggn, curvature.fisher):
        np.testing.assert_allclose(matrix(problem, params, problem.data), closed_form, rtol=1e-5)


def test_empirical_fisher_differs_from_fisher_away_from_the_optimum(x64):
    problem = problems.linear_regression(l2=0.0)
    params = jax.tree_util.tree_map(jnp.zeros_like, _float64(problem.init(jax.random.PRNGKey(0))))
    x, y = problem.data
    batch = (jnp.asarray(x, jnp.float64), jnp.asarray(y, jnp.float64))
    fisher = np.asarray(curvature.fisher(problem, params, batch))
    empirical = np.asarray(curvature.empirical_fisher(problem, params, batch))
    # At theta = 0 the residuals are the labels (digits 0..9), so EF = mean y_i^2 x_i x_i^T.
    design = np.concatenate([np.ones((len(x), 1)), np.asarray(x, np.float64)], axis=1)
    labels = np.asarray(y, np.float64)
    np.testing.assert_allclose(
        empirical, (design * labels[:, None] ** 2).T @ design / len(x), rtol=1e-9, atol=1e-12
    )
    assert np.linalg.norm(empirical - fisher) > 10 * np.linalg.norm(fisher)


@pytest.mark.parametrize("matrix", ["ggn", "fisher", "empirical_fisher"])
def test_gauss_newton_matrices_are_positive_semidefinite(x64, mlp_problem, matrix):
    params, batch = _setup(mlp_problem, scale=0.5)
    dense = np.asarray(getattr(curvature, matrix)(mlp_problem, params, batch))
    np.testing.assert_allclose(dense, dense.T, atol=1e-12)
    assert np.linalg.eigvalsh(dense).min() > -1e-10


def test_sampled_fisher_converges_to_the_exact_fisher(x64, mlp_problem):
    params, batch = _setup(mlp_problem, scale=0.3)
    exact = np.asarray(curvature.fisher(mlp_problem, params, batch))
    errors = [
        np.linalg.norm(
            curvature.fisher(mlp_problem, params, batch, key=jax.random.PRNGKey(3), num_samples=n)
            - exact
        )
        for n in (4, 400)
    ]
    assert errors[1] < 0.3 * errors[0]
    assert errors[1] < 0.15 * np.linalg.norm(exact)
    vector = _random_vector(params)
    key = jax.random.PRNGKey(5)
    sampled_dense = curvature.fisher(mlp_problem, params, batch, key=key, num_samples=3)
    np.testing.assert_allclose(
        _flat(curvature.fisher_vp(mlp_problem, params, batch, vector, key=key, num_samples=3)),
        np.asarray(sampled_dense) @ _flat(vector),
        rtol=1e-9,
        atol=1e-12,
    )


@pytest.mark.parametrize("matrix", curvature.MATRICES)
def test_flat_matvec_applies_the_dense_matrix(x64, softmax_problem, matrix):
    params, batch = _setup(softmax_problem, scale=0.3)
    dense = np.asarray(getattr(curvature, matrix)(softmax_problem, params, batch))
    matvec = curvature.flat_matvec(softmax_problem, params, batch, matrix)
    vector = jax.random.normal(jax.random.PRNGKey(2), (dense.shape[0],), jnp.float64)
    np.testing.assert_allclose(matvec(vector), dense @ np.asarray(vector), rtol=1e-9, atol=1e-12)


def test_jacobian_matches_finite_differences(x64, mlp_problem):
    params, (x, _) = _setup(mlp_problem, scale=0.3)
    flat, unflatten = curvature.flatten(params)
    jac = np.asarray(curvature.jacobian(mlp_problem, params, x))
    direction = np.asarray(jax.random.normal(jax.random.PRNGKey(4), flat.shape, jnp.float64))
    step = 1e-6
    plus = mlp_problem.predict(unflatten(flat + step * direction), x)
    minus = mlp_problem.predict(unflatten(flat - step * direction), x)
    np.testing.assert_allclose(
        jac @ direction, np.asarray(plus - minus) / (2 * step), rtol=1e-6, atol=1e-8
    )


# --------------------------------------------------------------------------- Kronecker


def _spd(key, size):
    factor = np.asarray(jax.random.normal(key, (size, size)), np.float64)
    return factor @ factor.T + size * np.eye(size)


def test_kronecker_identities(x64):
    left, right = _spd(jax.random.PRNGKey(0), 4), _spd(jax.random.PRNGKey(1), 3)
    other_left, other_right = _spd(jax.random.PRNGKey(2), 4), _spd(jax.random.PRNGKey(3), 3)
    matrix = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (4, 3)), np.float64)
    np.testing.assert_allclose(curvature.kron(left, right), np.kron(left, right))
    # Mixed product: (A (x) B)(C (x) D) = AC (x) BD.
    np.testing.assert_allclose(
        curvature.kron(left, right) @ curvature.kron(other_left, other_right),
        curvature.kron(left @ other_left, right @ other_right),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        curvature.kron_inverse(left, right), np.linalg.inv(np.kron(left, right)), rtol=1e-10
    )
    np.testing.assert_allclose(
        np.asarray(curvature.kron_matvec(left, right, matrix)).ravel(),
        np.kron(left, right) @ matrix.ravel(),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        np.asarray(curvature.kron_inverse_matvec(left, right, matrix)).ravel(),
        np.linalg.solve(np.kron(left, right), matrix.ravel()),
        rtol=1e-10,
    )


def test_kronecker_vec_trick_matches_the_flatten_order_of_a_dense_layer(x64):
    """A single example's weight gradient a g^T has Fisher block (a a^T) (x) (g g^T)."""
    inputs, output_gradient = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.7])
    weight_gradient = np.outer(inputs, output_gradient)
    flat = np.asarray(curvature.flatten({"w": jnp.asarray(weight_gradient)})[0])
    np.testing.assert_allclose(
        np.outer(flat, flat),
        np.kron(np.outer(inputs, inputs), np.outer(output_gradient, output_gradient)),
    )


# --------------------------------------------------------------------------- bad input


def test_bad_input_names_the_argument(softmax_problem):
    params = softmax_problem.init(jax.random.PRNGKey(0))
    batch = _subset(softmax_problem)
    quadratic = problems.quadratic(condition_number=10.0)
    with pytest.raises(ValueError, match="problem must be a data problem"):
        curvature.ggn_vp(quadratic, jnp.ones(2), None, jnp.ones(2))
    with pytest.raises(ValueError, match="vector must have the structure"):
        curvature.ggn_vp(softmax_problem, params, batch, jnp.ones(3))
    wrong_shape = jax.tree_util.tree_map(lambda p: jnp.ones(p.shape + (1,)), params)
    with pytest.raises(ValueError, match="vector must have the shapes"):
        curvature.hvp(softmax_problem, params, batch, wrong_shape)
    with pytest.raises(ValueError, match="batch must be a pair"):
        curvature.ggn_vp(softmax_problem, params, batch[0], params)
    with pytest.raises(ValueError, match="batch must hold as many labels"):
        curvature.ggn_vp(softmax_problem, params, (batch[0], batch[1][:3]), params)
    with pytest.raises(ValueError, match="matrix must be one of"):
        curvature.flat_matvec(softmax_problem, params, batch, "hessian-ish")
    with pytest.raises(ValueError, match="num_samples"):
        curvature.fisher_vp(softmax_problem, params, batch, params, jax.random.PRNGKey(0), 0)
    odd_loss = dataclasses.replace(softmax_problem, output_loss=lambda z, y: jnp.mean(z**4))
    with pytest.raises(ValueError, match="key is needed"):
        curvature.fisher(odd_loss, params, batch)
    with pytest.raises(ValueError, match="left must be a square"):
        curvature.kron_matvec(jnp.ones((2, 3)), jnp.eye(2), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match=r"matrix must have shape \(2, 3\)"):
        curvature.kron_inverse_matvec(jnp.eye(2), jnp.eye(3), jnp.ones((3, 2)))
