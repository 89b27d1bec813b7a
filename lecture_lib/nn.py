"""A small pure-JAX multilayer perceptron.

Parameters are a list of dense layers ``{"w": (fan_in, fan_out), "b": (fan_out,)}``;
``forward`` returns the logits. Initialisation schemes are those of the lectures:
naive (fixed standard deviation), Xavier/Glorot and He.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

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


def mlp_init(
    key: jax.Array, layer_sizes: Sequence[int], init_scheme: str = "he", naive_std: float = 0.01
) -> list[dict]:
    """Gaussian weights with the scheme's standard deviation, zero biases.

    ``naive_std`` is the standard deviation of the "naive" scheme (ignored by the others).
    """
    naive_std = validation.positive("naive_std", naive_std)
    if len(layer_sizes) < 2:
        raise ValueError(f"layer_sizes must have at least 2 entries, got {list(layer_sizes)}")
    for index, size in enumerate(layer_sizes):
        validation.positive_int(f"layer_sizes[{index}]", size)
    init_std(init_scheme, 1, 1)
    keys = jax.random.split(key, len(layer_sizes) - 1)
    layers = []
    for layer_key, fan_in, fan_out in zip(keys, layer_sizes[:-1], layer_sizes[1:], strict=True):
        std = init_std(init_scheme, fan_in, fan_out, naive_std)
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


# --------------------------------------------------------------------------- normalization

NORMALIZATIONS = ("none", "batch", "layer")


class BatchNormState(NamedTuple):
    """Running averages of a batch-norm layer's per-feature mean and variance."""

    mean: jax.Array
    var: jax.Array


def normalization_params(num_features: int) -> dict:
    """A normalization layer's learnable gain gamma = 1 and bias beta = 0, per feature."""
    num_features = validation.positive_int("num_features", num_features)
    return {"gain": jnp.ones((num_features,)), "bias": jnp.zeros((num_features,))}


def batch_norm_state(num_features: int) -> BatchNormState:
    """Running mean 0 and running variance 1: eval mode starts as the identity map."""
    num_features = validation.positive_int("num_features", num_features)
    return BatchNormState(mean=jnp.zeros((num_features,)), var=jnp.ones((num_features,)))


def _check_features(name: str, x, params: dict, minimum_rows: int) -> None:
    if jnp.ndim(x) != 2 or jnp.shape(x)[0] < minimum_rows:
        raise ValueError(
            f"{name} must be a 2-D array (examples, features) with at least {minimum_rows} "
            f"rows, got shape {jnp.shape(x)}"
        )
    for key in ("gain", "bias"):
        if jnp.shape(params[key]) != (jnp.shape(x)[1],):
            raise ValueError(
                f"params[{key!r}] must have shape ({jnp.shape(x)[1]},) to match the features "
                f"of {name}, got {jnp.shape(params[key])}"
            )


def batch_norm(
    params: dict,
    state: BatchNormState,
    x: jax.Array,
    train: bool,
    momentum: float = 0.9,
    eps: float = 1e-5,
) -> tuple[jax.Array, BatchNormState]:
    r"""Batch normalization (Ioffe and Szegedy, 2015) of x, shape (m, features).

    Train mode normalizes every feature with the statistics of the batch,

    .. math::  \mu_B = \frac1m\sum_i x_i, \quad \sigma_B^2 = \frac1m\sum_i (x_i - \mu_B)^2,
               \quad y_i = \gamma\,\frac{x_i - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta,

    and updates the running averages with the unbiased batch variance (as the paper's
    inference network and PyTorch do):
    :math:`\bar\mu \leftarrow \rho\,\bar\mu + (1-\rho)\,\mu_B`,
    :math:`\bar\sigma^2 \leftarrow \rho\,\bar\sigma^2 + (1-\rho)\,\frac{m}{m-1}\sigma_B^2`
    (:math:`\rho` = ``momentum``). Eval mode uses the running averages instead,
    :math:`y = \gamma (x - \bar\mu) / \sqrt{\bar\sigma^2 + \epsilon} + \beta`: a fixed
    affine map per feature, the same for every batch, and leaves the state unchanged.

    Returns ``(y, new_state)``.
    """
    if not isinstance(train, bool):
        raise ValueError(f"train must be True or False, got {train!r}")
    momentum = validation.in_interval("momentum", momentum, 0.0, 1.0)
    eps = validation.positive("eps", eps)
    _check_features("x", x, params, 2 if train else 1)
    if jnp.shape(state.mean) != (jnp.shape(x)[1],) or jnp.shape(state.var) != (jnp.shape(x)[1],):
        raise ValueError(
            f"state must hold a mean and a var of shape ({jnp.shape(x)[1]},), got "
            f"{jnp.shape(state.mean)} and {jnp.shape(state.var)}"
        )
    if train:
        m = x.shape[0]
        mean = jnp.mean(x, axis=0)
        var = jnp.mean((x - mean) ** 2, axis=0)
        new_state = BatchNormState(
            mean=momentum * state.mean + (1 - momentum) * mean,
            var=momentum * state.var + (1 - momentum) * var * m / (m - 1),
        )
    else:
        mean, var, new_state = state.mean, state.var, state
    y = params["gain"] * (x - mean) / jnp.sqrt(var + eps) + params["bias"]
    return y, new_state


def layer_norm(params: dict, x: jax.Array, eps: float = 1e-5) -> jax.Array:
    r"""Layer normalization (Ba, Kiros and Hinton, 2016): each example over its own features.

    .. math::  \mu_i = \frac1n\sum_j x_{ij}, \quad \sigma_i^2 = \frac1n\sum_j (x_{ij} - \mu_i)^2,
               \quad y_{ij} = \gamma_j\,\frac{x_{ij} - \mu_i}{\sqrt{\sigma_i^2 + \epsilon}}
               + \beta_j .

    No batch statistics, so train and eval mode are the same and an example's output does
    not depend on the rest of its batch.
    """
    eps = validation.positive("eps", eps)
    _check_features("x", x, params, 1)
    if x.shape[1] < 2:
        raise ValueError(f"x must have at least 2 features to normalize over, got {x.shape[1]}")
    mean = jnp.mean(x, axis=1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=1, keepdims=True)
    return params["gain"] * (x - mean) / jnp.sqrt(var + eps) + params["bias"]


def normalized_mlp_init(
    key: jax.Array,
    layer_sizes: Sequence[int],
    init_scheme: str = "he",
    normalization: str = "batch",
    naive_std: float = 0.01,
) -> tuple[dict, tuple[BatchNormState, ...]]:
    """Parameters and state of an MLP with a normalization layer after every hidden dense layer.

    Returns ``(params, state)``: params ``{"dense": mlp_init(...), "norm": [gain/bias per
    hidden layer]}`` (``"norm"`` empty without normalization), and a ``BatchNormState`` per
    hidden layer for batch norm (an empty tuple otherwise).
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    dense = mlp_init(key, layer_sizes, init_scheme, naive_std)
    hidden = list(layer_sizes[1:-1])
    norm = [] if normalization == "none" else [normalization_params(n) for n in hidden]
    state = tuple(batch_norm_state(n) for n in hidden) if normalization == "batch" else ()
    return {"dense": dense, "norm": norm}, state


def normalized_mlp_forward(
    params: dict,
    state: tuple[BatchNormState, ...],
    x: jax.Array,
    activation: str = "relu",
    normalization: str = "batch",
    train: bool = True,
    momentum: float = 0.9,
    eps: float = 1e-5,
) -> tuple[jax.Array, tuple[BatchNormState, ...]]:
    """Logits of an MLP with dense -> normalization -> activation in every hidden layer.

    As in Ioffe and Szegedy, the normalization sits between the dense map and the
    nonlinearity. ``normalization="none"`` is :func:`mlp_forward`. ``train`` selects batch
    norm's mode (batch statistics, or running averages); it is ignored by layer norm.
    Returns ``(logits, new_state)``, the state updated by train-mode batch norm.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    sigma = activation_function(activation)
    dense, norm = params["dense"], params["norm"]
    hidden = len(dense) - 1
    if len(norm) != (0 if normalization == "none" else hidden):
        raise ValueError(
            f"params['norm'] must hold one gain/bias per hidden layer for {normalization!r}, "
            f"got {len(norm)} for {hidden} hidden layers"
        )
    if len(state) != (hidden if normalization == "batch" else 0):
        raise ValueError(
            f"state must hold one BatchNormState per hidden layer for {normalization!r}, "
            f"got {len(state)}"
        )
    new_state = []
    for index, layer in enumerate(dense[:-1]):
        s = x @ layer["w"] + layer["b"]
        if normalization == "batch":
            s, layer_state = batch_norm(norm[index], state[index], s, train, momentum, eps)
            new_state.append(layer_state)
        elif normalization == "layer":
            s = layer_norm(norm[index], s, eps)
        x = sigma(s)
    last = dense[-1]
    return x @ last["w"] + last["b"], tuple(new_state)
