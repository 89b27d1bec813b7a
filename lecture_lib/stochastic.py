"""Tools for lecture 7, stochastic methods: minibatch gradients and their noise, many SGD
runs at once, and the noisy quadratic model's expected loss in closed form.

- :func:`minibatch_gradients`, :func:`per_example_gradients` and
  :func:`minibatch_noise_covariance` measure the estimate SGD uses: its mean is the
  full gradient, its covariance is exact (sampling without replacement from a finite
  data set shrinks it by (m - b)/(m - 1)).
- :func:`sample_indices` draws minibatches epoch by epoch (a fresh permutation per
  epoch, as :func:`lecture_lib.run` does) or independently (what the theory assumes).
- :func:`run_many` runs one optimizer for a grid of learning rates and several keys in a
  single compiled ``vmap`` over ``lax.scan``: the tool for sweeps;
  :func:`batch_size_sweep` does the same for several batch sizes at once.
- :func:`scale_by_diagonal`: a fixed diagonal preconditioner to chain before ``gd``.
- :func:`nqm_expected_loss` is the *expected* excess loss of SGD, heavy-ball momentum
  and diagonally preconditioned SGD on the noisy quadratic model of Zhang et al.
  (2019), exactly, from the recursion of the second moments; :func:`steps_to_target`
  reads off how many steps a curve needs to reach a loss.
- :func:`nqm_figure` and :func:`nqm_explorer`: the batch-size explorer (a widget over a
  pure function).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from jax.flatten_util import ravel_pytree

from lecture_lib import validation
from lecture_lib.data import epoch_batches
from lecture_lib.optim.averaging import PolyakState
from lecture_lib.optim.base import GradientTransformation, apply_updates
from lecture_lib.problems import Problem

SAMPLINGS = ("epochs", "independent")


def _data_problem(problem) -> tuple:
    if not isinstance(problem, Problem) or problem.data is None:
        name = getattr(problem, "name", problem)
        raise ValueError(f"problem must be a data problem with training data, got {name!r}")
    return problem.data


# --------------------------------------------------------------------------- gradient noise


def minibatch_gradients(problem: Problem, params, indices) -> np.ndarray:
    r"""The minibatch gradients :math:`\frac1b\sum_{i\in S_j}\nabla h_i(\theta)`, one per row.

    Args:
      problem: a data problem. params: where to take the gradients.
      indices: int array ``(num_batches, batch_size)``: row j holds the examples of S_j.

    Returns:
      float64 array ``(num_batches, n)`` of flattened gradients (``ravel_pytree`` order).
    """
    x, y = _data_problem(problem)
    indices = jnp.asarray(indices)
    if indices.ndim != 2 or not jnp.issubdtype(indices.dtype, jnp.integer):
        raise ValueError(
            f"indices must be an integer array of shape (num_batches, batch_size), "
            f"got {indices.dtype} array of shape {indices.shape}"
        )
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= x.shape[0]):
        raise ValueError(f"indices must be in [0, {x.shape[0] - 1}], got values outside")
    return np.asarray(_gradient_function(problem)(params, indices), np.float64)


@functools.lru_cache(maxsize=16)
def _gradient_function(problem: Problem):
    """One compiled minibatch-gradient function per problem (recompiled per batch shape)."""
    x, y = problem.data

    @jax.jit
    def gradients(theta, rows):
        def one(row):
            return ravel_pytree(jax.grad(problem.loss)(theta, (x[row], y[row])))[0]

        return jax.lax.map(one, rows, batch_size=256)

    return gradients


def per_example_gradients(problem: Problem, params) -> np.ndarray:
    r"""The gradients :math:`\nabla h_i(\theta)` of every single example, shape ``(m, n)``."""
    x, _ = _data_problem(problem)
    return minibatch_gradients(problem, params, jnp.arange(x.shape[0])[:, None])


def minibatch_noise_covariance(
    problem: Problem, params, batch_size: int, replace: bool = False
) -> np.ndarray:
    r"""The exact covariance of the minibatch gradient at ``params``, shape ``(n, n)``.

    With per-example gradients :math:`g_i` and their covariance over the data set
    :math:`\Sigma_1 = \frac1m\sum_i (g_i - \bar g)(g_i - \bar g)^\top`, a minibatch of
    ``batch_size`` = b examples has gradient covariance

    .. math::  \Sigma_b = \frac{\Sigma_1}{b}\,\frac{m-b}{m-1}

    when the b examples are distinct (drawn without replacement, as within an epoch),
    and :math:`\Sigma_1/b` when they are drawn independently with replacement
    (``replace=True``). A full batch (b = m, without replacement) has no noise at all.
    """
    x, _ = _data_problem(problem)
    num_examples = int(x.shape[0])
    batch_size = validation.positive_int("batch_size", batch_size)
    if not replace and batch_size > num_examples:
        raise ValueError(f"batch_size must be in [1, {num_examples}], got {batch_size}")
    gradients = per_example_gradients(problem, params)
    centred = gradients - gradients.mean(axis=0)
    single = centred.T @ centred / num_examples
    if replace:
        return single / batch_size
    return single / batch_size * (num_examples - batch_size) / (num_examples - 1)


# --------------------------------------------------------------------------- minibatches


def sample_indices(
    key: jax.Array, num_examples: int, batch_size: int, steps: int, sampling: str = "epochs"
) -> jax.Array:
    """Indices of ``steps`` minibatches, shape ``(steps, batch_size)``.

    Args:
      sampling: "epochs": a fresh random permutation per epoch, cut into full batches;
        the same batches as :func:`lecture_lib.data.minibatch_indices` (and so as
        :func:`lecture_lib.run`) for the same key. "independent": every example of every
        batch drawn uniformly at random, with replacement, independently of all others
        (the noise model of the theory: independent minibatches with covariance
        Sigma_1 / b).
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    num_examples = validation.positive_int("num_examples", num_examples)
    batch_size = validation.positive_int("batch_size", batch_size)
    steps = validation.positive_int("steps", steps)
    if sampling == "epochs" and batch_size > num_examples:
        raise ValueError(f"batch_size must be in [1, {num_examples}], got {batch_size}")
    return _sample_compiled(key, num_examples, batch_size, steps, sampling)


def _sample(key, num_examples: int, batch_size: int, steps: int, sampling: str):
    """The draws of :func:`sample_indices`, traceable.

    Random arrays are drawn one-dimensional and in ``lax.map`` loops: a ``vmap`` over
    two-dimensional random draws takes seconds to compile on a CPU, and gives the same
    numbers.
    """
    if sampling == "independent":
        flat = jax.random.randint(key, (steps * batch_size,), 0, num_examples)
        return flat.reshape(steps, batch_size)
    return epoch_batches(key, num_examples, batch_size, steps)


_sample_compiled = jax.jit(_sample, static_argnums=(1, 2, 3, 4))


# --------------------------------------------------------------------------- many runs at once


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Losses of one optimizer over a grid of learning rates and keys.

    Attributes:
      steps: ``(R,)`` the step k of each record (0, every, 2 every, ...).
      loss: ``(num_rates, num_keys, R)`` full-batch loss h(theta_k); NaN or inf once a
        run diverges.
      average_loss: the same for the Polyak average (optimizers wrapped in
        ``polyak_average``), else None.
      learning_rates: ``(num_rates,)``. batch_size: examples per step (None: full batch).
      final_params: the last iterate of every run, each leaf stacked along two leading
        axes ``(num_rates, num_keys)``.
    """

    steps: np.ndarray
    loss: np.ndarray
    average_loss: np.ndarray | None
    learning_rates: np.ndarray
    batch_size: int | None
    final_params: object = None

    @property
    def examples(self) -> np.ndarray:
        """Examples seen at each record: k * batch_size (k * m for full batches)."""
        return self.steps * (self.batch_size or 1)


def run_many(
    make_optimizer: Callable[[Callable], GradientTransformation],
    problem: Problem,
    steps: int,
    keys: jax.Array,
    learning_rates,
    batch_size: int | None = None,
    *,
    params=None,
    sampling: str = "epochs",
    record_every: int = 1,
    full_loss: Callable | None = None,
) -> Sweep:
    """Run ``make_optimizer(learning_rate)`` for every learning rate and key, all at once.

    One compiled ``vmap`` (over learning rates, then keys) of a ``lax.scan`` over the
    steps. The learning rate reaches ``make_optimizer`` as a constant schedule
    ``k -> alpha`` (so it can be traced), e.g. ``lambda lr: optim.momentum(lr, beta=0.9)``
    or, for a decaying schedule, ``lambda lr: optim.gd(lambda k: lr(k) / (k + 1))``.

    With one learning rate and one key, ``sampling="epochs"`` and ``record_every=1``
    this reproduces :func:`lecture_lib.run` (same start, same minibatches).

    Args:
      problem: the objective. steps: steps per run, a multiple of ``record_every``.
      keys: ``(num_keys, 2)`` PRNG keys, e.g. ``jax.random.split(key, 4)``; each is split
        into an initialisation key and a minibatch key, as in ``run``.
      learning_rates: 1-D sequence of learning rates > 0.
      batch_size: examples per minibatch; None for full-batch gradients.
      params: start every run here instead of at ``problem.init``.
      sampling: "epochs" or "independent" (see :func:`sample_indices`).
      record_every: record the full-batch loss every this many steps.
      full_loss: ``full_loss(params) -> h(params)``, a cheaper closed form of
        ``problem.full_loss`` if one is known (default: ``problem.full_loss``).
    """
    methods = {"run": (make_optimizer, learning_rates)}
    return run_methods(
        methods,
        problem,
        steps,
        keys,
        batch_size,
        params=params,
        sampling=sampling,
        record_every=record_every,
        full_loss=full_loss,
    )["run"]


def run_methods(
    methods: dict,
    problem: Problem,
    steps: int,
    keys: jax.Array,
    batch_size: int | None = None,
    *,
    params=None,
    sampling: str = "epochs",
    record_every: int = 1,
    full_loss: Callable | None = None,
) -> dict[str, Sweep]:
    """:func:`run_many` for several methods, each with its own learning rates, compiled once.

    On a CPU compiling costs more than running these small problems, so one program for
    all the methods of a comparison is several times faster than one per method.

    Args:
      methods: ``{name: (make_optimizer, learning_rates)}``, each as in :func:`run_many`.
      The other arguments as in :func:`run_many`; every method starts from the same
      points and sees the same minibatches.

    Returns:
      ``{name: Sweep}`` in the order of ``methods``.
    """
    if not isinstance(methods, dict) or not methods:
        raise ValueError(
            f"methods must be a non-empty {{name: (make_optimizer, rates)}} dict, got {methods!r}"
        )
    checked = {}
    for name, entry in methods.items():
        if not (isinstance(entry, tuple | list) and len(entry) == 2):
            raise ValueError(f"methods[{name!r}] must be (make_optimizer, learning_rates)")
        steps, record_every, keys, rates = _check_sweep(
            entry[0], problem, steps, keys, entry[1], record_every
        )
        checked[name] = (entry[0], rates)
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    if batch_size is not None:
        x, y = _data_problem(problem)
        batch_size = validation.positive_int("batch_size", batch_size)
        if sampling == "epochs" and batch_size > x.shape[0]:
            raise ValueError(f"batch_size must be in [1, {x.shape[0]}], got {batch_size}")
    loss_at = problem.full_loss if full_loss is None else full_loss
    records = steps // record_every

    num_keys = keys.shape[0]
    num_examples = None if batch_size is None else int(problem.data[0].shape[0])
    init_keys, indices = _draw(keys, num_examples, batch_size, steps, sampling)
    if params is None:
        starts = _initialiser(problem)(init_keys)
    else:
        starts = jax.tree_util.tree_map(
            lambda leaf: jnp.broadcast_to(jnp.asarray(leaf), (num_keys, *jnp.shape(leaf))), params
        )
    if batch_size is None:
        indices = jnp.zeros((num_keys, records, record_every, 0), jnp.int32)
    else:
        indices = indices.reshape(num_keys, records, record_every, batch_size)

    results = _sweep(checked, problem, starts, indices[None], None, loss_at)
    return {
        name: Sweep(
            steps=np.arange(records + 1) * record_every,
            loss=loss[0],
            average_loss=None if average is None else average[0],
            learning_rates=checked[name][1],
            batch_size=batch_size,
            final_params=jax.tree_util.tree_map(lambda leaf: leaf[0], final),
        )
        for name, (loss, average, final) in results.items()
    }


def batch_size_sweep(
    make_optimizer: Callable[[Callable], GradientTransformation],
    problem: Problem,
    steps: int,
    keys: jax.Array,
    learning_rates,
    batch_sizes,
    *,
    record_every: int = 1,
    full_loss: Callable | None = None,
) -> dict[int, Sweep]:
    """:func:`run_many` for several batch sizes at once, in a single compilation.

    Each key draws one stream of epochs (a fresh permutation of the data per epoch,
    split from the key as ``run`` does); every batch size cuts the same stream into its
    own batches, so all batch sizes see the examples in the same order. (With a single
    batch size these are exactly the batches of ``run`` and ``run_many``.) To share one
    compiled program, every batch is padded to the largest batch size with examples of
    weight zero, and the gradient is the weighted mean of per-example gradients: the
    loss must be a mean over the examples of the batch plus terms that do not depend on
    it, as for every data problem of :mod:`lecture_lib.problems`.

    Args:
      batch_sizes: distinct batch sizes in [1, m]; the other arguments as in ``run_many``.

    Returns:
      ``{batch_size: Sweep}``, every sweep over the same steps.
    """
    steps, record_every, keys, rates = _check_sweep(
        make_optimizer, problem, steps, keys, learning_rates, record_every
    )
    x, _ = _data_problem(problem)
    num_examples = int(x.shape[0])
    sizes = [validation.positive_int(f"batch_sizes[{i}]", b) for i, b in enumerate(batch_sizes)]
    if not sizes or len(set(sizes)) != len(sizes) or max(sizes) > num_examples:
        raise ValueError(
            f"batch_sizes must be distinct integers in [1, {num_examples}], got {batch_sizes!r}"
        )
    records, largest = steps // record_every, max(sizes)
    num_epochs = -(-steps // (num_examples // max(sizes)))  # enough for the largest batches
    init_keys, permutations = _epochs(keys, num_examples, num_epochs)
    groups, weights = [], []
    for size in sizes:
        per_epoch = num_examples // size
        batches = permutations[:, :, : per_epoch * size].reshape(keys.shape[0], -1, size)
        padded = jnp.pad(batches[:, :steps], ((0, 0), (0, 0), (0, largest - size)))
        groups.append(padded.reshape(keys.shape[0], records, record_every, largest))
        weights.append(np.r_[np.full(size, 1.0 / size), np.zeros(largest - size)])
    starts = _initialiser(problem)(init_keys)
    loss_at = problem.full_loss if full_loss is None else full_loss
    loss, average, final = _sweep(
        {"run": (make_optimizer, rates)},
        problem,
        starts,
        jnp.stack(groups),
        jnp.asarray(weights),
        loss_at,
    )["run"]
    return {
        size: Sweep(
            steps=np.arange(records + 1) * record_every,
            loss=loss[group],
            average_loss=None if average is None else average[group],
            learning_rates=rates,
            batch_size=size,
            final_params=jax.tree_util.tree_map(lambda leaf, g=group: leaf[g], final),
        )
        for group, size in enumerate(sizes)
    }


def _check_sweep(make_optimizer, problem, steps, keys, learning_rates, record_every):
    """Validate the arguments shared by the sweeps, before any work."""
    if not callable(make_optimizer):
        raise ValueError(
            f"make_optimizer must be a callable rate -> optimizer, got {make_optimizer!r}"
        )
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lecture_lib Problem, got {problem!r}")
    steps, record_every = validation.steps_and_record_every(steps, record_every)
    keys = jnp.asarray(keys)
    typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
    if keys.ndim != (1 if typed else 2):
        raise ValueError(
            "keys must be an array of PRNG keys, shape (num_keys,) from jax.random.key or "
            f"(num_keys, 2) from jax.random.PRNGKey, got shape {keys.shape}"
        )
    rates = np.asarray(learning_rates, np.float64)
    if rates.ndim != 1 or rates.size == 0:
        raise ValueError(
            f"learning_rates must be a non-empty 1-D sequence, got shape {rates.shape}"
        )
    for index, rate in enumerate(rates):
        validation.positive(f"learning_rates[{index}]", rate)
    return steps, record_every, keys, rates


def _sweep(methods, problem, starts, indices, weights, loss_at):
    """Every (method, group, rate, key) run of the sweeps, one compiled program.

    methods: ``{name: (make_optimizer, rates)}``. indices: ``(groups, keys, records,
    record_every, batch)`` example indices; weights: ``(groups, batch)`` example weights
    (None: the plain minibatch mean, as ``run``).
    Returns ``{name: (losses, averaged losses, final params)}``: the losses
    ``(groups, rates, keys, records + 1)``, the averaged losses the same (None without
    ``polyak_average``), every leaf of the final params with leading axes
    ``(groups, rates, keys)``.
    """
    full_batch = indices.shape[-1] == 0

    def example_loss(theta, x_i, y_i):
        return problem.loss(theta, (x_i[None], y_i[None]))

    def gradient(theta, batch_index, batch_weights):
        if full_batch:
            return jax.grad(problem.loss)(theta, problem.data)
        x, y = problem.data
        if batch_weights is None:
            return jax.grad(problem.loss)(theta, (x[batch_index], y[batch_index]))

        def weighted(t):
            losses = jax.vmap(example_loss, in_axes=(None, 0, 0))(t, x[batch_index], y[batch_index])
            return jnp.sum(batch_weights * losses)

        return jax.grad(weighted)(theta)

    def one_run(make_optimizer, rate, theta0, index_chunks, batch_weights):
        optimizer = make_optimizer(lambda count: rate)
        state0 = optimizer.init(theta0)
        averaging = isinstance(state0, PolyakState)

        def step(carry, batch_index):
            theta, state = carry
            grads = gradient(theta, batch_index, batch_weights)
            updates, state = optimizer.update(grads, state, theta)
            return (apply_updates(theta, updates), state), None

        def measure(theta, state):
            average = loss_at(state.average) if averaging else jnp.zeros([])
            return loss_at(theta), average

        def chunk(carry, chunk_indices):
            carry, _ = jax.lax.scan(step, carry, chunk_indices)
            return carry, measure(*carry)

        first = measure(theta0, state0)
        (theta, _), (loss, average) = jax.lax.scan(chunk, (theta0, state0), index_chunks)
        loss = jnp.concatenate([first[0][None], loss])
        return loss, jnp.concatenate([first[1][None], average]), theta

    one_start = jax.tree_util.tree_map(lambda leaf: leaf[0], starts)
    averaging = {
        name: isinstance(
            jax.eval_shape(lambda t, make=make: make(lambda count: 1.0).init(t), one_start),
            PolyakState,
        )
        for name, (make, _) in methods.items()
    }

    @jax.jit
    def sweep(all_rates, theta0s, all_indices, all_weights):
        results = {}
        for name, (make, _) in methods.items():
            run = functools.partial(one_run, make)
            over_keys = jax.vmap(run, in_axes=(None, 0, 0, None))
            over_rates = jax.vmap(over_keys, in_axes=(0, None, None, None))
            over_groups = jax.vmap(
                over_rates, in_axes=(None, None, 0, 0 if weights is not None else None)
            )
            results[name] = over_groups(all_rates[name], theta0s, all_indices, all_weights)
        return results

    rates = {name: jnp.asarray(rates) for name, (_, rates) in methods.items()}
    results = sweep(rates, starts, indices, weights)
    return {  # in the caller's order (jit returns dicts sorted by key)
        name: (
            np.asarray(results[name][0], np.float64),
            np.asarray(results[name][1], np.float64) if averaging[name] else None,
            results[name][2],
        )
        for name in methods
    }


@functools.partial(jax.jit, static_argnums=(1, 2))
def _epochs(keys, num_examples, num_epochs):
    """Each key's initialisation key and ``num_epochs`` permutations of the examples,
    split from it as ``run`` and :func:`lecture_lib.data.minibatch_indices` do."""

    def per_key(key):
        init_key, batch_key = jax.random.split(key)
        epoch_keys = jax.random.split(batch_key, num_epochs)
        return init_key, jax.lax.map(lambda k: jax.random.permutation(k, num_examples), epoch_keys)

    return jax.lax.map(per_key, keys)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _draw(keys, num_examples, batch_size, steps, sampling):
    """Each key's initialisation key and minibatch indices, split from it as ``run`` does.

    Compiled once per shape and cached, so sweeps with the same draws share it.
    """

    def per_key(key):
        init_key, batch_key = jax.random.split(key)
        if batch_size is None:
            return init_key, jnp.zeros((0,), jnp.int32)
        return init_key, _sample(batch_key, num_examples, batch_size, steps, sampling)

    return jax.lax.map(per_key, keys)


@functools.lru_cache(maxsize=16)
def _initialiser(problem: Problem):
    """``problem.init`` over a batch of keys, compiled once per problem."""
    return jax.jit(jax.vmap(problem.init))


def steps_to_target(steps, losses, target: float):
    """The first recorded step at which a loss curve is at or below ``target``.

    Args:
      steps: ``(R,)`` the step of each record. losses: ``(..., R)`` curves (NaN counts
        as never reaching the target).

    Returns:
      float array ``(...)`` (a float for one curve): the step, or ``inf`` if the curve
      never gets there.
    """
    steps = np.asarray(steps, np.float64)
    losses = np.asarray(losses, np.float64)
    if steps.ndim != 1 or losses.shape[-1:] != steps.shape:
        raise ValueError(
            f"losses must end in an axis of len(steps)={steps.size}, got shape {losses.shape}"
        )
    reached = np.nan_to_num(losses, nan=np.inf) <= target
    first = np.where(reached.any(axis=-1), steps[np.argmax(reached, axis=-1)], np.inf)
    return float(first) if np.ndim(first) == 0 else first


def scale_by_diagonal(diagonal) -> GradientTransformation:
    r"""Multiply the gradient by a fixed diagonal preconditioner P: g -> P g.

    Chain it before ``gd`` or ``momentum`` for preconditioned SGD,
    :math:`\theta_{k+1} = \theta_k - \alpha P \tilde g_k`; on the noisy quadratic model
    ``diagonal = h ** -power`` is the preconditioner of :func:`nqm_expected_loss`.
    """
    diagonal = jnp.asarray(diagonal)
    if not bool(jnp.all(jnp.isfinite(diagonal)) & jnp.all(diagonal > 0)):
        raise ValueError("diagonal must hold finite entries > 0")

    def init(params):
        del params
        return ()

    def update(grads, state, params=None):
        del params
        return jax.tree_util.tree_map(lambda g: diagonal.astype(g.dtype) * g, grads), state

    return GradientTransformation(init, update)


# --------------------------------------------------------------------------- noisy quadratic model


def nqm_time_grid(max_steps: int, resolution: int = 32) -> np.ndarray:
    """The steps at which :func:`nqm_expected_loss` reports: 0, 1, ..., resolution, then
    ``resolution`` steps of stride 2, then of stride 4, ... until ``max_steps`` is passed.

    A relative resolution between 1/resolution and 2/resolution at every scale, with
    few points (about resolution * log2(max_steps / resolution)).
    """
    max_steps = validation.positive_int("max_steps", max_steps)
    resolution = validation.positive_int("resolution", resolution)
    stages = max(1, math.ceil(math.log2(max_steps / resolution + 1)))
    strides = np.repeat(2 ** np.arange(stages), resolution)
    return np.concatenate([[0], np.cumsum(strides)])


def _moment_map(curvature, noise, rate, beta):
    """The affine map m' = L m + o of the moments m = (E x^2, E xv, E v^2) of one step.

    x' = (1 - a h) x - a beta v - a eps,   v' = h x + beta v + eps,   Var(eps) = noise.
    Returned as nested lists, ``L[j][k]`` and ``o[j]``, of arrays of one common shape
    (structure of arrays: fast elementwise numpy over every setting and coordinate).
    """
    curvature, noise, rate, beta = np.broadcast_arrays(curvature, noise, rate, beta)
    a11, a12, a21, a22 = 1.0 - rate * curvature, -rate * beta, curvature, beta
    b1 = -rate
    linear = [
        [a11**2, 2 * a11 * a12, a12**2],
        [a11 * a21, a11 * a22 + a12 * a21, a12 * a22],
        [a21**2, 2 * a21 * a22, a22**2],
    ]
    offset = [b1**2 * noise, b1 * noise, noise + 0.0 * b1]
    return linear, offset


def _apply(linear, offset, moments):
    return [sum(linear[j][k] * moments[k] for k in range(3)) + offset[j] for j in range(3)]


def _compose_with_itself(linear, offset):
    """(L, o) applied twice: (L^2, L o + o)."""
    square = [
        [sum(linear[j][i] * linear[i][k] for i in range(3)) for k in range(3)] for j in range(3)
    ]
    return square, _apply(linear, offset, offset)


def _nqm_arguments(curvatures, start_error, noise, learning_rate, batch_size, beta, power):
    h = np.asarray(curvatures, np.float64)
    if h.ndim != 1 or h.size == 0 or not np.all(h > 0) or not np.all(np.isfinite(h)):
        raise ValueError(f"curvatures must be a non-empty 1-D array of finite values > 0, got {h}")
    x0 = np.asarray(start_error, np.float64)
    if x0.shape != h.shape:
        raise ValueError(f"start_error must have the shape of curvatures {h.shape}, got {x0.shape}")
    c = h if noise is None else np.asarray(noise, np.float64)
    if c.shape != h.shape or np.any(c < 0):
        raise ValueError(f"noise must be an array of values >= 0 shaped like curvatures {h.shape}")
    rate, batch, beta, power = np.broadcast_arrays(
        *(np.asarray(v, np.float64) for v in (learning_rate, batch_size, beta, power))
    )
    if np.any(~(rate > 0)) or np.any(~np.isfinite(rate)):
        raise ValueError("learning_rate must be finite and > 0")
    if np.any(~(batch >= 1)) or np.any(~np.isfinite(batch)):
        raise ValueError("batch_size must be >= 1")
    if np.any((beta < 0) | (beta >= 1)):
        raise ValueError("beta must be in [0, 1)")
    if np.any(~np.isfinite(power)):
        raise ValueError("power must be finite")
    # per coordinate: effective rate a_i = alpha h_i^-p, noise of one step c_i / B
    effective = rate[..., None] * h ** (-power[..., None])
    linear, offset = _moment_map(h, c / batch[..., None], effective, beta[..., None])
    return h, x0, linear, offset


def nqm_expected_loss(
    curvatures,
    start_error,
    learning_rate,
    batch_size,
    *,
    beta=0.0,
    power=0.0,
    noise=None,
    max_steps: int = 10_000,
    resolution: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Expected excess loss E[h(theta_k)] - h* on the noisy quadratic model, exactly.

    The model (Zhang et al., 2019): h(theta) = 1/2 sum_i h_i x_i^2 with x = theta - theta*,
    and a minibatch gradient h_i x_i + eps_i with independent noise of variance
    c_i / B (c = h by default: the gradient covariance is C = H). The method is
    heavy-ball momentum with a diagonal preconditioner,

    .. math::  v_{k+1} = \beta v_k + \tilde g_k, \qquad
               \theta_{k+1} = \theta_k - \alpha\, H^{-p} v_{k+1},

    which is SGD for beta = 0, p = 0 (``optim.gd``), heavy ball for p = 0
    (``optim.momentum``), and preconditioned SGD for beta = 0, p > 0. Each coordinate's
    second moments (E x^2, E xv, E v^2) follow an affine recursion; we apply its powers
    2^j on the grid of :func:`nqm_time_grid` (float64, no sampling).

    Args:
      curvatures: h_i > 0, shape (n,). start_error: x_0 = theta_0 - theta*, shape (n,).
      learning_rate, batch_size, beta, power: numbers or arrays, broadcast together to
        a shape S (a grid of settings).
      noise: c_i, the variance of one example's gradient per coordinate (default h).
      max_steps, resolution: the time grid.

    Returns:
      ``(steps, excess)``: steps ``(T,)`` and the expected excess loss ``S + (T,)``;
      a diverging setting gives inf or NaN.
    """
    h, x0, linear, offset = _nqm_arguments(
        curvatures, start_error, noise, learning_rate, batch_size, beta, power
    )
    steps = nqm_time_grid(max_steps, resolution)
    stages = (len(steps) - 1) // resolution
    shape = np.shape(linear[0][0])
    moments = [np.broadcast_to(x0**2, shape), np.zeros(shape), np.zeros(shape)]
    records = [moments[0] @ h]
    with np.errstate(over="ignore", invalid="ignore"):
        for stage in range(stages):
            for _ in range(resolution):
                moments = _apply(linear, offset, moments)
                records.append(moments[0] @ h)
            if stage + 1 < stages:
                linear, offset = _compose_with_itself(linear, offset)
    excess = 0.5 * np.stack(records, axis=-1)
    return steps, excess


def nqm_noise_floor(
    curvatures, learning_rate, batch_size, *, beta=0.0, power=0.0, noise=None
) -> np.ndarray:
    r"""The stationary expected excess loss (the noise ball) of :func:`nqm_expected_loss`.

    The fixed point of the second-moment recursion; for SGD it is
    :math:`\sum_i \frac{\alpha c_i}{2B(2-\alpha h_i)} \approx \frac{\alpha\,\mathrm{tr}(C)}{4B}`.
    inf where the setting is unstable.
    """
    h = np.asarray(curvatures, np.float64)
    _, _, linear, offset = _nqm_arguments(
        h, np.zeros(h.shape), noise, learning_rate, batch_size, beta, power
    )
    matrix = np.stack([np.stack(row, axis=-1) for row in linear], axis=-2)
    vector = np.stack(offset, axis=-1)
    radius = np.max(np.abs(np.linalg.eigvals(matrix)), axis=-1)
    with np.errstate(invalid="ignore"):
        fixed = np.linalg.solve(np.eye(3) - matrix, vector[..., None])[..., 0]
    per_coordinate = np.where(radius < 1.0, 0.5 * h * fixed[..., 0], np.inf)
    return per_coordinate.sum(axis=-1)


# --------------------------------------------------------------------------- explorer


def nqm_figure(
    batch_size: int,
    learning_rate: float,
    beta: float = 0.0,
    power: float = 0.0,
    *,
    dim: int = 50,
    target: float = 0.05,
    max_steps: int = 30_000,
):
    """Expected excess loss on the noisy quadratic (h_i = 1/i, C = H, x_0 = 1) against
    steps and against examples, with the noise floor and the target marked.

    Returns ``(figure, info)`` with info = {"steps", "excess", "floor", "steps_to_target"}.
    """
    batch_size = validation.positive_int("batch_size", batch_size)
    learning_rate = validation.positive("learning_rate", learning_rate)
    beta = validation.in_interval("beta", beta, 0.0, 1.0)
    power = validation.in_interval("power", power, 0.0, 1.0, closed_high=True)
    dim = validation.positive_int("dim", dim)
    target = validation.positive("target", target)
    h = 1.0 / np.arange(1, dim + 1)
    kwargs = dict(beta=beta, power=power)
    steps, excess = nqm_expected_loss(
        h, np.ones(dim), learning_rate, batch_size, max_steps=max_steps, **kwargs
    )
    floor = float(nqm_noise_floor(h, learning_rate, batch_size, **kwargs))
    reached = steps_to_target(steps, excess, target)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    label = f"B = {batch_size}, alpha = {learning_rate:.3g}, beta = {beta:.2f}, p = {power:.2f}"
    for ax, scale, xlabel in (
        (axes[0], 1, "step $k$"),
        (axes[1], batch_size, "examples seen $kB$"),
    ):
        shown = np.where(np.isfinite(excess), excess, np.nan)
        ax.loglog(steps[1:] * scale, shown[1:], label=label)
        if np.isfinite(floor):
            ax.axhline(floor, color="gray", ls=":", label=f"noise floor {floor:.3g}")
        ax.axhline(target, color="red", ls="--", label=f"target {target:g}")
        if np.isfinite(reached):
            ax.plot(reached * scale, target, "o", color="red")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"$E[h(\theta_k)] - h^*$")
        ax.legend(fontsize="small", loc="upper right")
    verdict = "never" if not np.isfinite(reached) else f"after {reached:.0f} steps"
    axes[0].set_title(f"expected loss on the NQM: target reached {verdict}")
    axes[1].set_title("the same curve against examples seen")
    figure.tight_layout()
    info = {"steps": steps, "excess": excess, "floor": floor, "steps_to_target": reached}
    return figure, info


def nqm_explorer(dim: int = 50, target: float = 0.05):
    """Sliders for batch size, learning rate, momentum beta and preconditioning power p
    that redraw :func:`nqm_figure`."""
    import ipywidgets

    style = {"description_width": "initial"}
    batch = ipywidgets.SelectionSlider(
        options=[2**j for j in range(13)],
        value=16,
        description="batch size B",
        continuous_update=False,
        style=style,
    )
    rate = ipywidgets.FloatLogSlider(
        value=0.5,
        base=10,
        min=-3,
        max=1,
        step=0.05,
        description="learning rate",
        continuous_update=False,
        style=style,
    )
    beta = ipywidgets.FloatSlider(
        value=0.0,
        min=0.0,
        max=0.99,
        step=0.01,
        description="momentum beta",
        continuous_update=False,
        style=style,
    )
    power = ipywidgets.FloatSlider(
        value=0.0,
        min=0.0,
        max=1.0,
        step=0.05,
        description="preconditioning p",
        continuous_update=False,
        style=style,
    )

    def draw(batch_size, learning_rate, beta, power):
        nqm_figure(batch_size, learning_rate, beta, power, dim=dim, target=target)
        plt.show()

    return ipywidgets.interactive(
        draw, batch_size=batch, learning_rate=rate, beta=beta, power=power
    )
