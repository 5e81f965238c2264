"""What grading may cost: the sandbox's limits (``Limits``, read by autograder.sandbox) and
one notebook's budget (``Budget``, applied by autograder.run.workers to ``convlab grade``'s
workers and to ``TrustedGrade`` under ``nbgrader autograde``). Both are set from
nbgrader_config.py through ``TrustedGrade``'s traitlets. No torch here, so that nbgrader's
other commands stay quick to start."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Callable

__all__ = ["Budget", "Limits"]


def _setting(default, help: str, trait: str | None = None):
    """A limit the instructor may set: ``c.TrustedGrade.<trait>`` in nbgrader_config.py,
    ``trait`` being the field's own name unless given (autograder.judge.preprocessor makes
    one traitlet per such field, with this default and help). One declaration gives the
    field, its default, its help and the traitlet: nothing to keep in step by hand."""
    return field(default=default, metadata={"help": help, "trait": trait})


class _Settings:
    """What ``Limits`` and ``Budget`` share: their ``_setting`` fields, by traitlet name."""

    @classmethod
    def _traits(cls) -> dict[str, str]:
        """Traitlet name -> field name, for each field made with ``_setting``."""
        return {f.metadata["trait"] or f.name: f.name for f in fields(cls) if "help" in f.metadata}

    @classmethod
    def settings(cls) -> dict[str, tuple[object, str]]:
        """The fields an instructor may set, by traitlet name: name -> (default, help)."""
        by_field = {f.name: f for f in fields(cls)}
        return {trait: (by_field[name].default, by_field[name].metadata["help"])
                for trait, name in cls._traits().items()}

    @classmethod
    def configured(cls, value: Callable[[str], object], **others):
        """An instance with each setting read by its traitlet name (``value(name)``), and
        ``others`` as given."""
        return cls(**{name: value(trait) for trait, name in cls._traits().items()}, **others)


@dataclass(frozen=True)
class Limits(_Settings):
    """Time (seconds), memory and size limits of one notebook's sandbox, declared once:
    the fields made with ``_setting`` are also ``TrustedGrade``'s traitlets (``settings``)."""

    cell_seconds: float = _setting(10.0, "Wall seconds for one answer cell to run")
    case_seconds: float = _setting(4.0, "Wall seconds for one hidden case")
    vector_seconds: float = _setting(15.0, "Wall seconds for one size-scaling call")
    setup_seconds: float = 20.0
    startup_seconds: float = 90.0
    exercise_seconds: float = _setting(60.0, "Wall seconds for all attempts at one exercise")
    notebook_seconds: float = _setting(300.0, "Wall seconds for the whole notebook; past it, "
                                              "the remaining exercises score 0 with a message")
    memory_mb: int = _setting(1024, "Memory one exercise run may add, MiB")
    cpu_seconds: int = _setting(120, "CPU seconds one exercise run may use")
    scratch_mb: int = _setting(64, "Size of the sandbox's /tmp, MiB")
    file_mb: int = 32
    output_mb: int = _setting(64, "Bytes one exercise run may send back, MiB")
    processes: int = 1  # tasks the child's user may have: itself only
    max_hangs: int = 2  # calls that time out before the rest of the exercise is given up
    max_crashes: int = 8  # calls that end the process, likewise
    # None: the OS sandbox unless CONVLAB_NO_ISOLATION=1; False: the instructor's explicit
    # choice to grade without it (every score is then marked).
    isolated: bool | None = None


@dataclass(frozen=True)
class Budget(_Settings):
    """What grading one notebook may cost in all: wall-clock seconds (every exercise, every
    retry, the reference calls made for it) and memory (MiB) of the grading process and of
    every process under it (its sandboxes' bwrap, supervisor and children, a reference
    runner), counted by autograder.run.workers. The same defaults for ``convlab grade`` and
    ``nbgrader autograde`` (``TrustedGrade.notebook_budget_seconds`` / ``notebook_memory_mb``:
    traitlets named apart from the fields, whose names ``Limits`` has too)."""

    seconds: float = _setting(600.0, "Wall seconds grading one notebook may take in all: every "
                                     "exercise, retry and reference call",
                              trait="notebook_budget_seconds")
    memory_mb: int = _setting(4096, "Memory grading one notebook may hold, MiB: the grading "
                                    "process and every process under it (its sandboxes: bwrap, "
                                    "supervisor, children; a reference runner)",
                              trait="notebook_memory_mb")

    def __post_init__(self):
        if not self.seconds > 0:
            raise ValueError(f"the time budget per notebook must be positive, got {self.seconds}")
        if not self.memory_mb > 0:
            raise ValueError(f"the memory budget must be positive, got {self.memory_mb} MiB")
