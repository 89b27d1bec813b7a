"""Optimizers written from their update rules, in optax's ``init``/``update`` protocol."""

from lecture_lib.optim import schedules
from lecture_lib.optim.adadelta import AdadeltaState, adadelta
from lecture_lib.optim.adagrad import AdagradState, adagrad
from lecture_lib.optim.adam import AdamState, adam, adamw
from lecture_lib.optim.averaging import PolyakState, averaged_params, polyak_average
from lecture_lib.optim.base import (
    ChainState,
    GradientTransformation,
    apply_updates,
    chain,
    learning_rate_at,
)
from lecture_lib.optim.gd import GDState, gd
from lecture_lib.optim.momentum import MomentumState, momentum, nesterov
from lecture_lib.optim.rmsprop import RMSpropState, rmsprop
from lecture_lib.optim.sign import RpropState, SignSGDState, rprop, sign_sgd

__all__ = [
    "AdadeltaState",
    "AdagradState",
    "AdamState",
    "ChainState",
    "GDState",
    "GradientTransformation",
    "MomentumState",
    "PolyakState",
    "RMSpropState",
    "RpropState",
    "SignSGDState",
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "apply_updates",
    "averaged_params",
    "chain",
    "gd",
    "learning_rate_at",
    "momentum",
    "nesterov",
    "polyak_average",
    "rmsprop",
    "rprop",
    "schedules",
    "sign_sgd",
]
