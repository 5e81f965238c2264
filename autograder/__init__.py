"""The convlab trusted autograder (instructor side; never shipped to students).

One package per phase of ``convlab grade`` (autograder.pipeline runs them in order):

* ``intake``: submissions (nbgrader's submitted/ folder, an LMS zip) into submitted/ layout;
* ``run``: grading one submission as a pure job (``run.job.GradingJob`` ->
  ``run.job.JobResult``), the seeds it carries (``run.seeds``; the course secret stays
  with the coordinator) and the executors that run jobs (``run.pool.LocalExecutor``,
  ``run.executors``), each job within its budget (``run.workers``);
* ``judge``: the trusted grader (``judge.grader.grade_notebook``), the hidden cases
  (``judge.hidden_cases``), nbgrader's side (``judge.preprocessor.TrustedGrade``);
* ``sandbox``: the isolation layer the answers run in;
* ``score``: the scoring rules, one pure module;
* ``outputs``: grades.csv, the summary, report.html, the copy detection, feedback;
* ``cli``: ``convlab grade`` / ``convlab demo`` wiring.

Nothing is imported here, so that importing one module does not import torch for all.
"""
