"""How the notebooks show their figures: what a sentence announces comes right after it,
and each notebook says in its first cell what its figures do before an exercise is done."""
from __future__ import annotations

import nbformat
import pytest

from convlab.cli import ASSIGNMENTS, repo_root

ROOT = repo_root()


def _cells(folder, assignment):
    return nbformat.read(ROOT / folder / assignment / f"{assignment}.ipynb", as_version=4).cells


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_sentence_ending_in_a_colon_is_followed_by_what_it_introduces(folder, assignment):
    # 03 once announced "The phases of a 6 x 6 image at rate 2:" and went on with the next
    # exercise's header; the figure came after that exercise.
    cells = _cells(folder, assignment)
    for cell, after in zip(cells, cells[1:]):
        if cell.cell_type == "markdown" and cell.source.rstrip().endswith(":"):
            answer = after.metadata.get("nbgrader", {}).get("solution", False)
            assert after.cell_type == "code" and not answer, (
                f"{assignment}: {cell.source.strip()[-70:]!r} is followed by {after.source[:60]!r}")
