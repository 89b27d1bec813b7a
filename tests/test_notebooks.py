"""Conventions every notebook keeps; the notebooks themselves run under nbval (make test)."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "exercises" / "solutions").glob("*.ipynb"))
ALL_NOTEBOOKS = LECTURES + EXERCISES + SOLUTIONS
ASSERT_STATEMENT = re.compile(r"^\s*assert\b", re.MULTILINE)


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def test_there_are_notebooks():
    assert LECTURES and EXERCISES and SOLUTIONS


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_without_outputs(path):
    for index, cell in enumerate(cells(path)):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), (
                f"cell {index} of {path.name} has outputs: run nbstripout"
            )
            assert cell.get("execution_count") is None, f"cell {index} of {path.name} has a count"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_lecture_opens_with_goals_and_cpu_time_and_closes_with_the_exercise(path):
    notebook_cells = cells(path)
    opening = source(notebook_cells[0])
    assert notebook_cells[0]["cell_type"] == "markdown"
    assert re.search(r"learning goals", opening, re.IGNORECASE), (
        "no learning goals in the first cell"
    )
    assert re.search(r"CPU time:? about [\d.]+ s", opening), (
        "no measured CPU time in the first cell"
    )
    assert re.search(r"seed|lecture", opening, re.IGNORECASE)
    closing = " ".join(source(c) for c in notebook_cells[-3:] if c["cell_type"] == "markdown")
    assert re.search(r"summary", closing, re.IGNORECASE)
    assert "exercises/" in closing


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_assert_cells_are_hidden_from_book_and_slides(path):
    asserted = 0
    for index, cell in enumerate(cells(path)):
        if cell["cell_type"] != "code" or not ASSERT_STATEMENT.search(source(cell)):
            continue
        asserted += 1
        metadata = cell.get("metadata", {})
        assert "remove-cell" in metadata.get("tags", []), f"assert cell {index} lacks remove-cell"
        assert metadata.get("slideshow", {}).get("slide_type") == "skip", f"cell {index} not skip"
    assert asserted >= 3, f"{path.name} asserts too few of its claims"


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_every_exercise_has_a_solution_with_the_same_checks(path):
    solution = ROOT / "exercises" / "solutions" / path.name
    assert solution.exists(), f"no solution for {path.name}"

    def check_sources(p):
        return [source(c) for c in cells(p) if "check" in c.get("metadata", {}).get("tags", [])]

    stub_checks = check_sources(path)
    assert len(stub_checks) >= 2
    assert stub_checks == check_sources(solution)
    stubs = [source(c) for c in cells(path) if "raise NotImplementedError" in source(c)]
    assert len(stubs) == len(stub_checks)


def test_every_lecture_notebook_is_in_the_readme_course_map():
    readme = (ROOT / "README.md").read_text()
    for path in LECTURES + EXERCISES:
        assert path.name in readme, f"{path.name} is missing from the README's course map"
