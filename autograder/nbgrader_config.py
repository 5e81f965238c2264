"""nbgrader configuration for the convlab course (loaded by ../nbgrader_config.py)."""
import os

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

# nbgrader makes a new gradebook by running `alembic` by name: the program of this
# interpreter's environment, activated or not (the formgrader, `nbgrader autograde`).
import sys  # noqa: E402

_BIN = os.path.dirname(sys.executable)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = os.pathsep.join([_BIN, *filter(None, os.environ.get("PATH", "").split(os.pathsep))])

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "convlab"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
# Never ship caches or checkpoints to students.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store"]

# --- grading -------------------------------------------------------------------------
# nbgrader never executes a submission: the trusted grader stands where Execute stands in
# nbgrader 0.9.6's default autograde list (nbgrader/converters/autograde.py). It runs the
# answer cells in its own sandbox, scores them on hidden cases, and writes each test cell's
# outputs (message + score) for SaveAutoGrades. Named by string so that other nbgrader
# commands do not import torch.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

c.Autograde.autograde_preprocessors = [
    "autograder.judge.preprocessor.TrustedGrade",
    # The autograded notebook is what the formgrader and feedback render: make it inert.
    "autograder.safe_html.SanitizeSubmission",
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    # nbgrader's AssignLatePenalties, after writing the course's due date and the
    # student's extension into the gradebook; its plugin is the course's policy.
    "autograder.score.lateness.AssignLatePolicy",
    CheckCellMetadata,
]
# One budget per notebook, the same as `convlab grade`'s (autograder.limits.Budget): wall-clock
# seconds for everything done for it, and memory of the grading process with every process
# under it (its sandboxes). TrustedGrade grades each notebook in a worker forked for it and
# watched; past either, every exercise of the notebook scores 0 with a message and nbgrader
# goes on to the next notebook. Set here for `nbgrader autograde` (inside `convlab grade`
# the run's own budget applies: `grade(..., budget=...)`, the same defaults):
# c.TrustedGrade.notebook_budget_seconds = 600.0
# c.TrustedGrade.notebook_memory_mb = 4096
# nbgrader's own re-insertion of deleted test cells fails when the cell before one is
# missing too; TrustedGrade puts missing test cells back itself.
c.OverwriteCells.add_missing_cells = False
# Malformed nbgrader metadata (no grade_id, an old schema_version) would make nbgrader
# reject the whole notebook, and so would a copy-pasted or made-up grade cell after
# DeduplicateIds / OverwriteCells: such cells become ordinary cells, before and after
# those steps (the grader finds stripped answer cells by their `def`).
# Before those: the metadata of every cell the release knows is reset to the release's (an
# answer toggled to grade: true, points or locked edited never cost the notebook), and
# pasted attachments and huge text are capped (they would bloat feedback pages).
c.Autograde.sanitize_preprocessors = [
    "autograder.judge.preprocessor.NormaliseMetadata",
    "autograder.judge.preprocessor.CapSubmission",
    "autograder.judge.preprocessor.DropUnknownCells",
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    "autograder.judge.preprocessor.DropUnknownCells",
    CheckCellMetadata,
]
# Feedback: nbgrader's default list, plus a hidden-test scrub as a safety net (the hidden
# cases live in autograder/judge/hidden_cases/, never in a notebook).
c.GenerateFeedback.preprocessors = [
    # GetGrades, and which written answers still await the instructor (autograder/outputs/feedback.py)
    "autograder.outputs.feedback.GetGradesPending",
    CSSHTMLHeaderPreprocessor,
    "autograder.judge.preprocessor.FeedbackClearHiddenTests",
    "autograder.safe_html.SanitizeSubmission",
]

# --- due dates and the late policy (autograder/score/lateness.py) ----------------------------
# Due dates per assignment, with a time zone (a date without one is refused). Every
# grading path applies the same policy: nbgrader autograde, convlab grade, convlab export.
# A penalty is a fraction of the notebook's score: `rate` per started hour ("per_hour") or
# day ("per_day"), at most `cap`; later than `cutoff_hours` past the due date the score is 0
# (with method "none" too). Exactly on the due date is on time.
c.AssignLatePenalties.plugin_class = "autograder.score.lateness.LatePolicy"
c.LatePolicy.due_dates = {
    # "01_convolution": "2027-01-15 23:59:00 UTC",
}
c.LatePolicy.method = "none"        # "none", "per_hour" or "per_day"
c.LatePolicy.rate = 0.0             # e.g. 0.1: 10 % of the score per started day
c.LatePolicy.cap = 1.0              # e.g. 0.5: never more than half the score
c.LatePolicy.cutoff_hours = None    # e.g. 72: three days late or more scores 0

# Instructor data (submissions, autograded and feedback notebooks, the gradebook) lives in
# autograder/work/, which git ignores.
WORK = os.path.join(ROOT, "autograder", "work")
os.makedirs(WORK, exist_ok=True)  # sqlite creates the gradebook file, not its folder
c.CourseDirectory.submitted_directory = os.path.join(WORK, "submitted")
c.CourseDirectory.autograded_directory = os.path.join(WORK, "autograded")
c.CourseDirectory.feedback_directory = os.path.join(WORK, "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(WORK, "gradebook.db")
# Per-student extensions: student_id,assignment,hours (hours added to that due date).
c.LatePolicy.extensions_file = os.path.join(WORK, "extensions.csv")

# --- pages: nothing a student wrote runs where it is looked at ---------------------------
# The formgrader and GenerateFeedback both render with HTMLExporter. nbgrader's formgrade
# and feedback templates pipe markdown through markdown2html without clean_html, so
# sanitize_html alone would not help: the filters themselves are replaced by cleaning ones
# (autograder/safe_html.py), and the "convlab" template (autograder/templates/convlab)
# is nbgrader's formgrade or feedback page (copied there, markdown also piped through
# clean_html) plus a Content-Security-Policy meta tag. Setting the base folders stops
# GenerateFeedback from putting nbgrader's own templates first.
c.HTMLExporter.template_name = "convlab"
# The templates ship with the autograder package (package data), so a course folder
# that has only the config files (as nbgrader's own layout allows) still finds them.
def _templates():
    """autograder/templates beside this file, else in the installed autograder package.
    None where neither is found: then the "convlab" template is missing and rendering
    fails (closed), never falls back to nbgrader's unsanitised pages."""
    here = os.path.join(ROOT, "autograder", "templates")
    if os.path.isdir(here):
        return here
    try:
        import autograder.safe_html as safe_html
    except ImportError:
        return None
    folder = os.path.join(os.path.dirname(safe_html.__file__), "templates")
    return folder if os.path.isdir(folder) else None


if _templates() is not None:
    c.HTMLExporter.extra_template_basedirs = [_templates()]
c.HTMLExporter.sanitize_html = True
# A page shows at most 100,000 characters of a cell's source and 256 KiB of its outputs
# (the formgrader renders a whole notebook at once): autograder/outputs/render_cap.py.
c.HTMLExporter.preprocessors = ["autograder.outputs.render_cap.CapRender"]
# c.CapRender.max_source_chars = 100_000
# c.CapRender.max_output_bytes = 256 * 1024
# Math renders with no network and no file beside the page (`nbgrader release_feedback`
# hands back the .html files alone): markdown2html writes markdown's formulas as MathML,
# which browsers render with no script (autograder/outputs/mathml.py). The formgrader also
# loads MathJax from the Jupyter server, for what stays TeX (local_mathjax.html.j2).
c.HTMLExporter.filters = {
    "markdown2html": "autograder.safe_html.markdown2html",
    "clean_html": "autograder.safe_html.clean_html",
    "csp_meta": "autograder.safe_html.csp_meta",
}
