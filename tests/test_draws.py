"""Every student's draw of hidden cases is as good as every other's (issue 14, item 5).

Hidden cases are drawn per student (``autograder.judge.hidden_cases``: the seed is an HMAC of the
course secret, the assignment, the exercise, the student and the attempt), so a guarantee
that holds for one draw must hold for all. Over many course secrets and students:

* a constant earns nothing: zeros and ones (of the expected shape), an empty result, plain
  0 / 1 / True / False / [] / None, the most common expected value, and the stub itself;
* every catalogued mistake fails a valid case of every draw, and the feedback names it;
* two students with the same mistake earn about the same: the fraction of the points a
  mistake earns varies across draws by at most ``BAND``.

Scores are computed as the grader computes them (``grader._grade_exercise``): ``evaluate``
per case, ``credit`` over the cases, ``first_failure`` for the feedback. The reference's and
the mistakes' outputs are computed once per draw and replayed (``_judged``), so that naming
a mistake on each failing case does not run every mistake again.

Set CONVLAB_DRAWS=<n> to draw n times as many keys (e.g. 20 for a thorough run).
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import os
import textwrap

import pytest
import torch

from autograder.judge import hidden_cases
from autograder.examples.build import load_students
from convlab.checks import REGISTRY
from convlab.checks.core import Case, CaseResult, Exercise, Mistake, credit, evaluate, first_failure

NAMES = sorted(n for n in REGISTRY if n in hidden_cases.HIDDEN)

# The largest spread (max - min over draws) of the fraction of an exercise's points that one
# catalogued mistake earns: two students with the same mistake get scores this close.
# Measured over 48 draws per exercise (CONVLAB_DRAWS=4): at most 0.45 (satisfies_hdc, a
# boolean whose slips show only on some rate schedules); the tensor exercises stay within
# about 0.3, the stratified draws (``Draw``) keep each kind of case in fixed numbers.
BAND = 0.5

# Draws per exercise, by what a draw costs (its mistakes' outputs): the test stays well
# under a minute. Each secret is drawn for two students.
_SLOW = {"HDCBlock": 1, "effective_receptive_field": 1}
_MEDIUM = {"atrous_conv2d", "conv2d_dilated", "conv2d_im2col", "conv2d_loops", "im2col",
           "conv_transpose2d_scatter", "conv_transpose2d_via_conv"}
_SCALE = int(os.environ.get("CONVLAB_DRAWS", "1"))


def _secrets(name: str) -> int:
    return _SCALE * (_SLOW.get(name) or (2 if name in _MEDIUM else 6))


def keys(name: str) -> list[hidden_cases.SeedKey]:
    """Two students for each of many course secrets (fixed: a failure can be reproduced)."""
    found = []
    for i in range(_secrets(name)):
        secret = hashlib.sha256(f"convlab test_draws secret {i}".encode()).digest()
        assignment = REGISTRY[name].assignment
        found += [hidden_cases.SeedKey(secret, assignment, student, f"2026-01-0{1 + i % 9}|0")
                  for student in ("ada", "bob")]
    return found


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Small tensors: torch's thread pool only costs time here, the more on a shared machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(exercise: Exercise, fn, case: Case):
    """("value", v) or ("error", "Type: message"), as the sandbox reports a call."""
    try:
        return ("value", exercise.call(fn, case))
    except Exception as exc:
        return ("error", f"{type(exc).__name__}: {exc}")


@dataclasses.dataclass
class Drawn:
    cases: list[Case]
    expected: list  # the reference's value; None for a case that must raise
    mistakes: dict[str, list]  # mistake name -> _run of its produce on each case


@functools.lru_cache(maxsize=None)
def drawn(name: str, index: int) -> Drawn:
    exercise = REGISTRY[name]
    cases = hidden_cases.cpu_cases(name, keys(name)[index])
    expected = [None if c.raises is not None else exercise.call(exercise.reference, c) for c in cases]
    outputs = {m.name: [_run(exercise, m.produce, c) for c in cases] for m in exercise.mistakes}
    return Drawn(cases, expected, outputs)


def _clearly_different(a, b, exercise: Exercise) -> bool:
    """True only where ``compare_outputs`` would find the tensors different (shape, dtype,
    or a difference beyond its widest tolerance): a cheap way past most comparisons."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return False
    if a.shape != b.shape or a.dtype != b.dtype:
        return True
    if not a.is_floating_point() or not a.numel():
        return False
    scale = a.abs().max().item()
    widest = max(exercise.atol, 32 * torch.finfo(a.dtype).eps * scale) + exercise.rtol * scale
    return bool(((a - b).abs().max() > widest).item())


def _replay(exercise: Exercise, outcome, got):
    """A stand-in for a mistake's ``produce`` on one case: its recorded outcome."""
    kind, value = outcome

    def produce(*args, **kwargs):
        if kind == "error" or _clearly_different(value, got, exercise):
            raise RuntimeError("no match")  # as a mistake that does not apply: no candidate
        return value

    return produce


def _replay_error(outcome):
    """A stand-in for a mistake's ``produce`` where the answer raised: the mistake's recorded
    error raised again (its type by name, its message), for ``Mistake.error_pattern``."""
    kind, value = outcome

    def produce(*args, **kwargs):
        if kind != "error":
            raise RuntimeError("no match")
        type_name, _, message = value.partition(": ")
        raise type(type_name, (Exception,), {})(message)

    return produce


def judged(name: str, index: int, answer: list, named: bool = True) -> list[CaseResult]:
    """``evaluate`` on every case of draw ``index`` for the answer's outcomes (``_run``'s
    pairs), as the grader's ``_judge`` does, with the mistakes' outputs replayed (none
    where ``named`` is False: a score does not depend on them)."""
    exercise, draw = REGISTRY[name], drawn(name, index)
    results = []
    for i, (case, (kind, value)) in enumerate(zip(draw.cases, answer)):
        if not named:
            mistakes = []
        elif kind == "value":
            mistakes = [Mistake(m.name, m.hint, _replay(exercise, draw.mistakes[m.name][i], value))
                        for m in exercise.mistakes]
        else:  # named from the error it raises, where a mistake declares its pattern
            mistakes = [Mistake(m.name, m.hint, _replay_error(draw.mistakes[m.name][i]),
                                error_pattern=m.error_pattern)
                        for m in exercise.mistakes if m.error_pattern]
        stand_in = dataclasses.replace(exercise, adapter=None, mistakes=mistakes)
        if kind == "error":
            results.append(evaluate(stand_in, case, error=value, expected=draw.expected[i]))
        else:
            results.append(evaluate(stand_in, case, got=value, expected=draw.expected[i]))
    return results


def score(name: str, index: int, answer: list, named: bool = True) -> tuple[float, list[CaseResult]]:
    """The fraction of the points the answer earns on draw ``index``, and its results."""
    results = judged(name, index, answer, named)
    return credit(drawn(name, index).cases, results)[0] / len(results), results


# --- a constant earns nothing ---------------------------------------------------------------

def _like(value, fill):
    """``value`` with every tensor in it replaced by one of its shape filled with ``fill``."""
    if isinstance(value, torch.Tensor):
        return torch.full_like(value, fill)
    if isinstance(value, (list, tuple)):
        return type(value)(_like(v, fill) for v in value)
    return fill


def constants(draw: Drawn) -> dict[str, list]:
    """Each constant answer's outcomes on the draw's cases."""
    first = next(e for e in draw.expected if e is not None)
    shaped = [first if e is None else e for e in draw.expected]  # what a raising case gets
    answers = {
        "zeros_like": [_like(e, 0) for e in shaped],
        "ones_like": [_like(e, 1) for e in shaped],
        "an empty tensor": [torch.empty(0, dtype=torch.float64)] * len(shaped),
    }
    for plain in (0, 1, True, False, [], None, 0.0):
        answers[repr(plain)] = [plain] * len(shaped)
    plain_values = [e for e in draw.expected if e is not None and not isinstance(e, (torch.Tensor, list, tuple))]
    if plain_values:  # the best constant: the value most cases expect
        common = collections.Counter(plain_values).most_common(1)[0][0]
        answers[f"the most common value, {common!r}"] = [common] * len(shaped)
    outcomes = {name: [("value", v) for v in values] for name, values in answers.items()}
    outcomes["the stub"] = [("error", "NotImplementedError: ")] * len(shaped)
    return outcomes


@pytest.mark.parametrize("name", NAMES)
def test_a_constant_answer_earns_nothing_in_any_draw(name):
    for index in range(len(keys(name))):
        draw = drawn(name, index)
        expected = {repr(e) for e in draw.expected if e is not None}
        assert len(expected) > 1, f"{name}: every valid case of draw {index} expects the same value"
        for constant, answer in constants(draw).items():
            earned, results = score(name, index, answer, named=False)
            assert earned == 0, (f"{name}, draw {index}: {constant} earns {earned:.2f} of the points "
                                 f"({sum(r.passed for r in results)} cases pass)")


# --- every mistake is caught and named in every draw -----------------------------------------

def _named_as(failure: CaseResult, mistake: str) -> bool:
    # Named alone, or with a twin whose outputs are the same on every failing case (as
    # the visible checks name ties: ``first_failure``).
    return mistake in (failure.named or (failure.mistake,))


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].mistakes])
def test_every_mistake_fails_a_valid_case_of_every_draw_and_is_named(name):
    exercise = REGISTRY[name]
    for index in range(len(keys(name))):
        draw = drawn(name, index)
        for mistake in exercise.mistakes:
            _, results = score(name, index, draw.mistakes[mistake.name])
            failing = [r for c, r in zip(draw.cases, results) if c.raises is None and not r.passed]
            where = f"{name}, draw {index} ({keys(name)[index].student})"
            assert failing, f"{where}: {mistake.name!r} passes every valid case"
            failure = first_failure(exercise, results)
            assert _named_as(failure, mistake.name), (
                f"{where}: {mistake.name!r} is not named; the feedback says:\n{failure.message}")


# A catalogued mistake as an example student wrote it (autograder/examples/students): the
# student's own code, not the catalogue's ``produce``, is named in every draw, also where it
# crashes on a valid case (atrous_conv2d's undilated SAME padding leaves some drawn inputs
# no room for the dilated filter: torch's conv2d raises, the catalogue's mistake with it).
_WRITTEN = [("atrous_mistakes", "atrous_conv2d")]


@pytest.mark.parametrize("student, name", _WRITTEN)
def test_an_example_students_mistake_is_named_in_every_draw(student, name):
    spec = load_students([student])[student]
    says = spec.expect[name].says
    assert says, f"{student}'s {name} is expected to name no mistake"
    namespace = {"torch": torch, "F": torch.nn.functional}
    exec(textwrap.dedent(spec.answers[name]), namespace)
    exercise = REGISTRY[name]
    crashed = 0
    for index in range(len(keys(name))):
        answer = [_run(exercise, namespace[name], case) for case in drawn(name, index).cases]
        earned, results = score(name, index, answer)
        where = f"{student}'s {name}, draw {index} ({keys(name)[index].student})"
        assert 0 < earned < 1, f"{where} earns {earned:.2f} of the points"
        failure = first_failure(exercise, results)
        assert all(p.lower() in failure.message.lower() for p in says), (
            f"{where} is not named {says}; the feedback says:\n{failure.message}")
        # Each failing valid case names it on its own: a draw whose only failing cases are
        # crashes names it too.
        for case, result in zip(drawn(name, index).cases, results):
            if case.raises is None and not result.passed:
                assert all(any(p.lower() in c.lower() for c in result.candidates) for p in says), (
                    f"{where}: a failing case does not name {says}:\n{result.message}")
                crashed += result.raised
    # The draws hold the crashing cases this test is about.
    assert crashed, f"{student}'s {name} crashes on no valid case of any draw"


def earned_fractions(name: str) -> dict[str, list[float]]:
    """Mistake -> the fraction of the points it earns in each draw."""
    exercise = REGISTRY[name]
    return {m.name: [score(name, i, drawn(name, i).mistakes[m.name], named=False)[0]
                     for i in range(len(keys(name)))] for m in exercise.mistakes}


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].mistakes])
def test_two_students_with_the_same_mistake_earn_about_the_same(name):
    spreads = {m: max(f) - min(f) for m, f in earned_fractions(name).items()}
    wide = {m: round(s, 2) for m, s in spreads.items() if s > BAND}
    assert not wide, f"{name}: these mistakes earn fractions of the points further apart than {BAND}: {wide}"


# --- the constant rule of credit, pinned -----------------------------------------------------

_BOOL = Exercise(name="positive", assignment="test", reference=lambda x: x > 0, visible_cases=lambda: [],
                 returns="bool")
_BOOL_CASES = [Case((x,)) for x in (3, 5, -2, 7, -4)] + [Case(("x",), raises=ValueError)]


def _bool_credit(*outcomes) -> tuple[float, str]:
    results = []
    for case, outcome in zip(_BOOL_CASES, outcomes):
        if isinstance(outcome, BaseException):
            results.append(evaluate(_BOOL, case, error=f"{type(outcome).__name__}: {outcome}"))
        else:
            results.append(evaluate(_BOOL, case, got=outcome))
    return credit(_BOOL_CASES, results)


def test_a_constant_earns_nothing_even_where_it_is_right_and_raises_where_it_must():
    # True is right for 3 of the 5 valid cases, and the invalid case raises as it must.
    earned, note = _bool_credit(True, True, True, True, True, ValueError("x"))
    assert earned == 0 and "returns the same value (True) for every valid case" in note
    # None now and then (a kind no case expects) does not hide the constant.
    assert _bool_credit(True, None, True, True, True, ValueError("x"))[0] == 0


def test_an_honest_answer_keeps_what_it_passes():
    # Wrong once, but not a constant: 4 of 5 valid cases, and the invalid case in proportion.
    earned, note = _bool_credit(True, True, False, False, False, ValueError("x"))
    assert earned == pytest.approx(4 + 4 / 5) and "constant" not in note
    # Right wherever it returns, raising elsewhere (a typo in one branch): the same value
    # every time, yet never a wrong one, so not a constant.
    earned, note = _bool_credit(True, True, NameError("Flase"), True, NameError("Flase"), ValueError("x"))
    assert earned == pytest.approx(3 + 3 / 5) and "constant" not in note
    # Every valid case expects the same value: returning it is right, not luck.
    same = [Case((x,)) for x in (1, 2, 3)]
    results = [evaluate(_BOOL, c, got=True) for c in same]
    assert credit(same, results) == (3.0, "")


def test_zeros_of_every_expected_shape_are_one_constant():
    exercise = Exercise(name="double", assignment="test", reference=lambda x: 2 * x, visible_cases=lambda: [])
    cases = [Case((torch.zeros(2, 3),)), Case((torch.ones(4),)), Case((torch.arange(3.0),))]
    results = [evaluate(exercise, c, got=torch.zeros_like(c.args[0])) for c in cases]
    assert [r.passed for r in results] == [True, False, False]
    earned, note = credit(cases, results)
    assert earned == 0 and "a tensor filled with 0" in note
    # Outputs that are right on the first case and differ elsewhere are no constant.
    results[1] = evaluate(exercise, cases[1], got=torch.full((4,), 3.0))
    assert credit(cases, results)[0] == 1
