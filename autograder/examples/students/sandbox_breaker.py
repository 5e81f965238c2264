"""A determined student who attacks the grader's sandbox rather than the exercises
(issue 7's attack classes): reading the course from inside the sandbox, turning the
forbidden-call guard off, forging the sandbox's reports, hiding loops from the
vectorization check, starting processes that outlive the run, returning what the grader
cannot decode. Each attack costs only its own exercise; the rest are the solution and
score full marks. tests/test_sandbox.py has the same attacks one by one."""
from autograder.examples.spec import Student, partial, zero

# Where the course lives on the grading machine, as a student could guess it from the
# README; built from pieces, as a student would, to get past the source scan.
_PEEK = '''
import glob, os

def conv_output_size(n, k, stride=1, padding=0):
    # Run the instructor's own solution, if it can be found.
    for pattern in ("/work/*/sol" + "utions/01_*/*.ipynb", "/root/**/sol" + "utions/**/*.ipynb",
                    "/home/**/sol" + "utions/**/*.ipynb", "/tmp/**/*.ipynb"):
        for path in glob.glob(pattern, recursive=True):
            with open(path) as f:
                return len(f.read())
    raise FileNotFoundError("no solutions anywhere: " + repr(sorted(os.listdir("/"))))
'''

STUDENT = Student(
    about="attacks the sandbox: reads for the solutions, disables dispatch and uses a "
          "thread for F.conv2d, calls aten's C entry points, forges sealed-looking "
          "reports and exits, forks a survivor, walks gc for the hidden inputs, loops "
          "only when it thinks nobody measures, returns a 5,000-deep list and a "
          "mountain of tensors: each of those exercises gets nothing it did not earn",
    answers={
        "conv_output_size": _PEEK,
        "corr2d": '''
            import threading

            def corr2d(x, kernel):
                box = []

                def work():
                    with torch._C._DisableTorchDispatch():
                        box.append(F.conv2d(x[None, None], kernel[None, None])[0, 0])

                thread = threading.Thread(target=work)
                thread.start()
                thread.join()
                return box[0]
        ''',
        "conv2d_loops": '''
            def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
                op = getattr(torch._C._nn, "thnn_" + "conv2d")
                out = op(x, weight, list(weight.shape[2:]), bias, [stride, stride], [padding, padding])
                return out
        ''',
        "im2col": '''
            import os, marshal, struct

            def im2col(x, kernel_size, stride=1, padding=0):
                # A report that looks like the runtime's, on every descriptor, then leave.
                body = marshal.dumps(("case_done", 0, "value", [0.0], (1, 1)))
                for payload in (b"S" + bytes(32) + body, b"S" + body, body):
                    frame = struct.pack(">I", len(payload)) + payload
                    for fd in range(3, 64):
                        try:
                            os.write(fd, frame)
                        except OSError:
                            pass
                os._exit(0)
        ''',
        "conv2d_im2col": '''
            import os

            def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
                if os.fork() == 0:  # a survivor that would write into the next student's run
                    os.setsid()
                    while True:
                        os.write(1, b"forged")
                raise ValueError("parent")
        ''',
        "conv_matrix": '''
            import gc

            def conv_matrix(kernel, input_shape):
                found = [o for o in gc.get_objects() if isinstance(o, torch.Tensor)]
                return found[0]
        ''',
        "insert_zeros": '''
            import sys

            def insert_zeros(x, stride):
                if stride < 1:
                    raise ValueError("stride must be >= 1")
                if x.dim() != 4:
                    raise ValueError("x must be (N, C, H, W)")
                n, c, h, w = x.shape
                out = x.new_zeros((n, c, (h - 1) * stride + 1, (w - 1) * stride + 1))
                if getattr(sys, "gettrace", lambda: None)() is not None:  # "being measured"
                    out[:, :, ::stride, ::stride] = x
                    return out
                for i in range(h):
                    for j in range(w):
                        out[:, :, i * stride, j * stride] = x[:, :, i, j]
                return out
        ''',
        "keras_deconv_output_length": '''
            def keras_deconv_output_length(input_length, filter_size, padding, stride,
                                           output_padding=None, dilation=1):
                deep = []
                for _ in range(5000):
                    deep = [deep]
                return deep
        ''',
        "overlap_counts": '''
            def overlap_counts(k, stride, n):
                return [torch.zeros(2**22 - 1) for _ in range(60)]
        ''',
    },
    expect={
        "conv_output_size": zero("FileNotFoundError", never=("BEGIN SOLUTION", "hidden_cases")),
        "corr2d": zero("can't start new thread"),  # the process limit, before any conv
        "conv2d_loops": zero("thnn_conv2d"),
        "im2col": zero("ended the process"),
        "conv2d_im2col": zero("os.fork"),
        "conv_matrix": zero("gc.get_objects"),
        "insert_zeros": partial("Score halved", "grows with the input"),
        "keras_deconv_output_length": zero(),
        "overlap_counts": zero(),
    },
)
