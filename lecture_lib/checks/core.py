"""The machinery behind every exercise check.

A check runs the student's function on fixed and random cases, compares with a
reference, and either prints one line of praise or raises :class:`CheckFailed`
whose message says what was expected, what came back, and a hint. Inside Jupyter
the failure is shown as that message alone, without a traceback (see
:func:`install_notebook_handler`); the cell still counts as failed, so graders and
``nbval`` see it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np


class CheckFailed(Exception):
    """An exercise answer that does not match the reference (message is for the student)."""


def _format(value: Any) -> str:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return repr(value)
    with np.printoptions(precision=6, suppress=False, threshold=12, edgeitems=3):
        return np.array2string(array) if array.ndim else f"{float(array):.6g}"


def failure(task: str, case: str, expected: Any, got: Any, hint: str) -> CheckFailed:
    """Build the friendly failure message."""
    return CheckFailed(
        f"\u2718 {task}: not yet right.\n"
        f"  case:     {case}\n"
        f"  expected: {expected if isinstance(expected, str) else _format(expected)}\n"
        f"  got:      {got if isinstance(got, str) else _format(got)}\n"
        f"  hint:     {hint}"
    )


def call_student(task: str, function: Callable, args: Sequence, case: str, expected, hint: str):
    """Call the student's function; turn a stub or a crash into a friendly failure."""
    if not callable(function):
        raise failure(task, case, expected, f"{function!r}, which is not a function", hint)
    try:
        return function(*args)
    except NotImplementedError:
        raise failure(
            task,
            case,
            expected,
            "NotImplementedError (the stub is still there: replace `raise NotImplementedError` "
            "with your code)",
            hint,
        ) from None
    except Exception as error:  # noqa: BLE001 - any student error becomes a message
        raise failure(
            task, case, expected, f"an error: {type(error).__name__}: {error}", hint
        ) from None


def task_rng(module_seed: int, task: int) -> np.random.Generator:
    """The random cases of one task: the same on every run, different for every task."""
    return np.random.default_rng([module_seed, task])


def as_float32(*arrays) -> tuple:
    """NumPy cases as float32 JAX arrays, the dtype the library computes in."""
    return tuple(jnp.asarray(a, jnp.float32) for a in arrays)


# A case: (description, args for the student's function, expected, [(wrong answer, hint)]).
Mistakes = Sequence[tuple[Any, str]]
Case = tuple[str, Sequence, Any, Mistakes]


def as_array(task: str, case: str, expected, got, hint: str) -> np.ndarray:
    """The student's answer as a float64 array, or a friendly failure if it is not numeric.

    A complex answer counts only if its imaginary part vanishes (e.g. np.linalg.eigvals
    of a symmetric matrix).
    """
    try:
        array = np.asarray(got)
        if np.iscomplexobj(array):
            if np.any(np.abs(array.imag) > 1e-12):
                raise failure(
                    task,
                    case,
                    expected,
                    f"a complex number {got!r}",
                    "the answer is real: take the modulus np.abs(...) of complex eigenvalues",
                )
            array = array.real
        return np.asarray(array, np.float64)
    except (TypeError, ValueError):
        raise failure(
            task, case, expected, f"{got!r}, which is not a number or an array", hint
        ) from None


def matches(got: np.ndarray, wanted, rtol: float, atol: float) -> bool:
    """Same shape and close values; a ``wanted`` of None matches anything."""
    if wanted is None:
        return True
    wanted = np.asarray(wanted, np.float64)
    return np.shape(got) == wanted.shape and bool(np.allclose(got, wanted, rtol=rtol, atol=atol))


def compare(
    task: str,
    case: str,
    expected,
    got,
    hint: str,
    mistakes: Mistakes = (),
    rtol: float = 1e-4,
    atol: float = 1e-6,
) -> None:
    """Fail unless ``got`` matches ``expected``; name the likeliest mistake when one matches.

    ``mistakes`` pairs the answers that common slips give with a hint about each slip.
    """
    expected = np.asarray(expected, np.float64)
    got_array = as_array(task, case, expected, got, hint)
    if matches(got_array, expected, rtol, atol):
        return
    likely = next(
        (message for wrong, message in mistakes if matches(got_array, wrong, rtol, atol)), hint
    )
    if got_array.shape != expected.shape:
        if likely is hint:
            wanted = "be one number" if expected.ndim == 0 else "have that shape"
            likely = f"the answer should {wanted}; {hint}"
        shape = f"an array of shape {got_array.shape} (expected shape {expected.shape})"
        raise failure(task, case, expected, f"{shape}: {_format(got_array)}", likely)
    raise failure(task, case, expected, got_array, likely)


def check_expected(
    task: str,
    function: Callable,
    cases: Sequence[Case],
    hint: str,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-6,
) -> int:
    """Call ``function(*args)`` for every case and :func:`compare`; returns the case count."""
    for case, args, expected, mistakes in cases:
        got = call_student(task, function, args, case, np.asarray(expected, np.float64), hint)
        compare(task, case, expected, got, hint, mistakes, rtol, atol)
    return len(cases)


def show_outputs(names: Sequence[str], values) -> str:
    """``name = value, ...`` for a function with several outputs."""
    with np.printoptions(precision=6, threshold=12, edgeitems=3):
        return ", ".join(
            f"{name} = {np.array2string(np.asarray(value, np.float64))}"
            for name, value in zip(names, values, strict=True)
        )


def check_expected_outputs(
    task: str,
    function: Callable,
    cases: Sequence[Case],
    names: Sequence[str],
    hint: str,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-7,
) -> int:
    """Like :func:`check_expected` for a function returning a tuple of arrays named ``names``.

    A mistake's outputs may hold None for "any value". Returns the case count.
    """

    def all_match(got, wanted):
        return all(matches(g, w, rtol, atol) for g, w in zip(got, wanted, strict=True))

    for case, args, expected, mistakes in cases:
        expected = tuple(np.asarray(value, np.float64) for value in expected)
        shown = show_outputs(names, expected)
        got = call_student(task, function, args, case, shown, hint)
        if not isinstance(got, tuple | list) or len(got) != len(names):
            raise failure(
                task,
                case,
                shown,
                f"{got!r}",
                f"return a tuple of {len(names)} values ({', '.join(names)}); {hint}",
            )
        got = tuple(as_array(task, case, shown, value, hint) for value in got)
        for name, g, e in zip(names, got, expected, strict=True):
            if g.shape != e.shape:
                raise failure(
                    task,
                    case,
                    shown,
                    f"{name} of shape {g.shape} (expected shape {e.shape}): {g}",
                    f"every output has the shape of the gradient; {hint}",
                )
        if all_match(got, expected):
            continue
        likely = next((message for wrong, message in mistakes if all_match(got, wrong)), hint)
        raise failure(task, case, shown, show_outputs(names, got), likely)
    return len(cases)


def check_cases(
    task: str,
    function: Callable,
    reference: Callable,
    cases: Sequence[tuple[str, Sequence]],
    hint: str,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-6,
) -> bool:
    """Compare ``function(*args)`` with ``reference(*args)`` on every ``(description, args)``."""
    expected_cases = [(case, args, reference(*args), ()) for case, args in cases]
    return passed(task, check_expected(task, function, expected_cases, hint, rtol=rtol, atol=atol))


def passed(task: str, num_cases: int) -> bool:
    print(f"\u2714 {task}: all {num_cases} cases pass. Well done!")
    return True


def _show_check_failure(shell, etype, value, tb, tb_offset=None):
    # IPython ignores what a custom handler returns: show the message as the error's
    # whole traceback ourselves, so the cell still fails (for nbval and graders).
    message = [str(value)]
    shell._showtraceback(etype, value, message)
    return message


def install_notebook_handler() -> bool:
    """In IPython, show ``CheckFailed`` as its message alone (no traceback noise)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((CheckFailed,), _show_check_failure)
    return True
