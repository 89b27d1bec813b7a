"""Checks for ``exercises/06_kfac.ipynb`` (lecture 6: K-FAC).

The references are numpy transcriptions of the formulas (a bias column of ones, averages of
outer products, a dense Kronecker solve with ``np.kron`` for the factored inverse, the
pi-corrected split), sharing no code with ``lecture_lib.optim.kfac`` or with a student's
answer. Each case lists what common slips return, so a wrong answer gets a hint about it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lecture_lib.checks.core import (
    as_float32,
    check_expected,
    check_expected_outputs,
    passed,
    task_rng,
)

_RNG_SEED = 606


def _with_ones(inputs: np.ndarray) -> np.ndarray:
    return np.concatenate([inputs, np.ones((inputs.shape[0], 1))], axis=1)


def _factors(inputs: np.ndarray, output_gradients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = inputs.shape[0]
    a_bar = _with_ones(inputs)
    return a_bar.T @ a_bar / m, output_gradients.T @ output_gradients / m


def _spd(rng: np.random.Generator, size: int) -> np.ndarray:
    root = rng.normal(size=(size, size))
    return root @ root.T / size + 0.5 * np.eye(size)


def _kron_solve(left: np.ndarray, right: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(left (x) right)^-1 vec(matrix), row-major vec, from the dense Kronecker product."""
    return np.linalg.solve(np.kron(left, right), matrix.ravel()).reshape(matrix.shape)


def _pi_damped(left: np.ndarray, right: np.ndarray, damping: float):
    pi = np.sqrt((np.trace(left) / left.shape[0]) / (np.trace(right) / right.shape[0]))
    gamma = np.sqrt(damping)
    return left + pi * gamma * np.eye(left.shape[0]), right + gamma / pi * np.eye(right.shape[0])


# --------------------------------------------------------------------------- task 1


def check_kronecker_factors(kronecker_factors: Callable) -> bool:
    """``kronecker_factors(inputs, output_gradients) -> (A, G)`` for one dense layer."""
    task = "kronecker_factors"
    hint = (
        "append a column of ones to the inputs (the bias): a_bar = [a, 1], shape (m, fan_in + 1); "
        "A = a_bar.T @ a_bar / m and G = g.T @ g / m"
    )
    rng = task_rng(_RNG_SEED, 1)
    raw = [
        (
            "one example a = [1, 2], g = [3]: A = [a, 1][a, 1]^T, G = g g^T",
            np.array([[1.0, 2.0]]),
            np.array([[3.0]]),
        ),
        (
            "two examples a = [[1], [-1]], g = [[1, 0], [0, 2]]",
            np.array([[1.0], [-1.0]]),
            np.array([[1.0, 0.0], [0.0, 2.0]]),
        ),
    ]
    for index, (m, fan_in, fan_out) in enumerate([(5, 3, 2), (16, 4, 6)]):
        raw.append(
            (
                f"random layer {fan_in} -> {fan_out}, {m} examples (draw {index + 1})",
                rng.normal(size=(m, fan_in)),
                rng.normal(size=(m, fan_out)),
            )
        )
    cases = []
    for case, inputs, gradients in raw:
        m = inputs.shape[0]
        left, right = _factors(inputs, gradients)
        mistakes = [
            (
                (inputs.T @ inputs / m, None),
                "A needs the bias: append a column of ones to the inputs before the outer products",
            ),
            ((left * m, right * m), "average over the examples: divide the sums by m"),
            ((left / m, right / m), "divide by m once: the per-example g's are not yet averaged"),
            ((None, right * m), "G averages too: g.T @ g / m"),
            (
                (None, np.outer(gradients.mean(0), gradients.mean(0))),
                "average the outer products g_i g_i^T, not the outer product of the averages",
            ),
        ]
        cases.append((case, as_float32(inputs, gradients), (left, right), mistakes))
    return passed(
        task, check_expected_outputs(task, kronecker_factors, cases, ("A", "G"), hint, atol=1e-5)
    )


# --------------------------------------------------------------------------- task 2


def check_kronecker_inverse_apply(kronecker_inverse_apply: Callable) -> bool:
    """``kronecker_inverse_apply(A, G, V) -> A^-1 V G^-1``, i.e. (A (x) G)^-1 vec(V)."""
    task = "kronecker_inverse_apply"
    hint = (
        "(A (x) G)^-1 vec(V) = vec(A^-1 V G^-1) for symmetric A, G: two small solves, "
        "jnp.linalg.solve(A, V) then solve with G from the right (solve(G, X.T).T); "
        "never build the Kronecker product"
    )
    rng = task_rng(_RNG_SEED, 2)
    raw = [
        (
            "A = diag(2, 4), G = [[1]], V = [[2], [2]]",
            np.diag([2.0, 4.0]),
            np.array([[1.0]]),
            np.array([[2.0], [2.0]]),
        ),
        (
            "A = diag(1, 2), G = diag(1, 10, 100), V = all ones (2 x 3)",
            np.diag([1.0, 2.0]),
            np.diag([1.0, 10.0, 100.0]),
            np.ones((2, 3)),
        ),
    ]
    for index, (a, g) in enumerate([(3, 2), (5, 4)]):
        raw.append(
            (
                f"random positive-definite A ({a} x {a}) and G ({g} x {g}) (draw {index + 1})",
                _spd(rng, a),
                _spd(rng, g),
                rng.normal(size=(a, g)),
            )
        )
    cases = []
    for case, left, right, matrix in raw:
        expected = _kron_solve(left, right, matrix)
        mistakes = [
            (left @ matrix @ right, "apply the inverses, not the factors: A^-1 V G^-1"),
            (np.linalg.solve(left, matrix), "G^-1 is missing: multiply by it from the right"),
            (matrix @ np.linalg.inv(right), "A^-1 is missing: multiply by it from the left"),
        ]
        cases.append((case, as_float32(left, right, matrix), expected, mistakes))
    return passed(task, check_expected(task, kronecker_inverse_apply, cases, hint, rtol=2e-4))


# --------------------------------------------------------------------------- task 3


def check_pi_damping(pi_damping: Callable) -> bool:
    """``pi_damping(A, G, damping) -> (A + pi gamma I, G + gamma / pi I)``, gamma = sqrt(lambda)."""
    task = "pi_damping"
    hint = (
        "pi = sqrt((trace(A) / dim A) / (trace(G) / dim G)) and gamma = sqrt(damping); "
        "return (A + pi * gamma * I, G + gamma / pi * I)"
    )
    rng = task_rng(_RNG_SEED, 3)
    raw = [
        ("A = 4 I (2 x 2), G = I (3 x 3), damping 0.25: pi = 2", 4 * np.eye(2), np.eye(3), 0.25),
        (
            "A = diag(1, 3), G = diag(8, 0), damping 1",
            np.diag([1.0, 3.0]),
            np.diag([8.0, 0.0]),
            1.0,
        ),
    ]
    for index, (a, g) in enumerate([(4, 3), (6, 2)]):
        raw.append(
            (
                f"random factors of sizes {a} and {g}, damping 0.01 (draw {index + 1})",
                _spd(rng, a) * 3.0,
                _spd(rng, g) / 5.0,
                0.01,
            )
        )
    cases = []
    for case, left, right, damping in raw:
        expected = _pi_damped(left, right, damping)
        eye_a, eye_g = np.eye(left.shape[0]), np.eye(right.shape[0])
        pi = np.sqrt((np.trace(left) / left.shape[0]) / (np.trace(right) / right.shape[0]))
        gamma = np.sqrt(damping)
        mistakes = [
            (
                (left + pi * damping * eye_a, right + damping / pi * eye_g),
                "split the square root of the damping: gamma = sqrt(damping)",
            ),
            (
                (left + gamma / pi * eye_a, right + pi * gamma * eye_g),
                "pi goes with A: A + pi gamma I and G + (gamma / pi) I",
            ),
            (
                (left + gamma * eye_a, right + gamma * eye_g),
                "the split is not even: multiply by pi for A and divide by pi for G",
            ),
            (
                (left + pi**2 * gamma * eye_a, right + gamma / pi**2 * eye_g),
                "pi is the square root of the ratio of the average eigenvalues",
            ),
        ]
        cases.append((case, (*as_float32(left, right), damping), expected, mistakes))
    return passed(
        task,
        check_expected_outputs(task, pi_damping, cases, ("damped A", "damped G"), hint, atol=1e-5),
    )


# --------------------------------------------------------------------------- task 4


def check_kfac_layer_step(kfac_layer_step: Callable) -> bool:
    """``kfac_layer_step(inputs, output_gradients, gradient, damping, learning_rate) -> step``."""
    task = "kfac_layer_step"
    hint = (
        "A, G = kronecker_factors(inputs, output_gradients); damp them with pi_damping; "
        "step = -learning_rate * kronecker_inverse_apply(damped A, damped G, gradient)"
    )
    rng = task_rng(_RNG_SEED, 4)
    raw = [
        (
            "one example a = [1], g = [2], gradient [[2], [2]], damping 1, rate 1",
            np.array([[1.0]]),
            np.array([[2.0]]),
            np.array([[2.0], [2.0]]),
            1.0,
            1.0,
        )
    ]
    for index, (m, fan_in, fan_out) in enumerate([(8, 3, 2), (32, 5, 4)]):
        inputs = rng.normal(size=(m, fan_in))
        gradients = rng.normal(size=(m, fan_out))
        raw.append(
            (
                f"random layer {fan_in} -> {fan_out}, {m} examples, damping 0.1, rate 0.5 "
                f"(draw {index + 1})",
                inputs,
                gradients,
                _with_ones(inputs).T @ gradients / m,
                0.1,
                0.5,
            )
        )
    cases = []
    for case, inputs, gradients, gradient, damping, rate in raw:
        left, right = _factors(inputs, gradients)
        damped = _pi_damped(left, right, damping)
        expected = -rate * _kron_solve(*damped, gradient)
        size_a, size_g = left.shape[0], right.shape[0]
        mistakes = [
            (-expected, "the step goes against the gradient: put a minus sign in front"),
            (expected / rate, "multiply by the learning rate"),
            (
                -rate
                * _kron_solve(
                    left + damping * np.eye(size_a), right + damping * np.eye(size_g), gradient
                ),
                "damp with the pi-corrected split of sqrt(damping), not damping on both factors",
            ),
        ]
        cases.append(
            (case, (*as_float32(inputs, gradients, gradient), damping, rate), expected, mistakes)
        )
    return passed(task, check_expected(task, kfac_layer_step, cases, hint, rtol=5e-4, atol=1e-5))
