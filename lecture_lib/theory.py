"""Rates and bounds from the lectures, as functions to measure runs against."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from lecture_lib import validation


def gd_rate(kappa: float) -> float:
    """Contraction factor of gradient descent with alpha = 2/(L+mu): (kappa-1)/(kappa+1)."""
    kappa = validation.at_least("kappa", kappa, 1.0)
    return (kappa - 1.0) / (kappa + 1.0)


def optimal_learning_rate(smoothness: float, strong_convexity: float) -> float:
    """The step of the GD bound, alpha = 2/(L + mu)."""
    smoothness = validation.positive("smoothness", smoothness)
    strong_convexity = validation.positive("strong_convexity", strong_convexity)
    if strong_convexity > smoothness:
        raise ValueError(
            f"strong_convexity must be in (0, smoothness={smoothness}], got {strong_convexity}"
        )
    return 2.0 / (smoothness + strong_convexity)


def max_stable_learning_rate(smoothness: float) -> float:
    """Gradient descent on a quadratic diverges along the top eigendirection beyond 2/L."""
    return 2.0 / validation.positive("smoothness", smoothness)


def _smoothness_and_kappa(smoothness, strong_convexity):
    smoothness = validation.positive("smoothness", smoothness)
    strong_convexity = validation.positive("strong_convexity", strong_convexity)
    if strong_convexity > smoothness:
        raise ValueError(
            f"strong_convexity must be in (0, smoothness={smoothness}], got {strong_convexity}"
        )
    return smoothness, smoothness / strong_convexity


def gd_bound(k: int, smoothness: float, strong_convexity: float, distance: float) -> float:
    r"""Upper bound on h(theta_k) - h* for GD with alpha = 2/(L+mu) (Martens' lecture).

    .. math::  \frac{L}{2} \left(\frac{\kappa-1}{\kappa+1}\right)^{2k} \|\theta_0-\theta^*\|^2
    """
    k = validation.positive_int("k", k, minimum=0)
    smoothness, kappa = _smoothness_and_kappa(smoothness, strong_convexity)
    distance = validation.nonnegative("distance", distance)
    return 0.5 * smoothness * gd_rate(kappa) ** (2 * k) * distance**2


def gd_iterations(kappa: float, eps: float) -> int:
    """Smallest k with gd_rate(kappa)^(2k) <= eps: steps for the bound to shrink by eps.

    Grows like (kappa/4) log(1/eps): linearly in the condition number.
    """
    kappa = validation.at_least("kappa", kappa, 1.0)
    eps = validation.probability_fraction("eps", eps)
    if kappa == 1.0:
        return 1
    return math.ceil(math.log(eps) / (2.0 * math.log(gd_rate(kappa))))


def lipschitz_rate(num_steps: int, smoothness: float, initial_loss: float) -> float:
    r"""Nonconvex GD with step 1/L on a loss >= 0 (Network Optimisation lecture):

    .. math::  \frac{1}{K}\sum_{k<K} \|g_k\|^2 \le \frac{2 L\, h(w_0)}{K}
    """
    num_steps = validation.positive_int("num_steps", num_steps)
    smoothness = validation.positive("smoothness", smoothness)
    initial_loss = validation.nonnegative("initial_loss", initial_loss)
    return 2.0 * smoothness * initial_loss / num_steps


def stochastic_rate(
    num_steps: int, smoothness: float, initial_loss: float, noise_variance: float
) -> float:
    r"""SGD with step 1/L and gradient noise E||g~ - g||^2 <= sigma^2:

    .. math::  E\left[\frac{1}{K}\sum_{k<K} \|g_k\|^2\right] \le \frac{2 L\, h(w_0)}{K} + \sigma^2

    The first term vanishes as K grows; the noise ball sigma^2 stays.
    """
    noise_variance = validation.nonnegative("noise_variance", noise_variance)
    return lipschitz_rate(num_steps, smoothness, initial_loss) + noise_variance


def stochastic_rate_with_step(
    num_steps: int,
    learning_rate: float,
    smoothness: float,
    initial_loss: float,
    noise_variance: float,
) -> float:
    r"""SGD with a constant step alpha <= 1/L and gradient noise E||g~ - g||^2 <= sigma^2:

    .. math::  E\left[\frac{1}{K}\sum_{k<K} \|g_k\|^2\right]
               \le \frac{2\, h(w_0)}{\alpha K} + \alpha L \sigma^2

    The same telescoping argument as :func:`stochastic_rate` (which is the case
    alpha = 1/L): a smaller step takes longer to forget h(w_0), but shrinks the
    noise ball in proportion to alpha.
    """
    num_steps = validation.positive_int("num_steps", num_steps)
    smoothness = validation.positive("smoothness", smoothness)
    learning_rate = validation.positive("learning_rate", learning_rate)
    if learning_rate > 1.0 / smoothness:
        raise ValueError(
            f"learning_rate must be in (0, 1/smoothness={1.0 / smoothness:g}], got {learning_rate}"
        )
    initial_loss = validation.nonnegative("initial_loss", initial_loss)
    noise_variance = validation.nonnegative("noise_variance", noise_variance)
    return 2.0 * initial_loss / (learning_rate * num_steps) + (
        learning_rate * smoothness * noise_variance
    )


def minibatch_gradient_variance(
    problem, params, batch_size: int, key, num_batches: int = 512
) -> float:
    r"""Monte Carlo estimate of sigma^2 = E||g~ - g||^2 at ``params``.

    g is the full-batch gradient of ``problem`` and g~ the gradient on a minibatch of
    ``batch_size`` examples drawn uniformly without replacement; the expectation is
    averaged over ``num_batches`` independent minibatches drawn from ``key``. This is
    the noise level sigma^2 of :func:`stochastic_rate` at one point.
    """
    if getattr(problem, "data", None) is None:
        name = getattr(problem, "name", problem)
        raise ValueError(f"problem must be a data problem with training data, got {name!r}")
    num_examples = int(problem.data[0].shape[0])
    batch_size = validation.positive_int("batch_size", batch_size)
    if batch_size > num_examples:
        raise ValueError(f"batch_size must be in [1, {num_examples}], got {batch_size}")
    num_batches = validation.positive_int("num_batches", num_batches)
    estimate = _gradient_variance_estimator(problem, batch_size, num_batches)
    return float(estimate(params, key))


@functools.lru_cache(maxsize=16)
def _gradient_variance_estimator(problem, batch_size: int, num_batches: int):
    """One compiled estimator per (problem, batch size, number of batches)."""
    x, y = problem.data
    num_examples = int(x.shape[0])

    def flat_grad(params, batch):
        return ravel_pytree(jax.grad(problem.loss)(params, batch))[0]

    @jax.jit
    def estimate(params, key):
        full = flat_grad(params, problem.data)
        keys = jax.random.split(key, num_batches)
        indices = jax.vmap(lambda k: jax.random.permutation(k, num_examples)[:batch_size])(keys)

        def squared_deviation(index):
            return jnp.sum((flat_grad(params, (x[index], y[index])) - full) ** 2)

        return jnp.mean(jax.lax.map(squared_deviation, indices, batch_size=128))

    return estimate
