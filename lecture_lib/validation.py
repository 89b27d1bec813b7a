"""Argument checks shared by every public function.

Each check raises ``ValueError`` naming the argument and its valid range *before*
any work is done, so a student sees "learning_rate must be > 0" instead of a
trajectory full of NaNs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral


def _as_float(name: str, value, valid: str = "the real numbers") -> float:
    """``value`` as a float, or a ValueError naming ``name`` and its ``valid`` range."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number in {valid}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {valid}, got {value!r}") from None
    if math.isnan(number):
        raise ValueError(f"{name} must be in {valid}, got NaN")
    return number


def real(name: str, value) -> float:
    """Any finite real number."""
    number = _as_float(name, value, "(-inf, inf)")
    if math.isinf(number):
        raise ValueError(f"{name} must be in (-inf, inf), got {value!r}")
    return number


def positive(name: str, value) -> float:
    """Check ``0 < value < inf``."""
    number = _as_float(name, value, "(0, inf)")
    if not (0.0 < number < math.inf):
        raise ValueError(f"{name} must be in (0, inf), got {value!r}")
    return number


def nonnegative(name: str, value) -> float:
    """Check ``0 <= value < inf``."""
    number = _as_float(name, value, "[0, inf)")
    if not (0.0 <= number < math.inf):
        raise ValueError(f"{name} must be in [0, inf), got {value!r}")
    return number


def in_interval(name: str, value, low: float, high: float, *, closed_high: bool = False) -> float:
    """Check ``low <= value < high`` (or ``<= high`` when ``closed_high``)."""
    bracket = "]" if closed_high else ")"
    number = _as_float(name, value, f"[{low}, {high}{bracket}")
    upper_ok = number <= high if closed_high else number < high
    if not (low <= number and upper_ok):
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")
    return number


def at_least(name: str, value, low: float) -> float:
    """Check ``low <= value < inf``."""
    number = _as_float(name, value, f"[{low}, inf)")
    if not (low <= number < math.inf):
        raise ValueError(f"{name} must be in [{low}, inf), got {value!r}")
    return number


def positive_int(name: str, value, minimum: int = 1) -> int:
    """Check that ``value`` is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def steps_and_record_every(steps, record_every) -> tuple[int, int]:
    """Check ``steps >= 1`` and ``record_every >= 1`` dividing it (a record every r steps)."""
    steps = positive_int("steps", steps)
    record_every = positive_int("record_every", record_every)
    if steps % record_every:
        raise ValueError(f"steps must be a multiple of record_every={record_every}, got {steps}")
    return steps, record_every


def learning_rate(value, name: str = "learning_rate") -> float | Callable:
    """A learning rate is a finite number > 0 or a schedule ``step -> rate``."""
    if callable(value):
        return value
    return positive(name, value)


def probability_fraction(name: str, value) -> float:
    """Check ``0 < value < 1`` (a proper fraction, e.g. a test split)."""
    number = _as_float(name, value, "(0, 1)")
    if not (0.0 < number < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return number
