"""gd, chain and apply_updates against optax (the oracle), to float64 precision."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lecture_lib.optim import apply_updates, chain, gd


def random_gradients(key, num_steps):
    keys = jax.random.split(key, num_steps)
    return [
        {"w": jax.random.normal(k, (3, 4)), "b": jax.random.normal(jax.random.fold_in(k, 1), (4,))}
        for k in keys
    ]


def follow(optimizer, params, gradients):
    state = optimizer.init(params)
    iterates = []
    for grads in gradients:
        updates, state = optimizer.update(grads, state, params)
        params = apply_updates(params, updates)
        iterates.append(params)
    return iterates


def assert_same_iterates(ours, theirs):
    for a, b in zip(ours, theirs, strict=True):
        for leaf_a, leaf_b in zip(
            jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True
        ):
            np.testing.assert_allclose(leaf_a, leaf_b, rtol=1e-13, atol=1e-13)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize(
    "learning_rate",
    [0.37, optax.exponential_decay(0.5, transition_steps=3, decay_rate=0.7)],
    ids=["constant", "schedule"],
)
def test_gd_matches_optax_sgd(learning_rate):
    params = {"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}
    gradients = random_gradients(jax.random.PRNGKey(3), 12)
    ours = follow(gd(learning_rate), params, gradients)
    theirs = follow(optax.sgd(learning_rate), params, gradients)
    assert ours[0]["w"].dtype == jnp.float64
    assert_same_iterates(ours, theirs)


@pytest.mark.usefixtures("x64")
def test_chain_composes_with_optax_transforms():
    params = {"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}
    gradients = random_gradients(jax.random.PRNGKey(4), 8)
    ours = follow(chain(optax.clip_by_global_norm(1.0), gd(0.2)), params, gradients)
    theirs = follow(optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.2)), params, gradients)
    assert_same_iterates(ours, theirs)


def test_gd_update_is_jittable_and_counts_steps():
    optimizer = gd(lambda count: 1.0 / (count + 1.0))
    params = jnp.array([1.0, -2.0])
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    grads = jnp.array([1.0, 1.0])
    for k in range(3):
        updates, state = update(grads, state, params)
        np.testing.assert_allclose(updates, -grads / (k + 1.0), rtol=1e-6)
    assert int(state.count) == 3
