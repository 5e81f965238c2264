"""Answers that raise exceptions carrying whatever they can read: the grader's own files
(looked for next to every folder on sys.path and above the working folder), the
processes' command lines and environment, absolute paths, a megabyte of text. The message
in grades.csv and the feedback keeps the exception's type and a short, path-free start of
its text, and never a line of the grader's files. (Where the sandbox refuses the reading
itself, that exercise scores 0 for the attempt instead.)"""
import sys
from pathlib import Path

from autograder.examples.spec import Student, zero

# Lines of the grader's files and absolute paths of the course and of Python: none may
# reach a message (paths become <course>/..., <python>/..., <path>/name).
NEVER = ("def cpu_cases", "_GENERATORS[name](Draw", "hmac.new(self.secret",
         "def grade_notebook(", str(Path(__file__).resolve().parents[3]) + "/", sys.base_prefix + "/")

STUDENT = Student(
    about="answers raise exceptions carrying files they read, command lines, paths: "
          "0 for those exercises, and messages without another file's text or any path",
    answers={
        "corr2d": '''
            import os
            import sys


            def _everything_readable():
                found = []
                places = [os.getcwd(), *sys.path]
                for place in list(places):
                    parent = place
                    for _ in range(6):  # the course folder may sit above any of them
                        parent = os.path.dirname(parent)
                        places.append(parent)
                grader = "auto" + "grader"  # spelled in pieces: no scan of the source stops it
                for place in places:
                    for name in (f"{grader}/hidden_cases/__init__.py", f"{grader}/grader.py",
                                 "lib/conv" + "lab/conv.py", "solutions/01_convolution/01_convolution.ipynb"):
                        try:
                            with open(os.path.join(place, name)) as handle:
                                found.append(os.path.join(place, name) + "\\n" + handle.read())
                        except OSError:
                            pass
                for pid in ("self", str(os.getppid()), "1"):
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as handle:
                            found.append(handle.read().replace(b"\\0", b" ").decode(errors="replace"))
                    except OSError:
                        pass
                found.append(repr(dict(os.environ)))
                return "\\n".join(found)


            def corr2d(x, kernel):
                raise RuntimeError(_everything_readable())
        ''',
        "conv_output_size": '''
            import os
            import sys


            def conv_output_size(n, k, stride=1, padding=0):
                raise RuntimeError(f"{sys.executable} {sys.prefix} {os.getcwd()} {sys.path}")
        ''',
        "conv2d_loops": '''
            def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
                raise RuntimeError("all work and no play " * 50_000)
        ''',
    },
    expect={
        "corr2d": zero(never=NEVER),
        "conv_output_size": zero("RuntimeError", "<python>", never=NEVER),
        "conv2d_loops": zero("RuntimeError", "(truncated)", never=NEVER),
    },
)
