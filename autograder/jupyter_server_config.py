"""Jupyter server settings for `make lab` (passed with --config): the course's formgrader
hardening (autograder/formgrader_safety.py) and its late penalties kept in step with grading
by hand (autograder/score/hand_grading.py), on top of the extensions already enabled."""
c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

# .update, not assignment: the dict of enabled extensions comes from other config files
# (nbgrader's formgrader among them) and must keep them.
c.ServerApp.jpserver_extensions.update({"autograder.formgrader_safety": True,
                                        "autograder.score.hand_grading": True})

# `make lab` puts the venv first on PATH; a server started otherwise (the venv's jupyter
# called by path) needs it too: the formgrader makes its gradebook by running `alembic`.
import os  # noqa: E402
import sys  # noqa: E402

if os.environ.get("PATH", "").split(os.pathsep)[0] != os.path.dirname(sys.executable):
    os.environ["PATH"] = os.pathsep.join(
        [os.path.dirname(sys.executable), *filter(None, os.environ.get("PATH", "").split(os.pathsep))])
