"""Every visible check, whatever the exercise: passes on the reference, fails on zeros,
fails on each named mistake and names it."""
from __future__ import annotations

import pytest
import torch

from convlab.checks import REGISTRY, run_case
from convlab.checks.core import Case, compare_outputs, error_type, evaluate

EXERCISES = sorted(REGISTRY)


def _reference_copy(exercise):
    # A wrapper defined here, so the check's "uses convlab" guard is exercised separately.
    return lambda *args, **kwargs: exercise.reference(*args, **kwargs)


@pytest.mark.parametrize("name", EXERCISES)
def test_reference_passes_every_visible_case(name):
    exercise = REGISTRY[name]
    for case in exercise.visible_cases():
        result = run_case(exercise, _reference_copy(exercise), case)
        assert result.passed, result.message


@pytest.mark.parametrize("name", EXERCISES)
def test_visible_cases_include_an_error_case_or_are_value_cases(name):
    cases = REGISTRY[name].visible_cases()
    assert len(cases) >= 3, f"{name}: a handful of cases, not one"
    assert any(c.raises is None for c in cases)


def _zeros_like_result(value):
    if isinstance(value, torch.Tensor):
        return torch.zeros_like(value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return 0
    if isinstance(value, float):
        return 0.0
    if isinstance(value, (list, tuple)):
        return type(value)()
    return None


@pytest.mark.parametrize("name", EXERCISES)
def test_zero_output_fails(name):
    exercise = REGISTRY[name]
    if exercise.returns == "module":
        pytest.skip("modules are checked by their own tests")
    value_cases = [c for c in exercise.visible_cases() if c.raises is None]
    failed = []
    for case in value_cases:
        expected = exercise.call(exercise.reference, case)  # through the adapter, if any
        zero = _zeros_like_result(expected)
        result = run_case(exercise, lambda *a, _z=zero, **k: _z, case)
        failed.append(not result.passed)
    assert any(failed), f"{name}: a function returning zeros passes every visible case"


@pytest.mark.parametrize(
    "name,mistake",
    [(name, m.name) for name in EXERCISES for m in REGISTRY[name].mistakes],
)
def test_each_named_mistake_fails_and_is_named(name, mistake):
    exercise = REGISTRY[name]
    wrong = next(m for m in exercise.mistakes if m.name == mistake)
    results = [run_case(exercise, wrong.produce, case) for case in exercise.visible_cases()]
    failing = [r for r in results if not r.passed]
    assert failing, f"{name}: the mistake {mistake!r} passes every visible case"
    assert any(mistake in r.message for r in failing), (
        f"{name}: the mistake {mistake!r} fails but is never named:\n"
        + "\n".join(r.message for r in failing)
    )


@pytest.mark.parametrize("name", EXERCISES)
def test_error_cases_demand_value_error(name):
    exercise = REGISTRY[name]
    for case in exercise.visible_cases():
        if case.raises is None:
            continue
        with pytest.raises(case.raises):
            exercise.call(exercise.reference, case)
        silent = run_case(exercise, lambda *a, **k: 0, case)
        assert not silent.passed and "should raise" in silent.message


def test_compare_outputs_reports_shape_before_values():
    message = compare_outputs(torch.zeros(2, 3), torch.zeros(3, 2))
    assert message == "shape: expected (2, 3), got (3, 2)"


def test_compare_outputs_names_first_differing_index():
    expected = torch.arange(6.0).reshape(2, 3)
    got = expected.clone()
    got[1, 2] = 100.0
    message = compare_outputs(expected, got)
    assert "index (1, 2)" in message and "expected 5" in message and "got 100" in message


def test_case_clone_protects_the_reference_from_in_place_edits():
    case = Case((torch.ones(3),))
    copy = case.clone()
    copy.args[0].zero_()
    assert torch.equal(case.args[0], torch.ones(3))


def test_first_failure_names_the_mistake_that_explains_every_failing_case():
    from convlab.checks.core import Exercise, Mistake, evaluate, first_failure

    # On the first case both mistakes give the same output; only "doubled" fits the second.
    exercise = Exercise(
        name="scale",
        assignment="test",
        reference=lambda x: x * 3,
        visible_cases=lambda: [],
        mistakes=[
            Mistake("squared", "hint a", lambda x: x * x * 3),
            Mistake("doubled", "hint b", lambda x: x * 6),
        ],
    )
    cases = [Case((torch.tensor([2.0]),)), Case((torch.tensor([5.0]),))]
    results = [evaluate(exercise, c, got=c.args[0] * 6) for c in cases]
    assert results[0].mistake == "squared"  # alone, the first case is ambiguous
    chosen = first_failure(exercise, results)
    assert chosen.mistake == "doubled" and "Likely mistake: doubled. hint b" in chosen.message
    assert "squared" not in chosen.message
    assert first_failure(exercise, [evaluate(exercise, cases[0], got=torch.tensor([6.0]))]) is None


@pytest.mark.parametrize("text, kind", [
    ("ValueError: kernel larger than input", "ValueError"),
    ("NotImplementedError (line 8 of your cell)", "NotImplementedError"),
    ("NotImplementedError", "NotImplementedError"),
    ("torch.OutOfMemoryError: CUDA", "torch.OutOfMemoryError"),
    ("  KeyError: 'x'", "KeyError"),
    ("", ""),
    (": no type", ""),
])
def test_error_type_reads_the_type_name_of_a_reported_error(text, kind):
    assert error_type(text) == kind


def test_only_the_stubs_exception_counts_as_not_implemented():
    exercise = REGISTRY["conv_output_size"]
    case = next(c for c in exercise.visible_cases() if c.raises is None)
    stub = evaluate(exercise, case, error="NotImplementedError (line 3 of your cell)")
    assert stub.not_implemented and not stub.passed
    said = evaluate(exercise, case, error="ValueError: conv_output_size is not implemented yet")
    assert not said.not_implemented and said.raised and said.error_type == "ValueError"


def test_float_tolerance_allows_a_few_ulps_of_the_largest_value_and_no_more():
    from convlab.checks.core import ROUNDING_ULPS

    for dtype in (torch.float32, torch.float64):
        slack = max(1e-6, ROUNDING_ULPS * torch.finfo(dtype).eps * 100.0)
        expected = torch.tensor([[0.0, 100.0], [-3.0, 1.0]], dtype=dtype)
        near = expected.clone()
        near[0, 0] = 0.9 * slack  # rounding of a sum taken in another order
        assert compare_outputs(expected, near) is None
        far = expected.clone()
        far[0, 0] = 1.5 * slack
        assert "values differ at 1 of 4 positions" in compare_outputs(expected, far)
    # Pinned in numbers: float32 values up to 100 allow 3.8e-4 at an exact zero, not 5e-4.
    expected = torch.tensor([0.0, 100.0])
    assert compare_outputs(expected, torch.tensor([3e-4, 100.0])) is None
    assert compare_outputs(expected, torch.tensor([5e-4, 100.0])) is not None
    # In float64 the slack stays the fixed atol: 2e-6 at an exact zero is a difference.
    assert compare_outputs(torch.zeros(2, dtype=torch.float64),
                           torch.tensor([2e-6, 0.0], dtype=torch.float64)) is not None
