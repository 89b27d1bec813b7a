r"""Trust regions and cubic regularisation: Newton steps that stay where the model is good.

Both minimise a model of h around theta_k *exactly*, for small problems, through the
eigendecomposition H = Q diag(e) Q^T of the (possibly indefinite) Hessian. In the
eigenbasis, with g-hat = Q^T g, the shifted step

.. math::  d(\lambda) = -(H + \lambda I)^{-1} g, \qquad
           \|d(\lambda)\|^2 = \sum_i \frac{\hat g_i^2}{(e_i + \lambda)^2},

has a norm that falls monotonically for lambda > -e_min, so each subproblem reduces to
one scalar equation in lambda, solved by bisection inside ``lax.fori_loop``:

- trust region: ||d(lambda)|| = radius (Moré & Sorensen 1983);
- cubic regularisation: ||d(lambda)|| = lambda / sigma (Nesterov & Polyak 2006).

Both need lambda >= max(0, -e_min), so H + lambda I is positive semi-definite: that is
what makes the step a *global* minimiser of the model and what lets these methods walk
away from saddle points that Newton's method converges to.

**The hard case.** When g has no component along the bottom eigenvector q_1 (g-hat_1 = 0,
to rounding) the pole at lambda = -e_min disappears, and ||d(lambda)|| may stay below
its target even there. Then lambda = max(0, -e_min) and the missing length comes from
q_1 itself, along which the model is flat to first order and curves down:
d = d_perp + tau q_1 with d_perp the step in the other eigendirections and tau chosen
so that ||d|| reaches the target (the radius; ||d|| = lambda / sigma for the cubic).
The sign of tau is that of -g-hat_1 (+ for an exact zero): both signs give the same
model value. At an exact saddle (g = 0) this is the step along the negative curvature.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from lecture_lib import curvature, validation
from lecture_lib.optim.base import SecondOrderMethod
from lecture_lib.optim.newton import (
    _CEILING,
    _FLOOR,
    _check_flag,
    _check_problem,
    _tree_where,
    reduction_ratio,
)
from lecture_lib.problems import Problem

_BISECTIONS = 150  # halvings of the bracket: enough to pin lambda to rounding in float64


class TrustRegionState(NamedTuple):
    radius: jax.Array  # Delta_k


class CubicState(NamedTuple):
    sigma: jax.Array  # sigma_k (fixed unless adapt=True)


# --------------------------------------------------------------------------- subproblems


class _EigenFrame(NamedTuple):
    vectors: jax.Array  # Q, eigenvectors in columns, eigenvalues ascending
    ghat: jax.Array  # Q^T g
    shifted: jax.Array  # e_i + lambda_low >= 0, with lambda_low = max(0, -e_min)
    lambda_low: jax.Array
    negative: jax.Array  # e_min < 0 (beyond rounding): there is a direction of descent curvature
    hard: jax.Array  # g-hat vanishes on the bottom eigenspace (to rounding)
    perp: jax.Array  # the step at lambda_low without the bottom eigenspace, in the eigenbasis


def _check_subproblem(gradient, hessian, name: str, value) -> None:
    """Shapes always; the radius / sigma only when it is a Python number (not traced)."""
    if jnp.ndim(gradient) != 1 or jnp.shape(hessian) != (jnp.size(gradient),) * 2:
        raise ValueError(
            "gradient must be a vector (n,) and hessian a matrix (n, n), got "
            f"{jnp.shape(gradient)} and {jnp.shape(hessian)}"
        )
    if isinstance(value, int | float):
        validation.positive(name, value)


def _eigen_frame(gradient, hessian) -> _EigenFrame:
    hessian = 0.5 * (hessian + hessian.T)  # eigh reads one triangle; make both agree
    eigenvalues, vectors = jnp.linalg.eigh(hessian)
    ghat = vectors.T @ gradient
    lambda_low = jnp.maximum(0.0, -eigenvalues[0])
    shifted = jnp.maximum(eigenvalues + lambda_low, 0.0)
    eps = jnp.finfo(gradient.dtype).eps
    size = gradient.size
    # Eigenvalues are known to about eps ||H||: within that, one counts as the bottom one.
    eigen_tolerance = 10 * size * eps * jnp.max(jnp.abs(eigenvalues))
    bottom = shifted <= eigen_tolerance
    bottom_gradient = jnp.linalg.norm(jnp.where(bottom, ghat, 0.0))
    hard = bottom_gradient <= 10 * size * eps * jnp.linalg.norm(gradient)
    perp = jnp.where(bottom, 0.0, -ghat / jnp.where(bottom, 1.0, shifted))
    negative = eigenvalues[0] < -eigen_tolerance
    return _EigenFrame(vectors, ghat, shifted, lambda_low, negative, hard, perp)


def _bisect(decreasing, upper):
    """The root of a decreasing function on [0, upper], from above: f(result) <= 0."""

    def halve(_, bracket):
        low, high = bracket
        middle = 0.5 * (low + high)
        above = decreasing(middle) > 0
        return jnp.where(above, middle, low), jnp.where(above, high, middle)

    _, high = jax.lax.fori_loop(0, _BISECTIONS, halve, (jnp.zeros_like(upper), upper))
    return high


def _hard_case_step(frame: _EigenFrame, length):
    """d_perp + tau q_1 with ||d|| = length when H has negative curvature, else d_perp."""
    perp_norm = jnp.linalg.norm(frame.perp)
    tau = jnp.sqrt(jnp.maximum(length**2 - perp_norm**2, 0.0))
    sign = jnp.where(frame.ghat[0] > 0, -1.0, 1.0)
    bottom_unit = jnp.zeros_like(frame.perp).at[0].set(1.0)
    return frame.perp + jnp.where(frame.negative, tau * sign, 0.0) * bottom_unit, perp_norm


def solve_trust_region_subproblem(gradient, hessian, radius):
    r"""The exact minimiser of q(d) = g.d + 1/2 d^T H d subject to ||d|| <= radius.

    .. math::  d = -(H + \lambda I)^{-1} g, \quad \lambda \ge \max(0, -e_{\min}), \quad
               \lambda\,(\text{radius} - \|d\|) = 0

    If H is positive definite and the Newton step fits, it is the answer (lambda = 0).
    Otherwise the step lies on the boundary and lambda solves ||d(lambda)|| = radius, by
    bisection in the eigenbasis; the hard case is completed along the bottom
    eigenvector (module docstring).

    Args:
      gradient: g, shape (n,). hessian: H, shape (n, n), symmetric. radius: > 0.

    Returns:
      ``(d, lam)``: the step and its multiplier lambda (the damping it corresponds to).
    """
    _check_subproblem(gradient, hessian, "radius", radius)
    frame = _eigen_frame(gradient, hessian)

    def too_long(mu):
        return jnp.linalg.norm(frame.ghat / (frame.shifted + mu)) - radius

    # ||d(lambda_low + mu)|| <= ||g|| / mu, so mu = ||g|| / radius is long enough.
    mu = _bisect(too_long, jnp.linalg.norm(gradient) / radius)
    boundary = -frame.ghat / (frame.shifted + mu)
    hard_step, perp_norm = _hard_case_step(frame, radius)
    interior_or_hard = frame.hard & (perp_norm <= radius)
    step = jnp.where(interior_or_hard, hard_step, boundary)
    lam = frame.lambda_low + jnp.where(interior_or_hard, 0.0, mu)
    return frame.vectors @ step, lam


def solve_cubic_subproblem(gradient, hessian, sigma):
    r"""The global minimiser of m(d) = g.d + 1/2 d^T H d + sigma/3 ||d||^3.

    .. math::  d = -(H + \sigma r I)^{-1} g, \quad r = \|d\|, \quad \sigma r \ge -e_{\min}

    (Nesterov & Polyak 2006, Cartis, Gould & Toint 2011: these two conditions
    characterise the global minimiser). With lambda = sigma r, the scalar equation
    ||d(lambda)|| = lambda / sigma has one root above max(0, -e_min), found by bisection;
    in the hard case lambda = -e_min and the step is completed along the bottom
    eigenvector to length r = -e_min / sigma (module docstring).

    Args:
      gradient: g, shape (n,). hessian: H, shape (n, n), symmetric. sigma: > 0.

    Returns:
      ``(d, lam)`` with lam = sigma ||d||, the damping the step corresponds to.
    """
    _check_subproblem(gradient, hessian, "sigma", sigma)
    frame = _eigen_frame(gradient, hessian)

    def too_long(mu):
        lam = frame.lambda_low + mu
        return jnp.linalg.norm(frame.ghat / (frame.shifted + mu)) - lam / sigma

    # ||d|| - lambda / sigma <= ||g|| / mu - mu / sigma <= 0 from mu = sqrt(sigma ||g||).
    mu = _bisect(too_long, jnp.sqrt(sigma * jnp.linalg.norm(gradient)))
    boundary = -frame.ghat / (frame.shifted + mu)
    hard_length = frame.lambda_low / sigma
    hard_step, perp_norm = _hard_case_step(frame, hard_length)
    hard = frame.hard & (perp_norm <= hard_length)
    step = jnp.where(hard, hard_step, boundary)
    lam = frame.lambda_low + jnp.where(hard, 0.0, mu)
    return frame.vectors @ step, lam


# --------------------------------------------------------------------------- methods


def _model_pieces(problem: Problem, params, batch):
    """h, g and H on the batch over the flattened parameters, and the map back."""
    flat, unflatten = ravel_pytree(params)
    loss, grads = jax.value_and_grad(problem.loss)(params, batch)
    gradient = ravel_pytree(grads)[0]
    hessian = curvature.hessian(problem, params, batch)
    return flat, unflatten, loss, gradient, hessian


def trust_region(
    problem: Problem, radius: float, max_radius: float | None = None, eta: float = 0.1
) -> SecondOrderMethod:
    r"""The trust-region method with the exact (Moré-Sorensen) subproblem solution.

    .. math::  d_k = \arg\min_{\|d\| \le \Delta_k} \nabla h(\theta_k)^\top d
               + \tfrac12 d^\top H(\theta_k) d, \qquad \theta_{k+1} = \theta_k + d_k
               \ \text{if}\ \rho_k > \eta

    with rho_k = (h(theta_k + d_k) - h(theta_k)) / (q(d_k) - q(0)) and the radius
    updated as in Nocedal & Wright (Algorithm 4.1): rho < 1/4 -> Delta / 4; rho > 3/4
    with the step on the boundary -> min(2 Delta, max_radius); else unchanged. A step
    with rho <= eta is rejected (the parameters stay). The radius never falls below
    1e-8 times its start, so rounding noise after convergence cannot shrink it to 0.

    The step equals the damped Newton step -(H + lambda I)^{-1} g for the lambda that
    the radius implies (``info["damping"]``): trust region and damping are one idea.

    Args:
      problem: the objective; its Hessian is built densely (small problems).
      radius: Delta_0 > 0.
      max_radius: the largest radius, >= radius (default 100 * radius).
      eta: acceptance threshold in [0, 1/4).

    Info keys: ``radius`` (Delta used by the step), ``damping`` (its lambda),
    ``reduction_ratio``, ``step_norm``, ``accepted``.
    """
    _check_problem(problem)
    radius = validation.positive("radius", radius)
    max_radius = 100.0 * radius if max_radius is None else max_radius
    max_radius = validation.positive("max_radius", max_radius)
    if max_radius < radius:
        raise ValueError(f"max_radius must be in [radius={radius}, inf), got {max_radius!r}")
    eta = validation.in_interval("eta", eta, 0.0, 0.25)
    min_radius = 1e-8 * radius

    def init(params):
        flat, _ = ravel_pytree(params)
        return TrustRegionState(radius=jnp.asarray(radius, flat.dtype))

    def step(params, state, batch, key):
        del key  # deterministic
        flat, unflatten, loss, g, h = _model_pieces(problem, params, batch)
        d, lam = solve_trust_region_subproblem(g, h, state.radius)
        predicted = g @ d + 0.5 * d @ (h @ d)
        candidate = unflatten(flat + d)
        ratio = reduction_ratio(problem.loss(candidate, batch) - loss, predicted)
        step_norm = jnp.linalg.norm(d)
        on_boundary = step_norm >= (1 - jnp.sqrt(jnp.finfo(d.dtype).eps)) * state.radius
        grown = jnp.where((ratio > 0.75) & on_boundary, 2 * state.radius, state.radius)
        # Written with >= so that a NaN ratio (a NaN loss at the candidate) shrinks.
        new_radius = jnp.where(ratio >= 0.25, grown, 0.25 * state.radius)
        new_radius = jnp.clip(new_radius, min_radius, max_radius)
        accepted = ratio > eta
        info = {
            "radius": state.radius,
            "damping": lam,
            "reduction_ratio": ratio,
            "step_norm": step_norm,
            "accepted": accepted,
        }
        return _tree_where(accepted, candidate, params), TrustRegionState(new_radius), info

    return SecondOrderMethod(init, step)


def cubic_regularization(problem: Problem, sigma: float, adapt: bool = False) -> SecondOrderMethod:
    r"""Cubic regularisation of Newton's method (Nesterov & Polyak 2006).

    .. math::  d_k = \arg\min_d \nabla h(\theta_k)^\top d + \tfrac12 d^\top H(\theta_k) d
               + \tfrac{\sigma}{3} \|d\|^3, \qquad \theta_{k+1} = \theta_k + d_k

    If sigma is at least the Lipschitz constant of the Hessian, the cubic model is an
    upper bound on h, so every step decreases h: with fixed sigma every step is
    taken. With ``adapt`` (adaptive cubic regularisation, ARC, Cartis, Gould & Toint
    2011) rho = (h(theta + d) - h(theta)) / (m(d) - m(0)) judges the cubic model m:
    rho <= 0 rejects the step, rho < 1/4 doubles sigma, rho > 3/4 halves it (kept
    within [min(1e-8, sigma_0), max(1e10, sigma_0)]).

    Args:
      problem: the objective; its Hessian is built densely (small problems).
      sigma: sigma_0 > 0.
      adapt: adapt sigma from the reduction ratio.

    Info keys: ``sigma`` (used by the step), ``damping`` (sigma ||d||, the equivalent
    lambda), ``reduction_ratio`` (against the cubic model), ``step_norm``, ``accepted``.
    """
    _check_problem(problem)
    sigma = validation.positive("sigma", sigma)
    adapt = _check_flag("adapt", adapt)
    floor, ceiling = min(_FLOOR, sigma), max(_CEILING, sigma)

    def init(params):
        flat, _ = ravel_pytree(params)
        return CubicState(sigma=jnp.asarray(sigma, flat.dtype))

    def step(params, state, batch, key):
        del key  # deterministic
        flat, unflatten, loss, g, h = _model_pieces(problem, params, batch)
        d, lam = solve_cubic_subproblem(g, h, state.sigma)
        step_norm = jnp.linalg.norm(d)
        predicted = g @ d + 0.5 * d @ (h @ d) + state.sigma / 3 * step_norm**3
        candidate = unflatten(flat + d)
        ratio = reduction_ratio(problem.loss(candidate, batch) - loss, predicted)
        if adapt:
            accepted = ratio > 0
            new_sigma = jnp.where(ratio > 0.75, 0.5 * state.sigma, state.sigma)
            new_sigma = jnp.where(ratio >= 0.25, new_sigma, 2 * state.sigma)
            new_sigma = jnp.clip(new_sigma, floor, ceiling)
        else:
            accepted = jnp.array(True)
            new_sigma = state.sigma
        info = {
            "sigma": state.sigma,
            "damping": lam,
            "reduction_ratio": ratio,
            "step_norm": step_norm,
            "accepted": accepted,
        }
        return _tree_where(accepted, candidate, params), CubicState(new_sigma), info

    return SecondOrderMethod(init, step)
