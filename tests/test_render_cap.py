"""The formgrader and feedback pages render at most a capped size per cell
(autograder/outputs/render_cap.py), whatever a hostile notebook holds."""
from __future__ import annotations

import base64

import nbformat
from nbformat import v4
from traitlets.config import Config

from autograder.outputs.render_cap import CapRender, output_size
from convlab.cli import repo_root

ROOT = repo_root()


def _hostile() -> nbformat.NotebookNode:
    """A huge printed output, a huge image, a huge markdown cell, a huge code cell."""
    nb = v4.new_notebook()
    printed = v4.new_code_cell("print('A' * 3_000_000)")
    printed.outputs = [v4.new_output("stream", name="stdout", text="A" * 3_000_000)]
    image = v4.new_code_cell("show()")
    image.outputs = [v4.new_output("display_data", data={
        "image/png": base64.b64encode(b"\x89PNG" + b"\0" * 2_000_000).decode(),
        "text/plain": "<Figure>"})]
    small = v4.new_code_cell("1 + 1")
    small.outputs = [v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)]
    nb.cells = [printed, image, small,
                v4.new_markdown_cell("# Title\n" + "<b>x</b> " * 200_000),
                v4.new_code_cell("s = '" + "B" * 1_000_000 + "'")]
    return nb


def test_each_cell_is_cut_to_the_caps_with_a_note():
    cap = CapRender(max_source_chars=1000, max_output_bytes=10_000)
    nb, _ = cap.preprocess(_hostile(), {})
    printed, image, small, markdown, code = nb.cells
    for cell in (printed, image):
        assert len(cell.outputs) == 1 and cell.outputs[0].output_type == "stream"
        assert output_size(cell.outputs[0]) < 10_000
        assert "at most 9 KiB of a cell's outputs" in cell.outputs[0].text
    assert printed.outputs[0].text.startswith("A" * 5000)
    assert "image/png" not in str(image.outputs)
    assert small.outputs[0].data == {"text/plain": "2"}  # under the cap: as it was
    assert markdown.source.endswith("*[The page shows the first 1000 of this cell's "
                                    "1800008 characters.]*")
    assert "<b>" not in markdown.source and len(markdown.source) < 1000 * 4 + 100
    assert code.source == "s = '" + "B" * 995 + "\n# [The page shows the first 1000 of this " \
                          "cell's 1000006 characters.]"


def test_pages_rendered_with_the_course_config_stay_small():
    from nbconvert import HTMLExporter

    from autograder.run.workspace import course_config

    config, _ = course_config(ROOT)
    assert "autograder.outputs.render_cap.CapRender" in config.HTMLExporter.preprocessors
    plain = Config(config)
    plain.HTMLExporter.template_name = "classic"  # the cap, not the course template, tested
    page, _ = HTMLExporter(config=plain).from_notebook_node(_hostile())
    # 3 MB of print, 2.7 MB of image, 1.6 MB of markdown, 1 MB of code in the notebook.
    assert len(page) < 1_500_000
    assert page.count("The page shows at most 256 KiB of a cell") == 2
    assert "The page shows the first 100000 of this cell" in page
