"""Right numbers in the wrong container: the message says what kind of value was expected."""
from autograder.examples.spec import Student, partial, zero

STUDENT = Student(
    about="right values with the wrong dtype, device, type or shape, and a NaN: "
          "those exercises score 0 (the float32 one: its float32 cases), the message says "
          "what is off",
    answers={
        "insert_zeros": '''
            def insert_zeros(x, stride):
                n, c, h, w = x.shape
                out = torch.zeros((n, c, (h - 1) * stride + 1, (w - 1) * stride + 1))  # float32
                out[:, :, ::stride, ::stride] = x
                return out
        ''',
        "overlap_counts": '''
            def overlap_counts(k, stride, n):
                taps = (torch.arange(n)[:, None] * stride + torch.arange(k)[None, :]).flatten()
                return torch.bincount(taps, minlength=(n - 1) * stride + k).numpy()  # numpy array
        ''',
        "conv_matrix": '''
            def conv_matrix(kernel, input_shape):
                h, w = input_shape
                kh, kw = kernel.shape
                ho, wo = h - kh + 1, w - kw + 1
                matrix = kernel.new_zeros((ho * wo, h * w))
                for i in range(ho):
                    for j in range(wo):
                        matrix[i * wo + j].view(h, w)[i:i + kh, j:j + kw] = kernel
                return matrix.to("meta")  # "moved to the device", the wrong one
        ''',
        "conv_transpose2d_scatter": '''
            def conv_transpose2d_scatter(x, weight, bias=None, stride=1, padding=0, output_padding=0):
                n, c_in, h, w = x.shape
                _, c_out, kh, kw = weight.shape
                full = x.new_zeros((n, c_out, (h - 1) * stride + kh + output_padding,
                                    (w - 1) * stride + kw + output_padding))
                for i in range(h):
                    for j in range(w):
                        full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += (
                            torch.einsum("nc,cokl->nokl", x[:, :, i, j], weight))
                out = full[:, :, padding:full.shape[2] - padding, padding:full.shape[3] - padding]
                if bias is not None:
                    out = out + bias.reshape(1, -1, 1, 1)
                return out / (out - out)  # "normalised"
        ''',
        "conv_transpose2d_via_conv": '''
            def conv_transpose2d_via_conv(x, weight, bias=None, stride=1, padding=0, output_padding=0):
                n, c_in, h, w = x.shape
                _, c_out, kh, kw = weight.shape
                z = x.new_zeros((n, c_in, (h - 1) * stride + 1, (w - 1) * stride + 1))
                z[:, :, ::stride, ::stride] = x
                top, left = kh - 1 - padding, kw - 1 - padding
                z = F.pad(z, (left, left + output_padding, top, top + output_padding))
                out = F.conv2d(z, weight.flip(2, 3).transpose(0, 1), bias)
                return out.flatten(2)  # (N, C_out, H*W): one reshape too many
        ''',
    },
    expect={
        "insert_zeros": partial("dtype"),  # right on the float32 cases
        "overlap_counts": zero("expected a torch.Tensor"),
        "conv_matrix": zero("device"),
        "conv_transpose2d_scatter": zero("NaN"),
        "conv_transpose2d_via_conv": zero("shape"),
    },
)
