"""RMSprop: divide by a running root-mean-square of recent gradients."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lecture_lib import validation
from lecture_lib.optim.base import GradientTransformation, checked_learning_rate, learning_rate_at


class RMSpropState(NamedTuple):
    count: jax.Array
    mean_square: object  # nu_k, running average of g^2
    mean: object  # m_k, running average of g (used when centered)


def rmsprop(learning_rate, decay: float = 0.9, eps: float = 1e-8, centered: bool = False):
    r"""RMSprop, with eps outside the square root as on the slide.

    .. math::  \nu_k = \rho\,\nu_{k-1} + (1-\rho)\, g_k^2, \qquad
               \theta_{k+1} = \theta_k - \alpha\,\frac{g_k}{\sqrt{\nu_k} + \epsilon}

    ``centered`` divides by the running standard deviation instead,
    sqrt(nu_k - m_k^2) with m_k = rho m_{k-1} + (1-rho) g_k.
    Equivalent to ``optax.rmsprop(learning_rate, decay, eps, eps_in_sqrt=False,
    centered=centered)``.

    Args:
      learning_rate: alpha > 0, or a schedule.
      decay: rho in [0, 1).
      eps: >= 0.
    """
    learning_rate = checked_learning_rate(learning_rate)
    decay = validation.in_interval("decay", decay, 0.0, 1.0)
    eps = validation.nonnegative("eps", eps)
    if not isinstance(centered, bool):
        raise ValueError(f"centered must be True or False, got {centered!r}")

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return RMSpropState(count=jnp.zeros([], jnp.int32), mean_square=zeros, mean=zeros)

    def update(grads, state, params=None):
        del params
        alpha = learning_rate_at(learning_rate, state.count)
        average = lambda old, new: decay * old + (1 - decay) * new  # noqa: E731
        mean_square = jax.tree_util.tree_map(
            lambda n, g: average(n, g**2), state.mean_square, grads
        )
        mean = jax.tree_util.tree_map(average, state.mean, grads) if centered else state.mean

        def step(g, n, m):
            variance = n - m**2 if centered else n
            return -alpha * g / (jnp.sqrt(variance) + eps)

        updates = jax.tree_util.tree_map(step, grads, mean_square, mean)
        return updates, RMSpropState(count=state.count + 1, mean_square=mean_square, mean=mean)

    return GradientTransformation(init, update)
