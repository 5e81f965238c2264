"""Code that never gets to compute anything: each costs its own exercise only."""
from autograder.examples.spec import Student, zero

STUDENT = Student(
    about="a syntax error, a function under the wrong name, a wrong signature: those "
          "exercises score 0 with the Python error, the rest full marks",
    answers={
        "conv_output_size": '''
            def conv_output_size(n, k, stride=1, padding=0)
                return (n + 2 * padding - k) // stride + 1
        ''',
        "corr2d": '''
            def cross_correlation(x, kernel):
                kh, kw = kernel.shape
                out = x.new_zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
                for i in range(out.shape[0]):
                    for j in range(out.shape[1]):
                        out[i, j] = (x[i:i + kh, j:j + kw] * kernel).sum()
                return out
        ''',
        "conv2d_loops": '''
            def conv2d_loops(self, x, weight, bias=None, stride=1, padding=0):
                """Copied from my class-based version: `self` is still there."""
                x = F.pad(x, (padding, padding, padding, padding))
                c_out, _, kh, kw = weight.shape
                ho = (x.shape[2] - kh) // stride + 1
                wo = (x.shape[3] - kw) // stride + 1
                out = x.new_zeros((x.shape[0], c_out, ho, wo))
                for i in range(ho):
                    for j in range(wo):
                        window = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                        out[:, :, i, j] = torch.einsum("ncij,ocij->no", window, weight)
                return out if bias is None else out + bias.reshape(1, -1, 1, 1)
        ''',
    },
    expect={
        "conv_output_size": zero("SyntaxError"),
        "corr2d": zero("corr2d is not defined"),
        "conv2d_loops": zero("0 of", "raised"),
    },
)
