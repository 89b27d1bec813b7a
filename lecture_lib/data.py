"""Real data that needs no download: scikit-learn's bundled handwritten digits.

1797 grey-scale 8x8 images (64 features), 10 classes. Features are standardised
with the *training* split's statistics, so the test split is never peeked at.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib import validation


class Dataset(NamedTuple):
    x_train: jax.Array  # (m_train, 64) standardised features
    y_train: jax.Array  # (m_train,) integer labels 0..9
    x_test: jax.Array
    y_test: jax.Array

    @property
    def train(self):
        return self.x_train, self.y_train

    @property
    def test(self):
        return self.x_test, self.y_test


def standardise(x_train: np.ndarray, x_other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean and unit variance per feature, using the training statistics.

    Features that are constant in the training set (some border pixels are always
    blank) keep scale 1 instead of dividing by zero.
    """
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (x_train - mean) / std, (x_other - mean) / std


@functools.lru_cache(maxsize=8)
def digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """The digits data set, standardised and split into train and test.

    Args:
      test_fraction: share of examples held out, in (0, 1).
      seed: integer seed of the (stratified-free, uniform) shuffle before the split.
    """
    test_fraction = validation.probability_fraction("test_fraction", test_fraction)
    seed = validation.positive_int("seed", seed, minimum=0)
    from sklearn.datasets import load_digits  # imported lazily: only data problems need it

    images = load_digits()
    x = images.data.astype(np.float64)
    y = images.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    num_test = int(round(test_fraction * len(y)))
    test_index, train_index = order[:num_test], order[num_test:]
    x_train, x_test = standardise(x[train_index], x[test_index])
    return Dataset(
        x_train=jnp.asarray(x_train, jnp.float32),
        y_train=jnp.asarray(y[train_index]),
        x_test=jnp.asarray(x_test, jnp.float32),
        y_test=jnp.asarray(y[test_index]),
    )


def batches_per_epoch(num_examples: int, batch_size: int) -> int:
    """Full minibatches in one pass over the data (the last partial batch is dropped)."""
    num_examples = validation.positive_int("num_examples", num_examples)
    batch_size = validation.positive_int("batch_size", batch_size)
    if batch_size > num_examples:
        raise ValueError(
            f"batch_size must be in [1, {num_examples}] (the number of examples), got {batch_size}"
        )
    return num_examples // batch_size


def minibatch_indices(key: jax.Array, num_examples: int, batch_size: int, steps: int) -> jax.Array:
    """Indices of ``steps`` minibatches drawn epoch by epoch without replacement.

    Each epoch is a fresh permutation of the examples (drawn from its own key), cut
    into ``num_examples // batch_size`` full batches; epochs follow one another until
    ``steps`` batches are made. Returns an int array of shape ``(steps, batch_size)``.
    """
    batches_per_epoch(num_examples, batch_size)
    steps = validation.positive_int("steps", steps)
    return _epoch_batches_compiled(key, num_examples, batch_size, steps)


def epoch_batches(key: jax.Array, num_examples: int, batch_size: int, steps: int) -> jax.Array:
    """The draws of :func:`minibatch_indices`, without argument checks (traceable)."""
    per_epoch = num_examples // batch_size
    epoch_keys = jax.random.split(key, -(-steps // per_epoch))
    # lax.map, not vmap: a vmap over permutations takes seconds to compile on a CPU,
    # and the draws are the same.
    permutations = jax.lax.map(lambda k: jax.random.permutation(k, num_examples), epoch_keys)
    return permutations[:, : per_epoch * batch_size].reshape(-1, batch_size)[:steps]


_epoch_batches_compiled = jax.jit(epoch_batches, static_argnums=(1, 2, 3))


def epoch_of_step(step, num_examples: int, batch_size: int):
    """Which epoch (0-based) a step belongs to."""
    return step // batches_per_epoch(num_examples, batch_size)
