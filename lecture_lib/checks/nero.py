"""Checks for ``exercises/09_nero.ipynb`` (lecture 9: perturbation bounds and Nero).

The references are written here in numpy, one neuron (a column of the (fan_in, fan_out)
weight matrix) at a time, from the lecture's equations, so none shares code with
``lecture_lib.optim.nero`` or with a student's answer. Each case also lists what common
mistakes return (rows for columns, no centring, no bias correction...), so a wrong answer
gets a hint about the slip it most likely is.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from lecture_lib.checks.core import (
    as_float32,
    check_expected,
    check_expected_outputs,
    passed,
    task_rng,
)

_RNG_SEED = 909


def _project(w: np.ndarray) -> np.ndarray:
    """Every column centred (mean 0 over its inputs) and scaled to norm 1 (NaN if constant)."""
    projected = np.empty_like(w)
    for j in range(w.shape[1]):
        centred = w[:, j] - w[:, j].mean()
        # a common mistake's answer may centre a constant vector: NaN then matches nothing
        with np.errstate(divide="ignore", invalid="ignore"):
            projected[:, j] = centred / np.linalg.norm(centred)
    return projected


def _normalise_columns(w: np.ndarray) -> np.ndarray:
    return w / np.linalg.norm(w, axis=0, keepdims=True)


# --------------------------------------------------------------------------- projection


def check_project_neurons(project_neurons: Callable) -> bool:
    """``project_neurons(w) -> w'`` with every column centred and of norm 1."""
    task = "project_neurons"
    hint = (
        "neuron j is the column w[:, j]: subtract its mean over the inputs (axis 0), then "
        "divide by the norm of the centred column: c = w - w.mean(axis=0); c / norm(c, axis=0)"
    )
    rng = task_rng(_RNG_SEED, 1)
    raw = [
        (
            "two neurons with 3 inputs: w = [[1, 0], [2, 1], [3, -1]]",
            np.array([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0]]),
        ),
        ("one neuron already centred: w = [[3], [-4], [1]]", np.array([[3.0], [-4.0], [1.0]])),
        (
            "a 4 x 3 matrix with a large offset (all weights near 10)",
            10 + rng.normal(size=(4, 3)),
        ),
    ]
    for index, shape in enumerate([(6, 5), (3, 8)]):
        raw.append((f"random weights of shape {shape} (draw {index + 1})", rng.normal(size=shape)))
    cases = []
    for case, w in raw:
        centred = w - w.mean(axis=0)
        mistakes = [
            (
                _project(w.T).T,
                "a neuron is a column of the (fan_in, fan_out) matrix, not a row: "
                "take means and norms over axis 0",
            ),
            (_normalise_columns(w), "centre each neuron first (balanced: its weights sum to 0)"),
            (centred, "after centring, divide each neuron by its norm (hyperspherical: norm 1)"),
            (
                _normalise_columns(w) - _normalise_columns(w).mean(axis=0),
                "centre first, then normalise: normalising first and centring after leaves a "
                "norm below 1",
            ),
            (centred / np.linalg.norm(w, axis=0), "divide by the norm of the *centred* neuron"),
            (
                centred / np.linalg.norm(centred),
                "normalise every neuron on its own, not the whole matrix by its Frobenius norm",
            ),
        ]
        cases.append((case, as_float32(w), _project(w), mistakes))
    return passed(task, check_expected(task, project_neurons, cases, hint, rtol=1e-4, atol=1e-5))


# --------------------------------------------------------------------------- relative sizes


def _relative_sizes(w: np.ndarray, dw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    layer = np.sqrt(np.sum(dw**2)) / np.sqrt(np.sum(w**2))
    neuron = np.array(
        [np.linalg.norm(dw[:, j]) / np.linalg.norm(w[:, j]) for j in range(w.shape[1])]
    )
    return layer, neuron


def check_relative_sizes(relative_sizes: Callable) -> bool:
    """``relative_sizes(w, dw) -> (per_layer, per_neuron)``: ||dW||_F/||W||_F, ||dw_j||/||w_j||."""
    task = "relative_sizes"
    hint = (
        "per_layer = norm(dw) / norm(w) over all entries (Frobenius); per_neuron = the same "
        "for every column j: norm(dw, axis=0) / norm(w, axis=0), shape (fan_out,)"
    )
    rng = task_rng(_RNG_SEED, 2)
    raw = [
        (
            "w = [[1, 0], [0, 2]], dw = [[0.1, 0], [0, 0.1]]",
            np.array([[1.0, 0.0], [0.0, 2.0]]),
            np.array([[0.1, 0.0], [0.0, 0.1]]),
        ),
        (
            "a 3 x 2 matrix and an update that moves only neuron 2",
            np.array([[1.0, 2.0], [-1.0, 0.5], [2.0, 1.0]]),
            np.array([[0.0, 0.2], [0.0, -0.1], [0.0, 0.0]]),
        ),
    ]
    for index, shape in enumerate([(5, 4), (3, 6)]):
        w = rng.normal(size=shape)
        raw.append(
            (
                f"random w of shape {shape}, dw 1% of its size (draw {index + 1})",
                w,
                0.01 * rng.normal(size=shape),
            )
        )
    cases = []
    for case, w, dw in raw:
        layer, neuron = _relative_sizes(w, dw)
        _, rows_neuron = _relative_sizes(w.T, dw.T)
        mistakes = [
            (
                (None, rows_neuron),
                "a neuron is a column of the (fan_in, fan_out) matrix: take norms over axis 0",
            ),
            (
                (
                    1 / layer,
                    np.divide(1, neuron, out=np.full_like(neuron, np.inf), where=neuron > 0),
                ),
                "the ratio is the update over the weights: norm(dw) / norm(w)",
            ),
            (
                (layer**2, neuron**2),
                "take the norms (square roots of the sums of squares), not the squared norms",
            ),
            (
                (None, np.abs(dw).sum(axis=0) / np.abs(w).sum(axis=0)),
                "use Euclidean norms, not sums of absolute values",
            ),
        ]
        cases.append((case, as_float32(w, dw), (layer, neuron), mistakes))
    return passed(
        task,
        check_expected_outputs(
            task, relative_sizes, cases, ("per_layer", "per_neuron"), hint, rtol=1e-4, atol=1e-7
        ),
    )


# --------------------------------------------------------------------------- Nero step


def _nero_step(w, g, v, t, rate, beta, correct=True, project=True, sign=-1.0):
    v_new = beta * v + (1 - beta) * np.sum(g**2, axis=0)
    v_hat = v_new / (1 - beta**t) if correct else v_new
    stepped = w + sign * rate * g / np.sqrt(v_hat)
    return (_project(stepped) if project else stepped), v_new


def check_nero_step(nero_step: Callable) -> bool:
    """``nero_step(w, g, v, t, learning_rate, beta) -> (w_new, v_new)`` for one weight matrix."""
    task = "nero_step"
    hint = (
        "v_new = beta * v + (1 - beta) * (squared norm of each column of g); v_hat = v_new / "
        "(1 - beta**t); w - learning_rate * g / sqrt(v_hat), then centre and normalise every "
        "column"
    )
    rng = task_rng(_RNG_SEED, 3)
    raw = []
    w = _project(np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    raw.append(
        (
            "first step (t = 1, v = 0) on two unit neurons, rate 0.1, beta 0.9",
            w,
            np.array([[0.5, 1.0], [-0.5, 0.0], [0.0, -1.0]]),
            np.zeros(2),
            1,
            0.1,
            0.9,
        )
    )
    for index, (shape, t) in enumerate([((4, 3), 5), ((6, 4), 50)]):
        raw.append(
            (
                f"random neurons {shape}, step t = {t}, rate 0.01, beta 0.999 (draw {index + 1})",
                _project(rng.normal(size=shape)),
                rng.normal(size=shape),
                rng.uniform(0.5, 2.0, size=shape[1]),
                t,
                0.01,
                0.999,
            )
        )
    cases = []
    for case, w, g, v, t, rate, beta in raw:
        expected = _nero_step(w, g, v, t, rate, beta)
        v_new = expected[1]
        mistakes = [
            (
                (_nero_step(w, g, v, t, rate, beta, correct=False)[0], v_new),
                "bias correction: divide v_new by (1 - beta**t) before the square root",
            ),
            (
                (_nero_step(w, g, v, t, rate, beta, project=False)[0], v_new),
                "project after the step: centre every column, then scale it to norm 1",
            ),
            (
                (_normalise_columns(w - rate * g / np.sqrt(v_new / (1 - beta**t))), v_new),
                "centre every column before normalising it (balanced excitation and inhibition)",
            ),
            (
                (_nero_step(w, g, v, t, rate, beta, sign=1.0)[0], v_new),
                "the step goes against the gradient: w - learning_rate * g / sqrt(v_hat)",
            ),
        ]
        mistakes.append(
            (
                _nero_step(w, g, v, t, rate, 0.0),
                "v is a running average: v_new = beta * v + (1 - beta) * |g_j|^2, and the step "
                "divides by its bias-corrected square root, not by the current gradient's norm",
            )
        )
        cases.append((case, (*as_float32(w, g, v), t, rate, beta), expected, mistakes))
    return passed(
        task,
        check_expected_outputs(
            task, nero_step, cases, ("w_new", "v_new"), hint, rtol=2e-4, atol=2e-5
        ),
    )


# --------------------------------------------------------------------------- bound


def check_perturbation_bound(perturbation_bound: Callable) -> bool:
    """``perturbation_bound(weights, perturbations) -> prod_l (1 + ||dW_l||/||W_l||) - 1``."""
    task = "perturbation_bound"
    hint = (
        "r_l = norm(dW_l) / norm(W_l) (Frobenius norms) for every layer l; the bound is "
        "prod(1 + r_l) - 1"
    )
    rng = task_rng(_RNG_SEED, 4)
    raw = [
        (
            "two scalar-like 1x1 layers: W = [2], [4]; dW = [0.2], [-0.4] (r = 0.1 each)",
            [np.array([[2.0]]), np.array([[4.0]])],
            [np.array([[0.2]]), np.array([[-0.4]])],
        ),
        (
            "three 2x2 layers, identity weights, dW_l = 0.5 * I",
            [np.eye(2)] * 3,
            [0.5 * np.eye(2)] * 3,
        ),
    ]
    shapes = [(4, 3), (3, 3), (3, 2)]
    weights = [rng.normal(size=shape) for shape in shapes]
    raw.append(
        (
            "random layers 4x3, 3x3, 3x2 with 5% perturbations",
            weights,
            [0.05 * rng.normal(size=shape) for shape in shapes],
        )
    )
    cases = []
    for case, ws, dws in raw:
        ratios = np.array(
            [np.linalg.norm(d) / np.linalg.norm(w) for w, d in zip(ws, dws, strict=True)]
        )
        expected = np.prod(1 + ratios) - 1
        mistakes = [
            (
                np.sum(ratios),
                "that is the first-order sum of the r_l: multiply the factors "
                "(1 + r_l), then subtract 1",
            ),
            (np.prod(1 + ratios), "subtract 1: the bound is on a relative *change*"),
            (np.prod(ratios), "the bound multiplies (1 + r_l), not r_l"),
            (
                np.prod(1 + 1 / ratios) - 1,
                "r_l is the perturbation over the weights: norm(dW_l) / norm(W_l)",
            ),
        ]
        args = (
            [jnp.asarray(w, jnp.float32) for w in ws],
            [jnp.asarray(d, jnp.float32) for d in dws],
        )
        cases.append((case, args, expected, mistakes))
    return passed(task, check_expected(task, perturbation_bound, cases, hint, rtol=1e-4))
