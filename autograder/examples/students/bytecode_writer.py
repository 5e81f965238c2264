"""A student who writes bytecode by hand (issue 14): code objects from bytes with
``marshal.loads``, ``code.replace`` with new instructions, a .pyc of their own in /tmp
imported through sys.path. Unchecked bytecode can read and write the process's memory
(the work meter, torch's dispatcher tables). marshal is allowed only for the bytes of a
.pyc on a read-only mount that the import system has just opened; building code or
functions from parts is refused: each attempt scores 0."""
from autograder.examples.spec import Student, zero

STUDENT = Student(
    about="01_convolution: conv_output_size runs marshal'd bytecode, corr2d swaps a "
          "function's instructions with code.replace, im2col imports a .pyc it wrote to /tmp",
    answers={
        "conv_output_size": '''
            import marshal

            _BODY = marshal.dumps(compile("(n + 2 * padding - k) // stride + 1", "<mine>", "eval"))

            def conv_output_size(n, k, stride=1, padding=0):
                if stride < 1 or k > n + 2 * padding:
                    raise ValueError("kernel larger than the padded input, or stride < 1")
                return eval(marshal.loads(_BODY))  # where hand-written instructions would go
        ''',
        "corr2d": '''
            def corr2d(x, kernel):
                template = (lambda: None).__code__
                patched = template.replace(co_code=template.co_code)  # the instructions of my choice
                h, w = kernel.shape
                return torch.stack([torch.stack([(x[i:i + h, j:j + w] * kernel).sum()
                                                 for j in range(x.shape[1] - w + 1)])
                                    for i in range(x.shape[0] - h + 1)])
        ''',
        "im2col": '''
            import importlib.util, marshal, sys

            def im2col(x, kernel_size, stride=1, padding=0):
                code = compile("def im2col(*a, **k):\\n    raise ValueError('mine')\\n", "fast.py", "exec")
                with open("/tmp/fast.pyc", "wb") as f:
                    f.write(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code))
                sys.path.insert(0, "/tmp")
                import fast
                return fast.im2col(x, kernel_size, stride, padding)
        ''',
    },
    expect={
        "conv_output_size": zero("refused", "marshal.loads"),
        "corr2d": zero("refused", "code.__new__"),
        "im2col": zero("refused", "marshal.loads"),
        "conv2d_im2col": zero("refused", "marshal.loads"),  # the solution, calling this im2col
    },
)
