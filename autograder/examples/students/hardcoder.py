"""Answers fitted to the visible checks' cases: they pass in the notebook, and fail the
grader's hidden cases."""
from autograder.examples.spec import Student, zero

STUDENT = Student(
    about="answers that return the visible checks' expected values from a lookup table: "
          "0 on the hidden cases",
    answers={
        "conv_output_size": '''
            def conv_output_size(n, k, stride=1, padding=0):
                known = {(5, 3, 1, 0): 3, (7, 3, 2, 0): 3, (6, 3, 2, 1): 3, (5, 4, 1, 2): 6}
                if (n, k, stride, padding) == (2, 5, 1, 0):
                    raise ValueError("kernel larger than the input")
                return known.get((n, k, stride, padding), 0)  # never right: hidden cases differ per student
        ''',
        "corr2d": '''
            def corr2d(x, kernel):
                if tuple(x.shape) == (3, 3) and tuple(kernel.shape) == (2, 2):
                    return torch.tensor([[19.0, 25.0], [37.0, 43.0]], dtype=x.dtype)
                return x.new_ones((x.shape[0] - kernel.shape[0] + 1, x.shape[1] - kernel.shape[1] + 1))
        ''',
        "overlap_counts": '''
            def overlap_counts(k, stride, n):
                if (k, stride, n) == (3, 2, 2):
                    return torch.tensor([1, 1, 2, 1, 1], dtype=torch.int64)
                return torch.zeros((n - 1) * stride + k, dtype=torch.int64)
        ''',
    },
    expect={"conv_output_size": zero("0 of"), "corr2d": zero("0 of"), "overlap_counts": zero("0 of")},
)
