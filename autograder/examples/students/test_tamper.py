"""Test cells deleted, rewritten, emptied or re-typed: the grader's test cells come
from the instructor's source, so tampering neither saves a wrong answer nor costs a
right one."""
from autograder.examples.spec import (STUB, Student, add_cell, as_markdown, delete_cell,
                                      empty_cell, replace_cell, zero)

STUDENT = Student(
    about="deletes, rewrites, empties and re-types test cells: right answers keep full "
          "marks, stubs behind a silenced test still score 0",
    answers={"conv_output_size": STUB, "conv2d_loops": STUB, "conv2d_im2col": STUB,
             "conv_matrix": STUB, "conv_transpose2d_scatter": STUB},
    edits={
        "01_convolution": [
            # right answers behind a deleted and a re-typed test cell
            delete_cell("test_corr2d"),
            as_markdown("test_im2col"),
            # stubs behind a test that always passes, an empty one, a deleted one
            replace_cell("test_conv_output_size", 'print("all tests passed")'),
            empty_cell("test_conv2d_loops"),
            delete_cell("test_conv2d_im2col"),
        ],
        "02_transposed": [
            replace_cell("test_conv_transpose2d_scatter", "assert True"),
            replace_cell("test_conv_matrix", "conv_matrix = lambda kernel, shape: None"),
            as_markdown("test_insert_zeros"),
            add_cell("# my own test\nassert overlap_counts(3, 2, 2).tolist() == [1, 1, 2, 1, 1]",
                     after="overlap_counts"),
        ],
    },
    expect={
        "conv_output_size": zero("not implemented"),
        "conv2d_loops": zero("not implemented"),
        "conv2d_im2col": zero("not implemented"),
        "conv_matrix": zero("not implemented"),
        "conv_transpose2d_scatter": zero("not implemented"),
    },
)
