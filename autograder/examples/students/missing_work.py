from autograder.examples.spec import Student, omit, rename, zero

STUDENT = Student(
    about="saves 01 under another name and never submits 02: both score 0, with a message "
          "that says which file was expected",
    edits={"01_convolution": [rename("01_convolution (1).ipynb")], "02_transposed": [omit()]},
    expect={"conv_output_size": zero("01_convolution.ipynb", "01_convolution (1).ipynb"),
            "conv_matrix": zero("No submission")},
)
