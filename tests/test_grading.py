"""Grading (lecture_lib.grading) on the sample submissions of tests/submissions/.

The samples derive from exercises/01_taylor.ipynb and its solution (see
tests/submissions/conftest.py); each student's expected outcome below is read off the
sample by hand, not from the grader. One grading run through the command line serves
every test; the looping sample gets a run of its own with a short timeout, so the others
can have a timeout that a loaded machine never reaches.
"""

import csv
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from lecture_lib import grading

SAMPLES = Path(__file__).resolve().parent / "submissions"
MASTER = Path(__file__).resolve().parents[1] / "exercises" / "01_taylor.ipynb"
TASKS = ["first_order_model", "second_order_model", "steepest_descent_step", "loglog_slope"]
STUB = "NotImplementedError (the stub is still there"
LOOP_TIMEOUT = 10

# student -> (notebook, passed flags in task order, a message part of each task)
EXPECTED = {
    "alice": ("alice/01_taylor.ipynb", [True] * 4, [f"\u2714 {task}: all" for task in TASKS]),
    "bob": (
        "bob/01_taylor.ipynb",
        [True, False, False, False],
        [
            "\u2714 first_order_model: all 6 cases pass",
            "the curvature term needs its factor 1/2",
            STUB,
            "loglog_slope is not defined: its cell (cell 13) raised SyntaxError",
        ],
    ),
    "carol": ("carol__01_taylor.ipynb", [False] * 4, [STUB] * 4),
    "dave": ("dave/01_taylor.ipynb", [False] * 4, ["the notebook cannot be read"] * 4),
    "erin": (
        "erin/01_taylor.ipynb",
        [True, True, False, False],
        [
            "\u2714 first_order_model: all",
            "\u2714 second_order_model: all",
            "steepest_descent_step is not defined: no cell of the notebook defines it",
            "loglog_slope is not defined: no cell of the notebook defines it",
        ],
    ),
    # Tampers with the checks in every way it can, so only the real checks' verdicts count.
    "grace": (
        "grace/01_taylor.ipynb",
        [False, True, False, False],
        [
            "you returned f(x) itself",
            "\u2714 second_order_model: all 6 cases pass",
            "\u2718 steepest_descent_step: not yet right",
            STUB,
        ],
    ),
}


def read_rows(out_dir):
    with open(out_dir / "grades.csv", newline="", encoding="utf-8") as table:
        return list(csv.DictReader(table))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The rows and the summary of one command-line run over every sample but the loop."""
    root = tmp_path_factory.mktemp("grading")
    folder, out_dir = root / "submissions", root / "grades"
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns("frank", "*.py", "*.toml"))
    assert grading.main([str(folder), "--out", str(out_dir), "--timeout", "300"]) == 0
    return read_rows(out_dir), (out_dir / "summary.md").read_text(encoding="utf-8")


def rows_of(rows, student):
    return [row for row in rows if row["student"] == student]


def test_the_csv_has_the_documented_columns(graded):
    rows, _ = graded
    assert list(rows[0]) == [
        "student",
        "exercise",
        "task",
        "passed",
        "message",
        "notebook",
        "seconds",
    ]
    assert all(float(row["seconds"]) >= 0 for row in rows)
    assert float(rows_of(rows, "alice")[0]["seconds"]) > 0, "running a kernel takes time"


@pytest.mark.parametrize("student", EXPECTED)
def test_each_task_of_each_submission_gets_its_row(graded, student):
    notebook, passed, messages = EXPECTED[student]
    rows = rows_of(graded[0], student)
    assert [row["task"] for row in rows] == TASKS
    assert {(row["exercise"], row["notebook"]) for row in rows} == {("01_taylor", notebook)}
    assert [row["passed"] for row in rows] == [str(flag) for flag in passed]
    for row, message in zip(rows, messages, strict=True):
        assert message in row["message"], row


def test_an_unknown_exercise_name_gets_one_row_saying_so(graded):
    (row,) = rows_of(graded[0], "ivan")
    assert (row["exercise"], row["task"], row["passed"]) == ("01_taylor-Copy1", "", "False")
    assert "unknown exercise '01_taylor-Copy1'" in row["message"]
    assert "01_taylor, 02_gradient_descent" in row["message"]


def test_a_top_level_notebook_without_a_student_gets_one_row_saying_so(graded):
    (row,) = rows_of(graded[0], "")
    assert (row["notebook"], row["task"], row["passed"]) == ("01_taylor.ipynb", "", "False")
    assert "whose notebook is this?" in row["message"]


def test_the_summary_scores_each_student_and_each_task(graded):
    _, summary = graded
    for student, (_, passed, messages) in EXPECTED.items():
        assert f"| {student} | {sum(passed)}/4 |" in summary
        assert f"### {student}: {sum(passed)}/4" in summary
        for flag, message in zip(passed, messages, strict=True):
            assert flag or message in summary, (student, message)
    assert "| ivan | 0/1 |" in summary and "| (unknown) | 0/1 |" in summary
    for index, task in enumerate(TASKS):
        flags = [passed[index] for _, passed, _ in EXPECTED.values()]
        score = f"{sum(flags)}/{len(flags)} | {sum(flags) / len(flags):.0%}"
        assert f"| 01_taylor | {task} | {score} |" in summary


def child_processes():
    """Ids of this process's live children (Linux /proc)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


def test_a_looping_notebook_times_out_and_its_kernel_is_killed(tmp_path):
    folder = tmp_path / "submissions"
    shutil.copytree(SAMPLES / "frank", folder / "frank")
    before = child_processes()
    start = time.monotonic()
    grades = grading.grade(folder, tmp_path / "grades", timeout=LOOP_TIMEOUT)
    elapsed = time.monotonic() - start
    assert [(row.task, row.passed) for row in grades] == [(task, False) for task in TASKS]
    for row in grades:
        assert row.message == (
            f"timed out after {LOOP_TIMEOUT} s while running cell 14 ('step = 1.0')"
        )
        assert LOOP_TIMEOUT <= row.seconds <= elapsed + 0.05  # rows round to 0.1 s
    # The loop is cut at the timeout: what remains is kernel start-up and shutdown.
    assert elapsed < LOOP_TIMEOUT + 60
    assert child_processes() <= before, "the looping kernel is still running"
    assert len(read_rows(tmp_path / "grades")) == len(TASKS)


def test_the_tasks_come_from_the_master_check_cells():
    tasks = grading.exercise_tasks(MASTER)
    assert [task.name for task in tasks] == TASKS
    assert {task.check_module for task in tasks} == {"lecture_lib.checks.taylor"}
    assert [(task.check_function, task.arguments) for task in tasks] == [
        (f"check_{task}", task) for task in TASKS
    ]


def test_a_master_check_cell_that_is_not_one_check_call_is_refused(tmp_path):
    notebook = nbformat.read(MASTER, as_version=4)
    check = next(cell for cell in notebook.cells if grading.is_check(cell))
    check.source = 'print("\\u2714 all pass")'
    master = tmp_path / "01_taylor.ipynb"
    nbformat.write(notebook, master)
    with pytest.raises(ValueError, match="master 01_taylor.ipynb: a check cell must be one call"):
        grading.exercise_tasks(master)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["no/such/folder"], "submissions must be an existing folder, got 'no/such/folder'"),
        ([str(SAMPLES), "--timeout", "0"], "timeout must be a positive number of seconds, got 0.0"),
        (["{empty}"], "submissions must hold notebooks"),
    ],
)
def test_misuse_exits_with_2_and_names_the_argument(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        grading.main([argument.format(empty=tmp_path) for argument in arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_arguments_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        grading.execute_cells(nbformat.v4.new_notebook(), tmp_path, timeout=-1)
    with pytest.raises(ValueError, match="working_dir must be an existing folder"):
        grading.execute_cells(nbformat.v4.new_notebook(), tmp_path / "missing", timeout=1)
    with pytest.raises(ValueError, match="tasks must hold at least one Task"):
        grading.grade_notebook(MASTER, [])
    with pytest.raises(ValueError, match="out_dir must be a folder"):
        grading.grade(SAMPLES, MASTER)
    with pytest.raises(ValueError, match="grades must hold at least one Grade"):
        grading.summary([], timeout=1)
