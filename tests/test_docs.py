"""The README and the course contract in the repository: what a reader is pointed at exists,
the README says what it lists, and its inline code is closed."""
from __future__ import annotations

import re

from convlab.cli import repo_root

ROOT = repo_root()
README = (ROOT / "README.md").read_text(encoding="utf-8")
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def test_the_course_contract_is_in_the_repository_and_the_readme_points_to_it():
    contract = ROOT / "docs" / "COURSE.md"
    assert contract.is_file()
    text = contract.read_text(encoding="utf-8")
    assert "## Grading guarantees" in text and "## Release" in text
    assert "docs/COURSE.md" in README
    assert "../shared" not in README


def test_the_readme_counts_the_commands_it_lists():
    match = re.search(r"^## The (\w+) commands\n+```\n(.*?)```", README, re.S | re.M)
    assert match, "the commands section"
    listed = [line for line in match.group(2).splitlines() if line.startswith("make ")]
    assert NUMBERS[match.group(1)] == len(listed), listed


def test_every_paragraph_of_the_readme_closes_its_inline_code():
    prose = re.sub(r"^```.*?^```", "", README, flags=re.S | re.M)
    for paragraph in re.split(r"\n\s*\n", prose):
        assert paragraph.count("`") % 2 == 0, paragraph
