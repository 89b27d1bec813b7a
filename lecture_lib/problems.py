"""The objectives the lectures optimise, each a :class:`Problem`.

Analytic problems (``quadratic``, ``rosenbrock``, ``saddle``) have parameters that
are a flat vector and ignore the batch. Data problems (``linear_regression``,
``logistic_regression``, ``softmax_regression``, ``mlp``) are trained on the
digits and split into a model ``predict(params, x)`` and an ``output_loss(outputs, y)``
that is convex in the outputs, the split the curvature matrices (GGN, Fisher) need.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from lecture_lib import data as data_lib
from lecture_lib import nn, validation


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """An objective ``h(params) = loss(params, batch)`` and what is known about it.

    Attributes:
      name: a short label for plots.
      loss: ``loss(params, batch) -> scalar``; analytic problems ignore ``batch``.
      init: ``init(key) -> params``; analytic problems return their fixed start.
      data: full training batch ``(x, y)``, or ``None`` for analytic problems.
      test_data: held-out ``(x, y)`` for data problems.
      predict: ``predict(params, x) -> outputs`` (model part of the loss).
      output_loss: ``output_loss(outputs, y) -> scalar`` mean loss, convex in outputs.
      penalty: ``penalty(params) -> scalar`` regulariser, so that
        ``loss(params, (x, y)) = output_loss(predict(params, x), y) + penalty(params)``.
      sample_targets: ``sample_targets(key, outputs) -> y`` drawn from the model's
        predictive distribution (what the true Fisher averages over).
      optimum: a known minimiser, if any.
      optimal_loss: ``h*``, if known.
      hessian: ``hessian(params) -> (n, n)`` exact Hessian over the flattened
        parameters (``jax.flatten_util.ravel_pytree`` order), if a closed form is known.
      smoothness: the global Lipschitz constant L of the gradient, if known.
      strong_convexity: the strong-convexity constant mu, if known.
    """

    name: str
    loss: Callable[..., jax.Array]
    init: Callable[[jax.Array], Any]
    data: tuple | None = None
    test_data: tuple | None = None
    predict: Callable | None = None
    output_loss: Callable | None = None
    sample_targets: Callable | None = None
    penalty: Callable | None = None
    optimum: Any = None
    optimal_loss: float | None = None
    hessian: Callable | None = None
    smoothness: float | None = None
    strong_convexity: float | None = None

    def full_loss(self, params) -> jax.Array:
        """h(params) on the full training batch."""
        return self.loss(params, self.data)

    @property
    def num_examples(self) -> int | None:
        return None if self.data is None else int(self.data[0].shape[0])

    @property
    def condition_number(self) -> float | None:
        if self.smoothness is None or self.strong_convexity is None:
            return None
        return self.smoothness / self.strong_convexity


def num_parameters(params) -> int:
    return int(ravel_pytree(params)[0].size)


# --------------------------------------------------------------------------- analytic


def _rotation_matrix(dim: int, angle: float, rotation_key) -> np.ndarray:
    if rotation_key is not None:
        gaussian = np.asarray(jax.random.normal(rotation_key, (dim, dim)), np.float64)
        q, r = np.linalg.qr(gaussian)
        return q * np.sign(np.diag(r))
    if angle != 0.0:
        if dim != 2:
            raise ValueError(f"angle rotates 2-D problems only (dim must be 2, got {dim})")
        c, s = math.cos(angle), math.sin(angle)
        return np.array([[c, -s], [s, c]])
    return np.eye(dim)


def quadratic(
    eigenvalues: Sequence[float] | None = None,
    *,
    condition_number: float | None = None,
    dim: int = 2,
    angle: float = 0.0,
    rotation_key: jax.Array | None = None,
    optimum: Sequence[float] | None = None,
    start: Sequence[float] | None = None,
) -> Problem:
    r"""h(theta) = 1/2 (theta - theta*)^T A (theta - theta*) with A = Q diag(lambda) Q^T.

    Give either the ``eigenvalues`` (all > 0) or a ``condition_number`` kappa >= 1,
    in which case the eigenvalues are spaced geometrically from 1/kappa to 1 (so
    L = 1 and mu = 1/kappa) over ``dim`` coordinates.

    Args:
      angle: rotate a 2-D problem's eigenbasis by this angle (radians).
      rotation_key: rotate by a random orthogonal matrix drawn from this key.
      optimum: theta* (default: the origin).
      start: where ``init`` starts (default: theta* + Q 1, so every eigendirection
        starts one unit away).
    """
    if (eigenvalues is None) == (condition_number is None):
        raise ValueError("give exactly one of eigenvalues or condition_number")
    if eigenvalues is None:
        kappa = validation.at_least("condition_number", condition_number, 1.0)
        dim = validation.positive_int("dim", dim)
        eigenvalues = np.geomspace(1.0 / kappa, 1.0, dim) if dim > 1 else np.ones(1)
    eigenvalues = np.asarray(eigenvalues, np.float64)
    if eigenvalues.ndim != 1 or eigenvalues.size == 0:
        raise ValueError(
            f"eigenvalues must be a non-empty 1-D sequence, got shape {eigenvalues.shape}"
        )
    for index, value in enumerate(eigenvalues):
        validation.positive(f"eigenvalues[{index}]", value)
    dim = eigenvalues.size
    angle = validation.real("angle", angle)
    rotation = _rotation_matrix(dim, angle, rotation_key)
    matrix = rotation @ np.diag(eigenvalues) @ rotation.T
    matrix = (matrix + matrix.T) / 2
    theta_star = np.zeros(dim) if optimum is None else np.asarray(optimum, np.float64)
    theta_start = theta_star + rotation @ np.ones(dim) if start is None else np.asarray(start)
    for name, vector in (("optimum", theta_star), ("start", theta_start)):
        if vector.shape != (dim,):
            raise ValueError(
                f"{name} must have shape ({dim},) to match the eigenvalues, got {vector.shape}"
            )
    a_matrix = jnp.asarray(matrix)
    theta_star_j = jnp.asarray(theta_star)

    def loss(params, batch=None):
        del batch
        delta = params - theta_star_j.astype(params.dtype)
        return 0.5 * delta @ (a_matrix.astype(params.dtype) @ delta)

    label = f"quadratic (kappa={eigenvalues.max() / eigenvalues.min():.3g})"
    return Problem(
        name=label,
        loss=loss,
        init=lambda key: jnp.asarray(theta_start, jnp.result_type(float)),
        optimum=theta_star_j,
        optimal_loss=0.0,
        hessian=lambda params: a_matrix,
        smoothness=float(eigenvalues.max()),
        strong_convexity=float(eigenvalues.min()),
    )


def rosenbrock(a: float = 1.0, b: float = 100.0, start: Sequence[float] = (-1.2, 1.0)) -> Problem:
    """h(x, y) = (a - x)^2 + b (y - x^2)^2: a curved, narrow valley; minimum at (a, a^2)."""
    a = validation.real("a", a)
    b = validation.positive("b", b)
    theta_start = np.asarray(start, np.float64)
    if theta_start.shape != (2,):
        raise ValueError(f"start must have shape (2,), got {theta_start.shape}")

    def loss(params, batch=None):
        del batch
        x, y = params[0], params[1]
        return (a - x) ** 2 + b * (y - x**2) ** 2

    return Problem(
        name=f"Rosenbrock (b={b:g})",
        loss=loss,
        init=lambda key: jnp.asarray(theta_start, jnp.result_type(float)),
        optimum=jnp.array([a, a**2]),
        optimal_loss=0.0,
        hessian=jax.hessian(loss),
    )


def saddle(start: Sequence[float] = (1.5, 1e-3)) -> Problem:
    """h(x, y) = x^2/2 + y^4/4 - y^2/2: a saddle at the origin, minima (0, +-1) with h = -1/4.

    The default start lies just off the saddle's stable axis, so gradient descent
    first slows down near the saddle, then escapes along y.
    """
    theta_start = np.asarray(start, np.float64)
    if theta_start.shape != (2,):
        raise ValueError(f"start must have shape (2,), got {theta_start.shape}")

    def loss(params, batch=None):
        del batch
        x, y = params[0], params[1]
        return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2

    return Problem(
        name="saddle",
        loss=loss,
        init=lambda key: jnp.asarray(theta_start, jnp.result_type(float)),
        optimum=jnp.array([0.0, 1.0 if theta_start[1] >= 0 else -1.0]),
        optimal_loss=-0.25,
        hessian=jax.hessian(loss),
    )


def noisy_quadratic(
    dim: int = 100,
    num_examples: int = 4096,
    key: jax.Array | None = None,
    start_scale: float = 1.0,
) -> Problem:
    r"""The noisy quadratic model of Zhang et al. (2019), as a finite data set.

    Curvatures h_i = 1/i (i = 1..dim). Example j is a point xi_j with
    xi_ij ~ N(0, 1/h_i), and its loss is 1/2 sum_i h_i (theta_i - xi_ij)^2. So the
    full-batch loss is a quadratic with Hessian H = diag(h), and a minibatch of size
    B gives a gradient with noise covariance H/B: the model's C = H.

    The exact minimiser is the sample mean of the xi_j, so h* is known.

    Args:
      dim: number of coordinates >= 1. num_examples: data set size >= 2.
      key: PRNG key of the data (default ``PRNGKey(0)``).
      start_scale: ``init`` starts at start_scale * (1, ..., 1).
    """
    dim = validation.positive_int("dim", dim)
    num_examples = validation.positive_int("num_examples", num_examples, minimum=2)
    start_scale = validation.real("start_scale", start_scale)
    key = jax.random.PRNGKey(0) if key is None else key
    curvatures = 1.0 / np.arange(1, dim + 1)
    noise = np.asarray(jax.random.normal(key, (num_examples, dim)), np.float64)
    points = noise / np.sqrt(curvatures)
    mean = points.mean(axis=0)
    optimal_loss = 0.5 * np.mean(np.sum(curvatures * (points - mean) ** 2, axis=1))
    h = jnp.asarray(curvatures)

    def loss(params, batch):
        xi, _ = batch
        return 0.5 * jnp.mean(jnp.sum(h * (params - xi) ** 2, axis=1))

    return Problem(
        name=f"noisy quadratic (dim={dim})",
        loss=loss,
        init=lambda key: jnp.full((dim,), start_scale, jnp.result_type(float)),
        data=(jnp.asarray(points), jnp.zeros(num_examples)),
        optimum=jnp.asarray(mean),
        optimal_loss=float(optimal_loss),
        hessian=lambda params: jnp.diag(h),
        smoothness=float(curvatures.max()),
        strong_convexity=float(curvatures.min()),
    )


# --------------------------------------------------------------------------- data


def _weight_penalty(params) -> jax.Array:
    """1/2 ||W||^2 over every leaf called "w" (biases are not penalised)."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    squares = [jnp.sum(leaf**2) for path, leaf in leaves if getattr(path[-1], "key", None) == "w"]
    return 0.5 * sum(squares) if squares else jnp.zeros([])


def _supervised(
    name: str,
    predict: Callable,
    output_loss: Callable,
    sample_targets: Callable,
    init: Callable,
    train: tuple,
    test: tuple,
    l2: float,
    **known,
) -> Problem:
    def penalty(params):
        return l2 * _weight_penalty(params)

    def loss(params, batch):
        x, y = batch
        return output_loss(predict(params, x), y) + penalty(params)

    return Problem(
        name=name,
        loss=loss,
        init=init,
        data=train,
        test_data=test,
        predict=predict,
        output_loss=output_loss,
        sample_targets=sample_targets,
        penalty=penalty,
        **known,
    )


def squared_error(outputs, y):
    """1/2 mean (z - y)^2: the unit-variance Gaussian negative log-likelihood, up to a constant."""
    return 0.5 * jnp.mean((outputs - y) ** 2)


def binary_cross_entropy(logits, y):
    """mean[log(1 + e^z) - y z]: the Bernoulli negative log-likelihood with logit z."""
    return jnp.mean(jax.nn.softplus(logits) - y * logits)


def softmax_cross_entropy(logits, y):
    """mean[-log softmax(z)_y]: the categorical negative log-likelihood."""
    log_probs = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))


def linear_regression(l2: float = 1e-2, dataset: data_lib.Dataset | None = None) -> Problem:
    r"""Least squares on the digits: predict the digit's value from its 64 pixels.

    h(w, b) = 1/(2m) sum_i (w^T x_i + b - y_i)^2 + l2/2 ||w||^2. A convex quadratic
    with a closed-form minimiser and Hessian, so L, mu and h* are known exactly.
    """
    l2 = validation.nonnegative("l2", l2)
    dataset = data_lib.digits() if dataset is None else dataset
    x_train = dataset.x_train
    y_train = dataset.y_train.astype(jnp.float32)
    y_test = dataset.y_test.astype(jnp.float32)

    # Closed forms in float64 on the host, in ravel_pytree order (b before w).
    design = np.concatenate(
        [np.ones((x_train.shape[0], 1)), np.asarray(x_train, np.float64)], axis=1
    )
    ridge = np.diag(np.r_[0.0, np.full(x_train.shape[1], l2)])
    hessian_matrix = design.T @ design / design.shape[0] + ridge
    # Least squares rather than solve: with l2 = 0 the constant pixels make the
    # Hessian singular, and the minimum-norm minimiser is still a minimiser.
    solution = np.linalg.lstsq(
        hessian_matrix, design.T @ np.asarray(y_train, np.float64) / design.shape[0], rcond=None
    )[0]
    optimum = {
        "b": jnp.asarray(solution[0], jnp.float32),
        "w": jnp.asarray(solution[1:], jnp.float32),
    }
    residual = design @ solution - np.asarray(y_train, np.float64)
    optimal_loss = 0.5 * np.mean(residual**2) + 0.5 * l2 * np.sum(solution[1:] ** 2)
    eigenvalues = np.linalg.eigvalsh(hessian_matrix)

    def predict(params, x):
        return x @ params["w"] + params["b"]

    def sample_targets(key, outputs):
        return outputs + jax.random.normal(key, outputs.shape, outputs.dtype)

    def init(key):
        return {"b": jnp.zeros([]), "w": 0.01 * jax.random.normal(key, (x_train.shape[1],))}

    return _supervised(
        "linear regression (digits)",
        predict,
        squared_error,
        sample_targets,
        init,
        (x_train, y_train),
        (dataset.x_test, y_test),
        l2,
        optimum=optimum,
        optimal_loss=float(optimal_loss),
        hessian=lambda params: jnp.asarray(hessian_matrix, jnp.float32),
        smoothness=float(eigenvalues.max()),
        strong_convexity=float(eigenvalues.min()),
    )


def logistic_regression(
    classes: tuple[int, int] = (3, 8), l2: float = 1e-3, dataset: data_lib.Dataset | None = None
) -> Problem:
    """Binary logistic regression on two digit classes: ``classes[1]`` is the positive one."""
    if len(classes) != 2 or classes[0] == classes[1] or not all(0 <= c <= 9 for c in classes):
        raise ValueError(f"classes must be two different digits in [0, 9], got {classes!r}")
    l2 = validation.nonnegative("l2", l2)
    dataset = data_lib.digits() if dataset is None else dataset

    def select(x, y):
        keep = np.isin(np.asarray(y), classes)
        return x[keep], (y[keep] == classes[1]).astype(jnp.float32)

    def predict(params, x):
        return x @ params["w"] + params["b"]

    def sample_targets(key, logits):
        return jax.random.bernoulli(key, jax.nn.sigmoid(logits)).astype(logits.dtype)

    def init(key):
        return {"b": jnp.zeros([]), "w": 0.01 * jax.random.normal(key, (dataset.x_train.shape[1],))}

    return _supervised(
        f"logistic regression ({classes[0]} vs {classes[1]})",
        predict,
        binary_cross_entropy,
        sample_targets,
        init,
        select(*dataset.train),
        select(*dataset.test),
        l2,
    )


def softmax_regression(l2: float = 1e-3, dataset: data_lib.Dataset | None = None) -> Problem:
    """Multinomial logistic regression over the 10 digit classes."""
    l2 = validation.nonnegative("l2", l2)
    dataset = data_lib.digits() if dataset is None else dataset
    num_features = dataset.x_train.shape[1]

    def predict(params, x):
        return x @ params["w"] + params["b"]

    def init(key):
        return {"b": jnp.zeros((10,)), "w": 0.01 * jax.random.normal(key, (num_features, 10))}

    return _supervised(
        "softmax regression (digits)",
        predict,
        softmax_cross_entropy,
        sample_categorical,
        init,
        dataset.train,
        dataset.test,
        l2,
    )


def sample_categorical(key, logits):
    """y ~ softmax(logits), one draw per row."""
    return jax.random.categorical(key, logits, axis=-1)


def mlp(
    hidden_sizes: Sequence[int] = (32,),
    activation: str = "tanh",
    init_scheme: str = "he",
    l2: float = 0.0,
    dataset: data_lib.Dataset | None = None,
) -> Problem:
    """A multilayer perceptron classifying the 10 digits with softmax cross-entropy."""
    l2 = validation.nonnegative("l2", l2)
    nn.activation_function(activation)
    nn.init_std(init_scheme, 1, 1)
    dataset = data_lib.digits() if dataset is None else dataset
    sizes = [dataset.x_train.shape[1], *hidden_sizes, 10]
    for index, size in enumerate(hidden_sizes):
        validation.positive_int(f"hidden_sizes[{index}]", size)

    def predict(params, x):
        return nn.mlp_forward(params, x, activation)

    def init(key):
        return nn.mlp_init(key, sizes, init_scheme)

    return _supervised(
        f"MLP {'-'.join(map(str, sizes))} ({activation})",
        predict,
        softmax_cross_entropy,
        sample_categorical,
        init,
        dataset.train,
        dataset.test,
        l2,
    )


def accuracy(problem: Problem, params, split: str = "test") -> float:
    """Share of correctly classified examples of a classification problem."""
    if problem.predict is None:
        raise ValueError(
            f"problem must be a data problem with a predict function, got {problem.name!r}"
        )
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    x, y = problem.data if split == "train" else problem.test_data
    outputs = problem.predict(params, x)
    if outputs.ndim == 1:
        predicted = (outputs > 0).astype(y.dtype)
    else:
        predicted = jnp.argmax(outputs, axis=-1)
    return float(jnp.mean(predicted == y))


# --------------------------------------------------------------------------- line fit


def line_fit(
    num_examples: int = 100,
    key: jax.Array | None = None,
    slope: float = 1.0,
    intercept: float = 0.0,
    noise: float = 1.0,
    x_mean: float = 2.0,
    x_std: float = 1.0,
    l2: float = 0.0,
    start: Sequence[float] = (-2.0, 3.0),
) -> Problem:
    r"""Fit a line by least squares: a data problem with two parameters (slope, intercept).

    The data are x_i ~ N(x_mean, x_std^2) and y_i = slope x_i + intercept + noise e_i
    with e_i ~ N(0, 1), drawn by numpy's generator seeded with the key's bits. The
    model predicts z_i = theta_0 x_i + theta_1 from the flat parameter vector
    theta = (slope, intercept), and the output loss is
    ``squared_error``, the negative log-likelihood of a unit-variance Gaussian: the
    model is well specified when ``noise == 1``. The regulariser is l2/2 theta_0^2 (the
    intercept is not penalised).

    Because the parameters are a vector of two, ``run`` records the iterates and
    ``plots.contour`` draws the loss; ``loss(params)`` without a batch is the loss on
    the full training set. The Fisher, the GGN and the Hessian are the same constant
    matrix 1/m sum_i a_i a_i^T + diag(l2, 0) with a_i = (x_i, 1), so the minimiser,
    h*, L and mu are known in closed form. With ``x_mean`` away from zero the slope
    and the intercept are correlated and the valley is narrow: the setting of
    Kunstner, Balles and Hennig (2019), figure 1.

    Args:
      num_examples: training examples >= 2 (a test set of the same size is drawn too).
      key: PRNG key of the data (default ``PRNGKey(0)``).
      slope, intercept: the true line. noise: standard deviation of the labels' noise, > 0.
      x_mean, x_std: the inputs' mean and standard deviation (> 0).
      l2: ridge penalty on the slope, >= 0.
      start: where ``init`` starts, a pair (slope, intercept).
    """
    num_examples = validation.positive_int("num_examples", num_examples, minimum=2)
    slope = validation.real("slope", slope)
    intercept = validation.real("intercept", intercept)
    noise = validation.positive("noise", noise)
    x_mean = validation.real("x_mean", x_mean)
    x_std = validation.positive("x_std", x_std)
    l2 = validation.nonnegative("l2", l2)
    theta_start = np.asarray(start, np.float64)
    if theta_start.shape != (2,) or not np.all(np.isfinite(theta_start)):
        raise ValueError(f"start must be a finite pair (slope, intercept), got {start!r}")
    key = jax.random.PRNGKey(0) if key is None else key
    dtype = jnp.result_type(float)
    # numpy's generator seeded by the key's bits: the same data for the same key, without
    # compiling JAX's random kernels for a hundred numbers
    rng = np.random.default_rng([int(b) for b in np.asarray(jax.random.key_data(key)).ravel()])

    def draw():
        x = x_mean + x_std * rng.standard_normal(num_examples)
        return x, slope * x + intercept + noise * rng.standard_normal(num_examples)

    x_train, y_train = draw()
    x_test, y_test = draw()

    # Closed forms in float64 on the host, parameters in the order (slope, intercept).
    design = np.stack([x_train, np.ones_like(x_train)], axis=1)
    hessian_matrix = design.T @ design / num_examples + np.diag([l2, 0.0])
    solution = np.linalg.solve(hessian_matrix, design.T @ y_train / num_examples)
    residual = design @ solution - y_train
    optimal_loss = 0.5 * np.mean(residual**2) + 0.5 * l2 * solution[0] ** 2
    eigenvalues = np.linalg.eigvalsh(hessian_matrix)
    train = (jnp.asarray(x_train, dtype), jnp.asarray(y_train, dtype))
    test = (jnp.asarray(x_test, dtype), jnp.asarray(y_test, dtype))

    def predict(params, x):
        return params[0] * x + params[1]

    def penalty(params):
        return 0.5 * l2 * params[0] ** 2

    def loss(params, batch=None):
        x, y = train if batch is None else batch
        return squared_error(predict(params, x), y) + penalty(params)

    def sample_targets(key, outputs):
        return outputs + jax.random.normal(key, outputs.shape, outputs.dtype)

    return Problem(
        name=f"line fit (slope {slope:g}, intercept {intercept:g}, noise {noise:g})",
        loss=loss,
        init=lambda key: jnp.asarray(theta_start, dtype),
        data=train,
        test_data=test,
        predict=predict,
        output_loss=squared_error,
        sample_targets=sample_targets,
        penalty=penalty,
        optimum=jnp.asarray(solution, dtype),
        optimal_loss=float(optimal_loss),
        hessian=lambda params: jnp.asarray(hessian_matrix, jnp.asarray(params).dtype),
        smoothness=float(eigenvalues.max()),
        strong_convexity=float(eigenvalues.min()),
    )


# --------------------------------------------------------------------------- deep linear chain

CHAIN_LOSSES = ("squared_error", "linear")


def _chain_start(start, depth: int, width: int | None) -> list[np.ndarray]:
    shape = () if width is None else (width, width)
    if len(start) != depth:
        raise ValueError(f"start must hold depth={depth} layers, got {len(start)}")
    layers = []
    for index, layer in enumerate(start):
        array = np.asarray(layer, np.float64)
        if array.shape != shape or not np.all(np.isfinite(array)):
            raise ValueError(
                f"start[{index}] must be a finite array of shape {shape}, got {layer!r}"
            )
        layers.append(array)
    return layers


def deep_linear_chain(
    depth: int = 4,
    width: int | None = None,
    num_examples: int = 32,
    key: jax.Array | None = None,
    target=None,
    loss: str = "squared_error",
    init_scale: float = 1.0,
    start: Sequence | None = None,
) -> Problem:
    r"""A deep linear network: a product of L layers, z = w_L ... w_2 w_1 x.

    With scalar layers (``width=None``) the output of input x is
    :math:`z = (\prod_l w_l)\, x`, the lecture's "network as a product of scalars". With
    matrix layers of shape (width, width), in the MLP's row convention (a row x_i, a
    layer maps a to a W_l, neuron j of W_l is its column j),

    .. math::  z_i = x_i W_1 W_2 \cdots W_L .

    The params are a list of the L layers (arrays of shape () or (width, width)). The
    inputs x_i ~ N(0, I) are drawn by numpy's generator seeded with the key's bits,
    and the targets are y_i = x_i T for the ``target`` map T (a number for scalar
    layers, a (width, width) matrix otherwise; default 1 or the identity). Losses:

    * ``"squared_error"``: :math:`h = \frac{1}{2m}\sum_i \|z_i - y_i\|^2`. The product
      can be any matrix, so h* = 0 (``optimal_loss``) at every factorisation of T, for
      example :math:`W_1 = T, W_{l>1} = I`: the product has a gauge freedom, a
      rescaling :math:`W_l \to c W_l`, :math:`W_{l+1} \to W_{l+1}/c` changes no output.
    * ``"linear"``: :math:`h = -\frac1m \sum_i y_i \cdot z_i`, linear in the output, so
      that the gradient with respect to a layer is a product of all the others:
      :math:`\partial h / \partial W_l = -\frac1m (x W_{<l})^\top (y W_{>l}^\top)`,
      for scalars :math:`-\overline{xy}\prod_{k \ne l} w_k`. Unbounded below.

    Args:
      depth: the number of layers L >= 1.
      width: None for scalar layers, or the layers' size >= 1.
      num_examples: training examples >= 1 (a test set of the same size is drawn too).
      key: PRNG key of the data (default ``PRNGKey(0)``); ``init`` draws from its own key.
      target: the map T (default 1, or the identity matrix).
      loss: ``"squared_error"`` or ``"linear"``.
      init_scale: > 0; ``init(key)`` draws every entry from N(0, init_scale^2 / width)
        (N(0, init_scale^2) for scalar layers).
      start: a fixed start, a sequence of L layers; ``init`` then returns it for every key.
    """
    depth = validation.positive_int("depth", depth)
    if width is not None:
        width = validation.positive_int("width", width)
    num_examples = validation.positive_int("num_examples", num_examples)
    if loss not in CHAIN_LOSSES:
        raise ValueError(f"loss must be one of {CHAIN_LOSSES}, got {loss!r}")
    init_scale = validation.positive("init_scale", init_scale)
    dim = 1 if width is None else width
    if target is None:
        target_map = np.eye(dim)
    else:
        target_map = np.asarray(target, np.float64)
        wanted = () if width is None else (width, width)
        if target_map.shape != wanted or not np.all(np.isfinite(target_map)):
            raise ValueError(f"target must be a finite array of shape {wanted}, got {target!r}")
        target_map = target_map.reshape(dim, dim)
    start_layers = None if start is None else _chain_start(start, depth, width)
    key = jax.random.PRNGKey(0) if key is None else key
    dtype = jnp.result_type(float)
    # numpy's generator seeded by the key's bits: no JAX random kernels to compile
    rng = np.random.default_rng([int(b) for b in np.asarray(jax.random.key_data(key)).ravel()])

    def draw():
        x = rng.standard_normal((num_examples, dim))
        y = x @ target_map
        if width is None:
            return jnp.asarray(x[:, 0], dtype), jnp.asarray(y[:, 0], dtype)
        return jnp.asarray(x, dtype), jnp.asarray(y, dtype)

    train, test = draw(), draw()

    def predict(params, x):
        if width is None:
            return math.prod(params) * x
        for layer in params:
            x = x @ layer
        return x

    def squared_error_sum(outputs, y):
        return 0.5 * jnp.sum((outputs - y) ** 2) / outputs.shape[0]

    def negative_correlation(outputs, y):
        return -jnp.sum(outputs * y) / outputs.shape[0]

    output_loss = squared_error_sum if loss == "squared_error" else negative_correlation

    def sample_targets(key, outputs):
        return outputs + jax.random.normal(key, outputs.shape, outputs.dtype)

    def init(init_key):
        if start_layers is not None:
            return [jnp.asarray(layer, dtype) for layer in start_layers]
        shape = () if width is None else (width, width)
        keys = jax.random.split(init_key, depth)
        std = init_scale / math.sqrt(dim)
        return [std * jax.random.normal(k, shape, dtype) for k in keys]

    layers = "scalar" if width is None else f"{width}x{width}"
    return _supervised(
        f"deep linear chain ({depth} {layers} layers, {loss.replace('_', ' ')})",
        predict,
        output_loss,
        sample_targets if loss == "squared_error" else None,
        init,
        train,
        test,
        0.0,
        optimal_loss=0.0 if loss == "squared_error" else None,
    )
