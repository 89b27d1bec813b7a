"""Learning-rate schedules: functions from the step count k = 0, 1, ... to alpha_k.

Each is traceable (works on a jitted int counter) and validates its arguments.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from lecture_lib import validation


def _float(count):
    return jnp.asarray(count).astype(jnp.result_type(float))


def constant(value: float):
    """alpha_k = value."""
    value = validation.positive("value", value)
    return lambda count: jnp.full_like(_float(count), value)


def piecewise_constant(initial: float, drop_every: int, factor: float = 0.1):
    """alpha_k = initial * factor^floor(k / drop_every): e.g. tenfold drops every N epochs
    (``drop_every`` = N * steps per epoch)."""
    initial = validation.positive("initial", initial)
    drop_every = validation.positive_int("drop_every", drop_every)
    factor = validation.in_interval("factor", factor, 0.0, 1.0, closed_high=True)
    return lambda count: initial * factor ** jnp.floor(_float(count) / drop_every)


def harmonic(a: float, b: float = 1.0, period: int = 1):
    """alpha_k = a / (floor(k / period) + b): the 1/t decay, held constant for ``period`` steps."""
    a = validation.positive("a", a)
    b = validation.positive("b", b)
    period = validation.positive_int("period", period)
    return lambda count: a / (jnp.floor(_float(count) / period) + b)


def inverse_time(initial: float):
    """alpha_k = initial / (k + 1): the lecture's alpha_k = 1/k, counting steps from 1."""
    initial = validation.positive("initial", initial)
    return lambda count: initial / (_float(count) + 1.0)


def cosine(initial: float, total_steps: int, final: float = 0.0):
    """alpha_k = final + (initial - final) (1 + cos(pi min(k, T)/T)) / 2."""
    initial = validation.positive("initial", initial)
    total_steps = validation.positive_int("total_steps", total_steps)
    final = validation.nonnegative("final", final)
    if final > initial:
        raise ValueError(f"final must be in [0, initial={initial}], got {final}")

    def schedule(count):
        progress = jnp.minimum(_float(count), total_steps) / total_steps
        return final + (initial - final) * 0.5 * (1.0 + jnp.cos(math.pi * progress))

    return schedule


def linear_warmup(peak: float, warmup_steps: int, after=None):
    """alpha_k = peak (k+1)/W for k < W, then ``after(k - W)`` (or ``peak`` if not given)."""
    peak = validation.positive("peak", peak)
    warmup_steps = validation.positive_int("warmup_steps", warmup_steps)
    if after is not None and not callable(after):
        raise ValueError(f"after must be a schedule (a callable) or None, got {after!r}")

    def schedule(count):
        k = _float(count)
        ramp = peak * (k + 1.0) / warmup_steps
        rest = (
            jnp.full_like(k, peak) if after is None else after(jnp.maximum(k - warmup_steps, 0.0))
        )
        return jnp.where(k < warmup_steps, ramp, rest)

    return schedule
