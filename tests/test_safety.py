"""Nothing a student wrote runs or renders as active content where anyone looks at it:
the autograded notebook, the feedback page, the formgrader's submission page, grades.csv,
the terminal (autograder/safe_html.py, autograder/safe_text.py, the "convlab" template).

The pages are checked without a browser: parsed with html.parser, they must hold no
script, style, frame, object, form or svg element and no on* / style attribute or
javascript: URL outside the page's own trusted head, and carry a Content-Security-Policy
whose script hashes are exactly the head's inline scripts."""
from __future__ import annotations

import base64
import copy
import csv
import hashlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from autograder.outputs.grades import Row, rows_of
from autograder.outputs.grades import write_csv as _write_csv
from autograder.outputs.summary import progress_line, summary_table
from autograder.run.job import CellResult, JobResult, problem_page
from autograder.run.workspace import TestCell as Cell
from autograder.examples.build import _notebook_for, course_notebooks, load_students
from autograder.safe_html import SanitizeSubmission, active_content, clean_html, markdown2html
from autograder.safe_text import csv_cell, terminal
from convlab.cli import repo_root

ROOT = repo_root()
BIN = Path(sys.executable).parent
PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    "<style>body{display:none}</style>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" JaVaScRiPt:alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "![x](javascript:alert(1))",
    '<svg><script>alert(1)</script></svg>',
    '<svg onload="alert(1)"></svg>',
    '<iframe src="/lab"></iframe>',
    '<object data="x.swf"></object>',
    '<form action="/api/terminals"><button>go</button></form>',
    '<div style="position:fixed;top:0">Score: 19 / 19</div>',
    '<div class="panel panel-success">Score: 19 / 19</div>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    "<!--><script>alert(1)</script>-->",
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<details open ontoggle="alert(1)">x</details>',
    '<img src="/logout">',
    '<img src="../../../api/terminals">',
    '![x](https://tracker.example/pixel.png)',
    # Dot segments a browser decodes (%2e is "." in a path): each resolves to /logout.
    '![x](%2e%2e/%2e%2e/%2e%2e/logout)',
    '<img src="%2E%2E/%2e./.%2E/logout">',
    '<img src="a/%2e%2e/%2e%2e%2f%2e%2e/logout">',
    '<img src="%252e%252e/logout">',
    '<img src="..%5c..%5clogout">',
]


def _body(page: str) -> str:
    return page.split("</head>", 1)[1] if "</head>" in page else page


def _head(page: str) -> str:
    return page.split("</head>", 1)[0]


def _csp(page: str) -> str:
    metas = re.findall(r"<meta[^>]*Content-Security-Policy[^>]*>", _head(page), re.I)
    assert len(metas) == 1, "exactly one CSP meta tag in <head>"
    content = re.search(r'content="([^"]*)"', metas[0]).group(1)
    return content.replace("&#x27;", "'").replace("&#39;", "'")


def _check_csp(page: str) -> None:
    """The CSP forbids inline scripts but the head's own (by hash), plugins, base/form
    hijacking; it comes before the first script."""
    policy = _csp(page)
    head = _head(page)
    assert head.lower().find("content-security-policy") < max(head.find("<script"), 0) or \
        "<script" not in head
    script_src = re.search(r"script-src ([^;]*)", policy).group(1).split()
    assert "'unsafe-inline'" not in script_src and "*" not in script_src
    assert "'none'" in re.search(r"object-src ([^;]*)", policy).group(1)
    assert "base-uri 'none'" in policy
    # Every inline script and handler of the page (nbgrader's own: the student's part is
    # checked to have none) is allowed by its hash, and nothing else is.
    inline = _inline_code(page)
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src, body[:80]
    assert len([s for s in script_src if s.startswith("'sha256-")]) == len(set(inline))


class _Code(HTMLParser):
    """Inline script bodies and on* handler values, as a browser would see them."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.code, self._script = [], None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.code += [v or "" for k, v in attrs if k.startswith("on")]
        if tag == "script" and "src" not in attributes and \
                attributes.get("type") != "text/x-mathjax-config":
            self._script = []

    def handle_data(self, data):
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.code.append("".join(self._script))
            self._script = None


def _inline_code(page: str) -> list[str]:
    parser = _Code()
    parser.feed(page)
    return parser.code


# nbgrader's score inputs inside graded cells carry these style attributes.
NBGRADER_STYLES = ("width: 4em;", "margin-left: 1em;", "width: 3em;")


def _student_part(page: str) -> str:
    """The notebook's cells: what comes after nbgrader's own heading, nav and TOC."""
    marker = 'id="notebook-container"'
    assert marker in page
    return page.split(marker, 1)[1]


# --- the sanitiser's policy ------------------------------------------------------------------

@pytest.mark.parametrize("payload", PAYLOADS)
def test_cleaned_markdown_holds_no_active_content(payload):
    class Context(dict):
        pass

    html = markdown2html(Context(cell={}), f"Before\n\n{payload}\n\nafter")
    assert not active_content(html), html
    assert "panel-success" not in re.sub(r"&lt;.*?&gt;", "", html)  # only as escaped text


@pytest.mark.parametrize("payload", ["[x](files/javascript:alert(1))", "[x](/files/javascript:alert(1))",
                                     "![x](files/http://evil.example/x.png)", "![x](files//evil.example/x.png)"])
def test_a_url_is_judged_after_the_templates_strip_files_prefix(payload):
    """nbgrader's templates pipe markdown2html's output through strip_files_prefix, which
    turns href="files/javascript:..." into href="javascript:...": no such URL survives."""
    from nbconvert.filters.strings import strip_files_prefix

    class Context(dict):
        pass

    html = strip_files_prefix(markdown2html(Context(cell={}), f"Before {payload} after"))
    assert not active_content(html), html
    assert 'href="javascript' not in html, html
    assert 'src="http' not in html and 'src="//' not in html, html


def test_the_checker_itself_finds_each_payload_before_cleaning():
    # Else the assertions above would pass vacuously.
    from autograder.safe_html import _render_markdown

    for payload in PAYLOADS:
        if "panel-success" in payload or payload.startswith("<!--"):
            continue
        assert active_content(_render_markdown(payload)), payload


def test_ordinary_markdown_keeps_its_formatting():
    class Context(dict):
        pass

    source = ("# Heading\n\nSome *emphasis*, `code`, a [link](https://pytorch.org) and\n\n"
              "| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\ndef f(x):\n    return x < 2\n```\n\n"
              "![dot](data:image/png;base64,iVBORw0KGgo=)\n\n$x_i < y$")
    html = markdown2html(Context(cell={}), source)
    for kept in ("<h1", "<em>", "<code>", 'href="https://pytorch.org"', "<table>", "<td>",
                 'class="highlight"', 'src="data:image/png;base64,iVBORw0KGgo="',
                 # the formula as MathML (autograder/outputs/mathml.py)
                 '<math display="inline"><mrow><msub><mi>x</mi><mi>i</mi></msub><mo>&lt;</mo>'
                 '<mi>y</mi></mrow></math>'):
        assert kept in html, kept
    assert not active_content(html)


def test_a_missing_attachment_is_text_not_a_crash():
    class Context(dict):
        pass

    html = markdown2html(Context(cell={"attachments": {}}), "![x](attachment:gone.png) <b>hi</b>")
    assert "gone.png" in html and not active_content(html)


def test_clean_html_drops_styles_and_handlers_and_keeps_code_highlighting():
    cleaned = clean_html('<span class="k" style="color:red" onclick="x()">def</span>'
                         '<span class="btn btn-success">x</span>')
    assert cleaned == '<span class="k">def</span><span>x</span>'


# --- the notebook itself -----------------------------------------------------------------------

def _injector_notebook():
    assignment = "01_convolution"
    released, solution = course_notebooks(ROOT)[assignment]
    student = load_students(["script_injector"])["script_injector"]
    nb, _, _ = student.edit(assignment, _notebook_for(student, released, solution))
    return nb


def _render_unsanitised(nb) -> str:
    """The notebook through nbconvert's stock classic template, its sanitising off: what
    any other tool would show."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="classic")
    exporter.sanitize_html = False
    return exporter.from_notebook_node(nb)[0]


def test_the_example_notebook_is_active_before_sanitising():
    assert active_content(_body(_render_unsanitised(_injector_notebook())))


def test_a_sanitised_notebook_is_inert_even_in_an_unsanitising_renderer():
    nb = _injector_notebook()
    nb, _ = SanitizeSubmission().preprocess(nb, {})
    assert "widgets" not in nb.metadata
    page = _render_unsanitised(nb)
    found = active_content(_body(page))
    assert not found, found
    assert "Score: 19 / 19" in page  # the student's words are still there, as text
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            assert not {"application/javascript", "image/svg+xml"} & set(data), data.keys()
            assert not active_content(data.get("text/html", ""))


def test_the_code_fence_cannot_be_closed_from_inside():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(
        "~~~\n</pre><script>alert(1)</script>\n~~~~~~\n<img src=x onerror=alert(2)>\n```\n"))
    nb, _ = SanitizeSubmission().preprocess(nb, {})
    assert not active_content(_body(_render_unsanitised(nb)))


@pytest.mark.parametrize("assignment", sorted(course_notebooks(ROOT)))
def test_sanitising_leaves_the_course_notebooks_alone(assignment):
    _, solution = course_notebooks(ROOT)[assignment]
    nb = nbformat.read(solution, as_version=4)
    before = copy.deepcopy(nb)
    nb, _ = SanitizeSubmission().preprocess(nb, {})
    assert [c.source for c in nb.cells] == [c.source for c in before.cells]


# --- the pages -----------------------------------------------------------------------------------

def _formgrader_exporter():
    """The exporter nbgrader's formgrader builds (FormgradeExtension.init_tornado_settings)
    from its own settings and the course's nbgrader_config.py, as `make lab` loads them."""
    from nbconvert import HTMLExporter
    from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension

    formgrader = FormgradeExtension()
    formgrader.initialize([], root=str(ROOT))
    return HTMLExporter(config=formgrader.config)


def _formgrade_page(nb) -> str:
    resources = {"assignment_id": "01_convolution", "notebook_id": "01_convolution",
                 "submission_id": "3f2b", "index": 0, "total": 1, "base_url": "",
                 "student": "script_injector", "last_name": None, "first_name": None,
                 "notebook_path": "autograder/work/autograded/x/01_convolution.ipynb"}
    return _formgrader_exporter().from_notebook_node(nb, resources=resources)[0]


def test_the_formgrader_page_of_an_unsanitised_notebook_runs_nothing_of_the_student():
    # Even without the preprocessor (a notebook autograded before it existed), the
    # template's filters clean markdown and outputs, and the CSP stands behind them.
    page = _formgrade_page(_injector_notebook())
    assert "Student&#x27;s answer" in page or "Student's answer" in page  # nbgrader's page
    found = active_content(_student_part(page), allowed_styles=NBGRADER_STYLES)
    assert not found, found
    # nbgrader's own nav (name toggles, tooltips) is active, and allowed by hash only.
    assert active_content(_body(page).split('id="notebook-container"')[0])
    _check_csp(page)
    assert "'unsafe-hashes'" in _csp(page)


def test_a_problem_page_is_escaped_and_forbids_scripts():
    page = problem_page("<script>alert(1)</script>", "01_convolution", "01_convolution",
                        (Cell("test_corr2d", 3.0),), "<img src=x onerror=alert(1)> broke")
    assert not active_content(_body(page))
    assert "script-src" not in _csp(page) and "default-src 'none'" in _csp(page)


def _autograded_injector(tmp_path):
    """A scratch course (autograder.run.workspace.Workspace) in which nbgrader's Autograde, with the
    course config, has graded the example student whose submission carries scripts."""
    from autograder.run.workspace import Course, Workspace
    from autograder.examples.build import build

    course = Course.load(ROOT, ["01_convolution"])
    ws = Workspace(ROOT, tmp_path / "course", course.template.gradebook)
    build(tmp_path / "built", ["script_injector"], root=ROOT)
    target = ws.folder("submitted", "script_injector", "01_convolution")
    target.mkdir(parents=True)
    source = tmp_path / "built" / "script_injector" / "01_convolution" / "01_convolution.ipynb"
    target.joinpath("01_convolution.ipynb").write_bytes(source.read_bytes())
    assert ws.autograde("01_convolution", "script_injector")["success"]
    return ws


@pytest.mark.slow
def test_autograded_notebook_feedback_and_formgrader_page_of_the_script_injector(tmp_path):
    """The real pipeline (nbgrader Autograde and GenerateFeedback with the course config)
    on the example student whose submission carries scripts."""
    ws = _autograded_injector(tmp_path)
    assert ws.feedback("01_convolution", "script_injector")["success"]

    autograded = (ws.folder("autograded", "script_injector", "01_convolution")
                  / "01_convolution.ipynb")
    nb = nbformat.read(autograded, as_version=4)
    assert not active_content(_body(_render_unsanitised(nb)))
    assert "widgets" not in nb.metadata

    feedback = (ws.folder("feedback", "script_injector", "01_convolution")
                / "01_convolution.html").read_text()
    assert not active_content(_body(feedback), allowed_styles=NBGRADER_STYLES), \
        active_content(_body(feedback))
    assert "Score: 19 / 19" in feedback
    # Its hostile TeX (reflection_2): MathML with no link or style, or the TeX as text.
    maths = re.findall(r"<math\b.*?</math>", feedback, re.S)
    assert len(maths) >= 4 and not [m for m in maths if re.search(r"\b(?:href|style|mathcolor)=", m)]
    assert "$\\text{&lt;img src=x onerror=alert(1)&gt;}$" in feedback
    _check_csp(feedback)

    page = _formgrade_page(nb)
    assert not active_content(_student_part(page), allowed_styles=NBGRADER_STYLES)
    _check_csp(page)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode("utf-8", "replace")


@pytest.mark.slow
def test_the_served_formgrader_page_of_the_script_injector_runs_nothing(tmp_path):
    """What the instructor's browser gets: `make lab`'s Jupyter server (the formgrader and
    autograder/jupyter_server_config.py), asked over HTTP for the script injector's
    autograded submission and for a file next to it."""
    from nbgrader.api import Gradebook

    ws = _autograded_injector(tmp_path)
    planted = ws.folder("autograded", "script_injector", "01_convolution") / "evil.html"
    planted.write_text("<script>alert(1)</script>")
    # The course's own config, pointed at this scratch course (nbgrader reads the cwd's).
    (ws.path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"load_subconfig({str(ROOT / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(ws.path)!r}\n"
        f"c.CourseDirectory.db_url = {f'sqlite:///{ws.gradebook}'!r}\n"
        "c.CourseDirectory.source_directory = 'source'\n"
        "c.CourseDirectory.release_directory = 'release'\n"
        "c.CourseDirectory.submitted_directory = 'submitted'\n"
        "c.CourseDirectory.autograded_directory = 'autograded'\n"
        "c.CourseDirectory.feedback_directory = 'feedback'\n")
    with Gradebook(f"sqlite:///{ws.gradebook}") as gradebook:
        submission = gradebook.find_submission_notebook("01_convolution", "01_convolution",
                                                        "script_injector").id
    port, token = _free_port(), "convlab-test"
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [BIN / "jupyter", "server", f"--port={port}", "--ip=127.0.0.1", "--no-browser",
         f"--ServerApp.root_dir={ws.path}", f"--IdentityProvider.token={token}",
         f"--config={ROOT / 'autograder' / 'jupyter_server_config.py'}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=ws.path, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                if _get(f"{base}/api/status?token={token}")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Jupyter server did not start"
            time.sleep(0.5)
        status, headers, page = _get(f"{base}/formgrader/submissions/{submission}/?token={token}")
        assert status == 200, log.read_text()[-3000:]
        assert "Score: 19 / 19" in page  # the student's banner is there, as inert text
        found = active_content(_student_part(page), allowed_styles=NBGRADER_STYLES)
        assert not found, found
        _check_csp(page)
        assert "frame-ancestors 'self'" in headers.get("Content-Security-Policy", "")
        # Math renders with no network: MathML in the page (outputs/mathml.py), and for
        # what stays TeX, MathJax from this server (templates/convlab/local_mathjax.html.j2).
        src = re.search(r'<script src="([^"]*MathJax\.js[^"]*)"', page).group(1)
        assert src.startswith("/static/jupyter_server_mathjax/MathJax.js"), src
        assert _get(f"{base}{src.split('?')[0]}?token={token}")[0] == 200
        status, headers, file = _get(f"{base}/formgrader/submissions/{submission}/evil.html?token={token}")
        assert status == 200 and "<script>" in file  # served as is, but in a sandbox
        assert headers["Content-Security-Policy"].startswith("sandbox;")
        assert headers["X-Content-Type-Options"] == "nosniff"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


# --- grades.csv and the terminal --------------------------------------------------------------

def test_csv_cells_never_start_a_formula(tmp_path):
    rows = [Row(s, "01_convolution", "test_corr2d", 1.0, 3.0, m) for s, m in [
        ('=HYPERLINK("https://evil.example","x")', "=1+1"),
        ("+44", "-2+3"), ("@SUM(A1)", "\tx"), ("ada", "\r=cmd"), ("bob", "fine"),
    ]]
    _write_csv(rows, tmp_path / "grades.csv")
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"https://evil.example\",\"x\")" in cells and "fine" in cells
    assert csv_cell("0.5") == "0.5" and csv_cell("-") == "'-"


def test_terminal_text_has_every_control_escaped():
    hostile = "a\x1b]52;c;ZXZpbA==\x07b\x1b[2J\x9b31m\u202etxt.exe\u2066\u200b\x08\r\x00"
    shown = terminal(hostile)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b]", shown)
    assert "\\x1b]52" in shown and "\\u202e" in shown
    assert terminal("tab\tand\nnewline") == "tab\tand\nnewline"


def test_progress_and_summary_escape_ids_and_problems():
    student = "ev\x1b[2Kil"
    result = JobResult(student, "01_convolution", (CellResult("t", 0.0, 1.0, "error", "x"),), {},
                       0.1, ("file \x1b]52;c;aGk=\x07.ipynb is bad",))
    table = summary_table(rows_of(result), ["01_convolution"])
    for text in (progress_line(1, 1, result), table):
        assert "\x1b" not in text and "\x07" not in text and "\\x1b" in text


# --- the formgrader's server side ---------------------------------------------------------------

def test_make_lab_loads_the_formgrader_hardening_and_keeps_the_other_extensions():
    from traitlets.config.loader import PyFileConfigLoader

    makefile = (ROOT / "Makefile").read_text()
    assert "--config=\"$(CURDIR)/autograder/jupyter_server_config.py\"" in makefile
    config = PyFileConfigLoader("jupyter_server_config.py",
                                path=str(ROOT / "autograder")).load_config()
    extensions = {"nbgrader.server_extensions.formgrader": True}  # from other config files
    merged = config.ServerApp.jpserver_extensions.get_value(dict(extensions))  # as traitlets merges
    assert merged == {"nbgrader.server_extensions.formgrader": True,
                      "autograder.formgrader_safety": True,
                      "autograder.score.hand_grading": True}


def test_submission_files_are_served_sandboxed_and_the_page_framed_only_by_jupyter():
    from nbgrader.server_extensions.formgrader import handlers

    from autograder.formgrader_safety import FILES_CSP, harden

    harden()
    harden()  # idempotent
    files = handlers.SubmissionFilesHandler
    policy = files.content_security_policy.fget(None)
    assert policy == FILES_CSP and policy.startswith("sandbox;") and "script" not in policy
    assert "default-src 'none'" in policy

    class Recorder:
        def __init__(self):
            self.headers = {}

        def set_header(self, name, value):
            self.headers[name] = value

    recorder = Recorder()
    files.set_extra_headers(recorder, "evil.html")
    assert recorder.headers["X-Content-Type-Options"] == "nosniff"
    page_policy = handlers.SubmissionHandler.content_security_policy.fget(None)
    assert "frame-ancestors 'self'" in page_policy and "object-src 'none'" in page_policy


def test_workspace_paths_built_from_an_id_stay_inside(tmp_path):
    from autograder.run.workspace import Workspace

    ws = Workspace.__new__(Workspace)  # only its path matters here
    ws.path = tmp_path
    assert ws.folder("autograded", "ada", "01_convolution") == \
        tmp_path / "autograded" / "ada" / "01_convolution"
    for student in ("..", "../..", "/etc"):
        with pytest.raises(ValueError):
            ws.folder("autograded", student, "01_convolution")
        with pytest.raises(ValueError):
            ws.forget(student)


# --- control characters in what pages and files show --------------------------------------------

def test_a_stream_with_escape_sequences_is_shown_as_text_not_styling():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text="Error: \x1b[8mhidden\x1b[0m \x1b[32mScore: 19 / 19\n"),
                    nbformat.v4.new_output("execute_result", execution_count=1,
                                           data={"text/plain": "'\x1b[41mred'"})]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("My answer \u202eevil\x1b[31m")]
    clean, _ = SanitizeSubmission().preprocess(nb, {})
    page = _render_unsanitised(clean)
    assert "\x1b" not in page and "\u202e" not in page
    assert 'class="ansi-' not in _student_part(page)  # no styling made from them
    assert "\\x1b[8mhidden" in page and "\\u202eevil" in page


def test_grades_csv_escapes_control_characters(tmp_path):
    rows = [Row("ada", "01_convolution", "test_corr2d", 0.0, 3.0,
                "ValueError: \x1b[2J\x1b]52;c;ZXZpbA==\x07 \u202egnp.exe\nline two")]
    _write_csv(rows, tmp_path / "grades.csv")
    raw = (tmp_path / "grades.csv").read_text(encoding="utf-8")
    assert "\x1b" not in raw and "\x07" not in raw and "\u202e" not in raw
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as handle:
        message = list(csv.DictReader(handle))[0]["message"]
    assert message == "ValueError: \\x1b[2J\\x1b]52;c;ZXZpbA==\\x07 \\u202egnp.exe\nline two"
