"""The visible checks and hidden cases of 03_atrous against answers a student could write.

Correct answers are written differently from the reference (loops over taps, as_strided
views, einsum, index arithmetic, the dilated kernel instead of space_to_batch) and must
pass silently. Wrong ones are hand-written the way a student slips (a ``mistake`` switch
placed where the slip happens) and the check must name the slip. Then what every check of
03 promises: every catalogued mistake is told apart from every other by the visible
cases, and every ValueError the exercise text lists is tested, visibly and hidden.
"""
from __future__ import annotations

import itertools
import time

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import convlab
from autograder.judge import hidden_cases
from convlab.checks import REGISTRY, check, run_case
from convlab.checks.core import compare_outputs, first_failure
from check_helpers import fails_naming, passes

EXERCISES_03 = convlab.EXERCISES["03_atrous"]


# --- effective_kernel_size -------------------------------------------------------------------

def extent_by_counting(k, dilation):
    if k < 1 or dilation < 1:
        raise ValueError("k and dilation must be >= 1")
    taps = range(0, dilation * k, dilation)  # tap positions 0, d, 2d, ...
    return taps[-1] + 1


def extent_holes(k, dilation):
    if k < 1:
        raise ValueError("k must be >= 1")
    if dilation < 1:
        raise ValueError("dilation must be >= 1")
    return k + (k - 1) * (dilation - 1)  # the k taps plus d - 1 holes in each of the k - 1 gaps


@pytest.mark.parametrize("fn", [extent_by_counting, extent_holes])
def test_effective_kernel_size_correct_answers_pass(fn):
    passes("effective_kernel_size", fn)


@pytest.mark.parametrize("formula,mistake", [
    (lambda k, d: k + (k - 1) * d, "d zeros between taps instead of d - 1"),
    (lambda k, d: d * k, "d*k instead of d(k - 1) + 1"),
    (lambda k, d: d * (k - 1), "forgot the + 1"),
    (lambda k, d: k + d - 1, "dilation added instead of multiplied"),
    (lambda k, d: k, "dilation ignored"),
])
def test_effective_kernel_size_slips_are_named(formula, mistake):
    def wrong(k, dilation):
        extent_holes(k, dilation)
        return formula(k, dilation)

    fails_naming("effective_kernel_size", wrong, f"Likely mistake: {mistake}")


def test_effective_kernel_size_without_validation_fails_on_each_error_case():
    message = fails_naming("effective_kernel_size", lambda k, dilation: dilation * (k - 1) + 1,
                           "should raise ValueError")
    assert "kernel size k < 1" in message
    silent_on_dilation = lambda k, dilation: extent_holes(k, max(dilation, 1))  # noqa: E731
    fails_naming("effective_kernel_size", silent_on_dilation, "should raise ValueError", "dilation < 1")


# --- dilate_kernel ---------------------------------------------------------------------------

def dilate_by_taps(weight, dilation, mistake=None):
    if dilation < 1:
        raise ValueError("dilation must be >= 1")
    o, i, kh, kw = weight.shape
    d = dilation + 1 if mistake == "d zeros" else dilation
    dh, dw = (d, 1) if mistake == "height only" else (1, d) if mistake == "width only" else (d, d)
    out = weight.new_zeros(o, i, dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    for a in range(kh):
        for b in range(kw):
            if mistake == "corner":
                out[:, :, a, b] = weight[:, :, a, b]
            else:
                out[:, :, a * dh, b * dw] = weight[:, :, a, b]
    if mistake == "trailing":
        out = F.pad(out, (0, dw - 1, 0, dh - 1))
    return out


def dilate_by_kron(weight, dilation):
    """The Kronecker product with a one-hot d x d block, then the trailing zeros cut."""
    if dilation < 1:
        raise ValueError("dilation must be >= 1")
    o, i, kh, kw = weight.shape
    block = torch.zeros(dilation, dilation, dtype=weight.dtype, device=weight.device)
    block[0, 0] = 1
    # contiguous(): torch.kron views its input, which fails on a permuted weight.
    full = torch.kron(weight.contiguous().reshape(o * i, kh, kw), block[None])  # (O*I, kh*d, kw*d)
    return full[:, :dilation * (kh - 1) + 1, :dilation * (kw - 1) + 1].reshape(o, i, -1, dilation * (kw - 1) + 1)


@pytest.mark.parametrize("fn", [dilate_by_taps, dilate_by_kron])
def test_dilate_kernel_correct_answers_pass(fn):
    passes("dilate_kernel", fn)


@pytest.mark.parametrize("slip,mistake", [
    ("d zeros", "d zeros between taps instead of d - 1"),
    ("trailing", "zeros also after the last tap"),
    ("corner", "taps copied into the corner instead of spread out"),
    ("height only", "dilated along the height only"),
    ("width only", "dilated along the width only"),
])
def test_dilate_kernel_slips_are_named(slip, mistake):
    fails_naming("dilate_kernel", lambda w, d: dilate_by_taps(w, d, slip), f"Likely mistake: {mistake}")


def test_dilate_kernel_looping_over_output_channels_is_not_vectorized():
    def per_filter(weight, dilation):
        return torch.stack([dilate_by_taps(weight[o:o + 1], dilation)[0] for o in range(weight.shape[0])])

    fails_naming("dilate_kernel", per_filter, "not vectorized")


# --- conv2d_dilated --------------------------------------------------------------------------

def _check_conv_args(x, weight, padding, dilation):
    if dilation < 1:
        raise ValueError("dilation must be >= 1")
    if weight.shape[1] != x.shape[1]:
        raise ValueError("channel mismatch")
    kh, kw = weight.shape[2:]
    if dilation * (kh - 1) + 1 > x.shape[2] + 2 * padding or dilation * (kw - 1) + 1 > x.shape[3] + 2 * padding:
        raise ValueError("the dilated kernel is larger than the padded input")


def student_conv2d_dilated(x, weight, bias=None, stride=1, padding=0, dilation=1, mistake=None):
    """A loop over kernel taps, each a strided slice times a (C_out, C_in) matrix."""
    _check_conv_args(x, weight, padding, dilation)
    s, p, d = stride, padding, dilation
    if mistake == "d zeros":
        d = dilation + 1
    elif mistake == "ignored":
        d = 1
    elif mistake == "on stride":
        s, d = stride * dilation, 1
    elif mistake == "on padding":
        p, d = padding * dilation, 1
    xp = F.pad(x, (p, p, p, p))
    kh, kw = weight.shape[2:]
    ho = (xp.shape[2] - d * (kh - 1) - 1) // s + 1
    wo = (xp.shape[3] - d * (kw - 1) - 1) // s + 1
    out = 0
    for a in range(kh):
        for b in range(kw):
            tap = xp[:, :, a * d:a * d + s * (ho - 1) + 1:s, b * d:b * d + s * (wo - 1) + 1:s]
            out = out + torch.einsum("nchw,oc->nohw", tap, weight[:, :, a, b])
    if bias is not None and mistake != "bias dropped":
        out = out + bias.view(1, -1, 1, 1)
    return out


def conv2d_dilated_as_strided(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """Every window as a strided view with taps d apart, one einsum."""
    _check_conv_args(x, weight, padding, dilation)
    xp = F.pad(x, (padding,) * 4).contiguous()
    n, c, h, w = xp.shape
    kh, kw = weight.shape[2:]
    ho = (h - dilation * (kh - 1) - 1) // stride + 1
    wo = (w - dilation * (kw - 1) - 1) // stride + 1
    sn, sc, sh, sw = xp.stride()
    windows = xp.as_strided((n, c, kh, kw, ho, wo),
                            (sn, sc, sh * dilation, sw * dilation, sh * stride, sw * stride))
    out = torch.einsum("ncijhw,ocij->nohw", windows, weight)
    return out if bias is None else out + bias[:, None, None]


def conv2d_dilated_via_dilated_kernel(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """Holes in the kernel, then an ordinary conv from Tensor.unfold views (allowed)."""
    _check_conv_args(x, weight, padding, dilation)
    big = dilate_by_kron(weight, dilation)
    windows = F.pad(x, (padding,) * 4).unfold(2, big.shape[2], stride).unfold(3, big.shape[3], stride)
    out = torch.einsum("nchwij,ocij->nohw", windows, big)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


@pytest.mark.parametrize("fn", [student_conv2d_dilated, conv2d_dilated_as_strided,
                                conv2d_dilated_via_dilated_kernel])
def test_conv2d_dilated_correct_answers_pass(fn):
    passes("conv2d_dilated", fn)


@pytest.mark.parametrize("slip,mistake", [
    ("d zeros", "d zeros between taps instead of d - 1 (dilation off by one)"),
    ("ignored", "dilation ignored"),
    ("on stride", "dilation applied to the stride instead of the kernel"),
    ("on padding", "dilation applied to the padding instead of the kernel"),
    ("bias dropped", "bias dropped"),
])
def test_conv2d_dilated_slips_are_named(slip, mistake):
    def wrong(x, weight, bias=None, stride=1, padding=0, dilation=1):
        return student_conv2d_dilated(x, weight, bias, stride, padding, dilation, mistake=slip)

    fails_naming("conv2d_dilated", wrong, f"Likely mistake: {mistake}")


def test_conv2d_dilated_checking_the_undilated_kernel_fails_on_the_error_case():
    def checks_k_not_extent(x, weight, bias=None, stride=1, padding=0, dilation=1):
        if dilation < 1 or weight.shape[1] != x.shape[1]:
            raise ValueError("bad arguments")
        if weight.shape[2] > x.shape[2] + 2 * padding:  # the undilated kernel: wrong test
            raise ValueError("kernel larger than the input")
        try:
            return conv2d_dilated_as_strided(x, weight, bias, stride, padding, dilation)
        except ValueError:
            return x.new_zeros(1)
        except RuntimeError:
            return x.new_zeros(1)

    fails_naming("conv2d_dilated", checks_k_not_extent, "should raise ValueError", "dilated kernel extent")


def test_conv2d_dilated_looping_over_pixels_is_not_vectorized():
    def per_row(x, weight, bias=None, stride=1, padding=0, dilation=1):
        full = conv2d_dilated_as_strided(x, weight, bias, stride, padding, dilation)
        rows = [conv2d_dilated_as_strided(x, weight, bias, stride, padding, dilation)[:, :, i]
                for i in range(full.shape[2])]
        return torch.stack(rows, dim=2)

    fails_naming("conv2d_dilated", per_row, "not vectorized")


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 2), c_in=st.integers(1, 3), c_out=st.integers(1, 3),
    hw=st.tuples(st.integers(1, 9), st.integers(1, 9)), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 4),
    bias=st.booleans(), seed=st.integers(0, 2**31 - 1),
)
def test_reference_and_the_alternatives_equal_torch_in_float64(n, c_in, c_out, hw, k, stride, padding,
                                                                dilation, bias, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c_in, *hw, generator=g, dtype=torch.float64)
    w = torch.randn(c_out, c_in, *k, generator=g, dtype=torch.float64)
    b = torch.randn(c_out, generator=g, dtype=torch.float64) if bias else None
    fits = all(dilation * (kk - 1) + 1 <= size + 2 * padding for kk, size in zip(k, hw))
    for fn in (convlab.conv2d_dilated, student_conv2d_dilated, conv2d_dilated_as_strided,
               conv2d_dilated_via_dilated_kernel):
        if not fits:
            with pytest.raises(ValueError):
                fn(x, w, b, stride, padding, dilation)
            continue
        torch.testing.assert_close(fn(x, w, b, stride, padding, dilation),
                                   F.conv2d(x, w, b, stride, padding, dilation), rtol=1e-12, atol=1e-12)


# --- space_to_batch / batch_to_space --------------------------------------------------------------

def s2b_by_slicing(x, rate, mistake=None):
    """Loop over the rate*rate phases (allowed: a loop over 'kernel taps'), cat on the batch."""
    if rate < 1:
        raise ValueError("rate must be >= 1")
    if x.shape[2] % rate or x.shape[3] % rate:
        raise ValueError("H and W must be divisible by the rate")
    if mistake == "tiles":
        h, w = x.shape[2] // rate, x.shape[3] // rate
        return torch.cat([x[:, :, i * h:(i + 1) * h, j * w:(j + 1) * w] for i in range(rate) for j in range(rate)])
    if mistake == "j first":
        return torch.cat([x[:, :, i::rate, j::rate] for j in range(rate) for i in range(rate)])
    if mistake == "image-major":
        return torch.stack([x[:, :, i::rate, j::rate] for i in range(rate) for j in range(rate)], 1).flatten(0, 1)
    if mistake == "channels":
        return torch.stack([x[:, :, i::rate, j::rate] for i in range(rate) for j in range(rate)], 2).flatten(1, 2)
    return torch.cat([x[:, :, i::rate, j::rate] for i in range(rate) for j in range(rate)])


def s2b_by_index(x, rate):
    """Gather with index arithmetic: output batch b = (i*rate + j)*N + n."""
    if rate < 1:
        raise ValueError("rate must be >= 1")
    n, c, h, w = x.shape
    if h % rate or w % rate:
        raise ValueError("H and W must be divisible by the rate")
    b = torch.arange(rate * rate * n, device=x.device)
    phase, image = b // n, b % n
    i, j = phase // rate, phase % rate
    rows = i[:, None] + rate * torch.arange(h // rate, device=x.device)[None]  # (B, h)
    cols = j[:, None] + rate * torch.arange(w // rate, device=x.device)[None]  # (B, w)
    return x[image[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None],
             rows[:, None, :, None], cols[:, None, None, :]]


@pytest.mark.parametrize("fn", [s2b_by_slicing, s2b_by_index])
def test_space_to_batch_correct_answers_pass(fn):
    passes("space_to_batch", fn)


@pytest.mark.parametrize("slip,mistake", [
    ("image-major", "phases ordered image-major"),
    ("j first", "(column phase first)"),
    ("tiles", "contiguous tiles instead of interleaved phases"),
    ("channels", "phases stacked into the channels"),
])
def test_space_to_batch_slips_are_named(slip, mistake):
    fails_naming("space_to_batch", lambda x, rate: s2b_by_slicing(x, rate, slip), "Likely mistake: ", mistake)


def test_space_to_batch_without_divisibility_check_fails_on_the_error_cases():
    def no_check(x, rate):
        if rate < 1:
            raise ValueError("rate must be >= 1")
        return torch.cat([x[:, :, i::rate, j::rate] for i in range(rate) for j in range(rate)])

    fails_naming("space_to_batch", no_check, "should raise ValueError", "not divisible by rate")


def test_space_to_batch_dividing_by_a_zero_rate_is_not_a_value_error():
    def zero_division(x, rate):
        if x.shape[2] % rate or x.shape[3] % rate:  # ZeroDivisionError for rate 0
            raise ValueError("H and W must be divisible by the rate")
        return s2b_by_slicing(x, rate)

    fails_naming("space_to_batch", zero_division, "should raise ValueError", "ZeroDivisionError")


def b2s_by_assignment(x, rate, mistake=None):
    """Write each phase back with a strided slice assignment."""
    if rate < 1:
        raise ValueError("rate must be >= 1")
    b, c, h, w = x.shape
    if b % (rate * rate):
        raise ValueError("the batch must be divisible by rate*rate")
    n = b // (rate * rate)
    if mistake == "reshape":
        return x.reshape(n, c, h * rate, w * rate)
    out = x.new_zeros(n, c, h * rate, w * rate)
    for i in range(rate):
        for j in range(rate):
            if mistake == "image-major":
                block = x[i * rate + j::rate * rate]
            else:
                block = x[(i * rate + j) * n:(i * rate + j + 1) * n]
            if mistake == "swapped":
                out[:, :, j::rate, i::rate] = block
            elif mistake == "tiles":
                out[:, :, i * h:(i + 1) * h, j * w:(j + 1) * w] = block
            else:
                out[:, :, i::rate, j::rate] = block
    return out


def b2s_by_pixel_shuffle(x, rate):
    """Move the phases into the channels, then F.pixel_shuffle (allowed: not a conv)."""
    if rate < 1:
        raise ValueError("rate must be >= 1")
    b, c, h, w = x.shape
    if b % (rate * rate):
        raise ValueError("the batch must be divisible by rate*rate")
    n = b // (rate * rate)
    stacked = x.reshape(rate * rate, n, c, h, w).permute(1, 2, 0, 3, 4).reshape(n, c * rate * rate, h, w)
    return F.pixel_shuffle(stacked, rate)


@pytest.mark.parametrize("fn", [b2s_by_assignment, b2s_by_pixel_shuffle])
def test_batch_to_space_correct_answers_pass(fn):
    passes("batch_to_space", fn)


@pytest.mark.parametrize("slip,mistake", [
    ("image-major", "batch read image-major"),
    ("swapped", "put back at phase (j, i)"),
    ("reshape", "a reshape alone, without a permute"),
    ("tiles", "phases put back as contiguous tiles"),
])
def test_batch_to_space_slips_are_named(slip, mistake):
    message = fails_naming("batch_to_space", lambda x, rate: b2s_by_assignment(x, rate, slip),
                           "Likely mistake: not the exact inverse: ", mistake)
    assert "must undo space_to_batch exactly" in message


def test_batch_to_space_without_the_batch_check_fails_on_the_error_case():
    def no_check(x, rate):
        if rate < 1:
            raise ValueError("rate must be >= 1")
        n = x.shape[0] // (rate * rate)
        return b2s_by_assignment(x[:n * rate * rate], rate)

    fails_naming("batch_to_space", no_check, "should raise ValueError", "batch size not divisible by rate*rate")


def test_batch_to_space_looping_over_the_batch_is_not_vectorized():
    def per_image(x, rate):
        if rate < 1 or x.shape[0] % (rate * rate):
            raise ValueError("rate < 1, or a batch not divisible by rate*rate")
        n = x.shape[0] // (rate * rate)
        return torch.cat([b2s_by_assignment(x[image::n], rate) for image in range(n)])

    passes_values = all(run_case(REGISTRY["batch_to_space"], per_image, c).passed
                        for c in REGISTRY["batch_to_space"].visible_cases() if c.raises is None)
    assert passes_values
    fails_naming("batch_to_space", per_image, "not vectorized")


# --- atrous_conv2d --------------------------------------------------------------------------------

def _tf_same(n, k, rate):
    total = rate * (k - 1)
    return total // 2, total - total // 2


def student_atrous(value, filters, rate, padding, mistake=None):
    """TensorFlow's route, written out: pad, pad to a multiple of rate, space_to_batch,
    a plain VALID F.conv2d, batch_to_space, crop."""
    if rate < 1:
        raise ValueError("rate must be >= 1")
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    if filters.shape[2] != value.shape[3]:
        raise ValueError("channel mismatch")
    n, h, w, c = value.shape
    kh, kw = filters.shape[:2]
    ekh, ekw = rate * (kh - 1) + 1, rate * (kw - 1) + 1
    if padding == "SAME":
        if mistake == "undilated":
            (top, bottom), (left, right) = _tf_same(h, kh, 1), _tf_same(w, kw, 1)
        elif mistake == "effective as padding":
            top = bottom = ekh
            left = right = ekw
        elif mistake == "odd before":
            (bottom, top), (right, left) = _tf_same(h, kh, rate), _tf_same(w, kw, rate)
        else:
            (top, bottom), (left, right) = _tf_same(h, kh, rate), _tf_same(w, kw, rate)
    else:
        if ekh > h or ekw > w:
            raise ValueError(f"VALID: the dilated filter ({ekh}, {ekw}) does not fit the input ({h}, {w})")
        top = bottom = left = right = 0
    hp, wp = h + top + bottom, w + left + right
    out_h, out_w = hp - ekh + 1, wp - ekw + 1
    # Zeros at the end make H and W divisible by the rate; their outputs are cropped below.
    x = F.pad(value.permute(0, 3, 1, 2), (left, right + (-wp) % rate, top, bottom + (-hp) % rate))
    phases = s2b_by_slicing(x, rate)
    weight = filters.permute(3, 2, 0, 1)
    if mistake == "io swapped":
        weight = filters.permute(2, 3, 0, 1)
    y = F.conv2d(phases, weight)  # a plain VALID conv: allowed
    out = b2s_by_assignment(y, rate, "swapped" if mistake == "inverse" else None)
    if mistake != "uncropped":
        out = out[:, :, :out_h, :out_w]
    return out if mistake == "nchw" else out.permute(0, 2, 3, 1)


def atrous_via_dilated_kernel(value, filters, rate, padding):
    """No space_to_batch at all: holes in the filter and a tap loop of matrix products."""
    if rate < 1 or padding not in ("SAME", "VALID") or filters.shape[2] != value.shape[3]:
        raise ValueError("bad arguments")
    kh, kw = filters.shape[:2]
    h, w = value.shape[1:3]
    big = dilate_by_kron(filters.permute(3, 2, 0, 1), rate)  # (C_out, C_in, ekh, ekw)
    ekh, ekw = big.shape[2:]
    if padding == "SAME":
        (top, bottom), (left, right) = _tf_same(h, kh, rate), _tf_same(w, kw, rate)
    elif ekh > h or ekw > w:
        raise ValueError("VALID: the dilated filter does not fit")
    else:
        top = bottom = left = right = 0
    x = F.pad(value, (0, 0, left, right, top, bottom))  # NHWC: pad W and H, not C
    ho, wo = x.shape[1] - ekh + 1, x.shape[2] - ekw + 1
    out = 0
    for a in range(ekh):
        for b in range(ekw):
            out = out + torch.einsum("nhwc,oc->nhwo", x[:, a:a + ho, b:b + wo, :], big[:, :, a, b])
    return out


@pytest.mark.parametrize("fn", [student_atrous, atrous_via_dilated_kernel])
def test_atrous_conv2d_correct_answers_pass(fn):
    passes("atrous_conv2d", fn)


@pytest.mark.parametrize("slip,mistake", [
    ("undilated", "SAME padding computed from the undilated filter"),
    ("effective as padding", "effective kernel size used as the padding"),
    ("odd before", "odd SAME padding pixel put before"),
    ("inverse", "batch_to_space not the exact inverse of space_to_batch"),
    ("uncropped", "rows/columns added for divisibility not cropped"),
    ("io swapped", "filters read as (kh, kw, C_out, C_in)"),
    ("nchw", "output left in NCHW"),
])
def test_atrous_conv2d_slips_are_named(slip, mistake):
    fails_naming("atrous_conv2d", lambda v, f, rate, padding: student_atrous(v, f, rate, padding, slip),
                 f"Likely mistake: {mistake}")


def test_atrous_conv2d_rate_off_by_one_is_named():
    fails_naming("atrous_conv2d",
                 lambda v, f, rate, padding: student_atrous(v, f, rate + 1, padding) if rate >= 1
                 else student_atrous(v, f, rate, padding),
                 "Likely mistake: rate off by one")


def test_atrous_conv2d_a_consistent_non_tensorflow_phase_order_is_still_correct():
    """Each batch item is convolved on its own, so any order that batch_to_space undoes works."""
    def image_major(value, filters, rate, padding):
        if rate < 1:
            raise ValueError("rate must be >= 1")
        original_s2b = s2b_by_slicing

        def s2b(x, r):
            return original_s2b(x, r, "image-major")

        def b2s(y, r):
            n = y.shape[0] // (r * r)
            return b2s_by_assignment(y.reshape(n, r * r, *y.shape[1:]).transpose(0, 1).flatten(0, 1), r)

        return _atrous_with(value, filters, rate, padding, s2b, b2s)

    passes("atrous_conv2d", image_major)


def _atrous_with(value, filters, rate, padding, s2b, b2s):
    if padding not in ("SAME", "VALID") or filters.shape[2] != value.shape[3]:
        raise ValueError("bad arguments")
    n, h, w, _ = value.shape
    kh, kw = filters.shape[:2]
    ekh, ekw = rate * (kh - 1) + 1, rate * (kw - 1) + 1
    if padding == "SAME":
        (top, bottom), (left, right) = _tf_same(h, kh, rate), _tf_same(w, kw, rate)
    elif ekh > h or ekw > w:
        raise ValueError("VALID: does not fit")
    else:
        top = bottom = left = right = 0
    hp, wp = h + top + bottom, w + left + right
    x = F.pad(value.permute(0, 3, 1, 2), (left, right + (-wp) % rate, top, bottom + (-hp) % rate))
    out = b2s(F.conv2d(s2b(x, rate), filters.permute(3, 2, 0, 1)), rate)
    return out[:, :, :hp - ekh + 1, :wp - ekw + 1].permute(0, 2, 3, 1)


def test_atrous_conv2d_that_lets_rate_2_valid_through_fails():
    """TensorFlow's eager mode returns garbage for the seed's rate 2 VALID; we demand a ValueError."""
    def no_fit_check(value, filters, rate, padding):
        try:
            return student_atrous(value, filters, rate, padding)
        except ValueError:
            if padding == "VALID":
                return value.new_zeros(value.shape[0], 0, 0, filters.shape[3])
            raise

    fails_naming("atrous_conv2d", no_fit_check, "should raise ValueError",
                 "float64 tensor of shape (1, 4, 4, 2)", "'VALID'", "VALID and the dilated filter extent")


def test_atrous_conv2d_accepting_any_padding_mode_fails():
    def lenient(value, filters, rate, padding):
        return student_atrous(value, filters, rate, "SAME" if padding not in ("SAME", "VALID") else padding)

    fails_naming("atrous_conv2d", lenient, "should raise ValueError", "padding neither 'SAME' nor 'VALID'")


def test_atrous_conv2d_visible_cases_hold_the_seed_example():
    case = next(c for c in REGISTRY["atrous_conv2d"].visible_cases() if "seed example" in c.note)
    out = REGISTRY["atrous_conv2d"].call(convlab.atrous_conv2d, case)
    expected = torch.tensor([16.0, 24.0, 16.0, 24.0], dtype=torch.float64).expand(1, 4, 4).unsqueeze(-1)
    torch.testing.assert_close(out, expected.expand(1, 4, 4, 5))


# --- receptive_field ------------------------------------------------------------------------------

def field_backwards(layers):
    """Walk from the output back to the input: r <- (r - 1)*s + d(k - 1) + 1."""
    for k, s, d in layers:
        if k < 1 or s < 1 or d < 1:
            raise ValueError("kernel_size, stride and dilation must be >= 1")
    r = 1
    for k, s, d in reversed(layers):
        r = (r - 1) * s + d * (k - 1) + 1
    return r


def student_field(layers, mistake=None):
    size, jump = 1, 1
    for k, s, d in layers:
        if k < 1 or s < 1 or d < 1:
            raise ValueError("kernel_size, stride and dilation must be >= 1")
        if mistake == "own stride":
            jump *= s
        grow = {"added": k - 1 + d - 1, "no dilation": k - 1, "extent": d * (k - 1) + 1}.get(mistake, d * (k - 1))
        size += grow * (1 if mistake == "no stride" else jump)
        if mistake != "own stride":
            jump *= s
    return size


@pytest.mark.parametrize("fn", [field_backwards, student_field])
def test_receptive_field_correct_answers_pass(fn):
    passes("receptive_field", fn)


@pytest.mark.parametrize("slip,mistake", [
    ("no stride", "stride products ignored"),
    ("own stride", "the layer's own stride included in its jump"),
    ("added", "dilation added instead of (k - 1)d"),
    ("no dilation", "dilation ignored"),
    ("extent", "each layer adds its effective size"),
])
def test_receptive_field_slips_are_named(slip, mistake):
    fails_naming("receptive_field", lambda layers: student_field(layers, slip), f"Likely mistake: {mistake}")


def test_receptive_field_without_validation_fails_each_error_case():
    message = fails_naming("receptive_field", lambda layers: student_field([(max(k, 1), max(s, 1), max(d, 1))
                                                                          for k, s, d in layers]),
                           "should raise ValueError")
    assert "kernel_size < 1" in message


def test_receptive_field_visible_cases_hold_published_numbers():
    sizes = {c.note: convlab.receptive_field(*c.args) for c in REGISTRY["receptive_field"].visible_cases()
             if c.raises is None}
    assert sizes["three 3x3 convs (VGG): 7"] == 7
    assert sizes["rates 1, 2, 4: 15 (Yu & Koltun)"] == 15
    assert sizes["AlexNet conv1, pool1, conv2: 51"] == 51


# --- forbidden calls ---------------------------------------------------------------------------------

def conv2d_dilated_via_torch(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return F.conv2d(x, weight, bias, stride, padding, dilation)


def conv2d_dilated_via_unfold(x, weight, bias=None, stride=1, padding=0, dilation=1):
    cols = F.unfold(x, weight.shape[2:], dilation=dilation, padding=padding, stride=stride)
    kh, kw = weight.shape[2:]
    ho = (x.shape[2] + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    out = (weight.flatten(1) @ cols).unflatten(2, (ho, -1))
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def atrous_via_dilated_torch_conv(value, filters, rate, padding):
    x = value.permute(0, 3, 1, 2)
    if padding == "SAME":
        (top, bottom), (left, right) = _tf_same(0, filters.shape[0], rate), _tf_same(0, filters.shape[1], rate)
        x = F.pad(x, (left, right, top, bottom))
    out = F.conv2d(x, filters.permute(3, 2, 0, 1).contiguous(), dilation=rate)
    return out.permute(0, 2, 3, 1)


def atrous_via_module(value, filters, rate, padding):
    layer = torch.nn.Conv2d(filters.shape[2], filters.shape[3], filters.shape[:2], dilation=rate,
                            padding=padding.lower(), bias=False).to(value)
    with torch.no_grad():
        layer.weight.copy_(filters.permute(3, 2, 0, 1))
        return layer(value.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


@pytest.mark.parametrize("name,fn,phrase", [
    ("conv2d_dilated", conv2d_dilated_via_torch, "a torch convolution"),
    ("conv2d_dilated", conv2d_dilated_via_unfold, "F.unfold"),
    ("atrous_conv2d", atrous_via_dilated_torch_conv, "dilation=[2, 2]"),
    ("atrous_conv2d", atrous_via_module, "dilation > 1 is what you implement"),
])
def test_forbidden_calls_are_named(name, fn, phrase):
    message = fails_naming(name, fn, f"{name} calls", phrase, "This exercise forbids")
    assert "cases pass" not in message


@pytest.mark.parametrize("name", EXERCISES_03)
def test_calling_the_reference_library_fails(name):
    fails_naming(name, lambda *args, **kwargs: getattr(convlab, name)(*args, **kwargs),
                 "uses the reference library")


# --- what every check of 03 promises -----------------------------------------------------------------

def _outputs(exercise, fn, cases):
    row = []
    for case in cases:
        try:
            row.append(exercise.call(fn, case))
        except Exception as exc:  # noqa: BLE001  (a mistake that does not apply raises)
            row.append(("raises", type(exc).__name__))
    return row


def _same(a, b) -> bool:
    if isinstance(a, tuple) and a[:1] == ("raises",) or isinstance(b, tuple) and b[:1] == ("raises",):
        return a == b
    return compare_outputs(a, b) is None


@pytest.mark.parametrize("name", EXERCISES_03)
def test_no_two_mistakes_agree_on_every_visible_case(name):
    exercise = REGISTRY[name]
    cases = [c for c in exercise.visible_cases() if c.raises is None]
    rows = {m.name: _outputs(exercise, m.produce, cases) for m in exercise.mistakes}
    for a, b in itertools.combinations(rows, 2):
        assert not all(_same(x, y) for x, y in zip(rows[a], rows[b])), (
            f"{name}: the visible cases cannot tell {a!r} from {b!r}")


@pytest.mark.parametrize("name", EXERCISES_03)
def test_each_mistake_is_the_only_one_named_at_its_first_failing_case(name):
    """Students see the first failing case: it must name that mistake, and no other fits it."""
    exercise = REGISTRY[name]
    for mistake in exercise.mistakes:
        results = [run_case(exercise, mistake.produce, c) for c in exercise.visible_cases()]
        first = next(r for r in results if not r.passed)
        assert first.candidates == (mistake.name,), f"{mistake.name!r} at its first failing case: {first.candidates}"
        assert first_failure(exercise, results).mistake == mistake.name


KEYS = [hidden_cases.SeedKey(bytes([seed]) * 16, "03_atrous", f"student{seed}", "") for seed in range(2)]


@pytest.mark.parametrize("name", EXERCISES_03)
def test_every_listed_error_is_a_visible_and_a_hidden_case(name):
    """Each ValueError the exercise lists (``Exercise.errors``, the notebook's words) is a
    raising case, visible and hidden (for every student's seed), and nothing else raises."""
    exercise = REGISTRY[name]
    assert exercise.errors, f"{name} lists no ValueError"
    visible = [c.note for c in exercise.visible_cases() if c.raises is not None]
    assert sorted(set(visible)) == sorted(exercise.errors), f"{name}: visible error cases {visible}"
    for key in KEYS:
        cases = hidden_cases.cpu_cases(name, key)
        hidden = [c.note for c in cases if c.raises is not None]
        assert sorted(set(hidden)) == sorted(exercise.errors), f"{name}: hidden error cases {hidden}"
        for case in cases:
            if case.raises is not None:
                assert case.raises is ValueError
                with pytest.raises(ValueError):
                    exercise.call(exercise.reference, case)


@pytest.mark.parametrize("name", EXERCISES_03)
def test_hidden_cases_are_valid_and_catch_every_mistake_for_every_seed(name):
    """(The raising cases are checked by the test above; the reference's own outputs need no
    comparison with themselves, only to exist.)"""
    exercise = REGISTRY[name]
    for key in KEYS:
        cases = hidden_cases.cpu_cases(name, key)
        assert 20 <= len(cases) <= 30
        again = hidden_cases.cpu_cases(name, key)
        assert [c.describe(name) for c in cases] == [c.describe(name) for c in again]
        valid = [c for c in cases if c.raises is None]
        expected = [exercise.call(exercise.reference, c) for c in valid]  # raises if invalid
        for mistake in exercise.mistakes:
            # Compared directly (run_case would also diagnose every failure: slow).
            caught = any(not _same(want, got) for want, got in
                         zip(expected, _outputs(exercise, mistake.produce, valid)))
            assert caught, f"{name}: the hidden cases of {key.student} never catch {mistake.name!r}"


@pytest.mark.parametrize("name,right,wrong", [
    ("conv2d_dilated", student_conv2d_dilated,
     lambda x, w, b=None, stride=1, padding=0, dilation=1: student_conv2d_dilated(x, w, b, stride, padding,
                                                                                   dilation, "on padding")),
    ("atrous_conv2d", student_atrous, lambda v, f, rate, padding: student_atrous(v, f, rate, padding, "nchw")),
    ("batch_to_space", b2s_by_assignment, lambda x, rate: b2s_by_assignment(x, rate, "tiles")),
])
def test_a_check_takes_well_under_two_seconds(name, right, wrong):
    for fn in (right, wrong):
        start = time.process_time()
        try:
            check(name, fn, quiet=True)
        except AssertionError:
            assert fn is wrong
        assert time.process_time() - start < 5, f"check_{name} took {time.process_time() - start:.1f} s"


@pytest.mark.parametrize("taps", ["rows first", "columns first"])
def test_conv2d_dilated_sized_with_k_is_named_from_its_size_error(taps):
    # The student sizes the output with k, not d(k-1)+1: the slices of the later
    # taps come back short and torch raises a RuntimeError about sizes, which once reached
    # the student raw. Either loop order: torch then reports the rows or the columns.
    def sized_with_k(x, weight, bias=None, stride=1, padding=0, dilation=1):
        _check_conv_args(x, weight, padding, dilation)
        xp = F.pad(x, (padding,) * 4)
        kh, kw = weight.shape[2:]
        ho = (xp.shape[2] - kh) // stride + 1
        wo = (xp.shape[3] - kw) // stride + 1
        out = x.new_zeros(x.shape[0], weight.shape[0], ho, wo)
        pairs = [(a, b) for a in range(kh) for b in range(kw)]
        if taps == "columns first":
            pairs = [(a, b) for b in range(kw) for a in range(kh)]
        for a, b in pairs:
            tap = xp[:, :, a * dilation::stride, b * dilation::stride][:, :, :ho, :wo]
            out[:] = out + torch.einsum("nchw,oc->nohw", tap, weight[:, :, a, b])
        return out if bias is None else out + bias.view(1, -1, 1, 1)

    fails_naming("conv2d_dilated", sized_with_k, "raised RuntimeError", "must match the size",
                 "Likely mistake: output sized with k instead of the dilated extent d(k-1)+1")


def test_a_size_error_of_another_kind_is_not_named_as_the_k_sizing():
    from convlab.checks.core import evaluate

    exercise = REGISTRY["conv2d_dilated"]
    case = exercise.visible_cases()[0]
    other = evaluate(exercise, case, error=RuntimeError("The size of tensor a (4) must match the size "
                                                        "of tensor b (2) at non-singleton dimension 1"))
    assert not other.passed and "Likely mistake" not in other.message
    # The grader passes the sandbox's text of the error: the same mistake is named from it.
    text = evaluate(exercise, case, error="RuntimeError: The size of tensor a (9) must match the size "
                                          "of tensor b (7) at non-singleton dimension 3 (line 12 of your cell)")
    assert "output sized with k" in text.message
