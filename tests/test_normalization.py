"""Lecture 10's tools (lecture_lib.normalization) and its exercise checks, against oracles."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import checks, data, nn, problems
from lecture_lib import normalization as norm

# --------------------------------------------------------------------------- gauge freedom


def test_gauge_transform_keeps_the_product_and_divides_the_gradient(x64):
    chain = problems.deep_linear_chain(depth=4, target=2.0)
    w = [jnp.asarray(v) for v in (0.5, -1.5, 2.0, 0.8)]
    scales = [2.0, 0.1, 10.0, 0.5]
    moved = norm.gauge_transform(w, scales)
    np.testing.assert_allclose([float(v) for v in moved], [1.0, -0.15, 20.0, 0.4])
    x, y = (np.asarray(a) for a in chain.data)
    np.testing.assert_allclose(chain.predict(moved, x), chain.predict(w, x), rtol=1e-12)
    # dh/dw_l = mean((prod w x - y) x) prod_{k != l} w_k, written out in numpy
    product = 0.5 * -1.5 * 2.0 * 0.8
    slope = np.mean((product * x - y) * x)
    expected = [slope * product / float(v) for v in moved]
    np.testing.assert_allclose(jax.grad(chain.loss)(moved, chain.data), expected, rtol=1e-10)


@pytest.mark.parametrize(
    "scales, match",
    [([1.0, 2.0], "one number per layer"), ([2.0, 2.0, 1.0, 1.0], "multiply to 1"),
     ([1.0, float("nan"), 1.0, 1.0], "scales\\[1\\]")],
)  # fmt: skip
def test_gauge_transform_validates(scales, match):
    with pytest.raises(ValueError, match=match):
        norm.gauge_transform([1.0] * 4, scales)


def test_normalized_chain_matches_numpy_and_ignores_the_scale_below(x64):
    chain = problems.deep_linear_chain(depth=4, target=2.0)
    toy = norm.normalized_chain(chain, after=2)
    x, y = (np.asarray(a) for a in chain.data)
    w = [jnp.asarray(v) for v in (0.7, -1.3, 1.1, 0.9)]
    h = 0.7 * -1.3 * x
    z = 1.1 * 0.9 * h / np.sqrt(np.mean(h**2))
    np.testing.assert_allclose(toy.predict(w, x), z, rtol=1e-12)
    np.testing.assert_allclose(toy.loss(w, chain.data), 0.5 * np.mean((z - y) ** 2), rtol=1e-12)
    grads = np.asarray(jax.grad(toy.loss)(w, chain.data))
    scaled = [w[0] * 30.0, w[1] / 7.0, w[2], w[3]]
    np.testing.assert_allclose(
        jax.grad(toy.loss)(scaled, chain.data), grads, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(grads[:2], 0.0, atol=1e-12)
    # dh/dw3 = mean((z - y) z / w3)
    np.testing.assert_allclose(grads[2], np.mean((z - y) * z / 1.1), rtol=1e-10)


def test_normalized_chain_validates():
    chain = problems.deep_linear_chain(depth=3)
    with pytest.raises(ValueError, match="after"):
        norm.normalized_chain(chain, after=3)
    with pytest.raises(ValueError, match="after"):
        norm.normalized_chain(chain, after=0)
    with pytest.raises(ValueError, match="chain"):
        norm.normalized_chain("chain", after=1)


def test_relu_rescale_keeps_the_function_and_rescales_the_gradients(x64):
    params = nn.mlp_init(jax.random.key(0), [5, 4, 3, 2], "he")
    params[0]["b"] = jnp.linspace(-0.5, 0.5, 4)
    rescaled = norm.relu_rescale(params, layer=1, scale=4.0)
    np.testing.assert_allclose(rescaled[1]["w"], 4.0 * np.asarray(params[1]["w"]))
    np.testing.assert_allclose(rescaled[2]["w"], np.asarray(params[2]["w"]) / 4.0)
    np.testing.assert_allclose(rescaled[2]["b"], params[2]["b"])
    x = np.random.default_rng(0).normal(size=(8, 5))
    np.testing.assert_allclose(
        nn.mlp_forward(rescaled, x, "relu"), nn.mlp_forward(params, x, "relu"), rtol=1e-12
    )
    assert not np.allclose(nn.mlp_forward(rescaled, x, "tanh"), nn.mlp_forward(params, x, "tanh"))

    def loss(p):
        return jnp.sum(nn.mlp_forward(p, x, "relu") ** 2)

    before, after = jax.grad(loss)(params), jax.grad(loss)(rescaled)
    np.testing.assert_allclose(after[1]["w"], np.asarray(before[1]["w"]) / 4.0, rtol=1e-10)
    np.testing.assert_allclose(after[2]["w"], np.asarray(before[2]["w"]) * 4.0, rtol=1e-10)
    np.testing.assert_allclose(after[0]["w"], before[0]["w"], rtol=1e-10)
    with pytest.raises(ValueError, match="layer"):
        norm.relu_rescale(params, layer=2, scale=2.0)
    with pytest.raises(ValueError, match="scale"):
        norm.relu_rescale(params, layer=0, scale=-1.0)


# --------------------------------------------------------------------------- statistics at init


def _numpy_statistics(params, x, y):
    """Forward pass, softmax cross-entropy and back-propagation by hand (ReLU)."""
    layers = [(np.asarray(p["w"], np.float64), np.asarray(p["b"], np.float64)) for p in params]
    inputs, pre = [], []
    a = np.asarray(x, np.float64)
    for index, (w, b) in enumerate(layers):
        inputs.append(a)
        s = a @ w + b
        pre.append(s)
        a = s if index == len(layers) - 1 else np.maximum(s, 0)
    p = np.exp(a - a.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    g = (p - np.eye(a.shape[1])[np.asarray(y)]) / len(y)
    grads = [None] * len(layers)
    for index in reversed(range(len(layers))):
        grads[index] = inputs[index].T @ g
        g = (g @ layers[index][0].T) * (pre[index - 1] > 0) if index else None
    return (
        np.array([np.sqrt(np.mean(s**2)) for s in pre]),
        np.array([np.sqrt(np.mean(gw**2)) for gw in grads]),
    )


def test_layer_statistics_match_a_numpy_backprop(x64):
    params = nn.mlp_init(jax.random.key(1), [6, 5, 5, 3], "he")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 6)), rng.integers(0, 3, size=20)
    stats = norm.layer_statistics(params, (jnp.asarray(x), jnp.asarray(y)), "relu")
    forward, backward = _numpy_statistics(params, x, y)
    np.testing.assert_allclose(stats.preactivation_rms, forward, rtol=1e-10)
    np.testing.assert_allclose(stats.gradient_rms, backward, rtol=1e-10)


def test_layer_statistics_resolve_tiny_values_in_float32():
    params = nn.mlp_init(jax.random.key(2), norm.deep_layer_sizes(20, 64), "naive")
    batch = (data.digits().x_train[:64], data.digits().y_train[:64])
    stats = norm.layer_statistics(params, batch, "relu")
    # each ReLU layer multiplies the variance by about 64 * 0.01^2 / 2 = 0.0032
    assert np.all(stats.preactivation_rms > 0) and stats.preactivation_rms[-1] < 1e-20
    per_layer = np.exp(np.mean(np.diff(np.log(stats.preactivation_rms[1:] ** 2))))
    assert 0.001 < per_layer < 0.01


def test_init_statistics_average_the_networks_and_he_keeps_relu_variance():
    batch = (data.digits().x_train[:128], data.digits().y_train[:128])
    he = norm.init_statistics(batch, "relu", "he", depth=12, width=64, num_networks=4)
    single = [
        norm.layer_statistics(nn.mlp_init(k, norm.deep_layer_sizes(12, 64), "he"), batch, "relu")
        for k in jax.random.split(jax.random.key(0), 4)
    ]
    np.testing.assert_allclose(
        he.preactivation_rms**2,
        np.mean([s.preactivation_rms**2 for s in single], axis=0),
        rtol=1e-5,
    )
    assert norm.spread(he.preactivation_rms**2) < 4
    xavier = norm.init_statistics(batch, "relu", "xavier", depth=12, width=64, num_networks=4)
    assert norm.spread(xavier.preactivation_rms**2) > 2**8  # halves per layer


def test_spread_and_deep_layer_sizes_validate():
    assert norm.spread([2.0, 8.0, 4.0]) == 4.0
    with pytest.raises(ValueError, match="positive"):
        norm.spread([1.0, 0.0])
    assert norm.deep_layer_sizes(3, 7) == [64, 7, 7, 10]
    with pytest.raises(ValueError, match="depth"):
        norm.deep_layer_sizes(1, 7)
    with pytest.raises(ValueError, match="num_networks"):
        norm.init_statistics((jnp.ones((2, 64)), jnp.zeros(2, int)), "relu", "he", num_networks=0)
    with pytest.raises(ValueError, match="batch"):
        norm.layer_statistics(nn.mlp_init(jax.random.key(0), [4, 2], "he"), (jnp.ones((2, 3)), 0))


def test_statistics_figure_and_explorer_build():
    batch = (data.digits().x_train[:32], data.digits().y_train[:32])
    stats = {"He": norm.init_statistics(batch, "relu", "he", depth=4, width=8, num_networks=2)}
    figure = norm.layer_statistics_figure(stats, "title")
    forward, backward = figure.axes
    np.testing.assert_allclose(forward.lines[0].get_ydata(), stats["He"].preactivation_rms)
    assert forward.get_yscale() == "log" and forward.get_legend() is not None
    assert backward.get_title() and backward.get_xlabel() == "layer $l$"
    explorer = norm.initialization_explorer(batch, depth=4, width=8, num_networks=2)
    assert len(explorer.children) == 3  # two controls and the output
    with pytest.raises(ValueError, match="statistics"):
        norm.layer_statistics_figure({})


# --------------------------------------------------------------------------- normalized MLPs


def _tiny_dataset():
    digits = data.digits()
    return data.Dataset(digits.x_train[:64], digits.y_train[:64], digits.x_test, digits.y_test)


def test_normalized_mlp_problem_uses_train_mode_batch_statistics(x64):
    problem = norm.normalized_mlp_problem([6, 5], "relu", "he", "batch", dataset=_tiny_dataset())
    params = problem.init(jax.random.key(0))
    x, y = problem.data
    logits = problem.predict(params, x)
    state = tuple(nn.batch_norm_state(n) for n in (6, 5))
    np.testing.assert_allclose(
        logits, nn.normalized_mlp_forward(params, state, x, "relu", "batch", True)[0]
    )
    log_p = logits - jax.scipy.special.logsumexp(logits, axis=1, keepdims=True)
    expected = -np.mean(np.asarray(log_p)[np.arange(len(y)), np.asarray(y)])
    np.testing.assert_allclose(problem.loss(params, problem.data), expected, rtol=1e-10)
    with pytest.raises(ValueError, match="hidden_sizes"):
        norm.normalized_mlp_problem([], dataset=_tiny_dataset())


def test_merge_batch_norm_folds_eval_mode_into_the_dense_layer(x64):
    rng = np.random.default_rng(3)
    dense = {"w": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}
    params = {"gain": rng.uniform(0.5, 2, size=3), "bias": rng.normal(size=3)}
    state = nn.BatchNormState(rng.normal(size=3), rng.uniform(0.5, 2, size=3))
    x = rng.normal(size=(5, 4))
    merged = norm.merge_batch_norm(dense, params, state, eps=0.01)
    s = x @ dense["w"] + dense["b"]
    expected = params["gain"] * (s - state.mean) / np.sqrt(state.var + 0.01) + params["bias"]
    np.testing.assert_allclose(x @ merged["w"] + merged["b"], expected, rtol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        norm.merge_batch_norm(dense, nn.normalization_params(2), nn.batch_norm_state(2))


def test_running_statistics_follow_the_update_rule():
    params, _ = nn.normalized_mlp_init(jax.random.key(4), [64, 8, 10], "he", "batch")
    x = data.digits().x_train[:256]
    state = norm.running_statistics(params, x, jax.random.key(5), batch_size=64, steps=60)
    s = np.asarray(x @ params["dense"][0]["w"] + params["dense"][0]["b"], np.float64)
    # 60 updates with momentum 0.9 forget the start (0.9^60 ~ 2e-3): population statistics
    np.testing.assert_allclose(state[0].mean, s.mean(axis=0), atol=0.15 * s.std())
    np.testing.assert_allclose(state[0].var, s.var(axis=0), rtol=0.3)
    one = norm.running_statistics(params, x, jax.random.key(5), batch_size=256, steps=1)
    np.testing.assert_allclose(one[0].mean, 0.1 * s.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(one[0].var, 0.9 + 0.1 * s.var(axis=0, ddof=1), rtol=1e-4)
    with pytest.raises(ValueError, match="batch_size"):
        norm.running_statistics(params, x, jax.random.key(5), batch_size=1)


def test_mode_mismatch_compares_the_two_modes():
    params, _ = nn.normalized_mlp_init(jax.random.key(6), [64, 16, 10], "he", "batch")
    digits = data.digits()
    state = norm.running_statistics(params, digits.x_train, jax.random.key(7), 128, 100)
    small = norm.mode_mismatch(params, state, digits.test, 2, jax.random.key(8))
    large = norm.mode_mismatch(params, state, digits.test, 256, jax.random.key(8))
    assert small.relative_difference > 2 * large.relative_difference > 0
    # with the batch statistics as running averages, train mode on that batch is eval mode
    x = digits.x_test[:50]
    s = x @ params["dense"][0]["w"] + params["dense"][0]["b"]
    exact = (nn.BatchNormState(s.mean(axis=0), s.var(axis=0)),)
    same = norm.mode_mismatch(params, exact, (x, digits.y_test[:50]), 50, jax.random.key(9))
    assert same.relative_difference < 1e-5
    assert same.train_mode_accuracy == same.eval_mode_accuracy
    with pytest.raises(ValueError, match="batch_size"):
        norm.mode_mismatch(params, state, (x, digits.y_test[:50]), 51, jax.random.key(9))


# --------------------------------------------------------------------------- exercise checks


def _batch_norm_train(x, gain, bias, eps):
    x = np.asarray(x, np.float64)
    return gain * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + bias


def _running_and_eval(mean, var, batch, x, gain, bias, momentum, eps):
    batch, x = np.asarray(batch, np.float64), np.asarray(x, np.float64)
    mean = momentum * np.asarray(mean) + (1 - momentum) * batch.mean(0)
    var = momentum * np.asarray(var) + (1 - momentum) * batch.var(0, ddof=1)
    return mean, var, np.asarray(gain) * (x - mean) / np.sqrt(var + eps) + np.asarray(bias)


def test_exercise_checks_pass_the_solutions(capsys):
    checks.normalization.check_batch_norm_train(_batch_norm_train)
    checks.normalization.check_running_averages_and_eval(_running_and_eval)
    checks.normalization.check_init_stds(lambda i, o: (math.sqrt(2 / (i + o)), math.sqrt(2 / i)))
    checks.normalization.check_gauge_move(lambda w, g, c: (c * w, g / c))
    assert capsys.readouterr().out.count("Well done") == 4


def _biased_running(mean, var, batch, x, gain, bias, momentum, eps):
    batch = np.asarray(batch, np.float64)
    new_mean = momentum * np.asarray(mean) + (1 - momentum) * batch.mean(0)
    new_var = momentum * np.asarray(var) + (1 - momentum) * batch.var(0)
    return new_mean, new_var, np.asarray(gain) * (x - new_mean) / np.sqrt(new_var + eps) + bias


@pytest.mark.parametrize(
    "check, answer, hint",
    [
        (
            "check_batch_norm_train",
            lambda x, g, b, e: (
                g * (x - x.mean(0)) / np.sqrt(np.var(np.asarray(x), 0, ddof=1) + e) + b
            ),
            "biased batch variance",
        ),
        (
            "check_batch_norm_train",
            lambda x, g, b, e: g * (x - x.mean(0)) / (np.sqrt(np.var(np.asarray(x), 0)) + e) + b,
            "inside the square root",
        ),
        (
            "check_batch_norm_train",
            lambda x, g, b, e: (x - x.mean(0)) / np.sqrt(np.var(np.asarray(x), 0) + e),
            "scale and shift",
        ),
        ("check_running_averages_and_eval", _biased_running, "unbiased batch variance"),
        (
            "check_init_stds",
            lambda i, o: (math.sqrt(2 / (i + o)), math.sqrt(2 / o)),
            "fan-IN",
        ),
        (
            "check_init_stds",
            lambda i, o: (math.sqrt(6 / (i + o)), math.sqrt(2 / i)),
            "UNIFORM",
        ),
        ("check_gauge_move", lambda w, g, c: (c * w, g * c), "inversely"),
        ("check_gauge_move", lambda w, g, c: (c * w, g), "changes under a gauge move"),
    ],
)
def test_exercise_checks_name_the_common_mistakes(check, answer, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        getattr(checks.normalization, check)(answer)
