r"""Nero, the neuronal rotator (Liu, Bernstein et al. 2021, "Learning by Turning").

The perturbation bound of the lecture says that the gradient of a network changes
little as long as every layer changes little *relative to its own size*,

.. math::  \frac{\|\nabla\mathcal L(W+\Delta W) - \nabla\mathcal L(W)\|_F}
                {\|\nabla\mathcal L(W)\|_F}
           \le \prod_{l=1}^L \Big(1 + \frac{\|\Delta W_l\|_F}{\|W_l\|_F}\Big) - 1 .

Nero takes small relative steps per *neuron*, and (with ``constraints``) keeps every
neuron's weight vector centred and on the unit sphere, so that a small relative step
is a rotation by a small angle.

Conventions of this module:

* A "neuron" of a weight leaf is a slice along its **last** axis: for our dense
  layers, stored ``(fan_in, fan_out)``, neuron ``j`` has the weight vector
  ``w[:, j]``. A leaf of rank > 2 (a convolution kernel ``(h, w, in, out)``) is read
  as ``(-1, out)``: all leading axes are the neuron's inputs.
* Leaves of rank <= 1 (biases, gains, scalars) have one "neuron" per element: its
  norm is ``|p_i|``. They are never projected.

``relative_update_sizes`` measures ``||dW|| / ||W||`` per layer, neuron or synapse, to
see what any optimizer does in these relative terms.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lecture_lib import validation
from lecture_lib.optim.base import GradientTransformation, checked_learning_rate, learning_rate_at

#: Scale used for a leaf whose initial mean (neuron) norm is zero, as in the paper.
ZERO_SCALE_FALLBACK = 0.01

GRANULARITIES = ("layer", "neuron", "synapse")


class NeroState(NamedTuple):
    count: jax.Array  # t, the number of updates taken
    second_moment: object  # v_t per neuron: shape (fan_out,) for weights, p.shape for biases
    scale: object  # sigma per leaf (a scalar): the size of the leaf's neurons


def _neuron_sq_norms(x):
    """||x_j||^2 for every neuron j: a sum over all axes but the last; x^2 for rank <= 1."""
    x = jnp.asarray(x)
    if x.ndim <= 1:
        return jnp.square(x)
    return jnp.sum(jnp.square(x), axis=tuple(range(x.ndim - 1)))


def _safe_divide(numerator, denominator):
    """numerator / denominator, and 0 where the denominator is 0 (so 0/0 -> 0)."""
    positive = denominator > 0
    return jnp.where(positive, numerator / jnp.where(positive, denominator, 1), 0)


def _is_constrained(leaf) -> bool:
    return jnp.ndim(leaf) >= 2


def _project_leaf(w):
    """Centre every neuron (mean over its inputs 0) and scale it to norm 1."""
    w = jnp.asarray(w)
    if w.ndim < 2:
        return w
    centred = w - jnp.mean(w, axis=tuple(range(w.ndim - 1)), keepdims=True)
    # A neuron whose weights are all equal centres to 0 and has no direction: it stays 0.
    return _safe_divide(centred, jnp.sqrt(_neuron_sq_norms(centred)))


def nero_project(params):
    r"""Project params onto Nero's constraint set, leaf by leaf.

    Every leaf of rank >= 2 gets each neuron (slice along the last axis) centred and
    normalised, ``w_j <- (w_j - mean(w_j)) / ||w_j - mean(w_j)||``: balanced
    excitation and inhibition, and the hyperspherical constraint. Leaves of rank <= 1
    are returned unchanged. A neuron whose weights are all equal has no direction and
    is mapped to 0.

    ``nero(constraints=True)`` applies this projection itself (see its docstring); call
    it yourself to start from projected params, so that the first gradient is already
    taken on the constraint set: ``params = nero_project(problem.init(key))``.
    """
    return jax.tree_util.tree_map(_project_leaf, params)


def _fan_in(leaf) -> int:
    shape = jnp.shape(leaf)
    size = 1
    for dim in shape[:-1]:
        size *= dim
    return size


def _check_constrainable(params) -> None:
    """A centred unit vector needs at least 2 inputs per neuron."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    for path, leaf in leaves:
        if _is_constrained(leaf) and _fan_in(leaf) < 2:
            raise ValueError(
                f"params{jax.tree_util.keystr(path)} has shape {tuple(jnp.shape(leaf))}: "
                "nero(constraints=True) needs at least 2 inputs per neuron (a centred "
                "vector in one dimension is 0, it has no direction); use constraints=False"
            )


def nero(learning_rate=0.01, beta: float = 0.999, constraints: bool = True):
    r"""Nero: per-neuron relative steps, optionally on centred unit spheres.

    For every neuron j of a leaf, with gradient :math:`g_j` (its slice of the leaf's
    gradient) and the leaf's scale :math:`\sigma`,

    .. math::
        v_{t,j} = \beta\, v_{t-1,j} + (1-\beta)\,\|g_{t,j}\|^2, \qquad
        \hat v_{t,j} = \frac{v_{t,j}}{1-\beta^t},

        w_j \leftarrow w_j - \alpha_t\, \sigma\, \frac{g_{t,j}}{\sqrt{\hat v_{t,j}}},

    and then, with ``constraints``, for leaves of rank >= 2,
    :math:`w_j \leftarrow (w_j - \bar w_j)/\|w_j - \bar w_j\|` (``nero_project``).
    A neuron with :math:`\hat v_{t,j} = 0` (its gradient has always been zero) does
    not move: 0/0 is taken as 0. Leaves of rank <= 1 (biases, gains) use the same rule
    with one "neuron" per element (:math:`\|g_j\| = |g_j|`) and are never projected.

    The scale :math:`\sigma` is fixed at ``init`` and kept in ``NeroState.scale``:

    * weight leaves (rank >= 2) with ``constraints``: :math:`\sigma = 1`, the norm of
      every neuron on the constraint set. Since :math:`\|g_j/\sqrt{\hat v_j}\| \approx 1`
      once the average is warm, each neuron then moves by about :math:`\alpha` relative
      to its norm 1 every step: a rotation by about :math:`\alpha` radians (the paper's
      "half a degree" is :math:`\alpha \approx 0.01`).
    * weight leaves without ``constraints``: :math:`\sigma` = the mean neuron norm of
      the initial params, so each step is again about :math:`\alpha` relative to the
      typical neuron.
    * leaves of rank <= 1: :math:`\sigma` = mean :math:`|p|` over the leaf.

    A :math:`\sigma` that comes out 0 (a zero-initialised leaf, such as our biases) is
    replaced by 0.01.

    **Projection at the start.** Nero's constraints hold from the start, but optax's
    ``init`` cannot change the params. So, with ``constraints``, every update computes

    .. math::  w_{\text{new}} = P\big(P(w) - \alpha_t \sigma\, g / \sqrt{\hat v}\big),

    with P = ``nero_project``, and returns ``w_new - w`` (as every optax transformation,
    an update to *add*). On the constraint set P(w) = w, so from the second step on
    this is the rule above; on the first step from un-projected params it is exactly
    "project at init, then step", and ``apply_updates`` lands on the constraint set.
    The first gradient is then taken at the un-projected params, though: to avoid that,
    start from ``nero_project(params)``.

    Args:
      learning_rate: alpha > 0 (the relative step per neuron), or a schedule.
      beta: decay of the running average of squared neuron-gradient norms, in [0, 1).
      constraints: True or False; whether weight leaves are kept centred on the unit
        sphere. With True, every weight leaf needs at least 2 inputs per neuron.

    ``update`` needs ``params``.
    """
    learning_rate = checked_learning_rate(learning_rate)
    beta = validation.in_interval("beta", beta, 0.0, 1.0)
    if not isinstance(constraints, bool):
        raise ValueError(f"constraints must be True or False, got {constraints!r}")

    def initial_scale(p):
        p = jnp.asarray(p)
        dtype = jnp.result_type(p.dtype, float)
        if constraints and _is_constrained(p):
            return jnp.ones([], dtype)
        mean_norm = jnp.mean(jnp.sqrt(_neuron_sq_norms(p))).astype(dtype)
        return jnp.where(mean_norm > 0, mean_norm, jnp.asarray(ZERO_SCALE_FALLBACK, dtype))

    def init(params):
        if constraints:
            _check_constrainable(params)
        return NeroState(
            count=jnp.zeros([], jnp.int32),
            second_moment=jax.tree_util.tree_map(
                lambda p: jnp.zeros_like(_neuron_sq_norms(p)), params
            ),
            scale=jax.tree_util.tree_map(initial_scale, params),
        )

    def update(grads, state, params=None):
        if params is None:
            raise ValueError("params must be passed to update: nero's steps depend on them")
        alpha = learning_rate_at(learning_rate, state.count)
        count = state.count + 1
        second_moment = jax.tree_util.tree_map(
            lambda v, g: beta * v + (1 - beta) * _neuron_sq_norms(g), state.second_moment, grads
        )
        # Bias correction: v_t starts at zero, so early averages are too small.
        correction = 1 - beta ** count.astype(jnp.result_type(float))

        def new_param(p, g, v, scale):
            project = constraints and _is_constrained(p)
            start = _project_leaf(p) if project else p
            step = alpha * scale * _safe_divide(g, jnp.sqrt(v / correction))
            stepped = start - step
            return _project_leaf(stepped) if project else stepped

        new_params = jax.tree_util.tree_map(new_param, params, grads, second_moment, state.scale)
        updates = jax.tree_util.tree_map(lambda n, p: n - p, new_params, params)
        return updates, NeroState(count=count, second_moment=second_moment, scale=state.scale)

    return GradientTransformation(init, update)


def _check_same_shapes(params, updates) -> None:
    params_structure = jax.tree_util.tree_structure(params)
    updates_structure = jax.tree_util.tree_structure(updates)
    if params_structure != updates_structure:
        raise ValueError(
            "updates must have the same structure as params, got "
            f"{updates_structure} for params {params_structure}"
        )
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    for (path, p), u in zip(leaves, jax.tree_util.tree_leaves(updates), strict=True):
        if jnp.shape(p) != jnp.shape(u):
            raise ValueError(
                f"updates{jax.tree_util.keystr(path)} must have the shape of the params, "
                f"{tuple(jnp.shape(p))}, got {tuple(jnp.shape(u))}"
            )


def _ratio(numerator, denominator):
    """numerator / denominator, with x/0 = inf for x > 0 and 0/0 = 0."""
    zero = denominator == 0
    ratio = numerator / jnp.where(zero, 1, denominator)
    return jnp.where(zero, jnp.where(numerator > 0, jnp.inf, 0.0), ratio)


def relative_update_sizes(params, updates, granularity: str = "layer"):
    r"""The relative size ||dW|| / ||W|| of an update, per layer, neuron or synapse.

    For each leaf W of ``params`` and its update dW (the same pytree structure):

    * ``"layer"``: :math:`\|\Delta W\|_F / \|W\|_F`, a scalar per leaf (the factor in
      the perturbation bound).
    * ``"neuron"``: :math:`\|\Delta w_j\| / \|w_j\|` for every neuron j, the slices along
      the last axis (shape ``(fan_out,)`` for our ``(fan_in, fan_out)`` weights); a leaf
      of rank <= 1 has one neuron per element.
    * ``"synapse"``: :math:`|\Delta W_{ij}| / |W_{ij}|` elementwise, the shape of W.

    Returns a pytree like ``params`` with these arrays. A zero denominator gives
    ``inf`` (or 0 where the update is zero too): a zero bias that moves at all moves by
    an infinite relative amount.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    _check_same_shapes(params, updates)

    def size(p, u):
        if granularity == "layer":
            return _ratio(jnp.linalg.norm(jnp.ravel(u)), jnp.linalg.norm(jnp.ravel(p)))
        if granularity == "neuron":
            return _ratio(jnp.sqrt(_neuron_sq_norms(u)), jnp.sqrt(_neuron_sq_norms(p)))
        return _ratio(jnp.abs(u), jnp.abs(p))

    return jax.tree_util.tree_map(size, params, updates)
