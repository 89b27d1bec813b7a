"""Rates and bounds from the lectures, as functions to measure runs against."""

from __future__ import annotations

import math

import numpy as np

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


# --------------------------------------------------------------------------- momentum

MOMENTUM_PHASES = ("ripples", "monotone", "1-step", "oscillation", "divergence")


def momentum_rate(kappa: float) -> float:
    """Heavy ball's contraction per step at the optimal (alpha, beta): (sqrt k-1)/(sqrt k+1)."""
    kappa = validation.at_least("kappa", kappa, 1.0)
    root = math.sqrt(kappa)
    return (root - 1.0) / (root + 1.0)


def momentum_iterations(kappa: float, eps: float) -> int:
    """Smallest k with momentum_rate(kappa)^(2k) <= eps: grows like sqrt(kappa)/4 log(1/eps)."""
    kappa = validation.at_least("kappa", kappa, 1.0)
    eps = validation.probability_fraction("eps", eps)
    if kappa == 1.0:
        return 1
    return math.ceil(math.log(eps) / (2.0 * math.log(momentum_rate(kappa))))


def optimal_momentum(lam_min: float, lam_max: float) -> tuple[float, float]:
    r"""Goh's optimal heavy-ball parameters for eigenvalues in [lam_min, lam_max]:

    .. math::
        \alpha = \left(\frac{2}{\sqrt{\lambda_1}+\sqrt{\lambda_n}}\right)^2, \qquad
        \beta = \left(\frac{\sqrt{\lambda_n}-\sqrt{\lambda_1}}
                           {\sqrt{\lambda_n}+\sqrt{\lambda_1}}\right)^2

    Returns (learning_rate, beta).
    """
    lam_min = validation.positive("lam_min", lam_min)
    lam_max = validation.positive("lam_max", lam_max)
    if lam_min > lam_max:
        raise ValueError(f"lam_min must be in (0, lam_max={lam_max}], got {lam_min}")
    low, high = math.sqrt(lam_min), math.sqrt(lam_max)
    return (2.0 / (low + high)) ** 2, ((high - low) / (high + low)) ** 2


def momentum_iteration_matrix(learning_rate: float, beta: float, lam: float) -> np.ndarray:
    r"""The 2x2 matrix R moving (v_k, x_k) to (v_{k+1}, x_{k+1}) along one eigendirection.

    For heavy ball v' = beta v + lam x, x' = x - alpha v' (x is the error along an
    eigenvector with eigenvalue lam):

    .. math::  R = \begin{pmatrix} \beta & \lambda \\ -\alpha\beta & 1 - \alpha\lambda \end{pmatrix}
    """
    learning_rate = validation.positive("learning_rate", learning_rate)
    beta = validation.in_interval("beta", beta, 0.0, 1.0)
    lam = validation.nonnegative("lam", lam)
    return np.array([[beta, lam], [-learning_rate * beta, 1.0 - learning_rate * lam]])


def momentum_eigenvalues(learning_rate: float, beta: float, lam: float) -> np.ndarray:
    """The two (possibly complex) eigenvalues of :func:`momentum_iteration_matrix`."""
    return np.linalg.eigvals(momentum_iteration_matrix(learning_rate, beta, lam))


def momentum_phase(learning_rate: float, beta: float, lam: float, tol: float = 1e-9) -> str:
    """Goh's phase of heavy ball along one eigendirection (one of MOMENTUM_PHASES).

    - divergence: the spectral radius of R is >= 1;
    - 1-step: R is nilpotent (both eigenvalues 0: beta = 0 and alpha lam = 1);
    - ripples: complex eigenvalues, the error spirals in like sqrt(beta)^k;
    - monotone: real eigenvalues, the dominant one positive;
    - oscillation: real eigenvalues, the dominant one negative (the sign flips).
    """
    eigenvalues = momentum_eigenvalues(learning_rate, beta, lam)
    radius = np.abs(eigenvalues).max()
    if radius >= 1.0 - tol:
        return "divergence"
    if radius <= tol:
        return "1-step"
    if np.abs(eigenvalues.imag).max() > tol:
        return "ripples"
    dominant = eigenvalues[np.argmax(np.abs(eigenvalues))].real
    return "monotone" if dominant > 0 else "oscillation"


def nesterov_bound(k: int, smoothness: float, strong_convexity: float, distance: float) -> float:
    r"""Upper bound for Nesterov's method (Martens' lecture):

    .. math::
        h(\theta_k) - h^* \le L \left(\frac{\sqrt\kappa - 1}{\sqrt\kappa}\right)^k
        \|\theta_0-\theta^*\|^2
    """
    k = validation.positive_int("k", k, minimum=0)
    smoothness, kappa = _smoothness_and_kappa(smoothness, strong_convexity)
    distance = validation.nonnegative("distance", distance)
    root = math.sqrt(kappa)
    return smoothness * ((root - 1.0) / root) ** k * distance**2


def first_order_lower_bound(
    k: int, smoothness: float, strong_convexity: float, distance: float
) -> float:
    r"""No first-order method can beat this on the worst-case problem (k > dimension):

    .. math::
        h(\theta_k) - h^* \ge \frac{\mu}{2}
        \left(\frac{\sqrt\kappa-1}{\sqrt\kappa+1}\right)^{2k} \|\theta_0-\theta^*\|^2
    """
    k = validation.positive_int("k", k, minimum=0)
    smoothness, kappa = _smoothness_and_kappa(smoothness, strong_convexity)
    distance = validation.nonnegative("distance", distance)
    return 0.5 * (smoothness / kappa) * momentum_rate(kappa) ** (2 * k) * distance**2


def polyak_sgd_rate(k: int, hessian, noise_covariance) -> float:
    r"""Asymptotic excess loss of SGD with Polyak averaging: tr(H^{-1} Sigma) / (2k).

    Args:
      k: steps >= 1. hessian: H(theta*), symmetric positive definite (n x n).
      noise_covariance: Sigma, the covariance of one stochastic gradient (n x n).
    """
    k = validation.positive_int("k", k)
    hessian = np.asarray(hessian, np.float64)
    noise_covariance = np.asarray(noise_covariance, np.float64)
    if hessian.ndim != 2 or hessian.shape[0] != hessian.shape[1]:
        raise ValueError(f"hessian must be a square matrix, got shape {hessian.shape}")
    if noise_covariance.shape != hessian.shape:
        raise ValueError(
            f"noise_covariance must have the hessian's shape {hessian.shape}, "
            f"got {noise_covariance.shape}"
        )
    return float(np.trace(np.linalg.solve(hessian, noise_covariance))) / (2.0 * k)
