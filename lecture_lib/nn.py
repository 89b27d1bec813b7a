"""A small pure-JAX multilayer perceptron.

Parameters are a list of dense layers ``{"w": (fan_in, fan_out), "b": (fan_out,)}``;
``forward`` returns the logits. Initialisation schemes are those of the lectures:
naive (fixed standard deviation), Xavier/Glorot and He.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from lecture_lib import validation

ACTIVATIONS = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "identity": lambda z: z,
}

INIT_SCHEMES = ("naive", "xavier", "he")


def activation_function(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def init_std(scheme: str, fan_in: int, fan_out: int, naive_std: float = 0.01) -> float:
    """Weight standard deviation: naive = constant, Xavier = sqrt(2/(in+out)), He = sqrt(2/in)."""
    if scheme == "naive":
        return naive_std
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "he":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"init_scheme must be one of {INIT_SCHEMES}, got {scheme!r}")


def mlp_init(key: jax.Array, layer_sizes: Sequence[int], init_scheme: str = "he") -> list[dict]:
    """Gaussian weights with the scheme's standard deviation, zero biases."""
    if len(layer_sizes) < 2:
        raise ValueError(f"layer_sizes must have at least 2 entries, got {list(layer_sizes)}")
    for index, size in enumerate(layer_sizes):
        validation.positive_int(f"layer_sizes[{index}]", size)
    init_std(init_scheme, 1, 1)
    keys = jax.random.split(key, len(layer_sizes) - 1)
    layers = []
    for layer_key, fan_in, fan_out in zip(keys, layer_sizes[:-1], layer_sizes[1:], strict=True):
        std = init_std(init_scheme, fan_in, fan_out)
        layers.append(
            {
                "w": std * jax.random.normal(layer_key, (fan_in, fan_out)),
                "b": jnp.zeros((fan_out,)),
            }
        )
    return layers


def mlp_forward(params: list[dict], x: jax.Array, activation: str = "tanh") -> jax.Array:
    """Logits of the MLP: the activation after every layer but the last."""
    sigma = activation_function(activation)
    for layer in params[:-1]:
        x = sigma(x @ layer["w"] + layer["b"])
    last = params[-1]
    return x @ last["w"] + last["b"]


# --------------------------------------------------------------------------- layer access


def zero_perturbations(params: list[dict], num_examples: int, dtype=None) -> list[jax.Array]:
    """Zeros shaped like every layer's pre-activations, (num_examples, fan_out) each."""
    dtype = jnp.result_type(float) if dtype is None else dtype
    return [jnp.zeros((num_examples, layer["w"].shape[1]), dtype) for layer in params]


def mlp_forward_with_layer_inputs(
    params: list[dict],
    x: jax.Array,
    activation: str = "tanh",
    perturbations: Sequence[jax.Array] | None = None,
) -> tuple[jax.Array, list[jax.Array]]:
    r"""Logits of the MLP and the input a_l of every dense layer (what K-FAC's A needs).

    Layer l computes the pre-activation s_l = a_l W_l + b_l (+ e_l), with a_0 = x and
    a_{l+1} = sigma(s_l); the last layer's s_l are the logits (same as ``mlp_forward``).
    ``perturbations`` e_l, one (m, fan_out_l) array per layer, are added to the
    pre-activations: at e_l = 0 they change nothing, but the gradient of a loss with
    respect to e_l is the back-propagated output gradient g_l = dL/ds_l, row i being
    example i's (what K-FAC's G needs). From them the parameter gradient follows as
    dL/dW_l = a_l^T g_l = sum_i a_il g_il^T and dL/db_l = sum_i g_il.

    Returns ``(logits, [a_0, ..., a_{L-1}])``.
    """
    sigma = activation_function(activation)
    if perturbations is not None and len(perturbations) != len(params):
        raise ValueError(
            f"perturbations must hold one array per layer ({len(params)}), got {len(perturbations)}"
        )
    inputs = []
    for index, layer in enumerate(params):
        inputs.append(x)
        s = x @ layer["w"] + layer["b"]
        if perturbations is not None:
            s = s + perturbations[index]
        x = s if index == len(params) - 1 else sigma(s)
    return x, inputs


def mlp_backprop(params: list[dict], x: jax.Array, activation: str = "tanh"):
    """One forward pass, and a backward pass to call with any output cotangent.

    Returns ``(logits, layer_inputs, backward)``, where ``backward(cotangent)`` maps a
    cotangent on the logits (shape (m, c), e.g. dL/dz of some loss L) to
    ``(param_grads, layer_output_gradients)``: dL/dparams, and the list of
    g_l = dL/ds_l, one (m, fan_out_l) array per layer. ``backward`` can be called (or
    vmapped) with several cotangents and reuses the one forward pass.
    """
    dtype = jnp.result_type(x, *[leaf for layer in params for leaf in layer.values()])
    perturbations = zero_perturbations(params, jnp.shape(x)[0], dtype)

    def forward(p, e):
        return mlp_forward_with_layer_inputs(p, x, activation, e)

    logits, backward, inputs = jax.vjp(forward, params, perturbations, has_aux=True)
    return logits, inputs, backward
