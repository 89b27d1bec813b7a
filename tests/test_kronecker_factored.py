"""Lecture 6's tools (lecture_lib.kronecker_factored) and its exercise checks, against oracles.

The oracles are numpy: counting the entries of real arrays, a hand-written Jacobian and
softmax Fisher of a one-hidden-layer tanh network, dense Kronecker solves with np.kron.
"""

import jax
import matplotlib
import numpy as np
import pytest

from lecture_lib import kronecker_factored as kf
from lecture_lib import problems
from lecture_lib.optim.kfac import kfac
from lecture_lib.run import run

matplotlib.use("Agg")


# --------------------------------------------------------------------------- costs


def test_kronecker_costs_count_the_entries_and_flops_of_real_arrays():
    shapes = [(3, 4), (4, 2)]
    costs = kf.kronecker_costs(shapes)
    for (fan_in, fan_out), cost in zip(shapes, costs, strict=True):
        a, g = np.zeros((fan_in + 1, fan_in + 1)), np.zeros((fan_out, fan_out))
        block = np.kron(a, g)
        assert cost.parameters == np.zeros((fan_in + 1, fan_out)).size
        assert cost.dense_storage == block.size
        assert cost.dense_inverse == block.shape[0] ** 3
        assert cost.kronecker_storage == a.size + g.size
        assert cost.kronecker_inverse == a.shape[0] ** 3 + g.shape[0] ** 3
        # multiply-adds of A @ V (a x a times a x g) then (a x g) @ G (g x g)
        v = np.zeros((fan_in + 1, fan_out))
        assert cost.kronecker_apply == a.shape[0] * a.shape[1] * v.shape[1] + v.size * g.shape[1]


def test_kronecker_apply_is_of_order_sqrt_b_times_b_for_balanced_factors():
    (cost,) = kf.kronecker_costs([(999, 1000)])
    assert cost.kronecker_apply == 2 * cost.parameters**1.5
    assert cost.kronecker_storage == 2 * cost.parameters


def test_format_kronecker_costs_has_a_row_per_layer_and_a_total():
    table = kf.format_kronecker_costs(kf.kronecker_costs([(64, 32), (32, 10)]))
    lines = table.splitlines()
    assert len(lines) == 2 + 2 + 1
    assert "64 x 32" in lines[2] and lines[-1].lstrip().startswith("total")
    assert f"{65 * 32 + 33 * 10:,d}" in lines[-1]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: kf.kronecker_costs([]), "shapes"),
        (lambda: kf.kronecker_costs([(3,)]), r"shapes\[0\]"),
        (lambda: kf.kronecker_costs([(0, 2)]), "fan_in"),
        (lambda: kf.format_kronecker_costs([]), "costs"),
    ],
)
def test_cost_arguments_are_validated(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# --------------------------------------------------------------------------- Fisher comparison


def _numpy_fisher_and_factors(params, x):
    """Exact Fisher and K-FAC factors of a tanh MLP d-h-c by hand, in the order [b1, w1, b2, w2]."""
    w1, b1 = (np.asarray(params[0][k], np.float64) for k in ("w", "b"))
    w2, b2 = (np.asarray(params[1][k], np.float64) for k in ("w", "b"))
    m, d = x.shape
    h, c = w2.shape
    hidden = np.tanh(x @ w1 + b1)
    logits = hidden @ w2 + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n = h + d * h + c + h * c
    fisher = np.zeros((n, n))
    a1, a2 = np.zeros((d + 1, d + 1)), np.zeros((h + 1, h + 1))
    g1, g2 = np.zeros((h, h)), np.zeros((c, c))
    for i in range(m):
        # d logits / d params, columns in the order b1, w1 (row-major), b2, w2 (row-major)
        jac = np.zeros((c, n))
        slope = 1 - hidden[i] ** 2
        for k in range(c):
            dh = w2[:, k] * slope  # d logit_k / d s1
            jac[k, :h] = dh
            jac[k, h : h + d * h] = np.outer(x[i], dh).ravel()
            jac[k, h + d * h + k] = 1.0
            jac[k, h + d * h + c :] = np.outer(hidden[i], np.eye(c)[k]).ravel()
        output_fisher = np.diag(p[i]) - np.outer(p[i], p[i])
        fisher += jac.T @ output_fisher @ jac / m
        a_bar1, a_bar2 = np.append(x[i], 1.0), np.append(hidden[i], 1.0)
        a1 += np.outer(a_bar1, a_bar1) / m
        a2 += np.outer(a_bar2, a_bar2) / m
        back = w2 * slope[:, None]  # d s1 / d logits, transposed
        g1 += back @ output_fisher @ back.T / m
        g2 += output_fisher / m
    return fisher, [(a1, g1), (a2, g2)]


def _kfac_in_flatten_order(factors, d, h, c):
    """A (x) G over vec([w; b]) row-major, permuted to [b, w] per layer, block-diagonal."""
    blocks = []
    for (a, g), fan_in in zip(factors, (d, h), strict=True):
        block = np.kron(a, g)
        fan_out = g.shape[0]
        order = np.arange(block.shape[0]).reshape(fan_in + 1, fan_out)
        permutation = np.concatenate([order[-1], order[:-1].ravel()])  # bias row first
        blocks.append(block[np.ix_(permutation, permutation)])
    n = sum(b.shape[0] for b in blocks)
    result = np.zeros((n, n))
    start = 0
    for block in blocks:
        result[start : start + block.shape[0], start : start + block.shape[0]] = block
        start += block.shape[0]
    return result


@pytest.fixture(scope="module")
def small_mlp():
    problem = problems.mlp(hidden_sizes=(4,), activation="tanh")
    params = problem.init(jax.random.key(1))
    x, y = problem.data
    return problem, params, (x[:12], y[:12])


def test_fisher_comparison_matches_a_hand_written_fisher_and_kfac(small_mlp):
    problem, params, batch = small_mlp
    comparison = kf.fisher_comparison(problem, params, batch)
    fisher, factors = _numpy_fisher_and_factors(params, np.asarray(batch[0], np.float64))
    exact = comparison.matrices["exact Fisher"]
    scale = np.abs(fisher).max()
    assert np.allclose(exact, fisher, atol=1e-5 * scale)
    for (a, g), (a_ref, g_ref) in zip(comparison.factors, factors, strict=True):
        assert np.allclose(a, a_ref, atol=1e-5 * np.abs(a_ref).max())
        assert np.allclose(g, g_ref, atol=1e-5 * np.abs(g_ref).max())
    kfac_reference = _kfac_in_flatten_order(factors, 64, 4, 10)
    assert np.allclose(comparison.matrices["K-FAC"], kfac_reference, atol=1e-5 * scale)
    assert np.allclose(comparison.matrices["diagonal"], np.diag(np.diag(fisher)), atol=1e-5 * scale)
    assert comparison.blocks == [65 * 4, 5 * 10]
    error = np.linalg.norm(kfac_reference - fisher) / np.linalg.norm(fisher)
    assert comparison.errors["K-FAC"] == pytest.approx(error, rel=1e-3)
    assert comparison.errors["exact Fisher"] == 0.0
    second = slice(260, 310)
    block_error = np.linalg.norm(kfac_reference[second, second] - fisher[second, second])
    assert comparison.block_errors["K-FAC"][1] == pytest.approx(
        block_error / np.linalg.norm(fisher[second, second]), rel=1e-3
    )


def test_with_one_example_kfac_is_the_fisher_block_exactly(small_mlp):
    problem, params, (x, y) = small_mlp
    comparison = kf.fisher_comparison(problem, params, (x[:1], y[:1]))
    assert max(comparison.block_errors["K-FAC"]) < 1e-5


def test_fisher_comparison_refuses_a_penalised_problem(small_mlp):
    _, params, batch = small_mlp
    with pytest.raises(ValueError, match="penalty"):
        kf.fisher_comparison(problems.mlp(hidden_sizes=(4,), l2=1e-3), params, batch)


# --------------------------------------------------------------------------- damping sweep


def test_damping_sweep_gives_the_losses_of_separate_runs():
    problem = problems.mlp(hidden_sizes=(4,), activation="tanh")
    key = jax.random.key(3)
    sweep = kf.damping_sweep(problem, [1e-2, 1.0], 6, key, 64, learning_rate=0.5)
    assert sweep.loss.shape == (2, 7) and sweep.diverged_at == [None, None]
    for damping, losses in zip(sweep.dampings, sweep.loss, strict=True):
        method = kfac(problem, 0.5, float(damping), adapt=False)
        assert np.allclose(losses, run(method, problem, 6, key, batch_size=64).loss, rtol=1e-4)
    assert sweep.loss[0, -1] < sweep.loss[1, -1]  # less damping, longer steps here


def test_damping_sweep_reports_divergence_instead_of_plotting_it():
    problem = problems.mlp(hidden_sizes=(4,), activation="tanh")
    sweep = kf.damping_sweep(problem, [1e-8], 5, jax.random.key(0), 64, learning_rate=1e30)
    (diverged_at,) = sweep.diverged_at
    assert diverged_at is not None and 0 < diverged_at <= 5
    assert np.all(np.isnan(sweep.loss[0, diverged_at:]))
    assert np.all(np.isfinite(sweep.loss[0, :diverged_at]))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"dampings": []}, "dampings"),
        ({"dampings": [0.0]}, r"dampings\[0\]"),
        ({"steps": 0}, "steps"),
        ({"adapt": True}, "kfac_options"),
    ],
)
def test_damping_sweep_arguments_are_validated(kwargs, name):
    arguments = {"dampings": [1.0], "steps": 3, "key": jax.random.key(0), "batch_size": 8}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=name):
        kf.damping_sweep(problems.mlp(hidden_sizes=(4,)), **arguments)


# --------------------------------------------------------------------------- damped directions


def _angle(u, v):
    return np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1)))


def test_damped_directions_against_dense_kronecker_solves():
    rng = np.random.default_rng(0)
    left = rng.normal(size=(3, 3))
    left = left @ left.T + 0.1 * np.eye(3)
    right = rng.normal(size=(2, 2))
    right = right @ right.T
    block = np.kron(left, right) + 0.3 * np.diag(rng.uniform(size=6))
    gradient = rng.normal(size=(3, 2))
    dampings = [1e-3, 1.0, 1e6]
    result = kf.damped_directions(block, (left, right), gradient, dampings)
    pi = np.sqrt((np.trace(left) / 3) / (np.trace(right) / 2))
    for index, damping in enumerate(dampings):
        gamma = np.sqrt(damping)
        damped = np.kron(left + pi * gamma * np.eye(3), right + gamma / pi * np.eye(2))
        step = np.linalg.solve(damped, gradient.ravel())
        natural = np.linalg.solve(block + damping * np.eye(6), gradient.ravel())
        # the factors are damped in float32 (JAX's default): tolerances to match
        assert result.angle_to_natural[index] == pytest.approx(_angle(step, natural), abs=0.05)
        assert result.angle_to_gradient[index] == pytest.approx(
            _angle(step, gradient.ravel()), abs=0.05
        )
        assert result.length_ratio[index] == pytest.approx(
            np.linalg.norm(step) * damping / np.linalg.norm(gradient), rel=1e-4
        )
    assert result.angle_to_gradient[-1] < 0.5 and abs(result.length_ratio[-1] - 1) < 1e-2


def test_damped_directions_validate_shapes():
    with pytest.raises(ValueError, match="gradient"):
        kf.damped_directions(np.eye(6), (np.eye(3), np.eye(2)), np.ones((2, 3)), [1.0])
    with pytest.raises(ValueError, match="fisher_block"):
        kf.damped_directions(np.eye(5), (np.eye(3), np.eye(2)), np.ones((3, 2)), [1.0])
    with pytest.raises(ValueError, match=r"dampings\[0\]"):
        kf.damped_directions(np.eye(6), (np.eye(3), np.eye(2)), np.ones((3, 2)), [-1.0])


def test_damping_explorer_is_a_thin_layer_over_the_figure():
    directions = kf.damped_directions(
        np.eye(6), (np.eye(3), np.eye(2)), np.ones((3, 2)), np.geomspace(1e-3, 1e3, 7)
    )
    figure = kf.damping_figure(directions, 1.0)
    assert len(figure.axes) == 2 and figure.axes[0].get_xlabel().startswith("damping")
    explorer = kf.damping_explorer(directions)
    assert explorer.children[0].min == pytest.approx(-3)
    with pytest.raises(ValueError, match="damping"):
        kf.damping_figure(directions, 0.0)
    with pytest.raises(ValueError, match="directions"):
        kf.damping_explorer("not a result")


def test_run_measures_its_time_after_compilation():
    problem = problems.mlp(hidden_sizes=(4,), activation="tanh")
    from lecture_lib import optim

    trajectory = run(optim.momentum(0.1), problem, 5, jax.random.key(0), batch_size=32)
    assert trajectory.seconds is not None and 0 < trajectory.seconds < 5


# --------------------------------------------------------------------------- exercise checks


def _factors(inputs, gradients):
    a_bar = np.concatenate([inputs, np.ones((len(inputs), 1))], axis=1)
    return a_bar.T @ a_bar / len(inputs), gradients.T @ gradients / len(inputs)


def _inverse_apply(left, right, matrix):
    return np.linalg.solve(left, np.linalg.solve(right, np.asarray(matrix).T).T)


def _pi_damping(left, right, damping):
    left, right = np.asarray(left), np.asarray(right)
    pi = np.sqrt((np.trace(left) / len(left)) / (np.trace(right) / len(right)))
    gamma = np.sqrt(damping)
    return left + pi * gamma * np.eye(len(left)), right + gamma / pi * np.eye(len(right))


def _layer_step(inputs, gradients, gradient, damping, rate):
    damped = _pi_damping(*_factors(np.asarray(inputs), np.asarray(gradients)), damping)
    return -rate * _inverse_apply(*damped, gradient)


def test_exercise_checks_pass_the_solutions(capsys):
    from lecture_lib import checks

    checks.kfac.check_kronecker_factors(lambda a, g: _factors(np.asarray(a), np.asarray(g)))
    checks.kfac.check_kronecker_inverse_apply(_inverse_apply)
    checks.kfac.check_pi_damping(_pi_damping)
    checks.kfac.check_kfac_layer_step(_layer_step)
    assert capsys.readouterr().out.count("Well done!") == 4


def _no_bias(a, g):
    a, g = np.asarray(a), np.asarray(g)
    return a.T @ a / len(a), g.T @ g / len(g)


@pytest.mark.parametrize(
    ("check", "answer", "hint"),
    [
        ("check_kronecker_factors", _no_bias, "bias"),
        (
            "check_kronecker_factors",
            lambda a, g: tuple(f / len(a) for f in _factors(np.asarray(a), np.asarray(g))),
            "divide by m once",
        ),
        (
            "check_kronecker_inverse_apply",
            lambda a, g, v: np.asarray(a) @ v @ np.asarray(g),
            "inverses",
        ),
        (
            "check_kronecker_inverse_apply",
            lambda a, g, v: np.linalg.solve(a, v),
            "G\\^-1 is missing",
        ),
        (
            "check_pi_damping",
            lambda a, g, lam: _pi_damping(a, g, lam**2),
            "square root of the damping",
        ),
        (
            "check_pi_damping",
            lambda a, g, lam: (
                a + np.sqrt(lam) * np.eye(len(a)),
                g + np.sqrt(lam) * np.eye(len(g)),
            ),
            "not even",
        ),
        ("check_kfac_layer_step", lambda *args: -_layer_step(*args), "minus sign"),
        (
            "check_kfac_layer_step",
            lambda a, g, v, lam, r: _layer_step(a, g, v, lam, 1.0),
            "learning rate",
        ),
    ],
)
def test_exercise_checks_name_the_common_mistakes(check, answer, hint):
    from lecture_lib import checks

    with pytest.raises(checks.CheckFailed, match=hint):
        getattr(checks.kfac, check)(answer)
