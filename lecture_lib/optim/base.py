"""The optimizer protocol shared with optax.

An optimizer is a pair of pure functions (as in optax):

    state = init(params)
    updates, state = update(grads, state, params)
    params = apply_updates(params, updates)

``updates`` are already negated (they are what gets *added* to the parameters),
so our optimizers compose with optax's and can be checked against them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lecture_lib import validation


class GradientTransformation(NamedTuple):
    """``init(params) -> state`` and ``update(grads, state, params=None) -> (updates, state)``."""

    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


def apply_updates(params, updates):
    """theta_{k+1} = theta_k + u_k, leaf by leaf, keeping each parameter's dtype."""
    return jax.tree_util.tree_map(
        lambda p, u: (p + u).astype(jnp.asarray(p).dtype), params, updates
    )


class ChainState(NamedTuple):
    inner_states: tuple


def chain(*transformations: GradientTransformation) -> GradientTransformation:
    """Apply transformations in sequence: the updates of one are the gradients of the next."""
    if not transformations:
        raise ValueError("chain needs at least one transformation, got none")
    for index, transformation in enumerate(transformations):
        if not (hasattr(transformation, "init") and hasattr(transformation, "update")):
            raise ValueError(
                f"transformations[{index}] must be a GradientTransformation, got {transformation!r}"
            )

    def init(params):
        return ChainState(tuple(t.init(params) for t in transformations))

    def update(grads, state, params=None):
        new_states = []
        for transformation, inner in zip(transformations, state.inner_states, strict=True):
            grads, inner = transformation.update(grads, inner, params)
            new_states.append(inner)
        return grads, ChainState(tuple(new_states))

    return GradientTransformation(init, update)


def learning_rate_at(learning_rate, count):
    """The learning rate for step ``count``: a constant, or a schedule evaluated at ``count``."""
    if callable(learning_rate):
        return learning_rate(count)
    return learning_rate


def checked_learning_rate(learning_rate):
    """Validate a learning rate (finite number > 0, or a schedule) before any work."""
    return validation.learning_rate(learning_rate)


class SecondOrderMethod(NamedTuple):
    """A method that needs more than a gradient (Newton, trust regions, natural gradient...).

    It is built for one ``Problem`` and exposes ``init(params) -> state`` and
    ``step(params, state, batch, key) -> (params, state, info)``: one whole step,
    which evaluates the loss, its gradient and a curvature matrix on ``batch``
    (``None`` for analytic problems), and ``info`` a dict of scalar arrays with the
    same keys at every step (damping, reduction ratio, step norm...). ``key`` is
    fresh for every step, for methods that sample (a sampled Fisher).
    """

    init: Callable[[Any], Any]
    step: Callable[..., tuple[Any, Any, dict]]
