"""Checks for ``exercises/10_normalization.ipynb`` (lecture 10: normalization and initialization).

The references are written here in numpy from the formulas of the lecture (batch
statistics, the running-average update, the schemes' variances, the chain rule of the
product toy), so none shares code with ``lecture_lib.nn`` or with a student's answer. Each
case also lists what common mistakes return, so a wrong answer gets a hint about the slip it
most likely is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from lecture_lib.checks.core import check_expected, check_expected_outputs, passed, task_rng

_RNG_SEED = 1010


def _normalize(x, mean, var, gain, bias, eps):
    return gain * (x - mean) / np.sqrt(var + eps) + bias


# --------------------------------------------------------------------------- batch norm, train


def check_batch_norm_train(batch_norm_train: Callable) -> bool:
    """``batch_norm_train(x, gain, bias, eps) -> y``, x of shape (m, features)."""
    task = "batch_norm_train"
    hint = (
        "per feature (axis 0, over the examples): mu = mean(x), var = mean((x - mu)^2), "
        "y = gain * (x - mu) / sqrt(var + eps) + bias"
    )
    rng = task_rng(_RNG_SEED, 1)
    raw = [
        (
            "two examples, one feature: x = [[1], [3]], gain 1, bias 0, eps 0",
            np.array([[1.0], [3.0]]),
            np.ones(1),
            np.zeros(1),
            0.0,
        ),
        (
            "three examples, two features, gain [2, 0.5], bias [1, -1], eps 1e-3",
            np.array([[0.0, 1.0], [1.0, 2.0], [5.0, 6.0]]),
            np.array([2.0, 0.5]),
            np.array([1.0, -1.0]),
            1e-3,
        ),
    ]
    for index, (m, n) in enumerate([(8, 3), (5, 4)]):
        raw.append(
            (
                f"random x of shape ({m}, {n}) with mean 2 and std 3, random gain and bias, "
                f"eps 0.5 (draw {index + 1})",
                rng.normal(2.0, 3.0, size=(m, n)),
                rng.uniform(0.5, 2.0, size=n),
                rng.normal(size=n),
                0.5,
            )
        )
    cases = []
    for case, x, gain, bias, eps in raw:
        mean, var = x.mean(axis=0), x.var(axis=0)
        expected = _normalize(x, mean, var, gain, bias, eps)
        row_mean = x.mean(axis=1, keepdims=True)
        row_var = x.var(axis=1, keepdims=True)
        mistakes = [
            (
                _normalize(x, mean, x.var(axis=0, ddof=1), gain, bias, eps),
                "use the biased batch variance, mean((x - mu)^2) over the m examples "
                "(divide by m, not m - 1; jnp.var does that by default)",
            ),
            (
                gain * (x - mean) / (np.sqrt(var) + eps) + bias,
                "eps goes inside the square root: sqrt(var + eps), not sqrt(var) + eps",
            ),
            (
                (x - mean) / np.sqrt(var + eps),
                "scale and shift at the end: y = gain * x_hat + bias",
            ),
            (
                bias * (x - mean) / np.sqrt(var + eps) + gain,
                "gain multiplies x_hat and bias is added: the two are swapped",
            ),
        ]
        if x.shape[1] > 1:
            mistakes.append(
                (
                    _normalize(x, row_mean, row_var, gain, bias, eps),
                    "batch norm averages over the examples (axis 0), per feature: that is "
                    "layer norm, which averages over the features of each example",
                )
            )
        cases.append(
            (
                case,
                tuple(jnp.asarray(a, jnp.float32) for a in (x, gain, bias)) + (eps,),
                expected,
                mistakes,
            )
        )
    return passed(task, check_expected(task, batch_norm_train, cases, hint, rtol=1e-4, atol=1e-5))


# --------------------------------------------------------------------------- running averages, eval


def check_running_averages_and_eval(running_averages_and_eval: Callable) -> bool:
    """``f(running_mean, running_var, batch, x, gain, bias, momentum, eps) -> (mean, var, y)``."""
    task = "running_averages_and_eval"
    hint = (
        "mean = momentum * running_mean + (1 - momentum) * batch mean; var likewise with the "
        "UNBIASED batch variance (ddof=1); then y = gain * (x - mean) / sqrt(var + eps) + bias "
        "with the updated averages"
    )
    rng = task_rng(_RNG_SEED, 2)
    raw = [
        (
            "running (0, 1), batch [[1], [3]], x = [[2]], momentum 0.9, eps 0, gain 1, bias 0",
            np.zeros(1),
            np.ones(1),
            np.array([[1.0], [3.0]]),
            np.array([[2.0]]),
            np.ones(1),
            np.zeros(1),
            0.9,
            0.0,
        ),
    ]
    for index, (m, n, k) in enumerate([(4, 2, 3), (16, 3, 5)]):
        raw.append(
            (
                f"random running averages, a batch of {m}, {k} test rows of {n} features, "
                f"momentum 0.8, eps 0.1 (draw {index + 1})",
                rng.normal(size=n),
                rng.uniform(0.5, 2.0, size=n),
                rng.normal(1.0, 2.0, size=(m, n)),
                rng.normal(1.0, 2.0, size=(k, n)),
                rng.uniform(0.5, 2.0, size=n),
                rng.normal(size=n),
                0.8,
                0.1,
            )
        )
    cases = []
    for case, run_mean, run_var, batch, x, gain, bias, momentum, eps in raw:
        batch_mean = batch.mean(axis=0)
        unbiased, biased = batch.var(axis=0, ddof=1), batch.var(axis=0)
        mean = momentum * run_mean + (1 - momentum) * batch_mean
        var = momentum * run_var + (1 - momentum) * unbiased
        y = _normalize(x, mean, var, gain, bias, eps)
        swapped_mean = (1 - momentum) * run_mean + momentum * batch_mean
        swapped_var = (1 - momentum) * run_var + momentum * unbiased
        biased_var = momentum * run_var + (1 - momentum) * biased
        mistakes = [
            (
                (swapped_mean, swapped_var, None),
                "momentum weighs the OLD average: momentum * running + (1 - momentum) * batch",
            ),
            (
                (mean, biased_var, None),
                "the running variance uses the unbiased batch variance m/(m-1) * sigma_B^2 "
                "(ddof=1): eval mode estimates the population's variance",
            ),
            (
                (mean, var, _normalize(x, run_mean, run_var, gain, bias, eps)),
                "normalize with the UPDATED running averages, not the old ones",
            ),
            (
                (mean, var, gain * (x - mean) / (np.sqrt(var) + eps) + bias),
                "eps goes inside the square root: sqrt(var + eps)",
            ),
        ]
        if x.shape[0] > 1:
            mistakes.append(
                (
                    (mean, var, _normalize(x, x.mean(axis=0), x.var(axis=0), gain, bias, eps)),
                    "eval mode does not use the statistics of x: it is a fixed map with the "
                    "running averages",
                )
            )
        args = tuple(
            jnp.asarray(a, jnp.float32) for a in (run_mean, run_var, batch, x, gain, bias)
        ) + (momentum, eps)
        cases.append((case, args, (mean, var, y), mistakes))
    return passed(
        task,
        check_expected_outputs(
            task, running_averages_and_eval, cases, ("mean", "var", "y"), hint, atol=1e-5
        ),
    )


# --------------------------------------------------------------------------- init stds


def check_init_stds(init_stds: Callable) -> bool:
    """``init_stds(fan_in, fan_out) -> (xavier_std, he_std)`` of the Gaussian schemes."""
    task = "init_stds"
    hint = "xavier_std = sqrt(2 / (fan_in + fan_out)), he_std = sqrt(2 / fan_in)"
    pairs = [(64, 64), (784, 100), (10, 1000), (1, 3), (256, 10)]
    cases = []
    for fan_in, fan_out in pairs:
        xavier, he = math.sqrt(2 / (fan_in + fan_out)), math.sqrt(2 / fan_in)
        mistakes = [
            (
                (math.sqrt(6 / (fan_in + fan_out)), None),
                "sqrt(6 / (fan_in + fan_out)) is the bound of Xavier's UNIFORM distribution; "
                "its standard deviation is bound / sqrt(3)",
            ),
            (
                (2 / (fan_in + fan_out), 2 / fan_in),
                "return standard deviations: the square roots of the variances",
            ),
            (
                (math.sqrt(1 / (fan_in + fan_out)), None),
                "Xavier's variance is 2 / (fan_in + fan_out), a compromise between 1 / fan_in "
                "(forward pass) and 1 / fan_out (backward pass)",
            ),
            ((he, xavier), "the two are swapped: return (xavier_std, he_std)"),
        ]
        if fan_in != fan_out:
            mistakes.append(
                (
                    (None, math.sqrt(2 / fan_out)),
                    "He's variance 2 / n uses the fan-IN: the number of inputs of each unit",
                )
            )
        cases.append(
            (f"fan_in = {fan_in}, fan_out = {fan_out}", (fan_in, fan_out), (xavier, he), mistakes)
        )
    return passed(
        task, check_expected_outputs(task, init_stds, cases, ("xavier_std", "he_std"), hint)
    )


# --------------------------------------------------------------------------- gauge move


def _toy_gradient(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dh/dw_l of h = 1/(2m) sum_i (prod(w) x_i - y_i)^2: mean(r x) times the other factors."""
    residual = np.prod(w) * x - y
    return np.array(
        [np.mean(residual * x) * np.prod(np.delete(w, index)) for index in range(w.size)]
    )


def check_gauge_move(gauge_move: Callable) -> bool:
    """``gauge_move(w, grad, scales) -> (new_w, new_grad)`` for the product toy."""
    task = "gauge_move"
    hint = (
        "new_w = scales * w; the function is unchanged, and dh/dw'_l = (dh/dw_l) / scales_l "
        "(w_l = w'_l / c_l, chain rule)"
    )
    rng = task_rng(_RNG_SEED, 4)
    raw = [
        ("w = (1, 1, 1, 1), scales (1, 0.01, 100, 1)", np.ones(4), np.array([1.0, 0.01, 100, 1])),
        (
            "w = (2, -1, 0.5), scales (4, 0.5, 0.5)",
            np.array([2.0, -1, 0.5]),
            np.array([4.0, 0.5, 0.5]),
        ),
    ]
    for index in range(2):
        logs = rng.normal(size=5)
        raw.append(
            (
                f"random w and random positive scales of product 1, 5 factors (draw {index + 1})",
                rng.normal(size=5),
                np.exp(logs - logs.mean()),
            )
        )
    x = rng.normal(size=32)
    y = 1.5 * x
    cases = []
    for case, w, scales in raw:
        grad = _toy_gradient(w, x, y)
        new_w = scales * w
        expected_grad = _toy_gradient(new_w, x, y)
        mistakes = [
            ((None, grad * scales), "the gradient transforms inversely: divide by the scales"),
            ((None, grad), "the gradient changes under a gauge move, even though h does not"),
            ((w / scales, None), "the move multiplies the weights: new_w = scales * w"),
        ]
        cases.append(
            (
                case,
                tuple(jnp.asarray(a, jnp.float32) for a in (w, grad, scales)),
                (new_w, expected_grad),
                mistakes,
            )
        )
    return passed(
        task,
        check_expected_outputs(task, gauge_move, cases, ("new_w", "new_grad"), hint, rtol=1e-4),
    )
