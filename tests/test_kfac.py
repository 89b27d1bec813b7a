"""K-FAC against oracles built here: numpy Kronecker products, dense Fisher/GGN, dense solves."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import curvature, nn, problems
from lecture_lib.optim import KFACState, kfac, levenberg_marquardt, reduction_ratio
from lecture_lib.optim.kfac import (
    _resolve_activation,
    damp_factors,
    kfac_block,
    kfac_factors,
    kfac_matrix,
    layer_flat_indices,
)
from lecture_lib.problems import Problem
from lecture_lib.run import run

KEY = jax.random.PRNGKey(0)

# The dense oracles, compiled once per problem (faster than op-by-op on a small CPU).
_fisher = jax.jit(curvature.fisher, static_argnums=0)
_ggn = jax.jit(curvature.ggn, static_argnums=0)
_empirical_fisher = jax.jit(curvature.empirical_fisher, static_argnums=0)
_ggn_vp = jax.jit(curvature.ggn_vp, static_argnums=0)


@functools.cache
def _compiled_gradient(problem):
    return jax.jit(jax.grad(problem.loss))


def _gradient(problem, params, batch):
    """grad h on the batch, by jax.grad of the problem's own loss (compiled once per problem)."""
    return _compiled_gradient(problem)(params, batch)


# --------------------------------------------------------------------------- helpers


BATCH = 256  # one batch shape for the network tests: their compiled programs are shared


def _start(problem, seed=1, scale=0.1):
    """Float64 parameters of the problem's shapes: He-scaled weights plus scale * N(0, 1).

    Drawn by numpy: jax.random would compile a sampler for every shape and dtype.
    """
    rng = np.random.default_rng(seed)
    params = []
    for layer in jax.eval_shape(problem.init, KEY):
        fan_in, fan_out = layer["w"].shape
        weights = np.sqrt(2.0 / fan_in) * rng.normal(size=(fan_in, fan_out))
        params.append(
            {
                "w": jnp.asarray(weights + scale * rng.normal(size=(fan_in, fan_out))),
                "b": jnp.asarray(scale * rng.normal(size=fan_out)),
            }
        )
    return params


def _batch(problem, k=0, size=BATCH):
    """The k-th batch of ``size`` training examples, in float64."""
    x, y = problem.data
    return jnp.asarray(x[size * k : size * (k + 1)], jnp.float64), y[size * k : size * (k + 1)]


def _wb_indices(params):
    """Independent oracle of the layout: flatten puts each layer's "b" before its "w"."""
    indices, offset = [], 0
    for layer in params:
        fan_in, fan_out = layer["w"].shape
        bias = offset + np.arange(fan_out)
        weight = offset + fan_out + np.arange(fan_in * fan_out).reshape(fan_in, fan_out)
        indices.append(np.concatenate([weight, bias[None, :]]).ravel())
        offset += fan_out + fan_in * fan_out
    return indices


def _wb(layer):
    return np.concatenate([np.asarray(layer["w"]), np.asarray(layer["b"])[None, :]])


def _relative_error(approximation, exact):
    return np.linalg.norm(approximation - exact) / np.linalg.norm(exact)


@pytest.fixture(scope="module")
def linear_problem():
    return problems.mlp(hidden_sizes=())


@pytest.fixture(scope="module")
def regularised_mlp():
    return problems.mlp(hidden_sizes=(6,), activation="relu", l2=1e-2)


@pytest.fixture(scope="module")
def regression_mlp():
    """A sigmoid MLP with squared error (not built by problems.mlp): 4 -> 5 -> 3."""
    rng = np.random.default_rng(3)
    x, y = jnp.asarray(rng.normal(size=(12, 4))), jnp.asarray(rng.normal(size=(12, 3)))

    def predict(params, inputs):
        return nn.mlp_forward(params, inputs, "sigmoid")

    def loss(params, batch):
        return problems.squared_error(predict(params, batch[0]), batch[1])

    return Problem(
        name="sigmoid regression MLP",
        loss=loss,
        init=lambda key: nn.mlp_init(key, [4, 5, 3]),
        data=(x, y),
        predict=predict,
        output_loss=problems.squared_error,
        sample_targets=lambda key, outputs: outputs + jax.random.normal(key, outputs.shape),
    )


# --------------------------------------------------------------------------- Kronecker algebra


def test_vec_trick_in_the_row_major_layout():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    a = a @ a.T + np.eye(4)
    g = rng.normal(size=(3, 3))
    g = g @ g.T + np.eye(3)
    v = rng.normal(size=(4, 3))
    expected = np.kron(a, g) @ v.ravel()  # row-major vec, as flatten and [w; b]
    np.testing.assert_allclose((a @ v @ g).ravel(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(curvature.kron_matvec(a, g, v)).ravel(), expected, rtol=1e-5
    )
    np.testing.assert_allclose(np.asarray(kfac_block(a, g)), np.kron(a, g), rtol=1e-6)
    np.testing.assert_allclose(
        np.linalg.inv(a) @ v @ np.linalg.inv(g),
        np.linalg.solve(np.kron(a, g), v.ravel()).reshape(4, 3),
        rtol=1e-10,
    )


def test_layer_flat_indices_map_flatten_order_to_the_wb_layout(regularised_mlp):
    params = _start(regularised_mlp)
    indices = layer_flat_indices(params)
    for ours, oracle in zip(indices, _wb_indices(params), strict=True):
        np.testing.assert_array_equal(ours, oracle)
    flat = np.asarray(curvature.flatten(params)[0])
    for layer, index in zip(params, indices, strict=True):
        np.testing.assert_array_equal(flat[index], _wb(layer).ravel())


# --------------------------------------------------------------------------- nn layer access


def test_layer_inputs_and_output_gradients_give_the_parameter_gradient(x64, regularised_mlp):
    params, (x, y) = _start(regularised_mlp), _batch(regularised_mlp)
    logits, inputs = nn.mlp_forward_with_layer_inputs(params, x, "relu")
    np.testing.assert_allclose(logits, nn.mlp_forward(params, x, "relu"), rtol=1e-12)
    np.testing.assert_allclose(inputs[0], x)
    np.testing.assert_allclose(inputs[1], jax.nn.relu(x @ params[0]["w"] + params[0]["b"]))

    def loss_of_perturbations(perturbations):
        out, _ = nn.mlp_forward_with_layer_inputs(params, x, "relu", perturbations)
        return problems.softmax_cross_entropy(out, y)

    zeros = nn.zero_perturbations(params, x.shape[0], jnp.float64)
    output_gradients = jax.grad(loss_of_perturbations)(zeros)
    oracle = jax.grad(lambda p: problems.softmax_cross_entropy(nn.mlp_forward(p, x, "relu"), y))(
        params
    )
    for a, g, layer in zip(inputs, output_gradients, oracle, strict=True):
        np.testing.assert_allclose(a.T @ g, layer["w"], rtol=1e-10, atol=1e-14)  # sum_i a_i g_i^T
        np.testing.assert_allclose(g.sum(axis=0), layer["b"], rtol=1e-10, atol=1e-14)

    # mlp_backprop: the same from one forward pass, for any output cotangent.
    out, _, backward = nn.mlp_backprop(params, x, "relu")
    grads, gradients = backward(jax.grad(problems.softmax_cross_entropy)(out, y))
    for ours, theirs in zip(gradients, output_gradients, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    for ours, theirs in zip(grads, oracle, strict=True):
        np.testing.assert_allclose(ours["w"], theirs["w"], rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="perturbations must hold one array per layer"):
        nn.mlp_forward_with_layer_inputs(params, x, "relu", zeros[:1])


# --------------------------------------------------------------------------- the factors


def test_one_example_single_layer_kfac_is_the_exact_fisher_and_ggn(x64, linear_problem):
    params, batch = _start(linear_problem, scale=0.5), _batch(linear_problem, size=1)
    exact = kfac_factors(linear_problem, params, batch, fisher="ggn")
    (a, g) = exact[0]
    assert a.shape == (65, 65) and g.shape == (10, 10)
    fisher = np.asarray(_fisher(linear_problem, params, batch))
    ggn = np.asarray(_ggn(linear_problem, params, batch))
    index = _wb_indices(params)[0]
    block = np.kron(np.asarray(a), np.asarray(g))
    np.testing.assert_allclose(block, fisher[np.ix_(index, index)], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(block, ggn[np.ix_(index, index)], rtol=1e-9, atol=1e-12)
    # The dense matrix in flatten order: one layer is the whole model.
    np.testing.assert_allclose(kfac_matrix(params, exact), fisher, rtol=1e-9, atol=1e-12)

    # Empirical: the data's label; sampled: a label drawn with the key.
    (a_emp, g_emp) = kfac_factors(linear_problem, params, batch, fisher="empirical")[0]
    np.testing.assert_allclose(
        np.kron(a_emp, g_emp)[np.ix_(np.argsort(index), np.argsort(index))],
        _empirical_fisher(linear_problem, params, batch),
        rtol=1e-9,
        atol=1e-12,
    )
    key = jax.random.PRNGKey(5)
    sampled = kfac_factors(linear_problem, params, batch, key=key)
    drawn = linear_problem.sample_targets(key, linear_problem.predict(params, batch[0]))
    oracle = _empirical_fisher(linear_problem, params, (batch[0], drawn))
    np.testing.assert_allclose(kfac_matrix(params, sampled), oracle, rtol=1e-9, atol=1e-12)


def test_one_example_blocks_are_exact_for_a_deep_squared_error_mlp(x64, regression_mlp):
    params = _start(regression_mlp, scale=0.5)
    batch = _batch(regression_mlp, size=1)
    factors = kfac_factors(regression_mlp, params, batch, fisher="ggn")
    ggn = np.asarray(_ggn(regression_mlp, params, batch))
    for (a, g), index in zip(factors, _wb_indices(params), strict=True):
        np.testing.assert_allclose(np.kron(a, g), ggn[np.ix_(index, index)], rtol=1e-9, atol=1e-12)
    # The sigmoid activation was read off problem.predict.
    assert _resolve_activation(regression_mlp, None)[0] == "sigmoid"


def test_kfac_blocks_beat_the_diagonal_approximation_of_a_two_layer_mlp(x64, regularised_mlp):
    params, batch = _start(regularised_mlp), _batch(regularised_mlp)
    factors = kfac_factors(regularised_mlp, params, batch, fisher="ggn")
    # The data part: less the penalty's Hessian, l2 = 1e-2 on every weight, 0 on the biases.
    penalised = [{"w": jnp.full(p["w"].shape, 1e-2), "b": jnp.zeros(p["b"].shape)} for p in params]
    penalty_hessian = np.diag(np.asarray(curvature.flatten(penalised)[0]))
    fisher = np.asarray(_fisher(regularised_mlp, params, batch)) - penalty_hessian
    dense = np.asarray(kfac_matrix(params, factors))
    for (a, g), index in zip(factors, _wb_indices(params), strict=True):
        block = fisher[np.ix_(index, index)]
        kfac_error = _relative_error(np.kron(a, g), block)
        diagonal_error = _relative_error(np.diag(np.diag(block)), block)
        assert kfac_error < 0.75 * diagonal_error, (kfac_error, diagonal_error)
        np.testing.assert_allclose(dense[np.ix_(index, index)], np.kron(a, g), rtol=1e-12)
    # Off the diagonal blocks the K-FAC matrix is zero.
    first, second = _wb_indices(params)
    assert np.all(dense[np.ix_(first, second)] == 0.0)


# --------------------------------------------------------------------------- the update


def _dense_kfac_step(problem, params, batch, factors, damping, eta, learning_rate):
    """Oracle: -lr (A_d (x) G_d)^{-1} vec([gW; gb]) per layer, pi-corrected, by numpy."""
    grads = _gradient(problem, params, batch)
    gamma = np.sqrt(damping + eta)
    steps = []
    for (a, g), layer_grads in zip(factors, grads, strict=True):
        a, g = np.asarray(a), np.asarray(g)
        pi = np.sqrt((np.trace(a) / a.shape[0]) / (np.trace(g) / g.shape[0]))
        damped = np.kron(a + pi * gamma * np.eye(a.shape[0]), g + gamma / pi * np.eye(g.shape[0]))
        v = _wb(layer_grads)
        steps.append(-learning_rate * np.linalg.solve(damped, v.ravel()).reshape(v.shape))
    return steps


def test_kfac_step_is_the_damped_kronecker_solve(x64, regularised_mlp):
    params, batch = _start(regularised_mlp), _batch(regularised_mlp)
    key = jax.random.PRNGKey(9)
    damping, lr = 0.05, 0.7
    method = kfac(regularised_mlp, lr, damping, fisher="ggn", adapt=False)
    new_params, state, info = method.step(params, method.init(params), batch, key)
    assert isinstance(state, KFACState)
    # The first step uses the fresh statistics (debiased averages); eta = l2 joins lambda.
    factors = kfac_factors(regularised_mlp, params, batch, fisher="ggn")
    expected = _dense_kfac_step(regularised_mlp, params, batch, factors, damping, 1e-2, lr)
    for new, old, step in zip(new_params, params, expected, strict=True):
        np.testing.assert_allclose(_wb(new) - _wb(old), step, rtol=1e-8, atol=1e-12)
    assert float(info["learning_rate"]) == pytest.approx(lr)
    assert bool(info["inverses_updated"])

    # Heavy ball: the second step is lr Delta_2 + mu delta_1.
    with_momentum = kfac(regularised_mlp, lr, damping, fisher="ggn", adapt=False, momentum=0.9)
    state = with_momentum.init(params)
    first, state, _ = with_momentum.step(params, state, batch, key)
    batch2 = _batch(regularised_mlp, 1)
    second, _, info = with_momentum.step(first, state, batch2, key)
    plain, _, _ = method.step(first, state, batch2, key)
    for p2, p1, p0, q2 in zip(second, first, params, plain, strict=True):
        np.testing.assert_allclose(
            _wb(p2) - _wb(p1), _wb(q2) - _wb(p1) + 0.9 * (_wb(p1) - _wb(p0)), rtol=1e-8, atol=1e-12
        )
    assert float(info["momentum"]) == pytest.approx(0.9)

    # A schedule: alpha_k = lr / (1 + k).
    scheduled = kfac(regularised_mlp, lambda k: lr / (1.0 + k), damping, fisher="ggn", adapt=False)
    state = scheduled.init(params)
    rates = []
    for _ in range(2):
        _, state, info = scheduled.step(params, state, batch, key)
        rates.append(float(info["learning_rate"]))
    assert rates == pytest.approx([lr, lr / 2])


def test_running_averages_are_debiased_and_inverses_refresh_every_k_steps(x64, regularised_mlp):
    params = _start(regularised_mlp)
    batches = [_batch(regularised_mlp, k) for k in range(5)]
    decay, damping, l2 = 0.5, 0.1, 1e-2
    method = kfac(
        regularised_mlp,
        1e-3,
        damping,
        fisher="ggn",
        decay=decay,
        inverse_update_period=3,
        adapt=False,
    )
    fresh = [kfac_factors(regularised_mlp, params, b, fisher="ggn") for b in batches[:2]]
    state = method.init(params)
    history = []
    for batch in batches:  # always from the same params: the statistics are the batches'
        _, state, info = method.step(params, state, batch, KEY)
        history.append((state, bool(info["inverses_updated"])))
    first, second = history[0][0], history[1][0]
    for layer in range(2):
        for which in range(2):
            # Step 1: debiased average = the fresh statistics.
            np.testing.assert_allclose(
                first.factors[layer][which] / (1 - decay), fresh[0][layer][which], rtol=1e-12
            )
            expected = (
                decay * (1 - decay) * fresh[0][layer][which] + (1 - decay) * fresh[1][layer][which]
            )
            np.testing.assert_allclose(second.factors[layer][which], expected, rtol=1e-12)
    # Inverses: recomputed at steps 0 and 3, kept at steps 1, 2 and 4.
    assert [updated for _, updated in history] == [True, False, False, True, False]
    inverses = [jax.tree_util.tree_leaves(s.inverses) for s, _ in history]
    same = [
        all(np.array_equal(a, b) for a, b in zip(inverses[k], inverses[k - 1], strict=True))
        for k in (1, 2, 3, 4)
    ]
    assert same == [True, True, False, True]
    # The first inverses are those of the damped fresh factors.
    for (a_inv, g_inv), (a, g) in zip(
        first.inverses, damp_factors(fresh[0], damping + l2), strict=True
    ):
        np.testing.assert_allclose(a_inv @ a, np.eye(a.shape[0]), atol=1e-9)
        np.testing.assert_allclose(g_inv @ g, np.eye(g.shape[0]), atol=1e-9)


# --------------------------------------------------------------------------- damping and step size


def _quadratic_model(problem, params, batch, delta):
    """g.delta and delta.(GGN + penalty Hessian).delta, from curvature.ggn_vp."""
    grads = _gradient(problem, params, batch)
    flat_delta = curvature.flatten(delta)[0]
    linear = float(curvature.flatten(grads)[0] @ flat_delta)
    curved = float(flat_delta @ curvature.flatten(_ggn_vp(problem, params, batch, delta))[0])
    return linear, curved, grads


def _difference(new, old):
    return jax.tree_util.tree_map(jnp.subtract, new, old)


@pytest.mark.parametrize(("learning_rate", "factor"), [(1e-3, 2.0 / 3.0), (5.0, 1.5), (30.0, 1.5)])
def test_levenberg_marquardt_rule_on_the_exact_ggn_model(
    x64, regularised_mlp, learning_rate, factor
):
    params, batch = _start(regularised_mlp), _batch(regularised_mlp)
    # Adapting every step by omega = 2/3 is the lecture's rule (x 2/3, x 3/2).
    method = kfac(
        regularised_mlp,
        learning_rate,
        0.1,
        fisher="ggn",
        adaptation_interval=1,
        adaptation_decay=2.0 / 3.0,
    )
    state = method.init(params)
    new_params, new_state, info = method.step(params, state, batch, KEY)
    delta = _difference(new_params, params)
    linear, curved, _ = _quadratic_model(regularised_mlp, params, batch, delta)
    actual = float(regularised_mlp.loss(new_params, batch) - regularised_mlp.loss(params, batch))
    # rho = actual / predicted decrease; 0 where the model promises no decrease.
    rho = float(reduction_ratio(actual, linear + 0.5 * curved))
    assert float(info["reduction_ratio"]) == pytest.approx(rho, rel=1e-8, abs=1e-12)
    assert float(info["damping"]) == pytest.approx(0.1)
    assert float(new_state.damping) == pytest.approx(0.1 * factor)
    assert float(new_state.damping) == pytest.approx(
        float(levenberg_marquardt(0.1, info["reduction_ratio"]))
    )
    assert float(info["step_norm"]) == pytest.approx(
        float(jnp.linalg.norm(curvature.flatten(delta)[0]))
    )


def test_damping_adapts_every_interval_by_the_decay_to_that_power(x64, regularised_mlp):
    params = _start(regularised_mlp)
    method = kfac(regularised_mlp, 1e-3, 0.1, fisher="ggn", adaptation_interval=3)
    state = method.init(params)
    dampings, ratios = [], []
    for index in range(6):
        params, state, info = method.step(params, state, _batch(regularised_mlp, index), KEY)
        dampings.append(float(state.damping))
        ratios.append(float(info["reduction_ratio"]))
    # A tiny step fits the quadratic model (rho > 3/4): lambda shrinks by 0.95^3 on steps 3, 6.
    assert np.isnan(ratios[:2] + ratios[3:5]).all()
    assert min(ratios[2], ratios[5]) > 0.75
    omega = 0.95**3
    np.testing.assert_allclose(
        dampings, [0.1, 0.1, 0.1 * omega] * 1 + [0.1 * omega] * 2 + [0.1 * omega**2], rtol=1e-12
    )


def test_fixed_step_skips_the_model_and_takes_the_same_step(x64, regularised_mlp):
    params, batch = _start(regularised_mlp), _batch(regularised_mlp)
    taken = {}
    for adapt in (True, False):
        method = kfac(
            regularised_mlp,
            0.5,
            0.1,
            fisher="ggn",
            momentum=0.5,
            adapt=adapt,
            adaptation_interval=1,
        )
        taken[adapt] = method.step(params, method.init(params), batch, KEY)
    (fixed, fixed_state, fixed_info), (adapted, _, adapted_info) = taken[False], taken[True]
    # Both steps use the initial lambda; only the adapted one evaluates the model (rho).
    flat = lambda tree: np.asarray(curvature.flatten(tree)[0])  # noqa: E731
    np.testing.assert_allclose(flat(fixed), flat(adapted), rtol=0, atol=1e-12)
    assert np.isnan(float(fixed_info["reduction_ratio"]))
    assert np.isfinite(float(adapted_info["reduction_ratio"]))
    assert float(fixed_state.damping) == pytest.approx(0.1)


def test_automatic_step_size_and_momentum_minimise_the_damped_model(x64, regularised_mlp):
    params, batch = _start(regularised_mlp), _batch(regularised_mlp)
    damping = 0.1
    method = kfac(regularised_mlp, "auto", damping, momentum="auto", fisher="ggn", adapt=False)
    state = method.init(params)
    first, state, info = method.step(params, state, batch, KEY)
    # Step 1 (no previous step): alpha minimises q(alpha Delta) + lambda/2 ||.||^2.
    delta1 = _difference(first, params)
    linear, curved, _ = _quadratic_model(regularised_mlp, params, batch, delta1)
    norm2 = float(curvature.flatten(delta1)[0] @ curvature.flatten(delta1)[0])
    assert linear + curved + damping * norm2 == pytest.approx(0.0, abs=1e-10 * abs(linear))
    assert float(info["momentum"]) == 0.0

    # Step 2: (alpha, mu) make the damped model stationary along Delta and delta_1.
    batch2 = _batch(regularised_mlp, 1)
    second, _, info = method.step(first, state, batch2, KEY)
    delta2 = _difference(second, first)
    mu = float(info["momentum"])
    along_delta = _difference(delta2, jax.tree_util.tree_map(lambda v: mu * v, delta1))
    grads = _gradient(regularised_mlp, first, batch2)
    m_delta2 = _ggn_vp(regularised_mlp, first, batch2, delta2)
    flat = lambda tree: np.asarray(curvature.flatten(tree)[0])  # noqa: E731
    damped_product = flat(m_delta2) + damping * flat(delta2)
    for direction in (along_delta, delta1):
        gradient_of_model = flat(grads) @ flat(direction) + damped_product @ flat(direction)
        assert gradient_of_model == pytest.approx(0.0, abs=1e-8 * np.linalg.norm(flat(grads)) ** 2)
    assert mu != 0.0


# --------------------------------------------------------------------------- training


def test_kfac_trains_the_digits_mlp_with_minibatches():
    problem = problems.mlp()  # 64-32-10, tanh
    start = _start(problem, scale=0.0)  # He initialisation (numpy: no sampler to compile)
    trajectory = run(kfac(problem, 1.0, 1e-2), problem, 50, KEY, batch_size=128, params=start)
    assert not trajectory.diverged
    assert trajectory.loss[-1] < 0.2 * trajectory.loss[0]
    assert trajectory.info["damping"].shape == (50,)
    assert set(trajectory.info) >= {"damping", "reduction_ratio", "step_norm"}
    assert np.all(np.isfinite(trajectory.info["step_norm"]))


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate": -1.0}, "learning_rate must be"),
        ({"learning_rate": "fast"}, "learning_rate must be"),
        ({"damping": -1.0}, r"damping must be in \(0, inf\)"),
        ({"damping": 0.0, "adapt": False}, r"damping must be in \(0, inf\)"),
        ({"fisher": "true"}, "fisher must be one of"),
        ({"decay": 1.0}, r"decay must be in \[0.0, 1.0\)"),
        ({"inverse_update_period": 0}, "inverse_update_period must be an integer >= 1"),
        ({"momentum": 1.0}, r"momentum must be in \[0.0, 1.0\)"),
        ({"momentum": "auto"}, "momentum='auto' needs learning_rate='auto'"),
        ({"adapt": "yes"}, "adapt must be True or False"),
        ({"adaptation_interval": 0}, "adaptation_interval must be an integer >= 1"),
        ({"adaptation_decay": 1.0}, r"adaptation_decay must be in \[0.0, 1.0\)"),
        ({"adaptation_decay": 0.0}, r"adaptation_decay must be in \(0.0, 1.0\)"),
        ({"activation": "gelu"}, "activation must be one of"),
        ({"activation": "tanh"}, "does not reproduce problem.predict"),
    ],
)
def test_arguments_are_validated(regularised_mlp, kwargs, message):
    arguments = {"learning_rate": 1.0, "damping": 1e-2, **kwargs}
    with pytest.raises(ValueError, match=message):
        kfac(regularised_mlp, **arguments)


def test_problems_and_params_that_are_not_mlps_are_refused(regularised_mlp):
    with pytest.raises(ValueError, match="problem must be a lecture_lib Problem"):
        kfac("mlp", 1.0, 1e-2)
    with pytest.raises(ValueError, match="problem must be an MLP data problem"):
        kfac(problems.rosenbrock(), 1.0, 1e-2)
    with pytest.raises(
        ValueError, match=r"problem.init\(key\) must be a non-empty list of dense layers"
    ):
        kfac(problems.softmax_regression(), 1.0, 1e-2)
    method = kfac(regularised_mlp, 1.0, 1e-2)
    params = regularised_mlp.init(KEY)
    with pytest.raises(ValueError, match=r"params\[1\] takes 10 inputs but layer 0 has 6"):
        method.init([params[0], {"w": jnp.zeros((10, 10)), "b": jnp.zeros(10)}])
    with pytest.raises(ValueError, match=r'params\[0\] must have "w" of shape'):
        method.init([{"w": jnp.zeros(3), "b": jnp.zeros(3)}])
    with pytest.raises(ValueError, match="key must be a PRNG key for fisher='sampled'"):
        kfac_factors(regularised_mlp, params, regularised_mlp.data)
