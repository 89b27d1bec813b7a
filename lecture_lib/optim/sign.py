"""Sign-based methods: signSGD and Rprop use only the sign of each gradient entry."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lecture_lib import validation
from lecture_lib.optim.base import GradientTransformation, checked_learning_rate, learning_rate_at


class SignSGDState(NamedTuple):
    count: jax.Array


def sign_sgd(learning_rate) -> GradientTransformation:
    r"""signSGD: every coordinate moves by the same amount, alpha.

    .. math::  \theta_{k+1} = \theta_k - \alpha\,\mathrm{sign}(\nabla h(\theta_k))
    """
    learning_rate = checked_learning_rate(learning_rate)

    def init(params):
        del params
        return SignSGDState(count=jnp.zeros([], jnp.int32))

    def update(grads, state, params=None):
        del params
        alpha = learning_rate_at(learning_rate, state.count)
        updates = jax.tree_util.tree_map(lambda g: -alpha * jnp.sign(g), grads)
        return updates, SignSGDState(count=state.count + 1)

    return GradientTransformation(init, update)


class RpropState(NamedTuple):
    step_size: object  # per-coordinate step Delta_i
    previous_grads: object  # g_{k-1}, zeroed where the last step was skipped


def rprop(
    learning_rate,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step: float = 1e-6,
    max_step: float = 50.0,
) -> GradientTransformation:
    r"""iRprop-: per-coordinate steps that grow while the gradient sign holds.

    For each coordinate, with s = g_k * g_{k-1}:

    - s > 0: Delta = min(eta_plus * Delta, max_step), step -Delta sign(g_k);
    - s < 0: Delta = max(eta_minus * Delta, min_step), no step, and g_k is
      forgotten (set to 0) so the next step counts as s = 0;
    - s = 0: keep Delta, step -Delta sign(g_k).

    Args:
      learning_rate: the initial step Delta_0 > 0 of every coordinate: a number, or a
        schedule, read once at step 0 (so that sweeps can trace it).
      eta_minus: shrink factor in (0, 1). eta_plus: growth factor > 1.
      min_step, max_step: 0 <= min_step <= max_step bounds on Delta.
    """
    learning_rate = checked_learning_rate(learning_rate)
    eta_minus = validation.in_interval("eta_minus", eta_minus, 0.0, 1.0)
    if eta_minus == 0.0:
        raise ValueError("eta_minus must be in (0, 1), got 0.0")
    eta_plus = validation.at_least("eta_plus", eta_plus, 1.0)
    min_step = validation.nonnegative("min_step", min_step)
    max_step = validation.positive("max_step", max_step)
    if min_step > max_step:
        raise ValueError(f"min_step must be in [0, max_step={max_step}], got {min_step}")

    def init(params):
        initial_step = learning_rate_at(learning_rate, 0)
        return RpropState(
            step_size=jax.tree_util.tree_map(
                lambda p: jnp.full_like(p, 1.0) * jnp.asarray(initial_step, jnp.asarray(p).dtype),
                params,
            ),
            previous_grads=jax.tree_util.tree_map(jnp.zeros_like, params),
        )

    def per_coordinate(g, previous, step_size):
        agreement = g * previous
        step_size = jnp.where(
            agreement > 0,
            jnp.minimum(step_size * eta_plus, max_step),
            jnp.where(agreement < 0, jnp.maximum(step_size * eta_minus, min_step), step_size),
        )
        g = jnp.where(agreement < 0, 0.0, g)
        return -step_size * jnp.sign(g), g, step_size

    def update(grads, state, params=None):
        del params
        results = jax.tree_util.tree_map(
            per_coordinate, grads, state.previous_grads, state.step_size
        )
        treedef = jax.tree_util.tree_structure(grads)
        updates, remembered, step_size = (
            jax.tree_util.tree_unflatten(treedef, parts)
            for parts in zip(*treedef.flatten_up_to(results), strict=True)
        )
        return updates, RpropState(step_size=step_size, previous_grads=remembered)

    return GradientTransformation(init, update)
