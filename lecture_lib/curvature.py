r"""Curvature matrices of a loss, as matrix-vector products and as dense matrices.

A data problem splits its loss into a model and an output loss,

    h(theta) = 1/m sum_i l(z_i, y_i) + r(theta),    z_i = f(theta, x_i),

with l convex in the outputs z and r the regulariser (``problem.penalty``). With
J_i = dz_i/dtheta, the lectures' curvature matrices are

    Hessian            H  = grad^2 h
    GGN                G  = 1/m sum_i J_i^T  grad_z^2 l(z_i, y_i)  J_i + grad^2 r
    Fisher             F  = 1/m sum_i J_i^T  E_{y ~ p(y|z_i)}[g g^T] J_i + grad^2 r
    empirical Fisher   EF = 1/m sum_i J_i^T  g_i g_i^T J_i          + grad^2 r

where g = grad_z l(z_i, y) and g_i the same at the observed label y_i, so that
J_i^T g_i is example i's gradient. The GGN drops the model's second derivatives
from the Hessian; the Fisher averages the squared gradient over labels drawn from
the model; the empirical Fisher uses the data's labels instead. The regulariser's
Hessian is exact and added to all three, so every matrix equals the Hessian
wherever the model is linear in theta and the output loss is quadratic.

Products take and return pytrees shaped like ``params``; dense matrices are over
the flattened parameters in ``flatten`` order. The products never build a matrix:
each costs a few passes through the model (``hvp`` is forward-over-reverse; the
Gauss-Newton forms linearise the model once and transpose the linearisation).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from lecture_lib import problems as problems_lib
from lecture_lib import spectrum, validation
from lecture_lib.problems import Problem
from lecture_lib.spectrum import (
    condition_number,
    hutchinson_diagonal,
    hutchinson_trace,
    lanczos,
    power_iteration,
    spectral_density,
)

__all__ = [
    "MATRICES",
    "condition_number",
    "empirical_fisher",
    "empirical_fisher_vp",
    "fisher",
    "fisher_vp",
    "flat_matvec",
    "flatten",
    "ggn",
    "ggn_vp",
    "hessian",
    "hutchinson_diagonal",
    "hutchinson_trace",
    "hvp",
    "jacobian",
    "kron",
    "kron_inverse",
    "kron_inverse_matvec",
    "kron_matvec",
    "lanczos",
    "output_curvature",
    "power_iteration",
    "require_data_problem",
    "spectral_density",
    "spectrum",
]

MATRICES = ("hessian", "ggn", "fisher", "empirical_fisher")

# Output losses whose label distribution p(y|z) = exp(-l(z, y)) has finitely many
# outcomes, so the Fisher's expectation over labels is an exact sum.
_FINITE_OUTCOMES = {
    problems_lib.softmax_cross_entropy: lambda outputs: jnp.arange(outputs.shape[-1]),
    problems_lib.binary_cross_entropy: lambda outputs: jnp.array([0.0, 1.0], outputs.dtype),
}


def flatten(params) -> tuple[jax.Array, Callable]:
    """The parameters as one vector, and the function that maps a vector back to the pytree."""
    return ravel_pytree(params)


# --------------------------------------------------------------------------- checks


def require_data_problem(problem: Problem, what: str) -> None:
    """Raise unless ``problem`` is a data problem split into predict and output_loss."""
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lecture_lib Problem, got {problem!r}")
    if problem.predict is None or problem.output_loss is None:
        raise ValueError(
            f"problem must be a data problem with predict and output_loss for {what}; "
            f"{problem.name!r} has none (use hvp / hessian for analytic problems)"
        )


def _check_batch(batch) -> tuple:
    if not (isinstance(batch, tuple | list) and len(batch) == 2):
        raise ValueError(f"batch must be a pair (x, y) of arrays, got {type(batch).__name__}")
    x, y = batch
    if jnp.shape(x)[:1] != jnp.shape(y)[:1] or jnp.ndim(x) == 0:
        raise ValueError(
            f"batch must hold as many labels as inputs, got x {jnp.shape(x)} and y {jnp.shape(y)}"
        )
    return x, y


def _check_vector(params, vector) -> None:
    params_structure = jax.tree_util.tree_structure(params)
    vector_structure = jax.tree_util.tree_structure(vector)
    if params_structure != vector_structure:
        raise ValueError(
            f"vector must have the structure of params, got {vector_structure} "
            f"for params {params_structure}"
        )
    for p, v in zip(
        jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(vector), strict=True
    ):
        if jnp.shape(p) != jnp.shape(v):
            raise ValueError(
                f"vector must have the shapes of params, got a leaf of shape {jnp.shape(v)} "
                f"where params has {jnp.shape(p)}"
            )


def _check_fisher_key(problem: Problem, key, num_samples: int) -> int:
    num_samples = validation.positive_int("num_samples", num_samples)
    if (
        key is None
        and problem.output_loss not in _FINITE_OUTCOMES
        and (problem.output_loss is not problems_lib.squared_error)
    ):
        raise ValueError(
            "key is needed to sample labels for the Fisher of this output loss: only "
            "softmax cross-entropy, binary cross-entropy and squared error have an exact form"
        )
    if key is not None and problem.sample_targets is None:
        raise ValueError(f"problem {problem.name!r} cannot sample targets for a sampled Fisher")
    return num_samples


# --------------------------------------------------------------------------- output space


def _example_loss(problem: Problem, output_shape: tuple) -> Callable:
    """l(z_i, y_i) for one example, its outputs flattened to a vector."""

    def loss(output_row, label):
        return problem.output_loss(output_row.reshape(output_shape)[None], label[None])

    return loss


def _sampled_labels(problem: Problem, outputs, key, num_samples: int) -> jax.Array:
    """``num_samples`` label vectors y ~ p(y | z), shape (num_samples, m, ...)."""
    return jax.vmap(lambda k: problem.sample_targets(k, outputs))(
        jax.random.split(key, num_samples)
    )


def _rowwise_dot(a, b) -> jax.Array:
    """<a_i, b_i> per example, broadcast back over each example's outputs."""
    dots = jnp.sum((a * b).reshape(a.shape[0], -1), axis=1)
    return dots.reshape((-1,) + (1,) * (a.ndim - 1))


def _softmax_fisher_product(outputs, direction):
    probabilities = jax.nn.softmax(outputs)
    return probabilities * direction - probabilities * _rowwise_dot(probabilities, direction)


def _bernoulli_fisher_product(outputs, direction):
    probabilities = jax.nn.sigmoid(outputs)
    return probabilities * (1 - probabilities) * direction


# The Fisher of each label distribution in its natural parameters z, applied to u:
# categorical (diag(p) - p p^T) u, Bernoulli sigma(1 - sigma) u, unit Gaussian u.
_FISHER_PRODUCTS = {
    problems_lib.softmax_cross_entropy: _softmax_fisher_product,
    problems_lib.binary_cross_entropy: _bernoulli_fisher_product,
    problems_lib.squared_error: lambda outputs, direction: direction,
}


def _output_curvature_product(problem, outputs, y, direction, matrix, key, num_samples):
    """1/m B_i u_i for every example, without forming the (m, c, c) blocks of B.

    The output loss is a mean over examples, so m times its gradient holds the
    per-example gradients g_i = grad_z l(z_i, y_i).
    """
    num_examples = outputs.shape[0]

    def example_gradients(labels):
        return num_examples * jax.grad(lambda z: problem.output_loss(z, labels))(outputs)

    def mean_outer_product(gradients):
        return gradients * _rowwise_dot(gradients, direction) / num_examples

    if matrix == "ggn":
        mean_loss_gradient = jax.grad(lambda z: problem.output_loss(z, y))
        return jax.jvp(mean_loss_gradient, (outputs,), (direction,))[1]
    if matrix == "empirical_fisher":
        return mean_outer_product(example_gradients(y))
    if key is not None:
        labels = _sampled_labels(problem, outputs, key, num_samples)
        per_sample = jax.vmap(lambda sample: mean_outer_product(example_gradients(sample)))
        return jnp.mean(per_sample(labels), axis=0)
    return _FISHER_PRODUCTS[problem.output_loss](outputs, direction) / num_examples


def output_curvature(
    problem: Problem,
    outputs: jax.Array,
    y: jax.Array,
    matrix: str,
    key: jax.Array | None = None,
    num_samples: int = 1,
) -> jax.Array:
    """The per-example curvature of the output loss, shape (m, c, c) over outputs z_i in R^c.

    ``matrix``: "ggn" gives grad_z^2 l(z_i, y_i); "fisher" gives E_{y~p(y|z_i)}[g g^T],
    exact for softmax / binary cross-entropy (a sum over the outcomes, each weighted by
    p(y|z) = exp(-l(z, y))) and for squared error (the unit-variance Gaussian's identity),
    or an average over ``num_samples`` labels drawn with ``key``; "empirical_fisher"
    gives g_i g_i^T at the observed labels.
    """
    if matrix not in MATRICES[1:]:
        raise ValueError(f"matrix must be one of {MATRICES[1:]}, got {matrix!r}")
    num_examples = outputs.shape[0]
    rows = outputs.reshape(num_examples, -1)
    loss = _example_loss(problem, outputs.shape[1:])
    output_gradient = jax.grad(loss)

    if matrix == "ggn":
        return jax.vmap(jax.hessian(loss))(rows, y)
    if matrix == "empirical_fisher":
        gradients = jax.vmap(output_gradient)(rows, y)
        return gradients[:, :, None] * gradients[:, None, :]
    if key is not None:
        labels = _sampled_labels(problem, outputs, key, num_samples)
        gradients = jax.vmap(jax.vmap(output_gradient), in_axes=(None, 0))(rows, labels)
        return jnp.einsum("smi,smj->mij", gradients, gradients) / num_samples
    if problem.output_loss is problems_lib.squared_error:
        return jnp.broadcast_to(
            jnp.eye(rows.shape[1], dtype=rows.dtype), rows.shape + rows.shape[1:]
        )
    outcomes = _FINITE_OUTCOMES[problem.output_loss](outputs)

    def expected_outer_product(row):
        gradients = jax.vmap(output_gradient, in_axes=(None, 0))(row, outcomes)
        probabilities = jnp.exp(-jax.vmap(loss, in_axes=(None, 0))(row, outcomes))
        return jnp.einsum("k,ki,kj->ij", probabilities, gradients, gradients)

    return jax.vmap(expected_outer_product)(rows)


# --------------------------------------------------------------------------- products


def hvp(problem: Problem, params, batch, vector):
    """H v, forward-mode differentiation of the reverse-mode gradient (one extra pass)."""
    _check_vector(params, vector)
    gradient = jax.grad(problem.loss)
    return jax.jvp(lambda p: gradient(p, batch), (params,), (vector,))[1]


def _penalty_hvp(problem: Problem, params, vector):
    if problem.penalty is None:
        return jax.tree_util.tree_map(jnp.zeros_like, vector)
    return jax.jvp(jax.grad(problem.penalty), (params,), (vector,))[1]


def _gauss_newton_vp(problem: Problem, params, batch, vector, matrix, key, num_samples):
    """1/m J^T B J v + grad^2 r v, with B the output curvature: one linearisation of the model.

    The dense matrices build B example by example (``output_curvature``); the products
    apply it in closed form, which keeps each product within a few gradients' cost.
    """
    _check_vector(params, vector)
    x, y = _check_batch(batch)
    outputs, model_jvp = jax.linearize(lambda p: problem.predict(p, x), params)
    model_vjp = jax.linear_transpose(model_jvp, params)
    weighted = _output_curvature_product(
        problem, outputs, y, model_jvp(vector), matrix, key, num_samples
    )
    (data_part,) = model_vjp(weighted.astype(outputs.dtype))
    return jax.tree_util.tree_map(jnp.add, data_part, _penalty_hvp(problem, params, vector))


def ggn_vp(problem: Problem, params, batch, vector):
    """G v = 1/m sum_i J_i^T grad_z^2 l_i J_i v + grad^2 r v (generalised Gauss-Newton)."""
    require_data_problem(problem, "the GGN")
    return _gauss_newton_vp(problem, params, batch, vector, "ggn", None, 1)


def fisher_vp(problem: Problem, params, batch, vector, key=None, num_samples: int = 1):
    """F v, the Fisher under the model's own predictive distribution p(y | z_i).

    Exact (``key=None``) for the categorical, Bernoulli and Gaussian output losses of
    ``lecture_lib.problems``; with a ``key``, a Monte Carlo estimate from
    ``num_samples`` labels per example drawn by ``problem.sample_targets``.
    """
    require_data_problem(problem, "the Fisher")
    num_samples = _check_fisher_key(problem, key, num_samples)
    return _gauss_newton_vp(problem, params, batch, vector, "fisher", key, num_samples)


def empirical_fisher_vp(problem: Problem, params, batch, vector):
    """EF v = 1/m sum_i g_i (g_i . v) + grad^2 r v, g_i example i's gradient at its own label."""
    require_data_problem(problem, "the empirical Fisher")
    return _gauss_newton_vp(problem, params, batch, vector, "empirical_fisher", None, 1)


def _flat_product(problem, matrix, num_samples, unflatten, params, batch, key, flat_vector):
    products = {
        "hessian": lambda v: hvp(problem, params, batch, v),
        "ggn": lambda v: ggn_vp(problem, params, batch, v),
        "fisher": lambda v: fisher_vp(problem, params, batch, v, key, num_samples),
        "empirical_fisher": lambda v: empirical_fisher_vp(problem, params, batch, v),
    }
    return flatten(products[matrix](unflatten(flat_vector)))[0]


def flat_matvec(
    problem: Problem,
    params,
    batch,
    matrix: str = "hessian",
    key: jax.Array | None = None,
    num_samples: int = 1,
) -> jax.tree_util.Partial:
    """v -> M v over flat vectors, for the ``spectrum`` tools (``matrix`` in ``MATRICES``).

    A sampled Fisher (``key`` given) reuses the same labels for every product, so the
    operator stays one fixed symmetric matrix. The result is a ``jax.tree_util.Partial``
    holding ``params``, ``batch`` and ``key`` as leaves: compiled loops over it trace
    them as arguments instead of folding a network's worth of constants.
    """
    if matrix not in MATRICES:
        raise ValueError(f"matrix must be one of {MATRICES}, got {matrix!r}")
    if matrix != "hessian":
        require_data_problem(problem, f"the {matrix}")
    if matrix == "fisher":
        num_samples = _check_fisher_key(problem, key, num_samples)
    _, unflatten = flatten(params)
    product = functools.partial(_flat_product, problem, matrix, num_samples, unflatten)
    return jax.tree_util.Partial(product, params, batch, key)


# --------------------------------------------------------------------------- dense


def hessian(problem: Problem, params, batch) -> jax.Array:
    """The dense (n, n) Hessian over the flattened parameters, by ``jax.hessian``."""
    flat, unflatten = flatten(params)
    return jax.hessian(lambda theta: problem.loss(unflatten(theta), batch))(flat)


def jacobian(problem: Problem, params, x) -> jax.Array:
    """dz/dtheta of the model's outputs, shape (m, c, n) (c = 1 for scalar outputs)."""
    require_data_problem(problem, "the Jacobian")
    flat, unflatten = flatten(params)
    num_examples = jnp.shape(x)[0]
    jac = jax.jacfwd(lambda theta: problem.predict(unflatten(theta), x).reshape(num_examples, -1))
    return jac(flat)


def _penalty_hessian(problem: Problem, params) -> jax.Array:
    flat, unflatten = flatten(params)
    if problem.penalty is None:
        return jnp.zeros((flat.size, flat.size), flat.dtype)
    return jax.hessian(lambda theta: problem.penalty(unflatten(theta)))(flat)


def _dense_gauss_newton(problem, params, batch, matrix, key=None, num_samples=1) -> jax.Array:
    x, y = _check_batch(batch)
    jac = jacobian(problem, params, x)
    outputs = problem.predict(params, x)
    blocks = output_curvature(problem, outputs, y, matrix, key, num_samples)
    data_part = jnp.einsum("mcn,mcd,mdk->nk", jac, blocks, jac) / jac.shape[0]
    return data_part + _penalty_hessian(problem, params)


def ggn(problem: Problem, params, batch) -> jax.Array:
    """The dense GGN 1/m sum_i J_i^T grad_z^2 l_i J_i + grad^2 r from explicit Jacobians."""
    require_data_problem(problem, "the GGN")
    return _dense_gauss_newton(problem, params, batch, "ggn")


def fisher(problem: Problem, params, batch, key=None, num_samples: int = 1) -> jax.Array:
    """The dense Fisher 1/m sum_i J_i^T E[g g^T] J_i + grad^2 r (exact, or sampled with ``key``)."""
    require_data_problem(problem, "the Fisher")
    num_samples = _check_fisher_key(problem, key, num_samples)
    return _dense_gauss_newton(problem, params, batch, "fisher", key, num_samples)


def empirical_fisher(problem: Problem, params, batch) -> jax.Array:
    """The dense empirical Fisher 1/m sum_i g_i g_i^T + grad^2 r from per-example gradients."""
    require_data_problem(problem, "the empirical Fisher")
    x, y = _check_batch(batch)
    flat, unflatten = flatten(params)

    def example_data_loss(theta, x_i, y_i):
        return problem.output_loss(problem.predict(unflatten(theta), x_i[None]), y_i[None])

    gradients = jax.vmap(jax.grad(example_data_loss), in_axes=(None, 0, 0))(flat, x, y)
    return gradients.T @ gradients / gradients.shape[0] + _penalty_hessian(problem, params)


# --------------------------------------------------------------------------- Kronecker


def kron(left: jax.Array, right: jax.Array) -> jax.Array:
    """The Kronecker product: block (i, j) of left (x) right is left[i, j] * right."""
    return jnp.kron(left, right)


def _check_kron_shapes(left, right, matrix) -> None:
    for name, factor in (("left", left), ("right", right)):
        if jnp.ndim(factor) != 2 or factor.shape[0] != factor.shape[1]:
            raise ValueError(f"{name} must be a square matrix, got shape {jnp.shape(factor)}")
    expected = (left.shape[0], right.shape[0])
    if jnp.shape(matrix) != expected:
        raise ValueError(
            f"matrix must have shape {expected} (rows of left, rows of right), "
            f"got {jnp.shape(matrix)}"
        )


def kron_matvec(left: jax.Array, right: jax.Array, matrix: jax.Array) -> jax.Array:
    """(left (x) right) vec(V) = vec(left V right^T), with vec the row-major flattening.

    Row-major is ``flatten``'s order, so for a dense layer's weight V of shape
    (fan_in, fan_out) this applies the Kronecker-factored matrix without building it:
    O(a^2 b + a b^2) work and O(a^2 + b^2) memory instead of O(a^2 b^2).
    """
    _check_kron_shapes(left, right, matrix)
    return left @ matrix @ right.T


def kron_inverse(left: jax.Array, right: jax.Array) -> jax.Array:
    """(left (x) right)^-1 = left^-1 (x) right^-1: two small inverses instead of one big one."""
    return jnp.kron(jnp.linalg.inv(left), jnp.linalg.inv(right))


def kron_inverse_matvec(left: jax.Array, right: jax.Array, matrix: jax.Array) -> jax.Array:
    """(left (x) right)^-1 vec(V) = vec(left^-1 V right^-T), by two small solves."""
    _check_kron_shapes(left, right, matrix)
    return jnp.linalg.solve(right, jnp.linalg.solve(left, matrix).T).T
