from autograder.examples.spec import Student

STUDENT = Student(about="hands in the solutions: every exercise gets full marks")
