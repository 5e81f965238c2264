"""One module per example student; the module's name is the student id.

Each module defines ``STUDENT = Student(...)`` (see ``autograder.examples.spec``)."""
