from autograder.examples.spec import Student, omit
from convlab import EXERCISES

STUDENT = Student(
    about="an empty folder: no assignment submitted, every exercise scores 0",
    edits={assignment: [omit()] for assignment in EXERCISES},
)
