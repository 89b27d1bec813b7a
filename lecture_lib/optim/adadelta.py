"""Adadelta: a step with the units of the parameters, and no step length to tune."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib import validation
from lecture_lib.optim.base import GradientTransformation, checked_learning_rate, learning_rate_at


class AdadeltaState(NamedTuple):
    count: jax.Array
    mean_square_grad: object  # E[g^2]_k
    mean_square_step: object  # E[dx^2]_{k-1}


def adadelta(rho: float = 0.9, eps: float = 1e-6, learning_rate=1.0) -> GradientTransformation:
    r"""Adadelta (Zeiler, 2012).

    .. math::
        E[g^2]_k = \rho E[g^2]_{k-1} + (1-\rho) g_k^2, \qquad
        \Delta_k = -\frac{\sqrt{E[\Delta^2]_{k-1} + \epsilon}}{\sqrt{E[g^2]_k + \epsilon}}\, g_k,

        E[\Delta^2]_k = \rho E[\Delta^2]_{k-1} + (1-\rho) \Delta_k^2, \qquad
        \theta_{k+1} = \theta_k + \alpha \Delta_k.

    The ratio RMS[Delta]/RMS[g] carries the units of theta / (units of g), so
    Delta has the units of theta (Zeiler's units argument). Zeiler's rule is
    alpha = 1; ``optax.adadelta(learning_rate=1.0, rho, eps)`` is the same method
    (optax's default learning rate of None would not descend).

    Args:
      rho: decay in [0, 1). eps: > 0 (it also sets the size of the first steps).
      learning_rate: alpha > 0 scaling Delta, or a schedule.
    """
    rho = validation.in_interval("rho", rho, 0.0, 1.0)
    eps = validation.positive("eps", eps)
    return adadelta_with_epsilons(rho, eps, eps, checked_learning_rate(learning_rate))


def adadelta_with_epsilons(rho: float, eps_step, eps_grad, learning_rate) -> GradientTransformation:
    r"""Adadelta's rule with separate epsilons in the numerator (step units) and the
    denominator (gradient units); arguments already checked.

    Each epsilon is a number, an array broadcastable to every parameter leaf, or a pytree
    like the parameters. :func:`adadelta` is the case eps_step = eps_grad.
    """

    def per_leaf(value, grads):
        if isinstance(value, int | float | np.ndarray | jax.Array):
            return jax.tree_util.tree_map(lambda g: jnp.asarray(value, g.dtype), grads)
        return jax.tree_util.tree_map(lambda g, e: jnp.asarray(e, g.dtype), grads, value)

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return AdadeltaState(
            count=jnp.zeros([], jnp.int32), mean_square_grad=zeros, mean_square_step=zeros
        )

    def update(grads, state, params=None):
        del params
        alpha = learning_rate_at(learning_rate, state.count)
        mean_square_grad = jax.tree_util.tree_map(
            lambda e, g: rho * e + (1 - rho) * g**2, state.mean_square_grad, grads
        )
        deltas = jax.tree_util.tree_map(
            lambda g, eg, ex, e_step, e_grad: -jnp.sqrt(ex + e_step) / jnp.sqrt(eg + e_grad) * g,
            grads,
            mean_square_grad,
            state.mean_square_step,
            per_leaf(eps_step, grads),
            per_leaf(eps_grad, grads),
        )
        mean_square_step = jax.tree_util.tree_map(
            lambda e, d: rho * e + (1 - rho) * d**2, state.mean_square_step, deltas
        )
        updates = jax.tree_util.tree_map(lambda d: alpha * d, deltas)
        new_state = AdadeltaState(
            count=state.count + 1,
            mean_square_grad=mean_square_grad,
            mean_square_step=mean_square_step,
        )
        return updates, new_state

    return GradientTransformation(init, update)
