"""Hidden cases of 05_hdc.

Rates are drawn as the paper uses them (small groups, often starting at 1, sometimes a
common factor, sometimes decreasing), with kernel sizes 3, 5 and 7; every ValueError the
notebook lists (``convlab.checks.hdc.ERRORS``) is drawn too. ``hdc_search`` stays cheap:
at most C(max_rate + n - 2, n - 1) schedules (a few hundred) per case. ``HDCBlock`` cases
are plain data for the adapter ``module_behaviour``: channels, rates, kernel_size, an
input ``x`` and a weight seed.
"""
from __future__ import annotations

from convlab.checks.core import Case
from convlab.checks.hdc import ERRORS

from . import Draw, call, catching, generator


def _error(name: str, index: int) -> dict:
    return {"raises": ValueError, "note": ERRORS[name][index]}


def _rates(draw: Draw, low: int = 1, high: int = 6, top: int = 12) -> list[int]:
    n = draw.int(low, high)
    kind = draw.choice(["group", "any", "factor", "sawtooth"])
    if kind == "group":
        rates = [1] + sorted(draw.int(1, top) for _ in range(n - 1))
    elif kind == "factor":
        g = draw.int(2, 3)
        rates = [g * draw.int(1, top // g) for _ in range(n)]
    elif kind == "sawtooth":
        group = [1] + sorted(draw.int(2, top) for _ in range(draw.int(1, 3)))
        rates = (group * 3)[:max(n, 2)]
    else:
        rates = [draw.int(1, top) for _ in range(n)]
    return rates


def _bad_rates(draw: Draw) -> list[int]:
    rates = [draw.int(1, 6) for _ in range(draw.int(1, 4))]
    rates.insert(draw.int(0, len(rates)), draw.choice([0, -1, -draw.int(2, 5)]))
    return rates


@generator("hdc_max_distances")
def _hdc_max_distances(draw: Draw) -> list[Case]:
    def rates():  # all ones give all ones: an answer of ones would pass
        found = _rates(draw)
        return found if set(found) != {1} else rates()

    cases = [Case(([draw.int(2, 12)],), note="one rate: M_1 = r_1")]
    cases += [Case((rates(),)) for _ in range(21)]
    if draw.chance(0.5):
        cases[draw.int(1, 21)] = Case((tuple(rates()),), note="rates as a tuple")
    cases.append(Case(([],), **_error("hdc_max_distances", 0)))
    cases += [Case((_bad_rates(draw),), **_error("hdc_max_distances", 1))
              for _ in range(3)]
    return cases


@generator("satisfies_hdc")
def _satisfies_hdc(draw: Draw) -> list[Case]:
    def any_case(kernels=(3, 3, 3, 5, 7, 1, 2)):
        return call(draw, (_rates(draw, low=2),), [("kernel_size", draw.choice(kernels), 3)])

    # In every draw, a case that tells each slip of the rule: M_2 = K exactly (strict <),
    # K other than 3 deciding the answer, and M_2 <= K with a later M_i > K (every M_i).
    cases = [catching(draw, "satisfies_hdc", "strict M_2 < K (or M_2 <= K - 1)", any_case),
             catching(draw, "satisfies_hdc", "kernel_size ignored (compared with 3)",
                      lambda: any_case((1, 2, 5, 7))),
             catching(draw, "satisfies_hdc", "every M_i (i >= 2) compared with K", any_case),
             _every_m_within_k(draw)]
    cases += [any_case() for _ in range(18)]
    cases.append(call(draw, ([draw.int(1, 9)],), [("kernel_size", draw.choice([3, 5]), 3)],
                      **_error("satisfies_hdc", 0)))
    cases.append(Case(([],), **_error("satisfies_hdc", 0)))
    cases.append(Case((_bad_rates(draw) + [1],), **_error("satisfies_hdc", 1)))
    cases.append(Case((_rates(draw, low=2),), {"kernel_size": draw.choice([0, -1, -3])},
                      **_error("satisfies_hdc", 2)))
    return cases


def _every_m_within_k(draw: Draw) -> Case:
    """A schedule whose every M_i is at most K: True whichever M_i a slip compares, so no
    slip of the rule answers the same for every case."""
    import convlab

    while True:
        k, rates = draw.choice([3, 5, 7]), _rates(draw, low=2, top=4)
        if max(convlab.hdc_max_distances(rates)) <= k:
            return call(draw, (rates,), [("kernel_size", k, 3)])


@generator("hdc_search")
def _hdc_search(draw: Draw) -> list[Case]:
    cases = []
    for _ in range(20):
        n = draw.int(2, 4)
        top = {2: 15, 3: 10, 4: 7}[n]
        # max_rate 2 at least: with 1, the one schedule is all ones, which ones would pass
        cases.append(call(draw, (n,), [("kernel_size", draw.choice([3, 3, 5, 1, 7]), 3),
                                       ("max_rate", draw.int(2, top), 9)]))
    cases.append(Case((draw.int(2, 3),), note="the defaults"))
    cases.append(call(draw, (draw.choice([1, 0, -1]),), [("kernel_size", 3, 3)],
                      **_error("hdc_search", 0)))
    cases.append(Case((draw.int(2, 3), draw.choice([0, -1])), **_error("hdc_search", 1)))
    cases.append(Case((draw.int(2, 3),), {"max_rate": draw.choice([0, -2])},
                      **_error("hdc_search", 2)))
    return cases


@generator("HDCBlock")
def _hdc_block(draw: Draw) -> list[Case]:
    cases = []
    for i in range(20):
        channels = draw.int(1, 4)
        k = draw.choice([3, 3, 3, 5, 1])
        rates = _rates(draw, high=4, top=6)
        h, w = draw.int(4, 12), draw.int(4, 12)
        n = 1 if h * w > 1 and draw.chance(0.3) else 2
        x = draw.tensor(n, channels, h, w, dtype=draw.dtype())
        case = call(draw, (channels, rates), [("kernel_size", k, 3)])
        case.kwargs.update(x=x, seed=draw.int(0, 10_000))
        cases.append(case)
    cases.append(Case((draw.choice([0, -1]), [1, 2]), **_error("HDCBlock", 0)))
    cases.append(Case((draw.int(1, 3), []), **_error("HDCBlock", 1)))
    cases.append(Case((draw.int(1, 3), _bad_rates(draw)), **_error("HDCBlock", 2)))
    cases.append(Case((draw.int(1, 3), [1, 2], draw.choice([2, 4, 6])), **_error("HDCBlock", 4)))
    cases.append(Case((draw.int(1, 3), [1, 2]), {"kernel_size": draw.choice([0, -1, -3])},
                      **_error("HDCBlock", 3)))
    return cases


@generator("ASPP")
def _aspp(draw: Draw) -> list[Case]:
    """(in_channels, out_channels[, rates]) positionally: the adapter's own ``rates``
    parameter takes the second argument."""
    cases = []
    for i in range(20):
        c_in, c_out = draw.int(1, 3), draw.int(1, 3)
        h, w = draw.int(3, 12), draw.int(3, 12)
        x = draw.tensor(2, c_in, h, w, dtype=draw.dtype())  # N = 2: training-mode BN of the pooled map
        if i > 2 and draw.chance(0.25):
            args = (c_in, c_out)  # DeepLab v3's (6, 12, 18)
        else:
            rates = _rates(draw, high=4, top=8)
            args = (c_in, c_out, tuple(rates) if draw.chance(0.5) else rates)
        cases.append(Case(args, {"x": x, "seed": draw.int(0, 10_000)}))
    cases.append(Case((draw.choice([0, -1]), draw.int(1, 3), (2, 4)), **_error("ASPP", 0)))
    cases.append(Case((draw.int(1, 3), draw.choice([0, -2])), **_error("ASPP", 1)))
    cases.append(Case((draw.int(1, 3), draw.int(1, 3), ()), **_error("ASPP", 2)))
    cases.append(Case((draw.int(1, 3), draw.int(1, 3), _bad_rates(draw)), **_error("ASPP", 2)))
    return cases


@generator("multigrid_rates")
def _multigrid_rates(draw: Draw) -> list[Case]:
    # The visible cases' calls are never drawn: (1, 2, 4) at block 4, (1, 2, 1) at 5,
    # (2, 3) at 3 and (1, 1, 1) at 6.
    visible = {((1, 2, 4), 4), ((1, 2, 1), 5), ((2, 3), 3), ((1, 1, 1), 6)}
    cases = []
    while len(cases) < 22:
        i = len(cases)
        output_stride = 16 if i < 2 else 8 if i < 4 else draw.choice([8, 16])  # both, whatever the seed
        units = tuple(draw.int(1, 4) for _ in range(draw.int(1, 4)))
        if i in (0, 2):  # a unit rate > 1, block 4: every slip shows
            units, block = (1, 2, draw.choice([3, 5])), 4
        else:
            block = draw.int(3, 7)
        if (units, block) in visible:
            continue
        cases.append(call(draw, (output_stride,), [("multi_grid", units, (1, 2, 4)), ("block", block, 4)]))
    cases += [
        Case((draw.choice([1, 2, 4, 32, 12]),), **_error("multigrid_rates", 0)),
        Case((draw.choice([8, 16]), (1, 2, 4), draw.choice([1, 2])), **_error("multigrid_rates", 1)),
        Case((draw.choice([8, 16]), ()), **_error("multigrid_rates", 2)),
        Case((draw.choice([8, 16]), (1, draw.choice([0, -1]), 2)), **_error("multigrid_rates", 2)),
    ]
    return cases
