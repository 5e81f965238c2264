"""Fair grades and feedback that says the right thing (issue 8): the rules every exercise
inherits, checked over the whole registry, plus the machinery behind them.

* the visible cases tell every pair of catalogued mistakes apart, and a wrong output that
  still fits several is named as all of them;
* every ValueError an exercise must raise is declared once (``Exercise.errors``), listed in
  its docstring, and tested by visible and hidden cases; raising alone earns nothing;
* messages: no traceback noise, numbers that differ, the expected value next to an error;
* the student's own definitions an answer uses are found from the code (``deps``), and a
  name set by side-effecting code is reported before submission;
* a check stops a function that runs too long;
* one registry: exercises, notebooks, hidden cases and the CLI agree.
"""
from __future__ import annotations

import ast
import itertools
import re
import time

import nbformat
import pytest
import torch

import convlab
from autograder.judge import hidden_cases
from convlab.checks import REGISTRY, CheckFailed, check, run_case
from convlab.checks.core import (Case, Exercise, Mistake, compare_outputs, credit, digits, evaluate,
                                 exercise_of, first_failure, test_id)
from convlab.checks.deps import PREIMPORTS, Resolver
from convlab.checks.runner import history_problem
from convlab.cli import ASSIGNMENTS, repo_root

ROOT = repo_root()
NAMES = sorted(REGISTRY)


def _solution(assignment):
    return nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)


def _outputs(exercise, produce, cases):
    row = []
    for case in cases:
        try:
            row.append(("value", exercise.call(produce, case)))
        except Exception as exc:  # the mistake does not apply to this case
            row.append(("raised", type(exc).__name__))
    return row


def _same(exercise, a, b) -> bool:
    for (kind_a, va), (kind_b, vb) in zip(a, b):
        if kind_a != kind_b:
            return False
        if kind_a == "raised":
            continue
        if compare_outputs(va, vb, exercise.rtol, exercise.atol) is not None:
            return False
    return True


# --- named mistakes -------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_visible_cases_tell_every_pair_of_mistakes_apart(name):
    exercise = REGISTRY[name]
    cases = [c for c in exercise.visible_cases() if c.raises is None]
    outputs = {m.name: _outputs(exercise, m.produce, cases) for m in exercise.mistakes}
    reference = _outputs(exercise, exercise.reference, cases)
    same = [(a, b) for a, b in itertools.combinations(outputs, 2) if _same(exercise, outputs[a], outputs[b])]
    assert not same, f"{name}: the visible cases cannot tell these mistakes apart: {same}"
    hidden = [m for m in outputs if _same(exercise, outputs[m], reference)]
    assert not hidden, f"{name}: these mistakes pass every visible case: {hidden}"


def _conv2d_size_slip(x, weight, bias=None, stride=1, padding=0):
    # The student of the issue: H_out = (H + 2p - k + 1) // s, everything else right.
    right = convlab.conv2d_loops(x, weight, bias, stride, padding)
    ho = (x.shape[2] + 2 * padding - weight.shape[2] + 1) // stride
    wo = (x.shape[3] + 2 * padding - weight.shape[3] + 1) // stride
    return right[:, :, :ho, :wo]


def _crop_bottom_twice(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    full = convlab.conv_transpose2d(x, weight, stride=stride)
    full = torch.nn.functional.pad(full, (0, output_padding, 0, output_padding))
    h, w = full.shape[2:]
    out = full[:, :, :h - 2 * padding, :w - 2 * padding]
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def _output_padding_both_sides(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    kh, kw = weight.shape[2:]
    z = convlab.insert_zeros(x, stride)
    ph, pw = kh - 1 - padding + output_padding, kw - 1 - padding + output_padding
    z = torch.nn.functional.pad(z, (pw, pw, ph, ph))
    return convlab.conv2d(z, weight.flip(2, 3).transpose(0, 1), bias)


@pytest.mark.parametrize("name,wrong,named", [
    ("conv2d_loops", _conv2d_size_slip, "(H + 2p - k + 1) // s"),
    ("conv_transpose2d_scatter", _crop_bottom_twice, "2p cropped at the bottom/right"),
    ("conv_transpose2d_via_conv", _output_padding_both_sides, "output_padding added on both sides"),
])
def test_the_misnamed_mistakes_of_the_issue_are_named_as_themselves(name, wrong, named):
    exercise = REGISTRY[name]
    results = [run_case(exercise, wrong, case) for case in exercise.visible_cases()]
    failure = first_failure(exercise, results)
    assert failure is not None and named in failure.message, failure and failure.message
    assert failure.named == (failure.mistake,), failure.named


def test_a_wrong_output_that_fits_several_mistakes_names_all_of_them():
    exercise = Exercise(
        name="scale", assignment="test", reference=lambda x: x * 3, visible_cases=lambda: [],
        mistakes=[Mistake("doubled", "hint a", lambda x: x * 6),
                  Mistake("added itself", "hint b", lambda x: x * 3 + x * 3),
                  Mistake("squared", "hint c", lambda x: x * x * 3)],
    )
    cases = [Case((torch.tensor([2.0]),)), Case((torch.tensor([5.0]),))]
    results = [evaluate(exercise, c, got=c.args[0] * 6) for c in cases]
    failure = first_failure(exercise, results)
    assert failure.named == ("doubled", "added itself")
    assert "Likely mistake: doubled. hint a" in failure.message
    assert "added itself. hint b" in failure.message and "squared" not in failure.message


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].mistakes])
def test_each_mistake_is_named_alone_by_the_visible_check(name):
    exercise = REGISTRY[name]
    for mistake in exercise.mistakes:
        results = [run_case(exercise, mistake.produce, case) for case in exercise.visible_cases()]
        failure = first_failure(exercise, results)
        assert failure is not None, f"{name}: {mistake.name} passes"
        assert failure.named == (mistake.name,), (mistake.name, failure.named)


# --- errors ---------------------------------------------------------------------------------

def _raising_notes(cases) -> set[str]:
    return {c.note for c in cases if c.raises is not None}


@pytest.mark.parametrize("name", NAMES)
def test_every_declared_error_is_tested_by_visible_and_hidden_cases(name):
    exercise = REGISTRY[name]
    declared = set(exercise.errors)
    assert len(declared) == len(exercise.errors)
    how = ("declare every ValueError once in Exercise.errors, in the instructions' words, and give "
           "each raising case, visible and hidden, one of them as its note (one case at least each)")
    assert _raising_notes(exercise.visible_cases()) == declared, f"{name}, visible cases: {how}"
    if name in hidden_cases.HIDDEN:
        assert _raising_notes(hidden_cases.cpu_cases(name)) == declared, f"{name}, hidden cases: {how}"


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_raises_on_every_raising_case_and_only_there(name):
    exercise = REGISTRY[name]
    cases = exercise.visible_cases() + (hidden_cases.cpu_cases(name) if name in hidden_cases.HIDDEN else [])
    for case in cases:
        if case.raises is not None:
            with pytest.raises(case.raises):
                exercise.call(exercise.reference, case)
        else:
            exercise.call(exercise.reference, case)


def _docstrings(assignment) -> dict[str, str]:
    found = {}
    for cell in _solution(assignment).cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or grade_id not in REGISTRY:
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == grade_id:
                found[grade_id] = " ".join((ast.get_docstring(node) or "").split())
    return found


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_answer_docstring_lists_every_error_of_its_exercise(assignment):
    docs = _docstrings(assignment)
    for name in convlab.EXERCISES[assignment]:
        for error in REGISTRY[name].errors:
            assert error in docs.get(name, ""), f"{name}: the docstring does not list {error!r}"


def _stub_raising_value_error(*args, **kwargs):
    raise ValueError("not done")


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].errors])
def test_raising_value_error_alone_earns_nothing(name):
    exercise = REGISTRY[name]
    cases = hidden_cases.cpu_cases(name) if name in hidden_cases.HIDDEN else exercise.visible_cases()
    results = [evaluate(exercise, c, error=ValueError("no")) for c in cases]
    assert any(r.passed for r in results)  # the raising cases, taken alone, pass
    earned, note = credit(cases, results)
    assert earned == 0 and "raising ValueError alone earns nothing" in note
    with pytest.raises(CheckFailed, match=rf"{name}: 0 of \d+ cases pass"):
        check(name, _stub_raising_value_error, quiet=True)


def test_invalid_cases_count_in_proportion_to_the_valid_ones():
    cases = [Case((1,)), Case((2,)), Case((3,), raises=ValueError), Case((4,), raises=ValueError)]
    from convlab.checks.core import CaseResult
    results = [CaseResult(True), CaseResult(False), CaseResult(True), CaseResult(True)]
    assert credit(cases, results)[0] == pytest.approx(1 + 2 * 0.5)
    assert credit(cases, [CaseResult(True)] * 4) == (4.0, "")


def test_an_error_where_a_value_was_expected_shows_the_expected_value():
    exercise = REGISTRY["conv_output_size"]
    result = evaluate(exercise, Case((7, 3), {"stride": 2}), error=ValueError("stride too big"))
    assert "raised ValueError: stride too big" in result.message
    assert "expected 3" in result.message


# --- messages -------------------------------------------------------------------------------

def test_numbers_are_printed_with_the_digits_that_differ():
    assert digits(1.0000001, 1.0000003) == ("1.0000001", "1.0000003")
    assert digits(0.5, 0.25) == ("0.5", "0.25")
    expected = torch.tensor([1.0, 2.0], dtype=torch.float64)
    message = compare_outputs(expected, expected + torch.tensor([0.0, 2e-6], dtype=torch.float64), 1e-9, 1e-9)
    assert "expected 2, got 2.000002" in message


def test_dtype_message_fits_an_integer_result():
    message = compare_outputs(torch.zeros(3, dtype=torch.int64), torch.zeros(3))
    assert "dtype=torch.int64" in message and "input's dtype" not in message
    assert "input's dtype" in compare_outputs(torch.zeros(3, dtype=torch.float64), torch.zeros(3))


def test_a_sparse_wrong_result_is_not_called_unimplemented():
    exercise = REGISTRY["insert_zeros"]
    case = exercise.visible_cases()[0]
    expected = exercise.call(exercise.reference, case)
    result = evaluate(exercise, case, got=torch.zeros_like(expected))
    assert "not implemented" not in result.message and "nothing is computed" not in result.message


def test_forbidden_call_messages_say_what_the_student_called():
    def corr2d(x, kernel):
        return torch.nn.functional.conv2d(x[None, None], kernel[None, None])[0, 0]

    def im2col(x, kernel_size, stride=1, padding=0):
        return torch.nn.functional.unfold(x, kernel_size, stride=stride, padding=padding)

    with pytest.raises(CheckFailed) as conv:
        check("corr2d", corr2d, quiet=True)
    assert "corr2d calls a torch convolution: F.conv*" in str(conv.value)
    with pytest.raises(CheckFailed) as unfold:
        check("im2col", im2col, quiet=True)
    assert "im2col calls F.unfold / F.fold" in str(unfold.value)
    assert "calls im2col" not in str(unfold.value)


def test_the_grader_words_forbidden_calls_as_the_checks_do():
    from autograder.judge.grader import _forbidden_message

    message = _forbidden_message(REGISTRY["im2col"], "im2col (that is F.unfold / F.fold)")
    assert message.startswith("im2col calls F.unfold / F.fold (observed as torch's im2col op)")
    message = _forbidden_message(REGISTRY["corr2d"], "convolution (a torch convolution op)")
    assert message.startswith("corr2d calls a torch convolution: F.conv*")


def test_a_failing_check_renders_as_its_message_alone():
    with pytest.raises(CheckFailed) as failed:
        check("conv_output_size", lambda n, k, stride=1, padding=0: 0, quiet=True)
    rendered = failed.value._render_traceback_()
    # No traceback: the line that says where Run All stopped (issue 16), then the message.
    assert rendered == [failed.value.headline(), "", f"CheckFailed: {failed.value.args[0]}"]
    assert rendered[0].startswith("Run All stopped here: conv_output_size does not pass its check yet.")
    assert isinstance(failed.value, AssertionError)  # nbgrader and pytest still see a failure


# --- time budget ----------------------------------------------------------------------------

def test_a_check_stops_a_function_that_never_returns():
    def conv_output_size(n, k, stride=1, padding=0):
        while True:
            try:
                pass
            except Exception:  # swallowing errors does not keep it alive
                pass

    start = time.monotonic()
    with pytest.raises(CheckFailed, match="did not finish within"):
        check("conv_output_size", conv_output_size, quiet=True)
    assert time.monotonic() - start < 10


# --- dependencies ---------------------------------------------------------------------------

HELPER_CELLS = {
    1: "import torch\nimport torch.nn.functional as F\n",
    2: "def corr2d(x, kernel):\n    h, w = out_hw(x, kernel)\n    return x[:h, :w] * SCALE\n",
    3: "SCALE = 2.0\nx = torch.randn(3)\nprint(x)\nfor i in range(3):\n    print(i)\n",
    4: "def out_hw(x, kernel):\n    return x.shape[0] - kernel.shape[0] + 1, x.shape[1] - kernel.shape[1] + 1\n",
}


def test_resolver_takes_definitions_not_side_effects():
    resolution = Resolver(HELPER_CELLS).resolve({2})
    assert {b.name for b in resolution.taken} == {"out_hw", "SCALE"}
    cells = resolution.cells()
    assert cells[3] == "SCALE = 2.0\n" and "def out_hw" in cells[4]
    assert not resolution.blocked


def test_resolver_reports_a_name_set_by_side_effects_and_ignores_locals():
    sources = dict(HELPER_CELLS)
    sources[5] = "SCALE = 1.0\nfor i in range(3):\n    SCALE = SCALE * 2\n"
    sources[6] = "h = compute()\n"  # a notebook variable sharing a local's name: not needed
    resolution = Resolver(sources).resolve({2})
    assert set(resolution.blocked) == {"SCALE"} and "for loop" in resolution.blocked["SCALE"].why


def test_resolver_never_takes_the_course_library():
    sources = {0: "import convlab\nfrom convlab.checks import check_corr2d\nimport torch\n",
               1: "def corr2d(x, kernel):\n    return torch.zeros(1)\n\ncheck_corr2d(corr2d)\n"}
    resolution = Resolver(sources).resolve({1})
    assert [b.name for b in resolution.taken] == ["torch"] and not resolution.blocked


def test_resolver_reads_only_the_cells_that_mention_a_needed_name():
    sources = dict(HELPER_CELLS)
    sources[7] = "junk = 1\n" + "# filler\n" * 30000  # over CELL_LIMIT, mentions nothing needed
    resolver = Resolver(sources)
    resolver.resolve({2})
    assert 7 not in resolver._python and 3 in resolver._python


def _notebook(sources: dict[int, str], answers=("corr2d",)):
    nb = nbformat.v4.new_notebook()
    for index in range(max(sources) + 1):
        cell = nbformat.v4.new_code_cell(sources.get(index, ""))
        name = next((a for a in answers if f"def {a}(" in cell.source), None)
        if name:
            cell.metadata["nbgrader"] = {"grade_id": name, "solution": True, "grade": False}
        nb.cells.append(cell)
    return nb


def select_cells(nb, names):
    from autograder.judge.grader import select_cells as select

    return select(nb, names)


def test_the_grader_takes_helpers_from_other_cells_but_not_their_side_effects():
    selection = select_cells(_notebook(HELPER_CELLS), {"corr2d"})
    sources = {c.index: c.source for c in selection.cells}
    assert sources[2] == HELPER_CELLS[2]
    assert sources[3] == "SCALE = 2.0\n" and "print" not in "".join(sources.values())
    assert "def out_hw" in sources[4] and 1 not in sources  # nothing there is used
    assert selection.owner["corr2d"].index == 2 and not selection.blocked


def test_the_grader_reports_what_it_cannot_take_and_skips_oversized_cells():
    sources = dict(HELPER_CELLS)
    sources[3] = "for SCALE in [1.0, 2.0]:\n    pass\n"
    sources[5] = "def conv2d_loops(x, weight, bias=None, stride=1, padding=0):\n    return x\n" + "#" * 250_000
    selection = select_cells(_notebook(sources, ("corr2d", "conv2d_loops")), {"corr2d", "conv2d_loops"})
    assert set(selection.blocked["corr2d"]) == {"SCALE"}
    assert "over the 200 KB" in selection.oversized[5]
    assert next(c for c in selection.cells if c.index == 5).source == ""


def test_the_visible_check_warns_about_a_name_set_by_side_effects():
    namespace = {"In": ["", HELPER_CELLS[1], "SCALE = 1.0\nfor i in range(2):\n    SCALE *= 2\n",
                        HELPER_CELLS[4], HELPER_CELLS[2]]}
    for source in namespace["In"][1:]:
        exec(source, namespace)
    problem = history_problem("corr2d", namespace["corr2d"])
    assert problem and "`SCALE`" in problem and "In [2]" in problem
    with pytest.raises(CheckFailed, match="SCALE"):
        check("corr2d", namespace["corr2d"], quiet=True)
    namespace["In"].append("SCALE = 1.0\n")  # rebound by a plain constant: fine now
    assert history_problem("corr2d", namespace["corr2d"]) is None


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_notebook_imports_exactly_what_the_grader_provides(assignment):
    first = next(c for c in _solution(assignment).cells if c.cell_type == "code")
    lines = {line.strip() for line in first.source.splitlines()}
    assert set(PREIMPORTS.values()) <= lines, "the first code cell must import every PREIMPORTS name"
    tree = ast.parse("\n".join(line for line in first.source.splitlines() if not line.startswith("%")))
    bound = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                module = node.module if isinstance(node, ast.ImportFrom) else alias.name
                bound[(alias.asname or alias.name).split(".")[0]] = module
    course_tools = {n for n, module in bound.items()
                    if module.split(".")[0] in ("convlab", "matplotlib", "time")}
    assert set(bound) - course_tools == set(PREIMPORTS)


def test_the_grader_gives_the_sandbox_exactly_those_imports():
    from autograder.judge.grader import NOTEBOOK_IMPORTS

    assert NOTEBOOK_IMPORTS.splitlines() == list(PREIMPORTS.values())
    namespace = {}
    exec(NOTEBOOK_IMPORTS, namespace)
    assert set(PREIMPORTS) <= set(namespace)


# --- callees -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].uses])
def test_callees_are_exercises_of_the_same_assignment(name):
    for callee in REGISTRY[name].uses:
        assert REGISTRY[callee].assignment == REGISTRY[name].assignment


def test_the_uses_graph_is_acyclic_and_stays_within_each_assignment():
    for name, exercise in REGISTRY.items():
        for callee in exercise.uses:
            assert callee in REGISTRY and callee != name, (name, callee)
            assert REGISTRY[callee].assignment == exercise.assignment, (name, callee)
    done, open_ = set(), []

    def visit(name):
        assert name not in open_, f"the uses graph has a cycle: {' -> '.join(open_ + [name])}"
        if name in done:
            return
        open_.append(name)
        for callee in REGISTRY[name].uses:
            visit(callee)
        open_.pop()
        done.add(name)

    for name in NAMES:
        visit(name)


def _solution_calls(assignment: str) -> dict[str, set[str]]:
    """Exercise -> the other exercises of its assignment its solution's answer cell reads."""
    names = set(convlab.EXERCISES[assignment])
    found = {}
    for cell in _solution(assignment).cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in names and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            source = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
            read = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
            found[grade_id] = (read & names) - {grade_id}
    return found


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_declared_uses_are_the_solutions_own_decomposition(assignment):
    # A caller is regraded with a reference callee only along these edges: each one the
    # course's design, made by its own solution; nothing else a solution calls is left out.
    for name, calls in _solution_calls(assignment).items():
        assert set(REGISTRY[name].uses) == calls, name


def test_callees_are_the_declared_uses_and_nothing_an_answer_merely_names():
    for exercise in REGISTRY.values():
        assert exercise.callees() == tuple(exercise.uses)
    # The circle that laundered the reference (issue 14): none of these is a callee.
    assert REGISTRY["corr2d"].callees() == ()
    assert REGISTRY["im2col"].callees() == ()
    assert "conv2d_dilated" not in REGISTRY["atrous_conv2d"].callees()
    assert REGISTRY["space_to_batch"].callees() == REGISTRY["batch_to_space"].callees() == ()


# Each declared edge leaves the caller work of its own: the caller made of nothing but its
# reference callees (on its own arguments) earns no hidden case. A new edge needs a line here.
def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _backward_forwarder(ref):
    """conv2d_backward that leaves everything but grad_x to its reference callee."""
    def forward(x, weight, grad_out, stride=1, padding=0):
        s, p = _pair(stride), _pair(padding)
        output_padding = tuple((n + 2 * q - k) % t for n, k, q, t in zip(x.shape[2:], weight.shape[2:], p, s))
        grad_x = ref["conv_transpose2d_via_conv"](grad_out, weight, None, s, p, output_padding)
        return grad_x, torch.zeros_like(weight), torch.zeros(weight.shape[0], dtype=x.dtype)

    return forward


_FORWARDERS = {
    "conv2d_backward": _backward_forwarder,
    "conv2d_im2col": lambda ref: lambda x, weight, bias=None, stride=1, padding=0:
        ref["im2col"](x, tuple(weight.shape[2:]), stride, padding),
    "conv_transpose2d_via_conv": lambda ref: lambda x, weight, bias=None, stride=1, padding=0, output_padding=0:
        ref["insert_zeros"](x, stride),
    "atrous_conv2d": lambda ref: lambda value, filters, rate, padding:
        ref["batch_to_space"](ref["space_to_batch"](value.permute(0, 3, 1, 2), rate), rate).permute(0, 2, 3, 1),
    "coverage": lambda ref: lambda rates, kernel_size=3: float(ref["dependency_map"](rates, kernel_size).sum()),
    "has_gridding": lambda ref: lambda rates, kernel_size=3: bool(ref["dependency_map"](rates, kernel_size).sum()),
    "shared_inputs": lambda ref: lambda rates, kernel_size=3, offset=1:
        int(ref["dependency_map"](rates, kernel_size).sum()),
    "satisfies_hdc": lambda ref: lambda rates, kernel_size=3: bool(ref["hdc_max_distances"](rates)[-1]),
    "hdc_search": lambda ref: lambda num_layers, kernel_size=3, max_rate=9:
        [(1,) * num_layers] if ref["satisfies_hdc"]((1,) * num_layers, kernel_size) else [],
}


def test_every_declared_edge_has_a_forwarder_below():
    assert set(_FORWARDERS) == {n for n in NAMES if REGISTRY[n].uses}


def _valid_passes(exercise, answer, cases) -> int:
    passed = 0
    for case in cases:
        try:
            passed += evaluate(exercise, case, got=exercise.call(answer, case)).passed
        except Exception:  # the forwarder's error: a valid case failed
            pass
    return passed


@pytest.mark.parametrize("name", sorted(_FORWARDERS))
def test_a_caller_made_only_of_its_reference_callees_does_no_better_than_a_constant(name):
    # The work a declared edge leaves to the caller is its own: the reference callees
    # alone, on the caller's arguments, answer no more valid hidden cases than the best
    # constant answer does (a bool exercise's constant True or False passes some).
    exercise = REGISTRY[name]
    answer = _FORWARDERS[name]({c: REGISTRY[c].reference for c in exercise.callees()})
    cases = [c for c in hidden_cases.cases(name, None) if c.raises is None]
    expected = [exercise.call(exercise.reference, c) for c in cases]
    best_constant = max(sum(compare_outputs(e, other, exercise.rtol, exercise.atol) is None for other in expected)
                        for e in expected)
    assert _valid_passes(exercise, answer, cases) <= best_constant < len(cases)


def test_a_visible_check_does_not_blame_the_caller_for_its_callee():
    namespace = {}
    exec("import torch\nimport convlab.ops as _ops\n"
         "def im2col(x, kernel_size, stride=1, padding=0):\n"
         "    return _cols(x, kernel_size, stride, padding) * 2\n", namespace)
    namespace["_cols"] = lambda *a: REGISTRY["im2col"].reference(*a)
    exec(_answer("01_convolution", "conv2d_im2col"), namespace)
    with pytest.raises(CheckFailed):
        check("im2col", namespace["im2col"], quiet=True)
    check("conv2d_im2col", namespace["conv2d_im2col"], quiet=True)  # passes with the reference im2col
    assert namespace["im2col"].__name__ == "im2col"  # the student's function is back in place


def _answer(assignment: str, grade_id: str) -> str:
    """The solution's answer cell ``grade_id``, without nbgrader's solution markers."""
    cell = next(c for c in _solution(assignment).cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(line for line in cell.source.splitlines() if "###" not in line)


def _hdc_max_distances_taking(step: str) -> str:
    """An hdc_max_distances whose recursion takes ``step`` for M_i (M_{i+1} is ``m``)."""
    return ("def hdc_max_distances(rates):\n"
            "    rates = list(rates)\n"
            "    if not rates or any(r < 1 for r in rates):\n"
            "        raise ValueError('rates must be a non-empty list of rates >= 1')\n"
            "    distances = [rates[-1]]\n"
            "    for r in reversed(rates[:-1]):\n"
            "        m = distances[0]\n"
            f"        distances.insert(0, {step})\n"
            "    return distances\n")


def test_a_visible_check_charges_a_loop_in_a_callee_to_the_callee(capsys):
    # A loop-based im2col (right values) under the solution's conv2d_im2col: the loop is
    # im2col's, and conv2d_im2col's own check passes, as the grader grades it.
    namespace = {}
    exec("import torch\nimport torch.nn.functional as F\n"
         "def im2col(x, kernel_size, stride=1, padding=0):\n"
         "    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size\n"
         "    n, c, h, w = x.shape\n"
         "    if kh > h + 2 * padding or kw > w + 2 * padding:\n"
         "        raise ValueError('kernel larger than the padded input')\n"
         "    x = F.pad(x, (padding,) * 4)\n"
         "    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1\n"
         "    cols = [x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw].reshape(n, -1)\n"
         "            for i in range(ho) for j in range(wo)]\n"
         "    return torch.stack(cols, dim=2)\n", namespace)
    with pytest.raises(CheckFailed, match="not vectorized"):
        check("im2col", namespace["im2col"], quiet=True)
    exec(_answer("01_convolution", "conv2d_im2col"), namespace)
    check("conv2d_im2col", namespace["conv2d_im2col"])
    assert "the loop the vectorization check finds is in your im2col" in capsys.readouterr().out


def test_a_visible_check_blames_a_declared_callee(capsys):
    # satisfies_hdc is built on hdc_max_distances (its uses): a wrong recursion is charged there.
    namespace = {}
    exec(_hdc_max_distances_taking("min(m - 2 * r, m - 2 * (m - r), r)"), namespace)  # min, not max
    exec(_answer("05_hdc", "satisfies_hdc"), namespace)
    assert REGISTRY["satisfies_hdc"].uses == ("hdc_max_distances",)
    check("satisfies_hdc", namespace["satisfies_hdc"])
    assert "with the reference hdc_max_distances" in capsys.readouterr().out


def test_a_visible_check_never_blames_an_exercise_the_course_does_not_declare(capsys):
    # corr2d is not built on conv2d_im2col: calling it, corr2d is checked with the
    # student's own conv2d_im2col, as the grader grades it (a circle earns nothing there).
    namespace = {"torch": torch, "F": torch.nn.functional}
    exec(_answer("01_convolution", "im2col"), namespace)
    exec(_answer("01_convolution", "conv2d_im2col"), namespace)
    right = namespace["conv2d_im2col"]
    exec("def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):\n"
         "    return 2 * _right(x, weight, bias, stride, padding)\n"
         "def corr2d(x, kernel):\n"
         "    return conv2d_im2col(x[None, None], kernel[None, None])[0, 0]\n", namespace)
    namespace["_right"] = right
    with pytest.raises(CheckFailed, match="corr2d: 0 of"):
        check("corr2d", namespace["corr2d"], quiet=True)
    namespace["conv2d_im2col"] = right  # the callee right: the caller passes
    check("corr2d", namespace["corr2d"])
    assert "with the reference" not in capsys.readouterr().out


# --- one registry ---------------------------------------------------------------------------

def test_the_registry_is_the_exercises_table():
    by_assignment = {}
    for exercise in REGISTRY.values():
        by_assignment.setdefault(exercise.assignment, set()).add(exercise.name)
    assert {a: set(names) for a, names in convlab.EXERCISES.items()} == by_assignment
    assert ASSIGNMENTS == tuple(convlab.EXERCISES)  # derived, not a second list
    assert all((ROOT / "solutions" / a / f"{a}.ipynb").exists() for a in ASSIGNMENTS)


def test_every_exercise_has_hidden_cases_and_nothing_else_does():
    assert set(hidden_cases.HIDDEN) == set(REGISTRY)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_notebook_grade_ids_are_the_registry(assignment):
    meta = [c.get("metadata", {}).get("nbgrader", {}) for c in _solution(assignment).cells]
    answers = [m["grade_id"] for m in meta if m.get("solution") and not m.get("grade")
               and m.get("grade_id") in REGISTRY]
    tests = [m["grade_id"] for m in meta if m.get("grade") and not m.get("solution")]
    assert answers == convlab.EXERCISES[assignment]
    assert [exercise_of(t) for t in tests] == convlab.EXERCISES[assignment]
    assert tests == [test_id(name) for name in convlab.EXERCISES[assignment]]


def test_the_test_prefix_has_one_home():
    import autograder.judge.grader as grader

    assert exercise_of("test_corr2d") == "corr2d" and exercise_of("test_") is None
    assert exercise_of("corr2d") is None and test_id("corr2d") == "test_corr2d"
    assert grader.exercise_name is exercise_of
    for path in [ROOT / "autograder" / "judge" / "grader.py", ROOT / "lib" / "convlab" / "checks" / "core.py"]:
        text = path.read_text()
        assert len(re.findall(r"[\"']test_[\"']", text)) <= 1, path


# --- the grader, end to end (a sandbox per test: slow) ------------------------------------

def _graded(answers: dict[str, str], added: list[str], points: dict[str, float]):
    from autograder.judge.grader import grade_notebook
    from autograder.sandbox import Limits

    nb = _solution("01_convolution")
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    first_answer = next(i for i, c in enumerate(nb.cells)
                        if c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    for source in reversed(added):
        nb.cells.insert(first_answer, nbformat.v4.new_code_cell(source))
    limits = Limits(cell_seconds=3, case_seconds=2, memory_mb=400)
    return {g.grade_id: g for g in grade_notebook(nb, "01_convolution", points, limits=limits)}


@pytest.mark.slow
def test_grading_takes_helpers_reports_side_effects_and_gives_nothing_for_raising(monkeypatch):
    monkeypatch.setenv("CONVLAB_NO_ISOLATION", "1")
    grades = _graded(
        answers={
            "conv_output_size": "def conv_output_size(n, k, stride=1, padding=0):\n"
                                "    check_fits(n, k, stride, padding)\n"
                                "    return (n + 2 * padding - k) // stride + ONE\n",
            "corr2d": "def corr2d(x, kernel):\n    return x[:1, :1] * SCALE\n",
            "conv2d_loops": "def conv2d_loops(x, weight, bias=None, stride=1, padding=0):\n"
                            "    raise ValueError('not done yet')\n",
        },
        added=["ONE = 1\n\ndef check_fits(n, k, stride, padding):\n"
               "    if stride < 1 or k > n + 2 * padding:\n        raise ValueError('does not fit')\n\n"
               "print(check_fits(5, 3, 1, 0))\n",
               "SCALE = 1\nfor i in range(3):\n    SCALE += 1\n"],
        points={"test_conv_output_size": 2.0, "test_corr2d": 3.0, "test_conv2d_loops": 5.0},
    )
    size, corr, loops = grades["test_conv_output_size"], grades["test_corr2d"], grades["test_conv2d_loops"]
    assert size.score == size.max_score, size.message
    assert corr.score < corr.max_score and "`SCALE` (set by a for loop" in corr.message, corr.message
    assert loops.score == 0 and "raising ValueError alone earns nothing" in loops.message, loops.message
    assert "expected float64 tensor" in loops.message  # the value it should have returned


# --- the timing cell of 01 ------------------------------------------------------------------

def _slow_conv2d_loops(x, weight, bias=None, stride=1, padding=0):
    """A correct answer as slow as a first attempt gets: one scalar product at a time."""
    x = torch.nn.functional.pad(x, (padding,) * 4)
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = torch.zeros(n, c_out, ho, wo, dtype=x.dtype)
    xs, ws = x.tolist(), weight.tolist()
    for b in range(n):
        for o in range(c_out):
            for i in range(ho):
                for j in range(wo):
                    total = 0.0
                    for c in range(c_in):
                        for a in range(kh):
                            for d in range(kw):
                                total += xs[b][c][i * stride + a][j * stride + d] * ws[o][c][a][d]
                    out[b, o, i, j] = total + (bias[o].item() if bias is not None else 0.0)
    return out


def test_the_timing_cell_stays_short_with_a_slow_loop_answer():
    cell = next(c for c in _solution("01_convolution").cells
                if c.cell_type == "code" and "seconds_per_call" in c.source)
    plotted = {}
    namespace = {
        "time": time, "torch": torch, "F": torch.nn.functional,
        "use_or_reference": lambda fn, name: fn,
        "conv2d_loops": _slow_conv2d_loops, "conv2d_im2col": convlab.conv2d_im2col,
        "figures": type("figures", (), {"plot_timings": staticmethod(plotted.update)}),
        "plt": type("plt", (), {"show": staticmethod(lambda: None)}),
    }
    threads = torch.get_num_threads()
    start = time.monotonic()
    exec(cell.source, namespace)
    assert time.monotonic() - start < 10
    assert torch.get_num_threads() == threads  # the cell gives the threads back
    assert len(plotted) == 3 and all(t > 0 for t in plotted.values())


def test_a_crash_first_does_not_hide_the_mistake_a_later_case_reveals():
    from convlab.checks import REGISTRY
    from convlab.checks.core import CaseResult, first_failure

    exercise = REGISTRY["corr2d"]
    flipped = exercise.mistakes[0].name
    crash = CaseResult(False, "corr2d(...)\n  raised RuntimeError: negative dimension", raised=True)
    wrong = CaseResult(False, "corr2d(...)\n  values differ", candidates=(flipped,), detail="corr2d(...)\n  values differ")
    plain = CaseResult(False, "corr2d(...)\n  values differ", detail="corr2d(...)\n  values differ")
    shown = first_failure(exercise, [CaseResult(True), crash, wrong])
    assert shown.mistake == flipped and "values differ" in shown.message
    # A wrong value first stays first: only a crash gives way to a case that names a mistake.
    assert first_failure(exercise, [plain, wrong]) is plain
    assert first_failure(exercise, [crash, plain]) is crash


@pytest.mark.slow
def test_an_exercise_calling_another_one_is_not_charged_for_its_mistake():
    # satisfies_hdc is built on hdc_max_distances (its declared uses): a student whose
    # hdc_max_distances drops the r_i term loses points there, not again.
    from autograder.judge.grader import grade_notebook
    from autograder.sandbox import Limits

    nb = _solution("05_hdc")
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "hdc_max_distances":
            cell.source = _hdc_max_distances_taking("max(m - 2 * r, m - 2 * (m - r))")  # r_i dropped
    points = {"test_hdc_max_distances": 2.0, "test_satisfies_hdc": 2.0}
    limits = Limits(cell_seconds=3, case_seconds=2, memory_mb=400)
    grades = {g.grade_id: g for g in grade_notebook(nb, "05_hdc", points, limits=limits)}
    callee, caller = grades["test_hdc_max_distances"], grades["test_satisfies_hdc"]
    assert callee.score < callee.max_score and "r_i dropped" in callee.message, callee.message
    assert caller.score == caller.max_score, caller.message
    assert "Graded with the reference hdc_max_distances" in caller.message
