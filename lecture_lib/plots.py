"""Figures the lectures reuse: contours with trajectories, loss curves, Taylor models.

Every function draws on a matplotlib ``Axes`` (a new one if none is given), sets
a title, axis labels and a legend, and returns the ``Axes``. Divergent runs are
drawn up to their last finite iterate and marked with a cross and "diverged".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from lecture_lib.problems import Problem
from lecture_lib.run import Trajectory
from lecture_lib.taylor import taylor_model


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    return ax


def _label(name: str, trajectory: Trajectory) -> str:
    return f"{name} (diverged at step {trajectory.diverged_at})" if trajectory.diverged else name


def _as_mapping(trajectories) -> Mapping[str, Trajectory]:
    if isinstance(trajectories, Trajectory):
        return {"trajectory": trajectories}
    if not isinstance(trajectories, Mapping) or not trajectories:
        raise ValueError(
            "trajectories must be a Trajectory or a non-empty {name: Trajectory} mapping"
        )
    return trajectories


def contour(
    problem: Problem,
    trajectories: Trajectory | Mapping[str, Trajectory] | None = None,
    *,
    xlim: Sequence[float] | None = None,
    ylim: Sequence[float] | None = None,
    levels: int = 30,
    log_levels: bool = True,
    resolution: int = 200,
    equal_aspect: bool = True,
    ax=None,
    title: str | None = None,
):
    """Contours of a 2-D problem's loss with optimizer paths on top.

    With ``equal_aspect`` one unit is as long on both axes, so a narrow valley
    looks as narrow as it is.

    The view defaults to a box around the recorded iterates and the optimum.
    Levels are spaced logarithmically above h* (or the grid's minimum), which shows
    narrow valleys and flat regions together.
    """
    ax = _axes(ax)
    trajectories = {} if trajectories is None else _as_mapping(trajectories)
    for name, trajectory in trajectories.items():
        if trajectory.iterates is None:
            raise ValueError(f"trajectories[{name!r}] has no iterates: contour needs a 2-D problem")
    points = [t.iterates for t in trajectories.values() if len(t.iterates)]
    if problem.optimum is not None:
        points.append(np.asarray(problem.optimum, np.float64).reshape(1, 2))
    if not points:
        points.append(np.asarray(problem.init(jax.random.PRNGKey(0)), np.float64).reshape(1, 2))
    stacked = np.concatenate(points)
    low, high = stacked.min(axis=0), stacked.max(axis=0)
    margin = np.maximum(0.15 * (high - low), 0.5)
    xlim = (low[0] - margin[0], high[0] + margin[0]) if xlim is None else xlim
    ylim = (low[1] - margin[1], high[1] + margin[1]) if ylim is None else ylim

    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = jnp.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(jnp.result_type(float))
    values = np.asarray(jax.jit(jax.vmap(lambda p: problem.loss(p, None)))(grid)).reshape(
        grid_x.shape
    )
    floor = problem.optimal_loss if problem.optimal_loss is not None else values.min()
    if log_levels:
        shifted = np.maximum(values - floor, 1e-12)
        top = max(np.percentile(shifted, 95), 1e-9)
        bottom = max(shifted.min(), top * 1e-6)
        contour_set = ax.contour(
            grid_x, grid_y, shifted, levels=np.geomspace(bottom, top, levels), cmap="viridis"
        )
    else:
        contour_set = ax.contour(grid_x, grid_y, values, levels=levels, cmap="viridis")
    del contour_set

    for name, trajectory in trajectories.items():
        path = trajectory.iterates
        (line,) = ax.plot(
            path[:, 0], path[:, 1], ".-", markersize=3, lw=1.2, label=_label(name, trajectory)
        )
        if trajectory.diverged and len(path):
            ax.plot(path[-1, 0], path[-1, 1], "x", color=line.get_color(), markersize=12, mew=2)
    if problem.optimum is not None:
        optimum = np.asarray(problem.optimum, np.float64)
        ax.plot(optimum[0], optimum[1], "*", color="red", markersize=14, label="minimum")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    if equal_aspect:
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(r"$\theta_1$")
    ax.set_ylabel(r"$\theta_2$")
    ax.set_title(title or problem.name)
    ax.legend(loc="best", fontsize="small")
    return ax


def loss_curves(
    trajectories: Trajectory | Mapping[str, Trajectory],
    *,
    optimal_loss: float | None = None,
    quantity: str = "loss",
    ax=None,
    title: str | None = None,
):
    """Loss (or the gap h - h*, or the gradient norm) against steps, on a log scale.

    Args:
      quantity: "loss" or "grad_norm".
      optimal_loss: if given, plot the gap h(theta_k) - h* instead of the loss.
    """
    if quantity not in ("loss", "grad_norm"):
        raise ValueError(f"quantity must be 'loss' or 'grad_norm', got {quantity!r}")
    ax = _axes(ax)
    for name, trajectory in _as_mapping(trajectories).items():
        values = getattr(trajectory, quantity)
        if quantity == "loss" and optimal_loss is not None:
            values = values - optimal_loss
        (line,) = ax.semilogy(np.arange(len(values)), values, label=_label(name, trajectory))
        if trajectory.diverged and len(values):
            ax.plot(len(values) - 1, values[-1], "x", color=line.get_color(), markersize=10, mew=2)
    ax.set_xlabel("step $k$")
    if quantity == "grad_norm":
        ax.set_ylabel(r"$\|\nabla h(\theta_k)\|$")
    elif optimal_loss is not None:
        ax.set_ylabel(r"$h(\theta_k) - h^*$")
    else:
        ax.set_ylabel(r"$h(\theta_k)$")
    ax.set_title(title or ("gradient norm" if quantity == "grad_norm" else "training loss"))
    ax.legend(loc="best", fontsize="small")
    return ax


def taylor_plot(
    f: Callable,
    x0: float,
    *,
    radius: float = 1.0,
    orders: Sequence[int] = (1, 2),
    resolution: int = 400,
    ax=None,
    title: str | None = None,
):
    """A scalar function and its Taylor models of the given orders around x0."""
    ax = _axes(ax)
    xs = jnp.linspace(x0 - radius, x0 + radius, resolution)
    ax.plot(xs, jax.jit(jax.vmap(f))(xs), color="black", lw=2, label="$h(\\theta)$")
    names = {1: "first-order model", 2: "second-order model"}
    for order in orders:
        model = taylor_model(f, x0, order)
        ax.plot(xs, jax.jit(jax.vmap(model))(xs), "--", label=names.get(order, f"order {order}"))
    ax.plot(
        [x0], [f(jnp.asarray(x0, jnp.result_type(float)))], "o", color="red", label=r"$\theta_0$"
    )
    ax.set_xlabel(r"$\theta$")
    ax.set_ylabel(r"$h(\theta)$")
    ax.set_title(title or f"Taylor models around $\\theta_0 = {x0:g}$")
    ax.legend(loc="best", fontsize="small")
    return ax


# --------------------------------------------------------------------------- momentum phases

# One colour per phase of theory.MOMENTUM_PHASES (Goh's "Why momentum really works").
MOMENTUM_PHASE_COLORS = {
    "ripples": "#9ecae1",
    "monotone": "#a1d99b",
    "1-step": "#d62728",
    "oscillation": "#fdae6b",
    "divergence": "#d9d9d9",
}


def momentum_phase_indices(alpha_lambda, beta, tol: float = 1e-9) -> np.ndarray:
    """Index into ``theory.MOMENTUM_PHASES`` of heavy ball's phase at each (alpha*lambda, beta).

    The vectorised twin of ``theory.momentum_phase(alpha_lambda, beta, 1.0)``: the same
    eigenvalues of the iteration matrix R = [[beta, 1], [-alpha_lambda beta, 1 - alpha_lambda]]
    and the same rules, for whole arrays (broadcast together) at once.
    """
    from lecture_lib.theory import MOMENTUM_PHASES

    alpha_lambda, beta = np.broadcast_arrays(
        np.asarray(alpha_lambda, np.float64), np.asarray(beta, np.float64)
    )
    matrices = np.empty(alpha_lambda.shape + (2, 2))
    matrices[..., 0, 0] = beta
    matrices[..., 0, 1] = 1.0
    matrices[..., 1, 0] = -alpha_lambda * beta
    matrices[..., 1, 1] = 1.0 - alpha_lambda
    eigenvalues = np.linalg.eigvals(matrices)
    moduli = np.abs(eigenvalues)
    radius = moduli.max(axis=-1)
    dominant = np.take_along_axis(eigenvalues, moduli.argmax(axis=-1)[..., None], -1)[..., 0]
    index = {name: i for i, name in enumerate(MOMENTUM_PHASES)}
    phases = np.where(dominant.real > 0, index["monotone"], index["oscillation"])
    phases = np.where(np.abs(eigenvalues.imag).max(axis=-1) > tol, index["ripples"], phases)
    phases = np.where(radius <= tol, index["1-step"], phases)
    return np.where(radius >= 1.0 - tol, index["divergence"], phases)


def momentum_phase_diagram(
    ax=None,
    *,
    point: Sequence[float] | None = None,
    alpha_lambda_max: float = 4.2,
    resolution: int = 400,
    boundaries: bool = True,
    title: str | None = None,
):
    r"""Goh's phase diagram of heavy ball along one eigendirection, over (alpha*lambda, beta).

    Each pixel is coloured by ``theory.momentum_phase``: ripples (complex eigenvalues of
    the iteration matrix), monotone, oscillation (real, dominant one negative) and
    divergence (spectral radius >= 1); the 1-step point (alpha*lambda = 1, beta = 0) is
    a marker. With ``boundaries`` the closed-form borders are drawn:
    alpha*lambda = (1 -+ sqrt(beta))^2 around the ripples and alpha*lambda = 2 + 2 beta
    before divergence.

    Args:
      point: an optional (alpha*lambda, beta) to mark, labelled with its phase.
      alpha_lambda_max: right end of the horizontal axis (> 0).
      resolution: pixels per axis (>= 10).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from lecture_lib import validation
    from lecture_lib.theory import MOMENTUM_PHASES, momentum_phase

    alpha_lambda_max = validation.positive("alpha_lambda_max", alpha_lambda_max)
    resolution = validation.positive_int("resolution", resolution, minimum=10)
    if point is not None:
        if len(point) != 2:
            raise ValueError(f"point must be a pair (alpha*lambda, beta), got {point!r}")
        point = (
            validation.positive("point[0] (alpha*lambda)", point[0]),
            validation.in_interval("point[1] (beta)", point[1], 0.0, 1.0),
        )
    ax = _axes(ax)
    beta_max = 1.0
    # pixel centres, so that pixel (i, j) shows exactly the phase of its centre
    a_step, b_step = alpha_lambda_max / resolution, beta_max / resolution
    a_centres = (np.arange(resolution) + 0.5) * a_step
    b_centres = (np.arange(resolution) + 0.5) * b_step
    indices = momentum_phase_indices(a_centres[None, :], b_centres[:, None])
    colors = [MOMENTUM_PHASE_COLORS[name] for name in MOMENTUM_PHASES]
    ax.imshow(
        indices,
        origin="lower",
        extent=(0.0, alpha_lambda_max, 0.0, beta_max),
        cmap=ListedColormap(colors),
        vmin=-0.5,
        vmax=len(colors) - 0.5,
        aspect="auto",
        interpolation="nearest",
    )
    if boundaries:
        betas = np.linspace(0.0, beta_max, 200)
        ax.plot((1 - np.sqrt(betas)) ** 2, betas, color="black", lw=0.8)
        ax.plot((1 + np.sqrt(betas)) ** 2, betas, color="black", lw=0.8)
        ax.plot(2 + 2 * betas, betas, color="black", lw=1.2, ls="--")
    ax.plot([1.0], [0.0], "o", color=MOMENTUM_PHASE_COLORS["1-step"], markersize=9, clip_on=False)
    handles = [
        Line2D([], [], marker="o", ls="", color=MOMENTUM_PHASE_COLORS[name], label=name)
        if name == "1-step"
        else Patch(facecolor=MOMENTUM_PHASE_COLORS[name], edgecolor="gray", label=name)
        for name in MOMENTUM_PHASES
    ]
    if boundaries:
        handles.append(
            Line2D([], [], color="black", ls="--", label=r"$\alpha\lambda = 2 + 2\beta$")
        )
    if point is not None:
        phase = momentum_phase(point[0], point[1], 1.0)
        (marker,) = ax.plot(
            [point[0]],
            [point[1]],
            "*",
            color="black",
            markersize=15,
            markeredgecolor="white",
            clip_on=False,
            label=rf"$\alpha\lambda = {point[0]:.3g}$, $\beta = {point[1]:.3g}$: {phase}",
        )
        handles.append(marker)
    ax.set_xlim(0.0, alpha_lambda_max)
    ax.set_ylim(0.0, beta_max)
    ax.set_xlabel(r"$\alpha\lambda$ (learning rate $\times$ eigenvalue)")
    ax.set_ylabel(r"momentum $\beta$")
    ax.set_title(title or "phases of heavy ball along one eigendirection")
    ax.legend(handles=handles, loc="lower right", fontsize="small", framealpha=0.9)
    return ax


# --------------------------------------------------------------------------- curvature matrices


def matrix_heatmap(
    matrix,
    *,
    blocks: Sequence[int] | None = None,
    ax=None,
    title: str | None = None,
    dynamic_range: float = 1e4,
    vmax: float | None = None,
):
    r"""A heat map of |M_ij| on a logarithmic colour scale, with optional block borders.

    Curvature matrices span many orders of magnitude, so the colours show
    log10 |M_ij| over ``dynamic_range`` decades below ``vmax`` (default: the largest
    entry); exact zeros (outside a block-diagonal approximation's blocks) are white.
    ``blocks`` lists the sizes of diagonal blocks (``natural_gradient.block_sizes``),
    whose borders are drawn as lines.
    """
    from matplotlib.colors import LogNorm

    from lecture_lib import validation

    array = np.abs(np.asarray(matrix, np.float64))
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(f"matrix must be a square matrix, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("matrix must be finite, got NaN or inf entries")
    dynamic_range = validation.at_least("dynamic_range", dynamic_range, 1.0 + 1e-12)
    top = array.max() if vmax is None else validation.positive("vmax", vmax)
    if top <= 0:
        raise ValueError("matrix must have a nonzero entry (or give vmax > 0)")
    if blocks is not None:
        blocks = [validation.positive_int(f"blocks[{i}]", b) for i, b in enumerate(blocks)]
        if sum(blocks) != array.shape[0]:
            raise ValueError(
                f"blocks must add up to the matrix size {array.shape[0]}, got sum {sum(blocks)}"
            )
    ax = _axes(ax)
    shown = np.ma.masked_where(array == 0, array)
    image = ax.imshow(
        shown,
        norm=LogNorm(vmin=top / dynamic_range, vmax=top, clip=True),
        cmap="magma_r",
        interpolation="nearest",
    )
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=r"$|M_{ij}|$")
    if blocks is not None and len(blocks) > 1:
        edges = np.cumsum(blocks)[:-1] - 0.5
        for index, edge in enumerate(edges):
            ax.axhline(
                edge, color="tab:blue", lw=0.8, label="block borders" if index == 0 else None
            )
            ax.axvline(edge, color="tab:blue", lw=0.8)
        ax.legend(loc="upper right", fontsize="small")
    ax.set_xlabel("parameter index $j$")
    ax.set_ylabel("parameter index $i$")
    ax.set_title(title or "curvature matrix")
    return ax


def vector_field(
    problem: Problem,
    grid_x,
    grid_y,
    directions,
    *,
    paths: Mapping[str, np.ndarray] | None = None,
    normalise: bool = True,
    ax=None,
    title: str | None = None,
    label: str = "direction",
):
    r"""Arrows of a direction field over the loss contours of a 2-D problem, with paths.

    ``grid_x``, ``grid_y`` (meshgrid layout) and ``directions`` (the grid's shape
    plus a final axis of 2) come from ``natural_gradient.direction_field``. With
    ``normalise`` every arrow has the same length, so the figure shows where each
    method *points* (Kunstner et al., 2019, figure 1). ``paths`` maps names to
    iterates of shape (k, 2), drawn as lines; the minimum is marked by ``contour``.
    """
    grid_x, grid_y = np.asarray(grid_x, np.float64), np.asarray(grid_y, np.float64)
    directions = np.asarray(directions, np.float64)
    if grid_x.ndim != 2 or grid_x.shape != grid_y.shape:
        raise ValueError(
            f"grid_x and grid_y must be 2-D arrays of the same shape, got {grid_x.shape} "
            f"and {grid_y.shape}"
        )
    if directions.shape != grid_x.shape + (2,):
        raise ValueError(
            f"directions must have shape {grid_x.shape + (2,)} (the grid's shape, then 2), "
            f"got {directions.shape}"
        )
    paths = {} if paths is None else paths
    for name, path in paths.items():
        if np.ndim(path) != 2 or np.shape(path)[1] != 2:
            raise ValueError(f"paths[{name!r}] must have shape (k, 2), got {np.shape(path)}")
    ax = _axes(ax)
    xlim = (grid_x.min(), grid_x.max())
    ylim = (grid_y.min(), grid_y.max())
    contour(problem, None, xlim=xlim, ylim=ylim, equal_aspect=False, ax=ax, title=title)
    u, v = directions[..., 0], directions[..., 1]
    if normalise:
        length = np.hypot(u, v)
        length = np.where(length > 0, length, 1.0)
        u, v = u / length, v / length
    ax.quiver(grid_x, grid_y, u, v, color="0.35", angles="xy", pivot="mid", label=label)
    for name, path in paths.items():
        path = np.asarray(path, np.float64)
        ax.plot(path[:, 0], path[:, 1], ".-", lw=1.5, markersize=3, label=name)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.legend(loc="best", fontsize="small")
    return ax


# --------------------------------------------------------------------------- Hessian spectra


def spectral_density(
    density,
    *,
    eigenvalues=None,
    bins: int = 100,
    log_scale: bool = True,
    xlim: Sequence[float] | None = None,
    ax=None,
    title: str | None = None,
):
    r"""An eigenvalue density from stochastic Lanczos quadrature, over the exact histogram.

    ``density`` comes from ``curvature.spectral_density``: its smoothed density is drawn
    as a line, and its quadrature nodes (the Ritz values of the probes) as ticks at the
    bottom. With ``eigenvalues`` (a dense ``numpy.linalg.eigvalsh``, where the matrix is
    small enough) their histogram, normalised to a density, is drawn underneath. With
    ``log_scale`` the density axis is logarithmic, cut at 1e-6 of its peak, so the few
    outliers far from the bulk stay visible.
    """
    from lecture_lib import validation
    from lecture_lib.spectrum import SpectralDensity

    if not isinstance(density, SpectralDensity):
        raise ValueError(
            f"density must be a SpectralDensity from curvature.spectral_density, got {density!r}"
        )
    bins = validation.positive_int("bins", bins)
    if not isinstance(log_scale, bool):
        raise ValueError(f"log_scale must be True or False, got {log_scale!r}")
    if eigenvalues is not None:
        eigenvalues = np.asarray(eigenvalues, np.float64)
        if eigenvalues.ndim != 1 or eigenvalues.size == 0:
            raise ValueError(
                f"eigenvalues must be a non-empty 1-D array, got shape {eigenvalues.shape}"
            )
        if not np.all(np.isfinite(eigenvalues)):
            raise ValueError("eigenvalues must be finite (no NaN or inf)")
    if xlim is not None:
        xlim = tuple(validation.real(f"xlim[{i}]", value) for i, value in enumerate(xlim))
        if len(xlim) != 2 or xlim[1] <= xlim[0]:
            raise ValueError(f"xlim must be a pair (low, high) with low < high, got {xlim}")
    ax = _axes(ax)
    grid = np.asarray(density.grid, np.float64)
    values = np.asarray(density.density, np.float64)
    nodes = np.asarray(density.nodes, np.float64).ravel()
    weights = np.asarray(density.weights, np.float64).ravel()
    if eigenvalues is not None:
        # each eigenvalue weighs 1/n: the histogram is the density of the whole spectrum,
        # also when xlim shows only part of it
        low, high = xlim if xlim is not None else (eigenvalues.min(), eigenvalues.max())
        width = (high - low) / bins if high > low else 1.0
        ax.hist(
            eigenvalues,
            bins=bins,
            range=(low, high) if high > low else None,
            weights=np.full(eigenvalues.size, 1.0 / (eigenvalues.size * width)),
            color="tab:gray",
            alpha=0.45,
            label=f"exact eigenvalues (n = {eigenvalues.size}), histogram",
        )
    ax.plot(grid, values, color="tab:blue", lw=1.6, label="SLQ density (smoothed)")
    peak = values.max()
    bottom = peak * 1e-6 if log_scale else 0.0
    shown = nodes[weights > 1e-12]
    ax.plot(
        shown,
        np.full(shown.shape, bottom if log_scale else 0.0),
        "|",
        color="tab:orange",
        markersize=12,
        label=f"quadrature nodes ({density.nodes.shape[0]} probes)",
    )
    if log_scale:
        ax.set_yscale("log")
        ax.set_ylim(bottom * 0.5, peak * 3)
    else:
        ax.set_ylim(bottom=0.0)
    if xlim is not None:
        ax.set_xlim(xlim)
    ax.set_xlabel(r"eigenvalue $\lambda$")
    ax.set_ylabel("density" + (" (log scale)" if log_scale else ""))
    ax.set_title(title or "Hessian eigenvalue density")
    ax.legend(loc="best", fontsize="small")
    return ax
