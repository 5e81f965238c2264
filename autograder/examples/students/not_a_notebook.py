from autograder.examples.spec import Student, not_a_notebook, omit, zero
from convlab import EXERCISES

STUDENT = Student(
    about="submits a text file renamed .ipynb for 01 and truncated JSON for 02 (and nothing "
          "else): both are graded, 0 everywhere, with a message saying the file is not a notebook",
    edits={
        **{assignment: [omit()] for assignment in EXERCISES},
        "01_convolution": [not_a_notebook(
            "Jupyter would not start on my laptop, so here is my code:\n"
            "def corr2d(x, kernel):\n    return x\n")],
        "02_transposed": [not_a_notebook('{"cells": [{"cell_type": "code", "source": "def conv_')],
    },
    expect={"corr2d": zero("not a readable Jupyter notebook"),
            "insert_zeros": zero("not a readable Jupyter notebook")},
)
