"""What reaches grades.csv and feedback carries no other file's text and no path
(``autograder.scrub``), and a pasted attachment does not bloat the feedback
(``preprocessor.CapSubmission``). Fast: no grading."""
from __future__ import annotations

import base64
import sys
import tempfile

import nbformat

from autograder.judge.preprocessor import CapSubmission
from autograder.scrub import ERROR_CHARS, MESSAGE_CHARS, clip_error, scrub
from convlab.cli import repo_root

ROOT = repo_root()


def test_an_exception_text_is_clipped():
    text = "RuntimeError: " + "x" * 10_000
    clipped = clip_error(text)
    assert len(clipped) <= ERROR_CHARS and clipped.startswith("RuntimeError: xxx")
    assert clipped.endswith("(truncated)")
    assert clip_error("ValueError: short") == "ValueError: short" and clip_error(None) is None


def test_paths_become_placeholders():
    text = (f"raised OSError: {ROOT}/autograder/grader.py {sys.prefix}/bin/python "
            f"{tempfile.gettempdir()}/convlab-zygote-x/scratch /etc/passwd; shape 2/3, a/b")
    clean = scrub(text)
    assert str(ROOT) not in clean and sys.prefix not in clean and "/etc/" not in clean
    assert "<course>/autograder/grader.py" in clean and "<python>/bin/python" in clean
    assert "<tmp>/convlab-zygote-x/scratch" in clean and "<path>/passwd" in clean
    assert "shape 2/3, a/b" in clean  # not paths


def test_lines_of_the_graders_files_are_removed_and_messages_bounded():
    source = (ROOT / "autograder" / "judge" / "hidden_cases" / "__init__.py").read_text()
    clean = scrub("RuntimeError: " + source * 50)
    assert len(clean) <= MESSAGE_CHARS
    telling = [line.strip() for line in source.splitlines() if len(line.strip()) >= 30]
    assert telling and not [line for line in telling if line in clean]
    # the grader's own words are kept
    message = "corr2d: 3 of 25 hidden cases pass (cpu). First failing case:\ncorr2d(x, kernel)"
    assert scrub(message) == message


def _markdown_with_attachment(size: int):
    payload = base64.b64encode(b"\0" * size).decode()
    cell = nbformat.v4.new_markdown_cell("My figure: ![plot](attachment:plot.png)")
    cell["attachments"] = {"plot.png": {"image/png": payload}}
    return cell


def test_a_huge_attachment_is_removed_with_a_note_and_a_small_one_kept():
    cap = CapSubmission()
    big, _ = cap.preprocess_cell(_markdown_with_attachment(40 * 2**20), {}, 0)
    assert "attachments" not in big and "attachments of 53.3 MiB were removed" in big.source
    assert len(nbformat.writes(nbformat.v4.new_notebook(cells=[big]))) < 10_000
    small, _ = cap.preprocess_cell(_markdown_with_attachment(10_000), {}, 0)
    assert "plot.png" in small.attachments and "removed" not in small.source


def test_huge_markdown_is_cut_and_code_is_left_alone():
    cap = CapSubmission()
    text, _ = cap.preprocess_cell(nbformat.v4.new_markdown_cell("a" * 5_000_000), {}, 0)
    assert len(text.source) < 101_000 and "cut at 100000" in text.source
    code = nbformat.v4.new_code_cell("x = 1\n" * 100_000)
    same, _ = cap.preprocess_cell(code, {}, 0)
    assert same.source == "x = 1\n" * 100_000
