"""Checks for ``exercises/02_gradient_descent.ipynb`` (lecture 2: gradient descent and its bounds).

Every reference is written out by hand in numpy (float64): gradients in closed form,
eigenvalues from ``numpy.linalg.eigvalsh``, so no reference shares a code path with a
student's JAX answer. Each case also lists what common mistakes return, so a wrong
answer gets a hint about the mistake it most likely is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib.checks.core import as_array, call_student, check_expected, failure, passed

_KEY = jax.random.PRNGKey(202)


def _random_spd(key, dim: int, kappa: float) -> np.ndarray:
    """A random symmetric positive definite matrix with eigenvalues from 1/kappa to 1."""
    gaussian = np.asarray(jax.random.normal(key, (dim, dim)), np.float64)
    q, _ = np.linalg.qr(gaussian)
    eigenvalues = np.geomspace(1.0 / kappa, 1.0, dim) * 3.0
    matrix = q @ np.diag(eigenvalues) @ q.T
    return (matrix + matrix.T) / 2


# --------------------------------------------------------------------------- gd_step


def _quadratic_case(name: str, a_matrix: np.ndarray, b_vector: np.ndarray, theta, alpha):
    """h = 1/2 theta^T A theta - b^T theta; grad = A theta - b (JAX for the student)."""
    a_j, b_j = jnp.asarray(a_matrix), jnp.asarray(b_vector)

    def grad_fn(t):
        return a_j.astype(t.dtype) @ t - b_j.astype(t.dtype)

    theta = np.asarray(theta, np.float64)
    grad = a_matrix @ theta - b_vector
    return name, (grad_fn, jnp.asarray(theta), alpha), theta, grad


def _bent_valley_case(theta, alpha):
    """h(x, y) = (1 - x)^2 + 10 (y - x^2)^2: a Rosenbrock-like curved valley."""

    def loss(t):
        return (1.0 - t[0]) ** 2 + 10.0 * (t[1] - t[0] ** 2) ** 2

    x, y = theta
    grad = np.array([-2.0 * (1.0 - x) - 40.0 * x * (y - x**2), 20.0 * (y - x**2)])
    name = (
        f"grad_fn = jax.grad of h(x, y) = (1-x)^2 + 10(y-x^2)^2; theta = {list(theta)}, "
        f"learning_rate = {alpha}"
    )
    args = (jax.grad(loss), jnp.asarray(theta, jnp.result_type(float)), alpha)
    return name, args, np.asarray(theta, np.float64), grad


def check_gd_step(gd_step: Callable) -> bool:
    """``gd_step(grad_fn, theta, learning_rate)``: theta - learning_rate * grad_fn(theta)."""
    task = "gd_step"
    hint = "one step of gradient descent is theta_new = theta - learning_rate * grad_fn(theta)"
    key_matrix, key_theta, key_rate = jax.random.split(jax.random.fold_in(_KEY, 1), 3)
    random_matrix = _random_spd(key_matrix, 5, 20.0)
    random_theta = np.asarray(jax.random.normal(key_theta, (5,)), np.float64)
    random_rate = float(jax.random.uniform(key_rate, (), minval=0.05, maxval=0.5))
    raw = [
        _quadratic_case(
            "grad_fn(theta) = A theta - b with A = [[3, 1], [1, 2]], b = [1, -1]; "
            "theta = [1, 2], learning_rate = 0.1",
            np.array([[3.0, 1.0], [1.0, 2.0]]),
            np.array([1.0, -1.0]),
            [1.0, 2.0],
            0.1,
        ),
        _quadratic_case(
            "narrow valley grad_fn(theta) = diag(1, 0.01) theta; theta = [1, 1], "
            "learning_rate = 1.9",
            np.diag([1.0, 0.01]),
            np.zeros(2),
            [1.0, 1.0],
            1.9,
        ),
        _quadratic_case(
            f"random 5-D quadratic (key 202), learning_rate = {random_rate:.4f}",
            random_matrix,
            np.ones(5),
            random_theta,
            random_rate,
        ),
        _bent_valley_case((-0.5, 1.5), 0.01),
    ]
    cases = []
    for name, args, theta, grad in raw:
        alpha = args[2]
        mistakes = [
            (theta + alpha * grad, "the step goes *against* the gradient: subtract it"),
            (theta - grad, "the learning rate scales the gradient: use learning_rate * grad"),
            (
                -alpha * grad,
                "return the new parameters theta - learning_rate * grad, not the update",
            ),
            (theta - grad / alpha, "multiply the gradient by the learning rate, do not divide"),
        ]
        cases.append((name, args, theta - alpha * grad, mistakes))
    return passed(task, check_expected(task, gd_step, cases, hint))


# --------------------------------------------------------------------------- learning rates


def _hessian_cases() -> list[tuple[str, np.ndarray]]:
    angle = 0.5
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    valley = rotation @ np.diag([0.01, 1.0]) @ rotation.T
    return [
        ("hessian = diag(4, 1)", np.diag([4.0, 1.0])),
        (
            "hessian = [[2, 1.5], [1.5, 2]] (eigenvalues 0.5 and 3.5)",
            np.array([[2.0, 1.5], [1.5, 2.0]]),
        ),
        ("the narrow valley: eigenvalues 1 and 0.01, rotated by 0.5 rad", (valley + valley.T) / 2),
        (
            "a random 6x6 positive definite matrix (key 202), kappa = 30",
            _random_spd(jax.random.fold_in(_KEY, 2), 6, 30.0),
        ),
    ]


def _gd_behaviour(hessian: np.ndarray, learning_rate: float, steps: int = 4000) -> float:
    """||theta_steps|| / ||theta_0|| for GD on h = 1/2 theta^T H theta from a fixed start."""
    theta = np.ones(hessian.shape[0]) / math.sqrt(hessian.shape[0])
    for _ in range(steps):
        theta = theta - learning_rate * hessian @ theta
        if not np.all(np.isfinite(theta)) or np.linalg.norm(theta) > 1e30:
            return math.inf
    return float(np.linalg.norm(theta))


def check_largest_stable_learning_rate(largest_stable_learning_rate: Callable) -> bool:
    """``largest_stable_learning_rate(hessian)`` must return 2 / lambda_max(hessian)."""
    task = "largest_stable_learning_rate"
    hint = (
        "along the eigendirection with the largest eigenvalue L a GD step multiplies the "
        "coordinate by (1 - alpha L); it must stay inside (-1, 1). Use jnp.linalg.eigvalsh."
    )
    cases = []
    for name, hessian in _hessian_cases():
        eigenvalues = np.linalg.eigvalsh(hessian)
        low, high = eigenvalues[0], eigenvalues[-1]
        mistakes = [
            (1.0 / high, "1/L is the step of the Lipschitz model; GD stays stable up to 2/L"),
            (2.0 / low, "the *largest* eigenvalue limits the step, not the smallest"),
            (2.0 / (low + high), "2/(L + mu) is the best step for the rate; the limit is 2/L"),
            (2.0 / np.max(np.diag(hessian)), "use the eigenvalues, not the diagonal entries"),
            (2.0 / np.trace(hessian), "use the largest eigenvalue, not the trace"),
        ]
        cases.append((name, (jnp.asarray(hessian),), 2.0 / high, mistakes))
    count = check_expected(task, largest_stable_learning_rate, cases, hint)
    for name, hessian in _hessian_cases():  # the behaviour behind the number
        expected = 2.0 / np.linalg.eigvalsh(hessian)[-1]
        answer = call_student(
            task, largest_stable_learning_rate, (jnp.asarray(hessian),), name, expected, hint
        )
        answer = float(np.asarray(answer))
        below, above = _gd_behaviour(hessian, 0.99 * answer), _gd_behaviour(hessian, 1.01 * answer)
        if not (below < 1e-3 and above > 1e3):
            raise failure(
                task,
                f"{name}: GD with 0.99x and 1.01x your answer",
                "0.99x converges, 1.01x diverges",
                f"||theta|| grew by a factor {below:.3g} and {above:.3g}",
                hint,
            )
    print("  GD with 0.99 x your answer converges and with 1.01 x diverges, on every case.")
    return passed(task, count)


def check_contraction_factor(contraction_factor: Callable) -> bool:
    """``contraction_factor(hessian, learning_rate)`` must return max_i |1 - alpha lambda_i|."""
    task = "contraction_factor"
    hint = (
        "each eigendirection is multiplied by (1 - learning_rate * lambda_i) per step; the "
        "slowest one sets the rate: the largest absolute value over all eigenvalues"
    )
    key = jax.random.fold_in(_KEY, 3)
    cases = []
    for index, (name, hessian) in enumerate(_hessian_cases()):
        eigenvalues = np.linalg.eigvalsh(hessian)
        low, high = eigenvalues[0], eigenvalues[-1]
        random_rate = float(
            jax.random.uniform(jax.random.fold_in(key, index), (), maxval=2.2 / high)
        )
        for alpha, label in [
            (2.0 / (low + high), "2/(L+mu)"),
            (0.5 / high, "0.5/L"),
            (2.1 / high, "2.1/L (beyond the limit)"),
            (random_rate, f"{random_rate:.4f}"),
        ]:
            factors = 1.0 - alpha * eigenvalues
            diagonal = 1.0 - alpha * np.diag(hessian)
            mistakes = [
                (np.max(factors), "take the absolute value: a factor below -1 also grows"),
                (
                    abs(1.0 - alpha * low),
                    "the largest eigenvalue can overshoot: check every eigenvalue",
                ),
                (abs(1.0 - alpha * high), "the smallest eigenvalue can be the slow one: check all"),
                (np.max(np.abs(diagonal)), "use the eigenvalues of the hessian, not its diagonal"),
                (
                    np.min(np.abs(factors)),
                    "the *slowest* direction sets the rate: take the maximum",
                ),
            ]
            cases.append(
                (
                    f"{name}, learning_rate = {label}",
                    (jnp.asarray(hessian), alpha),
                    np.max(np.abs(factors)),
                    mistakes,
                )
            )
    return passed(task, check_expected(task, contraction_factor, cases, hint))


# --------------------------------------------------------------------------- iteration counts


def _is_smallest_count(got: float, kappa: float, eps: float) -> bool:
    """Is ``got`` the smallest integer k >= 1 with r^(2k) <= eps, r = (kappa-1)/(kappa+1)?"""
    if not float(got).is_integer() or got < 1:
        return False
    log_rate = math.log((kappa - 1.0) / (kappa + 1.0))
    slack = 1e-9
    reaches = 2 * got * log_rate <= math.log(eps) + slack
    earlier = 2 * (got - 1) * log_rate <= math.log(eps) - slack
    return reaches and (got == 1 or not earlier)


def check_steps_to_tolerance(steps_to_tolerance: Callable) -> bool:
    """``steps_to_tolerance(kappa, eps)``: smallest k with ((kappa-1)/(kappa+1))^(2k) <= eps."""
    task = "steps_to_tolerance"
    hint = (
        "solve ((kappa-1)/(kappa+1))^(2k) <= eps for k by taking logarithms (log of the rate "
        "is negative: dividing by it flips the inequality), then round up to an integer"
    )
    key_kappa, key_eps = jax.random.split(jax.random.fold_in(_KEY, 4))
    random_kappas = np.asarray(10.0 ** jax.random.uniform(key_kappa, (4,), minval=0.1, maxval=4.0))
    random_eps = np.asarray(10.0 ** jax.random.uniform(key_eps, (4,), minval=-10.0, maxval=-1.0))
    pairs = [(10.0, 1e-3), (100.0, 1e-6), (1000.0, 1e-2), (3.0, 0.5), (1.5, 1e-8), (4.0, 1e-10)]
    pairs += [(float(k), float(e)) for k, e in zip(random_kappas, random_eps, strict=True)]
    count = 0
    for kappa, eps in pairs:
        case = f"kappa = {kappa:.6g}, eps = {eps:.3g}"
        log_rate = math.log((kappa - 1.0) / (kappa + 1.0))
        expected = max(1, math.ceil(math.log(eps) / (2.0 * log_rate)))
        got = call_student(task, steps_to_tolerance, (kappa, eps), case, expected, hint)
        got_array = as_array(task, case, expected, got, hint)
        if got_array.shape != () or not _is_smallest_count(float(got_array), kappa, eps):
            mistakes = [
                (math.ceil(math.log(eps) / log_rate), "the bound shrinks like r^(2k): mind the 2"),
                (math.floor(math.log(eps) / (2.0 * log_rate)), "round up (ceil), not down"),
                (math.log(eps) / (2.0 * log_rate), "the number of steps is an integer: round up"),
                (
                    math.ceil(kappa / 4.0 * math.log(1.0 / eps)),
                    "kappa/4 log(1/eps) is only the large-kappa approximation; use the exact rate",
                ),
                (
                    math.ceil(kappa * math.log(1.0 / eps)),
                    "kappa log(1/eps) is only the order of growth; use the exact rate",
                ),
            ]
            likely = next(
                (
                    m
                    for wrong, m in mistakes
                    if got_array.shape == () and math.isclose(float(got_array), wrong, rel_tol=1e-9)
                ),
                hint,
            )
            raise failure(task, case, expected, got_array, likely)
        count += 1
    return passed(task, count)
