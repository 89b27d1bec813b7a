"""Interactive explorers. Each is a thin ipywidgets layer over a pure function
(``*_figure`` / ``*_runs``) that the tests call directly."""

from __future__ import annotations

import jax
import matplotlib.pyplot as plt

from lecture_lib import validation
from lecture_lib.optim import gd
from lecture_lib.plots import contour, loss_curves
from lecture_lib.problems import Problem
from lecture_lib.run import Trajectory, run


def learning_rate_run(problem: Problem, learning_rate: float, steps: int = 50) -> Trajectory:
    """Gradient descent on a 2-D problem from its start with the given learning rate."""
    learning_rate = validation.positive("learning_rate", learning_rate)
    return run(gd(learning_rate), problem, steps, jax.random.PRNGKey(0))


def learning_rate_figure(problem: Problem, learning_rate: float, steps: int = 50):
    """The contour with the GD path next to its loss curve; returns (figure, trajectory)."""
    trajectory = learning_rate_run(problem, learning_rate, steps)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    name = f"GD, alpha={learning_rate:.3g}"
    contour(problem, {name: trajectory}, ax=left)
    loss_curves(
        {name: trajectory},
        optimal_loss=problem.optimal_loss,
        ax=right,
        title="gap to the minimum" if problem.optimal_loss is not None else None,
    )
    figure.tight_layout()
    return figure, trajectory


def learning_rate_explorer(
    problem: Problem, steps: int = 50, min_rate: float = 1e-3, max_rate: float = 3.0
):
    """A log slider for the learning rate that redraws :func:`learning_rate_figure`."""
    import ipywidgets

    min_rate = validation.positive("min_rate", min_rate)
    max_rate = validation.positive("max_rate", max_rate)
    if max_rate <= min_rate:
        raise ValueError(f"max_rate must be in ({min_rate}, inf), got {max_rate}")
    slider = ipywidgets.FloatLogSlider(
        value=(min_rate * max_rate) ** 0.5,
        base=10,
        min=jax.numpy.log10(min_rate).item(),
        max=jax.numpy.log10(max_rate).item(),
        step=0.02,
        description="learning rate",
        continuous_update=False,
        style={"description_width": "initial"},
    )

    def draw(learning_rate):
        learning_rate_figure(problem, learning_rate, steps)
        plt.show()

    return ipywidgets.interactive(draw, learning_rate=slider)
