"""Interactive explorers. Each is a thin ipywidgets layer over a pure function
(``*_figure`` / ``*_runs``) that the tests call directly."""

from __future__ import annotations

import math

import jax
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgba

from lecture_lib import problems, theory, validation
from lecture_lib.optim import adam, gd, momentum, nesterov, rmsprop
from lecture_lib.plots import MOMENTUM_PHASE_COLORS, contour, loss_curves, momentum_phase_diagram
from lecture_lib.problems import Problem
from lecture_lib.run import Trajectory, run

# The 2-D problems and the optimizers the explorers offer; beta is each one's decay.
PROBLEMS_2D = {
    "narrow valley": lambda: problems.quadratic(condition_number=25.0, angle=0.5),
    "Rosenbrock": problems.rosenbrock,
    "saddle": problems.saddle,
}
OPTIMIZERS = {
    "gradient descent": lambda learning_rate, beta: gd(learning_rate),
    "heavy ball": lambda learning_rate, beta: momentum(learning_rate, beta=beta),
    "Nesterov": lambda learning_rate, beta: nesterov(learning_rate, beta=beta),
    "RMSprop": lambda learning_rate, beta: rmsprop(learning_rate, decay=beta),
    "Adam": lambda learning_rate, beta: adam(learning_rate, b1=beta),
}


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


def _choice(name: str, value: str, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value


def optimizer_run(
    problem_name: str, optimizer_name: str, learning_rate: float, beta: float, steps: int = 100
) -> Trajectory:
    """One of :data:`OPTIMIZERS` on one of :data:`PROBLEMS_2D` from the problem's start."""
    problem = PROBLEMS_2D[_choice("problem_name", problem_name, PROBLEMS_2D)]()
    optimizer = OPTIMIZERS[_choice("optimizer_name", optimizer_name, OPTIMIZERS)](
        learning_rate, beta
    )
    return run(optimizer, problem, steps, jax.random.PRNGKey(0))


def optimizer_figure(
    problem_name: str, optimizer_name: str, learning_rate: float, beta: float, steps: int = 100
):
    """Contour with the optimizer's path next to its loss curve; returns (figure, trajectory)."""
    trajectory = optimizer_run(problem_name, optimizer_name, learning_rate, beta, steps)
    problem = PROBLEMS_2D[problem_name]()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    name = f"{optimizer_name}, alpha={learning_rate:.3g}, beta={beta:.2f}"
    contour(problem, {name: trajectory}, ax=left)
    loss_curves(
        {name: trajectory}, optimal_loss=problem.optimal_loss, ax=right, title="gap to the minimum"
    )
    figure.tight_layout()
    return figure, trajectory


def optimizer_explorer(steps: int = 100):
    """Pick a 2-D problem and an optimizer; slide the learning rate (log) and beta."""
    import ipywidgets

    steps = validation.positive_int("steps", steps)
    learning_rate = ipywidgets.FloatLogSlider(
        value=0.05,
        base=10,
        min=-4,
        max=math.log10(3.0),
        step=0.02,
        description="learning rate",
        continuous_update=False,
        style={"description_width": "initial"},
    )
    beta = ipywidgets.FloatSlider(
        value=0.9, min=0.0, max=0.99, step=0.01, description="beta", continuous_update=False
    )
    problem_name = ipywidgets.Dropdown(options=list(PROBLEMS_2D), description="problem")
    optimizer_name = ipywidgets.Dropdown(
        options=list(OPTIMIZERS), value="heavy ball", description="optimizer"
    )

    def draw(problem_name, optimizer_name, learning_rate, beta):
        optimizer_figure(problem_name, optimizer_name, learning_rate, beta, steps)
        plt.show()

    return ipywidgets.interactive(
        draw,
        problem_name=problem_name,
        optimizer_name=optimizer_name,
        learning_rate=learning_rate,
        beta=beta,
    )


# --------------------------------------------------------------------------- momentum phases


def momentum_iterates(alpha_lambda: float, beta: float, steps: int = 40) -> np.ndarray:
    """Heavy ball's error x_0..x_steps along one eigendirection (x_0 = 1, v_0 = 0).

    Iterates the 2x2 matrix ``theory.momentum_iteration_matrix(alpha_lambda, beta, 1)``:
    along an eigenvector with eigenvalue lambda only the product alpha*lambda matters.
    """
    steps = validation.positive_int("steps", steps)
    matrix = theory.momentum_iteration_matrix(alpha_lambda, beta, 1.0)
    state = np.array([0.0, 1.0])  # (v_0, x_0)
    errors = [state[1]]
    for _ in range(steps):
        state = matrix @ state
        errors.append(state[1])
    return np.array(errors)


def momentum_phase_figure(alpha_lambda: float, beta: float, steps: int = 40):
    """The phase diagram with the point (alpha*lambda, beta) next to the 1-D error x_k.

    Returns (figure, iterates) with the iterates of :func:`momentum_iterates`.
    """
    iterates = momentum_iterates(alpha_lambda, beta, steps)
    phase = theory.momentum_phase(alpha_lambda, beta, 1.0)
    radius = float(np.abs(theory.momentum_eigenvalues(alpha_lambda, beta, 1.0)).max())
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    momentum_phase_diagram(ax=left, point=(alpha_lambda, beta))
    right.axhline(0.0, color="gray", lw=0.8)
    right.plot(
        np.arange(len(iterates)),
        iterates,
        "o-",
        markersize=3,
        color="black",
        label=f"$x_k$, spectral radius {radius:.3f}",
    )
    right.set_facecolor(to_rgba(MOMENTUM_PHASE_COLORS[phase], 0.35))
    right.set_xlabel("step $k$")
    right.set_ylabel(r"error $x_k$ along the eigenvector")
    right.set_title(f"heavy ball in one eigendirection: {phase}")
    right.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    return figure, iterates


def momentum_phase_explorer(steps: int = 40):
    """Sliders for alpha*lambda and beta that redraw :func:`momentum_phase_figure`."""
    import ipywidgets

    steps = validation.positive_int("steps", steps)
    alpha_lambda = ipywidgets.FloatSlider(
        value=1.0,
        min=0.01,
        max=4.2,
        step=0.01,
        description="alpha * lambda",
        continuous_update=False,
        style={"description_width": "initial"},
    )
    beta = ipywidgets.FloatSlider(
        value=0.5, min=0.0, max=0.99, step=0.01, description="beta", continuous_update=False
    )

    def draw(alpha_lambda, beta):
        momentum_phase_figure(alpha_lambda, beta, steps)
        plt.show()

    return ipywidgets.interactive(draw, alpha_lambda=alpha_lambda, beta=beta)
