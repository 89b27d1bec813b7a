"""Eigenvalues of a symmetric matrix ``A`` that is only available as ``v -> A v``.

Hessians, Gauss-Newton matrices and Fishers of neural networks are far too big to
build, but a matrix-vector product costs about one backward pass. Everything here works
on FLAT vectors: a ``matvec`` mapping a ``(dim,)`` array to a ``(dim,)`` array, and an
explicit PRNG key.

- :func:`power_iteration`: the top-k eigenpairs by magnitude, with deflation.
- :func:`lanczos`: the Lanczos basis ``B`` and tridiagonal ``T = B A B^T`` with full
  reorthogonalisation; :func:`tridiagonal`, :func:`ritz_values`, :func:`ritz_pairs`.
- :func:`spectral_density`: stochastic Lanczos quadrature (SLQ), a smoothed histogram
  of all eigenvalues (Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019).
- :func:`hutchinson_trace`, :func:`hutchinson_diagonal`: unbiased estimates of
  ``tr A`` and ``diag A`` from Rademacher probes, with standard errors.
- :func:`condition_number`: ``max |lambda| / min |lambda|`` of eigenvalues or a matrix.

Vectors are in JAX's default float dtype (float32, or float64 under x64), so ``matvec``
must accept that dtype. The iterations run in ``lax.scan`` / ``lax.fori_loop`` under
``jax.jit`` with ``matvec`` static: calling again with the same ``matvec`` object and
sizes reuses the compiled code; a new closure compiles once more.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from lecture_lib import validation

# float32 matmuls on GPUs default to TF32 (~3 digits), which would destroy orthogonality
_HIGHEST = lax.Precision.HIGHEST
# a residual below this many eps times ||A|| is rounding noise: the Krylov space is invariant
_BREAKDOWN_EPS_FACTOR = 100.0
# default SLQ smoothing as a fraction of the node range, and grid margin in units of sigma
_SIGMA_FRACTION = 0.01
_GRID_MARGIN_SIGMAS = 5.0


class LanczosResult(NamedTuple):
    """``num_steps`` Lanczos steps: ``T = B A B^T`` is tridiagonal.

    Attributes:
      alphas: ``(num_steps,)`` the diagonal of ``T``, ``alpha_i = b_i^T A b_i``.
      betas: ``(num_steps - 1,)`` the off-diagonal, ``beta_i = b_{i+1}^T A b_i``
        (0 where the iteration restarted after a breakdown).
      basis: ``(num_steps, dim)`` the orthonormal rows ``b_i`` of ``B``.
    """

    alphas: jax.Array
    betas: jax.Array
    basis: jax.Array


class SpectralDensity(NamedTuple):
    """Stochastic Lanczos quadrature of the eigenvalue density of ``A``.

    Attributes:
      nodes: ``(num_probes, num_steps)`` Ritz values, the quadrature nodes of each probe.
      weights: ``(num_probes, num_steps)`` their weights; each row sums to 1.
      grid: ``(grid_size,)`` where the density is evaluated.
      density: ``(grid_size,)`` the smoothed density on ``grid``; it integrates to ~1.
    """

    nodes: jax.Array
    weights: jax.Array
    grid: jax.Array
    density: jax.Array


# --------------------------------------------------------------------------- argument checks


def _check_operator(matvec, dim) -> int:
    """``dim >= 1`` and ``matvec`` maps a ``(dim,)`` float vector to a ``(dim,)`` float vector."""
    dim = validation.positive_int("dim", dim)
    if not callable(matvec):
        raise ValueError(f"matvec must be a callable v -> A v, got {matvec!r}")
    vector = jax.ShapeDtypeStruct((dim,), jnp.result_type(float))
    expected = f"matvec must map a vector of shape ({dim},) to a vector of shape ({dim},)"
    try:
        product = jax.eval_shape(matvec, vector)
    except Exception as error:
        raise ValueError(f"{expected}; calling it failed: {error}") from error
    shape, dtype = getattr(product, "shape", None), getattr(product, "dtype", None)
    if shape != (dim,) or not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{expected} of floats, got {shape} {dtype}")
    return dim


def _traceable(matvec: Callable) -> jax.tree_util.Partial:
    """``matvec`` as a pytree, so the compiled loops take it as an argument.

    A ``jax.tree_util.Partial`` (``curvature.flat_matvec`` returns one) carries its
    arrays (parameters, data) as traced leaves; a plain closure would bake them into
    the program as constants, which XLA then spends seconds constant-folding.
    """
    return matvec if isinstance(matvec, jax.tree_util.Partial) else jax.tree_util.Partial(matvec)


def _check_count(name: str, value, dim: int) -> int:
    """An integer in ``[1, dim]``."""
    value = validation.positive_int(name, value)
    if value > dim:
        raise ValueError(f"{name} must be an integer in [1, dim={dim}], got {value}")
    return value


def _check_key(key) -> jax.Array:
    """A PRNG key: ``jax.random.key(seed)`` or ``jax.random.PRNGKey(seed)``."""
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
            return key
        if key.dtype == jnp.uint32 and key.shape == (2,):
            return key
    raise ValueError(f"key must be a single PRNG key such as jax.random.key(0), got {key!r}")


# --------------------------------------------------------------------------- helpers


def _normalize(vector: jax.Array) -> jax.Array:
    """``v / ||v||``, and 0 for the zero vector (e.g. A v = 0)."""
    norm = jnp.linalg.norm(vector)
    return jnp.where(norm > 0, vector / jnp.where(norm > 0, norm, 1.0), 0.0)


def _orthogonalize(vector: jax.Array, basis: jax.Array) -> jax.Array:
    """``v - B^T B v``, twice: one classical Gram-Schmidt pass loses orthogonality when
    ``v`` is nearly in the span, two are enough ("twice is enough", Kahan/Parlett)."""
    for _ in range(2):
        vector = vector - jnp.matmul(
            basis.T, jnp.matmul(basis, vector, precision=_HIGHEST), precision=_HIGHEST
        )
    return vector


def _apply(matvec: Callable, vector: jax.Array) -> jax.Array:
    """``A v`` in the dtype of ``v`` (a float32 model under x64 must not change the carry)."""
    return jnp.asarray(matvec(vector)).astype(vector.dtype)


# --------------------------------------------------------------------------- power iteration


@functools.partial(jax.jit, static_argnames=("dim", "num_eigenvalues", "num_iterations"))
def _power_iteration(matvec, dim, key, num_eigenvalues, num_iterations):
    starts = jax.random.normal(key, (num_eigenvalues, dim), jnp.result_type(float))

    def deflated(vector, eigenvalues, eigenvectors):
        # pairs not found yet are zero, so the fixed-size sum only removes the found ones
        projections = eigenvalues * jnp.matmul(eigenvectors, vector, precision=_HIGHEST)
        return _apply(matvec, vector) - jnp.matmul(eigenvectors.T, projections, precision=_HIGHEST)

    def find(index, found):
        eigenvalues, eigenvectors = found

        def iterate(_, state):
            vector, _ = state
            product = deflated(vector, eigenvalues, eigenvectors)
            return _normalize(product), jnp.vdot(vector, product, precision=_HIGHEST)

        state = (_normalize(starts[index]), jnp.zeros((), starts.dtype))
        vector, rayleigh = lax.fori_loop(0, num_iterations, iterate, state)
        return eigenvalues.at[index].set(rayleigh), eigenvectors.at[index].set(vector)

    found = (jnp.zeros(num_eigenvalues, starts.dtype), jnp.zeros_like(starts))
    return lax.fori_loop(0, num_eigenvalues, find, found)


def power_iteration(
    matvec: Callable, dim: int, key, num_eigenvalues: int = 1, num_iterations: int = 100
) -> tuple[jax.Array, jax.Array]:
    r"""The ``num_eigenvalues`` eigenpairs of ``A`` largest in magnitude, by power iteration.

    Each pair iterates :math:`v \leftarrow \tilde A v / \|\tilde A v\|` from a random
    Gaussian start on the deflated matrix

    .. math::  \tilde A v = A v - \sum_{j \text{ found}} \lambda_j u_j (u_j^\top v),

    which has the found eigenvectors in its null space, and reads the eigenvalue off the
    Rayleigh quotient :math:`\lambda = v^\top \tilde A v` of the last unit iterate
    (before its final multiplication, so each pair costs ``num_iterations`` matvecs). The error
    of the eigenvector shrinks like :math:`|\lambda_{next} / \lambda|^{t}`, so a small gap
    needs many iterations, and a pair :math:`\pm\lambda` of equal magnitude does not
    converge at all.

    Args:
      matvec: ``v -> A v`` for a symmetric ``A`` on ``(dim,)`` vectors.
      dim: the size of ``A``. key: a PRNG key for the start vectors.
      num_eigenvalues: how many pairs, in ``[1, dim]``. num_iterations: per pair, ``>= 1``.

    Returns:
      ``(eigenvalues (k,), eigenvectors (k, dim))`` in the order found: largest
      magnitude first; eigenvectors are unit rows, signs arbitrary.
    """
    dim = _check_operator(matvec, dim)
    key = _check_key(key)
    num_eigenvalues = _check_count("num_eigenvalues", num_eigenvalues, dim)
    num_iterations = validation.positive_int("num_iterations", num_iterations)
    return _power_iteration(_traceable(matvec), dim, key, num_eigenvalues, num_iterations)


# --------------------------------------------------------------------------- Lanczos


def _restart_vector(basis: jax.Array) -> jax.Array:
    """A unit vector orthogonal to the ``k`` filled rows of ``basis``, from the coordinate
    vector ``e_i`` the basis covers least: ``(B^T B)_ii`` has trace ``k``, so its smallest
    entry is ``<= k/dim`` and ``e_i`` keeps a part of norm^2 ``>= 1 - k/dim`` outside the
    span: never zero while ``k < dim``."""
    coverage = jnp.sum(basis**2, axis=0)
    coordinate = jax.nn.one_hot(jnp.argmin(coverage), basis.shape[1], dtype=basis.dtype)
    return _normalize(_orthogonalize(coordinate, basis))


def _lanczos_scan(matvec, start, num_steps):
    """Lanczos from the unit vector ``start``."""
    dtype = start.dtype
    tolerance = _BREAKDOWN_EPS_FACTOR * jnp.finfo(dtype).eps

    def step(carry, index):
        basis, vector, norm_estimate = carry
        # rows after `index` are still zero, so projecting on all rows masks them out
        basis = basis.at[index].set(vector)
        product = _apply(matvec, vector)
        alpha = jnp.vdot(vector, product, precision=_HIGHEST)
        # full reorthogonalisation also removes alpha b_i and beta b_{i-1} (three-term step)
        residual = _orthogonalize(product, basis)
        beta = jnp.linalg.norm(residual)
        # max_j ||A b_j|| <= ||A||: the scale against which the residual is judged
        norm_estimate = jnp.maximum(norm_estimate, jnp.linalg.norm(product))
        broke_down = beta <= tolerance * norm_estimate
        next_vector = lax.cond(
            broke_down,
            lambda: _restart_vector(basis),
            # guarded because under a vmap both branches run
            lambda: residual / jnp.where(broke_down, 1.0, beta),
        )
        carry = (basis, next_vector, norm_estimate)
        return carry, (alpha, jnp.where(broke_down, 0.0, beta))

    basis = jnp.zeros((num_steps,) + start.shape, dtype)
    carry = (basis, start, jnp.zeros((), dtype))
    (basis, _, _), (alphas, betas) = lax.scan(step, carry, jnp.arange(num_steps))
    return LanczosResult(alphas, betas[:-1], basis)


def _lanczos_from_key(matvec, dim, key, num_steps):
    """Lanczos from a unit Rademacher vector ``r / sqrt(dim)`` (``dim E[b_1 b_1^T] = I``)."""
    signs = jax.random.rademacher(key, (dim,), jnp.result_type(float))
    return _lanczos_scan(matvec, signs / math.sqrt(dim), num_steps)


_lanczos = jax.jit(_lanczos_from_key, static_argnames=("dim", "num_steps"))


def lanczos(matvec: Callable, dim: int, num_steps: int, key) -> LanczosResult:
    r"""``num_steps`` steps of Lanczos with full reorthogonalisation.

    From a random unit Rademacher vector :math:`b_1`, build an orthonormal basis of the
    Krylov space :math:`\mathrm{span}\{b_1, A b_1, \dots, A^{m-1} b_1\}` by

    .. math::  \beta_i b_{i+1} = A b_i - \alpha_i b_i - \beta_{i-1} b_{i-1},
               \qquad \alpha_i = b_i^\top A b_i,

    in which :math:`T = B A B^\top` is tridiagonal (:func:`tridiagonal`). In floating
    point the plain recurrence loses orthogonality as Ritz values converge, so every step
    Gram-Schmidts :math:`A b_i` against *all* previous :math:`b_j`, twice.

    Breakdown: if the residual is rounding noise, :math:`\beta_i \le 100\,\epsilon
    \max_{j \le i} \|A b_j\|`, the Krylov space is invariant, e.g. because ``num_steps``
    exceeds ``rank(A) + 1``. Then :math:`\beta_i` is set to 0 and the iteration restarts
    from the coordinate vector least covered by the basis, orthogonalised against it
    (never zero while ``i < dim``, see :func:`_restart_vector`). ``T`` becomes
    block-diagonal, one Lanczos block per invariant subspace (which stays invariant, ``A``
    being symmetric), so ``B`` stays orthonormal, :math:`T = B A B^\top` still holds, no
    NaN appears, and with ``num_steps = dim`` the Ritz values are exactly the eigenvalues.
    Later blocks have zero first components, so they get zero weight in
    :func:`spectral_density`.

    Args:
      matvec: ``v -> A v`` for a symmetric ``A`` on ``(dim,)`` vectors.
      dim: the size of ``A``. num_steps: in ``[1, dim]``. key: a PRNG key.
    """
    dim = _check_operator(matvec, dim)
    num_steps = _check_count("num_steps", num_steps, dim)
    return _lanczos(_traceable(matvec), dim, _check_key(key), num_steps)


def _check_result(result) -> LanczosResult:
    if not isinstance(result, LanczosResult):
        raise ValueError(f"result must be a LanczosResult from lanczos(), got {type(result)}")
    return result


def tridiagonal(result: LanczosResult) -> jax.Array:
    """The ``(num_steps, num_steps)`` Lanczos matrix ``T = B A B^T``."""
    alphas, betas, _ = _check_result(result)
    return jnp.diag(alphas) + jnp.diag(betas, 1) + jnp.diag(betas, -1)


def ritz_values(result: LanczosResult) -> jax.Array:
    """The eigenvalues of ``T``, ascending: estimates of ``A``'s, extreme ones first to converge."""
    return jnp.linalg.eigvalsh(tridiagonal(result))


def ritz_pairs(result: LanczosResult) -> tuple[jax.Array, jax.Array]:
    r"""Ritz values ascending and Ritz vectors :math:`x_j = B^\top s_j` as rows
    ``(num_steps, dim)``, where :math:`T s_j = \theta_j s_j`: approximate eigenpairs of
    ``A``, the extreme ones accurate first."""
    values, vectors = jnp.linalg.eigh(tridiagonal(result))
    return values, jnp.matmul(vectors.T, result.basis, precision=_HIGHEST)


# --------------------------------------------------------------------------- SLQ


@functools.partial(jax.jit, static_argnames=("dim", "num_steps", "num_probes"))
def _quadrature(matvec, dim, key, num_steps, num_probes):
    """Gauss quadrature nodes and weights of each probe's spectral measure."""

    def one_probe(probe_key):
        result = _lanczos_from_key(matvec, dim, probe_key, num_steps)
        values, vectors = jnp.linalg.eigh(tridiagonal(result))
        return values, vectors[0] ** 2

    # one probe at a time: a vmap would hold num_probes bases of num_steps x dim at once
    # and turn the breakdown branch into a select computed at every step
    return lax.map(one_probe, jax.random.split(key, num_probes))


@jax.jit
def _gaussian_mixture(grid, nodes, weights, sigma):
    """``mean_p sum_j w_pj N(grid; node_pj, sigma^2)``."""
    standardized = (grid[:, None, None] - nodes) / sigma
    bumps = jnp.exp(-0.5 * standardized**2) / (sigma * math.sqrt(2 * math.pi))
    return jnp.mean(jnp.sum(weights * bumps, axis=-1), axis=-1)


def _check_grid(grid) -> jax.Array:
    try:
        grid = jnp.asarray(grid, jnp.result_type(float))
    except (TypeError, ValueError):
        raise ValueError(f"grid must be a 1-D array of numbers, got {grid!r}") from None
    if grid.ndim != 1 or grid.size < 2:
        raise ValueError(f"grid must be a 1-D array of >= 2 points, got shape {grid.shape}")
    if not (jnp.all(jnp.isfinite(grid)) and jnp.all(jnp.diff(grid) > 0)):
        raise ValueError("grid must be finite and strictly increasing")
    return grid


def spectral_density(
    matvec: Callable,
    dim: int,
    key,
    num_steps: int = 80,
    num_probes: int = 1,
    grid=None,
    grid_size: int = 512,
    sigma=None,
) -> SpectralDensity:
    r"""The eigenvalue density of ``A`` by stochastic Lanczos quadrature (SLQ).

    The density :math:`\phi(t) = \frac1n \sum_i \delta(t - \lambda_i)` satisfies
    :math:`\int f\,d\phi = \frac1n \mathrm{tr} f(A) = E_v[v^\top f(A) v]` for unit
    Rademacher probes :math:`v = r/\sqrt{n}`. For each probe, ``num_steps`` Lanczos steps
    from :math:`v` give the Gauss quadrature

    .. math::  v^\top f(A) v \approx \sum_j w_j f(\theta_j), \qquad
               \theta_j = \text{eigenvalues of } T,\ w_j = s_{1j}^2,

    exact for polynomials of degree :math:`< 2m` (:math:`s_{1j}`: first components of
    the eigenvectors of ``T``). Replacing each node by a Gaussian and averaging over
    probes gives the smoothed density

    .. math::  \hat\phi(t) = \frac{1}{P} \sum_{p} \sum_j w^{(p)}_j\,
               \mathcal N(t;\, \theta^{(p)}_j, \sigma^2).

    Args:
      matvec: ``v -> A v`` for a symmetric ``A`` on ``(dim,)`` vectors.
      dim: the size of ``A``. key: a PRNG key; probe ``p`` runs
        ``lanczos(matvec, dim, num_steps, jax.random.split(key, num_probes)[p])``.
      num_steps: Lanczos steps per probe, in ``[1, dim]``. num_probes: ``>= 1``.
      grid: where to evaluate the density (1-D, increasing); by default ``grid_size``
        points from the smallest node ``- 5 sigma`` to the largest ``+ 5 sigma``, so the
        density integrates to 1 over it.
      grid_size: ``>= 2``, used when ``grid`` is None.
      sigma: the Gaussian width ``> 0``; by default 1% of the node range
        ``max(nodes) - min(nodes)``, the range taken at least ``0.01 max |node|`` (and 1
        if all nodes are 0), so one repeated eigenvalue still gives a visible bump. A large
        outlier eigenvalue widens the range and so blurs the bulk. Nodes of zero weight
        (from restarts after a breakdown) count in the range too.
    """
    dim = _check_operator(matvec, dim)
    key = _check_key(key)
    num_steps = _check_count("num_steps", num_steps, dim)
    num_probes = validation.positive_int("num_probes", num_probes)
    grid_size = validation.positive_int("grid_size", grid_size, minimum=2)
    if sigma is not None:
        sigma = validation.positive("sigma", sigma)
    if grid is not None:
        grid = _check_grid(grid)

    nodes, weights = _quadrature(_traceable(matvec), dim, key, num_steps, num_probes)

    if sigma is None:
        low, high = float(jnp.min(nodes)), float(jnp.max(nodes))
        # a cluster tighter than 1% of its size (e.g. A = c I, whose nodes differ by
        # rounding only) is widened to that, so the grid stays resolvable in float32
        scale = max(high - low, _SIGMA_FRACTION * max(abs(low), abs(high))) or 1.0
        sigma = _SIGMA_FRACTION * scale
    if grid is None:
        margin = _GRID_MARGIN_SIGMAS * sigma
        grid = jnp.linspace(jnp.min(nodes) - margin, jnp.max(nodes) + margin, grid_size)
    return SpectralDensity(nodes, weights, grid, _gaussian_mixture(grid, nodes, weights, sigma))


# --------------------------------------------------------------------------- Hutchinson


@functools.partial(jax.jit, static_argnames=("dim", "num_samples"))
def _probe_products(matvec, dim, key, num_samples):
    """``v * (A v)`` for ``num_samples`` Rademacher probes ``v`` (rows), all at once."""
    probes = jax.random.rademacher(key, (num_samples, dim), jnp.result_type(float))
    return probes * jax.vmap(lambda probe: _apply(matvec, probe))(probes)


def _mean_and_standard_error(samples: jax.Array) -> tuple[jax.Array, jax.Array]:
    count = samples.shape[0]
    return jnp.mean(samples, axis=0), jnp.std(samples, axis=0, ddof=1) / math.sqrt(count)


def _checked_probe_products(matvec, dim, key, num_samples) -> jax.Array:
    dim = _check_operator(matvec, dim)
    key = _check_key(key)
    num_samples = validation.positive_int("num_samples", num_samples, minimum=2)
    return _probe_products(_traceable(matvec), dim, key, num_samples)


def hutchinson_trace(
    matvec: Callable, dim: int, key, num_samples: int = 100
) -> tuple[jax.Array, jax.Array]:
    r"""Hutchinson's estimate of :math:`\mathrm{tr} A` and its standard error.

    For Rademacher :math:`v` (entries :math:`\pm 1`), :math:`E[v v^\top] = I`, so
    :math:`E[v^\top A v] = \mathrm{tr} A`; the estimate is the mean over ``num_samples``
    probes, the standard error ``std / sqrt(num_samples)``. The variance,
    :math:`2 \sum_{i \ne j} A_{ij}^2`, is the smallest of all probe distributions with
    that mean. All probes run at once under ``vmap`` (memory: ``num_samples`` matvecs).

    Args:
      matvec: ``v -> A v`` on ``(dim,)`` vectors. dim: ``>= 1``. key: a PRNG key.
      num_samples: ``>= 2`` (a standard error needs two).
    """
    products = _checked_probe_products(matvec, dim, key, num_samples)
    return _mean_and_standard_error(jnp.sum(products, axis=1))


def hutchinson_diagonal(
    matvec: Callable, dim: int, key, num_samples: int = 100
) -> tuple[jax.Array, jax.Array]:
    r"""Estimate of :math:`\mathrm{diag} A` and the standard error of each entry.

    :math:`E[v \odot A v]_i = \sum_j A_{ij} E[v_i v_j] = A_{ii}` for Rademacher
    :math:`v`. The error of entry ``i`` comes only from the off-diagonal
    :math:`\sum_{j \ne i} A_{ij} v_i v_j`, so a diagonal ``A`` is recovered exactly.

    Args: as :func:`hutchinson_trace`.

    Returns:
      ``(estimate (dim,), standard_error (dim,))``.
    """
    return _mean_and_standard_error(_checked_probe_products(matvec, dim, key, num_samples))


# --------------------------------------------------------------------------- conditioning


def condition_number(eigenvalues_or_matrix) -> float:
    r""":math:`\kappa = \max_i |\lambda_i| / \min_i |\lambda_i|`, ``inf`` if some
    :math:`\lambda_i = 0`.

    Accepts a 1-D array of eigenvalues or a dense symmetric matrix (then its eigenvalues
    are computed). For a positive definite matrix this is the usual condition number;
    for an indefinite one (a Hessian at a saddle) it is the ratio of the absolute values,
    the condition number of the linear system :math:`A x = b`.
    """
    values = np.asarray(eigenvalues_or_matrix, np.float64)
    if values.ndim == 2:
        if values.shape[0] != values.shape[1]:
            raise ValueError(
                f"eigenvalues_or_matrix must be 1-D or a square matrix, got shape {values.shape}"
            )
        if not np.allclose(values, values.T, rtol=1e-5, atol=1e-8):
            raise ValueError("eigenvalues_or_matrix must be a symmetric matrix")
    elif values.ndim != 1:
        raise ValueError(
            f"eigenvalues_or_matrix must be 1-D or a square matrix, got shape {values.shape}"
        )
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("eigenvalues_or_matrix must be non-empty and finite")
    if values.ndim == 2:
        values = np.linalg.eigvalsh(values)
    magnitudes = np.abs(values)
    if magnitudes.min() == 0:
        return math.inf
    return float(magnitudes.max() / magnitudes.min())
