"""The student's path in a real browser (issue 16): the archive from `convlab release`,
opened by its start.py in JupyterLab, driven in chromium as a student clicks through it.

One notebook (04) is run from top to bottom with every exercise a stub; 01 runs up to
its first check (its animation and explorer come before it) and is validated; every
notebook gets one exercise pasted, first with a named mistake, then right. Every
assertion reads what the page shows.
"""
from __future__ import annotations

import re
import time

import nbformat
import pytest

from browser_helpers import (ROOT, cell, execution_count, open_notebook, output_text,
                             paste, raw_math, run_cells, run_menu, select, shoot, wait_for_math,
                             wait_until_done)

pytestmark = pytest.mark.browser

# One exercise per notebook: its solution with one edit, and the mistake the check names.
MISTAKES = {
    "01_convolution": ("conv_output_size", "(n + 2 * padding - k) // stride + 1",
                       "(n + padding - k) // stride + 1", "padding counted on one side only"),
    "02_transposed": ("conv_transpose_output_size", "+ output_padding + 1", "+ 1",
                      "output_padding ignored"),
    "03_atrous": ("effective_kernel_size", "return dilation * (k - 1) + 1", "return dilation * k",
                  "d*k instead of d(k - 1) + 1"),
    "04_gridding": ("dependency_map", "return paths[:, None] * paths[None, :]",
                    "return ((paths[:, None] * paths[None, :]) > 0).to(torch.int64)",
                    "reachability (0/1) instead of path counts"),
    "05_hdc": ("hdc_max_distances", "max(m - 2 * r, m - 2 * (m - r), r)",
               "max(m - 2 * r, m - 2 * (m - r))", "term r_i dropped from the max"),
}
TRACEBACK = "Traceback (most recent call last)"


def _solution(assignment: str, grade_id: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    (source,) = [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return "\n".join(l for l in source.splitlines() if "### BEGIN SOLUTION" not in l
                     and "### END SOLUTION" not in l)


class Layout:
    """Where things are in the archive's notebook (cell i of the file is cell i of the page)."""

    def __init__(self, course, assignment: str):
        self.path = f"notebooks/{assignment}/{assignment}.ipynb"
        self.cells = nbformat.read(course / self.path, as_version=4).cells
        ids = [c.metadata.get("nbgrader", {}).get("grade_id", "") for c in self.cells]
        self.index = {g: i for i, g in enumerate(ids) if g}
        self.tests = [i for i, g in enumerate(ids) if g.startswith("test_")]
        self.code = [i for i, c in enumerate(self.cells) if c.cell_type == "code"]

    def containing(self, text: str) -> int:
        return next(i for i in self.code if text in self.cells[i].source)

    def name(self, test: int) -> str:
        return self.cells[test].metadata["nbgrader"]["grade_id"].removeprefix("test_")


@pytest.fixture
def page(browser, student_lab):
    opened = browser.page()
    yield opened
    opened.close()
    student_lab.server.shut_down_kernels()


def _opened(page, student_lab, assignment: str) -> Layout:
    layout = Layout(student_lab.course, assignment)
    open_notebook(page, student_lab.server, layout.path)
    wait_for_math(page)
    assert not raw_math(page), f"{assignment}: math MathJax left as typed: {raw_math(page)[:5]}"
    return layout


def _mistake_then_answer(page, layout: Layout, assignment: str, shot: str | None = None) -> None:
    """Paste the named mistake, run the exercise and its check, read the check's message;
    then the right answer, and read that it passes."""
    exercise, right, wrong, mistake = MISTAKES[assignment]
    solution = _solution(assignment, exercise)
    assert right in solution, f"{assignment}: the solution of {exercise} changed; update MISTAKES"
    answer, check = layout.index[exercise], layout.index[f"test_{exercise}"]
    paste(page, answer, solution.replace(right, wrong))
    run_cells(page, answer, check)
    said = output_text(page, check)
    assert f"Likely mistake: {mistake}." in said, said
    assert f"Run All stopped here: {exercise}" in said, said
    if shot:
        cell(page, check).scroll_into_view_if_needed()
        shoot(cell(page, check), shot)
    paste(page, answer, solution)
    run_cells(page, answer, check)
    said = output_text(page, check)
    assert re.search(rf"{re.escape(exercise)}: all \d+ cases pass", said), said
    assert "mistake" not in said


def _settled(output, quiet: float = 1.5) -> None:
    """Until the figure has stayed the same picture for ``quiet`` seconds."""
    last, since = _image_source(output), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.25)
        now = _image_source(output)
        if now != last:
            last, since = now, time.monotonic()


def _image_source(output) -> str:
    image = output.locator("img").first
    image.wait_for()
    return image.get_attribute("src")


def test_01_stops_at_its_first_check_animates_slides_names_a_mistake_and_validates(page, student_lab):
    layout = _opened(page, student_lab, "01_convolution")
    shoot(page.pw, "notebook")
    run_menu(page, "Run All Cells")
    wait_until_done(page)
    first = layout.tests[0]
    assert output_text(page, first).startswith(
        f"Run All stopped here: {layout.name(first)} is not done yet. Write it in the cell above, "
        "then run this cell again."), output_text(page, first)
    ran = [i for i in layout.code if execution_count(page, i) is not None]
    assert ran == [i for i in layout.code if i <= first], "Run All did not stop at the first check"
    for i in ran[:-1]:
        assert TRACEBACK not in output_text(page, i), (i, output_text(page, i)[:500])

    # The animation's frames: the next-frame button shows another picture.
    animation = cell(page, layout.containing("animate_conv(")).locator(".jp-Cell-outputArea")
    animation.scroll_into_view_if_needed()
    before = _image_source(animation)
    animation.locator("button[title='Next frame']").click()
    animation.locator("button[title='Next frame']").click()
    assert _image_source(animation) != before, "the animation's next frame is the same picture"
    shoot(animation, "animation")

    # The explorer: moving a slider redraws the figure.
    explorer = cell(page, layout.containing("explore_convolution(")).locator(".jp-Cell-outputArea")
    explorer.scroll_into_view_if_needed()
    before = _image_source(explorer)
    slider = explorer.locator(".widget-slider").first
    value = slider.locator(".widget-readout").inner_text()
    slider.locator(".noUi-handle, input[type=range]").first.focus()
    page.pw.keyboard.press("ArrowRight")
    assert slider.locator(".widget-readout").inner_text() != value, "the slider did not move"
    page.pw.wait_for_function(
        "([el, old]) => { const i = el.querySelector('img'); return i && i.src !== old; }",
        arg=[explorer.element_handle(), before], timeout=30_000)
    _settled(explorer)
    shoot(explorer, "slider")

    _mistake_then_answer(page, layout, "01_convolution", shot="failing-check")

    # nbgrader's Validate button: one exercise done, so validation fails naming the rest.
    page.pw.locator(".jp-Toolbar button, .jp-Toolbar .jp-ToolbarButtonComponent",
                    has_text="Validate").first.click()
    dialog = page.pw.locator(".jp-Dialog")
    dialog.wait_for(timeout=120_000)
    said = dialog.inner_text()
    assert "The following cell failed" in said and "check_corr2d(corr2d)" in said, said
    assert "check_conv_output_size" not in said, said  # the one exercise done passes
    dialog.locator("button").last.click()

    assert page.pw.get_by_text(re.compile(r"Jupyter news", re.I)).count() == 0, "the news pop-up showed"
    page.assert_no_errors()


def test_04_runs_to_the_end_with_stubs_stopping_at_each_check(page, student_lab):
    layout = _opened(page, student_lab, "04_gridding")
    run_menu(page, "Run All Cells")
    wait_until_done(page)
    for position, test in enumerate(layout.tests):
        said = output_text(page, test)
        assert said.startswith(f"Run All stopped here: {layout.name(test)} is not done yet."), (test, said)
        later = [i for i in layout.code if i > test]
        if position + 1 < len(layout.tests):
            assert execution_count(page, later[0]) is None, f"the run went on past cell {test}"
        # The student's next step, as the message says: Run Selected Cell and All Below.
        if later:
            select(page, test + 1)
            run_menu(page, "Run Selected Cell and All Below")
            wait_until_done(page)
    assert all(execution_count(page, i) is not None for i in layout.code)
    outputs = {i: output_text(page, i) for i in layout.code if i not in layout.tests}
    assert not [i for i, text in outputs.items() if TRACEBACK in text], outputs
    waiting = [i for i, text in outputs.items() if "⏸ Not run yet" in text]
    # The first figure after dependency_map's check needs it, and says so instead of drawing.
    first_after = min(i for i in outputs if i > layout.index["test_dependency_map"])
    assert first_after in waiting and "dependency_map" in outputs[first_after], outputs[first_after]
    _mistake_then_answer(page, layout, "04_gridding")
    page.assert_no_errors()


@pytest.mark.parametrize("assignment", ["02_transposed", "03_atrous", "05_hdc"])
def test_a_check_names_a_pasted_mistake_then_passes(page, student_lab, assignment):
    layout = _opened(page, student_lab, assignment)
    run_cells(page, layout.code[0])  # the imports
    _mistake_then_answer(page, layout, assignment)
    page.assert_no_errors()
