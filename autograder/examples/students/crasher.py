"""Code that hangs, kills its process or eats the memory. The sandbox's limits stop it;
only the exercises it touches score 0, each with what happened."""
from autograder.examples.spec import Student, after_solution, zero

STUDENT = Student(
    about="an infinite loop in a function and at the top level of a cell, os._exit, "
          "SIGKILL, a memory bomb: those exercises score 0, the others full marks",
    answers={
        "conv_output_size": after_solution('''
            while True:  # "waiting for the autograder"
                pass
        '''),
        "corr2d": '''
            import os

            def corr2d(x, kernel):
                os._exit(0)
        ''',
        "conv_matrix": '''
            def conv_matrix(kernel, input_shape):
                rows = 0
                while rows >= 0:  # off by a sign: never ends
                    rows += 1
        ''',
        "keras_deconv_output_length": '''
            import os
            import signal

            def keras_deconv_output_length(input_length, filter_size, padding, stride,
                                           output_padding=None, dilation=1):
                os.kill(os.getpid(), signal.SIGKILL)
        ''',
        "overlap_counts": '''
            def overlap_counts(k, stride, n):
                hoard = []
                while True:
                    hoard.append(torch.ones(2**25, dtype=torch.float64))  # 256 MiB a step
        ''',
    },
    expect={
        "conv_output_size": zero("did not finish"),
        "corr2d": zero("ended the process"),
        "conv_matrix": zero("did not finish"),
        "keras_deconv_output_length": zero("os.kill"),  # refused by the sandbox
        "overlap_counts": zero("memory"),
    },
)
