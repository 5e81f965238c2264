"""The late penalty nbgrader keeps, kept in step with grading by hand.

nbgrader stores each notebook's late penalty when it autogrades (AssignLatePenalties asks
the course's LatePolicy, autograder/score/lateness.py, for the policy applied to the score
then). The policy takes a fraction of the score, so a reflection graded by hand later makes
the stored penalty stale: `nbgrader export` (and anything else reading the gradebook's
``late_submission_penalty``) would subtract the old one, while the feedback pages and
`convlab export` apply the policy to the current score. This Jupyter server extension,
loaded by `make lab` (autograder/jupyter_server_config.py), restates a notebook's stored
penalty each time the formgrader saves one of its grades, by the same policy and penalty
function, so every reader of the gradebook agrees.
"""
from __future__ import annotations

from .lateness import LatePolicy, lateness_of, penalty

__all__ = ["restate_late_penalty", "watch_hand_grading", "_load_jupyter_server_extension"]


def restate_late_penalty(gb, plugin: LatePolicy, notebook) -> float | None:
    """``notebook``'s (a SubmittedNotebook) late penalty for its score now, stored as
    nbgrader's AssignLatePenalties stores it: None when on time, else the points."""
    submission = notebook.assignment
    late = lateness_of(gb, submission.assignment.name, submission.student.id, plugin)
    cost = penalty(plugin.policy, float(notebook.score or 0.0), late.seconds_late) if late.late else None
    notebook.late_submission_penalty = cost
    gb.db.commit()
    return cost


def watch_hand_grading() -> None:
    """Patch the formgrader's grade API (idempotent): after nbgrader saves a grade (its
    own checks first: login, XSRF, a known grade), the notebook's penalty is restated with
    the course config the formgrader was started with."""
    from nbgrader.server_extensions.formgrader import apihandlers

    handler = apihandlers.GradeHandler
    if getattr(handler, "_convlab_restates_lateness", False):
        return
    save = handler.put

    def put(self, grade_id):
        save(self, grade_id)
        grade = self.gradebook.find_grade_by_id(grade_id)
        restate_late_penalty(self.gradebook, LatePolicy(parent=self.coursedir.parent), grade.notebook)

    handler.put = put
    handler._convlab_restates_lateness = True


def _jupyter_server_extension_points():
    return [{"module": "autograder.score.hand_grading"}]


def _load_jupyter_server_extension(serverapp) -> None:
    watch_hand_grading()
    serverapp.log.info("convlab: late penalties restated when the formgrader saves a grade")
