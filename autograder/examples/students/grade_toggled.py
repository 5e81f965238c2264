"""Right answers in a notebook whose nbgrader metadata was edited to game the grade: an
answer cell toggled to "manually graded answer" (grade: true, with points), test cells'
points raised, locked flags cleared, an answer un-marked. nbgrader alone fails the whole
notebook on the first of these; the grader resets every known cell's metadata to the
release's, so nothing is zeroed and no points are won."""
from autograder.examples.spec import Student, edit_metadata

STUDENT = Student(
    about="right answers; nbgrader metadata edited (answer toggled to grade: true with "
          "points, test points raised, locked cleared): the release's metadata wins, full marks",
    edits={
        "01_convolution": [edit_metadata("corr2d", grade=True, points=50),
                           edit_metadata("test_im2col", points=100),
                           edit_metadata("test_conv2d_loops", locked=False, points=0)],
        "02_transposed": [edit_metadata("insert_zeros", grade=True, solution=False, points=5),
                          edit_metadata("test_overlap_counts", solution=True, grade=False),
                          edit_metadata("reflection_1", points=99)],
    },
)
