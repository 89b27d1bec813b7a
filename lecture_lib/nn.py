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
