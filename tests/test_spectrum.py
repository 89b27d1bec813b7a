"""lecture_lib.spectrum against dense oracles: numpy's eigvalsh, trace and diag of the
same matrices, and the dense Hessian of a tiny MLP.

Each compile costs about a second, so the matrices and their matvecs are built once per
module and shared: a test that repeats a (matvec, sizes) pair reuses the compiled code.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from lecture_lib import spectrum

DIM = 30
KEY = jax.random.key(0)


def matrix_with_spectrum(eigenvalues, seed=0) -> np.ndarray:
    """Q diag(eigenvalues) Q^T with Q orthogonal, from the QR of a seeded Gaussian."""
    eigenvalues = np.asarray(eigenvalues, np.float64)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(eigenvalues.size, eigenvalues.size)))
    return (q * eigenvalues) @ q.T


def gap_eigenvalues() -> np.ndarray:
    """10, 7, 5 well above a bulk in [-2, 2]: power iteration and Lanczos converge fast."""
    bulk = np.random.default_rng(1).uniform(-2.0, 2.0, DIM - 3)
    return np.concatenate([[10.0, 7.0, 5.0], bulk])


@functools.cache
def operator(name: str):
    """(dense matrix, matvec) built once, so every test reuses the same compiled code."""
    if name == "gap":
        matrix = matrix_with_spectrum(gap_eigenvalues())
    elif name == "rank3":
        matrix = matrix_with_spectrum(np.r_[1.0, 2.0, 3.0, np.zeros(DIM - 3)], seed=2)
    elif name == "clusters":
        rng = np.random.default_rng(3)
        centers = np.repeat([-3.0, 1.0, 6.0], 20)
        matrix = matrix_with_spectrum(centers + rng.uniform(-0.01, 0.01, centers.size), seed=3)
    elif name == "diagonal":
        matrix = np.diag(np.random.default_rng(4).normal(size=DIM))
    else:
        raise KeyError(name)
    return matrix, lambda vector: matrix @ vector


@functools.cache
def mlp_hessian():
    """Flat parameters (121), the dense Hessian of a 3-24-1 tanh MLP's loss, and its HVP."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(32, 3))
    targets = np.sin(inputs.sum(axis=1))
    params = {
        "w1": rng.normal(size=(3, 24)) / np.sqrt(3),
        "b1": 0.1 * rng.normal(size=24),
        "w2": rng.normal(size=(24, 1)) / np.sqrt(24),
        "b2": np.zeros(1),
    }
    flat, unravel = ravel_pytree(params)

    def loss(flat_params):
        p = unravel(flat_params)
        predictions = (jnp.tanh(inputs @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"])[:, 0]
        return 0.5 * jnp.mean((predictions - targets) ** 2)

    def hvp(vector):
        return jax.jvp(jax.grad(loss), (flat,), (vector,))[1]

    return flat.size, np.asarray(jax.jit(jax.hessian(loss))(flat)), hvp


def assert_orthonormal_rows(basis, atol):
    np.testing.assert_allclose(basis @ basis.T, np.eye(basis.shape[0]), atol=atol)


# --------------------------------------------------------------------------- power iteration


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("num_eigenvalues", [1, 3])
def test_power_iteration_finds_the_top_eigenpairs(num_eigenvalues):
    matrix, matvec = operator("gap")
    exact_values, exact_vectors = np.linalg.eigh(matrix)
    top = np.argsort(-np.abs(exact_values))[:num_eigenvalues]
    values, vectors = spectrum.power_iteration(matvec, DIM, KEY, num_eigenvalues, 200)
    assert values.shape == (num_eigenvalues,) and vectors.shape == (num_eigenvalues, DIM)
    np.testing.assert_allclose(values, exact_values[top], rtol=1e-6)
    # eigenvectors are defined up to sign
    overlaps = np.abs(np.sum(np.asarray(vectors) * exact_vectors[:, top].T, axis=1))
    np.testing.assert_allclose(overlaps, 1.0, atol=1e-6)


@pytest.mark.usefixtures("x64")
def test_power_iteration_past_the_rank_finds_zeros_without_nan():
    _, matvec = operator("rank3")
    values, vectors = spectrum.power_iteration(matvec, DIM, KEY, 5, 200)
    np.testing.assert_allclose(values[:3], [3.0, 2.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(values[3:], 0.0, atol=1e-8)
    assert np.all(np.isfinite(vectors))


# --------------------------------------------------------------------------- Lanczos


@pytest.mark.usefixtures("x64")
def test_lanczos_with_dim_steps_recovers_the_whole_spectrum():
    matrix, matvec = operator("gap")
    result = spectrum.lanczos(matvec, DIM, DIM, KEY)
    basis = np.asarray(result.basis)
    assert result.alphas.shape == (DIM,) and result.betas.shape == (DIM - 1,)
    assert_orthonormal_rows(basis, atol=1e-8)
    np.testing.assert_allclose(spectrum.ritz_values(result), np.linalg.eigvalsh(matrix), atol=1e-8)
    np.testing.assert_allclose(spectrum.tridiagonal(result), basis @ matrix @ basis.T, atol=1e-10)


@pytest.mark.usefixtures("x64")
def test_lanczos_extreme_ritz_values_converge_first():
    matrix, matvec = operator("gap")
    result = spectrum.lanczos(matvec, DIM, 12, KEY)
    basis = np.asarray(result.basis)
    assert_orthonormal_rows(basis, atol=1e-8)
    np.testing.assert_allclose(spectrum.tridiagonal(result), basis @ matrix @ basis.T, atol=1e-10)
    assert float(spectrum.ritz_values(result)[-1]) == pytest.approx(10.0, rel=1e-6)
    values, vectors = spectrum.ritz_pairs(result)
    np.testing.assert_allclose(matrix @ vectors[-1], values[-1] * vectors[-1], atol=1e-6)


@pytest.mark.usefixtures("x64")
def test_lanczos_is_gauss_quadrature_of_the_start_vector():
    """sum_j w_j theta_j^p = b_1^T A^p b_1 for every degree p < 2 num_steps."""
    matrix, matvec = operator("gap")
    num_steps = 12
    result = spectrum.lanczos(matvec, DIM, num_steps, KEY)
    nodes, vectors = np.linalg.eigh(np.asarray(spectrum.tridiagonal(result)))
    weights = vectors[0] ** 2
    start = np.asarray(result.basis[0])
    assert np.all(np.abs(start) == pytest.approx(1 / math.sqrt(DIM)))  # Rademacher
    for power in range(2 * num_steps):
        exact = start @ np.linalg.matrix_power(matrix, power) @ start
        scale = 10.0**power  # ||A||^p: the sum has cancellations for odd p
        assert np.sum(weights * nodes**power) == pytest.approx(exact, abs=1e-10 * scale)


def test_lanczos_past_the_rank_breaks_down_without_nan():
    """In float32, the default, where the breakdown is hardest to tell from rounding."""
    matrix, matvec = operator("rank3")
    result = spectrum.lanczos(matvec, DIM, 10, KEY)
    ritz = np.asarray(spectrum.ritz_values(result), np.float64)
    basis = np.asarray(result.basis, np.float64)
    assert np.all(np.isfinite(ritz)) and np.all(np.isfinite(basis))
    assert_orthonormal_rows(basis, atol=1e-5)
    # the Krylov space of a rank-3 matrix has dimension 4; every later step restarts
    np.testing.assert_array_equal(result.betas[3:], 0.0)
    np.testing.assert_allclose(ritz[-3:], [1.0, 2.0, 3.0], atol=1e-5)
    np.testing.assert_allclose(ritz[:-3], 0.0, atol=1e-5)
    tridiagonal = np.asarray(spectrum.tridiagonal(result), np.float64)
    np.testing.assert_allclose(tridiagonal, basis @ matrix @ basis.T, atol=1e-5)


# --------------------------------------------------------------------------- SLQ


def cluster_density(**overrides):
    """One SLQ configuration shared by the density tests (compiled once)."""
    _, matvec = operator("clusters")
    arguments = dict(num_steps=12, num_probes=50) | overrides
    return spectrum.spectral_density(matvec, 60, KEY, **arguments)


@pytest.mark.usefixtures("x64")
def test_slq_weights_are_probabilities_and_the_density_integrates_to_one():
    result = cluster_density()
    assert result.nodes.shape == result.weights.shape == (50, 12)
    assert result.grid.shape == result.density.shape == (512,)
    np.testing.assert_allclose(result.weights.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(result.weights >= 0) and np.all(result.density >= 0)
    assert np.trapezoid(result.density, result.grid) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.usefixtures("x64")
def test_slq_nodes_and_weights_are_each_probes_lanczos_quadrature():
    _, matvec = operator("clusters")
    result = cluster_density()
    probe = 7
    lanczos = spectrum.lanczos(matvec, 60, 12, jax.random.split(KEY, 50)[probe])
    nodes, vectors = np.linalg.eigh(np.asarray(spectrum.tridiagonal(lanczos)))
    np.testing.assert_allclose(result.nodes[probe], nodes, atol=1e-10)
    np.testing.assert_allclose(result.weights[probe], vectors[0] ** 2, atol=1e-10)


@pytest.mark.usefixtures("x64")
def test_slq_is_unbiased_for_the_trace_of_a_square():
    """Each probe's quadrature of x^2 is v^T A^2 v, an unbiased estimate of tr(A^2)/dim."""
    matrix, _ = operator("clusters")
    result = cluster_density()
    nodes, weights = np.asarray(result.nodes), np.asarray(result.weights)
    per_probe = np.sum(weights * nodes**2, axis=1)
    standard_error = per_probe.std(ddof=1) / math.sqrt(per_probe.size)
    exact = np.trace(matrix @ matrix) / 60
    assert abs(per_probe.mean() - exact) < 4 * standard_error


@pytest.mark.usefixtures("x64")
def test_slq_density_peaks_at_the_eigenvalue_clusters():
    result = cluster_density()
    grid, density = np.asarray(result.grid), np.asarray(result.density)
    for center in (-3.0, 1.0, 6.0):
        window = np.abs(grid - center) < 1.0
        peak = grid[window][np.argmax(density[window])]
        assert peak == pytest.approx(center, abs=0.05)
        # each cluster holds a third of the eigenvalues
        assert np.trapezoid(density[window], grid[window]) == pytest.approx(1 / 3, abs=0.05)
    for gap in (-1.0, 3.5):
        assert density[np.argmin(np.abs(grid - gap))] < 1e-6 * density.max()


@pytest.mark.usefixtures("x64")
def test_slq_on_a_given_grid_with_a_given_sigma():
    grid = np.linspace(-10.0, 15.0, 1001)
    result = cluster_density(grid=grid, sigma=0.5)
    np.testing.assert_allclose(result.grid, grid)
    assert np.trapezoid(result.density, grid) == pytest.approx(1.0, abs=1e-6)
    # a point mass at node t would give N(t; t, sigma^2); the peaks are at most that
    assert result.density.max() <= 1 / (0.5 * math.sqrt(2 * math.pi))


def test_slq_of_a_multiple_of_the_identity_is_one_bump():
    """In float32 the nodes of 2 I differ by rounding only; the default sigma still
    resolves them into one bump of mass 1 at 2 (and the breakdown at step 1 is harmless)."""
    result = spectrum.spectral_density(lambda vector: 2.0 * vector, 10, KEY, num_steps=4)
    grid, density = np.asarray(result.grid, np.float64), np.asarray(result.density, np.float64)
    np.testing.assert_allclose(result.nodes, 2.0, rtol=1e-5)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)
    assert grid[np.argmax(density)] == pytest.approx(2.0, rel=1e-4)


# --------------------------------------------------------------------------- Hutchinson


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hutchinson_trace_is_within_its_standard_error(seed):
    matrix, matvec = operator("gap")
    estimate, standard_error = spectrum.hutchinson_trace(matvec, DIM, jax.random.key(seed))
    # Var[v^T A v] = 2 sum_{i != j} A_ij^2 for Rademacher v
    variance = 2 * (np.sum(matrix**2) - np.sum(np.diag(matrix) ** 2))
    assert float(standard_error) == pytest.approx(math.sqrt(variance / 100), rel=0.3)
    assert abs(float(estimate) - np.trace(matrix)) < 4 * float(standard_error)


@pytest.mark.usefixtures("x64")
def test_hutchinson_diagonal_is_within_its_standard_errors():
    matrix, matvec = operator("gap")
    estimate, standard_error = spectrum.hutchinson_diagonal(matvec, DIM, KEY)
    inside = np.abs(np.asarray(estimate) - np.diag(matrix)) < 4 * np.asarray(standard_error)
    assert inside.mean() >= 0.9


@pytest.mark.usefixtures("x64")
def test_hutchinson_is_exact_for_a_diagonal_matrix():
    """v * (D v) = d * v^2 = d for every Rademacher v: no variance at all."""
    matrix, matvec = operator("diagonal")
    estimate, standard_error = spectrum.hutchinson_diagonal(matvec, DIM, KEY, num_samples=5)
    np.testing.assert_allclose(estimate, np.diag(matrix), rtol=1e-14)
    np.testing.assert_allclose(standard_error, 0.0, atol=1e-14)


# --------------------------------------------------------------------------- the MLP Hessian


@pytest.mark.usefixtures("x64")
def test_mlp_hessian_extreme_eigenvalues_by_power_iteration_and_lanczos():
    dim, hessian, hvp = mlp_hessian()
    exact = np.linalg.eigvalsh(hessian)
    assert exact[0] < 0 < exact[-1] and exact[-1] > abs(exact[0])  # indefinite, top > bottom
    top, _ = spectrum.power_iteration(hvp, dim, KEY, num_iterations=200)
    assert float(top[0]) == pytest.approx(exact[-1], rel=1e-4)
    ritz = spectrum.ritz_values(spectrum.lanczos(hvp, dim, 40, KEY))
    assert float(ritz[-1]) == pytest.approx(exact[-1], rel=1e-4)
    assert float(ritz[0]) == pytest.approx(exact[0], rel=1e-4)


# --------------------------------------------------------------------------- conditioning


def test_condition_number_matches_eigvalsh():
    matrix = matrix_with_spectrum([0.5, 2.0, -4.0, 8.0])
    eigenvalues = np.linalg.eigvalsh(matrix)
    expected = np.abs(eigenvalues).max() / np.abs(eigenvalues).min()
    assert spectrum.condition_number(matrix) == pytest.approx(expected, rel=1e-12)
    assert spectrum.condition_number(jnp.asarray(eigenvalues)) == pytest.approx(16.0, rel=1e-12)
    assert isinstance(spectrum.condition_number(eigenvalues), float)


def test_condition_number_of_a_singular_matrix_is_infinite():
    assert spectrum.condition_number(np.diag([1.0, 0.0, 2.0])) == math.inf
    assert spectrum.condition_number([0.0, 3.0]) == math.inf


# --------------------------------------------------------------------------- bad input


def identity(vector):
    return vector


BAD_CALLS = [
    (spectrum.power_iteration, dict(dim=0), "dim"),
    (spectrum.power_iteration, dict(dim=2.5), "dim"),
    (spectrum.power_iteration, dict(matvec="A"), "matvec"),
    (spectrum.power_iteration, dict(matvec=lambda v: v[:-1]), "matvec"),
    (spectrum.power_iteration, dict(matvec=lambda v: v @ jnp.ones((3, 3))), "matvec"),
    (spectrum.power_iteration, dict(matvec=lambda v: v > 0), "matvec"),
    (spectrum.power_iteration, dict(key=0), "key"),
    (spectrum.power_iteration, dict(num_eigenvalues=0), "num_eigenvalues"),
    (spectrum.power_iteration, dict(num_eigenvalues=5), "num_eigenvalues"),
    (spectrum.power_iteration, dict(num_iterations=0), "num_iterations"),
    (spectrum.lanczos, dict(num_steps=0), "num_steps"),
    (spectrum.lanczos, dict(num_steps=5), "num_steps"),
    (spectrum.lanczos, dict(dim=-1), "dim"),
    (spectrum.lanczos, dict(matvec=None), "matvec"),
    (spectrum.lanczos, dict(key=jax.random.split(KEY, 2)), "key"),
    (spectrum.spectral_density, dict(num_steps=5), "num_steps"),
    (spectrum.spectral_density, dict(num_probes=0), "num_probes"),
    (spectrum.spectral_density, dict(grid_size=1), "grid_size"),
    (spectrum.spectral_density, dict(sigma=0.0), "sigma"),
    (spectrum.spectral_density, dict(sigma=float("nan")), "sigma"),
    (spectrum.spectral_density, dict(grid=[0.0]), "grid"),
    (spectrum.spectral_density, dict(grid=np.zeros((2, 2))), "grid"),
    (spectrum.spectral_density, dict(grid=[1.0, 0.0]), "grid"),
    (spectrum.spectral_density, dict(grid=["a", "b"]), "grid"),
    (spectrum.spectral_density, dict(matvec=lambda v: 2), "matvec"),
    (spectrum.hutchinson_trace, dict(num_samples=1), "num_samples"),
    (spectrum.hutchinson_trace, dict(dim=True), "dim"),
    (spectrum.hutchinson_diagonal, dict(num_samples=1), "num_samples"),
    (spectrum.hutchinson_diagonal, dict(key="key"), "key"),
]


@pytest.mark.parametrize(
    ("function", "override", "name"), BAD_CALLS, ids=[f"{f.__name__}-{n}" for f, _, n in BAD_CALLS]
)
def test_bad_arguments_are_named(function, override, name):
    arguments = dict(matvec=identity, dim=4, key=KEY)
    if function in (spectrum.lanczos, spectrum.spectral_density):
        arguments["num_steps"] = 2
    arguments |= override
    with pytest.raises(ValueError, match=name):
        function(**arguments)


@pytest.mark.parametrize(
    "value",
    [np.ones((2, 3)), np.array([[1.0, 2.0], [0.0, 1.0]]), np.ones((2, 2, 2)), [], [1.0, np.nan]],
)
def test_condition_number_rejects_bad_input(value):
    with pytest.raises(ValueError, match="eigenvalues_or_matrix"):
        spectrum.condition_number(value)


@pytest.mark.parametrize("function", [spectrum.tridiagonal, spectrum.ritz_values])
def test_lanczos_helpers_need_a_lanczos_result(function):
    with pytest.raises(ValueError, match="result"):
        function((jnp.ones(3), jnp.ones(2)))
