r"""K-FAC: Kronecker-factored approximate curvature (Martens & Grosse, 2015).

**The approximation.** Treat each dense layer's weight and bias as one
(fan_in + 1, fan_out) matrix W̄ = [W; b] (the bias is the last row), so the layer
computes s = ā W̄ with ā = [a, 1]. Example i's gradient of its own loss is
vec(ā_i g_i^T) = ā_i (x) g_i (row-major vec), with g_i = dl_i/ds_i the
back-propagated output gradient. The layer's block of the Fisher of the *mean* loss
(``curvature.fisher``) is therefore

.. math::  F_{ll} = \tfrac1m \sum_i (\bar a_i \bar a_i^\top) \otimes E[g_i g_i^\top]
           \;\approx\; A \otimes G, \qquad
           A = \tfrac1m \sum_i \bar a_i \bar a_i^\top, \quad
           G = \tfrac1m \sum_i E[g_i g_i^\top]

(K-FAC's one assumption: activations and output gradients are independent). With one
example A (x) G is the block exactly, in any layer of any depth; with more it is not,
even for a single layer (the mean of Kronecker products is not the Kronecker product
of the means). Across layers K-FAC keeps only the diagonal blocks. Since
(A (x) G) vec(V) = vec(A V G) for symmetric A, G, and (A (x) G)^{-1} = A^{-1} (x) G^{-1},
the preconditioned gradient of a layer costs two small inverses (by Cholesky):
Delta = -A^{-1} V G^{-1}, with V = [dh/dW; dh/db].

**Where g comes from** (``fisher``): "sampled" (default; the true Fisher, with labels
drawn from the model, ``problem.sample_targets``, one per example, using the step's
key), "ggn" (the exact expectation: the output loss's Hessian B_i = C_i C_i^T is
factored by an eigendecomposition and each column of C_i back-propagated, so
G = 1/m sum_i J_i^T B_i J_i over the layer's pre-activations; for softmax
cross-entropy B_i = diag(p) - p p^T is exactly E_y[g g^T], so this is the exact Fisher
too), or "empirical" (the data's own labels: the empirical Fisher).

**Running averages.** A and G are exponential averages with ``decay``, debiased as
in Adam (divided by 1 - decay^t), so the first step uses the fresh statistics. Their
damped inverses are recomputed every ``inverse_update_period`` steps (``lax.cond``)
and kept in the state in between.

**Damping.** lambda is split between the factors with the pi-correction (M&G 6.3):

.. math::  (A + \pi\gamma I) \otimes (G + \tfrac{\gamma}{\pi} I), \qquad
           \pi = \sqrt{\frac{\operatorname{tr} A / \dim A}{\operatorname{tr} G / \dim G}},
           \qquad \gamma = \sqrt{\lambda + \eta}

which adds lambda + eta times the identity plus cross terms pi gamma I (x) G and
gamma/pi A (x) I, balanced so neither factor is swamped. eta is the curvature of
``problem.penalty``, read off once when the method is built as the largest entry of
H_r 1 (H_r the penalty's Hessian): for the L2 penalty of ``problems.mlp`` exactly its
coefficient l2, and 0 without a penalty. So weight decay enters the preconditioner as
extra damping, as in M&G (the biases, which are not penalised, get it too), while the
quadratic model below uses the penalty's exact Hessian. With ``inverse_update_period``
k > 1 the inverses use the lambda of the step that recomputed them.

**Levenberg-Marquardt adaptation.** Every T1 = ``adaptation_interval`` steps (on
steps T1, 2 T1, ...) the batch loss change is compared with the change the quadratic
model predicted,

.. math::  \rho = \frac{h(\theta + \delta) - h(\theta)}
                 {\nabla h^\top \delta + \tfrac12 \delta^\top (G_{\rm GGN} + \nabla^2 r)\, \delta},

with the *exact* GGN of the batch, matrix-free (one linearisation of the model and a
JVP per direction: the same matrix as ``curvature.ggn_vp``), as Martens & Grosse do,
and, as in ``newton``, without the damping lambda: rho judges the curvature, the
damping makes up for it. lambda then follows ``newton.levenberg_marquardt`` with
M&G's factor omega = ``adaptation_decay`` ** T1: lambda x omega if rho > 3/4,
lambda / omega if rho < 1/4 (M&G: T1 = 5, decay 19/20, so omega = 0.77). One rho
from one minibatch is noisy: adapting every step by the lecture's 2/3 and 3/2
(``adaptation_interval=1, adaptation_decay=2/3``) drives lambda down to its floor
within tens of steps on the digits, after which the preconditioner is nearly singular.
Steps are never rejected (with minibatches a bad step on one batch is not a reason to
stop); ``info`` reports rho on the adapting steps and NaN on the others. When nothing
needs the model (no ``adapt``, no "auto") it is not computed at all, as in kfac-jax.

**Step size and momentum.** With a number (or schedule) ``learning_rate`` alpha and
``momentum`` mu, the step is heavy ball on the preconditioned direction,
delta_k = alpha_k Delta_k + mu delta_{k-1}. With ``learning_rate="auto"`` alpha
minimises the damped quadratic model q(delta) + lambda/2 ||delta||^2 along
delta = alpha Delta (M&G 6.4), and with also ``momentum="auto"`` both alpha and mu
minimise it over delta = alpha Delta + mu delta_{k-1}: Martens & Grosse's automatic
step size and momentum, a 2x2 linear system from the exact GGN products (M&G
section 7). Their products are those rho needs anyway, so "auto" costs nothing more.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from lecture_lib import nn, problems, validation
from lecture_lib.optim.base import SecondOrderMethod, learning_rate_at
from lecture_lib.optim.newton import levenberg_marquardt, reduction_ratio
from lecture_lib.problems import Problem

FISHER_MODES = ("sampled", "ggn", "empirical")
_FLOOR = 1e-8  # the adapted damping stays in [min(_FLOOR, lambda_0), max(_CEILING, lambda_0)]
_CEILING = 1e10


class KFACState(NamedTuple):
    count: jax.Array  # steps taken, t
    damping: jax.Array  # lambda, adapted by Levenberg-Marquardt when adapt=True
    factors: list  # per layer (A, G): running averages, *not* debiased
    inverses: list  # per layer ((A + pi gamma I)^-1, (G + gamma/pi I)^-1), last recomputed
    velocity: object  # the previous step delta_{k-1}, a pytree like params


# --------------------------------------------------------------------------- checks


def _check_mlp_params(params, name: str = "params") -> list[dict]:
    """params must be a list of dense layers {"w": (fan_in, fan_out), "b": (fan_out,)}."""
    if not isinstance(params, list | tuple) or not params:
        raise ValueError(
            f"{name} must be a non-empty list of dense layers "
            f'{{"w": (fan_in, fan_out), "b": (fan_out,)}}, got {type(params).__name__}'
        )
    for index, layer in enumerate(params):
        if not isinstance(layer, dict) or set(layer) != {"w", "b"}:
            raise ValueError(
                f'{name}[{index}] must be a dense layer {{"w": ..., "b": ...}}, got {layer!r}'
            )
        w_shape, b_shape = jnp.shape(layer["w"]), jnp.shape(layer["b"])
        if len(w_shape) != 2 or b_shape != w_shape[1:]:
            raise ValueError(
                f'{name}[{index}] must have "w" of shape (fan_in, fan_out) and "b" of shape '
                f"(fan_out,), got {w_shape} and {b_shape}"
            )
        if index and w_shape[0] != jnp.shape(params[index - 1]["w"])[1]:
            raise ValueError(
                f"{name}[{index}] takes {w_shape[0]} inputs but layer {index - 1} has "
                f"{jnp.shape(params[index - 1]['w'])[1]} outputs"
            )
    return list(params)


def _check_problem(problem) -> Problem:
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lecture_lib Problem, got {problem!r}")
    if problem.predict is None or problem.output_loss is None or problem.data is None:
        raise ValueError(
            "problem must be an MLP data problem (problems.mlp) with predict, output_loss "
            f"and data; {problem.name!r} has none"
        )
    return problem


@functools.lru_cache(maxsize=32)
def _problem_structure(problem: Problem, activation: str | None) -> tuple[str, float]:
    """The MLP's activation (checked against ``problem.predict``) and the penalty curvature eta.

    Probes ``problem.predict`` on a few training inputs at random parameters of the
    shapes ``problem.init`` gives (standard normal, so that every activation function is
    distinguishable) against ``nn.mlp_forward`` with each activation.
    """
    shapes = jax.eval_shape(problem.init, jax.random.PRNGKey(0))  # no sampler compiled
    _check_mlp_params(shapes, "problem.init(key)")
    rng = np.random.default_rng(0)
    probe = jax.tree_util.tree_map(
        lambda leaf: jnp.asarray(rng.normal(size=leaf.shape), leaf.dtype), shapes
    )
    x = problem.data[0][:16]
    candidates = sorted(nn.ACTIVATIONS) if activation is None else [activation]

    @jax.jit
    def probe_outputs(params):
        # One compiled call instead of many small eager ones.
        outputs = problem.predict(params, x)
        mlp_outputs = [nn.mlp_forward(params, x, name) for name in candidates]
        if problem.penalty is None:
            return outputs, mlp_outputs, jnp.zeros([])
        ones = jax.tree_util.tree_map(jnp.ones_like, params)
        diagonal = jax.jvp(jax.grad(problem.penalty), (params,), (ones,))[1]
        largest = jnp.max(
            jnp.stack([jnp.max(leaf) for leaf in jax.tree_util.tree_leaves(diagonal)])
        )
        return outputs, mlp_outputs, largest

    outputs, mlp_outputs, largest = probe_outputs(probe)
    matches = [
        name
        for name, candidate in zip(candidates, mlp_outputs, strict=True)
        if np.shape(candidate) == np.shape(outputs)
        and np.allclose(np.asarray(candidate), np.asarray(outputs), rtol=1e-4, atol=1e-4)
    ]
    if not matches:
        if activation is not None:
            raise ValueError(
                f"activation={activation!r} does not reproduce problem.predict: K-FAC needs "
                "an MLP built like problems.mlp (nn.mlp_forward)"
            )
        raise ValueError(
            f"problem.predict of {problem.name!r} is not an nn.mlp_forward MLP with any "
            f"activation in {sorted(nn.ACTIVATIONS)}: K-FAC needs an MLP like problems.mlp"
        )
    eta = max(0.0, float(largest))
    return matches[0], eta


def _resolve_activation(problem: Problem, activation: str | None) -> tuple[str, float]:
    if activation is not None:
        nn.activation_function(activation)
    with jax.ensure_compile_time_eval():  # concrete even when called under jit
        return _problem_structure(problem, activation)


def _check_fisher(fisher, key=None, problem=None, needs_key=False) -> str:
    if fisher not in FISHER_MODES:
        raise ValueError(f"fisher must be one of {FISHER_MODES}, got {fisher!r}")
    if fisher == "sampled" and problem is not None and problem.sample_targets is None:
        raise ValueError(
            f"fisher='sampled' needs a problem that can sample targets; {problem.name!r} cannot"
        )
    if fisher == "sampled" and needs_key and key is None:
        raise ValueError("key must be a PRNG key for fisher='sampled' (labels are drawn with it)")
    return fisher


# --------------------------------------------------------------------------- layout


def layer_matrix(layer: dict) -> jax.Array:
    """A dense layer as one (fan_in + 1, fan_out) matrix [w; b]: the bias is the last row."""
    return jnp.concatenate([layer["w"], layer["b"][None, :]], axis=0)


def layer_from_matrix(matrix: jax.Array) -> dict:
    """The inverse of ``layer_matrix``."""
    return {"w": matrix[:-1], "b": matrix[-1]}


def layer_flat_indices(params) -> list[np.ndarray]:
    """Per layer, the positions in ``curvature.flatten(params)`` of vec([w; b]), row-major.

    ``flatten`` orders each layer's dict as "b" then "w", so K-FAC's layout [w; b] is a
    permutation of it: ``flat[indices[l]]`` is vec(layer_matrix(params[l])).
    """
    params = _check_mlp_params(params)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    sizes = [int(np.prod(jnp.shape(leaf))) for leaf in leaves]
    starts = np.cumsum([0, *sizes[:-1]])
    positions = [
        np.arange(start, start + size).reshape(jnp.shape(leaf))
        for start, size, leaf in zip(starts, sizes, leaves, strict=True)
    ]
    position_tree = jax.tree_util.tree_unflatten(treedef, positions)
    return [
        np.concatenate([layer["w"], layer["b"][None, :]], axis=0).ravel() for layer in position_tree
    ]


def kfac_block(left: jax.Array, right: jax.Array) -> jax.Array:
    """A (x) G, a layer's dense K-FAC block over vec([w; b]) (row-major, bias row last)."""
    return jnp.kron(left, right)


def kfac_matrix(params, factors) -> jax.Array:
    """The dense block-diagonal K-FAC approximation over the flat params in ``flatten`` order.

    Block l is A_l (x) G_l, placed at the positions ``layer_flat_indices`` gives, so the
    result compares entry for entry with ``curvature.fisher`` / ``curvature.ggn``.
    """
    indices = layer_flat_indices(params)
    if len(factors) != len(indices):
        raise ValueError(
            f"factors must hold one (A, G) pair per layer ({len(indices)}), got {len(factors)}"
        )
    n = int(sum(index.size for index in indices))
    dtype = jnp.result_type(*[f for pair in factors for f in pair])
    matrix = jnp.zeros((n, n), dtype)
    for index, (left, right) in zip(indices, factors, strict=True):
        block = kfac_block(left, right)
        if block.shape != (index.size, index.size):
            raise ValueError(
                f"factors (A, G) of shapes {left.shape}, {right.shape} do not fit a layer "
                f"with {index.size} parameters (A must be (fan_in+1)^2, G fan_out^2)"
            )
        matrix = matrix.at[np.ix_(index, index)].set(block)
    return matrix


# --------------------------------------------------------------------------- statistics


def _per_example_loss(problem: Problem):
    def loss(output_row, label):
        return problem.output_loss(output_row[None], label[None])

    return loss


def _output_cotangents(problem, logits, y, key, fisher) -> jax.Array:
    """Cotangents on the logits, shape (S, m, c), whose back-propagations give the g's.

    Each is a per-example gradient of the per-example loss (not of the mean loss), so
    that 1/m sum_i over the back-propagated g_i g_i^T is the Fisher of the mean loss.
    """
    loss = _per_example_loss(problem)
    if fisher == "empirical":
        return jax.vmap(jax.grad(loss))(logits, y)[None]
    if fisher == "sampled":
        labels = jax.lax.stop_gradient(problem.sample_targets(key, logits))
        return jax.vmap(jax.grad(loss))(logits, labels)[None]
    # ggn: B_i = C_i C_i^T; column k of C_i is cotangent k.
    if problem.output_loss is problems.softmax_cross_entropy:
        # diag(p) - p p^T = C C^T with C = (I - p 1^T) diag(sqrt p): column k is
        # sqrt(p_k) (e_k - p), a closed form that spares a batch of eigendecompositions.
        p = jax.nn.softmax(logits)
        eye = jnp.eye(p.shape[1], dtype=p.dtype)
        return jnp.sqrt(p).T[:, :, None] * (eye[:, None, :] - p[None])
    curvature = jax.vmap(jax.hessian(loss))(logits, y)
    eigenvalues, eigenvectors = jnp.linalg.eigh(curvature)
    roots = eigenvectors * jnp.sqrt(jnp.maximum(eigenvalues, 0.0))[:, None, :]
    return jnp.transpose(roots, (2, 0, 1))


# The pieces of a step are compiled on their own (inlined when the step is traced): called
# op by op, as in a notebook cell, each would otherwise compile dozens of small programs.
@functools.partial(jax.jit, static_argnames=("problem", "activation", "fisher"))
def _statistics(problem, activation, params, x, y, key, fisher):
    """The batch loss, its gradient, and the fresh factors (A_l, G_l) of every layer."""
    logits, inputs, backward = nn.mlp_backprop(params, x, activation)
    data_loss, output_gradient = jax.value_and_grad(problem.output_loss)(logits, y)
    grads = backward(output_gradient)[0]
    loss = data_loss
    if problem.penalty is not None:
        penalty, penalty_grads = jax.value_and_grad(problem.penalty)(params)
        loss = loss + penalty
        grads = jax.tree_util.tree_map(jnp.add, grads, penalty_grads)
    cotangents = _output_cotangents(problem, logits, y, key, fisher).astype(logits.dtype)
    output_gradients = jax.vmap(lambda ct: backward(ct)[1])(cotangents)
    m = x.shape[0]
    factors = []
    for a, g in zip(inputs, output_gradients, strict=True):
        a_bar = jnp.concatenate([a, jnp.ones((m, 1), a.dtype)], axis=1)
        # sum over samples and examples as one matmul: XLA's two-axis einsum is slower.
        g = g.reshape(-1, g.shape[-1])
        factors.append((a_bar.T @ a_bar / m, g.T @ g / m))
    return loss, grads, factors


def kfac_factors(
    problem: Problem,
    params,
    batch,
    key: jax.Array | None = None,
    fisher: str = "sampled",
    activation: str | None = None,
) -> list[tuple[jax.Array, jax.Array]]:
    """The fresh Kronecker factors (A_l, G_l) of every layer on ``batch``.

    A_l = 1/m sum_i ā_i ā_i^T over the layer's inputs with a 1 appended (the bias),
    shape (fan_in + 1, fan_in + 1); G_l = 1/m sum_i E[g_i g_i^T] over the
    back-propagated output gradients, shape (fan_out, fan_out), with g from labels
    sampled with ``key`` (``fisher="sampled"``), the exact expectation
    (``fisher="ggn"``) or the data's labels (``fisher="empirical"``). A_l (x) G_l
    approximates layer l's block of ``curvature.fisher`` (without the penalty) in the
    [w; b] layout of ``layer_flat_indices``; ``kfac_matrix`` places the blocks.
    ``activation`` is inferred from ``problem.predict`` when not given.
    """
    _check_problem(problem)
    fisher = _check_fisher(fisher, key, problem, needs_key=True)
    params = _check_mlp_params(params)
    x, y = batch
    activation, _ = _resolve_activation(problem, activation)
    return _statistics(problem, activation, params, x, y, key, fisher)[2]


def damp_factors(factors, damping) -> list[tuple[jax.Array, jax.Array]]:
    r"""Tikhonov damping split with the pi-correction: (A + pi sqrt(l) I, G + sqrt(l)/pi I).

    pi = sqrt((tr A / dim A) / (tr G / dim G)); pi = 1 where a trace vanishes.
    """
    gamma = jnp.sqrt(damping)
    damped = []
    for left, right in factors:
        left_scale = jnp.trace(left) / left.shape[0]
        right_scale = jnp.trace(right) / right.shape[0]
        ok = (left_scale > 0) & (right_scale > 0)
        ratio = jnp.where(ok, left_scale / jnp.where(ok, right_scale, 1.0), 1.0)
        pi = jnp.sqrt(ratio)
        damped.append(
            (
                left + pi * gamma * jnp.eye(left.shape[0], dtype=left.dtype),
                right + gamma / pi * jnp.eye(right.shape[0], dtype=right.dtype),
            )
        )
    return damped


def _symmetric_inverse(matrix):
    """M^-1 for a symmetric positive definite M, from its Cholesky factor M = L L^T."""
    identity = jnp.eye(matrix.shape[0], dtype=matrix.dtype)
    inverse = jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(matrix), True), identity)
    return (inverse + inverse.T) / 2


@jax.jit
def _damped_inverses(factors, damping):
    return [
        (_symmetric_inverse(left), _symmetric_inverse(right))
        for left, right in damp_factors(factors, damping)
    ]


def _model_coefficients(linear, damped_gram):
    r"""(alpha, mu) minimising the damped model along Delta (and delta_{k-1}), M&G 6.4 and 7.

    With c = (alpha, mu), q(c) = c.linear + 1/2 c^T damped_gram c, where
    linear = (g.Delta, g.delta_{k-1}) and damped_gram holds u^T (G_GGN + grad^2 r + lambda I) v
    for u, v in (Delta, delta_{k-1}): the minimiser solves damped_gram c = -linear. With
    one vector (no momentum) alpha = -g.Delta / Delta^T (...) Delta; with two, the 2x2
    solve, falling back to mu = 0 where it is singular (the first step: delta_0 = 0).
    """
    alpha = -linear[0] / damped_gram[0, 0]
    mu = jnp.zeros_like(alpha)
    if linear.shape[0] == 2:
        (a, b), (_, d) = damped_gram
        det = a * d - b**2
        solvable = det > 1e-12 * a * d
        det = jnp.where(solvable, det, 1.0)
        alpha = jnp.where(solvable, -(d * linear[0] - b * linear[1]) / det, alpha)
        mu = jnp.where(solvable, -(a * linear[1] - b * linear[0]) / det, mu)
    return alpha, mu


def _cond(predicate, true_branch, false_branch):
    """``lax.cond`` under jit; a Python branch when the predicate is concrete (eager calls)."""
    if isinstance(predicate, jax.core.Tracer):
        return jax.lax.cond(predicate, true_branch, false_branch)
    return true_branch() if bool(predicate) else false_branch()


@functools.partial(jax.jit, static_argnames="problem")
def _curvature_gram(problem, params, x, y, vectors) -> jax.Array:
    """u_i^T (G_GGN + grad^2 r) u_j for all pairs: a forward JVP per vector, no matrix built.

    The same GGN as ``curvature.ggn_vp``: J u_j through the model, then the output loss's
    Hessian (of the mean loss) by forward-over-reverse in the output space.
    """
    logits, model_jvp = jax.linearize(lambda p: problem.predict(p, x), params)
    output_directions = [model_jvp(u) for u in vectors]
    output_gradient = jax.grad(lambda z: problem.output_loss(z, y))
    curved = [jax.jvp(output_gradient, (logits,), (d,))[1] for d in output_directions]
    if problem.penalty is not None:
        penalty_gradient = jax.grad(problem.penalty)
        penalty_curved = [jax.jvp(penalty_gradient, (params,), (u,))[1] for u in vectors]
    rows = []
    for u, d in zip(vectors, output_directions, strict=True):
        row = []
        for j in range(len(vectors)):
            entry = jnp.sum(d * curved[j])
            if problem.penalty is not None:
                entry = entry + ravel_pytree(u)[0] @ ravel_pytree(penalty_curved[j])[0]
            row.append(entry)
        rows.append(jnp.stack(row))
    gram = jnp.stack(rows)
    return (gram + gram.T) / 2


# --------------------------------------------------------------------------- the method


def kfac(
    problem: Problem,
    learning_rate=1.0,
    damping: float = 1e-2,
    *,
    fisher: str = "sampled",
    decay: float = 0.95,
    inverse_update_period: int = 1,
    momentum=0.0,
    adapt: bool = True,
    adaptation_interval: int = 5,
    adaptation_decay: float = 0.95,
    activation: str | None = None,
) -> SecondOrderMethod:
    r"""K-FAC for an MLP (``problems.mlp``): block-diagonal Kronecker-factored natural gradient.

    .. math::  \Delta_l = -(A_l + \pi_l\gamma I)^{-1}\, [\nabla_{W_l} h;\ \nabla_{b_l} h]\,
               (G_l + \tfrac{\gamma}{\pi_l} I)^{-1}, \qquad
               \delta_k = \alpha_k \Delta + \mu\, \delta_{k-1}, \qquad
               \theta_{k+1} = \theta_k + \delta_k

    See the module docstring for the factors, their averaging, the damping split and
    its adaptation.

    Args:
      problem: an MLP data problem (dense layers with bias, any ``nn`` activation,
        softmax cross-entropy or squared-error output loss).
      learning_rate: alpha > 0, a schedule ``step -> alpha``, or "auto" (alpha from the
        damped quadratic model with the exact GGN).
      damping: lambda_0 > 0 (also without ``adapt``: for softmax outputs the last
        layer's G is singular, every g = p - e_y summing to zero).
      fisher: "sampled" (true Fisher, one label drawn from the model per example),
        "ggn" (exact expectation) or "empirical" (the data's labels).
      decay: running-average decay of A and G, in [0, 1) (0: fresh factors each step).
      inverse_update_period: recompute the damped inverses every this many steps, >= 1.
      momentum: mu in [0, 1) (heavy ball on the preconditioned direction), or "auto"
        (with ``learning_rate="auto"`` only: alpha and mu from the 2x2 quadratic model).
      adapt: adapt lambda by the Levenberg-Marquardt rule on rho.
      adaptation_interval: T1 >= 1, adapt lambda every this many steps.
      adaptation_decay: in (0, 1); lambda is multiplied or divided by its T1-th power.
      activation: the MLP's activation; inferred from ``problem.predict`` when None.

    Info keys: ``damping`` (lambda used), ``reduction_ratio`` (rho on the steps that
    adapt lambda, NaN on the others), ``step_norm``
    (||delta||), ``learning_rate`` (alpha used), ``momentum`` (mu used),
    ``inverses_updated``, ``batch_loss`` (h(theta_k) on the batch).
    """
    # Arguments first, before any work.
    _check_problem(problem)
    auto_rate = isinstance(learning_rate, str)
    if auto_rate and learning_rate != "auto":
        raise ValueError(
            "learning_rate must be a number in (0, inf), a schedule or 'auto', "
            f"got {learning_rate!r}"
        )
    if not auto_rate:
        learning_rate = validation.learning_rate(learning_rate)
    auto_momentum = isinstance(momentum, str)
    if auto_momentum:
        if momentum != "auto":
            raise ValueError(f"momentum must be in [0.0, 1.0) or 'auto', got {momentum!r}")
        if not auto_rate:
            raise ValueError(
                "momentum='auto' needs learning_rate='auto' (both come from the 2x2 "
                f"quadratic model), got learning_rate={learning_rate!r}"
            )
    else:
        momentum = validation.in_interval("momentum", momentum, 0.0, 1.0)
    if not isinstance(adapt, bool):
        raise ValueError(f"adapt must be True or False, got {adapt!r}")
    interval = validation.positive_int("adaptation_interval", adaptation_interval)
    omega = validation.in_interval("adaptation_decay", adaptation_decay, 0.0, 1.0) ** interval
    if omega == 0.0:
        raise ValueError(f"adaptation_decay must be in (0.0, 1.0), got {adaptation_decay!r}")
    # lambda > 0 always: the softmax output layer's G is singular (its g's sum to zero).
    damping = validation.positive("damping", damping)
    fisher = _check_fisher(fisher, problem=problem)
    decay = validation.in_interval("decay", decay, 0.0, 1.0)
    period = validation.positive_int("inverse_update_period", inverse_update_period)
    if activation is not None:
        nn.activation_function(activation)
    activation, eta = _resolve_activation(problem, activation)
    floor, ceiling = min(_FLOOR, damping), max(_CEILING, damping)
    uses_velocity = auto_momentum or momentum > 0

    def init(params):
        params = _check_mlp_params(params)
        dtype = ravel_pytree(params)[0].dtype
        factors, inverses = [], []
        for layer in params:
            fan_in, fan_out = layer["w"].shape
            factors.append((jnp.zeros((fan_in + 1,) * 2, dtype), jnp.zeros((fan_out,) * 2, dtype)))
            inverses.append((jnp.eye(fan_in + 1, dtype=dtype), jnp.eye(fan_out, dtype=dtype)))
        return KFACState(
            count=jnp.zeros([], jnp.int32),
            damping=jnp.asarray(damping, dtype),
            factors=factors,
            inverses=inverses,
            velocity=jax.tree_util.tree_map(jnp.zeros_like, params),
        )

    def step(params, state, batch, key):
        x, y = batch
        loss, grads, fresh = _statistics(problem, activation, params, x, y, key, fisher)
        count = state.count + 1
        factors = [
            (decay * a + (1 - decay) * a_new, decay * g + (1 - decay) * g_new)
            for (a, g), (a_new, g_new) in zip(state.factors, fresh, strict=True)
        ]
        correction = 1 - decay ** count.astype(loss.dtype)  # debiasing, as in Adam
        debiased = [(a / correction, g / correction) for a, g in factors]
        update_inverses = state.count % period == 0
        inverses = _cond(
            update_inverses,
            lambda: _damped_inverses(debiased, state.damping + eta),
            lambda: state.inverses,
        )
        direction = [
            layer_from_matrix(-(a_inv @ layer_matrix(layer_grads) @ g_inv))
            for (a_inv, g_inv), layer_grads in zip(inverses, grads, strict=True)
        ]

        # delta = alpha Delta + mu delta_{k-1}; model q(delta) = g.delta + 1/2 delta.M.delta.
        vectors = [direction, state.velocity] if uses_velocity else [direction]
        flat = [ravel_pytree(v)[0] for v in vectors]

        def model_terms():
            flat_grads = ravel_pytree(grads)[0]
            linear = jnp.stack([flat_grads @ v for v in flat])
            return linear, _curvature_gram(problem, params, x, y, vectors)

        terms = model_terms() if auto_rate else None
        if auto_rate:
            linear, gram = terms
            overlaps = jnp.stack([jnp.stack([u @ v for v in flat]) for u in flat])
            alpha, mu = _model_coefficients(linear, gram + state.damping * overlaps)
        else:
            alpha = jnp.asarray(learning_rate_at(learning_rate, state.count), loss.dtype)
            mu = jnp.asarray(momentum, loss.dtype)
        delta = jax.tree_util.tree_map(lambda d, v: alpha * d + mu * v, direction, state.velocity)
        candidate = jax.tree_util.tree_map(jnp.add, params, delta)

        def measured_ratio():
            linear, gram = terms if auto_rate else model_terms()
            coefficients = jnp.stack([alpha, mu])[: len(vectors)]
            predicted = coefficients @ linear + 0.5 * coefficients @ gram @ coefficients
            return reduction_ratio(problem.loss(candidate, batch) - loss, predicted)

        def not_measured():
            return jnp.asarray(jnp.nan, loss.dtype)

        new_damping = state.damping
        ratio = not_measured()
        if adapt:
            adapting = count % interval == 0
            ratio = _cond(adapting, measured_ratio, not_measured)
            adapted = levenberg_marquardt(state.damping, ratio, floor, ceiling, omega, 1 / omega)
            new_damping = jnp.where(adapting, adapted, state.damping)
        info = {
            "damping": state.damping,
            "reduction_ratio": ratio,
            "step_norm": jnp.linalg.norm(ravel_pytree(delta)[0]),
            "learning_rate": alpha,
            "momentum": mu,
            "inverses_updated": update_inverses,
            "batch_loss": loss,
        }
        new_state = KFACState(
            count=count, damping=new_damping, factors=factors, inverses=inverses, velocity=delta
        )
        return candidate, new_state, info

    return SecondOrderMethod(init, step)
