"""Lecture 9's tools (lecture_lib.perturbation) and its exercise checks, against oracles.

Oracles: closed-form gradients of deep linear chains in numpy, a numpy transcription of
gradient descent with the relative sizes computed by hand, and hand-built sweeps.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_problems_deep_linear_chain import chain_gradients

from lecture_lib import optim, problems
from lecture_lib import perturbation as pt
from lecture_lib.adaptive import Sweep


def _relative_change(layers, perturbed, x, y, loss):
    before = np.concatenate([g.ravel() for g in chain_gradients(layers, x, y, loss)])
    after = np.concatenate([g.ravel() for g in chain_gradients(perturbed, x, y, loss)])
    return np.linalg.norm(after - before) / np.linalg.norm(before)


# --------------------------------------------------------------------------- the bound


def test_perturbation_bound_is_the_product_minus_one():
    sizes = np.array([[0.1, 0.2, 0.5], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(pt.perturbation_bound(sizes), [1.1 * 1.2 * 1.5 - 1, 0.0, 7.0])
    # tiny perturbations keep their digits: (1 + r)^3 - 1 = 3r + 3r^2 + r^3
    np.testing.assert_allclose(pt.perturbation_bound([1e-12] * 3), 3e-12, rtol=1e-9)


@pytest.mark.parametrize("sizes", [[-0.1, 0.2], [np.nan], [np.inf], [], 0.3])
def test_perturbation_bound_checks_its_argument(sizes):
    with pytest.raises(ValueError, match="relative_sizes"):
        pt.perturbation_bound(sizes)


@pytest.mark.parametrize("width", [None, 3])
def test_relative_gradient_change_matches_the_closed_form(x64, width):
    chain = problems.deep_linear_chain(depth=3, width=width, loss="squared_error")
    params = chain.init(jax.random.key(2))
    perturbation = [0.1 * jnp.ones_like(w) for w in params]
    expected = _relative_change(
        params, [w + d for w, d in zip(params, perturbation, strict=True)], *chain.data,
        "squared_error",
    )  # fmt: skip
    assert pt.relative_gradient_change(chain, params, perturbation) == pytest.approx(expected)


def test_relative_gradient_change_checks_its_arguments():
    chain = problems.deep_linear_chain(depth=2)
    params = chain.init(jax.random.key(0))
    with pytest.raises(ValueError, match="problem"):
        pt.relative_gradient_change("chain", params, params)
    with pytest.raises(ValueError, match="perturbation"):
        pt.relative_gradient_change(chain, params, params[:1])
    with pytest.raises(ValueError, match="perturbation leaf 1"):
        pt.relative_gradient_change(chain, params, [params[0], jnp.ones(2)])


def test_aligned_perturbations_of_a_matrix_chain_match_the_oracle(x64):
    chain = problems.deep_linear_chain(depth=3, width=4, loss="linear")
    params = chain.init(jax.random.key(1))
    sizes = np.array([[0.1, 0.0, 0.3], [0.5, 0.5, 0.5]])
    test = pt.bound_test(chain, params, sizes, jax.random.key(0), direction="aligned")
    for row, measured in zip(sizes, test.measured, strict=True):
        perturbed = [(1 + r) * np.asarray(w) for w, r in zip(params, row, strict=True)]
        assert measured == pytest.approx(_relative_change(params, perturbed, *chain.data, "linear"))
    np.testing.assert_allclose(test.bound, pt.perturbation_bound(sizes))
    np.testing.assert_allclose(test.tightness, test.measured / test.bound)


def test_random_perturbations_of_a_scalar_chain_are_sign_flips_within_the_bound(x64):
    chain = problems.deep_linear_chain(depth=3, loss="linear")
    params = [jnp.asarray(0.7), jnp.asarray(-1.2), jnp.asarray(2.0)]
    row = np.array([0.1, 0.2, 0.4])
    test = pt.bound_test(chain, params, np.tile(row, (20, 1)), jax.random.key(0))
    # a random direction of one scalar is a sign: the change is one of the 8 sign patterns
    candidates = [
        _relative_change(
            params,
            [float(w) * (1 + s * r) for w, s, r in zip(params, signs, row, strict=True)],
            *chain.data,
            "linear",
        )
        for signs in itertools.product([-1, 1], repeat=3)
    ]
    for measured in test.measured:
        assert np.min(np.abs(np.array(candidates) - measured)) < 1e-9
    assert np.all(test.tightness <= 1 + 1e-12)  # the theorem for scalar chains
    assert len(set(np.round(test.measured, 9))) > 1  # the draws differ


def test_a_random_perturbation_has_the_prescribed_relative_size(x64):
    chain = problems.deep_linear_chain(depth=2, width=5, loss="linear")
    params = chain.init(jax.random.key(0))
    test = pt.bound_test(chain, params, np.zeros((3, 2)), jax.random.key(0))
    np.testing.assert_allclose(test.measured, 0.0, atol=1e-15)  # r = 0: no change at all
    small = pt.bound_test(chain, params, np.full((50, 2), 1e-6), jax.random.key(0))
    # first order: a relative change of about r per layer, never more than the bound
    assert np.all(small.measured <= 4e-6) and np.all(small.measured > 1e-8)


def test_bound_test_checks_its_arguments():
    chain = problems.deep_linear_chain(depth=2)
    params = chain.init(jax.random.key(0))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="direction"):
        pt.bound_test(chain, params, np.zeros((1, 2)), key, direction="up")
    with pytest.raises(ValueError, match="relative_sizes must have shape"):
        pt.bound_test(chain, params, np.zeros((1, 3)), key)
    with pytest.raises(ValueError, match="relative_sizes must be in"):
        pt.bound_test(chain, params, -np.ones((1, 2)), key)
    with pytest.raises(ValueError, match="leaf 1 is zero"):
        pt.bound_test(chain, [params[0], jnp.zeros([])], np.ones((1, 2)), key)
    with pytest.raises(ValueError, match="problem"):
        pt.bound_test(None, params, np.ones((1, 2)), key)


# --------------------------------------------------------------------------- runs


def test_update_history_of_gradient_descent_matches_a_numpy_transcription(x64):
    chain = problems.deep_linear_chain(depth=3, width=3, num_examples=16)
    rate, steps = 0.05, 6
    histories = pt.update_history(
        {"GD": optim.gd(rate), "Nero": optim.nero(0.1)}, chain, steps, jax.random.key(4)
    )
    history = histories["GD"]
    layers = [np.asarray(w, np.float64) for w in chain.init(jax.random.split(jax.random.key(4))[0])]
    x, y = chain.data
    for k in range(steps):
        gradients = chain_gradients(layers, x, y, "squared_error")
        for index, (w, g) in enumerate(zip(layers, gradients, strict=True)):
            u = -rate * g
            name = history.names[index]
            assert history.relative["layer"][index][k] == pytest.approx(
                np.linalg.norm(u) / np.linalg.norm(w)
            )
            np.testing.assert_allclose(
                history.relative["neuron"][index][k],
                [np.linalg.norm(u[:, j]) / np.linalg.norm(w[:, j]) for j in range(3)],
            )
            np.testing.assert_allclose(history.relative["synapse"][index][k], np.abs(u / w))
            np.testing.assert_allclose(
                history.neuron_norms[name][k], [np.linalg.norm(w[:, j]) for j in range(3)]
            )
            np.testing.assert_allclose(history.neuron_means[name][k], w.mean(axis=0), atol=1e-14)
        z = np.asarray(x) @ layers[0] @ layers[1] @ layers[2]
        assert history.loss[k] == pytest.approx(0.5 * np.sum((z - np.asarray(y)) ** 2) / 16)
        layers = [w - rate * g for w, g in zip(layers, gradients, strict=True)]
    assert history.names == ["W1", "W2", "W3"] and history.weight_names == history.names
    assert not history.diverged
    nero = histories["Nero"]  # on the constraint set after every step
    for name in nero.weight_names:
        np.testing.assert_allclose(nero.neuron_norms[name][1:], 1.0, atol=1e-12)
        np.testing.assert_allclose(nero.neuron_means[name][1:], 0.0, atol=1e-12)


def test_update_history_on_minibatches_flags_divergence_and_names_mlp_leaves():
    mlp = problems.mlp(hidden_sizes=(4,))
    histories = pt.update_history({"SGD": optim.gd(0.1)}, mlp, 4, jax.random.key(0), 32)
    assert histories["SGD"].names == ["b1", "W1", "b2", "W2"]
    assert histories["SGD"].weight_names == ["W1", "W2"]
    assert histories["SGD"].relative["neuron"][1].shape == (4, 4)
    assert histories["SGD"].relative["synapse"][1].shape == (4, 64, 4)
    assert histories["SGD"].neuron_norms["W2"].shape == (5, 10)
    assert not histories["SGD"].diverged
    chain = problems.deep_linear_chain(depth=3, width=3)
    too_fast = pt.update_history({"GD": optim.gd(1e3)}, chain, 20, jax.random.key(0))["GD"]
    assert too_fast.diverged and not np.all(np.isfinite(too_fast.loss))


def test_update_history_checks_its_arguments():
    mlp = problems.mlp(hidden_sizes=(4,))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="optimizers"):
        pt.update_history({}, mlp, 3, key)
    with pytest.raises(ValueError, match="optimizers\\['x'\\]"):
        pt.update_history({"x": 1}, mlp, 3, key)
    with pytest.raises(ValueError, match="steps"):
        pt.update_history({"SGD": optim.gd(0.1)}, mlp, 0, key)
    with pytest.raises(ValueError, match="data problem"):
        pt.update_history({"SGD": optim.gd(0.1)}, problems.rosenbrock(), 3, key)


def _history(relative_layers, names=("W1", "W2")):
    steps = len(relative_layers[0])
    return pt.UpdateHistory(
        names=list(names),
        loss=np.zeros(steps + 1),
        relative={
            "layer": [np.asarray(r, float) for r in relative_layers],
            "neuron": [np.asarray(r, float)[:, None] for r in relative_layers],
            "synapse": [np.asarray(r, float)[:, None, None] for r in relative_layers],
        },
        neuron_norms={name: np.ones((steps + 1, 1)) for name in names},
        neuron_means={name: np.zeros((steps + 1, 1)) for name in names},
        diverged=False,
    )


def test_typical_relative_updates_and_layer_spread_read_the_medians():
    history = _history([[100.0, 1.0, 2.0, 3.0], [100.0, 0.1, 0.2, 0.3]])
    typical = pt.typical_relative_updates(history, "layer", skip=1)
    assert typical == {"W1": 2.0, "W2": pytest.approx(0.2)}
    assert pt.typical_relative_updates(history, "neuron", skip=1)["W1"].shape == (1,)
    assert pt.layer_spread(history, skip=1) == pytest.approx(10.0)
    assert pt.layer_spread(_history([[1.0, 1.0], [0.0, 0.0]]), skip=0) == np.inf
    with pytest.raises(ValueError, match="skip"):
        pt.typical_relative_updates(history, "layer", skip=4)
    with pytest.raises(ValueError, match="granularity"):
        pt.typical_relative_updates(history, "row")
    with pytest.raises(ValueError, match="history"):
        pt.layer_spread("history")


def _sweep(final_losses, rates=(0.01, 0.1, 1.0, 10.0)):
    losses = np.stack([np.full(len(final_losses), 3.0), np.asarray(final_losses, float)], axis=1)
    return Sweep(np.asarray(rates), np.array([0, 10]), losses, None)


def test_good_rate_span_and_transfer_regret():
    source = _sweep([0.5, 0.1, 0.2, np.nan])
    target = _sweep([0.05, 0.2, np.inf, np.inf])
    assert pt.good_rate_span(source, 0.3) == pytest.approx(1.0)  # rates 0.1 and 1
    assert pt.good_rate_span(source, 0.15) == 0.0
    assert np.isnan(pt.good_rate_span(source, 0.01))
    assert pt.transfer_regret(source, target) == pytest.approx(4.0)  # 0.2 / 0.05
    assert pt.transfer_regret(target, source) == pytest.approx(5.0)  # 0.5 / 0.1
    assert pt.transfer_regret(_sweep([1.0, 1.0, 0.1, 1.0]), target) == np.inf
    with pytest.raises(ValueError, match="same learning rates"):
        pt.transfer_regret(source, _sweep([1, 2, 3], rates=(1, 2, 3)))
    with pytest.raises(ValueError, match="threshold"):
        pt.good_rate_span(source, 0.0)
    with pytest.raises(ValueError, match="source"):
        pt.transfer_regret({}, target)


# --------------------------------------------------------------------------- figures


def test_figures_are_labelled_and_mark_divergence():
    chain = problems.deep_linear_chain(depth=2, loss="linear")
    test = pt.bound_test(chain, [jnp.asarray(1.0), jnp.asarray(2.0)], np.full((3, 2), 0.1),
                         jax.random.key(0))  # fmt: skip
    ax = pt.bound_figure({"chain": test})
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert len(ax.get_legend().get_texts()) == 2
    history = _history([[1.0, 0.01, 0.02], [1.0, 0.1, 0.2]])
    figure = pt.relative_update_figure({"A": history, "B": history}, skip=1, reference=0.01)
    assert [ax.get_title() for ax in figure.axes] == [
        "per layer", "per neuron (all weight matrices)", "per synapse (all weight matrices)"
    ]  # fmt: skip
    figure = pt.neuron_norm_figure({"A": history})
    assert all(ax.get_xlabel() == "step $k$" for ax in figure.axes)
    sweeps = {"P": {"SGD": _sweep([0.5, 0.1, np.inf, np.inf]), "Nero": _sweep([1, 0.5, 0.2, 0.3])}}
    figure = pt.sensitivity_figure(sweeps)
    (ax,) = figure.axes
    crosses = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(crosses) == 1 and len(crosses[0].get_xdata()) == 2  # two diverged rates
    figure = pt.rate_figure(sweeps, 10.0)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels == ["SGD (diverged)", "Nero"]
    assert pt.learning_rate_explorer(sweeps) is not None


def test_figures_check_their_arguments():
    with pytest.raises(ValueError, match="tests"):
        pt.bound_figure({})
    with pytest.raises(ValueError, match="histories"):
        pt.relative_update_figure({})
    with pytest.raises(ValueError, match="reference"):
        pt.relative_update_figure({"A": _history([[1.0, 2.0], [1.0, 2.0]])}, 0, reference=-1)
    with pytest.raises(ValueError, match="sweeps"):
        pt.sensitivity_figure({"P": {}})
    with pytest.raises(ValueError, match="learning_rate must be one of"):
        pt.rate_figure({"P": {"SGD": _sweep([1, 1, 1, 1])}}, 0.5)


# --------------------------------------------------------------------------- exercise checks


def _project(w):
    w = np.asarray(w)
    centred = w - w.mean(axis=0)
    return centred / np.linalg.norm(centred, axis=0)


def _relative_sizes(w, dw):
    w, dw = np.asarray(w), np.asarray(dw)
    return np.linalg.norm(dw) / np.linalg.norm(w), np.linalg.norm(dw, axis=0) / np.linalg.norm(
        w, axis=0
    )


def _nero_step(w, g, v, t, rate, beta, correct=True):
    w, g, v = (np.asarray(a, np.float64) for a in (w, g, v))
    v_new = beta * v + (1 - beta) * np.sum(g**2, axis=0)
    v_hat = v_new / (1 - beta**t) if correct else v_new
    return _project(w - rate * g / np.sqrt(v_hat)), v_new


def _bound(weights, perturbations):
    ratios = [
        np.linalg.norm(d) / np.linalg.norm(w) for w, d in zip(weights, perturbations, strict=True)
    ]
    return np.prod(1 + np.array(ratios)) - 1


def test_exercise_checks_pass_the_solutions(capsys):
    from lecture_lib import checks

    checks.nero.check_project_neurons(_project)
    checks.nero.check_relative_sizes(_relative_sizes)
    checks.nero.check_nero_step(_nero_step)
    checks.nero.check_perturbation_bound(_bound)
    assert capsys.readouterr().out.count("Well done!") == 4


def _normalise_only(w):
    w = np.asarray(w)
    return w / np.linalg.norm(w, axis=0)


@pytest.mark.parametrize(
    ("check", "answer", "hint"),
    [
        ("check_project_neurons", lambda w: _project(np.asarray(w).T).T, "column"),
        ("check_project_neurons", _normalise_only, "centre each neuron first"),
        ("check_project_neurons", lambda w: np.asarray(w) - np.mean(w, axis=0), "divide each"),
        (
            "check_project_neurons",
            lambda w: _normalise_only(w) - _normalise_only(w).mean(axis=0),
            "centre first, then normalise",
        ),
        (
            "check_relative_sizes",
            lambda w, d: _relative_sizes(np.asarray(w).T, np.asarray(d).T),
            "column",
        ),  # fmt: skip
        (
            "check_relative_sizes",
            lambda w, d: tuple(1 / r for r in _relative_sizes(w, d)),
            "update over the weights",
        ),  # fmt: skip
        ("check_nero_step", lambda *a: _nero_step(*a, correct=False), "bias correction"),
        (
            "check_nero_step",
            lambda w, g, v, t, r, b: (
                np.asarray(w)
                - r
                * np.asarray(g)
                / np.sqrt(
                    (b * np.asarray(v) + (1 - b) * np.sum(np.asarray(g) ** 2, 0)) / (1 - b**t)
                ),
                _nero_step(w, g, v, t, r, b)[1],
            ),
            "project after the step",
        ),  # fmt: skip
        ("check_nero_step", lambda *a: _nero_step(*a[:-1], 0.0), "running average"),
        ("check_perturbation_bound", lambda W, D: _bound(W, D) + 1, "subtract 1"),
        (
            "check_perturbation_bound",
            lambda W, D: sum(
                np.linalg.norm(d) / np.linalg.norm(w) for w, d in zip(W, D, strict=True)
            ),
            "first-order sum",
        ),
        ("check_project_neurons", lambda w: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_exercise_checks_name_the_common_mistakes(check, answer, hint):
    from lecture_lib import checks

    with pytest.raises(checks.CheckFailed, match=hint):
        getattr(checks.nero, check)(answer)
