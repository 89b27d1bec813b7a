r"""Lecture 6's tools: what Kronecker factors cost, how close K-FAC is to the Fisher, damping.

The optimizer itself is ``optim.kfac`` (factors, damping, adaptation); the Kronecker
identities are in ``curvature`` (``kron``, ``kron_matvec``, ``kron_inverse_matvec``). Here:

- :func:`kronecker_costs`: storage and inversion of a layer's dense Fisher block
  (b x b, b = (fan_in + 1) fan_out) against its factors A (x) G, computed from the shapes;
- :func:`fisher_comparison`: the exact Fisher of a small MLP beside its K-FAC, block-diagonal
  and diagonal approximations, with their relative Frobenius errors;
- :func:`damping_sweep`: K-FAC with fixed damping for several lambda at once (one compiled,
  vmapped run), divergence reported rather than plotted;
- :func:`damped_directions` and :func:`damping_explorer`: how lambda turns a layer's K-FAC
  step from the natural gradient into a short gradient step.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from jax.flatten_util import ravel_pytree

from lecture_lib import curvature, validation
from lecture_lib import natural_gradient as ng
from lecture_lib.data import minibatch_indices
from lecture_lib.optim.kfac import damp_factors, kfac, kfac_factors, kfac_matrix
from lecture_lib.problems import Problem

# --------------------------------------------------------------------------- costs


class LayerCost(NamedTuple):
    """Numbers stored and flops (up to a constant) for one dense layer's curvature block."""

    shape: tuple[int, int]  # (fan_in, fan_out)
    parameters: int  # b = (fan_in + 1) fan_out
    dense_storage: int  # b^2
    dense_inverse: int  # b^3 (a Cholesky factorisation)
    kronecker_storage: int  # a^2 + g^2 with a = fan_in + 1, g = fan_out
    kronecker_inverse: int  # a^3 + g^3
    kronecker_apply: int  # A^-1 V G^-1: a^2 g + a g^2 = b (a + g)


def kronecker_costs(shapes: Sequence[tuple[int, int]]) -> list[LayerCost]:
    r"""Dense block against Kronecker factors, per layer, from the layers' (fan_in, fan_out).

    A layer's block is b x b with b = a g (a = fan_in + 1 with the bias, g = fan_out). Kept
    as A (a x a) and G (g x g) it takes a^2 + g^2 <= (a + g)^2 numbers, O(b) when a and g are
    comparable, and applying its inverse as A^{-1} V G^{-1} takes b (a + g) flops,
    O(b^{1.5}) = O(\sqrt{b}\, n_l): the seed's "O(b^0.5 n)".
    """
    if not shapes:
        raise ValueError("shapes must list at least one layer (fan_in, fan_out)")
    costs = []
    for index, shape in enumerate(shapes):
        if len(shape) != 2:
            raise ValueError(f"shapes[{index}] must be a pair (fan_in, fan_out), got {shape!r}")
        fan_in = validation.positive_int(f"shapes[{index}][0] (fan_in)", shape[0])
        fan_out = validation.positive_int(f"shapes[{index}][1] (fan_out)", shape[1])
        a, g = fan_in + 1, fan_out
        b = a * g
        costs.append(
            LayerCost((fan_in, fan_out), b, b**2, b**3, a**2 + g**2, a**3 + g**3, b * (a + g))
        )
    return costs


def format_kronecker_costs(costs: Sequence[LayerCost]) -> str:
    """A plain-text table of :func:`kronecker_costs`, one row per layer and a total row."""
    if not costs or not all(isinstance(cost, LayerCost) for cost in costs):
        raise ValueError("costs must be the non-empty output of kronecker_costs")
    header = (
        f"{'layer':>12s}{'params b':>11s}{'dense: store':>14s}{'invert':>10s}"
        f"{'Kron: store':>13s}{'invert':>10s}{'apply':>10s}"
    )
    lines = [header, "-" * len(header)]
    for cost in costs:
        layer = f"{cost.shape[0]} x {cost.shape[1]}"
        lines.append(
            f"{layer:>12s}{cost.parameters:>11,d}{cost.dense_storage:>14.3g}"
            f"{cost.dense_inverse:>10.3g}{cost.kronecker_storage:>13.3g}"
            f"{cost.kronecker_inverse:>10.3g}{cost.kronecker_apply:>10.3g}"
        )
    totals = [sum(column) for column in list(zip(*costs, strict=True))[1:]]
    lines.append(
        f"{'total':>12s}{totals[0]:>11,d}{totals[1]:>14.3g}{totals[2]:>10.3g}"
        f"{totals[3]:>13.3g}{totals[4]:>10.3g}{totals[5]:>10.3g}"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- K-FAC vs Fisher


class FisherComparison(NamedTuple):
    """The exact Fisher and its approximations, all dense, in ``curvature.flatten`` order."""

    matrices: dict  # "exact Fisher", "K-FAC", "block-diagonal", "diagonal" -> (n, n)
    factors: list  # per layer (A, G), with the exact expectation over labels
    blocks: list  # parameters per layer (the diagonal blocks)
    errors: dict  # approximation name -> ||M - F||_F / ||F||_F
    block_errors: dict  # "K-FAC", "diagonal" -> per layer, relative error within the block


def fisher_comparison(problem: Problem, params, batch) -> FisherComparison:
    r"""The exact Fisher of an MLP on ``batch`` beside K-FAC's A (x) G blocks and the diagonal.

    The Fisher is ``curvature.fisher`` (exact expectation over the model's labels), the
    factors ``kfac_factors(..., fisher="ggn")`` (the same expectation), so the only
    approximations left are K-FAC's two: no blocks between layers, and within a layer
    mean(a a^T (x) g g^T) replaced by mean(a a^T) (x) mean(g g^T).
    """
    if problem.penalty is not None and float(problem.penalty(params)) != 0.0:
        raise ValueError(
            f"problem must have no penalty (l2=0): its Hessian is not part of K-FAC's factors, "
            f"got {problem.name!r} with a penalty"
        )
    fisher, factors, kfac_dense = _fisher_and_kfac(problem, params, batch)
    fisher = np.asarray(fisher, np.float64)
    blocks = ng.block_sizes(params)
    matrices = {
        "exact Fisher": fisher,
        "K-FAC": np.asarray(kfac_dense, np.float64),
        "block-diagonal": ng.block_diagonal(fisher, blocks),
        "diagonal": ng.diagonal_approximation(fisher),
    }
    errors = {name: ng.relative_frobenius_error(m, fisher) for name, m in matrices.items()}
    edges = np.cumsum([0, *blocks])
    block_errors = {
        name: [
            ng.relative_frobenius_error(matrices[name][lo:hi, lo:hi], fisher[lo:hi, lo:hi])
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ]
        for name in ("K-FAC", "diagonal")
    }
    return FisherComparison(matrices, factors, blocks, errors, block_errors)


@functools.partial(jax.jit, static_argnames="problem")
def _fisher_and_kfac(problem, params, batch):
    # One compilation: op by op, the dense Fisher alone takes seconds to dispatch on a CPU.
    factors = kfac_factors(problem, params, batch, fisher="ggn")
    return curvature.fisher(problem, params, batch), factors, kfac_matrix(params, factors)


# --------------------------------------------------------------------------- damping sweep


class DampingSweep(NamedTuple):
    """Full-batch losses of K-FAC runs with fixed damping, one row per lambda."""

    dampings: np.ndarray  # (d,)
    loss: np.ndarray  # (d, steps + 1): h(theta_k), NaN from the first non-finite iterate on
    diverged_at: list  # per lambda, the first step whose iterate or loss was not finite, or None


def damping_sweep(
    problem: Problem,
    dampings: Sequence[float],
    steps: int,
    key: jax.Array,
    batch_size: int,
    learning_rate: float = 1.0,
    **kfac_options,
) -> DampingSweep:
    r"""K-FAC with ``adapt=False`` and each fixed lambda in ``dampings``, all in one compiled run.

    The runs share the start, the minibatches and the keys of ``run.run(kfac(problem,
    learning_rate, lambda, adapt=False, ...), problem, steps, key, batch_size)``, and
    give the same losses; lambda enters only the state, so one vmapped program serves
    every value. ``kfac_options`` go to ``optim.kfac`` (``fisher``, ``decay``,
    ``momentum``, ``inverse_update_period``...).
    """
    dampings = np.asarray(
        [validation.positive(f"dampings[{i}]", d) for i, d in enumerate(dampings)]
    )
    if dampings.size == 0:
        raise ValueError("dampings must hold at least one value > 0")
    steps = validation.positive_int("steps", steps)
    if "adapt" in kfac_options or "damping" in kfac_options:
        raise ValueError("kfac_options must not set adapt or damping: the sweep fixes them")
    method = kfac(problem, learning_rate, float(dampings[0]), adapt=False, **kfac_options)
    init_key, batch_key = jax.random.split(key)
    method_key = jax.random.split(batch_key)[1]  # the keys run.run uses
    batches = minibatch_indices(batch_key, problem.num_examples, batch_size, steps)
    start = problem.init(init_key)
    x, y = problem.data
    state_dtype = ravel_pytree(start)[0].dtype

    def one_run(damping):
        state = method.init(start)._replace(damping=jnp.asarray(damping, state_dtype))

        def body(carry, xs):
            params, state, alive = carry
            step, index = xs
            loss = problem.loss(params, (x, y))
            alive = alive & jnp.isfinite(loss)
            new_params, new_state, _ = method.step(
                params, state, (x[index], y[index]), jax.random.fold_in(method_key, step)
            )
            keep = lambda new, old: jax.tree_util.tree_map(  # noqa: E731
                lambda a, b: jnp.where(alive, a, b), new, old
            )
            return (keep(new_params, params), keep(new_state, state), alive), (loss, alive)

        carry = (start, state, jnp.array(True))
        (params, _, alive), (losses, alives) = jax.lax.scan(
            body, carry, (jnp.arange(steps), batches)
        )
        final = problem.loss(params, (x, y))
        losses = jnp.append(losses, final)
        alives = jnp.append(alives, alive & jnp.isfinite(final))
        return jnp.where(alives, losses, jnp.nan), alives

    losses, alives = jax.jit(jax.vmap(one_run))(jnp.asarray(dampings, state_dtype))
    alives = np.asarray(alives)
    diverged_at = [None if row.all() else int(np.argmin(row)) for row in alives]
    return DampingSweep(dampings, np.asarray(losses, np.float64), diverged_at)


# --------------------------------------------------------------------------- damped directions


class DampedDirections(NamedTuple):
    """A layer's damped K-FAC step against the exact damped natural gradient, per lambda."""

    dampings: np.ndarray
    angle_to_natural: np.ndarray  # degrees between K-FAC's step and (F_ll + lambda I)^-1 vec(V)
    angle_to_gradient: np.ndarray  # degrees between K-FAC's step and vec(V)
    length_ratio: np.ndarray  # ||K-FAC step|| / (||V|| / lambda)


@jax.jit
def _damped_kfac_solve(left, right, gradient, damping):
    (damped_left, damped_right), *_ = damp_factors([(left, right)], damping)
    return curvature.kron_inverse_matvec(damped_left, damped_right, gradient)


def damped_directions(fisher_block, factors, gradient, dampings) -> DampedDirections:
    r"""K-FAC's -(A + pi gamma I)^-1 V (G + gamma/pi I)^-1 against -(F_ll + lambda I)^-1 vec(V).

    ``fisher_block`` is the exact (a g) x (a g) Fisher block of one layer in the [w; b]
    row-major layout (``optim.kfac.layer_flat_indices``), ``factors`` its (A, G),
    ``gradient`` the layer's (a, g) gradient V = [dh/dW; dh/db]. As lambda grows both steps
    tend to -V / lambda: gradient descent with step 1/lambda (``length_ratio`` -> 1).
    """
    left, right = (np.asarray(f, np.float64) for f in factors)
    gradient = np.asarray(gradient, np.float64)
    if left.ndim != 2 or right.ndim != 2 or gradient.shape != (left.shape[0], right.shape[0]):
        raise ValueError(
            "gradient must have shape (A's size, G's size) = "
            f"({left.shape[0]}, {right.shape[0]}), got {gradient.shape}"
        )
    size = gradient.size
    block = np.asarray(fisher_block, np.float64)
    if block.shape != (size, size):
        raise ValueError(f"fisher_block must have shape ({size}, {size}), got {block.shape}")
    dampings = np.asarray(
        [validation.positive(f"dampings[{i}]", d) for i, d in enumerate(np.atleast_1d(dampings))]
    )
    flat_gradient = gradient.ravel()
    angles_natural, angles_gradient, ratios = [], [], []
    for damping in dampings:
        step = np.asarray(_damped_kfac_solve(left, right, gradient, damping)).ravel()
        natural = np.linalg.solve(block + damping * np.eye(size), flat_gradient)
        angles_natural.append(ng.angle_between(step, natural))
        angles_gradient.append(ng.angle_between(step, flat_gradient))
        ratios.append(np.linalg.norm(step) * damping / np.linalg.norm(flat_gradient))
    return DampedDirections(
        dampings, np.array(angles_natural), np.array(angles_gradient), np.array(ratios)
    )


def damping_figure(directions: DampedDirections, damping: float):
    """Angles and length ratio of :func:`damped_directions` over lambda, with one lambda marked."""
    damping = validation.positive("damping", damping)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    left.semilogx(directions.dampings, directions.angle_to_natural, label="to the exact damped NG")
    left.semilogx(directions.dampings, directions.angle_to_gradient, label="to the gradient")
    left.set_xlabel(r"damping $\lambda$")
    left.set_ylabel("angle of the K-FAC step (degrees)")
    left.set_title("K-FAC's step between natural gradient and gradient")
    right.loglog(directions.dampings, directions.length_ratio, label=r"$\lambda\|\Delta\| / \|V\|$")
    right.set_xlabel(r"damping $\lambda$")
    right.set_ylabel("length ratio")
    right.set_title(r"large $\lambda$: the step is $-V/\lambda$")
    for ax in (left, right):
        ax.axvline(damping, color="gray", ls=":", label=rf"$\lambda$ = {damping:.2g}")
        ax.legend()
    figure.tight_layout()
    return figure


def damping_explorer(directions: DampedDirections):
    """A log slider for lambda over the range of ``directions``; redraws :func:`damping_figure`."""
    import ipywidgets

    if not isinstance(directions, DampedDirections):
        raise ValueError(f"directions must be a DampedDirections, got {type(directions).__name__}")
    low, high = np.log10(directions.dampings.min()), np.log10(directions.dampings.max())
    slider = ipywidgets.FloatLogSlider(
        value=10 ** ((low + high) / 2),
        base=10,
        min=low,
        max=high,
        step=0.25,
        description="damping",
        continuous_update=False,
    )

    def draw(damping):
        damping_figure(directions, damping)
        plt.show()

    return ipywidgets.interactive(draw, damping=slider)
