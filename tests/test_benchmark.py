"""lecture_lib.benchmark: analysis helpers against brute-force oracles, argument checks,
and the regeneration of the stored results by benchmarks/optimizer_benchmark.py."""

import importlib.util
import itertools
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lecture_lib import benchmark

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _script():
    spec = importlib.util.spec_from_file_location(
        "optimizer_benchmark", ROOT / "benchmarks" / "optimizer_benchmark.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- analysis


@pytest.mark.parametrize("n", [1, 4, 7])
def test_expected_best_of_k_is_the_mean_over_all_subsets(n):
    rng = np.random.default_rng(n)
    losses = rng.exponential(size=n)
    losses[rng.integers(n)] = losses[0]  # a tie
    for k in range(1, n + 1):
        brute = np.mean([min(c) for c in itertools.combinations(losses, k)])
        assert benchmark.expected_best_of_k(losses, k) == pytest.approx(brute, rel=1e-12)


def test_expected_best_of_k_with_diverged_trials():
    losses = [np.inf, 2.0, np.inf, 1.0]
    # k = 1: a diverged trial is drawn with probability 1/2, so the expectation is inf
    assert benchmark.expected_best_of_k(losses, 1) == math.inf
    # k = 3: every 3-subset holds a finite trial
    brute = np.mean([min(c) for c in itertools.combinations(losses, 3)])
    assert benchmark.expected_best_of_k(losses, 3) == pytest.approx(brute)
    assert benchmark.expected_best_of_k(losses, 4) == 1.0


def test_budget_curve_never_increases():
    curve = benchmark.budget_curve(np.random.default_rng(3).exponential(size=9))
    assert np.all(np.diff(curve) <= 1e-12)


def test_average_ranks_on_a_hand_made_table():
    table = np.array(
        [
            [1.0, 2.0, 3.0],  # ranks 1, 2, 3
            [5.0, 5.0, np.inf],  # ties share 1.5; diverged ranks last
            [np.nan, 0.5, 0.1],  # the first did not run: ranks among two
        ]
    )
    np.testing.assert_allclose(
        benchmark.average_ranks(table), [(1 + 1.5) / 2, (2 + 1.5 + 2) / 3, (3 + 3 + 1) / 3]
    )


def test_tuned_picks_the_least_loss_and_handles_all_diverged():
    assert benchmark.tuned([0.1, 1.0, 10.0], [3.0, 1.0, np.inf]) == (1.0, 1.0)
    rate, loss = benchmark.tuned([0.1, 1.0], [np.inf, np.nan])
    assert math.isnan(rate) and loss == math.inf


def test_seed_mean_and_tuned_table_on_hand_made_rows():
    def row(o, r, s, loss):
        return {"problem": "p", "optimizer": o, "rate": r, "seed": s, "batch_size": None,
                "final_loss": loss, "best_loss": loss, "loss_at_examples": None}  # fmt: skip

    rows = [row("a", 0.1, 0, 1.0), row("a", 0.1, 1, 3.0), row("a", 1.0, 0, 0.5)]
    rows += [row("a", 1.0, 1, np.inf), row("b", 0.1, 0, 4.0)]
    means = benchmark.seed_mean(rows)
    np.testing.assert_allclose(means[("p", "a")][1], [2.0, np.inf])
    losses, rates = benchmark.tuned_table(rows, ["p"], ["a", "b", "c"])
    np.testing.assert_allclose(losses, [[2.0, 4.0, np.nan]])
    np.testing.assert_allclose(rates, [[0.1, 0.1, np.nan]])


def test_good_rate_count():
    # start 10, tuned 0: good means <= 1
    assert benchmark.good_rate_count([0.0, 0.5, 1.0, 2.0, np.inf], initial_loss=10.0) == 3


def test_rows_round_trip_through_csv(tmp_path):
    rows = [
        benchmark._row("p", "GD", 0.1, 0, None, 5, np.array([2.0, 1.0, 0.5]), 0.0),
        benchmark._row("p", "GD", 10.0, 1, 32, 5, np.array([2.0, np.inf, np.nan]), 0.0, math.inf),
    ]
    benchmark.save_rows(tmp_path / "rows.csv", rows)
    loaded = benchmark.load_rows(tmp_path / "rows.csv")
    assert loaded[0]["final_loss"] == 0.5 and loaded[0]["best_loss"] == 0.5
    assert not loaded[0]["diverged"] and loaded[0]["batch_size"] is None
    assert loaded[1]["diverged"] and loaded[1]["final_loss"] == math.inf
    assert loaded[1]["best_loss"] == 2.0 and loaded[1]["loss_at_examples"] == math.inf
    assert loaded[1]["batch_size"] == 32


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: benchmark.expected_best_of_k([1.0, 2.0], 3), "k must be an integer in"),
        (lambda: benchmark.expected_best_of_k([1.0, 2.0], 0), "k must be an integer"),
        (lambda: benchmark.expected_best_of_k([], 1), "losses must be a non-empty"),
        (lambda: benchmark.expected_best_of_k(3.0, 1), "losses must be a non-empty 1-D"),
        (lambda: benchmark.average_ranks([1.0, 2.0]), "table must be a non-empty 2-D"),
        (lambda: benchmark.tuned([1.0], [1.0, 2.0]), "rates and losses must be 1-D"),
        (lambda: benchmark.run_suite(["cubic"]), "problem_names must be a non-empty subset"),
        (lambda: benchmark.run_suite(None, ["SGD"]), "optimizer_names must be a non-empty"),
        (lambda: benchmark.run_suite(grid=[0.1, -1.0]), r"grid\[1\] must be in \(0, inf\)"),
        (lambda: benchmark.run_suite(seeds=[]), "seeds must be a non-empty"),
        (lambda: benchmark.run_suite(seeds=[-1]), r"seeds\[0\] must be an integer >= 0"),
        (lambda: benchmark.run_suite(steps=301), "steps must be a multiple of record_every"),
        (lambda: benchmark.run_batch_size_study(batch_sizes=[8, 5000]), r"batch_sizes\[1\]"),
        (lambda: benchmark.seed_mean([], key="loss"), "key must be"),
        (lambda: benchmark.good_rate_count([1.0], 2.0, tolerance=0), "tolerance must be"),
    ],
)
def test_arguments_are_checked_before_any_work(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- stored results


def test_stored_results_cover_every_pair_the_notebook_uses():
    rows = benchmark.load_rows(RESULTS / "suite.csv")
    results = benchmark.load_json(RESULTS / "suite.json")
    computed = {(r["problem"], r["optimizer"]) for r in rows}
    meta = results["metadata"]
    for problem in benchmark.suite():
        for optimizer in benchmark.OPTIMIZERS:
            pair = f"{problem}/{optimizer}"
            if (problem, optimizer) in computed:
                assert pair in results["tuned"], pair
                assert results["tuned"][pair]["seconds_per_step"] > 0
                trials = {
                    (r["rate"], r["seed"])
                    for r in rows
                    if (r["problem"], r["optimizer"]) == (problem, optimizer)
                }
                assert len(trials) == len(meta["grid"]) * len(meta["seeds"])
            else:
                assert pair in results["skipped"], f"{pair} neither computed nor skipped"
    # every first-order method runs on every problem
    for problem in benchmark.suite():
        for optimizer in benchmark.FIRST_ORDER:
            assert (problem, optimizer) in computed
    assert meta["grid"] == pytest.approx(list(benchmark.TRIAL_GRID))
    assert meta["steps"] == benchmark.STEPS and meta["seeds"] == list(benchmark.SEEDS)
    batch_rows = benchmark.load_rows(RESULTS / "batch_size.csv")
    sizes = {r["batch_size"] for r in batch_rows}
    assert sizes == set(benchmark.BATCH_STUDY_SIZES)
    assert {r["optimizer"] for r in batch_rows} == set(benchmark.BATCH_STUDY_OPTIMIZERS)


def test_stored_results_are_small():
    total = sum(p.stat().st_size for p in RESULTS.iterdir())
    assert total < 300_000


def test_the_script_regenerates_the_stored_rows(tmp_path):
    """The reduced run computes its runs as the full run did: its rows equal the stored ones."""
    script = _script()
    assert script.main(["--reduced", "--out", str(tmp_path)]) == 0
    regenerated = benchmark.load_rows(tmp_path / "suite.csv")
    stored = {
        (r["problem"], r["optimizer"], r["rate"], r["seed"]): r
        for r in benchmark.load_rows(RESULTS / "suite.csv")
    }
    assert len(regenerated) > 100
    for row in regenerated:
        key = (row["problem"], row["optimizer"], row["rate"], row["seed"])
        assert key in stored, key
        old = stored[key]
        assert row["diverged"] == old["diverged"], key
        for field in ("final_loss", "best_loss"):
            # relative 1e-3 absorbs float differences across CPUs; 1e-9 absolute, the
            # round-off around a minimum of 0
            assert row[field] == pytest.approx(old[field], rel=1e-3, abs=1e-9), (key, field)


def test_format_table_shows_every_entry_and_marks_missing_and_diverged():
    losses = np.array([[0.5, np.nan], [np.inf, 1e-3]])  # (problems, optimizers)
    rates = np.array([[0.1, np.nan], [1.0, 0.01]])
    table = benchmark.format_table(losses, rates, ["quadratic", "logistic regression"], ["a", "b"])
    header, rule, row_a, row_b = table.splitlines()
    assert "logistic regression" in header and set(rule) == {"-"}
    assert row_a.split() == ["a", "5.00e-01", "@1e-01", "diverged"]
    assert row_b.split() == ["b", "n/a", "1.00e-03", "@1e-02"]


def test_budget_bars_mark_infinite_expectations_and_the_explorer_builds():
    rows = [
        {
            "problem": "quadratic",
            "optimizer": o,
            "rate": r,
            "seed": 0,
            "batch_size": None,
            "final_loss": loss,
            "best_loss": loss,
            "diverged": not np.isfinite(loss),
            "steps": 10,
            "loss_at_examples": None,
        }
        for o, losses in (("GD", [1.0, math.inf]), ("Adam", [0.5, 0.1]))
        for r, loss in zip((0.1, 1.0), losses, strict=True)
    ]
    ax = benchmark.plot_budget_bars(rows, "quadratic", 1)
    heights = [patch.get_height() for patch in ax.patches]
    assert heights[0] == pytest.approx(0.3)  # Adam: (0.5 + 0.1) / 2
    assert [t.get_text() for t in ax.texts] == ["inf"]  # GD: one of its two trials diverged
    both = benchmark.plot_budget_bars(rows, "quadratic", 2)  # GD's best of both trials: 1.0
    assert [patch.get_height() for patch in both.patches] == pytest.approx([1.0, 0.1])
    with pytest.raises(ValueError, match="problem"):
        benchmark.plot_budget_bars(rows, "Rosenbrock", 1)
    with pytest.raises(ValueError, match="k"):
        benchmark.plot_budget_bars(rows, "quadratic", 0)
    explorer = benchmark.budget_explorer(rows)
    assert len(explorer.children) == 3  # two controls and the output
    plt.close("all")
