"""Checks for ``exercises/03_momentum.ipynb`` (lecture 3: momentum).

Every reference is written out by hand in numpy (float64): gradients in closed form,
the 2x2 iteration matrix entry by entry with ``numpy.linalg.eigvals``, the optimal
parameters from the square roots of the extreme eigenvalues. No reference shares a code
path with a student's JAX answer. Each case lists what common mistakes return, so a wrong
answer gets a hint about the mistake it most likely is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib.checks.core import as_array, call_student, compare, failure, matches, passed

_KEY = jax.random.PRNGKey(303)


def _pair(task: str, case: str, expected: tuple, got, hint: str) -> tuple[np.ndarray, np.ndarray]:
    """Unpack a ``(theta, velocity)`` answer into two float64 arrays."""
    shown = f"(theta = {np.asarray(expected[0])}, velocity = {np.asarray(expected[1])})"
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise failure(
            task,
            case,
            shown,
            f"{got!r}, which is not a pair",
            "return two things, the new parameters and the new velocity: "
            "`return theta_new, velocity_new`",
        )
    return (
        as_array(task, case, shown, got[0], hint),
        as_array(task, case, shown, got[1], hint),
    )


def _compare_pair(
    task: str,
    case: str,
    expected: tuple,
    got,
    mistakes: Sequence[tuple[tuple, str]],
    hint: str,
    rtol: float = 1e-4,
    atol: float = 1e-6,
):
    theta, velocity = _pair(task, case, expected, got, hint)
    if matches(theta, expected[0], rtol, atol) and matches(velocity, expected[1], rtol, atol):
        return
    shown = f"(theta = {np.asarray(expected[0])}, velocity = {np.asarray(expected[1])})"
    likely = next(
        (
            message
            for (wrong_theta, wrong_velocity), message in mistakes
            if matches(theta, wrong_theta, rtol, atol)
            and matches(velocity, wrong_velocity, rtol, atol)
        ),
        None,
    )
    if likely is None and matches(theta, expected[1], rtol, atol):
        if matches(velocity, expected[0], rtol, atol):
            likely = "return (theta, velocity) in that order"
    if likely is None and matches(theta, expected[0], rtol, atol):
        likely = "theta is right, but the new velocity is not: " + hint
    if likely is None and matches(velocity, expected[1], rtol, atol):
        likely = "the new velocity is right, but theta is not: " + hint
    raise failure(task, case, shown, f"(theta = {theta}, velocity = {velocity})", likely or hint)


def _random_spd(key, dim: int, kappa: float) -> np.ndarray:
    """A random symmetric positive definite matrix with eigenvalues from 2/kappa to 2."""
    gaussian = np.asarray(jax.random.normal(key, (dim, dim)), np.float64)
    q, _ = np.linalg.qr(gaussian)
    matrix = q @ np.diag(2.0 * np.geomspace(1.0 / kappa, 1.0, dim)) @ q.T
    return (matrix + matrix.T) / 2


# --------------------------------------------------------------------------- test objectives


class _Objective:
    """A test objective: a JAX gradient for the student and a numpy gradient for the reference."""

    def __init__(self, name: str, jax_grad: Callable, numpy_grad: Callable):
        self.name = name
        self.jax_grad = jax_grad
        self.numpy_grad = numpy_grad


def _quadratic(name: str, a_matrix: np.ndarray, b_vector: np.ndarray) -> _Objective:
    """h = 1/2 theta^T A theta - b^T theta with gradient A theta - b."""
    a_j, b_j = jnp.asarray(a_matrix), jnp.asarray(b_vector)

    def jax_grad(theta):
        return a_j.astype(theta.dtype) @ theta - b_j.astype(theta.dtype)

    return _Objective(name, jax_grad, lambda theta: a_matrix @ theta - b_vector)


def _bent_valley() -> _Objective:
    """h(x, y) = (1 - x)^2 + 10 (y - x^2)^2, a Rosenbrock-like curved valley (gradient by JAX)."""

    def loss(t):
        return (1.0 - t[0]) ** 2 + 10.0 * (t[1] - t[0] ** 2) ** 2

    def numpy_grad(theta):
        x, y = theta
        return np.array([-2.0 * (1.0 - x) - 40.0 * x * (y - x**2), 20.0 * (y - x**2)])

    return _Objective(
        "grad_fn = jax.grad of h(x, y) = (1-x)^2 + 10(y-x^2)^2", jax.grad(loss), numpy_grad
    )


def _objectives() -> list[tuple[_Objective, np.ndarray, np.ndarray, float, float]]:
    """(objective, theta, velocity, learning_rate, beta) for the step checks."""
    key_matrix, key_theta, key_velocity, key_rate = jax.random.split(jax.random.fold_in(_KEY, 1), 4)
    random_matrix = _random_spd(key_matrix, 5, 20.0)
    random_theta = np.asarray(jax.random.normal(key_theta, (5,)), np.float64)
    random_velocity = np.asarray(jax.random.normal(key_velocity, (5,)), np.float64)
    random_rate = float(jax.random.uniform(key_rate, (), minval=0.05, maxval=0.5))
    return [
        (
            _quadratic(
                "grad_fn(theta) = A theta - b with A = [[3, 1], [1, 2]], b = [1, -1]",
                np.array([[3.0, 1.0], [1.0, 2.0]]),
                np.array([1.0, -1.0]),
            ),
            np.array([1.0, 2.0]),
            np.array([0.5, -0.25]),
            0.1,
            0.9,
        ),
        (
            _quadratic(
                "narrow valley grad_fn(theta) = diag(0.01, 1) theta",
                np.diag([0.01, 1.0]),
                np.zeros(2),
            ),
            np.array([4.0, 1.0]),
            np.array([-0.3, 0.8]),
            1.0,
            0.8,
        ),
        (
            _quadratic(
                "narrow valley grad_fn(theta) = diag(0.01, 1) theta, beta = 0 (gradient descent)",
                np.diag([0.01, 1.0]),
                np.zeros(2),
            ),
            np.array([4.0, 1.0]),
            np.array([2.0, 3.0]),
            0.5,
            0.0,
        ),
        (
            _quadratic(
                f"random 5-D quadratic (key 303), learning_rate = {random_rate:.4f}",
                random_matrix,
                np.ones(5),
            ),
            random_theta,
            random_velocity,
            random_rate,
            0.7,
        ),
        (_bent_valley(), np.array([-0.5, 1.5]), np.array([0.2, 0.1]), 0.01, 0.95),
    ]


def _describe(objective: _Objective, theta, velocity, learning_rate, beta, name="beta") -> str:
    return (
        f"{objective.name}; theta = {np.round(theta, 4)}, velocity = {np.round(velocity, 4)}, "
        f"learning_rate = {learning_rate:g}, {name} = {beta:g}"
    )


def _student_steps(task, step, objective, theta, learning_rate, beta, steps, expected, hint):
    """Iterate the student's step ``steps`` times from (theta, 0); return the thetas."""
    theta_j = jnp.asarray(theta)
    velocity_j = jnp.zeros_like(theta_j)
    thetas = [np.asarray(theta, np.float64)]
    case = f"{objective.name}: {steps} steps from velocity 0"
    for _ in range(steps):
        got = call_student(
            task,
            step,
            (objective.jax_grad, theta_j, velocity_j, learning_rate, beta),
            case,
            expected,
            hint,
        )
        theta_new, velocity_new = _pair(task, case, (expected, "..."), got, hint)
        theta_j, velocity_j = jnp.asarray(theta_new), jnp.asarray(velocity_new)
        thetas.append(theta_new)
    return np.array(thetas), np.asarray(velocity_j, np.float64)


# --------------------------------------------------------------------------- heavy_ball_step


def check_heavy_ball_step(heavy_ball_step: Callable) -> bool:
    """``heavy_ball_step(grad_fn, theta, velocity, learning_rate, beta)``:

    v_new = beta * velocity + grad_fn(theta); theta_new = theta - learning_rate * v_new;
    returns (theta_new, v_new).
    """
    task = "heavy_ball_step"
    hint = (
        "first v_new = beta * velocity + grad_fn(theta), then "
        "theta_new = theta - learning_rate * v_new; return (theta_new, v_new)"
    )
    count = 0
    for objective, theta, velocity, alpha, beta in _objectives():
        g = objective.numpy_grad(theta)
        v_new = beta * velocity + g
        expected = (theta - alpha * v_new, v_new)
        slide_v = beta * velocity - g
        mistakes = [
            (
                (theta + alpha * slide_v, slide_v),
                "that is the slide's sign convention (v' = eta v - grad); here the velocity "
                "accumulates +gradients, like optim.momentum: v_new = beta * velocity + grad",
            ),
            (
                (theta - alpha * velocity, v_new),
                "update theta with the *new* velocity v_new, not the old one",
            ),
            (
                (theta - alpha * g, v_new),
                "theta moves along the velocity, not the plain gradient (that is GD)",
            ),
            (
                (theta - (beta * velocity + alpha * g), beta * velocity + alpha * g),
                "keep the learning rate out of the velocity: v_new = beta * velocity + grad, "
                "then theta_new = theta - learning_rate * v_new",
            ),
            (
                (theta - alpha * beta * (velocity + g), beta * (velocity + g)),
                "beta multiplies only the old velocity: v_new = beta * velocity + grad",
            ),
            (
                (theta + alpha * v_new, v_new),
                "step *against* the velocity: theta_new = theta - learning_rate * v_new",
            ),
        ]
        case = _describe(objective, theta, velocity, alpha, beta)
        got = call_student(
            task,
            heavy_ball_step,
            (objective.jax_grad, jnp.asarray(theta), jnp.asarray(velocity), alpha, beta),
            case,
            f"(theta = {expected[0]}, velocity = {expected[1]})",
            hint,
        )
        _compare_pair(task, case, expected, got, mistakes, hint)
        count += 1

    # 30 steps from rest on the narrow valley: the running state must be threaded through.
    objective, theta0, _, alpha, beta = _objectives()[1]
    theta, velocity = theta0.copy(), np.zeros(2)
    reference = [theta.copy()]
    for _ in range(30):
        velocity = beta * velocity + objective.numpy_grad(theta)
        theta = theta - alpha * velocity
        reference.append(theta.copy())
    reference = np.array(reference)
    thetas, final_velocity = _student_steps(
        task, heavy_ball_step, objective, theta0, alpha, beta, 30, reference[-1], hint
    )
    case = f"{objective.name}: 30 steps from velocity 0, learning_rate = 1, beta = 0.8"
    compare(task, case + " (all iterates)", reference, thetas, hint)
    compare(task, case + " (final velocity)", velocity, final_velocity, hint)
    return passed(task, count + 1)


# --------------------------------------------------------------------------- spectral radius


def _iteration_matrix(learning_rate: float, beta: float, lam: float) -> np.ndarray:
    """R moving (v_k, x_k) to (v_{k+1}, x_{k+1}): v' = beta v + lam x, x' = x - alpha v'."""
    return np.array([[beta, lam], [-learning_rate * beta, 1.0 - learning_rate * lam]])


def check_momentum_spectral_radius(momentum_spectral_radius: Callable) -> bool:
    """``momentum_spectral_radius(learning_rate, beta, lam)``: max |eigenvalue| of R."""
    task = "momentum_spectral_radius"
    hint = (
        "build R = [[beta, lam], [-learning_rate * beta, 1 - learning_rate * lam]], take its "
        "eigenvalues (np.linalg.eigvals; they can be complex) and return the largest modulus"
    )
    fixed = [
        (1.5, 0.6, 1.0, "ripples"),
        (0.4, 0.9, 2.5, "ripples, alpha * lambda = 1"),
        (0.1, 0.3, 1.0, "monotone"),
        (1.0, 0.0, 1.0, "1-step"),
        (1.7, 0.05, 1.0, "oscillation"),
        (2.6, 0.1, 1.0, "divergence"),
        (0.25, 0.5, 4.0, "alpha * lambda = 1, beta = 0.5"),
        (3.3058, 0.6694, 0.01, "the optimal parameters for kappa = 100, lam = mu"),
        (3.3058, 0.6694, 1.0, "the optimal parameters for kappa = 100, lam = L"),
    ]
    key_a, key_b, key_l = jax.random.split(jax.random.fold_in(_KEY, 2), 3)
    random_alpha = np.asarray(jax.random.uniform(key_a, (5,), minval=0.05, maxval=2.0))
    random_beta = np.asarray(jax.random.uniform(key_b, (5,), maxval=0.99))
    random_lam = np.asarray(jax.random.uniform(key_l, (5,), minval=0.1, maxval=2.0))
    fixed += [
        (float(a), float(b), float(lam), "random (key 303)")
        for a, b, lam in zip(random_alpha, random_beta, random_lam, strict=True)
    ]
    for alpha, beta, lam, label in fixed:
        eigenvalues = np.linalg.eigvals(_iteration_matrix(alpha, beta, lam))
        expected = np.abs(eigenvalues).max()
        mistakes = [
            (np.max(eigenvalues.real), "take the modulus np.abs of the eigenvalues, not the max"),
            (
                np.abs(eigenvalues.real).max(),
                "complex eigenvalues: use np.abs (the modulus), not the real part",
            ),
            (
                abs(1.0 - alpha * lam),
                "|1 - alpha lambda| is gradient descent's factor; with momentum use the "
                "eigenvalues of the 2x2 matrix R",
            ),
            (
                np.abs(eigenvalues).min(),
                "the *largest* modulus sets the rate, not the smallest",
            ),
            (math.sqrt(beta), "sqrt(beta) is the radius only inside the ripple region"),
            (
                np.abs(np.linalg.eigvals(_iteration_matrix(lam, beta, alpha))).max(),
                "the matrix has lam in the top row and -learning_rate * beta below it",
            ),
        ]
        case = f"learning_rate = {alpha:.4g}, beta = {beta:.4g}, lam = {lam:.4g} ({label})"
        got = call_student(task, momentum_spectral_radius, (alpha, beta, lam), case, expected, hint)
        compare(task, case, expected, got, hint, mistakes, rtol=1e-5, atol=1e-7)
    return passed(task, len(fixed))


# --------------------------------------------------------------------------- optimal parameters


def check_optimal_momentum_parameters(optimal_momentum_parameters: Callable) -> bool:
    """``optimal_momentum_parameters(eigenvalues) -> (learning_rate, beta)`` (Goh's optimum)."""
    task = "optimal_momentum_parameters"
    hint = (
        "with mu = min and L = max of the eigenvalues: learning_rate = "
        "(2 / (sqrt(mu) + sqrt(L)))^2 and beta = ((sqrt(L) - sqrt(mu)) / (sqrt(L) + sqrt(mu)))^2"
    )
    key_spectrum, key_matrix = jax.random.split(jax.random.fold_in(_KEY, 3))
    random_spectrum = np.asarray(
        10.0 ** jax.random.uniform(key_spectrum, (8,), minval=-3.0, maxval=1.0), np.float64
    )
    hessian = _random_spd(key_matrix, 6, 50.0)
    spectra = [
        ("eigenvalues = [0.01, 1] (the narrow valley)", np.array([0.01, 1.0])),
        ("eigenvalues = [9, 1, 4] (not sorted)", np.array([9.0, 1.0, 4.0])),
        ("eigenvalues = [2, 2] (a round bowl)", np.array([2.0, 2.0])),
        ("8 random eigenvalues in [0.001, 10] (key 303), not sorted", random_spectrum),
        ("the eigenvalues of a random 6x6 Hessian (key 303)", np.linalg.eigvalsh(hessian)),
    ]
    for case, spectrum in spectra:
        mu, big_l = float(spectrum.min()), float(spectrum.max())
        low, high = math.sqrt(mu), math.sqrt(big_l)
        alpha, beta = (2.0 / (low + high)) ** 2, ((high - low) / (high + low)) ** 2
        first, last = math.sqrt(spectrum[0]), math.sqrt(spectrum[-1])
        mistakes = [
            ((beta, alpha), "return (learning_rate, beta) in that order"),
            ((alpha, (high - low) / (high + low)), "beta is the *square* of that ratio"),
            (
                (2.0 / (low + high), beta),
                "the learning rate is the *square* of 2/(sqrt mu + sqrt L)",
            ),
            (
                ((2.0 / (mu + big_l)) ** 2, ((big_l - mu) / (big_l + mu)) ** 2),
                "use the square roots of the eigenvalues inside the formulas",
            ),
            ((2.0 / (mu + big_l), 0.0), "2/(L + mu) with beta = 0 is gradient descent's optimum"),
            (
                ((2.0 / (first + last)) ** 2, ((last - first) / (last + first)) ** 2),
                "the eigenvalues are not sorted: use their min and max, not the first and last",
            ),
        ]
        expected = np.array([alpha, beta])
        got = call_student(
            task, optimal_momentum_parameters, (jnp.asarray(spectrum),), case, expected, hint
        )
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise failure(
                task,
                case,
                expected,
                f"{got!r}, which is not a pair",
                "return two numbers: `return learning_rate, beta`",
            )
        pair = np.array(
            [
                as_array(task, case, expected, got[0], hint),
                as_array(task, case, expected, got[1], hint),
            ]
        )
        compare(task, case, expected, pair, hint, [(np.array(w), m) for w, m in mistakes])
        # the behaviour behind the numbers: every direction at rate (sqrt k - 1)/(sqrt k + 1)
        radii = [
            np.abs(np.linalg.eigvals(_iteration_matrix(pair[0], pair[1], lam))).max()
            for lam in spectrum
        ]
        rate = (high - low) / (high + low)
        # (loose: at the double eigenvalue a float32 error of 1e-7 moves the radius by ~3e-4)
        if not np.allclose(radii, rate, rtol=3e-3, atol=1e-3):
            raise failure(task, case + ": spectral radius per eigenvalue", rate, radii, hint)
    print("  With your parameters every eigendirection converges at (sqrt k - 1)/(sqrt k + 1).")
    return passed(task, len(spectra))


# --------------------------------------------------------------------------- nesterov_step


def check_nesterov_step(nesterov_step: Callable) -> bool:
    """``nesterov_step(grad_fn, theta, velocity, learning_rate, eta)`` in the slide's form:

    v_new = eta * velocity - grad_fn(theta + learning_rate * eta * velocity);
    theta_new = theta + learning_rate * v_new; returns (theta_new, v_new).
    """
    task = "nesterov_step"
    hint = (
        "look ahead first: v_new = eta * velocity - grad_fn(theta + learning_rate * eta * "
        "velocity), then theta_new = theta + learning_rate * v_new; return (theta_new, v_new)"
    )
    count = 0
    for objective, theta, velocity, alpha, eta in _objectives():
        look_ahead = theta + alpha * eta * velocity
        v_new = eta * velocity - objective.numpy_grad(look_ahead)
        expected = (theta + alpha * v_new, v_new)
        heavy = eta * velocity - objective.numpy_grad(theta)
        no_alpha = eta * velocity - objective.numpy_grad(theta + eta * velocity)
        mistakes = [
            (
                (theta + alpha * heavy, heavy),
                "that is heavy ball: take the gradient at the look-ahead point "
                "theta + learning_rate * eta * velocity, not at theta",
            ),
            (
                (theta + alpha * no_alpha, no_alpha),
                "the look-ahead point is theta + learning_rate * eta * velocity "
                "(the velocity moves theta by learning_rate * velocity)",
            ),
            (
                (theta + alpha * velocity, v_new),
                "update theta with the *new* velocity v_new, not the old one",
            ),
            (
                (theta - alpha * (eta * velocity + objective.numpy_grad(look_ahead)), v_new),
                "in the slide's form the velocity already points downhill: "
                "theta_new = theta + learning_rate * v_new",
            ),
        ]
        case = _describe(objective, theta, velocity, alpha, eta, name="eta")
        got = call_student(
            task,
            nesterov_step,
            (objective.jax_grad, jnp.asarray(theta), jnp.asarray(velocity), alpha, eta),
            case,
            f"(theta = {expected[0]}, velocity = {expected[1]})",
            hint,
        )
        _compare_pair(task, case, expected, got, mistakes, hint)
        count += 1

    # 30 steps from rest on the narrow valley: the look-ahead points theta + alpha eta v
    # are the iterates of lecture_lib.optim.nesterov (the form that optax uses).
    objective, theta0, _, alpha, eta = _objectives()[1]
    theta, velocity = theta0.copy(), np.zeros(2)
    look_aheads = [theta.copy()]
    for _ in range(30):  # the library's form, written out: v' = beta v + g, step -(g + beta v')
        g = objective.numpy_grad(theta)
        velocity = eta * velocity + g
        theta = theta - alpha * (g + eta * velocity)
        look_aheads.append(theta.copy())
    look_aheads = np.array(look_aheads)
    thetas = [theta0.copy()]
    theta_j, velocity_j = jnp.asarray(theta0), jnp.zeros(2, jnp.asarray(theta0).dtype)
    case = f"{objective.name}: 30 steps from velocity 0, learning_rate = 1, eta = 0.8"
    for _ in range(30):
        got = call_student(
            task,
            nesterov_step,
            (objective.jax_grad, theta_j, velocity_j, alpha, eta),
            case,
            look_aheads[-1],
            hint,
        )
        theta_new, velocity_new = _pair(task, case, (look_aheads[-1], "..."), got, hint)
        thetas.append(theta_new + alpha * eta * velocity_new)
        theta_j, velocity_j = jnp.asarray(theta_new), jnp.asarray(velocity_new)
    compare(
        task,
        case + " (look-ahead points theta + learning_rate * eta * velocity)",
        look_aheads,
        np.array(thetas),
        hint,
    )
    print("  Your look-ahead points are the iterates of optim.nesterov, as the lecture claims.")
    return passed(task, count + 1)
