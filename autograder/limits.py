"""What grading may cost: the sandbox's limits (``Limits``, read by autograder.sandbox) and
one notebook's budget (``Budget``, applied by autograder.run.workers to ``convlab grade``'s
workers and to ``TrustedGrade`` under ``nbgrader autograde``). Both are set from
nbgrader_config.py through ``TrustedGrade``'s traitlets. No torch here, so that nbgrader's
other commands stay quick to start."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget", "Limits"]


@dataclass(frozen=True)
class Limits:
    """Time (seconds), memory and size limits of one notebook's sandbox. Each is a
    traitlet of ``TrustedGrade`` in nbgrader_config.py."""

    cell_seconds: float = 10.0
    case_seconds: float = 4.0
    vector_seconds: float = 15.0
    setup_seconds: float = 20.0
    startup_seconds: float = 90.0
    exercise_seconds: float = 60.0  # all attempts at one exercise together
    notebook_seconds: float = 300.0  # the whole notebook
    memory_mb: int = 1024
    cpu_seconds: int = 120
    scratch_mb: int = 64
    file_mb: int = 32
    output_mb: int = 64  # bytes one child may send back
    processes: int = 1  # tasks the child's user may have: itself only
    max_hangs: int = 2  # calls that time out before the rest of the exercise is given up
    max_crashes: int = 8  # calls that end the process, likewise
    # None: the OS sandbox unless CONVLAB_NO_ISOLATION=1; False: the instructor's explicit
    # choice to grade without it (every score is then marked).
    isolated: bool | None = None


@dataclass(frozen=True)
class Budget:
    """What grading one notebook may cost in all: wall-clock seconds (every exercise, every
    retry, the reference calls made for it) and memory (MiB) of the grading process and of
    every process under it (its sandboxes' bwrap, supervisor and children, a reference
    runner), counted by autograder.run.workers. The same defaults for ``convlab grade`` and
    ``nbgrader autograde`` (``TrustedGrade.notebook_budget_seconds`` / ``notebook_memory_mb``)."""

    seconds: float = 600.0
    memory_mb: int = 4096

    def __post_init__(self):
        if not self.seconds > 0:
            raise ValueError(f"the time budget per notebook must be positive, got {self.seconds}")
        if not self.memory_mb > 0:
            raise ValueError(f"the memory budget must be positive, got {self.memory_mb} MiB")
