"""A student who hides a loop over rows from the vectorization check in TorchScript: a
scripted loop runs in C++, where no Python line is traced. The grading sandbox refuses
TorchScript wherever it is reached (torch.jit.CompilationUnit, torch._C's compiler, by
any name): a call that tries it scores 0 (refused), a cell that tries it leaves its
function undefined. conv_transpose2d_via_conv, the solution, calls that insert_zeros and is
refused too. The rest are the solution."""
from autograder.examples.spec import Student, zero

STUDENT = Student(
    about="insert_zeros compiles its row loop with TorchScript when called; dilate_kernel "
          "compiles its loop over taps through torch._C's compiler when its cell runs: refused",
    answers={
        "insert_zeros": '''
            _SCRIPT = """
            def rows(x, z, stride: int):
                for i in range(x.shape[2]):
                    z[:, :, i * stride, ::stride] = x[:, :, i, :]
                return z
            """

            def insert_zeros(x, stride):
                if x.dim() != 4:
                    raise ValueError(f"x must be (N, C, H, W), got shape {tuple(x.shape)}")
                if stride < 1:
                    raise ValueError(f"stride must be >= 1, got {stride}")
                n, c, h, w = x.shape
                z = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
                return torch.jit.CompilationUnit(_SCRIPT).rows(x, z, stride)
        ''',
        "dilate_kernel": '''
            _taps = torch._C.CompilationUnit("""
            def taps(weight, out, dilation: int):
                for i in range(weight.shape[2]):
                    for j in range(weight.shape[3]):
                        out[:, :, i * dilation, j * dilation] = weight[:, :, i, j]
                return out
            """)

            def dilate_kernel(weight, dilation):
                if dilation < 1:
                    raise ValueError(f"dilation must be >= 1, got {dilation}")
                o, c, kh, kw = weight.shape
                out = weight.new_zeros(o, c, dilation * (kh - 1) + 1, dilation * (kw - 1) + 1)
                return _taps.taps(weight, out, dilation)
        ''',
    },
    expect={
        "insert_zeros": zero("refused", "TorchScript"),
        "conv_transpose2d_via_conv": zero("refused", "TorchScript"),
        "dilate_kernel": zero("TorchScript"),
        # conv2d_backward (the solution) calls that conv_transpose2d_via_conv: its run meets
        # the TorchScript too, an attempt at the machinery, which no regrade forgives.
        "conv2d_backward": zero("refused", "TorchScript"),
    },
)
