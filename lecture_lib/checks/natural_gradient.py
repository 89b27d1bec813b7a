"""Checks for ``exercises/05_natural_gradient.ipynb`` (lecture 5: the natural gradient).

The references are written here in numpy from closed forms (the Jacobian of a linear model
and of a one-hidden-layer tanh network by hand, diag(p) - p p^T, 1/m G^T G, a linear solve),
so none shares code with ``lecture_lib.curvature`` or with a student's answer. Each case also
lists what common mistakes return, so a wrong answer gets a hint about the slip it most
likely is.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib.checks.core import check_expected, check_expected_outputs, passed, task_rng

_RNG_SEED = 505


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- GGN-vector product


def _linear_case(x, targets):
    """z = X W (W of shape (d, c), flattened row-major), loss 1/(2m) sum_i |z_i - y_i|^2."""
    m, d = x.shape
    c = targets.shape[1]
    x_j, y_j = jnp.asarray(x, jnp.float32), jnp.asarray(targets, jnp.float32)

    def model(params):
        return x_j @ params.reshape(d, c)

    def loss(outputs):
        return 0.5 * jnp.mean(jnp.sum((outputs - y_j) ** 2, axis=1))

    def ggn(v):  # J^T (I/m) J v with J v = X V
        return (x.T @ (x @ v.reshape(d, c)) / m).ravel()

    def jtj(v):  # the same without the loss Hessian's 1/m
        return (x.T @ (x @ v.reshape(d, c))).ravel()

    return model, loss, ggn, jtj, None


def _tanh_network_case(x, labels, hidden: int, classes: int):
    """z = tanh(X W1) W2, params = [W1 (d, h) | W2 (h, c)] flat, mean softmax cross-entropy."""
    m, d = x.shape
    split = d * hidden
    x_j, labels_j = jnp.asarray(x, jnp.float32), jnp.asarray(labels)

    def model(params):
        w1 = params[:split].reshape(d, hidden)
        w2 = params[split:].reshape(hidden, classes)
        return jnp.tanh(x_j @ w1) @ w2

    def loss(outputs):
        log_probs = jax.nn.log_softmax(outputs)
        return -jnp.mean(jnp.take_along_axis(log_probs, labels_j[:, None], axis=1))

    def parts(params):
        w1 = params[:split].reshape(d, hidden)
        w2 = params[split:].reshape(hidden, classes)
        s = np.tanh(x @ w1)
        return w1, w2, s

    def jvp(params, v):
        _, w2, s = parts(params)
        v1 = v[:split].reshape(d, hidden)
        v2 = v[split:].reshape(hidden, classes)
        return ((1 - s**2) * (x @ v1)) @ w2 + s @ v2

    def vjp(params, u):
        _, w2, s = parts(params)
        grad_w2 = s.T @ u
        grad_w1 = x.T @ ((u @ w2.T) * (1 - s**2))
        return np.concatenate([grad_w1.ravel(), grad_w2.ravel()])

    def output_hessian(params, u):  # per example (diag(p) - p p^T) u_i / m
        _, w2, s = parts(params)
        p = _softmax(s @ w2)
        return (p * u - p * np.sum(p * u, axis=1, keepdims=True)) / m

    return model, loss, jvp, vjp, output_hessian


def check_ggn_vector_product(ggn_vector_product: Callable) -> bool:
    """``ggn_vector_product(model, loss, params, vector) -> G v`` with G = J^T grad^2 loss J."""
    task = "ggn_vector_product"
    hint = (
        "push the vector forward with outputs, jv = jax.jvp(model, (params,), (vector,)), "
        "apply the loss's Hessian in output space with jax.jvp(jax.grad(loss), (outputs,), "
        "(jv,))[1], then pull back with the function that jax.vjp(model, params) returns"
    )
    rng = task_rng(_RNG_SEED, 1)
    cases = []

    # a linear model with squared error: G = X^T X / m (the Hessian, too)
    x = np.array([[1.0, 2.0], [0.0, 1.0], [-1.0, 0.5]])
    targets = np.array([[1.0], [0.0], [2.0]])
    model, loss, ggn, jtj, _ = _linear_case(x, targets)
    params = np.array([0.3, -0.2])
    vector = np.array([1.0, 0.0])
    cases.append(
        (
            "a linear model z = X w with squared error, 3 examples, 2 parameters, v = e_1",
            (model, loss, jnp.asarray(params, jnp.float32), jnp.asarray(vector, jnp.float32)),
            ggn(vector),
            [(jtj(vector), "the loss is a mean: its Hessian in output space carries the 1/m")],
        )
    )
    x = rng.normal(size=(6, 3))
    targets = rng.normal(size=(6, 2))
    model, loss, ggn, jtj, _ = _linear_case(x, targets)
    params, vector = rng.normal(size=6), rng.normal(size=6)
    cases.append(
        (
            "a random linear model with 2 outputs (6 examples, 6 parameters)",
            (model, loss, jnp.asarray(params, jnp.float32), jnp.asarray(vector, jnp.float32)),
            ggn(vector),
            [(jtj(vector), "the loss is a mean: its Hessian in output space carries the 1/m")],
        )
    )

    # a tanh network with softmax cross-entropy: the GGN is not the Hessian
    for index, (m, d, hidden, classes) in enumerate([(5, 3, 4, 3), (8, 4, 3, 4)]):
        x = rng.normal(size=(m, d))
        labels = rng.integers(0, classes, size=m)
        model, loss, jvp, vjp, output_hessian = _tanh_network_case(x, labels, hidden, classes)
        n = d * hidden + hidden * classes
        params = rng.normal(size=n)
        vector = rng.normal(size=n)
        expected = vjp(params, output_hessian(params, jvp(params, vector)))
        jtj_v = vjp(params, jvp(params, vector))
        params_j, vector_j = jnp.asarray(params, jnp.float32), jnp.asarray(vector, jnp.float32)
        full_hessian = np.asarray(
            jax.jvp(jax.grad(lambda p, f=model, ell=loss: ell(f(p))), (params_j,), (vector_j,))[1],
            np.float64,
        )
        cases.append(
            (
                f"random tanh network {d}-{hidden}-{classes}, softmax cross-entropy, "
                f"{m} examples ({index + 1} of 2)",
                (model, loss, params_j, vector_j),
                expected,
                [
                    (
                        full_hessian,
                        "that is the full Hessian-vector product: the GGN drops the model's "
                        "second derivatives, so differentiate the loss in output space only "
                        "and let J and J^T carry the model",
                    ),
                    (
                        jtj_v,
                        "J^T J v is missing the loss's Hessian in the middle: "
                        "J^T (grad^2 loss) J v",
                    ),
                    (jtj_v / m, "use the softmax loss's own Hessian, not the identity"),
                ],
            )
        )
    return passed(task, check_expected(task, ggn_vector_product, cases, hint, rtol=2e-4))


# --------------------------------------------------------------------------- softmax Fishers


def check_softmax_fishers(softmax_fishers: Callable) -> bool:
    """``softmax_fishers(logits, label) -> (fisher, empirical_fisher)`` in output space."""
    task = "softmax_fishers"
    hint = (
        "with p = softmax(logits): fisher = diag(p) - p p^T (the average of "
        "(p - e_y)(p - e_y)^T over y ~ p), empirical_fisher = (p - e_label)(p - e_label)^T"
    )
    rng = task_rng(_RNG_SEED, 2)
    raw = [
        ("logits = [0, 0, 0] (p uniform), label 0", np.zeros(3), 0),
        ("logits = [2, 0, -1], label 2 (a wrong, confident prediction)", np.array([2.0, 0, -1]), 2),
        ("two classes: logits = [1, -1], label 0", np.array([1.0, -1.0]), 0),
    ]
    for index, classes in enumerate((5, 10)):
        raw.append(
            (
                f"random logits over {classes} classes (seed {_RNG_SEED}, draw {index + 1})",
                2.0 * rng.normal(size=classes),
                int(rng.integers(classes)),
            )
        )
    cases = []
    for case, logits, label in raw:
        p = _softmax(logits)
        residual = p - np.eye(logits.size)[label]
        fisher = np.diag(p) - np.outer(p, p)
        empirical = np.outer(residual, residual)
        mistakes = [
            (
                (empirical, None),
                "the Fisher averages over labels drawn from the model, y ~ p: with the data's "
                "label you get the empirical Fisher",
            ),
            ((None, fisher), "the empirical Fisher uses the data's label: (p - e_y)(p - e_y)^T"),
            ((np.diag(p) + np.outer(p, p), None), "mind the sign: diag(p) MINUS p p^T"),
            ((np.diag(p), None), "the Fisher is diag(p) - p p^T: the p p^T term is missing"),
            ((np.outer(p, p), None), "the Fisher is diag(p) - p p^T: the diag(p) term is missing"),
            (
                (np.diag(logits) - np.outer(logits, logits), None),
                "use the probabilities p = softmax(logits), not the logits",
            ),
        ]
        cases.append(
            (case, (jnp.asarray(logits, jnp.float32), label), (fisher, empirical), mistakes)
        )
    return passed(
        task,
        check_expected_outputs(
            task, softmax_fishers, cases, ("fisher", "empirical_fisher"), hint, atol=1e-6
        ),
    )


# --------------------------------------------------------------------------- empirical Fisher


def check_empirical_fisher(empirical_fisher: Callable) -> bool:
    """``empirical_fisher(per_example_grads) -> (n, n)``, the mean of g_i g_i^T over rows g_i."""
    task = "empirical_fisher"
    hint = "average the outer products of the rows: grads.T @ grads / m for grads of shape (m, n)"
    rng = task_rng(_RNG_SEED, 3)
    raw = [
        (
            "two examples, two parameters: g_1 = [1, 2], g_2 = [3, -1]",
            np.array([[1.0, 2], [3, -1]]),
        ),
        ("one example g = [1, -2, 0.5]: EF = g g^T", np.array([[1.0, -2.0, 0.5]])),
        (
            "three examples whose gradients cancel on average",
            np.array([[1.0, 1], [-2, 0], [1, -1]]),
        ),
    ]
    for index, (m, n) in enumerate([(6, 4), (20, 3)]):
        raw.append((f"random per-example gradients, m = {m}, n = {n} (draw {index + 1})",
                    rng.normal(size=(m, n)) + rng.normal(size=n)))  # fmt: skip
    cases = []
    for case, grads in raw:
        m = grads.shape[0]
        expected = grads.T @ grads / m
        mean = grads.mean(axis=0)
        centred = grads - mean
        mistakes = [
            (grads.T @ grads, "average over the examples: divide the sum by m"),
            (
                centred.T @ centred / m,
                "do not subtract the mean gradient: the empirical Fisher is the *uncentred* "
                "second moment (the covariance plus g g^T)",
            ),
            (
                np.outer(mean, mean),
                "average the outer products g_i g_i^T, not the outer product of the average",
            ),
            (grads.T @ grads / max(m - 1, 1), "divide by m, the number of examples, not m - 1"),
            (
                grads @ grads.T / m,
                "the result is n x n (parameters): grads.T @ grads, not grads @ grads.T",
            ),
        ]
        cases.append((case, (jnp.asarray(grads, jnp.float32),), expected, mistakes))
    return passed(task, check_expected(task, empirical_fisher, cases, hint))


# --------------------------------------------------------------------------- damped NG step


def check_damped_natural_gradient_step(damped_natural_gradient_step: Callable) -> bool:
    """``damped_natural_gradient_step(fisher, grad, damping, learning_rate) -> update``."""
    task = "damped_natural_gradient_step"
    hint = (
        "update = -learning_rate * solve(fisher + damping * I, grad): solve the linear system "
        "(jnp.linalg.solve) rather than forming the inverse"
    )
    rng = task_rng(_RNG_SEED, 4)
    raw = [
        (
            "F = diag(4, 1), g = [1, 1], no damping, rate 1",
            np.diag([4.0, 1.0]),
            np.ones(2),
            0.0,
            1.0,
        ),
        (
            "F = [[2, 1], [1, 2]], g = [1, -0.5], damping 0.1, rate 0.5",
            np.array([[2.0, 1.0], [1.0, 2.0]]),
            np.array([1.0, -0.5]),
            0.1,
            0.5,
        ),
        (
            "a singular F = [[1, 1], [1, 1]] (rank 1), g = [1, 0], damping 0.5, rate 1: "
            "only the damping makes it invertible",
            np.ones((2, 2)),
            np.array([1.0, 0.0]),
            0.5,
            1.0,
        ),
    ]
    for index, n in enumerate((4, 6)):
        root = rng.normal(size=(n, n))
        raw.append(
            (
                f"a random positive-definite {n} x {n} Fisher, damping 0.01, rate 0.1 "
                f"(draw {index + 1})",
                root @ root.T / n + 0.2 * np.eye(n),
                rng.normal(size=n),
                0.01,
                0.1,
            )
        )
    cases = []
    for case, fisher, grad, damping, rate in raw:
        n = grad.size
        damped = fisher + damping * np.eye(n)
        expected = -rate * np.linalg.solve(damped, grad)
        mistakes = [
            (-expected, "the update is added to the parameters: it points against the gradient"),
            (expected / rate, "multiply by the learning rate"),
            (-rate * damped @ grad, "solve the system (F + damping I) u = grad; do not multiply"),
        ]
        everywhere = fisher + damping * np.ones((n, n))
        if damping > 0 and np.linalg.matrix_rank(everywhere) == n:
            mistakes.append(
                (
                    -rate * np.linalg.solve(everywhere, grad),
                    "add the damping to the diagonal only: F + damping * I (an identity matrix)",
                )
            )
        if damping > 0 and np.linalg.matrix_rank(fisher) == n:
            mistakes.append(
                (-rate * np.linalg.solve(fisher, grad), "the damping is missing: F + damping * I")
            )
        cases.append(
            (
                case,
                (jnp.asarray(fisher, jnp.float32), jnp.asarray(grad, jnp.float32), damping, rate),
                expected,
                mistakes,
            )
        )
    return passed(task, check_expected(task, damped_natural_gradient_step, cases, hint, rtol=2e-4))
