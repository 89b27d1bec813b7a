"""Polyak averaging: report the average of the iterates, not the last one."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lecture_lib import validation
from lecture_lib.optim.base import GradientTransformation, apply_updates

AVERAGE_KINDS = ("uniform", "exponential")


class PolyakState(NamedTuple):
    inner: object  # the wrapped optimizer's state
    count: jax.Array  # k, steps taken
    average: object  # theta-bar_k


def polyak_average(
    optimizer: GradientTransformation, kind: str = "uniform", decay: float = 0.99
) -> GradientTransformation:
    r"""Wrap ``optimizer`` so its state also carries the averaged iterate.

    uniform:      theta-bar_k = 1/(k+1) sum_{i=0}^{k} theta_i
    exponential:  theta-bar_k = (1 - beta) theta_k + beta theta-bar_{k-1},  theta-bar_0 = theta_0

    The updates are the wrapped optimizer's: the average rides along and is read
    with :func:`averaged_params`. Use it as the outermost transformation.

    Args:
      kind: "uniform" or "exponential". decay: beta in [0, 1) for "exponential".
    """
    if kind not in AVERAGE_KINDS:
        raise ValueError(f"kind must be one of {AVERAGE_KINDS}, got {kind!r}")
    decay = validation.in_interval("decay", decay, 0.0, 1.0)

    def init(params):
        return PolyakState(
            inner=optimizer.init(params), count=jnp.zeros([], jnp.int32), average=params
        )

    def update(grads, state, params=None):
        if params is None:
            raise ValueError("params must be passed to update: Polyak averaging needs the iterates")
        updates, inner = optimizer.update(grads, state.inner, params)
        new_params = apply_updates(params, updates)
        count = state.count + 1
        if kind == "uniform":
            weight = 1.0 / (count + 1).astype(jnp.result_type(float))
        else:
            weight = 1.0 - decay
        average = jax.tree_util.tree_map(
            lambda avg, p: avg + weight * (p - avg), state.average, new_params
        )
        return updates, PolyakState(inner=inner, count=count, average=average)

    return GradientTransformation(init, update)


def averaged_params(state: PolyakState):
    """The averaged iterate theta-bar_k carried by a :func:`polyak_average` state."""
    if not isinstance(state, PolyakState):
        raise ValueError(f"state must come from polyak_average, got {type(state).__name__}")
    return state.average
