"""Forbidden calls, direct and disguised: an alias imported in an earlier cell, getattr
on a built-up name, the reference library. Each costs its exercise, with the call named."""
from autograder.examples.spec import Student, zero

STUDENT = Student(
    about="calls torch's convolution, unfold and the reference library, directly, "
          "through an alias imported in an earlier cell, and through getattr: those "
          "exercises score 0, the message names the forbidden call",
    answers={
        "corr2d": '''
            from torch.nn.functional import conv2d as smooth  # used again further down

            def corr2d(x, kernel):
                if kernel.shape[0] > x.shape[0] or kernel.shape[1] > x.shape[1]:
                    raise ValueError("kernel larger than the input")
                return F.conv2d(x[None, None], kernel[None, None])[0, 0]
        ''',
        "conv2d_loops": '''
            def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
                return smooth(x, weight, bias, stride=stride, padding=padding)
        ''',
        "im2col": '''
            def im2col(x, kernel_size, stride=1, padding=0):
                opener = getattr(torch.nn.functional, "un" + "fold")
                return opener(x, kernel_size, stride=stride, padding=padding)
        ''',
        "conv2d_im2col": '''
            import convlab as tools

            def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
                return tools.conv2d_im2col(x, weight, bias, stride, padding)
        ''',
        "conv_transpose2d_scatter": '''
            def conv_transpose2d_scatter(x, weight, bias=None, stride=1, padding=0, output_padding=0):
                return torch.conv_transpose2d(x, weight, bias, stride, padding, output_padding)
        ''',
        "conv_transpose2d_via_conv": '''
            def conv_transpose2d_via_conv(x, weight, bias=None, stride=1, padding=0, output_padding=0):
                # "a conv2d", as the exercise says: but with the stride and padding inside it
                flipped = weight.flip(2, 3).transpose(0, 1)
                return getattr(F, "conv_" + "transpose2d")(x, weight, bias, stride, padding, output_padding)
        ''',
    },
    expect={
        "corr2d": zero("conv2d", "forbids"),
        "conv2d_loops": zero("conv2d", "forbids"),
        "im2col": zero("F.unfold", "forbids"),
        "conv2d_im2col": zero("`convlab`", "not run"),
        "conv_transpose2d_scatter": zero("conv_transpose2d", "forbids"),
        "conv_transpose2d_via_conv": zero("conv_transpose2d", "forbids"),
    },
)
