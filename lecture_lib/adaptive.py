"""Tools for lecture 8 (adaptive methods).

- :func:`feed_gradients`: the updates an optimizer makes on a fixed gradient sequence
  (the lecture's "ten gradients of +0.1, then one of -1.0");
- :func:`rescaled`: the same problem in other units, theta = s * phi per coordinate;
- :func:`adam_without_bias_correction` and :func:`bias_correction_ratio`: what Adam's
  warm-up correction changes;
- :func:`adadelta_with_units`: Adadelta whose two epsilons carry their own units;
- :func:`learning_rate_sweeps`, :func:`start_sweep` and :func:`compare_together`: many
  runs (full batch or minibatches) in one compilation, the rates or starts of a method
  side by side with ``jax.vmap``: on a CPU compiling costs more than running these
  small problems, so one compilation per notebook cell instead of one per run;
- :func:`epsilon_runs` / :func:`epsilon_figure` / :func:`epsilon_explorer`: Adam's
  epsilon between its two limits, sign-like steps and momentum SGD with rate alpha/eps.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from lecture_lib import problems, stochastic, validation
from lecture_lib.optim.adadelta import adadelta_with_epsilons
from lecture_lib.optim.base import (
    GradientTransformation,
    apply_updates,
    checked_learning_rate,
)
from lecture_lib.plots import contour, loss_curves
from lecture_lib.problems import Problem
from lecture_lib.run import Trajectory, global_norm

# --------------------------------------------------------------------------- gradient sequences


def feed_gradients(optimizer, gradients, start=None):
    """The updates an optimizer makes when it is fed ``gradients`` one after the other.

    The gradients do not depend on the parameter: the k-th call of
    ``optimizer.update`` receives ``gradients[k]``, whatever the parameter is. This is
    the lecture's thought experiment (a weight that receives a given sequence of
    minibatch gradients).

    Args:
      optimizer: a ``GradientTransformation``, or a ``{name: GradientTransformation}``
        dict whose optimizers are all fed the same gradients in one compilation.
      gradients: array of shape (K, ...): K gradients of a parameter of shape (...).
      start: the parameter's starting value (default: zeros).

    Returns:
      the updates u_1, ..., u_K as a float array of shape (K, ...) (a ``{name: array}``
      dict for a dict of optimizers); their cumulative sum ``np.cumsum(updates, axis=0)``
      is the displacement of the parameter.
    """
    many = isinstance(optimizer, dict)
    optimizers = optimizer if many else {"optimizer": optimizer}
    if not optimizers:
        raise ValueError("optimizer must be a GradientTransformation or a non-empty dict of them")
    for candidate in optimizers.values():
        _check_optimizer(candidate)
    gradients = jnp.asarray(gradients)
    if gradients.ndim < 1 or gradients.shape[0] == 0:
        raise ValueError(
            f"gradients must have shape (K, ...) with K >= 1 steps, got shape {gradients.shape}"
        )
    gradients = gradients.astype(jnp.result_type(float))
    params = jnp.zeros(gradients.shape[1:], gradients.dtype) if start is None else start
    params = jnp.asarray(params, gradients.dtype)
    if params.shape != gradients.shape[1:]:
        raise ValueError(
            f"start must have the shape of one gradient {gradients.shape[1:]}, got {params.shape}"
        )

    def follow(one, sequence):
        def body(carry, grad):
            theta, state = carry
            update, state = one.update(grad, state, theta)
            return (theta + update, state), update

        return jax.lax.scan(body, (params, one.init(params)), sequence)[1]

    updates = jax.jit(lambda g: {name: follow(one, g) for name, one in optimizers.items()})(
        gradients
    )
    updates = {name: np.asarray(updates[name]) for name in optimizers}  # jit sorts dict keys
    return updates if many else updates["optimizer"]


def _check_optimizer(optimizer) -> None:
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise ValueError(f"optimizer must be a GradientTransformation, got {optimizer!r}")


# --------------------------------------------------------------------------- units


def rescaled(problem: Problem, scale) -> Problem:
    r"""The same problem measured in other units: theta = scale * phi, coordinate by coordinate.

    .. math::  h_\phi(\phi) = h(s \odot \phi), \qquad
               \nabla_\phi h_\phi = s \odot \nabla_\theta h, \qquad
               H_\phi = S H_\theta S \quad (S = \mathrm{diag}(s)).

    A method is *consistent in units* when its iterates, run on ``rescaled(problem, s)``
    and mapped back by theta = s * phi, are the same as on ``problem``.

    Args:
      problem: a problem whose parameters are a single array (the 2-D problems, quadratics).
      scale: s > 0, a number or an array of the parameters' shape.
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lecture_lib Problem, got {problem!r}")
    start = problem.init(jax.random.PRNGKey(0))
    if not isinstance(start, jax.Array | np.ndarray):
        raise ValueError(
            f"problem must have a single array of parameters, {problem.name!r} has a pytree"
        )
    scale_np = np.asarray(scale, np.float64)
    if scale_np.ndim and scale_np.shape != start.shape:
        raise ValueError(
            f"scale must be a number or have the parameters' shape {start.shape}, "
            f"got shape {scale_np.shape}"
        )
    if not np.all(np.isfinite(scale_np) & (scale_np > 0)):
        raise ValueError(f"scale must be in (0, inf) in every coordinate, got {scale_np}")
    s = jnp.asarray(scale_np)

    def loss(phi, batch=None):
        return problem.loss(s.astype(phi.dtype) * phi, batch)

    def init(key):
        theta = problem.init(key)
        return theta / s.astype(theta.dtype)

    hessian = None
    if problem.hessian is not None:

        def hessian(phi):
            matrix = problem.hessian(s.astype(phi.dtype) * phi)
            scale_vector = jnp.broadcast_to(s, phi.shape).astype(phi.dtype)
            return scale_vector[:, None] * matrix * scale_vector[None, :]

    return Problem(
        name=f"{problem.name}, theta = s * phi",
        loss=loss,
        init=init,
        data=problem.data,
        test_data=problem.test_data,
        optimum=None if problem.optimum is None else problem.optimum / s,
        optimal_loss=problem.optimal_loss,
        hessian=hessian,
    )


def _positive_tree(name: str, value):
    leaves = jax.tree_util.tree_leaves(value)
    if not leaves:
        raise ValueError(f"{name} must be a number > 0 or a pytree of them, got {value!r}")
    for leaf in leaves:
        array = np.asarray(leaf, np.float64)
        if not np.all(np.isfinite(array) & (array > 0)):
            raise ValueError(f"{name} must be in (0, inf) in every entry, got {leaf!r}")
    return value


def adadelta_with_units(
    rho: float = 0.9, eps_step=1e-6, eps_grad=1e-6, learning_rate=1.0
) -> GradientTransformation:
    r"""Adadelta with one epsilon in the units of the step and one in the units of the gradient.

    .. math::
        E[g^2]_k = \rho E[g^2]_{k-1} + (1-\rho) g_k^2, \qquad
        \Delta_k = -\frac{\sqrt{E[\Delta^2]_{k-1} + \epsilon_\Delta}}
                         {\sqrt{E[g^2]_k + \epsilon_g}}\, g_k,

        E[\Delta^2]_k = \rho E[\Delta^2]_{k-1} + (1-\rho) \Delta_k^2, \qquad
        \theta_{k+1} = \theta_k + \alpha \Delta_k .

    With ``eps_step = eps_grad = eps`` this is :func:`lecture_lib.optim.adadelta`.
    Zeiler's single epsilon must be a squared length in the numerator and a squared
    gradient in the denominator; giving each its own units (eps_step -> eps_step / s^2,
    eps_grad -> eps_grad * s^2 when theta = s * phi) makes the method exactly
    consistent in units.

    Args:
      rho: decay in [0, 1).
      eps_step, eps_grad: > 0; numbers, arrays broadcastable to the parameters, or
        pytrees like the parameters.
      learning_rate: alpha > 0 (Zeiler: 1), or a schedule.
    """
    rho = validation.in_interval("rho", rho, 0.0, 1.0)
    eps_step = _positive_tree("eps_step", eps_step)
    eps_grad = _positive_tree("eps_grad", eps_grad)
    return adadelta_with_epsilons(rho, eps_step, eps_grad, checked_learning_rate(learning_rate))


# --------------------------------------------------------------------------- bias correction


class UncorrectedAdamState(NamedTuple):
    mu: object
    nu: object


def adam_without_bias_correction(
    learning_rate=1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    r"""Adam as it would be without the warm-up correction of its two running averages.

    .. math::  m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k, \quad
               v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k^2, \quad
               \theta_{k+1} = \theta_k - \alpha\,\frac{m_k}{\sqrt{v_k} + \epsilon}

    Args:
      learning_rate: alpha > 0. b1, b2: decays in [0, 1). eps: >= 0.
    """
    learning_rate = validation.positive("learning_rate", learning_rate)
    b1 = validation.in_interval("b1", b1, 0.0, 1.0)
    b2 = validation.in_interval("b2", b2, 0.0, 1.0)
    eps = validation.nonnegative("eps", eps)

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return UncorrectedAdamState(mu=zeros, nu=zeros)

    def update(grads, state, params=None):
        del params
        mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
        nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g**2, state.nu, grads)
        updates = jax.tree_util.tree_map(
            lambda m, v: -learning_rate * m / (jnp.sqrt(v) + eps), mu, nu
        )
        return updates, UncorrectedAdamState(mu=mu, nu=nu)

    return GradientTransformation(init, update)


def bias_correction_ratio(k, b1: float = 0.9, b2: float = 0.999) -> np.ndarray:
    r"""(1 - b1^k) / sqrt(1 - b2^k): the uncorrected Adam step over the corrected one at step k.

    Both versions share m_k and v_k, so for eps = 0 the ratio holds for *any* gradient
    sequence; at k = 1 it is (1 - b1) / sqrt(1 - b2).
    """
    b1 = validation.in_interval("b1", b1, 0.0, 1.0)
    b2 = validation.in_interval("b2", b2, 0.0, 1.0)
    k = np.asarray(k)
    if not np.issubdtype(k.dtype, np.integer) or np.any(k < 1):
        raise ValueError(f"k must be integers >= 1 (steps count from 1), got {k}")
    k = k.astype(np.float64)
    return (1 - b1**k) / np.sqrt(1 - b2**k)


# --------------------------------------------------------------------------- batched runs


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Runs of one method at several learning rates, from the same start on the same batches.

    Attributes:
      learning_rates: the rates, shape (n,).
      steps: the step numbers at which the loss was recorded (0, r, 2r, ..., steps).
      losses: the full-batch loss h(theta_k) at those steps for each rate, shape
        (n, len(steps)); NaN or inf from where a run diverged.
      final_params: the final parameters of every run, stacked along a leading axis n.
    """

    learning_rates: np.ndarray
    steps: np.ndarray
    losses: np.ndarray
    final_params: object

    @property
    def final_losses(self) -> np.ndarray:
        """The last recorded loss per rate, +inf for the runs that diverged."""
        last = self.losses[:, -1]
        return np.where(np.isfinite(last), last, np.inf)

    @property
    def best_index(self) -> int:
        """The rate with the lowest final loss (a ValueError if every run diverged)."""
        if not np.any(np.isfinite(self.final_losses)):
            raise ValueError(f"every learning rate in {self.learning_rates} diverged")
        return int(np.argmin(self.final_losses))

    @property
    def best_learning_rate(self) -> float:
        return float(self.learning_rates[self.best_index])

    @property
    def best_losses(self) -> np.ndarray:
        """The loss curve of the best rate."""
        return self.losses[self.best_index]

    def params(self, index: int):
        """The final parameters of run ``index``."""
        return jax.tree_util.tree_map(lambda leaf: leaf[index], self.final_params)


def learning_rate_sweeps(
    grids: dict,
    problem: Problem,
    steps: int,
    key: jax.Array,
    batch_size: int | None = None,
    record_every: int = 1,
) -> dict[str, Sweep]:
    """Runs of several methods, each at several learning rates, in one compilation.

    The runs of one key of :func:`lecture_lib.stochastic.run_methods`, with each run's
    final parameters.

    Args:
      grids: {name: (make_optimizer, learning_rates)}. ``make_optimizer`` receives each
        rate as a *schedule* (a function of the step count returning the traced rate),
        so ``optim.gd``, ``optim.adam``, ``optim.rprop``... can be given directly, and the
        rates of one method run side by side (``jax.vmap``).
      problem: the objective; every run starts where :func:`lecture_lib.run.run` starts
        with the same ``key``.
      steps: number of steps, a multiple of ``record_every``.
      key: PRNG key, split into the initialisation key and the minibatch key.
      batch_size: None for full-batch gradients, or the minibatch size (data problems);
        the minibatches are those :func:`lecture_lib.run.run` draws with the same key.
      record_every: record the full-batch loss every this many steps.

    Returns:
      {name: :class:`Sweep`}.
    """
    if not isinstance(grids, dict) or not grids:
        raise ValueError(f"grids must be a non-empty {{name: (make, rates)}} dict, got {grids!r}")
    for name, entry in grids.items():
        if not (isinstance(entry, tuple | list) and len(entry) == 2 and callable(entry[0])):
            raise ValueError(f"grids[{name!r}] must be (make_optimizer, learning_rates)")
        _check_optimizer(entry[0](lambda count: 1.0))
    if batch_size is not None and isinstance(problem, Problem) and problem.data is None:
        raise ValueError(f"batch_size needs a data problem; {problem.name!r} has no data")
    runs = stochastic.run_methods(
        grids, problem, steps, jnp.stack([key]), batch_size, record_every=record_every
    )
    return {
        name: Sweep(
            learning_rates=run.learning_rates,
            steps=run.steps,
            losses=run.loss[:, 0],
            final_params=jax.tree_util.tree_map(lambda leaf: leaf[:, 0], run.final_params),
        )
        for name, run in runs.items()
    }


def learning_rate_sweep(
    make_optimizer: Callable,
    problem: Problem,
    learning_rates: Sequence[float],
    steps: int,
    key: jax.Array,
    batch_size: int | None = None,
    record_every: int = 1,
) -> Sweep:
    """One method at several learning rates: :func:`learning_rate_sweeps` for one entry."""
    grids = {"sweep": (make_optimizer, learning_rates)}
    return learning_rate_sweeps(grids, problem, steps, key, batch_size, record_every)["sweep"]


def _optimizer_dict(optimizer, name: str = "optimizer") -> tuple[dict, bool]:
    many = isinstance(optimizer, dict)
    optimizers = optimizer if many else {name: optimizer}
    if not optimizers:
        raise ValueError("optimizer must be a GradientTransformation or a non-empty dict of them")
    for candidate in optimizers.values():
        _check_optimizer(candidate)
    return optimizers, many


def _follow(optimizer, problem: Problem, start, steps: int):
    """Full-batch run: losses, gradient norms and iterates at theta_0..theta_steps (traceable)."""
    value_and_grad = jax.value_and_grad(problem.loss)

    def measure(theta):
        loss, grads = value_and_grad(theta, problem.data)
        return loss, global_norm(grads), grads

    def body(carry, _):
        theta, state = carry
        loss, norm, grads = measure(theta)
        updates, state = optimizer.update(grads, state, theta)
        return (apply_updates(theta, updates), state), (loss, norm, theta)

    (theta, _), (losses, norms, thetas) = jax.lax.scan(
        body, (start, optimizer.init(start)), None, length=steps
    )
    loss, norm, _ = measure(theta)

    def append(history, last):
        return jnp.concatenate([history, jnp.asarray(last)[None]])

    return (
        append(losses, loss),
        append(norms, norm),
        jax.tree_util.tree_map(append, thetas, theta),
    )


def compare_together(
    optimizers: dict,
    problem: Problem,
    steps: int,
    key: jax.Array | None = None,
    params=None,
) -> dict[str, Trajectory]:
    """Full-batch runs of several optimizers from one start, all in one compilation.

    The same as ``{name: run(optimizer, problem, steps, key, params=params)}`` (the
    start is ``problem.init`` of the first half of ``key``, default ``PRNGKey(0)``) but
    compiled once for all optimizers. Recording stops at the first non-finite iterate,
    loss or gradient, as in :func:`lecture_lib.run.run`.
    """
    optimizers, _ = _optimizer_dict(optimizers)
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lecture_lib Problem, got {problem!r}")
    steps = validation.positive_int("steps", steps)
    key = jax.random.PRNGKey(0) if key is None else key
    init_key, _ = jax.random.split(key)
    start = problem.init(init_key) if params is None else params
    results = jax.jit(
        lambda theta: {
            name: _follow(one, problem, theta, steps) for name, one in optimizers.items()
        }
    )(start)
    trajectories = {}
    for name in optimizers:  # in the caller's order (jit returns dicts sorted by key)
        losses, norms, thetas = results[name]
        losses, norms = np.asarray(losses), np.asarray(norms)
        leaves = [
            np.asarray(leaf).reshape(steps + 1, -1) for leaf in jax.tree_util.tree_leaves(thetas)
        ]
        flat = np.concatenate(leaves, axis=1)
        finite = np.isfinite(losses) & np.isfinite(norms) & np.all(np.isfinite(flat), axis=1)
        recorded = steps + 1 if finite.all() else int(np.argmin(finite))
        last = max(recorded - 1, 0)
        trajectories[name] = Trajectory(
            loss=losses[:recorded],
            grad_norm=norms[:recorded],
            iterates=flat[:recorded] if flat.shape[1] == 2 else None,
            final_params=jax.tree_util.tree_map(lambda leaf, i=last: leaf[i], thetas)
            if recorded
            else start,
            diverged=recorded < steps + 1,
            diverged_at=recorded if recorded < steps + 1 else None,
            steps=steps,
        )
    return trajectories


def start_sweep(
    optimizer,
    problem: Problem,
    starts,
    steps: int,
    return_iterates: bool = False,
):
    """Full-batch runs of ``optimizer`` from each start, in one compilation.

    Args:
      optimizer: a ``GradientTransformation``, or a ``{name: GradientTransformation}``
        dict (all compiled together; the result is then a dict too).
      starts: an array of shape (n, ...) of starting parameters (single-array problems).
      return_iterates: also return the iterates theta_0..theta_steps of every run.

    Returns:
      the losses h(theta_0..theta_steps), shape (n, steps + 1); with ``return_iterates``
      the pair (losses, iterates of shape (n, steps + 1, ...)).
    """
    optimizers, many = _optimizer_dict(optimizer)
    steps = validation.positive_int("steps", steps)
    starts = jnp.asarray(starts, jnp.result_type(float))
    if starts.ndim < 1 or starts.shape[0] == 0:
        raise ValueError(f"starts must have shape (n, ...) with n >= 1, got {starts.shape}")

    def all_runs(points):
        return {
            name: jax.vmap(lambda start, one=one: _follow(one, problem, start, steps))(points)
            for name, one in optimizers.items()
        }

    results = {}
    outputs = jax.jit(all_runs)(starts)
    for name in optimizers:  # in the caller's order (jit returns dicts sorted by key)
        losses, _, iterates = outputs[name]
        losses, iterates = np.asarray(losses), np.asarray(iterates)
        results[name] = (losses, iterates) if return_iterates else losses
    return results if many else results["optimizer"]


# --------------------------------------------------------------------------- epsilon explorer


def epsilon_problem() -> Problem:
    """The narrow valley of the explorers: kappa = 25, rotated by 0.5 rad."""
    return problems.quadratic(condition_number=25.0, angle=0.5)


def epsilon_limit_rate(learning_rate: float, eps: float, b1: float):
    """The schedule of the heavy ball that Adam becomes for eps -> inf.

    For eps >> sqrt(v-hat), Adam's step is -(alpha/eps) m-hat_k, and
    m-hat_k = (1-b1)/(1-b1^k) * v_k with the heavy ball's velocity v_k = b1 v_{k-1} + g_k;
    so the heavy ball with rate alpha (1-b1) / (eps (1 - b1^(count+1))) takes the same steps.
    """
    learning_rate = validation.positive("learning_rate", learning_rate)
    eps = validation.positive("eps", eps)
    b1 = validation.in_interval("b1", b1, 0.0, 1.0)

    def schedule(count):
        k = jnp.asarray(count).astype(jnp.result_type(float)) + 1
        return learning_rate * (1 - b1) / (eps * (1 - b1**k))

    return schedule


def epsilon_runs(
    eps: float, learning_rate: float = 0.1, steps: int = 100, b1: float = 0.9, b2: float = 0.999
) -> dict[str, Trajectory]:
    """Adam with this eps on :func:`epsilon_problem`, next to its two limits.

    Returns {name: Trajectory} for Adam(eps), the eps -> 0 limit Adam(eps = 0), and the
    eps -> inf limit: heavy-ball momentum with rate alpha/eps (:func:`epsilon_limit_rate`).
    """
    from lecture_lib.optim import adam, momentum

    eps = validation.positive("eps", eps)
    learning_rate = validation.positive("learning_rate", learning_rate)
    steps = validation.positive_int("steps", steps)
    optimizers = {
        f"Adam, eps = {eps:.2g}": adam(learning_rate, b1, b2, eps),
        "eps -> 0: Adam, eps = 0": adam(learning_rate, b1, b2, 0.0),
        "eps -> inf: momentum, rate alpha/eps": momentum(
            epsilon_limit_rate(learning_rate, eps, b1), beta=b1
        ),
    }
    return compare_together(optimizers, epsilon_problem(), steps)


def epsilon_figure(eps: float, learning_rate: float = 0.1, steps: int = 100):
    """Contour with the three paths of :func:`epsilon_runs` next to their losses."""
    runs = epsilon_runs(eps, learning_rate, steps)
    problem = epsilon_problem()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    contour(
        problem,
        runs,
        xlim=(-1.5, 1.5),
        ylim=(-1.0, 2.0),
        ax=left,
        title=f"Adam between its limits (alpha = {learning_rate:.3g})",
    )
    loss_curves(runs, optimal_loss=problem.optimal_loss, ax=right, title="gap to the minimum")
    figure.tight_layout()
    return figure, runs


def epsilon_explorer(steps: int = 100):
    """Log sliders for Adam's eps and learning rate, redrawing :func:`epsilon_figure`."""
    import ipywidgets

    steps = validation.positive_int("steps", steps)
    eps = ipywidgets.FloatLogSlider(
        value=1e-2,
        base=10,
        min=-8,
        max=2,
        step=0.1,
        description="eps",
        continuous_update=False,
    )
    learning_rate = ipywidgets.FloatLogSlider(
        value=0.1,
        base=10,
        min=-3,
        max=math.log10(3.0),
        step=0.05,
        description="learning rate",
        continuous_update=False,
        style={"description_width": "initial"},
    )

    def draw(eps, learning_rate):
        epsilon_figure(eps, learning_rate, steps)
        plt.show()

    return ipywidgets.interactive(draw, eps=eps, learning_rate=learning_rate)
