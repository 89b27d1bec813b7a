"""Argument checks shared by every public function.

Each check raises ``ValueError`` naming the argument and its valid range *before*
any work is done, so a student sees "learning_rate must be > 0" instead of a
trajectory full of NaNs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a real number, got {value!r}") from None
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must be a real number, got NaN")
    return value


def positive(name: str, value) -> float:
    """Check ``0 < value < inf``."""
    number = _as_float(name, value)
    if not (0.0 < number < math.inf):
        raise ValueError(f"{name} must be in (0, inf), got {value!r}")
    return number


def nonnegative(name: str, value) -> float:
    """Check ``0 <= value < inf``."""
    number = _as_float(name, value)
    if not (0.0 <= number < math.inf):
        raise ValueError(f"{name} must be in [0, inf), got {value!r}")
    return number


def in_interval(name: str, value, low: float, high: float, *, closed_high: bool = False) -> float:
    """Check ``low <= value < high`` (or ``<= high`` when ``closed_high``)."""
    number = _as_float(name, value)
    upper_ok = number <= high if closed_high else number < high
    if not (low <= number and upper_ok):
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")
    return number


def at_least(name: str, value, low: float) -> float:
    """Check ``low <= value < inf``."""
    number = _as_float(name, value)
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


def learning_rate(value, name: str = "learning_rate") -> float | Callable:
    """A learning rate is a finite number > 0 or a schedule ``step -> rate``."""
    if callable(value):
        return value
    return positive(name, value)


def probability_fraction(name: str, value) -> float:
    """Check ``0 < value < 1`` (a proper fraction, e.g. a test split)."""
    number = _as_float(name, value)
    if not (0.0 < number < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return number
