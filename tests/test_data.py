import jax
import numpy as np
import pytest

from lecture_lib import data


def test_digits_split_and_standardisation():
    dataset = data.digits()
    assert dataset.x_train.shape[0] + dataset.x_test.shape[0] == 1797
    assert dataset.x_train.shape[1] == 64
    assert dataset.x_test.shape[0] == round(0.2 * 1797)
    x = np.asarray(dataset.x_train, np.float64)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    std = x.std(axis=0)
    constant = std < 1e-6
    np.testing.assert_allclose(std[~constant], 1.0, rtol=1e-4)
    assert set(np.unique(np.asarray(dataset.y_train))) == set(range(10))


def test_digits_is_deterministic_per_seed():
    a, b = data.digits(seed=1), data.digits(seed=1)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(data.digits(seed=2).y_test, a.y_test)


def test_minibatches_are_epochs_without_replacement():
    indices = np.asarray(data.minibatch_indices(jax.random.PRNGKey(0), 10, 3, 7))
    assert indices.shape == (7, 3)
    per_epoch = data.batches_per_epoch(10, 3)
    assert per_epoch == 3
    for epoch in range(2):
        seen = indices[epoch * per_epoch : (epoch + 1) * per_epoch].ravel()
        assert len(set(seen)) == len(seen) == 9
    first, second = indices[:3].ravel(), indices[3:6].ravel()
    assert not np.array_equal(first, second)
    assert data.epoch_of_step(6, 10, 3) == 2


def test_minibatches_depend_only_on_the_key():
    key = jax.random.PRNGKey(5)
    np.testing.assert_array_equal(
        data.minibatch_indices(key, 50, 8, 20), data.minibatch_indices(key, 50, 8, 20)
    )
    with pytest.raises(ValueError, match="batch_size must be in"):
        data.minibatch_indices(key, 5, 8, 2)
