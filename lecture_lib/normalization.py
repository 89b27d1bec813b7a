"""Lecture 10's tools: gauge freedom, normalization layers and initialization schemes.

* the product toy z = w_L ... w_1 x (``problems.deep_linear_chain``): gauge moves that keep
  the function and change the gradient, and the toy with a normalized hidden value;
* the rescaling symmetry of ReLU networks;
* per-layer statistics of a deep MLP at initialization (forward and backward), and an
  explorer over the initialization gain;
* an MLP with batch or layer normalization as a ``Problem`` for ``run``, and the
  train-mode versus eval-mode read-outs of batch norm.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from lecture_lib import data as data_lib
from lecture_lib import nn, validation
from lecture_lib.problems import Problem, softmax_cross_entropy

# --------------------------------------------------------------------------- gauge freedom


def gauge_transform(layers: Sequence, scales: Sequence[float]) -> list:
    r"""Rescale the layers of a product, :math:`w_l \to c_l w_l` with :math:`\prod_l c_l = 1`.

    The product :math:`w_L \cdots w_1` (scalars or matrices) and hence the function
    :math:`z = w_L \cdots w_1 x` do not change: a gauge move.
    """
    if len(scales) != len(layers):
        raise ValueError(f"scales must hold one number per layer ({len(layers)}), got {scales!r}")
    scales = [validation.real(f"scales[{index}]", c) for index, c in enumerate(scales)]
    product = math.prod(scales)
    if not math.isclose(product, 1.0, rel_tol=1e-9):
        raise ValueError(f"scales must multiply to 1 (a gauge move), their product is {product}")
    return [c * jnp.asarray(w) for c, w in zip(scales, layers, strict=True)]


def batch_rms(h: jax.Array) -> jax.Array:
    r"""Per-unit root mean square over the batch, :math:`\sqrt{\frac1m\sum_i h_i^2}` (axis 0)."""
    return jnp.sqrt(jnp.mean(h**2, axis=0))


def normalized_chain(chain: Problem, after: int) -> Problem:
    r"""The product toy with its hidden value normalized by its batch scale after layer ``after``.

    With :math:`h_i = w_{a} \cdots w_1 x_i` (a = ``after``) the output is

    .. math::  z_i = w_L \cdots w_{a+1}\, \frac{h_i}{\sqrt{\frac1m \sum_j h_j^2}},

    the lecture's normalized toy with the root mean square in place of the mean (the mean
    of h is near zero for the chain's N(0, 1) inputs). Multiplying :math:`w_1, \dots, w_a`
    by any c > 0 changes neither z nor the gradients of the layers above.
    ``chain`` is a ``problems.deep_linear_chain``; the result shares its data and loss.
    """
    if not isinstance(chain, Problem) or chain.predict is None or chain.output_loss is None:
        raise ValueError(f"chain must be a problems.deep_linear_chain Problem, got {chain!r}")
    after = validation.positive_int("after", after)
    depth = len(chain.init(jax.random.key(0)))
    if after >= depth:
        raise ValueError(f"after must be in [1, {depth - 1}] for {depth} layers, got {after}")

    def predict(params, x):
        h = chain.predict(params[:after], x)
        return chain.predict(params[after:], h / batch_rms(h))

    def loss(params, batch):
        x, y = batch
        return chain.output_loss(predict(params, x), y)

    return Problem(
        name=f"{chain.name}, normalized after layer {after}",
        loss=loss,
        init=chain.init,
        data=chain.data,
        test_data=chain.test_data,
        predict=predict,
        output_loss=chain.output_loss,
    )


def relu_rescale(params: list[dict], layer: int, scale: float) -> list[dict]:
    r"""Scale dense layer ``layer``'s incoming weights and bias by c > 0, the next layer's by 1/c.

    Since :math:`\mathrm{ReLU}(c\,s) = c\,\mathrm{ReLU}(s)` for c > 0, the network computes
    the same function (for ReLU, not for tanh).
    """
    scale = validation.positive("scale", scale)
    if not 0 <= layer < len(params) - 1:
        raise ValueError(f"layer must be in [0, {len(params) - 2}] (a hidden layer), got {layer}")
    rescaled = [dict(p) for p in params]
    rescaled[layer] = {"w": scale * params[layer]["w"], "b": scale * params[layer]["b"]}
    rescaled[layer + 1] = {"w": params[layer + 1]["w"] / scale, "b": params[layer + 1]["b"]}
    return rescaled


# --------------------------------------------------------------------------- statistics at init


class LayerStatistics(NamedTuple):
    """Per dense layer l = 1..L of an MLP on one batch.

    preactivation_rms: RMS of the pre-activations s_l = a_{l-1} W_l + b_l (forward pass).
    gradient_rms: RMS of the entries of dh/dW_l (backward pass).
    """

    preactivation_rms: np.ndarray
    gradient_rms: np.ndarray


def _rms(a: jax.Array) -> jax.Array:
    # scaled by the largest entry, so that squares of tiny values do not underflow float32
    scale = jnp.max(jnp.abs(a))
    safe = jnp.where(scale > 0, scale, 1.0)
    return scale * jnp.sqrt(jnp.mean((a / safe) ** 2))


@functools.partial(jax.jit, static_argnames="activation")
def _layer_statistics(params, x, y, activation):
    def loss(p):
        logits, inputs = nn.mlp_forward_with_layer_inputs(p, x, activation)
        return softmax_cross_entropy(logits, y), inputs

    grads, inputs = jax.grad(loss, has_aux=True)(params)
    forward = jnp.stack([_rms(a @ p["w"] + p["b"]) for a, p in zip(inputs, params, strict=True)])
    backward = jnp.stack([_rms(g["w"]) for g in grads])
    return forward, backward


def layer_statistics(params: list[dict], batch: tuple, activation: str = "relu") -> LayerStatistics:
    """Forward and backward magnitudes of every dense layer of an MLP (``nn.mlp_forward``).

    The loss is the mean softmax cross-entropy of the batch ``(x, labels)``.
    """
    nn.activation_function(activation)
    x, y = batch
    if not params or jnp.ndim(x) != 2 or jnp.shape(x)[1] != params[0]["w"].shape[0]:
        raise ValueError(
            f"batch's x must have shape (m, {params[0]['w'].shape[0] if params else '?'}) "
            f"for these params, got {jnp.shape(x)}"
        )
    forward, backward = _layer_statistics(params, x, y, activation)
    return LayerStatistics(np.asarray(forward, np.float64), np.asarray(backward, np.float64))


def spread(values) -> float:
    """max / min of positive values (how far a per-layer quantity drifts across the depth)."""
    values = np.asarray(values, np.float64)
    if values.size == 0 or not np.all(values > 0):
        raise ValueError(f"values must be positive (and not empty), got {values}")
    return float(values.max() / values.min())


def layer_statistics_figure(statistics: Mapping[str, LayerStatistics], title: str = ""):
    """Two log-scale panels against depth: pre-activation RMS and weight-gradient RMS."""
    if not statistics:
        raise ValueError("statistics must name at least one LayerStatistics, got none")
    figure, (forward, backward) = plt.subplots(1, 2, figsize=(12, 4))
    for name, stats in statistics.items():
        layers = np.arange(1, len(stats.preactivation_rms) + 1)
        forward.semilogy(layers, stats.preactivation_rms, "o-", ms=3, label=name)
        backward.semilogy(layers, stats.gradient_rms, "o-", ms=3, label=name)
    forward.set_title("forward: RMS of the pre-activations $s_l$")
    forward.set_ylabel(r"$\mathrm{rms}(s_l)$")
    backward.set_title(r"backward: RMS of the gradient $\partial h / \partial W_l$")
    backward.set_ylabel(r"$\mathrm{rms}(\partial h / \partial W_l)$")
    for ax in (forward, backward):
        ax.set_xlabel("layer $l$")
        ax.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def deep_layer_sizes(depth: int, width: int, inputs: int = 64, classes: int = 10) -> list[int]:
    """Sizes of a ``depth``-layer MLP on the digits: inputs, depth - 1 hidden layers, classes."""
    depth = validation.positive_int("depth", depth, minimum=2)
    width = validation.positive_int("width", width)
    return [inputs, *[width] * (depth - 1), classes]


def init_statistics(
    batch: tuple,
    activation: str,
    init_scheme: str,
    depth: int = 20,
    width: int = 64,
    num_networks: int = 8,
    naive_std: float = 0.01,
    key: jax.Array | None = None,
) -> LayerStatistics:
    r"""Layer statistics at init, averaged over ``num_networks`` independent draws.

    Each entry is :math:`\sqrt{\text{mean over networks of rms}^2}`: the schemes keep the
    variance constant in expectation, and a single finite-width network drifts around it
    like a random walk.
    """
    num_networks = validation.positive_int("num_networks", num_networks)
    key = jax.random.key(0) if key is None else key
    sizes = deep_layer_sizes(depth, width, jnp.shape(batch[0])[1])
    draws = [
        layer_statistics(nn.mlp_init(k, sizes, init_scheme, naive_std), batch, activation)
        for k in jax.random.split(key, num_networks)
    ]
    return LayerStatistics(
        *(np.sqrt(np.mean([np.square(d[i]) for d in draws], axis=0)) for i in range(2))
    )


def initialization_explorer(batch: tuple, depth: int = 20, width: int = 64, num_networks: int = 4):
    """A slider for the weight std and an activation menu, redrawing the statistics at init.

    The curve of He's initialization is drawn for reference.
    """
    import ipywidgets

    depth = validation.positive_int("depth", depth, minimum=2)
    width = validation.positive_int("width", width)
    he_std = nn.init_std("he", width, width)
    std = ipywidgets.FloatLogSlider(
        value=0.01, base=10, min=-2.5, max=0, step=0.05, description="weight std"
    )
    activation = ipywidgets.Dropdown(
        options=["relu", "tanh"], value="relu", description="activation"
    )

    def draw(std, activation):
        statistics = {
            name: init_statistics(batch, activation, "naive", depth, width, num_networks, s)
            for name, s in ((f"std {std:.3g}", std), (f"He, std {he_std:.3g}", he_std))
        }
        layer_statistics_figure(statistics, f"{depth} layers of width {width}, {activation}")
        plt.show()

    return ipywidgets.interactive(draw, std=std, activation=activation)


# --------------------------------------------------------------------------- normalized MLPs


def normalized_mlp_problem(
    hidden_sizes: Sequence[int],
    activation: str = "relu",
    init_scheme: str = "he",
    normalization: str = "batch",
    naive_std: float = 0.01,
    dataset: data_lib.Dataset | None = None,
) -> Problem:
    """An MLP with normalization layers classifying the digits (``nn.normalized_mlp_forward``).

    The loss uses train mode: batch norm normalizes with the statistics of the batch it is
    given (the minibatch during ``run``'s steps, the whole training set when ``run``
    records the loss). The running averages are not part of the parameters; estimate them
    afterwards with :func:`running_statistics`.
    """
    for index, size in enumerate(hidden_sizes):
        validation.positive_int(f"hidden_sizes[{index}]", size)
    if not hidden_sizes:
        raise ValueError("hidden_sizes must name at least one hidden layer, got none")
    dataset = data_lib.digits() if dataset is None else dataset
    sizes = [dataset.x_train.shape[1], *hidden_sizes, 10]
    key = jax.random.key(0)
    _, state = nn.normalized_mlp_init(key, sizes, init_scheme, normalization, naive_std)

    def predict(params, x):
        return nn.normalized_mlp_forward(params, state, x, activation, normalization)[0]

    def loss(params, batch):
        x, y = batch
        return softmax_cross_entropy(predict(params, x), y)

    def init(init_key):
        return nn.normalized_mlp_init(init_key, sizes, init_scheme, normalization, naive_std)[0]

    return Problem(
        name=f"MLP {'-'.join(map(str, sizes))} ({activation}, {init_scheme} init, "
        f"{normalization} norm)",
        loss=loss,
        init=init,
        data=dataset.train,
        test_data=dataset.test,
        predict=predict,
        output_loss=softmax_cross_entropy,
    )


def merge_batch_norm(
    dense: dict, norm_params: dict, state: nn.BatchNormState, eps: float = 1e-5
) -> dict:
    r"""Fold eval-mode batch norm into the dense layer before it.

    Eval mode is the affine map :math:`y = a \odot s + c` per feature, with
    :math:`a = \gamma / \sqrt{\bar\sigma^2 + \epsilon}` and :math:`c = \beta - a \odot \bar\mu`;
    after :math:`s = x W + b` it is one dense layer :math:`W' = W \operatorname{diag}(a)`,
    :math:`b' = a \odot b + c`.
    """
    eps = validation.positive("eps", eps)
    fan_out = dense["w"].shape[1]
    if jnp.shape(state.mean) != (fan_out,) or jnp.shape(norm_params["gain"]) != (fan_out,):
        raise ValueError(
            f"norm_params and state must have shape ({fan_out},) like the dense layer's outputs, "
            f"got {jnp.shape(norm_params['gain'])} and {jnp.shape(state.mean)}"
        )
    a = norm_params["gain"] / jnp.sqrt(state.var + eps)
    return {"w": dense["w"] * a, "b": a * dense["b"] + norm_params["bias"] - a * state.mean}


def _hidden_sizes(params: dict) -> list[int]:
    return [layer["w"].shape[1] for layer in params["dense"][:-1]]


@functools.partial(jax.jit, static_argnames=("batch_size", "steps", "activation", "momentum"))
def _running_statistics(params, x, key, batch_size, steps, activation, momentum):
    start = tuple(nn.batch_norm_state(n) for n in _hidden_sizes(params))
    indices = data_lib.minibatch_indices(key, x.shape[0], batch_size, steps)

    def body(state, index):
        _, new_state = nn.normalized_mlp_forward(
            params, state, x[index], activation, "batch", True, momentum
        )
        return new_state, None

    return jax.lax.scan(body, start, indices)[0]


def running_statistics(
    params: dict,
    x: jax.Array,
    key: jax.Array,
    batch_size: int = 128,
    steps: int = 100,
    activation: str = "relu",
    momentum: float = 0.9,
) -> tuple[nn.BatchNormState, ...]:
    """Batch norm's running averages after ``steps`` train-mode passes over minibatches of x.

    The parameters stay fixed: this is the "estimate the population statistics after
    training" recipe, with the update rule of ``nn.batch_norm``.
    """
    batch_size = validation.positive_int("batch_size", batch_size, minimum=2)
    steps = validation.positive_int("steps", steps)
    momentum = validation.in_interval("momentum", momentum, 0.0, 1.0)
    nn.activation_function(activation)
    if batch_size > x.shape[0]:
        raise ValueError(f"batch_size must be in [2, {x.shape[0]}], got {batch_size}")
    return _running_statistics(params, x, key, batch_size, steps, activation, momentum)


class ModeMismatch(NamedTuple):
    """Batch norm in train mode (batches of ``batch_size``) against eval mode, on one data set.

    relative_difference: ||z_train - z_eval|| / ||z_eval|| over all logits.
    train_mode_accuracy, eval_mode_accuracy: the share of correct labels in either mode.
    """

    batch_size: int
    relative_difference: float
    train_mode_accuracy: float
    eval_mode_accuracy: float


@functools.partial(jax.jit, static_argnames=("batch_size", "activation"))
def _both_modes(params, state, x, key, batch_size, activation):
    num_batches = x.shape[0] // batch_size
    order = jax.random.permutation(key, x.shape[0])[: num_batches * batch_size]
    batches = x[order].reshape(num_batches, batch_size, x.shape[1])

    def train_mode(batch):
        return nn.normalized_mlp_forward(params, state, batch, activation, "batch", True)[0]

    train_logits = jax.vmap(train_mode)(batches).reshape(num_batches * batch_size, -1)
    eval_logits = nn.normalized_mlp_forward(params, state, x[order], activation, "batch", False)[0]
    return train_logits, eval_logits, order


def mode_mismatch(
    params: dict,
    state: tuple[nn.BatchNormState, ...],
    data: tuple,
    batch_size: int,
    key: jax.Array,
    activation: str = "relu",
) -> ModeMismatch:
    """Logits of shuffled batches of ``batch_size`` in train mode against eval mode.

    Examples that do not fill a last batch are left out of both.
    """
    x, y = data
    batch_size = validation.positive_int("batch_size", batch_size, minimum=2)
    nn.activation_function(activation)
    if batch_size > x.shape[0]:
        raise ValueError(f"batch_size must be in [2, {x.shape[0]}], got {batch_size}")
    train_logits, eval_logits, order = _both_modes(params, state, x, key, batch_size, activation)
    train_logits, eval_logits = np.asarray(train_logits), np.asarray(eval_logits)
    labels = np.asarray(y)[np.asarray(order)]
    return ModeMismatch(
        batch_size=batch_size,
        relative_difference=float(
            np.linalg.norm(train_logits - eval_logits) / np.linalg.norm(eval_logits)
        ),
        train_mode_accuracy=float(np.mean(train_logits.argmax(axis=1) == labels)),
        eval_mode_accuracy=float(np.mean(eval_logits.argmax(axis=1) == labels)),
    )
