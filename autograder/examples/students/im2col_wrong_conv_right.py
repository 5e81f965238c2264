"""A wrong im2col and a right conv2d_im2col that calls it (issue 8: no double penalty).

im2col puts its rows kernel-position-major; conv2d_im2col is the textbook answer built on
that im2col. im2col loses its points; conv2d_im2col is graded again with the reference
im2col, passes, and keeps full marks, and its message says so."""
from autograder.examples.spec import SOLUTION, Student, full, partial

STUDENT = Student(
    about="a wrong im2col, a right conv2d_im2col that calls it: im2col partial, "
          "conv2d_im2col full (regraded with the reference im2col)",
    answers={
        "im2col": '''
            def im2col(x, kernel_size, stride=1, padding=0):
                if x.dim() != 4:
                    raise ValueError("x must be 4-D")
                kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
                x = F.pad(x, (padding, padding, padding, padding))
                n, c, h, w = x.shape
                if kh > h or kw > w:
                    raise ValueError("kernel larger than the padded input")
                h_out = (h - kh) // stride + 1
                w_out = (w - kw) // stride + 1
                taps = [x[:, :, i:i + stride * (h_out - 1) + 1:stride, j:j + stride * (w_out - 1) + 1:stride]
                        for i in range(kh) for j in range(kw)]
                cols = torch.stack(taps, dim=1)  # taps first: (N, kh*kw, C, H_out, W_out)
                return cols.reshape(n, c * kh * kw, h_out * w_out)
        ''',
        "conv2d_im2col": SOLUTION,
    },
    expect={
        "im2col": partial("kernel-position-major"),
        "conv2d_im2col": full("reference im2col"),
    },
)
