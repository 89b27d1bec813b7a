r"""Tools for lecture 9 (Nero): perturbation bounds and relative updates.

- :func:`perturbation_bound`, :func:`relative_gradient_change` and :func:`bound_test`:
  the lecture's model of how far the gradient of a network moves when every layer
  moves by a relative amount :math:`r_l = \|\Delta W_l\|_F / \|W_l\|_F`,

  .. math::  \frac{\|\nabla h(W + \Delta W) - \nabla h(W)\|_F}{\|\nabla h(W)\|_F}
             \le \prod_{l=1}^L (1 + r_l) - 1,

  measured on many random perturbations at once;
- :func:`update_history`: the relative size of every update of several optimizers
  per layer, neuron and synapse (``optim.nero.relative_update_sizes``), and the norm
  and mean of every neuron, along runs compiled together;
- :func:`typical_relative_updates`, :func:`layer_spread`, :func:`good_rate_span` and
  :func:`transfer_regret`: read-outs of those runs and of the learning-rate sweeps of
  :func:`lecture_lib.adaptive.learning_rate_sweeps`;
- the lecture's figures (:func:`bound_figure`, :func:`relative_update_figure`,
  :func:`neuron_norm_figure`, :func:`sensitivity_figure`) and
  :func:`learning_rate_explorer`, a slider over the sweeps' common grid of rates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from lecture_lib import validation
from lecture_lib.adaptive import Sweep
from lecture_lib.data import minibatch_indices
from lecture_lib.optim.base import apply_updates
from lecture_lib.optim.nero import GRANULARITIES, relative_update_sizes
from lecture_lib.problems import Problem
from lecture_lib.run import global_norm

DIRECTIONS = ("random", "aligned")

# --------------------------------------------------------------------------- the bound


def perturbation_bound(relative_sizes) -> np.ndarray:
    r"""The product bound :math:`\prod_l (1 + r_l) - 1` over the last axis.

    Args:
      relative_sizes: r_l >= 0, the relative perturbation of every layer, shape (..., L).

    Returns:
      an array of shape (...).
    """
    sizes = np.asarray(relative_sizes, np.float64)
    if sizes.ndim < 1 or sizes.shape[-1] == 0:
        raise ValueError(
            f"relative_sizes must have shape (..., L) with L >= 1 layers, got {sizes.shape}"
        )
    if not np.all(np.isfinite(sizes) & (sizes >= 0)):
        raise ValueError(f"relative_sizes must be in [0, inf) in every entry, got {sizes}")
    # expm1(sum log1p) keeps the digits of tiny perturbations, where prod - 1 loses them
    return np.expm1(np.sum(np.log1p(sizes), axis=-1))


def _check_problem(problem) -> None:
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lecture_lib Problem, got {problem!r}")


def _check_like(name: str, tree, params) -> None:
    if jax.tree_util.tree_structure(tree) != jax.tree_util.tree_structure(params):
        raise ValueError(f"{name} must have the structure of params, got {tree!r}")
    for index, (leaf, p) in enumerate(
        zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(params), strict=True)
    ):
        if jnp.shape(leaf) != jnp.shape(p):
            raise ValueError(
                f"{name} leaf {index} must have shape {jnp.shape(p)}, got {jnp.shape(leaf)}"
            )


def _gradient_change(problem: Problem, params, perturbation):
    grad = jax.grad(problem.loss)
    before = grad(params, problem.data)
    after = grad(apply_updates(params, perturbation), problem.data)
    difference = jax.tree_util.tree_map(jnp.subtract, after, before)
    return global_norm(difference) / global_norm(before)


def relative_gradient_change(problem: Problem, params, perturbation) -> float:
    r""":math:`\|\nabla h(W + \Delta W) - \nabla h(W)\| / \|\nabla h(W)\|` on the full batch.

    The norm is over all layers together (the Frobenius norm of the whole gradient).

    Args:
      problem: the objective h.
      params: W, a pytree.
      perturbation: Delta W, a pytree of the same structure and shapes.
    """
    _check_problem(problem)
    _check_like("perturbation", perturbation, params)
    return float(jax.jit(_gradient_change, static_argnums=0)(problem, params, perturbation))


class BoundTest(NamedTuple):
    """Perturbations of one point: their relative layer sizes, the change, the bound."""

    relative_sizes: np.ndarray  # r_l per draw and layer, shape (draws, L)
    measured: np.ndarray  # the relative gradient change of each draw, shape (draws,)
    bound: np.ndarray  # prod(1 + r_l) - 1, shape (draws,)

    @property
    def tightness(self) -> np.ndarray:
        """measured / bound for every draw: <= 1 where the bound holds, 1 where it is tight."""
        return self.measured / self.bound


def _scaled_perturbation(params, sizes, key, direction: str):
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    layers = []
    for leaf, size, layer_key in zip(leaves, sizes, keys, strict=True):
        if direction == "aligned":
            layers.append(size * leaf)
            continue
        noise = jax.random.normal(layer_key, jnp.shape(leaf), leaf.dtype)
        layers.append(size * jnp.linalg.norm(leaf) * noise / jnp.linalg.norm(noise))
    return jax.tree_util.tree_unflatten(treedef, layers)


def bound_test(
    problem: Problem, params, relative_sizes, key: jax.Array, direction: str = "random"
) -> BoundTest:
    r"""Measure the relative gradient change of many perturbations, next to the bound.

    Draw n (row n of ``relative_sizes``) perturbs layer l by
    :math:`\Delta W_l = r_{nl}\, \|W_l\|_F\, U / \|U\|_F` with U ~ N(0, I) of the layer's
    shape (``direction="random"``), or by :math:`\Delta W_l = r_{nl} W_l`, every layer
    grown by the factor 1 + r (``"aligned"``, the worst case of a product of scalars).
    Either way :math:`\|\Delta W_l\|_F / \|W_l\|_F = r_{nl}`. All draws run in one
    compilation.

    Args:
      problem: the objective; its params a pytree of L leaves (the layers).
      params: W, with no zero layer.
      relative_sizes: r >= 0 of shape (draws, L).
      key: PRNG key of the random directions.
      direction: "random" or "aligned".
    """
    _check_problem(problem)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    leaves = jax.tree_util.tree_leaves(params)
    sizes = np.asarray(relative_sizes, np.float64)
    if sizes.ndim != 2 or sizes.shape[1] != len(leaves) or sizes.shape[0] == 0:
        raise ValueError(
            f"relative_sizes must have shape (draws, {len(leaves)}) with one column per layer, "
            f"got {sizes.shape}"
        )
    bound = perturbation_bound(sizes)
    for index, leaf in enumerate(leaves):
        if not float(jnp.linalg.norm(leaf)) > 0:
            raise ValueError(f"params leaf {index} is zero: its relative size is undefined")
    dtype = leaves[0].dtype
    draw_keys = jax.random.split(key, sizes.shape[0])

    @jax.jit
    def measure(sizes, keys):
        def one(size, draw_key):
            perturbation = _scaled_perturbation(params, size, draw_key, direction)
            return _gradient_change(problem, params, perturbation)

        return jax.vmap(one)(sizes, keys)

    measured = np.asarray(measure(jnp.asarray(sizes, dtype), draw_keys), np.float64)
    return BoundTest(relative_sizes=sizes, measured=measured, bound=bound)


# --------------------------------------------------------------------------- runs


def leaf_names(params) -> list[str]:
    """Readable names of the leaves: "W1", "b1", ... for MLP layers, "W1", "W2" for a chain."""
    names = []
    for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]:
        layer = next((p.idx for p in path if isinstance(p, jax.tree_util.SequenceKey)), None)
        kind = next((p.key for p in path if isinstance(p, jax.tree_util.DictKey)), "w")
        number = "" if layer is None else str(layer + 1)
        names.append(f"{'W' if kind == 'w' else kind}{number}")
    return names


@dataclasses.dataclass(frozen=True)
class UpdateHistory:
    """What one optimizer's updates did, step by step, in relative terms.

    Attributes:
      names: the leaves' names (:func:`leaf_names`), in flatten order.
      loss: the loss at theta_0 .. theta_steps: on each step's minibatch, and on the
        full batch at the end (on the full batch throughout for full-batch runs).
      relative: {granularity: [one array per leaf]} of ``relative_update_sizes``: per
        leaf (steps,) for "layer", (steps, fan_out) for "neuron", (steps, *shape) for
        "synapse".
      neuron_norms, neuron_means: per leaf of rank 2, (steps + 1, fan_out): the norm and
        the mean of every neuron's weights (a column of W) at theta_0 .. theta_steps.
      diverged: True when a loss or an iterate became NaN or inf.
    """

    names: list[str]
    loss: np.ndarray
    relative: dict[str, list[np.ndarray]]
    neuron_norms: dict[str, np.ndarray]
    neuron_means: dict[str, np.ndarray]
    diverged: bool

    @property
    def weight_names(self) -> list[str]:
        """The leaves of rank 2 (weight matrices), the ones with neurons."""
        return list(self.neuron_norms)


def update_history(
    optimizers: Mapping,
    problem: Problem,
    steps: int,
    key: jax.Array,
    batch_size: int | None = None,
) -> dict[str, UpdateHistory]:
    r"""Run several optimizers from one start and record their relative updates.

    Every step k records, for the update :math:`u_k = \theta_{k+1} - \theta_k`, its
    relative size per layer, neuron and synapse
    (``optim.nero.relative_update_sizes(theta_k, u_k, granularity)``), and the norm and
    mean of every neuron of every weight matrix. All optimizers run in one compilation,
    from ``problem.init`` of the first half of ``key`` and on the minibatches that
    :func:`lecture_lib.run.run` draws with the same key.

    Args:
      optimizers: {name: GradientTransformation}, non-empty.
      problem: a data problem.
      steps: the number of steps >= 1.
      key: PRNG key.
      batch_size: None for full-batch gradients, or the minibatch size.
    """
    if not isinstance(optimizers, Mapping) or not optimizers:
        raise ValueError(
            f"optimizers must be a non-empty {{name: optimizer}} dict, got {optimizers!r}"
        )
    for name, optimizer in optimizers.items():
        if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
            raise ValueError(f"optimizers[{name!r}] must be a GradientTransformation")
    _check_problem(problem)
    if problem.data is None:
        raise ValueError(f"problem must be a data problem; {problem.name!r} has no data")
    steps = validation.positive_int("steps", steps)
    init_key, batch_key = jax.random.split(key)
    params = problem.init(init_key)
    if batch_size is None:
        batches = jnp.zeros((steps, 0), jnp.int32)
    else:
        batches = minibatch_indices(batch_key, problem.num_examples, batch_size, steps)
    full_batch = batch_size is None
    names = leaf_names(params)

    def follow(optimizer):
        value_and_grad = jax.value_and_grad(problem.loss)

        def body(carry, batch_index):
            theta, state = carry
            if full_batch:
                batch = problem.data
            else:
                x, y = problem.data
                batch = (x[batch_index], y[batch_index])
            loss, grads = value_and_grad(theta, batch)
            updates, state = optimizer.update(grads, state, theta)
            return (apply_updates(theta, updates), state), (loss, theta, updates)

        (theta, _), (losses, thetas, updates) = jax.lax.scan(
            body, (params, optimizer.init(params)), batches
        )
        final_loss = problem.loss(theta, problem.data)
        relative = {
            granularity: jax.tree_util.tree_leaves(sizes(thetas, updates, granularity))
            for granularity in GRANULARITIES
        }
        thetas = jax.tree_util.tree_map(
            lambda history, last: jnp.concatenate([history, last[None]]), thetas, theta
        )
        return jnp.concatenate([losses, final_loss[None]]), thetas, relative

    sizes = jax.vmap(relative_update_sizes, in_axes=(0, 0, None))
    results = jax.jit(lambda: {name: follow(one) for name, one in optimizers.items()})()
    histories = {}
    for name in optimizers:  # in the caller's order (jit returns dicts sorted by key)
        losses, thetas, relative = jax.tree_util.tree_map(np.asarray, results[name])
        weights = {
            leaf_name: np.asarray(leaf)
            for leaf_name, leaf in zip(names, jax.tree_util.tree_leaves(thetas), strict=True)
            if leaf.ndim == 3
        }
        losses = np.asarray(losses)
        finite = np.all(np.isfinite(losses)) and all(
            np.all(np.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(thetas)
        )
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged run is flagged instead
            norms = {k: np.linalg.norm(w, axis=1) for k, w in weights.items()}
            means = {k: np.mean(w, axis=1) for k, w in weights.items()}
        histories[name] = UpdateHistory(
            names=names,
            loss=losses,
            relative={granularity: list(relative[granularity]) for granularity in GRANULARITIES},
            neuron_norms=norms,
            neuron_means=means,
            diverged=not finite,
        )
    return histories


# --------------------------------------------------------------------------- read-outs


def _check_history(history) -> None:
    if not isinstance(history, UpdateHistory):
        raise ValueError(f"history must be an UpdateHistory (from update_history), got {history!r}")


def _check_skip(skip, steps: int) -> int:
    skip = validation.positive_int("skip", skip, minimum=0)
    if skip >= steps:
        raise ValueError(
            f"skip must be in [0, {steps - 1}] (the run has {steps} steps), got {skip}"
        )
    return skip


def typical_relative_updates(
    history: UpdateHistory, granularity: str = "layer", skip: int = 10
) -> dict[str, np.ndarray]:
    """The median over steps ``skip..`` of the relative update sizes, per leaf.

    Returns {leaf name: array}: a number per leaf for "layer", one per neuron (fan_out,)
    for "neuron", one per weight for "synapse". The first ``skip`` steps are left out:
    a zero-initialised bias moves by an infinite relative amount at step 0, and Nero's
    first update also projects the initial weights.
    """
    _check_history(history)
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    skip = _check_skip(skip, len(history.loss) - 1)
    return {
        name: np.median(sizes[skip:], axis=0)
        for name, sizes in zip(history.names, history.relative[granularity], strict=True)
    }


def layer_spread(history: UpdateHistory, skip: int = 10) -> float:
    """Largest over smallest typical relative update of the weight layers (>= 1)."""
    typical = typical_relative_updates(history, "layer", skip)
    sizes = np.array([typical[name] for name in history.weight_names])
    if sizes.size == 0:
        raise ValueError("history must have weight matrices (leaves of rank 2), it has none")
    return float(sizes.max() / sizes.min()) if sizes.min() > 0 else np.inf


def _check_sweep(name: str, sweep) -> None:
    if not isinstance(sweep, Sweep):
        raise ValueError(
            f"{name} must be a Sweep (from adaptive.learning_rate_sweeps), got {sweep!r}"
        )


def good_rate_span(sweep: Sweep, threshold: float) -> float:
    """How many decades of learning rates reach a final loss <= ``threshold``.

    The log10 ratio of the largest to the smallest such rate of the grid (0 for a single
    one, NaN when no rate gets there). Diverged runs count as infinite loss.
    """
    _check_sweep("sweep", sweep)
    threshold = validation.positive("threshold", threshold)
    good = sweep.learning_rates[sweep.final_losses <= threshold]
    if good.size == 0:
        return np.nan
    return float(np.log10(good.max() / good.min()))


def transfer_regret(source: Sweep, target: Sweep) -> float:
    """Final loss on ``target`` at the rate that is best on ``source``, over target's best.

    1 when the best rate transfers exactly; inf when it diverges on ``target``. Both
    sweeps must share the grid of rates.
    """
    _check_sweep("source", source)
    _check_sweep("target", target)
    if not np.array_equal(source.learning_rates, target.learning_rates):
        raise ValueError("source and target must be sweeps over the same learning rates")
    return float(target.final_losses[source.best_index] / target.final_losses.min())


# --------------------------------------------------------------------------- figures


def bound_figure(tests: Mapping[str, BoundTest], ax=None):
    """Measured relative gradient change against the bound, one colour per test (log-log)."""
    if not isinstance(tests, Mapping) or not tests:
        raise ValueError(f"tests must be a non-empty {{name: BoundTest}} dict, got {tests!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, test in tests.items():
        if not isinstance(test, BoundTest):
            raise ValueError(f"tests[{name!r}] must be a BoundTest, got {test!r}")
        ax.loglog(test.bound, test.measured, ".", ms=4, alpha=0.6, label=name)
    low = min(float(np.min(t.bound)) for t in tests.values())
    high = max(float(np.max(t.bound)) for t in tests.values())
    ax.loglog([low, high], [low, high], "k--", lw=1, label="measured = bound")
    ax.set_xlabel(r"bound $\prod_l (1 + r_l) - 1$")
    ax.set_ylabel(r"measured $\|\Delta \nabla h\|_F / \|\nabla h\|_F$")
    ax.set_title("relative gradient change of random perturbations")
    ax.legend(fontsize="small")
    return ax


def _log_boxes(ax, samples: Mapping[str, np.ndarray]) -> None:
    names = list(samples)
    ax.boxplot(
        [np.log10(samples[name][samples[name] > 0]) for name in names],
        whis=(5, 95),
        showfliers=False,
    )
    ax.set_xticks(range(1, len(names) + 1), names)


def relative_update_figure(
    histories: Mapping[str, UpdateHistory], skip: int = 10, reference: float | None = None
):
    """Typical relative updates per layer (left), neuron (middle) and synapse (right).

    Left: the median relative update of every weight matrix against its depth, one line
    per optimizer. Middle and right: boxes (5-95%) of the neurons' and synapses'
    typical relative updates over all weight matrices, on a log10 scale. ``reference``
    (Nero's learning rate, say) is drawn as a dashed line. Returns the figure.
    """
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError("histories must be a non-empty {name: UpdateHistory} dict")
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.2))
    neurons, synapses = {}, {}
    for name, history in histories.items():
        layers = typical_relative_updates(history, "layer", skip)
        weights = history.weight_names
        left.semilogy(
            np.arange(1, len(weights) + 1), [layers[w] for w in weights], "o-", label=name
        )
        for store, granularity in ((neurons, "neuron"), (synapses, "synapse")):
            typical = typical_relative_updates(history, granularity, skip)
            store[name] = np.concatenate([np.ravel(typical[w]) for w in weights])
    left.set_xlabel("weight matrix $l$ (input to output)")
    left.set_ylabel(r"$\|\Delta W_l\|_F / \|W_l\|_F$ (median over steps)")
    left.set_title("per layer")
    _log_boxes(middle, neurons)
    middle.set_ylabel(r"$\log_{10} \|\Delta w_j\| / \|w_j\|$")
    middle.set_title("per neuron (all weight matrices)")
    _log_boxes(right, synapses)
    right.set_ylabel(r"$\log_{10} |\Delta W_{ij}| / |W_{ij}|$")
    right.set_title("per synapse (all weight matrices)")
    if reference is not None:
        reference = validation.positive("reference", reference)
        left.axhline(reference, color="gray", ls="--", label="Nero's learning rate")
        for ax in (middle, right):
            ax.axhline(np.log10(reference), color="gray", ls="--")
    left.legend(fontsize="small")
    figure.tight_layout()
    return figure


def neuron_norm_figure(histories: Mapping[str, UpdateHistory]):
    """Spread of the neuron norms (left) and the largest neuron mean (right) along the runs."""
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError("histories must be a non-empty {name: UpdateHistory} dict")
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, history in histories.items():
        _check_history(history)
        norms = np.concatenate(list(history.neuron_norms.values()), axis=1)
        means = np.concatenate(list(history.neuron_means.values()), axis=1)
        steps = np.arange(norms.shape[0])
        (line,) = left.semilogy(steps, np.median(norms, axis=1), label=f"{name} (median)")
        left.fill_between(steps, norms.min(axis=1), norms.max(axis=1), alpha=0.2,
                          color=line.get_color())  # fmt: skip
        right.semilogy(steps, np.max(np.abs(means), axis=1) + 1e-16, label=name)
    left.set_xlabel("step $k$")
    left.set_ylabel(r"neuron norm $\|w_j\|$ (band: min to max)")
    left.set_title("neuron norms, all weight matrices")
    right.set_xlabel("step $k$")
    right.set_ylabel(r"$\max_j |\mathrm{mean}(w_j)|$")
    right.set_title("balance: the largest neuron mean")
    left.legend(fontsize="small")
    right.legend(fontsize="small")
    figure.tight_layout()
    return figure


def _check_sweeps(sweeps) -> None:
    if not isinstance(sweeps, Mapping) or not sweeps:
        raise ValueError(
            f"sweeps must be a non-empty {{problem: {{method: Sweep}}}} dict, got {sweeps!r}"
        )
    for problem_name, methods in sweeps.items():
        if not isinstance(methods, Mapping) or not methods:
            raise ValueError(f"sweeps[{problem_name!r}] must be a non-empty {{method: Sweep}} dict")
        for method, sweep in methods.items():
            _check_sweep(f"sweeps[{problem_name!r}][{method!r}]", sweep)


def sensitivity_figure(sweeps: Mapping[str, Mapping[str, Sweep]]):
    """Final loss against learning rate, one panel per problem, one line per method.

    Rates whose run diverged are marked with an x at the top of the panel.
    """
    _check_sweeps(sweeps)
    figure, axes = plt.subplots(1, len(sweeps), figsize=(6.5 * len(sweeps), 4.2), squeeze=False)
    for ax, (problem_name, methods) in zip(axes[0], sweeps.items(), strict=True):
        top = max(float(np.max(s.final_losses[np.isfinite(s.final_losses)], initial=0))
                  for s in methods.values())  # fmt: skip
        for method, sweep in methods.items():
            finite = np.isfinite(sweep.final_losses)
            (line,) = ax.loglog(sweep.learning_rates[finite], sweep.final_losses[finite], "o-",
                                ms=4, label=method)  # fmt: skip
            if not finite.all():
                ax.plot(sweep.learning_rates[~finite], np.full((~finite).sum(), 1.5 * top), "x",
                        color=line.get_color(), ms=9, mew=2)  # fmt: skip
        ax.set_xlabel(r"learning rate $\alpha$")
        ax.set_ylabel("final training loss")
        ax.set_title(f"{problem_name} (x: diverged)")
        ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def rate_figure(sweeps: Mapping[str, Mapping[str, Sweep]], learning_rate: float):
    """The loss curves of every method at one rate of the sweeps' grid, one panel per problem."""
    _check_sweeps(sweeps)
    learning_rate = validation.positive("learning_rate", learning_rate)
    figure, axes = plt.subplots(1, len(sweeps), figsize=(6.5 * len(sweeps), 4.2), squeeze=False)
    for ax, (problem_name, methods) in zip(axes[0], sweeps.items(), strict=True):
        for method, sweep in methods.items():
            matches = np.flatnonzero(np.isclose(sweep.learning_rates, learning_rate, rtol=1e-6))
            if matches.size == 0:
                raise ValueError(
                    f"learning_rate must be one of the grid's rates {sweep.learning_rates}, "
                    f"got {learning_rate}"
                )
            losses = sweep.losses[matches[0]]
            finite = np.isfinite(losses)
            label = method if finite.all() else f"{method} (diverged)"
            ax.semilogy(sweep.steps[finite], losses[finite], "o-", ms=3, label=label)
        ax.set_xlabel("step $k$")
        ax.set_ylabel("training loss")
        ax.set_title(f"{problem_name}, learning rate {learning_rate:.3g}")
        ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def learning_rate_explorer(sweeps: Mapping[str, Mapping[str, Sweep]]):
    """A slider over the sweeps' rates that redraws :func:`rate_figure` (nothing is rerun)."""
    import ipywidgets

    _check_sweeps(sweeps)
    rates = next(iter(next(iter(sweeps.values())).values())).learning_rates
    slider = ipywidgets.SelectionSlider(
        options=[(f"{rate:.3g}", float(rate)) for rate in rates],
        value=float(rates[len(rates) // 2]),
        description="learning rate",
        continuous_update=False,
        style={"description_width": "initial"},
    )

    def draw(learning_rate):
        rate_figure(sweeps, learning_rate)
        plt.show()

    return ipywidgets.interactive(draw, learning_rate=slider)
