"""problems.deep_linear_chain against closed-form gradients written in numpy.

``chain_gradients`` is the oracle of tests/test_perturbation.py too.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import problems


def chain_gradients(layers, x, y, loss):
    """dh/dW_l = (x W_<l)^T R (W_>l)^T / m, with R = z - y (squared error) or -y (linear)."""
    layers = [np.atleast_2d(np.asarray(w, np.float64)) for w in layers]
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    m = x.shape[0]
    z = x
    for w in layers:
        z = z @ w
    residual = z - y if loss == "squared_error" else -y
    gradients = []
    for index in range(len(layers)):
        before = x
        for w in layers[:index]:
            before = before @ w
        after = np.eye(layers[index].shape[1])
        for w in layers[index + 1 :]:
            after = after @ w
        gradients.append(before.T @ residual @ after.T / m)
    return gradients


@pytest.mark.parametrize("loss", ["squared_error", "linear"])
@pytest.mark.parametrize("width", [None, 3])
def test_gradient_matches_the_closed_form(x64, loss, width):
    chain = problems.deep_linear_chain(depth=4, width=width, num_examples=20, loss=loss)
    params = chain.init(jax.random.key(3))
    grads = jax.grad(chain.loss)(params, chain.data)
    expected = chain_gradients(params, *chain.data, loss)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(np.atleast_2d(got), want, rtol=1e-10, atol=1e-12)


def test_scalar_chain_is_the_product_of_scalars(x64):
    chain = problems.deep_linear_chain(depth=3, loss="linear", num_examples=10)
    w = [jnp.asarray(0.5), jnp.asarray(-2.0), jnp.asarray(1.5)]
    x, y = chain.data
    np.testing.assert_allclose(chain.predict(w, x), -1.5 * np.asarray(x))
    # the lecture's gradient: -mean(x y) times the product of the other layers
    grads = jax.grad(chain.loss)(w, chain.data)
    xy = float(np.mean(np.asarray(x) * np.asarray(y)))
    np.testing.assert_allclose(grads, [-xy * -3.0, -xy * 0.75, -xy * -1.0], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(y), np.asarray(x))  # default target 1


def test_loss_is_half_the_mean_squared_norm_of_the_residual(x64):
    target = np.array([[1.0, 2.0], [0.0, -1.0]])
    chain = problems.deep_linear_chain(depth=2, width=2, num_examples=7, target=target)
    x, y = (np.asarray(a) for a in chain.data)
    np.testing.assert_allclose(y, x @ target)
    params = [jnp.eye(2), 2 * jnp.eye(2)]
    expected = 0.5 * np.sum((2 * x - y) ** 2) / 7
    np.testing.assert_allclose(chain.loss(params, chain.data), expected, rtol=1e-12)


def test_every_factorisation_of_the_target_is_a_minimum_and_gauge_moves_keep_the_loss(x64):
    target = np.array([[0.5, 1.0], [-1.0, 2.0]])
    chain = problems.deep_linear_chain(depth=3, width=2, target=target)
    optimum = [jnp.asarray(target), jnp.eye(2), jnp.eye(2)]
    assert chain.optimal_loss == 0.0
    assert float(chain.loss(optimum, chain.data)) < 1e-20
    params = chain.init(jax.random.key(0))
    rescaled = [3.0 * params[0], params[1] / 3.0, params[2]]
    np.testing.assert_allclose(
        chain.loss(rescaled, chain.data), chain.loss(params, chain.data), rtol=1e-12
    )


def test_init_draws_the_given_scale_and_start_is_returned_as_given():
    chain = problems.deep_linear_chain(depth=3, width=40, init_scale=2.0)
    layers = chain.init(jax.random.key(0))
    assert [w.shape for w in layers] == [(40, 40)] * 3
    std = np.std(np.concatenate([np.ravel(w) for w in layers]))
    assert abs(std - 2.0 / np.sqrt(40)) < 0.05 * 2.0 / np.sqrt(40)
    start = [1.0, 2.0, 3.0]
    fixed = problems.deep_linear_chain(depth=3, start=start)
    for key in (jax.random.key(0), jax.random.key(1)):
        np.testing.assert_array_equal([float(w) for w in fixed.init(key)], start)


def test_same_key_same_data_and_test_split_differs():
    a = problems.deep_linear_chain(key=jax.random.key(5))
    b = problems.deep_linear_chain(key=jax.random.key(5))
    np.testing.assert_array_equal(a.data[0], b.data[0])
    assert not np.allclose(a.data[0], a.test_data[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": 0}, "depth"),
        ({"width": 0}, "width"),
        ({"num_examples": 0}, "num_examples"),
        ({"loss": "hinge"}, "loss"),
        ({"init_scale": 0.0}, "init_scale"),
        ({"width": 2, "target": np.eye(3)}, "target"),
        ({"target": np.nan}, "target"),
        ({"depth": 2, "start": [1.0]}, "start"),
        ({"depth": 2, "width": 2, "start": [np.eye(2), np.eye(3)]}, r"start\[1\]"),
    ],
)
def test_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        problems.deep_linear_chain(**kwargs)
