"""The visible checks and hidden cases of 05_hdc against answers a student could write.

Correct answers written differently from the reference (a forward loop, a dict of
distances, recursion, other attribute names, nn.ModuleList, conv biases, padding='same')
must pass; wrong ones, hand-written the way a student slips, must fail and be named.
Every two named mistakes must differ on some visible case, so a name is never a guess.
"""
from __future__ import annotations

import itertools
import math
import re
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convlab
from autograder.judge.hidden_cases import cases as hidden_cases
from check_helpers import fails_naming, passes
from convlab.checks import REGISTRY, run_case
from convlab.checks.adapters import module_behaviour
from convlab.checks.core import compare_outputs, first_failure

NAMES = ["hdc_max_distances", "satisfies_hdc", "hdc_search", "HDCBlock", "ASPP", "multigrid_rates"]


def test_the_registry_holds_the_contract_exercises():
    assert convlab.EXERCISES["05_hdc"] == NAMES
    assert all(REGISTRY[name].assignment == "05_hdc" for name in NAMES)


# --- the published facts -------------------------------------------------------------------

def test_paper_examples():
    # Wang et al. 2018, section 3.2: "[1, 2, 5] works as M_2 = 2; [1, 2, 9] does not, M_2 = 5".
    assert convlab.hdc_max_distances([1, 2, 5]) == [1, 2, 5]
    assert convlab.hdc_max_distances([1, 2, 9]) == [3, 5, 9]
    assert convlab.satisfies_hdc([1, 2, 5]) is True
    assert convlab.satisfies_hdc([1, 2, 9]) is False
    # A common factor: [2, 4, 6] fails the rule (M_2 = 4) and has holes.
    assert convlab.hdc_max_distances([2, 4, 6]) == [2, 4, 6]
    assert convlab.satisfies_hdc([2, 4, 6]) is False and convlab.has_gridding([2, 4, 6])


def test_where_the_rule_and_the_hole_test_disagree():
    # [2, 2, 2]: M_2 = 2 <= 3, yet only every other pixel is reached (the rule assumes r_1 = 1).
    assert convlab.satisfies_hdc([2, 2, 2]) and convlab.has_gridding([2, 2, 2])
    # The sawtooth [1, 2, 5, 1, 2, 5] fails the rule as a whole (M_2 = 5), yet has no hole:
    # the rule is meant per group.
    assert convlab.hdc_max_distances([1, 2, 5, 1, 2, 5]) == [3, 5, 9, 1, 2, 5]
    assert not convlab.satisfies_hdc([1, 2, 5, 1, 2, 5])
    assert not convlab.has_gridding([1, 2, 5, 1, 2, 5])
    # Kernel 5: [1, 4] passes M_2 <= 5 and is hole-free; [1, 6] fails and has holes.
    assert convlab.satisfies_hdc([1, 4], 5) and not convlab.has_gridding([1, 4], 5)
    assert not convlab.satisfies_hdc([1, 6], 5) and convlab.has_gridding([1, 6], 5)


def test_in_the_search_space_the_rule_never_lets_a_hole_through():
    # With r_1 = 1 and non-decreasing rates (hdc_search's space), M_2 <= K implies no hole.
    for k in (3, 5):
        for schedule in convlab.hdc_search(3, k, 9):
            assert not convlab.has_gridding(schedule, k), (schedule, k)


def test_released_schedules():
    res4, res5 = convlab.hdc.RELEASED_SCHEDULES["res4"], convlab.hdc.RELEASED_SCHEDULES["res5"]
    assert len(res4) == 23 and len(res5) == 3
    assert res4[4:8] == [1, 2, 5, 9] and convlab.satisfies_hdc([1, 2, 5, 9])
    assert not convlab.has_gridding(res4) and not convlab.has_gridding(res4 + res5)
    assert not convlab.satisfies_hdc(res5) and convlab.has_gridding(res5)


def test_search_results():
    found = convlab.hdc_search(3)
    assert (1, 2, 5) in found and (1, 2, 9) not in found and found == sorted(found)
    assert all(s[0] == 1 and list(s) == sorted(s) and max(s) <= 9 for s in found)
    assert convlab.hdc_search(2, 5, 6) == [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5)]
    assert convlab.hdc_search(3, 3, 1) == [(1, 1, 1)]


def test_hdc_block_is_shape_preserving_and_residual():
    block = convlab.HDCBlock(4, [1, 2, 5]).eval()
    x = torch.randn(2, 4, 13, 11)
    assert block(x).shape == x.shape
    for conv in block.modules():
        if isinstance(conv, nn.Conv2d):
            nn.init.zeros_(conv.weight)
    # Zero weights: each stage gives ReLU(BN(0)) = ReLU(beta - mean * ...) = 0 with defaults.
    torch.testing.assert_close(block(x), x)


@pytest.mark.parametrize("call", [
    lambda: convlab.hdc_max_distances([]),
    lambda: convlab.hdc_max_distances([1, 0]),
    lambda: convlab.satisfies_hdc([3]),
    lambda: convlab.satisfies_hdc([1, 2], 0),
    lambda: convlab.hdc_search(1),
    lambda: convlab.hdc_search(3, 0),
    lambda: convlab.hdc_search(3, 3, 0),
    lambda: convlab.HDCBlock(0, [1]),
    lambda: convlab.HDCBlock(2, []),
    lambda: convlab.HDCBlock(2, [1, -1]),
    lambda: convlab.HDCBlock(2, [1], 4),
    lambda: convlab.HDCBlock(2, [1], 0),
])
def test_reference_value_errors(call):
    with pytest.raises(ValueError):
        call()


# --- the catalogue: every mistake fails, is named, and differs from every other ------------

def _value_outputs(exercise, fn):
    out = []
    for case in exercise.visible_cases():
        if case.raises is None:
            try:
                out.append(exercise.call(fn, case))
            except Exception as exc:  # noqa: BLE001 - an exception is an output too
                out.append(f"raised {type(exc).__name__}")
    return out


@pytest.mark.parametrize("name", NAMES)
def test_visible_cases_separate_every_pair_of_mistakes(name):
    exercise = REGISTRY[name]
    outputs = {m.name: _value_outputs(exercise, m.produce) for m in exercise.mistakes}
    reference = _value_outputs(exercise, exercise.reference)
    for mistake, got in outputs.items():
        assert any(compare_outputs(e, g, exercise.rtol, exercise.atol) for e, g in zip(reference, got)), \
            f"{mistake} passes every visible case"
    for a, b in itertools.combinations(outputs, 2):
        assert any(compare_outputs(x, y, exercise.rtol, exercise.atol)
                   for x, y in zip(outputs[a], outputs[b])), f"{name}: {a!r} and {b!r} never differ"


@pytest.mark.parametrize("name,mistake", [(n, m.name) for n in NAMES for m in REGISTRY[n].mistakes])
def test_the_check_names_exactly_this_mistake(name, mistake):
    exercise = REGISTRY[name]
    wrong = next(m for m in exercise.mistakes if m.name == mistake)
    failure = first_failure(exercise, [run_case(exercise, wrong.produce, c) for c in exercise.visible_cases()])
    assert failure is not None and failure.mistake == mistake, failure and failure.message


@pytest.mark.parametrize("name", NAMES)
def test_hidden_cases_pass_the_reference_and_fail_every_mistake(name):
    exercise = REGISTRY[name]
    hidden = hidden_cases(name, devices=["cpu"])
    assert 20 <= len(hidden) <= 30
    for case in hidden:
        result = run_case(exercise, exercise.reference, case)
        assert result.passed, result.message
    for mistake in exercise.mistakes:
        caught = 0
        for case in hidden:
            if case.raises is not None:
                continue
            try:
                got = exercise.call(mistake.produce, case)
            except Exception:  # noqa: BLE001
                caught += 1
                continue
            caught += compare_outputs(exercise.call(exercise.reference, case), got,
                                      exercise.rtol, exercise.atol) is not None
        assert caught, f"{name}: hidden cases never catch {mistake.name!r}"


@pytest.mark.parametrize("name", NAMES)
def test_every_value_error_is_tested_visibly_and_hidden(name):
    visible = {c.note for c in REGISTRY[name].visible_cases() if c.raises is ValueError}
    hidden = {c.note for c in hidden_cases(name, devices=["cpu"]) if c.raises is ValueError}
    assert visible and visible <= hidden, (visible, hidden)


@pytest.mark.parametrize("name", NAMES)
def test_visible_check_is_fast(name):
    exercise = REGISTRY[name]
    start = time.process_time()
    for case in exercise.visible_cases():
        run_case(exercise, exercise.reference, case)
    # The contract: a visible test cell under 2 s. CPU seconds, not the wall clock: a loaded
    # machine makes a check wait, not compute more.
    assert time.process_time() - start < 2.0


# --- hdc_max_distances: student answers -----------------------------------------------------

def distances_loop(rates):
    rates = list(rates)
    if not rates or any(r < 1 for r in rates):
        raise ValueError("rates must be a non-empty list of ints >= 1")
    m = [0] * len(rates)
    m[-1] = rates[-1]
    for i in range(len(rates) - 2, -1, -1):
        m[i] = max(m[i + 1] - 2 * rates[i], m[i + 1] - 2 * (m[i + 1] - rates[i]), rates[i])
    return m


def distances_recursive(rates):
    if len(rates) == 0:
        raise ValueError("empty")
    if min(rates) <= 0:
        raise ValueError("rates must be positive")
    if len(rates) == 1:
        return [rates[0]]
    rest = distances_recursive(rates[1:])
    m, r = rest[0], rates[0]
    # 2r - M simplified: M - 2(M - r) = 2r - M.
    return [max(m - 2 * r, 2 * r - m, r)] + rest


@pytest.mark.parametrize("fn", [distances_loop, distances_recursive])
def test_distances_correct_answers_pass(fn):
    passes("hdc_max_distances", fn)


def test_distances_slips_are_named():
    def no_r(rates):
        if not rates or min(rates) < 1:
            raise ValueError("bad rates")
        m = [rates[-1]]
        for r in reversed(rates[:-1]):
            m.insert(0, max(m[0] - 2 * r, m[0] - 2 * (m[0] - r)))
        return m

    fails_naming("hdc_max_distances", no_r, "Likely mistake: term r_i dropped from the max")

    def shifted(rates):
        if not rates or min(rates) < 1:
            raise ValueError("bad rates")
        m = [rates[-1]]
        for i in range(len(rates) - 2, -1, -1):
            r = rates[i + 1]  # the loop index is one ahead
            m.insert(0, max(m[0] - 2 * r, m[0] - 2 * (m[0] - r), r))
        return m

    fails_naming("hdc_max_distances", shifted, "Likely mistake: r_{i+1} used instead of r_i")


def test_distances_without_validation_fail_on_the_error_cases():
    def unchecked(rates):
        return distances_loop(rates) if rates and min(rates) >= 1 else []

    fails_naming("hdc_max_distances", unchecked, "should raise ValueError", "rates is empty")


def test_distances_returning_nothing_fails():
    fails_naming("hdc_max_distances", lambda rates: [], "expected 3 items, got 0")


# --- satisfies_hdc ----------------------------------------------------------------------------

def rule_own(rates, kernel_size=3):
    if len(rates) < 2:
        raise ValueError("need at least 2 rates")
    if kernel_size < 1:
        raise ValueError("kernel_size must be >= 1")
    return distances_loop(rates)[1] <= kernel_size


def rule_numpy(rates, kernel_size=3):
    import numpy as np

    rates = np.asarray(rates)
    if rates.size < 2 or (rates < 1).any() or kernel_size < 1:
        raise ValueError("invalid schedule")
    m = int(rates[-1])
    for r in rates[-2:0:-1]:  # down to r_2: M_2 is all we need
        m = max(m - 2 * int(r), 2 * int(r) - m, int(r))
    return np.bool_(m <= kernel_size)  # a numpy bool is a bool


@pytest.mark.parametrize("fn", [rule_own, rule_numpy])
def test_rule_correct_answers_pass(fn):
    passes("satisfies_hdc", fn)


def test_rule_slips_are_named():
    def uses_m1(rates, kernel_size=3):
        if len(rates) < 2 or kernel_size < 1:
            raise ValueError("bad")
        return distances_loop(rates)[0] <= kernel_size

    fails_naming("satisfies_hdc", uses_m1, "Likely mistake: M_1 compared instead of M_2")

    def strict(rates, kernel_size=3):
        if len(rates) < 2 or kernel_size < 1:
            raise ValueError("bad")
        return distances_loop(rates)[1] <= kernel_size - 1

    fails_naming("satisfies_hdc", strict, "Likely mistake: strict M_2 < K")

    def gcd_only(rates, kernel_size=3):
        if len(rates) < 2 or kernel_size < 1 or min(rates) < 1:
            raise ValueError("bad")
        return math.gcd(*rates) == 1

    fails_naming("satisfies_hdc", gcd_only, "Likely mistake: common-factor test")


def test_rule_with_one_rate_must_raise_value_error_not_index_error():
    def index_error(rates, kernel_size=3):
        if kernel_size < 1:
            raise ValueError("bad")
        return distances_loop(rates)[1] <= kernel_size

    fails_naming("satisfies_hdc", index_error, "should raise ValueError", "fewer than 2 rates")


# --- hdc_search -------------------------------------------------------------------------------

def search_recursive(num_layers, kernel_size=3, max_rate=9):
    if num_layers < 2 or kernel_size < 1 or max_rate < 1:
        raise ValueError("num_layers >= 2, kernel_size >= 1, max_rate >= 1")
    found = []

    def grow(prefix):
        if len(prefix) == num_layers:
            if rule_own(prefix, kernel_size):
                found.append(tuple(prefix))
            return
        for r in range(prefix[-1], max_rate + 1):
            grow(prefix + [r])

    grow([1])
    return found  # already in order


def search_filter_product(num_layers, kernel_size=3, max_rate=9):
    if num_layers < 2 or kernel_size < 1 or max_rate < 1:
        raise ValueError("bad arguments")
    return sorted(
        [1, *tail] for tail in itertools.product(range(1, max_rate + 1), repeat=num_layers - 1)
        if list(tail) == sorted(tail) and rule_own([1, *tail], kernel_size)
    )  # lists, not tuples: the check accepts either


@pytest.mark.parametrize("fn", [search_recursive, search_filter_product])
def test_search_correct_answers_pass(fn):
    passes("hdc_search", fn)


def test_search_slips_are_named():
    def product(num_layers, kernel_size=3, max_rate=9):
        if num_layers < 2 or kernel_size < 1 or max_rate < 1:
            raise ValueError("bad arguments")
        return sorted((1, *t) for t in itertools.product(range(1, max_rate + 1), repeat=num_layers - 1)
                      if rule_own((1, *t), kernel_size))

    fails_naming("hdc_search", product, "Likely mistake: decreasing rates allowed")

    def any_first(num_layers, kernel_size=3, max_rate=9):
        if num_layers < 2 or kernel_size < 1 or max_rate < 1:
            raise ValueError("bad arguments")
        return sorted(s for s in itertools.combinations_with_replacement(range(1, max_rate + 1), num_layers)
                      if rule_own(s, kernel_size))

    fails_naming("hdc_search", any_first, "Likely mistake: r_1 not fixed to 1")


# --- HDCBlock: written in other ways ---------------------------------------------------------

class BlockModuleList(nn.Module):
    """Separate lists of convs and norms, functional ReLU, biases on, padding='same'."""

    def __init__(self, channels, rates, kernel_size=3):
        super().__init__()
        if channels < 1 or not rates or min(rates) < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError("channels >= 1, rates >= 1, odd kernel_size >= 1")
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, kernel_size, padding="same", dilation=r)
                                   for r in rates)
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in rates)

    def forward(self, x):
        y = x
        for conv, norm in zip(self.convs, self.norms):
            y = F.relu(norm(conv(y)))
        return y + x


class BlockAttributes(nn.Module):
    """One attribute per layer (setattr), tuple dilation, explicit integer padding."""

    def __init__(self, channels, rates, kernel_size=3):
        super().__init__()
        if channels < 1:
            raise ValueError("channels must be >= 1")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError("kernel_size must be a positive odd int")
        if len(rates) == 0 or any(r < 1 for r in rates):
            raise ValueError("rates must be a non-empty list of ints >= 1")
        self.n = len(rates)
        for i, r in enumerate(rates):
            pad = r * (kernel_size - 1) // 2
            setattr(self, f"conv{i}", nn.Conv2d(channels, channels, (kernel_size, kernel_size),
                                                padding=(pad, pad), dilation=(r, r), bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(channels))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        out = x
        for i in range(self.n):
            out = self.act(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out)))
        return x + out


@pytest.mark.parametrize("cls", [BlockModuleList, BlockAttributes])
def test_block_correct_answers_pass(cls):
    passes("HDCBlock", cls)


def test_block_without_residual_is_named():
    class NoResidual(BlockModuleList):
        def forward(self, x):
            return super().forward(x) - x

    fails_naming("HDCBlock", NoResidual, "Likely mistake: residual add missing")


def test_block_with_shape_changing_padding_is_named():
    class Padding(BlockAttributes):
        def __init__(self, channels, rates, kernel_size=3):
            super().__init__(channels, rates, kernel_size)
            for i, r in enumerate(rates):
                getattr(self, f"conv{i}").padding = (kernel_size // 2, kernel_size // 2)

    # The residual add cannot work; the message shows where the size changed.
    fails_naming("HDCBlock", Padding, "Likely mistake: padding ignores the dilation",
                 "dilation (2, 2), output (2, 3, 9, 10)")


@pytest.mark.parametrize("where", ["module", "forward"])
def test_block_padding_before_its_convs_is_the_same_block(where):
    # "same" padding written out: nn.ZeroPad2d before each conv, or F.pad in forward.
    class Padded(nn.Module):
        def __init__(self, channels, rates, kernel_size=3):
            super().__init__()
            self.rates, self.kernel_size = list(rates), kernel_size
            if channels < 1 or kernel_size < 1 or kernel_size % 2 == 0 or not rates or min(rates) < 1:
                raise ValueError("channels >= 1, an odd kernel_size >= 1, rates >= 1")
            self.pads = nn.ModuleList(nn.ZeroPad2d(r * (kernel_size - 1) // 2) for r in rates)
            self.convs = nn.ModuleList(nn.Conv2d(channels, channels, kernel_size, dilation=r, bias=False)
                                       for r in rates)
            self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in rates)

        def forward(self, x):
            out = x
            for r, pad, conv, norm in zip(self.rates, self.pads, self.convs, self.norms):
                out = pad(out) if where == "module" else F.pad(out, (r * (self.kernel_size - 1) // 2,) * 4)
                out = torch.relu(norm(conv(out)))
            return out + x

    passes("HDCBlock", Padded)


def test_block_that_is_not_a_module_is_explained():
    def factory(channels, rates, kernel_size=3):
        if channels < 1 or not rates or min(rates) < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError("bad")
        return lambda x: x

    fails_naming("HDCBlock", factory, "should build a torch.nn.Module")


def test_block_without_validation_fails_on_the_error_cases():
    class Unchecked(BlockModuleList):
        def __init__(self, channels, rates, kernel_size=3):
            nn.Module.__init__(self)
            self.convs = nn.ModuleList(nn.Conv2d(max(channels, 1), max(channels, 1), kernel_size,
                                                 padding="same", dilation=max(r, 1)) for r in rates)
            self.norms = nn.ModuleList(nn.BatchNorm2d(max(channels, 1)) for _ in rates)

    fails_naming("HDCBlock", Unchecked, "should raise ValueError")


def test_adapter_ignores_conv_biases_and_layer_names():
    x = torch.randn(2, 3, 8, 9, dtype=torch.float64)
    a = module_behaviour(BlockModuleList, 3, [1, 2, 5], x=x, seed=4)
    b = module_behaviour(BlockAttributes, 3, [1, 2, 5], 3, x=x, seed=4)
    assert compare_outputs(a, b) is None
    c = module_behaviour(BlockAttributes, 3, [1, 2, 5], x=x, seed=5)
    assert compare_outputs(a, c) is not None  # the seed matters
    assert a[0][1].startswith("Conv2d 1: kernel (3, 3), dilation (2, 2)")
    # eval and train differ (running vs batch statistics), and both are returned.
    assert not torch.allclose(a[1], a[2])


def test_adapter_reraises_errors_that_are_not_about_shape():
    class Broken(BlockModuleList):
        def forward(self, x):
            raise KeyError("boom")

    with pytest.raises(KeyError):
        module_behaviour(Broken, 2, [1], x=torch.randn(1, 2, 4, 4))


# --- mistakes that once got no name (issue 16) ---------------------------------------------

def test_distances_run_forwards_are_named():
    def forwards(rates):
        if not rates or min(rates) < 1:
            raise ValueError("bad rates")
        m = [rates[0]]  # M_1 = r_1, then up the layers
        for r in rates[1:]:
            m.append(max(m[-1] - 2 * r, m[-1] - 2 * (m[-1] - r), r))
        return m

    message = fails_naming("hdc_max_distances", forwards, "item 1: expected 2, got 3",
                           "Likely mistake: recursion run forwards (M_1 = r_1)")
    assert "item 1: item" not in message


def test_block_with_resnet_style_relu_after_the_sum_is_named():
    class ResNetStyle(BlockModuleList):
        def forward(self, x):
            y = x
            for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
                y = norm(conv(y))
                if i < len(self.convs) - 1:
                    y = F.relu(y)
            return F.relu(y + x)

    fails_naming("HDCBlock", ResNetStyle, "expected -2.11142, got 0",
                 "Likely mistake: last ReLU moved after the residual add (a ResNet block)")

    class ReluAfterSum(BlockModuleList):
        def forward(self, x):
            return F.relu(super().forward(x))

    fails_naming("HDCBlock", ReluAfterSum, "Likely mistake: ReLU after the residual add.")


def test_a_failing_check_counts_whole_cases():
    # "4.5 of 9 cases pass" once counted the invalid-input cases in proportion.
    def half_right(rates):
        if not rates or min(rates) < 1:
            raise ValueError("bad rates")
        return [rates[0]] * len(rates)

    message = fails_naming("hdc_max_distances", half_right, "cases pass")
    first = message.splitlines()[0]
    assert re.fullmatch(r"hdc_max_distances: \d+ of 6 cases pass, and 3 of 3 invalid-input cases\. "
                        r"First failing case:", first), first


def test_a_nested_difference_reads_as_one_path_not_a_doubled_prefix():
    # A schedule list holds tuples: the message once read "item 0: item 1: ...".
    assert compare_outputs([(1, 2, 3), (1, 2, 5)], [(1, 2, 3), (1, 3, 5)]) == "item [1][1]: expected 2, got 3"
    assert compare_outputs([[[1]], [[3]]], [[[1]], [[4]]]) == "item [1][0][0]: expected 3, got 4"
    assert compare_outputs([1, 2], [1, 3]) == "item 1: expected 2, got 3"

    def shifted_by_one(num_layers, kernel_size=3, max_rate=9):
        return [tuple(r + (i > 0) for i, r in enumerate(s))
                for s in search_recursive(num_layers, kernel_size, max_rate)]

    message = fails_naming("hdc_search", shifted_by_one, "item [0][1]: expected")
    assert not re.search(r"item \d+: item", message), message
