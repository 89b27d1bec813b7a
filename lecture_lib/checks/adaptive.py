"""Checks for ``exercises/08_adaptive.ipynb`` (lecture 8: adaptive methods).

Every task is one step of an optimizer that returns the update (the amount *added* to the
parameters) and the new running statistics. The references step ``lecture_lib.optim``'s
optimizers once from the given state (those are tested against optax), so no reference
shares code with a student's answer. Each case also lists what common mistakes return,
written out in numpy, so a wrong answer gets a hint about the mistake it most likely is.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib.checks.core import as_float32, check_expected_outputs, passed
from lecture_lib.optim import AdagradState, AdamState, RMSpropState, adagrad, adam, rmsprop

_KEY = jax.random.PRNGKey(808)


def _random_cases(key: jax.Array, count: int, size: int):
    """(grad, positive statistic, second statistic) triples drawn from ``key``."""
    draws = []
    for index in range(count):
        k1, k2, k3 = jax.random.split(jax.random.fold_in(key, index), 3)
        grad = np.asarray(jax.random.normal(k1, (size,)), np.float64) * 10.0 ** (index - 1)
        second = np.asarray(jax.random.uniform(k2, (size,), minval=0.0, maxval=2.0), np.float64)
        first = np.asarray(jax.random.normal(k3, (size,)), np.float64) * 0.5
        draws.append((grad, second * 10.0 ** (2 * index - 2), first * 10.0 ** (index - 1)))
    return draws


# --------------------------------------------------------------------------- RMSprop


def _rmsprop_reference(grad, mean_square, learning_rate, decay, eps):
    optimizer = rmsprop(learning_rate, decay=decay, eps=eps)
    mean_square = jnp.asarray(mean_square)
    state = RMSpropState(
        count=jnp.zeros([], jnp.int32), mean_square=mean_square, mean=jnp.zeros_like(mean_square)
    )
    update, state = optimizer.update(jnp.asarray(grad), state)
    return np.asarray(update, np.float64), np.asarray(state.mean_square, np.float64)


def check_rmsprop_step(rmsprop_step: Callable) -> bool:
    """``rmsprop_step(grad, mean_square, learning_rate, decay, eps) -> (update, mean_square)``."""
    task = "rmsprop_step"
    hint = (
        "first nu = decay * mean_square + (1 - decay) * grad**2, then "
        "update = -learning_rate * grad / (sqrt(nu) + eps); return (update, nu)"
    )
    raw = [
        (
            "the first step: grad = [0.1, -1, 3], mean_square = 0, rate 0.01, decay 0.9, eps 1e-8",
            np.array([0.1, -1.0, 3.0]),
            np.zeros(3),
            0.01,
            0.9,
            1e-8,
        ),
        (
            "grad = [0.5, -2], mean_square = [1, 4], rate 0.1, decay 0.9, eps 0.1 (a large eps)",
            np.array([0.5, -2.0]),
            np.array([1.0, 4.0]),
            0.1,
            0.9,
            0.1,
        ),
        (
            "a scalar: grad = 2, mean_square = 0.25, rate 0.5, decay 0.5, eps 0.01",
            np.array(2.0),
            np.array(0.25),
            0.5,
            0.5,
            0.01,
        ),
    ]
    key = jax.random.fold_in(_KEY, 1)
    for index, (grad, second, _) in enumerate(_random_cases(key, 3, 5)):
        raw.append(
            (
                f"random case {index + 1} (key 808), gradients of size ~{10.0 ** (index - 1):g}",
                grad,
                second,
                0.003,
                0.99,
                1e-3 * 10.0 ** (index - 1),
            )
        )
    cases = []
    for case, grad, mean_square, rate, decay, eps in raw:
        expected = _rmsprop_reference(grad, mean_square, rate, decay, eps)
        nu = decay * mean_square + (1 - decay) * grad**2
        swapped = (1 - decay) * mean_square + decay * grad**2
        mistakes = [
            (
                (-expected[0], nu),
                "the update is added to the parameters: it must point against "
                "the gradient (a minus sign)",
            ),
            (
                (-rate * grad / np.sqrt(nu + eps), nu),
                "eps goes outside the square root: sqrt(nu) + eps",
            ),
            (
                (-rate * grad / (np.sqrt(mean_square) + eps), None),
                "divide by the *new* running average: update mean_square with this gradient first",
            ),
            (
                (None, swapped),
                "the old average is weighted by decay, the new grad**2 by (1 - decay)",
            ),
            (
                (-rate * grad / (nu + eps), nu),
                "divide by the root mean square, sqrt(nu), not by nu",
            ),
        ]
        cases.append((case, (*as_float32(grad, mean_square), rate, decay, eps), expected, mistakes))
    return passed(
        task, check_expected_outputs(task, rmsprop_step, cases, ("update", "mean_square"), hint)
    )


# --------------------------------------------------------------------------- Adam


def _adam_reference(grad, m, v, k, learning_rate, b1, b2, eps):
    optimizer = adam(learning_rate, b1=b1, b2=b2, eps=eps)
    state = AdamState(count=jnp.asarray(k - 1, jnp.int32), mu=jnp.asarray(m), nu=jnp.asarray(v))
    update, state = optimizer.update(jnp.asarray(grad), state)
    return tuple(np.asarray(x, np.float64) for x in (update, state.mu, state.nu))


def check_adam_step(adam_step: Callable) -> bool:
    """``adam_step(grad, m, v, k, learning_rate, b1, b2, eps) -> (update, m, v)``, k from 1."""
    task = "adam_step"
    hint = (
        "m = b1 m + (1 - b1) grad, v = b2 v + (1 - b2) grad**2, m_hat = m / (1 - b1**k), "
        "v_hat = v / (1 - b2**k), update = -learning_rate * m_hat / (sqrt(v_hat) + eps); "
        "return (update, m, v) with the uncorrected m and v"
    )
    raw = [
        (
            "the first step (k = 1): grad = [0.3, -2, 5], m = v = 0, rate 0.001, default betas, "
            "eps 1e-8",
            np.array([0.3, -2.0, 5.0]),
            np.zeros(3),
            np.zeros(3),
            1,
            1e-3,
            0.9,
            0.999,
            1e-8,
        ),
        (
            "step k = 3: grad = [1, -1], m = [0.2, 0.1], v = [0.01, 0.02], rate 0.1, b1 0.9, "
            "b2 0.99, eps 0.01",
            np.array([1.0, -1.0]),
            np.array([0.2, 0.1]),
            np.array([0.01, 0.02]),
            3,
            0.1,
            0.9,
            0.99,
            0.01,
        ),
        (
            "a scalar at step k = 50: grad = -0.5, m = 0.3, v = 0.4, rate 0.01, b1 0.8, b2 0.9, "
            "eps 1e-3",
            np.array(-0.5),
            np.array(0.3),
            np.array(0.4),
            50,
            0.01,
            0.8,
            0.9,
            1e-3,
        ),
    ]
    key = jax.random.fold_in(_KEY, 2)
    for index, (grad, v, m) in enumerate(_random_cases(key, 3, 4)):
        k = (2, 10, 1000)[index]
        raw.append(
            (
                f"random case {index + 1} (key 808) at step k = {k}",
                grad,
                m,
                v,
                k,
                0.01,
                0.9,
                0.999,
                1e-6,
            )
        )
    cases = []
    for case, grad, m, v, k, rate, b1, b2, eps in raw:
        expected = _adam_reference(grad, m, v, k, rate, b1, b2, eps)
        m_new = b1 * m + (1 - b1) * grad
        v_new = b2 * v + (1 - b2) * grad**2
        m_hat, v_hat = m_new / (1 - b1**k), v_new / (1 - b2**k)
        mistakes = [
            (
                (-rate * m_new / (np.sqrt(v_new) + eps), m_new, v_new),
                "correct the bias of both averages: m_hat = m / (1 - b1**k), "
                "v_hat = v / (1 - b2**k)",
            ),
            (
                (None, m_hat, v_hat),
                "return the running averages m and v themselves; the "
                "bias-corrected m_hat and v_hat only enter the update",
            ),
            (
                (-expected[0], m_new, v_new),
                "the update is added to the parameters: it must "
                "point against the gradient (a minus sign)",
            ),
            (
                (-rate * m_hat / np.sqrt(v_hat + eps), m_new, v_new),
                "eps goes outside the square root: sqrt(v_hat) + eps",
            ),
            (
                (
                    -rate
                    * (m_new / (1 - b1 ** (k + 1)))
                    / (np.sqrt(v_new / (1 - b2 ** (k + 1))) + eps),
                    m_new,
                    v_new,
                ),
                "k is the number of this step, counting from 1: use b1**k and b2**k",
            ),
            (
                (
                    -rate
                    * (m_new / (1 - b1 ** (k - 1)))
                    / (np.sqrt(v_new / (1 - b2 ** (k - 1))) + eps),
                    m_new,
                    v_new,
                )
                if k > 1
                else (None, None, None),
                "k is the number of this step, counting from 1: use b1**k and b2**k",
            ),
            (
                (None, (1 - b1) * m + b1 * grad, None),
                "the old m is weighted by b1, the new gradient by (1 - b1)",
            ),
        ]
        mistakes = [mistake for mistake in mistakes if any(x is not None for x in mistake[0])]
        cases.append((case, (*as_float32(grad, m, v), k, rate, b1, b2, eps), expected, mistakes))
    return passed(task, check_expected_outputs(task, adam_step, cases, ("update", "m", "v"), hint))


# --------------------------------------------------------------------------- Adagrad


def _adagrad_reference(grad, sum_of_squares, learning_rate, eps):
    optimizer = adagrad(learning_rate, initial_accumulator_value=0.0, eps=eps)
    state = AdagradState(count=jnp.zeros([], jnp.int32), sum_of_squares=jnp.asarray(sum_of_squares))
    update, state = optimizer.update(jnp.asarray(grad), state)
    return np.asarray(update, np.float64), np.asarray(state.sum_of_squares, np.float64)


def check_adagrad_step(adagrad_step: Callable) -> bool:
    """``adagrad_step(grad, sum_of_squares, learning_rate, eps) -> (update, sum_of_squares)``."""
    task = "adagrad_step"
    hint = (
        "first G = sum_of_squares + grad**2, then update = -learning_rate * grad / "
        "sqrt(G + eps) (eps inside the square root); return (update, G)"
    )
    raw = [
        (
            "the first step: grad = [1, -4], sum_of_squares = 0, rate 0.1, eps 1e-7",
            np.array([1.0, -4.0]),
            np.zeros(2),
            0.1,
            1e-7,
        ),
        (
            "grad = [0.5, 0.5, -3], sum_of_squares = [1, 100, 0.1], rate 1, eps 0.1",
            np.array([0.5, 0.5, -3.0]),
            np.array([1.0, 100.0, 0.1]),
            1.0,
            0.1,
        ),
        (
            "a scalar: grad = -2, sum_of_squares = 12, rate 0.3, eps 0.5",
            np.array(-2.0),
            np.array(12.0),
            0.3,
            0.5,
        ),
    ]
    key = jax.random.fold_in(_KEY, 3)
    for index, (grad, second, _) in enumerate(_random_cases(key, 3, 6)):
        raw.append(
            (
                f"random case {index + 1} (key 808), gradients of size ~{10.0 ** (index - 1):g}",
                grad,
                second,
                0.05,
                1e-3,
            )
        )
    cases = []
    for case, grad, total, rate, eps in raw:
        expected = _adagrad_reference(grad, total, rate, eps)
        new_total = total + grad**2
        mistakes = [
            (
                (-expected[0], new_total),
                "the update is added to the parameters: it must point "
                "against the gradient (a minus sign)",
            ),
            (
                (-rate * grad / (np.sqrt(new_total) + eps), new_total),
                "here eps sits inside the square root: sqrt(G + eps)",
            ),
            (
                (-rate * grad / np.sqrt(total + eps), None),
                "add this gradient's square to the sum before dividing",
            ),
            ((None, total + grad), "accumulate the *squared* gradients: grad**2"),
            ((None, total + np.abs(grad)), "accumulate the *squared* gradients: grad**2"),
            (
                (-rate * grad / (new_total + eps), new_total),
                "divide by the square root of the sum: sqrt(G + eps)",
            ),
        ]
        cases.append((case, (*as_float32(grad, total), rate, eps), expected, mistakes))
    return passed(
        task, check_expected_outputs(task, adagrad_step, cases, ("update", "sum_of_squares"), hint)
    )
