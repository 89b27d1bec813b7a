r"""Newton's method and its damped relatives: steps to the minimum of a quadratic model.

At theta_k every method here models the loss h on the step's batch by

.. math::  q(d) = g^\top d + \tfrac12 d^\top M d, \qquad g = \nabla h(\theta_k),

with a curvature matrix M (the Hessian, the generalised Gauss-Newton matrix, the
Fisher or the empirical Fisher), and steps to the minimiser of the *damped* model

.. math::  d = -(M + \lambda I)^{-1} g, \qquad \theta_{k+1} = \theta_k + d.

Damping is a trust region in disguise: the larger lambda, the shorter the step and the
more it turns towards -g / lambda (gradient descent with learning rate 1/lambda).

**Levenberg-Marquardt adaptation** (Martens 2010, section 4.1). After a step, compare
the decrease h actually made with the decrease the *undamped* model promised,

.. math::  \rho = \frac{h(\theta + d) - h(\theta)}{q(d) - q(0)},

and adapt: rho < 1/4 (the model was too optimistic) -> lambda *= 3/2; rho > 3/4 (the
model is good) -> lambda *= 2/3. A step with rho <= 0 made h no smaller, so it is
*rejected*: the parameters stay and only lambda grows. The undamped M is the one to
judge (not M + lambda I): rho measures how well the curvature models h, and the damping
is what we adapt to make up for where it does not. When the model itself promises no
decrease (q(d) >= 0, possible only with an indefinite M + lambda I) rho is set to 0,
so the step is rejected and lambda grows; at a stationary point (d = 0, h unchanged)
rho = 1. The adapted lambda stays in [min(1e-8, lambda_0), max(1e10, lambda_0)]: a
converged run whose steps no longer change h in floating point (rho = 0 every step)
would otherwise grow it to inf, and one that keeps shrinking it would reach 0, from
which multiplying cannot recover.

The dense methods (``newton``, ``damped_newton``, ``gauss_newton``,
``natural_gradient``) build M over the flattened parameters and solve: for the small
problems of the lectures. ``hessian_free`` only ever multiplies by M (one extra pass
through the model each) inside truncated conjugate gradients: what scales to networks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from lecture_lib import curvature as curvature_lib
from lecture_lib import problems as problems_lib
from lecture_lib import validation
from lecture_lib.optim.base import SecondOrderMethod
from lecture_lib.problems import Problem

GROW = 1.5  # lambda *= 3/2 when rho < 1/4
SHRINK = 2.0 / 3.0  # lambda *= 2/3 when rho > 3/4
_FLOOR = 1e-8  # the adapted damping never leaves [min(_FLOOR, lambda_0), max(_CEILING, lambda_0)]
_CEILING = 1e10

# Output losses whose Fisher has a closed form, so no labels need sampling.
_EXACT_FISHER = (
    problems_lib.softmax_cross_entropy,
    problems_lib.binary_cross_entropy,
    problems_lib.squared_error,
)


class DampedState(NamedTuple):
    damping: jax.Array  # lambda_k, adapted by the Levenberg-Marquardt rule when adapt=True


class HessianFreeState(NamedTuple):
    damping: jax.Array
    direction: jax.Array  # the last CG solution (flat), where the next CG run may start


# --------------------------------------------------------------------------- shared rules


def reduction_ratio(actual, predicted) -> jax.Array:
    r"""rho = actual / predicted decrease, the test of a quadratic (or cubic) model.

    ``actual`` is h(theta + d) - h(theta) and ``predicted`` the model's change
    m(d) - m(0). When the model promises no decrease (predicted >= 0) the ratio is 0,
    so the step counts as a failure; a null step (both exactly 0) scores 1; a NaN
    loss at the candidate scores -inf.
    """
    trusted = predicted < 0
    ratio = jnp.where(trusted, actual / jnp.where(trusted, predicted, -1.0), 0.0)
    ratio = jnp.where((predicted == 0) & (actual == 0), 1.0, ratio)
    return jnp.where(jnp.isnan(actual), -jnp.inf, ratio)


def levenberg_marquardt(
    damping, ratio, floor: float = 0.0, ceiling: float = jnp.inf, shrink=SHRINK, grow=GROW
):
    r"""The Levenberg-Marquardt rule: lambda *= 3/2 if rho < 1/4, lambda *= 2/3 if rho > 3/4.

    Written with ``rho >= 1/4`` so that a NaN ratio counts as a failure and grows
    lambda. The result is clipped to [floor, ceiling]. ``shrink`` and ``grow`` replace
    2/3 and 3/2 (K-FAC uses omega and 1/omega).
    """
    damping = jnp.where(ratio > 0.75, damping * shrink, damping)
    damping = jnp.where(ratio >= 0.25, damping, damping * grow)
    return jnp.clip(damping, floor, ceiling)


def _tree_where(condition, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), new, old)


def _check_problem(problem, needs_model: str | None = None) -> Problem:
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lecture_lib Problem, got {problem!r}")
    if needs_model and (problem.predict is None or problem.output_loss is None):
        raise ValueError(
            f"problem must be a data problem with predict and output_loss for {needs_model}; "
            f"{problem.name!r} has none (analytic problems: use the Hessian, as newton, "
            "damped_newton or hessian_free(curvature='hessian') do)"
        )
    return problem


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _check_damping(damping, adapt) -> float:
    damping = validation.nonnegative("damping", damping)
    if _check_flag("adapt", adapt) and damping == 0.0:
        raise ValueError(
            "damping must be in (0, inf) when adapt=True: the Levenberg-Marquardt rule "
            "multiplies it, so a damping of 0 would stay 0 (got 0)"
        )
    return damping


def _check_choice(name: str, value, choices: tuple) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


# --------------------------------------------------------------------------- the step


def _model_step(
    problem: Problem,
    damping: float,
    adapt: bool,
    solve: Callable,
    state_type: type = DampedState,
) -> SecondOrderMethod:
    """A damped model step with Levenberg-Marquardt adaptation around a direction solver.

    ``solve(params, g, batch, key, state) -> (d, M d, state_updates, extra_info)`` gives
    the step d over the flat parameters and the product of the *undamped* curvature
    with it, which is all the model value q(d) = g.d + 1/2 d.(M d) needs.
    """
    floor, ceiling = min(_FLOOR, damping), max(_CEILING, damping)
    value_and_grad = jax.value_and_grad(problem.loss)

    def init(params):
        flat, _ = ravel_pytree(params)
        fields = {"damping": jnp.asarray(damping, flat.dtype)}
        if state_type is HessianFreeState:
            fields["direction"] = jnp.zeros_like(flat)
        return state_type(**fields)

    def step(params, state, batch, key):
        flat, unflatten = ravel_pytree(params)
        loss, grads = value_and_grad(params, batch)
        g = ravel_pytree(grads)[0]
        d, curvature_times_d, updates, extra_info = solve(params, g, batch, key, state)
        predicted = g @ d + 0.5 * d @ curvature_times_d  # q(d) - q(0), undamped M
        candidate = unflatten(flat + d)
        actual = problem.loss(candidate, batch) - loss
        ratio = reduction_ratio(actual, predicted)
        if adapt:
            accepted = ratio > 0  # a step that made h no smaller is rejected
            new_damping = levenberg_marquardt(state.damping, ratio, floor, ceiling)
        else:
            accepted = jnp.array(True)
            new_damping = state.damping
        info = {
            "damping": state.damping,
            "reduction_ratio": ratio,
            "step_norm": jnp.linalg.norm(d),
            "accepted": accepted,
            **extra_info,
        }
        new_state = state._replace(damping=new_damping, **updates)
        return _tree_where(accepted, candidate, params), new_state, info

    return SecondOrderMethod(init, step)


def _dense_solver(matrix: Callable, learning_rate: float = 1.0) -> Callable:
    """d = -eta (M + lambda I)^{-1} g with M = matrix(params, batch, key) built densely."""

    def solve(params, g, batch, key, state):
        m = matrix(params, batch, key)
        damped = m + state.damping * jnp.eye(g.size, dtype=m.dtype)
        d = -learning_rate * jnp.linalg.solve(damped, g)
        return d, m @ d, {}, {}

    return solve


def _hessian(problem):
    return lambda params, batch, key: curvature_lib.hessian(problem, params, batch)


# --------------------------------------------------------------------------- Newton


def newton(problem: Problem) -> SecondOrderMethod:
    r"""Newton's method: jump to the minimiser of the second-order Taylor model.

    .. math::  \theta_{k+1} = \theta_k - H(\theta_k)^{-1} \nabla h(\theta_k)

    One step solves any convex quadratic exactly, and it is invariant to linear
    reparameterisations; but it is attracted by saddle points (it finds where the
    gradient vanishes, not where h is low) and breaks down where H is singular.
    Every step is taken (no damping, no rejection); ``info`` reports the reduction
    ratio rho anyway.

    Info keys: ``damping`` (0), ``reduction_ratio``, ``step_norm``, ``accepted``.
    """
    _check_problem(problem)
    return _model_step(problem, 0.0, False, _dense_solver(_hessian(problem)))


def damped_newton(problem: Problem, damping: float, adapt: bool = True) -> SecondOrderMethod:
    r"""Damped Newton (Levenberg-Marquardt on the Hessian).

    .. math::  \theta_{k+1} = \theta_k - (H(\theta_k) + \lambda_k I)^{-1} \nabla h(\theta_k)

    With ``adapt`` lambda follows the Levenberg-Marquardt rule of the module docstring
    and steps with rho <= 0 are rejected; without it lambda stays fixed and every step
    is taken.

    Args:
      problem: the objective (analytic or data; the Hessian is built densely).
      damping: lambda_0 >= 0 (> 0 with ``adapt``).
      adapt: adapt lambda from the reduction ratio.

    Info keys: ``damping`` (lambda used by the step), ``reduction_ratio``,
    ``step_norm`` (of the proposed step), ``accepted``.
    """
    _check_problem(problem)
    damping = _check_damping(damping, adapt)
    return _model_step(problem, damping, adapt, _dense_solver(_hessian(problem)))


def gauss_newton(problem: Problem, damping: float = 1.0, adapt: bool = True) -> SecondOrderMethod:
    r"""(Generalised) Gauss-Newton; with ``adapt``, the Levenberg-Marquardt method.

    .. math::  \theta_{k+1} = \theta_k - (G(\theta_k) + \lambda_k I)^{-1} \nabla h(\theta_k),
               \qquad G = \tfrac1m \sum_i J_i^\top \nabla_z^2 l_i \, J_i + \nabla^2 r

    The GGN drops the model's second derivatives from the Hessian, so it is positive
    semi-definite whenever the output loss is convex: never a step towards a saddle.
    For a linear model with squared error G = H, and one undamped step solves the
    problem. Needs a data problem (``predict`` and ``output_loss``).

    Args:
      damping: lambda_0 >= 0 (> 0 with ``adapt``).
      adapt: adapt lambda by the Levenberg-Marquardt rule (reject steps with rho <= 0).

    Info keys: ``damping``, ``reduction_ratio``, ``step_norm``, ``accepted``.
    """
    _check_problem(problem, "the Gauss-Newton matrix")
    damping = _check_damping(damping, adapt)

    def matrix(params, batch, key):
        return curvature_lib.ggn(problem, params, batch)

    return _model_step(problem, damping, adapt, _dense_solver(matrix))


def natural_gradient(
    problem: Problem,
    damping: float,
    fisher: str = "true",
    learning_rate: float = 1.0,
    adapt: bool = False,
    num_samples: int | None = None,
) -> SecondOrderMethod:
    r"""Natural gradient descent: precondition by the (damped) Fisher information.

    .. math::  \theta_{k+1} = \theta_k - \eta\, (F(\theta_k) + \lambda_k I)^{-1} \nabla h(\theta_k)

    ``fisher="true"``: F averages the squared output gradient over labels drawn from
    the *model's* predictive distribution. With ``num_samples=None`` it is exact (for
    softmax / binary cross-entropy and squared error), and then equals the GGN: these
    losses are canonical-link exponential families. With ``num_samples`` = S, F is a
    Monte Carlo estimate from S labels per example drawn with the step's ``key``.
    ``fisher="empirical"``: the empirical Fisher, the squared gradients at the data's
    own labels (what Adam's second moment estimates, and a poor curvature far from the
    optimum: Kunstner et al. 2019). The model q judging rho uses the same F.

    Args:
      damping: lambda_0 >= 0 (> 0 with ``adapt``).
      fisher: "true" or "empirical".
      learning_rate: eta > 0.
      adapt: adapt lambda by the Levenberg-Marquardt rule (off by default: natural
        gradient is usually run with a fixed damping and learning rate).
      num_samples: None for the exact Fisher, or the number of sampled labels >= 1.

    Info keys: ``damping``, ``reduction_ratio``, ``step_norm``, ``accepted``.
    """
    _check_problem(problem, "the Fisher")
    damping = _check_damping(damping, adapt)
    fisher = _check_choice("fisher", fisher, ("true", "empirical"))
    learning_rate = validation.positive("learning_rate", learning_rate)
    if num_samples is not None:
        num_samples = validation.positive_int("num_samples", num_samples)
        if fisher == "empirical":
            raise ValueError(
                "num_samples must be None for fisher='empirical': the empirical Fisher "
                f"uses the data's labels and samples none (got {num_samples})"
            )
        if problem.sample_targets is None:
            raise ValueError(
                f"num_samples needs a problem that can sample targets; {problem.name!r} cannot"
            )
    elif fisher == "true" and problem.output_loss not in _EXACT_FISHER:
        raise ValueError(
            "num_samples must be an integer >= 1 for this problem: the exact Fisher is known "
            "only for softmax / binary cross-entropy and squared error, so labels are sampled"
        )

    def matrix(params, batch, key):
        if fisher == "empirical":
            return curvature_lib.empirical_fisher(problem, params, batch)
        if num_samples is None:
            return curvature_lib.fisher(problem, params, batch)
        return curvature_lib.fisher(problem, params, batch, key=key, num_samples=num_samples)

    return _model_step(problem, damping, adapt, _dense_solver(matrix, learning_rate))


# --------------------------------------------------------------------------- Hessian-free


def truncated_cg(
    matvec: Callable, b: jax.Array, x0: jax.Array, max_iters: int, tol: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Conjugate gradients for A x = b, stopped early; only products A v are used.

    Started from ``x0 = 0``, after j iterations x_j minimises 1/2 x^T A x - b^T x over the
    Krylov space span{b, A b, ..., A^{j-1} b}. Stops after ``max_iters`` iterations,
    when ||r|| <= tol ||b||, or when a search direction p has p^T A p <= 0 (A is not
    positive definite along p, so the quadratic has no minimum there): then it returns
    the iterate reached so far, or, when that happens in the very first direction,
    x0 + r0 (from x0 = 0 that is b, the steepest-descent direction -g of Hessian-free's
    b = -g), as in Nocedal & Wright's Newton-CG (Algorithm 7.1).

    Args:
      matvec: v -> A v on flat vectors. b, x0: flat vectors of one shape.
      max_iters: the most iterations, >= 1. tol: relative residual in [0, 1).

    Returns ``(x, iterations, negative_curvature)``: the solution, the number of
    completed updates, and whether non-positive curvature stopped the run.
    """
    max_iters = validation.positive_int("max_iters", max_iters)
    tol = validation.in_interval("tol", tol, 0.0, 1.0)
    if jnp.ndim(b) != 1 or jnp.shape(x0) != jnp.shape(b):
        raise ValueError(
            f"b must be a flat vector and x0 of its shape, got {jnp.shape(b)} and {jnp.shape(x0)}"
        )
    r0 = b - matvec(x0)
    threshold = tol * jnp.linalg.norm(b)
    rr0 = r0 @ r0

    def cond(carry):
        _, _, _, _, k, _, done = carry
        return (k < max_iters) & ~done

    def body(carry):
        x, r, p, rr, k, _, _ = carry
        ap = matvec(p)
        curvature_along_p = p @ ap
        negative = curvature_along_p <= 0
        alpha = rr / jnp.where(negative, 1.0, curvature_along_p)
        r_next = r - alpha * ap
        rr_next = r_next @ r_next
        p_next = r_next + (rr_next / rr) * p
        # On non-positive curvature keep the last iterate; jnp.where, not Python if.
        x, r, p, rr = (
            jnp.where(negative, old, new)
            for old, new in ((x, x + alpha * p), (r, r_next), (p, p_next), (rr, rr_next))
        )
        k = k + jnp.where(negative, 0, 1)
        done = negative | (jnp.sqrt(rr) <= threshold)
        return x, r, p, rr, k, negative, done

    no_iterations = jnp.zeros([], jnp.int32)
    start = (x0, r0, r0, rr0, no_iterations, jnp.array(False), jnp.sqrt(rr0) <= threshold)
    x, _, _, _, iterations, negative, _ = jax.lax.while_loop(cond, body, start)
    x = jnp.where(negative & (iterations == 0), x0 + r0, x)
    return x, iterations, negative


def hessian_free(
    problem: Problem,
    damping: float,
    cg_iters: int,
    adapt: bool = True,
    curvature: str = "ggn",
    cg_tol: float = 1e-6,
    warm_start: float = 0.0,
) -> SecondOrderMethod:
    r"""Hessian-free optimisation (Martens 2010): damped Newton by truncated CG.

    .. math::  d \approx -(M + \lambda_k I)^{-1} \nabla h(\theta_k)
               \ \text{by at most } K \text{ CG iterations}, \qquad \theta_{k+1} = \theta_k + d

    M is never built: CG needs only products M v, each one linearisation of the model
    (GGN, ``curvature.ggn_vp``) or a forward-over-reverse pass (Hessian,
    ``curvature.hvp``). K < n iterations minimise the model over a Krylov space, so the
    step interpolates between a gradient step (K = 1) and the full damped Newton step
    (K = n). With the Hessian, CG stops at the first direction of non-positive
    curvature (see :func:`truncated_cg`). lambda follows the Levenberg-Marquardt rule.

    Args:
      damping: lambda_0 >= 0 (> 0 with ``adapt``).
      cg_iters: K >= 1, the most CG iterations per step.
      adapt: adapt lambda by the Levenberg-Marquardt rule (reject steps with rho <= 0).
      curvature: "ggn" (positive semi-definite; needs a data problem) or "hessian".
      cg_tol: stop CG when ||r|| <= cg_tol ||g||, in [0, 1).
      warm_start: start CG from warm_start * (the previous CG solution), in [0, 1];
        0 starts from zero (the Krylov property above), Martens uses 0.95.

    Info keys: ``damping``, ``reduction_ratio``, ``step_norm``, ``accepted``,
    ``cg_iterations``, ``negative_curvature``.
    """
    matrix = _check_choice("curvature", curvature, ("ggn", "hessian"))
    _check_problem(
        problem, "the Gauss-Newton products (curvature='ggn')" if matrix == "ggn" else None
    )
    damping = _check_damping(damping, adapt)
    cg_iters = validation.positive_int("cg_iters", cg_iters)
    cg_tol = validation.in_interval("cg_tol", cg_tol, 0.0, 1.0)
    warm_start = validation.in_interval("warm_start", warm_start, 0.0, 1.0, closed_high=True)

    def solve(params, g, batch, key, state):
        product = curvature_lib.flat_matvec(problem, params, batch, matrix)
        d, iterations, negative = truncated_cg(
            lambda v: product(v) + state.damping * v,
            -g,
            warm_start * state.direction,
            cg_iters,
            cg_tol,
        )
        info = {"cg_iterations": iterations, "negative_curvature": negative}
        return d, product(d), {"direction": d}, info

    return _model_step(problem, damping, adapt, solve, HessianFreeState)
