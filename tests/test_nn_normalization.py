"""nn's normalization layers and normalized MLP against numpy transcriptions of the formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import nn


def _numpy_batch_norm(x, gain, bias, eps):
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    return gain * (x - mean) / np.sqrt(var + eps) + bias


def _numpy_layer_norm(x, gain, bias, eps):
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return gain * (x - mean) / np.sqrt(var + eps) + bias


def _random_norm_params(rng, n):
    return {"gain": rng.uniform(0.5, 2.0, size=n), "bias": rng.normal(size=n)}


def test_train_mode_uses_the_batch_statistics_and_updates_the_running_averages(x64):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(7, 4))
    params = _random_norm_params(rng, 4)
    state = nn.BatchNormState(mean=rng.normal(size=4), var=rng.uniform(1, 2, size=4))
    y, new_state = nn.batch_norm(params, state, x, train=True, momentum=0.8, eps=1e-3)
    np.testing.assert_allclose(
        y, _numpy_batch_norm(x, params["gain"], params["bias"], 1e-3), rtol=1e-12
    )
    unbiased = np.array([np.sum((c - c.mean()) ** 2) / 6 for c in x.T])
    np.testing.assert_allclose(new_state.mean, 0.8 * state.mean + 0.2 * x.mean(axis=0))
    np.testing.assert_allclose(new_state.var, 0.8 * state.var + 0.2 * unbiased)


def test_eval_mode_is_the_fixed_map_with_the_running_averages(x64):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3))
    params = _random_norm_params(rng, 3)
    state = nn.BatchNormState(mean=rng.normal(size=3), var=rng.uniform(0.5, 2, size=3))
    y, new_state = nn.batch_norm(params, state, x, train=False, eps=0.01)
    expected = params["gain"] * (x - state.mean) / np.sqrt(state.var + 0.01) + params["bias"]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert new_state is state
    # one example at a time gives the same rows: eval mode has no batch dependence
    single = nn.batch_norm(params, state, x[:1], train=False, eps=0.01)[0]
    np.testing.assert_allclose(single, expected[:1], rtol=1e-12)


def test_running_averages_converge_to_the_population_statistics():
    rng = np.random.default_rng(2)
    data = rng.normal([1.0, -2.0], [3.0, 0.5], size=(4000, 2)).astype(np.float32)
    state = nn.batch_norm_state(2)
    params = nn.normalization_params(2)
    step = jax.jit(lambda s, b: nn.batch_norm(params, s, b, train=True, momentum=0.95)[1])
    for batch in data.reshape(200, 20, 2):
        state = step(state, batch)
    np.testing.assert_allclose(state.mean, [1.0, -2.0], atol=0.3)
    np.testing.assert_allclose(state.var, [9.0, 0.25], rtol=0.25)


def test_batch_norm_gradient_matches_finite_differences(x64):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 3))
    params = _random_norm_params(rng, 3)
    weights = rng.normal(size=(6, 3))

    def objective(z):
        return jnp.sum(weights * nn.batch_norm(params, nn.batch_norm_state(3), z, True)[0] ** 2)

    def numpy_objective(z):
        return np.sum(weights * _numpy_batch_norm(z, params["gain"], params["bias"], 1e-5) ** 2)

    grad = np.asarray(jax.grad(objective)(x))
    h = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        numeric[index] = (numpy_objective(x + step) - numpy_objective(x - step)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    # the batch-norm output is invariant to shifting a column, so its gradient sums to zero
    np.testing.assert_allclose(
        jax.grad(
            lambda z: jnp.sum(nn.batch_norm(params, nn.batch_norm_state(3), z, True)[0] * weights)
        )(x).sum(axis=0),
        0.0,
        atol=1e-10,
    )


def test_layer_norm_normalizes_each_example(x64):
    rng = np.random.default_rng(4)
    x = rng.normal(2.0, 3.0, size=(4, 5))
    params = _random_norm_params(rng, 5)
    np.testing.assert_allclose(
        nn.layer_norm(params, x, eps=1e-4),
        _numpy_layer_norm(x, params["gain"], params["bias"], 1e-4),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        nn.layer_norm(params, x[2:3], eps=1e-4), nn.layer_norm(params, x, eps=1e-4)[2:3]
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p, s, x: nn.batch_norm(p, s, x, train="yes"), "train"),
        (lambda p, s, x: nn.batch_norm(p, s, x, True, momentum=1.0), "momentum"),
        (lambda p, s, x: nn.batch_norm(p, s, x, True, eps=0.0), "eps"),
        (lambda p, s, x: nn.batch_norm(p, s, x[:1], True), "at least 2 rows"),
        (lambda p, s, x: nn.batch_norm(p, s, x[:, :2], True), "params"),
        (lambda p, s, x: nn.batch_norm(p, nn.batch_norm_state(2), x, False), "state"),
        (lambda p, s, x: nn.layer_norm(p, x[0]), "2-D"),
        (lambda p, s, x: nn.layer_norm(p, x, eps=-1.0), "eps"),
        (lambda p, s, x: nn.normalization_params(0), "num_features"),
    ],
)
def test_normalization_layers_validate(call, match):
    params, state = nn.normalization_params(3), nn.batch_norm_state(3)
    with pytest.raises(ValueError, match=match):
        call(params, state, jnp.ones((4, 3)))


def _numpy_normalized_mlp(params, state, x, normalization, train):
    dense, norm = params["dense"], params["norm"]
    for index, layer in enumerate(dense[:-1]):
        s = x @ np.asarray(layer["w"]) + np.asarray(layer["b"])
        if normalization == "batch" and train:
            s = _numpy_batch_norm(s, norm[index]["gain"], norm[index]["bias"], 1e-5)
        elif normalization == "batch":
            mean, var = state[index]
            s = norm[index]["gain"] * (s - mean) / np.sqrt(var + 1e-5) + norm[index]["bias"]
        elif normalization == "layer":
            s = _numpy_layer_norm(s, norm[index]["gain"], norm[index]["bias"], 1e-5)
        x = np.maximum(s, 0.0)
    return x @ np.asarray(dense[-1]["w"]) + np.asarray(dense[-1]["b"])


@pytest.mark.parametrize("normalization", ["none", "batch", "layer"])
@pytest.mark.parametrize("train", [True, False])
def test_normalized_mlp_forward_matches_numpy(x64, normalization, train):
    params, state = nn.normalized_mlp_init(jax.random.key(0), [5, 4, 3, 2], "he", normalization)
    if normalization == "batch":
        rng = np.random.default_rng(5)
        state = tuple(
            nn.BatchNormState(rng.normal(size=n), rng.uniform(1, 2, size=n)) for n in (4, 3)
        )
    x = np.random.default_rng(6).normal(size=(6, 5))
    forward = jax.jit(
        lambda p, s, z: nn.normalized_mlp_forward(p, s, z, "relu", normalization, train)
    )
    logits, new_state = forward(params, state, x)
    np.testing.assert_allclose(
        logits, _numpy_normalized_mlp(params, state, x, normalization, train), rtol=1e-10
    )
    assert len(new_state) == len(state)  # eval mode returns the state unchanged
    if normalization == "none":
        np.testing.assert_allclose(logits, nn.mlp_forward(params["dense"], x, "relu"), rtol=1e-12)


def test_normalized_mlp_init_shapes_and_validation():
    params, state = nn.normalized_mlp_init(jax.random.key(1), [6, 5, 4, 3], "naive", "batch", 0.1)
    assert [layer["w"].shape for layer in params["dense"]] == [(6, 5), (5, 4), (4, 3)]
    assert [p["gain"].shape for p in params["norm"]] == [(5,), (4,)]
    assert [s.mean.shape for s in state] == [(5,), (4,)]
    np.testing.assert_allclose(np.std(np.asarray(params["dense"][0]["w"])), 0.1, rtol=0.5)
    assert nn.normalized_mlp_init(jax.random.key(1), [6, 5, 3], "he", "layer")[1] == ()
    with pytest.raises(ValueError, match="normalization"):
        nn.normalized_mlp_init(jax.random.key(1), [6, 5, 3], "he", "group")
    with pytest.raises(ValueError, match="normalization"):
        nn.normalized_mlp_forward(params, state, jnp.ones((2, 6)), normalization="group")
    with pytest.raises(ValueError, match="state"):
        nn.normalized_mlp_forward(params, (), jnp.ones((2, 6)), normalization="batch")
    with pytest.raises(ValueError, match="norm"):
        nn.normalized_mlp_forward(params, (), jnp.ones((2, 6)), normalization="none")


def test_mlp_init_naive_std_is_additive():
    default = nn.mlp_init(jax.random.key(2), [400, 300], "naive")
    wide = nn.mlp_init(jax.random.key(2), [400, 300], "naive", naive_std=0.5)
    np.testing.assert_allclose(np.std(np.asarray(default[0]["w"])), 0.01, rtol=0.02)
    np.testing.assert_allclose(
        np.asarray(wide[0]["w"]), 50 * np.asarray(default[0]["w"]), rtol=1e-5
    )
    with pytest.raises(ValueError, match="naive_std"):
        nn.mlp_init(jax.random.key(2), [4, 3], "naive", naive_std=0.0)
