"""Gradient descent: the step that minimises the linear model in a ball."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lecture_lib.optim.base import GradientTransformation, checked_learning_rate, learning_rate_at


class GDState(NamedTuple):
    count: jax.Array  # steps taken so far, the argument of a learning-rate schedule


def gd(learning_rate) -> GradientTransformation:
    r"""Gradient descent.

    .. math::  \theta_{k+1} = \theta_k - \alpha_k \nabla h(\theta_k)

    Args:
      learning_rate: alpha > 0 (finite), or a schedule ``k -> alpha_k``.

    Equivalent to ``optax.sgd(learning_rate)``.
    """
    learning_rate = checked_learning_rate(learning_rate)

    def init(params):
        del params
        return GDState(count=jnp.zeros([], jnp.int32))

    def update(grads, state, params=None):
        del params
        alpha = learning_rate_at(learning_rate, state.count)
        updates = jax.tree_util.tree_map(lambda g: -alpha * g, grads)
        return updates, GDState(count=state.count + 1)

    return GradientTransformation(init, update)
