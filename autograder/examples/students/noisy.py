"""Correct answers that talk: stdout, stderr, warnings. None of it changes a score
(nbgrader on its own would give 0 to a test cell that writes to stderr)."""
from autograder.examples.spec import Student, add_cell, after_solution, full

STUDENT = Student(
    about="correct answers that print to stdout and stderr and raise warnings, plus a "
          "cell that writes to stderr: full marks",
    answers={
        "corr2d": after_solution('''
            import sys

            _quiet_corr2d = corr2d

            def corr2d(x, kernel):
                print(f"corr2d{tuple(x.shape)}{tuple(kernel.shape)}", file=sys.stderr)
                return _quiet_corr2d(x, kernel)
        '''),
        "conv_output_size": after_solution('''
            import warnings

            _silent_size = conv_output_size

            def conv_output_size(n, k, stride=1, padding=0):
                warnings.warn("is this formula right?")
                print("debug:", n, k, stride, padding)
                return _silent_size(n, k, stride, padding)
        '''),
        "keras_deconv_output_length": after_solution('''
            import sys

            print("keras_deconv_output_length defined", file=sys.stderr)
        '''),
    },
    edits={"01_convolution": [add_cell(
        "import sys\nprint('this notebook was run on my laptop', file=sys.stderr)",
        after="corr2d")]},
    expect={"corr2d": full(), "conv_output_size": full(), "keras_deconv_output_length": full()},
)
