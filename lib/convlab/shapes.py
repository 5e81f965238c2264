"""Shape arithmetic: output sizes of direct, transposed and dilated convolution.

Every formula here is one line of Dumoulin & Visin, "A guide to convolution
arithmetic for deep learning" (2016), or of the Keras / TensorFlow sources. The
argument checks live here too, so every op reports bad input the same way.
"""
from __future__ import annotations

import math

__all__ = [
    "as_pair",
    "check_int",
    "check_rates",
    "conv_output_size",
    "conv_transpose_output_size",
    "effective_kernel_size",
    "keras_deconv_output_length",
    "same_padding",
    "tf_same_padding",
]


def check_int(value, name: str, minimum: int) -> int:
    # bool is an int subclass; True as a stride is almost surely a bug.
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise ValueError(f"{name} must be an int, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_rates(rates) -> list[int]:
    """A dilation schedule: a non-empty sequence of ints >= 1, returned as a list."""
    if isinstance(rates, (str, bytes)) or not hasattr(rates, "__iter__"):
        raise ValueError(f"rates must be a sequence of ints, got {rates!r}")
    rates = [check_int(r, "rate", 1) for r in rates]
    if not rates:
        raise ValueError("rates must not be empty")
    return rates


def as_pair(value, name: str, minimum: int = 0) -> tuple[int, int]:
    """Return ``value`` as an (h, w) pair of ints >= ``minimum``; ints are repeated."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return (check_int(value[0], name, minimum), check_int(value[1], name, minimum))
    v = check_int(value, name, minimum)
    return (v, v)


def effective_kernel_size(k: int, dilation: int) -> int:
    """Extent of a kernel of size ``k`` with ``dilation - 1`` holes between taps: d(k-1)+1."""
    k = check_int(k, "kernel size k", 1)
    dilation = check_int(dilation, "dilation", 1)
    return dilation * (k - 1) + 1


def conv_output_size(n: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution: floor((n + 2p - k) / s) + 1 (Dumoulin & Visin, rel. 6)."""
    n = check_int(n, "input size n", 1)
    k = check_int(k, "kernel size k", 1)
    stride = check_int(stride, "stride", 1)
    padding = check_int(padding, "padding", 0)
    if k > n + 2 * padding:
        raise ValueError(
            f"kernel size {k} is larger than the padded input {n} + 2*{padding} = {n + 2 * padding}"
        )
    return (n + 2 * padding - k) // stride + 1


def conv_transpose_output_size(
    n: int, k: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1
) -> int:
    """Output length of a transposed convolution, as torch computes it:
    (n - 1)s - 2p + d(k - 1) + output_padding + 1."""
    n = check_int(n, "input size n", 1)
    k = check_int(k, "kernel size k", 1)
    stride = check_int(stride, "stride", 1)
    padding = check_int(padding, "padding", 0)
    output_padding = check_int(output_padding, "output_padding", 0)
    dilation = check_int(dilation, "dilation", 1)
    if output_padding >= stride and output_padding >= dilation:
        raise ValueError(
            f"output_padding ({output_padding}) must be smaller than either stride ({stride}) "
            f"or dilation ({dilation})"
        )
    size = (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    if size < 1:
        raise ValueError(
            f"padding {padding} crops the whole output: (n-1)s - 2p + d(k-1) + output_padding + 1 "
            f"= {size}"
        )
    return size


_KERAS_PADDINGS = ("same", "valid", "full")


def keras_deconv_output_length(
    input_length, filter_size: int, padding: str, stride: int, output_padding=None, dilation: int = 1
):
    """Keras' ``deconv_output_length``: the length a Conv2DTranspose layer produces.

    With ``output_padding=None`` Keras infers the length (``same`` gives n*s exactly);
    otherwise it uses torch's formula with the padding implied by the mode. ``None`` in
    gives ``None`` out (an unknown dimension stays unknown).
    """
    if not isinstance(padding, str) or padding.lower() not in _KERAS_PADDINGS:
        raise ValueError(f"unknown padding mode {padding!r}; expected one of {_KERAS_PADDINGS}")
    padding = padding.lower()
    filter_size = check_int(filter_size, "filter_size", 1)
    stride = check_int(stride, "stride", 1)
    dilation = check_int(dilation, "dilation", 1)
    if input_length is None:
        return None
    input_length = check_int(input_length, "input_length", 0)
    filter_size = effective_kernel_size(filter_size, dilation)
    if output_padding is None:
        if padding == "valid":
            return input_length * stride + max(filter_size - stride, 0)
        if padding == "full":
            return input_length * stride - (stride + filter_size - 2)
        return input_length * stride
    output_padding = check_int(output_padding, "output_padding", 0)
    pad = {"same": filter_size // 2, "valid": 0, "full": filter_size - 1}[padding]
    return (input_length - 1) * stride + filter_size - 2 * pad + output_padding


def same_padding(k: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding that keeps a stride-1 output the size of its input.

    An even effective kernel cannot be centred; torch and TensorFlow both put the extra
    pixel after (bottom / right)."""
    total = effective_kernel_size(k, dilation) - 1
    return total // 2, total - total // 2


def tf_same_padding(n: int, k: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) for one dimension.

    The output has ceil(n / s) positions; the total padding is whatever makes that fit,
    and the odd pixel goes after. With stride > 1 this is asymmetric even for odd k,
    which is why a SAME-padded TF model does not port to torch with ``padding=k//2``.
    """
    n = check_int(n, "input size n", 1)
    stride = check_int(stride, "stride", 1)
    k_eff = effective_kernel_size(k, dilation)
    out = math.ceil(n / stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return total // 2, total - total // 2
