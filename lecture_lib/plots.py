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
    values = np.asarray(jax.vmap(lambda p: problem.loss(p, None))(grid)).reshape(grid_x.shape)
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
    ax.plot(xs, jax.vmap(f)(xs), color="black", lw=2, label="$h(\\theta)$")
    names = {1: "first-order model", 2: "second-order model"}
    for order in orders:
        model = taylor_model(f, x0, order)
        ax.plot(xs, jax.vmap(model)(xs), "--", label=names.get(order, f"order {order}"))
    ax.plot(
        [x0], [f(jnp.asarray(x0, jnp.result_type(float)))], "o", color="red", label=r"$\theta_0$"
    )
    ax.set_xlabel(r"$\theta$")
    ax.set_ylabel(r"$h(\theta)$")
    ax.set_title(title or f"Taylor models around $\\theta_0 = {x0:g}$")
    ax.legend(loc="best", fontsize="small")
    return ax
