"""Every optimizer against an independent oracle on the same random gradients, in float64.

optax where it has the method (conventions mapped as the docstrings say), a NumPy
transcription of iRprop- (optax's rprop emits the previous step's update), and
closed forms for signSGD, Polyak averaging and the schedules.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lecture_lib import optim
from lecture_lib.optim import schedules

STEPS = 15


def gradient_sequence(seed, steps=STEPS):
    key = jax.random.PRNGKey(seed)
    return [
        {"w": jax.random.normal(k, (3, 2)), "b": jax.random.normal(jax.random.fold_in(k, 9), (2,))}
        for k in jax.random.split(key, steps)
    ]


def start():
    return {"w": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": jnp.array([0.5, -0.25])}


def follow(optimizer, gradients):
    params = start()
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    iterates = []
    for grads in gradients:
        updates, state = update(grads, state, params)
        params = optim.apply_updates(params, updates)
        iterates.append(params)
    return iterates, state


def assert_close(ours, theirs, rtol=1e-12, atol=1e-12):
    for a, b in zip(ours, theirs, strict=True):
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


PAIRS = {
    "momentum": (optim.momentum(0.05, beta=0.7), optax.sgd(0.05, momentum=0.7)),
    "nesterov": (optim.nesterov(0.05, beta=0.8), optax.sgd(0.05, momentum=0.8, nesterov=True)),
    "adagrad": (
        optim.adagrad(0.3, initial_accumulator_value=0.5, eps=1e-3),
        optax.adagrad(0.3, initial_accumulator_value=0.5, eps=1e-3),
    ),
    "rmsprop": (
        optim.rmsprop(0.01, decay=0.8, eps=1e-3),
        optax.rmsprop(0.01, decay=0.8, eps=1e-3, eps_in_sqrt=False),
    ),
    "rmsprop-centered": (
        optim.rmsprop(0.01, decay=0.8, eps=1e-3, centered=True),
        optax.rmsprop(0.01, decay=0.8, eps=1e-3, eps_in_sqrt=False, centered=True),
    ),
    "adadelta": (optim.adadelta(rho=0.8, eps=1e-4), optax.adadelta(1.0, rho=0.8, eps=1e-4)),
    "adadelta-rate": (
        optim.adadelta(rho=0.7, eps=1e-3, learning_rate=0.5),
        optax.adadelta(0.5, rho=0.7, eps=1e-3),
    ),
    "adam": (
        optim.adam(0.02, b1=0.8, b2=0.95, eps=1e-4),
        optax.adam(0.02, b1=0.8, b2=0.95, eps=1e-4),
    ),
    "adamw": (
        optim.adamw(0.02, b1=0.85, b2=0.9, eps=1e-5, weight_decay=0.1),
        optax.adamw(0.02, b1=0.85, b2=0.9, eps=1e-5, weight_decay=0.1),
    ),
    "adam-schedule": (
        optim.adam(optax.exponential_decay(0.05, 4, 0.5), b1=0.5, b2=0.9),
        optax.adam(optax.exponential_decay(0.05, 4, 0.5), b1=0.5, b2=0.9),
    ),
}


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_matches_optax(name):
    ours, theirs = PAIRS[name]
    gradients = gradient_sequence(sorted(PAIRS).index(name))
    our_iterates, _ = follow(ours, gradients)
    their_iterates, _ = follow(theirs, gradients)
    assert our_iterates[-1]["w"].dtype == jnp.float64
    assert_close(our_iterates, their_iterates)


def irprop_minus_numpy(gradients, initial_step, eta_minus, eta_plus, min_step, max_step):
    """iRprop- (Igel and Huesken, 2000), one coordinate array at a time, in plain NumPy."""
    params = {name: np.array(value, np.float64) for name, value in start().items()}
    steps = {name: np.full_like(value, initial_step) for name, value in params.items()}
    previous = {name: np.zeros_like(value) for name, value in params.items()}
    iterates = []
    for grads in gradients:
        for name in params:
            for index in np.ndindex(params[name].shape):
                g = float(grads[name][index])
                product = g * previous[name][index]
                if product > 0:
                    steps[name][index] = min(steps[name][index] * eta_plus, max_step)
                elif product < 0:
                    steps[name][index] = max(steps[name][index] * eta_minus, min_step)
                    g = 0.0
                params[name][index] -= np.sign(g) * steps[name][index]
                previous[name][index] = g
        iterates.append({name: value.copy() for name, value in params.items()})
    return iterates


@pytest.mark.usefixtures("x64")
def test_rprop_matches_a_numpy_transcription_of_irprop_minus():
    # Few, partly repeated gradient signs so steps grow, shrink and hit both bounds.
    base = gradient_sequence(11, steps=6)
    gradients = base + base[::-1] + [jax.tree_util.tree_map(lambda g: -g, b) for b in base] * 3
    settings = dict(eta_minus=0.4, eta_plus=1.5, min_step=0.03, max_step=0.3)
    ours, _ = follow(optim.rprop(0.1, **settings), gradients)
    assert_close(ours, irprop_minus_numpy(gradients, 0.1, **settings))
    scheduled, _ = follow(optim.rprop(lambda count: 0.1, **settings), gradients)
    assert_close(scheduled, ours)  # a schedule is read once, for the initial step


@pytest.mark.usefixtures("x64")
def test_sign_sgd_closed_form():
    gradients = gradient_sequence(5)
    ours, _ = follow(optim.sign_sgd(0.1), gradients)
    expected = start()
    for grads, iterate in zip(gradients, ours, strict=True):
        expected = jax.tree_util.tree_map(lambda p, g: p - 0.1 * np.sign(g), expected, grads)
        assert_close([iterate], [expected])


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("kind", ["uniform", "exponential"])
def test_polyak_average_closed_forms(kind):
    gradients = gradient_sequence(6)
    wrapped = optim.polyak_average(optim.momentum(0.1, beta=0.5), kind=kind, decay=0.8)
    plain, _ = follow(optim.momentum(0.1, beta=0.5), gradients)
    ours, state = follow(wrapped, gradients)
    assert_close(ours, plain)  # averaging never changes the iterates themselves
    iterates = [start(), *plain]
    if kind == "uniform":
        expected = jax.tree_util.tree_map(lambda *xs: np.mean(xs, axis=0), *iterates)
    else:
        expected = iterates[0]
        for theta in iterates[1:]:
            expected = jax.tree_util.tree_map(lambda avg, t: 0.2 * t + 0.8 * avg, expected, theta)
    assert_close([optim.averaged_params(state)], [expected])


@pytest.mark.usefixtures("x64")
def test_schedules_against_optax_and_closed_forms():
    ks = np.arange(40)
    pairs = [
        (schedules.constant(0.3), optax.constant_schedule(0.3)),
        (
            schedules.piecewise_constant(1.0, drop_every=10, factor=0.1),
            optax.exponential_decay(1.0, transition_steps=10, decay_rate=0.1, staircase=True),
        ),
        (schedules.cosine(0.5, 30, final=0.05), optax.cosine_decay_schedule(0.5, 30, alpha=0.1)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose([ours(k) for k in ks], [theirs(k) for k in ks], rtol=1e-12)
    np.testing.assert_allclose(schedules.harmonic(2.0, 3.0, period=5)(ks), 2.0 / (ks // 5 + 3.0))
    np.testing.assert_allclose(schedules.inverse_time(0.5)(ks), 0.5 / (ks + 1))
    warm = schedules.linear_warmup(1.0, 4, after=schedules.inverse_time(1.0))(ks)
    np.testing.assert_allclose(warm[:4], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(warm[4:], 1.0 / (ks[4:] - 4 + 1))
    np.testing.assert_allclose(schedules.linear_warmup(2.0, 2)(ks)[2:], 2.0)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: optim.momentum(0.1, beta=1.0), "beta"),
        (lambda: optim.nesterov(0.1, beta=-0.1), "beta"),
        (lambda: optim.momentum(-0.1), "learning_rate"),
        (lambda: optim.adam(b1=1.0), "b1"),
        (lambda: optim.adam(b2=float("nan")), "b2"),
        (lambda: optim.adam(eps=-1e-8), "eps"),
        (lambda: optim.adamw(weight_decay=-1.0), "weight_decay"),
        (lambda: optim.rmsprop(0.1, decay=1.5), "decay"),
        (lambda: optim.rmsprop(0.1, centered="yes"), "centered"),
        (lambda: optim.adagrad(0.1, initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (lambda: optim.adadelta(rho=1.0), "rho"),
        (lambda: optim.adadelta(eps=0.0), "eps"),
        (lambda: optim.rprop(0.1, eta_minus=1.5), "eta_minus"),
        (lambda: optim.rprop(0.1, eta_plus=0.5), "eta_plus"),
        (lambda: optim.rprop(0.1, min_step=2.0, max_step=1.0), "min_step"),
        (lambda: optim.sign_sgd(0.0), "learning_rate"),
        (lambda: optim.polyak_average(optim.gd(0.1), kind="median"), "kind"),
        (lambda: optim.polyak_average(optim.gd(0.1), kind="exponential", decay=1.0), "decay"),
        (lambda: schedules.cosine(0.1, 10, final=0.5), "final"),
        (lambda: schedules.piecewise_constant(0.1, 0), "drop_every"),
        (lambda: schedules.harmonic(0.0), "a"),
        (lambda: schedules.linear_warmup(1.0, 5, after=3.0), "after"),
    ],
)
def test_hyperparameters_are_validated(make, name):
    with pytest.raises(ValueError, match=name):
        make()
