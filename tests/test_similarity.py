"""Copy detection (autograder.outputs.similarity): disguised copies are flagged, independent work is not.

The disguises are the ones students use: renamed variables, reordered independent lines,
comments and docstrings, loops rewritten as comprehensions (and back), ``+=`` spelled
out, different formatting. The independent answers are correct solutions written another
way, as a second student would.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

import convlab
from autograder.outputs import similarity
from autograder.outputs.similarity import DEFAULT_THRESHOLD, find_similar, normalise, similar_pairs

ROOT = Path(__file__).resolve().parents[1]


def course(assignment):
    return similarity.course_answers(ROOT, assignment, convlab.EXERCISES[assignment])


REFS, STUBS = course("01_convolution")
REFS2, STUBS2 = course("02_transposed")

IM2COL_DISGUISED = '''
def im2col(inp, ks, st=1, pd=0):
    """My im2col. I wrote this myself."""
    if inp.dim() != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {tuple(inp.shape)}")
    # kernel size as a pair
    a, b = (ks, ks) if isinstance(ks, int) else ks
    inp = F.pad(inp, (pd, pd, pd, pd))
    batch, chans, height, width = inp.shape
    if a > height or b > width:
        raise ValueError(f"kernel ({a}, {b}) is larger than the padded input ({height}, {width})")
    wo = (width - b) // st + 1        # reordered: width first
    ho = (height - a) // st + 1
    pieces = []
    for p in range(a):                 # the comprehension, as a loop
        for q in range(b):
            pieces.append(inp[:, :, p:p + st * (ho - 1) + 1:st, q:q + st * (wo - 1) + 1:st])
    stacked = torch.stack(pieces, dim=2)
    return stacked.reshape(batch, chans * a * b, ho * wo)
'''

IM2COL_INDEPENDENT = '''
def im2col(x, kernel_size, stride=1, padding=0):
    if x.dim() != 4:
        raise ValueError("x must be (N, C, H, W)")
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    kh, kw = kernel_size
    n, c, h, w = x.shape
    hp, wp = h + 2 * padding, w + 2 * padding
    if kh > hp or kw > wp:
        raise ValueError("kernel does not fit")
    padded = x.new_zeros(n, c, hp, wp)
    padded[:, :, padding:padding + h, padding:padding + w] = x
    ho = (hp - kh) // stride + 1
    wo = (wp - kw) // stride + 1
    rows = (torch.arange(ho, device=x.device) * stride).view(-1, 1, 1, 1) + torch.arange(kh, device=x.device).view(1, 1, -1, 1)
    cols = (torch.arange(wo, device=x.device) * stride).view(1, -1, 1, 1) + torch.arange(kw, device=x.device).view(1, 1, 1, -1)
    patches = padded[:, :, rows, cols]          # (N, C, Ho, Wo, kh, kw)
    patches = patches.permute(0, 1, 4, 5, 2, 3)
    return patches.reshape(n, c * kh * kw, ho * wo)
'''

CONV_LOOPS_A = '''
def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
    n, c_in, h, w = x.shape
    c_out, c_in2, kh, kw = weight.shape
    if c_in != c_in2:
        raise ValueError("channel mismatch")
    if kh > h + 2 * padding or kw > w + 2 * padding:
        raise ValueError("kernel larger than the padded input")
    xp = F.pad(x, (padding, padding, padding, padding))
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (w + 2 * padding - kw) // stride + 1
    out = torch.zeros(n, c_out, ho, wo, dtype=x.dtype, device=x.device)
    for b in range(n):
        for o in range(c_out):
            for i in range(ho):
                for j in range(wo):
                    acc = 0
                    for c in range(c_in):
                        acc += (xp[b, c, i*stride:i*stride+kh, j*stride:j*stride+kw] * weight[o, c]).sum()
                    out[b, o, i, j] = acc
            if bias is not None:
                out[b, o] += bias[o]
    return out
'''

# Student B copied A: names changed, the two checks swapped, += spelled out,
# the inner loop turned into a sum over a comprehension-built list, comments added.
CONV_LOOPS_B_COPY = '''
def conv2d_loops(inp, wt, b=None, s=1, p=0):
    # convolution, my own version
    N, Cin, H, W = inp.shape
    Cout, Cin2, KH, KW = wt.shape
    if KH > H + 2 * p or KW > W + 2 * p:
        raise ValueError("kernel larger than the padded input")
    if Cin != Cin2:
        raise ValueError("channel mismatch")
    padded = F.pad(inp, (p, p, p, p))
    WO = (W + 2 * p - KW) // s + 1
    HO = (H + 2 * p - KH) // s + 1
    res = torch.zeros(N, Cout, HO, WO, dtype=inp.dtype, device=inp.device)
    for bb in range(N):
        for oo in range(Cout):
            for ii in range(HO):
                for jj in range(WO):
                    total = 0
                    for cc in range(Cin):
                        total = total + (padded[bb, cc, ii*s:ii*s+KH, jj*s:jj*s+KW] * wt[oo, cc]).sum()
                    res[bb, oo, ii, jj] = total
            if b is not None:
                res[bb, oo] += b[oo]
    return res
'''

# Student D copied A too, turning the accumulation loop into sum() over a generator and
# the output allocation into a comprehension-built nested list.
CONV_LOOPS_D_COPY = '''
def conv2d_loops(x, w, bias=None, stride=1, padding=0):
    n, c_in, h, wd = x.shape
    c_out, c_in2, kh, kw = w.shape
    if c_in != c_in2:
        raise ValueError("channel mismatch")
    if kh > h + 2 * padding or kw > wd + 2 * padding:
        raise ValueError("kernel larger than the padded input")
    xp = F.pad(x, (padding, padding, padding, padding))
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (wd + 2 * padding - kw) // stride + 1
    out = torch.zeros(n, c_out, ho, wo, dtype=x.dtype, device=x.device)
    for b in range(n):
        for o in range(c_out):
            for i in range(ho):
                for j in range(wo):
                    out[b, o, i, j] = sum((xp[b, c, i*stride:i*stride+kh, j*stride:j*stride+kw] * w[o, c]).sum()
                                          for c in range(c_in))
            if bias is not None:
                out[b, o] += bias[o]
    return out
'''

IM2COL_INLINED = '''
def im2col(t, size, s=1, p=0):
    if t.dim() != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {tuple(t.shape)}")
    kh, kw = (size, size) if isinstance(size, int) else size
    t = F.pad(t, (p, p, p, p))
    n, c, h, w = t.shape
    if kh > h or kw > w:
        raise ValueError(f"kernel ({kh}, {kw}) is larger than the padded input ({h}, {w})")
    w_out = (w - kw) // s + 1
    h_out = (h - kh) // s + 1
    return torch.stack([t[:, :, i:i + s * (h_out - 1) + 1:s, j:j + s * (w_out - 1) + 1:s]
                        for i in range(kh) for j in range(kw)], dim=2).reshape(n, c * kh * kw, h_out * w_out)
'''

CONV_LOOPS_C_INDEPENDENT = '''
def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels, weight wants {weight.shape[1]}")
    x = torch.nn.functional.pad(x, [padding] * 4)
    kh, kw = weight.shape[-2:]
    if kh > x.shape[-2] or kw > x.shape[-1]:
        raise ValueError("kernel too large")
    ho = (x.shape[-2] - kh) // stride + 1
    wo = (x.shape[-1] - kw) // stride + 1
    flat_w = weight.reshape(weight.shape[0], -1)
    rows = []
    for i in range(ho):
        row = []
        for j in range(wo):
            patch = x[..., i * stride:i * stride + kh, j * stride:j * stride + kw].flatten(1)
            row.append(patch @ flat_w.T)
        rows.append(torch.stack(row, dim=-1))
    out = torch.stack(rows, dim=-2)
    return out if bias is None else out + bias[:, None, None]
'''


def test_normalise_ignores_names_comments_formatting_and_comprehensions():
    loop = "def f(a):\n    # sum of squares\n    out = []\n    for v in a:\n        out.append(v * v)\n    return out\n"
    comp = 'def g(xs):\n    """doc"""\n    return [x*x for x in xs]\n'
    assert normalise(loop).replace("_comprehension0", "v") == normalise(comp).replace("_comprehension0", "v")
    assert normalise("y = 1\nx = 2\nz = x + y\n") == normalise("x = 2\ny = 1\nz = x + y\n")


def test_dependent_statements_keep_their_order():
    assert normalise("x = 1\nx = x + 1\ny = x\n") != normalise("x = 1\ny = x\nx = x + 1\n")
    # A guard that raises stays where it is: code after it may rely on it.
    assert normalise("if n < 0:\n    raise ValueError\nm = 1\n") != normalise("m = 1\nif n < 0:\n    raise ValueError\n")


def test_a_disguised_copy_of_the_reference_is_flagged():
    pairs = find_similar({"alice": IM2COL_DISGUISED, "bob": IM2COL_INDEPENDENT}, REFS["im2col"],
                         STUBS["im2col"], "01_convolution", "im2col")
    assert [(p.student_a, p.student_b) for p in pairs] == [("alice", "reference")], pairs
    assert pairs[0].score >= 0.95


def test_a_comprehension_moved_into_the_call_that_uses_it_is_still_a_copy():
    score = similarity.similarity(IM2COL_INLINED, REFS["im2col"], STUBS["im2col"])
    assert score >= DEFAULT_THRESHOLD, score


def test_a_disguised_copy_between_students_is_flagged_and_independent_work_is_not():
    answers = {"a": CONV_LOOPS_A, "b": CONV_LOOPS_B_COPY, "c": CONV_LOOPS_C_INDEPENDENT,
               "d": CONV_LOOPS_D_COPY}
    pairs = find_similar(answers, REFS["conv2d_loops"], STUBS["conv2d_loops"], "01_convolution",
                         "conv2d_loops")
    assert sorted((p.student_a, p.student_b) for p in pairs) == [("a", "b"), ("a", "d"), ("b", "d")], pairs
    scores = {(x, y): similarity.similarity(answers[x], answers[y], STUBS["conv2d_loops"])
              for x, y in [("a", "c"), ("b", "c")]}
    assert all(s < 0.5 for s in scores.values()), scores


def test_the_reference_solutions_of_different_exercises_are_not_alike():
    # Sanity of the scale: two answers to different exercises (same signature style, same
    # bias line) stay far below the threshold.
    assert similarity.similarity(REFS["conv2d_loops"], REFS2["conv_transpose2d_scatter"]) < 0.5


def test_stub_code_does_not_count():
    stub = STUBS["corr2d"]
    # Both kept the stub's signature and docstring and wrote only a short line of their own.
    a = stub.replace("raise NotImplementedError()", "return x")
    b = stub.replace("raise NotImplementedError()", "return kernel")
    assert similarity.similarity(a, b, stub) == 0.0
    assert similarity.similarity(stub, stub, stub) == 0.0
    # The stub alone is not an answer at all.
    assert similarity._stubbed(stub)


def test_short_formula_exercises_are_not_compared():
    # Everyone writes conv_output_size the same way: identical is no evidence of copying.
    pairs = find_similar({"a": REFS["conv_output_size"], "b": REFS["conv_output_size"]},
                         REFS["conv_output_size"], STUBS["conv_output_size"], "01_convolution",
                         "conv_output_size")
    assert pairs == []


@pytest.mark.parametrize("hostile", [
    "def corr2d(x, k):\n    return (((((\n",           # a syntax error
    "x = " + "(" * 5000 + "1" + ")" * 5000,              # too deep for the parser
    "%%timeit\n!rm -rf /\n",                              # IPython magics, never run
    "def corr2d(x, k):\n" + "    y = x + 1\n" * 20000,     # huge
])
def test_hostile_code_is_compared_not_run_and_never_crashes(hostile):
    assert 0.0 <= similarity.similarity(hostile, REFS["corr2d"], STUBS["corr2d"]) <= 1.0


def _submit(root: Path, student: str, assignment: str, answers: dict[str, str]) -> None:
    nb = nbformat.read(ROOT / "notebooks" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    folder = root / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{assignment}.ipynb")


def test_similar_pairs_over_a_submitted_folder_and_the_csv(tmp_path):
    _submit(tmp_path, "=cmd|' /C calc'!A0", "01_convolution", {"conv2d_loops": CONV_LOOPS_A})
    _submit(tmp_path, "bea", "01_convolution", {"conv2d_loops": CONV_LOOPS_B_COPY,
                                                "im2col": IM2COL_DISGUISED})
    _submit(tmp_path, "cy", "01_convolution", {"conv2d_loops": CONV_LOOPS_C_INDEPENDENT})
    _submit(tmp_path, "dee", "01_convolution", {})  # untouched stubs: nothing to compare
    (tmp_path / "eve" / "01_convolution").mkdir(parents=True)
    (tmp_path / "eve" / "01_convolution" / "01_convolution.ipynb").write_text("not json")
    students = ["=cmd|' /C calc'!A0", "bea", "cy", "dee", "eve"]
    pairs = similar_pairs(tmp_path, students, ["01_convolution"], ROOT, DEFAULT_THRESHOLD)
    found = {(p.student_a, p.student_b, p.exercise) for p in pairs}
    assert found == {("=cmd|' /C calc'!A0", "bea", "conv2d_loops"), ("bea", "reference", "im2col")}
    similarity.write_csv(pairs, tmp_path / "similarity.csv")
    rows = list(csv.DictReader(open(tmp_path / "similarity.csv", newline="")))
    assert list(rows[0]) == list(similarity.CSV_COLUMNS)
    assert {r["student_a"] for r in rows} == {"'=cmd|' /C calc'!A0", "bea"}  # no formula
    assert all(0 <= float(r["score"]) <= 1 for r in rows)


def test_the_threshold_is_the_instructors():
    answers = {"a": CONV_LOOPS_A, "c": CONV_LOOPS_C_INDEPENDENT}
    score = similarity.similarity(CONV_LOOPS_A, CONV_LOOPS_C_INDEPENDENT, STUBS["conv2d_loops"])
    assert find_similar(answers, None, STUBS["conv2d_loops"], "a", "e", threshold=score + 0.01) == []
    assert len(find_similar(answers, None, STUBS["conv2d_loops"], "a", "e", threshold=score)) == 1
    json.dumps([p.__dict__ for p in find_similar(answers, None, None, "a", "e", threshold=0.0)])


def test_the_grade_command_takes_a_threshold_between_0_and_1(capsys):
    from convlab.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["grade", "nowhere", "--out", "out", "--similarity-threshold", "1.5"])
    assert exit_.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_a_score_is_the_same_in_every_process():
    # copydetect hashes with Python's per-process salted hash(); similarity.py pins it, so a
    # regrade writes the same similarity.csv.
    import os
    import subprocess
    import sys

    script = (
        "import convlab\n"
        "from autograder.outputs import similarity\n"
        "refs, stubs = similarity.course_answers(similarity.Path(convlab.__file__).resolve().parents[2],"
        " '01_convolution', convlab.EXERCISES['01_convolution'])\n"
        "print(repr([similarity.similarity(refs[a], refs[b]) for a in refs for b in refs if a < b]))\n")
    scores = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2, 3)}
    assert len(scores) == 1, scores
    assert any(0 < float(v) < 1 for v in next(iter(scores)).strip("[]\n").split(", ")), scores


def test_a_lone_surrogate_in_one_notebook_costs_the_class_nothing(tmp_path):
    _submit(tmp_path, "ann", "01_convolution", {"conv2d_loops": CONV_LOOPS_A})
    _submit(tmp_path, "bea", "01_convolution", {"conv2d_loops": CONV_LOOPS_B_COPY})
    # JSON may escape a lone surrogate; Python reads it into a str UTF-8 cannot encode.
    _submit(tmp_path, "sur", "01_convolution", {"conv2d_loops": CONV_LOOPS_A + "\n# LONE\n",
                                                "im2col": "def im2col(x):\n    return 'LONE'\n"})
    path = tmp_path / "sur" / "01_convolution" / "01_convolution.ipynb"
    path.write_text(path.read_text().replace("LONE", "\\ud800"))
    assert any("\ud800" in c.source for c in nbformat.read(path, as_version=4).cells)
    pairs = similar_pairs(tmp_path, ["ann", "bea", "sur"], ["01_convolution"], ROOT, DEFAULT_THRESHOLD)
    found = {(p.student_a, p.student_b) for p in pairs if p.exercise == "conv2d_loops"}
    assert {("ann", "bea"), ("ann", "sur"), ("bea", "sur")} <= found


def test_copy_detection_reads_the_notebook_the_grader_grades(tmp_path):
    # The grader grades <assignment>.ipynb; another notebook in the folder (a sorted-first
    # "00_scratch.ipynb" holding a classmate's answer) is not the student's answer.
    _submit(tmp_path, "ann", "01_convolution", {"conv2d_loops": CONV_LOOPS_A})
    _submit(tmp_path, "cy", "01_convolution", {"conv2d_loops": CONV_LOOPS_C_INDEPENDENT})
    scratch = tmp_path / "scratch"
    _submit(scratch, "cy", "01_convolution", {"conv2d_loops": CONV_LOOPS_B_COPY})
    (scratch / "cy" / "01_convolution" / "01_convolution.ipynb").rename(
        tmp_path / "cy" / "01_convolution" / "00_scratch.ipynb")
    pairs = similar_pairs(tmp_path, ["ann", "cy"], ["01_convolution"], ROOT, DEFAULT_THRESHOLD)
    assert [p for p in pairs if p.exercise == "conv2d_loops"] == []
    answers = similarity.collect_answers(tmp_path, ["cy"], "01_convolution", ["conv2d_loops"])
    assert answers["conv2d_loops"]["cy"] == CONV_LOOPS_C_INDEPENDENT


def test_reading_one_notebooks_answers_is_bounded(tmp_path, monkeypatch):
    import time

    # Thousands of code cells, each a function: the answer cells are found by grade_id;
    # a name no cell's metadata gives is looked for in the first MAX_CELLS cells only.
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"def f{i}(x):\n    return x + {i}\n") for i in range(5000)]
    nb.cells.append(nbformat.v4.new_code_cell(CONV_LOOPS_A))
    folder = tmp_path / "ann" / "01_convolution"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "01_convolution.ipynb")
    start = time.perf_counter()
    answers = similarity.collect_answers(tmp_path, ["ann"], "01_convolution",
                                         convlab.EXERCISES["01_convolution"])
    assert time.perf_counter() - start < 15
    assert answers["conv2d_loops"] == {}  # past the cells that are looked at
    monkeypatch.setattr(similarity, "MAX_NOTEBOOK_SECONDS", 0.0)
    nb.cells = nb.cells[-1:]
    nbformat.write(nb, folder / "01_convolution.ipynb")
    assert similarity.collect_answers(tmp_path, ["ann"], "01_convolution", ["conv2d_loops"]) == \
        {"conv2d_loops": {}}
