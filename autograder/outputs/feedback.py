"""Feedback pages: a reflection the instructor has not graded yet is "to be graded by hand",
never a 0.

nbgrader's GetGrades copies each graded cell's score from the gradebook into the notebook
the feedback page is made from. For a written answer nobody has graded yet that score is
0 (the gradebook's score falls back to 0 without a manual one), and nbgrader's feedback
page shows "Score: 0 / 2" beside the student's reflection: read as a failing grade.
``GetGradesPending`` also copies whether the cell still needs grading by hand, and sums
those cells' points, so the "convlab" template (templates/convlab/nbgrader_feedback.html.j2)
shows such a cell as to be graded by hand and the total as the points graded so far.

Late policy hook (autograder/score/lateness.py): the late penalty shown is the course policy
applied to the notebook's current score (manual grades included, as ``convlab export``
computes it), and ``resources["nbgrader"]["lateness"]`` says when it was due and came.
"""
from __future__ import annotations

from nbgrader.preprocessors import GetGrades

__all__ = ["GetGradesPending"]


class GetGradesPending(GetGrades):
    """GetGrades, plus ``needs_manual_grade`` on each graded cell and
    ``resources["nbgrader"]["pending_points"]``: the points still to be graded by hand."""

    def preprocess(self, nb, resources):
        self._pending = 0.0
        nb, resources = super().preprocess(nb, resources)
        resources["nbgrader"]["pending_points"] = self._pending
        self._lateness(resources)
        return nb, resources

    def _lateness(self, resources) -> None:
        """--- late policy hook: the penalty of the current score, and one line saying why."""
        from dataclasses import replace

        from nbgrader.api import Gradebook

        from ..score.lateness import LatePolicy, describe, lateness_of, penalty

        plugin = LatePolicy(parent=self)
        with Gradebook(self.db_url) as gb:
            late = lateness_of(gb, self.assignment_id, self.student_id, plugin)
            score = float(gb.find_submission_notebook(self.notebook_id, self.assignment_id,
                                                      self.student_id).score or 0.0)
        cost = penalty(plugin.policy, score, late.seconds_late)
        resources["nbgrader"]["late_penalty"] = cost
        resources["nbgrader"]["score"] = score - cost
        resources["nbgrader"]["lateness"] = (describe(replace(late, penalty=cost))
                                             if late.due is not None else "")

    def _get_score(self, cell, resources) -> None:
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        pending = bool(grade.needs_manual_grade) and grade.manual_score is None
        cell.metadata.nbgrader["needs_manual_grade"] = pending
        if pending:
            self._pending += float(grade.max_score or 0)
