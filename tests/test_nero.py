"""Nero against a NumPy transcription of its equations, and the properties it promises.

The oracle loops over neurons in float64 and projects the params at init, as the
paper describes; the JAX version projects inside its first update instead (see
``nero``'s docstring). They must agree step by step.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import optim, problems
from lecture_lib.optim.nero import relative_update_sizes
from lecture_lib.run import run

# --------------------------------------------------------------------------- oracle


def _project_column(column):
    centred = column - column.mean()
    norm = np.linalg.norm(centred)
    return centred / norm if norm > 0 else np.zeros_like(centred)


def numpy_nero(params, gradients, learning_rate, beta, constraints):
    """Nero written from the equations, one neuron at a time; returns every iterate."""
    params = {name: np.array(leaf, dtype=np.float64) for name, leaf in params.items()}
    scale, v = {}, {}
    for name, p in params.items():
        if p.ndim == 2:
            if constraints:  # project at init; the neurons then have norm 1
                for j in range(p.shape[1]):
                    p[:, j] = _project_column(p[:, j])
                scale[name] = 1.0
            else:
                s = np.mean([np.linalg.norm(p[:, j]) for j in range(p.shape[1])])
                scale[name] = s if s > 0 else 0.01
            v[name] = np.zeros(p.shape[1])
        else:
            s = np.mean(np.abs(p))
            scale[name] = s if s > 0 else 0.01
            v[name] = np.zeros(p.shape)
    iterates = []
    for t, grads in enumerate(gradients, start=1):
        rate = learning_rate(t - 1) if callable(learning_rate) else learning_rate
        for name, p in params.items():
            g = np.asarray(grads[name], dtype=np.float64)
            if p.ndim == 2:
                for j in range(p.shape[1]):
                    v[name][j] = beta * v[name][j] + (1 - beta) * np.sum(g[:, j] ** 2)
                    v_hat = v[name][j] / (1 - beta**t)
                    if v_hat > 0:
                        p[:, j] -= rate * scale[name] * g[:, j] / np.sqrt(v_hat)
                    if constraints:
                        p[:, j] = _project_column(p[:, j])
            else:
                for i in range(p.size):
                    v[name][i] = beta * v[name][i] + (1 - beta) * g[i] ** 2
                    v_hat = v[name][i] / (1 - beta**t)
                    if v_hat > 0:
                        p[i] -= rate * scale[name] * g[i] / np.sqrt(v_hat)
        iterates.append({name: p.copy() for name, p in params.items()})
    return iterates


def follow(optimizer, params, gradients):
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    iterates = []
    for grads in gradients:
        updates, state = update(grads, state, params)
        params = optim.apply_updates(params, updates)
        iterates.append(params)
    return iterates, state


def oracle_problem(seed, steps=20):
    """Un-projected params and random gradients, with a neuron and a bias element whose
    gradient is always zero."""
    rng = np.random.default_rng(seed)
    shapes = {"w": (5, 4), "v": (4, 3), "b": (4,), "c": (3,)}
    params = {
        "w": 2.0 * rng.standard_normal((5, 4)) + 0.5,
        "v": rng.standard_normal((4, 3)),
        "b": rng.standard_normal(4),
        "c": np.zeros(3),
    }
    gradients = []
    for _ in range(steps):
        g = {name: rng.standard_normal(shape) for name, shape in shapes.items()}
        g["w"][:, 1] = 0.0  # a neuron that never gets a gradient
        g["b"][2] = 0.0  # a bias element that never gets one
        gradients.append(jax.tree_util.tree_map(jnp.asarray, g))
    return jax.tree_util.tree_map(jnp.asarray, params), gradients


@pytest.mark.parametrize("constraints", [True, False])
@pytest.mark.parametrize(
    "learning_rate, beta",
    [(0.05, 0.999), (0.2, 0.5), (lambda t: 0.1 / (1.0 + t), 0.0)],
    ids=["default-beta", "short-memory", "schedule-beta0"],
)
def test_nero_matches_numpy_transcription(x64, constraints, learning_rate, beta):
    params, gradients = oracle_problem(seed=3)
    ours, _ = follow(optim.nero(learning_rate, beta, constraints), params, gradients)
    theirs = numpy_nero(params, gradients, learning_rate, beta, constraints)
    assert len(ours) == len(theirs) == 20
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for name in b:
            np.testing.assert_allclose(
                a[name], b[name], rtol=1e-10, atol=1e-12, err_msg=f"step {step + 1}, {name}"
            )


# ---------------------------------------------------------------------- constraints


def _assert_on_constraint_set(params, tol=1e-6):
    for layer in params:
        w = np.asarray(layer["w"])
        np.testing.assert_array_less(np.abs(w.mean(axis=0)), tol)
        np.testing.assert_array_less(np.abs(np.linalg.norm(w, axis=0) - 1.0), tol)


def test_constraints_hold_after_every_step_from_unprojected_params():
    rng = np.random.default_rng(0)
    # An MLP 64-32-10, He-initialised, then pushed off the constraint set (means ~0.3).
    params = [
        {
            "w": jnp.asarray(
                1.5 * np.sqrt(2 / fan_in) * rng.standard_normal((fan_in, fan_out)) + 0.3,
                jnp.float32,
            ),
            "b": jnp.full((fan_out,), 0.1),
        }
        for fan_in, fan_out in [(64, 32), (32, 10)]
    ]
    assert np.abs(np.linalg.norm(params[0]["w"], axis=0) - 1).min() > 0.5
    optimizer = optim.nero(0.02)
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    rng = np.random.default_rng(1)
    for _ in range(50):
        grads = jax.tree_util.tree_map(
            lambda p: rng.standard_normal(p.shape).astype(np.float32), params
        )
        updates, state = update(grads, state, params)
        params = optim.apply_updates(params, updates)
        _assert_on_constraint_set(params)
        assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(params))
    assert int(state.count) == 50


def test_nero_project_is_the_projection():
    w = jnp.array([[1.0, 2.0, 5.0], [3.0, 2.0, -1.0], [2.0, 2.0, 0.0]])
    projected = optim.nero_project({"w": w, "b": jnp.array([3.0, -4.0])})
    np.testing.assert_allclose(projected["b"], [3.0, -4.0])  # rank 1: untouched
    expected_first = np.array([-1.0, 1.0, 0.0]) / np.sqrt(2.0)
    np.testing.assert_allclose(projected["w"][:, 0], expected_first, rtol=1e-6)
    # A constant neuron has no direction once centred: it goes to 0, not NaN.
    np.testing.assert_array_equal(projected["w"][:, 1], 0.0)
    again = optim.nero_project(projected)
    np.testing.assert_allclose(again["w"], projected["w"], atol=1e-7)


@pytest.mark.parametrize("learning_rate", [1e-3, 1e-2, 3e-2])
def test_each_neuron_rotates_by_about_the_learning_rate(learning_rate):
    """With a constant gradient norm, v_hat is exact from the first step, and every
    constrained neuron turns by ~learning_rate radians per step."""
    rng = np.random.default_rng(7)
    params = optim.nero_project({"w": jnp.asarray(rng.standard_normal((256, 16)), jnp.float32)})
    optimizer = optim.nero(learning_rate, beta=0.99)
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    for _ in range(30):
        g = rng.standard_normal((256, 16))
        g = jnp.asarray(
            3.0 * g / np.linalg.norm(g, axis=0), jnp.float32
        )  # every neuron's gradient has norm 3
        updates, state = update({"w": g}, state, params)
        new = optim.apply_updates(params, updates)
        old_w, new_w = np.asarray(params["w"]), np.asarray(new["w"])
        relative = np.linalg.norm(new_w - old_w, axis=0) / np.linalg.norm(old_w, axis=0)
        assert np.all((0.9 * learning_rate <= relative) & (relative <= 1.1 * learning_rate))
        old_w, new_w = old_w.astype(np.float64), new_w.astype(np.float64)
        cosine = np.sum(old_w * new_w, axis=0)
        sine = np.linalg.norm(new_w - cosine * old_w, axis=0)
        angle = np.arctan2(sine, cosine)  # the angle turned, accurate for small angles
        np.testing.assert_allclose(angle, relative, rtol=1e-2)
        library = relative_update_sizes(params, updates, "neuron")["w"]
        np.testing.assert_allclose(library, relative, rtol=1e-3)
        params = new


# ------------------------------------------------------------ scales and zero guards


def test_scales_kept_in_state():
    params = {
        "b": jnp.array([0.5, -1.5, 0.0, 2.0]),
        "zero_b": jnp.zeros(3),
        "w": jnp.array([[3.0, 0.0], [4.0, 1.0]]),  # neuron norms 5 and 1
        "zero_w": jnp.zeros((3, 2)),
    }
    constrained = optim.nero(constraints=True).init(params).scale
    free = optim.nero(constraints=False).init(params).scale
    for scale in (constrained, free):
        np.testing.assert_allclose(scale["b"], 1.0)  # mean |p|
        np.testing.assert_allclose(scale["zero_b"], 0.01)  # the fallback
    np.testing.assert_allclose(constrained["w"], 1.0)  # neurons on the unit sphere
    np.testing.assert_allclose(constrained["zero_w"], 1.0)
    np.testing.assert_allclose(free["w"], 3.0)  # mean neuron norm (5 + 1) / 2
    np.testing.assert_allclose(free["zero_w"], 0.01)


def test_first_bias_step_is_a_signed_step_of_the_scale():
    """At t = 1, v_hat = g^2 exactly, so each bias element moves by lr * scale * sign(g)."""
    b = jnp.array([0.5, -1.5, 0.0, 2.0])  # scale = mean |b| = 1
    g = jnp.array([0.3, -7.0, 2.0, 0.0])
    optimizer = optim.nero(0.1, beta=0.9)
    updates, _ = optimizer.update({"b": g}, optimizer.init({"b": b}), {"b": b})
    np.testing.assert_allclose(updates["b"], [-0.1, 0.1, -0.1, 0.0], rtol=1e-6)


def test_zero_gradient_neuron_stays_put_without_nan():
    rng = np.random.default_rng(2)
    params = optim.nero_project({"w": jnp.asarray(rng.standard_normal((8, 3)), jnp.float32)})
    params["b"] = jnp.array([0.2, 0.0, -0.4])
    start = params
    optimizer = optim.nero(0.05)
    state = optimizer.init(params)
    for _ in range(10):
        w_grad = rng.standard_normal((8, 3))
        w_grad[:, 0] = 0.0
        g = {"w": jnp.asarray(w_grad, jnp.float32), "b": jnp.zeros(3)}
        updates, state = optimizer.update(g, state, params)
        params = optim.apply_updates(params, updates)
        for leaf in jax.tree_util.tree_leaves((params, state)):
            assert np.isfinite(leaf).all()
    np.testing.assert_allclose(params["w"][:, 0], start["w"][:, 0], atol=1e-6)
    np.testing.assert_array_equal(params["b"], start["b"])  # never got a gradient
    np.testing.assert_array_equal(state.second_moment["w"][0], 0.0)
    assert not np.allclose(params["w"][:, 1], start["w"][:, 1])  # the others moved


def test_zero_gradient_everywhere_gives_zero_updates():
    rng = np.random.default_rng(4)
    params = optim.nero_project({"w": jnp.asarray(rng.standard_normal((4, 2)), jnp.float32)})
    optimizer = optim.nero(0.1)
    grads = jax.tree_util.tree_map(jnp.zeros_like, params)
    updates, state = optimizer.update(grads, optimizer.init(params), params)
    np.testing.assert_allclose(updates["w"], 0.0, atol=1e-6)  # P(P(w)) = P(w) + rounding
    assert np.isfinite(state.second_moment["w"]).all()


# ----------------------------------------------------------------- other leaf ranks


def test_higher_rank_leaf_is_read_as_inputs_by_last_axis(x64):
    rng = np.random.default_rng(5)
    kernel = jnp.asarray(rng.standard_normal((3, 3, 2, 4)))
    grads = [jnp.asarray(rng.standard_normal((3, 3, 2, 4))) for _ in range(5)]
    optimizer = optim.nero(0.05, beta=0.9)
    ours, _ = follow(optimizer, {"k": kernel}, [{"k": g} for g in grads])
    flat, _ = follow(
        optimizer, {"k": kernel.reshape(-1, 4)}, [{"k": g.reshape(-1, 4)} for g in grads]
    )
    for a, b in zip(ours, flat, strict=True):
        np.testing.assert_allclose(a["k"].reshape(-1, 4), b["k"], rtol=1e-12, atol=1e-14)


def test_scalar_leaf_is_a_one_element_bias():
    optimizer = optim.nero(0.1)
    params = {"s": jnp.array(-2.0)}
    state = optimizer.init(params)
    np.testing.assert_allclose(state.scale["s"], 2.0)
    updates, _ = optimizer.update({"s": jnp.array(0.7)}, state, params)
    # rtol: the float32 bias correction 1 - 0.999 is only good to ~1e-5.
    np.testing.assert_allclose(updates["s"], -0.2, rtol=1e-4)


def test_one_input_neurons_cannot_be_constrained():
    params = [{"w": jnp.ones((1, 5)), "b": jnp.zeros(5)}]
    with pytest.raises(ValueError, match=r"params\[0\]\['w'\] has shape \(1, 5\).*constraints"):
        optim.nero().init(params)
    optim.nero(constraints=False).init(params)  # fine without the constraints


# ---------------------------------------------------------------------------- training


def test_nero_trains_the_digits_mlp():
    problem = problems.mlp(hidden_sizes=(32,))
    trajectory = run(optim.nero(0.03), problem, steps=300, key=jax.random.PRNGKey(0), batch_size=64)
    assert not trajectory.diverged
    assert trajectory.loss[-1] < 0.2 * trajectory.loss[0]  # from 2.7 to about 0.3
    _assert_on_constraint_set(trajectory.final_params)


# -------------------------------------------------------------- relative update sizes


def test_relative_update_sizes_at_each_granularity():
    params = {"w": jnp.array([[3.0, 0.0], [4.0, 1.0]]), "b": jnp.array([0.0, 2.0])}
    updates = {"w": jnp.array([[0.3, 0.0], [0.4, 0.5]]), "b": jnp.array([1.0, 1.0])}
    layer = relative_update_sizes(params, updates, "layer")
    np.testing.assert_allclose(layer["w"], np.sqrt(0.5) / np.sqrt(26.0), rtol=1e-6)
    np.testing.assert_allclose(layer["b"], np.sqrt(2.0) / 2.0, rtol=1e-6)
    neuron = relative_update_sizes(params, updates, "neuron")
    np.testing.assert_allclose(neuron["w"], [0.1, 0.5], rtol=1e-6)
    np.testing.assert_array_equal(neuron["b"], [np.inf, 0.5])  # a zero bias that moves
    synapse = relative_update_sizes(params, updates, "synapse")
    np.testing.assert_allclose(synapse["w"], [[0.1, 0.0], [0.1, 0.5]], rtol=1e-6)  # 0/0 -> 0
    assert relative_update_sizes(params, updates)["w"].shape == ()  # default: per layer


# -------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learning_rate": 0.0}, "learning_rate must be in"),
        ({"learning_rate": -0.1}, "learning_rate must be in"),
        ({"learning_rate": float("inf")}, "learning_rate must be in"),
        ({"learning_rate": float("nan")}, "learning_rate must be in"),
        ({"learning_rate": "fast"}, "learning_rate must be a number"),
        ({"beta": 1.0}, r"beta must be in \[0.0, 1.0\)"),
        ({"beta": -0.1}, r"beta must be in \[0.0, 1.0\)"),
        ({"constraints": 1}, "constraints must be True or False"),
        ({"constraints": "yes"}, "constraints must be True or False"),
    ],
)
def test_nero_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim.nero(**kwargs)


def test_update_and_sizes_reject_bad_input():
    params = {"w": jnp.ones((3, 2))}
    optimizer = optim.nero()
    with pytest.raises(ValueError, match="params must be passed to update"):
        optimizer.update(params, optimizer.init(params))
    with pytest.raises(ValueError, match="granularity must be one of"):
        relative_update_sizes(params, params, "row")
    with pytest.raises(ValueError, match=r"updates\['w'\] must have the shape"):
        relative_update_sizes(params, {"w": jnp.ones((2, 3))})
    with pytest.raises(ValueError, match="updates must have the same structure"):
        relative_update_sizes(params, [jnp.ones((3, 2))])
