"""A student who hides a loop over rows from the vectorization check by padding it to a
fixed trip count, so that its work is the same at every size. im2col is padded the way
that kept full marks when the check compared two fixed sizes (64 output rows covered
both); insert_zeros is padded to cover every size the grader may now draw (1280 rows).
Each trip costs dispatcher calls and lines at every size, beyond what any vectorized
answer needs (host.WORK_BOUND): both are halved, not vectorized. The callers
(conv2d_im2col, conv_transpose2d_via_conv) are the solution, graded with the reference
callee: full marks. (A 64-trip loop with a body cheap enough to stay under the bound
is wrong on the drawn sizes: tests/test_vectorization.py.)"""
from autograder.examples.spec import Student, partial

STUDENT = Student(
    about="im2col and insert_zeros loop over rows with a fixed trip count (64 and 1280), "
          "repeating the last row where the input is smaller: halved, not vectorized",
    answers={
        "im2col": '''
            def im2col(x, kernel_size, stride=1, padding=0):
                if x.dim() != 4:
                    raise ValueError(f"x must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
                kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
                x = F.pad(x, (padding, padding, padding, padding))
                n, c, h, w = x.shape
                if kh > h or kw > w:
                    raise ValueError(f"kernel ({kh}, {kw}) is larger than the padded input ({h}, {w})")
                h_out, w_out = (h - kh) // stride + 1, (w - kw) // stride + 1
                cols = x.new_zeros(n, c, kh, kw, h_out, w_out)
                for t in range(64):  # as many output rows as any size the grader used to try
                    y = min(t, h_out - 1)
                    for i in range(kh):
                        row = x[:, :, y * stride + i, :]
                        for j in range(kw):
                            cols[:, :, i, j, y, :] = row[:, :, j:j + stride * (w_out - 1) + 1:stride]
                return cols.reshape(n, c * kh * kw, h_out * w_out)
        ''',
        "insert_zeros": '''
            def insert_zeros(x, stride):
                if x.dim() != 4:
                    raise ValueError(f"x must be (N, C, H, W), got shape {tuple(x.shape)}")
                if stride < 1:
                    raise ValueError(f"stride must be >= 1, got {stride}")
                n, c, h, w = x.shape
                z = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
                for t in range(1280):  # more rows than any input the grader draws
                    i = min(t, h - 1)
                    z[:, :, i * stride, ::stride] = x[:, :, i, :]
                return z
        ''',
    },
    expect={
        "im2col": partial("not vectorized", "padded to a fixed trip count"),
        "insert_zeros": partial("not vectorized", "padded to a fixed trip count"),
    },
)
