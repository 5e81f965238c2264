"""A careful student of 03_atrous who makes the catalogued slips: each answer validates its
input as the exercise lists and is right on the cases its slip does not touch (rate or
dilation 1, a single image, VALID padding, strides of 1), so each earns partial credit,
and the feedback names the slip."""
from autograder.examples.spec import Student, partial, zero

STUDENT = Student(
    about="03_atrous: d zeros between taps, zeros after the last tap, dilation put on the "
          "padding, phases stacked image-major, batch_to_space as a bare reshape, SAME "
          "padding from the undilated filter, receptive field without the stride products, "
          "a causal conv without its dilation, WaveNet's field without the + 1: "
          "partial credit, each mistake named",
    answers={
        "effective_kernel_size": '''
            def effective_kernel_size(k, dilation):
                if k < 1 or dilation < 1:
                    raise ValueError("k and dilation must be >= 1")
                return k + (k - 1) * dilation  # "dilation zeros between the taps"
        ''',
        "dilate_kernel": '''
            def dilate_kernel(weight, dilation):
                if dilation < 1:
                    raise ValueError("dilation must be >= 1")
                o, i, kh, kw = weight.shape
                out = weight.new_zeros((o, i, kh * dilation, kw * dilation))  # d*k: a hole after the last tap
                out[:, :, ::dilation, ::dilation] = weight
                return out
        ''',
        "conv2d_dilated": '''
            def conv2d_dilated(x, weight, bias=None, stride=1, padding=0, dilation=1):
                if dilation < 1:
                    raise ValueError("dilation must be >= 1")
                if weight.shape[1] != x.shape[1]:
                    raise ValueError("weight's C_in differs from x's channels")
                kh, kw = weight.shape[2:]
                if (dilation * (kh - 1) + 1 > x.shape[2] + 2 * padding
                        or dilation * (kw - 1) + 1 > x.shape[3] + 2 * padding):
                    raise ValueError("the dilated kernel is larger than the padded input")
                p = padding * dilation  # "dilation scales the padding", and the taps stay adjacent
                xp = F.pad(x, (p, p, p, p))
                ho, wo = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
                out = x.new_zeros((x.shape[0], weight.shape[0], ho, wo))
                for i in range(kh):
                    for j in range(kw):
                        tap = xp[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
                        out += torch.einsum("nchw,oc->nohw", tap, weight[:, :, i, j])
                if bias is not None:
                    out += bias.view(1, -1, 1, 1)
                return out
        ''',
        "space_to_batch": '''
            def space_to_batch(x, rate):
                if rate < 1:
                    raise ValueError("rate must be >= 1")
                n, c, h, w = x.shape
                if h % rate or w % rate:
                    raise ValueError("H and W must be divisible by the rate")
                phases = x.reshape(n, c, h // rate, rate, w // rate, rate).permute(0, 3, 5, 1, 2, 4)
                return phases.reshape(rate * rate * n, c, h // rate, w // rate)  # image-major
        ''',
        "batch_to_space": '''
            def batch_to_space(x, rate):
                if rate < 1:
                    raise ValueError("rate must be >= 1")
                b, c, h, w = x.shape
                if b % (rate * rate):
                    raise ValueError("the batch must be divisible by rate*rate")
                return x.reshape(b // (rate * rate), c, h * rate, w * rate)  # no permute
        ''',
        "atrous_conv2d": '''
            def atrous_conv2d(value, filters, rate, padding):
                if rate < 1:
                    raise ValueError("rate must be >= 1")
                if padding not in ("SAME", "VALID"):
                    raise ValueError("padding must be 'SAME' or 'VALID'")
                if filters.shape[2] != value.shape[3]:
                    raise ValueError("filters' C_in differs from value's channels")
                n, h, w, _ = value.shape
                kh, kw = filters.shape[:2]
                ekh, ekw = rate * (kh - 1) + 1, rate * (kw - 1) + 1
                if padding == "SAME":  # the padding of the undilated filter
                    top, left = (kh - 1) // 2, (kw - 1) // 2
                    bottom, right = kh - 1 - top, kw - 1 - left
                else:
                    if ekh > h or ekw > w:
                        raise ValueError("VALID: the dilated filter does not fit")
                    top = bottom = left = right = 0
                hp, wp = h + top + bottom, w + left + right
                out_h, out_w = hp - ekh + 1, wp - ekw + 1
                x = F.pad(value.permute(0, 3, 1, 2), (left, right + (-wp) % rate, top, bottom + (-hp) % rate))
                nb, c, hh, ww = x.shape
                phases = x.reshape(nb, c, hh // rate, rate, ww // rate, rate).permute(3, 5, 0, 1, 2, 4)
                y = F.conv2d(phases.reshape(-1, c, hh // rate, ww // rate), filters.permute(3, 2, 0, 1))
                y = y.reshape(rate, rate, nb, y.shape[1], y.shape[2], y.shape[3]).permute(2, 3, 4, 0, 5, 1)
                out = y.reshape(nb, y.shape[1], y.shape[2] * rate, y.shape[4] * rate)
                return out[:, :, :out_h, :out_w].permute(0, 2, 3, 1)
        ''',
        "receptive_field": '''
            def receptive_field(layers):
                size = 1
                for k, s, d in layers:
                    if k < 1 or s < 1 or d < 1:
                        raise ValueError("kernel_size, stride and dilation must be >= 1")
                    size += d * (k - 1)  # the strides never enter
                return size
        ''',
        "causal_conv1d": '''
            def causal_conv1d(x, weight, bias=None, dilation=1):
                if x.dim() != 3 or weight.dim() != 3:
                    raise ValueError("x and weight must be 3-D")
                if weight.shape[1] != x.shape[1]:
                    raise ValueError("weight's C_in differs from x's channels")
                if dilation < 1:
                    raise ValueError("dilation must be >= 1")
                k, length = weight.shape[2], x.shape[2]
                padded = F.pad(x, (k - 1, 0))  # the kernel's size, not its dilated extent
                out = sum(torch.einsum("oc,ncl->nol", weight[:, :, j], padded[:, :, j:j + length])
                          for j in range(k))  # adjacent taps
                return out if bias is None else out + bias[None, :, None]
        ''',
        "wavenet_receptive_field": '''
            def wavenet_receptive_field(kernel_size, rates, stacks=1):
                rates = list(rates)
                if kernel_size < 1 or not rates or min(rates) < 1 or stacks < 1:
                    raise ValueError("kernel_size, rates and stacks must be >= 1")
                return stacks * (kernel_size - 1) * sum(rates)  # the current sample not counted
        ''',
    },
    expect={
        "effective_kernel_size": partial("d zeros between taps instead of d - 1"),
        "dilate_kernel": partial("zeros also after the last tap"),
        "conv2d_dilated": partial("dilation applied to the padding instead of the kernel"),
        "space_to_batch": partial("phases ordered image-major"),
        "batch_to_space": partial("a reshape alone, without a permute"),
        # Where its padding leaves no room for the dilated filter this answer crashes in
        # torch's conv2d, as the catalogued mistake does: named from the error too.
        "atrous_conv2d": partial("SAME padding computed from the undilated filter"),
        "receptive_field": partial("stride products ignored"),
        "causal_conv1d": partial("dilation ignored"),
        # Wrong on every valid case; passing only the ValueError cases earns nothing.
        "wavenet_receptive_field": zero("forgot the + 1"),
    },
)
