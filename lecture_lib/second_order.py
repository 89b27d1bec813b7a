r"""Tools for lecture 4, Newton's method and trust regions.

- :func:`damped_steps`: the damped Newton steps :math:`-(H + \lambda I)^{-1} g` for many
  dampings at once, from one eigendecomposition: the curve that runs from the Newton
  step (lambda = 0) to the gradient direction (lambda -> inf), on which every
  trust-region step lies;
- :func:`reparameterized` and :func:`to_original`: the same problem in other
  coordinates, theta = A phi (a change of units when A is diagonal), to show that
  Newton's iterates do not depend on the parameterisation while gradient descent's do;
- :func:`saddle_factors`: what one damped Newton step does near the saddle of
  ``problems.saddle`` in each coordinate, in closed form;
- :func:`damping_trace`: the Levenberg-Marquardt damping and the reduction ratio of a
  run, step by step, with the rejected steps marked;
- :func:`quadrature_moments` and :func:`quadrature_mass`: read moments and the mass of
  an interval off a stochastic Lanczos quadrature (``curvature.spectral_density``), to
  compare it with a dense eigendecomposition (:func:`eigenvalues`); :func:`smoothed`
  redraws it on another grid (a zoom) without a new Lanczos run;
- :func:`damping_run` / :func:`damping_figure` / :func:`damping_explorer`: damped Newton
  on the saddle with a damping slider (a widget over a pure function).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits

from lecture_lib import problems, validation
from lecture_lib.optim.newton import damped_newton
from lecture_lib.plots import contour, loss_curves
from lecture_lib.problems import Problem
from lecture_lib.run import Trajectory, run
from lecture_lib.spectrum import SpectralDensity

# --------------------------------------------------------------------------- damped steps


def _vector_and_matrix(gradient, hessian) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(gradient, np.float64)
    h = np.asarray(hessian, np.float64)
    if g.ndim != 1 or g.size == 0 or h.shape != (g.size, g.size):
        raise ValueError(
            "gradient must be a vector (n,) and hessian a matrix (n, n), got shapes "
            f"{g.shape} and {h.shape}"
        )
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(h))):
        raise ValueError("gradient and hessian must be finite (no NaN or inf entries)")
    if not np.allclose(h, h.T, rtol=1e-6, atol=1e-9 * max(1.0, np.abs(h).max())):
        raise ValueError("hessian must be a symmetric matrix")
    return g, (h + h.T) / 2


def damped_steps(gradient, hessian, dampings) -> np.ndarray:
    r"""The damped Newton steps :math:`d(\lambda) = -(H + \lambda I)^{-1} g`, one per damping.

    With :math:`H = Q \operatorname{diag}(e) Q^\top` all steps come from one
    eigendecomposition: :math:`d(\lambda) = -Q\,\operatorname{diag}(1/(e_i + \lambda))\,
    Q^\top g`. lambda = 0 gives the Newton step; as lambda grows the step shortens and
    turns towards :math:`-g/\lambda`, gradient descent with learning rate 1/lambda. For
    lambda > max(0, -e_min) the step is the minimiser of the quadratic model in the ball
    of radius :math:`\|d(\lambda)\|` (the trust-region step of that radius).

    Args:
      gradient: g, shape (n,). hessian: H, shape (n, n), symmetric.
      dampings: a number or a 1-D sequence of lambda >= 0 such that H + lambda I is
        nonsingular.

    Returns:
      float64 array of shape (len(dampings), n) (shape (n,) for a single number).
    """
    g, h = _vector_and_matrix(gradient, hessian)
    single = np.ndim(dampings) == 0
    values = np.atleast_1d(np.asarray(dampings, np.float64))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"dampings must be a number or a non-empty 1-D sequence, got {dampings!r}")
    for index, value in enumerate(values):
        validation.nonnegative(f"dampings[{index}]", value)
    curvatures, vectors = np.linalg.eigh(h)
    shifted = curvatures[None, :] + values[:, None]
    tolerance = 1e-12 * max(1.0, np.abs(curvatures).max())
    singular = np.abs(shifted).min(axis=1) <= tolerance
    if singular.any():
        index = int(np.argmax(singular))
        raise ValueError(
            f"dampings[{index}] = {values[index]:g} makes H + lambda I singular (H has the "
            f"eigenvalue {-values[index]:g}): every damping must avoid -eigenvalues(H)"
        )
    steps = -(vectors.T @ g)[None, :] / shifted @ vectors.T
    return steps[0] if single else steps


# --------------------------------------------------------------------------- reparameterisation


def _square_invertible(matrix, dim: int) -> np.ndarray:
    a = np.asarray(matrix, np.float64)
    if a.shape != (dim, dim):
        raise ValueError(
            f"matrix must be square of shape ({dim}, {dim}) to match the parameters, "
            f"got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError("matrix must be finite (no NaN or inf entries)")
    if np.linalg.cond(a) > 1e12:
        raise ValueError("matrix must be invertible (its condition number is above 1e12)")
    return a


def reparameterized(problem: Problem, matrix) -> Problem:
    r"""The same problem in the coordinates phi with theta = A phi.

    .. math::  \tilde h(\phi) = h(A\phi), \qquad \nabla_\phi \tilde h = A^\top \nabla_\theta h,
               \qquad \tilde H = A^\top H A.

    Newton's step in phi, mapped back by A, is Newton's step in theta:
    :math:`A\,(A^\top H A)^{-1} A^\top g = H^{-1} g`. Gradient descent's is
    :math:`A A^\top g`, the same only when A is orthogonal. A diagonal A is a change of
    units, coordinate by coordinate.

    The start is :math:`A^{-1}\theta_0` and the optimum :math:`A^{-1}\theta^*`, so runs in
    both coordinates start from the same point of the same landscape.

    Args:
      problem: a problem whose parameters are one vector of shape (n,) (the 2-D
        problems, quadratics).
      matrix: A, an invertible (n, n) matrix.
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lecture_lib Problem, got {problem!r}")
    start = problem.init(jax.random.PRNGKey(0))
    if not isinstance(start, jax.Array | np.ndarray) or np.ndim(start) != 1:
        raise ValueError(
            f"problem must have one vector of parameters, {problem.name!r} has "
            f"{type(start).__name__} {np.shape(start) if hasattr(start, 'shape') else ''}"
        )
    a = _square_invertible(matrix, int(np.shape(start)[0]))
    a_inverse = np.linalg.inv(a)
    a_j, a_inverse_j = jnp.asarray(a), jnp.asarray(a_inverse)

    def loss(phi, batch=None):
        return problem.loss(a_j.astype(phi.dtype) @ phi, batch)

    def init(key):
        theta = problem.init(key)
        return a_inverse_j.astype(theta.dtype) @ theta

    hessian = None
    if problem.hessian is not None:

        def hessian(phi):
            a_phi = a_j.astype(phi.dtype)
            return a_phi.T @ problem.hessian(a_phi @ phi) @ a_phi

    optimum = None
    if problem.optimum is not None:
        optimum = a_inverse_j @ jnp.asarray(problem.optimum, a_inverse_j.dtype)
    return Problem(
        name=f"{problem.name}, theta = A phi",
        loss=loss,
        init=init,
        data=problem.data,
        test_data=problem.test_data,
        optimum=optimum,
        optimal_loss=problem.optimal_loss,
        hessian=hessian,
    )


def to_original(iterates, matrix):
    r"""Map iterates phi_k back to theta_k = A phi_k.

    Args:
      iterates: an array of shape (k, n) (one iterate per row), or a ``Trajectory`` of a
        2-D problem, whose recorded iterates are mapped.
      matrix: A, an invertible (n, n) matrix.

    Returns:
      the mapped array, or a copy of the ``Trajectory`` with mapped ``iterates`` (its
      losses are unchanged: h(A phi_k) is the reparameterised loss at phi_k).
    """
    if isinstance(iterates, Trajectory):
        if iterates.iterates is None:
            raise ValueError("iterates must be a Trajectory with recorded iterates (a 2-D problem)")
        return dataclasses.replace(iterates, iterates=to_original(iterates.iterates, matrix))
    phi = np.asarray(iterates, np.float64)
    if phi.ndim != 2 or phi.shape[1] == 0:
        raise ValueError(f"iterates must have shape (k, n), got {phi.shape}")
    a = _square_invertible(matrix, phi.shape[1])
    return phi @ a.T


# --------------------------------------------------------------------------- the saddle


def saddle_factors(damping: float) -> tuple[float, float]:
    r"""Per-step factors of damped Newton near the saddle of ``problems.saddle``.

    Near (0, 0), h = x^2/2 + y^4/4 - y^2/2 has gradient (x, -y) and Hessian diag(1, -1)
    (to first order in y), so the step :math:`-(H + \lambda I)^{-1} g` multiplies

    .. math::  x \leftarrow \frac{\lambda}{\lambda + 1}\, x, \qquad
               y \leftarrow \frac{\lambda}{\lambda - 1}\, y.

    Newton (lambda = 0) sends y to 0 in one step: it jumps onto the saddle. Damped Newton
    escapes (|factor| > 1) exactly when lambda > 1/2: by oscillating for lambda < 1, and
    monotonically beyond lambda = 1 = -e_min, the slower the larger lambda.

    Args:
      damping: lambda >= 0, not 1 (where H + lambda I is singular).

    Returns:
      ``(x_factor, y_factor)``.
    """
    damping = validation.nonnegative("damping", damping)
    if damping == 1.0:
        raise ValueError(
            "damping must be in [0, inf) without 1: at lambda = 1 = -e_min the damped "
            "Hessian diag(2, 0) is singular (got 1.0)"
        )
    return damping / (damping + 1.0), damping / (damping - 1.0)


# --------------------------------------------------------------------------- damping trace


def _check_info(trajectory, keys: Sequence[str]) -> dict:
    if not isinstance(trajectory, Trajectory):
        raise ValueError(f"trajectory must be a lecture_lib Trajectory, got {trajectory!r}")
    info = trajectory.info or {}
    missing = [key for key in keys if key not in info]
    if missing:
        raise ValueError(
            f"trajectory must come from a damped method whose info holds {list(keys)}; "
            f"missing {missing} (run damped_newton, gauss_newton or hessian_free)"
        )
    if len(info[keys[0]]) == 0:
        raise ValueError("trajectory must have at least one step")
    return info


def damping_trace(trajectory: Trajectory, axes=None, title: str | None = None):
    r"""The damping lambda_k (log scale) and the reduction ratio rho_k, step by step.

    Rejected steps (rho <= 0: the parameters stay) are marked with red crosses; the
    Levenberg-Marquardt thresholds 1/4 and 3/4 are drawn on the ratio's axes. Ratios are
    shown clipped to [-1, 2] (a wildly wrong model can give rho = -300).

    Args:
      trajectory: a run of a damped method (``info`` with "damping",
        "reduction_ratio" and "accepted").
      axes: a pair of matplotlib Axes (damping, ratio); new ones side by side if None.

    Returns:
      the pair of Axes.
    """
    info = _check_info(trajectory, ("damping", "reduction_ratio", "accepted"))
    if axes is not None and (np.ndim(axes) != 1 or len(axes) != 2):
        raise ValueError(f"axes must be a pair of Axes (damping, ratio), got {axes!r}")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    damping_ax, ratio_ax = axes
    damping = np.asarray(info["damping"], np.float64)
    ratio = np.asarray(info["reduction_ratio"], np.float64)
    rejected = ~np.asarray(info["accepted"], bool)
    steps = np.arange(len(damping))
    damping_ax.semilogy(steps, damping, ".-", label=r"damping $\lambda_k$")
    damping_ax.semilogy(
        steps[rejected], damping[rejected], "x", color="red", mew=2, label="rejected step"
    )
    damping_ax.set_xlabel("step $k$")
    damping_ax.set_ylabel(r"$\lambda_k$")
    damping_ax.set_title(title or "Levenberg-Marquardt damping")
    damping_ax.legend(loc="best", fontsize="small")
    shown = np.clip(ratio, -1.0, 2.0)
    ratio_ax.axhspan(-1.0, 0.25, color="tab:red", alpha=0.08)
    ratio_ax.axhspan(0.75, 2.0, color="tab:green", alpha=0.08)
    ratio_ax.plot(steps, shown, ".-", color="black", label=r"$\rho_k$ (clipped to [-1, 2])")
    ratio_ax.plot(steps[rejected], shown[rejected], "x", color="red", mew=2, label="rejected")
    ratio_ax.axhline(0.25, color="tab:red", ls="--", lw=1, label=r"$\rho = 1/4$: $\lambda$ x 3/2")
    ratio_ax.axhline(0.75, color="tab:green", ls="--", lw=1, label=r"$\rho = 3/4$: $\lambda$ x 2/3")
    ratio_ax.set_ylim(-1.1, 2.1)
    ratio_ax.set_xlabel("step $k$")
    ratio_ax.set_ylabel(r"reduction ratio $\rho_k$")
    ratio_ax.set_title("actual / predicted decrease")
    ratio_ax.legend(loc="lower right", fontsize="small")
    return damping_ax, ratio_ax


# --------------------------------------------------------------------------- SLQ read-outs


def _check_density(density) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(density, SpectralDensity):
        raise ValueError(
            f"density must be a SpectralDensity from curvature.spectral_density, got {density!r}"
        )
    return np.asarray(density.nodes, np.float64), np.asarray(density.weights, np.float64)


def eigenvalues(matrix) -> np.ndarray:
    r"""The eigenvalues of a dense symmetric matrix, ascending, in float64: the exact answer
    against which stochastic Lanczos quadrature is checked (``numpy.linalg.eigvalsh``).

    LAPACK runs on one BLAS thread here: next to JAX's own thread pool, a multi-threaded
    BLAS can be many times slower on a small CPU (0.2 s against 7 s for n = 1210 on two
    cores).

    Args:
      matrix: a finite symmetric (n, n) array (symmetric to 1e-8 relative to its largest
        entry; the mean of it and its transpose is decomposed).
    """
    a = np.asarray(matrix, np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.size == 0:
        raise ValueError(f"matrix must be a square (n, n) array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("matrix must be finite (no NaN or inf entries)")
    scale = max(np.abs(a).max(), np.finfo(np.float64).tiny)
    if np.abs(a - a.T).max() > 1e-8 * scale:
        raise ValueError("matrix must be symmetric (to 1e-8 of its largest entry)")
    symmetric = (a + a.T) / 2
    with threadpool_limits(limits=1, user_api="blas"):
        return np.linalg.eigvalsh(symmetric)


def quadrature_moments(
    density: SpectralDensity, orders: Sequence[int] = (1, 2, 3, 4)
) -> tuple[np.ndarray, np.ndarray]:
    r"""Moments :math:`\frac1n \mathrm{tr} A^k` estimated by the quadrature, with standard errors.

    Probe p's Gauss quadrature gives :math:`\sum_j w_{pj}\theta_{pj}^k = v_p^\top A^k v_p`
    exactly for k < 2 ``num_steps``, an unbiased estimate of :math:`\frac1n\mathrm{tr}A^k`
    (Hutchinson); the estimate is the mean over probes, the standard error their standard
    deviation / sqrt(num_probes) (NaN for one probe).

    Args:
      density: a ``SpectralDensity``. orders: the powers k, integers >= 1.

    Returns:
      ``(moments, standard_errors)``, arrays of len(orders).
    """
    nodes, weights = _check_density(density)
    orders = [validation.positive_int(f"orders[{i}]", k) for i, k in enumerate(orders)]
    if not orders:
        raise ValueError("orders must name at least one power k >= 1")
    per_probe = np.stack([np.sum(weights * nodes**k, axis=1) for k in orders], axis=1)
    count = per_probe.shape[0]
    errors = (
        np.std(per_probe, axis=0, ddof=1) / math.sqrt(count)
        if count > 1
        else np.full(len(orders), np.nan)
    )
    return per_probe.mean(axis=0), errors


def quadrature_mass(density: SpectralDensity, low: float, high: float) -> float:
    r"""The share of eigenvalues in [low, high] by the quadrature: the mean over probes of
    the weights of the nodes in the interval (unsmoothed, unlike ``density.density``)."""
    nodes, weights = _check_density(density)
    low, high = validation.real("low", low), validation.real("high", high)
    if high <= low:
        raise ValueError(f"high must be in ({low}, inf), got {high}")
    inside = (nodes >= low) & (nodes <= high)
    return float(np.mean(np.sum(weights * inside, axis=1)))


def smoothed(density: SpectralDensity, grid, sigma: float) -> SpectralDensity:
    r"""The same quadrature smoothed again: on another ``grid`` with another width ``sigma``.

    .. math::  \hat\phi(t) = \frac{1}{P} \sum_p \sum_j w_{pj}\,
               \mathcal N(t;\, \theta_{pj}, \sigma^2)

    from the nodes and weights already computed, so a zoom into the bulk costs no new
    Lanczos run. (Over a grid that does not cover all nodes the density integrates to
    less than 1.)

    Args:
      density: a ``SpectralDensity``. grid: 1-D, finite, strictly increasing.
      sigma: the Gaussian width > 0.
    """
    nodes, weights = _check_density(density)
    sigma = validation.positive("sigma", sigma)
    points = np.asarray(grid, np.float64)
    if points.ndim != 1 or points.size < 2:
        raise ValueError(f"grid must be a 1-D array of >= 2 points, got shape {points.shape}")
    if not (np.all(np.isfinite(points)) and np.all(np.diff(points) > 0)):
        raise ValueError("grid must be finite and strictly increasing")
    standardized = (points[:, None, None] - nodes[None]) / sigma
    bumps = np.exp(-0.5 * standardized**2) / (sigma * math.sqrt(2 * math.pi))
    values = np.mean(np.sum(weights[None] * bumps, axis=-1), axis=-1)
    return SpectralDensity(density.nodes, density.weights, jnp.asarray(points), jnp.asarray(values))


# --------------------------------------------------------------------------- damping explorer


def damping_problem() -> Problem:
    """The explorer's problem: ``problems.saddle()`` from (1.5, 1e-3), just off the saddle."""
    return problems.saddle()


def damping_run(damping: float, adapt: bool = False, steps: int = 30) -> Trajectory:
    """Damped Newton on :func:`damping_problem` with a fixed damping (or LM-adapted from it)."""
    damping = validation.nonnegative("damping", damping)
    if not isinstance(adapt, bool):
        raise ValueError(f"adapt must be True or False, got {adapt!r}")
    if adapt and damping == 0.0:
        raise ValueError("damping must be in (0, inf) when adapt=True, got 0")
    steps = validation.positive_int("steps", steps)
    problem = damping_problem()
    return run(damped_newton(problem, damping, adapt=adapt), problem, steps, jax.random.PRNGKey(0))


def damping_figure(damping: float, adapt: bool = False, steps: int = 30):
    """The path of :func:`damping_run` on the saddle's contours next to its gap h - h*.

    Returns ``(figure, trajectory)``. The title says where the run ended: at a minimum
    (h within 1e-6 of -1/4), at the saddle, or elsewhere.
    """
    trajectory = damping_run(damping, adapt, steps)
    problem = damping_problem()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    rule = "LM-adapted from" if adapt else "fixed"
    name = f"damped Newton, {rule} lambda = {damping:.3g}"
    final = np.asarray(trajectory.iterates[-1])
    if abs(trajectory.loss[-1] - problem.optimal_loss) < 1e-6:
        verdict = "reached a minimum"
    elif np.linalg.norm(final) < 1e-2:
        verdict = "stuck at the saddle"
    else:
        verdict = "not at a minimum yet"
    contour(
        problem,
        {name: trajectory},
        xlim=(-0.5, 2.0),
        ylim=(-1.6, 1.6),
        ax=left,
        title=f"{verdict} after {steps} steps",
    )
    left.plot(0.0, -1.0, "*", color="red", markersize=14)  # the other minimum, (0, -1)
    left.plot(0.0, 0.0, "P", color="black", markersize=10, label="saddle")
    left.legend(loc="upper right", fontsize="small")
    loss_curves(
        {name: trajectory}, optimal_loss=problem.optimal_loss, ax=right, title="gap to the minimum"
    )
    right.set_ylim(bottom=1e-16)
    figure.tight_layout()
    return figure, trajectory


def damping_explorer(steps: int = 30):
    """A log slider for the damping and a Levenberg-Marquardt switch: redraws
    :func:`damping_figure`. Try lambda below 1/2, between 1/2 and 1, just above 1, and 50."""
    import ipywidgets

    steps = validation.positive_int("steps", steps)
    damping = ipywidgets.FloatLogSlider(
        value=0.3,
        base=10,
        min=-2,
        max=2,
        step=0.02,
        description="damping lambda",
        continuous_update=False,
        style={"description_width": "initial"},
    )
    adapt = ipywidgets.Checkbox(value=False, description="Levenberg-Marquardt adaptation")

    def draw(damping, adapt):
        damping_figure(damping, adapt, steps)
        plt.show()

    return ipywidgets.interactive(draw, damping=damping, adapt=adapt)
