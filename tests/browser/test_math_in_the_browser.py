"""Chromium renders the MathML a feedback page carries (autograder/outputs/mathml.py) with
no script and no file beside the page: a page of markdown2html's output, under the
pages' Content-Security-Policy, opened alone from the disk as a student opens what
`nbgrader release_feedback` handed back."""
from __future__ import annotations

import pytest

from autograder.safe_html import csp_meta, markdown2html

pytestmark = pytest.mark.browser


class Context(dict):
    pass


def test_chromium_lays_out_the_formulas_of_a_page_opened_alone(browser, tmp_path):
    body = markdown2html(Context(cell={}), "A fraction $\\frac{a}{b}$ and $x_i^2$.\n\n"
                         "$$\\sum_{k=0}^{K-1} w_k\\,x_{n-k}$$")
    page_file = tmp_path / "alone" / "01_convolution.html"
    page_file.parent.mkdir()
    page_file.write_text(csp_meta("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
                                  "<title>feedback</title></head>")
                         + f"<body>{body}</body></html>", encoding="utf-8")
    page = browser.page()
    requests: list[str] = []
    page.pw.on("request", lambda r: requests.append(r.url))
    try:
        page.pw.goto(page_file.as_uri())
        layout = page.pw.evaluate("""() => {
            const box = e => e.getBoundingClientRect();
            const maths = [...document.querySelectorAll('math')];
            const frac = document.querySelector('mfrac');
            const [num, den] = frac.children;
            const sup = document.querySelector('msubsup');
            return {
                count: maths.length,
                mathml: maths.every(m => m instanceof MathMLElement),
                numeratorAbove: box(num).bottom <= box(den).top + 1,
                sameColumn: Math.abs(box(num).left - box(den).left) < box(frac).width,
                scriptsSmaller: box(sup.children[1]).height < box(sup.children[0]).height,
                // MathML Core's own layout (not a script's): display "math", "block math".
                inline: getComputedStyle(maths[0]).display,
                display: getComputedStyle(maths[2]).display,
            };
        }""")
        assert layout == {"count": 3, "mathml": True, "numeratorAbove": True,
                          "sameColumn": True, "scriptsSmaller": True,
                          "inline": "math", "display": "block math"}, layout
        assert requests == [page_file.as_uri()], requests  # nothing loaded for the math
        page.assert_no_errors()
    finally:
        page.close()
