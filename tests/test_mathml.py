"""Markdown's formulas are MathML in the page itself (autograder/outputs/mathml.py, built in
autograder/safe_html.py's markdown2html), so a feedback page handed back alone by
`nbgrader release_feedback` (its .html files only) renders them; hostile TeX makes no
active content, and a student's own MathML is refused as before. The feedback page also
shows the late policy's line (autograder/score/lateness.py)."""
from __future__ import annotations

from html import unescape
import re
import shutil

import nbformat
import pytest

from autograder.outputs.mathml import ATTRIBUTES, ELEMENTS, MAX_TEX_CHARS, to_mathml
from autograder.safe_html import (SanitizeSubmission, _Formulas, _render_markdown,
                                  active_content, markdown2html)
from convlab.cli import repo_root

ROOT = repo_root()


class Context(dict):
    pass


def _html(source: str) -> str:
    return markdown2html(Context(cell={}), source)


def _maths(page: str) -> list[str]:
    return re.findall(r"<math\b.*?</math>", page, re.S)


def _formulas(source: str, attachments=None) -> list[tuple[str, bool, str]]:
    """The formulas markdown2html's parser finds in ``source``: (TeX, display, as text)."""
    formulas = _Formulas()
    _render_markdown(source, attachments or {}, formulas)
    return formulas.items


# --- the course's own math -------------------------------------------------------------

def test_every_formula_of_the_course_becomes_mathml_with_no_fallback():
    count = 0
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for tex, display, _ in _formulas(cell.source, cell.get("attachments")):
                count += 1
                assert to_mathml(tex, display) is not None, (path.name, tex)
    assert count > 300, count  # the course's notebooks hold hundreds of formulas


def test_conversions_in_full():
    assert to_mathml(r"\frac{a}{b}") == (
        '<math display="inline"><mrow><mfrac><mrow><mi>a</mi></mrow><mrow><mi>b</mi></mrow>'
        '</mfrac></mrow></math>')
    assert to_mathml("x_i^2", display=True) == (
        '<math display="block"><mrow><msubsup><mi>x</mi><mi>i</mi><mn>2</mn></msubsup>'
        '</mrow></math>')
    assert to_mathml(r"\left(x\right)") == (
        '<math display="inline"><mrow><mrow><mo fence="true" form="prefix" stretchy="true">('
        '</mo><mi>x</mi><mo fence="true" form="postfix" stretchy="true">)</mo></mrow></mrow>'
        '</math>')


def test_markdown_math_of_each_kind_in_a_page():
    html = _html("Inline $a<b$, \\\\(c\\\\), display\n\n$$\\sum_k w_k$$\n\n"
                 "\\begin{equation}x+1\\end{equation}")
    assert "$" not in html and "\\begin" not in html, html
    assert [m.split(">", 1)[0] for m in _maths(html)] == [
        '<math display="inline"', '<math display="inline"', '<math display="block"',
        '<math display="block"']
    assert '<mi>a</mi><mo>&lt;</mo><mi>b</mi>' in html
    assert not active_content(html)


def test_math_in_an_attribute_is_its_tex_as_text():
    # An image's alt text and a heading's anchor are attributes: MathML there would break
    # out of the quotes; the TeX is shown there, escaped.
    html = _html('![$a>b$ "q"](p.png)\n\n## The $x$ case')
    assert 'alt="$a&gt;b$ &quot;q&quot;"' in html or 'alt="$a>b$ &quot;q&quot;"' in html, html
    assert 'id="The-$x$-case"' in html
    assert len(_maths(html)) == 1  # the heading's text
    assert not active_content(html)


def test_a_formula_that_cannot_be_built_stays_the_escaped_tex_it_was():
    # latex2mathml copies \text{...} into its markup unescaped: malformed, refused.
    html = _html("Before $\\text{a<b}$ and $y$")
    assert "$\\text{a&lt;b}$" in html and len(_maths(html)) == 1
    long = "x+" * (MAX_TEX_CHARS // 2 + 1) + "y"
    assert to_mathml(long) is None
    assert f"${long}$" in _html(f"${long}$")
    assert to_mathml("{" * 200 + "x" + "}" * 200) is None  # nested too deep


# --- hostile TeX and the allow-list ----------------------------------------------------

HOSTILE_TEX = [
    r"\href{javascript:alert(1)}{x}",
    r"\color{white}{x}",
    r"\style{color:red;position:fixed}{x}",
    r"\class{btn-success}{x}",
    r"</math><script>alert(1)</script>",
    r"\text{<img src=x onerror=alert(1)>}",
    r"\mathrm{<svg onload=alert(1)>}",
    r"\text{</mtext><mglyph><style><img src=x onerror=alert(1)>}",
]


@pytest.mark.parametrize("tex", HOSTILE_TEX)
def test_hostile_tex_makes_no_active_content(tex):
    html = _html(f"Before ${tex}$ after\n\n$${tex}$$")
    assert not active_content(html), html
    for math in _maths(html):
        assert not re.search(r"\b(?:href|style|class|id|mathcolor|on\w+)=", math), math
        assert "<script" not in math and "<img" not in math, math
    assert "<script" not in html and "<img" not in html and "<svg" not in html


def test_href_color_and_style_are_dropped_and_their_text_kept():
    assert to_mathml(r"\href{javascript:alert(1)}{x}") == (
        '<math display="inline"><mrow><mrow><mrow><mi>x</mi></mrow></mrow></mrow></math>')
    assert to_mathml(r"\color{white}{x}") == (
        '<math display="inline"><mrow><mstyle><mrow><mi>x</mi></mrow></mstyle></mrow></math>')
    assert to_mathml(r"\style{color:red}{x}") == (
        '<math display="inline"><mrow><mrow><mi>x</mi></mrow></mrow></math>')


def _converted_to(monkeypatch, markup: str) -> None:
    import latex2mathml.converter

    monkeypatch.setattr(latex2mathml.converter, "convert", lambda tex, display: markup)


MATHML = 'xmlns="http://www.w3.org/1998/Math/MathML"'


@pytest.mark.parametrize("inner", [
    '<semantics><mi>x</mi><annotation-xml encoding="text/html"><img xmlns="" src="x" '
    'onerror="alert(1)"/></annotation-xml></semantics>',
    "<mglyph/>", "<maction><mi>x</mi></maction>",
    '<mi><style xmlns="http://www.w3.org/1999/xhtml">*{}</style></mi>',
    '<svg xmlns="http://www.w3.org/2000/svg"/>',
])
def test_an_element_outside_the_allow_list_refuses_the_formula(monkeypatch, inner):
    _converted_to(monkeypatch, f"<math {MATHML}>{inner}</math>")
    assert to_mathml("x") is None
    assert "$x$" in _html("$x$") and not _maths(_html("$x$"))


def test_attributes_outside_the_allow_list_or_with_bad_values_are_dropped(monkeypatch):
    _converted_to(monkeypatch, (
        f'<math {MATHML} xmlns:xlink="http://www.w3.org/1999/xlink" display="block">'
        '<mi href="javascript:alert(1)" style="color:red" class="btn" id="top" '
        'onclick="alert(1)" mathcolor="white" mathbackground="red" xlink:href="javascript:1" '
        'mathvariant="bold">x</mi><mspace width="1em" height="expression(alert(1))"/>'
        '<mo stretchy="maybe" form="infix" lspace="0.2em">&lt;&amp;</mo></math>'))
    assert to_mathml("x") == (
        '<math display="block"><mi mathvariant="bold">x</mi><mspace width="1em"></mspace>'
        '<mo form="infix" lspace="0.2em">&lt;&amp;</mo></math>')


def test_the_allow_lists_hold_nothing_that_links_styles_or_runs():
    assert not {"semantics", "annotation", "annotation-xml", "mglyph", "maction"} & ELEMENTS
    assert not {"href", "style", "class", "id", "mathcolor", "mathbackground", "src",
                "xlink:href"} & set(ATTRIBUTES)
    assert not any(name.startswith("on") for name in ATTRIBUTES)
    for name, check in ATTRIBUTES.items():
        assert not check("javascript:alert(1)") and not check("1em;color:red"), name


def test_the_page_check_accepts_only_the_mathml_we_build():
    assert not active_content(to_mathml(r"\sqrt{x^2}"))
    for page in ('<math><mglyph></mglyph></math>', '<math><mi href="#x">x</mi></math>',
                 '<math><mi mathcolor="white">x</mi></math>',
                 '<math><semantics><annotation-xml></annotation-xml></semantics></math>',
                 '<math><mtext><table></table></mtext></math>'):
        assert active_content(page), page
    assert not active_content("<math></math><table></table>")  # left the math: plain HTML


# --- a student's own MathML, and placeholders ------------------------------------------

STUDENT_MATHML = "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>"


def test_a_students_raw_mathml_is_still_escaped_and_its_cell_fenced():
    html = _html(f"Answer $y$: {STUDENT_MATHML}")
    assert "&lt;math&gt;&lt;mtext&gt;" in html, html
    assert len(_maths(html)) == 1 and "<mi>y</mi>" in html  # only our $y$
    assert "<mglyph" not in html and "<style" not in html and "onerror" not in html
    assert not active_content(html)
    cell = nbformat.v4.new_markdown_cell(f"Answer: {STUDENT_MATHML} and $y$")
    SanitizeSubmission().preprocess_cell(cell, {}, 0)
    assert cell.source.startswith("*[This cell held HTML that could run or restyle the page")


def test_a_placeholder_a_student_types_is_text():
    other = _Formulas()
    typed = f"convlabmath{other.nonce}n0e"
    html = _html(f"$y$ and {typed} and convlabmath{'0' * 32}n0e")
    assert typed in html and f"convlabmath{'0' * 32}n0e" in html
    assert len(_maths(html)) == 1
    assert other.nonce != _Formulas().nonce  # drawn for each rendering


# --- a feedback page, handed back alone ----------------------------------------------

def test_the_course_config_and_templates_load_no_mathjax_for_feedback():
    from autograder.run.workspace import course_config

    config, _ = course_config(ROOT)
    assert not any("mathjax" in str(p).lower() for p in config.GenerateFeedback.preprocessors)
    assert "mathjax" not in str(config.HTMLExporter.get("mathjax_url", "")).lower()
    feedback = (ROOT / "autograder/templates/convlab/nbgrader_feedback.html.j2").read_text()
    assert "local_mathjax" not in feedback and "<script" not in feedback
    assert "| markdown2html" in feedback
    formgrade = (ROOT / "autograder/templates/convlab/nbgrader_formgrade.html.j2").read_text()
    assert "/static/jupyter_server_mathjax/MathJax.js" in formgrade


@pytest.mark.slow
def test_a_feedback_page_alone_renders_its_math_and_shows_lateness(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.run.workspace import Course, Workspace

    course = Course.load(ROOT, ["01_convolution"])
    ws = Workspace(ROOT, tmp_path / "course", course.template.gradebook)
    ws.config.LatePolicy.due_dates = {"01_convolution": "2027-01-15 23:59:00 UTC"}
    ws.config.LatePolicy.method = "per_hour"
    ws.config.LatePolicy.rate = 0.1
    ws.config.LatePolicy.cap = 0.5
    ws.config.LatePolicy.extensions_file = str(tmp_path / "extensions.csv")
    target = ws.folder("submitted", "ann", "01_convolution")
    target.mkdir(parents=True)
    nb = nbformat.read(ROOT / "notebooks" / "01_convolution" / "01_convolution.ipynb", as_version=4)
    nbformat.write(nb, target / "01_convolution.ipynb")
    (target / "timestamp.txt").write_text("2027-01-16 01:00:00 UTC\n")  # 1 h 1 min late
    assert ws.autograde("01_convolution", "ann")["success"]
    with Gradebook(f"sqlite:///{ws.gradebook}") as gradebook:
        assert gradebook.find_submission("01_convolution", "ann").total_seconds_late == 3660
        grade = gradebook.find_grade("reflection_1", "01_convolution", "01_convolution", "ann")
        grade.manual_score = 1.5
        gradebook.db.commit()
    assert ws.feedback("01_convolution", "ann")["success"]
    folder = ws.folder("feedback", "ann", "01_convolution")
    assert not (folder.parent.parent / "mathjax").exists()
    # As nbgrader's ExchangeReleaseFeedback hands it back: the .html file alone.
    alone = tmp_path / "handed_back"
    alone.mkdir()
    shutil.copy(folder / "01_convolution.html", alone)
    page = (alone / "01_convolution.html").read_text()

    formulas = [f for cell in nb.cells if cell.cell_type == "markdown"
                for f in _formulas(cell.source, cell.get("attachments"))]
    assert len(formulas) > 50
    maths = _maths(page)
    assert len(maths) >= len(formulas)
    for tex, display, shown in formulas:
        assert to_mathml(tex, display) in maths, tex
        assert shown not in page, shown  # no $...$ left to typeset
    # Nothing is loaded for math (nor any script at all): the page stands alone.
    assert "<script" not in page and not re.search(r"mathjax", page, re.I)
    assert not re.findall(r"<link\b[^>]*\bhref=", page)
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"|content="([^"]+)" '
                    r'http-equiv="Content-Security-Policy"', page)
    assert csp and "script-src 'none'" in unescape(csp.group(1) or csp.group(2))
    assert not active_content(page.split('id="notebook-container"', 1)[1])

    # The policy applied to the current score (1.5 given by hand): two started hours, 20 %.
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert ("Submitted 2027-01-16 01:00:00+00:00, due 2027-01-15 23:59:00+00:00: 1 h 1 min "
            "late, late penalty 0.3 points.") in text
    assert "Late submission penalty (Score: -0.3)" in text
