"""The optimizer benchmark of lecture 11 (after Schmidt, Schneider and Hennig 2020).

Every optimizer of the course runs on five problems (ill-conditioned quadratic,
Rosenbrock, logistic regression and an MLP on the digits, the noisy quadratic model),
tuned over one log grid of 11 trials (1e-4 ... 10, learning rates; the initial damping
for damped Newton) with 3 seeds and 300 steps each; then the MLP is tuned again at batch
sizes 8, 32, 128 and the full batch for GD, momentum and Adam. Writes, under ``--out``:

- ``suite.csv``: one row per (problem, optimizer, trial, seed): final and best loss
  (minus h* where known), diverged flag;
- ``batch_size.csv``: the same for the batch-size study, with the loss after the same
  number of examples;
- ``suite.json``: the tuned runs' loss curves, seconds per step, skipped pairs with
  their reasons, and the metadata (grid, seeds, steps, versions, date, command).

The notebook ``notebooks/11_benchmark.ipynb`` only loads these files;
``tests/test_benchmark.py`` regenerates part of them and compares.

    .venv/bin/python benchmarks/optimizer_benchmark.py [--reduced] [--out DIR]

``--reduced`` computes a subset (``REDUCED_PARTS``: a few problems, optimizers and
seeds, no batch study, no timing) with the same grid and steps, each of its runs
computed as in the full run, so its rows equal the full run's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lecture_lib import benchmark

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
# The reduced run: (problems, optimizers, seeds) parts. First-order sweeps keep every
# seed (one vmap over rates and seeds, the shape of the full run's); second-order runs
# are one per seed anyway, so one seed of them is still computed as in the full run.
REDUCED_PARTS = (
    (("quadratic", "Rosenbrock", "logistic regression"), ("GD", "Adam", "Rprop", "Nero"), None),
    (("Rosenbrock",), ("damped Newton",), (0,)),
)


def compute(reduced: bool = False, log=print) -> tuple[list[dict], list[dict], dict]:
    """(suite rows, batch-size rows, suite results) of the full or the reduced run."""
    if reduced:
        rows, results = [], {"tuned": {}, "skipped": {}}
        for problem_names, optimizer_names, seeds in REDUCED_PARTS:
            part_rows, part = benchmark.run_suite(
                problem_names,
                optimizer_names,
                seeds=benchmark.SEEDS if seeds is None else seeds,
                timing=False,
                log=log,
            )
            rows += part_rows
            results["record_steps"] = part["record_steps"]
            results["tuned"].update(part["tuned"])
            results["skipped"].update(part["skipped"])
        return rows, [], results
    rows, results = benchmark.run_suite(log=log)
    return rows, benchmark.run_batch_size_study(log=log), results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="a small subset (for tests)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows, batch_rows, results = compute(args.reduced)
    seconds = time.perf_counter() - started
    command = "python benchmarks/optimizer_benchmark.py" + (" --reduced" if args.reduced else "")
    results["metadata"] = benchmark.metadata(command, wall_seconds=round(seconds, 1))
    benchmark.save_rows(args.out / "suite.csv", rows)
    if batch_rows:
        benchmark.save_rows(args.out / "batch_size.csv", batch_rows)
    benchmark.save_json(args.out / "suite.json", results)
    print(f"wrote {args.out} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
