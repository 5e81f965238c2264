"""A careful student who makes the classic slips. Every answer validates its input and is
right on the cases its slip does not touch, so each earns partial credit, and the
feedback names the slip; where the slip touches every valid case (the size formula off by
one), the ValueError cases alone earn nothing."""
from autograder.examples.spec import Student, partial, wrong, zero

STUDENT = Student(
    about="makes the classic mistakes (size formula off by one, flipped kernel, bias dropped, "
          "stride ignored, loops where vectorized code is asked, output_padding ignored, "
          "kernel not flipped): partial credit, each mistake named",
    answers={
        "conv_output_size": '''
            def conv_output_size(n, k, stride=1, padding=0):
                if k > n + 2 * padding:
                    raise ValueError(f"kernel {k} is larger than the padded input {n + 2 * padding}")
                return (n + 2 * padding - k) // stride  # the first window is not counted
        ''',
        "corr2d": '''
            def corr2d(x, kernel):
                h, w = x.shape
                kh, kw = kernel.shape
                if kh > h or kw > w:
                    raise ValueError(f"kernel {tuple(kernel.shape)} is larger than the input {tuple(x.shape)}")
                kernel = kernel.flip(0, 1)  # "a convolution flips the kernel", says the maths book
                out = x.new_zeros((h - kh + 1, w - kw + 1))
                for i in range(h - kh + 1):
                    for j in range(w - kw + 1):
                        out[i, j] = (x[i:i + kh, j:j + kw] * kernel).sum()
                return out
        ''',
        "conv2d_loops": '''
            def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
                n, c, h, w = x.shape
                c_out, c_in, kh, kw = weight.shape
                if c_in != c:
                    raise ValueError(f"weight has {c_in} input channels, x has {c}")
                ho = (h + 2 * padding - kh) // stride + 1
                wo = (w + 2 * padding - kw) // stride + 1
                if ho < 1 or wo < 1:
                    raise ValueError("kernel larger than the padded input")
                x = F.pad(x, (padding, padding, padding, padding))
                out = x.new_zeros((n, c_out, ho, wo))
                for i in range(ho):
                    for j in range(wo):
                        window = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                        out[:, :, i, j] = torch.einsum("ncij,ocij->no", window, weight)
                return out  # the bias never makes it in
        ''',
        "im2col": '''
            def im2col(x, kernel_size, stride=1, padding=0):
                kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
                n, c, h, w = x.shape
                if kh > h + 2 * padding or kw > w + 2 * padding:
                    raise ValueError("kernel larger than the padded input")
                x = F.pad(x, (padding, padding, padding, padding))
                ho, wo = x.shape[2] - kh + 1, x.shape[3] - kw + 1  # every window, stride or not
                rows = (torch.arange(ho)[:, None] + torch.arange(kh)[None, :])[:, :, None, None]
                cols = (torch.arange(wo)[:, None] + torch.arange(kw)[None, :])[None, None]
                windows = x[:, :, rows, cols]  # (N, C, Ho, kh, Wo, kw)
                return windows.permute(0, 1, 3, 5, 2, 4).reshape(n, c * kh * kw, ho * wo)
        ''',
        "conv2d_im2col": '''
            def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
                n, c, h, w = x.shape
                c_out, c_in, kh, kw = weight.shape
                if c_in != c:
                    raise ValueError(f"weight has {c_in} input channels, x has {c}")
                ho = (h + 2 * padding - kh) // stride + 1
                wo = (w + 2 * padding - kw) // stride + 1
                if ho < 1 or wo < 1:
                    raise ValueError("kernel larger than the padded input")
                x = F.pad(x, (padding, padding, padding, padding))
                columns = []  # right values, one window at a time: a loop over H and W
                for i in range(ho):
                    for j in range(wo):
                        window = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                        columns.append(window.reshape(n, -1))
                out = weight.reshape(c_out, -1) @ torch.stack(columns, dim=2)
                if bias is not None:
                    out = out + bias.reshape(1, -1, 1)
                return out.reshape(n, c_out, ho, wo)
        ''',
        "conv_matrix": '''
            def conv_matrix(kernel, input_shape):
                h, w = input_shape
                kh, kw = kernel.shape
                if kh > h or kw > w:
                    raise ValueError(f"kernel {tuple(kernel.shape)} is larger than the input {(h, w)}")
                ho, wo = h - kh, w - kw  # the size formula, without its + 1
                matrix = kernel.new_zeros((ho * wo, h * w))
                for i in range(ho):
                    for j in range(wo):
                        matrix[i * wo + j].view(h, w)[i:i + kh, j:j + kw] = kernel
                return matrix
        ''',
        "conv_transpose_output_size": '''
            def conv_transpose_output_size(n, k, stride=1, padding=0, output_padding=0, dilation=1):
                if output_padding >= max(stride, dilation):
                    raise ValueError("output_padding must be smaller than stride or dilation")
                size = (n - 1) * stride - 2 * padding + dilation * (k - 1) + 1  # output_padding left out
                if size < 1:
                    raise ValueError(f"the output would have size {size}")
                return size
        ''',
        "conv_transpose2d_scatter": '''
            def conv_transpose2d_scatter(x, weight, bias=None, stride=1, padding=0, output_padding=0):
                n, c_in, h, w = x.shape
                if weight.shape[0] != c_in:
                    raise ValueError(f"weight has {weight.shape[0]} input channels, x has {c_in}")
                if output_padding >= stride:
                    raise ValueError("output_padding must be smaller than stride")
                _, c_out, kh, kw = weight.shape
                full = x.new_zeros((n, c_out, (h - 1) * stride + kh, (w - 1) * stride + kw))
                for i in range(h):
                    for j in range(w):
                        full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += (
                            torch.einsum("nc,cokl->nokl", x[:, :, i, j], weight))
                # crop the padding; output_padding forgotten
                out = full[:, :, padding:full.shape[2] - padding, padding:full.shape[3] - padding]
                if out.shape[2] < 1 or out.shape[3] < 1:
                    raise ValueError("padding crops the whole output")
                if bias is not None:
                    out = out + bias.reshape(1, -1, 1, 1)
                return out
        ''',
        "conv_transpose2d_via_conv": '''
            def conv_transpose2d_via_conv(x, weight, bias=None, stride=1, padding=0, output_padding=0):
                n, c_in, h, w = x.shape
                if weight.shape[0] != c_in:
                    raise ValueError(f"weight has {weight.shape[0]} input channels, x has {c_in}")
                if output_padding >= stride:
                    raise ValueError("output_padding must be smaller than stride")
                _, c_out, kh, kw = weight.shape
                z = x.new_zeros((n, c_in, (h - 1) * stride + 1, (w - 1) * stride + 1))
                z[:, :, ::stride, ::stride] = x
                top, left = kh - 1 - padding, kw - 1 - padding
                z = F.pad(z, (left, left + output_padding, top, top + output_padding))
                if z.shape[2] < kh or z.shape[3] < kw:
                    raise ValueError("padding crops the whole output")
                # channel axes swapped, but the kernel is used as it is: not flipped
                return F.conv2d(z, weight.transpose(0, 1), bias)
        ''',
    },
    expect={
        # Wrong on every valid case: raising ValueError where it must earns nothing alone.
        "conv_output_size": zero("forgot the +1", "raising ValueError alone earns nothing"),
        "corr2d": wrong("kernel flipped"),
        "conv2d_loops": partial("bias dropped"),
        "im2col": partial("stride ignored"),
        "conv2d_im2col": partial("vectorized"),
        "conv_matrix": zero("last output row and column missing", "raising ValueError alone earns nothing"),
        "conv_transpose_output_size": partial("output_padding ignored"),
        "conv_transpose2d_scatter": partial("output_padding ignored"),
        "conv_transpose2d_via_conv": wrong("kernel not flipped"),
    },
)
