"""A regrade's reference calls run in a process of their own, budgeted (issue 14).

The reference callee of a regrade runs on arguments the student's caller chose: here a
caller asks it for a result too large, a computation too slow, and arguments too large,
then for an ordinary call. Each of the first three fails its case with a message that
names the reference and its limit, well within the case's deadline; the grader's own
memory does not grow; the runner is a child of the grading process, started only when a
regrade needs it, and gone when the Sandbox closes.
"""
from __future__ import annotations

import os
import resource
import textwrap
import time

import pytest
import torch

import convlab
from autograder.sandbox import Cell, Limits, Sandbox
from autograder.sandbox.host import _callee_of

pytestmark = pytest.mark.slow

LIMITS = Limits(cell_seconds=3, case_seconds=3, memory_mb=300, startup_seconds=120)

GREEDY = '''
def greedy(kind, x):
    if kind == "hdc":
        return hdc_search(x, 3, 60)     # C(65, 7) schedules: minutes
    return im2col(x, 2, 1, kind)        # kind: the padding; 3000 -> over a GiB
'''


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def test_a_reference_asked_for_too_much_fails_the_case_quickly_outside_the_grader():
    small = torch.arange(16.0).reshape(1, 1, 4, 4)
    calls = [(("hdc", 8), {}),                                   # slow
             ((3000, small), {}),                                 # huge result, past the memory cap
             ((0, torch.zeros(1, 1, 1100, 1000)), {}),            # arguments over the cap
             ((0, small), {})]                                    # ordinary, after two kills
    sandbox = Sandbox([Cell(0, "#0", textwrap.dedent(GREEDY))], LIMITS)
    try:
        plain = sandbox.run("greedy", [((0, small), {})])
        assert sandbox._references is None  # no regrade, no runner
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        times = []
        original = sandbox._reference_call

        def timed(*args):
            began = time.monotonic()
            reply, startup = original(*args)
            times.append(time.monotonic() - began - startup)
            return reply, startup

        sandbox._reference_call = timed
        run = sandbox.run("greedy", calls, substitutes={"hdc_search": convlab.hdc_search,
                                                        "im2col": convlab.im2col})
        runner = sandbox._references.proc.pid
        assert _parent_of(runner) == os.getpid()  # under the grading worker's budget
    finally:
        sandbox.close()
    slow, huge, large, ordinary = run.outcomes
    assert "the reference hdc_search ran past its limit" in slow.error, slow
    assert "what was left of this case's time" in slow.error and "your greedy passed it" in slow.error
    assert "the reference im2col ran past its limit" in huge.error, huge
    assert "could not read the arguments your greedy passed the reference im2col" in large.error, large
    assert ordinary.error is None and ordinary.failure is None, ordinary
    torch.testing.assert_close(ordinary.value, convlab.im2col(small, 2, 1, 0))
    assert plain.outcomes[0].error.startswith("NameError")  # without the substitute: the student's names
    # Each call ends within its case's time (3 s), the runner's start-up aside.
    assert len(times) == 4 and max(times) < LIMITS.case_seconds, times
    # The reference never ran here: the grader's peak memory did not grow by the GiB asked for.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200 * 1024
    with pytest.raises(ProcessLookupError):  # closed with its Sandbox
        os.kill(runner, 0)


def test_a_request_names_one_of_the_run_s_callees_or_is_refused():
    subs = {"im2col": ("convlab.standard", "im2col")}
    assert _callee_of(b'im2col\0{"args": "[]"}', subs) == "im2col"
    assert _callee_of(b'corr2d\0{"args": "[]"}', subs) is None  # not a callee of this run
    assert _callee_of(b'im2col{"args": "[]"}', subs) is None
    assert _callee_of(b"\xff\xfe\0", subs) is None
