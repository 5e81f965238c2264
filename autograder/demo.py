"""``convlab demo`` / ``make demo``: the instructor's pipeline on the example students.

1. generate the student notebooks from solutions/ (``nbgrader generate_assignment``);
2. build the example submissions (``autograder/examples``) into autograder/work/demo/submitted;
3. grade them as ``convlab grade`` does, into autograder/work/demo/graded;
4. print the grade table, check every example got the scores its spec expects, and say
   where the feedback is.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

__all__ = ["main", "check_expectations"]


def check_expectations(rows, root: Path | None = None, names=None) -> dict[str, list[str]]:
    """Example student -> what differs from its spec (empty: all as expected)."""
    from .examples.build import expectations

    got = {(r.student_id, r.assignment, r.grade_id): r for r in rows}
    problems: dict[str, list[str]] = {}
    for (student, assignment, grade_id), expect in expectations(root, names).items():
        found = problems.setdefault(student, [])
        row = got.get((student, assignment, grade_id))
        if row is None:
            found.append(f"{assignment}/{grade_id}: no row in grades.csv")
            continue
        verdict = expect.judge(row.score, row.max_score, row.message)
        if verdict:
            found.append(f"{assignment}/{grade_id}: {verdict} -- {row.message[:300]!r}")
    return problems


def main(workers: int | None = None) -> int:
    from convlab.course import repo_root
    from convlab.generate import generate

    from .pipeline import grade
    from .examples.build import build

    start = time.perf_counter()
    root = repo_root()
    work = root / "autograder" / "work" / "demo"
    submitted, graded = work / "submitted", work / "graded"
    print("1. Generating the student notebooks (nbgrader generate_assignment) ...", flush=True)
    generate()
    print(f"2. Building the example submissions in {submitted} ...", flush=True)
    shutil.rmtree(submitted, ignore_errors=True)
    students = build(submitted, root=root)
    for student in students.values():
        print(f"   {student.name:16} {student.about}")
    workers = workers or min(2, os.cpu_count() or 1)
    print(f"3. Grading them: convlab grade {submitted} --out {graded} --workers {workers}\n",
          flush=True)
    rows = grade(submitted, graded, workers)
    problems = check_expectations(rows, root)
    failed = {name: found for name, found in problems.items() if found}
    print(f"\n4. {len(problems) - len(failed)} of {len(problems)} example students got the "
          "scores their spec expects (autograder/examples/students/).")
    for name, found in failed.items():
        print(f"   {name}:")
        for line in found:
            print(f"     {line}")
    print(f"\nFeedback for each student: {graded / 'feedback'}/<student>/<assignment>/*.html\n"
          f"e.g. {graded / 'feedback' / 'mistakes' / '01_convolution' / '01_convolution.html'}\n"
          f"Demo finished in {time.perf_counter() - start:.0f} s.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
