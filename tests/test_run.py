"""run: iterates against the closed form of GD on a quadratic; divergence; minibatches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import Problem, compare, problems, run
from lecture_lib.data import minibatch_indices
from lecture_lib.optim import gd

KEY = jax.random.PRNGKey(0)


@pytest.mark.usefixtures("x64")
def test_gd_iterates_follow_the_closed_form():
    problem = problems.quadratic([0.3, 2.0], angle=0.4, optimum=[1.0, -1.0])
    alpha, steps = 0.7, 25
    trajectory = run(gd(alpha), problem, steps, KEY)
    a_matrix = np.asarray(problem.hessian(None))
    theta0 = np.asarray(problem.init(KEY)) - np.asarray(problem.optimum)
    expected = [
        np.linalg.matrix_power(np.eye(2) - alpha * a_matrix, k) @ theta0
        + np.asarray(problem.optimum)
        for k in range(steps + 1)
    ]
    np.testing.assert_allclose(trajectory.iterates, np.array(expected), rtol=1e-12, atol=1e-12)
    losses = [0.5 * (e - problem.optimum) @ a_matrix @ (e - problem.optimum) for e in expected]
    np.testing.assert_allclose(trajectory.loss, losses, rtol=1e-10, atol=1e-14)
    grads = [np.linalg.norm(a_matrix @ (e - np.asarray(problem.optimum))) for e in expected]
    np.testing.assert_allclose(trajectory.grad_norm, grads, rtol=1e-10, atol=1e-14)
    assert not trajectory.diverged and trajectory.diverged_at is None


def test_divergence_stops_recording_at_the_first_nonfinite_iterate():
    # A loss that is NaN beyond theta_1 > 3.5: GD with alpha=3 on theta^2/2 from 1
    # visits 1, -2, 4, so step 2 is the first non-finite one.
    def loss(params, batch=None):
        value = 0.5 * params @ params
        return jnp.where(params[0] > 3.5, jnp.nan, value)

    problem = Problem(name="trap", loss=loss, init=lambda key: jnp.array([1.0, 0.0]))
    trajectory = run(gd(3.0), problem, 10, KEY)
    assert trajectory.diverged and trajectory.diverged_at == 2
    np.testing.assert_allclose(trajectory.iterates, [[1.0, 0.0], [-2.0, 0.0]])
    np.testing.assert_allclose(trajectory.loss, [0.5, 2.0])
    np.testing.assert_allclose(trajectory.final_params, [-2.0, 0.0])
    assert "diverged at step 2" in repr(trajectory)


def test_overflow_beyond_two_over_l_is_flagged():
    problem = problems.quadratic([1.0, 10.0])
    trajectory = run(gd(0.25), problem, 2000, KEY)
    assert trajectory.diverged
    assert np.all(np.isfinite(trajectory.loss))
    assert np.all(np.diff(trajectory.loss[5:]) > 0)
    assert run(gd(0.19), problem, 2000, KEY).diverged is False


def test_full_size_minibatches_reproduce_full_batch_gd():
    problem = problems.logistic_regression()
    m = problem.num_examples
    full = run(gd(0.3), problem, 20, KEY)
    batched = run(gd(0.3), problem, 20, KEY, batch_size=m)
    np.testing.assert_allclose(batched.loss, full.loss, rtol=1e-5)


def test_minibatch_gradients_average_to_the_full_gradient():
    problem = problems.linear_regression()
    params = problem.init(KEY)
    x, y = problem.data
    m = problem.num_examples
    batch_size = next(b for b in range(m // 4, 0, -1) if m % b == 0)
    indices = minibatch_indices(jax.random.PRNGKey(2), m, batch_size, m // batch_size)
    grad = jax.grad(problem.loss)
    batch_grads = jax.vmap(lambda i: grad(params, (x[i], y[i]))["w"])(indices)
    assert batch_grads.shape[0] == m // batch_size
    np.testing.assert_allclose(
        jnp.mean(batch_grads, axis=0), grad(params, problem.data)["w"], rtol=1e-4, atol=1e-5
    )


def test_sgd_is_reproducible_from_the_key_and_differs_across_keys():
    problem = problems.softmax_regression()
    a = run(gd(0.1), problem, 30, KEY, batch_size=16)
    b = run(gd(0.1), problem, 30, KEY, batch_size=16)
    c = run(gd(0.1), problem, 30, jax.random.PRNGKey(1), batch_size=16)
    np.testing.assert_array_equal(a.loss, b.loss)
    assert not np.allclose(a.loss, c.loss)
    assert a.iterates is None


def test_compare_runs_every_optimizer_from_the_same_start():
    problem = problems.rosenbrock()
    results = compare({"small": gd(1e-4), "large": gd(1e-3)}, problem, 50, KEY)
    assert set(results) == {"small", "large"}
    np.testing.assert_array_equal(results["small"].iterates[0], results["large"].iterates[0])
    assert results["large"].loss[-1] < results["small"].loss[-1]


def test_run_accepts_optax_and_a_given_start():
    import optax

    problem = problems.quadratic([1.0, 4.0])
    start = jnp.array([2.0, 2.0])
    trajectory = run(optax.sgd(0.1), problem, 5, KEY, params=start)
    np.testing.assert_allclose(trajectory.iterates[0], start)
    np.testing.assert_allclose(
        trajectory.iterates[1], start - 0.1 * np.array([2.0, 8.0]), rtol=1e-6
    )


@pytest.mark.usefixtures("x64")
def test_average_loss_is_the_loss_of_the_mean_iterate():
    from lecture_lib.optim import polyak_average

    problem = problems.quadratic([1.0, 5.0])
    trajectory = run(polyak_average(gd(0.3)), problem, 30, KEY)
    means = np.cumsum(trajectory.iterates, axis=0) / np.arange(1, 32)[:, None]
    a_matrix = np.diag([1.0, 5.0])
    expected = 0.5 * np.einsum("ki,ij,kj->k", means, a_matrix, means)
    np.testing.assert_allclose(trajectory.average_loss, expected, rtol=1e-10)
    assert run(gd(0.3), problem, 5, KEY).average_loss is None


# --------------------------------------------------------------------------- second order


@pytest.mark.usefixtures("x64")
def test_a_second_order_method_records_its_info_step_by_step():
    from lecture_lib.optim import damped_newton

    problem = problems.quadratic([0.5, 4.0], angle=0.3)
    trajectory = run(damped_newton(problem, 3.0), problem, 6, KEY)
    assert set(trajectory.info) == {"damping", "reduction_ratio", "step_norm", "accepted"}
    assert all(len(values) == 6 for values in trajectory.info.values())
    # The model is exact on a quadratic: rho = 1 and lambda shrinks by 2/3 every step.
    np.testing.assert_allclose(trajectory.info["damping"], 3.0 * (2 / 3) ** np.arange(6))
    np.testing.assert_allclose(trajectory.info["reduction_ratio"], 1.0, atol=1e-8)
    assert trajectory.info["accepted"].all()
    # Entry k is the step from iterate k to iterate k + 1, which the oracle retraces.
    a_matrix = np.asarray(problem.hessian(None))
    for k in range(6):
        theta = trajectory.iterates[k]
        expected = theta - np.linalg.solve(
            a_matrix + trajectory.info["damping"][k] * np.eye(2), a_matrix @ theta
        )
        np.testing.assert_allclose(trajectory.iterates[k + 1], expected, rtol=1e-10, atol=1e-14)
        assert trajectory.info["step_norm"][k] == pytest.approx(np.linalg.norm(expected - theta))
    assert run(gd(0.1), problem, 3, KEY).info is None


def _probe_method():
    """A SecondOrderMethod that stays put and reports what run handed it."""
    from lecture_lib.optim import SecondOrderMethod

    def init(params):
        return jnp.zeros([], jnp.int32)

    def step(params, state, batch, key):
        x, y = batch
        info = {
            "count": state,
            "label_sum": jnp.sum(y),
            "batch_rows": jnp.asarray(x.shape[0]),
            "draw": jax.random.uniform(key),
        }
        return params, state + 1, info

    return SecondOrderMethod(init, step)


def test_second_order_steps_get_the_minibatches_and_a_fresh_key_each():
    problem = problems.linear_regression()
    m, batch_size, steps = problem.num_examples, 32, 12
    trajectory = run(_probe_method(), problem, steps, KEY, batch_size=batch_size)
    np.testing.assert_array_equal(trajectory.info["count"], np.arange(steps))
    indices = minibatch_indices(jax.random.split(KEY)[1], m, batch_size, steps)
    y = np.asarray(problem.data[1])
    np.testing.assert_allclose(trajectory.info["label_sum"], y[np.asarray(indices)].sum(axis=1))
    assert len(np.unique(trajectory.info["draw"])) == steps
    full = run(_probe_method(), problem, 3, KEY)
    np.testing.assert_array_equal(full.info["batch_rows"], m)
    np.testing.assert_allclose(full.info["label_sum"], y.sum(), rtol=1e-6)


def test_an_exploding_newton_run_is_flagged_and_its_info_stops_with_it():
    from lecture_lib.optim import damped_newton, newton

    # h = sum sqrt(1 + x_i^2): Newton's step sends x to -x^3, which overflows from x = 2.
    def loss(params, batch=None):
        return jnp.sum(jnp.sqrt(1 + params**2))

    problem = Problem(name="pseudo-Huber", loss=loss, init=lambda key: jnp.array([2.0, 0.0]))
    trajectory = run(newton(problem), problem, 20, KEY)
    assert trajectory.diverged and trajectory.diverged_at < 10
    assert np.all(np.isfinite(trajectory.loss)) and np.all(np.isfinite(trajectory.iterates))
    expected = [2.0]
    while len(expected) < len(trajectory.loss):
        expected.append(-(expected[-1] ** 3))
    np.testing.assert_allclose(trajectory.iterates[:, 0], expected, rtol=1e-5)
    assert all(len(v) == len(trajectory.loss) - 1 for v in trajectory.info.values())
    assert all(np.all(np.isfinite(v)) for v in trajectory.info.values())
    # Damping with rejection tames it: no divergence, and the minimum h = 2 at 0.
    damped = run(damped_newton(problem, 1e-3), problem, 40, KEY)
    assert not damped.diverged and damped.loss[-1] == pytest.approx(2.0, abs=1e-6)
    assert not damped.info["accepted"][0]


def test_compare_mixes_first_and_second_order_methods():
    from lecture_lib.optim import newton, trust_region

    problem = problems.quadratic([0.1, 1.0], angle=0.5)
    results = compare(
        {"gd": gd(1.0), "newton": newton(problem), "trust region": trust_region(problem, 0.3)},
        problem,
        10,
        KEY,
    )
    np.testing.assert_array_equal(results["gd"].iterates[0], results["newton"].iterates[0])
    assert results["newton"].loss[1] < 1e-10 < results["gd"].loss[-1]
    assert results["gd"].info is None and "radius" in results["trust region"].info


def test_run_rejects_what_is_not_an_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        run(object(), problems.saddle(), 3, KEY)
