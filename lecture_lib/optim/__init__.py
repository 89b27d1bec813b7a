"""Optimizers written from their update rules, in optax's ``init``/``update`` protocol.

Methods that need more than a gradient (Newton, trust regions, cubic regularisation,
Gauss-Newton, natural gradient, Hessian-free) are ``SecondOrderMethod``s instead:
built for one ``Problem``, with ``init(params)`` and ``step(params, state, batch, key)``.
"""

from lecture_lib.optim import schedules
from lecture_lib.optim.adadelta import AdadeltaState, adadelta
from lecture_lib.optim.adagrad import AdagradState, adagrad
from lecture_lib.optim.adam import AdamState, adam, adamw
from lecture_lib.optim.averaging import PolyakState, averaged_params, polyak_average
from lecture_lib.optim.base import (
    ChainState,
    GradientTransformation,
    SecondOrderMethod,
    apply_updates,
    chain,
    learning_rate_at,
)
from lecture_lib.optim.gd import GDState, gd
from lecture_lib.optim.kfac import KFACState, kfac, kfac_block, kfac_factors, kfac_matrix
from lecture_lib.optim.momentum import MomentumState, momentum, nesterov
from lecture_lib.optim.nero import NeroState, nero, nero_project
from lecture_lib.optim.newton import (
    DampedState,
    HessianFreeState,
    damped_newton,
    gauss_newton,
    hessian_free,
    levenberg_marquardt,
    natural_gradient,
    newton,
    reduction_ratio,
    truncated_cg,
)
from lecture_lib.optim.rmsprop import RMSpropState, rmsprop
from lecture_lib.optim.sign import RpropState, SignSGDState, rprop, sign_sgd
from lecture_lib.optim.trust_region import (
    CubicState,
    TrustRegionState,
    cubic_regularization,
    solve_cubic_subproblem,
    solve_trust_region_subproblem,
    trust_region,
)

__all__ = [
    "AdadeltaState",
    "AdagradState",
    "AdamState",
    "ChainState",
    "CubicState",
    "DampedState",
    "GDState",
    "GradientTransformation",
    "HessianFreeState",
    "KFACState",
    "MomentumState",
    "NeroState",
    "PolyakState",
    "RMSpropState",
    "RpropState",
    "SecondOrderMethod",
    "SignSGDState",
    "TrustRegionState",
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "apply_updates",
    "averaged_params",
    "chain",
    "cubic_regularization",
    "damped_newton",
    "gauss_newton",
    "gd",
    "hessian_free",
    "kfac",
    "kfac_block",
    "kfac_factors",
    "kfac_matrix",
    "learning_rate_at",
    "levenberg_marquardt",
    "momentum",
    "natural_gradient",
    "nero",
    "nero_project",
    "nesterov",
    "newton",
    "polyak_average",
    "reduction_ratio",
    "rmsprop",
    "rprop",
    "schedules",
    "sign_sgd",
    "solve_cubic_subproblem",
    "solve_trust_region_subproblem",
    "truncated_cg",
    "trust_region",
]
