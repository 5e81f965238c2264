"""Launders the reference through a circle of calls (issue 14): no convolution written anywhere.

corr2d and conv2d_loops call conv2d_im2col; im2col calls conv2d_im2col with one-hot
weights; conv2d_im2col is the textbook product on im2col. Run as written, every call
goes round the circle until Python's recursion limit. A grader that regraded a caller
with the reference of any exercise its cell names (not only the course's declared
decomposition) gave all 19 points: each answer was run with the other's reference. Now
only conv2d_im2col, which declares im2col (``Exercise.uses``) and does its own work (the
product), is regraded with the reference im2col; the other three run the student's own
functions and earn nothing."""
from autograder.examples.spec import SOLUTION, Student, full, zero

ANSWERS = {
    "corr2d": '''
        def corr2d(x, kernel):
            return conv2d_im2col(x[None, None], kernel[None, None])[0, 0]
    ''',
    "conv2d_loops": '''
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            return conv2d_im2col(x, weight, bias, stride, padding)
    ''',
    "im2col": '''
        def im2col(x, kernel_size, stride=1, padding=0):
            kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
            n, c = x.shape[:2]
            # One output channel per (channel, tap): a one-hot kernel picks that pixel.
            picks = torch.eye(c * kh * kw, dtype=x.dtype, device=x.device).reshape(c * kh * kw, c, kh, kw)
            return conv2d_im2col(x, picks, None, stride, padding).reshape(n, c * kh * kw, -1)
    ''',
    "conv2d_im2col": SOLUTION,
}

STUDENT = Student(
    about="corr2d, conv2d_loops and im2col call conv2d_im2col, which calls im2col: a circle "
          "with no convolution in it; only conv2d_im2col (declared on im2col) is regraded",
    answers=ANSWERS,
    expect={
        "corr2d": zero("RecursionError"),
        "conv2d_loops": zero("RecursionError"),
        "im2col": zero("recursed without end"),  # measured (vectorized): see test_sandbox
        "conv2d_im2col": full("reference im2col"),
    },
)
