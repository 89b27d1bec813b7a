"""Figures carry titles, labels and legends, and mark divergence; widgets' pure functions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import plots, problems, run, widgets
from lecture_lib.optim import gd

KEY = jax.random.PRNGKey(0)


def labelled(ax):
    return ax.get_title() and ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None


def test_contour_marks_divergent_runs():
    problem = problems.quadratic([1.0, 10.0])
    runs = {"small": run(gd(0.05), problem, 30, KEY), "large": run(gd(0.3), problem, 300, KEY)}
    ax = plots.contour(problem, runs, xlim=(-3, 3), ylim=(-3, 3))
    assert labelled(ax)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("diverged at step" in text for text in legend)
    assert "small" in legend


def test_contour_rejects_trajectories_without_iterates():
    problem = problems.softmax_regression()
    trajectory = run(gd(0.1), problem, 3, KEY)
    with pytest.raises(ValueError, match="contour needs a 2-D problem"):
        plots.contour(problems.rosenbrock(), {"softmax": trajectory})


def test_loss_curves_plot_the_gap_on_a_log_scale():
    problem = problems.quadratic([1.0, 4.0])
    trajectory = run(gd(0.2), problem, 20, KEY)
    ax = plots.loss_curves({"gd": trajectory}, optimal_loss=0.0)
    assert labelled(ax) and ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), trajectory.loss)
    assert labelled(plots.loss_curves(trajectory, quantity="grad_norm"))
    with pytest.raises(ValueError, match="quantity must be"):
        plots.loss_curves(trajectory, quantity="accuracy")


def test_taylor_plot_draws_function_and_models():
    ax = plots.taylor_plot(lambda x: jnp.sin(3 * x) + x**2, 0.5, radius=1.0)
    assert labelled(ax)
    assert len(ax.get_lines()) == 4


def test_learning_rate_figure_is_the_run_it_shows():
    problem = problems.quadratic([1.0, 10.0])
    figure, trajectory = widgets.learning_rate_figure(problem, 0.15, steps=40)
    expected = run(gd(0.15), problem, 40, jax.random.PRNGKey(0))
    np.testing.assert_allclose(trajectory.loss, expected.loss)
    assert len(figure.axes) == 2
    assert all(labelled(ax) for ax in figure.axes)
    assert widgets.learning_rate_run(problem, 0.25, steps=300).diverged


def test_learning_rate_explorer_builds_and_validates():
    problem = problems.quadratic([1.0, 10.0])
    explorer = widgets.learning_rate_explorer(problem, steps=10)
    slider = explorer.children[0]
    assert slider.description == "learning rate"
    with pytest.raises(ValueError, match="max_rate"):
        widgets.learning_rate_explorer(problem, min_rate=1.0, max_rate=0.5)
    with pytest.raises(ValueError, match="learning_rate"):
        widgets.learning_rate_run(problem, -1.0)


def test_optimizer_figure_is_the_run_it_shows():
    from lecture_lib.optim import momentum

    figure, trajectory = widgets.optimizer_figure("narrow valley", "heavy ball", 0.5, 0.8, steps=30)
    expected = run(momentum(0.5, beta=0.8), widgets.PROBLEMS_2D["narrow valley"](), 30, KEY)
    np.testing.assert_allclose(trajectory.loss, expected.loss)
    assert all(labelled(ax) for ax in figure.axes)
    for problem_name in widgets.PROBLEMS_2D:
        for optimizer_name in widgets.OPTIMIZERS:
            result = widgets.optimizer_run(problem_name, optimizer_name, 1e-3, 0.5, steps=5)
            assert len(result.loss) == 6
    with pytest.raises(ValueError, match="optimizer_name must be one of"):
        widgets.optimizer_run("saddle", "lbfgs", 0.1, 0.5)
    with pytest.raises(ValueError, match="beta"):
        widgets.optimizer_run("saddle", "heavy ball", 0.1, 1.5)
    assert widgets.optimizer_explorer(steps=5).children[1].description == "optimizer"
