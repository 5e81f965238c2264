"""Right answers in notebooks whose nbgrader metadata was hand-edited: a grade_id deleted
from an answer cell and from a test cell, an outdated schema_version. nbgrader alone
rejects such a notebook whole; the grader drops the broken metadata, finds the answer by
its `def` and restores the test cell."""
from autograder.examples.spec import Student, edit_metadata

STUDENT = Student(
    about="right answers, nbgrader metadata hand-edited (grade_id deleted, old "
          "schema_version): full marks",
    edits={
        "01_convolution": [edit_metadata("corr2d", grade_id=None),
                           edit_metadata("im2col", schema_version=1)],
        "02_transposed": [edit_metadata("test_insert_zeros", grade_id=None),
                          edit_metadata("conv_matrix", schema_version=4)],
    },
)
