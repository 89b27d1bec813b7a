"""Speed parity with optax: ours / optax time for 1,000 jitted training steps.

Each optimizer trains the digits MLP (64-32-10, tanh) for ``--steps`` minibatch
steps inside one ``jax.lax.scan``, ours and optax's with the same hyperparameters,
interleaved in one process; each is timed ``--repeats`` times after a warm-up
compile, and the table reports median times and their ratio. A second column
times the optimizer update alone (the same scan with a fixed gradient), where
the optimizer's own cost is not hidden behind the backward pass.

    .venv/bin/python benchmarks/optax_parity.py [--steps 1000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from lecture_lib import optim, problems
from lecture_lib.data import minibatch_indices

PAIRS = {
    "gd": (lambda: optim.gd(0.1), lambda: optax.sgd(0.1)),
    "momentum": (lambda: optim.momentum(0.05, beta=0.9), lambda: optax.sgd(0.05, momentum=0.9)),
    "nesterov": (
        lambda: optim.nesterov(0.05, beta=0.9),
        lambda: optax.sgd(0.05, momentum=0.9, nesterov=True),
    ),
    "adagrad": (lambda: optim.adagrad(0.05), lambda: optax.adagrad(0.05)),
    "rmsprop": (
        lambda: optim.rmsprop(1e-3, decay=0.9, eps=1e-8),
        lambda: optax.rmsprop(1e-3, decay=0.9, eps=1e-8, eps_in_sqrt=False),
    ),
    "adam": (lambda: optim.adam(1e-3), lambda: optax.adam(1e-3)),
    "adamw": (
        lambda: optim.adamw(1e-3, weight_decay=1e-4),
        lambda: optax.adamw(1e-3, weight_decay=1e-4),
    ),
}


def trainer(optimizer, problem, batches, fixed_gradient: bool):
    """A jitted function running len(batches) steps from params; returns the final params."""
    x, y = problem.data
    grad = jax.grad(problem.loss)

    def step(carry, batch_index):
        params, state = carry
        if fixed_gradient:
            grads = jax.tree_util.tree_map(jnp.ones_like, params)
        else:
            grads = grad(params, (x[batch_index], y[batch_index]))
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    @jax.jit
    def train(params):
        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), batches)
        return params

    return train


def seconds(train, params) -> float:
    start = time.perf_counter()
    jax.block_until_ready(train(params))
    return time.perf_counter() - start


def measure(name, steps, repeats, problem, params, batches):
    results = {}
    for fixed_gradient in (False, True):
        ours, theirs = (trainer(make(), problem, batches, fixed_gradient) for make in PAIRS[name])
        seconds(ours, params)  # compile
        seconds(theirs, params)
        our_times, their_times = [], []
        for repeat in range(repeats):
            # Alternate who goes first so drift in machine load hits both alike.
            order = [(ours, our_times), (theirs, their_times)]
            for train, times in order if repeat % 2 == 0 else order[::-1]:
                times.append(seconds(train, params))
        results[fixed_gradient] = (statistics.median(our_times), statistics.median(their_times))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--only", nargs="*", default=sorted(PAIRS), choices=sorted(PAIRS))
    args = parser.parse_args()
    if args.steps < 1 or args.repeats < 5:
        parser.error("--steps must be >= 1 and --repeats >= 5")

    problem = problems.mlp(hidden_sizes=(32,), activation="tanh")
    params = problem.init(jax.random.PRNGKey(0))
    batches = minibatch_indices(
        jax.random.PRNGKey(1), problem.num_examples, args.batch_size, args.steps
    )
    print(f"jax {jax.__version__}, optax {optax.__version__}, device {jax.devices()[0].platform}")
    print(f"{args.steps} steps, batch {args.batch_size}, median of {args.repeats} repeats\n")
    columns = ("optimizer", "ours [s]", "optax [s]", "ratio", "update-only ratio")
    header = "{:<10} {:>9} {:>9} {:>6}   {:>17}".format(*columns)
    print(header)
    print("-" * len(header))
    for name in args.only:
        results = measure(name, args.steps, args.repeats, problem, params, batches)
        ours, theirs = results[False]
        update_ours, update_theirs = results[True]
        print(
            f"{name:<10} {ours:>9.4f} {theirs:>9.4f} {ours / theirs:>6.3f}"
            f"   {update_ours / update_theirs:>17.3f}"
        )


if __name__ == "__main__":
    main()
