"""Jupyter server settings for `make lab` (passed with --config): the course's formgrader
hardening (autograder/formgrader_safety.py) on top of the extensions already enabled."""
c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

# .update, not assignment: the dict of enabled extensions comes from other config files
# (nbgrader's formgrader among them) and must keep them.
c.ServerApp.jpserver_extensions.update({"autograder.formgrader_safety": True})
