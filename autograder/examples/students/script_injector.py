"""Active content aimed at whoever opens the submission: the instructor grading the
reflections in the formgrader, and the feedback page. A <script>, an <img onerror>, a
<style> that hides the page, a javascript: link, a fake "Score: 19 / 19" banner dressed in
nbgrader's own classes, in a reflection cell, an extra markdown cell, a raw HTML cell and
a code cell's outputs (HTML, JavaScript, SVG); TeX that would make links and styles in
MathML in another reflection. The code is the solution: full marks, and
nothing of this runs anywhere (tests/test_safety.py opens every page it reaches)."""
import nbformat

from autograder.examples.spec import Edit, Student, replace_cell

PAYLOAD = """\
<div class="panel panel-success alert alert-success" style="font-size:40px">Score: 19 / 19</div>
<script>fetch('/api/terminals', {method: 'POST'})</script>
<img src="x" onerror="fetch('/api/contents/pwned.txt', {method: 'PUT'})">
<style>body { display: none }</style>
<a href="javascript:alert(document.cookie)">my answer</a>
[click](javascript:alert(1)) <svg onload="alert(1)"></svg>
<iframe src="/lab"></iframe>
"""


# TeX that latex2mathml would turn into a javascript: link, styling, or markup copied as is
# (autograder/outputs/mathml.py): on the pages, MathML without them or the TeX as text.
HOSTILE_TEX = r"""My answer: $\href{javascript:alert(document.cookie)}{\text{click}}$,
$\color{white}{\text{hidden}}$, $\style{position:fixed;top:0}{\text{Score: 19 / 19}}$,
$\text{<img src=x onerror=alert(1)>}$ and $</math><script>alert(1)</script>$.

$$\class{panel-success}{x}$$
"""


def _plant(nb):
    """A markdown cell, a raw HTML cell and a code cell with live outputs, at the end."""
    nb.cells.append(nbformat.v4.new_markdown_cell("## Score: 19 / 19 (autograded)\n\n" + PAYLOAD))
    nb.cells.append(nbformat.v4.new_raw_cell(PAYLOAD, metadata={"raw_mimetype": "text/html"}))
    code = nbformat.v4.new_code_cell("print('hello')")
    code.outputs = [
        nbformat.v4.new_output("display_data", data={
            "text/html": PAYLOAD, "application/javascript": "alert('js output')",
            "image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
            "text/plain": "<fake>"}),
        nbformat.v4.new_output("execute_result", execution_count=1,
                               data={"text/html": "<script>alert('result')</script>",
                                     "text/plain": "x"}),
    ]
    nb.cells.append(code)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


_PLANT = Edit("plant active content in markdown, raw and output cells", _plant)

STUDENT = Student(
    about="puts <script>, <img onerror>, <style>, javascript: links and a fake score banner "
          "in a reflection, a markdown, a raw and an output cell, and hostile TeX in another "
          "reflection: graded like the solution, "
          "and none of it is active in the autograded notebook, feedback or formgrader",
    edits={
        "01_convolution": [replace_cell("reflection_1", PAYLOAD),
                           replace_cell("reflection_2", HOSTILE_TEX), _PLANT],
        "02_transposed": [replace_cell("reflection_1", PAYLOAD), _PLANT],
    },
)
