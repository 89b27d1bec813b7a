"""Goh's momentum phase diagram and its explorer: colours follow theory.momentum_phase."""

import jax
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from lecture_lib import optim, plots, problems, run, theory, widgets

# (alpha*lambda, beta) well inside each region, and the phase theory gives there
SAMPLES = [
    (0.05, 0.3, "monotone"),
    (0.3, 0.05, "monotone"),
    (1.0, 0.5, "ripples"),
    (2.0, 0.8, "ripples"),
    (1.6, 0.05, "oscillation"),
    (2.2, 0.15, "oscillation"),
    (2.5, 0.1, "divergence"),
    (4.0, 0.5, "divergence"),
]


def pixel_colour(ax, alpha_lambda, beta):
    """The RGBA colour the diagram's image shows at (alpha_lambda, beta)."""
    image = ax.get_images()[0]
    left, right, bottom, top = image.get_extent()
    values = image.get_array()
    rows, columns = values.shape
    column = int((alpha_lambda - left) / (right - left) * columns)
    row = int((beta - bottom) / (top - bottom) * rows)
    return image.cmap(image.norm(values[row, column]))


def test_phase_diagram_is_labelled_and_names_every_phase():
    ax = plots.momentum_phase_diagram()
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    for phase in theory.MOMENTUM_PHASES:
        assert phase in legend
    assert ax.get_xlim() == (0.0, 4.2) and ax.get_ylim() == (0.0, 1.0)


@pytest.mark.parametrize("alpha_lambda, beta, phase", SAMPLES)
def test_region_colours_follow_theory(alpha_lambda, beta, phase):
    assert theory.momentum_phase(alpha_lambda, beta, 1.0) == phase
    ax = plots.momentum_phase_diagram(resolution=200)
    expected = to_rgba(plots.MOMENTUM_PHASE_COLORS[phase])
    np.testing.assert_allclose(pixel_colour(ax, alpha_lambda, beta), expected, atol=1e-6)


def test_vectorised_phases_match_theory_on_a_random_grid():
    key_a, key_b = jax.random.split(jax.random.PRNGKey(3))
    alpha_lambda = np.asarray(jax.random.uniform(key_a, (300,), minval=1e-3, maxval=4.5))
    beta = np.asarray(jax.random.uniform(key_b, (300,), maxval=0.999))
    indices = plots.momentum_phase_indices(alpha_lambda, beta)
    expected = [theory.momentum_phase(a, b, 1.0) for a, b in zip(alpha_lambda, beta, strict=True)]
    assert [theory.MOMENTUM_PHASES[i] for i in indices] == expected
    assert theory.MOMENTUM_PHASES[int(plots.momentum_phase_indices(1.0, 0.0))] == "1-step"


def test_phase_diagram_marks_the_point_with_its_phase():
    ax = plots.momentum_phase_diagram(point=(2.2, 0.15))
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any("oscillation" in text and "2.2" in text for text in legend)
    with pytest.raises(ValueError, match="beta"):
        plots.momentum_phase_diagram(point=(1.0, 1.5))
    with pytest.raises(ValueError, match="alpha"):
        plots.momentum_phase_diagram(point=(-1.0, 0.5))
    with pytest.raises(ValueError, match="alpha_lambda_max"):
        plots.momentum_phase_diagram(alpha_lambda_max=0.0)


@pytest.mark.usefixtures("x64")
def test_momentum_iterates_follow_the_optimizer():
    lam, alpha, beta = 4.0, 0.3, 0.5
    problem = problems.quadratic([lam], start=[1.0])
    trajectory = run(optim.momentum(alpha, beta=beta), problem, 25, jax.random.PRNGKey(0))
    iterates = widgets.momentum_iterates(alpha * lam, beta, steps=25)
    np.testing.assert_allclose(0.5 * lam * iterates**2, trajectory.loss, rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("alpha_lambda, beta, phase", SAMPLES + [(1.0, 0.0, "1-step")])
def test_phase_figure_shows_the_point_and_iterates_that_behave_as_the_phase(
    alpha_lambda, beta, phase
):
    figure, iterates = widgets.momentum_phase_figure(alpha_lambda, beta, steps=30)
    left, right = figure.axes
    assert phase in right.get_title()
    assert right.get_xlabel() and right.get_ylabel() and right.get_legend() is not None
    legend = [text.get_text() for text in left.get_legend().get_texts()]
    assert any(phase in text and "alpha" in text for text in legend)
    np.testing.assert_allclose(right.get_lines()[-1].get_ydata(), iterates)
    assert iterates.shape == (31,) and iterates[0] == 1.0
    signs = np.sign(iterates[1:])
    if phase == "divergence":
        assert abs(iterates[-1]) > 10
    else:
        assert abs(iterates[-1]) < abs(iterates[0])
    if phase == "monotone":
        assert np.all(signs > 0)
    if phase == "oscillation":
        assert np.all(signs[1:] != signs[:-1])  # the sign flips every step
    if phase == "1-step":
        assert abs(iterates[1]) < 1e-12
    if phase == "ripples":
        flips = np.flatnonzero(signs[1:] != signs[:-1])
        assert len(flips) >= 1 and np.any(signs[1:] == signs[:-1])  # flips, but not every step


def test_phase_explorer_builds():
    pytest.importorskip("ipywidgets")
    explorer = widgets.momentum_phase_explorer(steps=10)
    assert len(explorer.children) >= 3
    with pytest.raises(ValueError, match="steps"):
        widgets.momentum_phase_explorer(steps=0)
