"""Adam and AdamW: momentum on the gradient, RMSprop on its scale, both debiased."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lecture_lib import validation
from lecture_lib.optim.base import GradientTransformation, checked_learning_rate, learning_rate_at


class AdamState(NamedTuple):
    count: jax.Array
    mu: object  # m_k, running average of g
    nu: object  # v_k, running average of g^2


def _adam(learning_rate, b1, b2, eps, weight_decay) -> GradientTransformation:
    learning_rate = checked_learning_rate(learning_rate)
    b1 = validation.in_interval("b1", b1, 0.0, 1.0)
    b2 = validation.in_interval("b2", b2, 0.0, 1.0)
    eps = validation.nonnegative("eps", eps)
    weight_decay = validation.nonnegative("weight_decay", weight_decay)

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return AdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update(grads, state, params=None):
        if weight_decay and params is None:
            raise ValueError("params must be passed to update: adamw's weight decay needs them")
        alpha = learning_rate_at(learning_rate, state.count)
        count = state.count + 1
        mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
        nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g**2, state.nu, grads)
        # Bias correction: m_k and v_k start at zero, so early averages are too small.
        mu_correction = 1 - b1 ** count.astype(jnp.result_type(float))
        nu_correction = 1 - b2 ** count.astype(jnp.result_type(float))

        updates = jax.tree_util.tree_map(
            lambda m, v: -alpha * (m / mu_correction) / (jnp.sqrt(v / nu_correction) + eps), mu, nu
        )
        if weight_decay:
            updates = jax.tree_util.tree_map(
                lambda u, p: u - alpha * weight_decay * p, updates, params
            )
        return updates, AdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


def adam(learning_rate=1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    r"""Adam with bias correction.

    .. math::
        m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k, \qquad
        v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k^2,

        \theta_{k+1} = \theta_k
            - \alpha\,\frac{m_k/(1-\beta_1^k)}{\sqrt{v_k/(1-\beta_2^k)} + \epsilon}

    Equivalent to ``optax.adam(learning_rate, b1, b2, eps)``.

    Args:
      learning_rate: alpha > 0, or a schedule. b1, b2: decays in [0, 1). eps: >= 0.
    """
    return _adam(learning_rate, b1, b2, eps, 0.0)


def adamw(
    learning_rate=1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay=1e-4
):
    r"""AdamW: Adam plus decoupled weight decay, scaled by the learning rate.

    .. math::  \theta_{k+1} = \theta_k - \alpha \left(\frac{\hat m_k}{\sqrt{\hat v_k}+\epsilon}
               + \lambda\,\theta_k\right)

    Equivalent to ``optax.adamw(learning_rate, b1, b2, eps, weight_decay=weight_decay)``.
    """
    return _adam(learning_rate, b1, b2, eps, weight_decay)
