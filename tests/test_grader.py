"""The trusted grader: scores, messages, hidden cases, and its place in nbgrader.

Submissions are the course's own notebooks (solutions/, notebooks/) with answer cells
swapped for the variant under test; the last tests run the real ``nbgrader autograde``.
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import textwrap

import nbformat
import pytest
import torch

import convlab
from autograder.judge import hidden_cases
from autograder.examples.students.launderer import ANSWERS as LAUNDERED_01
from autograder.judge.grader import CellGrade, answer_cells, grade_notebook
from autograder.judge.preprocessor import GRADE_MIME, TestCell, write_grades
from autograder.sandbox import Limits
from convlab.checks import REGISTRY, evaluate
from convlab.checks.core import credit
from convlab.cli import repo_root

pytestmark = pytest.mark.slow

ROOT = repo_root()
ASSIGNMENTS = ("01_convolution", "02_transposed")
LIMITS = Limits(cell_seconds=3, case_seconds=2, memory_mb=400)


def _read(kind: str, assignment: str):
    return nbformat.read(ROOT / kind / assignment / f"{assignment}.ipynb", as_version=4)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def points_of(nb) -> dict[str, float]:
    return {_meta(c)["grade_id"]: float(_meta(c)["points"]) for c in nb.cells
            if _meta(c).get("grade") and not _meta(c).get("solution")}


def variant(assignment: str, answers: dict[str, str] | None = None, drop=(), kind="solutions"):
    """The ``kind`` notebook with some answer cells replaced and some cells dropped."""
    nb = copy.deepcopy(_read(kind, assignment))
    for cell in nb.cells:
        if _meta(cell).get("grade_id") in (answers or {}):
            cell.source = textwrap.dedent(answers[_meta(cell)["grade_id"]])
    nb.cells = [c for c in nb.cells if _meta(c).get("grade_id") not in drop]
    return nb


def grade(nb, assignment="01_convolution", points=None) -> dict[str, CellGrade]:
    points = points or points_of(_read("solutions", assignment))
    return {g.grade_id: g for g in grade_notebook(nb, assignment, points, limits=LIMITS)}


def judged_in_process(name: str, fn, key: hidden_cases.SeedKey | None = None):
    """(cases, results) of ``fn`` on the hidden cases, judged right here (no sandbox)."""
    exercise, cases = REGISTRY[name], hidden_cases.cases(name, None, key)
    results = []
    for case in cases:
        try:
            result = evaluate(exercise, case, got=exercise.call(fn, case))  # adapter, if any
        except Exception as exc:
            result = evaluate(exercise, case, error=exc)
        results.append(result)
    return cases, results


def passed_in_process(name: str, fn) -> tuple[int, int]:
    """How many hidden cases ``fn`` passes, judged right here (no sandbox)."""
    cases, results = judged_in_process(name, fn)
    return sum(r.passed for r in results), len(cases)


# --- the course's own notebooks ---------------------------------------------------------

@pytest.fixture(scope="module", params=ASSIGNMENTS)
def course_grades(request):
    assignment = request.param
    points = points_of(_read("solutions", assignment))
    return (assignment, points, grade(_read("solutions", assignment), assignment),
            grade(_read("notebooks", assignment), assignment))


def test_reference_solutions_get_full_marks(course_grades):
    assignment, points, solutions, _ = course_grades
    assert set(solutions) == set(points) and points
    for grade_id, result in solutions.items():
        assert result.score == result.max_score == points[grade_id], result.message
        assert "all" in result.message and "hidden cases pass" in result.message


def test_released_stubs_get_zero_saying_not_implemented(course_grades):
    _, points, _, stubs = course_grades
    for grade_id, result in stubs.items():
        assert result.score == 0 and result.max_score == points[grade_id]
        assert "not implemented" in result.message, result.message


def test_every_exercise_of_the_course_has_hidden_cases(course_grades):
    assignment, points, _, _ = course_grades
    names = {grade_id[len("test_"):] for grade_id in points}
    assert names <= hidden_cases.HIDDEN
    assert all(REGISTRY[name].assignment == assignment for name in names)


# --- messages and partial credit ----------------------------------------------------------

FLIPPED = '''
def corr2d(x, kernel):
    kernel = kernel.flip(0, 1)
    h, w = x.shape
    kh, kw = kernel.shape
    if kh > h or kw > w:
        raise ValueError("kernel larger than the input")
    out = x.new_zeros((h - kh + 1, w - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i:i + kh, j:j + kw] * kernel).sum()
    return out
'''

# Right for square kernels only: uses kh for both axes.
SQUARE_ONLY = FLIPPED.replace("    kernel = kernel.flip(0, 1)\n", "").replace("kh, kw = kernel.shape", "kh = kw = kernel.shape[0]")


@pytest.fixture(scope="module")
def mixed():
    """One submission, one problem per exercise."""
    nb = variant("01_convolution", {
        "corr2d": FLIPPED,
        "conv_output_size": "def conv_output_size(n, k, stride=1, padding=0):\n    return (n + 2 * padding - k) // stride\n",
        "conv2d_loops": "def conv2d_loops(x, weight, bias=None, stride=1, padding=0):\n"
                        "    return F.conv2d(x, weight, bias, stride, padding)\n",
        "im2col": '''
            def im2col(x, kernel_size, stride=1, padding=0):
                kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
                x = F.pad(x, (padding, padding, padding, padding))
                n, c, h, w = x.shape
                if kh > h or kw > w:
                    raise ValueError("kernel larger than the padded input")
                cols = []
                for i in range(0, h - kh + 1, stride):      # a loop over output rows ...
                    for j in range(0, w - kw + 1, stride):  # ... and columns: not vectorized
                        cols.append(x[:, :, i:i + kh, j:j + kw].reshape(n, -1))
                return torch.stack(cols, dim=-1)
        ''',
        "conv2d_im2col": "import convlab\nconv2d_im2col = convlab.conv2d_im2col\n",
    })
    return grade(nb)


def test_a_correct_fft_answer_passes_every_hidden_case_in_float32_too():
    # The convolution theorem is allowed in corr2d; its float32 rounding is not a mistake.
    def corr2d_fft(x, kernel):
        if x.dim() != 2 or kernel.dim() != 2:
            raise ValueError("x and kernel must be 2-D")
        (h, w), (kh, kw) = x.shape, kernel.shape
        if kh > h or kw > w:
            raise ValueError("kernel larger than the input")
        spectrum = torch.fft.rfft2(x, s=(h, w)) * torch.fft.rfft2(kernel.flip(0, 1), s=(h, w))
        return torch.fft.irfft2(spectrum, s=(h, w))[kh - 1:, kw - 1:]

    cases, results = judged_in_process("corr2d", corr2d_fft)
    assert any(c.args[0].dtype == torch.float32 for c in cases)
    assert all(r.passed for r in results), next(r.message for r in results if not r.passed)


def _lenient_output_size(n, k, stride=1, padding=0, output_padding=0, dilation=1):
    size = (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    return 0 if size == 0 else convlab.conv_transpose_output_size(n, k, stride, padding,
                                                                     output_padding, dilation)


def _empty_scatter(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    size = (x.shape[-1] - 1) * stride + weight.shape[-1] - 2 * padding + output_padding
    if size == 0:
        return x.new_zeros(x.shape[0], weight.shape[1], 0, 0)
    return convlab.conv_transpose2d_scatter(x, weight, bias, stride, padding, output_padding)


def _keras_zero_is_none(length, kernel, padding, stride, output_padding=None, dilation=1):
    return convlab.keras_deconv_output_length(length, kernel, padding, stride,
                                              output_padding or None, dilation)


def _kernel_within_the_unpadded_input(x, weight, bias=None, stride=1, padding=0):
    if weight.shape[-2] > x.shape[-2] or weight.shape[-1] > x.shape[-1]:
        raise ValueError("kernel larger than the input")
    return convlab.conv2d_loops(x, weight, bias, stride, padding)


def _dilate_unchecked(weight, dilation):
    o, i, kh, kw = weight.shape
    out = weight.new_zeros(o, i, (kh - 1) * dilation + 1, (kw - 1) * dilation + 1)
    out[:, :, ::dilation, ::dilation] = weight  # a step of 0 raises ValueError by itself
    return out


@pytest.mark.parametrize("name, slip", [
    ("dilate_kernel", _dilate_unchecked),  # no check: right only by accident at dilation 0
    ("conv_transpose_output_size", _lenient_output_size),  # returns 0 for a fully cropped output
    ("conv_transpose2d_scatter", _empty_scatter),  # returns an empty tensor for one
    ("keras_deconv_output_length", _keras_zero_is_none),  # output_padding=0 read as None
    ("conv2d_loops", _kernel_within_the_unpadded_input),  # padding ignored in the size check
])
def test_every_students_hidden_cases_catch_the_slips_that_random_draws_miss(name, slip):
    for student in ("ann", "ben", "cy", "dee", "eve"):
        key = hidden_cases.SeedKey(b"k" * 32, REGISTRY[name].assignment, student, "1")
        _, results = judged_in_process(name, slip, key)
        assert not all(r.passed for r in results), student


_IM2COL_BIAS_DROPPED = """
def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
    n, c_in, h, w = x.shape
    c_out, c_in_weight, kh, kw = weight.shape
    if c_in_weight != c_in:
        raise ValueError("channels differ")
    cols = im2col(x, (kh, kw), stride, padding)
    out = weight.reshape(c_out, -1) @ cols  # the bias is forgotten
    return out.reshape(n, c_out, (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1)
"""


def test_a_vectorized_answer_with_a_named_mistake_keeps_its_partial_credit_whole():
    # Its size-scaling result is wrong by the same named mistake as its hidden cases:
    # the measurement is trusted and nothing is halved. A loop with the same mistake is.
    looped = _IM2COL_BIAS_DROPPED.replace(
        "    out = weight.reshape(c_out, -1) @ cols  # the bias is forgotten\n",
        "    out = torch.stack([weight.reshape(c_out, -1) @ cols[i] for i in range(n)])\n")
    for source, halved in ((_IM2COL_BIAS_DROPPED, False), (looped, True)):
        grades = grade(variant("01_convolution", {"conv2d_im2col": source}))
        graded = grades["test_conv2d_im2col"]
        assert 0 < graded.passed < graded.total and "bias dropped" in graded.message, graded.message
        assert ("Score halved" in graded.message) == halved, graded.message
        assert graded.not_vectorized == halved


def test_an_answer_that_assumes_contiguous_inputs_fails_on_views():
    # as_strided with the strides of a contiguous tensor: right on those, wrong on a
    # transposed view; the hidden cases hold such views and the sandbox keeps their layout.
    strided = (
        "def corr2d(x, kernel):\n"
        "    (h, w), (kh, kw) = x.shape, kernel.shape\n"
        "    if x.dim() != 2 or kh > h or kw > w:\n"
        "        raise ValueError('kernel larger than the input')\n"
        "    windows = x.as_strided((h - kh + 1, w - kw + 1, kh, kw), (w, 1, w, 1))\n"
        "    return (windows * kernel).sum((2, 3))\n")
    graded = grade(variant("01_convolution", {"corr2d": strided}))["test_corr2d"]
    assert 0 < graded.score < graded.max_score, graded.message


def test_named_mistake_is_named(mixed):
    result = mixed["test_corr2d"]
    assert result.score < result.max_score
    assert "kernel flipped" in result.message
    assert "First failing case:\ncorr2d(" in result.message and "expected" in result.message
    size = mixed["test_conv_output_size"]
    assert size.score == 0 and "forgot the +1" in size.message


def test_partial_credit_is_points_times_the_fraction_passed():
    nb = variant("01_convolution", {"corr2d": SQUARE_ONLY})
    result = grade(nb)["test_corr2d"]
    namespace = {"torch": torch}
    exec(SQUARE_ONLY, namespace)
    passed, total = passed_in_process("corr2d", namespace["corr2d"])
    assert 0 < passed < total
    # The invalid-input cases count in proportion to the valid ones passed (credit).
    earned, _ = credit(*judged_in_process("corr2d", namespace["corr2d"]))
    assert earned < passed
    assert result.score == pytest.approx(result.max_score * earned / total, abs=1e-4)
    assert f"{passed} of {total} hidden cases pass" in result.message


def test_forbidden_call_scores_zero_naming_the_call(mixed):
    result = mixed["test_conv2d_loops"]
    assert result.score == 0
    assert "conv2d" in result.message.split("forbids")[0] and "forbids" in result.message


def test_reference_library_in_an_answer_scores_zero(mixed):
    result = mixed["test_conv2d_im2col"]
    assert result.score == 0 and "convlab" in result.message and "was not run" in result.message


def test_right_values_but_not_vectorized_get_half(mixed):
    result = mixed["test_im2col"]
    assert result.score == pytest.approx(result.max_score / 2)
    assert "not vectorized" in result.message and "grows with the input" in result.message


def test_message_shows_one_case_never_the_list(mixed):
    for result in mixed.values():
        assert result.message.count("\ncorr2d(") + result.message.count("\nim2col(") <= 1


# --- bad submissions cost only the exercises they touch ---------------------------------------

def test_hangs_crashes_and_bombs_cost_only_their_exercise():
    nb = variant("01_convolution", {
        "conv_output_size": "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n",
        "corr2d": "import os\ndef corr2d(x, kernel):\n    os._exit(1)\n",
        "conv2d_loops": "def conv2d_loops(x, weight, bias=None, stride=1, padding=0):\n    while True:\n        pass\n",
        "conv2d_im2col": "def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):\n"
                         "    hoard = []\n    while True:\n        hoard.append(bytearray(10**7))\n",
    })
    grades = grade(nb)
    assert grades["test_conv_output_size"].score == 0
    assert "did not finish within 3 s" in grades["test_conv_output_size"].message
    assert grades["test_corr2d"].score == 0 and "exit status 1" in grades["test_corr2d"].message
    assert grades["test_conv2d_loops"].score == 0
    assert "did not finish within 2 s" in grades["test_conv2d_loops"].message
    assert grades["test_conv2d_im2col"].score == 0 and "MemoryError" in grades["test_conv2d_im2col"].message
    untouched = grades["test_im2col"]
    assert untouched.score == untouched.max_score, untouched.message


def test_missing_answer_cell_syntax_error_and_renamed_function():
    nb = variant("01_convolution", {
        "corr2d": "def corr2d(x, kernel:\n    return x\n",
        "conv2d_loops": "def conv2d_loop(x, weight, bias=None, stride=1, padding=0):\n    return x\n",
    }, drop=("im2col",))
    grades = grade(nb)
    assert grades["test_corr2d"].score == 0 and "SyntaxError" in grades["test_corr2d"].message
    assert grades["test_conv2d_loops"].score == 0 and "is not defined" in grades["test_conv2d_loops"].message
    assert grades["test_im2col"].score == 0 and "missing" in grades["test_im2col"].message
    assert grades["test_conv_output_size"].score == grades["test_conv_output_size"].max_score


def test_a_status_comes_from_what_happened_not_from_what_a_message_says():
    nb = variant("01_convolution", {
        # Raised while the cell runs, with the stub's words: missing, not "not implemented".
        "conv_output_size": "raise RuntimeError('conv_output_size is not implemented yet')\n",
        # Words that the grader's notes are about, in an ordinary error: no note follows.
        "corr2d": "def corr2d(x, kernel):\n    raise ValueError('MemoryError NameError')\n",
        # The stub's exception with a message of its own is still the stub.
        "conv2d_loops": "def conv2d_loops(x, weight, bias=None, stride=1, padding=0):\n"
                        "    raise NotImplementedError('later')\n",
    })
    grades = grade(nb)
    assert grades["test_conv_output_size"].status == "missing"
    assert grades["test_corr2d"].status == "failed"
    assert "memory" not in grades["test_corr2d"].message.replace("MemoryError NameError", "")
    assert "Note:" not in grades["test_corr2d"].message
    assert grades["test_conv2d_loops"].status == "not_implemented"
    assert all(grades[g].score == 0 for g in ("test_conv_output_size", "test_corr2d", "test_conv2d_loops"))


def test_answer_cell_with_stripped_metadata_is_still_found():
    nb = variant("01_convolution")
    for cell in nb.cells:
        if _meta(cell).get("grade_id") == "corr2d":
            cell.metadata = {}
    cells, owner = answer_cells(nb, {"corr2d"})
    assert owner["corr2d"].label.startswith("#")
    result = grade(nb)["test_corr2d"]
    assert result.score == result.max_score, result.message


def test_monkeypatching_cells_outside_the_answers_change_nothing():
    nb = variant("01_convolution", {"corr2d": FLIPPED})
    nb.cells.insert(1, nbformat.v4.new_code_cell(
        "import convlab.checks as checks\nimport torch\n"
        "torch.allclose = lambda *a, **k: True\nchecks.check = lambda *a, **k: None\n"))
    assert grade(nb)["test_corr2d"].score == grade(variant("01_convolution", {"corr2d": FLIPPED}))["test_corr2d"].score


def test_unknown_test_cell_is_reported_not_crashed_and_gives_no_free_points():
    nb = variant("01_convolution")
    result = grade_notebook(nb, "01_convolution", {"test_something_else": 1.0}, limits=LIMITS)
    assert result == [CellGrade("test_something_else", 0.0, 1.0, result[0].message, "ungraded")]
    assert "not graded by the trusted grader" in result[0].message


# --- hidden cases ------------------------------------------------------------------------

def _key(student="ada", attempt="2024-03-01T10:00:00|0", assignment="01_convolution", secret=None):
    return hidden_cases.SeedKey(secret or bytes(range(32)), assignment, student, attempt)


def _values(cases) -> list:
    """Everything a case is made of, tensors as lists: two draws agree iff this does."""
    def plain(v):
        return (str(v.dtype), tuple(v.shape), v.tolist()) if isinstance(v, torch.Tensor) else repr(v)
    return [([plain(a) for a in c.args], {k: plain(v) for k, v in c.kwargs.items()}, repr(c.raises))
            for c in cases]


@pytest.mark.parametrize("name", sorted(hidden_cases.HIDDEN))
def test_hidden_cases_are_many_varied_fixed_per_key_and_not_the_visible_ones(name):
    cases = hidden_cases.cpu_cases(name, _key())
    again = hidden_cases.cpu_cases(name, _key())
    assert _values(cases) == _values(again)  # regrading the same submission: the same cases
    assert 20 <= len(cases) <= 40
    assert any(c.raises is ValueError for c in cases) and sum(c.raises is None for c in cases) >= 18
    # No valid call is a visible case, whatever the key (invalid calls may repeat one).
    visible = {hidden_cases._fingerprint(c) for c in REGISTRY[name].visible_cases()}
    assert not [c.describe(name) for c in cases if c.raises is None and hidden_cases._fingerprint(c) in visible]
    assert len({hidden_cases._fingerprint(c) for c in cases}) >= len(cases) - 2  # varied
    tensors = [v for c in cases for v in list(c.args) + list(c.kwargs.values()) if isinstance(v, torch.Tensor)]
    for t in tensors:
        assert t.numel() <= 2 * 4 * 12 * 12
    if tensors:
        assert {t.dtype for t in tensors} == {torch.float32, torch.float64}
    passed, total = passed_in_process(name, REGISTRY[name].reference)
    assert passed == total


def test_hidden_cases_are_secret_per_student_and_attempt():
    base = _values(hidden_cases.cpu_cases("corr2d", _key()))
    others = [_key(student="bob"), _key(attempt="2024-03-02T10:00:00|0"), _key(assignment="02_transposed"),
              _key(secret=bytes(range(1, 33)))]
    for key in others:  # another student, attempt, assignment or course secret: other cases
        assert _values(hidden_cases.cpu_cases("corr2d", key)) != base, key
    # the seed is an HMAC of the course secret: no key, no seed
    assert _key().seed("corr2d") != _key().seed("im2col")
    with pytest.raises(ValueError, match="128 bits"):
        hidden_cases.SeedKey(b"short", "01_convolution", "ada", "")
    assert "secret" not in repr(_key()) and repr(bytes(range(32))) not in repr(_key())


def test_the_course_secret_is_made_outside_the_repo_private_and_kept(tmp_path, monkeypatch):
    from autograder.secret import course_secret

    path = tmp_path / "config" / "convlab" / "course_secret"
    monkeypatch.setenv("CONVLAB_SECRET_FILE", str(path))
    first = course_secret()
    assert len(first) * 8 >= 128 and path.stat().st_mode & 0o777 == 0o600
    assert course_secret() == first  # kept: regrading draws the same cases
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        course_secret()
    path.chmod(0o600)
    path.write_text("abcd\n")
    with pytest.raises(ValueError, match="fewer than 128"):
        course_secret()
    monkeypatch.setenv("CONVLAB_SECRET_FILE", str(ROOT / "course_secret"))
    with pytest.raises(ValueError, match="inside the course folder"):
        course_secret()
    assert not (ROOT / "course_secret").exists()
    for path in (ROOT / "autograder").rglob("*"):  # nothing secret-looking in the repo
        assert "course_secret" != path.name


def test_what_students_run_needs_no_autograder():
    # The visible checks and the library import without the autograder package (the
    # student build made by `convlab release` has none), and no notebook names it.
    probe = ("import sys; sys.modules['autograder'] = None\n"
             "import convlab, convlab.checks\n"
             "assert not [m for m in sys.modules if m.startswith('autograder.')]\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    for path in (ROOT / "notebooks").rglob("*.ipynb"):
        assert "autograder" not in path.read_text(), path


def test_hidden_cases_live_only_in_the_autograder():
    probe = hidden_cases.cpu_cases("corr2d")[0].args[0]
    text = " ".join(repr(v) for v in probe.flatten()[:3].tolist())
    # lib/convlab/release is the instructor's bundle builder: it names hidden_cases only to
    # refuse it, and is not in the student build (tests/test_release.py audits the bundle).
    release = ROOT / "lib" / "convlab" / "release"
    for path in list((ROOT / "notebooks").rglob("*.ipynb")) + list((ROOT / "lib").rglob("*.py")):
        if release in path.parents:
            continue
        content = path.read_text()
        assert "hidden_cases" not in content and text not in content, path


def test_cuda_cases_are_added_only_when_cuda_is_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert hidden_cases.default_devices() == ["cpu"]
    assert len(hidden_cases.cases("corr2d")) == len(hidden_cases.cpu_cases("corr2d"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert hidden_cases.default_devices() == ["cpu", "cuda"]
    # "meta" stands in for a GPU here: tensor cases are repeated there, size cases are not.
    cpu = hidden_cases.cpu_cases("corr2d")
    both = hidden_cases.cases("corr2d", devices=["cpu", "meta"])
    assert len(both) == 2 * len(cpu)
    assert {v.device.type for c in both[len(cpu):] for v in c.args} == {"meta"}
    assert len(hidden_cases.cases("conv_output_size", devices=["cpu", "meta"])) == len(
        hidden_cases.cpu_cases("conv_output_size"))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_reference_passes_on_cuda():
    result = grade(_read("solutions", "01_convolution"))
    assert all(g.score == g.max_score and "cpu and cuda" in g.message for g in result.values())


# --- nbgrader -------------------------------------------------------------------------------

def test_outputs_are_scored_by_nbgraders_own_rule():
    from nbgrader.utils import determine_grade

    nb = variant("01_convolution", drop=("test_corr2d",))
    tests = [TestCell("test_conv_output_size", 2, "check_conv_output_size(conv_output_size)"),
             TestCell("test_corr2d", 3, "check_corr2d(corr2d)")]
    grades = [CellGrade("test_conv_output_size", 0.5, 2, "1 of 4"), CellGrade("test_corr2d", 0.0, 3, "0 of 4")]
    write_grades(nb, tests, grades)
    cells = {_meta(c)["grade_id"]: (i, c) for i, c in enumerate(nb.cells) if _meta(c).get("grade")}
    assert determine_grade(cells["test_conv_output_size"][1]) == (0.5, 2.0)
    assert determine_grade(cells["test_corr2d"][1]) == (0.0, 3.0)
    assert cells["test_corr2d"][1].outputs[0].text.startswith("0 of 4")
    assert "put it back" in cells["test_corr2d"][1].outputs[0].text
    answer = next(i for i, c in enumerate(nb.cells) if _meta(c).get("grade_id") == "corr2d")
    assert cells["test_corr2d"][0] == answer + 1
    nbformat.validate(nb)


def _nbgrader(course, *args):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_nbgrader_autograde_gives_the_trusted_scores(tmp_path):
    """A course folder like the repo's: its two config files and one assignment."""
    course = tmp_path / "course"
    (course / "autograder").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copy(ROOT / "autograder" / "nbgrader_config.py", course / "autograder")
    shutil.copytree(ROOT / "solutions" / "01_convolution", course / "solutions" / "01_convolution")
    _nbgrader(course, "generate_assignment", "01_convolution")

    # Alice: one partly right answer, a deleted test cell, an edited one, a copy-pasted one,
    # a made-up grade cell, and an answer deleted with its test.
    alice = variant("01_convolution", {"corr2d": SQUARE_ONLY}, drop=("test_conv2d_loops", "im2col", "test_im2col"))
    test_corr2d = next(c for c in alice.cells if _meta(c).get("grade_id") == "test_corr2d")
    pasted = copy.deepcopy(test_corr2d)
    pasted.id = "pasted-copy"
    alice.cells.insert(3, pasted)
    test_corr2d.source = "pass  # the student edited the test"
    alice.cells.append(nbformat.v4.new_code_cell("print('free points')", metadata={"nbgrader": {
        "grade": True, "grade_id": "test_bonus", "locked": True, "points": 100, "schema_version": 3,
        "solution": False, "task": False}}))
    submissions = {"alice": alice, "bob": nbformat.read(course / "notebooks" / "01_convolution" /
                                                        "01_convolution.ipynb", as_version=4)}
    for student, nb in submissions.items():
        folder = course / "autograder" / "work" / "submitted" / student / "01_convolution"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "01_convolution.ipynb")
    _nbgrader(course, "autograde", "01_convolution")
    _nbgrader(course, "generate_feedback", "01_convolution")

    from nbgrader.api import Gradebook

    points = points_of(_read("solutions", "01_convolution"))
    scores = {}
    with Gradebook(f"sqlite:///{course / 'autograder' / 'work' / 'gradebook.db'}") as gb:
        for student in submissions:
            graded = gb.find_submission_notebook("01_convolution", "01_convolution", student)
            autograded = [g for g in graded.grades if g.name in points]  # not the written answers
            assert len(autograded) == len(points) and not any(g.needs_manual_grade for g in autograded)
            scores[student] = {g.name: g.score for g in autograded}
    for student, nb in submissions.items():
        # The student's own hidden cases: the key's public part is in the graded record.
        graded = nbformat.read(course / "autograder" / "work" / "autograded" / student / "01_convolution" /
                               "01_convolution.ipynb", as_version=4)
        attempts = {o["data"][GRADE_MIME]["attempt"] for c in graded.cells for o in c.get("outputs", [])
                    if GRADE_MIME in o.get("data", {})}
        assert len(attempts) == 1 and "|" in next(iter(attempts))
        key = hidden_cases.SeedKey.for_submission("01_convolution", student, attempts.pop())
        expected = {g.grade_id: g for g in grade_notebook(nb, "01_convolution", points, limits=LIMITS, key=key)}
        assert scores[student] == {k: expected[k].score for k in points}, student
    assert 0 < scores["alice"]["test_corr2d"] < points["test_corr2d"]
    assert scores["alice"]["test_conv2d_loops"] == points["test_conv2d_loops"]
    assert scores["alice"]["test_im2col"] == 0
    assert sum(scores["bob"].values()) == 0

    autograded = nbformat.read(course / "autograder" / "work" / "autograded" / "alice" / "01_convolution" /
                               "01_convolution.ipynb", as_version=4)
    tests = {_meta(c)["grade_id"]: c for c in autograded.cells if _meta(c).get("grade") and not _meta(c).get("solution")}
    assert set(tests) == set(points)  # the deleted test cell is back
    assert tests["test_corr2d"].source == "check_corr2d(corr2d)"  # nbgrader restored the edited one
    assert "hidden cases pass" in tests["test_corr2d"].outputs[0].text
    feedback = (course / "autograder" / "work" / "feedback" / "alice" / "01_convolution" /
                "01_convolution.html").read_text()
    assert "hidden cases pass" in feedback and "hidden_cases" not in feedback


# --- the no-double-penalty rule runs only along declared dependencies (issue 14) ------------

# Exercises that call each other in a circle, with no convolution written anywhere: each
# passed when a caller was regraded with the reference of every exercise its cell named.
# Only ``Exercise.uses`` edges are regraded now: each answer here runs the student's own
# callee, round the circle, and earns nothing. 01's circle is the example student
# launderer's (its conv2d_im2col, the solution on the declared im2col, is not graded here).
LAUNDERED_02 = {
    "conv_transpose2d_scatter": '''
        def conv_transpose2d_scatter(x, weight, bias=None, stride=1, padding=0, output_padding=0):
            return conv_transpose2d_via_conv(x, weight, bias, stride, padding, output_padding)
    ''',
    "conv_transpose2d_via_conv": '''
        def conv_transpose2d_via_conv(x, weight, bias=None, stride=1, padding=0, output_padding=0):
            return conv_transpose2d_scatter(x, weight, bias, stride, padding, output_padding)
    ''',
    "insert_zeros": '''
        def insert_zeros(x, stride):
            n, c, h, w = x.shape
            one = torch.ones(1, 1, 1, 1, dtype=x.dtype, device=x.device)
            spread = conv_transpose2d_via_conv(x.reshape(n * c, 1, h, w), one, None, stride)
            return spread.reshape(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    ''',
    "overlap_counts": '''
        def overlap_counts(k, stride, n):
            ones = torch.ones(1, 1, 1, n, dtype=torch.float64)
            taps = torch.ones(1, 1, 1, k, dtype=torch.float64)
            return conv_transpose2d_scatter(ones, taps, None, stride).reshape(-1).round().long()
    ''',
}
LAUNDERED_03 = {
    "conv2d_dilated": '''
        def conv2d_dilated(x, weight, bias=None, stride=1, padding=0, dilation=1):
            xp = F.pad(x, (padding,) * 4)
            y = atrous_conv2d(xp.permute(0, 2, 3, 1), weight.permute(2, 3, 1, 0), dilation, "VALID")
            y = y.permute(0, 3, 1, 2)[:, :, ::stride, ::stride]
            return y if bias is None else y + bias.view(1, -1, 1, 1)
    ''',
    "atrous_conv2d": '''
        def atrous_conv2d(value, filters, rate, padding):
            if padding not in ("SAME", "VALID"):
                raise ValueError("padding must be SAME or VALID")
            kh, kw = filters.shape[:2]
            eh, ew = rate * (kh - 1), rate * (kw - 1)
            x = value.permute(0, 3, 1, 2)
            if padding == "SAME":
                x = F.pad(x, (ew // 2, ew - ew // 2, eh // 2, eh - eh // 2))
            y = conv2d_dilated(x, filters.permute(3, 2, 0, 1), None, 1, 0, rate)
            return y.permute(0, 2, 3, 1)
    ''',
    # Each the other's inverse: the permutation read off the other one's output.
    "space_to_batch": '''
        def space_to_batch(x, rate):
            n, c, h, w = x.shape
            if h % rate or w % rate:
                raise ValueError("H and W must be divisible by rate")
            where = torch.arange(x.numel(), device=x.device).reshape(rate * rate * n, c, h // rate, w // rate)
            out = x.new_empty(x.numel())
            out[batch_to_space(where, rate).reshape(-1)] = x.reshape(-1)
            return out.reshape(rate * rate * n, c, h // rate, w // rate)
    ''',
    "batch_to_space": '''
        def batch_to_space(x, rate):
            b, c, h, w = x.shape
            where = torch.arange(x.numel(), device=x.device).reshape(b // (rate * rate), c, h * rate, w * rate)
            out = x.new_empty(x.numel())
            out[space_to_batch(where, rate).reshape(-1)] = x.reshape(-1)
            return out.reshape(b // (rate * rate), c, h * rate, w * rate)
    ''',
}


@pytest.mark.parametrize("assignment, answers", [
    ("01_convolution", {k: v for k, v in LAUNDERED_01.items() if k != "conv2d_im2col"}),
    ("02_transposed", LAUNDERED_02),
    ("03_atrous", LAUNDERED_03),
], ids=["01", "02", "03"])
def test_exercises_calling_each_other_in_a_circle_earn_nothing(assignment, answers):
    points = {f"test_{name}": 1.0 for name in answers}
    grades = grade(variant(assignment, answers), assignment, points)
    for grade_id, result in grades.items():
        assert result.score == 0, (grade_id, result.message)
        # A measured (vectorized) call that recurses without end stops where the tracer is
        # dropped: the sandbox says so (test_sandbox: not counted as tampering).
        assert "RecursionError" in result.message or "recursed without end" in result.message, (
            grade_id, result.message)
        assert "Graded with the reference" not in result.message, (grade_id, result.message)


def test_the_reference_runs_once_per_hidden_case_and_its_value_is_the_one_judged_with(monkeypatch):
    # Drawing the cases computes the reference's value (degenerate cases are replaced);
    # judging an answer on them uses that value: the reference runs once per valid case.
    exercise = REGISTRY["corr2d"]
    calls = []
    reference = exercise.reference

    def counted(*args, **kwargs):
        calls.append(1)
        return reference(*args, **kwargs)

    from autograder.judge.grader import _judge
    from autograder.sandbox import Outcome

    monkeypatch.setattr(exercise, "reference", counted)
    cases = hidden_cases.cpu_cases("corr2d", _key())
    valid = [c for c in cases if c.raises is None]
    drawn = len(calls)
    assert drawn >= len(valid)
    for case in valid:
        assert hidden_cases.expected(case) is not None
        torch.testing.assert_close(hidden_cases.expected(case), exercise.call(reference, case), rtol=0, atol=0)
        got = exercise.call(reference, case)
        assert _judge(exercise, case, Outcome(value=got)).passed
        assert not _judge(exercise, case, Outcome(value=got + 1)).passed
    assert len(calls) == drawn  # judging computed nothing again
    # Another case object (a copy, another exercise's draw) is computed afresh.
    assert hidden_cases.expected(copy.deepcopy(valid[0])) is None
    hidden_cases.cpu_cases("im2col", _key())
    assert hidden_cases.expected(valid[0]) is None
