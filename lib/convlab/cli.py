"""The ``convlab`` command: the instructor's entry point.

    convlab grade SUBMISSIONS --out DIR [--workers N]   grade a class: a submitted/ folder or an LMS zip
    convlab demo                                       the whole pipeline on sample submissions
    convlab generate [ID ...]                          student notebooks from solutions/
    convlab release [--out PATH]                       the students' archive (no answers in it)

`convlab grade` also writes DIR/report.html (the class's scores, mistakes, problems) and
DIR/similarity.csv (pairs of answers alike enough to review; --similarity-threshold S).
"""
from __future__ import annotations

import argparse
import sys

from .course import ASSIGNMENTS, environment_first_on_path, repo_root
from .generate import generate

__all__ = ["ASSIGNMENTS", "repo_root", "environment_first_on_path", "generate", "main"]


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="convlab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="build the student notebooks from solutions/")
    gen.add_argument("ids", nargs="*", default=list(ASSIGNMENTS))
    gen.add_argument("--no-db", action="store_true",
                     help="do not record the assignments in nbgrader's gradebook")
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
    grade.add_argument("--no-isolation", action="store_true",
                       help="grade even where no operating-system sandbox (bubblewrap, namespaces) "
                            "can be made; every score is then marked as graded without isolation")
    grade.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="grade on a Dask cluster (tcp://HOST:PORT, or `local` for a "
                            "LocalCluster of --workers processes) instead of local worker "
                            "processes; the course secret stays on this machine")
    grade.add_argument("--similarity-threshold", type=_share, default=None, metavar="S",
                       help="list pairs of answers to one exercise whose similarity (0-1, on "
                            "normalised code) is at least S in DIR/similarity.csv and "
                            "DIR/report.html, for review (default 0.8)")
    rel = sub.add_parser("release", help="build the students' archive: notebooks and a student "
                         "build of the library, without any answer")
    rel.add_argument("--out", default=None, metavar="PATH",
                     help="the .zip to write (default dist/convlab-course-<version>.zip)")
    sub.add_parser("demo", help="generate, autograde the bundled example submissions, show grades")
    args = parser.parse_args(argv)
    environment_first_on_path()

    if args.command == "generate":
        try:
            generate(args.ids, use_db=not args.no_db)
        except RuntimeError as exc:
            print(f"convlab generate: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "release":
        from .release import release_command

        return release_command(args.out)
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
        return grader_cli.grade_command(args.submissions, args.out, args.workers, args.named_regexp,
                                        similarity_threshold=args.similarity_threshold,
                                        no_isolation=args.no_isolation,
                                        scheduler=args.scheduler)
    return grader_cli.demo_command()


if __name__ == "__main__":
    sys.exit(main())
