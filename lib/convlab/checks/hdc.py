"""Checks for assignment 05: Hybrid Dilated Convolution (Wang et al., 2018).

The M recursion has three terms and an easy-to-shift index; the rule has one number to
compare (M_2) and one bound (K); the search has three constraints (r_1 = 1, non-decreasing,
r_i <= max_rate); the block has an order (conv, BatchNorm, ReLU), a padding that must keep
the shape, and a residual. Each mistake below is one of those written wrong, and the
visible cases are chosen so that every two mistakes give different results on at least
one case (``tests/test_checks_hdc.py`` proves it), so the name a student gets is the one
that explains all of their failing cases.

``HDCBlock`` is a class: a case calls it through the adapter
``adapters.module_behaviour`` (its arguments are plain data: channels, rates, kernel_size
and an input ``x``), which builds the module, sets its weights by layer order and
returns what it computes, so a correct block written with other attribute names,
``nn.Sequential`` or ``nn.ModuleList``, with or without conv biases, passes.
"""
from __future__ import annotations

import math
from functools import reduce

import torch
from torch import nn

import convlab
from convlab.shapes import check_int, check_rates
from .core import Case, Exercise, Mistake, register
from .standard import randn

A = "05_hdc"

# Every ValueError each exercise must raise, in the words of its notebook instructions;
# the raising cases (visible here, hidden in the grader) carry exactly these as notes.
ERRORS = {
    "hdc_max_distances": ("rates is empty", "a rate is smaller than 1"),
    "satisfies_hdc": ("rates has fewer than 2 rates", "a rate is smaller than 1",
                      "kernel_size is smaller than 1"),
    "hdc_search": ("num_layers is smaller than 2", "kernel_size is smaller than 1",
                   "max_rate is smaller than 1"),
    "HDCBlock": ("channels is smaller than 1", "rates is empty", "a rate is smaller than 1",
                 "kernel_size is smaller than 1", "kernel_size is even"),
    "ASPP": ("in_channels is smaller than 1", "out_channels is smaller than 1",
             "rates is empty or a rate is smaller than 1"),
    "multigrid_rates": ("output_stride is neither 8 nor 16", "block is smaller than 3",
                        "multi_grid is empty or a unit rate is smaller than 1"),
}


def _error(name: str, index: int) -> dict:
    """Case keywords for a raising case of ``name``: ValueError, noted with its listed error."""
    return {"raises": ValueError, "note": ERRORS[name][index]}


# --- hdc_max_distances -------------------------------------------------------------------

def _distances(rates, *, terms="abc", factor=2, shifted=False, reverse=False, drop_last=False,
               use_min=False, forwards=False):
    """The M recursion with one slip switched on.

    Terms: a = M_{i+1} - 2 r_i, b = M_{i+1} - 2 (M_{i+1} - r_i), c = r_i; ``factor``
    replaces the 2; ``shifted`` reads r_{i+1} where r_i belongs; ``use_min`` takes the min;
    ``forwards`` starts at M_1 = r_1 and runs the recursion from the first layer up.
    """
    rates = check_rates(rates)
    if forwards:
        distances = [rates[0]]
        for r in rates[1:]:
            m = distances[-1]
            distances.append(max(m - 2 * r, m - 2 * (m - r), r))
        return distances
    distances = [rates[-1]]
    for i in range(len(rates) - 2, -1, -1):
        m, r = distances[0], rates[i + 1] if shifted else rates[i]
        options = {"a": m - factor * r, "b": m - factor * (m - r), "c": r}
        pick = min if use_min else max
        distances.insert(0, pick(options[t] for t in terms))
    if drop_last:
        distances = distances[:-1]
    return distances[::-1] if reverse else distances


def _distances_mistake(name, hint, **wrong):
    return Mistake(name, hint, lambda rates: _distances(rates, **wrong))


register(Exercise(
    name="hdc_max_distances",
    assignment=A,
    errors=ERRORS["hdc_max_distances"],
    reference=convlab.hdc_max_distances,
    returns="int_list",
    visible_cases=lambda: [
        Case(([1, 2, 5],), note="the paper's working example: M_2 = 2"),
        Case(([1, 2, 9],), note="the paper's failing example: M_2 = 5"),
        Case(([2, 4, 6],), note="a common factor"),
        Case(([1, 2, 5, 3],), note="rates need not increase"),
        Case(([3, 3],)),
        Case(([4],), note="one rate: M_1 = r_1"),
        Case(([],), **_error("hdc_max_distances", 0)),
        Case(([1, 0, 2],), **_error("hdc_max_distances", 1)),
        Case(([2, -1],), **_error("hdc_max_distances", 1)),
    ],
    mistakes=[
        _distances_mistake("term r_i dropped from the max",
                           "M_i = max(M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i): the "
                           "gap can never be smaller than the layer's own rate r_i.", terms="ab"),
        _distances_mistake("term M_{i+1} - 2 r_i dropped from the max",
                           "Layer i fills gaps of up to 2 r_i from both ends of a gap of "
                           "M_{i+1}: keep M_{i+1} - 2 r_i in the max.", terms="bc"),
        _distances_mistake("term M_{i+1} - 2 (M_{i+1} - r_i) dropped from the max",
                           "When r_i is close to M_{i+1} the taps overshoot: keep "
                           "M_{i+1} - 2 (M_{i+1} - r_i) in the max.", terms="ac"),
        _distances_mistake("factor 2 dropped (M_{i+1} - r_i instead of M_{i+1} - 2 r_i)",
                           "A k=3 kernel reaches r_i to BOTH sides of each nonzero: the terms "
                           "are M_{i+1} - 2 r_i and M_{i+1} - 2 (M_{i+1} - r_i).", factor=1),
        _distances_mistake("r_{i+1} used instead of r_i (index off by one)",
                           "M_i combines M_{i+1} with layer i's own rate r_i.", shifted=True),
        _distances_mistake("min instead of max", "M_i is the LARGEST remaining gap: take the max "
                           "of the three terms.", use_min=True),
        _distances_mistake("list in reverse order ([M_n, ..., M_1])",
                           "Return [M_1, ..., M_n]: M_1 first, M_n = r_n last.", reverse=True),
        _distances_mistake("M_n left out", "The list has one entry per rate, ending with "
                           "M_n = r_n.", drop_last=True),
        _distances_mistake("recursion run forwards (M_1 = r_1)",
                           "The recursion starts at the LAST layer: M_n = r_n, then M_i from "
                           "M_{i+1} for i = n-1 down to 1 (how far apart the nonzeros are that "
                           "layer i must still fill).", forwards=True),
    ],
))


# --- satisfies_hdc ----------------------------------------------------------------------

def _rule(rates, kernel_size=3, *, index=1, strict=False, bound=None, every=False, gcd=False):
    """The HDC goal with one slip: compare M[index] (or every M_i from M_2 on), strictly,
    against ``bound`` instead of kernel_size, or test the common factor instead."""
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    rates = check_rates(rates)
    if len(rates) < 2:
        raise ValueError("need at least 2 rates")
    if gcd:
        return reduce(math.gcd, rates) == 1
    distances = convlab.hdc_max_distances(rates)
    limit = kernel_size if bound is None else bound
    values = distances[1:] if every else [distances[index]]
    return all((m < limit) if strict else (m <= limit) for m in values)


def _rule_mistake(name, hint, **wrong):
    return Mistake(name, hint, lambda rates, kernel_size=3: _rule(rates, kernel_size, **wrong))


register(Exercise(
    name="satisfies_hdc",
    assignment=A,
    uses=("hdc_max_distances",),  # the goal is M_2 <= K: the comparison and the checks are left
    errors=ERRORS["satisfies_hdc"],
    reference=convlab.satisfies_hdc,
    returns="bool",
    visible_cases=lambda: [
        Case(([1, 2, 5],), note="the paper: [1, 2, 5] works, M_2 = 2"),
        Case(([1, 2, 9],), note="the paper: [1, 2, 9] does not, M_2 = 5"),
        Case(([1, 3], 3), note="M_2 = K exactly"),
        Case(([2, 2, 2],), note="passes the rule although every rate is even"),
        Case(([1, 2, 5, 3],), note="M_2 = 3 but M_3 = 7"),
        Case(([1, 4],), {"kernel_size": 5}, note="K = 5"),
        Case(([2, 4, 2],), note="M_2 = 6 > K although M_1 = M_3 = 2; a common factor"),
        Case(([3],), **_error("satisfies_hdc", 0)),
        Case(([1, 0, 2],), **_error("satisfies_hdc", 1)),
        Case(([1, 2],), {"kernel_size": 0}, **_error("satisfies_hdc", 2)),
    ],
    mistakes=[
        _rule_mistake("M_1 compared instead of M_2",
                      "The goal is M_2 <= K: the first layer (r_1 = 1 in the paper) is what "
                      "fills the last gaps, so it is M_2 the kernel must cover.", index=0),
        _rule_mistake("M_n (the last rate) compared instead of M_2",
                      "M_n = r_n is where the recursion starts; the goal is on M_2.", index=-1),
        _rule_mistake("strict M_2 < K (or M_2 <= K - 1)",
                      "The goal is M_2 <= K: a gap of exactly K is still filled.", strict=True),
        _rule_mistake("kernel_size ignored (compared with 3)",
                      "Compare M_2 with the kernel_size argument, not with 3.", bound=3),
        _rule_mistake("every M_i (i >= 2) compared with K",
                      "Only M_2 must be <= K; the later M_i are larger by design.", every=True),
        _rule_mistake("common-factor test instead of M_2 <= K",
                      "No common factor is a separate heuristic; the goal to implement is "
                      "M_2 <= K with the M recursion.", gcd=True),
    ],
))


# --- hdc_search --------------------------------------------------------------------------

def _search(num_layers, kernel_size=3, max_rate=9, *, first_any=False, any_order=False,
            strictly=False, top=0, extra_layer=False, strict=False, bound=None):
    """The search with one slip: r_1 free, rates in any order or strictly increasing,
    max_rate excluded (``top=-1``), one rate too many, a strict or K=3 rule."""
    import itertools

    num_layers = check_int(num_layers, "num_layers", 2)
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    max_rate = check_int(max_rate, "max_rate", 1)
    values = range(1, max_rate + 1 + top)
    tail = num_layers if extra_layer else num_layers - 1
    if first_any:
        candidates = itertools.combinations_with_replacement(values, num_layers)
    elif any_order:
        candidates = ((1, *t) for t in itertools.product(values, repeat=tail))
    elif strictly:
        candidates = ((1, *t) for t in itertools.combinations(range(2, max_rate + 1 + top), tail))
    else:
        candidates = ((1, *t) for t in itertools.combinations_with_replacement(values, tail))
    limit = kernel_size if bound is None else bound
    found = []
    for rates in candidates:
        m2 = convlab.hdc_max_distances(rates)[1]
        if (m2 < limit) if strict else (m2 <= limit):
            found.append(tuple(rates))
    return sorted(found)


def _search_mistake(name, hint, **wrong):
    return Mistake(name, hint, lambda num_layers, kernel_size=3, max_rate=9: _search(
        num_layers, kernel_size, max_rate, **wrong))


register(Exercise(
    name="hdc_search",
    assignment=A,
    uses=("satisfies_hdc",),  # the enumeration, the order and the checks are left
    errors=ERRORS["hdc_search"],
    reference=convlab.hdc_search,
    returns="tuple_list",
    visible_cases=lambda: [
        Case((3,), note="the defaults: K = 3, rates up to 9"),
        Case((2, 5, 6), note="K = 5"),
        Case((4,), {"max_rate": 5}),
        Case((3, 3, 1), note="max_rate 1: only (1, 1, 1)"),
        Case((1,), **_error("hdc_search", 0)),
        Case((3, 0), **_error("hdc_search", 1)),
        Case((3,), {"max_rate": 0}, **_error("hdc_search", 2)),
    ],
    mistakes=[
        _search_mistake("r_1 not fixed to 1",
                        "Every schedule starts with r_1 = 1 (the rule assumes the first layer "
                        "is an ordinary conv that fills the last gaps).", first_any=True),
        _search_mistake("decreasing rates allowed",
                        "Only non-decreasing schedules 1 = r_1 <= r_2 <= ... <= r_n: use "
                        "itertools.combinations_with_replacement, not product.", any_order=True),
        _search_mistake("repeated rates left out (strictly increasing only)",
                        "Non-decreasing allows equal neighbours, e.g. (1, 1, 2): use "
                        "combinations_with_replacement, not combinations.", strictly=True),
        _search_mistake("max_rate excluded (range(1, max_rate))",
                        "Rates go up to max_rate inclusive: range(1, max_rate + 1).", top=-1),
        _search_mistake("one rate too many (num_layers rates after r_1 = 1)",
                        "A schedule has num_layers rates in all, r_1 = 1 included.",
                        extra_layer=True),
        _search_mistake("strict M_2 < K", "The goal is M_2 <= K.", strict=True),
        _search_mistake("kernel_size not passed on (K = 3)",
                        "Test each schedule with the kernel_size argument.", bound=3),
    ],
))


# --- HDCBlock ----------------------------------------------------------------------------

def _same(kernel_size, rate):
    return rate * (kernel_size - 1) // 2


class _Block(nn.Module):
    """The block with one slip switched on (keyword flags); signature (channels, rates, k)."""

    def __init__(self, channels, rates, kernel_size=3, *, padding=_same, dilation=True,
                 order="conv bn relu", residual="end", relu_last=True, reverse=False):
        super().__init__()
        channels = check_int(channels, "channels", 1)
        kernel_size = check_int(kernel_size, "kernel_size", 1)
        if kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd")
        rates = check_rates(rates)
        if reverse:
            rates = rates[::-1]
        self.residual = residual
        self.stages = nn.ModuleList()
        for i, rate in enumerate(rates):
            layers = {
                "conv": nn.Conv2d(channels, channels, kernel_size, padding=padding(kernel_size, rate),
                                  dilation=rate if dilation else 1, bias=False),
                "bn": nn.BatchNorm2d(channels),
                "relu": nn.ReLU(),
            }
            names = order.split()
            if not relu_last and i == len(rates) - 1:
                names.remove("relu")
            if "bn" not in names:
                layers.pop("bn")
            self.stages.append(nn.Sequential(*(layers[n] for n in names)))

    def forward(self, x):
        out = x
        for stage in self.stages:
            out = out + stage(out) if self.residual == "every" else stage(out)
        if self.residual == "end":
            return x + out
        if self.residual == "relu after add":
            return torch.relu(x + out)
        return out


def _block(**wrong):
    def build(channels, rates, kernel_size=3):
        return _Block(channels, rates, kernel_size, **wrong)

    return build


def _x(*shape, seed):
    return randn(*shape, seed=seed)


register(Exercise(
    name="HDCBlock",
    assignment=A,
    errors=ERRORS["HDCBlock"],
    reference=convlab.HDCBlock,
    returns="module",
    adapter="module_behaviour",
    # float32 inputs go through BatchNorm's rsqrt: allow float32 rounding, nothing more.
    rtol=1e-4,
    atol=1e-5,
    visible_cases=lambda: [
        Case((3, [1, 2, 5]), {"x": _x(2, 3, 11, 12, seed=50), "seed": 1},
             note="the paper's group, K = 3"),
        Case((2, [1, 2], 5), {"x": _x(2, 2, 9, 10, seed=51), "seed": 2},
             note="K = 5: 'same' padding is r(K-1)/2"),
        Case((2, [3, 1]), {"kernel_size": 3, "x": _x(1, 2, 8, 7, seed=52), "seed": 3},
             note="rates in any order"),
        Case((0, [1, 2]), **_error("HDCBlock", 0)),
        Case((2, []), **_error("HDCBlock", 1)),
        Case((2, [1, 0]), **_error("HDCBlock", 2)),
        Case((2, [1, 2], 4), **_error("HDCBlock", 4)),
        Case((2, [1, 2]), {"kernel_size": 0}, **_error("HDCBlock", 3)),
    ],
    mistakes=[
        Mistake("residual add missing", "The block returns x + body(x): add the input back.",
                _block(residual="none")),
        Mistake("ReLU after the residual add", "Each rate ends with its ReLU, then the input "
                "is added: x + body(x), with no ReLU after the sum.",
                _block(residual="relu after add")),
        Mistake("residual added after every layer", "One residual around the whole group: "
                "x + body(x), body = all the conv-BN-ReLU stages.", _block(residual="every")),
        Mistake("padding ignores the dilation (padding = k // 2)",
                "A dilated kernel spans r(k-1) + 1 pixels: 'same' padding is r(k-1)/2 (or "
                "padding='same').", _block(padding=lambda k, r: k // 2)),
        Mistake("padding = rate (kernel size ignored)",
                "'same' padding is r(k-1)/2, which is r only for k = 3.",
                _block(padding=lambda k, r: r)),
        Mistake("padding = r(k-1) on each side (output grows)",
                "r(k-1) is the total padding; each side gets half of it: r(k-1)/2.",
                _block(padding=lambda k, r: r * (k - 1))),
        Mistake("dilation not passed to the conv", "nn.Conv2d(..., dilation=rate): without "
                "it every layer is an ordinary conv.",
                _block(dilation=False, padding=lambda k, r: k // 2)),
        Mistake("rates applied in reverse order", "Layer i uses rates[i], first to last.",
                _block(reverse=True)),
        Mistake("BatchNorm missing", "Each rate is conv -> BatchNorm2d -> ReLU.",
                _block(order="conv relu")),
        Mistake("ReLU before BatchNorm", "The order is conv -> BatchNorm2d -> ReLU.",
                _block(order="conv relu bn")),
        Mistake("no ReLU after the last conv", "Every rate, the last included, is followed "
                "by BatchNorm and ReLU before the residual add.", _block(relu_last=False)),
        Mistake("last ReLU moved after the residual add (a ResNet block)",
                "ResNet puts its last ReLU after the sum; this block keeps conv -> BatchNorm2d "
                "-> ReLU for every rate, the last included, and returns x + body(x) with no "
                "ReLU after the sum.", _block(relu_last=False, residual="relu after add")),
    ],
))


# --- ASPP -----------------------------------------------------------------------------------------

class _ASPP(nn.Module):
    """ASPP with one slip switched on; the convs are created in the reference's order."""

    def __init__(self, in_channels, out_channels, rates=(6, 12, 18), *, pooling=True, padding=None,
                 dilation=True, branch_relu=True, branch_norm=True, project_relu=True, pool="mean",
                 combine="concat"):
        super().__init__()
        convlab.ASPP(in_channels, out_channels, rates)  # the same validation
        self.pool, self.combine, self.use_pooling = pool, combine, pooling
        pad = padding or (lambda r: r)

        def stage(c_in, kernel_size=1, rate=1, relu=branch_relu, norm=branch_norm):
            conv = nn.Conv2d(c_in, out_channels, kernel_size, bias=False,
                             padding=pad(rate) if kernel_size == 3 else 0,
                             dilation=rate if dilation else 1)
            layers = [conv] + ([nn.BatchNorm2d(out_channels)] if norm else []) + ([nn.ReLU()] if relu else [])
            return nn.Sequential(*layers)

        self.branches = nn.ModuleList([stage(in_channels)] + [stage(in_channels, 3, r) for r in rates])
        self.pooling = stage(in_channels) if pooling else None
        count = len(rates) + 1 + int(pooling)
        self.project = stage(out_channels if combine == "sum" else count * out_channels,
                             relu=project_relu, norm=True)

    def forward(self, x):
        features = [branch(x) for branch in self.branches]
        if self.use_pooling:
            pooled = x.mean((2, 3), keepdim=True) if self.pool == "mean" else x.amax((2, 3), keepdim=True)
            pooled = self.pooling(pooled)
            features.append(torch.nn.functional.interpolate(pooled, size=x.shape[-2:], mode="bilinear",
                                                            align_corners=False))
        joined = torch.stack(features).sum(0) if self.combine == "sum" else torch.cat(features, 1)
        return self.project(joined)


def _aspp(**wrong):
    def build(in_channels, out_channels, rates=(6, 12, 18)):
        return _ASPP(in_channels, out_channels, rates, **wrong)

    return build


register(Exercise(
    name="ASPP",
    assignment=A,
    errors=ERRORS["ASPP"],
    reference=convlab.ASPP,
    returns="module",
    adapter="module_behaviour",
    rtol=1e-4,
    atol=1e-5,
    # N = 2: the pooling branch's BatchNorm sees one value per image in training mode.
    visible_cases=lambda: [
        Case((3, 4, (2, 3)), {"x": _x(2, 3, 9, 11, seed=60), "seed": 4}, note="two rates"),
        Case((2, 3), {"x": _x(2, 2, 12, 10, seed=61), "seed": 5},
             note="DeepLab v3's rates (6, 12, 18), larger than the map"),
        Case((2, 2, [1]), {"x": _x(3, 2, 6, 7, seed=62), "seed": 6}, note="one rate"),
        Case((0, 4, (6, 12)), **_error("ASPP", 0)),
        Case((3, 0), **_error("ASPP", 1)),
        Case((3, 4, ()), **_error("ASPP", 2)),
        Case((3, 4, (6, 0, 18)), **_error("ASPP", 2)),
    ],
    mistakes=[
        Mistake("no image pooling branch", "ASPP has 2 + len(rates) branches: the 1x1 conv, one "
                "3x3 per rate AND the image-pooling branch (global average pool, 1x1 conv, BN, ReLU, "
                "upsampled to H x W), concatenated last.", _aspp(pooling=False)),
        Mistake("ReLU missing in the branches", "Every branch is conv -> BatchNorm2d -> ReLU, before "
                "the concatenation.", _aspp(branch_relu=False)),
        Mistake("ReLU missing after the projection", "The 1x1 projection is followed by BatchNorm2d "
                "and a ReLU too.", _aspp(project_relu=False)),
        Mistake("BatchNorm missing in the branches", "Every branch is conv -> BatchNorm2d -> ReLU.",
                _aspp(branch_norm=False)),
        Mistake("dilation without padding", "A 3x3 conv with dilation r spans 2r + 1 pixels: "
                "padding=r keeps H x W, so the branches can be concatenated.",
                _aspp(padding=lambda r: 0)),
        Mistake("padding 1 with dilation r", "The padding grows with the dilation: padding = rate "
                "for a 3x3 conv with dilation = rate.", _aspp(padding=lambda r: 1)),
        Mistake("dilation not passed to the 3x3 convs", "nn.Conv2d(..., padding=rate, dilation=rate): "
                "without the dilation each branch is a plain 3x3 conv (and padding=rate grows the map).",
                _aspp(dilation=False, padding=lambda r: 1)),
        Mistake("image pooling by max instead of average", "The image-pooling branch averages over "
                "H and W (global AVERAGE pooling, x.mean((2, 3), keepdim=True)).", _aspp(pool="max")),
        Mistake("branches summed instead of concatenated", "The branches are concatenated on the "
                "channel axis, torch.cat(features, dim=1): the projection takes (2 + len(rates)) * "
                "out_channels channels.", _aspp(combine="sum")),
    ],
))


# --- multigrid_rates ---------------------------------------------------------------------------

def _multigrid(output_stride, multi_grid=(1, 2, 4), block=4, *, base=None, combine=lambda b, u: b * u):
    convlab.multigrid_rates(output_stride, multi_grid, block)  # the same validation
    rate = (base or (lambda os, blk: 2 ** (blk - 3) * 16 // os))(output_stride, block)
    return [combine(rate, unit) for unit in multi_grid]


def _multigrid_mistake(name, hint, **wrong):
    def produce(output_stride, multi_grid=(1, 2, 4), block=4):
        return _multigrid(output_stride, multi_grid, block, **wrong)

    return Mistake(name, hint, produce)


register(Exercise(
    name="multigrid_rates",
    assignment=A,
    errors=ERRORS["multigrid_rates"],
    reference=convlab.multigrid_rates,
    returns="int_list",
    visible_cases=lambda: [
        Case((16,), note="the paper: 2 * (1, 2, 4) = (2, 4, 8)"),
        Case((8,), note="output stride 8: block4's base rate is 4"),
        Case((16, (1, 2, 1), 5), note="block5, a replica of block4: the base rate doubles"),
        Case((8, (2, 3)), {"block": 3}, note="block3 is dilated at output stride 8 only"),
        Case((16, (1, 1, 1)), {"block": 6}),
        Case((32,), **_error("multigrid_rates", 0)),
        Case((4, (1, 2, 4), 4), **_error("multigrid_rates", 0)),
        Case((16, (1, 2, 4), 2), **_error("multigrid_rates", 1)),
        Case((16, ()), **_error("multigrid_rates", 2)),
        Case((8, (1, 0, 2)), **_error("multigrid_rates", 2)),
    ],
    mistakes=[
        _multigrid_mistake("unit rates not multiplied (the base rate for every conv)",
                           "Each conv of the block gets the base rate TIMES its unit rate: "
                           "base * multi_grid[i].", combine=lambda b, u: b),
        _multigrid_mistake("unit rates added to the base rate", "Multi-grid multiplies: "
                           "base * multi_grid[i], not base + multi_grid[i].", combine=lambda b, u: b + u),
        _multigrid_mistake("base rate ignored (the unit rates alone)", "The unit rates are relative "
                           "to the block's base rate 2 ** (block - 3) * 16 / output_stride.",
                           combine=lambda b, u: u),
        _multigrid_mistake("base rates of output stride 8 and 16 swapped",
                           "A SMALLER output stride keeps more resolution, so it dilates MORE: "
                           "16 / output_stride, which is 2 at 8 and 1 at 16.",
                           base=lambda os, blk: 2 ** (blk - 3) * os // 8),
        _multigrid_mistake("block offset off by one (2 ** (block - 4))",
                           "Block 4 at output stride 16 already has rate 2: 2 ** (block - 3) * 16 "
                           "/ output_stride.", base=lambda os, blk: max(2 ** (blk - 3) * 16 // os // 2, 1)),
    ],
))
