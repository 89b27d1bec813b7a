"""The check machinery: praise for right answers, a friendly message for everything else."""

import re

import pytest

from lecture_lib.checks.core import CheckFailed, check_cases


def reference(x):
    return 2.0 * x


CASES = [("x = 1", (1.0,)), ("x = -3", (-3.0,))]


def test_right_answer_passes(capsys):
    assert check_cases("double", lambda x: 2 * x, reference, CASES, "multiply by two")
    assert "all 2 cases pass" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, got",
    [
        (lambda x: 3 * x, "3"),
        (lambda x: [2 * x, 0.0], "shape (2,)"),
        (lambda x: "two", "not a number"),
        (lambda x: 1 / 0, "ZeroDivisionError"),
        (42, "not a function"),
    ],
)
def test_wrong_answers_get_a_friendly_message(answer, got):
    with pytest.raises(CheckFailed) as failure:
        check_cases("double", answer, reference, CASES, "multiply by two")
    message = str(failure.value)
    assert "case:     x = 1" in message
    assert "expected: 2" in message
    assert got in message
    assert re.search(r"hint:     (the answer should be one number; )?multiply by two", message)
    assert failure.value.__suppress_context__ or failure.value.__cause__ is None


def test_stub_message_says_what_to_do():
    def stub(x):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="replace `raise NotImplementedError`"):
        check_cases("double", stub, reference, CASES, "multiply by two")


def test_a_matching_common_mistake_names_the_slip():
    from lecture_lib.checks.core import check_expected

    cases = [("x = 1", (1.0,), 2.0, [(1.0, "you returned x unchanged")])]
    with pytest.raises(CheckFailed, match="hint:     you returned x unchanged"):
        check_expected("double", lambda x: x, cases, "multiply by two")
    with pytest.raises(CheckFailed, match="hint:     multiply by two"):
        check_expected("double", lambda x: 5 * x, cases, "multiply by two")
