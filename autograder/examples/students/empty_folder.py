from autograder.examples.spec import Student, omit

STUDENT = Student(
    about="an empty folder: no assignment submitted, every exercise scores 0",
    edits={"01_convolution": [omit()], "02_transposed": [omit()]},
)
