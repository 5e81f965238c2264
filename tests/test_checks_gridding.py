"""The visible checks of 04_gridding against answers a student could write.

Correct answers are written differently from the reference (autograd through a real stack
of all-ones convs, sets of reachable offsets, explicit pixel sets, backward() instead of
autograd.grad) and must pass; wrong ones are hand-written the way a student slips, and the
check must name the slip. Every pair of catalogued mistakes must be told apart by the
visible cases, and every ValueError the exercise text lists must be demanded.
"""
from __future__ import annotations

import ast
import itertools
import math
import time
from pathlib import Path

import convlab
import pytest
import torch
import torch.nn.functional as F
from check_helpers import fails_naming, passes
from convlab.checks import REGISTRY, adapters, run_case
from convlab.checks.core import compare_outputs, first_failure

NAMES = ["dependency_map", "coverage", "has_gridding", "shared_inputs", "effective_receptive_field"]


# --- the catalogue itself ---------------------------------------------------------------------

def _outputs(exercise, fn):
    row = []
    for case in exercise.visible_cases():
        if case.raises is not None:
            continue
        try:
            row.append(exercise.call(fn, case))
        except Exception as exc:  # noqa: BLE001 - a mistake that does not apply
            row.append(f"raises {type(exc).__name__}")
    return row


def _same(exercise, a, b) -> bool:
    for x, y in zip(a, b):
        if isinstance(x, str) or isinstance(y, str):
            if x != y:
                return False
        elif compare_outputs(x, y, exercise.rtol, exercise.atol) is not None:
            return False
    return True


@pytest.mark.parametrize("name", NAMES)
def test_visible_cases_tell_every_pair_of_mistakes_apart(name):
    exercise = REGISTRY[name]
    reference = _outputs(exercise, exercise.reference)
    rows = {m.name: _outputs(exercise, m.produce) for m in exercise.mistakes}
    assert len(rows) == len(exercise.mistakes), f"{name}: two mistakes share a name"
    for mistake, row in rows.items():
        assert not _same(exercise, row, reference), f"{name}: {mistake!r} passes every visible case"
    for (a, row_a), (b, row_b) in itertools.combinations(rows.items(), 2):
        assert not _same(exercise, row_a, row_b), f"{name}: {a!r} and {b!r} agree on every visible case"


@pytest.mark.parametrize("name,mistake", [(n, m.name) for n in NAMES for m in REGISTRY[n].mistakes])
def test_check_names_exactly_the_mistake_made(name, mistake):
    """What check() reports (the first failure, named by the vote over all failing cases)
    is this mistake, and no other."""
    exercise = REGISTRY[name]
    wrong = next(m for m in exercise.mistakes if m.name == mistake)
    results = [run_case(exercise, wrong.produce, case) for case in exercise.visible_cases()]
    failure = first_failure(exercise, results)
    assert failure is not None and failure.mistake == mistake, failure and failure.message
    others = [m.name for m in exercise.mistakes if m.name != mistake and m.name in failure.message]
    assert not others, f"also named: {others}"


@pytest.mark.parametrize("name", NAMES)
def test_each_visible_check_runs_in_under_two_seconds(name):
    exercise = REGISTRY[name]
    reference = exercise.reference
    # CPU time, not wall time: the suite shares its cores with other jobs.
    start = time.process_time()
    passes(name, lambda *args, **kwargs: reference(*args, **kwargs))
    assert time.process_time() - start < 2.0


@pytest.mark.parametrize("name", NAMES)
def test_every_exercise_demands_each_rate_value_error(name):
    """Empty rates, a rate < 1 and kernel_size < 1 (the ERF has its own list, below)."""
    notes = {c.note for c in REGISTRY[name].visible_cases() if c.raises is ValueError}
    if name == "effective_receptive_field":
        assert notes == {"input_shape is not three numbers (C, H, W)", "an entry of input_shape < 1",
                         "the model's output is not 4-D",
                         "the gradient is zero everywhere (the centre output does not depend on the input)"}
    else:
        assert notes == {"rates is empty", "a rate < 1", "kernel_size < 1"}


# --- dependency_map ---------------------------------------------------------------------------

def map_by_autograd(rates, kernel_size=3):
    """d(centre output)/d(input) through real all-ones convs: the path counts."""
    if not rates or min(rates) < 1 or kernel_size < 1:
        raise ValueError("rates must be non-empty ints >= 1 and kernel_size >= 1")
    size = 1 + (kernel_size - 1) * sum(rates)
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = x
    ones = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64)
    for rate in rates:
        out = F.conv2d(out, ones, dilation=rate)
    (grad,) = torch.autograd.grad(out.sum(), x)  # the output is 1 x 1
    return grad[0, 0].round().long()


def map_by_offsets(rates, kernel_size=3):
    """Count, with a dict, the offsets sum_i r_i t_i of every choice of taps (1-D), then
    take the outer product."""
    if len(rates) == 0 or any(r < 1 for r in rates) or kernel_size < 1:
        raise ValueError("bad rates or kernel_size")
    counts = {0: 1}
    for rate in rates:
        new = {}
        for offset, n in counts.items():
            for t in range(kernel_size):
                new[offset + rate * t] = new.get(offset + rate * t, 0) + n
        counts = new
    size = 1 + (kernel_size - 1) * sum(rates)
    line = torch.tensor([counts.get(i, 0) for i in range(size)], dtype=torch.int64)
    return line[:, None] * line[None, :]


@pytest.mark.parametrize("fn", [map_by_autograd, map_by_offsets])
def test_dependency_map_correct_passes(fn):
    passes("dependency_map", fn)


def test_dependency_map_reachability_named():
    fails_naming("dependency_map", lambda rates, kernel_size=3: (map_by_offsets(rates, kernel_size) > 0).long(),
                 "reachability (0/1) instead of path counts")


def test_dependency_map_canvas_k_times_sum_named():
    def wrong(rates, kernel_size=3):
        if not rates or min(rates) < 1 or kernel_size < 1:
            raise ValueError("bad input")
        size = kernel_size * sum(rates)  # too big a canvas
        canvas = torch.zeros(size, size, dtype=torch.int64)
        canvas[size // 2, size // 2] = 1
        for rate in rates:  # each layer spreads every count over its taps
            new = torch.zeros_like(canvas)
            half = rate * (kernel_size - 1) // 2
            for a in range(kernel_size):
                for b in range(kernel_size):
                    dy, dx = a * rate - half, b * rate - half
                    new += torch.roll(canvas, (dy, dx), (0, 1))
            canvas = new
        return canvas

    fails_naming("dependency_map", wrong, "R = k*sum(rates)")


def _rolled_map(rates, kernel_size, size, taps_apart):
    """A student's map on a size x size canvas: each layer spreads every count over its
    taps by torch.roll, the taps ``taps_apart(rate)`` pixels apart."""
    if not rates or min(rates) < 1 or kernel_size < 1:
        raise ValueError("bad input")
    canvas = torch.zeros(size, size, dtype=torch.int64)
    canvas[size // 2, size // 2] = 1
    for rate in rates:
        step = taps_apart(rate)
        new = torch.zeros_like(canvas)
        half = step * (kernel_size - 1) // 2
        for a in range(kernel_size):
            for b in range(kernel_size):
                new += torch.roll(canvas, (a * step - half, b * step - half), (0, 1))
        canvas = new
    return canvas


def test_dependency_map_canvas_one_plus_k_times_sum_named():
    # The student: R = 1 + k*sum(rates); today only a shape message.
    wrong = lambda rates, kernel_size=3: _rolled_map(rates, kernel_size, 1 + kernel_size * sum(rates),
                                                      lambda r: r)
    fails_naming("dependency_map", wrong, "shape: expected (13, 13), got (19, 19)",
                 "Likely mistake: R = 1 + k*sum(rates) instead of 1 + (k-1)*sum(rates)")


def test_dependency_map_that_ignores_the_rates_is_named():
    undilated = lambda rates, kernel_size=3: map_by_offsets([1] * len(rates), kernel_size)
    fails_naming("dependency_map", undilated, "Likely mistake: rates ignored (every layer undilated)")
    on_the_field = lambda rates, kernel_size=3: _rolled_map(
        rates, kernel_size, 1 + (kernel_size - 1) * sum(rates), lambda r: 1)
    fails_naming("dependency_map", on_the_field,
                 "Likely mistake: rates ignored on the right canvas (taps 1 apart in an R x R map)")


def test_dependency_map_off_by_one_dilation_named():
    fails_naming("dependency_map", lambda rates, kernel_size=3: map_by_offsets([r + 1 for r in rates], kernel_size),
                 "d zeros between taps instead of d - 1")


def test_dependency_map_without_validation_fails_on_each_error_case():
    exercise = REGISTRY["dependency_map"]
    unchecked = lambda rates, kernel_size=3: torch.ones(1, 1, dtype=torch.int64)
    for case in exercise.visible_cases():
        if case.raises is not None:
            result = run_case(exercise, unchecked, case)
            assert not result.passed and "should raise ValueError" in result.message


# --- coverage ---------------------------------------------------------------------------------

def coverage_from_offsets(rates, kernel_size=3):
    line = map_by_offsets(rates, kernel_size)[0] > 0  # row 0 of an outer product: the 1-D line
    return (line.sum().item() / line.numel()) ** 2


def coverage_from_autograd(rates, kernel_size=3):
    reached = map_by_autograd(rates, kernel_size) > 0
    return float(reached.float().mean())


@pytest.mark.parametrize("fn", [coverage_from_offsets, coverage_from_autograd])
def test_coverage_correct_passes(fn):
    passes("coverage", fn)


def test_coverage_returning_a_tensor_fails_saying_so():
    fails_naming("coverage", lambda rates, kernel_size=3: (map_by_autograd(rates, kernel_size) > 0).float().mean(),
                 "expected a number, got Tensor")


@pytest.mark.parametrize("denominator,mistake", [
    (lambda rates, k: (k * sum(rates)) ** 2, "k*sum(rates) per side"),
    (lambda rates, k: ((k - 1) * sum(rates)) ** 2, "(k-1)*sum(rates) per side"),
    (lambda rates, k: sum(r * (k - 1) + 1 for r in rates) ** 2, "sum of the layers' kernel extents"),
])
def test_coverage_over_the_wrong_square_named(denominator, mistake):
    def wrong(rates, kernel_size=3):
        reached = int((map_by_offsets(rates, kernel_size) > 0).sum())
        return reached / denominator(rates, kernel_size)

    fails_naming("coverage", wrong, "coverage over the wrong square", mistake)


def test_coverage_mean_count_named():
    fails_naming("coverage", lambda rates, kernel_size=3: map_by_offsets(rates, kernel_size).double().mean().item(),
                 "mean path count instead of fraction reached")


# --- has_gridding -----------------------------------------------------------------------------

def gridding_by_sets(rates, kernel_size=3):
    if not rates or min(rates) < 1 or kernel_size < 1:
        raise ValueError("bad input")
    reach = {0}
    for rate in rates:
        reach = {p + rate * t for p in reach for t in range(kernel_size)}
    return len(reach) < 1 + (kernel_size - 1) * sum(rates)


def gridding_by_coverage(rates, kernel_size=3):
    return coverage_from_autograd(rates, kernel_size) < 1


@pytest.mark.parametrize("fn", [gridding_by_sets, gridding_by_coverage])
def test_has_gridding_correct_passes(fn):
    passes("has_gridding", fn)


@pytest.mark.parametrize("wrong,mistake", [
    (lambda rates, kernel_size=3: math.gcd(*rates) > 1, "common factor > 1"),
    (lambda rates, kernel_size=3: max(rates) > 1, "any rate > 1"),
    (lambda rates, kernel_size=3: gridding_by_sets(rates, 3), "kernel_size ignored"),
])
def test_has_gridding_slips_named(wrong, mistake):
    def checked(rates, kernel_size=3):
        gridding_by_sets(rates, kernel_size)  # same validation
        return wrong(rates, kernel_size)

    fails_naming("has_gridding", checked, mistake)


# --- shared_inputs ----------------------------------------------------------------------------

def _field_pixels(rates, kernel_size, column):
    reach = {0}
    for rate in rates:
        reach = {p + rate * t for p in reach for t in range(kernel_size)}
    return {(y, x + column) for y in reach for x in reach}


def shared_by_sets(rates, kernel_size=3, offset=1):
    if not rates or min(rates) < 1 or kernel_size < 1:
        raise ValueError("bad input")
    return len(_field_pixels(rates, kernel_size, 0) & _field_pixels(rates, kernel_size, offset))


def shared_by_conv(rates, kernel_size=3, offset=1):
    """Two fields side by side on one canvas, each the autograd footprint of its output."""
    reached = map_by_autograd(rates, kernel_size) > 0
    shift = abs(offset)
    left = F.pad(reached, (0, shift))
    right = F.pad(reached, (shift, 0))
    return int((left & right).sum())


@pytest.mark.parametrize("fn", [shared_by_sets, shared_by_conv])
def test_shared_inputs_correct_passes(fn):
    passes("shared_inputs", fn)


def test_shared_inputs_roll_named():
    def wrong(rates, kernel_size=3, offset=1):
        reached = map_by_autograd(rates, kernel_size) > 0
        return int((reached & torch.roll(reached, offset, 1)).sum())

    fails_naming("shared_inputs", wrong, "shift wraps around")


def test_shared_inputs_dense_field_named():
    def wrong(rates, kernel_size=3, offset=1):
        shared_by_sets(rates, kernel_size, offset)
        size = 1 + (kernel_size - 1) * sum(rates)
        return size * max(size - abs(offset), 0)

    fails_naming("shared_inputs", wrong, "dense field assumed")


def test_shared_inputs_union_named():
    def wrong(rates, kernel_size=3, offset=1):
        shared_by_sets(rates, kernel_size, offset)
        return len(_field_pixels(rates, kernel_size, 0) | _field_pixels(rates, kernel_size, offset))

    fails_naming("shared_inputs", wrong, "union instead of intersection")


def test_shared_inputs_returning_a_tensor_fails_saying_so():
    def wrong(rates, kernel_size=3, offset=1):
        return torch.tensor(shared_by_sets(rates, kernel_size, offset))

    fails_naming("shared_inputs", wrong, "expected an int, got Tensor")


# --- effective_receptive_field --------------------------------------------------------------------

def erf_by_backward(model, input_shape):
    """backward() and x.grad, one-hot upstream gradient, checks by hand."""
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError("input_shape must be (C, H, W) with entries >= 1")
    model.eval()
    p = next(model.parameters())
    x = torch.ones(1, *input_shape, dtype=p.dtype, device=p.device, requires_grad=True)
    out = model(x)
    if out.dim() != 4:
        raise ValueError("the model must return (N, C, H, W)")
    upstream = torch.zeros_like(out)
    upstream[0, :, out.shape[2] // 2, out.shape[3] // 2] = 1
    out.backward(upstream)
    g = x.grad[0].abs().sum(0)
    if g.sum() == 0:
        raise ValueError("zero gradient")
    return g / g.sum()


def erf_by_jacobian(model, input_shape):
    c, h, w = input_shape
    if c < 1 or h < 1 or w < 1:
        raise ValueError("bad input_shape")
    model.eval()
    p = next(model.parameters())

    def centre(x):
        out = model(x)
        if out.dim() != 4:
            raise ValueError("not NCHW")
        return out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum()

    grad = torch.autograd.functional.jacobian(centre, torch.ones(1, c, h, w, dtype=p.dtype, device=p.device))
    total = grad.abs().sum(dim=(0, 1))
    if not total.any():
        raise ValueError("the centre does not depend on the input")
    return total / total.sum()


@pytest.mark.parametrize("fn", [erf_by_backward, erf_by_jacobian])
def test_erf_correct_passes(fn):
    passes("effective_receptive_field", fn)


def _erf_variant(**change):
    def wrong(model, input_shape):
        c, h, w = input_shape
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise ValueError("bad input_shape")
        if change.get("eval", True):
            model.eval()
        p = next(model.parameters())
        x = torch.ones(1, c, h, w, dtype=p.dtype, device=p.device, requires_grad=True)
        out = model(x)
        if out.dim() != 4:
            raise ValueError("not NCHW")
        i, j = (h // 2, w // 2) if change.get("input_centre") else (out.shape[2] // 2, out.shape[3] // 2)
        out[0, :, i, j].sum().backward()
        g = x.grad[0].sum(0) if change.get("no_abs") else x.grad[0].abs().sum(0)
        if not g.any():
            raise ValueError("zero gradient")
        return g if change.get("raw") else g / g.sum()

    return wrong


@pytest.mark.parametrize("change,mistake", [
    ({"no_abs": True}, "no abs"),
    ({"raw": True}, "not normalised"),
    ({"input_centre": True}, "centre taken at the input's"),
    ({"eval": False}, "training mode"),
])
def test_erf_slips_named(change, mistake):
    fails_naming("effective_receptive_field", _erf_variant(**change), mistake)


def test_erf_without_validation_fails_on_each_error_case():
    exercise = REGISTRY["effective_receptive_field"]

    def unchecked(model, input_shape):
        model.eval()
        x = torch.ones(1, *input_shape, requires_grad=True)
        out = model(x)
        out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()
        g = x.grad[0].abs().sum(0)
        return g / g.sum()

    for case in exercise.visible_cases():
        if case.raises is not None:
            assert not run_case(exercise, unchecked, case).passed, case.note


# --- the adapter ------------------------------------------------------------------------------

def test_adapter_builds_the_described_model_in_training_mode_and_keeps_the_rng():
    seen = {}

    def spy(model, input_shape):
        seen["model"], seen["shape"] = model, input_shape
        return 0

    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    adapters.erf_of_described_model(spy, [(2, 3, 3, 2, 2, 1), "batchnorm", "relu", (3, 1, 1, 1, 0, 1)],
                                    (2, 8, 8), seed=4)
    assert torch.equal(torch.rand(1), before), "the caller's random state is untouched"
    model = seen["model"]
    assert model.training and seen["shape"] == (2, 8, 8)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    assert model[0].dilation == (2, 2) and model[0].padding == (2, 2) and model[3].kernel_size == (1, 1)
    again = {}
    adapters.erf_of_described_model(lambda m, s: again.setdefault("m", m), [(2, 3, 3, 2, 2, 1)], (2, 8, 8), seed=4)
    assert torch.equal(again["m"][0].weight, model[0].weight), "the seed fixes the weights"


def test_adapter_copies_explicit_weights_with_their_dtype():
    w, b = torch.arange(9.0, dtype=torch.float64).reshape(1, 1, 3, 3), torch.tensor([0.5], dtype=torch.float64)
    model = adapters.erf_of_described_model(lambda m, s: m, [(1, 1, 3, 1, 1, 1)], (1, 5, 5), [w, b])
    assert model[0].weight.dtype == torch.float64
    assert torch.equal(model[0].weight.detach(), w) and torch.equal(model[0].bias.detach(), b)
    with pytest.raises(TypeError):
        adapters.erf_of_described_model(lambda m, s: m, [(1, 1, 3, 1, 1, 1)], (1, 5, 5), [w])


def test_all_ones_dilated_stack_erf_is_the_normalised_dependency_map():
    """The visible all-ones case: the reference through the adapter gives the gridded map."""
    exercise = REGISTRY["effective_receptive_field"]
    case = next(c for c in exercise.visible_cases() if "all-ones" in c.note)
    erf = exercise.call(exercise.reference, case)
    deps = convlab.dependency_map([2, 2, 2]).float()
    torch.testing.assert_close(erf[1:14, 1:14], deps / deps.sum())
    assert erf[0].sum() == 0 and erf[:, 0].sum() == 0


def test_adapters_module_imports_only_stdlib_torch_numpy():
    source = Path(adapters.__file__).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots = {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "adapters.py is loaded alone: no relative imports"
            roots = {(node.module or "").split(".")[0]}
        else:
            continue
        assert roots <= {"__future__", "torch", "numpy", "math", "typing", "collections", "itertools"}, roots


@pytest.mark.parametrize("kind", [int, float])
def test_coverage_returning_a_count_is_named(kind):
    count = lambda rates, kernel_size=3: kind((map_by_offsets(rates, kernel_size) > 0).sum())
    fails_naming("coverage", count, "expected 0.289941, got 49",
                 "Likely mistake: a count of reached pixels instead of a fraction")
