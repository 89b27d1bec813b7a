"""Lecture 11, the optimizer benchmark (after Schmidt, Schneider and Hennig 2020,
"Descending through a Crowded Valley").

Every optimizer of the course runs on a small suite of problems, each tuned with the
same budget of trials on one log grid (learning rates for first-order methods, the
learning rate or the damping for second-order ones), over several seeds.

- the suite: :func:`suite` (the problems with their batch sizes and known minima),
  :data:`FIRST_ORDER` and :data:`SECOND_ORDER` (the optimizers), :data:`TRIAL_GRID`.
- the runs: :func:`run_suite` and :func:`run_batch_size_study` compute the rows that
  ``benchmarks/optimizer_benchmark.py`` stores; first-order sweeps reuse
  :func:`lecture_lib.stochastic.run_many` (one compiled ``vmap`` over rates and seeds),
  second-order methods go through :func:`lecture_lib.run.run` one run at a time.
- the analysis, pure numpy on loaded results: :func:`seed_mean`, :func:`tuned`,
  :func:`tuned_table`, :func:`average_ranks`, :func:`expected_best_of_k`,
  :func:`good_rate_count`.
- storage: :func:`save_rows`/:func:`load_rows` (CSV), :func:`save_json`/:func:`load_json`.
- figures: :func:`plot_heatmap`, :func:`plot_curves`, :func:`plot_sensitivity`,
  :func:`plot_budget`, :func:`plot_batch_sizes`.

The metric is the final full-batch training loss minus the known minimum h* where it is
known (quadratic, Rosenbrock, noisy quadratic), the plain loss otherwise. A run whose
loss turns NaN or inf is *diverged*: its final loss is recorded as inf, so it never wins
a tuning and is never drawn.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from lecture_lib import optim, problems, stochastic, validation
from lecture_lib.run import run

# One log grid for every method: half-decade steps from 1e-4 to 10 (11 trials).
TRIAL_GRID = tuple(float(r) for r in np.logspace(-4, 1, 11))
SEEDS = (0, 1, 2)
STEPS = 300
RECORD_EVERY = 10
# Losses below this count as solved: the heat map and logs floor them here.
LOSS_FLOOR = 1e-12

# The batch-size study: one problem, three optimizers, these batch sizes (None = full batch).
BATCH_STUDY_PROBLEM = "MLP"
BATCH_STUDY_OPTIMIZERS = ("GD", "momentum", "Adam")
BATCH_STUDY_SIZES = (8, 32, 128, None)
# "The same number of examples": what the smallest batch sees in STEPS steps.
BATCH_STUDY_EXAMPLES = 8 * STEPS

# The suite's problems, in the order of tables and figures (see :func:`suite`).
PROBLEM_NAMES = ("quadratic", "Rosenbrock", "logistic regression", "MLP", "noisy quadratic")

ROW_FIELDS = (
    "problem",
    "optimizer",
    "rate",
    "seed",
    "batch_size",
    "steps",
    "final_loss",
    "best_loss",
    "diverged",
    "loss_at_examples",
)


@dataclasses.dataclass(frozen=True)
class SuiteProblem:
    """A problem of the suite and how it is run.

    Attributes:
      problem: the objective. batch_size: examples per step (None: full batch).
      offset: the known minimum h* subtracted from every loss (0 when unknown).
      seed_free: the runs do not depend on the seed (a fixed start, full batches, and
        methods that sample nothing): a second-order method then runs once per trial
        and its run stands for every seed.
    """

    problem: problems.Problem
    batch_size: int | None
    offset: float
    seed_free: bool = False


def suite() -> dict[str, SuiteProblem]:
    """The five problems: ill-conditioned quadratic, Rosenbrock, logistic regression and an
    MLP on the digits, the noisy quadratic model (the last two with minibatches of 32)."""
    quadratic = problems.quadratic(
        condition_number=100.0, dim=20, rotation_key=jax.random.PRNGKey(11)
    )
    rosenbrock = problems.rosenbrock()
    noisy = problems.noisy_quadratic(dim=100)
    built = {
        "quadratic": SuiteProblem(quadratic, None, 0.0, seed_free=True),
        "Rosenbrock": SuiteProblem(rosenbrock, None, 0.0, seed_free=True),
        "logistic regression": SuiteProblem(problems.logistic_regression(), None, 0.0),
        "MLP": SuiteProblem(problems.mlp((32,)), 32, 0.0),
        "noisy quadratic": SuiteProblem(noisy, 32, float(noisy.optimal_loss)),
    }
    return {name: built[name] for name in PROBLEM_NAMES}


# {name: make_optimizer(learning_rate)}: the rate arrives as a schedule k -> rate.
FIRST_ORDER: dict[str, Callable] = {
    "GD": lambda lr: optim.gd(lr),
    "momentum": lambda lr: optim.momentum(lr, beta=0.9),
    "Nesterov": lambda lr: optim.nesterov(lr, beta=0.9),
    "Adagrad": lambda lr: optim.adagrad(lr),
    "RMSprop": lambda lr: optim.rmsprop(lr),
    # Adadelta's rule has no step length; its tunable is the factor alpha on its step.
    "Adadelta": lambda lr: optim.adadelta(learning_rate=lr),
    "Adam": lambda lr: optim.adam(lr),
    "signSGD": lambda lr: optim.sign_sgd(lr),
    "Rprop": lambda lr: optim.rprop(lr),
    "Nero": lambda lr: optim.nero(lr),
}


def _needs_predict(name: str, sp: SuiteProblem, what: str) -> str | None:
    if sp.problem.predict is None:
        return f"needs a model and an output loss for {what}; {name} has none"
    return None


def _damped_newton_skip(name: str, sp: SuiteProblem) -> str | None:
    size = problems.num_parameters(sp.problem.init(jax.random.PRNGKey(0)))
    if size > 200:
        return f"a dense {size} x {size} Hessian every step is too costly for the benchmark"
    return None


def _natural_gradient_skip(name: str, sp: SuiteProblem) -> str | None:
    reason = _needs_predict(name, sp, "the Fisher")
    if reason:
        return reason
    size = problems.num_parameters(sp.problem.init(jax.random.PRNGKey(0)))
    if size > 200:
        return f"a dense {size} x {size} Fisher every step is too costly (K-FAC approximates it)"
    return None


def _kfac_skip(name: str, sp: SuiteProblem) -> str | None:
    if name != "MLP":
        return "K-FAC factors the layers of an MLP; this problem has no layers"
    return None


@dataclasses.dataclass(frozen=True)
class SecondOrder:
    """A second-order method: ``make(problem, trial)``, what ``trial`` sets, and
    ``skip(name, suite_problem) -> reason`` (None where it applies)."""

    make: Callable
    tunes: str
    skip: Callable[[str, SuiteProblem], str | None]


SECOND_ORDER: dict[str, SecondOrder] = {
    "damped Newton": SecondOrder(
        lambda problem, trial: optim.damped_newton(problem, damping=trial),
        "initial damping lambda_0 (adapted by the Levenberg-Marquardt rule)",
        _damped_newton_skip,
    ),
    "natural gradient": SecondOrder(
        lambda problem, trial: optim.natural_gradient(problem, 1e-3, learning_rate=trial),
        "learning rate (damping fixed at 1e-3)",
        _natural_gradient_skip,
    ),
    "K-FAC": SecondOrder(
        lambda problem, trial: optim.kfac(problem, learning_rate=trial),
        "learning rate (damping adapted)",
        _kfac_skip,
    ),
}

OPTIMIZERS = (*FIRST_ORDER, *SECOND_ORDER)
# One colour per optimizer, the same in every figure.
COLORS = {
    **{name: plt.get_cmap("tab10")(index) for index, name in enumerate(FIRST_ORDER)},
    **dict(zip(SECOND_ORDER, ("black", "0.55", "darkgoldenrod"), strict=True)),
}


# --------------------------------------------------------------------------- checks


def _check_names(name: str, chosen, valid: Sequence[str]) -> tuple[str, ...]:
    if chosen is None:
        return tuple(valid)
    chosen = tuple(chosen)
    unknown = [c for c in chosen if c not in valid]
    if not chosen or unknown:
        raise ValueError(f"{name} must be a non-empty subset of {list(valid)}, got {list(chosen)}")
    return chosen


def _check_grid(name: str, grid) -> tuple[float, ...]:
    values = np.asarray(grid, np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {values.shape}")
    return tuple(validation.positive(f"{name}[{i}]", v) for i, v in enumerate(values))


def _check_seeds(seeds) -> tuple[int, ...]:
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds must be a non-empty sequence of integers >= 0, got none")
    return tuple(validation.positive_int(f"seeds[{i}]", s, minimum=0) for i, s in enumerate(seeds))


# --------------------------------------------------------------------------- runs


def _records(loss: np.ndarray, offset: float) -> tuple[float, float, bool]:
    """(final, best, diverged) of one recorded curve; a diverged run's final loss is inf."""
    loss = np.asarray(loss, np.float64) - offset
    finite = np.isfinite(loss)
    diverged = not bool(finite.all())
    best = float(loss[finite].min()) if finite.any() else math.inf
    final = math.inf if diverged else float(loss[-1])
    return final, best, diverged


def _row(problem, optimizer, rate, seed, batch_size, steps, curve, offset, at_examples=None):
    final, best, diverged = _records(curve, offset)
    return {
        "problem": problem,
        "optimizer": optimizer,
        "rate": float(rate),
        "seed": int(seed),
        "batch_size": batch_size,
        "steps": int(steps),
        "final_loss": final,
        "best_loss": best,
        "diverged": diverged,
        "loss_at_examples": at_examples,
    }


def _keys(seeds) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(s) for s in seeds])


def _padded(loss: np.ndarray, steps: int, record_every: int) -> np.ndarray:
    """A trajectory of ``run`` at the records 0, r, 2r, ...; inf after a divergence."""
    curve = np.full(steps // record_every + 1, np.inf)
    recorded = np.asarray(loss, np.float64)[::record_every]
    curve[: recorded.size] = recorded
    return curve


def first_order_curves(
    optimizer: str, sp: SuiteProblem, grid, seeds, steps: int, record_every: int
) -> np.ndarray:
    """Loss curves ``(rates, seeds, records)`` of a first-order method (via ``run_many``)."""
    sweep = stochastic.run_many(
        FIRST_ORDER[optimizer],
        sp.problem,
        steps,
        _keys(seeds),
        grid,
        sp.batch_size,
        record_every=record_every,
    )
    return sweep.loss


def second_order_curves(
    optimizer: str, sp: SuiteProblem, grid, seeds, steps: int, record_every: int
) -> np.ndarray:
    """Loss curves ``(trials, seeds, records)`` of a second-order method (via ``run``)."""
    method = SECOND_ORDER[optimizer]
    curves = np.empty((len(grid), len(seeds), steps // record_every + 1))
    for i, trial in enumerate(grid):
        for j, seed in enumerate(seeds):
            if sp.seed_free and j > 0:
                curves[i, j] = curves[i, 0]  # the same run: no need to compile it again
                continue
            trajectory = run(
                method.make(sp.problem, trial),
                sp.problem,
                steps,
                jax.random.PRNGKey(seed),
                sp.batch_size,
            )
            curves[i, j] = _padded(trajectory.loss, steps, record_every)
    return curves


def skip_reason(optimizer: str, name: str, sp: SuiteProblem) -> str | None:
    """Why ``optimizer`` does not run on problem ``name`` (None: it runs)."""
    if optimizer in SECOND_ORDER:
        return SECOND_ORDER[optimizer].skip(name, sp)
    return None


def seconds_per_step(
    optimizer: str, sp: SuiteProblem, trial: float, steps: int, seed: int = 0
) -> float:
    """Wall-clock seconds per step at ``trial``, from ``run``'s timing of its compiled scan."""
    if optimizer in SECOND_ORDER:
        method = SECOND_ORDER[optimizer].make(sp.problem, trial)
    else:
        method = FIRST_ORDER[optimizer](lambda count: trial)
    trajectory = run(method, sp.problem, steps, jax.random.PRNGKey(seed), sp.batch_size)
    return float(trajectory.seconds) / steps


def run_suite(
    problem_names=None,
    optimizer_names=None,
    *,
    grid=TRIAL_GRID,
    seeds=SEEDS,
    steps: int = STEPS,
    record_every: int = RECORD_EVERY,
    timing: bool = True,
    log: Callable[[str], None] | None = None,
) -> tuple[list[dict], dict]:
    """Run every chosen (problem, optimizer) on every grid value and seed.

    Args:
      problem_names, optimizer_names: subsets of ``suite()`` and :data:`OPTIMIZERS`
        (None: all). A subset computes each of its runs exactly as the full benchmark.
      grid: trial values (> 0): learning rates, or a second-order method's damping.
      seeds: integers >= 0; seed s runs with ``PRNGKey(s)`` (initialisation, minibatches).
      steps: steps per run, a multiple of ``record_every``.
      timing: also time the tuned run of each pair (seconds per step).
      log: called with a line of progress per pair.

    Returns:
      ``(rows, results)``: one row per (problem, optimizer, trial, seed) (see
      :data:`ROW_FIELDS`), and a dict with, per ``"problem/optimizer"``, the tuned trial,
      its loss curves (one per seed), its seconds per step, and the skipped pairs
      with their reasons.
    """
    problem_names = _check_names("problem_names", problem_names, PROBLEM_NAMES)
    optimizer_names = _check_names("optimizer_names", optimizer_names, OPTIMIZERS)
    grid = _check_grid("grid", grid)
    seeds = _check_seeds(seeds)
    steps, record_every = validation.steps_and_record_every(steps, record_every)
    problems_all = suite()  # built after the checks: it loads the digits
    rows, tuned_runs, skipped = [], {}, {}
    for name in problem_names:
        sp = problems_all[name]
        for optimizer in optimizer_names:
            reason = skip_reason(optimizer, name, sp)
            if reason:
                skipped[f"{name}/{optimizer}"] = reason
                continue
            compute = second_order_curves if optimizer in SECOND_ORDER else first_order_curves
            started = time.perf_counter()
            curves = compute(optimizer, sp, grid, seeds, steps, record_every)
            pair_seconds = time.perf_counter() - started
            pair_rows = [
                _row(name, optimizer, r, s, sp.batch_size, steps, curves[i, j], sp.offset)
                for i, r in enumerate(grid)
                for j, s in enumerate(seeds)
            ]
            rows += pair_rows
            finals = np.array([row["final_loss"] for row in pair_rows]).reshape(len(grid), -1)
            best = int(np.argmin(finals.mean(axis=1)))
            entry = {
                "trial": grid[best],
                "curves": [_json_curve(c - sp.offset) for c in curves[best]],
            }
            if timing:
                entry["seconds_per_step"] = seconds_per_step(optimizer, sp, grid[best], steps)
            tuned_runs[f"{name}/{optimizer}"] = entry
            if log:
                log(
                    f"{name:20s} {optimizer:17s} tuned {grid[best]:.3g}: "
                    f"{finals[best].mean():.4g}  ({pair_seconds:.1f} s)"
                )
    results = {
        "record_steps": list(range(0, steps + 1, record_every)),
        "tuned": tuned_runs,
        "skipped": skipped,
    }
    return rows, results


def run_batch_size_study(
    optimizer_names=BATCH_STUDY_OPTIMIZERS,
    batch_sizes=BATCH_STUDY_SIZES,
    *,
    grid=TRIAL_GRID,
    seeds=SEEDS,
    steps: int = STEPS,
    examples: int = BATCH_STUDY_EXAMPLES,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """The MLP tuned at several batch sizes: rows with the final loss after ``steps`` steps
    and ``loss_at_examples``, the loss once ``examples`` examples have been seen (at step
    ``round(examples / batch_size)``; the full batch counts as m examples per step)."""
    optimizer_names = _check_names("optimizer_names", optimizer_names, tuple(FIRST_ORDER))
    grid = _check_grid("grid", grid)
    seeds = _check_seeds(seeds)
    steps = validation.positive_int("steps", steps)
    examples = validation.positive_int("examples", examples)
    sp = suite()[BATCH_STUDY_PROBLEM]
    num_examples = sp.problem.num_examples
    sizes = []
    for i, b in enumerate(batch_sizes):
        if b is not None:
            validation.positive_int(f"batch_sizes[{i}]", b)
            if b > num_examples:
                raise ValueError(f"batch_sizes[{i}] must be in [1, {num_examples}], got {b}")
        sizes.append(b)
    rows = []
    for optimizer in optimizer_names:
        for b in sizes:
            started = time.perf_counter()
            sweep = stochastic.run_many(
                FIRST_ORDER[optimizer], sp.problem, steps, _keys(seeds), grid, b
            )
            at_step = min(steps, max(1, round(examples / (b or num_examples))))
            for i, r in enumerate(grid):
                for j, s in enumerate(seeds):
                    curve = sweep.loss[i, j]
                    at = (
                        float(curve[at_step])
                        if np.isfinite(curve[: at_step + 1]).all()
                        else math.inf
                    )
                    rows.append(
                        _row(BATCH_STUDY_PROBLEM, optimizer, r, s, b, steps, curve, 0.0, at)
                    )
            if log:
                log(f"batch study {optimizer:10s} batch {b}: {time.perf_counter() - started:.1f} s")
    return rows


def _json_curve(curve) -> list:
    """A curve for JSON: 6 significant digits, None for inf/NaN (JSON has neither)."""
    return [float(f"{v:.6g}") if np.isfinite(v) else None for v in np.asarray(curve, np.float64)]


def metadata(command: str, **extra) -> dict:
    """What made the results: versions, date, grid, seeds, steps, the command."""
    return {
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "jax_version": jax.__version__,
        "numpy_version": np.__version__,
        "grid": list(TRIAL_GRID),
        "seeds": list(SEEDS),
        "steps": STEPS,
        "record_every": RECORD_EVERY,
        "batch_study": {
            "problem": BATCH_STUDY_PROBLEM,
            "optimizers": list(BATCH_STUDY_OPTIMIZERS),
            "batch_sizes": list(BATCH_STUDY_SIZES),
            "examples": BATCH_STUDY_EXAMPLES,
        },
        "problems": {
            name: {"name": sp.problem.name, "batch_size": sp.batch_size, "offset": sp.offset}
            for name, sp in suite().items()
        },
        "second_order_tunes": {name: m.tunes for name, m in SECOND_ORDER.items()},
        **extra,
    }


# --------------------------------------------------------------------------- storage


def save_rows(path, rows: Sequence[Mapping]) -> None:
    """Write rows as CSV (6 significant digits; inf for diverged; empty for None)."""

    def cell(value):
        if value is None:
            return ""
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, float):
            return f"{value:.6g}"
        return value

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=ROW_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({field: cell(row.get(field)) for field in ROW_FIELDS})


def load_rows(path) -> list[dict]:
    """Rows of a CSV written by :func:`save_rows`, with numbers, bools and None restored."""
    rows = []
    with Path(path).open(newline="") as file:
        for raw in csv.DictReader(file):
            rows.append(
                {
                    "problem": raw["problem"],
                    "optimizer": raw["optimizer"],
                    "rate": float(raw["rate"]),
                    "seed": int(raw["seed"]),
                    "batch_size": int(raw["batch_size"]) if raw["batch_size"] else None,
                    "steps": int(raw["steps"]),
                    "final_loss": float(raw["final_loss"]),
                    "best_loss": float(raw["best_loss"]),
                    "diverged": raw["diverged"] == "1",
                    "loss_at_examples": (
                        float(raw["loss_at_examples"]) if raw["loss_at_examples"] else None
                    ),
                }
            )
    return rows


def save_json(path, data: Mapping) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def load_json(path) -> dict:
    return json.loads(Path(path).read_text())


def curve_array(curve: Sequence) -> np.ndarray:
    """A stored curve as floats, inf where the run had diverged (stored as null)."""
    return np.array([math.inf if v is None else v for v in curve], np.float64)


# --------------------------------------------------------------------------- analysis


def seed_mean(
    rows: Sequence[Mapping], key: str = "final_loss", batch_size="any"
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """{(problem, optimizer): (trials, mean over seeds of ``key`` at each trial)}.

    A trial where any seed diverged has mean inf. ``batch_size`` filters rows (default: all).
    """
    if key not in ("final_loss", "best_loss", "loss_at_examples"):
        raise ValueError(f"key must be final_loss, best_loss or loss_at_examples, got {key!r}")
    groups: dict[tuple[str, str], dict[float, list[float]]] = {}
    for row in rows:
        if batch_size != "any" and row["batch_size"] != batch_size:
            continue
        trials = groups.setdefault((row["problem"], row["optimizer"]), {})
        trials.setdefault(row["rate"], []).append(row[key])
    result = {}
    for pair, trials in groups.items():
        rates = np.array(sorted(trials))
        means = np.array([np.mean(trials[r]) for r in rates], np.float64)
        result[pair] = (rates, means)
    return result


def tuned(rates, losses) -> tuple[float, float]:
    """The trial with the least loss and that loss: (rate, loss); (nan, inf) if all diverged."""
    rates = np.asarray(rates, np.float64)
    losses = np.asarray(losses, np.float64)
    if rates.shape != losses.shape or rates.ndim != 1 or rates.size == 0:
        raise ValueError(
            f"rates and losses must be 1-D of the same non-zero length, got {rates.shape} "
            f"and {losses.shape}"
        )
    losses = np.where(np.isnan(losses), np.inf, losses)
    if not np.isfinite(losses).any():
        return math.nan, math.inf
    best = int(np.argmin(losses))
    return float(rates[best]), float(losses[best])


def tuned_table(
    rows: Sequence[Mapping], problem_names: Sequence[str], optimizer_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(losses, rates), each ``(problems, optimizers)``: the tuned final loss (mean over
    seeds) and its trial; NaN where the optimizer did not run on the problem."""
    means = seed_mean(rows)
    losses = np.full((len(problem_names), len(optimizer_names)), np.nan)
    rates = np.full_like(losses, np.nan)
    for i, p in enumerate(problem_names):
        for j, o in enumerate(optimizer_names):
            if (p, o) in means:
                rates[i, j], losses[i, j] = tuned(*means[(p, o)])
    return losses, rates


def average_ranks(table) -> np.ndarray:
    """Each column's mean rank over the rows (1 = least loss in the row).

    ``table`` is ``(problems, optimizers)``; NaN marks a pair that did not run (left out of
    that row's ranking and of the column's mean); inf (diverged) ranks last. Ties share
    the mean of their ranks. A column without any entry gets NaN.
    """
    table = np.asarray(table, np.float64)
    if table.ndim != 2 or table.size == 0:
        raise ValueError(f"table must be a non-empty 2-D array, got shape {table.shape}")
    ranks = np.full(table.shape, np.nan)
    for i, row in enumerate(table):
        present = ~np.isnan(row)
        values = row[present]
        # rank = 1 + (number strictly smaller) + (number of ties - 1) / 2
        smaller = (values[None, :] < values[:, None]).sum(axis=1)
        equal = (values[None, :] == values[:, None]).sum(axis=1)
        ranks[i, present] = 1 + smaller + (equal - 1) / 2
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(ranks)).sum(axis=0)
        sums = np.nansum(ranks, axis=0)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def expected_best_of_k(losses, k: int) -> float:
    r"""Expected least loss over ``k`` trials drawn at random without replacement.

    For the sorted losses :math:`l_{(1)} \le \dots \le l_{(n)}`, the best of k is
    :math:`l_{(i)}` with probability :math:`\binom{n-i}{k-1} / \binom{n}{k}` (the other
    k - 1 draws all come from the n - i larger ones). Diverged trials (inf) count as inf:
    the expectation is inf when some k-subset has only diverged trials.
    """
    losses = np.asarray(losses, np.float64)
    if losses.ndim != 1 or losses.size == 0:
        raise ValueError(f"losses must be a non-empty 1-D sequence, got shape {losses.shape}")
    losses = np.sort(np.where(np.isnan(losses), np.inf, losses))
    n = losses.size
    k = validation.positive_int("k", k)
    if k > n:
        raise ValueError(f"k must be an integer in [1, {n}], got {k}")
    total = math.comb(n, k)
    expected = 0.0
    for i in range(1, n - k + 2):
        weight = math.comb(n - i, k - 1) / total
        if weight > 0:
            expected += weight * losses[i - 1] if np.isfinite(losses[i - 1]) else math.inf
    return float(expected)


def budget_curve(losses) -> np.ndarray:
    """:func:`expected_best_of_k` for k = 1..n."""
    losses = np.asarray(losses, np.float64)
    return np.array([expected_best_of_k(losses, k) for k in range(1, losses.size + 1)])


def good_rate_count(losses, initial_loss: float, tolerance: float = 0.1) -> int:
    """How many trials end within ``tolerance`` of the way from the start to the tuned loss.

    A trial is good when ``loss - tuned <= tolerance * (initial_loss - tuned)``: it
    reaches at least 90 % (by default) of the tuned run's decrease. A wide good range is
    a method that is easy to tune.
    """
    losses = np.asarray(losses, np.float64)
    tolerance = validation.positive("tolerance", tolerance)
    finite = losses[np.isfinite(losses)]
    if finite.size == 0:
        return 0
    best = finite.min()
    return int(np.sum(losses - best <= tolerance * (initial_loss - best)))


# --------------------------------------------------------------------------- figures


def plot_heatmap(losses, problem_names, optimizer_names, title: str):
    """Problems x optimizers heat map of log10 tuned loss (grey: does not apply)."""
    losses = np.asarray(losses, np.float64)
    shown = np.log10(np.clip(losses, LOSS_FLOOR, None))
    shown = np.where(np.isinf(losses), np.nan, shown)
    fig, ax = plt.subplots(figsize=(11, 3.6))
    ax.set_facecolor("0.85")
    image = ax.imshow(np.ma.masked_invalid(shown), cmap="viridis_r", aspect="auto")
    for i in range(losses.shape[0]):
        for j in range(losses.shape[1]):
            value = losses[i, j]
            text = "n/a" if np.isnan(value) else ("div." if np.isinf(value) else f"{value:.1e}")
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="k")
    ax.set_xticks(range(len(optimizer_names)), optimizer_names, rotation=40, ha="right")
    ax.set_yticks(range(len(problem_names)), problem_names)
    fig.colorbar(image, ax=ax, label=f"log10 tuned final loss (floor {LOSS_FLOOR:g})")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_curves(
    results: Mapping,
    problem_names: Sequence[str],
    optimizer_names: Sequence[str],
    wall_clock: bool = False,
):
    """Tuned loss curves (mean over seeds) per problem, against steps or wall-clock."""
    steps = np.asarray(results["record_steps"], np.float64)
    fig, axes = plt.subplots(1, len(problem_names), figsize=(4 * len(problem_names), 3.4))
    for ax, problem in zip(np.atleast_1d(axes), problem_names, strict=True):
        for optimizer in optimizer_names:
            entry = results["tuned"].get(f"{problem}/{optimizer}")
            if entry is None:
                continue
            curve = np.mean([curve_array(c) for c in entry["curves"]], axis=0)
            if not np.isfinite(curve).all():
                continue
            x = steps * entry["seconds_per_step"] if wall_clock else steps
            ax.plot(x, np.clip(curve, LOSS_FLOOR, None), label=optimizer, color=COLORS[optimizer])
        ax.set_yscale("log")
        if wall_clock:
            ax.set_xscale("log")  # costs differ by orders of magnitude (step 0 is off-axis)
        ax.set_xlabel("wall-clock seconds" if wall_clock else "step")
        ax.set_title(problem)
    np.atleast_1d(axes)[0].set_ylabel("loss (minus h* where known)")
    against = "wall-clock seconds" if wall_clock else "steps"
    _figure_legend(fig, f"Tuned runs, mean over seeds, against {against}")
    return fig


def _figure_legend(fig, title: str) -> None:
    """One legend for all panels (each optimizer once), and a title over the panels."""
    handles = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    ordered = [name for name in OPTIMIZERS if name in handles]
    fig.legend([handles[n] for n in ordered], ordered, loc="center right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.9, 1))


def plot_sensitivity(rows: Sequence[Mapping], problem: str, optimizer_names: Sequence[str]):
    """Final loss (mean over seeds) against the trial value; diverged trials are left out."""
    means = seed_mean(rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    for optimizer in optimizer_names:
        if (problem, optimizer) not in means:
            continue
        rates, losses = means[(problem, optimizer)]
        finite = np.isfinite(losses)
        ax.plot(
            rates[finite],
            np.clip(losses[finite], LOSS_FLOOR, None),
            "o-",
            label=optimizer,
            color=COLORS[optimizer],
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate (damping for damped Newton)")
    ax.set_ylabel("final loss, mean over seeds")
    ax.set_title(f"{problem}: final loss across the grid (missing points diverged)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def plot_budget(rows: Sequence[Mapping], problem_names: Sequence[str], optimizer_names):
    """Expected best final loss against the number of random trials k, per problem."""
    means = seed_mean(rows)
    fig, axes = plt.subplots(1, len(problem_names), figsize=(4 * len(problem_names), 3.4))
    for ax, problem in zip(np.atleast_1d(axes), problem_names, strict=True):
        for optimizer in optimizer_names:
            if (problem, optimizer) not in means:
                continue
            curve = budget_curve(means[(problem, optimizer)][1])
            k = np.arange(1, curve.size + 1)
            finite = np.isfinite(curve)
            ax.plot(
                k[finite],
                np.clip(curve[finite], LOSS_FLOOR, None),
                ".-",
                label=optimizer,
                color=COLORS[optimizer],
            )
        ax.set_yscale("log")
        ax.set_xlabel("trials k drawn from the grid")
        ax.set_title(problem)
    np.atleast_1d(axes)[0].set_ylabel("expected best final loss")
    _figure_legend(fig, "Tuning budget: expected best of k random trials (infinite: not drawn)")
    return fig


def plot_budget_bars(rows: Sequence[Mapping], problem: str, k: int, ax=None):
    """Expected best final loss of k random trials per optimizer on ``problem`` (bars).

    An optimizer whose expectation is infinite (some k-subset of its trials only diverged)
    gets a hatched bar at the top of the axis, labelled "inf"; one that does not run on
    the problem is left out.
    """
    means = seed_mean(rows)
    ran = [o for o in OPTIMIZERS if (problem, o) in means]
    if not ran:
        raise ValueError(f"problem must be one of {sorted({p for p, _ in means})}, got {problem!r}")
    k = validation.positive_int("k", k)
    expected = np.array([expected_best_of_k(means[(problem, o)][1], k) for o in ran])
    finite = np.isfinite(expected)
    values = np.clip(expected, LOSS_FLOOR, None)
    top = 10 * values[finite].max() if finite.any() else 1.0
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.6))
    positions = np.arange(len(ran))
    ax.bar(positions[finite], values[finite], color=[COLORS[ran[i]] for i in positions[finite]])
    ax.bar(positions[~finite], top, color="white", edgecolor="0.4", hatch="//")
    for position in positions[~finite]:
        ax.text(position, top, "inf", ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(positions, ran, rotation=40, ha="right")
    ax.set_ylabel("expected best final loss")
    ax.set_title(f"{problem}: expected best of k = {k} random trials of the grid")
    ax.figure.tight_layout()
    return ax


def budget_explorer(rows: Sequence[Mapping]):
    """A problem menu and a slider for the budget k, redrawing :func:`plot_budget_bars`."""
    import ipywidgets

    means = seed_mean(rows)
    problem_names = [p for p in PROBLEM_NAMES if any(key[0] == p for key in means)]
    num_trials = max(len(trials) for trials, _ in means.values())
    problem = ipywidgets.Dropdown(options=problem_names, description="problem")
    k = ipywidgets.IntSlider(value=1, min=1, max=num_trials, description="trials k")

    def draw(problem, k):
        plot_budget_bars(rows, problem, k)
        plt.show()

    return ipywidgets.interactive(draw, problem=problem, k=k)


def batch_size_table(rows: Sequence[Mapping], optimizer_names, batch_sizes):
    """(after_steps, after_examples), each ``(optimizers, batch sizes)``: tuned losses."""
    after_steps = np.full((len(optimizer_names), len(batch_sizes)), np.nan)
    after_examples = np.full_like(after_steps, np.nan)
    for j, b in enumerate(batch_sizes):
        steps_means = seed_mean(rows, "final_loss", batch_size=b)
        example_means = seed_mean(rows, "loss_at_examples", batch_size=b)
        for i, o in enumerate(optimizer_names):
            key = (BATCH_STUDY_PROBLEM, o)
            if key in steps_means:
                after_steps[i, j] = tuned(*steps_means[key])[1]
                after_examples[i, j] = tuned(*example_means[key])[1]
    return after_steps, after_examples


def plot_batch_sizes(rows: Sequence[Mapping], optimizer_names, batch_sizes, num_examples: int):
    """Tuned loss against batch size: after the same steps, and after the same examples."""
    after_steps, after_examples = batch_size_table(rows, optimizer_names, batch_sizes)
    sizes = [b or num_examples for b in batch_sizes]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, optimizer in enumerate(optimizer_names):
        axes[0].plot(sizes, after_steps[i], "o-", label=optimizer, color=COLORS[optimizer])
        axes[1].plot(sizes, after_examples[i], "o-", label=optimizer, color=COLORS[optimizer])
    for ax, title in zip(
        axes, ("after the same number of steps", "after the same number of examples"), strict=True
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"batch size (full batch = {num_examples})")
        ax.set_title(title)
    axes[0].set_ylabel("tuned training loss (MLP)")
    axes[1].legend()
    fig.tight_layout()
    return fig


def format_table(losses, rates, problem_names, optimizer_names) -> str:
    """A text table: one line per optimizer, tuned loss (and trial) per problem."""
    width = max(18, *(len(p) for p in problem_names))
    header = f"{'optimizer':17s}" + "".join(f"{p:>{width + 1}s}" for p in problem_names)
    lines = [header, "-" * len(header)]
    for j, optimizer in enumerate(optimizer_names):
        cells = []
        for i in range(len(problem_names)):
            loss, rate = losses[i, j], rates[i, j]
            if np.isnan(loss):
                cells.append(f"{'n/a':>{width + 1}s}")
            elif np.isinf(loss):
                cells.append(f"{'diverged':>{width + 1}s}")
            else:
                cells.append(f"{loss:>10.2e} @{rate:<7.0e}".rjust(width + 1))
        lines.append(f"{optimizer:17s}" + "".join(cells))
    return "\n".join(lines)
