"""Run an optimizer on a problem, compiled end to end with ``jax.lax.scan``."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from lecture_lib import validation
from lecture_lib.data import minibatch_indices
from lecture_lib.optim.averaging import PolyakState
from lecture_lib.optim.base import GradientTransformation, SecondOrderMethod, apply_updates
from lecture_lib.problems import Problem


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """What happened during a run, recorded at the iterates theta_0, theta_1, ...

    Attributes:
      loss: full-batch h(theta_k) for k = 0..steps, or up to the divergence.
      grad_norm: full-batch ||grad h(theta_k)|| at the same iterates.
      iterates: the iterates, shape (len(loss), 2), for problems of dimension 2; else None.
      final_params: the last finite iterate.
      diverged: True when an iterate, its loss or its gradient became NaN or inf.
      diverged_at: the first step k whose iterate was non-finite (recording stops there).
      steps: the number of steps asked for.
      average_loss: for an optimizer wrapped in ``polyak_average``, the full-batch
        loss of the averaged iterate theta-bar_k at every step; else None.
      info: for a ``SecondOrderMethod``, its per-step ``info`` (damping, reduction
        ratio, step norm...), one array per key; else None. Entry k describes the step
        from theta_k to theta_{k+1} (the values it used, and whether it was accepted),
        so each array has ``len(loss) - 1`` entries: ``steps`` for a finite run, and
        for a diverged one only the steps between finite iterates (the step that
        produced the first non-finite iterate is dropped with it).
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    iterates: np.ndarray | None
    final_params: object
    diverged: bool
    diverged_at: int | None
    steps: int
    average_loss: np.ndarray | None = None
    info: dict[str, np.ndarray] | None = None
    seconds: float | None = None

    def gap(self, optimal_loss: float) -> np.ndarray:
        """h(theta_k) - h*."""
        return self.loss - optimal_loss

    def __repr__(self) -> str:
        status = f"diverged at step {self.diverged_at}" if self.diverged else "finite"
        return (
            f"Trajectory(steps={self.steps}, recorded={len(self.loss)}, {status}, "
            f"final loss={self.loss[-1]:.6g})"
            if len(self.loss)
            else f"Trajectory(steps={self.steps}, {status} at the start)"
        )


def _all_finite(tree) -> jax.Array:
    return jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)])
    )


def global_norm(tree) -> jax.Array:
    """sqrt(sum of squares) over every leaf of a pytree."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(tree)))


def run(
    optimizer: GradientTransformation | SecondOrderMethod,
    problem: Problem,
    steps: int,
    key: jax.Array,
    batch_size: int | None = None,
    params=None,
) -> Trajectory:
    """Take ``steps`` optimizer steps on ``problem``; record loss and gradient norm.

    Args:
      optimizer: a ``GradientTransformation`` (ours or optax's), or a
        ``SecondOrderMethod`` built for this ``problem`` (Newton, trust region...).
      problem: the objective.
      steps: number of update steps, >= 1.
      key: PRNG key; split into the initialisation key and the minibatch key.
      batch_size: ``None`` for full-batch gradients; otherwise minibatches of this
        size drawn epoch by epoch without replacement (data problems only).
      params: start here instead of ``problem.init(key)``.

    Loss and gradient norm are always measured on the full training batch, so runs
    with different batch sizes are compared on the same objective. When an iterate
    turns NaN or inf, the run freezes, and the trajectory stops at the last finite
    iterate with ``diverged=True``.

    A ``SecondOrderMethod`` takes whole steps ``method.step(theta, state, batch, key)``
    on the full batch ``problem.data`` (``None`` for analytic problems) or on the
    minibatch ``(x[idx], y[idx])``, with a fresh key per step (``fold_in`` of the step
    number into a key split off ``key``); its ``info`` is recorded in
    ``Trajectory.info``.
    """
    second_order = isinstance(optimizer, SecondOrderMethod)
    if not second_order and not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise ValueError(
            f"optimizer must be a GradientTransformation or a SecondOrderMethod, got {optimizer!r}"
        )
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lecture_lib Problem, got {problem!r}")
    steps = validation.positive_int("steps", steps)
    init_key, batch_key = jax.random.split(key)
    # Split off the minibatch key, so that minibatches stay those of first-order runs.
    method_key = jax.random.split(batch_key)[1]
    start = problem.init(init_key) if params is None else params
    flat_start, _ = ravel_pytree(start)
    record_iterates = flat_start.size == 2
    state_start = optimizer.init(start)
    averaging = isinstance(state_start, PolyakState)

    if batch_size is None:
        batch_xs = jnp.zeros((steps, 0), jnp.int32)
    else:
        if problem.data is None:
            raise ValueError(f"batch_size needs a data problem; {problem.name!r} has no data")
        batch_xs = minibatch_indices(batch_key, problem.num_examples, batch_size, steps)

    value_and_grad = jax.value_and_grad(problem.loss)
    full_batch = problem.data

    def measure(theta):
        loss, grads = value_and_grad(theta, full_batch)
        grad_norm = global_norm(grads)
        finite = _all_finite(theta) & jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        return loss, grads, grad_norm, finite

    def average_loss(state):
        return problem.loss(state.average, full_batch) if averaging else jnp.zeros([])

    def step_batch(batch_index):
        if batch_size is None:
            return full_batch
        x, y = full_batch
        return x[batch_index], y[batch_index]

    def body(carry, xs):
        step_number, batch_index = xs
        theta, state, last_finite, alive = carry
        loss, grads, grad_norm, finite = measure(theta)
        averaged = average_loss(state)
        alive = alive & finite
        if second_order:
            step_key = jax.random.fold_in(method_key, step_number)
            new_theta, new_state, info = optimizer.step(
                theta, state, step_batch(batch_index), step_key
            )
        else:
            if batch_size is not None:
                grads = jax.grad(problem.loss)(theta, step_batch(batch_index))
            updates, new_state = optimizer.update(grads, state, theta)
            new_theta = apply_updates(theta, updates)
            info = {}
        keep = lambda new, old: jax.tree_util.tree_map(  # noqa: E731
            lambda a, b: jnp.where(alive, a, b), new, old
        )
        last_finite = keep(theta, last_finite)
        iterate = ravel_pytree(theta)[0] if record_iterates else jnp.zeros(0)
        record = (loss, grad_norm, iterate, averaged, alive)
        return (keep(new_theta, theta), keep(new_state, state), last_finite, alive), (record, info)

    @jax.jit
    def scan(theta0, state0, xs):
        carry = (theta0, state0, theta0, jnp.array(True))
        (theta, state, last_finite, alive), (records, infos) = jax.lax.scan(body, carry, xs)
        loss, _, grad_norm, finite = measure(theta)
        alive_end = alive & finite
        last_finite = jax.tree_util.tree_map(
            lambda a, b: jnp.where(alive_end, a, b), theta, last_finite
        )
        iterate = ravel_pytree(theta)[0] if record_iterates else jnp.zeros(0)
        final = (loss, grad_norm, iterate, average_loss(state), alive_end)
        records = jax.tree_util.tree_map(lambda r, f: jnp.concatenate([r, f[None]]), records, final)
        return last_finite, records, infos

    step_numbers = jnp.arange(steps)
    # Compiled ahead of time, so that the clock measures the run alone.
    compiled = scan.lower(start, state_start, (step_numbers, batch_xs)).compile()
    started = time.perf_counter()
    last_finite, records, infos = jax.block_until_ready(
        compiled(start, state_start, (step_numbers, batch_xs))
    )
    seconds = time.perf_counter() - started
    loss, grad_norm, iterates, averaged, alive = records
    alive = np.asarray(alive)
    recorded = int(alive.sum())
    diverged = recorded < steps + 1
    info = None
    if second_order:
        # Step k joins theta_k and theta_{k+1}: keep those between recorded iterates.
        taken = max(recorded - 1, 0)
        info = {name: np.asarray(values)[:taken] for name, values in infos.items()}
    return Trajectory(
        loss=np.asarray(loss)[:recorded],
        grad_norm=np.asarray(grad_norm)[:recorded],
        iterates=np.asarray(iterates)[:recorded] if record_iterates else None,
        final_params=last_finite,
        diverged=diverged,
        diverged_at=recorded if diverged else None,
        steps=steps,
        average_loss=np.asarray(averaged)[:recorded] if averaging else None,
        info=info,
        seconds=seconds,
    )


def compare(
    optimizers: Mapping[str, GradientTransformation | SecondOrderMethod],
    problem: Problem,
    steps: int,
    key: jax.Array,
    batch_size: int | None = None,
    params=None,
) -> dict[str, Trajectory]:
    """Run several optimizers from the same start on the same minibatches.

    Gradient transformations and second-order methods (built for ``problem``) mix freely.
    """
    if not optimizers:
        raise ValueError("optimizers must name at least one optimizer, got an empty mapping")
    return {
        name: run(optimizer, problem, steps, key, batch_size=batch_size, params=params)
        for name, optimizer in optimizers.items()
    }
