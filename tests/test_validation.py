"""Bad input raises ValueError naming the argument and its valid range, before any work."""

import math

import jax
import pytest

from lecture_lib import data, problems, run, taylor, theory
from lecture_lib.optim import chain, gd

BAD_RATES = [0.0, -0.1, math.nan, math.inf, "fast", True]


@pytest.mark.parametrize("bad", BAD_RATES)
def test_gd_rejects_bad_learning_rate(bad):
    with pytest.raises(ValueError, match="learning_rate"):
        gd(bad)


def test_gd_accepts_a_schedule():
    gd(lambda count: 0.1 / (count + 1))


@pytest.mark.parametrize("bad", [0.5, 0.0, -3.0, math.nan])
def test_quadratic_rejects_condition_number_below_one(bad):
    with pytest.raises(ValueError, match=r"condition_number must be in \[1.0, inf\)"):
        problems.quadratic(condition_number=bad)


def test_quadratic_needs_exactly_one_spectrum():
    with pytest.raises(ValueError, match="exactly one"):
        problems.quadratic()
    with pytest.raises(ValueError, match="exactly one"):
        problems.quadratic([1.0, 2.0], condition_number=3.0)


def test_quadratic_rejects_nonpositive_eigenvalues_and_bad_shapes():
    with pytest.raises(ValueError, match=r"eigenvalues\[1\] must be in \(0, inf\)"):
        problems.quadratic([1.0, -2.0])
    with pytest.raises(ValueError, match="start must have shape"):
        problems.quadratic([1.0, 2.0], start=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="angle rotates 2-D"):
        problems.quadratic([1.0, 2.0, 3.0], angle=0.3)


@pytest.mark.parametrize("bad", [0, -5, 2.5, "10"])
def test_run_rejects_bad_steps(bad):
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        run(gd(0.1), problems.quadratic([1.0, 2.0]), bad, jax.random.PRNGKey(0))


def test_run_rejects_batches_on_analytic_problems_and_oversized_batches():
    with pytest.raises(ValueError, match="batch_size needs a data problem"):
        run(gd(0.1), problems.rosenbrock(), 5, jax.random.PRNGKey(0), batch_size=4)
    problem = problems.logistic_regression()
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, "):
        run(gd(0.1), problem, 5, jax.random.PRNGKey(0), batch_size=10**6)


def test_run_rejects_non_optimizers():
    with pytest.raises(ValueError, match="optimizer must be"):
        run("sgd", problems.rosenbrock(), 5, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="problem must be"):
        run(gd(0.1), lambda x: x, 5, jax.random.PRNGKey(0))


def test_theory_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"kappa must be in \[1.0, inf\)"):
        theory.gd_rate(0.9)
    with pytest.raises(ValueError, match=r"eps must be in \(0, 1\)"):
        theory.gd_iterations(10.0, 0.0)
    with pytest.raises(ValueError, match="strong_convexity must be in"):
        theory.gd_bound(3, 1.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="k must be an integer >= 0"):
        theory.gd_bound(-1, 2.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="smoothness"):
        theory.max_stable_learning_rate(-1.0)
    with pytest.raises(ValueError, match="noise_variance"):
        theory.stochastic_rate(10, 1.0, 1.0, -1.0)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        taylor.taylor_model(lambda x: x**2, 1.0, 3)
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        data.digits(test_fraction=1.5)
    with pytest.raises(ValueError, match="at least one"):
        chain()
    with pytest.raises(ValueError, match="activation must be one of"):
        problems.mlp(activation="swish")
    with pytest.raises(ValueError, match="init_scheme must be one of"):
        problems.mlp(init_scheme="lecun")
    with pytest.raises(ValueError, match="classes must be two different digits"):
        problems.logistic_regression(classes=(3, 3))
    with pytest.raises(ValueError, match=r"l2 must be in \[0, inf\)"):
        problems.softmax_regression(l2=-1.0)
