"""nbgrader preprocessors: the trusted grader in place of nbgrader's Execute.

``TrustedGrade`` stands where ``Execute`` stands in ``Autograde.autograde_preprocessors``
(see nbgrader_config.py). It never runs the notebook: it asks the gradebook which test
cells the notebook has and what each is worth, grades the answers with
``autograder.judge.grader.grade_notebook`` and writes each test cell's outputs the way nbgrader's
``SaveAutoGrades`` reads them (``nbgrader.utils.determine_grade``):

* a stdout stream with the grader's message (what the feedback shows), then
* an ``execute_result`` whose text/plain is the score: determine_grade takes a numeric
  execute_result as partial credit, "0" included, and a test cell with no error and no
  stderr output gets it.

A test cell missing from the submission (deleted, or its metadata stripped so nbgrader no
longer recognises it) is put back from the gradebook's copy of the source, after the
answer cell it tests, so that SaveAutoGrades records its score too.

Each notebook is graded within one budget (``autograder.limits.Budget``: wall-clock seconds,
and memory of the grading process with every process under it), as ``convlab grade``
grades it: under ``nbgrader autograde`` in a worker forked for the notebook and watched by
``autograder.run.workers.run_bounded``; inside a ``convlab grade`` worker (already watched)
in place. Past the budget every exercise of the notebook scores 0 with the message
``convlab grade`` gives, and nbgrader goes on to the next notebook.
"""
from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from traitlets import Bool, Dict, Float, Int, Integer, Unicode

from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

from ..limits import Budget, Limits

__all__ = ["GRADE_MIME", "TrustedGrade", "DropUnknownCells", "FeedbackClearHiddenTests", "TestCell", "write_grades",
           "NormaliseMetadata", "CapSubmission"]


# The typed grade record (``CellGrade.record()``) travels in the test cell's execute_result
# beside text/plain: nbgrader reads the score from text/plain, ``convlab grade`` reads the
# record, and HTML exports skip a mime type they do not know.
GRADE_MIME = "application/vnd.convlab.grade+json"


class TestCell:
    """A test cell as the gradebook knows it: grade_id, points, source, checksum."""

    __test__ = False  # not a pytest class

    def __init__(self, grade_id: str, points: float, source: str, checksum: str | None = None):
        self.grade_id, self.points, self.source, self.checksum = grade_id, float(points), source, checksum


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_test_cell(cell) -> bool:
    meta = _nbgrader(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _restored_cell(test: TestCell) -> NotebookNode:
    meta = {"grade": True, "grade_id": test.grade_id, "locked": True, "points": test.points,
            "schema_version": 3, "solution": False, "task": False}
    if test.checksum:
        meta["checksum"] = test.checksum
    cell = new_code_cell(test.source, metadata={"deletable": False, "editable": False, "nbgrader": meta})
    cell.id = f"restored-{test.grade_id}"[:64]  # not random: re-grading gives the same feedback
    return cell


def code_digest(nb: NotebookNode) -> str:
    """A digest of the notebook's code cells (their sources, in order)."""
    import hashlib
    import json

    sources = [c.get("source", "") for c in nb.cells if c.get("cell_type") == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()[:32]


def write_grades(nb: NotebookNode, tests: list[TestCell], grades, attempt: str | None = None) -> NotebookNode:
    """Put each grade into its test cell's outputs, re-inserting missing test cells.
    ``attempt`` (the public part of the hidden cases' key) goes into each record."""
    by_id = {grade.grade_id: grade for grade in grades}
    for test in tests:
        present = [c for c in nb.cells if _is_test_cell(c) and _nbgrader(c).get("grade_id") == test.grade_id]
        if present:
            cell = present[-1]
            note = ""
        else:
            cell = _restored_cell(test)
            answers = [i for i, c in enumerate(nb.cells)
                       if _nbgrader(c).get("solution") and _nbgrader(c).get("grade_id") == test.grade_id[5:]]
            nb.cells.insert(answers[-1] + 1 if answers else len(nb.cells), cell)
            note = "\n(This test cell was missing from your notebook; the grader put it back.)"
        grade = by_id[test.grade_id]
        record = grade.record()
        if attempt is not None:
            record["attempt"] = attempt
        cell.outputs = [
            new_output("stream", name="stdout", text=f"{grade.message}{note}\n"),
            new_output("execute_result", execution_count=1,
                       data={"text/plain": repr(float(grade.score)), GRADE_MIME: record}),
        ]
        cell.execution_count = 1
    return nb


def _settings() -> dict[str, tuple[object, str]]:
    """Every instructor-settable limit, by traitlet name: each name once."""
    limits, budget = Limits.settings(), Budget.settings()
    if set(limits) & set(budget):
        raise RuntimeError(f"limits declared twice: {sorted(set(limits) & set(budget))}")
    return {**limits, **budget}


_SETTINGS = _settings()


class TrustedGrade(NbGraderPreprocessor):
    """Grades the notebook with the trusted grader; never executes it."""

    secret_file = Unicode(
        "", help="The course secret's file (autograder.secret): hidden cases are seeded from "
                 "it with the student and the attempt. Empty: $CONVLAB_SECRET_FILE, else "
                 "~/.config/convlab/course_secret, created on first use. Keep it outside the "
                 "course folder.").tag(config=True)

    # The sandbox's limits (autograder.sandbox.Limits), settable in nbgrader_config.py as
    # c.TrustedGrade.<name>; the defaults are Limits' own.
    isolation = Bool(True, help="Run answers in the operating-system sandbox (bubblewrap). False grades "
                                "without it, only where namespaces cannot be had: every score is then "
                                "marked as graded without isolation. CONVLAB_NO_ISOLATION=1 does the "
                                "same (what `convlab grade --no-isolation` sets).").tag(config=True)
    # One traitlet per limit an instructor may set, from Limits and Budget themselves (their
    # defaults and helps; Budget's: what one notebook may cost in all, `convlab grade` has the
    # same defaults; past either, every exercise of the notebook scores 0 with a message and
    # the next notebook is graded). The class namespace is filled here, so no limit is
    # declared twice.
    vars().update({name: (Integer if isinstance(default, int) else Float)(default, help=help).tag(config=True)
                   for name, (default, help) in _SETTINGS.items()})

    def limits(self) -> Limits:
        """The sandbox's limits as configured."""
        return Limits.configured(lambda name: getattr(self, name), isolated=None if self.isolation else False)

    def budget(self) -> Budget:
        """What grading one notebook may cost, as configured."""
        return Budget.configured(lambda name: getattr(self, name))

    seed_tables = Dict(help="Notebook name -> the submission's seeds (hidden_cases.SeedTable), "
                            "computed by the machine that holds the course secret (`convlab "
                            "grade`'s coordinator): a grading worker gets these, never the "
                            "secret. Empty (nbgrader autograde): the seeds are drawn here from "
                            "the secret.").tag(config=True)

    def seed_key(self, resources: ResourcesDict, nb: NotebookNode | None = None):
        """Whose hidden cases: this student's, for this attempt. The attempt is the
        submission's timestamp as the gradebook has it (from nbgrader's timestamp.txt; none
        when it was not recorded) and a digest of the notebook's code: regrading the same
        submission draws the same cases, any change to the code draws new ones, so a case
        learnt from one attempt's feedback is worth nothing in the next.

        Given the submission's seed table (``seed_tables``), it is used instead, once its
        attempt is checked to be this notebook's: a coordinator that digested another
        version of the code than the one graded here would draw the wrong cases."""
        from nbgrader.api import Gradebook, MissingEntry

        from .hidden_cases import SeedKey
        from ..secret import guard_gradebook

        info = resources["nbgrader"]
        table = self.seed_tables.get(info.get("notebook"))
        if table is not None:
            digest = code_digest(nb) if nb is not None else None
            if (table.student, table.assignment) != (info["student"], info["assignment"]) or (
                    digest is not None and table.attempt.rpartition("|")[2] != digest):
                raise RuntimeError("the seeds sent with this submission were drawn for another "
                                   "submission or another version of its code")
            return table
        # A regrade with another course secret than the gradebook's refuses (autograder.secret).
        guard_gradebook(info["db_url"], self.secret_file or None)
        attempt = ""
        with Gradebook(info["db_url"]) as gb:
            try:
                submission = gb.find_submission(info["assignment"], info["student"])
            except MissingEntry:
                submission = None
            if submission is not None and submission.timestamp is not None:
                attempt = submission.timestamp.isoformat()
        if nb is not None:
            attempt += "|" + code_digest(nb)
        return SeedKey.for_submission(info["assignment"], info["student"], attempt,
                                      self.secret_file or None)

    def test_cells(self, resources: ResourcesDict) -> list[TestCell]:
        """The notebook's autograder-test cells, from the gradebook (the source version)."""
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_notebook(info["notebook"], info["assignment"])
            answers = {cell.name for cell in notebook.solution_cells}
            sources = {cell.name: cell for cell in notebook.source_cells}
            tests = []
            for cell in notebook.grade_cells:
                if cell.cell_type != "code" or cell.name in answers:
                    continue  # manually graded answers are not the autograder's
                source = sources.get(cell.name)
                tests.append(TestCell(cell.name, cell.max_score, source.source if source else "",
                                      source.checksum if source else None))
        return sorted(tests, key=lambda t: t.grade_id)

    def grade(self, nb: NotebookNode, assignment: str, points: dict[str, float], key) -> list:
        """``grader.grade_notebook`` within the notebook's budget (see the module's docstring):
        its grades, or a 0 for every test cell with the reason where grading went over its
        budget or its worker died twice. An exception in the grader is raised here."""
        import multiprocessing

        from .grader import CellGrade, grade_notebook
        from ..scrub import clip_error, scrub
        from ..run.workers import over_budget, run_bounded, watched

        limits = self.limits()
        if watched():  # a `convlab grade` worker: the run's watchdog already holds this budget
            return grade_notebook(nb, assignment, points, limits, key=key)
        budget = self.budget()
        # Forked, not spawned: this process imported torch and the grader above, once for
        # every notebook. The worker grades on one thread (_forked_worker): a fork of a
        # process whose OpenMP pool has run (a test session, an embedding app) hangs in its
        # next parallel region otherwise.
        def work(_):
            return grade_notebook(nb, assignment, points, limits, key=key)

        [finished] = run_bounded([None], work, processes=1, seconds=lambda _: budget.seconds,
                                 memory_mb=budget.memory_mb, start=_forked_worker,
                                 context=multiprocessing.get_context("fork"))
        if finished.kind == "done":
            return finished.value
        if finished.kind == "error":  # the grader's own failure: nbgrader reports it, as before
            raise RuntimeError(f"the trusted grader failed on this notebook: {finished.detail}")
        why = scrub(clip_error(over_budget(finished, budget), 600), 600)
        self.log.warning("Trusted grader: the notebook scores 0 (%s: %s)", finished.kind,
                         finished.detail)
        return [CellGrade(grade_id, 0.0, float(max_score),
                          f"The autograder failed on this submission ({why}).", "error")
                for grade_id, max_score in points.items()]

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict):
        tests = self.test_cells(resources)
        assignment = resources["nbgrader"]["assignment"]
        self.log.info("Trusted grader: %d test cells in %s", len(tests), resources["nbgrader"]["notebook"])
        key = self.seed_key(resources, nb)
        grades = self.grade(nb, assignment, {t.grade_id: t.points for t in tests}, key)
        for grade in grades:
            self.log.info("  %s: %s / %s", grade.grade_id, grade.score, grade.max_score)
        return write_grades(nb, tests, grades, key.attempt), resources


def _forked_worker() -> None:
    """Set-up of a notebook's forked worker. The sandboxes this process may hold (a spare
    supervisor, a parked one: autograder.sandbox.host) are its parent's: forgotten here,
    never used or killed. No spare is started either: it would end unused with the worker.
    One thread: OpenMP's pool does not survive a fork (see TrustedGrade.grade)."""
    import os

    import torch

    from ..sandbox import host

    torch.set_num_threads(1)
    host._SPARE.clear()
    host._PARKED.clear()
    host._LIVE.clear()
    os.environ["CONVLAB_SANDBOX_SPARE"] = "0"


class DropUnknownCells(NbGraderPreprocessor):
    """Sanitize step after OverwriteCells: nbgrader metadata that would make
    CheckCellMetadata reject the whole notebook (and so lose every exercise) is removed,
    and the cell becomes an ordinary one. Two cases in nbgrader 0.9.6:

    * DeduplicateIds leaves ``"nbgrader": {}`` on all but the last copy of a duplicated
      cell (a student copy-pasted a test cell): no schema_version, so "old version";
    * OverwriteCells removes the grade_id of a cell the gradebook does not know (a student
      made one up): "does not have a grade_id".

    It also runs first, so a cell with no grade_id or an old or new schema_version (hand-edited
    metadata) does not crash DeduplicateIds or the schema check before it gets here.
    """

    def preprocess_cell(self, cell, resources, index):
        from nbgrader.nbgraderformat import MetadataValidator, ValidationError
        from nbgrader.nbgraderformat.common import SchemaMismatchError

        if "nbgrader" not in cell.get("metadata", {}):
            return cell, resources
        try:
            if not _nbgrader(cell).get("grade_id"):
                raise ValidationError("no grade_id")
            MetadataValidator().validate_cell(cell)
        except (ValidationError, SchemaMismatchError, ValueError, TypeError, KeyError) as exc:
            self.log.warning("Cell %d: nbgrader metadata dropped (%s)", index, exc)
            del cell.metadata["nbgrader"]
        return cell, resources


class FeedbackClearHiddenTests(ClearHiddenTests):
    """ClearHiddenTests for feedback pages: a safety net that never fails a student's
    feedback because their own text contains the delimiter."""

    enforce_metadata = Bool(False).tag(config=True)


class NormaliseMetadata(NbGraderPreprocessor):
    """Sanitize step, first of all: the nbgrader metadata of every cell the release knows
    (by grade_id) is reset to the release's, from the gradebook. A student who toggles
    ``grade`` on an answer cell (nbgrader would then look for a grade cell that does not
    exist and fail the whole notebook), changes points, clears ``locked`` or un-marks an
    answer gets the release's metadata back and is graded as usual; nothing is zeroed
    for it. Cells the release does not know are left to DropUnknownCells."""

    def _release(self, resources: ResourcesDict) -> dict[str, dict]:
        from nbgrader.api import Gradebook, MissingEntry

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            try:
                notebook = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return {}
            release = {c.name: {"grade": False, "grade_id": c.name, "locked": bool(c.locked),
                                "schema_version": 3, "solution": False, "task": False,
                                "cell_type": c.cell_type, "checksum": c.checksum}
                       for c in notebook.source_cells}
            for cell in notebook.grade_cells:
                if cell.name in release:
                    release[cell.name].update(grade=True, points=float(cell.max_score))
            for cell in notebook.solution_cells:
                if cell.name in release:
                    release[cell.name]["solution"] = True
            for cell in notebook.task_cells:
                if cell.name in release:
                    release[cell.name].update(task=True, points=float(cell.max_score))
        return release

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict):
        release = self._release(resources)
        for index, cell in enumerate(nb.cells):
            metadata = cell.get("metadata")
            if not isinstance(metadata, dict) or "nbgrader" not in metadata:
                continue
            meta = metadata["nbgrader"]
            if not isinstance(meta, dict):
                self.log.warning("Cell %d: nbgrader metadata that is no mapping dropped", index)
                del metadata["nbgrader"]
                continue
            grade_id = meta.get("grade_id")
            trusted = release.get(grade_id) if isinstance(grade_id, str) else None
            if trusted is None:
                continue
            trusted = {k: v for k, v in trusted.items() if v is not None}
            changed = sorted(k for k in set(meta) | set(trusted)
                             if k != "checksum" and meta.get(k) != trusted.get(k))
            if changed:
                self.log.warning("Cell %r: nbgrader metadata %s reset to the release's", grade_id,
                                 ", ".join(changed))
            metadata["nbgrader"] = NotebookNode(trusted)
        return nb, resources


def _size(value) -> int:
    """Roughly how many bytes ``value`` (an attachment's mime bundle) takes as JSON."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(len(str(k)) + _size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return len(str(value))


class CapSubmission(NbGraderPreprocessor):
    """Sanitize step: what a student pasted into text cells stays small in the autograded
    notebook, so in the feedback page and the formgrader. Attachments over the cap (an
    image pasted into markdown) are removed and markdown or raw text over its cap is cut,
    each with a note in the cell saying so. Code cells are the grader's to read and are
    left as they are (their outputs are cleared by ClearOutput)."""

    max_attachment_bytes = Int(512 * 1024, help="Attachments of one cell, in bytes, kept in "
                                                "the autograded notebook").tag(config=True)
    max_text_chars = Int(100_000, help="Characters of one markdown or raw cell kept in the "
                                       "autograded notebook").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") not in ("markdown", "raw"):
            return cell, resources
        notes = []
        attachments = cell.get("attachments")
        if attachments:
            size = _size(attachments)
            if size > self.max_attachment_bytes:
                del cell["attachments"]
                notes.append(f"attachments of {size / 2**20:.1f} MiB were removed (the grader keeps "
                             f"up to {self.max_attachment_bytes // 1024} KiB per cell)")
        source = cell.get("source", "")
        source = source if isinstance(source, str) else "".join(source)
        if len(source) > self.max_text_chars:
            notes.append(f"this cell's text was cut at {self.max_text_chars} of its {len(source)} "
                         "characters")
            source = source[: self.max_text_chars]
        if notes:
            cell.source = source + "\n\n*(The grader: " + "; ".join(notes) + ".)*"
        return cell, resources
