"""The convlab trusted autograder (instructor side; never shipped to students).

* ``grader.grade_notebook(nb, assignment, points)`` -> ``[CellGrade]``: scores one
  submitted notebook on hidden cases, outside the student's kernel;
* ``sandbox.Sandbox``: runs the answer cells in a separate, limited process;
* ``hidden_cases``: the seeded hidden cases, which live only here;
* ``preprocessor.TrustedGrade``: the nbgrader preprocessor that stands in for Execute
  (configured in ``nbgrader_config.py``);
* ``cli``: ``convlab grade`` / ``convlab demo``.

Nothing is imported here, so that importing one module does not import torch for all.
"""
