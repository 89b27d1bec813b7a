"""Grade a folder of submitted exercise notebooks: ``make grade SUBMISSIONS=folder``.

Also ``python -m lecture_lib.grading SUBMISSIONS [--out DIR] [--timeout SECONDS]`` or
:func:`grade` from Python.

Layout of SUBMISSIONS (either form, mixed freely; other files and hidden folders such as
``.ipynb_checkpoints`` are ignored)::

    SUBMISSIONS/<student>/<NN_topic>.ipynb      one folder per student
    SUBMISSIONS/<student>__<NN_topic>.ipynb     flat, two underscores

``<NN_topic>`` names the exercise: ``01_taylor.ipynb`` is graded against the master copy
``exercises/01_taylor.ipynb``. Any other name gets a row saying so.

How a notebook is graded. The tasks and their check code come from the master copy (its
cells tagged ``check``), never from the submission. A fresh kernel runs the submission's
other code cells in order (a cell that raises does not stop the next one), then one check
per task. Before each check the kernel drops every ``lecture_lib`` module and imports the
checks afresh from the installed package, whose files it verifies, so a notebook that
edits, deletes or monkeypatches ``checks`` (or fakes it in ``sys.modules`` or on disk)
is still graded by the real checks. A task passes only when the real check returned True
and the kernel printed that with a random token of this run. One wall-clock timeout holds
for all cells and checks of a notebook (kernel start-up not counted); past it the kernel
is killed and every task not yet checked gets a "timed out" row. The kernel is always
shut down, and a notebook that cannot be read or run costs only its own rows.

This is not a sandbox: submitted code runs with your permissions. Grade untrusted
submissions inside a container or a virtual machine.

Outputs, in the folder ``--out`` (default ``grades``):

- ``grades.csv``: one row per student, exercise and task with the columns of
  :data:`COLUMNS`; ``passed`` is ``True`` or ``False``, ``message`` is the check's message
  (or what went wrong), ``notebook`` the submitted file, ``seconds`` the time spent on it.
  Rows are written as each notebook finishes, so an interrupted run keeps them.
- ``summary.md``: each student's score k/n with every failure and its message, then
  the pass rate of each task.

The exit code is 0 whenever grading ran, however the students did; 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import ast
import csv
import inspect
import json
import math
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, astuple, dataclass, fields
from pathlib import Path

import nbclient
import nbformat

PACKAGE_DIR = Path(__file__).resolve().parent
EXERCISES_DIR = PACKAGE_DIR.parent / "exercises"
DEFAULT_TIMEOUT = 300.0
FLAT_SEPARATOR = "__"


def is_check(cell) -> bool:
    """Whether a notebook cell is an exercise's check cell (tagged ``check``)."""
    return "check" in cell.get("metadata", {}).get("tags", [])


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    """One checked task of an exercise: its master check cell, taken apart."""

    name: str
    check_module: str
    check_function: str
    arguments: str


def exercise_tasks(master: str | Path) -> list[Task]:
    """The tasks of a master exercise notebook, one per cell tagged ``check``.

    Each check cell must be one call ``checks.<topic>.check_<task>(<arguments>)``.
    """
    master = Path(master)
    if not master.is_file():
        raise ValueError(f"master must be an exercise notebook file, got {str(master)!r}")
    tasks = []
    for cell in nbformat.read(master, as_version=4).cells:
        if cell.cell_type == "code" and is_check(cell):
            tasks.append(_parse_check_cell(master, cell.source))
    if not tasks:
        raise ValueError(f"master must hold cells tagged 'check'; {master.name} has none")
    return tasks


def _parse_check_cell(master: Path, source: str) -> Task:
    statements = ast.parse(source).body
    call = statements[0].value if len(statements) == 1 else None
    function = getattr(call, "func", None)
    topic = getattr(function, "value", None)
    if not (
        isinstance(call, ast.Call)
        and isinstance(function, ast.Attribute)
        and function.attr.startswith("check_")
        and isinstance(topic, ast.Attribute)
        and isinstance(topic.value, ast.Name)
        and topic.value.id == "checks"
    ):
        raise ValueError(
            f"master {master.name}: a check cell must be one call "
            f"checks.<topic>.check_<task>(...), got {source!r}"
        )
    arguments = [*call.args, *call.keywords]
    return Task(
        name=function.attr.removeprefix("check_"),
        check_module=f"lecture_lib.checks.{topic.attr}",
        check_function=function.attr,
        arguments=", ".join(ast.get_source_segment(source, node) for node in arguments),
    )


# --------------------------------------------------------------------------- running cells


@dataclass(frozen=True)
class Interrupted:
    """Why a notebook run stopped before its last cell, and at which cell."""

    cell_index: int
    reason: str


def execute_cells(notebook, working_dir: str | Path, timeout: float) -> Interrupted | None:
    """Run every code cell of ``notebook`` in a fresh kernel of this Python, in place.

    A cell that raises stores its error in its outputs and the run goes on. ``timeout``
    (seconds, wall clock) bounds all cells together, not counting kernel start-up; past it,
    or when the kernel dies, the run stops and says where. The kernel is always shut down.
    """
    if not Path(working_dir).is_dir():
        raise ValueError(f"working_dir must be an existing folder, got {str(working_dir)!r}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(working_dir)}},
        shutdown_kernel="immediate",
    )
    with client.setup_kernel():
        deadline = time.monotonic() + timeout
        # nbclient reads a cell's timeout when it starts it: give each the time left.
        client.timeout_func = lambda _cell: max(1, math.ceil(deadline - time.monotonic()))
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            if time.monotonic() >= deadline:
                return Interrupted(index, f"timed out after {timeout:g} s")
            try:
                client.execute_cell(cell, index)
            except nbclient.exceptions.CellTimeoutError:
                return Interrupted(index, f"timed out after {timeout:g} s")
            except nbclient.exceptions.DeadKernelError:
                return Interrupted(index, "the kernel died")
    return None


# --------------------------------------------------------------------------- one notebook


@dataclass(frozen=True)
class Grade:
    """One row of ``grades.csv``."""

    student: str
    exercise: str
    task: str
    passed: bool
    message: str
    notebook: str
    seconds: float


COLUMNS = tuple(field.name for field in fields(Grade))


def _report_check(token: str, task: dict, package_dir: str, namespace: dict) -> None:
    """Kernel side of one check: run the real check of ``task`` on ``namespace``.

    Prints ``token`` and the result as JSON. Its source is sent into the kernel (see
    :func:`_check_cell`), so it imports what it needs itself and leaves nbformat and
    nbclient, slow to import, out of the kernel. Dropping every lecture_lib module and
    putting the trusted package first on sys.path make the import read the real files,
    whatever the submission did to sys.modules, sys.path or its working folder; the file
    comparison catches the rest.
    """
    import ast
    import contextlib
    import importlib
    import io
    import json
    import sys
    from pathlib import Path

    for name in [name for name in sys.modules if name.split(".")[0] == "lecture_lib"]:
        del sys.modules[name]
    sys.path.insert(0, str(Path(package_dir).parent))
    check = getattr(importlib.import_module(task["check_module"]), task["check_function"])
    topic = task["check_module"].rsplit(".", 1)[1]
    if Path(check.__code__.co_filename) != Path(package_dir, "checks", f"{topic}.py"):
        raise ImportError(f"{task['check_function']} was loaded from {check.__code__.co_filename}")
    check_failed = importlib.import_module("lecture_lib.checks.core").CheckFailed
    arguments = ast.parse(f"({task['arguments']},)", mode="eval")
    names = {node.id for node in ast.walk(arguments) if isinstance(node, ast.Name)}
    missing = sorted(name for name in names if name not in namespace)
    result = {"passed": False, "message": "", "missing": missing}
    if not missing:
        shown = io.StringIO()
        try:
            with contextlib.redirect_stdout(shown):
                passed = check(*eval(compile(arguments, "<check>", "eval"), namespace))
            result.update(passed=passed is True, message=shown.getvalue().strip())
        except check_failed as failure:
            result.update(message=str(failure))
    print(token, json.dumps(result))


def _check_cell(token: str, task: Task) -> nbformat.NotebookNode:
    """The cell that grades ``task`` in the submission's kernel, after its own cells."""
    call = f"_report_check({token!r}, {asdict(task)!r}, {str(PACKAGE_DIR)!r}, globals())"
    source = f"{inspect.getsource(_report_check)}\n\n{call}\ndel _report_check\n"
    return nbformat.v4.new_code_cell(source)


def _first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "")


def _not_defined(name: str, cells: Sequence[tuple[int, nbformat.NotebookNode]]) -> str:
    """Why ``name`` is missing: the submission's cell that defines it raised, or there is none."""
    defines = re.compile(rf"^(?:async\s+)?def\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", re.M)
    for number, cell in cells:
        if defines.search(cell.source):
            errors = [output for output in cell.outputs if output.output_type == "error"]
            if errors:
                return (
                    f"{name} is not defined: its cell (cell {number}) raised "
                    f"{errors[0].ename}: {errors[0].evalue}"
                )
            return f"{name} is not defined when the checks run (deleted after cell {number}?)"
    return f"{name} is not defined: no cell of the notebook defines it (was its cell deleted?)"


def _check_result(output_cell, token: str) -> dict | None:
    for output in output_cell.outputs:
        if output.output_type == "stream" and output.name == "stdout":
            for line in output.text.splitlines():
                if line.startswith(token + " "):
                    return json.loads(line[len(token) + 1 :])
    return None


def _grade_cells(
    submission: nbformat.NotebookNode, tasks: Sequence[Task], timeout: float
) -> list[tuple[str, bool, str]]:
    """(task, passed, message) for each task, running the submission's non-check cells."""
    token = secrets.token_hex(16)
    student_cells = [
        (number, nbformat.v4.new_code_cell(cell.source))
        for number, cell in enumerate(submission.cells, start=1)
        if cell.cell_type == "code" and not is_check(cell)
    ]
    check_cells = [_check_cell(token, task) for task in tasks]
    notebook = nbformat.v4.new_notebook(cells=[cell for _, cell in student_cells] + check_cells)
    # A fresh folder per notebook: files a submission writes stay out of the next one's way.
    with tempfile.TemporaryDirectory(prefix="grading-") as working_dir:
        stopped = execute_cells(notebook, working_dir, timeout)
    results = []
    for offset, (task, cell) in enumerate(zip(tasks, check_cells, strict=True)):
        index = len(student_cells) + offset
        if stopped is not None and stopped.cell_index <= index:
            if stopped.cell_index < len(student_cells):
                number, running = student_cells[stopped.cell_index]
                where = f"cell {number} ({_first_line(running.source)!r})"
            else:
                where = f"the check of {tasks[stopped.cell_index - len(student_cells)].name}"
            results.append((task.name, False, f"{stopped.reason} while running {where}"))
            continue
        result = _check_result(cell, token)
        errors = [output for output in cell.outputs if output.output_type == "error"]
        if result is None:
            reason = f"{errors[0].ename}: {errors[0].evalue}" if errors else "no result printed"
            message = f"the check could not run ({reason}); does the notebook tamper with it?"
            results.append((task.name, False, message))
        elif result["missing"]:
            message = "; ".join(_not_defined(name, student_cells) for name in result["missing"])
            results.append((task.name, False, message))
        else:
            results.append((task.name, result["passed"], result["message"]))
    return results


def grade_notebook(
    path: str | Path, tasks: Sequence[Task], timeout: float = DEFAULT_TIMEOUT
) -> list[tuple[str, bool, str]]:
    """Grade one submitted notebook against ``tasks``: ``(task, passed, message)`` per task.

    Whatever goes wrong with the notebook (unreadable, a loop, a dead kernel) becomes the
    message of its rows; nothing is raised for a bad submission.
    """
    if not tasks:
        raise ValueError("tasks must hold at least one Task")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    try:
        submission = nbformat.read(Path(path), as_version=4)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the submission's fault
        message = f"the notebook cannot be read: {type(error).__name__}: {error}"
        return [(task.name, False, message) for task in tasks]
    try:
        return _grade_cells(submission, tasks, timeout)
    except Exception as error:  # noqa: BLE001 - one broken submission must not stop the run
        message = f"the notebook could not be run: {type(error).__name__}: {error}"
        return [(task.name, False, message) for task in tasks]


# --------------------------------------------------------------------------- the folder


@dataclass(frozen=True)
class Submission:
    """One submitted notebook: whose, which exercise (the file name's stem), where."""

    student: str
    exercise: str
    path: Path


def find_submissions(folder: str | Path) -> list[Submission]:
    """Every notebook of ``folder`` in the layout of this module's docstring, sorted.

    A top-level notebook without ``__`` in its name gets an empty student.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"submissions must be an existing folder, got {str(folder)!r}")
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found.extend(
                Submission(entry.name, notebook.stem, notebook)
                for notebook in sorted(entry.glob("*.ipynb"))
                if not notebook.name.startswith(".")
            )
        elif entry.suffix == ".ipynb":
            student, separator, exercise = entry.stem.rpartition(FLAT_SEPARATOR)
            found.append(Submission(student if separator else "", exercise, entry))
    return found


def _grade_submission(
    submission: Submission, exercises: dict[str, list[Task]], timeout: float, root: Path
) -> list[Grade]:
    start = time.monotonic()
    shown_path = str(submission.path.relative_to(root))
    if not submission.student:
        results = [
            (
                "",
                False,
                f"whose notebook is this? Name a top-level file <student>{FLAT_SEPARATOR}"
                f"<exercise>.ipynb or put it in a folder <student>/",
            )
        ]
    elif submission.exercise not in exercises:
        results = [
            (
                "",
                False,
                f"unknown exercise {submission.exercise!r}: name the notebook after one of "
                f"{', '.join(sorted(exercises))} (.ipynb)",
            )
        ]
    else:
        results = grade_notebook(submission.path, exercises[submission.exercise], timeout)
    seconds = round(time.monotonic() - start, 1)
    return [
        Grade(submission.student, submission.exercise, task, passed, message, shown_path, seconds)
        for task, passed, message in results
    ]


def grade(
    submissions: str | Path,
    out_dir: str | Path = "grades",
    timeout: float = DEFAULT_TIMEOUT,
    exercises_dir: str | Path = EXERCISES_DIR,
) -> list[Grade]:
    """Grade every notebook under ``submissions``; write ``grades.csv`` and ``summary.md``.

    ``timeout`` is the wall-clock limit in seconds per notebook. Notebooks run one at a
    time; each one's rows are appended to the CSV as soon as it is graded.
    """
    submissions, out_dir, exercises_dir = Path(submissions), Path(out_dir), Path(exercises_dir)
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir must be a folder (or not exist yet), got the file {out_dir}")
    exercises = {path.stem: exercise_tasks(path) for path in sorted(exercises_dir.glob("*.ipynb"))}
    if not exercises:
        raise ValueError(f"exercises_dir must hold the master notebooks, got {exercises_dir}")
    found = find_submissions(submissions)
    if not found:
        raise ValueError(
            f"submissions must hold notebooks (<student>/<exercise>.ipynb or "
            f"<student>{FLAT_SEPARATOR}<exercise>.ipynb), found none in {submissions}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    grades = []
    with open(out_dir / "grades.csv", "w", newline="", encoding="utf-8") as table:
        writer = csv.writer(table)
        writer.writerow(COLUMNS)
        for submission in found:
            rows = _grade_submission(submission, exercises, timeout, submissions)
            writer.writerows(astuple(row) for row in rows)
            table.flush()
            grades.extend(rows)
            passed = sum(row.passed for row in rows)
            print(
                f"{submission.path.relative_to(submissions)}: {passed}/{len(rows)} passed "
                f"({rows[0].seconds:g} s)",
                file=sys.stderr,
            )
    (out_dir / "summary.md").write_text(summary(grades, timeout), encoding="utf-8")
    return grades


# --------------------------------------------------------------------------- the summary


def _quoted(message: str) -> str:
    return "\n".join(f"    {line}" for line in message.splitlines() or [""])


def _score(rows: Iterable[Grade]) -> str:
    rows = list(rows)
    return f"{sum(row.passed for row in rows)}/{len(rows)}"


def summary(grades: Sequence[Grade], timeout: float) -> str:
    """The Markdown summary: per-student scores and failures, then per-task pass rates."""
    if not grades:
        raise ValueError("grades must hold at least one Grade")
    students = sorted({row.student for row in grades})
    lines = [
        "# Grades",
        "",
        f"{len(students)} students, {len({row.notebook for row in grades})} notebooks, "
        f"timeout {timeout:g} s per notebook. Every row is in grades.csv.",
        "",
        "## Students",
        "",
        "| student | passed |",
        "| --- | --- |",
    ]
    by_student = {
        student or "(unknown)": [row for row in grades if row.student == student]
        for student in students
    }
    lines += [f"| {student} | {_score(rows)} |" for student, rows in by_student.items()]
    for student, rows in by_student.items():
        lines += ["", f"### {student}: {_score(rows)}", ""]
        failures = [row for row in rows if not row.passed]
        if not failures:
            lines.append("Every task passes.")
        for row in failures:
            lines += [f"- {row.exercise or row.notebook} / {row.task or '(notebook)'}:", ""]
            lines += [_quoted(row.message), ""]
    lines += ["", "## Tasks", "", "| exercise | task | passed | rate |"]
    lines.append("| --- | --- | --- | --- |")
    tasks = sorted(
        dict.fromkeys((row.exercise, row.task) for row in grades if row.task),
        key=lambda pair: pair[0],
    )
    for exercise, task in tasks:
        rows = [row for row in grades if (row.exercise, row.task) == (exercise, task)]
        rate = sum(row.passed for row in rows) / len(rows)
        lines.append(f"| {exercise} | {task} | {_score(rows)} | {rate:.0%} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: grade a folder; exit 0 once graded, 2 for a bad argument."""
    parser = argparse.ArgumentParser(
        prog="python -m lecture_lib.grading",
        description="Grade submitted exercise notebooks; see the module docstring for the layout.",
    )
    parser.add_argument("submissions", help="folder of <student>/<NN_topic>.ipynb notebooks")
    parser.add_argument("--out", default="grades", help="output folder (default: grades)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"wall-clock seconds per notebook (default: {DEFAULT_TIMEOUT:g})",
    )
    arguments = parser.parse_args(argv)
    try:
        grades = grade(arguments.submissions, arguments.out, arguments.timeout)
    except ValueError as error:
        parser.error(str(error))
    out = Path(arguments.out)
    print(
        f"graded {len({row.notebook for row in grades})} notebooks: "
        f"{out / 'grades.csv'}, {out / 'summary.md'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
