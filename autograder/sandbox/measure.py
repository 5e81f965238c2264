"""How much work one call does: aten ops and Python lines (runs inside the sandbox's child).

Every call of a vectorized exercise is measured the same way, hidden cases included, so
code that behaves differently when it notices the measurement behaves that way when it
is graded too. The grader compares the counts of two calls that differ only in N, H and
W: a loop over pixels or the batch multiplies them, a loop over kernel taps does not.

Lines are counted in every file (a function's ``co_filename`` decides nothing), torch
calls by a torch-function mode (every torch function, Tensor method and operator, also
when called from C, as ``map(torch.Tensor.sum, ...)`` does; a dispatch mode would also
see aten ops, but importing its machinery costs seconds per sandbox). The counters live in closures no student code can reach: the functions
that would show or change the dispatch-mode stack or the trace function are taken away
before student code runs (the runtime keeps private references), and the audit hook
refuses ``sys.settrace`` / ``sys.setprofile``, frames and gc walks. After each call the
meter checks that its mode and its tracer are still in place; if not, the call's work is
reported as None and the grader counts that against the exercise (it fails closed).
"""
from __future__ import annotations

import sys

import torch
from torch import overrides
from torch.overrides import TorchFunctionMode

__all__ = ["Meter"]

class Meter:
    def __init__(self):
        ops = [0]
        lines = [0]

        class Counting(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                ops[0] += 1
                return func(*args, **(kwargs or {}))

        def tracer(frame, event, arg):
            if event == "line":
                lines[0] += 1
            return tracer

        mode = Counting()
        # The C functions themselves: a student may replace the Python wrappers' globals.
        push, pop = torch._C._push_on_torch_function_stack, torch._C._pop_torch_function_stack
        stack_len = torch._C._len_torch_function_stack
        stack_at = torch._C._get_function_stack_at
        gettrace = sys.gettrace

        def start(settrace) -> None:
            ops[0] = lines[0] = 0
            push(mode)
            settrace(tracer)

        def stop(settrace):
            """(torch calls, lines) of the call, or None where the call moved the meter."""
            intact = gettrace() is tracer
            settrace(None)
            depth = stack_len()
            intact = intact and depth >= 1 and stack_at(depth - 1) is mode
            if intact:
                pop()
            return (ops[0], lines[0]) if intact else None

        self.start, self.stop = start, stop
