"""The grader's side of the sandbox: start it, feed it cases, read what it returns, judge nothing.

One ``Sandbox`` per submitted notebook: its own bubblewrap sandbox (launcher.py) with its
own supervisor (inside.py), namespaces, scratch folder and user id; nothing is shared
between two students' sandboxes. ``run`` starts one child per attempt at an exercise and
returns an ``ExerciseRun``: what each call returned (values, error texts) and the work
counts of the vectorization check. Scores are decided by the grader (grader.py) from
those values; the only things taken from the sandbox are values sealed by its runtime,
and what the supervisor (which never runs student code) says about how a child ended.

Everything read is bounded: frames by size (wire.MAX_FRAME), a child's output by
``Limits.output_mb``, every wait by a deadline, a notebook's total time by
``Limits.notebook_seconds``. A child that hangs or dies costs the call it was in; the
exercise resumes at the next call in a new child; a dead supervisor is replaced.
"""
from __future__ import annotations

import atexit
import marshal
import os
import resource
import secrets
import select
import shutil
import signal
import subprocess
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from convlab.checks.core import error_type
from convlab.checks.values import tensors_in

from . import launcher, references, wire
from .references import ReferenceRunner
from .scan import scan_source
from ..limits import Limits
from .wire import Opaque

__all__ = ["isolation_waived", "Cell", "Limits", "Outcome", "ExerciseRun", "Sandbox", "SandboxError", "IsolationUnavailable",
           "Opaque", "SCALES", "WORK_BOUND", "draw_scales"]

# The vectorization check compares the work of calls that differ only in N, H or W: a small
# one first, then larger ones (scale 1 is avoided: with N=1 some reshapes are free views).
# SCALES is the plain pair (every axis at once); the grader draws its own per student
# (draw_scales): a small scale, a medium one, then each axis alone at a large one.
SCALES = (2, 5)
_SLACK = 4  # data-independent bookkeeping: a branch taken at one size only
SMALL_SCALES = (2, 3)  # the small call: every axis at one scale drawn from this range
LARGE_SCALES = (300, 400)  # each large call: one axis at a scale drawn from this range
# The most work a vectorized answer does on the small call, loops over kernel taps and
# channels included: (dispatcher calls, Python lines of the answer's own code). The
# solutions need at most 341 and 52; 18 trips of taps x output channels, each an einsum,
# about 850 and 90 (twice that with input channels too). A loop padded to a fixed trip
# count must cover the longest axis the grader may draw, at least LARGE_SCALES[0] trips:
# in Python each trip is at least one line, above the line bound at every size. Run from
# C (map over torch functions), each trip still makes the dispatcher calls that fetch,
# compute and store its slice; the call bound is exceeded where they number more than
# WORK_BOUND[0] / (rows of the axis), that is 1 to 6 (see THREAT_MODEL.md).
WORK_BOUND = (1750, 250)


def draw_scales(seed: int) -> list[tuple[int, int, int]]:
    """The vectorization check's scales for one student and exercise: (s, s, s) with s
    from SMALL_SCALES; (m, m, m), m = s + 3, where a plain loop already shows (the calls
    after a verdict are not made, so a loop is not run at the large sizes); then (L, s, s),
    (s, L, s), (s, s, L), each L from LARGE_SCALES, which no padded loop covers cheaply."""
    import random

    rng = random.Random(seed)
    small = rng.randint(*SMALL_SCALES)
    scales = [(small, small, small), (small + 3,) * 3]
    for axis in range(3):
        scale = [small, small, small]
        scale[axis] = rng.randint(*LARGE_SCALES)
        scales.append(tuple(scale))
    return scales


def _verdict(run: "ExerciseRun", scales: list) -> str | None:
    """"Not vectorized" and why, as soon as the counts so far show it: a larger call does
    more work than the small one, or the small one more than any vectorized answer."""
    if not scales:
        return None
    small = run.scaling.get(scales[0])
    if small is None or small.work is None:
        return None
    ops_s, lines_s = small.work
    for scale in scales[1:]:
        outcome = run.scaling.get(scale)
        if outcome is not None and outcome.work is not None:
            ops_l, lines_l = outcome.work
            if ops_l > ops_s + _SLACK or lines_l > lines_s + _SLACK:
                return (f"the work grows with the input: {ops_s} torch ops and {lines_s} Python lines "
                        f"for a small input, {ops_l} ops and {lines_l} lines for a larger one. "
                        "A vectorized answer may loop over kernel taps, but not over N, H or W.")
    most_ops, most_lines = WORK_BOUND
    if ops_s > most_ops or lines_s > most_lines:
        return (f"a call on a small input ran {ops_s} torch ops and {lines_s} Python lines, more than a "
                f"vectorized answer needs (at most {most_ops} ops and {most_lines} lines, loops over kernel "
                "taps and channels included): a loop over N, H or W runs every trip, even one padded "
                "to a fixed trip count, whatever the size.")
    return None


def _decided(run: "ExerciseRun", scales: list) -> bool:
    """Whether the calls not yet made can be skipped: the verdict is "not vectorized", and
    the second call (where a plain loop shows that it grows) has been made."""
    return _verdict(run, scales) is not None and (len(scales) < 2 or scales[1] in run.scaling)


def _scale_key(value):
    """A scale as the child sends it back: an int, or a tuple of ints."""
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else int(value)


@dataclass(frozen=True)
class Cell:
    index: int  # position in the notebook
    label: str  # how messages name it: "'corr2d'" (its grade_id) or "#7"
    source: str


@dataclass
class Outcome:
    """What one call gave: a value, an exception's text ("ValueError: ..."), a forbidden
    op, a refused attempt at the sandbox's machinery, or a sandbox-level failure (timeout,
    the process ending) in ``failure``."""

    value: Any = None
    error: str | None = None
    forbidden: str | None = None
    failure: str | None = None
    ending: str | None = None  # with ``failure``: "timeout" or "crashed" (what decides, not the text)
    tampered: str | None = None
    work: tuple[int, int] | None = None  # (aten ops, Python lines), where measured


@dataclass
class ExerciseRun:
    name: str
    outcomes: list[Outcome | None]  # one per call; None where the call never ran
    missing: str | None = None  # why there is nothing to call: "is not defined", ...
    tampered: str | None = None
    not_vectorized: str | None = None  # the vectorization check's verdict
    vector_error: str | None = None  # why the check could not decide (counts against the exercise)
    scaling: dict = field(default_factory=dict)  # scale -> what the size-scaling call gave
    cell_errors: dict[int, str] = field(default_factory=dict)  # cell index -> "raised ValueError: ..."
    unimplemented_cells: set[int] = field(default_factory=set)  # cells that raised NotImplementedError
    output: str = ""  # the tail of what the student's code printed
    isolated: bool = True
    forged: int = 0  # frames in the child's stream not sealed by the runtime (dropped)


class SandboxError(RuntimeError):
    pass


class IsolationUnavailable(SandboxError):
    """No operating-system sandbox can be made here; the grader refuses unless told to
    grade without isolation."""


_TIMEOUT, _EOF = "timeout", "eof"
_LIVE: "weakref.WeakSet[Sandbox]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for sandbox in list(_LIVE):
        sandbox.close()


def isolation_waived() -> bool:
    """Whether the instructor chose to grade without an OS sandbox (CONVLAB_NO_ISOLATION=1)."""
    return os.environ.get("CONVLAB_NO_ISOLATION", "") == "1"


_UIDS: "weakref.WeakKeyDictionary[_Supervisor, int]" = weakref.WeakKeyDictionary()
_UID_RANGE = (1_000_000, 2_000_000_000)  # far from the machine's own users and from nobody (65534)


def _sandbox_uid(supervisor: "_Supervisor") -> int:
    """The user id of the children of ``supervisor`` (one bwrap sandbox: one student's,
    handed on only to that student's next notebook): its own, drawn at random when first
    asked for and never given to another sandbox while this one is alive, so what a user
    id keeps (the kernel keyring, say) cannot pass from one student's sandbox to the
    next. Other grading processes draw from the same two billion ids: a clash is unlikely."""
    uid = _UIDS.get(supervisor)
    if uid is None:
        taken = set(_UIDS.values())
        uid = secrets.randbelow(_UID_RANGE[1] - _UID_RANGE[0]) + _UID_RANGE[0]
        while uid in taken:
            uid = secrets.randbelow(_UID_RANGE[1] - _UID_RANGE[0]) + _UID_RANGE[0]
        _UIDS[supervisor] = uid
    return uid


def _user_tasks() -> int:
    """Processes and threads of this user now (RLIMIT_NPROC counts them all)."""
    uid, count = str(os.getuid()), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/status") as status:
                    for line in status:
                        if line.startswith("Uid:"):
                            count += line.split()[1] == uid
                            break
            except OSError:
                pass
    return count


# Data each process of a sandbox may hold beyond ``Limits.memory_mb``: torch's import (~250
# MiB of data here), the supervisor's buffers of what a child sends (``Limits.output_mb``).
# Each child lowers its own limit to what it holds after the import plus ``memory_mb``
# (inside.py), which must stay under this ceiling.
_DATA_HEADROOM_MB = 2048


def _data_ceiling(limits: Limits, cuda: bool):
    """The ``preexec_fn`` that caps RLIMIT_DATA for the sandbox's whole process tree (bwrap,
    the supervisor, each child), set before bwrap starts so that nothing is born above it: a
    supervisor swollen by a flood of requests stops there, even where no watchdog counts it
    (autograder.run.workers does, in its worker's tree). None for a CUDA sandbox: what CUDA's
    runtime maps was not measured, and a ceiling under it would fail every CUDA run."""
    if cuda:
        return None
    ceiling = (int(limits.memory_mb) + _DATA_HEADROOM_MB) * 2**20

    def cap() -> None:  # in the forked child before exec: nothing imported here
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY and hard < ceiling:
            return  # already lower (raising it is not ours to do)
        resource.setrlimit(resource.RLIMIT_DATA, (ceiling, ceiling))
    return cap


class _Supervisor:
    """The bwrap process and its supervisor: commands in, reports out. Starting one costs
    a torch import; ``wait_ready`` waits for it, so a spare can start early (``_spare``)."""

    def __init__(self, limits: Limits, isolated: bool, cuda: bool):
        self.limits = limits
        self.settings = (limits.scratch_mb, isolated, cuda)
        self.runtime = launcher.stage_runtime()
        seccomp = launcher.seccomp_fd() if isolated else None  # bwrap loads it: see launcher.py
        try:
            argv = launcher.command(self.runtime, limits.scratch_mb, isolated, cuda, seccomp)
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                                         pass_fds=() if seccomp is None else (seccomp,),
                                         preexec_fn=_data_ceiling(limits, cuda))
        finally:
            if seccomp is not None:
                os.close(seccomp)
        self.fd = self.proc.stdout.fileno()
        self.framer = wire.Framer()
        self.queue: list = []
        self.root: bool | None = None
        self.started = time.monotonic()

    def wait_ready(self) -> "_Supervisor":
        if self.root is None:
            message = self.receive(self.started + self.limits.startup_seconds)
            if message in (_TIMEOUT, _EOF) or message[0] != "ready":
                self.kill()
                raise SandboxError(f"the sandbox did not start ({message!r:.80})")
            self.root = message[2] == 0
        return self

    def command(self, *message) -> bool:
        try:
            self.proc.stdin.write(wire.frame(marshal.dumps(message)))
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def receive(self, deadline: float):
        """The next report, or _TIMEOUT at ``deadline``, or _EOF when the sandbox is gone."""
        while not self.queue:
            left = deadline - time.monotonic()
            if left <= 0:
                return _TIMEOUT
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return _TIMEOUT
            data = os.read(self.fd, 1 << 20)
            if not data:
                return _EOF
            self.queue += [marshal.loads(p) for p in self.framer.feed(data)]  # our supervisor: trusted
            if self.framer.broken:
                return _EOF
        return self.queue.pop(0)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.proc.wait()
        shutil.rmtree(self.runtime, ignore_errors=True)

    def close(self) -> None:
        if self.alive():
            self.command("quit")
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


# One fresh, never-used supervisor started ahead of time per grading process: while one
# notebook is graded the next one's sandbox imports torch (on the other core where there
# is one). A spare has run nothing, so handing it to the next student shares nothing.
_SPARE: dict = {}


def _take_spare(limits: Limits, isolated: bool, cuda: bool) -> _Supervisor:
    settings = (limits.scratch_mb, isolated, cuda)
    spare = _SPARE.pop("next", None)
    if spare is not None and (spare.settings != settings or not spare.alive()):
        spare.kill()
        spare = None
    taken = spare or _Supervisor(limits, isolated, cuda)
    if os.environ.get("CONVLAB_SANDBOX_SPARE", "1") != "0":  # off where no core would be idle for it
        try:
            _SPARE["next"] = _Supervisor(limits, isolated, cuda)
        except OSError:
            pass
    return taken


# The sandbox of the owner graded last, kept for that owner's next notebook (a student's
# next assignment comes next in a worker): it saves a torch import per notebook. Only the
# same owner gets it back; a different owner's arrival closes it. Its supervisor never ran
# student code, each exercise still runs in a fresh child, and each child empties /tmp first.
_PARKED: dict = {}


def _park(owner: str, supervisor: "_Supervisor") -> bool:
    if not supervisor.alive():
        return False
    previous = _PARKED.pop("sandbox", None)
    if previous is not None:
        previous[1].close()
    _PARKED["sandbox"] = (owner, supervisor)
    return True


def _unpark(owner: str | None, settings: tuple) -> "_Supervisor | None":
    parked = _PARKED.pop("sandbox", None)
    if parked is None:
        return None
    if owner is not None and parked[0] == owner and parked[1].settings == settings and parked[1].alive():
        return parked[1]
    parked[1].close()
    return None


@atexit.register
def _drop_spare() -> None:
    for pool, key in ((_SPARE, "next"), (_PARKED, "sandbox")):
        item = pool.pop(key, None)
        if item is not None:
            (item[1] if isinstance(item, tuple) else item).kill()


def _ending(code: int, limits: Limits) -> str:
    """How a child ended, from its exit code (negative: the signal)."""
    if code in (70, 71):
        return "broke the sandbox's own code (out of memory?)"
    if code >= 0:
        return f"ended the process (exit status {code}: os._exit or a crash)"
    name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
    if -code == signal.SIGXCPU:
        return f"used more than {limits.cpu_seconds} s of CPU time"
    if -code == signal.SIGKILL:
        return "was killed (SIGKILL: it killed itself, or ran out of memory)"
    return f"crashed the process ({name})"


def _uses_cuda(value) -> bool:
    """Whether a tensor of ``value`` (the grader's own calls: trusted) is on the GPU."""
    return any(t.device.type == "cuda" for t in tensors_in(value))


class _Attempt:
    """What one child has said so far, and what to feed it next."""

    def __init__(self, run: ExerciseRun, queue: list, limits: Limits, scales=()):
        self.run, self.queue, self.limits, self.scales = run, queue, limits, list(scales)
        self.phase: tuple = ("setup", None)
        self.seconds = limits.setup_seconds
        self.finished = False
        self.new_phase = False

    def _next(self, feed) -> None:
        """Send the next case (or "stop"); its deadline starts now, in the phase it names."""
        item = self.queue.pop(0) if self.queue else None
        feed(item)
        self.new_phase = True
        if item is None:
            self.phase, self.seconds = ("end", None), self.limits.setup_seconds
        else:
            scaled = isinstance(item[0], tuple)
            self.phase = ("case", item[0])
            self.seconds = self.limits.vector_seconds if scaled else self.limits.case_seconds

    def take(self, message: tuple, feed) -> None:
        """Record one sealed message (IndexError / TypeError / ValueError when malformed)."""
        run, tag, body = self.run, message[0], message[1:]
        self.new_phase = tag in ("phase", "end")
        if tag == "phase":
            self.phase = (str(body[0]), body[1])
            if self.phase[0] == "case":
                scaled = isinstance(body[1], tuple)
                self.seconds = self.limits.vector_seconds if scaled else self.limits.case_seconds
            else:
                self.seconds = self.limits.cell_seconds
        elif tag == "cell_done":
            if body[1]:
                run.cell_errors[int(body[0])] = f"raised {body[1]}"
                if error_type(str(body[1])) == "NotImplementedError":
                    run.unimplemented_cells.add(int(body[0]))
        elif tag == "cell":
            pass  # the preamble failed: every name is then missing, which the grader reports
        elif tag == "missing":
            run.missing = f"is a {body[0]}, not a function" if body[0] else "is not defined"
        elif tag == "want":
            self._next(feed)
        elif tag == "case_done":
            where, kind, payload, work = body[0], body[1], body[2], body[3]
            outcome = Outcome(work=tuple(int(w) for w in work) if work is not None else None)
            if kind == "value":
                outcome.value = wire.from_plain(payload, lambda device: True)
            elif kind == "error":
                outcome.error = str(payload)
            elif kind == "forbidden":
                outcome.forbidden = str(payload)
            elif kind == "tampered":
                outcome.tampered = str(payload)
            else:
                raise ValueError(f"unknown result kind {kind!r}")
            if isinstance(where, tuple):
                run.scaling[_scale_key(where[1])] = outcome
                if _decided(run, self.scales):  # the larger calls would only cost time
                    self.queue = [item for item in self.queue if not isinstance(item[0], tuple)]
            elif 0 <= int(where) < len(run.outcomes):
                run.outcomes[int(where)] = outcome
            else:
                raise ValueError(f"case {where}")
            self._next(feed)
        elif tag == "end":
            run.output = str(body[0])
            self.finished = True
            self.seconds = self.limits.setup_seconds
        else:
            raise ValueError(f"unknown message {tag!r}")


class Sandbox:
    """Runs exercises from one notebook's answer cells, in its own OS sandbox.

    ``isolated``: True requires bubblewrap and raises IsolationUnavailable where it cannot
    be had; False runs the same supervisor as a plain process (the instructor's explicit
    choice), and every ExerciseRun says ``isolated=False``. None (the default): True unless
    the environment says ``CONVLAB_NO_ISOLATION=1`` (what ``convlab grade --no-isolation``
    sets for its workers; set it by hand for ``nbgrader autograde``).
    """

    def __init__(self, cells: list[Cell], limits: Limits | None = None, isolated: bool | None = None,
                 preamble: str | None = None, cell_problems: dict[int, str] | None = None,
                 owner: str | None = None):
        self.cells = list(cells)
        self.limits = limits or Limits()
        if isolated is None:
            isolated = self.limits.isolated
        if isolated is None:
            isolated = not isolation_waived()
        self.isolated = isolated
        self.preamble = preamble
        if isolated:
            problem = launcher.isolation_problem()
            if problem:
                raise IsolationUnavailable(f"{problem}. {launcher.HOW_TO_ISOLATE}")
        # Whose notebook: a sandbox may be handed on to the same owner's next notebook (their
        # other assignments), never to anyone else's (see _park).
        self.owner = owner
        self.cell_problems: dict[int, str] = dict(cell_problems or {})
        self.refused_cells: set[int] = set()  # not run: the courtesy scan found a forbidden name
        for cell in self.cells:
            problem = scan_source(cell.source)
            if problem:
                self.cell_problems[cell.index] = f"was not run: it uses {problem}"
                self.refused_cells.add(cell.index)
        self._supervisor: _Supervisor | None = None
        self._cuda = False
        self._spent = 0.0  # seconds of the notebook budget used
        self._references: ReferenceRunner | None = None  # started by a regrade's first reference call
        _LIVE.add(self)

    # -- lifecycle ----------------------------------------------------------------------

    def _ensure(self, cuda: bool) -> _Supervisor:
        if self._supervisor is not None and (not self._supervisor.alive() or (cuda and not self._cuda)):
            self._supervisor.kill()
            self._supervisor = None
        if self._supervisor is None:
            parked = _unpark(self.owner, (self.limits.scratch_mb, self.isolated, cuda))
            self._supervisor = parked or _take_spare(self.limits, self.isolated, cuda).wait_ready()
            self._cuda = cuda
        return self._supervisor

    def close(self) -> None:
        if self._supervisor is not None:
            if self.owner is None or not _park(self.owner, self._supervisor):
                self._supervisor.close()
            self._supervisor = None
        if self._references is not None:  # it ran references on this student's arguments: never kept
            self._references.kill()
            self._references = None
        _LIVE.discard(self)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- running an exercise ------------------------------------------------------------

    def run(self, name: str, calls: list[tuple[tuple, dict]], families=(), scaling=None, *,
            adapter: str | None = None, substitutes: dict | None = None) -> ExerciseRun:
        """Call ``name`` (as the answer cells define it) on each (args, kwargs), with the
        forbidden ops of ``families`` refused; with ``scaling`` = {scale: (args, kwargs)},
        the small call first, then larger ones (each differing from it only in N, H or W),
        every call is measured and those calls decide the vectorization check.
        ``adapter``: the name of a ``convlab.checks.adapters`` function that makes each call
        (``adapter(fn, *args, **kwargs)``). ``substitutes``: {name: callable}: inside the
        sandbox ``name`` becomes a proxy whose calls run ``callable`` (a module-level
        function: the reference callee of a regrade) in this Sandbox's reference runner
        (references.py), never in the grader's process; no reference code enters the sandbox."""
        run = ExerciseRun(name, [None] * len(calls), isolated=self.isolated)
        targets = {callee: _importable(fn) for callee, fn in (substitutes or {}).items()}
        scaled = dict(scaling or {})
        started = time.monotonic()
        first, hangs, crashes = 0, 0, 0
        while True:
            queue = [(k, calls[k]) for k in range(first, len(calls))]
            if not _decided(run, list(scaled)):
                queue += [(("scale", s), call) for s, call in scaled.items() if s not in run.scaling]
            budget = min(self.limits.exercise_seconds - (time.monotonic() - started),
                         self.limits.notebook_seconds - self._spent)
            if budget <= 0:
                self._give_up(run, first, "the grader stopped: your notebook used up its time budget "
                                          f"({self.limits.notebook_seconds:g} s in all, "
                                          f"{self.limits.exercise_seconds:g} s per exercise)")
                break
            attempt_start = time.monotonic()
            stop = self._attempt(run, queue, tuple(families), list(scaled), adapter, budget, targets)
            self._spent += time.monotonic() - attempt_start
            if stop is None:
                break
            kind, index, reason, ending = stop
            if kind == "cell":
                self.cell_problems[index] = reason
                continue
            if kind == "case":
                if isinstance(index, tuple):  # a size-scaling call
                    run.scaling[_scale_key(index[1])] = Outcome(failure=f"the call {reason}", ending=ending)
                else:
                    run.outcomes[index] = Outcome(failure=f"the call {reason}", ending=ending)
                    first = index + 1
                if ending == "timeout":
                    hangs += 1
                else:
                    crashes += 1
                if hangs >= self.limits.max_hangs or crashes >= self.limits.max_crashes:
                    break
                if first >= len(calls) and (all(s in run.scaling for s in scaled)
                                            or _decided(run, list(scaled))):
                    break
                continue
            # Before any student code ran, or after all of it: the sandbox failed. Retry once.
            crashes += 1
            if crashes > 1:
                if not any(run.outcomes):
                    run.missing = f"could not be run: the sandbox failed ({reason})"
                break
        self._judge_work(run, list(scaled))
        return run

    def _give_up(self, run: ExerciseRun, first: int, why: str) -> None:
        for k in range(first, len(run.outcomes)):
            if run.outcomes[k] is None:
                run.outcomes[k] = Outcome(failure=why, ending="timeout")

    def _judge_work(self, run: ExerciseRun, scales: list) -> None:
        """The vectorization verdict from the size-scaling calls' work (``scales``: the
        small one first). Fails closed: no counts (the call failed, hung, or moved the
        meter) is a verdict against."""
        if not scales:
            return
        moved = next((o for o in run.outcomes if o is not None and o.value is not None and o.work is None
                      and o.error is None), None)
        if moved is not None:
            run.vector_error = "the work counter was moved during a call"
            return
        run.not_vectorized = _verdict(run, scales)
        if run.not_vectorized is not None:
            return
        measured = [run.scaling.get(s) for s in scales]
        if any(o is None or o.work is None for o in measured):
            failed = next((o for o in measured if o is not None and (o.failure or o.error or o.tampered)), None)
            why = (failed.failure or failed.error or failed.tampered) if failed else "it was not reached"
            run.vector_error = f"the size-scaling calls gave no work counts ({why})"

    def _attempt(self, run: ExerciseRun, queue: list, families: tuple, scales: list,
                 adapter: str | None, budget: float, substitutes: dict):
        """One child through ``queue``. None when it finished; else (phase, index, reason,
        ending): ending is "timeout" or "crashed". ``substitutes``: {callee: (module,
        qualname)} of the references its proxies may ask for."""
        cuda = _uses_cuda([call for _, call in queue])
        try:
            supervisor = self._ensure(cuda)
        except SandboxError as exc:
            return ("setup", None, str(exc), "crashed")
        key = wire.new_key()
        cells = [(c.index, c.label, c.source) for c in self.cells if c.index not in self.cell_problems]
        setup = {"key": key, "name": run.name, "cells": cells, "families": list(families),
                 "measure": bool(scales), "adapter": adapter, "cuda": cuda, "substitutes": sorted(substitutes),
                 "limits": {"memory_mb": self.limits.memory_mb, "cpu_seconds": self.limits.cpu_seconds,
                            "file_mb": self.limits.file_mb, "processes": self.limits.processes}}
        if self.preamble is not None:
            setup["preamble"] = self.preamble
        if supervisor.root:
            setup["uid"] = _sandbox_uid(supervisor)
        elif self.isolated:
            setup["nproc"] = _user_tasks() + 4 * self.limits.processes
        if not supervisor.command("spawn", marshal.dumps(setup), self.limits.output_mb * 2**20):
            self._restart()
            return ("setup", None, "could not start the exercise", "crashed")
        stream = wire.Framer()
        state = _Attempt(run, list(queue), self.limits, scales)

        def feed(item) -> None:
            if item is None:
                message = ("stop",)
            else:
                tag, (args, kwargs) = item
                message = ("case", tag, wire.to_plain(tuple(args)),
                           [(str(k), wire.to_plain(v)) for k, v in kwargs.items()])
            supervisor.command("to_child", marshal.dumps(message))

        hard_stop = time.monotonic() + budget
        flooded = None
        deadline = min(time.monotonic() + self.limits.setup_seconds, hard_stop)
        while True:
            report = supervisor.receive(deadline)
            if report == _TIMEOUT:
                if time.monotonic() >= hard_stop and not state.finished:
                    return self._stop(state, "did not finish within the time budget of the exercise", "timeout")
                return self._stop(state, f"did not finish within {state.seconds:g} s (an infinite loop?)", "timeout")
            if report == _EOF:
                self._restart()
                return (*state.phase, "ended the sandbox", "crashed")
            if report[0] == "exit":
                if state.finished:
                    return None
                return (*state.phase, flooded or _ending(int(report[1]), self.limits), "crashed")
            if report[0] == "overflow":
                if len(report) > 2 and report[2] == "unread":
                    flooded = (f"was killed: the grader's replies it left unread grew past "
                               f"{int(report[1]) // 2**20} MiB")
                continue  # an "exit" report follows
            if report[0] != "child":
                continue
            for payload in stream.feed(report[1]):
                if payload[:1] == b"R" and substitutes:
                    # The child waits for the reply: the call counts against its case's time
                    # (starting the runner does not), and never passes the exercise's.
                    reply, startup = self._reference_call(run.name, payload[1:], substitutes,
                                                          min(deadline, hard_stop), hard_stop)
                    deadline = min(deadline + startup, hard_stop)
                    supervisor.command("to_child", reply)
                    continue
                try:
                    message = wire.unseal(key, payload[1:]) if payload[:1] == b"S" else None
                except ValueError:
                    message = None
                if message is None:
                    run.forged += 1
                    continue
                try:
                    state.take(message, feed)
                except (IndexError, TypeError, ValueError, KeyError) as exc:
                    return self._stop(state, f"sent the grader a malformed report ({exc!r:.80})")
                if state.new_phase:
                    deadline = min(time.monotonic() + state.seconds, hard_stop)

    def _reference_call(self, caller: str, request: bytes, substitutes: dict, until: float,
                        hard_stop: float) -> tuple[bytes, float]:
        """The reply to a proxy's request (the student's bytes: only the callee's name is
        read here, the rest by the reference runner), and the seconds spent starting the
        runner. See references.py for the limits."""
        callee = _callee_of(request, substitutes)
        if callee is None:
            return references.error_reply("RuntimeError: the grader has no reference for that call"), 0.0
        if self._references is None:
            self._references = ReferenceRunner(self.limits.memory_mb, self.limits.startup_seconds)
        body = request[len(callee) + 1:]
        return self._references.call(substitutes[callee], callee, caller, body, until, hard_stop)

    def _stop(self, state: _Attempt, reason: str, ending: str = "crashed"):
        """Kill the child and wait for the supervisor to say it is gone."""
        supervisor = self._supervisor
        if supervisor is None or not supervisor.command("kill"):
            self._restart()
            return (*state.phase, reason, ending)
        deadline = time.monotonic() + 10
        while True:
            report = supervisor.receive(deadline)
            if report in (_TIMEOUT, _EOF):
                self._restart()
                break
            if report[0] == "exit":
                break
        if state.finished:
            return None
        return (*state.phase, reason, ending)

    def _restart(self) -> None:
        if self._supervisor is not None:
            self._supervisor.kill()
        self._supervisor = None  # started again on the next attempt


def _importable(fn) -> tuple[str, str]:
    """Where the reference runner finds ``fn``: (module, qualname), checked here."""
    import importlib

    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    found = importlib.import_module(module) if isinstance(module, str) else None
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not fn:
        raise ValueError(f"a substitute must be a module-level function, not {fn!r:.60}")
    return module, qualname


def _callee_of(request: bytes, substitutes: dict) -> str | None:
    """The callee a proxy's request names (``name`` NUL JSON), if it is one of this run's."""
    name, sep, _ = request[:64].partition(b"\0")
    try:
        name = name.decode("ascii")
    except UnicodeDecodeError:
        return None
    return name if sep and name in substitutes else None
