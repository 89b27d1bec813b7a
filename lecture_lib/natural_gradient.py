r"""Tools for lecture 5 (curvature matrices and the natural gradient).

- :func:`curvature_matrices`, :func:`curvature_products` and :func:`curvature_set`: the
  dense Hessian, GGN, Fisher and empirical Fisher and their matrix-free products, each
  set compiled once;
- :func:`predictive_kl`: the mean KL divergence between the model's predictive
  distributions at two parameter values, whose second-order expansion is
  1/2 delta^T F delta;
- :func:`kl_ball_step` and :func:`divergence_ball`: the minimiser of the linear
  model in a ball of a metric (closed form), and the boundary of a ball of any
  divergence in two dimensions (for a brute-force search);
- :func:`reparameterised`: the same problem in other coordinates theta = A phi;
- :func:`preconditioned_direction`, :func:`preconditioned_descent`,
  :func:`direction_field` and :func:`angle_between`: gradient, Newton, natural
  gradient and empirical-Fisher directions, paths and vector fields (Kunstner et al.);
- :func:`per_example_gradients`, :func:`adam_second_moment` and
  :func:`minibatch_second_moment`: Adam's v against the diagonal empirical Fisher;
- :func:`block_sizes`, :func:`block_diagonal`, :func:`diagonal_approximation`,
  :func:`relative_frobenius_error`, :func:`layer_shapes`,
  :func:`approximation_costs` and :func:`format_cost_table`: structured
  approximations of a curvature matrix and what they cost;
- :func:`line_fit_figure` / :func:`damping_explorer`: the damped natural gradient and
  empirical Fisher fields on a line fit, as a figure and a slider.

Matrices and vectors are over the flattened parameters (``curvature.flatten`` order).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from lecture_lib import curvature, validation
from lecture_lib import problems as problems_lib
from lecture_lib.curvature import require_data_problem
from lecture_lib.problems import Problem

PRECONDITIONERS = ("identity", "hessian", "ggn", "fisher", "empirical_fisher")

# --------------------------------------------------------------------------- checks


def _square_matrix(name: str, matrix, size: int | None = None) -> np.ndarray:
    array = np.asarray(matrix)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {array.shape}")
    if size is not None and array.shape[0] != size:
        raise ValueError(f"{name} must have shape ({size}, {size}), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    return array


def _vector(name: str, vector, size: int | None = None) -> np.ndarray:
    array = np.asarray(vector)
    if array.ndim != 1 or (size is not None and array.shape[0] != size):
        wanted = f"({size},)" if size is not None else "(n,)"
        raise ValueError(f"{name} must be a vector of shape {wanted}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    return array


def _batch(problem: Problem, batch):
    batch = problem.data if batch is None else batch
    if not (isinstance(batch, tuple | list) and len(batch) == 2):
        raise ValueError(f"batch must be a pair (x, y) of arrays, got {type(batch).__name__}")
    return batch


# --------------------------------------------------------------------------- KL


def predictive_kl(problem: Problem, params, other_params, x) -> jax.Array:
    r"""mean_i KL( p(y | f(params, x_i)) || p(y | f(other_params, x_i)) ).

    The predictive distribution is the one whose negative log-likelihood is the
    problem's output loss: categorical for ``softmax_cross_entropy`` (KL = sum_k p_k
    log(p_k / q_k)), Bernoulli for ``binary_cross_entropy`` and the unit-variance
    Gaussian for ``squared_error`` (KL = 1/2 ||z - z'||^2). Its Hessian in
    ``other_params`` at ``other_params = params`` is the Fisher (without the
    regulariser): KL(theta, theta + delta) = 1/2 delta^T F delta + O(|delta|^3).
    """
    require_data_problem(problem, "the predictive KL")
    if jnp.ndim(x) == 0:
        raise ValueError(f"x must be a batch of inputs (leading axis: examples), got {x!r}")
    for name, tree in (("params", params), ("other_params", other_params)):
        if jax.tree_util.tree_structure(tree) != jax.tree_util.tree_structure(params):
            raise ValueError(f"{name} must have the structure of params")
    output_loss = problem.output_loss
    if output_loss not in (
        problems_lib.softmax_cross_entropy,
        problems_lib.binary_cross_entropy,
        problems_lib.squared_error,
    ):
        raise ValueError(
            "problem.output_loss must be softmax_cross_entropy, binary_cross_entropy or "
            f"squared_error (the predictive distributions with a closed-form KL), got {output_loss}"
        )
    z = problem.predict(params, x)
    z_other = problem.predict(other_params, x)
    if output_loss is problems_lib.softmax_cross_entropy:
        log_p = jax.nn.log_softmax(z, axis=-1)
        log_q = jax.nn.log_softmax(z_other, axis=-1)
        return jnp.mean(jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1))
    if output_loss is problems_lib.binary_cross_entropy:
        p = jax.nn.sigmoid(z)
        log_ratio_one = jax.nn.log_sigmoid(z) - jax.nn.log_sigmoid(z_other)
        log_ratio_zero = jax.nn.log_sigmoid(-z) - jax.nn.log_sigmoid(-z_other)
        return jnp.mean(p * log_ratio_one + (1 - p) * log_ratio_zero)
    difference = (z - z_other).reshape(z.shape[0], -1)
    return 0.5 * jnp.mean(jnp.sum(difference**2, axis=-1))


def curvature_matrices(
    problem: Problem, params, batch, names: Sequence[str] = curvature.MATRICES
) -> dict[str, np.ndarray]:
    """The dense curvature matrices ``names`` (of ``curvature.MATRICES``), in one compilation.

    ``curvature.hessian``, ``ggn``, ``fisher`` (exact) and ``empirical_fisher`` over the
    flattened parameters, compiled together: on a CPU, compiling costs more than
    computing these matrices for a model with a few hundred parameters.
    """
    names = _matrix_names(problem, names)
    return {
        name: np.asarray(m) for name, m in _dense_compiled(problem, params, batch, names).items()
    }


def curvature_products(
    problem: Problem, params, batch, vector, names: Sequence[str] = curvature.MATRICES
) -> dict[str, np.ndarray]:
    """The matrix-free products M v (``curvature.flat_matvec``) for a flat ``vector``.

    Each product costs a few passes through the model and never builds M; all are
    compiled together.
    """
    names = _matrix_names(problem, names)
    size = curvature.flatten(params)[0].shape[0]
    vector = _vector("vector", vector, size)
    products = _products_compiled(problem, params, batch, jnp.asarray(vector), names)
    return {name: np.asarray(m) for name, m in products.items()}


class CurvatureSet(NamedTuple):
    """Everything :func:`curvature_set` computes at one point, as numpy arrays."""

    matrices: dict  # {name: (n, n)} for every name of curvature.MATRICES
    products: dict  # {name: (n,)} the matrix-free products with the given vector
    gradient: np.ndarray  # (n,) the gradient of the loss (regulariser included)
    example_gradients: np.ndarray  # (m, n) the data loss's per-example gradients


def curvature_set(problem: Problem, params, batch, vector) -> CurvatureSet:
    """The four dense curvature matrices, their products with ``vector``, the gradient and
    the per-example gradients at ``params``, all in one compilation.

    The same numbers as :func:`curvature_matrices`, :func:`curvature_products` and
    :func:`per_example_gradients`: on a CPU one compilation instead of four saves
    seconds for a model with a few hundred parameters.
    """
    names = _matrix_names(problem, curvature.MATRICES)
    size = curvature.flatten(params)[0].shape[0]
    vector = _vector("vector", vector, size)
    x, y = _batch(problem, batch)
    if jnp.shape(x)[:1] != jnp.shape(y)[:1]:
        raise ValueError(
            f"batch must hold as many labels as inputs, got x {jnp.shape(x)} and y {jnp.shape(y)}"
        )
    result = _set_compiled(problem, params, (x, y), jnp.asarray(vector), names)
    return CurvatureSet(*jax.tree_util.tree_map(np.asarray, result))


@functools.partial(jax.jit, static_argnames=("problem", "names"))
def _set_compiled(problem, params, batch, vector, names):
    matrices = _dense_compiled(problem, params, batch, names)
    products = _products_compiled(problem, params, batch, vector, names)
    gradient = curvature.flatten(jax.grad(problem.loss)(params, batch))[0]
    return matrices, products, gradient, _example_gradients(problem, params, batch)


def _matrix_names(problem: Problem, names) -> tuple[str, ...]:
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names or any(name not in curvature.MATRICES for name in names):
        raise ValueError(f"names must be a non-empty subset of {curvature.MATRICES}, got {names}")
    if set(names) - {"hessian"}:
        require_data_problem(problem, "the GGN and the Fishers")
    return names


@functools.partial(jax.jit, static_argnames=("problem", "names"))
def _dense_compiled(problem, params, batch, names):
    return {name: getattr(curvature, name)(problem, params, batch) for name in names}


@functools.partial(jax.jit, static_argnames=("problem", "names"))
def _products_compiled(problem, params, batch, vector, names):
    return {name: curvature.flat_matvec(problem, params, batch, name)(vector) for name in names}


def kl_ball_step(metric, gradient, radius: float) -> np.ndarray:
    r"""The minimiser of g^T delta subject to 1/2 delta^T M delta <= radius.

    With a positive-definite metric M (the Fisher: the quadratic model of the KL) the
    answer is the natural gradient direction, scaled to the ball's edge:

        delta* = - sqrt(2 radius / (g^T M^-1 g)) M^-1 g.

    With M = I it is the (Euclidean) steepest-descent step of lecture 1.
    """
    gradient = _vector("gradient", gradient)
    metric = _square_matrix("metric", metric, gradient.shape[0])
    radius = validation.positive("radius", radius)
    if not np.any(gradient):
        raise ValueError("gradient must be nonzero: at a stationary point no direction descends")
    if not np.allclose(metric, metric.T, rtol=1e-6, atol=1e-8 * np.abs(metric).max()):
        raise ValueError("metric must be symmetric")
    eigenvalues = np.linalg.eigvalsh(np.asarray(metric, np.float64))
    if eigenvalues.min() <= 0:
        raise ValueError(
            f"metric must be positive definite, got smallest eigenvalue {eigenvalues.min():.3g} "
            "(add damping)"
        )
    direction = np.linalg.solve(np.asarray(metric, np.float64), np.asarray(gradient, np.float64))
    return -math.sqrt(2 * radius / float(gradient @ direction)) * direction


def divergence_ball(
    divergence: Callable[[jax.Array], jax.Array],
    radius,
    num_directions: int = 360,
    max_length: float = 10.0,
    iterations: int = 40,
) -> np.ndarray:
    r"""Points on the boundary {delta in R^2 : divergence(delta) = radius} of a 2-D ball.

    Along each of ``num_directions`` unit directions u (angles 2 pi k / num_directions)
    bisection finds t in (0, max_length) with divergence(t u) = radius, so the
    divergence need not be quadratic (the exact KL of a model, for instance); it
    must be below ``radius`` near delta = 0 and reach it within ``max_length``.
    Returns the points t u, shape (num_directions, 2), or (len(radius), num_directions,
    2) for a sequence of radii (all bisections run together, in one compilation): the
    minimiser of a linear function over them is a brute-force steepest-descent step
    in that divergence.
    """
    if not callable(divergence):
        raise ValueError(f"divergence must be a function of a 2-vector, got {divergence!r}")
    scalar = np.ndim(radius) == 0
    radii = [validation.positive("radius", r) for r in np.atleast_1d(np.asarray(radius, object))]
    num_directions = validation.positive_int("num_directions", num_directions, minimum=4)
    max_length = validation.positive("max_length", max_length)
    iterations = validation.positive_int("iterations", iterations)
    dtype = jnp.result_type(float)
    angles = 2 * jnp.pi * jnp.arange(num_directions, dtype=dtype) / num_directions
    directions = jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)

    @jax.jit
    def boundary(directions, radii):
        def bisect(u, r):
            def body(_, interval):
                low, high = interval
                middle = 0.5 * (low + high)
                inside = divergence(middle * u) < r
                return jnp.where(inside, middle, low), jnp.where(inside, high, middle)

            low, high = jax.lax.fori_loop(
                0, iterations, body, (jnp.zeros([], dtype), jnp.asarray(max_length, dtype))
            )
            return 0.5 * (low + high)

        per_direction = jax.vmap(bisect, in_axes=(0, None))
        far = jax.vmap(lambda u: divergence(max_length * u))(directions)
        return jax.vmap(per_direction, in_axes=(None, 0))(directions, radii), far

    lengths, far = boundary(directions, jnp.asarray(radii, dtype))
    far = np.asarray(far)
    if not np.all(far >= max(radii)):
        raise ValueError(
            f"max_length must reach the ball's edge in every direction: the divergence at "
            f"distance {max_length:g} is {far.min():.3g} < radius {max(radii):g} somewhere"
        )
    points = np.asarray(lengths)[:, :, None] * np.asarray(directions)[None]
    return points[0] if scalar else points


# --------------------------------------------------------------------------- reparameterisation


def reparameterised(problem: Problem, matrix, params_like) -> Problem:
    r"""The same problem in new coordinates phi, with theta = A phi (A invertible).

    The new parameters are a flat vector phi; ``params_like`` gives the pytree shape of
    theta. The loss, the model and the regulariser are composed with phi -> A phi, so
    the gradient becomes A^T g and every curvature matrix M becomes A^T M A (computed
    by autodiff through A, not by formula). Natural gradient and Newton steps map back
    to the same step in theta; a gradient step does not.
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lecture_lib Problem, got {problem!r}")
    flat, unflatten = curvature.flatten(params_like)
    n = flat.shape[0]
    a_matrix = _square_matrix("matrix", matrix, n)
    if np.linalg.matrix_rank(np.asarray(a_matrix, np.float64)) < n:
        raise ValueError("matrix must be invertible (full rank)")
    a_jax = jnp.asarray(a_matrix, flat.dtype)
    a_inverse = jnp.asarray(np.linalg.inv(np.asarray(a_matrix, np.float64)), flat.dtype)

    def theta(phi):
        return unflatten(a_jax.astype(phi.dtype) @ phi)

    def to_phi(params):
        vector = curvature.flatten(params)[0]
        return a_inverse.astype(vector.dtype) @ vector

    def maybe(function, wrapped):
        return None if function is None else wrapped

    def hessian(phi):
        return a_jax.T @ problem.hessian(theta(phi)) @ a_jax

    return Problem(
        name=f"{problem.name}, theta = A phi",
        loss=lambda phi, batch=None: problem.loss(theta(phi), batch),
        init=lambda key: to_phi(problem.init(key)),
        data=problem.data,
        test_data=problem.test_data,
        predict=maybe(problem.predict, lambda phi, x: problem.predict(theta(phi), x)),
        output_loss=problem.output_loss,
        sample_targets=problem.sample_targets,
        penalty=maybe(problem.penalty, lambda phi: problem.penalty(theta(phi))),
        optimum=None if problem.optimum is None else to_phi(problem.optimum),
        optimal_loss=problem.optimal_loss,
        hessian=maybe(problem.hessian, hessian),
    )


# --------------------------------------------------------------------------- directions


def _preconditioner(problem: Problem, params, batch, matrix: str) -> jax.Array:
    if matrix == "identity":
        flat = curvature.flatten(params)[0]
        return jnp.eye(flat.shape[0], dtype=flat.dtype)
    dense = {
        "hessian": curvature.hessian,
        "ggn": curvature.ggn,
        "fisher": curvature.fisher,
        "empirical_fisher": curvature.empirical_fisher,
    }
    return dense[matrix](problem, params, batch)


def _check_preconditioner(problem: Problem, matrix: str, damping) -> float:
    if matrix not in PRECONDITIONERS:
        raise ValueError(f"matrix must be one of {PRECONDITIONERS}, got {matrix!r}")
    if matrix not in ("identity", "hessian"):
        require_data_problem(problem, f"the {matrix} preconditioner")
    return validation.nonnegative("damping", damping)


def preconditioned_direction(
    problem: Problem, params, matrix: str = "fisher", damping: float = 0.0, batch=None
) -> jax.Array:
    r"""The step direction -(M + damping I)^-1 grad h(params), a flat vector.

    ``matrix``: "identity" (gradient descent), "hessian" (Newton), "ggn"
    (Gauss-Newton), "fisher" (natural gradient) or "empirical_fisher"; each dense, so
    for small problems only. ``batch`` defaults to the full training set. Compiled
    once per problem and matrix.
    """
    damping = _check_preconditioner(problem, matrix, damping)
    batch = _batch(problem, batch)
    return _direction_compiled(problem, params, batch, matrix, damping)


def _direction(problem, params, batch, matrix, damping):
    gradient = curvature.flatten(jax.grad(problem.loss)(params, batch))[0]
    preconditioner = _preconditioner(problem, params, batch, matrix)
    damped = preconditioner + damping * jnp.eye(gradient.shape[0], dtype=gradient.dtype)
    return -jnp.linalg.solve(damped, gradient)


_direction_compiled = jax.jit(_direction, static_argnames=("problem", "matrix"))


class Path(NamedTuple):
    """Iterates (steps + 1, n) and full-batch losses (steps + 1,) of a preconditioned descent."""

    iterates: np.ndarray
    loss: np.ndarray


def preconditioned_descent(
    problem: Problem,
    steps: int,
    learning_rate: float,
    matrix: str = "fisher",
    damping: float = 0.0,
    params=None,
    batch=None,
) -> Path:
    r"""theta_{k+1} = theta_k - eta (M(theta_k) + damping I)^-1 grad h(theta_k), full batch.

    ``matrix`` as in :func:`preconditioned_direction` ("fisher": natural gradient
    descent, "empirical_fisher": its popular approximation, "hessian": Newton,
    "identity": gradient descent). Dense matrices at every step: for problems with a
    few hundred parameters at most. Starts at ``params`` (default
    ``problem.init(PRNGKey(0))``); compiled with ``lax.scan``, once per problem,
    matrix and number of steps.
    """
    damping = _check_preconditioner(problem, matrix, damping)
    steps = validation.positive_int("steps", steps)
    learning_rate = validation.positive("learning_rate", learning_rate)
    batch = _batch(problem, batch)
    start = problem.init(jax.random.PRNGKey(0)) if params is None else params
    iterates, losses = _descend(problem, start, batch, matrix, damping, learning_rate, steps)
    return Path(np.asarray(iterates), np.asarray(losses))


@functools.partial(jax.jit, static_argnames=("problem", "matrix", "steps"))
def _descend(problem, start, batch, matrix, damping, learning_rate, steps):
    flat_start, unflatten = curvature.flatten(start)

    def body(theta, _):
        params = unflatten(theta)
        step = _direction(problem, params, batch, matrix, damping)
        return theta + learning_rate * step, (theta, problem.loss(params, batch))

    last, (iterates, losses) = jax.lax.scan(body, flat_start, None, length=steps)
    final_loss = problem.loss(unflatten(last), batch)
    return (
        jnp.concatenate([iterates, last[None]]),
        jnp.concatenate([losses, final_loss[None]]),
    )


def _grid(xlim, ylim, resolution):
    limits = []
    for name, limit in (("xlim", xlim), ("ylim", ylim)):
        if len(limit) != 2:
            raise ValueError(f"{name} must be a pair (low, high), got {limit!r}")
        low, high = validation.real(f"{name}[0]", limit[0]), validation.real(f"{name}[1]", limit[1])
        if not low < high:
            raise ValueError(f"{name} must be increasing (low < high), got {limit!r}")
        limits.append((low, high))
    resolution = validation.positive_int("resolution", resolution, minimum=2)
    grid_x, grid_y = np.meshgrid(
        np.linspace(*limits[0], resolution), np.linspace(*limits[1], resolution)
    )
    points = jnp.asarray(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1), jnp.result_type(float))
    return grid_x, grid_y, points


def _on_grid(grid_x, values):
    return jax.tree_util.tree_map(
        lambda v: np.asarray(v).reshape(grid_x.shape + np.shape(v)[1:]), values
    )


def direction_field(
    function: Callable,
    xlim: Sequence[float],
    ylim: Sequence[float],
    resolution: int = 15,
):
    """Evaluate ``function(point)`` at the points of a resolution x resolution grid in 2-D.

    Returns ``(X, Y, values)``: the grid's coordinates (``np.meshgrid`` layout) and
    ``function``'s outputs (an array, or a pytree of arrays such as a dict of
    directions) with the grid's shape in front. One compiled ``vmap`` over the grid.
    """
    if not callable(function):
        raise ValueError(f"function must map a 2-vector to arrays, got {function!r}")
    grid_x, grid_y, points = _grid(xlim, ylim, resolution)
    return grid_x, grid_y, _on_grid(grid_x, jax.jit(jax.vmap(function))(points))


def angle_between(u, v) -> np.ndarray:
    """The angle between vectors u and v in degrees, along the last axis (broadcasts)."""
    u = np.asarray(u, np.float64)
    v = np.asarray(v, np.float64)
    if u.ndim == 0 or v.ndim == 0 or u.shape[-1] != v.shape[-1]:
        raise ValueError(
            f"u and v must be vectors of the same length, got shapes {u.shape} and {v.shape}"
        )
    u_norm = np.linalg.norm(u, axis=-1, keepdims=True)
    v_norm = np.linalg.norm(v, axis=-1, keepdims=True)
    if np.any(u_norm == 0) or np.any(v_norm == 0):
        raise ValueError("u and v must be nonzero: a zero vector has no direction")
    # Kahan's formula: accurate for tiny and for nearly opposite angles, unlike arccos
    a, b = u * v_norm, v * u_norm
    return np.degrees(
        2 * np.arctan2(np.linalg.norm(a - b, axis=-1), np.linalg.norm(a + b, axis=-1))
    )


# --------------------------------------------------------------------------- Adam and the EF


def per_example_gradients(problem: Problem, params, batch=None) -> jax.Array:
    r"""The gradients g_i of each example's loss l(f(theta, x_i), y_i), shape (m, n).

    Without the regulariser, so that 1/m sum_i g_i g_i^T is the data part of the
    empirical Fisher and the mean of the rows is the data part of the gradient.
    """
    require_data_problem(problem, "per-example gradients")
    x, y = _batch(problem, batch)
    if jnp.shape(x)[:1] != jnp.shape(y)[:1]:
        raise ValueError(
            f"batch must hold as many labels as inputs, got x {jnp.shape(x)} and y {jnp.shape(y)}"
        )
    return _example_gradients_compiled(problem, params, (x, y))


def _example_gradients(problem, params, batch):
    flat, unflatten = curvature.flatten(params)
    x, y = batch

    def example_loss(theta, x_i, y_i):
        return problem.output_loss(problem.predict(unflatten(theta), x_i[None]), y_i[None])

    return jax.vmap(jax.grad(example_loss), in_axes=(None, 0, 0))(flat, x, y)


_example_gradients_compiled = jax.jit(_example_gradients, static_argnames="problem")


def adam_second_moment(gradients, key: jax.Array, steps: int, batch_size=1, b2=0.999) -> np.ndarray:
    r"""Adam's bias-corrected second moment v-hat after ``steps`` minibatches at fixed parameters.

    ``gradients`` (m, n) are the per-example gradients at the fixed parameters. Each
    step draws examples uniformly *with replacement*, averages the gradients of the
    first ``batch_size`` of them into g_k and updates Adam's running average

        v_k = b2 v_{k-1} + (1 - b2) g_k^2,    v-hat = v_K / (1 - b2^K)

    (the denominator of ``optim.adam``, bias correction included). v-hat tends to
    :func:`minibatch_second_moment` as b2 -> 1: the diagonal of the empirical Fisher
    for ``batch_size`` 1.

    ``batch_size`` and ``b2`` may be sequences of the same length (or one of them a
    scalar): every setting then runs on the same draws, in one compilation, and the
    result has shape (settings, n); otherwise (n,).
    """
    gradients = jnp.asarray(gradients)
    if gradients.ndim != 2 or gradients.shape[0] < 1:
        raise ValueError(f"gradients must have shape (m, n), got {gradients.shape}")
    steps = validation.positive_int("steps", steps)
    scalar = np.ndim(batch_size) == 0 and np.ndim(b2) == 0
    sizes = np.atleast_1d(np.asarray(batch_size, dtype=object))
    decays = np.atleast_1d(np.asarray(b2, dtype=object))
    if sizes.ndim != 1 or decays.ndim != 1:
        raise ValueError("batch_size and b2 must be numbers or 1-D sequences")
    if len(sizes) != len(decays) and 1 not in (len(sizes), len(decays)):
        raise ValueError(
            f"batch_size and b2 must have the same length (or one be a number), got "
            f"{len(sizes)} and {len(decays)}"
        )
    count = max(len(sizes), len(decays))
    sizes = [validation.positive_int("batch_size", s) for s in np.broadcast_to(sizes, count)]
    decays = [validation.in_interval("b2", b, 0.0, 1.0) for b in np.broadcast_to(decays, count)]
    largest = max(sizes)
    num_examples = gradients.shape[0]
    dtype = gradients.dtype
    # row s averages the first sizes[s] of the drawn examples
    weights = jnp.asarray(
        [[1.0 / size if j < size else 0.0 for j in range(largest)] for size in sizes], dtype
    )
    betas = jnp.asarray(decays, dtype)

    @jax.jit
    def second_moments(gradients, key):
        def body(v, step_key):
            index = jax.random.randint(step_key, (largest,), 0, num_examples)
            minibatch = weights @ gradients[index]
            return betas[:, None] * v + (1 - betas[:, None]) * minibatch**2, None

        start = jnp.zeros((count, gradients.shape[1]), dtype)
        v, _ = jax.lax.scan(body, start, jax.random.split(key, steps))
        return v / (1 - betas[:, None] ** steps)

    result = np.asarray(second_moments(gradients, key))
    return result[0] if scalar else result


def minibatch_second_moment(gradients, batch_size: int) -> np.ndarray:
    r"""E[g_B^2] for the mean g_B of ``batch_size`` rows drawn with replacement.

    With diag(EF) = 1/m sum_i g_i^2 and the full gradient g = 1/m sum_i g_i,

        E[g_B^2] = diag(EF) / B + (1 - 1/B) g^2

    (the variance diag(EF) - g^2 shrinks like 1/B, the squared mean stays). For B = 1
    this is the diagonal of the empirical Fisher; for large B it is g^2.
    """
    gradients = np.asarray(gradients, np.float64)
    if gradients.ndim != 2 or gradients.shape[0] < 1:
        raise ValueError(f"gradients must have shape (m, n), got {gradients.shape}")
    batch_size = validation.positive_int("batch_size", batch_size)
    diagonal = np.mean(gradients**2, axis=0)
    mean = np.mean(gradients, axis=0)
    return diagonal / batch_size + (1 - 1 / batch_size) * mean**2


# --------------------------------------------------------------------------- structure


def block_sizes(params, level: str = "layer") -> list[int]:
    """Sizes of the diagonal blocks of a curvature matrix, in ``curvature.flatten`` order.

    ``level``: "layer" groups the leaves under each top-level entry of the pytree
    (a dense layer's weights and bias in ``nn.mlp_init``'s list); "leaf" makes every
    array its own block (weights and biases apart).
    """
    if level not in ("layer", "leaf"):
        raise ValueError(f"level must be 'layer' or 'leaf', got {level!r}")
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    if not leaves:
        raise ValueError("params must hold at least one array")
    sizes: list[int] = []
    previous = object()
    for path, leaf in leaves:
        group = path[:1] if level == "layer" else path
        size = int(np.size(leaf))
        if level == "layer" and group == previous:
            sizes[-1] += size
        else:
            sizes.append(size)
        previous = group
    return sizes


def _check_blocks(matrix: np.ndarray, blocks: Sequence[int]) -> list[int]:
    blocks = [validation.positive_int(f"blocks[{i}]", b) for i, b in enumerate(blocks)]
    if sum(blocks) != matrix.shape[0]:
        raise ValueError(
            f"blocks must add up to the matrix size {matrix.shape[0]}, got sum {sum(blocks)}"
        )
    return blocks


def block_diagonal(matrix, blocks: Sequence[int]) -> np.ndarray:
    """The matrix with every entry outside the diagonal blocks (of the given sizes) set to 0."""
    matrix = _square_matrix("matrix", matrix)
    blocks = _check_blocks(matrix, blocks)
    result = np.zeros_like(matrix)
    start = 0
    for size in blocks:
        result[start : start + size, start : start + size] = matrix[
            start : start + size, start : start + size
        ]
        start += size
    return result


def diagonal_approximation(matrix) -> np.ndarray:
    """diag(M) as a matrix: the approximation behind Adagrad, RMSprop and Adam."""
    matrix = _square_matrix("matrix", matrix)
    return np.diag(np.diag(matrix))


def relative_frobenius_error(approximation, exact) -> float:
    """||approximation - exact||_F / ||exact||_F."""
    exact = _square_matrix("exact", exact)
    approximation = _square_matrix("approximation", approximation, exact.shape[0])
    norm = np.linalg.norm(np.asarray(exact, np.float64))
    if norm == 0:
        raise ValueError("exact must be nonzero (the error is relative to its norm)")
    return float(np.linalg.norm(np.asarray(approximation, np.float64) - exact) / norm)


def layer_shapes(params) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every dense layer of an ``nn.mlp_init`` parameter list."""
    if not isinstance(params, Sequence) or not params:
        raise ValueError("params must be a non-empty list of dense layers {'w': ..., 'b': ...}")
    shapes = []
    for index, layer in enumerate(params):
        if not isinstance(layer, Mapping) or set(layer) != {"w", "b"}:
            raise ValueError(f"params[{index}] must be a dense layer {{'w', 'b'}}, got {layer!r}")
        w_shape, b_shape = np.shape(layer["w"]), np.shape(layer["b"])
        if len(w_shape) != 2 or b_shape != (w_shape[1],):
            raise ValueError(
                f"params[{index}] must have w of shape (fan_in, fan_out) and b of shape "
                f"(fan_out,), got {w_shape} and {b_shape}"
            )
        shapes.append((int(w_shape[0]), int(w_shape[1])))
    return shapes


class Cost(NamedTuple):
    """Numbers stored and the flops (up to a constant) to invert, for one approximation."""

    storage: int
    inversion: int


APPROXIMATIONS = ("full", "block-diagonal (layers)", "Kronecker factors", "diagonal")


def approximation_costs(shapes: Sequence[tuple[int, int]]) -> dict[str, Cost]:
    r"""Storage and inversion cost of each curvature approximation of an MLP.

    ``shapes`` lists each dense layer's (fan_in, fan_out); a layer has
    n_l = (fan_in + 1) fan_out parameters (weights and bias), n = sum_l n_l.

    - full: n^2 numbers, n^3 to invert;
    - block-diagonal (one block per layer): sum n_l^2 and sum n_l^3;
    - Kronecker factors (K-FAC, lecture 6: each layer's block is A (x) G with A of
      size fan_in + 1 and G of size fan_out): sum (in+1)^2 + out^2 and sum (in+1)^3 + out^3;
    - diagonal: n and n.

    Python integers: no overflow, even for n^3 of a million parameters.
    """
    if not shapes:
        raise ValueError("shapes must list at least one layer (fan_in, fan_out)")
    checked = []
    for index, shape in enumerate(shapes):
        if len(shape) != 2:
            raise ValueError(f"shapes[{index}] must be a pair (fan_in, fan_out), got {shape!r}")
        checked.append(
            (
                validation.positive_int(f"shapes[{index}][0] (fan_in)", shape[0]),
                validation.positive_int(f"shapes[{index}][1] (fan_out)", shape[1]),
            )
        )
    sizes = [(fan_in + 1) * fan_out for fan_in, fan_out in checked]
    n = sum(sizes)
    return {
        "full": Cost(n**2, n**3),
        "block-diagonal (layers)": Cost(sum(s**2 for s in sizes), sum(s**3 for s in sizes)),
        "Kronecker factors": Cost(
            sum((i + 1) ** 2 + o**2 for i, o in checked),
            sum((i + 1) ** 3 + o**3 for i, o in checked),
        ),
        "diagonal": Cost(n, n),
    }


def format_cost_table(costs: Mapping[str, Mapping[str, Cost]]) -> str:
    """A plain-text table: one row per approximation, storage and inversion per model.

    ``costs`` maps a model's name to its :func:`approximation_costs`.
    """
    if not costs:
        raise ValueError("costs must map at least one model name to its approximation_costs")
    for name, table in costs.items():
        if not isinstance(table, Mapping) or set(table) != set(APPROXIMATIONS):
            raise ValueError(
                f"costs[{name!r}] must be the output of approximation_costs, got {table!r}"
            )
    width = max(14, *(len(name) + 2 for name in costs))
    header = f"{'approximation':25s}" + "".join(
        f"{name + ' storage':>{width + 8}s}{'inversion':>{width}s}" for name in costs
    )
    lines = [header, "-" * len(header)]
    for approximation in APPROXIMATIONS:
        line = f"{approximation:25s}"
        for table in costs.values():
            cost = table[approximation]
            line += f"{cost.storage:>{width + 8}.3g}{cost.inversion:>{width}.3g}"
        lines.append(line)
    return "\n".join(lines)


# --------------------------------------------------------------------------- explorer


def line_fit_problem() -> Problem:
    """The line fit of the lecture: ``problems.line_fit()``, 100 points, x ~ N(2, 1), noise 1.

    Cached: every call returns the same object, so the compilations of
    :func:`preconditioned_descent` and :func:`line_fit_runs`, which are kept per problem,
    are reused (by the explorer's redraws, for instance). Its arrays have the float
    precision that was in force at the first call.
    """
    return _line_fit()


@functools.cache
def _line_fit() -> Problem:
    return problems_lib.line_fit()


LINE_FIT_VIEW = {"xlim": (-2.5, 4.5), "ylim": (-4.0, 4.0)}
LINE_FIT_METHODS = {
    "gradient descent": "identity",
    "natural gradient (Fisher)": "fisher",
    "empirical Fisher": "empirical_fisher",
}


class LineFitResult(NamedTuple):
    """What :func:`line_fit_figure` draws: the grid, the directions on it, and the paths."""

    grid_x: np.ndarray
    grid_y: np.ndarray
    fields: dict  # {method: directions of shape grid + (2,)}
    paths: dict  # {method: Path}


def line_fit_runs(
    damping: float = 0.0,
    learning_rate: float = 0.1,
    steps: int = 60,
    resolution: int = 15,
    problem: Problem | None = None,
) -> LineFitResult:
    """Directions -(M + damping I)^-1 g on a grid, and paths from the start, per method.

    The methods are ``LINE_FIT_METHODS``: gradient descent (M = I, never damped), the
    natural gradient (M = F) and the empirical Fisher (M = EF), on the lecture's line
    fit (or ``problem``, any 2-parameter data problem), over ``LINE_FIT_VIEW``.
    """
    damping = validation.nonnegative("damping", damping)
    learning_rate = validation.positive("learning_rate", learning_rate)
    steps = validation.positive_int("steps", steps)
    resolution = validation.positive_int("resolution", resolution, minimum=2)
    problem = line_fit_problem() if problem is None else problem
    require_data_problem(problem, "the line-fit figure")
    if curvature.flatten(problem.init(jax.random.PRNGKey(0)))[0].shape != (2,):
        raise ValueError(f"problem must have two parameters, {problem.name!r} has more")
    dampings = {name: 0.0 if m == "identity" else damping for name, m in LINE_FIT_METHODS.items()}
    grid_x, grid_y, points = _grid(resolution=resolution, **LINE_FIT_VIEW)
    fields = _on_grid(grid_x, _line_fit_fields(problem, points, damping))
    paths = {
        name: preconditioned_descent(problem, steps, learning_rate, matrix, dampings[name])
        for name, matrix in LINE_FIT_METHODS.items()
    }
    return LineFitResult(grid_x, grid_y, fields, paths)


@functools.partial(jax.jit, static_argnames="problem")
def _line_fit_fields(problem, points, damping):
    def directions(point):
        return {
            name: _direction(
                problem, point, problem.data, matrix, 0.0 if matrix == "identity" else damping
            )
            for name, matrix in LINE_FIT_METHODS.items()
        }

    return jax.vmap(directions)(points)


def line_fit_figure(
    damping: float = 0.0,
    learning_rate: float = 0.1,
    steps: int = 60,
    resolution: int = 15,
    problem: Problem | None = None,
):
    """Gradient, natural-gradient and empirical-Fisher fields and paths side by side.

    Each panel shows the normalised directions of :func:`line_fit_runs` over the
    parameter plane, the path of ``steps`` steps of size ``learning_rate`` from the
    problem's start, and the minimum. Returns ``(figure, LineFitResult)``.
    """
    from lecture_lib.plots import vector_field

    result = line_fit_runs(damping, learning_rate, steps, resolution, problem)
    problem = line_fit_problem() if problem is None else problem
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for ax, name in zip(axes, LINE_FIT_METHODS, strict=True):
        damped = f", damping {damping:.2g}" if damping and name != "gradient descent" else ""
        vector_field(
            problem,
            result.grid_x,
            result.grid_y,
            result.fields[name],
            paths={f"{steps} steps of size {learning_rate:.2g}": result.paths[name].iterates},
            ax=ax,
            title=name + damped,
        )
        ax.set_xlabel(r"slope $\theta_1$")
        ax.set_ylabel(r"intercept $\theta_2$")
    figure.tight_layout()
    return figure, result


def damping_explorer(steps: int = 60, resolution: int = 15):
    """Log sliders for the damping and the step size, redrawing :func:`line_fit_figure`."""
    import ipywidgets

    steps = validation.positive_int("steps", steps)
    resolution = validation.positive_int("resolution", resolution, minimum=2)
    damping = ipywidgets.FloatLogSlider(
        value=1e-4,
        base=10,
        min=-4,
        max=2,
        step=0.25,
        description="damping",
        continuous_update=False,
    )
    learning_rate = ipywidgets.FloatLogSlider(
        value=0.1,
        base=10,
        min=-2,
        max=0,
        step=0.1,
        description="step size",
        continuous_update=False,
        style={"description_width": "initial"},
    )

    def draw(damping, learning_rate):
        line_fit_figure(damping, learning_rate, steps, resolution)
        plt.show()

    return ipywidgets.interactive(draw, damping=damping, learning_rate=learning_rate)
