"""Adagrad: per-coordinate steps shrink with the sum of all past squared gradients."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lecture_lib import validation
from lecture_lib.optim.base import GradientTransformation, checked_learning_rate, learning_rate_at


class AdagradState(NamedTuple):
    count: jax.Array
    sum_of_squares: object  # G_k = G_0 + sum_j g_j^2, per coordinate


def adagrad(learning_rate, initial_accumulator_value: float = 0.1, eps: float = 1e-7):
    r"""Adagrad.

    .. math::  G_k = G_{k-1} + g_k^2, \qquad
               \theta_{k+1} = \theta_k - \alpha\, \frac{g_k}{\sqrt{G_k + \epsilon}}

    with G_0 = ``initial_accumulator_value`` (as in ``optax.adagrad``, eps sits
    inside the square root).

    Args:
      learning_rate: alpha > 0, or a schedule.
      initial_accumulator_value: G_0 >= 0.
      eps: >= 0, keeps the denominator away from zero.
    """
    learning_rate = checked_learning_rate(learning_rate)
    initial = validation.nonnegative("initial_accumulator_value", initial_accumulator_value)
    eps = validation.nonnegative("eps", eps)

    def init(params):
        return AdagradState(
            count=jnp.zeros([], jnp.int32),
            sum_of_squares=jax.tree_util.tree_map(lambda p: jnp.full_like(p, initial), params),
        )

    def update(grads, state, params=None):
        del params
        alpha = learning_rate_at(learning_rate, state.count)
        sum_of_squares = jax.tree_util.tree_map(lambda s, g: s + g**2, state.sum_of_squares, grads)
        updates = jax.tree_util.tree_map(
            lambda g, s: -alpha * g / jnp.sqrt(s + eps), grads, sum_of_squares
        )
        return updates, AdagradState(count=state.count + 1, sum_of_squares=sum_of_squares)

    return GradientTransformation(init, update)
