"""Checks for ``exercises/11_benchmark.ipynb`` (lecture 11: benchmarking optimizers).

The references are written here by brute force (every subset of trials, every pair of
optimizers), so none shares code with ``lecture_lib.benchmark`` or with a student's
answer. Each case lists what common slips return, so a wrong answer gets a hint about
the slip it most likely is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from lecture_lib.checks.core import check_expected, passed, task_rng

_RNG_SEED = 1111


# --------------------------------------------------------------------------- best of k


def _best_of_k_brute_force(losses: np.ndarray, k: int) -> float:
    return float(np.mean([min(subset) for subset in itertools.combinations(losses, k)]))


def check_expected_best_of_k(expected_best_of_k: Callable) -> bool:
    """``expected_best_of_k(losses, k)``: the mean best loss of k trials drawn without
    replacement from the grid's losses."""
    task = "expected_best_of_k"
    hint = (
        "sort the losses, l_(1) <= ... <= l_(n); the best of k is l_(i) with probability "
        "C(n - i, k - 1) / C(n, k) (math.comb); sum l_(i) times that probability"
    )
    rng = task_rng(_RNG_SEED, 1)
    raw = [
        ("losses [3, 1, 2], k = 1 (one trial: the plain mean)", np.array([3.0, 1.0, 2.0]), 1),
        ("losses [3, 1, 2], k = 2", np.array([3.0, 1.0, 2.0]), 2),
        (
            "losses [4, 1, 3, 2], k = 4 (every trial: the minimum)",
            np.array([4.0, 1.0, 3.0, 2.0]),
            4,
        ),
        ("losses with a tie [1, 1, 5, 2, 8], k = 3", np.array([1.0, 1.0, 5.0, 2.0, 8.0]), 3),
    ]
    for index, (n, k) in enumerate([(7, 2), (9, 4)]):
        raw.append(
            (f"random losses, n = {n}, k = {k} (draw {index + 1})", rng.exponential(size=n), k)
        )
    cases = []
    for case, losses, k in raw:
        n = losses.size
        ordered = np.sort(losses)
        mistakes = [
            (float(ordered[0]), "that is the best over the whole grid; k < n trials may miss it"),
            (
                float(ordered[: n - k + 1].mean()),
                "weight each l_(i) by its probability, not evenly",
            ),
            (float(ordered[:k].mean()), "the best of k is one loss, the least of the k drawn"),
            (
                float(ordered[-k]),
                "the order statistics run from the least loss upwards: sort ascending",
            ),
        ]
        if k < n:
            with_replacement = float(
                sum(ordered[i] * (((n - i) / n) ** k - ((n - i - 1) / n) ** k) for i in range(n))
            )
            mistakes.append(
                (with_replacement, "draw the k trials *without* replacement: C(n-i, k-1)/C(n, k)")
            )
        cases.append((case, (losses.copy(), k), _best_of_k_brute_force(losses, k), mistakes))
    return passed(task, check_expected(task, expected_best_of_k, cases, hint, rtol=1e-6, atol=1e-9))


# --------------------------------------------------------------------------- ranks


def _ranks_brute_force(table: np.ndarray) -> np.ndarray:
    num_problems, num_optimizers = table.shape
    sums, counts = np.zeros(num_optimizers), np.zeros(num_optimizers)
    for i in range(num_problems):
        for j in range(num_optimizers):
            if np.isnan(table[i, j]):
                continue
            rank = 1.0
            for other in range(num_optimizers):
                if other == j or np.isnan(table[i, other]):
                    continue
                if table[i, other] < table[i, j]:
                    rank += 1.0
                elif table[i, other] == table[i, j]:
                    rank += 0.5  # a tie shares the two ranks
            sums[j] += rank
            counts[j] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _column_means(table: np.ndarray) -> np.ndarray:
    """Each column's mean finite loss (NaN for none): what averaging losses gives."""
    finite = np.isfinite(table)
    sums = np.where(finite, table, 0.0).sum(axis=0)
    counts = finite.sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def check_average_ranks(average_ranks: Callable) -> bool:
    """``average_ranks(table) -> (optimizers,)``: mean rank of each column over the rows."""
    task = "average_ranks"
    hint = (
        "in each row rank the entries that are not NaN: 1 + (number strictly smaller) + "
        "(number of ties - 1) / 2; then average each column's ranks over the rows where it ran"
    )
    rng = task_rng(_RNG_SEED, 2)
    raw = [
        ("one problem: [[0.3, 0.1, 0.2]]", np.array([[0.3, 0.1, 0.2]])),
        ("two problems, no ties: [[1, 2], [4, 3]]", np.array([[1.0, 2.0], [4.0, 3.0]])),
        ("a tie and a divergence: [[1, 1, inf]]", np.array([[1.0, 1.0, np.inf]])),
        (
            "a pair that did not run (NaN): [[1, 2, 3], [nan, 5, 4]]",
            np.array([[1.0, 2.0, 3.0], [np.nan, 5.0, 4.0]]),
        ),
    ]
    table = rng.exponential(size=(5, 6))
    table[1, 2] = np.inf
    table[3, 0] = np.nan
    raw.append(("random 5 problems x 6 optimizers with a divergence and a gap", table))
    cases = []
    for case, t in raw:
        filled = np.where(np.isnan(t), np.inf, t)
        mistakes = [
            (_ranks_brute_force(-t), "rank 1 is the *least* loss: sort ascending"),
            (_ranks_brute_force(filled), "leave NaN (did not run) out of the row's ranking"),
            (_column_means(t), "average the ranks, not the losses"),
        ]
        cases.append((case, (t.copy(),), _ranks_brute_force(t), mistakes))
    return passed(task, check_expected(task, average_ranks, cases, hint, rtol=1e-9, atol=1e-9))


# --------------------------------------------------------------------------- tuned rate


def _tuned_rate(rates: np.ndarray, losses: np.ndarray) -> float:
    best_rate, best_mean = np.nan, np.inf
    for rate, per_seed in zip(rates, losses, strict=True):
        if not np.all(np.isfinite(per_seed)):
            continue  # a trial that diverged for some seed is not a tuning result
        mean = float(np.mean(per_seed))
        if mean < best_mean:
            best_rate, best_mean = float(rate), mean
    return best_rate


def check_tuned_rate(tuned_rate: Callable) -> bool:
    """``tuned_rate(rates, losses) -> rate``: the rate with the least mean final loss over
    seeds, where a rate that diverged (NaN or inf) for any seed cannot win."""
    task = "tuned_rate"
    hint = (
        "average each rate's losses over the seeds (axis 1), count a rate with any NaN or "
        "inf as inf, and return the rate at the least mean"
    )
    rng = task_rng(_RNG_SEED, 3)
    rates = np.logspace(-3, 0, 4)
    raw = [
        (
            "rates 1e-3..1, no divergence",
            np.array([[4.0, 4.2], [1.0, 1.2], [0.5, 0.7], [2.0, 2.1]]),
        ),
        (
            "the best single run belongs to a rate whose other seed diverged",
            np.array([[4.0, 4.2], [1.0, 1.2], [0.1, np.nan], [np.inf, np.inf]]),
        ),
        (
            "the best mean needs both seeds: seed 0 alone prefers another rate",
            np.array([[4.0, 4.0], [0.9, 0.2], [0.8, 0.9], [np.inf, 3.0]]),
        ),
    ]
    random_losses = rng.exponential(size=(4, 3))
    random_losses[0, 1] = np.inf
    raw.append(("random losses of 3 seeds, one divergence", random_losses))
    cases = []
    for case, losses in raw:
        finite = np.isfinite(losses).all(axis=1)
        best_single_run = np.nanargmin(np.where(np.isinf(losses), np.nan, losses))
        mistakes = [
            (
                float(rates[best_single_run // losses.shape[1]]),
                "compare the mean over seeds, not the best single run; no diverged rate may win",
            ),
            (float(rates[np.argmin(losses[:, 0])]), "average over all seeds, not the first one"),
            (
                float(np.argmin(np.where(finite, losses.mean(axis=1), np.inf))),
                "return the rate, not its index",
            ),
        ]
        cases.append((case, (rates.copy(), losses.copy()), _tuned_rate(rates, losses), mistakes))
    return passed(task, check_expected(task, tuned_rate, cases, hint, rtol=1e-9, atol=0.0))
