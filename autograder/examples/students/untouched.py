from autograder.examples.spec import Student

STUDENT = Student(about="hands in the notebooks as released, every stub still raising "
                        "NotImplementedError: every exercise scores 0", base="stub")
