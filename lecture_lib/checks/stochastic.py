"""Checks for ``exercises/07_stochastic.ipynb`` (lecture 7: stochastic methods).

Every reference is written out by hand in numpy (float64): minibatch gradients of least
squares and logistic regression in closed form, the schedule and the running average
from their definitions, the noise floor from the stationary variance of each coordinate.
No reference shares a code path with ``lecture_lib.stochastic`` or with a student's JAX
answer. Each case also lists what common mistakes return, so a wrong answer gets a hint
about the mistake it most likely is.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib.checks.core import call_student, check_expected, compare, failure, passed, task_rng

_SEED = 707  # random cases come from numpy generators seeded (707, task): fixed and cheap


# --------------------------------------------------------------------------- minibatch gradient


def _least_squares(params, x, y):
    """1/2 mean (x w - y)^2 + 0.05 ||w||^2 (a ridge penalty of 0.1)."""
    return 0.5 * jnp.mean((x @ params - y) ** 2) + 0.05 * jnp.sum(params**2)


def _logistic(params, x, y):
    """mean[log(1 + e^z) - y z] with z = x w: binary cross-entropy."""
    logits = x @ params
    return jnp.mean(jax.nn.softplus(logits) - y * logits)


def _least_squares_gradient(w, x, y):
    return x.T @ (x @ w - y) / x.shape[0] + 0.1 * w


def _logistic_gradient(w, x, y):
    return x.T @ (1.0 / (1.0 + np.exp(-(x @ w))) - y) / x.shape[0]


def _gradient_case(name, loss_fn, gradient, w, x, y, indices):
    w, x, y = (np.asarray(v, np.float64) for v in (w, x, y))
    indices = np.asarray(indices)
    expected = gradient(w, x[indices], y[indices])
    mistakes = [
        (gradient(w, x, y), "use only the rows in `indices`: x[indices], y[indices]"),
        (
            len(indices) * expected,
            "the minibatch gradient is the *mean* over the batch, not the sum",
        ),
        (gradient(w, x[indices[:1]], y[indices[:1]]), "use every index of the batch"),
        (-expected, "return the gradient itself (the optimizer adds the minus sign)"),
    ]
    args = (loss_fn, jnp.asarray(w), jnp.asarray(x), jnp.asarray(y), jnp.asarray(indices))
    return name, args, expected, mistakes


def check_minibatch_gradient(minibatch_gradient: Callable) -> bool:
    """``minibatch_gradient(loss_fn, params, x, y, indices)``: the gradient of the loss on
    the rows ``indices``, i.e. ``jax.grad(loss_fn)(params, x[indices], y[indices])``."""
    task = "minibatch_gradient"
    hint = (
        "select the minibatch rows x[indices] and y[indices], then take jax.grad of loss_fn "
        "with respect to params on them: the mean of the batch's per-example gradients"
    )
    x_small = np.array([[1.0, 2.0], [0.0, 1.0], [-1.0, 0.5], [2.0, -1.0], [0.5, 0.5]])
    y_small = np.array([1.0, 0.0, -1.0, 2.0, 0.5])
    rng = task_rng(_SEED, 1)
    x_random = rng.normal(size=(30, 4))
    y_random = rng.integers(0, 2, size=30).astype(np.float64)
    w_random = rng.normal(size=4)
    random_rows = rng.permutation(30)[:8]
    repeated = rng.integers(0, 30, size=6)
    cases = [
        _gradient_case(
            "least squares + ridge 0.1 on 5 examples, w = [0.5, -1], indices = [0, 2]",
            _least_squares,
            _least_squares_gradient,
            [0.5, -1.0],
            x_small,
            y_small,
            [0, 2],
        ),
        _gradient_case(
            "least squares + ridge 0.1, indices = [4, 1, 3]",
            _least_squares,
            _least_squares_gradient,
            [0.0, 2.0],
            x_small,
            y_small,
            [4, 1, 3],
        ),
        _gradient_case(
            f"logistic regression, 30 random examples (seed 707), indices {random_rows.tolist()}",
            _logistic,
            _logistic_gradient,
            w_random,
            x_random,
            y_random,
            random_rows,
        ),
        _gradient_case(
            f"logistic regression, indices drawn with replacement = {repeated.tolist()}",
            _logistic,
            _logistic_gradient,
            w_random,
            x_random,
            y_random,
            repeated,
        ),
    ]
    return passed(task, check_expected(task, minibatch_gradient, cases, hint, rtol=1e-5))


# --------------------------------------------------------------------------- schedule


def _step_decay(initial, drop_every, factor, k):
    k = np.asarray(k)
    return initial * factor ** np.floor_divide(k, drop_every).astype(np.float64)


def check_step_decay_schedule(step_decay_schedule: Callable) -> bool:
    """``step_decay_schedule(initial, drop_every, factor)`` returns the schedule
    ``k -> initial * factor ** (k // drop_every)``."""
    task = "step_decay_schedule"
    hint = (
        "return a function of k: initial * factor ** (k // drop_every). Use integer division "
        "// (it also works on JAX integer arrays), not math.floor"
    )
    rng = task_rng(_SEED, 2)
    random_initial = float(rng.uniform(0.01, 2.0))
    random_every = int(rng.integers(2, 50))
    random_factor = float(rng.uniform(0.1, 0.9))
    settings = [
        ((1.0, 10, 0.1), [0, 1, 9, 10, 11, 19, 20, 35]),
        ((0.5, 3, 0.5), list(range(12))),
        ((random_initial, random_every, random_factor), [0, random_every - 1, random_every, 200]),
    ]
    count = 0
    for (initial, every, factor), steps in settings:
        setting = f"step_decay_schedule({initial:.6g}, {every}, {factor:.6g})"
        schedule = call_student(
            task,
            step_decay_schedule,
            (initial, every, factor),
            setting,
            "a function k -> learning rate",
            hint,
        )
        if not callable(schedule):
            raise failure(task, setting, "a function k -> learning rate", repr(schedule), hint)
        for k in steps:
            case = f"{setting}({k})"
            expected = _step_decay(initial, every, factor, k)
            mistakes = [
                (initial * factor ** (k / every), "round k / drop_every down: use k // drop_every"),
                (
                    initial * factor ** ((k + 1) // every),
                    "the first drop happens at k = drop_every, not one step earlier",
                ),
                (initial * factor**k, "drop once every drop_every steps, not at every step"),
                (initial * factor * (k // every), "the factor multiplies: use factor ** (...)"),
            ]
            got = call_student(task, schedule, (k,), case, expected, hint)
            compare(task, case, expected, got, hint, mistakes, 1e-5, 1e-12)
            count += 1
        case = f"{setting}(jnp.arange(40)): optimizers call the schedule with a JAX integer"
        vector = jnp.arange(40)
        expected = _step_decay(initial, every, factor, np.arange(40))
        got = call_student(task, schedule, (vector,), case, expected, hint)
        compare(task, case, expected, got, hint, [], 1e-5, 1e-12)
        count += 1
    return passed(task, count)


# --------------------------------------------------------------------------- Polyak average


def check_polyak_update(polyak_update: Callable) -> bool:
    """``polyak_update(average, theta, k)``: the mean of theta_0..theta_k from the mean of
    theta_0..theta_{k-1} (``average``) and theta_k: average + (theta - average) / (k + 1)."""
    task = "polyak_update"
    hint = (
        "average holds the mean of the k iterates theta_0..theta_{k-1}; the new mean of k + 1 "
        "iterates is average + (theta - average) / (k + 1)"
    )
    cases = []
    fixed = [([1.0, 2.0], [3.0, 0.0], 1), ([0.5], [2.0], 3), ([0.0, 0.0], [1.0, -1.0], 9)]
    for average, theta, k in fixed:
        average, theta = np.array(average), np.array(theta)
        expected = average + (theta - average) / (k + 1)
        mistakes = [
            (
                average + (theta - average) / k,
                "there are k + 1 iterates theta_0..theta_k: divide by k + 1",
            ),
            ((average + theta) / 2, "a uniform average weighs theta_k by 1/(k+1), not 1/2"),
            (
                0.99 * average + 0.01 * theta,
                "this is an exponential average; we want the uniform one",
            ),
            (average + theta / (k + 1), "add (theta - average) / (k + 1), not theta / (k + 1)"),
        ]
        cases.append(
            (
                f"average = {average.tolist()}, theta = {theta.tolist()}, k = {k}",
                (jnp.asarray(average), jnp.asarray(theta), k),
                expected,
                mistakes,
            )
        )
    count = check_expected(task, polyak_update, cases, hint, rtol=1e-5)
    # along a whole random trajectory: the running update must give the plain mean
    iterates = task_rng(_SEED, 3).normal(size=(30, 3))
    average = jnp.asarray(iterates[0])
    for k in range(1, len(iterates)):
        case = f"30 random iterates (seed 707), fed one by one: the average at k = {k}"
        expected = iterates[: k + 1].mean(axis=0)
        average = call_student(
            task, polyak_update, (average, jnp.asarray(iterates[k]), k), case, expected, hint
        )
        compare(task, case, expected, average, hint, [], 1e-5, 1e-6)
        count += 1
    return passed(task, count)


# --------------------------------------------------------------------------- noise floor


def check_noise_floor(noise_floor: Callable) -> bool:
    """``noise_floor(curvatures, noise, learning_rate, batch_size)``: the stationary expected
    excess loss of constant-step SGD on the noisy quadratic model,
    sum_i alpha c_i / (2 b (2 - alpha h_i))."""
    task = "noise_floor"
    hint = (
        "per coordinate the variance settles at v_i = alpha^2 c_i / b / (1 - (1 - alpha h_i)^2); "
        "the excess loss is sum_i h_i v_i / 2 = sum_i alpha c_i / (2 b (2 - alpha h_i))"
    )
    rng = task_rng(_SEED, 4)
    random_h = rng.uniform(0.01, 1.0, size=12)
    random_c = random_h * rng.uniform(0.5, 2.0, size=12)
    zhang = 1.0 / np.arange(1, 51)
    settings = [
        ("h = [1], c = [1], alpha = 0.5, b = 1", np.array([1.0]), np.array([1.0]), 0.5, 1),
        (
            "h = [1, 0.1], c = [2, 0.1], alpha = 1.5, b = 4",
            np.array([1.0, 0.1]),
            np.array([2.0, 0.1]),
            1.5,
            4,
        ),
        ("Zhang's NQM: h_i = c_i = 1/i, i = 1..50, alpha = 0.4, b = 8", zhang, zhang, 0.4, 8),
        ("12 random curvatures (seed 707), alpha = 0.9, b = 32", random_h, random_c, 0.9, 32),
    ]
    cases = []
    for name, h, c, alpha, batch in settings:
        expected = np.sum(alpha * c / (2 * batch * (2 - alpha * h)))
        mistakes = [
            (alpha * c.sum() / (4 * batch), "alpha tr(C) / (4b) is only the small-alpha limit"),
            (2 * expected, "the loss is 1/2 sum_i h_i E[x_i^2]: mind the 1/2"),
            (expected * batch, "the noise of a batch of b examples has variance c_i / b"),
            (np.sum(alpha * h / (2 * batch * (2 - alpha * h))), "use the noise c_i, not h_i"),
            (
                np.sum(alpha**2 * c / batch / (1 - (1 - alpha * h) ** 2)),
                "that is sum of E[x_i^2]; the loss weighs each by h_i / 2",
            ),
        ]
        cases.append((name, (jnp.asarray(h), jnp.asarray(c), alpha, batch), expected, mistakes))
    return passed(task, check_expected(task, noise_floor, cases, hint, rtol=1e-5, atol=1e-10))
