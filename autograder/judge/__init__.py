"""Judging a notebook: the trusted grader (``grader``: the answers run in the sandbox on
the hidden cases, compared with the reference), the submission's hidden cases
(``hidden_cases``, drawn from the seeds), and nbgrader's side of it (``preprocessor``:
TrustedGrade in place of Execute, and the sanitize steps)."""
