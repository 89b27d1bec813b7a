"""What curvature costs: products against a gradient, and the Hessian spectrum of a big MLP.

Three measurements, each in one process:

1. Products. On the digits MLP (64-32-10, tanh) and a minibatch, the median time of
   a jitted ``hvp``, ``ggn_vp``, ``fisher_vp`` and ``empirical_fisher_vp`` over the
   median time of one jitted gradient, timed interleaved (``--repeats`` rounds,
   alternating the order) after a warm-up compile. Target: <= 3x each.
2. Spectrum at scale. ``spectral_density`` of the Hessian of an MLP with >= 100k
   parameters on the full digits training set with 80 Lanczos steps: wall time
   (compile included, as a student would see it) and the process's peak memory.
   Target: under 30 s on a 2-core CPU.
3. Accuracy. On a ~5k-parameter MLP, the top Hessian eigenvalue from Lanczos and from
   power iteration against ``numpy.linalg.eigvalsh`` of the dense Hessian, built in
   float64 column by column from Hessian-vector products. Target: relative error < 1e-3.

    .venv/bin/python benchmarks/curvature_cost.py [--repeats 21] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from lecture_lib import curvature, problems


def seconds(function, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(function(*args))
    return time.perf_counter() - start


def product_costs(batch_size: int, repeats: int) -> dict[str, float]:
    """Median time of each product over the median time of one gradient, same batch."""
    problem = problems.mlp(hidden_sizes=(32,), activation="tanh")
    params = problem.init(jax.random.PRNGKey(0))
    x, y = problem.data
    batch = (x[:batch_size], y[:batch_size])
    vector = jax.tree_util.tree_map(jnp.ones_like, params)
    functions = {
        "gradient": jax.jit(lambda p, v: jax.grad(problem.loss)(p, batch)),
        "hvp": jax.jit(lambda p, v: curvature.hvp(problem, p, batch, v)),
        "ggn_vp": jax.jit(lambda p, v: curvature.ggn_vp(problem, p, batch, v)),
        "fisher_vp": jax.jit(lambda p, v: curvature.fisher_vp(problem, p, batch, v)),
        "empirical_fisher_vp": jax.jit(
            lambda p, v: curvature.empirical_fisher_vp(problem, p, batch, v)
        ),
    }
    times = {name: [] for name in functions}
    for function in functions.values():
        seconds(function, params, vector)  # compile
    order = list(functions.items())
    for repeat in range(repeats):
        for name, function in order if repeat % 2 == 0 else order[::-1]:
            # Each sample is 20 calls, so a sample is well above timer resolution.
            start = time.perf_counter()
            for _ in range(20):
                result = function(params, vector)
            jax.block_until_ready(result)
            times[name].append((time.perf_counter() - start) / 20)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"gradient [ms]": 1e3 * medians["gradient"]} | {
        name: medians[name] / medians["gradient"] for name in functions if name != "gradient"
    }


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spectrum_at_scale(hidden_sizes: tuple[int, ...], num_steps: int) -> dict[str, float]:
    problem = problems.mlp(hidden_sizes=hidden_sizes, activation="tanh")
    params = problem.init(jax.random.PRNGKey(0))
    dim = curvature.flatten(params)[0].size
    matvec = jax.jit(curvature.flat_matvec(problem, params, problem.data, "hessian"))
    memory_before = peak_memory_mib()
    start = time.perf_counter()
    density = curvature.spectral_density(matvec, dim, jax.random.PRNGKey(1), num_steps=num_steps)
    jax.block_until_ready(density.density)
    elapsed = time.perf_counter() - start
    return {
        "parameters": dim,
        "Lanczos steps": num_steps,
        "seconds": elapsed,
        "peak RSS [MiB]": peak_memory_mib(),
        "peak RSS before [MiB]": memory_before,
        "top node": float(jnp.max(density.nodes)),
    }


def top_eigenvalue_accuracy(hidden_sizes: tuple[int, ...], num_steps: int) -> dict[str, float]:
    problem = problems.mlp(hidden_sizes=hidden_sizes, activation="tanh")
    params = problem.init(jax.random.PRNGKey(0))
    # Train a little so the spectrum has its outliers, as in the lecture.
    gradient = jax.jit(jax.grad(problem.loss))
    for _ in range(100):
        params = jax.tree_util.tree_map(
            lambda p, g: p - 0.5 * g, params, gradient(params, problem.data)
        )
    dim = curvature.flatten(params)[0].size
    matvec = jax.jit(curvature.flat_matvec(problem, params, problem.data, "hessian"))
    with jax.enable_x64(True):
        params64 = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params)
        x, y = problem.data
        matvec64 = jax.jit(
            curvature.flat_matvec(problem, params64, (jnp.asarray(x, jnp.float64), y), "hessian")
        )
        columns = jax.lax.map(matvec64, jnp.eye(dim, dtype=jnp.float64), batch_size=128)
        dense = np.asarray(columns)
    exact = np.linalg.eigvalsh((dense + dense.T) / 2)
    top = exact[np.argmax(np.abs(exact))]
    result = curvature.lanczos(matvec, dim, num_steps, jax.random.PRNGKey(2))
    ritz = np.asarray(curvature.spectrum.ritz_values(result))
    lanczos_top = ritz[np.argmax(np.abs(ritz))]
    power_top = float(curvature.power_iteration(matvec, dim, jax.random.PRNGKey(3))[0][0])
    return {
        "parameters": dim,
        "eigvalsh top": float(top),
        "Lanczos top": float(lanczos_top),
        "Lanczos relative error": abs(lanczos_top - top) / abs(top),
        "power iteration top": power_top,
        "power relative error": abs(power_top - top) / abs(top),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lanczos-steps", type=int, default=80)
    args = parser.parse_args()
    if args.repeats < 5 or args.batch_size < 1 or args.lanczos_steps < 2:
        parser.error("--repeats must be >= 5, --batch-size >= 1, --lanczos-steps >= 2")
    print(f"jax {jax.__version__}, device {jax.devices()[0].platform}\n")

    print(f"1. products / one gradient, digits MLP 64-32-10, batch {args.batch_size}")
    for name, value in product_costs(args.batch_size, args.repeats).items():
        print(f"   {name:<22} {value:8.3f}")

    print(f"\n2. spectral_density of the Hessian, {args.lanczos_steps} Lanczos steps, full batch")
    for name, value in spectrum_at_scale((384, 256), args.lanczos_steps).items():
        print(f"   {name:<22} {value:12.4g}")

    print("\n3. top Hessian eigenvalue against dense eigvalsh (float64 dense Hessian)")
    for name, value in top_eigenvalue_accuracy((72,), args.lanczos_steps).items():
        print(f"   {name:<22} {value:12.6g}")


if __name__ == "__main__":
    main()
