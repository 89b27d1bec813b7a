"""Our K-FAC against kfac-jax (DeepMind's K-FAC): time per step and training loss.

Both optimizers train the same MLP on the digits from the same initial parameters
on the same minibatches (drawn once by ``data.minibatch_indices``), in one process,
with matched settings:

* curvature: the exact GGN (ours ``fisher="ggn"``, kfac-jax ``"ggn_exact"``: both
  back-propagate every column of a square root of the output Hessian) or the
  sampled Fisher (ours ``"sampled"``, kfac-jax ``"fisher_gradients"``: one label per
  example drawn from the model);
* factor averages with decay 0.95 (both debiased), damped inverses recomputed every
  5 steps, the damping split between the factors by the pi-correction;
* the same L2 penalty l2/2 ||W||^2 on the weights, not the biases (``--l2``), in the
  loss, in the preconditioner's damping (l2 + lambda) and in the quadratic model (so
  the training loss has a floor above 0 and the two can be compared after 200 steps);
* two step rules: "fixed" (learning rate, momentum and damping fixed: neither side
  evaluates the quadratic model) and "adaptive" (Martens & Grosse's automatic
  learning rate and momentum from the exact-GGN quadratic model, and Levenberg-
  Marquardt damping every 5 steps by the factor 0.95^5, Martens & Grosse's
  constants, given to both).

Each step is one call of a jitted step function from Python, for both. The runs are
timed interleaved (``--repeats`` rounds, alternating which goes first) after a
warm-up run that compiles; the per-step time is the median over the rounds. The
training loss is the full training set's mean cross-entropy after ``--steps`` steps.
Targets of the issue: time ratio ours / kfac-jax <= 1.0; our loss <= kfac-jax's *
1.05.

kfac-jax 0.0.8 needs jax 0.9.1, so this runs in its own environment:

    make benchmark-kfac      # builds .venv-kfac from benchmarks/kfac/requirements.txt
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import kfac_jax
import numpy as np

from lecture_lib import data, optim, problems

DECAY = 0.95
INVERSE_UPDATE_PERIOD = 5
ADAPTATION_INTERVAL = 5
ADAPTATION_DECAY = 0.95
MODES = {"ggn": ("ggn", "ggn_exact"), "fisher": ("sampled", "fisher_gradients")}


def registered_loss(problem, params, x, y):
    """The problem's loss (penalty included), its output loss registered for kfac-jax."""
    logits = problem.predict(params, x)
    kfac_jax.register_softmax_cross_entropy_loss(logits, y)
    return problem.loss(params, (x, y))


class Ours:
    def __init__(self, problem, mode, rule, learning_rate, momentum, damping):
        adaptive = rule == "adaptive"
        method = optim.kfac(
            problem,
            "auto" if adaptive else learning_rate,
            damping,
            fisher=MODES[mode][0],
            decay=DECAY,
            inverse_update_period=INVERSE_UPDATE_PERIOD,
            momentum="auto" if adaptive else momentum,
            adapt=adaptive,
            adaptation_interval=ADAPTATION_INTERVAL,
            adaptation_decay=ADAPTATION_DECAY,
        )
        self.init = method.init
        self.step = jax.jit(method.step)

    def train(self, params, batches, key):
        state = self.init(params)
        for index, batch in enumerate(batches):
            params, state, _ = self.step(params, state, batch, jax.random.fold_in(key, index))
        return jax.block_until_ready(params)


class Theirs:
    def __init__(self, problem, mode, rule, learning_rate, momentum, damping, problem_l2):
        self.adaptive = rule == "adaptive"
        self.learning_rate = jnp.asarray(learning_rate, jnp.float32)
        self.momentum = jnp.asarray(momentum, jnp.float32)
        self.damping = jnp.asarray(damping, jnp.float32)
        self.optimizer = kfac_jax.Optimizer(
            value_and_grad_func=jax.value_and_grad(
                lambda params, batch: registered_loss(problem, params, *batch)
            ),
            l2_reg=problem_l2,
            regularized_parameters_path_exclusions="b",
            use_adaptive_learning_rate=self.adaptive,
            use_adaptive_momentum=self.adaptive,
            use_adaptive_damping=self.adaptive,
            initial_damping=damping if self.adaptive else None,
            estimation_mode=MODES[mode][1],
            curvature_ema=DECAY,
            inverse_update_period=INVERSE_UPDATE_PERIOD,
            damping_adaptation_interval=ADAPTATION_INTERVAL,
            damping_adaptation_decay=ADAPTATION_DECAY,
            num_burnin_steps=0,  # ours has no burn-in: both start from the first batch
            multi_device=False,
        )

    def train(self, params, batches, key):
        params = jax.tree_util.tree_map(jnp.copy, params)  # kfac-jax donates its params
        state = self.optimizer.init(params, key, batches[0])
        for index, batch in enumerate(batches):
            fixed = (
                {}
                if self.adaptive
                else {
                    "learning_rate": self.learning_rate,
                    "momentum": self.momentum,
                    "damping": self.damping,
                }
            )
            params, state, _ = self.optimizer.step(
                params, state, jax.random.fold_in(key, index), batch=batch, **fixed
            )
        return jax.block_until_ready(params)


def seconds(trainer, params, batches, key) -> tuple[float, object]:
    start = time.perf_counter()
    final = trainer.train(params, batches, key)
    return time.perf_counter() - start, final


def compare(problem, mode, rule, args) -> dict[str, float]:
    """Median seconds per step of each side, and each side's final training loss."""
    settings = (problem, mode, rule, args.learning_rate, args.momentum, args.damping)
    trainers = {"ours": Ours(*settings), "kfac-jax": Theirs(*settings, args.l2)}
    key = jax.random.key(0)
    params = problem.init(key)
    x, y = problem.data
    indices = np.asarray(
        data.minibatch_indices(jax.random.key(1), problem.num_examples, args.batch_size, args.steps)
    )
    batches = [(x[i], y[i]) for i in indices]
    finals = {name: seconds(trainer, params, batches, key)[1] for name, trainer in trainers.items()}
    times = {name: [] for name in trainers}
    order = list(trainers.items())
    for repeat in range(args.repeats):
        for name, trainer in order if repeat % 2 == 0 else order[::-1]:
            times[name].append(seconds(trainer, params, batches, key)[0] / args.steps)
    losses = {name: float(problem.loss(final, problem.data)) for name, final in finals.items()}
    for name, loss in losses.items():
        if not np.isfinite(loss):
            raise RuntimeError(f"{name} diverged ({mode}, {rule}): final loss {loss}")
    return {
        "ours_ms": 1e3 * statistics.median(times["ours"]),
        "theirs_ms": 1e3 * statistics.median(times["kfac-jax"]),
        "ours_loss": losses["ours"],
        "theirs_loss": losses["kfac-jax"],
        "start_loss": float(problem.loss(params, problem.data)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--damping", type=float, default=1e-2)
    parser.add_argument("--l2", type=float, default=1e-3)
    args = parser.parse_args()
    problem = problems.mlp(hidden_sizes=tuple(args.hidden), activation="tanh", l2=args.l2)
    print(
        f"{problem.name}, batch {args.batch_size}, {args.steps} steps, jax {jax.__version__}, "
        f"kfac-jax {kfac_jax.__version__}, {jax.devices()[0].platform}"
    )
    print(
        "| curvature | step rule | ms/step ours | ms/step kfac-jax | ratio | "
        "loss ours | loss kfac-jax | loss ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for mode in MODES:
        for rule in ("fixed", "adaptive"):
            row = compare(problem, mode, rule, args)
            print(
                f"| {mode} | {rule} | {row['ours_ms']:.2f} | {row['theirs_ms']:.2f} | "
                f"{row['ours_ms'] / row['theirs_ms']:.2f} | {row['ours_loss']:.4f} | "
                f"{row['theirs_loss']:.4f} | {row['ours_loss'] / row['theirs_loss']:.3f} |",
                flush=True,
            )
    print(f"(loss at the start: {row['start_loss']:.4f})")


if __name__ == "__main__":
    main()
