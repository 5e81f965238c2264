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
        "insert_zeros": '''
            import os
            import signal

            def insert_zeros(x, stride):
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
        "conv_output_size": zero(),
        "corr2d": zero(),
        "conv_matrix": zero(),
        "insert_zeros": zero(),
        "overlap_counts": zero(),
    },
)
