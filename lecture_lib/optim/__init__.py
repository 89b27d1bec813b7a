"""Optimizers written from their update rules (optax-compatible protocol)."""

from lecture_lib.optim.base import (
    ChainState,
    GradientTransformation,
    apply_updates,
    chain,
    learning_rate_at,
)
from lecture_lib.optim.gd import GDState, gd

__all__ = [
    "ChainState",
    "GDState",
    "GradientTransformation",
    "apply_updates",
    "chain",
    "gd",
    "learning_rate_at",
]
