"""lecture_lib.adaptive against closed forms, optax and lecture_lib.run as independent oracles."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lecture_lib import adaptive, optim, problems, run

KEY = jax.random.PRNGKey(0)


# --------------------------------------------------------------------------- feed_gradients


def test_feed_gradients_closed_forms_on_the_lecture_sequence():
    cycle = np.array([0.1] * 10 + [-1.0])
    gradients = np.tile(cycle, 3)
    fed = adaptive.feed_gradients(
        {"sgd": optim.gd(0.5), "sign": optim.sign_sgd(0.01)}, gradients, start=2.0
    )
    assert list(fed) == ["sgd", "sign"]  # the caller's order
    np.testing.assert_allclose(fed["sgd"], -0.5 * gradients, rtol=1e-6)
    np.testing.assert_allclose(fed["sign"], -0.01 * np.sign(gradients), rtol=1e-6)
    assert abs(fed["sgd"].sum()) < 1e-5  # the average gradient is zero
    np.testing.assert_allclose(fed["sign"].sum(), -3 * 9 * 0.01, rtol=1e-5)


def test_feed_gradients_rmsprop_and_adagrad_on_a_constant_gradient(x64):
    g, alpha, rho, g0, eps = 2.0, 0.1, 0.9, 0.1, 1e-7
    k = np.arange(1, 51)
    rms = adaptive.feed_gradients(optim.rmsprop(alpha, decay=rho, eps=eps), np.full(50, g))
    np.testing.assert_allclose(rms, -alpha * g / (np.sqrt((1 - rho**k) * g**2) + eps), rtol=1e-10)
    ada = adaptive.feed_gradients(optim.adagrad(alpha, g0, eps), np.full(50, g))
    np.testing.assert_allclose(ada, -alpha * g / np.sqrt(g0 + k * g**2 + eps), rtol=1e-10)


def test_feed_gradients_matches_optax_on_array_parameters(x64):
    gradients = jax.random.normal(KEY, (20, 3, 2))
    ours = adaptive.feed_gradients(optim.adam(0.05), gradients)
    reference = optax.adam(0.05)
    state = reference.init(jnp.zeros((3, 2)))
    for k in range(20):
        update, state = reference.update(gradients[k], state)
        np.testing.assert_allclose(ours[k], update, rtol=1e-10, atol=1e-14)


def test_feed_gradients_rejects_bad_input():
    with pytest.raises(ValueError, match="gradients must have shape"):
        adaptive.feed_gradients(optim.gd(0.1), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="start must have the shape"):
        adaptive.feed_gradients(optim.gd(0.1), np.zeros((3, 2)), start=np.zeros(3))
    with pytest.raises(ValueError, match="optimizer must be a GradientTransformation"):
        adaptive.feed_gradients("adam", np.zeros(3))
    with pytest.raises(ValueError, match="non-empty"):
        adaptive.feed_gradients({}, np.zeros(3))


# --------------------------------------------------------------------------- rescaled


def test_rescaled_loss_gradient_hessian_and_start():
    base = problems.quadratic(eigenvalues=[1.0, 0.1], angle=0.3, start=[1.0, -2.0])
    scale = np.array([10.0, 0.1])
    in_phi = adaptive.rescaled(base, scale)
    phi = jnp.array([0.3, -4.0])
    theta = scale * np.asarray(phi)
    assert math.isclose(float(in_phi.loss(phi)), float(base.loss(jnp.asarray(theta))), rel_tol=1e-6)
    np.testing.assert_allclose(
        jax.grad(in_phi.loss)(phi),
        scale * np.asarray(jax.grad(base.loss)(jnp.asarray(theta))),
        rtol=1e-5,
    )
    expected_hessian = np.diag(scale) @ np.asarray(base.hessian(theta)) @ np.diag(scale)
    np.testing.assert_allclose(in_phi.hessian(phi), expected_hessian, rtol=1e-5)
    np.testing.assert_allclose(jax.hessian(in_phi.loss)(phi), expected_hessian, rtol=1e-4)
    np.testing.assert_allclose(in_phi.init(KEY), np.array([1.0, -2.0]) / scale, rtol=1e-6)
    np.testing.assert_allclose(in_phi.optimum, np.zeros(2), atol=0)
    assert in_phi.optimal_loss == 0.0


def test_rescaled_gd_step_scales_by_s_squared_and_a_consistent_method_does_not():
    base = problems.quadratic(eigenvalues=[1.0, 0.1], start=[1.0, 1.0])
    scale = np.array([3.0, 0.5])
    in_phi = adaptive.rescaled(base, scale)
    theta_step = np.diff(run(optim.gd(0.1), base, 1, KEY).iterates, axis=0)[0]
    phi_step = np.diff(run(optim.gd(0.1), in_phi, 1, KEY).iterates, axis=0)[0]
    np.testing.assert_allclose(scale * phi_step, scale**2 * theta_step, rtol=1e-5)


def test_rescaled_rejects_bad_scales_and_pytree_problems():
    base = problems.quadratic(eigenvalues=[1.0, 2.0])
    with pytest.raises(ValueError, match="scale must be in"):
        adaptive.rescaled(base, [1.0, -1.0])
    with pytest.raises(ValueError, match="scale must be a number or have"):
        adaptive.rescaled(base, [1.0, 2.0, 3.0])
    pytree_problem = problems.Problem(
        name="pytree",
        loss=lambda p, batch=None: p["a"] @ p["a"],
        init=lambda key: {"a": jnp.ones(2)},
    )
    with pytest.raises(ValueError, match="single array"):
        adaptive.rescaled(pytree_problem, 2.0)
    with pytest.raises(ValueError, match="problem must be"):
        adaptive.rescaled("bowl", 2.0)


# --------------------------------------------------------------------------- adadelta_with_units


def test_adadelta_with_units_equals_adadelta_and_optax_for_one_eps(x64):
    gradients = jax.random.normal(KEY, (25, 4))
    ours = adaptive.feed_gradients(adaptive.adadelta_with_units(0.9, 1e-4, 1e-4), gradients)
    library = adaptive.feed_gradients(optim.adadelta(0.9, 1e-4), gradients)
    np.testing.assert_allclose(ours, library, rtol=1e-12)
    reference = optax.adadelta(learning_rate=1.0, rho=0.9, eps=1e-4)
    state = reference.init(jnp.zeros(4))
    for k in range(25):
        update, state = reference.update(gradients[k], state, jnp.zeros(4))
        np.testing.assert_allclose(ours[k], update, rtol=1e-10)


def test_adadelta_with_units_first_step_closed_form(x64):
    g = np.array([0.5, -3.0])
    rho, eps_step, eps_grad = 0.95, np.array([1e-2, 1e-6]), np.array([1e-3, 1e-1])
    step = adaptive.feed_gradients(adaptive.adadelta_with_units(rho, eps_step, eps_grad), g[None])
    expected = -np.sqrt(eps_step) / np.sqrt((1 - rho) * g**2 + eps_grad) * g
    np.testing.assert_allclose(step[0], expected, rtol=1e-12)


def test_adadelta_with_units_is_consistent_in_units_and_one_eps_is_not(x64):
    base = problems.quadratic(eigenvalues=[1.0, 0.1], start=[1.0, 1.0])
    scale = np.array([10.0, 0.1])
    in_phi = adaptive.rescaled(base, scale)
    theta = run(adaptive.adadelta_with_units(0.9, 1e-3, 1e-3), base, 60, KEY).iterates
    phi = run(adaptive.adadelta_with_units(0.9, 1e-3 / scale**2, 1e-3 * scale**2), in_phi, 60, KEY)
    np.testing.assert_allclose(phi.iterates * scale, theta, rtol=1e-9, atol=1e-12)
    one_eps = run(optim.adadelta(0.9, 1e-3), in_phi, 60, KEY).iterates * scale
    assert np.max(np.abs(one_eps - theta)) > 0.1


def test_adadelta_with_units_accepts_pytree_eps_and_rejects_bad_ones():
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    optimizer = adaptive.adadelta_with_units(0.9, {"a": 1e-2, "b": 1e-6}, 1e-4)
    updates, _ = optimizer.update(params, optimizer.init(params))
    np.testing.assert_allclose(updates["a"], -0.1 / np.sqrt(0.1 + 1e-4), rtol=1e-5)
    np.testing.assert_allclose(updates["b"], -1e-3 / np.sqrt(0.1 + 1e-4), rtol=1e-5)
    with pytest.raises(ValueError, match="eps_step must be in"):
        adaptive.adadelta_with_units(0.9, 0.0, 1e-6)
    with pytest.raises(ValueError, match="eps_grad must be in"):
        adaptive.adadelta_with_units(0.9, 1e-6, np.array([1e-6, -1.0]))
    with pytest.raises(ValueError, match="rho"):
        adaptive.adadelta_with_units(1.0)


# --------------------------------------------------------------------------- bias correction


def test_uncorrected_adam_first_step_and_ratio_closed_forms(x64):
    gradients = jax.random.normal(KEY, (200, 3))
    alpha, b1, b2 = 0.01, 0.9, 0.999
    uncorrected = adaptive.feed_gradients(
        adaptive.adam_without_bias_correction(alpha, b1, b2, eps=0.0), gradients
    )
    g1 = np.asarray(gradients[0])
    np.testing.assert_allclose(
        uncorrected[0], -alpha * (1 - b1) * g1 / (math.sqrt(1 - b2) * np.abs(g1)), rtol=1e-12
    )
    corrected = adaptive.feed_gradients(optim.adam(alpha, b1, b2, eps=0.0), gradients)
    ratio = adaptive.bias_correction_ratio(np.arange(1, 201), b1, b2)
    np.testing.assert_allclose(uncorrected / corrected, np.broadcast_to(ratio[:, None], (200, 3)))
    assert math.isclose(ratio[0], 0.1 / math.sqrt(0.001), rel_tol=1e-12)


def test_uncorrected_adam_with_eps_follows_the_numpy_recursion(x64):
    gradients = np.asarray(jax.random.normal(KEY, (15, 4)))
    optimizer = adaptive.adam_without_bias_correction(0.1, 0.8, 0.99, 1e-3)
    ours = adaptive.feed_gradients(optimizer, gradients)
    m = v = np.zeros(4)
    for k in range(15):
        m = 0.8 * m + 0.2 * gradients[k]
        v = 0.99 * v + 0.01 * gradients[k] ** 2
        np.testing.assert_allclose(ours[k], -0.1 * m / (np.sqrt(v) + 1e-3), rtol=1e-12)
    with pytest.raises(ValueError, match="learning_rate"):
        adaptive.adam_without_bias_correction(-1.0)


def test_bias_correction_ratio_limits_and_validation():
    k = np.array([1, 12, 100000])
    ratio = adaptive.bias_correction_ratio(k)
    assert math.isclose(ratio[0], 3.16227766, rel_tol=1e-8)
    assert 6.5 < ratio[1] < 6.6 and math.isclose(ratio[2], 1.0, rel_tol=1e-6)
    assert adaptive.bias_correction_ratio(np.arange(1, 100)).argmax() == 11
    with pytest.raises(ValueError, match="k must be integers >= 1"):
        adaptive.bias_correction_ratio(0)
    with pytest.raises(ValueError, match="k must be integers"):
        adaptive.bias_correction_ratio(1.5)
    with pytest.raises(ValueError, match="b2"):
        adaptive.bias_correction_ratio(3, b2=1.0)


# --------------------------------------------------------------------------- batched runs


def quadratic_gap(eigenvalues, start, alpha, steps):
    """Closed form of GD on 1/2 sum lambda_i theta_i^2: sum 1/2 lambda c^2 (1-alpha lambda)^2k."""
    k = np.arange(steps + 1)[:, None]
    return (0.5 * eigenvalues * start**2 * (1 - alpha * eigenvalues) ** (2 * k)).sum(axis=1)


def test_learning_rate_sweep_full_batch_against_the_closed_form(x64):
    eigenvalues, start = np.array([0.1, 1.0]), np.array([2.0, 1.0])
    bowl = problems.quadratic(eigenvalues=eigenvalues, start=start)
    rates = [0.3, 1.0, 1.9, 2.5]
    sweep = adaptive.learning_rate_sweep(optim.gd, bowl, rates, 30, KEY)
    for index, alpha in enumerate(rates):
        np.testing.assert_allclose(
            sweep.losses[index], quadratic_gap(eigenvalues, start, alpha, 30), rtol=1e-10
        )
    finals = [quadratic_gap(eigenvalues, start, alpha, 30)[-1] for alpha in rates]
    assert sweep.best_learning_rate == rates[int(np.argmin(finals))] and sweep.final_losses[3] > 1
    every_third = adaptive.learning_rate_sweep(optim.gd, bowl, rates, 30, KEY, record_every=3)
    np.testing.assert_array_equal(every_third.steps, np.arange(0, 31, 3))
    np.testing.assert_allclose(every_third.losses, sweep.losses[:, ::3], rtol=1e-10)
    np.testing.assert_allclose(sweep.params(2), sweep.final_params[2])


def test_learning_rate_sweeps_match_run_on_minibatches_and_keep_order():
    problem = problems.softmax_regression()
    grids = {
        "sgd": (optim.gd, [0.1, 0.5]),
        "rprop": (optim.rprop, [1e-3]),  # cannot take a schedule: plain numbers
    }
    sweeps = adaptive.learning_rate_sweeps(grids, problem, 20, KEY, batch_size=32, record_every=5)
    assert list(sweeps) == ["sgd", "rprop"]
    references = {
        ("sgd", 1): run(optim.gd(0.5), problem, 20, KEY, batch_size=32),
        ("rprop", 0): run(optim.rprop(1e-3), problem, 20, KEY, batch_size=32),
    }
    for (name, index), trajectory in references.items():
        np.testing.assert_allclose(
            sweeps[name].losses[index], trajectory.loss[::5], rtol=2e-4, atol=1e-6
        )
        np.testing.assert_allclose(
            sweeps[name].params(index)["w"], trajectory.final_params["w"], rtol=1e-3, atol=1e-5
        )
    assert sweeps["sgd"].losses[0, -1] > sweeps["sgd"].losses[1, -1]  # 0.5 beats 0.1 here


def test_sweep_best_index_and_validation():
    bowl = problems.quadratic(eigenvalues=[1.0, 2.0])
    diverged = adaptive.learning_rate_sweep(optim.gd, bowl, [5.0, 10.0], 200, KEY)
    assert np.all(np.isinf(diverged.final_losses))
    with pytest.raises(ValueError, match="diverged"):
        _ = diverged.best_index
    with pytest.raises(ValueError, match="multiple of record_every"):
        adaptive.learning_rate_sweep(optim.gd, bowl, [0.1], 10, KEY, record_every=3)
    with pytest.raises(ValueError, match="learning_rates"):
        adaptive.learning_rate_sweep(optim.gd, bowl, [0.1, -1.0], 10, KEY)
    with pytest.raises(ValueError, match="batch_size needs a data problem"):
        adaptive.learning_rate_sweep(optim.gd, bowl, [0.1], 10, KEY, batch_size=4)
    with pytest.raises(ValueError, match="must be \\(make_optimizer, learning_rates\\)"):
        adaptive.learning_rate_sweeps({"gd": optim.gd}, bowl, 10, KEY)


def test_start_sweep_against_the_closed_form(x64):
    eigenvalues = np.array([0.5, 1.0])
    bowl = problems.quadratic(eigenvalues=eigenvalues)
    starts = np.array([[1.0, 1.0], [3.0, -2.0]])
    losses = adaptive.start_sweep(optim.gd(0.4), bowl, starts, 25)
    for row, start in zip(losses, starts, strict=True):
        np.testing.assert_allclose(row, quadratic_gap(eigenvalues, start, 0.4, 25), rtol=1e-10)
    both = adaptive.start_sweep(
        {"gd": optim.gd(0.4), "adam": optim.adam(0.1)}, bowl, starts, 25, return_iterates=True
    )
    assert list(both) == ["gd", "adam"]
    np.testing.assert_allclose(both["gd"][0], losses, rtol=1e-12)
    assert both["adam"][1].shape == (2, 26, 2)
    np.testing.assert_allclose(both["gd"][1][:, 0], starts)


def test_compare_together_matches_run_including_divergence():
    bowl = problems.quadratic(eigenvalues=[1.0, 10.0])
    optimizers = {"gd": optim.gd(0.05), "too large": optim.gd(0.3), "adam": optim.adam(0.1)}
    together = adaptive.compare_together(optimizers, bowl, 120, KEY)
    assert list(together) == list(optimizers)
    for name, optimizer in optimizers.items():
        alone = run(optimizer, bowl, 120, KEY)
        assert together[name].diverged == alone.diverged
        assert together[name].diverged_at == alone.diverged_at
        # float32, vmapped against alone: XLA may order the sums differently (seen on jax
        # 0.9.1, a relative 5e-5 on a loss of 1e-4 that Adam drives on towards 1e-8).
        close = {"rtol": 1e-4, "atol": 1e-6}
        np.testing.assert_allclose(together[name].loss, alone.loss, **close)
        np.testing.assert_allclose(together[name].grad_norm, alone.grad_norm, **close)
        np.testing.assert_allclose(together[name].iterates, alone.iterates, **close)
        np.testing.assert_allclose(together[name].final_params, alone.final_params, **close)
    softmax = adaptive.compare_together({"gd": optim.gd(0.5)}, problems.softmax_regression(), 5)
    assert softmax["gd"].iterates is None and set(softmax["gd"].final_params) == {"b", "w"}


# --------------------------------------------------------------------------- epsilon


def test_epsilon_limit_rate_closed_form(x64):
    schedule = adaptive.epsilon_limit_rate(2.0, 4.0, 0.9)
    for count in range(5):
        expected = 2.0 * 0.1 / (4.0 * (1 - 0.9 ** (count + 1)))
        assert math.isclose(float(schedule(jnp.asarray(count))), expected, rel_tol=1e-12)
    with pytest.raises(ValueError, match="eps"):
        adaptive.epsilon_limit_rate(1.0, 0.0, 0.9)


def test_epsilon_runs_approach_their_limits():
    large = adaptive.epsilon_runs(1e4, learning_rate=1e3, steps=60)
    adam_path, zero_path, momentum_path = (t.iterates for t in large.values())
    assert np.max(np.abs(adam_path - momentum_path)) < 1e-3
    assert np.max(np.abs(adam_path - zero_path)) > 0.1
    small = adaptive.epsilon_runs(1e-8, learning_rate=0.05, steps=60)
    adam_path, zero_path, _ = (t.iterates for t in small.values())
    assert np.max(np.abs(adam_path - zero_path)) < 1e-4


def test_epsilon_figure_is_labelled_and_the_explorer_builds():
    figure, runs = adaptive.epsilon_figure(1e-2, 0.1, steps=20)
    assert len(runs) == 3
    for ax in figure.axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel() and ax.get_legend()
    widget = adaptive.epsilon_explorer(steps=5)
    assert widget.children
    with pytest.raises(ValueError, match="eps"):
        adaptive.epsilon_runs(-1.0)
