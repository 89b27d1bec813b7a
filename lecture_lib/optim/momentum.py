"""Momentum: the heavy ball and Nesterov's look-ahead variant."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lecture_lib import validation
from lecture_lib.optim.base import GradientTransformation, checked_learning_rate, learning_rate_at


class MomentumState(NamedTuple):
    count: jax.Array
    velocity: object  # v_k, a pytree like the parameters


def _momentum(learning_rate, beta: float, look_ahead: bool) -> GradientTransformation:
    learning_rate = checked_learning_rate(learning_rate)
    beta = validation.in_interval("beta", beta, 0.0, 1.0)

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return MomentumState(count=jnp.zeros([], jnp.int32), velocity=zeros)

    def update(grads, state, params=None):
        del params
        alpha = learning_rate_at(learning_rate, state.count)
        velocity = jax.tree_util.tree_map(lambda v, g: beta * v + g, state.velocity, grads)
        if look_ahead:
            direction = jax.tree_util.tree_map(lambda g, v: g + beta * v, grads, velocity)
        else:
            direction = velocity
        updates = jax.tree_util.tree_map(lambda d: -alpha * d, direction)
        return updates, MomentumState(count=state.count + 1, velocity=velocity)

    return GradientTransformation(init, update)


def momentum(learning_rate, beta: float = 0.9) -> GradientTransformation:
    r"""Heavy-ball momentum.

    .. math::  v_{k+1} = \beta v_k + \nabla h(\theta_k), \qquad
               \theta_{k+1} = \theta_k - \alpha v_{k+1}

    The lecture's form v' = eta v - grad, theta' = theta + alpha v' is the same
    method with v' = -v. Equivalent to ``optax.sgd(learning_rate, momentum=beta)``.

    Args:
      learning_rate: alpha > 0, or a schedule.
      beta: momentum constant in [0, 1); beta = 0 is gradient descent.
    """
    return _momentum(learning_rate, beta, look_ahead=False)


def nesterov(learning_rate, beta: float = 0.9) -> GradientTransformation:
    r"""Nesterov momentum, in the form that needs only the gradient at theta_k.

    .. math::  v_{k+1} = \beta v_k + \nabla h(\theta_k), \qquad
               \theta_{k+1} = \theta_k - \alpha\,(\nabla h(\theta_k) + \beta v_{k+1})

    Its iterates are the look-ahead points theta + alpha*eta*v of the lecture's
    form v' = eta v - grad h(theta + alpha eta v). Equivalent to
    ``optax.sgd(learning_rate, momentum=beta, nesterov=True)``.
    """
    return _momentum(learning_rate, beta, look_ahead=True)
