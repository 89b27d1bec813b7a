"""lecture_lib.stochastic against independent oracles: closed-form gradients, brute-force
enumeration of minibatches, step-by-step moment recursions and Monte Carlo."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import Problem, problems, run, stochastic
from lecture_lib.data import minibatch_indices
from lecture_lib.optim import chain, gd, momentum, polyak_average

KEY = jax.random.PRNGKey(0)


def tiny_problem(num_examples=6, dim=3, seed=0):
    """Mean of 1/2 ||theta - x_i||^2 + 1/2 (a_i . theta)^2 over a tiny data set."""
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(num_examples, dim)))
    a = jnp.asarray(rng.normal(size=(num_examples, dim)))

    def loss(params, batch):
        xs, as_ = batch
        return jnp.mean(0.5 * jnp.sum((params - xs) ** 2, axis=1) + 0.5 * (as_ @ params) ** 2)

    problem = Problem(name="tiny", loss=loss, init=lambda key: jnp.ones(dim), data=(x, a))
    return problem, np.asarray(x), np.asarray(a)


def tiny_example_gradients(theta, x, a):
    """Per-example gradients by hand: (theta - x_i) + (a_i . theta) a_i."""
    return (theta - x) + (a @ theta)[:, None] * a


# --------------------------------------------------------------------------- gradients


@pytest.mark.usefixtures("x64")
def test_minibatch_gradients_match_the_least_squares_closed_form():
    problem = problems.linear_regression(l2=0.1)
    params = problem.init(KEY)
    x, y = (np.asarray(v, np.float64) for v in problem.data)
    w, b = np.asarray(params["w"], np.float64), float(params["b"])
    indices = np.asarray(minibatch_indices(jax.random.PRNGKey(1), x.shape[0], 7, 5))
    got = stochastic.minibatch_gradients(problem, params, indices)
    for row, batch in zip(got, indices, strict=True):
        residual = x[batch] @ w + b - y[batch]
        grad_b = residual.mean()
        grad_w = x[batch].T @ residual / batch.size + 0.1 * w
        np.testing.assert_allclose(row, np.r_[grad_b, grad_w], rtol=1e-9, atol=1e-12)


@pytest.mark.usefixtures("x64")
def test_per_example_gradients_and_their_mean():
    problem, x, a = tiny_problem()
    theta = jnp.array([0.3, -1.0, 2.0])
    got = stochastic.per_example_gradients(problem, theta)
    np.testing.assert_allclose(got, tiny_example_gradients(np.asarray(theta), x, a), rtol=1e-12)
    full = jax.grad(problem.full_loss)(theta)
    np.testing.assert_allclose(got.mean(axis=0), full, rtol=1e-12)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("batch_size", [1, 2, 3, 6])
def test_noise_covariance_without_replacement_matches_enumerating_every_subset(batch_size):
    problem, x, a = tiny_problem()
    theta = np.array([0.5, 0.2, -0.7])
    per_example = tiny_example_gradients(theta, x, a)
    full = per_example.mean(axis=0)
    subsets = list(itertools.combinations(range(6), batch_size))
    deviations = np.array([per_example[list(s)].mean(axis=0) - full for s in subsets])
    expected = deviations.T @ deviations / len(subsets)
    got = stochastic.minibatch_noise_covariance(problem, jnp.asarray(theta), batch_size)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)
    if batch_size == 6:
        np.testing.assert_allclose(got, 0.0, atol=1e-13)  # the full batch has no noise


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_noise_covariance_with_replacement_matches_enumerating_every_tuple(batch_size):
    problem, x, a = tiny_problem()
    theta = np.array([-0.1, 0.4, 1.1])
    per_example = tiny_example_gradients(theta, x, a)
    full = per_example.mean(axis=0)
    tuples = list(itertools.product(range(6), repeat=batch_size))
    deviations = np.array([per_example[list(t)].mean(axis=0) - full for t in tuples])
    expected = deviations.T @ deviations / len(tuples)
    got = stochastic.minibatch_noise_covariance(problem, jnp.asarray(theta), batch_size, True)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.usefixtures("x64")
def test_noisy_quadratic_noise_covariance_is_h_over_b():
    problem = problems.noisy_quadratic(dim=8, num_examples=8192, key=jax.random.PRNGKey(3))
    h = np.diag(np.asarray(problem.hessian(None)))
    for batch_size in (1, 16):
        got = stochastic.minibatch_noise_covariance(
            problem, problem.init(KEY), batch_size, replace=True
        )
        # E[covariance] = (m-1)/m H/b; the sample deviates by O(1/sqrt(m))
        np.testing.assert_allclose(np.diag(got) * batch_size / h, 1.0, atol=0.06)
        off_diagonal = got - np.diag(np.diag(got))
        assert np.max(np.abs(off_diagonal)) * batch_size < 0.05 * h.max()


def test_gradient_functions_reject_bad_input():
    problem, _, _ = tiny_problem()
    with pytest.raises(ValueError, match="indices must be an integer array"):
        stochastic.minibatch_gradients(problem, jnp.ones(3), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"indices must be in \[0, 5\]"):
        stochastic.minibatch_gradients(problem, jnp.ones(3), jnp.array([[0, 6]]))
    with pytest.raises(ValueError, match="data problem"):
        stochastic.per_example_gradients(problems.rosenbrock(), jnp.ones(2))
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, 6\]"):
        stochastic.minibatch_noise_covariance(problem, jnp.ones(3), 7)
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        stochastic.minibatch_noise_covariance(problem, jnp.ones(3), 0)


# --------------------------------------------------------------------------- minibatches


def test_sample_indices_epochs_are_data_minibatch_indices():
    key = jax.random.PRNGKey(4)
    np.testing.assert_array_equal(
        stochastic.sample_indices(key, 20, 3, 13), minibatch_indices(key, 20, 3, 13)
    )


def test_sample_indices_independent_are_uniform():
    indices = np.asarray(stochastic.sample_indices(KEY, 5, 4, 5000, sampling="independent"))
    assert indices.shape == (5000, 4) and indices.min() == 0 and indices.max() == 4
    counts = np.bincount(indices.ravel(), minlength=5) / indices.size
    np.testing.assert_allclose(counts, 0.2, atol=0.01)
    # with replacement: repeats inside a batch happen (1 - 5*4*3*2/5^4 of the time)
    repeats = np.mean([len(set(row)) < 4 for row in indices])
    assert abs(repeats - (1 - 120 / 625)) < 0.03


def test_sample_indices_rejects_bad_input():
    with pytest.raises(ValueError, match="sampling must be one of"):
        stochastic.sample_indices(KEY, 10, 2, 3, sampling="random")
    with pytest.raises(ValueError, match="steps must be an integer"):
        stochastic.sample_indices(KEY, 10, 2, 0)


# --------------------------------------------------------------------------- run_many


@pytest.mark.usefixtures("x64")
def test_run_many_reproduces_run_for_every_rate_and_key():
    problem = problems.noisy_quadratic(dim=5, num_examples=64)
    keys = jax.random.split(jax.random.PRNGKey(5), 2)
    rates = [0.1, 0.5]
    sweep = stochastic.run_many(
        lambda rate: polyak_average(gd(rate)), problem, 40, keys, rates, batch_size=8
    )
    assert sweep.loss.shape == (2, 2, 41) and sweep.average_loss.shape == (2, 2, 41)
    for i, j in [(0, 1), (1, 0)]:
        trajectory = run(polyak_average(gd(rates[i])), problem, 40, keys[j], batch_size=8)
        np.testing.assert_allclose(sweep.loss[i, j], trajectory.loss, rtol=1e-12)
        np.testing.assert_allclose(sweep.average_loss[i, j], trajectory.average_loss, rtol=1e-12)
    np.testing.assert_array_equal(sweep.examples, np.arange(41) * 8)


def test_run_methods_compiles_methods_together_as_run_does_each():
    problem = problems.noisy_quadratic(dim=5, num_examples=64)
    keys = jax.random.split(jax.random.key(3), 2)  # typed keys work as PRNGKey arrays do
    methods = {"gd": (gd, [0.1, 0.3]), "momentum": (lambda r: momentum(r, beta=0.5), [0.05])}
    sweeps = stochastic.run_methods(methods, problem, 20, keys, batch_size=8, record_every=5)
    assert list(sweeps) == ["gd", "momentum"]
    assert sweeps["gd"].final_params.shape == (2, 2, 5)
    for name, i, j, optimizer in [("gd", 1, 0, gd(0.3)), ("momentum", 0, 1, momentum(0.05, 0.5))]:
        trajectory = run(optimizer, problem, 20, keys[j], batch_size=8)
        np.testing.assert_allclose(sweeps[name].loss[i, j], trajectory.loss[::5], rtol=1e-5)
        np.testing.assert_allclose(
            sweeps[name].final_params[i, j], trajectory.final_params, rtol=1e-5, atol=1e-7
        )
    with pytest.raises(ValueError, match="methods\\['gd'\\] must be"):
        stochastic.run_methods({"gd": gd}, problem, 20, keys)
    with pytest.raises(ValueError, match="keys must be an array of PRNG keys"):
        stochastic.run_methods(methods, problem, 20, jax.random.key(0))


@pytest.mark.usefixtures("x64")
def test_run_many_records_every_few_steps_with_a_closed_form_loss():
    problem = problems.noisy_quadratic(dim=4, num_examples=32)
    h = np.diag(np.asarray(problem.hessian(None)))
    optimum = np.asarray(problem.optimum)

    def excess(params):
        return 0.5 * jnp.sum(h * (params - optimum) ** 2)

    keys = jax.random.split(KEY, 3)
    every = stochastic.run_many(
        lambda r: momentum(r, beta=0.5),
        problem,
        30,
        keys,
        [0.3],
        4,
        record_every=5,
        full_loss=excess,
    )
    each = stochastic.run_many(lambda r: momentum(r, beta=0.5), problem, 30, keys, [0.3], 4)
    np.testing.assert_array_equal(every.steps, np.arange(0, 31, 5))
    np.testing.assert_allclose(
        every.loss, each.loss[..., ::5] - problem.optimal_loss, rtol=1e-9, atol=1e-12
    )
    assert every.average_loss is None


@pytest.mark.usefixtures("x64")
def test_run_many_full_batch_and_given_start_is_gradient_descent():
    problem = problems.quadratic([0.5, 2.0])
    start = jnp.array([1.0, -1.0])
    sweep = stochastic.run_many(gd, problem, 10, KEY[None], [0.1, 0.4], params=start)
    for i, rate in enumerate([0.1, 0.4]):
        factors = (1 - rate * np.array([0.5, 2.0])) ** (2 * np.arange(11)[:, None])
        expected = 0.5 * (factors * np.array([0.5, 2.0]) * np.array([1.0, 1.0])).sum(axis=1)
        np.testing.assert_allclose(sweep.loss[i, 0], expected, rtol=1e-12)
    assert sweep.batch_size is None


@pytest.mark.usefixtures("x64")
def test_run_many_independent_sampling_differs_from_epochs():
    problem = problems.noisy_quadratic(dim=3, num_examples=16)
    args = (gd, problem, 20, KEY[None], [0.2], 4)
    epochs = stochastic.run_many(*args)
    independent = stochastic.run_many(*args, sampling="independent")
    np.testing.assert_allclose(epochs.loss[..., 0], independent.loss[..., 0])
    assert not np.allclose(epochs.loss, independent.loss)


def test_run_many_rejects_bad_input():
    problem = problems.noisy_quadratic(dim=3, num_examples=16)
    keys = jax.random.split(KEY, 2)
    with pytest.raises(ValueError, match="multiple of record_every"):
        stochastic.run_many(gd, problem, 10, keys, [0.1], 4, record_every=3)
    with pytest.raises(ValueError, match=r"keys must be an array of PRNG keys"):
        stochastic.run_many(gd, problem, 10, KEY, [0.1], 4)
    with pytest.raises(ValueError, match=r"learning_rates\[1\] must be in \(0, inf\)"):
        stochastic.run_many(gd, problem, 10, keys, [0.1, -0.1], 4)
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, 16\]"):
        stochastic.run_many(gd, problem, 10, keys, [0.1], 17)
    with pytest.raises(ValueError, match="data problem"):
        stochastic.run_many(gd, problems.rosenbrock(), 10, keys, [0.1], 4)
    with pytest.raises(ValueError, match="sampling must be one of"):
        stochastic.run_many(gd, problem, 10, keys, [0.1], 4, sampling="shuffle")


@pytest.mark.usefixtures("x64")
def test_batch_size_sweep_with_one_size_is_run_many():
    # logistic regression has an l2 penalty: the weighted per-example loss counts it once
    problem = problems.logistic_regression(l2=0.03)
    keys = jax.random.split(KEY, 2)
    single = stochastic.batch_size_sweep(gd, problem, 30, keys, [0.3, 1.0], [16])
    reference = stochastic.run_many(gd, problem, 30, keys, [0.3, 1.0], 16)
    np.testing.assert_allclose(single[16].loss, reference.loss, rtol=1e-10)


@pytest.mark.usefixtures("x64")
def test_batch_size_sweep_with_the_full_batch_is_gradient_descent():
    problem = problems.noisy_quadratic(dim=4, num_examples=24)
    keys = jax.random.split(KEY, 2)
    full = stochastic.batch_size_sweep(gd, problem, 10, keys, [0.5], [24])
    full_batch = stochastic.run_many(gd, problem, 10, keys, [0.5])
    np.testing.assert_allclose(full[24].loss, full_batch.loss, rtol=1e-10)


@pytest.mark.usefixtures("x64")
def test_batch_size_sweep_cuts_one_stream_of_epochs_for_every_size():
    problem, x, a = tiny_problem(num_examples=6)
    keys = jax.random.split(jax.random.PRNGKey(8), 2)
    rate = 0.2
    sweeps = stochastic.batch_size_sweep(gd, problem, 4, keys, [rate], [1, 2, 4], record_every=2)
    assert sorted(sweeps) == [1, 2, 4] and sweeps[2].batch_size == 2
    np.testing.assert_array_equal(sweeps[4].steps, [0, 2, 4])
    for j, key in enumerate(keys):
        batch_key = jax.random.split(key)[1]
        num_epochs = 4  # the largest batch (4 of 6 examples) needs one epoch per step
        epoch_keys = jax.random.split(batch_key, num_epochs)
        permutations = [np.asarray(jax.random.permutation(k, 6)) for k in epoch_keys]
        for size in (1, 2, 4):
            per_epoch = 6 // size
            batches = np.concatenate(
                [p[: per_epoch * size].reshape(-1, size) for p in permutations]
            )
            theta = np.ones(3)
            losses = []
            for step in range(4):
                if step % 2 == 0:
                    losses.append(float(problem.full_loss(jnp.asarray(theta))))
                grads = tiny_example_gradients(theta, x[batches[step]], a[batches[step]])
                theta = theta - rate * grads.mean(axis=0)
            losses.append(float(problem.full_loss(jnp.asarray(theta))))
            np.testing.assert_allclose(sweeps[size].loss[0, j], losses, rtol=1e-10)


def test_batch_size_sweep_rejects_bad_sizes():
    problem, _, _ = tiny_problem()
    keys = jax.random.split(KEY, 2)
    with pytest.raises(ValueError, match=r"batch_sizes must be distinct integers in \[1, 6\]"):
        stochastic.batch_size_sweep(gd, problem, 4, keys, [0.1], [2, 2])
    with pytest.raises(ValueError, match=r"batch_sizes must be distinct integers in \[1, 6\]"):
        stochastic.batch_size_sweep(gd, problem, 4, keys, [0.1], [7])
    with pytest.raises(ValueError, match=r"batch_sizes\[0\] must be an integer"):
        stochastic.batch_size_sweep(gd, problem, 4, keys, [0.1], [0])


def test_steps_to_target():
    steps = np.array([0, 1, 2, 4, 8])
    curves = np.array(
        [[5.0, 3.0, 1.0, 0.5, 0.1], [5.0, 4.0, 3.0, 2.0, 1.5], [5, 0.2, np.nan, 0, 0]]
    )
    np.testing.assert_array_equal(stochastic.steps_to_target(steps, curves, 1.0), [2, np.inf, 1])
    assert stochastic.steps_to_target(steps, curves[0], 0.5) == 4.0
    with pytest.raises(ValueError, match="losses must end in an axis"):
        stochastic.steps_to_target(steps, curves[:, :3], 1.0)


@pytest.mark.usefixtures("x64")
def test_scale_by_diagonal_preconditions_gd():
    diagonal = jnp.array([1.0, 4.0])
    optimizer = chain(stochastic.scale_by_diagonal(diagonal), gd(0.1))
    grads = jnp.array([0.5, -1.0])
    updates, _ = optimizer.update(grads, optimizer.init(jnp.zeros(2)), jnp.zeros(2))
    np.testing.assert_allclose(updates, [-0.05, 0.4])
    with pytest.raises(ValueError, match="diagonal must hold finite entries > 0"):
        stochastic.scale_by_diagonal(jnp.array([1.0, 0.0]))


# --------------------------------------------------------------------------- noisy quadratic


def moments_step_by_step(h, x0, rate, batch, beta, power, steps, noise=None):
    """E[h(theta_k)] - h* by the plain recursion of (E x^2, E xv, E v^2), one step at a time."""
    c = h if noise is None else noise
    results = []
    for hi, xi, ci in zip(h, x0, c, strict=True):
        a = rate * hi ** (-power)
        xx, xv, vv = xi**2, 0.0, 0.0
        row = [0.5 * hi * xx]
        for _ in range(steps):
            # x' = x - a (beta v + h x + eps), v' = beta v + h x + eps
            p, q = 1 - a * hi, -a * beta
            xx, xv, vv = (
                p * p * xx + 2 * p * q * xv + q * q * vv + a * a * ci / batch,
                p * hi * xx + (p * beta + q * hi) * xv + q * beta * vv - a * ci / batch,
                hi * hi * xx + 2 * hi * beta * xv + beta * beta * vv + ci / batch,
            )
            row.append(0.5 * hi * xx)
        results.append(row)
    return np.sum(results, axis=0)


def test_time_grid_has_relative_resolution():
    steps = stochastic.nqm_time_grid(1000, resolution=8)
    np.testing.assert_array_equal(steps[:9], np.arange(9))  # stride 1 up to the resolution
    assert steps[9] == 10 and steps[-1] >= 1000 and steps[-2] < 1000
    gaps = np.diff(steps)
    assert set(gaps.tolist()) == {1, 2, 4, 8, 16, 32, 64}
    assert np.all(gaps[8:] / steps[8:-1] <= 2.0 / 8)  # relative resolution 1/8 to 2/8


@pytest.mark.parametrize(
    "rate, batch, beta, power",
    [(0.5, 4, 0.0, 0.0), (0.05, 16, 0.9, 0.0), (0.2, 2, 0.0, 0.5), (0.03, 8, 0.7, 0.3)],
)
def test_nqm_expected_loss_matches_the_step_by_step_recursion(rate, batch, beta, power):
    h = 1.0 / np.arange(1, 7)
    x0 = np.linspace(1.0, -0.5, 6)
    noise = h * np.linspace(0.8, 1.2, 6)
    steps, excess = stochastic.nqm_expected_loss(
        h, x0, rate, batch, beta=beta, power=power, noise=noise, max_steps=600, resolution=16
    )
    expected = moments_step_by_step(h, x0, rate, batch, beta, power, int(steps[-1]), noise)
    np.testing.assert_allclose(excess, expected[steps], rtol=1e-9)


def test_nqm_expected_loss_of_sgd_has_a_closed_form():
    h, x0 = 1.0 / np.arange(1, 11), np.ones(10)
    rate, batch = 0.7, 5
    steps, excess = stochastic.nqm_expected_loss(h, x0, rate, batch, max_steps=5000)
    factor = (1 - rate * h) ** 2
    k = steps[:, None]
    second = factor**k * x0**2 + rate**2 * h / batch * (1 - factor**k) / (1 - factor)
    np.testing.assert_allclose(excess, 0.5 * second @ h, rtol=1e-9)


def test_nqm_expected_loss_matches_monte_carlo():
    rng = np.random.default_rng(0)
    h, x0 = np.array([1.0, 0.3, 0.05]), np.array([1.0, -2.0, 3.0])
    rate, batch, beta, power, steps = 0.1, 4, 0.8, 0.5, 60
    a = rate * h**-power
    x = np.tile(x0, (20000, 1))
    v = np.zeros_like(x)
    for _ in range(steps):
        g = h * x + rng.normal(size=x.shape) * np.sqrt(h / batch)
        v = beta * v + g
        x = x - a * v
    measured = np.mean(0.5 * np.sum(h * x**2, axis=1))
    grid, excess = stochastic.nqm_expected_loss(
        h, x0, rate, batch, beta=beta, power=power, max_steps=steps, resolution=steps
    )
    assert grid[-1] == steps
    assert abs(measured / excess[-1] - 1) < 0.03


def test_nqm_expected_loss_broadcasts_settings_and_flags_divergence():
    h, x0 = 1.0 / np.arange(1, 5), np.ones(4)
    rates = np.array([0.1, 1.0, 2.5])[:, None]
    batches = np.array([1, 10])[None, :]
    steps, excess = stochastic.nqm_expected_loss(h, x0, rates, batches, max_steps=200)
    assert excess.shape == (3, 2, steps.size)
    _, single = stochastic.nqm_expected_loss(h, x0, 1.0, 10, max_steps=200)
    np.testing.assert_allclose(excess[1, 1], single)
    assert not np.all(np.isfinite(excess[2])) or excess[2, 0, -1] > 1e6  # 2.5 > 2/L
    with pytest.raises(ValueError, match="beta must be in"):
        stochastic.nqm_expected_loss(h, x0, 0.1, 1, beta=1.0)
    with pytest.raises(ValueError, match="start_error must have the shape"):
        stochastic.nqm_expected_loss(h, x0[:2], 0.1, 1)
    with pytest.raises(ValueError, match="learning_rate must be finite"):
        stochastic.nqm_expected_loss(h, x0, -0.1, 1)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        stochastic.nqm_expected_loss(h, x0, 0.1, 0.5)


@pytest.mark.parametrize("beta, power", [(0.0, 0.0), (0.9, 0.0), (0.5, 0.5)])
def test_nqm_noise_floor_is_the_limit_of_the_expected_loss(beta, power):
    h = 1.0 / np.arange(1, 6)
    rate, batch = 0.2, 3
    floor = stochastic.nqm_noise_floor(h, rate, batch, beta=beta, power=power)
    _, excess = stochastic.nqm_expected_loss(
        h, np.ones(5), rate, batch, beta=beta, power=power, max_steps=200_000
    )
    np.testing.assert_allclose(floor, excess[-1], rtol=1e-8)


def test_nqm_noise_floor_of_sgd_closed_form_and_instability():
    h = 1.0 / np.arange(1, 21)
    rates = np.array([0.05, 0.5, 1.5])
    floor = stochastic.nqm_noise_floor(h, rates, 8)
    expected = [np.sum(r * h / (2 * 8 * (2 - r * h))) for r in rates]
    np.testing.assert_allclose(floor, expected, rtol=1e-10)
    assert stochastic.nqm_noise_floor(h, 2.5, 8) == np.inf  # alpha > 2/L


def test_nqm_figure_is_labelled_and_reports_steps_to_target():
    figure, info = stochastic.nqm_figure(16, 0.5, dim=20, target=0.05, max_steps=5000)
    for ax in figure.axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None
    h = 1.0 / np.arange(1, 21)
    np.testing.assert_allclose(info["floor"], stochastic.nqm_noise_floor(h, 0.5, 16))
    assert info["steps_to_target"] == stochastic.steps_to_target(
        info["steps"], info["excess"], 0.05
    )
    assert np.isfinite(info["steps_to_target"])
    _, never = stochastic.nqm_figure(1, 1.0, dim=20, target=0.05, max_steps=5000)
    assert never["floor"] > 0.05 and never["steps_to_target"] == np.inf
    with pytest.raises(ValueError, match="beta must be in"):
        stochastic.nqm_figure(16, 0.5, beta=1.2)


def test_nqm_explorer_builds_its_sliders():
    explorer = stochastic.nqm_explorer(dim=10, target=0.1)
    names = {child.description for child in explorer.children[:-1]}
    assert names == {"batch size B", "learning rate", "momentum beta", "preconditioning p"}
