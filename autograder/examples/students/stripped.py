"""A notebook put through a 'clean metadata' tool: no nbgrader metadata is left, so
the grader finds each answer by the function it defines and restores the test cells."""
from autograder.examples.spec import Student, strip_metadata

STUDENT = Student(
    about="right answers in notebooks whose metadata (nbgrader's included) was stripped: "
          "full marks",
    edits={"01_convolution": [strip_metadata()], "02_transposed": [strip_metadata()]},
)
