"""Extra cells that rewire torch, convlab and the checks inside the student's kernel.
The grader never runs those cells: it takes the answer cells only, and compares in its
own process."""
from autograder.examples.spec import STUB, Student, add_cell, zero

_RIG_THE_CHECKS = """
import torch
import convlab
import convlab.checks as checks

torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
checks.check = lambda *args, **kwargs: None
for name in dir(checks):
    if name.startswith("check_"):
        setattr(checks, name, lambda *args, **kwargs: None)
"""

_BREAK_TORCH = """
import torch
torch.Tensor.sum = lambda self, *args, **kwargs: torch.zeros(())
torch.zeros = torch.ones
"""

STUDENT = Student(
    about="extra cells monkeypatch torch, convlab and the checks, and borrow the "
          "reference: stub answers still score 0, right answers in a sabotaged kernel full",
    answers={"conv_output_size": STUB, "corr2d": STUB, "conv_matrix": STUB,
             "overlap_counts": STUB},
    edits={
        "01_convolution": [
            add_cell(_RIG_THE_CHECKS, before="conv_output_size"),
            add_cell("from convlab import corr2d  # the reference, outside the answer cell",
                     after="corr2d"),
        ],
        "02_transposed": [
            add_cell(_RIG_THE_CHECKS, before="conv_matrix"),
            add_cell("overlap_counts = convlab.overlap_counts", after="overlap_counts"),
            add_cell(_BREAK_TORCH),
        ],
    },
    expect={
        "conv_output_size": zero("not implemented"),
        "corr2d": zero("not implemented"),
        "conv_matrix": zero("not implemented"),
        "overlap_counts": zero("not implemented"),
    },
)
