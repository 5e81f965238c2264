"""Due dates, the late policy and per-student extensions: one implementation for every path.

Course configuration (autograder/nbgrader_config.py)::

    c.LatePolicy.due_dates = {"01_convolution": "2027-01-15 23:59:00 Europe/Paris"}
    c.LatePolicy.method = "per_day"      # "none", "per_hour" or "per_day"
    c.LatePolicy.rate = 0.1              # fraction of the score lost per started hour/day
    c.LatePolicy.cap = 0.5               # at most this fraction is lost by the rate
    c.LatePolicy.cutoff_hours = 72       # later than this past the due date: score 0
    c.LatePolicy.extensions_file = ".../autograder/work/extensions.csv"

extensions.csv (the instructor edits it): ``student_id,assignment,hours``; an extension
moves that student's due date for that assignment by ``hours`` (the cutoff moves with it).

The seam is nbgrader's: ``AssignLatePolicy`` (in Autograde's preprocessors, where
nbgrader's AssignLatePenalties stands) first writes the configured due date and the
student's extension into the gradebook (``Assignment.duedate``,
``SubmittedAssignment.extension``), then runs AssignLatePenalties, which asks the plugin
``LatePolicy`` (a LateSubmissionPlugin) for each notebook's penalty with the gradebook's
``total_seconds_late`` (submission timestamp minus due date plus extension). So
``nbgrader autograde`` and ``convlab grade`` (which runs nbgrader's Autograde) compute it
by the same function, ``penalty``; the formgrader shows the gradebook's due date and
lateness; ``convlab export`` applies ``penalty`` again to the final score (manual grades
included), which is the score the rate is a fraction of.

A submission without a timestamp (nbgrader's timestamp.txt, or an LMS ``_attempt_`` stamp)
is not late: nbgrader cannot know when it came.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nbgrader.plugins import LateSubmissionPlugin
from nbgrader.preprocessors import AssignLatePenalties
from traitlets import Dict, Enum, Float, Type, Unicode
from nbgrader.plugins.base import BasePlugin

__all__ = ["Policy", "penalty", "parse_due", "read_extensions", "LatePolicy", "AssignLatePolicy",
           "Lateness", "lateness_of", "check_config", "LATENESS_COLUMNS", "write_lateness", "describe"]

HOUR = 3600.0
DAY = 24 * HOUR
METHODS = ("none", "per_hour", "per_day")


@dataclass(frozen=True)
class Policy:
    method: str = "none"
    rate: float = 0.0
    cap: float = 1.0
    cutoff_hours: float | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"late policy method must be one of {', '.join(METHODS)}, "
                             f"got {self.method!r}")
        if not 0 <= self.rate <= 1 or not 0 <= self.cap <= 1:
            raise ValueError(f"late policy rate and cap are fractions of the score in [0, 1], "
                             f"got rate={self.rate!r}, cap={self.cap!r}")
        if self.cutoff_hours is not None and self.cutoff_hours < 0:
            raise ValueError(f"late policy cutoff_hours must be >= 0, got {self.cutoff_hours!r}")


def penalty(policy: Policy, score: float, seconds_late: float) -> float:
    """Points taken off ``score`` for a submission ``seconds_late`` past its due date
    (extension included). On time (0 s late or earlier) costs nothing; every started
    hour or day costs ``rate`` of the score, at most ``cap``; past ``cutoff_hours`` the
    whole score goes."""
    if seconds_late <= 0 or score <= 0:
        return 0.0
    if policy.cutoff_hours is not None and seconds_late > policy.cutoff_hours * HOUR:
        return float(score)
    if policy.method == "none":
        return 0.0
    unit = HOUR if policy.method == "per_hour" else DAY
    started = math.ceil(seconds_late / unit)
    fraction = min(policy.cap, policy.rate * started)
    # Rounded so that 0.1 * 3 days does not print as 0.30000000000000004 of a point.
    return round(score * fraction, 6)


def parse_due(text: str) -> datetime:
    """A due date from the course config as naive UTC (nbgrader's convention). The time
    zone must be written: a due date that means another hour on another machine is a
    guess."""
    import dateutil.parser
    from nbgrader.utils import parse_utc

    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a due date is a string with a time zone, got {text!r}")
    import dateutil.tz

    parts = text.split(" ")
    if len(parts) == 3 and not parts[2].lstrip("+-").isdigit() and dateutil.tz.gettz(parts[2]) is None:
        raise ValueError(f"due date {text!r}: unknown time zone {parts[2]!r}")
    try:
        zoned = len(parts) == 3 or dateutil.parser.parse(text).tzinfo is not None
        parsed = parse_utc(text)
    except (ValueError, OverflowError, TypeError) as exc:
        raise ValueError(f"due date {text!r} cannot be read ({exc})") from None
    if not zoned or parsed is None:
        raise ValueError(f"due date {text!r} has no time zone: write one, e.g. "
                         f"'2027-01-15 23:59:00 UTC' or '2027-01-15T23:59:00+01:00'")
    return parsed


EXTENSION_COLUMNS = ("student_id", "assignment", "hours")


def read_extensions(path) -> dict[tuple[str, str], float]:
    """(student, assignment) -> extension hours, from the instructor's extensions.csv
    (absent file: no extension)."""
    path = Path(path) if path else None
    if path is None or not path.is_file():
        return {}
    extensions = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != EXTENSION_COLUMNS:
            raise ValueError(f"{path}: the columns must be {','.join(EXTENSION_COLUMNS)}, "
                             f"got {','.join(reader.fieldnames or ())}")
        for line, row in enumerate(reader, start=2):
            try:
                hours = float(row["hours"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{line}: hours must be a number, got {row['hours']!r}") from None
            if not math.isfinite(hours) or hours < 0:
                raise ValueError(f"{path}:{line}: hours must be a finite number >= 0, got {hours}")
            key = (row["student_id"].strip(), row["assignment"].strip())
            if key in extensions:
                raise ValueError(f"{path}:{line}: a second extension for {key[0]} on {key[1]}")
            extensions[key] = hours
    return extensions


class LatePolicy(LateSubmissionPlugin):
    """nbgrader's late-submission plugin with the course's policy (``penalty``)."""

    due_dates = Dict(help="assignment id -> due date with a time zone").tag(config=True)
    method = Enum(METHODS, default_value="none").tag(config=True)
    rate = Float(0.0, help="fraction of the score lost per started hour or day").tag(config=True)
    cap = Float(1.0, help="most fraction of the score the rate takes").tag(config=True)
    cutoff_hours = Float(None, allow_none=True,
                         help="hours past the due date after which the score is 0").tag(config=True)
    extensions_file = Unicode("", help="CSV student_id,assignment,hours").tag(config=True)

    @property
    def policy(self) -> Policy:
        return Policy(self.method, self.rate, self.cap, self.cutoff_hours)

    def due(self, assignment: str) -> datetime | None:
        text = self.due_dates.get(assignment)
        return None if text is None else parse_due(text)

    def extension_hours(self, student: str, assignment: str) -> float | None:
        return read_extensions(self.extensions_file).get((student, assignment))

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return penalty(self.policy, float(score or 0), float(total_seconds_late or 0))


def check_config(config) -> LatePolicy:
    """The course's late policy, due dates and extensions read once, so that a mistake in
    them is one clear ValueError before grading, not a failure per student."""
    plugin = LatePolicy(config=config)
    plugin.policy
    for assignment in plugin.due_dates:
        plugin.due(assignment)
    read_extensions(plugin.extensions_file)
    return plugin


class AssignLatePolicy(AssignLatePenalties):
    """AssignLatePenalties after writing the configured due date and the student's
    extension into the gradebook, where nbgrader's ``total_seconds_late`` reads them."""

    plugin_class = Type(LatePolicy, klass=BasePlugin).tag(config=True)

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        assignment = resources["nbgrader"]["assignment"]
        student = resources["nbgrader"]["student"]
        plugin = LatePolicy(parent=self)
        with Gradebook(resources["nbgrader"]["db_url"]) as gb:
            sync_gradebook(gb, plugin, assignment, student)
        return super().preprocess(nb, resources)


def sync_gradebook(gb, plugin: LatePolicy, assignment: str, student: str) -> None:
    """The course config's due date and extension, as nbgrader's gradebook holds them.
    An assignment the config gives no due date keeps the gradebook's (``nbgrader db``);
    a student extensions.csv does not name keeps the gradebook's extension."""
    due = plugin.due(assignment)
    if due is not None:
        gb.update_or_create_assignment(assignment, duedate=due)
    hours = plugin.extension_hours(student, assignment)
    if hours is not None:
        gb.grant_extension(assignment, student, minutes=hours * 60)


# --- what is shown: lateness.csv, feedback, report ---------------------------------------

@dataclass(frozen=True)
class Lateness:
    student_id: str
    assignment: str
    submitted: datetime | None     # naive UTC
    due: datetime | None           # naive UTC, extension included
    extension_hours: float
    seconds_late: float
    penalty: float                 # points, the policy applied to the current score

    @property
    def late(self) -> bool:
        return self.seconds_late > 0


def lateness_of(gb, assignment: str, student: str, plugin: LatePolicy | None = None) -> Lateness:
    """One submission's lateness and its penalty now: the policy applied to each
    notebook's score as the gradebook has it (manual grades included). With ``plugin``,
    the course config's due date and extensions.csv stand over the gradebook's (a due date
    moved or an extension granted after grading counts without grading again)."""
    submission = gb.find_submission(assignment, student)
    extension = submission.extension.total_seconds() / HOUR if submission.extension else 0.0
    return _lateness(plugin, student, assignment, submission.timestamp,
                     [float(nb.score or 0.0) for nb in submission.notebooks],
                     submission.assignment.duedate, extension)


def lateness_at(plugin: LatePolicy, student: str, assignment: str, timestamp: str | None,
                score: float) -> Lateness:
    """One submission's lateness from the course config alone: ``timestamp`` as nbgrader's
    timestamp.txt holds it (None: counted on time), ``score`` its automatic points. What
    ``convlab grade`` writes to lateness.csv, grades.csv and the report."""
    from nbgrader.utils import parse_utc

    submitted = parse_utc(timestamp) if timestamp else None
    return _lateness(plugin, student, assignment, submitted, [float(score)], None, 0.0)


def _lateness(plugin: LatePolicy | None, student: str, assignment: str,
              submitted: datetime | None, scores, due: datetime | None,
              extension: float) -> Lateness:
    """The one computation behind lateness_of and lateness_at: the config's due date and
    extension (with ``plugin``) over the gradebook's, the penalty of each score."""
    policy = Policy()
    if plugin is not None:
        due = plugin.due(assignment) or due
        hours = plugin.extension_hours(student, assignment)
        extension = extension if hours is None else hours
        policy = plugin.policy
    deadline = None if due is None else due + timedelta(hours=extension)
    seconds = (0.0 if deadline is None or submitted is None
               else max(0.0, (submitted - deadline).total_seconds()))
    cost = sum(penalty(policy, score, seconds) for score in scores)
    return Lateness(student, assignment, submitted, deadline, extension, seconds, round(cost, 6))


def _duration(seconds: float) -> str:
    seconds = int(math.ceil(seconds))
    days, rest = divmod(seconds, int(DAY))
    hours, rest = divmod(rest, int(HOUR))
    minutes, seconds = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours or days else []
    parts += [f"{minutes} min"] if not days else []
    parts += [f"{seconds} s"] if not days and not hours else []
    return " ".join(parts)


def _utc(moment: datetime | None) -> str:
    return "" if moment is None else moment.replace(tzinfo=timezone.utc).isoformat(" ")


def describe(late: Lateness) -> str:
    """One line for a student: when it was due and came, and what it cost."""
    if late.due is None:
        return "No due date."
    due = f"due {_utc(late.due)}"
    if late.extension_hours:
        due += f" (extension of {late.extension_hours:g} h included)"
    if late.submitted is None:
        return f"Submitted (no timestamp), {due}: counted on time."
    if not late.late:
        return f"Submitted {_utc(late.submitted)}, {due}: on time."
    cost = f"late penalty {late.penalty:g} points" if late.penalty else "no late penalty"
    return (f"Submitted {_utc(late.submitted)}, {due}: {_duration(late.seconds_late)} late, "
            f"{cost}.")


LATENESS_COLUMNS = ("student_id", "assignment", "submitted", "due", "extension_hours",
                    "seconds_late", "late_penalty", "message")


def write_lateness(records, path) -> None:
    """lateness.csv: one row per graded student and assignment."""
    from ..outputs.grades import write_table
    from ..safe_text import csv_cell

    write_table(path, LATENESS_COLUMNS, (
        [csv_cell(late.student_id), csv_cell(late.assignment), _utc(late.submitted),
         _utc(late.due), f"{late.extension_hours:g}", f"{late.seconds_late:g}",
         f"{round(late.penalty, 4):g}", csv_cell(describe(late))] for late in records))


def read_lateness(path) -> dict[tuple[str, str], dict]:
    path = Path(path)
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {(r["student_id"], r["assignment"]): r for r in csv.DictReader(handle)}


def report_section(records) -> str:
    """report.html's table of late submissions (escaped; empty when none was late)."""
    import html

    from ..safe_text import visible_controls

    late = [r for r in records if r.late]
    if not late:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(visible_controls(r.student_id))}</td>"
        f"<td>{html.escape(visible_controls(r.assignment))}</td>"
        f"<td>{html.escape(_duration(r.seconds_late))}</td>"
        f"<td class='num'>{round(r.penalty, 4):g}</td>"
        f"<td>{html.escape(describe(r))}</td></tr>"
        for r in sorted(late, key=lambda r: (r.assignment, r.student_id)))
    return ("<h2>Late submissions</h2>\n<table><tr><th>student</th><th>assignment</th>"
            "<th>late by</th><th>penalty (points)</th><th>details</th></tr>"
            f"{rows}</table>\n")
