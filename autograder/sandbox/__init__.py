"""Run a student's answer cells in an operating-system sandbox and bring back what they return.

Split by process and by trust:

* ``host.py``      the grader's side (trusted): starts a sandbox per notebook, feeds it
                   hidden cases one at a time, reads back sealed values, decides nothing;
* ``launcher.py``  how the sandbox is made: bubblewrap, what is mounted, the limits;
* ``inside.py``    what runs inside: a supervisor (never runs student code) and one child
                   per exercise run (runs it, under ``forbid.py`` and ``measure.py``);
* ``wire.py``      the frames and values that cross the boundary, sealed by a per-child key;
* ``scan.py``      a courtesy check of the source before anything runs.
* ``references.py`` a regrade's reference calls, in a budgeted process of their own
                   (never the grader's; never inside the sandbox).

See autograder/THREAT_MODEL.md for what each layer stops and what remains.
"""
from .host import (SCALES, WORK_BOUND, Cell, ExerciseRun, IsolationUnavailable, Limits, Outcome, Sandbox, SandboxError,
                   draw_scales, isolation_waived)
from .launcher import HOW_TO_ISOLATE, isolation_problem
from .scan import scan_source
from .wire import Opaque

__all__ = ["SCALES", "WORK_BOUND", "draw_scales", "Cell", "ExerciseRun", "IsolationUnavailable", "Limits", "Outcome", "Opaque",
           "Sandbox", "SandboxError", "isolation_waived", "HOW_TO_ISOLATE", "isolation_problem", "scan_source"]
