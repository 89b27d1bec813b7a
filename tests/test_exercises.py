"""Exercise checks in both directions.

Solutions pass every check: they run under nbval with the lectures (make test).
Here: every stub fails its check with the friendly message, and nothing else.
"""

import re
from pathlib import Path

import nbformat
import pytest

from lecture_lib.grading import execute_cells, is_check

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_every_stub_fails_its_check_with_the_friendly_message(path):
    notebook = nbformat.read(path, as_version=4)
    assert execute_cells(notebook, path.parent, timeout=600) is None, "the stub did not finish"
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if not is_check(cell):
            assert not errors, f"a non-check cell raised: {cell.source!r}: {errors}"
            continue
        assert len(errors) == 1, f"check cell did not fail: {cell.source!r}"
        error = errors[0]
        assert error.ename == "CheckFailed"
        shown = ANSI.sub("", "\n".join(error.traceback))
        for part in ("expected:", "got:", "hint:", "NotImplementedError"):
            assert part in shown, f"{part!r} missing from the message of {cell.source!r}"
        assert "Traceback" not in shown and 'File "' not in shown, "traceback noise in the message"
