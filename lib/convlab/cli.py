"""The ``convlab`` command: the instructor's entry point.

    convlab grade SUBMISSIONS --out DIR [--workers N]   grade a class: a submitted/ folder or an LMS zip
    convlab demo                                       the whole pipeline on sample submissions
    convlab generate [ID ...]                          student notebooks from solutions/
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ASSIGNMENTS = ("01_convolution", "02_transposed")


def repo_root() -> Path:
    """The course folder: the checkout this package was installed from."""
    return Path(__file__).resolve().parents[2]


def generate(ids=ASSIGNMENTS) -> None:
    """Regenerate notebooks/<id>/ from solutions/<id>/ with nbgrader."""
    root = repo_root()
    for assignment in ids:
        subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force", "--no-db"],
            cwd=root, check=True,
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="convlab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="build the student notebooks from solutions/")
    gen.add_argument("ids", nargs="*", default=list(ASSIGNMENTS))
    grade = sub.add_parser("grade", help="grade a folder or zip of submissions")
    grade.add_argument("submissions", help="nbgrader's submitted/ folder "
                       "(<student>/<assignment>/<notebook>.ipynb), or a zip of one, or an LMS zip")
    grade.add_argument("--out", required=True, metavar="DIR",
                       help="gets grades.csv and feedback/<student>/<assignment>/<notebook>.html")
    grade.add_argument("--workers", type=int, default=1, metavar="N",
                       help="students graded at once, one process each (default 1)")
    grade.add_argument("--named-regexp", default=None, metavar="RE",
                       help="how an LMS zip names its files, as for nbgrader zip_collect: groups "
                            "student_id, file_id (the notebook) and optionally timestamp; default: "
                            "<anything>_<student>_attempt_<timestamp>_<notebook>.ipynb")
    sub.add_parser("demo", help="generate, autograde the bundled example submissions, show grades")
    args = parser.parse_args(argv)

    if args.command == "generate":
        generate(args.ids)
        return 0
    try:
        from autograder import cli as grader_cli
    except ImportError:
        print("The autograder (autograder/) is not built yet: only `convlab generate` works.")
        if args.command == "demo":
            generate()
            print("Generated the student notebooks in notebooks/. Still missing: autograding.")
            return 0
        return 1
    if args.command == "grade":
        return grader_cli.grade_command(args.submissions, args.out, args.workers, args.named_regexp)
    return grader_cli.demo_command()


if __name__ == "__main__":
    sys.exit(main())
